//! Who owns a sector, against e2fsprogs: `disk_image::owners::attribute`
//! on an ext2 and an ext4 filesystem made by the real `mke2fs -d`, checked
//! with `debugfs -R "stat PATH"` (the blocks the filesystem itself says
//! hold each file's data).
//!
//! Every sector of every file's blocks, read in overlapping 64-sector reads
//! over the whole partition (as GRUB 0.97 reads tracks), is attributed to
//! that file; no sector outside its blocks is, except the uniform sectors a
//! file's last block may be followed by (at most seven, see
//! `owners::MAX_UNIFORM_TAIL`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use boot_sim::interop_tool;
use boot_sim::qemu::Scratch;
use disk_image::owners::{self, Limits, Owner};
use disk_image::{RawImage, ReadAt};

/// Partition start (sectors) and size of the test disks.
const START: u64 = 2048;
const SECTORS: u64 = 16384;

/// Deterministic bytes no two sectors of which are equal.
fn content(seed: u32, len: usize) -> Vec<u8> {
    boot_sim::pattern_bytes(seed, len)
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The disk sectors (partition offset added) of the file's data blocks, as
/// `debugfs -R "stat PATH"` lists them under BLOCKS (ext2) or EXTENTS
/// (ext4): `(0-11):5019-5030, (IND):5031, (12):5032`; the indirect and
/// extent-tree blocks (`(IND)`, `(ETB0)`) are metadata, not the file's bytes.
fn debugfs_sectors(debugfs: &Path, fs_img: &Path, path: &str, block: u64) -> BTreeSet<u64> {
    let out = run(Command::new(debugfs).arg("-R").arg(format!("stat {path}")).arg(fs_img));
    let list = out
        .split_once("BLOCKS:")
        .or_else(|| out.split_once("EXTENTS:"))
        .unwrap_or_else(|| panic!("debugfs stat {path}: no BLOCKS/EXTENTS in {out:?}"))
        .1;
    let per = block / 512;
    let mut sectors = BTreeSet::new();
    for item in list.split(|c: char| c == ',' || c.is_whitespace()).filter(|w| w.starts_with('(')) {
        let Some((label, range)) = item.split_once("):") else { continue };
        if !label.trim_start_matches('(').starts_with(|c: char| c.is_ascii_digit()) {
            continue;
        }
        let (a, b) = range.split_once('-').unwrap_or((range, range));
        let (a, b): (u64, u64) = (a.parse().unwrap(), b.parse().unwrap());
        for blk in a..=b {
            sectors.extend(START + blk * per..START + (blk + 1) * per);
        }
    }
    assert!(!sectors.is_empty(), "debugfs stat {path}: no data blocks in {out:?}");
    sectors
}

fn case(kind: &str, block: u64) {
    let (Some(mke2fs), Some(debugfs), Some(sfdisk)) =
        (interop_tool("mke2fs"), interop_tool("debugfs"), interop_tool("sfdisk"))
    else {
        return;
    };
    let dir = Scratch::new(&format!("owners-{kind}"));
    let root = dir.0.join("root");
    std::fs::create_dir_all(root.join("boot/grub/i386-pc")).unwrap();
    // Sizes that end inside a block, a file smaller than a sector, and
    // forty modules side by side (each read covers several files).
    let mut files: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    files.insert("/boot/vmlinuz-6.1".into(), content(1, 700_001));
    files.insert("/boot/initrd.img-6.1".into(), content(2, 123_457));
    files.insert("/boot/grub/grub.cfg".into(), content(3, 300));
    for i in 0..40 {
        files.insert(format!("/boot/grub/i386-pc/m{i}.mod"), content(10 + i, 1_000 + 777 * i as usize));
    }
    for (path, data) in &files {
        std::fs::write(root.join(path.trim_start_matches('/')), data).unwrap();
    }
    let fs_img = dir.0.join("fs.img");
    std::fs::File::create(&fs_img).unwrap().set_len(SECTORS * 512).unwrap();
    run(Command::new(&mke2fs).args(["-q", "-F", "-t", kind, "-b", &block.to_string(), "-d"]).arg(&root).arg(&fs_img));
    // The disk: an MBR with one partition, the filesystem in it.
    let disk = dir.0.join("disk.img");
    std::fs::File::create(&disk).unwrap().set_len((START + SECTORS) * 512).unwrap();
    boot_sim::scratch_disk::sfdisk_script(&sfdisk, &disk, &format!("start={START}, size={SECTORS}, type=83\n"));
    let fs_bytes = std::fs::read(&fs_img).unwrap();
    let f = std::fs::OpenOptions::new().write(true).open(&disk).unwrap();
    use std::os::unix::fs::FileExt;
    f.write_all_at(&fs_bytes, START * 512).unwrap();

    let reads: Vec<(u64, u64)> = (START..START + SECTORS).step_by(48).map(|l| (l, 64)).collect();
    let image: Arc<dyn ReadAt> = Arc::new(RawImage::open(&disk).unwrap());
    let r = owners::attribute(image, &reads, Limits::default());
    // Sectors per owner path, as attributed.
    let mut got: BTreeMap<String, BTreeSet<u64>> = BTreeMap::new();
    for (pieces, &(lba, _)) in r.pieces.iter().zip(&reads) {
        let mut at = lba;
        for &(o, n) in pieces {
            if let Owner::File { device, path, .. } = &r.owners[o] {
                assert_eq!(device, "(hd0,msdos1)");
                got.entry(path.clone()).or_default().extend(at..at + n);
            }
            at += n;
        }
    }
    for path in files.keys() {
        let want = debugfs_sectors(&debugfs, &fs_img, path, block);
        let have = got.remove(path).unwrap_or_default();
        let missing: Vec<_> = want.difference(&have).collect();
        assert!(missing.is_empty(), "{kind} {path}: sectors debugfs lists that were not attributed: {missing:?}");
        let extra: Vec<_> = have.difference(&want).collect();
        assert!(extra.len() <= 7, "{kind} {path}: sectors attributed outside its blocks: {extra:?}");
    }
    assert!(got.is_empty(), "{kind}: sectors attributed to files that do not exist: {:?}", got.keys());
}

#[test]
fn ext2_files_are_where_debugfs_says() {
    case("ext2", 1024);
}

#[test]
fn ext4_files_are_where_debugfs_says() {
    case("ext4", 4096);
}
