//! Arbitrary bytes as a disk a boot loader read: every read split among
//! the files, filesystems and boot areas it touched.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    disk_image::fuzzing::sector_owners(data);
});
