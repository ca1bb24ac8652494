//! The guest side of the ATA task-file protocol: SeaBIOS's `src/hw/ata.c`
//! register sequences (`await_ide`, `pause_await_not_bsy`, `send_cmd`) over
//! any port access. Both guest ATA drivers boot-sim runs in Rust — the
//! BIOS's int 13h service (`boot::hvm`) and the I/O bench's driver
//! (`boot::bench`) — send commands through this one copy, so the exits
//! they cost and the order of their register accesses cannot drift apart.

use super::ide::reg::{CTRL, DEVICE, DH_DEV1, ERR_FEATURE, STAT_BSY, STATUS_CMD};

/// Status polls before a driver gives up (SeaBIOS waits 32 s; the emulated
/// controller answers at once, so a stuck status is a model bug).
pub const POLLS: u32 = 64;

/// The status never matched within [`POLLS`] reads (SeaBIOS's `-1` from
/// `await_ide`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AtaTimeout;

/// A guest driver's byte-wide port access; the ata.c sequences come with it.
pub trait AtaHost {
    fn in8(&mut self, port: u16) -> u8;
    fn out8(&mut self, port: u16, v: u8);

    /// ata.c `await_ide`: polls `port` until `status & mask == want`.
    fn await_mask(&mut self, port: u16, mask: u8, want: u8) -> Result<u8, AtaTimeout> {
        for _ in 0..POLLS {
            let s = self.in8(port);
            if s & mask == want {
                return Ok(s);
            }
        }
        Err(AtaTimeout)
    }

    /// ata.c `await_not_bsy`.
    fn await_not_bsy(&mut self) -> Result<u8, AtaTimeout> {
        self.await_mask(STATUS_CMD, STAT_BSY, 0)
    }

    /// ata.c `pause_await_not_bsy`: one alternate-status read (the 400 ns
    /// pause), then status polls.
    fn pause_await_not_bsy(&mut self) -> Result<u8, AtaTimeout> {
        let _ = self.in8(CTRL);
        self.await_not_bsy()
    }

    /// ata.c `send_cmd`: selects the drive (waiting again when the DEV bit
    /// changes), writes the high-order bytes of a 48-bit command first,
    /// then `cmd` = (feature, count, lba low, mid, high, device, command).
    fn send_cmd(&mut self, slave: bool, cmd: [u8; 7], hob: Option<[u8; 5]>) -> Result<(), AtaTimeout> {
        self.await_not_bsy()?;
        let newdh = (cmd[5] & !DH_DEV1) | if slave { 0xB0 } else { 0xA0 };
        let olddh = self.in8(DEVICE);
        self.out8(DEVICE, newdh);
        if (olddh ^ newdh) & DH_DEV1 != 0 {
            self.await_not_bsy()?;
        }
        if let Some(h) = hob {
            for (i, v) in h.into_iter().enumerate() {
                self.out8(ERR_FEATURE + i as u16, v);
            }
        }
        for (i, v) in cmd[..5].iter().enumerate() {
            self.out8(ERR_FEATURE + i as u16, *v);
        }
        self.out8(STATUS_CMD, cmd[6]);
        Ok(())
    }
}
