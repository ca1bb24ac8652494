//! GRUB legacy 0.97 stage2 as a model in Rust, taking over where the
//! interpreted boot code hands off (`0000:8200`, stage2's `main`).
//!
//! What it does, in GRUB 0.97's order (`crististm/grub-legacy` tag
//! grub-0.97, `stage2/common.c` init_bios_info, `stage2/stage2.c` cmain /
//! run_menu, `stage2/cmdline.c` run_script, `stage2/builtins.c`,
//! `stage2/boot.c` load_image / load_initrd, `stage2/asm.S`
//! big_linux_boot):
//!
//! - memory: int 12h, int 15h AH=88h and the int 15h E820 map through the
//!   BIOS, `mem_lower`/`mem_upper` from `mmap_avail_at(0)` and
//!   `mmap_avail_at(0x100000)`;
//! - the disk only through int 13h (AH=41h/48h/08h for the geometry,
//!   AH=42h reads into the track buffer at 0x70000) with `rawread`'s track
//!   cache, invalidated before every command as run_script does, so every
//!   read is an ATA command on the emulated IDE controller with its exits;
//! - the menu: `config_file` from the stage2 header (`/boot/grub/menu.lst`)
//!   on the install partition (`install_partition`, header offset 8),
//!   parsed with [`boot_config::grub_legacy`], default/saved/fallback
//!   as [`select::grub_pick`] and cmain decide; `run_menu` as drawn on the
//!   BIOS console (the box, the highlighted entry, the help text, the
//!   countdown on the RTC through int 1Ah, `hiddenmenu`'s "Press `ESC' to
//!   enter the menu..." line, `color`) and the keys of `--keys` through
//!   int 16h AH=01h/00h: arrows, Page Up/Down, Enter; `e`, `c` and `p`
//!   stop the model ([`menu`]);
//! - the console through int 10h exactly as `console_putchar` and
//!   `console_cls` call it (AH=0Eh for control characters, AH=03h/09h/02h
//!   for the others), `grub_putchar` turning "\n" into "\r\n";
//! - the entry's commands echoed, `root`/`rootnoverify`/`kernel`/`initrd`/
//!   `boot`/`savedefault`/`color` run (others stop the model with
//!   [`EndState::LoaderStopped`] and a reason), errors as
//!   "\nError %u: %s\n" and the `fallback` list;
//! - Linux loaded the GRUB 0.97 way and entered at the 16-bit setup entry;
//! - before all this, when `grub-install` embedded a Stage 1.5, that stage
//!   ([`stage1_5`]): it reads stage2 by path and chains to it.
//!
//! Not modelled (and said so): the entry editor, the command line and the
//! password prompt, the partition-table writers (`hide`, `unhide`,
//! `makeactive`), `savedefault`'s write (the image is read-only: the trace
//! records what GRUB would write), chainloading, Multiboot/ELF kernels,
//! GRUB's own instructions (only its BIOS calls and their exits cost
//! simulated time) and the protected/real-mode round trip per BIOS call.

use std::cell::Cell;
use std::sync::{Arc, Mutex, MutexGuard};

use boot_config::discover::{self, GRUB_LEGACY_MAX_HOPS};
use boot_config::grub_error::GrubError;
use boot_config::select::{self, EntryRequest, Reason};
use boot_config::{BootPath, Menu, grub_legacy};
use disk_image::{ByteOffset, Disk, DiskError, ReadAt};
use serde::Serialize;
use x86::{Gpr, SegReg, Segment, flags};

use super::EndState;
use super::trace::HvmEvent;
use super::vm::Hvm;

mod menu;
mod stage1_5;

pub(crate) use stage1_5::stage1_5;

/// `BUFFERADDR` / `BUFFERLEN` (stage2/shared.h): the track buffer.
pub const BUFFERADDR: u32 = 0x70000;
pub const BUFFERLEN: u32 = 0x7E00;
/// `SCRATCHADDR`: where the E820 entries and the EDD buffer go.
pub const SCRATCHADDR: u32 = 0x77E00;
/// Where the model puts the int 13h disk address packet: in the
/// protected-mode stack area below `FSYS_BUF` (0x68000), where GRUB's C
/// `biosdisk` keeps its local `dap`.
pub const DAP_ADDR: u32 = 0x67F00;
/// stage2/shared.h Linux constants.
pub const LINUX_SETUP_MOVE_SIZE: u32 = 0x9100;
pub const LINUX_OLD_REAL_MODE_ADDR: u32 = 0x90000;
pub const LINUX_BZIMAGE_ADDR: u32 = 0x100000;
pub const LINUX_ZIMAGE_ADDR: u32 = 0x10000;
pub const LINUX_CL_OFFSET: u32 = 0x9000;
pub const LINUX_CL_END_OFFSET: u32 = 0x90FF;
pub const LINUX_SETUP_STACK: u16 = 0x9000;
pub const LINUX_HEAP_END_OFFSET: u16 = 0x9000 - 0x200;
pub const LINUX_BOOT_LOADER_TYPE: u8 = 0x71;
pub const LINUX_INITRD_MAX_ADDRESS: u32 = 0x3800_0000;
pub const LINUX_MAX_SETUP_SECTS: u8 = 64;
pub const LINUX_DEFAULT_SETUP_SECTS: u32 = 4;
const LOADER: &str = "GRUB legacy 0.97";

/// The registers at the kernel's entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EntryRegs {
    pub cs: u16,
    /// IP, or EIP for a 32-bit entry.
    pub ip: u32,
    pub ds: u16,
    pub es: u16,
    pub fs: u16,
    pub gs: u16,
    pub ss: u16,
    /// SP, or ESP for a 32-bit entry.
    pub sp: u32,
    /// ESI for a 32-bit entry (boot_params, as the 32-bit boot protocol
    /// asks); `None` for a 16-bit entry.
    pub esi: Option<u32>,
    /// Interrupt flag (GRUB's `cli` before the far jump: false).
    pub interrupts: bool,
    /// "real" (16-bit setup entry).
    pub mode: String,
}

/// An entry GRUB tried before the one it booted (or gave up on).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FailedEntry {
    pub index: usize,
    pub title: String,
    pub error: u32,
    pub message: String,
}

/// What GRUB loaded and where: the data of [`EndState::KernelEntry`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KernelEntryInfo {
    pub loader: String,
    /// The menu entry's index, where known (a loader model's choice; an
    /// executed loader's choice is known by its title).
    pub entry_index: Option<usize>,
    pub entry_title: String,
    /// Why this entry (default, saved, fallback, …).
    pub why: String,
    pub config: String,
    /// `(hd0,0)/boot/vmlinuz` as resolved by GRUB (device + path).
    pub kernel: String,
    pub initrd: Option<String>,
    pub cmdline: String,
    pub protocol: String,
    pub bzimage: bool,
    /// `linux_data_real_addr`: the real-mode setup, and boot_params.
    pub setup_base: u32,
    pub zero_page: u32,
    pub cmd_line_ptr: u32,
    pub kernel_load: u32,
    pub kernel_size: u32,
    /// setup_sects << 9 (GRUB's "setup=").
    pub setup_size: u32,
    pub initrd_addr: Option<u32>,
    pub initrd_size: Option<u32>,
    pub mem_lower_kib: u32,
    pub mem_upper_kib: u32,
    pub regs: EntryRegs,
    pub failed: Vec<FailedEntry>,
    /// Where an executed loader entered Linux's 16-bit setup (GRUB 0.97,
    /// `linux16`, SYSLINUX), before the setup reached the 32-bit entry.
    pub setup_entry: Option<(super::Loc, EntryRegs)>,
    /// The kernel and initrd in guest memory compared with the disk's
    /// files (executed loaders).
    pub checks: Vec<super::linux::EntryCheck>,
}

/// Geometry from int 13h (`struct geometry`, stage2/bios.c get_diskinfo).
#[derive(Clone, Copy, Debug)]
struct Geom {
    sectors: u32,
    total: u64,
}

/// `rawread`'s track cache (`buf_drive`, `buf_track`, `buf_geom`).
#[derive(Default)]
pub(crate) struct Cache {
    geom: Option<Geom>,
    track: Option<u64>,
}

/// The disk as GRUB sees it: every byte comes from an int 13h read
/// through the BIOS and the emulated IDE controller of the running VM.
pub struct DiskViaBios {
    pub(crate) vm: Arc<Mutex<Hvm>>,
    pub(crate) cache: Mutex<Cache>,
    pub(crate) drive: u8,
    pub(crate) size: u64,
    pub(crate) name: String,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn io_err(what: &str, offset: u64, len: usize, detail: String) -> DiskError {
    DiskError::Io { what: what.to_string(), offset: ByteOffset(offset), len, source: std::io::Error::other(detail) }
}

impl DiskViaBios {
    /// `buf_drive = -1`: run_script invalidates the cache before each command.
    pub(crate) fn invalidate(&self) {
        *lock(&self.cache) = Cache::default();
    }

    /// stage2/bios.c get_diskinfo for a hard disk: AH=41h, AH=48h, AH=08h.
    fn diskinfo(&self, vm: &mut Hvm) -> Option<Geom> {
        let d = u32::from(self.drive);
        let r = vm.bios_call(0x13, &[(Gpr::Eax, 0x4100), (Gpr::Ebx, 0x55AA), (Gpr::Edx, d)], &[]);
        let lba = r.eflags & flags::CF == 0
            && r.gpr[Gpr::Ebx as usize] & 0xFFFF == 0xAA55
            && r.gpr[Gpr::Ecx as usize] & 1 != 0;
        let mut total = None;
        if lba {
            vm.bus.w16(SCRATCHADDR, 26);
            let r = vm.bios_call(
                0x13,
                &[(Gpr::Eax, 0x4800), (Gpr::Edx, d), (Gpr::Esi, 0)],
                &[(SegReg::Ds, (SCRATCHADDR >> 4) as u16)],
            );
            if r.eflags & flags::CF == 0 {
                total =
                    Some(u64::from(vm.bus.r32(SCRATCHADDR + 0x10)) | u64::from(vm.bus.r32(SCRATCHADDR + 0x14)) << 32);
            }
        }
        let r = vm.bios_call(0x13, &[(Gpr::Eax, 0x0800), (Gpr::Edx, d)], &[]);
        if r.eflags & flags::CF != 0 {
            return None;
        }
        let cx = r.gpr[Gpr::Ecx as usize];
        let sectors = cx & 0x3F;
        let heads = ((r.gpr[Gpr::Edx as usize] >> 8) & 0xFF) + 1;
        let cylinders = ((cx >> 8) & 0xFF | (cx & 0xC0) << 2) + 1;
        if !lba || sectors == 0 {
            // The CHS-only path of biosdisk is not modelled.
            return None;
        }
        Some(Geom { sectors, total: total.unwrap_or(u64::from(cylinders * heads * sectors)) })
    }

    /// biosdisk(BIOSDISK_READ) with LBA extensions: one int 13h AH=42h
    /// into BUFFERSEG:0000.
    fn biosdisk(&self, vm: &mut Hvm, lba: u64, count: u32) -> bool {
        vm.bus.write_phys(DAP_ADDR, &[0x10, 0]);
        vm.bus.w16(DAP_ADDR + 2, count as u16);
        vm.bus.w16(DAP_ADDR + 4, 0);
        vm.bus.w16(DAP_ADDR + 6, (BUFFERADDR >> 4) as u16);
        vm.bus.w32(DAP_ADDR + 8, lba as u32);
        vm.bus.w32(DAP_ADDR + 12, (lba >> 32) as u32);
        let r = vm.bios_call(
            0x13,
            &[(Gpr::Eax, 0x4200), (Gpr::Edx, u32::from(self.drive)), (Gpr::Esi, DAP_ADDR & 0xF)],
            &[(SegReg::Ds, (DAP_ADDR >> 4) as u16)],
        );
        r.eflags & flags::CF == 0
    }
}

impl ReadAt for DiskViaBios {
    fn size(&self) -> u64 {
        self.size
    }

    fn describe(&self) -> String {
        format!("{} (through int 13h)", self.name)
    }

    /// stage2/disk_io.c `rawread`, sector size 512. One deviation: after a
    /// partial-track read GRUB still marks the track cached although the
    /// buffer holds the sectors from `sector` on; the model forgets it so
    /// that later reads of that track see the right bytes.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> disk_image::Result<()> {
        let what = "int 13h read";
        if offset.checked_add(buf.len() as u64).is_none_or(|e| e > self.size) {
            return Err(io_err(what, offset, buf.len(), "past the end of the disk".into()));
        }
        let mut vm = lock(&self.vm);
        let mut cache = lock(&self.cache);
        let mut sector = offset / 512;
        let mut byte_offset = (offset % 512) as u32;
        let mut done = 0usize;
        while done < buf.len() {
            let byte_len = (buf.len() - done) as u64;
            let geom = match cache.geom {
                Some(g) => g,
                None => match self.diskinfo(&mut vm) {
                    Some(g) => {
                        cache.geom = Some(g);
                        cache.track = None;
                        g
                    }
                    None => return Err(io_err(what, offset, buf.len(), "Error 21: no geometry from int 13h".into())),
                },
            };
            if sector >= geom.total {
                return Err(io_err(what, offset, buf.len(), format!("sector {sector} past the BIOS geometry")));
            }
            let slen = (u64::from(byte_offset) + byte_len).div_ceil(512);
            let spv = u64::from(geom.sectors.min(BUFFERLEN >> 9));
            let soff = sector % spv;
            let track = sector - soff;
            let num_sect = spv - soff;
            let mut bufaddr = BUFFERADDR + (soff as u32) * 512 + byte_offset;
            if cache.track != Some(track) {
                let partial = slen > num_sect;
                let (start, len) = if partial { (sector, num_sect) } else { (track, spv) };
                if partial {
                    bufaddr = BUFFERADDR + byte_offset;
                }
                if self.biosdisk(&mut vm, start, len as u32) {
                    cache.track = (!partial).then_some(track);
                } else {
                    cache.track = None;
                    if partial || !self.biosdisk(&mut vm, sector, slen as u32) {
                        return Err(io_err(
                            what,
                            offset,
                            buf.len(),
                            format!("Error 25: int 13h failed at LBA {sector}"),
                        ));
                    }
                    bufaddr = BUFFERADDR + byte_offset;
                }
            }
            let size = byte_len.min(num_sect * 512 - u64::from(byte_offset)) as usize;
            vm.bus.read_phys(bufaddr, &mut buf[done..done + size]);
            done += size;
            sector += num_sect;
            byte_offset = 0;
        }
        Ok(())
    }
}

impl Hvm {
    /// A BIOS call made by model code: the registers are set, the BIOS
    /// service runs (counted, traced, its port accesses exits), and the
    /// resulting registers are returned; the CPU's own registers are
    /// restored.
    pub(crate) fn bios_call(&mut self, vector: u8, gprs: &[(Gpr, u32)], segs: &[(SegReg, u16)]) -> x86::Registers {
        let saved = self.cpu.regs.clone();
        for &(r, v) in gprs {
            self.cpu.regs.gpr[r as usize] = v;
        }
        for &(s, v) in segs {
            self.cpu.regs.seg[s as usize] = Segment::real(v, false);
        }
        self.service(vector, false);
        let out = self.cpu.regs.clone();
        self.cpu.regs = saved;
        out
    }
}

/// One step of an entry's script failed.
enum Fail {
    /// GRUB's error: printed, then the fallback.
    Grub(GrubError, String),
    /// Something the model does not do: the run ends here.
    Stop(String),
}

fn grub(e: GrubError, detail: impl Into<String>) -> Fail {
    Fail::Grub(e, detail.into())
}

/// What `kernel` left for `initrd` and `boot`.
struct Loaded {
    kernel: String,
    big: bool,
    protocol: u16,
    real_addr: u32,
    tmp_addr: u32,
    text_len: u32,
    data_len: u32,
    cmdline: String,
    initrd: Option<(String, u32, u32)>,
}

struct Stage2 {
    /// console_current_color (console_putchar's attribute).
    color: Cell<u8>,
    /// console_normal_color / console_highlight_color (`color`).
    colors: Cell<menu::Colors>,
    /// DEFAULT_FILE_BUF: the `default` file next to the config file, on
    /// the install partition (savedefault).
    default_file: String,
    /// current_entryno and the fallback list, for savedefault.
    current_entry: usize,
    fallbacks: Vec<usize>,
    vm: Arc<Mutex<Hvm>>,
    disk: Disk,
    dev: Arc<DiskViaBios>,
    mem_lower: u32,
    mem_upper: u32,
    /// `saved_drive`/`saved_partition` as a GRUB device name.
    root: String,
}

impl Stage2 {
    fn vm(&self) -> MutexGuard<'_, Hvm> {
        lock(&self.vm)
    }

    /// console_putchar.
    fn putc(&self, c: u8) {
        let mut vm = self.vm();
        let bl = u32::from(self.color.get());
        if matches!(c, 7 | 8 | 10 | 13) {
            vm.bios_call(0x10, &[(Gpr::Eax, 0x0E00 | u32::from(c)), (Gpr::Ebx, bl)], &[]);
            return;
        }
        let mut pos = vm.bios_call(0x10, &[(Gpr::Eax, 0x0300), (Gpr::Ebx, bl)], &[]).gpr[Gpr::Edx as usize];
        if pos & 0xFF >= 79 {
            vm.bios_call(0x10, &[(Gpr::Eax, 0x0E0D), (Gpr::Ebx, bl)], &[]);
            vm.bios_call(0x10, &[(Gpr::Eax, 0x0E0A), (Gpr::Ebx, bl)], &[]);
            pos = vm.bios_call(0x10, &[(Gpr::Eax, 0x0300), (Gpr::Ebx, bl)], &[]).gpr[Gpr::Edx as usize];
        }
        vm.bios_call(0x10, &[(Gpr::Eax, 0x0900 | u32::from(c)), (Gpr::Ebx, bl), (Gpr::Ecx, 1)], &[]);
        let next = (pos & 0xFF00) | ((pos + 1) & 0xFF);
        vm.bios_call(0x10, &[(Gpr::Eax, 0x0200), (Gpr::Ebx, 0), (Gpr::Edx, next)], &[]);
    }

    /// grub_printf through grub_putchar.
    fn print(&self, s: &str) {
        for &b in s.as_bytes() {
            if b == b'\n' {
                self.putc(b'\r');
            }
            self.putc(b);
        }
    }

    /// console_cls.
    fn cls(&self) {
        let mut vm = self.vm();
        vm.bios_call(0x10, &[(Gpr::Eax, 0x0200), (Gpr::Ebx, 0), (Gpr::Edx, 0)], &[]);
        vm.bios_call(0x10, &[(Gpr::Eax, 0x0920), (Gpr::Ebx, 0x07), (Gpr::Ecx, 80 * 25), (Gpr::Edx, 0)], &[]);
        vm.bios_call(0x10, &[(Gpr::Eax, 0x0200), (Gpr::Ebx, 0), (Gpr::Edx, 0)], &[]);
    }

    fn error(&self, e: GrubError) {
        self.print(&format!("\nError {}: {}\n", e.number(), e.text()));
    }

    /// Reads a file named by a menu line (`grub_open` + `grub_read`).
    fn read_file(&self, text: &str, max: u64) -> Result<(String, Vec<u8>), Fail> {
        let p = BootPath::parse(text);
        let device = p.device.clone().unwrap_or_else(|| self.root.clone());
        if p.path.is_empty() {
            return Err(grub(GrubError::BadFilename, format!("{text:?} names no file")));
        }
        let ov = discover::open_grub_device(&self.disk, &device)
            .map_err(|f| grub(f.error.unwrap_or(GrubError::FsysMount), f.detail))?;
        let hit = discover::find_file(&ov, &p.path, GRUB_LEGACY_MAX_HOPS)
            .map_err(|f| grub(f.error.unwrap_or(GrubError::FileNotFound), f.detail))?;
        if hit.size > max {
            return Err(grub(GrubError::WontFit, format!("{device}{} is {} bytes", p.path, hit.size)));
        }
        let data = ov.fs.read_file(&hit.resolved_path, max).map_err(|e| grub(GrubError::Read, e.to_string()))?;
        Ok((format!("{device}{}", p.path), data))
    }

    /// `root DEVICE`: open it, print the filesystem type.
    fn root(&mut self, arg: &str, mount: bool) -> Result<(), Fail> {
        let dev = arg.split(' ').next().unwrap_or("");
        let end = dev.find(')').map_or(dev.len(), |i| i + 1);
        let dev = &dev[..end];
        let Some((disk_no, part)) = grub_legacy::parse_device(dev) else {
            return Err(grub(GrubError::DevFormat, format!("{dev:?} is not a device")));
        };
        if disk_no != 0 {
            return Err(grub(GrubError::NoDisk, format!("{dev}: the guest has one disk")));
        }
        let Some(volume) = self.disk.volume(dev) else {
            return Err(grub(GrubError::NoPart, format!("{dev}: no such partition")));
        };
        self.root = dev.to_string();
        if mount {
            let fs = match self.disk.probe(&volume) {
                Ok(Some(p)) => {
                    use disk_image::fs::probe::FsKind;
                    match p.kind {
                        FsKind::Ext2 | FsKind::Ext3 | FsKind::Ext4 => Some("ext2fs"),
                        FsKind::Vfat => Some("fat"),
                        FsKind::Xfs => Some("xfs"),
                        FsKind::Iso9660 => Some("iso9660"),
                        _ => None,
                    }
                }
                _ => None,
            };
            let mut line = String::from(" Filesystem type ");
            match fs {
                Some(n) => line.push_str(&format!("is {n}, ")),
                None => line.push_str("unknown, "),
            }
            match (&volume.partition, part) {
                (Some(p), Some(_)) => {
                    let t = match p.ptype {
                        disk_image::partition::PartitionType::Mbr(t) => t,
                        disk_image::partition::PartitionType::Gpt(_) => 0xEE,
                    };
                    line.push_str(&format!("partition type {t:#x}\n"));
                }
                _ => line.push_str("using whole disk\n"),
            }
            self.print(&line);
        }
        Ok(())
    }

    /// `kernel FILE ARGS`: load_image's Linux branch.
    fn kernel(&self, arg: &str) -> Result<Loaded, Fail> {
        let mut rest = arg;
        while let Some(opt) = rest.strip_prefix("--") {
            let (o, r) = opt.split_once(' ').unwrap_or((opt, ""));
            if !o.starts_with("type=") && o != "no-mem-option" {
                return Err(grub(GrubError::BadArgument, format!("--{o}")));
            }
            rest = r.trim_start_matches(' ');
        }
        let no_mem = arg.contains("--no-mem-option");
        let (file, args) = rest.split_once(' ').map_or((rest, ""), |(f, a)| (f, a.trim_start_matches(' ')));
        let top = (u64::from(self.mem_upper) + 0x400) << 10;
        let (name, data) = self.read_file(file, top.min(1 << 30))?;
        if data.len() < 32 {
            return Err(grub(GrubError::ExecFormat, format!("{name}: {} bytes", data.len())));
        }
        let head = &data[..data.len().min(8192)];
        let mb = head.chunks_exact(4).take(8192 / 4).enumerate().any(|(i, w)| {
            u32::from_le_bytes([w[0], w[1], w[2], w[3]]) == 0x1BAD_B002 && data.len() >= i * 4 + 12 && {
                let f = u32::from_le_bytes(data[i * 4 + 4..i * 4 + 8].try_into().unwrap_or([0; 4]));
                let c = u32::from_le_bytes(data[i * 4 + 8..i * 4 + 12].try_into().unwrap_or([0; 4]));
                0x1BAD_B002u32.wrapping_add(f).wrapping_add(c) == 0
            }
        });
        if mb {
            return Err(Fail::Stop(format!("{name} is a Multiboot kernel: not modelled")));
        }
        if data.len() > 52 && data[..4] == *b"\x7FELF" && data[4] == 1 && data[18] == 3 {
            return Err(Fail::Stop(format!("{name} is an i386 ELF kernel: not modelled")));
        }
        if data.len() < 0x202
            || u16::from_le_bytes([data[0x1FE], data[0x1FF]]) != 0xAA55
            || data[0x1F1] > LINUX_MAX_SETUP_SECTS
        {
            return Err(grub(GrubError::ExecFormat, format!("{name}: neither Multiboot, ELF nor Linux")));
        }
        let mut buffer = data[..data.len().min(64 * 512)].to_vec();
        buffer.resize(64 * 512, 0);
        let rd16 = |b: &[u8], o: usize| u16::from_le_bytes([b[o], b[o + 1]]);
        let rd32 = |b: &[u8], o: usize| u32::from_le_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        let hdrs = rd32(&buffer, 0x202) == 0x5372_6448;
        let version = if hdrs { rd16(&buffer, 0x206) } else { 0 };
        let mut setup_sects = u32::from(buffer[0x1F1]);
        let mut big = false;
        let real_addr;
        if hdrs && version >= 0x200 {
            big = buffer[0x211] & 1 != 0;
            buffer[0x210] = LINUX_BOOT_LOADER_TYPE;
            real_addr = ((self.mem_lower << 10).wrapping_sub(LINUX_SETUP_MOVE_SIZE)).min(LINUX_OLD_REAL_MODE_ADDR);
            if version >= 0x201 {
                buffer[0x224..0x226].copy_from_slice(&LINUX_HEAP_END_OFFSET.to_le_bytes());
                buffer[0x211] |= 0x80;
            }
            if version >= 0x202 {
                buffer[0x228..0x22C].copy_from_slice(&(real_addr + LINUX_CL_OFFSET).to_le_bytes());
            } else {
                buffer[0x20..0x22].copy_from_slice(&0xA33Fu16.to_le_bytes());
                buffer[0x22..0x24].copy_from_slice(&(LINUX_CL_OFFSET as u16).to_le_bytes());
                buffer[0x212..0x214].copy_from_slice(&(LINUX_SETUP_MOVE_SIZE as u16).to_le_bytes());
            }
        } else {
            buffer[0x20..0x22].copy_from_slice(&0xA33Fu16.to_le_bytes());
            buffer[0x22..0x24].copy_from_slice(&(LINUX_CL_OFFSET as u16).to_le_bytes());
            setup_sects = LINUX_DEFAULT_SETUP_SECTS;
            real_addr = LINUX_OLD_REAL_MODE_ADDR;
        }
        if setup_sects == 0 {
            setup_sects = LINUX_DEFAULT_SETUP_SECTS;
        }
        let data_len = setup_sects << 9;
        let Some(text_len) = (data.len() as u32).checked_sub(data_len + 512) else {
            return Err(grub(GrubError::ExecFormat, format!("{name} is shorter than its setup")));
        };
        let tmp_addr = LINUX_BZIMAGE_ADDR + text_len;
        if !big && text_len > real_addr - LINUX_ZIMAGE_ADDR {
            self.print(" linux 'zImage' kernel too big, try 'make bzImage'\n");
            return Err(grub(GrubError::WontFit, "zImage too big"));
        }
        if real_addr + LINUX_SETUP_MOVE_SIZE > self.mem_lower << 10 {
            return Err(grub(GrubError::WontFit, "no room for the real-mode setup below mem_lower"));
        }
        self.print(&format!(
            "   [Linux-{}, setup={:#x}, size={:#x}]\n",
            if big { "bzImage" } else { "zImage" },
            data_len,
            text_len
        ));
        // GRUB does not check this; the model refuses to write past RAM.
        if u64::from(tmp_addr) + u64::from(LINUX_SETUP_MOVE_SIZE) > top {
            return Err(grub(GrubError::WontFit, format!("{name}: {text_len:#x} bytes do not fit above 1 MiB")));
        }
        if !(hdrs && version >= 0x200) {
            let from = ((setup_sects + 1) << 9) as usize;
            let to = (64 << 9) as usize;
            buffer[from..to].fill(0);
        }
        // The command line, copied to the staging area + 0x9000.
        let mut cl: Vec<u8> = args.bytes().take((LINUX_CL_END_OFFSET - LINUX_CL_OFFSET) as usize).collect();
        if !args.contains("mem=") && !no_mem && version < 0x203 && cl.len() + 15 < 0xFF {
            cl.extend_from_slice(format!(" mem={}K", self.mem_upper + 0x400).as_bytes());
        }
        let cmdline = String::from_utf8_lossy(&cl).into_owned();
        cl.push(0);
        let staged = (data_len + 512) as usize;
        let mut vm = self.vm();
        vm.bus.write_phys(tmp_addr, &buffer[..staged.min(buffer.len())]);
        if staged > buffer.len() {
            vm.bus.write_phys(tmp_addr + buffer.len() as u32, &data[buffer.len()..staged]);
        }
        vm.bus.write_phys(tmp_addr + LINUX_CL_OFFSET, &cl);
        vm.bus.write_phys(LINUX_BZIMAGE_ADDR, &data[staged..]);
        Ok(Loaded {
            kernel: name,
            big,
            protocol: version,
            real_addr,
            tmp_addr,
            text_len,
            data_len,
            cmdline,
            initrd: None,
        })
    }

    /// `initrd FILE`: load_initrd.
    fn initrd(&self, arg: &str, k: &mut Loaded) -> Result<(), Fail> {
        let file = arg.split(' ').next().unwrap_or("");
        let top = (u64::from(self.mem_upper) + 0x400) << 10;
        let (name, data) = self.read_file(file, top)?;
        let len = data.len() as u32;
        if len == 0 {
            return Ok(());
        }
        let hdr = k.tmp_addr;
        let (magic, version, addr_max) = {
            let vm = self.vm();
            (vm.bus.r32(hdr + 0x202), vm.bus.r16(hdr + 0x206), vm.bus.r32(hdr + 0x22C))
        };
        let mut moveto = (top as u32).wrapping_sub(len) & 0xFFFF_F000;
        let max_addr = if magic == 0x5372_6448 && version >= 0x203 { addr_max } else { LINUX_INITRD_MAX_ADDRESS };
        if u64::from(moveto) + u64::from(len) >= u64::from(max_addr) {
            moveto = max_addr.wrapping_sub(len) & 0xFFFF_F000;
        }
        moveto = moveto.wrapping_sub(0x10000);
        // GRUB does not check this; the model refuses to overlap the kernel.
        if u64::from(len) + 0x10000 > top || moveto < k.tmp_addr + LINUX_SETUP_MOVE_SIZE {
            return Err(grub(GrubError::WontFit, format!("{name}: {len:#x} bytes do not fit in memory")));
        }
        let mut vm = self.vm();
        vm.bus.write_phys(moveto, &data);
        vm.bus.w32(hdr + 0x218, moveto);
        vm.bus.w32(hdr + 0x21C, len);
        drop(vm);
        self.print(&format!("   [Linux-initrd @ {moveto:#x}, {len:#x} bytes]\n"));
        k.initrd = Some((name, moveto, len));
        Ok(())
    }
}

/// The stage2 header at `main` (stage2/asm.S): compat version 3.2 at +6,
/// install_partition +8, stage2_id +0x10, version string +0x12, then
/// config_file.
struct Header {
    install_partition: u32,
    version: String,
    config_file: String,
}

fn read_header(vm: &Hvm, main: u32) -> Option<Header> {
    let mut h = [0u8; 0x70];
    vm.bus.read_phys(main, &mut h);
    if h[6..8] != [3, 2] || h[0x10] != 0 {
        return None;
    }
    let cstr = |from: usize| -> Option<(String, usize)> {
        let end = h[from..].iter().position(|&b| b == 0)? + from;
        Some((String::from_utf8_lossy(&h[from..end]).into_owned(), end + 1))
    };
    let (version, next) = cstr(0x12)?;
    let (config_file, _) = cstr(next)?;
    if !config_file.starts_with('/') && !config_file.starts_with('(') {
        return None;
    }
    Some(Header { install_partition: u32::from_le_bytes([h[8], h[9], h[10], h[11]]), version, config_file })
}

/// mmap_avail_at (stage2/common.c).
fn mmap_avail_at(map: &[(u64, u64, u32)], bottom: u64) -> u64 {
    let mut top = bottom;
    loop {
        let mut cont = false;
        for &(base, len, kind) in map {
            if kind == 1 && base <= top && base + len > top {
                top = base + len;
                cont = true;
            }
        }
        if !cont {
            break;
        }
    }
    top.min(0xFFFF_FFFF) - bottom
}

/// The Linux boot protocol's 16-bit entry (Documentation/arch/x86/boot.rst,
/// "Running the kernel"), as GRUB 0.97's `big_linux_boot`, GRUB 2's
/// `linux16` and syslinux's `shuffle_and_boot_rm` leave the CPU: CS = the
/// setup segment + 0x20, IP 0, DS = ES = FS = GS = SS = the setup segment,
/// SP `sp`, interrupts off. Sets the registers and returns where the CPU
/// is and the [`EntryRegs`] to report.
pub(crate) fn enter_real_mode_setup(vm: &mut Hvm, seg: u16, sp: u16) -> (super::Loc, EntryRegs) {
    let cs = seg + 0x20;
    let r = &mut vm.cpu.regs;
    for s in [SegReg::Ds, SegReg::Es, SegReg::Fs, SegReg::Gs, SegReg::Ss] {
        r.seg[s as usize] = Segment::real(seg, false);
    }
    r.seg[SegReg::Cs as usize] = Segment::real(cs, true);
    r.eip = 0;
    r.gpr[Gpr::Esp as usize] = u32::from(sp);
    r.eflags &= !flags::IF;
    let regs = EntryRegs {
        cs,
        ip: 0,
        ds: seg,
        es: seg,
        fs: seg,
        gs: seg,
        ss: seg,
        sp: sp.into(),
        esi: None,
        interrupts: false,
        mode: "real".into(),
    };
    (vm.loc(), regs)
}

/// A boot protocol version as the setup header's `version` field spells
/// it (0x020F -> "2.15").
pub(crate) fn protocol_version(version: u16) -> String {
    format!("{}.{:02}", version >> 8, version & 0xFF)
}

/// A loaded initrd (name, address, size) as [`KernelEntryInfo`]'s three
/// optional fields.
pub(crate) fn initrd_fields(initrd: Option<(String, u32, u32)>) -> (Option<String>, Option<u32>, Option<u32>) {
    match initrd {
        Some((n, a, l)) => (Some(n), Some(a), Some(l)),
        None => (None, None, None),
    }
}

/// The E820 map read the way GRUB 0.97 (`get_mmap_entry`, asm.S), GRUB 2
/// (`grub_machine_mmap_iterate`, kern/i386/pc/mmap.c) and syslinux read
/// it: int 15h AX=E820h, 20-byte entries into `buffer` (below 1 MiB),
/// until EBX comes back 0, CF is set or the signature is wrong; at most
/// 128 entries.
pub(crate) fn e820_via_int15(vm: &mut Hvm, buffer: u32) -> Vec<(u64, u64, u32)> {
    let mut map = Vec::new();
    let mut cont = 0u32;
    loop {
        let r = vm.bios_call(
            0x15,
            &[(Gpr::Eax, 0xE820), (Gpr::Ebx, cont), (Gpr::Ecx, 20), (Gpr::Edx, 0x534D_4150), (Gpr::Edi, buffer & 0xF)],
            &[(SegReg::Es, (buffer >> 4) as u16)],
        );
        if r.eflags & flags::CF != 0 || r.gpr[Gpr::Eax as usize] != 0x534D_4150 {
            break;
        }
        let base = u64::from(vm.bus.r32(buffer)) | u64::from(vm.bus.r32(buffer + 4)) << 32;
        let len = u64::from(vm.bus.r32(buffer + 8)) | u64::from(vm.bus.r32(buffer + 12)) << 32;
        map.push((base, len, vm.bus.r32(buffer + 16)));
        cont = r.gpr[Gpr::Ebx as usize];
        if cont == 0 || map.len() >= 128 {
            break;
        }
    }
    map
}

/// Runs the stage2 model from the hand-off `handoff` (a GRUB legacy stage2
/// hand-off). Returns the machine and the new end state; a stage2 whose
/// header the model does not recognise leaves the hand-off as it was.
pub(crate) fn stage2(mut hvm: Hvm, handoff: EndState, name: String) -> (Hvm, EndState) {
    let EndState::HandOff { at, .. } = &handoff else {
        return (hvm, handoff);
    };
    let main = at.linear;
    let Some(header) = read_header(&hvm, main) else {
        return (hvm, handoff);
    };
    let now = hvm.bus.clock.now();
    hvm.bus.trace.push(
        now,
        0,
        HvmEvent::Phase {
            name: format!(
                "hand-off at {at}: GRUB legacy stage2 (version {:?}, config_file {:?}) continues as boot-sim's \
                 Rust model; its disk reads are int 13h calls through the BIOS and the IDE model",
                header.version, header.config_file
            ),
        },
    );
    hvm.mark("grub: read the config");
    let drive = hvm.lo(Gpr::Edx);
    // init_bios_info: int 12h, int 15h AH=88h, the E820 map.
    let mem_lower_12 = hvm.bios_call(0x12, &[], &[]).gpr[Gpr::Eax as usize] & 0xFFFF;
    let ext = hvm.bios_call(0x15, &[(Gpr::Eax, 0x8800)], &[]);
    let mem_upper_88 = if ext.eflags & flags::CF == 0 { ext.gpr[Gpr::Eax as usize] & 0xFFFF } else { 0 };
    let map = e820_via_int15(&mut hvm, SCRATCHADDR);
    let (mem_lower, mem_upper) = if map.is_empty() {
        (mem_lower_12, mem_upper_88)
    } else {
        ((mmap_avail_at(&map, 0) >> 10) as u32, (mmap_avail_at(&map, 0x100000) >> 10) as u32)
    };
    let size = hvm.bios.drive.sectors * 512;
    let vm = Arc::new(Mutex::new(hvm));
    let dev = Arc::new(DiskViaBios { vm: vm.clone(), cache: Mutex::new(Cache::default()), drive, size, name });
    let end = match Disk::from_reader_without_lvm(dev.clone()) {
        Ok(disk) => {
            let part = (header.install_partition >> 16) & 0xFF;
            let root = if part == 0xFF { "(hd0)".to_string() } else { format!("(hd0,{part})") };
            let dir = header.config_file.rsplit_once('/').map_or("", |(d, _)| d);
            let default_file =
                if dir.starts_with('(') { format!("{dir}/default") } else { format!("{root}{dir}/default") };
            let mut s = Stage2 {
                color: Cell::new(menu::A_NORMAL),
                colors: Cell::new(menu::Colors::default()),
                default_file,
                current_entry: 0,
                fallbacks: Vec::new(),
                vm: vm.clone(),
                disk,
                dev: dev.clone(),
                mem_lower,
                mem_upper,
                root,
            };
            let end = s.cmain(&header);
            drop(s);
            end
        }
        Err(e) => EndState::LoaderStopped {
            loader: LOADER.into(),
            reason: format!("the partition table read through int 13h failed: {e}"),
        },
    };
    drop(dev);
    let hvm = match Arc::try_unwrap(vm) {
        Ok(m) => m.into_inner().unwrap_or_else(|e| e.into_inner()),
        Err(_) => unreachable!("every holder of the VM was dropped above"),
    };
    (hvm, end)
}

impl Stage2 {
    /// cmain + run_menu + run_script.
    fn cmain(&mut self, header: &Header) -> EndState {
        let config = header.config_file.clone();
        self.dev.invalidate();
        let (cfg_name, data) = match self.read_file(&config, boot_config::MAX_CONFIG_BYTES) {
            Ok(x) => x,
            Err(Fail::Grub(e, d)) => {
                return EndState::LoaderStopped {
                    loader: LOADER.into(),
                    reason: format!(
                        "no config file: {} on {} ({}: {d}); GRUB would enter its command line",
                        config,
                        self.root,
                        e.text()
                    ),
                };
            }
            Err(Fail::Stop(r)) => return EndState::LoaderStopped { loader: LOADER.into(), reason: r },
        };
        let menu: Menu = grub_legacy::parse(&data);
        let lines = grub_legacy::logical_lines(&data);
        // The `default` file next to the menu, for `default saved`.
        let saved = {
            let dir = config.rsplit_once('/').map_or("", |(d, _)| d);
            self.read_file(&format!("{dir}/default"), 4096).ok().map(|(_, d)| grub_legacy::parse_default_file(&d))
        };
        let n = menu.entries.len();
        if n == 0 {
            return EndState::LoaderStopped {
                loader: LOADER.into(),
                reason: format!("{cfg_name} has no entries: GRUB shows an empty menu"),
            };
        }
        let (first, reason, mut why) = match select::grub_pick(&menu, saved, &EntryRequest::Default) {
            Ok(x) => x,
            Err(e) => return EndState::LoaderStopped { loader: LOADER.into(), reason: e.to_string() },
        };
        let fallbacks: Vec<usize> = menu.fallback.iter().copied().filter(|&f| f < n).collect();
        let mut next_fallback = usize::from(reason == Reason::DefaultOutOfRange && !fallbacks.is_empty());
        // Global `color` (BUILTIN_MENU, run while the config is read).
        for l in lines.iter().take_while(|l| grub_legacy::split_command(&l.text).0 != "title") {
            let (cmd, arg) = grub_legacy::split_command(&l.text);
            if let ("color", Some(c)) = (cmd, menu::parse_color(arg)) {
                self.colors.set(c);
            }
        }
        self.vm().mark("grub: menu timeout");
        let titles: Vec<String> = menu.entries.iter().map(|e| e.title.clone()).collect();
        let spec = menu::MenuSpec {
            titles: &titles,
            default: first,
            timeout: menu.timeout,
            hidden: menu.hidden_menu,
            password: menu.password,
            version: &header.version,
        };
        let (first, fallback_ok) = match self.run_menu(&spec) {
            menu::MenuEnd::Boot { entry, why: w, fallback } => {
                if entry != first || !w.starts_with("the default entry") {
                    why = w;
                }
                (entry, fallback)
            }
            menu::MenuEnd::Stop(end) => return end,
        };
        let fallbacks = if fallback_ok { fallbacks } else { Vec::new() };
        self.vm().update_ticks();
        // boot_entry.
        self.cls();
        self.setcursor(true);
        self.fallbacks = fallbacks.clone();
        let mut index = first;
        let mut failed = Vec::new();
        loop {
            let e = &menu.entries[index];
            self.current_entry = index;
            self.vm().mark(format!("grub: boot entry {index}"));
            self.print(&format!("  Booting '{}'\n\n", e.title));
            let start = e.line;
            let script: Vec<String> = lines
                .iter()
                .skip_while(|l| l.line < start)
                .skip(1)
                .take_while(|l| grub_legacy::split_command(&l.text).0 != "title")
                .map(|l| l.text.clone())
                .collect();
            match self.run_script(&script) {
                Ok(Some(loaded)) => {
                    return self.boot(loaded, index, e.title.clone(), why, cfg_name, failed);
                }
                Ok(None) => {
                    return EndState::LoaderStopped {
                        loader: LOADER.into(),
                        reason: format!(
                            "entry {index} ({:?}) loads no kernel: GRUB goes back to its menu and waits",
                            e.title
                        ),
                    };
                }
                Err(Fail::Stop(r)) => return EndState::LoaderStopped { loader: LOADER.into(), reason: r },
                Err(Fail::Grub(err, detail)) => {
                    self.error(err);
                    failed.push(FailedEntry {
                        index,
                        title: e.title.clone(),
                        error: err.number(),
                        message: format!("{} ({detail})", err.text()),
                    });
                    if let Some(&f) = fallbacks.get(next_fallback) {
                        next_fallback += 1;
                        why = format!("entry {index} failed; `fallback` lists entry {f}");
                        index = f;
                        continue;
                    }
                    self.print("\nPress any key to continue...");
                    return EndState::LoaderError {
                        loader: LOADER.into(),
                        entry_index: index,
                        entry_title: e.title.clone(),
                        error: err.number(),
                        message: err.text().to_string(),
                        detail,
                        failed,
                    };
                }
            }
        }
    }

    /// run_script: each command echoed and run; `Ok(Some)` when `boot`
    /// (explicit or implicit) is reached with a kernel loaded.
    fn run_script(&mut self, script: &[String]) -> Result<Option<Loaded>, Fail> {
        let mut loaded: Option<Loaded> = None;
        for line in script.iter().map(String::as_str).chain(std::iter::once("")) {
            let (cmd, arg) = if line.is_empty() { ("boot", "") } else { grub_legacy::split_command(line) };
            if line.is_empty() && loaded.is_none() {
                return Ok(None);
            }
            self.print(&format!("{line}\n"));
            self.dev.invalidate();
            match cmd {
                "root" => self.root(arg, true)?,
                "rootnoverify" => self.root(arg, false)?,
                "kernel" => {
                    self.vm().mark("grub: load the kernel");
                    loaded = Some(self.kernel(arg)?);
                }
                "initrd" => match loaded.as_mut().inspect(|_| self.vm().mark("grub: load the initrd")) {
                    Some(k) => self.initrd(arg, k)?,
                    None => return Err(grub(GrubError::NeedLxKernel, "initrd before kernel")),
                },
                "boot" => {
                    return match loaded {
                        Some(k) => Ok(Some(k)),
                        None => Err(grub(GrubError::BootCommand, "boot without a kernel")),
                    };
                }
                "savedefault" => self.savedefault(arg)?,
                "color" => match menu::parse_color(arg) {
                    Some(c) => self.colors.set(c),
                    None => return Err(grub(GrubError::BadArgument, format!("color {arg:?}"))),
                },
                "chainloader" => {
                    return Err(Fail::Stop(format!(
                        "`{line}`: chainloading (reading a boot sector to 0000:7C00 and jumping to it with \
                         the boot drive in DL) is not modelled"
                    )));
                }
                "module" | "modulenounzip" => {
                    return Err(Fail::Stop(format!(
                        "`{line}`: Multiboot modules belong to a Multiboot kernel, which the model does not load"
                    )));
                }
                "hide" | "unhide" | "makeactive" => {
                    return Err(Fail::Stop(format!(
                        "`{line}`: GRUB would rewrite the partition table (int 13h AH=03h); not modelled on a \
                         read-only image"
                    )));
                }
                "password" | "pause" => {
                    return Err(Fail::Stop(format!("`{line}` waits for typed input: not modelled")));
                }
                c if grub_legacy_known(c) => {
                    return Err(Fail::Stop(format!("the `{c}` command is not modelled (entry line {line:?})")));
                }
                _ => return Err(grub(GrubError::Unrecognized, format!("{cmd:?}"))),
            }
        }
        Ok(None)
    }

    /// builtins.c savedefault_func: the entry number (current_entryno, NUM,
    /// or the fallback after the current entry) written as "%d" padded
    /// with newlines over the first 10 bytes of the `default` file, with
    /// `rawwrite` into the sector(s) that hold them. The image is
    /// read-only: the model reads the file as GRUB does (its errors are
    /// GRUB's: no file → Error 15, shorter than 10 bytes → Error 16) and
    /// records the write it would make in the trace instead.
    fn savedefault(&mut self, arg: &str) -> Result<(), Fail> {
        let entryno = if arg.starts_with("fallback") {
            let at = self.fallbacks.iter().position(|&f| f == self.current_entry).map_or(0, |i| i + 1);
            match self.fallbacks.get(at) {
                Some(&f) => f,
                None => return Err(grub(GrubError::BadArgument, "savedefault fallback: no fallback entry left")),
            }
        } else if arg.is_empty() {
            self.current_entry
        } else {
            match grub_legacy::parse_maxint(arg) {
                Some((v, _)) => v as usize,
                None => return Err(grub(GrubError::BadArgument, format!("savedefault {arg:?}"))),
            }
        };
        let (name, data) = self.read_file(&self.default_file, 1 << 20)?;
        if data.len() < 10 {
            return Err(grub(GrubError::Read, format!("{name} is {} bytes, savedefault needs 10", data.len())));
        }
        let mut buf = [b'\n'; 10];
        let text = entryno.to_string();
        let n = text.len().min(9);
        buf[..n].copy_from_slice(&text.as_bytes()[..n]);
        buf[n] = 0;
        let mut vm = self.vm();
        let now = vm.bus.clock.now();
        vm.bus.trace.push(
            now,
            0,
            HvmEvent::Phase {
                name: format!(
                    "savedefault: GRUB would write entry {entryno} to {name} ({:?} over its first 10 bytes, by \
                     int 13h AH=03h); the image is read-only, nothing is written",
                    String::from_utf8_lossy(&buf)
                ),
            },
        );
        Ok(())
    }

    /// big_linux_boot / linux_boot: move the setup, set the registers.
    fn boot(
        &self,
        k: Loaded,
        entry_index: usize,
        entry_title: String,
        why: String,
        config: String,
        failed: Vec<FailedEntry>,
    ) -> EndState {
        let mut vm = self.vm();
        if !k.big {
            // linux_boot: the zImage text moves from 0x100000 to 0x10000.
            let mut text = vec![0u8; k.text_len as usize];
            vm.bus.read_phys(LINUX_BZIMAGE_ADDR, &mut text);
            vm.bus.write_phys(LINUX_ZIMAGE_ADDR, &text);
        }
        let mut setup = vec![0u8; LINUX_SETUP_MOVE_SIZE as usize];
        vm.bus.read_phys(k.tmp_addr, &mut setup);
        vm.bus.write_phys(k.real_addr, &setup);
        let (at, regs) = enter_real_mode_setup(&mut vm, (k.real_addr >> 4) as u16, LINUX_SETUP_STACK);
        let cmd_line_ptr = if k.protocol >= 0x202 { vm.bus.r32(k.real_addr + 0x228) } else { k.real_addr + 0x9000 };
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
                bzimage: k.big,
                setup_base: k.real_addr,
                zero_page: k.real_addr,
                cmd_line_ptr,
                kernel_load: if k.big { LINUX_BZIMAGE_ADDR } else { LINUX_ZIMAGE_ADDR },
                kernel_size: k.text_len,
                setup_size: k.data_len,
                initrd_addr,
                initrd_size,
                mem_lower_kib: self.mem_lower,
                mem_upper_kib: self.mem_upper,
                regs,
                failed,
                setup_entry: None,
                checks: Vec::new(),
            }),
        }
    }
}

/// GRUB 0.97 builtins the model does not run.
fn grub_legacy_known(c: &str) -> bool {
    grub_legacy::ENTRY_COMMANDS.contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hvm::{HvmOptions, TraceLevel, vm};
    use disk_image::MemImage;

    #[test]
    fn mmap_avail_merges_adjacent_ram() {
        let map = [(0, 0x9F000, 1), (0x9F000, 0x1000, 2), (0x100000, 0x100000, 1), (0x200000, 0x300000, 1)];
        assert_eq!(mmap_avail_at(&map, 0), 0x9F000);
        assert_eq!(mmap_avail_at(&map, 0x100000), 0x400000);
    }

    fn fixture(name: &str) -> Vec<u8> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures").join(name);
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn image() -> Vec<u8> {
        fixture("images/hvm-grub-legacy.img")
    }

    fn patch(img: &mut [u8], from: &[u8], to: &[u8]) {
        assert_eq!(from.len(), to.len());
        let at = img.windows(from.len()).position(|w| w == from).expect("pattern in the image");
        img[at..at + to.len()].copy_from_slice(to);
    }

    fn opts() -> HvmOptions {
        HvmOptions { memory: 256 << 20, trace_level: TraceLevel::Summary, ..HvmOptions::default() }
    }

    fn boot(img: Vec<u8>, o: &HvmOptions) -> (Hvm, EndState) {
        vm::boot_machine(Arc::new(MemImage::new(img, "hvm-grub-legacy.img")), o).unwrap()
    }

    fn rd(h: &Hvm, addr: u32, len: usize) -> Vec<u8> {
        let mut v = vec![0u8; len];
        h.bus.read_phys(addr, &mut v);
        v
    }

    /// The expected GRUB lines, with the numbers computed here from the
    /// bzImage bytes and the E820 map (boot-paths.md §3.4).
    #[test]
    fn boots_the_fallback_entry_to_the_16_bit_entry() {
        let kernel = fixture("kernels/bzimage-gzip.bin");
        let sects = match kernel[0x1F1] {
            0 => 4,
            n => u32::from(n),
        };
        let (setup, size) = (sects * 512, kernel.len() as u32 - (sects + 1) * 512);
        let initrd_max = u32::from_le_bytes(kernel[0x22C..0x230].try_into().unwrap());
        let disk = Disk::from_reader(Arc::new(MemImage::new(image(), "x"))).unwrap();
        let v = disk.volume("(hd0,0)").unwrap();
        let initrd = disk.open_fs(&v).unwrap().read_file("/boot/initrd.img", 1 << 20).unwrap();

        let (mut h, end) = boot(image(), &opts());
        // E820: the RAM region that contains 1 MiB ends at `top`.
        let top =
            h.bios.e820.iter().filter(|e| e.kind == 1 && e.start <= 0x100000).map(|e| e.start + e.size).max().unwrap();
        let len = initrd.len() as u64;
        let mut moveto = (top - len) & !0xFFF;
        if moveto + len >= u64::from(initrd_max) {
            moveto = (u64::from(initrd_max) - len) & !0xFFF;
        }
        moveto -= 0x10000;
        let want = format!(
            "  Booting 'Missing kernel'\r\n\r\nroot (hd0,0)\r\n Filesystem type is ext2fs, partition type 0x83\r\n\
             kernel /boot/vmlinuz-missing ro\r\n\r\nError 15: File not found\r\n\
             \x20 Booting 'boot-sim fixture kernel'\r\n\r\nroot (hd0,0)\r\n\
             \x20Filesystem type is ext2fs, partition type 0x83\r\n\
             kernel /boot/vmlinuz root=/dev/sda1 ro console=ttyS0\r\n\
             \x20  [Linux-bzImage, setup={setup:#x}, size={size:#x}]\r\n\
             initrd /boot/initrd.img\r\n   [Linux-initrd @ {moveto:#x}, {len:#x} bytes]\r\n\r\n"
        );

        let EndState::KernelEntry { at, info } = &end else { panic!("{end:?}") };
        assert_eq!((at.cs, at.ip, at.linear), (0x9020, 0, 0x90200));
        assert_eq!(info.entry_index, Some(1));
        assert_eq!(info.failed.len(), 1);
        assert_eq!(info.failed[0].error, 15);
        assert_eq!(info.cmdline, "root=/dev/sda1 ro console=ttyS0");
        assert_eq!((info.setup_base, info.zero_page, info.cmd_line_ptr), (0x90000, 0x90000, 0x99000));
        assert_eq!((info.initrd_addr, info.initrd_size), (Some(moveto as u32), Some(len as u32)));

        // Registers at the entry.
        let g = &h.cpu.regs;
        assert_eq!(g.seg[SegReg::Cs as usize].selector, 0x9020);
        assert_eq!(g.eip, 0);
        for s in [SegReg::Ds, SegReg::Es, SegReg::Fs, SegReg::Gs, SegReg::Ss] {
            assert_eq!(g.seg[s as usize].selector, 0x9000, "{s:?}");
        }
        assert_eq!(g.gpr[Gpr::Esp as usize] & 0xFFFF, 0x9000);
        assert_eq!(g.eflags & flags::IF, 0);
        assert_eq!(g.cr0 & 1, 0, "real mode");

        // The zero page / setup header in guest memory.
        let zp = rd(&h, 0x90000, 0x300);
        let u16_at = |o: usize| u16::from_le_bytes([zp[o], zp[o + 1]]);
        let u32_at = |o: usize| u32::from_le_bytes(zp[o..o + 4].try_into().unwrap());
        assert_eq!(zp[..0x210], kernel[..0x210], "boot sector and header up to type_of_loader");
        assert_eq!(zp[0x210], 0x71, "type_of_loader");
        assert_eq!(zp[0x211], kernel[0x211] | 0x80, "loadflags |= CAN_USE_HEAP");
        assert_eq!(u16_at(0x224), 0x8E00, "heap_end_ptr");
        assert_eq!(u32_at(0x228), 0x99000, "cmd_line_ptr");
        assert_eq!(u32_at(0x218), moveto as u32, "ramdisk_image");
        assert_eq!(u32_at(0x21C), len as u32, "ramdisk_size");
        assert_eq!(rd(&h, 0x99000, 32), b"root=/dev/sda1 ro console=ttyS0\0");
        let setup_end = ((sects + 1) * 512) as usize;
        assert_eq!(rd(&h, 0x90000 + 0x230, setup_end - 0x230), kernel[0x230..setup_end]);
        assert_eq!(rd(&h, 0x100000, size as usize), kernel[setup_end..]);
        assert_eq!(rd(&h, moveto as u32, initrd.len()), initrd);

        let r = h.report("hvm-grub-legacy.img".into(), end.clone());
        assert!(r.console.ends_with(&want), "console:\n{:?}", r.console);
        // Every byte came through int 13h and the IDE model.
        let c = &r.counters;
        assert!(c.bios_calls.get("int 13h AH=42h").copied().unwrap_or(0) > 1, "{:?}", c.bios_calls);
        let (mut hoff, _) = boot(image(), &HvmOptions { loader_model: false, ..opts() });
        let before = hoff.report("x".into(), EndState::SetupError { message: String::new() }).counters;
        assert!(c.ata_commands > before.ata_commands);
        assert!(c.port_exits_firmware > before.port_exits_firmware);
        assert!(c.sectors_read > before.sectors_read + 40, "{} vs {}", c.sectors_read, before.sectors_read);
    }

    #[test]
    fn error_15_without_fallback_waits() {
        let mut img = image();
        patch(&mut img, b"fallback 1", b"#allback 1");
        let (mut h, end) = boot(img, &opts());
        let console = h.report("x".into(), end.clone()).console;
        assert!(
            console.ends_with(
                "kernel /boot/vmlinuz-missing ro\r\n\r\nError 15: File not found\r\n\r\nPress any key to continue..."
            ),
            "{console:?}"
        );
        match end {
            EndState::LoaderError { entry_index, error, message, .. } => {
                assert_eq!((entry_index, error, message.as_str()), (0, 15, "File not found"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn visible_menu_prints_the_page_header() {
        let mut img = image();
        patch(&mut img, b"hiddenmenu", b"#iddenmenu");
        let (mut h, end) = boot(img, &opts());
        assert!(matches!(end, EndState::KernelEntry { .. }), "{end:?}");
        let map: Vec<(u64, u64, u32)> = h.bios.e820.iter().map(|e| (e.start, e.size, e.kind)).collect();
        let (lower, upper) = (mmap_avail_at(&map, 0) >> 10, mmap_avail_at(&map, 0x100000) >> 10);
        let console = h.report("x".into(), end).console;
        let header = format!("\r\n    GNU GRUB  version 0.97  ({lower}K lower / {upper}K upper memory)\r\n\r\n");
        assert!(console.contains(&header), "{header:?} in {console:?}");
        assert!(lower > 600 && upper > 200_000, "{lower} {upper}");
    }

    fn menu_image(timeout: &[u8], hidden: bool) -> Vec<u8> {
        let mut img = image();
        patch(&mut img, b"timeout 0", timeout);
        if !hidden {
            patch(&mut img, b"hiddenmenu", b"#iddenmenu");
        }
        img
    }

    fn keys(k: &str) -> HvmOptions {
        HvmOptions { keys: k.into(), ..opts() }
    }

    /// The menu rows as Debian's GRUB 0.97 draws them (checked against the
    /// real stage2 under QEMU: tests/interop_hvm.rs).
    fn drawn_box(titles: &[&str]) -> Vec<String> {
        let mut rows = vec![format!(" ┌{}┐", "─".repeat(73))];
        for i in 0..12 {
            rows.push(format!(" │ {:<72}│", titles.get(i).copied().unwrap_or("")));
        }
        rows.push(format!(" └{}┘", "─".repeat(73)));
        rows.push("    Use the ↑ and ↓ keys to select which entry is highlighted.".into());
        rows.push("    Press enter to boot the selected OS, 'e' to edit the".into());
        rows.push("    commands before booting, or 'c' for a command-line.".into());
        rows
    }

    fn attr(h: &Hvm, row: u32, col: u32) -> u8 {
        h.bus.r8(0xB8000 + (row * 80 + col) * 2 + 1)
    }

    #[test]
    fn visible_menu_is_drawn_and_e_stops_with_the_second_entry_highlighted() {
        let (mut h, end) = boot(menu_image(b"timeout 5", false), &keys("{down}e"));
        match &end {
            EndState::LoaderStopped { reason, .. } => {
                assert!(reason.contains("entry editor") && reason.contains("entry 1"), "{reason}")
            }
            other => panic!("{other:?}"),
        }
        assert_eq!((attr(&h, 4, 2), attr(&h, 4, 74), attr(&h, 4, 75)), (0x07, 0x07, 0x07));
        assert_eq!((attr(&h, 5, 1), attr(&h, 5, 2), attr(&h, 5, 74), attr(&h, 5, 75)), (0x07, 0x70, 0x70, 0x07));
        let r = h.report("x".into(), end);
        assert!(r.screen[1].starts_with("    GNU GRUB  version 0.97  ("), "{:#?}", r.screen);
        assert_eq!(r.screen[3..20], drawn_box(&["Missing kernel", "boot-sim fixture kernel"])[..], "{:#?}", r.screen);
        // The countdown was printed once (5 s) and blanked by the key.
        assert!(r.console.contains(" The highlighted entry will be booted automatically in 5 seconds.   "));
        assert_eq!(r.screen.len(), 20, "nothing below the help text: {:#?}", r.screen);
        assert_eq!(r.counters.bios_calls.get("int 16h AH=00h"), Some(&2));
    }

    #[test]
    fn down_and_enter_boot_the_second_entry_without_its_fallback() {
        let (_, end) = boot(menu_image(b"timeout 5", false), &keys("{down}\n"));
        let EndState::KernelEntry { info, .. } = &end else { panic!("{end:?}") };
        assert_eq!((info.entry_index, info.failed.len()), (Some(1), 0));
        assert!(info.why.contains("--keys"), "{}", info.why);
        // Enter alone boots the default, and a key during the countdown
        // clears the fallback list (run_menu: fallback_entryno = -1).
        let (_, end) = boot(menu_image(b"timeout 5", false), &keys("\n"));
        assert!(matches!(&end, EndState::LoaderError { entry_index: 0, error: 15, .. }), "{end:?}");
    }

    #[test]
    fn countdown_runs_on_the_simulated_clock() {
        let (mut h0, end0) = boot(menu_image(b"timeout 0", false), &opts());
        let t0 = h0.report("x".into(), end0).counters.sim_time_ns;
        let (mut h, end) = boot(menu_image(b"timeout 5", false), &opts());
        assert!(matches!(&end, EndState::KernelEntry { info, .. } if info.entry_index == Some(1)), "{end:?}");
        let r = h.report("x".into(), end);
        for n in 1..=5 {
            let line = format!(" The highlighted entry will be booted automatically in {n} seconds.   ");
            assert!(r.console.contains(&line), "{line:?} in {:?}", r.console);
        }
        assert!(!r.console.contains("in 0 seconds"));
        // Five RTC second changes after the first poll: 4 to 5 s more.
        let dt = r.counters.sim_time_ns - t0;
        assert!((4_000_000_000..5_100_000_000).contains(&dt), "{dt}");
        assert!(r.counters.bios_calls.get("int 1Ah AH=02h").copied().unwrap_or(0) >= 6, "{:?}", r.counters.bios_calls);
        // No timeout: the menu waits for a key.
        let (mut h, end) = boot(menu_image(b"#imeout 0", false), &opts());
        assert!(matches!(&end, EndState::WaitingForKey { .. }), "{end:?}");
        let r = h.report("x".into(), end);
        assert_eq!(r.screen[3..], drawn_box(&["Missing kernel", "boot-sim fixture kernel"])[..]);
    }

    #[test]
    fn hidden_menu_counts_down_and_escape_shows_the_menu() {
        let (mut h, end) = boot(menu_image(b"timeout 3", true), &opts());
        assert!(matches!(&end, EndState::KernelEntry { .. }), "{end:?}");
        let console = h.report("x".into(), end).console;
        assert!(
            console.contains(
                "\rPress `ESC' to enter the menu... 2   \rPress `ESC' to enter the menu... 1   \r\
                              Press `ESC' to enter the menu... 0   "
            ),
            "{console:?}"
        );
        // A key other than ESC is read and ignored; ESC shows the menu,
        // without a countdown, waiting for a key.
        let (mut h, end) = boot(menu_image(b"timeout 3", true), &keys("x\\e"));
        assert!(matches!(&end, EndState::WaitingForKey { .. }), "{end:?}");
        let r = h.report("x".into(), end);
        assert_eq!(r.screen[3..], drawn_box(&["Missing kernel", "boot-sim fixture kernel"])[..]);
        assert!(!r.console.contains("booted automatically"));
    }

    #[test]
    fn color_sets_the_menu_attributes() {
        // `color` before the first title: normal and highlight attributes.
        let mut img = menu_image(b"timeout 5", false);
        patch(&mut img, b"fallback 1\n", b"color 0x1f\n");
        let (h, end) = boot(img, &keys("c"));
        assert!(matches!(&end, EndState::LoaderStopped { reason, .. } if reason.contains("command line")), "{end:?}");
        assert_eq!((attr(&h, 3, 1), attr(&h, 4, 2), attr(&h, 5, 2), attr(&h, 17, 4)), (0x1F, 0xF1, 0x1F, 0x07));
    }

    #[test]
    fn savedefault_without_a_default_file_is_error_15() {
        let mut img = image();
        patch(&mut img, b"kernel /boot/vmlinuz-missing ro", b"savedefault 1                  ");
        let (mut h, end) = boot(img, &opts());
        let EndState::KernelEntry { info, .. } = &end else { panic!("{end:?}") };
        assert_eq!(info.failed[0].error, 15);
        let console = h.report("x".into(), end).console;
        assert!(console.contains("savedefault 1                  \r\n\r\nError 15: File not found\r\n"), "{console:?}");
    }

    #[test]
    fn handoff_stays_without_the_model_or_with_an_unknown_header() {
        let (_, end) = boot(image(), &HvmOptions { loader_model: false, ..opts() });
        assert!(matches!(&end, EndState::HandOff { stage, .. } if stage == "GRUB legacy stage2"), "{end:?}");
        let mut img = image();
        // Compat version 3.2 at stage2 + 6 (LBA 2).
        img[2 * 512 + 6] = 9;
        let (_, end) = boot(img, &opts());
        assert!(matches!(&end, EndState::HandOff { .. }), "{end:?}");
    }
}
