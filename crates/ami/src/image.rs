//! The image behind an AMI: its size and SHA-256 at register time, and the
//! check that it is still those bytes at launch.
//!
//! Images are read through [`disk_image::RawImage`] (read-only, positioned
//! reads) in bounded chunks: memory use does not depend on the image size.

use std::path::Path;

use disk_image::{RawImage, ReadAt};
use sha2::{Digest, Sha256};

use crate::model::{Ami, hex};
use crate::{AmiError, Result};

/// Bytes read per step when hashing.
const CHUNK: usize = 1 << 20;

/// Size and lowercase-hex SHA-256 of what `image` holds.
pub fn digest(image: &dyn ReadAt) -> Result<(u64, String)> {
    let size = image.size();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut off = 0u64;
    while off < size {
        let n = usize::try_from((size - off).min(CHUNK as u64)).unwrap_or(CHUNK);
        image.read_exact_at(off, &mut buf[..n])?;
        h.update(&buf[..n]);
        off += n as u64;
    }
    Ok((size, hex(&h.finalize())))
}

/// Opens `path` read-only, mapping "not there" to [`AmiError::ImageMissing`].
pub fn open(ami: &str, path: &Path) -> Result<RawImage> {
    if let Err(source) = std::fs::metadata(path) {
        return Err(AmiError::ImageMissing { ami: ami.to_string(), path: path.to_path_buf(), source });
    }
    Ok(RawImage::open(path)?)
}

/// Opens the AMI's image and checks that its size and SHA-256 are the
/// registered ones; the returned handle is the one that was hashed, so the
/// boot reads the file that was checked (not a file renamed over it since).
pub fn open_verified(ami: &Ami) -> Result<RawImage> {
    let image = open(ami.id.as_str(), &ami.image)?;
    let (size, sha) = digest(&image)?;
    if size != ami.image_size || sha != ami.image_sha256 {
        return Err(AmiError::ImageChanged {
            ami: ami.id.to_string(),
            path: ami.image.clone(),
            registered_size: ami.image_size,
            registered_sha256: ami.image_sha256.clone(),
            current_size: size,
            current_sha256: sha,
        });
    }
    Ok(image)
}
