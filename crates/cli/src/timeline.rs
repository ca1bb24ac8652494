//! The boot timeline both `compare --svg` and `bench --svg` draw: one lane
//! per mode (hvm, pv, pvhvm), each phase a bar on one linear scale of
//! simulated time, and the three boots (plus their post-boot reads) that
//! feed it.

use std::fmt::Write as _;
use std::sync::Arc;

use boot::bench::{self, PathResult, PvSetup, Workload};
use boot::hvm::pvhvm::{self, PvhvmError, PvhvmOptions, PvhvmReport};
use boot::hvm::{EndState, HvmOptions, HvmReport};
use boot::machine::{CostModel, SimTime};
use boot::pv::{self, PvOptions, PvOutcome, PvRun};
use disk_image::ReadAt;

use crate::output::Exit;
use crate::svg::{self, esc};

/// One phase of a lane.
pub struct Phase {
    pub name: String,
    pub ns: u64,
}

/// One mode's phases, in order, from time 0.
pub struct Lane {
    pub mode: &'static str,
    pub phases: Vec<Phase>,
}

/// The three boots of one image and the root-filesystem reads after each
/// kernel entry, every one on the machine (and clock) that booted.
pub struct Boots {
    /// The HVM boot to the kernel entry.
    pub hvm: HvmReport,
    /// The `boot` workload over emulated IDE (DMA) on the booted HVM guest.
    pub hvm_reads: Result<PathResult, PvhvmError>,
    pub pv: PvRun,
    /// The `boot` workload over the booted PV guest's blkfront.
    pub pv_reads: Result<PathResult, String>,
    pub pvhvm: PvhvmReport,
}

/// Boots `image` three ways and reads its root filesystem after each
/// kernel entry (`read_bytes` of file data at most). `step` is called
/// before each of the three boots with the mode's name.
pub fn boot_modes(
    image: Arc<dyn ReadAt>,
    hvm: HvmOptions,
    pv_opts: &PvOptions,
    read_bytes: u64,
    step: &mut dyn FnMut(&str),
) -> Result<Boots, Exit> {
    let cost: CostModel = hvm.cost.clone();
    let opts = PvhvmOptions { hvm, read_bytes, pv: PvSetup::linux() };
    step("hvm");
    let (hvm_report, hvm_reads) = pvhvm::run_hvm_then_read(image.clone(), &opts);
    if let EndState::SetupError { message } = &hvm_report.end {
        return Err(Exit::Error(message.clone()));
    }
    step("pv");
    let (pv_run, memory) = pv::run(image.clone(), pv_opts).map_err(|e| Exit::Error(e.to_string()))?;
    let pv_reads = match &pv_run.outcome {
        PvOutcome::Booted(b) => Workload::boot_read(image.clone(), read_bytes)
            .and_then(|w| {
                let end = bench::pv_layout_end(&b.layout);
                bench::pv_post_boot(image.clone(), memory, end, SimTime(pv_run.sim.sim_ns), &cost, PvSetup::linux(), &w)
            })
            .map_err(|e| e.to_string()),
        PvOutcome::CannotBoot(_) => Err("the pv boot did not reach the kernel entry".into()),
    };
    step("pvhvm");
    let pvhvm = pvhvm::run(image, &opts);
    Ok(Boots { hvm: hvm_report, hvm_reads, pv: pv_run, pv_reads, pvhvm })
}

/// The lanes of `b`: the HVM boot's phases (hvmloader … initrd) and its
/// reads; PV-GRUB's phases and the reads; the PVHVM boot's HVM phases,
/// switch, connect and reads.
pub fn lanes(b: &Boots) -> Vec<Lane> {
    let ph = |name: &str, ns| Phase { name: name.to_string(), ns };
    let mut hvm: Vec<Phase> = b.hvm.phases.iter().map(|p| ph(&p.name, p.duration_ns())).collect();
    if let Ok(r) = &b.hvm_reads {
        hvm.push(ph("root filesystem over IDE DMA", r.sim_ns));
    }
    let mut pv: Vec<Phase> = b.pv.sim.phases.iter().map(|s| ph(&s.name, s.duration_ns)).collect();
    if let Ok(r) = &b.pv_reads {
        pv.push(ph("blkfront: connect the vbd", r.setup_ns));
        pv.push(ph("root filesystem over the ring", r.sim_ns));
    }
    let mut pvhvm = Vec::new();
    if let Ok(r) = &b.pvhvm.pv {
        // The same HVM boot as the hvm lane, phase by phase, on its own
        // machine; the phases end where the switch starts.
        pvhvm.extend(b.pvhvm.hvm.phases.iter().map(|p| ph(&p.name, p.duration_ns())));
        let booted: u64 = pvhvm.iter().map(|p| p.ns).sum();
        if booted < r.switch.start_ns {
            pvhvm.push(ph("HVM boot to the kernel entry", r.switch.start_ns - booted));
        }
        pvhvm.push(ph("platform device, unplug, hypercalls", r.switch.sim_ns));
        pvhvm.push(ph("xenbus: connect the vbd", r.switch.connect_ns));
        pvhvm.push(ph("root filesystem over the ring", r.io.sim_ns));
    }
    vec![Lane { mode: "hvm", phases: hvm }, Lane { mode: "pv", phases: pv }, Lane { mode: "pvhvm", phases: pvhvm }]
}

/// Formats an axis tick in the chart's unit: s when the axis reaches one
/// second, ms below, with as many decimals as the step needs.
fn tick_label(ns: f64, step: f64, axis_max: f64) -> String {
    let (unit, scale) = if axis_max >= 1e9 { ("s", 1e9) } else { ("ms", 1e6) };
    let digits = if step >= scale { 0 } else { ((scale / step).log10().ceil() as usize).min(6) };
    format!("{:.*} {unit}", digits, ns / scale)
}

/// Narrowest bar drawn, px: a phase of a few µs on a seconds-long axis
/// stays visible; its `data-ns`, `data-start-ns`, title and label keep the
/// true time, and the next bar starts after it (a lane of many tiny
/// phases may end a few px past its true end).
pub const MIN_BAR_PX: f64 = 2.0;
const WIDTH: f64 = 1000.0;

/// Draws the lanes at `y0` into `s`; returns the height used.
pub fn draw(s: &mut String, y0: f64, image: &str, lanes: &[Lane]) -> f64 {
    const COLORS: [&str; 8] = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"];
    let (left, plot_w, lane_h, lane_gap) = (70.0, WIDTH - 110.0, 36.0, 14.0);
    let top = y0 + 50.0;
    let total = |l: &Lane| l.phases.iter().map(|p| p.ns).sum::<u64>();
    let max = lanes.iter().map(total).max().unwrap_or(0).max(1) as f64;
    let step = svg::nice_step(max, 8);
    let axis_max = (max / step).ceil() * step;
    let x = |ns: f64| left + ns / axis_max * plot_w;
    let plot_h = lanes.len() as f64 * (lane_h + lane_gap);
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="{:.1}" font-size="15">Boot phases per mode (simulated time, linear scale): {}</text>"#,
        y0 + 24.0,
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
    for (li, lane) in lanes.iter().enumerate() {
        let mode = lane.mode;
        let y = top + li as f64 * (lane_h + lane_gap) + lane_gap / 2.0;
        let _ = writeln!(s, r#"<g class="lane" data-mode="{mode}">"#);
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end" font-weight="bold">{mode}</text>"#,
            left - 8.0,
            y + lane_h / 2.0 + 4.0
        );
        let (mut start, mut drawn_end) = (0u64, left);
        for (i, p) in lane.phases.iter().enumerate() {
            // Widths stay linear in time (never below MIN_BAR_PX); a bar
            // starts at its time or after a widened predecessor.
            let x0 = x(start as f64).max(drawn_end);
            let w = (x((start + p.ns) as f64) - x(start as f64)).max(MIN_BAR_PX);
            drawn_end = x0 + w;
            let label = format!("{}: {}", p.name, SimTime(p.ns));
            let _ = writeln!(
                s,
                r##"<rect class="phase" data-mode="{mode}" data-ns="{}" data-start-ns="{start}" x="{x0:.3}" y="{y:.1}" width="{w:.3}" height="{lane_h}" fill="{}"><title>{mode}: {}</title></rect>"##,
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
        if lane.phases.is_empty() {
            let _ = writeln!(
                s,
                r##"<text x="{:.1}" y="{:.1}" fill="#888">no phases (did not boot)</text>"##,
                left + 4.0,
                y + lane_h / 2.0 + 4.0
            );
        }
        s.push_str("</g>\n");
    }
    plot_h + 50.0 + 50.0
}

/// A whole document holding only the timeline (`compare --svg`).
pub fn document(image: &str, lanes: &[Lane]) -> String {
    let mut body = String::new();
    let h = draw(&mut body, 0.0, image, lanes);
    let mut s = String::new();
    svg::begin(&mut s, WIDTH, h, &format!("boot-sim compare: {image}"));
    s.push_str(&body);
    svg::end(&mut s);
    s
}

/// The width [`draw`] uses.
pub fn width() -> f64 {
    WIDTH
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_phases_are_drawn_at_least_min_width_with_their_true_time() {
        let lanes = [Lane {
            mode: "pv",
            phases: vec![Phase { name: "connect".into(), ns: 3_000 }, Phase { name: "load".into(), ns: 2_000_000_000 }],
        }];
        let doc = document("img", &lanes);
        let rects: Vec<&str> = doc.lines().filter(|l| l.starts_with("<rect class=\"phase\"")).collect();
        assert_eq!(rects.len(), 2);
        assert!(rects[0].contains(r#"data-ns="3000""#) && rects[0].contains("connect: 3.000 µs"), "{}", rects[0]);
        let attr = |l: &str, a: &str| -> f64 {
            let at = l.find(&format!(" {a}=\"")).unwrap() + a.len() + 3;
            l[at..at + l[at..].find('"').unwrap()].parse().unwrap()
        };
        assert!(attr(rects[0], "width") >= MIN_BAR_PX);
        // The next bar starts where the widened one ends.
        assert!((attr(rects[1], "x") - (attr(rects[0], "x") + attr(rects[0], "width"))).abs() < 1e-6);
        assert!(doc.contains(r#"data-start-ns="3000""#));
    }
}
