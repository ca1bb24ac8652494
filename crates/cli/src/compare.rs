//! `boot-sim compare IMAGE`: the hvm, pv and pvhvm boots of one image side
//! by side, in simulated time, with their I/O counters.
//!
//! Each column is the run `boot-sim run --mode …` makes with the same
//! options. After the kernel entry every column reads the same root
//! filesystem files (the bench's `boot` workload): pvhvm on its own machine
//! after the switch; hvm over emulated IDE with bus-master DMA and pv over
//! blkfront, both through the bench's paths (`boot::bench::run_path`) with
//! the same cost model, so the three rows compare like with like.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use boot::bench::{BenchConfig, IoPath, PathResult, PvSetup, Workload};
use boot::hvm::EndState;
use boot::hvm::pvhvm::{self, PvhvmOptions, PvhvmReport};
use boot::machine::SimTime;
use boot::pv::{self, PvOutcome, PvRun};
use disk_image::ReadAt;
use disk_image::menu::discover::Loader;
use serde_json::json;

use crate::output::{Exit, Out, human_size};
use crate::run::{Mode, RunArgs};

pub struct CompareArgs<'a> {
    pub image: &'a Path,
    pub loader: Loader,
    pub memory_mib: u64,
    pub cost_model: Option<&'a Path>,
    pub max_instructions: u64,
    pub read_mib: u64,
    pub json: bool,
}

/// The root-filesystem reads after the kernel entry, per column.
struct Reads {
    hvm: Result<PathResult, String>,
    pv: Result<PathResult, String>,
}

pub fn run(out: &mut Out, c: &CompareArgs<'_>) -> Result<(), Exit> {
    let image: Arc<dyn ReadAt> = Arc::new(disk_image::RawImage::open(c.image)?);
    let cost = crate::run::cost_model(c.cost_model)?;
    let a = RunArgs {
        image: c.image,
        mode: Mode::Pvhvm,
        loader: c.loader,
        entry: None,
        memory_mib: c.memory_mib,
        json: c.json,
        dump_start_info: false,
        cost_model: c.cost_model,
        max_instructions: c.max_instructions,
        keys: "",
        trace: None,
        read_mib: c.read_mib,
    };
    let read_bytes = c.read_mib.checked_mul(1 << 20).ok_or_else(|| Exit::Error("--read-mib is too large".into()))?;
    let hvm_opts = crate::run_hvm::options(&a, cost.clone())?;
    let pvhvm = pvhvm::run(image.clone(), &PvhvmOptions { hvm: hvm_opts, read_bytes, pv: PvSetup::linux() });
    if let EndState::SetupError { message } = &pvhvm.hvm.end {
        return Err(Exit::Error(message.clone()));
    }
    let (pv_run, _memory) =
        pv::run(image.clone(), &crate::run::pv_options(&a, cost.clone())?).map_err(|e| Exit::Error(e.to_string()))?;
    let config = BenchConfig { pv: PvSetup::linux(), medium: None, ..BenchConfig::default() };
    let path = |p: IoPath| -> Result<PathResult, String> {
        let w = Workload::boot_read(image.clone(), read_bytes).map_err(|e| e.to_string())?;
        boot::bench::run_path(image.clone(), &cost, p, &w, &config).map_err(|e| e.to_string())
    };
    let hvm_entry = matches!(pvhvm.hvm.end, EndState::KernelEntry { .. });
    let pv_entry = matches!(pv_run.outcome, PvOutcome::Booted(_));
    let not_booted = |mode: &str| Err(format!("the {mode} boot did not reach the kernel entry"));
    let reads = Reads {
        hvm: if hvm_entry { path(IoPath::IdeDma) } else { not_booted("hvm") },
        pv: if pv_entry { path(IoPath::Pv) } else { not_booted("pv") },
    };
    if c.json {
        render_json(out, &pvhvm, &pv_run, &reads)?;
    } else {
        render_text(out, c, &pvhvm, &pv_run, &reads)?;
    }
    if hvm_entry || pv_entry { Ok(()) } else { Err(Exit::NotBootable) }
}

fn hvm_outcome(end: &EndState) -> String {
    match end {
        EndState::KernelEntry { .. } => "kernel entry".into(),
        other => {
            let v = serde_json::to_value(other).unwrap_or_default();
            v["state"].as_str().unwrap_or("stopped").replace('_', " ")
        }
    }
}

fn time(ns: Option<u64>) -> String {
    ns.map_or_else(|| "—".into(), |n| SimTime(n).to_string())
}

fn count(n: Option<u64>) -> String {
    n.map_or_else(|| "—".into(), |n| n.to_string())
}

fn render_text(out: &mut Out, c: &CompareArgs<'_>, x: &PvhvmReport, p: &PvRun, reads: &Reads) -> Result<(), Exit> {
    let h = &x.hvm;
    let hc = &h.counters;
    let booted = matches!(p.outcome, PvOutcome::Booted(_));
    let s = &p.sim;
    let sw = x.pv.as_ref().ok();
    let hvm_entry = matches!(h.end, EndState::KernelEntry { .. });
    writeln!(
        out,
        "Compare of {} ({} MiB guest; PV loader {}; simulated time, cost model: docs/cost-model.md)",
        c.image.display(),
        c.memory_mib,
        c.loader.name()
    )?;
    let row = |out: &mut Out, name: &str, a: String, b: String, d: String| -> Result<(), Exit> {
        writeln!(out, "  {name:<34} {a:>16} {b:>16} {d:>16}")?;
        Ok(())
    };
    row(out, "", "hvm".into(), "pv".into(), "pvhvm".into())?;
    let pv_outcome = if booted { "kernel entry" } else { "cannot boot" };
    let pvhvm_outcome = if sw.is_some() { "switched" } else { "no switch" };
    row(out, "outcome", hvm_outcome(&h.end), pv_outcome.into(), pvhvm_outcome.into())?;
    writeln!(out, "Boot to the kernel entry:")?;
    let hvm_t = hvm_entry.then_some(hc.sim_time_ns);
    row(out, "simulated time", time(hvm_t), time(booted.then_some(s.sim_ns)), time(hvm_t))?;
    row(out, "port exits (VM exits to QEMU)", hc.port_exits.to_string(), "0".into(), hc.port_exits.to_string())?;
    row(out, "sectors read by the IDE model", hc.sectors_read.to_string(), "0".into(), hc.sectors_read.to_string())?;
    row(out, "ring requests", "0".into(), s.ring.requests_pushed.to_string(), "0".into())?;
    row(out, "ring segments", "0".into(), s.ring.segments.to_string(), "0".into())?;
    row(out, "grant maps", "0".into(), s.grants.map.to_string(), "0".into())?;
    let notifies: u64 = s.notify_ports.iter().map(|n| n.count).sum();
    row(out, "event-channel notifies", "0".into(), notifies.to_string(), "0".into())?;
    writeln!(out, "PV-on-HVM switch:")?;
    row(out, "platform device + unplug", "—".into(), "—".into(), time(sw.map(|r| r.switch.sim_ns)))?;
    row(out, "  port exits", "—".into(), "—".into(), count(sw.map(|r| r.switch.port_exits)))?;
    row(out, "  hypercalls", "—".into(), "—".into(), count(sw.map(|r| r.switch.hypercalls)))?;
    row(out, "xenbus: connect the vbd", "—".into(), "(in the boot)".into(), time(sw.map(|r| r.switch.connect_ns)))?;
    writeln!(out, "Root filesystem after the entry (files under /boot, /etc, /usr/lib, ≤ {} MiB):", c.read_mib)?;
    let io = [reads.hvm.as_ref().ok(), reads.pv.as_ref().ok(), sw.map(|r| &r.io)];
    let cell = |f: &dyn Fn(&PathResult) -> String| -> [String; 3] { io.map(|r| r.map_or_else(|| "—".into(), f)) };
    let [a, b, d] = cell(&|r| {
        if r.path.is_emulated() { "IDE DMA".into() } else { "blkif ring".into() }
    });
    row(out, "path", a, b, d)?;
    let [a, b, d] = cell(&|r| human_size(r.bytes));
    row(out, "bytes", a, b, d)?;
    let [a, b, d] = cell(&|r| SimTime(r.sim_ns).to_string());
    row(out, "simulated time", a, b, d)?;
    let [a, b, d] = cell(&|r| r.exits.to_string());
    row(out, "port exits", a, b, d)?;
    let [a, b, d] = cell(&|r| r.ata_commands.to_string());
    row(out, "ATA commands", a, b, d)?;
    let [a, b, d] = cell(&|r| r.ring_requests.to_string());
    row(out, "ring requests", a, b, d)?;
    let [a, b, d] = cell(&|r| r.notifies.to_string());
    row(out, "notifies", a, b, d)?;
    for (name, r) in [("hvm", &reads.hvm), ("pv", &reads.pv)] {
        if let Err(e) = r {
            writeln!(out, "  {name}: no root filesystem reads: {e}")?;
        }
    }
    if let Err(e) = &x.pv {
        writeln!(out, "  pvhvm: {e}")?;
    }
    writeln!(out, "Phases:")?;
    if hvm_entry {
        writeln!(out, "  hvm    {:<41} {}", "firmware, loader to the kernel entry", SimTime(hc.sim_time_ns))?;
    }
    for ph in &s.phases {
        writeln!(out, "  pv     {:<41} {}", ph.name, SimTime(ph.duration_ns))?;
    }
    if let Some(r) = sw {
        writeln!(out, "  pvhvm  {:<41} {}", "HVM boot to the kernel entry", SimTime(r.switch.start_ns))?;
        writeln!(out, "  pvhvm  {:<41} {}", "platform device, unplug, hypercalls", SimTime(r.switch.sim_ns))?;
        writeln!(out, "  pvhvm  {:<41} {}", "xenbus: connect the vbd", SimTime(r.switch.connect_ns))?;
        writeln!(out, "  pvhvm  {:<41} {}", "root filesystem over the ring", SimTime(r.io.sim_ns))?;
    }
    Ok(())
}

fn render_json(out: &mut Out, x: &PvhvmReport, p: &PvRun, reads: &Reads) -> Result<(), Exit> {
    let reads_json = |r: &Result<PathResult, String>| match r {
        Ok(r) => json!(r),
        Err(e) => json!({"error": e}),
    };
    let booted = matches!(p.outcome, PvOutcome::Booted(_));
    let pvhvm = match &x.pv {
        Ok(r) => json!({"outcome": "switched", "switch": r.switch, "io": r.io, "sim_ns": r.end_ns}),
        Err(e) => json!({"outcome": "no-switch", "reason": e}),
    };
    out.json(&json!({
        "type": "result",
        "command": "compare",
        "hvm": {
            "outcome": x.hvm.end,
            "reason": x.hvm.reason,
            "sim_ns": x.hvm.counters.sim_time_ns,
            "counters": x.hvm.counters,
            "root_fs_reads": reads_json(&reads.hvm),
        },
        "pv": {
            "outcome": if booted { "kernel-entry" } else { "cannot-boot" },
            "sim_ns": p.sim.sim_ns,
            "counters": p.sim,
            "root_fs_reads": reads_json(&reads.pv),
        },
        "pvhvm": pvhvm,
    }))?;
    Ok(())
}
