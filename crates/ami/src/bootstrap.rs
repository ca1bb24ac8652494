//! The answer to "will my user-data run on this AMI, when, as whom, and if
//! not, why": a user-data [`Analysis`] against the image's [`FirstBoot`].
//!
//! When things run (cloud-init 22.4.2, `config/cloud.cfg.tmpl`,
//! `cloudinit/handlers/*.py`, `cloudinit/config/cc_*.py`): everything as
//! root. `cloud-init.service` (init stage, after the network is up,
//! before sshd) reads the user-data from the Ec2 datasource, runs
//! boothooks (every boot) and part handlers, writes shell-script parts to
//! `/var/lib/cloud/instance/scripts/`, and runs the `cloud_init_modules`
//! (`bootcmd`: every boot). `cloud-config.service` runs the
//! `cloud_config_modules` (`runcmd` writes its commands as a script).
//! `cloud-final.service` (after `multi-user.target`, last) runs the
//! `cloud_final_modules`: `scripts-user` runs the shell-script parts and
//! `runcmd`'s script once per instance; `scripts-per-boot/-instance/-once`
//! run the per-frequency parts.

use serde::Serialize;

use crate::firstboot::{CloudInit, FirstBoot, InitSystem};
use crate::userdata::{Analysis, Part, PartKind};

/// One thing in the user-data and its fate.
#[derive(Debug, Clone, Serialize)]
pub struct Item {
    /// "part-001 (text/x-shellscript)", "runcmd of part-002".
    pub what: String,
    pub runs: bool,
    /// When and as whom, when it runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why_not: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// The verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    /// Something runs.
    pub runs: bool,
    /// One line.
    pub summary: String,
    /// Why nothing runs (the first blocker found), and the fix.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocker: Option<Blocker>,
    pub items: Vec<Item>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Blocker {
    pub why: String,
    pub fix: String,
}

/// The version whose behaviour boot-sim models.
pub const MODELLED_CLOUD_INIT: &str = "22.4.2";

fn blocker(a: &Analysis, fb: &FirstBoot) -> Option<Blocker> {
    if let Some(e) = &a.error {
        let fix = if a.bound {
            "make the user-data smaller or simpler".to_string()
        } else {
            "save the user-data as UTF-8".to_string()
        };
        return Some(Blocker { why: e.clone(), fix });
    }
    let Some(ci) = &fb.cloud_init else {
        return Some(Blocker {
            why: "cloud-init is not installed on the root filesystem: EC2 only serves the user-data at \
                  http://169.254.169.254/latest/user-data; nothing on this image reads it"
                .into(),
            fix: "install cloud-init in the image (apt-get install cloud-init / yum install cloud-init) and register it again".into(),
        });
    };
    if let Some(by) = &ci.disabled_by {
        return Some(Blocker {
            why: format!("cloud-init is disabled by {by}"),
            fix: "remove /etc/cloud/cloud-init.disabled (or cloud-init=disabled from the kernel command line)".into(),
        });
    }
    let ds = &ci.datasource_list;
    if !ds.value.iter().any(|d| d == "Ec2") {
        let none = if ds.value.iter().any(|d| d == "None") { " (DataSourceNone has no user-data)" } else { "" };
        return Some(Blocker {
            why: format!(
                "Ec2 is not in datasource_list [{}] (set by {}): on EC2 cloud-init finds no datasource with this user-data{none}",
                ds.value.join(", "),
                ds.from
            ),
            fix: format!("add Ec2 to datasource_list in {} (e.g. datasource_list: [ Ec2, None ])", ds.file_to_edit()),
        });
    }
    if let Some(s) = ci.service("cloud-init.service").or_else(|| ci.service("cloud-init"))
        && !s.enabled
    {
        return Some(Blocker {
            why: format!("{} does not start at boot: {}; it is the stage that reads the user-data", s.name, s.how),
            fix: enable_fix(fb, &s.name),
        });
    }
    None
}

impl crate::firstboot::Setting<Vec<String>> {
    /// The file to edit for this setting.
    fn file_to_edit(&self) -> String {
        if self.from.starts_with('/') { self.from.clone() } else { "/etc/cloud/cloud.cfg.d/90_ec2.cfg".into() }
    }
}

fn enable_fix(fb: &FirstBoot, service: &str) -> String {
    match fb.init {
        InitSystem::Sysv { .. } => {
            format!("chkconfig {service} on (or add its S??{service} link in the default runlevel)")
        }
        _ => format!("systemctl enable {service} (and unmask it if masked), in the image"),
    }
}

/// Whether the final stage runs, and why not.
fn final_stage(fb: &FirstBoot, ci: &CloudInit) -> Result<(), (String, String)> {
    match ci.service("cloud-final.service").or_else(|| ci.service("cloud-final")) {
        Some(s) if !s.enabled => {
            Err((format!("{} does not start at boot: {}", s.name, s.how), enable_fix(fb, &s.name)))
        }
        _ => Ok(()),
    }
}

fn module(ci: &CloudInit, stage: &str, m: &str) -> Result<(), (String, String)> {
    let s = match stage {
        "cloud_init_modules" => &ci.cloud_init_modules,
        "cloud_config_modules" => &ci.cloud_config_modules,
        _ => &ci.cloud_final_modules,
    };
    if CloudInit::has_module(&s.value, m) {
        Ok(())
    } else {
        Err((
            format!("{m} is not in {stage} (set by {})", s.from),
            format!("add {m} to {stage} in {}", s.file_to_edit()),
        ))
    }
}

fn item(what: String, r: Result<String, (String, String)>) -> Item {
    match r {
        Ok(when) => Item { what, runs: true, when: Some(when), why_not: None, fix: None },
        Err((why, fix)) => Item { what, runs: false, when: None, why_not: Some(why), fix: Some(fix) },
    }
}

const FINAL: &str = "in cloud-final.service (late in boot, after the network and multi-user.target), as root";

fn part_items(p: &Part, fb: &FirstBoot, ci: &CloudInit, out: &mut Vec<Item>) {
    let what = format!("{} ({})", p.filename, p.content_type);
    let script = |m: &str, freq: &str| -> Result<String, (String, String)> {
        module(ci, "cloud_final_modules", m)?;
        final_stage(fb, ci)?;
        Ok(format!("{freq}, by {m} {FINAL}"))
    };
    let kind = match p.kind {
        PartKind::Jinja => match p.rendered_type.as_deref().map(PartKind::of) {
            Some(k) if k != PartKind::Unhandled => k,
            _ => {
                out.push(item(
                    what,
                    Err((
                        "a jinja template whose body does not start with a type cloud-init handles".into(),
                        "put #!, #cloud-config or #cloud-boothook on the line after ## template: jinja".into(),
                    )),
                ));
                return;
            }
        },
        k => k,
    };
    match kind {
        PartKind::ShellScript => out.push(item(what, script("scripts-user", "once per instance"))),
        PartKind::ShellScriptPerBoot => out.push(item(what, script("scripts-per-boot", "every boot"))),
        PartKind::ShellScriptPerInstance => out.push(item(what, script("scripts-per-instance", "once per instance"))),
        PartKind::ShellScriptPerOnce => out.push(item(what, script("scripts-per-once", "once ever"))),
        PartKind::Boothook => out
            .push(item(what, Ok("every boot, early: by cloud-init.service (init stage, before sshd), as root".into()))),
        PartKind::PartHandler => out.push(item(
            what,
            Ok("loaded as a Python part handler by cloud-init.service, once per instance, as root".into()),
        )),
        PartKind::CloudConfigJsonp => {
            out.push(item(what, Ok("a JSON patch applied to the merged cloud-config by cloud-init.service".into())))
        }
        PartKind::CloudConfig => {
            let cc = p.cloud_config.as_ref();
            if let Some(e) = cc.and_then(|c| c.error.as_ref()) {
                let why = if e.bound {
                    format!("boot-sim stopped reading its YAML: {e}")
                } else {
                    format!(
                        "not loadable as a YAML mapping ({e}): cloud-init logs \"Failed at merging in cloud config part\" and ignores all of it"
                    )
                };
                out.push(item(
                    what,
                    Err((why, "fix the YAML (check it with: cloud-init schema --config-file FILE)".into())),
                ));
                return;
            }
            let keys = cc.map(|c| c.keys.clone()).unwrap_or_default();
            let mut handled = false;
            if keys.iter().any(|k| k == "bootcmd") {
                handled = true;
                out.push(item(
                    format!("bootcmd of {}", p.filename),
                    module(ci, "cloud_init_modules", "bootcmd").map(|()| {
                        "every boot, early: by the bootcmd module in cloud-init.service, as root".to_string()
                    }),
                ));
            }
            if keys.iter().any(|k| k == "runcmd") {
                handled = true;
                let r = module(ci, "cloud_config_modules", "runcmd")
                    .and_then(|()| script("scripts-user", "once per instance"))
                    .map(|w| format!("{w} (runcmd writes the commands as a script; scripts-user runs it)"));
                out.push(item(format!("runcmd of {}", p.filename), r));
            }
            let rest: Vec<&String> = keys.iter().filter(|k| *k != "bootcmd" && *k != "runcmd").collect();
            if !rest.is_empty() || !handled {
                out.push(item(
                    what,
                    Ok(format!(
                        "merged into the instance's cloud-config; keys for other modules: {}",
                        if rest.is_empty() {
                            "none".to_string()
                        } else {
                            rest.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ")
                        }
                    )),
                ));
            }
        }
        PartKind::Unhandled | PartKind::Jinja => out.push(item(
            what,
            Err((
                format!(
                    "no cloud-init handler takes {}: cloud-init logs \"Unhandled …\" and skips it (first line {:?})",
                    p.content_type, p.first_line
                ),
                "start a script with #! (e.g. #!/bin/bash) or configuration with #cloud-config".into(),
            )),
        )),
    }
}

/// Judges `a` against the image's first-boot machinery.
pub fn judge(a: &Analysis, fb: &FirstBoot) -> Verdict {
    let mut notes = a.warnings.iter().map(|w| format!("cloud-init would warn: {w}")).collect::<Vec<_>>();
    for i in &a.includes {
        notes.push(format!(
            "{} {}: fetched at boot by cloud-init.service and processed as user-data (if one fails to fetch, cloud-init fails the whole user-data); boot-sim does not fetch URLs",
            if i.once { "#include-once" } else { "#include" },
            i.urls.join(" ")
        ));
    }
    for p in &a.parts {
        if let Some(cc) = &p.cloud_config
            && !cc.schema_errors.is_empty()
        {
            let errs: Vec<String> = cc.schema_errors.iter().map(|e| e.to_string()).collect();
            notes.push(format!(
                "{} does not match cloud-init's schema (cloud-init logs \"Invalid cloud-config provided\" and runs the \
                 modules anyway; check with: cloud-init schema --config-file FILE): {}",
                p.filename,
                errs.join("; ")
            ));
        }
    }
    if let Some(ci) = &fb.cloud_init {
        match &ci.version {
            Some(v) if !v.starts_with(MODELLED_CLOUD_INIT) => notes.push(format!(
                "the image has cloud-init {v}; boot-sim models {MODELLED_CLOUD_INIT} (Debian bookworm's)"
            )),
            None => notes.push(format!("cloud-init's version is unknown; boot-sim models {MODELLED_CLOUD_INIT}")),
            _ => {}
        }
        for e in &ci.config_errors {
            notes.push(format!("cloud-init configuration file ignored: {e}"));
        }
    }
    let mut items = Vec::new();
    let blocker = blocker(a, fb);
    if let (None, Some(ci)) = (&blocker, &fb.cloud_init) {
        for p in &a.parts {
            part_items(p, fb, ci, &mut items);
        }
    }
    let running = items.iter().filter(|i| i.runs).count();
    let summary = match &blocker {
        Some(b) => format!("nothing in this user-data will run: {}", b.why),
        None if a.parts.is_empty() && a.includes.is_empty() => "the user-data is empty: nothing to run".into(),
        None if a.parts.is_empty() => "only #include URLs: what runs depends on what they serve at boot".into(),
        None if running == items.len() => format!("all {} will run", plural(items.len())),
        None => format!("{running} of {} will run", plural(items.len())),
    };
    Verdict { runs: running > 0, summary, blocker, items, notes }
}

fn plural(n: usize) -> String {
    if n == 1 { "1 item".into() } else { format!("{n} items") }
}
