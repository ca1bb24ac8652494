//! What `cpuid` returns (SDM Vol. 2A CPUID; Xen's hypervisor leaves from
//! xen/include/public/arch-x86/cpuid.h: leaf 0x40000000 returns the largest
//! hypervisor leaf in EAX and "XenVMMXenVMM" in EBX, ECX, EDX).

use std::collections::BTreeMap;

/// CPUID results by (leaf, subleaf). Leaves not in the table return zeros
/// (real CPUs return the highest basic leaf's data for out-of-range basic
/// leaves; boot code only asks for leaves the maximum-leaf values admit).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CpuidConfig {
    /// `(eax leaf, ecx subleaf)` → `[eax, ebx, ecx, edx]`. Use subleaf 0 for
    /// leaves that ignore ECX.
    pub leaves: BTreeMap<(u32, u32), [u32; 4]>,
    /// Leaves whose result does not depend on ECX (looked up with subleaf 0).
    pub ignore_subleaf: Vec<u32>,
}

/// Packs a 12-byte vendor string the way CPUID leaf 0 returns it in EBX,
/// EDX, ECX order; returned as `[ebx, ecx, edx]`.
fn vendor(s: &[u8; 12]) -> [u32; 3] {
    let w = |i: usize| u32::from_le_bytes([s[i], s[i + 1], s[i + 2], s[i + 3]]);
    [w(0), w(8), w(4)]
}

impl CpuidConfig {
    /// A plain Intel-like CPU: "GenuineIntel", family 6 model 58 stepping 9
    /// (Ivy Bridge, the generation of EC2's first HVM instance types), with
    /// the features this interpreter implements: FPU (only fninit/fnstsw/
    /// fnstcw/fldcw/fnclex are modelled, enough for Linux's `has_fpu()`
    /// probe), TSC, CX8, CMOV. No PAE/PSE/long mode, because paging is not
    /// modelled.
    pub fn plain() -> CpuidConfig {
        let mut leaves = BTreeMap::new();
        let v = vendor(b"GenuineIntel");
        leaves.insert((0, 0), [1, v[0], v[1], v[2]]);
        // EDX: FPU (0), TSC (4), CX8 (8), CMOV (15).
        leaves.insert((1, 0), [0x0003_06A9, 0x0000_0800, 0, 1 | 1 << 4 | 1 << 8 | 1 << 15]);
        leaves.insert((0x8000_0000, 0), [0x8000_0001, 0, 0, 0]);
        leaves.insert((0x8000_0001, 0), [0, 0, 0, 0]);
        CpuidConfig { leaves, ignore_subleaf: vec![0, 1, 0x8000_0000, 0x8000_0001, 0x4000_0000, 0x4000_0001] }
    }

    /// [`CpuidConfig::plain`] plus the Xen hypervisor leaves and the
    /// "hypervisor present" bit (leaf 1 ECX bit 31), as a Xen HVM guest sees.
    /// `version` is Xen's (major, minor), returned by leaf 0x40000001.
    pub fn xen_hvm(version: (u16, u16)) -> CpuidConfig {
        let mut c = CpuidConfig::plain();
        if let Some(l1) = c.leaves.get_mut(&(1, 0)) {
            l1[2] |= 1 << 31;
        }
        let x = b"XenVMMXenVMM";
        let w = |i: usize| u32::from_le_bytes([x[i], x[i + 1], x[i + 2], x[i + 3]]);
        c.leaves.insert((0x4000_0000, 0), [0x4000_0001, w(0), w(4), w(8)]);
        c.leaves.insert((0x4000_0001, 0), [u32::from(version.0) << 16 | u32::from(version.1), 0, 0, 0]);
        c
    }

    /// The result for `leaf`/`subleaf`.
    pub fn query(&self, leaf: u32, subleaf: u32) -> [u32; 4] {
        let sub = if self.ignore_subleaf.contains(&leaf) { 0 } else { subleaf };
        self.leaves.get(&(leaf, sub)).copied().unwrap_or([0; 4])
    }
}

impl Default for CpuidConfig {
    fn default() -> Self {
        CpuidConfig::plain()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_strings() {
        let c = CpuidConfig::xen_hvm((4, 2));
        let l0 = c.query(0, 0);
        let mut s = Vec::new();
        for r in [l0[1], l0[3], l0[2]] {
            s.extend_from_slice(&r.to_le_bytes());
        }
        assert_eq!(&s, b"GenuineIntel");
        let h = c.query(0x4000_0000, 7);
        let mut s = Vec::new();
        for r in [h[1], h[2], h[3]] {
            s.extend_from_slice(&r.to_le_bytes());
        }
        assert_eq!(&s, b"XenVMMXenVMM");
        assert_eq!(c.query(0x4000_0001, 0)[0], 0x0004_0002);
        assert_ne!(c.query(1, 0)[2] & (1 << 31), 0);
        assert_eq!(CpuidConfig::plain().query(1, 0)[2] & (1 << 31), 0);
    }
}
