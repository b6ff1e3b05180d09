//! One pane's recording: its spools in order, the terminal they draw, and the chunk being
//! filled.

use super::tail::{Release, Tail};
use audit_capture::chunk::{self, Chunk, Record};
use audit_capture::marks::{self, Mark};
use audit_capture::spool;
use audit_core::{Bytes, Event, Kind, Observed, Reason, Timestamp};
use audit_screen::Terminal;
use audit_store::Attachment;
use audit_tmux::capture::{set_meta, PaneMeta};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A chunk is sealed once it holds this much output...
pub const CHUNK_BYTES: u64 = 1 << 20;
/// zstd level: chunks are compressed off the pane's path, so spend CPU for size.
const ZSTD_LEVEL: i32 = 9;

/// A finished chunk, ready for the writer.
pub struct Sealed {
    /// Its `pane-output` event.
    pub event: Event,
    /// The compressed chunk and its text.
    pub attachment: Attachment,
    /// Spool space to give back once it is committed.
    pub releases: Vec<Release>,
}

/// A spool and the picture the pane showed when it opened.
struct Source {
    tail: Tail,
    /// When the pipe opened, the pane's size then, and what it showed.
    picture: Option<(Timestamp, (u16, u16), Vec<u8>)>,
    /// What tmux still held of the pane's past (`capture-pane -e -S -` redrawn), recorded as
    /// the first output of the picture's chunk: a pane whose first bytes were not caught.
    history: Option<Vec<u8>>,
    /// When it last had something new.
    last_data: Instant,
}

/// A spool with a newer one behind it is finished once it has been quiet this long: tmux closed
/// its pipe when the new one opened, so its copier has nothing more to write — or was killed
/// and will never write the closing record (the watcher recorded that gap already).
const SUPERSEDED_QUIET: Duration = Duration::from_secs(1);

struct Building {
    chunk: Chunk,
    bytes: u64,
    text: Vec<String>,
    opened: Instant,
    /// It starts from the picture a pipe opened on, which nothing else records.
    picture: bool,
}

/// What reading a pane's spools produced.
#[derive(Default)]
pub struct Found {
    /// Chunks to commit.
    pub sealed: Vec<Sealed>,
    /// Other events (`output-gap` for output a full disk lost).
    pub events: Vec<Event>,
    /// Spools whose pipe ended, with when.
    pub closed: Vec<(PathBuf, Timestamp)>,
    /// Whether any spool had something new.
    pub active: bool,
}

/// One pane being recorded.
pub struct PaneTrack {
    pub server: String,
    pub pane_id: String,
    pub meta: PaneMeta,
    host: String,
    size: (u16, u16),
    terminal: Terminal,
    sources: VecDeque<Source>,
    building: Option<Building>,
    /// Releases of spools read into the chunk being built.
    releases: Vec<Release>,
    /// The pane is gone (or no longer recorded) as of this time.
    pub ended: Option<Timestamp>,
    /// A spool left by a killed daemon, not read until a watcher reports the pane (or a while).
    pub awaiting_watcher: Option<Instant>,
    /// Shell marks in the output (`tmux-audit shell-init`).
    marks: marks::Scanner,
    /// The command line a shell marked as started, when, and where.
    started: Option<(i64, Vec<u8>, Option<Vec<u8>>)>,
}

impl PaneTrack {
    pub fn new(host: &str, server: &str, pane_id: &str, meta: PaneMeta, size: (u16, u16)) -> Self {
        PaneTrack {
            server: server.to_owned(),
            pane_id: pane_id.to_owned(),
            meta,
            host: host.to_owned(),
            size,
            terminal: blank(size),
            sources: VecDeque::new(),
            building: None,
            releases: Vec::new(),
            ended: None,
            awaiting_watcher: None,
            marks: marks::Scanner::default(),
            started: None,
        }
    }

    /// A new spool for this pane; `picture` is what the pane showed when its pipe opened, and
    /// `history` what tmux held of its past when its start could not be caught.
    pub fn add_spool(
        &mut self,
        spool: PathBuf,
        time: Timestamp,
        size: (u16, u16),
        picture: Vec<u8>,
        history: Option<Vec<u8>>,
    ) {
        self.ended = None;
        self.sources.push_back(Source {
            tail: Tail::new(spool),
            picture: Some((time, size, picture)),
            history,
            last_data: Instant::now(),
        });
    }

    /// Renders at `size` from now on, if nothing has been rendered yet.
    pub fn adopt_size(&mut self, size: (u16, u16)) {
        if self.building.is_none() && size.0 > 0 && size.1 > 0 && size != self.size {
            self.size = size;
            self.terminal = blank(size);
        }
    }

    /// A spool left by a daemon that was killed: its output, with no picture to start from.
    pub fn add_leftover(&mut self, spool: PathBuf) {
        self.sources.push_back(Source {
            tail: Tail::new(spool),
            picture: None,
            history: None,
            last_data: Instant::now(),
        });
    }

    /// Whether everything is read and nothing more will come.
    pub fn finished(&self) -> bool {
        self.ended.is_some() && self.sources.is_empty()
    }

    /// Whether the pane is in a burst worth not competing with: its current spool grew by more
    /// than `burst` bytes since the last look, and less than `cap` bytes wait unread.
    pub fn bursting(&mut self, burst: u64, cap: u64) -> bool {
        let Some(source) = self.sources.back_mut() else {
            return false;
        };
        let (grown, unread) = source.tail.growth();
        grown > burst && unread < cap && self.ended.is_none()
    }

    /// The pane was resized at `time`.
    pub fn resize(&mut self, time: Timestamp, size: (u16, u16), found: &mut Found) {
        // Output read so far came before the resize.
        self.read(found);
        self.apply_size(time.as_micros(), size);
    }

    fn apply_size(&mut self, time: i64, size: (u16, u16)) {
        if size == self.size || size.0 == 0 || size.1 == 0 {
            return;
        }
        self.size = size;
        self.terminal.resize(size.0, size.1);
        if let Some(b) = &mut self.building {
            b.chunk.records.push(Record::Resize {
                time,
                width: size.0,
                height: size.1,
            });
            b.chunk.end = b.chunk.end.max(time);
        }
    }

    /// Reads what the spools hold now, sealing chunks that fill up.
    pub fn read(&mut self, found: &mut Found) {
        loop {
            let superseded = self.sources.len() > 1;
            let Some(source) = self.sources.front_mut() else {
                break;
            };
            if let Some((time, size, picture)) = source.picture.take() {
                let history = source.history.take();
                // The pipe opened on this screen: a chunk starts from it.
                self.seal(found);
                if size.0 > 0 && size.1 > 0 {
                    self.size = size;
                }
                self.terminal = blank(self.size);
                self.terminal.feed(&picture);
                let _ = self.terminal.take_scrolled();
                self.open(time.as_micros());
                if let Some(b) = &mut self.building {
                    b.picture = true;
                }
                if let Some(history) = history {
                    self.output(time.as_micros(), history, found);
                }
                continue;
            }
            let records = match source.tail.read() {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(spool = %source.tail.path.display(), "unreadable spool, skipping the rest of it: {e}");
                    source.tail.closed = true;
                    Vec::new()
                }
            };
            if !records.is_empty() {
                source.last_data = Instant::now();
            } else if superseded && source.last_data.elapsed() >= SUPERSEDED_QUIET {
                source.tail.closed = true;
            }
            let closed = source.tail.closed;
            let path = source.tail.path.clone();
            found.active |= !records.is_empty();
            for record in records {
                match record {
                    spool::Record::Output { time, bytes } => self.output(time, bytes, found),
                    spool::Record::Lost { time, bytes } => {
                        found.events.push(self.lost(time, bytes))
                    }
                    spool::Record::Closed { time } => {
                        found.closed.push((path.clone(), Timestamp(time)))
                    }
                }
            }
            if !closed {
                return;
            }
            let done = self.sources.pop_front().expect("front exists");
            if let Some(release) = done.tail.release() {
                self.releases.push(release);
            }
            if self.building.is_none() {
                for r in self.releases.drain(..) {
                    r.run();
                }
            }
        }
    }

    /// Stops reading: seals what was read and removes the spools once it is committed (the pane
    /// is gone and its copier never said it closed).
    pub fn abandon(&mut self, found: &mut Found) {
        let releases: Vec<Release> = self.sources.drain(..).map(|s| s.tail.abandon()).collect();
        self.releases.extend(releases);
        self.seal(found);
        for r in self.releases.drain(..) {
            r.run();
        }
    }

    fn output(&mut self, time: i64, bytes: Vec<u8>, found: &mut Found) {
        if self.building.is_none() {
            self.open(time);
        }
        self.shell_marks(time, &bytes, found);
        self.terminal.feed(&bytes);
        let scrolled = self.terminal.take_scrolled();
        let b = self.building.as_mut().expect("opened above");
        b.text.extend(scrolled);
        b.bytes += bytes.len() as u64;
        b.chunk.end = b.chunk.end.max(time);
        b.chunk.records.push(Record::Output { time, bytes });
        if b.bytes >= CHUNK_BYTES {
            self.seal(found);
        }
    }

    fn open(&mut self, time: i64) {
        let (width, height) = self.size;
        self.building = Some(Building {
            chunk: Chunk {
                start: time,
                end: time,
                width,
                height,
                snapshot: self.terminal.snapshot(),
                records: Vec::new(),
            },
            bytes: 0,
            text: Vec::new(),
            opened: Instant::now(),
            picture: false,
        });
    }

    /// How long until [`PaneTrack::seal_if_older`] with `age` seals the chunk being built.
    pub fn seal_due_in(&self, age: Duration) -> Option<Duration> {
        self.building
            .as_ref()
            .filter(|b| b.picture || !b.chunk.records.is_empty())
            .map(|b| age.saturating_sub(b.opened.elapsed()))
    }

    /// Seals the chunk being built if it is older than `age` and holds something: output, or
    /// the picture its pane showed when recording began.
    pub fn seal_if_older(&mut self, age: Duration, found: &mut Found) {
        let due = self.building.as_ref().is_some_and(|b| {
            (b.picture || !b.chunk.records.is_empty()) && b.opened.elapsed() >= age
        });
        if due {
            self.seal(found);
        }
    }

    /// Seals the chunk being built.
    pub fn seal(&mut self, found: &mut Found) {
        let Some(b) = self.building.take() else {
            return;
        };
        let mut text = b.text;
        text.extend(self.terminal.screen_text());
        let text = text
            .iter()
            .map(|l| l.trim_end())
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("\n");
        let encoded = b.chunk.encode();
        let compressed = chunk::compress(&encoded, ZSTD_LEVEL);
        let mut e = Event::new(Timestamp::now(), Kind::PaneOutput, &self.host, &self.server)
            .observed(Observed::Live);
        set_meta(&mut e, &self.pane_id, &self.meta);
        e.from = Some(Timestamp(b.chunk.start));
        e.until = Some(Timestamp(b.chunk.end));
        e.bytes = Some(b.bytes as i64);
        e.width = Some(i64::from(b.chunk.width));
        e.height = Some(i64::from(b.chunk.height));
        e.digest = Some(blake3::hash(&compressed).to_hex().to_string());
        let mut releases: Vec<Release> = self.releases.drain(..).collect();
        releases.extend(self.sources.iter().filter_map(|s| s.tail.release()));
        found.sealed.push(Sealed {
            event: e,
            attachment: Attachment {
                chunk: compressed,
                text,
            },
            releases,
        });
    }

    /// `shell-command` events from the marks a shell printed (`tmux-audit shell-init`).
    fn shell_marks(&mut self, time: i64, bytes: &[u8], found: &mut Found) {
        let mut marks = Vec::new();
        self.marks.feed(bytes, &mut marks);
        for mark in marks {
            match mark {
                Mark::Started(line) => self.started = Some((time, line, None)),
                Mark::Cwd(path) => {
                    if let Some((_, _, cwd)) = &mut self.started {
                        cwd.get_or_insert(path);
                    }
                }
                Mark::Ended(status) => {
                    let Some((from, line, cwd)) = self.started.take() else {
                        continue; // a prompt with no command before it
                    };
                    let mut e = Event::new(
                        Timestamp(time),
                        Kind::ShellCommand,
                        &self.host,
                        &self.server,
                    )
                    .observed(Observed::Live);
                    set_meta(&mut e, &self.pane_id, &self.meta);
                    e.line = Some(Bytes(line));
                    e.cwd = cwd.map(Bytes);
                    e.exit_code = status;
                    e.from = Some(Timestamp(from));
                    e.until = Some(Timestamp(time));
                    e.message = Some(
                        "marked by the shell in the pane (tmux-audit shell-init): anything that prints to the pane can print such marks"
                            .into(),
                    );
                    found.events.push(e);
                }
            }
        }
    }

    fn lost(&self, time: i64, bytes: u64) -> Event {
        let mut e = Event::new(Timestamp::now(), Kind::OutputGap, &self.host, &self.server)
            .observed(Observed::Live);
        set_meta(&mut e, &self.pane_id, &self.meta);
        e.reason = Some(Reason::SpoolNotWritable);
        e.until = Some(Timestamp(time));
        e.bytes = Some(bytes as i64);
        e.message = Some(format!(
            "{bytes} bytes of pane {} output could not be written to the spool (disk full?) and are not recorded; recording resumed at {}",
            self.pane_id,
            Timestamp(time)
        ));
        tracing::warn!(pane = %self.pane_id, "{bytes} bytes of output lost: the spool could not be written");
        e
    }
}

fn blank(size: (u16, u16)) -> Terminal {
    Terminal::new(size.0.max(1), size.1.max(1)).expect("a size of at least 1x1 is valid")
}
