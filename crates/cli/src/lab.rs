//! `boot-sim lab list | check`: the teaching labs of `docs/labs/`, and
//! their automatic checks.
//!
//! - Labs 3 and 4 change images: `lab check 3|4 IMAGE` runs the same
//!   library code as the commands the lab teaches (`inspect`, `menu`,
//!   `run`) on the student's copy and reports each condition of a good
//!   repair (lab 3) or migration (lab 4, [`lab4`]) with boot-sim's own
//!   diagnosis when it does not hold.
//! - Lab 7 fixes an image so that a bootstrap script runs: `lab check 7
//!   IMAGE` runs `ami launch --user-data`'s library code on the copy with
//!   the lab's script ([`lab7`]).
//! - Labs 1, 2, 5 and 6 ask questions: `lab check N ANSWERS.toml` marks the
//!   answers that are values ([`answers`]) against a key computed from the
//!   bundled fixtures ([`keys`]). Explanations are not marked: every lab
//!   ends with an answer key for them.

mod answers;
mod keys;
mod lab4;
mod lab7;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use boot::pv::{self, PvOptions, PvOutcome};
use boot_config::discover::{self, Loader};
use boot_config::inspect::{self, DiskReport};
use boot_config::select::{self, EntryRequest};
use disk_image::partition::Scheme;
use disk_image::{Disk, RawImage, ReadAt};
use serde::Serialize;
use serde_json::json;

use crate::output::{Exit, Out};

#[derive(Debug, clap::Subcommand)]
pub enum LabCommand {
    /// List the labs, where their text is, and which parts `lab check` can
    /// check.
    ///
    /// Example: boot-sim lab list
    List {
        /// JSON Lines: one lab object per lab.
        #[arg(long)]
        json: bool,
    },
    /// Check a lab's result: a repaired image (lab 3), a migrated image
    /// (lab 4), an image whose bootstrap script runs (lab 7), or an answers
    /// file (labs 1, 2, 5, 6).
    ///
    /// Lab 3: runs boot-sim's diagnosis on the repaired copy and reports
    /// every condition of a good repair; the part is taken from --part, or
    /// else from the image's file name (lab3/no-signature.img is part A).
    /// Lab 4: every condition an HVM boot needs, ending with the HVM boot.
    /// Lab 7: what the lab's script needs from the image (cloud-init, Ec2
    /// in datasource_list, its services, scripts-user), ending with the
    /// verdict of `ami launch --user-data` on it.
    /// Labs 1, 2, 5, 6: marks each answer of the TOML answers file (one
    /// [qN] table per question) correct, wrong (with a hint) or missing,
    /// against values computed from the bundled fixtures.
    /// Exit status 0 when everything passes, 1 when not, 2 when the file
    /// cannot be read (a malformed answers file: its line).
    ///
    /// Examples: boot-sim lab check 3 lab3/no-signature.img
    ///           boot-sim lab check 4 lab4/hvm.img
    ///           boot-sim lab check 7 lab7/web.img
    ///           boot-sim lab check 1 lab1/answers.toml
    Check {
        /// The lab number (see `boot-sim lab list`).
        lab: u8,
        /// The image (labs 3, 4 and 7) or the answers file (labs 1, 2, 5, 6).
        #[arg(value_name = "IMAGE|ANSWERS")]
        image: PathBuf,
        /// The part of the lab (A–E for lab 3).
        #[arg(long)]
        part: Option<char>,
        /// JSON Lines: one check (lab 3, 4, 7) or answer (labs 1, 2, 5, 6) object
        /// each, then a result object.
        #[arg(long)]
        json: bool,
    },
}

/// One lab of `docs/labs/`. The titles are the documents' first headings
/// (a test keeps them equal).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Lab {
    pub number: u8,
    pub title: &'static str,
    /// Relative to the checkout; `None` while the lab is not written.
    pub file: Option<&'static str>,
    /// Why a lab is not available yet.
    pub missing: Option<&'static str>,
    pub parts: &'static [Part],
    /// What `lab check` checks.
    pub check: CheckKind,
}

/// What `boot-sim lab check N FILE` takes as FILE.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CheckKind {
    /// Lab 3: a repaired copy of a part's image.
    RepairedImage,
    /// Lab 4: the image migrated to HVM.
    MigratedImage,
    /// Lab 7: the image fixed so that the lab's bootstrap script runs.
    BootstrappedImage,
    /// A TOML answers file.
    Answers,
}

/// A part of a lab whose result `lab check` can check.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Part {
    pub id: char,
    pub title: &'static str,
    /// The fixture the part breaks (the student repairs a copy of it).
    pub fixture: &'static str,
}

const LAB3_PARTS: &[Part] = &[
    Part { id: 'A', title: "no boot signature", fixture: "no-signature.img" },
    Part { id: 'B', title: "a primary GPT header with a bad CRC", fixture: "gpt-bad-primary.img" },
    Part { id: 'C', title: "a corrupt superblock", fixture: "corrupt-superblock.img" },
    Part { id: 'D', title: "a kernel without Xen notes", fixture: "pv-kernel.img" },
    Part { id: 'E', title: "the menu on a logical partition", fixture: "mbr-logical.img" },
];

pub const LABS: &[Lab] = &[
    Lab {
        number: 1,
        title: "Anatomy of an AMI root volume",
        file: Some("docs/labs/lab1-anatomy.md"),
        missing: None,
        parts: &[],
        check: CheckKind::Answers,
    },
    Lab {
        number: 2,
        title: "Why did PV-GRUB pick that kernel?",
        file: Some("docs/labs/lab2-pvgrub-choice.md"),
        missing: None,
        parts: &[],
        check: CheckKind::Answers,
    },
    Lab {
        number: 3,
        title: "Break it and fix it",
        file: Some("docs/labs/lab3-break-and-fix.md"),
        missing: None,
        parts: LAB3_PARTS,
        check: CheckKind::RepairedImage,
    },
    Lab {
        number: 4,
        title: "Migrating a PV image to HVM",
        file: Some("docs/labs/lab4-pv-to-hvm.md"),
        missing: None,
        parts: &[],
        check: CheckKind::MigratedImage,
    },
    Lab {
        number: 5,
        title: "The cost of emulation",
        file: Some("docs/labs/lab5-emulation-cost.md"),
        missing: None,
        parts: &[],
        check: CheckKind::Answers,
    },
    Lab {
        number: 6,
        title: "AMIs in practice",
        file: Some("docs/labs/lab6-amis.md"),
        missing: None,
        parts: &[],
        check: CheckKind::Answers,
    },
    Lab {
        number: 7,
        title: "A bootstrap script that does not run, and why",
        file: Some("docs/labs/lab7-bootstrap.md"),
        missing: None,
        parts: &[],
        check: CheckKind::BootstrappedImage,
    },
];

pub fn run(out: &mut Out, cmd: LabCommand) -> Result<(), Exit> {
    match cmd {
        LabCommand::List { json } => list(out, json),
        LabCommand::Check { lab, image, part, json } => check(out, lab, &image, part, json),
    }
}

fn list(out: &mut Out, as_json: bool) -> Result<(), Exit> {
    for lab in LABS {
        if as_json {
            out.json(&json!({
                "type": "lab",
                "number": lab.number,
                "title": lab.title,
                "file": lab.file,
                "missing": lab.missing,
                "check": lab.check,
                "checks": lab.parts,
            }))?;
            continue;
        }
        let place = match (lab.file, lab.missing) {
            (Some(f), _) => f.to_string(),
            (None, Some(why)) => format!("not available: {why}"),
            (None, None) => "not written yet".to_string(),
        };
        writeln!(out, "{:>2}  {}  ({place})", lab.number, lab.title)?;
        match lab.check {
            CheckKind::RepairedImage => {
                let ids: Vec<String> = lab.parts.iter().map(|p| p.id.to_string()).collect();
                writeln!(out, "    boot-sim lab check {} IMAGE: parts {}", lab.number, ids.join(", "))?;
            }
            CheckKind::MigratedImage => {
                writeln!(out, "    boot-sim lab check {} IMAGE: the image migrated to HVM", lab.number)?;
            }
            CheckKind::BootstrappedImage => {
                writeln!(out, "    boot-sim lab check {} IMAGE: the image on which the lab's script runs", lab.number)?;
            }
            CheckKind::Answers => {
                writeln!(out, "    boot-sim lab check {} ANSWERS.toml: the answers to its questions", lab.number)?;
            }
        }
    }
    Ok(())
}

/// One condition of a good repair.
#[derive(Debug, Clone, Serialize)]
pub struct Condition {
    pub check: String,
    pub passed: bool,
    /// What boot-sim found: the evidence when passed, the diagnosis when not.
    pub detail: String,
}

fn condition(check: &str, passed: bool, detail: impl Into<String>) -> Condition {
    Condition { check: check.to_string(), passed, detail: detail.into() }
}

fn pick_part(lab: &Lab, image: &Path, part: Option<char>) -> Result<&'static Part, Exit> {
    let ids: Vec<String> = lab.parts.iter().map(|p| p.id.to_string()).collect();
    if let Some(id) = part {
        return lab.parts.iter().find(|p| p.id.eq_ignore_ascii_case(&id)).ok_or_else(|| {
            Exit::Error(format!("lab {} has no part {id:?}; its parts are {}", lab.number, ids.join(", ")))
        });
    }
    let name = image.file_name().and_then(|n| n.to_str()).unwrap_or("");
    lab.parts.iter().find(|p| p.fixture == name).ok_or_else(|| {
        let names: Vec<String> = lab.parts.iter().map(|p| format!("{} {}", p.id, p.fixture)).collect();
        Exit::Error(format!(
            "{}: cannot tell which part of lab {} this image is for; give --part ({})",
            image.display(),
            lab.number,
            names.join(", ")
        ))
    })
}

fn check(out: &mut Out, number: u8, image: &Path, part: Option<char>, as_json: bool) -> Result<(), Exit> {
    let lab = LABS.iter().find(|l| l.number == number).ok_or_else(|| {
        Exit::Error(format!("there is no lab {number}; `boot-sim lab list` shows them (1 to {})", LABS.len()))
    })?;
    if part.is_some() && lab.check != CheckKind::RepairedImage {
        return Err(Exit::Error(format!("--part is for lab 3; lab {number} has no parts")));
    }
    match lab.check {
        CheckKind::RepairedImage => {}
        CheckKind::MigratedImage => return check_migrated(out, number, image, as_json),
        CheckKind::BootstrappedImage => return check_bootstrapped(out, number, image, as_json),
        CheckKind::Answers => return check_answers(out, number, image, as_json),
    }
    // What the path is comes first: a FIFO is not a lab 3 part.
    drop(disk_image::RawImage::open(image)?);
    let part = pick_part(lab, image, part)?;
    let conditions = check_part(image, part.id)?;
    let repaired = conditions.iter().all(|c| c.passed);
    if as_json {
        for c in &conditions {
            out.json(&json!({"type": "check", "lab": number, "part": part.id.to_string(), "check": c.check,
                "passed": c.passed, "detail": c.detail}))?;
        }
        out.json(&json!({"type": "result", "lab": number, "part": part.id.to_string(),
            "image": image.display().to_string(), "repaired": repaired}))?;
    } else {
        writeln!(out, "Lab {number}, part {} ({}): {}", part.id, part.title, image.display())?;
        for c in &conditions {
            writeln!(out, "  {}  {}: {}", if c.passed { "pass" } else { "FAIL" }, c.check, c.detail)?;
        }
        if repaired {
            writeln!(out, "Part {}: repaired.", part.id)?;
        } else {
            writeln!(out, "Part {}: not repaired yet.", part.id)?;
        }
    }
    if repaired { Ok(()) } else { Err(Exit::NotBootable) }
}

/// Lab 4: every condition of a migration to HVM.
fn check_migrated(out: &mut Out, number: u8, image: &Path, as_json: bool) -> Result<(), Exit> {
    let v = ImageVerdict("migration to HVM", "migrated", "Migrated: the image boots as HVM.", "Not migrated yet");
    render_image_check(out, number, image, as_json, &lab4::check(image)?, &v)
}

/// Lab 7: what the lab's script needs from the image, and the verdict.
fn check_bootstrapped(out: &mut Out, number: u8, image: &Path, as_json: bool) -> Result<(), Exit> {
    let v = ImageVerdict("the bootstrap script", "runs", "Fixed: the script runs on this image.", "Not fixed yet");
    render_image_check(out, number, image, as_json, &lab7::check(image)?, &v)
}

/// How a whole-image lab (4, 7) words its verdict: the text heading after
/// "Lab N", the `result` object's verdict field, the closing line when
/// every condition passes, and the closing line's start otherwise
/// ("…: K of N conditions fail.").
struct ImageVerdict(&'static str, &'static str, &'static str, &'static str);

/// Each condition, then the verdict; exit 1 unless all passed.
fn render_image_check(
    out: &mut Out,
    number: u8,
    image: &Path,
    as_json: bool,
    conditions: &[Condition],
    v: &ImageVerdict,
) -> Result<(), Exit> {
    let passed = conditions.iter().all(|c| c.passed);
    if as_json {
        for c in conditions {
            out.json(&json!({"type": "check", "lab": number, "check": c.check, "passed": c.passed,
                "detail": c.detail}))?;
        }
        let mut result = json!({"type": "result", "lab": number, "image": image.display().to_string()});
        result[v.1] = json!(passed);
        out.json(&result)?;
    } else {
        writeln!(out, "Lab {number} ({}): {}", v.0, image.display())?;
        for c in conditions {
            writeln!(out, "  {}  {}: {}", if c.passed { "pass" } else { "FAIL" }, c.check, c.detail)?;
        }
        let failed = conditions.iter().filter(|c| !c.passed).count();
        if passed {
            writeln!(out, "{}", v.2)?;
        } else {
            writeln!(out, "{}: {failed} of {} conditions fail.", v.3, conditions.len())?;
        }
    }
    if passed { Ok(()) } else { Err(Exit::NotBootable) }
}

/// The answer key of a lab whose check is an answers file.
fn sheet(number: u8) -> Result<answers::Sheet, Exit> {
    match number {
        1 => keys::lab1(),
        2 => keys::lab2(),
        5 => keys::lab5(),
        6 => keys::lab6(),
        _ => Err(Exit::Error(format!("lab {number} has no answers file"))),
    }
}

/// Labs 1, 2, 5, 6: marks an answers file.
fn check_answers(out: &mut Out, number: u8, file: &Path, as_json: bool) -> Result<(), Exit> {
    let sheet = sheet(number)?;
    let given = answers::read(file, number, &sheet)?;
    let marks = answers::mark(&sheet, &given);
    let count = |v: answers::Verdict| marks.iter().filter(|m| m.verdict == v).count();
    let (correct, wrong, missing) =
        (count(answers::Verdict::Correct), count(answers::Verdict::Wrong), count(answers::Verdict::Missing));
    let passed = correct == marks.len();
    if as_json {
        for m in &marks {
            out.json(&json!({"type": "answer", "lab": number, "question": m.question, "verdict": m.verdict,
                "asks": m.asks, "hint": m.hint}))?;
        }
        for (q, about) in &sheet.open {
            out.json(&json!({"type": "open", "lab": number, "question": format!("q{q}"), "about": about}))?;
        }
        out.json(&json!({"type": "result", "lab": number, "file": file.display().to_string(),
            "correct": correct, "wrong": wrong, "missing": missing, "passed": passed}))?;
    } else {
        writeln!(out, "Lab {number}, answers {}:", file.display())?;
        for m in &marks {
            match m.verdict {
                answers::Verdict::Correct => writeln!(out, "  correct  {}", m.question)?,
                answers::Verdict::Wrong => {
                    writeln!(out, "  WRONG    {}: hint: {}", m.question, m.hint.unwrap_or(m.asks))?
                }
                answers::Verdict::Missing => writeln!(out, "  missing  {} ({})", m.question, m.asks)?,
            }
        }
        for (q, about) in &sheet.open {
            writeln!(out, "  not checked automatically: q{q}, {about} (see the answer key)")?;
        }
        writeln!(out, "{correct} of {} correct, {wrong} wrong, {missing} missing.", marks.len())?;
    }
    if passed { Ok(()) } else { Err(Exit::NotBootable) }
}

/// The conditions of a good repair of lab 3's part `id` on `image`.
pub fn check_part(image: &Path, id: char) -> Result<Vec<Condition>, Exit> {
    let disk = Disk::open(image)?;
    let report = inspect::inspect(&disk)?;
    let mut c = Vec::new();
    match id {
        'A' => {
            let sig = report.boot_sector.signature;
            c.push(condition(
                "sector 0 ends in 0x55AA",
                sig,
                if sig { "bytes 510-511 are 55 aa" } else { "no 0x55AA signature at byte 0x1fe" },
            ));
            let parts = report.volumes.iter().filter(|v| v.volume.partition.is_some()).count();
            c.push(condition(
                "the MBR partition table is read",
                report.scheme == Scheme::Mbr && parts > 0,
                format!("{} table, {parts} partition(s)", scheme_word(report.scheme)),
            ));
        }
        'B' => {
            let lba = report.gpt_header_lba;
            c.push(condition(
                "the primary GPT header (LBA 1) is used",
                report.scheme == Scheme::Gpt && lba == Some(disk_image::Lba(1)),
                match lba {
                    Some(l) => format!("{} table, header at {l}", scheme_word(report.scheme)),
                    None => format!("{} table, no GPT header", scheme_word(report.scheme)),
                },
            ));
        }
        'C' => {
            let broken: Vec<String> = report
                .volumes
                .iter()
                .filter_map(|v| v.fs_error.as_ref().map(|e| format!("{}: {e}", v.volume.names.linux)))
                .collect();
            let readable = report.volumes.iter().filter(|v| v.fs.is_some() && v.fs_error.is_none()).count();
            c.push(condition(
                "every file system is readable",
                broken.is_empty() && readable > 0,
                if broken.is_empty() { format!("{readable} readable file system(s)") } else { broken.join("; ") },
            ));
        }
        'D' => c.push(pv_boots(image, EntryRequest::Index(1))?),
        'E' => c.push(pvgrub_finds_menu(&disk)),
        _ => return Err(Exit::Error(format!("lab 3 has no part {id:?}"))),
    }
    c.push(no_diagnostics(&report));
    Ok(c)
}

fn scheme_word(s: Scheme) -> &'static str {
    match s {
        Scheme::Mbr => "MBR",
        Scheme::Gpt => "GPT",
        Scheme::None => "no",
    }
}

fn no_diagnostics(report: &DiskReport) -> Condition {
    let all: Vec<String> = report.diagnostics.iter().map(|d| d.to_string()).collect();
    condition(
        "`boot-sim inspect` reports no warning or error",
        all.is_empty(),
        if all.is_empty() { "none".to_string() } else { all.join("; ") },
    )
}

/// Part D: Xen's domain builder accepts the kernel entry 1 names, and the
/// PV boot reaches its first instruction.
fn pv_boots(image: &Path, entry: EntryRequest) -> Result<Condition, Exit> {
    let reader: Arc<dyn ReadAt> = Arc::new(RawImage::open(image)?);
    let opts = PvOptions { loader: Loader::PvgrubAws, entry, ..PvOptions::default() };
    let (run, _memory) = pv::run(reader, &opts).map_err(|e| Exit::Error(e.to_string()))?;
    let name = "`run --mode pv --entry 1` reaches the kernel entry";
    Ok(match run.outcome {
        PvOutcome::Booted(b) => condition(
            name,
            true,
            format!("{}{} boots; rip={:#x}", b.choice.kernel.device, b.choice.kernel.resolved_path, b.vcpu.rip),
        ),
        PvOutcome::CannotBoot(cb) => {
            let mut why = cb.messages.join("; ");
            if let Some(h) = cb.hint {
                why = format!("{why} (hint: {h})");
            }
            condition(name, false, why)
        }
    })
}

/// Part E: PV-GRUB's search (`pvgrub-aws`) finds a menu, and its default
/// entry's kernel and initrd are there.
fn pvgrub_finds_menu(disk: &Disk) -> Condition {
    let d = discover::discover(disk, Loader::PvgrubAws);
    let name = "PV-GRUB (pvgrub-aws) finds a menu and its default entry's files";
    let Some(cfg) = d.config.as_ref() else {
        let places: Vec<String> = d.probes.iter().map(|p| format!("{}{}", p.device, p.path)).collect();
        return condition(name, false, format!("no menu at {}", places.join(", ")));
    };
    match select::choose(disk, &d, &EntryRequest::Default) {
        Ok(choice) => condition(
            name,
            true,
            format!(
                "menu {}{}; entry {} loads {}{}",
                cfg.file.device, cfg.file.path, choice.entry.index, choice.kernel.device, choice.kernel.resolved_path
            ),
        ),
        Err(e) => condition(name, false, format!("menu {}{}: {e}", cfg.file.device, cfg.file.path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The titles here are the labs' first headings.
    #[test]
    fn titles_match_the_documents() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for lab in LABS {
            let Some(file) = lab.file else { continue };
            let text = std::fs::read_to_string(root.join(file)).unwrap();
            let heading = text.lines().next().unwrap();
            let want = format!("# Lab {} — {}", lab.number, lab.title);
            assert_eq!(heading, want, "{file}");
        }
    }

    /// Every lab checked from an answers file has an answer key, and no
    /// other lab has one.
    #[test]
    fn answers_labs_have_keys() {
        for lab in LABS {
            assert_eq!(sheet(lab.number).is_ok(), lab.check == CheckKind::Answers, "lab {}", lab.number);
        }
    }

    #[test]
    fn every_part_names_an_existing_fixture() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images");
        for lab in LABS {
            for p in lab.parts {
                assert!(root.join(p.fixture).is_file(), "{}", p.fixture);
            }
        }
    }
}
