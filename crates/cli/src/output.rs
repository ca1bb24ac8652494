//! Output plumbing shared by the subcommands: a stdout writer for which a
//! closed pipe (`boot-sim inspect x | head`) is not an error, exit codes,
//! and number formatting.

use std::io::{self, Write};
use std::process::ExitCode;

/// How a subcommand ends when it does not succeed.
#[derive(Debug)]
pub enum Exit {
    /// The reader went away (EPIPE): stop quietly with success.
    BrokenPipe,
    /// Exit 1: the image cannot boot the way asked (the reason was rendered).
    NotBootable,
    /// Exit 2 with this message on stderr.
    Error(String),
    /// Exit 2 after diagnostics were already printed.
    Failed,
}

impl From<io::Error> for Exit {
    fn from(e: io::Error) -> Exit {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Exit::BrokenPipe
        } else {
            Exit::Error(format!("writing output: {e}"))
        }
    }
}

impl From<disk_image::DiskError> for Exit {
    fn from(e: disk_image::DiskError) -> Exit {
        Exit::Error(e.to_string())
    }
}

pub struct Out {
    inner: io::BufWriter<io::Stdout>,
}

impl Out {
    pub fn stdout() -> Out {
        Out { inner: io::BufWriter::new(io::stdout()) }
    }

    /// One JSON Lines object.
    pub fn json(&mut self, value: &serde_json::Value) -> Result<(), Exit> {
        serde_json::to_writer(&mut self.inner, value).map_err(|e| Exit::from(io::Error::from(e)))?;
        self.inner.write_all(b"\n")?;
        Ok(())
    }

    pub fn bytes(&mut self, b: &[u8]) -> Result<(), Exit> {
        self.inner.write_all(b)?;
        Ok(())
    }
}

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.inner.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

pub fn finish(mut out: Out, result: Result<(), Exit>) -> ExitCode {
    let flushed = out.flush().map_err(Exit::from);
    match result.and(flushed) {
        Ok(()) | Err(Exit::BrokenPipe) => ExitCode::SUCCESS,
        Err(Exit::NotBootable) => ExitCode::from(1),
        Err(Exit::Failed) => ExitCode::from(2),
        Err(Exit::Error(msg)) => {
            eprintln!("boot-sim: error: {msg}");
            ExitCode::from(2)
        }
    }
}

/// The `entry` JSON Lines object shared by `inspect` and `menu`: the
/// entry's own fields after `context` (where it came from), then `extra`
/// (what this command adds: default, chosen).
pub fn entry_json(
    context: &[(&str, serde_json::Value)],
    e: &boot_config::MenuEntry,
    extra: &[(&str, serde_json::Value)],
) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    m.insert("type".into(), "entry".into());
    for (k, v) in context {
        m.insert((*k).into(), v.clone());
    }
    let own = serde_json::json!({
        "index": e.index,
        "title": e.title,
        "id": e.id,
        "submenus": e.submenus,
        "root": e.root,
        "kernel": e.kernel.as_ref().map(ToString::to_string),
        "initrd": e.initrd.iter().map(ToString::to_string).collect::<Vec<_>>(),
        "args": e.args,
        "kind": e.kind,
    });
    if let serde_json::Value::Object(own) = own {
        m.extend(own);
    }
    for (k, v) in extra {
        m.insert((*k).into(), v.clone());
    }
    serde_json::Value::Object(m)
}

/// 512 bytes, 15.0 MiB, 1.0 TiB (one helper for the workspace).
pub use disk_image::units::human_size;

#[cfg(test)]
mod tests {
    use super::human_size;

    #[test]
    fn sizes() {
        assert_eq!(human_size(512), "512 bytes");
        assert_eq!(human_size(1), "1 byte");
        assert_eq!(human_size(16 << 20), "16.0 MiB");
        assert_eq!(human_size(1 << 40), "1.0 TiB");
    }
}
