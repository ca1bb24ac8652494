//! Little-endian integer wrappers for on-disk structs: alignment 1, `Pod`,
//! so a `#[repr(C)]` struct made of them has exactly its on-disk layout.

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
