//! `boot-sim bench`: emulated IDE (PIO, DMA) vs PV blkfront vs PVHVM on
//! the same reads, rendered as a table, JSON Lines and an SVG chart (the
//! throughput per path and block size, and the boot timeline of the hvm,
//! pv and pvhvm boots of `--image` or of the bundled fixture). The numbers
//! come from `boot::bench` and the boots; this file only renders them.

use std::fmt::Write as _;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

use boot::bench::{self, BenchConfig, BenchReport, IoPath, Workload, WorkloadKind};
use boot::machine::{CostModel, DiskProfile};
use disk_image::ReadAt;
use serde_json::json;

use crate::output::{Exit, Out, human_size};
use crate::progress::Progress;
use crate::svg::{self, esc};
use crate::timeline::{self, Lane};

/// The image whose boots `bench --svg` draws when no `--image` is given:
/// fixtures/images/hvm-simboot.img (simboot, boot-sim's own loader, in the
/// MBR and the gap; a bzImage and an initrd on ext4), built into the binary.
const BUNDLED_IMAGE: &[u8] = include_bytes!("../../../fixtures/images/hvm-simboot.img");
const BUNDLED_NAME: &str = "hvm-simboot.img (bundled fixture)";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum WorkloadArg {
    /// Sequential reads from the start of the disk.
    Seq,
    /// Random 4 KiB reads at --qd requests outstanding.
    Rand,
    /// What a booting system reads: the files under /boot, /etc and
    /// /usr/lib of --image (up to --size MiB of file data), as the
    /// filesystem code reads them, one request at a time.
    Boot,
    /// seq and rand, and boot when --image is given.
    All,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum MediumArg {
    /// No medium cost: only the I/O path (exits, ring, grants) is charged.
    Ideal,
    /// 1 ms per request, 125 MiB/s.
    EbsGp3,
    /// 100 µs per request, 1 GB/s.
    InstanceStore,
    /// Whatever the cost model (and --cost-model) says.
    CostModel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum PvArg {
    /// Linux xen-blkfront: 32 in flight, persistent grants, 32 indirect segments.
    Linux,
    /// 32 in flight, 11 segments per request, a grant mapped per segment.
    Classic,
    /// Mini-OS (PV-GRUB): one request at a time.
    MiniOs,
}

// Arguments of `boot-sim bench`. A plain comment, not a doc comment: clap
// takes a doc comment on an `Args` struct as the subcommand's about, and the
// subcommands are built lazily (`defer` in main.rs), after the `Bench`
// variant's own doc has been set, so this one would replace it.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// Workload pattern.
    #[arg(long, value_enum, default_value = "all")]
    workload: WorkloadArg,
    /// MiB read per workload (and the synthetic image's size).
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u64).range(1..=4096))]
    size: u64,
    /// Sequential block size in KiB [default: 4, 64 and 256].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=65536))]
    block: Option<u64>,
    /// Random reads outstanding at once (IDE cannot queue: it runs them one by one).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=1024))]
    qd: u32,
    /// TOML file overriding the simulated costs (see docs/cost-model.md).
    #[arg(long)]
    cost_model: Option<PathBuf>,
    /// The medium behind the virtual disk.
    #[arg(long, value_enum, default_value = "ideal")]
    medium: MediumArg,
    /// The PV frontend/backend features (pv and pvhvm paths).
    #[arg(long, value_enum, default_value = "linux")]
    pv: PvArg,
    /// Read this raw image (read-only) instead of a synthetic one.
    #[arg(long)]
    image: Option<PathBuf>,
    /// JSON Lines: one `bench` object, then one `path_result` per run.
    #[arg(long)]
    json: bool,
    /// Write an SVG chart of throughput per path and block size, and the
    /// boot timeline per mode (hvm, pv, pvhvm) of --image or, without it,
    /// of the bundled fixture hvm-simboot.img.
    #[arg(long)]
    svg: Option<PathBuf>,
}

fn workloads(a: &BenchArgs, image: Option<&Arc<dyn ReadAt>>) -> Result<Vec<Workload>, Exit> {
    let total = a.size << 20;
    let mut v = Vec::new();
    if matches!(a.workload, WorkloadArg::Seq | WorkloadArg::All) {
        let blocks = a.block.map_or_else(|| vec![4, 64, 256], |b| vec![b]);
        v.extend(blocks.into_iter().map(|kib| Workload::seq(total, kib << 10)));
    }
    if matches!(a.workload, WorkloadArg::Rand | WorkloadArg::All) {
        v.push(Workload::rand(total, 4 << 10, a.qd));
    }
    match (a.workload, image) {
        (WorkloadArg::Boot | WorkloadArg::All, Some(img)) => {
            v.push(Workload::boot_read(img.clone(), total).map_err(|e| Exit::Error(e.to_string()))?)
        }
        (WorkloadArg::Boot, None) => {
            return Err(Exit::Error("--workload boot reads the files of a real image: give --image FILE".into()));
        }
        _ => {}
    }
    Ok(v)
}

pub fn run(out: &mut Out, a: &BenchArgs) -> Result<(), Exit> {
    let cost = crate::run_args::cost_model(a.cost_model.as_deref())?;
    let file_image: Option<Arc<dyn ReadAt>> = match &a.image {
        Some(p) => Some(Arc::new(disk_image::RawImage::open(p)?)),
        None => None,
    };
    let config = BenchConfig {
        workloads: workloads(a, file_image.as_ref())?,
        medium: match a.medium {
            MediumArg::Ideal => Some(DiskProfile::Ideal),
            MediumArg::EbsGp3 => Some(DiskProfile::EbsGp3),
            MediumArg::InstanceStore => Some(DiskProfile::InstanceStore),
            MediumArg::CostModel => None,
        },
        pv: match a.pv {
            PvArg::Linux => bench::PvSetup::linux(),
            PvArg::Classic => bench::PvSetup::classic(),
            PvArg::MiniOs => bench::PvSetup::mini_os(),
        },
        ..BenchConfig::default()
    };
    let image: Arc<dyn ReadAt> = match file_image {
        Some(img) => img,
        None => {
            let need = config.workloads.iter().map(|w| w.disk_sectors_needed() * 512).max().unwrap_or(0);
            bench::synthetic_image(need.max(a.size << 20))
        }
    };
    let runs = config.workloads.len() * config.paths.len();
    let mut bar = Progress::new(runs + if a.svg.is_some() { 3 } else { 0 }, !a.json);
    let mut progress = |p: bench::Progress| {
        bar.step(&format!("{} {} {}", p.path.name(), p.workload.name(), human_size(p.block_bytes)));
    };
    let report = bench::run(image, &cost, &config, &mut progress).map_err(|e| Exit::Error(e.to_string()))?;
    let boots = match &a.svg {
        Some(_) => {
            let (img, name): (Arc<dyn ReadAt>, String) = match &a.image {
                Some(p) => (Arc::new(disk_image::RawImage::open(p)?), p.display().to_string()),
                None => {
                    (Arc::new(disk_image::MemImage::new(BUNDLED_IMAGE.to_vec(), BUNDLED_NAME)), BUNDLED_NAME.into())
                }
            };
            let hvm = boot::hvm::HvmOptions { cost: cost.clone(), ..crate::run_hvm::default_options() };
            let pv = boot::pv::PvOptions { cost: cost.clone(), ..boot::pv::PvOptions::default() };
            let b = timeline::boot_modes(img, hvm, &pv, a.size << 20, &mut |m| bar.step(&format!("{m} boot")))?;
            Some((name, timeline::lanes(&b)))
        }
        None => None,
    };
    bar.finish();
    let cost_used = config.effective_cost(&cost).map_err(|e| Exit::Error(e.to_string()))?;
    if let Some(p) = &a.svg {
        let boots = boots.as_ref().map(|(n, l)| (n.as_str(), l.as_slice()));
        std::fs::write(p, svg(&report, boots)).map_err(|e| Exit::Error(format!("{}: {e}", p.display())))?;
    }
    if a.json {
        let table: serde_json::Map<String, serde_json::Value> = cost_used
            .table()
            .map(|(k, ns)| {
                (serde_json::to_value(k).ok().and_then(|v| v.as_str().map(String::from)).unwrap_or_default(), json!(ns))
            })
            .collect();
        out.json(&json!({
            "type": "bench",
            "image": report.image,
            "image_bytes": report.image_bytes,
            "medium": serde_json::to_value(cost_used.params().disk_profile).unwrap_or_default(),
            "cost_ns": table,
            "memcpy_gb_per_s": cost_used.params().memcpy_gb_per_s,
            "pv": {
                "max_outstanding": config.pv.front.max_outstanding,
                "persistent": config.pv.front.persistent && config.pv.back.persistent,
                "indirect_segments": config.pv.front.indirect_segments.min(config.pv.back.max_indirect_segments),
            },
        }))?;
        for r in &report.results {
            let mut v = serde_json::to_value(r).map_err(|e| Exit::Error(e.to_string()))?;
            if let serde_json::Value::Object(m) = &mut v {
                let mut with_type = serde_json::Map::new();
                with_type.insert("type".into(), "path_result".into());
                with_type.extend(std::mem::take(m));
                *m = with_type;
            }
            out.json(&v)?;
        }
        return Ok(());
    }
    text(out, &report, &cost_used, a, config.pv)
}

fn text(out: &mut Out, report: &BenchReport, cost: &CostModel, a: &BenchArgs, pv: bench::PvSetup) -> Result<(), Exit> {
    let p = cost.params();
    writeln!(out, "I/O paths over {} ({}), simulated time", report.image, human_size(report.image_bytes))?;
    writeln!(
        out,
        "cost model: device-model exit {} ns, hypercall {} ns, upcall {} ns, memcpy {} GB/s, medium {:?}{}",
        cost.ns(boot::machine::CostKey::PioDeviceModel),
        cost.ns(boot::machine::CostKey::Hypercall),
        cost.ns(boot::machine::CostKey::EvtchnUpcall),
        p.memcpy_gb_per_s,
        p.disk_profile,
        a.cost_model.as_ref().map(|f| format!(" (overrides: {})", f.display())).unwrap_or_default()
    )?;
    writeln!(out)?;
    writeln!(
        out,
        "{:<8} {:<5} {:>9} {:>3} {:>10} {:>10} {:>11} {:>9} {:>12} {:>6} {:>8} {:>8} {:>8}",
        "path",
        "load",
        "block",
        "qd",
        "MiB/s",
        "IOPS",
        "sim time",
        "exits",
        "exits/sector",
        "exit%",
        "ring req",
        "grants",
        "notifies"
    )?;
    for r in &report.results {
        writeln!(
            out,
            "{:<8} {:<5} {:>9} {:>3} {:>10.1} {:>10.0} {:>11} {:>9} {:>12.2} {:>5.1}% {:>8} {:>8} {:>8}",
            r.path.name(),
            r.workload.name(),
            human_size(r.block_bytes),
            r.effective_queue_depth,
            r.mib_per_s,
            r.iops,
            ms(r.sim_ns),
            r.exits,
            r.exits_per_sector,
            r.exit_cost_share * 100.0,
            r.ring_requests,
            r.grants,
            r.notifies
        )?;
    }
    writeln!(out)?;
    // Verdicts, computed from the results above.
    let mut groups: Vec<(WorkloadKind, u64)> = Vec::new();
    for r in &report.results {
        if !groups.contains(&(r.workload, r.block_bytes)) {
            groups.push((r.workload, r.block_bytes));
        }
    }
    for (w, b) in groups {
        let get = |p: IoPath| report.results.iter().find(|r| r.path == p && r.workload == w && r.block_bytes == b);
        let (Some(pio), Some(dma), Some(pv), Some(pvhvm)) =
            (get(IoPath::IdePio), get(IoPath::IdeDma), get(IoPath::Pv), get(IoPath::Pvhvm))
        else {
            continue;
        };
        writeln!(
            out,
            "{} {}: PV {:.1}x IDE-DMA, {:.1}x IDE-PIO; PVHVM at {:.1}% of PV's time (switch {}); exits are {:.0}% of DMA's and {:.0}% of PIO's time",
            w.name(),
            human_size(b),
            pv.mib_per_s / dma.mib_per_s,
            pv.mib_per_s / pio.mib_per_s,
            pvhvm.sim_ns as f64 / pv.sim_ns as f64 * 100.0,
            ms(pvhvm.switch_ns),
            dma.exit_cost_share * 100.0,
            pio.exit_cost_share * 100.0
        )?;
    }
    if pv.front.persistent && pv.back.persistent {
        writeln!(
            out,
            "PV: persistent grants — the buffer pool is granted once when the vbd connects, so reads add no grants; \
             the data is copied out of the pool instead (bytes_copied in --json)"
        )?;
    }
    if let Some(p) = &a.svg {
        let booted = a.image.as_ref().map_or_else(|| BUNDLED_NAME.to_string(), |i| i.display().to_string());
        writeln!(
            out,
            "chart written to {} (throughput per path and block size; boot timeline of {booted})",
            p.display()
        )?;
    }
    Ok(())
}

fn ms(ns: u64) -> String {
    if ns >= 1_000_000 { format!("{:.2} ms", ns as f64 / 1e6) } else { format!("{:.1} µs", ns as f64 / 1e3) }
}

const COLORS: [(IoPath, &str); 4] =
    [(IoPath::IdePio, "#d62728"), (IoPath::IdeDma, "#ff7f0e"), (IoPath::Pv, "#1f77b4"), (IoPath::Pvhvm, "#2ca02c")];

/// Grouped bars on a log scale: one group per (workload, block size), one
/// bar per path, MiB/s of simulated time; below them, when given, the boot
/// timeline of an image (its name and lanes).
pub fn svg(report: &BenchReport, boots: Option<(&str, &[Lane])>) -> String {
    let mut groups: Vec<(WorkloadKind, u64, u32)> = Vec::new();
    for r in &report.results {
        let g = (r.workload, r.block_bytes, r.queue_depth);
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    let paths: Vec<IoPath> = IoPath::ALL.into_iter().filter(|p| report.results.iter().any(|r| r.path == *p)).collect();
    let (bar_w, gap, left, top, plot_h) = (26.0, 30.0, 70.0, 50.0, 300.0);
    let group_w = bar_w * paths.len() as f64 + gap;
    let width =
        (left + group_w * groups.len() as f64 + 160.0).max(if boots.is_some() { timeline::width() } else { 0.0 });
    let chart_h = top + plot_h + 70.0;
    let mut below = String::new();
    let height = match boots {
        Some((image, lanes)) => chart_h + timeline::draw(&mut below, chart_h, image, lanes),
        None => chart_h,
    };
    let positive = report.results.iter().map(|r| r.mib_per_s).filter(|v| *v > 0.0);
    let lo = positive.clone().fold(f64::INFINITY, f64::min).max(1e-3).log10().floor();
    let hi = positive.fold(0.0, f64::max).max(1e-3).log10().ceil().max(lo + 1.0);
    let y = |v: f64| top + plot_h - (v.max(1e-3).log10() - lo) / (hi - lo) * plot_h;
    let mut s = String::new();
    svg::begin(&mut s, width, height, &format!("boot-sim bench: {}", report.image));
    let _ = writeln!(
        s,
        r#"<text x="{left}" y="24" font-size="15">Read throughput per I/O path (MiB/s of simulated time, log scale)</text>"#
    );
    for d in (lo as i32)..=(hi as i32) {
        let v = 10f64.powi(d);
        let yy = y(v);
        let _ = writeln!(
            s,
            r##"<line x1="{left}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#ccc"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            left + group_w * groups.len() as f64,
            left - 6.0,
            yy + 4.0,
            if v >= 1.0 { format!("{v:.0}") } else { format!("{v}") }
        );
    }
    for (gi, &(w, block, qd)) in groups.iter().enumerate() {
        let gx = left + gap / 2.0 + gi as f64 * group_w;
        for (pi, &p) in paths.iter().enumerate() {
            let Some(r) = report
                .results
                .iter()
                .find(|r| r.path == p && r.workload == w && r.block_bytes == block && r.queue_depth == qd)
            else {
                continue;
            };
            let x = gx + pi as f64 * bar_w;
            let yy = y(r.mib_per_s);
            let color = COLORS.iter().find(|c| c.0 == p).map_or("#888", |c| c.1);
            let _ = writeln!(
                s,
                r#"<rect class="bar" data-path="{}" data-workload="{}" data-block="{}" data-mib-per-s="{:.3}" x="{x:.1}" y="{yy:.1}" width="{:.1}" height="{:.1}" fill="{color}"><title>{} {} {}: {:.1} MiB/s</title></rect>"#,
                p.name(),
                w.name(),
                block,
                r.mib_per_s,
                bar_w - 2.0,
                (top + plot_h - yy).max(0.0),
                p.name(),
                w.name(),
                esc(&human_size(block)),
                r.mib_per_s
            );
        }
        let label = match w {
            WorkloadKind::Seq => format!("seq {}", human_size(block)),
            WorkloadKind::Rand => format!("rand {} qd{qd}", human_size(block)),
            WorkloadKind::Boot => "boot files".to_string(),
        };
        let _ = writeln!(
            s,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            gx + bar_w * paths.len() as f64 / 2.0,
            top + plot_h + 18.0,
            esc(&label)
        );
    }
    let lx = left + group_w * groups.len() as f64 + 20.0;
    for (i, &p) in paths.iter().enumerate() {
        let color = COLORS.iter().find(|c| c.0 == p).map_or("#888", |c| c.1);
        let ly = top + 20.0 * i as f64;
        let _ = writeln!(
            s,
            r#"<rect class="legend" x="{lx:.1}" y="{ly:.1}" width="12" height="12" fill="{color}"/><text x="{:.1}" y="{:.1}">{}</text>"#,
            lx + 18.0,
            ly + 10.0,
            p.name()
        );
    }
    s.push_str(&below);
    svg::end(&mut s);
    s
}
