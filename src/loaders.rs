//! Disk images whose boot loader was installed by the loader's **own
//! installer**, as a user installs it, and the QEMU/SeaBIOS run that is the
//! reference for them (tests/interop_real_loaders.rs).
//!
//! - GRUB 0.97: Debian's grub-legacy `grub` shell (an i386 binary, run on
//!   amd64 with libc6-i386), `grub --batch` with a device map that names
//!   the image file `(hd0)`, `root (hd0,N)` and `setup (hd0)`, on an
//!   ext2/ext3 filesystem made by `mke2fs -d` from a tree holding
//!   /boot/grub/{stage1,stage2,e2fs_stage1_5,menu.lst} (the files a user
//!   copies there before running `setup`).
//! - GRUB 2.06 (bookworm's grub2-common + grub-pc-bin) and GRUB 2.12
//!   (trixie's, run through trixie's own ld.so): `grub-install
//!   --target=i386-pc --directory=… --boot-directory=MNT/boot /dev/loopN`
//!   on the image attached as a loop device, its partitions added with
//!   `partx -a` (this machine's kernel has no partition-table parser, so
//!   `losetup -P` alone adds none), each filesystem made by its own mkfs on
//!   the partition's loop node and mounted. The real grub-install embeds
//!   core.img (in the MBR gap or the BIOS boot partition) and copies the
//!   modules; only grub.cfg is written by hand, as a user's looks.
//!
//! Every image boots Debian's cloud kernel (the one
//! `scripts/interop-kernel.sh` extracts) with a tiny initrd from a config
//! whose default entry is not the first one and whose command line ends in
//! `bootsim.case=NAME`. Building needs root (loop devices, mount); every
//! builder returns `None` (after the interop gate's message) when a tool,
//! a file or root is missing.
//!
//! The commands that built an image are kept in [`Built::log`], so a
//! failing test shows how to rebuild the image by hand.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::qemu::{Monitor, kill_group, tcg_command};
use crate::{interop_dir, interop_file, interop_tool, missing};

/// Debian's cloud kernel extracted by `scripts/interop-kernel.sh`:
/// `target/interop/root/boot/vmlinuz-VERSION`.
pub struct Kernel {
    pub path: PathBuf,
    /// `6.1.0-57-cloud-amd64`.
    pub version: String,
}

/// The kernel, or `None` after the gate's message.
pub fn debian_kernel() -> Option<Kernel> {
    let boot = interop_dir().join("root").join("boot");
    let found = std::fs::read_dir(&boot).ok().into_iter().flatten().filter_map(|e| e.ok()).find_map(|e| {
        let name = e.file_name().to_string_lossy().into_owned();
        name.strip_prefix("vmlinuz-").map(|v| Kernel { path: e.path(), version: v.to_string() })
    });
    match found {
        Some(k) => Some(k),
        None => missing(&format!("a vmlinuz-* in {}", boot.display())),
    }
}

/// A tiny initrd: 23,456 bytes of a fixed pattern (not a cpio archive: the
/// tests stop at the kernel's `Command line:`/`RAMDISK:` lines, long before
/// the kernel unpacks it).
pub fn tiny_initrd() -> Vec<u8> {
    (0..23456u32).map(|i| (i * 31 % 253) as u8).collect()
}

/// An image built by one of the builders: the disk and what its default
/// entry hands the kernel.
pub struct Built {
    pub img: PathBuf,
    /// The command line the kernel must print (`Command line: …`).
    pub cmdline: String,
    /// Every command that built the image, in order.
    pub log: Vec<String>,
}

/// Runs commands, records them, and fails with their output.
#[derive(Default)]
pub struct Runner {
    pub log: Vec<String>,
}

impl Runner {
    /// Runs `cmd` (with `stdin` if given) and returns its stdout; panics with
    /// stderr and stdout when it fails.
    pub fn run(&mut self, cmd: &mut Command, stdin: Option<&str>) -> String {
        let shown = format!("{cmd:?}").replace('"', "");
        self.log.push(match stdin {
            Some(s) => format!("{shown} <<EOF\n{s}EOF"),
            None => shown,
        });
        let mut child = cmd
            .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        if let Some(s) = stdin {
            child.stdin.take().unwrap().write_all(s.as_bytes()).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{cmd:?} failed ({}):\n{}\n{stdout}\nafter:\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            self.log.join("\n")
        );
        stdout
    }
}

/// Tools every builder needs besides its installer; `None` when one is
/// missing or we are not root (loop devices and mount need it).
fn root_tools(names: &[&str]) -> Option<Vec<PathBuf>> {
    let tools = names.iter().map(|n| interop_tool(n)).collect::<Option<Vec<_>>>()?;
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return missing("root (loop devices and mount)");
    }
    Some(tools)
}

/// A sparse file of `mib` MiB partitioned by `sfdisk` from `script`;
/// returns the partitions' (start, size) in sectors (from `sfdisk --json`).
fn partitioned(r: &mut Runner, sfdisk: &Path, img: &Path, mib: u64, script: &str) -> Vec<(u64, u64)> {
    r.log.push(format!("truncate -s {mib}M {}", img.display()));
    let f = std::fs::File::create(img).unwrap();
    f.set_len(mib << 20).unwrap();
    drop(f);
    r.run(Command::new(sfdisk).args(["-q", "--no-reread", "--no-tell-kernel"]).arg(img), Some(script));
    let json = r.run(Command::new(sfdisk).arg("--json").arg(img), None);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap();
    v["partitiontable"]["partitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["start"].as_u64().unwrap(), p["size"].as_u64().unwrap()))
        .collect()
}

/// A loop device over an image with its partitions added by `partx -a`;
/// detached (partitions deleted first) when dropped.
pub struct LoopDisk {
    pub dev: String,
}

impl LoopDisk {
    pub fn attach(r: &mut Runner, img: &Path) -> LoopDisk {
        let dev = r.run(Command::new("losetup").args(["--find", "--show", "--partscan"]).arg(img), None);
        let d = LoopDisk { dev: dev.trim().to_string() };
        // Kernels that parse the table already made the nodes: partx then
        // fails with EBUSY, which is fine when the node exists.
        let out = Command::new("partx").args(["-a", &d.dev]).output().unwrap();
        r.log.push(format!("partx -a {}", d.dev));
        assert!(
            out.status.success() || Path::new(&d.part(1)).exists(),
            "partx -a {}: {}",
            d.dev,
            String::from_utf8_lossy(&out.stderr)
        );
        d
    }

    /// The node of partition `n` (`/dev/loop3p2`).
    pub fn part(&self, n: u32) -> String {
        format!("{}p{n}", self.dev)
    }
}

impl Drop for LoopDisk {
    fn drop(&mut self) {
        let _ = Command::new("partx").args(["-d", &self.dev]).output();
        let _ = Command::new("losetup").args(["-d", &self.dev]).output();
    }
}

/// A mounted filesystem, unmounted when dropped.
pub struct Mounted {
    pub dir: PathBuf,
}

impl Mounted {
    pub fn mount(r: &mut Runner, dev: &str, dir: &Path) -> Mounted {
        std::fs::create_dir_all(dir).unwrap();
        r.run(Command::new("mount").arg(dev).arg(dir), None);
        Mounted { dir: dir.to_path_buf() }
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("sync").status();
        let ok = Command::new("umount").arg(&self.dir).status().is_ok_and(|s| s.success());
        if !ok {
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

/// The layouts GRUB 0.97 is installed on (issue #17's disks).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegacyLayout {
    /// MBR, one ext2 partition (hd0,0) holding / with /boot/grub/menu.lst.
    PlainExt2,
    /// Amazon Linux style: ext3, `/boot/grub/menu.lst -> ./grub.conf`,
    /// `default=0`, `hiddenmenu`, `root=LABEL=/`.
    AmznMenuSymlink,
    /// MBR with a primary swap partition, an extended partition and the
    /// ext3 root on the first logical partition (hd0,4) = /dev/sda5.
    LogicalRoot,
}

/// GRUB 0.97 installed by `grub --batch` (`root (hd0,N)`, `setup (hd0)`)
/// on a `layout` disk in `dir`, the default entry's command line ending in
/// `bootsim.case={case}`.
pub fn grub_legacy_disk(dir: &Path, layout: LegacyLayout, case: &str) -> Option<Built> {
    let grub = interop_file("root/usr/sbin/grub")?;
    if !Path::new("/lib/ld-linux.so.2").exists() {
        return missing("/lib/ld-linux.so.2 (libc6-i386, for GRUB 0.97's i386 `grub` shell)");
    }
    let lib = "root/usr/lib/grub/x86_64-pc";
    let stages = ["stage1", "stage2", "e2fs_stage1_5"].map(|s| interop_file(&format!("{lib}/{s}")));
    let [Some(stage1), Some(stage2), Some(e2fs)] = stages else { return None };
    let tools = root_tools(&["sfdisk", "mke2fs"])?;
    let (sfdisk, mke2fs) = (&tools[0], &tools[1]);
    let kernel = debian_kernel()?;
    let v = &kernel.version;
    let mut r = Runner::default();

    let (script, part, fs, root_dev) = match layout {
        LegacyLayout::PlainExt2 => ("label: dos\n2048,,83,*\n", 0usize, "ext2", "/dev/sda1"),
        LegacyLayout::AmznMenuSymlink => ("label: dos\n2048,,83,*\n", 0, "ext3", "LABEL=/"),
        LegacyLayout::LogicalRoot => ("label: dos\n2048,16384,82\n,,5\n,,83,*\n", 4, "ext3", "/dev/sda5"),
    };
    let img = dir.join("disk.img");
    let starts = partitioned(&mut r, sfdisk, &img, 64, script);
    // sfdisk --json lists 1, 2, 5 for the logical layout.
    let (start, sectors) = *starts.last().unwrap();
    let tree = dir.join("tree");
    let grub_dir = tree.join("boot/grub");
    std::fs::create_dir_all(&grub_dir).unwrap();
    for (src, name) in [(&stage1, "stage1"), (&stage2, "stage2"), (&e2fs, "e2fs_stage1_5")] {
        std::fs::copy(src, grub_dir.join(name)).unwrap();
    }
    std::fs::copy(&kernel.path, tree.join(format!("boot/vmlinuz-{v}"))).unwrap();
    let args = format!("root={root_dev} ro console=ttyS0 bootsim.case={case}");
    let hd = format!("(hd0,{part})");
    if layout == LegacyLayout::AmznMenuSymlink {
        std::fs::write(tree.join(format!("boot/initramfs-{v}.img")), tiny_initrd()).unwrap();
        let conf = format!(
            "# created by imagebuilder\ndefault=0\ntimeout=1\nhiddenmenu\n\n\
             title Amazon Linux 2014.09 ({v})\nroot {hd}\nkernel /boot/vmlinuz-{v} {args}\n\
             initrd /boot/initramfs-{v}.img\n"
        );
        std::fs::write(grub_dir.join("grub.conf"), conf).unwrap();
        std::os::unix::fs::symlink("./grub.conf", grub_dir.join("menu.lst")).unwrap();
    } else {
        std::fs::write(tree.join(format!("boot/initrd.img-{v}")), tiny_initrd()).unwrap();
        let menu = format!(
            "default 1\ntimeout 1\n\n\
             title Debian GNU/Linux, kernel {v} (not the default)\nroot {hd}\n\
             kernel /boot/vmlinuz-{v} root={root_dev} ro console=ttyS0 bootsim.case=not-the-default\n\
             initrd /boot/initrd.img-{v}\n\n\
             title Debian GNU/Linux, kernel {v}\nroot {hd}\nkernel /boot/vmlinuz-{v} {args}\n\
             initrd /boot/initrd.img-{v}\n"
        );
        std::fs::write(grub_dir.join("menu.lst"), menu).unwrap();
    }
    let size_kib = sectors / 2;
    r.run(
        Command::new(mke2fs)
            .args(["-q", "-F", "-t", fs, "-L", "/", "-E"])
            .arg(format!("offset={},root_owner=0:0", start * 512))
            .arg("-d")
            .arg(&tree)
            .arg(&img)
            .arg(format!("{size_kib}k")),
        None,
    );
    let map = dir.join("device.map");
    std::fs::write(&map, format!("(hd0)\t{}\n", img.display())).unwrap();
    let out = r.run(
        Command::new(&grub).args(["--batch", "--no-floppy"]).arg(format!("--device-map={}", map.display())),
        Some(&format!("root {hd}\nsetup (hd0)\nquit\n")),
    );
    r.log.push(format!("# grub said:\n{out}"));
    assert!(
        out.contains("Done.") && !out.contains("Error"),
        "grub --batch did not install:\n{out}\n{}",
        r.log.join("\n")
    );
    Some(Built { img, cmdline: args, log: r.log })
}

/// A GRUB 2 release and its installer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grub2Version {
    /// Debian 12's 2.06-13+deb12u2: target/interop/grub2-bookworm's
    /// grub-install with target/interop/root's grub-pc-bin modules.
    V2_06,
    /// Debian 13's 2.12: target/interop/trixie, through trixie's ld.so.
    V2_12,
}

/// The layouts GRUB 2 is installed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grub2Layout {
    /// MBR, one ext4 root (`(hd0,msdos1)`), core.img in the MBR gap.
    MbrExt4,
    /// GPT: a 1 MiB BIOS boot partition (core.img goes there) and the ext4
    /// root as partition 2.
    GptExt4,
    /// MBR, an XFS root (mkfs.xfs; 512 MiB sparse disk).
    MbrXfs,
    /// MBR, a btrfs root (mkfs.btrfs; 512 MiB sparse disk).
    MbrBtrfs,
    /// MBR, a separate ext4 /boot (partition 1: /grub, /vmlinuz-…) and an
    /// ext4 root on partition 2.
    SeparateBoot,
}

/// `grub-install` of `version` as a command (trixie's through its own
/// ld.so) and its `--directory`; `None` when not extracted.
fn grub_install(version: Grub2Version) -> Option<(Command, PathBuf)> {
    match version {
        Grub2Version::V2_06 => {
            let install = interop_file("grub2-bookworm/usr/sbin/grub-install")?;
            let dir = interop_file("root/usr/lib/grub/i386-pc/boot.img")?.parent()?.to_path_buf();
            Some((Command::new(install), dir))
        }
        Grub2Version::V2_12 => {
            let ld = interop_file("trixie/usr/lib64/ld-linux-x86-64.so.2")?;
            let install = interop_file("trixie/usr/sbin/grub-install")?;
            let dir = interop_file("trixie/usr/lib/grub/i386-pc/boot.img")?.parent()?.to_path_buf();
            let mut c = Command::new(ld);
            c.arg("--library-path").arg(interop_dir().join("trixie/usr/lib/x86_64-linux-gnu")).arg(install);
            Some((c, dir))
        }
    }
}

/// GRUB 2 `version` installed by its own `grub-install` on a `layout` disk
/// in `dir`; the default entry's command line ends in `bootsim.case={case}`.
pub fn grub2_disk(dir: &Path, version: Grub2Version, layout: Grub2Layout, case: &str) -> Option<Built> {
    let (mut install, moddir) = grub_install(version)?;
    let mkfs = match layout {
        Grub2Layout::MbrXfs => "mkfs.xfs",
        Grub2Layout::MbrBtrfs => "mkfs.btrfs",
        _ => "mkfs.ext4",
    };
    let tools = root_tools(&["sfdisk", "losetup", "partx", "mount", "umount", mkfs])?;
    let (sfdisk, mkfs) = (&tools[0], &tools[5]);
    let kernel = debian_kernel()?;
    let v = &kernel.version;
    let mut r = Runner::default();

    let (mib, script) = match layout {
        Grub2Layout::MbrExt4 => (96, "label: dos\n2048,,83,*\n".to_string()),
        Grub2Layout::GptExt4 => (
            96,
            "label: gpt\nstart=2048, size=2048, type=21686148-6449-6E6F-744E-656564454649, name=bios\n\
             start=4096, type=0FC63DAF-8483-4772-8E79-3D69D8477DE4, name=root\n"
                .to_string(),
        ),
        Grub2Layout::MbrXfs | Grub2Layout::MbrBtrfs => (512, "label: dos\n2048,,83,*\n".to_string()),
        Grub2Layout::SeparateBoot => (96, "label: dos\n2048,65536,83,*\n,,83\n".to_string()),
    };
    let img = dir.join("disk.img");
    partitioned(&mut r, sfdisk, &img, mib, &script);
    let (root_part, boot_part) = match layout {
        Grub2Layout::GptExt4 => (2, 2),
        Grub2Layout::SeparateBoot => (2, 1),
        _ => (1, 1),
    };
    // In the guest (QEMU's IDE disk): /dev/sda.
    let root_dev = format!("/dev/sda{root_part}");
    // GRUB's paths: /boot/… on the root, /… on a separate /boot.
    let gpath = if boot_part == root_part { "/boot" } else { "" };
    let (part_mod, fs_mod) = match layout {
        Grub2Layout::GptExt4 => ("part_gpt", "ext2"),
        Grub2Layout::MbrXfs => ("part_msdos", "xfs"),
        Grub2Layout::MbrBtrfs => ("part_msdos", "btrfs"),
        _ => ("part_msdos", "ext2"),
    };
    let args = format!("root={root_dev} ro console=ttyS0 bootsim.case={case}");
    let cfg = format!(
        "# A user's grub.cfg for one kernel; the second entry is the default.\n\
         set default=1\nset timeout=1\n\n\
         insmod {part_mod}\ninsmod {fs_mod}\n\n\
         menuentry 'Debian GNU/Linux, with Linux {v} (not the default)' --class debian {{\n\
         \tlinux\t{gpath}/vmlinuz-{v} root={root_dev} ro console=ttyS0 bootsim.case=not-the-default\n\
         \tinitrd\t{gpath}/initrd.img-{v}\n}}\n\n\
         menuentry 'Debian GNU/Linux, with Linux {v}' --class debian --class gnu-linux {{\n\
         \tinsmod gzio\n\
         \techo\t'Loading Linux {v} ...'\n\
         \tlinux\t{gpath}/vmlinuz-{v} {args}\n\
         \techo\t'Loading initial ramdisk ...'\n\
         \tinitrd\t{gpath}/initrd.img-{v}\n}}\n"
    );

    {
        let disk = LoopDisk::attach(&mut r, &img);
        let mut mkfs_cmd = |dev: &str, label: &str| {
            let mut c = Command::new(mkfs);
            match layout {
                Grub2Layout::MbrXfs => c.args(["-q", "-f", "-L", label]),
                Grub2Layout::MbrBtrfs => c.args(["-q", "-f", "-L", label]),
                _ => c.args(["-q", "-F", "-L", label]),
            };
            r.run(c.arg(dev), None);
        };
        mkfs_cmd(&disk.part(root_part), "root");
        if boot_part != root_part {
            mkfs_cmd(&disk.part(boot_part), "boot");
        }
        let root_mnt = Mounted::mount(&mut r, &disk.part(root_part), &dir.join("mnt"));
        let boot_mnt = if boot_part != root_part {
            std::fs::create_dir_all(root_mnt.dir.join("boot")).unwrap();
            Some(Mounted::mount(&mut r, &disk.part(boot_part), &root_mnt.dir.join("boot")))
        } else {
            None
        };
        let boot = root_mnt.dir.join("boot");
        std::fs::create_dir_all(&boot).unwrap();
        r.log.push(format!("cp {} {}/vmlinuz-{v}", kernel.path.display(), boot.display()));
        std::fs::copy(&kernel.path, boot.join(format!("vmlinuz-{v}"))).unwrap();
        std::fs::write(boot.join(format!("initrd.img-{v}")), tiny_initrd()).unwrap();
        r.run(
            install
                .arg("--target=i386-pc")
                .arg(format!("--directory={}", moddir.display()))
                .arg(format!("--boot-directory={}", boot.display()))
                .arg(&disk.dev),
            None,
        );
        r.log.push(format!("cat > {}/grub/grub.cfg", boot.display()));
        std::fs::write(boot.join("grub/grub.cfg"), &cfg).unwrap();
        drop(boot_mnt);
        drop(root_mnt);
        drop(disk);
    }
    Some(Built { img, cmdline: format!("BOOT_IMAGE={gpath}/vmlinuz-{v} {args}"), log: r.log })
}

/// What QEMU/SeaBIOS showed on the serial port until the kernel printed its
/// command line.
pub struct QemuBoot {
    pub serial: String,
    /// The kernel's `Command line: …` (trailing blanks trimmed).
    pub cmdline: Option<String>,
    /// The kernel's `RAMDISK: [mem A-B]` line, from `RAMDISK:`.
    pub ramdisk: Option<String>,
    /// The VGA text page (0xB8000, read through the HMP monitor after
    /// `stop`) once the kernel printed its command line, as
    /// [`crate::qemu::text_page`] rows: what the loader (and, for a 16-bit
    /// entry, Linux's real-mode setup: "Probing EDD …") left on the screen.
    /// With `console=ttyS0` the kernel does not write to it this early (nor
    /// later: the page is unchanged at the kernel's panic), so it is the
    /// screen at the kernel's 32-bit entry. Empty when QEMU never got there.
    pub screen: Vec<String>,
    /// From QEMU's start to the `Command line:` line (or to the end).
    pub elapsed: Duration,
}

/// Boots `img` in QEMU (TCG, `mem_mib` of RAM, the serial port to a file in
/// `dir`, a hard `timeout -s KILL` of `max` and its own process group)
/// until the kernel printed `Command line:` and `RAMDISK:` (then stops it,
/// reads the text screen through the monitor and kills it), or QEMU exits,
/// or `max` passes.
pub fn qemu_to_command_line(qemu: &Path, img: &Path, dir: &Path, mem_mib: u32, max: Duration) -> QemuBoot {
    let serial = dir.join("serial.txt");
    let monitor = dir.join("monitor.sock");
    let _ = std::fs::remove_file(&serial);
    let _ = std::fs::remove_file(&monitor);
    let start = Instant::now();
    let mut child = tcg_command(qemu, img, mem_mib, max.as_secs() + 5)
        .args(["-vga", "std", "-serial"])
        .arg(format!("file:{}", serial.display()))
        .arg("-monitor")
        .arg(format!("unix:{},server,nowait", monitor.display()))
        .spawn()
        .expect("spawn qemu");
    let mut text = String::new();
    let mut seen_cmdline: Option<Duration> = None;
    while start.elapsed() < max {
        std::thread::sleep(Duration::from_millis(100));
        text = String::from_utf8_lossy(&std::fs::read(&serial).unwrap_or_default()).into_owned();
        if seen_cmdline.is_none() && text.contains("Command line: ") {
            seen_cmdline = Some(start.elapsed());
        }
        // RAMDISK comes a few lines after the command line; do not wait
        // long for it (a kernel booted without initrd prints none).
        if text.contains("RAMDISK: ") || seen_cmdline.is_some_and(|t| start.elapsed() > t + Duration::from_secs(3)) {
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
    }
    let screen = if seen_cmdline.is_some() && child.try_wait().unwrap().is_none() {
        let mut m = Monitor::connect(&monitor, Instant::now() + Duration::from_secs(10));
        m.cmd("stop");
        m.rows()
    } else {
        Vec::new()
    };
    kill_group(&mut child);
    let after =
        |key: &str| text.lines().find_map(|l| l.split_once(key).map(|(_, rest)| format!("{key}{}", rest.trim_end())));
    QemuBoot {
        cmdline: after("Command line: ").map(|l| l["Command line: ".len()..].to_string()),
        ramdisk: after("RAMDISK: "),
        elapsed: seen_cmdline.unwrap_or_else(|| start.elapsed()),
        serial: text,
        screen,
    }
}
