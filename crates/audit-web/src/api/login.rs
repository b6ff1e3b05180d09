//! `POST /api/login`: the password checked by PAM, the account by the auditors' group, each
//! attempt recorded in the audit log, failures limited per address and per user.

use super::visitor;
use crate::auth::{account, pam};
use crate::http::{self, ApiError, Body};
use crate::state::{lock, State};
use audit_views::access::{self, View};
use hyper::Response;
use std::net::SocketAddr;
use std::time::Instant;
use zeroize::Zeroizing;

#[derive(serde::Deserialize)]
struct Credentials {
    user: String,
    password: Zeroizing<String>,
}

/// Checks the credentials in `body` and, for an auditor, starts a login (the cookie).
pub(crate) fn login(
    state: &State,
    peer: SocketAddr,
    body: &[u8],
) -> Result<Response<Body>, ApiError> {
    let body = Zeroizing::new(body.to_vec());
    let creds: Credentials = serde_json::from_slice(&body).map_err(|_| {
        ApiError::BadRequest(r#"the body must be {"user": "…", "password": "…"}"#.into())
    })?;
    let user = creds.user.trim().to_owned();
    if user.is_empty() {
        return Err(ApiError::BadRequest("give a user name".into()));
    }
    if let Err(wait) = lock(&state.failed).check(peer.ip(), &user, Instant::now()) {
        // Not recorded one by one (a flood would fill the log); the failures before were.
        tracing::warn!(%peer, "refusing a login: too many failed logins");
        let secs = wait.as_secs().max(1);
        return Err(ApiError::TooMany(
            format!("too many failed logins; try again in {secs} s"),
            secs,
        ));
    }
    let record = |view: &'static str, uid: Option<u32>, why: Option<String>| {
        let v = visitor(state, &user, uid, peer);
        let event = access::visit_event(
            &state.config.location,
            &v,
            &View {
                view,
                query: why,
                pane: None,
            },
        );
        state.record(event)
    };
    match pam::authenticate(&state.config.pam_service, &user, &creds.password) {
        Ok(()) => {}
        Err(pam::PamError::WrongPassword) => {
            lock(&state.failed).failed(peer.ip(), &user, Instant::now());
            record(
                "web-login-failed",
                None,
                Some("wrong user or password".into()),
            )?;
            return Err(ApiError::Unauthorized("wrong user or password".into()));
        }
        Err(pam::PamError::Refused(why)) => {
            record("web-login-refused", None, Some(why.clone()))?;
            return Err(ApiError::Forbidden(why));
        }
        Err(e) => {
            tracing::error!("PAM failed: {e}");
            return Err(ApiError::Unavailable(format!(
                "cannot check the password: {e}"
            )));
        }
    }
    let account = account::lookup(&user)
        .ok_or_else(|| ApiError::Forbidden(format!("{user} has no account on this host")))?;
    lock(&state.failed).succeeded(peer.ip(), &user);
    if !account::in_group(&account, state.auditors_gid) {
        let why = format!(
            "{} is not in the group {}",
            account.user, state.config.auditors_group
        );
        record("web-login-refused", Some(account.uid), Some(why.clone()))?;
        return Err(ApiError::Forbidden(why));
    }
    record("web-login", Some(account.uid), None)?;
    let (token, login) =
        lock(&state.logins).create(account.user.clone(), account.uid, Instant::now());
    let mut r = http::ok(&serde_json::json!({"user": login.user, "csrf": login.csrf}));
    r.headers_mut()
        .insert("set-cookie", http::login_cookie(&token, state.tls, None));
    Ok(r)
}
