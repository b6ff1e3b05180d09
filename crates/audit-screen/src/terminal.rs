//! [`Terminal`]: a virtual terminal fed with a pane's raw output bytes.
//!
//! It wraps avt (asciinema's terminal emulator) and adds what recorded output needs: bytes in
//! rather than text (a character split across two reads decodes right, invalid bytes show as
//! U+FFFD, as on a real terminal), a [`Terminal::snapshot`] that redraws the exact state on a
//! reset terminal, and the text of lines as they leave the screen ([`Terminal::take_scrolled`]),
//! which export and search need. No scrollback is kept: memory stays that of one screen.

use crate::utf8::Decoder;
use crate::ScreenError;
use avt::parser::{DecMode, Function};
use avt::{Line, Observation, Observer, Operation, ScreenKind};

/// Where the cursor is, and whether it is shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cursor {
    /// Column, from 0. Equal to the width while a wrap is pending.
    pub col: u16,
    /// Row, from 0.
    pub row: u16,
    /// Whether the cursor is visible.
    pub visible: bool,
}

/// A virtual terminal of a fixed size that recorded output is fed into.
pub struct Terminal {
    vt: avt::Terminal,
    decoder: Decoder,
    text: TextCollector,
    keep_text: bool,
}

impl std::fmt::Debug for Terminal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (width, height) = self.size();
        f.debug_struct("Terminal")
            .field("width", &width)
            .field("height", &height)
            .field("cursor", &self.cursor())
            .finish_non_exhaustive()
    }
}

impl Terminal {
    /// A reset terminal of `width` columns and `height` rows (both at least 1).
    pub fn new(width: u16, height: u16) -> Result<Self, ScreenError> {
        let vt = avt::Terminal::new(usize::from(width), usize::from(height))
            .map_err(|_| ScreenError::InvalidSize { width, height })?;
        Ok(Terminal {
            vt,
            decoder: Decoder::new(),
            text: TextCollector::default(),
            keep_text: true,
        })
    }

    /// A terminal of `width` x `height` showing what `snapshot` draws (a [`Terminal::snapshot`],
    /// or the snapshot stored at the start of a chunk).
    pub fn from_snapshot(width: u16, height: u16, snapshot: &[u8]) -> Result<Self, ScreenError> {
        let mut term = Terminal::new(width, height)?;
        term.feed(snapshot);
        // What the snapshot drew was on screen before; it is not text that scrolled now.
        term.text = TextCollector::default();
        Ok(term)
    }

    /// Whether to collect the text of lines leaving the screen (on by default). Turn it off when
    /// nothing will call [`Terminal::take_scrolled`], so the text does not pile up.
    pub fn keep_text(&mut self, keep: bool) {
        self.keep_text = keep;
        if !keep {
            self.text.ready.clear();
        }
    }

    /// Processes output bytes exactly as the pane wrote them.
    pub fn feed(&mut self, bytes: &[u8]) {
        let mut text = String::with_capacity(bytes.len());
        self.decoder.decode(bytes, &mut text);
        if !text.is_empty() {
            self.vt.feed_with(text.as_str(), &mut self.text);
        }
        if !self.keep_text {
            self.text.ready.clear();
        }
    }

    /// Changes the size, as when the pane is resized (the primary screen reflows; lines pushed
    /// off the top count as scrolled).
    pub fn resize(&mut self, width: u16, height: u16) {
        self.vt
            .resize_with(usize::from(width), usize::from(height), &mut self.text);
        if !self.keep_text {
            self.text.ready.clear();
        }
    }

    /// Columns and rows.
    pub fn size(&self) -> (u16, u16) {
        let (cols, rows) = self.vt.size();
        (clamp16(cols), clamp16(rows))
    }

    /// The cursor.
    pub fn cursor(&self) -> Cursor {
        let c = self.vt.cursor();
        Cursor {
            col: clamp16(c.col),
            row: clamp16(c.row),
            visible: c.visible,
        }
    }

    /// Whether the alternate screen (full-screen programs: vim, less, top) is shown.
    pub fn alternate(&self) -> bool {
        self.vt.active_screen_kind() == ScreenKind::Alternate
    }

    /// Bytes that draw this exact state — screen contents, colours and attributes, cursor
    /// position and visibility, alternate screen, modes, and any escape sequence or character
    /// cut off mid-way — on a reset terminal of the same size.
    pub fn snapshot(&self) -> Vec<u8> {
        let mut bytes = self.vt.dump().into_bytes();
        bytes.extend_from_slice(self.decoder.pending());
        bytes
    }

    /// The visible rows of the shown screen, top to bottom, each with trailing blanks trimmed
    /// (always `height` entries).
    pub fn screen_lines(&self) -> Vec<String> {
        self.vt
            .screen()
            .visible_lines()
            .map(|l| l.text().trim_end().to_owned())
            .collect()
    }

    /// The text of lines that left the screen since the last call, oldest first: rows soft-wrapped
    /// into one line are joined, trailing blanks are trimmed. A line leaves the screen when it
    /// scrolls off the top, when the screen is cleared (`clear`, ED 2), or on a reset; what a
    /// full-screen program showed is taken once, as it was when the program left the alternate
    /// screen.
    pub fn take_scrolled(&mut self) -> Vec<String> {
        std::mem::take(&mut self.text.ready)
    }

    /// The text still on screen, as a transcript would end: logical lines of the primary screen
    /// (including the start of a line whose first rows already scrolled off), trailing blank
    /// lines dropped, then the alternate screen's lines if it is shown.
    pub fn screen_text(&self) -> Vec<String> {
        let mut lines = Vec::new();
        let mut pending = self.text.pending.clone();
        for line in self.vt.primary_screen().all_lines() {
            pending.extend(line.chars());
            if !line.is_wrapped() {
                lines.push(pending.trim_end().to_owned());
                pending.clear();
            }
        }
        if !pending.trim_end().is_empty() {
            lines.push(pending.trim_end().to_owned());
        }
        trim_blank_tail(&mut lines);
        if self.alternate() {
            lines.extend(alternate_text(&self.vt));
        }
        lines
    }

    /// Takes over `old`'s text as if it had left the screen: what it collected, then what it
    /// still showed (a recording that starts again from a new picture).
    pub(crate) fn carry_text_from(&mut self, old: &mut Terminal) {
        if self.keep_text {
            let mut lines = old.take_scrolled();
            lines.extend(old.screen_text());
            lines.append(&mut self.text.ready);
            self.text.ready = lines;
        }
    }

    /// The underlying avt terminal (for painting).
    pub(crate) fn vt(&self) -> &avt::Terminal {
        &self.vt
    }
}

fn clamp16(n: usize) -> u16 {
    u16::try_from(n).unwrap_or(u16::MAX)
}

fn trim_blank_tail(lines: &mut Vec<String>) {
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
}

fn alternate_text(vt: &avt::Terminal) -> Vec<String> {
    let mut lines = vt.screen().text();
    trim_blank_tail(&mut lines);
    lines
}

/// Gathers lines as they become final: evicted from the top of the primary screen (scrolling,
/// ED 2, shrinking), everything on a reset, and the alternate screen when it is left.
#[derive(Default)]
struct TextCollector {
    /// The rows of a soft-wrapped line whose end has not left the screen yet.
    pending: String,
    ready: Vec<String>,
}

impl TextCollector {
    fn push(&mut self, line: &Line) {
        self.pending.extend(line.chars());
        if !line.is_wrapped() {
            self.ready.push(self.pending.trim_end().to_owned());
            self.pending.clear();
        }
    }
}

impl Observer for TextCollector {
    type Output = ();

    fn before(&mut self, context: &mut Observation<'_>, operation: &Operation) {
        let vt = context.terminal();
        let alternate = vt.active_screen_kind() == ScreenKind::Alternate;
        match operation {
            Operation::Function(Function::Ris) => {
                let start = self.ready.len();
                let primary: Vec<Line> = vt.primary_screen().all_lines().cloned().collect();
                let alt = alternate.then(|| alternate_text(vt));
                for line in &primary {
                    self.push(line);
                }
                if !self.pending.is_empty() {
                    self.ready
                        .push(std::mem::take(&mut self.pending).trim_end().to_owned());
                }
                while self.ready.len() > start && self.ready.last().is_some_and(String::is_empty) {
                    self.ready.pop();
                }
                self.ready.extend(alt.unwrap_or_default());
            }
            Operation::Function(Function::Decrst(modes))
                if alternate
                    && modes.as_slice().iter().any(|m| {
                        matches!(
                            m,
                            DecMode::AltScreenBuffer | DecMode::SaveCursorAltScreenBuffer
                        )
                    }) =>
            {
                let lines = alternate_text(vt);
                self.ready.extend(lines);
            }
            _ => {}
        }
    }

    fn evicted(&mut self, _: &mut Observation<'_>, line: &Line) {
        self.push(line);
    }

    fn end(&mut self, _: &mut Observation<'_>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything a snapshot must carry over: every visible cell (character, width, colours,
    /// attributes) of the shown screen, the cursor, which screen is shown, and the size.
    fn state(t: &Terminal) -> (Vec<Vec<avt::Cell>>, Cursor, bool, (u16, u16)) {
        let cells =
            t.vt.screen()
                .visible_lines()
                .map(|l| l.cells().to_vec())
                .collect();
        (cells, t.cursor(), t.alternate(), t.size())
    }

    fn restored(t: &Terminal) -> Terminal {
        let (w, h) = t.size();
        Terminal::from_snapshot(w, h, &t.snapshot()).unwrap()
    }

    /// A deterministic stream of coloured text, cursor moves, erases, wide characters and
    /// invalid bytes (xorshift, so the test needs no crate).
    fn noisy_output(seed: u64, len: usize) -> Vec<u8> {
        let mut x = seed | 1;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let pieces: [&[u8]; 16] = [
            b"\x1b[31m",
            b"\x1b[1;44m",
            b"\x1b[38;5;208m",
            b"\x1b[48;2;10;20;30m",
            b"\x1b[0m",
            b"\x1b[4;7m",
            b"\r\n",
            b"\x1b[5;10H",
            b"\x1b[K",
            b"\x1b[2A",
            "日本語".as_bytes(),
            "é🦀".as_bytes(),
            b"\xff",
            b"\t",
            b"\x1b[?25l",
            b"\x1b[?25h",
        ];
        let mut out = Vec::new();
        while out.len() < len {
            let n = next();
            if n % 3 == 0 {
                out.extend_from_slice(pieces[(n >> 8) as usize % pieces.len()]);
            } else {
                let word_len = 1 + (n >> 16) as usize % 12;
                out.extend((0..word_len).map(|i| b'a' + ((n >> (i % 8)) % 26) as u8));
                out.push(b' ');
            }
        }
        out
    }

    #[test]
    fn snapshot_round_trips_coloured_output() {
        for seed in 1..40 {
            let mut a = Terminal::new(37, 11).unwrap();
            let out = noisy_output(seed, 3000);
            // Feed in uneven pieces so cuts land inside characters and escape sequences.
            for piece in out.chunks(1 + seed as usize % 17) {
                a.feed(piece);
            }
            let b = restored(&a);
            assert_eq!(state(&a), state(&b), "seed {seed}");
            assert_eq!(a.snapshot(), b.snapshot(), "seed {seed}");
        }
    }

    #[test]
    fn snapshot_carries_alternate_screen_and_hidden_cursor() {
        let mut a = Terminal::new(20, 5).unwrap();
        a.feed(b"shell prompt $ \x1b[?1049h\x1b[H\x1b[32mvim buffer\x1b[3;4H\x1b[?25l");
        assert!(a.alternate());
        let mut b = restored(&a);
        assert_eq!(state(&a), state(&b));
        assert!(!b.cursor().visible);
        // Leaving the alternate screen shows the same primary screen in both.
        a.feed(b"\x1b[?1049l");
        b.feed(b"\x1b[?1049l");
        assert_eq!(state(&a), state(&b));
        assert_eq!(b.screen_lines()[0], "shell prompt $");
    }

    #[test]
    fn snapshot_keeps_a_character_cut_in_half() {
        let mut a = Terminal::new(10, 2).unwrap();
        a.feed(b"ab\xe2\x82");
        let mut b = restored(&a);
        a.feed(b"\xac!");
        b.feed(b"\xac!");
        assert_eq!(a.screen_lines()[0], "ab€!");
        assert_eq!(state(&a), state(&b));
    }

    #[test]
    fn split_utf8_decodes_and_invalid_bytes_show_as_replacement() {
        let mut t = Terminal::new(20, 3).unwrap();
        for b in "héllo 🦀".as_bytes() {
            t.feed(&[*b]);
        }
        t.feed(b" \xff\x00x");
        assert_eq!(t.screen_lines()[0], "héllo 🦀 \u{fffd}x");
    }

    #[test]
    fn scrolled_lines_come_out_once_in_order_with_wraps_joined() {
        let mut t = Terminal::new(5, 2).unwrap();
        t.feed(b"one\r\ntwo\r\n");
        assert_eq!(t.take_scrolled(), ["one"]);
        t.feed(b"abcdefgh\r\nlast");
        // "abcde" has scrolled off, but its line goes on in "fgh": not final yet.
        assert_eq!(t.take_scrolled(), ["two"]);
        assert_eq!(t.screen_lines(), ["fgh", "last"]);
        assert_eq!(t.screen_text(), ["abcdefgh", "last"]);
        t.feed(b"\r\n\r\n");
        assert_eq!(t.take_scrolled(), ["abcdefgh", "last"]);
        assert!(t.take_scrolled().is_empty());
    }

    #[test]
    fn clear_and_reset_make_lines_final() {
        let mut t = Terminal::new(10, 4).unwrap();
        t.feed(b"secret\r\nmore\x1b[H\x1b[2J");
        assert_eq!(t.take_scrolled(), ["secret", "more"]);
        t.feed(b"again\x1bcafter");
        assert_eq!(t.take_scrolled(), ["again"]);
        assert_eq!(t.screen_text(), ["after"]);
    }

    #[test]
    fn leaving_the_alternate_screen_keeps_what_it_showed() {
        let mut t = Terminal::new(10, 4).unwrap();
        t.feed(b"$ less f\r\n\x1b[?1049h\x1b[Hpage one\r\npage two");
        assert!(t.take_scrolled().is_empty());
        assert_eq!(t.screen_text(), ["$ less f", "page one", "page two"]);
        t.feed(b"\x1b[?1049l$ ");
        assert_eq!(t.take_scrolled(), ["page one", "page two"]);
        assert_eq!(t.screen_text(), ["$ less f", "$"]);
    }

    #[test]
    fn keep_text_off_collects_nothing() {
        let mut t = Terminal::new(5, 1).unwrap();
        t.keep_text(false);
        t.feed(b"a\r\nb\r\nc");
        assert!(t.take_scrolled().is_empty());
        assert_eq!(t.screen_lines(), ["c"]);
    }

    #[test]
    fn zero_size_is_refused() {
        assert_eq!(
            Terminal::new(0, 24).unwrap_err(),
            ScreenError::InvalidSize {
                width: 0,
                height: 24
            }
        );
    }
}
