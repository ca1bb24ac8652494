//! HVM path speed: instructions per second for a whole fixture boot
//! (firmware + test MBR + stage 2 + VBR), and host time per IDE port exit
//! (the IDE state machine + bus dispatch + exit accounting) for a PIO
//! sector read as SeaBIOS's ata.c issues it.

use std::hint::black_box;
use std::sync::Arc;

use boot::devices::ide::{Chs, IdeController, reg};
use boot::hvm::{AtaConfig, HvmOptions, run};
use boot_sim::fixture;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use disk_image::{MemImage, RawImage, ReadAt};

fn whole_boot(c: &mut Criterion) {
    let img: Arc<dyn ReadAt> = Arc::new(RawImage::open(fixture("images/hvm-test.img")).unwrap());
    let opts = HvmOptions { memory: 64 << 20, keys: "y".into(), ..HvmOptions::default() };
    let n = run(img.clone(), &opts).counters.instructions;
    let mut g = c.benchmark_group("hvm_boot");
    g.throughput(Throughput::Elements(n));
    g.bench_function("hvm-test.img whole boot (instructions)", |b| b.iter(|| black_box(run(img.clone(), &opts))));
    let pio = HvmOptions { ata: AtaConfig::QEMU, ..opts.clone() };
    g.bench_function("hvm-test.img whole boot, PIO", |b| b.iter(|| black_box(run(img.clone(), &pio))));
    g.finish();
}

/// One PIO READ SECTORS of one sector as SeaBIOS issues it: 12 + 3 = 15
/// register accesses (ata.c ata_pio_cmd_data), measured on the controller
/// behind the bus's dispatch.
fn ide_exit(c: &mut Criterion) {
    use x86::{AccessSize, Bus};
    let disk: Arc<dyn ReadAt> = Arc::new(MemImage::new(vec![0x5Au8; 64 * 512], "bench.img"));
    let ide = IdeController::new(disk, Chs { cylinders: 2, heads: 16, sectors: 63 });
    let mem = boot::machine::GuestMemory::new(1 << 20).unwrap();
    let cost = boot::machine::CostModel::default();
    let mut bus = boot::hvm::bus::HvmBus::new(mem, ide, cost, boot::hvm::trace::HvmTrace::new(Default::default()));
    let mut sector = [0u8; 512];
    let mut g = c.benchmark_group("hvm_ide");
    g.throughput(Throughput::Elements(15));
    g.bench_function("PIO sector read, per 15 port exits", |b| {
        b.iter(|| {
            bus.port_out(reg::CTRL, AccessSize::Byte, 0x0A);
            black_box(bus.port_in(reg::STATUS_CMD, AccessSize::Byte));
            black_box(bus.port_in(reg::DEVICE, AccessSize::Byte));
            bus.port_out(reg::DEVICE, AccessSize::Byte, 0xE0);
            for p in [reg::ERR_FEATURE, reg::SECTOR_COUNT, reg::LBA_LOW, reg::LBA_MID, reg::LBA_HIGH] {
                bus.port_out(p, AccessSize::Byte, if p == reg::SECTOR_COUNT { 1 } else { 0 });
            }
            bus.port_out(reg::STATUS_CMD, AccessSize::Byte, u32::from(reg::CMD_READ_SECTORS));
            black_box(bus.port_in(reg::STATUS_CMD, AccessSize::Byte));
            bus.port_in_string(reg::DATA, AccessSize::Dword, &mut sector);
            black_box(bus.port_in(reg::CTRL, AccessSize::Byte));
            black_box(bus.port_in(reg::STATUS_CMD, AccessSize::Byte));
            bus.port_out(reg::CTRL, AccessSize::Byte, 0x08);
            black_box(&sector);
        })
    });
    g.finish();
}

criterion_group!(benches, whole_boot, ide_exit);
criterion_main!(benches);
