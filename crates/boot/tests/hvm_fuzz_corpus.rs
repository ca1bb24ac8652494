//! Replays fuzz/corpus/hvm_boot (our own bad-* and test boot sectors and any
//! regression inputs a fuzz run adds) through the `hvm_boot` fuzz target's
//! own harness, `boot::hvm::fuzz::boot`: every input ends in a reported end
//! state within the instruction cap, never a panic.

use std::path::Path;

use boot::hvm::EndState;

fn corpus() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/hvm_boot")
}

#[test]
fn corpus_replays_without_panics() {
    let mut n = 0;
    for entry in std::fs::read_dir(corpus()).expect("fuzz/corpus/hvm_boot exists") {
        let path = entry.expect("dir entry").path();
        let data = std::fs::read(&path).expect("corpus file");
        let r = boot::hvm::fuzz::boot(&data);
        assert!(r.counters.instructions <= boot::hvm::fuzz::MAX_INSTRUCTIONS, "{}", path.display());
        assert!(!r.reason.is_empty(), "{}", path.display());
        n += 1;
    }
    assert!(n >= 6, "seed corpus present ({n} files)");
}

#[test]
fn seeds_reach_their_expected_end() {
    let end = |name: &str| boot::hvm::fuzz::boot(&std::fs::read(corpus().join(name)).expect(name)).end;
    assert!(matches!(end("bad-loop.bin"), EndState::Spinning { .. }));
    assert!(matches!(end("bad-triple.bin"), EndState::TripleFault { .. }));
    assert!(matches!(end("no-signature.bin"), EndState::NoBootableDevice { .. }));
    // simboot's MBR (hvm-simboot.img's sector 0): the harness's LBA 1.. is
    // a byte pattern, not stage 2, and simboot says so.
    let r = boot::hvm::fuzz::boot(&std::fs::read(corpus().join("simboot-mbr.bin")).unwrap());
    assert!(matches!(r.end, EndState::Halted { .. }), "{:?}", r.end);
    assert!(r.console.contains("simboot: stage 2 magic missing"), "{}", r.console);
}
