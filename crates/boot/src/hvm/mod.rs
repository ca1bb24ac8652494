//! The HVM boot path: hvmloader + a SeaBIOS-like BIOS as high-level
//! emulation in Rust, the emulated IDE disk, and the x86 interpreter running
//! the image's boot sector and whatever it loads.
//!
//! [`run`] powers the machine on: "hvmloader" lays out the E820 map and
//! prints its banner on the debug port 0xE9, "SeaBIOS" POSTs (IVT, BDA,
//! EBDA, probing the IDE channels through real port accesses), then boots
//! the disk as SeaBIOS's int 19h does and executes the MBR instruction by
//! instruction. BIOS services are Rust callbacks reached through the IVT
//! (each vector points at a stub `int n; iret` in the F000 segment, so a
//! guest that hooks and chains a vector still reaches the BIOS). The int 13h
//! service drives the IDE controller through port accesses in exactly the
//! order SeaBIOS's `src/hw/ata.c` does, so every register access is a
//! counted, costed VM exit.
//!
//! The loader's own code runs on the interpreter: boot-sim has no model of
//! any boot loader. Every run ends with an [`EndState`]: the kernel's 32-bit
//! entry (where [`linux`] reads what the loader did from boot_params), a
//! halt, a key wait, the instruction cap, a triple fault, an instruction
//! the interpreter cannot execute, "No bootable device" or a reset. What
//! the loader did on the way is explained from what executed ([`explain`]).
//!
//! Layout: `vm` is the machine (CPU, bus, BIOS state) and its run loop;
//! `firmware` and `bios` are hvmloader's and SeaBIOS's work; [`bus`] is the
//! port and memory map that routes the guest to the devices, which live
//! beside the PV ones in [`crate::devices`] (IDE, PIT, COM1's UART, the Xen
//! platform device); [`console`] is the VGA text screen; [`trace`] the
//! run's timeline.

mod bios;
pub mod bus;
pub mod console;
pub mod explain;
mod firmware;
pub mod linux;
pub mod pvhvm;
pub mod trace;
mod vm;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use disk_image::ReadAt;
use serde::Serialize;

pub use crate::devices::ide::{BMIDE_BASE, Chs, IdeController, Translation};
pub use bus::{Origin, PortStat};
pub use console::transcript_text;
pub use linux::{EntryCheck, EntryRegs, KernelEntryInfo, PROTECTED_MODE};
pub use trace::{HvmEvent, HvmPhase, TimedEvent, TraceLevel};

use crate::machine::CostModel;

/// How the BIOS's ATA driver transfers data, i.e. how SeaBIOS was built.
/// Xen's build (`tools/firmware/seabios-config`) has `CONFIG_ATA_DMA=y` and
/// `CONFIG_ATA_PIO32=y`: reads into 2-byte-aligned buffers use bus-master
/// DMA (`ata_try_dma`), others PIO with `insl`. QEMU's own SeaBIOS build
/// has both off: PIO with `insw`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct AtaConfig {
    /// `CONFIG_ATA_DMA`.
    pub dma: bool,
    /// `CONFIG_ATA_PIO32`.
    pub pio32: bool,
}

impl AtaConfig {
    /// Xen's SeaBIOS configuration.
    pub const XEN: AtaConfig = AtaConfig { dma: true, pio32: true };
    /// QEMU's SeaBIOS configuration (no DMA, 16-bit PIO).
    pub const QEMU: AtaConfig = AtaConfig { dma: false, pio32: false };
}

/// The default instruction cap (`--max-instructions`): real loaders need a
/// few hundred million to the kernel entry (GRUB 2.06 with Debian's 14 MB
/// cloud kernel: about 300 M, most of it GRUB's byte-by-byte `memmove` of
/// the kernel out of the disk buffer), and BIOS calls count their work
/// toward it, so a guest looping on int 13h stops as soon as one looping on
/// plain instructions.
pub const DEFAULT_MAX_INSTRUCTIONS: u64 = 1_000_000_000;

/// Inputs of an HVM run.
#[derive(Clone, Debug)]
pub struct HvmOptions {
    /// Guest RAM in bytes (`--memory`); at least 2 MiB (hvmloader's
    /// `BUG_ON(low_mem_pgend < 2 MiB)`), at most 16 GiB.
    pub memory: u64,
    /// Instructions executed at most (`--max-instructions`), firmware
    /// services not counted.
    pub max_instructions: u64,
    /// Keystrokes for int 16h (`--keys`), in order. `\n` is Enter, `\e`
    /// Escape, `\t` Tab, `\b` Backspace, `\\` a backslash, `\{` a brace;
    /// `{up}` `{down}` `{left}` `{right}` `{home}` `{end}` `{pgup}`
    /// `{pgdn}` `{del}` the grey keys.
    pub keys: String,
    pub trace_level: TraceLevel,
    pub ata: AtaConfig,
    /// SeaBIOS's "Press ESC for boot menu." wait (`etc/boot-menu-wait`,
    /// default 2500 ms; Xen has no fw_cfg, so the menu prompt is shown).
    /// `None`: no prompt (QEMU's default `-boot menu=off`).
    pub boot_menu_wait_ms: Option<u32>,
    /// SeaBIOS's `etc/boot-fail-wait` (default 60 s under Xen); `None` =
    /// wait forever (QEMU passes -1).
    pub boot_fail_wait_ms: Option<u32>,
    /// Wall-clock budget of the guest's run, a last resort behind the
    /// instruction cap (default 60 s, as the CLI's `--max-seconds`).
    pub max_wall: std::time::Duration,
    pub cost: CostModel,
}

impl Default for HvmOptions {
    fn default() -> Self {
        HvmOptions {
            memory: 1 << 30,
            max_instructions: DEFAULT_MAX_INSTRUCTIONS,
            keys: String::new(),
            trace_level: TraceLevel::Summary,
            ata: AtaConfig::XEN,
            boot_menu_wait_ms: Some(2500),
            boot_fail_wait_ms: Some(60_000),
            max_wall: std::time::Duration::from_secs(60),
            cost: CostModel::default(),
        }
    }
}

/// A CS:IP with its linear address.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Loc {
    pub cs: u16,
    pub ip: u32,
    pub linear: u32,
}

impl fmt::Display for Loc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ip <= 0xFFFF {
            write!(f, "{:04X}:{:04X}", self.cs, self.ip)
        } else {
            write!(f, "{:04X}:{:08X}", self.cs, self.ip)
        }
    }
}

impl From<x86::Location> for Loc {
    fn from(l: x86::Location) -> Loc {
        Loc { cs: l.cs, ip: l.eip, linear: l.linear }
    }
}

/// How the run ended.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum EndState {
    /// The loader reached the Linux kernel's 32-bit entry (code32_start)
    /// with ESI pointing at boot_params.
    KernelEntry { at: Loc, info: Box<KernelEntryInfo> },
    /// Control reached the kernel's 32-bit entry, but boot_params at ESI
    /// does not hold a setup header boot-sim can read.
    BadBootParams { at: Loc, zero_page: u32, message: String },
    /// `hlt` with interrupts disabled: the machine sleeps forever.
    Halted { at: Loc },
    /// `hlt` with interrupts enabled, again and again, with nothing but the
    /// timer waking the guest for `seconds` of guest time (a loader's or
    /// Linux setup's "die" loop): it sleeps forever.
    Sleeping { at: Loc, seconds: u64 },
    /// A `jmp` to itself: nothing else can happen (boot-sim delivers the
    /// timer interrupt only to `hlt`), so the guest spins forever.
    Spinning { at: Loc },
    /// The instruction cap was reached (guest instructions plus the
    /// instruction-equivalents charged for the firmware's work).
    InstructionLimit { at: Loc, limit: u64 },
    /// The wall-clock budget ran out before the instruction cap.
    TimeLimit { at: Loc, seconds: f64 },
    /// An exception while delivering a double fault.
    TripleFault { at: Loc, first_exception: u8, name: String },
    /// The interpreter cannot go on (invalid or unsupported instruction,
    /// unmodelled feature, interrupt without handler).
    CpuStopped { at: Loc, kind: String, message: String, bytes: String, disassembly: Option<String> },
    /// SeaBIOS's boot list is exhausted.
    NoBootableDevice { message: String, reboots_after_ms: Option<u32> },
    /// int 16h is waiting for a key and `--keys` has none left.
    WaitingForKey { at: Loc, function: String },
    /// The guest reset the machine.
    Reset { at: Loc, how: String },
    /// The run could not start.
    SetupError { message: String },
}

impl EndState {
    /// One line for humans.
    pub fn reason(&self) -> String {
        match self {
            EndState::KernelEntry { at, info } => format!(
                "{} entered the Linux kernel ({}) at {at}, its 32-bit entry (code32_start) in flat protected mode; \
                 boot_params at {:#x}",
                info.loader, info.kernel, info.zero_page
            ),
            EndState::BadBootParams { at, zero_page, message } => format!(
                "control reached {at} with ESI = {zero_page:#x}, but boot_params there is unreadable: {message}"
            ),
            EndState::Halted { at } => format!("halted at {at} with interrupts disabled"),
            EndState::Spinning { at } => {
                format!(
                    "spins forever at {at}: a jump to itself (an endless `jmp $`), with nothing left to interrupt it"
                )
            }
            EndState::Sleeping { at, seconds } => format!(
                "halted at {at} again and again for {seconds} s of guest time with only the timer waking it: it sleeps forever"
            ),
            EndState::InstructionLimit { at, limit } => {
                format!("instruction limit of {limit} reached at {at} (endless loop? raise --max-instructions)")
            }
            EndState::TimeLimit { at, seconds } => {
                format!(
                    "wall-clock limit of {seconds} s reached at {at} (the guest's work is too slow to simulate; raise --max-seconds)"
                )
            }
            EndState::TripleFault { at, name, .. } => {
                format!("triple fault at {at} (first exception {name}): the CPU shuts down and Xen resets the domain")
            }
            EndState::CpuStopped { message, .. } => format!("interpreter stopped: {message}"),
            EndState::NoBootableDevice { message, .. } => message.trim_end().to_string(),
            EndState::WaitingForKey { at, function } => {
                format!("waiting for a key at {at} ({function}); give keystrokes with --keys")
            }
            EndState::Reset { at, how } => format!("machine reset at {at}: {how}"),
            EndState::SetupError { message } => message.clone(),
        }
    }
}

/// One E820 entry (SeaBIOS `struct e820entry`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct E820Entry {
    pub start: u64,
    pub size: u64,
    /// 1 RAM, 2 reserved, 3 ACPI, 4 NVS.
    #[serde(rename = "type")]
    pub kind: u32,
}

/// What the disk looks like to the BIOS.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DiskInfo {
    pub sectors: u64,
    /// IDENTIFY words 1/3/6 (QEMU's geometry guess).
    pub physical_chs: Chs,
    pub translation: Translation,
    /// What int 13h AH=08h works from (SeaBIOS `setup_translation`).
    pub logical_chs: Chs,
    pub ata: AtaConfig,
}

/// A region an int 13h read loaded that was recognised as a boot stage.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StageLoad {
    pub stage: String,
    pub lba: u64,
    pub address: u32,
}

/// Exact counters.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HvmCounters {
    /// Guest instructions executed (the firmware's Rust services excluded).
    pub instructions: u64,
    /// Instruction-equivalents charged for the firmware's work toward the
    /// instruction cap (BIOS calls, sectors moved, characters drawn).
    pub firmware_work: u64,
    /// Simulated time, ns: port exits, medium and copies per the cost
    /// model, guest instructions at one per cycle at `cpu_ghz`
    /// (**assumption**), and the firmware's documented waits.
    pub sim_time_ns: u64,
    pub instruction_time_ns: u64,
    /// Port exits, all origins.
    pub port_exits: u64,
    /// Port exits by the guest's instructions.
    pub port_exits_guest: u64,
    /// Port exits by the firmware's driver code (SeaBIOS's ata.c etc.).
    pub port_exits_firmware: u64,
    /// Per port (key "0x1f7").
    pub exits_by_port: BTreeMap<String, PortStat>,
    /// BIOS calls by function ("int 13h AH=42h").
    pub bios_calls: BTreeMap<String, u64>,
    /// Sectors the disk model read from the image.
    pub sectors_read: u64,
    /// Bytes copied by bus-master DMA.
    pub bytes_dma: u64,
    pub ata_commands: u64,
    pub ata_aborted: u64,
    /// Sectors int 13h delivered to the guest.
    pub int13_sectors: u64,
}

/// Everything a run produced. Serialisable; the CLI renders it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct HvmReport {
    pub image: String,
    pub memory_bytes: u64,
    pub end: EndState,
    /// [`EndState::reason`].
    pub reason: String,
    /// Every character written through int 10h, in order (CR/LF kept), up
    /// to [`console::MAX_TRANSCRIPT`] bytes.
    pub console: String,
    /// Console bytes past that limit, not kept.
    pub console_dropped: u64,
    /// Bytes the guest sent to COM1 (0x3F8), up to [`uart::MAX_SERIAL`].
    pub serial: String,
    /// Text of display page 0 at the end, trailing blanks removed.
    pub screen: Vec<String>,
    /// Bytes written to port 0xE9 (hvmloader, SeaBIOS, guest).
    pub debugcon: String,
    pub counters: HvmCounters,
    pub e820: Vec<E820Entry>,
    pub disk: Option<DiskInfo>,
    pub stages: Vec<StageLoad>,
    /// An executed boot: what the loader's int 13h reads were, by file,
    /// filesystem metadata and boot area, in the order first read.
    pub disk_reads: Vec<explain::DiskReads>,
    /// An executed boot: what boot-sim's menus module predicted from the
    /// configs it knows, and whether the execution agrees (the execution
    /// is the result).
    pub prediction: Option<explain::Prediction>,
    /// The boot's phases on the simulated clock (hvmloader, POST, the boot
    /// menu wait, the MBR, each loaded stage, the loader's menu, kernel and
    /// initrd loads), always recorded.
    pub phases: Vec<HvmPhase>,
    pub trace_level: TraceLevel,
    /// Detailed events (BIOS calls … port exits, per the level; capped).
    pub trace: Vec<TimedEvent>,
    pub trace_dropped: u64,
}

/// Runs the HVM boot of `image` (opened read-only; never written) and
/// reports how far it got. Never panics on guest input.
pub fn run(image: Arc<dyn ReadAt>, opts: &HvmOptions) -> HvmReport {
    vm::run(image, opts)
}

/// The harness of the `hvm_boot` fuzz target (fuzz/fuzz_targets/
/// hvm_boot.rs), shared with the corpus replay test: boots `data` (cut or
/// zero-padded to one 512-byte sector, followed by 63 sectors of a fixed
/// pattern) in a 4 MiB machine for at most 100,000 instructions.
pub mod fuzz {
    use super::*;
    use disk_image::MemImage;

    pub const MAX_INSTRUCTIONS: u64 = 100_000;

    pub fn boot(data: &[u8]) -> HvmReport {
        let mut disk = vec![0u8; 64 * 512];
        let n = data.len().min(512);
        disk[..n].copy_from_slice(&data[..n]);
        for (i, b) in disk[512..].iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        let opts = HvmOptions {
            memory: 4 << 20,
            max_instructions: MAX_INSTRUCTIONS,
            keys: "a\n".into(),
            ..HvmOptions::default()
        };
        run(Arc::new(MemImage::new(disk, "fuzz.img")), &opts)
    }
}

#[cfg(test)]
mod tests;
