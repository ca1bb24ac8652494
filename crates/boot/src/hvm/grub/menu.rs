//! GRUB 0.97's menu interface on the BIOS console: `run_menu`,
//! `print_border`, `print_entries`, `print_entry` (stage2/stage2.c), the
//! console primitives they call (stage2/asm.S `console_gotoxy`,
//! `console_setcursor`, `console_checkkey`, `console_getkey`,
//! `getrtsecs`; stage2/char_io.c `init_page`) and `color_func`
//! (stage2/builtins.c).
//!
//! The texts are Debian's grub-legacy 0.97-80 build, whose strings differ
//! from upstream 0.97 by their indentation (four columns instead of six for
//! the help lines, a leading blank in the countdown line); the layout was
//! checked against that binary under QEMU (tests/interop_hvm.rs).
//!
//! Time: GRUB polls `getrtsecs` (int 1Ah AH=02h, the RTC seconds) and
//! `checkkey` (int 16h AH=01h) in a busy loop. The model makes one poll of
//! each per RTC second and moves the simulated clock to the next second
//! between them: the polls it leaves out would find neither a new second
//! nor a key.

use boot_config::grub_legacy;
use x86::Gpr;

use super::{LOADER, Stage2};
use crate::hvm::EndState;
use crate::hvm::console::COLOR_NAMES;

/// stage2/shared.h `DISP_*`: the code page 437 characters of the box.
const DISP_UL: u8 = 218;
const DISP_UR: u8 = 191;
const DISP_LL: u8 = 192;
const DISP_LR: u8 = 217;
const DISP_HORIZ: u8 = 196;
const DISP_VERT: u8 = 179;
const DISP_RIGHT: u8 = 0x1A;
const DISP_UP: u8 = 0x18;
const DISP_DOWN: u8 = 0x19;
/// shared.h `A_NORMAL` / `A_REVERSE`: console_normal_color and
/// console_highlight_color until `color` changes them.
pub(super) const A_NORMAL: u8 = 0x07;
pub(super) const A_REVERSE: u8 = 0x70;
/// `print_border (3, 12)`: the box's top row and the rows of entries.
const BOX_Y: u8 = 3;
const BOX_ROWS: usize = 12;
const NS_PER_S: u64 = 1_000_000_000;

/// console.c `console_normal_color` / `console_highlight_color`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Colors {
    pub normal: u8,
    pub highlight: u8,
}

impl Default for Colors {
    fn default() -> Colors {
        Colors { normal: A_NORMAL, highlight: A_REVERSE }
    }
}

/// builtins.c `color_func`: `NORMAL [HIGHLIGHT]`, each `FG/BG` by name
/// (`blink-` before FG sets bit 7; BG only from the first eight names) or
/// a number; a missing HIGHLIGHT is NORMAL with its nibbles swapped.
/// `None` where color_func returns 1 (ERR_BAD_ARGUMENT: the command fails).
pub(super) fn parse_color(arg: &str) -> Option<Colors> {
    let number = |s: &str| -> Option<u8> {
        match s.split_once('/') {
            Some((fg, bg)) => {
                let (blink, fg) = match fg.strip_prefix("blink-") {
                    Some(f) => (0x80, f),
                    None => (0, fg),
                };
                let f = COLOR_NAMES.iter().position(|n| *n == fg)? as u8;
                let b = COLOR_NAMES[..8].iter().position(|n| *n == bg)? as u8;
                Some(blink | f | b << 4)
            }
            None => grub_legacy::parse_maxint(s).map(|(v, _)| v as u8),
        }
    };
    let mut words = arg.split(' ').filter(|w| !w.is_empty());
    let normal = number(words.next()?)?;
    let highlight = match words.next() {
        Some(h) => number(h)?,
        None => normal >> 4 | (normal & 0x0F) << 4,
    };
    Some(Colors { normal, highlight })
}

/// How the menu ended.
pub(super) enum MenuEnd {
    /// Boot `entry` (first_entry + entryno). `fallback`: false once a key
    /// was pressed during the countdown (`fallback_entryno = -1`).
    Boot {
        entry: usize,
        why: String,
        fallback: bool,
    },
    Stop(EndState),
}

/// The menu's inputs from the config file.
pub(super) struct MenuSpec<'a> {
    pub titles: &'a [String],
    pub default: usize,
    /// `grub_timeout`: seconds, `None` = -1 (wait for a key).
    pub timeout: Option<u64>,
    pub hidden: bool,
    pub password: bool,
    pub version: &'a str,
}

impl Stage2 {
    /// console_gotoxy: int 10h AH=02h, page 0.
    fn gotoxy(&self, x: u8, y: u8) {
        let dx = u32::from(y) << 8 | u32::from(x);
        self.vm().bios_call(0x10, &[(Gpr::Eax, 0x0200), (Gpr::Ebx, 0), (Gpr::Edx, dx)], &[]);
    }

    /// console_setcursor: the shape read once with AH=03h, then AH=01h
    /// with it (on) or 2000h (off).
    pub(super) fn setcursor(&self, on: bool) {
        let mut vm = self.vm();
        let shape = vm.bios_call(0x10, &[(Gpr::Eax, 0x0300), (Gpr::Ebx, 0)], &[]).gpr[Gpr::Ecx as usize] & 0xFFFF;
        let cx = if on { shape } else { 0x2000 };
        vm.bios_call(0x10, &[(Gpr::Eax, 0x0100), (Gpr::Ecx, cx)], &[]);
    }

    /// getrtsecs: int 1Ah AH=02h, DH (BCD seconds) or FFh on CF.
    fn getrtsecs(&self) -> u8 {
        let r = self.vm().bios_call(0x1A, &[(Gpr::Eax, 0x0200)], &[]);
        if r.eflags & x86::flags::CF != 0 { 0xFF } else { (r.gpr[Gpr::Edx as usize] >> 8) as u8 }
    }

    /// console_checkkey: int 16h AH=01h; the key (translated) or None.
    fn checkkey(&self) -> Option<u8> {
        let r = self.vm().bios_call(0x16, &[(Gpr::Eax, 0x0100)], &[]);
        (r.eflags & x86::flags::ZF == 0).then(|| translate_keycode(r.gpr[Gpr::Eax as usize] as u16))
    }

    /// console_getkey: int 16h AH=00h; None when `--keys` has run out
    /// (the BIOS would wait forever).
    fn getkey(&self) -> Option<u8> {
        let mut vm = self.vm();
        let r = vm.bios_call(0x16, &[(Gpr::Eax, 0x0000)], &[]);
        if vm.bios.end.take().is_some() {
            return None;
        }
        Some(translate_keycode(r.gpr[Gpr::Eax as usize] as u16))
    }

    /// The polls between two RTC seconds are left out: the clock moves to
    /// the start of the next second.
    fn next_second(&self) {
        let mut vm = self.vm();
        let now = vm.bus.clock.now().0;
        vm.bus.clock.advance(NS_PER_S - now % NS_PER_S);
        vm.update_ticks();
    }

    /// char_io.c init_page: cls and the version line.
    pub(super) fn init_page(&self, version: &str) {
        self.cls();
        self.print(&format!(
            "\n    GNU GRUB  version {version}  ({}K lower / {}K upper memory)\n\n",
            self.mem_lower, self.mem_upper
        ));
    }

    fn print_entry(&self, y: u8, highlight: bool, title: &str) {
        self.color.set(if highlight { self.colors.get().highlight } else { self.colors.get().normal });
        self.gotoxy(2, y);
        self.putc(b' ');
        let mut t = title.bytes();
        let mut left = t.next();
        for x in 3..75u8 {
            match left {
                Some(_) if x == 72 => self.putc(DISP_RIGHT),
                Some(c) if x < 72 => {
                    self.putc(c);
                    left = t.next();
                }
                _ => self.putc(b' '),
            }
        }
        self.gotoxy(74, y);
        self.color.set(A_NORMAL);
    }

    fn print_entries(&self, titles: &[String], first: usize, entryno: usize) {
        self.gotoxy(77, BOX_Y + 1);
        self.putc(if first > 0 { DISP_UP } else { b' ' });
        for i in 0..BOX_ROWS {
            let title = titles.get(first + i).map_or("", String::as_str);
            self.print_entry(BOX_Y + 1 + i as u8, entryno == i, title);
        }
        self.gotoxy(77, BOX_Y + BOX_ROWS as u8);
        self.putc(if titles.len() > first + BOX_ROWS { DISP_DOWN } else { b' ' });
        self.gotoxy(74, BOX_Y + 1 + entryno as u8);
    }

    fn print_border(&self) {
        self.color.set(self.colors.get().normal);
        self.gotoxy(1, BOX_Y);
        self.putc(DISP_UL);
        for _ in 0..73 {
            self.putc(DISP_HORIZ);
        }
        self.putc(DISP_UR);
        for i in 1..=BOX_ROWS as u8 {
            self.gotoxy(1, BOX_Y + i);
            self.putc(DISP_VERT);
            self.gotoxy(75, BOX_Y + i);
            self.putc(DISP_VERT);
        }
        self.gotoxy(1, BOX_Y + BOX_ROWS as u8 + 1);
        self.putc(DISP_LL);
        for _ in 0..73 {
            self.putc(DISP_HORIZ);
        }
        self.putc(DISP_LR);
        self.color.set(A_NORMAL);
    }

    fn waiting(&self, what: &str) -> MenuEnd {
        let at = self.vm().loc();
        MenuEnd::Stop(EndState::WaitingForKey { at, function: format!("int 16h AH=00h read key: {what}") })
    }

    /// run_menu up to `boot_entry` (or a stop).
    pub(super) fn run_menu(&mut self, m: &MenuSpec<'_>) -> MenuEnd {
        let n = m.titles.len();
        let mut timeout: i64 = m.timeout.map_or(-1, |t| t.min(i64::MAX as u64) as i64);
        let (mut first, mut entryno) = (0usize, m.default);
        while entryno > BOX_ROWS - 1 {
            first += 1;
            entryno -= 1;
        }
        let mut show_menu = !m.hidden || timeout < 0;
        let mut time2: Option<u8> = None;
        let mut why = format!("the default entry {}", m.default);
        if !show_menu {
            self.getrtsecs();
            loop {
                if self.checkkey().is_some() {
                    match self.getkey() {
                        Some(27) => {
                            timeout = -1;
                            show_menu = true;
                            break;
                        }
                        Some(_) => {}
                        None => return self.waiting("hidden menu"),
                    }
                }
                let t = self.getrtsecs();
                if timeout >= 0 && Some(t) != time2 && t != 0xFF {
                    if timeout <= 0 {
                        let why = format!("{why}: the hidden menu's timeout elapsed");
                        return MenuEnd::Boot { entry: m.default, why, fallback: true };
                    }
                    time2 = Some(t);
                    timeout -= 1;
                    self.print(&format!("\rPress `ESC' to enter the menu... {timeout}   "));
                }
                self.next_second();
            }
        }
        let mut fallback = true;
        let help = if m.password {
            "    Press enter to boot the selected OS or 'p' to enter a\n    password to unlock the next set of features."
        } else {
            "    Press enter to boot the selected OS, 'e' to edit the\n    commands before booting, or 'c' for a command-line."
        };
        if show_menu {
            self.init_page(m.version);
            self.setcursor(false);
            self.print_border();
            self.print(&format!(
                "\n    Use the {} and {} keys to select which entry is highlighted.\n",
                '\u{18}', '\u{19}'
            ));
            self.print(help);
            self.print_entries(m.titles, first, entryno);
        }
        self.getrtsecs();
        loop {
            if timeout >= 0 {
                let t = self.getrtsecs();
                if Some(t) != time2 && t != 0xFF {
                    if timeout <= 0 {
                        why = format!("{why}: the menu's timeout elapsed");
                        break;
                    }
                    time2 = Some(t);
                    self.gotoxy(3, 22);
                    self.print(&format!(
                        " The highlighted entry will be booted automatically in {timeout} seconds.   "
                    ));
                    self.gotoxy(74, 4 + entryno as u8);
                    timeout -= 1;
                }
            }
            if self.checkkey().is_none() && timeout >= 0 {
                self.next_second();
                continue;
            }
            let Some(c) = self.getkey() else {
                return self.waiting("the GRUB legacy menu (no --keys left)");
            };
            if timeout >= 0 {
                self.gotoxy(3, 22);
                self.print(&" ".repeat(68));
                timeout = -1;
                fallback = false;
                self.gotoxy(74, 4 + entryno as u8);
            }
            let title = |i: usize| m.titles.get(i).map_or("", String::as_str);
            match c {
                16 | b'^' => {
                    if entryno > 0 {
                        self.print_entry(4 + entryno as u8, false, title(first + entryno));
                        entryno -= 1;
                        self.print_entry(4 + entryno as u8, true, title(first + entryno));
                    } else if first > 0 {
                        first -= 1;
                        self.print_entries(m.titles, first, entryno);
                    }
                }
                14 | b'v' if first + entryno + 1 < n => {
                    if entryno < BOX_ROWS - 1 {
                        self.print_entry(4 + entryno as u8, false, title(first + entryno));
                        entryno += 1;
                        self.print_entry(4 + entryno as u8, true, title(first + entryno));
                    } else if n > BOX_ROWS + first {
                        first += 1;
                        self.print_entries(m.titles, first, entryno);
                    }
                }
                7 => {
                    // Page Up.
                    let f = first as i64 - BOX_ROWS as i64;
                    if f < 0 {
                        entryno = (entryno as i64 + f).max(0) as usize;
                        first = 0;
                    } else {
                        first = f as usize;
                    }
                    self.print_entries(m.titles, first, entryno);
                }
                3 => {
                    // Page Down.
                    first += BOX_ROWS;
                    if first + entryno + 1 >= n {
                        first = n.saturating_sub(BOX_ROWS);
                        entryno = n - first - 1;
                    }
                    self.print_entries(m.titles, first, entryno);
                }
                _ => {}
            }
            match c {
                b'\n' | b'\r' | 6 => {
                    why = format!("entry {} chosen with the keys from --keys", first + entryno);
                    break;
                }
                b'p' if m.password => {
                    return MenuEnd::Stop(EndState::LoaderStopped {
                        loader: LOADER.into(),
                        reason: "'p' in the menu: the password prompt (get_cmdline, check_password) is not modelled"
                            .into(),
                    });
                }
                b'e' | b'c' if !m.password => {
                    let what = if c == b'e' { "the entry editor" } else { "the command line" };
                    return MenuEnd::Stop(EndState::LoaderStopped {
                        loader: LOADER.into(),
                        reason: format!(
                            "'{}' in the menu opens {what}: not modelled (entry {} highlighted)",
                            char::from(c),
                            first + entryno
                        ),
                    });
                }
                _ => {}
            }
        }
        MenuEnd::Boot { entry: first + entryno, why, fallback }
    }
}

/// asm.S translate_keycode: the grey keys' AX to GRUB's control codes
/// (KEY_UP 0x4800 → 16, KEY_DOWN 0x5000 → 14, KEY_LEFT → 2, KEY_RIGHT →
/// 6, KEY_HOME → 1, KEY_END → 5, KEY_DC → 4, KEY_PPAGE → 7, KEY_NPAGE →
/// 3); other keys give their ASCII byte (`ASCII_CHAR`).
fn translate_keycode(ax: u16) -> u8 {
    match ax {
        0x4B00 => 2,
        0x4D00 => 6,
        0x4800 => 16,
        0x5000 => 14,
        0x4700 => 1,
        0x4F00 => 5,
        0x5300 => 4,
        0x0008 => 8,
        0x4900 => 7,
        0x5100 => 3,
        _ => ax as u8,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn color_func_names_numbers_and_the_inverted_default() {
        assert_eq!(parse_color("light-gray/blue black/light-gray"), Some(Colors { normal: 0x17, highlight: 0x70 }));
        assert_eq!(parse_color("blink-red/black"), Some(Colors { normal: 0x84, highlight: 0x48 }));
        assert_eq!(parse_color("cyan/blue"), Some(Colors { normal: 0x13, highlight: 0x31 }));
        assert_eq!(parse_color("0x1f"), Some(Colors { normal: 0x1F, highlight: 0xF1 }));
        assert_eq!(parse_color("white/yellow"), None, "BG from the first eight only");
        assert_eq!(parse_color("purple/black"), None);
        assert_eq!(parse_color(""), None);
    }

    #[test]
    fn keys_syntax_names_the_grey_keys() {
        let k: Vec<(u8, u8)> = crate::hvm::vm::parse_keys("{down}{up}\\{x}{pgdn}\n").into_iter().collect();
        assert_eq!(k[..2], [(0x50, 0xE0), (0x48, 0xE0)]);
        assert_eq!(k[2..5].iter().map(|k| k.1).collect::<Vec<_>>(), b"{x}");
        assert_eq!(k[5..], [(0x51, 0xE0), (0x1C, b'\r')]);
    }

    #[test]
    fn grey_keys_translate_like_asm_s() {
        assert_eq!(translate_keycode(0x4800), 16);
        assert_eq!(translate_keycode(0x5000), 14);
        assert_eq!(translate_keycode(0x1C0D), b'\r');
        assert_eq!(translate_keycode(0x011B), 27);
        assert_eq!(translate_keycode(0x1265), b'e');
    }
}
