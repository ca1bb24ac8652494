//! Interop: boot menus read by boot-sim against the real pygrub (Debian
//! xen-utils-4.17). pygrub's own code runs (tests/interop/pygrub_menu.py
//! loads the pygrub script as a module and calls its `Grub` class and
//! `run_grub`) on each config in tests/data/menus; boot-sim's pygrub dialect
//! must list the same entries and pick the same one, by default and with
//! `--entry`. Where real GRUB reads the file differently, the GRUB-side
//! tests in crates/boot-config/tests/menu_legacy.rs state it.

use std::path::{Path, PathBuf};
use std::process::Command;

use boot_config::select::{self, EntryRequest};
use boot_config::{Dialect, Menu, extlinux, grub_legacy};
use boot_sim::{pygrub, workspace_root};
use serde_json::Value;

fn run_pygrub(pygrub: &Path, format: &str, config: &Path, entry: Option<&str>) -> Value {
    let script = workspace_root().join("tests/interop/pygrub_menu.py");
    let mut cmd = Command::new("python3");
    cmd.arg(script).arg(pygrub).arg(format).arg(config);
    if let Some(e) = entry {
        cmd.arg(e);
    }
    let out = cmd.output().expect("run python3");
    assert!(
        out.status.success(),
        "pygrub_menu.py failed on {}: {}",
        config.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("pygrub_menu.py JSON")
}

fn configs(dir: &str) -> Vec<PathBuf> {
    configs_in(&workspace_root().join("tests/data/menus").join(dir))
}

fn configs_in(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    v.sort();
    v
}

fn norm(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Our entry, as the fields pygrub reports: (title, kernel path, args, initrd).
fn ours(menu: &Menu, extlinux: bool) -> Vec<(String, Option<String>, String, Option<String>)> {
    menu.entries
        .iter()
        .map(|e| {
            // pygrub titles extlinux entries by LABEL and keeps kernel
            // names as written (it does not resolve them against the
            // config's directory: boot-sim does, as syslinux does).
            let title = if extlinux { e.id.clone().unwrap_or_default() } else { e.title.clone() };
            let kernel = e.kernel.as_ref().map(|k| if extlinux { base(&k.path) } else { k.path.clone() });
            let initrd = e.initrd.first().map(|i| if extlinux { base(&i.path) } else { i.path.clone() });
            (title, kernel, norm(&e.args), initrd)
        })
        .collect()
}

fn base(p: &str) -> String {
    p.rsplit('/').next().unwrap_or(p).to_string()
}

fn theirs(v: &Value, extlinux: bool) -> Vec<(String, Option<String>, String, Option<String>)> {
    v["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            let s = |k: &str| i[k].as_str().map(str::to_string);
            let kernel = s("kernel").map(|k| if extlinux { base(&k) } else { k });
            let initrd = s("initrd").map(|k| if extlinux { base(&k) } else { k });
            (s("title").unwrap_or_default(), kernel, norm(&s("args").unwrap_or_default()), initrd)
        })
        .collect()
}

fn check(pygrub: &Path, format: &str, path: &Path, menu: &Menu) {
    let extlinux = format == "extlinux";
    let name = path.file_name().unwrap().to_string_lossy();
    let v = run_pygrub(pygrub, format, path, None);
    assert!(
        v.get("parse_error").is_none(),
        "{name}: pygrub raised {} but boot-sim's pygrub dialect parsed it",
        v["parse_error"]
    );
    let want = theirs(&v, extlinux);
    let got = ours(menu, extlinux);
    assert_eq!(got, want, "{name}: entries differ from pygrub's");
    if menu.entries.is_empty() {
        // A BLS-only grub.cfg (blscfg): pygrub sees no images and fails to pick one.
        assert!(v.get("error").is_some(), "{name}: pygrub picked from an empty menu: {v}");
        return;
    }
    let requests: Vec<(Option<String>, EntryRequest)> = std::iter::once((None, EntryRequest::Default))
        .chain((0..menu.entries.len()).map(|i| (Some(i.to_string()), EntryRequest::Index(i))))
        .chain(menu.entries.first().map(|e| {
            let t = if extlinux { e.id.clone().unwrap_or_default() } else { e.title.clone() };
            (Some(t.clone()), EntryRequest::Title(t))
        }))
        .collect();
    for (arg, req) in requests {
        let v = if arg.is_none() { v.clone() } else { run_pygrub(pygrub, format, path, arg.as_deref()) };
        let (index, _, why) = select::pygrub_pick(menu, &req).unwrap_or_else(|e| panic!("{name}: {e}"));
        if let Some(err) = v.get("error") {
            // pygrub crashes on some entries (e.g. a chainloader entry has
            // no kernel): boot-sim picks the same index and reports no kernel.
            assert!(
                menu.entries[index].kernel.is_none() || extlinux,
                "{name} {req:?}: pygrub failed ({err}) but we have a kernel"
            );
            continue;
        }
        assert_eq!(
            v["selected"]["index"].as_u64(),
            Some(index as u64),
            "{name} {req:?}: pygrub picks another entry ({why})"
        );
        let e = &menu.entries[index];
        if !extlinux {
            assert_eq!(
                v["selected"]["kernel"].as_str(),
                e.kernel.as_ref().map(|k| k.path.as_str()),
                "{name} {req:?}: kernel"
            );
        }
        assert_eq!(norm(v["selected"]["args"].as_str().unwrap_or("")), norm(&e.args), "{name} {req:?}: args");
    }
}

#[test]
fn grub_legacy_menus_equal_pygrub() {
    let Some(pygrub) = pygrub() else { return };
    let files = configs("legacy");
    assert!(files.len() >= 20, "expected the legacy menu variants");
    for path in files {
        let menu = grub_legacy::parse_dialect(&std::fs::read(&path).unwrap(), Dialect::Pygrub);
        check(&pygrub, "grub", &path, &menu);
    }
}

#[test]
fn extlinux_menus_equal_pygrub() {
    let Some(pygrub) = pygrub() else { return };
    for path in configs("extlinux") {
        let menu = extlinux::parse_dialect(&std::fs::read(&path).unwrap(), "/boot/extlinux", Dialect::Pygrub);
        check(&pygrub, "extlinux", &path, &menu);
    }
}

/// The real pygrub binary on the fixture images: it extracts the kernel
/// and ramdisk it chose; boot-sim's pygrub loader must choose the same
/// files (same bytes) and the same args, or fail where pygrub fails.
#[test]
fn fixture_images_boot_like_pygrub() {
    use boot_config::discover::{self, Loader};
    use disk_image::Disk;

    let Some(pygrub) = pygrub() else { return };
    let cases = [
        "pv-whole-disk.img",
        "hvm-mbr.img",
        "empty-mbr.img",
        "mbr-logical.img",
        "pv-fallback.img",
        "syslinux-mbr.img",
        "gpt.img",
        "pv-kernel.img",
    ];
    for name in cases {
        let img = boot_sim::fixture(&format!("images/{name}"));
        let outdir = std::env::temp_dir().join(format!("boot-sim-pygrub-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&outdir);
        std::fs::create_dir_all(&outdir).unwrap(); // pygrub requires an existing directory
        let out = Command::new(&pygrub)
            .args(["-q", "--output-format=simple"])
            .arg(format!("--output-directory={}", outdir.display()))
            .arg(&img)
            .output()
            .expect("run pygrub");
        let disk = Disk::open(&img).unwrap();
        let d = discover::discover(&disk, Loader::Pygrub);
        let ours = select::choose(&disk, &d, &EntryRequest::Default);
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(
                ours.is_err(),
                "{name}: pygrub failed ({}) but boot-sim's pygrub boots {:?}",
                err.trim(),
                ours.map(|c| c.entry.title)
            );
            continue;
        }
        let text = String::from_utf8_lossy(&out.stdout);
        let field = |k: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{k} "))).map(str::to_string);
        let c = ours.unwrap_or_else(|e| panic!("{name}: pygrub boots, boot-sim's pygrub fails: {e}"));
        let read = |hit: &discover::FileHit| {
            let v = disk.volume(&hit.device).unwrap_or_else(|| disk.whole_disk());
            let fs = disk.open_fs(&v).unwrap();
            fs.read_file(&hit.resolved_path, 1 << 30).unwrap()
        };
        let kernel = std::fs::read(field("kernel").expect("pygrub printed a kernel")).unwrap();
        assert_eq!(read(&c.kernel), kernel, "{name}: kernel bytes");
        match (field("ramdisk"), c.initrd.first()) {
            (Some(p), Some(hit)) => assert_eq!(read(hit), std::fs::read(p).unwrap(), "{name}: ramdisk bytes"),
            (None, None) => {}
            (p, h) => panic!("{name}: pygrub ramdisk {p:?}, boot-sim {:?}", h.map(|h| &h.path)),
        }
        assert_eq!(norm(&field("args").unwrap_or_default()), norm(&c.cmdline), "{name}: args");
        let _ = std::fs::remove_dir_all(&outdir);
    }
}

/// GRUB 2 configs (crates/boot-config/tests/data/grub2, modelled on what
/// Debian, Ubuntu, CentOS, RHEL/Fedora/Amazon Linux generate): pygrub's
/// `Grub2ConfigFile` and boot-sim's pygrub reading agree, including where
/// pygrub raises (CentOS 7's and RHEL 8's `set x="a=b"` lines break its
/// `grub_split`). GRUB's own evaluation of these files is tested in
/// crates/boot-config/tests/menu_grub2.rs.
#[test]
fn grub2_menus_equal_pygrub() {
    use boot_config::pygrub_grub2;
    let Some(pygrub) = pygrub() else { return };
    let files = configs_in(&workspace_root().join("crates/boot-config/tests/data/grub2"));
    assert!(files.len() >= 12);
    let mut parsed = 0;
    for path in files {
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let ours = pygrub_grub2::parse(&std::fs::read(&path).unwrap());
        let v = run_pygrub(&pygrub, "grub2", &path, None);
        match (ours, v.get("parse_error")) {
            (Err(e), Some(theirs)) => eprintln!("{name}: both fail: ours {e:?}, pygrub {theirs}"),
            (Err(e), None) => panic!("{name}: boot-sim's pygrub dialect fails ({e}) but pygrub parses it"),
            (Ok(_), Some(theirs)) => panic!("{name}: pygrub raised {theirs} but boot-sim's pygrub dialect parsed it"),
            (Ok(menu), None) => {
                check(&pygrub, "grub2", &path, &menu);
                parsed += 1;
            }
        }
    }
    assert!(parsed >= 8, "only {parsed} GRUB 2 configs parsed by both");
}

/// pygrub's `--offset` and `--entry` on the real binary: the menu on the
/// logical partition xvda5 (never in pygrub's own partition list) is found
/// when pygrub is pointed at it, and boot-sim's `discover_pygrub_at` reads
/// the same entry, kernel bytes and args.
#[test]
fn pygrub_offset_and_entry_on_a_logical_partition() {
    use boot_config::discover;
    use disk_image::Disk;

    let Some(pygrub) = pygrub() else { return };
    let img = boot_sim::fixture("images/mbr-logical.img");
    let disk = Disk::open(&img).unwrap();
    let xvda5 = disk.volume("xvda5").unwrap();
    for entry in [None, Some("0"), Some("Debian GNU/Linux, kernel 2.6.32-5-xen-amd64 (root partition)")] {
        let outdir = std::env::temp_dir().join(format!("boot-sim-pygrub-off-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&outdir);
        std::fs::create_dir_all(&outdir).unwrap();
        let mut cmd = Command::new(&pygrub);
        cmd.args(["-q", "--output-format=simple"])
            .arg(format!("--output-directory={}", outdir.display()))
            .arg(format!("--offset={}", xvda5.start_bytes));
        if let Some(e) = entry {
            cmd.arg(format!("--entry={e}"));
        }
        let out = cmd.arg(&img).output().unwrap();
        assert!(out.status.success(), "pygrub --offset failed: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        let field = |k: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{k} "))).map(str::to_string);
        let d = discover::discover_pygrub_at(&disk, xvda5.start_bytes).unwrap();
        let req = entry.map_or(EntryRequest::Default, EntryRequest::parse);
        let c = select::choose(&disk, &d, &req).unwrap();
        let fs = disk.open_fs(&xvda5).unwrap();
        assert_eq!(
            fs.read_file(&c.kernel.resolved_path, 1 << 30).unwrap(),
            std::fs::read(field("kernel").unwrap()).unwrap()
        );
        assert_eq!(norm(&field("args").unwrap_or_default()), norm(&c.cmdline));
        let _ = std::fs::remove_dir_all(&outdir);
    }
}
