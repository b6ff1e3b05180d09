//! `GET /api/live`: a pane's screen now, rendered on the server (escape sequences never reach
//! the page), answered as soon as it changes after the `after` cursor, else within a second.
//! Each login keeps one watch per pane: the first request starts it (and records the
//! `replay-follow` access), later ones feed it what the pane printed since.

use super::Ctx;
use crate::http::{self, ApiError, Body};
use crate::state::lock;
use audit_core::Timestamp;
use audit_state::StateDir;
use audit_views::watch::Watch;
use hyper::Response;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A long poll waits this long for a change at most.
const WAIT: Duration = Duration::from_secs(1);
/// How often a waiting poll looks at the pane's spools.
const STEP: Duration = Duration::from_millis(100);
/// A watch nobody asked about for this long is dropped.
const UNUSED: Duration = Duration::from_secs(60);

/// Which watch: the login's user, then host, server and pane.
pub(crate) type WatchKey = (String, Option<String>, String, String);

/// A watch and when it was last asked about.
pub(crate) struct Watched {
    watch: Watch,
    used: Instant,
}

pub(crate) async fn answer(ctx: Ctx) -> Result<Response<Body>, ApiError> {
    let after = ctx.query.text("after").unwrap_or_default();
    let ctx = Arc::new(ctx);
    let watched = {
        let ctx = ctx.clone();
        blocking(move || watched(&ctx)).await?
    };
    let deadline = Instant::now() + WAIT;
    loop {
        let w = watched.clone();
        let screen = blocking(move || {
            let mut w = lock(&w);
            w.used = Instant::now();
            w.watch
                .poll()
                .map_err(|e| ApiError::Internal(format!("cannot follow the pane: {e}")))?;
            Ok(w.watch.screen())
        })
        .await?;
        let cursor = screen.version.to_string();
        if cursor != after || Instant::now() >= deadline {
            let mut v = serde_json::to_value(&screen).unwrap_or_default();
            if let serde_json::Value::Object(map) = &mut v {
                map.insert("cursor".into(), cursor.into());
                map.insert("at".into(), Timestamp::now().to_string().into());
            }
            return Ok(http::ok(&v));
        }
        tokio::time::sleep(STEP).await;
    }
}

/// The login's watch of the pane the request names, started (and recorded) if new.
fn watched(ctx: &Ctx) -> Result<Arc<Mutex<Watched>>, ApiError> {
    let server = ctx.query.required("server")?;
    let pane = ctx.query.required("pane")?;
    let host = ctx.host()?;
    let host_name = lock(&host).store.host.clone();
    let key: WatchKey = (
        ctx.login.user.clone(),
        host_name,
        server.clone(),
        pane.clone(),
    );
    {
        let mut watches = lock(&ctx.state.watches);
        watches.retain(|_, w| lock(w).used.elapsed() < UNUSED);
        if let Some(w) = watches.get(&key) {
            return Ok(w.clone());
        }
    }
    ctx.record(
        "replay-follow",
        Some(format!("{pane} on {server}")),
        Some(pane.clone()),
    )?;
    let host = lock(&host);
    let state = StateDir::of(&host.store.location);
    let watch =
        Watch::start(host.store.store.as_ref(), &state, &server, &pane).map_err(|e| match e {
            audit_views::watch::WatchError::Recording(e) => super::pane::recording_error(e),
            e => ApiError::Internal(format!("cannot watch the pane: {e}")),
        })?;
    let w = Arc::new(Mutex::new(Watched {
        watch,
        used: Instant::now(),
    }));
    lock(&ctx.state.watches).insert(key, w.clone());
    Ok(w)
}

async fn blocking<T: Send + 'static>(
    job: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(job)
        .await
        .unwrap_or_else(|e| Err(ApiError::Internal(format!("the view failed: {e}"))))
}
