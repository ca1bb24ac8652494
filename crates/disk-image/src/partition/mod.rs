//! Partition tables: MBR with EBR chains, GPT, or none, read into one model
//! with the names GRUB legacy, GRUB 2 and Linux/Xen give each partition.

pub mod gpt;
pub mod mbr;

use std::collections::HashSet;

use serde::Serialize;

use crate::diag::Diagnostic;
use crate::error::Result;
use crate::guid::Guid;
use crate::read::ReadAt;
use crate::units::{ByteOffset, Lba, SECTOR_SIZE};
use mbr::RawMbr;

/// Cap on logical partitions followed through an EBR chain; Linux stops at
/// its minor-number limit, boot-sim at 128 links (the bound).
pub const MAX_EBR_CHAIN: usize = 128;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Scheme {
    Mbr,
    Gpt,
    /// No partition table: a filesystem (or nothing) at offset 0, `(hd0)`.
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Primary,
    /// A primary entry of type 0x05/0x0F/0x85 holding the EBR chain.
    Extended,
    Logical,
    Gpt,
}

/// The partition type as the table stores it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum PartitionType {
    Mbr(u8),
    Gpt(Guid),
}

impl PartitionType {
    /// `0x83` for MBR types, the GUID text for GPT ones (sfdisk's spelling).
    pub fn code(&self) -> String {
        match self {
            PartitionType::Mbr(t) => format!("{t:#x}"),
            PartitionType::Gpt(g) => g.to_string(),
        }
    }

    pub fn name(&self) -> Option<&'static str> {
        match self {
            PartitionType::Mbr(t) => mbr::type_name(*t),
            PartitionType::Gpt(g) => g.type_name(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Partition {
    /// Linux's partition number: 1–4 the MBR slot, 5… logicals in chain
    /// order, GPT the entry index + 1.
    pub number: u32,
    pub role: Role,
    pub start: Lba,
    pub sectors: u64,
    pub ptype: PartitionType,
    /// MBR status 0x80, or GPT attribute bit 2 (legacy BIOS bootable).
    pub bootable: bool,
    /// Where the entry describing this partition is stored.
    pub entry_offset: ByteOffset,
    /// GPT only.
    pub gpt: Option<GptDetails>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GptDetails {
    pub unique_guid: Guid,
    pub name: String,
    pub attributes: u64,
}

impl Partition {
    pub fn start_bytes(&self) -> u64 {
        self.start.0.saturating_mul(SECTOR_SIZE)
    }

    pub fn len_bytes(&self) -> u64 {
        self.sectors.saturating_mul(SECTOR_SIZE)
    }

    /// One past the last sector.
    pub fn end(&self) -> u64 {
        self.start.0.saturating_add(self.sectors)
    }
}

/// What was found in the partition table area.
#[derive(Debug, Clone, Serialize)]
pub struct PartitionTable {
    pub scheme: Scheme,
    /// MBR disk signature (0x1B8), when sector 0 is a valid MBR.
    pub disk_signature: Option<u32>,
    /// GPT disk GUID.
    pub disk_guid: Option<Guid>,
    /// Which GPT header the partitions come from (1, or the backup's LBA).
    pub gpt_header_lba: Option<Lba>,
    pub partitions: Vec<Partition>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Device names for one partition (or the whole disk, `number == None`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeviceNames {
    /// GRUB legacy (0.97, PV-GRUB, pygrub's menu.lst): `(hd0)`, `(hd0,0)`,
    /// `(hd0,4)` for the first logical partition.
    pub grub: String,
    /// GRUB 2: `(hd0)`, `(hd0,msdos1)`, `(hd0,gpt1)`.
    pub grub2: String,
    /// Linux with Xen blkfront: `xvda`, `xvda1`, `xvda5`; for an LVM
    /// logical volume device-mapper's `mapper/VG-LV` (under `/dev`).
    pub linux: String,
    /// Other names the volume answers to: `VG/LV` (`/dev/VG/LV`) for an LV.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
}

impl DeviceNames {
    /// `disk` is the BIOS/GRUB disk index (0 for `hd0`/`xvda`).
    pub fn new(disk: u32, scheme: Scheme, number: Option<u32>) -> DeviceNames {
        let letter = disk_letters(disk);
        match number {
            None => DeviceNames {
                grub: format!("(hd{disk})"),
                grub2: format!("(hd{disk})"),
                linux: format!("xvd{letter}"),
                aliases: Vec::new(),
            },
            Some(n) => {
                let label = if scheme == Scheme::Gpt { "gpt" } else { "msdos" };
                DeviceNames {
                    grub: format!("(hd{disk},{})", n.saturating_sub(1)),
                    grub2: format!("(hd{disk},{label}{n})"),
                    linux: format!("xvd{letter}{n}"),
                    aliases: Vec::new(),
                }
            }
        }
    }
}

impl DeviceNames {
    /// An LVM logical volume's names: `(lvm/VG-LV)` for GRUB (GRUB legacy
    /// has no LVM; the GRUB 2 name is what a user would type),
    /// `mapper/VG-LV` and `VG/LV` for Linux, dashes doubled as GRUB 2's
    /// lvm.c and device-mapper do.
    pub fn lvm(vg: &str, lv: &str) -> DeviceNames {
        let dm = format!("{}-{}", vg.replace('-', "--"), lv.replace('-', "--"));
        DeviceNames {
            grub: format!("(lvm/{dm})"),
            grub2: format!("(lvm/{dm})"),
            linux: format!("mapper/{dm}"),
            aliases: vec![format!("{vg}/{lv}")],
        }
    }
}

/// `a`…`z`, `aa`…: the Linux xen-blkfront disk naming (`xlvbd_alloc_gendisk`).
fn disk_letters(mut disk: u32) -> String {
    let mut out = Vec::new();
    loop {
        out.push(b'a' + (disk % 26) as u8);
        if disk < 26 {
            break;
        }
        disk = disk / 26 - 1;
    }
    out.reverse();
    String::from_utf8(out).unwrap_or_default()
}

/// Reads the partition table of a whole disk. I/O errors (for example an
/// image shorter than one sector) are errors; malformed tables are
/// diagnostics in the result, so that the rest of the disk can still be
/// examined.
pub fn read_partition_table(disk: &dyn ReadAt) -> Result<PartitionTable> {
    let mut sector = [0u8; 512];
    disk.read_exact_at(0, &mut sector)?;
    let raw = RawMbr::from_sector(&sector);
    let mut table = PartitionTable {
        scheme: Scheme::None,
        disk_signature: None,
        disk_guid: None,
        gpt_header_lba: None,
        partitions: Vec::new(),
        diagnostics: Vec::new(),
    };
    if !raw.has_signature() {
        return Ok(table);
    }
    if !raw.statuses_valid() {
        table.diagnostics.push(Diagnostic::warning(
            Some(ByteOffset(mbr::ENTRIES_OFFSET)),
            "sector 0 has the 0x55AA signature but its partition entries have status bytes other than 0x00/0x80: not a partition table",
        ));
        return Ok(table);
    }
    if raw.entries.iter().all(|e| e.ptype == 0) {
        return Ok(table);
    }
    if raw.entries.iter().any(|e| e.ptype == mbr::PROTECTIVE_GPT) {
        table.scheme = Scheme::Gpt;
        table.disk_signature = Some(raw.disk_signature.get());
        read_gpt(disk, &mut table)?;
    } else {
        table.scheme = Scheme::Mbr;
        table.disk_signature = Some(raw.disk_signature.get());
        read_mbr(disk, &raw, &mut table)?;
    }
    check_layout(disk, &mut table);
    Ok(table)
}

fn read_mbr(disk: &dyn ReadAt, raw: &RawMbr, table: &mut PartitionTable) -> Result<()> {
    let mut extended = Vec::new();
    for (slot, e) in raw.entries.iter().enumerate() {
        if e.ptype == 0 {
            continue;
        }
        let is_ext = mbr::is_extended(e.ptype);
        let part = Partition {
            number: slot as u32 + 1,
            role: if is_ext { Role::Extended } else { Role::Primary },
            start: Lba(u64::from(e.start_lba.get())),
            sectors: u64::from(e.sectors.get()),
            ptype: PartitionType::Mbr(e.ptype),
            bootable: e.status == 0x80,
            entry_offset: ByteOffset(mbr::ENTRIES_OFFSET + 16 * slot as u64),
            gpt: None,
        };
        if is_ext {
            extended.push(part.clone());
        }
        table.partitions.push(part);
    }
    let mut next_number = 5;
    for ext in extended {
        read_ebr_chain(disk, &ext, &mut next_number, table)?;
    }
    Ok(())
}

/// Follows one extended partition's EBR chain (Linux `parse_extended`):
/// per EBR, the first non-extended, non-empty entry is the logical
/// partition (relative to the EBR), the first extended entry links to the
/// next EBR (relative to the extended partition's start).
fn read_ebr_chain(disk: &dyn ReadAt, ext: &Partition, next_number: &mut u32, table: &mut PartitionTable) -> Result<()> {
    let mut visited = HashSet::new();
    let mut ebr_lba = ext.start.0;
    for _ in 0..MAX_EBR_CHAIN {
        let offset = ebr_lba.checked_mul(SECTOR_SIZE);
        let Some(offset) = offset.filter(|o| o.checked_add(SECTOR_SIZE).is_some_and(|end| end <= disk.size())) else {
            table.diagnostics.push(Diagnostic::warning(
                Some(ext.entry_offset),
                format!("EBR at LBA {ebr_lba} lies past the end of the image; logical partitions after it are ignored"),
            ));
            return Ok(());
        };
        if !visited.insert(ebr_lba) {
            table.diagnostics.push(Diagnostic::warning(
                Some(ByteOffset(offset)),
                format!("EBR chain loops back to LBA {ebr_lba}; the chain is cut there"),
            ));
            return Ok(());
        }
        let mut sector = [0u8; 512];
        disk.read_exact_at(offset, &mut sector)?;
        let ebr = RawMbr::from_sector(&sector);
        if !ebr.has_signature() {
            table.diagnostics.push(Diagnostic::warning(
                Some(ByteOffset(offset + mbr::SIGNATURE_OFFSET)),
                format!("EBR at LBA {ebr_lba} has no 0x55AA signature; logical partitions from here on are ignored"),
            ));
            return Ok(());
        }
        let mut link = None;
        let mut have_data = false;
        for (i, e) in ebr.entries.iter().enumerate() {
            let entry_offset = ByteOffset(offset + mbr::ENTRIES_OFFSET + 16 * i as u64);
            if e.ptype == 0 || e.sectors.get() == 0 {
                continue;
            }
            if mbr::is_extended(e.ptype) {
                link.get_or_insert(e.start_lba.get());
                continue;
            }
            if have_data {
                table.diagnostics.push(Diagnostic::warning(
                    Some(entry_offset),
                    format!("EBR at LBA {ebr_lba} has more than one logical partition entry; only the first is used"),
                ));
                continue;
            }
            have_data = true;
            let Some(start) = ebr_lba.checked_add(u64::from(e.start_lba.get())) else { continue };
            table.partitions.push(Partition {
                number: *next_number,
                role: Role::Logical,
                start: Lba(start),
                sectors: u64::from(e.sectors.get()),
                ptype: PartitionType::Mbr(e.ptype),
                bootable: e.status == 0x80,
                entry_offset,
                gpt: None,
            });
            *next_number += 1;
        }
        match link {
            None => return Ok(()),
            Some(rel) => ebr_lba = ext.start.0 + u64::from(rel),
        }
    }
    table.diagnostics.push(Diagnostic::warning(
        Some(ext.entry_offset),
        format!("EBR chain is longer than {MAX_EBR_CHAIN} links; the rest is ignored"),
    ));
    Ok(())
}

fn read_gpt(disk: &dyn ReadAt, table: &mut PartitionTable) -> Result<()> {
    let disk_sectors = disk.size() / SECTOR_SIZE;
    let primary = gpt::read_header(disk, Lba(1));
    let chosen = match primary {
        Ok(p) => {
            let alt = p.header.alternate_lba.get();
            if let Err(e) = gpt::read_header(disk, Lba(alt)) {
                table.diagnostics.push(Diagnostic::warning(
                    Lba(alt).to_bytes(),
                    format!("the backup GPT is unusable ({e}); the primary is fine and is used"),
                ));
            }
            p
        }
        Err(primary_err) => {
            // UEFI 2.10 §5.3.2: when the primary is bad, use the backup at
            // the last LBA of the disk.
            let backup_lba = Lba(disk_sectors.saturating_sub(1));
            match gpt::read_header(disk, backup_lba) {
                Ok(b) => {
                    // Reported where the header in use is: the backup's sector.
                    table.diagnostics.push(Diagnostic::warning(
                        backup_lba.to_bytes(),
                        format!("primary {primary_err}; using the backup GPT header at {backup_lba}"),
                    ));
                    b
                }
                Err(backup_err) => {
                    table.diagnostics.push(Diagnostic::error(
                        Some(ByteOffset(SECTOR_SIZE)),
                        format!("protective MBR but no usable GPT: primary: {primary_err}; backup: {backup_err}"),
                    ));
                    return Ok(());
                }
            }
        }
    };
    table.disk_guid = Some(Guid(chosen.header.disk_guid));
    table.gpt_header_lba = Some(chosen.header_lba);
    let entries_base = chosen.header.partition_entry_lba.get() * SECTOR_SIZE;
    let entry_size = u64::from(chosen.header.size_of_partition_entry.get());
    let first_usable = chosen.header.first_usable_lba.get();
    let last_usable = chosen.header.last_usable_lba.get();
    for (i, e) in chosen.entries.iter().enumerate() {
        if !e.is_used() {
            continue;
        }
        let entry_offset = ByteOffset(entries_base + i as u64 * entry_size);
        let (first, last) = (e.first_lba.get(), e.last_lba.get());
        if first > last {
            table.diagnostics.push(Diagnostic::warning(
                Some(entry_offset),
                format!("GPT entry {} starts at LBA {first} after its last LBA {last}; ignored", i + 1),
            ));
            continue;
        }
        if first < first_usable || last > last_usable {
            table.diagnostics.push(Diagnostic::warning(
                Some(entry_offset),
                format!(
                    "GPT entry {} (LBA {first}..={last}) lies outside the usable range {first_usable}..={last_usable}",
                    i + 1
                ),
            ));
        }
        let attributes = e.attributes.get();
        table.partitions.push(Partition {
            number: i as u32 + 1,
            role: Role::Gpt,
            start: Lba(first),
            sectors: last - first + 1,
            ptype: PartitionType::Gpt(e.type_guid()),
            bootable: attributes & gpt::ATTR_LEGACY_BIOS_BOOTABLE != 0,
            entry_offset,
            gpt: Some(GptDetails { unique_guid: e.unique_guid(), name: e.name(), attributes }),
        });
    }
    Ok(())
}

/// Warns about partitions past the end of the image, overlapping data
/// partitions and logicals outside their extended partition.
fn check_layout(disk: &dyn ReadAt, table: &mut PartitionTable) {
    let disk_sectors = disk.size() / SECTOR_SIZE;
    let mut found = Vec::new();
    for p in &table.partitions {
        if p.end() > disk_sectors {
            found.push(Diagnostic::warning(
                Some(p.entry_offset),
                format!(
                    "partition {} (LBA {}..{}) runs past the end of the image ({disk_sectors} sectors)",
                    p.number,
                    p.start.0,
                    p.end()
                ),
            ));
        }
        if p.sectors == 0 {
            found.push(Diagnostic::warning(Some(p.entry_offset), format!("partition {} has zero sectors", p.number)));
        }
    }
    let ext_ranges: Vec<(u64, u64)> =
        table.partitions.iter().filter(|p| p.role == Role::Extended).map(|p| (p.start.0, p.end())).collect();
    for p in table.partitions.iter().filter(|p| p.role == Role::Logical) {
        if !ext_ranges.iter().any(|&(s, e)| p.start.0 >= s && p.end() <= e) {
            found.push(Diagnostic::warning(
                Some(p.entry_offset),
                format!("logical partition {} lies outside its extended partition", p.number),
            ));
        }
    }
    let mut data: Vec<&Partition> = table.partitions.iter().filter(|p| p.role != Role::Extended).collect();
    data.sort_by_key(|p| (p.start, p.number));
    // After sorting by start, a partition overlaps an earlier one iff it
    // starts before the furthest end seen so far.
    let mut furthest: Option<&Partition> = None;
    for p in data {
        if let Some(prev) = furthest
            && p.start.0 < prev.end()
            && p.sectors > 0
        {
            found.push(Diagnostic::warning(
                Some(p.entry_offset),
                format!(
                    "partition {} (LBA {}..{}) overlaps partition {} (LBA {}..{})",
                    p.number,
                    p.start.0,
                    p.end(),
                    prev.number,
                    prev.start.0,
                    prev.end()
                ),
            ));
        }
        if furthest.is_none_or(|f| p.end() > f.end()) {
            furthest = Some(p);
        }
    }
    table.diagnostics.extend(found);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_grub_and_linux_conventions() {
        let n = DeviceNames::new(0, Scheme::Mbr, Some(5));
        assert_eq!((n.grub.as_str(), n.grub2.as_str(), n.linux.as_str()), ("(hd0,4)", "(hd0,msdos5)", "xvda5"));
        let n = DeviceNames::new(0, Scheme::Gpt, Some(2));
        assert_eq!((n.grub.as_str(), n.grub2.as_str(), n.linux.as_str()), ("(hd0,1)", "(hd0,gpt2)", "xvda2"));
        let n = DeviceNames::new(0, Scheme::None, None);
        assert_eq!((n.grub.as_str(), n.linux.as_str()), ("(hd0)", "xvda"));
        assert_eq!(disk_letters(25), "z");
        assert_eq!(disk_letters(26), "aa");
        assert_eq!(disk_letters(27), "ab");
    }
}
