//! Arbitrary bytes as what the SYSLINUX model reads from a disk (the first
//! sector of ldlinux.sys, ldlinux.sys with its patch area, extlinux.conf as
//! ldlinux.c32 and menu.c32 read it), through
//! `boot::hvm::syslinux::fuzzing::config`. Must never panic. The committed
//! corpus is replayed by `crates/boot/tests/syslinux_config.rs`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| boot::hvm::syslinux::fuzzing::config(data));
