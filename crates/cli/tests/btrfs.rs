//! `boot-sim inspect` and `boot-sim cat` on a btrfs disk made by
//! mkfs.btrfs (btrfs-progs ≥ 6.13 for `--subvol`): the root in subvolume
//! `@` (the default), `@home` beside it. `cat` names paths as GRUB 2 does,
//! from the top-level subvolume; `inspect` reports the fsid as
//! `btrfs inspect-internal dump-super` prints it, the default subvolume and
//! the subvolume list. Skipped without btrfs-progs (fails under
//! `BOOT_SIM_INTEROP=require`).

mod common;

use common::boot_sim;

use std::path::Path;
use std::process::Command;

use boot_sim::{InteropPolicy, interop_tool, json_lines};

const GRUB_CFG: &[u8] =
    b"set default=0\nmenuentry 'Fedora' {\n  linux /@/boot/vmlinuz root=LABEL=fedora rootflags=subvol=@\n}\n";

/// The image, or `None` (skipped).
fn fedora_like(dir: &Path) -> Option<std::path::PathBuf> {
    let mkfs = interop_tool("mkfs.btrfs")?;
    let help = Command::new(&mkfs).arg("--help").output().unwrap();
    if !String::from_utf8_lossy(&help.stdout).contains("--subvol")
        && !String::from_utf8_lossy(&help.stderr).contains("--subvol")
    {
        assert!(InteropPolicy::from_env() != InteropPolicy::Require, "mkfs.btrfs has no --subvol (btrfs-progs < 6.13)");
        eprintln!("SKIPPED: mkfs.btrfs has no --subvol (btrfs-progs < 6.13)");
        return None;
    }
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("@/boot/grub")).unwrap();
    std::fs::create_dir_all(src.join("@home/user")).unwrap();
    std::fs::write(src.join("@/boot/grub/grub.cfg"), GRUB_CFG).unwrap();
    std::fs::write(src.join("@/boot/vmlinuz"), vec![0x90u8; 300_000]).unwrap();
    let img = dir.join("btrfs.img");
    std::fs::File::create(&img).unwrap().set_len(256 << 20).unwrap();
    let out = Command::new(&mkfs)
        .args(["-q", "-f", "-L", "fedora", "--rootdir"])
        .arg(&src)
        .args(["--subvol", "default:@", "--subvol", "@home", "--compress", "zstd"])
        .arg(&img)
        .output()
        .unwrap();
    assert!(out.status.success(), "mkfs.btrfs: {}", String::from_utf8_lossy(&out.stderr));
    Some(img)
}

#[test]
fn inspect_and_cat_read_btrfs_subvolumes() {
    let dir = tempfile::tempdir().unwrap();
    let Some(img) = fedora_like(dir.path()) else { return };
    let img_s = img.to_str().unwrap();

    let out = boot_sim(&["cat", img_s, "/@/boot/grub/grub.cfg"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, GRUB_CFG);
    // GRUB 2 starts at the top level: there is no /boot there.
    let out = boot_sim(&["cat", img_s, "/boot/grub/grub.cfg"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such file"), "{}", String::from_utf8_lossy(&out.stderr));

    let Some(btrfs) = interop_tool("btrfs") else { return };
    let sup = Command::new(btrfs).args(["inspect-internal", "dump-super"]).arg(&img).output().unwrap();
    let sup = String::from_utf8(sup.stdout).unwrap();
    let fsid = sup.lines().find_map(|l| l.strip_prefix("fsid")).unwrap().trim().to_string();

    let out = boot_sim(&["inspect", "--json", img_s]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let lines = json_lines(&out.stdout);
    let part = lines.iter().find(|l| l["type"] == "partition").expect("a partition line");
    assert_eq!(part["fs"], "btrfs");
    assert_eq!(part["label"], "fedora");
    assert_eq!(part["uuid"], fsid.as_str());
    assert_eq!(part["fs_error"], serde_json::Value::Null);
    let b = &part["btrfs"];
    let subvols: Vec<(u64, String)> = b["subvolumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["id"].as_u64().unwrap(), s["path"].as_str().unwrap().to_string()))
        .collect();
    let at = subvols.iter().find(|(_, p)| p == "@").expect("subvolume @").0;
    assert_eq!(b["default_subvolume"], at);
    assert_eq!(subvols.len(), 2, "{subvols:?}");
    assert!(subvols.iter().any(|(_, p)| p == "@home"));

    // The config in the default subvolume, under GRUB 2's name for it.
    let configs: Vec<&serde_json::Value> = lines.iter().filter(|l| l["type"] == "config").collect();
    assert_eq!(configs.len(), 1, "{configs:?}");
    assert_eq!(configs[0]["path"], "/@/boot/grub/grub.cfg");
    assert_eq!(configs[0]["size"], GRUB_CFG.len());

    let text = boot_sim(&["inspect", img_s]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains(&format!("default subvolume {at} (@)")), "{text}");
    assert!(text.contains("path @home"), "{text}");
}
