//! `Disk::open_memoized` (the `menu` command's disk) gives the same
//! discoveries and choices as `Disk::open`, and `fs::Memo` answers every
//! question as its filesystem does while asking it only once.

use std::cell::Cell;
use std::rc::Rc;

use boot_config::discover::{self, Loader};
use boot_config::select::{self, EntryRequest};
use disk_image::Disk;
use disk_image::fs::{DirEntry, FileSink, Filesystem, Memo, Node};

fn fixtures() -> Vec<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images");
    let mut imgs: Vec<_> = std::fs::read_dir(dir)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "img"))
        .collect();
    imgs.sort();
    imgs
}

#[test]
fn memoized_disk_answers_as_the_plain_one() {
    let requests = [EntryRequest::Default, EntryRequest::parse("1"), EntryRequest::parse("no such title")];
    let mut compared = 0;
    for img in fixtures() {
        let (Ok(plain), Ok(memo)) = (Disk::open(&img), Disk::open_memoized(&img)) else { continue };
        for loader in Loader::ALL {
            let (a, b) = (discover::discover(&plain, loader), discover::discover(&memo, loader));
            assert_eq!(format!("{a:?}"), format!("{b:?}"), "{} {}", img.display(), loader.name());
            for r in &requests {
                let (ca, cb) = (select::choose(&plain, &a, r), select::choose(&memo, &b, r));
                assert_eq!(format!("{ca:?}"), format!("{cb:?}"), "{} {} {r:?}", img.display(), loader.name());
                compared += usize::from(ca.is_ok());
            }
        }
    }
    assert!(compared > 20, "only {compared} bootable choices compared");
}

/// Counts the questions that reach the filesystem.
struct Counting {
    inner: Box<dyn Filesystem>,
    asked: Rc<Cell<usize>>,
}

impl Counting {
    fn ask(&self) {
        self.asked.set(self.asked.get() + 1);
    }
}

impl Filesystem for Counting {
    fn stat(&self, path: &str) -> disk_image::Result<Node> {
        self.ask();
        self.inner.stat(path)
    }
    fn read_link(&self, path: &str) -> disk_image::Result<String> {
        self.ask();
        self.inner.read_link(path)
    }
    fn read_file(&self, path: &str, max_len: u64) -> disk_image::Result<Vec<u8>> {
        self.ask();
        self.inner.read_file(path, max_len)
    }
    fn read_file_into(&self, path: &str, max_len: u64, sink: &mut dyn FileSink) -> disk_image::Result<usize> {
        self.ask();
        self.inner.read_file_into(path, max_len, sink)
    }
    fn list_dir(&self, path: &str) -> disk_image::Result<Vec<DirEntry>> {
        self.ask();
        self.inner.list_dir(path)
    }
}

#[test]
fn memo_gives_the_filesystems_answers_and_asks_once() {
    let path = format!("{}/../../fixtures/images/pv-whole-disk.img", env!("CARGO_MANIFEST_DIR"));
    let disk = Disk::open(&path).expect("fixture opens");
    let v = disk.volumes().iter().find(|v| disk.open_fs(v).is_ok()).expect("a readable volume").clone();
    let plain = disk.open_fs(&v).expect("fs");
    let asked = Rc::new(Cell::new(0));
    let memo = Memo::new(Box::new(Counting { inner: disk.open_fs(&v).expect("fs"), asked: asked.clone() }));
    let paths = ["/", "/boot", "/boot/grub/menu.lst", "/boot/grub/grub.conf", "/nope", "/boot/nope/x", "/boot/grub"];
    let show = |r: &dyn std::fmt::Debug| format!("{r:?}");
    for round in 0..3 {
        for p in paths {
            assert_eq!(show(&memo.stat(p)), show(&plain.stat(p)), "stat {p}");
            assert_eq!(show(&memo.read_link(p)), show(&plain.read_link(p)), "read_link {p}");
            assert_eq!(show(&memo.list_dir(p)), show(&plain.list_dir(p)), "list_dir {p}");
            assert_eq!(show(&memo.read_file(p, 4096)), show(&plain.read_file(p, 4096)), "read_file {p}");
            // A smaller limit is another question, with its own answer.
            assert_eq!(show(&memo.read_file(p, 10)), show(&plain.read_file(p, 10)), "read_file {p} 10");
        }
        assert_eq!(asked.get(), paths.len() * 5, "round {round}: a question reached the filesystem twice");
    }
    // Big reads and reads into a sink are not remembered.
    let before = asked.get();
    let _ = memo.read_file("/boot/grub/grub.conf", u64::MAX);
    let _ = memo.read_file_into("/boot/grub/grub.conf", u64::MAX, &mut Vec::new());
    assert_eq!(asked.get(), before + 2);
}
