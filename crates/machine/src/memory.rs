//! Guest memory: one contiguous, bounds-checked byte range the size of the
//! guest's RAM, like vm-memory's `GuestMemoryMmap` with one region.
//!
//! The backing is an anonymous private mapping ([`HostBuffer`]), zero until
//! written, so the host commits only the memory the simulation writes: a
//! 1 GiB guest whose builder touches 60 MiB costs about 60 MiB. It is
//! advised for transparent huge pages (`madvise(MADV_HUGEPAGE)`), because
//! first touches are most of a PV boot's cost: a Debian kernel decompressed
//! into the guest touches about 13,000 pages, and at 1.5–3.6 µs per 4 KiB
//! fault on the 2-core VMs we measure on that was 20–45 ms, against about
//! 5 ms for the 2 MiB faults (one per 512 pages; the kernel zeroes each huge
//! page). Where THP is off (`never`), the advice does nothing and the
//! faults are 4 KiB again. Pages written are tracked for the memory map
//! reports. Contiguity is what lets a kernel payload be decompressed
//! straight into guest memory with no extra copy ([`GuestMemory::slice_mut`]).

use serde::Serialize;

use super::units::{GuestPhysAddr, PAGE_SHIFT, PAGE_SIZE, Pfn};

/// Largest guest boot-sim simulates. The buffer is virtual until touched,
/// but the host's overcommit policy refuses allocations far above its RAM.
pub const MAX_GUEST_MEMORY: u64 = 16 << 30;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, Serialize)]
pub enum MemoryError {
    #[error("guest access of {len} bytes at {addr} is outside guest memory ({size:#x} bytes)")]
    OutOfRange { addr: GuestPhysAddr, len: u64, size: u64 },
    #[error("guest memory of {requested} bytes is not a positive multiple of 4 KiB, or above {max} bytes")]
    BadSize { requested: u64, max: u64 },
}

pub struct GuestMemory {
    bytes: HostBuffer,
    /// One bit per page: written at least once.
    touched: Vec<u64>,
}

impl std::fmt::Debug for GuestMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestMemory")
            .field("size", &self.bytes.len())
            .field("touched_pages", &self.touched_pages())
            .finish()
    }
}

impl GuestMemory {
    pub fn new(size: u64) -> Result<GuestMemory, MemoryError> {
        if size == 0 || !size.is_multiple_of(PAGE_SIZE) || size > MAX_GUEST_MEMORY {
            return Err(MemoryError::BadSize { requested: size, max: MAX_GUEST_MEMORY });
        }
        let pages = size / PAGE_SIZE;
        let bytes = HostBuffer::zeroed(size as usize)
            .map_err(|_| MemoryError::BadSize { requested: size, max: MAX_GUEST_MEMORY })?;
        Ok(GuestMemory { bytes, touched: vec![0; pages.div_ceil(64) as usize] })
    }

    #[inline]
    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }

    pub fn pages(&self) -> u64 {
        self.size() / PAGE_SIZE
    }

    #[inline(always)]
    fn range(&self, addr: GuestPhysAddr, len: u64) -> Result<std::ops::Range<usize>, MemoryError> {
        let end = addr.0.checked_add(len).filter(|&e| e <= self.size());
        match end {
            // Both fit in the buffer's length, a usize.
            Some(end) => Ok(addr.0 as usize..end as usize),
            None => Err(MemoryError::OutOfRange { addr, len, size: self.size() }),
        }
    }

    #[inline(always)]
    fn mark(&mut self, addr: GuestPhysAddr, len: u64) {
        if len == 0 {
            return;
        }
        let first = addr.0 >> PAGE_SHIFT;
        let last = (addr.0 + len - 1) >> PAGE_SHIFT;
        for p in first..=last {
            self.touched[(p / 64) as usize] |= 1 << (p % 64);
        }
    }

    #[inline(always)]
    pub fn read(&self, addr: GuestPhysAddr, buf: &mut [u8]) -> Result<(), MemoryError> {
        let r = self.range(addr, buf.len() as u64)?;
        buf.copy_from_slice(&self.bytes[r]);
        Ok(())
    }

    #[inline(always)]
    pub fn slice(&self, addr: GuestPhysAddr, len: u64) -> Result<&[u8], MemoryError> {
        let r = self.range(addr, len)?;
        Ok(&self.bytes[r])
    }

    #[inline(always)]
    pub fn write(&mut self, addr: GuestPhysAddr, data: &[u8]) -> Result<(), MemoryError> {
        let r = self.range(addr, data.len() as u64)?;
        self.bytes[r].copy_from_slice(data);
        self.mark(addr, data.len() as u64);
        Ok(())
    }

    /// A writable view for producers that write in place (decompressors,
    /// blkback's data copies). The range counts as touched.
    #[inline(always)]
    pub fn slice_mut(&mut self, addr: GuestPhysAddr, len: u64) -> Result<&mut [u8], MemoryError> {
        let r = self.range(addr, len)?;
        self.mark(addr, len);
        Ok(&mut self.bytes[r])
    }

    pub fn fill(&mut self, addr: GuestPhysAddr, len: u64, byte: u8) -> Result<(), MemoryError> {
        self.slice_mut(addr, len)?.fill(byte);
        Ok(())
    }

    /// Zeroes `len` bytes at `addr` without committing host pages: a page
    /// never written is zero already and is left alone. The range counts as
    /// touched (populated), as after [`GuestMemory::fill`].
    pub fn zero(&mut self, addr: GuestPhysAddr, len: u64) -> Result<(), MemoryError> {
        let r = self.range(addr, len)?;
        let mut at = r.start;
        while at < r.end {
            let page_end = ((at as u64 / PAGE_SIZE + 1) * PAGE_SIZE).min(r.end as u64) as usize;
            if self.is_touched(Pfn(at as u64 >> PAGE_SHIFT)) {
                self.bytes[at..page_end].fill(0);
            }
            at = page_end;
        }
        self.mark(addr, len);
        Ok(())
    }

    /// Zeroes the whole pages `[addr, addr + len)` (page-aligned) and counts
    /// them as never written: scratch space a builder used and gave back.
    pub fn discard(&mut self, addr: GuestPhysAddr, len: u64) -> Result<(), MemoryError> {
        let r = self.range(addr, len)?;
        if !addr.0.is_multiple_of(PAGE_SIZE) || !len.is_multiple_of(PAGE_SIZE) {
            return Err(MemoryError::OutOfRange { addr, len, size: self.size() });
        }
        self.zero_touched_pages(r.start as u64 >> PAGE_SHIFT, r.end as u64 >> PAGE_SHIFT);
        Ok(())
    }

    fn zero_touched_pages(&mut self, first: u64, end: u64) {
        for p in first..end {
            let (w, bit) = ((p / 64) as usize, 1u64 << (p % 64));
            if self.touched[w] & bit != 0 {
                let at = (p * PAGE_SIZE) as usize;
                self.bytes[at..at + PAGE_SIZE as usize].fill(0);
                self.touched[w] &= !bit;
            }
        }
    }

    /// Moves `len` bytes from `src` to `dst` inside guest memory (the
    /// ranges may overlap, as `memmove`). The destination counts as touched,
    /// except whole pages that were never written and receive a page never
    /// written: both are zero, so nothing is copied and the host never
    /// backs them (a kernel's `.bss` moved into place costs nothing).
    pub fn copy_within(&mut self, src: GuestPhysAddr, dst: GuestPhysAddr, len: u64) -> Result<(), MemoryError> {
        let s = self.range(src, len)?;
        let d = self.range(dst, len)?;
        if src.0 % PAGE_SIZE != dst.0 % PAGE_SIZE || src == dst {
            self.bytes.copy_within(s, d.start);
            self.mark(dst, len);
            return Ok(());
        }
        // Page by page, in memmove's direction so that no source page is
        // overwritten before it is read. Chunks end at page boundaries
        // (the same in both ranges, their offsets in a page being equal).
        let mut chunks = Vec::new();
        let mut at = 0u64;
        while at < len {
            let n = (PAGE_SIZE - (src.0 + at) % PAGE_SIZE).min(len - at);
            chunks.push((at, n));
            at += n;
        }
        if dst.0 > src.0 {
            chunks.reverse();
        }
        for (at, n) in chunks {
            let (sa, da) = (src.0 + at, dst.0 + at);
            let whole = n == PAGE_SIZE;
            let (sp, dp) = (Pfn(sa >> PAGE_SHIFT), Pfn(da >> PAGE_SHIFT));
            if whole && !self.is_touched(sp) {
                if self.is_touched(dp) {
                    self.zero_touched_pages(dp.0, dp.0 + 1);
                }
                continue;
            }
            self.bytes.copy_within(sa as usize..(sa + n) as usize, da as usize);
            self.mark(GuestPhysAddr(da), n);
        }
        Ok(())
    }

    /// `N` bytes at `addr`, for the little-endian readers below.
    #[inline]
    fn read_array<const N: usize>(&self, addr: GuestPhysAddr) -> Result<[u8; N], MemoryError> {
        let mut b = [0u8; N];
        self.read(addr, &mut b)?;
        Ok(b)
    }

    #[inline]
    pub fn read_u64(&self, addr: GuestPhysAddr) -> Result<u64, MemoryError> {
        self.read_array(addr).map(u64::from_le_bytes)
    }

    #[inline]
    pub fn read_u32(&self, addr: GuestPhysAddr) -> Result<u32, MemoryError> {
        self.read_array(addr).map(u32::from_le_bytes)
    }

    #[inline]
    pub fn read_u16(&self, addr: GuestPhysAddr) -> Result<u16, MemoryError> {
        self.read_array(addr).map(u16::from_le_bytes)
    }

    #[inline]
    pub fn write_u64(&mut self, addr: GuestPhysAddr, v: u64) -> Result<(), MemoryError> {
        self.write(addr, &v.to_le_bytes())
    }

    #[inline]
    pub fn write_u32(&mut self, addr: GuestPhysAddr, v: u32) -> Result<(), MemoryError> {
        self.write(addr, &v.to_le_bytes())
    }

    #[inline]
    pub fn write_u16(&mut self, addr: GuestPhysAddr, v: u16) -> Result<(), MemoryError> {
        self.write(addr, &v.to_le_bytes())
    }

    #[inline]
    pub fn is_touched(&self, pfn: Pfn) -> bool {
        pfn.0 < self.pages() && self.touched[(pfn.0 / 64) as usize] & (1 << (pfn.0 % 64)) != 0
    }

    pub fn touched_pages(&self) -> u64 {
        self.touched.iter().map(|w| u64::from(w.count_ones())).sum()
    }
}

/// A zeroed host buffer for guest-sized data: an anonymous private mapping
/// (memmap2), committed by the host only where written and advised for
/// transparent huge pages (see the module comment). The bytes start
/// [`HostBuffer::SKEW`] bytes into the mapping: malloc's big blocks start
/// 16 bytes into a page, and so do the buffers guest pages are copied from
/// and to (the image reader's, ext4-view's); `rep movsb` between buffers at
/// different offsets in a page is much slower (the ring's 4 KiB copies ran
/// 1.7x slower with guest memory page-aligned).
///
/// That page offset is taken from a 2 MiB boundary of the mapping, not from
/// its start: mmap places a mapping at any 4 KiB boundary, and the kernel
/// backs with a huge page only a 2 MiB-aligned range that lies wholly in
/// the mapping (Linux `include/linux/huge_mm.h`, `thp_vma_suitable_order`,
/// `transhuge_vma_suitable` before 6.8). The
/// bytes from the start to the first boundary, and guest-physical 2 MiB
/// ranges that straddle two host huge pages, were faulted in 4 KiB at a
/// time: a Debian kernel's 13.5 MiB file buffer took about 400 such faults.
/// The mapping of a buffer of a huge page or more is one huge page longer
/// so the aligned bytes still fit; the pages before the boundary are never
/// touched and never backed.
pub struct HostBuffer {
    map: memmap2::MmapMut,
    /// Where the bytes start in `map`: the first 2 MiB boundary (buffers
    /// of a huge page or more), plus SKEW.
    start: usize,
    len: usize,
}

impl HostBuffer {
    const SKEW: usize = 16;
    /// x86-64's PMD size, the transparent huge page.
    const HUGE_PAGE: usize = 2 << 20;

    /// `len` zero bytes. Fails where the host refuses the mapping (its
    /// overcommit policy, an address-space limit).
    pub fn zeroed(len: usize) -> std::io::Result<HostBuffer> {
        // A buffer under a huge page is not aligned: there, one huge page
        // (2 MiB zeroed by the kernel) costs more than its few 4 KiB faults.
        let align = if len >= Self::HUGE_PAGE { Self::HUGE_PAGE } else { 0 };
        let too_big = || std::io::Error::other(format!("{len} bytes do not fit a mapping"));
        let map_len = len.checked_add(Self::SKEW + align).ok_or_else(too_big)?;
        let map = memmap2::MmapOptions::new().len(map_len).map_anon()?;
        // Advice only: a kernel without THP (or with it set to `never`)
        // refuses or ignores it, and the buffer works the same.
        #[cfg(target_os = "linux")]
        let _ = map.advise(memmap2::Advice::HugePage);
        let addr = map.as_ptr() as usize;
        let pad = if align == 0 { 0 } else { (align - addr % align) % align };
        Ok(HostBuffer { map, start: pad + Self::SKEW, len })
    }
}

impl std::ops::Deref for HostBuffer {
    type Target = [u8];
    #[inline]
    fn deref(&self) -> &[u8] {
        &self.map[self.start..self.start + self.len]
    }
}

impl std::ops::DerefMut for HostBuffer {
    #[inline]
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.map[self.start..self.start + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_are_checked_and_pages_tracked() {
        let mut m = GuestMemory::new(4 * PAGE_SIZE).unwrap();
        m.write_u64(GuestPhysAddr(PAGE_SIZE - 4), 0x1122_3344_5566_7788).unwrap();
        assert_eq!(m.read_u64(GuestPhysAddr(PAGE_SIZE - 4)).unwrap(), 0x1122_3344_5566_7788);
        assert!(m.is_touched(Pfn(0)) && m.is_touched(Pfn(1)) && !m.is_touched(Pfn(2)));
        assert_eq!(m.touched_pages(), 2);
        assert!(m.write(GuestPhysAddr(4 * PAGE_SIZE - 1), &[0, 0]).is_err());
        assert!(m.read_u32(GuestPhysAddr(u64::MAX - 1)).is_err());
        assert!(GuestMemory::new(4097).is_err());
        assert!(GuestMemory::new(MAX_GUEST_MEMORY + PAGE_SIZE).is_err());
    }

    #[test]
    fn host_buffers_start_skewed_from_a_huge_page_boundary() {
        let big = HostBuffer::zeroed(3 * HostBuffer::HUGE_PAGE + 5).unwrap();
        assert_eq!(big.len(), 3 * HostBuffer::HUGE_PAGE + 5);
        assert_eq!(big.as_ptr() as usize % HostBuffer::HUGE_PAGE, HostBuffer::SKEW);
        assert!(big.iter().all(|&b| b == 0));
        // Under a huge page: only the skew inside a 4 KiB page.
        let small = HostBuffer::zeroed(100_000).unwrap();
        assert_eq!(small.len(), 100_000);
        assert_eq!(small.as_ptr() as usize % PAGE_SIZE as usize, HostBuffer::SKEW);
    }

    #[test]
    fn sparse_writes_and_moves_leave_zero_pages_alone() {
        let mut m = GuestMemory::new(16 * PAGE_SIZE).unwrap();
        m.write(GuestPhysAddr(2 * PAGE_SIZE + 10), &[1]).unwrap();
        m.write(GuestPhysAddr(5 * PAGE_SIZE + 5), &[2]).unwrap();
        assert!(m.is_touched(Pfn(2)) && !m.is_touched(Pfn(3)) && !m.is_touched(Pfn(4)) && m.is_touched(Pfn(5)));
        // A move down over a written page: zero source pages zero it,
        // written ones are copied; untouched onto untouched stays untouched.
        m.write_u64(GuestPhysAddr(9 * PAGE_SIZE), 7).unwrap();
        m.copy_within(GuestPhysAddr(2 * PAGE_SIZE), GuestPhysAddr(8 * PAGE_SIZE), 4 * PAGE_SIZE).unwrap();
        assert_eq!(m.read_u64(GuestPhysAddr(9 * PAGE_SIZE)).unwrap(), 0, "zero page moved over a written one");
        assert!(!m.is_touched(Pfn(9)) && !m.is_touched(Pfn(10)));
        assert_eq!(m.slice(GuestPhysAddr(8 * PAGE_SIZE + 10), 1).unwrap(), [1]);
        assert_eq!(m.slice(GuestPhysAddr(11 * PAGE_SIZE + 5), 1).unwrap(), [2]);
        // Overlapping move up, unaligned length.
        m.copy_within(GuestPhysAddr(8 * PAGE_SIZE), GuestPhysAddr(9 * PAGE_SIZE), 3 * PAGE_SIZE + 9).unwrap();
        assert_eq!(m.slice(GuestPhysAddr(9 * PAGE_SIZE + 10), 1).unwrap(), [1]);
        assert_eq!(m.slice(GuestPhysAddr(12 * PAGE_SIZE + 5), 1).unwrap(), [2]);
    }
}
