//! A search's hits as rows: each output hit dated, placed and with who was attached then; each
//! matching act as its record. Here, not in a front end, so that the CLI's `search --json` and
//! the web UI's search list the same hits, read in the same order and cut at the same limit.

use super::{pending, Log, SearchError, SearchQuery};
use crate::hits::{Found, PaneScan};
use crate::live::FollowError;
use crate::presence::Span;
use crate::recording::{load, RecordingError};
use audit_core::{Bytes, Stored, Timestamp};
use audit_screen::ScreenError;
use audit_state::StateDir;
use audit_store::Reader;
use serde::Serialize;
use std::collections::HashMap;
use thiserror::Error;

/// One hit, as `search --json` prints it (`"hit": "output"` or `"hit": "command"` first).
#[derive(Clone, Debug, Serialize)]
#[serde(tag = "hit")]
pub enum HitRow {
    /// A line of pane output.
    #[serde(rename = "output")]
    Output(OutputHit),
    /// A command, command line or tmux command whose text matches.
    #[serde(rename = "command")]
    Command(Box<CommandHit>),
}

/// A matching line of pane output: when it appeared, where, and who had a client attached to
/// the session then. `time`, `server` and `pane_id` open the player at that moment.
#[derive(Clone, Debug, Serialize)]
pub struct OutputHit {
    /// When the line first showed a match on screen.
    pub time: Timestamp,
    /// The `pane-output` event whose chunk holds it (for output not yet committed: the pane's
    /// last committed chunk, which the spool continues).
    pub seq: u64,
    /// The tmux server.
    pub server: String,
    /// The session's name then.
    pub session: Option<String>,
    /// The session's id.
    pub session_id: Option<String>,
    /// The window's index.
    pub window_index: Option<i64>,
    /// The pane (`%N`).
    pub pane_id: Option<String>,
    /// The pane's index in its window.
    pub pane_index: Option<i64>,
    /// The line (lossless text; escape it before a terminal shows it).
    pub line: String,
    /// Whether the line comes from output committed to the chain (false: read from a spool,
    /// because the daemon did not commit it for this search).
    pub committed: bool,
    /// The clients attached to the session then.
    pub attached: Vec<Watcher>,
}

/// A client attached to a hit's session when the line appeared.
#[derive(Clone, Debug, Serialize)]
pub struct Watcher {
    /// Its tty.
    pub client: String,
    /// Its user.
    pub user: Option<String>,
    /// Its uid.
    pub uid: Option<i64>,
    /// Read-only: could not type.
    pub readonly: bool,
    /// A control-mode client.
    pub control: bool,
}

/// A matching act: the record's own fields (its `time`, `server` and `pane_id` when it ran in
/// a pane), and `text`, what matched.
#[derive(Clone, Debug, Serialize)]
pub struct CommandHit {
    /// The record.
    #[serde(flatten)]
    pub stored: Stored,
    /// Its text: the arguments joined by spaces, the line as typed, or the tmux command.
    pub text: String,
}

/// What a search meets, in the order it meets it.
#[derive(Debug)]
pub enum Seen {
    /// A hit.
    Hit(HitRow),
    /// A committed output chunk that could not be searched (skipped: the rest is searched).
    Unreadable(ChunkError),
    /// A pane's output not yet committed could not be read from its spools (not searched).
    Unspooled {
        /// The pane.
        pane: String,
        /// Why.
        error: FollowError,
    },
}

/// Why an output chunk could not be searched.
#[derive(Debug, Error)]
pub enum ChunkError {
    /// It could not be read, or does not match its event.
    #[error(transparent)]
    Load(#[from] RecordingError),
    /// It reads, but does not render.
    #[error("the output chunk of event {seq} is corrupt")]
    Corrupt {
        /// Its event.
        seq: u64,
        /// Why.
        #[source]
        error: ScreenError,
    },
}

/// How a search of one store ended.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Searched {
    /// Hits visited.
    pub hits: usize,
    /// The limit was reached with another hit to show.
    pub more: bool,
    /// The visitor asked to stop.
    pub stopped: bool,
}

/// A search's hits, collected.
#[derive(Debug)]
pub struct Hits {
    /// The hits: output first (oldest chunk first), then the acts (in `seq` order).
    pub rows: Vec<HitRow>,
    /// The limit was reached with more to show.
    pub more: bool,
    /// The output chunks that could not be searched.
    pub unreadable: Vec<ChunkError>,
    /// The store holds several servers (a pane id alone does not name a pane).
    pub several_servers: bool,
}

/// The hits of `query` in `store`, at most `limit` (`None`: all); output not yet committed is
/// not searched. What the web UI asks.
pub fn hits(
    store: &dyn Reader,
    query: &SearchQuery,
    limit: Option<usize>,
) -> Result<Hits, SearchError> {
    let log = Log::read(store, query)?;
    let mut rows = Vec::new();
    let mut unreadable = Vec::new();
    let done = each(store, query, &log, None, limit, &mut |seen| {
        match seen {
            Seen::Hit(row) => rows.push(row),
            Seen::Unreadable(e) => unreadable.push(e),
            Seen::Unspooled { .. } => {}
        }
        true
    })?;
    Ok(Hits {
        rows,
        more: done.more,
        unreadable,
        several_servers: log.servers.len() > 1,
    })
}

/// Visits what a search of `store` meets, as [`Log::read`] read it for `query`: the output's
/// hits, oldest chunk first; then, with `spools` (the state folder of the daemon that did not
/// commit the panes' pending output), the hits in what they spooled since; then the acts. Stops
/// before a hit beyond `limit`, or once `visit` returns `false`.
pub fn each(
    store: &dyn Reader,
    query: &SearchQuery,
    log: &Log,
    spools: Option<&StateDir>,
    limit: Option<usize>,
    visit: &mut dyn FnMut(Seen) -> bool,
) -> Result<Searched, SearchError> {
    let mut run = Run {
        limit,
        visit,
        done: Searched::default(),
    };
    let matcher = &query.matcher;
    let mut panes: HashMap<(String, String), PaneScan> = HashMap::new();
    for (s, context_only) in &log.chunks {
        let e = &s.event;
        let key = (e.server.clone(), e.pane_id.clone().unwrap_or_default());
        let found = load(store, s).map_err(ChunkError::from).and_then(|c| {
            let pane = panes.entry(key.clone()).or_default();
            pane.scan(&c, matcher)
                .map_err(|error| ChunkError::Corrupt { seq: s.seq, error })
        });
        let found = match found {
            Ok(found) => found,
            Err(err) => {
                panes.remove(&key);
                if !(run.visit)(Seen::Unreadable(err)) {
                    run.done.stopped = true;
                    return Ok(run.done);
                }
                continue;
            }
        };
        if *context_only {
            continue;
        }
        for f in found {
            if !run.output(query, log, s, f, true) {
                return Ok(run.done);
            }
        }
    }
    if let Some(state) = spools {
        for seen in pending::hits(state, store, &log.last, matcher)? {
            let go_on = match seen {
                pending::Pending::Hit(s, f) => run.output(query, log, &s, f, false),
                pending::Pending::Unspooled { pane, error } => {
                    run.done.stopped = !(run.visit)(Seen::Unspooled { pane, error });
                    !run.done.stopped
                }
            };
            if !go_on {
                return Ok(run.done);
            }
        }
    }
    for s in &log.acts {
        if !query.admits_act(s) {
            continue;
        }
        let hit = HitRow::Command(Box::new(CommandHit {
            stored: s.clone(),
            text: Bytes(crate::acts::text_of(&s.event)).lossless_text(),
        }));
        if !run.hit(hit) {
            break;
        }
    }
    Ok(run.done)
}

/// A search under way: its limit, its visitor, and what it has done so far.
struct Run<'v> {
    limit: Option<usize>,
    visit: &'v mut dyn FnMut(Seen) -> bool,
    done: Searched,
}

impl Run<'_> {
    /// Visits the output hit `f` of chunk `s` if the query admits it; `false` to stop.
    fn output(
        &mut self,
        q: &SearchQuery,
        log: &Log,
        s: &Stored,
        f: Found,
        committed: bool,
    ) -> bool {
        let e = &s.event;
        let time = Timestamp(f.time);
        let attached = log.presence.at(&e.server, e.session_id.as_deref(), time);
        if !q.admits(time, &attached) {
            return true;
        }
        self.hit(HitRow::Output(OutputHit {
            time,
            seq: s.seq,
            server: e.server.clone(),
            session: e.session.clone(),
            session_id: e.session_id.clone(),
            window_index: e.window_index,
            pane_id: e.pane_id.clone(),
            pane_index: e.pane_index,
            line: f.line,
            committed,
            attached: attached.into_iter().map(Watcher::of).collect(),
        }))
    }

    /// Visits `hit` unless the limit is reached (then notes there is more); `false` to stop.
    fn hit(&mut self, hit: HitRow) -> bool {
        if self.limit == Some(self.done.hits) {
            self.done.more = true;
            return false;
        }
        self.done.hits += 1;
        self.done.stopped = !(self.visit)(Seen::Hit(hit));
        !self.done.stopped
    }
}

impl Watcher {
    fn of(span: &Span) -> Watcher {
        Watcher {
            client: span.client.clone(),
            user: span.user.clone(),
            uid: span.uid,
            readonly: span.readonly,
            control: span.control,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hits::Matcher;
    use crate::testing::ev;
    use audit_capture::chunk::{self, Chunk, Record};
    use audit_core::{Event, Kind};
    use audit_store::{Access, Attachment, SqliteStore, Writer};

    /// A `pane-output` event of pane %3 from `from` to `from + 1` s with what the pane wrote.
    fn output(from: i64, bytes: &[u8]) -> (Event, Option<Attachment>) {
        let start = Timestamp::from_secs(from).as_micros();
        let encoded = Chunk {
            start,
            end: start + 1_000_000,
            width: 80,
            height: 24,
            snapshot: Vec::new(),
            records: vec![Record::Output {
                time: start + 1_000_000,
                bytes: bytes.to_vec(),
            }],
        }
        .encode();
        let stored = chunk::compress(&encoded, 3);
        let mut e = ev(from + 2, Kind::PaneOutput);
        e.pane_id = Some("%3".into());
        e.window_index = Some(0);
        e.pane_index = Some(1);
        e.from = Some(Timestamp::from_secs(from));
        e.until = Some(Timestamp::from_secs(from + 1));
        e.digest = Some(blake3::hash(&stored).to_hex().to_string());
        let text = String::from_utf8_lossy(bytes).into_owned();
        (
            e,
            Some(Attachment {
                chunk: stored,
                text,
            }),
        )
    }

    fn store(dir: &std::path::Path) -> SqliteStore {
        let mut store = SqliteStore::open(&dir.join("a.db"), Access::Create).unwrap();
        let mut attached = ev(2, Kind::ClientAttached);
        attached.client = Some("/dev/pts/1".into());
        attached.user = Some("alice".into());
        attached.uid = Some(1000);
        let mut psql = ev(40, Kind::Command);
        psql.pane_id = Some("%3".into());
        psql.from = Some(Timestamp::from_secs(35));
        psql.argv = Some(vec![
            Bytes(b"psql".to_vec()),
            Bytes(b"-c".to_vec()),
            Bytes(b"drop table users".to_vec()),
        ]);
        store
            .append_attached(&[
                (ev(1, Kind::SessionCreated), None),
                (attached, None),
                output(10, b"DROP TABLE users;\r\n"),
                output(20, b"nothing to see\r\n"),
                output(30, b"drop table orders;\r\n"),
                (psql, None),
            ])
            .unwrap();
        store
    }

    fn query(pattern: &str) -> SearchQuery {
        SearchQuery {
            matcher: Matcher::words(pattern).unwrap(),
            socket: None,
            server: None,
            session: None,
            user: None,
            since: None,
            until: None,
        }
    }

    #[test]
    fn output_hits_carry_where_and_when_and_who_then_commands_follow() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let found = hits(&store, &query("drop table"), None).unwrap();
        assert!(!found.more && found.unreadable.is_empty() && !found.several_servers);
        assert_eq!(found.rows.len(), 3, "{:?}", found.rows);
        let HitRow::Output(first) = &found.rows[0] else {
            panic!("output first: {:?}", found.rows[0]);
        };
        assert_eq!(first.time, Timestamp::from_secs(11));
        assert_eq!(first.line, "DROP TABLE users;");
        assert_eq!(
            (first.server.as_str(), first.pane_id.as_deref(), first.seq),
            ("/s", Some("%3"), 3)
        );
        assert!(first.committed);
        let users: Vec<_> = first.attached.iter().map(|a| a.user.as_deref()).collect();
        assert_eq!(users, [Some("alice")]);
        let json = serde_json::to_value(&found.rows[0]).unwrap();
        assert_eq!(json["hit"], "output");
        assert_eq!(json["time"], "1970-01-01T00:00:11.000000Z");
        assert_eq!(json["pane_id"], "%3");
        let HitRow::Command(psql) = &found.rows[2] else {
            panic!("the command last: {:?}", found.rows[2]);
        };
        assert_eq!(psql.text, "psql -c drop table users");
        let json = serde_json::to_value(&found.rows[2]).unwrap();
        assert_eq!(
            (&json["hit"], &json["pane_id"], &json["server"]),
            (&"command".into(), &"%3".into(), &"/s".into())
        );
    }

    #[test]
    fn a_limit_stops_at_n_hits_and_says_there_are_more() {
        let dir = tempfile::tempdir().unwrap();
        let store = store(dir.path());
        let found = hits(&store, &query("drop table"), Some(2)).unwrap();
        assert!(found.more);
        let lines: Vec<_> = found
            .rows
            .iter()
            .map(|r| match r {
                HitRow::Output(h) => h.line.clone(),
                HitRow::Command(c) => c.text.clone(),
            })
            .collect();
        assert_eq!(lines, ["DROP TABLE users;", "drop table orders;"]);
        let exact = hits(&store, &query("drop table"), Some(3)).unwrap();
        assert!(!exact.more && exact.rows.len() == 3);
        let late = SearchQuery {
            since: Some(Timestamp::from_secs(25)),
            user: Some("bob".into()),
            ..query("drop table")
        };
        let none = hits(&store, &late, None).unwrap();
        assert!(
            none.rows.is_empty(),
            "bob was never attached, nor could run psql: {:?}",
            none.rows
        );
    }
}
