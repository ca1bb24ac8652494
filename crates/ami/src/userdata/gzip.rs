//! gzip as cloud-init reads it: `cloudinit/util.py` `decomp_gzip`, which
//! runs Python's `gzip.GzipFile(...).read()` over the whole buffer.
//!
//! Python's reader (CPython 3.11 `Lib/gzip.py` `_GzipReader`) reads member
//! after member; after each member's CRC-32/ISIZE trailer it skips zero
//! padding; whatever follows must be another member's magic `1f 8b` or
//! the end, else `BadGzipFile`. A truncated member is `EOFError`, a bad
//! trailer `BadGzipFile`. `decomp_gzip(quiet=True)` (the whole user-data,
//! `user_data.py` `convert_string`) then hands back the input unchanged;
//! `quiet=False` (a MIME part typed `application/gzip` …) raises
//! `DecompressionError` and the part is dropped with a warning.
//!
//! Python has no output bound; boot-sim stops at a caller-given budget of
//! output bytes ([`Gunzip::TooLarge`]), so a gzip bomb costs bounded time
//! and memory.

use std::io::Read;

/// What [`gunzip`] made of some bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Gunzip {
    /// Not gzip at all (no `1f 8b` magic).
    NotGzip,
    /// Every member decompressed and checked.
    Data(Vec<u8>),
    /// gzip that Python's reader refuses, with why.
    Bad(String),
    /// More than the budget of output bytes.
    TooLarge { limit: usize },
}

/// The gzip magic.
pub const MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Decompresses `data` as Python's `GzipFile.read()` does, producing at
/// most `limit` bytes.
pub fn gunzip(data: &[u8], limit: usize) -> Gunzip {
    if !data.starts_with(&MAGIC) {
        return Gunzip::NotGzip;
    }
    let mut out = Vec::new();
    let mut rest = data;
    let mut member = 0usize;
    while !rest.is_empty() {
        if !rest.starts_with(&MAGIC) {
            return Gunzip::Bad(format!(
                "not a gzipped file: bytes after member {member} end are neither zero padding nor another member"
            ));
        }
        member += 1;
        let mut dec = flate2::bufread::GzDecoder::new(rest);
        let room = (limit - out.len()) as u64 + 1;
        match (&mut dec).take(room).read_to_end(&mut out) {
            Ok(_) if out.len() > limit => return Gunzip::TooLarge { limit },
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                return Gunzip::Bad(format!(
                    "member {member}: compressed file ended before the end-of-stream marker was reached"
                ));
            }
            Err(e) => return Gunzip::Bad(format!("member {member}: {e}")),
        }
        rest = dec.into_inner();
        let zeros = rest.iter().take_while(|&&b| b == 0).count();
        rest = &rest[zeros..];
    }
    Gunzip::Data(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn members_padding_and_refusals() {
        assert_eq!(gunzip(b"#!/bin/sh\n", 100), Gunzip::NotGzip);
        assert_eq!(gunzip(&gz(b"hello"), 100), Gunzip::Data(b"hello".to_vec()));
        let mut two = gz(b"a");
        two.extend([0, 0, 0]);
        two.extend(gz(b"b"));
        assert_eq!(gunzip(&two, 100), Gunzip::Data(b"ab".to_vec()));
        let mut junk = gz(b"a");
        junk.extend(b"xyz");
        assert!(matches!(gunzip(&junk, 100), Gunzip::Bad(m) if m.contains("neither zero padding")));
        let whole = gz(b"0123456789");
        assert!(matches!(gunzip(&whole[..whole.len() - 4], 100), Gunzip::Bad(_)));
        let mut bad_crc = whole.clone();
        let n = bad_crc.len();
        bad_crc[n - 8] ^= 1;
        assert!(matches!(gunzip(&bad_crc, 100), Gunzip::Bad(_)));
        assert_eq!(gunzip(&gz(&[0u8; 1000]), 999), Gunzip::TooLarge { limit: 999 });
        assert_eq!(gunzip(&gz(&[0u8; 1000]), 1000), Gunzip::Data(vec![0; 1000]));
    }
}
