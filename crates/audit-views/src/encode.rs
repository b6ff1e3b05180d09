//! Export encoders: one shape for every format, none doing I/O (as asciinema's `Encoder`).
//!
//! An [`Encoder`] turns the [`Step`]s of a recording into bytes; [`encode`] plays the recording
//! for it — records alone for `raw` (no terminal is emulated), a terminal for asciicast, a
//! terminal keeping the text of lines for `txt` — and hands each piece of bytes to the caller,
//! who writes them wherever they go (a file, stdout, an HTTP response).

use crate::recording::{Recording, RecordingError};
use crate::show;
use audit_capture::chunk::{Chunk, Record};
use audit_core::Stored;
use audit_screen::asciicast::{self, Version};
use audit_screen::{Playback, Step, Terminal};
use std::fmt;
use thiserror::Error;

/// An export format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// asciicast v2 (asciinema's format).
    Asciicast,
    /// asciicast v3.
    AsciicastV3,
    /// The text as a person saw it.
    Txt,
    /// The exact bytes the pane wrote.
    Raw,
}

impl Format {
    /// Every format.
    pub const ALL: [Format; 4] = [
        Format::Asciicast,
        Format::AsciicastV3,
        Format::Txt,
        Format::Raw,
    ];

    /// Its name, as `--format` and proofs spell it.
    pub fn name(self) -> &'static str {
        match self {
            Format::Asciicast => "asciicast",
            Format::AsciicastV3 => "asciicast-v3",
            Format::Txt => "txt",
            Format::Raw => "raw",
        }
    }

    /// The format `name` calls so.
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }

    /// An encoder of this format; `title` names the recording (asciicast), and with
    /// `escape_text` the text is made safe for a terminal (txt).
    pub fn encoder(self, title: String, escape_text: bool) -> Box<dyn Encoder> {
        match self {
            Format::Asciicast => Box::new(Asciicast::new(Version::V2, title)),
            Format::AsciicastV3 => Box::new(Asciicast::new(Version::V3, title)),
            Format::Txt => Box::new(Txt::new(escape_text)),
            Format::Raw => Box::new(Raw),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What an encoder needs played.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Input {
    /// The records in the window, as steps; no terminal.
    Records,
    /// The playback's steps, with its terminal.
    Screen,
    /// The playback's steps, with a terminal that keeps the text of lines leaving the screen.
    Text,
}

/// Turns a recording's steps into bytes.
pub trait Encoder {
    /// What it needs played.
    fn input(&self) -> Input;
    /// Bytes for one step; `screen` is the terminal after it (with [`Input::Screen`] and
    /// [`Input::Text`]).
    fn step(&mut self, step: &Step, screen: Option<&mut Terminal>) -> Vec<u8>;
    /// The last bytes; `end` is where the played part ends.
    fn finish(&mut self, end: Option<i64>, screen: Option<&mut Terminal>) -> Vec<u8>;
}

/// Why an export stopped.
#[derive(Debug, Error)]
pub enum EncodeError {
    /// The recording could not be read.
    #[error(transparent)]
    Recording(#[from] RecordingError),
    /// The caller could not take the bytes.
    #[error(transparent)]
    Write(#[from] std::io::Error),
}

/// Plays `rec` (its chunks got from `load`: the store, or a proof) for `encoder`, handing each
/// piece of bytes to `out`.
pub fn encode(
    rec: &Recording,
    load: &dyn Fn(&Stored) -> Result<Chunk, RecordingError>,
    encoder: &mut dyn Encoder,
    out: &mut dyn FnMut(&[u8]) -> std::io::Result<()>,
) -> Result<(), EncodeError> {
    let window = rec.window;
    if encoder.input() == Input::Records {
        'chunks: for chunk in rec.chunks_with(load) {
            for record in chunk?.records {
                let time = record.time();
                if window.from.is_some_and(|f| time < f) {
                    continue;
                }
                if window.to.is_some_and(|t| time > t) {
                    break 'chunks;
                }
                let step = match record {
                    Record::Output { time, bytes } => Step::Output { time, bytes },
                    Record::Resize {
                        time,
                        width,
                        height,
                    } => Step::Resize {
                        time,
                        width,
                        height,
                    },
                };
                out(&encoder.step(&step, None))?;
            }
        }
        out(&encoder.finish(None, None))?;
        return Ok(());
    }
    let mut playback = Playback::new(rec.chunks_with(load), window);
    if encoder.input() == Input::Text {
        playback = playback.keep_text();
    }
    while let Some(step) = playback.next() {
        let step = step?;
        out(&encoder.step(&step, playback.terminal_mut()))?;
    }
    let end = playback.end();
    out(&encoder.finish(end, playback.terminal_mut()))?;
    Ok(())
}

/// The exact bytes, nothing else.
struct Raw;

impl Encoder for Raw {
    fn input(&self) -> Input {
        Input::Records
    }
    fn step(&mut self, step: &Step, _: Option<&mut Terminal>) -> Vec<u8> {
        match step {
            Step::Output { bytes, .. } => bytes.clone(),
            _ => Vec::new(),
        }
    }
    fn finish(&mut self, _: Option<i64>, _: Option<&mut Terminal>) -> Vec<u8> {
        Vec::new()
    }
}

/// asciicast, through `audit_screen`'s encoder.
struct Asciicast(asciicast::Encoder);

impl Asciicast {
    fn new(version: Version, title: String) -> Self {
        Asciicast(asciicast::Encoder::new(version).with_title(title))
    }
}

impl Encoder for Asciicast {
    fn input(&self) -> Input {
        Input::Screen
    }
    fn step(&mut self, step: &Step, _: Option<&mut Terminal>) -> Vec<u8> {
        self.0.step(step)
    }
    fn finish(&mut self, _: Option<i64>, _: Option<&mut Terminal>) -> Vec<u8> {
        self.0.finish()
    }
}

/// The text as a person saw it (see `audit_screen::text`): every line that left the screen,
/// then the last screen, without the blank lines at the very end. Blank lines are held until
/// a line with text follows, so the ones at the end are never written.
struct Txt {
    escape: bool,
    blanks: usize,
}

impl Txt {
    fn new(escape: bool) -> Self {
        Txt { escape, blanks: 0 }
    }

    fn lines(&mut self, lines: Vec<String>) -> Vec<u8> {
        let mut out = Vec::new();
        for line in lines {
            if line.is_empty() {
                self.blanks += 1;
                continue;
            }
            out.extend(std::iter::repeat_n(b'\n', std::mem::take(&mut self.blanks)));
            let line = if self.escape {
                show::escape(&line)
            } else {
                line
            };
            out.extend_from_slice(line.as_bytes());
            out.push(b'\n');
        }
        out
    }
}

impl Encoder for Txt {
    fn input(&self) -> Input {
        Input::Text
    }
    fn step(&mut self, _: &Step, screen: Option<&mut Terminal>) -> Vec<u8> {
        let scrolled = screen.map(Terminal::take_scrolled).unwrap_or_default();
        self.lines(scrolled)
    }
    fn finish(&mut self, end: Option<i64>, screen: Option<&mut Terminal>) -> Vec<u8> {
        let (Some(_), Some(screen)) = (end, screen) else {
            return Vec::new();
        };
        let mut lines = screen.take_scrolled();
        lines.extend(screen.screen_text());
        self.lines(lines)
    }
}
