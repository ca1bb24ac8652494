//! Arbitrary bytes as real-mode code: at most 10,000 instructions in a
//! 1 MiB machine must end in an `Exit` or an `Error`, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = x86::fuzz::exec(data);
});
