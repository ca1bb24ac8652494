//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) through the
//! same entry points the fuzz targets call, so every input that once found
//! a bug stays a regression test under plain `cargo test`.

use boot_sim_fixtures::{fuzz_corpus as corpus, replay_fuzz_corpus};

#[test]
fn fs_walk_corpus_replays() {
    replay_fuzz_corpus("fs_walk", disk_image::fuzzing::fs_walk);
}

#[test]
fn sector_owners_corpus_replays() {
    replay_fuzz_corpus("sector_owners", disk_image::fuzzing::sector_owners);
}

#[test]
fn xfs_walk_corpus_replays() {
    replay_fuzz_corpus("xfs_walk", disk_image::fuzzing::xfs_walk);
}

#[test]
fn btrfs_walk_corpus_replays() {
    replay_fuzz_corpus("btrfs_walk", disk_image::fuzzing::btrfs_walk);
}

/// The `mkfs-*` seeds of btrfs_walk are whole filesystems made by
/// mkfs.btrfs (fuzz/seed-corpus.sh): they open, and GRUB 2's path to the
/// config in subvolume `@` reads, so the fuzzer starts deep in the reader.
#[test]
fn btrfs_walk_seeds_are_filesystems() {
    use disk_image::fs::Filesystem;
    let seeds: Vec<_> = corpus("btrfs_walk")
        .into_iter()
        .filter(|(p, _)| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("mkfs-")))
        .collect();
    assert!(!seeds.is_empty(), "no mkfs-* seed in fuzz/corpus/btrfs_walk");
    for (path, data) in seeds {
        let fs = disk_image::fuzzing::btrfs_open(&data).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let cfg = fs.read_file("/@/boot/grub/grub.cfg", 4096).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(cfg.starts_with(b"set default=0"), "{}", path.display());
        assert!(!fs.list_dir("/@/big").unwrap().is_empty());
        let under_a_file = fs.stat("/@/boot/grub/grub.cfg/x").unwrap_err();
        assert!(
            matches!(under_a_file, disk_image::DiskError::Path { kind: disk_image::PathErrorKind::NotADirectory, .. }),
            "{under_a_file}"
        );
        assert_eq!(fs.read_link("/@/boot/grub/menu.lst").unwrap(), "grub.cfg");
    }
}
