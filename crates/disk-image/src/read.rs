//! Byte access to images: one trait, [`ReadAt`], with three implementations —
//! a read-only file ([`RawImage`]), a byte range of another reader
//! ([`Window`], e.g. a partition) and an in-memory buffer ([`MemImage`], for
//! tests and fuzzing).

use std::fs::File;
use std::os::unix::fs::{FileExt, FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{DiskError, PathErrorKind, Result};
use crate::units::ByteOffset;

/// Positioned reads of a fixed-size byte source. `&self` so that one image
/// can be shared (through `Arc`) by every partition window and filesystem.
pub trait ReadAt: Send + Sync {
    /// Size in bytes.
    fn size(&self) -> u64;

    /// Fills `buf` from `offset`, or fails naming the offset; a read that
    /// would cross the end is an error, never a short read.
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()>;

    /// What this reader is, for error messages ("image.raw", "xvda1 of …").
    fn describe(&self) -> String;

    /// Reads `len` bytes into a new buffer (for small, bounded structures).
    fn read_vec(&self, offset: u64, len: usize) -> Result<Vec<u8>> {
        let mut buf = vec![0; len];
        self.read_exact_at(offset, &mut buf)?;
        Ok(buf)
    }
}

fn past_end(what: String, offset: u64, len: usize, size: u64) -> DiskError {
    DiskError::Io {
        what,
        offset: ByteOffset(offset),
        len,
        source: std::io::Error::new(std::io::ErrorKind::UnexpectedEof, format!("past the end ({size} bytes)")),
    }
}

/// "PATH: no such file or directory", without Rust's "(os error 2)".
fn open_error(path: &Path, e: &std::io::Error) -> DiskError {
    let (kind, detail) = match e.kind() {
        std::io::ErrorKind::NotFound => (PathErrorKind::NotFound, "no such file or directory".to_string()),
        std::io::ErrorKind::PermissionDenied => (PathErrorKind::Io, "permission denied".to_string()),
        std::io::ErrorKind::IsADirectory => {
            (PathErrorKind::IsADirectory, "is a directory, not a disk image".to_string())
        }
        std::io::ErrorKind::NotADirectory => {
            (PathErrorKind::NotADirectory, "a component of the path is not a directory".to_string())
        }
        _ => (PathErrorKind::Io, e.to_string()),
    };
    DiskError::path(path.display().to_string(), kind, detail)
}

/// Regular files and block devices are images; anything else is named.
fn check_kind(path: &Path, t: &std::fs::FileType) -> Result<()> {
    let (kind, what) = if t.is_file() || t.is_block_device() {
        return Ok(());
    } else if t.is_dir() {
        (PathErrorKind::IsADirectory, "a directory")
    } else if t.is_char_device() {
        (PathErrorKind::Other, "a character device")
    } else if t.is_fifo() {
        (PathErrorKind::Other, "a FIFO (named pipe)")
    } else if t.is_socket() {
        (PathErrorKind::Other, "a socket")
    } else {
        (PathErrorKind::Other, "not a regular file")
    };
    Err(DiskError::path(
        path.display().to_string(),
        kind,
        format!("is {what}; boot-sim reads regular files and block devices"),
    ))
}

fn check_range(r: &dyn ReadAt, offset: u64, len: usize) -> Result<()> {
    let end = offset.checked_add(len as u64);
    match end {
        Some(end) if end <= r.size() => Ok(()),
        _ => Err(past_end(r.describe(), offset, len, r.size())),
    }
}

/// A disk image file, opened read-only. It is never written: there is no
/// code path in boot-sim that opens a user's image with write access.
///
/// Sparse files are fine: only the sectors boot-sim looks at are read, so
/// the holes of a multi-TiB image cost nothing.
#[derive(Debug)]
pub struct RawImage {
    file: File,
    size: u64,
    path: PathBuf,
}

impl RawImage {
    /// Opens `path` read-only after checking what it is: a regular file or
    /// a block device. A directory, character device (`/dev/zero`), FIFO or
    /// socket is refused before it is opened, naming the path and what it
    /// is, so that nothing blocks in `open` (a FIFO without a writer) or
    /// reads forever (`/dev/urandom`).
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        // `metadata` follows symlinks, as `open` does.
        let meta = std::fs::metadata(&path).map_err(|e| open_error(&path, &e))?;
        check_kind(&path, &meta.file_type())?;
        // The path could be swapped for a FIFO between the check and the
        // open: O_NONBLOCK makes that open return at once (it changes
        // nothing for regular files and block devices), and the type is
        // checked again on the descriptor.
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
            .open(&path)
            .map_err(|e| open_error(&path, &e))?;
        let meta = file.metadata().map_err(|e| open_error(&path, &e))?;
        check_kind(&path, &meta.file_type())?;
        let io = |source| DiskError::Io { what: path.display().to_string(), offset: ByteOffset(0), len: 0, source };
        // Block devices report 0 in metadata; seek to the end to size them.
        let size = if meta.is_file() {
            meta.len()
        } else {
            use std::io::Seek;
            (&file).seek(std::io::SeekFrom::End(0)).map_err(io)?
        };
        Ok(Self { file, size, path })
    }

    /// Reads the whole file when it is at most `max_len` bytes, else fails
    /// naming its size and `what` it was read as ("a kernel").
    pub fn read_all(&self, max_len: u64, what: &str) -> Result<Vec<u8>> {
        if self.size > max_len {
            return Err(DiskError::path(
                self.path.display().to_string(),
                PathErrorKind::TooLarge,
                format!("{} bytes, more than the {max_len} bytes read as {what}", self.size),
            ));
        }
        // size <= max_len, which callers keep far below usize::MAX.
        self.read_vec(0, self.size as usize)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The read-only handle, for what positioned reads cannot ask (the
    /// data extents of a sparse file, `lseek(SEEK_DATA)`).
    pub fn file(&self) -> &File {
        &self.file
    }
}

impl ReadAt for RawImage {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_range(self, offset, buf.len())?;
        self.file.read_exact_at(buf, offset).map_err(|source| DiskError::Io {
            what: self.path.display().to_string(),
            offset: ByteOffset(offset),
            len: buf.len(),
            source,
        })
    }

    fn describe(&self) -> String {
        self.path.display().to_string()
    }
}

/// An in-memory image (tests, fuzzing, images built on the fly).
#[derive(Debug, Clone)]
pub struct MemImage {
    bytes: Arc<[u8]>,
    name: String,
}

impl MemImage {
    pub fn new(bytes: impl Into<Arc<[u8]>>, name: impl Into<String>) -> Self {
        Self { bytes: bytes.into(), name: name.into() }
    }
}

impl ReadAt for MemImage {
    fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_range(self, offset, buf.len())?;
        // check_range proved offset + len <= bytes.len(), which is a usize.
        let start = offset as usize;
        buf.copy_from_slice(&self.bytes[start..start + buf.len()]);
        Ok(())
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

/// A byte range `[start, start + len)` of another reader: a partition, or
/// a filesystem inside one. Offsets passed to it are relative to `start`.
#[derive(Clone)]
pub struct Window {
    inner: Arc<dyn ReadAt>,
    start: u64,
    len: u64,
    name: String,
}

impl std::fmt::Debug for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Window").field("name", &self.name).field("start", &self.start).field("len", &self.len).finish()
    }
}

impl Window {
    /// A window over `inner`. The range is clamped to the end of `inner`
    /// (a partition that runs past the end of the image is still readable
    /// up to that end; the partition reader warns about it).
    pub fn new(inner: Arc<dyn ReadAt>, start: u64, len: u64, name: impl Into<String>) -> Self {
        let size = inner.size();
        let start = start.min(size);
        let len = len.min(size - start);
        Self { inner, start, len, name: name.into() }
    }

    /// Byte offset of the window's start in the underlying reader.
    pub fn start(&self) -> u64 {
        self.start
    }
}

impl ReadAt for Window {
    fn size(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        check_range(self, offset, buf.len())?;
        // In range of the window, so start + offset <= inner.size().
        self.inner.read_exact_at(self.start + offset, buf)
    }

    fn describe(&self) -> String {
        format!("{} of {}", self.name, self.inner.describe())
    }
}

impl<T: ReadAt + ?Sized> ReadAt for Arc<T> {
    fn size(&self) -> u64 {
        (**self).size()
    }
    fn read_exact_at(&self, offset: u64, buf: &mut [u8]) -> Result<()> {
        (**self).read_exact_at(offset, buf)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_reads_are_relative_and_bounded() {
        let img: Arc<dyn ReadAt> = Arc::new(MemImage::new((0u8..=255).collect::<Vec<_>>(), "mem"));
        let w = Window::new(img, 16, 32, "part");
        let mut b = [0u8; 4];
        w.read_exact_at(0, &mut b).unwrap();
        assert_eq!(b, [16, 17, 18, 19]);
        let err = w.read_exact_at(30, &mut b).unwrap_err().to_string();
        assert!(err.contains("0x1e") && err.contains("part of mem"), "{err}");
    }

    #[test]
    fn window_is_clamped_to_the_image() {
        let img: Arc<dyn ReadAt> = Arc::new(MemImage::new(vec![0u8; 100], "mem"));
        assert_eq!(Window::new(img.clone(), 90, 50, "p").size(), 10);
        assert_eq!(Window::new(img, 200, 50, "p").size(), 0);
    }

    #[test]
    fn raw_image_is_read_only_and_reports_offsets() {
        let dir = std::env::temp_dir().join(format!("disk-image-ro-{}", std::process::id()));
        std::fs::write(&dir, [1u8, 2, 3]).unwrap();
        let img = RawImage::open(&dir).unwrap();
        assert_eq!(img.size(), 3);
        let mut b = [0u8; 4];
        let err = img.read_exact_at(0, &mut b).unwrap_err().to_string();
        assert!(err.contains("byte 0x0"), "{err}");
        std::fs::remove_file(&dir).unwrap();
    }

    #[test]
    fn raw_image_refuses_what_is_not_a_file_or_block_device() {
        let dir = std::env::temp_dir().join(format!("disk-image-kinds-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let err = RawImage::open(&dir).unwrap_err().to_string();
        assert_eq!(err, format!("{}: is a directory; boot-sim reads regular files and block devices", dir.display()));
        let err = RawImage::open("/dev/zero").unwrap_err().to_string();
        assert_eq!(err, "/dev/zero: is a character device; boot-sim reads regular files and block devices");
        let missing = dir.join("missing.img");
        let err = RawImage::open(&missing).unwrap_err().to_string();
        assert_eq!(err, format!("{}: no such file or directory", missing.display()));
        let fifo = dir.join("fifo");
        let made = std::process::Command::new("mkfifo").arg(&fifo).status().map(|s| s.success()).unwrap_or(false);
        if made {
            // No writer: a blocking open would never return.
            let err = RawImage::open(&fifo).unwrap_err().to_string();
            assert!(err.ends_with("is a FIFO (named pipe); boot-sim reads regular files and block devices"), "{err}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn read_all_is_bounded() {
        let p = std::env::temp_dir().join(format!("disk-image-read-all-{}", std::process::id()));
        std::fs::write(&p, [7u8; 100]).unwrap();
        let img = RawImage::open(&p).unwrap();
        assert_eq!(img.read_all(100, "a test").unwrap(), vec![7u8; 100]);
        let err = img.read_all(99, "a test").unwrap_err().to_string();
        assert!(err.ends_with("100 bytes, more than the 99 bytes read as a test"), "{err}");
        std::fs::remove_file(&p).unwrap();
    }
}
