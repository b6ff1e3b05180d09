//! A [`Filter`] as PostgreSQL: a condition over `events e` (joined with `hosts h`) and the
//! values it binds, numbered `$1…` as they are bound, each cast to its type.

use crate::Filter;
use postgres::types::ToSql;

/// A session as (host id, session id, server): sessions are per host and server.
pub(super) type Session = (i64, String, String);

/// Every session that had the name or id `$1` up to time `$2`, followed by its id: what
/// `Filter::session` means. Any record naming the session counts, not only its
/// `session-created` and `session-renamed`: those of a long-lived session may be in a month
/// retention has dropped.
pub(super) const SESSIONS: &str = "SELECT DISTINCT host_id, session_id, server FROM events
    WHERE (session = $1::text OR session_id = $1::text)
      AND session_id IS NOT NULL AND time <= $2::bigint";

/// [`SESSIONS`] on the host `$3` alone (a plan of its own, so the host's index is used).
pub(super) const SESSIONS_OF_HOST: &str = "SELECT DISTINCT host_id, session_id, server FROM events
    WHERE host_id = $3::bigint
      AND (session = $1::text OR session_id = $1::text)
      AND session_id IS NOT NULL AND time <= $2::bigint";

/// SQL being built and the values it binds, in order.
#[derive(Default)]
pub(super) struct Clause {
    params: Vec<Box<dyn ToSql + Sync>>,
}

impl Clause {
    /// Binds `value` and returns its placeholder, cast to `ty`.
    pub fn bind<T: ToSql + Sync + 'static>(&mut self, value: T, ty: &str) -> String {
        self.params.push(Box::new(value));
        format!("${}::{ty}", self.params.len())
    }

    /// The bound values, for `query`.
    pub fn params(&self) -> Vec<&(dyn ToSql + Sync)> {
        self.params.iter().map(|p| p.as_ref() as _).collect()
    }

    /// The conditions `filter` sets, joined with `AND` (`TRUE` when it sets none). `host`
    /// matches the enrolled name (`hosts.name`), not the host a record says it is from; the
    /// session is matched by `sessions`, what [`SESSIONS`] found for it.
    pub fn filter(&mut self, filter: &Filter, sessions: Option<&[Session]>) -> String {
        let mut and = vec!["TRUE".to_owned()];
        if let Some(t) = filter.since {
            and.push(format!("e.time >= {}", self.bind(t.as_micros(), "bigint")));
        }
        if let Some(t) = filter.until {
            and.push(format!("e.time <= {}", self.bind(t.as_micros(), "bigint")));
        }
        if let Some(host) = &filter.host {
            and.push(format!("h.name = {}", self.bind(host.clone(), "text")));
        }
        if let Some(server) = &filter.server {
            let s = self.bind(server.clone(), "text");
            if server.contains('/') {
                and.push(format!("e.server = {s}"));
            } else {
                // A socket name: the last path component (see `server_matches`); no pattern
                // syntax, so `%` and `_` are themselves.
                and.push(format!(
                    "right(e.server, char_length({s}) + 1) = '/' || {s}"
                ));
            }
        }
        if let Some(pane) = &filter.pane {
            and.push(format!("e.pane = {}", self.bind(pane.clone(), "text")));
        }
        if let Some(user) = &filter.user {
            and.push(format!("e.\"user\" = {}", self.bind(user.clone(), "text")));
        }
        if !filter.kinds.is_empty() {
            let kinds: Vec<String> = filter.kinds.iter().map(|k| k.as_str().to_owned()).collect();
            and.push(format!("e.kind = ANY({})", self.bind(kinds, "text[]")));
        }
        if let Some(sessions) = sessions {
            // The sessions the filter's name or id stands for, found beforehand
            // ([`SESSIONS`]): an indexed lookup the planner can size.
            let hosts: Vec<i64> = sessions.iter().map(|s| s.0).collect();
            let ids: Vec<String> = sessions.iter().map(|s| s.1.clone()).collect();
            let servers: Vec<String> = sessions.iter().map(|s| s.2.clone()).collect();
            and.push(format!(
                "(e.host_id, e.session_id, e.server) IN (SELECT * FROM unnest({}, {}, {}))",
                self.bind(hosts, "bigint[]"),
                self.bind(ids, "text[]"),
                self.bind(servers, "text[]")
            ));
        }
        and.join(" AND ")
    }
}
