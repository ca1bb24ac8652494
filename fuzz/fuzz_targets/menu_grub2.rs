//! Arbitrary bytes as a GRUB 2 config (lexer, parser, evaluator, default
//! resolution, BOOT_IMAGE command line), as a grubenv block and as a BLS
//! snippet. The committed corpus is replayed by
//! `crates/boot-config/tests/menu_grub2.rs`.
#![no_main]

use boot_config::{bls, grub2, grubenv};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let menu = grub2::parse(data);
    for e in &menu.entries {
        let _ = grub2::boot_cmdline(e);
    }
    let _ = grub2::default_entry(&menu);
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = grub2::resolve_default(&menu, text);
    }
    let _ = grubenv::parse(data);
    let _ = bls::parse_entry("fuzz", data);
});
