//! Arbitrary bytes as GRUB 2's core.img as loaded at 0x8200 (startup_raw
//! header, LZMA payload, grub_module_info and its objects): parsed by
//! `disk_image::grub2_core::parse_core`, which `inspect` uses to follow
//! boot.img into core.img. Must never panic and never allocate more than
//! `MAX_UNCOMPRESSED`. The committed corpus is replayed by
//! `crates/disk-image/tests/grub2_core.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(core) = disk_image::grub2_core::parse_core(data) {
        assert_eq!(core.payload.len(), core.uncompressed_size as usize);
        let _ = core.prefix();
        let _ = core.config();
        let _ = core.module_names();
    }
});
