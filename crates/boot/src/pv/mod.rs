//! The PV boot path: a PV loader finds the menu and picks an entry, the
//! kernel and initrd are read from the image, and the domain builder lays
//! out the guest; the run stops at the kernel's first instruction.

pub mod builder;
mod console;

use std::sync::Arc;

use serde::Serialize;

use crate::devices::xen::blkfront::BlkfrontConfig;
use crate::devices::{BlkfrontDisk, PvIo, PvIoConfig};
use crate::kernel::{self, InspectOptions, KernelReport};
use crate::machine::{CostModel, GuestMemory, GuestPhysAddr, HostBuffer, PAGE_SIZE, Pfn, Sim, TraceSummary};
use boot_config::discover::{self, Discovery, FileHit, Loader};
use boot_config::select::{self, BootChoice, EntryRequest, SelectError};
use builder::{BuildConfig, BuildInput, DomainLayout, ElfImage, StartInfo, VcpuRegs};
use disk_image::fs::FileSink;
use disk_image::{Disk, DiskError, PathErrorKind, ReadAt};

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
    /// Keep the trace's detailed events in the result (`--trace`).
    pub keep_events: bool,
}

impl Default for PvOptions {
    fn default() -> Self {
        PvOptions {
            loader: Loader::PvgrubAws,
            entry: EntryRequest::Default,
            memory: DEFAULT_MEMORY,
            build: BuildConfig::default(),
            cost: CostModel::default(),
            keep_events: false,
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
    /// Every event the trace kept (hypercalls, grant ops, ring requests and
    /// responses, notifies, xenstore, file reads), when asked for.
    pub events: Vec<crate::machine::Event>,
    /// What PV-GRUB printed on the Xen console (Mini-OS's disk line, the
    /// menu or its countdown, each entry booted or tried with its commands
    /// and errors), as GRUB's text with its "\r" and "\n"; `None` for
    /// pygrub, which runs in dom0 and prints nothing in the guest.
    pub console: Option<String>,
}

/// Errors of a PV run that are not the image's fault (the device layer's
/// own error is [`crate::devices::PvError`]).
#[derive(Debug, thiserror::Error)]
pub enum PvRunError {
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

/// Reads a boot file through PV-GRUB's disk into a [`HostBuffer`]: a
/// kernel is tens of MiB, and a huge-page buffer saves the host most of
/// the page faults a `Vec` of that size costs (see `machine::memory`).
fn read_hit(disk: &Disk, hit: &FileHit) -> Result<HostBuffer, DiskError> {
    struct Sink(Option<HostBuffer>);
    impl FileSink for Sink {
        fn buffer(&mut self, len: usize) -> std::io::Result<&mut [u8]> {
            Ok(self.0.insert(HostBuffer::zeroed(len)?))
        }
    }
    let path = |path: &str, kind, detail: &str| DiskError::Path { path: path.into(), detail: detail.into(), kind };
    let v = disk.volume(&hit.device).ok_or_else(|| path(&hit.device, PathErrorKind::NotFound, "no such device"))?;
    let fs = disk.open_fs(&v)?;
    let mut sink = Sink(None);
    fs.read_file_into(&hit.resolved_path, MAX_BOOT_FILE, &mut sink)?;
    sink.0.ok_or_else(|| path(&hit.resolved_path, PathErrorKind::Other, "read without a buffer"))
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
pub fn run(image: Arc<dyn ReadAt>, opts: &PvOptions) -> Result<(PvRun, GuestMemory), PvRunError> {
    let memory = GuestMemory::new(opts.memory)?;
    let front = BlkfrontConfig::mini_os();
    let scratch_bytes = front.scratch_pages() * PAGE_SIZE;
    if scratch_bytes * 2 > memory.size() {
        return Err(PvRunError::TooSmall { memory: memory.size(), scratch: scratch_bytes });
    }
    let scratch = GuestPhysAddr(memory.size() - scratch_bytes);
    // Detailed events are kept only when asked for (`--trace`, `--json`
    // events); the counters and per-phase event counts are kept either way.
    let cap = if opts.keep_events { crate::machine::trace::DEFAULT_DETAIL_CAP } else { 0 };
    let mut sim = Sim::with_trace_cap(opts.cost.clone(), cap);
    sim.phase("xenstore: connect the vbd");
    let raw = image.clone();
    let io_config = PvIoConfig { scratch, front, ..PvIoConfig::default() };
    let devid = io_config.devid;
    let pvio = PvIo::new(image, memory, sim, io_config)?;
    let blk = Arc::new(BlkfrontDisk::new(pvio));
    on_sim(&blk, |s| s.phase("pv-grub: find the menu"));
    // PV-GRUB (GRUB 0.97) and pygrub have no volume manager: no LVM scan
    // through the ring.
    let disk = Disk::from_reader_without_lvm(blk.clone())?;
    let discovery = discover::discover(&disk, opts.loader);
    let choice = select::choose(&disk, &discovery, &opts.entry);
    // The same disk read from the image directly, outside the guest's I/O:
    // what the report adds to the loader's own reads is not charged to it.
    let raw_disk = Disk::from_reader_without_lvm(raw.clone()).ok();
    // When nothing is found, why: another loader's menu, an LV the loader
    // cannot see, a filesystem it cannot read.
    let hint = match &choice {
        Err(SelectError::NoConfig) => Some(no_menu_hint(raw_disk.as_ref(), &raw, opts.loader)),
        _ => None,
    };
    // PV-GRUB's console text (pygrub runs in dom0: no guest console).
    let console = match (opts.loader, &raw_disk) {
        (Loader::Pygrub, _) | (_, None) => None,
        (_, Some(raw)) => {
            Some(console::pvgrub(raw, devid, opts.memory, &discovery, &console::Tried::from_choice(choice.as_ref())))
        }
    };
    let outcome = load_and_build(&disk, &blk, choice, hint);
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
            build(&mut memory, &mut sim, *loaded, opts, scratch.0)?
        }
    };
    let summary = sim.summary();
    let events = if opts.keep_events { sim.trace.events().to_vec() } else { Vec::new() };
    Ok((PvRun { discovery, outcome, sim: summary, events, console }, memory))
}

enum Loaded {
    Stop(PvOutcome),
    Build(Box<LoadedKernel>),
}

struct LoadedKernel {
    choice: BootChoice,
    kernel_bytes: HostBuffer,
    initrd_bytes: Option<HostBuffer>,
}

/// PV-GRUB's part: choose the entry, read kernel and initrd through the ring.
/// Charges or marks something on the simulated clock while blkfront owns it.
fn on_sim(blk: &BlkfrontDisk, f: impl FnOnce(&mut Sim)) {
    if let Ok(mut pv) = blk.lock() {
        f(pv.sim_mut());
    }
}

/// `hint`: why no menu was found, when none was.
fn load_and_build(
    disk: &Disk,
    blk: &BlkfrontDisk,
    choice: Result<BootChoice, SelectError>,
    hint: Option<String>,
) -> Loaded {
    let choice = match choice {
        Ok(c) => c,
        Err(e) => {
            let stage = if matches!(e, SelectError::NoConfig) { Stage::Menu } else { Stage::Entry };
            return Loaded::Stop(cannot(stage, vec![e.to_string()], hint));
        }
    };
    on_sim(blk, |s| s.phase("pv-grub: load the kernel"));
    let kernel_bytes = match read_hit(disk, &choice.kernel) {
        Ok(b) => b,
        Err(e) => return Loaded::Stop(cannot(Stage::Kernel, vec![e.to_string()], None)),
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
                Err(e) => return Loaded::Stop(cannot(Stage::Kernel, vec![e.to_string()], None)),
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
    limit: u64,
) -> Result<PvOutcome, PvRunError> {
    let LoadedKernel { choice, kernel_bytes, initrd_bytes } = loaded;
    let mut payload_elf = Vec::new();
    let (report, in_guest) = match decompress_in_guest(memory, &kernel_bytes, limit)? {
        Some((r, at)) => (Ok(r), at),
        None => (kernel::inspect_keep_elf(&kernel_bytes, &InspectOptions::default(), &mut payload_elf), None),
    };
    let report = match report {
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
        if let Some((base, len)) = in_guest {
            memory.discard(base, len.div_ceil(PAGE_SIZE) * PAGE_SIZE)?;
        }
        return Ok(cannot(Stage::Kernel, messages, hint));
    };
    let layout = pv.layout.expect("a bootable PV verdict carries libelf's layout");
    let elf_image = match in_guest {
        Some((base, len)) => ElfImage::InGuest { base, len },
        None if payload_elf.is_empty() => ElfImage::Bytes(&kernel_bytes),
        None => ElfImage::Bytes(&payload_elf),
    };
    let input = BuildInput {
        elf: elf_image,
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

/// Where a Linux x86_64 vmlinux's first PT_LOAD starts in the file: ld's
/// `-z max-page-size=0x200000` puts `.text` at 2 MiB. Only a first guess
/// of where to decompress; a wrong one costs a move inside guest memory.
const GUESS_TEXT_OFFSET: u64 = 0x20_0000;

/// Decompresses a bzImage's payload straight into guest memory, at the
/// address that puts every PT_LOAD where the builder wants it (libxenguest
/// decompresses into its own buffer and copies each segment; here the
/// segments land in place and only bss and the bytes outside them are
/// zeroed). The ELF header is not known before decompressing, so the
/// payload goes first where a Linux kernel's would (`pref_address` minus
/// the usual offset of `.text`), then moves if the program headers say
/// otherwise. Returns the report and the ELF's place for
/// [`ElfImage::InGuest`], or the report alone when the kernel is not PV
/// bootable. `None` (guest memory as it was) when this does not apply —
/// not a bzImage, a payload that fails to decompress or parse, segments
/// that are not one contiguous image, no room below `limit` (PV-GRUB's
/// pages) — and the ordinary path takes over and reports.
#[allow(clippy::type_complexity)]
fn decompress_in_guest(
    memory: &mut GuestMemory,
    bytes: &[u8],
    limit: u64,
) -> Result<Option<(KernelReport, Option<(GuestPhysAddr, u64)>)>, PvRunError> {
    let opts = InspectOptions::default();
    let Some((codec, loc, len)) = kernel::payload_to_decompress(bytes, &opts) else { return Ok(None) };
    let Ok(header) = kernel::SetupHeader::parse(bytes) else { return Ok(None) };
    let pages = |len: u64| len.div_ceil(PAGE_SIZE) * PAGE_SIZE;
    let limit = limit.min(memory.size());
    let fits = |base: u64| base.checked_add(pages(len)).is_some_and(|e| e <= limit);
    let pref = header.pref_address.unwrap_or_else(|| u64::from(header.load_address()));
    let guess = (pref.saturating_sub(GUESS_TEXT_OFFSET) / PAGE_SIZE) * PAGE_SIZE;
    if len == 0 || !fits(guess) {
        return Ok(None);
    }
    let at = GuestPhysAddr(guess);
    // payload_to_decompress checked the location against the file.
    let payload = &bytes[loc.offset as usize..(loc.offset + loc.length) as usize];
    let decoded = kernel::decompress_into(codec, payload, memory.slice_mut(at, len)?).is_ok();
    let report = if decoded { kernel::inspect_with_payload(bytes, &opts, memory.slice(at, len)?).ok() } else { None };
    let Some(report) = report else {
        memory.discard(at, pages(len))?;
        return Ok(None);
    };
    let layout = report.pv.as_ref().filter(|p| p.bootable).and_then(|p| p.layout);
    let (Some(layout), Some(elf)) = (layout, report.elf.as_ref()) else {
        memory.discard(at, pages(len))?;
        return Ok(Some((report, None)));
    };
    // The base that leaves the largest segment in place; the others move
    // inside guest memory (x86_64 Linux: .data..percpu sits lower in
    // physical memory than its file offset says).
    let dests: Option<Vec<(u64, u64, u64)>> = elf
        .load_segments
        .iter()
        .map(|s| builder::kernel_segment_dest(&layout, s.paddr).map(|d| (s.offset, d, s.filesz)))
        .collect();
    let base = dests.as_ref().and_then(|d| {
        let &(offset, dest, _) = d.iter().max_by_key(|s| s.2)?;
        let base = dest.checked_sub(offset)?;
        let ok = base.is_multiple_of(PAGE_SIZE) && fits(base) && builder::move_order(GuestPhysAddr(base), d).is_some();
        ok.then_some(base)
    });
    let Some(base) = base else {
        memory.discard(at, pages(len))?;
        return Ok(None);
    };
    if base != guess {
        memory.copy_within(at, GuestPhysAddr(base), len)?;
        let (old, new) = (guess..guess + pages(len), base..base + pages(len));
        let stale = if base > guess { old.start..old.end.min(new.start) } else { old.start.max(new.end)..old.end };
        if stale.end > stale.start {
            memory.discard(GuestPhysAddr(stale.start), stale.end - stale.start)?;
        }
    }
    Ok(Some((report, Some((GuestPhysAddr(base), len)))))
}

/// Why `loader` found no menu on `disk` (the image read outside the
/// guest's I/O, without LVM as the loaders see it; `raw` with LVM for the
/// volumes they cannot see): another loader's menu, a menu on an LV, a
/// filesystem it cannot read.
fn no_menu_hint(disk: Option<&Disk>, raw: &Arc<dyn ReadAt>, loader: Loader) -> String {
    const NONE: &str = "no PV loader finds a menu on this image";
    let Some(disk) = disk else { return NONE.into() };
    let others: Vec<String> = Loader::ALL
        .into_iter()
        .filter(|&l| l != loader)
        .filter_map(|l| {
            discover::discover(disk, l).config.map(|c| format!("{} finds {}{}", l.name(), c.file.device, c.file.path))
        })
        .collect();
    if !others.is_empty() {
        return others.join("; ");
    }
    Disk::from_reader(raw.clone())
        .ok()
        .and_then(|d| boot_config::configs::lvm_hint(&d))
        .or_else(|| boot_config::fs_support::unreadable_hint(disk, loader.fs_reader(), loader.name()))
        .unwrap_or_else(|| NONE.into())
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
