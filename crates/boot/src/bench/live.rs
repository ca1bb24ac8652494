//! The `boot` workload run live: the filesystem code (partition table,
//! superblocks, inodes, directories, extents, file data) reads the disk
//! through a page cache whose misses become requests on one I/O path's
//! device — ATA commands on the emulated IDE controller, or blkif requests
//! with grants and notifies on blkfront's ring — on that path's clock.
//!
//! The page cache keeps each 4 KiB page once, as Linux's does after the
//! first read; the pages one read misses, if consecutive, are one request
//! (the block layer's merge of a read's bios). The requests do not depend
//! on the path, so every path reads the same bytes in the same order: the
//! run records the requests and an FNV-1a digest of the delivered bytes,
//! which [`super::run`] checks against a direct read of the image. That
//! reference pass ([`Workload::boot_read`]) is the same walk on a
//! [`Direct`] device, so it lives here with the walk.

use std::borrow::BorrowMut;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use disk_image::fs::{Filesystem, NodeKind};
use disk_image::{ByteOffset, Disk, DiskError, ReadAt};
use serde::Serialize;

use super::ata::{AtaDriver, MAX_SECTORS_PER_COMMAND};
use super::workload::{Extent, Workload, WorkloadKind};
use super::{BenchError, SECTOR};
use crate::devices::xen::PvIo;
use crate::hvm::bus::HvmBus;

const PAGE: u64 = 4096;
const SECTORS_PER_PAGE: u64 = PAGE / SECTOR;

/// A path's block device: reads whole sectors into `dst`.
pub(crate) trait BlockDevice: Send {
    fn read(&mut self, sector: u64, dst: &mut [u8]) -> Result<(), BenchError>;
}

/// The image itself, uncosted: the reference run.
pub(crate) struct Direct(pub Arc<dyn ReadAt>);

impl BlockDevice for Direct {
    fn read(&mut self, sector: u64, dst: &mut [u8]) -> Result<(), BenchError> {
        Ok(self.0.read_exact_at(sector * SECTOR, dst)?)
    }
}

/// The emulated IDE controller, driven as SeaBIOS's `ata.c` drives it
/// ([`AtaDriver`]), one ATA command per ≤ [`MAX_SECTORS_PER_COMMAND`]
/// sectors into a guest buffer at `buffer` (PRD table at `prd`).
pub(crate) struct IdeDevice<B> {
    pub bus: B,
    pub dma: bool,
    pub pio32: bool,
    pub buffer: u64,
    pub prd: u32,
}

impl<B: BorrowMut<HvmBus> + Send> BlockDevice for IdeDevice<B> {
    fn read(&mut self, sector: u64, dst: &mut [u8]) -> Result<(), BenchError> {
        let mut driver = AtaDriver::at(self.bus.borrow_mut(), self.pio32, self.buffer, self.prd);
        for (i, chunk) in dst.chunks_mut((MAX_SECTORS_PER_COMMAND * SECTOR) as usize).enumerate() {
            let n = chunk.len() as u64 / SECTOR;
            driver.read(Extent { sector: sector + i as u64 * MAX_SECTORS_PER_COMMAND, sectors: n }, self.dma)?;
            chunk.copy_from_slice(&driver.buffer(n)?);
        }
        Ok(())
    }
}

/// blkfront over the blkif ring ([`PvIo::read_sectors`]).
pub(crate) struct PvDevice(pub PvIo);

impl BlockDevice for PvDevice {
    fn read(&mut self, sector: u64, dst: &mut [u8]) -> Result<(), BenchError> {
        Ok(self.0.read_sectors(sector, dst)?)
    }
}

/// What a live run read.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BootReads {
    /// The device requests, in order.
    pub requests: Vec<Extent>,
    /// Bytes the device delivered.
    pub bytes: u64,
    /// File data the filesystem walk read (at most the budget).
    pub file_bytes: u64,
    /// FNV-1a (64-bit) of the delivered bytes, in order.
    pub digest: u64,
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    for &b in bytes {
        h = (h ^ u64::from(b)).wrapping_mul(FNV_PRIME);
    }
    h
}

struct Cache<D> {
    dev: D,
    sectors: u64,
    pages: HashMap<u64, Box<[u8]>>,
    reads: BootReads,
    error: Option<BenchError>,
}

impl<D: BlockDevice> Cache<D> {
    /// Reads pages `first..end` (consecutive misses) in one request.
    fn fill(&mut self, first: u64, end: u64) -> Result<(), String> {
        let sector = first * SECTORS_PER_PAGE;
        let sectors = (end * SECTORS_PER_PAGE).min(self.sectors).saturating_sub(sector);
        if sectors == 0 {
            return Err(format!("page {first} lies past the last sector"));
        }
        let mut buf = vec![0u8; (sectors * SECTOR) as usize];
        if let Err(e) = self.dev.read(sector, &mut buf) {
            let msg = e.to_string();
            self.error.get_or_insert(e);
            return Err(msg);
        }
        self.reads.requests.push(Extent { sector, sectors });
        self.reads.bytes += sectors * SECTOR;
        self.reads.digest = fnv1a(self.reads.digest, &buf);
        for (i, chunk) in buf.chunks(PAGE as usize).enumerate() {
            let mut page = vec![0u8; PAGE as usize].into_boxed_slice();
            page[..chunk.len()].copy_from_slice(chunk);
            self.pages.insert(first + i as u64, page);
        }
        Ok(())
    }
}

/// A [`ReadAt`] over a page cache over a [`BlockDevice`]; whole sectors.
struct LiveDisk<D> {
    cache: Mutex<Cache<D>>,
    size: u64,
    name: String,
}

impl<D: BlockDevice> ReadAt for LiveDisk<D> {
    fn size(&self) -> u64 {
        self.size
    }

    fn describe(&self) -> String {
        self.name.clone()
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> disk_image::Result<()> {
        let len = buf.len();
        let err = |detail: String| DiskError::Io {
            what: self.name.clone(),
            offset: ByteOffset(offset),
            len,
            source: std::io::Error::other(detail),
        };
        let end = offset.checked_add(buf.len() as u64).filter(|&e| e <= self.size);
        let Some(end) = end else { return Err(err("past the end of the disk".into())) };
        if buf.is_empty() {
            return Ok(());
        }
        let mut c = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
        let (first, last) = (offset / PAGE, end.div_ceil(PAGE));
        let mut p = first;
        while p < last {
            if c.pages.contains_key(&p) {
                p += 1;
                continue;
            }
            let mut q = p + 1;
            while q < last && !c.pages.contains_key(&q) {
                q += 1;
            }
            c.fill(p, q).map_err(err)?;
            p = q;
        }
        let mut at = offset;
        let mut done = 0usize;
        while done < buf.len() {
            let page = at / PAGE;
            let skip = (at % PAGE) as usize;
            let n = (PAGE as usize - skip).min(buf.len() - done);
            let data = c.pages.get(&page).ok_or_else(|| err(format!("page {page} missing after its read")))?;
            buf[done..done + n].copy_from_slice(&data[skip..skip + n]);
            done += n;
            at += n as u64;
        }
        Ok(())
    }
}

/// Reads the files under [`BOOT_READ_DIRS`] of every filesystem on
/// `disk` until `max_bytes` of file data; returns the file bytes read.
fn read_boot_files(disk: Arc<dyn ReadAt>, max_bytes: u64) -> Result<u64, BenchError> {
    // The partitions' filesystems, as before LVs were devices (their reads,
    // and so the measured counters, stay the same).
    let disk = Disk::from_reader_without_lvm(disk)?;
    let mut budget = max_bytes;
    for v in disk.volumes() {
        let Ok(fs) = disk.open_fs(v) else { continue };
        for dir in BOOT_READ_DIRS {
            walk(&*fs, dir, 0, &mut budget);
        }
    }
    Ok(max_bytes - budget)
}

/// Runs the boot workload (file data up to `max_bytes`) on `dev`, a disk
/// of `sectors` sectors. Returns the device back with the outcome; the
/// outer error only if the filesystem code kept a handle to the disk.
pub(crate) fn boot_live<D: BlockDevice + 'static>(
    dev: D,
    sectors: u64,
    name: String,
    max_bytes: u64,
) -> Result<(D, Result<BootReads, BenchError>), BenchError> {
    let reads = BootReads { requests: Vec::new(), bytes: 0, file_bytes: 0, digest: FNV_OFFSET };
    let cache = Cache { dev, sectors, pages: HashMap::new(), reads, error: None };
    let live = Arc::new(LiveDisk { cache: Mutex::new(cache), size: sectors * SECTOR, name });
    let walked = read_boot_files(live.clone(), max_bytes);
    let live = Arc::try_unwrap(live).map_err(|_| BenchError::Config("the filesystem code kept the disk".into()))?;
    let c = live.cache.into_inner().unwrap_or_else(PoisonError::into_inner);
    let outcome = match (c.error, walked) {
        (Some(e), _) | (None, Err(e)) => Err(e),
        (None, Ok(file_bytes)) => Ok(BootReads { file_bytes, ..c.reads }),
    };
    Ok((c.dev, outcome))
}

/// Checks a live run against the reference: the same requests and bytes.
pub(crate) fn same_reads(path: &'static str, want: &[Extent], digest: u64, got: &BootReads) -> Result<(), BenchError> {
    if got.requests == want && got.digest == digest {
        return Ok(());
    }
    let at = got.requests.iter().zip(want).position(|(a, b)| a != b).unwrap_or(want.len().min(got.requests.len()));
    let sector = got.requests.get(at).or(want.get(at)).map_or(0, |e| e.sector);
    Err(BenchError::DataMismatch { path, sector })
}

/// Directories a booting Linux system reads from (issue 8).
pub const BOOT_READ_DIRS: [&str; 3] = ["/boot", "/etc", "/usr/lib"];

impl Workload {
    /// The boot-read workload of `image`: every filesystem the partition
    /// table names is opened and the regular files under
    /// [`BOOT_READ_DIRS`] are read in directory order until `max_bytes` of
    /// file data. The filesystem code reads through a page cache (each
    /// 4 KiB page once; one request per run of pages a read misses), one
    /// request at a time. This reference pass reads the image directly
    /// (no simulated cost) and records the requests and a digest of their
    /// bytes; the bench runs the same reads live on each path
    /// (`bench::live`) and checks that they match.
    pub fn boot_read(image: Arc<dyn ReadAt>, max_bytes: u64) -> Result<Workload, BenchError> {
        let sectors = image.size() / SECTOR;
        let (_, reads) = boot_live(Direct(image.clone()), sectors, image.describe(), max_bytes)?;
        let reads = reads?;
        Ok(Workload {
            kind: WorkloadKind::Boot,
            total_bytes: reads.bytes,
            block_bytes: PAGE,
            queue_depth: 1,
            seed: 0,
            recorded: reads.requests,
            digest: reads.digest,
            file_budget: max_bytes,
        })
    }
}

/// Reads the regular files under `dir`, depth first in name order, until
/// the budget is spent (directories at most 16 deep).
fn walk(fs: &dyn Filesystem, dir: &str, depth: usize, budget: &mut u64) {
    if depth > 16 || *budget == 0 {
        return;
    }
    let Ok(mut entries) = fs.list_dir(dir) else { return };
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    for e in entries {
        if *budget == 0 {
            return;
        }
        let path = if dir.ends_with('/') { format!("{dir}{}", e.name) } else { format!("{dir}/{}", e.name) };
        match e.kind {
            NodeKind::Directory => walk(fs, &path, depth + 1, budget),
            NodeKind::File => {
                if let Ok(data) = fs.read_file(&path, *budget) {
                    *budget = budget.saturating_sub(data.len() as u64);
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use disk_image::MemImage;

    /// Counts requests; fails past `fail_at`.
    struct Counting {
        image: Arc<dyn ReadAt>,
        calls: u32,
        fail_at: u32,
    }

    impl BlockDevice for Counting {
        fn read(&mut self, sector: u64, dst: &mut [u8]) -> Result<(), BenchError> {
            self.calls += 1;
            if self.calls > self.fail_at {
                return Err(BenchError::Config("device failed".into()));
            }
            Ok(self.image.read_exact_at(sector * SECTOR, dst)?)
        }
    }

    #[test]
    fn the_cache_reads_each_page_once_and_merges_a_reads_misses() {
        let data: Vec<u8> = (0..5 * PAGE + 512).map(|i| (i % 251) as u8).collect();
        let image: Arc<dyn ReadAt> = Arc::new(MemImage::new(data.clone(), "t"));
        let sectors = image.size() / SECTOR;
        let dev = Counting { image, calls: 0, fail_at: u32::MAX };
        let cache = Cache {
            dev,
            sectors,
            pages: HashMap::new(),
            reads: BootReads { requests: vec![], bytes: 0, file_bytes: 0, digest: FNV_OFFSET },
            error: None,
        };
        let d = LiveDisk { cache: Mutex::new(cache), size: sectors * SECTOR, name: "t".into() };
        let mut b = vec![0u8; 100];
        d.read_exact_at(PAGE + 7, &mut b).unwrap();
        assert_eq!(b, data[PAGE as usize + 7..PAGE as usize + 107]);
        let mut b = vec![0u8; 3 * PAGE as usize];
        d.read_exact_at(2 * PAGE + 512, &mut b).unwrap();
        assert_eq!(b, data[2 * PAGE as usize + 512..]);
        // Page 1 again: a hit.
        d.read_exact_at(PAGE, &mut [0u8; 8]).unwrap();
        let c = d.cache.lock().unwrap();
        assert_eq!(c.dev.calls, 2);
        // Pages 2..=5, the last one a single sector (the disk's end).
        assert_eq!(c.reads.requests, vec![Extent { sector: 8, sectors: 8 }, Extent { sector: 16, sectors: 25 }]);
        assert_eq!(c.reads.bytes, 33 * 512);
        assert!(d.read_exact_at(5 * PAGE, &mut [0u8; 513]).is_err());
    }

    #[test]
    fn a_device_error_is_the_outcome() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images/pv-kernel.img");
        let image: Arc<dyn ReadAt> = Arc::new(disk_image::RawImage::open(&path).unwrap());
        let sectors = image.size() / SECTOR;
        let (dev, r) =
            boot_live(Counting { image: image.clone(), calls: 0, fail_at: 1 }, sectors, "t".into(), 1 << 20).unwrap();
        assert!(dev.calls >= 2);
        assert!(matches!(r, Err(BenchError::Config(m)) if m == "device failed"));
        let (_, r) = boot_live(Direct(image), sectors, "t".into(), 1 << 20).unwrap();
        let r = r.unwrap();
        assert!(r.file_bytes > 0 && r.bytes >= r.file_bytes && !r.requests.is_empty());
    }
}
