//! The first-boot machinery of a root filesystem: is cloud-init there,
//! which version, which datasources and modules its configuration allows,
//! and whether the init system starts it.
//!
//! Modelled on cloud-init 22.4.2 (Debian bookworm's package):
//! - configuration: `/etc/cloud/cloud.cfg`, then `/etc/cloud/cloud.cfg.d/*.cfg`
//!   (`cloudinit/util.py` `read_conf_with_confd` / `read_conf_d`): the
//!   `.d` files are merged in reverse name order with `mergemanydict`,
//!   whose default mergers keep a key a source already set, so for a
//!   top-level key the file sorting last wins, any `.d` file wins over
//!   `cloud.cfg`, and `cloudinit/settings.py` `CFG_BUILTIN` (whose
//!   `datasource_list` has `Ec2` and `None`) fills what no file sets;
//!   `merge_how` directives are not modelled;
//! - module names as `cloudinit/config/modules.py` `form_module_name`
//!   canonicalises them (`-` → `_`, a `cc_` prefix), entries either a
//!   name or a `[name, frequency, …]` list;
//! - systemd: Debian's units are `WantedBy=cloud-init.target`
//!   (`deb-systemd-helper enable` links them in
//!   `/etc/systemd/system/cloud-init.target.wants/`) and
//!   `cloud-init-generator` pulls `cloud-init.target` into
//!   `multi-user.target` at boot unless `/etc/cloud/cloud-init.disabled`
//!   exists or the kernel command line has `cloud-init=disabled`; other
//!   distributions' units are `WantedBy=multi-user.target`. A unit linked
//!   to `/dev/null` is masked;
//! - SysV init (Amazon Linux 1, CentOS 6): `S??cloud-*` links in the
//!   default runlevel's `rc?.d` (`/etc/inittab` `initdefault`).

use disk_image::fs::{Filesystem, NodeKind, resolve};
use serde::Serialize;

use crate::userdata::yaml::{self, Yaml};

/// Largest configuration file read.
const MAX_CFG: u64 = 1 << 20;
/// Largest `/var/lib/dpkg/status` read.
const MAX_DPKG_STATUS: u64 = 64 << 20;

/// `CFG_BUILTIN["datasource_list"]` of cloud-init 22.4.2.
pub const BUILTIN_DATASOURCES: [&str; 28] = [
    "NoCloud",
    "ConfigDrive",
    "LXD",
    "OpenNebula",
    "DigitalOcean",
    "Azure",
    "AltCloud",
    "OVF",
    "MAAS",
    "GCE",
    "OpenStack",
    "AliYun",
    "Vultr",
    "Ec2",
    "CloudSigma",
    "CloudStack",
    "SmartOS",
    "Bigstep",
    "Scaleway",
    "Hetzner",
    "IBMCloud",
    "Oracle",
    "Exoscale",
    "RbxCloud",
    "UpCloud",
    "VMware",
    "NWCS",
    "None",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum InitSystem {
    Systemd { init: String },
    Sysv { init: String, runlevel: String },
    Unknown { why: String },
}

/// A configuration value and the file it came from.
#[derive(Debug, Clone, Serialize)]
pub struct Setting<T> {
    pub value: T,
    /// The file, or "built-in default".
    pub from: String,
}

/// How one of cloud-init's services is started.
#[derive(Debug, Clone, Serialize)]
pub struct Service {
    pub name: String,
    pub installed: bool,
    pub enabled: bool,
    /// The links, generator or rc scripts that start it, or why not.
    pub how: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CloudInit {
    /// The installed package's version (dpkg's status), else the Python
    /// package's `version.py`.
    pub version: Option<String>,
    pub version_from: Option<String>,
    /// Configuration files in the order cloud-init reads them.
    pub config_files: Vec<String>,
    /// Files that do not load (cloud-init logs and ignores them).
    pub config_errors: Vec<String>,
    pub datasource_list: Setting<Vec<String>>,
    pub cloud_init_modules: Setting<Vec<String>>,
    pub cloud_config_modules: Setting<Vec<String>>,
    pub cloud_final_modules: Setting<Vec<String>>,
    /// `/etc/cloud/cloud-init.disabled` or `cloud-init=disabled`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub disabled_by: Option<String>,
    pub services: Vec<Service>,
}

impl CloudInit {
    /// Whether a module (any spelling) is in a list.
    pub fn has_module(list: &[String], module: &str) -> bool {
        let want = canonical_module(module);
        list.iter().any(|m| canonical_module(m) == want)
    }

    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services.iter().find(|s| s.name == name)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct FirstBoot {
    pub init: InitSystem,
    /// `None`: cloud-init is not installed.
    pub cloud_init: Option<CloudInit>,
    /// Where boot-sim looked for it when it is not there.
    pub looked_at: Vec<String>,
}

/// `form_module_name`.
pub fn canonical_module(name: &str) -> String {
    let mut n = name.trim().replace('-', "_");
    if let Some(s) = n.strip_suffix(".py") {
        n = s.to_string();
    }
    if !n.starts_with("cc_") {
        n = format!("cc_{n}");
    }
    n
}

fn node(fs: &dyn Filesystem, path: &str) -> Option<(String, NodeKind)> {
    resolve(fs, path, 16).ok().map(|r| (r.path, r.node.kind))
}

fn is_file(fs: &dyn Filesystem, path: &str) -> bool {
    node(fs, path).is_some_and(|(_, k)| k == NodeKind::File)
}

fn read(fs: &dyn Filesystem, path: &str, max: u64) -> Option<Vec<u8>> {
    disk_image::fs::read_resolved(fs, path, max).ok().map(|(_, d)| d)
}

fn list(fs: &dyn Filesystem, dir: &str) -> Vec<(String, NodeKind)> {
    let Some((real, NodeKind::Directory)) = node(fs, dir) else { return Vec::new() };
    let mut v: Vec<(String, NodeKind)> =
        fs.list_dir(&real).map(|e| e.into_iter().map(|e| (e.name, e.kind)).collect()).unwrap_or_default();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

/// Reads the root filesystem's first-boot machinery. `cmdline` is the
/// kernel command line the loader passes (for `init=` and
/// `cloud-init=disabled`).
pub fn inspect(fs: &dyn Filesystem, cmdline: &str) -> FirstBoot {
    let init = init_system(fs, cmdline);
    let mut looked_at = Vec::new();
    let Some((pkg, version_py)) = find_package(fs, &mut looked_at) else {
        return FirstBoot { init, cloud_init: None, looked_at };
    };
    let (mut version, mut version_from) = (None, None);
    if let Some(v) = dpkg_version(fs) {
        version = Some(v);
        version_from = Some("/var/lib/dpkg/status".to_string());
    } else if let Some(v) = read(fs, &version_py, MAX_CFG).and_then(|b| python_version(&String::from_utf8_lossy(&b))) {
        version = Some(v);
        version_from = Some(version_py.clone());
    }
    let _ = pkg;
    // Configuration, in read order.
    let mut files = Vec::new();
    if is_file(fs, "/etc/cloud/cloud.cfg") {
        files.push("/etc/cloud/cloud.cfg".to_string());
    }
    for (name, _) in list(fs, "/etc/cloud/cloud.cfg.d") {
        let p = format!("/etc/cloud/cloud.cfg.d/{name}");
        if name.ends_with(".cfg") && is_file(fs, &p) {
            files.push(p);
        }
    }
    let mut config_errors = Vec::new();
    let mut loaded: Vec<(String, Yaml)> = Vec::new();
    // One budget for all the files: a cloud.cfg.d of many alias bombs
    // costs no more than one.
    let mut budget = yaml::Budget::default();
    for f in &files {
        let Some(bytes) = read(fs, f, MAX_CFG) else {
            config_errors.push(format!("{f}: cannot be read (over {MAX_CFG} bytes?)"));
            continue;
        };
        match yaml::load_within(&String::from_utf8_lossy(&bytes), &mut budget) {
            Ok(Some(v @ Yaml::Map(_))) => loaded.push((f.clone(), v)),
            Ok(None) => {}
            Ok(Some(v)) => config_errors.push(format!("{f}: the root is a {}, not a mapping", v.type_name())),
            Err(e) => config_errors.push(format!("{f}: {e}")),
        }
    }
    // The winner for a top-level key: the last file that sets it.
    let setting = |key: &str, default: &[&str]| -> Setting<Vec<String>> {
        for (f, v) in loaded.iter().rev() {
            if let Some(val) = v.get(key) {
                return Setting { value: names(val), from: f.clone() };
            }
        }
        Setting { value: default.iter().map(|s| s.to_string()).collect(), from: "built-in default".into() }
    };
    let datasource_list = setting("datasource_list", &BUILTIN_DATASOURCES);
    let cloud_init_modules = setting("cloud_init_modules", &[]);
    let cloud_config_modules = setting("cloud_config_modules", &[]);
    let cloud_final_modules = setting("cloud_final_modules", &[]);
    let disabled_by = if node(fs, "/etc/cloud/cloud-init.disabled").is_some() {
        Some("/etc/cloud/cloud-init.disabled".to_string())
    } else if cmdline.split_whitespace().any(|a| a == "cloud-init=disabled") {
        Some("the kernel command line (cloud-init=disabled)".to_string())
    } else {
        None
    };
    let services = match &init {
        InitSystem::Sysv { runlevel, .. } => sysv_services(fs, runlevel),
        _ => systemd_services(fs),
    };
    FirstBoot {
        init,
        cloud_init: Some(CloudInit {
            version,
            version_from,
            config_files: files,
            config_errors,
            datasource_list,
            cloud_init_modules,
            cloud_config_modules,
            cloud_final_modules,
            disabled_by,
            services,
        }),
        looked_at,
    }
}

/// Module or datasource names of a list value.
fn names(v: &Yaml) -> Vec<String> {
    match v {
        Yaml::Seq(items) => items
            .iter()
            .filter_map(|i| match i {
                Yaml::Str(s) => Some(s.clone()),
                Yaml::Seq(inner) => inner.first().and_then(Yaml::as_str).map(str::to_string),
                _ => None,
            })
            .collect(),
        // `datasource_list: Ec2` — cloud-init iterates the string's
        // characters; as names that matches nothing.
        Yaml::Str(s) => s.chars().map(|c| c.to_string()).collect(),
        _ => Vec::new(),
    }
}

/// The Python package directory and its `version.py`.
fn find_package(fs: &dyn Filesystem, looked_at: &mut Vec<String>) -> Option<(String, String)> {
    for lib in ["/usr/lib", "/usr/lib64", "/usr/local/lib"] {
        for (name, _) in list(fs, lib) {
            if !name.starts_with("python") {
                continue;
            }
            for sub in ["dist-packages", "site-packages"] {
                let dir = format!("{lib}/{name}/{sub}/cloudinit");
                looked_at.push(dir.clone());
                let v = format!("{dir}/version.py");
                if is_file(fs, &v) {
                    return Some((dir, v));
                }
            }
        }
    }
    if looked_at.is_empty() {
        looked_at.push("/usr/lib/python*/{dist,site}-packages/cloudinit (no /usr/lib/python* directory)".into());
    }
    None
}

/// `__VERSION__ = "22.4.2"`, or `_PACKAGED_VERSION` when set.
fn python_version(text: &str) -> Option<String> {
    let value = |key: &str| {
        text.lines().find_map(|l| {
            let rest = l.trim().strip_prefix(key)?.trim_start().strip_prefix('=')?.trim();
            Some(rest.trim_matches(['"', '\'']).to_string())
        })
    };
    match value("_PACKAGED_VERSION") {
        Some(v) if !v.starts_with("@@") => Some(v),
        _ => value("__VERSION__"),
    }
}

/// The `Version:` of the installed `cloud-init` stanza of dpkg's status.
fn dpkg_version(fs: &dyn Filesystem) -> Option<String> {
    let status = read(fs, "/var/lib/dpkg/status", MAX_DPKG_STATUS)?;
    let text = String::from_utf8_lossy(&status);
    for stanza in text.split("\n\n") {
        let field = |k: &str| stanza.lines().find_map(|l| l.strip_prefix(k).map(str::trim));
        if field("Package:") == Some("cloud-init") && field("Status:").is_some_and(|s| s.ends_with(" installed")) {
            return field("Version:").map(str::to_string);
        }
    }
    None
}

fn init_system(fs: &dyn Filesystem, cmdline: &str) -> InitSystem {
    let init = cmdline.split_whitespace().filter_map(|a| a.strip_prefix("init=")).next_back().unwrap_or("/sbin/init");
    let Ok(r) = resolve(fs, init, 16) else {
        return InitSystem::Unknown { why: format!("{init} is not on the root filesystem") };
    };
    let path = if r.hops.is_empty() { init.to_string() } else { format!("{init} → {}", r.path) };
    if r.path.ends_with("/systemd") {
        return InitSystem::Systemd { init: path };
    }
    if let Some(b) = read(fs, "/etc/inittab", MAX_CFG) {
        let text = String::from_utf8_lossy(&b);
        let runlevel = text
            .lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .find_map(|l| {
                let f: Vec<&str> = l.split(':').collect();
                (f.len() >= 3 && f[2] == "initdefault").then(|| f[1].to_string())
            })
            .unwrap_or_else(|| "3".into());
        return InitSystem::Sysv { init: path, runlevel };
    }
    if node(fs, "/lib/systemd/systemd").is_some() {
        return InitSystem::Systemd { init: path };
    }
    InitSystem::Unknown { why: format!("{path}: neither systemd nor SysV init (/etc/inittab)") }
}

const SERVICES: [&str; 4] = ["cloud-init-local", "cloud-init", "cloud-config", "cloud-final"];

fn systemd_services(fs: &dyn Filesystem) -> Vec<Service> {
    let etc = "/etc/systemd/system";
    let wants: Vec<(String, Vec<String>)> = list(fs, etc)
        .into_iter()
        .filter(|(n, k)| *k == NodeKind::Directory && (n.ends_with(".wants") || n.ends_with(".requires")))
        .map(|(n, _)| {
            let entries = list(fs, &format!("{etc}/{n}")).into_iter().map(|(e, _)| e).collect();
            (n, entries)
        })
        .collect();
    let linked = |unit: &str| -> Vec<String> {
        wants.iter().filter(|(_, e)| e.iter().any(|x| x == unit)).map(|(d, _)| format!("{etc}/{d}/{unit}")).collect()
    };
    let installed = |unit: &str| {
        ["/etc/systemd/system", "/lib/systemd/system", "/usr/lib/systemd/system"]
            .iter()
            .any(|d| is_file(fs, &format!("{d}/{unit}")))
    };
    let generator = [
        "/lib/systemd/system-generators/cloud-init-generator",
        "/usr/lib/systemd/system-generators/cloud-init-generator",
    ]
    .into_iter()
    .find(|g| is_file(fs, g));
    // How cloud-init.target is reached.
    let target_links = linked("cloud-init.target");
    let target_how = if !target_links.is_empty() {
        Some(target_links.join(", "))
    } else {
        generator.map(|g| format!("{g} (adds it to multi-user.target at boot)"))
    };
    SERVICES
        .iter()
        .map(|s| {
            let unit = format!("{s}.service");
            let masked = fs.read_link(&format!("{etc}/{unit}")).is_ok_and(|t| t == "/dev/null");
            let links = linked(&unit);
            let inst = installed(&unit);
            let (enabled, how) = if masked {
                (false, format!("masked ({etc}/{unit} → /dev/null)"))
            } else if !inst {
                (false, format!("{unit} is not installed"))
            } else if links.is_empty() {
                (false, format!("no {etc}/*.wants/{unit} link: not enabled"))
            } else {
                let via_target: Vec<&String> =
                    links.iter().filter(|l| l.contains("/cloud-init.target.wants/")).collect();
                if via_target.len() == links.len() {
                    match &target_how {
                        Some(t) => (true, format!("{}; cloud-init.target via {t}", links.join(", "))),
                        None => (
                            false,
                            format!(
                                "{} but nothing pulls in cloud-init.target (no cloud-init-generator, no link)",
                                links.join(", ")
                            ),
                        ),
                    }
                } else {
                    (true, links.join(", "))
                }
            };
            Service { name: unit, installed: inst, enabled, how }
        })
        .collect()
}

fn sysv_services(fs: &dyn Filesystem, runlevel: &str) -> Vec<Service> {
    let dirs = [format!("/etc/rc{runlevel}.d"), format!("/etc/rc.d/rc{runlevel}.d")];
    SERVICES
        .iter()
        .map(|s| {
            let script =
                ["/etc/init.d", "/etc/rc.d/init.d"].iter().map(|d| format!("{d}/{s}")).find(|p| is_file(fs, p));
            let link = dirs.iter().find_map(|d| {
                list(fs, d)
                    .into_iter()
                    .find(|(n, _)| {
                        n.len() > 3
                            && n.starts_with('S')
                            && n[1..3].bytes().all(|b| b.is_ascii_digit())
                            && &n[3..] == *s
                    })
                    .map(|(n, _)| format!("{d}/{n}"))
            });
            let (enabled, how) = match (&script, link) {
                (None, _) => (false, format!("no /etc/init.d/{s} script")),
                (Some(_), Some(l)) => (true, format!("{l} (runlevel {runlevel})")),
                (Some(p), None) => (false, format!("{p} exists but no S??{s} link in runlevel {runlevel}")),
            };
            Service { name: s.to_string(), installed: script.is_some(), enabled, how }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_and_versions() {
        assert_eq!(canonical_module("scripts-user"), "cc_scripts_user");
        assert_eq!(canonical_module("cc_scripts_user.py"), "cc_scripts_user");
        assert!(CloudInit::has_module(&["scripts_user".into()], "scripts-user"));
        assert_eq!(
            python_version("__VERSION__ = \"22.4.2\"\n_PACKAGED_VERSION = \"@@PACKAGED_VERSION@@\"\n").as_deref(),
            Some("22.4.2")
        );
        assert_eq!(
            python_version("__VERSION__ = \"19.3\"\n_PACKAGED_VERSION = '19.3-46.amzn2'\n").as_deref(),
            Some("19.3-46.amzn2")
        );
    }
}
