//! The emulated IDE controller: the primary channel of a PIIX3-style PCI IDE
//! function (command block 0x1F0–0x1F7, control block 0x3F6) with one ATA
//! disk as master, no slave, and the SFF-8038i bus-master DMA engine at the
//! BMIDE BAR.
//!
//! A state machine in the rust-vmm `vm-superio` style: [`IdeController::read`]
//! and [`IdeController::write`] take a port and a value; the controller does
//! no I/O of its own except reading the (read-only) image, and a DMA start is
//! reported as [`IdeAction::StartDma`] for the bus to perform with
//! [`IdeController::run_dma`] against guest memory.
//!
//! Behaviour follows QEMU's IDE core (`hw/ide/core.c`), the device model Xen
//! HVM guests talk to: status READY|SEEK (0x50) when idle, READY|SEEK|DRQ
//! (0x58) while a PIO sector is available, READY|ERR (0x41) with error ABRT
//! (0x04) when a command is aborted (`ide_abort_command`), including reads
//! past the end of the disk (`ide_sect_range_ok` fails → `ide_rw_error`)
//! and writes, because the image is opened read-only (QEMU with
//! `readonly=on` fails the write and reports it the same way). A register
//! read of the absent slave returns 0 (`ide_ioport_read`: "s != bus->ifs &&
//! !s->blk").

use std::sync::Arc;

use disk_image::ReadAt;

/// ATA register offsets and bits (SeaBIOS `src/hw/ata.h`).
pub mod reg {
    /// Command block base (primary channel).
    pub const CMD_BASE: u16 = 0x1F0;
    /// Control block: alternate status (read) / device control (write).
    pub const CTRL: u16 = 0x3F6;
    pub const DATA: u16 = 0x1F0;
    pub const ERR_FEATURE: u16 = 0x1F1;
    pub const SECTOR_COUNT: u16 = 0x1F2;
    pub const LBA_LOW: u16 = 0x1F3;
    pub const LBA_MID: u16 = 0x1F4;
    pub const LBA_HIGH: u16 = 0x1F5;
    pub const DEVICE: u16 = 0x1F6;
    pub const STATUS_CMD: u16 = 0x1F7;

    pub const STAT_BSY: u8 = 0x80;
    pub const STAT_RDY: u8 = 0x40;
    pub const STAT_DF: u8 = 0x20;
    pub const STAT_SKC: u8 = 0x10;
    pub const STAT_DRQ: u8 = 0x08;
    pub const STAT_ERR: u8 = 0x01;
    /// ABRT in the error register.
    pub const ERR_ABRT: u8 = 0x04;
    /// DEV bit of the device register (1 = slave).
    pub const DH_DEV1: u8 = 0x10;
    /// LBA bit of the device register.
    pub const DH_LBA: u8 = 0x40;
    /// Device control: software reset.
    pub const DC_SRST: u8 = 0x04;

    pub const CMD_READ_SECTORS: u8 = 0x20;
    pub const CMD_READ_SECTORS_NORETRY: u8 = 0x21;
    pub const CMD_READ_SECTORS_EXT: u8 = 0x24;
    pub const CMD_READ_DMA_EXT: u8 = 0x25;
    pub const CMD_WRITE_SECTORS: u8 = 0x30;
    pub const CMD_WRITE_SECTORS_EXT: u8 = 0x34;
    pub const CMD_WRITE_DMA_EXT: u8 = 0x35;
    pub const CMD_RECALIBRATE: u8 = 0x10;
    pub const CMD_INIT_DEVICE_PARAMS: u8 = 0x91;
    pub const CMD_IDENTIFY_PACKET: u8 = 0xA1;
    pub const CMD_READ_DMA: u8 = 0xC8;
    pub const CMD_WRITE_DMA: u8 = 0xCA;
    pub const CMD_IDENTIFY: u8 = 0xEC;
    pub const CMD_SET_FEATURES: u8 = 0xEF;

    /// Bus-master registers, offsets in the BMIDE BAR (SeaBIOS ata.c
    /// `BM_CMD`/`BM_STATUS`/`BM_TABLE`).
    pub const BM_CMD: u16 = 0;
    pub const BM_STATUS: u16 = 2;
    pub const BM_TABLE: u16 = 4;
    pub const BM_CMD_START: u8 = 0x01;
    /// Direction: the device writes memory (a read from disk).
    pub const BM_CMD_MEMWRITE: u8 = 0x08;
    pub const BM_STATUS_ACTIVE: u8 = 0x01;
    pub const BM_STATUS_ERROR: u8 = 0x02;
    pub const BM_STATUS_IRQ: u8 = 0x04;
    /// "Drive 0 DMA capable" (QEMU sets it for a present master).
    pub const BM_STATUS_DRV0_DMA: u8 = 0x20;
}

use reg::*;

/// Base of the BMIDE I/O BAR. **Assumption**: hvmloader's `pci_setup`
/// assigns I/O BARs from 0xC000 largest first, so the Xen platform device's
/// 256-byte BAR comes before the IDE function's 16-byte BAR4; the exact
/// value depends on the device set and is not visible to boot code, which
/// learns it from PCI config space (SeaBIOS `init_pciata`).
pub const BMIDE_BASE: u16 = 0xC100;

const SECTOR: usize = 512;

/// What the bus has to do after a register write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IdeAction {
    None,
    /// The bus-master engine was started with a DMA command pending: call
    /// [`IdeController::run_dma`].
    StartDma,
}

/// Guest memory as the DMA engine sees it (physical addresses).
pub trait DmaMemory {
    fn dma_read(&mut self, addr: u32, buf: &mut [u8]);
    fn dma_write(&mut self, addr: u32, data: &[u8]);
}

/// What the controller did, for counters and the trace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IdeStats {
    pub commands: u64,
    pub sectors_read: u64,
    pub bytes_dma: u64,
    pub aborted: u64,
    pub media_reads: u64,
}

/// A command's data phase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    /// PIO data-in: `remaining` sectors after the one in the buffer, next
    /// LBA `next`.
    PioIn {
        next: u64,
        remaining: u64,
    },
    /// PIO data-out (writes): collecting one sector, then abort.
    PioOut,
    /// DMA command issued, waiting for the bus master to start.
    DmaPending {
        lba: u64,
        count: u64,
        write: bool,
    },
}

/// A task-file register write: the previous value moves to the
/// high-order-byte copy a 48-bit command reads back with HOB (QEMU
/// `ide_ioport_write`: `hob_feature = feature` before the new value).
fn latch(reg: &mut u8, hob: &mut u8, b: u8) {
    *hob = *reg;
    *reg = b;
}

/// The task-file registers (ATA/ATAPI-6 §7: the "HOB" copies hold the
/// previous value written, for 48-bit commands; QEMU `ide_ioport_write`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct TaskFile {
    feature: u8,
    nsector: u8,
    sector: u8,
    lcyl: u8,
    hcyl: u8,
    hob_feature: u8,
    hob_nsector: u8,
    hob_sector: u8,
    hob_lcyl: u8,
    hob_hcyl: u8,
}

/// Most sectors one host read fetches ahead for a command (128 KiB; a
/// longer command is read in several).
const AHEAD_SECTORS: u64 = 256;

/// The controller (primary channel, master disk).
pub struct IdeController {
    disk: Arc<dyn ReadAt>,
    sectors: u64,
    geometry: Chs,
    identify: Box<[u8; SECTOR]>,
    tf: TaskFile,
    /// Device/head register (QEMU `select`), bit 4 chooses the slave.
    select: u8,
    status: u8,
    error: u8,
    control: u8,
    phase: Phase,
    buf: Box<[u8; SECTOR]>,
    /// Host read-ahead of the image (not a device cache: the guest sees
    /// nothing of it, every sector still counts as its own medium read):
    /// sectors `ahead_lba..ahead_lba + ahead_sectors` of the command being
    /// served, read with one host call instead of one per sector. The
    /// medium is read-only (writes abort), so the copy cannot go stale.
    ahead: Vec<u8>,
    ahead_lba: u64,
    ahead_sectors: u64,
    pos: usize,
    /// Bytes valid in `buf` for the current data phase.
    end: usize,
    bm_cmd: u8,
    bm_status: u8,
    bm_prd: u32,
    /// Counters.
    pub stats: IdeStats,
    /// Requests to the backing medium since the bus last drained them:
    /// (first LBA, sectors). QEMU issues one block-layer request per PIO
    /// sector (`ide_sector_read`, `req_nb_sectors` = 1 for READ SECTORS)
    /// and one per DMA scatter list (`ide_dma_cb`).
    pub media: Vec<(u64, u64)>,
    /// The disk was unplugged through the Xen platform device
    /// (`XEN_UNPLUG_ALL_IDE_DISKS`; QEMU `pci_piix3_xen_ide_unplug`
    /// detaches the drive's block backend). The channel stays on the bus
    /// with no drive behind it.
    unplugged: bool,
}

/// A CHS geometry (cylinders, heads, sectors per track).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Chs {
    pub cylinders: u32,
    pub heads: u32,
    pub sectors: u32,
}

/// BIOS translation QEMU hands SeaBIOS in CMOS 0x39 (`hw/i386/pc.c`
/// `pc_cmos_init_late`: `ide_get_bios_chs_trans() - 1`), in SeaBIOS's
/// numbering (`src/block.h`: NONE 0, LBA 1, LARGE 2, RECHS 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Translation {
    None = 0,
    Lba = 1,
    Large = 2,
}

/// QEMU's geometry guess for an IDE disk (`hw/block/hd-geometry.c`
/// `hd_geometry_guess`): a partition table whose first used entry ends on
/// head ≤ 15 gives the physical geometry (no translation); otherwise 16
/// heads × 63 sectors with cylinders = sectors / 1008 clamped to 2..=16383,
/// translated LARGE (cyls × heads ≤ 131072 after a >16-head guess) or by
/// `hd_bios_chs_auto_trans` (NONE if it fits 1024/16/63, else LBA).
pub fn guess_geometry(mbr: &[u8; 512], sectors: u64) -> (Chs, Translation) {
    let for_size = || {
        let c = (sectors / (16 * 63)).clamp(2, 16383) as u32;
        Chs { cylinders: c, heads: 16, sectors: 63 }
    };
    let mut lchs: Option<(u32, u32, u32)> = None;
    if mbr[510] == 0x55 && mbr[511] == 0xAA {
        for i in 0..4 {
            let e = &mbr[0x1BE + 16 * i..0x1BE + 16 * (i + 1)];
            let nr_sects = u32::from_le_bytes([e[12], e[13], e[14], e[15]]);
            let end_head = u32::from(e[5]);
            if nr_sects != 0 && end_head != 0 {
                let heads = end_head + 1;
                let secs = u32::from(e[6] & 63);
                if secs == 0 {
                    continue;
                }
                let cyls = sectors / u64::from(heads * secs);
                if !(1..=16383).contains(&cyls) {
                    continue;
                }
                lchs = Some((cyls as u32, heads, secs));
                break;
            }
        }
    }
    match lchs {
        None => {
            let g = for_size();
            let t = if g.cylinders <= 1024 && g.heads <= 16 && g.sectors <= 63 {
                Translation::None
            } else {
                Translation::Lba
            };
            (g, t)
        }
        Some((_, heads, _)) if heads > 16 => {
            let g = for_size();
            let t = if g.cylinders * g.heads <= 131_072 { Translation::Large } else { Translation::Lba };
            (g, t)
        }
        Some((c, h, s)) => (Chs { cylinders: c, heads: h, sectors: s }, Translation::None),
    }
}

fn put_str(id: &mut [u8; SECTOR], word: usize, len_words: usize, s: &str) {
    // ATA strings: two characters per word, first in the high byte, padded
    // with spaces (QEMU `padstr`).
    let bytes = s.as_bytes();
    for i in 0..len_words * 2 {
        let c = bytes.get(i).copied().unwrap_or(b' ');
        id[word * 2 + (i ^ 1)] = c;
    }
}

fn put16(id: &mut [u8; SECTOR], word: usize, v: u16) {
    id[word * 2..word * 2 + 2].copy_from_slice(&v.to_le_bytes());
}

/// The IDENTIFY DEVICE block QEMU returns for a hard disk (`hw/ide/core.c`
/// `ide_identify`), for `sectors` sectors of 512 bytes with physical
/// geometry `chs`. Serial "QM00001", firmware revision "2.5+", model
/// "QEMU HARDDISK" as in QEMU.
pub fn identify_block(sectors: u64, chs: Chs) -> [u8; SECTOR] {
    let mut id = [0u8; SECTOR];
    put16(&mut id, 0, 0x0040); // fixed disk
    put16(&mut id, 1, chs.cylinders as u16);
    put16(&mut id, 3, chs.heads as u16);
    put16(&mut id, 4, (512 * chs.sectors) as u16); // obsolete: bytes per track
    put16(&mut id, 5, 512); // obsolete: bytes per sector
    put16(&mut id, 6, chs.sectors as u16);
    put_str(&mut id, 10, 10, "QM00001");
    put16(&mut id, 20, 3); // retired word: buffer type 3 (dual-ported, read-ahead cache), as QEMU reports
    put16(&mut id, 21, 512); // cache size in sectors
    put16(&mut id, 22, 4); // ecc bytes
    put_str(&mut id, 23, 4, "2.5+");
    put_str(&mut id, 27, 20, "QEMU HARDDISK");
    put16(&mut id, 47, 0x8000 | 16); // MAX_MULT_SECTORS
    put16(&mut id, 48, 1); // dword I/O
    put16(&mut id, 49, (1 << 11) | (1 << 9) | (1 << 8)); // DMA and LBA supported
    put16(&mut id, 51, 0x200); // PIO transfer cycle
    put16(&mut id, 52, 0x200); // DMA transfer cycle
    put16(&mut id, 53, 1 | (1 << 1) | (1 << 2)); // words 54-58,64-70,88 valid
    let cur = chs.cylinders as u64 * chs.heads as u64 * chs.sectors as u64;
    put16(&mut id, 54, chs.cylinders as u16);
    put16(&mut id, 55, chs.heads as u16);
    put16(&mut id, 56, chs.sectors as u16);
    put16(&mut id, 57, cur as u16);
    put16(&mut id, 58, (cur >> 16) as u16);
    let lba28 = sectors.min(0x0FFF_FFFF);
    put16(&mut id, 60, lba28 as u16);
    put16(&mut id, 61, (lba28 >> 16) as u16);
    put16(&mut id, 62, 0x07); // single word dma0-2 supported
    put16(&mut id, 63, 0x07); // mdma0-2 supported
    put16(&mut id, 64, 0x03); // pio3-4 supported
    put16(&mut id, 65, 120);
    put16(&mut id, 66, 120);
    put16(&mut id, 67, 120);
    put16(&mut id, 68, 120);
    put16(&mut id, 80, 0xF0); // ATA3 -> ATA6 supported
    put16(&mut id, 81, 0x16); // conforms to ATA5
    put16(&mut id, 82, (1 << 14) | (1 << 5) | 1); // NOP, write cache, SMART
    put16(&mut id, 83, (1 << 14) | (1 << 13) | (1 << 12) | (1 << 10)); // LBA48, flush
    put16(&mut id, 84, 1 << 14);
    put16(&mut id, 85, (1 << 14) | (1 << 5) | 1);
    put16(&mut id, 86, (1 << 13) | (1 << 12) | (1 << 10));
    put16(&mut id, 87, 1 << 14);
    put16(&mut id, 88, 0x3F | (1 << 13)); // udma0-5 supported, udma5 selected
    put16(&mut id, 93, 1 | (1 << 14) | 0x2000);
    put16(&mut id, 100, sectors as u16);
    put16(&mut id, 101, (sectors >> 16) as u16);
    put16(&mut id, 102, (sectors >> 32) as u16);
    put16(&mut id, 103, (sectors >> 48) as u16);
    id
}

impl IdeController {
    /// A controller whose master is `disk` (its size rounded down to whole
    /// sectors) with the geometry from [`guess_geometry`].
    pub fn new(disk: Arc<dyn ReadAt>, geometry: Chs) -> IdeController {
        let sectors = disk.size() / SECTOR as u64;
        IdeController {
            identify: Box::new(identify_block(sectors, geometry)),
            disk,
            sectors,
            geometry,
            tf: TaskFile { nsector: 1, sector: 1, ..TaskFile::default() },
            select: 0xA0,
            status: STAT_RDY | STAT_SKC,
            error: 0x01, // diagnostic code: no error (ide_reset)
            control: 0,
            phase: Phase::Idle,
            buf: Box::new([0; SECTOR]),
            ahead: Vec::new(),
            ahead_lba: 0,
            ahead_sectors: 0,
            pos: 0,
            end: 0,
            bm_cmd: 0,
            bm_status: BM_STATUS_DRV0_DMA,
            bm_prd: 0,
            stats: IdeStats::default(),
            media: Vec::new(),
            unplugged: false,
        }
    }

    /// Detaches the disk (the Xen platform device's unplug): from now on
    /// the channel has no drive, as QEMU's IDE model with neither `ifs[0]`
    /// nor `ifs[1]` backed: every task-file and status register reads 0
    /// (`ide_ioport_read`, `ide_status_read`), the data port reads 0,
    /// commands are ignored, and the bus-master status no longer reports
    /// "drive 0 DMA capable". A driver polling for DRQ never sees it.
    pub fn unplug(&mut self) {
        self.unplugged = true;
        self.phase = Phase::Idle;
        self.status = 0;
        self.error = 0;
        self.pos = 0;
        self.end = 0;
        self.bm_status &= !BM_STATUS_DRV0_DMA;
    }

    /// Whether [`IdeController::unplug`] detached the disk.
    pub fn is_unplugged(&self) -> bool {
        self.unplugged
    }

    pub fn sectors(&self) -> u64 {
        self.sectors
    }

    pub fn geometry(&self) -> Chs {
        self.geometry
    }

    /// Whether `port` belongs to this controller.
    #[inline]
    pub fn claims(port: u16) -> bool {
        matches!(port, 0x1F0..=0x1F7 | CTRL) || (BMIDE_BASE..BMIDE_BASE + 8).contains(&port)
    }

    #[inline]
    fn slave_selected(&self) -> bool {
        self.select & DH_DEV1 != 0
    }

    /// A register read of `size` bytes (1, 2 or 4; only the data port and
    /// the PRD address register are wider than a byte).
    pub fn read(&mut self, port: u16, size: u8) -> u32 {
        if self.unplugged && port < BMIDE_BASE {
            return 0;
        }
        match port {
            DATA => self.read_data(size),
            CTRL => {
                if self.slave_selected() {
                    0
                } else {
                    u32::from(self.status)
                }
            }
            0x1F1..=0x1F7 => {
                // QEMU: error and status of the absent slave read 0; the
                // task-file registers are shared and read back.
                if self.slave_selected() && matches!(port, ERR_FEATURE | STATUS_CMD) {
                    return 0;
                }
                let hob = self.control & 0x80 != 0;
                // HOB set in device control reads the previous (high-order)
                // bytes of a 48-bit task file (ATA8-ACS §7.1.6).
                let pick = |lo: u8, hi: u8| if hob { hi } else { lo };
                u32::from(match port {
                    ERR_FEATURE => self.error,
                    SECTOR_COUNT => pick(self.tf.nsector, self.tf.hob_nsector),
                    LBA_LOW => pick(self.tf.sector, self.tf.hob_sector),
                    LBA_MID => pick(self.tf.lcyl, self.tf.hob_lcyl),
                    LBA_HIGH => pick(self.tf.hcyl, self.tf.hob_hcyl),
                    DEVICE => self.select,
                    _ => self.status,
                })
            }
            p if p >= BMIDE_BASE => self.read_bm(p - BMIDE_BASE, size),
            _ => 0xFFFF_FFFF,
        }
    }

    fn read_bm(&self, off: u16, size: u8) -> u32 {
        match off {
            BM_CMD => u32::from(self.bm_cmd),
            BM_STATUS => u32::from(self.bm_status),
            BM_TABLE..=7 => {
                let shift = 8 * u32::from(off - BM_TABLE);
                let v = self.bm_prd >> shift;
                match size {
                    1 => v & 0xFF,
                    2 => v & 0xFFFF,
                    _ => v,
                }
            }
            _ => 0,
        }
    }

    fn read_data(&mut self, size: u8) -> u32 {
        if !matches!(self.phase, Phase::PioIn { .. }) || self.slave_selected() {
            return 0;
        }
        let n = usize::from(size.clamp(1, 4));
        let mut v = [0u8; 4];
        let take = n.min(self.end - self.pos);
        v[..take].copy_from_slice(&self.buf[self.pos..self.pos + take]);
        self.pos += take;
        if self.pos >= self.end {
            self.sector_done();
        }
        u32::from_le_bytes(v)
    }

    /// `rep ins` from the data port as one request: fills `out` (whole
    /// elements) as [`IdeController::read`] would element by element.
    pub fn read_data_string(&mut self, out: &mut [u8]) {
        let mut done = 0;
        while done < out.len() {
            if !matches!(self.phase, Phase::PioIn { .. }) || self.slave_selected() {
                out[done..].fill(0);
                return;
            }
            let n = (out.len() - done).min(self.end - self.pos);
            out[done..done + n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            done += n;
            if self.pos >= self.end {
                self.sector_done();
            }
        }
    }

    /// `rep outs` to the data port.
    pub fn write_data_string(&mut self, data: &[u8]) {
        for chunk in data.chunks(2) {
            let mut v = [0u8; 2];
            v[..chunk.len()].copy_from_slice(chunk);
            self.write_data(u32::from(u16::from_le_bytes(v)), 2);
        }
    }

    fn write_data(&mut self, value: u32, size: u8) {
        if self.phase != Phase::PioOut {
            return;
        }
        let n = usize::from(size.clamp(1, 4));
        let bytes = value.to_le_bytes();
        let take = n.min(self.end - self.pos);
        self.buf[self.pos..self.pos + take].copy_from_slice(&bytes[..take]);
        self.pos += take;
        if self.pos >= self.end {
            // The sector is complete; the write to the read-only image fails
            // and QEMU reports it as an aborted command (ide_rw_error).
            self.abort();
        }
    }

    /// The PIO buffer is drained: load the next sector or finish.
    fn sector_done(&mut self) {
        match self.phase {
            Phase::PioIn { next, remaining } if remaining > 0 => self.load_pio_sector(next, remaining - 1),
            _ => {
                self.phase = Phase::Idle;
                self.status = STAT_RDY | STAT_SKC;
                self.pos = 0;
                self.end = 0;
            }
        }
    }

    fn load_pio_sector(&mut self, lba: u64, remaining_after: u64) {
        match self.read_media(lba, remaining_after + 1) {
            Some(()) => {
                self.media.push((lba, 1));
                self.phase = Phase::PioIn { next: lba + 1, remaining: remaining_after };
                self.pos = 0;
                self.end = SECTOR;
                self.status = STAT_RDY | STAT_SKC | STAT_DRQ;
                self.error = 0;
                self.stats.sectors_read += 1;
                self.set_lba_registers(lba);
            }
            None => self.abort(),
        }
    }

    /// Reads sector `lba` into `buf` (one medium read); `wanted` is how
    /// many sectors from `lba` on the command still transfers, the bound of
    /// the host read-ahead.
    fn read_media(&mut self, lba: u64, wanted: u64) -> Option<()> {
        // ide_sect_range_ok: the sector must lie inside the disk.
        if lba.checked_add(1)? > self.sectors {
            return None;
        }
        self.stats.media_reads += 1;
        let held = lba.checked_sub(self.ahead_lba).filter(|&k| k < self.ahead_sectors);
        let k = match held {
            Some(k) => k,
            None => {
                let n = wanted.clamp(1, AHEAD_SECTORS).min(self.sectors - lba);
                self.ahead.resize(n as usize * SECTOR, 0);
                if self.disk.read_exact_at(lba * SECTOR as u64, &mut self.ahead).is_err() {
                    // The read-ahead failed (a short image, an I/O error):
                    // this sector alone decides.
                    self.ahead_sectors = 0;
                    return self.disk.read_exact_at(lba * SECTOR as u64, &mut self.buf[..]).ok();
                }
                (self.ahead_lba, self.ahead_sectors) = (lba, n);
                0
            }
        };
        let at = k as usize * SECTOR;
        self.buf.copy_from_slice(&self.ahead[at..at + SECTOR]);
        Some(())
    }

    /// QEMU `ide_set_sector`: the registers track the last sector read.
    fn set_lba_registers(&mut self, lba: u64) {
        self.tf.sector = lba as u8;
        self.tf.lcyl = (lba >> 8) as u8;
        self.tf.hcyl = (lba >> 16) as u8;
        self.select = (self.select & 0xF0) | ((lba >> 24) as u8 & 0x0F);
    }

    fn abort(&mut self) {
        self.phase = Phase::Idle;
        self.status = STAT_RDY | STAT_ERR;
        self.error = ERR_ABRT;
        self.pos = 0;
        self.end = 0;
        self.stats.aborted += 1;
    }

    /// A register write (`value` masked to the access size).
    pub fn write(&mut self, port: u16, value: u32, size: u8) -> IdeAction {
        let b = value as u8;
        if self.unplugged && port < BMIDE_BASE {
            return IdeAction::None;
        }
        match port {
            DATA => self.write_data(value, size),
            CTRL => {
                // Device control: SRST 1→0 resets the drive (ide_bus_reset).
                if self.control & DC_SRST != 0 && b & DC_SRST == 0 {
                    self.reset();
                }
                if b & DC_SRST != 0 {
                    self.status = STAT_BSY | STAT_SKC;
                }
                self.control = b;
            }
            ERR_FEATURE => latch(&mut self.tf.feature, &mut self.tf.hob_feature, b),
            SECTOR_COUNT => latch(&mut self.tf.nsector, &mut self.tf.hob_nsector, b),
            LBA_LOW => latch(&mut self.tf.sector, &mut self.tf.hob_sector, b),
            LBA_MID => latch(&mut self.tf.lcyl, &mut self.tf.hob_lcyl, b),
            LBA_HIGH => latch(&mut self.tf.hcyl, &mut self.tf.hob_hcyl, b),
            DEVICE => self.select = b,
            STATUS_CMD => return self.command(b),
            p if p >= BMIDE_BASE => return self.write_bm(p - BMIDE_BASE, value, size),
            _ => {}
        }
        IdeAction::None
    }

    fn reset(&mut self) {
        self.phase = Phase::Idle;
        self.status = STAT_RDY | STAT_SKC;
        self.error = 0x01;
        self.tf.nsector = 1;
        self.tf.sector = 1;
        self.tf.lcyl = 0;
        self.tf.hcyl = 0;
        self.pos = 0;
        self.end = 0;
    }

    fn write_bm(&mut self, off: u16, value: u32, size: u8) -> IdeAction {
        match off {
            BM_CMD => {
                let b = value as u8 & (BM_CMD_START | BM_CMD_MEMWRITE);
                let starting = b & BM_CMD_START != 0 && self.bm_cmd & BM_CMD_START == 0;
                if b & BM_CMD_START == 0 {
                    self.bm_status &= !BM_STATUS_ACTIVE;
                }
                self.bm_cmd = b;
                if starting {
                    self.bm_status |= BM_STATUS_ACTIVE;
                    if matches!(self.phase, Phase::DmaPending { .. }) {
                        return IdeAction::StartDma;
                    }
                }
            }
            BM_STATUS => {
                let b = value as u8;
                // Bits 1-2 are write-1-to-clear, bits 5-6 read/write.
                self.bm_status = (self.bm_status & !(b & (BM_STATUS_ERROR | BM_STATUS_IRQ)) & !0x60) | (b & 0x60);
            }
            BM_TABLE..=7 => {
                let shift = 8 * u32::from(off - BM_TABLE);
                let mask = match size {
                    1 => 0xFFu32,
                    2 => 0xFFFF,
                    _ => 0xFFFF_FFFF,
                } << shift;
                self.bm_prd = ((self.bm_prd & !mask) | ((value << shift) & mask)) & !3;
            }
            _ => {}
        }
        IdeAction::None
    }

    fn lba28(&self) -> u64 {
        u64::from(self.select & 0x0F) << 24
            | u64::from(self.tf.hcyl) << 16
            | u64::from(self.tf.lcyl) << 8
            | u64::from(self.tf.sector)
    }

    fn lba48(&self) -> u64 {
        u64::from(self.tf.hob_hcyl) << 40
            | u64::from(self.tf.hob_lcyl) << 32
            | u64::from(self.tf.hob_sector) << 24
            | u64::from(self.tf.hcyl) << 16
            | u64::from(self.tf.lcyl) << 8
            | u64::from(self.tf.sector)
    }

    fn count28(&self) -> u64 {
        if self.tf.nsector == 0 { 256 } else { u64::from(self.tf.nsector) }
    }

    fn count48(&self) -> u64 {
        let n = u64::from(self.tf.hob_nsector) << 8 | u64::from(self.tf.nsector);
        if n == 0 { 65536 } else { n }
    }

    fn command(&mut self, cmd: u8) -> IdeAction {
        // Commands to the absent slave are ignored (ide_exec_cmd: "ignore
        // commands to non existent slave").
        if self.slave_selected() {
            return IdeAction::None;
        }
        self.stats.commands += 1;
        self.error = 0;
        match cmd {
            CMD_IDENTIFY => {
                self.buf.copy_from_slice(&self.identify[..]);
                self.phase = Phase::PioIn { next: 0, remaining: 0 };
                self.pos = 0;
                self.end = SECTOR;
                self.status = STAT_RDY | STAT_SKC | STAT_DRQ;
            }
            CMD_READ_SECTORS | CMD_READ_SECTORS_NORETRY => {
                let (lba, n) = (self.lba28(), self.count28());
                self.load_pio_sector(lba, n - 1);
            }
            CMD_READ_SECTORS_EXT => {
                let (lba, n) = (self.lba48(), self.count48());
                self.load_pio_sector(lba, n - 1);
            }
            CMD_READ_DMA | CMD_WRITE_DMA => {
                let (lba, n) = (self.lba28(), self.count28());
                self.start_dma_command(lba, n, cmd == CMD_WRITE_DMA);
            }
            CMD_READ_DMA_EXT | CMD_WRITE_DMA_EXT => {
                let (lba, n) = (self.lba48(), self.count48());
                self.start_dma_command(lba, n, cmd == CMD_WRITE_DMA_EXT);
            }
            CMD_WRITE_SECTORS | CMD_WRITE_SECTORS_EXT => {
                self.phase = Phase::PioOut;
                self.pos = 0;
                self.end = SECTOR;
                self.status = STAT_RDY | STAT_SKC | STAT_DRQ;
            }
            CMD_SET_FEATURES | CMD_INIT_DEVICE_PARAMS | CMD_RECALIBRATE => {
                self.phase = Phase::Idle;
                self.status = STAT_RDY | STAT_SKC;
            }
            // IDENTIFY PACKET DEVICE on a hard disk, and everything not
            // modelled: aborted, as QEMU does for commands a drive kind does
            // not support (ide_exec_cmd → ide_abort_command).
            _ => self.abort(),
        }
        if self.bm_cmd & BM_CMD_START != 0 && matches!(self.phase, Phase::DmaPending { .. }) {
            return IdeAction::StartDma;
        }
        IdeAction::None
    }

    fn start_dma_command(&mut self, lba: u64, count: u64, write: bool) {
        self.phase = Phase::DmaPending { lba, count, write };
        // ide_sector_start_dma: READY|SEEK|DRQ while the transfer runs.
        self.status = STAT_RDY | STAT_SKC | STAT_DRQ;
    }

    /// Performs the pending DMA transfer through the PRD table at the BMIDE
    /// table address (SFF-8038i: entries {u32 address, u16 byte count (0 =
    /// 64 KiB), u16 flags, bit 15 = end of table}). Returns the bytes moved.
    /// On a range error or a write, the command is aborted and the bus
    /// master reports an interrupt without ACTIVE (QEMU `ide_dma_error`).
    pub fn run_dma(&mut self, mem: &mut dyn DmaMemory) -> u64 {
        let Phase::DmaPending { lba, count, write } = self.phase else {
            return 0;
        };
        let in_range = lba.checked_add(count).is_some_and(|end| end <= self.sectors);
        if write || !in_range || self.bm_cmd & BM_CMD_MEMWRITE == 0 {
            self.abort();
            self.bm_status = (self.bm_status & !BM_STATUS_ACTIVE) | BM_STATUS_IRQ;
            return 0;
        }
        self.media.push((lba, count));
        let mut moved = 0u64;
        let total = count * SECTOR as u64;
        let mut prd = self.bm_prd;
        // At most 4096 descriptors: a table fills one 64 KiB-aligned region
        // per the spec; also bounds the loop on garbage tables.
        'table: for _ in 0..4096 {
            let mut d = [0u8; 8];
            mem.dma_read(prd, &mut d);
            let addr = u32::from_le_bytes([d[0], d[1], d[2], d[3]]) & !1;
            let len = match u32::from(u16::from_le_bytes([d[4], d[5]])) {
                0 => 0x1_0000,
                n => n & !1,
            };
            let eot = d[7] & 0x80 != 0;
            let mut off = 0u32;
            while off < len && moved < total {
                let sector = lba + moved / SECTOR as u64;
                let in_sector = (moved % SECTOR as u64) as usize;
                if in_sector == 0 {
                    if self.read_media(sector, lba + count - sector).is_none() {
                        self.abort();
                        self.bm_status = (self.bm_status & !BM_STATUS_ACTIVE) | BM_STATUS_IRQ;
                        return moved;
                    }
                    self.stats.sectors_read += 1;
                }
                let n = ((len - off) as usize).min(SECTOR - in_sector);
                mem.dma_write(addr.wrapping_add(off), &self.buf[in_sector..in_sector + n]);
                off += n as u32;
                moved += n as u64;
            }
            if moved >= total {
                break 'table;
            }
            if eot {
                break 'table;
            }
            prd = prd.wrapping_add(8);
        }
        self.stats.bytes_dma += moved;
        if moved < total {
            // PRD table shorter than the transfer: QEMU ends the command
            // with the bus master still ACTIVE and raises the IRQ.
            self.bm_status |= BM_STATUS_IRQ;
        } else {
            self.bm_status = (self.bm_status & !BM_STATUS_ACTIVE) | BM_STATUS_IRQ;
        }
        self.set_lba_registers(lba + moved.div_ceil(SECTOR as u64).saturating_sub(1));
        self.phase = Phase::Idle;
        self.status = STAT_RDY | STAT_SKC;
        moved
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use disk_image::MemImage;

    struct Mem(Vec<u8>);
    impl DmaMemory for Mem {
        fn dma_read(&mut self, addr: u32, buf: &mut [u8]) {
            let a = addr as usize;
            buf.copy_from_slice(&self.0[a..a + buf.len()]);
        }
        fn dma_write(&mut self, addr: u32, data: &[u8]) {
            let a = addr as usize;
            self.0[a..a + data.len()].copy_from_slice(data);
        }
    }

    fn disk(sectors: usize) -> IdeController {
        let mut bytes = vec![0u8; sectors * 512];
        for (i, s) in bytes.chunks_mut(512).enumerate() {
            s.fill(i as u8);
            s[0..8].copy_from_slice(&(i as u64).to_le_bytes());
        }
        let img: Arc<dyn ReadAt> = Arc::new(MemImage::new(bytes, "test"));
        IdeController::new(img, Chs { cylinders: 2, heads: 16, sectors: 63 })
    }

    #[test]
    fn identify_block_fields() {
        let id = identify_block(20480, Chs { cylinders: 20, heads: 16, sectors: 63 });
        let w = |i: usize| u16::from_le_bytes([id[2 * i], id[2 * i + 1]]);
        assert_eq!(w(0), 0x0040);
        assert_eq!((w(1), w(3), w(6)), (20, 16, 63));
        assert_eq!(u32::from(w(60)) | u32::from(w(61)) << 16, 20480);
        assert_eq!(w(83) & (1 << 10), 1 << 10, "LBA48 supported");
        assert_eq!(w(100), 20480);
        // "QEMU HARDDISK" byte-swapped per word.
        assert_eq!(&id[54..58], b"EQUM");
        assert_eq!(w(93), 0x6001);
    }

    #[test]
    fn seabios_pio_read_sequence() {
        let mut ide = disk(8);
        // ata_pio_cmd_data: DC nIEN, send_cmd, wait data, insl x128, status.
        ide.write(CTRL, 0x0A, 1);
        assert_eq!(ide.read(STATUS_CMD, 1) & 0x80, 0);
        assert_eq!(ide.read(DEVICE, 1), 0xA0);
        ide.write(DEVICE, 0x40 | 0xA0, 1);
        for (p, v) in [(0x1F1, 0), (0x1F2, 2), (0x1F3, 3), (0x1F4, 0), (0x1F5, 0)] {
            ide.write(p, v, 1);
        }
        ide.write(STATUS_CMD, u32::from(CMD_READ_SECTORS), 1);
        assert_eq!(ide.read(STATUS_CMD, 1), 0x58);
        let mut s = [0u8; 512];
        ide.read_data_string(&mut s);
        assert_eq!(u64::from_le_bytes(s[..8].try_into().unwrap()), 3);
        assert_eq!(ide.read(CTRL, 1), 0x58, "second sector ready");
        ide.read_data_string(&mut s);
        assert_eq!(s[8], 4);
        assert_eq!(ide.read(STATUS_CMD, 1), 0x50);
        assert_eq!(ide.stats.sectors_read, 2);
    }

    /// A PIO read of `count` sectors (0: 256) at `lba`: the LBA stamps of
    /// the sectors the guest gets.
    fn pio_read(ide: &mut IdeController, lba: u64, count: u8) -> Vec<u64> {
        ide.write(SECTOR_COUNT, u32::from(count), 1);
        ide.write(LBA_LOW, lba as u32 & 0xFF, 1);
        ide.write(LBA_MID, (lba >> 8) as u32 & 0xFF, 1);
        ide.write(LBA_HIGH, (lba >> 16) as u32 & 0xFF, 1);
        ide.write(DEVICE, 0xE0, 1);
        ide.write(STATUS_CMD, u32::from(CMD_READ_SECTORS), 1);
        let n = if count == 0 { 256 } else { usize::from(count) };
        (0..n)
            .map(|_| {
                let mut s = [0u8; 512];
                ide.read_data_string(&mut s);
                u64::from_le_bytes(s[..8].try_into().unwrap())
            })
            .collect()
    }

    /// The host read-ahead is invisible: every sector comes from its own
    /// place however commands overlap the window already read, and still
    /// counts as one medium read (a broken window would hand out the wrong
    /// sector or miss the last one of a 256-sector command).
    #[test]
    fn host_read_ahead_hands_out_each_sector_from_its_place() {
        let mut ide = disk(700);
        let got = pio_read(&mut ide, 300, 0);
        assert_eq!(got, (300..556).collect::<Vec<_>>());
        assert_eq!(pio_read(&mut ide, 10, 2), [10, 11], "before the window");
        assert_eq!(pio_read(&mut ide, 555, 3), [555, 556, 557], "across its end");
        assert_eq!(pio_read(&mut ide, 698, 2), [698, 699], "the disk's last sectors");
        // DMA of 2 sectors from 556 to 0x100 (one PRD entry at 0x1000).
        let mut mem = Mem(vec![0; 0x2000]);
        mem.0[0x1000..0x1008].copy_from_slice(&[0x00, 0x01, 0x00, 0x00, 0x00, 0x04, 0x00, 0x80]);
        ide.write(BMIDE_BASE + BM_TABLE, 0x1000, 4);
        ide.write(BMIDE_BASE + BM_CMD, u32::from(BM_CMD_MEMWRITE), 1);
        ide.write(DEVICE, 0xE0, 1);
        ide.write(SECTOR_COUNT, 2, 1);
        ide.write(LBA_LOW, 556 & 0xFF, 1);
        ide.write(LBA_MID, 556 >> 8, 1);
        ide.write(LBA_HIGH, 0, 1);
        ide.write(STATUS_CMD, u32::from(CMD_READ_DMA), 1);
        assert_eq!(ide.write(BMIDE_BASE + BM_CMD, u32::from(BM_CMD_MEMWRITE | 1), 1), IdeAction::StartDma);
        assert_eq!(ide.run_dma(&mut mem), 1024);
        let lba = |at: usize| u64::from_le_bytes(mem.0[at..at + 8].try_into().unwrap());
        assert_eq!((lba(0x100), lba(0x300)), (556, 557));
        assert_eq!(ide.stats.media_reads, 256 + 2 + 3 + 2 + 2);
    }

    /// An image that fails reads longer than one sector (as a truncated
    /// or failing medium may): each sector is then read alone.
    #[test]
    fn host_read_ahead_falls_back_to_the_sector() {
        struct OneSectorAtATime(MemImage);
        impl ReadAt for OneSectorAtATime {
            fn size(&self) -> u64 {
                self.0.size()
            }
            fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> disk_image::Result<()> {
                if buf.len() > 512 {
                    return self.0.read_exact_at(self.0.size(), buf);
                }
                self.0.read_exact_at(offset, buf)
            }
            fn describe(&self) -> String {
                self.0.describe()
            }
        }
        let mut bytes = vec![0u8; 64 * 512];
        for (i, s) in bytes.chunks_mut(512).enumerate() {
            s[0..8].copy_from_slice(&(i as u64).to_le_bytes());
        }
        let img: Arc<dyn ReadAt> = Arc::new(OneSectorAtATime(MemImage::new(bytes, "test")));
        let mut ide = IdeController::new(img, Chs { cylinders: 2, heads: 16, sectors: 63 });
        assert_eq!(pio_read(&mut ide, 5, 4), [5, 6, 7, 8]);
    }

    #[test]
    fn read_past_end_aborts_like_qemu() {
        let mut ide = disk(4);
        ide.write(LBA_LOW, 4, 1);
        ide.write(SECTOR_COUNT, 1, 1);
        ide.write(DEVICE, 0xE0, 1);
        ide.write(STATUS_CMD, u32::from(CMD_READ_SECTORS), 1);
        assert_eq!(ide.read(STATUS_CMD, 1), 0x41);
        assert_eq!(ide.read(ERR_FEATURE, 1), u32::from(ERR_ABRT));
        // LBA48 form with LBA 2^32: HOB byte first, then the low byte.
        for (p, hob, low) in [(SECTOR_COUNT, 0, 1), (LBA_LOW, 0, 0), (LBA_MID, 1, 0), (LBA_HIGH, 0, 0)] {
            ide.write(p, hob, 1);
            ide.write(p, low, 1);
        }
        ide.write(STATUS_CMD, u32::from(CMD_READ_SECTORS_EXT), 1);
        assert_eq!(ide.read(STATUS_CMD, 1), 0x41);
    }

    #[test]
    fn identify_packet_is_aborted_and_slave_reads_zero() {
        let mut ide = disk(4);
        ide.write(STATUS_CMD, u32::from(CMD_IDENTIFY_PACKET), 1);
        assert_eq!(ide.read(STATUS_CMD, 1), 0x41);
        ide.write(DEVICE, 0xB0, 1);
        ide.write(SECTOR_COUNT, 0x55, 1);
        assert_eq!(ide.read(SECTOR_COUNT, 1), 0x55);
        assert_eq!(ide.read(STATUS_CMD, 1), 0);
        assert_eq!(ide.read(DEVICE, 1), 0xB0);
    }

    #[test]
    fn unplugged_disk_reads_zero_and_ignores_commands() {
        let mut ide = disk(4);
        assert_ne!(ide.read(STATUS_CMD, 1), 0);
        ide.unplug();
        assert!(ide.is_unplugged());
        ide.write(SECTOR_COUNT, 1, 1);
        ide.write(DEVICE, 0xE0, 1);
        ide.write(STATUS_CMD, u32::from(CMD_READ_SECTORS), 1);
        assert_eq!(ide.read(STATUS_CMD, 1), 0);
        assert_eq!(ide.read(DATA, 2), 0);
        assert_eq!(ide.read(SECTOR_COUNT, 1), 0);
        assert_eq!(ide.stats.commands, 0);
        assert_eq!(ide.stats.sectors_read, 0);
        assert_eq!(ide.read(BMIDE_BASE + BM_STATUS, 1) as u8 & BM_STATUS_DRV0_DMA, 0);
    }

    #[test]
    fn dma_read_through_prd_table() {
        let mut ide = disk(8);
        let mut mem = Mem(vec![0; 0x20000]);
        // PRD at 0x1000: 1024 bytes to 0x8000, end of table.
        mem.0[0x1000..0x1008].copy_from_slice(&[0x00, 0x80, 0, 0, 0x00, 0x04, 0x00, 0x80]);
        ide.write(BMIDE_BASE + BM_TABLE, 0x1000, 4);
        ide.write(BMIDE_BASE + BM_CMD, u32::from(BM_CMD_MEMWRITE), 1);
        ide.write(BMIDE_BASE + BM_STATUS, 0x06, 1);
        ide.write(DEVICE, 0xE0, 1);
        ide.write(SECTOR_COUNT, 2, 1);
        ide.write(LBA_LOW, 5, 1);
        assert_eq!(ide.write(STATUS_CMD, u32::from(CMD_READ_DMA), 1), IdeAction::None);
        assert_eq!(ide.write(BMIDE_BASE + BM_CMD, u32::from(BM_CMD_MEMWRITE | 1), 1), IdeAction::StartDma);
        assert_eq!(ide.run_dma(&mut mem), 1024);
        assert_eq!(ide.read(BMIDE_BASE + BM_STATUS, 1) & 7, u32::from(BM_STATUS_IRQ));
        assert_eq!(mem.0[0x8000], 5);
        assert_eq!(mem.0[0x8200], 6);
        assert_eq!(ide.read(STATUS_CMD, 1), 0x50);
    }

    #[test]
    fn geometry_guess_follows_qemu() {
        let mut mbr = [0u8; 512];
        assert_eq!(guess_geometry(&mbr, 20480), (Chs { cylinders: 20, heads: 16, sectors: 63 }, Translation::None));
        mbr[510] = 0x55;
        mbr[511] = 0xAA;
        // Partition ending at head 254, sector 63: a >16-head BIOS geometry.
        mbr[0x1BE + 5] = 254;
        mbr[0x1BE + 6] = 63;
        mbr[0x1BE + 12] = 0x00;
        mbr[0x1BE + 13] = 0x40;
        // 16,450,560 sectors = 255*63*1024: 16,320 cylinders of 16 heads,
        // too many for LARGE (> 131072 cyls x heads) → LBA.
        assert_eq!(guess_geometry(&mbr, 16_450_560).1, Translation::Lba);
        assert_eq!(
            guess_geometry(&mbr, 1008 * 2000),
            (Chs { cylinders: 2000, heads: 16, sectors: 63 }, Translation::Large)
        );
        // Ending at head 15: taken as the physical geometry.
        mbr[0x1BE + 5] = 15;
        assert_eq!(guess_geometry(&mbr, 20160), (Chs { cylinders: 20, heads: 16, sectors: 63 }, Translation::None));
    }
}
