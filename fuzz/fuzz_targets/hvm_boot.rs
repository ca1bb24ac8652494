//! Arbitrary 512-byte MBRs through the whole HVM path (firmware, BIOS
//! services, IDE controller, interpreter) for at most 100,000 instructions.
//! Must never panic; every run ends with a reported end state.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let r = boot::hvm::fuzz::boot(data);
    assert!(r.counters.instructions <= boot::hvm::fuzz::MAX_INSTRUCTIONS);
});
