//! hvmloader and SeaBIOS POST, the int 19h boot, and SeaBIOS's ATA driver
//! (`src/hw/ata.c`) issuing its port accesses against the emulated
//! controller.

use x86::{AccessSize, Bus, Gpr, Registers, SegReg, Segment, flags};

use super::E820Entry;
use super::bus::Origin;
use super::vm::{BIOS_SEG, Hvm, IRET_OFFICIAL, RESET_VECTOR, SERVED, stub_offset};
use crate::devices::ata_host::{AtaHost, AtaTimeout};
use crate::devices::ide::{BMIDE_BASE, reg::*};

/// E820 types (SeaBIOS `src/e820map.h`).
pub(crate) const E820_RAM: u32 = 1;
pub(crate) const E820_RESERVED: u32 = 2;

/// hvmloader `config.h` RESERVED_MEMBASE: special pages, LAPIC, IOAPIC…
const RESERVED_MEMBASE: u64 = 0xFC00_0000;
/// hvmloader/libxl: RAM below 4 GiB ends at HVM_BELOW_4G_RAM_END at most.
const BELOW_4G_RAM_END: u64 = 0xF000_0000;
/// EBDA: SeaBIOS `EBDA_SEGMENT_START` 0x9FC0, 1 KiB (`EBDA_SIZE_START`).
const EBDA_SEG: u16 = 0x9FC0;
/// Where SeaBIOS's image sits: hvmloader copies it to end at 1 MiB
/// (`seabios.c` `bios_dest = 0x100000 - bios_length`). **Assumption**: a
/// 128 KiB SeaBIOS image, so 0xE0000.
const BIOS_IMAGE_BASE: u64 = 0xE0000;
/// hvmloader's `struct seabios_info` (`BIOS_INFO_PHYSICAL_ADDRESS`).
const BIOS_INFO: u32 = 0x1000;
/// PRD table for bus-master DMA: SeaBIOS builds it in its ExtraStack in
/// the low BIOS zone; here a page in 0xE0000–0xEFFFF (outside E820 RAM).
const PRD_TABLE: u32 = 0xEF000;
/// SeaBIOS's `BIOS_CONFIG_TABLE` (F000:E6F5, `VARFSEGFIXED(0xe6f5)`).
pub(crate) const CONFIG_TABLE: u16 = 0xE6F5;
/// DPTE for int 13h AH=48h (SeaBIOS `DefaultDPTE`).
pub(crate) const DPTE_OFF: u16 = 0x0F00;
/// PCI location of the PIIX3 IDE function (00:01.1) → bdf 0x0009.
pub(crate) const IDE_BDF: u16 = 0x0009;
/// Version string printed in the SeaBIOS banner.
pub(crate) const SEABIOS_VERSION: &str = "boot-sim";
/// Xen version hvmloader reports. **Assumption**: Debian 12's Xen 4.17;
/// the extra version names the simulator.
const XEN_VERSION: (u32, u32, &str) = (4, 17, "-boot-sim");

/// Result of a SeaBIOS ATA operation: the int 13h status and the sectors
/// the operation reports as transferred (`op->count`).
pub(crate) struct DiskResult {
    pub status: u8,
    pub count: u32,
}

/// Disk status codes (SeaBIOS `src/std/disk.h`).
pub(crate) const DISK_RET_SUCCESS: u8 = 0x00;
pub(crate) const DISK_RET_EPARAM: u8 = 0x01;
pub(crate) const DISK_RET_EBADTRACK: u8 = 0x0C;

/// SeaBIOS's C convention for an ata.c wait: the status byte, or -1 on a
/// timeout (the callers below compare and return these as ata.c does).
fn c_status(r: Result<u8, AtaTimeout>) -> i32 {
    r.map_or(-1, i32::from)
}

impl Hvm {
    /// hvmloader's E820 (`tools/firmware/hvmloader/e820.c`
    /// `build_e820_table`, lowmem_reserved_base 0xA0000) as SeaBIOS turns
    /// it into its own: `xen_ramsize_preinit` copies it, `malloc_preinit`
    /// removes 0xA0000–0xF0000 and reserves 0xF0000–0x100000, `bda_init`
    /// reserves the EBDA 0x9FC00–0xA0000. SeaBIOS's high-memory tables
    /// (reserved at the top of RAM, the part it used, `malloc_prepboot`) are
    /// not modelled: their size depends on SeaBIOS's allocations.
    pub(crate) fn build_e820(&self) -> Vec<E820Entry> {
        let mem = self.bios.ram_size;
        let low_end = mem.min(BELOW_4G_RAM_END);
        let high = mem.saturating_sub(BELOW_4G_RAM_END);
        let ebda = u64::from(EBDA_SEG) << 4;
        let mut v = vec![
            E820Entry { start: 0, size: ebda, kind: E820_RAM },
            E820Entry { start: ebda, size: 0xA0000 - ebda, kind: E820_RESERVED },
            E820Entry { start: 0xF0000, size: 0x10000, kind: E820_RESERVED },
            E820Entry { start: 0x10_0000, size: low_end - 0x10_0000, kind: E820_RAM },
            E820Entry { start: RESERVED_MEMBASE, size: (1 << 32) - RESERVED_MEMBASE, kind: E820_RESERVED },
        ];
        if high > 0 {
            v.push(E820Entry { start: 1 << 32, size: high, kind: E820_RAM });
        }
        v
    }

    /// Power-on: hvmloader, then SeaBIOS POST.
    pub(crate) fn post(&mut self) {
        self.bus.origin = Origin::Firmware;
        self.mark("hvmloader");
        // hvmloader main() (hvmloader.c), the lines it prints itself.
        let ghz = self.bus.cost.params().cpu_ghz;
        let (maj, min, extra) = XEN_VERSION;
        self.debug_print("HVM Loader\n");
        self.debug_print(&format!("Detected Xen v{maj}.{min}{extra}\n"));
        self.debug_print("System requested SeaBIOS\n");
        self.debug_print(&format!("CPU speed is {} MHz\n", (ghz * 1000.0).round() as u32));
        self.debug_print("Writing SMBIOS tables ...\n");
        self.debug_print("Loading SeaBIOS ...\n");
        self.debug_print("Loading ACPI ...\n");
        self.debug_print("BIOS map:\n");
        self.debug_print(&format!(" {:05x}-{:05x}: Main BIOS\n", BIOS_IMAGE_BASE, 0xFFFFF));
        self.bios.e820 = self.build_e820();
        self.write_bios_info();
        self.debug_print("Invoking SeaBIOS ...\n");

        self.mark("seabios-post");
        self.write_rom();
        self.ivt_init();
        self.bda_init();
        self.debug_print(&format!("SeaBIOS (version {})\n", super::firmware::SEABIOS_VERSION));
        // Video: mode 3, 80x25, cursor at 0,0 (SeaVGABIOS init).
        self.bus.w8(0x449, 0x03);
        self.bus.w16(0x44A, 80);
        self.bus.w16(0x44C, 0x1000);
        self.bus.w16(0x460, 0x0607);
        self.bus.w16(0x463, 0x3D4);
        self.bus.w8(0x484, 24);
        self.bus.w16(0x485, 16);
        self.bus.w8(0x487, 0x60);
        self.bus.w8(0x488, 0xF9);
        for row in 0..25u8 {
            for col in 0..80u8 {
                let a = super::console::TEXT_BASE + super::console::cell_offset(0, row, col);
                self.bus.write_phys(a, &[b' ', 0x07]);
            }
        }
        // The banner goes to the screen too (bootsplash.c printf).
        let banner = format!("SeaBIOS (version {SEABIOS_VERSION})\n");
        for b in banner.bytes() {
            if b == b'\n' {
                self.tty(b'\r', None);
            }
            self.tty(b, None);
        }
        self.ata_probe();
        if let Some(ms) = self.bios.boot_menu_wait_ms {
            // boot.c interactive_bootmenu: Xen has no fw_cfg, so
            // etc/show-boot-menu defaults to 1 and the prompt waits.
            self.mark("boot-menu-wait");
            self.bios_printf("\nPress ESC for boot menu.\n\n");
            self.bus.clock.advance(u64::from(ms) * 1_000_000);
        }
        self.update_ticks();
    }

    fn write_bios_info(&mut self) {
        // struct seabios_info { char signature[14]; u8 length; u8 checksum;
        // u32 tables; u32 tables_nr; u32 e820; u32 e820_nr; } (32 bytes),
        // e820 entries right after it.
        let e820_at = BIOS_INFO + 32;
        let mut info = [0u8; 32];
        info[..14].copy_from_slice(b"XenHVMSeaBIOS\0");
        info[14] = 32;
        info[24..28].copy_from_slice(&e820_at.to_le_bytes());
        info[28..32].copy_from_slice(&(self.bios.e820.len() as u32).to_le_bytes());
        let sum = info.iter().fold(0u8, |a, &b| a.wrapping_add(b));
        info[15] = 0u8.wrapping_sub(sum);
        self.bus.write_phys(BIOS_INFO, &info);
        let mut at = e820_at;
        for e in self.bios.e820.clone() {
            let mut b = [0u8; 20];
            b[..8].copy_from_slice(&e.start.to_le_bytes());
            b[8..16].copy_from_slice(&e.size.to_le_bytes());
            b[16..20].copy_from_slice(&e.kind.to_le_bytes());
            self.bus.write_phys(at, &b);
            at += 20;
        }
    }

    fn write_rom(&mut self) {
        let rom = u32::from(BIOS_SEG) << 4;
        // Per-vector stubs: int n; iret; nop.
        for v in 0..=255u8 {
            self.bus.write_phys(rom + u32::from(stub_offset(v)), &[0xCD, v, 0xCF, 0x90]);
        }
        self.bus.write_phys(rom + u32::from(IRET_OFFICIAL), &[0xCF]);
        // Reset vector: hlt (a jump there ends the run as a reset).
        self.bus.write_phys(rom + u32::from(RESET_VECTOR), &[0xF4, 0xF4]);
        // BIOS_CONFIG_TABLE: size 8, model FC, submodel 0, revision 1,
        // feature1 = 2nd PIC | RTC | EBDA, feature2 = int 16h 09h.
        self.bus.write_phys(rom + u32::from(CONFIG_TABLE), &[8, 0, 0xFC, 0x00, 0x01, 0x64, 0x40, 0, 0, 0]);
        // DefaultDPTE (ata.c fill_ata_edd), filled once: iobase1 0x1F0,
        // control 0x3F6, prefix DEV0|LBA, 0xCB, IRQ 14, blkcount 1, dma 0,
        // pio 0, options, reserved, revision 0x11, checksum.
        let mut options: u16 = 1 << 4;
        if self.bios.drive.translation != super::Translation::None {
            options |= 1 << 3;
            if self.bios.drive.translation == super::Translation::Lba {
                options |= 1 << 9;
            }
        }
        if self.bios.ata.pio32 {
            options |= 1 << 7;
        }
        let mut d = [0u8; 16];
        d[0..2].copy_from_slice(&0x1F0u16.to_le_bytes());
        d[2..4].copy_from_slice(&0x3F6u16.to_le_bytes());
        d[4] = 0xA0 | 0x40;
        d[5] = 0xCB;
        d[6] = 14;
        d[7] = 1;
        d[10..12].copy_from_slice(&options.to_le_bytes());
        d[14] = 0x11;
        let sum = d[..15].iter().fold(0u8, |a, &b| a.wrapping_add(b));
        d[15] = 0u8.wrapping_sub(sum);
        self.bus.write_phys(rom + u32::from(DPTE_OFF), &d);
    }

    /// SeaBIOS `ivt_init`: every vector to `entry_iret_official`, the BIOS
    /// services to their entry points (here the per-vector stubs),
    /// 60h–66h and 79h zero.
    fn ivt_init(&mut self) {
        for v in 0..=255u8 {
            let off = if SERVED.contains(&v) { stub_offset(v) } else { IRET_OFFICIAL };
            let seg = if (0x60..=0x66).contains(&v) || v == 0x79 { 0 } else { BIOS_SEG };
            let off = if seg == 0 { 0 } else { off };
            self.bus.w32(u32::from(v) * 4, u32::from(seg) << 16 | u32::from(off));
        }
    }

    /// SeaBIOS `bda_init` and the parts of POST that fill the BDA.
    fn bda_init(&mut self) {
        self.bus.write_phys(0x400, &[0u8; 0x100]);
        self.bus.w16(0x40E, EBDA_SEG);
        self.bus.w16(0x413, EBDA_SEG / 64); // mem_size_kb = 639
        let ebda = u32::from(EBDA_SEG) << 4;
        self.bus.write_phys(ebda, &[0u8; 1024]);
        self.bus.w8(ebda, 1); // ebda->size in KiB
        // Equipment word (misc.c / post.c): bit 1 x87, bit 2 PS/2 mouse,
        // video 80x25 colour (bits 4-5 = 10b).
        self.bus.w16(0x410, 0x0026 | 1 << 9);
        // One serial port, COM1 (src/serial.c `serial_setup`: port_com[0],
        // the count in equipment bits 9-11).
        self.bus.w16(0x400, crate::devices::uart::COM1);
        // Keyboard ring (kbd.c kbd_init): buffer 0x1E..0x3E.
        self.bus.w16(0x41A, 0x1E);
        self.bus.w16(0x41C, 0x1E);
        self.bus.w16(0x480, 0x1E);
        self.bus.w16(0x482, 0x3E);
    }

    /// SeaBIOS `ata_detect` on both channels of the PIIX3 function
    /// (`init_pciata`), with the port accesses it makes; the primary master
    /// is our disk, the rest is empty.
    fn ata_probe(&mut self) {
        self.debug_print(&format!("ATA controller 1 at 1f0/3f4/{:x} (irq 14 dev {:x})\n", BMIDE_BASE, IDE_BDF));
        self.ata_detect_channel(true);
        self.debug_print(&format!("ATA controller 2 at 170/374/{:x} (irq 15 dev {:x})\n", BMIDE_BASE + 8, IDE_BDF));
        self.ata_detect_channel(false);
        // Translation from CMOS 0x39 (block.c get_translation, CONFIG_QEMU).
        self.bus.cmos.ram.push((0x39, self.bios.drive.translation as u8));
        self.bus.out8(0x70, 0x39 | 0x80);
        let _ = self.bus.in8(0x71);
        self.bus.w8(0x475, 1); // hdcount
    }

    fn ata_detect_channel(&mut self, primary: bool) {
        let base: u16 = if primary { 0x1F0 } else { 0x170 };
        let empty = !primary;
        // Registers of a channel without drives read 0 (QEMU ide_ioport_read).
        let rd = |h: &mut Hvm, p: u16| -> u8 {
            if empty {
                h.bus.port_in(p, AccessSize::Byte);
                0
            } else {
                h.bus.in8(p)
            }
        };
        let wr = |h: &mut Hvm, p: u16, v: u8| {
            if empty {
                h.bus.port_out(p, AccessSize::Byte, u32::from(v));
            } else {
                h.bus.out8(p, v);
            }
        };
        let mut did_reset = false;
        for slave in [false, true] {
            // powerup_await_non_bsy
            if rd(self, base + 7) & STAT_BSY != 0 {
                continue;
            }
            let newdh = if slave { 0xB0 } else { 0xA0 };
            wr(self, base + 6, newdh);
            if rd(self, base + 7) & STAT_BSY != 0 {
                continue;
            }
            wr(self, base + 6, newdh);
            let dh = rd(self, base + 6);
            wr(self, base + 2, 0x55);
            wr(self, base + 3, 0xAA);
            let sc = rd(self, base + 2);
            let sn = rd(self, base + 3);
            if sc != 0x55 || sn != 0xAA || dh != newdh {
                continue;
            }
            if !did_reset {
                self.ata_reset();
                did_reset = true;
            }
            // init_drive_atapi: IDENTIFY PACKET DEVICE (aborted on a disk).
            let mut buf = [0u8; 512];
            if self.ata_pio_identify(0xA1, slave, &mut buf) == 0 {
                continue;
            }
            let st = self.bus.in8(STATUS_CMD);
            if st == 0 {
                continue;
            }
            if self.bus.await_mask(STATUS_CMD, STAT_RDY, STAT_RDY).is_err() {
                continue;
            }
            if self.ata_pio_identify(0xEC, slave, &mut buf) != 0 {
                continue;
            }
            let w = |i: usize| u16::from_le_bytes([buf[2 * i], buf[2 * i + 1]]);
            let mut model = String::new();
            for i in 27..47 {
                let v = w(i);
                model.push(char::from((v >> 8) as u8));
                model.push(char::from(v as u8));
            }
            let version = (1..=15).rev().find(|&v| w(80) & (1 << v) != 0).unwrap_or(0);
            let sectors = self.bios.drive.sectors;
            let (size, unit) = if (sectors >> 11) >= 1 << 16 { (sectors >> 21, 'G') } else { (sectors >> 11, 'M') };
            self.debug_print(&format!(
                "ata0-{}: {} ATA-{} Hard-Disk ({} {}iBytes)\n",
                u8::from(slave),
                model.trim_end(),
                version,
                size,
                unit
            ));
            let reset_result = w(93);
            if !slave && reset_result & 0xDF61 == 0x4041 {
                break;
            }
        }
    }

    /// ata.c `ata_reset` for the master (slave probing never resets twice).
    fn ata_reset(&mut self) {
        self.bus.out8(CTRL, 0x08 | 0x02 | DC_SRST);
        self.bus.out8(CTRL, 0x08 | 0x02);
        if self.bus.await_not_bsy().is_ok() {
            self.bus.out8(DEVICE, 0xA0);
            let _ = self.bus.await_mask(STATUS_CMD, STAT_RDY, STAT_RDY);
        }
        self.bus.out8(CTRL, 0x08);
    }

    /// ata.c `ata_wait_data`.
    fn wait_data(&mut self) -> i32 {
        let s = c_status(self.bus.await_not_bsy());
        if s < 0 {
            return s;
        }
        if s as u8 & STAT_ERR != 0 {
            return -4;
        }
        if s as u8 & STAT_DRQ == 0 {
            return -5;
        }
        0
    }

    /// `send_ata_identity`: one-sector PIO data-in command (IDENTIFY or
    /// IDENTIFY PACKET) into `buf`; returns 0 on success.
    fn ata_pio_identify(&mut self, command: u8, slave: bool, buf: &mut [u8; 512]) -> i32 {
        self.bus.out8(CTRL, 0x08 | 0x02);
        let mut ret = c_status(self.bus.send_cmd(slave, [0, 0, 0, 0, 0, 0, command], None).map(|()| 0));
        if ret == 0 {
            ret = self.wait_data();
        }
        if ret == 0 {
            self.pio_in_sector(buf);
            let s = c_status(self.bus.pause_await_not_bsy());
            ret = if s < 0 || s as u8 & (STAT_BSY | STAT_DRQ | STAT_ERR) != 0 { -7 } else { 0 };
        }
        self.bus.out8(CTRL, 0x08);
        ret
    }

    fn pio_in_sector(&mut self, buf: &mut [u8; 512]) {
        let size = if self.bios.ata.pio32 { AccessSize::Dword } else { AccessSize::Word };
        self.bus.port_in_string(DATA, size, buf);
    }

    /// SeaBIOS `ata_readwrite` for the master: DMA when `ata_try_dma`
    /// allows it, else PIO. `buf` is the flat destination address.
    pub(crate) fn ata_readwrite(&mut self, lba: u64, count: u32, buf: u32, write: bool) -> super::firmware::DiskResult {
        let saved = self.bus.origin;
        self.bus.origin = Origin::Firmware;
        let use_dma = self.ata_try_dma(count, buf, write);
        let ext = count >= 256 || lba + u64::from(count) >= 1 << 28;
        let (command, hob) = if ext {
            let c = match (use_dma, write) {
                (true, false) => CMD_READ_DMA_EXT,
                (true, true) => CMD_WRITE_DMA_EXT,
                (false, false) => CMD_READ_SECTORS_EXT,
                (false, true) => CMD_WRITE_SECTORS_EXT,
            };
            (c, Some([0, (count >> 8) as u8, (lba >> 24) as u8, (lba >> 32) as u8, (lba >> 40) as u8]))
        } else {
            let c = match (use_dma, write) {
                (true, false) => CMD_READ_DMA,
                (true, true) => CMD_WRITE_DMA,
                (false, false) => CMD_READ_SECTORS,
                (false, true) => CMD_WRITE_SECTORS,
            };
            (c, None)
        };
        let l = if ext { lba & 0xFF_FFFF } else { lba };
        let cmd =
            [0, count as u8, l as u8, (l >> 8) as u8, (l >> 16) as u8, ((l >> 24) as u8 & 0x0F) | DH_LBA, command];
        let (ret, done) = if use_dma {
            (self.ata_dma_cmd_data(cmd, hob), count)
        } else {
            self.ata_pio_cmd_data(cmd, hob, count, buf, write)
        };
        self.bus.origin = saved;
        let status = if ret != 0 { DISK_RET_EBADTRACK } else { DISK_RET_SUCCESS };
        let t = self.bus.clock.now();
        self.bus.trace.push(
            t,
            0,
            super::HvmEvent::DiskRead {
                lba,
                sectors: u64::from(count),
                dest: buf,
                status,
                transfer: if use_dma { "dma" } else { "pio" },
            },
        );
        DiskResult { status, count: done }
    }

    /// ata.c `ata_try_dma`: PRDs (≤ 16, none crossing 64 KiB) and the
    /// bus-master programming. Returns whether DMA is used.
    fn ata_try_dma(&mut self, count: u32, buf: u32, write: bool) -> bool {
        if !self.bios.ata.dma || buf & 1 != 0 {
            return false;
        }
        let mut bytes = count * 512;
        if bytes == 0 {
            return false;
        }
        let mut prds = Vec::new();
        let mut dest = buf;
        while bytes > 0 {
            if prds.len() >= 16 {
                return false;
            }
            let max = 0x1_0000 - (dest & 0xFFFF);
            let mut n = bytes.min(max);
            bytes -= n;
            let step = n;
            if bytes == 0 {
                n |= 1 << 31;
            }
            prds.push((dest, n));
            dest = dest.wrapping_add(step);
        }
        for (i, (a, n)) in prds.iter().enumerate() {
            let at = PRD_TABLE + 8 * i as u32;
            self.bus.w32(at, *a);
            self.bus.w32(at + 4, *n);
        }
        self.bus.port_out(BMIDE_BASE + BM_TABLE, AccessSize::Dword, PRD_TABLE);
        let old = self.bus.in8(BMIDE_BASE + BM_CMD) & !(BM_CMD_MEMWRITE | BM_CMD_START);
        self.bus.out8(BMIDE_BASE + BM_CMD, old | if write { 0 } else { BM_CMD_MEMWRITE });
        self.bus.out8(BMIDE_BASE + BM_STATUS, BM_STATUS_ERROR | BM_STATUS_IRQ);
        true
    }

    /// ata.c `ata_dma_cmd_data` + `ata_dma_transfer`.
    fn ata_dma_cmd_data(&mut self, cmd: [u8; 7], hob: Option<[u8; 5]>) -> i32 {
        let r = c_status(self.bus.send_cmd(false, cmd, hob).map(|()| 0));
        if r != 0 {
            return r;
        }
        let old = self.bus.in8(BMIDE_BASE + BM_CMD);
        self.bus.out8(BMIDE_BASE + BM_CMD, old | BM_CMD_START);
        let mut status = 0;
        for _ in 0..64 {
            status = self.bus.in8(BMIDE_BASE + BM_STATUS);
            if status & BM_STATUS_IRQ != 0 {
                break;
            }
        }
        self.bus.out8(BMIDE_BASE + BM_CMD, old & !BM_CMD_START);
        let ide = c_status(self.bus.pause_await_not_bsy());
        if status & (BM_STATUS_IRQ | BM_STATUS_ACTIVE) == BM_STATUS_IRQ
            && ide >= 0
            && ide as u8 & (STAT_BSY | STAT_DF | STAT_DRQ | STAT_ERR) == 0
        {
            0
        } else {
            -1
        }
    }

    /// ata.c `ata_pio_cmd_data` + `ata_pio_transfer`; returns (ret,
    /// sectors reported transferred).
    fn ata_pio_cmd_data(
        &mut self,
        cmd: [u8; 7],
        hob: Option<[u8; 5]>,
        count: u32,
        buf: u32,
        write: bool,
    ) -> (i32, u32) {
        self.bus.out8(CTRL, 0x08 | 0x02);
        let mut done = count;
        let mut ret = c_status(self.bus.send_cmd(false, cmd, hob).map(|()| 0));
        if ret == 0 {
            ret = self.wait_data();
        }
        if ret == 0 {
            let size = if self.bios.ata.pio32 { AccessSize::Dword } else { AccessSize::Word };
            let mut left = count;
            let mut dest = buf;
            let mut sector = [0u8; 512];
            loop {
                if write {
                    self.bus.read_phys(dest, &mut sector);
                    self.bus.port_out_string(DATA, size, &sector);
                } else {
                    self.bus.port_in_string(DATA, size, &mut sector);
                    // insl_fl writes guest memory (honouring the ROM shadow).
                    x86::Bus::write_bytes(&mut self.bus, dest, &sector);
                }
                dest = dest.wrapping_add(512);
                let s = c_status(self.bus.pause_await_not_bsy());
                if s < 0 {
                    done = count - left;
                    ret = s;
                    break;
                }
                left -= 1;
                if left == 0 {
                    let mut st = s as u8 & (STAT_BSY | STAT_DF | STAT_DRQ | STAT_ERR);
                    if !write {
                        st &= !STAT_DF;
                    }
                    if st != 0 {
                        ret = -7;
                    }
                    break;
                }
                if s as u8 & (STAT_BSY | STAT_DRQ | STAT_ERR) != STAT_DRQ {
                    done = count - left;
                    ret = -6;
                    break;
                }
            }
        }
        self.bus.out8(CTRL, 0x08);
        (ret, done)
    }

    /// ata.c `ata_reset` as int 13h AH=00h drives it (CMD_RESET).
    pub(crate) fn ata_cmd_reset(&mut self) {
        let saved = self.bus.origin;
        self.bus.origin = Origin::Firmware;
        self.ata_reset();
        self.bus.origin = saved;
    }

    /// SeaBIOS int 19h: `do_boot` for the hard disk (boot.c `boot_disk`).
    pub(crate) fn boot(&mut self) {
        self.bus.origin = Origin::Firmware;
        self.mark("int19-boot");
        self.bios.boots += 1;
        if self.bios.boots > 8 {
            self.bios.end = Some(super::EndState::Reset {
                at: self.loc(),
                how: "int 19h called 8 times: the boot code keeps rebooting".into(),
            });
            return;
        }
        self.bios_printf("Booting from Hard Disk...\n");
        // int 13h AH=02h AL=1 CX=1 DH=0 DL=80h ES:BX=07C0:0000, F_IF.
        let mut regs = Registers::real_mode(0, 0);
        regs.gpr[Gpr::Eax as usize] = 0x0201;
        regs.gpr[Gpr::Ecx as usize] = 0x0001;
        regs.gpr[Gpr::Edx as usize] = 0x0080;
        regs.seg[SegReg::Es as usize] = Segment::real(0x07C0, false);
        regs.eflags = flags::FIXED | flags::IF;
        let saved = std::mem::replace(&mut self.cpu.regs, regs);
        self.disk13(0x02, false);
        let failed = self.cpu.regs.eflags & flags::CF != 0;
        self.cpu.regs = saved;
        if failed {
            self.bios_printf("Boot failed: could not read the boot disk\n\n");
            self.boot_fail();
            return;
        }
        if self.bus.r16(0x7C00 + 510) != 0xAA55 {
            self.bios_printf("Boot failed: not a bootable disk\n\n");
            self.boot_fail();
            return;
        }
        self.debug_print("Booting from 0000:7c00\n");
        // call_boot_entry: all registers zero but AX=AA55h, DL=drive,
        // FLAGS=IF, CS:IP=0000:7C00; SS:SP stays SeaBIOS's stack (here
        // 0000:7000-ish: BUILD_STACK_ADDR 0x7000, minus the frame).
        let mut r = Registers::real_mode(0, 0x7C00);
        r.gpr[Gpr::Eax as usize] = 0xAA55;
        r.gpr[Gpr::Edx as usize] = 0x80;
        r.gpr[Gpr::Esp as usize] = 0x6FFE;
        r.eflags = flags::FIXED | flags::IF;
        self.cpu.regs = r;
        self.bus.origin = Origin::Guest;
        self.mark("mbr");
    }

    /// int 18h → next boot device; there is none: `boot_fail`.
    pub(crate) fn boot_fail(&mut self) {
        let msg = match self.bios.boot_fail_wait_ms {
            Some(ms) => format!("No bootable device.  Retrying in {} seconds.\n", ms / 1000),
            None => "No bootable device.\n".to_string(),
        };
        self.bios_printf(&msg);
        self.bios.end = Some(super::EndState::NoBootableDevice {
            message: msg.trim_end().to_string(),
            reboots_after_ms: self.bios.boot_fail_wait_ms,
        });
    }
}
