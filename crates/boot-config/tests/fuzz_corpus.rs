//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) through the
//! same entry points the fuzz targets call, so every input that once found
//! a bug stays a regression test under plain `cargo test`. These are the
//! targets that reach boot configs (the inspect report); the disk-only ones
//! replay in `crates/disk-image/tests/fuzz_corpus.rs`.

use std::path::PathBuf;

fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("corpus {}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "corpus {} is empty", dir.display());
    files.into_iter().map(|p| (p.clone(), std::fs::read(&p).expect("read corpus file"))).collect()
}

#[test]
fn partition_table_corpus_replays() {
    for (path, data) in corpus("partition_table") {
        eprintln!("replaying {}", path.display());
        boot_config::fuzzing::partition_table(&data);
    }
}

#[test]
fn lvm_metadata_corpus_replays() {
    for (path, data) in corpus("lvm_metadata") {
        eprintln!("replaying {}", path.display());
        boot_config::fuzzing::lvm_metadata(&data);
    }
}
