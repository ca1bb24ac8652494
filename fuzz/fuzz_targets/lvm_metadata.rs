//! Arbitrary bytes as LVM2 text metadata, in the metadata areas of two PVs
//! on one disk: parsed, read as a VG, its LVs mapped and read.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    boot_config::fuzzing::lvm_metadata(data);
});
