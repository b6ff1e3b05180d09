//! [`Playback`]: the chunks of one pane turned into a stream of timed [`Step`]s, with a
//! [`Terminal`] kept in step, for every view that plays a recording (replay, asciicast, text).
//!
//! Seeking never plays from the beginning. Every chunk starts with a snapshot of the terminal,
//! so to start at `from` the playback takes the last chunk that starts at or before `from`,
//! draws its snapshot into a fresh terminal and feeds only that chunk's records before `from`;
//! the first step is then a snapshot of that terminal, the picture at `from`. Callers should
//! pass chunks from that one on ([`crate::replay::seek_chunk`] finds it); earlier chunks that are
//! passed anyway are skipped over, not fed.
//!
//! Between chunks the playback checks that the next chunk's snapshot is the state it reached
//! itself. When it is not (the recorder restarted and started from a fresh picture), it starts
//! again from that snapshot and says so with a [`Step::Snapshot`], and the text of the old
//! screen counts as final.

use crate::{ScreenError, Terminal};
use audit_capture::chunk::{Chunk, Record};

/// Which part of a recording to play: inclusive bounds in microseconds since the epoch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Window {
    /// Start here (default: where the first chunk starts).
    pub from: Option<i64>,
    /// Stop after the last record at or before this time (default: the end).
    pub to: Option<i64>,
}

/// One step of a recording as played back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Draw this picture on a reset terminal of this size. The first step is always one (the
    /// picture at the start of the window); later ones mark a discontinuity between chunks.
    Snapshot {
        /// Microseconds since the epoch.
        time: i64,
        /// Columns.
        width: u16,
        /// Rows.
        height: u16,
        /// What [`Terminal::snapshot`] gives.
        bytes: Vec<u8>,
        /// Whether this is the first step.
        first: bool,
    },
    /// Bytes the pane wrote, exactly.
    Output {
        /// Microseconds since the epoch.
        time: i64,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// The pane was resized.
    Resize {
        /// Microseconds since the epoch.
        time: i64,
        /// New width.
        width: u16,
        /// New height.
        height: u16,
    },
}

impl Step {
    /// When it happened, in microseconds since the epoch.
    pub fn time(&self) -> i64 {
        match self {
            Step::Snapshot { time, .. } | Step::Output { time, .. } | Step::Resize { time, .. } => {
                *time
            }
        }
    }
}

/// Plays chunks (in time order) as [`Step`]s. `I` yields chunks or the error that kept one from
/// being loaded; `E` must take [`ScreenError`] (a chunk of impossible size).
pub struct Playback<I> {
    chunks: I,
    window: Window,
    terminal: Option<Terminal>,
    records: std::vec::IntoIter<Record>,
    held_record: Option<Record>,
    held_chunk: Option<Chunk>,
    started: bool,
    done: bool,
    keep_text: bool,
    end: Option<i64>,
}

impl<I, E> Playback<I>
where
    I: Iterator<Item = Result<Chunk, E>>,
    E: From<ScreenError>,
{
    /// Plays `chunks` within `window`. The terminal collects no text (see
    /// [`Playback::keep_text`]).
    pub fn new(chunks: I, window: Window) -> Self {
        Playback {
            chunks,
            window,
            terminal: None,
            records: Vec::new().into_iter(),
            held_record: None,
            held_chunk: None,
            started: false,
            done: false,
            keep_text: false,
            end: None,
        }
    }

    /// Makes the terminal collect the text of lines leaving the screen (for
    /// [`Terminal::take_scrolled`]); only text from within the window is kept.
    pub fn keep_text(mut self) -> Self {
        self.keep_text = true;
        self
    }

    /// The terminal as it is after the last step returned (`None` before the first).
    pub fn terminal(&self) -> Option<&Terminal> {
        self.terminal.as_ref()
    }

    /// The terminal, to take its text.
    pub fn terminal_mut(&mut self) -> Option<&mut Terminal> {
        self.terminal.as_mut()
    }

    /// Where the played part ends: `to` if the recording went on past it, else the end of the
    /// last chunk (`None` before any chunk was read).
    pub fn end(&self) -> Option<i64> {
        self.end
    }

    fn fresh(&self, chunk: &Chunk) -> Result<Terminal, ScreenError> {
        let mut t = Terminal::from_snapshot(chunk.width, chunk.height, &chunk.snapshot)?;
        t.keep_text(self.keep_text);
        Ok(t)
    }

    /// The first step: the picture at `from`. Text from before it is not the window's.
    fn start(&mut self, from: i64) -> Step {
        self.started = true;
        let t = self.terminal.as_mut().expect("a chunk was read");
        t.take_scrolled();
        let (width, height) = t.size();
        Step::Snapshot {
            time: from,
            width,
            height,
            bytes: t.snapshot(),
            first: true,
        }
    }

    fn apply(&mut self, record: Record) -> Step {
        let t = self.terminal.as_mut().expect("a chunk was read");
        match record {
            Record::Output { time, bytes } => {
                t.feed(&bytes);
                Step::Output { time, bytes }
            }
            Record::Resize {
                time,
                width,
                height,
            } => {
                t.resize(width, height);
                Step::Resize {
                    time,
                    width,
                    height,
                }
            }
        }
    }

    /// Takes up the next chunk; a step when it starts a new picture.
    fn enter(&mut self, chunk: Chunk) -> Result<Option<Step>, E> {
        let to_end = self.window.to.map_or(chunk.end, |to| chunk.end.min(to));
        self.end = Some(self.end.map_or(to_end, |e| e.max(to_end)));
        let from = *self.window.from.get_or_insert(chunk.start);
        let mut step = None;
        match self.terminal.as_mut() {
            None => self.terminal = Some(self.fresh(&chunk)?),
            Some(_) if !self.started && chunk.start <= from => {
                // Seeking: this chunk's snapshot is nearer `from`; what came before is not needed.
                self.terminal = Some(self.fresh(&chunk)?);
            }
            Some(_) if !self.started => {
                // `from` falls between the last chunk and this one: the picture is the current one.
                self.held_chunk = Some(chunk);
                return Ok(Some(self.start(from)));
            }
            Some(t) => {
                let continuous =
                    t.size() == (chunk.width, chunk.height) && t.snapshot() == chunk.snapshot;
                if !continuous {
                    let mut old = self.terminal.take().expect("present");
                    let mut fresh = self.fresh(&chunk)?;
                    fresh.carry_text_from(&mut old);
                    step = Some(Step::Snapshot {
                        time: chunk.start,
                        width: chunk.width,
                        height: chunk.height,
                        bytes: chunk.snapshot.clone(),
                        first: false,
                    });
                    self.terminal = Some(fresh);
                }
            }
        }
        self.records = chunk.records.into_iter();
        Ok(step)
    }
}

impl<I, E> Iterator for Playback<I>
where
    I: Iterator<Item = Result<Chunk, E>>,
    E: From<ScreenError>,
{
    type Item = Result<Step, E>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.done {
                return None;
            }
            if let Some(record) = self.held_record.take().or_else(|| self.records.next()) {
                if self.window.to.is_some_and(|to| record.time() > to) {
                    self.done = true;
                    if !self.started {
                        let from = self.window.from.expect("set with the first chunk");
                        return Some(Ok(self.start(from)));
                    }
                    return None;
                }
                let from = self.window.from.expect("set with the first chunk");
                if !self.started {
                    if record.time() < from {
                        self.apply(record);
                        continue;
                    }
                    self.held_record = Some(record);
                    return Some(Ok(self.start(from)));
                }
                return Some(Ok(self.apply(record)));
            }
            let next = match self.held_chunk.take() {
                Some(chunk) => Some(Ok(chunk)),
                None => self.chunks.next(),
            };
            let chunk = match next {
                Some(Ok(chunk)) if self.window.to.is_none_or(|to| chunk.start <= to) => chunk,
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(e));
                }
                _ => {
                    // No more chunks in the window.
                    self.done = true;
                    if !self.started && self.terminal.is_some() {
                        let from = self.window.from.expect("set with the first chunk");
                        return Some(Ok(self.start(from)));
                    }
                    return None;
                }
            };
            match self.enter(chunk) {
                Ok(Some(step)) => return Some(Ok(step)),
                Ok(None) => {}
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Cuts `records` into chunks starting at the given record indexes, each with the snapshot
    /// a recorder keeping a [`Terminal`] would store (the state before its first record).
    pub(crate) fn chunked(
        width: u16,
        height: u16,
        records: &[Record],
        cuts: &[usize],
    ) -> Vec<Chunk> {
        let mut term = Terminal::new(width, height).unwrap();
        let mut chunks = Vec::new();
        let mut bounds = vec![0];
        bounds.extend_from_slice(cuts);
        bounds.push(records.len());
        for pair in bounds.windows(2) {
            let part = &records[pair[0]..pair[1]];
            let (w, h) = term.size();
            let start = part.first().map_or(0, Record::time);
            let chunk = Chunk {
                start,
                end: part.last().map_or(start, Record::time),
                width: w,
                height: h,
                snapshot: term.snapshot(),
                records: part.to_vec(),
            };
            for r in part {
                match r {
                    Record::Output { bytes, .. } => term.feed(bytes),
                    Record::Resize { width, height, .. } => term.resize(*width, *height),
                }
            }
            chunks.push(chunk);
        }
        chunks
    }

    pub(crate) fn out(time: i64, bytes: &[u8]) -> Record {
        Record::Output {
            time,
            bytes: bytes.to_vec(),
        }
    }

    pub(crate) fn ok(chunks: Vec<Chunk>) -> impl Iterator<Item = Result<Chunk, ScreenError>> {
        chunks.into_iter().map(Ok)
    }

    fn steps(chunks: Vec<Chunk>, window: Window) -> Vec<Step> {
        Playback::new(ok(chunks), window)
            .collect::<Result<_, _>>()
            .unwrap()
    }

    fn sample() -> Vec<Record> {
        vec![
            out(100, b"\x1b[32mone\x1b[0m\r\n"),
            out(200, b"two\r\n"),
            Record::Resize {
                time: 250,
                width: 12,
                height: 4,
            },
            out(300, b"three\r\n"),
            out(400, b"four\r\n"),
            out(500, b"five"),
        ]
    }

    fn screen_after(records: &[Record]) -> Vec<String> {
        let mut t = Terminal::new(10, 3).unwrap();
        for r in records {
            match r {
                Record::Output { bytes, .. } => t.feed(bytes),
                Record::Resize { width, height, .. } => t.resize(*width, *height),
            }
        }
        t.screen_lines()
    }

    fn drawn(step: &Step) -> Terminal {
        let Step::Snapshot {
            width,
            height,
            bytes,
            ..
        } = step
        else {
            panic!("not a snapshot: {step:?}")
        };
        Terminal::from_snapshot(*width, *height, bytes).unwrap()
    }

    #[test]
    fn plays_every_record_after_a_starting_snapshot() {
        let all = steps(chunked(10, 3, &sample(), &[3]), Window::default());
        assert!(matches!(
            all[0],
            Step::Snapshot {
                time: 100,
                first: true,
                ..
            }
        ));
        let times: Vec<i64> = all[1..].iter().map(Step::time).collect();
        assert_eq!(times, [100, 200, 250, 300, 400, 500]);
        assert!(
            all[1..].iter().all(|s| !matches!(s, Step::Snapshot { .. })),
            "the chunks are continuous: no new picture"
        );
    }

    #[test]
    fn seeking_inside_a_chunk_starts_with_the_picture_at_that_moment() {
        let records = sample();
        let all = steps(
            chunked(10, 3, &records, &[3]),
            Window {
                from: Some(350),
                to: None,
            },
        );
        assert!(matches!(
            all[0],
            Step::Snapshot {
                time: 350,
                first: true,
                ..
            }
        ));
        assert_eq!(drawn(&all[0]).screen_lines(), screen_after(&records[..4]));
        assert_eq!(drawn(&all[0]).size(), (12, 4));
        let times: Vec<i64> = all[1..].iter().map(Step::time).collect();
        assert_eq!(times, [400, 500]);
    }

    #[test]
    fn seeking_starts_from_the_nearest_snapshot_not_the_beginning() {
        let mut chunks = chunked(10, 3, &sample(), &[3]);
        // Were the first chunk fed, this would show; the second chunk's snapshot must win.
        chunks[0].records = vec![out(100, b"POISON")];
        let all = steps(
            chunks,
            Window {
                from: Some(300),
                to: None,
            },
        );
        assert!(!drawn(&all[0]).screen_lines().concat().contains("POISON"));
    }

    #[test]
    fn to_stops_after_the_last_record_in_the_window() {
        let all = steps(
            chunked(10, 3, &sample(), &[3]),
            Window {
                from: Some(150),
                to: Some(300),
            },
        );
        let times: Vec<i64> = all.iter().map(Step::time).collect();
        assert_eq!(times, [150, 200, 250, 300]);
    }

    #[test]
    fn from_after_the_end_gives_the_last_picture() {
        let records = sample();
        let all = steps(
            chunked(10, 3, &records, &[3]),
            Window {
                from: Some(9_999),
                to: None,
            },
        );
        assert_eq!(all.len(), 1);
        assert_eq!(drawn(&all[0]).screen_lines(), screen_after(&records));
    }

    #[test]
    fn a_chunk_that_does_not_continue_the_last_starts_a_new_picture() {
        let mut chunks = chunked(10, 3, &sample(), &[3]);
        chunks[1].snapshot = b"restarted".to_vec();
        let all = steps(chunks, Window::default());
        let fresh = all
            .iter()
            .find(|s| matches!(s, Step::Snapshot { first: false, .. }))
            .expect("a new picture");
        assert_eq!(fresh.time(), 300);
        assert_eq!(drawn(fresh).screen_lines()[0], "restarted");
    }

    #[test]
    fn a_load_error_ends_playback_with_it() {
        let chunks = chunked(10, 3, &sample(), &[3]);
        let first = chunks[0].clone();
        let items = vec![
            Ok(first),
            Err(ScreenError::InvalidSize {
                width: 0,
                height: 0,
            }),
        ];
        let got: Vec<_> = Playback::new(items.into_iter(), Window::default()).collect();
        assert!(got.last().unwrap().is_err());
        assert!(got[..got.len() - 1].iter().all(Result::is_ok));
    }
}
