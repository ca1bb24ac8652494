//! Interpreter speed (issue 17 asks for ≥ 200 million instructions per
//! second on a tight loop and on real loader code, issue 6 asked for 50
//! million): a tight real-mode loop, a `rep movsd` copy, and GRUB 2's own
//! core.img start-up (Reed-Solomon check and LZMA decompression of
//! kernel.img) as `grub-install` embedded it, each run on a new `Cpu`,
//! reported as instructions per second (each REP iteration counts as one
//! instruction, as `x86::Counters::instructions` does) and, for the copy,
//! bytes per second. Run: `cargo bench --bench x86_interp`.

use std::hint::black_box;

use boot_sim::loaders::{Grub2Layout, Grub2Version, grub2_disk};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use x86::{Cpu, Exit, RamBus, Registers};

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

/// Where diskboot.img loads core.img and where it jumps: 0000:8200, the
/// start of lzma_decompress.img (GRUB 2 `include/grub/i386/pc/boot.h`
/// GRUB_BOOT_MACHINE_KERNEL_ADDR 0x8000 plus diskboot's own sector).
const CORE_LOAD: u32 = 0x8000;
const CORE_START: u16 = 0x8200;
/// Where startup_raw.S decompresses kernel.img and then jumps
/// (GRUB_MEMORY_MACHINE_DECOMPRESSION_ADDR, `include/grub/i386/pc/memory.h`);
/// kernel.img's own start-up code moves it to its link address from there.
const KERNEL_IMG: u32 = 0x10_0000;
/// An `iret` every interrupt vector points at: the one BIOS call on this
/// path is startup_raw.S's `int $0x13` disk reset, whose result it ignores.
const IRET_AT: u32 = 0xF_FF00;

/// The core.img `grub-install` (GRUB `version`) embedded after the MBR of
/// an ext4 disk, read back the way diskboot.img loads it: its first
/// sector, then the sectors its first block list names (start LBA at
/// 0x1F4, count at 0x1FC: GRUB 2 `boot/i386/pc/diskboot.S`
/// `blocklist_default_start`/`_len`; the MBR gap holds one run).
fn embedded_core_img(version: Grub2Version) -> Option<Vec<u8>> {
    let dir = std::env::temp_dir().join(format!("boot-sim-bench-x86-core-{}-{version:?}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch directory");
    let built = grub2_disk(&dir, version, Grub2Layout::MbrExt4, "bench");
    let disk = built.map(|b| std::fs::read(&b.img).expect("image"));
    let _ = std::fs::remove_dir_all(&dir);
    let disk = disk?;
    let diskboot = &disk[512..1024];
    let start = u64::from_le_bytes(diskboot[0x1F4..0x1FC].try_into().unwrap()) as usize;
    let count = usize::from(u16::from_le_bytes([diskboot[0x1FC], diskboot[0x1FD]]));
    let mut core = diskboot.to_vec();
    core.extend_from_slice(&disk[start * 512..(start + count) * 512]);
    Some(core)
}

/// Runs GRUB 2's lzma_decompress.img from 0000:8200 (DL = 0x80, the stack
/// boot.img set up at 0000:2000) until it jumps to the decompressed
/// kernel.img at 1 MiB; returns the instructions executed and how many of
/// them were dispatched one at a time.
fn run_core_img(core: &[u8]) -> (u64, u64) {
    let mut ram = RamBus::new(16 << 20);
    let offset = ((IRET_AT - 0xF_0000) as u16).to_le_bytes();
    for v in 0..256 {
        ram.load(v * 4, &[offset[0], offset[1], 0x00, 0xF0]);
    }
    ram.load(IRET_AT, &[0xCF]);
    ram.load(CORE_LOAD, core);
    ram.stop_at = Some(KERNEL_IMG);
    let mut bus = ram;
    let mut regs = Registers::real_mode(0, CORE_START);
    regs.gpr[2] = 0x80;
    regs.gpr[4] = 0x2000;
    let mut cpu = Cpu::with_registers(regs);
    let exit = cpu.run(&mut bus, 1 << 32);
    assert_eq!(
        exit,
        Ok(Exit::NewCode),
        "core.img did not reach kernel.img at {KERNEL_IMG:#x}: stopped at {:?} after {} instructions",
        cpu.location(),
        cpu.counters.instructions
    );
    black_box(&bus.ram[KERNEL_IMG as usize..KERNEL_IMG as usize + 16]);
    (cpu.counters.instructions, cpu.counters.stepped)
}

fn grub2_core(c: &mut Criterion) {
    let mut g = c.benchmark_group("x86_interp");
    for (name, version) in [("2.06", Grub2Version::V2_06), ("2.12", Grub2Version::V2_12)] {
        let Some(core) = embedded_core_img(version) else {
            eprintln!("x86_interp: GRUB {name} core.img skipped (no GRUB {name} files or image tools; root needed)");
            continue;
        };
        let (n, stepped) = run_core_img(&core);
        eprintln!(
            "x86_interp: GRUB {name} core.img ({} bytes): {n} instructions to kernel.img, {stepped} of them one at a time",
            core.len()
        );
        g.throughput(Throughput::Elements(n));
        g.bench_function(format!("grub{name}_core_img_lzma/instructions"), |b| {
            b.iter(|| assert_eq!(run_core_img(&core).0, n))
        });
    }
    g.finish();
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
    // Checked once before timing, so a filtered run (only one of the
    // benches) checks it too.
    run_program(&mut bus, COPY_INSTRUCTIONS);
    assert!(bus.ram[0x10000..0x20000] == bus.ram[0x20000..0x30000], "rep movsd copied wrongly");
    g.throughput(Throughput::Elements(COPY_INSTRUCTIONS));
    g.bench_function("rep_movsd_64k/instructions", |b| b.iter(|| run_program(&mut bus, COPY_INSTRUCTIONS)));
    g.throughput(Throughput::Bytes(COPY_DWORDS * 4));
    g.bench_function("rep_movsd_64k/bytes", |b| b.iter(|| run_program(&mut bus, COPY_INSTRUCTIONS)));
    g.finish();
}

criterion_group!(benches, bench, grub2_core);
criterion_main!(benches);
