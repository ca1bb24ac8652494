//! Interop: boot-sim's partition tables and file reads against the real
//! tools on the same bytes — `sfdisk --json` (util-linux) for partitions,
//! `debugfs -R cat` / `-R stat` (e2fsprogs) for files and symlinks.
//!
//! Locally a missing tool skips with a message; under
//! `BOOT_SIM_INTEROP=require` (CI) it fails. Install with
//! `bash scripts/interop-setup.sh`.

use std::path::{Path, PathBuf};
use std::process::Command;

use boot_sim::{fixture, interop_tool};
use disk_image::fs::{self, NodeKind};
use disk_image::partition::{PartitionType, Role, Scheme};
use disk_image::{Disk, Volume};
use serde_json::Value;

/// Fixtures whose partition table sfdisk reads without refusing. The
/// deliberately broken ones (EBR loop, truncated, no signature) are covered
/// by boot-sim's own tests; sfdisk's view of them is not a reference.
const SFDISK_FIXTURES: &[&str] = &[
    "pv-whole-disk.img",
    "hvm-mbr.img",
    "mbr-logical.img",
    "gpt.img",
    "gpt-bad-primary.img",
    "mbr-overlap.img",
    "mbr-past-end.img",
    "empty-mbr.img",
    "syslinux-mbr.img",
    "corrupt-superblock.img",
];

fn image(name: &str) -> PathBuf {
    let p = fixture(&format!("images/{name}"));
    assert!(p.is_file(), "fixture {} is missing: run the fixture generator", p.display());
    p
}

fn sfdisk_json(sfdisk: &Path, img: &Path) -> Option<Value> {
    let out = Command::new(sfdisk).arg("--json").arg(img).output().expect("run sfdisk");
    if !out.status.success() {
        // "does not contain a recognized partition table"
        return None;
    }
    Some(serde_json::from_slice(&out.stdout).expect("sfdisk --json output"))
}

#[test]
fn partitions_equal_sfdisk() {
    let Some(sfdisk) = interop_tool("sfdisk") else { return };
    for name in SFDISK_FIXTURES {
        let img = image(name);
        let disk = Disk::open(&img).unwrap_or_else(|e| panic!("{name}: {e}"));
        let table = disk.table();
        let theirs = sfdisk_json(&sfdisk, &img);
        let Some(theirs) = theirs else {
            assert_eq!(table.scheme, Scheme::None, "{name}: sfdisk sees no table, boot-sim sees {:?}", table.scheme);
            continue;
        };
        let pt = &theirs["partitiontable"];
        let label = pt["label"].as_str().unwrap();
        let expect_scheme = match label {
            "dos" => Scheme::Mbr,
            "gpt" => Scheme::Gpt,
            other => panic!("{name}: unexpected sfdisk label {other}"),
        };
        assert_eq!(table.scheme, expect_scheme, "{name}: table kind");
        let id = pt["id"].as_str().unwrap();
        match table.scheme {
            Scheme::Mbr => assert_eq!(format!("{:#010x}", table.disk_signature.unwrap()), id, "{name}: label-id"),
            Scheme::Gpt => assert_eq!(table.disk_guid.unwrap().to_string(), id, "{name}: disk GUID"),
            Scheme::None => unreachable!(),
        }
        let their_parts = pt["partitions"].as_array().cloned().unwrap_or_default();
        assert_eq!(
            table.partitions.len(),
            their_parts.len(),
            "{name}: partition count (ours: {:?})",
            table.partitions.iter().map(|p| p.number).collect::<Vec<_>>()
        );
        for (ours, theirs) in table.partitions.iter().zip(&their_parts) {
            let node = theirs["node"].as_str().unwrap();
            let img_s = img.to_str().unwrap();
            let number: u32 = node.strip_prefix(img_s).unwrap().parse().unwrap();
            assert_eq!(ours.number, number, "{name}: partition number of {node}");
            assert_eq!(ours.start.0, theirs["start"].as_u64().unwrap(), "{name} {node}: start");
            assert_eq!(ours.sectors, theirs["size"].as_u64().unwrap(), "{name} {node}: size");
            let their_type = theirs["type"].as_str().unwrap();
            match &ours.ptype {
                PartitionType::Mbr(t) => assert_eq!(format!("{t:x}"), their_type, "{name} {node}: type"),
                PartitionType::Gpt(g) => assert_eq!(g.to_string(), their_type, "{name} {node}: type GUID"),
            }
            let bootable = theirs["bootable"].as_bool().unwrap_or(false);
            if table.scheme == Scheme::Mbr {
                assert_eq!(ours.bootable, bootable, "{name} {node}: bootable");
            }
            if let Some(g) = &ours.gpt {
                assert_eq!(g.unique_guid.to_string(), theirs["uuid"].as_str().unwrap(), "{name} {node}: uuid");
                assert_eq!(g.name, theirs["name"].as_str().unwrap_or(""), "{name} {node}: name");
            }
        }
    }
}

fn debugfs(debugfs: &Path, img: &Path, v: &Volume, request: &str) -> Vec<u8> {
    // e2fsprogs' unix_io takes an "offset=" option after '?' in the device name.
    let device = format!("{}?offset={}", img.display(), v.start_bytes);
    let out = Command::new(debugfs).arg("-R").arg(request).arg(&device).output().expect("run debugfs");
    assert!(out.status.success(), "debugfs {request} {device}: {}", String::from_utf8_lossy(&out.stderr));
    out.stdout
}

/// Every file and symlink on every ext volume of every fixture, walked by
/// boot-sim, compared with debugfs byte for byte.
#[test]
fn files_equal_debugfs() {
    let Some(debugfs_bin) = interop_tool("debugfs") else { return };
    let mut compared = 0;
    for name in
        ["pv-whole-disk.img", "hvm-mbr.img", "mbr-logical.img", "gpt.img", "syslinux-mbr.img", "symlink-loop.img"]
    {
        let img = image(name);
        let disk = Disk::open(&img).unwrap();
        for v in disk.volumes() {
            if v.partition.as_ref().is_some_and(|p| p.role == Role::Extended) {
                continue;
            }
            let Ok(Some(probe)) = disk.probe(v) else { continue };
            if !probe.kind.is_ext() {
                continue;
            }
            let fs = disk.open_fs(v).unwrap_or_else(|e| panic!("{name} {}: {e}", v.names.linux));
            let mut stack = vec!["/".to_string()];
            while let Some(dir) = stack.pop() {
                for e in fs.list_dir(&dir).unwrap() {
                    if dir == "/" && e.name == "lost+found" {
                        continue;
                    }
                    let path = if dir == "/" { format!("/{}", e.name) } else { format!("{dir}/{}", e.name) };
                    match e.kind {
                        NodeKind::Directory => stack.push(path),
                        NodeKind::File => {
                            let ours = fs.read_file(&path, 64 << 20).unwrap();
                            let theirs = debugfs(&debugfs_bin, &img, v, &format!("cat {path}"));
                            assert_eq!(ours, theirs, "{name} {} {path}: contents differ from debugfs", v.names.linux);
                            compared += 1;
                        }
                        NodeKind::Symlink => {
                            let ours = fs.read_link(&path).unwrap();
                            let stat =
                                String::from_utf8(debugfs(&debugfs_bin, &img, v, &format!("stat {path}"))).unwrap();
                            let needle = format!("Fast link dest: \"{ours}\"");
                            assert!(stat.contains(&needle), "{name} {path}: debugfs stat lacks {needle:?}:\n{stat}");
                            compared += 1;
                        }
                        NodeKind::Other => {}
                    }
                }
            }
            // And the resolved config paths lead to the same bytes.
            for c in boot_config::configs::find_configs(&*fs) {
                if let Some(rp) = c.resolved_path.filter(|_| c.error.is_none()) {
                    let (_, ours) = fs::read_resolved(&*fs, &c.path, 1 << 20).unwrap();
                    let theirs = debugfs(&debugfs_bin, &img, v, &format!("cat {rp}"));
                    assert_eq!(ours, theirs, "{name} {}: {} -> {rp}", v.names.linux, c.path);
                }
            }
        }
    }
    assert!(compared >= 10, "only {compared} files compared: the fixtures lost their files?");
}

/// Filesystem type, label and UUID of every volume equal `blkid -p`'s
/// (low-level probe at the volume's offset).
#[test]
fn filesystems_equal_blkid() {
    let Some(blkid) = interop_tool("blkid") else { return };
    let mut compared = 0;
    for name in SFDISK_FIXTURES.iter().chain(&["symlink-loop.img", "no-signature.img"]) {
        let img = image(name);
        let disk = Disk::open(&img).unwrap();
        for v in disk.volumes() {
            if v.partition.as_ref().is_some_and(|p| p.role == Role::Extended) || v.start_bytes >= disk.reader().size() {
                continue;
            }
            let out = Command::new(&blkid)
                .args(["-p", "-o", "export", "-O", &v.start_bytes.to_string(), "-S", &v.len_bytes.to_string()])
                .arg(&img)
                .output()
                .expect("run blkid");
            let text = String::from_utf8_lossy(&out.stdout);
            let field = |k: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).map(str::to_string);
            let ours = disk.probe(v).unwrap();
            // blkid exits 2 when it finds nothing.
            let their_type = field("TYPE");
            assert_eq!(ours.as_ref().map(|p| p.kind.name().to_string()), their_type, "{name} {}: type", v.names.linux);
            if let Some(p) = ours {
                let label = field("LABEL").or_else(|| field("LABEL_FATBOOT"));
                assert_eq!(p.label, label, "{name} {}: label", v.names.linux);
                assert_eq!(p.uuid, field("UUID"), "{name} {}: uuid", v.names.linux);
                compared += 1;
            }
        }
    }
    assert!(compared >= 10, "only {compared} filesystems compared");
}
