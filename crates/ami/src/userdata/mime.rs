//! A bounded MIME reader that splits a message the way cloud-init's
//! `util.message_from_string` does: CPython's `email.message_from_string`
//! (the `compat32` policy, `Lib/email/feedparser.py` and
//! `Lib/email/message.py`, CPython 3.11 as Debian bookworm ships it).
//!
//! Modelled:
//! - lines end in `\r\n`, `\r` or `\n` (`NLCRE_crack`);
//! - headers: a line matching `headerRE` (`^(From |[\041-\071\073-\176]*:|[\t ])`)
//!   is a header or a continuation; a blank line ends them; any other line
//!   starts the body (`MissingHeaderBodySeparatorDefect`); a leading
//!   `From ` line is the Unix from; a line starting with `:` is dropped;
//! - `get_content_type()`: the first `Content-Type`, up to `;`, stripped,
//!   lowercased; no header is `text/plain`; a value without exactly one
//!   `/` is `text/plain` (RFC 2045 5.2);
//! - multipart: the `boundary` parameter; parts start at lines matching
//!   `--BOUNDARY` followed by optional `--`, blanks and the line end
//!   (`boundaryre`), any enclosing boundary ends an inner part too; the
//!   line end before a boundary belongs to the boundary; no boundary
//!   parameter or no boundary line leaves the multipart's body as text (and
//!   cloud-init then skips it: `is_skippable`);
//! - `get_payload(decode=True)`: `base64` (lenient, as `decode_b`) and
//!   `quoted-printable`; other encodings give the text's bytes (ASCII, else
//!   `raw-unicode-escape`: code points up to U+00FF as one byte, others as
//!   `\uXXXX`/`\UXXXXXXXX`).
//!
//! Not modelled: `message/rfc822` parts are leaves here (Python descends
//! into them); `multipart/digest`'s default part type; RFC 2231 parameter
//! continuations.
//!
//! Bounds: at most [`MAX_PARTS`] leaf parts and [`MAX_DEPTH`] nested
//! multiparts; more is [`MimeError`], not a stack overflow or a long walk.

use base64::Engine as _;

/// Leaf parts read from one message before giving up.
pub const MAX_PARTS: usize = 10_000;
/// Multiparts nested in one another.
pub const MAX_DEPTH: usize = 64;

/// One non-multipart part, in `Message.walk()` order.
#[derive(Debug, Clone)]
pub struct Leaf {
    /// `get_content_type()`.
    pub content_type: String,
    /// The `filename` parameter of `Content-Disposition` (then of
    /// `Content-Type`'s `name`), as `get_filename()`.
    pub filename: Option<String>,
    /// The headers as read (name, value).
    pub headers: Vec<(String, String)>,
    /// `get_payload(decode=True)`.
    pub payload: Vec<u8>,
}

/// A message more deeply nested or with more parts than boot-sim reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MimeError(pub String);

struct Line<'a> {
    /// The line with its line end.
    text: &'a str,
}

fn split_lines(s: &str) -> Vec<Line<'_>> {
    let b = s.as_bytes();
    let mut v = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        let end = match b[i] {
            b'\n' => i + 1,
            b'\r' if b.get(i + 1) == Some(&b'\n') => i + 2,
            b'\r' => i + 1,
            _ => {
                i += 1;
                continue;
            }
        };
        v.push(Line { text: &s[start..end] });
        start = end;
        i = end;
    }
    if start < b.len() {
        v.push(Line { text: &s[start..] });
    }
    v
}

fn strip_eol(s: &str) -> &str {
    s.strip_suffix("\r\n").or_else(|| s.strip_suffix('\n')).or_else(|| s.strip_suffix('\r')).unwrap_or(s)
}

fn is_blank_line(s: &str) -> bool {
    matches!(s, "\n" | "\r" | "\r\n") || s.is_empty()
}

/// `headerRE`.
fn is_header_line(s: &str) -> bool {
    if s.starts_with("From ") || s.starts_with('\t') || s.starts_with(' ') {
        return true;
    }
    for c in s.bytes() {
        match c {
            b':' => return true,
            0x21..=0x39 | 0x3b..=0x7e => {}
            _ => return false,
        }
    }
    false
}

/// A parsed (sub)message: headers and where its body lines are.
struct Msg {
    headers: Vec<(String, String)>,
}

impl Msg {
    fn get(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn content_type(&self) -> String {
        let Some(v) = self.get("content-type") else { return "text/plain".into() };
        let t = v.split(';').next().unwrap_or("").trim().to_lowercase();
        if t.matches('/').count() != 1 { "text/plain".into() } else { t }
    }

    fn param(&self, header: &str, name: &str) -> Option<String> {
        let v = self.get(header)?;
        params(v).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }
}

/// `_parseparam` + `_unquotevalue`: `;`-separated `name=value` after the
/// first item, `;` inside quotes not splitting; names lowercased.
fn params(v: &str) -> Vec<(String, String)> {
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut escaped = false;
    for c in v.chars() {
        if escaped {
            escaped = false;
        } else if c == '\\' && quoted {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == ';' && !quoted {
            items.push(std::mem::take(&mut cur));
            continue;
        }
        cur.push(c);
    }
    items.push(cur);
    items
        .into_iter()
        .skip(1)
        .filter_map(|p| {
            let (k, v) = p.split_once('=')?;
            let v = v.trim();
            let v = match v.strip_prefix('"').and_then(|x| x.strip_suffix('"')) {
                Some(inner) => inner.replace("\\\\", "\\").replace("\\\"", "\""),
                None => v.to_string(),
            };
            Some((k.trim().to_lowercase(), v))
        })
        .collect()
}

/// Reads headers from `lines[at..]` the way `_parse_headers` does;
/// returns them and the index of the first body line.
fn read_headers(lines: &[Line<'_>], mut at: usize, end: usize) -> (Vec<(String, String)>, usize) {
    let mut raw: Vec<String> = Vec::new();
    let mut first = true;
    while at < end {
        let t = lines[at].text;
        if !is_header_line(t) {
            if is_blank_line(t) {
                at += 1;
            }
            break;
        }
        at += 1;
        if first && t.starts_with("From ") {
            first = false;
            continue;
        }
        first = false;
        if t.starts_with(' ') || t.starts_with('\t') {
            // A continuation; one with nothing to continue is dropped
            // (FirstHeaderLineIsContinuationDefect).
            if let Some(last) = raw.last_mut() {
                last.push_str(t);
            }
            continue;
        }
        raw.push(t.to_string());
    }
    let headers = raw
        .into_iter()
        .filter_map(|h| {
            let i = h.find(':')?;
            if i == 0 {
                return None;
            }
            let name = h[..i].to_string();
            let value = h[i + 1..].trim_start_matches([' ', '\t']).trim_end_matches(['\r', '\n']).to_string();
            Some((name, value))
        })
        .collect();
    (headers, at)
}

/// Whether `line` is `--boundary` (or the close `--boundary--`) as
/// `boundaryre` matches it.
fn boundary_kind(line: &str, sep: &str) -> Option<bool> {
    let rest = strip_eol(line).strip_prefix(sep)?;
    let (close, rest) = match rest.strip_prefix("--") {
        Some(r) => (true, r),
        None => (false, rest),
    };
    rest.bytes().all(|b| b == b' ' || b == b'\t').then_some(close)
}

struct Walker<'a> {
    lines: Vec<Line<'a>>,
    leaves: Vec<Leaf>,
    /// Separators of the enclosing multiparts, innermost last.
    seps: Vec<String>,
}

impl<'a> Walker<'a> {
    /// Whether line `i` is a boundary line of any enclosing multipart.
    fn ends_part(&self, i: usize) -> bool {
        self.seps.iter().any(|s| boundary_kind(self.lines[i].text, s).is_some())
    }

    /// The message starting at `start`, ending before `end` or before an
    /// enclosing boundary; returns the index it ended at.
    fn message(&mut self, start: usize, end: usize) -> Result<usize, MimeError> {
        let (headers, body) = read_headers(&self.lines, start, end);
        let msg = Msg { headers };
        let ctype = msg.content_type();
        let mut stop = body;
        while stop < end && !self.ends_part(stop) {
            stop += 1;
        }
        if ctype.starts_with("multipart/")
            && let Some(boundary) = msg.param("content-type", "boundary").map(|b| b.trim_end().to_string())
        {
            let sep = format!("--{boundary}");
            let first = (body..stop).find(|&i| boundary_kind(self.lines[i].text, &sep).is_some());
            if let Some(first) = first {
                if self.seps.len() >= MAX_DEPTH {
                    return Err(MimeError(format!("multiparts nested more than {MAX_DEPTH} deep")));
                }
                self.seps.push(sep.clone());
                let mut at = first;
                let result = loop {
                    // `at` is a boundary line of this multipart.
                    if boundary_kind(self.lines[at].text, &sep) == Some(true) {
                        break Ok(at + 1);
                    }
                    let part_end = match self.message(at + 1, end) {
                        Ok(e) => e,
                        Err(e) => break Err(e),
                    };
                    if part_end >= end || boundary_kind(self.lines[part_end].text, &sep).is_none() {
                        // EOF, or an enclosing boundary: this multipart ends
                        // without its close boundary.
                        break Ok(part_end);
                    }
                    at = part_end;
                };
                self.seps.pop();
                let after = result?;
                // The epilogue runs to the enclosing boundary.
                let mut e = after;
                while e < end && !self.ends_part(e) {
                    e += 1;
                }
                return Ok(e);
            }
        }
        if ctype.starts_with("multipart/") {
            // No boundary: cloud-init skips it (`is_skippable`).
            return Ok(stop);
        }
        if self.leaves.len() >= MAX_PARTS {
            return Err(MimeError(format!("more than {MAX_PARTS} parts")));
        }
        let mut text: String = self.lines[body..stop].iter().map(|l| l.text).collect();
        if !self.seps.is_empty() {
            // The line end before a boundary belongs to the boundary (and
            // Python drops the last one at the end of the input too).
            let n = strip_eol(&text).len();
            text.truncate(n);
        }
        let cte = msg.get("content-transfer-encoding").unwrap_or("").to_lowercase();
        let payload = decode_payload(&text, cte.trim());
        let filename = msg.param("content-disposition", "filename").or_else(|| msg.param("content-type", "name"));
        self.leaves.push(Leaf { content_type: ctype, filename, headers: msg.headers, payload });
        Ok(stop)
    }
}

/// `get_payload(decode=True)` of a non-multipart part whose text is `text`.
fn decode_payload(text: &str, cte: &str) -> Vec<u8> {
    let bytes = raw_unicode_escape(text);
    match cte {
        "base64" => decode_b(&bytes),
        "quoted-printable" => quopri(&bytes),
        _ => bytes,
    }
}

/// `str.encode('raw-unicode-escape')` (which is `encode('ascii')` for
/// ASCII text).
fn raw_unicode_escape(s: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(s.len());
    for c in s.chars() {
        let u = c as u32;
        if u < 0x100 {
            v.push(u as u8);
        } else if u < 0x10000 {
            v.extend(format!("\\u{u:04x}").bytes());
        } else {
            v.extend(format!("\\U{u:08x}").bytes());
        }
    }
    v
}

/// `email._encoded_words.decode_b` over the payload with its line ends
/// removed: strict with added padding, else binascii's lenient mode
/// (characters outside the alphabet skipped), else the bytes as they are.
fn decode_b(bytes: &[u8]) -> Vec<u8> {
    let joined: Vec<u8> = bytes.iter().copied().filter(|&b| b != b'\n' && b != b'\r').collect();
    let strict = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent)
            .with_decode_allow_trailing_bits(true),
    );
    if let Ok(v) = strict.decode(&joined) {
        return v;
    }
    // binascii.a2b_base64(strict_mode=False): skip non-alphabet bytes,
    // stop at padding that completes a quantum.
    let mut sextets = Vec::with_capacity(joined.len());
    for &b in &joined {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' if sextets.len() % 4 >= 2 => break,
            _ => continue,
        };
        sextets.push(v);
    }
    if sextets.len() % 4 == 1 {
        return bytes.to_vec();
    }
    let mut out = Vec::with_capacity(sextets.len() * 3 / 4);
    for q in sextets.chunks(4) {
        let n = q.iter().fold(0u32, |a, &s| (a << 6) | u32::from(s)) << (6 * (4 - q.len()));
        let b = n.to_be_bytes();
        out.extend_from_slice(&b[1..q.len()]);
    }
    out
}

/// `quopri.decodestring`: `=XX` escapes, soft line breaks (`=` at the end
/// of a line), trailing blanks of each line dropped.
fn quopri(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(bytes.len());
    for line in bytes.split_inclusive(|&b| b == b'\n') {
        let (body, nl) = match line.strip_suffix(b"\n") {
            Some(b) => (b.strip_suffix(b"\r").unwrap_or(b), true),
            None => (line, false),
        };
        let mut n = body.len();
        while n > 0 && (body[n - 1] == b' ' || body[n - 1] == b'\t') {
            n -= 1;
        }
        let body = &body[..n];
        let mut i = 0;
        let mut soft = false;
        while i < body.len() {
            if body[i] == b'=' {
                if i + 1 == body.len() {
                    soft = true;
                    break;
                }
                if let (Some(h), Some(l)) =
                    (body.get(i + 1).and_then(|&c| hexval(c)), body.get(i + 2).and_then(|&c| hexval(c)))
                {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
            }
            out.push(body[i]);
            i += 1;
        }
        if nl && !soft {
            out.push(b'\n');
        }
    }
    out
}

fn hexval(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// The leaf parts of `text` (a whole MIME message) in `walk()` order.
pub fn leaves(text: &str) -> Result<Vec<Leaf>, MimeError> {
    let lines = split_lines(text);
    let n = lines.len();
    let mut w = Walker { lines, leaves: Vec::new(), seps: Vec::new() };
    w.message(0, n)?;
    Ok(w.leaves)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn multipart_parts_types_and_payloads() {
        let m = "Content-Type: multipart/mixed; boundary=\"XYZ\"\nMIME-Version: 1.0\n\npreamble\n--XYZ\nContent-Type: text/x-shellscript\n\n#!/bin/sh\necho hi\n\n--XYZ\nContent-Type: text/cloud-config; charset=\"us-ascii\"\nContent-Transfer-Encoding: base64\nContent-Disposition: attachment; filename=\"cc.txt\"\n\nI2Nsb3VkLWNvbmZpZwo=\n--XYZ--\nepilogue\n";
        let l = leaves(m).unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].content_type, "text/x-shellscript");
        assert_eq!(l[0].payload, b"#!/bin/sh\necho hi\n");
        assert_eq!(l[1].payload, b"#cloud-config\n");
        assert_eq!(l[1].filename.as_deref(), Some("cc.txt"));
    }

    #[test]
    fn defaults_and_missing_boundaries() {
        assert_eq!(leaves("MIME-Version: 1.0\n\nhello").unwrap()[0].content_type, "text/plain");
        assert_eq!(leaves("Content-Type: bogus\n\nx").unwrap()[0].content_type, "text/plain");
        // No boundary parameter / no boundary line: nothing to walk.
        assert!(leaves("Content-Type: multipart/mixed\n\n--a\n\nx\n").unwrap().is_empty());
        assert!(leaves("Content-Type: multipart/mixed; boundary=b\n\n--a\n\nx\n").unwrap().is_empty());
        // A part with no close boundary keeps what it has.
        let l = leaves("Content-Type: multipart/mixed; boundary=b\n\n--b\n\nx\n").unwrap();
        assert_eq!(l[0].payload, b"x");
    }

    #[test]
    fn nesting_is_bounded() {
        let mut m = String::new();
        for i in 0..200 {
            m.push_str(&format!("Content-Type: multipart/mixed; boundary=b{i}\n\n--b{i}\n"));
        }
        m.push_str("\nx\n");
        assert!(leaves(&m).unwrap_err().0.contains("nested"));
    }

    #[test]
    fn encodings() {
        assert_eq!(quopri(b"a=3Db=\nc  \n"), b"a=bc\n");
        assert_eq!(decode_b(b"aGVs\nbG8"), b"hello");
        assert_eq!(decode_b(b"a*GVsbG8="), b"hello");
        assert_eq!(raw_unicode_escape("é€"), b"\xe9\\u20ac");
    }
}
