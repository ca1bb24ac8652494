//! The text console behind `int 10h`: an 80×25 colour text screen (mode 3)
//! whose cells live in guest memory at 0xB8000 like a VGA text buffer, plus
//! the transcript of every character written through the BIOS (what the
//! report and the golden tests compare).
//!
//! Teletype semantics follow SeaVGABIOS `vgasrc/vgabios.c` `write_teletype`:
//! BEL (7) is ignored, BS (8) moves left without erasing, CR (13) goes to
//! column 0, LF (10) to the next row, everything else is written at the
//! cursor, which advances and wraps; past the last row the screen scrolls up.

/// Columns of mode 3.
pub const COLS: u16 = 80;
/// Rows of mode 3.
pub const ROWS: u16 = 25;
/// Linear address of the colour text buffer.
pub const TEXT_BASE: u32 = 0xB8000;

/// Screen state. The cell memory is guest memory; this struct keeps the
/// cursor per page (mirrored in the BDA by the BIOS) and the transcript.
#[derive(Clone, Debug, Default)]
pub struct Console {
    /// Every byte the BIOS output functions emitted, in order, up to
    /// [`MAX_TRANSCRIPT`] bytes.
    pub transcript: Vec<u8>,
    /// Bytes emitted after the transcript was full (not kept).
    pub dropped: u64,
    /// (row, col) per display page 0..8.
    pub cursor: [(u8, u8); 8],
    /// Active page (BDA 0x462).
    pub page: u8,
}

/// Most console bytes kept: a guest printing in a loop cannot fill memory
/// or the report; what is dropped is counted.
pub const MAX_TRANSCRIPT: usize = 1 << 20;

/// What writing a character did to the screen cells.
pub enum CellOp {
    /// Write `ch` with `attr` (None: keep the attribute) at (row, col).
    Put { row: u8, col: u8, ch: u8, attr: Option<u8> },
    /// Scroll the whole page up by one line, filling with `attr`.
    Scroll { attr: u8 },
}

impl Console {
    /// Appends `ch` to the transcript, or counts it once the transcript is full.
    pub fn record(&mut self, ch: u8) {
        if self.transcript.len() < MAX_TRANSCRIPT {
            self.transcript.push(ch);
        } else {
            self.dropped += 1;
        }
    }

    /// Bytes emitted so far, kept or not.
    pub fn transcript_len(&self) -> usize {
        self.transcript.len().saturating_add(usize::try_from(self.dropped).unwrap_or(usize::MAX))
    }

    /// Teletype output of `ch` on the active page; returns the cell
    /// operations for the caller to apply to guest memory.
    pub fn teletype(&mut self, ch: u8, attr: Option<u8>) -> Vec<CellOp> {
        self.record(ch);
        let page = usize::from(self.page & 7);
        let (mut row, mut col) = self.cursor[page];
        let mut ops = Vec::new();
        match ch {
            7 => {}
            8 => col = col.saturating_sub(1),
            b'\r' => col = 0,
            b'\n' => row += 1,
            _ => {
                ops.push(CellOp::Put { row, col, ch, attr });
                col += 1;
            }
        }
        if u16::from(col) >= COLS {
            col = 0;
            row += 1;
        }
        if u16::from(row) >= ROWS {
            ops.push(CellOp::Scroll { attr: 0x07 });
            row = (ROWS - 1) as u8;
        }
        self.cursor[page] = (row, col);
        ops
    }
}

/// Byte offset of a cell of page `page` in the text buffer (4 KiB pages).
pub fn cell_offset(page: u8, row: u8, col: u8) -> u32 {
    u32::from(page & 7) * 0x1000 + (u32::from(row) * u32::from(COLS) + u32::from(col)) * 2
}

/// The transcript as text: bytes as Latin-1 characters, unchanged (CR and
/// LF kept), so golden tests can compare exact output.
pub fn transcript_text(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// Code page 437, the VGA's character ROM, for bytes outside printable
/// ASCII: what a text cell shows (GRUB legacy's menu box is drawn with
/// 0xDA 0xC4 0xBF 0xB3 0xC0 0xD9, its arrows are 0x18 0x19 0x1A). Cell 0
/// and blanks show as a space.
pub fn cp437(b: u8) -> char {
    const LOW: [char; 32] = [
        ' ', '☺', '☻', '♥', '♦', '♣', '♠', '•', '◘', '○', '◙', '♂', '♀', '♪', '♫', '☼', '►', '◄', '↕', '‼', '¶', '§',
        '▬', '↨', '↑', '↓', '→', '←', '∟', '↔', '▲', '▼',
    ];
    const HIGH: [char; 129] = [
        '⌂', 'Ç', 'ü', 'é', 'â', 'ä', 'à', 'å', 'ç', 'ê', 'ë', 'è', 'ï', 'î', 'ì', 'Ä', 'Å', 'É', 'æ', 'Æ', 'ô', 'ö',
        'ò', 'û', 'ù', 'ÿ', 'Ö', 'Ü', '¢', '£', '¥', '₧', 'ƒ', 'á', 'í', 'ó', 'ú', 'ñ', 'Ñ', 'ª', 'º', '¿', '⌐', '¬',
        '½', '¼', '¡', '«', '»', '░', '▒', '▓', '│', '┤', '╡', '╢', '╖', '╕', '╣', '║', '╗', '╝', '╜', '╛', '┐', '└',
        '┴', '┬', '├', '─', '┼', '╞', '╟', '╚', '╔', '╩', '╦', '╠', '═', '╬', '╧', '╨', '╤', '╥', '╙', '╘', '╒', '╓',
        '╫', '╪', '┘', '┌', '█', '▄', '▌', '▐', '▀', 'α', 'ß', 'Γ', 'π', 'Σ', 'σ', 'µ', 'τ', 'Φ', 'Θ', 'Ω', 'δ', '∞',
        'φ', 'ε', '∩', '≡', '±', '≥', '≤', '⌠', '⌡', '÷', '≈', '°', '∙', '·', '√', 'ⁿ', '²', '■', ' ',
    ];
    match b {
        0x00..=0x1F => LOW[usize::from(b)],
        0x20..=0x7E => char::from(b),
        _ => HIGH[usize::from(b - 0x7F)],
    }
}

/// The 16 VGA text colours by the names GRUB 0.97 (builtins.c
/// `color_func`) and GRUB 2 (normal/color.c `color_list`) both use, in
/// attribute order.
pub const COLOR_NAMES: [&str; 16] = [
    "black",
    "blue",
    "green",
    "cyan",
    "red",
    "magenta",
    "brown",
    "light-gray",
    "dark-gray",
    "light-blue",
    "light-green",
    "light-cyan",
    "light-red",
    "light-magenta",
    "yellow",
    "white",
];

#[cfg(test)]
mod tests {
    use super::cp437;

    #[test]
    fn cp437_box_and_arrows() {
        let s: String =
            [0xDA, 0xC4, 0xBF, 0xB3, 0xC0, 0xD9, 0x18, 0x19, 0x1A, b'A', 0, 0xFF].map(cp437).iter().collect();
        assert_eq!(s, "┌─┐│└┘↑↓→A  ");
    }
}
