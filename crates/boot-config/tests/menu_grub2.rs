//! GRUB 2 `grub.cfg`, `grubenv` and BLS: generated configs modelled on
//! what distributions ship (written by us, under `tests/data/grub2/` and
//! `tests/data/bls/`), evaluated the way GRUB evaluates them, with the
//! disks given as a `MemContext`. Where pygrub (`GrubConf.Grub2ConfigFile`)
//! reads the same file differently, the test says what pygrub does.

use std::path::PathBuf;

use boot_config::bls;
use boot_config::grub2::{self, Evaluation, MemContext};
use boot_config::grubenv::{self, GrubEnv};
use boot_config::{DefaultSpec, EntryKind, Menu, MenuEntry, MenuFormat};
use proptest::prelude::*;

fn data(rel: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data").join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn env_block(vars: &[(&str, &str)]) -> Vec<u8> {
    let env = GrubEnv { vars: vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(), diagnostics: vec![] };
    env.to_block(grubenv::BLOCK_SIZE).expect("fits")
}

/// One expected entry: title, id, kernel as written, args, initrds, root.
struct Want<'a> {
    title: &'a str,
    id: Option<&'a str>,
    kernel: &'a str,
    args: &'a str,
    initrd: &'a [&'a str],
    root: Option<&'a str>,
}

fn check(menu: &Menu, want: &[Want<'_>]) {
    let got: Vec<_> = menu.entries.iter().map(|e| e.title.as_str()).collect();
    let titles: Vec<_> = want.iter().map(|w| w.title).collect();
    assert_eq!(got, titles, "titles; diagnostics: {:#?}", menu.diagnostics);
    for (e, w) in menu.entries.iter().zip(want) {
        assert_eq!(e.id.as_deref(), w.id, "id of {}", w.title);
        assert_eq!(e.kernel.as_ref().map(|k| k.to_string()).as_deref(), Some(w.kernel), "kernel of {}", w.title);
        assert_eq!(e.args, w.args, "args of {}", w.title);
        let initrd: Vec<String> = e.initrd.iter().map(|i| i.to_string()).collect();
        assert_eq!(initrd, w.initrd, "initrd of {}", w.title);
        assert_eq!(e.root.as_deref(), w.root, "root of {}", w.title);
    }
}

fn messages(menu: &Menu) -> Vec<String> {
    menu.diagnostics.iter().map(|d| format!("{}: {}", d.line, d.message)).collect()
}

// ---------------------------------------------------------------- Debian

const DEB12_UUID: &str = "4d2b5b2b-0c1d-4b8e-9a5e-6f1c1f3e2a10";
const DEB12_ARGS: &str =
    "root=PARTUUID=8a3b6e3c-01 ro console=tty0 console=ttyS0,115200 earlyprintk=ttyS0,115200 consoleblank=0";

fn debian12_disk(env: &[(&str, &str)]) -> MemContext {
    MemContext::new()
        .device("hd0", None, None)
        .device("hd0,gpt1", Some(DEB12_UUID), None)
        .device("hd0,gpt15", Some("5A3C-1F2E"), None)
        .file("hd0,gpt1", "/boot/grub/grubenv", env_block(env))
        .var("root", "hd0,gpt1")
        .var("prefix", "(hd0,gpt1)/boot/grub")
}

fn debian12(env: &[(&str, &str)]) -> Evaluation {
    grub2::evaluate(&data("grub2/debian12-cloud.cfg"), "/boot/grub/grub.cfg", &debian12_disk(env))
}

#[test]
fn debian12_cloud_flattens_the_advanced_submenu() {
    let ev = debian12(&[]);
    let m = &ev.menu;
    assert_eq!(m.format, MenuFormat::Grub2);
    let simple = format!("gnulinux-simple-{DEB12_UUID}");
    let adv18 = format!("gnulinux-6.1.0-18-cloud-amd64-advanced-{DEB12_UUID}");
    let adv17 = format!("gnulinux-6.1.0-17-cloud-amd64-advanced-{DEB12_UUID}");
    check(
        m,
        &[
            Want {
                title: "Debian GNU/Linux",
                id: Some(&simple),
                kernel: "/boot/vmlinuz-6.1.0-18-cloud-amd64",
                args: DEB12_ARGS,
                initrd: &["/boot/initrd.img-6.1.0-18-cloud-amd64"],
                root: Some("(hd0,gpt1)"),
            },
            Want {
                title: "Debian GNU/Linux, with Linux 6.1.0-18-cloud-amd64",
                id: Some(&adv18),
                kernel: "/boot/vmlinuz-6.1.0-18-cloud-amd64",
                args: DEB12_ARGS,
                initrd: &["/boot/initrd.img-6.1.0-18-cloud-amd64"],
                root: Some("(hd0,gpt1)"),
            },
            Want {
                title: "Debian GNU/Linux, with Linux 6.1.0-17-cloud-amd64",
                id: Some(&adv17),
                kernel: "/boot/vmlinuz-6.1.0-17-cloud-amd64",
                args: DEB12_ARGS,
                initrd: &["/boot/initrd.img-6.1.0-17-cloud-amd64"],
                root: Some("(hd0,gpt1)"),
            },
        ],
    );
    assert_eq!(m.entries[1].submenus, ["Advanced options for Debian GNU/Linux"]);
    assert_eq!(m.entries[0].position, [0]);
    assert_eq!(m.entries[2].position, [1, 1]);
    assert_eq!(m.submenus.len(), 1);
    assert_eq!(m.submenus[0].id.as_deref(), Some(format!("gnulinux-advanced-{DEB12_UUID}").as_str()));
    assert_eq!(m.default, DefaultSpec::Index(0));
    assert_eq!(m.timeout, Some(0));
    assert!(!m.hidden_menu, "timeout_style=menu");
    assert_eq!(grub2::default_entry(m), Some(0));
    // The font file is not on the disk: `loadfont` fails, gfxterm is not set up.
    assert!(ev.env.iter().any(|(k, v)| k == "have_grubenv" && v == "true"));
    // pygrub: the same three kernels, with the submenu's entries as
    // top-level images 1 and 2, `set root='hd0,gpt1'` read literally and
    // `search` ignored — plus a fourth image, "UEFI Firmware Settings",
    // because it does not see the `if [ "$grub_platform" = "efi" ]` around
    // it (GRUB on BIOS never defines that entry).
    assert_eq!(
        grub2::boot_cmdline(&m.entries[0]).unwrap(),
        format!("BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-cloud-amd64 {DEB12_ARGS}")
    );
}

#[test]
fn debian12_next_entry_picks_a_submenu_entry_once() {
    // `grub-reboot 'gnulinux-advanced-…>gnulinux-6.1.0-17-…'` writes
    // next_entry; 00_header moves it to default and clears it with save_env.
    let path = format!("gnulinux-advanced-{DEB12_UUID}>gnulinux-6.1.0-17-cloud-amd64-advanced-{DEB12_UUID}");
    let ev = debian12(&[("next_entry", &path)]);
    assert_eq!(ev.menu.default, DefaultSpec::Name(path.clone()));
    assert_eq!(grub2::resolve_default(&ev.menu, &path), Some(2));
    assert_eq!(grub2::default_entry(&ev.menu), Some(2));
    assert!(ev.saved_env.contains(&"next_entry".to_string()));
    assert!(ev.env.iter().any(|(k, v)| k == "boot_once" && v == "true"));
    // pygrub: reads `set default="${next_entry}"` as the literal text and
    // falls back to entry 0.

    // Numeric paths work too (upstream GRUB): `1>1` is the second entry of
    // the submenu at position 1.
    let ev = debian12(&[("next_entry", "1>1")]);
    assert_eq!(grub2::default_entry(&ev.menu), Some(2));
    // Titles with `>` paths as well.
    let by_title = "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-18-cloud-amd64";
    assert_eq!(grub2::resolve_default(&ev.menu, by_title), Some(1));
}

#[test]
fn debian11_saved_entry_from_grubenv() {
    let uuid = "0e9d8b1f-5a55-4d0a-8d23-7b5a8c0f7c11";
    let saved = format!("gnulinux-advanced-{uuid}>gnulinux-5.10.0-22-cloud-amd64-advanced-{uuid}");
    let disk = MemContext::new()
        .device("hd0,msdos1", Some(uuid), None)
        .file("hd0,msdos1", "/boot/grub/grubenv", env_block(&[("saved_entry", &saved)]))
        .var("root", "hd0,msdos1")
        .var("prefix", "(hd0,msdos1)/boot/grub");
    let ev = grub2::evaluate(&data("grub2/debian11-saved.cfg"), "/boot/grub/grub.cfg", &disk);
    let m = &ev.menu;
    let args = format!("root=UUID={uuid} ro console=tty0 console=ttyS0,115200 earlyprintk=ttyS0,115200 consoleblank=0");
    let (s, a23, a22) = (
        format!("gnulinux-simple-{uuid}"),
        format!("gnulinux-5.10.0-23-cloud-amd64-advanced-{uuid}"),
        format!("gnulinux-5.10.0-22-cloud-amd64-advanced-{uuid}"),
    );
    check(
        m,
        &[
            Want {
                title: "Debian GNU/Linux",
                id: Some(&s),
                kernel: "/boot/vmlinuz-5.10.0-23-cloud-amd64",
                args: &args,
                initrd: &["/boot/initrd.img-5.10.0-23-cloud-amd64"],
                root: Some("(hd0,msdos1)"),
            },
            Want {
                title: "Debian GNU/Linux, with Linux 5.10.0-23-cloud-amd64",
                id: Some(&a23),
                kernel: "/boot/vmlinuz-5.10.0-23-cloud-amd64",
                args: &args,
                initrd: &["/boot/initrd.img-5.10.0-23-cloud-amd64"],
                root: Some("(hd0,msdos1)"),
            },
            Want {
                title: "Debian GNU/Linux, with Linux 5.10.0-22-cloud-amd64",
                id: Some(&a22),
                kernel: "/boot/vmlinuz-5.10.0-22-cloud-amd64",
                args: &args,
                initrd: &["/boot/initrd.img-5.10.0-22-cloud-amd64"],
                root: Some("(hd0,msdos1)"),
            },
        ],
    );
    assert!(m.entries.iter().all(|e| e.savedefault), "every entry calls savedefault");
    assert_eq!(m.default, DefaultSpec::Name(saved));
    assert_eq!(grub2::default_entry(m), Some(2));
    assert_eq!(m.timeout, Some(5));
    // pygrub: `set default="${saved_entry}"` is replaced by 0 with a warning
    // ("grub2's saved_entry/next_entry not supported"): it boots 5.10.0-23.
}

// ---------------------------------------------------------------- Ubuntu

const UB22_UUID: &str = "2b4a8c6e-91d2-4f8b-a0e4-3d6f5c2b1a90";

fn ubuntu2204(env: &[(&str, &str)]) -> Evaluation {
    let disk = MemContext::new()
        .device("hd0,gpt1", Some(UB22_UUID), Some("cloudimg-rootfs"))
        .device("hd0,gpt15", Some("B2A1-4C3D"), Some("UEFI"))
        .file("hd0,gpt1", "/boot/grub/grubenv", env_block(env))
        .var("root", "hd0,gpt1")
        .var("prefix", "(hd0,gpt1)/boot/grub");
    grub2::evaluate(&data("grub2/ubuntu2204-cloud.cfg"), "/boot/grub/grub.cfg", &disk)
}

#[test]
fn ubuntu2204_force_partuuid_boots_without_initrd_first() {
    let ev = ubuntu2204(&[]);
    let m = &ev.menu;
    let args = "root=PARTUUID=5c0d3f1e-0a7b-4e2d-9c61-8f2e4d7a3b15 ro console=tty1 console=ttyS0 nvme_core.io_timeout=4294967295 panic=-1 vt.handoff=7";
    let simple = format!("gnulinux-simple-{UB22_UUID}");
    let adv = format!("gnulinux-6.2.0-1017-aws-advanced-{UB22_UUID}");
    let rec = format!("gnulinux-6.2.0-1017-aws-recovery-{UB22_UUID}");
    check(
        m,
        &[
            Want {
                title: "Ubuntu",
                id: Some(&simple),
                kernel: "/boot/vmlinuz-6.2.0-1017-aws",
                args,
                initrd: &[],
                root: Some("(hd0,gpt1)"),
            },
            Want {
                title: "Ubuntu, with Linux 6.2.0-1017-aws",
                id: Some(&adv),
                kernel: "/boot/vmlinuz-6.2.0-1017-aws",
                args,
                initrd: &["/boot/initrd.img-6.2.0-1017-aws"],
                root: Some("(hd0,gpt1)"),
            },
            Want {
                title: "Ubuntu, with Linux 6.2.0-1017-aws (recovery mode)",
                id: Some(&rec),
                kernel: "/boot/vmlinuz-6.2.0-1017-aws",
                args: "root=PARTUUID=5c0d3f1e-0a7b-4e2d-9c61-8f2e4d7a3b15 ro recovery nomodeset dis_ucode_ldr console=tty1 console=ttyS0 nvme_core.io_timeout=4294967295",
                initrd: &["/boot/initrd.img-6.2.0-1017-aws"],
                root: Some("(hd0,gpt1)"),
            },
        ],
    );
    // `gfxmode keep` (a function of the config) set vt_handoff.
    assert_eq!(m.timeout, Some(0));
    assert!(m.hidden_menu, "timeout_style=hidden with timeout 0");
    assert_eq!(grub2::default_entry(m), Some(0));
    // pygrub: the `if [ "${initrdfail}" = 1 ]` block is not understood: it
    // takes both `linux` lines (the last wins) and the `initrd` inside the
    // `if`, so it boots with an initrd and a literal `$vt_handoff` in the
    // arguments (checked with GrubConf.Grub2ConfigFile).
}

#[test]
fn ubuntu2204_after_a_failed_initrdless_boot_uses_the_initrd() {
    let ev = ubuntu2204(&[("initrdfail", "1")]);
    let e = &ev.menu.entries[0];
    assert_eq!(e.initrd.iter().map(|i| i.to_string()).collect::<Vec<_>>(), ["/boot/initrd.img-6.2.0-1017-aws"]);
    // initrdfail=2 is the next state; GRUB saves it.
    assert!(ev.saved_env.contains(&"prev_entry".to_string()));
}

#[test]
fn ubuntu2004_recordfail_shows_the_menu_for_30_seconds() {
    let uuid = "9c2d1f0e-6a3b-4c5d-8e7f-0a1b2c3d4e5f";
    let disk = |env: &[(&str, &str)]| {
        MemContext::new()
            .device("hd0,msdos1", Some(uuid), Some("cloudimg-rootfs"))
            .file("hd0,msdos1", "/boot/grub/grubenv", env_block(env))
            .var("root", "hd0,msdos1")
            .var("prefix", "(hd0,msdos1)/boot/grub")
    };
    let cfg = data("grub2/ubuntu2004-cloud.cfg");
    let ok = grub2::evaluate(&cfg, "/boot/grub/grub.cfg", &disk(&[])).menu;
    assert_eq!(ok.timeout, Some(0));
    assert!(ok.hidden_menu);
    let id = format!("gnulinux-simple-{uuid}");
    let base = "root=LABEL=cloudimg-rootfs ro console=tty1 console=ttyS0 nvme_core.io_timeout=4294967295";
    let with_handoff = format!("{base} vt.handoff=7");
    check(
        &ok,
        &[Want {
            title: "Ubuntu",
            id: Some(&id),
            kernel: "/boot/vmlinuz-5.15.0-1051-aws",
            args: &with_handoff,
            initrd: &["/boot/initrd.img-5.15.0-1051-aws"],
            root: Some("(hd0,msdos1)"),
        }],
    );
    let failed = grub2::evaluate(&cfg, "/boot/grub/grub.cfg", &disk(&[("recordfail", "1")])).menu;
    assert_eq!(failed.timeout, Some(30));
    assert!(!failed.hidden_menu);
    // linux_gfx_mode=text after a failure: no vt.handoff.
    assert_eq!(failed.entries[0].args, base);
    // pygrub: `set timeout=30` and `set timeout=0` are both plain lines to
    // it; the last one read (0) wins whatever recordfail says.
}

// ---------------------------------------------------------------- CentOS 7

#[test]
fn centos7_saved_entry_by_title_and_linux16() {
    let uuid = "6cd50e51-cfc6-40b9-9ec5-f32fa2e4ff02";
    let saved = "CentOS Linux (3.10.0-1160.el7.x86_64) 7 (Core)";
    let disk = MemContext::new()
        .device("hd0,msdos1", Some(uuid), None)
        .file("hd0,msdos1", "/boot/grub2/grubenv", env_block(&[("saved_entry", saved)]))
        .var("root", "hd0,msdos1")
        .var("prefix", "(hd0,msdos1)/boot/grub2");
    let ev = grub2::evaluate(&data("grub2/centos7.cfg"), "/boot/grub2/grub.cfg", &disk);
    let m = &ev.menu;
    let id = format!("gnulinux-3.10.0-1160.el7.x86_64-advanced-{uuid}");
    let rid = format!("gnulinux-0-rescue-cc2c86fe566741e6a2ff6d399c5d5daa-advanced-{uuid}");
    let args = |extra: &str| {
        format!("root=UUID={uuid} ro console=tty0 console=ttyS0,115200n8 crashkernel=auto console=ttyS0,115200{extra}")
    };
    let (a108, a1160, ar) =
        (args(" LANG=en_US.UTF-8 virtio_net.napi_tx=1"), args(" LANG=en_US.UTF-8 virtio_net.napi_tx=1"), args(""));
    check(
        m,
        &[
            Want {
                title: "CentOS Linux (3.10.0-1160.108.1.el7.x86_64) 7 (Core)",
                id: Some(&id),
                kernel: "/boot/vmlinuz-3.10.0-1160.108.1.el7.x86_64",
                args: &a108,
                initrd: &["/boot/initramfs-3.10.0-1160.108.1.el7.x86_64.img"],
                root: Some("(hd0,msdos1)"),
            },
            Want {
                title: "CentOS Linux (3.10.0-1160.el7.x86_64) 7 (Core)",
                id: Some(&id),
                kernel: "/boot/vmlinuz-3.10.0-1160.el7.x86_64",
                args: &a1160,
                initrd: &["/boot/initramfs-3.10.0-1160.el7.x86_64.img"],
                root: Some("(hd0,msdos1)"),
            },
            Want {
                title: "CentOS Linux (0-rescue-cc2c86fe566741e6a2ff6d399c5d5daa) 7 (Core)",
                id: Some(&rid),
                kernel: "/boot/vmlinuz-0-rescue-cc2c86fe566741e6a2ff6d399c5d5daa",
                args: &ar,
                initrd: &["/boot/initramfs-0-rescue-cc2c86fe566741e6a2ff6d399c5d5daa.img"],
                root: Some("(hd0,msdos1)"),
            },
        ],
    );
    assert!(m.entries.iter().all(|e| e.kind == EntryKind::Linux));
    // The title-correction line compares "x$default" with the bare title,
    // so it never fires: default stays the title and matches entry 1.
    assert_eq!(m.default, DefaultSpec::Name(saved.into()));
    assert_eq!(grub2::default_entry(m), Some(1));
    assert_eq!(m.timeout, Some(1));
    assert!(!m.password, "no user.cfg: no superusers");
    // Two entries share one id (grub2-mkconfig uses the oldest kernel's
    // version for all): by id GRUB finds the first.
    assert_eq!(grub2::resolve_default(m, &id), Some(0));
    // pygrub: cannot read this file at all — `set tuned_params="virtio_net.napi_tx=1"`
    // has two `=` and grub2_handle_set raises "too many values to unpack";
    // without that line it would read default `${saved_entry}` as 0 and
    // boot 1160.108.1.
}

// ---------------------------------------------------------------- BLS

fn bls_files(dir: &str) -> Vec<(String, Vec<u8>)> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/bls").join(dir);
    let mut v: Vec<_> = std::fs::read_dir(&p)
        .unwrap()
        .map(|e| e.unwrap().path())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
        .collect();
    v.sort();
    v
}

fn with_bls(mut disk: MemContext, dev: &str, dir: &str, snippets: &str) -> MemContext {
    for (name, bytes) in bls_files(snippets) {
        if name.ends_with(".conf") {
            disk = disk.file(dev, &format!("{dir}/{name}"), bytes);
        }
    }
    disk
}

const RHEL_MID: &str = "ec2d2b1c7f7a4d2a9e3b3c5f1a2b4c6d";
const RHEL_OPTS: &str = "root=UUID=a7d1e2c3-4b5f-4a69-8e70-91b2c3d4e5f6 ro console=ttyS0,115200n8 console=tty0 net.ifnames=0 rd.blacklist=nouveau nvme_core.io_timeout=4294967295 crashkernel=auto";

#[test]
fn rhel8_blscfg_with_kernelopts_from_grubenv() {
    let disk = MemContext::new()
        .device("hd0,msdos1", Some("a7d1e2c3-4b5f-4a69-8e70-91b2c3d4e5f6"), None)
        .file("hd0,msdos1", "/boot/grub2/grubenv", data("bls/rhel8/grubenv"))
        .var("root", "hd0,msdos1")
        .var("prefix", "(hd0,msdos1)/boot/grub2");
    let disk = with_bls(disk, "hd0,msdos1", "/boot/loader/entries", "rhel8");
    let ev = grub2::evaluate(&data("grub2/rhel8-bls.cfg"), "/boot/grub2/grub.cfg", &disk);
    let m = &ev.menu;
    let (n477, n372, rescue) = (
        format!("{RHEL_MID}-4.18.0-477.10.1.el8_8.x86_64"),
        format!("{RHEL_MID}-4.18.0-372.9.1.el8.x86_64"),
        format!("{RHEL_MID}-0-rescue"),
    );
    check(
        m,
        &[
            Want {
                title: "Red Hat Enterprise Linux (4.18.0-477.10.1.el8_8.x86_64) 8.8 (Ootpa)",
                id: Some(&n477),
                kernel: "(hd0,msdos1)/boot/vmlinuz-4.18.0-477.10.1.el8_8.x86_64",
                args: RHEL_OPTS,
                initrd: &["(hd0,msdos1)/boot/initramfs-4.18.0-477.10.1.el8_8.x86_64.img"],
                root: Some("(hd0,msdos1)"),
            },
            Want {
                title: "Red Hat Enterprise Linux (4.18.0-372.9.1.el8.x86_64) 8.6 (Ootpa)",
                id: Some(&n372),
                kernel: "(hd0,msdos1)/boot/vmlinuz-4.18.0-372.9.1.el8.x86_64",
                args: RHEL_OPTS,
                initrd: &["(hd0,msdos1)/boot/initramfs-4.18.0-372.9.1.el8.x86_64.img"],
                root: Some("(hd0,msdos1)"),
            },
            Want {
                title: "Red Hat Enterprise Linux (0-rescue-ec2d2b1c7f7a4d2a9e3b3c5f1a2b4c6d) 8.6 (Ootpa)",
                id: Some(&rescue),
                kernel: "(hd0,msdos1)/boot/vmlinuz-0-rescue-ec2d2b1c7f7a4d2a9e3b3c5f1a2b4c6d",
                args: RHEL_OPTS,
                initrd: &["(hd0,msdos1)/boot/initramfs-0-rescue-ec2d2b1c7f7a4d2a9e3b3c5f1a2b4c6d.img"],
                root: Some("(hd0,msdos1)"),
            },
        ],
    );
    // saved_entry names the older kernel by BLS id.
    assert_eq!(m.default, DefaultSpec::Name(n372.clone()));
    assert_eq!(grub2::default_entry(m), Some(1));
    assert_eq!(m.timeout, Some(0));
    assert_eq!(
        grub2::boot_cmdline(&m.entries[1]).unwrap(),
        format!("BOOT_IMAGE=(hd0,msdos1)/boot/vmlinuz-4.18.0-372.9.1.el8.x86_64 {RHEL_OPTS}")
    );
    // boot_success is reset and saved by 10_reset_boot_success.
    assert!(ev.saved_env.contains(&"boot_success".to_string()));
    // pygrub: raises on `set kernelopts="root=UUID=… "` (two `=`, "too
    // many values to unpack"); even without it there is no `menuentry`,
    // so no image: it has no BLS support.
}

#[test]
fn rhel8_without_grubenv_uses_the_fallback_kernelopts() {
    let disk = MemContext::new()
        .device("hd0,msdos1", Some("a7d1e2c3-4b5f-4a69-8e70-91b2c3d4e5f6"), None)
        .var("root", "hd0,msdos1")
        .var("prefix", "(hd0,msdos1)/boot/grub2");
    let disk = with_bls(disk, "hd0,msdos1", "/boot/loader/entries", "rhel8");
    let m = grub2::evaluate(&data("grub2/rhel8-bls.cfg"), "/boot/grub2/grub.cfg", &disk).menu;
    // The `set kernelopts="… crashkernel=auto "` fallback (trailing blank).
    assert_eq!(m.entries[0].args, RHEL_OPTS);
    // No saved_entry: default is the empty string, GRUB boots entry 0.
    assert_eq!(m.default, DefaultSpec::Name(String::new()));
    assert_eq!(grub2::resolve_default(&m, ""), None);
    assert_eq!(grub2::default_entry(&m), Some(0));
}

#[test]
fn fedora39_separate_boot_partition_and_a_truncated_snippet() {
    let disk = MemContext::new()
        .device("hd0,gpt2", Some("3e1f5a7b-9c2d-4e6f-8a0b-1c3d5e7f9a2b"), Some("boot"))
        .device("hd0,gpt3", Some("7a9b1c3d-5e7f-4a1b-9c3d-5e7f9a1b3c5d"), Some("fedora"))
        .file(
            "hd0,gpt2",
            "/grub2/grubenv",
            env_block(&[
                ("saved_entry", "4f0c6a3d2b1e4c5f8a7b9d0e1f2a3b4c-6.5.12-300.fc39.x86_64"),
                ("boot_success", "1"),
            ]),
        )
        .var("root", "hd0,gpt2")
        .var("prefix", "(hd0,gpt2)/grub2");
    let disk = with_bls(disk, "hd0,gpt2", "/loader/entries", "fedora39");
    let ev = grub2::evaluate(&data("grub2/fedora39-bls.cfg"), "/grub2/grub.cfg", &disk);
    let m = &ev.menu;
    let opts = "root=UUID=7a9b1c3d-5e7f-4a1b-9c3d-5e7f9a1b3c5d ro rootflags=subvol=root no_timer_check net.ifnames=0 console=tty1 console=ttyS0,115200n8";
    let mid = "4f0c6a3d2b1e4c5f8a7b9d0e1f2a3b4c";
    let (i12, idbg, i6) = (
        format!("{mid}-6.5.12-300.fc39.x86_64"),
        format!("{mid}-6.5.12-300.fc39.x86_64~debug"),
        format!("{mid}-6.5.6-300.fc39.x86_64"),
    );
    check(
        m,
        &[
            Want {
                title: "Fedora Linux (6.5.12-300.fc39.x86_64) 39 (Cloud Edition)",
                id: Some(&i12),
                kernel: "(hd0,gpt2)/vmlinuz-6.5.12-300.fc39.x86_64",
                args: opts,
                initrd: &["(hd0,gpt2)/initramfs-6.5.12-300.fc39.x86_64.img"],
                root: Some("(hd0,gpt2)"),
            },
            // `~` sorts before the end: the debug snippet is older. Its blank
            // line ends blscfg's reading, so its `options` is never seen.
            Want {
                title: "Fedora Linux (6.5.12-300.fc39.x86_64) 39 (Cloud Edition) debug",
                id: Some(&idbg),
                kernel: "(hd0,gpt2)/vmlinuz-6.5.12-300.fc39.x86_64",
                args: "",
                initrd: &[],
                root: Some("(hd0,gpt2)"),
            },
            Want {
                title: "Fedora Linux (6.5.6-300.fc39.x86_64) 39 (Cloud Edition)",
                id: Some(&i6),
                kernel: "(hd0,gpt2)/vmlinuz-6.5.6-300.fc39.x86_64",
                args: opts,
                initrd: &["(hd0,gpt2)/initramfs-6.5.6-300.fc39.x86_64.img"],
                root: Some("(hd0,gpt2)"),
            },
        ],
    );
    assert!(messages(m).iter().any(|d| d.contains("~debug.conf line 4: empty line")), "{:#?}", messages(m));
    assert_eq!(grub2::default_entry(m), Some(0));
    assert_eq!(m.timeout, Some(5));
}

#[test]
fn al2023_literal_options_and_saved_older_kernel() {
    let mid = "ec2a8f0e4a2d4f5e9b6c7d8e9f0a1b2c";
    let old = format!("{mid}-6.1.61-85.141.amzn2023.x86_64");
    let new = format!("{mid}-6.1.72-96.166.amzn2023.x86_64");
    let disk = MemContext::new()
        .device("hd0,gpt1", Some("f2a9c1e4-6b3d-4f8a-9c0e-2d4b6f8a0c1e"), Some("/"))
        .device("hd0,gpt128", None, None)
        .file("hd0,gpt1", "/boot/grub2/grubenv", env_block(&[("saved_entry", &old)]))
        .var("root", "hd0,gpt1")
        .var("prefix", "(hd0,gpt1)/boot/grub2");
    let disk = with_bls(disk, "hd0,gpt1", "/boot/loader/entries", "al2023");
    let m = grub2::evaluate(&data("grub2/al2023-bls.cfg"), "/boot/grub2/grub.cfg", &disk).menu;
    let opts = "root=UUID=f2a9c1e4-6b3d-4f8a-9c0e-2d4b6f8a0c1e ro console=tty0 console=ttyS0,115200n8 nvme_core.io_timeout=4294967295 rd.emergency=poweroff rd.shell=0 selinux=1 security=selinux quiet";
    check(
        &m,
        &[
            Want {
                title: "Amazon Linux (6.1.72-96.166.amzn2023.x86_64) 2023",
                id: Some(&new),
                kernel: "(hd0,gpt1)/boot/vmlinuz-6.1.72-96.166.amzn2023.x86_64",
                args: opts,
                initrd: &["(hd0,gpt1)/boot/initramfs-6.1.72-96.166.amzn2023.x86_64.img"],
                root: Some("(hd0,gpt1)"),
            },
            Want {
                title: "Amazon Linux (6.1.61-85.141.amzn2023.x86_64) 2023",
                id: Some(&old),
                kernel: "(hd0,gpt1)/boot/vmlinuz-6.1.61-85.141.amzn2023.x86_64",
                args: opts,
                initrd: &["(hd0,gpt1)/boot/initramfs-6.1.61-85.141.amzn2023.x86_64.img"],
                root: Some("(hd0,gpt1)"),
            },
        ],
    );
    assert_eq!(grub2::default_entry(&m), Some(1));
}

#[test]
fn bls_snippets_alone_make_a_bls_menu() {
    let entries: Vec<_> = bls_files("rhel8")
        .into_iter()
        .filter(|(n, _)| n.ends_with(".conf"))
        .map(|(n, b)| bls::parse_entry(n.trim_end_matches(".conf"), &b))
        .collect();
    let env = grubenv::parse(&data("bls/rhel8/grubenv")).unwrap();
    let mut vars = env.vars.clone();
    vars.push(("root".into(), "hd0,msdos1".into()));
    let m = grub2::bls_menu(entries, &vars);
    assert_eq!(m.format, MenuFormat::Bls);
    assert_eq!(m.entries.len(), 3);
    assert_eq!(m.entries[2].id.as_deref(), Some(format!("{RHEL_MID}-0-rescue").as_str()));
    assert_eq!(m.entries[0].args, RHEL_OPTS);
}

// ---------------------------------------------------------------- others

#[test]
fn minimal_hand_written_config() {
    let m = grub2::parse(&data("grub2/minimal.cfg"));
    check(
        &m,
        &[
            Want {
                title: "Linux A",
                id: None,
                kernel: "/vmlinuz-a",
                args: "root=/dev/xvda1 ro",
                initrd: &["/initrd-a.img"],
                root: None,
            },
            Want {
                title: "Linux B (two initrds)",
                id: Some("linux-b"),
                kernel: "/vmlinuz-b",
                // One argument with a space: GRUB quotes it for Linux, and
                // escapes the double quotes of x="y".
                args: "root=/dev/xvda2 ro \"quiet splash\" x=\\\"y\\\"",
                initrd: &["/microcode.cpio", "/initrd-b.img"],
                root: Some("(hd0,2)"),
            },
        ],
    );
    assert_eq!(m.default, DefaultSpec::Index(1));
    assert_eq!(grub2::default_entry(&m), Some(1));
    assert_eq!(m.timeout, Some(3));
    assert!(m.diagnostics.is_empty(), "{:#?}", m.diagnostics);
    // pygrub: same kernels and default, and the same argument text (it
    // keeps the raw line; GRUB unquotes and then re-quotes it for Linux),
    // but the two initrds become one path "/microcode.cpio /initrd-b.img".
}

#[test]
fn alpine_like_with_serial_console() {
    let uuid = "1a2b3c4d-5e6f-4071-8293-a4b5c6d7e8f9";
    let disk = MemContext::new().device("hd0,msdos1", Some(uuid), None).var("root", "hd0,msdos1");
    let m = grub2::evaluate(&data("grub2/alpine.cfg"), "/boot/grub/grub.cfg", &disk).menu;
    let id = format!("gnulinux-virt-advanced-{uuid}");
    let args = format!("root=UUID={uuid} ro modules=sd-mod,usb-storage,ext4 rootfstype=ext4 console=ttyS0,115200");
    check(
        &m,
        &[Want {
            title: "Alpine Linux v3.19, with Linux virt",
            // `$menuentry_id_option` is never set in this config: the id is a
            // second positional argument and GRUB uses the title as the id.
            id: None,
            kernel: "/boot/vmlinuz-virt",
            args: &args,
            initrd: &["/boot/initramfs-virt"],
            root: Some("(hd0,msdos1)"),
        }],
    );
    assert_eq!(grub2::resolve_default(&m, &id), None);
    assert_eq!(grub2::resolve_default(&m, "Alpine Linux v3.19, with Linux virt"), Some(0));
    assert_eq!(m.timeout, Some(2));
}

#[test]
fn configfile_stub_hands_over_to_the_real_menu() {
    let disk = MemContext::new()
        .device("hd0,gpt1", Some("1111-2222"), None)
        .device("hd0,gpt2", Some("5d3f1b9e-7a2c-4e8d-b0f6-1c3e5a7b9d2f"), None)
        .file("hd0,gpt2", "/boot/grub/grub.cfg", data("grub2/configfile-real.cfg"))
        .var("root", "hd0,gpt1")
        .var("prefix", "(hd0,gpt1)/EFI/debian");
    let ev = grub2::evaluate(&data("grub2/configfile-stub.cfg"), "/EFI/debian/grub.cfg", &disk);
    let m = &ev.menu;
    check(
        m,
        &[
            Want {
                title: "Rescue shell",
                id: Some("rescue"),
                kernel: "/boot/vmlinuz-rescue",
                args: "init=/bin/sh",
                initrd: &[],
                root: Some("(hd0,gpt2)"),
            },
            Want {
                title: "Linux",
                id: Some("gnulinux-simple"),
                kernel: "(hd0,gpt2)/boot/vmlinuz",
                args: "root=/dev/xvda2 ro",
                initrd: &["(hd0,gpt2)/boot/initrd.img"],
                root: Some("(hd0,gpt2)"),
            },
        ],
    );
    assert_eq!(grub2::default_entry(m), Some(1));
    assert_eq!(m.timeout, Some(4));
    assert!(messages(m).iter().any(|d| d.starts_with("4: configfile (hd0,gpt2)/boot/grub/grub.cfg")));
    // Without disks the stub has nothing to hand over to: its own entry.
    let lone = grub2::parse(&data("grub2/configfile-stub.cfg"));
    assert_eq!(lone.entries.len(), 1);
    // `$root` is unknown, so `$prefix` is `()/boot/grub`.
    assert!(messages(&lone).iter().any(|d| d.starts_with("4: configfile: no device in `()/boot/grub/grub.cfg'")));
}

#[test]
fn source_adds_entries_to_the_same_menu() {
    let disk = MemContext::new()
        .device("hd0,msdos1", None, None)
        .file("hd0,msdos1", "/boot/grub/custom.cfg", data("grub2/source-custom.cfg"))
        .var("root", "hd0,msdos1")
        .var("prefix", "(hd0,msdos1)/boot/grub");
    let m = grub2::evaluate(&data("grub2/source-main.cfg"), "/boot/grub/grub.cfg", &disk).menu;
    check(
        &m,
        &[
            Want {
                title: "Stock kernel",
                id: Some("stock"),
                kernel: "/boot/vmlinuz-stock",
                args: "root=/dev/xvda1 ro",
                initrd: &[],
                root: Some("(hd0,msdos1)"),
            },
            Want {
                title: "Custom kernel",
                id: Some("custom-kernel"),
                kernel: "/boot/vmlinuz-custom",
                args: "root=/dev/xvda1 ro console=hvc0",
                initrd: &["/boot/initrd-custom"],
                root: Some("(hd0,msdos1)"),
            },
        ],
    );
    assert_eq!(m.entries[1].line, 3, "line in custom.cfg");
    assert_eq!(grub2::default_entry(&m), Some(1));
    // pygrub: never follows `source`; it offers only "Stock kernel".
}

#[test]
fn lone_file_without_disks_reports_what_it_could_not_evaluate() {
    let m = grub2::parse(&data("grub2/debian12-cloud.cfg"));
    assert_eq!(m.entries.len(), 3);
    // `set root='hd0,gpt1'` stays: search could not run.
    assert_eq!(m.entries[0].root.as_deref(), Some("(hd0,gpt1)"));
    let d = messages(&m);
    assert!(d.iter().any(|x| x.contains("search --fs-uuid 4d2b5b2b") && x.contains("keeps \"hd0,gpt1\"")), "{d:#?}");
    assert!(d.iter().any(|x| x.starts_with("9: test -s /grubenv: variable `root' isn't set")), "{d:#?}");
}

// ---------------------------------------------------------------- semantics

fn run(cfg: &str) -> Menu {
    grub2::parse(cfg.as_bytes())
}

#[test]
fn words_quotes_and_variables_expand_like_grub() {
    let m = run(concat!(
        "set a='x  y'\n",
        "set e=\n",
        "menuentry \"t\" {\n",
        "  linux /k $a \"$a\" ${e} \"\" '$a' a\\ b x${a}z\n",
        "}\n",
    ));
    // Unquoted $a splits, "$a" does not, an empty ${e} vanishes, "" stays.
    // Linux gets `""` as an empty word between two blanks.
    assert_eq!(m.entries[0].args, "x y \"x  y\"  $a \"a b\" xx yz");
}

#[test]
fn if_elif_else_and_test_operators() {
    let m = run(concat!(
        "set v=3\n",
        "if [ $v -gt 5 ]; then set r=big\n",
        "elif [ \"$v\" = 3 -a -n x ]; then set r=three\n",
        "else set r=other; fi\n",
        "if ! [ -z \"$r\" ] && true; then set s=1; fi\n",
        "menuentry \"$r\" { linux /k }\n",
    ));
    // `&&` is lexed but not in GRUB's grammar: that `if` is a syntax error.
    assert_eq!(m.entries[0].title, "three");
    assert!(m.diagnostics.iter().any(|d| d.line == 5 && d.message.contains("syntax error")));
}

#[test]
fn default_resolution_follows_get_entry_number() {
    let m = run(concat!(
        "menuentry 'A' --id a { linux /a }\n",
        "submenu 'S>x' --id s { menuentry 'B' { linux /b }\n menuentry 'C' --id c { linux /c } }\n",
        "menuentry '5 kernels' { linux /d }\n",
    ));
    assert_eq!(m.entries.len(), 4);
    assert_eq!(grub2::resolve_default(&m, "0"), Some(0));
    assert_eq!(grub2::resolve_default(&m, "1>1"), Some(2));
    assert_eq!(grub2::resolve_default(&m, "s>c"), Some(2));
    assert_eq!(grub2::resolve_default(&m, "S>>x>B"), Some(1));
    assert_eq!(grub2::resolve_default(&m, "0x2"), Some(3));
    // A title that starts with a digit is read as a number first.
    assert_eq!(grub2::resolve_default(&m, "5 kernels"), None);
    assert_eq!(grub2::resolve_default(&m, "1"), None, "a submenu without a path inside");
    assert_eq!(grub2::resolve_default(&m, "nope"), None);
    assert_eq!(grub2::resolve_default(&m, "99999999999999999999999"), None);
}

#[test]
fn bounded_recursion_and_nesting() {
    // A function calling itself, deep submenus, a self-including source.
    // GRUB's grammar wants a delimiter before a function's `}`.
    let mut cfg = String::from("function g { g }\nfunction f { f; }\nf\n");
    for _ in 0..40 {
        cfg.push_str("submenu s {\n");
    }
    cfg.push_str("menuentry e { linux /k }\n");
    for _ in 0..40 {
        cfg.push_str("}\n");
    }
    let m = run(&cfg);
    assert!(m.diagnostics.iter().any(|d| d.line == 1 && d.message.contains("syntax error")));
    assert!(m.diagnostics.iter().any(|d| d.message.contains("f: functions nested deeper than 64")));
    assert!(m.diagnostics.iter().any(|d| d.message.contains("submenus nested deeper than 16")));
    let disk = MemContext::new().file("hd0", "/g.cfg", "source /g.cfg\nmenuentry x { linux /k }\n").var("root", "hd0");
    let ev = grub2::evaluate(b"source /g.cfg\n", "/g.cfg", &disk);
    assert!(ev.menu.diagnostics.iter().any(|d| d.message.contains("nested deeper than 8")));
    assert_eq!(ev.menu.entries.len(), 8);
    // Doubling a value in nested loops: capped by value size, then by the
    // expansion budget.
    let doubling = run("set a=xxxxxxxx\nwhile true; do while true; do set a=$a$a; done; done\n");
    assert!(doubling.diagnostics.iter().any(|d| d.message.contains("bytes expanded: evaluation stops")));
    // Recursion through nested ifs is capped by the execution depth.
    let mut deep = String::from("function f {\n");
    for _ in 0..60 {
        deep.push_str("if true; then\n");
    }
    deep.push_str("f\n");
    for _ in 0..60 {
        deep.push_str("fi\n");
    }
    deep.push_str("}\nf\n");
    let deep = run(&deep);
    assert!(deep.diagnostics.iter().any(|d| d.message.contains("nested deeper than 256")), "{:#?}", deep.diagnostics);
    let loops = run("while true; do set x=1; done\nmenuentry e { linux /k }\n");
    assert!(loops.diagnostics.iter().any(|d| d.message.contains("loop ran 1024 times")));
    assert_eq!(loops.entries.len(), 1);
}

#[test]
fn boot_cmdline_quotes_like_grub_create_loader_cmdline() {
    let e = MenuEntry {
        index: 0,
        title: "t".into(),
        id: None,
        submenus: vec![],
        position: vec![0],
        root: None,
        kernel: Some(boot_config::BootPath::parse("(hd0,1)/vmlinuz")),
        args: grub2::loader_cmdline(&["a b", "c\\d", "e'f"]),
        initrd: vec![],
        modules: vec![],
        kind: EntryKind::Linux,
        savedefault: false,
        line: 1,
    };
    assert_eq!(grub2::boot_cmdline(&e).unwrap(), "BOOT_IMAGE=(hd0,1)/vmlinuz \"a b\" c\\\\d e\\'f");
}

#[test]
fn fuzz_corpus_replays() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/menu_grub2");
    let mut files: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    assert!(!files.is_empty());
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        let _ = grub2::parse(&bytes);
        let _ = grubenv::parse(&bytes);
        let _ = bls::parse_entry("x", &bytes);
    }
}

// ---------------------------------------------------------------- properties

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let m = grub2::parse(&bytes);
        for e in &m.entries {
            let _ = grub2::boot_cmdline(e);
        }
        let _ = grub2::default_entry(&m);
        let _ = grubenv::parse(&bytes);
        let _ = bls::parse_entry("p", &bytes);
    }

    #[test]
    fn random_script_text_never_panics(s in "[a-z{}\\[\\]$'\"\\\\;# \n=>-]{0,400}") {
        let m = run(&s);
        let _ = grub2::resolve_default(&m, &s);
    }

    #[test]
    fn nesting_and_quoting_are_bounded(depth in 0usize..200, quotes in 0usize..50) {
        let mut cfg = String::new();
        for _ in 0..depth {
            cfg.push_str("submenu 'a' {\nif true; then\n");
        }
        cfg.push_str("menuentry '");
        cfg.push_str(&"\"'\"'".repeat(quotes));
        cfg.push_str("' { linux /k }\n");
        for _ in 0..depth {
            cfg.push_str("fi\n}\n");
        }
        let m = run(&cfg);
        prop_assert!(m.entries.len() <= 1);
        prop_assert!(m.submenus.len() <= depth.min(grub2::MAX_SUBMENU_DEPTH + 1));
    }

    #[test]
    fn grubenv_round_trips(vars in proptest::collection::vec(("[a-z_][a-z0-9_]{0,12}", "[ -~\n\\\\]{0,40}"), 0..12)) {
        let mut env = GrubEnv::default();
        for (k, v) in &vars {
            env.set(k, v);
        }
        if let Ok(block) = env.to_block(grubenv::BLOCK_SIZE) {
            prop_assert_eq!(block.len(), grubenv::BLOCK_SIZE);
            let back = grubenv::parse(&block).unwrap();
            prop_assert_eq!(back.vars, env.vars);
            prop_assert!(back.diagnostics.is_empty());
        }
    }
}
