//! `boot-sim lab list | check`: lab 3's broken fixtures fail the check, and
//! copies repaired the way the lab teaches pass it.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn boot_sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_boot-sim")).args(args).output().expect("run boot-sim")
}

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images").join(name)
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A copy of fixture `name` with `bytes` written at `offset`.
fn patched(dir: &Path, name: &str, offset: usize, bytes: &[u8]) -> PathBuf {
    let mut data = std::fs::read(fixture(name)).unwrap();
    data[offset..offset + bytes.len()].copy_from_slice(bytes);
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

#[test]
fn list_names_every_lab_and_the_checkable_parts() {
    let o = boot_sim(&["lab", "list"]);
    assert!(o.status.success());
    let s = stdout(&o);
    for n in 1..=6 {
        assert!(s.lines().any(|l| l.trim_start().starts_with(&format!("{n}  "))), "{s}");
    }
    assert!(s.contains("boot-sim lab check 3 IMAGE: parts A, B, C, D, E"), "{s}");
    let o = boot_sim(&["lab", "list", "--json"]);
    let labs: Vec<serde_json::Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(labs.len(), 6);
    assert_eq!(labs[2]["checks"].as_array().unwrap().len(), 5);
    assert_eq!(labs[3]["file"], serde_json::Value::Null);
    assert_eq!(labs[4]["file"], "docs/labs/lab5-emulation-cost.md");
}

#[test]
fn every_broken_fixture_fails_its_check() {
    for (part, name) in [
        ("A", "no-signature.img"),
        ("B", "gpt-bad-primary.img"),
        ("C", "corrupt-superblock.img"),
        ("D", "pv-kernel.img"),
        ("E", "mbr-logical.img"),
    ] {
        let o = boot_sim(&["lab", "check", "3", fixture(name).to_str().unwrap()]);
        assert_eq!(o.status.code(), Some(1), "{name}: {}", stdout(&o));
        let s = stdout(&o);
        assert!(s.contains(&format!("Part {part}: not repaired yet.")), "{s}");
        assert!(s.contains("  FAIL  "), "{s}");
    }
}

#[test]
fn repaired_copies_pass() {
    let dir = tempfile::tempdir().unwrap();
    // Part A: the signature; part B: the CRC boot-sim computes; part C: n = 0.
    let a = patched(dir.path(), "no-signature.img", 510, &[0x55, 0xAA]);
    let b = patched(dir.path(), "gpt-bad-primary.img", 528, &0x5ad0_6eb3u32.to_le_bytes());
    let c = patched(dir.path(), "corrupt-superblock.img", 1_049_624, &[0]);
    for (p, part) in [(a, 'A'), (b, 'B'), (c, 'C')] {
        let o = boot_sim(&["lab", "check", "3", p.to_str().unwrap()]);
        assert!(o.status.success(), "{}", stdout(&o));
        assert!(stdout(&o).contains(&format!("Part {part}: repaired.")));
        assert!(!stdout(&o).contains("FAIL"));
    }
}

#[test]
fn a_half_repair_is_not_enough() {
    // The signature alone, with the wrong byte order: still no 0x55AA.
    let dir = tempfile::tempdir().unwrap();
    let p = patched(dir.path(), "no-signature.img", 510, &[0xAA, 0x55]);
    let o = boot_sim(&["lab", "check", "3", "--part", "a", p.to_str().unwrap(), "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let objs: Vec<serde_json::Value> = stdout(&o).lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let last = objs.last().unwrap();
    assert_eq!(last["type"], "result");
    assert_eq!(last["repaired"], false);
    assert_eq!(objs[0]["check"], "sector 0 ends in 0x55AA");
    assert_eq!(objs[0]["passed"], false);
}

#[test]
fn unknown_labs_parts_and_images_are_usage_errors() {
    let img = fixture("pv-kernel.img");
    let img = img.to_str().unwrap();
    for (args, want) in [
        (vec!["lab", "check", "9", img], "there is no lab 9"),
        (vec!["lab", "check", "1", img], "lab 1 has no automatic check"),
        (vec!["lab", "check", "3", "--part", "Z", img], "lab 3 has no part 'Z'"),
    ] {
        let o = boot_sim(&args);
        assert_eq!(o.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&o.stderr).contains(want), "{:?}", String::from_utf8_lossy(&o.stderr));
    }
    let other = fixture("gpt.img");
    let o = boot_sim(&["lab", "check", "3", other.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("give --part"));
}
