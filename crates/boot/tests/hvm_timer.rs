//! The timer tick reaches a boot loader's own handler while it polls the
//! keyboard: SeaBIOS's int 16h AH=01h yields with interrupts enabled, and
//! its IRQ 0 handler (src/clock.c `handle_08`) calls the user timer tick,
//! int 1Ch. syslinux 6 counts its `TIMEOUT` with an int 1Ch hook
//! (core/bios.c `bios_timer_init`); without the tick such a countdown never
//! ends (the run stopped after 2 minutes of polls, waiting for a key).

use std::sync::Arc;

use boot::hvm::{EndState, HvmOptions, run};
use disk_image::MemImage;

/// An MBR that hooks int 1Ch with a counter and polls int 16h AH=01h until
/// the counter reaches 18 (about one second of ticks), then halts:
/// ```text
/// 7C00 31 C0             xor ax, ax
/// 7C02 8E D8             mov ds, ax
/// 7C04 8E D0             mov ss, ax
/// 7C06 BC 00 7C          mov sp, 0x7C00
/// 7C09 FA                cli
/// 7C0A C7 06 70 00 40 7C mov word [0x70], 0x7C40   ; IVT[1Ch] offset
/// 7C10 C7 06 72 00 00 00 mov word [0x72], 0         ; and segment
/// 7C16 FB                sti
/// 7C17 B4 01             mov ah, 1                  ; poll:
/// 7C19 CD 16             int 0x16
/// 7C1B 83 3E 00 7D 12    cmp word [0x7D00], 18
/// 7C20 72 F5             jb poll
/// 7C22 FA                cli
/// 7C23 F4                hlt
/// 7C40 2E FF 06 00 7D    inc word [cs:0x7D00]       ; the int 1Ch handler
/// 7C45 CF                iret
/// ```
fn disk() -> Arc<MemImage> {
    let mut d = vec![0u8; 64 * 512];
    let code: [u8; 36] = [
        0x31, 0xC0, 0x8E, 0xD8, 0x8E, 0xD0, 0xBC, 0x00, 0x7C, 0xFA, 0xC7, 0x06, 0x70, 0x00, 0x40, 0x7C, 0xC7, 0x06,
        0x72, 0x00, 0x00, 0x00, 0xFB, 0xB4, 0x01, 0xCD, 0x16, 0x83, 0x3E, 0x00, 0x7D, 0x12, 0x72, 0xF5, 0xFA, 0xF4,
    ];
    d[..code.len()].copy_from_slice(&code);
    d[0x40..0x46].copy_from_slice(&[0x2E, 0xFF, 0x06, 0x00, 0x7D, 0xCF]);
    d[510] = 0x55;
    d[511] = 0xAA;
    Arc::new(MemImage::new(d, "timer.img"))
}

#[test]
fn a_guest_int_1ch_hook_counts_ticks_while_it_polls_for_keys() {
    let opts = HvmOptions { memory: 16 << 20, max_instructions: 1_000_000, ..HvmOptions::default() };
    let r = run(disk(), &opts);
    match &r.end {
        EndState::Halted { at } => assert_eq!((at.cs, at.ip), (0, 0x7C24)),
        other => panic!("{other:?}"),
    }
    // 18 ticks of 54.9 ms with an empty poll every 50 ms: about 20 polls,
    // about one second after the 2.5 s boot-menu wait.
    let polls = r.counters.bios_calls.get("int 16h AH=01h").copied().unwrap_or(0);
    assert!((18..=22).contains(&polls), "{polls} polls");
    let secs = r.counters.sim_time_ns as f64 / 1e9;
    assert!((3.4..3.6).contains(&secs), "{secs} s");
}
