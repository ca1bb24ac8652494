//! Kernel images: given the bytes a loader read, say exactly what they are
//! (ELF, bzImage, Multiboot), what a loader finds in them (setup header,
//! compressed payload, ELF segments, Xen notes) and whether Xen's PV path
//! and the HVM paths can start them, in the words of the real loaders.
//!
//! One entry point, [`inspect`], returns a plain-data [`KernelReport`];
//! [`decompress_payload`] gives the decompressed payload itself, and
//! [`codec::decompress_into`] decompresses straight into a caller's buffer
//! (guest memory, for the PV domain builder).
//!
//! It owns the kernel formats (`Documentation/arch/x86/boot.rst`, the ELF
//! and Multiboot specs, Xen's `elfnote.h`) and the payload codecs, and must
//! not know the machine, the disks or the loaders: it takes bytes and gives
//! plain data. The `boot` crate loads what this crate describes (and
//! re-exports it as `boot::kernel`).
#![forbid(unsafe_code)]

pub mod bzimage;
pub mod codec;
pub mod elf;
pub mod error;
pub mod multiboot;
pub mod xen;

use serde::{Serialize, Serializer};

pub use bzimage::{PayloadLocation, ProtocolVersion, SetupHeader};
pub use codec::{Codec, MAX_DECOMPRESSED, decompress_into, decompress_to_vec};
pub use elf::{ElfClass, ElfSummary, LoadSegment};
pub use error::{ErrorKind, KernelError};
pub use multiboot::MultibootHeader;
pub use xen::{PvLayout, XenInfo, XenNote, XenNoteValue};

/// How much work [`inspect`] does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InspectOptions {
    /// Decompress a bzImage payload and inspect the ELF inside (needed for
    /// the PV verdict). Off: header-only report, PV verdict absent.
    pub decompress: bool,
    /// Upper bound on decompressed bytes (further capped at 1 GiB and at
    /// the declared size and `init_size`).
    pub max_decompressed: u64,
}

impl Default for InspectOptions {
    fn default() -> Self {
        Self { decompress: true, max_decompressed: MAX_DECOMPRESSED }
    }
}

/// What kind of image the bytes are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum KernelFormat {
    /// An ELF file (vmlinux, or a Multiboot ELF).
    Elf,
    /// Linux boot protocol 2.00+ with LOADED_HIGH: a bzImage.
    BzImage,
    /// Linux boot protocol 2.00+ without LOADED_HIGH (loaded at 0x10000).
    ZImage,
    /// Not ELF, not Linux, but with a valid Multiboot header.
    Multiboot,
    Unknown,
}

/// The compressed payload of a bzImage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PayloadReport {
    pub location: PayloadLocation,
    /// None: Xen's "unknown compression format".
    pub codec: Option<Codec>,
    /// The first bytes of the payload, for the unknown case.
    #[serde(serialize_with = "hex_bytes")]
    pub magic: Vec<u8>,
    /// The last 4 bytes, little endian: what the payload says it expands to.
    pub declared_size: Option<u32>,
    /// The limit applied: min(1 GiB, options, init_size).
    pub cap: u64,
    /// Bytes actually produced (equal to the declared size), if decompressed.
    pub decompressed_size: Option<u64>,
}

/// The PV (Xen domain builder) verdict.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PvVerdict {
    pub bootable: bool,
    /// The libxc loader that accepts the image: "ELF-generic" or "Linux bzImage".
    pub loader: Option<&'static str>,
    /// `xc_dom_guest_type`: "xen-3.0-x86_64", "xen-3.0-x86_32p", ...
    pub guest_type: Option<&'static str>,
    /// The error lines libxc prints (`xc_dom_panic`), in order.
    pub xen_errors: Vec<String>,
    /// libelf's own diagnosis. During probing libxc runs libelf without a
    /// log callback, so this line is not printed by xl, but it is why.
    pub reason: Option<String>,
    /// What a user can do.
    pub hint: Option<String>,
    /// libelf's address computation, when it got that far.
    pub layout: Option<PvLayout>,
}

/// PVH: Xen's HVM container entering the kernel at PHYS32_ENTRY.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PvhVerdict {
    pub bootable: bool,
    pub entry: Option<u64>,
    pub xen_errors: Vec<String>,
    pub reason: Option<String>,
}

/// What GRUB legacy 0.97 (`stage2/boot.c` load_image) makes of a bzImage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GrubLegacyView {
    /// boot_flag == 0xAA55 && setup_sects <= 64 (LINUX_MAX_SETUP_SECTS).
    pub accepted: bool,
    /// The line GRUB prints: "   [Linux-bzImage, setup=0x…, size=0x…]".
    pub line: Option<String>,
}

/// The Linux boot protocol as an HVM boot loader sees it (boot.rst).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LinuxBootInfo {
    pub protocol: ProtocolVersion,
    /// "2.15".
    pub protocol_text: String,
    pub bzimage: bool,
    /// 0x100000 (bzImage) or 0x10000.
    pub load_address: u32,
    /// Real-mode entry: `(base >> 4) + 0x20 : 0000` relative to the setup base.
    pub entry16_segment_offset: u16,
    /// 32-bit entry (code32_start).
    pub entry32: Option<u32>,
    /// 64-bit entry (load address + 0x200) when XLF_KERNEL_64 is set.
    pub entry64: Option<u64>,
    pub relocatable: bool,
    pub can_load_above_4g: bool,
    pub kernel_alignment: Option<u32>,
    pub pref_address: Option<u64>,
    pub init_size: Option<u32>,
    pub initrd_addr_max: u32,
    pub cmdline_size: u32,
    /// 2 = Xen PV (boot.rst 0x23C).
    pub hardware_subarch: Option<u32>,
    pub grub_legacy: GrubLegacyView,
}

/// The HVM verdict: firmware + a boot loader (or Xen's PVH entry).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HvmVerdict {
    /// A BIOS boot loader (GRUB, syslinux) can start it: Linux boot
    /// protocol, or a Multiboot header.
    pub bootable: bool,
    pub linux_boot: Option<LinuxBootInfo>,
    pub multiboot: Option<MultibootHeader>,
    /// Only for ELF input (a bzImage's ELF is inside the payload, which
    /// PVH loaders also take: reported from the decompressed ELF).
    pub pvh: Option<PvhVerdict>,
    pub hint: Option<String>,
}

/// Everything [`inspect`] finds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KernelReport {
    pub format: KernelFormat,
    pub file_size: u64,
    pub setup_header: Option<SetupHeader>,
    pub payload: Option<PayloadReport>,
    /// The ELF (the file itself, or the decompressed payload).
    pub elf: Option<ElfSummary>,
    pub xen: Option<XenInfo>,
    pub multiboot: Option<MultibootHeader>,
    /// Absent when the bzImage payload was not decompressed.
    pub pv: Option<PvVerdict>,
    pub hvm: HvmVerdict,
}

pub(crate) fn hex_bytes<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push_str(&format!("{b:02x}"));
    }
    s.serialize_str(&out)
}

/// Inspects a kernel image.
///
/// Errors are for bytes that are broken where a loader must read them: a
/// truncated setup header, setup_sects past the file, a payload outside the
/// file, a corrupt or lying compressed stream, a malformed ELF. An image
/// that is intact but unbootable on a path gets a verdict instead.
pub fn inspect(bytes: &[u8], opts: &InspectOptions) -> Result<KernelReport, KernelError> {
    inspect_keep_elf(bytes, opts, &mut Vec::new())
}

/// [`inspect`], keeping a bzImage's decompressed ELF in `elf_out` (reusing
/// its allocation) so that a loader can place its segments without
/// decompressing twice. For an ELF file, `elf_out` is left empty: the
/// file itself is the ELF.
pub fn inspect_keep_elf(
    bytes: &[u8],
    opts: &InspectOptions,
    elf_out: &mut Vec<u8>,
) -> Result<KernelReport, KernelError> {
    let file_size = bytes.len() as u64;
    let multiboot = multiboot::detect(bytes);
    if elf::is_elf(bytes) {
        let parsed = elf::parse(bytes)?;
        let xen = xen::collect(&parsed)?;
        let pv = pv_from_elf(&parsed.summary, &xen, "ELF-generic", Vec::new());
        let pvh = pvh_from_elf(&parsed.summary, &xen);
        let bootable = multiboot.is_some();
        return Ok(KernelReport {
            format: KernelFormat::Elf,
            file_size,
            setup_header: None,
            payload: None,
            elf: Some(parsed.summary),
            xen: Some(xen),
            multiboot: multiboot.clone(),
            pv: Some(pv),
            hvm: HvmVerdict {
                bootable,
                linux_boot: None,
                multiboot,
                pvh: Some(pvh),
                hint: (!bootable).then(|| {
                    "an ELF vmlinux has no Linux boot-protocol setup header and no Multiboot header: \
                     BIOS boot loaders need the bzImage (vmlinuz)"
                        .to_string()
                }),
            },
        });
    }
    if SetupHeader::probe(bytes) {
        return inspect_bzimage(bytes, opts, multiboot, PayloadElf::Decompress(elf_out));
    }
    let format = if multiboot.is_some() { KernelFormat::Multiboot } else { KernelFormat::Unknown };
    let bootable = multiboot.is_some();
    Ok(KernelReport {
        format,
        file_size,
        setup_header: None,
        payload: None,
        elf: None,
        xen: None,
        multiboot: multiboot.clone(),
        pv: Some(PvVerdict {
            bootable: false,
            loader: None,
            guest_type: None,
            xen_errors: vec!["xc_dom_find_loader: no loader found".into()],
            reason: Some("kernel is not an ELF image and not a bzImage".into()),
            hint: Some("PV needs an ELF kernel (vmlinux) or a bzImage with Xen notes".into()),
            layout: None,
        }),
        hvm: HvmVerdict {
            bootable,
            linux_boot: None,
            multiboot,
            pvh: None,
            hint: (!bootable).then(|| "no Linux setup header (\"HdrS\") and no Multiboot header".to_string()),
        },
    })
}

/// Where a bzImage's decompressed ELF comes from.
enum PayloadElf<'a> {
    /// Decompress into this buffer.
    Decompress(&'a mut Vec<u8>),
    /// Already decompressed by the caller (see [`payload_to_decompress`]).
    Given(&'a [u8]),
}

/// For a bzImage whose payload [`inspect`] would decompress: the codec,
/// the payload's location and the size it decompresses to (the declared
/// size, within the cap). A loader can then decompress it where it wants
/// it — straight into guest memory, with [`codec::decompress_into`] — and
/// finish with [`inspect_with_payload`]. `None` for anything else (an ELF
/// file, no payload, unknown codec, a size over the cap): use
/// [`inspect_keep_elf`], which reports those.
pub fn payload_to_decompress(bytes: &[u8], opts: &InspectOptions) -> Option<(Codec, PayloadLocation, u64)> {
    if !opts.decompress || elf::is_elf(bytes) || !SetupHeader::probe(bytes) {
        return None;
    }
    let header = SetupHeader::parse(bytes).ok()?;
    let loc = header.payload_location(bytes.len() as u64).ok()??;
    let payload = payload_slice(bytes, &loc);
    let codec = Codec::detect(payload)?;
    let declared = u64::from(codec::declared_size(codec, payload)?);
    (declared <= cap_for(&header, opts).min(MAX_DECOMPRESSED)).then_some((codec, loc, declared))
}

/// [`inspect`] of a bzImage whose payload the caller decompressed into
/// `elf` (all of [`payload_to_decompress`]'s size, without error).
pub fn inspect_with_payload(bytes: &[u8], opts: &InspectOptions, elf: &[u8]) -> Result<KernelReport, KernelError> {
    let multiboot = multiboot::detect(bytes);
    inspect_bzimage(bytes, opts, multiboot, PayloadElf::Given(elf))
}

/// Decompresses a bzImage's payload (bounded as in [`inspect`]) into `out`,
/// reusing its allocation, and returns the payload's codec and location.
pub fn decompress_payload(
    bytes: &[u8],
    opts: &InspectOptions,
    out: &mut Vec<u8>,
) -> Result<(Codec, PayloadLocation), KernelError> {
    let header = SetupHeader::parse(bytes)?;
    let loc = header.payload_location(bytes.len() as u64)?.ok_or_else(|| {
        KernelError::unsupported(
            "bzImage payload",
            0x206,
            format!("boot protocol too old ({:04x}): no payload fields before 2.08", header.version.0),
        )
    })?;
    let payload = payload_slice(bytes, &loc);
    let codec = Codec::detect(payload)
        .ok_or_else(|| KernelError::unsupported("bzImage payload", loc.offset, "unknown compression format"))?;
    decompress_to_vec(codec, payload, out, cap_for(&header, opts)).map_err(|e| e.rebased(loc.offset))?;
    Ok((codec, loc))
}

fn payload_slice<'a>(bytes: &'a [u8], loc: &PayloadLocation) -> &'a [u8] {
    // payload_location checked both ends against the file length.
    &bytes[loc.offset as usize..(loc.offset + loc.length) as usize]
}

fn cap_for(header: &SetupHeader, opts: &InspectOptions) -> u64 {
    let mut cap = opts.max_decompressed.min(MAX_DECOMPRESSED);
    if let Some(init) = header.init_size {
        cap = cap.min(u64::from(init));
    }
    cap
}

fn inspect_bzimage(
    bytes: &[u8],
    opts: &InspectOptions,
    multiboot: Option<MultibootHeader>,
    elf_src: PayloadElf<'_>,
) -> Result<KernelReport, KernelError> {
    let header = SetupHeader::parse(bytes)?;
    let file_size = bytes.len() as u64;
    let loc = header.payload_location(file_size)?;
    let linux_boot = linux_boot_info(&header, file_size);
    let format = if header.is_bzimage() { KernelFormat::BzImage } else { KernelFormat::ZImage };
    let mut report = KernelReport {
        format,
        file_size,
        setup_header: Some(header.clone()),
        payload: None,
        elf: None,
        xen: None,
        multiboot: multiboot.clone(),
        pv: None,
        hvm: HvmVerdict { bootable: true, linux_boot: Some(linux_boot), multiboot, pvh: None, hint: None },
    };
    const PROBE: &str = "xc_dom_probe_bzimage_kernel";
    let no_loader = || "xc_dom_find_loader: no loader found".to_string();
    let Some(loc) = loc else {
        report.pv = Some(PvVerdict {
            bootable: false,
            loader: None,
            guest_type: None,
            xen_errors: vec![format!("{PROBE}: boot protocol too old ({:04x})", header.version.0), no_loader()],
            reason: None,
            hint: Some("Xen's bzImage loader needs boot protocol 2.08+ (payload_offset/payload_length)".into()),
            layout: None,
        });
        return Ok(report);
    };
    let payload = payload_slice(bytes, &loc);
    let codec = Codec::detect(payload);
    let cap = cap_for(&header, opts);
    report.payload = Some(PayloadReport {
        location: loc,
        codec,
        magic: payload[..payload.len().min(8)].to_vec(),
        declared_size: codec.and_then(|c| codec::declared_size(c, payload)),
        cap,
        decompressed_size: None,
    });
    let Some(codec) = codec else {
        report.pv = Some(PvVerdict {
            bootable: false,
            loader: None,
            guest_type: None,
            xen_errors: vec![format!("{PROBE}: unknown compression format"), no_loader()],
            reason: None,
            hint: Some("the payload is none of gzip, bzip2, xz, zstd, lzma, lzo, lz4".into()),
            layout: None,
        });
        return Ok(report);
    };
    if !opts.decompress {
        return Ok(report);
    }
    let out: &[u8] = match elf_src {
        PayloadElf::Decompress(out) => {
            decompress_to_vec(codec, payload, out, cap).map_err(|e| e.rebased(loc.offset))?;
            out
        }
        PayloadElf::Given(elf) => elf,
    };
    if let Some(p) = report.payload.as_mut() {
        p.decompressed_size = Some(out.len() as u64);
    }
    if !elf::is_elf(out) {
        report.pv = Some(PvVerdict {
            bootable: false,
            loader: None,
            guest_type: None,
            xen_errors: vec![no_loader()],
            reason: Some("xc_dom_probe_elf_kernel: kernel is not an ELF image (the decompressed payload)".into()),
            hint: Some("the payload does not hold an ELF vmlinux".into()),
            layout: None,
        });
        return Ok(report);
    }
    let parsed = elf::parse(out).map_err(in_payload)?;
    let xen = xen::collect(&parsed).map_err(in_payload)?;
    report.pv = Some(pv_from_elf(&parsed.summary, &xen, "Linux bzImage", Vec::new()));
    report.hvm.pvh = Some(pvh_from_elf(&parsed.summary, &xen));
    report.elf = Some(parsed.summary);
    report.xen = Some(xen);
    Ok(report)
}

/// Errors inside the decompressed ELF keep ELF offsets (as readelf counts
/// them on the decompressed bytes) and say so.
fn in_payload(e: KernelError) -> KernelError {
    match e {
        KernelError::Corrupt { what, offset, detail } => KernelError::Corrupt {
            what: "ELF in the decompressed payload",
            offset,
            detail: format!("{what}: {detail}"),
        },
        KernelError::Unsupported { what, offset, detail } => KernelError::Unsupported {
            what: "ELF in the decompressed payload",
            offset,
            detail: format!("{what}: {detail}"),
        },
        io => io,
    }
}

fn linux_boot_info(h: &SetupHeader, file_size: u64) -> LinuxBootInfo {
    let load = h.load_address();
    let grub_ok = h.boot_flag == bzimage::BOOT_FLAG && h.setup_sects_raw <= bzimage::GRUB_LEGACY_MAX_SETUP_SECTS;
    // GRUB 0.97 boot.c: data_len = setup_sects << 9; text_len = filemax -
    // data_len - SECTOR_SIZE.
    let data_len = u64::from(h.setup_sects) << 9;
    let line = file_size.checked_sub(data_len + 512).filter(|_| grub_ok).map(|text_len| {
        format!(
            "   [Linux-{}, setup={data_len:#x}, size={text_len:#x}]",
            if h.is_bzimage() { "bzImage" } else { "zImage" }
        )
    });
    LinuxBootInfo {
        protocol: h.version,
        protocol_text: h.version.to_string(),
        bzimage: h.is_bzimage(),
        load_address: load,
        entry16_segment_offset: 0x20,
        entry32: h.code32_start,
        entry64: h.has_xloadflag(bzimage::XLF_KERNEL_64).then(|| u64::from(load) + 0x200),
        relocatable: h.relocatable_kernel.unwrap_or(false),
        can_load_above_4g: h.has_xloadflag(bzimage::XLF_CAN_BE_LOADED_ABOVE_4G),
        kernel_alignment: h.kernel_alignment,
        pref_address: h.pref_address,
        init_size: h.init_size,
        initrd_addr_max: h.effective_initrd_addr_max(),
        cmdline_size: h.effective_cmdline_size(),
        hardware_subarch: h.hardware_subarch,
        grub_legacy: GrubLegacyView { accepted: grub_ok, line },
    }
}

fn pv_hint(reason: &xen::XenElfError) -> &'static str {
    use xen::XenElfError as E;
    match reason {
        E::NotXenElf => "no Xen ELF notes: this kernel has no PV support (built without CONFIG_XEN_PV); boot it as HVM",
        E::LoaderOrGuestOs { .. } => "the Xen notes name neither GUEST_OS=linux nor LOADER=generic",
        E::XenVersion { .. } => "the XEN_VERSION note (or XEN_VER in __xen_guest) must start with \"xen-3.0\"",
        E::PaddrOffsetWithoutVirtBase => "a PADDR_OFFSET note needs a VIRT_BASE note",
        E::AddressesOutOfBounds { .. } | E::P2mOutOfBounds { .. } => {
            "ENTRY / VIRT_BASE / PADDR_OFFSET (or INIT_P2M) do not fit the PT_LOAD segments"
        }
        E::UnknownRequiredFeatures { .. } => "the FEATURES note requires a feature this Xen does not know",
        E::UnknownImageType { .. } => "see the Xen error above",
    }
}

/// libxc's ELF loader on a parsed ELF: probe (`elf_xen_parse`, silent),
/// then parse (`xc_dom_parse_elf_kernel`: dom0-only check, guest type).
fn pv_from_elf(summary: &ElfSummary, info: &XenInfo, loader: &'static str, mut xen_errors: Vec<String>) -> PvVerdict {
    let pstart = summary.pstart.unwrap_or(u64::MAX);
    let pend = summary.pend.unwrap_or(0);
    let outcome = xen::libelf_check(info, summary.machine, summary.entry, pstart, pend, false);
    let layout = match outcome.result {
        Ok(layout) => layout,
        Err(reason) => {
            xen_errors.push("xc_dom_find_loader: no loader found".into());
            return PvVerdict {
                bootable: false,
                loader: None,
                guest_type: None,
                xen_errors,
                hint: Some(if info.notes.is_empty() && info.xen_guest.is_none() {
                    pv_hint(&xen::XenElfError::NotXenElf).to_string()
                } else {
                    pv_hint(&reason).to_string()
                }),
                reason: Some(reason.to_string()),
                layout: None,
            };
        }
    };
    if info.params.features_required & (1 << xen::XENFEAT_DOM0) != 0 {
        xen_errors.push("xc_dom_parse_elf_kernel: Kernel does not support unprivileged (DomU) operation".into());
        return PvVerdict {
            bootable: false,
            loader: Some(loader),
            guest_type: None,
            xen_errors,
            reason: None,
            hint: Some("FEATURES requires dom0: this kernel only boots as Xen's control domain".into()),
            layout: Some(layout),
        };
    }
    match xen::pv_guest_type(summary.machine, info.params.pae) {
        Ok(t) => PvVerdict {
            bootable: true,
            loader: Some(loader),
            guest_type: Some(t),
            xen_errors,
            reason: None,
            hint: None,
            layout: Some(layout),
        },
        Err(e) => {
            xen_errors.push(e.to_string());
            PvVerdict {
                bootable: false,
                loader: Some(loader),
                guest_type: None,
                xen_errors,
                reason: None,
                hint: Some("PV x86 guests are EM_386 or EM_X86_64 ELF images".into()),
                layout: Some(layout),
            }
        }
    }
}

/// libxc in an HVM container (PVH): `elf_xen_parse(hvm = true)` then
/// `xc_dom_guest_type`, which needs PHYS32_ENTRY.
fn pvh_from_elf(summary: &ElfSummary, info: &XenInfo) -> PvhVerdict {
    let pstart = summary.pstart.unwrap_or(u64::MAX);
    let pend = summary.pend.unwrap_or(0);
    let outcome = xen::libelf_check(info, summary.machine, summary.entry, pstart, pend, true);
    match outcome.result {
        Err(reason) => PvhVerdict {
            bootable: false,
            entry: None,
            xen_errors: vec!["xc_dom_find_loader: no loader found".into()],
            reason: Some(reason.to_string()),
        },
        Ok(layout) => match info.params.phys_entry {
            Some(_) => {
                PvhVerdict { bootable: true, entry: Some(layout.virt_entry), xen_errors: Vec::new(), reason: None }
            }
            None => PvhVerdict {
                bootable: false,
                entry: None,
                xen_errors: vec!["xc_dom_guest_type: image not capable of booting inside a HVM container".into()],
                reason: Some("no PHYS32_ENTRY note".into()),
            },
        },
    }
}
