//! PV-on-HVM: the HVM boot to the Linux entry, then, on the same machine,
//! what the guest's PV drivers do first (Linux `arch/x86/xen/
//! platform-pci-unplug.c`, `drivers/xen/platform-pci.c`, xenbus,
//! xen-blkfront): find the Xen platform PCI device, check its magic and
//! protocol version, unplug the emulated IDE disk, set up xenbus with HVM
//! hypercalls, connect blkfront through xenstore, and read the root
//! filesystem over the blkif ring (boot-paths.md §4.3–4.4).
//!
//! The switch reuses the bench's driver sequence ([`crate::bench`]), and
//! the post-switch reads are the bench's `boot` workload
//! ([`Workload::boot_read`]) run live: the filesystem code reads through
//! blkfront, each page-cache miss a ring request with its grants and
//! notifies. [`run_hvm_then_read`] runs the same reads over the emulated
//! IDE controller of the booted HVM machine instead. One timeline: the port exits are charged to
//! the HVM bus's clock, the ring's [`Sim`] starts where that clock stands,
//! and the bus's clock is moved to where the ring's ends. The ring's pages
//! live in the HVM guest's own memory, above the kernel the loader loaded.

use std::sync::Arc;

use disk_image::ReadAt;
use serde::Serialize;

use super::vm::{Hvm, boot_machine};
use super::{EndState, HvmOptions, HvmReport};
use crate::bench::{self, BenchError, IoPath, PathResult, PlatformProbe, PortExits, PvSetup, Workload, live};
use crate::devices::xen::{PvIo, PvIoConfig};
use crate::machine::{GuestMemory, GuestPhysAddr, PAGE_SIZE, Sim};

/// Inputs of a PVHVM run.
#[derive(Clone, Debug)]
pub struct PvhvmOptions {
    /// The HVM part, exactly as `run --mode hvm` takes it.
    pub hvm: HvmOptions,
    /// File data the post-switch `boot` workload reads at most
    /// (`--read-mib`).
    pub read_bytes: u64,
    /// The PV drivers: Linux xen-blkfront/xen-blkback by default.
    pub pv: PvSetup,
}

impl Default for PvhvmOptions {
    fn default() -> Self {
        PvhvmOptions { hvm: HvmOptions::default(), read_bytes: 16 << 20, pv: PvSetup::linux() }
    }
}

/// The one-time switch from emulated to PV devices.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PvhvmSwitch {
    pub platform: PlatformProbe,
    /// Simulated time at the kernel entry, when the switch starts, ns.
    pub start_ns: u64,
    /// Port exits the switch made (PCI configuration, ports 0x10/0x12).
    pub port_exits: u64,
    pub exit_cost_ns: u64,
    pub exits_by_port: Vec<PortExits>,
    /// HVM hypercalls (shared info, callback vector, xenstore parameters,
    /// grant-table frames).
    pub hypercalls: u64,
    pub hypercall_ns: u64,
    /// Port exits + hypercalls, ns.
    pub sim_ns: u64,
    /// Whether the IDE model detached its disk on the unplug write.
    pub ide_unplugged: bool,
    /// Connecting the vbd through xenstore (blkfront ↔ blkback to
    /// Connected), ns; after the switch, before the workload.
    pub connect_ns: u64,
    /// Guest-physical address of blkfront's ring and buffers.
    pub scratch: u64,
    pub scratch_bytes: u64,
}

/// The post-switch part.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PvhvmRun {
    pub switch: PvhvmSwitch,
    /// The `boot` workload over the ring (`switch_ns` is 0 here: the
    /// switch is reported above).
    pub io: PathResult,
    /// Port exits to the IDE controller (task file, control, bus master)
    /// after the switch started: the PV path makes none.
    pub ide_exits_after_switch: u64,
    /// Simulated time at the end of the workload, ns.
    pub end_ns: u64,
}

/// Everything a PVHVM run produced.
#[derive(Debug, Serialize)]
pub struct PvhvmReport {
    /// The HVM boot, up to the kernel entry (what `run --mode hvm` shows).
    pub hvm: HvmReport,
    /// `Ok` when the switch and the workload completed; `Err` says why
    /// not (no kernel entry, no platform device, a ring failure).
    pub pv: Result<PvhvmRun, PvhvmError>,
}

/// Why the work after the HVM boot's kernel entry (the PV-on-HVM switch, or
/// the root filesystem reads over emulated IDE) did not run or did not
/// finish. Reports carry it as their `reason`/`error` text: it serializes as
/// its message.
#[derive(Debug, thiserror::Error)]
pub enum PvhvmError {
    /// The HVM machine could not be built (guest memory size, an image
    /// smaller than one sector): the message names the option or the image.
    #[error("{0}")]
    Setup(String),
    /// The switch needs a running kernel: the PV drivers are Linux's
    /// (`arch/x86/xen/platform-pci-unplug.c`, xen-blkfront).
    #[error(
        "PVHVM needs the HVM boot to reach the Linux kernel entry (the PV drivers are the kernel's); it ended: {ended}"
    )]
    NoKernelForSwitch {
        /// The HVM boot's end, as its report states it.
        ended: String,
    },
    /// The reads after the entry need the kernel that makes them.
    #[error("the HVM boot did not reach the kernel entry: {ended}")]
    NoKernelForReads {
        /// The HVM boot's end, as its report states it.
        ended: String,
    },
    /// The switch or the workload failed (platform device, guest memory,
    /// the ring, the IDE driver, a read that returned other bytes).
    #[error(transparent)]
    Io(#[from] BenchError),
}

impl Serialize for PvhvmError {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// Boots `image` as HVM and, at the kernel entry, switches to the PV
/// drivers and reads the root filesystem over the ring. The image is
/// opened read-only; never written.
pub fn run(image: Arc<dyn ReadAt>, opts: &PvhvmOptions) -> PvhvmReport {
    let name = image.describe();
    let (mut hvm, end) = match boot_machine(image.clone(), &opts.hvm) {
        Ok(m) => m,
        Err(message) => {
            let hvm = super::run(image, &opts.hvm);
            return PvhvmReport { pv: Err(PvhvmError::Setup(message)), hvm };
        }
    };
    let report = hvm.report(name, end.clone());
    let pv = match &end {
        EndState::KernelEntry { info, .. } => {
            let kernel_end = u64::from(info.kernel_load) + u64::from(info.kernel_size);
            let initrd = info.initrd_addr.zip(info.initrd_size).map(|(a, l)| (u64::from(a), u64::from(l)));
            switch_and_read(&mut hvm, image, opts, kernel_end, initrd).map_err(PvhvmError::from)
        }
        _ => Err(PvhvmError::NoKernelForSwitch { ended: report.reason.clone() }),
    };
    PvhvmReport { hvm: report, pv }
}

/// The HVM boot of `image` and then, on the machine that booted and on
/// its clock, the `boot` workload (`opts.read_bytes` of file data) over
/// the emulated IDE controller with bus-master DMA (Linux's ata_piix),
/// the kernel's buffers in free RAM above what the loader loaded. The report is
/// the boot to the kernel entry; the reads are `Err` when the boot did
/// not get there or a read failed.
pub fn run_hvm_then_read(image: Arc<dyn ReadAt>, opts: &PvhvmOptions) -> (HvmReport, Result<PathResult, PvhvmError>) {
    let name = image.describe();
    let (mut hvm, end) = match boot_machine(image.clone(), &opts.hvm) {
        Ok(m) => m,
        Err(message) => return (super::run(image, &opts.hvm), Err(PvhvmError::Setup(message))),
    };
    let report = hvm.report(name, end.clone());
    let reads = match &end {
        EndState::KernelEntry { info, .. } => {
            let kernel_end = u64::from(info.kernel_load) + u64::from(info.kernel_size);
            let initrd = info.initrd_addr.zip(info.initrd_size).map(|(a, l)| (u64::from(a), u64::from(l)));
            ide_reads(hvm, image, opts, kernel_end, initrd).map_err(PvhvmError::from)
        }
        _ => Err(PvhvmError::NoKernelForReads { ended: report.reason.clone() }),
    };
    (report, reads)
}

/// The booted machine as an IDE device's bus.
struct Booted(Box<Hvm>);

impl std::borrow::Borrow<super::bus::HvmBus> for Booted {
    fn borrow(&self) -> &super::bus::HvmBus {
        &self.0.bus
    }
}

impl std::borrow::BorrowMut<super::bus::HvmBus> for Booted {
    fn borrow_mut(&mut self) -> &mut super::bus::HvmBus {
        &mut self.0.bus
    }
}

fn ide_reads(
    hvm: Hvm,
    image: Arc<dyn ReadAt>,
    opts: &PvhvmOptions,
    kernel_end: u64,
    initrd: Option<(u64, u64)>,
) -> Result<PathResult, BenchError> {
    let workload = Workload::boot_read(image.clone(), opts.read_bytes)?;
    let sectors = image.size() / 512;
    let extents = workload.extents(sectors)?;
    let bytes = PAGE_SIZE + bench::MAX_SECTORS_PER_COMMAND * 512;
    let scratch = scratch_region(hvm.bus.mem.size(), kernel_end, initrd, bytes)
        .filter(|s| s + bytes <= 1 << 32)
        .ok_or_else(|| BenchError::Config(format!("no room for a {bytes:#x}-byte IDE buffer in guest memory")))?;
    let ports_before = hvm.bus.ports.clone();
    let (exits0, t0, ide0) = (hvm.bus.total_exits(), hvm.bus.clock.now().0, hvm.bus.ide.stats);
    let dev = live::IdeDevice {
        bus: Booted(Box::new(hvm)),
        dma: true,
        pio32: opts.hvm.ata.pio32,
        buffer: scratch + PAGE_SIZE,
        prd: scratch as u32,
    };
    let (dev, reads) = live::boot_live(dev, sectors, image.describe(), workload.file_budget)?;
    live::same_reads(IoPath::IdeDma.name(), &workload.recorded, workload.digest, &reads?)?;
    let bus = &dev.bus.0.bus;
    let mut r = bench::empty_result(IoPath::IdeDma, &workload, &extents);
    r.effective_queue_depth = 1;
    r.sim_ns = bus.clock.now().0 - t0;
    r.exits = bus.total_exits() - exits0;
    r.exits_by_port = bench::port_exits_since(bus, &ports_before);
    r.exit_cost_ns = r.exits_by_port.iter().map(|p| p.cost_ns).sum();
    r.ata_commands = bus.ide.stats.commands - ide0.commands;
    r.bytes_copied = bus.ide.stats.bytes_dma - ide0.bytes_dma;
    Ok(bench::finish(r))
}

fn is_ide_port(port: u16) -> bool {
    super::IdeController::claims(port)
}

/// Where blkfront's ring and buffers go: the first MiB boundary above the
/// kernel the loader loaded, or below the initrd if that is where they would
/// collide. **Assumption**: Linux allocates them from its page allocator;
/// any free RAM does for the model.
fn scratch_region(mem: u64, kernel_end: u64, initrd: Option<(u64, u64)>, bytes: u64) -> Option<u64> {
    let above_kernel = kernel_end.next_multiple_of(1 << 20);
    let fits = |at: u64| {
        at.checked_add(bytes).is_some_and(|end| end <= mem)
            && initrd.is_none_or(|(a, l)| at.saturating_add(bytes) <= a || at >= a.saturating_add(l))
    };
    if fits(above_kernel) {
        return Some(above_kernel);
    }
    let below_initrd = initrd.and_then(|(a, _)| a.checked_sub(bytes)).map(|a| a & !(PAGE_SIZE - 1))?;
    (below_initrd >= kernel_end && fits(below_initrd)).then_some(below_initrd)
}

/// The switch on `hvm`'s bus, then blkfront in its memory.
pub(crate) fn switch_and_read(
    hvm: &mut Hvm,
    image: Arc<dyn ReadAt>,
    opts: &PvhvmOptions,
    kernel_end: u64,
    initrd: Option<(u64, u64)>,
) -> Result<PvhvmRun, BenchError> {
    let started = switch(hvm, kernel_end, initrd, opts.pv)?;
    read_root(hvm, image, opts, started)
}

/// Platform detection, unplug and hypercalls; returns the partial record
/// and the ring's simulation, started at the bus's time.
fn switch(
    hvm: &mut Hvm,
    kernel_end: u64,
    initrd: Option<(u64, u64)>,
    pv: PvSetup,
) -> Result<(PvhvmSwitch, Sim, Vec<super::PortStat>), BenchError> {
    let bus = &mut hvm.bus;
    let ports_before = bus.ports.clone();
    let exits_before = bus.total_exits();
    let t0 = bus.clock.now();
    let platform = bench::pvhvm_switch(bus)?;
    let t1 = bus.clock.now();
    let exits_by_port: Vec<PortExits> = bench::port_exits_since(bus, &ports_before);
    let mut sim = Sim::with_trace_cap(bus.cost.clone(), 0);
    sim.clock = crate::machine::SimClock::starting_at(t1);
    bench::pvhvm_hypercalls(&mut sim);
    let hypercalls = sim.trace.counters().hypercalls_total();
    let hypercall_ns = sim.now().0 - t1.0;
    let scratch_bytes = pv.front.scratch_pages() * PAGE_SIZE;
    let scratch = scratch_region(bus.mem.size(), kernel_end, initrd, scratch_bytes).ok_or_else(|| {
        BenchError::Config(format!(
            "no room for blkfront's {scratch_bytes:#x} bytes of ring and buffers in guest memory"
        ))
    })?;
    let record = PvhvmSwitch {
        platform,
        start_ns: t0.0,
        port_exits: bus.total_exits() - exits_before,
        exit_cost_ns: exits_by_port.iter().map(|p| p.cost_ns).sum(),
        exits_by_port,
        hypercalls,
        hypercall_ns,
        sim_ns: t1.0 - t0.0 + hypercall_ns,
        ide_unplugged: bus.ide.is_unplugged(),
        connect_ns: 0,
        scratch,
        scratch_bytes,
    };
    Ok((record, sim, ports_before))
}

fn read_root(
    hvm: &mut Hvm,
    image: Arc<dyn ReadAt>,
    opts: &PvhvmOptions,
    (mut switch, sim, ports_before): (PvhvmSwitch, Sim, Vec<super::PortStat>),
) -> Result<PvhvmRun, BenchError> {
    let workload = Workload::boot_read(image.clone(), opts.read_bytes)?;
    let sectors = image.size() / 512;
    let extents = workload.extents(sectors)?;
    // blkfront works in the guest's own memory: lend it to the PV devices
    // and take it back afterwards, whatever happened.
    let memory = std::mem::replace(&mut hvm.bus.mem, GuestMemory::new(PAGE_SIZE)?);
    let config = PvIoConfig {
        scratch: GuestPhysAddr(switch.scratch),
        front: opts.pv.front,
        back: opts.pv.back,
        ..PvIoConfig::default()
    };
    let t_connect = sim.now().0;
    // On failure the memory is gone with the devices: the machine ends
    // here and the error is the run's outcome.
    let pv = PvIo::new(image.clone(), memory, sim, config)?;
    switch.connect_ns = pv.sim().now().0 - t_connect;
    let before = pv.sim().trace.counters().clone();
    let t0 = pv.sim().now().0;
    // The filesystem code reads live through blkfront.
    let (dev, reads) = live::boot_live(live::PvDevice(pv), sectors, image.describe(), workload.file_budget)?;
    let pv = dev.0;
    let replayed = reads.and_then(|r| live::same_reads(IoPath::Pvhvm.name(), &workload.recorded, workload.digest, &r));
    let mut io = bench::empty_result(IoPath::Pvhvm, &workload, &extents);
    io.sim_ns = pv.sim().now().0 - t0;
    io.setup_ns = switch.connect_ns;
    bench::ring_counters(&mut io, &pv, &before);
    let io = bench::finish(io);
    let (memory, sim) = pv.into_parts();
    hvm.bus.mem = memory;
    hvm.bus.clock.advance_to(sim.now());
    replayed?;
    let ide_exits_after_switch = hvm
        .bus
        .ports
        .iter()
        .enumerate()
        .filter(|&(p, _)| is_ide_port(p as u16))
        .map(|(p, s)| s.exits() - ports_before.get(p).map_or(0, |b| b.exits()))
        .sum();
    Ok(PvhvmRun { switch, io, ide_exits_after_switch, end_ns: hvm.bus.clock.now().0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::{AtaDriver, Extent};
    use disk_image::RawImage;

    fn fixture(name: &str) -> Arc<dyn ReadAt> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images").join(name);
        Arc::new(RawImage::open(&p).expect("fixture"))
    }

    #[test]
    fn unplug_detaches_the_ide_disk_of_the_booted_machine() {
        let image = fixture("hvm-simboot.img");
        let opts = PvhvmOptions { read_bytes: 1 << 20, ..PvhvmOptions::default() };
        let (mut hvm, end) = boot_machine(image.clone(), &opts.hvm).expect("boots");
        let EndState::KernelEntry { info, .. } = &end else { panic!("{end:?}") };
        // Before the unplug the firmware's driver sequence reads the disk.
        let sectors_before = hvm.bus.ide.stats.sectors_read;
        AtaDriver::new(&mut hvm.bus, true).read(Extent { sector: 0, sectors: 1 }, false).expect("IDE read");
        assert_eq!(hvm.bus.ide.stats.sectors_read, sectors_before + 1);

        let kernel_end = u64::from(info.kernel_load) + u64::from(info.kernel_size);
        let initrd = info.initrd_addr.zip(info.initrd_size).map(|(a, l)| (u64::from(a), u64::from(l)));
        let run = switch_and_read(&mut hvm, image, &opts, kernel_end, initrd).expect("switch");
        assert!(hvm.bus.platform.ide_unplugged() && hvm.bus.ide.is_unplugged());
        let unplug = run.switch.exits_by_port.iter().find(|p| p.port == crate::devices::platform::XEN_IOPORT_BASE);
        assert!(unplug.is_some_and(|p| p.writes >= 1), "{:?}", run.switch.exits_by_port);
        assert_eq!(hvm.bus.platform.unplugged, run.switch.platform.unplug_mask);
        assert!(run.io.ring_requests > 0);
        assert_eq!(run.ide_exits_after_switch, 0);

        // After it, the same driver finds no disk: nothing is read.
        let after = hvm.bus.ide.stats;
        let r = AtaDriver::new(&mut hvm.bus, true).read(Extent { sector: 0, sectors: 1 }, false);
        assert!(r.is_err(), "IDE read after the unplug succeeded");
        assert_eq!(hvm.bus.ide.stats.sectors_read, after.sectors_read);
        assert_eq!(hvm.bus.ide.stats.commands, after.commands);
        use x86::Bus;
        assert_eq!(hvm.bus.port_in(crate::devices::ide::reg::STATUS_CMD, x86::AccessSize::Byte), 0);
    }

    #[test]
    fn phases_cover_the_boot_and_the_reads_run_on_the_booted_machine() {
        let image = fixture("hvm-simboot.img");
        let opts = PvhvmOptions { read_bytes: 1 << 20, ..PvhvmOptions::default() };
        let (report, reads) = run_hvm_then_read(image.clone(), &opts);
        assert!(matches!(report.end, EndState::KernelEntry { .. }), "{}", report.reason);
        let p = &report.phases;
        let names: Vec<&str> = p.iter().map(|p| p.name.as_str()).collect();
        for want in [
            "hvmloader",
            "seabios-post",
            "boot-menu-wait",
            "int19-boot",
            "mbr",
            "the loader waits for a key",
            "load the kernel (hd0,msdos1)/boot/vmlinuz",
            "load the initrd (hd0,msdos1)/boot/initrd.img",
        ] {
            assert!(names.iter().any(|n| n.starts_with(want)), "{want:?} not in {names:?}");
        }
        // Back to back from 0 to the kernel entry, the counters split exactly.
        assert_eq!(p[0].start_ns, 0);
        assert!(p.windows(2).all(|w| w[0].end_ns == w[1].start_ns), "{p:?}");
        assert_eq!(p.last().map(|p| p.end_ns), Some(report.counters.sim_time_ns));
        assert_eq!(p.iter().map(|p| p.exits).sum::<u64>(), report.counters.port_exits);
        assert_eq!(p.iter().map(|p| p.sectors_read).sum::<u64>(), report.counters.sectors_read);
        let phase = |n: &str| p.iter().rfind(|p| p.name.starts_with(n)).expect("phase");
        assert_eq!(phase("boot-menu-wait").duration_ns() / 1_000_000, 2500);
        assert!(phase("load the kernel").sectors_read > 0 && phase("load the initrd").sectors_read > 0);
        // Without the boot menu prompt its phase is gone and the boot 2.5 s shorter.
        let quick =
            PvhvmOptions { hvm: HvmOptions { boot_menu_wait_ms: None, ..HvmOptions::default() }, ..opts.clone() };
        let (q, _) = run_hvm_then_read(image.clone(), &quick);
        assert!(q.phases.iter().all(|p| p.name != "boot-menu-wait"));
        assert_eq!(report.counters.sim_time_ns - q.counters.sim_time_ns, phase("boot-menu-wait").duration_ns());

        // The reads: over IDE on that machine, the same requests as PVHVM's ring.
        let reads = reads.expect("IDE reads");
        assert_eq!(reads.path, IoPath::IdeDma);
        assert!(reads.ata_commands >= reads.ops && reads.exits > 0 && reads.sim_ns > 0, "{reads:?}");
        let x = run(image, &opts).pv.expect("pvhvm");
        assert_eq!((reads.ops, reads.bytes), (x.io.ops, x.io.bytes));
        assert!(x.io.ring_requests >= x.io.ops);
    }

    #[test]
    fn scratch_avoids_the_initrd() {
        let mib = 1u64 << 20;
        assert_eq!(scratch_region(64 * mib, 3 * mib + 5, None, mib), Some(4 * mib));
        let below = scratch_region(64 * mib, 3 * mib + 1, Some((4 * mib, 60 * mib)), 4096);
        assert_eq!(below, Some(4 * mib - 4096));
        assert_eq!(scratch_region(4 * mib, 3 * mib, Some((3 * mib + 8192, mib - 8192)), 1 << 20), None);
    }
}
