//! Fuzzes blkback over an arbitrary shared ring page: indices, event
//! indices and 32 request slots from the input (byte 0 selects grant
//! copy / persistent grants / indirect descriptors). See
//! `boot::devices::xen::fuzzing::blkif_ring` for the invariants checked.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    boot::devices::xen::fuzzing::blkif_ring(data);
});
