//! `GET /api/commands`: what was run, and who did it, as `commands --json` prints it (plus the
//! text and place the CLI's table shows).

use super::Ctx;
use crate::http::{self, ApiError, Body};
use crate::state::lock;
use audit_views::commands::{self, CommandRow, CommandsQuery};
use hyper::Response;
use serde_json::Value;

/// The most rows one answer holds.
const MAX_ROWS: usize = 5000;

pub(crate) fn answer(ctx: &Ctx) -> Result<Response<Body>, ApiError> {
    let q = &ctx.query;
    let query = CommandsQuery {
        session: q.text("session"),
        user: q.text("user"),
        since: q.time("since")?,
        until: q.time("until")?,
        server: q.text("server"),
        ..CommandsQuery::default()
    };
    let mut rows = Vec::new();
    let mut more = false;
    for host in ctx.hosts()? {
        let host = lock(&host);
        let found = commands::rows(host.store.store.as_ref(), &query)
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        for row in &found {
            if rows.len() == MAX_ROWS {
                more = true;
                break;
            }
            rows.push(command_json(row, host.store.host.as_deref()));
        }
    }
    Ok(http::ok(&serde_json::json!({"rows": rows, "more": more})))
}

/// A command row as `commands --json` prints it, with its `text`, `place` and `host`.
pub(crate) fn command_json(row: &CommandRow, host: Option<&str>) -> Value {
    let mut v = super::with_host(row, host);
    if let Value::Object(map) = &mut v {
        map.insert("text".into(), Value::String(row.text()));
        map.insert("place".into(), Value::String(row.place()));
    }
    v
}
