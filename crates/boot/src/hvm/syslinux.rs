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
//!   `DEFAULT` command runs at once (`ldlinux_auto_boot`, no timeout);
//!   `readconfig.c` `record` builds a label's command line (kernel,
//!   APPEND or the global APPEND, " initrd=" INITRD) and `kernel.c`
//!   `new_linux_kernel` prepends `BOOT_IMAGE=` and prints
//!   "Loading %s... ok" / "Loading %s...ok" (nothing with `quiet`).
//! - `com32/lib/syslinux/load_linux.c` `bios_boot_linux`: real-mode part
//!   at 0x10000, `cmdline_offset` (`calc_cmdline_offset`), type_of_loader
//!   0x30, heap_end_ptr, the protected-mode part at 0x100000, the initrd
//!   (each file 4-byte aligned, `initramfs_size`) at the highest 4 KiB
//!   aligned free address below `initrd_addr_max`, and the registers
//!   `shuffle_and_boot_rm` enters the setup with: DS = ES = FS = GS = SS =
//!   0x1000, CS:IP = 1020:0000, SP = min(cmdline_offset, 0xFFF0).
//!
//! Not modelled, and said so where it matters: filesystems other than
//! ext2/3/4 (the run stops with [`EndState::LoaderStopped`]), `UI` menus
//! (menu.c32, vesamenu.c32), `PROMPT 1` and the `boot:` command line, COM32
//! and other non-Linux images, kernels without `LOAD_HIGH` or before boot
//! protocol 2.02, the ADV, ldlinux.c32's own code (its file must exist and
//! be an ELF object; the config is read by [`disk_image::menu::extlinux`]
//! and the raw lines `record` needs), ansicon's cursor handling (text goes
//! to int 10h AH=0Eh with "\n" as CR LF, as on the serial port), the
//! video-mode reset before the jump, and syslinux's own use of memory:
//! free memory is the E820 RAM minus the kernel, real-mode part and
//! command line (syslinux's heap is not subtracted). ldlinux.sys files
//! are read through int 13h with the GRUB model's reader ([`DiskViaBios`]):
//! every byte is an int 13h read and IDE exits, the number of calls is not
//! syslinux's.

use std::sync::{Arc, Mutex, MutexGuard};

use disk_image::fs::Filesystem;
use disk_image::fs::ext::ExtFs;
use disk_image::menu::{EntryKind, extlinux};
use disk_image::{ReadAt, Window};
use x86::{Gpr, SegReg, flags};

pub use disk_image::bootcode::LDLINUX_MAGIC;

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

/// The global settings ldlinux.c32's `main` acts on, from the raw lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Globals {
    pub default: Option<String>,
    pub ui: Option<String>,
    pub prompt: bool,
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

/// `DEFAULT`, `UI` and `PROMPT` (readconfig.c `parse_config_file`).
pub fn globals(text: &str) -> Globals {
    let mut g = Globals::default();
    for (k, a) in text.lines().filter_map(keyword) {
        match k.as_str() {
            "default" => g.default = Some(a.to_string()),
            "ui" => g.ui = Some(a.to_string()),
            "prompt" => g.prompt = a.trim().parse::<i64>().unwrap_or(0) != 0,
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
                    && let Some(b) = self.read(fs, dev, &p, disk_image::menu::MAX_CONFIG_BYTES)
                {
                    config = Some((d.to_string(), p, b));
                }
            }
        }
        let Some((cfg_dir, cfg_path, data)) = config else {
            return self.stop(format!(
                "no extlinux.conf or syslinux.cfg in {cwd}, /boot/syslinux, /syslinux or /: ldlinux.c32 shows its \
                 `boot:` prompt (not modelled)"
            ));
        };
        let text = String::from_utf8_lossy(&data).into_owned();
        let g = globals(&text);
        if let Some(ui) = &g.ui {
            return self.stop(format!("{cfg_path}: `UI {ui}` (a menu module) is not modelled"));
        }
        if g.prompt {
            return self.stop(format!("{cfg_path}: `PROMPT 1` shows the `boot:` prompt, which is not modelled"));
        }
        let Some(default) = g.default.clone() else {
            self.printf("No DEFAULT or UI configuration directive found!\n");
            return self.stop(format!("{cfg_path} has no DEFAULT: ldlinux.c32 shows its `boot:` prompt"));
        };
        // load_kernel: a label, else the implicit kernel name.
        let menu = extlinux::parse(&data, "");
        let word = default.split_whitespace().next().unwrap_or("");
        let extra = default[word.len()..].trim_start();
        let (index, title, mut cmd, why) = match menu.entries.iter().find(|e| e.id.as_deref() == Some(word)) {
            Some(e) => {
                if e.kind != EntryKind::Linux {
                    return self.stop(format!("label {word:?} boots a non-Linux image: not modelled"));
                }
                let Some(c) = label_cmdline(&text, word) else {
                    return self.stop(format!("label {word:?} has no KERNEL/LINUX line"));
                };
                (e.index, e.title.clone(), c, format!("DEFAULT {default}, booted at once (PROMPT 0)"))
            }
            None => {
                (0, word.to_string(), word.to_string(), format!("DEFAULT {default} names no label: an implicit kernel"))
            }
        };
        if !extra.is_empty() {
            cmd = format!("{cmd} {extra}");
        }
        // execute(): the kernel is the first word, the rest its arguments.
        let cmd = cmd.trim_start();
        let (kernel, args) = cmd.split_once(char::is_whitespace).unwrap_or((cmd, ""));
        let (kernel, args) = (kernel.to_string(), args.trim_start());
        if kernel.is_empty() {
            return self.stop(format!("DEFAULT {default}: the command line names no kernel"));
        }
        let lower = kernel.to_ascii_lowercase();
        if [".c32", ".com", ".cbt", ".bs", ".bss", ".0", ".bin", ".img"].iter().any(|x| lower.ends_with(x)) {
            return self
                .stop(format!("{kernel} is not a Linux kernel image: COM32/boot-sector images are not modelled"));
        }
        let cmdline = format!("BOOT_IMAGE={kernel} {args}");
        let b = Booted {
            at_index: index,
            title,
            why,
            config: cfg_path,
            kernel: resolve(&cfg_dir, &kernel),
            initrd: None,
            cmdline,
        };
        self.new_linux_kernel(fs, dev, &cfg_dir, b, map)
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
                entry_index: b.at_index,
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
        assert_eq!(g, Globals { default: Some("x y".into()), ui: Some("menu.c32".into()), prompt: true });
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
        patch(&mut img, b"PROMPT 0", b"UI menu ");
        let (_, end, _) = boot(img);
        assert!(matches!(&end, EndState::LoaderStopped { reason, .. } if reason.contains("UI menu")), "{end:?}");
        let mut img = image();
        patch(&mut img, b"PROMPT 0", b"PROMPT 1");
        let (_, end, _) = boot(img);
        assert!(matches!(&end, EndState::LoaderStopped { reason, .. } if reason.contains("PROMPT 1")), "{end:?}");
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
}
