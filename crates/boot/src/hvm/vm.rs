//! The machine (CPU + bus + BIOS state) and the run loop.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use disk_image::ReadAt;
use disk_image::bootcode::{NextStage, identify_next_stage};
use x86::{Cpu, Error as CpuError, Exit, Gpr, SegReg, flags, vector_name};

use super::bus::{HvmBus, LinuxHit, Origin};
use super::console::{COLS, Console, ROWS, TEXT_BASE, cell_offset, transcript_text};
use super::trace::{HvmEvent, HvmTrace};
use super::{AtaConfig, DiskInfo, E820Entry, EndState, HvmCounters, HvmOptions, HvmReport, Loc, StageLoad};
use crate::devices::ide::{Chs, IdeController, Translation, guess_geometry};
use crate::machine::memory::MAX_GUEST_MEMORY as MAX_GUEST_MEMORY_HVM;
use crate::machine::{GuestMemory, SimTime};

/// Segment of the BIOS ROM.
pub(crate) const BIOS_SEG: u16 = 0xF000;
/// Offset of the per-vector stubs `int n; iret; nop` (4 bytes each).
pub(crate) const STUB_BASE: u16 = 0x1000;
/// SeaBIOS's `entry_iret_official` (F000:FF53), the default vector.
pub(crate) const IRET_OFFICIAL: u16 = 0xFF53;
/// The reset vector F000:FFF0 (holds `hlt`: a jump there is a reset).
pub(crate) const RESET_VECTOR: u16 = 0xFFF0;

/// Vectors the BIOS serves (the rest point at the iret stub).
pub(crate) const SERVED: [u8; 10] = [0x08, 0x10, 0x11, 0x12, 0x13, 0x15, 0x16, 0x18, 0x19, 0x1A];

pub(crate) fn stub_offset(v: u8) -> u16 {
    STUB_BASE + 4 * u16::from(v)
}

/// Drive as the BIOS knows it.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Drive {
    pub sectors: u64,
    pub pchs: Chs,
    pub translation: Translation,
    pub lchs: Chs,
}

/// BIOS state outside guest memory.
pub(crate) struct BiosState {
    pub console: Console,
    pub keys: VecDeque<(u8, u8)>,
    pub drive: Drive,
    pub e820: Vec<E820Entry>,
    pub ata: AtaConfig,
    pub calls: BTreeMap<String, u64>,
    pub stages: Vec<StageLoad>,
    pub boots: u32,
    pub end: Option<EndState>,
    pub int13_sectors: u64,
    pub boot_menu_wait_ms: Option<u32>,
    pub boot_fail_wait_ms: Option<u32>,
    pub ram_size: u64,
    /// Guest time spent polling for keys that never came, since the last key.
    pub idle_ns: u64,
    /// Timer ticks (IRQ 0) the guest has been given through its own int 08h
    /// handler, counted from power-on.
    pub timer_ticks: u64,
    /// Consecutive `hlt`s woken only by the timer, with no BIOS call between.
    pub idle_halts: u64,
}

/// Timer ticks (18.2 Hz) a guest may sleep through `hlt` with nothing else
/// happening before the run ends as sleeping forever: about 110 s.
const MAX_IDLE_HALTS: u64 = 2000;

/// Guest time one empty int 16h AH=01h/11h poll stands for while a loader
/// executes. A loader waiting for a key or counting a menu timeout down
/// spins on this poll and the TSC; charging each empty poll 50 ms lets the
/// countdown run on the simulated clock in twenty polls a second instead of
/// a billion instructions. (Assumption, not a measurement: real hardware
/// polls every few microseconds; only the loader's own timeouts matter.)
pub(crate) const IDLE_POLL_NS: u64 = 50_000_000;
/// Guest time the loader polls for input before the next `--keys` key is
/// typed: 200 ms, a person's pace between keys (QEMU's interop tests send
/// keys 200–300 ms apart). Keys are not type-ahead: a loader that drains
/// the keyboard before its prompt, or reads an Esc sequence's next byte
/// within a few ticks (syslinux's `get_key`), sees them as it would see a
/// person typing, one at a time while it waits.
pub(crate) const KEY_GAP_NS: u64 = 200_000_000;
/// Guest time of empty polls after which the run ends waiting for a key
/// (a menu with no timeout, a rescue prompt): 2 minutes, longer than the
/// menu timeouts cloud images use (0 to 30 s).
pub(crate) const MAX_IDLE_NS: u64 = 120_000_000_000;
/// Instruction-equivalents a BIOS call is charged toward the cap: a base
/// per call, per sector moved and per character drawn (roughly the guest
/// instructions SeaBIOS's own code would take for it).
const WORK_PER_CALL: u64 = 100;
const WORK_PER_SECTOR: u64 = 300;
const WORK_PER_CHAR: u64 = 50;

pub(crate) struct Hvm {
    pub cpu: Cpu,
    pub bus: HvmBus,
    pub bios: BiosState,
    pub instr_ns_done: u64,
    pub ps_per_instruction: u64,
    /// The disk image, for checking what the loader put in memory.
    pub image: Arc<dyn ReadAt>,
    /// Where an executed loader entered Linux's 16-bit setup.
    pub setup16: Option<super::linux::Setup16>,
    /// Instruction-equivalents charged for the firmware's work (BIOS calls
    /// by sectors moved and characters drawn) toward the instruction cap,
    /// so a guest looping on expensive calls is stopped as soon as one
    /// looping on cheap instructions.
    pub firmware_work: u64,
    /// Reads and key waits of the executing guest, for the explanation.
    pub exec: super::explain::ExecLog,
    /// The moment the current int 13h call started.
    pub int13_at: super::explain::Moment,
    /// When the run started (the wall-clock budget).
    pub started: std::time::Instant,
    pub max_wall: std::time::Duration,
}

/// Parses `--keys` into (scan code, ASCII) pairs (PC/AT scan code set 1,
/// US layout, as the BDA keyboard ring stores them).
pub(crate) fn parse_keys(s: &str) -> VecDeque<(u8, u8)> {
    const ROW1: &[u8] = b"1234567890-=";
    const ROW1S: &[u8] = b"!@#$%^&*()_+";
    const ROWQ: &[u8] = b"qwertyuiop[]";
    const ROWQS: &[u8] = b"QWERTYUIOP{}";
    const ROWA: &[u8] = b"asdfghjkl;'`";
    const ROWAS: &[u8] = b"ASDFGHJKL:\"~";
    const ROWZ: &[u8] = b"\\zxcvbnm,./";
    const ROWZS: &[u8] = b"|ZXCVBNM<>?";
    let scan = |c: u8| -> u8 {
        let find = |row: &[u8], base: u8| row.iter().position(|&x| x == c).map(|i| base + i as u8);
        find(ROW1, 0x02)
            .or_else(|| find(ROW1S, 0x02))
            .or_else(|| find(ROWQ, 0x10))
            .or_else(|| find(ROWQS, 0x10))
            .or_else(|| find(ROWA, 0x1E))
            .or_else(|| find(ROWAS, 0x1E))
            .or_else(|| find(ROWZ, 0x2B))
            .or_else(|| find(ROWZS, 0x2B))
            .unwrap_or(match c {
                b' ' => 0x39,
                b'\r' => 0x1C,
                0x1B => 0x01,
                b'\t' => 0x0F,
                8 => 0x0E,
                _ => 0,
            })
    };
    let mut out = VecDeque::new();
    let mut it = s.bytes();
    while let Some(c) = it.next() {
        if c == b'{' {
            let rest: Vec<u8> = it.clone().take(8).collect();
            if let Some(end) = rest.iter().position(|&b| b == b'}')
                && let Some(key) = named_key(&rest[..end])
            {
                out.push_back(key);
                it.nth(end);
                continue;
            }
        }
        let c = if c == b'\\' {
            match it.next() {
                Some(b'n') | Some(b'r') => b'\r',
                Some(b'e') => 0x1B,
                Some(b't') => b'\t',
                Some(b'b') => 8,
                Some(other) => other,
                None => b'\\',
            }
        } else if c == b'\n' {
            b'\r'
        } else {
            c
        };
        out.push_back((scan(c), c));
    }
    out
}

/// The `{name}` keys of `--keys`: grey (extended) keys as a PS/2
/// keyboard in scan code set 1 sends them (`E0` prefix), stored the way
/// SeaBIOS's `src/kbd.c` `process_key` enqueues them (ASCII E0h, the scan
/// code); int 16h AH=00h/01h report them with ASCII 00h (`dequeue_key`).
/// GRUB 0.97 matches the resulting AX against `KEY_UP` 0x4800,
/// `KEY_DOWN` 0x5000, … (stage2/shared.h, asm.S `translate_keycode`).
pub(crate) const NAMED_KEYS: &[(&str, u8)] = &[
    ("up", 0x48),
    ("down", 0x50),
    ("left", 0x4B),
    ("right", 0x4D),
    ("home", 0x47),
    ("end", 0x4F),
    ("pgup", 0x49),
    ("pgdn", 0x51),
    ("del", 0x53),
];

fn named_key(name: &[u8]) -> Option<(u8, u8)> {
    NAMED_KEYS.iter().find(|(n, _)| n.as_bytes() == name).map(|&(_, scan)| (scan, 0xE0))
}

impl Hvm {
    /// Builds the machine: memory, disk, geometry. POST is separate.
    pub(crate) fn new(image: Arc<dyn ReadAt>, opts: &HvmOptions) -> Result<Hvm, String> {
        if opts.memory < (2 << 20) || opts.memory > MAX_GUEST_MEMORY_HVM {
            return Err(format!(
                "--memory {} bytes is outside 2 MiB ..= {} bytes (hvmloader needs at least 2 MiB of low memory)",
                opts.memory, MAX_GUEST_MEMORY_HVM
            ));
        }
        if image.size() < 512 {
            return Err(format!(
                "{} is {} bytes, smaller than one sector: the BIOS finds no disk to boot",
                image.describe(),
                image.size()
            ));
        }
        // Memory below 4 GiB the guest can address: hvmloader's low memory
        // ends at RESERVED_MEMBASE (0xFC000000) at most.
        let low = opts.memory.min(0xFC00_0000) & !0xFFF;
        let mem = GuestMemory::new(low).map_err(|e| e.to_string())?;
        let mut mbr = [0u8; 512];
        image.read_exact_at(0, &mut mbr).map_err(|e| e.to_string())?;
        let sectors = image.size() / 512;
        let (pchs, translation) = guess_geometry(&mbr, sectors);
        let image_for_checks = image.clone();
        let ide = IdeController::new(image, pchs);
        let cost = opts.cost.clone();
        let ghz = cost.params().cpu_ghz;
        let bus = HvmBus::new(mem, ide, cost, HvmTrace::new(opts.trace_level));
        let lchs = logical_chs(pchs, translation, sectors);
        let mut cpu = Cpu::new(BIOS_SEG, RESET_VECTOR);
        cpu.cpuid = x86::CpuidConfig::x86_64();
        // The timer interrupt reaches the guest only through `hlt`: a
        // `jmp $` can never end.
        cpu.stop_on_self_jump = true;
        for v in SERVED {
            cpu.hook_interrupt(v, true);
        }
        Ok(Hvm {
            cpu,
            bus,
            bios: BiosState {
                console: Console::default(),
                keys: parse_keys(&opts.keys),
                drive: Drive { sectors, pchs, translation, lchs },
                e820: Vec::new(),
                ata: opts.ata,
                calls: BTreeMap::new(),
                stages: Vec::new(),
                boots: 0,
                end: None,
                int13_sectors: 0,
                boot_menu_wait_ms: opts.boot_menu_wait_ms,
                boot_fail_wait_ms: opts.boot_fail_wait_ms,
                ram_size: opts.memory,
                idle_ns: 0,
                timer_ticks: 0,
                idle_halts: 0,
            },
            instr_ns_done: 0,
            ps_per_instruction: (1000.0 / ghz).round() as u64,
            image: image_for_checks,
            setup16: None,
            firmware_work: 0,
            exec: super::explain::ExecLog::default(),
            int13_at: super::explain::Moment::default(),
            started: std::time::Instant::now(),
            max_wall: opts.max_wall,
        })
    }

    // ----------------------------------------------------------- registers

    pub(crate) fn r16(&self, r: Gpr) -> u16 {
        self.cpu.regs.gpr[r as usize] as u16
    }
    pub(crate) fn set16(&mut self, r: Gpr, v: u16) {
        let g = &mut self.cpu.regs.gpr[r as usize];
        *g = (*g & 0xFFFF_0000) | u32::from(v);
    }
    pub(crate) fn lo(&self, r: Gpr) -> u8 {
        self.cpu.regs.gpr[r as usize] as u8
    }
    pub(crate) fn hi(&self, r: Gpr) -> u8 {
        (self.cpu.regs.gpr[r as usize] >> 8) as u8
    }
    pub(crate) fn set_lo(&mut self, r: Gpr, v: u8) {
        let g = &mut self.cpu.regs.gpr[r as usize];
        *g = (*g & !0xFF) | u32::from(v);
    }
    pub(crate) fn set_hi(&mut self, r: Gpr, v: u8) {
        let g = &mut self.cpu.regs.gpr[r as usize];
        *g = (*g & !0xFF00) | u32::from(v) << 8;
    }
    pub(crate) fn set_cf(&mut self, on: bool) {
        if on {
            self.cpu.regs.eflags |= flags::CF;
        } else {
            self.cpu.regs.eflags &= !flags::CF;
        }
    }
    pub(crate) fn set_zf(&mut self, on: bool) {
        if on {
            self.cpu.regs.eflags |= flags::ZF;
        } else {
            self.cpu.regs.eflags &= !flags::ZF;
        }
    }
    /// SeaBIOS `set_code_success`: AH=0, CF=0.
    pub(crate) fn code_success(&mut self) {
        self.set_hi(Gpr::Eax, 0);
        self.set_cf(false);
    }
    /// SeaBIOS `set_code_invalid`: AH=code, CF=1.
    pub(crate) fn code_invalid(&mut self, code: u8) {
        self.set_hi(Gpr::Eax, code);
        self.set_cf(true);
    }
    /// (real-mode callers: segment × 16 + offset).
    pub(crate) fn flat(&self, s: SegReg, off: u16) -> u32 {
        self.cpu.linear(s, u32::from(off))
    }
    pub(crate) fn loc(&self) -> Loc {
        self.cpu.location().into()
    }

    /// Console output: int 10h teletype into the text cells in guest memory.
    pub(crate) fn tty(&mut self, ch: u8, attr: Option<u8>) {
        let page = self.bios.console.page;
        for op in self.bios.console.teletype(ch, attr) {
            match op {
                super::console::CellOp::Put { row, col, ch, attr } => {
                    let a = TEXT_BASE + cell_offset(page, row, col);
                    self.bus.w8(a, ch);
                    if let Some(at) = attr {
                        self.bus.w8(a + 1, at);
                    }
                }
                super::console::CellOp::Scroll { attr } => {
                    self.scroll_up(page, 1, attr, 0, 0, ROWS as u8 - 1, COLS as u8 - 1)
                }
            }
        }
        self.sync_cursor_bda();
    }

    #[allow(clippy::too_many_arguments)]
    pub(crate) fn scroll_up(&mut self, page: u8, lines: u8, attr: u8, r0: u8, c0: u8, r1: u8, c1: u8) {
        let (r1, c1) = (r1.min(ROWS as u8 - 1), c1.min(COLS as u8 - 1));
        if r0 > r1 || c0 > c1 {
            return;
        }
        let height = r1 - r0 + 1;
        let n = if lines == 0 || lines >= height { height } else { lines };
        for row in r0..=r1 {
            for col in c0..=c1 {
                let dst = TEXT_BASE + cell_offset(page, row, col);
                let src_row = row + n;
                let cell = if src_row <= r1 && n < height {
                    let s = TEXT_BASE + cell_offset(page, src_row, col);
                    [self.bus.r8(s), self.bus.r8(s + 1)]
                } else {
                    [b' ', attr]
                };
                self.bus.write_phys(dst, &cell);
            }
        }
    }

    pub(crate) fn sync_cursor_bda(&mut self) {
        for p in 0..8u8 {
            let (r, c) = self.bios.console.cursor[usize::from(p)];
            self.bus.w16(0x450 + 2 * u32::from(p), u16::from(r) << 8 | u16::from(c));
        }
        self.bus.w8(0x462, self.bios.console.page);
    }

    /// SeaBIOS `printf`: screen (through the video BIOS) and debug port.
    pub(crate) fn bios_printf(&mut self, text: &str) {
        for b in text.bytes() {
            if b == b'\n' {
                // SeaBIOS's screen output turns "\n" into "\r\n" (output.c
                // `screenc`… `putc` adds the CR for the screen).
                self.tty(b'\r', None);
            }
            self.tty(b, None);
        }
        self.debug_print(text);
    }

    /// Firmware debug output: one `outb` to 0xE9 per byte (hvmloader's
    /// `putchar`, SeaBIOS's `debug_putc` under Xen), each an exit.
    pub(crate) fn debug_print(&mut self, text: &str) {
        let saved = self.bus.origin;
        self.bus.origin = Origin::Firmware;
        for b in text.bytes() {
            x86::Bus::port_out(&mut self.bus, super::bus::PORT_DEBUGCON, x86::AccessSize::Byte, u32::from(b));
        }
        self.bus.origin = saved;
    }

    pub(crate) fn note_call(&mut self, vector: u8, ah: u8, al: u8, chained: bool) {
        let name = match vector {
            0x13 | 0x10 | 0x16 | 0x1A => format!("int {vector:02X}h AH={ah:02X}h"),
            0x15 if ah == 0xE8 || ah == 0x24 => format!("int 15h AX={ah:02X}{al:02X}h"),
            0x15 => format!("int 15h AH={ah:02X}h"),
            _ => format!("int {vector:02X}h"),
        };
        if self.bus.trace.level() != super::TraceLevel::Summary {
            let l = self.loc();
            let t = self.bus.clock.now();
            let ax = self.r16(Gpr::Eax);
            self.bus.trace.push(
                t,
                0,
                HvmEvent::BiosCall { vector, ax, function: name.clone(), cs: l.cs, ip: l.ip, chained },
            );
        }
        *self.bios.calls.entry(name).or_insert(0) += 1;
    }

    /// The run's counters now (a phase boundary).
    pub(crate) fn moment(&self) -> super::explain::Moment {
        super::explain::Moment {
            time_ns: self.bus.clock.now().0,
            exits: self.bus.total_exits(),
            sectors: self.bus.ide.stats.sectors_read,
        }
    }

    /// Starts the boot phase `name` now (it lasts until the next mark or
    /// the end of the run): the one call the firmware makes.
    pub(crate) fn mark(&mut self, name: impl Into<String>) {
        let (t, exits, sectors) = (self.bus.clock.now(), self.bus.total_exits(), self.bus.ide.stats.sectors_read);
        self.bus.trace.mark(t, name.into(), exits, sectors);
    }

    /// Records a disk read whose first sector is a loader stage `inspect`
    /// knows by its bytes (GRUB legacy's start sector, GRUB 2's
    /// diskboot.img, SYSLINUX's ldlinux.sys, simboot's stage 2), and starts
    /// a phase named for it. Only a name for the timeline: the stage's code
    /// runs like any other, and nothing depends on recognising it.
    pub(crate) fn note_loaded(&mut self, lba: u64, sectors: u64, dest: u32) {
        if sectors == 0 || self.bios.boots == 0 && lba == 0 && dest == 0x7C00 {
            return;
        }
        let mut first = [0u8; 512];
        self.bus.read_phys(dest, &mut first);
        let (stage, part) = match identify_next_stage(&first) {
            NextStage::GrubLegacyStart { loads } => (format!("GRUB legacy {loads}"), "start sector"),
            NextStage::Grub2Diskboot => ("GRUB 2 core.img".to_string(), "start sector"),
            NextStage::SyslinuxLdlinux { .. } => ("SYSLINUX ldlinux.sys".to_string(), "first sector"),
            NextStage::SimbootStage2 => ("simboot stage 2".to_string(), "loaded"),
            _ => return,
        };
        self.bios.stages.push(StageLoad { stage: stage.clone(), lba, address: dest });
        self.mark(format!("{stage}: {part}"));
    }
}

/// SeaBIOS `setup_translation` (src/block.c): the logical geometry int 13h
/// AH=08h reports and CHS calls are checked against.
pub(crate) fn logical_chs(p: Chs, t: Translation, sectors: u64) -> Chs {
    let (mut cyl, mut heads, mut spt) = (p.cylinders, p.heads, p.sectors);
    match t {
        Translation::None => {}
        Translation::Lba => {
            spt = 63;
            if sectors > 63 * 255 * 1024 {
                heads = 255;
                cyl = 1024;
            } else {
                let sect = (sectors as u32) / 63;
                heads = match sect / 1024 {
                    h if h > 128 => 255,
                    h if h > 64 => 128,
                    h if h > 32 => 64,
                    h if h > 16 => 32,
                    _ => 16,
                };
                cyl = sect / heads;
            }
        }
        Translation::Large => {
            while cyl > 1024 {
                cyl >>= 1;
                heads <<= 1;
                if heads > 127 {
                    break;
                }
            }
        }
    }
    Chs { cylinders: cyl.min(1024), heads, sectors: spt }
}

/// Instructions per run slice between clock/BDA updates.
const SLICE: u64 = 20_000;

pub(crate) fn run(image: Arc<dyn ReadAt>, opts: &HvmOptions) -> HvmReport {
    let name = image.describe();
    match boot_machine(image, opts) {
        Ok((mut hvm, end)) => hvm.report(name, end),
        Err(message) => setup_error(name, opts, message),
    }
}

/// Powers on and runs the boot: POST, int 19h, then the guest's code on
/// the interpreter until it reaches the kernel's 32-bit entry or stops. The
/// machine is returned with its memory for callers that inspect it (the
/// PV-on-HVM switch continues on it).
pub(crate) fn boot_machine(image: Arc<dyn ReadAt>, opts: &HvmOptions) -> Result<(Hvm, EndState), String> {
    let mut hvm = Hvm::new(image, opts)?;
    hvm.post();
    if hvm.bios.end.is_none() {
        hvm.boot();
    }
    let end = match hvm.bios.end.take() {
        Some(e) => e,
        None => hvm.run_loop(opts.max_instructions),
    };
    Ok((hvm, end))
}

fn setup_error(image: String, opts: &HvmOptions, message: String) -> HvmReport {
    let end = EndState::SetupError { message };
    HvmReport {
        image,
        memory_bytes: opts.memory,
        reason: end.reason(),
        end,
        console: String::new(),
        console_dropped: 0,
        serial: String::new(),
        screen: Vec::new(),
        debugcon: String::new(),
        counters: HvmCounters {
            instructions: 0,
            firmware_work: 0,
            sim_time_ns: 0,
            instruction_time_ns: 0,
            port_exits: 0,
            port_exits_guest: 0,
            port_exits_firmware: 0,
            exits_by_port: BTreeMap::new(),
            bios_calls: BTreeMap::new(),
            sectors_read: 0,
            bytes_dma: 0,
            ata_commands: 0,
            ata_aborted: 0,
            int13_sectors: 0,
        },
        e820: Vec::new(),
        disk: None,
        stages: Vec::new(),
        disk_reads: Vec::new(),
        prediction: None,
        phases: Vec::new(),
        trace_level: opts.trace_level,
        trace: Vec::new(),
        trace_dropped: 0,
    }
}

impl Hvm {
    /// Moves simulated time forward for the instructions executed so far.
    fn account_instructions(&mut self) {
        let ns = self.cpu.counters.instructions.saturating_mul(self.ps_per_instruction) / 1000;
        if ns > self.instr_ns_done {
            self.bus.clock.advance(ns - self.instr_ns_done);
            self.instr_ns_done = ns;
        }
        self.update_ticks();
    }

    /// BDA timer_counter (0x46C) from the simulated clock: the PIT runs at
    /// 1,193,182 Hz / 65,536 ≈ 18.2 Hz (SeaBIOS src/hw/timer.c).
    pub(crate) fn update_ticks(&mut self) {
        let ns = u128::from(self.bus.clock.now().0);
        let ticks = (ns * 1_193_182 / (65_536 * 1_000_000_000)) as u64;
        let day = 1_573_040u64; // TICKS_PER_DAY, src/std/bda.h
        self.bus.w32(0x46C, (ticks % day) as u32);
        self.cpu.note_memory_write(0x46C, 4);
        if ticks >= day {
            self.bus.w8(0x470, 1);
            self.cpu.note_memory_write(0x470, 1);
        }
    }

    pub(crate) fn run_loop(&mut self, max: u64) -> EndState {
        self.bus.origin = Origin::Guest;
        // Whether the guest may go on without the CPU re-checking its
        // cached code: after a slice that ended at its instruction budget,
        // only the clock moved and `update_ticks` wrote the BDA's timer
        // count, which it reports to the CPU. Every other exit may have
        // had the firmware write memory (disk reads, the screen, the
        // stack frames of its services), so the next slice starts with
        // `run`, which re-checks everything.
        let mut quiet = false;
        loop {
            if let Some(e) = self.bios.end.take() {
                return e;
            }
            let done = self.cpu.counters.instructions.saturating_add(self.firmware_work);
            if done >= max {
                return EndState::InstructionLimit { at: self.loc(), limit: max };
            }
            if self.started.elapsed() > self.max_wall {
                return EndState::TimeLimit { at: self.loc(), seconds: self.max_wall.as_secs_f64() };
            }
            let budget = SLICE.min(max - done);
            let r = if quiet { self.cpu.resume(&mut self.bus, budget) } else { self.cpu.run(&mut self.bus, budget) };
            quiet = matches!(r, Ok(Exit::InstructionLimit));
            self.account_instructions();
            if let Some(how) = self.bus.reset.take() {
                return EndState::Reset { at: self.loc(), how: how.to_string() };
            }
            match r {
                Ok(Exit::InstructionLimit) => {}
                Ok(Exit::SelfJump) => return EndState::Spinning { at: self.loc() },
                Ok(Exit::NewCode) => match self.bus.linux_hit.take() {
                    Some(LinuxHit::Setup16 { linear }) => {
                        self.mark("Linux real-mode setup (arch/x86/boot)");
                        self.setup16 = Some(super::linux::setup16(self, linear));
                    }
                    Some(LinuxHit::Entry32 { zero_page, .. }) => {
                        let setup = self.setup16.take();
                        let image = self.image.clone();
                        return super::linux::kernel_entry(self, zero_page, setup.as_ref(), &image);
                    }
                    None => {}
                },
                Ok(Exit::Interrupt { vector }) => {
                    let (sectors, chars) = (self.bios.int13_sectors, self.bios.console.transcript_len());
                    self.interrupt(vector);
                    let moved = self.bios.int13_sectors.saturating_sub(sectors);
                    let drawn = self.bios.console.transcript_len().saturating_sub(chars) as u64;
                    self.firmware_work = self.firmware_work.saturating_add(
                        WORK_PER_CALL + moved.saturating_mul(WORK_PER_SECTOR) + drawn.saturating_mul(WORK_PER_CHAR),
                    );
                }
                Ok(Exit::Halt) => {
                    let l = self.cpu.location();
                    if l.cs == BIOS_SEG && l.eip == u32::from(RESET_VECTOR) + 1 {
                        return EndState::Reset {
                            at: self.loc(),
                            how: "jump to the reset vector F000:FFF0 (SeaBIOS would POST again)".into(),
                        };
                    }
                    if self.cpu.regs.eflags & flags::IF == 0 {
                        return EndState::Halted { at: self.loc() };
                    }
                    self.bios.idle_halts += 1;
                    if self.bios.idle_halts > MAX_IDLE_HALTS {
                        return EndState::Sleeping { at: self.loc(), seconds: MAX_IDLE_HALTS * 55 / 1000 };
                    }
                    // hlt with IF=1 sleeps until the next timer interrupt
                    // (IRQ 0, vector 08h, 18.2 Hz).
                    let tick = 54_925_493u64; // 65536 / 1193182 s in ns
                    let now = self.bus.clock.now().0;
                    self.bus.clock.advance(tick - now % tick);
                    self.update_ticks();
                    self.bios.timer_ticks = self.ticks_now();
                    match self.cpu.deliver_interrupt(&mut self.bus, 0x08) {
                        Ok(Some(Exit::Shutdown { vector })) => return triple(self.loc(), vector),
                        Ok(_) => {}
                        Err(e) => return cpu_stopped(&e),
                    }
                }
                Ok(Exit::Shutdown { vector }) => return triple(self.loc(), vector),
                Err(e) => return cpu_stopped(&e),
            }
        }
    }

    /// A hooked `int n`: from the BIOS stub (chained, frame on the stack),
    /// or from the guest with the IVT still pointing at the stub (served
    /// directly), or to a guest-installed handler (delivered through the
    /// IVT).
    fn interrupt(&mut self, vector: u8) {
        let l = self.cpu.location();
        let stub_lin = (u32::from(BIOS_SEG) << 4) + u32::from(stub_offset(vector));
        let from_stub = !self.cpu.protected_mode() && l.linear == stub_lin + 2;
        if !from_stub && !self.cpu.protected_mode() {
            let ivt = self.bus.r32(u32::from(vector) * 4);
            if ivt != (u32::from(BIOS_SEG) << 16 | u32::from(stub_offset(vector))) {
                self.deliver_or_end(vector);
                return;
            }
        }
        if from_stub {
            // The caller's frame (IP, CS, FLAGS) is at SS:SP; SeaBIOS works
            // on the caller's flags and returns them through the iret.
            let sp = self.cpu.linear(SegReg::Ss, self.cpu.regs.gpr[Gpr::Esp as usize] & 0xFFFF);
            let stacked = u32::from(self.bus.r16(sp + 4));
            let keep = self.cpu.regs.eflags & !flags::ARITH & 0xFFFF_0000;
            let saved_if = self.cpu.regs.eflags & flags::IF;
            self.cpu.regs.eflags = keep | (stacked & 0xFFFF & !flags::IF) | saved_if;
            self.service(vector, true);
            if self.bios.end.is_none() && self.cpu.location().linear == stub_lin + 2 {
                let f = (stacked & !flags::ARITH) | (self.cpu.regs.eflags & flags::ARITH);
                self.bus.w16(sp + 4, f as u16);
                if vector == 0x16 {
                    self.timer_after_poll(Some(sp));
                }
            }
        } else {
            self.service(vector, false);
            if vector == 0x16 && self.bios.end.is_none() {
                self.timer_after_poll(None);
            }
        }
        if vector == 0x08 {
            self.user_timer_tick();
        }
    }

    /// Delivers interrupt `vector` to the guest through its IVT/IDT; a
    /// delivery that cannot happen ends the run (triple fault, or the
    /// interpreter stopping).
    fn deliver_or_end(&mut self, vector: u8) {
        match self.cpu.deliver_interrupt(&mut self.bus, vector) {
            Ok(Some(Exit::Shutdown { vector })) => self.bios.end = Some(triple(self.loc(), vector)),
            Ok(_) => {}
            Err(e) => self.bios.end = Some(cpu_stopped(&e)),
        }
    }

    /// Whether the guest pointed interrupt vector `v` away from the BIOS's
    /// own handler (its stub, or the `iret` every unserved vector gets).
    fn guest_hooked(&self, v: u8) -> bool {
        let ivt = self.bus.r32(u32::from(v) * 4);
        let bios = |off: u16| u32::from(BIOS_SEG) << 16 | u32::from(off);
        ivt != bios(stub_offset(v)) && ivt != bios(IRET_OFFICIAL)
    }

    /// The end of SeaBIOS's IRQ 0 handler (src/clock.c `handle_08`): the
    /// user timer tick, int 1Ch, when the guest hooked it. Its handler
    /// returns to where the BIOS's int 08h was going to return.
    fn user_timer_tick(&mut self) {
        if self.bios.end.is_some() || !self.guest_hooked(0x1C) {
            return;
        }
        self.deliver_or_end(0x1C);
    }

    /// Timer ticks since power-on by the simulated clock (IRQ 0 at
    /// 1,193,182 / 65,536 Hz).
    fn ticks_now(&self) -> u64 {
        (u128::from(self.bus.clock.now().0) * 1_193_182 / (65_536 * 1_000_000_000)) as u64
    }

    /// IRQ 0 for a guest that polls int 16h with its own timer handler.
    ///
    /// SeaBIOS's int 16h AH=01h calls `yield()` (src/kbd.c `check_key` →
    /// src/stacks.c), which runs with interrupts enabled, so the timer
    /// interrupt reaches whatever handler the guest hooked into vector 08h
    /// while it polls, and SeaBIOS's own handler (src/clock.c `handle_08`)
    /// calls int 1Ch, the user timer tick. syslinux 6 counts its `TIMEOUT`
    /// in jiffies from an int 1Ch hook (core/bios.c `bios_timer_init`:
    /// `BIOS_timer_hook`); without the tick its countdown never ends. An empty poll moves the simulated clock 50 ms; when a tick
    /// boundary has passed since the guest's handler last ran, the call
    /// returns (through the stub, `frame` is the caller's frame: as its
    /// `iret` would) and IRQ 0 is taken at the caller's next instruction, whatever the
    /// caller's IF (SeaBIOS enables interrupts inside the call; the handler's
    /// `iret` restores the caller's flags, as returning from the BIOS would).
    /// A guest that hooked neither 08h nor 1Ch needs nothing: the BDA tick
    /// count follows the clock.
    fn timer_after_poll(&mut self, frame: Option<u32>) {
        let ticks = self.ticks_now();
        if ticks <= self.bios.timer_ticks {
            return;
        }
        if !self.guest_hooked(0x08) && !self.guest_hooked(0x1C) {
            return;
        }
        self.bios.timer_ticks = ticks;
        // Called through the stub: leave it as its `iret` would.
        if let Some(sp) = frame {
            let (ip, cs, stacked) = (self.bus.r16(sp), self.bus.r16(sp + 2), self.bus.r16(sp + 4));
            let esp = &mut self.cpu.regs.gpr[Gpr::Esp as usize];
            *esp = (*esp & 0xFFFF_0000) | u32::from((*esp as u16).wrapping_add(6));
            self.cpu.regs.seg[SegReg::Cs as usize] = x86::Segment::real(cs, true);
            self.cpu.regs.eip = u32::from(ip);
            self.cpu.regs.eflags = (self.cpu.regs.eflags & 0xFFFF_0000) | u32::from(stacked) | 0x2;
        }
        self.deliver_or_end(0x08);
    }

    pub(crate) fn report(&mut self, image: String, end: EndState) -> HvmReport {
        self.account_instructions();
        let ports = &self.bus.ports;
        let exits_by_port =
            ports.iter().enumerate().filter(|(_, s)| s.exits() > 0).map(|(p, s)| (format!("{p:#06x}"), *s)).collect();
        let mut screen = Vec::with_capacity(usize::from(ROWS));
        for row in 0..ROWS as u8 {
            let mut line = String::new();
            for col in 0..COLS as u8 {
                let c = self.bus.r8(TEXT_BASE + cell_offset(0, row, col));
                line.push(super::console::cp437(c));
            }
            screen.push(line.trim_end().to_string());
        }
        while screen.last().is_some_and(|l| l.is_empty()) {
            screen.pop();
        }
        let ide = self.bus.ide.stats;
        let d = self.bios.drive;
        // An executed boot is explained from what it executed: the reads
        // by file, the phases they start, the menus module's prediction.
        let exec = std::mem::take(&mut self.exec);
        // One open of the disk for both (its table, LVM scan, probes).
        let disk = disk_image::Disk::from_reader(self.image.clone()).ok();
        let (disk_reads, marks) = super::explain::explain_reads(&self.image, disk.as_ref(), &exec, &end);
        for (m, name) in marks {
            self.bus.trace.mark_at(SimTime(m.time_ns), name, m.exits, m.sectors);
        }
        let prediction = disk.as_ref().and_then(|d| super::explain::predict(d, &end));
        HvmReport {
            image,
            memory_bytes: self.bios.ram_size,
            reason: end.reason(),
            end,
            console: transcript_text(&self.bios.console.transcript),
            console_dropped: self.bios.console.dropped,
            serial: transcript_text(&self.bus.uart.output),
            screen,
            debugcon: transcript_text(&self.bus.debugcon),
            counters: HvmCounters {
                instructions: self.cpu.counters.instructions,
                firmware_work: self.firmware_work,
                sim_time_ns: self.bus.clock.now().0,
                instruction_time_ns: self.instr_ns_done,
                port_exits: self.bus.total_exits(),
                port_exits_guest: self.bus.exits_by_origin[Origin::Guest as usize],
                port_exits_firmware: self.bus.exits_by_origin[Origin::Firmware as usize],
                exits_by_port,
                bios_calls: std::mem::take(&mut self.bios.calls),
                sectors_read: ide.sectors_read,
                bytes_dma: ide.bytes_dma,
                ata_commands: ide.commands,
                ata_aborted: ide.aborted,
                int13_sectors: self.bios.int13_sectors,
            },
            e820: self.bios.e820.clone(),
            disk: Some(DiskInfo {
                sectors: d.sectors,
                physical_chs: d.pchs,
                translation: d.translation,
                logical_chs: d.lchs,
                ata: self.bios.ata,
            }),
            stages: std::mem::take(&mut self.bios.stages),
            disk_reads,
            prediction,
            phases: self.bus.trace.phases(self.bus.clock.now(), self.bus.total_exits(), ide.sectors_read),
            trace_level: self.bus.trace.level(),
            trace_dropped: self.bus.trace.dropped,
            trace: std::mem::take(&mut self.bus.trace.events),
        }
    }
}

fn triple(at: Loc, vector: u8) -> EndState {
    EndState::TripleFault { at, first_exception: vector, name: vector_name(vector) }
}

fn cpu_stopped(e: &CpuError) -> EndState {
    let at: Loc = e.location().into();
    let (kind, bytes, disassembly) = match e {
        CpuError::InvalidOpcode { bytes, .. } => ("invalid_opcode", bytes.to_string(), None),
        CpuError::UnsupportedInstruction { bytes, disassembly, .. } => {
            ("unsupported_instruction", bytes.to_string(), Some(disassembly.clone()))
        }
        CpuError::UnsupportedFeature { .. } => ("unsupported_feature", String::new(), None),
        CpuError::NoHandler { .. } => ("no_handler", String::new(), None),
    };
    EndState::CpuStopped { at, kind: kind.into(), message: e.to_string(), bytes, disassembly }
}
