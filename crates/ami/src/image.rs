//! The image behind an AMI: its size and digest at register time, and the
//! check that it is still those bytes at launch.
//!
//! # The image digest
//!
//! Registries made by schema version 1 recorded the SHA-256 of the whole
//! file ([`DigestAlg::Sha256`]); their AMIs are still checked that way.
//! New AMIs record [`DigestAlg::Blocks512k`], defined over the file's
//! *contents* only:
//!
//! ```text
//! digest = SHA-256( SHA-256(block 0) || SHA-256(block 1) || … )
//! ```
//!
//! where block *i* is bytes `[i·512 KiB, (i+1)·512 KiB)` of the file (the
//! last block may be short; an empty file has no blocks). The size is
//! recorded beside it. This is the "linear" aggregation of per-block
//! SHA-256 checksums that the EBS direct APIs use for snapshots
//! (`PutSnapshotBlock` checksums, `CompleteSnapshot`
//! `ChecksumAggregationMethod=LINEAR`), with the EBS snapshot block size,
//! so a block is also the unit of [`crate::footprint`].
//!
//! Why not SHA-256 of the file: SHA-256 cannot skip input, so a 1 TiB
//! sparse image costs 1 TiB of compression (~10 minutes at 2 GB/s) even
//! when it holds 10 MiB of data. Here a whole block that lies in a hole
//! (found with `lseek(SEEK_DATA/SEEK_HOLE)`) contributes the constant
//! SHA-256 of 512 KiB of zeros without being read; a block read from disk
//! that happens to be all zero hashes to the same constant. So the digest
//! depends on the bytes only: a sparse file and its non-sparse copy (`cp
//! --sparse=never`) have the same digest, and files whose bytes differ
//! have different digests (as long as SHA-256 is collision resistant).
//!
//! Images are read through [`disk_image::RawImage`] (read-only, positioned
//! reads) in bounded chunks: memory use does not depend on the image size.

use std::path::Path;

use disk_image::{RawImage, ReadAt};
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::footprint::BLOCK_SIZE;
use crate::model::{Ami, hex};
use crate::{AmiError, Result};

/// How an AMI's image digest is defined (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum DigestAlg {
    /// SHA-256 of the whole file (registries of schema version 1).
    #[serde(rename = "sha256")]
    Sha256,
    /// SHA-256 over the SHA-256 of each 512 KiB block.
    #[serde(rename = "sha256-blocks-512k")]
    Blocks512k,
}

impl DigestAlg {
    /// What new AMIs record.
    pub const CURRENT: DigestAlg = DigestAlg::Blocks512k;

    pub fn name(self) -> &'static str {
        match self {
            DigestAlg::Sha256 => "sha256",
            DigestAlg::Blocks512k => "sha256-blocks-512k",
        }
    }

    pub fn from_name(s: &str) -> Option<DigestAlg> {
        match s {
            "sha256" => Some(DigestAlg::Sha256),
            "sha256-blocks-512k" => Some(DigestAlg::Blocks512k),
            _ => None,
        }
    }
}

impl std::fmt::Display for DigestAlg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The digest being computed, fed one [`BLOCK_SIZE`] block at a time in
/// order (the last may be short).
pub struct Hasher {
    alg: DigestAlg,
    outer: Sha256,
    /// SHA-256 of one block of zeros (the hash of every hole block).
    zero_block: [u8; 32],
    zeros: Vec<u8>,
}

impl Hasher {
    pub fn new(alg: DigestAlg) -> Hasher {
        let zeros = vec![0u8; BLOCK_SIZE as usize];
        let zero_block = Sha256::digest(&zeros).into();
        Hasher { alg, outer: Sha256::new(), zero_block, zeros }
    }

    /// The next block's bytes.
    pub fn block(&mut self, bytes: &[u8]) {
        match self.alg {
            DigestAlg::Sha256 => self.outer.update(bytes),
            DigestAlg::Blocks512k if bytes.len() == BLOCK_SIZE as usize && is_zero(bytes) => {
                self.outer.update(self.zero_block)
            }
            DigestAlg::Blocks512k => self.outer.update(Sha256::digest(bytes)),
        }
    }

    /// The next block is `len` bytes of zeros (a hole), not read.
    pub fn zero_block(&mut self, len: usize) {
        match self.alg {
            DigestAlg::Blocks512k if len == BLOCK_SIZE as usize => self.outer.update(self.zero_block),
            _ => {
                let zeros = std::mem::take(&mut self.zeros);
                self.block(&zeros[..len]);
                self.zeros = zeros;
            }
        }
    }

    /// Lowercase hex.
    pub fn finish(self) -> String {
        hex(&self.outer.finalize())
    }
}

fn is_zero(b: &[u8]) -> bool {
    // Eight bytes per compare: several times faster than a byte loop.
    let mut words = b.chunks_exact(8);
    words.by_ref().all(|w| w == [0u8; 8]) && words.remainder().iter().all(|&x| x == 0)
}

/// Where the file holds data: `[start, end)` ranges in order, from
/// `lseek(SEEK_DATA)` / `lseek(SEEK_HOLE)` (Linux lseek(2)). A file system
/// or device without hole reporting answers with the whole file as data,
/// as lseek(2) documents; any other error does the same here (reading a
/// hole just returns zeros, so the digest is the same, only slower).
pub(crate) struct DataExtents<'a> {
    file: &'a std::fs::File,
    size: u64,
    /// The current data range, `None` before the first lookup.
    current: Option<(u64, u64)>,
    /// Extent lookups failed: everything is data.
    no_holes: bool,
}

impl<'a> DataExtents<'a> {
    pub(crate) fn new(file: &'a std::fs::File, size: u64) -> Self {
        DataExtents { file, size, current: None, no_holes: false }
    }

    /// Whether `[start, end)` holds any data (else it is all hole).
    pub(crate) fn has_data(&mut self, start: u64, end: u64) -> bool {
        if self.no_holes {
            return true;
        }
        if self.current.is_none_or(|(_, e)| e <= start) {
            self.current = match self.next_data(start) {
                Some(r) => Some(r),
                None if self.no_holes => return true,
                None => Some((self.size, self.size)),
            };
        }
        let (d, _) = self.current.unwrap_or((self.size, self.size));
        d < end
    }

    /// The data range at or after `from`; `None` with `no_holes` clear
    /// when there is no more data.
    fn next_data(&mut self, from: u64) -> Option<(u64, u64)> {
        use rustix::fs::{SeekFrom, seek};
        match seek(self.file, SeekFrom::Data(from)) {
            Ok(d) => match seek(self.file, SeekFrom::Hole(d)) {
                Ok(h) => Some((d, h.min(self.size).max(d + 1))),
                Err(_) => {
                    self.no_holes = true;
                    None
                }
            },
            // ENXIO: no data at or after `from`.
            Err(rustix::io::Errno::NXIO) => None,
            Err(_) => {
                self.no_holes = true;
                None
            }
        }
    }
}

/// Size and digest (`alg`) of what `image` holds, reading only its data
/// extents. `progress` is called with the bytes covered so far.
pub fn digest_with(image: &RawImage, alg: DigestAlg, progress: &mut dyn FnMut(u64)) -> Result<(u64, String)> {
    let size = image.size();
    let mut h = Hasher::new(alg);
    let mut extents = DataExtents::new(image.file(), size);
    let mut buf = vec![0u8; BLOCK_SIZE as usize];
    let mut off = 0u64;
    let mut reported = 0u64;
    while off < size {
        let len = (size - off).min(BLOCK_SIZE);
        // len <= BLOCK_SIZE, a usize.
        let n = len as usize;
        if extents.has_data(off, off + len) {
            image.read_exact_at(off, &mut buf[..n])?;
            h.block(&buf[..n]);
        } else {
            h.zero_block(n);
        }
        off += len;
        if off - reported >= 256 * BLOCK_SIZE || off == size {
            progress(off);
            reported = off;
        }
    }
    Ok((size, h.finish()))
}

/// Size and digest ([`DigestAlg::CURRENT`]) of what `image` holds.
pub fn digest(image: &RawImage) -> Result<(u64, String)> {
    digest_with(image, DigestAlg::CURRENT, &mut |_| {})
}

/// Opens `path` read-only, mapping "not there" to [`AmiError::ImageMissing`].
pub fn open(ami: &str, path: &Path) -> Result<RawImage> {
    if let Err(source) = std::fs::metadata(path) {
        return Err(AmiError::ImageMissing { ami: ami.to_string(), path: path.to_path_buf(), source });
    }
    Ok(RawImage::open(path)?)
}

/// Opens the AMI's image and checks that its size and digest are the
/// registered ones; the returned handle is the one that was hashed, so the
/// boot reads the file that was checked (not a file renamed over it since).
pub fn open_verified(ami: &Ami, progress: &mut dyn FnMut(u64)) -> Result<RawImage> {
    let image = open(ami.id.as_str(), &ami.image)?;
    let (size, digest) = digest_with(&image, ami.image_digest_alg, progress)?;
    if size != ami.image_size || digest != ami.image_digest {
        return Err(AmiError::ImageChanged {
            ami: ami.id.to_string(),
            path: ami.image.clone(),
            alg: ami.image_digest_alg,
            registered_size: ami.image_size,
            registered_digest: ami.image_digest.clone(),
            current_size: size,
            current_digest: digest,
        });
    }
    Ok(image)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_digest_definition() {
        // Two full blocks and a short one, computed by the definition.
        let bytes: Vec<u8> = (0..(2 * BLOCK_SIZE + 100)).map(|i| (i % 251) as u8).collect();
        let mut outer = Sha256::new();
        for b in bytes.chunks(BLOCK_SIZE as usize) {
            outer.update(Sha256::digest(b));
        }
        let want = hex(&outer.finalize());
        let mut h = Hasher::new(DigestAlg::Blocks512k);
        for b in bytes.chunks(BLOCK_SIZE as usize) {
            h.block(b);
        }
        assert_eq!(h.finish(), want);
        // A hole block hashes as zeros read from disk.
        let mut a = Hasher::new(DigestAlg::Blocks512k);
        a.zero_block(BLOCK_SIZE as usize);
        a.zero_block(10);
        let mut b = Hasher::new(DigestAlg::Blocks512k);
        b.block(&vec![0u8; BLOCK_SIZE as usize]);
        b.block(&[0u8; 10]);
        assert_eq!(a.finish(), b.finish());
        // The version-1 definition is the SHA-256 of the bytes.
        let mut w = Hasher::new(DigestAlg::Sha256);
        w.block(&bytes[..5]);
        w.zero_block(3);
        assert_eq!(w.finish(), hex(&Sha256::digest([0, 1, 2, 3, 4, 0, 0, 0])));
        assert!(is_zero(&[0; 13]) && !is_zero(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 1]) && !is_zero(&[1, 0, 0, 0, 0, 0, 0, 0]));
    }
}
