//! `GET /api/session`: one session whole — its row, a lane per client, its panes, what was
//! run in it, its violations, alerts and gaps.

use super::{commands::command_json, Ctx};
use crate::http::{self, ApiError, Body};
use crate::state::lock;
use audit_core::{Kind, Severity, Timestamp};
use audit_store::Filter;
use audit_views::commands::{self, CommandsQuery};
use audit_views::{log, overview};
use hyper::Response;
use serde_json::{json, Value};

pub(crate) fn answer(ctx: &Ctx) -> Result<Response<Body>, ApiError> {
    let server = ctx.query.required("server")?;
    let id = ctx.query.required("id")?;
    let host = ctx.host()?;
    let mut host = lock(&host);
    // Its panes' recordings as far as they go now (the daemon commits what it holds).
    ctx.commit_first(&host, "replay", None);
    let host = &mut *host;
    let store = host.store.store.as_ref();
    host.index.refresh(store)?;
    // A session id is reused by a later server on the same socket: the latest one is meant.
    let row = (host.index.rows(Timestamp::now()).into_iter())
        .filter(|r| r.summary.server == server && r.summary.session_id == id)
        .max_by_key(|r| r.summary.created)
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "no session {} on {}",
                audit_views::show::escape(&id),
                audit_views::show::escape(&server)
            ))
        })?;
    let (from, to) = (row.summary.created, row.summary.closed);
    let detail = overview::session(store, &server, &id, from, to)?;
    let acts = commands::rows(
        store,
        &CommandsQuery {
            session: Some(id.clone()),
            server: Some(server.clone()),
            since: Some(from),
            until: to,
            ..CommandsQuery::default()
        },
    )
    .map_err(|e| ApiError::Internal(e.to_string()))?;
    let hostname = host.store.host.as_deref();
    let marked = |kind: Kind| Filter {
        session: Some(id.clone()),
        server: Some(server.clone()),
        since: Some(from),
        until: to,
        ..Filter::kinds(&[kind])
    };
    let events = |kind| -> Result<Vec<Value>, ApiError> {
        let page = log::rows(store, &marked(kind), 0, Some(1000))?;
        Ok(page
            .rows
            .iter()
            .filter(|s| s.event.server == server)
            .filter(|s| kind != Kind::TmuxCommand || s.event.severity == Some(Severity::Alert))
            .map(|s| super::with_host(s, hostname))
            .collect())
    };
    let mut answer = json!({
        "session": row,
        "commands": acts.iter().map(|r| command_json(r, hostname)).collect::<Vec<_>>(),
        "violations": events(Kind::PolicyViolation)?,
        "alerts": events(Kind::TmuxCommand)?,
    });
    if let (Value::Object(out), Ok(Value::Object(more))) =
        (&mut answer, serde_json::to_value(&detail))
    {
        out.extend(more);
    }
    Ok(http::ok(&answer))
}
