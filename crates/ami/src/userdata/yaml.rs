//! A bounded YAML loader for `#cloud-config` and cloud-init's own
//! configuration files, on saphyr-parser's event stream.
//!
//! cloud-init loads YAML with PyYAML's `SafeLoader`
//! (`cloudinit/safeyaml.py`, `cloudinit/util.py` `load_yaml`): one
//! document (a second is PyYAML's "expected a single document in the
//! stream"), YAML 1.1 plain-scalar resolution (`yes`/`no`/`on`/`off` are
//! booleans, `0755` is octal). The resolution here covers null, booleans,
//! integers (decimal, `0x`, `0o`, leading-zero octal, `_` separators) and
//! floats; everything else is a string.
//!
//! PyYAML shares an anchored node between its aliases, so a "billion
//! laughs" document loads instantly and then costs exponential time in
//! whatever walks it (cloud-init's merging, schema validation, `runcmd`
//! rendering). boot-sim expands aliases as copies and counts every node,
//! stopping at [`MAX_NODES`], and every scalar byte, stopping at
//! [`MAX_BYTES`] (one long anchored string aliased many times); nesting
//! stops at [`MAX_DEPTH`].

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Tag};

/// Nodes (aliases counted as the nodes they copy) in one document.
pub const MAX_NODES: usize = 200_000;
/// Collections nested in one another.
pub const MAX_DEPTH: usize = 256;
/// Scalar bytes (aliases counted as the bytes they copy) in one document.
pub const MAX_BYTES: usize = 64 << 20;

#[derive(Debug, Clone, PartialEq)]
pub enum Yaml {
    Null,
    Bool(bool),
    Int(i128),
    Float(f64),
    Str(String),
    Seq(Vec<Yaml>),
    /// In document order; a repeated key keeps its last value when read
    /// with [`Yaml::get`] (as PyYAML's dict construction does).
    Map(Vec<(Yaml, Yaml)>),
}

impl Yaml {
    /// The value of the key `key` (a string key) of a mapping.
    pub fn get(&self, key: &str) -> Option<&Yaml> {
        match self {
            Yaml::Map(m) => m.iter().rev().find(|(k, _)| matches!(k, Yaml::Str(s) if s == key)).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Yaml::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The string keys of a mapping, first occurrence order, each once.
    pub fn keys(&self) -> Vec<&str> {
        let mut v: Vec<&str> = Vec::new();
        if let Yaml::Map(m) = self {
            for (k, _) in m {
                if let Yaml::Str(s) = k
                    && !v.contains(&s.as_str())
                {
                    v.push(s);
                }
            }
        }
        v
    }

    /// Python's type name for the value (what cloud-init's messages say).
    pub fn type_name(&self) -> &'static str {
        match self {
            Yaml::Null => "NoneType",
            Yaml::Bool(_) => "bool",
            Yaml::Int(_) => "int",
            Yaml::Float(_) => "float",
            Yaml::Str(_) => "str",
            Yaml::Seq(_) => "list",
            Yaml::Map(_) => "dict",
        }
    }

    /// The value as serde JSON (for schema validation and `--json`).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        match self {
            Yaml::Null => Value::Null,
            Yaml::Bool(b) => Value::Bool(*b),
            Yaml::Int(i) => i64::try_from(*i)
                .map(Value::from)
                .unwrap_or_else(|_| serde_json::Number::from_f64(*i as f64).map_or(Value::Null, Value::Number)),
            Yaml::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Yaml::Str(s) => Value::String(s.clone()),
            Yaml::Seq(v) => Value::Array(v.iter().map(Yaml::to_json).collect()),
            Yaml::Map(m) => {
                let mut o = serde_json::Map::new();
                for (k, v) in m {
                    let key = match k {
                        Yaml::Str(s) => s.clone(),
                        Yaml::Null => "null".into(),
                        Yaml::Bool(b) => if *b { "True" } else { "False" }.into(),
                        Yaml::Int(i) => i.to_string(),
                        Yaml::Float(f) => f.to_string(),
                        other => format!("{other:?}"),
                    };
                    o.insert(key, v.to_json());
                }
                Value::Object(o)
            }
        }
    }
}

/// Why a document did not load: a YAML error at a line and column (1-based
/// both, as PyYAML prints them), or a bound boot-sim keeps.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
    /// `true` when boot-sim stopped at one of its own bounds (the YAML may
    /// be valid).
    pub bound: bool,
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {} column {}: {}", self.line, self.column, self.message)
    }
}

enum Frame {
    Seq(usize, Vec<Yaml>),
    Map(usize, Vec<(Yaml, Yaml)>, Option<Yaml>),
}

/// What several documents may still build, together: a user-data's
/// `#cloud-config` and `#cloud-config-archive` parts (up to
/// [`super::mime::MAX_PARTS`] of them), or an image's configuration files,
/// share one budget, so that many small alias bombs cost no more than one.
#[derive(Debug, Clone)]
pub struct Budget {
    /// Nodes left.
    pub nodes: usize,
    /// Scalar bytes left.
    pub bytes: usize,
}

impl Default for Budget {
    /// [`MAX_NODES`] and [`MAX_BYTES`].
    fn default() -> Budget {
        Budget { nodes: MAX_NODES, bytes: MAX_BYTES }
    }
}

/// Loads the single document of `text`; an empty stream is `Ok(None)`.
/// The document alone is bounded by [`MAX_NODES`] and [`MAX_BYTES`].
pub fn load(text: &str) -> Result<Option<Yaml>, YamlError> {
    load_within(text, &mut Budget::default())
}

/// [`load`] within what is left of `budget`, which the document's nodes
/// and bytes (aliases expanded) are taken from, loaded or not.
pub fn load_within(text: &str, budget: &mut Budget) -> Result<Option<Yaml>, YamlError> {
    let (max_nodes, max_bytes) = (budget.nodes, budget.bytes);
    let mut nodes = 0usize;
    let mut bytes = 0usize;
    let r = load_counted(text, max_nodes, max_bytes, &mut nodes, &mut bytes);
    budget.nodes = max_nodes.saturating_sub(nodes);
    budget.bytes = max_bytes.saturating_sub(bytes);
    r
}

fn load_counted(
    text: &str,
    max_nodes: usize,
    max_bytes: usize,
    nodes: &mut usize,
    bytes: &mut usize,
) -> Result<Option<Yaml>, YamlError> {
    let over = |n: usize, b: usize| over(n, b, max_nodes, max_bytes);
    let mut anchors: HashMap<usize, (Yaml, Size)> = HashMap::new();
    let mut stack: Vec<Frame> = Vec::new();
    let mut doc: Option<Yaml> = None;
    let mut docs = 0usize;
    let err = |line: usize, col: usize, m: String, bound: bool| YamlError { line, column: col + 1, message: m, bound };
    for ev in Parser::new_from_str(text) {
        let (ev, span) = ev.map_err(|e| err(e.marker().line(), e.marker().col(), e.info().to_string(), false))?;
        let (line, col) = (span.start.line(), span.start.col());
        // The finished node and the size it adds, if this event ends one.
        let (node, anchor, size) = match ev {
            Event::DocumentStart(_) => {
                docs += 1;
                if docs > 1 {
                    return Err(err(
                        line,
                        col,
                        "expected a single document in the stream, but found another document".into(),
                        false,
                    ));
                }
                continue;
            }
            Event::SequenceStart(a, _) | Event::MappingStart(a, _) => {
                if stack.len() >= MAX_DEPTH {
                    return Err(err(line, col, format!("collections nested more than {MAX_DEPTH} deep"), true));
                }
                *nodes += 1;
                stack.push(match ev {
                    Event::SequenceStart(..) => Frame::Seq(a, Vec::new()),
                    _ => Frame::Map(a, Vec::new(), None),
                });
                continue;
            }
            Event::SequenceEnd => match stack.pop() {
                Some(Frame::Seq(a, v)) => (Yaml::Seq(v), a, Size::default()),
                _ => continue,
            },
            Event::MappingEnd => match stack.pop() {
                Some(Frame::Map(a, v, _)) => (Yaml::Map(v), a, Size::default()),
                _ => continue,
            },
            Event::Scalar(v, style, a, tag) => {
                *nodes += 1;
                *bytes = bytes.saturating_add(v.len());
                (scalar(v, style, tag.as_ref()), a, Size::default())
            }
            Event::Alias(id) => {
                let Some((v, n)) = anchors.get(&id) else {
                    return Err(err(line, col, "found undefined alias".into(), false));
                };
                // Checked before the copy is made.
                if let Some(m) = over(nodes.saturating_add(n.nodes), bytes.saturating_add(n.bytes)) {
                    return Err(err(line, col, m, true));
                }
                (v.clone(), 0, *n)
            }
            _ => continue,
        };
        *nodes = nodes.saturating_add(size.nodes);
        *bytes = bytes.saturating_add(size.bytes);
        if let Some(m) = over(*nodes, *bytes) {
            return Err(err(line, col, m, true));
        }
        if anchor != 0 {
            anchors.insert(anchor, (node.clone(), count(&node)));
        }
        match stack.last_mut() {
            Some(Frame::Seq(_, v)) => v.push(node),
            Some(Frame::Map(_, m, key)) => match key.take() {
                Some(k) => m.push((k, node)),
                None => *key = Some(node),
            },
            None => doc = Some(node),
        }
    }
    Ok(doc)
}

/// Why a document of `nodes` nodes and `bytes` scalar bytes is past
/// `max_nodes` or `max_bytes`.
fn over(nodes: usize, bytes: usize, max_nodes: usize, max_bytes: usize) -> Option<String> {
    let whose = |max: usize, of: usize| {
        if max < of { " (what is left of the budget the user-data's YAML documents share)" } else { "" }
    };
    if nodes > max_nodes {
        Some(format!(
            "more than {max_nodes} nodes once aliases are expanded{} (an alias bomb?)",
            whose(max_nodes, MAX_NODES)
        ))
    } else if bytes > max_bytes {
        Some(format!(
            "more than {max_bytes} bytes of scalars once aliases are expanded{} (an alias bomb?)",
            whose(max_bytes, MAX_BYTES)
        ))
    } else {
        None
    }
}

/// What a value adds when an alias copies it.
#[derive(Debug, Clone, Copy, Default)]
struct Size {
    nodes: usize,
    /// Scalar bytes (string bytes; 8 for any other scalar).
    bytes: usize,
}

/// The size of a value (bounded by [`MAX_NODES`] and [`MAX_BYTES`] by
/// construction).
fn count(y: &Yaml) -> Size {
    let add = |a: Size, b: Size| Size { nodes: a.nodes + b.nodes, bytes: a.bytes + b.bytes };
    match y {
        Yaml::Seq(v) => v.iter().map(count).fold(Size { nodes: 1, bytes: 0 }, add),
        Yaml::Map(m) => m.iter().map(|(k, v)| add(count(k), count(v))).fold(Size { nodes: 1, bytes: 0 }, add),
        Yaml::Str(s) => Size { nodes: 1, bytes: s.len() },
        _ => Size { nodes: 1, bytes: 8 },
    }
}

fn scalar(v: Cow<'_, str>, style: ScalarStyle, tag: Option<&Cow<'_, Tag>>) -> Yaml {
    if let Some(t) = tag {
        if t.handle == "tag:yaml.org,2002:" || t.handle == "!!" {
            return match t.suffix.as_str() {
                "str" => Yaml::Str(v.into_owned()),
                _ => resolve(&v),
            };
        }
        return Yaml::Str(v.into_owned());
    }
    if style != ScalarStyle::Plain {
        return Yaml::Str(v.into_owned());
    }
    resolve(&v)
}

/// PyYAML's YAML 1.1 implicit resolvers (`yaml/resolver.py`), simplified.
fn resolve(s: &str) -> Yaml {
    match s {
        "" | "~" | "null" | "Null" | "NULL" => return Yaml::Null,
        "yes" | "Yes" | "YES" | "true" | "True" | "TRUE" | "on" | "On" | "ON" => return Yaml::Bool(true),
        "no" | "No" | "NO" | "false" | "False" | "FALSE" | "off" | "Off" | "OFF" => return Yaml::Bool(false),
        _ => {}
    }
    let (neg, body) = match s.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let digits = body.replace('_', "");
    let int = if let Some(h) = digits.strip_prefix("0x") {
        i128::from_str_radix(h, 16).ok()
    } else if let Some(b) = digits.strip_prefix("0b") {
        i128::from_str_radix(b, 2).ok()
    } else if digits.len() > 1 && digits.starts_with('0') && digits.bytes().all(|c| c.is_ascii_digit()) {
        i128::from_str_radix(&digits[1..], 8).ok()
    } else if !digits.is_empty() && digits.bytes().all(|c| c.is_ascii_digit()) && !body.starts_with('_') {
        digits.parse().ok()
    } else {
        None
    };
    if let Some(i) = int {
        return Yaml::Int(if neg { -i } else { i });
    }
    let is_float = body.contains('.')
        && body.bytes().next().is_some_and(|c| c.is_ascii_digit() || c == b'.')
        && body.bytes().all(|c| c.is_ascii_digit() || matches!(c, b'.' | b'e' | b'E' | b'-' | b'+' | b'_'));
    if is_float && let Ok(f) = digits.parse::<f64>() {
        return Yaml::Float(if neg { -f } else { f });
    }
    match body {
        ".inf" | ".Inf" | ".INF" => return Yaml::Float(if neg { f64::NEG_INFINITY } else { f64::INFINITY }),
        ".nan" | ".NaN" | ".NAN" if s == body => return Yaml::Float(f64::NAN),
        _ => {}
    }
    Yaml::Str(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loads_cloud_config() {
        let y = load("#cloud-config\nruncmd:\n  - echo hi\n  - [ls, -l]\npackage_update: yes\nmode: 0755\n")
            .unwrap()
            .unwrap();
        assert_eq!(y.keys(), ["runcmd", "package_update", "mode"]);
        assert_eq!(y.get("package_update"), Some(&Yaml::Bool(true)));
        assert_eq!(y.get("mode"), Some(&Yaml::Int(0o755)));
        assert!(matches!(y.get("runcmd"), Some(Yaml::Seq(v)) if v.len() == 2));
        assert_eq!(load("# only a comment\n").unwrap(), None);
    }

    #[test]
    fn errors_have_lines() {
        let e = load("#cloud-config\nruncmd:\n  - a\n - b\n").unwrap_err();
        assert!(e.line >= 3 && !e.bound, "{e}");
        let e = load("a: 1\n---\nb: 2\n").unwrap_err();
        assert!(e.message.contains("single document"), "{e}");
    }

    #[test]
    fn alias_bomb_is_bounded() {
        let mut s = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let p = i - 1;
            s.push_str(&format!(
                "a{i}: &a{i} [*a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}, *a{p}]\n"
            ));
        }
        let e = load(&s).unwrap_err();
        assert!(e.bound && e.message.contains("alias"), "{e}");
        // One long string, aliased: few nodes, many bytes.
        let long = format!("s: &s \"{}\"\nl: [{}]\n", "x".repeat(1 << 20), "*s, ".repeat(100));
        let e = load(&long).unwrap_err();
        assert!(e.bound && e.message.contains("bytes"), "{e}");
        // Many small documents share one budget.
        let mut b = Budget { nodes: 10, bytes: 1000 };
        assert!(load_within("[a, b, c]", &mut b).is_ok());
        assert_eq!(b.nodes, 6);
        assert!(load_within("[a, b, c, d, e, f]", &mut b).unwrap_err().bound);
        assert_eq!(b.nodes, 0);
        let deep = "[".repeat(10_000);
        let e = load(&deep).unwrap_err();
        assert!(e.message.contains("deep") || e.message.contains("recursion"), "{e}");
    }
}
