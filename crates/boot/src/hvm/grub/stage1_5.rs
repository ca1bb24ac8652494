//! GRUB 0.97 Stage 1.5 (`e2fs_stage1_5` and its siblings) as a model,
//! from the hand-off at `0000:2200` (its `main`) to stage2's `main` at
//! `0000:8200`, where the stage2 model ([`super::stage2`]) takes over.
//!
//! What it does, in GRUB's order (`crististm/grub-legacy` tag grub-0.97):
//! `stage2/asm.S` codestart (boot drive from DL, int 13h AH=00h),
//! `stage2/common.c` init_bios_info for STAGE1_5 (int 12h, int 15h
//! AH=88h, `saved_drive`/`saved_partition`, `get_diskinfo`),
//! `stage2/stage1_5.c` cmain: "\n\nGRUB loading, please wait...\n",
//! `grub_open (config_file)` whose first four bytes are the device
//! (`stage2/disk_io.c` set_device for STAGE1_5: drive in bits 24..31,
//! 0xFF = the boot drive; partition in bits 0..23), the file read to
//! 0x8000 (two sectors, then the rest at 0x8400), and `chain_stage2 (0,
//! 0x8200, saved_sector)` (asm.S): `current_partition` written into
//! stage2's `install_partition` (+8), DL = the drive, jump to 0000:8200.
//! On failure `print_error` prints "Error %u\n" (the Stage 1.5 variant:
//! number only) and `stop ()` halts.
//!
//! The file is read through int 13h like every other GRUB read here; the
//! model uses boot-sim's own filesystem readers, not the stage's compiled
//! one, and checks that the filesystem is the one the stage reads
//! (`STAGE2_ID_*` at +0x10, stage2/shared.h). Not modelled: EBP at the
//! jump (`saved_sector`, the LBA of stage2's second sector, which stage2
//! keeps for `install`) is left 0.

use std::sync::{Arc, Mutex};

use boot_config::discover::{self, GRUB_LEGACY_MAX_HOPS};
use boot_config::grub_error::GrubError;
use disk_image::Disk;
use disk_image::fs::probe::FsKind;
use x86::{Gpr, SegReg, Segment};

use super::{Cache, DiskViaBios, Stage2, menu};
use crate::hvm::trace::HvmEvent;
use crate::hvm::vm::Hvm;
use crate::hvm::{EndState, Loc};

/// Where stage1.5 reads stage2 and where it jumps (asm.S `ABS`, stage2's
/// `main`).
const STAGE2_LOAD: u32 = 0x8000;
const STAGE2_MAIN: u32 = 0x8200;
/// The biggest stage2 that fits below the EBDA/track buffer: GRUB reads
/// to 0x8000 with no limit (`grub_read (..., -1)`); the model refuses
/// what would run into its own buffers at 0x68000.
const STAGE2_MAX: u64 = 0x68000 - STAGE2_LOAD as u64;

/// The Stage 1.5 header (asm.S): compat version 3.2 at +6,
/// install_partition +8, stage2_id +0x10, version string +0x12, then
/// config_file = 4-byte device + path.
struct Header {
    stage2_id: u8,
    device: u32,
    path: String,
}

fn read_header(vm: &Hvm, main: u32) -> Option<Header> {
    let mut h = [0u8; 0x70];
    vm.bus.read_phys(main, &mut h);
    if h[6..8] != [3, 2] || h[0x10] == 0 || h[0x10] > 10 {
        return None;
    }
    let ver_end = h[0x12..].iter().position(|&b| b == 0)? + 0x12;
    let dev_at = ver_end + 1;
    let device = u32::from_le_bytes(h.get(dev_at..dev_at + 4)?.try_into().ok()?);
    let path_at = dev_at + 4;
    let end = h[path_at..].iter().position(|&b| b == 0)? + path_at;
    let path = String::from_utf8_lossy(&h[path_at..end]).into_owned();
    Some(Header { stage2_id: h[0x10], device, path })
}

/// STAGE2_ID_* → the filesystem the stage reads.
fn stage_fs(id: u8) -> (&'static str, Option<FsKind>) {
    match id {
        2 => ("e2fs_stage1_5", Some(FsKind::Ext2)),
        3 => ("fat_stage1_5", Some(FsKind::Vfat)),
        8 => ("xfs_stage1_5", Some(FsKind::Xfs)),
        9 => ("iso9660_stage1_5", Some(FsKind::Iso9660)),
        1 => ("ffs_stage1_5", None),
        4 => ("minix_stage1_5", None),
        5 => ("reiserfs_stage1_5", None),
        6 => ("vstafs_stage1_5", None),
        7 => ("jfs_stage1_5", None),
        _ => ("ufs2_stage1_5", None),
    }
}

const STAGE: &str = "GRUB legacy 0.97 stage1.5";

/// Runs the Stage 1.5 model from `handoff`; on success the stage2 model
/// continues. A header the model does not recognise leaves the hand-off.
pub(crate) fn stage1_5(mut hvm: Hvm, handoff: EndState, name: String) -> (Hvm, EndState) {
    let EndState::HandOff { at, .. } = &handoff else {
        return (hvm, handoff);
    };
    let Some(header) = read_header(&hvm, at.linear) else {
        return (hvm, handoff);
    };
    let (stage_name, fs) = stage_fs(header.stage2_id);
    let now = hvm.bus.clock.now();
    hvm.bus.trace.push(
        now,
        0,
        HvmEvent::Phase {
            name: format!(
                "hand-off at {at}: GRUB legacy {stage_name} continues as boot-sim's Rust model; it reads {:?} \
                 through int 13h",
                header.path
            ),
        },
    );
    hvm.mark("grub: stage1.5 reads stage2");
    let boot_drive = hvm.lo(Gpr::Edx);
    // codestart: int 13h AH=00h; init_bios_info: int 12h, int 15h AH=88h.
    hvm.bios_call(0x13, &[(Gpr::Eax, 0), (Gpr::Edx, u32::from(boot_drive))], &[]);
    hvm.bios_call(0x12, &[], &[]);
    hvm.bios_call(0x15, &[(Gpr::Eax, 0x8800)], &[]);
    let drive = match header.device >> 24 {
        0xFF => boot_drive,
        d => d as u8,
    };
    let partition = header.device & 0x00FF_FFFF;
    let part = (partition >> 16) & 0xFF;
    let device = if part == 0xFF { "(hd0)".to_string() } else { format!("(hd0,{part})") };
    let size = hvm.bios.drive.sectors * 512;
    let image = name.clone();
    let vm = Arc::new(Mutex::new(hvm));
    let dev = Arc::new(DiskViaBios { vm: vm.clone(), cache: Mutex::new(Cache::default()), drive, size, name });
    let loaded = match Disk::from_reader_without_lvm(dev.clone()) {
        Ok(disk) => {
            let s = Stage2 {
                color: std::cell::Cell::new(menu::A_NORMAL),
                colors: std::cell::Cell::new(menu::Colors::default()),
                default_file: String::new(),
                current_entry: 0,
                fallbacks: Vec::new(),
                vm: vm.clone(),
                disk,
                dev: dev.clone(),
                mem_lower: 0,
                mem_upper: 0,
                root: device.clone(),
            };
            s.print("\n\nGRUB loading, please wait...\n");
            let r = if drive != 0x80 {
                Err((GrubError::NoDisk, format!("drive {drive:#04x}: the guest has one disk, 0x80")))
            } else {
                load(&s, &device, &header.path, fs)
            };
            if let Err((e, _)) = &r {
                s.print(&format!("Error {}\n", e.number()));
            }
            r
        }
        Err(e) => Err((GrubError::Read, format!("the partition table read through int 13h failed: {e}"))),
    };
    drop(dev);
    let mut hvm = match Arc::try_unwrap(vm) {
        Ok(m) => m.into_inner().unwrap_or_else(|e| e.into_inner()),
        Err(_) => unreachable!("every holder of the VM was dropped above"),
    };
    let data = match loaded {
        Ok(d) => d,
        Err((e, detail)) => {
            let end = EndState::LoaderStopped {
                loader: STAGE.into(),
                reason: format!(
                    "Error {} ({}) reading {device}{}: {detail}; {stage_name} prints \"Error {}\" and halts (stop)",
                    e.number(),
                    e.text(),
                    header.path,
                    e.number()
                ),
            };
            return (hvm, end);
        }
    };
    // chain_stage2: the partition into stage2's install_partition, DL, jump.
    hvm.bus.write_phys(STAGE2_LOAD, &data);
    hvm.bus.w32(STAGE2_MAIN + 8, partition);
    let r = &mut hvm.cpu.regs;
    r.seg[SegReg::Cs as usize] = Segment::real(0, true);
    r.eip = STAGE2_MAIN;
    r.gpr[Gpr::Edx as usize] = (r.gpr[Gpr::Edx as usize] & !0xFF) | u32::from(drive);
    r.gpr[Gpr::Ebp as usize] = 0;
    let at = Loc { cs: 0, ip: STAGE2_MAIN, linear: STAGE2_MAIN };
    let handoff = EndState::HandOff {
        at,
        stage: "GRUB legacy stage2".into(),
        loaded_from_lba: 0,
        loaded_at: STAGE2_LOAD,
        why: format!(
            "{stage_name} read {device}{} ({} bytes) to {STAGE2_LOAD:#x} and chains to it",
            header.path,
            data.len()
        ),
    };
    super::stage2(hvm, handoff, image)
}

/// grub_open + grub_read of stage2, with the stage's filesystem check.
fn load(s: &Stage2, device: &str, path: &str, fs: Option<FsKind>) -> Result<Vec<u8>, (GrubError, String)> {
    let ov =
        discover::open_grub_device(&s.disk, device).map_err(|f| (f.error.unwrap_or(GrubError::FsysMount), f.detail))?;
    let kind = s.disk.probe(&ov.volume).ok().flatten().map(|p| p.kind);
    let same = match (fs, kind) {
        (Some(FsKind::Ext2), Some(FsKind::Ext2 | FsKind::Ext3 | FsKind::Ext4)) => true,
        (Some(want), Some(got)) => want == got,
        _ => false,
    };
    if !same {
        return Err((GrubError::FsysMount, format!("{device}: {kind:?} is not the filesystem this stage1.5 reads")));
    }
    let hit = discover::find_file(&ov, path, GRUB_LEGACY_MAX_HOPS)
        .map_err(|f| (f.error.unwrap_or(GrubError::FileNotFound), f.detail))?;
    if hit.size > STAGE2_MAX {
        return Err((GrubError::WontFit, format!("{device}{path} is {} bytes", hit.size)));
    }
    let data = ov.fs.read_file(&hit.resolved_path, STAGE2_MAX).map_err(|e| (GrubError::Read, e.to_string()))?;
    if data.len() < 1024 {
        return Err((
            GrubError::Read,
            format!("{device}{path} is {} bytes, shorter than stage2's two sectors", data.len()),
        ));
    }
    Ok(data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hvm::{HvmOptions, vm};
    use disk_image::MemImage;

    fn fixture() -> Vec<u8> {
        let p = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images/hvm-grub-legacy.img");
        std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    /// The fixture booted to its stage2 hand-off, then a Stage 1.5 header
    /// (as `install` patches it: device 0xFF00FFFF = the boot drive,
    /// partition 0) put at 0x2200 with `path` and `id`.
    fn at_stage1_5(path: &str, id: u8) -> (Hvm, EndState) {
        let opts = HvmOptions { memory: 64 << 20, loader_model: false, ..HvmOptions::default() };
        let (mut h, end) = vm::boot_machine(Arc::new(MemImage::new(fixture(), "fx.img")), &opts).unwrap();
        assert!(matches!(end, EndState::HandOff { .. }), "{end:?}");
        let mut hdr = vec![0u8; 0x70];
        hdr[6..8].copy_from_slice(&[3, 2]);
        hdr[0x10] = id;
        hdr[0x12..0x17].copy_from_slice(b"0.97\0");
        hdr[0x17..0x1B].copy_from_slice(&0xFF00_FFFFu32.to_le_bytes());
        hdr[0x1B..0x1B + path.len()].copy_from_slice(path.as_bytes());
        h.bus.write_phys(0x2200, &hdr);
        let at = Loc { cs: 0, ip: 0x2200, linear: 0x2200 };
        let handoff = EndState::HandOff {
            at,
            stage: "GRUB legacy stage1.5".into(),
            loaded_from_lba: 1,
            loaded_at: 0x2000,
            why: String::new(),
        };
        stage1_5(h, handoff, "fx.img".into())
    }

    #[test]
    fn reads_the_named_file_through_int_13h_and_chains_to_0x8200() {
        let disk = Disk::from_reader(Arc::new(MemImage::new(fixture(), "x"))).unwrap();
        let v = disk.volume("(hd0,0)").unwrap();
        let file = disk.open_fs(&v).unwrap().read_file("/boot/vmlinuz", 1 << 20).unwrap();
        let before = {
            let opts = HvmOptions { memory: 64 << 20, loader_model: false, ..HvmOptions::default() };
            let (mut h, end) = vm::boot_machine(Arc::new(MemImage::new(fixture(), "fx.img")), &opts).unwrap();
            h.report("x".into(), end).counters
        };
        // /boot/vmlinuz has no stage2 header at 0x8200: the stage2 model
        // leaves the hand-off there, after stage1.5 loaded and chained.
        let (mut h, end) = at_stage1_5("/boot/vmlinuz", 2);
        match &end {
            EndState::HandOff { at, stage, loaded_at, .. } => {
                assert_eq!((at.cs, at.ip, stage.as_str(), *loaded_at), (0, 0x8200, "GRUB legacy stage2", 0x8000));
            }
            other => panic!("{other:?}"),
        }
        let mut mem = vec![0u8; file.len()];
        h.bus.read_phys(STAGE2_LOAD, &mut mem);
        assert_eq!(mem[..0x208], file[..0x208]);
        assert_eq!(mem[0x208..0x20C], 0x00FFFFu32.to_le_bytes(), "install_partition from the device field");
        assert_eq!(mem[0x20C..], file[0x20C..]);
        assert_eq!(h.cpu.regs.gpr[Gpr::Edx as usize] & 0xFF, 0x80);
        let r = h.report("x".into(), end);
        assert!(r.console.ends_with("\r\n\r\nGRUB loading, please wait...\r\n"), "{:?}", r.console);
        assert!(r.counters.bios_calls.get("int 13h AH=42h").copied().unwrap_or(0) > 0);
        assert!(r.counters.sectors_read >= before.sectors_read + (file.len() as u64) / 512);
    }

    #[test]
    fn errors_are_printed_by_number_and_stop() {
        let (mut h, end) = at_stage1_5("/boot/grub/stage2", 2);
        match &end {
            EndState::LoaderStopped { loader, reason } => {
                assert_eq!(loader, STAGE);
                assert!(reason.starts_with("Error 15 (File not found) reading (hd0,0)/boot/grub/stage2"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
        assert!(h.report("x".into(), end).console.ends_with("GRUB loading, please wait...\r\nError 15\r\n"));
        // fat_stage1_5 on an ext2 partition cannot mount it.
        let (_, end) = at_stage1_5("/boot/vmlinuz", 3);
        assert!(matches!(&end, EndState::LoaderStopped { reason, .. } if reason.starts_with("Error 17")), "{end:?}");
    }
}
