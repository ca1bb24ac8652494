//! Decompression of compressed file extents (Linux `fs/btrfs/zlib.c`,
//! `lzo.c`, `zstd.c`), each bounded by the extent's `ram_bytes`: no input
//! can make boot-sim produce more than that.

use std::io::Read;

use le_bytes::u32_at;

use super::format::{COMPRESS_LZO, COMPRESS_ZLIB, COMPRESS_ZSTD};

/// Largest decompressed extent accepted. Linux never writes more than
/// `BTRFS_MAX_UNCOMPRESSED` (128 KiB) per compressed extent; 1 MiB leaves
/// room and still bounds memory.
pub const MAX_RAM_BYTES: u64 = 1 << 20;

/// `LZO_LEN`: each length field of the lzo framing.
const LZO_LEN: usize = 4;

/// Decompresses `input` (an extent's bytes on disk, or an inline extent's
/// data) compressed with `algo` to at most `ram_bytes` bytes. A stream that
/// ends early gives fewer bytes; the caller reads the rest as zeros, as
/// Linux does (`btrfs_decompress_buf2page` leaves the page tail zeroed).
pub fn decompress(algo: u8, input: &[u8], ram_bytes: u64, sectorsize: usize) -> Result<Vec<u8>, String> {
    if ram_bytes > MAX_RAM_BYTES {
        return Err(format!("compressed extent of {ram_bytes} bytes, more than {MAX_RAM_BYTES}"));
    }
    let limit = ram_bytes as usize;
    match algo {
        COMPRESS_ZLIB => read_bounded(flate2::read::ZlibDecoder::new(input), limit).map_err(|e| format!("zlib: {e}")),
        COMPRESS_ZSTD => {
            let mut src = input;
            let dec = ruzstd::decoding::StreamingDecoder::new(&mut src).map_err(|e| format!("zstd: {e}"))?;
            read_bounded(dec, limit).map_err(|e| format!("zstd: {e}"))
        }
        COMPRESS_LZO => lzo(input, limit, sectorsize),
        other => Err(format!("unknown compression type {other}")),
    }
}

fn read_bounded(r: impl Read, limit: usize) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(limit.min(1 << 17));
    r.take(limit as u64).read_to_end(&mut out)?;
    Ok(out)
}

/// btrfs's lzo framing (`lzo.c`, "Compressed data header"): a 4-byte
/// little-endian total length (this field included), then segments of a
/// 4-byte length and that many bytes of lzo1x, each decompressing to at most
/// one sector. A segment header never straddles a sector: when fewer than 4
/// bytes remain in the sector, they are padding and the next header starts
/// at the next sector.
pub fn lzo(input: &[u8], limit: usize, sectorsize: usize) -> Result<Vec<u8>, String> {
    if !(LZO_LEN..=1 << 16).contains(&sectorsize) {
        return Err(format!("lzo: sector size {sectorsize}"));
    }
    let total = u32_at(input, 0).ok_or("lzo: no total length header")? as usize;
    if total > input.len() || total < LZO_LEN {
        return Err(format!("lzo: total length {total} does not fit the {} bytes of the extent", input.len()));
    }
    let input = &input[..total];
    let mut out = Vec::with_capacity(limit.min(1 << 17));
    let mut seg = vec![0u8; sectorsize];
    let mut at = LZO_LEN;
    // Each turn consumes at least 4 bytes, so at most total / 4 turns.
    while at < total && out.len() < limit {
        let left_in_sector = sectorsize - at % sectorsize;
        if left_in_sector < LZO_LEN {
            at += left_in_sector;
            continue;
        }
        let len = u32_at(input, at).ok_or_else(|| format!("lzo: truncated segment header at byte {at}"))? as usize;
        at += LZO_LEN;
        let data = at
            .checked_add(len)
            .and_then(|end| input.get(at..end))
            .ok_or_else(|| format!("lzo: segment of {len} bytes at byte {at} runs past the {total}-byte extent"))?;
        let n = lzokay::decompress::decompress(data, &mut seg)
            .map_err(|e| format!("lzo: segment at byte {}: {e:?}", at - LZO_LEN))?;
        let take = n.min(limit - out.len());
        out.extend_from_slice(&seg[..take]);
        at += len;
    }
    Ok(out)
}
