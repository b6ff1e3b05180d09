//! The two endpoints: `GET /v1/head` and `POST /v1/records`. Every refusal is logged with the
//! peer (never the token); a chain fork is logged as an alert.

use crate::config::Limits;
use crate::intakes::{Intakes, JobError};
use crate::render;
use audit_core::Timestamp;
use audit_http::body::{self, BodyError};
use audit_ship::batch::MAX_BODY;
use audit_ship::{ErrorAnswer, HeadAnswer, PostAnswer, CONTENT_TYPE, PATH_HEAD, PATH_RECORDS};
use audit_store::central::Verdict;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::Semaphore;

/// What every request shares.
pub(crate) struct State {
    pub(crate) intakes: Intakes,
    pub(crate) limits: Limits,
    /// Bodies in memory at once.
    pub(crate) bodies: Semaphore,
}

type Answer = Response<Full<Bytes>>;

/// Answers one request; never fails (every failure is an answer).
pub(crate) async fn handle(state: Arc<State>, peer: SocketAddr, req: Request<Incoming>) -> Answer {
    let path = req.uri().path();
    match (req.method(), path) {
        (&Method::GET, PATH_HEAD) => head(&state, peer, &req).await,
        (&Method::POST, PATH_RECORDS) => records(&state, peer, req).await,
        (_, PATH_HEAD) => method_not_allowed("GET"),
        (_, PATH_RECORDS) => method_not_allowed("POST"),
        _ => refuse(
            StatusCode::NOT_FOUND,
            "not-found",
            format!("no {path} here (the collector serves {PATH_HEAD} and {PATH_RECORDS})"),
        ),
    }
}

async fn head(state: &Arc<State>, peer: SocketAddr, req: &Request<Incoming>) -> Answer {
    let host = match authenticate(state, peer, req).await {
        Ok(host) => host,
        Err(answer) => return answer,
    };
    let asked = host.clone();
    match state.intakes.run(move |i| i.host_head(&asked)).await {
        Ok(head) => json(StatusCode::OK, HeadAnswer { host, head }.to_json()),
        Err(e) => unavailable(peer, e),
    }
}

async fn records(state: &Arc<State>, peer: SocketAddr, req: Request<Incoming>) -> Answer {
    // Refused before anything is read, and before the store is asked anything.
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY as u64) {
        tracing::warn!(%peer, "refused a batch of {} bytes (Content-Length)", declared.unwrap_or(0));
        return too_large();
    }
    let content_type = req.headers().get(header::CONTENT_TYPE);
    if content_type.and_then(|v| v.to_str().ok()) != Some(CONTENT_TYPE) {
        tracing::warn!(%peer, "refused a batch without Content-Type {CONTENT_TYPE}");
        return closing(refuse(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content-type",
            format!("a batch is sent as {CONTENT_TYPE}"),
        ));
    }
    let host = match authenticate(state, peer, &req).await {
        Ok(host) => host,
        Err(answer) => return closing(answer),
    };
    let limits = &state.limits;
    let Ok(Ok(_permit)) = tokio::time::timeout(limits.body_timeout, state.bodies.acquire()).await
    else {
        tracing::warn!(%peer, %host, "refused a batch: too many bodies being read");
        return closing(refuse(
            StatusCode::SERVICE_UNAVAILABLE,
            "busy",
            "the collector is reading too many batches; retry later",
        ));
    };
    let body = match body::read(req.into_body(), MAX_BODY, limits.body_timeout).await {
        Ok(body) => body,
        Err(BodyError::TooLarge) => {
            tracing::warn!(%peer, %host, "refused a batch of more than {MAX_BODY} bytes");
            return too_large();
        }
        Err(BodyError::TooSlow) => {
            tracing::warn!(%peer, %host, "refused a batch not sent within {:?}", limits.body_timeout);
            return closing(refuse(
                StatusCode::REQUEST_TIMEOUT,
                "too-slow",
                format!("the batch was not sent within {:?}", limits.body_timeout),
            ));
        }
        Err(BodyError::Broken(why)) => {
            tracing::warn!(%peer, %host, "a batch's body broke off: {why}");
            return closing(refuse(StatusCode::BAD_REQUEST, "malformed", why));
        }
    };
    let batch = match audit_ship::decode(&body) {
        Ok(batch) => batch,
        Err(e) => {
            tracing::warn!(%peer, %host, "refused a malformed batch: {e}");
            return refuse(StatusCode::BAD_REQUEST, "malformed", e.to_string());
        }
    };
    drop(body);
    let (who, from) = (host.clone(), peer.to_string());
    let job = move |intake: &mut dyn audit_store::central::Intake| {
        let text: Vec<Option<String>> = batch
            .iter()
            .map(|r| {
                let chunk = r.chunk.as_ref()?;
                render::chunk_text(chunk)
                    .map_err(|why| {
                        tracing::warn!(host = %who, seq = r.seq, "a shipped chunk is left out of the text index: {why}");
                    })
                    .ok()
            })
            .collect();
        intake.accept(&who, &batch, &text, Timestamp::now(), &from)
    };
    match state.intakes.run(job).await {
        Ok(verdict) => {
            log_verdict(peer, &host, &verdict);
            let (status, body) = PostAnswer::of_verdict(&verdict);
            json(StatusCode::from_u16(status).unwrap_or(StatusCode::OK), body)
        }
        Err(e) => unavailable(peer, e),
    }
}

fn log_verdict(peer: SocketAddr, host: &str, verdict: &Verdict) {
    match verdict {
        Verdict::Stored { head, added } => {
            tracing::debug!(%peer, %host, added, seq = head.seq, "stored");
        }
        Verdict::Gap { head } => {
            tracing::warn!(%peer, %host, "refused a batch after a gap: the host resumes after seq {}", head.seq);
        }
        Verdict::Forked { head, seq, why } => {
            tracing::error!(%peer, %host, refused = seq, head = head.seq, "ALERT chain-fork: {host}'s record {seq} does not continue its central chain ({why}); kept aside as evidence");
        }
    }
}

/// The host the bearer token names, or the 401 (or 503) answer.
async fn authenticate(
    state: &Arc<State>,
    peer: SocketAddr,
    req: &Request<Incoming>,
) -> Result<String, Answer> {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty());
    let Some(token) = token else {
        tracing::warn!(%peer, "refused a request without a bearer token");
        return Err(unauthorized(
            "send the host's token as `Authorization: Bearer TOKEN`",
        ));
    };
    let token = token.to_owned();
    match state.intakes.run(move |i| i.host_of_token(&token)).await {
        Ok(Some(host)) => Ok(host),
        Ok(None) => {
            tracing::warn!(%peer, "refused a request with an unknown or revoked token");
            Err(unauthorized("unknown or revoked token"))
        }
        Err(e) => Err(unavailable(peer, e)),
    }
}

fn unavailable(peer: SocketAddr, error: JobError) -> Answer {
    match error {
        JobError::Store(e) => tracing::warn!(%peer, "answered 503: the central store failed: {e}"),
        JobError::Lost => tracing::error!(%peer, "answered 503: a store job was lost"),
    }
    refuse(
        StatusCode::SERVICE_UNAVAILABLE,
        "unavailable",
        "the central store is unavailable; retry later",
    )
}

fn unauthorized(message: &str) -> Answer {
    let mut answer = refuse(StatusCode::UNAUTHORIZED, "unauthorized", message);
    answer
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    answer
}

fn too_large() -> Answer {
    closing(refuse(
        StatusCode::PAYLOAD_TOO_LARGE,
        "too-large",
        format!("a batch is at most {MAX_BODY} bytes"),
    ))
}

fn method_not_allowed(allow: &'static str) -> Answer {
    let mut answer = refuse(
        StatusCode::METHOD_NOT_ALLOWED,
        "method",
        format!("this path takes {allow}"),
    );
    answer
        .headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    answer
}

fn refuse(status: StatusCode, error: &str, message: impl Into<String>) -> Answer {
    json(status, ErrorAnswer::json(error, message))
}

/// Closes the connection after answering: the body was not (wholly) read.
fn closing(mut answer: Answer) -> Answer {
    answer
        .headers_mut()
        .insert(header::CONNECTION, HeaderValue::from_static("close"));
    answer
}

fn json(status: StatusCode, body: String) -> Answer {
    let mut answer = Response::new(Full::new(Bytes::from(body)));
    *answer.status_mut() = status;
    answer.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    answer
}
