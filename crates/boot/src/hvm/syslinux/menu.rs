//! `UI menu.c32` (and `UI vesamenu.c32`) of syslinux 6.04 as a model:
//! com32/menu/menumain.c `main`, `run_menu`, `draw_menu`, `draw_row`,
//! `display_entry`, `pad_line`, `display_help`, `print_timeout_message`,
//! `do_hidden_menu`, `mygetkey`; com32/menu/readconfig.c for the menu's
//! view of the config (`record`: an entry per LABEL, `MENU LABEL`, `MENU
//! HIDE`, `MENU DEFAULT`, the global `DEFAULT` winning over it, `MENU
//! TITLE`, `MENU HIDDEN`, the `mparm` parameters, `MENU AUTOBOOT` /
//! `TABMSG` / `NOTABMSG`, `TIMEOUT`, `TOTALTIMEOUT`, `ONTIMEOUT`,
//! `ALLOWOPTIONS`, `consider_for_hotkey`); com32/menu/colors.c
//! `default_colors` turned into VGA attributes as
//! com32/lib/sys/ansicon_write.c `ansicon_attribute` does; and the console
//! calls of core/bios.c (`bios_erase`: int 10h AH=06h, `bios_write_char`:
//! AH=02h then AH=09h with CX=1). The DEC line-drawing characters menu.c32
//! prints after SO (l q k x t u m j a) come out as their code page 437
//! boxes (ansi.c's G1 table). The layout was compared with Debian's
//! menu.c32 under QEMU (tests/interop_extlinux.rs).
//!
//! Time: the countdown (`Automatic boot in # second{,s}...`) waits at most
//! one second per `get_key`; the model makes one int 16h poll per wait and
//! moves the simulated clock by the whole wait when no key is there.
//!
//! Not modelled (the run stops and says which line): `MENU COLOR` and the
//! other colour lines, submenus (`MENU BEGIN`, `MENU GOTO`, `MENU EXIT`,
//! `MENU QUIT`), `MENU SEPARATOR`, `MENU DISABLE`, passwords, `MENU
//! INCLUDE`/`INCLUDE`, help texts (`TEXT HELP`, `MENU HELP`), `MENU
//! INDENT`, `MENU HIDDENKEY`, `MENU SHIFTKEY`, `MENU SAVE` (the ADV), and
//! at run time the Tab editor (`edit_cmdline`) and the F-keys. vesamenu.c32
//! draws the same menu on a VESA framebuffer with a background picture;
//! the model draws menu.c32's text screen for it and says so in the trace,
//! the reason of the boot and the waiting state.

use boot_config::EntryKind;
use x86::Gpr;

use super::{Conf, EndState, Key, Ldlinux, Loaded, SysKey, atoi, keyword, label_cmdline, tenths_to_ms};

/// The screen: 80×25 (`getscreensize` on the BIOS console).
const COLS: i64 = 80;
const ROWS: i64 = 25;
/// CLK_TCK: the countdown's unit.
const TICK_MS: u64 = 1000;
/// Caps on the model's loops: key waits (a key, or a second of countdown)
/// in one menu, and menu runs after failed loads.
const MAX_MENU_KEYS: usize = 10_000;
const MAX_MENU_RUNS: usize = 64;
/// Menu parameters are capped here: rows and columns past it are off the
/// 80×25 screen anyway.
const MAX_PARAM: i64 = 1000;

/// colors.c `default_colors`: the ANSI attribute strings of the entries
/// menumain.c selects with `\1#NN`.
const SCREEN: &str = "37;40";
const BORDER: &str = "30;44";
const TITLE: &str = "1;36;44";
const UNSEL: &str = "37;44";
const HOTKEY: &str = "1;37;44";
const SEL: &str = "7;37;40";
const HOTSEL: &str = "1;7;37;40";
const SCROLLBAR: &str = "30;44";
const TABMSG: &str = "31;40";
const TIMEOUT_MSG: &str = "37;40";
const TIMEOUT: &str = "1;37;40";

/// ansi.c's SGR parameters and ansicon_write.c `ansicon_attribute`: ANSI
/// colour n is VGA colour `[0,4,2,6,1,5,3,7][n]`; 1 = bold (intensity 2),
/// 2 = dim, 4 = underline, 5 = blink, 7 = reverse.
pub fn ansi_attribute(sgr: &str) -> u8 {
    const ANSI_TO_VGA: [u8; 8] = [0, 4, 2, 6, 1, 5, 3, 7];
    let (mut fg, mut bg, mut intensity, mut underline, mut blink, mut reverse) = (7u8, 0u8, 1u8, false, false, false);
    for p in sgr.split(';') {
        match atoi(p) {
            0 => (fg, bg, intensity, underline, blink, reverse) = (7, 0, 1, false, false, false),
            1 => intensity = 2,
            2 => intensity = 0,
            4 => underline = true,
            5 => blink = true,
            7 => reverse = true,
            22 => intensity = 1,
            24 => underline = false,
            25 => blink = false,
            27 => reverse = false,
            n @ 30..=37 => fg = ANSI_TO_VGA[(n - 30) as usize],
            n @ 40..=47 => bg = ANSI_TO_VGA[(n - 40) as usize],
            _ => {}
        }
    }
    let mut f = if underline {
        0x01
    } else if intensity == 0 {
        0x08
    } else {
        fg
    };
    if reverse {
        let b = f & 7;
        f = (f & 8) | bg;
        bg = b;
    }
    if blink {
        bg ^= 8;
    }
    if intensity == 2 {
        f ^= 8;
    }
    (bg << 4) | f
}

/// ansi.c's DEC special graphics (G1 after SO) in code page 437.
fn dec_graphic(c: u8) -> u8 {
    match c {
        b'l' => 0xDA,
        b'k' => 0xBF,
        b'm' => 0xC0,
        b'j' => 0xD9,
        b'q' => 0xC4,
        b'x' => 0xB3,
        b't' => 0xC3,
        b'u' => 0xB4,
        b'a' => 0xB1,
        c => c,
    }
}

/// One visible entry (readconfig.c `struct menu_entry`, action MA_CMD).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    pub label: String,
    /// `MENU LABEL`, else the label; `^` marks the hotkey.
    pub display: String,
    /// `consider_for_hotkey`: the upper-cased character after `^`.
    pub hotkey: Option<u8>,
}

/// menumain.c `mparm` after `main`'s post-processing (negative rows count
/// from the bottom of the 25-row screen, WIDTH 0 is the screen's width).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Params {
    pub width: i64,
    pub margin: i64,
    pub rows: i64,
    pub tabmsg_row: i64,
    pub end_row: i64,
    pub timeout_row: i64,
    pub helpmsg_row: i64,
    pub helpmsgend_row: i64,
    pub hshift: i64,
    pub vshift: i64,
    pub hidden_row: i64,
}

/// The menu as menu.c32's readconfig.c builds it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MenuConf {
    pub title: String,
    pub items: Vec<Item>,
    pub defentry: usize,
    /// `TIMEOUT` in ms (0: none).
    pub timeout_ms: u64,
    pub total_timeout_ms: u64,
    /// `ONTIMEOUT`, unlabelled later.
    pub ontimeout: Option<String>,
    pub hidden: bool,
    /// `allowedit` (`ALLOWOPTIONS`, default 1): Tab and Esc work.
    pub allowedit: bool,
    pub clear: bool,
    pub autoboot: String,
    pub tabmsg: String,
    pub notabmsg: String,
    pub p: Params,
}

/// readconfig.c `parse_config_file` as menu.c32 runs it; `Err` names a
/// line the model does not follow.
pub fn parse(text: &str) -> Result<MenuConf, String> {
    let mut mp: [i64; 14] = [0, 10, 3, 12, 18, 18, -1, 11, 20, 22, -1, 0, 0, -2];
    const NAMES: [&str; 14] = [
        "width",
        "margin",
        "passwordmargin",
        "rows",
        "tabmsgrow",
        "cmdlinerow",
        "endrow",
        "passwordrow",
        "timeoutrow",
        "helpmsgrow",
        "helpmsgendrow",
        "hshift",
        "vshift",
        "hiddenrow",
    ];
    let mut m = MenuConf {
        title: String::new(),
        items: Vec::new(),
        defentry: 0,
        timeout_ms: 0,
        total_timeout_ms: 0,
        ontimeout: None,
        hidden: false,
        allowedit: true,
        clear: false,
        autoboot: "Automatic boot in # second{,s}...".into(),
        tabmsg: "Press [Tab] to edit options".into(),
        notabmsg: String::new(),
        p: Params {
            width: 0,
            margin: 0,
            rows: 0,
            tabmsg_row: 0,
            end_row: 0,
            timeout_row: 0,
            helpmsg_row: 0,
            helpmsgend_row: 0,
            hshift: 0,
            vshift: 0,
            hidden_row: 0,
        },
    };
    // The label being read: (label, MENU LABEL, hide, default).
    type Ld = (String, Option<String>, bool, bool);
    let mut cur: Option<Ld> = None;
    let mut global_default: Option<String> = None;
    let mut used = [false; 256];
    let mut record = |m: &mut MenuConf, ld: Option<Ld>| {
        let Some((label, menulabel, hide, default)) = ld else { return };
        if hide {
            return;
        }
        let display = menulabel.clone().unwrap_or_else(|| label.clone());
        let mut hotkey = None;
        if menulabel.is_some()
            && let Some(i) = display.find('^')
            && let Some(&k) = display.as_bytes().get(i + 1)
        {
            let k = k & !0x20;
            if k != 0 && !used[usize::from(k)] {
                used[usize::from(k)] = true;
                hotkey = Some(k);
            }
        }
        m.items.push(Item { label, display, hotkey });
        if default {
            m.defentry = m.items.len() - 1;
        }
    };
    for (n, raw) in text.lines().enumerate() {
        let Some((k, a)) = keyword(raw) else { continue };
        let unsupported = |what: &str| Err(format!("line {}: `{}`: {what} is not modelled", n + 1, raw.trim()));
        match k.as_str() {
            "label" => {
                record(&mut m, cur.take());
                cur = Some((a.to_string(), None, false, false));
            }
            "menu" => {
                let (sub, arg) = match a.split_once(char::is_whitespace) {
                    Some((s, r)) => (s.to_ascii_lowercase(), r.trim()),
                    None => (a.to_ascii_lowercase(), ""),
                };
                match (sub.as_str(), cur.as_mut()) {
                    ("label", Some(c)) => c.1 = Some(arg.to_string()),
                    ("hide", Some(c)) => c.2 = true,
                    ("default", Some(c)) => c.3 = true,
                    ("title", _) => m.title = arg.to_string(),
                    ("hidden", _) => m.hidden = true,
                    ("clear", _) => m.clear = true,
                    ("autoboot", _) => m.autoboot = arg.to_string(),
                    ("tabmsg", _) => m.tabmsg = arg.to_string(),
                    ("notabmsg", _) => m.notabmsg = arg.to_string(),
                    ("background" | "resolution" | "nosave" | "noimmediate" | "immediate", _) => {}
                    ("label" | "hide" | "default", None) => {}
                    (s, _) if NAMES.contains(&s) => {
                        if let Some(i) = NAMES.iter().position(|x| *x == s) {
                            mp[i] = atoi(arg);
                        }
                    }
                    (s, _) => return unsupported(&format!("MENU {}", s.to_ascii_uppercase())),
                }
            }
            "timeout" => m.timeout_ms = tenths_to_ms(a),
            "totaltimeout" => m.total_timeout_ms = tenths_to_ms(a),
            "ontimeout" => m.ontimeout = Some(a.to_string()),
            "allowoptions" => m.allowedit = atoi(a) != 0,
            "default" => global_default = Some(a.to_string()),
            "include" => return unsupported("INCLUDE"),
            "text" => return unsupported("TEXT HELP"),
            _ => {}
        }
    }
    record(&mut m, cur.take());
    // "Handle global default": DEFAULT names a visible label.
    if let Some(d) = global_default
        && let Some(i) = m.items.iter().position(|e| e.label == d)
    {
        m.defentry = i;
    }
    // main(): WIDTH 0 is the screen's width; negatives count from the bottom.
    if mp[0] == 0 {
        mp[0] = COLS;
    }
    for v in mp.iter_mut() {
        if *v < 0 {
            *v = (*v + ROWS).max(0);
        }
        // The model's cap (menu.c32 takes any int): far beyond the screen.
        *v = (*v).min(MAX_PARAM);
    }
    m.p = Params {
        width: mp[0],
        margin: mp[1],
        rows: mp[3].max(1),
        tabmsg_row: mp[4] + mp[12],
        end_row: mp[6],
        timeout_row: mp[8] + mp[12],
        helpmsg_row: mp[9] + mp[12],
        helpmsgend_row: mp[10],
        hshift: mp[11],
        vshift: mp[12],
        hidden_row: mp[13],
    };
    Ok(m)
}

/// menumain.c `pad_line`: `text` in a field of `width`, `align` 0 left, 1
/// centred.
fn pad_line(text: &str, align: i64, width: i64) -> Vec<u8> {
    let w = width.max(0) as usize;
    let t = text.as_bytes();
    let n = t.len().min(w);
    let mut b = vec![b' '; w];
    let p = (((w - n) as i64 * align) >> 1) as usize;
    b[p..p + n].copy_from_slice(&t[..n]);
    b
}

/// `print_timeout_message`'s text: `#` is the number (in the "timeout"
/// colour), `{singular[,dual],plural}` picks by it. Returns the runs
/// (text, is-number) and the visible length.
fn timeout_text(tol: u64, msg: &str) -> (Vec<(String, bool)>, usize) {
    let mut runs: Vec<(String, bool)> = vec![(String::new(), false)];
    let mut chars = msg.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '#' => {
                runs.push((tol.to_string(), true));
                runs.push((String::new(), false));
            }
            '{' => {
                let mut body = String::new();
                for d in chars.by_ref() {
                    if d == '}' {
                        break;
                    }
                    body.push(d);
                }
                let parts: Vec<&str> = body.splitn(3, ',').collect();
                let pick = match tol {
                    1 => 0,
                    2 => 1,
                    _ => 2,
                };
                let t = parts.get(pick).or(parts.get(1)).or(parts.first()).copied().unwrap_or("");
                if let Some(last) = runs.last_mut() {
                    last.0.push_str(t);
                }
            }
            c => {
                if let Some(last) = runs.last_mut() {
                    last.0.push(c);
                }
            }
        }
    }
    let nc = runs.iter().map(|r| r.0.len()).sum();
    (runs, nc)
}

/// How run_menu ended.
enum MenuEnd {
    /// The command line of an entry (its label) or ONTIMEOUT, and why.
    Boot(String, String),
    /// Esc: back to ldlinux.c32.
    Exit,
    Stop(EndState),
}

/// The mutable state of one menu.c32 run.
struct Run<'m> {
    m: &'m MenuConf,
    /// `print_timeout_message`'s `last_msg_len` (static in menumain.c).
    last_msg_len: usize,
    total_left: u64,
    what: String,
}

impl Ldlinux {
    /// bios_erase: int 10h AH=06h AL=0 over the window.
    fn erase(&self, x0: i64, y0: i64, x1: i64, y1: i64, attr: u8) {
        let c = |v: i64, hi: i64| v.clamp(0, hi) as u32;
        let cx = c(y0, ROWS - 1) << 8 | c(x0, COLS - 1);
        let dx = c(y1, ROWS - 1) << 8 | c(x1, COLS - 1);
        self.vm().bios_call(
            0x10,
            &[(Gpr::Eax, 0x0600), (Gpr::Ebx, u32::from(attr) << 8), (Gpr::Ecx, cx), (Gpr::Edx, dx)],
            &[],
        );
    }

    /// bios_set_cursor: int 10h AH=02h, page 0.
    fn goto(&self, x: i64, y: i64) {
        let (x, y) = (x.clamp(0, COLS - 1) as u32, y.clamp(0, ROWS - 1) as u32);
        self.vm().bios_call(0x10, &[(Gpr::Eax, 0x0200), (Gpr::Ebx, 0), (Gpr::Edx, y << 8 | x)], &[]);
    }

    /// ansicon's character output: bios_set_cursor then bios_write_char
    /// (AH=09h, CX=1) per character; the column advances, past the right
    /// edge the text is cut (the model does not wrap: menu.c32 never
    /// writes there).
    fn put(&self, x: &mut i64, y: i64, bytes: &[u8], attr: u8) {
        for &b in bytes {
            if *x < COLS && (0..ROWS).contains(&y) {
                self.goto(*x, y);
                self.vm().bios_call(
                    0x10,
                    &[(Gpr::Eax, 0x0900 | u32::from(b)), (Gpr::Ebx, u32::from(attr)), (Gpr::Ecx, 1)],
                    &[],
                );
            }
            *x += 1;
        }
    }

    /// menumain.c `clear_screen`: `ESC [2J` in the "screen" colour.
    fn menu_clear(&self) {
        self.erase(0, 0, COLS - 1, ROWS - 1, ansi_attribute(SCREEN));
    }

    /// draw_row: `y` is 0-based here (menumain.c's is 1-based).
    fn draw_row(&self, m: &MenuConf, y: i64, sel: i64, top: i64, sb: Option<(i64, i64)>) {
        let p = &m.p;
        let i = (y - 3 - p.vshift) + top;
        let n = m.items.len() as i64;
        let (attr, hot) = if i == sel { (SEL, HOTSEL) } else { (UNSEL, HOTKEY) };
        let (attr, hot) = (ansi_attribute(attr), ansi_attribute(hot));
        let border = ansi_attribute(BORDER);
        let mut x = p.margin + p.hshift;
        self.put(&mut x, y, &[dec_graphic(b'x')], border);
        self.put(&mut x, y, b" ", attr);
        let width = p.width - 2 * p.margin - 4;
        if i < 0 || i >= n {
            self.put(&mut x, y, &pad_line("", 0, width), attr);
        } else {
            // display_entry: `^` shows the next character in the hotkey colour.
            let e = &m.items[i as usize];
            let d = e.display.as_bytes();
            let (mut k, mut left) = (0usize, width.max(0));
            while left > 0 {
                match d.get(k) {
                    Some(b'^') => {
                        k += 1;
                        if let Some(&c) = d.get(k)
                            && Some(c & !0x20) == e.hotkey
                        {
                            self.put(&mut x, y, &[c], hot);
                            k += 1;
                            left -= 1;
                        }
                    }
                    Some(&c) => {
                        self.put(&mut x, y, &[c], attr);
                        k += 1;
                        left -= 1;
                    }
                    None => {
                        self.put(&mut x, y, b" ", attr);
                        left -= 1;
                    }
                }
            }
        }
        if n <= p.rows {
            self.put(&mut x, y, b" ", attr);
            self.put(&mut x, y, &[dec_graphic(b'x')], border);
        } else if let Some((sbtop, sbbot)) = sb.filter(|s| s.0 > 0) {
            self.put(&mut x, y, b" ", attr);
            if (sbtop..=sbbot).contains(&(y + 1)) {
                self.put(&mut x, y, &[dec_graphic(b'a')], ansi_attribute(SCROLLBAR));
            } else {
                self.put(&mut x, y, &[dec_graphic(b'x')], border);
            }
        } else {
            self.put(&mut x, y, b" ", attr);
        }
    }

    /// draw_menu (with display_help for an entry without help text).
    fn draw_menu(&self, m: &MenuConf, sel: i64, top: i64, edit_line: bool) {
        let p = &m.p;
        let n = m.items.len() as i64;
        let mut sb = None;
        if n > p.rows {
            let sblen = (p.rows * p.rows / n).max(1);
            let sbtop = ((p.rows - sblen + 1) * top / (n - p.rows + 1)) + p.vshift;
            sb = Some((sbtop + 4, sbtop + sblen - 1 + 4));
        }
        let border = ansi_attribute(BORDER);
        let inner = (p.width - 2 * p.margin - 2).max(0) as usize;
        let line = |l: u8, r: u8| {
            let mut v = vec![dec_graphic(l)];
            v.extend(std::iter::repeat_n(dec_graphic(b'q'), inner));
            v.push(dec_graphic(r));
            v
        };
        let x0 = p.hshift + p.margin;
        let mut x = x0;
        self.put(&mut x, p.vshift, &line(b'l', b'k'), border);
        x = x0;
        self.put(&mut x, p.vshift + 1, &[dec_graphic(b'x')], border);
        let mut title = vec![b' '];
        title.extend(pad_line(&m.title, 1, p.width - 2 * p.margin - 4));
        title.push(b' ');
        self.put(&mut x, p.vshift + 1, &title, ansi_attribute(TITLE));
        self.put(&mut x, p.vshift + 1, &[dec_graphic(b'x')], border);
        x = x0;
        self.put(&mut x, p.vshift + 2, &line(b't', b'u'), border);
        for y in 3 + p.vshift..3 + p.vshift + p.rows {
            self.draw_row(m, y, sel, top, sb);
        }
        x = x0;
        self.put(&mut x, 3 + p.vshift + p.rows, &line(b'm', b'j'), border);
        let tabmsg = if edit_line && m.allowedit { &m.tabmsg } else { &m.notabmsg };
        let mut x = p.hshift + ((p.width - tabmsg.len() as i64) >> 1);
        self.put(&mut x, p.tabmsg_row - 1, tabmsg.as_bytes(), ansi_attribute(TABMSG));
        // display_help(NULL): the help rows erased in the "screen" colour.
        let screen = ansi_attribute(SCREEN);
        for row in p.helpmsg_row..=p.helpmsgend_row.max(p.helpmsg_row) {
            self.erase(0, row - 1, COLS - 1, row - 1, screen);
        }
        self.goto(0, p.end_row - 1);
    }

    /// print_timeout_message at 1-based `row`.
    fn timeout_message(&self, r: &mut Run<'_>, tol: u64, row: i64, msg: &str) {
        let (runs, nc) = timeout_text(tol, msg);
        let padc = if nc >= r.last_msg_len { 0 } else { ((r.last_msg_len - nc + 1) >> 1) as i64 };
        let mut x = r.m.p.hshift + ((r.m.p.width - nc as i64) >> 1) - padc;
        let y = row - 1;
        let pad = vec![b' '; padc as usize];
        let (plain, number) = (ansi_attribute(TIMEOUT_MSG), ansi_attribute(TIMEOUT));
        self.put(&mut x, y, &pad, plain);
        for (t, is_number) in runs {
            self.put(&mut x, y, t.as_bytes(), if is_number { number } else { plain });
        }
        self.put(&mut x, y, &pad, plain);
        r.last_msg_len = nc;
    }

    /// menumain.c `mygetkey`: `Ok(None)` on the key timeout, `Err` when
    /// TOTALTIMEOUT runs out (`longjmp(timeout_jump)`) or `--keys` did.
    fn mygetkey(&self, r: &mut Run<'_>, mut timeout: u64) -> Result<Option<SysKey>, Option<Box<EndState>>> {
        let gone = |at| {
            Err(Some(Box::new(EndState::WaitingForKey {
                at,
                function: format!("int 16h AH=00h read key: {} (no --keys left, no TIMEOUT)", r.what),
            })))
        };
        if r.total_left == 0 {
            return match self.get_key(timeout) {
                Key::Pressed(k) => Ok(Some(k)),
                Key::Timeout => Ok(None),
                Key::Gone(at) => gone(at),
            };
        }
        loop {
            let to = if timeout > 0 { r.total_left.min(timeout) } else { r.total_left };
            let (key, t) = match self.get_key(to) {
                Key::Pressed(k) => (Some(k), 0),
                Key::Timeout => (None, to),
                Key::Gone(at) => return gone(at),
            };
            if r.total_left <= t {
                return Err(None);
            }
            r.total_left -= t;
            if key.is_some() {
                return Ok(key);
            }
            if timeout > 0 {
                if timeout <= t {
                    return Ok(None);
                }
                timeout -= t;
            }
        }
    }

    /// do_hidden_menu: `None` shows the menu (a key was pressed).
    fn hidden_menu(&self, r: &mut Run<'_>) -> Option<MenuEnd> {
        let m = r.m;
        self.menu_clear();
        let mut left = m.timeout_ms;
        let mut timed_out = true;
        let mut waits = 0usize;
        while m.timeout_ms == 0 || left > 0 {
            waits += 1;
            if waits > MAX_MENU_KEYS {
                return Some(MenuEnd::Stop(self.stop(format!(
                    "more than {MAX_MENU_KEYS} waits in {}'s hidden countdown: the model stops here",
                    r.what
                ))));
            }
            self.timeout_message(r, left / TICK_MS, m.p.hidden_row, &m.autoboot);
            let this = left.min(TICK_MS);
            match self.mygetkey(r, this) {
                Ok(Some(_)) => {
                    self.timeout_message(r, 0, m.p.hidden_row, "");
                    return None;
                }
                Ok(None) => {}
                Err(Some(e)) => return Some(MenuEnd::Stop(*e)),
                Err(None) => {
                    timed_out = false;
                    break;
                }
            }
            left -= this;
        }
        self.timeout_message(r, 0, m.p.hidden_row, "");
        let why = if timed_out { "MENU HIDDEN: the timeout elapsed" } else { "MENU HIDDEN: TOTALTIMEOUT elapsed" };
        Some(self.default_choice(m, why))
    }

    fn default_choice(&self, m: &MenuConf, why: &str) -> MenuEnd {
        match &m.ontimeout {
            Some(t) => MenuEnd::Boot(t.clone(), format!("{why}: ONTIMEOUT {t}")),
            None => {
                let e = &m.items[m.defentry];
                MenuEnd::Boot(e.label.clone(), format!("{why}: the default entry {} ({})", m.defentry, e.label))
            }
        }
    }

    /// menumain.c `run_menu` (one menu, no submenus).
    fn run_menu(&self, r: &mut Run<'_>) -> MenuEnd {
        let m = r.m;
        let p = &m.p;
        let n = m.items.len() as i64;
        let mut entry = m.defentry as i64;
        let mut top = 0i64;
        let mut key_timeout = m.timeout_ms;
        let mut timeout_left = key_timeout;
        if m.hidden {
            match self.hidden_menu(r) {
                Some(end) => return end,
                None => key_timeout = 0,
            }
        }
        let fix_top = |entry: i64, top: i64| {
            if top < 0 || top < entry - p.rows + 1 {
                (entry - p.rows + 1).max(0)
            } else if top > entry || top > (n - p.rows).max(0) {
                entry.min((n - p.rows).max(0))
            } else {
                top
            }
        };
        let (mut prev_entry, mut prev_top) = (-1i64, -1i64);
        let mut clear = true;
        for _ in 0..MAX_MENU_KEYS {
            entry = entry.clamp(0, n - 1);
            top = fix_top(entry, top);
            if clear {
                self.menu_clear();
                clear = false;
                (prev_entry, prev_top) = (-1, -1);
            }
            if top != prev_top {
                self.draw_menu(m, entry, top, true);
            } else if entry != prev_entry {
                self.draw_row(m, prev_entry - top + 3 + p.vshift, entry, top, None);
                self.draw_row(m, entry - top + 3 + p.vshift, entry, top, None);
                let screen = ansi_attribute(SCREEN);
                for row in p.helpmsg_row..=p.helpmsgend_row.max(p.helpmsg_row) {
                    self.erase(0, row - 1, COLS - 1, row - 1, screen);
                }
            }
            (prev_entry, prev_top) = (entry, top);
            if entry != m.defentry as i64 {
                key_timeout = 0;
            }
            let to_clear = key_timeout > 0;
            if to_clear {
                self.timeout_message(r, timeout_left / TICK_MS, p.timeout_row, &m.autoboot);
            }
            let this_timeout = key_timeout.min(timeout_left).min(TICK_MS);
            let key = match self.mygetkey(r, this_timeout) {
                Ok(k) => k,
                Err(Some(e)) => return MenuEnd::Stop(*e),
                Err(None) => return self.timeout_jump(m, top, "TOTALTIMEOUT elapsed in the menu"),
            };
            if key.is_some() {
                timeout_left = key_timeout;
                if to_clear {
                    self.erase(0, p.timeout_row - 1, COLS - 1, p.timeout_row - 1, ansi_attribute(SCREEN));
                }
            }
            let rows = p.rows;
            match key {
                None => {
                    if key_timeout > 0 {
                        if timeout_left <= this_timeout {
                            return self.timeout_jump(m, top, "the menu's TIMEOUT elapsed");
                        }
                        timeout_left -= this_timeout;
                    }
                }
                Some(SysKey::Char(0x0C)) => clear = true,
                Some(SysKey::Char(b'\r' | b'\n')) => {
                    let e = &m.items[entry as usize];
                    return MenuEnd::Boot(
                        e.label.clone(),
                        format!("menu entry {entry} ({}) chosen with --keys", e.label),
                    );
                }
                Some(SysKey::Up | SysKey::Char(0x10)) => {
                    if entry > 0 {
                        entry -= 1;
                        if entry < top {
                            top -= rows;
                        }
                    }
                }
                Some(SysKey::Down | SysKey::Char(0x0E)) => {
                    if entry < n - 1 {
                        entry += 1;
                        if entry >= top + rows {
                            top += rows;
                        }
                    }
                }
                Some(SysKey::PgUp | SysKey::Left | SysKey::Char(2 | b'<')) => {
                    entry -= rows;
                    top -= rows;
                }
                Some(SysKey::PgDn | SysKey::Right | SysKey::Char(6 | b'>' | b' ')) => {
                    entry += rows;
                    top += rows;
                }
                Some(SysKey::Char(b'-')) => {
                    if entry > 0 {
                        entry -= 1;
                        top -= 1;
                    }
                }
                Some(SysKey::Char(b'+')) => {
                    if entry < n - 1 {
                        entry += 1;
                        top += 1;
                    }
                }
                Some(SysKey::Home | SysKey::Char(1)) => (top, entry) = (0, 0),
                Some(SysKey::End | SysKey::Char(5)) => {
                    entry = n - 1;
                    top = (n - rows).max(0);
                }
                Some(SysKey::Char(b'\t')) if m.allowedit => {
                    return MenuEnd::Stop(self.stop(format!(
                        "Tab in {} on entry {entry} ({}): the command-line editor (menumain.c edit_cmdline) is not \
                         modelled",
                        r.what, m.items[entry as usize].label
                    )));
                }
                Some(SysKey::Char(0x1B | 3)) if m.allowedit => {
                    self.draw_row(m, entry - top + 3 + p.vshift, -1, top, None);
                    return MenuEnd::Exit;
                }
                Some(SysKey::Char(k)) if k > 0 && k < 0xFF => {
                    let k = k & !0x20;
                    if let Some(i) = m.items.iter().position(|e| e.hotkey == Some(k)) {
                        // A hotkey selects; MENU IMMEDIATE (not read) would boot.
                        key_timeout = 0;
                        entry = i as i64;
                    }
                }
                Some(_) => {}
            }
        }
        MenuEnd::Stop(self.stop(format!(
            "more than {MAX_MENU_KEYS} key waits (keys and countdown seconds) in {}: the model stops here",
            r.what
        )))
    }

    /// run_menu's `setjmp(timeout_jump)` branch: the default entry
    /// highlighted (none with ONTIMEOUT) and booted.
    fn timeout_jump(&self, m: &MenuConf, top: i64, why: &str) -> MenuEnd {
        let entry = m.defentry as i64;
        let n = m.items.len() as i64;
        let rows = m.p.rows;
        let top = if top < 0 || top < entry - rows + 1 {
            (entry - rows + 1).max(0)
        } else if top > entry || top > (n - rows).max(0) {
            entry.min((n - rows).max(0))
        } else {
            top
        };
        self.draw_menu(m, if m.ontimeout.is_some() { -1 } else { entry }, top, true);
        self.default_choice(m, why)
    }

    /// menu.c32 (or vesamenu.c32) at `path`: menumain.c `main`.
    pub(super) fn menu_c32(&self, c: &Conf<'_>, path: &str, name: &str) -> Loaded {
        let m = match parse(&c.text) {
            Ok(m) => m,
            Err(e) => return Loaded::End(self.stop(format!("{path} reads {}: {e}", c.cfg_path))),
        };
        let vesa = name == "vesamenu.c32";
        let what = if vesa {
            "the SYSLINUX vesamenu.c32 menu, drawn as menu.c32's text-mode equivalent (the VESA graphics are not \
             modelled)"
                .to_string()
        } else {
            "the SYSLINUX menu.c32 menu".to_string()
        };
        self.vm().mark(format!("syslinux: {path}: {what}"));
        if m.items.is_empty() {
            self.printf("Initial menu has no LABEL entries!\n");
            return Loaded::Failed(self.stop(format!("{path}: {} has no LABEL the menu shows", c.cfg_path)));
        }
        let mut r = Run { m: &m, last_msg_len: 0, total_left: m.total_timeout_ms, what: what.clone() };
        for _ in 0..MAX_MENU_RUNS {
            let end = self.run_menu(&mut r);
            if m.clear {
                self.menu_clear();
            }
            self.goto(0, m.p.end_row - 1);
            let (cmd, why) = match end {
                MenuEnd::Stop(e) => return Loaded::End(e),
                MenuEnd::Exit => return Loaded::Prompt,
                MenuEnd::Boot(cmd, why) => (cmd, why),
            };
            let why = if vesa { format!("{why} (vesamenu.c32 shown as its text-mode equivalent)") } else { why };
            // readconfig.c record: an entry's command line is its label's
            // (".linux kernel append initrd=…"; execute() strips the type).
            let word = cmd.split(char::is_whitespace).next().unwrap_or("");
            let entry = c.menu.entries.iter().find(|e| e.id.as_deref() == Some(word));
            let r = match (entry, label_cmdline(&c.text, word)) {
                (Some(e), Some(lc)) if e.kind == EntryKind::Linux => {
                    let rest = cmd[word.len()..].trim_start();
                    let lc = if rest.is_empty() { lc } else { format!("{lc} {rest}") };
                    self.execute(c, &lc, false, (e.index, e.title.clone()), why)
                }
                (Some(_), _) => {
                    return Loaded::End(
                        self.stop(format!("menu entry {word:?} boots a non-Linux image: not modelled")),
                    );
                }
                (None, _) => self.execute(c, &cmd, false, (0, word.to_string()), why),
            };
            match r {
                Loaded::Failed(e) if self.vm().bios.keys.is_empty() => return Loaded::Failed(e),
                Loaded::Failed(_) | Loaded::Prompt => {}
                e @ Loaded::End(_) => return e,
            }
        }
        Loaded::End(self.stop(format!("menu.c32 ran more than {MAX_MENU_RUNS} times: the model stops here")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_colours_as_ansicon_turns_them_into_vga_attributes() {
        let a: Vec<u8> =
            [SCREEN, BORDER, TITLE, UNSEL, HOTKEY, SEL, HOTSEL, TABMSG, TIMEOUT].map(ansi_attribute).into();
        assert_eq!(a, [0x07, 0x10, 0x1B, 0x17, 0x1F, 0x70, 0x78, 0x04, 0x0F]);
    }

    #[test]
    fn readconfig_builds_the_menu() {
        let m = parse(
            "UI menu.c32\nDEFAULT b\nMENU TITLE T\nTIMEOUT 35\nLABEL a\n MENU LABEL ^Alpha\n MENU DEFAULT\nLABEL h\n MENU \
             HIDE\nLABEL b\nMENU ROWS 5\nMENU TIMEOUTROW -3\n",
        )
        .unwrap();
        assert_eq!(m.items.iter().map(|e| e.label.as_str()).collect::<Vec<_>>(), ["a", "b"]);
        assert_eq!((m.defentry, m.items[0].hotkey, m.timeout_ms, m.title.as_str()), (1, Some(b'A'), 3500, "T"));
        assert_eq!((m.p.rows, m.p.timeout_row, m.p.end_row, m.p.width), (5, 22, 24, 80));
        assert!(parse("MENU COLOR sel 0 0 0\n").unwrap_err().contains("MENU COLOR"));
        assert!(parse("LABEL a\nMENU BEGIN x\n").unwrap_err().contains("MENU BEGIN"));
    }

    #[test]
    fn timeout_message_plurals_and_padding_text() {
        let (runs, nc) = timeout_text(1, "Automatic boot in # second{,s}...");
        assert_eq!(runs.iter().map(|r| r.0.as_str()).collect::<String>(), "Automatic boot in 1 second...");
        assert_eq!((nc, runs[1].1), (29, true));
        let (runs, _) = timeout_text(2, "{one,two,many}#");
        assert_eq!(runs.iter().map(|r| r.0.as_str()).collect::<String>(), "two2");
        assert_eq!(pad_line("ab", 1, 7), b"  ab   ");
        assert_eq!(pad_line("abcdef", 0, 3), b"abc");
    }
}
