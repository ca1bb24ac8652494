//! `Filesystem::read_file_into` gives what `read_file` gives, and refuses
//! what it refuses, on our own ext fixtures.

use disk_image::fs::{FileSink, Filesystem};
use disk_image::{Disk, DiskError, PathErrorKind};

fn fs(image: &str) -> Box<dyn Filesystem> {
    let path = format!("{}/../../fixtures/images/{image}", env!("CARGO_MANIFEST_DIR"));
    let disk = Disk::open(&path).expect("fixture opens");
    let v = disk.volumes().iter().find(|v| disk.open_fs(v).is_ok()).expect("an ext volume").clone();
    disk.open_fs(&v).expect("fs")
}

/// A sink that hands back a buffer one byte short.
struct Short(Vec<u8>);
impl FileSink for Short {
    fn buffer(&mut self, len: usize) -> std::io::Result<&mut [u8]> {
        self.0 = vec![0; len.saturating_sub(1)];
        Ok(&mut self.0)
    }
}

#[test]
fn read_file_into_equals_read_file() {
    let fs = fs("pv-kernel.img");
    let mut checked = 0;
    for e in fs.list_dir("/boot").unwrap() {
        let path = format!("/boot/{}", e.name);
        let Ok(want) = fs.read_file(&path, u64::MAX) else { continue };
        let mut got = vec![0xAA; 3];
        assert_eq!(fs.read_file_into(&path, u64::MAX, &mut got).unwrap(), want.len());
        assert_eq!(got, want, "{path}");
        checked += usize::from(want.len() > 4096);
        // Over the limit: refused before any buffer is asked for.
        if !want.is_empty() {
            let mut sink = Short(Vec::new());
            let e = fs.read_file_into(&path, want.len() as u64 - 1, &mut sink).unwrap_err();
            assert!(matches!(e, DiskError::Path { kind: PathErrorKind::TooLarge, .. }), "{e}");
            assert!(sink.0.is_empty());
            let e = fs.read_file_into(&path, u64::MAX, &mut sink).unwrap_err();
            assert!(e.to_string().contains("buffer of"), "{e}");
        }
    }
    assert!(checked > 0, "no file of more than one block in /boot");
}
