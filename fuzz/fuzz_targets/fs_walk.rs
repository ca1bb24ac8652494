//! Arbitrary bytes as a filesystem: every directory listed, every file and
//! symlink read and resolved the way boot loaders resolve paths.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    disk_image::fuzzing::fs_walk(data);
});
