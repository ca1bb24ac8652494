//! GRUB 2 (2.06, Debian bookworm's `grub-pc`) for i386-pc as a model in
//! Rust, taking over where the interpreted boot code hands off: diskboot.img
//! has loaded core.img and jumps to `0000:8200`, its `startup_raw`.
//!
//! What it does, in GRUB's order (sources: upstream GRUB as mirrored in
//! `coreos/grub`, checked against the strings and layout of Debian's
//! grub-pc-bin 2.06-13 `kernel.img`, `lzma_decompress.img`, `normal.mod`,
//! `linux.mod`):
//!
//! - `grub-core/boot/i386/pc/startup_raw.S`: the header of
//!   lzma_decompress.img at 0x8200 (`compressed_size` at +0x08,
//!   `uncompressed_size` +0x0C, `reed_solomon_redundancy` +0x10, the
//!   no-Reed-Solomon length +0x14, `boot_dev` +0x18, `boot_drive` +0x1B);
//!   `int 13h AH=00h` (disk reset); the payload at `decompressor_end`,
//!   found from the instruction pair `movl $0x100000, %edi; movl
//!   $decompressor_end, %esi` of `post_reed_solomon`; raw LZMA as
//!   `util/mkimage.c` `compress_kernel_lzma` writes it (lc 3, lp 0, pb 2,
//!   64 KiB dictionary, no header, no end marker) decoded to
//!   `GRUB_MEMORY_MACHINE_DECOMPRESSION_ADDR` (1 MiB).
//! - `include/grub/kernel.h`: `struct grub_module_info32` ("mimg" magic,
//!   offset, size) at the end of the decompressed image, then
//!   `struct grub_module_header` items (OBJ_TYPE_ELF, _MEMDISK, _CONFIG,
//!   _PREFIX, _PUBKEY…), each padded to 4 bytes (`FOR_MODULES`); an ELF
//!   module's name and dependencies come from its `.modname` and
//!   `.moddeps` sections (`kern/dl.c` `grub_dl_resolve_name`,
//!   `grub_dl_resolve_dependencies`).
//! - `kern/main.c` `grub_main`: "Welcome to GRUB!" (highlight colour),
//!   `grub_set_prefix_and_root` (the prefix module; a prefix without a
//!   drive gets the boot drive from `grub_machine_get_bootlocation`,
//!   `kern/i386/pc/init.c`), the embedded config, then
//!   `grub_load_normal_mode`: `grub_dl_load ("normal")` reads
//!   `$prefix/i386-pc/normal.mod` and its dependencies through the disk;
//!   a failure prints `error: …` and leaves GRUB at `grub rescue> `
//!   (Debian's kernel.img carries no "Entering rescue mode..." string).
//! - `normal/main.c` `grub_normal_execute`: `read_lists`
//!   (`$prefix/i386-pc/{command,fs,crypto,terminal}.lst`) and
//!   `$prefix/grub.cfg`, evaluated by [`boot_config::grub2`] over the
//!   disk as GRUB reads it; a missing grub.cfg raises an error GRUB
//!   ignores and GRUB shows its `grub>` command line.
//! - `normal/menu.c`: the default (`default_entry`), `timeout` elapsing
//!   on the simulated clock, "  Booting `%s'", the entry's commands with
//!   every error printed right after its command (`script/execute.c`
//!   `grub_script_execute_cmdline` + `grub_print_error`), the implicit
//!   `boot`, "Press any key to continue..." after 10 s
//!   (`grub_wait_after_message`), `fallback` ("Falling back to `%s'",
//!   2 s) and "Failed to boot both default and fallback entries.".
//! - `normal/dyncmd.c`: a command from a module not yet loaded loads it
//!   from `$prefix` (the map from `command.lst`).
//! - `loader/i386/linux.c` `grub_cmd_linux` / `grub_cmd_initrd` /
//!   `grub_linux_boot`: see `Grub2::linux`, `Grub2::initrd`,
//!   `Grub2::boot_linux`; the CPU enters the kernel's 32-bit entry
//!   (`code32_start`) in flat protected mode with ESI = ESP = boot_params,
//!   as `grub_relocator32_boot` leaves it. `linux16`/`initrd16`
//!   (`loader/i386/pc/linux.c`) load the real-mode part below 0xA0000
//!   and enter the 16-bit setup at (segment + 0x20):0000, SP 0x9000.
//! - the console through int 10h as `term/i386/pc/console.c` does it
//!   (AH=0Eh for BEL/BS/LF/CR; AH=03h, 09h, 02h for the others; "\n" is
//!   followed by "\r", `kern/term.c` / `normal/term.c`).
//!
//! Checked against real GRUB 2.06 under QEMU (tests/interop_grub2.rs):
//! everything printed from "  Booting `…'" to the kernel, byte for byte,
//! the command line the kernel reports, and the initrd address.
//!
//! - `normal/menu.c` `run_menu` and `normal/menu_text.c`: the drawn menu,
//!   its countdown, `timeout_style` and the keys from `--keys` (module
//!   [`menu`]).
//!
//! Not modelled, and said so where it matters: GRUB's "can't find
//! command" for a command no module provides is not printed, `terminal_output`
//! (everything goes to the console), gfxterm and
//! video modes, multiboot and chainloader (the run stops with
//! [`EndState::LoaderStopped`]), Reed-Solomon recovery (the bytes are used as
//! loaded), the A20 gate, GRUB's heap (the initrd goes as high as the E820
//! RAM allows), module relocation and symbols (a module counts as loaded
//! when its file was read and its dependencies were loaded), and GRUB's
//! own disk cache: the reads go through the GRUB 0.97 model's int 13h
//! reader ([`DiskViaBios`]), so every byte is an int 13h read and IDE
//! exits, but the number of calls is not GRUB 2's. Entries' bodies are
//! evaluated when grub.cfg is read (their `search` reads happen then).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, MutexGuard};

use boot_config::disk_context::DiskContext;
use boot_config::grub2::{self, Evaluation, Grub2Context, Lookup, NodeType, SearchKind};
use boot_config::{BootPath, DefaultSpec, MAX_CONFIG_BYTES};
use disk_image::Disk;
use x86::{Gpr, SegReg, Segment, flags};

use super::EndState;
use super::grub::{Cache, DiskViaBios, EntryRegs, FailedEntry, KernelEntryInfo, initrd_fields, protocol_version};
use super::vm::Hvm;

mod menu;

/// The loader's name in reports.
pub const LOADER: &str = "GRUB 2.06";
/// `GRUB_BOOT_MACHINE_KERNEL_ADDR + 0x200`: where startup_raw runs.
pub const STARTUP_ADDR: u32 = 0x8200;
pub use disk_image::grub2_core::{
    CORE_END, CoreImage, CoreObject, DECOMPRESSION_ADDR, MAX_DECOMPRESSOR, MAX_UNCOMPRESSED, MODULE_MAGIC,
    OBJ_TYPE_CONFIG, OBJ_TYPE_ELF, OBJ_TYPE_MEMDISK, OBJ_TYPE_PREFIX, module_info, parse_core,
};
/// Most module headers walked, modules loaded and dependency depth.
const MAX_MODULES: usize = 1024;
const MAX_DEP_DEPTH: usize = 32;
/// `GRUB_MEMORY_MACHINE_SCRATCH_ADDR`: the E820 buffer.
const SCRATCH_ADDR: u32 = 0x68000;
/// include/grub/i386/linux.h.
pub const LINUX_MAGIC: u32 = 0x5372_6448;
pub const LINUX_MAX_SETUP_SECTS: u8 = 64;
pub const LINUX_BOOT_LOADER_TYPE: u8 = 0x72;
pub const LINUX_HEAP_END_OFFSET: u16 = 0x9000 - 0x200;
pub const LINUX_BZIMAGE_ADDR: u32 = 0x100000;
pub const LINUX_INITRD_MAX_ADDRESS: u32 = 0x37FF_FFFF;
pub const LINUX_CL_MAGIC: u16 = 0xA33F;
/// `struct linux_kernel_params`: one page; e820_map at 0x2D0 holds
/// (0x400 - 0x2D0) / 20 entries.
const PARAMS_SIZE: u32 = 0x1000;
const E820_MAX: usize = (0x400 - 0x2D0) / 20;
/// `grub_err_t` numbers (include/grub/err.h).
pub const ERR_FILE_NOT_FOUND: u32 = 5;
pub const ERR_OUT_OF_RANGE: u32 = 11;
pub const ERR_UNKNOWN_DEVICE: u32 = 12;
pub const ERR_BAD_ARGUMENT: u32 = 18;
pub const ERR_BAD_OS: u32 = 21;
const ERR_UNKNOWN_FS: u32 = 8;
const ERR_OUT_OF_MEMORY: u32 = 3;
/// Debian 2.06 `command.lst` for the commands the model runs, used when
/// `$prefix/i386-pc/command.lst` cannot be read.
const COMMAND_MODULES: &[(&str, &str)] =
    &[("echo", "echo"), ("linux", "linux"), ("initrd", "linux"), ("linux16", "linux16"), ("initrd16", "linux16")];
/// Script commands of the kernel and normal.mod: nothing to load, and
/// the evaluator already ran them (every other command's module is
/// loaded on first use, as `command.lst` says).
const NO_EFFECT: &[&str] = &[
    "set",
    "unset",
    "export",
    "setparams",
    "shift",
    "return",
    "break",
    "continue",
    "eval",
    "menuentry",
    "submenu",
    "source",
    ".",
    "configfile",
];

/// A GRUB 2 error: its number and words (`grub_error`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grub2Error {
    pub number: u32,
    pub message: String,
}

fn err(number: u32, message: impl Into<String>) -> Grub2Error {
    Grub2Error { number, message: message.into() }
}

fn le32(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(o..o.checked_add(4)?)?.try_into().ok()?))
}
fn le16(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(o..o.checked_add(2)?)?.try_into().ok()?))
}

/// `grub_machine_get_bootlocation` (kern/i386/pc/init.c).
pub fn boot_location(drive: u8, boot_dev: [u8; 3]) -> String {
    let mut d = format!("{}d{}", if drive & 0x80 != 0 { 'h' } else { 'f' }, drive & 0x7F);
    let (dos, bsd) = (boot_dev[2], boot_dev[1]);
    if dos != 0xFF {
        d.push_str(&format!(",{}", u32::from(dos) + 1));
    }
    if bsd != 0xFF {
        d.push_str(&format!(",{}", u32::from(bsd) + 1));
    }
    d
}

/// `grub_set_prefix_and_root` (kern/main.c): `(root, prefix)`, or `None`
/// for both when GRUB knows no device.
pub fn prefix_and_root(prefix: Option<&str>, fwdevice: &str) -> (String, String) {
    let mut device: Option<String> = None;
    let mut path = None;
    if let Some(p) = prefix {
        let mut rest = p;
        if let Some(inner) = p.strip_prefix('(')
            && let Some(close) = inner.rfind(')')
        {
            device = Some(inner[..close].to_string());
            rest = &inner[close + 1..];
        }
        if !rest.is_empty() {
            path = Some(rest.to_string());
        }
    }
    let device = match device {
        None => fwdevice.to_string(),
        Some(d) if d.is_empty() || d.starts_with(',') => {
            let drive = fwdevice.split(',').next().unwrap_or(fwdevice);
            format!("{drive}{d}")
        }
        Some(d) => d,
    };
    let prefix = format!("({device}){}", path.unwrap_or_default());
    (device, prefix)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The evaluator's view of the disk with GRUB 2's own `root`/`prefix`.
struct Ctx<'d> {
    disk: DiskContext<'d>,
    env: Vec<(String, String)>,
}

impl Grub2Context for Ctx<'_> {
    fn read_file(&self, device: &str, path: &str, limit: u64) -> Lookup<Vec<u8>> {
        self.disk.read_file(device, path, limit)
    }
    fn list_dir(&self, device: &str, path: &str) -> Lookup<Vec<String>> {
        self.disk.list_dir(device, path)
    }
    fn stat(&self, device: &str, path: &str) -> Lookup<NodeType> {
        self.disk.stat(device, path)
    }
    fn search(&self, kind: SearchKind, value: &str, hints: &[String]) -> Lookup<String> {
        self.disk.search(kind, value, hints)
    }
    fn initial_env(&self) -> Vec<(String, String)> {
        self.env.clone()
    }
}

/// What `linux` left for `initrd` and `boot` (`linux_params` and friends).
struct Loaded {
    kernel: String,
    protocol: u16,
    params: Vec<u8>,
    prot_mode_target: u32,
    prot_init_space: u32,
    prot_file_size: u32,
    setup_sects: u32,
    maximal_cmdline_size: u32,
    cmdline: String,
    linux_mem_size: u64,
    initrd: Option<(String, u32, u32)>,
}

/// What `linux16` left (loader/i386/pc/linux.c): the real-mode part is
/// already at `real_target`, the protected-mode part at `prot_target`.
struct Loaded16 {
    kernel: String,
    protocol: u16,
    bzimage: bool,
    real_target: u32,
    prot_target: u32,
    prot_size: u32,
    setup_size: u32,
    cmdline: String,
    linux_mem_size: u64,
    initrd: Option<(String, u32, u32)>,
}

/// `GRUB_LINUX_CL_OFFSET` of the 16-bit loader.
const LINUX16_CL_OFFSET: u32 = 0x9000;
const LINUX_OLD_REAL_MODE_ADDR: u32 = 0x90000;
const LINUX_ZIMAGE_ADDR: u32 = 0x10000;
const LINUX_SETUP_STACK: u16 = 0x9000;

struct Grub2 {
    vm: Arc<Mutex<Hvm>>,
    dev: Arc<DiskViaBios>,
    /// `grub_console_cur_color`.
    color: u8,
    root: String,
    prefix: String,
    loaded_modules: BTreeSet<String>,
    command_modules: BTreeMap<String, String>,
    /// Errors printed (`grub_err_printed_errors`).
    printed_errors: u32,
    last_error: Option<Grub2Error>,
}

/// Splits `(dev)/path` or `/path` on `root` (`grub_file_open`).
fn split_path(text: &str, root: &str) -> (String, String) {
    let p = BootPath::parse(text);
    match p.device {
        Some(d) => (d.trim_matches(['(', ')']).to_string(), if p.path.is_empty() { "/".into() } else { p.path }),
        None => (root.trim_matches(['(', ')']).to_string(), p.path),
    }
}

impl Grub2 {
    fn vm(&self) -> MutexGuard<'_, Hvm> {
        lock(&self.vm)
    }

    /// `grub_console_putchar_real`.
    fn putc(&self, c: u8) {
        let mut vm = self.vm();
        if matches!(c, 7 | 8 | 10 | 13) {
            vm.bios_call(0x10, &[(Gpr::Eax, 0x0E00 | u32::from(c)), (Gpr::Ebx, 1)], &[]);
            return;
        }
        let pos = vm.bios_call(0x10, &[(Gpr::Eax, 0x0300), (Gpr::Ebx, 0)], &[]).gpr[Gpr::Edx as usize];
        vm.bios_call(0x10, &[(Gpr::Eax, 0x0900 | u32::from(c)), (Gpr::Ebx, u32::from(self.color)), (Gpr::Ecx, 1)], &[]);
        let x = pos & 0xFF;
        if x >= 79 {
            vm.bios_call(0x10, &[(Gpr::Eax, 0x0E0D), (Gpr::Ebx, 1)], &[]);
            vm.bios_call(0x10, &[(Gpr::Eax, 0x0E0A), (Gpr::Ebx, 1)], &[]);
        } else {
            vm.bios_call(0x10, &[(Gpr::Eax, 0x0200), (Gpr::Ebx, 0), (Gpr::Edx, (pos & 0xFF00) | (x + 1))], &[]);
        }
    }

    /// `grub_printf`: "\n" is followed by "\r" (`grub_putcode_dumb`, `putglyph`).
    fn print(&self, s: &str) {
        for &b in s.as_bytes() {
            self.putc(b);
            if b == b'\n' {
                self.putc(b'\r');
            }
        }
    }

    /// `grub_print_error`.
    fn print_error(&mut self, e: &Grub2Error) {
        // An error code returned without grub_error leaves grub_errno
        // clear: nothing is printed.
        if !e.message.is_empty() {
            self.print(&format!("error: {}.\n", e.message));
            self.printed_errors += 1;
        }
        // The entry's first error is what made it fail.
        if self.last_error.is_none() {
            self.last_error = Some(e.clone());
        }
    }

    /// `grub_wait_after_message`: nobody presses a key; 10 s pass.
    fn wait_after_message(&self) {
        self.print("\nPress any key to continue...");
        self.vm().bus.clock.advance(10_000_000_000);
        self.vm().update_ticks();
        self.print("\n");
    }

    fn sleep_ms(&self, ms: u64) {
        let mut vm = self.vm();
        vm.bus.clock.advance(ms * 1_000_000);
        vm.update_ticks();
    }

    /// Reads a file as `grub_file_open` + `grub_file_read` do, with GRUB's
    /// errors for a missing device, filesystem or file.
    fn read(&self, ctx: &dyn Grub2Context, text: &str, limit: u64) -> Result<(String, Vec<u8>), Grub2Error> {
        let (dev, path) = split_path(text, &self.root);
        if dev.is_empty() {
            return Err(err(ERR_BAD_ARGUMENT, "variable `root' isn't set"));
        }
        self.dev.invalidate();
        match ctx.read_file(&dev, &path, limit) {
            Lookup::Found(d) => Ok((format!("({dev}){path}"), d)),
            _ => {
                if !matches!(ctx.stat(&dev, "/"), Lookup::Found(_)) {
                    return Err(if dev.contains(',') {
                        err(ERR_UNKNOWN_DEVICE, "no such partition")
                    } else {
                        err(ERR_UNKNOWN_DEVICE, format!("disk `{dev}' not found"))
                    });
                }
                if !matches!(ctx.list_dir(&dev, "/"), Lookup::Found(_)) {
                    return Err(err(ERR_UNKNOWN_FS, "unknown filesystem"));
                }
                Err(err(ERR_FILE_NOT_FOUND, format!("file `{path}' not found")))
            }
        }
    }

    /// `grub_dl_load`: a module from core, or `$prefix/i386-pc/NAME.mod`
    /// after its dependencies.
    fn dl_load(&mut self, ctx: &dyn Grub2Context, name: &str, depth: usize) -> Result<(), Grub2Error> {
        if self.loaded_modules.contains(name) {
            return Ok(());
        }
        if depth > MAX_DEP_DEPTH || self.loaded_modules.len() >= MAX_MODULES {
            return Err(err(ERR_OUT_OF_RANGE, format!("module `{name}': dependencies nested too deep")));
        }
        let file = format!("{}/i386-pc/{name}.mod", self.prefix);
        let (_, data) = self.read(ctx, &file, 16 << 20)?;
        let Some((_, deps)) = module_info(&data) else {
            return Err(err(2, "invalid arch-independent ELF magic"));
        };
        for d in &deps {
            self.dl_load(ctx, d, depth + 1)?;
        }
        self.loaded_modules.insert(name.to_string());
        Ok(())
    }

    /// `read_lists` (normal/main.c): the lists in `$prefix/i386-pc`; a
    /// missing one is no error.
    fn read_lists(&mut self, ctx: &dyn Grub2Context) {
        for list in ["command", "fs", "crypto", "terminal"] {
            let file = format!("{}/i386-pc/{list}.lst", self.prefix);
            let Ok((_, data)) = self.read(ctx, &file, 1 << 20) else { continue };
            if list != "command" {
                continue;
            }
            for line in String::from_utf8_lossy(&data).lines().take(4096) {
                if let Some((cmd, module)) = line.split_once(':') {
                    let cmd = cmd.trim_start_matches('*').trim();
                    self.command_modules.insert(cmd.to_string(), module.trim().to_string());
                }
            }
        }
    }

    /// `grub_dyncmd_dispatcher`: the module of `cmd` is loaded first.
    fn need_command(&mut self, ctx: &dyn Grub2Context, cmd: &str) -> Result<(), Grub2Error> {
        let module = match self.command_modules.get(cmd) {
            Some(m) => m.clone(),
            None => match COMMAND_MODULES.iter().find(|(c, _)| *c == cmd) {
                Some((_, m)) => m.to_string(),
                None => return Ok(()),
            },
        };
        self.dl_load(ctx, &module, 0)
    }

    /// A loader command of a menu entry: its module loaded on demand
    /// ([`Self::need_command`]), then `f` with `$root` set to the entry's
    /// root for the duration (GRUB runs the entry in its own context).
    fn loader_command<T>(
        &mut self,
        ctx: &dyn Grub2Context,
        cmd: &str,
        root: &str,
        f: impl FnOnce(&mut Self) -> Result<T, Grub2Error>,
    ) -> Result<T, Grub2Error> {
        let saved = std::mem::replace(&mut self.root, root.to_string());
        let r = self.need_command(ctx, cmd).and_then(|()| f(self));
        self.root = saved;
        r
    }
}

/// `grub_cmd_initrd`'s checks before it reads: a file name, and a kernel
/// loaded by this entry's `linux`/`linux16`.
fn kernel_first<'k, K>(loaded: Option<&'k mut K>, argv: &[String]) -> Result<&'k mut K, Grub2Error> {
    match loaded {
        Some(k) => Ok(k),
        None if argv.len() < 2 => Err(err(ERR_BAD_ARGUMENT, "filename expected")),
        None => Err(err(ERR_BAD_ARGUMENT, "you need to load the kernel first")),
    }
}

/// E820 through int 15h (`grub_machine_mmap_iterate`, kern/i386/pc/mmap.c).
pub(crate) fn e820(vm: &mut Hvm) -> Vec<(u64, u64, u32)> {
    super::grub::e820_via_int15(vm, SCRATCH_ADDR)
}

/// Is `[a, a + len)` inside one E820 RAM region?
fn in_ram(map: &[(u64, u64, u32)], a: u64, len: u64) -> bool {
    map.iter().any(|&(b, l, t)| t == 1 && b <= a && a.saturating_add(len) <= b.saturating_add(l))
}

/// How an entry's commands ended.
enum Outcome {
    Boot(Box<Loaded>),
    Boot16(Box<Loaded16>),
    /// No kernel loaded (errors were printed).
    Failed,
    Stop(String),
}

/// Runs the GRUB 2 model from `handoff` (a "GRUB 2 core.img" hand-off at
/// 0000:8200). A core.img the model cannot read ends the run with
/// [`EndState::LoaderStopped`] saying why.
pub(crate) fn core(mut hvm: Hvm, handoff: EndState, name: String) -> (Hvm, EndState) {
    let EndState::HandOff { at, .. } = &handoff else {
        return (hvm, handoff);
    };
    let at = *at;
    let stop = |reason: String| EndState::LoaderStopped { loader: LOADER.into(), reason };
    let mut startup = vec![0u8; (CORE_END - STARTUP_ADDR) as usize];
    hvm.bus.read_phys(STARTUP_ADDR, &mut startup);
    let core = match parse_core(&startup) {
        Ok(c) => c,
        Err(e) => return (hvm, stop(format!("core.img at {at} is not one the model reads: {e}"))),
    };
    hvm.mark("grub2: core.img decompresses");
    let drive = hvm.lo(Gpr::Edx);
    // startup_raw: save the drive, reset the disk system, decompress.
    hvm.bus.w8(STARTUP_ADDR + 0x1B, drive);
    hvm.bios_call(0x13, &[(Gpr::Eax, 0), (Gpr::Edx, u32::from(drive))], &[]);
    hvm.bus.write_phys(DECOMPRESSION_ADDR, &core.payload);
    // grub_machine_init: the memory map.
    let map = e820(&mut hvm);
    let size = hvm.bios.drive.sectors * 512;
    let vm = Arc::new(Mutex::new(hvm));
    let dev = Arc::new(DiskViaBios { vm: vm.clone(), cache: Mutex::new(Cache::default()), drive, size, name });
    // GRUB 2 scans PVs only with its lvm module loaded, which the model
    // does not load: the disk as GRUB sees it without one.
    let end = match Disk::from_reader_without_lvm(dev.clone()) {
        Ok(disk) => {
            let fw = boot_location(drive, core.boot_dev);
            let (root, prefix) = prefix_and_root(core.prefix(), &fw);
            let embedded: BTreeSet<String> = core.module_names().into_iter().collect();
            let mut g = Grub2 {
                vm: vm.clone(),
                dev: dev.clone(),
                color: 0x07,
                root,
                prefix,
                loaded_modules: embedded,
                command_modules: BTreeMap::new(),
                printed_errors: 0,
                last_error: None,
            };
            let end = g.main(&disk, &core, &map, &fw);
            drop(g);
            end
        }
        Err(e) => stop(format!("the partition table read through int 13h failed: {e}")),
    };
    drop(dev);
    let hvm = match Arc::try_unwrap(vm) {
        Ok(m) => m.into_inner().unwrap_or_else(|e| e.into_inner()),
        Err(_) => unreachable!("every holder of the VM was dropped above"),
    };
    (hvm, end)
}

impl Grub2 {
    fn ctx<'d>(&self, disk: &'d Disk, env: Vec<(String, String)>) -> Ctx<'d> {
        let whole = disk.whole_disk();
        Ctx { disk: DiskContext::new(disk, &whole, "/boot/grub/grub.cfg"), env }
    }

    fn env(&self, fw: &str) -> Vec<(String, String)> {
        vec![
            ("root".into(), self.root.clone()),
            ("prefix".into(), self.prefix.clone()),
            ("grub_platform".into(), "pc".into()),
            ("cmdpath".into(), format!("({fw})")),
        ]
    }

    /// `grub_main` from "Welcome to GRUB!" on.
    fn main(&mut self, disk: &Disk, core: &CoreImage, map: &[(u64, u64, u32)], fw: &str) -> EndState {
        let stop = |reason: String| EndState::LoaderStopped { loader: LOADER.into(), reason };
        // GRUB_TERM_DEFAULT_HIGHLIGHT_COLOR, then the normal colour.
        self.color = 0x70;
        self.print("Welcome to GRUB!");
        self.color = 0x07;
        self.print("\n\n");
        // The embedded config (`grub_parser_execute (load_config)`).
        if let Some(cfg) = core.config() {
            let ctx = self.ctx(disk, self.env(fw));
            let ev = grub2::evaluate(cfg.as_bytes(), "(memdisk)/embedded.cfg", &ctx);
            for (k, v) in &ev.env {
                match k.as_str() {
                    "root" => self.root = v.clone(),
                    "prefix" => self.prefix = v.clone(),
                    _ => {}
                }
            }
        }
        // grub_load_normal_mode.
        self.vm().mark("grub2: load normal.mod");
        let ctx = self.ctx(disk, self.env(fw));
        if let Err(e) = self.dl_load(&ctx, "normal", 0) {
            self.print_error(&e);
            self.print("grub rescue> ");
            return stop(format!(
                "{}: `grub_dl_load (\"normal\")` failed with \"{}\" ($prefix is {}): GRUB waits at `grub rescue> `",
                LOADER, e.message, self.prefix
            ));
        }
        self.read_lists(&ctx);
        // read_config_file ($prefix/grub.cfg).
        self.vm().mark("grub2: read grub.cfg");
        let cfg_name = format!("{}/grub.cfg", self.prefix);
        let data = match self.read(&ctx, &cfg_name, MAX_CONFIG_BYTES) {
            Ok((_, d)) => d,
            Err(e) => {
                return stop(format!(
                    "no config: {} (\"{}\"); GRUB ignores the error and shows its `grub>` command line",
                    cfg_name, e.message
                ));
            }
        };
        let (_, cfg_path) = split_path(&cfg_name, &self.root);
        self.dev.invalidate();
        let ev = grub2::evaluate(&data, &cfg_path, &ctx);
        // Side effects of the config's own commands: modules and echo.
        for argv in &ev.config_commands {
            if let Err(e) = self.replay(&ctx, argv, &ev) {
                self.print_error(&e);
            }
        }
        self.menu(&ctx, &ev, &cfg_name, map)
    }

    /// Replays a command of the config or an entry for what the model
    /// does: `insmod`, `echo` and the module of a command.
    fn replay(&mut self, ctx: &dyn Grub2Context, argv: &[String], ev: &Evaluation) -> Result<(), Grub2Error> {
        let Some(cmd) = argv.first() else { return Ok(()) };
        match cmd.as_str() {
            "insmod" => match argv.get(1) {
                None => Err(err(ERR_BAD_ARGUMENT, "one argument expected")),
                Some(m) if m.contains('/') => {
                    let (_, data) = self.read(ctx, m, 16 << 20)?;
                    match module_info(&data) {
                        Some((Some(n), _)) => {
                            self.loaded_modules.insert(n);
                            Ok(())
                        }
                        _ => Err(err(2, "invalid arch-independent ELF magic")),
                    }
                }
                Some(m) => self.dl_load(ctx, m, 0),
            },
            "echo" => {
                self.need_command(ctx, "echo")?;
                self.print(&echo(&argv[1..]));
                Ok(())
            }
            c if ev.functions.iter().any(|f| f == c) || NO_EFFECT.contains(&c) => Ok(()),
            c if c.contains('=') => Ok(()),
            c => self.need_command(ctx, c),
        }
    }

    /// `grub_show_menu` after the timeout: the default entry, then the
    /// fallbacks.
    fn menu(&mut self, ctx: &dyn Grub2Context, ev: &Evaluation, cfg: &str, map: &[(u64, u64, u32)]) -> EndState {
        let menu = &ev.menu;
        if menu.entries.is_empty() {
            return EndState::LoaderStopped {
                loader: LOADER.into(),
                reason: format!("{cfg} defines no menu entry: GRUB shows its `grub>` command line"),
            };
        }
        let (first, mut why, mut queue) = match self.run_menu(ev) {
            menu::MenuEnd::Stop(end) => return end,
            // GRUB unsets `fallback` at the first key.
            menu::MenuEnd::Chosen(i) => (i, format!("entry {i} chosen with the keys from --keys"), Vec::new()),
            menu::MenuEnd::Timeout(timeout) => {
                let Some(first) = grub2::default_entry(menu) else {
                    return EndState::LoaderStopped {
                        loader: LOADER.into(),
                        reason: format!("{cfg}: no entry to boot"),
                    };
                };
                let why = match &menu.default {
                    DefaultSpec::Unset | DefaultSpec::Saved => {
                        format!("no usable `default`: the first entry, after {timeout} s")
                    }
                    DefaultSpec::Index(n) => format!("`default` is {n}, after {timeout} s"),
                    DefaultSpec::Name(n) => format!("`default` is {n:?}, after {timeout} s"),
                };
                (first, why, menu.fallback.clone())
            }
        };
        queue.retain(|&f| f < menu.entries.len());
        let mut index = first;
        let mut failed = Vec::new();
        let mut first_pass = true;
        loop {
            let e = &menu.entries[index];
            if first_pass {
                self.print(&format!("  Booting `{}'\n\n", e.title));
            } else {
                self.print(&format!("\n   Falling back to `{}'\n\n", e.title));
                self.sleep_ms(2000);
            }
            first_pass = false;
            self.vm().mark(format!("grub2: run entry {index}"));
            let errs_before = self.printed_errors;
            self.last_error = None;
            let cmds = ev.entry_commands.get(index).cloned().unwrap_or_default();
            match self.run_entry(ctx, ev, index, &cmds, map) {
                Outcome::Boot(k) => {
                    return self.boot_linux(*k, index, e.title.clone(), why, cfg.to_string(), failed, map);
                }
                Outcome::Boot16(k) => {
                    return self.boot_linux16(*k, index, e.title.clone(), why, cfg.to_string(), failed);
                }
                Outcome::Stop(r) => return EndState::LoaderStopped { loader: LOADER.into(), reason: r },
                Outcome::Failed => {}
            }
            if errs_before != self.printed_errors {
                self.wait_after_message();
            }
            let last = self.last_error.clone().unwrap_or_else(|| err(0, "the entry loads no kernel"));
            failed.push(FailedEntry {
                index,
                title: e.title.clone(),
                error: last.number,
                message: last.message.clone(),
            });
            if queue.is_empty() {
                self.print("\n  Failed to boot both default and fallback entries.\n");
                self.wait_after_message();
                return EndState::LoaderError {
                    loader: LOADER.into(),
                    entry_index: index,
                    entry_title: e.title.clone(),
                    error: last.number,
                    message: last.message,
                    detail: "no fallback entry is left; GRUB goes back to its menu".into(),
                    failed,
                };
            }
            let next = queue.remove(0);
            why = format!("entry {index} failed; `fallback` names entry {next}");
            index = next;
        }
    }

    /// `grub_menu_execute_entry`: each command, its error printed after
    /// it; the implicit `boot` when a kernel is loaded.
    fn run_entry(
        &mut self,
        ctx: &dyn Grub2Context,
        ev: &Evaluation,
        index: usize,
        cmds: &[Vec<String>],
        map: &[(u64, u64, u32)],
    ) -> Outcome {
        let entry = &ev.menu.entries[index];
        let root = entry.root.clone().unwrap_or_else(|| self.root.clone());
        let mut loaded: Option<Loaded> = None;
        let mut loaded16: Option<Loaded16> = None;
        for argv in cmds {
            let Some(cmd) = argv.first().map(String::as_str) else { continue };
            let r = match cmd {
                "linux" | "linux16" => {
                    loaded = None;
                    loaded16 = None;
                    let args = &argv[1..];
                    if cmd == "linux" {
                        self.loader_command(ctx, cmd, &root, |g| g.linux(ctx, args, map)).map(|k| loaded = Some(k))
                    } else {
                        self.loader_command(ctx, cmd, &root, |g| g.linux16(ctx, args, map)).map(|k| loaded16 = Some(k))
                    }
                }
                "initrd" => self.loader_command(ctx, cmd, &root, |g| {
                    g.initrd(ctx, &argv[1..], kernel_first(loaded.as_mut(), argv)?, map)
                }),
                "initrd16" => self.loader_command(ctx, cmd, &root, |g| {
                    g.initrd16(ctx, &argv[1..], kernel_first(loaded16.as_mut(), argv)?, map)
                }),
                "chainloader" | "multiboot" | "multiboot2" | "module" | "module2" => {
                    return Outcome::Stop(format!("entry {index} uses `{cmd}`: not modelled"));
                }
                "boot" => break,
                _ => self.replay(ctx, argv, ev),
            };
            if let Err(e) = r {
                self.print_error(&e);
            }
        }
        match (loaded, loaded16) {
            (Some(k), _) => Outcome::Boot(Box::new(k)),
            (None, Some(k)) => Outcome::Boot16(Box::new(k)),
            (None, None) => Outcome::Failed,
        }
    }

    /// What `grub_cmd_linux` of both loaders (loader/i386/linux.c and
    /// loader/i386/pc/linux.c) does first: the file (below the top of RAM
    /// and 2 GiB), long enough for the setup header, the 0xAA55 boot flag
    /// and at most `GRUB_LINUX_MAX_SETUP_SECTS` setup sectors. Returns the
    /// name as given, the resolved name and the bytes.
    fn read_kernel(
        &mut self,
        ctx: &dyn Grub2Context,
        args: &[String],
        map: &[(u64, u64, u32)],
    ) -> Result<(String, String, Vec<u8>), Grub2Error> {
        let Some(file) = args.first() else {
            return Err(err(ERR_BAD_ARGUMENT, "filename expected"));
        };
        let ram_top = map.iter().filter(|e| e.2 == 1).map(|e| e.0.saturating_add(e.1)).max().unwrap_or(0);
        let (name, kernel) = self.read(ctx, file, ram_top.min(1 << 31))?;
        if kernel.len() < 0x268 {
            return Err(err(ERR_BAD_OS, format!("premature end of file {file}")));
        }
        if le16(&kernel, 0x1FE) != Some(0xAA55) {
            return Err(err(ERR_BAD_OS, "invalid magic number"));
        }
        if kernel[0x1F1] > LINUX_MAX_SETUP_SECTS {
            return Err(err(ERR_BAD_OS, "too many setup sectors"));
        }
        Ok((file.clone(), name, kernel))
    }

    /// `grub_cmd_linux` (loader/i386/linux.c).
    fn linux(
        &mut self,
        ctx: &dyn Grub2Context,
        args: &[String],
        map: &[(u64, u64, u32)],
    ) -> Result<Loaded, Grub2Error> {
        let (file, name, kernel) = self.read_kernel(ctx, args, map)?;
        let b = &kernel;
        let version = le16(b, 0x206).unwrap_or(0);
        if le32(b, 0x202) != Some(LINUX_MAGIC) || version < 0x0203 {
            return Err(err(ERR_BAD_OS, "version too old for 32-bit boot (try with `linux16')"));
        }
        if b[0x211] & 1 == 0 {
            return Err(err(ERR_BAD_OS, "zImage doesn't support 32-bit boot (try with `linux16')"));
        }
        let mut maximal_cmdline_size =
            if version >= 0x0206 { le32(b, 0x238).unwrap_or(0).saturating_add(1) } else { 256 };
        maximal_cmdline_size = maximal_cmdline_size.clamp(128, 1 << 20);
        let setup_sects = match b[0x1F1] {
            0 => 4,
            n => u32::from(n),
        };
        let real_size = setup_sects << 9;
        let prot_file_size = (b.len() as u32)
            .checked_sub(real_size + 512)
            .ok_or_else(|| err(ERR_BAD_OS, format!("premature end of file {file}")))?;
        let kernel_alignment = le32(b, 0x230).unwrap_or(0);
        let (mut align, relocatable) =
            if version >= 0x205 && kernel_alignment != 0 && kernel_alignment & (kernel_alignment - 1) == 0 {
                (kernel_alignment.trailing_zeros(), b[0x234] != 0)
            } else {
                (0, false)
            };
        let page = |x: u32| x.div_ceil(4096).saturating_mul(4096);
        let (prot_size, prot_init_space, preferred) = if version >= 0x020A {
            let init = le32(b, 0x260).unwrap_or(0);
            let pref = if relocatable { le32(b, 0x258).unwrap_or(LINUX_BZIMAGE_ADDR) } else { LINUX_BZIMAGE_ADDR };
            (init, page(init), pref)
        } else {
            (prot_file_size, page(prot_file_size).saturating_mul(3), LINUX_BZIMAGE_ADDR)
        };
        // allocate_pages: at the preferred address (GRUB's relocator would
        // look further for a relocatable kernel; the model does not).
        let need = prot_size.max(prot_file_size);
        if !in_ram(map, u64::from(preferred), u64::from(need)) {
            return Err(err(
                ERR_OUT_OF_MEMORY,
                format!("out of memory (no RAM for {need:#x} bytes at {preferred:#x})"),
            ));
        }
        if !relocatable {
            align = 0;
        }
        let prot_mode_target = preferred;
        // linux_params: the setup header and the rest of the first page.
        let mut p = vec![0u8; PARAMS_SIZE as usize];
        let n = b.len().min(PARAMS_SIZE as usize);
        p[0x1F1..n].copy_from_slice(&b[0x1F1..n]);
        let code32 = le32(b, 0x214).unwrap_or(LINUX_BZIMAGE_ADDR);
        let put16 = |p: &mut [u8], o: usize, v: u16| p[o..o + 2].copy_from_slice(&v.to_le_bytes());
        let put32 = |p: &mut [u8], o: usize, v: u32| p[o..o + 4].copy_from_slice(&v.to_le_bytes());
        put32(&mut p, 0x214, prot_mode_target.wrapping_add(code32).wrapping_sub(LINUX_BZIMAGE_ADDR));
        put32(&mut p, 0x230, 1 << align);
        p[0x1FE] = 0; // padding10
        p[0x1FF] = 0; // ps_mouse
        p[0x210] = LINUX_BOOT_LOADER_TYPE;
        put16(&mut p, 0x20, LINUX_CL_MAGIC);
        put16(&mut p, 0x22, 0x1000);
        put32(&mut p, 0x218, 0);
        put32(&mut p, 0x21C, 0);
        put16(&mut p, 0x224, LINUX_HEAP_END_OFFSET);
        p[0x211] |= 0x80;
        put16(&mut p, 0x02, ((32 * 0x100000) >> 10) as u16);
        put32(&mut p, 0x1E0, (32 * 0x100000) >> 10);
        put16(&mut p, 0x04, 0);
        put16(&mut p, 0x0A, 0);
        put16(&mut p, 0x10, 16);
        let mut linux_mem_size = 0u64;
        for a in &args[1..] {
            if let Some(v) = a.strip_prefix("mem=") {
                linux_mem_size = match grub2::strtoul(v) {
                    Some((n, rest)) => {
                        let shift = match rest.chars().next().map(|c| c.to_ascii_lowercase()) {
                            Some('g') => 30,
                            Some('m') => 20,
                            Some('k') => 10,
                            _ => 0,
                        };
                        n.checked_shl(shift).filter(|v| v >> shift == n).unwrap_or(0)
                    }
                    None => 0,
                };
            } else if a.starts_with("quiet") {
                p[0x211] |= 0x20;
            } else if a.starts_with("vga=") {
                return Err(err(ERR_BAD_ARGUMENT, format!("{a}: `vga=` (the vbe path) is not modelled")));
            }
        }
        let mut cmdline = format!("BOOT_IMAGE={}", grub2::loader_cmdline(args));
        let cap = maximal_cmdline_size as usize - 1;
        if cmdline.len() > cap {
            let mut cut = cap;
            while !cmdline.is_char_boundary(cut) {
                cut -= 1;
            }
            cmdline.truncate(cut);
        }
        self.vm().bus.write_phys(prot_mode_target, &kernel[(real_size + 512) as usize..]);
        Ok(Loaded {
            kernel: name,
            protocol: version,
            params: p,
            prot_mode_target,
            prot_init_space,
            prot_file_size,
            setup_sects,
            maximal_cmdline_size,
            cmdline,
            linux_mem_size,
            initrd: None,
        })
    }

    /// `grub_cmd_initrd`: all files back to back, 4 KiB-aligned each
    /// (`loader/linux.c` `grub_initrd_load`), as high as allowed.
    fn initrd(
        &mut self,
        ctx: &dyn Grub2Context,
        files: &[String],
        k: &mut Loaded,
        map: &[(u64, u64, u32)],
    ) -> Result<(), Grub2Error> {
        let mut parts = Vec::new();
        let mut size = 0u64;
        for f in files.iter().take(64) {
            let (name, data) = self.read(ctx, f, 1 << 31)?;
            size = size.div_ceil(4) * 4 + data.len() as u64;
            parts.push((name, data));
        }
        if parts.is_empty() {
            return Err(err(ERR_BAD_ARGUMENT, "filename expected"));
        }
        let aligned = size.div_ceil(4096) * 4096;
        let mut addr_max = if k.protocol >= 0x0203 {
            u64::from(le32(&k.params, 0x22C).unwrap_or(0).min(LINUX_INITRD_MAX_ADDRESS))
        } else {
            u64::from(LINUX_INITRD_MAX_ADDRESS)
        };
        if k.linux_mem_size != 0 && k.linux_mem_size < addr_max {
            addr_max = k.linux_mem_size;
        }
        addr_max = addr_max.saturating_sub(0x10000);
        let addr_min = u64::from(k.prot_mode_target) + u64::from(k.prot_init_space);
        let addr = addr_max.saturating_sub(aligned) & !0xFFF;
        if addr < addr_min || aligned > addr_max {
            return Err(err(ERR_OUT_OF_RANGE, "the initrd is too big"));
        }
        // 2.06 hands `addr` to grub_relocator_alloc_chunk_align_safe, which
        // takes the size off once more (its max is the chunk's highest
        // start): the initrd ends one aligned size below `addr`, as the
        // kernel's "RAMDISK: [mem …]" under QEMU shows
        // (tests/interop_grub2.rs). Too low for that is GRUB_ERR_OUT_OF_RANGE
        // returned without grub_error: nothing is printed.
        let Some(top) = addr.checked_sub(aligned).filter(|&t| t >= addr_min) else {
            return Err(err(ERR_OUT_OF_RANGE, ""));
        };
        // GRUB_RELOCATOR_PREFERENCE_HIGH: the highest page in
        // [addr_min, top] whose chunk lies in RAM.
        let mut best = None;
        for &(b, l, t) in map {
            if t != 1 {
                continue;
            }
            let end = b.saturating_add(l);
            let hi = top.min(end.saturating_sub(aligned)) & !0xFFF;
            if end >= aligned && hi >= addr_min.max(b) && in_ram(map, hi, aligned) {
                best = best.max(Some(hi));
            }
        }
        let Some(addr) = best else {
            return Err(err(ERR_OUT_OF_MEMORY, "out of memory"));
        };
        let addr = addr as u32;
        let mut at = 0u64;
        let mut names = Vec::new();
        {
            let mut vm = self.vm();
            for (n, d) in &parts {
                at = at.div_ceil(4) * 4;
                vm.bus.write_phys(addr + at as u32, d);
                at += d.len() as u64;
                names.push(n.clone());
            }
        }
        k.params[0x218..0x21C].copy_from_slice(&addr.to_le_bytes());
        k.params[0x21C..0x220].copy_from_slice(&(size as u32).to_le_bytes());
        k.params[0x1FC..0x1FE].copy_from_slice(&0x0100u16.to_le_bytes());
        k.initrd = Some((names.join(" "), addr, size as u32));
        Ok(())
    }

    /// `grub_linux_boot` + `grub_relocator32_boot`.
    #[allow(clippy::too_many_arguments)]
    fn boot_linux(
        &mut self,
        mut k: Loaded,
        entry_index: usize,
        entry_title: String,
        why: String,
        config: String,
        failed: Vec<FailedEntry>,
        _map: &[(u64, u64, u32)],
    ) -> EndState {
        self.vm().mark("grub2: boot Linux");
        // Text mode: the cursor from the console (int 10h AH=03h).
        let pos = self.vm().bios_call(0x10, &[(Gpr::Eax, 0x0300), (Gpr::Ebx, 0)], &[]).gpr[Gpr::Edx as usize];
        let p = &mut k.params;
        p[0x00] = pos as u8;
        p[0x01] = (pos >> 8) as u8;
        p[0x06] = 3;
        p[0x07] = 80;
        p[0x0E] = 25;
        p[0x0F] = 1;
        // find_mmap_size, grub_linux_boot_mmap_find, _fill: three walks
        // of the BIOS map.
        let map1 = e820(&mut self.vm());
        let mmap_size = ((map1.len() as u32 * 20 + 4096).div_ceil(4096)) * 4096;
        let mut cl_offset = (mmap_size + PARAMS_SIZE).div_ceil(4096) * 4096;
        if cl_offset < k.setup_sects << 9 {
            cl_offset = (k.setup_sects << 9).div_ceil(4096) * 4096;
        }
        let real_size = (cl_offset + k.maximal_cmdline_size).div_ceil(4096) * 4096;
        let map2 = e820(&mut self.vm());
        let mut target = None;
        for &(b, l, t) in &map2 {
            if t != 1 || b > 0x90000 || b + l < 0x10000 {
                continue;
            }
            let (mut a, mut s) = (b, l);
            if a < 0x10000 {
                s -= 0x10000 - a;
                a = 0x10000;
            }
            if a + s > 0x90000 {
                s = 0x90000 - a;
            }
            if u64::from(real_size) > s {
                continue;
            }
            target = Some((a + s - u64::from(real_size)) as u32);
            break;
        }
        let Some(real_mode_target) = target else {
            return EndState::LoaderError {
                loader: LOADER.into(),
                entry_index,
                entry_title,
                error: ERR_OUT_OF_MEMORY,
                message: "cannot allocate real mode pages".into(),
                detail: format!("no RAM below 0x90000 for {real_size:#x} bytes"),
                failed,
            };
        };
        let map3 = e820(&mut self.vm());
        let mut e820: Vec<(u64, u64, u32)> = Vec::new();
        for (b, l, t) in map3 {
            let merge = e820.last().is_some_and(|last| last.0 + last.1 == b && last.2 == t);
            if merge {
                if let Some(last) = e820.last_mut() {
                    last.1 += l;
                }
            } else if e820.len() >= E820_MAX {
                return EndState::LoaderError {
                    loader: LOADER.into(),
                    entry_index,
                    entry_title,
                    error: ERR_OUT_OF_RANGE,
                    message: "too many e820 entries".into(),
                    detail: format!("boot_params holds {E820_MAX}"),
                    failed,
                };
            } else {
                e820.push((b, l, t));
            }
        }
        let p = &mut k.params;
        let cmd_line_ptr = real_mode_target + cl_offset;
        p[0x228..0x22C].copy_from_slice(&cmd_line_ptr.to_le_bytes());
        p[0x1E8] = e820.len() as u8;
        for (i, (b, l, t)) in e820.iter().enumerate() {
            let o = 0x2D0 + i * 20;
            p[o..o + 8].copy_from_slice(&b.to_le_bytes());
            p[o + 8..o + 16].copy_from_slice(&l.to_le_bytes());
            p[o + 16..o + 20].copy_from_slice(&t.to_le_bytes());
        }
        let entry = le32(p, 0x214).unwrap_or(LINUX_BZIMAGE_ADDR);
        let mut cl = vec![0u8; k.maximal_cmdline_size as usize];
        cl[..k.cmdline.len()].copy_from_slice(k.cmdline.as_bytes());
        let mut vm = self.vm();
        vm.bus.write_phys(real_mode_target, &vec![0u8; real_size as usize]);
        vm.bus.write_phys(real_mode_target, &k.params);
        vm.bus.write_phys(cmd_line_ptr, &cl);
        // grub_relocator32_boot: flat 32-bit segments (code 0x10, data
        // 0x18), interrupts off, EIP = code32_start, ESI = ESP = params.
        let r = &mut vm.cpu.regs;
        r.cr0 |= 1;
        let attrs = Segment::PRESENT | Segment::DB | Segment::G;
        r.seg[SegReg::Cs as usize] = Segment { selector: 0x10, base: 0, limit: 0xFFFF_FFFF, attributes: 0x1B | attrs };
        for s in [SegReg::Ds, SegReg::Es, SegReg::Fs, SegReg::Gs, SegReg::Ss] {
            r.seg[s as usize] = Segment { selector: 0x18, base: 0, limit: 0xFFFF_FFFF, attributes: 0x13 | attrs };
        }
        r.eip = entry;
        for g in [Gpr::Eax, Gpr::Ebx, Gpr::Ecx, Gpr::Edx, Gpr::Edi, Gpr::Ebp] {
            r.gpr[g as usize] = 0;
        }
        r.gpr[Gpr::Esi as usize] = real_mode_target;
        r.gpr[Gpr::Esp as usize] = real_mode_target;
        r.eflags &= !flags::IF;
        let at = vm.loc();
        drop(vm);
        let (initrd, initrd_addr, initrd_size) = initrd_fields(k.initrd);
        EndState::KernelEntry {
            at,
            info: Box::new(KernelEntryInfo {
                loader: LOADER.into(),
                entry_index: Some(entry_index),
                entry_title,
                why,
                config,
                kernel: k.kernel,
                initrd,
                cmdline: k.cmdline,
                protocol: protocol_version(k.protocol),
                bzimage: true,
                setup_base: real_mode_target,
                zero_page: real_mode_target,
                cmd_line_ptr,
                kernel_load: k.prot_mode_target,
                kernel_size: k.prot_file_size,
                setup_size: k.setup_sects << 9,
                initrd_addr,
                initrd_size,
                mem_lower_kib: 0,
                mem_upper_kib: 0,
                regs: EntryRegs {
                    cs: 0x10,
                    ip: entry,
                    ds: 0x18,
                    es: 0x18,
                    fs: 0x18,
                    gs: 0x18,
                    ss: 0x18,
                    sp: real_mode_target,
                    esi: Some(real_mode_target),
                    interrupts: false,
                    mode: PROTECTED_MODE.into(),
                },
                failed,
                setup_entry: None,
                checks: Vec::new(),
            }),
        }
    }

    /// `grub_cmd_linux` of loader/i386/pc/linux.c (`linux16`): the
    /// real-mode part (setup header patched) at the highest low-memory
    /// target, the command line at +0x9000, the rest at 1 MiB (bzImage)
    /// or 64 KiB (zImage).
    fn linux16(
        &mut self,
        ctx: &dyn Grub2Context,
        args: &[String],
        map: &[(u64, u64, u32)],
    ) -> Result<Loaded16, Grub2Error> {
        let (file, name, kernel) = self.read_kernel(ctx, args, map)?;
        let b = &kernel;
        let version = le16(b, 0x206).unwrap_or(0);
        let hdrs = le32(b, 0x202) == Some(LINUX_MAGIC) && version >= 0x0200;
        let mut setup_sects = u32::from(b[0x1F1]);
        let mut maximal_cmdline_size = 256u32;
        let mut h = b.to_vec();
        let put16 = |p: &mut [u8], o: usize, v: u16| p[o..o + 2].copy_from_slice(&v.to_le_bytes());
        let put32 = |p: &mut [u8], o: usize, v: u32| p[o..o + 4].copy_from_slice(&v.to_le_bytes());
        let (bzimage, real_target) = if hdrs {
            h[0x210] = LINUX_BOOT_LOADER_TYPE;
            if version >= 0x0206 {
                maximal_cmdline_size = le32(b, 0x238).unwrap_or(0).saturating_add(1).min(1 << 16);
            }
            // grub_find_real_target: the highest fit below 0xA0000,
            // at most 0x90000.
            let need = u64::from(LINUX16_CL_OFFSET + maximal_cmdline_size);
            let mut best: Option<u64> = None;
            for &(a, l, t) in map {
                if t != 1 || a >= 0xA0000 {
                    continue;
                }
                let end = a.saturating_add(l).min(0xA0000);
                let Some(c) = end.checked_sub(need) else { continue };
                let c = c.min(u64::from(LINUX_OLD_REAL_MODE_ADDR));
                if c >= a && best.is_none_or(|b| c > b) {
                    best = Some(c);
                }
            }
            let Some(t) = best else {
                return Err(err(ERR_OUT_OF_RANGE, "no appropriate low memory found"));
            };
            let t = t as u32;
            if version >= 0x0201 {
                put16(&mut h, 0x224, LINUX_HEAP_END_OFFSET);
                h[0x211] |= 0x80;
            }
            if version >= 0x0202 {
                put32(&mut h, 0x228, t + LINUX16_CL_OFFSET);
            } else {
                put16(&mut h, 0x20, LINUX_CL_MAGIC);
                put16(&mut h, 0x22, LINUX16_CL_OFFSET as u16);
                put16(&mut h, 0x212, (LINUX16_CL_OFFSET + maximal_cmdline_size) as u16);
            }
            (b[0x211] & 1 != 0, t)
        } else {
            put16(&mut h, 0x20, LINUX_CL_MAGIC);
            put16(&mut h, 0x22, LINUX16_CL_OFFSET as u16);
            setup_sects = 4;
            (false, LINUX_OLD_REAL_MODE_ADDR)
        };
        if setup_sects == 0 {
            setup_sects = 4;
        }
        let real_size = setup_sects << 9;
        let prot_size = (b.len() as u32)
            .checked_sub(real_size + 512)
            .ok_or_else(|| err(ERR_BAD_OS, format!("premature end of file {file}")))?;
        if !bzimage && LINUX_ZIMAGE_ADDR + prot_size > real_target {
            return Err(err(
                ERR_BAD_OS,
                format!(
                    "too big zImage (0x{:x} > 0x{real_target:x}), use bzImage instead",
                    LINUX_ZIMAGE_ADDR + prot_size
                ),
            ));
        }
        let mut linux_mem_size = 0u64;
        for a in &args[1..] {
            if let Some(v) = a.strip_prefix("vga=") {
                let mode = match v {
                    "normal" => 0xFFFF,
                    "ext" => 0xFFFE,
                    "ask" => 0xFFFD,
                    _ => grub2::strtoul(v).map_or(0, |(n, _)| n as u16),
                };
                put16(&mut h, 0x1FA, mode);
            } else if let Some(v) = a.strip_prefix("mem=") {
                linux_mem_size = grub2::strtoul(v).map_or(0, |(n, rest)| {
                    let shift = match rest.chars().next().map(|c| c.to_ascii_lowercase()) {
                        Some('g') => 30,
                        Some('m') => 20,
                        Some('k') => 10,
                        _ => 0,
                    };
                    n.checked_shl(shift).filter(|v| v >> shift == n).unwrap_or(0)
                });
            }
        }
        let prot_target = if bzimage { LINUX_BZIMAGE_ADDR } else { LINUX_ZIMAGE_ADDR };
        if !in_ram(map, u64::from(prot_target), u64::from(prot_size)) {
            return Err(err(ERR_OUT_OF_MEMORY, "out of memory"));
        }
        let mut real = h[..(real_size + 512) as usize].to_vec();
        if !hdrs {
            // Clear the heap space up to GRUB_LINUX_MAX_SETUP_SECTS.
            real.resize((u32::from(LINUX_MAX_SETUP_SECTS) << 9) as usize, 0);
        }
        let mut cmdline = format!("BOOT_IMAGE={}", grub2::loader_cmdline(args));
        let cap = maximal_cmdline_size as usize - 1;
        if cmdline.len() > cap {
            let mut cut = cap;
            while !cmdline.is_char_boundary(cut) {
                cut -= 1;
            }
            cmdline.truncate(cut);
        }
        let mut cl = cmdline.clone().into_bytes();
        cl.push(0);
        let mut vm = self.vm();
        vm.bus.write_phys(real_target, &real);
        vm.bus.write_phys(real_target + LINUX16_CL_OFFSET, &cl);
        vm.bus.write_phys(prot_target, &kernel[(real_size + 512) as usize..]);
        drop(vm);
        Ok(Loaded16 {
            kernel: name,
            protocol: if hdrs { version } else { 0 },
            bzimage,
            real_target,
            prot_target,
            prot_size,
            setup_size: real_size,
            cmdline,
            linux_mem_size,
            initrd: None,
        })
    }

    /// `grub_cmd_initrd` of loader/i386/pc/linux.c (`initrd16`): as high
    /// as `addr_max - size` allows, above the protected-mode part.
    fn initrd16(
        &mut self,
        ctx: &dyn Grub2Context,
        files: &[String],
        k: &mut Loaded16,
        map: &[(u64, u64, u32)],
    ) -> Result<(), Grub2Error> {
        if k.protocol < 0x0200 {
            return Err(err(ERR_BAD_OS, "the kernel is too old for initrd"));
        }
        let mut parts = Vec::new();
        let mut size = 0u64;
        for f in files.iter().take(64) {
            let (name, data) = self.read(ctx, f, 1 << 31)?;
            size = size.div_ceil(4) * 4 + data.len() as u64;
            parts.push((name, data));
        }
        let hdr = k.real_target;
        let addr_max_hdr = self.vm().bus.r32(hdr + 0x22C);
        let mut addr_max = if k.protocol >= 0x0203 {
            u64::from(addr_max_hdr.min(LINUX_INITRD_MAX_ADDRESS))
        } else {
            u64::from(LINUX_INITRD_MAX_ADDRESS)
        };
        if k.linux_mem_size != 0 && k.linux_mem_size < addr_max {
            addr_max = k.linux_mem_size;
        }
        addr_max = addr_max.saturating_sub(0x10000);
        let addr_min = u64::from(LINUX_BZIMAGE_ADDR) + u64::from(k.prot_size);
        let top = addr_max.checked_sub(size).filter(|&t| t >= addr_min).ok_or_else(|| err(ERR_OUT_OF_RANGE, ""))?;
        let mut best = None;
        for &(b, l, t) in map {
            let end = b.saturating_add(l);
            if t != 1 || end < size {
                continue;
            }
            let hi = top.min(end - size) & !0xFFF;
            if hi >= addr_min.max(b) && in_ram(map, hi, size) {
                best = best.max(Some(hi));
            }
        }
        let addr = best.ok_or_else(|| err(ERR_OUT_OF_MEMORY, "out of memory"))? as u32;
        let mut at = 0u64;
        let mut names = Vec::new();
        let mut vm = self.vm();
        for (n, d) in &parts {
            at = at.div_ceil(4) * 4;
            vm.bus.write_phys(addr + at as u32, d);
            at += d.len() as u64;
            names.push(n.clone());
        }
        vm.bus.w32(hdr + 0x218, addr);
        vm.bus.w32(hdr + 0x21C, size as u32);
        drop(vm);
        k.initrd = Some((names.join(" "), addr, size as u32));
        Ok(())
    }

    /// `grub_linux16_boot` + `grub_relocator16_boot`: real mode, CS =
    /// setup segment + 0x20, IP 0, the other segments the setup segment,
    /// SP 0x9000.
    fn boot_linux16(
        &mut self,
        k: Loaded16,
        entry_index: usize,
        entry_title: String,
        why: String,
        config: String,
        failed: Vec<FailedEntry>,
    ) -> EndState {
        self.vm().mark("grub2: boot Linux (16-bit)");
        let mut vm = self.vm();
        let (at, regs) = super::grub::enter_real_mode_setup(&mut vm, (k.real_target >> 4) as u16, LINUX_SETUP_STACK);
        let cmd_line_ptr = if k.protocol >= 0x0202 { vm.bus.r32(k.real_target + 0x228) } else { 0 };
        drop(vm);
        let (initrd, initrd_addr, initrd_size) = initrd_fields(k.initrd);
        EndState::KernelEntry {
            at,
            info: Box::new(KernelEntryInfo {
                loader: LOADER.into(),
                entry_index: Some(entry_index),
                entry_title,
                why,
                config,
                kernel: k.kernel,
                initrd,
                cmdline: k.cmdline,
                protocol: protocol_version(k.protocol),
                bzimage: k.bzimage,
                setup_base: k.real_target,
                zero_page: k.real_target,
                cmd_line_ptr: if cmd_line_ptr != 0 { cmd_line_ptr } else { k.real_target + LINUX16_CL_OFFSET },
                kernel_load: k.prot_target,
                kernel_size: k.prot_size,
                setup_size: k.setup_size,
                initrd_addr,
                initrd_size,
                mem_lower_kib: 0,
                mem_upper_kib: 0,
                regs,
                failed,
                setup_entry: None,
                checks: Vec::new(),
            }),
        }
    }
}

/// `EntryRegs::mode` of GRUB 2's `linux` entry.
pub const PROTECTED_MODE: &str = "protected32";

/// `grub_cmd_echo` (commands/echo.c): `-n` and `-e` (`\\`, `\a`, `\c`,
/// `\f`, `\n`, `\r`, `\t`, `\v`), arguments joined by blanks.
fn echo(args: &[String]) -> String {
    let (mut newline, mut escapes) = (true, false);
    let mut k = 0;
    while let Some(a) = args.get(k) {
        match a.as_str() {
            "-n" => newline = false,
            "-e" => escapes = true,
            "-ne" | "-en" => {
                newline = false;
                escapes = true;
            }
            _ => break,
        }
        k += 1;
    }
    let mut out = String::new();
    for (i, a) in args[k..].iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if !escapes {
            out.push_str(a);
            continue;
        }
        let mut it = a.chars();
        while let Some(c) = it.next() {
            if c != '\\' {
                out.push(c);
                continue;
            }
            match it.next() {
                Some('\\') => out.push('\\'),
                Some('a') => out.push('\x07'),
                Some('c') => return out,
                Some('f') => out.push('\x0C'),
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('t') => out.push('\t'),
                Some('v') => out.push('\x0B'),
                Some(o) => {
                    out.push('\\');
                    out.push(o);
                }
                None => out.push('\\'),
            }
        }
    }
    if newline {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hvm::{HvmOptions, TraceLevel, vm};
    use disk_image::MemImage;

    fn fixture(name: &str) -> Vec<u8> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures").join(name);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    pub(super) fn image() -> Vec<u8> {
        fixture("images/hvm-grub2.img")
    }

    /// Replaces the only occurrence of `from` (same length).
    pub(super) fn patch(img: &mut [u8], from: &[u8], to: &[u8]) {
        assert_eq!(from.len(), to.len());
        let hits: Vec<usize> =
            img.windows(from.len()).enumerate().filter(|(_, w)| *w == from).map(|(i, _)| i).collect();
        assert_eq!(hits.len(), 1, "{:?} occurs {} times", String::from_utf8_lossy(from), hits.len());
        img[hits[0]..hits[0] + to.len()].copy_from_slice(to);
    }

    fn boot(img: Vec<u8>) -> (Hvm, EndState, String) {
        let o = HvmOptions { memory: 1 << 30, trace_level: TraceLevel::Summary, ..HvmOptions::default() };
        let (mut h, end) = vm::boot_machine(Arc::new(MemImage::new(img, "hvm-grub2.img")), &o).unwrap();
        let console = h.report("x".into(), end.clone()).console;
        (h, end, console)
    }

    fn rd(h: &Hvm, addr: u32, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        h.bus.read_phys(addr, &mut v);
        v
    }

    /// core.img as loaded at 0x8200 from the fixture (LBA 2 on).
    fn startup() -> Vec<u8> {
        let img = image();
        let mut s = img[2 * 512..].to_vec();
        s.truncate((CORE_END - STARTUP_ADDR) as usize);
        s.resize((CORE_END - STARTUP_ADDR) as usize, 0);
        s
    }

    #[test]
    fn parses_the_fixture_core_img() {
        let c = parse_core(&startup()).unwrap();
        assert_eq!(c.prefix(), Some("(,msdos1)/boot/grub"));
        assert_eq!(c.module_names(), ["biosdisk", "part_msdos", "fshelp", "ext2"]);
        assert!(c.objects.contains(&CoreObject::Module {
            name: Some("ext2".into()),
            deps: vec!["fshelp".into()],
            size: match &c.objects[3] {
                CoreObject::Module { size, .. } => *size,
                o => panic!("{o:?}"),
            },
        }));
        assert_eq!(c.decompressor_end, 0x8240);
        assert_eq!(c.boot_dev, [0xFF; 3]);
        assert_eq!(le32(&c.payload, c.modinfo_offset), Some(MODULE_MAGIC));
        assert_eq!(c.payload.len(), c.uncompressed_size as usize);
    }

    #[test]
    fn bad_core_images_are_errors_not_panics() {
        let s = startup();
        let mut no_sig = s.clone();
        no_sig[0x20] = 0x90;
        assert!(parse_core(&no_sig).unwrap_err().contains("decompressor_end"));
        let mut huge = s.clone();
        huge[0x08..0x0C].copy_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
        assert!(parse_core(&huge).unwrap_err().contains("compressed_size"));
        let mut big = s.clone();
        big[0x0C..0x10].copy_from_slice(&(MAX_UNCOMPRESSED + 1).to_le_bytes());
        assert!(parse_core(&big).unwrap_err().contains("uncompressed_size"));
        let mut corrupt = s.clone();
        for b in &mut corrupt[0x45..0x80] {
            *b ^= 0xA5;
        }
        assert!(parse_core(&corrupt).is_err());
        assert!(parse_core(&s[..0x30]).is_err());
    }

    #[test]
    fn prefix_and_root_fill_in_the_boot_drive() {
        assert_eq!(boot_location(0x80, [0xFF; 3]), "hd0");
        assert_eq!(boot_location(0x81, [0xFF, 0xFF, 1]), "hd1,2");
        assert_eq!(boot_location(0x00, [0xFF, 0, 0]), "fd0,1,1");
        let pr = |p, fw| prefix_and_root(p, fw);
        assert_eq!(pr(Some("(,msdos1)/boot/grub"), "hd0"), ("hd0,msdos1".into(), "(hd0,msdos1)/boot/grub".into()));
        assert_eq!(pr(Some("/boot/grub"), "hd0,1"), ("hd0,1".into(), "(hd0,1)/boot/grub".into()));
        assert_eq!(pr(Some("(hd1,gpt2)/grub"), "hd0"), ("hd1,gpt2".into(), "(hd1,gpt2)/grub".into()));
        assert_eq!(pr(None, "hd0"), ("hd0".into(), "(hd0)".into()));
    }

    #[test]
    fn echo_options() {
        let a = |v: &[&str]| echo(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert_eq!(a(&["Loading", "Linux ..."]), "Loading Linux ...\n");
        assert_eq!(a(&["-n", "x"]), "x");
        assert_eq!(a(&["-e", "a\\tb\\cgone"]), "a\tb");
    }

    /// The numbers here are computed from the kernel's header, the E820
    /// map and grub_cmd_initrd's rule, not copied from a run.
    #[test]
    fn falls_back_and_enters_the_32_bit_kernel() {
        let kernel = fixture("kernels/bzimage-gzip.bin");
        let (h, end, console) = boot(image());
        // The drawn menu (its countdown elapsing) comes between; its
        // screen is checked in grub2/menu.rs.
        let want = "0s.                   Booting `Debian GNU/Linux, with Linux 6.1.0-missing'\n\r\n\r\
                    Loading Linux 6.1.0-missing ...\n\r\
                    error: file `/boot/vmlinuz-6.1.0-missing' not found.\n\r\
                    Loading initial ramdisk ...\n\r\
                    error: you need to load the kernel first.\n\r\
                    \n\rPress any key to continue...\n\r\
                    \n\r   Falling back to `Debian GNU/Linux, with Linux 6.1.0-fixture'\n\r\n\r\
                    Loading Linux 6.1.0-fixture ...\n\rLoading initial ramdisk ...\n\r";
        assert!(console.ends_with(want), "{console:?}");
        let EndState::KernelEntry { at, info } = &end else { panic!("{end:?}") };
        let code32 = u32::from_le_bytes(kernel[0x214..0x218].try_into().unwrap());
        let pref = u32::from_le_bytes(kernel[0x258..0x25C].try_into().unwrap());
        let entry = pref + code32 - 0x100000;
        assert_eq!((at.cs, at.ip, at.linear), (0x10, entry, entry));
        assert_eq!(info.loader, "GRUB 2.06");
        assert_eq!(info.entry_index, Some(1));
        assert_eq!(info.failed.len(), 1);
        assert_eq!(
            (info.failed[0].error, info.failed[0].message.as_str()),
            (5, "file `/boot/vmlinuz-6.1.0-missing' not found")
        );
        let cmdline = "BOOT_IMAGE=/boot/vmlinuz-6.1.0-fixture root=UUID=b007f1c5-0022-4000-8000-000000000002 ro \
                       console=ttyS0 quiet";
        assert_eq!(info.cmdline, cmdline);
        assert_eq!(info.regs.mode, PROTECTED_MODE);
        // Registers as grub_relocator32_boot leaves them.
        let g = &h.cpu.regs;
        let zp = info.zero_page;
        assert_eq!((g.gpr[Gpr::Esi as usize], g.gpr[Gpr::Esp as usize]), (zp, zp));
        assert_eq!(g.cr0 & 1, 1);
        assert_eq!(g.eflags & flags::IF, 0);
        assert_eq!(g.seg[SegReg::Ds as usize].selector, 0x18);
        assert_eq!(g.seg[SegReg::Cs as usize].attributes & Segment::DB, Segment::DB);
        // Real-mode pages: cl_offset = ALIGN_UP(mmap_size + 4096) with
        // mmap_size = ALIGN_UP(n * 20 + 4096), real_size adds cmdline_size + 1.
        let n = h.bios.e820.len() as u32;
        let mmap = (n * 20 + 4096).div_ceil(4096) * 4096;
        let cl_offset = (mmap + 4096).div_ceil(4096) * 4096;
        let cmdline_size = u32::from_le_bytes(kernel[0x238..0x23C].try_into().unwrap()) + 1;
        let real_size = (cl_offset + cmdline_size).div_ceil(4096) * 4096;
        assert_eq!(zp, 0x90000 - real_size);
        assert_eq!(info.cmd_line_ptr, zp + cl_offset);
        let mut cl = cmdline.as_bytes().to_vec();
        cl.push(0);
        assert_eq!(rd(&h, info.cmd_line_ptr, cl.len()), cl);
        // boot_params.
        let p = rd(&h, zp, 0x1000);
        let u32_at = |o: usize| u32::from_le_bytes(p[o..o + 4].try_into().unwrap());
        assert_eq!(p[0x210], 0x72, "type_of_loader");
        assert_eq!(p[0x211], kernel[0x211] | 0x80 | 0x20, "CAN_USE_HEAP and quiet");
        assert_eq!(u32_at(0x214), entry, "code32_start");
        assert_eq!(u32_at(0x228), info.cmd_line_ptr);
        assert_eq!(&p[0x202..0x206], b"HdrS");
        assert_eq!(p[0x1E8] as usize, {
            let mut m: Vec<(u64, u64, u32)> = Vec::new();
            for e in &h.bios.e820 {
                match m.last_mut() {
                    Some(l) if l.0 + l.1 == e.start && l.2 == e.kind => l.1 += e.size,
                    _ => m.push((e.start, e.size, e.kind)),
                }
            }
            m.len()
        });
        let first = &h.bios.e820[0];
        assert_eq!(u64::from_le_bytes(p[0x2D0 + 8..0x2D8 + 8].try_into().unwrap()), first.size);
        // The kernel and the initrd in memory.
        let setup = (u32::from(kernel[0x1F1]) + 1) as usize * 512;
        assert_eq!(rd(&h, pref, kernel.len() - setup), kernel[setup..]);
        let disk = Disk::from_reader(Arc::new(MemImage::new(image(), "x"))).unwrap();
        let v = disk.volume("(hd0,0)").unwrap();
        let initrd = disk.open_fs(&v).unwrap().read_file("/boot/initrd.img-6.1.0-fixture", 1 << 20).unwrap();
        let max = u32::from_le_bytes(kernel[0x22C..0x230].try_into().unwrap()).min(LINUX_INITRD_MAX_ADDRESS);
        let aligned = (initrd.len() as u32).div_ceil(4096) * 4096;
        let addr = ((max - 0x10000 - aligned) & !0xFFF) - aligned;
        assert_eq!((info.initrd_addr, info.initrd_size), (Some(addr), Some(initrd.len() as u32)));
        assert_eq!((u32_at(0x218), u32_at(0x21C)), (addr, initrd.len() as u32));
        assert_eq!(rd(&h, addr, initrd.len()), initrd);
    }

    #[test]
    fn every_read_is_int13_through_the_ide_model() {
        let o = HvmOptions { memory: 1 << 30, ..HvmOptions::default() };
        let (mut h, end) = vm::boot_machine(Arc::new(MemImage::new(image(), "x")), &o).unwrap();
        let c = h.report("x".into(), end).counters;
        let (mut off, e) =
            vm::boot_machine(Arc::new(MemImage::new(image(), "x")), &HvmOptions { loader_model: false, ..o }).unwrap();
        assert!(matches!(&e, EndState::HandOff { stage, .. } if stage == "GRUB 2 core.img"), "{e:?}");
        let before = off.report("x".into(), e).counters;
        assert!(c.bios_calls.get("int 13h AH=42h").copied().unwrap_or(0) > 2, "{:?}", c.bios_calls);
        assert_eq!(c.bios_calls.get("int 13h AH=00h"), Some(&1), "startup_raw's disk reset");
        assert!(c.ata_commands > before.ata_commands);
        assert!(c.sectors_read > before.sectors_read + 50, "{} vs {}", c.sectors_read, before.sectors_read);
        // The menu timeout (3 s) and the 10 s "Press any key" wait are on
        // the simulated clock.
        assert!(c.sim_time_ns > before.sim_time_ns + 13_000_000_000);
    }

    #[test]
    fn without_fallback_grub_waits_with_its_error() {
        let mut img = image();
        patch(&mut img, b"set fallback=", b"set fallbacx=");
        let (_, end, console) = boot(img);
        assert!(
            console.ends_with(
                "error: you need to load the kernel first.\n\r\n\rPress any key to continue...\n\r\
                 \n\r  Failed to boot both default and fallback entries.\n\r\n\rPress any key to continue...\n\r"
            ),
            "{console:?}"
        );
        match end {
            EndState::LoaderError { entry_index, error, message, .. } => {
                assert_eq!((entry_index, error), (0, ERR_FILE_NOT_FOUND));
                assert_eq!(message, "file `/boot/vmlinuz-6.1.0-missing' not found");
            }
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn a_bad_kernel_is_an_invalid_magic_number() {
        let mut img = image();
        // The fixture kernel's boot_flag 0xAA55 right before "\xEB\x6AHdrS".
        patch(&mut img, b"\x55\xAA\xEB\x6AHdrS", b"\x00\x00\xEB\x6AHdrS");
        let (_, end, console) = boot(img);
        assert!(console.contains("Loading Linux 6.1.0-fixture ...\n\rerror: invalid magic number.\n\r"), "{console:?}");
        assert!(matches!(end, EndState::LoaderError { error: ERR_BAD_OS, .. }), "{end:?}");
    }

    #[test]
    fn an_old_protocol_needs_linux16() {
        let mut img = image();
        patch(&mut img, b"HdrS\x0F\x02", b"HdrS\x02\x02");
        let (_, end, console) = boot(img);
        assert!(console.contains("error: version too old for 32-bit boot (try with `linux16').\n\r"), "{console:?}");
        assert!(matches!(end, EndState::LoaderError { .. }), "{end:?}");
    }

    #[test]
    fn missing_normal_mod_is_grub_rescue() {
        let mut img = image();
        patch(&mut img, b"normal.mod", b"n0rmal.mod");
        let (_, end, console) = boot(img);
        assert!(
            console.ends_with(
                "Welcome to GRUB!\n\r\n\rerror: file `/boot/grub/i386-pc/normal.mod' not found.\n\rgrub rescue> "
            ),
            "{console:?}"
        );
        assert!(matches!(&end, EndState::LoaderStopped { reason, .. } if reason.contains("grub rescue")), "{end:?}");
    }

    #[test]
    fn missing_grub_cfg_stops_at_the_command_line() {
        let mut img = image();
        patch(&mut img, b"grub.cfg", b"grub.cfx");
        let (_, end, console) = boot(img);
        assert!(console.ends_with("Welcome to GRUB!\n\r\n\r"), "{console:?}");
        assert!(
            matches!(&end, EndState::LoaderStopped { reason, .. } if reason.contains("grub.cfg") && reason.contains("grub>")),
            "{end:?}"
        );
    }

    #[test]
    fn an_initrd_too_big_for_the_limit() {
        let mut img = image();
        // initrd_addr_max 0x7FFFFFFF -> 0x01400000: below the kernel's
        // prot_mode_target + init_size, so no address fits.
        patch(&mut img, b"\xFF\xFF\xFF\x7F\x00\x00\x20\x00\x01\x15", b"\x00\x00\x40\x01\x00\x00\x20\x00\x01\x15");
        let (_, end, console) = boot(img);
        assert!(console.contains("Loading initial ramdisk ...\n\rerror: the initrd is too big.\n\r"), "{console:?}");
        // GRUB boots the kernel anyway: the error was printed and cleared.
        let EndState::KernelEntry { info, .. } = &end else { panic!("{end:?}") };
        assert_eq!(info.initrd, None);
    }

    #[test]
    fn linux16_enters_the_16_bit_setup() {
        let kernel = fixture("kernels/bzimage-gzip.bin");
        let mut img = image();
        patch(
            &mut img,
            b"fixture ...'\n\tlinux\t/boot/vmlinuz-6.1.0-fixture",
            b"fixture .'\n\tlinux16 /boot/vmlinuz-6.1.0-fixture",
        );
        patch(
            &mut img,
            b"ramdisk ...'\n\tinitrd\t/boot/initrd.img-6.1.0-fixture\n}\n\0",
            b"ramdisk .'\n\tinitrd16 /boot/initrd.img-6.1.0-fixture\n}\n\0",
        );
        let (h, end, console) = boot(img);
        assert!(console.ends_with("Loading Linux 6.1.0-fixture .\n\rLoading initial ramdisk .\n\r"), "{console:?}");
        let EndState::KernelEntry { at, info } = &end else { panic!("{end:?}") };
        // grub_find_real_target: the top of the E820 RAM below 0xA0000
        // minus 0x9000 + cmdline_size + 1, at most 0x90000.
        let cmdline_size = u32::from_le_bytes(kernel[0x238..0x23C].try_into().unwrap()) + 1;
        let low_end = h
            .bios
            .e820
            .iter()
            .filter(|e| e.kind == 1 && e.start < 0xA0000)
            .map(|e| (e.start + e.size).min(0xA0000))
            .max();
        let target = (low_end.unwrap() as u32 - 0x9000 - cmdline_size).min(0x90000);
        let seg = (target >> 4) as u16;
        assert_eq!((at.cs, at.ip), (seg + 0x20, 0));
        assert_eq!(info.regs.mode, "real");
        assert_eq!((info.regs.ss, info.regs.sp), (seg, 0x9000));
        assert_eq!(h.cpu.regs.cr0 & 1, 0);
        let zp = rd(&h, target, 0x300);
        assert_eq!(zp[0x210], 0x72);
        assert_eq!(u32::from_le_bytes(zp[0x228..0x22C].try_into().unwrap()), target + 0x9000);
        let cl = b"BOOT_IMAGE=/boot/vmlinuz-6.1.0-fixture root=UUID=b007f1c5-0022-4000-8000-000000000002 ro";
        assert_eq!(rd(&h, target + 0x9000, cl.len()), cl);
        let setup = (u32::from(kernel[0x1F1]) + 1) as usize * 512;
        assert_eq!(rd(&h, 0x100000, kernel.len() - setup), kernel[setup..]);
        // initrd16: (addr_max - 0x10000 - size) page-aligned down.
        let size = info.initrd_size.unwrap();
        assert_eq!(size, 20000);
        assert_eq!(info.initrd_addr, Some((LINUX_INITRD_MAX_ADDRESS - 0x10000 - size) & !0xFFF));
        assert_eq!(u32::from_le_bytes(zp[0x218..0x21C].try_into().unwrap()), info.initrd_addr.unwrap());
    }

    #[test]
    fn handoff_stays_without_the_model() {
        let o = HvmOptions { loader_model: false, ..HvmOptions::default() };
        let (_, end) = vm::boot_machine(Arc::new(MemImage::new(image(), "x")), &o).unwrap();
        assert!(
            matches!(&end, EndState::HandOff { stage, at, .. } if stage == "GRUB 2 core.img" && at.linear == 0x8200)
        );
        // A core.img the model cannot read is said so, not a success.
        let mut img = image();
        img[2 * 512 + 0x20] = 0x90;
        let (_, end, _) = boot(img);
        assert!(
            matches!(&end, EndState::LoaderStopped { reason, .. } if reason.contains("decompressor_end")),
            "{end:?}"
        );
    }
}
