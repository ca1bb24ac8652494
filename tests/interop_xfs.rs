//! Interop: boot-sim's XFS reader against Linux and xfsprogs on the same
//! bytes. Images are made by the real `mkfs.xfs -p PROTOFILE` (V5, V4 with
//! ftype, V4 without), then grown by the kernel through a read-write loop
//! mount the way a user's system writes files (holes, preallocated
//! unwritten extents, punched holes that fragment a file into a bmap
//! btree, long remote symlinks); then the whole tree as Linux reads it
//! (`mount -o ro,loop`) — listings, kinds, symlink targets, file bytes —
//! must equal boot-sim's, every directory listing must equal `xfs_db -r -c
//! 'ls DIR'`, and `xfs_db` must confirm that every data-fork format was
//! made (short-form, block, leaf/node, btree directories; btree files).
//!
//! Needs root (loop devices), `mkfs.xfs`, `xfs_db`, `mount`, `fallocate`;
//! locally a missing piece skips, under `BOOT_SIM_INTEROP=require` it fails.

use std::collections::BTreeMap;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use boot_config::discover::{self, Loader};
use boot_config::select::{self, EntryRequest};
use boot_sim::qemu::Scratch;
use boot_sim::{InteropPolicy, interop_tool, pygrub};
use disk_image::fs::xfs::XfsFs;
use disk_image::fs::{Filesystem, NodeKind};
use disk_image::{Disk, DiskError};
use sha2::{Digest, Sha256};

const GRUB_CONF: &str = "default 0\ntimeout 1\ntitle XFS test kernel\nroot (hd0)\nkernel /boot/vmlinuz-xfs ro root=/dev/xvda console=hvc0\ninitrd /boot/initrd.img-xfs\n";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Flavour {
    V5,
    V4,
    V4NoFtype,
}

impl Flavour {
    fn mkfs_args(self) -> &'static [&'static str] {
        match self {
            Flavour::V5 => &[],
            Flavour::V4 => &["-m", "crc=0"],
            Flavour::V4NoFtype => &["-m", "crc=0", "-n", "ftype=0"],
        }
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {} {}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Root and the tools for loop mounts, or `None` (skipped / failed by policy).
fn mount_tools() -> Option<()> {
    interop_tool("mount")?;
    interop_tool("umount")?;
    interop_tool("fallocate")?;
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        let msg = "interop: XFS tests need root for loop mounts";
        assert!(InteropPolicy::from_env() != InteropPolicy::Require, "{msg} (BOOT_SIM_INTEROP=require)");
        eprintln!("SKIPPED: {msg}");
        return None;
    }
    Some(())
}

/// A loop mount, unmounted when dropped.
struct Mount(PathBuf);

impl Mount {
    /// `None` when the kernel refuses the filesystem.
    fn try_new(img: &Path, at: PathBuf, opts: &str) -> Option<Mount> {
        std::fs::create_dir_all(&at).unwrap();
        let ok =
            Command::new("mount").args(["-t", "xfs", "-o", opts]).arg(img).arg(&at).output().unwrap().status.success();
        ok.then_some(Mount(at))
    }

    fn new(img: &Path, at: PathBuf, opts: &str) -> Mount {
        std::fs::create_dir_all(&at).unwrap();
        run(Command::new("mount").args(["-t", "xfs", "-o", opts]).arg(img).arg(&at));
        Mount(at)
    }
}

impl Mount {
    /// Unmounts now, failing the test if the kernel refuses (busy), so that
    /// nothing reads the image while the kernel still holds changes.
    fn unmount(self) {
        run(Command::new("umount").arg(&self.0));
        std::mem::forget(self);
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).output();
    }
}

/// Bytes that differ per file and position, so a misplaced block shows.
fn pattern(seed: u32, len: usize) -> Vec<u8> {
    boot_sim::pattern_bytes(seed, len)
}

/// A proto file being written, and the tree it describes.
struct Proto {
    src: PathBuf,
    lines: Vec<String>,
    dirs: BTreeMap<String, Vec<(String, NodeKind)>>,
    expect: BTreeMap<String, Seen>,
}

impl Proto {
    fn entry(&mut self, path: &str, kind: NodeKind) -> (usize, String) {
        let (parent, name) = path.rsplit_once('/').unwrap();
        let parent = if parent.is_empty() { "/" } else { parent };
        self.dirs.entry(parent.to_string()).or_default().push((name.to_string(), kind));
        (path.matches('/').count(), name.to_string())
    }

    fn file(&mut self, path: &str, data: &[u8]) {
        let src = self.src.join(path.trim_start_matches('/').replace('/', "_"));
        std::fs::write(&src, data).unwrap();
        let (depth, name) = self.entry(path, NodeKind::File);
        self.lines.push(format!("{}{name} ---644 0 0 {}", " ".repeat(depth), src.display()));
        self.expect.insert(path.to_string(), Seen::File(sha(data)));
    }

    fn link(&mut self, path: &str, target: &str) {
        let (depth, name) = self.entry(path, NodeKind::Symlink);
        self.lines.push(format!("{}{name} l--777 0 0 {target}", " ".repeat(depth)));
        self.expect.insert(path.to_string(), Seen::Link(target.to_string()));
    }

    fn dir(&mut self, path: &str) {
        let (depth, name) = self.entry(path, NodeKind::Directory);
        self.lines.push(format!("{}{name} d--755 0 0", " ".repeat(depth)));
        self.dirs.entry(path.to_string()).or_default();
    }

    fn end_dir(&mut self, path: &str) {
        self.lines.push(format!("{}$", " ".repeat(path.matches('/').count())));
    }
}

/// The source tree and its proto file (xfsprogs `proto.c` syntax), and
/// the tree it describes as boot-sim must read it back.
fn proto(dir: &Path) -> (PathBuf, BTreeMap<String, Seen>) {
    let src = dir.join("src");
    std::fs::create_dir_all(&src).unwrap();
    let mut p = Proto {
        src,
        lines: vec!["/dev/null".into(), "0 0".into(), "d--755 0 0".into()],
        dirs: BTreeMap::new(),
        expect: BTreeMap::new(),
    };
    p.dir("/boot");
    p.file("/boot/vmlinuz-xfs", &pattern(1, 300_000));
    p.file("/boot/initrd.img-xfs", &pattern(2, 70_000));
    p.dir("/boot/grub");
    p.file("/boot/grub/grub.conf", GRUB_CONF.as_bytes());
    // The default names the second entry by title: pygrub boots entry 0.
    let cfg = "set default=\"XFS test kernel\"\nset timeout=1\nmenuentry 'First entry' {\n\tlinux /boot/vmlinuz-xfs ro first-entry\n\tinitrd /boot/initrd.img-xfs\n}\nmenuentry 'XFS test kernel' {\n\tlinux /boot/vmlinuz-xfs ro root=/dev/xvda console=hvc0\n\tinitrd /boot/initrd.img-xfs\n}\n";
    p.file("/boot/grub/grub.cfg", cfg.as_bytes());
    p.link("/boot/grub/menu.lst", "./grub.conf");
    p.end_dir("/boot/grub");
    p.end_dir("/boot");
    // Directories of every size class: short-form, block, leaf/node, btree.
    for (dir, n) in [("/sf", 4u32), ("/block", 50), ("/leaf", 2000), ("/big", 20_000)] {
        p.dir(dir);
        for i in 0..n {
            // A few files with content, the rest empty.
            if i < 3 {
                p.file(&format!("{dir}/file-{i:05}"), &pattern(i + 10, 100 + i as usize));
            } else {
                p.file(&format!("{dir}/entry-with-a-longer-name-{i:05}"), b"");
            }
        }
        if n == 50 {
            p.dir("/block/sub");
            p.end_dir("/block/sub");
            p.link("/block/link", "../sf/file-00000");
        }
        p.end_dir(dir);
    }
    p.link("/shortlink", "boot/grub");
    // 300 characters: remote on V4 (256-byte inodes), local on V5 (512).
    p.link("/mkfslink", &format!("/boot/{}", "m".repeat(294)));
    p.file("/multi", &pattern(7, 5 << 20));
    p.lines.push("$".into());
    let path = dir.join("proto");
    std::fs::write(&path, p.lines.join("\n") + "\n").unwrap();
    let mut expect = p.expect;
    for (dir, mut entries) in p.dirs {
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        expect.insert(dir, Seen::Dir(entries));
    }
    (path, expect)
}

/// `mkfs.xfs -p`.
fn mkfs(dir: &Path, flavour: Flavour, proto: &Path) -> PathBuf {
    let mkfs = interop_tool("mkfs.xfs").unwrap();
    let img = dir.join(format!("{flavour:?}.img"));
    std::fs::File::create(&img).unwrap().set_len(512 << 20).unwrap();
    run(Command::new(mkfs).args(["-q", "-L", "bootsimxfs"]).args(flavour.mkfs_args()).arg("-p").arg(proto).arg(&img));
    img
}

/// The kernel's writes on a read-write loop mount of `img`.
fn grow(dir: &Path, img: &Path) {
    let m = Mount::new(img, dir.join("rw"), "loop");
    {
        let at = |p: &str| m.0.join(p);
        // Holes: 64 MiB with three written 4 KiB islands.
        let f = std::fs::File::create(at("holes")).unwrap();
        f.set_len(64 << 20).unwrap();
        for (i, off) in [0u64, 10 << 20, (40 << 20) + 512].into_iter().enumerate() {
            f.write_all_at(&pattern(20 + i as u32, 4096), off).unwrap();
        }
        f.sync_all().unwrap();
        // Preallocated (unwritten) with a written middle.
        run(Command::new("fallocate").args(["-l", "1M"]).arg(at("prealloc")));
        let f = std::fs::OpenOptions::new().write(true).open(at("prealloc")).unwrap();
        f.write_all_at(&pattern(30, 8192), 512 << 10).unwrap();
        f.sync_all().unwrap();
        // A file cut into 40 extents by punched holes: more than the inode's
        // data fork holds, so its data fork becomes a bmap btree.
        let mut f = std::fs::File::create(at("frag")).unwrap();
        f.write_all(&pattern(40, 80 * 65536)).unwrap();
        f.sync_all().unwrap();
        for i in (1..80).step_by(2) {
            run(Command::new("fallocate").args(["-p", "-o", &(i * 65536).to_string(), "-l", "65536"]).arg(at("frag")));
        }
        // Remote symlinks written by the kernel (with the XSLM header on V5).
        std::os::unix::fs::symlink(format!("/boot/{}", "r".repeat(900)), at("remotelink")).unwrap();
        std::os::unix::fs::symlink("boot/grub/grub.conf", at("boot/grub/kernel-link")).unwrap();
    }
    m.unmount();
}

#[derive(Debug, PartialEq)]
enum Seen {
    Dir(Vec<(String, NodeKind)>),
    File(String),
    Link(String),
    /// Linux (or boot-sim) cannot read it.
    Error,
}

fn sha(b: &[u8]) -> String {
    Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

fn kind_of(t: std::fs::FileType) -> NodeKind {
    if t.is_dir() {
        NodeKind::Directory
    } else if t.is_symlink() {
        NodeKind::Symlink
    } else if t.is_file() {
        NodeKind::File
    } else {
        NodeKind::Other
    }
}

/// The whole tree as Linux reads it.
fn linux_tree(root: &Path) -> BTreeMap<String, Seen> {
    let mut out = BTreeMap::new();
    let mut queue = vec!["/".to_string()];
    while let Some(dir) = queue.pop() {
        let mut entries: Vec<(String, NodeKind)> = std::fs::read_dir(root.join(dir.trim_start_matches('/')))
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.file_name().to_string_lossy().into_owned(), kind_of(e.file_type().unwrap()))
            })
            .collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, kind) in &entries {
            let path = if dir == "/" { format!("/{name}") } else { format!("{dir}/{name}") };
            let real = root.join(path.trim_start_matches('/'));
            match kind {
                NodeKind::Directory => queue.push(path),
                NodeKind::Symlink => {
                    let seen = std::fs::read_link(&real).map_or(Seen::Error, |t| Seen::Link(t.display().to_string()));
                    out.insert(path, seen);
                }
                NodeKind::File => {
                    let seen = std::fs::read(&real).map_or(Seen::Error, |b| Seen::File(sha(&b)));
                    out.insert(path, seen);
                }
                NodeKind::Other => {}
            }
        }
        out.insert(dir, Seen::Dir(entries));
    }
    out
}

/// The same walk through boot-sim.
fn our_tree(fs: &dyn Filesystem) -> BTreeMap<String, Seen> {
    let mut out = BTreeMap::new();
    let mut queue = vec!["/".to_string()];
    while let Some(dir) = queue.pop() {
        let mut entries: Vec<(String, NodeKind)> =
            fs.list_dir(&dir).unwrap_or_else(|e| panic!("{dir}: {e}")).into_iter().map(|e| (e.name, e.kind)).collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, kind) in &entries {
            let path = if dir == "/" { format!("/{name}") } else { format!("{dir}/{name}") };
            match kind {
                NodeKind::Directory => queue.push(path),
                NodeKind::Symlink => {
                    out.insert(path.clone(), fs.read_link(&path).map_or(Seen::Error, Seen::Link));
                }
                NodeKind::File => {
                    out.insert(path.clone(), fs.read_file(&path, 1 << 30).map_or(Seen::Error, |b| Seen::File(sha(&b))));
                }
                NodeKind::Other => {}
            }
        }
        out.insert(dir, Seen::Dir(entries));
    }
    out
}

/// `xfs_db -r -c 'ls DIR'`: names (without . and ..) and, with ftype, kinds.
fn xfs_db_ls(img: &Path, dir: &str) -> Vec<(String, Option<NodeKind>)> {
    let xfs_db = interop_tool("xfs_db").unwrap();
    let text = run(Command::new(xfs_db).arg("-r").arg("-c").arg(format!("ls {dir}")).arg(img));
    let mut v: Vec<(String, Option<NodeKind>)> = text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let t: Vec<&str> = l.split_whitespace().collect();
            // offset inode type hash namelen name... (good)
            let name = t.get(5..t.len() - 1)?.join(" ");
            let kind = match t[2] {
                "directory" => Some(NodeKind::Directory),
                "regular" => Some(NodeKind::File),
                "symlink" => Some(NodeKind::Symlink),
                "unknown" => None,
                _ => Some(NodeKind::Other),
            };
            (name != "." && name != "..").then_some((name, kind))
        })
        .collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// `xfs_db -r -c 'path P' -c 'print core.format core.size'`.
fn xfs_db_format(img: &Path, path: &str) -> (String, u64) {
    let xfs_db = interop_tool("xfs_db").unwrap();
    let text = run(Command::new(xfs_db)
        .args(["-r", "-c"])
        .arg(format!("path {path}"))
        .args(["-c", "print core.format core.size"])
        .arg(img));
    let field = |k: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{k} = "))).unwrap().to_string();
    (field("core.format"), field("core.size").parse().unwrap())
}

fn open(img: &Path) -> (Disk, Box<dyn Filesystem>) {
    let disk = Disk::open(img).unwrap();
    let fs = disk.open_fs(&disk.whole_disk()).unwrap_or_else(|e| panic!("{}: {e}", img.display()));
    (disk, fs)
}

/// Each flavour: boot-sim reads back exactly the tree given to mkfs.xfs,
/// lists every directory as `xfs_db -r -c ls` does, and (where this
/// kernel mounts the flavour; Linux 6.x built without
/// CONFIG_XFS_SUPPORT_V4 refuses V4) reads the whole tree as Linux does
/// after the kernel's own writes (holes, unwritten extents, a bmap btree
/// file, remote symlinks).
#[test]
fn trees_equal_linux_and_xfs_db() {
    if interop_tool("mkfs.xfs").is_none() || interop_tool("xfs_db").is_none() || mount_tools().is_none() {
        return;
    }
    let scratch = Scratch::new("xfs-tree");
    let (proto, expect) = proto(&scratch.0);
    let mut linux_compared = 0;
    for flavour in [Flavour::V5, Flavour::V4, Flavour::V4NoFtype] {
        let img = mkfs(&scratch.0, flavour, &proto);
        let dirblk = 4096;
        let fmt = |p: &str| xfs_db_format(&img, p);
        // xfs_db says every directory format this test means to cover was made.
        assert_eq!(fmt("/sf").0, "1 (local)", "{flavour:?}");
        assert_eq!(fmt("/block"), ("2 (extents)".to_string(), dirblk), "{flavour:?}: single-block directory");
        assert!(fmt("/leaf").1 > dirblk, "{flavour:?}: /leaf is a leaf/node directory");
        assert_eq!(fmt("/big").0, "3 (btree)", "{flavour:?}: /big is a btree directory");
        assert_eq!(fs_version(&img), if flavour == Flavour::V5 { 5 } else { 4 });
        // TYPE, LABEL and UUID as blkid prints them.
        if let Some(blkid) = interop_tool("blkid") {
            let text = run(Command::new(blkid).args(["-p", "-o", "export"]).arg(&img));
            let field = |k: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{k}="))).map(str::to_string);
            let disk = Disk::open(&img).unwrap();
            let probe = disk.probe(&disk.whole_disk()).unwrap().unwrap();
            assert_eq!(Some(probe.kind.name().to_string()), field("TYPE"), "{flavour:?}");
            assert_eq!(probe.label, field("LABEL"), "{flavour:?}");
            assert_eq!(probe.uuid, field("UUID"), "{flavour:?}");
        }

        let ours = our_tree(&*open(&img).1);
        for (path, seen) in &expect {
            assert_eq!(ours.get(path), Some(seen), "{flavour:?}: {path} as given to mkfs.xfs");
        }
        assert_eq!(ours.len(), expect.len(), "{flavour:?}: path count");
        for dir in ["/", "/sf", "/block", "/leaf", "/big", "/boot/grub"] {
            let db = xfs_db_ls(&img, dir);
            let Some(Seen::Dir(mine)) = ours.get(dir) else { panic!("{dir}") };
            assert_eq!(db.len(), mine.len(), "{flavour:?}: {dir} entry count vs xfs_db");
            for ((n1, k1), (n2, k2)) in db.iter().zip(mine) {
                assert_eq!(n1, n2, "{flavour:?}: {dir}");
                if let Some(k1) = k1 {
                    assert_eq!(k1, k2, "{flavour:?}: {dir}/{n1} kind");
                }
            }
        }

        let Some(ro) = Mount::try_new(&img, scratch.0.join("probe"), "ro,loop") else {
            eprintln!("{flavour:?}: this kernel does not mount it (V4 support compiled out): xfs_db only");
            continue;
        };
        ro.unmount();
        grow(&scratch.0, &img);
        assert_eq!(fmt("/frag").0, "3 (btree)", "{flavour:?}: /frag has a bmap btree");
        assert_eq!(fmt("/remotelink").0, "2 (extents)", "{flavour:?}: remote symlink");
        let (_disk, fs) = open(&img);
        let ro = Mount::new(&img, scratch.0.join("ro"), "ro,loop");
        let theirs = linux_tree(&ro.0);
        ro.unmount();
        let ours = our_tree(&*fs);
        assert!(theirs.len() > 22_000, "{flavour:?}: Linux sees {} paths", theirs.len());
        for (path, seen) in &theirs {
            assert_eq!(ours.get(path), Some(seen), "{flavour:?}: {path} as Linux reads it");
        }
        assert_eq!(ours.len(), theirs.len(), "{flavour:?}: path count");
        // Holes and unwritten extents read as zeros, as Linux reads them.
        let holes = fs.read_file("/holes", 1 << 30).unwrap();
        assert_eq!(holes.len(), 64 << 20);
        assert!(holes[4096..10 << 20].iter().all(|&b| b == 0));
        let pre = fs.read_file("/prealloc", 1 << 30).unwrap();
        assert_eq!(&pre[512 << 10..(512 << 10) + 8192], &pattern(30, 8192)[..]);
        assert!(pre[..512 << 10].iter().all(|&b| b == 0));
        linux_compared += 1;
    }
    assert!(linux_compared >= 1, "no flavour compared with Linux (V5 must mount)");
}

fn fs_version(img: &Path) -> u8 {
    let disk = Disk::open(img).unwrap();
    XfsFs::open(disk.window(&disk.whole_disk())).unwrap().version()
}

/// A byte of one inode flipped on a V5 copy: the inode's CRC no longer
/// matches. Linux refuses the file; boot-sim names the inode and its byte
/// offset (the one `xfs_db convert inode N byte` gives).
#[test]
fn corrupt_inode_crc_is_an_error_naming_its_offset() {
    if interop_tool("mkfs.xfs").is_none() || interop_tool("xfs_db").is_none() || mount_tools().is_none() {
        return;
    }
    let xfs_db = interop_tool("xfs_db").unwrap();
    let scratch = Scratch::new("xfs-crc");
    let src = scratch.0.join("f");
    std::fs::write(&src, b"hello\n").unwrap();
    let proto = scratch.0.join("proto");
    std::fs::write(&proto, format!("/dev/null\n0 0\nd--755 0 0\n f ---644 0 0 {}\n$\n", src.display())).unwrap();
    let img = scratch.0.join("v5.img");
    std::fs::File::create(&img).unwrap().set_len(320 << 20).unwrap();
    run(Command::new(interop_tool("mkfs.xfs").unwrap()).arg("-q").arg("-p").arg(&proto).arg(&img));
    let text = run(Command::new(&xfs_db).args(["-r", "-c", "path /f", "-c", "inode"]).arg(&img));
    let ino: u64 = text.trim().rsplit(' ').next().unwrap().parse().unwrap();
    let text = run(Command::new(&xfs_db).args(["-r", "-c"]).arg(format!("convert inode {ino} byte")).arg(&img));
    let off = u64::from_str_radix(text.split_whitespace().next().unwrap().trim_start_matches("0x"), 16).unwrap();
    assert_eq!(open(&img).1.read_file("/f", 100).unwrap(), b"hello\n");
    // di_mtime (offset 40): the structure stays valid, only the CRC breaks.
    let mut f = std::fs::OpenOptions::new().read(true).write(true).open(&img).unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, off + 40).unwrap();
    f.seek(SeekFrom::Start(off + 40)).unwrap();
    f.write_all(&[b[0] ^ 0x5a]).unwrap();
    drop(f);
    let ro = Mount::new(&img, scratch.0.join("ro"), "ro,loop");
    assert!(std::fs::read(ro.0.join("f")).is_err(), "Linux reads an inode with a bad CRC");
    ro.unmount();
    let err = open(&img).1.read_file("/f", 100).unwrap_err();
    assert!(matches!(err, DiskError::Corrupt { .. }), "{err}");
    let msg = err.to_string();
    assert!(msg.contains(&format!("XFS inode {ino}")) && msg.contains(&format!("byte {off:#x}")), "{msg}");
    assert!(msg.contains("CRC32C mismatch"), "{msg}");
}

/// Xen 4.17's pygrub on the same images: XFS V4 without ftype boots the
/// same kernel, initrd and args as boot-sim's pygrub; V4 with ftype and V5
/// fail in pygrub as boot-sim's pygrub says they do. The grub.cfg's default
/// is an entry title, which pygrub turns into entry 0.
#[test]
fn pygrub_reads_v4_only_as_boot_sim_says() {
    let Some(pygrub) = pygrub() else { return };
    if interop_tool("mkfs.xfs").is_none() || mount_tools().is_none() {
        return;
    }
    let scratch = Scratch::new("xfs-pygrub");
    let (proto, _) = proto(&scratch.0);
    for flavour in [Flavour::V4NoFtype, Flavour::V4, Flavour::V5] {
        let img = mkfs(&scratch.0, flavour, &proto);
        let outdir = scratch.0.join(format!("out-{flavour:?}"));
        std::fs::create_dir_all(&outdir).unwrap();
        let out = Command::new(&pygrub)
            .args(["-q", "--output-format=simple"])
            .arg(format!("--output-directory={}", outdir.display()))
            .arg(&img)
            .output()
            .unwrap();
        let disk = Disk::open(&img).unwrap();
        let d = discover::discover(&disk, Loader::Pygrub);
        let ours = select::choose(&disk, &d, &EntryRequest::Default);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if flavour != Flavour::V4NoFtype {
            assert!(!out.status.success(), "{flavour:?}: pygrub boots it");
            assert!(stderr.contains("Unable to find partition containing kernel"), "{flavour:?}: {stderr}");
            assert!(ours.is_err(), "{flavour:?}: boot-sim's pygrub boots it");
            let detail = format!("{:?}", d.probes);
            assert!(
                detail.contains("Unable to find partition containing kernel") && detail.contains("GRUB 2 reads xfs"),
                "{detail}"
            );
            continue;
        }
        assert!(out.status.success(), "{flavour:?}: pygrub fails: {stderr}");
        let c = ours.unwrap_or_else(|e| panic!("{flavour:?}: boot-sim's pygrub fails: {e}"));
        let text = String::from_utf8_lossy(&out.stdout);
        let field = |k: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{k} "))).map(str::to_string);
        let fs = disk.open_fs(&disk.whole_disk()).unwrap();
        let read = |hit: &discover::FileHit| fs.read_file(&hit.resolved_path, 1 << 30).unwrap();
        let kernel = std::fs::read(field("kernel").expect("pygrub printed a kernel")).unwrap();
        assert_eq!(sha(&read(&c.kernel)), sha(&kernel), "kernel bytes");
        let ramdisk = std::fs::read(field("ramdisk").expect("pygrub printed a ramdisk")).unwrap();
        assert_eq!(sha(&read(&c.initrd[0])), sha(&ramdisk), "ramdisk bytes");
        assert_eq!(field("args").unwrap_or_default().trim(), c.cmdline.trim(), "{text}");
        // grub.cfg's `set default="XFS test kernel"` (entry 1's title): both boot entry 0.
        assert_eq!((c.entry.index, c.cmdline.as_str()), (0, "ro first-entry"), "{text}");
    }
}
