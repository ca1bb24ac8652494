//! The SYSLINUX model's parsers of disk bytes on hostile input: the
//! committed fuzz/corpus/syslinux_config replays (the `syslinux_config`
//! fuzz target's inputs, with the target's checks), the good seeds parse to
//! what they say, and property tests feed arbitrary and mutated bytes:
//! always a value or a named error, never a panic.

use std::path::{Path, PathBuf};

use boot::hvm::syslinux::{globals, label_cmdline, menu, parse_epa, parse_sector1};
use proptest::prelude::*;

fn corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/syslinux_config")
}

fn seed(name: &str) -> Vec<u8> {
    std::fs::read(corpus().join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// What fuzz/fuzz_targets/syslinux_config.rs runs on each input.
fn check(data: &[u8]) {
    boot::hvm::syslinux::fuzzing::config(data);
}

#[test]
fn corpus_replays_without_panics() {
    let mut n = 0;
    for entry in std::fs::read_dir(corpus()).expect("fuzz/corpus/syslinux_config exists") {
        check(&std::fs::read(entry.expect("dir entry").path()).expect("corpus file"));
        n += 1;
    }
    assert!(n >= 8, "seed corpus present ({n} files)");
}

#[test]
fn the_fixture_ldlinux_sys_parses_and_broken_ones_fail_by_name() {
    let sys = seed("fixture-ldlinux.sys");
    let s1 = parse_sector1(sys[..512].try_into().unwrap(), 0x8000).expect("fixture sector 1");
    assert!(s1.banner.contains("SYSLINUX 6.04"), "{:?}", s1.banner);
    assert_eq!(s1.data_sectors, 4);
    let epa = parse_epa(&sys, s1.epa).expect("fixture EPA");
    assert_eq!(epa.current_dir, "/boot/extlinux");
    let bad = seed("bad-magic.bin");
    assert!(parse_sector1(bad[..512].try_into().unwrap(), 0x8000).is_err());
    let e = parse_epa(&seed("epa-outside.bin"), 0xFFFF).unwrap_err();
    assert!(e.contains("EPA"), "{e}");
}

#[test]
fn the_seed_configs_read_as_ldlinux_c32_and_menu_c32_read_them() {
    let text = String::from_utf8(seed("fixture-extlinux.conf")).unwrap();
    let g = globals(&text);
    assert_eq!((g.default.as_deref(), g.prompt, g.timeout_ms), (Some("debian"), false, 5000));
    let cmd = label_cmdline(&text, "debian").expect("label debian");
    assert!(cmd.starts_with("/boot/vmlinuz-6.1.0-fixture "), "{cmd}");
    assert!(cmd.ends_with(" initrd=/boot/initrd.img-6.1.0-fixture"), "{cmd}");
    assert_eq!(label_cmdline(&text, "nosuch"), None);

    let m = menu::parse(&String::from_utf8(seed("menu.conf")).unwrap()).expect("menu.conf");
    let labels: Vec<&str> = m.items.iter().map(|i| i.label.as_str()).collect();
    assert_eq!(labels, ["debian", "rescue"], "MENU HIDE leaves `hidden` out");
    assert_eq!(m.items[0].hotkey, Some(b'D'));
    assert_eq!(m.items[1].hotkey, Some(b'S'));
    assert_eq!((m.defentry, m.hidden, m.allowedit, m.timeout_ms), (0, true, false, 5000));
    assert_eq!(m.ontimeout.as_deref(), Some("rescue"));

    let g = globals(&String::from_utf8(seed("prompt-odd.conf")).unwrap());
    assert_eq!((g.prompt, g.timeout_ms, g.implicit, g.noescape), (true, 0, false, true));
    assert_eq!(g.path, ["/boot/syslinux"]);
    assert!(menu::parse(&String::from_utf8(seed("menu-unmodelled.conf")).unwrap()).is_err());
}

/// Config-like lines: keywords the parsers know, with odd arguments.
fn config_line() -> impl Strategy<Value = String> {
    let kw = prop::sample::select(vec![
        "LABEL",
        "MENU LABEL",
        "MENU DEFAULT",
        "MENU HIDE",
        "MENU TITLE",
        "MENU ROWS",
        "MENU WIDTH",
        "MENU MARGIN",
        "MENU TABMSGROW",
        "MENU TIMEOUTROW",
        "MENU HIDDEN",
        "MENU AUTOBOOT",
        "DEFAULT",
        "UI",
        "PROMPT",
        "TIMEOUT",
        "TOTALTIMEOUT",
        "ONTIMEOUT",
        "NOESCAPE",
        "ALLOWOPTIONS",
        "IMPLICIT",
        "PATH",
        "LINUX",
        "KERNEL",
        "APPEND",
        "INITRD",
        "MENU COLOR",
        "SAY",
    ]);
    let arg = prop::sample::select(vec![
        "",
        "0",
        "1",
        "-1",
        "-99999999999999999999",
        "99999999999999999999",
        "^",
        "^^x",
        "a b c",
        "::",
        "#",
        "\t",
        "é^é",
        "--",
        "initrd=",
        "1;36;44",
        "38;5;200",
    ]);
    (kw, arg).prop_map(|(k, a)| format!("{k} {a}"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        check(&data);
    }

    #[test]
    fn config_like_text_never_panics(lines in proptest::collection::vec(config_line(), 0..40)) {
        check(lines.join("\n").as_bytes());
    }

    #[test]
    fn mutated_seeds_never_panic(which in 0usize..3,
                                 flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..16)) {
        let mut data = seed(["fixture-ldlinux.sys", "fixture-extlinux.conf", "menu.conf"][which]);
        for (at, x) in flips {
            let i = at.index(data.len());
            data[i] ^= x;
        }
        check(&data);
    }
}

/// The bundled EXTLINUX fixture with its extlinux.conf replaced in place
/// by `conf` (cut or padded with newlines to the file's size).
fn fixture_with_conf(conf: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images/hvm-extlinux.img");
    let mut img = std::fs::read(path).expect("hvm-extlinux.img");
    let old = seed("fixture-extlinux.conf");
    let at = img.windows(old.len()).position(|w| w == old.as_slice()).expect("the config's bytes in the image");
    let mut new = conf.as_bytes().to_vec();
    new.resize(old.len(), b'\n');
    img[at..at + old.len()].copy_from_slice(&new);
    img
}

fn run_hvm(img: Vec<u8>, keys: &str) -> boot::hvm::HvmReport {
    let opts = boot::hvm::HvmOptions { keys: keys.into(), ..boot::hvm::HvmOptions::default() };
    boot::hvm::run(std::sync::Arc::new(disk_image::MemImage::new(img, "hvm-extlinux.img")), &opts)
}

#[test]
fn a_menu_config_in_the_fixture_draws_and_boots_the_chosen_label() {
    let conf = "UI menu.c32\nTIMEOUT 30\nMENU TITLE Pick one\nLABEL debian\nMENU LABEL ^Debian\n\
                LINUX /boot/vmlinuz-6.1.0-fixture\nAPPEND ro\nLABEL other\nMENU LABEL ^Other\n\
                LINUX /boot/vmlinuz-6.1.0-fixture\nAPPEND other=1\n";
    let r = run_hvm(fixture_with_conf(conf), "{down}\n");
    assert!(r.screen.iter().any(|row| row.contains("Pick one")), "{:#?}", r.screen);
    let boot::hvm::EndState::KernelEntry { info, .. } = &r.end else { panic!("{:?}", r.end) };
    assert_eq!(info.cmdline, "BOOT_IMAGE=/boot/vmlinuz-6.1.0-fixture other=1");
    assert_eq!(info.entry_title, "Other");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Whole HVM runs of the fixture with menu-like configs and keys: the
    /// model ends in some end state, it never panics or loops.
    #[test]
    fn odd_menu_configs_never_panic_the_model(lines in proptest::collection::vec(config_line(), 0..12),
                                              keys in prop::sample::select(vec!["", "\n", "{down}{down}\n", "{end}{pgup}\n", "\u{1b}x\n", "\t"])) {
        let conf = format!("UI menu.c32\n{}\n", lines.join("\n"));
        let r = run_hvm(fixture_with_conf(&conf), keys);
        prop_assert!(!r.reason.is_empty());
    }
}
