//! bzImage payload codecs, found by magic and decompressed with pure-Rust
//! decoders into a caller-provided buffer of known capacity.
//!
//! The kernel build (`arch/x86/boot/compressed/Makefile`,
//! `scripts/Makefile.lib` `cmd_gzip`/`cmd_bzip2_with_size`/…) compresses
//! vmlinux.bin(+relocs) and appends the uncompressed size as 4 little-endian
//! bytes (`size_append`; gzip's own ISIZE trailer plays that role). Xen's
//! `tools/libs/guest/xg_dom_bzimageloader.c` reads that trailer as the output
//! size, decompresses the stream without it, and insists on getting exactly
//! that many bytes ("got 0x… bytes instead of 0x…"). We do the same, with the
//! output capped so a lying trailer or a bomb cannot use unbounded memory.

use std::io::Read;

use le_bytes::u32_at;
use serde::Serialize;

use super::error::KernelError;

/// Xen `tools/include/xenguest.h` XC_DOM_DECOMPRESS_MAX: 1 GiB.
pub const MAX_DECOMPRESSED: u64 = 1 << 30;
/// Memory limit for LZMA/XZ dictionaries: Xen's LZMA_BLOCK_SIZE (256 MiB)
/// memlimit in `xg_dom_bzimageloader.c`.
const LZMA_MEM_LIMIT_KB: u32 = 256 * 1024;
/// lz4 legacy frame (`lz4/programs/lz4io.c` LEGACY_MAGICNUMBER, Xen
/// ARCHIVE_MAGICNUMBER) and its block size: 8 MiB of output per block.
const LZ4_LEGACY_MAGIC: u32 = 0x184C_2102;
const LZ4_LEGACY_BLOCK: usize = 8 << 20;
/// lzop container (`lzop/src/lzop.c`, Linux `lib/decompress_unlzo.c`).
const LZOP_MAGIC: [u8; 9] = [0x89, 0x4C, 0x5A, 0x4F, 0x00, 0x0D, 0x0A, 0x1A, 0x0A];
const LZOP_HEADER_HAS_FILTER: u32 = 0x0000_0800;
const LZOP_F_ADLER32_D: u32 = 0x0000_0001;
const LZOP_F_ADLER32_C: u32 = 0x0000_0002;
const LZOP_F_CRC32_D: u32 = 0x0000_0100;
const LZOP_F_CRC32_C: u32 = 0x0000_0200;
/// Xen LZOP_MAX_BLOCK_SIZE.
const LZOP_MAX_BLOCK: u32 = 64 << 20;

/// A payload compression format, as recognised by its magic bytes in the
/// order Xen's `xc_dom_probe_bzimage_kernel` tries them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Codec {
    /// 1F 8B
    Gzip,
    /// "BZh"
    Bzip2,
    /// FD 37 7A 58 5A 00 (the kernel uses the x86 BCJ filter + LZMA2)
    Xz,
    /// 28 B5 2F FD
    Zstd,
    /// 5D 00 (.lzma "alone" format)
    Lzma,
    /// 89 4C 5A 4F (lzop container around LZO1X blocks)
    Lzo,
    /// 02 21 4C 18 (lz4 legacy frame)
    Lz4,
}

impl Codec {
    /// Recognises a payload by its first bytes (`xg_dom_bzimageloader.c`
    /// `check_magic` calls, same order and lengths).
    pub fn detect(payload: &[u8]) -> Option<Self> {
        let table: [(&[u8], Codec); 7] = [
            (b"\x1f\x8b", Codec::Gzip),
            (b"BZh", Codec::Bzip2),
            (b"\xfd7zXZ\x00", Codec::Xz),
            (b"\x28\xb5\x2f\xfd", Codec::Zstd),
            (b"\x5d\x00", Codec::Lzma),
            (b"\x89LZO", Codec::Lzo),
            (b"\x02\x21", Codec::Lz4),
        ];
        table.iter().find(|(m, _)| payload.starts_with(m)).map(|&(_, c)| c)
    }

    /// The name Xen's messages use ("unable to XZ decompress kernel").
    pub fn xen_name(self) -> &'static str {
        match self {
            Codec::Gzip => "gzip",
            Codec::Bzip2 => "BZIP2",
            Codec::Xz => "XZ",
            Codec::Zstd => "ZSTD",
            Codec::Lzma => "LZMA",
            Codec::Lzo => "LZO",
            Codec::Lz4 => "LZ4",
        }
    }

    /// The command that decompresses this payload (with the size trailer
    /// handled as the tool does).
    pub fn tool(self) -> &'static str {
        match self {
            Codec::Gzip => "gzip -dc",
            Codec::Bzip2 => "bzip2 -dc",
            Codec::Xz => "xz -dc",
            Codec::Zstd => "zstd -dc",
            Codec::Lzma => "lzma -dc",
            Codec::Lzo => "lzop -dc",
            Codec::Lz4 => "lz4 -dc",
        }
    }
}

/// The size the payload says it decompresses to: its last 4 bytes, little
/// endian (Makefile.lib `size_append`; gzip ISIZE). `None` if the payload is
/// shorter than Xen's minimum for the codec.
pub fn declared_size(codec: Codec, payload: &[u8]) -> Option<u32> {
    // xg_dom_bzimageloader.c: gzip needs 6 bytes (magic + size), lzma/xz 8,
    // lz4 more than 8, lzo 16 (header); the others read the trailer as is.
    let min = match codec {
        Codec::Gzip => 6,
        Codec::Lz4 => 9,
        Codec::Lzo => 16,
        _ => 8,
    };
    if payload.len() < min {
        return None;
    }
    let t = &payload[payload.len() - 4..];
    Some(u32::from_le_bytes([t[0], t[1], t[2], t[3]]))
}

/// Decompresses `payload` into `dst`, which must be exactly as large as the
/// output should be (the declared size, after capping). Fails — without
/// writing past `dst` or allocating more than the codec's bounded state —
/// if the stream is corrupt, if it would produce more than `dst.len()`
/// bytes (a bomb or a lying trailer), or fewer.
///
/// This is the API the PV domain builder uses to decompress straight into
/// guest memory: `dst` can be the guest pages the kernel will occupy.
/// Errors carry offsets relative to the start of `payload`.
pub fn decompress_into(codec: Codec, payload: &[u8], dst: &mut [u8]) -> Result<usize, KernelError> {
    let n = match codec {
        Codec::Gzip => {
            // gzip members can be concatenated; the kernel's is one member.
            let dec = flate2::read::MultiGzDecoder::new(payload);
            read_exact_capped(codec, dec, dst)?
        }
        Codec::Bzip2 => {
            let body = without_trailer(payload);
            read_exact_capped(codec, bzip2::read::MultiBzDecoder::new(body), dst)?
        }
        Codec::Xz => {
            let body = without_trailer(payload);
            let dec = lzma_rust2::XzReader::new_mem_limit(body, false, LZMA_MEM_LIMIT_KB);
            read_exact_capped(codec, dec, dst)?
        }
        Codec::Lzma => {
            let body = without_trailer(payload);
            let dec = lzma_rust2::LzmaReader::new_mem_limit(body, LZMA_MEM_LIMIT_KB, None)
                .map_err(|e| KernelError::corrupt("LZMA stream", 0, format!("bad .lzma header: {e}")))?;
            read_exact_capped(codec, dec, dst)?
        }
        Codec::Zstd => {
            let body = without_trailer(payload);
            let dec = ruzstd::decoding::StreamingDecoder::new(body)
                .map_err(|e| KernelError::corrupt("ZSTD stream", 0, format!("bad frame header: {e}")))?;
            read_exact_capped(codec, dec, dst)?
        }
        Codec::Lz4 => lz4_legacy(payload, dst)?,
        Codec::Lzo => lzop(payload, dst)?,
    };
    if n != dst.len() {
        return Err(KernelError::corrupt(
            stream_name(codec),
            payload.len() as u64,
            format!("{}: got {n:#x} bytes instead of {:#x} (the declared size)", codec.xen_name(), dst.len()),
        ));
    }
    Ok(n)
}

/// Reusable-buffer variant of [`decompress_into`]: resizes `out` to the
/// declared size (refusing sizes over `cap`) and decompresses into it.
/// Returns the declared size.
pub fn decompress_to_vec(codec: Codec, payload: &[u8], out: &mut Vec<u8>, cap: u64) -> Result<usize, KernelError> {
    let declared = declared_size(codec, payload).ok_or_else(|| {
        KernelError::corrupt(
            stream_name(codec),
            payload.len() as u64,
            format!("{}: insufficient input data ({} bytes)", codec.xen_name(), payload.len()),
        )
    })?;
    let cap = cap.min(MAX_DECOMPRESSED);
    if u64::from(declared) > cap {
        return Err(KernelError::corrupt(
            stream_name(codec),
            payload.len().saturating_sub(4) as u64,
            format!("declared decompressed size {declared:#x} exceeds the limit {cap:#x}"),
        ));
    }
    let declared = declared as usize;
    if out.capacity() < declared {
        // A fresh zeroed allocation is lazily backed by the OS: a stream
        // that stops early (corrupt, or a lying trailer) never commits the
        // pages it did not write.
        *out = vec![0u8; declared];
    } else {
        out.clear();
        out.resize(declared, 0);
    }
    decompress_into(codec, payload, out)
}

fn stream_name(codec: Codec) -> &'static str {
    match codec {
        Codec::Gzip => "gzip stream",
        Codec::Bzip2 => "BZIP2 stream",
        Codec::Xz => "XZ stream",
        Codec::Zstd => "ZSTD stream",
        Codec::Lzma => "LZMA stream",
        Codec::Lzo => "LZO stream",
        Codec::Lz4 => "LZ4 stream",
    }
}

fn without_trailer(payload: &[u8]) -> &[u8] {
    &payload[..payload.len().saturating_sub(4)]
}

/// Reads a streaming decoder into `dst` and checks there is nothing more.
/// The decoder's input is a slice, so the input consumed is not tracked
/// exactly; errors name the payload start and the output position.
fn read_exact_capped<R: Read>(codec: Codec, mut r: R, dst: &mut [u8]) -> Result<usize, KernelError> {
    let mut pos = 0;
    while pos < dst.len() {
        match r.read(&mut dst[pos..]) {
            Ok(0) => return Ok(pos),
            Ok(n) => pos += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                return Err(KernelError::corrupt(
                    stream_name(codec),
                    0,
                    format!("{} decompression error after {pos:#x} output bytes: {e}", codec.xen_name()),
                ));
            }
        }
    }
    // The buffer is full: one more byte means the stream is longer than
    // declared (a bomb or a lying trailer). Stop here either way.
    let mut probe = [0u8; 1];
    match r.read(&mut probe) {
        Ok(0) => Ok(pos),
        Ok(_) => Err(KernelError::corrupt(
            stream_name(codec),
            0,
            format!(
                "{}: output exceeds the declared size {:#x} (corrupt stream, decompression bomb or wrong size trailer)",
                codec.xen_name(),
                dst.len()
            ),
        )),
        Err(e) => Err(KernelError::corrupt(
            stream_name(codec),
            0,
            format!("{} decompression error after {pos:#x} output bytes: {e}", codec.xen_name()),
        )),
    }
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([s[0], s[1]]))
}

/// lz4 legacy frame: magic, then `[u32 LE compressed size][LZ4 block]`
/// repeated, each block at most 8 MiB of output (`lz4io.c`
/// LZ4IO_decodeLegacyStream; Linux `lib/decompress_unlz4.c`). The kernel's
/// 4-byte size trailer follows the last block; like Xen we stop at it.
/// Each block is decoded by lz4_flex straight into its place in `dst`
/// (guest memory on the PV path), with no buffer in between.
fn lz4_legacy(payload: &[u8], dst: &mut [u8]) -> Result<usize, KernelError> {
    const WHAT: &str = "LZ4 stream";
    if u32_at(payload, 0) != Some(LZ4_LEGACY_MAGIC) {
        return Err(KernelError::corrupt(WHAT, 0, "LZ4: invalid header (not the legacy frame magic 0x184c2102)"));
    }
    let end = payload.len().saturating_sub(4);
    let mut pos = 4usize;
    let mut out = 0usize;
    // Each iteration consumes at least 4 input bytes, so the loop is bounded
    // by the payload length.
    while pos < end {
        let Some(chunk) = u32_at(payload, pos) else {
            return Err(KernelError::corrupt(WHAT, pos as u64, "LZ4: missing data (block size cut off)"));
        };
        if chunk == LZ4_LEGACY_MAGIC {
            // Concatenated legacy frames (lz4io restarts on a new magic).
            pos += 4;
            continue;
        }
        let start = pos + 4;
        let chunk = chunk as usize;
        let Some(block_end) = start.checked_add(chunk).filter(|&e| e <= end) else {
            return Err(KernelError::corrupt(
                WHAT,
                pos as u64,
                format!("LZ4: insufficient input data: block of {chunk:#x} bytes at {start:#x} runs past {end:#x}"),
            ));
        };
        let room = (dst.len() - out).min(LZ4_LEGACY_BLOCK);
        let block = &payload[start..block_end];
        let into = &mut dst[out..out + room];
        let n = lz4_flex::block::decompress_into(block, into).map_err(
            |e| {
                let detail = if room < LZ4_LEGACY_BLOCK && dst.len() - out == room {
                    format!(
                        "LZ4: decoding failed: {e} (output would exceed the declared size {:#x}: decompression bomb or wrong size trailer)",
                        dst.len()
                    )
                } else {
                    format!("LZ4: decoding failed: {e}")
                };
                KernelError::corrupt(WHAT, start as u64, detail)
            },
        )?;
        out += n;
        pos = block_end;
    }
    Ok(out)
}

/// lzop container (`lzop.c` header; the same walk as Xen's
/// `xc_try_lzo1x_decode` and Linux `lib/decompress_unlzo.c`): magic, version,
/// lib version, [version needed], method, [level], flags, [filter], mode,
/// mtime, name, header checksum, then blocks of
/// `[u32 BE dst_len][u32 BE src_len][checksums][data]` ending with
/// dst_len 0. Stored blocks (src_len == dst_len) are copied.
fn lzop(payload: &[u8], dst: &mut [u8]) -> Result<usize, KernelError> {
    const WHAT: &str = "LZO stream";
    let trunc =
        |at: usize, what: &str| KernelError::corrupt(WHAT, at as u64, format!("LZO1x: Incomplete header ({what})"));
    if payload.len() < 16 || payload[..9] != LZOP_MAGIC {
        return Err(KernelError::corrupt(WHAT, 0, "LZO1x: Unrecognized magic"));
    }
    let version = be16(payload, 9).ok_or_else(|| trunc(9, "version"))?;
    let mut p = 13usize; // magic(9) + version(2) + lib_version(2)
    if version >= 0x0940 {
        p += 2; // version needed to extract
    }
    let method = *payload.get(p).ok_or_else(|| trunc(p, "method"))?;
    if !(1..=3).contains(&method) {
        return Err(KernelError::unsupported(WHAT, p as u64, format!("LZO1x: unknown method {method}")));
    }
    p += 1;
    if version >= 0x0940 {
        p += 1; // level
    }
    let flags = be32(payload, p).ok_or_else(|| trunc(p, "flags"))?;
    p += 4;
    if flags & LZOP_HEADER_HAS_FILTER != 0 {
        p += 4;
    }
    p += 4 + 4; // mode, mtime_low
    if version >= 0x0940 {
        p += 4; // mtime_high
    }
    let name_len = *payload.get(p).ok_or_else(|| trunc(p, "file name length"))? as usize;
    p += 1 + name_len + 4; // name, header checksum
    if p > payload.len() {
        return Err(trunc(payload.len(), "header checksum"));
    }
    let d_sums = usize::from(flags & LZOP_F_ADLER32_D != 0) + usize::from(flags & LZOP_F_CRC32_D != 0);
    let c_sums = usize::from(flags & LZOP_F_ADLER32_C != 0) + usize::from(flags & LZOP_F_CRC32_C != 0);
    let mut out = 0usize;
    // Every block consumes at least 8 bytes of input: bounded by the length.
    loop {
        let Some(dst_len) = be32(payload, p) else {
            return Err(KernelError::corrupt(WHAT, p as u64, "LZO1x decompression error: Short input"));
        };
        if dst_len == 0 {
            return Ok(out);
        }
        if dst_len > LZOP_MAX_BLOCK {
            return Err(KernelError::corrupt(
                WHAT,
                p as u64,
                format!("LZO1x decompression error: Block size too large ({dst_len:#x})"),
            ));
        }
        let Some(src_len) = be32(payload, p + 4) else {
            return Err(KernelError::corrupt(WHAT, p as u64, "LZO1x decompression error: Short input"));
        };
        let (dst_len, src_len) = (dst_len as usize, src_len as usize);
        let sums = 4 * (d_sums + if src_len < dst_len { c_sums } else { 0 });
        let data = p + 8 + sums;
        let Some(data_end) = data.checked_add(src_len).filter(|&e| e <= payload.len()) else {
            return Err(KernelError::corrupt(
                WHAT,
                p as u64,
                format!(
                    "LZO1x decompression error: Bad source length ({src_len:#x} bytes at {data:#x} run past the payload)"
                ),
            ));
        };
        if src_len == 0 || src_len > dst_len {
            return Err(KernelError::corrupt(
                WHAT,
                p as u64,
                format!("LZO1x decompression error: Bad source length ({src_len:#x} for a {dst_len:#x}-byte block)"),
            ));
        }
        if dst_len > dst.len() - out {
            return Err(KernelError::corrupt(
                WHAT,
                p as u64,
                format!(
                    "LZO1x decompression error: Output buffer overflow (block of {dst_len:#x} bytes after {out:#x}; declared size {:#x}: decompression bomb or wrong size trailer)",
                    dst.len()
                ),
            ));
        }
        let target = &mut dst[out..out + dst_len];
        if src_len == dst_len {
            target.copy_from_slice(&payload[data..data_end]);
        } else {
            let n = lzokay::decompress::decompress(&payload[data..data_end], target)
                .map_err(|e| KernelError::corrupt(WHAT, data as u64, format!("LZO1x decompression error: {e:?}")))?;
            if n != dst_len {
                return Err(KernelError::corrupt(
                    WHAT,
                    data as u64,
                    format!("LZO1x decompression error: Input underrun ({n:#x} of {dst_len:#x} bytes)"),
                ));
            }
        }
        out += dst_len;
        p = data_end;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_every_magic() {
        assert_eq!(Codec::detect(&[0x1f, 0x8b, 8]), Some(Codec::Gzip));
        assert_eq!(Codec::detect(b"BZh9"), Some(Codec::Bzip2));
        assert_eq!(Codec::detect(b"\xfd7zXZ\x00\x00"), Some(Codec::Xz));
        assert_eq!(Codec::detect(&[0x28, 0xb5, 0x2f, 0xfd]), Some(Codec::Zstd));
        assert_eq!(Codec::detect(&[0x5d, 0, 0, 0x80]), Some(Codec::Lzma));
        assert_eq!(Codec::detect(b"\x89LZO\x00"), Some(Codec::Lzo));
        assert_eq!(Codec::detect(&[0x02, 0x21, 0x4c, 0x18]), Some(Codec::Lz4));
        assert_eq!(Codec::detect(b"\x7fELF"), None);
        assert_eq!(Codec::detect(&[]), None);
    }

    #[test]
    fn lz4_legacy_roundtrip_and_bomb() {
        let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let block = lz4_flex::block::compress(&data);
        let mut p = LZ4_LEGACY_MAGIC.to_le_bytes().to_vec();
        p.extend_from_slice(&(block.len() as u32).to_le_bytes());
        p.extend_from_slice(&block);
        p.extend_from_slice(&(data.len() as u32).to_le_bytes());
        let mut out = Vec::new();
        assert_eq!(decompress_to_vec(Codec::Lz4, &p, &mut out, MAX_DECOMPRESSED).unwrap(), data.len());
        assert_eq!(out, data);
        // A trailer that lies low: the output does not fit.
        let n = p.len();
        p[n - 4..].copy_from_slice(&1000u32.to_le_bytes());
        let e = decompress_to_vec(Codec::Lz4, &p, &mut out, MAX_DECOMPRESSED).unwrap_err();
        assert!(e.to_string().contains("declared size"), "{e}");
        assert_eq!(e.offset(), 8);
        // A trailer that lies high: fewer bytes than declared.
        p[n - 4..].copy_from_slice(&200_000u32.to_le_bytes());
        let e = decompress_to_vec(Codec::Lz4, &p, &mut out, MAX_DECOMPRESSED).unwrap_err();
        assert!(e.to_string().contains("instead of 0x30d40"), "{e}");
        // Over the cap: refused before allocating.
        let e = decompress_to_vec(Codec::Lz4, &p, &mut out, 1000).unwrap_err();
        assert!(e.to_string().contains("exceeds the limit"), "{e}");
    }
}
