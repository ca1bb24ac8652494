//! `boot-sim bench`: the table, JSON Lines, the SVG chart and the cost
//! model's effect, all read from the binary's output (nothing hard-coded).

mod common;

use common::boot_sim;

use std::process::Output;

use serde_json::Value;

fn results(out: &Output) -> Vec<Value> {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    boot_sim::json_lines(&out.stdout).into_iter().filter(|v| v["type"] == "path_result").collect()
}

fn mibs(rs: &[Value], path: &str, block: u64) -> f64 {
    rs.iter()
        .find(|r| r["path"] == path && r["block_bytes"] == block)
        .and_then(|r| r["mib_per_s"].as_f64())
        .unwrap_or_else(|| panic!("no {path} result for block {block}"))
}

#[test]
fn table_shows_every_path_and_the_verdicts() {
    let out = boot_sim(&["bench", "--size", "2", "--block", "64"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let t = String::from_utf8_lossy(&out.stdout);
    for needle in ["ide-pio", "ide-dma", "pv ", "pvhvm", "MiB/s", "exit%", "seq 64.0 KiB: PV", "rand 4.0 KiB: PV"] {
        assert!(t.contains(needle), "missing {needle:?} in:\n{t}");
    }
    // The progress bar is drawn only on a terminal: a pipe gets nothing.
    assert!(out.stderr.is_empty(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn json_lines_carry_the_counters_and_pv_wins() {
    let out = boot_sim(&["bench", "--workload", "seq", "--size", "2", "--block", "16", "--json"]);
    let lines = boot_sim::json_lines(&out.stdout);
    assert_eq!(lines[0]["type"], "bench");
    assert!(lines[0]["cost_ns"]["pio_device_model"].as_u64().unwrap() > 0);
    let rs = results(&out);
    assert_eq!(rs.len(), 4);
    for r in &rs {
        for k in [
            "exits",
            "exits_by_port",
            "ring_requests",
            "grants",
            "notifies",
            "bytes_copied",
            "sim_ns",
            "mib_per_s",
            "iops",
            "exit_cost_share",
        ] {
            assert!(!r[k].is_null(), "{k} missing in {r}");
        }
        assert_eq!(r["bytes"], 2 << 20);
    }
    let (pio, dma, pv, pvhvm) =
        (mibs(&rs, "ide-pio", 16384), mibs(&rs, "ide-dma", 16384), mibs(&rs, "pv", 16384), mibs(&rs, "pvhvm", 16384));
    assert!(pv > dma && pv > pio && pvhvm > dma, "{pio} {dma} {pv} {pvhvm}");
    let dma_r = rs.iter().find(|r| r["path"] == "ide-dma").unwrap();
    assert!(dma_r["exit_cost_share"].as_f64().unwrap() > 0.5);
    assert!(dma_r["exits_by_port"].as_array().unwrap().iter().any(|p| p["name"] == "bmide command"));
}

#[test]
fn cheaper_device_model_exits_speed_up_the_emulated_paths() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("cheap.toml");
    std::fs::write(&toml, "pio_device_model_cycles = 2057\n").unwrap();
    let args = ["bench", "--workload", "seq", "--size", "1", "--block", "64", "--json"];
    let base = results(&boot_sim(&args));
    let mut with = args.to_vec();
    with.extend(["--cost-model", toml.to_str().unwrap()]);
    let cheap = results(&boot_sim(&with));
    for p in ["ide-pio", "ide-dma"] {
        assert!(mibs(&cheap, p, 65536) > mibs(&base, p, 65536) * 2.0, "{p}");
    }
    assert_eq!(mibs(&cheap, "pv", 65536), mibs(&base, "pv", 65536));
    std::fs::write(&toml, "pio_device_model_cyles = 1\n").unwrap();
    let bad = boot_sim(&with);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("pio_device_model_cyles"));
}

/// Minimal XML well-formedness: declaration, balanced tags, quoted
/// attributes, no stray `<` or `&` in text.
fn well_formed(xml: &str) -> Result<(), String> {
    let mut stack: Vec<&str> = Vec::new();
    let mut rest = xml.trim_start();
    rest = rest.strip_prefix("<?xml").and_then(|r| r.split_once("?>")).map(|(_, r)| r).ok_or("no XML declaration")?;
    let mut root_seen = false;
    while let Some(i) = rest.find('<') {
        let text = &rest[..i];
        if let Some(a) = text.find('&') {
            let ent = &text[a..];
            if !["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].iter().any(|e| ent.starts_with(e)) {
                return Err(format!("bad entity in {text:?}"));
            }
        }
        let end = rest[i..].find('>').ok_or("unclosed tag")? + i;
        let tag = &rest[i + 1..end];
        if let Some(name) = tag.strip_prefix('/') {
            if stack.pop() != Some(name.trim()) {
                return Err(format!("mismatched </{name}>"));
            }
        } else {
            let self_closing = tag.ends_with('/');
            let body = tag.trim_end_matches('/');
            let name = body.split_whitespace().next().ok_or("empty tag")?;
            if stack.is_empty() && root_seen {
                return Err("two root elements".into());
            }
            root_seen = true;
            if !body.matches('"').count().is_multiple_of(2) || body.contains('<') {
                return Err(format!("bad attributes in <{tag}>"));
            }
            if !self_closing {
                stack.push(name);
            }
        }
        rest = &rest[end + 1..];
        if stack.is_empty() && rest.trim().is_empty() {
            return Ok(());
        }
    }
    if stack.is_empty() && root_seen { Ok(()) } else { Err(format!("unclosed {stack:?}")) }
}

#[test]
fn svg_is_well_formed_with_one_bar_per_path_and_block() {
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("io.svg");
    let out = boot_sim(&["bench", "--size", "1", "--svg", svg.to_str().unwrap(), "--json"]);
    let rs = results(&out);
    let text = std::fs::read_to_string(&svg).unwrap();
    well_formed(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(well_formed("<?xml version=\"1.0\"?><a><b></a></b>").is_err());
    let bars: Vec<&str> = text.lines().filter(|l| l.contains("class=\"bar\"")).collect();
    assert_eq!(bars.len(), rs.len());
    for r in &rs {
        let want = format!(
            "data-path=\"{}\" data-workload=\"{}\" data-block=\"{}\"",
            r["path"].as_str().unwrap(),
            r["workload"].as_str().unwrap(),
            r["block_bytes"]
        );
        assert_eq!(bars.iter().filter(|b| b.contains(&want)).count(), 1, "{want}");
    }
    for p in ["ide-pio", "ide-dma", "pv", "pvhvm"] {
        assert_eq!(bars.iter().filter(|b| b.contains(&format!("data-path=\"{p}\""))).count(), 4, "{p}");
    }
    // Below the bars: the boot timeline of the bundled fixture, a lane per
    // mode; the hvm lane phase by phase, every mode ending with its reads.
    assert!(text.contains("hvm-simboot.img (bundled fixture)"), "{text}");
    let phases = |mode: &str| -> Vec<&str> {
        text.lines()
            .filter(|l| l.starts_with("<rect class=\"phase\"") && l.contains(&format!("data-mode=\"{mode}\"")))
            .collect()
    };
    let hvm = phases("hvm");
    assert!(hvm.len() >= 8, "{text}");
    for name in ["hvmloader", "boot-menu-wait", "mbr", "load the kernel", "root filesystem over IDE DMA"] {
        assert!(hvm.iter().any(|r| r.contains(&format!("<title>hvm: {name}"))), "{name}");
    }
    for mode in ["pv", "pvhvm"] {
        assert!(phases(mode).last().is_some_and(|r| r.contains("root filesystem over the ring")), "{mode}:\n{text}");
    }
    // With --image, that image's boots.
    let img = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images/no-signature.img");
    let svg2 = dir.path().join("io2.svg");
    let args = ["bench", "--size", "1", "--workload", "seq", "--block", "64", "--json", "--image"];
    let out = boot_sim(&[&args[..], &[img.to_str().unwrap(), "--svg", svg2.to_str().unwrap()]].concat());
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&svg2).unwrap();
    well_formed(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(text.contains("no-signature.img") && text.contains("no phases (did not boot)"), "{text}");
}

#[test]
fn boot_workload_needs_an_image_and_reads_its_files() {
    let out = boot_sim(&["bench", "--workload", "boot"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--image"));
    let img = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images/pv-kernel.img");
    let rs = results(&boot_sim(&["bench", "--workload", "boot", "--image", img.to_str().unwrap(), "--json"]));
    assert_eq!(rs.len(), 4);
    assert!(rs.iter().all(|r| r["workload"] == "boot" && r["bytes"].as_u64().unwrap() > 0));
}
