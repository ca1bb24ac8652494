//! What `run` is asked to do ([`RunArgs`]) and what a boot hands on
//! ([`KernelEntry`]): the types `run`, `run_hvm`, `run_pvhvm`, `compare`
//! and `ami launch` share, kept below all of them so none imports another
//! for them.

use std::path::{Path, PathBuf};

use boot_config::discover::Loader;

use crate::output::Exit;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// PV-GRUB (or pygrub) and the Xen domain builder.
    Pv,
    /// hvmloader/SeaBIOS-like firmware runs the MBR and what it loads,
    /// instruction by instruction, disk I/O through an emulated IDE
    /// controller (every register access a counted exit).
    Hvm,
    /// The HVM boot to the Linux entry, then the guest's PV drivers on
    /// the same machine: the Xen platform device, the IDE unplug, blkfront
    /// reading the root filesystem over the blkif ring.
    Pvhvm,
}

/// The CLI's wall-clock budget for a guest run (`--max-seconds`'s
/// default), a last resort behind the instruction cap: real loaders take
/// 0.2–8 s of host time to the kernel (GRUB 2.12 on btrfs is the slowest
/// measured, 7.6 s release, more on a loaded machine), and a hostile boot
/// sector ends at the cap or within this budget.
pub(crate) const MAX_SECONDS: u64 = 60;

/// The machine options `run` and `compare` both take: the cost model and
/// the HVM budgets (one definition, so their `--help` texts stay the same).
#[derive(Debug, Clone, clap::Args)]
pub struct MachineArgs {
    /// TOML file overriding the simulated costs (see docs/cost-model.md).
    #[arg(long)]
    pub cost_model: Option<PathBuf>,
    /// HVM: stop after this many guest instructions.
    #[arg(long, default_value_t = boot::hvm::DEFAULT_MAX_INSTRUCTIONS)]
    pub max_instructions: u64,
    /// HVM: stop after this many seconds of wall-clock time, a last
    /// resort behind --max-instructions (a guest looping on slow work).
    #[arg(long, default_value_t = MAX_SECONDS, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub max_seconds: u64,
}

pub struct RunArgs<'a> {
    pub image: &'a Path,
    pub mode: Mode,
    pub loader: Loader,
    pub entry: Option<&'a str>,
    pub memory_mib: u64,
    pub json: bool,
    pub dump_start_info: bool,
    pub machine: MachineArgs,
    pub keys: &'a str,
    pub trace: Option<&'a str>,
    /// PVHVM: file data the post-switch boot workload reads at most, MiB.
    pub read_mib: u64,
}

/// What the loader handed the kernel: its command line and the device it
/// read the kernel from, in GRUB's naming (`ami launch --user-data` finds
/// the root filesystem from them).
#[derive(Debug, Clone)]
pub struct KernelEntry {
    pub cmdline: String,
    pub kernel_device: Option<String>,
}

/// `--cost-model FILE`, or the default model.
pub(crate) fn cost_model(path: Option<&Path>) -> Result<boot::machine::CostModel, Exit> {
    Ok(match path {
        Some(p) => {
            let text = crate::input::read_text(p, "a cost model")?;
            boot::machine::CostModel::from_toml_str(&text).map_err(|e| Exit::Error(format!("{}: {e}", p.display())))?
        }
        None => boot::machine::CostModel::default(),
    })
}
