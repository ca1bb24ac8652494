//! `boot-sim compare IMAGE`: the hvm, pv and pvhvm boots of one image side
//! by side, in simulated time, with their I/O counters.
//!
//! Each column is the run `boot-sim run --mode …` makes with the same
//! options. After the kernel entry every column reads the same root
//! filesystem files (the bench's `boot` workload) live, on the machine
//! that booted and on its clock: hvm over the emulated IDE controller
//! (bus-master DMA), pv over the booted kernel's blkfront, pvhvm over
//! blkfront after the switch; the same requests and bytes on all three.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use boot::bench::PathResult;
use boot::hvm::EndState;
use boot::hvm::pvhvm::{PvhvmError, PvhvmReport};
use boot::machine::SimTime;
use boot::pv::{PvOutcome, PvRun};
use boot_config::discover::Loader;
use disk_image::ReadAt;
use serde_json::json;

use crate::output::{Exit, Out, human_size};
use crate::progress::Progress;
use crate::run_args::{MachineArgs, Mode, RunArgs};
use crate::timeline::{self, Boots};

pub struct CompareArgs<'a> {
    pub image: &'a Path,
    pub loader: Loader,
    pub memory_mib: u64,
    pub machine: MachineArgs,
    pub read_mib: u64,
    pub json: bool,
    /// `--svg FILE`: the phases as a timeline.
    pub svg: Option<&'a Path>,
}

/// The root-filesystem reads after the kernel entry, per column.
struct Reads<'a> {
    hvm: &'a Result<PathResult, PvhvmError>,
    pv: &'a Result<PathResult, String>,
}

pub fn run(out: &mut Out, c: &CompareArgs<'_>) -> Result<(), Exit> {
    let image: Arc<dyn ReadAt> = Arc::new(disk_image::RawImage::open(c.image)?);
    let cost = crate::run_args::cost_model(c.machine.cost_model.as_deref())?;
    let a = RunArgs {
        image: c.image,
        mode: Mode::Pvhvm,
        loader: c.loader,
        entry: None,
        memory_mib: c.memory_mib,
        json: c.json,
        dump_start_info: false,
        machine: c.machine.clone(),
        keys: "",
        trace: None,
        read_mib: c.read_mib,
    };
    let read_bytes = c.read_mib.checked_mul(1 << 20).ok_or_else(|| Exit::Error("--read-mib is too large".into()))?;
    let hvm_opts = crate::run_hvm::options(&a, cost.clone())?;
    let pv_opts = crate::run::pv_options(&a, cost)?;
    let mut bar = Progress::new(3, !c.json);
    let boots = timeline::boot_modes(image, hvm_opts, &pv_opts, read_bytes, &mut |m| bar.step(&format!("{m} boot")))?;
    bar.finish();
    let Boots { hvm, hvm_reads, pv: pv_run, pv_reads, pvhvm } = &boots;
    let reads = Reads { hvm: hvm_reads, pv: pv_reads };
    let lanes = timeline::lanes(&boots);
    if let Some(f) = c.svg {
        let doc = timeline::document(&c.image.display().to_string(), &lanes);
        std::fs::write(f, doc).map_err(|e| Exit::Error(format!("{}: {e}", f.display())))?;
    }
    if c.json {
        render_json(out, hvm, pvhvm, pv_run, &reads)?;
    } else {
        render_text(out, c, hvm, pvhvm, pv_run, &reads, &lanes)?;
    }
    let hvm_entry = matches!(hvm.end, EndState::KernelEntry { .. });
    let pv_entry = matches!(pv_run.outcome, PvOutcome::Booted(_));
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

fn render_text(
    out: &mut Out,
    c: &CompareArgs<'_>,
    h: &boot::hvm::HvmReport,
    x: &PvhvmReport,
    p: &PvRun,
    reads: &Reads<'_>,
    lanes: &[timeline::Lane],
) -> Result<(), Exit> {
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
    let pv_connect = reads.pv.as_ref().ok().map(|r| r.setup_ns);
    row(out, "xenbus: connect the vbd", "—".into(), time(pv_connect), time(sw.map(|r| r.switch.connect_ns)))?;
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
    if let Err(e) = reads.hvm {
        writeln!(out, "  hvm: no root filesystem reads: {e}")?;
    }
    if let Err(e) = reads.pv {
        writeln!(out, "  pv: no root filesystem reads: {e}")?;
    }
    if let Err(e) = &x.pv {
        writeln!(out, "  pvhvm: {e}")?;
    }
    writeln!(out, "Phases:")?;
    for lane in lanes {
        for ph in &lane.phases {
            writeln!(out, "  {:<6} {:<41} {}", lane.mode, ph.name, SimTime(ph.ns))?;
        }
    }
    if let Some(f) = c.svg {
        writeln!(out, "timeline written to {}", f.display())?;
    }
    Ok(())
}

fn render_json(
    out: &mut Out,
    h: &boot::hvm::HvmReport,
    x: &PvhvmReport,
    p: &PvRun,
    reads: &Reads<'_>,
) -> Result<(), Exit> {
    fn reads_json<E: serde::Serialize>(r: &Result<PathResult, E>) -> serde_json::Value {
        match r {
            Ok(r) => json!(r),
            Err(e) => json!({"error": e}),
        }
    }
    let booted = matches!(p.outcome, PvOutcome::Booted(_));
    let pvhvm = match &x.pv {
        Ok(r) => json!({"outcome": "switched", "switch": r.switch, "io": r.io, "sim_ns": r.end_ns}),
        Err(e) => json!({"outcome": "no-switch", "reason": e}),
    };
    out.json(&json!({
        "type": "result",
        "command": "compare",
        "hvm": {
            "outcome": h.end,
            "reason": h.reason,
            "sim_ns": h.counters.sim_time_ns,
            "counters": h.counters,
            "phases": h.phases,
            "root_fs_reads": reads_json(reads.hvm),
        },
        "pv": {
            "outcome": if booted { "kernel-entry" } else { "cannot-boot" },
            "sim_ns": p.sim.sim_ns,
            "counters": p.sim,
            "root_fs_reads": reads_json(reads.pv),
        },
        "pvhvm": pvhvm,
    }))?;
    Ok(())
}
