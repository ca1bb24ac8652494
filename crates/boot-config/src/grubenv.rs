//! GRUB 2's environment block (`/boot/grub/grubenv`), read the way
//! `load_env` reads it and written the way `grub-editenv` writes it.
//!
//! Sources, GRUB 2 (`rhboot/grub2`; the same code upstream):
//! - `include/grub/lib/envblk.h`: `GRUB_ENVBLK_SIGNATURE` is
//!   `"# GRUB Environment Block\n"`, `DEFAULT_ENVBLK_SIZE` 1024.
//! - `grub-core/lib/envblk.c` `grub_envblk_open`: only the signature is
//!   checked, any size is accepted. `grub_envblk_iterate`: after the
//!   signature, a line starting with `#` is skipped; otherwise the name runs
//!   to the first `=` (it may cross newlines), the value to the next
//!   unescaped `\n`, and `\c` in the value stands for `c` (so a stored
//!   newline is `\` + newline). A name without `=` or a value without a
//!   newline before the end of the block is "Broken": iteration stops.
//! - `grub_envblk_set`: values are escaped (`\` and newline get a `\`);
//!   the free space at the end is filled with `#`.
//! - `grub-core/commands/loadenv.c` `grub_cmd_load_env`: every variable
//!   (or only the whitelisted ones) is set with `grub_env_set`, in block
//!   order, so a repeated name ends with its last value.

use std::fmt;

/// `GRUB_ENVBLK_SIGNATURE`.
pub const SIGNATURE: &[u8] = b"# GRUB Environment Block\n";
/// `DEFAULT_ENVBLK_SIZE`: what `grub-editenv create` writes.
pub const BLOCK_SIZE: usize = 1024;
/// Largest block boot-sim reads. GRUB reads the whole file; a real one is
/// 1024 bytes.
pub const MAX_BLOCK_SIZE: usize = 64 * 1024;
/// Most variables kept from one block.
pub const MAX_VARS: usize = 1024;

/// Why a block cannot be used at all (GRUB: `invalid environment block`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GrubEnvError {
    /// The first bytes are not the signature; `offset` is the first byte
    /// that differs.
    BadSignature { offset: usize },
    /// Larger than [`MAX_BLOCK_SIZE`].
    TooLarge { size: usize },
    /// [`GrubEnv::to_block`]: the variables do not fit in `size` bytes.
    NoSpace { needed: usize, size: usize },
    /// [`GrubEnv::to_block`]: a name GRUB could not read back (empty, with
    /// `=` or a newline, or starting with `#`).
    BadName { name: String },
}

impl fmt::Display for GrubEnvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            GrubEnvError::BadSignature { offset } => {
                write!(f, "invalid environment block: signature differs at byte {offset}")
            }
            GrubEnvError::TooLarge { size } => {
                write!(f, "environment block of {size} bytes is larger than {MAX_BLOCK_SIZE}")
            }
            GrubEnvError::NoSpace { needed, size } => {
                write!(f, "variables need {needed} bytes, the block has {size}")
            }
            GrubEnvError::BadName { name } => write!(f, "variable name {name:?} cannot be stored"),
        }
    }
}

impl std::error::Error for GrubEnvError {}

/// Something odd in a block that GRUB reads anyway.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvDiag {
    /// Byte offset in the block.
    pub offset: usize,
    pub message: String,
}

/// A parsed environment block: the variables in block order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GrubEnv {
    /// `(name, value)` in block order; a repeated name is kept twice, as
    /// the block holds it (see [`GrubEnv::get`]).
    pub vars: Vec<(String, String)>,
    pub diagnostics: Vec<EnvDiag>,
}

impl GrubEnv {
    /// The value `load_env` leaves in the environment: the last one.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars.iter().rev().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Sets `name` (replacing an existing value in place, as
    /// `grub_envblk_set` does, or appending).
    pub fn set(&mut self, name: &str, value: &str) {
        match self.vars.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = value.to_string(),
            None => self.vars.push((name.to_string(), value.to_string())),
        }
    }

    /// The block `grub-editenv` would write: signature, `name=value\n`
    /// lines with `\` before `\` and newline, `#` padding to `size`.
    pub fn to_block(&self, size: usize) -> Result<Vec<u8>, GrubEnvError> {
        let mut out = SIGNATURE.to_vec();
        for (name, value) in &self.vars {
            if name.is_empty() || name.contains(['=', '\n']) || name.starts_with('#') {
                return Err(GrubEnvError::BadName { name: name.clone() });
            }
            out.extend_from_slice(name.as_bytes());
            out.push(b'=');
            for &b in value.as_bytes() {
                if b == b'\\' || b == b'\n' {
                    out.push(b'\\');
                }
                out.push(b);
            }
            out.push(b'\n');
        }
        if out.len() > size {
            return Err(GrubEnvError::NoSpace { needed: out.len(), size });
        }
        out.resize(size, b'#');
        Ok(out)
    }
}

/// Parses a block (see the module docs). Lines GRUB would stop at or skip
/// become diagnostics with their offsets.
pub fn parse(data: &[u8]) -> Result<GrubEnv, GrubEnvError> {
    if data.len() > MAX_BLOCK_SIZE {
        return Err(GrubEnvError::TooLarge { size: data.len() });
    }
    // grub_envblk_open: `size < sizeof (SIGNATURE)` (which counts the NUL)
    // or a differing prefix is an invalid block.
    if let Some(offset) = SIGNATURE.iter().zip(data).position(|(a, b)| a != b) {
        return Err(GrubEnvError::BadSignature { offset });
    }
    if data.len() <= SIGNATURE.len() {
        return Err(GrubEnvError::BadSignature { offset: data.len() });
    }
    let mut env = GrubEnv::default();
    if data.len() != BLOCK_SIZE {
        env.diagnostics.push(EnvDiag {
            offset: 0,
            message: format!(
                "block is {} bytes, not {BLOCK_SIZE}: GRUB reads it, but save_env and grub-editenv expect {BLOCK_SIZE}",
                data.len()
            ),
        });
    }
    let end = data.len();
    let mut p = SIGNATURE.len();
    // Every pass moves `p` forward by at least one byte.
    while p < end {
        if data[p] == b'#' {
            p = next_line(data, p);
            continue;
        }
        let name_start = p;
        while p < end && data[p] != b'=' {
            p += 1;
        }
        if p == end {
            env.diagnostics.push(EnvDiag {
                offset: name_start,
                message: "text without `=` before the end of the block: GRUB stops reading here".into(),
            });
            break;
        }
        let name_end = p;
        p += 1;
        let mut value = Vec::new();
        let mut closed = false;
        while p < end {
            match data[p] {
                b'\n' => {
                    closed = true;
                    break;
                }
                b'\\' => {
                    if let Some(&c) = data.get(p + 1) {
                        value.push(c);
                    }
                    p += 2;
                }
                c => {
                    value.push(c);
                    p += 1;
                }
            }
        }
        if !closed {
            env.diagnostics.push(EnvDiag {
                offset: name_start,
                message: "value without a newline before the end of the block: GRUB stops reading here".into(),
            });
            break;
        }
        if env.vars.len() == MAX_VARS {
            env.diagnostics.push(EnvDiag { offset: name_start, message: format!("more than {MAX_VARS} variables") });
            break;
        }
        let name = String::from_utf8_lossy(&data[name_start..name_end]).into_owned();
        if name.contains('\n') {
            env.diagnostics.push(EnvDiag {
                offset: name_start,
                message: format!("variable name {name:?} spans lines (the line before has no `=`)"),
            });
        }
        env.vars.push((name, String::from_utf8_lossy(&value).into_owned()));
        p += 1;
    }
    Ok(env)
}

/// `find_next_line`: past the next unescaped newline.
fn next_line(data: &[u8], mut p: usize) -> usize {
    while p < data.len() {
        match data[p] {
            b'\\' => p += 2,
            b'\n' => break,
            _ => p += 1,
        }
    }
    p + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_grub_editenv_writes() {
        let mut env = GrubEnv::default();
        env.set("saved_entry", "gnulinux-advanced-1>gnulinux-6.1.0-9-amd64-advanced-1");
        env.set("kernelopts", "root=/dev/xvda1 ro a\\b\nc");
        let block = env.to_block(BLOCK_SIZE).unwrap();
        assert_eq!(block.len(), 1024);
        assert!(block.ends_with(b"###"));
        let back = parse(&block).unwrap();
        assert_eq!(back.vars, env.vars);
        assert!(back.diagnostics.is_empty());
    }

    #[test]
    fn signature_and_broken_lines() {
        assert_eq!(parse(b"# GRUB Environment Blok\n"), Err(GrubEnvError::BadSignature { offset: 22 }));
        assert_eq!(parse(b"# GRUB"), Err(GrubEnvError::BadSignature { offset: 6 }));
        let env = parse(b"# GRUB Environment Block\n#c\na=1\na=2\nb").unwrap();
        assert_eq!(env.get("a"), Some("2"));
        assert_eq!(env.vars.len(), 2);
        assert!(env.diagnostics.iter().any(|d| d.offset == 36 && d.message.contains("without `=`")));
    }

    #[test]
    fn full_block_reports_no_space() {
        let env = GrubEnv { vars: vec![("x".into(), "y".repeat(2000))], diagnostics: vec![] };
        assert!(matches!(env.to_block(BLOCK_SIZE), Err(GrubEnvError::NoSpace { .. })));
    }
}
