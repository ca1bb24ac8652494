//! LVM2 logical volumes as devices of a disk: PVs built with the crate's
//! generator on two MBR partitions (the interop test checks the generator
//! against LVM's own tools, and reads disks `pvcreate`/`lvcreate` made).

use std::sync::Arc;

use disk_image::fs;
use disk_image::lvm::build::sample_disk;
use disk_image::{Disk, MemImage, ReadAt};

const MIB: u64 = 1 << 20;
fn disk_image(with_pv1: bool) -> Vec<u8> {
    sample_disk(&fs_image(), with_pv1)
}

fn fs_image() -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images/pv-kernel.img"))
        .expect("fixture pv-kernel.img")
}

fn open(with_pv1: bool) -> Disk {
    Disk::from_reader(Arc::new(MemImage::new(disk_image(with_pv1), "lvm.img"))).unwrap()
}

#[test]
fn lvs_are_volumes_after_the_partitions_by_every_name() {
    let disk = open(true);
    let names: Vec<&str> = disk.volumes().iter().map(|v| v.names.grub2.as_str()).collect();
    assert_eq!(names, ["(hd0,msdos1)", "(hd0,msdos2)", "(lvm/vg--sys-root)", "(lvm/vg--sys-data--01)"]);
    for name in ["(lvm/vg--sys-root)", "/dev/mapper/vg--sys-root", "mapper/vg--sys-root", "/dev/vg-sys/root"] {
        let v = disk.volume(name).unwrap_or_else(|| panic!("{name}"));
        assert_eq!(v.len_bytes, 2 * MIB, "{name}");
    }
    let g = &disk.lvm().groups[0];
    assert_eq!(g.vg.name, "vg-sys");
    assert_eq!(g.vg.seqno, 5);
    assert_eq!(g.pv_devices, [("pv0".into(), Some("xvda1".into())), ("pv1".into(), Some("xvda2".into()))]);
    let types: Vec<Vec<String>> = g.lvs.iter().map(|l| l.types.clone()).collect();
    assert_eq!(
        types,
        [vec!["linear".to_string()], vec!["striped".into()], vec!["thin-pool".into()], vec!["linear".into()]]
    );
}

#[test]
fn a_two_segment_lv_reads_as_the_filesystem_it_holds() {
    let disk = open(true);
    let v = disk.volume("/dev/mapper/vg--sys-root").unwrap();
    let lv = disk.window(&v).read_vec(0, 2 * MIB as usize).unwrap();
    assert_eq!(lv, fs_image());
    let fs = disk.open_fs(&v).unwrap();
    let direct = Disk::from_reader(Arc::new(MemImage::new(fs_image(), "ext"))).unwrap();
    let whole = direct.whole_disk();
    let want = direct.open_fs(&whole).unwrap();
    for e in want.list_dir("/boot/grub").unwrap() {
        let p = format!("/boot/grub/{}", e.name);
        if e.kind == fs::NodeKind::File {
            assert_eq!(fs.read_file(&p, 1 << 24).unwrap(), want.read_file(&p, 1 << 24).unwrap(), "{p}");
        }
    }
}

#[test]
fn a_striped_lv_alternates_chunks_between_pvs() {
    let disk = open(true);
    let v = disk.volume("(lvm/vg--sys-data--01)").unwrap();
    assert_eq!(v.len_bytes, 4 * MIB);
    let w = disk.window(&v);
    for chunk in 0..64u64 {
        let b = w.read_vec(chunk * 65536 + 100, 1).unwrap();
        assert_eq!(b[0], chunk as u8, "chunk {chunk}");
    }
    // A read across chunk boundaries.
    let b = w.read_vec(65536 - 2, 4).unwrap();
    assert_eq!(b, [0, 0, 1, 1]);
    assert!(w.read_vec(4 * MIB - 1, 2).is_err());
}

#[test]
fn thin_pools_and_missing_pvs_are_named() {
    let disk = open(true);
    assert!(disk.volume("(lvm/vg--sys-pool)").is_none());
    let e = disk.lvm().lv_problem("/dev/mapper/vg--sys-pool").unwrap();
    assert!(e.contains("LV vg-sys/pool") && e.contains("thin-pool"), "{e}");
    // The VG without pv1 in this disk: pv1's partition holds a PV the
    // metadata does not list, and root needs pv1.
    let disk = open(false);
    let root = disk.lvm().lv_problem("(lvm/vg--sys-root)");
    assert!(root.is_some_and(|e| e.contains("PV pv1") && e.contains("VG does not list")));
}

#[test]
fn corrupt_metadata_is_a_diagnostic_with_the_offset() {
    let mut img = disk_image(true);
    // Inside pv0's metadata text (partition 1 at 1 MiB, mda at 4096, text at +512).
    img[(MIB + 4096 + 512 + 40) as usize] ^= 0x20;
    let disk = Disk::from_reader(Arc::new(MemImage::new(img, "lvm.img"))).unwrap();
    let d = &disk.lvm().diagnostics;
    assert!(d.iter().any(|d| d.message.contains("checksum") && d.message.contains("xvda1")), "{d:?}");
    // pv1's copy is intact, so the LVs are still there.
    assert!(disk.volume("(lvm/vg--sys-root)").is_some());
}
