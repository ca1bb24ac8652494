//! Replays fuzz/corpus/x86_exec (seed programs and any `regress-*.bin`
//! crash inputs) through the fuzz target's own harness, `x86::fuzz::exec`.

use std::path::Path;

#[test]
fn corpus_replays_without_panics() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/x86_exec");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).expect("fuzz/corpus/x86_exec exists") {
        let path = entry.expect("dir entry").path();
        let data = std::fs::read(&path).expect("corpus file");
        let (cpu, _) = x86::fuzz::exec(&data);
        assert!(cpu.counters.instructions <= x86::fuzz::MAX_INSTRUCTIONS + 1, "{}", path.display());
        n += 1;
    }
    assert!(n >= 9, "seed corpus present ({n} files)");
}

#[test]
fn seed_programs_reach_their_expected_end() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/x86_exec");
    let (cpu, r) = x86::fuzz::exec(&std::fs::read(dir.join("triple.bin")).expect("triple.bin"));
    assert_eq!(r, Ok(x86::Exit::Shutdown { vector: 13 }));
    assert!(cpu.counters.instructions < 10);
    let (_, r) = x86::fuzz::exec(&std::fs::read(dir.join("jmp-self.bin")).expect("jmp-self.bin"));
    assert_eq!(r, Ok(x86::Exit::InstructionLimit));
}
