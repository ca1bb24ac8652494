//! Units that must not be mixed across the machine: guest-physical and
//! guest-virtual addresses, page frame numbers (pseudo-physical `Pfn` as
//! the guest sees them, machine `Mfn` as Xen does), simulated time.

use serde::Serialize;

/// x86 page size; Xen's grant and p2m granularity (`XEN_PAGE_SIZE`).
pub const PAGE_SIZE: u64 = 4096;
pub const PAGE_SHIFT: u32 = 12;

macro_rules! newtype {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
        #[serde(transparent)]
        pub struct $name(pub u64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "{:#x}", self.0)
            }
        }
    };
}

newtype!(
    /// A guest-physical (pseudo-physical for PV) byte address.
    GuestPhysAddr
);
newtype!(
    /// A guest-virtual byte address (the kernel's mapping, e.g. 0xffffffff80000000 + …).
    GuestVirtAddr
);
newtype!(
    /// A pseudo-physical page frame number: what a PV guest calls a pfn.
    Pfn
);
newtype!(
    /// A machine frame number: what Xen and the p2m map pfns to.
    Mfn
);

impl GuestPhysAddr {
    pub fn pfn(self) -> Pfn {
        Pfn(self.0 >> PAGE_SHIFT)
    }

    pub fn checked_add(self, n: u64) -> Option<GuestPhysAddr> {
        self.0.checked_add(n).map(GuestPhysAddr)
    }

    /// Rounded up to the next page boundary.
    pub fn page_align_up(self) -> Option<GuestPhysAddr> {
        self.0.checked_add(PAGE_SIZE - 1).map(|v| GuestPhysAddr(v & !(PAGE_SIZE - 1)))
    }
}

impl Pfn {
    pub fn addr(self) -> GuestPhysAddr {
        GuestPhysAddr(self.0 << PAGE_SHIFT)
    }
}

/// Simulated time in nanoseconds since the start of the simulated boot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize)]
#[serde(transparent)]
pub struct SimTime(pub u64);

impl SimTime {
    pub const ZERO: SimTime = SimTime(0);

    pub fn saturating_add(self, ns: u64) -> SimTime {
        SimTime(self.0.saturating_add(ns))
    }

    pub fn as_micros_f64(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

impl std::fmt::Display for SimTime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ns = self.0;
        if ns >= 1_000_000_000 {
            write!(f, "{:.3} s", ns as f64 / 1e9)
        } else if ns >= 1_000_000 {
            write!(f, "{:.3} ms", ns as f64 / 1e6)
        } else if ns >= 1_000 {
            write!(f, "{:.3} µs", ns as f64 / 1e3)
        } else {
            write!(f, "{ns} ns")
        }
    }
}
