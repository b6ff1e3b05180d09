//! The API's views: each reads the query, asks `audit_views` (the library the CLI uses too),
//! and answers the rows as JSON — the CLI's `--json` objects, with `host` on a central store.
//! A view that shows recorded content (a replay, an export, a search, a live pane) is first
//! recorded as an `audit-access` event naming the auditor, and refused if that fails.

pub(crate) mod commands;
pub(crate) mod live;
pub(crate) mod log;
pub(crate) mod login;
pub(crate) mod pane;
pub(crate) mod search;
pub(crate) mod session;
pub(crate) mod sessions;
pub(crate) mod verify;
pub(crate) mod who;

use crate::auth::logins::Login;
use crate::http::{self, ApiError, Body, Query};
use crate::state::{lock, Host, State};
use audit_views::access::{self, View, Visitor};
use hyper::Response;
use serde::Serialize;
use serde_json::Value;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// One API request: who asks, from where, and what.
pub(crate) struct Ctx {
    /// The server's state.
    pub state: Arc<State>,
    /// The logged-in auditor.
    pub login: Login,
    /// The client's address.
    pub peer: SocketAddr,
    /// The query parameters.
    pub query: Query,
}

impl Ctx {
    /// Records that the auditor views `view` (of `pane`, or with `query`); `Err` when it could
    /// not be recorded: the view must then not be served.
    pub fn record(
        &self,
        view: &'static str,
        query: Option<String>,
        pane: Option<String>,
    ) -> Result<(), ApiError> {
        let visitor = visitor(
            &self.state,
            &self.login.user,
            Some(self.login.uid),
            self.peer,
        );
        let view = View { view, query, pane };
        let event = access::visit_event(&self.state.config.location, &visitor, &view);
        self.state.record(event)
    }

    /// Asks the daemon recording a host's own store (when one does) to commit what its panes
    /// printed, so that a search or a replay opened now includes the last seconds. The daemon
    /// records that request as its own `audit-access` (the kernel's uid is the web UI's; the
    /// arguments name the auditor); `record` still records the auditor's. Without a daemon, or
    /// when it does not answer in time, the view shows what is committed.
    pub fn commit_first(&self, host: &Host, view: &'static str, query: Option<String>) {
        let h = &host.store;
        if h.host.is_some() {
            return; // a central store: no daemon beside it
        }
        let state = audit_state::StateDir::of(&h.location);
        if state.is_recording() != Some(true) {
            return;
        }
        let request = audit_state::control::Request {
            view: view.into(),
            query: query.map(|q| q.chars().take(512).collect()),
            pane: None,
            argv: vec![
                "tmux-audit web".into(),
                format!("for {}", self.login.user),
                format!("from {}", self.peer.ip()),
            ],
        };
        let asked = audit_state::control::ask(
            state.control_socket(),
            &request,
            std::time::Duration::from_millis(2500),
        );
        if let Err(e) = asked {
            tracing::warn!("the daemon did not commit the panes' latest output first: {e}");
        }
    }

    /// The hosts the request's `host` names (every host when none).
    pub fn hosts(&self) -> Result<Vec<Arc<Mutex<Host>>>, ApiError> {
        lock(&self.state.hosts).select(self.query.text("host").as_deref())
    }

    /// The one host the request's `host` names (or the only one).
    pub fn host(&self) -> Result<Arc<Mutex<Host>>, ApiError> {
        lock(&self.state.hosts).one(self.query.text("host").as_deref())
    }
}

/// The web UI as the recorder of an access by `user` from `peer`.
pub(crate) fn visitor(state: &State, user: &str, uid: Option<u32>, peer: SocketAddr) -> Visitor {
    Visitor {
        host: state.config.host_name.clone(),
        user: user.to_owned(),
        uid,
        origin: peer.ip().to_string(),
        pid: std::process::id(),
        recorded_by: "web",
    }
}

/// Answers the GET view `name`.
pub(crate) fn view(ctx: &Ctx, name: &str) -> Result<Response<Body>, ApiError> {
    match name {
        "me" => me(ctx),
        "sessions" => sessions::answer(ctx),
        "session" => session::answer(ctx),
        "who" => who::answer(ctx, true),
        "now" => who::answer(ctx, false),
        "log" => log::answer(ctx),
        "commands" => commands::answer(ctx),
        "search" => search::answer(ctx),
        "verify" => verify::answer(ctx),
        "pane" => pane::overview(ctx),
        "cast" => pane::cast(ctx),
        "export" => pane::export(ctx),
        _ => Err(ApiError::NotFound(format!(
            "no such view {}",
            audit_views::show::escape(&name.chars().take(100).collect::<String>())
        ))),
    }
}

/// Who is logged in, the CSRF token the page sends back, and what the store holds.
fn me(ctx: &Ctx) -> Result<Response<Body>, ApiError> {
    let hosts = lock(&ctx.state.hosts);
    Ok(http::ok(&serde_json::json!({
        "user": ctx.login.user,
        "csrf": ctx.login.csrf,
        "central": hosts.central(),
        "hosts": hosts.names(),
    })))
}

/// `value` as a JSON object, with `host` added when there is one.
pub(crate) fn with_host<T: Serialize>(value: &T, host: Option<&str>) -> Value {
    let mut v = serde_json::to_value(value).unwrap_or(Value::Null);
    if let (Some(host), Value::Object(map)) = (host, &mut v) {
        map.insert("host".into(), Value::String(host.to_owned()));
    }
    v
}
