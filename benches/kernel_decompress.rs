//! Decompression throughput of bzImage payloads (output bytes per second):
//! the real Debian cloud kernel's payload when `scripts/interop-kernel.sh`
//! has fetched it (skipped with a message otherwise), plus every fixture
//! codec. Each iteration decompresses into a reused, preallocated buffer
//! through `kernel_image::decompress_into` — the path the PV domain builder
//! uses to write straight into guest memory.

use std::hint::black_box;

use boot_sim::{fixture, interop_dir};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kernel_image::{Codec, SetupHeader, codec, decompress_into};

/// The payload bytes, codec and declared size of a bzImage file.
fn payload_of(bytes: &[u8]) -> (Vec<u8>, Codec, usize) {
    let h = SetupHeader::parse(bytes).expect("setup header");
    let loc = h.payload_location(bytes.len() as u64).expect("payload").expect("protocol 2.08+");
    let p = bytes[loc.offset as usize..(loc.offset + loc.length) as usize].to_vec();
    let c = Codec::detect(&p).expect("codec");
    let n = codec::declared_size(c, &p).expect("size trailer") as usize;
    (p, c, n)
}

fn bench_one(c: &mut Criterion, name: &str, bytes: &[u8]) {
    let (payload, codec, size) = payload_of(bytes);
    let mut out = vec![0u8; size];
    let mut g = c.benchmark_group("kernel_decompress");
    g.throughput(Throughput::Bytes(size as u64));
    if size > 1 << 20 {
        g.sample_size(20);
    }
    g.bench_function(format!("{name}/{codec:?}"), |b| {
        b.iter(|| decompress_into(codec, black_box(&payload), &mut out).expect("decompress"))
    });
    g.finish();
}

fn debian(c: &mut Criterion) {
    let dir = interop_dir().join("root/boot");
    let kernel = std::fs::read_dir(&dir).ok().and_then(|rd| {
        rd.filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("vmlinuz-")))
            .max()
    });
    match kernel {
        Some(path) => {
            let bytes = std::fs::read(&path).expect("read kernel");
            bench_one(c, "debian", &bytes);
        }
        None => eprintln!(
            "kernel_decompress: no Debian kernel under {}; run `bash scripts/interop-kernel.sh` to bench it",
            dir.display()
        ),
    }
}

fn fixtures(c: &mut Criterion) {
    for name in ["gzip", "bzip2", "xz", "lzma", "lzo", "lz4", "zstd"] {
        let bytes = std::fs::read(fixture(&format!("kernels/bzimage-{name}.bin"))).expect("fixture");
        bench_one(c, "fixture", &bytes);
    }
}

criterion_group!(benches, debian, fixtures);
criterion_main!(benches);
