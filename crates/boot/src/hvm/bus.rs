//! The HVM guest's bus: guest RAM, the BIOS ROM window, and the I/O ports
//! of the devices the boot path touches. Every port access — by guest
//! instructions or by the firmware's own driver code, which under Xen is
//! guest code too — is a VM exit: it is counted per port, charged at the
//! cost model's price and (at `--trace full`) recorded.
//!
//! Who handles a port under Xen decides its price: the RTC (0x70/0x71),
//! PIC, PIT and ELCR are emulated inside the hypervisor
//! (`xen/arch/x86/hvm/{rtc,vpic,i8254}.c`), and so is the debug port 0xE9
//! (`hvm_print_line` in `xen/arch/x86/hvm/hvm.c`): [`CostKey::PioKernel`].
//! Everything else — the IDE controller, the bus-master engine, port 0x92,
//! the keyboard controller, unassigned ports — is forwarded to QEMU in dom0
//! as an ioreq: [`CostKey::PioDeviceModel`]. A `rep ins/outs` is one ioreq
//! (`hvmemul_rep_ins`), so one exit.

use serde::Serialize;
use x86::{AccessSize, Bus};

use super::trace::{HvmEvent, HvmTrace};
use crate::devices::ata_host::AtaHost;
use crate::devices::ide::{DmaMemory, IdeAction, IdeController};
use crate::devices::platform::XenPlatformState;
use crate::machine::{CostKey, CostModel, GuestMemory, GuestPhysAddr, SimClock};

/// BIOS ROM window: reads come from memory, writes are ignored once POST
/// has shadowed it read-only (as QEMU/Xen do with 0xF0000–0xFFFFF).
pub const ROM_START: u32 = 0xF0000;
pub const ROM_END: u32 = 0x10_0000;

/// Port 0x92 ("system control port A"): bit 0 fast reset, bit 1 A20.
pub const PORT_A20: u16 = 0x92;
/// Xen/QEMU/Bochs debug console.
pub const PORT_DEBUGCON: u16 = 0xE9;
pub const PORT_CMOS_INDEX: u16 = 0x70;
pub const PORT_CMOS_DATA: u16 = 0x71;
pub const PORT_KBD_DATA: u16 = 0x60;
pub const PORT_KBD_STATUS: u16 = 0x64;

/// Exits on one port.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct PortStat {
    /// `in` exits (a `rep ins` counts once).
    pub reads: u64,
    /// `out` exits.
    pub writes: u64,
    /// Elements moved by string requests (`rep ins/outs`).
    pub string_items: u64,
    /// Simulated cost charged, ns.
    pub cost_ns: u64,
}

impl PortStat {
    pub fn exits(&self) -> u64 {
        self.reads + self.writes
    }
}

/// Who is accessing a port: the guest's instructions or the firmware's
/// driver code (SeaBIOS's ata.c, rtc.c, … running as guest code under Xen).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    Guest,
    Firmware,
}

/// Minimal CMOS/RTC (MC146818) as QEMU and Xen present it: binary-coded
/// decimal, 24-hour mode, never "update in progress".
#[derive(Clone, Debug, Default)]
pub struct Cmos {
    pub index: u8,
    /// Simulated wall clock at time zero, seconds since midnight.
    pub start_seconds_of_day: u32,
    /// Extra registers (CMOS 0x39: BIOS disk translation, …).
    pub ram: Vec<(u8, u8)>,
}

fn bcd(v: u32) -> u8 {
    (((v / 10 % 10) << 4) | (v % 10)) as u8
}

/// The machine's bus.
pub struct HvmBus {
    pub mem: GuestMemory,
    pub ide: IdeController,
    pub clock: SimClock,
    pub cost: CostModel,
    pub trace: HvmTrace,
    pub ports: Vec<PortStat>,
    /// Bytes written to port 0xE9 (firmware and guest).
    pub debugcon: Vec<u8>,
    pub cmos: Cmos,
    port92: u8,
    kbc_cmd: u8,
    kbc_output: u8,
    /// Set when the guest asked for a reset (port 0x92 bit 0, keyboard
    /// controller command 0xFE).
    pub reset: Option<&'static str>,
    /// Who issues the port accesses right now.
    pub origin: Origin,
    pub exits_by_origin: [u64; 2],
    pub ns_per_port: [u64; 2],
    /// The Xen platform PCI device and PCI configuration space
    /// (0x10–0x1F, 0xCF8–0xCFF), used by PV-on-HVM guests.
    pub platform: XenPlatformState,
    /// COM1.
    pub uart: crate::devices::uart::Uart,
    /// The 8254 timer and port 0x61 (GRUB 2 calibrates its TSC with them).
    pub pit: crate::devices::pit::Pit,
    /// What the watch saw, taken by the run loop.
    pub linux_hit: Option<LinuxHit>,
}

/// `"HdrS"`, the setup header's magic at 0x202 (boot.rst: "header").
pub const HDRS: u32 = u32::from_le_bytes(*b"HdrS");

/// Where control reached Linux's own code, caught on the first decode of
/// the instruction there (so the check costs nothing per instruction).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinuxHit {
    /// Real mode at the setup's entry: boot.rst "Running the kernel" — the
    /// loader jumps to offset 0x200 of the real-mode setup (CS:IP =
    /// seg+0x20:0000)
    /// (arch/x86/boot/header.S `_start`, a two-byte `jmp` followed by the
    /// "HdrS" header). `linear` is that entry; the setup starts 0x200
    /// below it with the boot sector (zero page) the loader filled.
    Setup16 { linear: u32 },
    /// 32-bit protected mode at the `code32_start` of the boot_params ESI
    /// points to: boot.rst "32-bit boot protocol" (GRUB 2's `linux`, and
    /// Linux's own setup in arch/x86/boot/pmjump.S, which jumps there with
    /// ESI = boot_params).
    Entry32 { linear: u32, zero_page: u32 },
}

impl HvmBus {
    pub fn new(mem: GuestMemory, ide: IdeController, cost: CostModel, trace: HvmTrace) -> HvmBus {
        let ns = [cost.ns(CostKey::PioKernel), cost.ns(CostKey::PioDeviceModel)];
        HvmBus {
            mem,
            ide,
            clock: SimClock::new(),
            cost,
            trace,
            ports: vec![PortStat::default(); 0x1_0000],
            debugcon: Vec::new(),
            cmos: Cmos::default(),
            // A20 on (QEMU and Xen start with it enabled).
            port92: 0x02,
            kbc_cmd: 0,
            kbc_output: 0x03,
            reset: None,
            origin: Origin::Firmware,
            exits_by_origin: [0; 2],
            ns_per_port: ns,
            platform: XenPlatformState::default(),
            uart: crate::devices::uart::Uart::default(),
            pit: crate::devices::pit::Pit::default(),
            linux_hit: None,
        }
    }

    #[inline]
    fn kernel_handled(port: u16) -> bool {
        matches!(port, 0x20 | 0x21 | 0xA0 | 0xA1 | 0x40..=0x43 | 0x61 | 0x70 | 0x71 | 0x4D0 | 0x4D1 | PORT_DEBUGCON)
    }

    /// Counts and charges one exit.
    #[inline]
    fn exit(&mut self, port: u16, write: bool, size: AccessSize, items: u32, value: u32) {
        let ns = self.ns_per_port[usize::from(!Self::kernel_handled(port))];
        let s = &mut self.ports[usize::from(port)];
        if write {
            s.writes += 1;
        } else {
            s.reads += 1;
        }
        if items > 1 {
            s.string_items += u64::from(items);
        }
        s.cost_ns += ns;
        self.exits_by_origin[self.origin as usize] += 1;
        let t = self.clock.now();
        self.clock.advance(ns);
        if self.trace.full() {
            self.trace.push(
                t,
                ns,
                HvmEvent::PortExit { port, write, size: size.bytes() as u8, count: items, value, origin: self.origin },
            );
        }
    }

    fn dma(&mut self) {
        let moved = self.ide.run_dma(&mut MemDma(&mut self.mem));
        if moved > 0 {
            let ns = self.cost.memcpy_ns(moved);
            let t = self.clock.now();
            self.clock.advance(ns);
            self.trace.push(t, ns, HvmEvent::Dma { bytes: moved });
        }
    }

    fn cmos_read(&self) -> u8 {
        let secs = (self.cmos.start_seconds_of_day as u64 + self.clock.now().0 / 1_000_000_000) % 86_400;
        let secs = secs as u32;
        match self.cmos.index & 0x7F {
            0x00 => bcd(secs % 60),
            0x02 => bcd(secs / 60 % 60),
            0x04 => bcd(secs / 3600),
            0x0A => 0x26, // divider 32 kHz, rate 1024 Hz; UIP clear
            0x0B => 0x02, // 24-hour, BCD, no DST
            0x0D => 0x80, // battery good
            i => self.cmos.ram.iter().find(|(k, _)| *k == i).map_or(0, |(_, v)| *v),
        }
    }

    /// Linear memory helpers for the firmware (no exits).
    pub fn read_phys(&self, addr: u32, buf: &mut [u8]) {
        match self.mem.slice(GuestPhysAddr(u64::from(addr)), buf.len() as u64) {
            Ok(s) => buf.copy_from_slice(s),
            Err(_) => {
                for (i, b) in buf.iter_mut().enumerate() {
                    *b = self.mem.slice(GuestPhysAddr(u64::from(addr) + i as u64), 1).map_or(0xFF, |s| s[0]);
                }
            }
        }
    }

    /// Firmware write to memory (POST may write the ROM window).
    pub fn write_phys(&mut self, addr: u32, data: &[u8]) {
        if let Ok(s) = self.mem.slice_mut(GuestPhysAddr(u64::from(addr)), data.len() as u64) {
            s.copy_from_slice(data);
        } else {
            for (i, &b) in data.iter().enumerate() {
                if let Ok(s) = self.mem.slice_mut(GuestPhysAddr(u64::from(addr) + i as u64), 1) {
                    s[0] = b;
                }
            }
        }
    }

    /// Charges the backing medium for the requests the controller made
    /// (cost model: per-request latency + bytes at the medium's rate).
    #[inline]
    fn charge_media(&mut self) {
        if self.ide.media.is_empty() {
            return;
        }
        for (lba, sectors) in std::mem::take(&mut self.ide.media) {
            let bytes = sectors * 512;
            let ns = self.cost.ns(CostKey::DiskRequest).saturating_add(self.cost.disk_transfer_ns(bytes));
            let t = self.clock.now();
            self.clock.advance(ns);
            self.trace.push(t, ns, HvmEvent::MediaRead { lba, sectors });
        }
    }

    pub fn r8(&self, addr: u32) -> u8 {
        let mut b = [0u8; 1];
        self.read_phys(addr, &mut b);
        b[0]
    }
    pub fn r16(&self, addr: u32) -> u16 {
        let mut b = [0u8; 2];
        self.read_phys(addr, &mut b);
        u16::from_le_bytes(b)
    }
    pub fn r32(&self, addr: u32) -> u32 {
        let mut b = [0u8; 4];
        self.read_phys(addr, &mut b);
        u32::from_le_bytes(b)
    }
    pub fn w8(&mut self, addr: u32, v: u8) {
        self.write_phys(addr, &[v]);
    }
    pub fn w16(&mut self, addr: u32, v: u16) {
        self.write_phys(addr, &v.to_le_bytes());
    }
    pub fn w32(&mut self, addr: u32, v: u32) {
        self.write_phys(addr, &v.to_le_bytes());
    }

    /// Total port exits.
    pub fn total_exits(&self) -> u64 {
        self.exits_by_origin.iter().sum()
    }

    #[inline]
    fn guest_writable(addr: u32, len: usize) -> bool {
        let end = addr as u64 + len as u64;
        end <= u64::from(ROM_START) || u64::from(addr) >= u64::from(ROM_END)
    }
}

/// Guest memory as the bus-master engine sees it.
struct MemDma<'a>(&'a mut GuestMemory);

impl DmaMemory for MemDma<'_> {
    fn dma_read(&mut self, addr: u32, buf: &mut [u8]) {
        for (i, b) in buf.iter_mut().enumerate() {
            *b = self.0.slice(GuestPhysAddr(u64::from(addr) + i as u64), 1).map_or(0xFF, |s| s[0]);
        }
    }
    fn dma_write(&mut self, addr: u32, data: &[u8]) {
        // Bus-master writes honour the ROM shadow like CPU writes.
        if HvmBus::guest_writable(addr, data.len())
            && let Ok(s) = self.0.slice_mut(GuestPhysAddr(u64::from(addr)), data.len() as u64)
        {
            s.copy_from_slice(data);
        }
    }
}

/// Multi-byte guest accesses: one slice of RAM when the bytes are there
/// (and, for a write, writable), else byte by byte, so an access that
/// straddles the end of RAM or a read-only (ROM-shadow) byte reads 0xFF
/// and drops the write for just those bytes, as the PC's bus does.
impl HvmBus {
    #[inline(always)]
    fn read_le<const N: usize>(&mut self, addr: u32) -> [u8; N] {
        let whole =
            self.mem.slice(GuestPhysAddr(u64::from(addr)), N as u64).ok().and_then(|s| <[u8; N]>::try_from(s).ok());
        whole.unwrap_or_else(|| std::array::from_fn(|i| self.read_u8(addr.wrapping_add(i as u32))))
    }

    #[inline(always)]
    fn write_le<const N: usize>(&mut self, addr: u32, bytes: [u8; N]) {
        if Self::guest_writable(addr, N)
            && let Ok(s) = self.mem.slice_mut(GuestPhysAddr(u64::from(addr)), N as u64)
        {
            s.copy_from_slice(&bytes);
            return;
        }
        for (i, b) in bytes.into_iter().enumerate() {
            self.write_u8(addr.wrapping_add(i as u32), b);
        }
    }
}

/// The guest ATA drivers in Rust (the BIOS's int 13h, the I/O bench) reach
/// the IDE controller through the bus, each access a costed port exit.
impl AtaHost for HvmBus {
    fn in8(&mut self, port: u16) -> u8 {
        self.port_in(port, AccessSize::Byte) as u8
    }

    fn out8(&mut self, port: u16, v: u8) {
        self.port_out(port, AccessSize::Byte, u32::from(v));
    }
}

impl Bus for HvmBus {
    #[inline]
    fn read_u8(&mut self, addr: u32) -> u8 {
        self.mem.slice(GuestPhysAddr(u64::from(addr)), 1).map_or(0xFF, |s| s[0])
    }
    #[inline]
    fn write_u8(&mut self, addr: u32, value: u8) {
        if Self::guest_writable(addr, 1)
            && let Ok(s) = self.mem.slice_mut(GuestPhysAddr(u64::from(addr)), 1)
        {
            s[0] = value;
        }
    }
    #[inline]
    fn read_u16(&mut self, addr: u32) -> u16 {
        u16::from_le_bytes(self.read_le(addr))
    }
    #[inline]
    fn read_u32(&mut self, addr: u32) -> u32 {
        u32::from_le_bytes(self.read_le(addr))
    }
    #[inline]
    fn write_u16(&mut self, addr: u32, value: u16) {
        self.write_le(addr, value.to_le_bytes());
    }
    #[inline]
    fn write_u32(&mut self, addr: u32, value: u32) {
        self.write_le(addr, value.to_le_bytes());
    }
    fn read_bytes(&mut self, addr: u32, buf: &mut [u8]) {
        self.read_phys(addr, buf);
    }
    fn write_bytes(&mut self, addr: u32, data: &[u8]) {
        if Self::guest_writable(addr, data.len()) {
            self.write_phys(addr, data);
        } else {
            let mut a = addr;
            for &b in data {
                self.write_u8(a, b);
                a = a.wrapping_add(1);
            }
        }
    }
    /// `rep movs` and the fused copy loops: one `memmove` inside guest
    /// RAM (a relocator moves tens of MiB this way); ROM shadow or
    /// unbacked bytes in either range go the byte-wise way.
    fn copy_bytes(&mut self, dst: u32, src: u32, len: u32) {
        let (d, s) = (GuestPhysAddr(u64::from(dst)), GuestPhysAddr(u64::from(src)));
        if !(Self::guest_writable(dst, len as usize) && self.mem.copy_within(s, d, u64::from(len)).is_ok()) {
            x86::copy_in_chunks(self, dst, src, len);
        }
    }
    #[inline]
    fn read_code(&mut self, addr: u32, buf: &mut [u8; 16]) {
        match self.mem.slice(GuestPhysAddr(u64::from(addr)), 16) {
            Ok(s) => buf.copy_from_slice(s),
            Err(_) => self.read_phys(addr, buf),
        }
    }

    fn port_in(&mut self, port: u16, size: AccessSize) -> u32 {
        let v = if IdeController::claims(port) {
            let v = self.ide.read(port, size.bytes() as u8);
            self.charge_media();
            v
        } else if XenPlatformState::claims(port) {
            self.platform.read(port, size.bytes() as u8)
        } else if crate::devices::uart::Uart::claims(port) {
            u32::from(self.uart.read(port))
        } else if crate::devices::pit::Pit::claims(port) {
            u32::from(self.pit.read(port, self.clock.now().0))
        } else {
            match port {
                PORT_A20 => u32::from(self.port92),
                PORT_CMOS_DATA => u32::from(self.cmos_read()),
                PORT_CMOS_INDEX => u32::from(self.cmos.index),
                // Output buffer empty, input buffer empty, system flag.
                PORT_KBD_STATUS => 0x14,
                PORT_KBD_DATA => u32::from(self.kbc_output),
                // Bochs/QEMU debug console reads back 0xE9 as its presence
                // check (QEMU hw/char/debugcon.c, "readback").
                PORT_DEBUGCON => 0xE9,
                _ => size.mask(),
            }
        } & size.mask();
        self.exit(port, false, size, 1, v);
        v
    }

    fn port_out(&mut self, port: u16, size: AccessSize, value: u32) {
        self.exit(port, true, size, 1, value);
        if IdeController::claims(port) {
            if self.ide.write(port, value, size.bytes() as u8) == IdeAction::StartDma {
                self.dma();
            }
            self.charge_media();
            return;
        }
        if crate::devices::uart::Uart::claims(port) {
            self.uart.write(port, value as u8);
            return;
        }
        if crate::devices::pit::Pit::claims(port) {
            self.pit.write(port, value as u8, self.clock.now().0);
            return;
        }
        if XenPlatformState::claims(port) {
            self.platform.write(port, size.bytes() as u8, value);
            // QEMU `platform_fixed_ioport_writew`: the unplug takes effect
            // at once, on the same exit.
            if self.platform.ide_unplugged() && !self.ide.is_unplugged() {
                self.ide.unplug();
            }
            return;
        }
        let b = value as u8;
        match port {
            PORT_DEBUGCON => self.debugcon.push(b),
            PORT_A20 => {
                if b & 1 != 0 && self.port92 & 1 == 0 {
                    self.reset = Some("fast reset through port 0x92 bit 0");
                }
                self.port92 = b & 0x03;
            }
            PORT_CMOS_INDEX => self.cmos.index = b,
            PORT_KBD_STATUS => {
                if b == 0xFE {
                    self.reset = Some("keyboard controller pulse reset (command 0xFE to port 0x64)");
                }
                self.kbc_cmd = b;
            }
            PORT_KBD_DATA => {
                // 0xD1: write output port; bit 1 is A20.
                if self.kbc_cmd == 0xD1 {
                    self.kbc_output = b;
                    self.port92 = (self.port92 & !0x02) | (b & 0x02);
                    if b & 1 == 0 {
                        self.reset = Some("keyboard controller output port bit 0 cleared");
                    }
                }
                self.kbc_cmd = 0;
            }
            _ => {}
        }
    }

    fn port_in_string(&mut self, port: u16, size: AccessSize, data: &mut [u8]) {
        let items = (data.len() / size.bytes()) as u32;
        if port == crate::devices::ide::reg::DATA {
            self.ide.read_data_string(data);
            self.charge_media();
        } else {
            for chunk in data.chunks_exact_mut(size.bytes()) {
                let v = if IdeController::claims(port) { self.ide.read(port, size.bytes() as u8) } else { size.mask() };
                chunk.copy_from_slice(&v.to_le_bytes()[..size.bytes()]);
            }
        }
        self.exit(port, false, size, items, 0);
    }

    fn port_out_string(&mut self, port: u16, size: AccessSize, data: &[u8]) {
        let items = (data.len() / size.bytes()) as u32;
        self.exit(port, true, size, items, 0);
        if port == crate::devices::ide::reg::DATA {
            self.ide.write_data_string(data);
        } else if port == PORT_DEBUGCON {
            for chunk in data.chunks_exact(size.bytes()) {
                self.debugcon.push(chunk[0]);
            }
        }
    }

    fn a20_enabled(&self) -> bool {
        self.port92 & 0x02 != 0
    }

    fn new_code(&mut self, linear: u32, regs: &x86::Registers) -> bool {
        if self.linux_hit.is_some() {
            return false;
        }
        let cs = &regs.seg[x86::SegReg::Cs as usize];
        let hit = if regs.cr0 & x86::cr0::PE != 0 {
            let zero_page = regs.gpr[x86::Gpr::Esi as usize];
            (cs.big()
                && self.r32(zero_page.wrapping_add(0x202)) == HDRS
                && self.r32(zero_page.wrapping_add(0x214)) == linear)
                .then_some(LinuxHit::Entry32 { linear, zero_page })
        } else {
            // boot.rst: CS = setup segment + 0x20, IP = 0 (or CS = the
            // setup segment, IP = 0x200): the same linear address.
            ((regs.eip == 0 || regs.eip == 0x200)
                && self.r8(linear) == 0xEB
                && self.r32(linear.wrapping_add(2)) == HDRS)
                .then_some(LinuxHit::Setup16 { linear })
        };
        self.linux_hit = hit;
        hit.is_some()
    }

    fn tsc(&mut self, _instructions: u64) -> u64 {
        // TSC at the cost model's CPU frequency from the simulated clock.
        let ghz = self.cost.params().cpu_ghz;
        (self.clock.now().0 as f64 * ghz) as u64
    }
}
