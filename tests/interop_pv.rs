//! Interop for the PV path: start_info's layout against Xen's own public
//! header (compiled with gcc from Debian's libxen-dev), and a PV boot of
//! Debian's cloud kernel whose placement is checked against the bytes the
//! C decompressor (`lz4 -dc`) produces.

use std::path::{Path, PathBuf};
use std::process::Command;

use boot::machine::GuestPhysAddr;
use boot::pv::builder::{BuildConfig, START_INFO_FIELDS, START_INFO_SIZE};
use boot::pv::{self, PvOptions, PvOutcome};
use boot_sim::{interop_dir, interop_tool};

const XEN_H: &str = "/usr/include/xen/xen.h";

#[test]
fn start_info_offsets_equal_xens_header() {
    let Some(gcc) = interop_tool("gcc") else { return };
    if !Path::new(XEN_H).is_file() {
        assert!(
            boot_sim::InteropPolicy::from_env() != boot_sim::InteropPolicy::Require,
            "{XEN_H} missing: scripts/interop-setup.sh installs libxen-dev"
        );
        eprintln!("SKIPPED: {XEN_H} missing; run `bash scripts/interop-setup.sh`");
        return;
    }
    let dir = std::env::temp_dir().join(format!("boot-sim-si-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut c = String::from(
        "#include <stddef.h>\n#include <stdio.h>\n#include <stdint.h>\n#include <xen/xen.h>\nint main(void) {\n",
    );
    c.push_str("  printf(\"sizeof %zu\\n\", sizeof(struct start_info));\n");
    for (f, _) in START_INFO_FIELDS {
        c.push_str(&format!("  printf(\"{f} %zu\\n\", offsetof(struct start_info, {f}));\n"));
    }
    c.push_str("  return 0;\n}\n");
    std::fs::write(dir.join("si.c"), c).unwrap();
    let st = Command::new(gcc).arg("-o").arg(dir.join("si")).arg(dir.join("si.c")).status().unwrap();
    assert!(st.success(), "gcc failed");
    let out = Command::new(dir.join("si")).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let get = |k: &str| -> usize {
        text.lines().find_map(|l| l.strip_prefix(&format!("{k} "))).unwrap_or_else(|| panic!("{k}")).parse().unwrap()
    };
    assert_eq!(get("sizeof") as u64, START_INFO_SIZE);
    for (f, off) in START_INFO_FIELDS {
        assert_eq!(get(f), *off, "start_info.{f}");
    }
    let _ = std::fs::remove_dir_all(dir);
}

fn debian_kernel() -> Option<PathBuf> {
    let dir = interop_dir().join("root/boot");
    let found = std::fs::read_dir(&dir).ok().and_then(|d| {
        d.filter_map(|e| e.ok().map(|e| e.path()))
            .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("vmlinuz-")))
    });
    if found.is_none() {
        assert!(
            boot_sim::InteropPolicy::from_env() != boot_sim::InteropPolicy::Require,
            "no Debian kernel under {}: run scripts/interop-setup.sh",
            dir.display()
        );
        eprintln!("SKIPPED: no Debian kernel under {}", dir.display());
    }
    found
}

#[test]
fn debian_cloud_kernel_boots_pv_with_segments_where_the_notes_say() {
    let (Some(mke2fs), Some(lz4)) = (interop_tool("mke2fs"), interop_tool("lz4")) else { return };
    let Some(vmlinuz) = debian_kernel() else { return };
    let name = vmlinuz.file_name().unwrap().to_string_lossy().into_owned();
    let dir = std::env::temp_dir().join(format!("boot-sim-pv-{}", std::process::id()));
    let root = dir.join("root");
    std::fs::create_dir_all(root.join("boot/grub")).unwrap();
    std::fs::copy(&vmlinuz, root.join("boot").join(&name)).unwrap();
    std::fs::write(root.join("boot/initrd.img"), vec![0x5a; 100_000]).unwrap();
    std::fs::write(
        root.join("boot/grub/grub.conf"),
        format!("default=0\ntimeout=1\nhiddenmenu\ntitle Debian 12\nroot (hd0)\nkernel /boot/{name} root=/dev/xvda ro console=hvc0\ninitrd /boot/initrd.img\n"),
    )
    .unwrap();
    std::os::unix::fs::symlink("./grub.conf", root.join("boot/grub/menu.lst")).unwrap();
    let img = dir.join("debian.img");
    std::fs::File::create(&img).unwrap().set_len(48 << 20).unwrap();
    let st = Command::new(mke2fs).args(["-q", "-F", "-t", "ext4", "-d"]).arg(&root).arg(&img).status().unwrap();
    assert!(st.success());

    let cfg = BuildConfig::default();
    let image = std::sync::Arc::new(disk_image::RawImage::open(&img).unwrap());
    let (run, mem) = pv::run(image, &PvOptions { memory: 1 << 30, ..PvOptions::default() }).unwrap();
    let PvOutcome::Booted(b) = run.outcome else { panic!("Debian's kernel did not boot PV: {:?}", run.outcome) };
    assert_eq!(b.start_info.cmd_line, "root=/dev/xvda ro console=hvc0");
    assert_eq!(b.kernel.pv.as_ref().unwrap().guest_type, Some("xen-3.0-x86_64"));

    // The C tool's decompressed ELF, placed by its program headers, must be
    // what guest memory holds at every PT_LOAD (checked at the ends and at
    // the entry point, reached through the page tables).
    let k = std::fs::read(&vmlinuz).unwrap();
    let p = b.kernel.payload.as_ref().unwrap();
    let payload = &k[p.location.offset as usize..(p.location.offset + p.location.length - 4) as usize];
    let mut child = Command::new(lz4)
        .args(["-dc"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let payload = payload.to_vec();
    let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &payload));
    let elf = child.wait_with_output().unwrap().stdout;
    let _ = writer.join();
    let segs = &b.kernel.elf.as_ref().unwrap().load_segments;
    for s in segs {
        let phys = s.paddr; // PADDR_OFFSET is 0 for this kernel
        for off in [0, s.filesz.saturating_sub(64)] {
            let want = &elf[(s.offset + off) as usize..(s.offset + off + 64).min(s.offset + s.filesz) as usize];
            assert_eq!(
                mem.slice(GuestPhysAddr(phys + off), want.len() as u64).unwrap(),
                want,
                "segment at paddr {:#x}+{off:#x}",
                s.paddr
            );
        }
    }
    // And every byte of every segment: the LZ4 decoder leaves zero runs
    // unwritten in fresh guest pages, which must read as the ELF's zeros.
    for s in segs {
        let want = &elf[s.offset as usize..(s.offset + s.filesz) as usize];
        let got = mem.slice(GuestPhysAddr(s.paddr), s.filesz).unwrap();
        assert!(got == want, "segment at paddr {:#x} differs from lz4 -dc's ELF", s.paddr);
    }
    // PV-GRUB's console: the hidden menu's countdown, the entry echoed.
    let console = run.console.as_deref().unwrap();
    assert!(console.contains("\rPress `ESC' to enter the menu... 0   "), "{console:?}");
    assert!(
        console.contains(&format!(
            "  Booting 'Debian 12'\n\nroot (hd0)\n Filesystem type is ext2fs, using whole disk\n\
             kernel /boot/{name} root=/dev/xvda ro console=hvc0\ninitrd /boot/initrd.img\n\n"
        )),
        "{console:?}"
    );
    let entry_phys = pv::virt_to_phys(&mem, &b.vcpu, &cfg, b.vcpu.rip).unwrap();
    let text = segs.iter().find(|s| entry_phys.0 >= s.paddr && entry_phys.0 < s.paddr + s.filesz).unwrap();
    let off = (text.offset + entry_phys.0 - text.paddr) as usize;
    assert_eq!(mem.slice(entry_phys, 32).unwrap(), &elf[off..off + 32], "bytes at the entry point");
    // pygrub (the binary) picks the same kernel, ramdisk and args.
    if let Some(pygrub) = boot_sim::pygrub() {
        let outdir = dir.join("pygrub-out");
        std::fs::create_dir_all(&outdir).unwrap();
        let out = Command::new(pygrub)
            .args(["-q", "--output-format=simple"])
            .arg(format!("--output-directory={}", outdir.display()))
            .arg(&img)
            .output()
            .unwrap();
        assert!(out.status.success(), "pygrub: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        let field = |k: &str| text.lines().find_map(|l| l.strip_prefix(&format!("{k} "))).map(str::to_string);
        assert_eq!(std::fs::read(field("kernel").unwrap()).unwrap(), k, "pygrub extracted the same kernel");
        assert_eq!(std::fs::read(field("ramdisk").unwrap()).unwrap(), vec![0x5a; 100_000], "and the same initrd");
        assert_eq!(field("args").unwrap().trim(), b.choice.cmdline, "and the same command line");
        assert_eq!(b.choice.kernel.resolved_path, format!("/boot/{name}"));
    }
    let _ = std::fs::remove_dir_all(dir);
}
