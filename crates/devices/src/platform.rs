//! The Xen platform PCI device (QEMU `hw/i386/xen/xen_platform.c`) as far
//! as a PV-on-HVM guest touches it: PCI configuration mechanism #1
//! (0xCF8/0xCFC) answering for the devices of a Xen HVM guest's bus 0, and
//! the fixed "xen-fixed" I/O region at port 0x10 with the emulated-device
//! unplug protocol (`docs/misc/hvm-emulated-unplug.pandoc`,
//! boot-paths.md §4.3–4.4).
//!
//! Every access is a port exit on the HVM port bus (`boot::hvm::bus::HvmBus`),
//! charged like any other access forwarded to the device model.

use serde::Serialize;

/// XEN_IOPORT_BASE.
pub const XEN_IOPORT_BASE: u16 = 0x10;
/// Protocol version / product number / log port.
pub const XEN_IOPORT_VERSION: u16 = 0x12;
/// XEN_IOPORT_MAGIC_VAL (0xd249 when the driver is blacklisted).
pub const XEN_IOPORT_MAGIC: u16 = 0x49d2;
/// XEN_UNPLUG_ALL_IDE_DISKS.
pub const XEN_UNPLUG_ALL_IDE_DISKS: u16 = 1;
/// XEN_UNPLUG_ALL_NICS.
pub const XEN_UNPLUG_ALL_NICS: u16 = 2;
pub const PCI_CONFIG_ADDRESS: u16 = 0xCF8;
pub const PCI_CONFIG_DATA: u16 = 0xCFC;
/// PCI_VENDOR_ID_XEN / PCI_DEVICE_ID_XEN_PLATFORM.
pub const XEN_PLATFORM_VENDOR: u16 = 0x5853;
pub const XEN_PLATFORM_DEVICE: u16 = 0x0001;
/// Slot of the platform device on bus 0 (00:03.0 in an EC2 Xen HVM
/// guest's `lspci`, after 440FX, PIIX3 and the VGA at 00:02.0).
pub const XEN_PLATFORM_SLOT: u8 = 3;

/// Bus 0 of a Xen HVM guest: (device, function, vendor, device id,
/// class << 8 | revision, BAR0, BAR1).
const DEVICES: [(u8, u8, u16, u16, u32, u32, u32); 5] = [
    (0, 0, 0x8086, 0x1237, 0x0600_0002, 0, 0), // i440FX host bridge
    (1, 0, 0x8086, 0x7000, 0x0601_0000, 0, 0), // PIIX3 ISA bridge
    (1, 1, 0x8086, 0x7010, 0x0101_8000, 0, 0), // PIIX3 IDE
    (2, 0, 0x1013, 0x00B8, 0x0300_0000, 0xF000_0008, 0xF200_0000), // Cirrus VGA
    (XEN_PLATFORM_SLOT, 0, XEN_PLATFORM_VENDOR, XEN_PLATFORM_DEVICE, 0xFF80_0001, 0xC001, 0xF100_0008),
];

/// The device's state as the guest left it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct XenPlatformState {
    /// Last value written to 0xCF8.
    pub config_address: u32,
    /// Unplug mask written to port 0x10 (16-bit), OR-ed over writes.
    pub unplugged: u16,
    /// Product number written to 0x12 (16-bit).
    pub product: Option<u16>,
    /// Driver build written to 0x10 (32-bit).
    pub build: Option<u32>,
    /// PCI command register of the platform device.
    pub command: u16,
    /// Log bytes (8-bit writes to 0x12).
    pub log: Vec<u8>,
}

impl XenPlatformState {
    /// Whether `port` is the platform device's or PCI configuration.
    #[inline]
    pub fn claims(port: u16) -> bool {
        matches!(port, 0x10..=0x1F | PCI_CONFIG_ADDRESS..=0xCFF)
    }

    /// Whether the emulated IDE disks were unplugged.
    pub fn ide_unplugged(&self) -> bool {
        self.unplugged & XEN_UNPLUG_ALL_IDE_DISKS != 0
    }

    fn config_dword(&self) -> u32 {
        let a = self.config_address;
        if a & 0x8000_0000 == 0 || (a >> 16) & 0xFF != 0 {
            return 0xFFFF_FFFF;
        }
        let (dev, func, reg) = (((a >> 11) & 0x1F) as u8, ((a >> 8) & 7) as u8, (a & 0xFC) as u8);
        let Some(&(_, _, vendor, device, class, bar0, bar1)) = DEVICES.iter().find(|d| d.0 == dev && d.1 == func)
        else {
            return 0xFFFF_FFFF;
        };
        match reg {
            0x00 => u32::from(device) << 16 | u32::from(vendor),
            0x04 if dev == XEN_PLATFORM_SLOT => u32::from(self.command),
            0x08 => class,
            // Header type: multi-function for the PIIX3 slot.
            0x0C if dev == 1 => 0x0080_0000,
            0x10 => bar0,
            0x14 => bar1,
            0x2C if dev == XEN_PLATFORM_SLOT => u32::from(XEN_PLATFORM_DEVICE) << 16 | u32::from(XEN_PLATFORM_VENDOR),
            0x3C if dev == XEN_PLATFORM_SLOT => 0x0100, // interrupt pin A
            _ => 0,
        }
    }

    /// A port read of `size` bytes.
    pub fn read(&self, port: u16, size: u8) -> u32 {
        match (port, size) {
            (XEN_IOPORT_BASE, 2) => u32::from(XEN_IOPORT_MAGIC),
            (XEN_IOPORT_VERSION, 1) => 1,
            (PCI_CONFIG_ADDRESS, 4) => self.config_address,
            (PCI_CONFIG_DATA..=0xCFF, _) => {
                let shift = 8 * u32::from(port - PCI_CONFIG_DATA);
                self.config_dword() >> shift
            }
            _ => 0xFFFF_FFFF,
        }
    }

    /// A port write of `size` bytes.
    pub fn write(&mut self, port: u16, size: u8, value: u32) {
        match (port, size) {
            (XEN_IOPORT_BASE, 2) => self.unplugged |= value as u16,
            (XEN_IOPORT_BASE, 4) => self.build = Some(value),
            (XEN_IOPORT_VERSION, 2) => self.product = Some(value as u16),
            (XEN_IOPORT_VERSION, 1) => self.log.push(value as u8),
            (PCI_CONFIG_ADDRESS, 4) => self.config_address = value,
            (PCI_CONFIG_DATA, _) => {
                let a = self.config_address;
                let platform = a & 0x8000_0000 != 0 && (a >> 11) & 0x1F == u32::from(XEN_PLATFORM_SLOT);
                if platform && a & 0xFC == 0x04 {
                    self.command = value as u16;
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unplug_protocol_and_config_space() {
        let mut p = XenPlatformState::default();
        assert_eq!(p.read(XEN_IOPORT_BASE, 2), 0x49d2);
        assert_eq!(p.read(XEN_IOPORT_VERSION, 1), 1);
        p.write(PCI_CONFIG_ADDRESS, 4, 0x8000_0000 | u32::from(XEN_PLATFORM_SLOT) << 11);
        assert_eq!(p.read(PCI_CONFIG_DATA, 4), 0x0001_5853);
        p.write(PCI_CONFIG_ADDRESS, 4, 0x8000_0000 | 9 << 11);
        assert_eq!(p.read(PCI_CONFIG_DATA, 4), 0xFFFF_FFFF);
        p.write(XEN_IOPORT_BASE, 2, u32::from(XEN_UNPLUG_ALL_IDE_DISKS | XEN_UNPLUG_ALL_NICS));
        assert!(p.ide_unplugged());
    }
}
