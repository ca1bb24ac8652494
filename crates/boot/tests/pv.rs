//! The PV path on fixture images: discovery, selection, kernel checks and
//! the x86_64 domain build. Every claim about the built domain is checked
//! by reading guest memory back — walking the page tables from CR3 the way
//! the MMU would — not by trusting the builder's own variables.

use std::path::PathBuf;

use boot::kernel::{self, InspectOptions};
use boot::machine::{GuestMemory, GuestPhysAddr, PAGE_SIZE, Pfn};
use boot::pv::builder::{self, BuildConfig, FLAT_KERNEL_CS64, FLAT_KERNEL_SS64, SIF_MOD_START_PFN, START_INFO_SIZE};
use boot::pv::{self, PvBoot, PvOptions, PvOutcome, Stage};
use boot_config::select::EntryRequest;
use disk_image::Disk;

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures").join(rel)
}

fn boot(entry: EntryRequest, memory: u64) -> (PvOutcome, GuestMemory) {
    let image = std::sync::Arc::new(disk_image::RawImage::open(fixture("images/pv-kernel.img")).unwrap());
    let opts = PvOptions { entry, memory, ..PvOptions::default() };
    let (run, mem) = pv::run(image, &opts).unwrap();
    (run.outcome, mem)
}

fn booted(o: PvOutcome) -> PvBoot {
    match o {
        PvOutcome::Booted(b) => *b,
        PvOutcome::CannotBoot(c) => panic!("cannot boot: {c:?}"),
    }
}

#[test]
fn the_built_domain_is_in_guest_memory() {
    let cfg = BuildConfig::default();
    let (o, mem) = boot(EntryRequest::Default, 256 << 20);
    let b = booted(o);
    let elf = std::fs::read(fixture("kernels/xen-pv-no-hypercall-page.elf")).unwrap();
    let report = kernel::inspect(&elf, &InspectOptions::default()).unwrap();
    let xen_entry = report.pv.as_ref().unwrap().layout.unwrap().virt_entry;

    // vCPU0 as vcpu_x86_64 sets it.
    let v = &b.vcpu;
    assert_eq!(v.rip, xen_entry, "rip = the ENTRY note");
    assert_eq!((v.cs, v.ss, v.ds), (FLAT_KERNEL_CS64, FLAT_KERNEL_SS64, 0));
    assert_eq!((v.cs, v.ss), (0xe033, 0xe02b));
    assert_eq!(v.rflags, 0x200);

    // RSI maps to the start_info page, whose bytes decode to what xen.h says.
    let si_phys = pv::virt_to_phys(&mem, v, &cfg, v.rsi).expect("rsi is mapped");
    assert_eq!(si_phys, Pfn(b.layout.start_info_pfn).addr());
    let si = builder::StartInfo::read(&mem, si_phys).unwrap();
    assert_eq!(si.magic, "xen-3.0-x86_64");
    assert_eq!(si.nr_pages, (256 << 20) / PAGE_SIZE);
    assert_eq!(si.cmd_line, "root=/dev/xvda ro console=hvc0", "the menu's args, as PV-GRUB passes them");
    assert_eq!(si.pt_base, v.rsi + 3 * PAGE_SIZE, "start info, xenstore, console, then the page tables");
    assert_eq!(si.store_mfn, cfg.mfn_base + b.layout.xenstore_pfn);
    assert_eq!(si.console_mfn, cfg.mfn_base + b.layout.console_pfn);
    assert_eq!((si.store_evtchn, si.console_evtchn), (cfg.store_evtchn, cfg.console_evtchn));

    // The entry point maps to the kernel's bytes: the same bytes as in the ELF file.
    let entry_phys = pv::virt_to_phys(&mem, v, &cfg, v.rip).expect("rip is mapped");
    let text = &report.elf.as_ref().unwrap().load_segments[0];
    let file_off = (entry_phys.0 - text.paddr) + text.offset;
    assert_eq!(mem.slice(entry_phys, 16).unwrap(), &elf[file_off as usize..file_off as usize + 16]);
    // bss (memsz > filesz) is zero.
    let data = &report.elf.as_ref().unwrap().load_segments[1];
    assert!(
        mem.slice(GuestPhysAddr(data.paddr + data.filesz), data.memsz - data.filesz).unwrap().iter().all(|&b| b == 0)
    );

    // The p2m at INIT_P2M: mapped through the second set of page tables,
    // each entry the pfn's machine frame.
    assert_eq!(si.mfn_list, 0x80_0000_0000, "the fixture kernel's INIT_P2M note");
    assert_eq!(si.first_p2m_pfn, b.layout.segments.iter().find(|s| s.name == "phys2mach").unwrap().pfn);
    for pfn in [0u64, 1, 4095, si.nr_pages - 1] {
        let phys = pv::virt_to_phys(&mem, v, &cfg, si.mfn_list + pfn * 8).expect("p2m mapped");
        assert_eq!(mem.read_u64(phys).unwrap(), cfg.mfn_base + pfn);
    }

    // The initrd outside the initial mapping (MOD_START_PFN): mod_start is a pfn.
    assert_eq!(si.flags & SIF_MOD_START_PFN, SIF_MOD_START_PFN);
    let disk = Disk::open(fixture("images/pv-kernel.img")).unwrap();
    let fs = disk.open_fs(&disk.whole_disk()).unwrap();
    let initrd = fs.read_file("/boot/initrd.img", 1 << 20).unwrap();
    assert_eq!(mem.slice(Pfn(si.mod_start).addr(), initrd.len() as u64).unwrap(), &initrd[..]);
    assert_eq!(si.mod_len, initrd.len().div_ceil(PAGE_SIZE as usize) as u64 * PAGE_SIZE);
    assert!(
        pv::virt_to_phys(&mem, v, &cfg, b.layout.virt_pgtab_end).is_none(),
        "nothing mapped past the initial region"
    );

    // The page tables map themselves read-only (get_pg_prot).
    let pt_l1 = walk_l1_entry(&mem, v.cr3, cfg.mfn_base, si.pt_base);
    assert_eq!(pt_l1 & 0x2, 0, "page-table pages are mapped without _PAGE_RW");
    let kernel_l1 = walk_l1_entry(&mem, v.cr3, cfg.mfn_base, v.rip);
    assert_eq!(kernel_l1 & 0x3, 0x3, "kernel pages are present and writable");
    // The boot stack: rsp is the top of its page.
    assert_eq!(v.rsp, v.rsi + (b.layout.bootstack_pfn - b.layout.start_info_pfn + 1) * PAGE_SIZE);
    assert_eq!(START_INFO_SIZE, 1168);
}

/// The L1 entry for `vaddr` (panics when unmapped).
fn walk_l1_entry(mem: &GuestMemory, cr3: u64, mfn_base: u64, vaddr: u64) -> u64 {
    let mut mfn = cr3 >> 12;
    let mut entry = 0;
    for l in (0..4).rev() {
        let idx = (vaddr >> (12 + 9 * l)) & 0x1ff;
        entry = mem.read_u64(GuestPhysAddr((mfn - mfn_base) * PAGE_SIZE + idx * 8)).unwrap();
        assert_eq!(entry & 1, 1, "level {l} present");
        mfn = (entry & 0x000f_ffff_ffff_f000) >> 12;
    }
    entry
}

#[test]
fn an_elf_vmlinux_boots_too_and_the_initrd_is_optional() {
    let (o, _mem) = boot(EntryRequest::Index(2), 128 << 20);
    let b = booted(o);
    assert_eq!(b.start_info.mod_start, 0);
    assert_eq!(b.start_info.flags, 0);
    assert_eq!(b.start_info.cmd_line, "root=/dev/xvda ro");
}

#[test]
fn a_kernel_without_xen_notes_stops_in_xens_words() {
    let (o, _) = boot(EntryRequest::Index(1), 128 << 20);
    let PvOutcome::CannotBoot(c) = o else { panic!("booted a kernel without Xen notes") };
    assert_eq!(c.stage, Stage::Kernel);
    assert_eq!(c.messages[0], "xc_dom_find_loader: no loader found");
    assert!(c.messages.iter().any(|m| m.contains("No ELF notes or '__xen_guest' section found")));
    assert!(c.hint.unwrap().contains("no Xen ELF notes: this kernel has no PV support"));
}

#[test]
fn too_little_memory_is_libxenguests_error() {
    let (o, _) = boot(EntryRequest::Default, 4 << 20);
    let PvOutcome::CannotBoot(c) = o else { panic!("booted in 4 MiB") };
    assert_eq!(c.stage, Stage::Build);
    assert_eq!(c.messages[0], "xc_dom_chk_alloc_pages: segment padding too large (0x1000 > 0x400 - 0x0 pages)");
    assert!(c.hint.unwrap().contains("--memory"));
}

#[test]
fn menus_and_files_that_fail_stop_at_the_right_stage() {
    for (img, stage) in [("pv-fallback.img", Stage::Kernel), ("mbr-logical.img", Stage::Menu)] {
        let image = std::sync::Arc::new(disk_image::RawImage::open(fixture(&format!("images/{img}"))).unwrap());
        let (run, _) = pv::run(image, &PvOptions { memory: 64 << 20, ..PvOptions::default() }).unwrap();
        match run.outcome {
            PvOutcome::CannotBoot(c) => assert_eq!(c.stage, stage, "{img}: {c:?}"),
            PvOutcome::Booted(_) => panic!("{img} booted"),
        }
    }
}

#[test]
fn xen_fills_the_hypercall_page_the_note_names() {
    let cfg = BuildConfig::default();
    // Entry 2 is the ELF with a HYPERCALL_PAGE note; entry 0's kernel has none.
    let (o, mem) = boot(EntryRequest::Index(2), 128 << 20);
    let b = booted(o);
    let elf = std::fs::read(fixture("kernels/xen-pv.elf")).unwrap();
    let report = kernel::inspect(&elf, &InspectOptions::default()).unwrap();
    let hc = report.pv.as_ref().unwrap().layout.unwrap().virt_hypercall.expect("the fixture has the note");
    let page = pv::virt_to_phys(&mem, &b.vcpu, &cfg, hc).expect("mapped");
    assert_eq!(Some(page.0 / PAGE_SIZE), b.layout.hypercall_page_pfn);
    // Slot 0 (set_trap_table): push %rcx; push %r11; mov $0,%eax; syscall; pop %r11; pop %rcx; ret
    assert_eq!(mem.slice(page, 14).unwrap(), &[0x51, 0x41, 0x53, 0xb8, 0, 0, 0, 0, 0x0f, 0x05, 0x41, 0x5b, 0x59, 0xc3]);
    // Slot 23 (iret) does not return.
    let iret = GuestPhysAddr(page.0 + 23 * 32);
    assert_eq!(mem.slice(iret, 11).unwrap(), &[0x51, 0x41, 0x53, 0x50, 0xb8, 23, 0, 0, 0, 0x0f, 0x05]);
    // Slot 32 (event_channel_op) carries its number.
    assert_eq!(mem.read_u32(GuestPhysAddr(page.0 + 32 * 32 + 4)).unwrap(), 32);

    let (o, _) = boot(EntryRequest::Default, 128 << 20);
    assert_eq!(booted(o).layout.hypercall_page_pfn, None, "no note, no page");
}
