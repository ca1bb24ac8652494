//! LVM2's text metadata format: the config syntax of libdm
//! (`libdm/libdm-config.c`, used by LVM2's `lib/config/config.c` and by
//! `lib/format_text/import_vsn1.c` to read a VG):
//!
//! ```text
//! vg0 {                       # a section: name {
//!     id = "Kq1X…"            # key = value
//!     extent_size = 8192      # integers
//!     status = ["READ", "WRITE"]   # arrays of values
//! }
//! ```
//!
//! Values are integers (`_type` CFG_INT, decimal, signed), floats, strings
//! in double quotes with `\` escaping the next character, and arrays of
//! those. `#` starts a comment to the end of the line. Identifiers are any
//! run of characters other than white space and `{}[]=,"#`.
//!
//! Bounded: nesting depth, node count and input length are capped, so that a
//! hostile metadata area cannot make the parser recurse or allocate without
//! limit.

use crate::error::{DiskError, Result};
use crate::units::ByteOffset;

/// Deepest nesting of sections and arrays accepted. LVM's own metadata
/// nests four deep (vg → logical_volumes → lv → segment).
pub const MAX_DEPTH: usize = 32;
/// Most values and sections in one metadata text.
pub const MAX_NODES: usize = 1 << 18;

/// A value on the right of `=`.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Str(String),
    Array(Vec<Value>),
}

/// What a key names: a value or a nested section.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Value(Value),
    Section(Section),
}

/// A `{ … }` block (or the whole file): its items in file order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Section {
    pub items: Vec<(String, Node)>,
}

impl Section {
    /// The first item called `key`.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.items.iter().find(|(k, _)| k == key).map(|(_, n)| n)
    }

    pub fn section(&self, key: &str) -> Option<&Section> {
        match self.get(key) {
            Some(Node::Section(s)) => Some(s),
            _ => None,
        }
    }

    pub fn value(&self, key: &str) -> Option<&Value> {
        match self.get(key) {
            Some(Node::Value(v)) => Some(v),
            _ => None,
        }
    }

    pub fn int(&self, key: &str) -> Option<i64> {
        match self.value(key) {
            Some(Value::Int(i)) => Some(*i),
            _ => None,
        }
    }

    pub fn str(&self, key: &str) -> Option<&str> {
        match self.value(key) {
            Some(Value::Str(s)) => Some(s),
            _ => None,
        }
    }

    /// The strings of an array value (`status = ["READ", "WRITE"]`).
    pub fn strings(&self, key: &str) -> Vec<&str> {
        match self.value(key) {
            Some(Value::Array(a)) => a
                .iter()
                .filter_map(|v| match v {
                    Value::Str(s) => Some(s.as_str()),
                    _ => None,
                })
                .collect(),
            Some(Value::Str(s)) => vec![s.as_str()],
            _ => Vec::new(),
        }
    }

    /// The subsections, in order (`logical_volumes { root { … } swap { … } }`).
    pub fn sections(&self) -> impl Iterator<Item = (&str, &Section)> {
        self.items.iter().filter_map(|(k, n)| match n {
            Node::Section(s) => Some((k.as_str(), s)),
            Node::Value(_) => None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Eq,
    Open,
    Close,
    ArrOpen,
    ArrClose,
    Comma,
    Eof,
}

struct Lexer<'a> {
    text: &'a [u8],
    pos: usize,
    /// Where `text` sits in the device, for error offsets.
    base: u64,
    what: &'a str,
}

fn is_ident_byte(b: u8) -> bool {
    !b.is_ascii_whitespace() && !matches!(b, b'{' | b'}' | b'[' | b']' | b'=' | b',' | b'"' | b'#' | 0)
}

impl Lexer<'_> {
    fn err(&self, at: usize, detail: impl Into<String>) -> DiskError {
        DiskError::corrupt(
            format!("{} (LVM2 text metadata)", self.what),
            ByteOffset(self.base.saturating_add(at as u64)),
            detail,
        )
    }

    fn skip_blank(&mut self) {
        while let Some(&b) = self.text.get(self.pos) {
            if b.is_ascii_whitespace() {
                self.pos += 1;
            } else if b == b'#' {
                while self.text.get(self.pos).is_some_and(|&c| c != b'\n') {
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    /// The next token and where it starts.
    fn next(&mut self) -> Result<(Tok, usize)> {
        self.skip_blank();
        let start = self.pos;
        let Some(&b) = self.text.get(self.pos) else { return Ok((Tok::Eof, start)) };
        let single = match b {
            b'=' => Some(Tok::Eq),
            b'{' => Some(Tok::Open),
            b'}' => Some(Tok::Close),
            b'[' => Some(Tok::ArrOpen),
            b']' => Some(Tok::ArrClose),
            b',' => Some(Tok::Comma),
            _ => None,
        };
        if let Some(t) = single {
            self.pos += 1;
            return Ok((t, start));
        }
        if b == 0 {
            // LVM writes the text NUL-terminated; a NUL ends the text.
            self.pos = self.text.len();
            return Ok((Tok::Eof, start));
        }
        if b == b'"' {
            self.pos += 1;
            let mut out = Vec::new();
            loop {
                match self.text.get(self.pos) {
                    None => return Err(self.err(start, "unterminated string")),
                    Some(b'"') => {
                        self.pos += 1;
                        break;
                    }
                    Some(b'\\') => {
                        // libdm-config.c _unescape: a backslash keeps the next byte.
                        let Some(&c) = self.text.get(self.pos + 1) else {
                            return Err(self.err(start, "unterminated string"));
                        };
                        out.push(c);
                        self.pos += 2;
                    }
                    Some(&c) => {
                        out.push(c);
                        self.pos += 1;
                    }
                }
            }
            return Ok((Tok::Str(String::from_utf8_lossy(&out).into_owned()), start));
        }
        while self.text.get(self.pos).copied().is_some_and(is_ident_byte) {
            self.pos += 1;
        }
        let word = &self.text[start..self.pos];
        let s = String::from_utf8_lossy(word).into_owned();
        let numeric = matches!(word[0], b'0'..=b'9' | b'-' | b'+' | b'.')
            && word[1..].iter().all(|c| c.is_ascii_digit() || *c == b'.');
        if numeric && !word.iter().all(|c| matches!(c, b'-' | b'+' | b'.')) {
            if word.contains(&b'.') {
                let f = s.parse::<f64>().map_err(|_| self.err(start, format!("bad number {s:?}")))?;
                return Ok((Tok::Float(f), start));
            }
            let i = s.parse::<i64>().map_err(|_| self.err(start, format!("number {s:?} out of range")))?;
            return Ok((Tok::Int(i), start));
        }
        Ok((Tok::Ident(s), start))
    }
}

struct Parser<'a> {
    lex: Lexer<'a>,
    peeked: Option<(Tok, usize)>,
    nodes: usize,
}

impl Parser<'_> {
    fn peek(&mut self) -> Result<&(Tok, usize)> {
        if self.peeked.is_none() {
            self.peeked = Some(self.lex.next()?);
        }
        Ok(self.peeked.as_ref().expect("just filled"))
    }

    fn take(&mut self) -> Result<(Tok, usize)> {
        match self.peeked.take() {
            Some(t) => Ok(t),
            None => self.lex.next(),
        }
    }

    fn count(&mut self, at: usize) -> Result<()> {
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return Err(self.lex.err(at, format!("more than {MAX_NODES} values")));
        }
        Ok(())
    }

    /// Items up to `}` (nested) or the end of input (top level).
    fn section(&mut self, depth: usize, nested: bool) -> Result<Section> {
        let mut items = Vec::new();
        loop {
            let (tok, at) = self.take()?;
            let key = match tok {
                Tok::Eof if !nested => return Ok(Section { items }),
                Tok::Eof => return Err(self.lex.err(at, "section not closed with }")),
                Tok::Close if nested => return Ok(Section { items }),
                Tok::Ident(k) | Tok::Str(k) => k,
                other => return Err(self.lex.err(at, format!("expected a key, found {other:?}"))),
            };
            self.count(at)?;
            let (tok, at) = self.take()?;
            match tok {
                Tok::Open => {
                    if depth + 1 > MAX_DEPTH {
                        return Err(self.lex.err(at, format!("sections nested deeper than {MAX_DEPTH}")));
                    }
                    let s = self.section(depth + 1, true)?;
                    items.push((key, Node::Section(s)));
                }
                Tok::Eq => {
                    let v = self.value(depth + 1)?;
                    items.push((key, Node::Value(v)));
                }
                other => return Err(self.lex.err(at, format!("expected = or {{ after {key:?}, found {other:?}"))),
            }
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value> {
        let (tok, at) = self.take()?;
        self.count(at)?;
        match tok {
            Tok::Int(i) => Ok(Value::Int(i)),
            Tok::Float(f) => Ok(Value::Float(f)),
            Tok::Str(s) => Ok(Value::Str(s)),
            Tok::ArrOpen => {
                if depth > MAX_DEPTH {
                    return Err(self.lex.err(at, format!("arrays nested deeper than {MAX_DEPTH}")));
                }
                let mut out = Vec::new();
                if self.peek()?.0 == Tok::ArrClose {
                    self.take()?;
                    return Ok(Value::Array(out));
                }
                loop {
                    out.push(self.value(depth + 1)?);
                    let (tok, at) = self.take()?;
                    match tok {
                        Tok::Comma => {}
                        Tok::ArrClose => return Ok(Value::Array(out)),
                        other => return Err(self.lex.err(at, format!("expected , or ] in an array, found {other:?}"))),
                    }
                }
            }
            other => Err(self.lex.err(at, format!("expected a value, found {other:?}"))),
        }
    }
}

/// Parses LVM2 text metadata. `base` is the byte offset of `text` on the
/// device and `what` names it, for errors.
pub fn parse(text: &[u8], base: u64, what: &str) -> Result<Section> {
    let mut p = Parser { lex: Lexer { text, pos: 0, base, what }, peeked: None, nodes: 0 };
    p.section(0, false)
}

/// Writes a section back in LVM's syntax (tests, the generator).
pub fn write(s: &Section) -> String {
    let mut out = String::new();
    write_section(s, 0, &mut out);
    out
}

fn write_section(s: &Section, indent: usize, out: &mut String) {
    for (k, n) in &s.items {
        out.push_str(&"\t".repeat(indent));
        out.push_str(k);
        match n {
            Node::Section(sub) => {
                out.push_str(" {\n");
                write_section(sub, indent + 1, out);
                out.push_str(&"\t".repeat(indent));
                out.push_str("}\n");
            }
            Node::Value(v) => {
                out.push_str(" = ");
                write_value(v, out);
                out.push('\n');
            }
        }
    }
}

fn write_value(v: &Value, out: &mut String) {
    match v {
        Value::Int(i) => out.push_str(&i.to_string()),
        Value::Float(f) => out.push_str(&format!("{f:?}")),
        Value::Str(s) => {
            out.push('"');
            for c in s.chars() {
                if c == '"' || c == '\\' {
                    out.push('\\');
                }
                out.push(c);
            }
            out.push('"');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                write_value(x, out);
            }
            out.push(']');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_lvm_metadata_shape() {
        let text = br#"vg0 {
id = "abc"
seqno = 3
status = ["RESIZEABLE", "READ", "WRITE"]
flags = []
extent_size = 8192 # 4 MiB
logical_volumes {
  root {
    segment1 {
      stripes = [
        "pv0", 0
      ]
    }
  }
}
}
# Generated by LVM2
contents = "Text Format Volume Group"
version = 1
description = "with \"quotes\""
"#;
        let s = parse(text, 0, "t").unwrap();
        let vg = s.section("vg0").unwrap();
        assert_eq!(vg.int("seqno"), Some(3));
        assert_eq!(vg.strings("status"), ["RESIZEABLE", "READ", "WRITE"]);
        assert_eq!(vg.int("extent_size"), Some(8192));
        let seg = vg.section("logical_volumes").unwrap().section("root").unwrap().section("segment1").unwrap();
        assert_eq!(seg.value("stripes"), Some(&Value::Array(vec![Value::Str("pv0".into()), Value::Int(0)])));
        assert_eq!(s.str("description"), Some("with \"quotes\""));
        assert_eq!(s.int("version"), Some(1));
    }

    #[test]
    fn errors_name_the_offset() {
        let e = parse(b"vg {\n a = \n}", 0x1000, "xvda2 mda").unwrap_err().to_string();
        assert!(e.contains("0x100b") && e.contains("expected a value"), "{e}");
        let e = parse(b"vg { a = 1", 0, "m").unwrap_err().to_string();
        assert!(e.contains("not closed"), "{e}");
        let deep = "a {".repeat(MAX_DEPTH + 2);
        assert!(parse(deep.as_bytes(), 0, "m").unwrap_err().to_string().contains("deeper"));
        let arr = "a = ".to_string() + &"[".repeat(MAX_DEPTH + 2);
        assert!(parse(arr.as_bytes(), 0, "m").unwrap_err().to_string().contains("deeper"));
    }

    fn key() -> impl Strategy<Value = String> {
        "[a-zA-Z_][a-zA-Z0-9_.+-]{0,12}"
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<i64>().prop_map(Value::Int),
            "[ -~\t]{0,16}".prop_map(Value::Str),
            (-100_000i32..100_000).prop_map(|i| Value::Float(f64::from(i) + 0.5)),
        ];
        prop_oneof![leaf.clone(), prop::collection::vec(leaf, 0..5).prop_map(Value::Array)]
    }

    fn section() -> impl Strategy<Value = Section> {
        let leaf_items = prop::collection::vec((key(), value().prop_map(Node::Value)), 0..6);
        leaf_items.prop_map(|items| Section { items }).prop_recursive(4, 64, 6, |inner| {
            prop::collection::vec(
                (key(), prop_oneof![value().prop_map(Node::Value), inner.prop_map(Node::Section)]),
                0..6,
            )
            .prop_map(|items| Section { items })
        })
    }

    proptest! {
        /// What `write` produces (LVM's own layout) parses back to the same tree.
        #[test]
        fn write_then_parse_round_trips(s in section()) {
            let text = write(&s);
            prop_assert_eq!(parse(text.as_bytes(), 0, "p").unwrap(), s);
        }

        /// Arbitrary bytes: an error or a tree, never a panic.
        #[test]
        fn arbitrary_bytes_never_panic(b in prop::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse(&b, 0, "p");
        }

        /// Token soup built from the format's own punctuation.
        #[test]
        fn token_soup_never_panics(parts in prop::collection::vec(
            prop_oneof![Just("{"), Just("}"), Just("["), Just("]"), Just("="), Just(","), Just("\""), Just("#"),
                        Just("\n"), Just("a"), Just("1"), Just("-"), Just("."), Just("\\")], 0..64)) {
            let _ = parse(parts.concat().as_bytes(), 0, "p");
        }
    }
}
