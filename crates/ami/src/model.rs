//! The AMI descriptor and its validated field types.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, Ordering};

use boot_config::discover::Loader;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::image::DigestAlg;
use crate::{AmiError, Result};

/// The account that registers and launches when none is given: AWS's
/// documentation example account. boot-sim has no identities; an account is
/// a 12-digit label that launch permissions refer to.
pub const DEFAULT_ACCOUNT: &str = "123456789012";
pub const DEFAULT_REGION: &str = "us-east-1";

/// `ami-` and 17 lowercase hex digits, the form AWS uses.
///
/// boot-sim's ids are deterministic: the first 17 hex digits of
/// SHA-256("boot-sim ami\0" image-digest "\0" name "\0" region "\0" owner).
/// The same image registered under the same name, region and owner is the
/// same AMI (registering it twice is refused, as AWS refuses a name already
/// in use in a region); a copy to another region gets another id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct AmiId(String);

impl AmiId {
    pub fn parse(s: &str) -> Result<AmiId> {
        let hex = s.strip_prefix("ami-").filter(|h| {
            (8..=17).contains(&h.len()) && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        });
        match hex {
            Some(_) => Ok(AmiId(s.to_string())),
            None => Err(AmiError::Invalid {
                what: "AMI id",
                value: s.to_string(),
                why: "expected ami- and 8 to 17 lowercase hex digits, e.g. ami-0123456789abcdef0".into(),
            }),
        }
    }

    pub fn derive(image_digest: &str, name: &str, region: &str, owner: &Account) -> AmiId {
        let mut h = Sha256::new();
        for part in ["boot-sim ami", image_digest, name, region, owner.as_str()] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        let hex = hex(&h.finalize());
        AmiId(format!("ami-{}", &hex[..17]))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AmiId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A 12-digit AWS account id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct Account(String);

impl Account {
    pub fn parse(s: &str) -> Result<Account> {
        if s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit()) {
            Ok(Account(s.to_string()))
        } else {
            Err(AmiError::Invalid {
                what: "account",
                value: s.to_string(),
                why: "an AWS account id is 12 digits".into(),
            })
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Account {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// EC2 `VirtualizationType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum VirtualizationType {
    Hvm,
    Paravirtual,
}

impl VirtualizationType {
    pub fn name(self) -> &'static str {
        match self {
            VirtualizationType::Hvm => "hvm",
            VirtualizationType::Paravirtual => "paravirtual",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "hvm" => Some(VirtualizationType::Hvm),
            "paravirtual" => Some(VirtualizationType::Paravirtual),
            _ => None,
        }
    }
}

/// EC2 `RootDeviceType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RootDeviceType {
    Ebs,
    InstanceStore,
}

impl RootDeviceType {
    pub fn name(self) -> &'static str {
        match self {
            RootDeviceType::Ebs => "ebs",
            RootDeviceType::InstanceStore => "instance-store",
        }
    }

    pub fn from_name(s: &str) -> Option<Self> {
        match s {
            "ebs" => Some(RootDeviceType::Ebs),
            "instance-store" => Some(RootDeviceType::InstanceStore),
            _ => None,
        }
    }
}

/// Why an account may launch an AMI (EC2 launch permissions: the owner
/// always may; others only when listed or when the AMI is public).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LaunchGrant {
    Owner,
    Explicit,
    Public,
}

impl LaunchGrant {
    pub fn describe(self) -> &'static str {
        match self {
            LaunchGrant::Owner => "the owner",
            LaunchGrant::Explicit => "granted explicitly",
            LaunchGrant::Public => "the AMI is public",
        }
    }
}

/// One registered AMI.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ami {
    pub id: AmiId,
    pub name: String,
    /// Absolute path of the raw image, as registered.
    pub image: PathBuf,
    pub image_size: u64,
    /// Lowercase hex digest of the image at register time, defined by
    /// `image_digest_alg` (see [`crate::image`]).
    pub image_digest: String,
    pub image_digest_alg: DigestAlg,
    pub virtualization: VirtualizationType,
    pub root_device: RootDeviceType,
    /// The PV loader (`None` for HVM AMIs, which boot their own MBR).
    #[serde(serialize_with = "ser_loader")]
    pub loader: Option<Loader>,
    pub owner: Account,
    pub public: bool,
    /// Accounts granted launch permission explicitly (the owner is implicit).
    pub launch_permissions: Vec<Account>,
    pub region: String,
    pub tags: BTreeMap<String, String>,
    /// Seconds since the Unix epoch, from the registry's clock.
    pub created: i64,
    /// The AMI this one was copied from (`ami copy`).
    pub copied_from: Option<AmiId>,
}

fn ser_loader<S: serde::Serializer>(l: &Option<Loader>, s: S) -> std::result::Result<S::Ok, S::Error> {
    match l {
        Some(l) => s.serialize_some(l.name()),
        None => s.serialize_none(),
    }
}

impl Ami {
    /// EC2's launch-permission rule: owner, then an explicit grant, then
    /// public; otherwise refused, naming the account.
    pub fn check_launch_permission(&self, account: &Account) -> Result<LaunchGrant> {
        if *account == self.owner {
            Ok(LaunchGrant::Owner)
        } else if self.launch_permissions.contains(account) {
            Ok(LaunchGrant::Explicit)
        } else if self.public {
            Ok(LaunchGrant::Public)
        } else {
            Err(AmiError::PermissionDenied {
                ami: self.id.to_string(),
                account: account.to_string(),
                why: format!(
                    "it is private to its owner {}{}; the owner can grant it with `boot-sim ami permissions {} --add {account}`",
                    self.owner,
                    if self.launch_permissions.is_empty() {
                        String::new()
                    } else {
                        " and the accounts it lists".into()
                    },
                    self.id
                ),
            })
        }
    }
}

/// EC2's AMI name rule: 3–128 characters, letters, digits and
/// `( ) [ ] . / - ' @ _` and space.
pub fn validate_name(name: &str) -> Result<()> {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || "()[]./-'@_ ".contains(c);
    let why = if !(3..=128).contains(&name.chars().count()) {
        "an AMI name is 3 to 128 characters"
    } else if !name.chars().all(ok_char) {
        "an AMI name has only letters, digits, spaces and ( ) [ ] . / - ' @ _"
    } else {
        return Ok(());
    };
    Err(AmiError::Invalid { what: "AMI name", value: name.into(), why: why.into() })
}

/// Region names like `us-east-1`, `eu-central-2`, `us-gov-west-1`.
pub fn validate_region(region: &str) -> Result<()> {
    let parts: Vec<&str> = region.split('-').collect();
    let ok = parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty())
        && parts[..parts.len() - 1].iter().all(|p| p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(AmiError::Invalid {
            what: "region",
            value: region.into(),
            why: "expected a region name like us-east-1".into(),
        })
    }
}

/// EC2 tag rules: key 1–128 characters, value at most 256, keys starting
/// `aws:` are reserved.
pub fn validate_tag(key: &str, value: &str) -> Result<()> {
    let why = if key.is_empty() || key.chars().count() > 128 {
        "a tag key is 1 to 128 characters"
    } else if key.to_ascii_lowercase().starts_with("aws:") {
        "tag keys starting with aws: are reserved"
    } else if value.chars().count() > 256 {
        "a tag value is at most 256 characters"
    } else {
        return Ok(());
    };
    Err(AmiError::Invalid { what: "tag", value: format!("{key}={value}"), why: why.into() })
}

/// Where creation times come from; tests inject a [`StepClock`].
pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch.
    fn now_unix(&self) -> i64;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_unix(&self) -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
    }
}

/// A clock for tests: `start`, then `start + step`, `start + 2*step`, …
#[derive(Debug)]
pub struct StepClock {
    next: AtomicI64,
    step: i64,
}

impl StepClock {
    pub fn new(start: i64, step: i64) -> StepClock {
        StepClock { next: AtomicI64::new(start), step }
    }
}

impl Clock for StepClock {
    fn now_unix(&self) -> i64 {
        self.next.fetch_add(self.step, Ordering::SeqCst)
    }
}

/// RFC 3339 in UTC, e.g. `2024-05-01T12:00:00Z` (civil-from-days,
/// H. Hinnant, "chrono-Compatible Low-Level Date Algorithms").
pub fn format_unix_time(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", sod / 3600, sod % 3600 / 60, sod % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_formatting() {
        assert_eq!(format_unix_time(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_unix_time(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_unix_time(1_714_564_800), "2024-05-01T12:00:00Z");
    }

    #[test]
    fn ids_are_deterministic_and_aws_shaped() {
        let owner = Account::parse(DEFAULT_ACCOUNT).unwrap();
        let a = AmiId::derive("ab", "name", "us-east-1", &owner);
        assert_eq!(a, AmiId::derive("ab", "name", "us-east-1", &owner));
        assert_ne!(a, AmiId::derive("ab", "name", "eu-west-1", &owner));
        assert_eq!(a.as_str().len(), 4 + 17);
        AmiId::parse(a.as_str()).unwrap();
        assert!(AmiId::parse("ami-XYZ").is_err());
    }

    #[test]
    fn field_rules() {
        assert!(validate_name("my image (v1)").is_ok());
        assert!(validate_name("ab").is_err());
        assert!(validate_name("a*b").is_err());
        assert!(validate_region("us-gov-west-1").is_ok());
        assert!(validate_region("mars").is_err());
        assert!(validate_tag("aws:x", "y").is_err());
        assert!(Account::parse("12345").is_err());
    }
}
