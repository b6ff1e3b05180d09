//! `GET /api/log`: the events themselves, a page at a time, across the hosts named.

use super::Ctx;
use crate::http::{self, ApiError, Body};
use crate::state::lock;
use audit_core::Kind;
use audit_views::log::{self, LogQuery};
use hyper::Response;

/// The most rows one page shows.
const MAX_LIMIT: usize = 1000;

pub(crate) fn answer(ctx: &Ctx) -> Result<Response<Body>, ApiError> {
    let q = &ctx.query;
    let kinds = q
        .parsed("kind", |v| {
            v.split(',')
                .map(|k| k.trim().parse::<Kind>().map_err(|e| e.to_string()))
                .collect::<Result<Vec<Kind>, String>>()
        })?
        .unwrap_or_default();
    let query = LogQuery {
        session: q.text("session"),
        kinds,
        user: q.text("user"),
        since: q.time("since")?,
        until: q.time("until")?,
    };
    let filter = query.filter();
    let mut skip = q.count("offset", 0, usize::MAX)?;
    let mut room = q.count("limit", 200, MAX_LIMIT)?;
    let mut total = 0;
    let mut rows = Vec::new();
    // Hosts one after the other: the page's offset runs through them in that order.
    for host in ctx.hosts()? {
        let host = lock(&host);
        let page = log::rows(host.store.store.as_ref(), &filter, skip, Some(room))?;
        total += page.total;
        skip = skip.saturating_sub(page.total);
        room -= page.rows.len();
        let name = host.store.host.as_deref();
        rows.extend(page.rows.iter().map(|s| super::with_host(s, name)));
    }
    Ok(http::ok(&serde_json::json!({"rows": rows, "total": total})))
}
