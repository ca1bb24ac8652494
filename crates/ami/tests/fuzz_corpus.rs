//! Replays the committed corpus of the `userdata` fuzz target
//! (`fuzz/corpus/userdata/`, seeded by `fuzz/seed-userdata.sh`) through the
//! entry point the target calls, so every input that once found a bug
//! stays a regression test under plain `cargo test`.

use ami::userdata::{self, PartKind};

use boot_sim_fixtures::{fuzz_corpus as corpus, replay_fuzz_corpus};

fn seed(name: &str) -> Vec<u8> {
    corpus("userdata").into_iter().find(|(p, _)| p.ends_with(name)).unwrap_or_else(|| panic!("no seed {name}")).1
}

#[test]
fn userdata_corpus_replays() {
    replay_fuzz_corpus("userdata", ami::fuzzing::userdata);
}

/// The seeds are what their names say, so the fuzzer starts from every
/// kind of user-data and from each bound.
#[test]
fn userdata_seeds_reach_every_kind_and_bound() {
    let kinds = |name: &str| -> Vec<PartKind> { userdata::analyse(&seed(name)).parts.iter().map(|p| p.kind).collect() };
    assert_eq!(kinds("shell.txt"), [PartKind::ShellScript]);
    assert_eq!(kinds("shell.gz"), [PartKind::ShellScript]);
    assert_eq!(kinds("boothook.txt"), [PartKind::Boothook]);
    assert_eq!(kinds("jinja.txt"), [PartKind::Jinja]);
    assert_eq!(kinds("part-handler.txt"), [PartKind::PartHandler]);
    assert_eq!(kinds("junk.bin"), [PartKind::Unhandled]);
    assert_eq!(kinds("archive.txt"), [PartKind::ShellScript, PartKind::Boothook, PartKind::CloudConfig]);
    assert_eq!(
        kinds("mime.txt"),
        [
            PartKind::ShellScript,
            PartKind::CloudConfig,
            PartKind::ShellScript,
            PartKind::ShellScriptPerBoot,
            PartKind::Unhandled
        ]
    );
    let a = userdata::analyse(&seed("include.txt"));
    assert!(a.parts.is_empty() && a.includes.len() == 2);
    let cc = userdata::analyse(&seed("cloud-config.txt"));
    assert_eq!(cc.parts[0].cloud_config.as_ref().unwrap().keys, ["bootcmd", "runcmd", "packages", "write_files"]);
    let bad = userdata::analyse(&seed("cloud-config-bad-yaml.txt"));
    assert!(!bad.parts[0].cloud_config.as_ref().unwrap().error.as_ref().unwrap().bound);
    let bomb = userdata::analyse(&seed("yaml-alias-bomb.txt"));
    assert!(bomb.parts[0].cloud_config.as_ref().unwrap().error.as_ref().unwrap().bound);
    let a = userdata::analyse(&seed("mime-not-utf8.txt"));
    assert!(a.error.unwrap().contains("UnicodeDecodeError") && !a.bound);
    let a = userdata::analyse(&seed("mime-deep.txt"));
    assert!(a.bound && a.error.unwrap().contains("nested"));
    // 32 MiB of zeros: within the decompression budget; three members of
    // it (gzip allows concatenation) are not.
    let gz = seed("gzip-bomb.gz");
    let a = userdata::analyse(&gz);
    assert!(a.gzip && a.error.is_none() && a.parts[0].bytes == 32 << 20);
    let a = userdata::analyse(&gz.repeat(3));
    assert!(a.bound && a.parts.is_empty(), "{:?}", a.error);
}
