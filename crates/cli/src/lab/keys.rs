//! The answer keys of labs 1, 2, 5 and 6, computed from the bundled
//! fixtures with the same library code as the commands the labs run.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ami::InstanceType;
use ami::model::{Account, Ami, AmiId, RootDeviceType, VirtualizationType};
use boot::bench::{self, BenchConfig, IoPath, PathResult, PvSetup, Workload};
use boot::machine::CostModel;
use boot_config::discover::{self, Discovery, Loader, ProbeOutcome};
use boot_config::inspect::{self, DiskReport, VolumeReport};
use boot_config::select::{self, BootChoice, EntryRequest};
use disk_image::bootcode::NextStage;
use disk_image::{Disk, RawImage, ReadAt};

use super::answers::{Expected, Key, Sheet, fixture};
use crate::output::Exit;

fn text(spellings: &[&str]) -> Expected {
    Expected::Text(spellings.iter().map(|s| s.to_string()).collect())
}

fn open_disk(name: &str) -> Result<Disk, Exit> {
    Ok(Disk::open(&fixture(name)?)?)
}

fn inspect_fixture(name: &str) -> Result<DiskReport, Exit> {
    Ok(inspect::inspect(&open_disk(name)?)?)
}

fn broken(what: &str) -> Exit {
    Exit::Error(format!("the bundled fixtures do not fit the lab's answer key: {what}"))
}

/// The volume whose file system holds `path` as a boot-loader config.
fn volume_with<'a>(r: &'a DiskReport, path: &str) -> Result<&'a VolumeReport, Exit> {
    r.volumes
        .iter()
        .find(|v| v.configs.iter().any(|c| c.path == path))
        .ok_or_else(|| broken(&format!("no volume of {} holds {path}", r.image)))
}

fn choose(disk: &Disk, loader: Loader, entry: EntryRequest) -> Result<BootChoice, Exit> {
    let d = discover::discover(disk, loader);
    select::choose(disk, &d, &entry).map_err(|e| broken(&e.to_string()))
}

/// GRUB's error number at the first place `d` looked.
fn first_error(d: &Discovery) -> Result<i64, Exit> {
    match d.probes.first().map(|p| &p.outcome) {
        Some(ProbeOutcome::Failed { error: Some(e), .. }) => Ok(i64::from(e.number())),
        other => Err(broken(&format!("{}: expected a GRUB error, got {other:?}", d.loader.name()))),
    }
}

/// The PV-GRUB AKI (hd0 or hd00) whose loader finds the image's menu.
fn aki(disk: &Disk) -> Result<Expected, Exit> {
    let hd0 = discover::discover(disk, Loader::PvgrubHd0).config.is_some();
    let hd00 = discover::discover(disk, Loader::PvgrubHd00).config.is_some();
    match (hd0, hd00) {
        (true, false) => Ok(text(&["hd0"])),
        (false, true) => Ok(text(&["hd00"])),
        _ => Err(broken("exactly one of pvgrub-hd0 and pvgrub-hd00 should find the menu")),
    }
}

fn pv_bootable(image: &str, path: &str) -> Result<bool, Exit> {
    let bytes = crate::cat::read_from_image(&fixture(image)?, path, 64 << 20)?;
    let report = kernel_image::inspect(&bytes, &kernel_image::InspectOptions::default())
        .map_err(|e| broken(&format!("{image}:{path}: {e}")))?;
    Ok(report.pv.is_some_and(|v| v.bootable))
}

/// Lab 1 — anatomy of a root volume.
pub fn lab1() -> Result<Sheet, Exit> {
    let pv = inspect_fixture("pv-whole-disk.img")?;
    let whole = pv.volumes.first().ok_or_else(|| broken("pv-whole-disk.img has no volume"))?;
    let hvm = inspect_fixture("hvm-mbr.img")?;
    let stage2 = hvm.boot_sector.code.next_stage_lba().ok_or_else(|| broken("hvm-mbr.img names no stage2"))?;
    let present = hvm.next_stage.as_ref().is_some_and(|n| matches!(n.found, NextStage::GrubLegacyStart { .. }));
    let logical = inspect_fixture("mbr-logical.img")?;
    let menu = volume_with(&logical, "/boot/grub/menu.lst")?;
    let start = menu.volume.partition.as_ref().map(|p| p.start.0).ok_or_else(|| broken("menu not on a partition"))?;
    let link = whole
        .configs
        .iter()
        .find(|c| c.path == "/boot/grub/menu.lst")
        .ok_or_else(|| broken("pv-whole-disk.img has no menu.lst"))?;
    let resolved = link.resolved_path.clone().unwrap_or_default();
    let stored = link.hops.first().map(|h| h.1.clone()).unwrap_or_default();
    let bare = stored.trim_start_matches("./").to_string();
    let followed = discover::discover(&open_disk("pv-whole-disk.img")?, Loader::PvgrubHd0)
        .config
        .is_some_and(|c| !c.file.hops.is_empty());
    let n = |v: &VolumeReport| v.volume.names.clone();
    let (wn, mn) = (n(whole), n(menu));
    Ok(Sheet {
        keys: vec![
            Key::new(
                1,
                "grub_legacy",
                "the GRUB legacy name of the volume",
                "the GRUB column of step 1",
                text(&[&wn.grub]),
            ),
            Key::new(1, "grub2", "the GRUB 2 name of the volume", "the GRUB 2 column of step 1", text(&[&wn.grub2])),
            Key::new(
                1,
                "linux",
                "the Linux (Xen) name of the volume",
                "the Linux column of step 1",
                text(&[&wn.linux]),
            ),
            Key::new(
                1,
                "boot_signature",
                "does sector 0 end in 0x55AA? true or false",
                "the end of the \"Boot code (sector 0)\" line of step 1",
                Expected::Bool(pv.boot_sector.signature),
            ),
            Key::new(
                2,
                "stage2_lba",
                "the LBA stage1 loads its next stage from",
                "the \"Boot code (sector 0)\" line of step 2 names the LBA",
                Expected::Int(stage2 as i64),
            ),
            Key::new(
                2,
                "stage2_present",
                "is a GRUB stage2 start sector there? true or false",
                "the \"next stage at LBA\" line of step 2",
                Expected::Bool(present),
            ),
            Key::new(
                3,
                "grub_legacy",
                "GRUB legacy name of the partition with menu.lst",
                "find the partition under \"Boot loader configs\" of step 3; GRUB legacy counts from 0 and gives the first logical partition number 4",
                text(&[&mn.grub]),
            ),
            Key::new(
                3,
                "grub2",
                "GRUB 2 name of that partition",
                "GRUB 2 counts msdos partitions from 1, logicals from 5",
                text(&[&mn.grub2]),
            ),
            Key::new(
                3,
                "linux",
                "Linux name of that partition",
                "Linux numbers logical partitions from 5",
                text(&[&mn.linux]),
            ),
            Key::new(
                3,
                "start_lba",
                "the LBA where it starts",
                "the Start column of step 3 (512-byte sectors)",
                Expected::Int(start as i64),
            ),
            Key::new(
                4,
                "target",
                "what menu.lst links to",
                "the arrow after menu.lst in step 1",
                text(&[&resolved, &stored, &bare]),
            ),
            Key::new(
                4,
                "grub_follows",
                "does GRUB legacy follow the link? true or false",
                "compare the file `boot-sim menu` says it parsed with the file the link names (Lab 2, step 1)",
                Expected::Bool(followed),
            ),
            Key::new(
                5,
                "whole_disk_kernel_pv",
                "can Xen's domain builder start pv-whole-disk.img's kernel? true or false",
                "the PV verdict of the first `boot-sim kernel` command of step 5",
                Expected::Bool(pv_bootable("pv-whole-disk.img", "/boot/vmlinuz-4.14.355-1.el6")?),
            ),
            Key::new(
                5,
                "vmlinux_xen_pv",
                "can it start pv-kernel.img's /boot/vmlinux-xen? true or false",
                "the PV verdict of the second `boot-sim kernel` command of step 5",
                Expected::Bool(pv_bootable("pv-kernel.img", "/boot/vmlinux-xen")?),
            ),
        ],
        open: vec![(1, "why a BIOS cannot boot the disk"), (5, "why each kernel can or cannot be started")],
    })
}

/// Lab 2 — PV-GRUB's choice.
pub fn lab2() -> Result<Sheet, Exit> {
    let whole = open_disk("pv-whole-disk.img")?;
    let step1 = choose(&whole, Loader::PvgrubAws, EntryRequest::Default)?;
    let parsed = step1.config.resolved_path.clone();
    let with_device = format!("{}{parsed}", step1.config.device);
    let hvm = open_disk("hvm-mbr.img")?;
    let hd00_error = first_error(&discover::discover(&whole, Loader::PvgrubHd00))?;
    let hd0_error = first_error(&discover::discover(&hvm, Loader::PvgrubHd0))?;
    let fallback = open_disk("pv-fallback.img")?;
    let step4 = choose(&fallback, Loader::PvgrubAws, EntryRequest::Default)?;
    let tried: Vec<i64> =
        step4.attempts.iter().map(|a| a.index as i64).chain(std::iter::once(step4.entry.index as i64)).collect();
    let errors: Vec<i64> =
        step4.attempts.iter().filter_map(|a| a.failure.error.map(|e| i64::from(e.number()))).collect();
    let step5 = choose(&fallback, Loader::PvgrubAws, EntryRequest::Index(3))?;
    let logical = inspect_fixture("mbr-logical.img")?;
    let menu = volume_with(&logical, "/boot/grub/menu.lst")?;
    Ok(Sheet {
        keys: vec![
            Key::new(
                1,
                "file",
                "the file PV-GRUB parsed, after symlinks",
                "the \"Menu\" line of step 1: follow the arrow",
                text(&[&parsed, &with_device]),
            ),
            Key::new(
                1,
                "entry",
                "the entry it boots (from 0)",
                "the \"Boots entry\" line of step 1",
                Expected::Int(step1.entry.index as i64),
            ),
            Key::new(
                2,
                "hd00_error",
                "GRUB's error number for pvgrub-hd00 on pv-whole-disk.img",
                "the \"looked at\" line of step 2",
                Expected::Int(hd00_error),
            ),
            Key::new(
                2,
                "hd0_error",
                "GRUB's error number for pvgrub-hd0 on hvm-mbr.img",
                "the \"looked at\" line of step 3",
                Expected::Int(hd0_error),
            ),
            Key::new(
                2,
                "pv_whole_disk_aki",
                "the AKI for pv-whole-disk.img: \"hd0\" or \"hd00\"",
                "which loader finds its menu?",
                aki(&whole)?,
            ),
            Key::new(
                2,
                "hvm_mbr_aki",
                "the AKI for hvm-mbr.img: \"hd0\" or \"hd00\"",
                "which loader finds its menu?",
                aki(&hvm)?,
            ),
            Key::new(
                3,
                "tried",
                "the entries PV-GRUB tried, in order, the booted one last",
                "the \"failed\" lines of step 4, then the booted entry; `fallback` is walked in its own order",
                Expected::IntList(tried),
            ),
            Key::new(
                3,
                "errors",
                "GRUB's error number for each failed entry, in order",
                "the numbers after \"Error\" in the \"failed\" lines of step 4",
                Expected::IntList(errors),
            ),
            Key::new(
                4,
                "device",
                "the device entry 3's kernel is read from",
                "the \"kernel\" line of step 5",
                text(&[&step5.kernel.device]),
            ),
            Key::new(
                5,
                "menu_device",
                "the GRUB legacy name of the partition holding the menu",
                "the pygrub run of step 6 names the partition it read",
                text(&[&menu.volume.names.grub]),
            ),
        ],
        open: vec![(2, "why each loader fails"), (5, "two ways to make the image bootable by PV-GRUB")],
    })
}

/// One `bench --size 1 --workload seq --block KIB` run of every path, with
/// `overrides` (a cost model file's text) on the default cost model.
fn bench_seq(block_kib: u64, pv: PvSetup, overrides: &str) -> Result<Vec<PathResult>, Exit> {
    let cost = CostModel::from_toml_str(overrides).map_err(|e| broken(&e.to_string()))?;
    let workload = Workload::seq(1 << 20, block_kib << 10);
    let config = BenchConfig { workloads: vec![workload.clone()], pv, ..BenchConfig::default() };
    let image: Arc<dyn ReadAt> = bench::synthetic_image((workload.disk_sectors_needed() * 512).max(1 << 20));
    IoPath::ALL
        .iter()
        .map(|&p| bench::run_path(image.clone(), &cost, p, &workload, &config).map_err(|e| broken(&e.to_string())))
        .collect()
}

fn path(results: &[PathResult], p: IoPath) -> Result<&PathResult, Exit> {
    results.iter().find(|r| r.path == p).ok_or_else(|| broken(&format!("no {} row", p.name())))
}

fn per_command(r: &PathResult) -> i64 {
    (r.exits / r.ata_commands.max(1)) as i64
}

fn number(value: f64, tolerance: f64) -> Expected {
    Expected::Number { value, tolerance }
}

/// Lab 5 — the cost of emulation. Every number is a `bench` run of the
/// library, as the lab runs it.
pub fn lab5() -> Result<Sheet, Exit> {
    let defaults = CostModel::default().params().clone();
    let a64 = bench_seq(64, PvSetup::linux(), "")?;
    let a4 = bench_seq(4, PvSetup::linux(), "")?;
    let classic = bench_seq(64, PvSetup::classic(), "")?;
    let (pio64, dma64, pv64, pvhvm64) =
        (path(&a64, IoPath::IdePio)?, path(&a64, IoPath::IdeDma)?, path(&a64, IoPath::Pv)?, path(&a64, IoPath::Pvhvm)?);
    let (pio4, dma4) = (path(&a4, IoPath::IdePio)?, path(&a4, IoPath::IdeDma)?);
    let sectors = |r: &PathResult| (r.block_bytes / 512) as i64;
    // The per-command PIO exits at two command sizes give the fixed part
    // and the part per sector.
    let per_sector = (per_command(pio64) - per_command(pio4)) / (sectors(pio64) - sectors(pio4)).max(1);
    let fixed = per_command(pio64) - per_sector * sectors(pio64);
    let cheap_exits = bench_seq(
        64,
        PvSetup::linux(),
        &format!("pio_device_model_cycles = {}", defaults.pio_device_model_cycles / 2),
    )?;
    let grants =
        format!("grant_map_ns = {}\ngrant_unmap_ns = {}", defaults.grant_map_ns * 10, defaults.grant_unmap_ns * 10);
    let costly_classic = bench_seq(64, PvSetup::classic(), &grants)?;
    let costly_linux = bench_seq(64, PvSetup::linux(), &grants)?;
    let cheap_switch = bench_seq(64, PvSetup::linux(), &format!("vm_exit_cycles = {}", defaults.vm_exit_cycles / 2))?;
    let ide_changes = [IoPath::IdePio, IoPath::IdeDma]
        .iter()
        .map(|&p| Ok(path(&cheap_switch, p)?.sim_ns != path(&a64, p)?.sim_ns))
        .collect::<Result<Vec<bool>, Exit>>()?
        .contains(&true);
    let mib = |r: &PathResult| r.mib_per_s;
    let us = |ns: u64| ns as f64 / 1000.0;
    let pv_ns_per_mib = pv64.sim_ns as f64 / (pv64.bytes as f64 / f64::from(1 << 20));
    let hvm = {
        let reader: Arc<dyn ReadAt> = Arc::new(RawImage::open(&fixture("hvm-simboot.img")?)?);
        boot::hvm::run(reader, &crate::run_hvm::default_options())
    };
    let c = path(&classic, IoPath::Pv)?;
    Ok(Sheet {
        keys: vec![
            Key::new(
                1,
                "pio_exits_per_command",
                "exits per PIO command at 64 KiB",
                "exits ÷ ATA commands of the ide-pio row (1 MiB in 64 KiB reads is 16 commands)",
                Expected::Int(per_command(pio64)),
            ),
            Key::new(
                1,
                "dma_exits_per_command",
                "exits per DMA command at 64 KiB",
                "exits ÷ ATA commands of the ide-dma row",
                Expected::Int(per_command(dma64)),
            ),
            Key::new(
                1,
                "pio_fixed_exits",
                "the PIO exits paid once per command",
                "compare the exits per command at 64 KiB and at 4 KiB",
                Expected::Int(fixed),
            ),
            Key::new(
                1,
                "pio_exits_per_sector",
                "the PIO exits paid for every sector",
                "compare the exits per command at 64 KiB and at 4 KiB",
                Expected::Int(per_sector),
            ),
            Key::new(
                2,
                "dma_copy_us",
                "DMA's time that is not exits, µs",
                "the DMA time minus exits × the exit cost; then check it against memcpy_gb_per_s",
                number(us(dma64.sim_ns - dma64.exit_cost_ns), 0.02),
            ),
            Key::new(
                3,
                "pio_exits_per_command_4k",
                "exits per PIO command at 4 KiB",
                "the ide-pio row of the 4 KiB run",
                Expected::Int(per_command(pio4)),
            ),
            Key::new(
                3,
                "dma_exits_per_command_4k",
                "exits per DMA command at 4 KiB",
                "the ide-dma row of the 4 KiB run",
                Expected::Int(per_command(dma4)),
            ),
            Key::new(
                4,
                "classic_requests",
                "ring requests with --pv classic",
                "the ring req column of Part B",
                Expected::Int(c.ring_requests as i64),
            ),
            Key::new(
                4,
                "classic_grants",
                "grants with --pv classic",
                "the grants column of Part B",
                Expected::Int(c.grants as i64),
            ),
            Key::new(
                4,
                "notifies_per_read",
                "notifies per 64 KiB read",
                "notifies ÷ the number of 64 KiB reads",
                Expected::Int((c.notifies / c.ops.max(1)) as i64),
            ),
            Key::new(
                5,
                "ide_pio_mib_s",
                "predicted ide-pio MiB/s with cheap-exits.toml",
                "exit% says which share of the time halves",
                number(mib(path(&cheap_exits, IoPath::IdePio)?), 0.01),
            ),
            Key::new(
                5,
                "ide_dma_mib_s",
                "predicted ide-dma MiB/s",
                "exit% says which share of the time halves",
                number(mib(path(&cheap_exits, IoPath::IdeDma)?), 0.01),
            ),
            Key::new(
                5,
                "pv_mib_s",
                "predicted pv MiB/s",
                "how many exits does the pv row have?",
                number(mib(path(&cheap_exits, IoPath::Pv)?), 0.01),
            ),
            Key::new(
                5,
                "pvhvm_mib_s",
                "predicted pvhvm MiB/s",
                "only the switch's exits get cheaper",
                number(mib(path(&cheap_exits, IoPath::Pvhvm)?), 0.01),
            ),
            Key::new(
                6,
                "classic_pv_us",
                "predicted pv time with --pv classic and costly-grants.toml, µs",
                "count the maps and unmaps of Part B; each costs 2,250 ns more",
                number(us(path(&costly_classic, IoPath::Pv)?.sim_ns), 0.01),
            ),
            Key::new(
                6,
                "linux_pv_us",
                "predicted pv time with the linux features and costly-grants.toml, µs",
                "persistent grants: only grant_maps are paid, once",
                number(us(path(&costly_linux, IoPath::Pv)?.sim_ns), 0.01),
            ),
            Key::new(
                7,
                "ide_rows_change",
                "do the IDE rows change with cheap-switch.toml? true or false",
                "which cost does `bench` charge per IDE register access? (docs/cost-model.md)",
                Expected::Bool(ide_changes),
            ),
            Key::new(
                8,
                "switch_us",
                "the cost of the PVHVM switch, µs",
                "the \"switch\" in Part A's summary line",
                number(us(pvhvm64.switch_ns), 0.01),
            ),
            Key::new(
                8,
                "mib_within_10_percent",
                "MiB read before PVHVM is within 10 % of PV",
                "the switch is paid once; PV's time grows with every MiB",
                number(pvhvm64.switch_ns as f64 / (0.1 * pv_ns_per_mib), 0.05),
            ),
            Key::new(
                8,
                "boot_port_exits",
                "port exits of the pvhvm boot of Part C",
                "the counters line of Part C",
                Expected::Int(hvm.counters.port_exits as i64),
            ),
        ],
        open: vec![
            (1, "which three exits are paid for every sector"),
            (3, "why DMA's advantage shrinks at 4 KiB"),
            (4, "why two notifies per read, and what linux pays instead of grants"),
            (7, "why"),
            (8, "what the switch is made of, and why the boot still has port exits"),
        ],
    })
}

/// What lab 6's steps do to `pv-kernel.img` (the lab's own inputs): v2
/// writes "patch 2" at byte 1572864; v3 zeroes 1024 sectors from 3072.
fn lab6_images(dir: &Path) -> Result<[PathBuf; 3], Exit> {
    let io = |e: std::io::Error| Exit::Error(format!("{}: {e}", dir.display()));
    let base = std::fs::read(fixture("pv-kernel.img")?).map_err(io)?;
    let mut v2 = base.clone();
    let at = 1_572_864;
    v2.get_mut(at..at + 7).ok_or_else(|| broken("pv-kernel.img is too small"))?.copy_from_slice(b"patch 2");
    let mut v3 = v2.clone();
    v3.get_mut(3072 * 512..4096 * 512).ok_or_else(|| broken("pv-kernel.img is too small"))?.fill(0);
    std::fs::create_dir_all(dir).map_err(io)?;
    let names = ["base.img", "v2.img", "v3.img"].map(|n| dir.join(n));
    for (p, bytes) in names.iter().zip([base, v2, v3]) {
        std::fs::write(p, bytes).map_err(io)?;
    }
    Ok(names)
}

fn ami(path: &Path, created: i64, root_device: RootDeviceType) -> Result<Ami, Exit> {
    let img = RawImage::open(path)?;
    let (size, digest) = ami::image::digest(&img).map_err(|e| broken(&e.to_string()))?;
    let owner = Account::parse(ami::model::DEFAULT_ACCOUNT).map_err(|e| broken(&e.to_string()))?;
    let name = path.display().to_string();
    Ok(Ami {
        id: AmiId::derive(&digest, &name, ami::model::DEFAULT_REGION, &owner),
        name,
        image: path.to_path_buf(),
        image_size: size,
        image_digest: digest,
        image_digest_alg: ami::image::DigestAlg::CURRENT,
        virtualization: VirtualizationType::Paravirtual,
        root_device,
        loader: Some(Loader::PvgrubAws),
        owner,
        public: false,
        launch_permissions: Vec::new(),
        region: ami::model::DEFAULT_REGION.to_string(),
        tags: Default::default(),
        created,
        copied_from: None,
    })
}

/// Removes the scratch directory of lab 6's images.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Lab 6 — AMIs in practice: instance types, launch permissions and the
/// footprint of the lab's chain, with the `ami` library.
pub fn lab6() -> Result<Sheet, Exit> {
    let accepts = |name: &str| -> Result<bool, Exit> {
        let t = InstanceType::parse(name).map_err(|e| broken(&e.to_string()))?;
        Ok(t.check(VirtualizationType::Paravirtual, RootDeviceType::Ebs).is_ok())
    };
    // One directory per call: tests compute keys on several threads.
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let scratch = Scratch(std::env::temp_dir().join(format!("boot-sim-lab6-key-{}-{n}", std::process::id())));
    let [base, v2, v3] = lab6_images(&scratch.0)?;
    let ebs =
        [ami(&base, 1, RootDeviceType::Ebs)?, ami(&v2, 2, RootDeviceType::Ebs)?, ami(&v3, 3, RootDeviceType::Ebs)?];
    let store = [ami(&base, 4, RootDeviceType::InstanceStore)?, ami(&v2, 5, RootDeviceType::InstanceStore)?];
    let fp = |amis: &[Ami]| ami::footprint(amis).map_err(|e| broken(&e.to_string()));
    let (ebs_fp, store_fp) = (fp(&ebs)?, fp(&store)?);
    let kib = |fp: &ami::Footprint, i: usize| fp.entries.get(i).map_or(0, |e| (e.stored_bytes / 1024) as i64);
    // Step 3 grants the lab's second account.
    let grantee = Account::parse("111122223333").map_err(|e| broken(&e.to_string()))?;
    let mut granted = ebs[0].clone();
    granted.launch_permissions.push(grantee.clone());
    let may: Vec<String> = [granted.owner.clone(), grantee]
        .iter()
        .filter(|a| granted.check_launch_permission(a).is_ok())
        .map(|a| a.as_str().to_string())
        .collect();
    Ok(Sheet {
        keys: vec![
            Key::new(
                1,
                "t2_micro",
                "does t2.micro accept the paravirtual AMI? true or false",
                "step 2, and the generation of the type",
                Expected::Bool(accepts("t2.micro")?),
            ),
            Key::new(
                1,
                "m1_small",
                "does m1.small accept it? true or false",
                "step 2",
                Expected::Bool(accepts("m1.small")?),
            ),
            Key::new(
                2,
                "accounts",
                "the accounts that may launch lab6 base after step 3",
                "the owner is implicit; step 3 adds one",
                Expected::TextSet(may),
            ),
            Key::new(
                3,
                "base_stored_kib",
                "KiB the EBS-backed lab6 base stores",
                "the stored size column of the first footprint",
                Expected::Int(kib(&ebs_fp, 0)),
            ),
            Key::new(
                4,
                "v2_ebs_kib",
                "KiB lab6 v2 adds on EBS",
                "only changed blocks are stored",
                Expected::Int(kib(&ebs_fp, 1)),
            ),
            Key::new(
                4,
                "v2_store_kib",
                "KiB lab6 v2 store takes on instance store",
                "the second footprint",
                Expected::Int(kib(&store_fp, 1)),
            ),
            Key::new(
                5,
                "v3_stored_kib",
                "KiB lab6 v3 stores",
                "what is stored for a block that became all zero?",
                Expected::Int(kib(&ebs_fp, 2)),
            ),
        ],
        open: vec![
            (1, "what to change in the image to run it on current types"),
            (2, "what --public changes"),
            (6, "what the copy kept and did not copy"),
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::super::answers::{Verdict, mark, read, render_key};
    use super::*;

    fn expect_json(name: &str) -> serde_json::Value {
        let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images").join(name);
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    }

    fn key<'a>(sheet: &'a Sheet, id: &str) -> &'a Expected {
        &sheet.keys.iter().find(|k| k.id() == id).unwrap_or_else(|| panic!("no key {id}")).expected
    }

    /// The key, written as an answers file, is read back and marked all
    /// correct: every field has a spelling the reader accepts.
    #[test]
    fn every_key_round_trips_as_an_answers_file() {
        let dir = tempfile::tempdir().unwrap();
        for (lab, sheet) in [(1, lab1()), (2, lab2()), (5, lab5()), (6, lab6())] {
            let sheet = sheet.unwrap();
            let p = dir.path().join(format!("lab{lab}.toml"));
            std::fs::write(&p, render_key(&sheet)).unwrap();
            let given = read(&p, lab, &sheet).unwrap_or_else(|_| panic!("lab {lab}: {}", render_key(&sheet)));
            let marks = mark(&sheet, &given);
            assert!(marks.iter().all(|m| m.verdict == Verdict::Correct), "lab {lab}: {marks:?}");
            assert!(!sheet.open.is_empty(), "lab {lab} lists its open questions");
        }
    }

    /// Lab 1's key agrees with the generator's contracts (`*.expect.json`),
    /// which are written from the values the images were built from.
    #[test]
    fn lab1_key_agrees_with_the_fixture_contracts() {
        let sheet = lab1().unwrap();
        let whole = expect_json("pv-whole-disk.expect.json");
        assert_eq!(key(&sheet, "q1.linux"), &text(&[whole["whole_disk_fs"]["names"]["linux"].as_str().unwrap()]));
        let hvm = expect_json("hvm-mbr.expect.json");
        assert_eq!(key(&sheet, "q2.stage2_lba"), &Expected::Int(hvm["boot_code"]["stage2_sector"].as_i64().unwrap()));
        let logical = expect_json("mbr-logical.expect.json");
        let p5 = logical["partitions"].as_array().unwrap().iter().find(|p| p["number"] == 5).unwrap();
        assert_eq!(key(&sheet, "q3.start_lba"), &Expected::Int(p5["start_lba"].as_i64().unwrap()));
        assert_eq!(key(&sheet, "q3.grub_legacy"), &text(&[p5["names"]["grub_legacy"].as_str().unwrap()]));
    }

    #[test]
    fn lab2_and_lab6_keys_follow_grub_and_ebs_rules() {
        let s2 = lab2().unwrap();
        // default saved = 0 fails, then fallback 2, 1 in that order.
        assert_eq!(key(&s2, "q3.tried"), &Expected::IntList(vec![0, 2, 1]));
        assert_eq!(key(&s2, "q3.errors"), &Expected::IntList(vec![15, 22]));
        let s6 = lab6().unwrap();
        // A block that became zero is not stored; instance store keeps full copies.
        assert_eq!(key(&s6, "q5.v3_stored_kib"), &Expected::Int(0));
        let size = std::fs::metadata(fixture("pv-kernel.img").unwrap()).unwrap().len() as i64;
        assert_eq!(key(&s6, "q4.v2_store_kib"), &Expected::Int(size / 1024));
    }
}
