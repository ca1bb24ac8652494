//! Kernel images: every committed fixture kernel through `kernel_image`,
//! property tests for the parsers and the decompression caps, and a replay
//! of the `kernel_inspect` fuzz corpus.

use boot_sim::{fixture, workspace_root};
use kernel_image::{
    Codec, ErrorKind, InspectOptions, KernelError, KernelFormat, KernelReport, SetupHeader, XenNoteValue,
    decompress_payload, decompress_to_vec, inspect,
};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

fn read(name: &str) -> Vec<u8> {
    let path = fixture(&format!("kernels/{name}"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn ok(name: &str) -> KernelReport {
    inspect(&read(name), &InspectOptions::default()).unwrap_or_else(|e| panic!("{name}: {e}"))
}

fn err(name: &str) -> KernelError {
    match inspect(&read(name), &InspectOptions::default()) {
        Ok(r) => panic!("{name}: expected an error, got {r:?}"),
        Err(e) => e,
    }
}

fn sha256(b: &[u8]) -> String {
    Sha256::digest(b).iter().map(|x| format!("{x:02x}")).collect()
}

const VIRT_BASE: u64 = 0xffff_ffff_8000_0000;

#[test]
fn xen_pv_elf_notes_and_layout() {
    let r = ok("xen-pv.elf");
    assert_eq!(r.format, KernelFormat::Elf);
    let elf = r.elf.as_ref().unwrap();
    assert_eq!(elf.machine, 62);
    assert_eq!(elf.entry, 0x100_0000);
    assert_eq!(elf.load_segments.len(), 2);
    let s = &elf.load_segments[1];
    assert_eq!(
        (s.offset, s.vaddr, s.paddr, s.filesz, s.memsz, s.flags),
        (0x3000, 0xffff_ffff_8120_0000, 0x120_0000, 0x1000, 0x3000, 6)
    );
    assert_eq!((elf.pstart, elf.pend), (Some(0x100_0000), Some(0x120_3000)));
    let xen = r.xen.as_ref().unwrap();
    let types: Vec<u32> = xen.notes.iter().map(|n| n.note_type).collect();
    assert_eq!(types, vec![6, 7, 5, 3, 15, 1, 2, 10, 17, 9, 8, 14, 16, 12, 4, 18]);
    let by = |t: u32| &xen.notes.iter().find(|n| n.note_type == t).unwrap().value;
    assert_eq!(by(1), &XenNoteValue::Number(0xffff_ffff_8100_0100));
    assert_eq!(by(2), &XenNoteValue::Number(0xffff_ffff_8100_1000));
    assert_eq!(by(3), &XenNoteValue::Number(VIRT_BASE));
    assert_eq!(by(6), &XenNoteValue::String("linux".into()));
    assert_eq!(by(18), &XenNoteValue::Number(0x100_0200));
    let XenNoteValue::Features(f) = by(10) else { panic!("FEATURES") };
    assert_eq!(f.required, vec!["writable_page_tables"]);
    assert_eq!(f.supported, vec!["writable_page_tables", "pae_pgdir_above_4gb"]);
    let pv = r.pv.as_ref().unwrap();
    assert!(pv.bootable);
    assert_eq!(pv.guest_type, Some("xen-3.0-x86_64"));
    let l = pv.layout.unwrap();
    assert_eq!(l.virt_base, VIRT_BASE);
    assert_eq!(l.elf_paddr_offset, 0);
    assert_eq!(l.virt_kstart, 0xffff_ffff_8100_0000);
    assert_eq!(l.virt_kend, 0xffff_ffff_8120_3000);
    assert_eq!(l.virt_entry, 0xffff_ffff_8100_0100);
    assert_eq!(l.virt_hypercall, Some(0xffff_ffff_8100_1000));
    let pvh = r.hvm.pvh.as_ref().unwrap();
    assert!(pvh.bootable);
    assert_eq!(pvh.entry, Some(0x100_0200));
    // An ELF vmlinux is not something a BIOS boot loader starts.
    assert!(!r.hvm.bootable);
    assert!(r.hvm.hint.as_deref().unwrap().contains("bzImage"));
}

#[test]
fn no_hypercall_page_is_still_pv_bootable() {
    let r = ok("xen-pv-no-hypercall-page.elf");
    let pv = r.pv.unwrap();
    assert!(pv.bootable, "{pv:?}");
    assert_eq!(pv.layout.unwrap().virt_hypercall, None);
}

#[test]
fn pv_refusals_use_xens_words() {
    let cases = [
        ("no-notes.elf", "ERROR: Not a Xen-ELF image: No ELF notes or '__xen_guest' section found"),
        (
            "gnu-notes-only.elf",
            "ERROR: Will only load images built for the generic loader or Linux images (Not '' and '') or with PHYS32_ENTRY set",
        ),
        ("xen-version-2.elf", "ERROR: Xen will only load images built for Xen v3.0 (Not 'xen-2.0')"),
    ];
    for (name, reason) in cases {
        let pv = ok(name).pv.unwrap();
        assert!(!pv.bootable, "{name}");
        assert_eq!(pv.xen_errors, vec!["xc_dom_find_loader: no loader found"], "{name}");
        assert_eq!(pv.reason.as_deref(), Some(reason), "{name}");
    }
    for name in ["no-notes.elf", "gnu-notes-only.elf"] {
        let hint = ok(name).pv.unwrap().hint.unwrap();
        assert!(hint.starts_with("no Xen ELF notes: this kernel has no PV support"), "{name}: {hint}");
    }
    let pv = ok("dom0-only.elf").pv.unwrap();
    assert_eq!(pv.xen_errors, vec!["xc_dom_parse_elf_kernel: Kernel does not support unprivileged (DomU) operation"]);
}

#[test]
fn legacy_xen_guest_section() {
    let r = ok("xen-guest-legacy.elf");
    let xen = r.xen.as_ref().unwrap();
    assert!(xen.notes.is_empty());
    assert!(
        xen.xen_guest.as_deref().unwrap().starts_with("GUEST_OS=linux,XEN_VER=xen-3.0,VIRT_BASE=0xffffffff80000000")
    );
    let pv = r.pv.unwrap();
    assert!(pv.bootable, "{pv:?}");
    let l = pv.layout.unwrap();
    assert_eq!(l.virt_entry, 0xffff_ffff_8100_0100);
    // HYPERCALL_PAGE=0x1001 is a page number above VIRT_BASE.
    assert_eq!(l.virt_hypercall, Some(0xffff_ffff_8100_1000));
    let pvh = r.hvm.pvh.unwrap();
    assert_eq!(pvh.xen_errors, vec!["xc_dom_guest_type: image not capable of booting inside a HVM container"]);
}

#[test]
fn multiboot_flat_kernel() {
    let r = ok("multiboot.bin");
    assert_eq!(r.format, KernelFormat::Multiboot);
    let mb = r.multiboot.unwrap();
    assert_eq!((mb.version, mb.offset, mb.flags_or_arch), (1, 0x40, 0x1_0003));
    assert!(r.hvm.bootable);
    assert!(!r.pv.unwrap().bootable);
}

#[test]
fn bzimage_setup_header_fields() {
    let bytes = read("bzimage-lz4.bin");
    let r = ok("bzimage-lz4.bin");
    assert_eq!(r.format, KernelFormat::BzImage);
    let h = r.setup_header.as_ref().unwrap();
    assert_eq!(h.setup_sects, 4);
    assert_eq!(h.version.0, 0x020F);
    assert_eq!(h.boot_flag, 0xAA55);
    assert_eq!(h.kernel_version.as_deref(), Some("6.1.0-fixture (boot-sim@localhost) #1 SMP"));
    assert_eq!(h.loadflags, Some(1));
    assert_eq!(h.code32_start, Some(0x10_0000));
    assert_eq!(h.kernel_alignment, Some(0x20_0000));
    assert_eq!(h.relocatable_kernel, Some(true));
    assert_eq!(h.min_alignment, Some(21));
    assert_eq!(h.xloadflags, Some(3));
    assert_eq!(h.cmdline_size, Some(2047));
    assert_eq!(h.initrd_addr_max, Some(0x7FFF_FFFF));
    assert_eq!(h.payload_offset, Some(0x80));
    assert_eq!(h.pref_address, Some(0x100_0000));
    assert_eq!(h.init_size, Some(0x40_0000));
    assert_eq!(h.kernel_info_offset, Some(0));
    let p = r.payload.as_ref().unwrap();
    assert_eq!(p.location.offset, 5 * 512 + 0x80);
    assert_eq!(p.location.length, bytes.len() as u64 - 5 * 512 - 0x80 - 4);
    assert_eq!(p.codec, Some(Codec::Lz4));
    let elf = read("xen-pv-no-hypercall-page.elf");
    assert_eq!(p.declared_size, Some(elf.len() as u32));
    assert_eq!(p.decompressed_size, Some(elf.len() as u64));
    let lb = r.hvm.linux_boot.as_ref().unwrap();
    assert_eq!(lb.protocol_text, "2.15");
    assert_eq!(lb.entry64, Some(0x10_0200));
    assert!(lb.relocatable && lb.can_load_above_4g);
    assert_eq!(
        lb.grub_legacy.line.as_deref(),
        Some(format!("   [Linux-bzImage, setup=0x800, size={:#x}]", bytes.len() - 0xA00).as_str())
    );
    assert!(r.pv.unwrap().bootable);
}

#[test]
fn every_codec_decompresses_to_the_wrapped_elf() {
    let elf = read("xen-pv-no-hypercall-page.elf");
    let want = sha256(&elf);
    let codecs = [
        ("gzip", Codec::Gzip),
        ("bzip2", Codec::Bzip2),
        ("xz", Codec::Xz),
        ("lzma", Codec::Lzma),
        ("lzo", Codec::Lzo),
        ("lz4", Codec::Lz4),
        ("zstd", Codec::Zstd),
    ];
    let mut out = Vec::new();
    for (name, codec) in codecs {
        let file = format!("bzimage-{name}.bin");
        let (c, loc) = decompress_payload(&read(&file), &InspectOptions::default(), &mut out)
            .unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(c, codec, "{file}");
        assert_eq!(loc.offset, 0xA80, "{file}");
        assert_eq!(out.len(), elf.len(), "{file}");
        assert_eq!(sha256(&out), want, "{file}");
        let r = ok(&file);
        assert_eq!(r.payload.unwrap().codec, Some(codec));
        assert!(r.pv.unwrap().bootable, "{file}");
    }
}

#[test]
fn bzimage_refusals() {
    let r = ok("bzimage-protocol-2.07.bin");
    assert_eq!(r.setup_header.as_ref().unwrap().payload_offset, None);
    assert_eq!(r.setup_header.as_ref().unwrap().xloadflags, None);
    assert!(r.payload.is_none());
    assert_eq!(
        r.pv.unwrap().xen_errors,
        vec!["xc_dom_probe_bzimage_kernel: boot protocol too old (0207)", "xc_dom_find_loader: no loader found"]
    );
    assert!(r.hvm.bootable);
    let r = ok("bzimage-unknown-codec.bin");
    assert_eq!(r.payload.as_ref().unwrap().codec, None);
    assert_eq!(r.pv.unwrap().xen_errors[0], "xc_dom_probe_bzimage_kernel: unknown compression format");
    let r = ok("bzimage-no-xen.bin");
    assert_eq!(
        r.pv.unwrap().reason.as_deref(),
        Some("ERROR: Not a Xen-ELF image: No ELF notes or '__xen_guest' section found")
    );
    assert!(r.hvm.bootable);
}

#[test]
fn broken_images_give_errors_with_offsets() {
    let cases: [(&str, ErrorKind, u64, &str); 16] = [
        ("broken-truncated-header.bin", ErrorKind::Corrupt, 0x230, "setup header ends at 0x26c"),
        ("broken-setup-sects.bin", ErrorKind::Corrupt, 0x1F1, "setup_sects 127"),
        ("broken-payload-offset.bin", ErrorKind::Corrupt, 0x248, "payload offset overflow"),
        ("broken-payload-length.bin", ErrorKind::Corrupt, 0x24C, "payload length overflow"),
        ("broken-corrupt-gzip.bin", ErrorKind::Corrupt, 0xA80, "gzip"),
        ("broken-corrupt-xz.bin", ErrorKind::Corrupt, 0xA80, "XZ decompression error"),
        ("broken-corrupt-lz4.bin", ErrorKind::Corrupt, 0xA88, "LZ4: decoding failed"),
        ("broken-bomb-lz4.bin", ErrorKind::Corrupt, 0xA88, "exceed the declared size 0x1000"),
        ("broken-bomb-zstd.bin", ErrorKind::Corrupt, 0xA80, "output exceeds the declared size 0x1000"),
        ("broken-huge-declared.bin", ErrorKind::Corrupt, 0xDED, "exceeds the limit 0x400000"),
        ("broken-elf-overlap.elf", ErrorKind::Corrupt, 0x78, "overlaps segment 0"),
        ("broken-elf-absurd.elf", ErrorKind::Corrupt, 0x78, "past the end"),
        ("broken-elf-span.elf", ErrorKind::Corrupt, 0x40, "more than 1 GiB"),
        ("broken-note-size.elf", ErrorKind::Corrupt, 0x2874, "ENTRY has a 3-byte value"),
        ("broken-note-overrun.elf", ErrorKind::Corrupt, 0x2984, "runs past the end of its area"),
        ("broken-bzimage-bad-elf.bin", ErrorKind::Corrupt, 0x78, "decompressed payload"),
    ];
    for (name, kind, offset, text) in cases {
        let e = err(name);
        assert_eq!(e.kind(), kind, "{name}: {e}");
        assert_eq!(e.offset(), offset, "{name}: {e}");
        assert!(e.to_string().contains(text), "{name}: {e}");
    }
}

#[test]
fn header_only_inspection_skips_the_payload() {
    let opts = InspectOptions { decompress: false, ..InspectOptions::default() };
    let r = inspect(&read("broken-corrupt-xz.bin"), &opts).unwrap();
    assert_eq!(r.payload.as_ref().unwrap().codec, Some(Codec::Xz));
    assert_eq!(r.payload.unwrap().decompressed_size, None);
    assert!(r.pv.is_none());
}

#[test]
fn report_serialises_to_json() {
    let v = serde_json::to_value(ok("bzimage-xz.bin")).unwrap();
    assert_eq!(v["format"], "bz_image");
    assert_eq!(v["payload"]["codec"], "xz");
    assert_eq!(v["setup_header"]["version"], 0x020F);
    assert_eq!(v["xen"]["notes"][0]["desc"], "6c696e757800");
}

/// Replays every file of the cargo-fuzz corpus through the fuzz target's
/// entry point, so `cargo test` covers the corpus without cargo-fuzz.
#[test]
fn fuzz_corpus_replays() {
    let dir = workspace_root().join("fuzz/corpus/kernel_inspect");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let opts = InspectOptions { max_decompressed: 64 << 20, ..InspectOptions::default() };
        let _ = inspect(&bytes, &opts);
        n += 1;
    }
    assert!(n >= 30, "corpus has only {n} files");
}

fn bz_with_header(version: u16, setup_sects: u8, tail: &[u8]) -> Vec<u8> {
    let mut b = vec![0u8; 0x270];
    b[0x1F1] = setup_sects;
    b[0x1FE..0x200].copy_from_slice(&0xAA55u16.to_le_bytes());
    b[0x202..0x206].copy_from_slice(b"HdrS");
    b[0x206..0x208].copy_from_slice(&version.to_le_bytes());
    b.extend_from_slice(tail);
    b
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = inspect(&bytes, &InspectOptions::default());
    }

    #[test]
    fn random_setup_headers_parse_or_fail_with_an_offset(
        version in 0x0200u16..0x0210,
        setup_sects in any::<u8>(),
        tail in proptest::collection::vec(any::<u8>(), 0..2048),
        fields in proptest::collection::vec(any::<u8>(), 0x6B),
    ) {
        let mut b = bz_with_header(version, setup_sects, &tail);
        b[0x208..0x208 + 0x64].copy_from_slice(&fields[..0x64]);
        match SetupHeader::parse(&b) {
            Ok(h) => {
                prop_assert!(h.protected_mode_offset() <= b.len() as u64);
                if let Ok(Some(loc)) = h.payload_location(b.len() as u64) {
                    prop_assert!(loc.offset + loc.length <= b.len() as u64);
                }
                let _ = inspect(&b, &InspectOptions::default());
            }
            Err(e) => prop_assert!(e.offset() <= b.len() as u64 + 0x10000, "{e}"),
        }
    }

    #[test]
    fn truncated_fixtures_fail_cleanly(cut in 0usize..4096, which in 0usize..8) {
        let names = ["bzimage-gzip.bin", "bzimage-bzip2.bin", "bzimage-xz.bin", "bzimage-lzma.bin",
                     "bzimage-lzo.bin", "bzimage-lz4.bin", "bzimage-zstd.bin", "xen-pv.elf"];
        let b = read(names[which]);
        let cut = cut.min(b.len() - 1);
        // Any prefix either inspects (the cut fell in the unused tail) or
        // gives an error whose offset is inside the prefix (or the header
        // end it needed).
        if let Err(e) = inspect(&b[..cut], &InspectOptions::default()) {
            prop_assert!(e.offset() <= (cut as u64).max(0x26C), "{}: {e}", names[which]);
        }
    }

    #[test]
    fn note_areas_of_random_bytes_never_panic(
        notes in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut elf = read("xen-pv.elf");
        let at = 0x2800;
        elf[at..at + notes.len()].copy_from_slice(&notes);
        let _ = inspect(&elf, &InspectOptions::default());
    }

    #[test]
    fn decompression_never_exceeds_the_cap(
        data in proptest::collection::vec(any::<u8>(), 0..2000),
        declared in any::<u32>(),
        cap in 0u64..100_000,
        codec_ix in 0usize..7,
    ) {
        let codecs = [Codec::Gzip, Codec::Bzip2, Codec::Xz, Codec::Lzma, Codec::Lzo, Codec::Lz4, Codec::Zstd];
        let magics: [&[u8]; 7] = [b"\x1f\x8b\x08\x00", b"BZh9", b"\xfd7zXZ\x00", b"\x5d\x00\x00\x80\x00",
                                   b"\x89LZO\x00\x0d\x0a\x1a\x0a", b"\x02\x21\x4c\x18", b"\x28\xb5\x2f\xfd"];
        let mut p = magics[codec_ix].to_vec();
        p.extend_from_slice(&data);
        p.extend_from_slice(&declared.to_le_bytes());
        let mut out = Vec::new();
        match decompress_to_vec(codecs[codec_ix], &p, &mut out, cap) {
            Ok(n) => {
                prop_assert_eq!(n as u32, declared);
                prop_assert!(n as u64 <= cap);
            }
            Err(_) => prop_assert!(out.len() as u64 <= cap),
        }
    }
}

/// ELF errors are in boot-sim's words, naming the structure, the offset and
/// the file size, never the parser library's ("type is too big (2) for 0",
/// issue 19): every truncation of an ELF kernel and every byte of its ELF
/// header, program header table and section header table set to 0xff.
#[test]
fn elf_errors_name_the_structure_and_the_file_size() {
    let goblin_words = ["type is too big", "buffer too short", "Malformed", "bad offset", "Scroll"];
    for name in ["xen-pv.elf", "no-notes.elf", "xen-guest-legacy.elf"] {
        let elf = read(name);
        let check = |bytes: &[u8], how: &str| {
            if let Err(e) = inspect(bytes, &InspectOptions::default()) {
                let text = e.to_string();
                assert!(!goblin_words.iter().any(|w| text.contains(w)), "{name} {how}: {text}");
                assert!(text.contains("at byte 0x"), "{name} {how}: {text}");
            }
        };
        for cut in (0..elf.len()).step_by(7) {
            check(&elf[..cut], &format!("cut at {cut}"));
        }
        // e_shoff (64-bit: 8 bytes at 40) locates the section headers.
        let shoff = u64::from_le_bytes(elf[40..48].try_into().unwrap()) as usize;
        let mut offsets: Vec<usize> = (16..64).collect();
        offsets.extend(64..(64 + 4 * 56).min(elf.len()));
        offsets.extend(shoff..(shoff + 6 * 64).min(elf.len()));
        for at in offsets {
            let mut m = elf.clone();
            m[at] = 0xff;
            check(&m, &format!("byte {at} = 0xff"));
        }
    }
    let e = inspect(&read("xen-pv.elf")[..100], &InspectOptions::default()).unwrap_err().to_string();
    assert!(e.contains("program header table") && e.contains("past the end of the file (100 bytes)"), "{e}");
}
