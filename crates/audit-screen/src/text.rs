//! The text of a recording as a person saw it: every line that left the screen, in order, then
//! what was on screen at the end, with trailing blank lines dropped.
//!
//! Colours and cursor movement are gone; a progress bar redrawn in place shows only its last
//! state when its line left the screen; a full-screen program (vim, less, top) contributes the
//! screen it showed when it exited (see [`crate::Terminal::take_scrolled`]). For the exact
//! bytes, export `raw`.

use crate::playback::{Playback, Window};
use crate::ScreenError;
use audit_capture::chunk::Chunk;

/// The lines of the recording within `window`, oldest first.
pub fn lines<I, E>(chunks: I, window: Window) -> Result<Vec<String>, E>
where
    I: IntoIterator<Item = Result<Chunk, E>>,
    E: From<ScreenError>,
{
    Ok(timed_lines(chunks, window)?
        .into_iter()
        .map(|(_, line)| line)
        .collect())
}

/// Like [`lines`], each line with the time (microseconds since the epoch) it became final: when
/// it left the screen, or — for what is on screen at the end — the end of the window. Search
/// places its hits in time with these.
pub fn timed_lines<I, E>(chunks: I, window: Window) -> Result<Vec<(i64, String)>, E>
where
    I: IntoIterator<Item = Result<Chunk, E>>,
    E: From<ScreenError>,
{
    let mut playback = Playback::new(chunks.into_iter(), window).keep_text();
    let mut out = Vec::new();
    while let Some(step) = playback.next() {
        let time = step?.time();
        let terminal = playback.terminal_mut().expect("a step was played");
        out.extend(terminal.take_scrolled().into_iter().map(|l| (time, l)));
    }
    if let (Some(end), Some(terminal)) = (playback.end(), playback.terminal_mut()) {
        let end = end.max(out.last().map_or(end, |(t, _)| *t));
        out.extend(terminal.take_scrolled().into_iter().map(|l| (end, l)));
        out.extend(terminal.screen_text().into_iter().map(|l| (end, l)));
    }
    while out.last().is_some_and(|(_, l)| l.is_empty()) {
        out.pop();
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playback::tests::{chunked, ok, out};

    #[test]
    fn scrolled_lines_then_the_last_screen() {
        let records = vec![
            out(10, b"$ ls\r\n"),
            out(20, b"\x1b[34ma\x1b[0m  b\r\n$ "),
            out(30, b"echo hi\r\nhi\r\n$ "),
            out(40, b"clear\r\n\x1b[H\x1b[2J$ "),
            out(50, b"\rprogress 10%\rprogress 100%\r\n$ \r\n\r\n"),
        ];
        let chunks = chunked(20, 3, &records, &[2, 4]);
        assert_eq!(
            lines(ok(chunks.clone()), Window::default()).unwrap(),
            [
                "$ ls",
                "a  b",
                "$ echo hi",
                "hi",
                "$ clear",
                "progress 100%",
                "$"
            ]
        );
        let timed = timed_lines(ok(chunks), Window::default()).unwrap();
        assert_eq!(
            timed[0],
            (30, "$ ls".to_owned()),
            "final when it scrolled off"
        );
        assert_eq!(timed[4], (40, "$ clear".to_owned()), "final when cleared");
        assert_eq!(
            timed.last().unwrap(),
            &(50, "$".to_owned()),
            "last screen at the end"
        );
    }

    #[test]
    fn a_window_keeps_only_its_own_text() {
        let records = vec![
            out(10, b"before\r\n\r\n\r\n"),
            out(20, b"inside\r\n"),
            out(30, b"after\r\n"),
        ];
        let chunks = chunked(20, 2, &records, &[1]);
        let window = Window {
            from: Some(15),
            to: Some(25),
        };
        assert_eq!(lines(ok(chunks), window).unwrap(), ["", "inside"]);
    }

    #[test]
    fn long_lines_stay_whole() {
        let long = "x".repeat(1000);
        let records = vec![out(1, long.as_bytes()), out(2, b"\r\nend")];
        let chunks = chunked(80, 24, &records, &[]);
        assert_eq!(
            lines(ok(chunks), Window::default()).unwrap(),
            [long.as_str(), "end"]
        );
    }
}
