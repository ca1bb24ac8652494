//! GRUB 2's view of LVM2 logical volumes: `search` finds an LV's
//! filesystem and reads go through it, on the PVs disk-image's generator
//! builds on two MBR partitions (`crates/disk-image/tests/lvm.rs` checks
//! the volumes themselves).

use std::sync::Arc;

use boot_config::disk_context::DiskContext;
use boot_config::grub2::{Grub2Context, Lookup, SearchKind};
use disk_image::lvm::build::sample_disk;
use disk_image::{Disk, MemImage};

fn open(with_pv1: bool) -> Disk {
    let fs =
        std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images/pv-kernel.img"))
            .expect("fixture pv-kernel.img");
    Disk::from_reader(Arc::new(MemImage::new(sample_disk(&fs, with_pv1), "lvm.img"))).unwrap()
}

#[test]
fn grub2_search_and_reads_reach_lvs() {
    let disk = open(true);
    let boot = disk.volume("(hd0,msdos1)").unwrap();
    let ctx = DiskContext::new(&disk, &boot, "/boot/grub/grub.cfg");
    // The ext2 on root carries the fixture's UUID; GRUB's lvm module makes
    // the LV a device that search finds.
    let uuid = disk.probe(&disk.volume("(lvm/vg--sys-root)").unwrap()).unwrap().unwrap().uuid.unwrap();
    assert!(matches!(ctx.search(SearchKind::FsUuid, &uuid, &[]), Lookup::Found(d) if d == "lvm/vg--sys-root"));
    assert!(
        matches!(ctx.search(SearchKind::File, "/boot/grub/menu.lst", &[]), Lookup::Found(d) if d == "lvm/vg--sys-root")
    );
    let Lookup::Found(data) = ctx.read_file("lvm/vg--sys-root", "/boot/grub/menu.lst", 1 << 20) else {
        panic!("menu.lst through (lvm/vg--sys-root)")
    };
    assert!(String::from_utf8_lossy(&data).contains("title"));
    assert!(matches!(ctx.read_file("lvm/vg--sys-pool", "/x", 10), Lookup::Missing));
}
