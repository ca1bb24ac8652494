//! `boot-sim compare`: the hvm, pv and pvhvm columns are the runs of
//! `boot-sim run --mode …` with the same options, side by side.

mod common;

use common::{boot_sim, result};

use boot_sim::image;

#[test]
fn columns_are_the_three_runs() {
    let img = image("hvm-simboot.img");
    let o = boot_sim(&["compare", &img, "--json"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let c = result(&o);
    let hvm = result(&boot_sim(&["run", &img, "--mode", "hvm", "--json"]));
    let pv = result(&boot_sim(&["run", &img, "--mode", "pv", "--json"]));
    let pvhvm = result(&boot_sim(&["run", &img, "--mode", "pvhvm", "--json"]));
    assert_eq!(c["hvm"]["outcome"], hvm["outcome"]);
    assert_eq!(c["hvm"]["sim_ns"], hvm["sim_ns"]);
    assert_eq!(c["hvm"]["counters"], hvm["counters"]);
    assert_eq!(c["pv"]["outcome"], pv["outcome"]);
    assert_eq!(c["pv"]["sim_ns"], pv["sim_ns"]);
    assert_eq!(c["pvhvm"]["outcome"], "switched");
    assert_eq!(c["pvhvm"]["switch"], pvhvm["switch"]);
    assert_eq!(c["pvhvm"]["io"], pvhvm["io"]);
    assert_eq!(c["pvhvm"]["sim_ns"], pvhvm["sim_ns"]);

    // The same root-filesystem reads after each entry: IDE pays exits,
    // the ring paths none, and the two ring paths issue the same requests.
    let (h, p, x) = (&c["hvm"]["root_fs_reads"], &c["pv"]["root_fs_reads"], &c["pvhvm"]["io"]);
    assert_eq!(h["path"], "ide-dma");
    assert_eq!(p["path"], "pv");
    assert_eq!(h["bytes"], x["bytes"]);
    assert_eq!(p["bytes"], x["bytes"]);
    assert!(h["exits"].as_u64().unwrap() > 0 && h["ata_commands"].as_u64().unwrap() > 0, "{h}");
    assert_eq!(p["exits"], 0);
    assert_eq!(p["ring_requests"], x["ring_requests"]);

    let t = boot_sim(&["compare", &img]);
    assert!(t.status.success());
    let text = String::from_utf8_lossy(&t.stdout);
    for needle in ["Boot to the kernel entry:", "PV-on-HVM switch:", "Root filesystem after the entry", "Phases:"] {
        assert!(text.contains(needle), "{needle:?} missing:\n{text}");
    }
}

#[test]
fn no_kernel_either_way_exits_1() {
    let img = image("no-signature.img");
    let o = boot_sim(&["compare", &img, "--json"]);
    assert_eq!(o.status.code(), Some(1));
    let c = result(&o);
    assert_eq!(c["pv"]["outcome"], "cannot-boot");
    assert_eq!(c["pvhvm"]["outcome"], "no-switch");
    assert!(c["hvm"]["root_fs_reads"]["error"].is_string());
}

/// A duration as `SimTime` prints it ("2.526 s", "158.162 µs", "12 ns"), in ns.
fn parse_sim_time(s: &str) -> f64 {
    let (v, unit) = s.trim().split_once(' ').unwrap_or_else(|| panic!("duration {s:?}"));
    let v: f64 = v.parse().unwrap_or_else(|_| panic!("duration {s:?}"));
    v * match unit {
        "s" => 1e9,
        "ms" => 1e6,
        "µs" => 1e3,
        "ns" => 1.0,
        other => panic!("unit {other:?} in {s:?}"),
    }
}

/// The value of `name="…"` in one tag.
fn attr<'a>(tag: &'a str, name: &str) -> Option<&'a str> {
    let start = tag.find(&format!(" {name}=\""))? + name.len() + 3;
    tag[start..].split('"').next()
}

/// Every tag in document order, checked to nest: `<a>…</a>`, `<b/>`,
/// `<?xml …?>` skipped.
fn balanced_tags(doc: &str) -> Vec<&str> {
    let mut stack: Vec<&str> = Vec::new();
    let mut tags = Vec::new();
    let mut rest = doc;
    while let Some(open) = rest.find('<') {
        let close = rest[open..].find('>').expect("an unclosed tag") + open;
        let tag = &rest[open..=close];
        rest = &rest[close + 1..];
        if tag.starts_with("<?") {
            continue;
        }
        let name = |t: &str| t.trim_start_matches(['<', '/']).split([' ', '>', '/']).next().unwrap_or("").to_string();
        if tag.starts_with("</") {
            let top = stack.pop().unwrap_or_else(|| panic!("{tag} closes nothing"));
            assert_eq!(name(top), name(tag), "{tag} closes {top}");
        } else if !tag.ends_with("/>") {
            stack.push(tag);
        }
        tags.push(tag);
    }
    assert!(stack.is_empty(), "unclosed: {stack:?}");
    tags
}

#[test]
fn svg_timeline_draws_the_phases() {
    let img = image("hvm-simboot.img");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("timeline.svg");
    let o = boot_sim(&["compare", &img, "--svg", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8_lossy(&o.stdout);
    let phases: Vec<(String, f64)> = text
        .split("Phases:\n")
        .nth(1)
        .expect("a Phases: section")
        .lines()
        .take_while(|l| l.starts_with("  "))
        .map(|l| {
            let mode = l.split_whitespace().next().unwrap().to_string();
            let duration = l.rsplitn(3, ' ').take(2).collect::<Vec<_>>();
            (mode, parse_sim_time(&format!("{} {}", duration[1], duration[0])))
        })
        .collect();
    assert!(phases.len() >= 3, "{text}");
    assert!(text.contains("timeline written to"), "{text}");

    let doc = std::fs::read_to_string(&file).unwrap();
    let body = doc.trim_start().strip_prefix(r#"<?xml version="1.0" encoding="UTF-8"?>"#).unwrap_or(&doc).trim_start();
    assert!(body.starts_with("<svg"), "{doc}");
    assert!(doc.trim_end().ends_with("</svg>"), "{doc}");
    let tags = balanced_tags(&doc);

    for mode in ["hvm", "pv", "pvhvm"] {
        let lanes = tags.iter().filter(|t| t.contains(r#"class="lane""#) && attr(t, "data-mode") == Some(mode)).count();
        assert_eq!(lanes, 1, "lane {mode}:\n{doc}");
    }
    let rects: Vec<(&str, f64)> = tags
        .iter()
        .filter(|t| t.starts_with("<rect") && t.contains(r#"class="phase""#))
        .map(|t| (attr(t, "data-mode").unwrap(), attr(t, "width").unwrap().parse::<f64>().unwrap()))
        .collect();
    assert_eq!(rects.len(), phases.len(), "{text}\n{doc}");
    for ((mode, _), (rmode, _)) in phases.iter().zip(&rects) {
        assert_eq!(mode, rmode);
    }
    // Linear: a longer phase is never drawn narrower.
    for (i, (_, di)) in phases.iter().enumerate() {
        for (j, (_, dj)) in phases.iter().enumerate() {
            if di < dj {
                assert!(rects[i].1 <= rects[j].1, "phase {i} ({di} ns) wider than phase {j} ({dj} ns):\n{doc}");
            }
        }
    }
    // simboot's menu countdown (5 s) is the hvm lane's longest phase and
    // widest bar: the lane shows the boot phase by phase.
    let widest = rects.iter().filter(|r| r.0 == "hvm").map(|r| r.1).fold(0.0, f64::max);
    let hvm = (0..phases.len()).filter(|&i| phases[i].0 == "hvm");
    let longest = hvm.max_by(|&a, &b| phases[a].1.total_cmp(&phases[b].1)).unwrap();
    assert_eq!(rects[longest].1, widest);
    let section = text.split("Phases:\n").nth(1).unwrap();
    let line = section.lines().nth(longest).unwrap();
    assert!(line.starts_with("  hvm ") && line.contains("the loader waits for a key"), "{line}");
    for name in ["hvmloader", "seabios-post", "boot-menu-wait", "mbr", "load the kernel", "load the initrd"] {
        assert!(section.lines().any(|l| l.starts_with("  hvm ") && l.contains(name)), "{name}:\n{text}");
    }
    // The pvhvm lane runs the same HVM boot phase by phase, then the switch.
    let lane = |mode: &str| -> Vec<String> {
        section
            .lines()
            .filter(|l| l.split_whitespace().next() == Some(mode))
            .map(|l| l.split_whitespace().skip(1).collect::<Vec<_>>().join(" "))
            .collect()
    };
    let (hvm_lane, pvhvm_lane) = (lane("hvm"), lane("pvhvm"));
    let boot = &hvm_lane[..hvm_lane.len() - 1]; // without the hvm lane's IDE reads
    assert_eq!(&pvhvm_lane[..boot.len()], boot, "{text}");
    assert!(pvhvm_lane[boot.len()].starts_with("platform device, unplug, hypercalls"), "{text}");
    // Phases of a few µs (the PV lane's connect, the domain builder) are
    // still drawn, with their true time in data-ns and the title.
    assert!(rects.iter().all(|r| r.1 >= 2.0), "{rects:?}");
    let tiny = tags.iter().find(|t| t.contains(r#"class="phase""#) && attr(t, "data-mode") == Some("pv")).unwrap();
    assert!(attr(tiny, "data-ns").unwrap().parse::<u64>().unwrap() < 1_000_000, "{tiny}");
}
