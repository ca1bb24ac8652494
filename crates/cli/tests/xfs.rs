//! `boot-sim inspect`, `cat` and `menu` on XFS roots made by the real
//! `mkfs.xfs -p` (V5, V4, V4 without ftype): the filesystem and its
//! version shown, the configs found through the `menu.lst -> ./grub.conf`
//! symlink, the kernel read, and each loader reading what its source
//! reads (PV-GRUB and pygrub: V4 without ftype only; GRUB 2: all).
//! A missing `mkfs.xfs` skips (fails under `BOOT_SIM_INTEROP=require`).

mod common;

use common::{boot_sim, stdout};

use std::path::{Path, PathBuf};
use std::process::Command;

use boot_sim::interop_tool;
use boot_sim::qemu::Scratch;

const MENU: &str = "default 0\ntimeout 1\ntitle XFS root\nroot (hd0)\nkernel /boot/vmlinuz ro root=/dev/xvda console=hvc0\ninitrd /boot/initrd.img\n";
const GRUB_CFG: &str = "set default=\"Second\"\nmenuentry 'First' {\n\tlinux /boot/vmlinuz ro first\n\tinitrd /boot/initrd.img\n}\nmenuentry 'Second' {\n\tlinux /boot/vmlinuz ro second\n}\n";

/// An XFS image (512 MiB sparse) of `/boot/{vmlinuz,initrd.img}`,
/// `/boot/grub/grub.conf`, `menu.lst -> ./grub.conf` and, when given, a
/// `grub.cfg`.
fn image(dir: &Path, name: &str, mkfs_args: &[&str], grub_cfg: Option<&str>) -> Option<PathBuf> {
    let mkfs = interop_tool("mkfs.xfs")?;
    let put = |n: &str, data: &[u8]| {
        let p = dir.join(format!("{name}-{n}"));
        std::fs::write(&p, data).unwrap();
        p.display().to_string()
    };
    let mut proto = format!(
        "/dev/null\n0 0\nd--755 0 0\n boot d--755 0 0\n  vmlinuz ---644 0 0 {}\n  initrd.img ---644 0 0 {}\n  grub d--755 0 0\n   grub.conf ---644 0 0 {}\n   menu.lst l--777 0 0 ./grub.conf\n",
        put("vmlinuz", &vec![0x4b; 40_000]),
        put("initrd", b"initrd bytes"),
        put("grub.conf", MENU.as_bytes()),
    );
    if let Some(cfg) = grub_cfg {
        proto += &format!("   grub.cfg ---644 0 0 {}\n", put("grub.cfg", cfg.as_bytes()));
    }
    proto += "  $\n $\n$\n";
    let proto_path = dir.join(format!("{name}.proto"));
    std::fs::write(&proto_path, proto).unwrap();
    let img = dir.join(format!("{name}.img"));
    std::fs::File::create(&img).unwrap().set_len(512 << 20).unwrap();
    let out = Command::new(mkfs)
        .args(["-q", "-L", "xfsroot"])
        .args(mkfs_args)
        .arg("-p")
        .arg(&proto_path)
        .arg(&img)
        .output()
        .unwrap();
    assert!(out.status.success(), "mkfs.xfs: {}", String::from_utf8_lossy(&out.stderr));
    Some(img)
}

#[test]
fn inspect_and_cat_read_xfs_v4_and_v5() {
    let scratch = Scratch::new("cli-xfs");
    for (name, args, version) in [
        ("v5", &[][..], "xfs (V5)"),
        ("v4", &["-m", "crc=0"][..], "xfs (V4)"),
        ("v4nf", &["-m", "crc=0", "-n", "ftype=0"][..], "xfs (V4)"),
    ] {
        let Some(img) = image(&scratch.0, name, args, None) else { return };
        let img = img.to_str().unwrap();
        let out = boot_sim(&["inspect", img]);
        let t = stdout(&out);
        assert!(t.contains(version) && t.contains("xfsroot"), "{name}: {t}");
        assert!(t.contains("(hd0)/boot/grub/menu.lst -> /boot/grub/grub.conf  (grub-legacy"), "{name}: {t}");
        assert!(t.contains("XFS root"), "{name}: {t}");
        let json = boot_sim(&["inspect", "--json", img]);
        let lines = boot_sim::json_lines(&json.stdout);
        let vol = lines.iter().find(|l| l["type"] == "partition").expect("a partition line");
        assert_eq!(vol["fs"], "xfs");
        assert_eq!(vol["fs_version"], if name == "v5" { 5 } else { 4 });
        let cat = boot_sim(&["cat", img, "/boot/grub/menu.lst"]);
        assert!(cat.status.success(), "{name}: {}", String::from_utf8_lossy(&cat.stderr));
        assert_eq!(stdout(&cat), MENU);
        let k = boot_sim(&["cat", img, "/boot/vmlinuz"]);
        assert_eq!(k.stdout, vec![0x4b; 40_000], "{name}");
    }
}

#[test]
fn loaders_read_what_their_sources_read() {
    let scratch = Scratch::new("cli-xfs-menu");
    let Some(v4nf) = image(&scratch.0, "v4nf", &["-m", "crc=0", "-n", "ftype=0"], None) else { return };
    let Some(v4) = image(&scratch.0, "v4", &["-m", "crc=0"], None) else { return };
    let Some(v5) = image(&scratch.0, "v5", &[], None) else { return };
    for loader in ["pygrub", "pvgrub-hd0"] {
        let out = boot_sim(&["menu", v4nf.to_str().unwrap(), "--loader", loader]);
        let t = stdout(&out);
        assert!(out.status.success(), "{loader}: {t}");
        assert!(t.contains("Boots entry 0 \"XFS root\""), "{loader}: {t}");
        assert!(t.contains("cmdline ro root=/dev/xvda console=hvc0"), "{loader}: {t}");
    }
    // V5: pygrub's plugin and PV-GRUB's fsys_xfs.c refuse to mount it.
    let out = boot_sim(&["menu", v5.to_str().unwrap(), "--loader", "pygrub"]);
    let t = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("RuntimeError: Unable to find partition containing kernel"), "{t}");
    assert!(t.contains("mounts only XFS V4"), "{t}");
    assert!(t.contains("hint: pygrub cannot read this filesystem: GRUB 2 reads xfs V5"), "{t}");
    let out = boot_sim(&["menu", v5.to_str().unwrap(), "--loader", "pvgrub-hd0"]);
    let t = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("Error 17: Cannot mount selected partition"), "{t}");
    // run --mode pv says the same, with the same hint.
    let out = boot_sim(&["run", "--mode", "pv", v5.to_str().unwrap()]);
    let t = format!("{}{}", stdout(&out), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("cannot read this filesystem: GRUB 2 reads xfs V5"), "{t}");
    // V4 with ftype: mounted, but directories misread.
    let out = boot_sim(&["menu", v4.to_str().unwrap(), "--loader", "pvgrub-hd0"]);
    let t = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{t}");
    assert!(t.contains("Error 15: File not found") && t.contains("ftype"), "{t}");
    let out = boot_sim(&["menu", v4.to_str().unwrap(), "--loader", "pygrub"]);
    let t = stdout(&out);
    assert!(t.contains("couldn't find bootloader config file in the image provided."), "{t}");
}

/// Xen 4.17's pygrub on a grub.cfg whose default is a title: it warns
/// "Invalid value Second, setting default to 0" and boots entry 0.
#[test]
fn pygrub_boots_entry_0_for_a_title_default() {
    let scratch = Scratch::new("cli-xfs-title");
    let Some(img) = image(&scratch.0, "v4nf", &["-m", "crc=0", "-n", "ftype=0"], Some(GRUB_CFG)) else { return };
    let out = boot_sim(&["menu", img.to_str().unwrap(), "--loader", "pygrub"]);
    let t = stdout(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("(hd0)/boot/grub/grub.cfg"), "{t}");
    assert!(t.contains("Boots entry 0 \"First\""), "{t}");
    assert!(t.contains("cmdline ro first"), "{t}");
}
