//! The webhook: one HTTP POST of the event's JSON object per event; 2xx means delivered.

use super::Deliver;
use crate::config::{Headers, WebhookUrl};
use crate::encode::json;
use crate::error::DeliverError;
use audit_core::Stored;
use std::time::Duration;
use ureq::Agent;

/// Longest answer body read (and thrown away) so the connection can be reused.
const ANSWER_MAX: u64 = 64 * 1024;

pub(crate) struct Webhook {
    agent: Agent,
    url: String,
    /// The URL without credentials, for error messages.
    shown: String,
    headers: Headers,
}

impl Webhook {
    pub(crate) fn new(url: &WebhookUrl, headers: Headers, timeout: Duration) -> Self {
        let config = Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .build();
        Webhook {
            agent: Agent::new_with_config(config),
            url: url.as_str().to_owned(),
            shown: url.redacted(),
            headers,
        }
    }
}

impl Deliver for Webhook {
    fn send(&mut self, stored: &Stored) -> Result<(), DeliverError> {
        let mut request = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json");
        for (name, value) in self.headers.iter() {
            request = request.header(name, value);
        }
        let http = |error| DeliverError::Http {
            url: self.shown.clone(),
            error: Box::new(error),
        };
        let mut answer = request.send(&json(stored)[..]).map_err(http)?;
        let status = answer.status().as_u16();
        // Read the answer so the connection is reused; its content does not matter.
        let _ = answer
            .body_mut()
            .with_config()
            .limit(ANSWER_MAX)
            .read_to_vec();
        if !(200..300).contains(&status) {
            return Err(DeliverError::Status {
                url: self.shown.clone(),
                status,
            });
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DeliverError> {
        Ok(())
    }

    fn acknowledges_each(&self) -> bool {
        true
    }
}
