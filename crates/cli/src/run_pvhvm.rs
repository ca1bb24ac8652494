//! `boot-sim run IMAGE --mode pvhvm`: the HVM boot to the Linux entry,
//! then the PV-on-HVM switch and the root filesystem over the blkif ring.

use std::io::Write;
use std::sync::Arc;

use boot::bench::PvSetup;
use boot::devices::platform;
use boot::hvm::EndState;
use boot::hvm::pvhvm::{self, PvhvmOptions, PvhvmReport};
use boot::machine::{CostModel, SimTime};
use disk_image::ReadAt;
use serde_json::json;

use crate::output::{Exit, Out, human_size};
use crate::run_args::RunArgs;

pub fn run(out: &mut Out, a: &RunArgs<'_>, image: Arc<dyn ReadAt>, cost: CostModel) -> Result<(), Exit> {
    let opts = PvhvmOptions {
        hvm: crate::run_hvm::options(a, cost)?,
        read_bytes: a.read_mib.checked_mul(1 << 20).ok_or_else(|| Exit::Error("--read-mib is too large".into()))?,
        pv: PvSetup::linux(),
    };
    let r = pvhvm::run(image, &opts);
    if let EndState::SetupError { message } = &r.hvm.end {
        return Err(Exit::Error(message.clone()));
    }
    if a.json {
        render_json(out, &r)?;
    } else {
        crate::run_hvm::render_text(out, a, &r.hvm)?;
        render_text(out, a, &r)?;
    }
    match r.pv {
        Ok(_) => Ok(()),
        Err(_) => Err(Exit::NotBootable),
    }
}

fn unplug_words(mask: u16) -> String {
    let mut v = Vec::new();
    if mask & platform::XEN_UNPLUG_ALL_IDE_DISKS != 0 {
        v.push("all IDE disks");
    }
    if mask & platform::XEN_UNPLUG_ALL_NICS != 0 {
        v.push("all NICs");
    }
    v.join(", ")
}

fn render_text(out: &mut Out, a: &RunArgs<'_>, r: &PvhvmReport) -> Result<(), Exit> {
    let p = match &r.pv {
        Ok(p) => p,
        Err(message) => {
            writeln!(out, "PVHVM: cannot switch to the PV drivers: {message}")?;
            return Ok(());
        }
    };
    let s = &p.switch;
    let d = &s.platform;
    writeln!(out, "PV-on-HVM switch (at the kernel entry, {} simulated):", SimTime(s.start_ns))?;
    writeln!(
        out,
        "  platform device {:04x}:{:04x} found at {} (PCI configuration through ports 0xCF8/0xCFC)",
        d.vendor, d.device, d.bdf
    )?;
    writeln!(out, "  port 0x10 magic {:#06x}, port 0x12 protocol version {}", d.magic, d.protocol_version)?;
    writeln!(
        out,
        "  unplug mask {:#06x} ({}) written to port 0x10: emulated IDE disk {}",
        d.unplug_mask,
        unplug_words(d.unplug_mask),
        if s.ide_unplugged { "unplugged" } else { "STILL PLUGGED" }
    )?;
    let ports: Vec<String> =
        s.exits_by_port.iter().map(|e| format!("{:#06x} ×{}", e.port, e.reads + e.writes)).collect();
    writeln!(
        out,
        "  cost: {} port exits ({}; {}), {} hypercalls ({}); switch {}",
        s.port_exits,
        ports.join(", "),
        SimTime(s.exit_cost_ns),
        s.hypercalls,
        SimTime(s.hypercall_ns),
        SimTime(s.sim_ns)
    )?;
    writeln!(
        out,
        "  xenbus: blkfront connected to blkback in {}; ring and buffers at {:#x} ({})",
        SimTime(s.connect_ns),
        s.scratch,
        human_size(s.scratch_bytes)
    )?;
    let io = &p.io;
    writeln!(
        out,
        "Root filesystem over the blkif ring (files under /boot, /etc, /usr/lib, at most {} MiB of file data; \
         the filesystem code reads live through blkfront and its page cache):",
        a.read_mib
    )?;
    writeln!(
        out,
        "  {} requests, {} segments, {} grants written, {} grant maps, {} notifies, {} read, in {} simulated",
        io.ring_requests,
        io.ring_segments,
        io.grants,
        io.grant_maps,
        io.notifies,
        human_size(io.bytes),
        SimTime(io.sim_ns)
    )?;
    writeln!(out, "  IDE port exits after the switch: {}", p.ide_exits_after_switch)?;
    writeln!(out, "Simulated time at the end: {}", SimTime(p.end_ns))?;
    Ok(())
}

fn render_json(out: &mut Out, r: &PvhvmReport) -> Result<(), Exit> {
    crate::run_hvm::render_json_events(out, &r.hvm)?;
    let mut hvm = crate::run_hvm::result_json(&r.hvm);
    if let Some(m) = hvm.as_object_mut() {
        m.remove("type");
        m.remove("mode");
    }
    let v = match &r.pv {
        Ok(p) => json!({
            "type": "result",
            "mode": "pvhvm",
            "outcome": "switched",
            "hvm": hvm,
            "switch": p.switch,
            "io": p.io,
            "ide_exits_after_switch": p.ide_exits_after_switch,
            "sim_ns": p.end_ns,
        }),
        Err(message) => json!({
            "type": "result",
            "mode": "pvhvm",
            "outcome": "no-switch",
            "reason": message,
            "hvm": hvm,
            "sim_ns": r.hvm.counters.sim_time_ns,
        }),
    };
    out.json(&v)?;
    Ok(())
}
