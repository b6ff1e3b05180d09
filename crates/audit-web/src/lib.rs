//! tmux-audit's web UI: what an auditor reads in the CLI — sessions, a session's timeline,
//! replay, search, who is attached now, a pane live, the chain's integrity — in a browser,
//! behind a login, every view of recorded content itself recorded.
//!
//! ```text
//! browser ──HTTPS──▶ audit_http::serve (limits, TLS, HTTP/1.1)
//!    │                    │
//!    │               route ─── pages and assets (web/assets, compiled in: assets)
//!    │                    ├─── POST /api/login ─▶ auth: PAM password, auditors' group,
//!    │                    │                       failed-login limits, login table
//!    │                    └─── GET /api/<view> ─▶ login + CSRF checked ─▶ api::<view>
//!    │                                                  │
//!    │             state: the hosts' stores, each with its SessionIndex (incremental)
//!    │                                                  │
//!    └──────── JSON rows ◀── audit_views (the library the CLI prints from) ◀── audit_store
//! ```
//!
//! * [`serve`] starts it on a runtime of its own; [`Config`] says how.
//! * `auth`: Linux-PAM through `libpam.so.0` opened at run time; group membership from the
//!   system's user database; logins as random tokens kept only as hashes; failed-login
//!   limits per address and per user.
//! * `api`: one module per view. Views of recorded content (replay, export, search, live)
//!   and every login attempt are appended as `audit-access` events (recorded by `web`, with
//!   the auditor's user name and address) before anything is shown; when that append fails
//!   the view is refused.
//! * Every answer carries a strict Content-Security-Policy; the front end builds its DOM
//!   from text, never markup, so recorded text cannot become script.
#![deny(missing_docs)]

mod api;
mod assets;
pub mod auth;
mod config;
mod error;
mod http;
mod route;
mod server;
mod state;

pub use audit_http::{Stopper, TlsFiles};
pub use config::{Config, DEFAULT_PORT};
pub use error::WebError;
pub use server::{serve, Web};
