//! ext2/3/4 through `ext4-view`, on a [`Window`] of the image.

use std::cell::Cell;

use ext4_view::{Ext4, Ext4Error, Ext4Read};

use super::{DirEntry, FileSink, Filesystem, Node, NodeKind};
use crate::error::{DiskError, PathErrorKind, Result};
use crate::read::{ReadAt, Window};
use crate::units::ByteOffset;

/// Adapter from our `ReadAt` to ext4-view's reader trait.
struct WindowReader(Window);

impl Ext4Read for WindowReader {
    fn read(
        &mut self,
        start_byte: u64,
        dst: &mut [u8],
    ) -> std::result::Result<(), Box<dyn std::error::Error + Send + Sync + 'static>> {
        self.0.read_exact_at(start_byte, dst).map_err(|e| Box::new(e) as _)
    }
}

/// Longest symlink target read (PATH_MAX).
const MAX_SYMLINK_TARGET: u64 = 4096;

/// Most block groups boot-sim accepts: 2^20 groups of 128 MiB is 128 TiB.
const MAX_GROUPS: u64 = 1 << 20;

fn le32(b: &[u8], off: usize) -> u64 {
    u64::from(u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]]))
}

/// Rejects superblocks whose geometry cannot fit the volume, before
/// ext4-view sizes its tables from them: the kernel refuses such a mount
/// too (`ext4_fill_super`: "bad geometry: block count exceeds size of
/// device"), and trusting it would let 1 KiB of garbage ask for gigabytes.
/// Offsets from e2fsprogs `struct ext2_super_block`.
fn check_geometry(vol: &Window) -> std::result::Result<(), String> {
    let sb = vol.read_vec(1024, 1024).map_err(|e| e.to_string())?;
    let log_block_size = le32(&sb, 0x18);
    if log_block_size > 6 {
        return Err(format!("invalid block size (s_log_block_size = {log_block_size}, at most 6 for 64 KiB)"));
    }
    let block_size = 1024u64 << log_block_size;
    // ext4-view combines s_blocks_count_hi (0x150) with the low word even
    // without the 64bit feature, so the check must too.
    let blocks = le32(&sb, 0x04) | (le32(&sb, 0x150) << 32);
    let first_data_block = le32(&sb, 0x14);
    let per_group = le32(&sb, 0x20);
    let inodes_per_group = le32(&sb, 0x28);
    let volume_blocks = vol.size() / block_size;
    if blocks == 0 || blocks > volume_blocks {
        return Err(format!(
            "block count {blocks} of {block_size} bytes does not fit the volume ({} bytes, {volume_blocks} blocks)",
            vol.size()
        ));
    }
    if per_group == 0 || per_group > 8 * block_size || inodes_per_group == 0 {
        return Err(format!("invalid group geometry ({per_group} blocks and {inodes_per_group} inodes per group)"));
    }
    let groups = blocks.saturating_sub(first_data_block).div_ceil(per_group);
    if groups > MAX_GROUPS {
        return Err(format!("{groups} block groups, more than the {MAX_GROUPS} boot-sim reads"));
    }
    Ok(())
}

fn node_kind(t: ext4_view::FileType) -> NodeKind {
    if t.is_dir() {
        NodeKind::Directory
    } else if t.is_symlink() {
        NodeKind::Symlink
    } else if t.is_regular_file() {
        NodeKind::File
    } else {
        NodeKind::Other
    }
}

/// An ext2/3/4 filesystem, read-only.
pub struct ExtFs {
    fs: Ext4,
    /// Where the filesystem starts on the disk, for error messages.
    base: u64,
    /// Number of file reads served, for tests and traces.
    reads: Cell<u64>,
}

impl std::fmt::Debug for ExtFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExtFs").field("base", &self.base).finish()
    }
}

impl ExtFs {
    /// Loads the superblock, group descriptors and journal of the ext
    /// filesystem in `vol`. A malformed superblock is `Corrupt` at its
    /// byte offset on the disk.
    pub fn open(vol: Window) -> Result<ExtFs> {
        let base = vol.start();
        let what = vol.describe();
        check_geometry(&vol).map_err(|detail| {
            DiskError::corrupt(format!("ext superblock of {what}"), ByteOffset(base + 1024), detail)
        })?;
        match Ext4::load(Box::new(WindowReader(vol))) {
            Ok(fs) => Ok(ExtFs { fs, base, reads: Cell::new(0) }),
            Err(Ext4Error::Io(e)) => Err(DiskError::corrupt(
                format!("ext filesystem on {what}"),
                ByteOffset(base + 1024),
                format!("cannot be loaded: {e}"),
            )),
            Err(e) => {
                Err(DiskError::corrupt(format!("ext superblock of {what}"), ByteOffset(base + 1024), e.to_string()))
            }
        }
    }

    /// Label and UUID as ext4-view reads them.
    pub fn label(&self) -> Option<String> {
        self.fs.label().to_str().ok().map(str::to_string).filter(|s| !s.is_empty())
    }

    pub fn file_reads(&self) -> u64 {
        self.reads.get()
    }

    fn map_err(&self, path: &str, e: Ext4Error) -> DiskError {
        let kind = match &e {
            Ext4Error::NotFound => PathErrorKind::NotFound,
            Ext4Error::NotADirectory => PathErrorKind::NotADirectory,
            Ext4Error::IsADirectory => PathErrorKind::IsADirectory,
            Ext4Error::TooManySymlinks => PathErrorKind::TooManySymlinks,
            Ext4Error::NotAbsolute => PathErrorKind::NotAbsolute,
            Ext4Error::FileTooLarge => PathErrorKind::TooLarge,
            Ext4Error::Corrupt(_) => PathErrorKind::Corrupt,
            Ext4Error::Io(_) => PathErrorKind::Io,
            _ => PathErrorKind::Other,
        };
        let detail = match kind {
            PathErrorKind::NotFound => "no such file or directory".to_string(),
            PathErrorKind::Corrupt => format!("filesystem at byte {:#x} is corrupt: {e}", self.base),
            _ => e.to_string(),
        };
        DiskError::path(path, kind, detail)
    }
}

impl ExtFs {
    /// The node at `path`, refused (`TooLarge`, nothing read) when it is
    /// over `max_len` bytes.
    fn stat_within(&self, path: &str, max_len: u64) -> Result<Node> {
        let node = self.stat(path)?;
        if node.size > max_len {
            return Err(DiskError::path(
                path,
                PathErrorKind::TooLarge,
                format!("file is {} bytes, more than the {max_len}-byte limit", node.size),
            ));
        }
        Ok(node)
    }
}

impl Filesystem for ExtFs {
    fn stat(&self, path: &str) -> Result<Node> {
        let m = self.fs.symlink_metadata(path).map_err(|e| self.map_err(path, e))?;
        Ok(Node { kind: node_kind(m.file_type()), size: m.len() })
    }

    fn read_link(&self, path: &str) -> Result<String> {
        // ext4-view allocates the inode's i_size before reading the target;
        // a target longer than a page is corrupt (Linux: PATH_MAX, 4096).
        let node = self.stat(path)?;
        if node.size > MAX_SYMLINK_TARGET {
            return Err(DiskError::path(
                path,
                PathErrorKind::Corrupt,
                format!("symlink target of {} bytes is longer than {MAX_SYMLINK_TARGET}", node.size),
            ));
        }
        let target = self.fs.read_link(path).map_err(|e| self.map_err(path, e))?;
        target
            .to_str()
            .map(str::to_string)
            .map_err(|_| DiskError::path(path, PathErrorKind::Other, "symlink target is not UTF-8"))
    }

    fn read_file(&self, path: &str, max_len: u64) -> Result<Vec<u8>> {
        self.stat_within(path, max_len)?;
        self.reads.set(self.reads.get() + 1);
        self.fs.read(path).map_err(|e| self.map_err(path, e))
    }

    /// ext4-view's `read` (`read_inode_file`: `File::read_bytes` until the
    /// end) into the sink's buffer instead of a new `Vec`.
    fn read_file_into(&self, path: &str, max_len: u64, sink: &mut dyn FileSink) -> Result<usize> {
        let node = self.stat_within(path, max_len)?;
        let len = usize::try_from(node.size)
            .map_err(|_| DiskError::path(path, PathErrorKind::TooLarge, "file size does not fit in memory"))?;
        self.reads.set(self.reads.get() + 1);
        let mut file = self.fs.open(path).map_err(|e| self.map_err(path, e))?;
        let buf = super::sink_buffer(sink, path, len)?;
        // As `read_inode_file`: bytes the file's blocks do not reach stay
        // as the (zeroed) buffer has them. Bounded: each call reads at
        // least one byte or ends the loop.
        let mut at = 0;
        while at < len {
            match file.read_bytes(&mut buf[at..]).map_err(|e| self.map_err(path, e))? {
                0 => break,
                n => at += n,
            }
        }
        Ok(len)
    }

    fn list_dir(&self, path: &str) -> Result<Vec<DirEntry>> {
        let iter = self.fs.read_dir(path).map_err(|e| self.map_err(path, e))?;
        let mut out = Vec::new();
        for entry in iter {
            let entry = entry.map_err(|e| self.map_err(path, e))?;
            let name = entry
                .file_name()
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|_| entry.file_name().display().to_string());
            if name == "." || name == ".." {
                continue;
            }
            let kind = node_kind(entry.file_type().map_err(|e| self.map_err(path, e))?);
            out.push(DirEntry { name, kind });
        }
        Ok(out)
    }
}
