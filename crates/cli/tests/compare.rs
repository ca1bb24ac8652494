//! `boot-sim compare`: the hvm, pv and pvhvm columns are the runs of
//! `boot-sim run --mode …` with the same options, side by side.

use std::path::PathBuf;
use std::process::{Command, Output};

fn image(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images").join(name).to_string_lossy().into_owned()
}

fn boot_sim(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_boot-sim")).args(args).output().expect("run boot-sim")
}

fn result(o: &Output) -> serde_json::Value {
    let lines = boot_sim::json_lines(&o.stdout);
    let r = lines.last().cloned().expect("a result object");
    assert_eq!(r["type"], "result", "{r}");
    r
}

#[test]
fn columns_are_the_three_runs() {
    let img = image("hvm-grub-legacy.img");
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
