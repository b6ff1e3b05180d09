//! `GET /api/who?at=` and `GET /api/now`: the clients attached (at a moment, or now), with
//! the record's caveats.

use super::Ctx;
use crate::http::{self, ApiError, Body};
use crate::state::lock;
use audit_store::Filter;
use audit_views::who;
use hyper::Response;

/// With `at`: as of the request's `at` (now when absent).
pub(crate) fn answer(ctx: &Ctx, at: bool) -> Result<Response<Body>, ApiError> {
    let at = if at { ctx.query.time("at")? } else { None };
    let mut rows = Vec::new();
    let mut warnings = Vec::new();
    for host in ctx.hosts()? {
        let host = lock(&host);
        let found = who::attached(&host.store, at, &Filter::all())?;
        let name = host.store.host.as_deref();
        rows.extend(found.clients.iter().map(|c| super::with_host(c, name)));
        warnings.extend(found.warnings);
    }
    Ok(http::ok(
        &serde_json::json!({"rows": rows, "warnings": warnings}),
    ))
}
