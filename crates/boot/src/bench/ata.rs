//! A guest ATA driver for the bench: SeaBIOS's `src/hw/ata.c` register
//! sequences (the ones [`crate::hvm`]'s int 13h service performs), driven
//! against the emulated IDE controller through the HVM bus, so every
//! register access is a counted, costed VM exit.
//!
//! One ATA command per request. Requests larger than
//! [`MAX_SECTORS_PER_COMMAND`] are split, as Linux's block layer splits at
//! an LBA48 libata disk's `max_sectors_kb` (1280 KiB).

use x86::{AccessSize, Bus};

use super::workload::Extent;
use crate::devices::ata_host::{AtaHost, AtaTimeout, POLLS};
use crate::devices::ide::{BMIDE_BASE, reg::*};
use crate::hvm::bus::HvmBus;

/// 2,560 sectors (1,280 KiB): `BLK_DEF_MAX_SECTORS`, the `max_sectors` of
/// an LBA48 disk under libata.
pub const MAX_SECTORS_PER_COMMAND: u64 = 2560;
/// Where the PRD table lives in guest memory (below the buffer).
pub(crate) const PRD_TABLE: u32 = 0x1_0000;
/// The data buffer's guest-physical address (1 MiB).
pub(crate) const BUFFER: u64 = 0x10_0000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AtaError {
    #[error("ATA command {command:#04x} at LBA {lba} failed: status {status:#04x}")]
    Command { command: u8, lba: u64, status: u8 },
    #[error("the controller stayed busy")]
    Timeout,
    #[error("bus-master DMA at LBA {lba} did not complete (bmide status {status:#04x})")]
    Dma { lba: u64, status: u8 },
    #[error("{0}")]
    Memory(String),
}

impl From<AtaTimeout> for AtaError {
    fn from(_: AtaTimeout) -> AtaError {
        AtaError::Timeout
    }
}

/// The driver, borrowing the bus for its lifetime.
pub struct AtaDriver<'a> {
    bus: &'a mut HvmBus,
    pio32: bool,
    buffer: u64,
    prd: u32,
}

impl<'a> AtaDriver<'a> {
    /// Data buffer at 1 MiB, PRD table at 64 KiB.
    pub fn new(bus: &'a mut HvmBus, pio32: bool) -> AtaDriver<'a> {
        AtaDriver::at(bus, pio32, BUFFER, PRD_TABLE)
    }

    /// Data buffer at `buffer` (room for [`MAX_SECTORS_PER_COMMAND`]
    /// sectors below 4 GiB), PRD table at `prd`: where a booted guest has
    /// free memory.
    pub fn at(bus: &'a mut HvmBus, pio32: bool, buffer: u64, prd: u32) -> AtaDriver<'a> {
        AtaDriver { bus, pio32, buffer, prd }
    }

    /// Reads `e` into the buffer (PIO or DMA), command by command.
    pub fn read(&mut self, e: Extent, dma: bool) -> Result<(), AtaError> {
        let mut done = 0;
        while done < e.sectors {
            let n = (e.sectors - done).min(MAX_SECTORS_PER_COMMAND);
            self.command(e.sector + done, n, dma)?;
            done += n;
        }
        Ok(())
    }

    /// The last command's data, `sectors` of it, from guest memory.
    pub fn buffer(&self, sectors: u64) -> Result<Vec<u8>, AtaError> {
        let mut v = vec![0u8; (sectors * 512) as usize];
        self.bus
            .mem
            .read(crate::machine::GuestPhysAddr(self.buffer), &mut v)
            .map_err(|e| AtaError::Memory(e.to_string()))?;
        Ok(v)
    }

    /// ata.c `ata_readwrite` for one read command of `count` sectors.
    fn command(&mut self, lba: u64, count: u64, dma: bool) -> Result<(), AtaError> {
        let ext = count >= 256 || lba + count >= 1 << 28;
        let command = match (dma, ext) {
            (true, true) => CMD_READ_DMA_EXT,
            (true, false) => CMD_READ_DMA,
            (false, true) => CMD_READ_SECTORS_EXT,
            (false, false) => CMD_READ_SECTORS,
        };
        let hob = ext.then_some([0, (count >> 8) as u8, (lba >> 24) as u8, (lba >> 32) as u8, (lba >> 40) as u8]);
        let l = if ext { lba & 0xFF_FFFF } else { lba };
        let cmd =
            [0, count as u8, l as u8, (l >> 8) as u8, (l >> 16) as u8, ((l >> 24) as u8 & 0x0F) | DH_LBA, command];
        if dma { self.dma_read(lba, count, cmd, hob) } else { self.pio_read(lba, count, cmd, hob) }
    }

    /// `ata_pio_cmd_data` + `ata_pio_transfer`: nIEN, the command, then per
    /// sector one `rep insl` (one exit) and `pause_await_not_bsy`.
    fn pio_read(&mut self, lba: u64, count: u64, cmd: [u8; 7], hob: Option<[u8; 5]>) -> Result<(), AtaError> {
        self.bus.out8(CTRL, 0x08 | 0x02);
        self.bus.send_cmd(false, cmd, hob)?;
        // ata_wait_data
        let s = self.bus.await_not_bsy()?;
        if s & STAT_ERR != 0 || s & STAT_DRQ == 0 {
            self.bus.out8(CTRL, 0x08);
            return Err(AtaError::Command { command: cmd[6], lba, status: s });
        }
        let size = if self.pio32 { AccessSize::Dword } else { AccessSize::Word };
        let mut sector = [0u8; 512];
        let mut dest = self.buffer as u32;
        for left in (0..count).rev() {
            self.bus.port_in_string(DATA, size, &mut sector);
            self.bus.write_bytes(dest, &sector);
            dest = dest.wrapping_add(512);
            let s = self.bus.pause_await_not_bsy()?;
            let expect = if left == 0 { 0 } else { STAT_DRQ };
            if s & (STAT_BSY | STAT_DRQ | STAT_ERR) != expect {
                self.bus.out8(CTRL, 0x08);
                return Err(AtaError::Command { command: cmd[6], lba, status: s });
            }
        }
        self.bus.out8(CTRL, 0x08);
        Ok(())
    }

    /// `ata_try_dma` (PRD table: entries ≤ 64 KiB not crossing a 64 KiB
    /// boundary; bus-master table, direction, status clear) +
    /// `ata_dma_cmd_data` (command, start, poll, stop, status).
    fn dma_read(&mut self, lba: u64, count: u64, cmd: [u8; 7], hob: Option<[u8; 5]>) -> Result<(), AtaError> {
        let mut bytes = (count * 512) as u32;
        let mut dest = self.buffer as u32;
        let mut at = self.prd;
        while bytes > 0 {
            let max = 0x1_0000 - (dest & 0xFFFF);
            let n = bytes.min(max);
            bytes -= n;
            // A 64 KiB entry is written as byte count 0.
            let flags = if bytes == 0 { 1u32 << 31 } else { 0 };
            self.bus.w32(at, dest);
            self.bus.w32(at + 4, (n & 0xFFFF) | flags);
            dest = dest.wrapping_add(n);
            at += 8;
        }
        self.bus.port_out(BMIDE_BASE + BM_TABLE, AccessSize::Dword, self.prd);
        let old = self.bus.in8(BMIDE_BASE + BM_CMD) & !(BM_CMD_MEMWRITE | BM_CMD_START);
        self.bus.out8(BMIDE_BASE + BM_CMD, old | BM_CMD_MEMWRITE);
        self.bus.out8(BMIDE_BASE + BM_STATUS, BM_STATUS_ERROR | BM_STATUS_IRQ);
        self.bus.send_cmd(false, cmd, hob)?;
        let old = self.bus.in8(BMIDE_BASE + BM_CMD);
        self.bus.out8(BMIDE_BASE + BM_CMD, old | BM_CMD_START);
        let mut status = 0;
        for _ in 0..POLLS {
            status = self.bus.in8(BMIDE_BASE + BM_STATUS);
            if status & BM_STATUS_IRQ != 0 {
                break;
            }
        }
        self.bus.out8(BMIDE_BASE + BM_CMD, old & !BM_CMD_START);
        let s = self.bus.pause_await_not_bsy()?;
        if status & (BM_STATUS_IRQ | BM_STATUS_ACTIVE) != BM_STATUS_IRQ {
            return Err(AtaError::Dma { lba, status });
        }
        if s & (STAT_BSY | STAT_DF | STAT_DRQ | STAT_ERR) != 0 {
            return Err(AtaError::Command { command: cmd[6], lba, status: s });
        }
        Ok(())
    }
}
