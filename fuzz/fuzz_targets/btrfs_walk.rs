//! Arbitrary bytes as patches over a zeroed image opened as btrfs (see
//! `disk_image::fuzzing::btrfs_walk`): every directory listed, every file
//! read, from the top level and from the default subvolume; and the bytes
//! through the btrfs parsers (tree block, chunk items, file extent item,
//! zlib/lzo/zstd) directly.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    disk_image::fuzzing::btrfs_walk(data);
});
