//! Search: which recorded lines and command lines match a pattern, when each appeared, and who
//! was attached then — the store's full-text candidates confirmed in each chunk as it was shown
//! ([`crate::hits`]), dated and placed by [`Presence`].
//!
//! [`Log::read`] reads what the query needs in one pass over the events; [`each`] (or
//! [`hits`], collected) then reads the chunks and gives the hits as rows ([`HitRow`]), the
//! same for the CLI and the web UI.

mod pending;
mod rows;

pub use rows::{
    each, hits, ChunkError, CommandHit, HitRow, Hits, OutputHit, Searched, Seen, Watcher,
};

use crate::acts;
use crate::hits::Matcher;
use crate::presence::{Presence, Span};
use crate::show;
use audit_core::fold::World;
use audit_core::{Kind, Stored, Timestamp};
use audit_store::{server_matches, Filter, Reader, StoreError};
use std::collections::{BTreeSet, HashMap, HashSet};
use thiserror::Error;

/// What to look for, and where.
#[derive(Debug)]
pub struct SearchQuery {
    /// The pattern.
    pub matcher: Matcher,
    /// Only the server with this socket path (`-L`/`-S`).
    pub socket: Option<String>,
    /// Only this server: socket path or name.
    pub server: Option<String>,
    /// Only this session (any name it had, or `$ID`).
    pub session: Option<String>,
    /// Only hits while this user had a client attached to the session (commands: that this
    /// user did or could have done).
    pub user: Option<String>,
    /// Only lines that appeared at or after this time.
    pub since: Option<Timestamp>,
    /// Only lines that appeared at or before this time.
    pub until: Option<Timestamp>,
}

impl SearchQuery {
    /// Whether a hit at `t`, with `attached` there then, passes `since`, `until` and `user`
    /// (someone of that name was attached).
    pub fn admits(&self, t: Timestamp, attached: &[&Span]) -> bool {
        !(self.since.is_some_and(|s| t < s) || self.until.is_some_and(|u| t > u))
            && self
                .user
                .as_ref()
                .is_none_or(|user| attached.iter().any(|a| a.user.as_deref() == Some(user)))
    }

    /// Whether the command line `s` passes `user` (that user did it, or could have).
    pub fn admits_act(&self, s: &Stored) -> bool {
        self.user.as_deref().is_none_or(|u| acts::by(s, u))
    }
}

/// Why a search could not run.
#[derive(Debug, Error)]
pub enum SearchError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The server asked for was never recorded.
    #[error("unknown server {}: the store has no events for it (check -L/-S/--server; known: {})", show::escape(.name), show::escape(&.known.join(", ")))]
    UnknownServer {
        /// As asked.
        name: String,
        /// The servers the store knows.
        known: Vec<String>,
    },
    /// The session asked for was never recorded.
    #[error("no session named {} was recorded (tmux-audit sessions lists them)", show::escape(.0))]
    UnknownSession(String),
    /// A pane's last committed chunk, which its spooled output continues, could not be read.
    #[error(transparent)]
    Chunk(#[from] ChunkError),
    /// A pane's spooled output does not render.
    #[error("output not yet committed does not render: {0}")]
    Spooled(#[from] audit_screen::ScreenError),
}

/// What one pass over the log gives the search.
pub struct Log {
    /// Who was attached where, when.
    pub presence: Presence,
    /// Every server in the store (several: `replay` needs `--server`).
    pub servers: BTreeSet<String>,
    /// The `pane-output` events to read, in `seq` order; `true` marks one read only for the
    /// picture it leaves (the pane's chunk before `--since`), not for hits.
    pub chunks: Vec<(Stored, bool)>,
    /// Commands, command lines and tmux commands whose text matches, in range, in `seq` order.
    pub acts: Vec<Stored>,
    /// Each pane's last committed chunk (for output after it, not yet committed).
    pub last: HashMap<(String, String), Stored>,
}

impl Log {
    /// Reads what `query` needs, asking the full-text index for candidates when the pattern
    /// allows: who was where and the commands from every event but output, then the output of
    /// the servers and session asked for.
    pub fn read(store: &dyn Reader, query: &SearchQuery) -> Result<Log, SearchError> {
        let candidates = match query.matcher.index_words() {
            Some(words) => {
                let mut seqs = HashSet::new();
                store.search_candidates(&[words.to_owned()], &Filter::all(), &mut |seq| {
                    seqs.insert(seq);
                    true
                })?;
                Some(seqs)
            }
            None => None,
        };
        let mut reading = Reading::new(query, candidates);
        let mut others: Vec<Kind> = Kind::ALL.to_vec();
        others.retain(|k| !matches!(k, Kind::PaneOutput | Kind::AuditAccess));
        store.events(&Filter::kinds(&others), &mut |s| {
            reading.other(s);
            true
        })?;
        // Each chunk's event comes after its end, so nothing before --since can end after it.
        let outputs = Filter {
            server: query.socket.clone(),
            session: query.session.clone(),
            ..Filter::kinds(&[Kind::PaneOutput])
        };
        store.events(&outputs, &mut |s| {
            reading.output(s);
            true
        })?;
        reading.finish()
    }
}

/// A [`Log`] being read.
struct Reading<'q> {
    query: &'q SearchQuery,
    candidates: Option<HashSet<u64>>,
    world: World,
    presence: Presence,
    servers: BTreeSet<String>,
    seen_server: bool,
    /// The (server, session id)s the asked session had.
    sessions: BTreeSet<(String, String)>,
    chunks: Vec<(Stored, bool)>,
    acts: Vec<Stored>,
    /// Each pane's latest chunk ending before --since: the picture the next one starts from.
    before_since: HashMap<(String, String), Stored>,
    last: HashMap<(String, String), Stored>,
}

impl<'q> Reading<'q> {
    fn new(query: &'q SearchQuery, candidates: Option<HashSet<u64>>) -> Self {
        Reading {
            query,
            candidates,
            world: World::default(),
            presence: Presence::default(),
            servers: BTreeSet::new(),
            seen_server: false,
            sessions: BTreeSet::new(),
            chunks: Vec::new(),
            acts: Vec::new(),
            before_since: HashMap::new(),
            last: HashMap::new(),
        }
    }

    /// Whether `server` is one the query asks for (and notes that it was seen).
    fn on_server(&mut self, server: &str) -> bool {
        let q = self.query;
        let asked = q.socket.as_deref().is_none_or(|s| s == server)
            && q.server
                .as_deref()
                .is_none_or(|want| server_matches(server, want));
        self.seen_server |= asked;
        asked
    }

    /// Notes the session ids the asked session had.
    fn note_session(&mut self, e: &audit_core::Event) {
        if let (Some(want), Some(id)) = (&self.query.session, &e.session_id) {
            if e.session.as_deref() == Some(want) || id == want {
                self.sessions.insert((e.server.clone(), id.clone()));
            }
        }
    }

    /// An event that is not output: who was where, and the commands that match.
    fn other(&mut self, s: Stored) {
        let e = &s.event;
        self.world.apply(e);
        self.presence.follow(&self.world, e.time);
        if !matches!(
            e.kind,
            Kind::AuditStarted | Kind::AuditStopped | Kind::AuditGap
        ) {
            // The daemon's own events name what it watched, not a tmux server.
            self.servers.insert(e.server.clone());
        }
        if !self.on_server(&e.server) {
            return;
        }
        self.note_session(e);
        let q = self.query;
        if acts::matches(&s, &q.matcher) {
            let at = e.from.unwrap_or(e.time);
            if q.since.is_none_or(|t| at >= t) && q.until.is_none_or(|t| at <= t) {
                self.acts.push(s);
            }
        }
    }

    /// A `pane-output` event: a chunk to read, or one that only leaves its picture.
    fn output(&mut self, s: Stored) {
        let e = &s.event;
        if !self.on_server(&e.server) {
            return;
        }
        self.note_session(e);
        let key = (e.server.clone(), e.pane_id.clone().unwrap_or_default());
        self.last.insert(key.clone(), s.clone());
        if self
            .candidates
            .as_ref()
            .is_some_and(|c| !c.contains(&s.seq))
        {
            return;
        }
        let (from, until) = (e.from.unwrap_or(e.time), e.until.unwrap_or(e.time));
        let q = self.query;
        if q.since.is_some_and(|t| until < t) {
            self.before_since.insert(key, s);
        } else if q.until.is_none_or(|t| from <= t) {
            if let Some(before) = self.before_since.remove(&key) {
                self.chunks.push((before, true));
            }
            self.chunks.push((s, false));
        }
    }

    /// The log, or why the query names what was never recorded.
    fn finish(mut self) -> Result<Log, SearchError> {
        let q = self.query;
        if !self.seen_server && (q.socket.is_some() || q.server.is_some()) {
            let name = q.socket.clone().or(q.server.clone()).unwrap_or_default();
            return Err(SearchError::UnknownServer {
                name,
                known: self.servers.into_iter().collect(),
            });
        }
        if let Some(want) = &q.session {
            if self.sessions.is_empty() {
                return Err(SearchError::UnknownSession(want.clone()));
            }
            let sessions = &self.sessions;
            let in_session = |s: &Stored| {
                let e = &s.event;
                e.session_id
                    .as_ref()
                    .is_some_and(|id| sessions.contains(&(e.server.clone(), id.clone())))
            };
            self.chunks.retain(|(s, _)| in_session(s));
            self.acts.retain(in_session);
            self.last.retain(|_, s| in_session(s));
        }
        Ok(Log {
            presence: self.presence,
            servers: self.servers,
            chunks: self.chunks,
            acts: self.acts,
            last: self.last,
        })
    }
}
