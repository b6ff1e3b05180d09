//! The shapes of answers (JSON, errors, files, redirects), the headers every answer carries,
//! and reading what a request brings (its query, its cookie).

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, LOCATION};
use hyper::{HeaderMap, Response, StatusCode};
use serde::Serialize;
use std::collections::HashMap;

/// An answer's body: always whole (views are computed before the first byte is sent).
pub(crate) type Body = Full<Bytes>;

/// The login cookie's name.
pub(crate) const COOKIE: &str = "tmux_audit_session";

/// The Content-Security-Policy of every answer: scripts and styles only from this origin, no
/// inline script or `style=` attribute, nothing framed, nothing sent elsewhere. Recorded text
/// that slipped into markup could still not run.
pub(crate) const CSP: &str = "default-src 'none'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// Why a request was not answered with what it asked: each a status and a message for the
/// person (sent as `{"error": message}`).
#[derive(Debug)]
pub(crate) enum ApiError {
    /// 400: a parameter is wrong.
    BadRequest(String),
    /// 401: no login, or it ended.
    Unauthorized(String),
    /// 403: not allowed (not an auditor, no CSRF token).
    Forbidden(String),
    /// 404.
    NotFound(String),
    /// 405.
    Method,
    /// 413: a body over the limit.
    TooLarge,
    /// 429, with the seconds to wait.
    TooMany(String, u64),
    /// 503: the access could not be recorded, or the store is out of reach.
    Unavailable(String),
    /// 500.
    Internal(String),
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Method => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooMany(..) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn message(&self) -> &str {
        match self {
            ApiError::BadRequest(m)
            | ApiError::Unauthorized(m)
            | ApiError::Forbidden(m)
            | ApiError::NotFound(m)
            | ApiError::TooMany(m, _)
            | ApiError::Unavailable(m)
            | ApiError::Internal(m) => m,
            ApiError::Method => "method not allowed",
            ApiError::TooLarge => "request body too large",
        }
    }

    /// The answer: `{"error": …}` with its status (and `Retry-After` for 429).
    pub(crate) fn response(&self) -> Response<Body> {
        if let ApiError::Internal(m) = self {
            tracing::warn!("answering 500: {m}");
        }
        let mut r = json(self.status(), &serde_json::json!({"error": self.message()}));
        if let ApiError::TooMany(_, secs) = self {
            r.headers_mut()
                .insert("retry-after", HeaderValue::from(*secs));
        }
        r
    }
}

impl From<audit_store::StoreError> for ApiError {
    fn from(e: audit_store::StoreError) -> Self {
        ApiError::Internal(format!("the store failed: {e}"))
    }
}

impl From<audit_views::hosts::HostsError> for ApiError {
    fn from(e: audit_views::hosts::HostsError) -> Self {
        use audit_views::hosts::HostsError;
        match e {
            HostsError::Store(e) => e.into(),
            e @ HostsError::UnknownHost { .. } => ApiError::NotFound(e.to_string()),
            e => ApiError::BadRequest(e.to_string()),
        }
    }
}

/// A JSON answer.
pub(crate) fn json<T: Serialize + ?Sized>(status: StatusCode, value: &T) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(body) => with_type(status, "application/json", body),
        Err(e) => ApiError::Internal(format!("cannot write JSON: {e}")).response(),
    }
}

/// 200 with `value` as JSON.
pub(crate) fn ok<T: Serialize + ?Sized>(value: &T) -> Response<Body> {
    json(StatusCode::OK, value)
}

/// An answer of `content_type`.
pub(crate) fn with_type(
    status: StatusCode,
    content_type: &'static str,
    body: Vec<u8>,
) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

/// A file to save, named `filename` (made of safe characters only).
pub(crate) fn download(
    content_type: &'static str,
    filename: &str,
    body: Vec<u8>,
) -> Response<Body> {
    let mut r = with_type(StatusCode::OK, content_type, body);
    let name: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || ".-_".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        r.headers_mut().insert("content-disposition", v);
    }
    r
}

/// 303 to `to` (a path of this server).
pub(crate) fn redirect(to: &'static str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::SEE_OTHER;
    r.headers_mut()
        .insert(LOCATION, HeaderValue::from_static(to));
    r
}

/// The headers every answer carries: the CSP, no sniffing, no framing, no referrer, no
/// caching of what a login showed (assets excepted), and HSTS over TLS.
pub(crate) fn harden(headers: &mut HeaderMap, tls: bool, cacheable: bool) {
    let set = |h: &mut HeaderMap, k: &'static str, v: &'static str| {
        h.insert(k, HeaderValue::from_static(v));
    };
    set(headers, "content-security-policy", CSP);
    set(headers, "x-content-type-options", "nosniff");
    set(headers, "x-frame-options", "DENY");
    set(headers, "referrer-policy", "no-referrer");
    set(headers, "cross-origin-opener-policy", "same-origin");
    set(headers, "cross-origin-resource-policy", "same-origin");
    set(
        headers,
        "permissions-policy",
        "camera=(), microphone=(), geolocation=()",
    );
    if !cacheable {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if tls {
        set(headers, "strict-transport-security", "max-age=31536000");
    }
}

/// The login cookie for `token`: not readable by scripts, never sent by another site's
/// request, and over TLS only sent over TLS.
pub(crate) fn login_cookie(token: &str, tls: bool, max_age: Option<u64>) -> HeaderValue {
    let secure = if tls { "; Secure" } else { "" };
    let age = max_age
        .map(|s| format!("; Max-Age={s}"))
        .unwrap_or_default();
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/{secure}{age}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("tmux_audit_session=; Path=/"))
}

/// The login token the request's cookie carries.
pub(crate) fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(hyper::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.to_owned())
}

/// A request's query parameters; an empty value counts as not given (forms send empty
/// fields).
#[derive(Debug, Default)]
pub(crate) struct Query(HashMap<String, String>);

impl Query {
    /// Reads `?a=1&b=x%20y`.
    pub(crate) fn parse(query: Option<&str>) -> Query {
        let pairs = form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .filter(|(_, v)| !v.is_empty())
            .map(|(k, v)| (k.into_owned(), v.into_owned()));
        Query(pairs.collect())
    }

    /// A text parameter.
    pub(crate) fn text(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }

    /// A parameter that must be there.
    pub(crate) fn required(&self, name: &str) -> Result<String, ApiError> {
        self.text(name)
            .ok_or_else(|| ApiError::BadRequest(format!("the parameter {name} is missing")))
    }

    /// A parameter read by `parse`; its error is told with the parameter's name.
    pub(crate) fn parsed<T, E: std::fmt::Display>(
        &self,
        name: &str,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> Result<Option<T>, ApiError> {
        self.0
            .get(name)
            .map(|v| parse(v).map_err(|e| ApiError::BadRequest(format!("{name}: {e}"))))
            .transpose()
    }

    /// A time: RFC 3339, a local date and time, or an age (`3h`), as the CLI reads them.
    pub(crate) fn time(&self, name: &str) -> Result<Option<audit_core::Timestamp>, ApiError> {
        self.parsed(name, audit_views::when::arg)
    }

    /// A count, at most `max`.
    pub(crate) fn count(&self, name: &str, default: usize, max: usize) -> Result<usize, ApiError> {
        Ok(self
            .parsed(name, |v| v.parse::<usize>().map_err(|e| e.to_string()))?
            .unwrap_or(default)
            .min(max))
    }

    /// A flag: `1`/`true` or `0`/`false`.
    pub(crate) fn flag(&self, name: &str) -> Result<bool, ApiError> {
        Ok(self
            .parsed(name, |v| match v {
                "1" | "true" => Ok(true),
                "0" | "false" => Ok(false),
                _ => Err("give 1 or 0"),
            })?
            .unwrap_or(false))
    }
}
