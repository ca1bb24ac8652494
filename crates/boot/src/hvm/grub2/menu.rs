//! GRUB 2.06's text menu on the BIOS console: `run_menu` (normal/menu.c)
//! with the text viewer of normal/menu_text.c (`grub_menu_init_page`,
//! `draw_border`, `print_message`, `print_entry`, `print_entries`,
//! `menu_text_print_timeout`, `menu_text_clear_timeout`,
//! `menu_text_set_chosen_entry`, `menu_text_fini`), the header of
//! normal/main.c `grub_normal_init_page`, and the word wrap of
//! normal/term.c `print_ucs4_terminal` / `map_code` that every message
//! goes through.
//!
//! The terminal is term/i386/pc/console.c: `GRUB_TERM_CODE_TYPE_CP437`, so
//! `map_code` turns the box and arrow code points into code page 437
//! (everything else above 0x7F into `?`); `grub_console_putchar_real`
//! writes with int 10h (see [`super::Grub2::putc`]), `grub_console_cls`
//! fills the page with one AH=09h, `grub_console_setcursor` uses AH=01h,
//! `grub_console_getkey` polls int 16h AH=01h before AH=00h.
//!
//! Time: GRUB's `grub_get_time_ms` on i386-pc is the TSC calibrated at
//! start-up (kern/i386/tsc.c, against the PIT in tsc_pit.c); `run_menu`
//! spins on `grub_getkey_noblock` and `has_second_elapsed`. The model makes
//! one key poll per second and moves the simulated clock on by 1000 ms
//! between polls: the polls it leaves out would find neither a key (every
//! `--keys` key is queued from the start) nor an elapsed second.
//!
//! Strings: Debian's 2.06-13+deb12u2 build (`PACKAGE_VERSION`), whose menu
//! texts are upstream's. Submenus open nested (`grub_show_menu (menu, 1)`:
//! "ESC to return previous menu.", Esc goes back). Not modelled: menu entry
//! hotkeys (`--hotkey`), the editor (`e`) and the command line (`c`), and
//! an empty submenu (its body would run): these stop the run. Checked
//! against Debian's GRUB 2.06 under QEMU in tests/interop_grub2.rs (the
//! page during the countdown, after `down`, a submenu, and the entries
//! booted).

use boot_config::grub2::{self, Evaluation};
use x86::Gpr;

use super::{Grub2, LOADER};
use crate::hvm::EndState;
use crate::hvm::console::COLOR_NAMES;

/// `PACKAGE_VERSION` of Debian's grub-pc 2.06-13+deb12u2.
pub(super) const PACKAGE_VERSION: &str = "2.06-13+deb12u2";
/// The console's `getwh`: 80x25.
const WIDTH: i32 = 80;
const HEIGHT: i32 = 25;
/// include/grub/normal.h `STANDARD_MARGIN`; term.h `GRUB_TERM_MARGIN`.
const STANDARD_MARGIN: i32 = 6;
const GRUB_TERM_MARGIN: i32 = 1;
/// menu.c `GRUB_MENU_PAGE_SIZE`.
const MENU_PAGE_SIZE: usize = 10;
/// term.h `GRUB_TERM_DEFAULT_NORMAL_COLOR` / `_HIGHLIGHT_COLOR`.
const DEFAULT_NORMAL: u8 = 0x07;
const DEFAULT_HIGHLIGHT: u8 = 0x70;
/// term.h `GRUB_TERM_TAB_WIDTH`.
const TAB_WIDTH: usize = 8;
const MS_PER_S: u64 = 1000;

/// include/grub/unicode.h code points the menu prints.
const U_UPARROW: u32 = 0x2191;
const U_RIGHTARROW: u32 = 0x2192;
const U_DOWNARROW: u32 = 0x2193;
const U_UPDOWNARROW: u32 = 0x2195;
const U_HLINE: u32 = 0x2501;
const U_VLINE: u32 = 0x2503;
const U_CORNER_UL: u32 = 0x250F;
const U_CORNER_UR: u32 = 0x2513;
const U_CORNER_LL: u32 = 0x2517;
const U_CORNER_LR: u32 = 0x251B;

/// include/grub/term.h key codes.
const KEY_EXTENDED: u32 = 0x0080_0000;
const KEY_CTRL: u32 = 0x0200_0000;
const KEY_ESC: u32 = 0x1B;
const KEY_UP: u32 = KEY_EXTENDED | 0x48;
const KEY_DOWN: u32 = KEY_EXTENDED | 0x50;
const KEY_RIGHT: u32 = KEY_EXTENDED | 0x4D;
const KEY_HOME: u32 = KEY_EXTENDED | 0x47;
const KEY_END: u32 = KEY_EXTENDED | 0x4F;
const KEY_PPAGE: u32 = KEY_EXTENDED | 0x49;
const KEY_NPAGE: u32 = KEY_EXTENDED | 0x51;
const KEY_F4: u32 = KEY_EXTENDED | 0x3E;
/// The BDA keyboard flag byte `grub_console_getkeystatus` reads; bits 0
/// and 1 are the shift keys (`GRUB_TERM_STATUS_RSHIFT` / `_LSHIFT`).
const BDA_KBD_FLAG0: u32 = 0x417;

/// normal/term.c `map_code` for `GRUB_TERM_CODE_TYPE_CP437`.
fn map_code(c: u32) -> u8 {
    match c {
        0..=0x7F => c as u8,
        0x2190 => 0x1B,
        U_UPARROW => 0x18,
        U_UPDOWNARROW => 0x12,
        U_RIGHTARROW => 0x1A,
        U_DOWNARROW => 0x19,
        U_HLINE => 0xC4,
        U_VLINE => 0xB3,
        U_CORNER_UL => 0xDA,
        U_CORNER_UR => 0xBF,
        U_CORNER_LL => 0xC0,
        U_CORNER_LR => 0xD9,
        _ => b'?',
    }
}

/// The console operations the menu uses (term/i386/pc/console.c).
pub(super) trait Term {
    /// `grub_console_putchar_real` in `grub_console_cur_color`.
    fn putchar(&mut self, c: u8);
    fn gotoxy(&mut self, x: i32, y: i32);
    fn getxy(&mut self) -> (i32, i32);
    /// `grub_console_setcolorstate`: the attribute (bit 7 masked off).
    fn setcolor(&mut self, attr: u8);
    fn cls(&mut self);
    fn setcursor(&mut self, on: bool);
}

/// `putcode_real` + `putglyph`: the CP437 byte; a tab is spaces
/// (`fixed_tab` gives 8, else up to the next stop); "\n" is followed by "\r".
fn putcode(t: &mut dyn Term, code: u32, fixed_tab: bool) {
    if code == u32::from(b'\t') {
        let n = if fixed_tab { TAB_WIDTH } else { TAB_WIDTH - (t.getxy().0.max(0) as usize) % TAB_WIDTH };
        for _ in 0..n {
            t.putchar(b' ');
        }
        return;
    }
    t.putchar(map_code(code));
    if code == u32::from(b'\n') {
        t.putchar(b'\r');
    }
}

/// `grub_print_spaces`.
fn print_spaces(t: &mut dyn Term, n: i32) {
    for _ in 0..n.max(0) {
        t.putchar(b' ');
    }
}

/// term.c `fill_margin`.
fn fill_margin(t: &mut dyn Term, r: i32) {
    let sp = WIDTH - t.getxy().0 - r;
    print_spaces(t, sp);
}

/// How `print_ucs4` prints: `print_ucs4_real` + `print_ucs4_terminal`
/// without bidi state and with `skip_lines` 0.
#[derive(Clone, Copy)]
struct Wrap {
    margin_left: i32,
    margin_right: i32,
    dry_run: bool,
    fixed_tab: bool,
    /// `None`: `(unsigned) -1`.
    max_lines: Option<u32>,
    /// 0 or the continuation mark (`primitive_wrap` when set).
    contchar: u32,
    fill_right: bool,
}

/// normal/term.c `print_ucs4_real` → `print_ucs4_terminal` (a CP437
/// terminal takes the logical path): word wrap at the last space, a line
/// longer than the width cut, the continuation mark, the right fill. Every
/// code point is one column wide (`grub_unicode_estimate_width` gives 2 to
/// wide CJK, which the CP437 console prints as one `?`; not modelled). The
/// quirks are GRUB's: after a wrap the scan resumes one past the new line's
/// start, so that many columns count twice. Returns the lines counted in a
/// dry run.
fn print_ucs4(t: &mut dyn Term, s: &[u32], w: Wrap) -> i32 {
    if !w.dry_run {
        let (x, y) = t.getxy();
        if x < w.margin_left {
            if w.contchar == 0 {
                print_spaces(t, w.margin_left - x);
            } else {
                t.gotoxy(w.margin_left, y);
            }
        }
    }
    let primitive_wrap = w.contchar != 0;
    let startwidth = if w.dry_run { 0 } else { t.getxy().0 - w.margin_left };
    let mut line_width = startwidth;
    let mut lastspacewidth = 0;
    let max_width = WIDTH - (w.margin_left + w.margin_right) - 1;
    let mut line_start = 0usize;
    // `str - 1`: before every line start.
    let mut last_space: Option<usize> = None;
    let mut lines = 0;
    let mut max_lines = w.max_lines;
    let mut i = 0usize;
    // A wrap steps back to the line's start; GRUB's own loop can return to
    // the first character again (a leading blank after a long start
    // width). Capped: every character a few times over.
    let mut steps = 0usize;
    while i < s.len() && steps <= 4 * s.len() {
        steps += 1;
        let c = s[i];
        let last_width = 1;
        line_width += last_width;
        if c == u32::from(b' ') && !primitive_wrap {
            lastspacewidth = line_width;
            last_space = Some(i);
        }
        if line_width > max_width || c == u32::from(b'\n') {
            let wasn = c == u32::from(b'\n');
            let mut p = i;
            if let Some(ls) = last_space
                && line_width > max_width
                && ls > line_start
            {
                p = ls;
            } else if line_width > max_width && line_start == 0 && line_width - lastspacewidth < max_width - 5 {
                p = 0;
                lastspacewidth = startwidth;
            } else {
                lastspacewidth = line_width - last_width;
            }
            lines += 1;
            if !w.dry_run {
                for &c in &s[line_start..p] {
                    putcode(t, c, w.fixed_tab);
                }
                if !wasn && w.contchar != 0 {
                    putcode(t, w.contchar, w.fixed_tab);
                }
                if w.fill_right {
                    fill_margin(t, w.margin_right);
                }
                if w.contchar == 0 || max_lines != Some(1) {
                    putcode(t, u32::from(b'\n'), false);
                }
            }
            line_width -= lastspacewidth;
            if Some(p) == last_space || s.get(p) == Some(&u32::from(b'\n')) {
                p += 1;
            }
            line_start = p;
            if let Some(m) = max_lines.as_mut() {
                *m = m.saturating_sub(1);
                if *m == 0 {
                    break;
                }
            }
            if !w.dry_run {
                if w.contchar == 0 {
                    print_spaces(t, w.margin_left);
                } else {
                    let y = t.getxy().1;
                    t.gotoxy(w.margin_left, y);
                }
            }
            // The for loop's `ptr++`.
            i = p + 1;
            continue;
        }
        i += 1;
    }
    if line_start < s.len() {
        lines += 1;
    }
    if !w.dry_run && max_lines != Some(0) {
        for &c in &s[line_start.min(s.len())..] {
            putcode(t, c, w.fixed_tab);
        }
        if w.fill_right {
            fill_margin(t, w.margin_right);
        }
    }
    if w.dry_run { lines } else { 0 }
}

fn ucs4(s: &str) -> Vec<u32> {
    s.chars().map(u32::from).collect()
}

/// menu_text.c `grub_print_message_indented_real` (fill_right, fixed tabs,
/// no continuation mark).
fn print_message_indented(t: &mut dyn Term, msg: &str, left: i32, right: i32, dry_run: bool) -> i32 {
    let w = Wrap {
        margin_left: left,
        margin_right: right,
        dry_run,
        fixed_tab: true,
        max_lines: None,
        contchar: 0,
        fill_right: !dry_run,
    };
    print_ucs4(t, &ucs4(msg), w)
}

/// menu_text.c `print_message` for the menu (not the editor); a nested
/// menu (a submenu) adds "ESC to return previous menu.".
fn print_message(t: &mut dyn Term, normal: u8, nested: bool, dry_run: bool) -> i32 {
    t.setcolor(normal);
    let keys = format!(
        "Use the {} and {} keys to select which entry is highlighted.",
        char::from_u32(U_UPARROW).unwrap_or('^'),
        char::from_u32(U_DOWNARROW).unwrap_or('v')
    );
    let mut n = print_message_indented(t, &keys, STANDARD_MARGIN, STANDARD_MARGIN, dry_run);
    let enter = if nested {
        "Press enter to boot the selected OS, `e' to edit the commands before booting or `c' for a command-line. \
         ESC to return previous menu."
    } else {
        "Press enter to boot the selected OS, `e' to edit the commands before booting or `c' for a command-line."
    };
    n += print_message_indented(t, enter, STANDARD_MARGIN, STANDARD_MARGIN, dry_run);
    n
}

/// `struct grub_term_screen_geometry`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Geometry {
    pub first_entry_x: i32,
    pub first_entry_y: i32,
    pub entry_width: i32,
    pub num_entries: i32,
    pub timeout_y: i32,
    pub timeout_lines: i32,
    pub right_margin: i32,
    pub border: i32,
}

/// The menu's colours: `grub_term_normal_color` / `_highlight_color`
/// and the menu's own (`menu_color_normal` / `menu_color_highlight`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Colors {
    pub normal: u8,
    pub highlight: u8,
    pub menu_normal: u8,
    pub menu_highlight: u8,
}

/// normal/color.c `grub_parse_color_name_pair`: `FG/BG` by the 16 names;
/// `None` where GRUB prints a warning and keeps the colour.
pub(super) fn parse_color_name_pair(s: &str) -> Option<u8> {
    let (fg, bg) = s.split_once('/')?;
    let fg = COLOR_NAMES.iter().position(|n| *n == fg)? as u8;
    let bg = COLOR_NAMES.iter().position(|n| *n == bg)? as u8;
    Some(bg << 4 | fg)
}

impl Colors {
    fn from_env(env: &[(String, String)]) -> Colors {
        let get = |k: &str| env.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        let pick = |k: &str, d: u8| get(k).and_then(parse_color_name_pair).unwrap_or(d);
        Colors {
            normal: DEFAULT_NORMAL,
            highlight: DEFAULT_HIGHLIGHT,
            menu_normal: pick("menu_color_normal", DEFAULT_NORMAL),
            menu_highlight: pick("menu_color_highlight", DEFAULT_HIGHLIGHT),
        }
    }
}

/// menu_text.c `grub_menu_init_page` (not nested, not the editor) with
/// main.c `grub_normal_init_page` and `draw_border`.
fn init_page(t: &mut dyn Term, c: Colors, nested: bool) -> Geometry {
    let mut g = Geometry {
        border: 1,
        first_entry_x: 2,
        entry_width: WIDTH - 5,
        first_entry_y: 4,
        timeout_lines: 2,
        num_entries: 0,
        timeout_y: 0,
        right_margin: 0,
    };
    g.num_entries = HEIGHT - g.first_entry_y - 1 - 1 - g.timeout_lines - 1;
    let msg_num_lines = print_message(t, c.normal, nested, true);
    let (mut empty_lines, mut version_msg, mut bottom_message) = (1, true, true);
    if g.num_entries - msg_num_lines < 3 || g.entry_width < 10 {
        g.num_entries += 4;
        g.first_entry_y -= 2;
        empty_lines = 0;
        g.first_entry_x -= 1;
        g.entry_width += 1;
    }
    if g.num_entries - msg_num_lines < 3 || g.entry_width < 10 {
        g.num_entries += 2;
        g.first_entry_y -= 1;
        g.first_entry_x -= 1;
        g.entry_width += 2;
        g.border = 0;
    }
    if g.num_entries - msg_num_lines < 3 && g.timeout_lines == 2 {
        g.timeout_lines = 1;
        g.num_entries += 1;
    }
    if g.num_entries - msg_num_lines < 3 {
        g.num_entries += 1;
        g.first_entry_y -= 1;
        version_msg = false;
    }
    if g.num_entries - msg_num_lines >= 2 {
        g.num_entries -= msg_num_lines;
    } else {
        bottom_message = false;
    }
    if version_msg {
        // grub_normal_init_page: cls, the version centred on row
        // `empty_lines`, two newlines.
        t.cls();
        let msg = ucs4(&format!("GNU GRUB  version {PACKAGE_VERSION}"));
        let posx = ((WIDTH - msg.len() as i32) / 2).max(0);
        t.gotoxy(posx, empty_lines);
        let w = Wrap {
            margin_left: 0,
            margin_right: 0,
            dry_run: false,
            fixed_tab: true,
            max_lines: None,
            contchar: 0,
            fill_right: false,
        };
        print_ucs4(t, &msg, w);
        putcode(t, u32::from(b'\n'), false);
        putcode(t, u32::from(b'\n'), false);
    } else {
        t.cls();
    }
    if g.border != 0 {
        draw_border(t, &g, c.menu_normal);
    }
    g.timeout_y = g.first_entry_y + g.num_entries + g.border + empty_lines;
    if bottom_message {
        t.gotoxy(GRUB_TERM_MARGIN, g.timeout_y);
        print_message(t, c.normal, nested, false);
        g.timeout_y += msg_num_lines;
    }
    g.right_margin = WIDTH - g.first_entry_x - g.entry_width - 1;
    g
}

/// menu_text.c `draw_border`, in the menu's normal colour.
fn draw_border(t: &mut dyn Term, g: &Geometry, menu_normal: u8) {
    t.setcolor(menu_normal);
    t.gotoxy(g.first_entry_x - 1, g.first_entry_y - 1);
    putcode(t, U_CORNER_UL, false);
    for _ in 0..g.entry_width + 1 {
        putcode(t, U_HLINE, false);
    }
    putcode(t, U_CORNER_UR, false);
    for i in 0..g.num_entries {
        t.gotoxy(g.first_entry_x - 1, g.first_entry_y + i);
        putcode(t, U_VLINE, false);
        t.gotoxy(g.first_entry_x + g.entry_width + 1, g.first_entry_y + i);
        putcode(t, U_VLINE, false);
    }
    t.gotoxy(g.first_entry_x - 1, g.first_entry_y - 1 + g.num_entries + 1);
    putcode(t, U_CORNER_LL, false);
    for _ in 0..g.entry_width + 1 {
        putcode(t, U_HLINE, false);
    }
    putcode(t, U_CORNER_LR, false);
    t.setcolor(menu_normal);
    t.gotoxy(g.first_entry_x - 1, g.first_entry_y - 1 + g.num_entries + GRUB_TERM_MARGIN + 1);
}

/// menu_text.c `struct menu_viewer_data`.
pub(super) struct Viewer {
    pub geo: Geometry,
    pub first: usize,
    pub offset: usize,
    pub colors: Colors,
    /// `timeout_msg`: `None` = TIMEOUT_UNKNOWN, `Some(true)` = TERSE.
    terse: Option<bool>,
}

impl Viewer {
    fn cursor_x(&self) -> i32 {
        self.geo.first_entry_x + self.geo.entry_width
    }

    /// `print_entry`: the `*` mark, the title cut with `→`, the rest of
    /// the row filled.
    fn print_entry(&self, t: &mut dyn Term, y: i32, highlight: bool, title: Option<&str>) {
        let mut title: Vec<u32> = ucs4(title.unwrap_or(""));
        for c in &mut title {
            if matches!(*c, 0x0A | 0x08 | 0x0D | 0x1B) {
                *c = u32::from(b' ');
            }
        }
        t.setcolor(if highlight { self.colors.menu_highlight } else { self.colors.menu_normal });
        t.gotoxy(self.geo.first_entry_x, y);
        if self.geo.num_entries > 1 {
            putcode(t, u32::from(if highlight { b'*' } else { b' ' }), false);
        }
        let w = Wrap {
            margin_left: 0,
            margin_right: self.geo.right_margin,
            dry_run: false,
            fixed_tab: true,
            max_lines: Some(1),
            contchar: U_RIGHTARROW,
            fill_right: true,
        };
        print_ucs4(t, &title, w);
        t.setcolor(self.colors.menu_normal);
        t.gotoxy(self.cursor_x(), y);
        t.setcolor(self.colors.normal);
    }

    /// `print_entries`: the visible rows and the scroll arrows.
    fn print_entries(&self, t: &mut dyn Term, titles: &[String]) {
        let g = &self.geo;
        let arrow_x = g.first_entry_x + g.entry_width + g.border + 1;
        t.gotoxy(arrow_x, g.first_entry_y);
        if g.num_entries != 1 {
            putcode(t, if self.first > 0 { U_UPARROW } else { u32::from(b' ') }, false);
        }
        let rows = g.num_entries.max(0) as usize;
        for i in 0..rows {
            let title = titles.get(self.first + i).map(String::as_str);
            self.print_entry(t, g.first_entry_y + i as i32, self.offset == i, title);
        }
        let more = self.first + rows < titles.len();
        t.gotoxy(arrow_x, g.first_entry_y + g.num_entries - 1);
        let mark = if g.num_entries == 1 {
            match (self.first > 0, more) {
                (true, true) => U_UPDOWNARROW,
                (true, false) => U_UPARROW,
                (false, true) => U_DOWNARROW,
                (false, false) => u32::from(b' '),
            }
        } else if more {
            U_DOWNARROW
        } else {
            u32::from(b' ')
        };
        putcode(t, mark, false);
        t.gotoxy(self.cursor_x(), g.first_entry_y + self.offset as i32);
    }

    /// `grub_menu_try_text`: cursor off, the page, the entries.
    pub(super) fn open(t: &mut dyn Term, titles: &[String], entry: usize, colors: Colors, nested: bool) -> Viewer {
        t.setcursor(false);
        let geo = init_page(t, colors, nested);
        let mut v = Viewer { geo, first: 0, offset: entry, colors, terse: None };
        let rows = geo.num_entries.max(1) as usize;
        if v.offset > rows - 1 {
            v.first = v.offset - (rows - 1);
            v.offset = rows - 1;
        }
        v.print_entries(t, titles);
        v
    }

    /// `menu_text_print_timeout`.
    pub(super) fn print_timeout(&mut self, t: &mut dyn Term, timeout: i64) {
        t.gotoxy(0, self.geo.timeout_y);
        let long = format!("The highlighted entry will be executed automatically in {timeout}s.");
        let terse =
            *self.terse.get_or_insert_with(|| print_message_indented(t, &long, 3, 1, true) > self.geo.timeout_lines);
        let msg = if terse { format!("{timeout}s") } else { long };
        print_message_indented(t, &msg, 3, 1, false);
        t.gotoxy(self.cursor_x(), self.geo.first_entry_y + self.offset as i32);
    }

    /// `menu_text_clear_timeout` (the bordered layout: no extra row).
    pub(super) fn clear_timeout(&mut self, t: &mut dyn Term) {
        for i in 0..self.geo.timeout_lines {
            t.gotoxy(0, self.geo.timeout_y + i);
            print_spaces(t, WIDTH - 1);
        }
        t.gotoxy(self.cursor_x(), self.geo.first_entry_y + self.offset as i32);
    }

    /// `menu_text_set_chosen_entry`.
    pub(super) fn set_chosen_entry(&mut self, t: &mut dyn Term, titles: &[String], entry: usize) {
        let rows = self.geo.num_entries.max(1) as usize;
        let old = self.offset;
        let mut redraw = false;
        if entry < self.first {
            self.offset = 0;
            self.first = entry;
            redraw = true;
        } else if entry - self.first > rows - 1 {
            self.first = entry - (rows - 1);
            self.offset = rows - 1;
            redraw = true;
        } else {
            self.offset = entry - self.first;
        }
        if redraw {
            self.print_entries(t, titles);
        } else {
            let y = self.geo.first_entry_y;
            self.print_entry(t, y + old as i32, false, titles.get(self.first + old).map(String::as_str));
            self.print_entry(t, y + self.offset as i32, true, titles.get(self.first + self.offset).map(String::as_str));
        }
    }

    /// `menu_text_fini`: cursor on, screen cleared.
    pub(super) fn fini(t: &mut dyn Term) {
        t.setcursor(true);
        t.cls();
    }
}

/// normal/menu.c `timeout_style`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Style {
    Menu,
    Countdown,
    Hidden,
}

/// An item of the top level: a menu entry (its index in
/// `Menu::entries`) or a submenu.
enum Item {
    Entry(usize),
    /// Its position (the path of the items inside it).
    Submenu(Vec<usize>),
}

/// How one `run_menu` ended.
enum Level {
    End(MenuEnd),
    /// Enter on a submenu: open the items at this position.
    Open(Vec<usize>),
    /// Esc in a submenu.
    Back,
}

/// How the menu ended.
pub(super) enum MenuEnd {
    /// The timeout elapsed after this many seconds: the default entry and
    /// the `fallback` list.
    Timeout(u64),
    /// An entry (index in `Menu::entries`) chosen with the keys; GRUB
    /// unsets `fallback` at the first key.
    Chosen(usize),
    Stop(EndState),
}

impl Term for Grub2 {
    fn putchar(&mut self, c: u8) {
        self.putc(c);
    }

    /// `grub_console_gotoxy`: int 10h AH=02h, page 0.
    fn gotoxy(&mut self, x: i32, y: i32) {
        let dx = (y.clamp(0, 255) as u32) << 8 | x.clamp(0, 255) as u32;
        self.vm().bios_call(0x10, &[(Gpr::Eax, 0x0200), (Gpr::Ebx, 0), (Gpr::Edx, dx)], &[]);
    }

    /// `grub_console_getxy`: int 10h AH=03h.
    fn getxy(&mut self) -> (i32, i32) {
        let dx = self.vm().bios_call(0x10, &[(Gpr::Eax, 0x0300), (Gpr::Ebx, 0)], &[]).gpr[Gpr::Edx as usize];
        ((dx & 0xFF) as i32, (dx >> 8 & 0xFF) as i32)
    }

    fn setcolor(&mut self, attr: u8) {
        self.color = attr & 0x7F;
    }

    /// `grub_console_cls`: home, `int10_9 (' ', 80 * 25)`, home.
    fn cls(&mut self) {
        self.gotoxy(0, 0);
        let bx = u32::from(self.color);
        self.vm().bios_call(0x10, &[(Gpr::Eax, 0x0920), (Gpr::Ebx, bx), (Gpr::Ecx, 80 * 25)], &[]);
        self.gotoxy(0, 0);
    }

    /// `grub_console_setcursor`: the shape read with AH=03h (0D0Eh when
    /// it is not a valid one), AH=01h with it or 2000h.
    fn setcursor(&mut self, on: bool) {
        let mut vm = self.vm();
        let mut shape = vm.bios_call(0x10, &[(Gpr::Eax, 0x0300), (Gpr::Ebx, 0)], &[]).gpr[Gpr::Ecx as usize] & 0xFFFF;
        if shape >> 8 >= shape & 0xFF {
            shape = 0x0D0E;
        }
        vm.bios_call(0x10, &[(Gpr::Eax, 0x0100), (Gpr::Ecx, if on { shape } else { 0x2000 })], &[]);
    }
}

/// term/i386/pc/console.c `grub_console_getkey`'s translation of AX.
fn translate_key(ax: u16) -> u32 {
    let (ah, al) = ((ax >> 8) as u32, u32::from(ax as u8));
    if al == 0 {
        return ah | KEY_EXTENDED;
    }
    if al >= 0x20 {
        return al;
    }
    if [0x011B, 0x0F09, 0x0E08, 0x1C0D, 0x1C0A].contains(&ax) {
        return al;
    }
    (al + (u32::from(b'a') - 1)) | KEY_CTRL
}

impl Grub2 {
    /// `grub_getkey_noblock` → `grub_console_getkey`: AH=01h, then AH=00h
    /// when a key is there.
    fn getkey_noblock(&mut self) -> Option<u32> {
        let mut vm = self.vm();
        let r = vm.bios_call(0x16, &[(Gpr::Eax, 0x0100)], &[]);
        if r.eflags & x86::flags::ZF != 0 {
            return None;
        }
        let r = vm.bios_call(0x16, &[(Gpr::Eax, 0x0000)], &[]);
        Some(translate_key(r.gpr[Gpr::Eax as usize] as u16))
    }

    /// kern/term.c `grub_key_is_interrupt`: Esc, F4 or a shift key held.
    fn key_is_interrupt(&mut self, key: Option<u32>) -> bool {
        if matches!(key, Some(KEY_ESC | KEY_F4)) {
            return true;
        }
        self.vm().bus.r8(BDA_KBD_FLAG0) & 0x03 != 0
    }

    fn no_key(&mut self, what: &str) -> MenuEnd {
        let at = self.vm().loc();
        MenuEnd::Stop(EndState::WaitingForKey {
            at,
            function: format!("GRUB 2 {what}: int 16h AH=01h finds no key (--keys ran out)"),
        })
    }

    /// `print_countdown`: the number at the saved position.
    fn print_countdown(&mut self, pos: (i32, i32), n: i64) {
        self.gotoxy(pos.0, pos.1);
        self.print(&format!("{n}    "));
    }

    /// normal/menu.c `grub_show_menu` + `run_menu` on the console, then
    /// `grub_cls` before the entry runs (show_menu). Enter on a submenu
    /// opens it nested (`grub_menu_execute_entry` with a new menu: its own
    /// `default` and `timeout` are not exported into it, so the first item
    /// is highlighted and no countdown runs); Esc there goes back to the
    /// menu above, drawn afresh.
    pub(super) fn run_menu(&mut self, ev: &Evaluation) -> MenuEnd {
        let mut prefix: Vec<usize> = Vec::new();
        let mut first = true;
        // Each pass opens a menu: bounded by the keys (each Enter or Esc
        // uses one) and a cap.
        for _ in 0..=grub2::MAX_ITEMS {
            match self.run_level(ev, &prefix, first) {
                Level::End(end) => {
                    if !matches!(end, MenuEnd::Stop(_)) {
                        Term::cls(self);
                    }
                    return end;
                }
                Level::Open(p) => prefix = p,
                Level::Back => {
                    prefix.pop();
                }
            }
            first = false;
        }
        self.no_key("menu")
    }

    /// `run_menu` for the items at `prefix` (empty: the top level).
    fn run_level(&mut self, ev: &Evaluation, prefix: &[usize], first_run: bool) -> Level {
        let menu = &ev.menu;
        let nested = !prefix.is_empty();
        let depth = prefix.len() + 1;
        let mut items: Vec<(usize, Item, String)> = Vec::new();
        for (i, e) in menu.entries.iter().enumerate() {
            if e.position.len() == depth && e.position.starts_with(prefix) {
                items.push((e.position[depth - 1], Item::Entry(i), e.title.clone()));
            }
        }
        for s in &menu.submenus {
            if s.position.len() == depth && s.position.starts_with(prefix) {
                items.push((s.position[depth - 1], Item::Submenu(s.position.clone()), s.title.clone()));
            }
        }
        items.sort_by_key(|(p, _, _)| *p);
        let titles: Vec<String> = items.iter().map(|(_, _, t)| t.clone()).collect();
        let size = items.len();
        // get_entry_number (menu, "default"), out of range: 0. A path into
        // a submenu highlights the submenu. Nested: 0.
        let default_item = if nested {
            0
        } else {
            grub2::default_entry(menu)
                .and_then(|i| menu.entries.get(i))
                .and_then(|e| e.position.first())
                .and_then(|p| items.iter().position(|(q, _, _)| q == p))
                .unwrap_or(0)
        };
        let env = |k: &str| ev.env.iter().rev().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        // The first key unsets `timeout`: later menus have none.
        let mut timeout: i64 = match menu.timeout {
            Some(t) if first_run => t.min(i32::MAX as u64) as i64,
            _ => -1,
        };
        let total = timeout.max(0) as u64;
        // A negative timeout unsets timeout_style.
        let style = match env("timeout_style").as_deref() {
            _ if timeout < 0 => Style::Menu,
            Some("countdown") => Style::Countdown,
            Some("hidden") => Style::Hidden,
            _ => Style::Menu,
        };
        if style != Style::Menu {
            self.vm().mark(if style == Style::Hidden { "grub2: hidden menu" } else { "grub2: menu countdown" });
            let pos = self.getxy();
            if style == Style::Countdown && timeout != 0 {
                self.print_countdown(pos, timeout);
            }
            loop {
                let key = self.getkey_noblock();
                if self.key_is_interrupt(key) {
                    timeout = -1;
                    break;
                }
                // A key read costs no time: the next poll follows at once.
                if timeout > 0 && key.is_none() {
                    self.sleep_ms(MS_PER_S);
                    timeout -= 1;
                    if style == Style::Countdown {
                        self.print_countdown(pos, timeout);
                    }
                }
                if timeout == 0 {
                    break;
                }
            }
        }
        if timeout == 0 {
            return Level::End(MenuEnd::Timeout(total));
        }
        self.vm().mark(if nested { "grub2: submenu" } else { "grub2: menu" });
        let colors = Colors::from_env(&ev.env);
        let mut current = default_item;
        let mut v = Viewer::open(self, &titles, current, colors, nested);
        if timeout > 0 {
            v.print_timeout(self, timeout);
        } else {
            v.clear_timeout(self);
        }
        loop {
            let key = self.getkey_noblock();
            let Some(c) = key else {
                if timeout < 0 {
                    return Level::End(self.no_key(if nested { "submenu" } else { "menu" }));
                }
                self.sleep_ms(MS_PER_S);
                timeout -= 1;
                v.print_timeout(self, timeout);
                if timeout == 0 {
                    Viewer::fini(self);
                    return Level::End(MenuEnd::Timeout(total));
                }
                continue;
            };
            if timeout >= 0 {
                timeout = -1;
                v.clear_timeout(self);
            }
            let last = size.saturating_sub(1);
            let moved = match c {
                KEY_HOME => Some(0),
                KEY_END => Some(last),
                KEY_UP => Some(current.saturating_sub(1)),
                KEY_DOWN => Some((current + 1).min(last)),
                KEY_PPAGE => Some(current.saturating_sub(MENU_PAGE_SIZE)),
                KEY_NPAGE => Some((current + MENU_PAGE_SIZE).min(last)),
                _ if c == KEY_CTRL | u32::from(b'a') => Some(0),
                _ if c == KEY_CTRL | u32::from(b'e') => Some(last),
                _ if c == KEY_CTRL | u32::from(b'p') || c == u32::from(b'^') => Some(current.saturating_sub(1)),
                _ if c == KEY_CTRL | u32::from(b'n') || c == u32::from(b'v') => Some((current + 1).min(last)),
                _ if c == KEY_CTRL | u32::from(b'g') => Some(current.saturating_sub(MENU_PAGE_SIZE)),
                _ if c == KEY_CTRL | u32::from(b'c') => Some((current + MENU_PAGE_SIZE).min(last)),
                _ => None,
            };
            if let Some(n) = moved {
                current = n;
                v.set_chosen_entry(self, &titles, current);
                continue;
            }
            let enter =
                c == u32::from(b'\n') || c == u32::from(b'\r') || c == KEY_RIGHT || c == KEY_CTRL | u32::from(b'f');
            if enter {
                match items.get(current) {
                    Some((_, Item::Entry(i), _)) => {
                        Viewer::fini(self);
                        return Level::End(MenuEnd::Chosen(*i));
                    }
                    Some((_, Item::Submenu(p), title)) => {
                        // An empty submenu runs its body and shows nothing.
                        if !menu.entries.iter().any(|e| e.position.starts_with(p)) {
                            return Level::End(MenuEnd::Stop(EndState::LoaderStopped {
                                loader: LOADER.into(),
                                reason: format!("Enter on the empty submenu `{title}' (item {current}): not modelled"),
                            }));
                        }
                        Viewer::fini(self);
                        Term::cls(self);
                        return Level::Open(p.clone());
                    }
                    None => return Level::End(self.no_key("menu")),
                }
            }
            if c == u32::from(b'e') || c == u32::from(b'c') {
                let what = if c == u32::from(b'e') { "the entry editor" } else { "the command line" };
                return Level::End(MenuEnd::Stop(EndState::LoaderStopped {
                    loader: LOADER.into(),
                    reason: format!(
                        "'{}' in the GRUB 2 menu opens {what}: not modelled (item {current} highlighted)",
                        char::from_u32(c).unwrap_or('?')
                    ),
                }));
            }
            if c == KEY_ESC && nested {
                Viewer::fini(self);
                return Level::Back;
            }
            // Esc (not nested) and other keys: nothing.
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An 80x25 console as term/i386/pc/console.c drives it through the
    /// BIOS: AH=09h + cursor move, CR LF after column 79, scrolling.
    struct Screen {
        cells: Vec<(u8, u8)>,
        x: i32,
        y: i32,
        color: u8,
        cursor_on: bool,
    }

    impl Screen {
        fn new() -> Screen {
            Screen { cells: vec![(b' ', 7); 80 * 25], x: 0, y: 0, color: 7, cursor_on: true }
        }
        fn row(&self, y: usize) -> String {
            self.cells[y * 80..y * 80 + 80].iter().map(|c| char::from(c.0)).collect::<String>().trim_end().to_string()
        }
        fn attr(&self, x: usize, y: usize) -> u8 {
            self.cells[y * 80 + x].1
        }
        fn newline(&mut self) {
            if self.y == 24 {
                self.cells.drain(..80);
                self.cells.extend(std::iter::repeat_n((b' ', 7), 80));
            } else {
                self.y += 1;
            }
        }
    }

    impl Term for Screen {
        fn putchar(&mut self, c: u8) {
            match c {
                b'\n' => self.newline(),
                b'\r' => self.x = 0,
                8 => self.x = (self.x - 1).max(0),
                7 => {}
                _ => {
                    self.cells[(self.y * 80 + self.x) as usize] = (c, self.color);
                    if self.x >= 79 {
                        self.x = 0;
                        self.newline();
                    } else {
                        self.x += 1;
                    }
                }
            }
        }
        fn gotoxy(&mut self, x: i32, y: i32) {
            (self.x, self.y) = (x.clamp(0, 79), y.clamp(0, 24));
        }
        fn getxy(&mut self) -> (i32, i32) {
            (self.x, self.y)
        }
        fn setcolor(&mut self, attr: u8) {
            self.color = attr & 0x7F;
        }
        fn cls(&mut self) {
            self.cells = vec![(b' ', self.color); 80 * 25];
            (self.x, self.y) = (0, 0);
        }
        fn setcursor(&mut self, on: bool) {
            self.cursor_on = on;
        }
    }

    fn default_colors() -> Colors {
        Colors::from_env(&[])
    }

    fn titles(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("Entry {i}")).collect()
    }

    #[test]
    fn the_page_as_grub_2_06_draws_it() {
        let mut s = Screen::new();
        let t = vec!["Debian GNU/Linux".to_string(), "Advanced options for Debian GNU/Linux".to_string()];
        let mut v = Viewer::open(&mut s, &t, 0, default_colors(), false);
        v.print_timeout(&mut s, 5);
        let g = v.geo;
        assert_eq!((g.first_entry_x, g.first_entry_y, g.entry_width, g.num_entries), (2, 4, 75, 13));
        assert_eq!((g.timeout_y, g.right_margin), (22, 2));
        assert_eq!(s.row(0), "");
        assert_eq!(s.row(1), format!("{}GNU GRUB  version 2.06-13+deb12u2", " ".repeat(23)));
        assert_eq!(s.row(2), "");
        let raw = |y: usize| s.cells[y * 80..y * 80 + 80].iter().map(|c| c.0).collect::<Vec<u8>>();
        let top = raw(3);
        assert_eq!(top[1], 0xDA);
        assert!(top[2..78].iter().all(|&b| b == 0xC4));
        assert_eq!((top[78], top[79]), (0xBF, b' '));
        let r4 = raw(4);
        assert_eq!((r4[1], r4[78]), (0xB3, 0xB3));
        assert_eq!(&r4[2..20], b"*Debian GNU/Linux ");
        assert_eq!(&raw(5)[2..41], b" Advanced options for Debian GNU/Linux ");
        let bottom = raw(17);
        assert_eq!((bottom[1], bottom[78]), (0xC0, 0xD9));
        assert_eq!(s.row(18), "");
        assert_eq!(s.row(19).as_bytes(), b"      Use the \x18 and \x19 keys to select which entry is highlighted.");
        assert_eq!(s.row(20), "      Press enter to boot the selected OS, `e' to edit the commands");
        assert_eq!(s.row(21), "      before booting or `c' for a command-line.");
        assert_eq!(s.row(22), "   The highlighted entry will be executed automatically in 5s.");
        // The highlighted row in GRUB_TERM_DEFAULT_HIGHLIGHT_COLOR from x 2
        // to 77, the border and the other rows in the normal colour.
        assert!((2..78).all(|x| s.attr(x, 4) == 0x70));
        assert_eq!((s.attr(1, 4), s.attr(78, 4), s.attr(2, 5)), (0x07, 0x07, 0x07));
        assert!(!s.cursor_on);
        assert_eq!(s.getxy(), (77, 4));
    }

    #[test]
    fn moving_the_highlight_and_clearing_the_countdown() {
        let mut s = Screen::new();
        let t = titles(2);
        let mut v = Viewer::open(&mut s, &t, 0, default_colors(), false);
        v.print_timeout(&mut s, 4);
        v.clear_timeout(&mut s);
        v.set_chosen_entry(&mut s, &t, 1);
        assert_eq!(s.row(22), "");
        assert_eq!(s.cells[4 * 80 + 2].0, b' ');
        assert_eq!(s.cells[5 * 80 + 2].0, b'*');
        assert_eq!((s.attr(10, 4), s.attr(10, 5)), (0x07, 0x70));
    }

    #[test]
    fn long_titles_are_cut_with_the_arrow_and_long_menus_scroll() {
        let mut s = Screen::new();
        let mut t = titles(20);
        t[0] = "x".repeat(100);
        let mut v = Viewer::open(&mut s, &t, 0, default_colors(), false);
        let r4: Vec<u8> = s.cells[4 * 80..5 * 80].iter().map(|c| c.0).collect();
        assert_eq!(&r4[3..77], "x".repeat(74).as_bytes());
        assert_eq!((r4[77], r4[78]), (0x1A, 0xB3));
        // The down arrow beside the last row, none at the top.
        assert_eq!((s.cells[4 * 80 + 79].0, s.cells[16 * 80 + 79].0), (b' ', 0x19));
        v.set_chosen_entry(&mut s, &t, 19);
        assert_eq!((v.first, v.offset), (7, 12));
        let r16: Vec<u8> = s.cells[16 * 80..17 * 80].iter().map(|c| c.0).collect();
        assert_eq!(&r16[1..11], b"\xb3*Entry 19");
        assert_eq!(s.cells[4 * 80 + 79].0, 0x18);
    }

    #[test]
    fn menu_colours_from_the_environment() {
        let env = vec![
            ("menu_color_normal".to_string(), "cyan/blue".to_string()),
            ("menu_color_highlight".to_string(), "white/blue".to_string()),
        ];
        let c = Colors::from_env(&env);
        assert_eq!((c.menu_normal, c.menu_highlight, c.normal), (0x13, 0x1F, 0x07));
        assert_eq!(parse_color_name_pair("cyan"), None);
        assert_eq!(parse_color_name_pair("purple/blue"), None);
        let mut s = Screen::new();
        Viewer::open(&mut s, &titles(1), 0, c, false);
        assert_eq!((s.attr(1, 3), s.attr(5, 4), s.attr(5, 5)), (0x13, 0x1F, 0x13));
        // The help text stays in the terminal's normal colour.
        assert_eq!(s.attr(6, 19), 0x07);
    }

    #[test]
    fn console_keys_translate_like_grub_console_getkey() {
        assert_eq!(translate_key(0x4800), KEY_UP);
        assert_eq!(translate_key(0x5000), KEY_DOWN);
        assert_eq!(translate_key(0x1C0D), u32::from(b'\r'));
        assert_eq!(translate_key(0x011B), KEY_ESC);
        assert_eq!(translate_key(0x1265), u32::from(b'e'));
        assert_eq!(translate_key(0x1E01), KEY_CTRL | u32::from(b'a'));
    }

    #[test]
    fn a_nested_menu_adds_the_escape_line_and_loses_a_row() {
        let mut s = Screen::new();
        let v = Viewer::open(&mut s, &titles(2), 0, default_colors(), true);
        assert_eq!((v.geo.num_entries, v.geo.timeout_y), (12, 22));
        assert_eq!(s.row(20), "      before booting or `c' for a command-line. ESC to return");
        assert_eq!(s.row(21), "      previous menu.");
        assert_eq!(s.cells[16 * 80 + 1].0, 0xC0, "the bottom border one row up");
    }

    #[test]
    fn word_wrap_ends_on_a_leading_blank_after_a_long_start() {
        let mut s = Screen::new();
        s.gotoxy(60, 0);
        let w = Wrap {
            margin_left: 0,
            margin_right: 0,
            dry_run: false,
            fixed_tab: true,
            max_lines: None,
            contchar: 0,
            fill_right: false,
        };
        print_ucs4(&mut s, &ucs4(&format!(" {}", "x".repeat(30))), w);
    }

    #[test]
    fn word_wrap_counts_lines_as_grub() {
        let mut s = Screen::new();
        let n = print_message(&mut s, 7, false, true);
        assert_eq!(n, 3);
        let long = "The highlighted entry will be executed automatically in 5s.";
        assert_eq!(print_message_indented(&mut s, long, 3, 1, true), 1);
        assert_eq!(print_message_indented(&mut s, &"word ".repeat(40), 3, 1, true), 3);
    }

    /// The fixture image (grub.cfg: `set timeout=3`, `fallback` entry 1,
    /// `default` entry 0 from grubenv) with `edits`, booted with `keys`.
    fn boot_fixture(edits: &[(&[u8], &[u8])], keys: &str) -> (EndState, Vec<String>, String, u64) {
        use crate::hvm::{HvmOptions, TraceLevel, vm};
        use disk_image::MemImage;
        use std::sync::Arc;
        let mut img = crate::hvm::grub2::tests::image();
        for (from, to) in edits {
            crate::hvm::grub2::tests::patch(&mut img, from, to);
        }
        let o = HvmOptions {
            memory: 1 << 30,
            trace_level: TraceLevel::Summary,
            keys: keys.into(),
            ..HvmOptions::default()
        };
        let (mut h, end) = vm::boot_machine(Arc::new(MemImage::new(img, "hvm-grub2.img")), &o).unwrap();
        let now = h.bus.clock.now().0;
        let r = h.report("x".into(), end.clone());
        (end, r.screen, r.console, now)
    }

    const FALLBACK: &[u8] = b"set fallback=\"gnulinux-6.1.0-fixture\"";

    /// `line` in place of the `fallback` line (blanks after it).
    fn padded(line: &str) -> Vec<u8> {
        let mut v = line.as_bytes().to_vec();
        v.resize(FALLBACK.len(), b' ');
        v
    }

    fn entry_index(end: &EndState) -> Option<usize> {
        match end {
            EndState::KernelEntry { info, .. } => info.entry_index,
            _ => None,
        }
    }

    #[test]
    fn the_countdown_runs_on_the_simulated_clock_then_boots_the_default() {
        let (end, _, console, t3) = boot_fixture(&[], "");
        for n in (0..=3).rev() {
            assert!(console.contains(&format!("automatically in {n}s.")), "{console:?}");
        }
        assert_eq!(entry_index(&end), Some(1), "default 0 fails, fallback 1: {end:?}");
        let (_, _, _, t0) = boot_fixture(&[(b"set timeout=3", b"set timeout=0")], "");
        assert!((3_000_000_000..3_100_000_000).contains(&(t3 - t0)), "{}", t3 - t0);
    }

    #[test]
    fn keys_move_the_highlight_and_enter_boots_without_fallback() {
        let (end, screen, _, _) = boot_fixture(&[], "{end}{home}{pgdn}\n");
        assert_eq!(entry_index(&end), Some(1), "{end:?}");
        assert!(screen[0].starts_with("  Booting `Debian GNU/Linux, with Linux 6.1.0-fixture'"), "{screen:?}");
        // Chosen with keys, the failing default does not run; with {up}
        // it does and, `fallback` being unset by the key, nothing follows.
        let (end, _, console, _) = boot_fixture(&[], "{down}{up}\n");
        assert!(matches!(end, EndState::LoaderError { entry_index: 0, .. }), "{end:?}");
        assert!(!console.contains("Falling back"), "{console:?}");
    }

    #[test]
    fn no_timeout_draws_the_menu_and_waits_for_a_key() {
        let (end, screen, console, _) = boot_fixture(&[(b"set timeout=3\n", b"unset timeout\n")], "");
        assert!(matches!(end, EndState::WaitingForKey { .. }), "{end:?}");
        assert!(screen[1].contains("GNU GRUB  version 2.06-13+deb12u2"), "{screen:?}");
        assert!(!console.contains("executed automatically"), "no countdown: {console:?}");
    }

    #[test]
    fn hidden_style_draws_nothing_and_escape_shows_the_menu() {
        let hidden = &padded("set timeout_style=hidden")[..];
        let (end, screen, console, _) = boot_fixture(&[(FALLBACK, hidden)], "");
        assert!(!console.contains("GNU GRUB"), "{console:?}");
        assert!(!screen.iter().any(|r| r.contains("GNU GRUB")), "{screen:?}");
        assert!(matches!(end, EndState::LoaderError { entry_index: 0, .. }), "{end:?}");
        // Keys other than Esc/F4 are read and ignored.
        let (end, screen, console, _) = boot_fixture(&[(FALLBACK, hidden)], "x\\e");
        assert!(matches!(end, EndState::WaitingForKey { .. }), "{end:?}");
        assert!(screen[1].contains("GNU GRUB"), "{screen:?}");
        assert!(!console.contains("executed automatically"), "Esc unset the timeout: {console:?}");
    }

    #[test]
    fn countdown_style_prints_the_seconds_where_the_cursor_was() {
        let style = &padded("set timeout_style=countdown")[..];
        let (_, _, console, _) = boot_fixture(&[(FALLBACK, style)], "");
        assert!(console.contains("Welcome to GRUB!\n\r\n\r3    2    1    0    "), "{console:?}");
        assert!(!console.contains("GNU GRUB"), "{console:?}");
    }
}
