//! The x86_64 PV domain builder: what libxenguest does between "kernel
//! chosen" and "vCPU0 starts" (`tools/libs/guest/xg_dom_core.c`
//! `xc_dom_build_image`, `xg_dom_x86.c` `alloc_p2m_list_x86_64`,
//! `alloc_magic_pages_pv`, `alloc_pgtables_pv`/`count_pgtables`,
//! `setup_pgtables_pv`, `start_info_x86_64`, `vcpu_x86_64`; Xen at
//! c447b7308b). Every structure is written into guest memory as bytes:
//! the kernel's PT_LOAD segments, the initrd, the p2m list, start_info,
//! the four-level bootstrap page tables; reports read them back.
//!
//! Allocation is libxenguest's bump allocator: virtual addresses from
//! VIRT_BASE and pseudo-physical frames from 0 advance together, so
//! `vaddr = virt_base + pfn * 4096` inside the initial mapping. Order:
//! padding up to the kernel, the kernel, initrds mapped into the initial
//! region, the p2m list (unless INIT_P2M places it elsewhere), the
//! start_info, xenstore and console pages, the page tables, the boot
//! stack, padding to the 4 MiB-aligned end of the initial mapping, an
//! unmapped initrd (MOD_START_PFN), and last the p2m list at INIT_P2M.

use serde::Serialize;

use crate::kernel::PvLayout;
use crate::machine::{GuestMemory, GuestPhysAddr, MemoryError, PAGE_SIZE, Pfn};

const PAGE_SHIFT: u32 = 12;
/// `PGTBL_LEVEL_SHIFT_X86` (xg_private.h).
const LEVEL_SHIFT: u32 = 9;
const LEVELS: usize = 4;
/// `VIRT_BITS_X86_64`.
const VIRT_BITS: u32 = 48;
const VADDR_MASK: u64 = (1 << VIRT_BITS) - 1;
/// `_PAGE_*` (xg_private.h).
const PAGE_PRESENT: u64 = 0x001;
const PAGE_RW: u64 = 0x002;
const PAGE_USER: u64 = 0x004;
const PAGE_ACCESSED: u64 = 0x020;
const PAGE_DIRTY: u64 = 0x040;
/// x86_64 `lvl_prot` (alloc_pgtables_x86_64): L1 entries, then L2–L4.
const PROT_L1: u64 = PAGE_PRESENT | PAGE_RW | PAGE_ACCESSED;
const PROT_UPPER: u64 = PAGE_PRESENT | PAGE_RW | PAGE_ACCESSED | PAGE_DIRTY | PAGE_USER;
/// `xen-x86_64.h`: FLAT_KERNEL_CS64 (GDT index 262), FLAT_KERNEL_SS64,
/// FLAT_KERNEL_DS64 (the null selector).
pub const FLAT_KERNEL_CS64: u16 = 0xe033;
pub const FLAT_KERNEL_SS64: u16 = 0xe02b;
pub const FLAT_KERNEL_DS64: u16 = 0x0000;
/// `xen.h` SIF_MOD_START_PFN: mod_start is a pfn, not a virtual address.
pub const SIF_MOD_START_PFN: u32 = 1 << 3;
/// `xen.h` MAX_GUEST_CMDLINE.
pub const MAX_GUEST_CMDLINE: usize = 1024;
/// sizeof(struct start_info) on x86_64.
pub const START_INFO_SIZE: u64 = 1168;

/// Field offsets of `struct start_info` (xen.h) on x86_64, used both to
/// write and to decode it; the interop test compares them with what gcc
/// computes from Xen's own header.
pub const START_INFO_FIELDS: &[(&str, usize)] = &[
    ("magic", SI_MAGIC),
    ("nr_pages", SI_NR_PAGES),
    ("shared_info", SI_SHARED_INFO),
    ("flags", SI_FLAGS),
    ("store_mfn", SI_STORE_MFN),
    ("store_evtchn", SI_STORE_EVTCHN),
    ("console.domU.mfn", SI_CONSOLE_MFN),
    ("console.domU.evtchn", SI_CONSOLE_EVTCHN),
    ("pt_base", SI_PT_BASE),
    ("nr_pt_frames", SI_NR_PT_FRAMES),
    ("mfn_list", SI_MFN_LIST),
    ("mod_start", SI_MOD_START),
    ("mod_len", SI_MOD_LEN),
    ("cmd_line", SI_CMD_LINE),
    ("first_p2m_pfn", SI_FIRST_P2M_PFN),
    ("nr_p2m_frames", SI_NR_P2M_FRAMES),
];
const SI_MAGIC: usize = 0x00;
const SI_NR_PAGES: usize = 0x20;
const SI_SHARED_INFO: usize = 0x28;
const SI_FLAGS: usize = 0x30;
const SI_STORE_MFN: usize = 0x38;
const SI_STORE_EVTCHN: usize = 0x40;
const SI_CONSOLE_MFN: usize = 0x48;
const SI_CONSOLE_EVTCHN: usize = 0x50;
const SI_PT_BASE: usize = 0x58;
const SI_NR_PT_FRAMES: usize = 0x60;
const SI_MFN_LIST: usize = 0x68;
const SI_MOD_START: usize = 0x70;
const SI_MOD_LEN: usize = 0x78;
const SI_CMD_LINE: usize = 0x80;
const SI_FIRST_P2M_PFN: usize = 0x480;
const SI_NR_P2M_FRAMES: usize = 0x488;

/// Where the vmlinux ELF's bytes are.
#[derive(Debug, Clone, Copy)]
pub enum ElfImage<'a> {
    /// In host memory (an ELF file as read).
    Bytes(&'a [u8]),
    /// Already in guest memory: `len` bytes at `base` (a bzImage payload
    /// decompressed straight into the guest). Each PT_LOAD is moved to its
    /// place with `memmove` semantics in segment order, so the segments must
    /// not overlap one another's source bytes once moved; `pv::run` only
    /// passes an ELF whose segments are all in place already. Every byte of
    /// the range outside the kernel's segments is zeroed and its pages
    /// given back (not counted as written).
    InGuest { base: GuestPhysAddr, len: u64 },
}

/// What the builder needs to know beyond the bytes.
#[derive(Debug, Clone)]
pub struct BuildInput<'a> {
    /// The vmlinux ELF (the file, or a bzImage's decompressed payload).
    pub elf: ElfImage<'a>,
    /// libelf's address computation for it.
    pub layout: PvLayout,
    /// The ELF's PT_LOAD segments as (file offset, paddr, filesz, memsz).
    pub segments: Vec<(u64, u64, u64, u64)>,
    /// XEN_ELFNOTE_MOD_START_PFN: the initrd may stay out of the initial mapping.
    pub unmapped_initrd: bool,
    /// `xc_dom_guest_type`, e.g. "xen-3.0-x86_64": the start_info magic.
    pub guest_type: &'a str,
    pub initrd: Option<&'a [u8]>,
    pub cmdline: &'a str,
}

/// Machine-side choices the toolstack (and Xen) make for the domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BuildConfig {
    /// The first machine frame backing the guest. Xen hands out whatever
    /// frames are free; boot-sim gives the guest one contiguous run so that
    /// pfn and mfn differ (as they do on a real host) yet stay readable.
    pub mfn_base: u64,
    /// Event channels the toolstack allocated for xenstore and the console.
    pub store_evtchn: u32,
    pub console_evtchn: u32,
}

impl Default for BuildConfig {
    fn default() -> Self {
        BuildConfig { mfn_base: 0x0010_0000, store_evtchn: 1, console_evtchn: 2 }
    }
}

/// A named allocation (`struct xc_dom_seg`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Segment {
    pub name: String,
    pub vstart: u64,
    pub vend: u64,
    pub pfn: u64,
    pub pages: u64,
}

/// vCPU0's registers at the kernel's first instruction (`vcpu_x86_64`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct VcpuRegs {
    pub rip: u64,
    pub rsp: u64,
    pub rsi: u64,
    pub rflags: u64,
    pub cr3: u64,
    pub cs: u16,
    pub ss: u16,
    pub ds: u16,
    pub es: u16,
    pub fs: u16,
    pub gs: u16,
}

/// Where everything landed.
#[derive(Debug, Clone, Serialize)]
pub struct DomainLayout {
    pub nr_pages: u64,
    pub segments: Vec<Segment>,
    pub start_info_pfn: u64,
    pub start_info_vaddr: u64,
    pub xenstore_pfn: u64,
    pub console_pfn: u64,
    pub bootstack_pfn: u64,
    pub pgtables_pfn: u64,
    /// Page-table frames of the initial mapping (start_info.nr_pt_frames).
    pub nr_pt_frames: u64,
    /// End of the initial mapping (exclusive): VIRT_BASE … virt_pgtab_end.
    pub virt_pgtab_end: u64,
    pub p2m_vstart: u64,
    pub shared_info_mfn: u64,
    pub flags: u32,
    pub mod_start: u64,
    pub mod_len: u64,
    pub vcpu: VcpuRegs,
    /// Bytes of the kernel image copied into guest memory.
    pub kernel_bytes_loaded: u64,
    /// The page Xen filled with hypercall stubs (HYPERCALL_PAGE note).
    pub hypercall_page_pfn: Option<u64>,
}

impl DomainLayout {
    /// pfn → mfn as the builder's p2m says (`xc_dom_p2m`).
    pub fn mfn(&self, pfn: u64, cfg: &BuildConfig) -> u64 {
        cfg.mfn_base + pfn
    }
}

/// Builder failures, in libxenguest's words (`xc_dom_panic` lines).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
pub enum BuildError {
    /// XC_OUT_OF_MEMORY from `xc_dom_chk_alloc_pages`.
    #[error("xc_dom_chk_alloc_pages: segment {name} too large ({pages:#x} > {total:#x} - {used:#x} pages)")]
    TooLarge { name: String, pages: u64, total: u64, used: u64 },
    #[error("count_pgtables: not enough memory for initial mapping ({pfn_end:#x} > {p2m_size:#x})")]
    MappingTooLarge { pfn_end: u64, p2m_size: u64 },
    #[error("count_pgtables: overlapping mappings")]
    Overlap,
    #[error("xc_dom_alloc_pad: segment boundary too low ({boundary:#x} < {alloc_end:#x})")]
    PadTooLow { boundary: u64, alloc_end: u64 },
    #[error(
        "elf_load_binary: segment at paddr {paddr:#x} ({len:#x} bytes) lies outside the kernel image or the ELF file"
    )]
    BadSegment { paddr: u64, len: u64 },
    #[error("guest memory: {0}")]
    Memory(#[from] MemoryError),
}

#[derive(Debug, Clone, Copy, Default)]
struct Lvl {
    from: u64,
    to: u64,
    pfn: u64,
    pgtables: u64,
}

#[derive(Debug, Clone, Copy, Default)]
struct Mapping {
    area: Lvl,
    lvls: [Lvl; LEVELS],
}

struct Dom<'m> {
    mem: &'m mut GuestMemory,
    total_pages: u64,
    virt_alloc_end: u64,
    pfn_alloc_end: u64,
    segments: Vec<Segment>,
    maps: Vec<Mapping>,
}

impl Dom<'_> {
    /// `xc_dom_chk_alloc_pages`.
    fn chk_alloc_pages(&mut self, name: &str, pages: u64) -> Result<(), BuildError> {
        if pages > self.total_pages
            || self.pfn_alloc_end > self.total_pages
            || pages > self.total_pages - self.pfn_alloc_end
        {
            return Err(BuildError::TooLarge {
                name: name.to_string(),
                pages,
                total: self.total_pages,
                used: self.pfn_alloc_end,
            });
        }
        self.pfn_alloc_end += pages;
        self.virt_alloc_end = self.virt_alloc_end.wrapping_add(pages * PAGE_SIZE);
        Ok(())
    }

    /// `xc_dom_alloc_pad`.
    fn alloc_pad(&mut self, boundary: u64) -> Result<(), BuildError> {
        if boundary < self.virt_alloc_end {
            return Err(BuildError::PadTooLow { boundary, alloc_end: self.virt_alloc_end });
        }
        let pages = (boundary - self.virt_alloc_end) / PAGE_SIZE;
        if pages > 0 {
            let (v, p) = (self.virt_alloc_end, self.pfn_alloc_end);
            self.chk_alloc_pages("padding", pages)?;
            self.segments.push(Segment { name: "padding".into(), vstart: v, vend: boundary, pfn: p, pages });
        }
        Ok(())
    }

    /// `xc_dom_alloc_segment`: zeroes the pages (they are fresh guest
    /// memory, zero already unless written; they count as populated).
    fn alloc_segment(&mut self, name: &str, start: u64, size: u64) -> Result<Segment, BuildError> {
        let seg = self.alloc_segment_dirty(name, start, size)?;
        self.mem.zero(Pfn(seg.pfn).addr(), seg.pages * PAGE_SIZE)?;
        Ok(seg)
    }

    /// [`Dom::alloc_segment`] without the zeroing, for a kernel already in
    /// guest memory (the caller zeroes what is not the kernel's).
    fn alloc_segment_dirty(&mut self, name: &str, start: u64, size: u64) -> Result<Segment, BuildError> {
        if start != 0 {
            self.alloc_pad(start)?;
        }
        let pages = size.div_ceil(PAGE_SIZE);
        let seg = Segment {
            name: name.to_string(),
            vstart: self.virt_alloc_end,
            vend: self.virt_alloc_end.wrapping_add(size),
            pfn: self.pfn_alloc_end,
            pages,
        };
        self.chk_alloc_pages(name, pages)?;
        self.segments.push(seg.clone());
        Ok(seg)
    }

    /// `xc_dom_alloc_page`.
    fn alloc_page(&mut self, name: &str) -> Result<u64, BuildError> {
        let (v, pfn) = (self.virt_alloc_end, self.pfn_alloc_end);
        self.chk_alloc_pages(name, 1)?;
        self.segments.push(Segment { name: name.into(), vstart: v, vend: v + PAGE_SIZE, pfn, pages: 1 });
        Ok(pfn)
    }

    /// `count_pgtables`: how many page-table frames map `from..=to`, with
    /// the tables placed from `pfn_alloc_end`; levels already covered by
    /// earlier mappings are shared.
    fn count_pgtables(&self, from: u64, to: u64, pfn: u64) -> Result<Mapping, BuildError> {
        let pfn_end = pfn + (to.wrapping_sub(from) >> PAGE_SHIFT);
        if pfn_end >= self.total_pages {
            return Err(BuildError::MappingTooLarge { pfn_end, p2m_size: self.total_pages });
        }
        if self.maps.iter().any(|m| from < m.area.to && to > m.area.from) {
            return Err(BuildError::Overlap);
        }
        let mut map = Mapping::default();
        map.area.from = from & VADDR_MASK;
        map.area.to = to & VADDR_MASK;
        for l in (0..LEVELS).rev() {
            map.lvls[l].pfn = self.pfn_alloc_end + map.area.pgtables;
            if l == LEVELS - 1 {
                // The top-level table belongs to the first mapping only.
                if self.maps.is_empty() {
                    map.lvls[l] = Lvl { from: 0, to: VADDR_MASK, pfn: map.lvls[l].pfn, pgtables: 1 };
                    map.area.pgtables += 1;
                }
                continue;
            }
            let bits = PAGE_SHIFT + (l as u32 + 1) * LEVEL_SHIFT;
            let mask = (1u64 << bits) - 1;
            map.lvls[l].from = map.area.from & !mask;
            map.lvls[l].to = map.area.to | mask;
            for m in &self.maps {
                let c = m.lvls[l];
                if c.from == c.to {
                    continue;
                }
                if map.lvls[l].from >= c.from && map.lvls[l].to <= c.to {
                    map.lvls[l].from = 0;
                    map.lvls[l].to = 0;
                    break;
                }
                if map.lvls[l].from >= c.from && map.lvls[l].from <= c.to {
                    map.lvls[l].from = c.to + 1;
                }
                if map.lvls[l].to >= c.from && map.lvls[l].to <= c.to {
                    map.lvls[l].to = c.from - 1;
                }
            }
            if map.lvls[l].from < map.lvls[l].to {
                map.lvls[l].pgtables = ((map.lvls[l].to - map.lvls[l].from) >> bits) + 1;
            }
            map.area.pgtables += map.lvls[l].pgtables;
        }
        Ok(map)
    }
}

/// Where the builder puts the PT_LOAD with physical address `paddr`: the
/// kernel segment starts at the pfn of `virt_kstart` (libxenguest pads up to
/// it), and libelf copies each segment to `dest_base + (paddr - pstart)`.
pub fn kernel_segment_dest(lay: &PvLayout, paddr: u64) -> Option<u64> {
    let pfn = if lay.virt_kstart == 0 { 0 } else { lay.virt_kstart.checked_sub(lay.virt_base)? / PAGE_SIZE };
    let rel = paddr.checked_sub(lay.virt_kstart.wrapping_sub(lay.virt_offset))?;
    (pfn * PAGE_SIZE).checked_add(rel)
}

/// An order in which to move the segments (file offset, destination, file
/// size) of an ELF at `base` in guest memory so that no move overwrites
/// bytes a later move or an in-place segment still needs: segments moving
/// down by ascending source, then those moving up by descending source.
/// `None` if that order does not work (the caller then copies from host
/// memory instead). In-place segments are left out.
pub fn move_order(base: GuestPhysAddr, segs: &[(u64, u64, u64)]) -> Option<Vec<usize>> {
    let src = |i: usize| base.0.checked_add(segs[i].0);
    let mut down = Vec::new();
    let mut up = Vec::new();
    for (i, &(_, dest, _)) in segs.iter().enumerate() {
        let s = src(i)?;
        s.checked_add(segs[i].2)?;
        match dest.cmp(&s) {
            std::cmp::Ordering::Less => down.push(i),
            std::cmp::Ordering::Greater => up.push(i),
            std::cmp::Ordering::Equal => {}
        }
    }
    down.sort_unstable_by_key(|&i| src(i));
    up.sort_unstable_by_key(|&i| std::cmp::Reverse(src(i)));
    let order: Vec<usize> = down.into_iter().chain(up).collect();
    let overlaps = |a: u64, al: u64, b: u64, bl: u64| a < b + bl && b < a + al;
    for (k, &i) in order.iter().enumerate() {
        let (_, dest, len) = segs[i];
        // Bytes still needed after move k: the sources of later moves and
        // every in-place segment.
        let later = order[k + 1..].iter().copied();
        let in_place = (0..segs.len()).filter(|&j| src(j) == Some(segs[j].1));
        for j in later.chain(in_place) {
            if j != i && overlaps(dest, len, src(j)?, segs[j].2) {
                return None;
            }
        }
    }
    Some(order)
}

/// The kernel's ELF is at `base` in guest memory: move each segment's file
/// bytes to its place (nothing to do when in place), zero the rest of the
/// kernel segment `[kbase, kend)` (bss and gaps) and give back the pages of
/// the ELF outside it (headers, symbols).
fn place_in_guest(
    mem: &mut GuestMemory,
    base: GuestPhysAddr,
    len: u64,
    placed: &mut [(u64, u64, u64)],
    kbase: u64,
    kend: u64,
) -> Result<(), BuildError> {
    let order = move_order(base, placed).ok_or(BuildError::Overlap)?;
    for i in order {
        let (offset, dest, filesz) = placed[i];
        mem.copy_within(GuestPhysAddr(base.0 + offset), GuestPhysAddr(dest), filesz)?;
    }
    // Zero the kernel segment outside the segments' file bytes.
    placed.sort_unstable_by_key(|&(_, dest, _)| dest);
    let mut at = kbase;
    for &(_, dest, filesz) in placed.iter() {
        if dest > at {
            mem.zero(GuestPhysAddr(at), dest - at)?;
        }
        at = at.max(dest + filesz);
    }
    if kend > at {
        mem.zero(GuestPhysAddr(at), kend - at)?;
    }
    // The kernel segment is populated whole, as alloc_segment leaves it.
    mem.slice_mut(GuestPhysAddr(kbase), kend - kbase)?;
    let end = (base.0 + len).div_ceil(PAGE_SIZE) * PAGE_SIZE;
    if base.0 < kbase {
        mem.discard(base, kbase.min(end) - base.0)?;
    }
    if end > kend {
        let from = kend.max(base.0);
        mem.discard(GuestPhysAddr(from), end - from)?;
    }
    Ok(())
}

/// Builds the domain into `mem` (whose size is the domain's memory).
pub fn build(mem: &mut GuestMemory, input: &BuildInput<'_>, cfg: &BuildConfig) -> Result<DomainLayout, BuildError> {
    let lay = input.layout;
    let total_pages = mem.pages();
    let mut dom = Dom {
        mem,
        total_pages,
        virt_alloc_end: lay.virt_base,
        pfn_alloc_end: 0,
        segments: Vec::new(),
        maps: Vec::new(),
    };

    // The kernel, by paddr: libelf's elf_load_binary copies each PT_LOAD to
    // dest_base + (paddr - pstart); bss is the zeroed rest of memsz.
    let ksize = lay.virt_kend.wrapping_sub(lay.virt_kstart);
    let kernel = match input.elf {
        ElfImage::Bytes(_) => dom.alloc_segment("kernel", lay.virt_kstart, ksize)?,
        ElfImage::InGuest { .. } => dom.alloc_segment_dirty("kernel", lay.virt_kstart, ksize)?,
    };
    let kbase = kernel.pfn * PAGE_SIZE;
    let kend = kbase + kernel.pages * PAGE_SIZE;
    let pstart = lay.virt_kstart.wrapping_sub(lay.virt_offset);
    let elf_len = match input.elf {
        ElfImage::Bytes(b) => b.len() as u64,
        ElfImage::InGuest { len, .. } => len,
    };
    let mut loaded = 0;
    let mut placed = Vec::with_capacity(input.segments.len());
    for &(offset, paddr, filesz, memsz) in &input.segments {
        let rel =
            paddr.checked_sub(pstart).filter(|r| r.checked_add(memsz).is_some_and(|e| e <= kernel.pages * PAGE_SIZE));
        let src = offset.checked_add(filesz).filter(|&e| e <= elf_len);
        let (Some(rel), Some(_)) = (rel, src) else {
            if let ElfImage::InGuest { base, len } = input.elf {
                // As the host-memory path leaves it: the kernel's pages zeroed.
                dom.mem.discard(base, len.div_ceil(PAGE_SIZE) * PAGE_SIZE)?;
                dom.mem.zero(GuestPhysAddr(kbase), kend - kbase)?;
            }
            return Err(BuildError::BadSegment { paddr, len: memsz });
        };
        placed.push((offset, kbase + rel, filesz));
        loaded += filesz;
    }
    match input.elf {
        ElfImage::Bytes(elf) => {
            for &(offset, dest, filesz) in &placed {
                dom.mem.write(GuestPhysAddr(dest), &elf[offset as usize..(offset + filesz) as usize])?;
            }
        }
        ElfImage::InGuest { base, len } => place_in_guest(dom.mem, base, len, &mut placed, kbase, kend)?,
    }

    // xc_dom_boot.c setup_hypercall_page → XEN_DOMCTL_hypercall_init: Xen
    // writes its 64-bit PV stubs into the page the note names.
    let hypercall_page_pfn = match lay.virt_hypercall {
        Some(v) => {
            let pfn = v.wrapping_sub(lay.virt_base) >> PAGE_SHIFT;
            if pfn < kernel.pfn || pfn >= kernel.pfn + kernel.pages {
                return Err(BuildError::BadSegment { paddr: v, len: PAGE_SIZE });
            }
            dom.mem.write(Pfn(pfn).addr(), &hypercall_page())?;
            Some(pfn)
        }
        None => None,
    };

    // Modules that live in the initial mapping.
    let mut initrd_seg = None;
    let mut flags = 0;
    if let Some(rd) = input.initrd.filter(|_| !input.unmapped_initrd) {
        let seg = dom.alloc_segment("module0", 0, rd.len() as u64)?;
        dom.mem.write(Pfn(seg.pfn).addr(), rd)?;
        initrd_seg = Some(seg);
    }

    // p2m_base is honoured only below VIRT_BASE and page aligned.
    let p2m_base = lay.p2m_base.filter(|&b| b < lay.virt_base && b % PAGE_SIZE == 0);
    let p2m_size_bytes = (total_pages * 8).div_ceil(PAGE_SIZE) * PAGE_SIZE;
    let mut p2m_seg = None;
    if p2m_base.is_none() {
        p2m_seg = Some(dom.alloc_segment("phys2mach", 0, p2m_size_bytes)?);
    }

    // alloc_magic_pages_pv.
    let start_info_pfn = dom.alloc_page("start info")?;
    let xenstore_pfn = dom.alloc_page("xenstore")?;
    let console_pfn = dom.alloc_page("console")?;

    // alloc_pgtables_pv: find the 4 MiB-aligned end that also covers the
    // tables themselves, the boot stack and 512 KiB of padding.
    let extra_pages = 1 + (512 * 1024) / PAGE_SIZE;
    let mut pages = extra_pages;
    let (map, try_virt_end) = loop {
        let try_virt_end = (dom.virt_alloc_end + pages * PAGE_SIZE) | ((1 << 22) - 1);
        let map = dom.count_pgtables(lay.virt_base, try_virt_end, 0)?;
        pages = map.area.pgtables + extra_pages;
        if dom.virt_alloc_end + pages * PAGE_SIZE <= try_virt_end + 1 {
            break (map, try_virt_end);
        }
    };
    dom.maps.push(Mapping { area: Lvl { pfn: 0, ..map.area }, ..map });
    let virt_pgtab_end = try_virt_end + 1;
    let pgtables = dom.alloc_segment("page tables", 0, map.area.pgtables * PAGE_SIZE)?;
    let bootstack_pfn = dom.alloc_page("boot stack")?;
    dom.alloc_pad(virt_pgtab_end)?;

    // An initrd outside the initial mapping (MOD_START_PFN).
    if let Some(rd) = input.initrd.filter(|_| input.unmapped_initrd) {
        let seg = dom.alloc_segment("module0", 0, rd.len() as u64)?;
        dom.mem.write(Pfn(seg.pfn).addr(), rd)?;
        flags |= SIF_MOD_START_PFN;
        initrd_seg = Some(seg);
    }

    // The p2m at INIT_P2M, with its own page tables after it.
    if let Some(base) = p2m_base {
        let mut map = dom.count_pgtables(base, base + p2m_size_bytes - 1, dom.pfn_alloc_end)?;
        map.area.pfn = dom.pfn_alloc_end;
        for l in &mut map.lvls {
            l.pfn += p2m_size_bytes >> PAGE_SHIFT;
        }
        let size = p2m_size_bytes + (map.area.pgtables << PAGE_SHIFT);
        dom.maps.push(map);
        let mut seg = dom.alloc_segment("phys2mach", 0, size)?;
        seg.vstart = base;
        seg.vend = base + size;
        if let Some(last) = dom.segments.last_mut() {
            last.vstart = base;
            last.vend = base + size;
        }
        p2m_seg = Some(seg);
    }
    let p2m_seg = p2m_seg.expect("the p2m is allocated on one of the two paths");

    // setup_pgtables_x86_64: the p2m contents, then the page tables.
    let p2m = dom.mem.slice_mut(GuestPhysAddr(p2m_seg.pfn * PAGE_SIZE), total_pages * 8)?;
    for (pfn, e) in p2m.chunks_exact_mut(8).enumerate() {
        e.copy_from_slice(&(cfg.mfn_base + pfn as u64).to_le_bytes());
    }
    setup_pgtables(&mut dom, cfg)?;

    // start_info_x86_64.
    let si = Pfn(start_info_pfn).addr();
    let mut buf = vec![0u8; START_INFO_SIZE as usize];
    let magic = input.guest_type.as_bytes();
    let n = magic.len().min(31);
    buf[..n].copy_from_slice(&magic[..n]);
    let put64 = |b: &mut [u8], off: usize, v: u64| b[off..off + 8].copy_from_slice(&v.to_le_bytes());
    let put32 = |b: &mut [u8], off: usize, v: u32| b[off..off + 4].copy_from_slice(&v.to_le_bytes());
    let shared_info_mfn = cfg.mfn_base + total_pages;
    put64(&mut buf, SI_NR_PAGES, total_pages);
    put64(&mut buf, SI_SHARED_INFO, shared_info_mfn << PAGE_SHIFT);
    put32(&mut buf, SI_FLAGS, flags);
    put64(&mut buf, SI_STORE_MFN, cfg.mfn_base + xenstore_pfn);
    put32(&mut buf, SI_STORE_EVTCHN, cfg.store_evtchn);
    put64(&mut buf, SI_CONSOLE_MFN, cfg.mfn_base + console_pfn);
    put32(&mut buf, SI_CONSOLE_EVTCHN, cfg.console_evtchn);
    put64(&mut buf, SI_PT_BASE, pgtables.vstart);
    put64(&mut buf, SI_NR_PT_FRAMES, dom.maps[0].area.pgtables);
    put64(&mut buf, SI_MFN_LIST, p2m_seg.vstart);
    let (mod_start, mod_len) = match &initrd_seg {
        // SIF_MOD_START_PFN: a pfn and the page-rounded length.
        Some(s) if flags & SIF_MOD_START_PFN != 0 => (s.pfn, s.pages * PAGE_SIZE),
        Some(s) => (s.vstart, s.vend - s.vstart),
        None => (0, 0),
    };
    put64(&mut buf, SI_MOD_START, mod_start);
    put64(&mut buf, SI_MOD_LEN, mod_len);
    let cmd = input.cmdline.as_bytes();
    let n = cmd.len().min(MAX_GUEST_CMDLINE - 1);
    buf[SI_CMD_LINE..SI_CMD_LINE + n].copy_from_slice(&cmd[..n]);
    if p2m_base.is_some() {
        put64(&mut buf, SI_FIRST_P2M_PFN, p2m_seg.pfn);
        put64(&mut buf, SI_NR_P2M_FRAMES, p2m_seg.pages);
    }
    dom.mem.write(si, &buf)?;

    let vcpu = VcpuRegs {
        rip: lay.virt_entry,
        rsp: lay.virt_base + (bootstack_pfn + 1) * PAGE_SIZE,
        rsi: lay.virt_base + start_info_pfn * PAGE_SIZE,
        rflags: 1 << 9,
        cr3: (cfg.mfn_base + pgtables.pfn) << PAGE_SHIFT,
        cs: FLAT_KERNEL_CS64,
        ss: FLAT_KERNEL_SS64,
        ds: FLAT_KERNEL_DS64,
        es: FLAT_KERNEL_DS64,
        fs: FLAT_KERNEL_DS64,
        gs: FLAT_KERNEL_DS64,
    };
    Ok(DomainLayout {
        nr_pages: total_pages,
        segments: dom.segments,
        start_info_pfn,
        start_info_vaddr: vcpu.rsi,
        xenstore_pfn,
        console_pfn,
        bootstack_pfn,
        pgtables_pfn: pgtables.pfn,
        nr_pt_frames: dom.maps[0].area.pgtables,
        virt_pgtab_end,
        p2m_vstart: p2m_seg.vstart,
        shared_info_mfn,
        flags,
        mod_start,
        mod_len,
        vcpu,
        kernel_bytes_loaded: loaded,
        hypercall_page_pfn,
    })
}

/// `__HYPERVISOR_iret` (xen.h): the one hypercall that does not return.
const HYPERVISOR_IRET: u32 = 23;

/// Xen's hypercall page for a 64-bit PV guest
/// (`xen/arch/x86/pv/hypercall.c` `pv_ring3_init_hypercall_page`): 128
/// 32-byte slots `push %rcx; push %r11; mov $nr,%eax; syscall; pop %r11;
/// pop %rcx; ret`, except iret's, which pushes %rax and does not return.
pub fn hypercall_page() -> [u8; PAGE_SIZE as usize] {
    let mut page = [0u8; PAGE_SIZE as usize];
    for (i, slot) in page.chunks_exact_mut(32).enumerate() {
        let nr = i as u32;
        if nr == HYPERVISOR_IRET {
            slot[..5].copy_from_slice(&[0x51, 0x41, 0x53, 0x50, 0xb8]);
            slot[5..9].copy_from_slice(&nr.to_le_bytes());
            slot[9..11].copy_from_slice(&[0x0f, 0x05]);
            continue;
        }
        slot[..4].copy_from_slice(&[0x51, 0x41, 0x53, 0xb8]);
        slot[4..8].copy_from_slice(&nr.to_le_bytes());
        slot[8..14].copy_from_slice(&[0x0f, 0x05, 0x41, 0x5b, 0x59, 0xc3]);
    }
    page
}

/// `setup_pgtables_pv` with `get_pg_prot`: every level of every mapping,
/// entries `mfn << 12 | prot`, page-table pages mapped read-only.
fn setup_pgtables(dom: &mut Dom<'_>, cfg: &BuildConfig) -> Result<(), BuildError> {
    let maps = dom.maps.clone();
    let prot = |l: usize, pfn: u64| -> u64 {
        if l > 0 {
            return PROT_UPPER;
        }
        let in_tables = maps.iter().any(|m| {
            let s = m.lvls[LEVELS - 1].pfn;
            pfn >= s && pfn < s + m.area.pgtables
        });
        if in_tables { PROT_L1 & !PAGE_RW } else { PROT_L1 }
    };
    for l in (0..LEVELS).rev() {
        for m1 in &maps {
            let (from, to) = (m1.lvls[l].from, m1.lvls[l].to);
            let table = Pfn(m1.lvls[l].pfn).addr();
            let shift = PAGE_SHIFT + l as u32 * LEVEL_SHIFT;
            for m2 in &maps {
                let lvl = if l > 0 { m2.lvls[l - 1] } else { m2.area };
                if l > 0 && lvl.pgtables == 0 {
                    continue;
                }
                if lvl.from >= to || lvl.to <= from {
                    continue;
                }
                let p_s = (from.max(lvl.from) - from) >> shift;
                let p_e = (to.min(lvl.to) - from) >> shift;
                let first_pfn = ((from.max(lvl.from) - lvl.from) >> shift) + lvl.pfn;
                for (pfn, p) in (first_pfn..).zip(p_s..=p_e) {
                    let entry = ((cfg.mfn_base + pfn) << PAGE_SHIFT) | prot(l, pfn);
                    dom.mem.write_u64(GuestPhysAddr(table.0 + p * 8), entry)?;
                }
            }
        }
    }
    Ok(())
}

/// start_info as read back from guest memory (for `--dump-start-info` and
/// the reports): proof that the bytes are there, not the builder's variables.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StartInfo {
    pub magic: String,
    pub nr_pages: u64,
    pub shared_info: u64,
    pub flags: u32,
    pub store_mfn: u64,
    pub store_evtchn: u32,
    pub console_mfn: u64,
    pub console_evtchn: u32,
    pub pt_base: u64,
    pub nr_pt_frames: u64,
    pub mfn_list: u64,
    pub mod_start: u64,
    pub mod_len: u64,
    pub cmd_line: String,
    pub first_p2m_pfn: u64,
    pub nr_p2m_frames: u64,
}

impl StartInfo {
    /// Decodes `struct start_info` (xen.h, x86_64 layout) at `addr`.
    pub fn read(mem: &GuestMemory, addr: GuestPhysAddr) -> Result<StartInfo, MemoryError> {
        let b = mem.slice(addr, START_INFO_SIZE)?;
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"));
        let cstr =
            |s: &[u8]| String::from_utf8_lossy(&s[..s.iter().position(|&c| c == 0).unwrap_or(s.len())]).into_owned();
        Ok(StartInfo {
            magic: cstr(&b[SI_MAGIC..SI_NR_PAGES]),
            nr_pages: u64_at(SI_NR_PAGES),
            shared_info: u64_at(SI_SHARED_INFO),
            flags: u32_at(SI_FLAGS),
            store_mfn: u64_at(SI_STORE_MFN),
            store_evtchn: u32_at(SI_STORE_EVTCHN),
            console_mfn: u64_at(SI_CONSOLE_MFN),
            console_evtchn: u32_at(SI_CONSOLE_EVTCHN),
            pt_base: u64_at(SI_PT_BASE),
            nr_pt_frames: u64_at(SI_NR_PT_FRAMES),
            mfn_list: u64_at(SI_MFN_LIST),
            mod_start: u64_at(SI_MOD_START),
            mod_len: u64_at(SI_MOD_LEN),
            cmd_line: cstr(&b[SI_CMD_LINE..SI_FIRST_P2M_PFN]),
            first_p2m_pfn: u64_at(SI_FIRST_P2M_PFN),
            nr_p2m_frames: u64_at(SI_NR_P2M_FRAMES),
        })
    }
}

/// Walks the four-level page tables written in guest memory, as the MMU
/// would from CR3: the guest-physical address a virtual address maps to.
pub fn translate(mem: &GuestMemory, cr3: u64, mfn_base: u64, vaddr: u64) -> Option<GuestPhysAddr> {
    let mut table_mfn = cr3 >> PAGE_SHIFT;
    for l in (0..LEVELS).rev() {
        let shift = PAGE_SHIFT + l as u32 * LEVEL_SHIFT;
        let index = (vaddr >> shift) & 0x1ff;
        let table_pfn = table_mfn.checked_sub(mfn_base)?;
        let entry = mem.read_u64(GuestPhysAddr(table_pfn * PAGE_SIZE + index * 8)).ok()?;
        if entry & PAGE_PRESENT == 0 {
            return None;
        }
        table_mfn = (entry & 0x000f_ffff_ffff_f000) >> PAGE_SHIFT;
    }
    let pfn = table_mfn.checked_sub(mfn_base)?;
    Some(GuestPhysAddr(pfn * PAGE_SIZE + (vaddr & (PAGE_SIZE - 1))))
}
