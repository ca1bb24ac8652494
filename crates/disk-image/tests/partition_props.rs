//! Property tests for the partition reader: random tables written by our
//! own writers (boot-sim-fixtures, whose output sfdisk reproduces byte for
//! byte) read back exactly; random and mutated bytes never panic.

use std::sync::Arc;

use boot_sim_fixtures::gpt::{GptBuilder, GptHeaderOverrides, GptPartition, Guid as FGuid, type_guid};
use boot_sim_fixtures::mbr::{Logical, MbrBuilder, MbrEntry};
use disk_image::partition::{self, PartitionType, Role, Scheme};
use disk_image::{MemImage, ReadAt};
use proptest::prelude::*;

const DISK_SECTORS: u64 = 1 << 16; // 32 MiB

fn read(bytes: Vec<u8>) -> partition::PartitionTable {
    let img: Arc<dyn ReadAt> = Arc::new(MemImage::new(bytes, "prop"));
    partition::read_partition_table(&*img).expect("tables are diagnostics, not errors")
}

/// Sizes (in 64-sector units) of up to 3 primaries and up to 12 logicals.
fn mbr_layout() -> impl Strategy<Value = (Vec<(u32, bool)>, Vec<u32>)> {
    (proptest::collection::vec((1u32..40, any::<bool>()), 1..=3), proptest::collection::vec(1u32..20, 0..=12))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn mbr_with_logicals_round_trips((primaries, logicals) in mbr_layout()) {
        let mut mbr = MbrBuilder::new().disk_signature(0xC0FFEE00);
        let mut next = 64u32;
        for (slot, (units, bootable)) in primaries.iter().enumerate() {
            let mut e = MbrEntry::new(0x83, next, units * 64);
            if *bootable { e = e.bootable(); }
            mbr = mbr.primary(slot, e).unwrap();
            next += units * 64;
        }
        let slot = primaries.len();
        if !logicals.is_empty() {
            let parts: Vec<(u8, u32)> = logicals.iter().map(|u| (0x83, u * 64)).collect();
            let packed = Logical::pack(next, 64, &parts).unwrap();
            let span: u32 = logicals.iter().map(|u| u * 64 + 64).sum();
            mbr = mbr.extended(slot, MbrEntry::new(0x05, next, span), &packed).unwrap();
        }
        let mut img = vec![0u8; (DISK_SECTORS * 512) as usize];
        mbr.write_into(&mut img).unwrap();
        let t = read(img);
        prop_assert_eq!(t.scheme, Scheme::Mbr);
        prop_assert_eq!(t.disk_signature, Some(0xC0FFEE00));
        prop_assert!(t.diagnostics.is_empty(), "{:?}", t.diagnostics);
        let prim: Vec<_> = t.partitions.iter().filter(|p| p.role == Role::Primary).collect();
        prop_assert_eq!(prim.len(), primaries.len());
        for (p, (units, bootable)) in prim.iter().zip(&primaries) {
            prop_assert_eq!(p.sectors, u64::from(units * 64));
            prop_assert_eq!(p.bootable, *bootable);
        }
        let logs: Vec<_> = t.partitions.iter().filter(|p| p.role == Role::Logical).collect();
        prop_assert_eq!(logs.len(), logicals.len());
        for (i, (p, units)) in logs.iter().zip(&logicals).enumerate() {
            prop_assert_eq!(p.number, 5 + i as u32, "logical numbering starts at 5");
            prop_assert_eq!(p.sectors, u64::from(units * 64));
            prop_assert_eq!(p.ptype.clone(), PartitionType::Mbr(0x83));
        }
    }

    #[test]
    fn gpt_round_trips_and_survives_a_corrupt_primary(
        sizes in proptest::collection::vec(1u64..200, 1..=20),
        corrupt_primary in any::<bool>(),
    ) {
        let disk_guid = FGuid::numbered(0xAB, 0);
        let mut gpt = GptBuilder::new(DISK_SECTORS, disk_guid);
        let mut next = 2048u64;
        for (i, s) in sizes.iter().enumerate() {
            gpt = gpt.partition(GptPartition {
                type_guid: if i == 0 { type_guid::BIOS_BOOT } else { type_guid::LINUX_FILESYSTEM },
                unique_guid: FGuid::numbered(0xCD, i as u32 + 1),
                first_lba: next,
                last_lba: next + s * 8 - 1,
                attributes: if i == 1 { 1 << 2 } else { 0 },
                name: format!("part {i}"),
            });
            next += s * 8;
        }
        if corrupt_primary {
            gpt = gpt.primary_overrides(GptHeaderOverrides { header_crc: Some(0xDEAD_BEEF), ..Default::default() });
        }
        let mut img = vec![0u8; (DISK_SECTORS * 512) as usize];
        gpt.write_into(&mut img).unwrap();
        let t = read(img);
        prop_assert_eq!(t.scheme, Scheme::Gpt);
        prop_assert_eq!(t.disk_guid.map(|g| g.to_string()), Some(disk_guid.to_string()));
        prop_assert_eq!(t.partitions.len(), sizes.len());
        prop_assert_eq!(t.gpt_header_lba.map(|l| l.0), Some(if corrupt_primary { DISK_SECTORS - 1 } else { 1 }));
        prop_assert_eq!(t.diagnostics.len(), usize::from(corrupt_primary), "{:?}", t.diagnostics);
        for (i, (p, s)) in t.partitions.iter().zip(&sizes).enumerate() {
            prop_assert_eq!(p.number, i as u32 + 1);
            prop_assert_eq!(p.sectors, s * 8);
            prop_assert_eq!(p.bootable, i == 1);
            let g = p.gpt.as_ref().unwrap();
            prop_assert_eq!(g.name.clone(), format!("part {i}"));
            prop_assert_eq!(g.unique_guid.to_string(), FGuid::numbered(0xCD, i as u32 + 1).to_string());
        }
    }

    /// Arbitrary sector 0 and arbitrary bytes around the GPT header and EBR
    /// area: the reader returns (diagnostics at most), never panics.
    #[test]
    fn arbitrary_bytes_never_panic(
        sector0 in proptest::collection::vec(any::<u8>(), 512),
        extra in proptest::collection::vec(any::<u8>(), 0..4096),
        force_table in any::<bool>(),
    ) {
        let mut img = sector0;
        if force_table {
            img[510] = 0x55;
            img[511] = 0xAA;
            for e in 0..4 {
                img[446 + 16 * e] &= 0x80;
            }
        }
        img.extend(extra);
        let img: Arc<dyn ReadAt> = Arc::new(MemImage::new(img, "prop"));
        let _ = partition::read_partition_table(&*img);
    }

    /// Flipping any byte of a valid GPT image's table sectors is either
    /// caught by a CRC (backup used or error) or harmless.
    #[test]
    fn single_byte_corruption_is_detected_or_harmless(pos in 512usize..(34 * 512), byte in any::<u8>()) {
        let gpt = GptBuilder::new(4096, FGuid::numbered(1, 0)).partition(GptPartition {
            type_guid: type_guid::LINUX_FILESYSTEM,
            unique_guid: FGuid::numbered(2, 1),
            first_lba: 2048,
            last_lba: 4000,
            attributes: 0,
            name: "root".into(),
        });
        let mut img = vec![0u8; 4096 * 512];
        gpt.write_into(&mut img).unwrap();
        let changed = img[pos] != byte;
        img[pos] = byte;
        let t = read(img);
        prop_assert_eq!(t.partitions.len(), 1, "the backup keeps the table readable: {:?}", t.diagnostics);
        prop_assert_eq!(t.partitions[0].start.0, 2048);
        if changed && pos < 512 + 92 {
            prop_assert!(!t.diagnostics.is_empty(), "a changed header byte must be reported");
        }
    }
}

#[test]
fn ebr_chains_longer_than_the_cap_are_cut_with_a_warning() {
    let parts: Vec<(u8, u32)> = (0..200).map(|_| (0x83, 8)).collect();
    let packed = Logical::pack(64, 8, &parts).unwrap();
    let mbr = MbrBuilder::new().extended(0, MbrEntry::new(0x05, 64, 200 * 16 + 64), &packed).unwrap();
    let mut img = vec![0u8; 8192 * 512];
    mbr.write_into(&mut img).unwrap();
    let t = read(img);
    assert_eq!(t.partitions.iter().filter(|p| p.role == Role::Logical).count(), partition::MAX_EBR_CHAIN);
    assert!(t.diagnostics.iter().any(|d| d.message.contains("longer than 128")), "{:?}", t.diagnostics);
}

#[test]
fn absurd_gpt_entry_counts_are_refused_without_allocating() {
    let gpt = GptBuilder::new(4096, FGuid::numbered(1, 0))
        .primary_overrides(GptHeaderOverrides { num_entries: Some(u32::MAX), ..Default::default() })
        .backup_overrides(GptHeaderOverrides { entry_size: Some(1 << 31), ..Default::default() });
    let mut img = vec![0u8; 4096 * 512];
    gpt.write_into(&mut img).unwrap();
    let t = read(img);
    assert!(t.partitions.is_empty());
    let msg = &t.diagnostics.iter().find(|d| d.severity == disk_image::Severity::Error).expect("an error").message;
    assert!(msg.contains("exceed the 1048576-byte limit"), "{msg}");
    assert!(msg.contains("backup"), "{msg}");
}
