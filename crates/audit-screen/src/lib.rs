//! What recorded pane output looks like: the pieces every view of a recording shares.
//!
//! The recorder stores a pane's output as chunks (`audit_capture::chunk`): raw bytes with
//! their times, and at the start of each chunk a snapshot that draws the terminal as it was.
//! This crate turns them back into what a person saw, with no I/O of its own:
//!
//! - [`Terminal`] — a virtual terminal (avt, asciinema's emulator) fed with raw bytes: streaming
//!   UTF-8, snapshots that redraw the exact state, and the text of lines as they leave the
//!   screen. The recorder uses it to make chunk snapshots and search text; views use it to play.
//! - [`playback`] — chunks in, timed [`Step`]s out, with seeking that starts from the nearest
//!   chunk snapshot rather than the beginning.
//! - [`text`] — the text as a person saw it, with or without the time each line became final.
//! - [`asciicast`] — asciicast v2 and v3 encoders.
//! - [`paint`] — safe frames for replay: the auditor's terminal only ever receives what the
//!   painter generates from the virtual screen, never recorded bytes.
//! - [`replay`] — timing (speed, idle limit), keys and seek position as pure state.
//!
//! `tmux-audit replay` and `tmux-audit export` are the binary edges; docs/REPLAY.md describes
//! them and what is exact and what is lossy.
#![deny(missing_docs)]

pub mod asciicast;
pub mod paint;
pub mod playback;
pub mod rechunk;
pub mod replay;
mod terminal;
pub mod text;
pub mod utf8;

pub use playback::{Playback, Step, Window};
pub use terminal::{Cursor, Terminal};

use thiserror::Error;

/// Why a screen could not be made.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ScreenError {
    /// A terminal needs at least one column and one row.
    #[error("invalid terminal size {width}x{height}: a recorded pane has at least one column and one row (the chunk is corrupt)")]
    InvalidSize {
        /// Columns asked for.
        width: u16,
        /// Rows asked for.
        height: u16,
    },
}
