//! core.img followed from boot.img's kernel_sector through diskboot.img's
//! block list (the hvm-grub2 fixture has GRUB 2 in the post-MBR gap; the
//! interop test checks a real grub-install into a BIOS boot partition).

use std::sync::Arc;

use boot_config::inspect::{self, read_core_img};
use disk_image::{Disk, MemImage};

fn fixture() -> Vec<u8> {
    std::fs::read(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images/hvm-grub2.img")).unwrap()
}

#[test]
fn the_fixture_core_img_says_its_prefix_and_modules() {
    let disk = Disk::from_reader(Arc::new(MemImage::new(fixture(), "hvm-grub2.img"))).unwrap();
    let r = inspect::inspect(&disk).unwrap();
    let core = r.next_stage.unwrap().core_img.expect("core.img");
    assert_eq!(core.error, None);
    assert_eq!(core.prefix.as_deref(), Some("(,msdos1)/boot/grub"));
    assert!(core.modules.iter().any(|m| m == "ext2"), "{:?}", core.modules);
}

#[test]
fn broken_block_lists_are_errors_not_panics() {
    let mut img = fixture();
    // diskboot.img at LBA 1: its first block-list entry's start (0x1F4) far past the end.
    img[512 + 0x1F4..512 + 0x1FC].copy_from_slice(&u64::MAX.to_le_bytes());
    let r = read_core_img(&MemImage::new(img.clone(), "x"), 1);
    assert!(r.error.as_deref().is_some_and(|e| e.contains("overflows") || e.contains("past the end")), "{:?}", r.error);
    // A length beyond what core.img may be.
    img[512 + 0x1F4..512 + 0x1FC].copy_from_slice(&2u64.to_le_bytes());
    img[512 + 0x1FC..512 + 0x1FE].copy_from_slice(&0xFFFFu16.to_le_bytes());
    let r = read_core_img(&MemImage::new(img.clone(), "x"), 1);
    assert!(r.error.as_deref().is_some_and(|e| e.contains("must end below")), "{:?}", r.error);
    // Every byte of the diskboot sector flipped in turn: never a panic.
    for at in 0..512 {
        let mut m = img.clone();
        m[512 + at] ^= 0xA5;
        let _ = read_core_img(&MemImage::new(m, "x"), 1);
    }
    let _ = read_core_img(&MemImage::new(vec![0u8; 100], "x"), 1);
}
