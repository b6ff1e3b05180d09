//! Search: which recorded lines and command lines match a pattern, when each appeared, and who
//! was attached then — the store's full-text candidates confirmed in each chunk as it was shown
//! ([`crate::hits`]), dated and placed by [`Presence`].

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
    /// allows.
    pub fn read(store: &dyn Reader, query: &SearchQuery) -> Result<Log, SearchError> {
        let (args, matcher) = (query, &query.matcher);
        let candidates = match matcher.index_words() {
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
        let candidates = candidates.as_ref();
        let socket = query.socket.clone();
        let on_server = |server: &str| {
            socket.as_deref().is_none_or(|s| s == server)
                && args
                    .server
                    .as_deref()
                    .is_none_or(|want| server_matches(server, want))
        };
        let mut world = World::default();
        let mut presence = Presence::default();
        let mut servers = BTreeSet::new();
        let mut seen_server = false;
        let mut sessions: BTreeSet<(String, String)> = BTreeSet::new();
        let mut chunks = Vec::new();
        let mut acts = Vec::new();
        let mut before_since: HashMap<(String, String), Stored> = HashMap::new();
        let mut last: HashMap<(String, String), Stored> = HashMap::new();
        // Who was where, and the commands: every event but output, which is the bulk.
        let mut others: Vec<Kind> = Kind::ALL.to_vec();
        others.retain(|k| !matches!(k, Kind::PaneOutput | Kind::AuditAccess));
        store.events(&Filter::kinds(&others), &mut |s| {
            let e = &s.event;
            world.apply(e);
            presence.follow(&world, e.time);
            if !matches!(
                e.kind,
                Kind::AuditStarted | Kind::AuditStopped | Kind::AuditGap
            ) {
                // The daemon's own events name what it watched, not a tmux server.
                servers.insert(e.server.clone());
            }
            if !on_server(&e.server) {
                return true;
            }
            seen_server = true;
            if let (Some(want), Some(id)) = (&args.session, &e.session_id) {
                if e.session.as_deref() == Some(want) || id == want {
                    sessions.insert((e.server.clone(), id.clone()));
                }
            }
            if acts::matches(&s, matcher) {
                let at = e.from.unwrap_or(e.time);
                if args.since.is_none_or(|t| at >= t) && args.until.is_none_or(|t| at <= t) {
                    acts.push(s);
                }
            }
            true
        })?;
        // The output of the servers and session asked for (each chunk's event comes after its
        // end, so nothing before --since can end after it).
        let outputs = Filter {
            server: socket.clone(),
            session: args.session.clone(),
            ..Filter::kinds(&[Kind::PaneOutput])
        };
        store.events(&outputs, &mut |s| {
            let e = &s.event;
            if !on_server(&e.server) {
                return true;
            }
            seen_server = true;
            if let (Some(want), Some(id)) = (&args.session, &e.session_id) {
                if e.session.as_deref() == Some(want) || id == want {
                    sessions.insert((e.server.clone(), id.clone()));
                }
            }
            let key = (e.server.clone(), e.pane_id.clone().unwrap_or_default());
            last.insert(key.clone(), s.clone());
            if candidates.is_some_and(|c| !c.contains(&s.seq)) {
                return true;
            }
            let (from, until) = (e.from.unwrap_or(e.time), e.until.unwrap_or(e.time));
            if args.since.is_some_and(|t| until < t) {
                before_since.insert(key, s);
            } else if args.until.is_none_or(|t| from <= t) {
                if let Some(before) = before_since.remove(&key) {
                    chunks.push((before, true));
                }
                chunks.push((s, false));
            }
            true
        })?;
        if !seen_server && (socket.is_some() || args.server.is_some()) {
            let name = socket.or(args.server.clone()).unwrap_or_default();
            return Err(SearchError::UnknownServer {
                name,
                known: servers.into_iter().collect(),
            });
        }
        if let Some(want) = &args.session {
            if sessions.is_empty() {
                return Err(SearchError::UnknownSession(want.clone()));
            }
            let in_session = |s: &Stored| {
                let e = &s.event;
                e.session_id
                    .as_ref()
                    .is_some_and(|id| sessions.contains(&(e.server.clone(), id.clone())))
            };
            chunks.retain(|(s, _)| in_session(s));
            acts.retain(in_session);
            last.retain(|_, s| in_session(s));
        }
        Ok(Log {
            presence,
            servers,
            chunks,
            acts,
            last,
        })
    }
}
