//! Whole programs (assembled from `tests/programs/*.asm` with nasm by
//! `tests/programs/build.sh`; the committed .bin files are what runs) and
//! the bad-input end states the issue lists: instruction cap, jumps into
//! zeroed memory, triple faults, divide errors, invalid opcodes.

use x86::{AccessSize, Bus, Cpu, Error, Exit, RamBus, SegReg};

/// A 1 MiB machine in flat 32-bit protected mode (CS, DS, ES, SS 4 GiB
/// segments), `loads` placed in RAM, EIP at `entry`: where the idiom tests
/// run GCC's loops.
fn flat32_machine(entry: u32, loads: &[(u32, &[u8])]) -> (Cpu, RamBus) {
    flat32_machine_of(1 << 20, entry, loads)
}

/// [`flat32_machine`] with `ram` bytes of RAM.
fn flat32_machine_of(ram: usize, entry: u32, loads: &[(u32, &[u8])]) -> (Cpu, RamBus) {
    let mut bus = RamBus::new(ram);
    for (at, bytes) in loads {
        bus.load(*at, bytes);
    }
    let mut cpu = Cpu::new(0, 0);
    let flat = |code: bool| {
        x86::Segment::from_descriptor(
            if code { 8 } else { 16 },
            if code { 0x00CF_9B00_0000_FFFF } else { 0x00CF_9300_0000_FFFF },
        )
    };
    cpu.regs.cr0 |= 1;
    cpu.regs.seg[SegReg::Cs as usize] = flat(true);
    for s in [SegReg::Ds, SegReg::Es, SegReg::Ss] {
        cpu.regs.seg[s as usize] = flat(false);
    }
    cpu.regs.eip = entry;
    (cpu, bus)
}

/// A RAM bus that also records port traffic and the A20 gate at port 0x92.
struct TestBus {
    ram: RamBus,
    outs: Vec<(u16, AccessSize, u32)>,
    ins: Vec<(u16, AccessSize)>,
    string_ins: Vec<(u16, AccessSize, usize)>,
    string_outs: Vec<(u16, AccessSize, Vec<u8>)>,
    in_value: u32,
    /// A bus-master device: an `out` to the port writes the bytes at the
    /// address through the bus's bulk write, as disk DMA does mid-run.
    dma: Option<(u16, u32, Vec<u8>)>,
}

impl TestBus {
    fn new() -> Self {
        TestBus {
            ram: RamBus::new(4 << 20),
            outs: Vec::new(),
            ins: Vec::new(),
            string_ins: Vec::new(),
            string_outs: Vec::new(),
            in_value: 0,
            dma: None,
        }
    }
}

impl Bus for TestBus {
    fn read_u8(&mut self, a: u32) -> u8 {
        self.ram.read_u8(a)
    }
    fn write_u8(&mut self, a: u32, v: u8) {
        self.ram.write_u8(a, v)
    }
    fn read_code(&mut self, a: u32, buf: &mut [u8; 16]) {
        self.ram.read_code(a, buf)
    }
    fn port_in(&mut self, port: u16, size: AccessSize) -> u32 {
        self.ins.push((port, size));
        let v = self.in_value;
        self.in_value = self.in_value.wrapping_add(1);
        v & size.mask()
    }
    fn port_out(&mut self, port: u16, size: AccessSize, value: u32) {
        if port == 0x92 {
            self.ram.a20 = value & 2 != 0;
        }
        if let Some((p, at, data)) = self.dma.clone()
            && p == port
        {
            self.ram.write_bytes(at, &data);
        }
        self.outs.push((port, size, value));
    }
    fn port_in_string(&mut self, port: u16, size: AccessSize, data: &mut [u8]) {
        self.string_ins.push((port, size, data.len()));
        for (k, b) in data.iter_mut().enumerate() {
            *b = k as u8;
        }
    }
    fn port_out_string(&mut self, port: u16, size: AccessSize, data: &[u8]) {
        self.string_outs.push((port, size, data.to_vec()));
    }
    fn a20_enabled(&self) -> bool {
        self.ram.a20
    }
}

fn boot(program: &[u8]) -> (Cpu, TestBus) {
    let mut bus = TestBus::new();
    bus.ram.load(0x7C00, program);
    (Cpu::new(0, 0x7C00), bus)
}

/// Runs with int 10h hooked, collecting AH=0Eh teletype output, until a
/// non-int-10h exit.
fn run_with_tty(cpu: &mut Cpu, bus: &mut TestBus, limit: u64) -> (Result<Exit, Error>, String) {
    cpu.hook_interrupt(0x10, true);
    let mut out = String::new();
    loop {
        match cpu.run(bus, limit) {
            Ok(Exit::Interrupt { vector: 0x10 }) => {
                let ax = cpu.regs.gpr[0];
                if (ax >> 8) & 0xFF == 0x0E {
                    out.push(char::from(ax as u8));
                }
            }
            other => return (other, out),
        }
    }
}

#[test]
fn hello_prints_through_hooked_int10() {
    let (mut cpu, mut bus) = boot(include_bytes!("programs/hello.bin"));
    let (exit, out) = run_with_tty(&mut cpu, &mut bus, 10_000);
    assert_eq!(exit, Ok(Exit::Halt));
    assert_eq!(out, "Hello, boot-sim!\r\n");
    assert_eq!(cpu.counters.interrupts[0x10], 18);
    // BX = 0x0001 (page 0, colour 1) was passed to every call.
    assert_eq!(cpu.regs.gpr[3] & 0xFFFF, 1);
}

#[test]
fn protected_mode_round_trip_grub_legacy_shape() {
    let (mut cpu, mut bus) = boot(include_bytes!("programs/pm_roundtrip.bin"));
    let (exit, out) = run_with_tty(&mut cpu, &mut bus, 10_000);
    assert_eq!(exit, Ok(Exit::Halt));
    assert_eq!(out, "OK");
    assert_eq!(bus.ram.ram[0x20_0000..0x20_0004], 0xFEED_F00Du32.to_le_bytes());
    assert_eq!(bus.ram.ram[0x6000..0x6004], 0xFEED_F00Du32.to_le_bytes());
    assert!(!cpu.protected_mode());
    // Back in real mode with 16-bit, 64 KiB segments (PSEUDO_RM_DSEG caches).
    for s in SegReg::ALL {
        let seg = cpu.regs.seg[s as usize];
        assert_eq!((seg.selector, seg.base, seg.limit, seg.big()), (0, 0, 0xFFFF, false), "{}", s.name());
    }
    // The GDT entries used were marked accessed in memory (byte 5 bit 0).
    let gdt = cpu.regs.gdtr.base as usize;
    assert_eq!(bus.ram.ram[gdt + 8 + 5], 0x9B);
    assert_eq!(bus.ram.ram[gdt + 0x20 + 5], 0x93);
}

#[test]
fn unreal_mode_reaches_above_1mib_from_real_mode() {
    let (mut cpu, mut bus) = boot(include_bytes!("programs/unreal.bin"));
    assert_eq!(cpu.run(&mut bus, 1000), Ok(Exit::Halt));
    assert!(!cpu.protected_mode());
    assert_eq!(cpu.regs.gpr[0], 0x1234_5678);
    assert_eq!(cpu.regs.gpr[3], 0x1234_5678, "a32 rep movsb copied above 1 MiB");
    let ds = cpu.regs.seg[SegReg::Ds as usize];
    assert_eq!((ds.selector, ds.base, ds.limit), (0, 0, 0xFFFF_FFFF));
    assert_eq!(cpu.regs.gpr[6], 0x30_0004);
    assert_eq!(cpu.regs.gpr[1], 0);
}

#[test]
fn without_unreal_mode_32bit_offsets_fault() {
    // mov esi,0x300000 ; mov eax,[esi] ; hlt — DS limit is 0xFFFF, so #GP
    // (vector 13) goes through the IVT, here to a handler that halts.
    let code = [0x66, 0xBE, 0x00, 0x00, 0x30, 0x00, 0x66, 0x67, 0x8B, 0x06, 0xF4];
    let (mut cpu, mut bus) = boot(&code);
    bus.ram.load(13 * 4, &[0x00, 0x05, 0x00, 0x00]); // IVT[13] = 0000:0500
    bus.ram.load(0x500, &[0xF4]); // hlt
    assert_eq!(cpu.run(&mut bus, 100), Ok(Exit::Halt));
    assert_eq!(cpu.regs.eip, 0x501);
    assert_eq!(cpu.counters.interrupts[13], 1);
    // The pushed return IP is the faulting instruction (a fault, not a trap).
    let sp = cpu.regs.gpr[4] & 0xFFFF;
    assert_eq!(u16::from_le_bytes([bus.ram.ram[sp as usize], bus.ram.ram[sp as usize + 1]]), 0x7C06);
}

#[test]
fn self_modifying_code_is_seen() {
    let (mut cpu, mut bus) = boot(include_bytes!("programs/smc.bin"));
    assert_eq!(cpu.run(&mut bus, 1000), Ok(Exit::Halt));
    assert_eq!(cpu.regs.gpr[1] & 0xFF, 0x33, "second pass executed the patched immediate");
    assert_eq!((cpu.regs.gpr[0] >> 8) & 0xFF, 0x42, "patched nop;nop executed as mov ah,0x42");
}

#[test]
fn memory_written_by_the_embedder_is_seen() {
    // jmp $ ; then the embedder overwrites it with hlt between runs.
    let (mut cpu, mut bus) = boot(&[0xEB, 0xFE]);
    assert_eq!(cpu.run(&mut bus, 50), Ok(Exit::InstructionLimit));
    bus.ram.load(0x7C00, &[0xF4]);
    assert_eq!(cpu.run(&mut bus, 50), Ok(Exit::Halt));
}

/// A loop whose first instruction is `mov al,0x11` at 0x7C02 and whose
/// second pass is started by `patch` (2 bytes at 0x7C0B) after the first
/// pass ran it; AL shows which bytes the second pass executed.
fn patch_loop(patch: [u8; 2]) -> (Cpu, TestBus) {
    let code = [
        0xB3, 0x00, // 7C00 mov bl,0
        0xB0, 0x11, // 7C02 X: mov al,0x11
        0xFE, 0xC3, // 7C04 inc bl
        0x80, 0xFB, 0x02, // 7C06 cmp bl,2
        0x74, 0x04, // 7C09 je 7C0F
        patch[0], patch[1], // 7C0B
        0xEB, 0xF3, // 7C0D jmp X
        0xF4, // 7C0F hlt
    ];
    boot(&code)
}

#[test]
fn dma_into_executed_code_is_seen() {
    // out 0xDA,al: the device overwrites the immediate of the executed
    // `mov al,0x11` through Bus::write_bytes inside the port access.
    let (mut cpu, mut bus) = patch_loop([0xE6, 0xDA]);
    bus.dma = Some((0xDA, 0x7C03, vec![0x22]));
    assert_eq!(cpu.run(&mut bus, 1000), Ok(Exit::Halt));
    assert_eq!(cpu.regs.gpr[0] & 0xFF, 0x22, "second pass ran the bytes the DMA wrote");
    assert_eq!(cpu.counters.instructions, 12);
}

#[test]
fn firmware_write_into_executed_code_is_seen() {
    // int 0x13, hooked: the firmware writes the new immediate with
    // Bus::write_bytes before the guest jumps back.
    let (mut cpu, mut bus) = patch_loop([0xCD, 0x13]);
    cpu.hook_interrupt(0x13, true);
    assert_eq!(cpu.run(&mut bus, 1000), Ok(Exit::Interrupt { vector: 0x13 }));
    Bus::write_bytes(&mut bus, 0x7C03, &[0x22]);
    assert_eq!(cpu.run(&mut bus, 1000), Ok(Exit::Halt));
    assert_eq!(cpu.regs.gpr[0] & 0xFF, 0x22, "second pass ran the bytes the firmware wrote");
}

#[test]
fn rep_stos_over_executed_code_is_seen() {
    let code = [
        0x31, 0xC0, // 7C00 xor ax,ax
        0x8E, 0xC0, // 7C02 mov es,ax
        0x31, 0xDB, // 7C04 xor bx,bx
        0xB7, 0x55, // 7C06 X: mov bh,0x55
        0xFE, 0xC3, // 7C08 inc bl
        0x80, 0xFB, 0x02, // 7C0A cmp bl,2
        0x74, 0x0F, // 7C0D je 7C1E
        0xBF, 0x06, 0x7C, // 7C0F mov di,X
        0xB9, 0x02, 0x00, // 7C12 mov cx,2
        0xB0, 0x90, // 7C15 mov al,0x90 (nop)
        0xFC, // 7C17 cld
        0xF3, 0xAA, // 7C18 rep stosb: X becomes nop ; nop (one bulk write)
        0x30, 0xFF, // 7C1A xor bh,bh
        0xEB, 0xE8, // 7C1C jmp X
        0xF4, // 7C1E hlt
    ];
    let (mut cpu, mut bus) = boot(&code);
    assert_eq!(cpu.run(&mut bus, 1000), Ok(Exit::Halt));
    assert_eq!(cpu.regs.gpr[3], 0x0002, "second pass ran nop ; nop, not mov bh,0x55");
}

#[test]
fn write_to_the_second_granule_of_a_straddling_instruction_is_seen() {
    // `mov al,0x11` at 0x7CFF has its immediate in the next granule
    // (0x7D00), where the patch lands.
    let mut code = vec![0x90; 0x110];
    code[..9].copy_from_slice(&[
        0x31, 0xC0, // 7C00 xor ax,ax
        0x8E, 0xD8, // 7C02 mov ds,ax
        0x31, 0xDB, // 7C04 xor bx,bx
        0xE9, 0xF6, 0x00, // 7C06 jmp 7CFF
    ]);
    code[0xFF..].copy_from_slice(&[
        0xB0, 0x11, // 7CFF X: mov al,0x11
        0xFE, 0xC3, // 7D01 inc bl
        0x80, 0xFB, 0x02, // 7D03 cmp bl,2
        0x74, 0x07, // 7D06 je 7D0F
        0xC6, 0x06, 0x00, 0x7D, 0x22, // 7D08 mov byte [0x7D00],0x22
        0xEB, 0xF0, // 7D0D jmp X
        0xF4, // 7D0F hlt
    ]);
    let (mut cpu, mut bus) = boot(&code);
    assert_eq!(cpu.run(&mut bus, 1000), Ok(Exit::Halt));
    assert_eq!(cpu.regs.gpr[0] & 0xFF, 0x22);
}

#[test]
fn write_to_code_whose_granule_slot_was_taken_over_is_seen() {
    // Code 16 MiB apart (the granule table's reach: 2^16 slots of 256-byte
    // granules) shares a granule slot: running the code at 0x1007C20 takes
    // the slot over from 0x7C00's granule, so the patch it writes there is
    // not counted against that granule; the first code must still see it
    // when it runs again. (0x20 apart in the decode map, so that neither
    // evicts the other's decoded instructions there.)
    let first: &[u8] = &[
        0xB0, 0x11, // 7C00 X: mov al,0x11
        0x80, 0xFB, 0x01, // 7C02 cmp bl,1
        0x74, 0x09, // 7C05 je 7C10
        0xB3, 0x01, // 7C07 mov bl,1
        0xB9, 0x20, 0x7C, 0x00, 0x01, // 7C09 mov ecx,0x1007C20
        0xFF, 0xE1, // 7C0E jmp ecx
        0xF4, // 7C10 hlt
    ];
    let second: &[u8] = &[
        0xC6, 0x05, 0x01, 0x7C, 0x00, 0x00, 0x22, // mov byte [0x7C01],0x22
        0xB9, 0x00, 0x7C, 0x00, 0x00, // mov ecx,0x7C00
        0xFF, 0xE1, // jmp ecx
    ];
    let (mut cpu, mut bus) = flat32_machine_of(17 << 20, 0x7C00, &[(0x7C00, first), (0x100_7C20, second)]);
    assert_eq!(cpu.run(&mut bus, 1000), Ok(Exit::Halt));
    assert_eq!(cpu.regs.gpr[0] & 0xFF, 0x22);
    assert_eq!(cpu.counters.instructions, 13);
}

#[test]
fn divide_error_goes_through_the_ivt() {
    let (mut cpu, mut bus) = boot(include_bytes!("programs/divzero.bin"));
    assert_eq!(cpu.run(&mut bus, 1000), Ok(Exit::Halt));
    assert_eq!(cpu.regs.gpr[6] & 0xFFFF, 0x600D, "resumed after div");
    // DI holds the faulting IP the handler saw: the div itself.
    let fault_ip = cpu.regs.gpr[7] & 0xFFFF;
    assert_eq!(&bus.ram.ram[fault_ip as usize..fault_ip as usize + 2], &[0xF7, 0xF1]);
    assert_eq!(cpu.counters.interrupts[0], 1);
}

#[test]
fn divide_error_without_handler_is_a_clear_stop() {
    // xor cx,cx ; div cx — IVT is all zeros.
    let (mut cpu, mut bus) = boot(&[0x31, 0xC9, 0xF7, 0xF1]);
    let err = cpu.run(&mut bus, 100).unwrap_err();
    match &err {
        Error::NoHandler { at, vector: 0, name } => {
            assert_eq!((at.cs, at.eip, at.linear), (0, 0x7C02, 0x7C02));
            assert_eq!(name, "#DE");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(err.to_string().contains("0000:7C02"), "{err}");
}

#[test]
fn endless_loop_stops_at_the_cap() {
    let (mut cpu, mut bus) = boot(&[0xEB, 0xFE]); // jmp $
    assert_eq!(cpu.run(&mut bus, 1_000_000), Ok(Exit::InstructionLimit));
    assert_eq!(cpu.counters.instructions, 1_000_000);
    assert_eq!(cpu.regs.eip, 0x7C00);
    assert_eq!(cpu.counters.decodes, 1, "the loop is decoded once");
}

#[test]
fn jump_into_zeroed_memory_stops_at_the_cap() {
    // jmp 0x1000:0x0000 — zeros decode as `add [bx+si],al` forever.
    let (mut cpu, mut bus) = boot(&[0xEA, 0x00, 0x00, 0x00, 0x10]);
    assert_eq!(cpu.run(&mut bus, 20_000), Ok(Exit::InstructionLimit));
    let at = cpu.location();
    assert_eq!(at.cs, 0x1000);
    // 19_999 two-byte adds executed after the jump.
    assert_eq!(at.eip, 2 * 19_999);
    // Running off the 64 KiB segment end raises #GP whose IVT entry is 0:0.
    let err = cpu.run(&mut bus, 1_000_000).unwrap_err();
    assert!(matches!(err, Error::NoHandler { vector: 13, .. }), "{err}");
}

#[test]
fn real_mode_triple_fault_shuts_down() {
    // int 0x21 cannot be delivered (#GP, the first exception of the chain),
    // #GP cannot be delivered (#DF), #DF cannot be delivered: shutdown.
    let (mut cpu, mut bus) = boot(include_bytes!("programs/triple.bin"));
    assert_eq!(cpu.run(&mut bus, 100), Ok(Exit::Shutdown { vector: 13 }));
    assert_eq!(cpu.counters.interrupts[8], 1);
}

#[test]
fn protected_mode_idt_and_triple_fault() {
    let (mut cpu, mut bus) = boot(include_bytes!("programs/pm_idt.bin"));
    assert_eq!(cpu.run(&mut bus, 1000), Ok(Exit::Shutdown { vector: 0 }));
    assert!(cpu.protected_mode());
    assert_eq!(bus.ram.ram[0x6000..0x6004], 0x101u32.to_le_bytes());
    assert_eq!(cpu.counters.interrupts[0x30], 1);
    assert_eq!(cpu.counters.interrupts[0], 2);
}

#[test]
fn invalid_opcode_reports_bytes() {
    // 0F 0B is ud2; 0F FF is not an instruction in 16-bit mode here.
    let (mut cpu, mut bus) = boot(&[0x90, 0x0F, 0x0B]);
    let err = cpu.run(&mut bus, 100).unwrap_err();
    match &err {
        Error::InvalidOpcode { at, bytes } => {
            assert_eq!(at.eip, 0x7C01);
            assert_eq!(bytes.0, vec![0x0F, 0x0B]);
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(err.to_string(), "invalid opcode at 0000:7C01 (linear 0x7c01): bytes [0f 0b]");
}

#[test]
fn unsupported_instruction_reports_disassembly() {
    // fld dword [0x1000]
    let (mut cpu, mut bus) = boot(&[0xD9, 0x06, 0x00, 0x10]);
    let err = cpu.run(&mut bus, 100).unwrap_err();
    match &err {
        Error::UnsupportedInstruction { at, bytes, disassembly, reason } => {
            assert_eq!(at.eip, 0x7C00);
            assert_eq!(bytes.0, vec![0xD9, 0x06, 0x00, 0x10]);
            assert!(disassembly.starts_with("fld"), "{disassembly}");
            assert!(reason.contains("x87"), "{reason}");
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn paging_is_rejected_clearly() {
    // mov eax,0x80000001 ; mov cr0,eax
    let (mut cpu, mut bus) = boot(&[0x66, 0xB8, 0x01, 0x00, 0x00, 0x80, 0x0F, 0x22, 0xC0]);
    let err = cpu.run(&mut bus, 100).unwrap_err();
    assert!(matches!(&err, Error::UnsupportedFeature { feature, .. } if feature.contains("paging")), "{err}");
    assert_eq!(err.location().eip, 0x7C06);
    assert_eq!(cpu.regs.cr0 & 0x8000_0001, 0);
}

#[test]
fn hooked_interrupt_resumes_after_int_and_embedder_sets_cf() {
    // int 0x13 ; jc fail ; mov bl,1 ; hlt ; fail: mov bl,2 ; hlt
    let code = [0xCD, 0x13, 0x72, 0x03, 0xB3, 0x01, 0xF4, 0xB3, 0x02, 0xF4];
    for (cf, want) in [(false, 1), (true, 2)] {
        let (mut cpu, mut bus) = boot(&code);
        cpu.hook_interrupt(0x13, true);
        assert_eq!(cpu.run(&mut bus, 100), Ok(Exit::Interrupt { vector: 0x13 }));
        assert_eq!(cpu.regs.eip, 0x7C02);
        if cf {
            cpu.regs.eflags |= x86::flags::CF;
        }
        assert_eq!(cpu.run(&mut bus, 100), Ok(Exit::Halt));
        assert_eq!(cpu.regs.gpr[3] & 0xFF, want);
    }
}

#[test]
fn unhooked_interrupt_and_reflection_go_through_the_ivt() {
    // int 0x13 ; hlt      handler at 0000:0600: mov al,0x55 ; iret
    let (mut cpu, mut bus) = boot(&[0xCD, 0x13, 0xF4]);
    bus.ram.load(0x13 * 4, &[0x00, 0x06, 0x00, 0x00]);
    bus.ram.load(0x600, &[0xB0, 0x55, 0xCF]);
    cpu.regs.gpr[4] = 0x7000;
    assert_eq!(cpu.run(&mut bus, 100), Ok(Exit::Halt));
    assert_eq!(cpu.regs.gpr[0] & 0xFF, 0x55);
    assert_eq!(cpu.regs.gpr[4], 0x7000);
    // Hooked, then reflected to the guest handler by the embedder.
    let (mut cpu, mut bus2) = boot(&[0xCD, 0x13, 0xF4]);
    bus2.ram.load(0x13 * 4, &[0x00, 0x06, 0x00, 0x00]);
    bus2.ram.load(0x600, &[0xB0, 0x66, 0xCF]);
    cpu.regs.gpr[4] = 0x7000;
    cpu.hook_interrupt(0x13, true);
    assert_eq!(cpu.run(&mut bus2, 100), Ok(Exit::Interrupt { vector: 0x13 }));
    assert_eq!(cpu.deliver_interrupt(&mut bus2, 0x13), Ok(None));
    assert_eq!(cpu.run(&mut bus2, 100), Ok(Exit::Halt));
    assert_eq!(cpu.regs.gpr[0] & 0xFF, 0x66);
    assert_eq!(cpu.counters.interrupts[0x13], 2);
}

#[test]
fn a20_gate_wraps_at_1mib() {
    // mov ax,0xffff ; mov es,ax ; mov byte [es:0x10],0x77 ; hlt
    let code = [0xB8, 0xFF, 0xFF, 0x8E, 0xC0, 0x26, 0xC6, 0x06, 0x10, 0x00, 0x77, 0xF4];
    let (mut cpu, mut bus) = boot(&code);
    bus.ram.a20 = false;
    assert_eq!(cpu.run(&mut bus, 100), Ok(Exit::Halt));
    assert_eq!(bus.ram.ram[0], 0x77);
    assert_eq!(bus.ram.ram[0x10_0000], 0);
    let (mut cpu, mut bus) = boot(&code);
    assert_eq!(cpu.run(&mut bus, 100), Ok(Exit::Halt));
    assert_eq!(bus.ram.ram[0], 0);
    assert_eq!(bus.ram.ram[0x10_0000], 0x77);
}

#[test]
fn a20_toggled_through_port_0x92_takes_effect_immediately() {
    // in al,0x92 ; or al,2 ; out 0x92,al ; mov ax,0xffff ; mov es,ax ;
    // mov byte [es:0x10],0x77 ; hlt
    let code =
        [0xE4, 0x92, 0x0C, 0x02, 0xE6, 0x92, 0xB8, 0xFF, 0xFF, 0x8E, 0xC0, 0x26, 0xC6, 0x06, 0x10, 0x00, 0x77, 0xF4];
    let (mut cpu, mut bus) = boot(&code);
    bus.ram.a20 = false;
    assert_eq!(cpu.run(&mut bus, 100), Ok(Exit::Halt));
    assert_eq!(bus.ram.ram[0x10_0000], 0x77);
    assert_eq!(cpu.counters.ports[&0x92].in_requests, 1);
    assert_eq!(cpu.counters.ports[&0x92].out_requests, 1);
}

#[test]
fn rep_insw_is_one_request_and_outs_too() {
    // mov dx,0x1f0 ; mov di,0x1000 ; mov cx,256 ; cld ; rep insw ;
    // mov si,0x1000 ; mov cx,4 ; rep outsw ; hlt
    let code = [
        0xBA, 0xF0, 0x01, 0xBF, 0x00, 0x10, 0xB9, 0x00, 0x01, 0xFC, 0xF3, 0x6D, 0xBE, 0x00, 0x10, 0xB9, 0x04, 0x00,
        0xF3, 0x6F, 0xF4,
    ];
    let (mut cpu, mut bus) = boot(&code);
    assert_eq!(cpu.run(&mut bus, 10_000), Ok(Exit::Halt));
    assert_eq!(bus.string_ins, vec![(0x1F0, AccessSize::Word, 512)]);
    assert_eq!(bus.ram.ram[0x1000..0x1004], [0, 1, 2, 3]);
    assert_eq!(bus.string_outs, vec![(0x1F0, AccessSize::Word, vec![0, 1, 2, 3, 4, 5, 6, 7])]);
    assert_eq!(cpu.regs.gpr[7] & 0xFFFF, 0x1200);
    let c = cpu.counters.ports[&0x1F0];
    assert_eq!((c.in_requests, c.in_items, c.out_requests, c.out_items), (1, 256, 1, 4));
    // 9 instructions + 255 + 3 extra rep iterations.
    assert_eq!(cpu.counters.instructions, 9 + 255 + 3);
}

#[test]
fn rep_insb_backwards_fills_descending() {
    // std ; mov dx,0x60 ; mov di,0x1003 ; mov cx,4 ; rep insb ; hlt
    let code = [0xFD, 0xBA, 0x60, 0x00, 0xBF, 0x03, 0x10, 0xB9, 0x04, 0x00, 0xF3, 0x6C, 0xF4];
    let (mut cpu, mut bus) = boot(&code);
    assert_eq!(cpu.run(&mut bus, 100), Ok(Exit::Halt));
    // Element k (transfer order) lands at 0x1003 - k.
    assert_eq!(bus.ram.ram[0x1000..0x1004], [3, 2, 1, 0]);
    assert_eq!(cpu.regs.gpr[7] & 0xFFFF, 0x0FFF);
}

#[test]
fn rep_is_interruptible_by_the_cap_and_resumes() {
    // cld ; mov cx,1000 ; mov di,0x2000 ; mov al,0xAA ; rep stosb ; hlt
    let code = [0xFC, 0xB9, 0xE8, 0x03, 0xBF, 0x00, 0x20, 0xB0, 0xAA, 0xF3, 0xAA, 0xF4];
    let (mut cpu, mut bus) = boot(&code);
    assert_eq!(cpu.run(&mut bus, 104), Ok(Exit::InstructionLimit));
    // 4 setup instructions, then 100 iterations of rep stosb.
    assert_eq!(cpu.regs.gpr[1] & 0xFFFF, 900);
    assert_eq!(cpu.regs.eip, 0x7C09, "EIP stays on the rep instruction");
    assert_eq!(bus.ram.ram[0x2000 + 99], 0xAA);
    assert_eq!(bus.ram.ram[0x2000 + 100], 0);
    assert_eq!(cpu.run(&mut bus, 10_000), Ok(Exit::Halt));
    assert_eq!(bus.ram.ram[0x2000 + 999], 0xAA);
    assert_eq!(bus.ram.ram[0x2000 + 1000], 0);
    assert_eq!(cpu.counters.instructions, 4 + 1000 + 1);
}

#[test]
fn hlt_in_loop_resumes() {
    let (mut cpu, mut bus) = boot(&[0xF4, 0xEB, 0xFD]); // hlt ; jmp back
    for _ in 0..3 {
        assert_eq!(cpu.run(&mut bus, 100), Ok(Exit::Halt));
        assert_eq!(cpu.regs.eip, 0x7C01);
    }
}

/// GRUB 2's `grub_memmove` byte loops (GCC -Os, flat 32-bit code) run in
/// one step by the interpreter: memory, registers and the instruction
/// count equal a run that single-steps them (budget 1 per call leaves no
/// room to fuse), for forward and backward copies, overlapping or not.
mod copy_loops {
    use proptest::prelude::*;
    use x86::{Cpu, Exit, Gpr, RamBus};

    const CODE: u32 = 0x1000;

    /// forward: mov esi,src ; mov edi,dst ; mov ecx,dst+n ;
    ///          T: cmp ecx,edi ; je +3 ; movsb ; jmp T ; hlt
    /// backward: mov esi,src ; mov eax,dst ; mov ecx,n ;
    ///          L: sub ecx,1 ; jb +8 ; mov dl,[esi+ecx] ; mov [eax+ecx],dl ; jmp L ; hlt
    fn program(backward: bool, src: u32, dst: u32, n: u32) -> Vec<u8> {
        let mut c = vec![0xBE];
        c.extend_from_slice(&src.to_le_bytes());
        if backward {
            c.push(0xB8);
            c.extend_from_slice(&dst.to_le_bytes());
            c.push(0xB9);
            c.extend_from_slice(&n.to_le_bytes());
            c.extend_from_slice(&[0x83, 0xE9, 0x01, 0x72, 0x08, 0x8A, 0x14, 0x0E, 0x88, 0x14, 0x08, 0xEB, 0xF3, 0xF4]);
        } else {
            c.push(0xBF);
            c.extend_from_slice(&dst.to_le_bytes());
            c.push(0xB9);
            c.extend_from_slice(&(dst + n).to_le_bytes());
            c.extend_from_slice(&[0x39, 0xF9, 0x74, 0x03, 0xA4, 0xEB, 0xF9, 0xF4]);
        }
        c
    }

    fn machine(code: &[u8], data: &[u8]) -> (Cpu, RamBus) {
        super::flat32_machine(CODE, &[(CODE, code), (0x10000, data)])
    }

    fn stepped(code: &[u8], data: &[u8]) -> (Cpu, RamBus) {
        let (mut cpu, mut bus) = machine(code, data);
        for _ in 0..1_000_000 {
            if cpu.run(&mut bus, 1) == Ok(Exit::Halt) {
                break;
            }
        }
        (cpu, bus)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn fused_equals_stepped(backward: bool, data in proptest::collection::vec(any::<u8>(), 64..512),
                                so in 0u32..256, d in 0u32..512, n in 0u32..200, budget in 1u64..3000) {
            let (src, dst) = (0x10000 + so, 0x10000 + d);
            let code = program(backward, src, dst, n);
            let (want_cpu, want_bus) = stepped(&code, &data);
            // One run to the halt.
            let (mut cpu, mut bus) = machine(&code, &data);
            prop_assert_eq!(cpu.run(&mut bus, 1_000_000), Ok(Exit::Halt));
            prop_assert_eq!(&cpu.regs.gpr, &want_cpu.regs.gpr);
            prop_assert_eq!(cpu.regs.eip, want_cpu.regs.eip);
            prop_assert_eq!(cpu.counters.instructions, want_cpu.counters.instructions);
            prop_assert_eq!(cpu.regs.eflags, want_cpu.regs.eflags);
            prop_assert!(bus.ram == want_bus.ram);
            // Runs cut by a budget resume exactly where stepping would be.
            let (mut cpu, mut bus) = machine(&code, &data);
            let mut guard = 0;
            while cpu.run(&mut bus, budget) != Ok(Exit::Halt) {
                guard += 1;
                prop_assert!(guard < 1_000_000);
            }
            prop_assert_eq!(cpu.counters.instructions, want_cpu.counters.instructions);
            prop_assert_eq!(&cpu.regs.gpr[..], &want_cpu.regs.gpr[..]);
            prop_assert!(bus.ram == want_bus.ram);
            let _ = Gpr::Eax;
        }
    }
}

/// GRUB 2's Reed-Solomon `pol_evaluate` loop (x86::idiom) run in one step
/// equals the same code single-stepped: registers, EFLAGS, the instruction
/// count, also when a budget cuts the run anywhere.
mod pol_evaluate {
    use proptest::prelude::*;
    use x86::{Cpu, Exit, RamBus};

    const CODE: u32 = 0x1000;
    const POL: u32 = 0x10000;
    const POWX: u32 = 0x20000;
    const LOGX: u32 = 0x20200;

    /// mov ebx,POL ; mov eax,degree ; mov edx,log_xn ; mov edi,log_x ;
    /// xor esi,esi ; L: (the loop as GCC -Os compiles it) ; out: hlt
    fn program(degree: u32, log_xn: u32, log_x: u32) -> Vec<u8> {
        let mut c = vec![0xBB];
        c.extend_from_slice(&POL.to_le_bytes());
        c.push(0xB8);
        c.extend_from_slice(&degree.to_le_bytes());
        c.push(0xBA);
        c.extend_from_slice(&log_xn.to_le_bytes());
        c.push(0xBF);
        c.extend_from_slice(&log_x.to_le_bytes());
        c.extend_from_slice(&[0x31, 0xF6]);
        c.extend_from_slice(&[
            0x85, 0xC0, 0x78, 0x2B, 0x0F, 0xB6, 0x0C, 0x03, 0x84, 0xC9, 0x74, 0x10, 0x0F, 0xB6, 0x89,
        ]);
        c.extend_from_slice(&LOGX.to_le_bytes());
        c.extend_from_slice(&[0x8A, 0x8C, 0x0A]);
        c.extend_from_slice(&POWX.to_le_bytes());
        c.extend_from_slice(&[0x31, 0xCE, 0x01, 0xFA, 0x81, 0xFA, 0xFE, 0x00, 0x00, 0x00, 0x7E, 0x06]);
        c.extend_from_slice(&[0x81, 0xEA, 0xFF, 0x00, 0x00, 0x00, 0x48, 0xEB, 0xD1, 0xF4]);
        c
    }

    fn machine(code: &[u8], pol: &[u8], tables: &[u8]) -> (Cpu, RamBus) {
        super::flat32_machine(CODE, &[(CODE, code), (POL, pol), (POWX, tables)])
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn fused_equals_stepped(
            pol in proptest::collection::vec(prop_oneof![Just(0u8), any::<u8>()], 1..600),
            tables in proptest::collection::vec(any::<u8>(), 1024),
            log_xn in 0u32..255, log_x in 0u32..255, budget in 1u64..5000,
        ) {
            let code = program(pol.len() as u32 - 1, log_xn, log_x);
            let (mut want, mut wbus) = machine(&code, &pol, &tables);
            let mut steps = 0;
            while want.run(&mut wbus, 1) != Ok(Exit::Halt) {
                steps += 1;
                prop_assert!(steps < 1_000_000);
            }
            let (mut cpu, mut bus) = machine(&code, &pol, &tables);
            prop_assert_eq!(cpu.run(&mut bus, 10_000_000), Ok(Exit::Halt));
            prop_assert_eq!(&cpu.regs.gpr, &want.regs.gpr);
            prop_assert_eq!(cpu.regs.eflags, want.regs.eflags);
            prop_assert_eq!(cpu.counters.instructions, want.counters.instructions);
            let (mut cpu, mut bus) = machine(&code, &pol, &tables);
            let mut guard = 0;
            while cpu.run(&mut bus, budget) != Ok(Exit::Halt) {
                guard += 1;
                prop_assert!(guard < 1_000_000);
            }
            prop_assert_eq!(&cpu.regs.gpr, &want.regs.gpr);
            prop_assert_eq!(cpu.regs.eflags, want.regs.eflags);
            prop_assert_eq!(cpu.counters.instructions, want.counters.instructions);
        }
    }
}

/// An embedder that rewrites guest code between runs: `resume` runs the
/// new bytes when the write was reported with `note_memory_write` (in a
/// granule whose other code stays cached), `run` whether or not it was.
#[test]
fn resume_runs_code_the_embedder_rewrote_and_reported() {
    // 7C00: mov ax, 1 / inc bx / jmp 7C00
    let mut bus = RamBus::new(1 << 20);
    bus.load(0x7C00, &[0xB8, 0x01, 0x00, 0x43, 0xEB, 0xFA]);
    let mut cpu = Cpu::new(0, 0x7C00);
    let ax = |cpu: &Cpu| cpu.regs.gpr[0] & 0xFFFF;
    assert_eq!(cpu.run(&mut bus, 30), Ok(Exit::InstructionLimit));
    assert_eq!(ax(&cpu), 1);
    for (value, report) in [(2u8, true), (3, true)] {
        bus.ram[0x7C01] = value;
        if report {
            cpu.note_memory_write(0x7C01, 1);
        }
        assert_eq!(cpu.resume(&mut bus, 30), Ok(Exit::InstructionLimit));
        assert_eq!(ax(&cpu), u32::from(value), "reported rewrite to {value}");
    }
    bus.ram[0x7C01] = 4;
    assert_eq!(cpu.run(&mut bus, 30), Ok(Exit::InstructionLimit));
    assert_eq!(ax(&cpu), 4, "run re-checks an unreported rewrite");
    assert_eq!(cpu.regs.gpr[3] & 0xFFFF, 40, "inc bx ran once per loop");
}
