//! Test kit shared by boot-sim's integration tests, interop tests and benches.
//!
//! The root package of the workspace holds only `tests/` and `benches/`; this
//! library is what they have in common: where the committed fixtures live,
//! how to run the `boot-sim` binary, and the interop gate that decides what
//! happens when a real tool (sfdisk, debugfs, pygrub, QEMU, …) is missing.
#![forbid(unsafe_code)]

use std::path::PathBuf;

pub mod loaders;

/// The workspace root (where `Cargo.toml` of the root package lives).
pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Path of a committed fixture image or file under `fixtures/`.
pub fn fixture(relative: &str) -> PathBuf {
    workspace_root().join("fixtures").join(relative)
}

/// A bundled image (`fixtures/images/NAME`) as a command-line argument.
pub fn image(name: &str) -> String {
    fixture("images").join(name).to_string_lossy().into_owned()
}

/// Where `scripts/interop-setup.sh` unpacks third-party files (Debian
/// packages extracted with `dpkg -x`); never committed.
pub fn interop_dir() -> PathBuf {
    workspace_root().join("target").join("interop")
}

/// How the interop tests treat a missing real tool, from `BOOT_SIM_INTEROP`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InteropPolicy {
    /// Default for local runs: a missing tool skips the test with a message.
    Skip,
    /// `BOOT_SIM_INTEROP=require` (set by `.ci/run`): a missing tool fails.
    Require,
}

impl InteropPolicy {
    pub fn from_env() -> Self {
        match std::env::var("BOOT_SIM_INTEROP").as_deref() {
            Ok("require") => Self::Require,
            _ => Self::Skip,
        }
    }
}

/// Deterministic bytes that differ per seed and position (xorshift32), so
/// a block read from the wrong place shows in a comparison.
pub fn pattern_bytes(seed: u32, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Finds an executable on `PATH` or in the usual sbin directories (sfdisk,
/// debugfs and mke2fs live in /usr/sbin, which is not on every user's PATH).
pub fn find_tool(name: &str) -> Option<PathBuf> {
    let from_path = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default();
    let extra = ["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from);
    from_path.into_iter().chain(extra).map(|dir| dir.join(name)).find(|candidate| candidate.is_file())
}

/// The gate every interop test goes through: returns the tool's path, or
/// `None` after printing why the test is skipped. Under
/// `BOOT_SIM_INTEROP=require` a missing tool is a test failure instead.
pub fn interop_tool(name: &str) -> Option<PathBuf> {
    match find_tool(name) {
        Some(path) => Some(path),
        None => missing(&format!("tool `{name}`")),
    }
}

/// Like [`interop_tool`] for a file that `scripts/interop-setup.sh` extracts
/// under [`interop_dir`] (for example GRUB's `stage1` from `grub-legacy`).
pub fn interop_file(relative: &str) -> Option<PathBuf> {
    let path = interop_dir().join(relative);
    if path.is_file() { Some(path) } else { missing(&format!("file {}", path.display())) }
}

/// Debian's pygrub (package xen-utils-4.17), the reference for PV menus.
pub const PYGRUB: &str = "/usr/lib/xen-4.17/bin/pygrub";

/// The pygrub gate: its path, or `None` (skipped) / a failure under
/// `BOOT_SIM_INTEROP=require`. python3 must be there too.
pub fn pygrub() -> Option<PathBuf> {
    let path = PathBuf::from(PYGRUB);
    if !path.is_file() {
        return missing("pygrub (xen-utils-4.17)");
    }
    interop_tool("python3")?;
    Some(path)
}

fn missing<T>(what: &str) -> Option<T> {
    let msg = format!("interop: {what} is missing; run `bash scripts/interop-setup.sh` first");
    match InteropPolicy::from_env() {
        InteropPolicy::Require => panic!("{msg} (BOOT_SIM_INTEROP=require)"),
        InteropPolicy::Skip => {
            eprintln!("SKIPPED: {msg}");
            None
        }
    }
}

/// Parses JSON Lines output into values, failing with the offending line.
pub fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad JSON line {l:?}: {e}")))
        .collect()
}

/// Scratch disks for the interop tests, made with the real tools (sfdisk,
/// mke2fs): a partition table from an sfdisk script, an ext2 partition
/// populated by `mke2fs -d`. Functions that need a tool return `None`
/// (after the interop gate's message) when it is missing.
pub mod scratch_disk {
    use std::io::Write;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};

    use super::interop_tool;

    pub fn run_tool(cmd: &mut Command) {
        let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Writes the partition table `script` (sfdisk's input format) into the
    /// image file `img` with the real `sfdisk`, as a user would.
    pub fn sfdisk_script(sfdisk: &Path, img: &Path, script: &str) {
        let mut c = Command::new(sfdisk)
            .args(["-q", "--no-reread", "--no-tell-kernel"])
            .arg(img)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e}", sfdisk.display()));
        c.stdin.take().unwrap().write_all(script.as_bytes()).unwrap();
        let out = c.wait_with_output().unwrap();
        assert!(out.status.success(), "sfdisk: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// A disk of `mib` MiB with one bootable type-0x83 partition from LBA
    /// 2048 to the end, holding an ext2 filesystem (1 KiB blocks) made by
    /// `mke2fs -d` from `files` (path inside the filesystem, content); `None`
    /// (skipped) without sfdisk or mke2fs.
    pub fn ext2_disk_mib(dir: &Path, files: &[(&str, Vec<u8>)], mib: u64) -> Option<PathBuf> {
        let sfdisk = interop_tool("sfdisk")?;
        let mke2fs = interop_tool("mke2fs")?;
        let img = dir.join("disk.img");
        std::fs::write(&img, vec![0u8; (mib << 20) as usize]).unwrap();
        sfdisk_script(&sfdisk, &img, "label: dos\nlabel-id: 0x5eed00a1\n2048,,83,*\n");
        let root = dir.join("root");
        for (path, data) in files {
            let p = root.join(path.trim_start_matches('/'));
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, data).unwrap();
        }
        run_tool(
            Command::new(&mke2fs)
                .args(["-q", "-F", "-t", "ext2", "-b", "1024", "-U", "b007f1c5-00a1-4000-8000-000000000001"])
                .args(["-E", "offset=1048576,root_owner=0:0", "-d"])
                .arg(&root)
                .arg(&img)
                .arg(((mib - 1) << 10).to_string()),
        );
        Some(img)
    }
}

/// What the QEMU interop tests (tests/interop_hvm.rs, interop_grub2.rs,
/// interop_extlinux.rs) share: scratch directories, killing QEMU's process
/// group, the QEMU monitor (HMP) with the VGA text page, and installing a
/// GRUB 2 boot.img + core.img as grub-bios-setup does.
pub mod qemu {
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;
    use std::path::{Path, PathBuf};
    use std::process::{Child, Command};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::{Duration, Instant};

    use boot::hvm::console::cp437;

    static SEQ: AtomicU32 = AtomicU32::new(0);

    /// A scratch directory under the temp dir, removed when dropped.
    pub struct Scratch(pub PathBuf);

    impl Scratch {
        pub fn new(tag: &str) -> Scratch {
            let n = SEQ.fetch_add(1, Ordering::Relaxed);
            let d = std::env::temp_dir().join(format!("boot-sim-{tag}-{}-{n}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            std::fs::create_dir_all(&d).unwrap();
            Scratch(d)
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// The QEMU every interop test starts from: `timeout -s KILL` of
    /// `kill_after` seconds around `qemu` in a process group of its own
    /// (for [`kill_group`]), `-machine pc,accel=tcg` (KVM prints nothing
    /// with the Debian kernel on these hosts), `mem_mib` of RAM, no default
    /// devices, no display, no reboot, and `image` as an IDE disk with
    /// `snapshot=on` (never written); stdio null. Callers add `-vga std`,
    /// `-serial`, `-monitor`, `-gdb`, `-debugcon`, `-S`.
    pub fn tcg_command(qemu: &Path, image: &Path, mem_mib: u32, kill_after: u64) -> Command {
        use std::os::unix::process::CommandExt;
        use std::process::Stdio;
        let mut c = Command::new("timeout");
        c.args(["-s", "KILL", &kill_after.to_string()])
            .process_group(0)
            .arg(qemu)
            .args(["-machine", "pc,accel=tcg", "-m", &mem_mib.to_string(), "-nodefaults", "-display", "none"])
            .args(["-no-reboot", "-drive"])
            .arg(format!("file={},format=raw,if=ide,snapshot=on", image.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        c
    }

    /// Kills `child`'s process group (QEMU is started in its own group) and
    /// reaps it.
    pub fn kill_group(child: &mut Child) {
        let _ = Command::new("kill").args(["-KILL", "--", &format!("-{}", child.id())]).status();
        let _ = child.kill();
        let _ = child.wait();
    }

    /// An 80x25 text page (character, attribute bytes) as rows: CP437,
    /// trailing blanks trimmed, trailing empty rows dropped, as
    /// `HvmReport::screen`.
    pub fn text_page(cells: &[u8]) -> Vec<String> {
        let mut rows: Vec<String> = cells
            .chunks(160)
            .map(|row| {
                let line: String = row.chunks(2).map(|c| cp437(c[0])).collect();
                line.trim_end().to_string()
            })
            .collect();
        while rows.last().is_some_and(|l| l.is_empty()) {
            rows.pop();
        }
        rows
    }

    /// [`text_page`] of (character, attribute) cells.
    pub fn screen_rows(cells: &[(u8, u8)]) -> Vec<String> {
        let flat: Vec<u8> = cells.iter().flat_map(|&(c, a)| [c, a]).collect();
        text_page(&flat)
    }

    /// A QEMU monitor (HMP) connection on a Unix socket.
    pub struct Monitor {
        s: UnixStream,
    }

    impl Monitor {
        pub fn connect(path: &Path, deadline: Instant) -> Monitor {
            let s = loop {
                match UnixStream::connect(path) {
                    Ok(s) => break s,
                    Err(e) if Instant::now() > deadline => panic!("monitor {}: {e}", path.display()),
                    Err(_) => std::thread::sleep(Duration::from_millis(50)),
                }
            };
            let mut m = Monitor { s };
            m.until_prompt();
            m
        }

        fn until_prompt(&mut self) -> String {
            self.s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            let mut out = Vec::new();
            let mut buf = [0u8; 4096];
            while !out.ends_with(b"(qemu) ") {
                match self.s.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => out.extend_from_slice(&buf[..n]),
                }
            }
            String::from_utf8_lossy(&out).into_owned()
        }

        /// Runs one monitor command and returns its output.
        pub fn cmd(&mut self, c: &str) -> String {
            self.s.write_all(format!("{c}\n").as_bytes()).unwrap();
            self.until_prompt()
        }

        /// The 80x25 text page at 0xB8000, read with `xp`: (character,
        /// attribute) per cell.
        pub fn cells(&mut self) -> Vec<(u8, u8)> {
            let out = self.cmd("xp /4000xb 0xb8000");
            let bytes: Vec<u8> = out
                .lines()
                .filter_map(|l| l.trim().strip_prefix("00000000000b8").and_then(|r| r.split_once(':')))
                .flat_map(|(_, v)| {
                    v.split_whitespace().map(|h| u8::from_str_radix(h.trim_start_matches("0x"), 16).unwrap())
                })
                .collect();
            assert_eq!(bytes.len(), 4000, "xp output: {out}");
            bytes.chunks(2).map(|c| (c[0], c[1])).collect()
        }

        /// [`Monitor::cells`] as [`text_page`] rows.
        pub fn rows(&mut self) -> Vec<String> {
            screen_rows(&self.cells())
        }
    }

    /// grub-bios-setup's bytes for an msdos disk with a free MBR gap
    /// (util/setup.c, `--no-rs-codes`): boot.img keeps the disk's BPB area
    /// and partition table, jumps over the drive check, reads core.img
    /// from LBA 1; core.img's first blocklist covers the rest from LBA 2.
    pub fn install_grub2(img: &Path, boot_img: &[u8], core_img: &[u8]) {
        let mut disk = std::fs::read(img).unwrap();
        let n = core_img.len().div_ceil(512);
        assert!(n < 2048, "core.img must fit the MBR gap");
        let mut core = core_img.to_vec();
        core.resize(n * 512, 0);
        let mut boot = boot_img.to_vec();
        boot[3..0x5A].copy_from_slice(&disk[3..0x5A]);
        boot[0x1B8..0x1FE].copy_from_slice(&disk[0x1B8..0x1FE]);
        boot[0x66] = 0x90;
        boot[0x67] = 0x90;
        boot[0x64] = 0xFF;
        boot[0x5C..0x64].copy_from_slice(&1u64.to_le_bytes());
        core[0x1F4..0x1FC].copy_from_slice(&2u64.to_le_bytes());
        core[0x1FC..0x1FE].copy_from_slice(&((n - 1) as u16).to_le_bytes());
        core[0x1FE..0x200].copy_from_slice(&0x820u16.to_le_bytes());
        disk[..512].copy_from_slice(&boot);
        disk[512..512 + core.len()].copy_from_slice(&core);
        std::fs::write(img, disk).unwrap();
    }
}

/// Lab 4's steps (docs/labs/lab4-pv-to-hvm.md) on a copy of
/// `pv-migrate.img`, with the real tools a student uses: `sfdisk` for the
/// partition table and `debugfs` to edit files in the partition. Shared by
/// the lab check's tests (crates/cli/tests/lab.rs) and simboot-install's
/// (fixtures/tests/simboot_install.rs). Every function returns `None`
/// (after the interop gate's message) when a tool is missing.
pub mod lab4 {
    use std::io::Write;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};

    use super::{fixture, interop_tool};

    /// Runs `cmd` with `stdin`, failing the test with its stderr.
    fn run(cmd: &mut Command, stdin: &str) {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
        child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Byte offset of the partition the lab creates (LBA 2048).
    pub const OFFSET: u64 = 2048 * 512;

    /// Step 2: a 4 MiB disk `dir/name` with one bootable Linux partition
    /// from LBA 2048 (disk signature 0x5eed0412) and pv-migrate.img's
    /// file system copied into it; `start` moves the partition (a
    /// too-small gap), copying the file system there instead.
    pub fn partitioned(dir: &Path, name: &str, start: u64) -> Option<PathBuf> {
        let sfdisk = interop_tool("sfdisk")?;
        interop_tool("debugfs")?;
        let img = dir.join(name);
        let pv = std::fs::read(fixture("images/pv-migrate.img")).unwrap();
        std::fs::write(&img, vec![0u8; 4 << 20]).unwrap();
        run(
            Command::new(&sfdisk).args(["-q", "--no-reread", "--no-tell-kernel"]).arg(&img),
            &format!("label: dos\nlabel-id: 0x5eed0412\nstart={start}, size={}, type=83, bootable\n", pv.len() / 512),
        );
        let mut disk = std::fs::read(&img).unwrap();
        let at = start as usize * 512;
        disk[at..at + pv.len()].copy_from_slice(&pv);
        std::fs::write(&img, disk).unwrap();
        Some(img)
    }

    /// Step 4: replaces the file `path` of the partition at `offset` by
    /// `edit` of its text, as the lab does it: `debugfs dump`, edit, `rm`,
    /// `write`.
    pub fn edit_file(img: &Path, offset: u64, path: &str, edit: impl FnOnce(&str) -> String) -> Option<()> {
        let debugfs = interop_tool("debugfs")?;
        let target = format!("{}?offset={offset}", img.display());
        let local = img.with_extension(format!("{}.edit", path.rsplit('/').next().unwrap_or("file")));
        let debugfs_do = |write: bool, req: String| {
            let mut c = Command::new(&debugfs);
            if write {
                c.arg("-w");
            }
            run(c.args(["-R", &req]).arg(&target), "");
        };
        debugfs_do(false, format!("dump {path} {}", local.display()));
        let text = std::fs::read_to_string(&local).unwrap();
        std::fs::write(&local, edit(&text)).unwrap();
        debugfs_do(true, format!("rm {path}"));
        debugfs_do(true, format!("write {} {path}", local.display()));
        std::fs::remove_file(&local).unwrap();
        Some(())
    }
}
