//! `boot-sim run IMAGE --mode pv|hvm|pvhvm`.

use std::io::Write;

use boot::pv::{self, PvOptions, PvOutcome, Stage};
use boot_config::discover::{Loader, ProbeOutcome};
use boot_config::select::EntryRequest;
use serde_json::json;

use crate::output::{Exit, Out, human_size};
use crate::run_args::{KernelEntry, Mode, RunArgs, cost_model};

pub fn run(out: &mut Out, a: &RunArgs<'_>) -> Result<(), Exit> {
    let image: std::sync::Arc<dyn disk_image::ReadAt> = std::sync::Arc::new(disk_image::RawImage::open(a.image)?);
    let cost = cost_model(a.machine.cost_model.as_deref())?;
    match a.mode {
        // blkfront sees whole sectors: a shorter image would be reported
        // as 0 bytes; say what the file is.
        Mode::Pv if image.size() < 512 => {
            return Err(Exit::Error(format!(
                "{}: the image is {}, shorter than one 512-byte sector: PV-GRUB finds no disk to read",
                a.image.display(),
                crate::output::human_size(image.size())
            )));
        }
        Mode::Pv => {}
        Mode::Hvm => return crate::run_hvm::run(out, a, image, cost),
        Mode::Pvhvm => return crate::run_pvhvm::run(out, a, image, cost),
    }
    run_pv(out, a, image, cost)
}

/// The PV options of `run` (also `compare`'s PV column).
pub(crate) fn pv_options(a: &RunArgs<'_>, cost: boot::machine::CostModel) -> Result<PvOptions, Exit> {
    Ok(PvOptions {
        loader: a.loader,
        entry: a.entry.map_or(EntryRequest::Default, EntryRequest::parse),
        memory: a.memory_mib.checked_mul(1 << 20).ok_or_else(|| Exit::Error("--memory is too large".into()))?,
        cost,
        keep_events: a.trace.is_some(),
        ..PvOptions::default()
    })
}

/// The PV boot of an opened image with a given cost model (also used by
/// `boot-sim ami launch`).
pub fn run_pv(
    out: &mut Out,
    a: &RunArgs<'_>,
    image: std::sync::Arc<dyn disk_image::ReadAt>,
    cost: boot::machine::CostModel,
) -> Result<(), Exit> {
    run_pv_entry(out, a, image, cost)?.map(|_| ()).ok_or(Exit::NotBootable)
}

/// [`run_pv`], returning the kernel entry (`None`: cannot boot, rendered).
pub fn run_pv_entry(
    out: &mut Out,
    a: &RunArgs<'_>,
    image: std::sync::Arc<dyn disk_image::ReadAt>,
    cost: boot::machine::CostModel,
) -> Result<Option<KernelEntry>, Exit> {
    let opts = pv_options(a, cost)?;
    let (run, _memory) = pv::run(image, &opts).map_err(|e| Exit::Error(e.to_string()))?;
    if a.json {
        render_json(out, a, &run)?;
    } else {
        render_text(out, a, &run)?;
    }
    Ok(match &run.outcome {
        PvOutcome::Booted(b) => {
            Some(KernelEntry { cmdline: b.choice.cmdline.clone(), kernel_device: Some(b.choice.kernel.device.clone()) })
        }
        PvOutcome::CannotBoot(_) => None,
    })
}

fn probe_text(o: &ProbeOutcome) -> String {
    match o {
        ProbeOutcome::Found => "found".into(),
        ProbeOutcome::Missing => "not there".into(),
        ProbeOutcome::Failed { error: Some(e), detail } => format!("{e} ({detail})"),
        ProbeOutcome::Failed { error: None, detail } => detail.clone(),
    }
}

fn render_text(out: &mut Out, a: &RunArgs<'_>, run: &pv::PvRun) -> Result<(), Exit> {
    let who = if a.loader == Loader::Pygrub { "pygrub" } else { "PV-GRUB" };
    writeln!(out, "PV boot of {} ({}, {} MiB guest)", a.image.display(), a.loader.name(), a.memory_mib)?;
    for p in &run.discovery.probes {
        writeln!(out, "{who}: looked at {}{}: {}", p.device, p.path, probe_text(&p.outcome))?;
    }
    render_console(out, run)?;
    let b = match &run.outcome {
        PvOutcome::Booted(b) => b,
        PvOutcome::CannotBoot(c) => {
            render_io(out, run)?;
            let stage = match c.stage {
                Stage::Menu => "finding the menu",
                Stage::Entry => "loading an entry",
                Stage::Kernel => "checking the kernel",
                Stage::Build => "building the domain",
            };
            writeln!(out, "Cannot boot this image as PV ({stage}):")?;
            for m in &c.messages {
                writeln!(out, "  {m}")?;
            }
            if let Some(h) = &c.hint {
                writeln!(out, "hint: {h}")?;
            }
            return Ok(());
        }
    };
    let c = &b.choice;
    writeln!(out, "{who}: menu {}{}", c.config.device, c.config.path)?;
    for at in &c.attempts {
        writeln!(out, "{who}: entry {} {:?} failed: {}", at.index, at.title, at.failure)?;
    }
    writeln!(out, "{who}: boots entry {} {:?} — {}", c.entry.index, c.entry.title, c.why)?;
    writeln!(out, "  kernel  {}{} ({})", c.kernel.device, c.kernel.resolved_path, human_size(c.kernel.size))?;
    for i in &c.initrd {
        writeln!(out, "  initrd  {}{} ({})", i.device, i.resolved_path, human_size(i.size))?;
    }
    writeln!(out, "  cmdline {}", c.cmdline)?;
    for d in &c.differences {
        writeln!(out, "  differs from GRUB: {d}")?;
    }
    let k = &b.kernel;
    let payload = k
        .payload
        .as_ref()
        .map(|p| {
            format!(
                ", {} payload {} → {}",
                p.codec.map_or("?".into(), |c| format!("{c:?}").to_lowercase()),
                human_size(p.location.length),
                human_size(p.decompressed_size.unwrap_or(0))
            )
        })
        .unwrap_or_default();
    let guest = k.pv.as_ref().and_then(|p| p.guest_type).unwrap_or("?");
    writeln!(out, "Kernel: {:?}{payload}, {guest}", k.format)?;
    let l = &b.layout;
    writeln!(
        out,
        "Domain builder: {} pages ({}), virt_base {:#x}",
        l.nr_pages,
        human_size(l.nr_pages * 4096),
        b.kernel.pv.as_ref().and_then(|p| p.layout).map_or(0, |x| x.virt_base)
    )?;
    writeln!(out, "  {:<12} {:>18} {:>18} {:>8} {:>7}", "segment", "vstart", "vend", "pfn", "pages")?;
    for s in &l.segments {
        writeln!(out, "  {:<12} {:>#18x} {:>#18x} {:>#8x} {:>7}", s.name, s.vstart, s.vend, s.pfn, s.pages)?;
    }
    let si = &b.start_info;
    writeln!(
        out,
        "start_info at {:#x} (pfn {:#x}), read back from guest memory: magic {:?}, nr_pages {:#x}, pt_base {:#x}, nr_pt_frames {}, mfn_list {:#x}, mod_start {:#x}, mod_len {:#x}, flags {:#x}",
        l.start_info_vaddr,
        l.start_info_pfn,
        si.magic,
        si.nr_pages,
        si.pt_base,
        si.nr_pt_frames,
        si.mfn_list,
        si.mod_start,
        si.mod_len,
        si.flags
    )?;
    if let Some(pfn) = l.hypercall_page_pfn {
        writeln!(out, "hypercall page at pfn {pfn:#x}: Xen's 64-bit PV stubs (HYPERCALL_PAGE note)")?;
    }
    if a.dump_start_info {
        let v = serde_json::to_value(si).unwrap_or_default();
        if let Some(map) = v.as_object() {
            for (k, v) in map {
                writeln!(out, "  {k:<16} {v}")?;
            }
        }
    }
    let r = &b.vcpu;
    writeln!(
        out,
        "vCPU0 at the kernel entry: rip={:#x} rsp={:#x} rsi={:#x} (start_info) cr3={:#x} rflags={:#x} cs={:#06x} ss={:#06x} ds=es=fs=gs={:#06x}",
        r.rip, r.rsp, r.rsi, r.cr3, r.rflags, r.cs, r.ss, r.ds
    )?;
    render_io(out, run)?;
    writeln!(out, "Reached the kernel entry ({} guest pages written).", b.touched_pages)?;
    Ok(())
}

/// PV-GRUB's Xen console as a terminal would leave it: each line as it
/// reads after its last carriage return (the countdowns rewrite theirs).
fn render_console(out: &mut Out, run: &pv::PvRun) -> Result<(), Exit> {
    let Some(console) = &run.console else { return Ok(()) };
    writeln!(out, "Xen console (PV-GRUB):")?;
    let text = console.strip_suffix('\n').unwrap_or(console);
    for line in text.split('\n') {
        let shown = line.rsplit('\r').next().unwrap_or("").trim_end();
        if shown.is_empty() {
            writeln!(out, "  |")?;
        } else {
            writeln!(out, "  | {shown}")?;
        }
    }
    Ok(())
}

fn render_io(out: &mut Out, run: &pv::PvRun) -> Result<(), Exit> {
    if !run.events.is_empty() {
        writeln!(out, "Trace ({} events kept of {}):", run.events.len(), run.sim.events_total)?;
        for e in &run.events {
            let v = serde_json::to_value(e).unwrap_or_default();
            writeln!(out, "  {:>12}  {v}", boot::machine::SimTime(e.time.0).to_string())?;
        }
    }
    let s = &run.sim;
    writeln!(
        out,
        "I/O over the blkif ring (Mini-OS blkfront, one request in flight): {} requests, {} segments, {} grants mapped, {} event-channel notifies, {} read from the disk",
        s.ring.requests_pushed,
        s.ring.segments,
        s.grants.map,
        s.notify_ports.iter().map(|p| p.count).sum::<u64>(),
        human_size(s.bytes.disk)
    )?;
    writeln!(out, "Simulated time: {} (cost model: docs/cost-model.md)", boot::machine::SimTime(s.sim_ns))?;
    for p in &s.phases {
        writeln!(
            out,
            "  {:<28} {:>12}  ({} events)",
            p.name,
            boot::machine::SimTime(p.duration_ns).to_string(),
            p.events
        )?;
    }
    Ok(())
}

fn render_json(out: &mut Out, a: &RunArgs<'_>, run: &pv::PvRun) -> Result<(), Exit> {
    for e in &run.events {
        let mut v = serde_json::to_value(e).unwrap_or_default();
        if let Some(m) = v.as_object_mut() {
            let mut obj = serde_json::Map::new();
            obj.insert("type".into(), json!("event"));
            obj.extend(std::mem::take(m));
            v = serde_json::Value::Object(obj);
        }
        out.json(&v)?;
    }
    for p in &run.discovery.probes {
        out.json(&json!({"type": "event", "kind": "probe", "device": p.device, "path": p.path, "outcome": p.outcome}))?;
    }
    match &run.outcome {
        PvOutcome::Booted(b) => {
            for s in &b.layout.segments {
                out.json(&json!({"type": "event", "kind": "segment", "segment": s}))?;
            }
            let c = &b.choice;
            out.json(&json!({
                "type": "result",
                "mode": "pv",
                "outcome": "kernel-entry",
                "loader": a.loader.name(),
                "entry": {"index": c.entry.index, "title": c.entry.title, "reason": c.reason, "why": c.why},
                "attempts": c.attempts,
                "kernel": c.kernel,
                "initrd": c.initrd,
                "cmdline": c.cmdline,
                "entry_point": b.vcpu.rip,
                "start_info_address": b.layout.start_info_vaddr,
                "start_info": b.start_info,
                "vcpu": b.vcpu,
                "layout": b.layout,
                "kernel_report": {"format": b.kernel.format, "payload": b.kernel.payload, "guest_type": b.kernel.pv.as_ref().and_then(|p| p.guest_type)},
                "differences": c.differences,
                "touched_pages": b.touched_pages,
                "console": run.console,
                "sim_ns": run.sim.sim_ns,
                "counters": run.sim,
            }))?;
        }
        PvOutcome::CannotBoot(cb) => out.json(&json!({
            "type": "result",
            "mode": "pv",
            "outcome": "cannot-boot",
            "loader": a.loader.name(),
            "stage": cb.stage,
            "messages": cb.messages,
            "hint": cb.hint,
            "console": run.console,
            "sim_ns": run.sim.sim_ns,
            "counters": run.sim,
        }))?,
    }
    Ok(())
}
