//! `boot-sim inspect` on every committed fixture, checked against the
//! fixture's `<name>.expect.json` (written by the generator from what it
//! put in the image, see fixtures/README.md).

mod common;

use common::boot_sim;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images")
}

fn inspect_json(img: &Path) -> (Output, Vec<Value>) {
    let out = boot_sim(&["inspect", "--json", img.to_str().unwrap()]);
    let lines = boot_sim::json_lines(&out.stdout);
    (out, lines)
}

fn of_type<'a>(lines: &'a [Value], t: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l["type"] == t).collect()
}

/// The words boot-sim uses for each problem code of the fixture contract.
fn problem_words(code: &str) -> &'static str {
    match code {
        "gpt-primary-header-crc" => "primary GPT header at LBA 1 at byte 0x200 is corrupt",
        "ebr-loop" => "loops back",
        "partition-overlap" => "overlaps",
        "partition-past-end" => "past the end of the image",
        "no-boot-signature" => "no 0x55AA signature",
        "symlink-loop" => "too many levels of symbolic links",
        "corrupt-superblock" => "invalid block size",
        other => panic!("unknown problem code {other} in a fixture contract"),
    }
}

#[test]
fn every_fixture_matches_its_contract() {
    let mut checked = 0;
    let mut entries: Vec<_> = std::fs::read_dir(fixtures()).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for expect_path in entries.into_iter().filter(|p| p.to_string_lossy().ends_with(".expect.json")) {
        let expect: Value = serde_json::from_slice(&std::fs::read(&expect_path).unwrap()).unwrap();
        let name = expect["image"].as_str().unwrap();
        let img = fixtures().join(name);
        let (out, lines) = inspect_json(&img);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if expect["errors"].as_array().unwrap().iter().any(|e| e["code"] == "image-too-small") {
            assert_eq!(out.status.code(), Some(2), "{name}: exit status");
            assert!(stderr.contains("shorter than one 512-byte sector"), "{name}: {stderr}");
            assert!(lines.is_empty(), "{name}: nothing on stdout");
            checked += 1;
            continue;
        }
        assert_eq!(out.status.code(), Some(0), "{name}: exit status; stderr: {stderr}");
        let disk = of_type(&lines, "disk");
        assert_eq!(disk.len(), 1, "{name}: one disk object");
        let disk = disk[0];
        assert_eq!(disk["size_bytes"], expect["size_bytes"], "{name}: size");
        assert_eq!(disk["table"], expect["partition_table"], "{name}: table");
        let kind = expect["boot_code"]["kind"].as_str().unwrap();
        let kind = if kind == "zero" { "empty" } else { kind };
        assert_eq!(disk["boot_code"]["kind"], kind, "{name}: boot code");
        for field in ["stage2_sector", "kernel_sector", "stage2_lba", "stage2_sectors"] {
            if let Some(v) = expect["boot_code"].get(field) {
                assert_eq!(&disk["boot_code"][field], v, "{name}: boot code {field}");
            }
        }
        // Without 0x55AA there is no table, so no disk signature to report.
        if let Some(sig) = expect["mbr"]["disk_signature"].as_str().filter(|_| expect["partition_table"] != "none") {
            assert_eq!(disk["disk_signature"], sig, "{name}: disk signature");
        }

        // Partitions (and the whole-disk volume of a table-less disk).
        let ours = of_type(&lines, "partition");
        let mut wanted: Vec<Value> = expect["partitions"].as_array().unwrap().clone();
        if !expect["whole_disk_fs"].is_null() {
            wanted.push(expect["whole_disk_fs"].clone());
        }
        if expect["partition_table"] == "none" && expect["whole_disk_fs"].is_null() {
            assert_eq!(ours.len(), 1, "{name}: the whole disk is one volume");
            assert!(ours[0]["fs"].is_null(), "{name}: no filesystem expected");
        } else {
            assert_eq!(ours.len(), wanted.len(), "{name}: number of volumes");
        }
        for w in &wanted {
            let linux = w["names"]["linux"].as_str().unwrap();
            let p = ours.iter().find(|p| p["linux"] == linux).unwrap_or_else(|| panic!("{name}: no {linux}"));
            for (ours_key, theirs) in [("grub", &w["names"]["grub_legacy"]), ("grub2", &w["names"]["grub2"])] {
                if !theirs.is_null() {
                    assert_eq!(&p[ours_key], theirs, "{name} {linux}: {ours_key} name");
                }
            }
            for key in ["number", "start_lba", "sectors", "bootable"] {
                if !w[key].is_null() {
                    assert_eq!(&p[key], &w[key], "{name} {linux}: {key}");
                }
            }
            if let Some(t) = w["type"].as_str() {
                assert_eq!(
                    p["type_code"].as_str().unwrap(),
                    format!("{:#x}", u8::from_str_radix(&t[2..], 16).unwrap())
                );
            }
            if let Some(t) = w["type_guid"].as_str() {
                assert_eq!(p["type_code"], t, "{name} {linux}: type GUID");
                assert_eq!(p["partuuid"], w["unique_guid"], "{name} {linux}: PARTUUID");
                assert_eq!(p["gpt_name"], w["name"], "{name} {linux}: GPT name");
            }
            let corrupt = expect["errors"].as_array().unwrap().iter().any(|e| e["code"] == "corrupt-superblock");
            if corrupt {
                // The magic is intact, so boot-sim (like blkid) names the
                // type, and says why it cannot be read.
                assert_eq!(p["fs"], "ext2", "{name} {linux}: type from the magic");
                assert!(p["fs_error"].as_str().is_some_and(|e| e.contains("invalid block size")), "{name}: {p}");
                continue;
            }
            let fs = if w["fs"].is_null() { &w["contents"] } else { &w["fs"] };
            let fs_kind = fs["type"].as_str().or_else(|| match fs["kind"].as_str() {
                Some("linux-swap") => Some("swap"),
                Some("fat16") => Some("vfat"),
                _ => None,
            });
            assert_eq!(p["fs"].as_str(), fs_kind, "{name} {linux}: filesystem");
            if fs_kind.is_some() {
                assert_eq!(p["label"], fs["label"], "{name} {linux}: label");
                if let Some(uuid) = fs["uuid"].as_str() {
                    assert_eq!(
                        p["uuid"].as_str().map(str::to_lowercase),
                        Some(uuid.to_lowercase()),
                        "{name} {linux}: uuid"
                    );
                }
            }
        }

        // Configs: every one the contract lists, resolved the same way.
        let configs = of_type(&lines, "config");
        for c in expect["configs"].as_array().unwrap() {
            let ours = configs
                .iter()
                .find(|o| o["linux"] == c["device"] && o["path"] == c["path"])
                .unwrap_or_else(|| panic!("{name}: config {} {} not listed", c["device"], c["path"]));
            assert_eq!(ours["resolved_path"], c["resolves_to"], "{name}: {} resolves", c["path"]);
            assert_eq!(ours["format"], c["parsed"]["format"], "{name}: {} format", c["path"]);
        }

        // Problems: each named in a diagnostic; none where none is expected.
        let diags: Vec<String> =
            of_type(&lines, "diagnostic").iter().map(|d| d["message"].as_str().unwrap().to_string()).collect();
        let problems: Vec<&Value> =
            expect["errors"].as_array().unwrap().iter().chain(expect["warnings"].as_array().unwrap()).collect();
        for p in &problems {
            let words = problem_words(p["code"].as_str().unwrap());
            assert!(diags.iter().any(|d| d.contains(words)), "{name}: no diagnostic says {words:?}: {diags:?}");
            assert!(stderr.contains(words), "{name}: stderr lacks {words:?}");
        }
        if problems.is_empty() {
            assert!(diags.is_empty(), "{name}: unexpected diagnostics {diags:?}");
        }
        checked += 1;
    }
    assert!(checked >= 14, "only {checked} fixtures checked");
}

#[test]
fn text_report_names_partitions_configs_and_boot_code() {
    let out = boot_sim(&["inspect", fixtures().join("mbr-logical.img").to_str().unwrap()]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for needle in
        ["(hd0,4)  (hd0,msdos5)  xvda5", "0x05 Extended", "DOS/Windows-style MBR", "(hd0,4)/boot/grub/menu.lst"]
    {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    let out = boot_sim(&["inspect", fixtures().join("pv-whole-disk.img").to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("(hd0)/boot/grub/menu.lst -> /boot/grub/grub.conf"), "{text}");
    assert!(
        out.stderr.is_empty(),
        "a PV whole-disk image is not a BIOS mistake: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = boot_sim(&["inspect", fixtures().join("hvm-mbr.img").to_str().unwrap()]);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("GRUB legacy stage1 (version 3.2): loads LBA 1"), "{text}");
    assert!(text.contains("next stage at LBA 1 (gap before the first partition): all zero"), "{text}");
}

#[test]
fn cat_follows_grub_paths_and_symlinks() {
    let img = fixtures().join("pv-whole-disk.img");
    let via_link = boot_sim(&["cat", img.to_str().unwrap(), "(hd0)/boot/grub/menu.lst"]);
    let direct = boot_sim(&["cat", img.to_str().unwrap(), "/boot/grub/grub.conf"]);
    assert!(via_link.status.success() && direct.status.success());
    assert_eq!(via_link.stdout, direct.stdout);
    assert!(String::from_utf8_lossy(&direct.stdout).contains("title"));

    let img = fixtures().join("mbr-logical.img");
    let a = boot_sim(&["cat", img.to_str().unwrap(), "(hd0,4)/boot/grub/menu.lst"]);
    let b = boot_sim(&["cat", img.to_str().unwrap(), "xvda5:/boot/grub/menu.lst"]);
    let c = boot_sim(&["cat", img.to_str().unwrap(), "(hd0,msdos5)/boot/grub/menu.lst"]);
    assert!(a.status.success(), "{}", String::from_utf8_lossy(&a.stderr));
    assert_eq!(a.stdout, b.stdout);
    assert_eq!(a.stdout, c.stdout);

    let missing = boot_sim(&["cat", img.to_str().unwrap(), "(hd0,0)/boot/grub/menu.lst"]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("no such file"),
        "{}",
        String::from_utf8_lossy(&missing.stderr)
    );
    let nodev = boot_sim(&["cat", img.to_str().unwrap(), "(hd0,9)/x"]);
    assert_eq!(nodev.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&nodev.stderr).contains("no such device"));

    let looped = boot_sim(&["cat", fixtures().join("symlink-loop.img").to_str().unwrap(), "/boot/grub/menu.lst"]);
    assert_eq!(looped.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&looped.stderr).contains("too many levels of symbolic links"));
}

#[test]
fn errors_and_planned_commands_exit_2_with_a_message() {
    let out = boot_sim(&["inspect", "/nonexistent/image.raw"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/image.raw"));
    let out = boot_sim(&["compare", "/nonexistent/x.img"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.img"));
    // `bench` exists now: a stray argument is a usage error (exit 2).
    let out = boot_sim(&["bench", "x.img"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn images_are_never_modified() {
    use std::os::unix::fs::PermissionsExt;
    // A read-only copy can be inspected (the image is opened read-only)
    // and its bytes are unchanged afterwards.
    let src = fixtures().join("gpt-bad-primary.img");
    let dir = std::env::temp_dir().join(format!("boot-sim-ro-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("ro.img");
    std::fs::copy(&src, &copy).unwrap();
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o444)).unwrap();
    let before = std::fs::read(&copy).unwrap();
    let out = boot_sim(&["inspect", "--json", copy.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(&copy).unwrap(), before);
    std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
}
