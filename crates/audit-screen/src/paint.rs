//! [`Painter`]: draws a [`Terminal`]'s screen on the auditor's terminal for replay.
//!
//! Replay never sends recorded bytes to the auditor's terminal. Recorded output is hostile
//! input: it can write the clipboard (OSC 52), retitle the window, ask the terminal to answer
//! into the replaying program's input, or exploit a terminal bug. The painter sends only what it
//! generates from the virtual terminal's cells: cursor positioning, SGR colours and attributes,
//! erase to end of line, cursor visibility, and printable characters. It repaints only rows that
//! changed since the last frame, and clips to the auditor's terminal size.

use crate::Terminal;
use avt::{Color, Pen};
use std::fmt::Write as _;

/// Paints frames within a viewport (the auditor's terminal size).
#[derive(Debug)]
pub struct Painter {
    viewport: (u16, u16),
    /// What each row was last painted as (empty: not painted yet).
    rows: Vec<String>,
    size: (u16, u16),
}

impl Painter {
    /// A painter for a viewport of `width` x `height`.
    pub fn new(width: u16, height: u16) -> Self {
        Painter {
            viewport: (width.max(1), height.max(1)),
            rows: Vec::new(),
            size: (0, 0),
        }
    }

    /// Clears the viewport and paints every row.
    pub fn full(&mut self, term: &Terminal) -> Vec<u8> {
        self.rows.clear();
        self.size = term.size();
        let mut out = String::from("\x1b[0m\x1b[H\x1b[2J");
        self.paint_rows(term, &mut out);
        out.into_bytes()
    }

    /// Paints the rows that changed since the last frame (everything when the size changed).
    pub fn update(&mut self, term: &Terminal) -> Vec<u8> {
        if term.size() != self.size {
            return self.full(term);
        }
        let mut out = String::new();
        self.paint_rows(term, &mut out);
        out.into_bytes()
    }

    fn paint_rows(&mut self, term: &Terminal, out: &mut String) {
        let (vw, vh) = self.viewport;
        let lines = term.vt().screen().visible_lines().take(usize::from(vh));
        for (row, line) in lines.enumerate() {
            let painted = row_text(line.cells(), usize::from(vw));
            if self.rows.get(row) != Some(&painted) {
                let _ = write!(out, "\x1b[{};1H{painted}", row + 1);
                if row < self.rows.len() {
                    self.rows[row] = painted;
                } else {
                    self.rows.resize(row, String::new());
                    self.rows.push(painted);
                }
            }
        }
        let cursor = term.cursor();
        let (w, _) = term.size();
        let col = cursor.col.min(w.saturating_sub(1)).min(vw - 1);
        let row = cursor.row.min(vh - 1);
        let _ = write!(out, "\x1b[{};{}H", row + 1, col + 1);
        out.push_str(if cursor.visible {
            "\x1b[?25h"
        } else {
            "\x1b[?25l"
        });
    }
}

/// One row: default attributes, the cells up to the last one that shows anything, then
/// default attributes again and erase to the end of the line.
fn row_text(cells: &[avt::Cell], max_width: usize) -> String {
    let shown = cells
        .iter()
        .rposition(|c| c.char() != ' ' || !c.pen().is_default())
        .map_or(0, |i| i + 1);
    let mut out = String::from("\x1b[0m");
    let mut pen = Pen::default();
    let mut col = 0;
    for cell in &cells[..shown] {
        let width = usize::from(cell.width());
        if width == 0 {
            continue; // the right half of a wide character
        }
        if col + width > max_width {
            break;
        }
        if *cell.pen() != pen {
            pen = *cell.pen();
            out.push_str(&sgr(&pen));
        }
        let c = cell.char();
        out.push(if c.is_control() { '\u{fffd}' } else { c });
        col += width;
    }
    out.push_str("\x1b[0m\x1b[K");
    out
}

/// The SGR sequence that sets exactly `pen` from any state.
fn sgr(pen: &Pen) -> String {
    let mut params = vec!["0".to_owned()];
    for (on, code) in [
        (pen.is_bold(), "1"),
        (pen.is_faint(), "2"),
        (pen.is_italic(), "3"),
        (pen.is_underline(), "4"),
        (pen.is_blink(), "5"),
        (pen.is_inverse(), "7"),
        (pen.is_strikethrough(), "9"),
    ] {
        if on {
            params.push(code.to_owned());
        }
    }
    if let Some(c) = pen.foreground() {
        params.push(color(c, 30, 90, 38));
    }
    if let Some(c) = pen.background() {
        params.push(color(c, 40, 100, 48));
    }
    format!("\x1b[{}m", params.join(";"))
}

fn color(c: Color, base: u8, bright: u8, extended: u8) -> String {
    match c {
        Color::Indexed(n) if n < 8 => (base + n).to_string(),
        Color::Indexed(n) if n < 16 => (bright + n - 8).to_string(),
        Color::Indexed(n) => format!("{extended};5;{n}"),
        Color::RGB(rgb) => format!("{extended};2;{};{};{}", rgb.r, rgb.g, rgb.b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replayed(frames: &[u8], w: u16, h: u16) -> Terminal {
        let mut t = Terminal::new(w, h).unwrap();
        t.feed(frames);
        t
    }

    #[test]
    fn painted_frames_reproduce_the_screen_and_colours() {
        let mut rec = Terminal::new(30, 6).unwrap();
        let mut painter = Painter::new(30, 6);
        let mut frames = painter.full(&rec);
        for piece in [
            &b"\x1b[1;31mred bold\x1b[0m plain\r\n"[..],
            "wide 日本 \x1b[48;5;200mbg\x1b[0m\r\n".as_bytes(),
            b"\x1b[38;2;1;2;3mrgb\x1b[0m\x1b[4;5Hmoved\x1b[?25l",
        ] {
            rec.feed(piece);
            frames.extend(painter.update(&rec));
        }
        let seen = replayed(&frames, 30, 6);
        assert_eq!(seen.screen_lines(), rec.screen_lines());
        assert_eq!(seen.cursor(), rec.cursor());
        let cells = |t: &Terminal| -> Vec<Vec<avt::Cell>> {
            t.vt()
                .screen()
                .visible_lines()
                .map(|l| l.cells().to_vec())
                .collect()
        };
        assert_eq!(cells(&seen), cells(&rec));
    }

    #[test]
    fn hostile_sequences_never_reach_the_viewer() {
        let mut rec = Terminal::new(40, 4).unwrap();
        rec.feed(b"\x1b]52;c;c2VjcmV0\x07\x1b]0;pwned\x07\x1b[21t\x1bP$q\"p\x1b\\ok\x90x\x9c");
        let mut painter = Painter::new(40, 4);
        let frame = String::from_utf8(painter.full(&rec)).unwrap();
        assert!(!frame.contains("\x1b]"), "{frame:?}");
        assert!(!frame.contains("\x1bP"), "{frame:?}");
        assert!(!frame.contains("[21t"), "{frame:?}");
        assert!(frame.contains("ok"));
    }

    #[test]
    fn only_changed_rows_are_repainted_and_output_is_clipped() {
        let mut rec = Terminal::new(20, 3).unwrap();
        rec.feed(b"first\r\nsecond");
        let mut painter = Painter::new(10, 2);
        painter.full(&rec);
        rec.feed(b"!");
        let update = String::from_utf8(painter.update(&rec)).unwrap();
        assert!(update.contains("second!"), "{update:?}");
        assert!(!update.contains("first"), "{update:?}");
        rec.feed(b"\x1b[1;1H0123456789abcdef");
        let update = String::from_utf8(painter.update(&rec)).unwrap();
        assert!(
            update.contains("0123456789") && !update.contains('a'),
            "{update:?}"
        );
    }
}
