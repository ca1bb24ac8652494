//! Cloud-image disk layouts made by the real tools, read by boot-sim:
//! a GPT (sgdisk) with a BIOS boot partition, an EFI System Partition and
//! an ext4 root, GRUB 2 installed by `grub-install --target=i386-pc` (Debian's
//! grub2-common, with the grub-pc-bin modules interop-setup extracts)
//! through a loop device. boot-sim must follow boot.img's kernel_sector
//! into the BIOS boot partition and say what the core.img there holds, as
//! `grub-install -v` says it built it (its grub-mkimage command line and
//! load.cfg).

use std::path::{Path, PathBuf};
use std::process::Command;

use boot_config::inspect;
use boot_sim::scratch_disk::run_tool;
use boot_sim::{InteropPolicy, interop_dir, interop_file, interop_tool};
use disk_image::Disk;

/// Unmounts and detaches however the test ends.
struct Cleanup {
    mnt: PathBuf,
    loops: Vec<String>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.mnt).status();
        for l in &self.loops {
            let _ = Command::new("losetup").arg("-d").arg(l).status();
        }
    }
}

fn sgdisk_field(sgdisk: &Path, img: &Path, part: u32, field: &str) -> u64 {
    let out = Command::new(sgdisk).arg("-i").arg(part.to_string()).arg(img).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let line = text.lines().find(|l| l.starts_with(field)).unwrap_or_else(|| panic!("sgdisk -i {part}: {text}"));
    line.split_whitespace().nth(2).unwrap().parse().unwrap()
}

#[test]
fn grub_install_core_img_in_a_bios_boot_partition_is_followed() {
    let Some(sgdisk) = interop_tool("sgdisk") else { return };
    let Some(mke2fs) = interop_tool("mke2fs") else { return };
    let Some(losetup) = interop_tool("losetup") else { return };
    let Some(grub_install) = interop_tool("grub-install") else { return };
    let Some(_) = interop_file("root/usr/lib/grub/i386-pc/boot.img") else { return };
    let modules = interop_dir().join("root/usr/lib/grub/i386-pc");
    let dir = boot_sim::qemu::Scratch::new("layouts");
    let img = dir.0.join("gpt.img");
    std::fs::File::create(&img).unwrap().set_len(64 << 20).unwrap();
    run_tool(
        Command::new(&sgdisk)
            .args(["-o", "-n", "1:2048:+1M", "-t", "1:ef02", "-c", "1:bios", "-n", "2:0:+16M", "-t", "2:ef00"])
            .args(["-c", "2:esp", "-n", "3:0:0", "-t", "3:8300", "-c", "3:root"])
            .arg(&img),
    );
    let bios_start = sgdisk_field(&sgdisk, &img, 1, "First sector:");
    let root_start = sgdisk_field(&sgdisk, &img, 3, "First sector:");
    let root_end = sgdisk_field(&sgdisk, &img, 3, "Last sector:");
    let uuid = "1a2b3c4d-0000-4000-8000-00000000c0de";
    run_tool(
        Command::new(&mke2fs)
            .args(["-q", "-F", "-t", "ext4", "-U", uuid, "-E"])
            .arg(format!("offset={}", root_start * 512))
            .arg(&img)
            .arg(format!("{}k", (root_end + 1 - root_start) * 512 / 1024)),
    );
    let mnt = dir.0.join("mnt");
    std::fs::create_dir_all(&mnt).unwrap();
    let mut cleanup = Cleanup { mnt: mnt.clone(), loops: Vec::new() };
    let out = Command::new("mount")
        .arg("-o")
        .arg(format!("loop,offset={}", root_start * 512))
        .arg(&img)
        .arg(&mnt)
        .output()
        .unwrap();
    if !out.status.success() {
        let msg = format!("interop_layouts: mount -o loop failed ({})", String::from_utf8_lossy(&out.stderr).trim());
        assert!(InteropPolicy::from_env() != InteropPolicy::Require, "{msg} (BOOT_SIM_INTEROP=require)");
        eprintln!("SKIPPED: {msg}");
        return;
    }
    // The whole disk as a loop device after the mount (mount refuses to
    // make a loop device overlapping an existing one).
    let out = Command::new(&losetup).args(["-f", "--show"]).arg(&img).output().unwrap();
    assert!(out.status.success(), "losetup: {}", String::from_utf8_lossy(&out.stderr));
    let disk_loop = String::from_utf8_lossy(&out.stdout).trim().to_string();
    cleanup.loops.push(disk_loop.clone());
    let out = Command::new(&grub_install)
        .args(["-v", "--target=i386-pc"])
        .arg(format!("--directory={}", modules.display()))
        .arg(format!("--boot-directory={}", mnt.join("boot").display()))
        .arg(&disk_loop)
        .output()
        .unwrap();
    let log = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "grub-install: {log}");
    let load_cfg = std::fs::read_to_string(mnt.join("boot/grub/i386-pc/load.cfg")).unwrap();
    let core_len = std::fs::metadata(mnt.join("boot/grub/i386-pc/core.img")).unwrap().len();
    std::fs::write(mnt.join("boot/grub/grub.cfg"), "menuentry 'Debian' {\n  linux /boot/vmlinuz root=UUID=1a2b\n}\n")
        .unwrap();
    drop(cleanup);

    // The ESP: a FAT made by mkfs.vfat, the stub copied in by mcopy, as
    // grub-install --target=x86_64-efi writes EFI/debian/grub.cfg.
    if let (Some(mkfs), Some(mmd), Some(mcopy)) =
        (interop_tool("mkfs.vfat"), interop_tool("mmd"), interop_tool("mcopy"))
    {
        let esp_start = sgdisk_field(&sgdisk, &img, 2, "First sector:");
        let esp_end = sgdisk_field(&sgdisk, &img, 2, "Last sector:");
        run_tool(
            Command::new(&mkfs)
                .args(["--offset", &esp_start.to_string(), "-n", "ESP"])
                .arg(&img)
                .arg(((esp_end + 1 - esp_start) / 2).to_string()),
        );
        let at = format!("{}@@{}", img.display(), esp_start * 512);
        run_tool(Command::new(&mmd).args(["-i", &at, "::/EFI", "::/EFI/debian"]));
        let stub = dir.0.join("grub.cfg");
        std::fs::write(
            &stub,
            format!("search.fs_uuid {uuid} root \nset prefix=($root)'/boot/grub'\nconfigfile $prefix/grub.cfg\n"),
        )
        .unwrap();
        run_tool(Command::new(&mcopy).args(["-i", &at]).arg(&stub).arg("::/EFI/debian/grub.cfg"));
        let disk = Disk::open(&img).unwrap();
        let r = inspect::inspect(&disk).unwrap();
        let esp = &r.volumes[1];
        assert_eq!(esp.fs.as_ref().map(|f| f.kind.name()), Some("vfat"));
        let st = esp.esp_stubs.first().expect("EFI/debian/grub.cfg found");
        assert_eq!(st.path, "/EFI/debian/grub.cfg");
        assert_eq!(st.finds.as_deref(), Some("(hd0,gpt3) xvda3"));
        assert_eq!(st.configfile.as_deref(), Some("(hd0,gpt3)/boot/grub/grub.cfg"));
        assert_eq!(st.target_exists, Some(true));
    }

    // grub-install's own account of the core.img it made.
    let mkimage = log.lines().find(|l| l.contains("grub-mkimage ")).unwrap_or_else(|| panic!("{log}"));
    let quoted: Vec<&str> = mkimage.split('\'').skip(1).step_by(2).collect();
    let prefix_at = mkimage.split('\'').position(|w| w.trim_end().ends_with("--prefix")).unwrap();
    let prefix = mkimage.split('\'').nth(prefix_at + 1).unwrap();
    // The module arguments are the quoted words after --config's.
    let config_at = quoted.iter().position(|q| q.ends_with("load.cfg")).unwrap();
    let modules_asked: Vec<&str> = quoted[config_at + 1..].to_vec();

    let disk = Disk::open(&img).unwrap();
    let r = inspect::inspect(&disk).unwrap();
    let next = r.next_stage.as_ref().expect("boot.img names its kernel_sector");
    assert_eq!(next.lba, bios_start, "boot.img's kernel_sector is the BIOS boot partition's first sector");
    assert!(next.location.contains("partition 1") && next.location.contains("BIOS boot"), "{}", next.location);
    let core = next.core_img.as_ref().expect("core.img read");
    assert!(core.error.is_none(), "{:?}", core.error);
    assert_eq!(core.prefix.as_deref(), Some(prefix));
    assert_eq!(core.config.as_deref(), Some(load_cfg.as_str()));
    for m in &modules_asked {
        assert!(core.modules.iter().any(|x| x == m), "{m} in {:?}", core.modules);
    }
    assert!(core.sectors >= core_len.div_ceil(512), "{} sectors for a {core_len}-byte core.img", core.sectors);
    assert_eq!(core.search_finds.as_deref(), Some("(hd0,gpt3) xvda3"));
    // The partition itself is reported as holding core.img, not "unrecognised code".
    let bios = r.volumes.iter().find(|v| v.volume.partition.as_ref().is_some_and(|p| p.number == 1)).unwrap();
    assert!(bios.boot_sector.is_none());
    assert_eq!(bios.core_img.as_ref().and_then(|c| c.prefix.as_deref()), Some(prefix));
}

/// boot-sim's FAT reader against mtools on volumes mkfs.vfat makes (FAT12,
/// FAT16, FAT32), with nested directories and long names copied in by mcopy:
/// every path `mdir -/ -b` lists, and every file's bytes as `mtype` prints them.
#[test]
fn fat_volumes_read_as_mtools_reads_them() {
    let (Some(mkfs), Some(mmd), Some(mcopy), Some(mdir), Some(mtype)) = (
        interop_tool("mkfs.vfat"),
        interop_tool("mmd"),
        interop_tool("mcopy"),
        interop_tool("mdir"),
        interop_tool("mtype"),
    ) else {
        return;
    };
    let dir = boot_sim::qemu::Scratch::new("fat");
    for (bits, kib) in [("12", 2048u64), ("16", 32768), ("32", 65536)] {
        let img = dir.0.join(format!("fat{bits}.img"));
        let _ = std::fs::remove_file(&img);
        run_tool(Command::new(&mkfs).args(["-C", "-F", bits, "-n", "ESP"]).arg(&img).arg(kib.to_string()));
        let at = format!("{}", img.display());
        run_tool(Command::new(&mmd).args(["-i", &at, "::/EFI", "::/EFI/debian", "::/EFI/BOOT", "::/deep"]));
        let mut d = String::from("::/deep");
        for i in 0..6 {
            d.push_str(&format!("/Level {i} with a long name"));
            run_tool(Command::new(&mmd).args(["-i", &at, &d]));
        }
        let files: Vec<(String, Vec<u8>)> = vec![
            ("::/EFI/debian/grub.cfg".into(), b"configfile (hd0,gpt2)/boot/grub/grub.cfg\n".to_vec()),
            ("::/EFI/BOOT/BOOTX64.CSV".into(), b"shimx64.efi,debian\n".to_vec()),
            (
                "::/EFI/debian/A file with a rather long name.txt".into(),
                (0..70_000u32).map(|i| (i % 251) as u8).collect(),
            ),
            (format!("{d}/lower.cfg"), b"x".to_vec()),
            ("::/empty".into(), Vec::new()),
        ];
        for (path, data) in &files {
            let src = dir.0.join("src");
            std::fs::write(&src, data).unwrap();
            run_tool(Command::new(&mcopy).args(["-i", &at]).arg(&src).arg(path));
        }
        let out = Command::new(&mdir).args(["-/", "-b", "-i", &at, "::/"]).output().unwrap();
        let mut theirs: Vec<String> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.trim().trim_start_matches("::").trim_end_matches('/').to_string())
            .filter(|l| !l.is_empty() && !l.ends_with("/.") && !l.ends_with("/.."))
            .collect();
        theirs.sort();
        let disk = Disk::open(&img).unwrap();
        let v = disk.whole_disk();
        let fs = disk.open_fs(&v).unwrap();
        let mut ours = Vec::new();
        let mut queue = vec!["/".to_string()];
        while let Some(p) = queue.pop() {
            for e in fs.list_dir(&p).unwrap() {
                let full = if p == "/" { format!("/{}", e.name) } else { format!("{p}/{}", e.name) };
                if e.kind == disk_image::fs::NodeKind::Directory {
                    queue.push(full.clone());
                } else {
                    let out = Command::new(&mtype).args(["-i", &at]).arg(format!("::{full}")).output().unwrap();
                    assert_eq!(fs.read_file(&full, 1 << 20).unwrap(), out.stdout, "FAT{bits} {full}");
                }
                ours.push(full);
            }
        }
        ours.sort();
        assert_eq!(ours, theirs, "FAT{bits}");
    }
}
