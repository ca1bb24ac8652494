//! Every file the CLI reads whole (a kernel, a cost model, an answers
//! file) goes through one checked open, [`disk_image::RawImage::open`]:
//! a directory, character device, FIFO or socket is refused before it is
//! opened, and no more than the file's size limit is ever read.

use std::path::Path;

use disk_image::RawImage;

use crate::output::Exit;

/// Largest text file read (cost models and answers files are a few KiB).
pub const MAX_TEXT_FILE: u64 = 1 << 20;

/// The whole of `path`, at most `max_len` bytes; `what` names what it is
/// read as in the error ("a kernel").
pub fn read_bytes(path: &Path, max_len: u64, what: &str) -> Result<Vec<u8>, Exit> {
    Ok(RawImage::open(path)?.read_all(max_len, what)?)
}

/// The whole of `path` as UTF-8 text, at most [`MAX_TEXT_FILE`] bytes.
pub fn read_text(path: &Path, what: &str) -> Result<String, Exit> {
    let bytes = read_bytes(path, MAX_TEXT_FILE, what)?;
    String::from_utf8(bytes).map_err(|e| {
        Exit::Error(format!(
            "{}: not UTF-8 text (invalid byte at {:#x}), so not {what}",
            path.display(),
            e.utf8_error().valid_up_to()
        ))
    })
}
