//! Interop: boot-sim's user-data classification against Debian's
//! cloud-init 22.4.2 on the same bytes. `scripts/interop-setup.sh` (via
//! `scripts/interop-cloud-init.sh`) unpacks Debian's `cloud-init` package
//! into `target/interop/cloud-init` and installs the Debian Python modules
//! it imports; `tests/interop/cloud_init_parts.py` runs its
//! `cloudinit.user_data.UserDataProcessor` with Debian's `/usr/bin/python3`
//! over every case and prints the parts it attaches. boot-sim's
//! `ami::userdata::analyse` must give the same parts: content types,
//! filenames and payload bytes, in order, and must fail where cloud-init's
//! processing raises.
//!
//! Locally a missing piece skips; under `BOOT_SIM_INTEROP=require` it fails.

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

use ami::userdata::{self, Analysis};
use boot_sim::{interop_dir, interop_tool, workspace_root};

fn gz(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn b64(data: &[u8]) -> String {
    use base64::Engine as _;
    let s = base64::engine::general_purpose::STANDARD.encode(data);
    s.as_bytes().chunks(76).map(|c| String::from_utf8_lossy(c).into_owned() + "\n").collect()
}

fn mime(boundary: &str, parts: &[(&str, &str)]) -> Vec<u8> {
    let mut m = format!("Content-Type: multipart/mixed; boundary=\"{boundary}\"\nMIME-Version: 1.0\n\n");
    for (headers, body) in parts {
        m.push_str(&format!("--{boundary}\n{headers}\n\n{body}\n"));
    }
    m.push_str(&format!("--{boundary}--\n"));
    m.into_bytes()
}

/// Every case, by name.
pub fn cases() -> Vec<(&'static str, Vec<u8>)> {
    let mut v: Vec<(&'static str, Vec<u8>)> = vec![
        ("script", b"#!/bin/bash\necho hello > /tmp/hello\n".to_vec()),
        ("cloud-config", b"#cloud-config\nruncmd:\n  - echo hi\npackages: [nginx]\n".to_vec()),
        ("cloud-config-bad-yaml", b"#cloud-config\nruncmd:\n  - echo hi\n - bad\n".to_vec()),
        ("cloud-config-upper-indented", b"  \n\t#Cloud-Config\nbootcmd: [ls]\n".to_vec()),
        ("boothook", b"#cloud-boothook\n#!/bin/sh\necho boot\n".to_vec()),
        ("include", b"#include\nfile:///nonexistent/boot-sim-a\n# comment\n#include-once file:///nonexistent/b\n".to_vec()),
        ("part-handler", b"#part-handler\ndef list_types():\n    return []\n".to_vec()),
        ("jinja", b"## template: jinja\n#!/bin/sh\necho {{ v1.instance_id }}\n".to_vec()),
        ("no-shebang", b"echo this has no shebang\n".to_vec()),
        ("binary-junk", vec![0x00, 0xff, 0x13, 0x37, 0x80, 0x81, 0xfe, 0x10, 0x00]),
        ("script-invalid-utf8", b"#!/bin/sh\necho \xff\xfe\n".to_vec()),
        ("empty", Vec::new()),
        ("gzip-script", gz(b"#!/bin/sh\necho gz\n")),
        ("gzip-truncated", gz(b"#!/bin/sh\necho gz\n")[..12].to_vec()),
        ("gzip-zeros-1mib", gz(&vec![0u8; 1 << 20])),
        ("cloud-config-archive", b"#cloud-config-archive\n- '#!/bin/sh\n\n  echo a'\n- {type: text/cloud-boothook, content: '#cloud-boothook\n\n  x', filename: bh}\n- 'runcmd: [ls]'\n- content: '#cloud-config\n\n    a: 1'\n".to_vec()),
        ("cloud-config-alias-bomb", {
            let mut s = String::from("#cloud-config\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
            for i in 1..9 {
                let p = i - 1;
                s.push_str(&format!("a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"));
            }
            s.into_bytes()
        }),
        ("mime-basic", mime("==BOUNDARY==", &[
            ("Content-Type: text/x-shellscript; charset=\"us-ascii\"", "#!/bin/bash\necho one"),
            ("Content-Type: text/cloud-config\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"cc.yaml\"", &b64(b"#cloud-config\nruncmd: [ls]\n")),
            ("Content-Type: text/plain", "#!/bin/sh\necho plain"),
            ("Content-Type: text/plain", "not a script"),
            ("Content-Type: application/octet-stream", "#!/bin/sh\nnot looked at"),
            ("Content-Type: text/x-shellscript", "no shebang in a shellscript part"),
            ("Content-Type: text/x-shellscript-per-boot", "#!/bin/sh\necho per boot"),
            ("Content-Type: text/plain\nContent-Transfer-Encoding: quoted-printable", "#!/bin/sh\necho a=3Db =\nc"),
        ])),
        ("mime-gzip-part", mime("b", &[
            ("Content-Type: application/x-gzip\nContent-Transfer-Encoding: base64", &b64(&gz(b"#cloud-config\nbootcmd: [ls]\n"))),
            ("Content-Type: application/gzip\nContent-Transfer-Encoding: base64", &b64(b"not gzip")),
            ("Content-Type: application/gzip\nContent-Transfer-Encoding: base64", &b64(&gz(b"\xff\xfe binary"))),
        ])),
        ("mime-nested", {
            let inner = String::from_utf8(mime("inner", &[("Content-Type: text/x-shellscript", "#!/bin/sh\necho inner")])).unwrap();
            let inner = inner.replacen("MIME-Version: 1.0\n", "", 1);
            let (h, b) = inner.split_once("\n\n").unwrap();
            mime("outer", &[(h, b.trim_end()), ("Content-Type: text/cloud-boothook", "#cloud-boothook\necho outer")])
        }),
        ("mime-no-close-boundary", b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=zz\n\n--zz\nContent-Type: text/x-shellscript\n\n#!/bin/sh\necho x\n".to_vec()),
        ("mime-no-boundary-param", b"MIME-Version: 1.0\nContent-Type: multipart/mixed\n\n--zz\n\n#!/bin/sh\n".to_vec()),
        ("mime-crlf", mime("c", &[("Content-Type: text/x-shellscript", "#!/bin/sh\r\necho crlf\r")]).iter().flat_map(|&b| if b == b'\n' { vec![b'\r', b'\n'] } else { vec![b] }).collect()),
        ("mime-single", b"Content-Type: text/x-shellscript\nMIME-Version: 1.0\n\n#!/bin/sh\necho single\n".to_vec()),
        ("mime-invalid-utf8", b"MIME-Version: 1.0\nContent-Type: text/plain\n\n#!/bin/sh\necho \xff\n".to_vec()),
        ("mime-in-script", b"#!/bin/sh\n# MIME-Version: 1.0 in a comment makes it MIME\necho hi\n".to_vec()),
    ];
    let many: Vec<(String, String)> =
        (0..3000).map(|i| ("Content-Type: text/x-shellscript".to_string(), format!("#!/bin/sh\necho {i}"))).collect();
    let refs: Vec<(&str, &str)> = many.iter().map(|(h, b)| (h.as_str(), b.as_str())).collect();
    v.push(("mime-3000-parts", mime("m", &refs)));
    v
}

fn debian_cloud_init() -> Option<(PathBuf, PathBuf)> {
    let python = interop_tool("python3").map(|_| PathBuf::from("/usr/bin/python3"))?;
    let pkg = interop_dir().join("cloud-init/usr/lib/python3/dist-packages");
    if !pkg.join("cloudinit/user_data.py").is_file() {
        return boot_sim_missing("Debian's cloud-init unpacked in target/interop/cloud-init");
    }
    Some((python, pkg))
}

fn boot_sim_missing<T>(what: &str) -> Option<T> {
    let msg = format!("interop: {what} is missing; run `bash scripts/interop-setup.sh` first");
    if std::env::var("BOOT_SIM_INTEROP").as_deref() == Ok("require") {
        panic!("{msg} (BOOT_SIM_INTEROP=require)");
    }
    eprintln!("SKIPPED: {msg}");
    None
}

fn ours(a: &Analysis) -> serde_json::Value {
    use base64::Engine as _;
    if a.error.is_some() {
        return serde_json::json!({"error": true});
    }
    let parts: Vec<serde_json::Value> = a
        .parts
        .iter()
        .map(|p| {
            serde_json::json!({
                "content_type": p.content_type,
                "filename": p.filename,
                "payload": base64::engine::general_purpose::STANDARD.encode(&p.payload),
            })
        })
        .collect();
    serde_json::json!({ "parts": parts })
}

#[test]
fn parts_match_cloud_init_user_data_processor() {
    let Some((python, pkg)) = debian_cloud_init() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cases = cases();
    let mut files = Vec::new();
    for (name, bytes) in &cases {
        let f = dir.path().join(name);
        std::fs::write(&f, bytes).unwrap();
        files.push(f);
    }
    let out = Command::new(&python)
        .env("PYTHONPATH", &pkg)
        .arg(workspace_root().join("tests/interop/cloud_init_parts.py"))
        .args(&files)
        .output()
        .unwrap();
    assert!(out.status.success(), "cloud-init: {}", String::from_utf8_lossy(&out.stderr));
    let lines: Vec<serde_json::Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), cases.len());
    let mut bad = Vec::new();
    for ((name, bytes), theirs) in cases.iter().zip(&lines) {
        let a = userdata::analyse(bytes);
        assert!(!a.bound, "{name}: boot-sim stopped at a bound: {:?}", a.error);
        // The include cases name files that do not exist: cloud-init's
        // fetch fails and (ERROR_ON_USER_DATA_FAILURE) so does the whole
        // user-data; boot-sim does not fetch and lists the URLs.
        let mine = if a.includes.is_empty() { ours(&a) } else { serde_json::json!({"error": true}) };
        let theirs = match theirs.get("error") {
            Some(_) => serde_json::json!({"error": true}),
            None => serde_json::json!({"parts": theirs["parts"]}),
        };
        if mine != theirs {
            bad.push(format!("{name}:\n  boot-sim   {mine}\n  cloud-init {theirs}"));
        }
    }
    assert!(bad.is_empty(), "{} of {} cases differ:\n{}", bad.len(), cases.len(), bad.join("\n"));
}

/// Runs a debugfs command script on an ext2 image (writable).
fn debugfs(img: &std::path::Path, script: &str) {
    let debugfs = boot_sim::find_tool("debugfs").unwrap();
    let f = img.with_extension("debugfs");
    std::fs::write(&f, script).unwrap();
    let out = Command::new(debugfs).arg("-w").arg("-f").arg(&f).arg(img).output().unwrap();
    assert!(out.status.success(), "debugfs: {}", String::from_utf8_lossy(&out.stderr));
}

/// Debian's cloud-init files laid out as its package lays them out (copied
/// from the unpacked package at test time) on a copy of the pv-kernel
/// fixture, systemd enabled as `deb-systemd-helper` enables it, then
/// `datasource_list` set by a `cloud.cfg.d` file: without Ec2 nothing runs,
/// with it the script runs in cloud-final.
#[test]
fn debian_cloud_init_layout_on_an_image() {
    let Some((_python, pkg)) = debian_cloud_init() else { return };
    if boot_sim::interop_tool("debugfs").is_none() {
        return;
    }
    let Some(mke2fs) = boot_sim::interop_tool("mke2fs") else { return };
    let root = pkg.parent().unwrap().parent().unwrap().parent().unwrap().parent().unwrap().to_path_buf();
    let dir = tempfile::tempdir().unwrap();
    let tree = dir.path().join("tree");
    let copy = |rel: &str| {
        let to = tree.join(rel);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(root.join(rel), &to).unwrap_or_else(|e| panic!("{rel}: {e}"));
    };
    let link = |target: &str, at: &str| {
        let at = tree.join(at);
        std::fs::create_dir_all(at.parent().unwrap()).unwrap();
        std::os::unix::fs::symlink(target, at).unwrap();
    };
    copy("etc/cloud/cloud.cfg");
    copy("etc/cloud/cloud.cfg.d/05_logging.cfg");
    copy("usr/lib/python3/dist-packages/cloudinit/version.py");
    copy("lib/systemd/system-generators/cloud-init-generator");
    for s in ["cloud-init-local", "cloud-init", "cloud-config", "cloud-final"] {
        let u = format!("lib/systemd/system/{s}.service");
        copy(&u);
        // As deb-systemd-helper enable links a WantedBy=cloud-init.target unit.
        link(&format!("/{u}"), &format!("etc/systemd/system/cloud-init.target.wants/{s}.service"));
    }
    // systemd itself: any file; /sbin/init links to it.
    std::fs::write(tree.join("lib/systemd/systemd"), b"\x7fELF").unwrap();
    link("/lib/systemd/systemd", "sbin/init");
    std::fs::write(
        tree.join("etc/cloud/cloud.cfg.d/90_dpkg.cfg"),
        "datasource_list: [ NoCloud, ConfigDrive, OpenStack ]\n",
    )
    .unwrap();
    let img = dir.path().join("ci.img");
    let out =
        Command::new(mke2fs).args(["-q", "-F", "-t", "ext4", "-d"]).arg(&tree).arg(&img).arg("8M").output().unwrap();
    assert!(out.status.success(), "mke2fs: {}", String::from_utf8_lossy(&out.stderr));

    let ud = userdata::analyse(b"#!/bin/bash\necho hi\n#cloud-config is not this\n");
    let judge = |img: &std::path::Path| {
        let image: std::sync::Arc<dyn disk_image::ReadAt> =
            std::sync::Arc::new(disk_image::RawImage::open(img).unwrap());
        let r = ami::rootfs::open(image, "root=/dev/xvda ro", None).unwrap();
        let fb = ami::firstboot::inspect(&*r.fs, "root=/dev/xvda ro");
        (ami::bootstrap::judge(&ud, &fb), fb)
    };
    let (v, fb) = judge(&img);
    let ci = fb.cloud_init.as_ref().expect("cloud-init found");
    assert_eq!(ci.version.as_deref(), Some("22.4.2"));
    assert_eq!(ci.datasource_list.from, "/etc/cloud/cloud.cfg.d/90_dpkg.cfg");
    assert!(ami::firstboot::CloudInit::has_module(&ci.cloud_final_modules.value, "scripts-user"));
    assert_eq!(ci.cloud_final_modules.from, "/etc/cloud/cloud.cfg");
    assert!(ci.services.iter().all(|s| s.enabled), "{:?}", ci.services);
    assert!(matches!(fb.init, ami::firstboot::InitSystem::Systemd { .. }));
    assert!(!v.runs && v.summary.contains("Ec2 is not in datasource_list"), "{v:?}");

    // A later file adds Ec2: it wins over 90_dpkg.cfg.
    let cfg = dir.path().join("99_ec2.cfg");
    std::fs::write(&cfg, "datasource_list: [ Ec2, None ]\n").unwrap();
    debugfs(&img, &format!("write {} /etc/cloud/cloud.cfg.d/99_ec2.cfg\n", cfg.display()));
    let (v, _) = judge(&img);
    assert!(v.runs && v.blocker.is_none(), "{v:?}");
    assert!(v.items[0].when.as_deref().unwrap().contains("scripts-user"), "{v:?}");

    // Masking cloud-final stops the script (it is the stage that runs it).
    debugfs(&img, "symlink /etc/systemd/system/cloud-final.service /dev/null\n");
    let (v, _) = judge(&img);
    assert!(!v.runs && v.items[0].why_not.as_deref().unwrap().contains("masked"), "{v:?}");
}

/// `#cloud-config` documents for the schema check: valid ones, and ones
/// with errors at the top, in nested items, in enums, in formats.
fn schema_cases() -> Vec<(&'static str, &'static str)> {
    vec![
        ("runcmd-ok", "runcmd:\n  - echo hi\n  - [ls, -l]\npackages: [nginx, [curl, '7.0']]\n"),
        ("runcmd-string", "runcmd: \"echo hi\"\n"),
        ("runcmd-item-dict", "runcmd:\n  - {a: 1}\n"),
        ("bootcmd-ok", "bootcmd:\n  - [sh, -c, 'echo boot']\n"),
        ("package-update-yes", "package_update: yes\npackage_upgrade: off\n"),
        ("package-update-string", "package_update: \"maybe\"\n"),
        (
            "users-ok",
            "users:\n  - default\n  - name: web\n    groups: [adm, sudo]\n    shell: /bin/bash\n    sudo: ['ALL=(ALL) NOPASSWD:ALL']\n    lock_passwd: true\n",
        ),
        ("users-groups-int", "users:\n  - name: a\n    groups: 5\n"),
        ("users-expiredate-ok", "users:\n  - name: a\n    expiredate: '2030-01-31'\n"),
        ("users-expiredate-bad", "users:\n  - name: a\n    expiredate: 'next tuesday'\n"),
        (
            "write-files-ok",
            "write_files:\n  - path: /etc/motd\n    content: hello\n    permissions: '0644'\n    owner: root:root\n    encoding: b64\n",
        ),
        ("write-files-no-path", "write_files:\n  - content: hello\n"),
        ("write-files-bad-encoding", "write_files:\n  - path: /x\n    encoding: rot13\n"),
        ("power-state-ok", "power_state:\n  mode: reboot\n  delay: now\n"),
        ("power-state-bad-mode", "power_state:\n  mode: explode\n"),
        ("unknown-key", "runncmd:\n  - echo typo\nmy_own_key: 1\n"),
        ("deprecated-key", "apt_update: true\n"),
        ("hostname-not-checked", "fqdn: 'not a host name!'\nhostname: web\n"),
        ("ssh-authorized-keys-string", "ssh_authorized_keys: 'ssh-rsa AAAA'\n"),
        ("ssh-keys-ok", "ssh_authorized_keys: ['ssh-rsa AAAA x@y']\nssh_pwauth: true\n"),
        ("timezone-int", "timezone: 5\n"),
        (
            "apt-sources-ok",
            "apt:\n  sources:\n    a:\n      source: 'deb http://x y z'\n      keyserver: 'not a uri'\n",
        ),
        ("ntp-servers-ok", "ntp:\n  enabled: true\n  servers: [a.example]\n"),
        ("growpart-bad-mode", "growpart:\n  mode: sometimes\n"),
        ("final-message-list", "final_message: [a]\n"),
    ]
}

/// `cloud-init schema --config-file FILE` of Debian's package (run from
/// the unpacked package with /usr/bin/python3) and boot-sim's schema check
/// agree on which `#cloud-config` files are valid. Deprecations are not
/// errors for either (cloud-init prints them and says "Valid cloud-config").
#[test]
fn schema_check_agrees_with_cloud_init_schema() {
    let Some((python, pkg)) = debian_cloud_init() else { return };
    let root = pkg.parent().unwrap().parent().unwrap().parent().unwrap().parent().unwrap().to_path_buf();
    let cli = root.join("usr/bin/cloud-init");
    let dir = tempfile::tempdir().unwrap();
    let mut bad = Vec::new();
    let (mut valid, mut invalid) = (0, 0);
    for (name, body) in schema_cases() {
        let text = format!("#cloud-config\n{body}");
        let f = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&f, &text).unwrap();
        let out = Command::new(&python)
            .env("PYTHONPATH", &pkg)
            .arg(&cli)
            .args(["schema", "--config-file"])
            .arg(&f)
            .output()
            .unwrap();
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let theirs = match out.status.code() {
            Some(0) if said.contains("Valid cloud-config") => true,
            Some(1) if said.contains("Cloud config schema errors") => false,
            _ => panic!("{name}: cloud-init schema: {:?}\n{said}", out.status),
        };
        let a = userdata::analyse(text.as_bytes());
        let cc = a.parts[0].cloud_config.as_ref().unwrap_or_else(|| panic!("{name}: not a #cloud-config part"));
        assert!(cc.error.is_none(), "{name}: {:?}", cc.error);
        let mine = cc.schema_errors.is_empty();
        if theirs {
            valid += 1
        } else {
            invalid += 1
        }
        if mine != theirs {
            bad.push(format!("{name}: boot-sim {:?}\n  cloud-init: {}", cc.schema_errors, said.trim()));
        }
    }
    assert!(bad.is_empty(), "{} of {} cases differ:\n{}", bad.len(), valid + invalid, bad.join("\n"));
    assert!(valid >= 8 && invalid >= 8, "{valid} valid, {invalid} invalid: the cases should cover both");
}
