//! Arbitrary bytes as EC2 user-data: gzip, MIME, YAML and the classifier
//! as cloud-init 22.4.2 reads them, then the verdict on a Debian image.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    ami::fuzzing::userdata(data);
});
