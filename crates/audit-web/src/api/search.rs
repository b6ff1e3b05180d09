//! `GET /api/search`: every host's recorded output and commands searched for words (or a
//! regular expression), as `search --json` prints the hits. The search itself is recorded.

use super::Ctx;
use crate::http::{self, ApiError, Body};
use crate::state::lock;
use audit_views::hits::Matcher;
use audit_views::search::{self, SearchQuery};
use hyper::Response;

/// The most hits one answer holds.
const MAX_LIMIT: usize = 1000;

pub(crate) fn answer(ctx: &Ctx) -> Result<Response<Body>, ApiError> {
    let q = &ctx.query;
    let pattern = q.required("q")?;
    let regex = q.flag("regex")?;
    let matcher = if regex {
        Matcher::regex(&pattern)
    } else {
        Matcher::words(&pattern)
    }
    .map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let query = SearchQuery {
        matcher,
        socket: None,
        server: q.text("server"),
        session: q.text("session"),
        user: q.text("user"),
        since: q.time("since")?,
        until: q.time("until")?,
    };
    let mut room = q.count("limit", 200, MAX_LIMIT)?;
    let hosts = ctx.hosts()?;
    ctx.record("search", Some(pattern.clone()), None)?;
    let mut rows = Vec::new();
    let mut more = false;
    let mut unreadable = Vec::new();
    for host in hosts {
        let host = lock(&host);
        ctx.commit_first(&host, "search", Some(pattern.clone()));
        let hits = search::hits(host.store.store.as_ref(), &query, Some(room))
            .map_err(|e| ApiError::BadRequest(e.to_string()))?;
        room -= hits.rows.len().min(room);
        more |= hits.more;
        let name = host.store.host.as_deref();
        rows.extend(hits.rows.iter().map(|r| super::with_host(r, name)));
        unreadable.extend(hits.unreadable.iter().map(|e| e.to_string()));
        if room == 0 {
            more = true;
            break;
        }
    }
    Ok(http::ok(&serde_json::json!({
        "rows": rows,
        "more": more,
        "unreadable": unreadable,
    })))
}
