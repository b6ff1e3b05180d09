//! The collector's two endpoints as blocking calls (ureq, rustls): the acknowledgement and the
//! batch post, answers read by `audit_ship`.

use super::setup::Token;
use crate::config::CollectorUrl;
use crate::error::ShipError;
use audit_ship::{HeadAnswer, PostAnswer, CONTENT_TYPE, PATH_HEAD, PATH_RECORDS};
use audit_store::central::Shipped;
use std::time::Duration;
use ureq::Agent;

/// Longest answer read.
const ANSWER_MAX: u64 = 64 * 1024;
/// How long one request may take in all (a batch is at most a few MiB).
const TIMEOUT: Duration = Duration::from_secs(60);
/// How long a connection may take: a collector that is not there is known soon.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long sending a batch may stall, and how long the answer may take once it is sent: on
/// a reused connection a cut network shows only as silence, so without these an outage
/// would be noticed only when the network came back. The center commits a batch in well
/// under this even on a loaded machine (its benchmark's slowest answer: 26 s at 2 MiB of
/// output per batch on 2 busy cores), and a batch resent after a timeout stores nothing twice.
const SEND_TIMEOUT: Duration = Duration::from_secs(15);
const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) struct Client {
    agent: Agent,
    head_url: String,
    records_url: String,
    token: Token,
}

impl Client {
    pub(crate) fn new(
        url: &CollectorUrl,
        token: Token,
        trust: Option<Vec<ureq::tls::Certificate<'static>>>,
    ) -> Client {
        let mut tls = ureq::tls::TlsConfig::builder();
        if let Some(certs) = trust {
            tls = tls.root_certs(ureq::tls::RootCerts::new_with_certs(&certs));
        }
        let config = Agent::config_builder()
            .timeout_global(Some(TIMEOUT))
            .timeout_connect(Some(CONNECT_TIMEOUT))
            .timeout_send_body(Some(SEND_TIMEOUT))
            .timeout_recv_response(Some(ANSWER_TIMEOUT))
            .http_status_as_error(false)
            .tls_config(tls.build())
            .build();
        Client {
            agent: Agent::new_with_config(config),
            head_url: url.join(PATH_HEAD),
            records_url: url.join(PATH_RECORDS),
            token,
        }
    }

    /// `GET /v1/head`.
    pub(crate) fn head(&self) -> Result<HeadAnswer, ShipError> {
        let answer = self
            .agent
            .get(&self.head_url)
            .header("authorization", &self.token.header())
            .call();
        let (status, body) = read(&self.head_url, answer)?;
        HeadAnswer::parse(status, &body).map_err(|error| ShipError::Answer {
            url: self.head_url.clone(),
            error,
        })
    }

    /// `POST /v1/records`.
    pub(crate) fn post(&self, batch: &[Shipped]) -> Result<PostAnswer, ShipError> {
        let body = audit_ship::encode(batch);
        let answer = self
            .agent
            .post(&self.records_url)
            .header("authorization", &self.token.header())
            .content_type(CONTENT_TYPE)
            .send(&body[..]);
        let (status, body) = read(&self.records_url, answer)?;
        PostAnswer::parse(status, &body).map_err(|error| ShipError::Answer {
            url: self.records_url.clone(),
            error,
        })
    }
}

fn read(
    url: &str,
    answer: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
) -> Result<(u16, Vec<u8>), ShipError> {
    let http = |error| ShipError::Http {
        url: url.to_owned(),
        error: Box::new(error),
    };
    let mut answer = answer.map_err(http)?;
    let status = answer.status().as_u16();
    let body = answer
        .body_mut()
        .with_config()
        .limit(ANSWER_MAX)
        .read_to_vec()
        .map_err(http)?;
    Ok((status, body))
}
