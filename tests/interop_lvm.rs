//! boot-sim against LVM2's own tools on the same bytes: a disk image with
//! two MBR partitions (sfdisk), each a PV made by `pvcreate` through a loop
//! device (`losetup -o/--sizelimit`, so both PVs are on the one image),
//! one VG (`vgcreate`), a linear LV extended onto the second PV (two
//! segments) and a striped LV (`lvcreate -i 2 -I 64k`).
//!
//! The kernel here may have no device-mapper (containers): the LVs are
//! created with activation off (`global/activation=0`, `-Zn -Wn`), which
//! writes the same metadata and nothing else. The filesystem of the root
//! LV is made by `mke2fs -d` into a file and written where LVM's report
//! (`lvs -o seg_pe_ranges`, `pvs -o pe_start`) says each segment lies.
//! Compared: `vgs`/`lvs`/`pvs --reportformat json` and `pvck --dump
//! metadata` with `boot-sim inspect --json`; `debugfs` on the filesystem
//! with `boot-sim cat` through the LV's names.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use boot_sim::grub_legacy_image::run_tool;
use boot_sim::interop_tool;
use disk_image::{Disk, fs, inspect};
use serde_json::Value;

const MIB: u64 = 1 << 20;
/// (start sector, sectors) of the two partitions.
const PARTS: [(u64, u64); 2] = [(2048, 24 * 2048), (2048 + 24 * 2048, 24 * 2048)];

/// Detaches the loop devices however the test ends.
struct Loops(Vec<String>);

impl Drop for Loops {
    fn drop(&mut self) {
        for l in &self.0 {
            let _ = Command::new("losetup").arg("-d").arg(l).status();
        }
    }
}

struct Lvm {
    tools: HashMap<&'static str, PathBuf>,
    config: String,
}

impl Lvm {
    fn new(devices: &[String]) -> Option<Lvm> {
        let mut tools = HashMap::new();
        for t in ["pvcreate", "vgcreate", "lvcreate", "lvextend", "lvs", "vgs", "pvs", "pvck"] {
            tools.insert(t, interop_tool(t)?);
        }
        // Only our loop devices are scanned, never the machine's disks;
        // no devices file, no udev, no device-mapper.
        let accept: Vec<String> = devices.iter().map(|d| format!("\"a|^{d}$|\"")).collect();
        let config = format!(
            "devices {{ use_devicesfile=0 filter=[ {}, \"r|.*|\" ] }} activation {{ udev_sync=0 udev_rules=0 }} \
             global {{ use_lvmlockd=0 activation=0 }} backup {{ backup=0 archive=0 }}",
            accept.join(", ")
        );
        Some(Lvm { tools, config })
    }

    fn run(&self, tool: &str, args: &[&str]) -> String {
        let out = Command::new(&self.tools[tool])
            .arg("--config")
            .arg(&self.config)
            .args(args)
            .env("LVM_SUPPRESS_FD_WARNINGS", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "{tool} {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `lvs/vgs/pvs --reportformat json`: the rows of the one report.
    fn report(&self, tool: &str, kind: &str, fields: &str) -> Vec<Value> {
        let out = self.run(tool, &["--reportformat", "json", "--units", "b", "--nosuffix", "-o", fields]);
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{tool} json: {e}: {out}"));
        v["report"][0][kind].as_array().unwrap().clone()
    }
}

fn sfdisk_two_lvm_partitions(img: &Path) -> Option<()> {
    let sfdisk = interop_tool("sfdisk")?;
    let mut c = Command::new(sfdisk)
        .args(["-q", "--no-reread", "--no-tell-kernel"])
        .arg(img)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let script = format!(
        "label: dos\nstart={}, size={}, type=8e\nstart={}, size={}, type=8e\n",
        PARTS[0].0, PARTS[0].1, PARTS[1].0, PARTS[1].1
    );
    use std::io::Write;
    c.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
    let out = c.wait_with_output().unwrap();
    assert!(out.status.success(), "sfdisk: {}", String::from_utf8_lossy(&out.stderr));
    Some(())
}

/// `"/dev/loop3:0-5"` → ("/dev/loop3", 0, 6 extents).
fn pe_range(r: &str) -> (String, u64, u64) {
    let (dev, range) = r.rsplit_once(':').unwrap();
    let (a, b) = range.split_once('-').unwrap();
    let (a, b): (u64, u64) = (a.parse().unwrap(), b.parse().unwrap());
    (dev.to_string(), a, b - a + 1)
}

fn num(v: &Value) -> u64 {
    v.as_str().map(|s| s.trim().parse().unwrap()).or_else(|| v.as_u64()).unwrap_or_else(|| panic!("{v}"))
}

#[test]
fn lvm_tools_and_boot_sim_agree_on_a_two_pv_vg() {
    let Some(losetup) = interop_tool("losetup") else { return };
    let Some(mke2fs) = interop_tool("mke2fs") else { return };
    let Some(debugfs) = interop_tool("debugfs") else { return };
    let dir = boot_sim::qemu::Scratch::new("lvm");
    let img = dir.0.join("lvm.img");
    let f = std::fs::File::create(&img).unwrap();
    f.set_len(64 * MIB).unwrap();
    drop(f);
    if sfdisk_two_lvm_partitions(&img).is_none() {
        return;
    }
    let mut loops = Loops(Vec::new());
    for (start, sectors) in PARTS {
        let out = Command::new(&losetup)
            .args(["-f", "--show", "-o", &(start * 512).to_string(), "--sizelimit", &(sectors * 512).to_string()])
            .arg(&img)
            .output()
            .unwrap();
        assert!(out.status.success(), "losetup: {}", String::from_utf8_lossy(&out.stderr));
        loops.0.push(String::from_utf8_lossy(&out.stdout).trim().to_string());
    }
    let Some(lvm) = Lvm::new(&loops.0) else { return };
    let (a, b) = (loops.0[0].clone(), loops.0[1].clone());
    let (a, b) = (a.as_str(), b.as_str());
    lvm.run("pvcreate", &[a, b]);
    lvm.run("vgcreate", &["-s", "1m", "vg-test", a, b]);
    lvm.run("lvcreate", &["-an", "-Zn", "-Wn", "-L", "6m", "-n", "root", "vg-test", a]);
    lvm.run("lvextend", &["-L", "+4m", "vg-test/root", b]);
    lvm.run("lvcreate", &["-an", "-Zn", "-Wn", "-i", "2", "-I", "64k", "-L", "4m", "-n", "data-1", "vg-test"]);

    let vgs = lvm.report("vgs", "vg", "vg_name,vg_uuid,vg_seqno,vg_extent_size");
    let pvs = lvm.report("pvs", "pv", "pv_name,pv_uuid,pe_start");
    let segs =
        lvm.report("lvs", "lv", "lv_name,lv_size,segtype,seg_start_pe,seg_size_pe,stripes,stripe_size,seg_pe_ranges");
    let pvck = lvm.run("pvck", &["--dump", "metadata", a]);
    drop(loops);
    let loop_part: HashMap<String, usize> = pvs
        .iter()
        .map(|p| (p["pv_name"].as_str().unwrap().to_string(), if p["pv_name"] == a { 0 } else { 1 }))
        .collect();
    let pe_start: HashMap<String, u64> =
        pvs.iter().map(|p| (p["pv_name"].as_str().unwrap().to_string(), num(&p["pe_start"]))).collect();
    let extent = num(&vgs[0]["vg_extent_size"]);
    assert_eq!(extent, MIB);

    // The root filesystem, written where LVM says root's segments are.
    let root = dir.0.join("root");
    std::fs::create_dir_all(root.join("boot/grub")).unwrap();
    let cfg = "set default=0\nset timeout=1\nmenuentry 'Linux on LVM' {\n  linux /boot/vmlinuz root=/dev/mapper/vg--test-root ro\n}\n";
    std::fs::write(root.join("boot/grub/grub.cfg"), cfg).unwrap();
    let big: Vec<u8> = (0..3 * MIB as u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect();
    std::fs::write(root.join("boot/vmlinuz"), &big).unwrap();
    let fs_img = dir.0.join("root.ext4");
    run_tool(
        Command::new(&mke2fs)
            .args([
                "-q",
                "-F",
                "-t",
                "ext4",
                "-U",
                "10000000-2000-4000-8000-00000000000a",
                "-E",
                "root_owner=0:0",
                "-d",
            ])
            .arg(&root)
            .arg(&fs_img)
            .arg("10M"),
    );
    let fs_bytes = std::fs::read(&fs_img).unwrap();
    let mut disk = std::fs::read(&img).unwrap();
    let mut lv_at = 0usize;
    let root_segs: Vec<&Value> = segs.iter().filter(|s| s["lv_name"] == "root").collect();
    assert_eq!(root_segs.len(), 2, "lvextend onto the other PV makes a second segment: {segs:?}");
    for s in &root_segs {
        let (dev, first, count) = pe_range(s["seg_pe_ranges"].as_str().unwrap());
        let part = PARTS[loop_part[&dev]].0 * 512;
        let at = (part + pe_start[&dev] + first * extent) as usize;
        let len = (count * extent) as usize;
        disk[at..at + len].copy_from_slice(&fs_bytes[lv_at..lv_at + len]);
        lv_at += len;
    }
    assert_eq!(lv_at, fs_bytes.len());
    std::fs::write(&img, &disk).unwrap();

    // Metadata: boot-sim's parse equals LVM's report.
    let disk = Disk::open(&img).unwrap();
    let report = inspect::inspect(&disk).unwrap();
    assert_eq!(report.lvm.groups.len(), 1);
    let g = &report.lvm.groups[0];
    assert_eq!(g.vg.name, vgs[0]["vg_name"].as_str().unwrap());
    assert_eq!(g.vg.id, vgs[0]["vg_uuid"].as_str().unwrap());
    assert_eq!(g.vg.seqno, num(&vgs[0]["vg_seqno"]));
    assert_eq!(g.vg.extent_size, extent);
    assert!(pvck.contains(&format!("seqno = {}", g.vg.seqno)), "pvck: {pvck}");
    assert!(pvck.contains(&g.vg.id), "pvck: {pvck}");
    // PV key → the partition boot-sim found it on; LVM's loop device → partition.
    let key_dev: HashMap<&str, &str> =
        g.pv_devices.iter().map(|(k, d)| (k.as_str(), d.as_deref().expect("both PVs on this disk"))).collect();
    for pv in &g.vg.pvs {
        let lvm_pv = pvs.iter().find(|x| x["pv_uuid"] == pv.id.as_str()).expect("same PV uuids");
        assert_eq!(pv.pe_start, num(&lvm_pv["pe_start"]));
        assert_eq!(key_dev[pv.key.as_str()], format!("xvda{}", loop_part[lvm_pv["pv_name"].as_str().unwrap()] + 1));
    }
    assert_eq!(g.lvs.len(), 2);
    for lv in &g.lvs {
        let name = lv.name.as_str();
        assert!(lv.error.is_none(), "{name}: {:?}", lv.error);
        let theirs: Vec<&Value> = segs.iter().filter(|s| s["lv_name"] == name).collect();
        assert_eq!(lv.size_bytes, num(&theirs[0]["lv_size"]), "{name}");
        assert_eq!(lv.segments.len(), theirs.len(), "{name}");
        for (o, t) in lv.segments.iter().zip(&theirs) {
            assert_eq!(o.start_extent, num(&t["seg_start_pe"]), "{name}");
            assert_eq!(o.extent_count, num(&t["seg_size_pe"]), "{name}");
            assert_eq!(o.stripe_size, num(&t["stripe_size"]), "{name}");
            assert_eq!(o.type_name(), t["segtype"].as_str().unwrap(), "{name}");
            assert_eq!(o.stripes.len() as u64, num(&t["stripes"]), "{name}");
            // seg_pe_ranges: one "dev:first-last" per stripe, in stripe order.
            let ranges: Vec<(String, u64, u64)> =
                t["seg_pe_ranges"].as_str().unwrap().split_whitespace().map(pe_range).collect();
            assert_eq!(ranges.len(), o.stripes.len(), "{name}");
            for ((key, first), (dev, their_first, count)) in o.stripes.iter().zip(&ranges) {
                assert_eq!(key_dev[key.as_str()], format!("xvda{}", loop_part[dev] + 1), "{name}");
                assert_eq!(first, their_first, "{name}");
                assert_eq!(count * o.stripes.len() as u64, o.extent_count, "{name}");
            }
        }
    }
    let root_vol = report.volumes.iter().find(|v| v.volume.names.grub2 == "(lvm/vg--test-root)").expect("root LV");
    let probe = root_vol.fs.as_ref().expect("a filesystem on root");
    assert_eq!(probe.kind.name(), "ext4");
    assert_eq!(probe.uuid.as_deref(), Some("10000000-2000-4000-8000-00000000000a"));
    assert!(root_vol.configs.iter().any(|c| c.path == "/boot/grub/grub.cfg"), "{:?}", root_vol.configs);

    // Files: boot-sim through the LV = debugfs on the filesystem's bytes.
    let cat = |device: &str, path: &str| {
        let v = disk.volume(device).unwrap_or_else(|| panic!("{device}"));
        let fs = disk.open_fs(&v).unwrap();
        fs::read_resolved(&*fs, path, 1 << 30).unwrap().1
    };
    let theirs = Command::new(&debugfs).args(["-R", "cat /boot/grub/grub.cfg"]).arg(&fs_img).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&theirs.stdout), cfg);
    for device in ["(lvm/vg--test-root)", "/dev/mapper/vg--test-root", "/dev/vg-test/root"] {
        assert_eq!(cat(device, "/boot/grub/grub.cfg"), theirs.stdout, "{device}");
    }
    let theirs = Command::new(&debugfs).args(["-R", "cat /boot/vmlinuz"]).arg(&fs_img).output().unwrap();
    assert_eq!(theirs.stdout, big);
    // 3 MiB that cross root's segment boundary at 6 MiB, wherever mke2fs put them.
    assert!(cat("(lvm/vg--test-root)", "/boot/vmlinuz") == big);
}
