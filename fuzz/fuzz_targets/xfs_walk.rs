//! Arbitrary bytes as an XFS volume: superblock, inodes, forks, bmap
//! btrees, every directory format and symlink, walked as `fs_walk` walks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    disk_image::fuzzing::xfs_walk(data);
});
