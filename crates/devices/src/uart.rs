//! COM1: a 16550A UART at 0x3F8 as QEMU's device model emulates it for
//! HVM guests (hw/char/serial.c), output only. Boot loaders send their
//! terminal there (GRUB 2 `serial; terminal_output serial`, SYSLINUX
//! `SERIAL 0`) and the kernel its `console=ttyS0`; the bytes written to
//! the transmit register are the serial transcript of the run.
//!
//! Nothing is ever received: the receive buffer is empty (LSR.DR = 0) and
//! keys come through int 16h (`--keys`). Transmission is instant: the
//! line status always says the transmitter is empty (LSR.THRE | LSR.TEMT),
//! as QEMU's does when its character backend keeps up.

/// I/O base of COM1 (the BDA's first serial port).
pub const COM1: u16 = 0x3F8;
/// Most serial bytes kept (a looping guest cannot fill memory).
pub const MAX_SERIAL: usize = 1 << 20;

/// Line status: transmit holding register empty, transmitter empty
/// (serial.c `UART_LSR_THRE | UART_LSR_TEMT` after reset).
const LSR_IDLE: u8 = 0x60;
/// Modem status after reset in QEMU: DCD, DSR, CTS (`UART_MSR_DCD |
/// UART_MSR_DSR | UART_MSR_CTS`).
const MSR_RESET: u8 = 0xB0;
/// LCR bit 7: the divisor latch is mapped at offsets 0 and 1.
const LCR_DLAB: u8 = 0x80;
/// MCR bit 4: loopback (transmitted bytes are not sent on the line).
const MCR_LOOP: u8 = 0x10;

/// The UART's registers and what it sent.
#[derive(Clone, Debug)]
pub struct Uart {
    divisor: u16,
    ier: u8,
    fcr: u8,
    lcr: u8,
    mcr: u8,
    scr: u8,
    /// Bytes transmitted, up to [`MAX_SERIAL`].
    pub output: Vec<u8>,
    /// Bytes transmitted after `output` was full.
    pub dropped: u64,
}

impl Default for Uart {
    fn default() -> Self {
        // serial.c `serial_reset`: divisor 0x0C (9600 baud), LCR 8N1 = 0x03.
        Uart { divisor: 0x0C, ier: 0, fcr: 0, lcr: 0x03, mcr: 0, scr: 0, output: Vec::new(), dropped: 0 }
    }
}

impl Uart {
    /// Whether `port` is one of COM1's eight registers.
    pub fn claims(port: u16) -> bool {
        (COM1..COM1 + 8).contains(&port)
    }

    /// A register read (16550 data sheet, register map).
    pub fn read(&mut self, port: u16) -> u8 {
        let dlab = self.lcr & LCR_DLAB != 0;
        match port.wrapping_sub(COM1) {
            0 if dlab => self.divisor as u8,
            0 => 0, // RBR: nothing received
            1 if dlab => (self.divisor >> 8) as u8,
            1 => self.ier,
            // IIR: no interrupt pending; FIFOs enabled shows in bits 6-7.
            2 => 0x01 | if self.fcr & 0x01 != 0 { 0xC0 } else { 0 },
            3 => self.lcr,
            4 => self.mcr,
            5 => LSR_IDLE,
            6 if self.mcr & MCR_LOOP != 0 => {
                // Loopback: MCR's RTS/DTR/OUT1/OUT2 appear as CTS/DSR/RI/DCD.
                let m = self.mcr;
                ((m & 0x02) << 3) | ((m & 0x01) << 5) | ((m & 0x04) << 4) | ((m & 0x08) << 4)
            }
            6 => MSR_RESET,
            _ => self.scr,
        }
    }

    /// A register write.
    pub fn write(&mut self, port: u16, value: u8) {
        let dlab = self.lcr & LCR_DLAB != 0;
        match port.wrapping_sub(COM1) {
            0 if dlab => self.divisor = (self.divisor & 0xFF00) | u16::from(value),
            0 => {
                if self.mcr & MCR_LOOP == 0 {
                    if self.output.len() < MAX_SERIAL {
                        self.output.push(value);
                    } else {
                        self.dropped += 1;
                    }
                }
            }
            1 if dlab => self.divisor = (self.divisor & 0x00FF) | u16::from(value) << 8,
            1 => self.ier = value & 0x0F,
            2 => self.fcr = value & 0xC9,
            3 => self.lcr = value,
            4 => self.mcr = value & 0x1F,
            6 | 5 => {}
            _ => self.scr = value,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transmits_and_keeps_the_divisor_apart() {
        let mut u = Uart::default();
        u.write(COM1 + 3, 0x83); // DLAB on
        u.write(COM1, 0x01); // 115200 baud
        u.write(COM1 + 1, 0x00);
        u.write(COM1 + 3, 0x03); // 8N1, DLAB off
        assert_eq!(u.read(COM1 + 5) & 0x20, 0x20);
        u.write(COM1, b'h');
        u.write(COM1, b'i');
        assert_eq!(u.output, b"hi");
        u.write(COM1 + 3, 0x83);
        assert_eq!((u.read(COM1), u.read(COM1 + 1)), (0x01, 0x00));
        u.write(COM1 + 7, 0x5A);
        assert_eq!(u.read(COM1 + 7), 0x5A);
    }

    #[test]
    fn loopback_sends_nothing() {
        let mut u = Uart::default();
        u.write(COM1 + 4, MCR_LOOP | 0x03);
        u.write(COM1, b'x');
        assert!(u.output.is_empty());
        assert_eq!(u.read(COM1 + 6) & 0x30, 0x30);
    }
}
