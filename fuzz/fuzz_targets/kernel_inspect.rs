//! Fuzzes the whole kernel inspector: setup header, payload codecs (with a
//! 64 MiB output cap so bombs stay cheap), ELF, Xen notes and verdicts.
#![no_main]

use kernel_image::{InspectOptions, inspect};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let opts = InspectOptions { max_decompressed: 64 << 20, ..InspectOptions::default() };
    let _ = inspect(data, &opts);
});
