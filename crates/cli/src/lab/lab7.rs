//! `boot-sim lab check 7 IMAGE`: does the lab's bootstrap script run on
//! the student's copy of `pv-cloud-init.img`?
//!
//! The same library code as `ami launch --user-data` (crates/cli/src/userdata.rs):
//! the PV boot (`pvgrub-aws`) to the kernel entry, the root filesystem its
//! `root=` names (`ami::rootfs`), the first-boot machinery on it
//! (`ami::firstboot`), and the verdict on the lab's user-data
//! (`ami::bootstrap::judge`). Each condition is one thing the script needs
//! from the image; the last is the verdict itself.

use std::path::Path;
use std::sync::Arc;

use ami::bootstrap;
use ami::firstboot::{self, CloudInit};
use ami::userdata;
use boot::pv::{self, PvOptions, PvOutcome};
use boot_config::discover::Loader;
use disk_image::{RawImage, ReadAt};

use super::{Condition, condition};
use crate::output::Exit;

/// The lab's user-data (docs/labs/lab7-bootstrap.md writes it to
/// `lab7/boot.sh`).
pub const USER_DATA: &[u8] = b"#!/bin/bash\necho hello > /tmp/hello\n";

/// The conditions, in the order the lab meets them.
pub fn check(image: &Path) -> Result<Vec<Condition>, Exit> {
    let reader: Arc<dyn ReadAt> = Arc::new(RawImage::open(image)?);
    let opts = PvOptions { loader: Loader::PvgrubAws, ..PvOptions::default() };
    let (run, _memory) = pv::run(reader.clone(), &opts).map_err(|e| Exit::Error(e.to_string()))?;
    let mut c = Vec::new();
    let name = "the PV boot (pvgrub-aws) reaches the kernel entry";
    let (cmdline, device) = match run.outcome {
        PvOutcome::Booted(b) => {
            c.push(condition(
                name,
                true,
                format!("{}{} with `{}`", b.choice.kernel.device, b.choice.kernel.resolved_path, b.choice.cmdline),
            ));
            (b.choice.cmdline, b.choice.kernel.device)
        }
        PvOutcome::CannotBoot(cb) => {
            c.push(condition(name, false, cb.messages.join("; ")));
            return Ok(c);
        }
    };
    let root = match ami::rootfs::open(reader, &cmdline, Some(&device)) {
        Ok(r) => {
            c.push(condition("the root filesystem is readable", true, format!("{} ({}): {}", r.device, r.kind, r.how)));
            r
        }
        Err(e) => {
            c.push(condition("the root filesystem is readable", false, e.to_string()));
            return Ok(c);
        }
    };
    let fb = firstboot::inspect(&*root.fs, &cmdline);
    match &fb.cloud_init {
        None => {
            c.push(condition("cloud-init is installed", false, format!("not found in {}", fb.looked_at.join(", "))))
        }
        Some(ci) => {
            c.push(condition(
                "cloud-init is installed",
                true,
                format!(
                    "{} (from {})",
                    ci.version.as_deref().unwrap_or("version unknown"),
                    ci.version_from.as_deref().unwrap_or("its package directory")
                ),
            ));
            machinery(ci, &mut c);
        }
    }
    let v = bootstrap::judge(&userdata::analyse(USER_DATA), &fb);
    let detail = match (&v.blocker, v.items.first()) {
        (Some(b), _) => b.why.clone(),
        (None, Some(i)) => format!("{}: {}", i.what, i.when.as_deref().or(i.why_not.as_deref()).unwrap_or("")),
        (None, None) => v.summary.clone(),
    };
    c.push(condition("the lab's script (lab7/boot.sh) runs", v.runs && v.items.iter().all(|i| i.runs), detail));
    Ok(c)
}

/// Datasources, services and the module that runs scripts.
fn machinery(ci: &CloudInit, c: &mut Vec<Condition>) {
    let ds = &ci.datasource_list;
    c.push(condition(
        "Ec2 is in datasource_list",
        ds.value.iter().any(|d| d == "Ec2"),
        format!("[{}] (from {})", ds.value.join(", "), ds.from),
    ));
    let off: Vec<String> =
        ci.services.iter().filter(|s| !s.enabled).map(|s| format!("{}: {}", s.name, s.how)).collect();
    c.push(condition(
        "cloud-init's services start at boot",
        off.is_empty() && ci.disabled_by.is_none(),
        match (&ci.disabled_by, off.is_empty()) {
            (Some(by), _) => format!("cloud-init is disabled by {by}"),
            (None, true) => ci.services.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", "),
            (None, false) => off.join("; "),
        },
    ));
    let m = &ci.cloud_final_modules;
    c.push(condition(
        "scripts-user is in cloud_final_modules",
        CloudInit::has_module(&m.value, "scripts-user"),
        format!("{} modules (from {})", m.value.len(), m.from),
    ));
}
