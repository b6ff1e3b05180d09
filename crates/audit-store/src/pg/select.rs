//! A [`Filter`] as PostgreSQL: a condition over `events e` (joined with `hosts h`) and the
//! values it binds, numbered `$1…` as they are bound, each cast to its type.

use crate::Filter;
use postgres::types::ToSql;

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
    /// matches the enrolled name (`hosts.name`), not the host a record says it is from; `scope`
    /// is the host the query is about, if one (so the session lookup uses its index).
    pub fn filter(&mut self, filter: &Filter, scope: Option<i64>) -> String {
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
        if let Some(session) = &filter.session {
            // Every session that had this name or id (up to `until`), followed by its id, on the
            // same host and server.
            let until = filter.until.map_or(i64::MAX, |t| t.as_micros());
            let name = self.bind(session.clone(), "text");
            let until = self.bind(until, "bigint");
            let host = match scope {
                Some(id) => format!("s.host_id = {} AND ", self.bind(id, "bigint")),
                None => String::new(),
            };
            and.push(format!(
                "(e.host_id, e.session_id, e.server) IN (
                   SELECT s.host_id, s.session_id, s.server FROM events s
                   WHERE {host}(s.session = {name} OR s.session_id = {name})
                     AND s.session_id IS NOT NULL AND s.time <= {until})"
            ));
        }
        and.join(" AND ")
    }
}
