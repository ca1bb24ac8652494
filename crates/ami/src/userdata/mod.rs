//! EC2 user-data as cloud-init reads it: what parts it holds, of which
//! content types, and what cloud-init does with each.
//!
//! The model is cloud-init 22.4.2, the version Debian bookworm ships
//! (`cloud-init` 22.4.2-1+deb12u4):
//! - `cloudinit/user_data.py` `convert_string`: the whole user-data is
//!   gunzipped if it is gzip (`util.decomp_gzip(quiet=True)`: bad gzip is
//!   kept as it is); if `mime-version:` occurs (case-insensitively) in its
//!   first 4096 bytes it is parsed as a MIME message (`email`
//!   `message_from_string` of its UTF-8 text; text that is not UTF-8 makes
//!   that raise `UnicodeDecodeError` and cloud-init processes none of it),
//!   else it is one part of type `text/x-not-multipart`;
//! - `UserDataProcessor._process_msg`: for every non-multipart part in
//!   walk order, parts of a gzip type (`DECOMP_TYPES`) are gunzipped (a
//!   failure drops the part with cloud-init's warning); parts of type
//!   `text/plain`, `text/x-not-multipart`, `text/x-shellscript` (or
//!   decompressed ones) get their type from how they start
//!   (`handlers.type_from_starts_with`: lowercased, leading blanks
//!   stripped, longest prefix of `INCLUSION_TYPES_MAP` first);
//!   `#include`/`#include-once` parts are URL lists fetched at boot
//!   (`_do_include`); `#cloud-config-archive` parts are YAML lists of parts
//!   (`_explode_archive`); every other part is attached, named `part-NNN`
//!   unless it has a filename (`_process_before_attach`);
//! - `cloudinit/handlers/__init__.py` `walker_callback`: a part whose type
//!   no handler takes is skipped with "Unhandled non-multipart
//!   (text/x-not-multipart) userdata" or "Unhandled unknown content-type".
//!
//! Untrusted bytes, bounded: gzip output ([`MAX_DECOMPRESSED`] over all
//! layers), MIME parts and nesting ([`mime::MAX_PARTS`],
//! [`mime::MAX_DEPTH`]), YAML nodes and scalar bytes after alias expansion,
//! over all the parts' documents together ([`yaml::MAX_NODES`],
//! [`yaml::MAX_BYTES`]), and nesting ([`yaml::MAX_DEPTH`]). Past a bound the analysis
//! says so ([`Analysis::error`]) instead of answering.

pub mod gzip;
pub mod mime;
pub mod schema;
pub mod yaml;

use serde::Serialize;

use self::gzip::Gunzip;
use self::yaml::{Yaml, YamlError};

/// EC2's limit on user-data: 16 KB, counted before base64 encoding
/// (EC2 User Guide, "Run commands on your Linux instance at launch":
/// "user data is limited to 16 KB, in raw form, before it is
/// base64-encoded").
pub const EC2_MAX_USER_DATA: usize = 16 * 1024;

/// Decompressed bytes boot-sim produces from one user-data, over every
/// gzip layer. 16 KB of gzip inflates to at most about 16.5 MB (deflate's
/// best ratio is about 1032:1); a gzip part inside that can go further.
pub const MAX_DECOMPRESSED: usize = 64 << 20;

/// `handlers.INCLUSION_TYPES_MAP`, longest prefix first
/// (`INCLUSION_SRCH`).
const STARTS_WITH: [(&str, &str); 12] = [
    ("text/x-shellscript-per-instance", "text/x-shellscript-per-instance"),
    ("text/x-shellscript-per-boot", "text/x-shellscript-per-boot"),
    ("text/x-shellscript-per-once", "text/x-shellscript-per-once"),
    ("#cloud-config-archive", "text/cloud-config-archive"),
    ("#cloud-config-jsonp", "text/cloud-config-jsonp"),
    ("## template: jinja", "text/jinja2"),
    ("#cloud-boothook", "text/cloud-boothook"),
    ("#include-once", "text/x-include-once-url"),
    ("#cloud-config", "text/cloud-config"),
    ("#part-handler", "text/part-handler"),
    ("#include", "text/x-include-url"),
    ("#!", "text/x-shellscript"),
];

/// `user_data.DECOMP_TYPES`.
const DECOMP_TYPES: [&str; 8] = [
    "application/gzip",
    "application/gzip-compressed",
    "application/gzipped",
    "application/x-compress",
    "application/x-compressed",
    "application/x-gunzip",
    "application/x-gzip",
    "application/x-gzip-compressed",
];

/// Python's `str.isspace` (what `str.lstrip()` strips): Unicode white
/// space plus the ASCII separators U+001C–U+001F.
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `handlers.type_from_starts_with(payload, default)`; the payload's
/// bytes are read as UTF-8 with undecodable bytes kept apart (cloud-init
/// decodes with `surrogateescape`; such bytes never match a prefix).
pub fn type_from_starts_with(payload: &[u8]) -> Option<&'static str> {
    let text = String::from_utf8_lossy(&payload[..payload.len().min(256)]);
    let lc = text.trim_start_matches(py_space).to_lowercase();
    STARTS_WITH.iter().find(|(p, _)| lc.starts_with(p)).map(|&(_, t)| t)
}

/// What cloud-init does with a part, by its final content type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum PartKind {
    /// `text/x-shellscript`: written to `scripts/part-NNN` by the init
    /// stage, run by the `scripts-user` module in cloud-final, once per
    /// instance.
    ShellScript,
    /// `text/x-shellscript-per-boot|instance|once` (MIME only): run by
    /// `scripts-per-boot`/`-per-instance`/`-per-once`.
    ShellScriptPerBoot,
    ShellScriptPerInstance,
    ShellScriptPerOnce,
    /// `text/cloud-config`: merged into the instance's cloud-config.
    CloudConfig,
    /// `text/cloud-config-jsonp`: a JSON patch on the merged cloud-config.
    CloudConfigJsonp,
    /// `text/cloud-boothook`: run by the init stage at every boot, early.
    Boothook,
    /// `text/part-handler`: Python code cloud-init loads as a handler.
    PartHandler,
    /// `text/jinja2`: rendered with the instance data, then handled as
    /// what it starts with.
    Jinja,
    /// No handler takes it: skipped with a warning.
    Unhandled,
}

impl PartKind {
    pub fn of(content_type: &str) -> PartKind {
        match content_type {
            "text/x-shellscript" => PartKind::ShellScript,
            "text/x-shellscript-per-boot" => PartKind::ShellScriptPerBoot,
            "text/x-shellscript-per-instance" => PartKind::ShellScriptPerInstance,
            "text/x-shellscript-per-once" => PartKind::ShellScriptPerOnce,
            "text/cloud-config" => PartKind::CloudConfig,
            "text/cloud-config-jsonp" => PartKind::CloudConfigJsonp,
            "text/cloud-boothook" => PartKind::Boothook,
            "text/part-handler" => PartKind::PartHandler,
            "text/jinja2" => PartKind::Jinja,
            _ => PartKind::Unhandled,
        }
    }
}

/// A `#cloud-config` part's YAML.
#[derive(Debug, Clone, Serialize)]
pub struct CloudConfig {
    /// The top-level keys, in order.
    pub keys: Vec<String>,
    /// Why cloud-init would not use the part: YAML that does not load, a
    /// root that is not a mapping, an empty document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<YamlError>,
    /// Errors against cloud-init's schema ([`schema`]): cloud-init warns
    /// "Invalid cloud-config provided" and still runs the modules.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub schema_errors: Vec<schema::SchemaError>,
    /// The loaded document.
    #[serde(skip)]
    pub value: Option<Yaml>,
}

/// One part as cloud-init attaches it.
#[derive(Debug, Clone, Serialize)]
pub struct Part {
    /// 1-based attach order.
    pub index: usize,
    /// The part's filename, or `part-NNN`.
    pub filename: String,
    /// The content type cloud-init hands to the handlers.
    pub content_type: String,
    /// The MIME type the part was declared with, when not the same.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub declared_type: Option<String>,
    pub kind: PartKind,
    /// The part was gzip inside the message (not counting a gzipped whole).
    pub was_compressed: bool,
    pub bytes: usize,
    /// The first line, at most 80 characters.
    pub first_line: String,
    /// For `text/jinja2`: the type of what follows the header line (what
    /// it renders to if that line has no template expressions).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rendered_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cloud_config: Option<CloudConfig>,
    #[serde(skip)]
    pub payload: Vec<u8>,
}

/// An `#include` / `#include-once` part: URLs cloud-init fetches at boot
/// and processes as user-data. boot-sim does not fetch them. A URL that
/// fails to fetch fails the whole user-data (`ERROR_ON_USER_DATA_FAILURE`).
#[derive(Debug, Clone, Serialize)]
pub struct Include {
    pub urls: Vec<String>,
    pub once: bool,
}

/// What cloud-init makes of one user-data.
#[derive(Debug, Clone, Serialize)]
pub struct Analysis {
    /// Raw size (what EC2's 16 KB limit counts).
    pub bytes: usize,
    /// The whole user-data was gzip (and decompressed).
    pub gzip: bool,
    /// Read as a MIME message.
    pub mime: bool,
    pub parts: Vec<Part>,
    pub includes: Vec<Include>,
    /// cloud-init's warnings for parts it drops.
    pub warnings: Vec<String>,
    /// Nothing of the user-data is used: cloud-init fails on it, or
    /// boot-sim stopped at one of its bounds (then `bound` is set).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub bound: bool,
}

struct Processor {
    a: Analysis,
    /// Decompressed bytes left.
    budget: usize,
    /// What the YAML of all `#cloud-config` and `#cloud-config-archive`
    /// parts may still build.
    yaml: yaml::Budget,
}

/// The first line of `b`, at most 80 characters.
fn first_line(b: &[u8]) -> String {
    let end = b.iter().position(|&c| c == b'\n').unwrap_or(b.len());
    let s = String::from_utf8_lossy(&b[..end.min(320)]);
    let s = s.trim_end_matches('\r');
    s.chars().take(80).collect()
}

/// Analyses user-data as cloud-init 22.4.2 processes it. Never fails:
/// what cloud-init would reject, and what boot-sim will not read, are in
/// [`Analysis::error`] and [`Analysis::warnings`].
pub fn analyse(raw: &[u8]) -> Analysis {
    let mut p = Processor {
        a: Analysis {
            bytes: raw.len(),
            gzip: false,
            mime: false,
            parts: Vec::new(),
            includes: Vec::new(),
            warnings: Vec::new(),
            error: None,
            bound: false,
        },
        budget: MAX_DECOMPRESSED,
        yaml: yaml::Budget::default(),
    };
    if let Err(e) = p.convert(raw, true) {
        p.a.error = Some(e.0);
        p.a.bound = e.1;
        p.a.parts.clear();
    }
    p.a
}

/// An error that stops the analysis: message, and whether it is a bound.
struct Stop(String, bool);

impl Processor {
    /// `convert_string` + `_process_msg` for one blob (the user-data, or
    /// an included document).
    fn convert(&mut self, raw: &[u8], top: bool) -> Result<(), Stop> {
        let data = match gzip::gunzip(raw, self.budget) {
            Gunzip::Data(d) => {
                self.budget -= d.len();
                if top {
                    self.a.gzip = true;
                }
                d
            }
            Gunzip::TooLarge { limit } => {
                return Err(Stop(format!("the gzip user-data decompresses to more than {limit} bytes"), true));
            }
            Gunzip::NotGzip | Gunzip::Bad(_) => raw.to_vec(),
        };
        let head = &data[..data.len().min(4096)];
        if head.to_ascii_lowercase().windows(13).any(|w| w == b"mime-version:") {
            if top {
                self.a.mime = true;
            }
            let text = std::str::from_utf8(&data).map_err(|e| {
                Stop(
                    format!(
                        "the user-data is a MIME message (it has a MIME-Version header) that is not valid UTF-8 \
                         (at byte {}): cloud-init's convert_string fails with UnicodeDecodeError and runs none of it",
                        e.valid_up_to()
                    ),
                    false,
                )
            })?;
            let leaves = mime::leaves(text).map_err(|e| Stop(format!("MIME user-data: {}", e.0), true))?;
            for leaf in leaves {
                self.process_part(leaf.content_type, leaf.filename, leaf.payload)?;
            }
        } else {
            self.process_part("text/x-not-multipart".into(), None, data)?;
        }
        Ok(())
    }

    fn process_part(&mut self, declared: String, filename: Option<String>, mut payload: Vec<u8>) -> Result<(), Stop> {
        let mut ctype_orig = Some(declared.clone());
        let mut was_compressed = false;
        if DECOMP_TYPES.contains(&declared.as_str()) {
            // Since 20.3 `features.ERROR_ON_USER_DATA_FAILURE` is True:
            // `_handle_error` raises, and the whole user-data fails.
            let failed = |why: String| {
                Err(Stop(
                    format!(
                        "cloud-init fails on the user-data (ERROR_ON_USER_DATA_FAILURE): Failed decompressing \
                         payload from {declared} of length {} due to: {why}",
                        payload.len()
                    ),
                    false,
                ))
            };
            match gzip::gunzip(&payload, self.budget) {
                Gunzip::Data(d) if std::str::from_utf8(&d).is_ok() => {
                    self.budget -= d.len();
                    payload = d;
                    ctype_orig = None;
                    was_compressed = true;
                }
                Gunzip::Data(_) => return failed("the decompressed data is not UTF-8".into()),
                Gunzip::TooLarge { limit } => {
                    return Err(Stop(format!("a gzip part decompresses past boot-sim's {limit}-byte budget"), true));
                }
                Gunzip::NotGzip => return failed("Not a gzipped file".into()),
                Gunzip::Bad(why) => return failed(why),
            }
        }
        let ctype_orig = ctype_orig.unwrap_or_else(|| "text/plain".into());
        let mut ctype = None;
        if matches!(ctype_orig.as_str(), "text/plain" | "text/x-not-multipart" | "text/x-shellscript") {
            ctype = type_from_starts_with(&payload).map(str::to_string);
        }
        let ctype = ctype.unwrap_or(ctype_orig);
        match ctype.as_str() {
            "text/x-include-url" | "text/x-include-once-url" => return self.include(&payload),
            "text/cloud-config-archive" => return self.archive(&payload),
            _ => {}
        }
        self.attach(ctype, Some(declared), filename, payload, was_compressed)
    }

    fn attach(
        &mut self,
        ctype: String,
        declared: Option<String>,
        filename: Option<String>,
        payload: Vec<u8>,
        was_compressed: bool,
    ) -> Result<(), Stop> {
        if self.a.parts.len() >= mime::MAX_PARTS {
            return Err(Stop(format!("more than {} parts", mime::MAX_PARTS), true));
        }
        let index = self.a.parts.len() + 1;
        let kind = PartKind::of(&ctype);
        let cloud_config = (kind == PartKind::CloudConfig).then(|| cloud_config(&payload, &mut self.yaml));
        let rendered_type = (kind == PartKind::Jinja).then(|| {
            let body = payload.iter().position(|&c| c == b'\n').map_or(&[][..], |i| &payload[i + 1..]);
            type_from_starts_with(body).unwrap_or("none (cloud-init ignores the template)").to_string()
        });
        if kind == PartKind::Unhandled && !payload.is_empty() {
            let what = if ctype == "text/x-not-multipart" {
                format!("Unhandled non-multipart ({ctype}) userdata")
            } else {
                format!("Unhandled unknown content-type ({ctype}) userdata")
            };
            self.a.warnings.push(format!("{what}: {:?}", first_line(&payload).chars().take(24).collect::<String>()));
        }
        self.a.parts.push(Part {
            index,
            filename: filename.unwrap_or_else(|| format!("part-{index:03}")),
            declared_type: declared.filter(|d| *d != ctype && d != "text/x-not-multipart"),
            content_type: ctype,
            kind,
            was_compressed,
            bytes: payload.len(),
            first_line: first_line(&payload),
            rendered_type,
            cloud_config,
            payload,
        });
        Ok(())
    }

    /// `_do_include`: one URL a line; `#include-once` / `#include` switch
    /// the mode; other `#` lines and blank lines are skipped.
    fn include(&mut self, payload: &[u8]) -> Result<(), Stop> {
        let text = String::from_utf8_lossy(payload);
        let mut once = false;
        for line in text.lines() {
            let lc = line.to_lowercase();
            let mut rest = line;
            if lc.starts_with("#include-once") {
                rest = line.get("#include-once".len()..).unwrap_or("").trim_start();
                once = true;
            } else if lc.starts_with("#include") {
                rest = line.get("#include".len()..).unwrap_or("").trim_start();
                once = false;
            }
            let url = rest.trim();
            if rest.starts_with('#') || url.is_empty() {
                continue;
            }
            match self.a.includes.last_mut() {
                Some(i) if i.once == once => i.urls.push(url.to_string()),
                _ => self.a.includes.push(Include { urls: vec![url.to_string()], once }),
            }
        }
        Ok(())
    }

    /// `_explode_archive`: a YAML list; each entry a string (its content)
    /// or a mapping with `content`, `type`, `filename`.
    fn archive(&mut self, payload: &[u8]) -> Result<(), Stop> {
        let text = String::from_utf8_lossy(payload);
        let entries = match yaml::load_within(&text, &mut self.yaml) {
            Ok(Some(Yaml::Seq(v))) => v,
            Ok(_) => {
                self.a.warnings.push("Failed loading yaml blob: the cloud-config-archive is not a list".into());
                return Ok(());
            }
            Err(e) if e.bound => return Err(Stop(format!("cloud-config-archive YAML: {e}"), true)),
            Err(e) => {
                self.a.warnings.push(format!("Failed loading yaml blob: cloud-config-archive {e}"));
                return Ok(());
            }
        };
        for ent in entries {
            let (content, mtype, filename) = match &ent {
                Yaml::Str(s) => (s.clone(), None, None),
                Yaml::Map(_) => (
                    ent.get("content").and_then(Yaml::as_str).unwrap_or("").to_string(),
                    ent.get("type").and_then(Yaml::as_str).filter(|t| !t.is_empty()).map(str::to_string),
                    ent.get("filename").and_then(Yaml::as_str).map(str::to_string),
                ),
                _ => continue,
            };
            let mtype = mtype.unwrap_or_else(|| {
                type_from_starts_with(content.as_bytes()).unwrap_or("text/cloud-config").to_string()
            });
            self.attach(mtype, None, filename, content.into_bytes(), false)?;
        }
        Ok(())
    }
}

/// `util.load_yaml(payload)` for a `#cloud-config` part: one YAML
/// document whose root is a mapping.
fn cloud_config(payload: &[u8], budget: &mut yaml::Budget) -> CloudConfig {
    let text = String::from_utf8_lossy(payload);
    let bad = |message: String| YamlError { line: 1, column: 1, message, bound: false };
    match yaml::load_within(&text, budget) {
        Ok(Some(v @ Yaml::Map(_))) => CloudConfig {
            keys: v.keys().into_iter().map(str::to_string).collect(),
            error: None,
            schema_errors: schema::validate(&v.to_json()),
            value: Some(v),
        },
        Ok(Some(v)) => CloudConfig {
            keys: Vec::new(),
            schema_errors: Vec::new(),
            error: Some(bad(format!(
                "Yaml load allows (<class 'dict'>,) root types, but got {} instead",
                v.type_name()
            ))),
            value: None,
        },
        Ok(None) => CloudConfig {
            keys: Vec::new(),
            error: Some(bad("empty cloud config".into())),
            schema_errors: Vec::new(),
            value: None,
        },
        Err(e) => CloudConfig { keys: Vec::new(), error: Some(e), schema_errors: Vec::new(), value: None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn starts_with_table() {
        assert_eq!(type_from_starts_with(b"#!/bin/bash\n"), Some("text/x-shellscript"));
        assert_eq!(type_from_starts_with(b"  \n#Cloud-Config\n"), Some("text/cloud-config"));
        assert_eq!(type_from_starts_with(b"#cloud-config-archive\n"), Some("text/cloud-config-archive"));
        assert_eq!(type_from_starts_with(b"#include-once\nx"), Some("text/x-include-once-url"));
        assert_eq!(type_from_starts_with(b"\x1c#!x"), Some("text/x-shellscript"));
        assert_eq!(type_from_starts_with(b"echo hi"), None);
    }

    #[test]
    fn plain_script_and_junk() {
        let a = analyse(b"#!/bin/sh\necho hi\n");
        assert_eq!(a.parts.len(), 1);
        assert_eq!(a.parts[0].kind, PartKind::ShellScript);
        assert_eq!(a.parts[0].filename, "part-001");
        let a = analyse(b"\xff\xfe junk");
        assert_eq!(a.parts[0].content_type, "text/x-not-multipart");
        assert_eq!(a.parts[0].kind, PartKind::Unhandled);
        assert!(a.warnings[0].starts_with("Unhandled non-multipart"));
    }

    #[test]
    fn mime_not_utf8_is_refused_whole() {
        let a = analyse(b"MIME-Version: 1.0\nContent-Type: text/plain\n\n#!/bin/sh\n\xff\n");
        assert!(a.error.unwrap().contains("UnicodeDecodeError") && !a.bound);
    }

    #[test]
    fn include_and_archive() {
        let a = analyse(b"#include\nhttp://a/x\n# c\nhttp://a/y\n#include-once https://b/z\n");
        assert_eq!(a.includes.len(), 2);
        assert_eq!(a.includes[0].urls, ["http://a/x", "http://a/y"]);
        assert!(a.includes[1].once && a.parts.is_empty());
        let a = analyse(b"#cloud-config-archive\n- '#!/bin/sh\n\n  echo a'\n- {type: text/cloud-boothook, content: 'x', filename: bh}\n- 'runcmd: [ls]'\n");
        let t: Vec<_> = a.parts.iter().map(|p| p.content_type.as_str()).collect();
        assert_eq!(t, ["text/x-shellscript", "text/cloud-boothook", "text/cloud-config"]);
        assert_eq!(a.parts[1].filename, "bh");
    }
}
