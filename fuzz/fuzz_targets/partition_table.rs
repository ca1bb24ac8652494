//! Arbitrary bytes as a disk image: partition tables (MBR, EBR chains,
//! GPT and its backup), boot code, filesystem probes, config discovery.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    boot_config::fuzzing::partition_table(data);
});
