//! `ami launch --user-data`: the user-data's verdict on the launched image.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use ami::bootstrap::{self, Verdict};
use ami::firstboot::{self, FirstBoot, InitSystem};
use ami::userdata::{self, Analysis};
use base64::Engine as _;
use serde_json::json;

use crate::output::{Exit, Out};
use crate::run_args::KernelEntry;

/// Largest user-data file read: EC2's limit is 16 KB; a file much larger
/// is refused by the launch with its size, without reading it all.
const MAX_FILE: u64 = 1 << 20;

/// The user-data in `path`; `b64`: the file holds it base64-encoded (line
/// breaks and blanks allowed), as EC2's API takes it.
pub fn read(path: &Path, b64: bool) -> Result<Vec<u8>, Exit> {
    let size = std::fs::metadata(path).map_err(|e| Exit::Error(format!("{}: {e}", path.display())))?.len();
    if size > MAX_FILE {
        return Err(Exit::Error(format!(
            "{}: {size} bytes of user-data; EC2 takes at most {} bytes (16 KB) before base64 encoding",
            path.display(),
            userdata::EC2_MAX_USER_DATA
        )));
    }
    let bytes = crate::input::read_bytes(path, MAX_FILE, "user-data")?;
    if !b64 {
        return Ok(bytes);
    }
    let text: Vec<u8> = bytes.into_iter().filter(|b| !b.is_ascii_whitespace()).collect();
    base64::engine::general_purpose::STANDARD
        .decode(&text)
        .map_err(|e| Exit::Error(format!("{}: --user-data-base64: not base64: {e}", path.display())))
}

/// Analyses `ud`, reads the root filesystem `entry` mounts, prints the
/// verdict. Exit 1 when nothing of it runs.
pub fn report(
    out: &mut Out,
    json: bool,
    image: Arc<dyn disk_image::ReadAt>,
    entry: Option<&KernelEntry>,
    ud: &[u8],
) -> Result<(), Exit> {
    let a = userdata::analyse(ud);
    let Some(entry) = entry else {
        let why = "the image does not reach a kernel: no cloud-init starts and nothing in the user-data runs";
        if json {
            out.json(&json!({"type": "user-data", "analysis": a, "verdict": {"runs": false, "summary": why}}))?;
        } else {
            render_analysis(out, &a)?;
            writeln!(out, "Verdict: {why}")?;
        }
        return Err(Exit::NotBootable);
    };
    let root = ami::rootfs::open(image, &entry.cmdline, entry.kernel_device.as_deref());
    let (fb, root_json) = match &root {
        Ok(r) => (
            Some(firstboot::inspect(&*r.fs, &entry.cmdline)),
            json!({"device": r.device, "filesystem": r.kind, "how": r.how}),
        ),
        Err(e) => (None, json!({"error": e.to_string()})),
    };
    let verdict = match &fb {
        Some(fb) => bootstrap::judge(&a, fb),
        None => Verdict {
            runs: false,
            summary: format!(
                "the root filesystem cannot be read ({}): boot-sim cannot tell whether anything runs",
                root.as_ref().err().map(ToString::to_string).unwrap_or_default()
            ),
            blocker: None,
            items: Vec::new(),
            notes: Vec::new(),
        },
    };
    if json {
        out.json(&json!({
            "type": "user-data",
            "analysis": a,
            "root": root_json,
            "first_boot": fb,
            "verdict": verdict,
        }))?;
    } else {
        render_analysis(out, &a)?;
        match (&root, &fb) {
            (Ok(r), Some(fb)) => {
                writeln!(out, "Root filesystem: {} ({}): {}", r.device, r.kind, r.how)?;
                render_first_boot(out, fb)?;
            }
            (Err(e), _) => writeln!(out, "Root filesystem: {e}")?,
            _ => {}
        }
        render_verdict(out, &verdict)?;
    }
    if verdict.runs { Ok(()) } else { Err(Exit::NotBootable) }
}

fn render_analysis(out: &mut Out, a: &Analysis) -> Result<(), Exit> {
    let mut how = Vec::new();
    if a.gzip {
        how.push("gzip");
    }
    if a.mime {
        how.push("MIME multipart");
    }
    writeln!(
        out,
        "User-data: {} bytes (EC2 limit {}){}, as cloud-init {} reads it:",
        a.bytes,
        userdata::EC2_MAX_USER_DATA,
        if how.is_empty() { String::new() } else { format!(", {}", how.join(", ")) },
        bootstrap::MODELLED_CLOUD_INIT
    )?;
    for p in &a.parts {
        let declared = p.declared_type.as_ref().map_or(String::new(), |d| format!(", declared {d}"));
        writeln!(
            out,
            "  {}  {}{declared}, {} bytes{}: {:?}",
            p.filename,
            p.content_type,
            p.bytes,
            if p.was_compressed { ", gzip inside" } else { "" },
            p.first_line
        )?;
    }
    for i in &a.includes {
        writeln!(out, "  {} {}", if i.once { "#include-once" } else { "#include" }, i.urls.join(" "))?;
    }
    if let Some(e) = &a.error {
        writeln!(out, "  {e}")?;
    }
    Ok(())
}

fn render_first_boot(out: &mut Out, fb: &FirstBoot) -> Result<(), Exit> {
    match &fb.init {
        InitSystem::Systemd { init } => writeln!(out, "  init: systemd ({init})")?,
        InitSystem::Sysv { init, runlevel } => writeln!(out, "  init: SysV ({init}), default runlevel {runlevel}")?,
        InitSystem::Unknown { why } => writeln!(out, "  init: unknown ({why})")?,
    }
    let Some(ci) = &fb.cloud_init else {
        writeln!(out, "  cloud-init: not installed (looked in {})", fb.looked_at.join(", "))?;
        return Ok(());
    };
    writeln!(
        out,
        "  cloud-init: {}",
        match (&ci.version, &ci.version_from) {
            (Some(v), Some(f)) => format!("{v} (from {f})"),
            _ => "installed, version unknown".into(),
        }
    )?;
    let ds = &ci.datasource_list;
    writeln!(out, "  datasource_list: [{}] (from {})", ds.value.join(", "), ds.from)?;
    let f = &ci.cloud_final_modules;
    writeln!(
        out,
        "  scripts-user in cloud_final_modules: {} (from {})",
        if firstboot::CloudInit::has_module(&f.value, "scripts-user") { "yes" } else { "no" },
        f.from
    )?;
    for s in &ci.services {
        writeln!(out, "  {}: {}", s.name, if s.enabled { format!("enabled: {}", s.how) } else { s.how.clone() })?;
    }
    Ok(())
}

fn render_verdict(out: &mut Out, v: &Verdict) -> Result<(), Exit> {
    writeln!(out, "Verdict: {}", v.summary)?;
    if let Some(b) = &v.blocker {
        writeln!(out, "  fix: {}", b.fix)?;
    }
    for i in &v.items {
        if i.runs {
            writeln!(out, "  runs: {}: {}", i.what, i.when.as_deref().unwrap_or(""))?;
        } else {
            writeln!(out, "  does not run: {}: {}", i.what, i.why_not.as_deref().unwrap_or(""))?;
            if let Some(f) = &i.fix {
                writeln!(out, "    fix: {f}")?;
            }
        }
    }
    for n in &v.notes {
        writeln!(out, "note: {n}")?;
    }
    Ok(())
}
