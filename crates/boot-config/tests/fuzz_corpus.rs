//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) through the
//! same entry points the fuzz targets call, so every input that once found
//! a bug stays a regression test under plain `cargo test`. These are the
//! targets that reach boot configs (the inspect report); the disk-only ones
//! replay in `crates/disk-image/tests/fuzz_corpus.rs`.

use boot_sim_fixtures::replay_fuzz_corpus;

#[test]
fn partition_table_corpus_replays() {
    replay_fuzz_corpus("partition_table", boot_config::fuzzing::partition_table);
}

#[test]
fn lvm_metadata_corpus_replays() {
    replay_fuzz_corpus("lvm_metadata", boot_config::fuzzing::lvm_metadata);
}
