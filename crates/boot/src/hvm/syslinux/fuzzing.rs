//! Entry point shared by the `syslinux_config` fuzz target and its corpus
//! replay test (crates/boot/tests/syslinux_config.rs): arbitrary bytes as
//! what the SYSLINUX model reads from a disk — the first sector of
//! ldlinux.sys ([`parse_sector1`]), ldlinux.sys as loaded with its extended
//! patch area ([`parse_epa`]), and extlinux.conf as ldlinux.c32
//! ([`globals`], [`label_cmdline`]) and menu.c32 ([`menu::parse`],
//! [`menu::ansi_attribute`]) read it. Must never panic.

use super::{globals, label_cmdline, menu, parse_epa, parse_sector1};

pub fn config(data: &[u8]) {
    if let Some(first) = data.get(..512).and_then(|b| <&[u8; 512]>::try_from(b).ok())
        && let Ok(s1) = parse_sector1(first, 0x8000)
    {
        let _ = parse_epa(data, s1.epa);
    }
    let epa = data.get(..2).map_or(0, |b| u16::from_le_bytes([b[0], b[1]]));
    let _ = parse_epa(data, epa);
    let text = String::from_utf8_lossy(data);
    let g = globals(&text);
    assert!(g.path.iter().all(|p| !p.is_empty()), "PATH keeps no empty entry");
    for line in text.lines().take(64) {
        let mut words = line.split_whitespace();
        if words.next().is_some_and(|w| w.eq_ignore_ascii_case("label"))
            && let Some(label) = words.next()
        {
            let _ = label_cmdline(&text, label);
        }
        let _ = menu::ansi_attribute(line);
    }
    if let Ok(m) = menu::parse(&text) {
        assert!(m.items.is_empty() || m.defentry < m.items.len(), "the default entry is one of the items");
    }
}
