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

use crate::common::Global;
use crate::timearg;
use anyhow::{bail, Context, Result};
use audit_capture::chunk::{self, Chunk};
use audit_core::{Kind, Stored, Timestamp};
use audit_screen::replay::seek_chunk;
use audit_screen::Window;
use audit_store::{EventStore, Filter};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Which pane, and which part of its recording.
#[derive(clap::Args, Debug)]
pub struct Target {
    /// The pane: %ID, or SESSION:WINDOW.PANE (window and pane index as at --from, else --to,
    /// else now)
    #[arg(value_name = "PANE")]
    pane: PaneArg,
    /// The tmux server, when panes of this name were recorded on several: socket path or name
    #[arg(long, value_name = "NAME")]
    server: Option<String>,
    /// Start here: a time (RFC 3339, local date/time, age such as 2h) or +OFFSET from the
    /// recording's start (+90s, +5m, +1h30m)
    #[arg(long, value_parser = time_arg, value_name = "TIME")]
    from: Option<TimeArg>,
    /// Stop here (same forms as --from)
    #[arg(long, value_parser = time_arg, value_name = "TIME")]
    to: Option<TimeArg>,
}

impl Target {
    /// From the pane's screen now on (`--follow`).
    pub fn follow_now(&mut self) {
        self.from = Some(TimeArg::At(Timestamp::now()));
        self.to = None;
    }

    /// What a view of this target records as viewed (`audit-access`).
    pub fn access(&self, view: &'static str) -> crate::access::View {
        crate::access::View {
            view,
            query: None,
            pane: Some(self.pane.to_string()),
        }
    }
}

/// A pane as named on the command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PaneArg {
    /// `%N`.
    Id(String),
    /// `SESSION:WINDOW.PANE`.
    Position {
        session: String,
        window: i64,
        pane: i64,
    },
}

impl FromStr for PaneArg {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad =
            || format!("cannot read pane {s:?}: use %ID (%3) or SESSION:WINDOW.PANE (prod:1.0)");
        if let Some(n) = s.strip_prefix('%') {
            return match n.parse::<u32>() {
                Ok(_) => Ok(PaneArg::Id(s.to_owned())),
                Err(_) => Err(bad()),
            };
        }
        // tmux allows neither ':' nor '.' in session names.
        let (session, rest) = s.rsplit_once(':').ok_or_else(bad)?;
        let (window, pane) = rest.split_once('.').ok_or_else(bad)?;
        match (window.parse(), pane.parse()) {
            (Ok(window), Ok(pane)) if !session.is_empty() => Ok(PaneArg::Position {
                session: session.to_owned(),
                window,
                pane,
            }),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for PaneArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PaneArg::Id(id) => f.write_str(id),
            PaneArg::Position {
                session,
                window,
                pane,
            } => write!(f, "{session}:{window}.{pane}"),
        }
    }
}

/// `--from`/`--to`: a time, or an offset from the start of the recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeArg {
    /// A point in time.
    At(Timestamp),
    /// Microseconds after the recording's first chunk starts.
    Offset(i64),
}

/// clap value parser for [`TimeArg`].
pub fn time_arg(text: &str) -> Result<TimeArg, String> {
    match text.trim().strip_prefix('+') {
        Some(offset) => offset
            .parse::<jiff::Span>()
            .ok()
            .and_then(|span| span.total(jiff::Unit::Microsecond).ok())
            .filter(|us| us.is_finite() && *us >= 0.0)
            .map(|us| TimeArg::Offset(us as i64))
            .ok_or_else(|| {
                format!("cannot read offset {text:?}: use +90s, +5m, +1h30m (from the recording's start)")
            }),
        None => timearg::arg(text)
            .map(TimeArg::At)
            .map_err(|e| format!("{e}, or an offset such as +90s from the recording's start")),
    }
}

/// One pane's recording: its `pane-output` events in one server life, oldest first.
pub struct Recording {
    pub server: String,
    pub pane_id: String,
    pub events: Vec<Stored>,
    pub window: Window,
}

impl Recording {
    /// Finds the pane `target` names and the part of its recording it asks for.
    pub fn find(global: &Global, store: &dyn EventStore, target: &Target) -> Result<Recording> {
        let socket = global.server().map(|p| p.display().to_string());
        let on_server = |server: &str| {
            socket.as_deref().is_none_or(|s| s == server)
                && target
                    .server
                    .as_deref()
                    .is_none_or(|want| server_matches(server, want))
        };
        // The asked time: --from, else --to, else now (offsets need the recording first).
        let at = match (target.from, target.to) {
            (Some(TimeArg::At(t)), _) | (_, Some(TimeArg::At(t))) => t,
            _ => Timestamp::now(),
        };
        // First: which pane is meant (one candidate chunk per server), and server starts.
        let pane = match &target.pane {
            PaneArg::Id(id) => Some(id.clone()),
            PaneArg::Position { .. } => None,
        };
        let mut candidates = Candidates::new(&target.pane, at);
        let outputs = Filter {
            server: socket.clone(),
            pane,
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
            .context("the pane's chunks changed while they were read; try again")?;
        let when = |t: TimeArg| match t {
            TimeArg::At(t) => t.as_micros(),
            TimeArg::Offset(us) => first.as_micros().saturating_add(us),
        };
        let window = Window {
            from: target.from.map(when),
            to: target.to.map(when),
        };
        if let (Some(from), Some(to)) = (window.from, window.to) {
            if to < from {
                bail!(
                    "--to ({}) is before --from ({})",
                    Timestamp(to),
                    Timestamp(from)
                );
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
            bail!(
                "pane {} has no recorded output in that window: its recording runs from {} to {}",
                recording.describe(),
                crate::render::time(first),
                crate::render::time(last.event.until.unwrap_or(start_of(last)))
            );
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
        store: &'a dyn EventStore,
    ) -> impl Iterator<Item = Result<Chunk>> + 'a {
        self.chunks_with(move |s| load(store, s))
    }

    /// The needed chunks, each got from `load` only when the iterator gets to it.
    pub fn chunks_with<'a>(
        &'a self,
        load: impl Fn(&Stored) -> Result<Chunk> + 'a,
    ) -> impl Iterator<Item = Result<Chunk>> + 'a {
        self.needed().iter().map(load)
    }
}

/// A chunk from the store, checked against the digest its event carries, decompressed.
pub fn load(store: &dyn EventStore, s: &Stored) -> Result<Chunk> {
    let seq = s.seq;
    let stored = store
        .chunk(seq)
        .with_context(|| format!("cannot read the output chunk of event {seq}"))?
        .with_context(|| {
            format!("event {seq} (pane-output) has no stored chunk: the store is incomplete (run tmux-audit verify)")
        })?;
    checked_chunk(s, &stored)
}

/// Stored chunk bytes, checked against the digest event `s` carries, decompressed.
pub fn checked_chunk(s: &Stored, stored: &[u8]) -> Result<Chunk> {
    let seq = s.seq;
    let digest = blake3::hash(stored).to_hex();
    if s.event.digest.as_deref() != Some(digest.as_str()) {
        bail!("the output chunk of event {seq} does not match the digest its event records: the store was altered (run tmux-audit verify)");
    }
    chunk::decompress(stored)
        .with_context(|| format!("cannot read the output chunk of event {seq}"))
}

/// Where a chunk starts (`from`; the event time for an event without one).
fn start_of(s: &Stored) -> Timestamp {
    s.event.from.unwrap_or(s.event.time)
}

pub use audit_store::server_matches;

/// The chunk that names the pane at the asked time, one per server, gathered during a scan.
struct Candidates<'a> {
    pane: &'a PaneArg,
    at: Timestamp,
    found: BTreeMap<String, Stored>,
}

impl<'a> Candidates<'a> {
    fn new(pane: &'a PaneArg, at: Timestamp) -> Self {
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
                PaneArg::Id(_) if new <= at => cur > at || new >= cur,
                PaneArg::Id(_) => cur > at && new < cur,
                // The latest chunk at that position starting at or before `at`.
                PaneArg::Position { .. } => new >= cur,
            }
        };
        let matches = match self.pane {
            PaneArg::Id(id) => e.pane_id.as_deref() == Some(id.as_str()),
            PaneArg::Position {
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
    fn pick(self, server: Option<&str>) -> Result<(String, String, Timestamp)> {
        let pane = self.pane;
        let hint = "(tmux-audit log --kind pane-output lists recorded panes)";
        let scope = server
            .map(|s| format!(" on server {s}"))
            .unwrap_or_default();
        if self.found.len() > 1 {
            let servers: Vec<&str> = self.found.keys().map(String::as_str).collect();
            bail!(
                "pane {pane} was recorded on {} servers: {}; pick one with --server NAME (or -L/-S)",
                servers.len(),
                servers.join(", ")
            );
        }
        let Some((server, s)) = self.found.into_iter().next() else {
            match pane {
                PaneArg::Id(_) => bail!("no recorded output for pane {pane}{scope} {hint}"),
                PaneArg::Position { .. } => bail!(
                    "no recorded output for pane {pane}{scope} at or before {} {hint}",
                    crate::render::time(self.at)
                ),
            }
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
        assert_eq!("%12".parse(), Ok(PaneArg::Id("%12".into())));
        assert_eq!(
            "prod:1.0".parse(),
            Ok(PaneArg::Position {
                session: "prod".into(),
                window: 1,
                pane: 0
            })
        );
        for bad in ["%", "%x", "prod", "prod:1", ":1.0", "prod:a.b", "12"] {
            let e = bad.parse::<PaneArg>().unwrap_err();
            assert!(e.contains("SESSION:WINDOW.PANE"), "{bad}: {e}");
        }
    }

    #[test]
    fn reads_offsets_and_times() {
        assert_eq!(time_arg("+90s"), Ok(TimeArg::Offset(90_000_000)));
        assert_eq!(time_arg("+1h30m"), Ok(TimeArg::Offset(5_400_000_000)));
        assert!(matches!(
            time_arg("2026-11-28T14:05:00Z"),
            Ok(TimeArg::At(_))
        ));
        assert!(time_arg("+soon").unwrap_err().contains("+90s"));
        assert!(time_arg("whenever").unwrap_err().contains("+90s"));
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
