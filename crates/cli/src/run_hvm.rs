//! `boot-sim run IMAGE --mode hvm`: the firmware, the MBR and what it loads.

use std::io::Write;
use std::sync::Arc;

use boot::hvm::console::cp437;
use boot::hvm::{self, EndState, HvmOptions, HvmReport, TraceLevel};
use boot::machine::{CostModel, SimTime};
use disk_image::ReadAt;
use serde_json::json;

use crate::output::{Exit, Out, human_size};
use crate::run_args::{KernelEntry, MAX_SECONDS, RunArgs};

pub fn run(out: &mut Out, a: &RunArgs<'_>, image: Arc<dyn ReadAt>, cost: CostModel) -> Result<(), Exit> {
    run_entry(out, a, image, cost).map(|_| ())
}

/// [`run`], returning the kernel entry when the boot reached one.
pub fn run_entry(
    out: &mut Out,
    a: &RunArgs<'_>,
    image: Arc<dyn ReadAt>,
    cost: CostModel,
) -> Result<Option<KernelEntry>, Exit> {
    let opts = options(a, cost)?;
    let r = hvm::run(image, &opts);
    if let EndState::SetupError { message } = &r.end {
        return Err(Exit::Error(message.clone()));
    }
    if a.json {
        render_json(out, &r)?;
    } else {
        render_text(out, a, &r)?;
    }
    match &r.end {
        EndState::KernelEntry { info, .. } => Ok(Some(KernelEntry {
            cmdline: info.cmdline.clone(),
            kernel_device: info.kernel.find(')').map(|i| info.kernel[..=i].to_string()),
        })),
        // A halt, a key wait or a failure: the boot stopped before a kernel
        // (README "Exit status": 1).
        _ => Err(Exit::NotBootable),
    }
}

/// The library's HVM defaults with the CLI's wall-clock budget, for the
/// commands that boot without `--max-seconds` (lab checks, bench).
pub(crate) fn default_options() -> HvmOptions {
    HvmOptions { max_wall: std::time::Duration::from_secs(MAX_SECONDS), ..HvmOptions::default() }
}

/// The HVM options of `run` (also `--mode pvhvm`'s HVM part).
pub(crate) fn options(a: &RunArgs<'_>, cost: CostModel) -> Result<HvmOptions, Exit> {
    let trace_level = match a.trace {
        None | Some("summary") => TraceLevel::Summary,
        Some("calls") => TraceLevel::Calls,
        Some("full") => TraceLevel::Full,
        Some(other) => return Err(Exit::Error(format!("--trace {other:?}: expected summary, calls or full"))),
    };
    Ok(HvmOptions {
        memory: a.memory_mib.checked_mul(1 << 20).ok_or_else(|| Exit::Error("--memory is too large".into()))?,
        max_instructions: a.machine.max_instructions,
        max_wall: std::time::Duration::from_secs(a.machine.max_seconds),
        keys: a.keys.to_string(),
        trace_level,
        cost,
        ..HvmOptions::default()
    })
}

pub(crate) fn render_text(out: &mut Out, a: &RunArgs<'_>, r: &HvmReport) -> Result<(), Exit> {
    writeln!(out, "HVM boot of {} ({} MiB guest)", a.image.display(), r.memory_bytes >> 20)?;
    if let Some(d) = &r.disk {
        let v = serde_json::to_value(d).unwrap_or_default();
        writeln!(out, "disk: {}", v)?;
    }
    writeln!(out, "console:")?;
    // The transcript holds bytes as Latin-1; drawing characters (GRUB
    // legacy's menu box and arrows) are shown as the VGA shows them.
    let drawn = |c: char| matches!(u32::from(c), 0x10..=0x1F | 0x80..=0xFF);
    let console: String = r.console.chars().map(|c| if drawn(c) { cp437(c as u8) } else { c }).collect();
    // Text placed with cursor moves (int 10h AH=02h) runs together in the
    // transcript: a line wider than the screen is shown as the text page.
    let positioned = r.counters.bios_calls.contains_key("int 10h AH=02h")
        && r.console.lines().any(|l| l.chars().count() > usize::from(boot::hvm::console::COLS));
    // GRUB 2 ends its lines with "\n\r" (kern/term.c), the others with "\r\n".
    for line in console.replace("\n\r", "\n").replace("\r\n", "\n").replace('\r', "\n").lines() {
        // From the first drawn line on (a menu placed with cursor moves,
        // then whatever follows on the same transcript line), the text
        // page tells more than the transcript: it is shown below.
        let squashed = positioned && line.chars().count() > usize::from(boot::hvm::console::COLS);
        if squashed || line.chars().any(|c| matches!(u32::from(c), 0x2190..=0x21FF | 0x2500..=0x25FF)) {
            writeln!(out, "  | [a screen drawn with cursor moves: see the screen at the end]")?;
            break;
        }
        writeln!(out, "  | {line}")?;
    }
    // A drawn screen (cursor moves, boxes) reads better as the text page:
    // the transcript keeps the characters but not where they went.
    if r.console.chars().any(drawn) || positioned {
        writeln!(out, "screen at the end:")?;
        for line in &r.screen {
            writeln!(out, "  | {line}")?;
        }
    }
    for s in &r.stages {
        writeln!(out, "stage: {}", serde_json::to_value(s).unwrap_or_default())?;
    }
    if !r.serial.is_empty() {
        writeln!(out, "serial (COM1):")?;
        for line in r.serial.replace("\n\r", "\n").replace("\r\n", "\n").lines() {
            writeln!(out, "  | {line}")?;
        }
    }
    if r.console_dropped > 0 {
        writeln!(out, "  ({} more console bytes not kept)", r.console_dropped)?;
    }
    writeln!(out, "end: {}", r.reason)?;
    if let EndState::KernelEntry { info, .. } = &r.end {
        let g = &info.regs;
        writeln!(out, "  entry {:?} ({})", info.entry_title, info.why)?;
        writeln!(out, "  kernel {} (protocol {}), cmdline {:?}", info.kernel, info.protocol, info.cmdline)?;
        writeln!(
            out,
            "  setup at {:#x} (boot_params), {:#x} bytes at {:#x}, cmd_line_ptr {:#x}",
            info.setup_base, info.kernel_size, info.kernel_load, info.cmd_line_ptr
        )?;
        if let (Some(i), Some(a), Some(l)) = (&info.initrd, info.initrd_addr, info.initrd_size) {
            writeln!(out, "  initrd {i}: {l:#x} bytes at {a:#x}")?;
        }
        for c in &info.checks {
            let verdict = if c.ok { "equals" } else { "MISMATCH:" };
            writeln!(out, "  check: the {} in guest memory {verdict} {}", c.what, c.detail)?;
        }
        if let Some((at, g)) = &info.setup_entry {
            writeln!(
                out,
                "  the loader entered Linux's 16-bit setup at {at} (DS=ES=SS {:04X}, SP {:04X}), which switched to 32-bit mode",
                g.ds, g.sp
            )?;
        }
        if g.mode == boot::hvm::PROTECTED_MODE {
            writeln!(
                out,
                "  registers: 32-bit flat protected mode, CS {:04X} EIP {:#x}, DS=ES=FS=GS=SS {:04X}, ESI {:#x} ESP {:#x}, IF {}",
                g.cs,
                g.ip,
                g.ds,
                g.esi.unwrap_or(0),
                g.sp,
                u8::from(g.interrupts)
            )?;
        } else {
            writeln!(
                out,
                "  registers: CS:IP {:04X}:{:04X}, DS=ES=FS=GS=SS {:04X}, SP {:04X}, IF {}",
                g.cs,
                g.ip,
                g.ds,
                g.sp,
                u8::from(g.interrupts)
            )?;
        }
    }
    render_prediction(out, r)?;
    render_disk_reads(out, &r.disk_reads)?;
    let c = &r.counters;
    writeln!(
        out,
        "counters: {} instructions, {} simulated; {} port exits (guest {}, firmware {}); {} sectors read, {} bytes by DMA",
        c.instructions,
        SimTime(c.sim_time_ns),
        c.port_exits,
        c.port_exits_guest,
        c.port_exits_firmware,
        c.sectors_read,
        c.bytes_dma
    )?;
    let mut ports: Vec<_> = c.exits_by_port.iter().collect();
    ports.sort_by_key(|(_, p)| std::cmp::Reverse(p.reads + p.writes));
    let top: Vec<String> = ports.iter().take(6).map(|(k, p)| format!("{k} ×{}", p.reads + p.writes)).collect();
    writeln!(out, "  ports: {}", top.join(", "))?;
    let calls: Vec<String> = c.bios_calls.iter().map(|(k, v)| format!("{k} ×{v}")).collect();
    writeln!(out, "  BIOS calls: {}", calls.join(", "))?;
    render_phases(out, &r.phases)?;
    if a.trace.is_some() {
        writeln!(out, "debugcon (port 0xE9):")?;
        for line in r.debugcon.lines() {
            writeln!(out, "  | {line}")?;
        }
        for e in &r.trace {
            writeln!(out, "  {}", serde_json::to_value(e).unwrap_or_default())?;
        }
        if r.trace_dropped > 0 {
            writeln!(out, "  ({} more events not kept)", r.trace_dropped)?;
        }
    }
    Ok(())
}

/// The menus module's prediction against what executed.
fn render_prediction(out: &mut Out, r: &HvmReport) -> Result<(), Exit> {
    let Some(p) = &r.prediction else { return Ok(()) };
    let verdict = match p.agrees {
        Some(true) => "the execution agrees",
        Some(false) => "the execution DIFFERS (the execution is the result)",
        None => "the execution did not reach the kernel",
    };
    writeln!(
        out,
        "prediction from {} by {}: entry {:?}, kernel {}: {verdict}",
        p.config, p.by, p.entry_title, p.kernel
    )?;
    for d in &p.differences {
        writeln!(out, "  differs: {d}")?;
    }
    Ok(())
}

/// What the loader's int 13h reads were: each boot file, metadata area and
/// boot area, in the order first read; a directory's modules on one line.
fn render_disk_reads(out: &mut Out, reads: &[boot::hvm::explain::DiskReads]) -> Result<(), Exit> {
    use boot::hvm::explain::DiskReads;
    use disk_image::owners::Owner;
    if reads.is_empty() {
        return Ok(());
    }
    writeln!(out, "disk reads (what the loader's int 13h reads were, in the order first read):")?;
    let line = |what: &str, sectors: u64, reads: u64| {
        format!("{what}: {} in {reads} read{}", human_size(sectors * 512), if reads == 1 { "" } else { "s" })
    };
    let mut grouped: Vec<(String, u64, u64, u64)> = Vec::new(); // (dir, files, sectors, reads)
    let mut printed_group = std::collections::BTreeSet::new();
    let dir_of = |d: &DiskReads| match &d.owner {
        Owner::File { device, path, .. } if d.role.as_deref() == Some("module") => {
            Some(format!("{device}{}", path.rsplit_once('/').map_or("", |(dir, _)| dir)))
        }
        _ => None,
    };
    for d in reads {
        if let Some(dir) = dir_of(d) {
            match grouped.iter_mut().find(|g| g.0 == dir) {
                Some(g) => {
                    g.1 += 1;
                    g.2 += d.sectors;
                    g.3 += d.reads;
                }
                None => grouped.push((dir, 1, d.sectors, d.reads)),
            }
        }
    }
    for d in reads {
        if let Some(dir) = dir_of(d) {
            if printed_group.insert(dir.clone())
                && let Some(g) = grouped.iter().find(|g| g.0 == dir)
            {
                writeln!(out, "  {}", line(&format!("{} modules from {dir}", g.1), g.2, g.3))?;
            }
            continue;
        }
        let what = match (&d.owner, &d.role) {
            (Owner::File { size, .. }, Some(role)) => format!("{} ({role}, {})", d.what, human_size(*size)),
            _ => d.what.clone(),
        };
        writeln!(out, "  {}", line(&what, d.sectors, d.reads))?;
    }
    Ok(())
}

/// The boot's phases: start, duration, VM exits and sectors read in each.
pub(crate) fn render_phases(out: &mut Out, phases: &[boot::hvm::HvmPhase]) -> Result<(), Exit> {
    if phases.is_empty() {
        return Ok(());
    }
    writeln!(out, "phases:")?;
    for p in phases {
        writeln!(
            out,
            "  {:>12}  {:<36} {:>12}  {:>5} exits  {:>5} sectors",
            SimTime(p.start_ns).to_string(),
            p.name,
            SimTime(p.duration_ns()).to_string(),
            p.exits,
            p.sectors_read
        )?;
    }
    Ok(())
}

fn render_json(out: &mut Out, r: &HvmReport) -> Result<(), Exit> {
    render_json_events(out, r)?;
    out.json(&result_json(r))?;
    Ok(())
}

/// The trace as `event` objects.
pub(crate) fn render_json_events(out: &mut Out, r: &HvmReport) -> Result<(), Exit> {
    for e in &r.trace {
        out.json(&json!({"type": "event", "event": e}))?;
    }
    Ok(())
}

/// The `result` object of `run --mode hvm`.
pub(crate) fn result_json(r: &HvmReport) -> serde_json::Value {
    json!({
        "type": "result",
        "mode": "hvm",
        "outcome": r.end,
        "reason": r.reason,
        "console": r.console,
        "serial": r.serial,
        "screen": r.screen,
        "debugcon": r.debugcon,
        "sim_ns": r.counters.sim_time_ns,
        "counters": r.counters,
        "e820": r.e820,
        "disk": r.disk,
        "stages": r.stages,
        "disk_reads": r.disk_reads,
        "prediction": r.prediction,
        "phases": r.phases,
    })
}
