//! Entry points for the fuzz targets in `fuzz/` that reach boot configs,
//! and for the test that replays their corpus under `cargo test`
//! (`crates/boot-config/tests/fuzz_corpus.rs`); the disk-only ones are
//! `disk_image::fuzzing`. Each takes arbitrary bytes and must return (with
//! any result) for every input — never panic, hang or allocate without bound.

use std::sync::Arc;

use disk_image::{Disk, MemImage};

use crate::inspect;

/// Partition table, boot code, filesystem probes and config discovery.
pub fn partition_table(data: &[u8]) {
    let Ok(disk) = Disk::from_reader(Arc::new(MemImage::new(data.to_vec(), "fuzz"))) else { return };
    let _ = inspect::inspect(&disk);
    for v in disk.volumes() {
        let _ = disk.volume(&v.names.grub);
    }
}

/// Arbitrary bytes as a GRUB legacy menu (both dialects) and as an
/// extlinux config, then entry selection.
pub fn menu_legacy(data: &[u8]) {
    use crate::select::{self, EntryRequest};
    use crate::{Dialect, extlinux, grub_legacy};
    for m in [
        grub_legacy::parse(data),
        grub_legacy::parse_dialect(data, Dialect::Pygrub),
        extlinux::parse(data, "/boot/extlinux"),
    ] {
        let _ = select::grub_pick(&m, Some(usize::MAX), &EntryRequest::Default);
        let _ = select::pygrub_pick(&m, &EntryRequest::Title("x".into()));
    }
}

/// Arbitrary bytes as LVM2 text metadata on two small PVs
/// ([`disk_image::fuzzing::lvm_metadata_disk`]), so that the whole path
/// runs: label, mda header, text, VG, LV mapping, the LVs as volumes, the
/// inspect report, a filesystem walk on each LV.
pub fn lvm_metadata(data: &[u8]) {
    let Some(disk) = disk_image::fuzzing::lvm_metadata_disk(data) else { return };
    let _ = inspect::inspect(&disk);
    disk_image::fuzzing::lvm_volumes_walk(&disk);
}
