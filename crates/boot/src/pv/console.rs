//! What PV-GRUB prints on the Xen console while it runs, rebuilt from
//! what the simulated PV-GRUB did: the menu it found, the entries it
//! tried (with the error each failed with) and the one it booted.
//!
//! PV-GRUB is GRUB 0.97 built against Mini-OS (`xen/stubdom/grub/`,
//! `stubdom/grub.patches/99minios`): Mini-OS's `init_disk`
//! (`stubdom/grub/mini-os.c`) prints "vbd %s is hd%d" for each disk, then
//! GRUB's `cmain` (`stage2/stage2.c`) shows the menu — `hiddenmenu` only
//! counts down — and boots the entry: "  Booting '%s'", each command
//! echoed by `run_script` (`stage2/cmdline.c`), `root` printing the
//! filesystem line (`stage2/disk_io.c` print_fsys_type), errors as
//! "Error %u: %s" and the `fallback` list. PV-GRUB's `load_image` and
//! `load_initrd` (mini-os.c) only read the files into memory, so unlike
//! GRUB on a BIOS, `kernel` and `initrd` print no "[Linux-bzImage, …]"
//! line; `boot` calls `pv_boot` → `kexec` (`stubdom/grub/kexec.c`), whose
//! messages are `DEBUG` only. Failures inside kexec (the domain builder's)
//! are not console text here: they are in the report's messages.
//!
//! The commands are echoed as the menu file has them (the bytes PV-GRUB
//! read through the ring during discovery); root devices and files are
//! looked up outside the simulation (no ring I/O, no simulated time) with
//! the same functions the simulated PV-GRUB used, so the errors are the
//! ones it got.

use boot_config::discover::{self, Discovery, GRUB_LEGACY_MAX_HOPS, LoadedConfig};
use boot_config::grub_error::GrubError;
use boot_config::select::{Attempt, BootChoice, SelectError};
use boot_config::{BootPath, grub_legacy};
use disk_image::Disk;
use disk_image::disk::Volume;
use disk_image::partition::PartitionType;

use crate::grub_text as text;

/// The version PV-GRUB reports (`stubdom/grub` builds GRUB 0.97).
const VERSION: &str = "0.97";

/// What PV-GRUB tried: the entries that failed, then the one it booted
/// (if any).
pub(crate) struct Tried<'a> {
    pub attempts: &'a [Attempt],
    pub booted: Option<usize>,
}

impl<'a> Tried<'a> {
    pub(crate) fn from_choice(choice: Result<&'a BootChoice, &'a SelectError>) -> Tried<'a> {
        match choice {
            Ok(c) => Tried { attempts: &c.attempts, booted: Some(c.entry.index) },
            Err(SelectError::AllFailed { attempts, .. }) => Tried { attempts, booted: None },
            Err(_) => Tried { attempts: &[], booted: None },
        }
    }
}

/// The console text of a PV-GRUB run on `raw` (the image, read outside
/// the simulation), with the vbd's `devid` and the domain's memory.
pub(crate) fn pvgrub(raw: &Disk, devid: u32, memory: u64, discovery: &Discovery, tried: &Tried<'_>) -> String {
    let mut out = format!("vbd {devid} is hd0\n");
    let Some(cfg) = &discovery.config else {
        // cmain: no config file → the command line.
        out.push_str(&text::banner(VERSION, memory / 1024, 0));
        out.push_str(text::PROMPT);
        return out;
    };
    let menu = &cfg.menu;
    let lines = config_lines(cfg);
    let titles: Vec<String> = menu.entries.iter().map(|e| e.title.clone()).collect();
    let first = tried.attempts.first().map(|a| a.index).or(tried.booted);
    match (menu.hidden_menu, menu.timeout) {
        (true, Some(t)) => out.push_str(&text::hidden_countdown(t)),
        _ => {
            out.push_str(&text::banner(VERSION, memory / 1024, 0));
            out.push_str(&text::menu_entries(&titles, first.unwrap_or(0)));
            out.push_str(text::MENU_HELP);
            if let Some(t) = menu.timeout {
                out.push_str(&text::menu_countdown(t));
            }
        }
    }
    // boot_entry: cls() before the first "Booting", a newline on a
    // terminal that cannot clear (`stage2/serial.c` serial_cls, dumb).
    out.push_str(text::CLS_DUMB);
    let order: Vec<(usize, Option<GrubError>)> = tried
        .attempts
        .iter()
        .map(|a| (a.index, Some(a.failure.error.unwrap_or(GrubError::BootFailure))))
        .chain(tried.booted.map(|i| (i, None)))
        .collect();
    for (k, &(index, failed)) in order.iter().enumerate() {
        let Some(entry) = menu.entries.get(index) else { continue };
        out.push_str(&text::booting(&entry.title));
        let script = entry_script(&lines, entry);
        let walked = run_script(raw, cfg, &script, &mut out);
        match (walked, failed) {
            (Ok(()), None) => out.push_str(&text::echo("")),
            (Err(e), _) => out.push_str(&text::error(e)),
            // The simulated PV-GRUB failed where the script walk did not
            // (e.g. an entry without `kernel`): its error, after the echo.
            (Ok(()), Some(e)) => out.push_str(&text::error(e)),
        }
        let last = k + 1 == order.len();
        if last && (failed.is_some() || tried.booted.is_none()) {
            out.push_str(text::PRESS_ANY_KEY);
        }
    }
    out
}

/// The menu's logical lines as GRUB reads them, from the bytes PV-GRUB
/// read through the ring during discovery.
fn config_lines(cfg: &LoadedConfig) -> Vec<grub_legacy::ConfigLine> {
    grub_legacy::logical_lines(&cfg.data)
}

/// An entry's commands: the lines after its `title` up to the next one;
/// rebuilt from the parsed entry when its `title` line is not among them.
fn entry_script(lines: &[grub_legacy::ConfigLine], entry: &boot_config::MenuEntry) -> Vec<String> {
    let script: Vec<String> = lines
        .iter()
        .skip_while(|l| l.line < entry.line)
        .skip(1)
        .take_while(|l| grub_legacy::split_command(&l.text).0 != "title")
        .map(|l| l.text.clone())
        .collect();
    if !script.is_empty() || lines.iter().any(|l| l.line == entry.line) {
        return script;
    }
    let path = |p: &BootPath| format!("{}{}", p.device.as_deref().unwrap_or(""), p.path);
    let mut s = Vec::new();
    if let Some(r) = &entry.root {
        s.push(format!("root {r}"));
    }
    if let Some(k) = &entry.kernel {
        s.push(format!("kernel {} {}", path(k), entry.args).trim_end().to_string());
    }
    s.extend(entry.initrd.iter().map(|i| format!("initrd {}", path(i))));
    s
}

/// `run_script` over one entry: echo each command, print what `root`
/// prints, and stop at the first command that fails, with its error.
fn run_script(raw: &Disk, cfg: &LoadedConfig, script: &[String], out: &mut String) -> Result<(), GrubError> {
    let mut root: Option<String> = None;
    let default_root = cfg.volume.names.grub.clone();
    for line in script {
        out.push_str(&text::echo(line));
        let (cmd, arg) = grub_legacy::split_command(line);
        match cmd {
            "root" | "rootnoverify" => {
                let dev = arg.split(' ').next().unwrap_or("");
                let dev = &dev[..dev.find(')').map_or(dev.len(), |i| i + 1)];
                let ov = discover::open_grub_device(raw, dev).map_err(|f| f.error.unwrap_or(GrubError::NoPart))?;
                if cmd == "root" {
                    out.push_str(&filesystem_line(raw, &ov.volume, dev));
                }
                root = Some(dev.to_string());
            }
            "kernel" | "initrd" => {
                let mut rest = arg;
                while let Some(opt) = rest.strip_prefix("--") {
                    rest = opt.split_once(' ').map_or("", |(_, r)| r.trim_start_matches(' '));
                }
                let file = BootPath::parse(rest.split(' ').next().unwrap_or(""));
                discover::find_grub_file(raw, &file, root.as_deref(), &default_root, GRUB_LEGACY_MAX_HOPS)
                    .map_err(|f| f.error.unwrap_or(GrubError::FileNotFound))?;
            }
            _ => {}
        }
    }
    Ok(())
}

fn filesystem_line(raw: &Disk, volume: &Volume, dev: &str) -> String {
    let fs = raw.probe(volume).ok().flatten().and_then(|p| text::fsys_name(p.kind));
    let partitioned = grub_legacy::parse_device(dev).is_some_and(|(_, part)| part.is_some());
    let ptype = volume.partition.as_ref().filter(|_| partitioned).map(|p| match p.ptype {
        PartitionType::Mbr(t) => t,
        PartitionType::Gpt(_) => 0xEE,
    });
    text::filesystem(fs, ptype)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::pv::{self, PvOptions};

    fn console(name: &str) -> String {
        let path = format!("{}/../../fixtures/images/{name}", env!("CARGO_MANIFEST_DIR"));
        let image = Arc::new(disk_image::RawImage::open(std::path::Path::new(&path)).unwrap());
        let (run, _) = pv::run(image, &PvOptions { memory: 256 << 20, ..PvOptions::default() }).unwrap();
        run.console.expect("PV-GRUB has a console")
    }

    #[test]
    fn fallback_image_prints_each_failed_entry_and_its_error() {
        let c = console("pv-fallback.img");
        assert!(c.starts_with("vbd 51712 is hd0\n"), "{c}");
        // Visible menu (no hiddenmenu): the banner with the domain's memory.
        assert!(c.contains("GNU GRUB  version 0.97  (262144K lower / 0K upper memory)"), "{c}");
        assert!(c.contains(" The highlighted entry will be booted automatically in 0 seconds."), "{c}");
        assert!(
            c.contains(
                "  Booting '0: kernel missing'\n\nroot (hd0)\n Filesystem type is ext2fs, using whole disk\n\
                 kernel /boot/vmlinuz-missing root=/dev/xvda ro\n\nError 15: File not found\n"
            ),
            "{c}"
        );
        assert!(c.contains("  Booting '2: partition missing'\n\nroot (hd0,3)\n\nError 22: No such partition\n"), "{c}");
        assert!(c.contains("  Booting '1: good'\n\nroot (hd0)\n"), "{c}");
    }

    #[test]
    fn whole_disk_and_kernel_images_echo_their_entries() {
        for name in ["pv-whole-disk.img", "pv-kernel.img"] {
            let c = console(name);
            assert!(c.contains("  Booting '"), "{name}: {c}");
            assert!(c.contains("\nkernel /"), "{name}: {c}");
            assert!(!c.contains("Error "), "{name}: {c}");
            assert!(c.ends_with("\n\n"), "{name}: the implicit boot echoes an empty line: {c:?}");
        }
        assert!(console("pv-whole-disk.img").contains(" Filesystem type is ext2fs, using whole disk\n"));
    }
}
