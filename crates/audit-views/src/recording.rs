//! Finding one pane's recorded output in the store, for `replay` and `export`.
//!
//! A pane is named by its id (`%3`) or by its position (`prod:1.0`: session, window index,
//! pane index), resolved against the `pane-output` events at the asked time. Pane ids are only
//! unique within one life of one tmux server, so the recording is the pane's chunks between the
//! `server-started` events around it; when several servers recorded a pane of that name,
//! `--server` (or `-L`/`-S`) picks one.
//!
//! Chunks are read lazily, from the last one that starts at or before `--from` (its snapshot
//! is the picture there), and each is checked against the digest its event carries before it is
//! decompressed.

use crate::show;
use audit_capture::chunk::{self, Chunk};
use audit_core::{Kind, Stored, Timestamp};
use audit_screen::replay::seek_chunk;
use audit_screen::Window;
use audit_store::{Filter, Reader, StoreError};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use thiserror::Error;

/// Which pane, and which part of its recording: what `replay` and `export` ask.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PaneQuery {
    /// The pane.
    pub pane: PaneName,
    /// Only the server with this socket path (`-L`/`-S`).
    pub socket: Option<String>,
    /// The server, when panes of this name were recorded on several: socket path or name.
    pub server: Option<String>,
    /// Start here.
    pub from: Option<TimeRef>,
    /// Stop here.
    pub to: Option<TimeRef>,
}

/// Why a pane's recording could not be found or read.
#[derive(Debug, Error)]
pub enum RecordingError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Nothing of that pane was recorded (in that scope).
    #[error("no recorded output for pane {pane}{scope} {HINT}")]
    NoPane {
        /// The pane as asked.
        pane: PaneName,
        /// ` on server NAME` when one was asked.
        scope: String,
    },
    /// Nothing at that position at or before the asked time.
    #[error("no recorded output for pane {pane}{scope} at or before {} {HINT}", show::time(*.at))]
    NoPaneAt {
        /// The pane as asked.
        pane: PaneName,
        /// ` on server NAME` when one was asked.
        scope: String,
        /// The asked time.
        at: Timestamp,
    },
    /// Panes of that name were recorded on several servers.
    #[error("pane {pane} was recorded on {} servers: {}; pick one with --server NAME (or -L/-S)", .servers.len(), .servers.join(", "))]
    SeveralServers {
        /// The pane as asked.
        pane: PaneName,
        /// The servers.
        servers: Vec<String>,
    },
    /// The window ends before it starts.
    #[error("--to ({to}) is before --from ({from})")]
    Backwards {
        /// Start.
        from: Timestamp,
        /// End.
        to: Timestamp,
    },
    /// The pane's chunks were not there when read a second time.
    #[error("the pane's chunks changed while they were read; try again")]
    Changed,
    /// The pane has output, but none in the window.
    #[error("pane {pane} has no recorded output in that window: its recording runs from {} to {}", show::time(*.first), show::time(*.last))]
    OutsideWindow {
        /// The pane, described.
        pane: String,
        /// Where its recording starts.
        first: Timestamp,
        /// Where it ends.
        last: Timestamp,
    },
    /// A chunk could not be read from the store.
    #[error("cannot read the output chunk of event {seq}: {error}")]
    ChunkUnreadable {
        /// Its event.
        seq: u64,
        /// Why.
        error: StoreError,
    },
    /// A `pane-output` event without its chunk.
    #[error("event {seq} (pane-output) has no stored chunk: the store is incomplete (run tmux-audit verify)")]
    ChunkMissing {
        /// Its event.
        seq: u64,
    },
    /// A proof that does not carry a chunk it covers.
    #[error("the proof lacks the output chunk of record {seq}")]
    NotInProof {
        /// Its event.
        seq: u64,
    },
    /// A chunk that is not what its event's digest says.
    #[error("the output chunk of event {seq} does not match the digest its event records: the store was altered (run tmux-audit verify)")]
    ChunkAltered {
        /// Its event.
        seq: u64,
    },
    /// A chunk that matches its digest but does not decompress.
    #[error("cannot read the output chunk of event {seq}: {error}")]
    ChunkCorrupt {
        /// Its event.
        seq: u64,
        /// Why.
        error: chunk::ChunkError,
    },
    /// A chunk whose terminal picture cannot be drawn.
    #[error(transparent)]
    Screen(#[from] audit_screen::ScreenError),
}

const HINT: &str = "(tmux-audit log --kind pane-output lists recorded panes)";

/// A pane as a person names it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaneName {
    /// `%N`.
    Id(String),
    /// `SESSION:WINDOW.PANE`: window and pane index as at `--from`, else `--to`, else now.
    Position {
        /// Session name.
        session: String,
        /// Window index.
        window: i64,
        /// Pane index.
        pane: i64,
    },
}

impl FromStr for PaneName {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad =
            || format!("cannot read pane {s:?}: use %ID (%3) or SESSION:WINDOW.PANE (prod:1.0)");
        if let Some(n) = s.strip_prefix('%') {
            return match n.parse::<u32>() {
                Ok(_) => Ok(PaneName::Id(s.to_owned())),
                Err(_) => Err(bad()),
            };
        }
        // tmux allows neither ':' nor '.' in session names.
        let (session, rest) = s.rsplit_once(':').ok_or_else(bad)?;
        let (window, pane) = rest.split_once('.').ok_or_else(bad)?;
        match (window.parse(), pane.parse()) {
            (Ok(window), Ok(pane)) if !session.is_empty() => Ok(PaneName::Position {
                session: session.to_owned(),
                window,
                pane,
            }),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for PaneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PaneName::Id(id) => f.write_str(id),
            PaneName::Position {
                session,
                window,
                pane,
            } => write!(f, "{session}:{window}.{pane}"),
        }
    }
}

/// `--from`/`--to`: a time, or an offset from the start of the recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeRef {
    /// A point in time.
    At(Timestamp),
    /// Microseconds after the recording's first chunk starts.
    Offset(i64),
}

/// One pane's recording: its `pane-output` events in one server life, oldest first.
pub struct Recording {
    /// The server's socket path.
    pub server: String,
    /// The pane id.
    pub pane_id: String,
    /// Its `pane-output` events in that server life, by chunk start.
    pub events: Vec<Stored>,
    /// The part asked for.
    pub window: Window,
}

impl Recording {
    /// Finds the pane `target` names and the part of its recording it asks for.
    pub fn find(store: &dyn Reader, target: &PaneQuery) -> Result<Recording, RecordingError> {
        let socket = target.socket.clone();
        let on_server = |server: &str| {
            socket.as_deref().is_none_or(|s| s == server)
                && target
                    .server
                    .as_deref()
                    .is_none_or(|want| server_matches(server, want))
        };
        // The asked time: --from, else --to, else now (offsets need the recording first).
        let at = match (target.from, target.to) {
            (Some(TimeRef::At(t)), _) | (_, Some(TimeRef::At(t))) => t,
            _ => Timestamp::now(),
        };
        // First: which pane is meant (one candidate chunk per server), and server starts.
        // By its id, or by its session (any name it had: a superset the candidates narrow).
        let (pane, session) = match &target.pane {
            PaneName::Id(id) => (Some(id.clone()), None),
            PaneName::Position { session, .. } => (None, Some(session.clone())),
        };
        let mut candidates = Candidates::new(&target.pane, at);
        let outputs = Filter {
            server: socket.clone(),
            pane,
            session,
            ..Filter::kinds(&[Kind::PaneOutput])
        };
        store.events(&outputs, &mut |s| {
            if on_server(&s.event.server) {
                candidates.offer(s);
            }
            true
        })?;
        let (server, pane_id, anchor) = candidates.pick(target.server.as_deref())?;
        let mut starts = Vec::new();
        let started = Filter::kinds(&[Kind::ServerStarted]).on_server(&server);
        store.events(&started, &mut |s| {
            starts.push((s.event.time, s.event.pid));
            true
        })?;
        let life = life(&starts, anchor);

        // Then: that pane's chunks in that server life (each event comes after its chunk's
        // start, so nothing before the life's start is needed).
        let mut events = Vec::new();
        let since = (life.start != Timestamp(i64::MIN)).then_some(life.start);
        let chunks = Filter::kinds(&[Kind::PaneOutput])
            .on_server(&server)
            .on_pane(&pane_id)
            .since(since);
        store.events(&chunks, &mut |s| {
            if s.event.server == server && life.contains(&start_of(&s)) {
                events.push(s);
            }
            true
        })?;
        events.sort_by_key(|s| (start_of(s), s.seq));
        let first = events
            .first()
            .map(start_of)
            .ok_or(RecordingError::Changed)?;
        let when = |t: TimeRef| match t {
            TimeRef::At(t) => t.as_micros(),
            TimeRef::Offset(us) => first.as_micros().saturating_add(us),
        };
        let window = Window {
            from: target.from.map(when),
            to: target.to.map(when),
        };
        if let (Some(from), Some(to)) = (window.from, window.to) {
            if to < from {
                return Err(RecordingError::Backwards {
                    from: Timestamp(from),
                    to: Timestamp(to),
                });
            }
        }
        let recording = Recording {
            server,
            pane_id,
            events,
            window,
        };
        if recording.needed().is_empty() {
            let last = recording.events.last().expect("not empty");
            return Err(RecordingError::OutsideWindow {
                pane: recording.describe(),
                first,
                last: last.event.until.unwrap_or(start_of(last)),
            });
        }
        Ok(recording)
    }

    /// Where the committed recording ends: the end of its last chunk.
    pub fn committed_until(&self) -> Timestamp {
        (self.events.iter())
            .map(|s| s.event.until.unwrap_or(start_of(s)))
            .max()
            .unwrap_or(Timestamp(i64::MIN))
    }

    /// `%3 (prod:1.0) on /tmp/tmux-1000/default`, for messages and titles.
    pub fn describe(&self) -> String {
        // Where the pane was at the end of what is shown (a proof renders it from that alone).
        let last = (self.needed().last())
            .or(self.events.last())
            .map(|s| &s.event);
        let position = last.and_then(|e| {
            Some(format!(
                " ({}:{}.{})",
                e.session.as_deref()?,
                e.window_index?,
                e.pane_index?
            ))
        });
        format!(
            "{}{} on {}",
            self.pane_id,
            position.unwrap_or_default(),
            self.server
        )
    }

    /// The events whose chunks the window needs: from the one a seek starts at, to the last that
    /// starts at or before `to`.
    pub fn needed(&self) -> &[Stored] {
        let starts: Vec<i64> = self
            .events
            .iter()
            .map(|s| start_of(s).as_micros())
            .collect();
        let first = self.window.from.map_or(0, |from| seek_chunk(&starts, from));
        let last = self
            .window
            .to
            .map_or(starts.len(), |to| starts.partition_point(|&s| s <= to));
        &self.events[first..last.max(first)]
    }

    /// The largest size any needed chunk starts with (resizes inside chunks not counted).
    pub fn largest_size(&self) -> (u16, u16) {
        self.needed().iter().fold((0, 0), |(w, h), s| {
            let size = |v: Option<i64>| v.and_then(|v| u16::try_from(v).ok()).unwrap_or(0);
            (w.max(size(s.event.width)), h.max(size(s.event.height)))
        })
    }

    /// The needed chunks, each read, checked against its digest and decompressed only when the
    /// iterator gets to it.
    pub fn chunks<'a>(
        &'a self,
        store: &'a dyn Reader,
    ) -> impl Iterator<Item = Result<Chunk, RecordingError>> + 'a {
        self.chunks_with(move |s| load(store, s))
    }

    /// The needed chunks, each got from `load` only when the iterator gets to it.
    pub fn chunks_with<'a>(
        &'a self,
        load: impl Fn(&Stored) -> Result<Chunk, RecordingError> + 'a,
    ) -> impl Iterator<Item = Result<Chunk, RecordingError>> + 'a {
        self.needed().iter().map(load)
    }
}

/// A chunk from the store, checked against the digest its event carries, decompressed.
pub fn load(store: &dyn Reader, s: &Stored) -> Result<Chunk, RecordingError> {
    let seq = s.seq;
    let stored = store
        .chunk(seq)
        .map_err(|error| RecordingError::ChunkUnreadable { seq, error })?
        .ok_or(RecordingError::ChunkMissing { seq })?;
    checked_chunk(s, &stored)
}

/// Stored chunk bytes, checked against the digest event `s` carries, decompressed.
pub fn checked_chunk(s: &Stored, stored: &[u8]) -> Result<Chunk, RecordingError> {
    let seq = s.seq;
    let digest = blake3::hash(stored).to_hex();
    if s.event.digest.as_deref() != Some(digest.as_str()) {
        return Err(RecordingError::ChunkAltered { seq });
    }
    chunk::decompress(stored).map_err(|error| RecordingError::ChunkCorrupt { seq, error })
}

/// Where a chunk starts (`from`; the event time for an event without one).
fn start_of(s: &Stored) -> Timestamp {
    s.event.from.unwrap_or(s.event.time)
}

pub use audit_store::server_matches;

/// The chunk that names the pane at the asked time, one per server, gathered during a scan.
struct Candidates<'a> {
    pane: &'a PaneName,
    at: Timestamp,
    found: BTreeMap<String, Stored>,
}

impl<'a> Candidates<'a> {
    fn new(pane: &'a PaneName, at: Timestamp) -> Self {
        Candidates {
            pane,
            at,
            found: BTreeMap::new(),
        }
    }

    /// Considers one `pane-output` event.
    fn offer(&mut self, s: Stored) {
        let e = &s.event;
        let at = self.at;
        let new = start_of(&s);
        let better = |cur: &Stored| {
            let cur = start_of(cur);
            match self.pane {
                // The latest chunk starting at or before `at`, else the earliest after.
                PaneName::Id(_) if new <= at => cur > at || new >= cur,
                PaneName::Id(_) => cur > at && new < cur,
                // The latest chunk at that position starting at or before `at`.
                PaneName::Position { .. } => new >= cur,
            }
        };
        let matches = match self.pane {
            PaneName::Id(id) => e.pane_id.as_deref() == Some(id.as_str()),
            PaneName::Position {
                session,
                window,
                pane,
            } => {
                e.session.as_deref() == Some(session.as_str())
                    && e.window_index == Some(*window)
                    && e.pane_index == Some(*pane)
                    && e.pane_id.is_some()
                    && new <= at
            }
        };
        if !matches {
            return;
        }
        match self.found.get(&e.server) {
            Some(cur) if !better(cur) => {}
            _ => {
                self.found.insert(e.server.clone(), s);
            }
        }
    }

    /// The server, pane id, and start of the chunk that fixes which life of the pane is meant.
    fn pick(self, server: Option<&str>) -> Result<(String, String, Timestamp), RecordingError> {
        let pane = self.pane;
        let scope = server
            .map(|s| format!(" on server {s}"))
            .unwrap_or_default();
        if self.found.len() > 1 {
            return Err(RecordingError::SeveralServers {
                pane: pane.clone(),
                servers: self.found.into_keys().collect(),
            });
        }
        let Some((server, s)) = self.found.into_iter().next() else {
            let pane = pane.clone();
            return Err(match pane {
                PaneName::Id(_) => RecordingError::NoPane { pane, scope },
                PaneName::Position { .. } => RecordingError::NoPaneAt {
                    pane,
                    scope,
                    at: self.at,
                },
            });
        };
        let start = start_of(&s);
        let pane_id = s.event.pane_id.expect("pane-output events name their pane");
        Ok((server, pane_id, start))
    }
}

/// The life of the server around `anchor`: from the last start at or before it to the next
/// start of a different server process (pane ids begin again at %0 when a server restarts).
fn life(starts: &[(Timestamp, Option<i64>)], anchor: Timestamp) -> std::ops::Range<Timestamp> {
    let mut begin = Timestamp(i64::MIN);
    let mut begin_pid = None;
    let mut end = Timestamp(i64::MAX);
    for &(time, pid) in starts {
        if time <= anchor {
            if pid.is_none() || pid != begin_pid {
                begin = time;
            }
            begin_pid = pid;
        } else if pid.is_none() || pid != begin_pid {
            end = time;
            break;
        }
    }
    begin..end
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_pane_forms_and_refuses_others() {
        assert_eq!("%12".parse(), Ok(PaneName::Id("%12".into())));
        assert_eq!(
            "prod:1.0".parse(),
            Ok(PaneName::Position {
                session: "prod".into(),
                window: 1,
                pane: 0
            })
        );
        for bad in ["%", "%x", "prod", "prod:1", ":1.0", "prod:a.b", "12"] {
            let e = bad.parse::<PaneName>().unwrap_err();
            assert!(e.contains("SESSION:WINDOW.PANE"), "{bad}: {e}");
        }
    }

    #[test]
    fn a_server_life_ends_at_the_next_start_of_another_process() {
        let t = Timestamp;
        let starts = [(t(10), Some(1)), (t(20), Some(1)), (t(30), Some(2))];
        assert_eq!(
            life(&starts, t(25)),
            t(10)..t(30),
            "same pid: the daemon restarted"
        );
        assert_eq!(life(&starts, t(35)), t(30)..t(i64::MAX));
        assert_eq!(life(&starts, t(5)), t(i64::MIN)..t(10));
    }
}
