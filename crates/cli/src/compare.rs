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
    /// `--svg FILE`: the phases as a timeline.
    pub svg: Option<&'a Path>,
}

/// One row of the "Phases:" section (and one bar of the SVG timeline).
struct Phase {
    mode: &'static str,
    name: String,
    ns: u64,
}

/// The phases of each mode, in order; what the text's "Phases:" section
/// lists and the SVG draws.
fn phases(x: &PvhvmReport, p: &PvRun) -> Vec<Phase> {
    let ph = |mode, name: &str, ns| Phase { mode, name: name.to_string(), ns };
    let mut v = Vec::new();
    if matches!(x.hvm.end, EndState::KernelEntry { .. }) {
        v.push(ph("hvm", "firmware, loader to the kernel entry", x.hvm.counters.sim_time_ns));
    }
    v.extend(p.sim.phases.iter().map(|s| ph("pv", &s.name, s.duration_ns)));
    if let Ok(r) = &x.pv {
        v.push(ph("pvhvm", "HVM boot to the kernel entry", r.switch.start_ns));
        v.push(ph("pvhvm", "platform device, unplug, hypercalls", r.switch.sim_ns));
        v.push(ph("pvhvm", "xenbus: connect the vbd", r.switch.connect_ns));
        v.push(ph("pvhvm", "root filesystem over the ring", r.io.sim_ns));
    }
    v
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
    if let Some(f) = c.svg {
        let doc = timeline_svg(&c.image.display().to_string(), &phases(&pvhvm, &pv_run));
        std::fs::write(f, doc).map_err(|e| Exit::Error(format!("{}: {e}", f.display())))?;
    }
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
    for ph in phases(x, p) {
        writeln!(out, "  {:<6} {:<41} {}", ph.mode, ph.name, SimTime(ph.ns))?;
    }
    if let Some(f) = c.svg {
        writeln!(out, "timeline written to {}", f.display())?;
    }
    Ok(())
}

/// Formats an axis tick in the chart's unit: s when the axis reaches one
/// second, ms below, with as many decimals as the step needs.
fn tick_label(ns: f64, step: f64, axis_max: f64) -> String {
    let (unit, scale) = if axis_max >= 1e9 { ("s", 1e9) } else { ("ms", 1e6) };
    let digits = if step >= scale { 0 } else { ((scale / step).log10().ceil() as usize).min(6) };
    format!("{:.*} {unit}", digits, ns / scale)
}

/// The phases as a timeline: one lane per mode (hvm, pv, pvhvm), each
/// phase a `rect.phase` starting where the previous one ended, widths
/// linear in simulated time on one scale for the whole chart.
fn timeline_svg(image: &str, phases: &[Phase]) -> String {
    use std::fmt::Write as _;

    use crate::svg::{self, esc};
    const MODES: [&str; 3] = ["hvm", "pv", "pvhvm"];
    const COLORS: [&str; 6] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b"];
    let (left, top, plot_w, lane_h, lane_gap) = (70.0, 50.0, 860.0, 36.0, 14.0);
    let total = |mode: &str| phases.iter().filter(|p| p.mode == mode).map(|p| p.ns).sum::<u64>();
    let max = MODES.iter().map(|m| total(m)).max().unwrap_or(0).max(1) as f64;
    let step = svg::nice_step(max, 8);
    let axis_max = (max / step).ceil() * step;
    let x = |ns: f64| left + ns / axis_max * plot_w;
    let plot_h = MODES.len() as f64 * (lane_h + lane_gap);
    let (width, height) = (left + plot_w + 40.0, top + plot_h + 50.0);
    let mut s = String::new();
    svg::begin(&mut s, width, height, &format!("boot-sim compare: {image}"));
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="24" font-size="15">Boot phases per mode (simulated time, linear scale): {}</text>"#,
        esc(image)
    );
    let mut t = 0.0;
    while t <= axis_max + step / 2.0 {
        let xx = x(t);
        let _ = writeln!(
            s,
            r##"<line class="tick" x1="{xx:.1}" y1="{top}" x2="{xx:.1}" y2="{:.1}" stroke="#ddd"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            top + plot_h,
            top + plot_h + 18.0,
            tick_label(t, step, axis_max)
        );
        t += step;
    }
    let _ = writeln!(
        s,
        r##"<line class="axis" x1="{left}" y1="{0:.1}" x2="{1:.1}" y2="{0:.1}" stroke="#333"/>"##,
        top + plot_h,
        left + plot_w
    );
    for (li, mode) in MODES.iter().enumerate() {
        let y = top + li as f64 * (lane_h + lane_gap) + lane_gap / 2.0;
        let _ = writeln!(s, r#"<g class="lane" data-mode="{mode}">"#);
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" font-weight="bold">{mode}</text>"#,
            left - 8.0,
            y + lane_h / 2.0 + 4.0
        );
        let mut start = 0u64;
        for (i, p) in phases.iter().filter(|p| p.mode == *mode).enumerate() {
            let (x0, x1) = (x(start as f64), x((start + p.ns) as f64));
            let w = x1 - x0;
            let label = format!("{}: {}", p.name, SimTime(p.ns));
            let _ = writeln!(
                s,
                r##"<rect class="phase" data-mode="{mode}" data-ns="{}" x="{x0:.3}" y="{y:.1}" width="{w:.3}" height="{lane_h}" fill="{}"><title>{mode}: {}</title></rect>"##,
                p.ns,
                COLORS[i % COLORS.len()],
                esc(&label)
            );
            // About 6.5 px per character at 12 px sans-serif.
            let fits = |text: &str| (text.chars().count() as f64) * 6.5 + 8.0 <= w;
            let text = if fits(&label) {
                Some(label.clone())
            } else {
                let short = SimTime(p.ns).to_string();
                fits(&short).then_some(short)
            };
            if let Some(text) = text {
                let _ = writeln!(
                    s,
                    r##"<text x="{:.1}" y="{:.1}" fill="#fff" pointer-events="none">{}</text>"##,
                    x0 + 4.0,
                    y + lane_h / 2.0 + 4.0,
                    esc(&text)
                );
            }
            start += p.ns;
        }
        if start == 0 {
            let _ = writeln!(
                s,
                r##"<text x="{:.1}" y="{:.1}" fill="#888">no phases (did not boot)</text>"##,
                left + 4.0,
                y + lane_h / 2.0 + 4.0
            );
        }
        s.push_str("</g>\n");
    }
    svg::end(&mut s);
    s
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
