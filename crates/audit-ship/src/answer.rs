//! The collector's JSON answers, made from and read back into `audit_store::central` types.
//!
//! Hashes are 64 lower-case hex digits. Every refusal that is not a verdict (401, 400, 413,
//! 503, …) is an [`ErrorAnswer`]: `{"error":"<name>","message":"<what to do>"}`.

use crate::hex;
use audit_store::central::{HostHead, Verdict};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// `GET /v1/head`: the host the token names and its central head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HeadAnswer {
    /// The enrolled name the token belongs to.
    pub host: String,
    /// Where its central chain ends.
    pub head: HostHead,
}

/// What a `POST /v1/records` came to, as the host reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PostAnswer {
    /// 200: stored; `head` is the acknowledgement.
    Stored {
        /// The host's central head after the batch.
        head: HostHead,
        /// How many records were new.
        added: u64,
    },
    /// 409 `gap`: the batch starts after the head; resume from it.
    Gap {
        /// The host's central head.
        head: HostHead,
    },
    /// 409 `chain-fork`: the record at `refused` does not link; records before it stand.
    Forked {
        /// The host's central head.
        head: HostHead,
        /// The first seq refused.
        refused: u64,
        /// Why it does not link.
        why: String,
    },
}

/// Any other answer: a status and what it says.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorAnswer {
    /// A short name (`unauthorized`, `malformed`, `too-large`, `unavailable`, …).
    pub error: String,
    /// What went wrong, for a person.
    pub message: String,
}

/// An answer that cannot be read, or a refusal.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum AnswerError {
    /// The collector refused the request.
    #[error("the collector answered HTTP {status}: {message}")]
    Refused {
        /// The HTTP status.
        status: u16,
        /// Its `error` name (empty if the body was not an [`ErrorAnswer`]).
        error: String,
        /// Its message (or the start of the body).
        message: String,
    },
    /// A 200 or 409 whose body is not the answer it should be.
    #[error("the collector's answer (HTTP {status}) cannot be read: {what}")]
    Unreadable {
        /// The HTTP status.
        status: u16,
        /// What is wrong.
        what: String,
    },
}

#[derive(Serialize, Deserialize)]
struct WireHead {
    host: String,
    seq: u64,
    hash: String,
}

#[derive(Serialize, Deserialize)]
struct WirePost {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    seq: u64,
    hash: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    added: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refused: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    why: Option<String>,
}

impl HeadAnswer {
    /// The 200 body.
    pub fn to_json(&self) -> String {
        json(&WireHead {
            host: self.host.clone(),
            seq: self.head.seq,
            hash: hex::encode(&self.head.hash),
        })
    }

    /// Reads the answer to `GET /v1/head`.
    pub fn parse(status: u16, body: &[u8]) -> Result<HeadAnswer, AnswerError> {
        if status != 200 {
            return Err(refused(status, body));
        }
        let wire: WireHead = read(status, body)?;
        Ok(HeadAnswer {
            host: wire.host,
            head: head(status, wire.seq, &wire.hash)?,
        })
    }
}

impl PostAnswer {
    /// The status and body that answer `verdict`.
    pub fn of_verdict(verdict: &Verdict) -> (u16, String) {
        let wire = |error: Option<&str>, head: &HostHead| WirePost {
            error: error.map(str::to_owned),
            seq: head.seq,
            hash: hex::encode(&head.hash),
            added: None,
            refused: None,
            why: None,
        };
        match verdict {
            Verdict::Stored { head, added } => (
                200,
                json(&WirePost {
                    added: Some(*added as u64),
                    ..wire(None, head)
                }),
            ),
            Verdict::Gap { head } => (409, json(&wire(Some("gap"), head))),
            Verdict::Forked { head, seq, why } => (
                409,
                json(&WirePost {
                    refused: Some(*seq),
                    why: Some(why.to_string()),
                    ..wire(Some("chain-fork"), head)
                }),
            ),
        }
    }

    /// Reads the answer to `POST /v1/records`.
    pub fn parse(status: u16, body: &[u8]) -> Result<PostAnswer, AnswerError> {
        if status != 200 && status != 409 {
            return Err(refused(status, body));
        }
        let wire: WirePost = read(status, body)?;
        let head = head(status, wire.seq, &wire.hash)?;
        let unreadable = |what: &str| AnswerError::Unreadable {
            status,
            what: what.into(),
        };
        match (status, wire.error.as_deref()) {
            (200, None) => Ok(PostAnswer::Stored {
                head,
                added: wire.added.ok_or_else(|| unreadable("no `added`"))?,
            }),
            (409, Some("gap")) => Ok(PostAnswer::Gap { head }),
            (409, Some("chain-fork")) => Ok(PostAnswer::Forked {
                head,
                refused: wire.refused.ok_or_else(|| unreadable("no `refused`"))?,
                why: wire.why.unwrap_or_default(),
            }),
            (_, error) => Err(unreadable(&format!("unexpected error {error:?}"))),
        }
    }
}

impl ErrorAnswer {
    /// The body of a refusal.
    pub fn json(error: &str, message: impl Into<String>) -> String {
        json(&ErrorAnswer {
            error: error.into(),
            message: message.into(),
        })
    }
}

fn json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("answers serialize")
}

fn read<'a, T: Deserialize<'a>>(status: u16, body: &'a [u8]) -> Result<T, AnswerError> {
    serde_json::from_slice(body).map_err(|e| AnswerError::Unreadable {
        status,
        what: e.to_string(),
    })
}

fn head(status: u16, seq: u64, hash: &str) -> Result<HostHead, AnswerError> {
    let hash = hex::decode(hash).ok_or_else(|| AnswerError::Unreadable {
        status,
        what: "`hash` is not 64 lower-case hex digits".into(),
    })?;
    Ok(HostHead { seq, hash })
}

/// A refusal, with the collector's message when it sent one (else the body's start, cut at
/// 200 characters: the answer may come from a proxy).
fn refused(status: u16, body: &[u8]) -> AnswerError {
    let (error, message) = match serde_json::from_slice::<ErrorAnswer>(body) {
        Ok(e) => (e.error, e.message),
        Err(_) => (
            String::new(),
            String::from_utf8_lossy(body).chars().take(200).collect(),
        ),
    };
    AnswerError::Refused {
        status,
        error,
        message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_store::central::LinkError;

    const HEAD: HostHead = HostHead {
        seq: 7,
        hash: [0xab; 32],
    };

    #[test]
    fn head_round_trip_and_wire_form() {
        let a = HeadAnswer {
            host: "web-1".into(),
            head: HEAD,
        };
        let body = a.to_json();
        assert_eq!(
            body,
            format!(r#"{{"host":"web-1","seq":7,"hash":"{}"}}"#, "ab".repeat(32))
        );
        assert_eq!(HeadAnswer::parse(200, body.as_bytes()), Ok(a));
    }

    #[test]
    fn every_verdict_round_trips() {
        let stored = Verdict::Stored {
            head: HEAD,
            added: 3,
        };
        let (s, b) = PostAnswer::of_verdict(&stored);
        assert_eq!(s, 200);
        assert_eq!(
            PostAnswer::parse(s, b.as_bytes()),
            Ok(PostAnswer::Stored {
                head: HEAD,
                added: 3
            })
        );
        let (s, b) = PostAnswer::of_verdict(&Verdict::Gap { head: HEAD });
        assert_eq!(s, 409);
        assert_eq!(
            PostAnswer::parse(s, b.as_bytes()),
            Ok(PostAnswer::Gap { head: HEAD })
        );
        let forked = Verdict::Forked {
            head: HEAD,
            seq: 8,
            why: LinkError::Unlinked { seq: 8 },
        };
        let (s, b) = PostAnswer::of_verdict(&forked);
        assert!(b.contains(r#""error":"chain-fork""#), "{b}");
        match PostAnswer::parse(s, b.as_bytes()) {
            Ok(PostAnswer::Forked { head, refused, why }) => {
                assert_eq!((head, refused), (HEAD, 8));
                assert!(why.contains("does not follow"), "{why}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refusals_carry_the_message_and_garbage_is_unreadable() {
        let body = ErrorAnswer::json("unauthorized", "unknown or revoked token");
        assert_eq!(
            PostAnswer::parse(401, body.as_bytes()),
            Err(AnswerError::Refused {
                status: 401,
                error: "unauthorized".into(),
                message: "unknown or revoked token".into()
            })
        );
        assert!(matches!(
            HeadAnswer::parse(502, b"<html>bad gateway</html>"),
            Err(AnswerError::Refused { status: 502, .. })
        ));
        assert!(matches!(
            HeadAnswer::parse(200, b"{}"),
            Err(AnswerError::Unreadable { .. })
        ));
        assert!(matches!(
            PostAnswer::parse(409, br#"{"error":"what","seq":1,"hash":"00"}"#),
            Err(AnswerError::Unreadable { .. })
        ));
    }
}
