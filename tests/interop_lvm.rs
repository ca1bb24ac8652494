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
use std::process::Command;

use boot_config::discover::{self, Loader};
use boot_config::inspect;
use boot_config::select::{self, EntryRequest};
use boot_sim::interop_tool;
use boot_sim::scratch_disk::{run_tool, sfdisk_script};
use disk_image::{Disk, fs};
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
    let script = format!(
        "label: dos\nstart={}, size={}, type=8e\nstart={}, size={}, type=8e\n",
        PARTS[0].0, PARTS[0].1, PARTS[1].0, PARTS[1].1
    );
    sfdisk_script(&sfdisk, img, &script);
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
    // blkid on each PV partition: TYPE and UUID as boot-sim's probe says them.
    if let Some(blkid) = interop_tool("blkid") {
        for (i, (start, _)) in PARTS.iter().enumerate() {
            let out = Command::new(&blkid)
                .args(["-p", "-o", "export", "-O", &(start * 512).to_string()])
                .arg(&img)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            let field = |k: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).map(str::to_string);
            let probe = report.volumes[i].fs.as_ref().expect("a PV probe");
            assert_eq!(field("TYPE").as_deref(), Some(probe.kind.name()), "{text}");
            assert_eq!(field("UUID"), probe.uuid, "{text}");
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

/// The RHEL/Rocky LVM layout: a separate /boot partition (its root holds
/// `grub/` and the kernel) and the root filesystem on an LV. PV loaders
/// cannot read LVs but need not: the menu and kernel are on /boot, and the
/// command line names the LV (`root=/dev/mapper/rocky-root`). boot-sim's
/// pygrub choice equals Xen's pygrub on the same image (kernel bytes and
/// args); PV-GRUB finds `/grub/menu.lst` on (hd0,0) and boots to the
/// kernel entry; the LV's files read by its Linux name.
#[test]
fn separate_boot_and_root_on_lvm_boot_pv() {
    let Some(losetup) = interop_tool("losetup") else { return };
    let Some(mke2fs) = interop_tool("mke2fs") else { return };
    let Some(pygrub) = boot_sim::pygrub() else { return };
    let dir = boot_sim::qemu::Scratch::new("lvm-boot");
    let img = dir.0.join("rocky.img");
    std::fs::File::create(&img).unwrap().set_len(64 * MIB).unwrap();
    // The fixture's Xen PV kernel, put at the root of the /boot filesystem.
    let fixture = Disk::open(boot_sim::fixture("images/pv-kernel.img")).unwrap();
    let ffs = fixture.open_fs(&fixture.whole_disk()).unwrap();
    let kernel = ffs.read_file("/boot/vmlinuz-xen", 1 << 28).unwrap();
    let boot = dir.0.join("boot");
    std::fs::create_dir_all(boot.join("grub")).unwrap();
    std::fs::write(boot.join("vmlinuz-xen"), &kernel).unwrap();
    std::fs::write(
        boot.join("grub/grub.cfg"),
        "set default=0\nset timeout=1\nsearch --no-floppy --fs-uuid --set=root 0b007000-0000-4000-8000-000000000001\n\
         menuentry 'Rocky Linux (separate /boot)' {\n  linux /vmlinuz-xen root=/dev/mapper/rocky-root ro console=hvc0\n}\n",
    )
    .unwrap();
    std::fs::write(
        boot.join("grub/menu.lst"),
        "default 0\ntimeout 1\ntitle Rocky Linux (separate /boot)\nroot (hd0,0)\nkernel /vmlinuz-xen root=/dev/mapper/rocky-root ro console=hvc0\n",
    )
    .unwrap();
    let Some(sfdisk) = interop_tool("sfdisk") else { return };
    sfdisk_script(&sfdisk, &img, "label: dos\nstart=2048, size=32768, type=83\nstart=34816, type=8e\n");
    run_tool(
        Command::new(&mke2fs)
            .args(["-q", "-F", "-t", "ext4", "-U", "0b007000-0000-4000-8000-000000000001", "-E"])
            .arg("offset=1048576,root_owner=0:0")
            .arg("-d")
            .arg(&boot)
            .arg(&img)
            .arg("16M"),
    );
    let pv_start = 34816u64 * 512;
    let out = Command::new(&losetup)
        .args(["-f", "--show", "-o", &pv_start.to_string(), "--sizelimit", &(64 * MIB - pv_start).to_string()])
        .arg(&img)
        .output()
        .unwrap();
    assert!(out.status.success(), "losetup: {}", String::from_utf8_lossy(&out.stderr));
    let loops = Loops(vec![String::from_utf8_lossy(&out.stdout).trim().to_string()]);
    let Some(lvm) = Lvm::new(&loops.0) else { return };
    let pv = loops.0[0].clone();
    lvm.run("pvcreate", &[&pv]);
    lvm.run("vgcreate", &["-s", "1m", "rocky", &pv]);
    lvm.run("lvcreate", &["-an", "-Zn", "-Wn", "-L", "8m", "-n", "root", "rocky"]);
    let segs = lvm.report("lvs", "lv", "lv_name,seg_pe_ranges");
    let pvs = lvm.report("pvs", "pv", "pv_name,pe_start");
    drop(loops);
    let (_, first, count) = pe_range(segs[0]["seg_pe_ranges"].as_str().unwrap());
    let root = dir.0.join("root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    let fstab = "/dev/mapper/rocky-root / ext4 defaults 0 1\nUUID=0b007000-0000-4000-8000-000000000001 /boot ext4 defaults 0 2\n";
    std::fs::write(root.join("etc/fstab"), fstab).unwrap();
    let fs_img = dir.0.join("root.ext4");
    run_tool(Command::new(&mke2fs).args(["-q", "-F", "-t", "ext4", "-d"]).arg(&root).arg(&fs_img).arg("8M"));
    let bytes = std::fs::read(&fs_img).unwrap();
    assert_eq!(bytes.len() as u64, count * MIB);
    let mut disk = std::fs::read(&img).unwrap();
    let at = (pv_start + num(&pvs[0]["pe_start"]) + first * MIB) as usize;
    disk[at..at + bytes.len()].copy_from_slice(&bytes);
    std::fs::write(&img, &disk).unwrap();

    let disk = Disk::open(&img).unwrap();
    let v = disk.volume("/dev/mapper/rocky-root").expect("the root LV");
    let fs = disk.open_fs(&v).unwrap();
    assert_eq!(fs::read_resolved(&*fs, "/etc/fstab", 4096).unwrap().1, fstab.as_bytes());

    // Xen's pygrub on the same image.
    let outdir = dir.0.join("pygrub-out");
    std::fs::create_dir_all(&outdir).unwrap();
    let out = Command::new(&pygrub)
        .args(["-q", "--output-format=simple"])
        .arg(format!("--output-directory={}", outdir.display()))
        .arg(&img)
        .output()
        .unwrap();
    assert!(out.status.success(), "pygrub: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |k: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{k} "))).map(str::to_string);
    let theirs_kernel = std::fs::read(field("kernel").expect("pygrub printed a kernel")).unwrap();
    let d = discover::discover(&disk, Loader::Pygrub);
    let c = select::choose(&disk, &d, &EntryRequest::Default).unwrap();
    assert_eq!(c.config.device, "(hd0,0)");
    assert_eq!(c.kernel.resolved_path, "/vmlinuz-xen");
    assert_eq!(theirs_kernel, kernel);
    let args = field("args").unwrap_or_default();
    assert_eq!(args.split_whitespace().collect::<Vec<_>>(), c.cmdline.split_whitespace().collect::<Vec<_>>());
    assert!(c.cmdline.contains("root=/dev/mapper/rocky-root"), "{}", c.cmdline);

    // PV-GRUB: /grub/menu.lst on (hd0,0), booted to the kernel entry.
    let image: std::sync::Arc<dyn disk_image::ReadAt> = std::sync::Arc::new(disk_image::RawImage::open(&img).unwrap());
    let (run, _) = boot::pv::run(image, &boot::pv::PvOptions { memory: 256 << 20, ..Default::default() }).unwrap();
    let boot::pv::PvOutcome::Booted(b) = run.outcome else { panic!("PV-GRUB did not boot: {:?}", run.outcome) };
    assert_eq!((b.choice.config.device.as_str(), b.choice.config.path.as_str()), ("(hd0,0)", "/grub/menu.lst"));
    assert!(b.choice.cmdline.contains("root=/dev/mapper/rocky-root"), "{}", b.choice.cmdline);
}
