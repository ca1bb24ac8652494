//! What storing a chain of AMIs costs (`boot-sim ami footprint`).
//!
//! The chain is the AMIs given, ordered by creation time (ties: registry
//! order): each is taken to be made from the ones before it.
//!
//! - **Instance-store** AMIs are bundles of the whole image: each stores a
//!   full copy, `image_size` bytes, whatever came before.
//! - **EBS-backed** AMIs are snapshots, and snapshots are incremental. The
//!   image is cut into [`BLOCK_SIZE`] blocks (512 KiB, the EBS snapshot
//!   block size of the EBS direct APIs); the last block may be short. Block
//!   *i* is compared with block *i* of the **base**: the nearest earlier
//!   EBS-backed AMI in the chain (an instance-store AMI is not a snapshot
//!   and cannot be one's parent), or, when there is none, a fresh volume
//!   that reads as zeros. Bytes past the end of a shorter base read as
//!   zeros too. Then:
//!   - *changed*: the block's bytes differ from the base's;
//!   - *stored*: changed **and** not all zero. A block that is all zero is
//!     never stored — a fresh volume reads zeros without storing them, and
//!     a block that became zero is recorded as such without data. So the
//!     first EBS AMI of a chain stores exactly its non-zero blocks.
//!   - stored bytes = the sum of the stored blocks' lengths (a short last
//!     block counts its real length).
//!
//! Images are read read-only, block by block, two 512 KiB buffers at a
//! time; each image's size and digest are checked against the registry
//! while it is read (an image that changed since register is an error).

use disk_image::{RawImage, ReadAt};
use serde::Serialize;

use crate::image::{DataExtents, Hasher};
use crate::model::{Ami, AmiId, RootDeviceType};
use crate::{AmiError, Result, image};

pub const BLOCK_SIZE: u64 = 512 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FootprintEntry {
    pub id: AmiId,
    pub name: String,
    pub root_device: RootDeviceType,
    pub created: i64,
    pub image_size: u64,
    /// Blocks in the image (the last may be short).
    pub blocks: u64,
    /// The AMI an EBS snapshot is incremental to (`None`: a fresh volume,
    /// or an instance-store AMI).
    pub base: Option<AmiId>,
    /// EBS: blocks whose bytes differ from the base. Instance store: all.
    pub changed_blocks: u64,
    /// EBS: changed blocks that became all zero (changed, not stored).
    pub zeroed_blocks: u64,
    pub stored_blocks: u64,
    pub stored_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Footprint {
    pub block_size: u64,
    pub entries: Vec<FootprintEntry>,
    pub total_stored_bytes: u64,
    /// What the chain would take as full copies (for comparison).
    pub total_image_bytes: u64,
}

/// The footprint of `amis` as a chain, ordered by creation.
pub fn footprint(amis: &[Ami]) -> Result<Footprint> {
    let mut chain: Vec<&Ami> = amis.iter().collect();
    chain.sort_by_key(|a| a.created); // stable: ties keep the given order
    let mut entries = Vec::with_capacity(chain.len());
    let mut base: Option<&Ami> = None;
    for ami in chain {
        let entry = match ami.root_device {
            RootDeviceType::InstanceStore => full_copy(ami)?,
            RootDeviceType::Ebs => {
                let e = incremental(ami, base)?;
                base = Some(ami);
                e
            }
        };
        entries.push(entry);
    }
    Ok(Footprint {
        block_size: BLOCK_SIZE,
        total_stored_bytes: entries.iter().map(|e| e.stored_bytes).sum(),
        total_image_bytes: entries.iter().map(|e| e.image_size).sum(),
        entries,
    })
}

fn blocks_of(size: u64) -> u64 {
    size.div_ceil(BLOCK_SIZE)
}

fn entry(ami: &Ami, base: Option<&Ami>) -> FootprintEntry {
    FootprintEntry {
        id: ami.id.clone(),
        name: ami.name.clone(),
        root_device: ami.root_device,
        created: ami.created,
        image_size: ami.image_size,
        blocks: blocks_of(ami.image_size),
        base: base.map(|b| b.id.clone()),
        changed_blocks: 0,
        zeroed_blocks: 0,
        stored_blocks: 0,
        stored_bytes: 0,
    }
}

fn open_sized(ami: &Ami) -> Result<RawImage> {
    let img = image::open(ami.id.as_str(), &ami.image)?;
    if img.size() != ami.image_size {
        // Hash it for the message: both digests are what the user needs.
        let (size, digest) = image::digest_with(&img, ami.image_digest_alg, &mut |_| {})?;
        return Err(changed(ami, size, digest));
    }
    Ok(img)
}

fn changed(ami: &Ami, current_size: u64, current_digest: String) -> AmiError {
    AmiError::ImageChanged {
        ami: ami.id.to_string(),
        path: ami.image.clone(),
        alg: ami.image_digest_alg,
        registered_size: ami.image_size,
        registered_digest: ami.image_digest.clone(),
        current_size,
        current_digest,
    }
}

fn full_copy(ami: &Ami) -> Result<FootprintEntry> {
    let img = open_sized(ami)?;
    let (size, digest) = image::digest_with(&img, ami.image_digest_alg, &mut |_| {})?;
    if digest != ami.image_digest {
        return Err(changed(ami, size, digest));
    }
    let mut e = entry(ami, None);
    e.changed_blocks = e.blocks;
    e.stored_blocks = e.blocks;
    e.stored_bytes = ami.image_size;
    Ok(e)
}

fn incremental(ami: &Ami, base: Option<&Ami>) -> Result<FootprintEntry> {
    let img = open_sized(ami)?;
    let base_img = base.map(open_sized).transpose()?;
    let base_size = base_img.as_ref().map_or(0, |b| b.size());
    let mut e = entry(ami, base);
    let mut cur = vec![0u8; BLOCK_SIZE as usize];
    let mut old = vec![0u8; BLOCK_SIZE as usize];
    let mut h = Hasher::new(ami.image_digest_alg);
    // Blocks in holes are zeros without being read (a 1 TiB sparse image
    // costs its data, not its size).
    let mut cur_data = DataExtents::new(img.file(), img.size());
    let mut base_data = base_img.as_ref().map(|b| DataExtents::new(b.file(), b.size()));
    for i in 0..e.blocks {
        let off = i * BLOCK_SIZE;
        let len = (ami.image_size - off).min(BLOCK_SIZE) as usize;
        let cur_hole = !cur_data.has_data(off, off + len as u64);
        let base_n = (base_size.saturating_sub(off)).min(len as u64);
        let base_hole = base_data.as_mut().is_none_or(|d| base_n == 0 || !d.has_data(off, off + base_n));
        if cur_hole && base_hole {
            // Zero now and zero before: unchanged.
            h.zero_block(len);
            continue;
        }
        let cur = &mut cur[..len];
        if cur_hole {
            cur.fill(0);
            h.zero_block(len);
        } else {
            img.read_exact_at(off, cur)?;
            h.block(cur);
        }
        let old = &mut old[..len];
        old.fill(0);
        if let Some(b) = &base_img
            && !base_hole
        {
            b.read_exact_at(off, &mut old[..base_n as usize])?;
        }
        if cur != old {
            e.changed_blocks += 1;
            if cur.iter().all(|&b| b == 0) {
                e.zeroed_blocks += 1;
            } else {
                e.stored_blocks += 1;
                e.stored_bytes += len as u64;
            }
        }
    }
    let digest = h.finish();
    if digest != ami.image_digest {
        return Err(changed(ami, ami.image_size, digest));
    }
    Ok(e)
}
