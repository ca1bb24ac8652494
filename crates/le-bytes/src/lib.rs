//! Little-endian fields and C strings in bytes read from an image, a boot
//! loader or a kernel: the one helper set the parsers share (issue #20
//! found `le16`/`le32`/`cstr` copied in four files).
//!
//! [`Le16`]/[`Le32`]/[`Le64`] are integer wrappers for on-disk structs:
//! alignment 1, `Pod`, so a `#[repr(C)]` struct made of them has exactly
//! its on-disk layout. [`u16_at`]/[`u32_at`]/[`u64_at`] read one field at
//! an offset of a byte slice, `None` past the end (offsets come from the
//! image: checked, never a panic). [`cstr`] is a NUL-terminated string
//! field. It knows no format: the parsers above it say what the bytes mean.
#![forbid(unsafe_code)]

use bytemuck::{Pod, Zeroable};

macro_rules! le_int {
    ($name:ident, $ty:ty, $n:literal) => {
        #[doc = concat!("A little-endian `", stringify!($ty), "` as stored on disk.")]
        #[repr(transparent)]
        #[derive(Clone, Copy, Default, PartialEq, Eq, Pod, Zeroable)]
        pub struct $name([u8; $n]);

        impl $name {
            pub fn get(self) -> $ty {
                <$ty>::from_le_bytes(self.0)
            }
            pub fn new(v: $ty) -> Self {
                Self(v.to_le_bytes())
            }
        }

        impl std::fmt::Debug for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{:#x}", self.get())
            }
        }
    };
}

le_int!(Le16, u16, 2);
le_int!(Le32, u32, 4);
le_int!(Le64, u64, 8);

/// The little-endian `u16` at `at`, or `None` when `b` ends first.
pub fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at.checked_add(2)?)?.try_into().ok()?))
}

/// The little-endian `u32` at `at`, or `None` when `b` ends first.
pub fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

/// The little-endian `u64` at `at`, or `None` when `b` ends first.
pub fn u64_at(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at.checked_add(8)?)?.try_into().ok()?))
}

/// A C string field: the bytes before the first NUL (all of `b` without one).
pub fn cstr(b: &[u8]) -> &[u8] {
    &b[..b.iter().position(|&c| c == 0).unwrap_or(b.len())]
}

/// [`cstr`] as text, invalid UTF-8 replaced (names for reports).
pub fn cstr_lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(cstr(b)).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_read_little_endian_and_stop_at_the_end() {
        let b = [0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08];
        assert_eq!(u16_at(&b, 1), Some(0x0302));
        assert_eq!(u32_at(&b, 4), Some(0x0807_0605));
        assert_eq!(u64_at(&b, 0), Some(0x0807_0605_0403_0201));
        assert_eq!(u32_at(&b, 5), None);
        assert_eq!(u16_at(&b, usize::MAX), None);
        assert_eq!(Le32::new(0x0403_0201), bytemuck::pod_read_unaligned(&b[..4]));
    }

    #[test]
    fn c_strings_end_at_the_first_nul() {
        assert_eq!(cstr(b"abc\0def"), b"abc");
        assert_eq!(cstr(b"abc"), b"abc");
        assert_eq!(cstr_lossy(b"a\xffb\0"), "a\u{fffd}b");
    }
}
