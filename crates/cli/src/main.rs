//! `boot-sim`: a Xen-style boot simulator. This binary parses arguments,
//! calls the library crates and renders what they return; it is the only
//! place that prints. It holds no model of its own: what an image, a
//! config, a kernel or a boot is belongs to the crates below
//! (docs/architecture.md).
#![forbid(unsafe_code)]

mod ami;
mod bench;
mod cat;
mod compare;
mod input;
mod inspect;
mod kernel;
mod lab;
mod menu;
mod output;
mod progress;
mod run;
mod run_args;
mod run_hvm;
mod run_pvhvm;
mod svg;
mod timeline;
mod userdata;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use output::Out;

/// Shows, step by step, how a raw disk image (an AMI root volume) boots
/// under Xen: HVM (firmware, MBR, boot loader) or PV (PV-GRUB, domain builder).
///
/// Exit status: 0 success, 1 the image cannot boot the way asked,
/// 2 usage or I/O error (including images too damaged to read).
#[derive(Parser, Debug)]
#[command(name = "boot-sim", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

// `defer`: clap derive otherwise builds every subcommand's arguments (and
// `ami`'s and `lab`'s subcommand trees) at every start, for a parse that
// uses one of them; deferred, a subcommand's arguments are built when the
// parser reaches it (clap_builder `Command::defer`, run by `_build_self`).
// Help, errors and parsing are unchanged; `introspection_command` gives
// `man` and `completions` the whole tree.
#[derive(Subcommand, Debug)]
#[command(defer = true)]
enum Command {
    /// Layout, boot code, filesystems and boot-loader configs of an image.
    ///
    /// Reads the partition table (MBR with logical partitions, GPT with its
    /// backup, or none), names every partition the way GRUB legacy
    /// ((hd0,0)), GRUB 2 ((hd0,msdos1)) and Linux/Xen (xvda1) do, identifies
    /// the boot code in sector 0 and where it loads its next stage from,
    /// and lists the GRUB/extlinux/BLS config files on each filesystem with
    /// their symlinks resolved. The image is opened read-only.
    ///
    /// Example: boot-sim inspect fixtures/images/pv-whole-disk.img
    Inspect {
        /// The raw disk image.
        image: PathBuf,
        /// JSON Lines: one object per line with a "type" field
        /// (disk, partition, config, diagnostic).
        #[arg(long)]
        json: bool,
    },
    /// Print a file from a filesystem inside the image, following symlinks.
    ///
    /// The path takes a GRUB or Linux device prefix: (hd0,0)/boot/grub/menu.lst,
    /// (hd0,msdos1)/etc/fstab, xvda5:/boot/grub/menu.lst, or just a path when
    /// the image has a single filesystem (the first one with the file wins).
    ///
    /// Example: boot-sim cat fixtures/images/pv-whole-disk.img /boot/grub/menu.lst
    Cat {
        image: PathBuf,
        /// [DEVICE]PATH, e.g. (hd0,0)/boot/grub/grub.conf
        path: String,
    },
    /// What a kernel image is and whether each boot path can start it.
    ///
    /// Reads an ELF vmlinux or a bzImage: the Linux setup header, the
    /// compressed payload (gzip, bzip2, xz, lzma, lzo, lz4, zstd —
    /// decompressed, bounded), the ELF inside, its Xen ELF notes, and a
    /// verdict per path: PV (in the words of Xen's domain builder) and HVM
    /// (boot protocol, entry points, what GRUB legacy prints for it).
    ///
    /// Examples: boot-sim kernel vmlinuz-6.1.0-13-cloud-amd64
    ///           boot-sim kernel disk.img '(hd0,0)/boot/vmlinuz'
    Kernel {
        /// A kernel file, or a disk image when PATH is given.
        file: PathBuf,
        /// [DEVICE]PATH of the kernel inside the disk image FILE.
        path: Option<String>,
        /// One JSON object (type "kernel") with the whole report.
        #[arg(long)]
        json: bool,
    },
    /// Simulate a boot to the kernel's first instruction.
    ///
    /// --mode pv: the PV loader (PV-GRUB or pygrub) finds the menu and
    /// picks an entry (default, `default saved`, fallback after failures,
    /// or --entry), the kernel and initrd are read from the image, the
    /// kernel is checked the way Xen's domain builder checks it, and the
    /// x86_64 domain is built into guest memory: the kernel's segments, the
    /// initrd, the p2m list, start_info, the xenstore and console pages, the
    /// bootstrap page tables and stack. The run stops at the kernel entry
    /// with vCPU0's registers and start_info decoded from guest memory.
    ///
    /// --mode hvm: the firmware (hvmloader + a SeaBIOS-like BIOS, in Rust)
    /// runs the MBR and whatever it loads on an x86 interpreter; the BIOS's
    /// int 13h drives an emulated IDE controller port by port, each access
    /// a counted, costed exit. The boot loader's own code runs (GRUB,
    /// SYSLINUX, any loader; boot-sim models none) to the kernel's 32-bit
    /// entry, or the run stops at a halt, a key wait, the instruction cap,
    /// or a failure, with the screen, the disk reads by file and the
    /// counters.
    ///
    /// --mode pvhvm: the HVM boot to the Linux entry, then on the same
    /// machine what the kernel's PV drivers do: find the Xen platform PCI
    /// device, check its magic, unplug the emulated IDE disk (port 0x10),
    /// connect blkfront through xenstore and read the root filesystem's
    /// boot files over the blkif ring (--read-mib).
    ///
    /// Exit status 1 when the image cannot boot this way (with the reason).
    ///
    /// Examples: boot-sim run fixtures/images/pv-kernel.img --mode pv
    ///           boot-sim run fixtures/images/hvm-test.img --mode hvm --keys 'y'
    Run {
        image: PathBuf,
        #[arg(long, value_enum)]
        mode: run_args::Mode,
        /// The PV loader (see `boot-sim menu --help`).
        #[arg(long, default_value = "pvgrub-aws", value_parser = parse_loader)]
        loader: boot_config::discover::Loader,
        /// Boot this entry instead of the default: an index from 0, or a title.
        #[arg(long)]
        entry: Option<String>,
        /// Guest memory in MiB.
        #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=16384))]
        memory: u64,
        /// Print every start_info field decoded from guest memory.
        #[arg(long)]
        dump_start_info: bool,
        #[command(flatten)]
        machine: run_args::MachineArgs,
        /// HVM: keystrokes for int 16h, in order: characters as typed,
        /// \n Enter, \e Escape, \t Tab, \b Backspace, \\ a backslash,
        /// \{ a brace; grey keys {up} {down} {left} {right} {home} {end}
        /// {pgup} {pgdn} {del}. The GRUB legacy, GRUB 2 and SYSLINUX menus
        /// (menu.c32) read them: `{down}\n` boots the second entry, a key
        /// that moves the highlight stops the countdown; at SYSLINUX's
        /// `boot:` prompt (PROMPT 1, or Esc in menu.c32) type a label and
        /// arguments: `linux single\n`. Keys are typed one at a time while
        /// the loader waits for input (200 ms of its polling before each, a
        /// person's pace), not ahead of it.
        #[arg(long, default_value = "")]
        keys: String,
        /// Show the trace. PV: every hypercall, grant op, ring request and
        /// response, notify, xenstore access and file read (JSON: `event`
        /// objects). HVM: calls (BIOS calls, disk requests) or full (every
        /// port exit).
        #[arg(long, num_args = 0..=1, default_missing_value = "calls")]
        trace: Option<String>,
        /// PVHVM: file data (under /boot, /etc, /usr/lib) the root
        /// filesystem reads over the blkif ring after the switch, MiB.
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=4096))]
        read_mib: u64,
        /// JSON Lines: `event` objects, then one `result` object.
        #[arg(long)]
        json: bool,
    },
    /// AMIs: register an image with its settings, launch it on an instance
    /// type (checks, then the boot), copy, permissions, storage footprint.
    ///
    /// Example: boot-sim ami launch ami-0123456789abcdef0 --instance-type t2.micro
    Ami(ami::AmiArgs),
    /// The teaching labs of docs/labs/, and `lab check`: an image repaired
    /// (lab 3) or migrated to HVM (lab 4), or an answers file (labs 1, 2, 5, 6).
    ///
    /// Example: boot-sim lab check 4 lab4/hvm.img
    #[command(subcommand)]
    Lab(lab::LabCommand),
    /// The hvm, pv and pvhvm boots of an image side by side: simulated
    /// time to the kernel entry, the I/O counters of each, the PV-on-HVM
    /// switch, and the same root-filesystem reads after the entry (hvm over
    /// emulated IDE DMA, pv and pvhvm over the blkif ring).
    ///
    /// Exit status 1 when neither the hvm nor the pv boot reaches a kernel.
    ///
    /// Example: boot-sim compare fixtures/images/hvm-simboot.img --svg boot.svg
    Compare {
        image: PathBuf,
        /// The PV loader (see `boot-sim menu --help`).
        #[arg(long, default_value = "pvgrub-aws", value_parser = parse_loader)]
        loader: boot_config::discover::Loader,
        /// Guest memory in MiB.
        #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=16384))]
        memory: u64,
        #[command(flatten)]
        machine: run_args::MachineArgs,
        /// File data the root-filesystem reads after the entry take, MiB.
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u64).range(1..=4096))]
        read_mib: u64,
        /// JSON Lines: one `result` object.
        #[arg(long)]
        json: bool,
        /// Write an SVG timeline: one lane per mode, one bar per phase.
        #[arg(long)]
        svg: Option<PathBuf>,
    },
    /// Emulated IDE (PIO, DMA) vs PV blkfront vs PVHVM: the same reads
    /// over each I/O path, in simulated time from the cost model.
    ///
    /// Every IDE register access is a counted VM exit to the device model;
    /// the PV paths count ring requests, grants, notifies and hypercalls;
    /// PVHVM adds its one-time platform-device detection and unplug. The
    /// medium defaults to `ideal` so the paths, not the disk, are compared.
    /// Prints a table (or JSON Lines) and can write an SVG chart.
    ///
    /// Example: boot-sim bench --workload rand --qd 8 --svg io.svg
    Bench(bench::BenchArgs),
    /// The boot menu a PV loader finds, and the entry it boots.
    ///
    /// Shows every place the loader looked for its menu, the menu as the
    /// loader reads it (default, timeout, fallback, entries), the entry it
    /// boots and why (default, `default saved`, fallback after a failed
    /// entry, or --entry), and the kernel, initrd and command line it loads.
    /// With --loader pygrub, lists where real GRUB would boot something else.
    ///
    /// Exit status 1 when no entry can be booted.
    ///
    /// Example: boot-sim menu fixtures/images/pv-whole-disk.img --loader pvgrub-hd0
    Menu {
        image: PathBuf,
        /// pvgrub-aws (nine places: (hd0) then (hd0,0..3) /boot/grub and /grub),
        /// pvgrub-hd0, pvgrub-hd00, pygrub, or all.
        #[arg(long, default_value = "pvgrub-aws", value_parser = parse_loaders)]
        loader: LoaderArg,
        /// Boot this entry instead of the default: an index from 0, or a title.
        #[arg(long)]
        entry: Option<String>,
        /// pygrub's --offset=BYTES: read only the filesystem at this byte
        /// offset (e.g. a logical partition); --loader pygrub only.
        #[arg(long)]
        offset: Option<u64>,
        /// JSON Lines: probe, menu, entry, diagnostic, choice|error objects.
        #[arg(long)]
        json: bool,
    },
    /// A shell completion script, generated from these definitions.
    ///
    /// Example: boot-sim completions bash > ~/.local/share/bash-completion/completions/boot-sim
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
    /// The man page (roff), generated from these definitions.
    ///
    /// Example: boot-sim man | man -l -
    Man,
}

#[derive(Debug, Clone)]
struct LoaderArg(Vec<boot_config::discover::Loader>);

fn parse_loaders(s: &str) -> Result<LoaderArg, String> {
    use boot_config::discover::Loader;
    if s == "all" {
        return Ok(LoaderArg(Loader::ALL.to_vec()));
    }
    Loader::from_name(s)
        .map(|l| LoaderArg(vec![l]))
        .ok_or_else(|| format!("unknown loader {s:?}; expected pvgrub-aws, pvgrub-hd0, pvgrub-hd00, pygrub or all"))
}

fn parse_loader(s: &str) -> Result<boot_config::discover::Loader, String> {
    boot_config::discover::Loader::from_name(s)
        .ok_or_else(|| format!("unknown loader {s:?}; expected pvgrub-aws, pvgrub-hd0, pvgrub-hd00 or pygrub"))
}

/// `boot-sim man`: the top page, then one section per subcommand (nested
/// ones too: `ami register`, `lab check`), so the page documents every
/// command's options.
fn man(out: &mut Out) -> Result<(), output::Exit> {
    let cmd = introspection_command();
    clap_mangen::Man::new(cmd.clone()).render(out)?;
    fn sections(out: &mut Out, cmd: &clap::Command, prefix: &str) -> Result<(), output::Exit> {
        // A global option is documented where it is defined: the copies
        // the build gave its subcommands are hidden here (the page has
        // always read the tree unbuilt, without them).
        let inherited: Vec<clap::Id> =
            cmd.get_arguments().filter(|a| a.is_global_set()).map(|a| a.get_id().clone()).collect();
        for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
            let sub = &inherited
                .iter()
                .filter(|id| sub.get_arguments().any(|a| a.get_id() == *id))
                .fold(sub.clone(), |s, id| s.mut_arg(id, |a| a.hide(true)));
            let name = format!("{prefix} {}", sub.get_name());
            use std::io::Write;
            writeln!(out, ".SH \"{}\"", name.to_uppercase())?;
            if let Some(about) = sub.get_long_about().or(sub.get_about()) {
                for para in about.to_string().split("\n\n") {
                    writeln!(out, ".PP\n{}", roff_escape(para))?;
                }
            }
            let usage = sub.clone().bin_name(&name).render_usage().to_string();
            writeln!(out, ".PP\n{}", roff_escape(&usage))?;
            // The subcommands come built (see `introspection_command`): clap's
            // own --help and --version, which the page has never listed, are
            // left out.
            let generated = |a: &clap::Arg| {
                matches!(
                    a.get_action(),
                    clap::ArgAction::Help
                        | clap::ArgAction::HelpShort
                        | clap::ArgAction::HelpLong
                        | clap::ArgAction::Version
                )
            };
            for arg in sub.get_arguments().filter(|a| !a.is_hide_set() && !generated(a)) {
                let flag = match (arg.get_short(), arg.get_long()) {
                    (_, Some(l)) => format!("--{l}"),
                    (Some(s), None) => format!("-{s}"),
                    (None, None) => format!("<{}>", arg.get_id().as_str().to_uppercase()),
                };
                writeln!(out, ".TP\n\\fB{}\\fR", roff_escape(&flag))?;
                if let Some(h) = arg.get_long_help().or(arg.get_help()) {
                    writeln!(out, "{}", roff_escape(&h.to_string()))?;
                }
            }
            sections(out, sub, &name)?;
        }
        Ok(())
    }
    sections(out, &cmd, "boot-sim")
}

/// The whole command tree with every deferred subcommand resolved, for
/// generators that walk it (`man`, `completions`), as it was before the
/// subcommands were deferred. Building resolves them, but the top level
/// copies its subcommands into the `help` subcommand's tree before it
/// resolves them (clap_builder `_check_help_and_version`), so that tree
/// would miss `help ami register`; and a subcommand resolved by its own
/// build has gained its own `help`, which the copy must not have. So: the
/// top level is built over subcommands resolved without their `help`, then
/// they are swapped for the ones resolved in a whole build.
fn introspection_command() -> clap::Command {
    let mut full = Cli::command();
    full.build();
    let names: Vec<String> = full.get_subcommands().map(|s| s.get_name().to_string()).filter(|n| n != "help").collect();
    let mut cmd = Cli::command();
    for name in &names {
        cmd = cmd.mut_subcommand(name, |s| {
            let mut s = s.disable_help_subcommand(true);
            s.build();
            s
        });
    }
    cmd.build();
    for sub in full.get_subcommands().filter(|s| s.get_name() != "help") {
        let resolved = sub.clone();
        cmd = cmd.mut_subcommand(sub.get_name(), |_| resolved);
    }
    // `mut_subcommand` moves the one it changes to the end: `help` goes
    // back after the others, where the build put it.
    cmd.mut_subcommand("help", |help| help)
}

/// Text for roff: backslashes doubled, a leading dot or quote escaped.
fn roff_escape(s: &str) -> String {
    s.lines()
        .map(|l| {
            let l = l.replace('\\', "\\e");
            if l.starts_with('.') || l.starts_with('\'') { format!("\\&{l}") } else { l }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let mut out = Out::stdout();
    let result = match cli.command {
        Command::Inspect { image, json } => inspect::run(&mut out, &image, json),
        Command::Cat { image, path } => cat::run(&mut out, &image, &path),
        Command::Kernel { file, path, json } => kernel::run(&mut out, &file, path.as_deref(), json),
        Command::Run { image, mode, loader, entry, memory, dump_start_info, machine, keys, trace, read_mib, json } => {
            run::run(
                &mut out,
                &run_args::RunArgs {
                    image: &image,
                    mode,
                    loader,
                    entry: entry.as_deref(),
                    memory_mib: memory,
                    json,
                    dump_start_info,
                    machine,
                    keys: &keys,
                    trace: trace.as_deref(),
                    read_mib,
                },
            )
        }
        Command::Compare { image, loader, memory, machine, read_mib, json, svg } => compare::run(
            &mut out,
            &compare::CompareArgs {
                image: &image,
                loader,
                memory_mib: memory,
                machine,
                read_mib,
                json,
                svg: svg.as_deref(),
            },
        ),
        Command::Bench(args) => bench::run(&mut out, &args),
        Command::Ami(args) => ami::run(&mut out, args),
        Command::Lab(cmd) => lab::run(&mut out, cmd),
        Command::Menu { image, loader, entry, offset, json } => {
            menu::run(&mut out, &image, &loader.0, entry.as_deref(), offset, json)
        }
        Command::Completions { shell } => {
            clap_complete::generate(shell, &mut introspection_command(), "boot-sim", &mut out);
            Ok(())
        }
        Command::Man => man(&mut out),
    };
    output::finish(out, result)
}
