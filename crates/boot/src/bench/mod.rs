//! `boot-sim bench`: the same read workload over four I/O paths, each
//! simulated with the machine's cost model, reported as plain data.
//!
//! - [`IoPath::IdePio`] and [`IoPath::IdeDma`]: a guest driver programs the
//!   emulated IDE controller ([`crate::devices::ide`]) register by register on
//!   the HVM bus ([`crate::hvm::bus::HvmBus`]), one command per request
//!   with status polling, exactly as SeaBIOS's `src/hw/ata.c` does (PIO:
//!   `ata_pio_cmd_data`, one `rep insl` per sector; DMA: `ata_try_dma` +
//!   `ata_dma_cmd_data`, a PRD table and the bus-master engine). Every
//!   register access is a VM exit charged by the bus at the cost model's
//!   `PioDeviceModel` price; the medium and DMA copies are charged by the
//!   bus too. IDE has no command queueing: requests run one at a time
//!   whatever the queue depth.
//! - [`IoPath::Pv`]: Linux-style blkfront/blkback ([`crate::devices::xen`]):
//!   requests on the shared ring, grants, event-channel notifies, all
//!   charged to the [`Sim`].
//! - [`IoPath::Pvhvm`]: the same ring, after the one-time switch an HVM
//!   guest with PV drivers makes: PCI detection of the Xen platform device
//!   (configuration mechanism #1, port exits), the unplug protocol on port
//!   0x10 (port exits), and the HVM hypercalls that set up xenbus (callback
//!   vector, xenstore parameters, shared-info and grant-table frames).
//!
//! The `boot` workload runs live on every path ([`live`]): the filesystem
//! code reads through a page cache whose misses are that path's requests,
//! and each run is checked to read the same requests and bytes as a
//! direct read of the image.
//!
//! Nothing here reads the host clock: times are simulated. Nothing writes
//! the image.

mod ata;
pub(crate) mod live;
mod workload;

use std::sync::Arc;

use disk_image::ReadAt;
use serde::Serialize;

use crate::devices::ide::IdeController;
use crate::devices::platform;
use crate::devices::xen::blkback::{BlkbackConfig, DataPath};
use crate::devices::xen::blkfront::BlkfrontConfig;
use crate::devices::xen::{PvError, PvIo, PvIoConfig};
use crate::hvm::Chs;
use crate::hvm::bus::HvmBus;
use crate::hvm::trace::{HvmTrace, TraceLevel};
use crate::machine::{CostModel, DiskProfile, GuestMemory, GuestPhysAddr, MemoryError, Sim, SimClock, SimTime};

pub use ata::{AtaDriver, AtaError, MAX_SECTORS_PER_COMMAND};
pub use live::BootReads;
pub use workload::{Extent, Workload, WorkloadKind, synthetic_image};

const SECTOR: u64 = 512;

/// One I/O path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum IoPath {
    /// Emulated IDE, PIO data transfers.
    IdePio,
    /// Emulated IDE, bus-master DMA.
    IdeDma,
    /// PV guest: blkfront over the blkif ring.
    Pv,
    /// HVM guest with PV drivers: unplug, then blkfront.
    Pvhvm,
}

impl IoPath {
    pub const ALL: [IoPath; 4] = [IoPath::IdePio, IoPath::IdeDma, IoPath::Pv, IoPath::Pvhvm];

    pub fn name(self) -> &'static str {
        match self {
            IoPath::IdePio => "ide-pio",
            IoPath::IdeDma => "ide-dma",
            IoPath::Pv => "pv",
            IoPath::Pvhvm => "pvhvm",
        }
    }

    pub fn is_emulated(self) -> bool {
        matches!(self, IoPath::IdePio | IoPath::IdeDma)
    }
}

/// How the PV paths' frontend and backend are configured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PvSetup {
    pub front: BlkfrontConfig,
    pub back: BlkbackConfig,
}

impl PvSetup {
    /// Linux xen-blkfront/xen-blkback defaults: 32 requests in flight,
    /// persistent grants (`feature_persistent` on both sides), 32 indirect
    /// segments per request (blkfront's `max_indirect_segments`), the
    /// backend offering 256 (`xen_blkif_max_segments`), grant mapping.
    pub fn linux() -> PvSetup {
        PvSetup {
            front: BlkfrontConfig { max_outstanding: 32, persistent: true, indirect_segments: 32 },
            back: BlkbackConfig { data_path: DataPath::Map, persistent: true, max_indirect_segments: 256 },
        }
    }

    /// The classic protocol: 11 segments per request, a grant per
    /// segment mapped and unmapped by the backend, 32 in flight.
    pub fn classic() -> PvSetup {
        PvSetup { front: BlkfrontConfig::default(), back: BlkbackConfig::default() }
    }

    /// Mini-OS blkfront (PV-GRUB): one request at a time, no features.
    pub fn mini_os() -> PvSetup {
        PvSetup { front: BlkfrontConfig::mini_os(), back: BlkbackConfig::default() }
    }
}

impl Default for PvSetup {
    fn default() -> Self {
        PvSetup::linux()
    }
}

/// Exits on one port during a run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PortExits {
    pub port: u16,
    /// What the port is (ATA register name, platform port, …).
    pub name: &'static str,
    pub reads: u64,
    pub writes: u64,
    /// Elements moved by `rep ins`/`outs` on this port.
    pub string_items: u64,
    pub cost_ns: u64,
}

/// One path over one workload: everything counted and the simulated time.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PathResult {
    pub path: IoPath,
    pub workload: WorkloadKind,
    pub block_bytes: u64,
    /// Requests the workload keeps outstanding.
    pub queue_depth: u32,
    /// What the path can keep outstanding (1 for IDE: no queueing).
    pub effective_queue_depth: u32,
    /// Workload requests (blocks) read.
    pub ops: u64,
    pub bytes: u64,
    /// Simulated time of the workload (plus, for PVHVM, the one-time
    /// platform switch), ns.
    pub sim_ns: u64,
    /// Connecting the vbd through xenstore (PV and PVHVM; not in `sim_ns`).
    pub setup_ns: u64,
    /// PVHVM: platform device detection + unplug + HVM hypercalls (in `sim_ns`).
    pub switch_ns: u64,
    /// Port exits (VM exits to the device model) in `sim_ns`.
    pub exits: u64,
    pub exit_cost_ns: u64,
    /// `exit_cost_ns / sim_ns`.
    pub exit_cost_share: f64,
    pub exits_per_sector: f64,
    pub exits_by_port: Vec<PortExits>,
    /// ATA commands issued (IDE paths).
    pub ata_commands: u64,
    pub ring_requests: u64,
    pub ring_segments: u64,
    /// Grant entries written by the frontend (`gnttab_grant_access`).
    pub grants: u64,
    pub grant_maps: u64,
    pub grant_unmaps: u64,
    pub grant_copies: u64,
    pub notifies: u64,
    pub upcalls: u64,
    pub hypercalls: u64,
    /// Bytes the CPU or DMA engine copied (`rep insl` data, DMA, persistent
    /// grant copies).
    pub bytes_copied: u64,
    /// MiB per second of simulated time.
    pub mib_per_s: f64,
    /// Workload requests per second of simulated time.
    pub iops: f64,
}

#[derive(Debug, thiserror::Error)]
pub enum BenchError {
    #[error("bench configuration: {0}")]
    Config(String),
    #[error("guest memory: {0}")]
    Memory(#[from] MemoryError),
    #[error("PV path: {0}")]
    Pv(#[from] PvError),
    #[error("IDE path: {0}")]
    Ata(#[from] AtaError),
    #[error("{path} read back different bytes than the image holds at sector {sector}")]
    DataMismatch { path: &'static str, sector: u64 },
    #[error("reading the image: {0}")]
    Image(#[from] disk_image::DiskError),
}

/// What to run.
#[derive(Clone, Debug)]
pub struct BenchConfig {
    pub workloads: Vec<Workload>,
    pub paths: Vec<IoPath>,
    pub pv: PvSetup,
    /// SeaBIOS `CONFIG_ATA_PIO32` (Xen's build: `insl`); false: `insw`.
    pub pio32: bool,
    /// The medium behind the virtual disk. `Some(profile)` replaces the
    /// cost model's disk settings; `None` keeps them. The default is
    /// [`DiskProfile::Ideal`]: the bench compares I/O *paths*, and a 1 ms
    /// medium latency per request (the model's `ebs-gp3`) would bury the
    /// path costs under media time (QEMU issues one medium request per PIO
    /// sector).
    pub medium: Option<DiskProfile>,
}

impl BenchConfig {
    /// The cost model the runs use: `cost` with [`BenchConfig::medium`] applied.
    pub fn effective_cost(&self, cost: &CostModel) -> Result<CostModel, BenchError> {
        let Some(profile) = self.medium else {
            return Ok(cost.clone());
        };
        let mut p = cost.params().clone();
        p.disk_profile = profile;
        p.disk_latency_ns = None;
        p.disk_mb_per_s = None;
        CostModel::new(p).map_err(|e| BenchError::Config(e.to_string()))
    }
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            workloads: Workload::default_set(),
            paths: IoPath::ALL.to_vec(),
            pv: PvSetup::linux(),
            pio32: true,
            medium: Some(DiskProfile::Ideal),
        }
    }
}

/// Progress of a [`run`]: the run about to start.
#[derive(Clone, Copy, Debug)]
pub struct Progress {
    pub index: usize,
    pub total: usize,
    pub path: IoPath,
    pub workload: WorkloadKind,
    pub block_bytes: u64,
}

/// The whole report.
#[derive(Clone, Debug, Serialize)]
pub struct BenchReport {
    pub image: String,
    pub image_bytes: u64,
    pub results: Vec<PathResult>,
}

/// Runs every workload over every path, in order, calling `progress`
/// before each run.
pub fn run(
    image: Arc<dyn ReadAt>,
    cost: &CostModel,
    config: &BenchConfig,
    progress: &mut dyn FnMut(Progress),
) -> Result<BenchReport, BenchError> {
    let total = config.workloads.len() * config.paths.len();
    let cost = &config.effective_cost(cost)?;
    let mut results = Vec::with_capacity(total);
    for w in &config.workloads {
        for &path in &config.paths {
            progress(Progress { index: results.len(), total, path, workload: w.kind, block_bytes: w.block_bytes });
            let extents = w.extents(image.size() / SECTOR)?;
            results.push(match path {
                IoPath::IdePio | IoPath::IdeDma => {
                    run_ide(image.clone(), cost, path == IoPath::IdeDma, w, &extents, config)?
                }
                IoPath::Pv | IoPath::Pvhvm => run_pv(image.clone(), cost, path == IoPath::Pvhvm, w, &extents, config)?,
            });
        }
    }
    Ok(BenchReport { image: image.describe(), image_bytes: image.size(), results })
}

/// One path over one workload.
pub fn run_path(
    image: Arc<dyn ReadAt>,
    cost: &CostModel,
    path: IoPath,
    workload: &Workload,
    config: &BenchConfig,
) -> Result<PathResult, BenchError> {
    let extents = workload.extents(image.size() / SECTOR)?;
    let cost = &config.effective_cost(cost)?;
    match path {
        IoPath::IdePio | IoPath::IdeDma => run_ide(image, cost, path == IoPath::IdeDma, workload, &extents, config),
        IoPath::Pv | IoPath::Pvhvm => run_pv(image, cost, path == IoPath::Pvhvm, workload, &extents, config),
    }
}

pub(crate) fn empty_result(path: IoPath, w: &Workload, extents: &[Extent]) -> PathResult {
    PathResult {
        path,
        workload: w.kind,
        block_bytes: w.block_bytes,
        queue_depth: w.queue_depth,
        effective_queue_depth: w.queue_depth,
        ops: extents.len() as u64,
        bytes: extents.iter().map(|e| e.sectors * SECTOR).sum(),
        sim_ns: 0,
        setup_ns: 0,
        switch_ns: 0,
        exits: 0,
        exit_cost_ns: 0,
        exit_cost_share: 0.0,
        exits_per_sector: 0.0,
        exits_by_port: Vec::new(),
        ata_commands: 0,
        ring_requests: 0,
        ring_segments: 0,
        grants: 0,
        grant_maps: 0,
        grant_unmaps: 0,
        grant_copies: 0,
        notifies: 0,
        upcalls: 0,
        hypercalls: 0,
        bytes_copied: 0,
        mib_per_s: 0.0,
        iops: 0.0,
    }
}

pub(crate) fn finish(mut r: PathResult) -> PathResult {
    let secs = r.sim_ns as f64 / 1e9;
    if secs > 0.0 {
        r.mib_per_s = r.bytes as f64 / (1024.0 * 1024.0) / secs;
        r.iops = r.ops as f64 / secs;
        r.exit_cost_share = r.exit_cost_ns as f64 / r.sim_ns as f64;
    }
    let sectors = r.bytes / SECTOR;
    if sectors > 0 {
        r.exits_per_sector = r.exits as f64 / sectors as f64;
    }
    r
}

/// Name of an I/O port, for the report.
pub fn port_name(port: u16) -> &'static str {
    use crate::devices::ide::{BMIDE_BASE, reg};
    match port {
        reg::DATA => "ata data",
        reg::ERR_FEATURE => "ata error/feature",
        reg::SECTOR_COUNT => "ata sector count",
        reg::LBA_LOW => "ata lba low",
        reg::LBA_MID => "ata lba mid",
        reg::LBA_HIGH => "ata lba high",
        reg::DEVICE => "ata device",
        reg::STATUS_CMD => "ata status/command",
        reg::CTRL => "ata alt status/device control",
        p if p == BMIDE_BASE + reg::BM_CMD => "bmide command",
        p if p == BMIDE_BASE + reg::BM_STATUS => "bmide status",
        p if p == BMIDE_BASE + reg::BM_TABLE => "bmide prd table",
        platform::XEN_IOPORT_BASE => "xen platform magic/unplug",
        platform::XEN_IOPORT_VERSION => "xen platform version/product",
        platform::PCI_CONFIG_ADDRESS => "pci config address",
        platform::PCI_CONFIG_DATA => "pci config data",
        _ => "other",
    }
}

pub(crate) fn port_exits(bus: &HvmBus) -> Vec<PortExits> {
    bus.ports
        .iter()
        .enumerate()
        .filter(|(_, s)| s.exits() > 0)
        .map(|(port, s)| PortExits {
            port: port as u16,
            name: port_name(port as u16),
            reads: s.reads,
            writes: s.writes,
            string_items: s.string_items,
            cost_ns: s.cost_ns,
        })
        .collect()
}

/// Port exits on `bus` since its per-port counters were `before`.
pub(crate) fn port_exits_since(bus: &HvmBus, before: &[crate::hvm::PortStat]) -> Vec<PortExits> {
    port_exits(bus)
        .into_iter()
        .filter_map(|mut p| {
            let b = before.get(usize::from(p.port)).copied().unwrap_or_default();
            p.reads -= b.reads;
            p.writes -= b.writes;
            p.string_items -= b.string_items;
            p.cost_ns -= b.cost_ns;
            (p.reads + p.writes > 0).then_some(p)
        })
        .collect()
}

/// An HVM bus with the image as the IDE master and `mem_bytes` of RAM.
fn hvm_bus(image: Arc<dyn ReadAt>, cost: &CostModel, mem_bytes: u64) -> Result<HvmBus, BenchError> {
    let sectors = image.size() / SECTOR;
    let mut mbr = [0u8; 512];
    if sectors > 0 {
        image.read_exact_at(0, &mut mbr)?;
    }
    let (geometry, _): (Chs, _) = crate::devices::ide::guess_geometry(&mbr, sectors);
    let ide = IdeController::new(image, geometry);
    let mem = GuestMemory::new(mem_bytes.next_multiple_of(crate::machine::PAGE_SIZE))?;
    Ok(HvmBus::new(mem, ide, cost.clone(), HvmTrace::new(TraceLevel::Summary)))
}

fn check(path: IoPath, image: &dyn ReadAt, e: Extent, got: &[u8]) -> Result<(), BenchError> {
    let mut want = vec![0u8; got.len()];
    image.read_exact_at(e.sector * SECTOR, &mut want)?;
    if want != got {
        return Err(BenchError::DataMismatch { path: path.name(), sector: e.sector });
    }
    Ok(())
}

fn run_ide(
    image: Arc<dyn ReadAt>,
    cost: &CostModel,
    dma: bool,
    w: &Workload,
    extents: &[Extent],
    config: &BenchConfig,
) -> Result<PathResult, BenchError> {
    let path = if dma { IoPath::IdeDma } else { IoPath::IdePio };
    let boot = w.kind == WorkloadKind::Boot;
    let largest = if boot {
        MAX_SECTORS_PER_COMMAND
    } else {
        extents.iter().map(|e| e.sectors.min(MAX_SECTORS_PER_COMMAND)).max().unwrap_or(1)
    };
    let mem = ata::BUFFER + largest * SECTOR + crate::machine::PAGE_SIZE;
    let mut bus = hvm_bus(image.clone(), cost, mem)?;
    if boot {
        let dev = live::IdeDevice { bus, dma, pio32: config.pio32, buffer: ata::BUFFER, prd: ata::PRD_TABLE };
        let (dev, reads) = live::boot_live(dev, image.size() / SECTOR, image.describe(), w.file_budget)?;
        live::same_reads(path.name(), &w.recorded, w.digest, &reads?)?;
        bus = dev.bus;
    } else {
        let mut driver = AtaDriver::new(&mut bus, config.pio32);
        let last = extents.len().saturating_sub(1);
        for (i, &e) in extents.iter().enumerate() {
            driver.read(e, dma)?;
            if i == 0 || i == last {
                // The last command's data is in the buffer: check its sectors.
                let n = e.sectors.min(MAX_SECTORS_PER_COMMAND);
                let tail = Extent { sector: e.sector + e.sectors - n, sectors: n };
                let got = driver.buffer(n)?;
                check(path, image.as_ref(), tail, &got)?;
            }
        }
    }
    let mut r = empty_result(path, w, extents);
    r.effective_queue_depth = 1;
    r.sim_ns = bus.clock.now().0;
    r.exits = bus.total_exits();
    r.exits_by_port = port_exits(&bus);
    r.exit_cost_ns = r.exits_by_port.iter().map(|p| p.cost_ns).sum();
    r.ata_commands = bus.ide.stats.commands;
    r.bytes_copied = if dma {
        bus.ide.stats.bytes_dma
    } else {
        r.exits_by_port.iter().filter(|p| p.port == crate::devices::ide::reg::DATA).map(|p| p.string_items).sum::<u64>()
            * if config.pio32 { 4 } else { 2 }
    };
    Ok(finish(r))
}

/// What the PV-on-HVM switch read from and wrote to the platform device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PlatformProbe {
    /// Where PCI configuration space showed the device ("00:03.0").
    pub bdf: String,
    pub vendor: u16,
    pub device: u16,
    /// Read from port 0x10 (`XEN_IOPORT_MAGIC_VAL` 0x49d2).
    pub magic: u16,
    /// Protocol version read from port 0x12.
    pub protocol_version: u8,
    /// Unplug mask written to port 0x10.
    pub unplug_mask: u16,
}

/// The one-time PV-on-HVM switch (Linux `arch/x86/xen/platform-pci-unplug.c`
/// and `drivers/xen/platform-pci.c`) on an HVM bus, its exits charged to
/// the bus's clock. Fails if the platform device is absent.
pub(crate) fn pvhvm_switch(bus: &mut HvmBus) -> Result<PlatformProbe, BenchError> {
    use platform::*;
    use x86::{AccessSize, Bus};
    // check_platform_magic: magic, protocol version, product, build, magic.
    let magic = bus.port_in(XEN_IOPORT_BASE, AccessSize::Word) as u16;
    if magic != XEN_IOPORT_MAGIC {
        return Err(BenchError::Config(format!("no Xen platform device at port 0x10 (read {magic:#06x})")));
    }
    let protocol_version = bus.port_in(XEN_IOPORT_VERSION, AccessSize::Byte) as u8;
    if protocol_version >= 1 {
        bus.port_out(XEN_IOPORT_VERSION, AccessSize::Word, 0x0003); // XEN_IOPORT_LINUX_PRODNUM
        bus.port_out(XEN_IOPORT_BASE, AccessSize::Dword, 0x0001); // XEN_IOPORT_LINUX_DRVVER
        if bus.port_in(XEN_IOPORT_BASE, AccessSize::Word) as u16 != XEN_IOPORT_MAGIC {
            return Err(BenchError::Config("the Xen platform device blacklisted the driver".into()));
        }
    }
    // xen_unplug_emulated_devices: IDE disks and NICs.
    let unplug_mask = XEN_UNPLUG_ALL_IDE_DISKS | XEN_UNPLUG_ALL_NICS;
    bus.port_out(XEN_IOPORT_BASE, AccessSize::Word, u32::from(unplug_mask));
    // platform_pci_probe on 00:03.0: IDs, class, enable (command read +
    // write), BAR0 (I/O), BAR1 (MMIO for grant frames), interrupt pin.
    let cfg = |reg: u32| 0x8000_0000 | u32::from(XEN_PLATFORM_SLOT) << 11 | reg;
    let config_read = |bus: &mut HvmBus, reg: u32| {
        bus.port_out(PCI_CONFIG_ADDRESS, AccessSize::Dword, cfg(reg));
        bus.port_in(PCI_CONFIG_DATA, AccessSize::Dword)
    };
    let id = config_read(bus, 0x00);
    if id != u32::from(XEN_PLATFORM_DEVICE) << 16 | u32::from(XEN_PLATFORM_VENDOR) {
        return Err(BenchError::Config(format!("00:03.0 is {id:#010x}, not the Xen platform device")));
    }
    let _class = config_read(bus, 0x08);
    let command = config_read(bus, 0x04);
    bus.port_out(PCI_CONFIG_ADDRESS, AccessSize::Dword, cfg(0x04));
    bus.port_out(PCI_CONFIG_DATA, AccessSize::Word, (command & 0xFFFF) | 0x3);
    let _bar0 = config_read(bus, 0x10);
    let _bar1 = config_read(bus, 0x14);
    let _irq = config_read(bus, 0x3C);
    if !bus.platform.ide_unplugged() || !bus.ide.is_unplugged() {
        return Err(BenchError::Config("the emulated IDE disk was not unplugged".into()));
    }
    Ok(PlatformProbe {
        bdf: format!("00:{XEN_PLATFORM_SLOT:02x}.0"),
        vendor: id as u16,
        device: (id >> 16) as u16,
        magic,
        protocol_version,
        unplug_mask,
    })
}

/// HVM hypercalls the PV-on-HVM bootstrap makes (Linux `xen_hvm_init_shared_info`,
/// `xen_set_callback_via`, `xenbus_init`, `gnttab_init` over the platform
/// device's MMIO BAR): charged on the PV path's [`Sim`].
pub(crate) fn pvhvm_hypercalls(sim: &mut Sim) {
    const HVM_OP: u32 = 34;
    const HVMOP_SET_PARAM: u32 = 0;
    const HVMOP_GET_PARAM: u32 = 1;
    const MEMORY_OP: u32 = 12;
    const XENMEM_ADD_TO_PHYSMAP: u32 = 7;
    sim.hypercall(MEMORY_OP, "memory_op", XENMEM_ADD_TO_PHYSMAP, 1, 0); // shared_info
    sim.hypercall(HVM_OP, "hvm_op", HVMOP_SET_PARAM, 1, 0); // HVM_PARAM_CALLBACK_IRQ
    sim.hypercall(HVM_OP, "hvm_op", HVMOP_GET_PARAM, 1, 0); // HVM_PARAM_STORE_EVTCHN
    sim.hypercall(HVM_OP, "hvm_op", HVMOP_GET_PARAM, 1, 0); // HVM_PARAM_STORE_PFN
    for _ in 0..crate::devices::xen::grant::DEFAULT_GRANT_FRAMES {
        sim.hypercall(MEMORY_OP, "memory_op", XENMEM_ADD_TO_PHYSMAP, 1, 0); // grant frame
    }
}

fn run_pv(
    image: Arc<dyn ReadAt>,
    cost: &CostModel,
    pvhvm: bool,
    w: &Workload,
    extents: &[Extent],
    config: &BenchConfig,
) -> Result<PathResult, BenchError> {
    let path = if pvhvm { IoPath::Pvhvm } else { IoPath::Pv };
    let front = config.pv.front;
    let scratch_bytes = front.scratch_pages() * crate::machine::PAGE_SIZE;
    let memory = GuestMemory::new(scratch_bytes.next_multiple_of(1 << 20))?;
    let sim = Sim::with_trace_cap(cost.clone(), 0);
    let pv_config = PvIoConfig { scratch: GuestPhysAddr(0), front, back: config.pv.back, ..PvIoConfig::default() };
    let mut pv = PvIo::new(image.clone(), memory, sim, pv_config)?;
    let setup_ns = pv.sim().now().0;
    let before = pv.sim().trace.counters().clone();
    let t0 = pv.sim().now();

    let mut r = empty_result(path, w, extents);
    if pvhvm {
        // The switch happens once, before the vbd is used: its port exits
        // on the HVM bus, its hypercalls on the ring path's clock.
        let mut bus = hvm_bus(image.clone(), cost, 1 << 20)?;
        pvhvm_switch(&mut bus)?;
        let hc0 = pv.sim().now().0;
        pvhvm_hypercalls(pv.sim_mut());
        let hypercalls_ns = pv.sim().now().0 - hc0;
        pv.sim_mut().clock.advance(bus.clock.now().0);
        r.switch_ns = bus.clock.now().0 + hypercalls_ns;
        r.exits = bus.total_exits();
        r.exits_by_port = port_exits(&bus);
        r.exit_cost_ns = r.exits_by_port.iter().map(|p| p.cost_ns).sum();
    }

    if w.kind == WorkloadKind::Boot {
        let (dev, reads) = live::boot_live(live::PvDevice(pv), image.size() / SECTOR, image.describe(), w.file_budget)?;
        pv = dev.0;
        live::same_reads(path.name(), &w.recorded, w.digest, &reads?)?;
    } else {
        replay(&mut pv, image.as_ref(), path, w.queue_depth, extents)?;
    }
    r.setup_ns = setup_ns;
    r.sim_ns = pv.sim().now().0 - t0.0;
    ring_counters(&mut r, &pv, &before);
    Ok(finish(r))
}

/// Reads `extents` over the ring, `queue_depth` requests per batch, and
/// checks the first and last batch against the image.
pub(crate) fn replay(
    pv: &mut PvIo,
    image: &dyn ReadAt,
    path: IoPath,
    queue_depth: u32,
    extents: &[Extent],
) -> Result<(), BenchError> {
    let qd = queue_depth.max(1) as usize;
    let batch_bytes = extents.chunks(qd).map(|c| c.iter().map(|e| e.sectors).sum::<u64>()).max().unwrap_or(0) * SECTOR;
    let mut dst = vec![0u8; batch_bytes as usize];
    let mut list: Vec<(u64, u64)> = Vec::with_capacity(qd);
    let batches = extents.len().div_ceil(qd);
    for (b, chunk) in extents.chunks(qd).enumerate() {
        list.clear();
        list.extend(chunk.iter().map(|e| (e.sector, e.sectors)));
        let len = chunk.iter().map(|e| e.sectors).sum::<u64>() * SECTOR;
        let buf = &mut dst[..len as usize];
        pv.read_extents(&list, buf)?;
        if b == 0 || b + 1 == batches {
            let mut off = 0usize;
            for &e in chunk {
                let n = (e.sectors * SECTOR) as usize;
                check(path, image, e, &buf[off..off + n])?;
                off += n;
            }
        }
    }
    Ok(())
}

/// The ring-path counters of `pv` since `before` into `r`.
pub(crate) fn ring_counters(r: &mut PathResult, pv: &PvIo, before: &crate::machine::trace::Counters) {
    let c = pv.sim().trace.counters();
    use crate::machine::{EventTag, GrantOpKind};
    r.ring_requests = c.requests_pushed() - before.requests_pushed();
    r.ring_segments = c.segments_pushed() - before.segments_pushed();
    r.grants = c.grant_ops(GrantOpKind::Access) - before.grant_ops(GrantOpKind::Access);
    r.grant_maps = c.grant_ops(GrantOpKind::Map) - before.grant_ops(GrantOpKind::Map);
    r.grant_unmaps = c.grant_ops(GrantOpKind::Unmap) - before.grant_ops(GrantOpKind::Unmap);
    r.grant_copies = c.grant_ops(GrantOpKind::Copy) - before.grant_ops(GrantOpKind::Copy);
    r.notifies = c.notifies() - before.notifies();
    r.upcalls = c.events(EventTag::EvtchnUpcall) - before.events(EventTag::EvtchnUpcall);
    r.hypercalls = c.hypercalls_total() - before.hypercalls_total();
    r.bytes_copied = c.memcpy_bytes() - before.memcpy_bytes();
}

/// The `boot` workload on a PV guest after its boot, on the clock where
/// the boot ended (`at`): the booted kernel's blkfront (`pv`, Linux's by
/// default) connects a vbd through xenstore — PV-GRUB's ring went with its
/// kexec — with its ring and buffers at the top of `memory`, above
/// everything the domain builder placed (`used_end`, bytes), and the
/// filesystem code reads the image through it. `setup_ns` is the connect.
pub fn pv_post_boot(
    image: Arc<dyn ReadAt>,
    memory: GuestMemory,
    used_end: u64,
    at: SimTime,
    cost: &CostModel,
    pv: PvSetup,
    workload: &Workload,
) -> Result<PathResult, BenchError> {
    let bytes = pv.front.scratch_pages() * crate::machine::PAGE_SIZE;
    let scratch = memory.size().checked_sub(bytes).filter(|&s| s >= used_end).ok_or_else(|| {
        BenchError::Config(format!("no room for blkfront's {bytes:#x} bytes above the booted PV guest's layout"))
    })?;
    let mut sim = Sim::with_trace_cap(cost.clone(), 0);
    sim.clock = SimClock::starting_at(at);
    let config =
        PvIoConfig { scratch: GuestPhysAddr(scratch), front: pv.front, back: pv.back, ..PvIoConfig::default() };
    let pvio = PvIo::new(image.clone(), memory, sim, config)?;
    let setup_ns = pvio.sim().now().0 - at.0;
    let before = pvio.sim().trace.counters().clone();
    let t0 = pvio.sim().now().0;
    let sectors = image.size() / SECTOR;
    let (pvio, reads) = live::boot_live(live::PvDevice(pvio), sectors, image.describe(), workload.file_budget)?;
    live::same_reads(IoPath::Pv.name(), &workload.recorded, workload.digest, &reads?)?;
    let extents = workload.extents(sectors)?;
    let mut r = empty_result(IoPath::Pv, workload, &extents);
    r.setup_ns = setup_ns;
    r.sim_ns = pvio.0.sim().now().0 - t0;
    ring_counters(&mut r, &pvio.0, &before);
    Ok(finish(r))
}

/// The first byte above everything the PV domain builder placed (kernel,
/// initrd, p2m, start_info, xenstore and console pages, page tables, boot
/// stack): where a booted PV guest has free memory.
pub fn pv_layout_end(l: &crate::pv::builder::DomainLayout) -> u64 {
    let segments = l.segments.iter().map(|s| s.pfn.saturating_add(s.pages));
    let pages = [l.start_info_pfn, l.xenstore_pfn, l.console_pfn, l.bootstack_pfn].map(|p| p.saturating_add(1));
    let tables = l.pgtables_pfn.saturating_add(l.nr_pt_frames);
    segments.chain(pages).chain([tables]).max().unwrap_or(0).saturating_mul(crate::machine::PAGE_SIZE)
}
