//! Arbitrary bytes as GRUB legacy menus (GRUB's and pygrub's readings) and
//! extlinux configs, with entry selection.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    boot_config::fuzzing::menu_legacy(data);
});
