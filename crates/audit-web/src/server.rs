//! The runtime the web UI runs on (its own, on its own thread, so callers stay synchronous),
//! and its start: TLS and plaintext rules, the group and PAM checked, the store opened.

use crate::auth::{account, pam};
use crate::config::Config;
use crate::error::WebError;
use crate::route;
use crate::state::State;
use audit_http::Running;
use std::sync::Arc;
use std::time::Duration;

/// How long requests in flight may take to finish at a stop.
const STOP_GRACE: Duration = Duration::from_secs(2);

/// A running web UI (stop it with [`Running::stopper`], or by dropping it).
pub type Web = Running;

/// Starts the web UI on a thread of its own: checks what would make every login fail (the
/// auditors' group, Linux-PAM) and the TLS files, opens the store and binds the address.
pub fn serve(config: Config) -> Result<Web, WebError> {
    let tls = match &config.tls {
        Some(files) => Some(audit_http::tls::server_config(files)?),
        None if audit_http::plaintext_allowed(config.listen, config.allow_plaintext) => None,
        None => return Err(WebError::Plaintext(config.listen)),
    };
    let gid = account::group(&config.auditors_group)
        .ok_or_else(|| WebError::NoGroup(config.auditors_group.clone()))?;
    pam::available()?;
    let bind = |error| WebError::Bind {
        addr: config.listen,
        error,
    };
    let listener = audit_http::bind(config.listen).map_err(bind)?;
    let state = Arc::new(State::new(config, gid, tls.is_some())?);
    state.warm_up();
    let options = audit_http::Options {
        grace: STOP_GRACE,
        ..audit_http::Options::default()
    };
    let handler = move |peer, req| route::handle(state.clone(), peer, req);
    // Views block on stores (and PAM on its delay): up to 64 at once on the blocking pool.
    audit_http::start("audit-web", 2, 64, listener, tls, options, handler)
        .map_err(WebError::Runtime)
}
