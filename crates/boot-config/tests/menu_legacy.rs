//! GRUB legacy and extlinux menus as their own loaders read them, on the
//! variants in tests/data/menus (the pygrub reading of the same files is
//! checked against the real pygrub in tests/interop_menu.rs). Each test
//! names the GRUB 0.97 rule and, where pygrub differs, what pygrub does.

use std::path::PathBuf;

use boot_config::discover::{self, Loader};
use boot_config::grub_error::GrubError;
use boot_config::select::{self, EntryRequest, Reason};
use boot_config::{DefaultSpec, Dialect, EntryKind, Menu, extlinux, grub_legacy};
use disk_image::Disk;
use proptest::prelude::*;

fn data(rel: &str) -> Vec<u8> {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/menus").join(rel);
    std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn grub(rel: &str) -> Menu {
    grub_legacy::parse(&data(&format!("legacy/{rel}")))
}

fn pygrub(rel: &str) -> Menu {
    grub_legacy::parse_dialect(&data(&format!("legacy/{rel}")), Dialect::Pygrub)
}

fn pick(m: &Menu, saved: Option<usize>) -> usize {
    select::grub_pick(m, saved, &EntryRequest::Default).unwrap().0
}

fn py_pick(m: &Menu) -> usize {
    select::pygrub_pick(m, &EntryRequest::Default).unwrap().0
}

#[test]
fn amazon_linux_menu() {
    let m = grub("amazon-linux-2018.03.conf");
    assert_eq!(m.entries.len(), 2);
    assert_eq!(m.default, DefaultSpec::Index(0));
    assert_eq!((m.timeout, m.hidden_menu), (Some(1), true));
    let e = &m.entries[0];
    assert_eq!(e.title, "Amazon Linux 2018.03 (4.14.355-275.570.amzn1.x86_64)");
    assert_eq!(e.root.as_deref(), Some("(hd0,0)"));
    assert_eq!(e.kernel.as_ref().unwrap().path, "/boot/vmlinuz-4.14.355-275.570.amzn1.x86_64");
    assert!(e.args.starts_with("root=LABEL=/ console=tty1 console=ttyS0"));
    assert_eq!(e.initrd[0].path, "/boot/initramfs-4.14.355-275.570.amzn1.x86_64.img");
}

#[test]
fn tabs_and_equals_are_separators_for_grub_but_not_always_for_pygrub() {
    // skip_to(1, …) skips blanks and '=' alike: `default = 1` is 1.
    let m = grub("key-equals-forms.lst");
    assert_eq!(m.default, DefaultSpec::Index(1));
    assert_eq!(m.fallback, vec![0]);
    assert_eq!(m.entries[0].title, "First entry");
    assert_eq!(m.entries[1].initrd[0].path, "/initrd-2");
    assert_eq!(pick(&m, None), 1);
    // pygrub's grub_split sees a blank before '=' and reads "= 1": not a
    // number, so its default is 0.
    assert_eq!(py_pick(&pygrub("key-equals-forms.lst")), 0);
}

#[test]
fn a_title_without_commands_is_dropped_by_grub_only() {
    let m = grub("empty-title.lst");
    assert_eq!(m.entries.iter().map(|e| e.title.as_str()).collect::<Vec<_>>(), ["Real entry one", "Real entry two"]);
    assert_eq!(m.entries[pick(&m, None)].title, "Real entry two");
    assert!(m.diagnostics.iter().any(|d| d.line == 3 && d.message.contains("drops")));
    // pygrub keeps the placeholder, so `default 1` lands on another entry.
    let p = pygrub("empty-title.lst");
    assert_eq!(p.entries.len(), 3);
    assert_eq!(p.entries[py_pick(&p)].title, "Real entry one");
}

#[test]
fn backslash_newline_joins_lines_for_grub_only() {
    let m = grub("backslash-continuation.lst");
    assert_eq!(m.entries[0].args, "root=/dev/xvda1      console=hvc0 earlyprintk=xen");
    let p = pygrub("backslash-continuation.lst");
    assert_eq!(p.entries[0].args, "root=/dev/xvda1 \\");
}

#[test]
fn default_past_the_end_takes_the_first_fallback() {
    let m = grub("default-out-of-range.lst");
    let (i, reason, why) = select::grub_pick(&m, None, &EntryRequest::Default).unwrap();
    assert_eq!((i, reason), (1, Reason::DefaultOutOfRange));
    assert!(why.contains("first fallback entry, 1"), "{why}");
    assert_eq!(py_pick(&pygrub("default-out-of-range.lst")), 0, "pygrub falls back to 0");
}

#[test]
fn default_saved_reads_the_default_file() {
    let m = grub("rhel-5-default-saved.conf");
    assert_eq!(m.default, DefaultSpec::Saved);
    assert_eq!(pick(&m, Some(1)), 1);
    assert_eq!(pick(&m, None), 0, "no default file: saved_entryno stays 0");
    assert!(m.entries.iter().all(|e| e.savedefault));
    assert_eq!(py_pick(&pygrub("rhel-5-default-saved.conf")), 0, "pygrub: saved is always 0");
    assert_eq!(grub_legacy::parse_default_file(b"1\n# WARNING"), 1);
    assert_eq!(grub_legacy::parse_default_file(b"junk"), 0);
}

#[test]
fn xen_dom0_entries_are_multiboot_with_modules() {
    let m = grub("centos-5-xen-dom0.conf");
    let e = &m.entries[0];
    assert_eq!(e.kind, EntryKind::Multiboot);
    assert_eq!(e.kernel.as_ref().unwrap().path, "/xen.gz-2.6.18-419.el5");
    assert_eq!(e.modules.len(), 2);
    assert_eq!(e.modules[0].path, "/vmlinuz-2.6.18-419.el5xen");
    // pygrub ignores `module`: it would hand xen.gz to the domain builder as the kernel.
    let p = pygrub("centos-5-xen-dom0.conf");
    assert!(p.entries[0].modules.is_empty());
}

#[test]
fn device_prefixes_chainloaders_and_comments() {
    let m = grub("device-prefixes.lst");
    assert_eq!(m.entries[0].kernel.as_ref().unwrap().device.as_deref(), Some("(hd0,1)"));
    assert_eq!(m.entries[0].root.as_deref(), Some("(hd0,0)"));
    let w = grub("chainload-windows.lst");
    assert_eq!(w.entries[0].kind, EntryKind::Chainloader);
    assert_eq!(w.entries[0].root.as_deref(), Some("(hd0,1)"));
    // '#' is a comment only at the start of a line (get_line_from_config).
    let h = grub("midline-hash.lst");
    assert_eq!(h.entries[0].args, "root=/dev/xvda1 ro # this is not a comment for GRUB");
    let c = grub("crlf-line-endings.lst");
    assert_eq!(c.entries[0].args, "root=/dev/xvda1 ro");
    let pw = grub("password-md5.lst");
    assert!(pw.password);
    assert_eq!(grub("no-default-line.lst").default, DefaultSpec::Unset);
}

#[test]
fn every_variant_parses_with_entries_and_no_unknown_commands() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/menus/legacy");
    for f in std::fs::read_dir(dir).unwrap() {
        let p = f.unwrap().path();
        let m = grub_legacy::parse(&std::fs::read(&p).unwrap());
        assert!(!m.entries.is_empty(), "{}", p.display());
        assert!(
            !m.diagnostics.iter().any(|d| d.message.contains("unknown command")),
            "{}: {:?}",
            p.display(),
            m.diagnostics
        );
    }
}

#[test]
fn extlinux_native_reading() {
    let m = extlinux::parse(&data("extlinux/alpine-3.18.conf"), "/boot/extlinux");
    assert_eq!(m.entries[0].title, "Linux lts");
    assert_eq!(m.entries[0].kernel.as_ref().unwrap().path, "/boot/extlinux/vmlinuz-lts");
    assert_eq!(m.entries[0].initrd[0].path, "/boot/extlinux/initramfs-lts");
    assert_eq!(m.default, DefaultSpec::Name("lts".into()), "MENU DEFAULT");
    let o = extlinux::parse(&data("extlinux/ontimeout.conf"), "/");
    assert_eq!(o.entries[select::grub_pick(&o, None, &EntryRequest::Default).unwrap().0].id.as_deref(), Some("third"));
    let g = extlinux::parse(&data("extlinux/global-append.conf"), "/boot");
    assert_eq!(g.entries[0].args, "console=ttyS0 quiet");
    assert_eq!(g.entries[1].args, "priority=low");
    assert_eq!(g.timeout, Some(5));
    // pygrub: no LINUX keyword, no INITRD, no global APPEND.
    let p = extlinux::parse_dialect(&data("extlinux/alpine-3.18.conf"), "/boot/extlinux", Dialect::Pygrub);
    assert!(p.entries[0].kernel.is_none());
}

fn fixture(name: &str) -> Disk {
    Disk::open(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images").join(name)).unwrap()
}

#[test]
fn grub_boots_the_fallback_after_failures_pygrub_does_not() {
    let disk = fixture("pv-fallback.img");
    let d = discover::discover(&disk, Loader::PvgrubHd0);
    let cfg = d.config.as_ref().expect("menu at (hd0)");
    assert_eq!(cfg.saved_default, Some(0));
    let c = select::choose(&disk, &d, &EntryRequest::Default).unwrap();
    assert_eq!(c.entry.index, 1);
    assert_eq!(c.reason, Reason::Fallback);
    let errors: Vec<_> = c.attempts.iter().map(|a| (a.index, a.failure.error)).collect();
    assert_eq!(errors, vec![(0, Some(GrubError::FileNotFound)), (2, Some(GrubError::NoPart))]);
    assert_eq!(c.kernel.resolved_path, "/boot/vmlinuz-good");
    assert_eq!(c.cmdline, "root=/dev/xvda ro console=hvc0");
    // Chosen by hand: no fallback, and no root line means the menu's device.
    let by_hand = select::choose(&disk, &d, &EntryRequest::Index(0)).unwrap_err();
    assert!(by_hand.to_string().contains("an entry chosen by hand has no fallback"), "{by_hand}");
    let three = select::choose(&disk, &d, &EntryRequest::Title("3: no root line".into())).unwrap();
    assert_eq!(three.kernel.device, "(hd0)");

    let py = discover::discover(&disk, Loader::Pygrub);
    let err = select::choose(&disk, &py, &EntryRequest::Default).unwrap_err().to_string();
    assert!(err.contains("The requested kernel file does not exist"), "{err}");
    assert!(err.contains("GRUB would boot entry 1"), "{err}");
}

#[test]
fn loaders_search_their_own_places() {
    let hvm = fixture("hvm-mbr.img");
    let hd0 = discover::discover(&hvm, Loader::PvgrubHd0);
    assert!(hd0.config.is_none());
    assert_eq!(hd0.probes[0].device, "(hd0)");
    let aws = discover::discover(&hvm, Loader::PvgrubAws);
    assert_eq!(aws.probes.len(), 2, "(hd0) fails, (hd0,0)/boot/grub/menu.lst is found");
    assert_eq!(aws.config.as_ref().unwrap().file.device, "(hd0,0)");
    // Logical partitions are out of every PV loader's reach.
    let logical = fixture("mbr-logical.img");
    for l in Loader::ALL {
        assert!(discover::discover(&logical, l).config.is_none(), "{l:?}");
    }
    assert_eq!(discover::discover(&logical, Loader::PvgrubAws).probes.len(), 9, "nine places");
}

proptest! {
    /// Any bytes parse (GRUB and pygrub dialects, extlinux) without panic,
    /// and entries are numbered densely from 0.
    #[test]
    fn arbitrary_menus_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        for m in [
            grub_legacy::parse(&bytes),
            grub_legacy::parse_dialect(&bytes, Dialect::Pygrub),
            extlinux::parse(&bytes, "/boot"),
        ] {
            for (i, e) in m.entries.iter().enumerate() {
                prop_assert_eq!(e.index, i);
            }
            let _ = select::grub_pick(&m, None, &EntryRequest::Default);
            let _ = select::pygrub_pick(&m, &EntryRequest::Default);
        }
    }

    /// Menus built from random entries read back exactly, whatever the
    /// separators (blank, tab or '=').
    #[test]
    fn generated_menus_round_trip(
        entries in proptest::collection::vec(("[A-Za-z][A-Za-z0-9 ().-]{0,30}", "/[a-z0-9/._-]{1,30}", "[a-z0-9=/ ]{0,40}"), 1..8),
        sep in prop_oneof![Just(" "), Just("\t"), Just("="), Just(" = ")],
        default in 0usize..10,
    ) {
        let mut text = format!("default{sep}{default}\ntimeout{sep}5\n");
        for (t, k, a) in &entries {
            text.push_str(&format!("title {t}\n\troot (hd0)\n\tkernel{sep}{k} {a}\n"));
        }
        let m = grub_legacy::parse(text.as_bytes());
        prop_assert_eq!(m.entries.len(), entries.len());
        prop_assert_eq!(&m.default, &DefaultSpec::Index(default));
        for (e, (t, k, a)) in m.entries.iter().zip(&entries) {
            prop_assert_eq!(&e.title, t);
            prop_assert_eq!(&e.kernel.as_ref().unwrap().path, k);
            prop_assert_eq!(e.args.trim_end(), a.trim());
        }
        prop_assert_eq!(pick(&m, None), if default < entries.len() { default } else { 0 });
    }
}

#[test]
fn fuzz_corpus_replays() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/menu_legacy");
    let mut n = 0;
    for f in std::fs::read_dir(&dir).unwrap() {
        boot_config::fuzzing::menu_legacy(&std::fs::read(f.unwrap().path()).unwrap());
        n += 1;
    }
    assert!(n > 0, "empty corpus {}", dir.display());
}
