//! `disk_image::grub2_core::parse_core` (what `inspect` follows into core.img) on hostile bytes: the committed
//! fuzz/corpus/grub2_core replays (the `grub2_core` fuzz target's inputs),
//! the fixture's core.img parses to its prefix, and property tests mutate
//! it and feed arbitrary bytes: always a result or a named error, never a
//! panic, and a parsed payload is exactly `uncompressed_size` bytes.

use std::path::{Path, PathBuf};

use disk_image::grub2_core::parse_core;
use proptest::prelude::*;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/grub2_core")
}

fn seed() -> Vec<u8> {
    std::fs::read(corpus().join("hvm-grub2-core.bin")).expect("seed core.img")
}

#[test]
fn corpus_replays_without_panics() {
    let mut n = 0;
    for entry in std::fs::read_dir(corpus()).expect("fuzz/corpus/grub2_core exists") {
        let path = entry.expect("dir entry").path();
        let data = std::fs::read(&path).expect("corpus file");
        if let Ok(core) = parse_core(&data) {
            assert_eq!(core.payload.len(), core.uncompressed_size as usize, "{}", path.display());
        }
        n += 1;
    }
    assert!(n >= 5, "seed corpus present ({n} files)");
}

#[test]
fn the_fixture_core_parses_and_the_broken_seeds_fail_with_a_named_field() {
    let core = parse_core(&seed()).expect("the fixture's core.img parses");
    assert!(core.prefix().is_some_and(|p| p.ends_with("/boot/grub")), "{:?}", core.prefix());
    let err = |name: &str| parse_core(&std::fs::read(corpus().join(name)).expect(name)).unwrap_err().to_string();
    assert!(err("short-header.bin").contains("boot_dev"));
    assert!(err("huge-uncompressed.bin").contains("uncompressed_size"));
    assert!(parse_core(&std::fs::read(corpus().join("truncated-payload.bin")).unwrap()).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(core) = parse_core(&data) {
            prop_assert_eq!(core.payload.len(), core.uncompressed_size as usize);
        }
    }

    #[test]
    fn mutated_fixture_core_never_panics(flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16),
                                         cut in any::<prop::sample::Index>()) {
        let mut data = seed();
        for (at, x) in flips {
            let i = at.index(data.len());
            data[i] ^= x;
        }
        let len = cut.index(data.len() + 1);
        if let Ok(core) = parse_core(&data[..len]) {
            prop_assert_eq!(core.payload.len(), core.uncompressed_size as usize);
            let _ = (core.prefix(), core.config(), core.module_names());
        }
    }
}
