//! The CLI on a disk with LVM2: two PVs on MBR partitions (built with
//! disk-image's generator around the pv-kernel.img ext2 filesystem),
//! a two-segment linear LV `root`, a striped LV and a thin pool.

mod common;

use common::boot_sim;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images/pv-kernel.img")
}

fn lvm_image(dir: &Path) -> String {
    let ext = std::fs::read(fixture()).unwrap();
    let img = dir.join("lvm.img");
    std::fs::write(&img, disk_image::lvm::build::sample_disk(&ext, true)).unwrap();
    img.to_string_lossy().into_owned()
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn inspect_shows_the_vg_its_lvs_and_their_filesystems() {
    let dir = tempfile::tempdir().unwrap();
    let img = lvm_image(dir.path());
    let out = boot_sim(&["inspect", &img]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    assert!(t.contains("LVM2 volume group vg-sys (seqno 5, extent size 1.0 MiB"), "{t}");
    assert!(t.contains("pv0 on xvda1, pv1 on xvda2"), "{t}");
    assert!(
        t.contains("LV root: 2.0 MiB, 2 segments (linear), (lvm/vg--sys-root) /dev/mapper/vg--sys-root /dev/vg-sys/root, fs ext2"),
        "{t}"
    );
    assert!(
        t.contains("segment1: extents 0..4 striped, stripe size 64.0 KiB: pv0 from extent 1, pv1 from extent 0"),
        "{t}"
    );
    assert!(
        t.contains("LV pool: ") && t.contains("cannot read: LV vg-sys/pool: segment1 of type \"thin-pool\""),
        "{t}"
    );
    // The LV's filesystem is searched for configs like a partition's.
    assert!(t.contains("(lvm/vg--sys-root)/boot/grub/menu.lst"), "{t}");

    let out = boot_sim(&["inspect", "--json", &img]);
    let lines = boot_sim::json_lines(&out.stdout);
    let lvs: Vec<&Value> = lines.iter().filter(|l| l["type"] == "logical_volume").collect();
    assert_eq!(lvs.len(), 4);
    assert_eq!(lvs[0]["linux"], "/dev/mapper/vg--sys-root");
    assert_eq!(lvs[0]["size_bytes"], 2 << 20);
    assert_eq!(lvs[0]["fs"], "ext2");
    let vols: Vec<&Value> = lines.iter().filter(|l| l["type"] == "partition" && l["role"] == "lv").collect();
    assert_eq!(vols.len(), 2, "root and data-01 are devices; the pool and the hidden LV are not");
}

#[test]
fn cat_reads_through_an_lv_by_each_name() {
    let dir = tempfile::tempdir().unwrap();
    let img = lvm_image(dir.path());
    let want = boot_sim(&["cat", fixture().to_str().unwrap(), "/boot/grub/menu.lst"]);
    assert_eq!(want.status.code(), Some(0), "{}", text(&want));
    for spec in [
        "(lvm/vg--sys-root)/boot/grub/menu.lst",
        "/dev/mapper/vg--sys-root:/boot/grub/menu.lst",
        "/dev/vg-sys/root:/boot/grub/menu.lst",
        "/boot/grub/menu.lst",
    ] {
        let out = boot_sim(&["cat", &img, spec]);
        assert_eq!(out.status.code(), Some(0), "{spec}: {}", text(&out));
        assert_eq!(out.stdout, want.stdout, "{spec}");
    }
    let out = boot_sim(&["cat", &img, "(lvm/vg--sys-pool)/etc/fstab"]);
    let t = text(&out);
    assert_ne!(out.status.code(), Some(0));
    assert!(t.contains("thin-pool") && t.contains("not supported"), "{t}");
}

#[test]
fn pv_loaders_say_they_cannot_see_lvs() {
    let dir = tempfile::tempdir().unwrap();
    let img = lvm_image(dir.path());
    for loader in ["pygrub", "pvgrub-aws"] {
        let out = boot_sim(&["menu", &img, "--loader", loader]);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{t}");
        assert!(t.contains("(lvm/vg--sys-root)/boot/grub/menu.lst") && t.contains("no LVM support"), "{t}");
    }
    // PV-GRUB in the loader's words: GRUB 0.97 finds no filesystem it
    // knows on the PV partitions.
    let out = boot_sim(&["run", &img, "--mode", "pv"]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("(hd0,0)/boot/grub/menu.lst: Error 17: Cannot mount selected partition"), "{t}");
    assert!(t.contains("hint: the boot menu is on an LVM2 logical volume"), "{t}");
}
