//! BIOS services with SeaBIOS's contracts (`/work/shared/reference/
//! boot-paths.md` §1): int 10h (SeaVGABIOS `vgasrc/vgabios.c`), 11h, 12h,
//! 13h (`src/disk.c`), 15h (`src/system.c`), 16h (`src/kbd.c`), 18h/19h
//! (`src/boot.c`), 1Ah (`src/clock.c`), and IRQ 0 (08h).
//!
//! Not modelled (the call returns as documented here, and the report counts
//! it): int 10h VBE (AX=4Fxxh → AX=0100h "failed", as SeaVGABIOS without
//! VBE), int 10h graphics functions; int 13h AH=04h/05h/0Ch/0Dh/10h/11h/
//! 14h/44h–47h/49h/4Eh → AH=01h CF=1 (SeaBIOS's "unimplemented" code for
//! them differs per function; documented as not modelled); int 15h AH=87h
//! (block move) and AH=89h (switch to protected mode), APM (53h), PS/2
//! mouse (C2h) → AH=86h CF=1; int 14h/17h (serial, printer) point at the
//! iret stub.

use x86::{Gpr, SegReg, flags};

use super::EndState;
use super::firmware::{CONFIG_TABLE, DISK_RET_EPARAM, DISK_RET_SUCCESS, DPTE_OFF, IDE_BDF};
use super::vm::{BIOS_SEG, Hvm};

/// SeaBIOS `RET_EUNSUPPORTED`.
const RET_EUNSUPPORTED: u8 = 0x86;
/// BDA offsets (src/std/bda.h).
const BDA_DISK_LAST_STATUS: u32 = 0x474;
const BDA_FLOPPY_LAST_STATUS: u32 = 0x441;
const BDA_KBD_FLAG0: u32 = 0x417;

impl Hvm {
    /// Serves a BIOS call. `chained`: reached through the stub (the guest
    /// hooked the vector and called the old handler).
    pub(crate) fn service(&mut self, vector: u8, chained: bool) {
        let (ah, al) = (self.hi(Gpr::Eax), self.lo(Gpr::Eax));
        if vector != 0x08 {
            self.note_call(vector, ah, al, chained);
            self.bios.idle_halts = 0;
        }
        self.bus.origin = super::bus::Origin::Firmware;
        match vector {
            0x08 => self.update_ticks(),
            0x10 => self.int10(ah, al),
            0x11 => {
                let eq = self.bus.r16(0x410);
                self.set16(Gpr::Eax, eq);
            }
            0x12 => {
                let kb = self.bus.r16(0x413);
                self.set16(Gpr::Eax, kb);
            }
            0x13 => self.int13(ah),
            0x15 => self.int15(ah, al),
            0x16 => self.int16(ah),
            0x18 => self.boot_fail(),
            0x19 => self.boot(),
            0x1A => self.int1a(ah),
            _ => {}
        }
        self.bus.origin = super::bus::Origin::Guest;
    }

    // -------------------------------------------------------------- int 10h

    fn int10(&mut self, ah: u8, al: u8) {
        let bh = self.hi(Gpr::Ebx);
        match ah {
            0x00 => {
                // Set mode: text modes clear the screen; others unmodelled.
                self.bus.w8(0x449, al & 0x7F);
                self.bios.console.cursor = [(0, 0); 8];
                self.bios.console.page = 0;
                if al & 0x80 == 0 {
                    self.scroll_up(0, 0, 0x07, 0, 0, 24, 79);
                }
                self.sync_cursor_bda();
                // SeaVGABIOS returns AL=30h for modes <= 7 ("text mode").
                if al & 0x7F <= 7 {
                    self.set_lo(Gpr::Eax, 0x30);
                } else {
                    self.set_lo(Gpr::Eax, 0x20);
                }
            }
            0x01 => {
                let cx = self.r16(Gpr::Ecx);
                self.bus.w16(0x460, cx);
            }
            0x02 => {
                let (row, col) = (self.hi(Gpr::Edx), self.lo(Gpr::Edx));
                self.bios.console.cursor[usize::from(bh & 7)] = (row.min(24), col.min(79));
                self.sync_cursor_bda();
            }
            0x03 => {
                let (row, col) = self.bios.console.cursor[usize::from(bh & 7)];
                let shape = self.bus.r16(0x460);
                self.set16(Gpr::Ecx, shape);
                self.set16(Gpr::Edx, u16::from(row) << 8 | u16::from(col));
            }
            0x05 => {
                self.bios.console.page = al & 7;
                self.sync_cursor_bda();
            }
            0x06 | 0x07 => {
                let (r0, c0) = (self.hi(Gpr::Ecx), self.lo(Gpr::Ecx));
                let (r1, c1) = (self.hi(Gpr::Edx), self.lo(Gpr::Edx));
                let page = self.bios.console.page;
                if ah == 0x06 {
                    self.scroll_up(page, al, bh, r0, c0, r1, c1);
                } else if al == 0 {
                    self.scroll_up(page, 0, bh, r0, c0, r1, c1);
                } else {
                    // Scroll down: move rows from bottom to top.
                    let (r1, c1) = (r1.min(24), c1.min(79));
                    for row in (r0..=r1).rev() {
                        for col in c0..=c1 {
                            let dst = super::console::TEXT_BASE + super::console::cell_offset(page, row, col);
                            let cell = if row >= r0 + al {
                                let s = super::console::TEXT_BASE + super::console::cell_offset(page, row - al, col);
                                [self.bus.r8(s), self.bus.r8(s + 1)]
                            } else {
                                [b' ', bh]
                            };
                            self.bus.write_phys(dst, &cell);
                        }
                    }
                }
            }
            0x08 => {
                let (row, col) = self.bios.console.cursor[usize::from(bh & 7)];
                let a = super::console::TEXT_BASE + super::console::cell_offset(bh, row, col);
                let (c, at) = (self.bus.r8(a), self.bus.r8(a + 1));
                self.set16(Gpr::Eax, u16::from(at) << 8 | u16::from(c));
            }
            0x09 | 0x0A => {
                // Write char (and attribute) CX times at the cursor; the
                // cursor does not move. Written to the transcript once per
                // copy, since it is output, except a fill of blanks (a
                // screen clear such as GRUB's console_cls): that erases, it
                // prints nothing a reader of the transcript needs.
                let (row, col) = self.bios.console.cursor[usize::from(bh & 7)];
                let count = self.r16(Gpr::Ecx);
                let attr = self.lo(Gpr::Ebx);
                let start = u32::from(row) * 80 + u32::from(col);
                for i in 0..u32::from(count).min(80 * 25 - start.min(80 * 25)) {
                    let pos = start + i;
                    let a = super::console::TEXT_BASE + u32::from(bh & 7) * 0x1000 + pos * 2;
                    self.bus.w8(a, al);
                    if ah == 0x09 {
                        self.bus.w8(a + 1, attr);
                    }
                    if count == 1 || al != b' ' {
                        self.bios.console.record(al);
                    }
                }
            }
            0x0E => {
                // handle_100e: BH is ignored, output goes to the active page.
                self.tty(al, None);
            }
            0x0F => {
                let mode = self.bus.r8(0x449);
                let cols = self.bus.r8(0x44A);
                self.set_lo(Gpr::Eax, mode);
                self.set_hi(Gpr::Eax, cols);
                let page = self.bios.console.page;
                self.set_hi(Gpr::Ebx, page);
            }
            0x12 if self.lo(Gpr::Ebx) == 0x10 => {
                // handle_121010: colour, 256 KiB, switches from BDA 0x488.
                self.set16(Gpr::Ebx, 0x0003);
                let sw = self.bus.r8(0x488) & 0x0F;
                self.set16(Gpr::Ecx, u16::from(sw));
            }
            0x13 => self.int10_write_string(al, bh),
            0x1A if al == 0x00 => {
                // Display combination: VGA colour.
                self.set_lo(Gpr::Eax, 0x1A);
                self.set16(Gpr::Ebx, 0x0008);
            }
            0x4F => self.set16(Gpr::Eax, 0x0100),
            _ => {}
        }
    }

    /// int 10h AH=13h: write string ES:BP, CX chars, at DH:DL of page BH;
    /// AL bit 0 = move cursor, bit 1 = string has attribute bytes.
    fn int10_write_string(&mut self, al: u8, bh: u8) {
        let count = self.r16(Gpr::Ecx);
        let bp = self.r16(Gpr::Ebp);
        let attr = self.lo(Gpr::Ebx);
        let page = usize::from(bh & 7);
        let saved_cursor = self.bios.console.cursor[page];
        let saved_page = self.bios.console.page;
        self.bios.console.page = bh & 7;
        self.bios.console.cursor[page] = (self.hi(Gpr::Edx).min(24), self.lo(Gpr::Edx).min(79));
        let mut off = bp;
        for _ in 0..count {
            let c = self.bus.r8(self.flat(SegReg::Es, off));
            off = off.wrapping_add(1);
            let a = if al & 2 != 0 {
                let a = self.bus.r8(self.flat(SegReg::Es, off));
                off = off.wrapping_add(1);
                a
            } else {
                attr
            };
            self.tty(c, Some(a));
        }
        if al & 1 == 0 {
            self.bios.console.cursor[page] = saved_cursor;
        }
        self.bios.console.page = saved_page;
        self.sync_cursor_bda();
    }

    // -------------------------------------------------------------- int 13h

    fn int13(&mut self, ah: u8) {
        self.int13_at = self.moment();
        let dl = self.lo(Gpr::Edx);
        if dl != 0x80 {
            // No floppies and one hard disk: SeaBIOS finds no drive → EPARAM
            // (disk.c handle_legacy_disk `fail:`).
            self.disk_ret(DISK_RET_EPARAM);
            return;
        }
        self.disk13(ah, true);
    }

    /// `__disk_ret`: status to the BDA, AH=code, CF.
    fn disk_ret(&mut self, code: u8) {
        let at = if self.lo(Gpr::Edx) < 0x80 { BDA_FLOPPY_LAST_STATUS } else { BDA_DISK_LAST_STATUS };
        self.bus.w8(at, code);
        if code == 0 {
            self.code_success();
        } else {
            self.code_invalid(code);
        }
    }

    /// int 13h for drive 80h (disk.c `disk_13`). `from_guest` is false for
    /// the firmware's own boot read.
    pub(crate) fn disk13(&mut self, ah: u8, from_guest: bool) {
        // disk_13: "clear completion flag" (BDA 0x48E).
        self.bus.w8(0x48E, 0);
        let d = self.bios.drive;
        match ah {
            0x00 => {
                self.ata_cmd_reset();
                self.disk_ret(DISK_RET_SUCCESS);
            }
            0x01 => {
                let s = self.bus.r8(BDA_DISK_LAST_STATUS);
                self.set_hi(Gpr::Eax, s);
                self.bus.w8(BDA_DISK_LAST_STATUS, 0);
                self.set_cf(s != 0);
            }
            0x02 | 0x03 => {
                let count = self.lo(Gpr::Eax);
                let cl = self.lo(Gpr::Ecx);
                let cyl = u32::from(self.hi(Gpr::Ecx)) | (u32::from(cl) << 2) & 0x300;
                let sector = u32::from(cl & 0x3F);
                let head = u32::from(self.hi(Gpr::Edx));
                let l = d.lchs;
                if count > 128
                    || count == 0
                    || sector == 0
                    || cyl >= l.cylinders
                    || head >= l.heads
                    || sector > l.sectors
                {
                    self.disk_ret(DISK_RET_EPARAM);
                    return;
                }
                let lba = u64::from((cyl * l.heads + head) * l.sectors + sector - 1);
                let buf = self.flat(SegReg::Es, self.r16(Gpr::Ebx));
                let r = self.ata_readwrite(lba, u32::from(count), buf, ah == 0x03);
                self.set_lo(Gpr::Eax, r.count as u8);
                self.after_read(ah == 0x02 && r.status == 0, lba, u64::from(r.count), buf, from_guest);
                self.disk_ret(r.status);
            }
            0x08 => {
                let l = d.lchs;
                let nlc = l.cylinders.saturating_sub(2); // nlc-- twice: "last sector reserved"
                let nlh = l.heads.saturating_sub(1);
                self.set_lo(Gpr::Eax, 0);
                self.set_hi(Gpr::Ecx, nlc as u8);
                self.set_lo(Gpr::Ecx, ((nlc >> 2) & 0xC0) as u8 | (l.sectors & 0x3F) as u8);
                self.set_hi(Gpr::Edx, nlh as u8);
                self.disk_ret(DISK_RET_SUCCESS);
                let hd = self.bus.r8(0x475);
                self.set_lo(Gpr::Edx, hd);
            }
            0x15 => {
                self.disk_ret(DISK_RET_SUCCESS);
                let l = d.lchs;
                let lba = l.cylinders.saturating_sub(1) * l.heads * l.sectors;
                self.set16(Gpr::Ecx, (lba >> 16) as u16);
                self.set16(Gpr::Edx, lba as u16);
                self.set_hi(Gpr::Eax, 3);
            }
            0x41 => {
                // disk_1341: BX must be 55AAh.
                if self.r16(Gpr::Ebx) != 0x55AA {
                    self.disk_ret(DISK_RET_EPARAM);
                    return;
                }
                self.set16(Gpr::Ebx, 0xAA55);
                self.set_hi(Gpr::Eax, 0x30);
                self.set16(Gpr::Ecx, 0x0007);
                self.set_cf(false);
            }
            0x42 | 0x43 => {
                let dap = self.flat(SegReg::Ds, self.r16(Gpr::Esi));
                let lba = u64::from(self.bus.r32(dap + 8)) | u64::from(self.bus.r32(dap + 12)) << 32;
                if lba >= d.sectors {
                    self.disk_ret(DISK_RET_EPARAM);
                    return;
                }
                let off = self.bus.r16(dap + 4);
                let seg = self.bus.r16(dap + 6);
                let buf = (u32::from(seg) << 4).wrapping_add(u32::from(off));
                let count = self.bus.r16(dap + 2);
                if count == 0 {
                    self.disk_ret(DISK_RET_SUCCESS);
                    return;
                }
                let r = self.ata_readwrite(lba, u32::from(count), buf, ah == 0x43);
                self.bus.w16(dap + 2, r.count as u16);
                self.after_read(ah == 0x42 && r.status == 0, lba, u64::from(r.count), buf, from_guest);
                self.disk_ret(r.status);
            }
            0x48 => {
                let ret = self.fill_edd();
                self.disk_ret(ret);
            }
            _ => self.disk_ret(DISK_RET_EPARAM),
        }
    }

    fn after_read(&mut self, ok: bool, lba: u64, sectors: u64, buf: u32, from_guest: bool) {
        if !ok {
            return;
        }
        self.bios.int13_sectors += sectors;
        if from_guest {
            let at = self.int13_at;
            self.exec.read(lba, sectors, at);
            self.note_loaded(lba, sectors, buf);
        }
    }

    /// block.c `fill_ata_edd` + `fill_generic_edd` into DS:SI.
    fn fill_edd(&mut self) -> u8 {
        let at = self.flat(SegReg::Ds, self.r16(Gpr::Esi));
        let size = self.bus.r16(at);
        if size < 26 {
            return DISK_RET_EPARAM;
        }
        let d = self.bios.drive;
        let t13 = size == 74;
        self.bus.w16(at, 26);
        if d.sectors > u64::from(d.pchs.sectors) * u64::from(d.pchs.heads) * 0x3FFF {
            self.bus.w16(at + 2, 0x00);
            self.bus.w32(at + 4, 0x3FFF);
        } else {
            self.bus.w16(at + 2, 0x02);
            self.bus.w32(at + 4, d.pchs.cylinders);
        }
        self.bus.w32(at + 8, d.pchs.heads);
        self.bus.w32(at + 12, d.pchs.sectors);
        self.bus.w32(at + 16, d.sectors as u32);
        self.bus.w32(at + 20, (d.sectors >> 32) as u32);
        self.bus.w16(at + 24, 512);
        if size < 30 {
            return DISK_RET_SUCCESS;
        }
        self.bus.w16(at, 30);
        self.bus.w16(at + 26, DPTE_OFF);
        self.bus.w16(at + 28, BIOS_SEG);
        if size < 66 {
            return DISK_RET_SUCCESS;
        }
        self.bus.w16(at + 30, 0xBEDD);
        self.bus.w8(at + 32, if t13 { 44 } else { 36 });
        self.bus.w8(at + 33, 0);
        self.bus.w16(at + 34, 0);
        self.bus.write_phys(at + 36, b"PCI ");
        // edd_pci_path: bus | dev << 8 | fn << 16 | channel << 24.
        let bdf = u32::from(IDE_BDF);
        let mut path = (bdf >> 8) | ((bdf >> 3) & 0x1F) << 8 | (bdf & 7) << 16;
        if !t13 {
            path &= 0x00FF_FFFF;
        }
        self.bus.w32(at + 48, path);
        self.bus.w32(at + 52, 0);
        self.bus.write_phys(at + 40, b"ATA     ");
        let (end, csum_at) = if t13 { (73u32, at + 73) } else { (65u32, at + 65) };
        // device_path: the slave flag (0).
        for i in 56..end {
            self.bus.w8(at + i, 0);
        }
        let mut sum = 0u8;
        for i in 30..end {
            sum = sum.wrapping_add(self.bus.r8(at + i));
        }
        self.bus.w8(csum_at, 0u8.wrapping_sub(sum));
        DISK_RET_SUCCESS
    }

    // -------------------------------------------------------------- int 15h

    fn int15(&mut self, ah: u8, al: u8) {
        let ram = self.bios.ram_size.min(0xF000_0000) as u32;
        match ah {
            0x24 => match al {
                0x00 | 0x01 => {
                    self.set_a20(al == 1);
                    self.code_success();
                }
                0x02 => {
                    let on = self.get_a20();
                    self.set_lo(Gpr::Eax, u8::from(on));
                    self.code_success();
                }
                0x03 => {
                    self.set16(Gpr::Ebx, 3);
                    self.code_success();
                }
                _ => self.code_invalid(RET_EUNSUPPORTED),
            },
            0x4F => self.set_cf(true), // keyboard intercept: not handled
            0x86 => {
                // Wait CX:DX microseconds (RTC timer).
                let us = u64::from(self.r16(Gpr::Ecx)) << 16 | u64::from(self.r16(Gpr::Edx));
                self.bus.clock.advance(us * 1000);
                self.update_ticks();
                self.set_cf(false);
            }
            0x88 => {
                let kb = if ram > 64 << 20 { 63 * 1024 } else { (ram - (1 << 20)) / 1024 };
                self.set16(Gpr::Eax, kb as u16);
                self.set_cf(false);
            }
            0xC0 => {
                self.cpu.regs.seg[SegReg::Es as usize] = x86::Segment::real(BIOS_SEG, false);
                self.set16(Gpr::Ebx, CONFIG_TABLE);
                self.code_success();
            }
            0xC1 => {
                self.cpu.regs.seg[SegReg::Es as usize] = x86::Segment::real(self.bus.r16(0x40E), false);
                self.set_cf(false);
            }
            0xE8 => match al {
                0x01 => {
                    let (a, b) = if ram > 16 << 20 {
                        (15 * 1024, (ram - (16 << 20)) / 65536)
                    } else {
                        ((ram - (1 << 20)) / 1024, 0)
                    };
                    self.set16(Gpr::Eax, a as u16);
                    self.set16(Gpr::Ecx, a as u16);
                    self.set16(Gpr::Ebx, b as u16);
                    self.set16(Gpr::Edx, b as u16);
                    self.set_cf(false);
                }
                0x20 => self.e820_call(),
                _ => self.code_invalid(RET_EUNSUPPORTED),
            },
            _ => self.code_invalid(RET_EUNSUPPORTED),
        }
    }

    /// system.c `handle_15e820`.
    fn e820_call(&mut self) {
        let g = &self.cpu.regs.gpr;
        let (edx, ecx, bx) = (g[Gpr::Edx as usize], g[Gpr::Ecx as usize], g[Gpr::Ebx as usize] as u16);
        let n = self.bios.e820.len();
        if edx != 0x534D_4150 || usize::from(bx) >= n || ecx < 20 {
            self.code_invalid(RET_EUNSUPPORTED);
            return;
        }
        let e = self.bios.e820[usize::from(bx)];
        let mut b = [0u8; 20];
        b[..8].copy_from_slice(&e.start.to_le_bytes());
        b[8..16].copy_from_slice(&e.size.to_le_bytes());
        b[16..20].copy_from_slice(&e.kind.to_le_bytes());
        let dst = self.flat(SegReg::Es, self.r16(Gpr::Edi));
        x86::Bus::write_bytes(&mut self.bus, dst, &b);
        let g = &mut self.cpu.regs.gpr;
        g[Gpr::Eax as usize] = 0x534D_4150;
        g[Gpr::Ecx as usize] = 20;
        g[Gpr::Ebx as usize] = if usize::from(bx) + 1 == n { 0 } else { u32::from(bx) + 1 };
        self.set_cf(false);
    }

    /// x86.h `set_a20`: read port 0x92, write it only if the state changes.
    fn set_a20(&mut self, on: bool) {
        use x86::Bus;
        let v = self.bus.port_in(super::bus::PORT_A20, x86::AccessSize::Byte) as u8;
        if (v & 2 != 0) != on {
            self.bus.port_out(super::bus::PORT_A20, x86::AccessSize::Byte, u32::from(v ^ 2));
        }
    }

    fn get_a20(&mut self) -> bool {
        use x86::Bus;
        self.bus.port_in(super::bus::PORT_A20, x86::AccessSize::Byte) & 2 != 0
    }

    // -------------------------------------------------------------- int 16h

    fn int16(&mut self, ah: u8) {
        match ah {
            0x00 | 0x10 => match self.bios.keys.pop_front() {
                Some((scan, ascii)) => {
                    // The guest waits in handle_1600 until the key is typed.
                    let wait = super::vm::KEY_GAP_NS.saturating_sub(self.bios.idle_ns);
                    self.bus.clock.advance(wait);
                    self.update_ticks();
                    self.bios.idle_ns = 0;
                    let ascii = if ah == 0x00 && ascii == 0xE0 { 0 } else { ascii };
                    self.set16(Gpr::Eax, u16::from(scan) << 8 | u16::from(ascii));
                }
                None => {
                    // handle_1600 blocks until a key arrives; none will.
                    // Re-point IP at the `int 16h` so the state is exact.
                    self.bios.end = Some(EndState::WaitingForKey {
                        at: self.loc(),
                        function: format!("int 16h AH={ah:02X}h read key"),
                    });
                }
            },
            0x01 | 0x11 => match self.bios.keys.front() {
                // `--keys` are typed while the loader waits for input: the
                // next key is there once the guest has polled for
                // [`super::vm::KEY_GAP_NS`] since it took the last one.
                Some(&(scan, ascii)) if self.bios.idle_ns >= super::vm::KEY_GAP_NS => {
                    // kbd.c dequeue_key: the non-extended calls turn a grey
                    // key's E0h into 00h.
                    let ascii = if ah == 0x01 && ascii == 0xE0 { 0 } else { ascii };
                    self.set16(Gpr::Eax, u16::from(scan) << 8 | u16::from(ascii));
                    self.set_zf(false);
                }
                _ => {
                    self.set_zf(true);
                    // The guest busy-waits for a key (a menu countdown,
                    // a prompt): its time passes on the simulated clock.
                    let at = self.moment();
                    self.bus.clock.advance(super::vm::IDLE_POLL_NS);
                    self.exec.empty_poll(at, self.bus.clock.now().0);
                    self.bios.idle_ns += super::vm::IDLE_POLL_NS;
                    self.update_ticks();
                    if self.bios.idle_ns >= super::vm::MAX_IDLE_NS {
                        self.bios.end = Some(EndState::WaitingForKey {
                            at: self.loc(),
                            function: format!(
                                "int 16h AH={ah:02X}h polled for {} s of guest time with no key",
                                super::vm::MAX_IDLE_NS / 1_000_000_000
                            ),
                        });
                    }
                }
            },
            0x02 => {
                let f = self.bus.r8(BDA_KBD_FLAG0);
                self.set_lo(Gpr::Eax, f);
            }
            0x12 => {
                let f = self.bus.r16(BDA_KBD_FLAG0);
                self.set16(Gpr::Eax, f);
            }
            _ => {}
        }
    }

    // -------------------------------------------------------------- int 1Ah

    fn int1a(&mut self, ah: u8) {
        use x86::Bus;
        match ah {
            0x00 => {
                self.update_ticks();
                let t = self.bus.r32(0x46C);
                self.set16(Gpr::Ecx, (t >> 16) as u16);
                self.set16(Gpr::Edx, t as u16);
                let roll = self.bus.r8(0x470);
                self.set_lo(Gpr::Eax, roll);
                self.bus.w8(0x470, 0);
                self.set_cf(false);
            }
            0x02 => {
                // handle_1a02 through the RTC ports (rtc_read = outb index
                // with NMI disable, inb data): status A, seconds, minutes,
                // hours, status B.
                let rd = |h: &mut Hvm, idx: u8| -> u8 {
                    h.bus.port_out(0x70, x86::AccessSize::Byte, u32::from(idx | 0x80));
                    h.bus.port_in(0x71, x86::AccessSize::Byte) as u8
                };
                let _status_a = rd(self, 0x0A);
                let s = rd(self, 0x00);
                let m = rd(self, 0x02);
                let h = rd(self, 0x04);
                let b = rd(self, 0x0B);
                self.set_hi(Gpr::Edx, s);
                self.set_lo(Gpr::Ecx, m);
                self.set_hi(Gpr::Ecx, h);
                self.set_lo(Gpr::Edx, b & 0x01);
                self.set_hi(Gpr::Eax, 0);
                self.set_lo(Gpr::Eax, h);
                self.set_cf(false);
            }
            _ => {
                // handle_1aXX: set_unimplemented → CF=1.
                self.cpu.regs.eflags |= flags::CF;
            }
        }
    }
}
