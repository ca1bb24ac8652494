//! Interop: boot-sim's btrfs reader against the real thing on the same
//! bytes. Images are made by btrfs-progs' own `mkfs.btrfs --rootdir` (plain,
//! `--compress zlib|lzo|zstd`, `--subvol`, DUP and `-m single` metadata);
//! every listing (in readdir order), symlink target and file (sha256) is
//! compared with the Linux kernel's view of the image mounted read-only
//! through a loop device, and the structural facts (fsid, label,
//! generation, chunk map, default subvolume, subvolume list) with
//! `btrfs inspect-internal dump-super` / `dump-tree`, `btrfs subvolume
//! get-default` / `list` and `btrfs-map-logical`.
//!
//! Needs btrfs-progs ≥ 6.13 for `--compress` and `--subvol` (Debian
//! bookworm has 6.2; `scripts/interop-setup.sh` installs bookworm-backports'
//! 6.14), root and loop devices for the mounts. Locally a missing tool or a
//! failed mount skips; under `BOOT_SIM_INTEROP=require` it fails.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use boot_sim::qemu::Scratch;
use boot_sim::scratch_disk::run_tool;
use boot_sim::{InteropPolicy, find_tool, interop_tool, pattern_bytes};
use disk_image::fs::btrfs::{BtrfsFs, SubvolSpec};
use disk_image::fs::{Filesystem, NodeKind};
use disk_image::{Disk, RawImage, ReadAt, Window};
use sha2::{Digest, Sha256};

/// Unmounts (and detaches the loop device) however the test ends.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir(&self.0);
    }
}

/// Compressible text the size of a kernel.
fn kernel_like(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len);
    let mut i = 0u64;
    while out.len() < len {
        out.extend_from_slice(format!("{i:08x} mov %eax,{:#x}(%rbp); call boot_{}\n", i * 8, i % 97).as_bytes());
        i += 1;
    }
    out.truncate(len);
    out
}

/// The source tree every image is made from, under `root`.
fn populate(root: &Path) {
    let w = |p: &str, data: &[u8]| {
        let p = root.join(p);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, data).unwrap();
    };
    w(
        "boot/grub/grub.cfg",
        b"set default=0\nset timeout=1\nmenuentry 'Linux' {\n  linux /boot/vmlinuz root=/dev/xvda1 ro\n  initrd /boot/initrd.img\n}\n",
    );
    w("boot/vmlinuz-6.1.0", &kernel_like(7 << 20));
    w("boot/initrd.img-6.1.0", &pattern_bytes(1, (3 << 20) + 12345));
    w("etc/hostname", b"btrfs-guest\n");
    w("etc/empty", b"");
    // Compresses well and fits inline once compressed.
    w("etc/inline-compressible", &b"abcdefgh".repeat(400));
    w("etc/inline-random", &pattern_bytes(2, 1500));
    std::os::unix::fs::symlink("vmlinuz-6.1.0", root.join("boot/vmlinuz")).unwrap();
    std::os::unix::fs::symlink("initrd.img-6.1.0", root.join("boot/initrd.img")).unwrap();
    std::os::unix::fs::symlink("/boot/grub/grub.cfg", root.join("etc/abs-link")).unwrap();
    std::os::unix::fs::symlink("../boot", root.join("etc/dir-link")).unwrap();
    std::os::unix::fs::symlink("x".repeat(300), root.join("etc/long-link")).unwrap();
    // A sparse file: data, a 4 MiB hole, data, and a hole to the end.
    {
        use std::os::unix::fs::FileExt;
        let f = std::fs::File::create(root.join("var-sparse")).unwrap();
        f.write_all_at(&pattern_bytes(3, 70000), 0).unwrap();
        f.write_all_at(&pattern_bytes(4, 5000), 4 << 20).unwrap();
        f.set_len(9 << 20).unwrap();
    }
    for i in 0..5000 {
        w(&format!("big/entry-{i:05}"), format!("{i}\n").as_bytes());
    }
    w("deep/a/b/c/d/e/f/g/leaf", b"leaf\n");
}

fn mkfs_supports(mkfs: &Path, option: &str) -> bool {
    let out = Command::new(mkfs).arg("--help").output().expect("mkfs.btrfs --help");
    String::from_utf8_lossy(&out.stdout).contains(option) || String::from_utf8_lossy(&out.stderr).contains(option)
}

/// `mkfs.btrfs --rootdir SRC ARGS` on a 256 MiB sparse file, or `None`
/// (skipped) without btrfs-progs or an `option` it lacks.
fn mkfs(dir: &Path, name: &str, src: &Path, args: &[&str]) -> Option<PathBuf> {
    let mkfs = interop_tool("mkfs.btrfs")?;
    for a in args {
        if a.starts_with("--") && !mkfs_supports(&mkfs, a) {
            let msg = format!("mkfs.btrfs has no {a} (btrfs-progs < 6.13; bookworm-backports has 6.14)");
            assert!(InteropPolicy::from_env() != InteropPolicy::Require, "{msg} (BOOT_SIM_INTEROP=require)");
            eprintln!("SKIPPED: {msg}");
            return None;
        }
    }
    let img = dir.join(name);
    let f = std::fs::File::create(&img).unwrap();
    f.set_len(256 << 20).unwrap();
    drop(f);
    run_tool(Command::new(&mkfs).args(["-q", "-f", "--rootdir"]).arg(src).args(args).arg(&img));
    Some(img)
}

/// The image mounted read-only through a loop device with `opts`, or
/// `None` (skipped) when the mount fails outside CI.
fn mount(img: &Path, mnt: &Path, opts: &str) -> Option<Mounted> {
    std::fs::create_dir_all(mnt).unwrap();
    let out = Command::new(find_tool("mount").unwrap_or_else(|| "mount".into()))
        .arg("-t")
        .arg("btrfs")
        .arg("-o")
        .arg(format!("loop,ro{}{opts}", if opts.is_empty() { "" } else { "," }))
        .arg(img)
        .arg(mnt)
        .output()
        .unwrap();
    if !out.status.success() {
        let msg = format!(
            "interop_btrfs: `mount -o loop,ro` failed ({}); comparing with the kernel needs root and loop devices",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        assert!(InteropPolicy::from_env() != InteropPolicy::Require, "{msg} (BOOT_SIM_INTEROP=require)");
        eprintln!("SKIPPED: {msg}");
        let _ = std::fs::remove_dir(mnt);
        return None;
    }
    Some(Mounted(mnt.to_path_buf()))
}

fn sha(b: &[u8]) -> String {
    format!("{:x}", Sha256::digest(b))
}

/// Walks the kernel's view under `mnt` and ours of `fs` together: the same
/// entries in the same (readdir) order, kinds, symlink targets and file
/// contents. Returns the number of nodes compared.
fn compare_tree(fs: &dyn Filesystem, mnt: &Path) -> usize {
    let mut todo = vec![String::from("/")];
    let mut compared = 0;
    while let Some(dir) = todo.pop() {
        let host = mnt.join(dir.trim_start_matches('/'));
        let theirs: Vec<String> = std::fs::read_dir(&host)
            .unwrap_or_else(|e| panic!("{}: {e}", host.display()))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        let ours = fs.list_dir(&dir).unwrap_or_else(|e| panic!("list_dir {dir}: {e}"));
        let names: Vec<&str> = ours.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, theirs, "listing of {dir} (readdir order)");
        for e in &ours {
            compared += 1;
            let path = if dir == "/" { format!("/{}", e.name) } else { format!("{dir}/{}", e.name) };
            let hp = host.join(&e.name);
            let meta = std::fs::symlink_metadata(&hp).unwrap();
            let node = fs.stat(&path).unwrap_or_else(|err| panic!("stat {path}: {err}"));
            assert_eq!(node.kind, e.kind, "{path}: stat and list_dir disagree");
            if meta.file_type().is_symlink() {
                assert_eq!(e.kind, NodeKind::Symlink, "{path}");
                let target = std::fs::read_link(&hp).unwrap().to_string_lossy().into_owned();
                assert_eq!(fs.read_link(&path).unwrap(), target, "{path}: symlink target");
            } else if meta.is_dir() {
                assert_eq!(e.kind, NodeKind::Directory, "{path}");
                todo.push(path);
            } else {
                assert_eq!(e.kind, NodeKind::File, "{path}");
                assert_eq!(node.size, meta.len(), "{path}: size");
                let data = fs.read_file(&path, 64 << 20).unwrap_or_else(|err| panic!("read {path}: {err}"));
                let host_data = std::fs::read(&hp).unwrap();
                assert_eq!(sha(&data), sha(&host_data), "{path}: contents");
                let mut sunk = Vec::new();
                assert_eq!(fs.read_file_into(&path, 64 << 20, &mut sunk).unwrap(), host_data.len());
                assert!(sunk == host_data, "{path}: read_file_into contents");
            }
        }
    }
    compared
}

fn btrfs_cmd(args: &[&str], img: &Path) -> String {
    let btrfs = find_tool("btrfs").expect("btrfs (btrfs-progs)");
    let out = Command::new(btrfs).args(args).arg(img).output().unwrap();
    assert!(out.status.success(), "btrfs {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

/// `dump-super`'s "name value" lines.
fn dump_super(img: &Path) -> BTreeMap<String, String> {
    btrfs_cmd(&["inspect-internal", "dump-super"], img)
        .lines()
        .filter_map(|l| {
            let mut it = l.splitn(2, char::is_whitespace);
            Some((it.next()?.to_string(), it.next()?.trim().to_string()))
        })
        .collect()
}

/// Chunks as `dump-tree -t chunk` prints them: logical start → (length,
/// physical offset of each stripe).
fn dump_chunks(img: &Path) -> BTreeMap<u64, (u64, Vec<u64>)> {
    let text = btrfs_cmd(&["inspect-internal", "dump-tree", "-t", "chunk"], img);
    let mut out = BTreeMap::new();
    let mut cur: Option<u64> = None;
    for line in text.lines().map(str::trim) {
        if let Some(rest) = line.split("key (FIRST_CHUNK_TREE CHUNK_ITEM ").nth(1) {
            let logical = rest.split(')').next().unwrap().parse().unwrap();
            cur = Some(logical);
        } else if let (Some(c), Some(rest)) = (cur, line.strip_prefix("length ")) {
            let len = rest.split_whitespace().next().unwrap().parse().unwrap();
            out.insert(c, (len, Vec::new()));
        } else if let (Some(c), true) = (cur, line.starts_with("stripe ")) {
            let off = line.split("offset ").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
            out.get_mut(&c).unwrap().1.push(off);
        }
    }
    out
}

fn open(img: &Path) -> BtrfsFs {
    let raw = std::sync::Arc::new(RawImage::open(img).unwrap());
    let len = raw.size();
    BtrfsFs::open(Window::new(raw, 0, len, "xvda")).unwrap_or_else(|e| panic!("{}: {e}", img.display()))
}

/// Checks structure against btrfs-progs and contents against the kernel.
fn check_image(scratch: &Path, img: &Path, expect_dup: bool) {
    let fs = open(img);
    let sup = dump_super(img);
    assert_eq!(fs.uuid(), sup["fsid"], "fsid");
    assert_eq!(fs.generation().to_string(), sup["generation"], "generation");
    assert_eq!(fs.label().unwrap_or_default(), sup.get("label").cloned().unwrap_or_default(), "label");
    let theirs = dump_chunks(img);
    let ours: BTreeMap<u64, (u64, Vec<u64>)> =
        fs.chunks().into_iter().map(|c| (c.logical, (c.length, c.copies.clone()))).collect();
    assert_eq!(ours, theirs, "chunk map");
    assert_eq!(ours.values().any(|(_, c)| c.len() == 2), expect_dup, "DUP chunks present");
    // Through Disk::open_fs, as every command opens it.
    let disk = Disk::open(img).unwrap();
    let top = disk.open_fs(&disk.volumes()[0]).unwrap();
    let Some(_m) = mount(img, &scratch.join("mnt"), "subvolid=5") else { return };
    let n = compare_tree(&*top, &scratch.join("mnt"));
    assert!(n > 5000, "compared {n} nodes");
}

#[test]
fn plain_image_equals_the_kernel_and_btrfs_progs() {
    let s = Scratch::new("btrfs-plain");
    populate(&s.0.join("src"));
    let Some(img) = mkfs(&s.0, "plain.img", &s.0.join("src"), &["-L", "bootsim-plain"]) else { return };
    let fs = open(&img);
    assert_eq!(fs.label().as_deref(), Some("bootsim-plain"));
    check_image(&s.0, &img, true);
}

#[test]
fn single_metadata_image_equals_the_kernel() {
    let s = Scratch::new("btrfs-single");
    populate(&s.0.join("src"));
    let Some(img) = mkfs(&s.0, "single.img", &s.0.join("src"), &["-m", "single"]) else { return };
    check_image(&s.0, &img, false);
}

/// `--compress ALGO`: the tree holds compressed extents of that type
/// (`dump-tree` says so), and the files read back as the kernel reads them.
fn compressed(algo: &str, code: u8) {
    let s = Scratch::new(&format!("btrfs-{algo}"));
    populate(&s.0.join("src"));
    let Some(img) = mkfs(&s.0, &format!("{algo}.img"), &s.0.join("src"), &["--compress", algo]) else { return };
    let fs_tree = btrfs_cmd(&["inspect-internal", "dump-tree", "-t", "fs"], &img);
    let regular = fs_tree.lines().filter(|l| l.contains(&format!("compression {code}"))).count();
    assert!(regular > 10, "{algo}: only {regular} extents with compression {code}");
    assert!(
        fs_tree.lines().any(|l| l.contains("inline extent") && l.contains(&format!("compression {code}"))),
        "{algo}: no compressed inline extent"
    );
    check_image(&s.0, &img, true);
}

#[test]
fn zlib_image_equals_the_kernel() {
    compressed("zlib", 1);
}

#[test]
fn lzo_image_equals_the_kernel() {
    compressed("lzo", 2);
}

#[test]
fn zstd_image_equals_the_kernel() {
    compressed("zstd", 3);
}

/// Subvolumes as a Fedora-style layout has them: `@` (default) with
/// `/boot`, `@home`, and `@/var` nested in `@`. GRUB 2's view starts at the
/// top level (`/@/boot/…`), Linux's at the default subvolume.
#[test]
fn subvolumes_as_grub2_and_linux_name_them() {
    let s = Scratch::new("btrfs-subvol");
    let src = s.0.join("src");
    populate(&src.join("@"));
    std::fs::create_dir_all(src.join("@home/user")).unwrap();
    std::fs::write(src.join("@home/user/notes"), b"notes\n").unwrap();
    std::fs::create_dir_all(src.join("@/var/log")).unwrap();
    std::fs::write(src.join("@/var/log/messages"), kernel_like(300_000)).unwrap();
    let args = ["--subvol", "default:@", "--subvol", "@home", "--subvol", "@/var", "--compress", "zstd"];
    let Some(img) = mkfs(&s.0, "subvol.img", &src, &args) else { return };
    let fs = open(&img);
    let disk = Disk::open(&img).unwrap();
    let grub_view = disk.open_fs(&disk.volumes()[0]).unwrap();
    assert_eq!(
        grub_view.read_file("/@/boot/grub/grub.cfg", 1 << 20).unwrap(),
        std::fs::read(src.join("@/boot/grub/grub.cfg")).unwrap()
    );
    assert!(grub_view.stat("/boot").is_err(), "GRUB 2 paths start at the top level, not the default subvolume");

    // The kernel: top level, default subvolume, subvol=@home.
    {
        let Some(_m) = mount(&img, &s.0.join("mnt"), "subvolid=5") else { return };
        assert!(compare_tree(&*grub_view, &s.0.join("mnt")) > 5000);
        let mnt = s.0.join("mnt");
        let get_default = btrfs_cmd(&["subvolume", "get-default"], &mnt);
        let default_id: u64 = get_default.split_whitespace().nth(1).unwrap().parse().unwrap();
        assert_eq!(fs.default_subvolume().unwrap(), default_id, "{get_default}");
        // "ID 256 gen 9 top level 5 path @home"
        let listed: Vec<(u64, u64, u64, String)> = btrfs_cmd(&["subvolume", "list"], &mnt)
            .lines()
            .map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                (w[1].parse().unwrap(), w[3].parse().unwrap(), w[6].parse().unwrap(), w[8..].join(" "))
            })
            .collect();
        let ours: Vec<(u64, u64, u64, String)> =
            fs.subvolumes().unwrap().into_iter().map(|s| (s.id, s.generation, s.parent, s.path)).collect();
        assert_eq!(ours, listed, "btrfs subvolume list");
        assert_eq!(listed.len(), 3);
    }
    {
        let Some(_m) = mount(&img, &s.0.join("mnt"), "") else { return };
        let linux = fs.open_subvolume(&SubvolSpec::Default).unwrap();
        assert!(compare_tree(&linux, &s.0.join("mnt")) > 5000);
        assert_eq!(linux.read_link("/boot/vmlinuz").unwrap(), "vmlinuz-6.1.0");
    }
    {
        let Some(_m) = mount(&img, &s.0.join("mnt"), "subvol=@home") else { return };
        let home = fs.open_subvolume(&SubvolSpec::Path("@home".into())).unwrap();
        assert_eq!(compare_tree(&home, &s.0.join("mnt")), 2);
        let by_id = fs.open_subvolume(&SubvolSpec::Id(home.subvolume_id())).unwrap();
        assert_eq!(by_id.read_file("/user/notes", 100).unwrap(), b"notes\n");
    }
    let err = fs.open_subvolume(&SubvolSpec::Path("@/boot".into())).unwrap_err().to_string();
    assert!(err.contains("not a subvolume"), "{err}");
}

fn flip_byte(img: &Path, at: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new().read(true).write(true).open(img).unwrap();
    let mut b = [0u8];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x5A], at).unwrap();
}

/// Physical offsets of each mirror of a logical address, from
/// `btrfs-map-logical` ("mirror 1 logical X physical Y device …").
fn map_logical(img: &Path, logical: u64) -> Vec<u64> {
    let tool = find_tool("btrfs-map-logical").expect("btrfs-map-logical (btrfs-progs)");
    let out = Command::new(tool).arg("-l").arg(logical.to_string()).arg(img).output().unwrap();
    assert!(out.status.success(), "btrfs-map-logical: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split("physical ").nth(1)?.split_whitespace().next()?.parse().ok())
        .collect()
}

/// A flipped byte in the FS tree's root block: with DUP the other copy is
/// read; with both copies (or the only one) bad, the error names the block
/// and its byte offset. A bad primary superblock falls back to the mirror
/// at 64 MiB; with both bad, the error names the primary's offset.
#[test]
fn checksum_errors_name_the_byte_offset() {
    let s = Scratch::new("btrfs-corrupt");
    populate(&s.0.join("src"));
    let Some(img) = mkfs(&s.0, "c.img", &s.0.join("src"), &[]) else { return };
    if find_tool("btrfs-map-logical").is_none() {
        assert!(InteropPolicy::from_env() != InteropPolicy::Require, "btrfs-map-logical missing");
        return;
    }
    let roots = btrfs_cmd(&["inspect-internal", "dump-tree", "-t", "root"], &img);
    // "item N key (FS_TREE ROOT_ITEM 0) …" then "… bytenr 30523392 level 0 …"
    let after = roots.split("(FS_TREE ROOT_ITEM 0)").nth(1).expect("FS_TREE root item");
    let fs_root: u64 = after.split("bytenr ").nth(1).unwrap().split_whitespace().next().unwrap().parse().unwrap();
    let mirrors = map_logical(&img, fs_root);
    assert_eq!(mirrors.len(), 2, "DUP metadata: {mirrors:?}");
    let want = std::fs::read(s.0.join("src/boot/grub/grub.cfg")).unwrap();

    flip_byte(&img, mirrors[0] + 200);
    assert_eq!(open(&img).read_file("/boot/grub/grub.cfg", 4096).unwrap(), want, "the DUP copy is read");
    flip_byte(&img, mirrors[1] + 200);
    let err = open(&img).read_file("/boot/grub/grub.cfg", 4096).unwrap_err().to_string();
    assert!(err.contains("checksum mismatch"), "{err}");
    assert!(err.contains(&format!("byte {:#x}", mirrors[0])), "{err} (want byte {:#x})", mirrors[0]);
    assert!(err.contains(&format!("logical {fs_root:#x}")), "{err}");

    flip_byte(&img, 0x10000 + 0x100);
    assert_eq!(open(&img).uuid(), dump_super(&img)["fsid"], "the mirror at 64 MiB is used");
    flip_byte(&img, 0x400_0000 + 0x100);
    let raw = std::sync::Arc::new(RawImage::open(&img).unwrap());
    let len = raw.size();
    let err = BtrfsFs::open(Window::new(raw, 0, len, "xvda")).unwrap_err().to_string();
    assert!(err.contains("btrfs superblock") && err.contains("byte 0x10000") && err.contains("checksum"), "{err}");
}
