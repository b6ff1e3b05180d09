//! Watching a pane live as text: its current screen drawn from the store's last chunk, then kept
//! up to date from its spools ([`crate::live::Follower`]) by a terminal emulator, so that a front
//! end shows rows of plain text and the recorded escape sequences go no further than the
//! emulator. What the spools add is not yet committed to the chain: [`Watch::committed`] says
//! up to when the picture is.

use crate::live::{FollowError, Follower};
use crate::recording::{PaneName, PaneQuery, Recording, RecordingError, TimeRef};
use audit_capture::spool::Record;
use audit_core::Timestamp;
use audit_screen::{Playback, Terminal};
use audit_state::StateDir;
use audit_store::Reader;
use serde::Serialize;
use thiserror::Error;

/// Why a pane cannot be watched.
#[derive(Debug, Error)]
pub enum WatchError {
    /// Its recording cannot be read.
    #[error(transparent)]
    Recording(#[from] RecordingError),
    /// Its spools cannot be read.
    #[error(transparent)]
    Follow(#[from] FollowError),
    /// Its last chunk drew nothing.
    #[error("the pane's last chunk is empty")]
    Empty,
}

/// A pane being watched.
pub struct Watch {
    term: Terminal,
    follower: Follower,
    committed: Timestamp,
    title: String,
    /// Bumped at each change of the picture.
    version: u64,
    /// The time of the last output drawn.
    last_output: Timestamp,
}

/// The picture, as rows of text.
#[derive(Debug, Serialize)]
pub struct Screen {
    /// Counts the changes: a front end asks for a picture newer than the one it has.
    pub version: u64,
    /// Columns.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
    /// Each row's text, trailing blanks trimmed.
    pub lines: Vec<String>,
    /// Cursor column.
    pub cursor_x: u16,
    /// Cursor row.
    pub cursor_y: u16,
    /// Up to when the picture is committed to the chain (after: read from the spools).
    pub committed: Timestamp,
    /// When the pane last printed what is shown.
    pub last_output: Timestamp,
    /// `%3 (prod:1.0) on /tmp/…`.
    pub title: String,
}

impl Watch {
    /// Starts watching `pane_id` of `server`: its committed screen now, its spools (in `state`,
    /// the store's state folder) after it. The daemon should have been asked to commit first
    /// ([`crate::access::record`] does).
    pub fn start(
        store: &dyn Reader,
        state: &StateDir,
        server: &str,
        pane_id: &str,
    ) -> Result<Watch, WatchError> {
        let rec = Recording::find(
            store,
            &PaneQuery {
                pane: PaneName::Id(pane_id.to_owned()),
                socket: Some(server.to_owned()),
                server: None,
                from: Some(TimeRef::At(Timestamp::now())),
                to: None,
            },
        )?;
        let committed = rec.committed_until();
        let follower = Follower::new(state, &rec.server, &rec.pane_id, committed.as_micros())?;
        let mut playback = Playback::new(rec.chunks(store), rec.window);
        for step in playback.by_ref() {
            step?;
        }
        let played = playback.terminal().ok_or(WatchError::Empty)?;
        let (cols, rows) = played.size();
        let term = Terminal::from_snapshot(cols, rows, &played.snapshot())
            .map_err(RecordingError::from)?;
        Ok(Watch {
            term,
            follower,
            committed,
            title: rec.describe(),
            version: 1,
            last_output: committed,
        })
    }

    /// Feeds what the pane printed since the last call; whether the picture changed.
    pub fn poll(&mut self) -> Result<bool, FollowError> {
        let mut changed = false;
        for r in self.follower.poll()? {
            if let Record::Output { time, bytes } = r {
                self.term.feed(&bytes);
                self.last_output = Timestamp(time);
                changed = true;
            }
        }
        if changed {
            self.version += 1;
        }
        Ok(changed)
    }

    /// The version of the picture now.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Up to when the picture is committed to the chain.
    pub fn committed(&self) -> Timestamp {
        self.committed
    }

    /// The picture now.
    pub fn screen(&self) -> Screen {
        let (cols, rows) = self.term.size();
        let cursor = self.term.cursor();
        Screen {
            version: self.version,
            cols,
            rows,
            lines: self.term.screen_lines(),
            cursor_x: cursor.col,
            cursor_y: cursor.row,
            committed: self.committed,
            last_output: self.last_output,
            title: self.title.clone(),
        }
    }
}
