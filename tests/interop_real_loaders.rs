//! Interop: real boot loaders, installed by their own installers, booting
//! Debian's cloud kernel under QEMU/SeaBIOS (TCG): the reference for
//! boot-sim's HVM path (issue #17, "Checked against the real tools").
//!
//! One test per disk (src/loaders.rs builds them in a scratch directory):
//! - GRUB 0.97 by `grub --batch` (`root (hd0,N)`, `setup (hd0)`): a plain
//!   MBR with one ext2 partition, the Amazon Linux style `menu.lst ->
//!   ./grub.conf` on ext3, the ext3 root on a logical partition (hd0,4);
//! - GRUB 2.06 (bookworm) and 2.12 (trixie) by `grub-install
//!   --target=i386-pc` on a loop device: MBR + ext4, GPT with a BIOS boot
//!   partition + ext4, an XFS root, a btrfs root, a separate /boot.
//!
//! Each test boots the disk once in QEMU until the kernel prints
//! `Command line:` and checks that the loader booted the config's default
//! entry (the command line GRUB hands over, `BOOT_IMAGE=` first for GRUB 2)
//! and loaded the initrd (`RAMDISK: [mem A-B]` spans the initrd's size,
//! page-rounded), and reads the text screen then (the loader's
//! `Booting …` line of the default entry must be on it).
//!
//! Then boot-sim boots the same image (`boot::hvm::run`, QEMU's ATA
//! configuration, no SeaBIOS boot menu, the same RAM) and must end at the
//! kernel's entry (`EndState::KernelEntry`) with the command line the
//! kernel printed under QEMU, name the loader with its version, leave the
//! text screen QEMU's VGA page shows then, and load the whole initrd into
//! RAM.
//!
//! `BOOT_SIM_KEEP_IMAGES=DIR` keeps a copy of every image as DIR/CASE.img.
//!
//! Building needs root (loop devices, mount) and the tools from
//! `scripts/interop-setup.sh`: skipped with a message without them, a
//! failure under BOOT_SIM_INTEROP=require.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use boot::hvm::{AtaConfig, EndState, HvmOptions, run};
use disk_image::RawImage;

use boot_sim::interop_tool;
use boot_sim::loaders::{
    Built, Grub2Layout, Grub2Version, LegacyLayout, QemuBoot, grub_legacy_disk, grub2_disk, qemu_to_command_line,
    tiny_initrd,
};
use boot_sim::qemu::Scratch;

/// QEMU's and boot-sim's guest RAM.
const MEM_MIB: u32 = 256;

/// The kernel's first line comes after 10–15 s of TCG on an idle machine;
/// the machine is shared, so allow much more before calling it a failure.
const QEMU_MAX: Duration = Duration::from_secs(180);

/// `RAMDISK: [mem 0x0fe52000-0x0fe57fff]` -> (start, end).
fn ramdisk(line: &str) -> Option<(u64, u64)> {
    let inner = line.split_once("[mem ")?.1.split_once(']')?.0;
    let (a, b) = inner.split_once('-')?;
    let hex = |s: &str| u64::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok();
    Some((hex(a)?, hex(b)?))
}

/// With `BOOT_SIM_KEEP_IMAGES=DIR`, a sparse copy of the image as
/// `DIR/CASE.img`, to boot by hand (`boot-sim run DIR/CASE.img --mode hvm`,
/// `qemu-system-x86_64 -hda …`).
fn keep_image(case: &str, img: &Path) {
    let Some(dir) = std::env::var_os("BOOT_SIM_KEEP_IMAGES") else { return };
    let dest = Path::new(&dir).join(format!("{case}.img"));
    std::fs::create_dir_all(&dir).unwrap();
    let ok = std::process::Command::new("cp").arg("--sparse=always").arg(img).arg(&dest).status().unwrap();
    assert!(ok.success(), "cp {} {}", img.display(), dest.display());
    eprintln!("{case}: kept as {}", dest.display());
}

/// Builds the disk, boots it in QEMU and checks the kernel's command line
/// and initrd; returns the scratch dir (keeps the image), the image and
/// QEMU's run, or `None` when skipped.
fn qemu_case(
    case: &str,
    build: impl FnOnce(&Path, &str) -> Option<Built>,
) -> Option<(Scratch, PathBuf, Built, QemuBoot)> {
    let qemu = interop_tool("qemu-system-x86_64")?;
    let scratch = Scratch::new(case);
    let t = Instant::now();
    let built = build(&scratch.0, case)?;
    eprintln!("{case}: built in {:?} by:\n{}", t.elapsed(), built.log.join("\n"));
    let img = built.img.clone();
    keep_image(case, &img);
    let q = qemu_to_command_line(&qemu, &img, &scratch.0, MEM_MIB, QEMU_MAX);
    eprintln!("{case}: QEMU reached `Command line:` after {:?}; screen:\n{}", q.elapsed, q.screen.join("\n"));
    let cmdline = q
        .cmdline
        .clone()
        .unwrap_or_else(|| panic!("{case}: QEMU: no `Command line:` on the serial port:\n{}", q.serial));
    assert_eq!(cmdline, built.cmdline, "{case}: the kernel under QEMU (left) vs the config's default entry (right)");
    assert!(cmdline.ends_with(&format!("bootsim.case={case}")), "{case}: {cmdline}");
    let line = q.ramdisk.clone().unwrap_or_else(|| panic!("{case}: QEMU: no `RAMDISK:` line:\n{}", q.serial));
    let (a, b) = ramdisk(&line).unwrap_or_else(|| panic!("{case}: unreadable {line:?}"));
    // arch/x86/kernel/setup.c reserve_initrd: the end is page-aligned.
    assert_eq!(b + 1 - a, (tiny_initrd().len() as u64).div_ceil(4096) * 4096, "{case}: {line}");
    // The loader's last words are on the screen: the default entry's title.
    let booting = q.screen.iter().find(|l| l.trim_start().starts_with("Booting ")).cloned();
    assert!(
        booting.as_ref().is_some_and(|l| !l.contains("not the default")),
        "{case}: no \"Booting …\" line of the default entry on QEMU's screen:\n{}",
        q.screen.join("\n")
    );
    Some((scratch, img, built, q))
}

/// boot-sim on the image QEMU booted: the kernel entry with the command
/// line the kernel printed under QEMU.
fn boot_sim_case(case: &str, img: &Path, q: &QemuBoot, version: &str) -> boot::hvm::HvmReport {
    let opts = HvmOptions {
        ata: AtaConfig::QEMU,
        boot_menu_wait_ms: None,
        memory: u64::from(MEM_MIB) << 20,
        // The instruction cap bounds the run; the wall-clock budget (60 s
        // by default) is no test of boot-sim when CI's two cores also run
        // QEMU for the neighbouring cases.
        max_wall: Duration::from_secs(900),
        ..HvmOptions::default()
    };
    let t = Instant::now();
    let r = run(Arc::new(RawImage::open(img).unwrap()), &opts);
    eprintln!(
        "{case}: boot-sim ended after {:?} wall, {} instructions, {} sectors read: {}",
        t.elapsed(),
        r.counters.instructions,
        r.counters.sectors_read,
        r.reason
    );
    let EndState::KernelEntry { info, .. } = &r.end else {
        panic!(
            "{case}: boot-sim did not reach the kernel entry (QEMU did: {:?}): {} after {} instructions\n\
             console (last lines):\n{}",
            q.cmdline,
            r.reason,
            r.counters.instructions,
            r.console
                .replace('\r', "")
                .lines()
                .rev()
                .take(6)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect::<Vec<_>>()
                .join("\n")
        )
    };
    assert_eq!(Some(&info.cmdline), q.cmdline.as_ref(), "{case}: boot-sim (left) vs the kernel under QEMU (right)");
    // The loader that ran is named with its version (a GRUB 2.12 disk is
    // not "GRUB 2.06").
    assert!(info.loader.contains(version), "{case}: boot-sim names the loader {:?}, not {version}", info.loader);
    // The screen at the kernel's entry: what the loader (and Linux's
    // real-mode setup, for GRUB 0.97's 16-bit entry) left in VGA memory.
    // One difference is expected, and masked: GRUB 0.97 prints where it put
    // the initrd, below the top of the RAM the BIOS reports, and boot-sim's
    // E820 is Xen hvmloader's (RAM to the end of the guest's memory) while
    // QEMU's SeaBIOS reserves the top 128 KiB of a 256 MiB guest (E820
    // 0x0ffe0000-0x0fffffff), so the address differs by 0x20000.
    let masked = |rows: &[String]| -> Vec<String> {
        rows.iter()
            .map(|l| match l.split_once("[Linux-initrd @ 0x") {
                Some((head, rest)) => format!("{head}[Linux-initrd @ 0x…{}", &rest[rest.find(',').unwrap_or(0)..]),
                None => l.clone(),
            })
            .collect()
    };
    assert_eq!(
        masked(&r.screen),
        masked(&q.screen),
        "{case}: boot-sim's screen at the kernel entry (left) vs QEMU's (right)"
    );
    assert!(info.checks.len() == 2 && info.checks.iter().all(|c| c.ok), "{case}: {:?}", info.checks);
    // Explained from what executed: the loader's int 13h reads, by file,
    // cover the kernel and the initrd the entry found in memory (whatever
    // the filesystem: ext2/4, XFS, btrfs), a phase starts at the kernel's
    // load, and the menus module's prediction agrees with the execution.
    for (role, check) in [("kernel", &info.checks[0]), ("initrd", &info.checks[1])] {
        let read = r.disk_reads.iter().find(|d| d.role.as_deref() == Some(role));
        let Some(read) = read else { panic!("{case}: no {role} among the disk reads: {:#?}", r.disk_reads) };
        let disk_image::owners::Owner::File { device, path, size, .. } = &read.owner else {
            panic!("{case}: {role} read is not a file: {read:?}")
        };
        assert_eq!(&format!("{device}{path}"), &check.detail, "{case}: the {role} read vs the {role} in memory");
        // At least 99 % of the file: `cp` leaves zero blocks of the kernel
        // as holes, which no loader reads.
        assert!(
            read.sectors * 512 * 100 >= *size * 99,
            "{case}: {role} {path}: {} sectors read of {size} bytes",
            read.sectors
        );
    }
    assert!(
        r.phases.iter().any(|p| p.name.starts_with("load the kernel ") && p.sectors_read * 512 >= 13 << 20),
        "{case}: no phase loading the kernel: {:#?}",
        r.phases
    );
    let prediction = r.prediction.as_ref().unwrap_or_else(|| panic!("{case}: no prediction"));
    assert_eq!(prediction.agrees, Some(true), "{case}: {prediction:#?}");
    // The initrd: its size (QEMU's RAMDISK span is the page-rounded size,
    // checked in qemu_case). Not its address: GRUB 2 places it below the
    // top of usable RAM after its own heap, and under QEMU that moves from
    // run to run of the same image (0x0ffcb000, then 0x0ffcc000 for
    // grub2.06-mbr-ext4); SeaBIOS under QEMU also reserves the top 128 KiB
    // of a 256 MiB guest (E820 0x0ffe0000-0x0fffffff), which boot-sim's
    // hvmloader E820 does not.
    let size = info.initrd_size.map(u64::from);
    assert_eq!(size, Some(tiny_initrd().len() as u64), "{case}: boot-sim's initrd size (left)");
    let end = info.initrd_addr.map(u64::from).zip(size).map(|(a, s)| a + s);
    assert!(end.is_some_and(|e| e <= u64::from(MEM_MIB) << 20), "{case}: initrd outside RAM: {:?}", info.initrd_addr);
    r
}

fn legacy(case: &str, layout: LegacyLayout) {
    if let Some((_dir, img, _, q)) = qemu_case(case, |dir, case| grub_legacy_disk(dir, layout, case)) {
        boot_sim_case(case, &img, &q, "0.97");
    }
}

fn grub2(case: &str, version: Grub2Version, layout: Grub2Layout) {
    if let Some((_dir, img, _, q)) = qemu_case(case, |dir, case| grub2_disk(dir, version, layout, case)) {
        let v = match version {
            Grub2Version::V2_06 => "2.06",
            Grub2Version::V2_12 => "2.12",
        };
        let r = boot_sim_case(case, &img, &q, v);
        // GRUB 2 measures its menu timeout with the TSC it calibrated
        // against PIT channel 2 (tsc_pit.c): `set timeout=1` is one second
        // of empty key polls on the simulated clock, twenty of 50 ms.
        let wait = r.phases.iter().find(|p| p.name.starts_with("the loader waits for a key"));
        let wait = wait.unwrap_or_else(|| panic!("{case}: no key wait among the phases: {:#?}", r.phases));
        // The wait itself (its polls), not the phase, which lasts to the
        // next thing the loader reads.
        let polls: Option<u32> = wait
            .name
            .split_once('(')
            .and_then(|(_, rest)| rest.split_once(" empty polls"))
            .and_then(|(n, _)| n.parse().ok());
        assert!(polls.is_some_and(|n| (19..=21).contains(&n)), "{case}: GRUB 2's timeout=1: {}", wait.name);
    }
}

#[test]
fn grub_legacy_plain_mbr_ext2() {
    legacy("legacy-plain-ext2", LegacyLayout::PlainExt2);
}

#[test]
fn grub_legacy_amzn_menu_lst_symlink() {
    legacy("legacy-amzn-symlink", LegacyLayout::AmznMenuSymlink);
}

#[test]
fn grub_legacy_logical_partition_root() {
    legacy("legacy-logical-root", LegacyLayout::LogicalRoot);
}

#[test]
fn grub2_06_mbr_ext4() {
    grub2("grub2.06-mbr-ext4", Grub2Version::V2_06, Grub2Layout::MbrExt4);
}

#[test]
fn grub2_06_gpt_bios_boot_ext4() {
    grub2("grub2.06-gpt-ext4", Grub2Version::V2_06, Grub2Layout::GptExt4);
}

#[test]
fn grub2_06_xfs_root() {
    grub2("grub2.06-xfs", Grub2Version::V2_06, Grub2Layout::MbrXfs);
}

#[test]
fn grub2_06_btrfs_root() {
    grub2("grub2.06-btrfs", Grub2Version::V2_06, Grub2Layout::MbrBtrfs);
}

#[test]
fn grub2_06_separate_boot() {
    grub2("grub2.06-separate-boot", Grub2Version::V2_06, Grub2Layout::SeparateBoot);
}

#[test]
fn grub2_12_mbr_ext4() {
    grub2("grub2.12-mbr-ext4", Grub2Version::V2_12, Grub2Layout::MbrExt4);
}

#[test]
fn grub2_12_gpt_bios_boot_ext4() {
    grub2("grub2.12-gpt-ext4", Grub2Version::V2_12, Grub2Layout::GptExt4);
}

#[test]
fn grub2_12_xfs_root() {
    grub2("grub2.12-xfs", Grub2Version::V2_12, Grub2Layout::MbrXfs);
}

#[test]
fn grub2_12_btrfs_root() {
    grub2("grub2.12-btrfs", Grub2Version::V2_12, Grub2Layout::MbrBtrfs);
}

#[test]
fn grub2_12_separate_boot() {
    grub2("grub2.12-separate-boot", Grub2Version::V2_12, Grub2Layout::SeparateBoot);
}
