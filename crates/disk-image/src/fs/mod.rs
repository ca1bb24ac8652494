//! Filesystems behind one small trait, and path resolution with symlinks
//! followed the way boot loaders follow them.

pub mod btrfs;
pub mod ext;
pub mod fat;
pub mod probe;
pub mod xfs;

use serde::Serialize;

use crate::error::{DiskError, PathErrorKind, Result};

/// The kind of a directory entry / inode, without following symlinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NodeKind {
    File,
    Directory,
    Symlink,
    Other,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Node {
    pub kind: NodeKind,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DirEntry {
    pub name: String,
    pub kind: NodeKind,
}

/// What boot-sim needs from a filesystem. Paths are absolute, `/`-separated
/// and contain no symlinks except possibly the last component (callers go
/// through [`resolve`], which guarantees that).
pub trait Filesystem {
    /// `lstat`: the node at `path`, the last component not followed.
    fn stat(&self, path: &str) -> Result<Node>;
    /// The target of the symlink at `path`, as stored.
    fn read_link(&self, path: &str) -> Result<String>;
    /// The contents of the regular file at `path`; files larger than
    /// `max_len` are refused (`PathErrorKind::TooLarge`), not read.
    fn read_file(&self, path: &str, max_len: u64) -> Result<Vec<u8>>;
    /// [`Filesystem::read_file`] into a buffer `sink` makes for the
    /// file's size, for callers that keep big files in memory of their own
    /// kind (boot-sim's huge-page buffers for a kernel read through the
    /// ring). The same reads in the same order as `read_file`. Returns the
    /// file's size. The default reads with `read_file` and copies.
    fn read_file_into(&self, path: &str, max_len: u64, sink: &mut dyn FileSink) -> Result<usize> {
        let data = self.read_file(path, max_len)?;
        sink_buffer(sink, path, data.len())?.copy_from_slice(&data);
        Ok(data.len())
    }
    /// Entries of the directory at `path`, without `.` and `..`.
    fn list_dir(&self, path: &str) -> Result<Vec<DirEntry>>;
}

/// What every reader checks before reading a whole file at `path`: a
/// regular file (a directory, symlink or device is refused by name) of at
/// most `max_len` bytes (`TooLarge`, nothing read) that fits in memory.
/// Returns its length.
pub(crate) fn readable_len(path: &str, kind: NodeKind, size: u64, max_len: u64) -> Result<usize> {
    match kind {
        NodeKind::File => {}
        NodeKind::Directory => return Err(DiskError::path(path, PathErrorKind::IsADirectory, "is a directory")),
        _ => return Err(DiskError::path(path, PathErrorKind::Other, "not a regular file")),
    }
    if size > max_len {
        return Err(DiskError::path(
            path,
            PathErrorKind::TooLarge,
            format!("file is {size} bytes, more than the {max_len}-byte limit"),
        ));
    }
    usize::try_from(size)
        .map_err(|_| DiskError::path(path, PathErrorKind::TooLarge, "file size does not fit in memory"))
}

/// Where [`Filesystem::read_file_into`] puts a file: asked once, for a
/// zeroed buffer of exactly the file's size.
pub trait FileSink {
    fn buffer(&mut self, len: usize) -> std::io::Result<&mut [u8]>;
}

impl FileSink for Vec<u8> {
    fn buffer(&mut self, len: usize) -> std::io::Result<&mut [u8]> {
        self.clear();
        self.resize(len, 0);
        Ok(self)
    }
}

/// `sink`'s buffer for `len` bytes of `path`, refused by name when the sink
/// fails or hands back a buffer of another size.
pub(crate) fn sink_buffer<'a>(sink: &'a mut dyn FileSink, path: &str, len: usize) -> Result<&'a mut [u8]> {
    let buf = sink
        .buffer(len)
        .map_err(|e| DiskError::path(path, PathErrorKind::Io, format!("no buffer for {len} bytes: {e}")))?;
    let got = buf.len();
    if got != len {
        return Err(DiskError::path(
            path,
            PathErrorKind::Other,
            format!("buffer of {got} bytes for a {len}-byte file"),
        ));
    }
    Ok(buf)
}

/// Symlink hops allowed while resolving one path. GRUB 2's fshelp allows 8
/// (`GRUB_FSHELP_MAX_SYMLNK_CNT`), GRUB 0.97's ext2fs 5 (`MAX_LINK_COUNT`),
/// Linux 40; boot-sim uses GRUB 2's value unless a loader model asks for its own.
pub const DEFAULT_MAX_SYMLINK_HOPS: usize = 8;

/// A path after following its symlinks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Resolved {
    /// The symlink-free absolute path.
    pub path: String,
    /// Each hop: (the symlink's path, its target as stored).
    pub hops: Vec<(String, String)>,
    pub node: Node,
}

fn split(path: &str) -> impl DoubleEndedIterator<Item = &str> {
    path.split('/').filter(|c| !c.is_empty())
}

/// Walks `path` from `root` with `.` and `..` applied lexically (`..` at
/// the top stays there), calling `step(dir, name)` for every other
/// component to find `name` in the node on top. The readers that look a
/// path up without following symlinks (XFS, btrfs: [`resolve`] follows
/// them above) share this walk so they agree on what `..` means.
fn walk_lexical<T>(path: &str, root: T, mut step: impl FnMut(&T, &str) -> Result<T>) -> Result<T> {
    let mut stack = vec![root];
    for comp in split(path) {
        match comp {
            "." => {}
            ".." => {
                if stack.len() > 1 {
                    stack.pop();
                }
            }
            _ => {
                let next = step(stack.last().expect("the root stays on the stack"), comp)?;
                stack.push(next);
            }
        }
    }
    Ok(stack.pop().expect("the root stays on the stack"))
}

fn join(dir: &[String]) -> String {
    if dir.is_empty() { "/".to_string() } else { format!("/{}", dir.join("/")) }
}

/// Resolves `path` on `fs`, following every symlink (in directories and at
/// the end) the way GRUB's ext2 drivers do: a target starting with `/`
/// restarts at the root of the same filesystem, any other target is taken
/// relative to the directory holding the link. `.` and `..` are applied
/// lexically, which on a symlink-free prefix is what the directory entries
/// say. More than `max_hops` hops is `TooManySymlinks`.
pub fn resolve(fs: &dyn Filesystem, path: &str, max_hops: usize) -> Result<Resolved> {
    if !path.starts_with('/') {
        return Err(DiskError::path(path, PathErrorKind::NotAbsolute, "not an absolute path"));
    }
    let mut hops = Vec::new();
    let mut dir: Vec<String> = Vec::new();
    // Components still to walk, in reverse so that pop() gives the next one.
    let mut pending: Vec<String> = split(path).rev().map(str::to_string).collect();
    let mut node = fs.stat("/")?;
    while let Some(comp) = pending.pop() {
        match comp.as_str() {
            "." => continue,
            ".." => {
                dir.pop();
                node = fs.stat(&join(&dir))?;
                continue;
            }
            _ => {}
        }
        if node.kind != NodeKind::Directory {
            return Err(DiskError::path(join(&dir), PathErrorKind::NotADirectory, "not a directory"));
        }
        dir.push(comp);
        let here = join(&dir);
        node = fs.stat(&here)?;
        if node.kind == NodeKind::Symlink {
            if hops.len() >= max_hops {
                return Err(DiskError::path(
                    path,
                    PathErrorKind::TooManySymlinks,
                    format!("too many levels of symbolic links (more than {max_hops})"),
                ));
            }
            let target = fs.read_link(&here)?;
            hops.push((here, target.clone()));
            dir.pop();
            if target.starts_with('/') {
                dir.clear();
            }
            pending.extend(split(&target).rev().map(str::to_string));
            node = fs.stat(&join(&dir))?;
        }
    }
    Ok(Resolved { path: join(&dir), hops, node })
}

/// Reads the file at `path`, following symlinks as [`resolve`] does.
pub fn read_resolved(fs: &dyn Filesystem, path: &str, max_len: u64) -> Result<(Resolved, Vec<u8>)> {
    let r = resolve(fs, path, DEFAULT_MAX_SYMLINK_HOPS)?;
    match r.node.kind {
        NodeKind::Directory => Err(DiskError::path(path, PathErrorKind::IsADirectory, "is a directory")),
        NodeKind::File => {
            let data = fs.read_file(&r.path, max_len)?;
            Ok((r, data))
        }
        _ => Err(DiskError::path(path, PathErrorKind::Other, "not a regular file")),
    }
}

/// An error [`Memo`] can hand out again: everything but I/O errors, which
/// are retried (the next read may succeed).
#[derive(Clone)]
enum Remembered {
    Path { path: String, detail: String, kind: PathErrorKind },
    Corrupt { what: String, offset: crate::units::ByteOffset, detail: String },
    Unsupported { what: String },
}

impl Remembered {
    fn of(e: &DiskError) -> Option<Remembered> {
        match e {
            DiskError::Path { path, detail, kind } => {
                Some(Remembered::Path { path: path.clone(), detail: detail.clone(), kind: *kind })
            }
            DiskError::Corrupt { what, offset, detail } => {
                Some(Remembered::Corrupt { what: what.clone(), offset: *offset, detail: detail.clone() })
            }
            DiskError::Unsupported { what } => Some(Remembered::Unsupported { what: what.clone() }),
            DiskError::Io { .. } => None,
        }
    }

    fn error(&self) -> DiskError {
        match self.clone() {
            Remembered::Path { path, detail, kind } => DiskError::Path { path, detail, kind },
            Remembered::Corrupt { what, offset, detail } => DiskError::Corrupt { what, offset, detail },
            Remembered::Unsupported { what } => DiskError::Unsupported { what },
        }
    }
}

/// Answers already given, by question.
type Answers<K, T> = std::cell::RefCell<std::collections::HashMap<K, std::result::Result<T, Remembered>>>;

/// A filesystem whose answers are remembered: `stat`, `read_link`,
/// `list_dir` and whole-file reads of small files (configs) are asked of the
/// filesystem once per path, and every later question is answered from
/// memory, the same answer, error included (I/O errors excepted). For
/// one-shot commands that ask the same questions many times (`menu`:
/// pygrub's config search, GRUB's and pygrub's file lookups for the same
/// entry): the filesystem is read-only, so the answers cannot change.
/// Never used where the reads themselves are simulated (a loader's I/O
/// through a PV ring), since answering from memory skips them.
pub struct Memo {
    inner: Box<dyn Filesystem>,
    stats: Answers<String, Node>,
    links: Answers<String, String>,
    dirs: Answers<String, Vec<DirEntry>>,
    files: Answers<(String, u64), std::rc::Rc<[u8]>>,
}

/// Files up to this size are remembered by [`Memo`] (a config, a grubenv).
const MEMO_FILE_MAX: u64 = 1 << 20;

impl Memo {
    pub fn new(inner: Box<dyn Filesystem>) -> Memo {
        Memo {
            inner,
            stats: Default::default(),
            links: Default::default(),
            dirs: Default::default(),
            files: Default::default(),
        }
    }

    fn answer<K: std::hash::Hash + Eq, T: Clone>(
        answers: &Answers<K, T>,
        key: K,
        ask: impl FnOnce() -> Result<T>,
    ) -> Result<T> {
        if let Some(a) = answers.borrow().get(&key) {
            return a.clone().map_err(|r| r.error());
        }
        let got = ask();
        let kept = match &got {
            Ok(v) => Some(Ok(v.clone())),
            Err(e) => Remembered::of(e).map(Err),
        };
        if let Some(kept) = kept {
            answers.borrow_mut().insert(key, kept);
        }
        got
    }
}

impl Filesystem for Memo {
    fn stat(&self, path: &str) -> Result<Node> {
        Memo::answer(&self.stats, path.to_string(), || self.inner.stat(path))
    }

    fn read_link(&self, path: &str) -> Result<String> {
        Memo::answer(&self.links, path.to_string(), || self.inner.read_link(path))
    }

    fn read_file(&self, path: &str, max_len: u64) -> Result<Vec<u8>> {
        if max_len > MEMO_FILE_MAX {
            return self.inner.read_file(path, max_len);
        }
        Memo::answer(&self.files, (path.to_string(), max_len), || self.inner.read_file(path, max_len).map(Into::into))
            .map(|d| d.to_vec())
    }

    fn read_file_into(&self, path: &str, max_len: u64, sink: &mut dyn FileSink) -> Result<usize> {
        self.inner.read_file_into(path, max_len, sink)
    }

    fn list_dir(&self, path: &str) -> Result<Vec<DirEntry>> {
        Memo::answer(&self.dirs, path.to_string(), || self.inner.list_dir(path))
    }
}

/// One [`Memo`] shared by every opener of the same volume (see
/// `Disk::open_memoized`).
pub(crate) struct Shared(pub(crate) std::rc::Rc<Memo>);

impl Filesystem for Shared {
    fn stat(&self, path: &str) -> Result<Node> {
        self.0.stat(path)
    }

    fn read_link(&self, path: &str) -> Result<String> {
        self.0.read_link(path)
    }

    fn read_file(&self, path: &str, max_len: u64) -> Result<Vec<u8>> {
        self.0.read_file(path, max_len)
    }

    fn read_file_into(&self, path: &str, max_len: u64, sink: &mut dyn FileSink) -> Result<usize> {
        self.0.read_file_into(path, max_len, sink)
    }

    fn list_dir(&self, path: &str) -> Result<Vec<DirEntry>> {
        self.0.list_dir(path)
    }
}
