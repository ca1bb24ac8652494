//! What every command does with what it is given: a directory, a
//! character device, a FIFO, a socket or a missing path is exit 2 at once
//! with a message naming the path and what it is (issue 19: `kernel
//! /dev/zero` read forever, a FIFO hung every command in `open`); exit
//! codes of the contract (README "Exit status"); the shell completions and
//! the man page.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use boot_sim::image;

/// Runs boot-sim with a deadline; a run past it is killed and fails the test.
fn run(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_boot-sim"))
        .args(args)
        .env("XDG_DATA_HOME", std::env::temp_dir().join("boot-sim-inputs-test"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run boot-sim");
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("boot-sim {args:?} ran past {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Every command that takes a file, with `{}` where the file goes.
pub const COMMANDS: &[&[&str]] = &[
    &["inspect", "{}"],
    &["inspect", "{}", "--json"],
    &["cat", "{}", "/boot/grub/menu.lst"],
    &["kernel", "{}"],
    &["kernel", "{}", "/boot/vmlinuz"],
    &["menu", "{}"],
    &["menu", "{}", "--loader", "pygrub"],
    &["run", "{}", "--mode", "pv"],
    &["run", "{}", "--mode", "hvm"],
    &["run", "{}", "--mode", "pvhvm"],
    &["compare", "{}"],
    &["bench", "--image", "{}", "--size", "1"],
    &["lab", "check", "3", "{}"],
    &["lab", "check", "4", "{}"],
    &["lab", "check", "1", "{}"],
    &["run", "fixtures/images/pv-kernel.img", "--mode", "pv", "--cost-model", "{}"],
    &["bench", "--size", "1", "--cost-model", "{}"],
    &["ami", "register", "{}", "--name", "hostile", "--virtualization-type", "hvm", "--registry", "{reg}"],
];

fn with(cmd: &[&str], path: &Path, reg: &Path) -> Vec<String> {
    let root = boot_sim::workspace_root();
    cmd.iter()
        .map(|a| match *a {
            "{}" => path.display().to_string(),
            "{reg}" => reg.display().to_string(),
            a if a.starts_with("fixtures/") => root.join(a).display().to_string(),
            a => a.to_string(),
        })
        .collect()
}

#[test]
fn what_is_not_a_file_is_refused_at_once_by_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let socket = dir.path().join("socket");
    let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let subdir = dir.path().join("a directory");
    std::fs::create_dir(&subdir).unwrap();
    let missing = dir.path().join("missing.img");
    let cases: [(PathBuf, &str); 6] = [
        (PathBuf::from("/dev/zero"), "is a character device; boot-sim reads regular files and block devices"),
        (PathBuf::from("/dev/urandom"), "is a character device; boot-sim reads regular files and block devices"),
        (fifo, "is a FIFO (named pipe); boot-sim reads regular files and block devices"),
        (socket, "is a socket; boot-sim reads regular files and block devices"),
        (subdir, "is a directory; boot-sim reads regular files and block devices"),
        (missing, "no such file or directory"),
    ];
    let reg = dir.path().join("amis.db");
    for (path, what) in &cases {
        for cmd in COMMANDS {
            let args = with(cmd, path, &reg);
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let o = run(&args, Duration::from_secs(10));
            let e = stderr(&o);
            assert_eq!(o.status.code(), Some(2), "{args:?}: {e}");
            assert!(e.contains(&format!("{}: {what}", path.display())), "{args:?}: {e}");
            assert!(!e.contains("cannot read 0 bytes"), "{args:?}: {e}");
        }
    }
}

#[test]
fn kernel_of_something_that_is_no_kernel_is_exit_1() {
    let o = run(&["kernel", &image("pv-whole-disk.img")], Duration::from_secs(30));
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let t = String::from_utf8_lossy(&o.stdout);
    assert!(t.contains("unknown format") && t.contains("HVM: not a Linux boot-protocol image"), "{t}");
    let o = run(&["kernel", "--json", "/dev/null"], Duration::from_secs(10));
    assert_eq!(o.status.code(), Some(2), "/dev/null is a character device");
    // A kernel is exit 0 even when neither path can boot it (the report says so).
    let k = boot_sim::workspace_root().join("fixtures/kernels/no-notes.elf");
    let o = run(&["kernel", k.to_str().unwrap()], Duration::from_secs(30));
    assert_eq!(o.status.code(), Some(0));
}

#[test]
fn kernel_files_are_read_up_to_their_limit_only() {
    // A sparse 1 GiB file: refused by its size, without reading it.
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big.bin");
    std::fs::File::create(&big).unwrap().set_len(1 << 30).unwrap();
    let o = run(&["kernel", big.to_str().unwrap()], Duration::from_secs(10));
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("1.0 GiB is larger than any kernel"), "{}", stderr(&o));
}

#[test]
fn completions_and_man_page_name_every_subcommand() {
    let subcommands =
        ["inspect", "cat", "kernel", "run", "ami", "lab", "compare", "bench", "menu", "completions", "man"];
    for shell in ["bash", "zsh", "fish"] {
        let o = run(&["completions", shell], Duration::from_secs(10));
        assert!(o.status.success());
        let script = String::from_utf8_lossy(&o.stdout);
        for s in subcommands {
            assert!(script.contains(s), "{shell} completion lacks {s}");
        }
    }
    let o = run(&["completions", "bash"], Duration::from_secs(10));
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("boot-sim.bash");
    std::fs::write(&script, &o.stdout).unwrap();
    let bash = Command::new("bash").arg("-n").arg(&script).output().unwrap();
    assert!(bash.status.success(), "bash -n: {}", stderr(&bash));
    // Sourced, it completes the subcommands.
    let complete = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {}; COMP_WORDS=(boot-sim am); COMP_CWORD=1; COMP_LINE='boot-sim am'; COMP_POINT=11; _boot__sim boot-sim am boot-sim; echo \"${{COMPREPLY[@]}}\"",
            script.display()
        ))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&complete.stdout).trim(), "ami", "{}", stderr(&complete));
    let o = run(&["man"], Duration::from_secs(10));
    assert!(o.status.success());
    let page = String::from_utf8_lossy(&o.stdout);
    assert!(page.starts_with(".ie") && page.contains(".TH boot-sim 1"), "{}", &page[..200.min(page.len())]);
    for s in subcommands {
        assert!(page.contains(&format!(".SH \"BOOT-SIM {}\"", s.to_uppercase())), "man page lacks {s}");
    }
    for nested in ["BOOT-SIM AMI REGISTER", "BOOT-SIM AMI LAUNCH", "BOOT-SIM LAB CHECK"] {
        assert!(page.contains(nested), "man page lacks {nested}");
    }
    assert!(page.contains("\\fB--instance-type\\fR"), "options are listed");
}

/// The messages of issue 19, each naming the image, the partition and the
/// structure with the right byte offset, once.
#[test]
fn messages_name_the_image_the_partition_and_the_offset() {
    let t = Duration::from_secs(30);
    let img = |n: &str| image(n);
    // cat: a path error says on which image and device it happened.
    let o = run(&["cat", &img("pv-whole-disk.img"), "/"], t);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains(&format!("{}: (hd0) xvda: /: is a directory", img("pv-whole-disk.img"))),
        "{}",
        stderr(&o)
    );
    let o = run(&["cat", &img("mbr-logical.img"), "/nope"], t);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("/nope is on none of its 5 volumes: (hd0,0) xvda1: /nope: no such file or directory"), "{e}");
    // The GPT backup header in use is reported at its own offset:
    // 26624 sectors, the backup at LBA 26623 = byte 0xcffe00.
    let o = run(&["inspect", &img("gpt-bad-primary.img")], t);
    let e = stderr(&o);
    assert!(e.contains("using the backup GPT header at LBA 26623 (byte 0xcffe00)"), "{e}");
    assert_eq!(e.matches("corrupt").count(), 1, "{e}");
    // A filesystem that cannot be read: a warning naming the partition and
    // the superblock's offset once, and the config search says it missed it.
    let o = run(&["inspect", &img("corrupt-superblock.img")], t);
    assert_eq!(o.status.code(), Some(0), "the image was read; the filesystem is a warning");
    let e = stderr(&o);
    assert!(e.contains("warning: (hd0,0) xvda1: ext superblock of xvda1 of"), "{e}");
    assert_eq!(e.matches("0x100400").count(), 1, "{e}");
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains(
            "Boot loader configs: none found (not searched: the filesystem of xvda1 cannot be read; see the warning)"
        ),
        "{out}"
    );
    // A partition past the end of the image says so.
    let o = run(&["cat", &img("mbr-past-end.img"), "/boot/grub/menu.lst"], t);
    let e = stderr(&o);
    assert!(
        e.contains("the partition runs past the end of the image (it ends at byte 0x900000, the image at 0x400000"),
        "{e}"
    );
    // `run --mode pv` of a 1-byte file says 1 byte, as the other commands do.
    let dir = tempfile::tempdir().unwrap();
    let one = dir.path().join("one.img");
    std::fs::write(&one, b"x").unwrap();
    let one = one.to_str().unwrap();
    let o = run(&["run", one, "--mode", "pv"], t);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("the image is 1 byte, shorter than one 512-byte sector"), "{}", stderr(&o));
    for cmd in [&["inspect", one][..], &["menu", one], &["cat", one, "/x"]] {
        let o = run(cmd, t);
        assert!(
            stderr(&o).contains("the image is 1 byte, shorter than one 512-byte sector"),
            "{cmd:?}: {}",
            stderr(&o)
        );
    }
    // A missing path or a directory: the path and what it is, not an I/O
    // error at byte 0.
    let o = run(&["inspect", "/nonexistent/disk.img"], t);
    assert_eq!(stderr(&o).trim(), "boot-sim: error: /nonexistent/disk.img: no such file or directory");
    // ELF errors in our words: the structure, the offset, the file size.
    let elf = std::fs::read(boot_sim::workspace_root().join("fixtures/kernels/xen-pv.elf")).unwrap();
    let cut = dir.path().join("cut.elf");
    std::fs::write(&cut, &elf[..56]).unwrap();
    let o = run(&["kernel", cut.to_str().unwrap()], t);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o)
            .contains("corrupt ELF header at byte 0x0: the 64-byte ELF header does not fit in the file (56 bytes)"),
        "{}",
        stderr(&o)
    );
}

/// A registry path that is not a regular file would block SQLite's open (a
/// FIFO) or fail obscurely (a device): refused at once.
#[test]
fn a_registry_that_is_not_a_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("fifo.db");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    for reg in [fifo.to_str().unwrap(), "/dev/null", dir.path().to_str().unwrap()] {
        let o = run(&["ami", "list", "--registry", reg], Duration::from_secs(10));
        assert_eq!(o.status.code(), Some(2), "{reg}");
        assert!(stderr(&o).contains("it is not a regular file"), "{reg}: {}", stderr(&o));
    }
}
