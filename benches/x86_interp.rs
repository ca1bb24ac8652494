//! Interpreter speed (issue 17 asks for ≥ 200 million instructions per
//! second, issue 6 asked for 50 million): a tight real-mode loop and a
//! `rep movsd` copy (each run on a new `Cpu`), reported as
//! instructions per second (each REP iteration counts as one instruction,
//! as `x86::Counters::instructions` does) and, for the copy, bytes per
//! second. Run: `cargo bench --bench x86_interp`.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use x86::{Cpu, Exit, RamBus};

/// 16-bit real mode:
/// ```text
/// 7C00  66 B9 40 42 0F 00   mov ecx, 1_000_000
/// 7C06  40                l: inc ax
/// 7C07  01 C3                add bx, ax
/// 7C09  31 DA                xor dx, bx
/// 7C0B  66 49                dec ecx
/// 7C0D  75 F7                jnz l
/// 7C0F  F4                   hlt
/// ```
const LOOP: [u8; 16] = [0x66, 0xB9, 0x40, 0x42, 0x0F, 0x00, 0x40, 0x01, 0xC3, 0x31, 0xDA, 0x66, 0x49, 0x75, 0xF7, 0xF4];
const LOOP_ITERATIONS: u64 = 1_000_000;
const LOOP_INSTRUCTIONS: u64 = 1 + 5 * LOOP_ITERATIONS + 1;

/// 16-bit real mode, 64 KiB copy 1000:0000 -> 2000:0000:
/// ```text
/// 7C00  B8 00 10         mov ax, 0x1000
/// 7C03  8E D8            mov ds, ax
/// 7C05  B8 00 20         mov ax, 0x2000
/// 7C08  8E C0            mov es, ax
/// 7C0A  31 F6            xor si, si
/// 7C0C  31 FF            xor di, di
/// 7C0E  B9 00 40         mov cx, 0x4000
/// 7C11  FC               cld
/// 7C12  66 F3 A5         rep movsd
/// 7C15  F4               hlt
/// ```
const COPY: [u8; 22] = [
    0xB8, 0x00, 0x10, 0x8E, 0xD8, 0xB8, 0x00, 0x20, 0x8E, 0xC0, 0x31, 0xF6, 0x31, 0xFF, 0xB9, 0x00, 0x40, 0xFC, 0x66,
    0xF3, 0xA5, 0xF4,
];
const COPY_DWORDS: u64 = 0x4000;
const COPY_INSTRUCTIONS: u64 = 9 + COPY_DWORDS;

fn run_program(bus: &mut RamBus, expect: u64) {
    let mut cpu = Cpu::new(0, 0x7C00);
    let exit = cpu.run(bus, u64::MAX);
    assert_eq!(exit, Ok(Exit::Halt));
    assert_eq!(cpu.counters.instructions, expect);
    black_box(cpu.regs.gpr);
}

fn bench(c: &mut Criterion) {
    let mut bus = RamBus::new(1 << 20);
    bus.load(0x7C00, &LOOP);
    let mut g = c.benchmark_group("x86_interp");
    g.throughput(Throughput::Elements(LOOP_INSTRUCTIONS));
    g.bench_function("real_mode_loop/instructions", |b| b.iter(|| run_program(&mut bus, LOOP_INSTRUCTIONS)));

    let mut bus = RamBus::new(1 << 20);
    bus.load(0x7C00, &COPY);
    for (k, b) in bus.ram[0x10000..0x20000].iter_mut().enumerate() {
        *b = k as u8;
    }
    g.throughput(Throughput::Elements(COPY_INSTRUCTIONS));
    g.bench_function("rep_movsd_64k/instructions", |b| b.iter(|| run_program(&mut bus, COPY_INSTRUCTIONS)));
    g.throughput(Throughput::Bytes(COPY_DWORDS * 4));
    g.bench_function("rep_movsd_64k/bytes", |b| b.iter(|| run_program(&mut bus, COPY_INSTRUCTIONS)));
    assert_eq!(bus.ram[0x10000..0x20000], bus.ram[0x20000..0x30000]);
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
