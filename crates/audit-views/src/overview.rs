//! One session seen whole, and one pane's recording with its marks: what a page that shows a
//! session (who was attached when, its panes, its gaps) or a player (where each command, attach
//! and detach happened) needs, computed once here for every front end.
//!
//! A session id (`$3`) is unique only within one life of one tmux server, so a session is named
//! by server, id and the time it lived; a pane likewise by server and id, its recording found as
//! `replay` finds it ([`Recording::find`]).

use crate::acts;
use crate::presence::Presence;
use crate::recording::{PaneName, PaneQuery, Recording, RecordingError};
use audit_core::fold::World;
use audit_core::{Bytes, Kind, Stored, Timestamp};
use audit_store::{Filter, Reader, StoreError};
use serde::Serialize;
use std::collections::BTreeMap;

/// One client's stays in the session: a swimlane.
#[derive(Debug, Serialize)]
pub struct Lane {
    /// tmux client name (its tty).
    pub client: String,
    /// Kernel-attested user.
    pub user: Option<String>,
    /// Kernel-attested uid.
    pub uid: Option<i64>,
    /// A control-mode client (a script or an integration, not a person's terminal).
    pub control: bool,
    /// Its stays, oldest first.
    pub spans: Vec<LaneSpan>,
}

/// One stay with the same rights.
#[derive(Debug, Serialize)]
pub struct LaneSpan {
    /// From.
    pub from: Timestamp,
    /// Until; `None` while still attached.
    pub to: Option<Timestamp>,
    /// Read-only.
    pub readonly: bool,
    /// SSH remote address, or `local`.
    pub origin: Option<String>,
}

/// A pane of the session that has a recording.
#[derive(Debug, Serialize)]
pub struct PaneRow {
    /// `%N`.
    pub pane_id: String,
    /// Window index, as last recorded.
    pub window_index: Option<i64>,
    /// Pane index, as last recorded.
    pub pane_index: Option<i64>,
    /// Its recording's first output.
    pub first: Timestamp,
    /// Its recording's last committed output.
    pub last: Timestamp,
    /// Output bytes recorded (as the events count them).
    pub bytes: i64,
}

/// Where recording was missing.
#[derive(Debug, Serialize)]
pub struct GapRow {
    /// `audit-gap` (the recorder was not recording) or `output-gap` (a pane's output lost).
    pub kind: &'static str,
    /// From.
    pub from: Option<Timestamp>,
    /// To.
    pub to: Option<Timestamp>,
    /// Why, as recorded.
    pub reason: Option<String>,
    /// The pane, for an output gap.
    pub pane_id: Option<String>,
    /// The record's own words.
    pub message: Option<String>,
}

/// What a session page shows beyond the session's summary row.
#[derive(Debug, Serialize)]
pub struct SessionDetail {
    /// One lane per client that attached.
    pub lanes: Vec<Lane>,
    /// Its panes with recorded output.
    pub panes: Vec<PaneRow>,
    /// Gaps on its server while it lived.
    pub gaps: Vec<GapRow>,
}

/// The session `session_id` of `server` that lived from `from` to `to` (`None`: still open).
pub fn session(
    store: &dyn Reader,
    server: &str,
    session_id: &str,
    from: Timestamp,
    to: Option<Timestamp>,
) -> Result<SessionDetail, StoreError> {
    let lived = |t: Timestamp| from <= t && to.is_none_or(|to| t <= to);
    // Who was attached: the world folded over the server's whole history up to the end (a
    // client attached before the session's recorded creation is still seen).
    let mut world = World::default();
    let mut presence = Presence::default();
    let folded = Filter::kinds(&World::KINDS).on_server(server).until(to);
    store.events(&folded, &mut |s| {
        if s.event.server == server {
            world.apply(&s.event);
            presence.follow(&world, s.event.time);
        }
        true
    })?;
    let mut lanes: BTreeMap<(Option<String>, String), Lane> = BTreeMap::new();
    for span in presence.spans(server, session_id) {
        if span.to.is_some_and(|t| t < from) {
            continue;
        }
        let lane = lanes
            .entry((span.user.clone(), span.client.clone()))
            .or_insert_with(|| Lane {
                client: span.client.clone(),
                user: span.user.clone(),
                uid: span.uid,
                control: span.control,
                spans: Vec::new(),
            });
        lane.spans.push(LaneSpan {
            from: span.from,
            to: span.to,
            readonly: span.readonly,
            origin: span.origin.clone(),
        });
    }
    let mut lanes: Vec<Lane> = lanes.into_values().collect();
    lanes.sort_by_key(|l| l.spans.first().map(|s| s.from));

    let mut panes: BTreeMap<String, PaneRow> = BTreeMap::new();
    let outputs = Filter {
        session: Some(session_id.to_owned()),
        ..Filter::kinds(&[Kind::PaneOutput]).on_server(server)
    }
    .since(Some(from));
    store.events(&outputs, &mut |s| {
        let e = &s.event;
        let (Some(pane), true) = (&e.pane_id, e.session_id.as_deref() == Some(session_id)) else {
            return true;
        };
        let start = e.from.unwrap_or(e.time);
        if e.server != server || !lived(start) {
            return true;
        }
        let row = panes.entry(pane.clone()).or_insert_with(|| PaneRow {
            pane_id: pane.clone(),
            window_index: None,
            pane_index: None,
            first: start,
            last: start,
            bytes: 0,
        });
        row.window_index = e.window_index.or(row.window_index);
        row.pane_index = e.pane_index.or(row.pane_index);
        row.first = row.first.min(start);
        row.last = row.last.max(e.until.unwrap_or(start));
        row.bytes += e.bytes.unwrap_or(0);
        true
    })?;
    let mut panes: Vec<PaneRow> = panes.into_values().collect();
    panes.sort_by_key(|p| (p.window_index, p.pane_index, p.first));

    let mut gaps = Vec::new();
    // An audit gap is recorded when it ends (an unclean stop: by the next daemon, maybe after
    // the session closed), so one that overlaps the session's life is stored after it began.
    let gap_filter = Filter::kinds(&[Kind::AuditGap, Kind::OutputGap]).since(Some(from));
    store.events(&gap_filter, &mut |s| {
        let e = &s.event;
        // An audit gap covers every server the recorder watched (an empty `server`: every
        // server) and is the session's when it overlaps its life, as
        // [`crate::sessions::SessionRow::gaps`] counts; an output gap names its pane.
        let ours = match e.kind {
            Kind::OutputGap => {
                lived(e.time)
                    && e.server == server
                    && (e.pane_id.as_ref()).is_some_and(|p| panes.iter().any(|r| &r.pane_id == p))
            }
            _ => {
                (e.server.is_empty() || e.server == server)
                    && to.is_none_or(|to| e.from.unwrap_or(e.time) <= to)
                    && e.until.unwrap_or(e.time) >= from
            }
        };
        if ours {
            gaps.push(GapRow {
                kind: e.kind.as_str(),
                from: e.from.or(Some(e.time)),
                to: e.until,
                reason: e.reason.map(|r| r.as_str().to_owned()),
                pane_id: e.pane_id.clone(),
                message: e.message.clone(),
            });
        }
        true
    })?;
    Ok(SessionDetail { lanes, panes, gaps })
}

/// A mark in a pane's recording: where the player can jump.
#[derive(Debug, Serialize)]
pub struct Marker {
    /// When.
    pub time: Timestamp,
    /// Seconds after the recording starts.
    pub offset: f64,
    /// `shell-command`, `command`, `tmux-command`, `attach` or `detach`.
    pub kind: &'static str,
    /// The command line, or who attached.
    pub label: String,
    /// Who did it (or attached), when the record names them.
    pub user: Option<String>,
    /// How sure the record is of `user` for an act (`exact`, `inferred`, …).
    pub attribution: Option<String>,
}

/// A pane's recording, described for a player, with its marks.
#[derive(Debug, Serialize)]
pub struct PaneOverview {
    /// `%N`.
    pub pane_id: String,
    /// The server's socket path.
    pub server: String,
    /// `%3 (prod:1.0) on /tmp/…`.
    pub title: String,
    /// Its session's name, as last recorded in the recording.
    pub session: Option<String>,
    /// Its session's id.
    pub session_id: Option<String>,
    /// Its window's index, as last recorded in the recording.
    pub window_index: Option<i64>,
    /// Its index in the window, as last recorded.
    pub pane_index: Option<i64>,
    /// Where the recording starts.
    pub start: Timestamp,
    /// Where its committed part ends.
    pub end: Timestamp,
    /// Seconds from start to end.
    pub duration: f64,
    /// The largest size it starts a chunk with.
    pub cols: u16,
    /// Rows.
    pub rows: u16,
    /// Its marks, in time order.
    pub markers: Vec<Marker>,
}

/// Pane `pane_id` of `server` (the recording that holds `at`, else its latest) and its marks:
/// the command lines the shell-init snippet marked and the tmux commands run from it, or —
/// where no line was marked — every program run in it; and each attach to and detach from its
/// session while it recorded.
pub fn pane(
    store: &dyn Reader,
    server: &str,
    pane_id: &str,
    at: Option<Timestamp>,
) -> Result<PaneOverview, RecordingError> {
    let rec = Recording::find(
        store,
        &PaneQuery {
            pane: PaneName::Id(pane_id.to_owned()),
            socket: Some(server.to_owned()),
            server: None,
            from: at.map(crate::recording::TimeRef::At),
            to: None,
        },
    )?;
    let first = rec.events.first().expect("a recording has events");
    let start = first.event.from.unwrap_or(first.event.time);
    let end = rec.committed_until();
    let last = &rec.events.last().expect("a recording has events").event;
    let session_id = last.session_id.clone();
    let (cols, rows) = rec.events.iter().fold((0, 0), |(w, h), s| {
        let size = |v: Option<i64>| v.and_then(|v| u16::try_from(v).ok()).unwrap_or(0);
        (w.max(size(s.event.width)), h.max(size(s.event.height)))
    });
    let offset = |t: Timestamp| (t.as_micros() - start.as_micros()) as f64 / 1e6;
    let mut lines = Vec::new();
    let mut programs = Vec::new();
    let mut clients = Vec::new();
    let kinds = [
        Kind::ShellCommand,
        Kind::TmuxCommand,
        Kind::Command,
        Kind::ClientAttached,
        Kind::ClientDetached,
    ];
    let filter = Filter::kinds(&kinds)
        .on_server(server)
        .since(Some(start))
        .until(Some(end));
    store.events(&filter, &mut |s: Stored| {
        let e = &s.event;
        if e.server != server {
            return true;
        }
        let act = |kind: &'static str| Marker {
            time: e.time,
            offset: offset(e.time),
            kind,
            label: Bytes(acts::text_of(e)).lossless_text(),
            user: e.actor.clone().or(e.user.clone()),
            attribution: e.attribution.map(|a| a.as_str().to_owned()),
        };
        match e.kind {
            Kind::ShellCommand | Kind::TmuxCommand if e.pane_id.as_deref() == Some(pane_id) => {
                lines.push(act(e.kind.as_str()));
            }
            Kind::Command if e.pane_id.as_deref() == Some(pane_id) => {
                programs.push(act("command"));
            }
            Kind::ClientAttached | Kind::ClientDetached
                if session_id.is_some() && e.session_id == session_id =>
            {
                let attach = e.kind == Kind::ClientAttached;
                let who = e.user.clone().unwrap_or_else(|| "?".into());
                let client = e.client.clone().unwrap_or_default();
                clients.push(Marker {
                    time: e.time,
                    offset: offset(e.time),
                    kind: if attach { "attach" } else { "detach" },
                    label: format!(
                        "{who} {} ({client}{})",
                        if attach { "attached" } else { "detached" },
                        if e.readonly == Some(true) {
                            ", read-only"
                        } else {
                            ""
                        }
                    ),
                    user: e.user.clone(),
                    attribution: None,
                });
            }
            _ => {}
        }
        true
    })?;
    // Marked lines say what the person typed; the programs they started add only noise then.
    let shell_lines = lines.iter().any(|m| m.kind == "shell-command");
    let mut markers = lines;
    if !shell_lines {
        markers.extend(programs);
    }
    markers.extend(clients);
    markers.sort_by_key(|m| m.time);
    Ok(PaneOverview {
        pane_id: rec.pane_id.clone(),
        server: rec.server.clone(),
        title: rec.describe(),
        session: last.session.clone(),
        session_id,
        window_index: last.window_index,
        pane_index: last.pane_index,
        start,
        end,
        duration: offset(end).max(0.0),
        cols,
        rows,
        markers,
    })
}
