//! `boot-sim kernel` on our fixture kernels and on a kernel inside a disk image.

mod common;

use common::{boot_sim, stdout};

use std::path::PathBuf;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

#[test]
fn pv_and_hvm_verdicts_in_xens_words() {
    let k = fixtures().join("kernels");
    let pv = boot_sim(&["kernel", k.join("xen-pv.elf").to_str().unwrap()]);
    assert!(pv.status.success());
    assert!(stdout(&pv).contains("PV: bootable by libxc's ELF-generic loader as xen-3.0-x86_64"), "{}", stdout(&pv));

    let none = boot_sim(&["kernel", k.join("no-notes.elf").to_str().unwrap()]);
    let t = stdout(&none);
    assert!(none.status.success(), "inspecting an unbootable kernel is not an error");
    assert!(t.contains("xl: xc_dom_find_loader: no loader found"), "{t}");
    assert!(t.contains("No ELF notes or '__xen_guest' section found"), "{t}");
    assert!(t.contains("no Xen ELF notes: this kernel has no PV support"), "{t}");

    let gz = boot_sim(&["kernel", k.join("bzimage-gzip.bin").to_str().unwrap()]);
    let t = stdout(&gz);
    assert!(t.contains("Kernel ") && t.contains("bzImage"), "{t}");
    assert!(t.contains("Payload: gzip"), "{t}");
    assert!(t.contains("GRUB legacy prints:    [Linux-bzImage, setup=0x"), "{t}");
}

#[test]
fn json_is_one_kernel_object() {
    let out = boot_sim(&["kernel", "--json", fixtures().join("kernels/bzimage-xz.bin").to_str().unwrap()]);
    assert!(out.status.success());
    let lines = boot_sim::json_lines(&out.stdout);
    assert_eq!(lines.len(), 1);
    let k = &lines[0];
    assert_eq!(k["type"], "kernel");
    assert_eq!(k["format"], "bz_image");
    assert_eq!(k["payload"]["codec"], "xz");
    assert_eq!(k["pv"]["bootable"], true);
    assert!(k["payload"]["decompressed_size"].as_u64().unwrap() > 0);
}

#[test]
fn broken_kernels_are_errors_with_offsets() {
    let out = boot_sim(&["kernel", fixtures().join("kernels/broken-corrupt-xz.bin").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("corrupt XZ stream at byte 0x"), "{err}");
}

#[test]
fn kernel_inside_a_disk_image() {
    // The fixture images carry small placeholder kernels: not a kernel format.
    let img = fixtures().join("images/pv-whole-disk.img");
    let out = boot_sim(&["kernel", img.to_str().unwrap(), "(hd0)/boot/vmlinuz-4.14.355-1.el6"]);
    assert_eq!(out.status.code(), Some(1), "no kernel at all: {}", String::from_utf8_lossy(&out.stderr));
    let t = stdout(&out);
    assert!(t.contains(":(hd0)/boot/vmlinuz-4.14.355-1.el6"), "{t}");
    let missing = boot_sim(&["kernel", img.to_str().unwrap(), "/boot/nope"]);
    assert_eq!(missing.status.code(), Some(2));
    // The disk image itself is no kernel.
    let whole = boot_sim(&["kernel", img.to_str().unwrap()]);
    assert_eq!(whole.status.code(), Some(1));
}
