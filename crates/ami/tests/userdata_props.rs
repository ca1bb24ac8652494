//! Property tests for the user-data parsers (crates/ami/src/userdata):
//! gzip written by flate2's encoder reads back exactly, in one member or
//! several with zero padding, and stops at its budget; MIME messages built
//! here split into exactly their parts; YAML alias bombs load exactly when
//! their expanded size is within the bounds; random and mutated bytes never
//! panic and give an analysis within the bounds.

use std::io::Write;

use ami::userdata::gzip::{self, Gunzip};
use ami::userdata::{self, MAX_DECOMPRESSED, mime, yaml};
use proptest::prelude::*;

fn gz(data: &[u8], level: u32) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(level));
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Small user-data of each kind, for mutation.
const SEEDS: [&[u8]; 5] = [
    b"#!/bin/sh\necho hi\n",
    b"#cloud-config\nruncmd:\n  - [sh, -c, 'echo a']\nbootcmd: [x]\nusers: &u [a, b]\nother: *u\n",
    b"#cloud-config-archive\n- '#!/bin/sh\n\n  echo a'\n- {type: text/cloud-boothook, content: 'x', filename: bh}\n",
    b"Content-Type: multipart/mixed; boundary=\"B\"\nMIME-Version: 1.0\n\n--B\nContent-Type: text/x-shellscript\n\n#!/bin/sh\n\n--B\nContent-Type: text/cloud-config\nContent-Transfer-Encoding: base64\n\nI2Nsb3VkLWNvbmZpZwo=\n--B\nContent-Type: multipart/alternative; boundary=C\n\n--C\n\n#cloud-boothook\n--C--\n--B--\n",
    b"#include\nhttp://a/x\n#include-once http://b/y\n",
];

const TYPES: [&str; 6] = [
    "text/x-shellscript",
    "text/cloud-boothook",
    "text/x-shellscript-per-boot",
    "application/octet-stream",
    "text/part-handler",
    "text/jinja2",
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn any_bytes_never_panic(data in proptest::collection::vec(any::<u8>(), 0..2048)) {
        ami::fuzzing::userdata(&data);
    }

    #[test]
    fn mutated_seeds_never_panic(
        seed in 0..SEEDS.len(),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
        cut in any::<prop::sample::Index>(),
        gzip_it in any::<bool>(),
    ) {
        let mut d = SEEDS[seed].to_vec();
        for (i, b) in flips {
            let i = i.index(d.len());
            d[i] = b;
        }
        d.truncate(cut.index(d.len() + 1));
        let d = if gzip_it { gz(&d, 6) } else { d };
        ami::fuzzing::userdata(&d);
    }

    #[test]
    fn analysis_is_bounded(data in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let a = userdata::analyse(&data);
        prop_assert!(a.parts.len() <= mime::MAX_PARTS);
        prop_assert_eq!(a.bytes, data.len());
        // Without gzip, a part is at most the text it came from, 2.5 times
        // (raw-unicode-escape of 4-byte characters), plus what YAML
        // aliases of an archive copy.
        let total: usize = a.parts.iter().map(|p| p.bytes).sum();
        if !data.starts_with(&gzip::MAGIC) {
            prop_assert!(total <= data.len() * 5 / 2 + yaml::MAX_BYTES, "{total}");
        }
        if a.error.is_some() {
            prop_assert!(a.parts.is_empty());
        }
    }

    #[test]
    fn gzip_round_trips(
        members in proptest::collection::vec((proptest::collection::vec(any::<u8>(), 0..2048), 0u32..=9, 0usize..4), 1..4),
    ) {
        let mut stream = Vec::new();
        let mut plain = Vec::new();
        for (data, level, pad) in &members {
            stream.extend(gz(data, *level));
            stream.extend(std::iter::repeat_n(0u8, *pad));
            plain.extend(data);
        }
        prop_assert_eq!(gzip::gunzip(&stream, plain.len()), Gunzip::Data(plain.clone()));
        if !plain.is_empty() {
            prop_assert_eq!(gzip::gunzip(&stream, plain.len() - 1), Gunzip::TooLarge { limit: plain.len() - 1 });
        }
        // A user-data that is this gzip is read as what it holds.
        let a = userdata::analyse(&stream);
        prop_assert!(a.gzip);
    }

    #[test]
    fn gzip_truncated_is_refused(data in proptest::collection::vec(any::<u8>(), 0..512), cut in any::<prop::sample::Index>()) {
        let whole = gz(&data, 6);
        let cut = 2 + cut.index(whole.len() - 2);
        prop_assert!(matches!(gzip::gunzip(&whole[..cut], 1 << 20), Gunzip::Bad(_)), "cut at {cut} of {}", whole.len());
        // The whole user-data is then kept as it is (decomp_gzip quiet=True).
        let a = userdata::analyse(&whole[..cut]);
        prop_assert!(!a.gzip);
    }

    #[test]
    fn mime_splits_built_messages(
        parts in proptest::collection::vec((0..TYPES.len(), "[a-zA-Z0-9 #!/.\n]{0,120}", any::<bool>()), 1..24),
    ) {
        use base64::Engine as _;
        let mut m = String::from("Content-Type: multipart/mixed; boundary=\"==B==\"\nMIME-Version: 1.0\n\n");
        for (t, body, b64) in &parts {
            m.push_str(&format!("--==B==\nContent-Type: {}\n", TYPES[*t]));
            if *b64 {
                let enc = base64::engine::general_purpose::STANDARD.encode(body);
                m.push_str(&format!("Content-Transfer-Encoding: base64\n\n{enc}\n"));
            } else {
                m.push_str(&format!("\n{body}\n"));
            }
        }
        m.push_str("--==B==--\n");
        let leaves = mime::leaves(&m).unwrap();
        prop_assert_eq!(leaves.len(), parts.len());
        for (l, (t, body, _)) in leaves.iter().zip(&parts) {
            prop_assert_eq!(&l.content_type, TYPES[*t]);
            prop_assert_eq!(&l.payload, body.as_bytes());
        }
        let a = userdata::analyse(m.as_bytes());
        prop_assert!(a.mime && a.error.is_none());
        prop_assert_eq!(a.parts.len(), parts.len());
    }

    #[test]
    fn yaml_alias_bombs_load_exactly_within_the_bounds(fan in 1usize..12, depth in 0usize..10, len in 1usize..5000) {
        let mut doc = format!("a0: &a0 [{}]\n", vec![format!("\"{}\"", "x".repeat(len)); fan].join(", "));
        let (mut nodes, mut bytes) = (1 + fan, fan * len);
        let (mut total_nodes, mut total_bytes) = (1 + 1 + nodes, 2 + bytes);
        for i in 1..=depth {
            let p = i - 1;
            doc.push_str(&format!("a{i}: &a{i} [{}]\n", vec![format!("*a{p}"); fan].join(", ")));
            (nodes, bytes) = (1 + fan * nodes, fan * bytes);
            total_nodes += 1 + nodes;
            total_bytes += format!("a{i}").len() + bytes;
        }
        let r = yaml::load(&doc);
        if total_nodes <= yaml::MAX_NODES && total_bytes <= yaml::MAX_BYTES {
            prop_assert!(r.is_ok(), "{:?} nodes {total_nodes} bytes {total_bytes}", r.err());
        } else {
            let e = r.unwrap_err();
            prop_assert!(e.bound, "{e}");
        }
    }

    #[test]
    fn yaml_any_text_never_panics(text in "[-:\\[\\]{}&*!|>'\"#a-z0-9 \n]{0,400}") {
        if let Ok(Some(y)) = yaml::load(&text) {
            let _ = y.to_json();
        }
    }
}

/// Many `#cloud-config` parts, each a small alias bomb under the
/// per-document bounds, share one budget: the analysis stays bounded.
#[test]
fn many_small_alias_bombs_share_one_budget() {
    let mut bomb = String::from("#cloud-config\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
    for i in 1..5 {
        let p = i - 1;
        bomb.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
    }
    assert!(yaml::load(&bomb).is_ok(), "one is within the bounds");
    let mut m = String::from("Content-Type: multipart/mixed; boundary=B\nMIME-Version: 1.0\n\n");
    for _ in 0..50 {
        m.push_str(&format!("--B\nContent-Type: text/cloud-config\n\n{bomb}\n"));
    }
    let a = userdata::analyse(m.as_bytes());
    assert_eq!(a.parts.len(), 50);
    let bounded = a.parts.iter().filter(|p| p.cloud_config.as_ref().unwrap().error.as_ref().is_some_and(|e| e.bound));
    assert!(bounded.count() >= 40);
}

/// A MIME message of 10⁵ parts stops at the part bound with a verdict.
#[test]
fn mime_part_bomb_is_bounded() {
    let mut m = String::from("Content-Type: multipart/mixed; boundary=B\nMIME-Version: 1.0\n\n");
    for _ in 0..100_000 {
        m.push_str("--B\n\n#!/bin/sh\n");
    }
    let gz = gz(m.as_bytes(), 9);
    assert!(gz.len() <= userdata::EC2_MAX_USER_DATA, "{} bytes of gzip", gz.len());
    let a = userdata::analyse(&gz);
    assert!(a.bound && a.parts.is_empty(), "{:?}", a.error);
    assert!(MAX_DECOMPRESSED > m.len());
}

/// A `#cloud-config` with schema errors still runs (cloud-init only warns);
/// the verdict says what cloud-init will log.
#[test]
fn schema_errors_are_notes_not_blockers() {
    let a = userdata::analyse(b"#cloud-config\nruncmd:\n  - echo hi\npackage_update: maybe\n");
    let cc = a.parts[0].cloud_config.as_ref().unwrap();
    assert_eq!(cc.schema_errors.len(), 1, "{:?}", cc.schema_errors);
    assert_eq!(cc.schema_errors[0].path, "package_update");
    let v = ami::bootstrap::judge(&a, &ami::fuzzing::debian_first_boot());
    assert!(v.runs, "{v:?}");
    assert!(
        v.notes.iter().any(|n| n.contains("Invalid cloud-config provided") && n.contains("package_update")),
        "{:?}",
        v.notes
    );
}
