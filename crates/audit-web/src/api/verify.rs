//! `GET /api/verify`: each host's chain, seals and tail checked, as `verify --json` reports.

use super::Ctx;
use crate::http::{self, ApiError, Body};
use crate::state::lock;
use audit_state::StateDir;
use audit_views::verify;
use hyper::Response;

pub(crate) fn answer(ctx: &Ctx) -> Result<Response<Body>, ApiError> {
    let key = ctx.state.config.key.as_ref();
    let mut out = Vec::new();
    for host in ctx.hosts()? {
        let host = lock(&host);
        let h = &host.store;
        // A host's own store has its daemon's state beside it; a central store's hosts do not.
        let state = h.host.is_none().then(|| StateDir::of(&h.location));
        let report = verify::report(h.store.as_ref(), &h.location, key, state.as_ref())
            .map_err(|e| ApiError::Internal(e.to_string()))?;
        out.push(serde_json::json!({
            "host": h.host,
            "ok": report.ok(),
            "events": report.events,
            "report": report.json(),
        }));
    }
    Ok(http::ok(&serde_json::json!({"hosts": out})))
}
