//! Interop: boot-code identification on the real boot sectors Debian ships
//! (grub-legacy 0.97, grub-pc-bin, syslinux-common), extracted by
//! `scripts/interop-setup.sh` — never committed. The layouts checked are
//! the documented ones (GRUB 0.97 `stage1/stage1.h`, GRUB 2
//! `include/grub/i386/pc/boot.h`).

use boot_sim::interop_file;
use disk_image::bootcode::{self, BootCode, NextStage};

fn first_sector(relative: &str) -> Option<[u8; 512]> {
    let path = interop_file(relative)?;
    let bytes = std::fs::read(&path).unwrap();
    let mut s = [0u8; 512];
    let n = bytes.len().min(512);
    s[..n].copy_from_slice(&bytes[..n]);
    Some(s)
}

/// What an installer does: the boot code goes to 0..440 of sector 0, the
/// rest of the sector is the disk's own table and signature.
fn as_installed(code: &[u8; 512]) -> [u8; 512] {
    let mut s = [0u8; 512];
    s[..440].copy_from_slice(&code[..440]);
    s[0x1BE] = 0x80;
    s[0x1BE + 4] = 0x83;
    s[510] = 0x55;
    s[511] = 0xAA;
    s
}

#[test]
fn grub_legacy_stage1_and_its_next_stages() {
    let Some(stage1) = first_sector("root/usr/lib/grub/x86_64-pc/stage1") else { return };
    let id = bootcode::identify(&as_installed(&stage1), true);
    assert!(id.signature);
    assert_eq!(
        id.code,
        BootCode::GrubLegacyStage1 {
            version: "3.2".into(),
            boot_drive: 0xFF,
            force_lba: false,
            stage2_address: 0x8000,
            stage2_sector: 1,
            stage2_segment: 0x0800,
        }
    );
    let Some(stage2) = first_sector("root/usr/lib/grub/x86_64-pc/stage2") else { return };
    assert_eq!(bootcode::identify_next_stage(&stage2), NextStage::GrubLegacyStart { loads: "stage2".into() });
    let Some(e2fs) = first_sector("root/usr/lib/grub/x86_64-pc/e2fs_stage1_5") else { return };
    assert_eq!(bootcode::identify_next_stage(&e2fs), NextStage::GrubLegacyStart { loads: "stage1.5".into() });
}

#[test]
fn grub2_boot_img_and_diskboot() {
    let Some(boot) = first_sector("root/usr/lib/grub/i386-pc/boot.img") else { return };
    assert_eq!(
        bootcode::identify(&as_installed(&boot), true).code,
        BootCode::Grub2BootImg { kernel_address: 0x8000, kernel_sector: 1, boot_drive: 0xFF }
    );
    let Some(diskboot) = first_sector("root/usr/lib/grub/i386-pc/diskboot.img") else { return };
    assert_eq!(bootcode::identify_next_stage(&diskboot), NextStage::Grub2Diskboot);
}

#[test]
fn syslinux_mbrs() {
    for (file, variant) in [("mbr.bin", "mbr"), ("gptmbr.bin", "gptmbr"), ("altmbr.bin", "altmbr")] {
        let Some(code) = first_sector(&format!("root/usr/lib/syslinux/mbr/{file}")) else { return };
        assert_eq!(
            bootcode::identify(&as_installed(&code), true).code,
            BootCode::SyslinuxMbr { variant: variant.into() },
            "{file}"
        );
    }
}
