//! `GET /api/sessions`: a page of session rows, every host's index brought up to date first.

use super::Ctx;
use crate::http::{self, ApiError, Body};
use crate::state::lock;
use audit_core::Timestamp;
use audit_views::sessions::{self, Order, SessionQuery, SessionRow, Sort};
use hyper::Response;

/// The most rows one page shows.
const MAX_LIMIT: usize = 500;

pub(crate) fn answer(ctx: &Ctx) -> Result<Response<Body>, ApiError> {
    let q = &ctx.query;
    let query = SessionQuery {
        host: q.text("host"),
        session: q.text("session"),
        user: q.text("user"),
        since: q.time("since")?,
        until: q.time("until")?,
        q: q.text("q"),
        sort: q.parsed("sort", str::parse::<Sort>)?.unwrap_or_default(),
        order: q.parsed("order", str::parse::<Order>)?.unwrap_or_default(),
        offset: q.count("offset", 0, usize::MAX)?,
        limit: q.count("limit", 50, MAX_LIMIT)?,
    };
    let rows = all_rows(ctx)?;
    Ok(http::ok(&sessions::page(rows, &query)))
}

/// Every session row of the hosts the request names, each index refreshed.
pub(crate) fn all_rows(ctx: &Ctx) -> Result<Vec<SessionRow>, ApiError> {
    let now = Timestamp::now();
    let mut rows = Vec::new();
    for host in ctx.hosts()? {
        let mut host = lock(&host);
        let host = &mut *host;
        host.index.refresh(host.store.store.as_ref())?;
        rows.extend(host.index.rows(now));
    }
    Ok(rows)
}
