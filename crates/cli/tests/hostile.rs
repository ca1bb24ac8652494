//! The hostile-input suite (issue 19): inputs generated at test time —
//! truncated fixture images, 1 TiB sparse files, a FIFO, a directory,
//! `/dev/zero`, the fuzz corpora (bombs, EBR loops, corrupt headers) and
//! fixture images with bytes mutated by a seeded generator — and every
//! command that reads a file run on each, one process per run, with
//!
//! - a time bound ([`TIME_LIMIT`]: the run is killed past it),
//! - a memory bound ([`RSS_LIMIT`], peak RSS measured by GNU time's `%M`),
//!
//! failing on a panic (exit 101 or "panicked" on stderr), an exit code
//! outside 0/1/2 (a signal included), a run over either bound, or an input
//! whose bytes changed (digest before and after all the runs).
//!
//! Commands that run guest code (the HVM boot: `run --mode hvm|pvhvm`,
//! `compare`, `ami launch`, `lab check 4`) are sampled (every third input,
//! and every hostile boot sector of the corpus; `lab check 4` every sixth)
//! and given
//! `--max-instructions 1000000` where they take it (the default cap is
//! 1e9). A guest run also ends at `jmp $` and at the CLI's 60 s wall-clock
//! budget (`--max-seconds`), and BIOS calls count their work toward the
//! cap, so none is expected to time out; because a command without
//! `--max-instructions` can run past this suite's 10 s kill on a busy
//! machine, a guest timeout is listed rather than failed, unless
//! `BOOT_SIM_HOSTILE_STRICT_HVM=1` (which passes on an idle machine).
//!
//! The default sample keeps the suite near a minute on a debug build;
//! `BOOT_SIM_HOSTILE_MUTANTS=N` makes N mutants per fixture (default 2),
//! `BOOT_SIM_HOSTILE_ALL=1` takes every corpus file instead of a sample and
//! runs the guest commands on every input. The totals are printed
//! (`cargo test --test hostile -- --nocapture`).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use boot_sim::workspace_root;
use disk_image::RawImage;

const TIME_LIMIT: Duration = Duration::from_secs(10);
const RSS_LIMIT_KIB: u64 = 512 * 1024;
const RSS_LIMIT: &str = "512 MiB";

/// xorshift64*: the same mutants on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

struct Input {
    name: String,
    path: PathBuf,
    /// Regular files are hashed before and after; specials are not.
    regular: bool,
}

fn fixture_image(name: &str) -> PathBuf {
    workspace_root().join("fixtures/images").join(name)
}

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// The generators. Nothing large is committed: sparse files cost no disk.
fn generate(dir: &Path, rng: &mut Rng) -> Vec<Input> {
    let mut inputs = Vec::new();
    let mut add = |name: String, bytes: Option<Vec<u8>>| {
        let path = dir.join(&name);
        if let Some(b) = bytes {
            std::fs::write(&path, b).unwrap();
        }
        inputs.push(Input { name, path, regular: true });
    };
    let fixtures = ["hvm-grub2.img", "pv-kernel.img", "gpt.img", "mbr-logical.img", "hvm-simboot.img"];
    // Truncations: at structure boundaries and at a seeded point.
    for f in fixtures {
        let bytes = std::fs::read(fixture_image(f)).unwrap();
        let len = bytes.len() as u64;
        // One cut per fixture, alternately at a boundary and anywhere.
        let cut = if rng.below(2) == 0 {
            [0, 1, 511, 512, 513, 1024 * 1024 + 1024 + 7][rng.below(6) as usize]
        } else {
            1 + rng.below(len - 1)
        };
        {
            add(format!("cut-{cut}-{f}"), Some(bytes[..cut as usize].to_vec()));
        }
    }
    // 1 TiB sparse: all hole; a fixture padded (its GPT backup is then a
    // hole at the end); a fixture's head with the rest a hole.
    for (name, from) in
        [("1tib-hole.img", None), ("1tib-gpt.img", Some("gpt.img")), ("1tib-pv.img", Some("pv-kernel.img"))]
    {
        let path = dir.join(name);
        match from {
            Some(f) => {
                std::fs::copy(fixture_image(f), &path).unwrap();
            }
            None => drop(std::fs::File::create(&path).unwrap()),
        }
        std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(1 << 40).unwrap();
        add(name.to_string(), None);
    }
    // Mutants: bytes of sector 0, the GPT header and entries, the first
    // partition's superblock area and anywhere, set to seeded values.
    let mutants = env_usize("BOOT_SIM_HOSTILE_MUTANTS", 2);
    for f in fixtures {
        let base = std::fs::read(fixture_image(f)).unwrap();
        for m in 0..mutants {
            let mut b = base.clone();
            for _ in 0..24 {
                let region = match rng.below(4) {
                    0 => 0..512u64,
                    1 => 512..17 * 512,
                    2 => 1024 * 1024..1024 * 1024 + 8192,
                    _ => 0..b.len() as u64,
                };
                let at = region.start + rng.below(region.end - region.start);
                if let Some(x) = b.get_mut(at as usize) {
                    *x = match rng.below(3) {
                        0 => 0,
                        1 => 0xff,
                        _ => rng.next() as u8,
                    };
                }
            }
            add(format!("mutant-{m}-{f}"), Some(b));
        }
    }
    // The fuzz corpora: bombs, loops, corrupt headers, hostile boot code.
    let all = std::env::var("BOOT_SIM_HOSTILE_ALL").is_ok_and(|v| v == "1");
    for target in ["partition_table", "fs_walk", "kernel_inspect", "hvm_boot", "grub2_core"] {
        let mut files: Vec<PathBuf> = std::fs::read_dir(workspace_root().join("fuzz/corpus").join(target))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        files.sort();
        // Regressions and bombs always; a seeded sample of the rest.
        let keep = |p: &PathBuf, rng: &mut Rng| {
            let n = p.file_name().unwrap().to_string_lossy();
            all || n.starts_with("regress") || n.contains("bomb") || n.starts_with("bad-") || rng.below(6) == 0
        };
        for p in files {
            if keep(&p, rng) {
                let name = format!("corpus-{target}-{}", p.file_name().unwrap().to_string_lossy());
                add(name, Some(std::fs::read(&p).unwrap()));
            }
        }
    }
    // What is not a file.
    let fifo = dir.join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let sub = dir.join("directory");
    std::fs::create_dir(&sub).unwrap();
    for (name, path) in [("fifo", fifo), ("directory", sub), ("dev-zero", PathBuf::from("/dev/zero"))] {
        inputs.push(Input { name: name.into(), path, regular: false });
    }
    inputs
}

/// Every command that reads a file; `{}` is the input, `{reg}` the input's
/// own registry. `true`: the command runs guest code (see the module doc).
const COMMANDS: &[(&[&str], bool)] = &[
    (&["inspect", "{}"], false),
    (&["inspect", "{}", "--json"], false),
    (&["cat", "{}", "/boot/grub/menu.lst"], false),
    (&["cat", "{}", "(hd0,0)/boot/grub/grub.cfg"], false),
    (&["kernel", "{}"], false),
    (&["kernel", "{}", "/boot/vmlinuz"], false),
    (&["menu", "{}", "--loader", "all"], false),
    (&["menu", "{}", "--loader", "pygrub", "--offset", "1048576"], false),
    (&["run", "{}", "--mode", "pv"], false),
    (&["bench", "--image", "{}", "--size", "1", "--workload", "seq"], false),
    (&["lab", "check", "3", "{}", "--part", "B"], false),
    (&["lab", "check", "1", "{}"], false),
    (&["run", "fixtures/images/pv-kernel.img", "--mode", "pv", "--cost-model", "{}"], false),
    (&["ami", "register", "{}", "--name", "hostile", "--virtualization-type", "hvm", "--registry", "{reg}"], false),
    (&["ami", "footprint", "hostile", "--registry", "{reg}"], false),
    (&["run", "{}", "--mode", "hvm", "--keys", "\\n", "--max-instructions", "1000000"], true),
    (&["run", "{}", "--mode", "pvhvm", "--read-mib", "1", "--max-instructions", "1000000"], true),
    (&["compare", "{}", "--read-mib", "1", "--max-instructions", "1000000"], true),
    (
        &[
            "ami",
            "launch",
            "hostile",
            "--instance-type",
            "t2.micro",
            "--max-instructions",
            "1000000",
            "--registry",
            "{reg}",
        ],
        true,
    ),
    (&["lab", "check", "4", "{}"], true),
];

struct Outcome {
    code: Option<i32>,
    stderr: String,
    elapsed: Duration,
    timed_out: bool,
    max_rss_kib: Option<u64>,
}

/// One run in its own process group (killed whole at the time limit),
/// under GNU time for the peak RSS when it is there.
fn run_one(args: &[String], time: Option<&Path>, scratch: &Path) -> Outcome {
    use std::os::unix::process::CommandExt;
    let rss_file = scratch.join("rss");
    let _ = std::fs::remove_file(&rss_file);
    let bin = env!("CARGO_BIN_EXE_boot-sim");
    let mut cmd = match time {
        Some(t) => {
            let mut c = Command::new(t);
            c.arg("-f").arg("%M").arg("-o").arg(&rss_file).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    let stderr_file = scratch.join("stderr");
    cmd.args(args)
        .current_dir(workspace_root())
        .env("XDG_DATA_HOME", scratch.join("xdg"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_file).unwrap())
        .process_group(0);
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn boot-sim");
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if start.elapsed() > TIME_LIMIT {
            timed_out = true;
            let _ = Command::new("kill").arg("-KILL").arg("--").arg(format!("-{}", child.id())).status();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    // GNU time writes "Command exited with non-zero status N" before %M.
    let max_rss_kib =
        std::fs::read_to_string(&rss_file).ok().and_then(|s| s.lines().last().and_then(|l| l.trim().parse().ok()));
    Outcome {
        code: status.code(),
        stderr: std::fs::read_to_string(&stderr_file).unwrap_or_default(),
        elapsed,
        timed_out,
        max_rss_kib,
    }
}

fn digest(p: &Path) -> (u64, String) {
    ami::image::digest(&RawImage::open(p).unwrap()).unwrap()
}

#[test]
fn every_command_on_every_hostile_input() {
    let dir = tempfile::tempdir().unwrap();
    // GNU time (Debian package `time`), not the shell keyword.
    let time = boot_sim::interop_tool("time");
    let inputs_dir = dir.path().join("inputs");
    std::fs::create_dir(&inputs_dir).unwrap();
    let inputs = generate(&inputs_dir, &mut Rng(0x19_2026_1207));
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut guest_timeouts = Vec::new();
    let strict_hvm = std::env::var("BOOT_SIM_HOSTILE_STRICT_HVM").is_ok_and(|v| v == "1");
    let all_guest = std::env::var("BOOT_SIM_HOSTILE_ALL").is_ok_and(|v| v == "1");
    let mut runs = 0usize;
    let mut by_code = [0usize; 3];
    let mut slowest = (Duration::ZERO, String::new());
    let mut peak_rss = (0u64, String::new());
    for (i, input) in inputs.iter().enumerate() {
        let before = input.regular.then(|| digest(&input.path));
        let scratch = dir.path().join(format!("run-{i}"));
        std::fs::create_dir_all(&scratch).unwrap();
        let guest_here = all_guest || i % 3 == 0 || input.name.starts_with("corpus-hvm_boot");
        for (cmd, guest) in COMMANDS {
            if *guest && !guest_here {
                continue;
            }
            // `lab check 4` has no instruction cap to lower: every sixth input.
            if cmd.starts_with(&["lab", "check", "4"]) && !all_guest && i % 6 != 0 {
                continue;
            }
            let args: Vec<String> = cmd
                .iter()
                .map(|a| match *a {
                    "{}" => input.path.display().to_string(),
                    "{reg}" => scratch.join("amis.db").display().to_string(),
                    a => a.to_string(),
                })
                .collect();
            let o = run_one(&args, time.as_deref(), &scratch);
            runs += 1;
            let what = format!("boot-sim {} (input {})", cmd.join(" "), input.name);
            let problem = if o.timed_out && *guest && !strict_hvm {
                eprintln!("guest-loop timeout (issue 19 item 2) {what}");
                guest_timeouts.push(what.clone());
                None
            } else if o.timed_out {
                Some(format!("ran past {TIME_LIMIT:?}"))
            } else if o.code == Some(101) || o.stderr.contains("panicked") {
                Some(format!("panicked: {}", o.stderr.trim()))
            } else if !matches!(o.code, Some(0..=2)) {
                Some(format!("exit status {:?}: {}", o.code, o.stderr.trim()))
            } else if o.max_rss_kib.is_some_and(|k| k > RSS_LIMIT_KIB) {
                Some(format!("peak RSS {} KiB, over {RSS_LIMIT}", o.max_rss_kib.unwrap_or(0)))
            } else {
                None
            };
            if let Some(p) = problem {
                eprintln!("FAIL {what}: {p}");
                failures.push(format!("{what}: {p}"));
            }
            if let Some(c) = o.code.filter(|c| (0..=2).contains(c)) {
                by_code[c as usize] += 1;
            }
            if o.elapsed > slowest.0 {
                slowest = (o.elapsed, what.clone());
            }
            if let Some(k) = o.max_rss_kib.filter(|&k| k > peak_rss.0) {
                peak_rss = (k, what.clone());
            }
        }
        if let Some(before) = before {
            let after = digest(&input.path);
            if after != before {
                failures.push(format!("input {} changed: {before:?} -> {after:?}", input.name));
            }
        }
    }
    // The commands that read no file, once.
    let fifo = inputs_dir.join("fifo").display().to_string();
    let registries = [&["ami", "list", "--registry", "/dev/null"][..], &["ami", "list", "--registry", &fifo]];
    for args in [&["completions", "bash"][..], &["man"], &["lab", "list"]].into_iter().chain(registries) {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let o = run_one(&args, time.as_deref(), dir.path());
        runs += 1;
        if o.timed_out || !matches!(o.code, Some(0..=2)) || o.stderr.contains("panicked") {
            failures.push(format!("boot-sim {}: exit {:?}: {}", args.join(" "), o.code, o.stderr.trim()));
        }
    }
    println!(
        "hostile inputs: {} inputs x {} commands ({} of them guest-running, sampled) = {runs} runs in {:.1} s; exit 0/1/2: {}/{}/{}; slowest {:.2} s ({}); peak RSS {} ({}); {} failures; {} guest-loop timeouts (item 2)",
        inputs.len(),
        COMMANDS.len(),
        COMMANDS.iter().filter(|c| c.1).count(),
        started.elapsed().as_secs_f64(),
        by_code[0],
        by_code[1],
        by_code[2],
        slowest.0.as_secs_f64(),
        slowest.1,
        if time.is_some() { format!("{} KiB", peak_rss.0) } else { "not measured (no GNU time)".into() },
        peak_rss.1,
        failures.len(),
        guest_timeouts.len()
    );
    assert!(failures.is_empty(), "{} failures:\n{}", failures.len(), failures.join("\n"));
}
