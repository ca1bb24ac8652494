//! Entry point for the `userdata` fuzz target in `fuzz/` and for the test
//! that replays its corpus under `cargo test`
//! (`crates/ami/tests/fuzz_corpus.rs`), as `disk_image::fuzzing` is for
//! the disk readers. It takes arbitrary bytes as EC2 user-data and runs
//! every parser boot-sim applies to it — gzip, the MIME splitter, the YAML
//! loader, the classifier as a whole and the verdict — and must return for
//! every input: never panic, hang or allocate without bound. The bounds
//! the analysis promises are asserted, so breaking one is a finding.

use crate::bootstrap;
use crate::firstboot::{BUILTIN_DATASOURCES, CloudInit, FirstBoot, InitSystem, Service, Setting};
use crate::userdata::{self, gzip, mime, yaml};

/// Output budget for the direct gzip call: small, so that the fuzzer
/// reaches [`gzip::Gunzip::TooLarge`] from a few bytes.
const GZIP_LIMIT: usize = 1 << 16;

/// A Debian bookworm image's first-boot machinery as `firstboot::inspect`
/// reads it: systemd, cloud-init 22.4.2, the built-in `datasource_list`,
/// every unit enabled, and of the package's `/etc/cloud/cloud.cfg` module
/// lists the modules the verdict looks at.
pub fn debian_first_boot() -> FirstBoot {
    let list = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let setting = |v: &[&str]| Setting { value: list(v), from: "/etc/cloud/cloud.cfg".into() };
    let services = ["cloud-init-local", "cloud-init", "cloud-config", "cloud-final"]
        .iter()
        .map(|s| Service {
            name: format!("{s}.service"),
            installed: true,
            enabled: true,
            how: format!("/etc/systemd/system/cloud-init.target.wants/{s}.service"),
        })
        .collect();
    FirstBoot {
        init: InitSystem::Systemd { init: "/sbin/init → /lib/systemd/systemd".into() },
        cloud_init: Some(CloudInit {
            version: Some("22.4.2-1+deb12u4".into()),
            version_from: Some("/var/lib/dpkg/status".into()),
            config_files: vec!["/etc/cloud/cloud.cfg".into()],
            config_errors: Vec::new(),
            datasource_list: Setting { value: list(&BUILTIN_DATASOURCES), from: "built-in default".into() },
            cloud_init_modules: setting(&["bootcmd", "write-files", "users-groups", "ssh"]),
            cloud_config_modules: setting(&["runcmd", "apt-configure"]),
            cloud_final_modules: setting(&[
                "scripts-vendor",
                "scripts-per-once",
                "scripts-per-boot",
                "scripts-per-instance",
                "scripts-user",
                "final-message",
            ]),
            disabled_by: None,
            services,
        }),
        looked_at: Vec::new(),
    }
}

/// The bytes as user-data: classified, judged and serialised as `ami
/// launch --user-data --json` does; and each parser on its own (gzip with
/// a small budget, the MIME splitter and the YAML loader on the bytes as
/// text).
pub fn userdata(data: &[u8]) {
    let a = userdata::analyse(data);
    assert!(a.parts.len() <= mime::MAX_PARTS, "{} parts", a.parts.len());
    if a.error.is_some() {
        assert!(a.parts.is_empty(), "parts kept after an error");
    }
    for p in &a.parts {
        assert_eq!(p.bytes, p.payload.len());
        assert!(p.first_line.chars().count() <= 80);
    }
    let v = bootstrap::judge(&a, &debian_first_boot());
    assert_eq!(v.runs, v.items.iter().any(|i| i.runs));
    let _ = serde_json::to_string(&a).expect("analysis serialises");
    let _ = serde_json::to_string(&v).expect("verdict serialises");

    match gzip::gunzip(data, GZIP_LIMIT) {
        gzip::Gunzip::Data(d) => assert!(d.len() <= GZIP_LIMIT),
        gzip::Gunzip::NotGzip => assert!(!data.starts_with(&gzip::MAGIC)),
        gzip::Gunzip::Bad(_) | gzip::Gunzip::TooLarge { .. } => {}
    }
    let text = String::from_utf8_lossy(data);
    if let Ok(leaves) = mime::leaves(&text) {
        assert!(leaves.len() <= mime::MAX_PARTS);
    }
    if let Ok(Some(y)) = yaml::load(&text) {
        let _ = y.to_json();
    }
}
