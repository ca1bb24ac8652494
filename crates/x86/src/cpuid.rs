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

    /// The x86_64 CPU an HVM guest on EC2's Ivy Bridge hosts sees (family 6
    /// model 58, as [`CpuidConfig::plain`]), with the feature bits a 64-bit
    /// Linux kernel requires before it starts: arch/x86/boot/cpucheck.c
    /// `check_cpu` compares leaf 1 EDX and leaf 0x80000001 EDX with
    /// `req_flags` (arch/x86/include/asm/required-features.h for
    /// CONFIG_X86_64: FPU, PSE, MSR, PAE, CX8, PGE, CMOV, FXSR, SSE, SSE2
    /// and LM) and refuses with "This kernel requires an x86-64 CPU".
    /// These bits describe the virtual CPU; the interpreter itself stops
    /// with a clear error at paging, long mode or an SSE instruction, which
    /// boot code before the kernel's entry does not use.
    pub fn x86_64() -> CpuidConfig {
        let mut c = CpuidConfig::plain();
        c.leaves.insert((0, 0), {
            let v = vendor(b"GenuineIntel");
            [0xD, v[0], v[1], v[2]]
        });
        // EDX: FPU 0, VME 1, DE 2, PSE 3, TSC 4, MSR 5, PAE 6, MCE 7, CX8 8,
        // APIC 9, SEP 11, MTRR 12, PGE 13, MCA 14, CMOV 15, PAT 16, PSE36 17,
        // CLFSH 19, MMX 23, FXSR 24, SSE 25, SSE2 26.
        let edx = 0b0000_0111_1000_1011_1111_1011_1111_1111;
        // ECX: SSE3 0, PCLMULQDQ 1, SSSE3 9, CX16 13, SSE4.1 19, SSE4.2 20,
        // POPCNT 23.
        let ecx = 1 | 1 << 1 | 1 << 9 | 1 << 13 | 1 << 19 | 1 << 20 | 1 << 23;
        c.leaves.insert((1, 0), [0x0003_06A9, 0x0000_0800, ecx, edx]);
        c.leaves.insert((0x8000_0000, 0), [0x8000_0008, 0, 0, 0]);
        // EDX: SYSCALL 11, NX 20, LM 29; ECX: LAHF/SAHF 0.
        c.leaves.insert((0x8000_0001, 0), [0, 0, 1, 1 << 11 | 1 << 20 | 1 << 29]);
        // Physical/virtual address bits (46/48 on Ivy Bridge servers).
        c.leaves.insert((0x8000_0008, 0), [0x0000_302E, 0, 0, 0]);
        c.ignore_subleaf.push(0x8000_0008);
        c
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
    fn x86_64_has_what_linux_requires() {
        let c = CpuidConfig::x86_64();
        // required-features.h, CONFIG_X86_64: REQUIRED_MASK0 and MASK1.
        let need0 = 1 | 1 << 3 | 1 << 5 | 1 << 6 | 1 << 8 | 1 << 13 | 1 << 15 | 1 << 24 | 1 << 25 | 1 << 26;
        assert_eq!(c.query(1, 0)[3] & need0, need0);
        assert_ne!(c.query(0x8000_0001, 0)[3] & (1 << 29), 0);
        assert!(c.query(0x8000_0000, 0)[0] >= 0x8000_0001);
    }

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
