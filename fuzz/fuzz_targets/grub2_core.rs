//! Arbitrary bytes as GRUB 2's core.img as loaded at 0x8200 (startup_raw
//! header, LZMA payload, grub_module_info and its objects): parsed by
//! `boot::hvm::grub2::parse_core`. Must never panic and never allocate more
//! than the model's `MAX_UNCOMPRESSED`. The committed corpus is replayed by
//! `crates/boot/tests/grub2_core.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(core) = boot::hvm::grub2::parse_core(data) {
        assert_eq!(core.payload.len(), core.uncompressed_size as usize);
        let _ = core.prefix();
        let _ = core.config();
        let _ = core.module_names();
    }
});
