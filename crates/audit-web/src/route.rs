//! Every request's way: pages and assets, the login, then the API views — each view behind
//! the login check (and a POST behind the CSRF check), computed off the async threads.

use crate::api::{self, Ctx};
use crate::assets;
use crate::auth::logins::{self, Login};
use crate::http::{self, ApiError, Body, Query};
use crate::state::{lock, State};
use hyper::body::Incoming;
use hyper::{Method, Request, Response};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The largest request body (a login's JSON).
const MAX_BODY: usize = 16 * 1024;
/// How long a request body may take.
const BODY_TIMEOUT: Duration = Duration::from_secs(10);

/// Answers one request; every answer carries the hardening headers.
pub(crate) async fn handle(
    state: Arc<State>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let cacheable = path.starts_with("/assets/") && !path.ends_with(".html");
    let mut answer = route(state.clone(), peer, req)
        .await
        .unwrap_or_else(|e| e.response());
    http::harden(answer.headers_mut(), state.tls, cacheable);
    answer
}

async fn route(
    state: Arc<State>,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let login = http::cookie_token(req.headers()).and_then(|token| {
        lock(&state.logins)
            .check(&token, Instant::now())
            .map(|login| (token, login))
    });
    match (method, path.as_str()) {
        (Method::GET, "/") => Ok(match login {
            Some(_) => page("index.html")?,
            None => http::redirect("/login"),
        }),
        (Method::GET, "/login") => page("login.html"),
        (Method::GET, p) if p.starts_with("/assets/") => {
            let name = &p["/assets/".len()..];
            if login.is_none() && !assets::public(name) {
                return Err(ApiError::Unauthorized("log in first".into()));
            }
            assets::get(name).ok_or_else(|| ApiError::NotFound("no such file".into()))
        }
        (Method::POST, "/api/login") => {
            let body = read_body(req).await?;
            blocking(move || api::login::login(&state, peer, &body)).await
        }
        (Method::POST, "/api/logout") => {
            let (token, login) = login.ok_or_else(not_logged_in)?;
            csrf(&req, &login)?;
            lock(&state.logins).remove(&token);
            let mut r = http::ok(&serde_json::json!({}));
            r.headers_mut()
                .insert("set-cookie", http::login_cookie("", state.tls, Some(0)));
            Ok(r)
        }
        (Method::POST, p) if p.starts_with("/api/") => {
            let (_, login) = login.ok_or_else(not_logged_in)?;
            csrf(&req, &login)?;
            Err(ApiError::NotFound(format!("no such action {}", show(p))))
        }
        (Method::GET, p) if p.starts_with("/api/") => {
            let (_, login) = login.ok_or_else(not_logged_in)?;
            let view = p["/api/".len()..].to_owned();
            let query = Query::parse(req.uri().query());
            let ctx = Ctx {
                state: state.clone(),
                login,
                peer,
                query,
            };
            if view == "live" {
                // Long-polls: waits on the pane, not on a blocking thread.
                return api::live::answer(ctx).await;
            }
            blocking(move || api::view(&ctx, &view)).await
        }
        (_, "/" | "/login") => Err(ApiError::Method),
        (_, p) if p.starts_with("/api/") || p.starts_with("/assets/") => Err(ApiError::Method),
        (_, p) => Err(ApiError::NotFound(format!("no such page {}", show(p)))),
    }
}

fn page(name: &str) -> Result<Response<Body>, ApiError> {
    assets::get(name).ok_or_else(|| ApiError::Internal(format!("{name} is not built in")))
}

fn not_logged_in() -> ApiError {
    ApiError::Unauthorized("not logged in, or the login ended: log in again".into())
}

/// A state-changing request must carry the login's CSRF token in `X-CSRF-Token`: another
/// site's page can make the browser send the cookie, never read the token.
fn csrf(req: &Request<Incoming>, login: &Login) -> Result<(), ApiError> {
    let given = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if logins::same_token(&login.csrf, given) {
        Ok(())
    } else {
        Err(ApiError::Forbidden(
            "missing or wrong X-CSRF-Token header: reload the page".into(),
        ))
    }
}

async fn read_body(req: Request<Incoming>) -> Result<Vec<u8>, ApiError> {
    use audit_http::body::{self, BodyError};
    body::read(req.into_body(), MAX_BODY, BODY_TIMEOUT)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => ApiError::TooLarge,
            BodyError::TooSlow => ApiError::BadRequest("the request body was too slow".into()),
            BodyError::Broken(m) => ApiError::BadRequest(format!("broken request body: {m}")),
        })
}

/// Runs a view on the blocking pool: views read stores synchronously.
async fn blocking(
    job: impl FnOnce() -> Result<Response<Body>, ApiError> + Send + 'static,
) -> Result<Response<Body>, ApiError> {
    tokio::task::spawn_blocking(job)
        .await
        .unwrap_or_else(|e| Err(ApiError::Internal(format!("the view failed: {e}"))))
}

/// A path as shown back in an error: escaped, and not too long.
fn show(path: &str) -> String {
    audit_views::show::escape(&path.chars().take(200).collect::<String>())
}
