//! Which instance types can launch which AMIs.
//!
//! Sources:
//! - Virtualization: the EC2 user guide's "Linux AMI virtualization types"
//!   (as quoted in DESIGN.md, "AMI facts"): HVM AMIs are supported on all
//!   current-generation instance types and on the CC2, CR1, HI1 and HS1
//!   previous-generation types; PV AMIs on C3 and M3 and on the C1, HI1,
//!   HS1, M1, M2 and T1 previous-generation types. The same split is in
//!   "Compatibility for changing the instance type" ("If an instance was
//!   launched from a PV AMI, you can't change to an instance type that's
//!   HVM only"). That page was written when C3 and M3 were current: both
//!   take HVM and PV AMIs; C1, M1, M2 and T1 take PV only.
//! - Generation: the EC2 "Previous generation instances" page and the
//!   launch history (m1.small 2006 … m4 2015).
//! - Instance-store root volumes: the EC2 user guide's "Root volumes":
//!   "The following previous generation instance types are the only
//!   instance types that support instance store root volumes: C1, C3, D2,
//!   I2, M1, M2, M3, R3, and X1." (Nitro types take EBS roots only.)
//! - Enhanced networking and GPUs need HVM: DESIGN.md "AMI facts"; the EC2
//!   enhanced-networking pages (Intel 82599 VF on C3, C4, D2, I2, M4, R3;
//!   ENA on current types) require an HVM AMI.
//!
//! The table is a subset: the families above plus common current-generation
//! x86 families. An unknown family is an error that lists the known ones.

use serde::Serialize;

use crate::model::{RootDeviceType, VirtualizationType};
use crate::{AmiError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Generation {
    Current,
    Previous,
}

/// Enhanced networking a family offers (both kinds need an HVM AMI).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnhancedNetworking {
    None,
    /// SR-IOV with the Intel 82599 Virtual Function (ixgbevf).
    Intel82599Vf,
    /// Elastic Network Adapter.
    Ena,
}

/// One instance family (`m1`, `t2`, …) and what it supports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct InstanceFamily {
    pub name: &'static str,
    pub generation: Generation,
    pub hvm: bool,
    pub paravirtual: bool,
    pub instance_store_root: bool,
    pub enhanced_networking: EnhancedNetworking,
    /// GPU family: the GPU driver needs an HVM AMI.
    pub gpu: bool,
    /// arm64 (Graviton): boot-sim simulates x86 boots only.
    pub arm64: bool,
    pub sizes: &'static [&'static str],
}

const fn fam(
    name: &'static str,
    generation: Generation,
    (hvm, paravirtual, instance_store_root): (bool, bool, bool),
    enhanced_networking: EnhancedNetworking,
    gpu: bool,
    sizes: &'static [&'static str],
) -> InstanceFamily {
    InstanceFamily {
        name,
        generation,
        hvm,
        paravirtual,
        instance_store_root,
        enhanced_networking,
        gpu,
        arm64: false,
        sizes,
    }
}

use EnhancedNetworking::{Ena, Intel82599Vf, None as NoEn};
use Generation::{Current, Previous};

const HVM: (bool, bool, bool) = (true, false, false);
const HVM_IS: (bool, bool, bool) = (true, false, true);
const PV_ONLY_IS: (bool, bool, bool) = (false, true, true);
const BOTH: (bool, bool, bool) = (true, true, false);
const BOTH_IS: (bool, bool, bool) = (true, true, true);

const T2: &[&str] = &["nano", "micro", "small", "medium", "large", "xlarge", "2xlarge"];
const M5: &[&str] = &["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "metal"];
const C5: &[&str] = &["large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "12xlarge", "18xlarge", "24xlarge", "metal"];
const M6I: &[&str] =
    &["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "32xlarge", "metal"];

/// The table (see the module docs for the sources).
pub const FAMILIES: &[InstanceFamily] = &[
    // Previous generation, PV only.
    fam("t1", Previous, (false, true, false), NoEn, false, &["micro"]),
    fam("m1", Previous, PV_ONLY_IS, NoEn, false, &["small", "medium", "large", "xlarge"]),
    fam("m2", Previous, PV_ONLY_IS, NoEn, false, &["xlarge", "2xlarge", "4xlarge"]),
    fam("c1", Previous, PV_ONLY_IS, NoEn, false, &["medium", "xlarge"]),
    // Both.
    fam("m3", Previous, BOTH_IS, NoEn, false, &["medium", "large", "xlarge", "2xlarge"]),
    fam("c3", Previous, BOTH_IS, Intel82599Vf, false, &["large", "xlarge", "2xlarge", "4xlarge", "8xlarge"]),
    fam("hi1", Previous, BOTH, NoEn, false, &["4xlarge"]),
    fam("hs1", Previous, BOTH, NoEn, false, &["8xlarge"]),
    // Previous generation, HVM only.
    fam("cc2", Previous, HVM, NoEn, false, &["8xlarge"]),
    fam("cr1", Previous, HVM, NoEn, false, &["8xlarge"]),
    fam("cg1", Previous, HVM, NoEn, true, &["4xlarge"]),
    fam("g2", Previous, HVM, NoEn, true, &["2xlarge", "8xlarge"]),
    fam("i2", Previous, HVM_IS, Intel82599Vf, false, &["xlarge", "2xlarge", "4xlarge", "8xlarge"]),
    fam("r3", Previous, HVM_IS, Intel82599Vf, false, &["large", "xlarge", "2xlarge", "4xlarge", "8xlarge"]),
    fam("d2", Previous, HVM_IS, Intel82599Vf, false, &["xlarge", "2xlarge", "4xlarge", "8xlarge"]),
    fam("x1", Previous, HVM_IS, Ena, false, &["16xlarge", "32xlarge"]),
    fam("c4", Previous, HVM, Intel82599Vf, false, &["large", "xlarge", "2xlarge", "4xlarge", "8xlarge"]),
    fam("m4", Previous, HVM, Intel82599Vf, false, &["large", "xlarge", "2xlarge", "4xlarge", "10xlarge", "16xlarge"]),
    fam("r4", Previous, HVM, Ena, false, &["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge"]),
    // Current generation (HVM only), x86.
    fam("t2", Current, HVM, NoEn, false, T2),
    fam("t3", Current, HVM, Ena, false, T2),
    fam("t3a", Current, HVM, Ena, false, T2),
    fam("m5", Current, HVM, Ena, false, M5),
    fam("c5", Current, HVM, Ena, false, C5),
    fam("r5", Current, HVM, Ena, false, M5),
    fam("m6i", Current, HVM, Ena, false, M6I),
    fam("c6i", Current, HVM, Ena, false, M6I),
    fam("r6i", Current, HVM, Ena, false, M6I),
    fam("i3", Current, HVM, Ena, false, &["large", "xlarge", "2xlarge", "4xlarge", "8xlarge", "16xlarge", "metal"]),
    fam("p3", Current, HVM, Ena, true, &["2xlarge", "8xlarge", "16xlarge"]),
    fam("g4dn", Current, HVM, Ena, true, &["xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "metal"]),
    fam(
        "g5",
        Current,
        HVM,
        Ena,
        true,
        &["xlarge", "2xlarge", "4xlarge", "8xlarge", "12xlarge", "16xlarge", "24xlarge", "48xlarge"],
    ),
    // Current generation, arm64 (Graviton).
    InstanceFamily { arm64: true, ..fam("t4g", Current, HVM, Ena, false, T2) },
    InstanceFamily { arm64: true, ..fam("m6g", Current, HVM, Ena, false, M5) },
    InstanceFamily { arm64: true, ..fam("c6g", Current, HVM, Ena, false, M5) },
];

/// A validated instance type: a family from [`FAMILIES`] and one of its sizes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct InstanceType {
    pub family: &'static InstanceFamily,
    pub size: &'static str,
}

impl std::fmt::Display for InstanceType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.family.name, self.size)
    }
}

impl InstanceType {
    pub fn parse(name: &str) -> Result<InstanceType> {
        let unknown = |why: String| AmiError::UnknownInstanceType { name: name.to_string(), why };
        let (fam_name, size) =
            name.split_once('.').ok_or_else(|| unknown("expected FAMILY.SIZE, e.g. t2.micro or m1.small".into()))?;
        let family = FAMILIES.iter().find(|f| f.name == fam_name).ok_or_else(|| {
            let known: Vec<&str> = FAMILIES.iter().map(|f| f.name).collect();
            unknown(format!("no family {fam_name:?} in boot-sim's table (known: {})", known.join(", ")))
        })?;
        let size = family
            .sizes
            .iter()
            .find(|s| **s == size)
            .ok_or_else(|| unknown(format!("{fam_name} comes in {}", family.sizes.join(", "))))?;
        Ok(InstanceType { family, size })
    }

    pub fn supports(&self, v: VirtualizationType) -> bool {
        match v {
            VirtualizationType::Hvm => self.family.hvm,
            VirtualizationType::Paravirtual => self.family.paravirtual,
        }
    }

    /// Whether this type can launch an AMI with these settings, with the
    /// refusal in words ("t2.micro does not support paravirtual AMIs").
    pub fn check(&self, v: VirtualizationType, root: RootDeviceType) -> Result<()> {
        if self.family.arm64 {
            return Err(AmiError::Incompatible(format!(
                "{self} is an arm64 (Graviton) instance type; boot-sim's images and boot paths are x86"
            )));
        }
        if !self.supports(v) {
            let other = if self.family.hvm { "hvm" } else { "paravirtual" };
            let why = match v {
                VirtualizationType::Paravirtual if self.family.generation == Generation::Current => {
                    "current-generation instance types support HVM AMIs only"
                }
                VirtualizationType::Paravirtual => "this previous-generation family is HVM only",
                VirtualizationType::Hvm => "this previous-generation family runs paravirtual AMIs only",
            };
            return Err(AmiError::Incompatible(format!(
                "{self} does not support {} AMIs ({why}); choose an instance type that supports {}, or an AMI that is {other}",
                v.name(),
                v.name()
            )));
        }
        if root == RootDeviceType::InstanceStore && !self.family.instance_store_root {
            return Err(AmiError::Incompatible(format!(
                "{self} does not support instance-store root volumes (only C1, C3, D2, I2, M1, M2, M3, R3 and X1 do); use an EBS-backed AMI"
            )));
        }
        Ok(())
    }

    /// What this type offers that the AMI cannot use, or needs to know.
    pub fn notes(&self, v: VirtualizationType) -> Vec<String> {
        let mut notes = Vec::new();
        let en = match self.family.enhanced_networking {
            EnhancedNetworking::None => None,
            EnhancedNetworking::Intel82599Vf => Some("enhanced networking (Intel 82599 VF, SR-IOV)"),
            EnhancedNetworking::Ena => Some("enhanced networking (ENA)"),
        };
        if let Some(en) = en {
            notes.push(match v {
                VirtualizationType::Hvm => format!("{self} offers {en}; it needs the driver in the guest and an HVM AMI (this one is)"),
                VirtualizationType::Paravirtual => {
                    format!("{self} offers {en}, but enhanced networking needs an HVM AMI: this paravirtual AMI gets the PV network device only")
                }
            });
        }
        if self.family.gpu {
            notes.push(format!("{self} is a GPU instance type: its GPUs need an HVM AMI"));
        }
        if self.family.generation == Generation::Previous {
            notes.push(format!("{self} is a previous-generation instance type"));
        }
        notes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_names_are_unique() {
        for (i, f) in FAMILIES.iter().enumerate() {
            assert!(FAMILIES[i + 1..].iter().all(|g| g.name != f.name), "{}", f.name);
        }
    }
}
