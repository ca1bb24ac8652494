//! The Linux kernel as the executed boot loader left it.
//!
//! When the real loader code runs on the interpreter, boot-sim learns what
//! it did from guest memory, the way the kernel itself does: at the 32-bit
//! entry ESI points at `struct boot_params` (boot.rst "32-bit boot
//! protocol"; arch/x86/include/uapi/asm/bootparam.h), whose setup header
//! (at 0x1F1, the same layout as in the file: [`SetupHeader`]) says where
//! the command line, the protected-mode kernel and the initrd are. Every
//! byte of the kernel and the initrd in memory is then compared with the
//! files on the disk, so the report says which file was loaded, not which
//! one a model expected.

use std::sync::Arc;

use disk_image::fs::NodeKind;
use disk_image::{Disk, ReadAt};
use serde::Serialize;
use x86::{Gpr, SegReg, flags};

use super::vm::Hvm;
use super::{EndState, Loc};
use crate::kernel::SetupHeader;
use crate::machine::GuestPhysAddr;

/// [`EntryRegs::mode`] at the kernel's 32-bit entry.
pub const PROTECTED_MODE: &str = "protected32";

/// The CPU's registers where the loader handed over to Linux.
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
    /// asks); `None` for the 16-bit setup entry.
    pub esi: Option<u32>,
    /// Interrupt flag (loaders `cli` before the far jump: false).
    pub interrupts: bool,
    /// [`PROTECTED_MODE`], or "real" at the 16-bit setup entry.
    pub mode: String,
}

/// What the loader left for the kernel, read from guest memory at the
/// kernel's 32-bit entry: the data of [`EndState::KernelEntry`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct KernelEntryInfo {
    /// From `type_of_loader` and the banner the loader printed.
    pub loader: String,
    /// The menu entry's title as the loader printed it ("Booting …"), or
    /// empty.
    pub entry_title: String,
    /// How the entry was chosen, as far as the run shows it.
    pub why: String,
    /// The file (`(hd0,msdos1)/boot/vmlinuz-…`) whose protected-mode part
    /// equals the kernel in memory, else the command line's `BOOT_IMAGE=`,
    /// else "(not identified)".
    pub kernel: String,
    pub initrd: Option<String>,
    pub cmdline: String,
    /// The setup header's boot protocol version ("2.15").
    pub protocol: String,
    pub bzimage: bool,
    /// The real-mode setup's base (where a 16-bit entry came from), else
    /// boot_params.
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
    /// Where the loader entered Linux's 16-bit setup (GRUB 0.97,
    /// `linux16`, SYSLINUX), before the setup reached the 32-bit entry.
    pub setup_entry: Option<(Loc, EntryRegs)>,
    /// The kernel and initrd in guest memory compared with the disk's
    /// files.
    pub checks: Vec<EntryCheck>,
}

/// A boot protocol version as the setup header's `version` field spells
/// it (0x020F -> "2.15").
fn protocol_version(version: u16) -> String {
    format!("{}.{:02}", version >> 8, version & 0xFF)
}

/// Bytes of boot_params read (bootparam.h: `struct boot_params` is one
/// 4 KiB page).
const ZERO_PAGE_LEN: usize = 4096;
/// boot_params.ext_ramdisk_image / ext_ramdisk_size / ext_cmd_line_ptr
/// (bootparam.h offsets 0x0C0, 0x0C4, 0x0C8): the high 32 bits.
const EXT_RAMDISK_IMAGE: usize = 0x0C0;
const EXT_RAMDISK_SIZE: usize = 0x0C4;
const EXT_CMD_LINE_PTR: usize = 0x0C8;
/// boot_params.alt_mem_k (0x1E0): KiB of memory above 1 MiB.
const ALT_MEM_K: usize = 0x1E0;
/// Longest command line read when the header gives no cmdline_size
/// (boot.rst: 255 bytes before protocol 2.06).
const OLD_CMDLINE_MAX: u32 = 255;
/// Files larger than this are not compared (no kernel or initrd a BIOS
/// loader can place below 4 GiB is larger).
const MAX_COMPARED_FILE: u64 = 1 << 30;
/// Directories searched for the loaded files, on every filesystem.
const SEARCH_DIRS: [&str; 2] = ["/boot", "/"];
/// Entries looked at per directory.
const MAX_DIR_ENTRIES: usize = 4096;

/// The loader's jump into Linux's 16-bit setup, seen when control reached
/// the setup's entry at offset 0x200 (GRUB 0.97, GRUB 2 `linux16`,
/// SYSLINUX).
#[derive(Clone, Debug)]
pub(crate) struct Setup16 {
    pub at: Loc,
    /// Where the setup (and the zero page the loader filled) starts.
    pub base: u32,
    pub regs: EntryRegs,
}

/// One comparison of guest memory with a file on the disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct EntryCheck {
    /// "kernel" or "initrd".
    pub what: String,
    /// Whether the bytes in memory equal a file on the disk.
    pub ok: bool,
    /// The file (device and path) or why none matched.
    pub detail: String,
}

/// Registers of the CPU as they are now, for the report.
pub(crate) fn regs_now(vm: &Hvm, mode: &str) -> EntryRegs {
    let r = &vm.cpu.regs;
    let sel = |s: SegReg| r.seg[s as usize].selector;
    let protected = mode == PROTECTED_MODE;
    EntryRegs {
        cs: sel(SegReg::Cs),
        ip: r.eip,
        ds: sel(SegReg::Ds),
        es: sel(SegReg::Es),
        fs: sel(SegReg::Fs),
        gs: sel(SegReg::Gs),
        ss: sel(SegReg::Ss),
        sp: if protected { r.gpr[Gpr::Esp as usize] } else { r.gpr[Gpr::Esp as usize] & 0xFFFF },
        esi: protected.then_some(r.gpr[Gpr::Esi as usize]),
        interrupts: r.eflags & flags::IF != 0,
        mode: mode.into(),
    }
}

/// Snapshot of the jump into the 16-bit setup at `entry` (its offset 0x200).
pub(crate) fn setup16(vm: &Hvm, entry: u32) -> Setup16 {
    Setup16 { at: vm.loc(), base: entry.wrapping_sub(0x200), regs: regs_now(vm, "real") }
}

/// The NUL-terminated string at `addr`, at most `max` bytes, as Latin-1.
fn c_string(vm: &Hvm, addr: u32, max: u32) -> String {
    let mut buf = vec![0u8; max as usize];
    vm.bus.read_phys(addr, &mut buf);
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    buf[..end].iter().map(|&b| char::from(b)).collect()
}

/// "GRUB 2", "GRUB legacy", "SYSLINUX" from `type_of_loader` (boot.rst
/// "type_of_loader": the high nibble is the loader, the low its version;
/// GRUB 0.97 writes 0x71 (stage2/shared.h LINUX_BOOT_LOADER_TYPE), GRUB 2
/// 0x72 (include/grub/i386/linux.h GRUB_LINUX_BOOT_LOADER_TYPE), SYSLINUX
/// 6 0x30), with the version GRUB printed on the screen when it did.
fn loader_name(type_of_loader: u8, console: &str) -> String {
    let banner_version = |prefix: &str| -> Option<String> {
        let at = console.find(prefix)? + prefix.len();
        let v: String = console[at..].chars().take_while(|c| !c.is_whitespace()).collect();
        (!v.is_empty()).then_some(v)
    };
    match type_of_loader {
        0x72 => match banner_version("GNU GRUB  version ") {
            Some(v) => format!("GRUB {v}"),
            None => "GRUB 2".into(),
        },
        0x71 => match banner_version("GNU GRUB  version ") {
            Some(v) => format!("GRUB legacy {v}"),
            None => "GRUB legacy".into(),
        },
        t if t >> 4 == 0x3 => "SYSLINUX".into(),
        // 0xFF: a loader without an assigned id (boot.rst); boot-sim's own
        // simboot (fixtures/bootcode) says who it is in its banner.
        0xFF => match banner_version("simboot ") {
            Some(v) => format!("simboot {v}"),
            None => "boot loader (type_of_loader 0xff, no assigned id)".into(),
        },
        t => format!("boot loader (type_of_loader {t:#04x})"),
    }
}

/// GRUB 0.97 stage2's `version_string`, at 0x12 past its entry 0x8200
/// (stage2/asm.S: `main`, then install_partition at +8, saved_entryno
/// +0xC, stage2_id +0x10, force_lba +0x11, version_string +0x12), where
/// stage1.5 or stage1 loaded it; `None` unless it reads as a version.
fn grub_legacy_version(vm: &Hvm) -> Option<String> {
    let v = c_string(vm, 0x8212, 16);
    (!v.is_empty() && v.len() <= 8 && v.chars().all(|c| c.is_ascii_digit() || c == '.')).then_some(v)
}

/// The entry title the loader printed when it started booting: GRUB 2
/// "  Booting `TITLE'" (normal/menu.c), GRUB 0.97 "  Booting 'TITLE'"
/// (stage2/stage2.c run_menu). The last one counts (a failed entry's
/// fallback prints again).
fn booted_title(console: &str) -> Option<String> {
    let at = console.rfind("Booting ")? + "Booting ".len();
    let rest = &console[at..];
    let open = rest.chars().next().filter(|c| *c == '`' || *c == '\'')?;
    let body = &rest[open.len_utf8()..];
    let end = body.find('\'')?;
    Some(body[..end].to_string())
}

/// A file on one of the disk's filesystems, searched in [`SEARCH_DIRS`]
/// among files of a size `size_ok` accepts, whose bytes from `skip` on
/// equal guest memory at `addr`; named as `(device)/path`.
fn find_file(vm: &Hvm, disk: &Disk, size_ok: &dyn Fn(u64) -> bool, skip: u64, addr: u32) -> Option<String> {
    for v in disk.volumes() {
        let Ok(fs) = disk.open_fs(v) else { continue };
        for dir in SEARCH_DIRS {
            let Ok(entries) = fs.list_dir(dir) else { continue };
            for e in entries.iter().take(MAX_DIR_ENTRIES).filter(|e| e.kind == NodeKind::File) {
                let path = if dir == "/" { format!("/{}", e.name) } else { format!("{dir}/{}", e.name) };
                let Ok(node) = fs.stat(&path) else { continue };
                if !size_ok(node.size) || node.size > MAX_COMPARED_FILE || node.size < skip {
                    continue;
                }
                // Compared in place: a copy of 13 MiB of guest memory per
                // candidate cost more than the comparison.
                let Ok(mem) = vm.bus.mem.slice(GuestPhysAddr(u64::from(addr)), node.size - skip) else { continue };
                if let Ok(data) = fs.read_file(&path, MAX_COMPARED_FILE)
                    && data.get(skip as usize..).is_some_and(|d| d == mem)
                {
                    return Some(format!("{}{path}", v.names.grub2));
                }
            }
        }
    }
    None
}

/// Compares the protected-mode kernel and the initrd in guest memory with
/// the files on the disk.
fn check_loaded(vm: &Hvm, h: &SetupHeader, image: &Arc<dyn ReadAt>, initrd: Option<(u32, u32)>) -> Vec<EntryCheck> {
    let mut checks = Vec::new();
    let Ok(disk) = Disk::from_reader(image.clone()) else { return checks };
    let setup_len = (u64::from(h.setup_sects) + 1) * 512;
    // syssize counts 16-byte paragraphs of the protected-mode part, rounded
    // up (boot.rst "syssize"); loaders load the whole rest of the file
    // (GRUB 2 linux.c `len = grub_file_size (file) - real_size`), which a
    // signed or padded kernel makes longer than that.
    let paragraphs = u64::from(h.syssize) * 16;
    if let Some(load) = h.code32_start
        && paragraphs > 0
    {
        let size_ok = |size: u64| size > setup_len && size - setup_len >= paragraphs.saturating_sub(15);
        checks.push(match find_file(vm, &disk, &size_ok, setup_len, load) {
            Some(f) => EntryCheck { what: "kernel".into(), ok: true, detail: f },
            None => EntryCheck {
                what: "kernel".into(),
                ok: false,
                detail: format!(
                    "the {paragraphs:#x} bytes at {load:#x} equal the protected-mode part of no file in /boot or / of any filesystem"
                ),
            },
        });
    }
    if let Some((addr, size)) = initrd {
        checks.push(match find_file(vm, &disk, &|s| s == u64::from(size), 0, addr) {
            Some(f) => EntryCheck { what: "initrd".into(), ok: true, detail: f },
            None => EntryCheck {
                what: "initrd".into(),
                ok: false,
                detail: format!("the {size:#x} bytes at {addr:#x} equal no file in /boot or / of any filesystem"),
            },
        });
    }
    checks
}

/// The run's end at the kernel's 32-bit entry with `zero_page` in ESI.
pub(crate) fn kernel_entry(vm: &mut Hvm, zero_page: u32, setup: Option<&Setup16>, image: &Arc<dyn ReadAt>) -> EndState {
    let at = vm.loc();
    let mut zp = vec![0u8; ZERO_PAGE_LEN];
    vm.bus.read_phys(zero_page, &mut zp);
    let setup_sects = usize::from(zp[0x1F1].max(4));
    // SetupHeader::parse wants the whole real-mode part; the header fields
    // are all inside the page, the rest is whatever follows it in memory.
    let mut head = vec![0u8; ZERO_PAGE_LEN.max((setup_sects + 1) * 512)];
    vm.bus.read_phys(zero_page, &mut head);
    // boot_flag (0x1FE) belongs to the file's boot sector; a loader need
    // not copy it into boot_params (GRUB 2's linux.c copies the header from
    // 0x1F1 but zeroes the page first and leaves 0x1FE alone), and the
    // kernel never reads it there. The "HdrS" magic was checked already.
    head[0x1FE..0x200].copy_from_slice(&0xAA55u16.to_le_bytes());
    let h = match SetupHeader::parse(&head) {
        Ok(h) => h,
        Err(e) => {
            return EndState::BadBootParams { at, zero_page, message: e.to_string() };
        }
    };
    let le32 = |off: usize| u32::from_le_bytes([zp[off], zp[off + 1], zp[off + 2], zp[off + 3]]);
    let cmd_line_ptr = h.cmd_line_ptr.unwrap_or(0);
    let cmdline = if cmd_line_ptr == 0 || le32(EXT_CMD_LINE_PTR) != 0 {
        String::new()
    } else {
        c_string(vm, cmd_line_ptr, h.cmdline_size.unwrap_or(OLD_CMDLINE_MAX).clamp(1, 1 << 20))
    };
    let initrd = match (h.ramdisk_image, h.ramdisk_size) {
        (Some(a), Some(l)) if l > 0 && le32(EXT_RAMDISK_IMAGE) == 0 && le32(EXT_RAMDISK_SIZE) == 0 => Some((a, l)),
        _ => None,
    };
    let console = super::console::transcript_text(&vm.bios.console.transcript);
    let serial = super::console::transcript_text(&vm.bus.uart.output);
    // The loader's screen, wherever its terminal was: the VGA console or COM1.
    let screen = format!("{console}\n{serial}");
    let mut loader = loader_name(h.type_of_loader.unwrap_or(0), &screen);
    if loader == "GRUB legacy"
        && let Some(v) = grub_legacy_version(vm)
    {
        // No banner on the screen (`hiddenmenu`): stage2's own version string.
        loader = format!("GRUB legacy {v}");
    }
    let checks = check_loaded(vm, &h, image, initrd);
    let file = |what: &str| checks.iter().find(|c| c.what == what && c.ok).map(|c| c.detail.clone());
    let kernel = file("kernel")
        .or_else(|| cmdline.split_whitespace().find_map(|w| w.strip_prefix("BOOT_IMAGE=")).map(str::to_string))
        .unwrap_or_else(|| "(not identified)".into());
    let title = booted_title(&screen);
    let mode_regs = regs_now(vm, PROTECTED_MODE);
    let info = KernelEntryInfo {
        loader,
        entry_title: title.clone().unwrap_or_default(),
        why: match &title {
            Some(_) => "executed: the loader's own code chose it (title as it printed it)".into(),
            None => "executed: the loader's own code chose it".into(),
        },
        kernel,
        initrd: initrd.map(|_| file("initrd").unwrap_or_else(|| "(not identified)".into())),
        cmdline,
        protocol: protocol_version(h.version.0),
        bzimage: h.is_bzimage(),
        setup_base: setup.map_or(zero_page, |s| s.base),
        zero_page,
        cmd_line_ptr,
        kernel_load: h.code32_start.unwrap_or(0),
        kernel_size: h.syssize.saturating_mul(16),
        setup_size: u32::from(h.setup_sects) << 9,
        initrd_addr: initrd.map(|(a, _)| a),
        initrd_size: initrd.map(|(_, l)| l),
        mem_lower_kib: u32::from(vm.bus.r16(0x413)),
        mem_upper_kib: le32(ALT_MEM_K),
        regs: mode_regs,
        setup_entry: setup.map(|s| (s.at, s.regs.clone())),
        checks,
    };
    EndState::KernelEntry { at, info: Box::new(info) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_as_grub_prints_them() {
        assert_eq!(booted_title("x\n  Booting `Debian GNU/Linux'\n\n").as_deref(), Some("Debian GNU/Linux"));
        assert_eq!(booted_title("  Booting 'Amazon Linux (4.14)'\r\n").as_deref(), Some("Amazon Linux (4.14)"));
        assert_eq!(booted_title("  Booting 'a'\n  Booting 'b'\n").as_deref(), Some("b"));
        assert_eq!(booted_title("no boot here"), None);
    }

    #[test]
    fn loaders_by_type() {
        assert_eq!(loader_name(0x72, "GNU GRUB  version 2.12-1\n"), "GRUB 2.12-1");
        assert_eq!(loader_name(0x72, ""), "GRUB 2");
        assert_eq!(loader_name(0x71, "    GNU GRUB  version 0.97  (639K lower"), "GRUB legacy 0.97");
        assert_eq!(loader_name(0x30, ""), "SYSLINUX");
        assert_eq!(loader_name(0x21, ""), "boot loader (type_of_loader 0x21)");
        assert_eq!(loader_name(0xFF, "simboot 1.0 (boot-sim's own boot loader)\r\n"), "simboot 1.0");
        assert_eq!(loader_name(0xFF, ""), "boot loader (type_of_loader 0xff, no assigned id)");
    }
}
