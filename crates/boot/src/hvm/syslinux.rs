//! EXTLINUX (syslinux 6.04, Debian bookworm's `extlinux`) as a model in
//! Rust, from the moment ldlinux.bss has read the first sector of
//! ldlinux.sys and jumps to `ldlinux_ent`, to the Linux kernel's 16-bit
//! setup entry. The loader's name in reports is the early banner of the
//! loaded ldlinux.sys: Debian's build says "SYSLINUX 6.04" even when
//! `extlinux --install` wrote it.
//!
//! What it does, in syslinux's order (sources: upstream syslinux as
//! mirrored in `geneC/syslinux`):
//!
//! - `core/diskstart.inc` `ldlinux_ent`: prints `early_banner` (CR LF
//!   MY_NAME ' ' VERSION ' ', taken from the loaded sector) with
//!   `writestr_early` (int 10h AH=0Eh), then "EDD" or "CHS" (`print_bios`;
//!   the model asks int 13h AH=41h what ldlinux.bss found), reads the rest
//!   of ldlinux.sys (`load_rest`: `DataSectors - 1` sectors along the
//!   10-byte extents at `SectorPtrs`, each an LBA relative to the partition
//!   offset `Hidden` that ldlinux.bss left at `StackBuf - 24`, through int
//!   13h AH=42h), checks the checksum (`verify_checksum`: the dwords from
//!   `ldlinux_sys` add up to LDLINUX_MAGIC) and prints `late_banner`
//!   (after `syslinux_banner`, found through the extended patch area's
//!   `BannerPtr`) and `copyright_str` (core/diskfs.inc).
//! - `core/elflink/load_env32.c` `load_env32`: ldlinux.c32 from the install
//!   directory (`CurrentDirName`, EPA `CurrentDirPtr`), then
//!   `/boot/isolinux`, `/isolinux`, `/boot/syslinux`, `/syslinux`, `/`; a
//!   missing one is "\nFailed to load ldlinux.c32", and diskfs.inc's
//!   `kaboom2` prints `err_bootfailed`.
//! - `core/fs/lib/loadconfig.c` `generic_open_config`: `extlinux.conf` then
//!   `syslinux.cfg` in the install directory, `/boot/syslinux`, `/syslinux`,
//!   `/` (`search_dirs`: directories outer, names inner).
//! - `com32/elflink/ldlinux/ldlinux.c` `main`: without `PROMPT 1` the
//!   `DEFAULT` command runs at once (`ldlinux_auto_boot`, no timeout), a
//!   `UI` module runs whatever PROMPT says, and what returns lands at
//!   `enter_cmdline`: the `boot:` prompt (cli.c `edit_cmdline`: typed
//!   characters, Backspace/Del, Delete, Ctrl-U, Ctrl-K, the arrows,
//!   Home/End, Tab listing the labels (`print_labels`), Enter), with
//!   `TIMEOUT` (1/10 s, for the first key) and `TOTALTIMEOUT` on the
//!   simulated clock; an empty line or the timeout boots `ONTIMEOUT` or the
//!   default, `NOESCAPE 1` skips the prompt. `load_kernel`: a label's
//!   command line with the typed arguments after it, else an implicit
//!   kernel (`IMPLICIT`, `ALLOWOPTIONS 0` dropping its arguments,
//!   execute.c adding a blank after them); `readconfig.c` `record` builds a
//!   label's command line (kernel, APPEND or the global APPEND, " initrd="
//!   INITRD) and `kernel.c` `new_linux_kernel` prepends `BOOT_IMAGE=` and
//!   prints "Loading %s... ok" / "Loading %s...ok" (nothing with `quiet`);
//!   a failure prints "failed: " and the errno text and goes back to
//!   `boot:`. COM32 modules are looked for as common.c `findpath` does
//!   (the install directory, PATH); a missing one is "Failed to load
//!   COM32 file %s". `UI menu.c32` and `UI vesamenu.c32` run the menu
//!   model of [`menu`] (vesamenu.c32 as its text-mode equivalent, said so).
//! - `com32/lib/syslinux/load_linux.c` `bios_boot_linux`: real-mode part
//!   at 0x10000, `cmdline_offset` (`calc_cmdline_offset`), type_of_loader
//!   0x30, heap_end_ptr, the protected-mode part at 0x100000, the initrd
//!   (each file 4-byte aligned, `initramfs_size`) at the highest 4 KiB
//!   aligned free address below `initrd_addr_max`, and the registers
//!   `shuffle_and_boot_rm` enters the setup with: DS = ES = FS = GS = SS =
//!   0x1000, CS:IP = 1020:0000, SP = min(cmdline_offset, 0xFFF0).
//!
//! `--keys` and the prompt: the keys arrive at once, so no simulated time
//! passes before them; one int 16h AH=01h poll stands for syslinux's busy
//! loop, and with no key and a timeout the clock moves on by the whole
//! wait. When a load fails and `--keys` has nothing left to type at the
//! next `boot:`, the run ends with that failure ([`EndState::LoaderError`])
//! instead of showing the prompt again; when the keys run out at a prompt
//! without a timeout it ends [`EndState::WaitingForKey`]. The prompt's
//! redraw after an edit is CR, the prompt and the line, then int 10h AH=02h
//! (ansicon's CSI sequences are not modelled byte for byte, and a line
//! longer than a screen row is not re-wrapped); the command history
//! (Up/Down, Ctrl-R), Ctrl-W, Ctrl-V, F-keys, `DISPLAY` files, `ONERROR`,
//! `SAY`, the ADV's boot-once, shift detection and get_extension's lookup
//! of "kernel.c32"/".0"/… for an implicit kernel without extension are not.
//!
//! Not modelled, and said so where it matters: filesystems other than
//! ext2/3/4 (the run stops with [`EndState::LoaderStopped`]), COM32
//! modules other than menu.c32/vesamenu.c32 (and the libraries a module
//! loads: libutil.c32 is not looked for), other non-Linux images, kernels
//! without `LOAD_HIGH` or before boot protocol 2.02, the ADV, ldlinux.c32's own code (its file must exist and
//! be an ELF object; the config is read by [`boot_config::extlinux`]
//! and the raw lines `record` needs), ansicon's cursor handling (text goes
//! to int 10h AH=0Eh with "\n" as CR LF, as on the serial port), the
//! video-mode reset before the jump, and syslinux's own use of memory:
//! free memory is the E820 RAM minus the kernel, real-mode part and
//! command line (syslinux's heap is not subtracted). ldlinux.sys files
//! are read through int 13h with the GRUB model's reader ([`DiskViaBios`]):
//! every byte is an int 13h read and IDE exits, the number of calls is not
//! syslinux's.

use std::sync::{Arc, Mutex, MutexGuard};

use boot_config::{EntryKind, extlinux};
use disk_image::fs::Filesystem;
use disk_image::fs::ext::ExtFs;
use disk_image::{ReadAt, Window};
use x86::{Gpr, SegReg, flags};

pub use disk_image::bootcode::LDLINUX_MAGIC;

pub mod fuzzing;
pub mod menu;

use super::EndState;
use super::grub::{Cache, DiskViaBios, KernelEntryInfo};
use super::grub2::e820;
use super::vm::Hvm;

/// The stage name of the hand-off.
pub const STAGE: &str = "syslinux ldlinux.sys";
/// diskboot.inc: `DriveNumber` (StackBuf-4) lies 20 bytes above `Hidden`
/// (StackBuf-24). StackBuf depends on the build's STACK_TOP (0x7000 in
/// upstream core/layout.inc, 0x7C00 in Debian's 6.04 snapshot), so the
/// model takes `Hidden`'s address from the code (see [`Sector1::hidden`]).
const DRIVE_NUMBER_FROM_HIDDEN: u32 = 20;
/// Where the model builds the int 13h AH=42h packet: below `Hidden`, in
/// the stack area ldlinux.sys uses for it (`getlinsec_ebios` pushes it).
const DAP_BELOW_HIDDEN: u32 = 0x40;
/// diskstart.inc `MaxInitDataSize`.
pub const MAX_INIT_DATA: u32 = 96 << 10;
/// load_env32.c `LDLINUX`.
pub const LDLINUX_C32: &str = "ldlinux.c32";
/// diskfs.inc `err_bootfailed`.
pub const BOOT_FAILED: &str = "\r\nBoot failed: please change disks and press a key to continue.\r\n";
/// load_linux.c: "SYSLINUX unknown module".
pub const TYPE_OF_LOADER: u8 = 0x30;
const REAL_MODE_BASE: u32 = 0x10000;
const PROT_MODE_BASE: u32 = 0x100000;
const INITRAMFS_MAX_ALIGN: u32 = 4096;
/// Largest kernel or initrd file the model reads.
const MAX_FILE: u64 = 512 << 20;
/// klibc errno texts `new_linux_kernel` prints after "failed: ".
const ENOENT: (u32, &str) = (2, "No such file or directory");
const EINVAL: (u32, &str) = (22, "Invalid argument");

/// `ldlinux_ent` follows the magic (8 bytes with the HEXDATE word) and
/// the 16-byte patch area.
pub fn ldlinux_ent_offset(magic_offset: usize) -> u32 {
    magic_offset as u32 + 8 + 16
}

fn le16(b: &[u8], o: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(o..o.checked_add(2)?)?.try_into().ok()?))
}
fn le32(b: &[u8], o: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(o..o.checked_add(4)?)?.try_into().ok()?))
}
fn cstr(b: &[u8]) -> &[u8] {
    &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())]
}

/// The first sector of ldlinux.sys: its banner and patch area
/// (diskstart.inc `patch_area`; libinstaller/syslxint.h `struct
/// patch_area`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sector1 {
    /// `early_banner` without CR LF and the trailing blank: "EXTLINUX 6.04".
    pub banner: String,
    pub magic_offset: usize,
    pub data_sectors: u16,
    pub adv_sectors: u16,
    pub ldl_dwords: u32,
    pub checksum: u32,
    pub max_transfer: u16,
    /// Offset of the extended patch area from `ldlinux_sys`.
    pub epa: u16,
    /// Offset of `SectorPtrs` in the sector, from `lea esi,[SectorPtrs]`
    /// (66 8D 36 disp16) in `load_rest`.
    pub sector_ptrs: usize,
    /// Address of `Hidden` (the partition offset ldlinux.bss saved), from
    /// `getlinsec_ebios`'s `add eax,[Hidden]; adc edx,[Hidden+4]`
    /// (66 03 06 disp16 66 13 16 disp16+4).
    pub hidden: u32,
}

/// Parses the first sector of ldlinux.sys loaded at `base`.
pub fn parse_sector1(s: &[u8; 512], base: u32) -> Result<Sector1, String> {
    let magic_offset = disk_image::bootcode::ldlinux_magic_offset(s).ok_or("no LDLINUX_MAGIC after an early banner")?;
    let banner = String::from_utf8_lossy(cstr(&s[2..])).trim_end().to_string();
    let p = magic_offset + 8;
    let f16 = |o: usize| le16(s, p + o).unwrap_or(0);
    let ent = ldlinux_ent_offset(magic_offset) as usize;
    let lea = s[ent..]
        .windows(5)
        .position(|w| w[..3] == [0x66, 0x8D, 0x36])
        .ok_or("no `lea esi,[SectorPtrs]` (66 8D 36) in load_rest")?;
    let addr = u32::from(le16(s, ent + lea + 3).unwrap_or(0));
    let sector_ptrs = addr
        .checked_sub(base)
        .map(|o| o as usize)
        .filter(|&o| o > ent && o + 10 <= 512)
        .ok_or_else(|| format!("SectorPtrs at {addr:#x} is not inside the sector at {base:#x}"))?;
    let hidden = s
        .windows(10)
        .find(|w| {
            w[..3] == [0x66, 0x03, 0x06]
                && w[5..8] == [0x66, 0x13, 0x16]
                && u16::from_le_bytes([w[3], w[4]]).wrapping_add(4) == u16::from_le_bytes([w[8], w[9]])
        })
        .map(|w| u32::from(u16::from_le_bytes([w[3], w[4]])))
        .filter(|&a| (0x500..0x7C00 - 0x40).contains(&a))
        .ok_or("no `add eax,[Hidden]; adc edx,[Hidden+4]` (getlinsec_ebios) below 0x7C00 in the sector")?;
    let sec = Sector1 {
        banner,
        magic_offset,
        data_sectors: f16(0),
        adv_sectors: f16(2),
        ldl_dwords: le32(s, p + 4).unwrap_or(0),
        checksum: le32(s, p + 8).unwrap_or(0),
        max_transfer: f16(12),
        epa: f16(14),
        sector_ptrs,
        hidden,
    };
    if sec.data_sectors == 0 || u32::from(sec.data_sectors) * 512 > MAX_INIT_DATA {
        return Err(format!("DataSectors {} is outside 1..={}", sec.data_sectors, MAX_INIT_DATA / 512));
    }
    if sec.ldl_dwords < 128 || sec.ldl_dwords > u32::from(sec.data_sectors) * 128 {
        return Err(format!("LDLDwords {} does not fit DataSectors {}", sec.ldl_dwords, sec.data_sectors));
    }
    Ok(sec)
}

/// The extended patch area (diskstart.inc `EPA`) of the loaded image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Epa {
    pub current_dir: String,
    /// `syslinux_banner` up to the NUL that ends `late_banner`.
    pub banner: String,
}

/// Reads the EPA from `image` (ldlinux.sys as loaded).
pub fn parse_epa(image: &[u8], epa: u16) -> Result<Epa, String> {
    let e = usize::from(epa);
    let field = |o: usize, what: &str| le16(image, e + o).ok_or_else(|| format!("EPA {what} (+{o}) is missing"));
    let dir = usize::from(field(2, "CurrentDirPtr")?);
    let dir_len = usize::from(field(4, "CurrentDirLen")?);
    let banner = usize::from(field(20, "BannerPtr")?);
    let dir_bytes = image.get(dir..dir.saturating_add(dir_len).min(image.len())).ok_or("CurrentDirName is outside")?;
    let banner_bytes = image.get(banner..).ok_or("syslinux_banner is outside ldlinux.sys")?;
    Ok(Epa {
        current_dir: String::from_utf8_lossy(cstr(dir_bytes)).into_owned(),
        banner: String::from_utf8_lossy(cstr(banner_bytes)).into_owned(),
    })
}

/// `copyright_str` (diskfs.inc) in the loaded image.
fn copyright(image: &[u8]) -> Option<String> {
    let key = b" Copyright (C) 1994-";
    let at = image.windows(key.len()).position(|w| w == key)?;
    Some(String::from_utf8_lossy(cstr(&image[at..])).into_owned())
}

/// Joins `name` to the working directory as syslinux's path walk does
/// (`.` and `..` are the directory entries of the filesystem: `..` of `/`
/// is `/`).
fn resolve(cwd: &str, name: &str) -> String {
    let full = if name.starts_with('/') { name.to_string() } else { format!("{cwd}/{name}") };
    let mut parts: Vec<&str> = Vec::new();
    for c in full.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    format!("/{}", parts.join("/"))
}

/// The global settings ldlinux.c32's `main`, `enter_cmdline` and
/// `load_kernel` act on, from the raw lines (readconfig.c
/// `parse_config_file`; the variables are readconfig.c's globals).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Globals {
    /// `DEFAULT` (`globaldefault`).
    pub default: Option<String>,
    /// `UI` (`default_cmd` at `LEVEL_UI`, which wins over `DEFAULT`
    /// whatever the order of the lines).
    pub ui: Option<String>,
    /// `PROMPT` (`forceprompt`).
    pub prompt: bool,
    /// `TIMEOUT` as `kbdtimeout`: tenths of a second × CLK_TCK (1000),
    /// rounded up, in ms; 0 waits forever. It limits the wait for the
    /// first key only.
    pub timeout_ms: u64,
    /// `TOTALTIMEOUT` (`totaltimeout`), ms; 0 = none.
    pub total_timeout_ms: u64,
    /// `ONTIMEOUT`.
    pub ontimeout: Option<String>,
    /// `NOESCAPE` (`noescape`).
    pub noescape: bool,
    /// `ALLOWOPTIONS` (`allowoptions`, default 1).
    pub allow_options: bool,
    /// `IMPLICIT` (`allowimplicit`, default 1).
    pub implicit: bool,
    /// `NOCOMPLETE` (`nocomplete`).
    pub nocomplete: bool,
    /// `PATH` entries (colon-separated, `parse_path`).
    pub path: Vec<String>,
}

impl Default for Globals {
    fn default() -> Globals {
        Globals {
            default: None,
            ui: None,
            prompt: false,
            timeout_ms: 0,
            total_timeout_ms: 0,
            ontimeout: None,
            noescape: false,
            allow_options: true,
            implicit: true,
            nocomplete: false,
            path: Vec::new(),
        }
    }
}

fn keyword(line: &str) -> Option<(String, &str)> {
    let l = line.trim();
    if l.is_empty() || l.starts_with('#') {
        return None;
    }
    Some(match l.split_once(char::is_whitespace) {
        Some((k, a)) => (k.to_ascii_lowercase(), a.trim()),
        None => (l.to_ascii_lowercase(), ""),
    })
}

/// klibc `atoi`: optional sign and the leading decimal digits; 0 without.
fn atoi(s: &str) -> i64 {
    let s = s.trim_start();
    let (neg, digits) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let v = digits
        .bytes()
        .take_while(u8::is_ascii_digit)
        .fold(0i64, |v, d| v.saturating_mul(10).saturating_add(i64::from(d - b'0')));
    if neg { -v } else { v }
}

/// readconfig.c: `(atoi(..) * CLK_TCK + 9) / 10` with CLK_TCK = 1000
/// (com32/include/sys/times.h `HZ`). A negative value is taken as 0 (the
/// model does not wrap it to a huge unsigned one).
fn tenths_to_ms(a: &str) -> u64 {
    (atoi(a).max(0) as u64).saturating_mul(1000).saturating_add(9) / 10
}

/// The globals of [`Globals`] (readconfig.c `parse_config_file`).
pub fn globals(text: &str) -> Globals {
    let mut g = Globals::default();
    for (k, a) in text.lines().filter_map(keyword) {
        match k.as_str() {
            "default" => g.default = Some(a.to_string()),
            "ui" => g.ui = Some(a.to_string()),
            "prompt" => g.prompt = atoi(a) != 0,
            "timeout" => g.timeout_ms = tenths_to_ms(a),
            "totaltimeout" => g.total_timeout_ms = tenths_to_ms(a),
            "ontimeout" => g.ontimeout = Some(a.to_string()),
            "noescape" => g.noescape = atoi(a) != 0,
            "allowoptions" => g.allow_options = atoi(a) != 0,
            "implicit" => g.implicit = atoi(a) != 0,
            "nocomplete" => g.nocomplete = atoi(a) != 0,
            "path" => g.path.extend(a.split(':').filter(|p| !p.is_empty()).map(String::from)),
            _ => {}
        }
    }
    g
}

/// readconfig.c `record` for a `KERNEL`/`LINUX` label: the command line
/// "kernel[ append][ initrd=INITRD]" with the label's APPEND or else the
/// global one (`-` is none).
pub fn label_cmdline(text: &str, label: &str) -> Option<String> {
    /// `struct labeldata`: what `record` uses.
    #[derive(Default)]
    struct Ld {
        label: String,
        kernel: Option<String>,
        append: Option<String>,
        initrd: Option<String>,
    }
    let mut global_append: Option<String> = None;
    let mut cur: Option<Ld> = None;
    let mut found: Option<Ld> = None;
    for (k, a) in text.lines().filter_map(keyword) {
        match (k.as_str(), cur.as_mut()) {
            ("label", _) => {
                if let Some(c) = cur.take()
                    && c.label == label
                    && found.is_none()
                {
                    found = Some(c);
                }
                cur = Some(Ld { label: a.to_string(), ..Ld::default() });
            }
            ("kernel" | "linux", Some(c)) => c.kernel = Some(a.to_string()),
            ("append", Some(c)) => c.append = Some(a.to_string()),
            ("append", None) => global_append = Some(a.to_string()),
            ("initrd", Some(c)) => c.initrd = Some(a.to_string()),
            _ => {}
        }
    }
    if let Some(c) = cur
        && c.label == label
        && found.is_none()
    {
        found = Some(c);
    }
    let ld = found?;
    let a = ld.append.or(global_append).filter(|a| a != "-").unwrap_or_default();
    let mut s = ld.kernel?;
    if !a.is_empty() {
        s.push(' ');
        s.push_str(&a);
    }
    if let Some(i) = ld.initrd {
        s.push_str(&format!(" initrd={i}"));
    }
    Some(s)
}

/// `find_argument` + `suffix_number` / `strtoul(…, 0)` for `mem=` and `vga=`.
fn find_argument<'a>(cmdline: &'a str, key: &str) -> Option<&'a str> {
    cmdline.split(' ').rev().find_map(|w| w.strip_prefix(key))
}

fn strtoul(s: &str) -> u64 {
    let (digits, radix) = if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        (h, 16)
    } else if s.len() > 1 && s.starts_with('0') {
        (&s[1..], 8)
    } else {
        (s, 10)
    };
    let end = digits.find(|c: char| !c.is_digit(radix)).unwrap_or(digits.len());
    u64::from_str_radix(&digits[..end], radix).unwrap_or(0)
}

fn suffix_number(s: &str) -> u64 {
    let n = strtoul(s);
    let end = s.trim_start_matches("0x").trim_start_matches(|c: char| c.is_ascii_hexdigit());
    match end.chars().next().map(|c| c.to_ascii_lowercase()) {
        Some('k') => n.saturating_mul(1 << 10),
        Some('m') => n.saturating_mul(1 << 20),
        Some('g') => n.saturating_mul(1 << 30),
        _ => n,
    }
}

fn video_mode(cmdline: &str) -> u16 {
    match find_argument(cmdline, "vga=") {
        None => 0,
        Some(a) => match a.chars().next().map(|c| c.to_ascii_lowercase()) {
            Some('a') => 0xFFFD,
            Some('e') => 0xFFFE,
            Some('n') => 0xFFFF,
            Some('c') => 0x0F04,
            _ => strtoul(a) as u16,
        },
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where the kernel went (`bios_boot_linux`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    pub cmdline_offset: u32,
    pub initrd_addr: Option<u32>,
}

/// `calc_cmdline_offset` and the initramfs placement of `bios_boot_linux`
/// over the E820 RAM `map`; `None` when no address fits (errno EINVAL).
pub fn layout(
    map: &[(u64, u64, u32)],
    real_mode_size: u32,
    cmdline_size: u32,
    prot_mode_size: u32,
    irf_size: u32,
    memlimit: u64,
) -> Option<Layout> {
    // The highest free 16-aligned spot for the command line below 0xA0000.
    let low_top =
        map.iter().filter(|e| e.2 == 1 && e.0 < 0xA0000).map(|e| e.0.saturating_add(e.1).min(0xA0000)).max()?;
    let start = low_top.checked_sub(u64::from(cmdline_size))? & !15;
    if start < u64::from(REAL_MODE_BASE + real_mode_size) {
        return None;
    }
    let cmdline_offset = ((start - u64::from(REAL_MODE_BASE)).min(0x10000) & !15) as u32;
    let real_end = u64::from(REAL_MODE_BASE + cmdline_offset + cmdline_size);
    let prot = (u64::from(PROT_MODE_BASE), u64::from(PROT_MODE_BASE) + u64::from(prot_mode_size));
    if !map.iter().any(|e| e.2 == 1 && e.0 <= prot.0 && prot.1 <= e.0.saturating_add(e.1)) {
        return None;
    }
    let mut initrd_addr = None;
    if irf_size > 0 {
        let mask = u64::from(INITRAMFS_MAX_ALIGN - 1);
        let mut free: Vec<(u64, u64)> = Vec::new();
        // Below 1 MiB is syslinux's own memory (its core, stack, bounce
        // buffers): memscan.c hands the loader only what lies above.
        for &(b, l, _) in map.iter().filter(|e| e.2 == 1 && e.0.saturating_add(e.1) > 0x100000) {
            let b = b.max(0x100000);
            let end = b.saturating_add(l).min(if memlimit == 0 { u64::MAX } else { memlimit });
            let mut segs = vec![(b, end)];
            for cut in [(u64::from(REAL_MODE_BASE), real_end), prot] {
                segs = segs
                    .into_iter()
                    .flat_map(|(s, e)| {
                        let mut v = Vec::new();
                        if s < cut.0.min(e) {
                            v.push((s, cut.0.min(e)));
                        }
                        if cut.1.max(s) < e {
                            v.push((cut.1.max(s), e));
                        }
                        v
                    })
                    .collect();
            }
            free.extend(segs);
        }
        free.sort_unstable();
        for (s, e) in free {
            let (a, z) = ((s + mask) & !mask, e & !mask);
            if z > a && z - a >= u64::from(irf_size) {
                initrd_addr = Some(((z - u64::from(irf_size)) & !mask) as u32);
            }
        }
        initrd_addr?;
    }
    Some(Layout { cmdline_offset, initrd_addr })
}

/// What ldlinux.c32 read: the filesystem, the config and its globals.
struct Conf<'a> {
    fs: &'a ExtFs,
    dev: &'a DiskViaBios,
    map: &'a [(u64, u64, u32)],
    menu: boot_config::Menu,
    text: String,
    g: Globals,
    cfg_dir: String,
    cfg_path: String,
    /// load_env32.c PATH: where COM32 modules are looked for.
    path: Vec<String>,
}

/// How `load_kernel` returned.
enum Loaded {
    /// Booted, or stopped for good.
    End(EndState),
    /// It printed its failure and ldlinux.c32 goes (back) to `boot:`; the
    /// end state if `--keys` has nothing to type there.
    Failed(EndState),
    /// A module returned without a failure (menu.c32 left with Esc):
    /// `boot:` next.
    Prompt,
}

/// A key as getkey.c hands it to cli.c.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SysKey {
    Char(u8),
    Up,
    Down,
    Left,
    Right,
    Home,
    End,
    PgUp,
    PgDn,
    Delete,
    Other,
}

enum Key {
    Pressed(SysKey),
    Timeout,
    /// `--keys` ran out while int 16h AH=00h waits.
    Gone(super::Loc),
}

/// ldlinux.c `enter_cmdline`'s prompt, as passed to `edit_cmdline`.
pub const PROMPT: &str = "boot:";
/// cli.h `MAX_CMDLINE_LEN`.
const MAX_CMDLINE_LEN: usize = 4096;
/// Caps on the model's loops (keys at one prompt, prompts in one run).
const MAX_KEYS: usize = 10_000;
const MAX_PROMPTS: usize = 256;

struct Ldlinux {
    vm: Arc<Mutex<Hvm>>,
    loader: String,
    drive: u8,
}

/// What the loaded kernel needs for the report.
struct Booted {
    at_index: usize,
    title: String,
    why: String,
    config: String,
    kernel: String,
    initrd: Option<String>,
    cmdline: String,
}

impl Ldlinux {
    fn vm(&self) -> MutexGuard<'_, Hvm> {
        lock(&self.vm)
    }

    /// `writestr_early` / `writechr`: int 10h AH=0Eh, page 0, attribute 7.
    fn write_raw(&self, s: &str) {
        let mut vm = self.vm();
        for &b in s.as_bytes() {
            vm.bios_call(0x10, &[(Gpr::Eax, 0x0E00 | u32::from(b)), (Gpr::Ebx, 0x0007)], &[]);
        }
    }

    fn write_bytes(&self, s: &[u8]) {
        let mut vm = self.vm();
        for &b in s {
            vm.bios_call(0x10, &[(Gpr::Eax, 0x0E00 | u32::from(b)), (Gpr::Ebx, 0x0007)], &[]);
        }
    }

    /// ldlinux.c32's `printf`: "\n" leaves as CR LF.
    fn printf(&self, s: &str) {
        self.write_raw(&s.replace('\n', "\r\n"));
    }

    fn stop(&self, reason: String) -> EndState {
        EndState::LoaderStopped { loader: self.loader.clone(), reason }
    }
}

/// Reads `count` sectors from `lba` to `dest` with int 13h AH=42h
/// (diskstart.inc `getlinsec_ebios`), at most `max` per call.
fn getlinsec(vm: &mut Hvm, drive: u8, lba: u64, count: u32, dest: u32, max: u16, dap: u32) -> Result<(), String> {
    let mut done = 0u32;
    let max = u32::from(max.clamp(1, 127));
    while done < count {
        let n = (count - done).min(max);
        let to = dest + done * 512;
        vm.bus.w16(dap, 0x10);
        vm.bus.w16(dap + 2, n as u16);
        vm.bus.w16(dap + 4, (to & 0xF) as u16);
        vm.bus.w16(dap + 6, (to >> 4) as u16);
        let l = lba + u64::from(done);
        vm.bus.w32(dap + 8, l as u32);
        vm.bus.w32(dap + 12, (l >> 32) as u32);
        let r = vm.bios_call(
            0x13,
            &[(Gpr::Eax, 0x4200), (Gpr::Edx, u32::from(drive)), (Gpr::Esi, dap)],
            &[(SegReg::Ds, 0)],
        );
        if r.eflags & flags::CF != 0 {
            return Err(format!("int 13h AH=42h for LBA {l} ({n} sectors) failed, AH={:#04x}", (r.gpr[0] >> 8) & 0xFF));
        }
        vm.note_loaded(l, u64::from(n), to);
        done += n;
    }
    Ok(())
}

/// Runs the EXTLINUX model from a [`STAGE`] hand-off.
pub(crate) fn ldlinux(mut hvm: Hvm, handoff: EndState, name: String) -> (Hvm, EndState) {
    let EndState::HandOff { at, loaded_at: base, .. } = &handoff else {
        return (hvm, handoff);
    };
    let (at, base) = (*at, *base);
    let mut first = [0u8; 512];
    hvm.bus.read_phys(base, &mut first);
    let stopped = |r: String| EndState::LoaderStopped { loader: "syslinux".into(), reason: r };
    let s1 = match parse_sector1(&first, base) {
        Ok(s) => s,
        Err(e) => return (hvm, stopped(format!("ldlinux.sys at {base:#x} is not one the model reads: {e}"))),
    };
    let loader = s1.banner.clone();
    hvm.mark(format!("syslinux: ldlinux.sys at {at} ({loader}), the Rust model from here"));
    let drive = hvm.bus.r8(s1.hidden + DRIVE_NUMBER_FROM_HIDDEN);
    let hidden = u64::from(hvm.bus.r32(s1.hidden)) | u64::from(hvm.bus.r32(s1.hidden + 4)) << 32;
    let size = hvm.bios.drive.sectors * 512;
    let map = e820(&mut hvm);
    let vm = Arc::new(Mutex::new(hvm));
    let l = Ldlinux { vm: vm.clone(), loader, drive };
    let end = l.run(&s1, base, hidden, size, name, &map);
    drop(l);
    let hvm = match Arc::try_unwrap(vm) {
        Ok(m) => m.into_inner().unwrap_or_else(|e| e.into_inner()),
        Err(_) => unreachable!("every holder of the VM was dropped above"),
    };
    (hvm, end)
}

impl Ldlinux {
    fn run(&self, s1: &Sector1, base: u32, hidden: u64, size: u64, name: String, map: &[(u64, u64, u32)]) -> EndState {
        self.write_raw(&format!("\r\n{} ", s1.banner));
        // print_bios: what ldlinux.bss's EBIOS probe found.
        let r = self.vm().bios_call(
            0x13,
            &[(Gpr::Eax, 0x4100), (Gpr::Ebx, 0x55AA), (Gpr::Edx, u32::from(self.drive))],
            &[],
        );
        let edd = r.eflags & flags::CF == 0
            && r.gpr[Gpr::Ebx as usize] & 0xFFFF == 0xAA55
            && r.gpr[Gpr::Ecx as usize] & 1 != 0;
        if !edd {
            return self.stop("the BIOS has no EDD (int 13h AH=41h): ldlinux.sys's CHS path is not modelled".into());
        }
        self.write_raw("EDD");
        // load_rest along SectorPtrs.
        self.vm().mark("syslinux: load_rest");
        let total = u32::from(s1.data_sectors);
        let mut left = total - 1;
        let mut ptr = base + s1.sector_ptrs as u32;
        let mut dest = base + 512;
        while left > 0 {
            let mut vm = self.vm();
            if ptr + 10 > dest {
                return self.stop(format!("SectorPtrs entry at {ptr:#x} lies in a sector not yet loaded"));
            }
            let lba = u64::from(vm.bus.r32(ptr)) | u64::from(vm.bus.r32(ptr + 4)) << 32;
            let mut cnt = [0u8; 2];
            vm.bus.read_phys(ptr + 8, &mut cnt);
            let count = u32::from(u16::from_le_bytes(cnt));
            if count == 0 || count > left {
                return self.stop(format!("SectorPtrs entry at {ptr:#x}: {count} sectors, {left} left to load"));
            }
            let Some(abs) = hidden.checked_add(lba) else {
                return self.stop(format!("SectorPtrs entry at {ptr:#x}: LBA {lba} overflows"));
            };
            if let Err(e) =
                getlinsec(&mut vm, self.drive, abs, count, dest, s1.max_transfer, s1.hidden - DAP_BELOW_HIDDEN)
            {
                return self.stop(format!("load_rest: {e}; ldlinux.sys goes to kaboom"));
            }
            left -= count;
            dest += count * 512;
            ptr += 10;
        }
        let mut image = vec![0u8; total as usize * 512];
        self.vm().bus.read_phys(base, &mut image);
        let sum = (0..s1.ldl_dwords as usize).map(|i| le32(&image, i * 4).unwrap_or(0)).fold(0u32, u32::wrapping_add);
        if sum != LDLINUX_MAGIC {
            self.write_raw(" Load error - ");
            return self.stop(format!(
                "verify_checksum: the {} dwords of ldlinux.sys add up to {sum:#010x}, not LDLINUX_MAGIC; ldlinux.sys \
                 goes to kaboom",
                s1.ldl_dwords
            ));
        }
        let (epa, copy) = match (parse_epa(&image, s1.epa), copyright(&image)) {
            (Ok(e), Some(c)) => (e, c),
            (Err(e), _) => return self.stop(format!("ldlinux.sys extended patch area: {e}")),
            (_, None) => return self.stop("ldlinux.sys carries no copyright_str".into()),
        };
        let early = format!("\r\n{}", s1.banner);
        let Some(late) = epa.banner.strip_prefix(&early) else {
            return self.stop(format!("syslinux_banner {:?} does not start with the early banner", epa.banner));
        };
        self.write_raw(late);
        self.write_raw(&copy);
        // pm_fs_init: the filesystem at Hidden, read through int 13h.
        self.vm().mark("syslinux: fs_init and ldlinux.c32");
        let dev = Arc::new(DiskViaBios {
            vm: self.vm.clone(),
            cache: Mutex::new(Cache::default()),
            drive: self.drive,
            size,
            name,
        });
        let start = hidden.saturating_mul(512);
        let window =
            Window::new(dev.clone() as Arc<dyn ReadAt>, start, size.saturating_sub(start), "ldlinux partition");
        let fs = match ExtFs::open(window) {
            Ok(f) => f,
            Err(e) => {
                return self.stop(format!(
                    "the filesystem at LBA {hidden} is not ext2/3/4 as the model reads it ({e}); syslinux's other \
                     filesystems are not modelled"
                ));
            }
        };
        let end = self.env32(&fs, &dev, &epa, map);
        drop(fs);
        end
    }

    fn read(&self, fs: &ExtFs, dev: &DiskViaBios, path: &str, max: u64) -> Option<Vec<u8>> {
        dev.invalidate();
        fs.read_file(path, max).ok()
    }

    /// `load_env32`, ldlinux.c32's `main` and `load_kernel`.
    fn env32(&self, fs: &ExtFs, dev: &DiskViaBios, epa: &Epa, map: &[(u64, u64, u32)]) -> EndState {
        let cwd = if epa.current_dir.is_empty() { "/".to_string() } else { epa.current_dir.clone() };
        let mut dirs = vec![cwd.clone()];
        dirs.extend(["/boot/isolinux", "/isolinux", "/boot/syslinux", "/syslinux", "/"].map(String::from));
        let c32 = dirs.iter().find_map(|d| {
            let p = resolve(d, LDLINUX_C32);
            self.read(fs, dev, &p, 1 << 20).filter(|b| b.starts_with(b"\x7fELF")).map(|_| p)
        });
        let Some(c32) = c32 else {
            self.write_raw(&format!("\nFailed to load {LDLINUX_C32}"));
            self.write_raw(BOOT_FAILED);
            return EndState::LoaderError {
                loader: self.loader.clone(),
                entry_index: 0,
                entry_title: String::new(),
                error: ENOENT.0,
                message: format!("Failed to load {LDLINUX_C32}"),
                detail: format!(
                    "no ELF {LDLINUX_C32} in {} (the install directory) or the fallback directories; copy it from \
                     /usr/lib/syslinux/modules/bios/ next to ldlinux.sys",
                    cwd
                ),
                failed: Vec::new(),
            };
        };
        self.vm().mark(format!("syslinux: {c32}, the config"));
        let mut config = None;
        for d in [cwd.as_str(), "/boot/syslinux", "/syslinux", "/"] {
            for n in ["extlinux.conf", "syslinux.cfg"] {
                let p = resolve(d, n);
                if config.is_none()
                    && let Some(b) = self.read(fs, dev, &p, boot_config::MAX_CONFIG_BYTES)
                {
                    config = Some((d.to_string(), p, b));
                }
            }
        }
        // No config file: an empty one (ConfigName stays empty), so the
        // `boot:` prompt comes at once.
        let (cfg_dir, cfg_path, data) = config.unwrap_or_else(|| (cwd.clone(), String::new(), Vec::new()));
        let text = String::from_utf8_lossy(&data).into_owned();
        let g = globals(&text);
        // load_env32.c: PATH starts with CurrentDirName (and the directory
        // ldlinux.c32 was found in); readconfig.c `PATH` adds to it.
        let mut path = vec![cwd.clone()];
        let c32_dir = c32.rsplit_once('/').map_or("/", |(d, _)| if d.is_empty() { "/" } else { d }).to_string();
        if c32_dir != cwd {
            path.push(c32_dir);
        }
        path.extend(g.path.iter().cloned());
        let c = Conf { fs, dev, map, menu: extlinux::parse(&data, ""), text, g, cfg_dir, cfg_path, path };
        self.ldlinux_main(&c)
    }

    /// ldlinux.c `main` after `parse_configs`: without `PROMPT 1` the
    /// default runs at once (`ldlinux_auto_boot`); a `UI` (`defaultlevel`
    /// LEVEL_UI > 1) runs whatever PROMPT says; what returns from either
    /// lands at `enter_cmdline`.
    fn ldlinux_main(&self, c: &Conf<'_>) -> EndState {
        let mut failed = None;
        if !c.g.prompt || c.g.ui.is_some() {
            let why = if c.g.prompt { "UI, run although PROMPT 1" } else { "booted at once (PROMPT 0)" };
            match self.auto_boot(c, why) {
                Loaded::End(e) => return e,
                Loaded::Failed(e) => failed = Some(e),
                Loaded::Prompt => {}
            }
        }
        self.enter_cmdline(c, failed)
    }

    /// ldlinux.c `ldlinux_auto_boot`: `load_kernel(default_cmd)` (the UI
    /// module, else DEFAULT).
    fn auto_boot(&self, c: &Conf<'_>, why: &str) -> Loaded {
        match (&c.g.ui, &c.g.default) {
            (Some(ui), _) => self.load_kernel(c, ui, format!("UI {ui}, {why}")),
            (None, Some(d)) => self.load_kernel(c, d, format!("DEFAULT {d}, {why}")),
            (None, None) => {
                let cfg = if c.cfg_path.is_empty() {
                    format!("no extlinux.conf or syslinux.cfg in {}, /boot/syslinux, /syslinux or /", c.cfg_dir)
                } else {
                    self.printf("No DEFAULT or UI configuration directive found!\n");
                    format!("{} has no DEFAULT or UI", c.cfg_path)
                };
                if c.g.noescape {
                    return Loaded::End(self.stop(format!("{cfg} and NOESCAPE 1: ldlinux.c32 calls kaboom")));
                }
                Loaded::Failed(
                    self.stop(format!(
                        "{cfg}: ldlinux.c32 shows its `boot:` prompt (give a label or kernel with --keys)"
                    )),
                )
            }
        }
    }

    /// ldlinux.c `enter_cmdline`: `boot:` prompts until something boots.
    /// `failed` is what the last attempt ended with: when `--keys` has
    /// nothing left to type at the next prompt, the run ends with it (the
    /// real ldlinux.c32 would prompt again and wait, or time out into the
    /// same failure forever).
    fn enter_cmdline(&self, c: &Conf<'_>, mut failed: Option<EndState>) -> EndState {
        for _ in 0..MAX_PROMPTS {
            if let Some(e) = failed.take()
                && self.vm().bios.keys.is_empty()
            {
                return e;
            }
            if c.g.noescape {
                match self.auto_boot(c, "NOESCAPE 1 (no `boot:` prompt)") {
                    Loaded::End(e) | Loaded::Failed(e) => return e,
                    Loaded::Prompt => continue,
                }
            }
            let (line, timed_out) = match self.edit_cmdline(c) {
                Ok(l) => l,
                Err(end) => return *end,
            };
            self.printf("\n");
            let r = match (line.is_empty(), timed_out, &c.g.ontimeout) {
                (false, _, _) => self.load_kernel(c, &line, format!("`{line}` typed at the boot: prompt (--keys)")),
                (true, true, Some(t)) => {
                    self.load_kernel(c, t, format!("ONTIMEOUT {t}: the boot: prompt's timeout elapsed"))
                }
                (true, true, None) => self.auto_boot(c, "the boot: prompt's timeout elapsed"),
                (true, false, _) => self.auto_boot(c, "Enter on an empty boot: prompt"),
            };
            match r {
                Loaded::End(e) => return e,
                Loaded::Failed(e) => failed = Some(e),
                Loaded::Prompt => {}
            }
        }
        self.stop(format!("more than {MAX_PROMPTS} boot: prompts: the model stops here"))
    }

    /// cli.c `edit_cmdline("boot:", ...)`: the line typed (empty on a
    /// timeout, with `true`), or the end when `--keys` ran out while
    /// syslinux waits without a timeout. `kbdtimeout` limits the wait for
    /// the first key, `totaltimeout` every wait (`mygetkey_timeout`); the
    /// keys of `--keys` arrive at once, so no time passes before them.
    fn edit_cmdline(&self, c: &Conf<'_>) -> Result<(String, bool), Box<EndState>> {
        self.printf(&format!("{PROMPT} "));
        let mut line: Vec<u8> = Vec::new();
        let mut cursor = 0usize;
        let mut prev_len = 0usize;
        let mut kbd_to = c.g.timeout_ms;
        let tto = c.g.total_timeout_ms;
        for _ in 0..MAX_KEYS {
            let wait = if kbd_to != 0 { kbd_to } else { tto };
            kbd_to = 0;
            let key = match self.get_key(wait) {
                Key::Timeout => return Ok((String::new(), true)),
                Key::Gone(at) => {
                    return Err(Box::new(EndState::WaitingForKey {
                        at,
                        function: "int 16h AH=00h read key: the SYSLINUX boot: prompt (no --keys left, no TIMEOUT)"
                            .into(),
                    }));
                }
                Key::Pressed(k) => k,
            };
            let mut redraw = false;
            match key {
                SysKey::Char(b'\r' | b'\n') => {
                    return Ok((String::from_utf8_lossy(&line).into_owned(), false));
                }
                // KEY_BACKSPACE, KEY_DEL (7Fh)
                SysKey::Char(8 | 0x7F) if cursor > 0 => {
                    line.remove(cursor - 1);
                    cursor -= 1;
                    redraw = true;
                }
                // KEY_CTRL('D'), KEY_DELETE
                SysKey::Char(4) | SysKey::Delete if cursor < line.len() => {
                    line.remove(cursor);
                    redraw = true;
                }
                // KEY_CTRL('U')
                SysKey::Char(0x15) if !line.is_empty() => {
                    line.clear();
                    cursor = 0;
                    redraw = true;
                }
                // KEY_CTRL('K')
                SysKey::Char(0x0B) if cursor < line.len() => {
                    line.truncate(cursor);
                    redraw = true;
                }
                SysKey::Char(2) | SysKey::Left if cursor > 0 => {
                    cursor -= 1;
                    redraw = true;
                }
                SysKey::Char(6) | SysKey::Right if cursor < line.len() => {
                    self.write_bytes(&line[cursor..=cursor]);
                    cursor += 1;
                }
                SysKey::Char(1) | SysKey::Home if cursor > 0 => {
                    cursor = 0;
                    redraw = true;
                }
                SysKey::Char(5) | SysKey::End if cursor != line.len() => {
                    cursor = line.len();
                    redraw = true;
                }
                SysKey::Char(b'\t') if !c.g.nocomplete => {
                    // readconfig.c print_labels: the labels starting with the first word.
                    let word = line.iter().position(|b| b.is_ascii_whitespace()).map_or(&line[..], |e| &line[..e]);
                    self.printf("\n");
                    for id in c.menu.entries.iter().filter_map(|e| e.id.as_deref()) {
                        if id.as_bytes().starts_with(word) {
                            self.printf(&format!(" {id}"));
                        }
                    }
                    self.printf("\n");
                    prev_len = 0;
                    redraw = true;
                }
                SysKey::Char(ch) if ch >= b' ' && line.len() < MAX_CMDLINE_LEN - 1 => {
                    line.insert(cursor, ch);
                    cursor += 1;
                    if cursor == line.len() {
                        self.write_bytes(&[ch]);
                        prev_len += 1;
                    } else {
                        redraw = true;
                    }
                }
                _ => {}
            }
            if redraw {
                self.redraw(&line, cursor, &mut prev_len);
            }
        }
        Err(Box::new(self.stop(format!("more than {MAX_KEYS} keys at one boot: prompt: the model stops here"))))
    }

    /// edit_cmdline's `redraw`: column 1, the prompt, the line padded with
    /// blanks to the longer of the old and new lengths, then the cursor
    /// put back (ansicon's CSI G/K/C as int 10h teletype and AH=02h). A
    /// line longer than the screen row is not re-wrapped.
    fn redraw(&self, line: &[u8], cursor: usize, prev_len: &mut usize) {
        let width = usize::from(super::console::COLS);
        let pl = (*prev_len).max(line.len());
        let mut out = format!("\r{PROMPT} ").into_bytes();
        out.extend((0..pl).map(|i| line.get(i).copied().unwrap_or(b' ')));
        out.push(b'\r');
        self.write_bytes(&out);
        let x = (cursor + PROMPT.len() + 1) % width;
        let mut vm = self.vm();
        let row = vm.bios_call(0x10, &[(Gpr::Eax, 0x0300), (Gpr::Ebx, 0)], &[]).gpr[Gpr::Edx as usize] & 0xFF00;
        vm.bios_call(0x10, &[(Gpr::Eax, 0x0200), (Gpr::Ebx, 0), (Gpr::Edx, row | x as u32)], &[]);
        *prev_len = line.len();
    }

    /// get_key over the BIOS console (core/bios.c: int 16h AH=01h to poll,
    /// AH=00h to read). One poll stands for syslinux's busy loop: with no
    /// key and a timeout, the simulated clock moves on by the whole wait.
    fn get_key(&self, wait_ms: u64) -> Key {
        let mut vm = self.vm();
        let r = vm.bios_call(0x16, &[(Gpr::Eax, 0x0100)], &[]);
        if r.eflags & flags::ZF != 0 && wait_ms > 0 {
            vm.bus.clock.advance(wait_ms.saturating_mul(1_000_000));
            vm.update_ticks();
            return Key::Timeout;
        }
        let r = vm.bios_call(0x16, &[(Gpr::Eax, 0x0000)], &[]);
        if let Some(EndState::WaitingForKey { at, .. }) = vm.bios.end.take() {
            return Key::Gone(at);
        }
        let ax = r.gpr[Gpr::Eax as usize] as u16;
        Key::Pressed(match (ax as u8, (ax >> 8) as u8) {
            (0 | 0xE0, 0x48) => SysKey::Up,
            (0 | 0xE0, 0x50) => SysKey::Down,
            (0 | 0xE0, 0x4B) => SysKey::Left,
            (0 | 0xE0, 0x4D) => SysKey::Right,
            (0 | 0xE0, 0x47) => SysKey::Home,
            (0 | 0xE0, 0x4F) => SysKey::End,
            (0 | 0xE0, 0x49) => SysKey::PgUp,
            (0 | 0xE0, 0x51) => SysKey::PgDn,
            (0 | 0xE0, 0x53) => SysKey::Delete,
            (0 | 0xE0, _) => SysKey::Other,
            (ch, _) => SysKey::Char(ch),
        })
    }

    /// ldlinux.c `load_kernel`: a label's command line (with the typed
    /// arguments after it), else an implicit kernel (`IMPLICIT 1`), whose
    /// arguments `ALLOWOPTIONS 0` drops.
    fn load_kernel(&self, c: &Conf<'_>, command: &str, why: String) -> Loaded {
        let word = command.split(char::is_whitespace).next().unwrap_or("");
        let args = command[word.len()..].trim_start();
        if let Some(e) = c.menu.entries.iter().find(|e| e.id.as_deref() == Some(word)) {
            if e.kind != EntryKind::Linux {
                return Loaded::End(self.stop(format!("label {word:?} boots a non-Linux image: not modelled")));
            }
            let Some(lc) = label_cmdline(&c.text, word) else {
                return Loaded::End(self.stop(format!("label {word:?} has no KERNEL/LINUX line")));
            };
            let cmd = if args.is_empty() { lc } else { format!("{lc} {args}") };
            return self.execute(c, &cmd, false, (e.index, e.title.clone()), why);
        }
        if !c.g.implicit {
            return Loaded::Failed(self.stop(format!(
                "`{word}` is no label and IMPLICIT 0 forbids a kernel by name: ldlinux.c32 returns to its prompt"
            )));
        }
        let cmd = if c.g.allow_options { command } else { word };
        self.execute(c, cmd, true, (0, word.to_string()), format!("{why}; `{word}` names no label: an implicit kernel"))
    }

    /// execute.c `execute`: the first word is the image, the rest its
    /// arguments (after a blank that `sysappend` adds when there are any).
    fn execute(&self, c: &Conf<'_>, cmdline: &str, sysappend: bool, entry: (usize, String), why: String) -> Loaded {
        let cmd = cmdline;
        let kernel = cmd.split(char::is_whitespace).next().unwrap_or("");
        let mut args = cmd[kernel.len()..].trim_start().to_string();
        if sysappend && !args.is_empty() {
            args.push(' ');
        }
        if kernel.is_empty() {
            return Loaded::End(self.stop(format!("`{cmdline}`: the command line names no kernel")));
        }
        let lower = kernel.to_ascii_lowercase();
        if lower.ends_with(".c32") {
            return self.com32(c, kernel, &args);
        }
        let type_specifier = kernel.strip_prefix('.').is_some_and(|t| {
            ["localboot", "kernel", "linux", "boot", "bss", "pxe", "fdimage", "com32", "config"].contains(&t)
        });
        if type_specifier || [".com", ".cbt", ".bs", ".bss", ".0", ".bin", ".img"].iter().any(|x| lower.ends_with(x)) {
            return Loaded::End(
                self.stop(format!("{kernel} is not a Linux kernel image: COM32/boot-sector images are not modelled")),
            );
        }
        let b = Booted {
            at_index: entry.0,
            title: entry.1,
            why,
            config: c.cfg_path.clone(),
            kernel: resolve(&c.cfg_dir, kernel),
            initrd: None,
            cmdline: format!("BOOT_IMAGE={kernel} {args}"),
        };
        match self.new_linux_kernel(c.fs, c.dev, &c.cfg_dir, b, c.map) {
            e @ EndState::LoaderError { .. } => Loaded::Failed(e),
            e => Loaded::End(e),
        }
    }

    /// execute.c, IMAGE_TYPE_COM32: `create_args_and_load` finds the
    /// module (common.c `findpath`: the name, then each PATH entry); a
    /// missing one is "Failed to load COM32 file %s" and back to the
    /// prompt.
    fn com32(&self, c: &Conf<'_>, module: &str, _args: &str) -> Loaded {
        // `fopen(name)` is relative to the working directory, PATH's first entry.
        let mut tried: Vec<String> = Vec::new();
        for p in c.path.iter().map(|d| resolve(d, module)) {
            if !tried.contains(&p) {
                tried.push(p);
            }
        }
        let found = tried.iter().find_map(|p| self.read(c.fs, c.dev, p, 1 << 20).map(|b| (p.clone(), b)));
        let Some((path, bytes)) = found else {
            self.printf(&format!("Failed to load COM32 file {module}\n"));
            return Loaded::Failed(EndState::LoaderError {
                loader: self.loader.clone(),
                entry_index: 0,
                entry_title: module.to_string(),
                error: ENOENT.0,
                message: format!("Failed to load COM32 file {module}"),
                detail: format!(
                    "{module} is not in {} (the working directory and PATH); copy it (and the libraries it needs, \
                     libutil.c32 for menu.c32) from /usr/lib/syslinux/modules/bios/; ldlinux.c32 goes back to its \
                     `boot:` prompt",
                    tried.join(", ")
                ),
                failed: Vec::new(),
            });
        };
        if !bytes.starts_with(b"\x7fELF") {
            return Loaded::End(
                self.stop(format!("{path} is not an ELF COM32 module: spawn_load fails (not modelled)")),
            );
        }
        let name = module.rsplit('/').next().unwrap_or(module).to_ascii_lowercase();
        match name.as_str() {
            "menu.c32" | "vesamenu.c32" => self.menu_c32(c, &path, &name),
            _ => Loaded::End(self.stop(format!("{path}: COM32 module {name} is not modelled"))),
        }
    }

    fn failed(&self, b: &Booted, (errno, text): (u32, &str), what: String) -> EndState {
        self.printf(&format!("{text}\n"));
        EndState::LoaderError {
            loader: self.loader.clone(),
            entry_index: b.at_index,
            entry_title: b.title.clone(),
            error: errno,
            message: text.to_string(),
            detail: format!("{what}; ldlinux.c32 goes back to its `boot:` prompt"),
            failed: Vec::new(),
        }
    }

    /// kernel.c `new_linux_kernel` and load_linux.c `bios_boot_linux`.
    fn new_linux_kernel(
        &self,
        fs: &ExtFs,
        dev: &DiskViaBios,
        cwd: &str,
        mut b: Booted,
        map: &[(u64, u64, u32)],
    ) -> EndState {
        let quiet = b.cmdline.contains("quiet");
        let name = b.cmdline["BOOT_IMAGE=".len()..].split(' ').next().unwrap_or("").to_string();
        if !quiet {
            self.printf(&format!("Loading {name}... "));
        }
        self.vm().mark(format!("syslinux: load {name}"));
        let Some(kernel) = self.read(fs, dev, &b.kernel, MAX_FILE) else {
            if quiet {
                self.printf(&format!("Loading {name} "));
            }
            self.printf("failed: ");
            let what = format!("{} not found", b.kernel);
            return self.failed(&b, ENOENT, what);
        };
        if !quiet {
            self.printf("ok\n");
        }
        let mut irf: Vec<u8> = Vec::new();
        let mut names = Vec::new();
        if let Some(at) = b.cmdline.find("initrd=") {
            let list = b.cmdline[at + 7..].split(' ').next().unwrap_or("").to_string();
            for n in list.split(',').take(64) {
                if !quiet {
                    self.printf(&format!("Loading {n}..."));
                }
                let path = resolve(cwd, n);
                let Some(data) = self.read(fs, dev, &path, MAX_FILE) else {
                    if quiet {
                        self.printf(&format!("Loading {n} "));
                    }
                    self.printf("failed: ");
                    return self.failed(&b, ENOENT, format!("initrd {path} not found"));
                };
                irf.resize(irf.len().div_ceil(4) * 4, 0);
                irf.extend_from_slice(&data);
                names.push(path);
                if !quiet {
                    self.printf("ok\n");
                }
            }
            b.initrd = Some(names.join(","));
        }
        self.vm().mark("syslinux: boot Linux");
        self.boot_linux(b, kernel, irf, map)
    }

    fn boot_linux(&self, b: Booted, mut k: Vec<u8>, irf: Vec<u8>, map: &[(u64, u64, u32)]) -> EndState {
        let fail = |s: &Self, why: String| {
            s.printf("Booting kernel failed: ");
            s.failed(&b, EINVAL, why)
        };
        if k.len() < 1024 || le16(&k, 0x1FE) != Some(0xAA55) {
            return fail(self, format!("{}: no boot_flag 0xAA55 at 0x1FE (or shorter than 1 KiB)", b.kernel));
        }
        let version = if le32(&k, 0x202) == Some(0x5372_6448) { le16(&k, 0x206).unwrap_or(0) } else { 0x0100 };
        let loadflags = k[0x211];
        if version < 0x0202 || loadflags & 1 == 0 {
            return self.stop(format!(
                "{}: boot protocol {}.{:02} without LOAD_HIGH: syslinux's low-memory layout is not modelled",
                b.kernel,
                version >> 8,
                version & 0xFF
            ));
        }
        let setup_sects = if k[0x1F1] == 0 { 4 } else { u32::from(k[0x1F1]) };
        let real_mode_size = (setup_sects + 1) << 9;
        let Some(prot_mode_size) =
            (k.len() as u64).checked_sub(u64::from(real_mode_size)).and_then(|s| u32::try_from(s).ok())
        else {
            return fail(self, format!("{}: shorter than its {real_mode_size:#x}-byte real-mode part", b.kernel));
        };
        let initrd_addr_max = match le32(&k, 0x22C) {
            Some(m) if version >= 0x0203 && m != 0 => m,
            _ => 0x37FF_FFFF,
        };
        let cmdline_max = if version >= 0x0206 { le32(&k, 0x238).unwrap_or(255) } else { 256 };
        let mut cl = b.cmdline.as_bytes().to_vec();
        cl.push(0);
        if cl.len() as u64 > u64::from(cmdline_max) {
            cl.truncate(cmdline_max.max(1) as usize);
            if let Some(last) = cl.last_mut() {
                *last = 0;
            }
        }
        let cmdline_size = cl.len() as u32;
        let memlimit = match find_argument(&b.cmdline, "mem=").map(suffix_number) {
            Some(m) if m != 0 => m.min(u64::from(u32::MAX)),
            _ => u64::from(initrd_addr_max) + 1,
        };
        let Ok(irf_size) = u32::try_from(irf.len()) else {
            return fail(self, "the initramfs is larger than 4 GiB".into());
        };
        let Some(lay) = layout(map, real_mode_size, cmdline_size, prot_mode_size, irf_size, memlimit) else {
            return fail(self, "no free memory for the command line, kernel or initramfs".into());
        };
        let ram_end = |a: u32, len: u32| {
            map.iter()
                .any(|e| e.2 == 1 && e.0 <= u64::from(a) && u64::from(a) + u64::from(len) <= e.0.saturating_add(e.1))
        };
        if let Some(a) = lay.initrd_addr
            && !ram_end(a, irf_size)
        {
            return fail(self, "the initramfs does not fit in RAM".into());
        }
        // The header as load_linux.c patches it (whdr).
        k[0x1FA..0x1FC].copy_from_slice(&video_mode(&b.cmdline).to_le_bytes());
        k[0x210] = TYPE_OF_LOADER;
        k[0x224..0x226].copy_from_slice(&((lay.cmdline_offset - 0x200) as u16).to_le_bytes());
        k[0x211] |= 0x80;
        let cmd_line_ptr = REAL_MODE_BASE + lay.cmdline_offset;
        k[0x228..0x22C].copy_from_slice(&cmd_line_ptr.to_le_bytes());
        if let Some(a) = lay.initrd_addr {
            k[0x218..0x21C].copy_from_slice(&a.to_le_bytes());
            k[0x21C..0x220].copy_from_slice(&irf_size.to_le_bytes());
        }
        let mut vm = self.vm();
        vm.bus.write_phys(REAL_MODE_BASE, &k[..real_mode_size as usize]);
        vm.bus.write_phys(cmd_line_ptr, &cl);
        vm.bus.write_phys(PROT_MODE_BASE, &k[real_mode_size as usize..]);
        if let Some(a) = lay.initrd_addr {
            vm.bus.write_phys(a, &irf);
        }
        let sp = lay.cmdline_offset.min(0xFFF0) as u16;
        let (at, regs) = super::grub::enter_real_mode_setup(&mut vm, (REAL_MODE_BASE >> 4) as u16, sp);
        drop(vm);
        let text = String::from_utf8_lossy(cstr(&cl)).into_owned();
        EndState::KernelEntry {
            at,
            info: Box::new(KernelEntryInfo {
                loader: self.loader.clone(),
                entry_index: Some(b.at_index),
                entry_title: b.title,
                why: b.why,
                config: b.config,
                kernel: b.kernel,
                initrd: b.initrd,
                cmdline: text,
                protocol: super::grub::protocol_version(version),
                bzimage: loadflags & 1 != 0,
                setup_base: REAL_MODE_BASE,
                zero_page: REAL_MODE_BASE,
                cmd_line_ptr,
                kernel_load: PROT_MODE_BASE,
                kernel_size: prot_mode_size,
                setup_size: setup_sects << 9,
                initrd_addr: lay.initrd_addr,
                initrd_size: lay.initrd_addr.map(|_| irf_size),
                mem_lower_kib: 0,
                mem_upper_kib: 0,
                regs,
                failed: Vec::new(),
                setup_entry: None,
                checks: Vec::new(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_builds_the_label_command_line() {
        let cfg = "DEFAULT linux\nAPPEND quiet\nLABEL linux\n  LINUX /boot/vmlinuz\n  INITRD /boot/initrd.img\n  \
                   APPEND root=/dev/sda1 console=ttyS0\nLABEL other\n  KERNEL vmlinuz-old\n";
        assert_eq!(
            label_cmdline(cfg, "linux").as_deref(),
            Some("/boot/vmlinuz root=/dev/sda1 console=ttyS0 initrd=/boot/initrd.img")
        );
        assert_eq!(label_cmdline(cfg, "other").as_deref(), Some("vmlinuz-old quiet"));
        assert_eq!(label_cmdline(cfg, "missing"), None);
        let g = globals("ui menu.c32\nPROMPT 1\ndefault x y\n");
        assert_eq!(
            g,
            Globals { default: Some("x y".into()), ui: Some("menu.c32".into()), prompt: true, ..Globals::default() }
        );
        let g = globals("TIMEOUT 35\nTOTALTIMEOUT 600\nONTIMEOUT other a\nNOESCAPE 1\nALLOWOPTIONS 0\nPATH a:/b\n");
        assert_eq!((g.timeout_ms, g.total_timeout_ms, g.ontimeout.as_deref()), (3500, 60_000, Some("other a")));
        assert_eq!(
            (g.noescape, g.allow_options, g.implicit, g.path),
            (true, false, true, vec!["a".into(), "/b".into()])
        );
        assert_eq!((atoi(" -12x"), atoi("x"), tenths_to_ms("-3")), (-12, 0, 0));
    }

    #[test]
    fn numbers_as_syslinux_reads_them() {
        assert_eq!(video_mode("a vga=0x317"), 0x317);
        assert_eq!(video_mode("vga=ask"), 0xFFFD);
        assert_eq!(video_mode("x"), 0);
        assert_eq!(suffix_number("512M"), 512 << 20);
        assert_eq!(suffix_number("0x1000"), 0x1000);
        assert_eq!(strtoul("010"), 8);
        assert_eq!(resolve("/boot/extlinux", "../vmlinuz"), "/boot/vmlinuz");
        assert_eq!(resolve("/", "./a/../../b"), "/b");
        assert_eq!(resolve("/boot/extlinux", "/x"), "/x");
    }

    #[test]
    fn layout_puts_the_command_line_at_64k_and_the_initrd_high() {
        let map = [(0u64, 0x9FC00u64, 1u32), (0x100000, 0x3FF0_0000, 1)];
        let l = layout(&map, 0x4000, 100, 0x80_0000, 5000, 0x3800_0000).unwrap();
        assert_eq!(l.cmdline_offset, 0x10000);
        assert_eq!(l.initrd_addr, Some(0x3800_0000 - 0x2000));
        // No room below the limit for the initramfs: EINVAL.
        assert_eq!(layout(&map, 0x4000, 100, 0x80_0000, 5000, 0x100000 + 0x80_0000), None);
    }

    #[test]
    fn bad_first_sectors_are_errors() {
        let mut s = [0u8; 512];
        assert!(parse_sector1(&s, 0x7E00).is_err());
        s[..20].copy_from_slice(b"\r\nEXTLINUX 6.04 \0\r\n\x1a");
        s[0x18..0x1C].copy_from_slice(&LDLINUX_MAGIC.to_le_bytes());
        assert!(parse_sector1(&s, 0x7E00).unwrap_err().contains("lea"));
        s[0x40..0x45].copy_from_slice(&[0x66, 0x8D, 0x36, 0xF0, 0x7F]);
        assert!(parse_sector1(&s, 0x7E00).unwrap_err().contains("Hidden"));
        s[0x50..0x5A].copy_from_slice(&[0x66, 0x03, 0x06, 0x60, 0x7B, 0x66, 0x13, 0x16, 0x64, 0x7B]);
        s[0x20..0x22].copy_from_slice(&0u16.to_le_bytes());
        assert!(parse_sector1(&s, 0x7E00).unwrap_err().contains("DataSectors"));
        s[0x20] = 4;
        s[0x24] = 200;
        let p = parse_sector1(&s, 0x7E00).unwrap();
        assert_eq!((p.banner.as_str(), p.sector_ptrs, p.data_sectors, p.ldl_dwords), ("EXTLINUX 6.04", 0x1F0, 4, 200));
        assert_eq!(p.hidden, 0x7B60);
        s[0x24] = 1;
        assert!(parse_sector1(&s, 0x7E00).unwrap_err().contains("LDLDwords"));
    }
}

#[cfg(test)]
mod run_tests {
    use super::*;
    use crate::hvm::{HvmOptions, TraceLevel, vm};
    use disk_image::MemImage;

    fn fixture(name: &str) -> Vec<u8> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures").join(name);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn image() -> Vec<u8> {
        fixture("images/hvm-extlinux.img")
    }

    /// Replaces every occurrence of `from` (same length); at least one.
    fn patch(img: &mut [u8], from: &[u8], to: &[u8]) {
        assert_eq!(from.len(), to.len());
        let hits: Vec<usize> =
            img.windows(from.len()).enumerate().filter(|(_, w)| *w == from).map(|(i, _)| i).collect();
        assert!(!hits.is_empty(), "{:?} not found", String::from_utf8_lossy(from));
        for h in hits {
            img[h..h + to.len()].copy_from_slice(to);
        }
    }

    fn boot(img: Vec<u8>) -> (Hvm, EndState, String) {
        let o = HvmOptions { memory: 1 << 30, trace_level: TraceLevel::Summary, ..HvmOptions::default() };
        let (mut h, end) = vm::boot_machine(Arc::new(MemImage::new(img, "hvm-extlinux.img")), &o).unwrap();
        let console = h.report("x".into(), end.clone()).console;
        (h, end, console)
    }

    fn rd(h: &Hvm, addr: u32, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        h.bus.read_phys(addr, &mut v);
        v
    }

    const BANNER: &str = "\r\nSYSLINUX 6.04 EDD 20261123 Copyright (C) 1994-2015 H. Peter Anvin et al\r\n";

    /// The numbers are computed from the kernel's header, the E820 map and
    /// load_linux.c's rules, not copied from a run.
    #[test]
    fn boots_the_default_label_at_the_16_bit_setup() {
        let kernel = fixture("kernels/bzimage-gzip.bin");
        let (h, end, console) = boot(image());
        let want = format!(
            "{BANNER}Loading /boot/vmlinuz-6.1.0-fixture... ok\r\nLoading /boot/initrd.img-6.1.0-fixture...ok\r\n"
        );
        assert!(console.ends_with(&want), "{console:?}");
        let EndState::KernelEntry { at, info } = &end else { panic!("{end:?}") };
        assert_eq!((at.cs, at.ip), (0x1020, 0));
        assert_eq!(info.loader, "SYSLINUX 6.04");
        assert_eq!(info.config, "/boot/extlinux/extlinux.conf");
        assert_eq!(info.entry_title, "Debian GNU/Linux, kernel 6.1.0-fixture");
        let cmdline = "BOOT_IMAGE=/boot/vmlinuz-6.1.0-fixture root=UUID=b007f1c5-0023-4000-8000-000000000003 ro \
                       console=ttyS0 initrd=/boot/initrd.img-6.1.0-fixture";
        assert_eq!(info.cmdline, cmdline);
        assert_eq!((info.regs.ss, info.regs.sp, info.regs.mode.as_str()), (0x1000, 0xFFF0, "real"));
        assert_eq!(h.cpu.regs.cr0 & 1, 0);
        // Header as load_linux.c patches it.
        let setup = (u32::from(kernel[0x1F1]) + 1) as usize * 512;
        let p = rd(&h, 0x10000, setup);
        let u32_at = |o: usize| u32::from_le_bytes(p[o..o + 4].try_into().unwrap());
        assert_eq!(p[0x210], 0x30, "type_of_loader");
        assert_eq!(p[0x211], kernel[0x211] | 0x80, "CAN_USE_HEAP");
        assert_eq!(u16::from_le_bytes([p[0x224], p[0x225]]), 0xFE00, "heap_end_ptr");
        assert_eq!(u32_at(0x228), 0x20000);
        assert_eq!(p[..0x1F1], kernel[..0x1F1]);
        let mut cl = cmdline.as_bytes().to_vec();
        cl.push(0);
        assert_eq!(rd(&h, 0x20000, cl.len()), cl);
        assert_eq!(rd(&h, 0x100000, kernel.len() - setup), kernel[setup..]);
        // The initrd: top of the E820 RAM below initrd_addr_max, 4 KiB aligned.
        let size = info.initrd_size.unwrap();
        assert_eq!(size, 20000);
        let max = u64::from(u32::from_le_bytes(kernel[0x22C..0x230].try_into().unwrap())) + 1;
        let top = h.bios.e820.iter().filter(|e| e.kind == 1).map(|e| (e.start + e.size).min(max)).max().unwrap();
        let addr = ((top & !0xFFF) - u64::from(size)) & !0xFFF;
        assert_eq!(info.initrd_addr, Some(addr as u32));
        assert_eq!((u32_at(0x218), u32_at(0x21C)), (addr as u32, size));
        let head = b"boot-sim fixture: fake initrd";
        assert_eq!(rd(&h, addr as u32, head.len()), head);
    }

    #[test]
    fn every_read_is_int13_and_the_handoff_stays_without_the_model() {
        let o = HvmOptions { memory: 1 << 30, ..HvmOptions::default() };
        let (mut h, end) = vm::boot_machine(Arc::new(MemImage::new(image(), "x")), &o).unwrap();
        let c = h.report("x".into(), end).counters;
        let (mut off, e) =
            vm::boot_machine(Arc::new(MemImage::new(image(), "x")), &HvmOptions { loader_model: false, ..o }).unwrap();
        assert!(
            matches!(&e, EndState::HandOff { stage, at, loaded_at, .. } if stage == STAGE && at.linear == 0x8030 && *loaded_at == 0x8000),
            "{e:?}"
        );
        let before = off.report("x".into(), e).counters;
        assert!(c.bios_calls.get("int 13h AH=42h").copied().unwrap_or(0) > 3, "{:?}", c.bios_calls);
        // ldlinux.sys (3 more sectors), the filesystem, the kernel (~1 KiB) and initrd (20000 bytes).
        assert!(c.sectors_read > before.sectors_read + 3 + 40, "{} vs {}", c.sectors_read, before.sectors_read);
        assert!(c.ata_commands > before.ata_commands);
    }

    #[test]
    fn missing_ldlinux_c32_fails_like_syslinux() {
        let mut img = image();
        patch(&mut img, b"ldlinux.c32", b"ldlinux.c3x");
        let (_, end, console) = boot(img);
        assert!(
            console.ends_with(&format!(
                "{BANNER}\nFailed to load ldlinux.c32\r\nBoot failed: please change disks and press a key to continue.\r\n"
            )),
            "{console:?}"
        );
        assert!(
            matches!(&end, EndState::LoaderError { message, .. } if message == "Failed to load ldlinux.c32"),
            "{end:?}"
        );
    }

    #[test]
    fn a_missing_kernel_is_loading_failed() {
        let mut img = image();
        patch(&mut img, b"DEFAULT debian", b"DEFAULT missin");
        patch(&mut img, b"LABEL missing", b"LABEL missin ");
        let (_, end, console) = boot(img);
        assert!(
            console.ends_with("Loading ../vmlinuz-6.1.0-missing... failed: No such file or directory\r\n"),
            "{console:?}"
        );
        match end {
            EndState::LoaderError { error, message, detail, .. } => {
                assert_eq!((error, message.as_str()), (2, "No such file or directory"));
                assert!(detail.contains("/boot/vmlinuz-6.1.0-missing not found"), "{detail}");
            }
            o => panic!("{o:?}"),
        }
    }

    #[test]
    fn quiet_prints_no_loading_lines() {
        let mut img = image();
        patch(&mut img, b"console=ttyS0\n", b"quiet consol0\n");
        let (_, end, console) = boot(img);
        assert!(console.ends_with(BANNER), "{console:?}");
        assert!(matches!(end, EndState::KernelEntry { .. }), "{end:?}");
    }

    #[test]
    fn ui_menus_and_bad_images_stop_with_a_reason() {
        let mut img = image();
        patch(&mut img, b"PROMPT 0", b"UI x.com");
        let (_, end, _) = boot(img);
        assert!(matches!(&end, EndState::LoaderStopped { reason, .. } if reason.contains("x.com")), "{end:?}");
        // A corrupted ldlinux.sys body: the checksum no longer adds up.
        let mut img = image();
        patch(&mut img, b" H. Peter Anvin et al", b" H. Peter Anvin et aL");
        let (_, end, console) = boot(img);
        assert!(console.ends_with("\r\nSYSLINUX 6.04 EDD Load error - "), "{console:?}");
        assert!(
            matches!(&end, EndState::LoaderStopped { reason, .. } if reason.contains("verify_checksum")),
            "{end:?}"
        );
    }

    /// [`patch`] with `to` padded with blanks to the length of `from`.
    fn patch_padded(img: &mut [u8], from: &[u8], to: &[u8]) {
        let mut t = to.to_vec();
        t.resize(from.len(), b' ');
        patch(img, from, &t);
    }

    fn boot_keys(img: Vec<u8>, keys: &str) -> (Hvm, EndState, String) {
        let o = HvmOptions {
            memory: 1 << 30,
            trace_level: TraceLevel::Summary,
            keys: keys.into(),
            ..HvmOptions::default()
        };
        let (mut h, end) = vm::boot_machine(Arc::new(MemImage::new(img, "hvm-extlinux.img")), &o).unwrap();
        let console = h.report("x".into(), end.clone()).console;
        (h, end, console)
    }

    fn prompt_image(timeout: &[u8; 2]) -> Vec<u8> {
        let mut img = image();
        patch(&mut img, b"PROMPT 0\nTIMEOUT 50", &[b"PROMPT 1\nTIMEOUT ", &timeout[..]].concat());
        img
    }

    fn cmdline_of(end: &EndState) -> &str {
        match end {
            EndState::KernelEntry { info, .. } => &info.cmdline,
            o => panic!("{o:?}"),
        }
    }

    const DEBIAN: &str = "BOOT_IMAGE=/boot/vmlinuz-6.1.0-fixture root=UUID=b007f1c5-0023-4000-8000-000000000003 ro console=ttyS0 \
         initrd=/boot/initrd.img-6.1.0-fixture";
    const LOADING: &str =
        "Loading /boot/vmlinuz-6.1.0-fixture... ok\r\nLoading /boot/initrd.img-6.1.0-fixture...ok\r\n";

    /// ldlinux.c enter_cmdline with TIMEOUT 50: nothing typed, the prompt
    /// times out after 5 s of simulated time and DEFAULT boots.
    #[test]
    fn prompt_times_out_into_the_default_on_the_simulated_clock() {
        let (h, end, console) = boot_keys(prompt_image(b"50"), "");
        assert!(console.ends_with(&format!("{BANNER}boot: \r\n{LOADING}")), "{console:?}");
        assert_eq!(cmdline_of(&end), DEBIAN);
        assert!(h.bus.clock.now().0 >= 5_000_000_000, "{:?}", h.bus.clock.now());
        let EndState::KernelEntry { info, .. } = &end else { unreachable!() };
        assert!(info.why.contains("timeout"), "{}", info.why);
        // ONTIMEOUT names what the timeout boots.
        let mut img = prompt_image(b"50");
        patch_padded(&mut img, b"# boot-sim fixture: our own extlinux.conf", b"ONTIMEOUT missing");
        let (_, end, console) = boot_keys(img, "");
        assert!(
            console.ends_with("boot: \r\nLoading ../vmlinuz-6.1.0-missing... failed: No such file or directory\r\n")
        );
        assert!(matches!(&end, EndState::LoaderError { error: 2, .. }), "{end:?}");
    }

    /// A typed label with arguments (load_kernel appends them), Backspace
    /// and an implicit kernel that fails and returns to `boot:`.
    #[test]
    fn typed_labels_arguments_backspace_and_implicit_kernels() {
        let (_, end, console) = boot_keys(prompt_image(b"00"), "nosuch\ndebiam\\bn  single x=1\n");
        assert_eq!(cmdline_of(&end), format!("{DEBIAN} single x=1"));
        let want = format!(
            "{BANNER}boot: nosuch\r\nLoading nosuch... failed: No such file or directory\r\nboot: debiam\r\
             boot: debia \rn  single x=1\r\n{LOADING}"
        );
        assert_eq!(console.split("Booting from Hard Disk...\r\n").nth(1), Some(want.as_str()), "{console:?}");
        // Enter on the empty line boots DEFAULT.
        let (_, end, _) = boot_keys(prompt_image(b"00"), "\n");
        assert_eq!(cmdline_of(&end), DEBIAN);
        // An implicit kernel keeps its arguments with execute()'s blank.
        let (_, end, _) = boot_keys(prompt_image(b"00"), "/boot/vmlinuz-6.1.0-fixture a=b\n");
        assert_eq!(cmdline_of(&end), "BOOT_IMAGE=/boot/vmlinuz-6.1.0-fixture a=b ");
        // ...which ALLOWOPTIONS 0 drops.
        let mut img = prompt_image(b"00");
        patch(&mut img, b"SERIAL 0 115200\n", b"ALLOWOPTIONS 0\n\n");
        let (_, end, _) = boot_keys(img, "/boot/vmlinuz-6.1.0-fixture a=b\n");
        assert_eq!(cmdline_of(&end), "BOOT_IMAGE=/boot/vmlinuz-6.1.0-fixture ");
    }

    #[test]
    fn keys_running_out_at_a_prompt_without_timeout_is_waiting() {
        let (h, end, console) = boot_keys(prompt_image(b"00"), "deb");
        assert!(console.ends_with("boot: deb"), "{console:?}");
        assert!(
            matches!(&end, EndState::WaitingForKey { function, .. } if function.contains("boot: prompt")),
            "{end:?}"
        );
        assert!(h.bus.clock.now().0 < 5_000_000_000);
        // A failure with nothing left to type ends with the failure.
        let (_, end, _) = boot_keys(prompt_image(b"00"), "nosuch\n");
        assert!(
            matches!(&end, EndState::LoaderError { message, .. } if message == "No such file or directory"),
            "{end:?}"
        );
    }

    #[test]
    fn tab_lists_the_labels_and_noescape_skips_the_prompt() {
        let (_, end, console) = boot_keys(prompt_image(b"00"), "\t");
        assert!(console.ends_with("boot: \r\n debian missing\r\n\rboot: \r"), "{console:?}");
        assert!(matches!(end, EndState::WaitingForKey { .. }), "{end:?}");
        let (_, _, console) = boot_keys(prompt_image(b"00"), "mi\t");
        assert!(console.ends_with("boot: mi\r\n missing\r\n\rboot: mi\r"), "{console:?}");
        let mut img = prompt_image(b"00");
        patch(&mut img, b"SERIAL 0 115200\n", b"NOESCAPE 1\n\n\n\n\n\n");
        let (_, end, console) = boot_keys(img, "");
        assert!(console.ends_with(&format!("{BANNER}{LOADING}")), "{console:?}");
        assert_eq!(cmdline_of(&end), DEBIAN);
    }

    /// execute.c: a missing UI module is "Failed to load COM32 file" and
    /// the `boot:` prompt, where a label can still be typed.
    #[test]
    fn a_missing_ui_module_falls_back_to_the_prompt() {
        let mut img = image();
        // The fixture's menu.c32 renamed (directory entry and all).
        patch(&mut img, b"menu.c32", b"menX.c32");
        let img = menu_image(img, "UI menu.c32");
        let (_, end, console) = boot_keys(img.clone(), "");
        assert!(console.ends_with(&format!("{BANNER}Failed to load COM32 file menu.c32\r\n")), "{console:?}");
        assert!(
            matches!(&end, EndState::LoaderError { message, detail, .. }
                if message == "Failed to load COM32 file menu.c32" && detail.contains("/boot/extlinux/menu.c32")),
            "{end:?}"
        );
        let (_, end, console) = boot_keys(img, "debian\n");
        assert!(console.contains("Failed to load COM32 file menu.c32\r\nboot: debian\r\nLoading "), "{console:?}");
        assert_eq!(cmdline_of(&end), DEBIAN);
    }

    /// The fixture with `head` (≤ 41 bytes) over the config's comment line.
    fn menu_image(mut img: Vec<u8>, head: &str) -> Vec<u8> {
        patch_padded(&mut img, b"# boot-sim fixture: our own extlinux.conf", head.as_bytes());
        img
    }

    /// The text page as rows (CP437, trailing blanks trimmed) and the
    /// attribute bytes.
    fn page(h: &Hvm) -> (Vec<String>, Vec<u8>) {
        let cells = rd(h, super::super::console::TEXT_BASE, 4000);
        let rows = cells
            .chunks(160)
            .map(|r| r.chunks(2).map(|c| super::super::console::cp437(c[0])).collect::<String>().trim_end().to_string())
            .collect();
        (rows, cells.chunks(2).map(|c| c[1]).collect())
    }

    /// menu.c32's screen over the fixture's two labels (tests/
    /// interop_extlinux.rs compares the same drawing with the real
    /// menu.c32 under QEMU), the countdown on the simulated clock and the
    /// default booted when it ends.
    #[test]
    fn menu_c32_draws_the_menu_counts_down_and_boots_the_default() {
        let (h, end, _) = boot_keys(menu_image(image(), "UI menu.c32\nMENU TITLE boot-sim"), "");
        // The second Loading line scrolled the screen up by one row.
        let (rows, attrs) = page(&h);
        let row = |r: usize| rows[r - 1].as_str();
        let a = |r: usize, col: usize| attrs[(r - 1) * 80 + col];
        assert_eq!(row(1), format!("{}│{:^58}│", " ".repeat(10), "boot-sim"));
        assert_eq!(row(2), format!("{}├{}┤", " ".repeat(10), "─".repeat(58)));
        assert_eq!(row(3), format!("{}│ {:<56} │", " ".repeat(10), "Debian GNU/Linux, kernel 6.1.0-fixture"));
        assert_eq!(row(4), format!("{}│ {:<56} │", " ".repeat(10), "missing"));
        assert_eq!(row(5), format!("{}│{}│", " ".repeat(10), " ".repeat(58)));
        assert_eq!(row(15), format!("{}└{}┘", " ".repeat(10), "─".repeat(58)));
        assert_eq!(row(17), format!("{}Press [Tab] to edit options", " ".repeat(26)));
        // The last message, "1 second" one column shorter: padded by one
        // blank each side (print_timeout_message's last_msg_len).
        assert_eq!(row(19), format!("{}Automatic boot in 1 second...", " ".repeat(25)));
        assert_eq!((a(1, 10), a(1, 11), a(1, 68), a(1, 69)), (0x10, 0x1B, 0x1B, 0x10));
        assert_eq!((a(3, 10), a(3, 11), a(3, 68), a(3, 69)), (0x10, 0x70, 0x70, 0x10), "selected");
        assert_eq!((a(4, 11), a(4, 68)), (0x17, 0x17), "unselected");
        assert_eq!((a(15, 9), a(15, 10), a(15, 69), a(15, 70)), (0x07, 0x10, 0x10, 0x07));
        assert_eq!((a(17, 25), a(17, 26), a(17, 52), a(17, 53)), (0x07, 0x04, 0x04, 0x07));
        assert_eq!((a(19, 42), a(19, 43), a(19, 44)), (0x07, 0x0F, 0x07), "the number");
        // The Loading lines go to END_ROW (24) on.
        assert_eq!(row(23), "Loading /boot/vmlinuz-6.1.0-fixture... ok");
        assert_eq!(row(24), "Loading /boot/initrd.img-6.1.0-fixture...ok");
        assert_eq!(cmdline_of(&end), DEBIAN);
        let EndState::KernelEntry { info, .. } = &end else { unreachable!() };
        assert!(info.why.contains("TIMEOUT elapsed"), "{}", info.why);
        assert!(h.bus.clock.now().0 >= 7_500_000_000, "2.5 s of SeaBIOS and 5 s of countdown");
    }

    #[test]
    fn menu_c32_keys_move_boot_escape_and_stop_at_tab() {
        let img = menu_image(image(), "UI menu.c32");
        // Down cancels the countdown; Enter boots the entry (its kernel is missing).
        let (h, end, console) = boot_keys(img.clone(), "{down}\n");
        assert!(console.ends_with("Loading ../vmlinuz-6.1.0-missing... failed: No such file or directory\r\n"));
        assert!(matches!(&end, EndState::LoaderError { entry_index: 1, .. }), "{end:?}");
        // SeaBIOS's boot-menu wait (2.5 s) and the loading, no countdown.
        assert!(h.bus.clock.now().0 < 4_000_000_000, "no countdown after a key: {:?}", h.bus.clock.now());
        let (_, end, _) = boot_keys(img.clone(), "{end}{home}{pgdn}{pgup}\n");
        assert_eq!(cmdline_of(&end), DEBIAN);
        // The keys run out in the menu without a countdown.
        let (h, end, _) = boot_keys(img.clone(), "{down}");
        assert!(matches!(&end, EndState::WaitingForKey { function, .. } if function.contains("menu.c32")), "{end:?}");
        let (rows, attrs) = page(&h);
        assert_eq!(rows[0], format!("{}┌{}┐", " ".repeat(10), "─".repeat(58)));
        assert_eq!(rows[19], "", "the countdown row cleared");
        assert_eq!((attrs[3 * 80 + 11], attrs[4 * 80 + 11]), (0x17, 0x70));
        // Esc: ldlinux.c32's boot: prompt on END_ROW.
        let (h, end, _) = boot_keys(img.clone(), "\\edebian x");
        assert!(matches!(&end, EndState::WaitingForKey { function, .. } if function.contains("boot:")), "{end:?}");
        assert_eq!(page(&h).0[23], "boot: debian x");
        let (_, end, _) = boot_keys(img.clone(), "\\edebian x\n");
        assert_eq!(cmdline_of(&end), format!("{DEBIAN} x"));
        // Tab opens menu.c32's editor: not modelled.
        let (_, end, _) = boot_keys(img, "\t");
        assert!(matches!(&end, EndState::LoaderStopped { reason, .. } if reason.contains("Tab")), "{end:?}");
        // Odd parameters draw off the screen without a panic.
        let (_, end, _) = boot_keys(menu_image(image(), "UI menu.c32\nMENU WIDTH 5\nMENU ROWS 99999"), "{pgdn}\n");
        assert!(matches!(&end, EndState::LoaderError { entry_index: 1, .. }), "{end:?}");
        // Unmodelled menu lines stop with the line.
        let (_, end, _) = boot_keys(menu_image(image(), "UI menu.c32\nMENU COLOR sel 0 0 0"), "");
        assert!(matches!(&end, EndState::LoaderStopped { reason, .. } if reason.contains("MENU COLOR")), "{end:?}");
    }

    /// vesamenu.c32 runs the same menu, drawn as text, and says so.
    #[test]
    fn vesamenu_c32_is_the_text_menu_and_says_so() {
        let (_, end, _) = boot_keys(menu_image(image(), "UI vesamenu.c32"), "{down}{up}\n");
        assert_eq!(cmdline_of(&end), DEBIAN);
        let EndState::KernelEntry { info, .. } = &end else { unreachable!() };
        assert!(info.why.contains("vesamenu.c32 shown as its text-mode equivalent"), "{}", info.why);
        let (_, end, _) = boot_keys(menu_image(image(), "UI vesamenu.c32"), "{down}");
        assert!(
            matches!(&end, EndState::WaitingForKey { function, .. } if function.contains("VESA graphics are not modelled")),
            "{end:?}"
        );
    }

    /// MENU HIDDEN (do_hidden_menu): a blank screen with the countdown on
    /// HIDDENROW, the default at its end; a key shows the menu without it.
    #[test]
    fn menu_hidden_counts_down_on_a_blank_screen() {
        let img = menu_image(image(), "UI menu.c32\nMENU HIDDEN");
        let (h, end, _) = boot_keys(img.clone(), "");
        assert_eq!(cmdline_of(&end), DEBIAN);
        assert!(h.bus.clock.now().0 >= 7_500_000_000);
        let EndState::KernelEntry { info, .. } = &end else { unreachable!() };
        assert!(info.why.contains("MENU HIDDEN"), "{}", info.why);
        let (h, end, _) = boot_keys(img, "x");
        assert!(matches!(end, EndState::WaitingForKey { .. }), "{end:?}");
        let rows = page(&h).0;
        assert_eq!(rows[1], format!("{}│{}│", " ".repeat(10), " ".repeat(58)));
        assert_eq!((rows[19].as_str(), rows[22].as_str()), ("", ""), "no countdown once a key was pressed");
    }

    /// No config file at all: ldlinux.c32 goes straight to `boot:`, where
    /// a kernel can be named.
    #[test]
    fn no_config_file_is_the_prompt_at_once() {
        let mut img = image();
        patch(&mut img, b"extlinux.conf", b"extlinux.cxxx");
        let (_, end, console) = boot_keys(img.clone(), "");
        assert!(console.ends_with(BANNER), "{console:?}");
        assert!(
            matches!(&end, EndState::LoaderStopped { reason, .. } if reason.contains("no extlinux.conf")),
            "{end:?}"
        );
        let (_, end, console) = boot_keys(img, "/boot/vmlinuz-6.1.0-fixture\n");
        assert!(console.contains(&format!("{BANNER}boot: /boot/vmlinuz")), "{console:?}");
        assert_eq!(cmdline_of(&end), "BOOT_IMAGE=/boot/vmlinuz-6.1.0-fixture ");
    }
}
