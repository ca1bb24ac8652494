//! Workloads: which sectors to read, in which order, how many at once.

use std::sync::Arc;

use disk_image::MemImage;
use serde::Serialize;

use super::{BenchError, SECTOR};

/// The access pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkloadKind {
    /// Consecutive blocks from the start of the disk.
    Seq,
    /// Block-aligned blocks at pseudo-random positions (deterministic).
    Rand,
    /// The reads a booting system makes: the files under `/boot`, `/etc`
    /// and `/usr/lib` of the image's filesystems, as the filesystem code
    /// reads them (metadata and data), each 4 KiB page once.
    Boot,
}

impl WorkloadKind {
    pub fn name(self) -> &'static str {
        match self {
            WorkloadKind::Seq => "seq",
            WorkloadKind::Rand => "rand",
            WorkloadKind::Boot => "boot",
        }
    }
}

/// A run of consecutive sectors: one workload request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Extent {
    pub sector: u64,
    pub sectors: u64,
}

/// Reads of `total_bytes` in blocks of `block_bytes`, `queue_depth`
/// outstanding at a time (where the path can queue).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Workload {
    pub kind: WorkloadKind,
    pub total_bytes: u64,
    pub block_bytes: u64,
    pub queue_depth: u32,
    /// Seed of the random positions (xorshift64*).
    pub seed: u64,
    /// [`WorkloadKind::Boot`]: the device requests the page cache makes,
    /// in order (the same on every path).
    #[serde(skip)]
    pub recorded: Vec<Extent>,
    /// [`WorkloadKind::Boot`]: FNV-1a of the bytes those requests read.
    #[serde(skip)]
    pub digest: u64,
    /// [`WorkloadKind::Boot`]: file data the walk reads at most.
    #[serde(skip)]
    pub file_budget: u64,
}

impl Workload {
    pub fn seq(total_bytes: u64, block_bytes: u64) -> Workload {
        Workload {
            kind: WorkloadKind::Seq,
            total_bytes,
            block_bytes,
            queue_depth: 1,
            seed: 0,
            recorded: Vec::new(),
            digest: 0,
            file_budget: 0,
        }
    }

    pub fn rand(total_bytes: u64, block_bytes: u64, queue_depth: u32) -> Workload {
        Workload {
            kind: WorkloadKind::Rand,
            total_bytes,
            block_bytes,
            queue_depth,
            seed: 0x9E37_79B9_7F4A_7C15,
            recorded: Vec::new(),
            digest: 0,
            file_budget: 0,
        }
    }

    /// The default report: 64 MiB sequential in 4, 64 and 256 KiB blocks,
    /// and 64 MiB of random 4 KiB reads at queue depth 32.
    pub fn default_set() -> Vec<Workload> {
        let mib = 1 << 20;
        vec![
            Workload::seq(64 * mib, 4 << 10),
            Workload::seq(64 * mib, 64 << 10),
            Workload::seq(64 * mib, 256 << 10),
            Workload::rand(64 * mib, 4 << 10, 32),
        ]
    }

    /// Sectors of disk the workload needs (sequential: its size; random:
    /// at least one block).
    pub fn disk_sectors_needed(&self) -> u64 {
        match self.kind {
            WorkloadKind::Seq => self.total_bytes.div_ceil(SECTOR),
            WorkloadKind::Rand => self.block_bytes.div_ceil(SECTOR),
            WorkloadKind::Boot => self.recorded.iter().map(|e| e.sector + e.sectors).max().unwrap_or(0),
        }
    }

    /// The requests on a disk of `disk_sectors` sectors.
    pub fn extents(&self, disk_sectors: u64) -> Result<Vec<Extent>, BenchError> {
        if self.kind == WorkloadKind::Boot {
            if self.recorded.is_empty() {
                return Err(BenchError::Config("the boot workload found no files to read".into()));
            }
            if self.disk_sectors_needed() > disk_sectors {
                return Err(BenchError::Config("the boot workload's reads lie past the end of this image".into()));
            }
            return Ok(self.recorded.clone());
        }
        if self.block_bytes == 0 || !self.block_bytes.is_multiple_of(SECTOR) {
            return Err(BenchError::Config(format!(
                "block size {} is not a positive multiple of 512",
                self.block_bytes
            )));
        }
        if self.queue_depth == 0 {
            return Err(BenchError::Config("queue depth must be at least 1".into()));
        }
        let block = self.block_bytes / SECTOR;
        let total = self.total_bytes.div_ceil(SECTOR);
        if total == 0 {
            return Err(BenchError::Config("the workload reads nothing".into()));
        }
        let needed = self.disk_sectors_needed();
        if needed > disk_sectors {
            return Err(BenchError::Config(format!(
                "the {} workload needs {} bytes of disk; the image has {}",
                self.kind.name(),
                needed * SECTOR,
                disk_sectors * SECTOR
            )));
        }
        let count = total.div_ceil(block);
        let mut v = Vec::with_capacity(count as usize);
        match self.kind {
            WorkloadKind::Seq => {
                let mut s = 0;
                while s < total {
                    let n = block.min(total - s);
                    v.push(Extent { sector: s, sectors: n });
                    s += n;
                }
            }
            WorkloadKind::Boot => unreachable!("returned above"),
            WorkloadKind::Rand => {
                let slots = disk_sectors / block;
                let mut x = self.seed | 1;
                for _ in 0..count {
                    x ^= x >> 12;
                    x ^= x << 25;
                    x ^= x >> 27;
                    let r = x.wrapping_mul(0x2545_F491_4F6C_DD1D);
                    v.push(Extent { sector: (r % slots) * block, sectors: block });
                }
            }
        }
        Ok(v)
    }
}

/// An in-memory image of `bytes` (rounded up to a sector) whose every
/// sector starts with its LBA, so misplaced data is caught.
pub fn synthetic_image(bytes: u64) -> Arc<MemImage> {
    let bytes = bytes.div_ceil(SECTOR) * SECTOR;
    let mut v = vec![0u8; bytes as usize];
    for (lba, s) in v.chunks_exact_mut(SECTOR as usize).enumerate() {
        s[..8].copy_from_slice(&(lba as u64).to_le_bytes());
        s[8] = lba as u8 ^ 0xA5;
        s[511] = (lba >> 8) as u8;
    }
    Arc::new(MemImage::new(v, "synthetic image"))
}
