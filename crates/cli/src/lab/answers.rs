//! Answers files: a student's answers to a lab's questions, as TOML, marked
//! against a key that boot-sim computes from the bundled fixtures with its
//! own library (never a copied constant).
//!
//! ```toml
//! [q3]
//! grub_legacy = "(hd0,4)"
//! start_lba = 8192
//! ```
//!
//! One table per question (`q1`, `q2`, …), one field per answer, and
//! optionally `why = "…"` with the student's explanation (not marked). A field
//! of the wrong type, a field no question has, or a TOML syntax error is a
//! malformed file (exit 2, with the file and line); a wrong value is a
//! wrong answer (exit 1, with a hint, not the answer).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use disk_image::ReadAt;
use serde::Serialize;
use toml::{Spanned, Value};

use crate::output::Exit;

/// The value a question's field expects.
#[derive(Debug, Clone, PartialEq)]
pub enum Expected {
    Int(i64),
    /// Within `tolerance` (relative) of `value`.
    Number {
        value: f64,
        tolerance: f64,
    },
    /// Any of these spellings (compared trimmed, ignoring ASCII case); the
    /// first is the key's own.
    Text(Vec<String>),
    Bool(bool),
    IntList(Vec<i64>),
    /// These strings in any order.
    TextSet(Vec<String>),
}

impl Expected {
    fn kind(&self) -> &'static str {
        match self {
            Expected::Int(_) => "an integer",
            Expected::Number { .. } => "a number",
            Expected::Text(_) => "a string",
            Expected::Bool(_) => "true or false",
            Expected::IntList(_) => "a list of integers",
            Expected::TextSet(_) => "a list of strings",
        }
    }

    /// Whether `v` is of the right type, and if so whether it is right.
    fn mark(&self, v: &Value) -> Option<bool> {
        match (self, v) {
            (Expected::Int(want), Value::Integer(got)) => Some(got == want),
            (Expected::Number { value, tolerance }, Value::Integer(_) | Value::Float(_)) => {
                let got = match v {
                    Value::Integer(i) => *i as f64,
                    Value::Float(f) => *f,
                    _ => return None,
                };
                Some((got - value).abs() <= (tolerance * value.abs()).max(1e-9))
            }
            (Expected::Text(ok), Value::String(got)) => {
                let got = got.trim();
                Some(ok.iter().any(|o| o.eq_ignore_ascii_case(got)))
            }
            (Expected::Bool(want), Value::Boolean(got)) => Some(got == want),
            (Expected::IntList(want), Value::Array(items)) => {
                let got: Option<Vec<i64>> = items.iter().map(|i| i.as_integer()).collect();
                got.map(|g| &g == want)
            }
            (Expected::TextSet(want), Value::Array(items)) => {
                let got: Option<Vec<String>> = items.iter().map(|i| i.as_str().map(|s| s.trim().to_string())).collect();
                got.map(|mut g| {
                    let mut w = want.clone();
                    g.sort();
                    w.sort();
                    g == w
                })
            }
            _ => None,
        }
    }
}

/// One answer field of a question.
#[derive(Debug, Clone)]
pub struct Key {
    pub question: u8,
    pub field: &'static str,
    /// What the field asks for (shown when it is missing).
    pub asks: &'static str,
    /// Where to look (shown when the answer is wrong); never the answer.
    pub hint: &'static str,
    pub expected: Expected,
}

impl Key {
    pub fn new(question: u8, field: &'static str, asks: &'static str, hint: &'static str, expected: Expected) -> Key {
        Key { question, field, asks, hint, expected }
    }

    pub fn id(&self) -> String {
        format!("q{}.{}", self.question, self.field)
    }
}

/// A lab's answer key: the checked fields, and the questions (or parts)
/// whose answers are explanations, not values.
#[derive(Debug, Clone)]
pub struct Sheet {
    pub keys: Vec<Key>,
    pub open: Vec<(u8, &'static str)>,
}

impl Sheet {
    fn questions(&self) -> Vec<u8> {
        let mut q: Vec<u8> = self.keys.iter().map(|k| k.question).chain(self.open.iter().map(|o| o.0)).collect();
        q.sort_unstable();
        q.dedup();
        q
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    Correct,
    Wrong,
    Missing,
}

/// One marked field.
#[derive(Debug, Clone, Serialize)]
pub struct Mark {
    pub question: String,
    pub verdict: Verdict,
    /// What the field asks for.
    pub asks: &'static str,
    /// For a wrong answer: where to look.
    pub hint: Option<&'static str>,
}

/// The field any question may have for the student's explanation.
pub const WHY: &str = "why";

type Answers = BTreeMap<String, Spanned<BTreeMap<String, Spanned<Value>>>>;

fn line_of(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset.min(text.len())].iter().filter(|&&b| b == b'\n').count() + 1
}

/// Reads and validates an answers file against `sheet`: every table is a
/// question of the lab, every field of a checked question is one of its
/// fields and of the right type.
pub fn read(path: &Path, lab: u8, sheet: &Sheet) -> Result<BTreeMap<String, Value>, Exit> {
    let file = disk_image::RawImage::open(path)?;
    if file.size() > crate::input::MAX_TEXT_FILE {
        return Err(Exit::Error(format!(
            "{}: not a TOML answers file ({}); lab {lab} is checked from an answers file, not an image",
            path.display(),
            crate::output::human_size(file.size())
        )));
    }
    let text = String::from_utf8(file.read_all(crate::input::MAX_TEXT_FILE, "an answers file")?).map_err(|e| {
        Exit::Error(format!(
            "{}: not a TOML answers file (invalid UTF-8 at byte {:#x}); lab {lab} is checked from an answers file, not an image",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })?;
    let at = |offset: usize| format!("{}:{}", path.display(), line_of(&text, offset));
    let parsed: Answers = toml::from_str(&text).map_err(|e| {
        let place = e.span().map_or_else(|| path.display().to_string(), |s| at(s.start));
        Exit::Error(format!("{place}: {} (an answers file has one [qN] table per question)", e.message().trim()))
    })?;
    let questions = sheet.questions();
    let mut out = BTreeMap::new();
    for (table, fields) in parsed {
        let number = table.strip_prefix('q').and_then(|n| n.parse::<u8>().ok()).filter(|n| questions.contains(n));
        let Some(number) = number else {
            let list: Vec<String> = questions.iter().map(|q| format!("q{q}")).collect();
            return Err(Exit::Error(format!(
                "{}: [{table}]: lab {lab} has no such question; its questions are {}",
                at(fields.span().start),
                list.join(", ")
            )));
        };
        let keys: Vec<&Key> = sheet.keys.iter().filter(|k| k.question == number).collect();
        for (field, value) in fields.into_inner() {
            let where_ = at(value.span().start);
            if keys.is_empty() || field == WHY {
                // An open question, or the explanation of an answer: the
                // student's own text, kept but not marked.
                continue;
            }
            let Some(key) = keys.iter().find(|k| k.field == field) else {
                let names: Vec<&str> = keys.iter().map(|k| k.field).collect();
                return Err(Exit::Error(format!(
                    "{where_}: {table}.{field}: question {number} of lab {lab} has no field {field:?}; its fields are {}",
                    names.join(", ")
                )));
            };
            let value = value.into_inner();
            if key.expected.mark(&value).is_none() {
                return Err(Exit::Error(format!(
                    "{where_}: {table}.{field}: expected {} ({}), found {}",
                    key.expected.kind(),
                    key.asks,
                    value.type_str()
                )));
            }
            out.insert(key.id(), value);
        }
    }
    Ok(out)
}

/// Marks every checked field of `sheet` against `answers`.
pub fn mark(sheet: &Sheet, answers: &BTreeMap<String, Value>) -> Vec<Mark> {
    sheet
        .keys
        .iter()
        .map(|k| {
            let verdict = match answers.get(&k.id()).and_then(|v| k.expected.mark(v)) {
                None => Verdict::Missing,
                Some(true) => Verdict::Correct,
                Some(false) => Verdict::Wrong,
            };
            Mark { question: k.id(), verdict, asks: k.asks, hint: (verdict == Verdict::Wrong).then_some(k.hint) }
        })
        .collect()
}

/// A correct answers file for `sheet` (the key's own spellings), as TOML.
/// Tests write it; `lab check` never shows it.
#[cfg(test)]
pub fn render_key(sheet: &Sheet) -> String {
    let mut s = String::new();
    let mut last = 0;
    for k in &sheet.keys {
        if k.question != last {
            s.push_str(&format!("{}[q{}]\n", if last == 0 { "" } else { "\n" }, k.question));
            last = k.question;
        }
        let v = match &k.expected {
            Expected::Int(i) => i.to_string(),
            Expected::Number { value, .. } => format!("{value:?}"),
            Expected::Text(t) => format!("{:?}", t.first().map(String::as_str).unwrap_or("")),
            Expected::Bool(b) => b.to_string(),
            Expected::IntList(l) => format!("{l:?}"),
            Expected::TextSet(l) => format!("{l:?}"),
        };
        s.push_str(&format!("{} = {v}\n", k.field));
    }
    s
}

/// The bundled fixtures: `fixtures/images/` of the checkout the command
/// runs in (the labs run from its top), else the one boot-sim was built
/// from.
pub fn fixture(name: &str) -> Result<PathBuf, Exit> {
    let here = Path::new("fixtures/images").join(name);
    if here.is_file() {
        return Ok(here);
    }
    let built = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/images").join(name);
    if built.is_file() {
        return Ok(built);
    }
    Err(Exit::Error(format!(
        "cannot find the bundled fixture fixtures/images/{name}: run `boot-sim lab check` from the top of the \
         boot-sim checkout"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sheet() -> Sheet {
        Sheet {
            keys: vec![
                Key::new(1, "lba", "an LBA", "look", Expected::Int(2048)),
                Key::new(1, "name", "a name", "look", Expected::Text(vec!["(hd0,0)".into(), "hd00".into()])),
                Key::new(2, "ratio", "a ratio", "look", Expected::Number { value: 3.09, tolerance: 0.01 }),
                Key::new(2, "yes", "a flag", "look", Expected::Bool(true)),
                Key::new(3, "order", "an order", "look", Expected::IntList(vec![0, 2, 1])),
                Key::new(3, "who", "accounts", "look", Expected::TextSet(vec!["a".into(), "b".into()])),
            ],
            open: vec![(4, "why")],
        }
    }

    fn write(dir: &Path, text: &str) -> PathBuf {
        let p = dir.join("answers.toml");
        std::fs::write(&p, text).unwrap();
        p
    }

    fn verdicts(text: &str) -> Vec<(String, Verdict)> {
        let dir = tempfile::tempdir().unwrap();
        let s = sheet();
        let given = read(&write(dir.path(), text), 7, &s).unwrap();
        mark(&s, &given).into_iter().map(|m| (m.question, m.verdict)).collect()
    }

    fn error(text: &str) -> String {
        let dir = tempfile::tempdir().unwrap();
        match read(&write(dir.path(), text), 7, &sheet()) {
            Err(Exit::Error(e)) => e,
            other => panic!("expected an error, got {other:?}"),
        }
    }

    #[test]
    fn the_rendered_key_is_all_correct() {
        let v = verdicts(&render_key(&sheet()));
        assert!(v.iter().all(|(_, v)| *v == Verdict::Correct), "{v:?}");
    }

    #[test]
    fn wrong_missing_and_tolerated_answers() {
        let v = verdicts(
            "[q1]\nlba = 2047\nname = \" HD00 \"\n[q2]\nratio = 3.1\n[q3]\norder = [0, 1, 2]\nwho = [\"b\", \"a\"]\n\
             why = \"a reason\"\n[q4]\nwhy = \"free text is kept, not marked\"\n",
        );
        let want = [
            ("q1.lba", Verdict::Wrong),
            ("q1.name", Verdict::Correct),
            ("q2.ratio", Verdict::Correct),
            ("q2.yes", Verdict::Missing),
            ("q3.order", Verdict::Wrong),
            ("q3.who", Verdict::Correct),
        ];
        assert_eq!(v, want.map(|(q, v)| (q.to_string(), v)).to_vec());
    }

    #[test]
    fn malformed_files_name_their_line() {
        let e = error("[q1]\nlba = \"2048\"\n");
        assert!(e.ends_with("answers.toml:2: q1.lba: expected an integer (an LBA), found string"), "{e}");
        let e = error("[q1]\nlba = 1\nsize = 3\n");
        assert!(e.contains("answers.toml:3: q1.size: question 1 of lab 7 has no field \"size\""), "{e}");
        let e = error("\n[q9]\nx = 1\n");
        assert!(
            e.contains("answers.toml:2: [q9]: lab 7 has no such question; its questions are q1, q2, q3, q4"),
            "{e}"
        );
        let e = error("[q1]\nlba = = 3\n");
        assert!(e.contains("answers.toml:2: "), "{e}");
        let e = error("lba = 3\n");
        assert!(e.contains("answers.toml:1: "), "{e}");
    }
}
