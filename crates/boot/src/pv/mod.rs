//! The PV boot path: a PV loader finds the menu and picks an entry, the
//! kernel and initrd are read from the image, and the domain builder lays
//! out the guest; the run stops at the kernel's first instruction.

pub mod builder;

use std::sync::Arc;

use serde::Serialize;

use crate::devices::xen::blkfront::BlkfrontConfig;
use crate::devices::{BlkfrontDisk, PvIo, PvIoConfig};
use crate::kernel::{self, InspectOptions, KernelReport};
use crate::machine::{CostModel, GuestMemory, GuestPhysAddr, PAGE_SIZE, Pfn, Sim, TraceSummary};
use builder::{BuildConfig, BuildInput, DomainLayout, StartInfo, VcpuRegs};
use disk_image::menu::discover::{self, Discovery, FileHit, Loader};
use disk_image::menu::select::{self, BootChoice, EntryRequest, SelectError};
use disk_image::{Disk, ReadAt};

/// Default guest memory: 1 GiB.
pub const DEFAULT_MEMORY: u64 = 1 << 30;
/// Largest kernel or initrd file the loader reads.
pub const MAX_BOOT_FILE: u64 = 512 << 20;

#[derive(Debug, Clone)]
pub struct PvOptions {
    pub loader: Loader,
    pub entry: EntryRequest,
    /// Guest memory in bytes (the domain's `memory=`).
    pub memory: u64,
    pub build: BuildConfig,
    /// Costs for the simulated clock (`--cost-model`).
    pub cost: CostModel,
}

impl Default for PvOptions {
    fn default() -> Self {
        PvOptions {
            loader: Loader::PvgrubAws,
            entry: EntryRequest::Default,
            memory: DEFAULT_MEMORY,
            build: BuildConfig::default(),
            cost: CostModel::default(),
        }
    }
}

/// Which step stopped the boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Stage {
    Menu,
    Entry,
    Kernel,
    Build,
}

/// Why the image cannot boot this way, and what to change.
#[derive(Debug, Clone, Serialize)]
pub struct CannotBoot {
    pub stage: Stage,
    /// The loader's or the builder's own words.
    pub messages: Vec<String>,
    pub hint: Option<String>,
}

/// A PV boot that reached the kernel entry.
#[derive(Debug, Clone, Serialize)]
pub struct PvBoot {
    pub choice: BootChoice,
    pub kernel: KernelReport,
    pub layout: DomainLayout,
    /// Decoded from guest memory after the build.
    pub start_info: StartInfo,
    pub vcpu: VcpuRegs,
    /// Pages of guest memory the build wrote.
    pub touched_pages: u64,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", rename_all = "kebab-case")]
pub enum PvOutcome {
    Booted(Box<PvBoot>),
    CannotBoot(CannotBoot),
}

/// Everything a PV run did, in order.
#[derive(Debug, Clone, Serialize)]
pub struct PvRun {
    pub discovery: Discovery,
    pub outcome: PvOutcome,
    /// Simulated time, I/O counters (ring requests, segments, grants,
    /// notifies, bytes) and time per phase, from the trace.
    pub sim: TraceSummary,
}

/// Errors that are not the image's fault.
#[derive(Debug, thiserror::Error)]
pub enum PvError {
    #[error("guest memory: {0}")]
    Memory(#[from] crate::machine::MemoryError),
    #[error("setting up the PV block device: {0}")]
    Devices(#[from] crate::devices::PvError),
    #[error("{0}")]
    Disk(#[from] disk_image::DiskError),
    #[error("guest memory of {memory} bytes has no room for PV-GRUB's ring and buffers ({scratch} bytes)")]
    TooSmall { memory: u64, scratch: u64 },
}

fn cannot(stage: Stage, messages: Vec<String>, hint: Option<String>) -> PvOutcome {
    PvOutcome::CannotBoot(CannotBoot { stage, messages, hint })
}

fn read_hit(disk: &Disk, hit: &FileHit) -> Result<Vec<u8>, String> {
    let v = disk.volume(&hit.device).ok_or_else(|| format!("{}: no such device", hit.device))?;
    let fs = disk.open_fs(&v).map_err(|e| e.to_string())?;
    fs.read_file(&hit.resolved_path, MAX_BOOT_FILE).map_err(|e| e.to_string())
}

/// Runs the PV path on `image` to the kernel's first instruction.
///
/// PV-GRUB runs inside the new domain: every read it makes — partition
/// table, filesystem metadata, the menu, the kernel, the initrd — goes
/// through Mini-OS's blkfront (one request in flight) over the shared ring
/// to blkback, with grants and event-channel notifies, on the simulated
/// clock. Its ring and buffers sit at the top of guest memory and are
/// released before the domain builder lays out the kernel (PV-GRUB's
/// kexec). Returns the guest memory as built.
pub fn run(image: Arc<dyn ReadAt>, opts: &PvOptions) -> Result<(PvRun, GuestMemory), PvError> {
    let memory = GuestMemory::new(opts.memory)?;
    let front = BlkfrontConfig::mini_os();
    let scratch_bytes = front.scratch_pages() * PAGE_SIZE;
    if scratch_bytes * 2 > memory.size() {
        return Err(PvError::TooSmall { memory: memory.size(), scratch: scratch_bytes });
    }
    let scratch = GuestPhysAddr(memory.size() - scratch_bytes);
    let mut sim = Sim::new(opts.cost.clone());
    sim.phase("xenstore: connect the vbd");
    let pvio = PvIo::new(image, memory, sim, PvIoConfig { scratch, front, ..PvIoConfig::default() })?;
    let blk = Arc::new(BlkfrontDisk::new(pvio));
    on_sim(&blk, |s| s.phase("pv-grub: find the menu"));
    let disk = Disk::from_reader(blk.clone())?;
    let discovery = discover::discover(&disk, opts.loader);
    let outcome = load_and_build(&disk, &blk, &discovery, opts);
    drop(disk);
    let pvio = Arc::try_unwrap(blk)
        .ok()
        .and_then(|b| b.into_inner().ok())
        .expect("the PV machine has one owner after PV-GRUB");
    let (mut memory, mut sim) = pvio.into_parts();
    let outcome = match outcome {
        Loaded::Stop(o) => o,
        Loaded::Build(loaded) => {
            // kexec: PV-GRUB's ring and buffers are gone; the builder gets fresh pages.
            memory.fill(scratch, scratch_bytes, 0)?;
            sim.phase("domain builder");
            build(&mut memory, &mut sim, *loaded, opts)?
        }
    };
    let summary = sim.summary();
    Ok((PvRun { discovery, outcome, sim: summary }, memory))
}

enum Loaded {
    Stop(PvOutcome),
    Build(Box<LoadedKernel>),
}

struct LoadedKernel {
    choice: BootChoice,
    kernel_bytes: Vec<u8>,
    initrd_bytes: Option<Vec<u8>>,
}

/// PV-GRUB's part: choose the entry, read kernel and initrd through the ring.
/// Charges or marks something on the simulated clock while blkfront owns it.
fn on_sim(blk: &BlkfrontDisk, f: impl FnOnce(&mut Sim)) {
    if let Ok(mut pv) = blk.lock() {
        f(pv.sim_mut());
    }
}

fn load_and_build(disk: &Disk, blk: &BlkfrontDisk, discovery: &Discovery, opts: &PvOptions) -> Loaded {
    let choice = match select::choose(disk, discovery, &opts.entry) {
        Ok(c) => c,
        Err(e) => {
            let stage = if matches!(e, SelectError::NoConfig) { Stage::Menu } else { Stage::Entry };
            let hint = match &e {
                SelectError::NoConfig => Some(no_menu_hint(disk, opts.loader)),
                _ => None,
            };
            return Loaded::Stop(cannot(stage, vec![e.to_string()], hint));
        }
    };
    on_sim(blk, |s| s.phase("pv-grub: load the kernel"));
    let kernel_bytes = match read_hit(disk, &choice.kernel) {
        Ok(b) => b,
        Err(e) => return Loaded::Stop(cannot(Stage::Kernel, vec![e], None)),
    };
    on_sim(blk, |s| s.file_read(&choice.kernel.device, &choice.kernel.resolved_path, kernel_bytes.len() as u64));
    let initrd_bytes = match choice.initrd.first() {
        Some(h) => {
            on_sim(blk, |s| s.phase("pv-grub: load the initrd"));
            match read_hit(disk, h) {
                Ok(b) => {
                    on_sim(blk, |s| s.file_read(&h.device, &h.resolved_path, b.len() as u64));
                    Some(b)
                }
                Err(e) => return Loaded::Stop(cannot(Stage::Kernel, vec![e], None)),
            }
        }
        None => None,
    };
    Loaded::Build(Box::new(LoadedKernel { choice, kernel_bytes, initrd_bytes }))
}

/// The domain builder's part (libxenguest, called by PV-GRUB's kexec).
fn build(
    memory: &mut GuestMemory,
    sim: &mut Sim,
    loaded: LoadedKernel,
    opts: &PvOptions,
) -> Result<PvOutcome, PvError> {
    let LoadedKernel { choice, kernel_bytes, initrd_bytes } = loaded;
    let mut payload_elf = Vec::new();
    let report = match kernel::inspect_keep_elf(&kernel_bytes, &InspectOptions::default(), &mut payload_elf) {
        Ok(r) => r,
        Err(e) => {
            let msg = format!("{}{}: {e}", choice.kernel.device, choice.kernel.resolved_path);
            return Ok(cannot(Stage::Kernel, vec![msg], None));
        }
    };
    let pv = report.pv.clone();
    let (Some(pv), Some(elf), Some(xen)) = (pv.filter(|p| p.bootable), report.elf.clone(), report.xen.clone()) else {
        let (mut messages, hint) = match &report.pv {
            Some(p) => (p.xen_errors.clone(), p.hint.clone()),
            None => (vec!["the kernel could not be examined".into()], None),
        };
        if let Some(reason) = report.pv.as_ref().and_then(|p| p.reason.clone()) {
            messages.push(reason);
        }
        return Ok(cannot(Stage::Kernel, messages, hint));
    };
    let layout = pv.layout.expect("a bootable PV verdict carries libelf's layout");
    let elf_bytes: &[u8] = if payload_elf.is_empty() { &kernel_bytes } else { &payload_elf };
    let input = BuildInput {
        elf: elf_bytes,
        layout,
        segments: elf.load_segments.iter().map(|s| (s.offset, s.paddr, s.filesz, s.memsz)).collect(),
        unmapped_initrd: xen.params.unmapped_initrd,
        guest_type: pv.guest_type.unwrap_or("xen-3.0-x86_64"),
        initrd: initrd_bytes.as_deref(),
        cmdline: &choice.cmdline,
    };
    let built = match builder::build(memory, &input, &opts.build) {
        Ok(b) => b,
        Err(e) => {
            let hint = matches!(e, builder::BuildError::TooLarge { .. } | builder::BuildError::MappingTooLarge { .. })
                .then(|| format!("give the guest more memory than {} MiB (--memory)", opts.memory >> 20));
            return Ok(cannot(Stage::Build, vec![e.to_string()], hint));
        }
    };
    sim.memcpy(built.kernel_bytes_loaded + initrd_bytes.as_ref().map_or(0, |b| b.len() as u64));
    let start_info = StartInfo::read(memory, Pfn(built.start_info_pfn).addr())?;
    Ok(PvOutcome::Booted(Box::new(PvBoot {
        choice,
        kernel: report,
        vcpu: built.vcpu,
        start_info,
        touched_pages: memory.touched_pages(),
        layout: built,
    })))
}

fn no_menu_hint(disk: &Disk, loader: Loader) -> String {
    let others: Vec<String> = Loader::ALL
        .into_iter()
        .filter(|&l| l != loader)
        .filter_map(|l| {
            discover::discover(disk, l).config.map(|c| format!("{} finds {}{}", l.name(), c.file.device, c.file.path))
        })
        .collect();
    if others.is_empty() { "no PV loader finds a menu on this image".into() } else { others.join("; ") }
}

/// The guest-physical address of a virtual address in the initial mapping,
/// by walking the page tables the builder wrote (from CR3).
pub fn virt_to_phys(mem: &GuestMemory, vcpu: &VcpuRegs, cfg: &BuildConfig, vaddr: u64) -> Option<GuestPhysAddr> {
    builder::translate(mem, vcpu.cr3, cfg.mfn_base, vaddr)
}

/// Reads `len` bytes at a guest virtual address (within one page).
pub fn read_virt(mem: &GuestMemory, vcpu: &VcpuRegs, cfg: &BuildConfig, vaddr: u64, len: u64) -> Option<Vec<u8>> {
    let phys = virt_to_phys(mem, vcpu, cfg, vaddr)?;
    if (phys.0 % PAGE_SIZE) + len > PAGE_SIZE {
        return None;
    }
    mem.slice(phys, len).ok().map(<[u8]>::to_vec)
}
