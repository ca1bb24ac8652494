//! The PV boot path: a PV loader finds the menu and picks an entry, the
//! kernel and initrd are read from the image, and the domain builder lays
//! out the guest; the run stops at the kernel's first instruction.

pub mod builder;

use serde::Serialize;

use crate::kernel::{self, InspectOptions, KernelReport};
use crate::machine::{GuestMemory, GuestPhysAddr, PAGE_SIZE, Pfn};
use builder::{BuildConfig, BuildInput, DomainLayout, StartInfo, VcpuRegs};
use disk_image::Disk;
use disk_image::menu::discover::{self, Discovery, FileHit, Loader};
use disk_image::menu::select::{self, BootChoice, EntryRequest, SelectError};

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
}

impl Default for PvOptions {
    fn default() -> Self {
        PvOptions {
            loader: Loader::PvgrubAws,
            entry: EntryRequest::Default,
            memory: DEFAULT_MEMORY,
            build: BuildConfig::default(),
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
}

/// Errors that are not the image's fault.
#[derive(Debug, thiserror::Error)]
pub enum PvError {
    #[error("guest memory: {0}")]
    Memory(#[from] crate::machine::MemoryError),
}

fn cannot(stage: Stage, messages: Vec<String>, hint: Option<String>) -> PvOutcome {
    PvOutcome::CannotBoot(CannotBoot { stage, messages, hint })
}

fn read_hit(disk: &Disk, hit: &FileHit) -> Result<Vec<u8>, String> {
    let v = disk.volume(&hit.device).ok_or_else(|| format!("{}: no such device", hit.device))?;
    let fs = disk.open_fs(&v).map_err(|e| e.to_string())?;
    fs.read_file(&hit.resolved_path, MAX_BOOT_FILE).map_err(|e| e.to_string())
}

/// Runs the PV path on `disk` to the kernel's first instruction, building
/// the guest into `memory` (sized by `opts.memory`; the caller keeps it to
/// inspect or dump).
pub fn run(disk: &Disk, opts: &PvOptions) -> Result<(PvRun, GuestMemory), PvError> {
    let mut memory = GuestMemory::new(opts.memory)?;
    let discovery = discover::discover(disk, opts.loader);
    let choice = match select::choose(disk, &discovery, &opts.entry) {
        Ok(c) => c,
        Err(e) => {
            let stage = if matches!(e, SelectError::NoConfig) { Stage::Menu } else { Stage::Entry };
            let hint = match &e {
                SelectError::NoConfig => Some(no_menu_hint(disk, opts.loader)),
                _ => None,
            };
            let outcome = cannot(stage, vec![e.to_string()], hint);
            return Ok((PvRun { discovery, outcome }, memory));
        }
    };
    let kernel_bytes = match read_hit(disk, &choice.kernel) {
        Ok(b) => b,
        Err(e) => return Ok((PvRun { discovery, outcome: cannot(Stage::Kernel, vec![e], None) }, memory)),
    };
    let initrd_bytes = match choice.initrd.first().map(|h| read_hit(disk, h)).transpose() {
        Ok(b) => b,
        Err(e) => return Ok((PvRun { discovery, outcome: cannot(Stage::Kernel, vec![e], None) }, memory)),
    };
    let mut payload_elf = Vec::new();
    let report = match kernel::inspect_keep_elf(&kernel_bytes, &InspectOptions::default(), &mut payload_elf) {
        Ok(r) => r,
        Err(e) => {
            let msg = format!("{}{}: {e}", choice.kernel.device, choice.kernel.resolved_path);
            return Ok((PvRun { discovery, outcome: cannot(Stage::Kernel, vec![msg], None) }, memory));
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
        return Ok((PvRun { discovery, outcome: cannot(Stage::Kernel, messages, hint) }, memory));
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
    let built = match builder::build(&mut memory, &input, &opts.build) {
        Ok(b) => b,
        Err(e) => {
            let hint = matches!(e, builder::BuildError::TooLarge { .. } | builder::BuildError::MappingTooLarge { .. })
                .then(|| format!("give the guest more memory than {} MiB (--memory)", opts.memory >> 20));
            return Ok((PvRun { discovery, outcome: cannot(Stage::Build, vec![e.to_string()], hint) }, memory));
        }
    };
    let start_info = StartInfo::read(&memory, Pfn(built.start_info_pfn).addr())?;
    let boot = PvBoot {
        choice,
        kernel: report,
        vcpu: built.vcpu,
        start_info,
        touched_pages: memory.touched_pages(),
        layout: built,
    };
    Ok((PvRun { discovery, outcome: PvOutcome::Booted(Box::new(boot)) }, memory))
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
