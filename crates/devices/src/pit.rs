//! The 8254 programmable interval timer (ports 0x40–0x43) and the
//! speaker/NMI status port 0x61, on the simulated clock.
//!
//! Loaders time themselves with them: GRUB 2 calibrates its TSC against
//! PIT channel 2 (grub-core/kern/i386/tsc_pit.c `grub_pit_wait`: channel 2
//! in mode 0 with a count of 0xFFFF, gate on through port 0x61 bit 0, then
//! poll port 0x61 until bit 5, OUT2, rises — 55 ms), and every later
//! timeout (the menu countdown) is measured with that TSC rate. Without the
//! timer, OUT2 reads as set at once, the TSC seems to run a few hundred
//! ticks in 55 ms, and every GRUB 2 timeout ends early.
//!
//! The model follows Xen's (xen/arch/x86/hvm/i8254.c, whose channel logic
//! QEMU's hw/timer/i8254.c shares): a channel counts from the moment its
//! count is written (`count_load_time`) at 1,193,182 Hz, whatever its gate
//! in modes 0 and 4, from the gate's rising edge in modes 1, 2, 3 and 5;
//! `pit_get_count` and `pit_get_out` per mode; reads and writes of the
//! count by LSB, MSB or both, and the latch command; port 0x61 reads the
//! channel 2 gate (bit 0), the speaker data bit (1), a refresh toggle (4)
//! and OUT2 (5) (`speaker_ioport_read`). SeaBIOS leaves channel 0 in mode 2
//! with a count of 65,536 (src/hw/timer.c `pit_setup`); at power-on the
//! other channels are in mode 3, channel 2's gate off (`pit_reset`).
//! The timer interrupt itself is not delivered here: the BDA tick count
//! follows the clock, and `hlt` waits for the next tick.

/// The PIT's input clock, Hz.
pub const PIT_HZ: u64 = 1_193_182;

/// Read/write state of a channel's count: which byte comes next.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
enum Access {
    /// Access mode 1: the low byte only.
    Lsb,
    /// Access mode 2: the high byte only.
    Msb,
    /// Access mode 3: low then high byte; `true` once the low one is done.
    #[default]
    Word,
}

#[derive(Clone, Copy, Debug)]
struct Channel {
    /// The count written (1..=65,536; 0 written means 65,536).
    count: u32,
    mode: u8,
    access: Access,
    /// Word access: the low byte has been written / read, the high is next.
    write_high_next: bool,
    read_high_next: bool,
    /// The low byte of a word write, until the high one arrives.
    pending_low: u8,
    /// A latched count (control word access 0), read before the live one.
    latched: Option<u16>,
    latched_high_next: bool,
    gate: bool,
    /// Simulated ns when counting started.
    load_ns: u64,
}

impl Channel {
    fn new(mode: u8, gate: bool) -> Channel {
        Channel {
            count: 0x1_0000,
            mode,
            access: Access::Word,
            write_high_next: false,
            read_high_next: false,
            pending_low: 0,
            latched: None,
            latched_high_next: false,
            gate,
            load_ns: 0,
        }
    }

    /// Input clock ticks since counting started.
    fn ticks(&self, now_ns: u64) -> u64 {
        (u128::from(now_ns.saturating_sub(self.load_ns)) * u128::from(PIT_HZ) / 1_000_000_000) as u64
    }

    /// The counting element (`pit_get_count`).
    fn current(&self, now_ns: u64) -> u16 {
        let d = self.ticks(now_ns);
        let c = u64::from(self.count);
        let v = match self.mode {
            0 | 1 | 4 | 5 => c.wrapping_sub(d) & 0xFFFF,
            3 => c - (2 * d) % c,
            _ => c - d % c,
        };
        v as u16
    }

    /// The OUT pin (`pit_get_out`).
    fn out(&self, now_ns: u64) -> bool {
        let d = self.ticks(now_ns);
        let c = u64::from(self.count);
        match self.mode {
            0 => d >= c,
            1 => d < c,
            2 => d.is_multiple_of(c) && d != 0,
            3 => d % c < c.div_ceil(2),
            _ => d == c,
        }
    }
}

/// The three channels and port 0x61.
#[derive(Clone, Debug)]
pub struct Pit {
    channels: [Channel; 3],
    /// Port 0x61 bit 1: speaker data on.
    speaker_data: bool,
}

impl Default for Pit {
    fn default() -> Pit {
        let mut ch0 = Channel::new(2, true);
        ch0.count = 0x1_0000;
        Pit { channels: [ch0, Channel::new(3, true), Channel::new(3, false)], speaker_data: false }
    }
}

impl Pit {
    /// Whether `port` is the PIT's or port 0x61.
    pub fn claims(port: u16) -> bool {
        matches!(port, 0x40..=0x43 | 0x61)
    }

    pub fn read(&mut self, port: u16, now_ns: u64) -> u8 {
        match port {
            0x61 => {
                let c = &self.channels[2];
                // Xen: `refresh_clock = ((unsigned int)NOW() >> 14) & 1`.
                let refresh = (now_ns >> 14) & 1 == 1;
                u8::from(c.gate)
                    | u8::from(self.speaker_data) << 1
                    | u8::from(refresh) << 4
                    | u8::from(c.out(now_ns)) << 5
            }
            0x40..=0x42 => {
                let c = &mut self.channels[usize::from(port - 0x40)];
                if let Some(l) = c.latched {
                    let byte = match c.access {
                        Access::Lsb => l as u8,
                        Access::Msb => (l >> 8) as u8,
                        Access::Word if c.latched_high_next => (l >> 8) as u8,
                        Access::Word => {
                            c.latched_high_next = true;
                            return l as u8;
                        }
                    };
                    c.latched = None;
                    c.latched_high_next = false;
                    return byte;
                }
                let v = c.current(now_ns);
                match c.access {
                    Access::Lsb => v as u8,
                    Access::Msb => (v >> 8) as u8,
                    Access::Word => {
                        c.read_high_next = !c.read_high_next;
                        if c.read_high_next { v as u8 } else { (v >> 8) as u8 }
                    }
                }
            }
            // The control word register cannot be read.
            _ => 0xFF,
        }
    }

    pub fn write(&mut self, port: u16, value: u8, now_ns: u64) {
        match port {
            0x61 => {
                let gate = value & 1 != 0;
                let c = &mut self.channels[2];
                // pit_set_gate: modes 1, 2, 3 and 5 restart on a rising edge.
                if !c.gate && gate && matches!(c.mode, 1 | 2 | 3 | 5) {
                    c.load_ns = now_ns;
                }
                c.gate = gate;
                self.speaker_data = value & 2 != 0;
            }
            0x43 => {
                let channel = usize::from(value >> 6);
                // 3: the read-back command (8254); its count latches are
                // what loaders use of it.
                if channel == 3 {
                    for (i, c) in self.channels.iter_mut().enumerate() {
                        if value & 0x20 == 0 && value & (2 << i) != 0 && c.latched.is_none() {
                            c.latched = Some(c.current(now_ns));
                        }
                    }
                    return;
                }
                let c = &mut self.channels[channel];
                match (value >> 4) & 3 {
                    0 => {
                        if c.latched.is_none() {
                            c.latched = Some(c.current(now_ns));
                            c.latched_high_next = false;
                        }
                    }
                    a => {
                        c.access = match a {
                            1 => Access::Lsb,
                            2 => Access::Msb,
                            _ => Access::Word,
                        };
                        // Modes 6 and 7 are 2 and 3.
                        let mode = (value >> 1) & 7;
                        c.mode = if mode >= 6 { mode - 4 } else { mode };
                        c.write_high_next = false;
                        c.read_high_next = false;
                    }
                }
            }
            0x40..=0x42 => {
                let c = &mut self.channels[usize::from(port - 0x40)];
                let count = match c.access {
                    Access::Lsb => u32::from(value),
                    Access::Msb => u32::from(value) << 8,
                    Access::Word if !c.write_high_next => {
                        c.pending_low = value;
                        c.write_high_next = true;
                        return;
                    }
                    Access::Word => {
                        c.write_high_next = false;
                        u32::from(c.pending_low) | u32::from(value) << 8
                    }
                };
                c.count = if count == 0 { 0x1_0000 } else { count };
                c.load_ns = now_ns;
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GRUB 2's grub_pit_wait, as its port accesses go.
    #[test]
    fn grub_pit_wait_sees_out2_rise_after_55_ms() {
        let mut pit = Pit::default();
        let mut now = 1_000_000u64;
        let v = pit.read(0x61, now);
        pit.write(0x61, v & !0x03, now);
        pit.write(0x43, 0xB0, now); // channel 2, LSB then MSB, mode 0
        pit.write(0x42, 0xFF, now);
        pit.write(0x42, 0xFF, now);
        let v = pit.read(0x61, now);
        pit.write(0x61, (v & !0x02) | 0x01, now);
        let start = now;
        let mut polls = 0u64;
        while pit.read(0x61, now) & 0x20 == 0 {
            now += 1_000; // one port exit
            polls += 1;
            assert!(polls < 1_000_000);
        }
        // 0xFFFF ticks of 1,193,182 Hz: 54.925 ms.
        let waited = now - start;
        assert!((54_924_000..=54_926_000).contains(&waited), "{waited}");
    }

    #[test]
    fn counts_down_and_latches() {
        let mut pit = Pit::default();
        pit.write(0x43, 0x34, 0); // channel 0, word, mode 2
        pit.write(0x40, 0x00, 0);
        pit.write(0x40, 0x10, 0); // 0x1000
        let t = 1_000_000; // 1 ms: 1193 ticks
        pit.write(0x43, 0x00, t); // latch channel 0
        let lo = pit.read(0x40, t + 5_000_000);
        let hi = pit.read(0x40, t + 5_000_000);
        assert_eq!(u16::from(hi) << 8 | u16::from(lo), 0x1000 - 1193);
        // Live reads move on; the control port reads as all ones.
        let lo = pit.read(0x40, 2 * t);
        let hi = pit.read(0x40, 2 * t);
        assert_eq!(u16::from(hi) << 8 | u16::from(lo), 0x1000 - 2386);
        assert_eq!(pit.read(0x43, 0), 0xFF);
    }

    #[test]
    fn port_61_reflects_gate_speaker_and_refresh() {
        let mut pit = Pit::default();
        pit.write(0x61, 0x03, 0);
        assert_eq!(pit.read(0x61, 0) & 0x03, 0x03);
        let a = pit.read(0x61, 0) & 0x10;
        let b = pit.read(0x61, 1 << 14) & 0x10;
        assert_ne!(a, b);
    }
}
