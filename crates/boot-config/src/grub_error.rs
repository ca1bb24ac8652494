//! GRUB legacy's error numbers and words (`stage2/shared.h` `grub_error_t`
//! and `stage2/common.c` `err_list`, GRUB 0.97). GRUB prints them as
//! `Error N: TEXT`; boot-sim keeps both so that a user can match them with
//! what a real console showed.

use serde::{Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GrubError {
    BadFilename,
    BadFiletype,
    BadGzipData,
    BadGzipHeader,
    BadPartTable,
    BadVersion,
    Below1Mb,
    BootCommand,
    BootFailure,
    BootFeatures,
    DevFormat,
    DevValues,
    ExecFormat,
    FileLength,
    FileNotFound,
    FsysCorrupt,
    FsysMount,
    Geom,
    NeedLxKernel,
    NeedMbKernel,
    NoDisk,
    NoPart,
    NumberParsing,
    OutsidePart,
    Read,
    SymlinkLoop,
    Unrecognized,
    WontFit,
    Write,
    BadArgument,
    Unaligned,
    Privileged,
    DevNeedInit,
    NoDiskSpace,
    NumberOverflow,
}

impl GrubError {
    /// The number GRUB prints (the enum position in `grub_error_t`).
    pub fn number(self) -> u32 {
        self as u32 + 1
    }

    pub fn text(self) -> &'static str {
        use GrubError::*;
        match self {
            BadFilename => "Filename must be either an absolute pathname or blocklist",
            BadFiletype => "Bad file or directory type",
            BadGzipData => "Bad or corrupt data while decompressing file",
            BadGzipHeader => "Bad or incompatible header in compressed file",
            BadPartTable => "Partition table invalid or corrupt",
            BadVersion => "Mismatched or corrupt version of stage1/stage2",
            Below1Mb => "Loading below 1MB is not supported",
            BootCommand => "Kernel must be loaded before booting",
            BootFailure => "Unknown boot failure",
            BootFeatures => "Unsupported Multiboot features requested",
            DevFormat => "Unrecognized device string",
            DevValues => "Invalid device requested",
            ExecFormat => "Invalid or unsupported executable format",
            FileLength => "Filesystem compatibility error, cannot read whole file",
            FileNotFound => "File not found",
            FsysCorrupt => "Inconsistent filesystem structure",
            FsysMount => "Cannot mount selected partition",
            Geom => "Selected cylinder exceeds maximum supported by BIOS",
            NeedLxKernel => "Linux kernel must be loaded before initrd",
            NeedMbKernel => "Multiboot kernel must be loaded before modules",
            NoDisk => "Selected disk does not exist",
            NoPart => "No such partition",
            NumberParsing => "Error while parsing number",
            OutsidePart => "Attempt to access block outside partition",
            Read => "Disk read error",
            SymlinkLoop => "Too many symbolic links",
            Unrecognized => "Unrecognized command",
            WontFit => "Selected item cannot fit into memory",
            Write => "Disk write error",
            BadArgument => "Invalid argument",
            Unaligned => "File is not sector aligned",
            Privileged => "Must be authenticated",
            DevNeedInit => "Device not initialized yet",
            NoDiskSpace => "No spare sectors on the disk",
            NumberOverflow => "Overflow while parsing number",
        }
    }
}

impl std::fmt::Display for GrubError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Error {}: {}", self.number(), self.text())
    }
}

impl Serialize for GrubError {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut st = s.serialize_struct("GrubError", 2)?;
        st.serialize_field("number", &self.number())?;
        st.serialize_field("text", self.text())?;
        st.end()
    }
}

#[cfg(test)]
mod tests {
    use super::GrubError;

    #[test]
    fn numbers_match_grub_0_97() {
        assert_eq!(
            GrubError::BadFilename.to_string(),
            "Error 1: Filename must be either an absolute pathname or blocklist"
        );
        assert_eq!(GrubError::ExecFormat.to_string(), "Error 13: Invalid or unsupported executable format");
        assert_eq!(GrubError::FileNotFound.to_string(), "Error 15: File not found");
        assert_eq!(GrubError::FsysMount.to_string(), "Error 17: Cannot mount selected partition");
        assert_eq!(GrubError::NoDisk.to_string(), "Error 21: Selected disk does not exist");
        assert_eq!(GrubError::NoPart.to_string(), "Error 22: No such partition");
        assert_eq!(GrubError::NumberParsing.number(), 23);
        assert_eq!(GrubError::SymlinkLoop.number(), 26);
        assert_eq!(GrubError::Unrecognized.number(), 27);
        assert_eq!(GrubError::NumberOverflow.number(), 35);
    }
}
