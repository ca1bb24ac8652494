//! `boot-sim kernel FILE` / `boot-sim kernel IMAGE [DEVICE]PATH`.

use std::io::Write;
use std::path::Path;

use disk_image::ReadAt;
use kernel_image as kernel;
use kernel_image::{InspectOptions, KernelReport, XenNoteValue};
use serde_json::{Value, json};

use crate::output::{Exit, Out, human_size};

/// Largest kernel file read (a bzImage is ~10 MiB; a vmlinux ~60 MiB).
const MAX_KERNEL_FILE: u64 = 512 << 20;

pub fn run(out: &mut Out, file: &Path, inner: Option<&str>, as_json: bool) -> Result<(), Exit> {
    let (name, bytes) = match inner {
        None => {
            let image = disk_image::RawImage::open(file)?;
            if image.size() > MAX_KERNEL_FILE {
                return Err(Exit::Error(format!(
                    "{}: {} is larger than any kernel; to inspect a kernel inside a disk image, name it: boot-sim kernel IMAGE '(hd0,0)/boot/vmlinuz'",
                    file.display(),
                    human_size(image.size())
                )));
            }
            (file.display().to_string(), image.read_all(MAX_KERNEL_FILE, "a kernel")?)
        }
        Some(spec) => {
            let bytes = crate::cat::read_from_image(file, spec, MAX_KERNEL_FILE)?;
            (format!("{}:{spec}", file.display()), bytes)
        }
    };
    let report =
        kernel::inspect(&bytes, &InspectOptions::default()).map_err(|e| Exit::Error(format!("{name}: {e}")))?;
    if as_json {
        let mut v = serde_json::to_value(&report).map_err(|e| Exit::Error(e.to_string()))?;
        if let Value::Object(map) = &mut v {
            map.insert("file".into(), json!(name));
            let mut obj = serde_json::Map::new();
            obj.insert("type".into(), json!("kernel"));
            obj.extend(std::mem::take(map));
            v = Value::Object(obj);
        }
        out.json(&v)?;
    } else {
        render_text(out, &name, &report)?;
    }
    // A file that is no kernel at all cannot boot either way: exit 1, as
    // for any image that cannot boot the way asked (the report says why).
    if report.format == kernel::KernelFormat::Unknown { Err(Exit::NotBootable) } else { Ok(()) }
}

fn hex(v: &Value) -> String {
    match v {
        Value::Number(n) => match n.as_u64() {
            Some(u) if u > 9 => format!("{u:#x} ({u})"),
            _ => n.to_string(),
        },
        Value::String(s) => format!("{s:?}"),
        other => other.to_string(),
    }
}

fn render_text(out: &mut Out, name: &str, r: &KernelReport) -> Result<(), Exit> {
    let format = match r.format {
        kernel::KernelFormat::Elf => "ELF",
        kernel::KernelFormat::BzImage => "bzImage",
        kernel::KernelFormat::ZImage => "zImage",
        kernel::KernelFormat::Multiboot => "Multiboot image",
        kernel::KernelFormat::Unknown => "unknown format",
    };
    writeln!(out, "Kernel {name}: {format}, {}", human_size(r.file_size))?;
    if let Some(h) = &r.setup_header {
        writeln!(out, "Setup header (boot protocol {}.{:02}):", h.version.major(), h.version.minor())?;
        if let Ok(Value::Object(map)) = serde_json::to_value(h) {
            for (k, v) in map.iter().filter(|(_, v)| !v.is_null()) {
                writeln!(out, "  {k:<22} {}", hex(v))?;
            }
        }
    }
    if let Some(p) = &r.payload {
        let codec = p.codec.map_or("unknown".to_string(), |c| format!("{c:?}").to_lowercase());
        writeln!(
            out,
            "Payload: {codec} at file offset {:#x}, {} compressed{}{}",
            p.location.offset,
            human_size(p.location.length),
            p.declared_size.map(|d| format!(", declares {}", human_size(u64::from(d)))).unwrap_or_default(),
            p.decompressed_size.map(|d| format!(", decompressed {}", human_size(d))).unwrap_or_default(),
        )?;
    }
    if let Some(e) = &r.elf {
        writeln!(out, "ELF: {:?} {}, entry {:#x}, {} program headers", e.class, e.machine_name, e.entry, e.phnum)?;
        for s in &e.load_segments {
            writeln!(
                out,
                "  LOAD offset {:#010x} vaddr {:#018x} paddr {:#018x} filesz {:#x} memsz {:#x}",
                s.offset, s.vaddr, s.paddr, s.filesz, s.memsz
            )?;
        }
    }
    if let Some(x) = &r.xen {
        if x.notes.is_empty() && x.xen_guest.is_none() {
            writeln!(out, "Xen notes: none")?;
        } else {
            writeln!(out, "Xen notes:")?;
        }
        for n in &x.notes {
            let value = match &n.value {
                XenNoteValue::Number(v) => format!("{v:#x}"),
                XenNoteValue::String(s) => format!("{s:?}"),
                XenNoteValue::Features(f) => {
                    let req = if f.required.is_empty() {
                        String::new()
                    } else {
                        format!(" (required: {})", f.required.join(", "))
                    };
                    format!("{:?}{req}", f.text)
                }
                XenNoteValue::FeatureBitmap(b) => format!("{b:#x}"),
                XenNoteValue::MaskValuePairs(pairs) => {
                    pairs.iter().map(|(m, v)| format!("mask {m:#x} value {v:#x}")).collect::<Vec<_>>().join(", ")
                }
                other => serde_json::to_value(other).map(|v| v.to_string()).unwrap_or_default(),
            };
            writeln!(out, "  {:>2} {:<20} {value}", n.note_type, n.name.unwrap_or("?"))?;
        }
        if let Some(g) = &x.xen_guest {
            writeln!(out, "  __xen_guest: {g}")?;
        }
    }
    match &r.pv {
        Some(pv) if pv.bootable => writeln!(
            out,
            "PV: bootable by libxc's {} loader as {}",
            pv.loader.unwrap_or("?"),
            pv.guest_type.unwrap_or("?")
        )?,
        Some(pv) => {
            writeln!(out, "PV: not bootable")?;
            for e in &pv.xen_errors {
                writeln!(out, "  xl: {e}")?;
            }
            if let Some(reason) = &pv.reason {
                writeln!(out, "  libelf: {reason}")?;
            }
            if let Some(h) = &pv.hint {
                writeln!(out, "  hint: {h}")?;
            }
        }
        None => writeln!(out, "PV: not decided (payload not decompressed)")?,
    }
    let h = &r.hvm;
    match &h.linux_boot {
        Some(l) => {
            let entry64 = l.entry64.map(|e| format!(", 64-bit entry {e:#x}")).unwrap_or_default();
            writeln!(
                out,
                "HVM: {} — boot protocol {}, {}loaded at {:#x}{entry64}{}",
                if h.bootable { "bootable by a BIOS boot loader" } else { "not bootable" },
                l.protocol_text,
                if l.bzimage { "bzImage " } else { "zImage " },
                l.load_address,
                if l.relocatable { ", relocatable" } else { "" }
            )?;
            if let Some(line) = &l.grub_legacy.line {
                writeln!(out, "  GRUB legacy prints: {line}")?;
            }
        }
        None => writeln!(
            out,
            "HVM: {}",
            if h.bootable { "bootable (Multiboot)" } else { "not a Linux boot-protocol image" }
        )?,
    }
    if let Some(hint) = &h.hint {
        writeln!(out, "  hint: {hint}")?;
    }
    Ok(())
}
