//! GRUB legacy 0.97's console messages, as text, for every model that
//! shows what GRUB printed (PV-GRUB on the Xen console now; the BIOS
//! console model in `hvm::grub` formats the same lines and can adopt
//! these). Each function names the GRUB 0.97 source that prints it
//! (`crististm/grub-legacy` tag grub-0.97); "\n" is GRUB's newline
//! (`grub_putchar` turns it into "\r\n" on a BIOS console, the Xen console
//! gets "\n").

use boot_config::grub_error::GrubError;
use disk_image::fs::probe::FsKind;

/// `stage2/stage2.c` run_menu → `init_page`: the page header of the menu
/// and of the command line. PV-GRUB (`stubdom/grub/mini-os.c` main) sets
/// `mbi.mem_lower` to the domain's memory in KiB and `mem_upper` to 0.
pub fn banner(version: &str, lower_kib: u64, upper_kib: u64) -> String {
    format!("\n    GNU GRUB  version {version}  ({lower_kib}K lower / {upper_kib}K upper memory)\n\n")
}

/// `stage2/stage2.c` run_menu, hidden menu: after each second of
/// `timeout`, "\rPress `ESC' to enter the menu... %d   " with the seconds
/// left, so `timeout` 3 prints 2, 1 and 0; 0 prints nothing.
pub fn hidden_countdown(timeout: u64) -> String {
    (0..timeout).rev().map(|left| format!("\rPress `ESC' to enter the menu... {left}   ")).collect()
}

/// `stage2/stage2.c` run_menu, visible menu on a terminal without cursor
/// addressing: the countdown line reprinted each second from `timeout`
/// down to 0.
pub fn menu_countdown(timeout: u64) -> String {
    (0..=timeout)
        .rev()
        .map(|left| format!("\r The highlighted entry will be booted automatically in {left} seconds.   "))
        .collect()
}

/// `stage2/stage2.c` print_entries: one line per title (the box's
/// borders and the highlight are cursor motions and attributes, not text).
pub fn menu_entries(titles: &[String], highlighted: usize) -> String {
    titles.iter().enumerate().map(|(i, t)| format!("{} {t}\n", if i == highlighted { '>' } else { ' ' })).collect()
}

/// `stage2/stage2.c` run_menu: the help under the box (no password).
pub const MENU_HELP: &str = "\n    Use the ^ and v keys to select which entry is highlighted.\n    Press enter to boot the selected OS, 'e' to edit the\n    commands before booting, or 'c' for a command-line.\n";

/// `stage2/stage2.c` cmain, boot_entry: "  Booting '%s'\n\n".
pub fn booting(title: &str) -> String {
    format!("  Booting '{title}'\n\n")
}

/// `stage2/cmdline.c` run_script: every command echoed as written
/// ("%s\n"); the implicit `boot` at the end of an entry echoes the empty
/// line.
pub fn echo(line: &str) -> String {
    format!("{line}\n")
}

/// The name `stage2/disk_io.c` print_fsys_type gives a filesystem
/// (`fsys_table[fsys_type].name`), for the kinds GRUB 0.97 reads.
pub fn fsys_name(kind: FsKind) -> Option<&'static str> {
    match kind {
        FsKind::Ext2 | FsKind::Ext3 | FsKind::Ext4 => Some("ext2fs"),
        FsKind::Vfat => Some("fat"),
        FsKind::Xfs => Some("xfs"),
        FsKind::Iso9660 => Some("iso9660"),
        _ => None,
    }
}

/// `stage2/disk_io.c` print_fsys_type, printed by `root`: " Filesystem
/// type is ext2fs, partition type 0x83" for a partition, "using whole
/// disk" for `(hd0)`, "unknown" when no filesystem is recognised.
pub fn filesystem(fs: Option<&str>, partition_type: Option<u8>) -> String {
    let mut line = String::from(" Filesystem type ");
    match fs {
        Some(n) => line.push_str(&format!("is {n}, ")),
        None => line.push_str("unknown, "),
    }
    match partition_type {
        Some(t) => line.push_str(&format!("partition type {t:#x}\n")),
        None => line.push_str("using whole disk\n"),
    }
    line
}

/// `stage2/char_io.c` print_error: "\nError %u: %s\n".
pub fn error(e: GrubError) -> String {
    format!("\nError {}: {}\n", e.number(), e.text())
}

/// `stage2/stage2.c` cmain: an entry failed and no fallback is left.
pub const PRESS_ANY_KEY: &str = "\nPress any key to continue...";

/// `cls` on a terminal without cursor addressing (`stage2/serial.c`
/// serial_cls with TERM_DUMB): a newline.
pub const CLS_DUMB: &str = "\n";

/// `stage2/stage2.c` enter_cmdline: the prompt GRUB waits at when it has
/// no menu (the config file could not be opened).
pub const PROMPT: &str = "grub> ";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_as_grub_prints_them() {
        assert_eq!(booting("Debian"), "  Booting 'Debian'\n\n");
        assert_eq!(filesystem(Some("ext2fs"), None), " Filesystem type is ext2fs, using whole disk\n");
        assert_eq!(filesystem(Some("ext2fs"), Some(0x83)), " Filesystem type is ext2fs, partition type 0x83\n");
        assert_eq!(filesystem(None, Some(0x8e)), " Filesystem type unknown, partition type 0x8e\n");
        assert_eq!(error(GrubError::FileNotFound), "\nError 15: File not found\n");
        assert_eq!(
            hidden_countdown(3),
            "\rPress `ESC' to enter the menu... 2   \rPress `ESC' to enter the menu... 1   \
             \rPress `ESC' to enter the menu... 0   "
        );
        assert_eq!(hidden_countdown(0), "");
        assert_eq!(banner("0.97", 1048576, 0), "\n    GNU GRUB  version 0.97  (1048576K lower / 0K upper memory)\n\n");
        assert_eq!(menu_entries(&["a".into(), "b".into()], 1), "  a\n> b\n");
    }
}
