//! A [`Filter`] as SQL: a `WHERE` clause over the indexed copies of event fields, with its
//! parameters, so SQLite picks an index instead of the views reading the whole log.

use crate::Filter;
use rusqlite::types::Value;

/// A condition on `events` (aliased `e`) and the values it binds, in order.
pub(super) struct Clause {
    pub sql: String,
    pub params: Vec<Value>,
}

impl Clause {
    /// The conditions `filter` sets, joined with `AND` (`1` when it sets none).
    pub fn of(filter: &Filter) -> Clause {
        let mut clause = Clause {
            sql: String::from("1"),
            params: Vec::new(),
        };
        if let Some(t) = filter.since {
            clause.and("e.time >= ?", [Value::Integer(t.as_micros())]);
        }
        if let Some(t) = filter.until {
            clause.and("e.time <= ?", [Value::Integer(t.as_micros())]);
        }
        if let Some(host) = &filter.host {
            clause.and("e.host = ?", [text(host)]);
        }
        if let Some(server) = &filter.server {
            if server.contains('/') {
                clause.and("e.server = ?", [text(server)]);
            } else {
                // A socket name: the last path component (see `server_matches`).
                clause.and(
                    "substr(e.server, length(e.server) - length(?)) = '/' || ?",
                    [text(server), text(server)],
                );
            }
        }
        if let Some(pane) = &filter.pane {
            clause.and("e.pane = ?", [text(pane)]);
        }
        if let Some(user) = &filter.user {
            clause.and("e.user = ?", [text(user)]);
        }
        if !filter.kinds.is_empty() {
            let marks = vec!["?"; filter.kinds.len()].join(", ");
            let kinds = filter.kinds.iter().map(|k| text(k.as_str()));
            clause.and(&format!("e.kind IN ({marks})"), kinds);
        }
        if let Some(session) = &filter.session {
            // Every session that had this name or id (up to `until`), followed by its id.
            let until = filter.until.map_or(i64::MAX, |t| t.as_micros());
            clause.and(
                "(e.session_id, e.server) IN (SELECT session_id, server FROM events
                   WHERE (session = ? OR session_id = ?) AND session_id IS NOT NULL
                     AND time <= ?)",
                [text(session), text(session), Value::Integer(until)],
            );
        }
        clause
    }

    fn and(&mut self, condition: &str, params: impl IntoIterator<Item = Value>) {
        self.sql.push_str(" AND ");
        self.sql.push_str(condition);
        self.params.extend(params);
    }
}

fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}
