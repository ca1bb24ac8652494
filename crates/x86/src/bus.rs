//! The interpreter's view of the machine outside the CPU: physical memory
//! and I/O ports.
//!
//! Shaped after rust-vmm `vm-superio`/`vm-memory`: a small trait whose
//! methods are plain reads and writes, no I/O of their own. Addresses are
//! *linear* addresses after segmentation; paging is not modelled, so they
//! are also physical addresses. The CPU applies the A20 mask before calling
//! the bus (Intel SDM Vol. 3A §21.1.1 "Address Translation in Real-Address
//! Mode": with A20M# asserted bit 20 of every physical address is forced to
//! zero), so a bus never sees an address with bit 20 set while A20 is off.

/// Width of one port access or of one element of a string port transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AccessSize {
    /// `inb`/`outb`/`insb`/`outsb`.
    Byte = 1,
    /// `inw`/`outw`/`insw`/`outsw`.
    Word = 2,
    /// `inl`/`outl`/`insd`/`outsd`.
    Dword = 4,
}

impl AccessSize {
    /// Size in bytes.
    pub const fn bytes(self) -> usize {
        self as usize
    }

    /// Mask of the value bits an access of this width carries.
    pub const fn mask(self) -> u32 {
        match self {
            AccessSize::Byte => 0xFF,
            AccessSize::Word => 0xFFFF,
            AccessSize::Dword => 0xFFFF_FFFF,
        }
    }

    pub(crate) fn from_bytes(n: u32) -> Self {
        match n {
            1 => AccessSize::Byte,
            2 => AccessSize::Word,
            _ => AccessSize::Dword,
        }
    }
}

/// Memory and port space seen by the CPU.
///
/// Only [`Bus::read_u8`], [`Bus::write_u8`], [`Bus::port_in`] and
/// [`Bus::port_out`] are required; everything else has a correct default
/// built on them, and a RAM-backed bus overrides the bulk methods with slice
/// copies for speed (the decoded-instruction cache re-checks cached
/// instructions with [`Bus::read_code`], and `rep movs/stos/ins/outs` use
/// the bulk methods).
///
/// Memory changes the CPU's decoded-instruction cache sees: the CPU's own
/// writes through this trait (each changes only the bytes it addresses),
/// anything during a port method (`port_in`, `port_out`, the string forms:
/// a device may do DMA there) or [`Bus::tsc`], and anything between two
/// [`crate::Cpu::run`] calls (firmware services, DMA, loading images). The
/// read methods, [`Bus::a20_enabled`] and [`Bus::new_code`] must leave
/// memory as it is.
pub trait Bus {
    /// Reads one byte of physical memory. Unbacked addresses read as the bus
    /// decides (real hardware floats to 0xFF).
    fn read_u8(&mut self, addr: u32) -> u8;
    /// Writes one byte of physical memory; writes to unbacked or ROM
    /// addresses are the bus's business (typically ignored).
    fn write_u8(&mut self, addr: u32, value: u8);

    /// Little-endian 16-bit read; `addr + 1` may wrap at 4 GiB.
    fn read_u16(&mut self, addr: u32) -> u16 {
        u16::from_le_bytes([self.read_u8(addr), self.read_u8(addr.wrapping_add(1))])
    }
    /// Little-endian 32-bit read.
    fn read_u32(&mut self, addr: u32) -> u32 {
        u32::from(self.read_u16(addr)) | (u32::from(self.read_u16(addr.wrapping_add(2))) << 16)
    }
    /// Little-endian 16-bit write.
    fn write_u16(&mut self, addr: u32, value: u16) {
        let b = value.to_le_bytes();
        self.write_u8(addr, b[0]);
        self.write_u8(addr.wrapping_add(1), b[1]);
    }
    /// Little-endian 32-bit write.
    fn write_u32(&mut self, addr: u32, value: u32) {
        self.write_u16(addr, value as u16);
        self.write_u16(addr.wrapping_add(2), (value >> 16) as u16);
    }

    /// Fills `buf` from consecutive addresses starting at `addr` (wrapping
    /// at 4 GiB). The CPU never passes a range that crosses the A20 wrap.
    fn read_bytes(&mut self, addr: u32, buf: &mut [u8]) {
        let mut a = addr;
        for b in buf {
            *b = self.read_u8(a);
            a = a.wrapping_add(1);
        }
    }
    /// Writes `data` to consecutive addresses starting at `addr`.
    fn write_bytes(&mut self, addr: u32, data: &[u8]) {
        let mut a = addr;
        for &b in data {
            self.write_u8(a, b);
            a = a.wrapping_add(1);
        }
    }
    /// Copies `len` bytes from `src` to `dst` with `memmove` semantics (the
    /// result is as if the source were read completely before writing).
    /// `rep movs` calls this only where that equals the element-by-element
    /// order the instruction defines.
    fn copy_bytes(&mut self, dst: u32, src: u32, len: u32) {
        copy_in_chunks(self, dst, src, len);
    }

    /// Instruction fetch: fills `buf` with the 16 bytes at `addr` (the
    /// longest x86 instruction is 15 bytes). Called to decode and, after
    /// memory may have changed, to re-check a cached instruction, so a
    /// RAM-backed bus should make it a slice copy. Reads of unbacked bytes
    /// past the instruction must not have side effects.
    fn read_code(&mut self, addr: u32, buf: &mut [u8; 16]) {
        self.read_bytes(addr, buf);
    }

    /// `in` from `port`; only the low `size` bytes of the result are used.
    fn port_in(&mut self, port: u16, size: AccessSize) -> u32;
    /// `out` to `port`; `value` is already masked to `size`.
    fn port_out(&mut self, port: u16, size: AccessSize, value: u32);

    /// `rep ins`: fills `data` (`data.len() / size` elements, in transfer
    /// order) from `port` as one request, the way Xen hands a whole
    /// `rep ins` to the device model as one ioreq with `count` = repetitions
    /// (xen/arch/x86/hvm/emulate.c `hvmemul_rep_ins`). The default performs
    /// one [`Bus::port_in`] per element.
    fn port_in_string(&mut self, port: u16, size: AccessSize, data: &mut [u8]) {
        for chunk in data.chunks_exact_mut(size.bytes()) {
            let v = self.port_in(port, size).to_le_bytes();
            chunk.copy_from_slice(&v[..size.bytes()]);
        }
    }
    /// `rep outs`: `data` holds the elements in transfer order.
    fn port_out_string(&mut self, port: u16, size: AccessSize, data: &[u8]) {
        for chunk in data.chunks_exact(size.bytes()) {
            let mut v = [0u8; 4];
            v[..chunk.len()].copy_from_slice(chunk);
            self.port_out(port, size, u32::from_le_bytes(v));
        }
    }

    /// State of the A20 gate (a chipset output: port 0x92 bit 1, the 8042
    /// output port, or the BIOS's int 15h AX=2401h). The CPU samples it when
    /// [`crate::Cpu::run`] starts and after every `out`/`outs`.
    fn a20_enabled(&self) -> bool {
        true
    }

    /// Value `rdtsc` returns. `instructions` is the CPU's executed-instruction
    /// counter, so an embedder that charges simulated time per instruction
    /// can derive its clock from it. The default counts one tick per
    /// instruction.
    fn tsc(&mut self, instructions: u64) -> u64 {
        instructions
    }

    /// Called when the CPU is about to execute code at `linear` that its
    /// decoded-instruction cache does not hold (the first execution there,
    /// or after the bytes changed or the cache slot was reused), with the
    /// registers as they are before that instruction. Returning `true`
    /// stops the run with [`crate::Exit::NewCode`] before the instruction
    /// executes; the next [`crate::Cpu::run`] executes it (it is cached by
    /// then, so this is not called again for it). Embedders use it to catch
    /// control reaching a place they recognise from memory contents (a
    /// kernel's entry point) at the cost of a check per decode, not per
    /// instruction. It may read memory but must not write it (the
    /// instruction is already decoded). The default never stops.
    fn new_code(&mut self, _linear: u32, _regs: &crate::Registers) -> bool {
        false
    }
}

/// A flat RAM bus: `size` bytes of zeroed memory at physical address 0,
/// unbacked addresses read as 0xFF and ignore writes, ports read as all ones
/// and ignore writes. Tests, benches, fuzzing and simple embedders use it.
#[derive(Clone, Debug)]
pub struct RamBus {
    /// The memory, index = physical address.
    pub ram: Vec<u8>,
    /// A20 gate state reported by [`Bus::a20_enabled`].
    pub a20: bool,
    /// A linear address whose first execution stops the run with
    /// [`crate::Exit::NewCode`] (see [`Bus::new_code`]): where a bench or
    /// test wants a guest program to end, such as the jump into code it
    /// has just unpacked.
    pub stop_at: Option<u32>,
}

impl RamBus {
    /// `size` bytes of zeroed RAM, A20 enabled, no stop address.
    pub fn new(size: usize) -> Self {
        RamBus { ram: vec![0; size], a20: true, stop_at: None }
    }

    /// Copies `data` into RAM at `addr`.
    ///
    /// # Panics
    /// If the range is outside the RAM (a caller bug, not guest data).
    pub fn load(&mut self, addr: u32, data: &[u8]) {
        let a = addr as usize;
        self.ram[a..a + data.len()].copy_from_slice(data);
    }

    #[inline]
    fn range(&self, addr: u32, len: usize) -> Option<std::ops::Range<usize>> {
        let a = addr as usize;
        let end = a.checked_add(len)?;
        (end <= self.ram.len()).then_some(a..end)
    }
}

impl Bus for RamBus {
    #[inline]
    fn read_u8(&mut self, addr: u32) -> u8 {
        self.ram.get(addr as usize).copied().unwrap_or(0xFF)
    }
    #[inline]
    fn write_u8(&mut self, addr: u32, value: u8) {
        if let Some(b) = self.ram.get_mut(addr as usize) {
            *b = value;
        }
    }
    #[inline]
    fn read_u16(&mut self, addr: u32) -> u16 {
        match self.range(addr, 2) {
            Some(r) => u16::from_le_bytes([self.ram[r.start], self.ram[r.start + 1]]),
            None => u16::from_le_bytes([self.read_u8(addr), self.read_u8(addr.wrapping_add(1))]),
        }
    }
    #[inline]
    fn read_u32(&mut self, addr: u32) -> u32 {
        match self.range(addr, 4).and_then(|r| self.ram.get(r)) {
            Some(s) => u32::from_le_bytes([s[0], s[1], s[2], s[3]]),
            None => u32::from(self.read_u16(addr)) | (u32::from(self.read_u16(addr.wrapping_add(2))) << 16),
        }
    }
    #[inline]
    fn write_u16(&mut self, addr: u32, value: u16) {
        match self.range(addr, 2) {
            Some(r) => self.ram[r].copy_from_slice(&value.to_le_bytes()),
            None => {
                let b = value.to_le_bytes();
                self.write_u8(addr, b[0]);
                self.write_u8(addr.wrapping_add(1), b[1]);
            }
        }
    }
    #[inline]
    fn write_u32(&mut self, addr: u32, value: u32) {
        match self.range(addr, 4) {
            Some(r) => self.ram[r].copy_from_slice(&value.to_le_bytes()),
            None => {
                self.write_u16(addr, value as u16);
                self.write_u16(addr.wrapping_add(2), (value >> 16) as u16);
            }
        }
    }
    fn read_bytes(&mut self, addr: u32, buf: &mut [u8]) {
        match self.range(addr, buf.len()) {
            Some(r) => buf.copy_from_slice(&self.ram[r]),
            None => {
                let mut a = addr;
                for b in buf {
                    *b = self.read_u8(a);
                    a = a.wrapping_add(1);
                }
            }
        }
    }
    fn write_bytes(&mut self, addr: u32, data: &[u8]) {
        match self.range(addr, data.len()) {
            Some(r) => self.ram[r].copy_from_slice(data),
            None => {
                let mut a = addr;
                for &b in data {
                    self.write_u8(a, b);
                    a = a.wrapping_add(1);
                }
            }
        }
    }
    fn copy_bytes(&mut self, dst: u32, src: u32, len: u32) {
        match (self.range(src, len as usize), self.range(dst, len as usize)) {
            (Some(s), Some(d)) => self.ram.copy_within(s, d.start),
            _ => {
                let mut buf = vec![0u8; len as usize];
                self.read_bytes(src, &mut buf);
                self.write_bytes(dst, &buf);
            }
        }
    }
    #[inline]
    fn read_code(&mut self, addr: u32, buf: &mut [u8; 16]) {
        match self.range(addr, 16) {
            Some(r) => buf.copy_from_slice(&self.ram[r]),
            None => self.read_bytes(addr, buf),
        }
    }
    fn port_in(&mut self, _port: u16, size: AccessSize) -> u32 {
        size.mask()
    }
    fn port_out(&mut self, _port: u16, _size: AccessSize, _value: u32) {}
    fn a20_enabled(&self) -> bool {
        self.a20
    }
    fn new_code(&mut self, linear: u32, _regs: &crate::Registers) -> bool {
        self.stop_at == Some(linear)
    }
}

/// [`Bus::copy_bytes`] through the bus's own `read_bytes`/`write_bytes`, in
/// 256-byte chunks taken in `memmove`'s direction: for buses whose ranges
/// may hold ROM or unbacked bytes, where one slice copy cannot be used.
pub fn copy_in_chunks<B: Bus + ?Sized>(bus: &mut B, dst: u32, src: u32, len: u32) {
    let mut buf = [0u8; 256];
    let backwards = dst > src && dst < src.wrapping_add(len);
    let mut done = 0u32;
    while done < len {
        let n = (len - done).min(256);
        let off = if backwards { len - done - n } else { done };
        let chunk = &mut buf[..n as usize];
        bus.read_bytes(src.wrapping_add(off), chunk);
        bus.write_bytes(dst.wrapping_add(off), chunk);
        done += n;
    }
}
