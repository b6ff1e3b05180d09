//! The shipping protocol: how a host hands its records to the central collector, and what the
//! collector answers. Pure: bytes in, typed values out (no sockets, no HTTP client or server),
//! so both ends share it and a fuzzer can drive the decoder.
//!
//! HTTP/1.1, every request with `Authorization: Bearer <token>` (the token alone names the
//! host: a host can only ever write its own chain):
//!
//! * `GET /v1/head` → 200 [`HeadAnswer`] (`{"host":"web-1","seq":N,"hash":"<hex>"}`): the
//!   collector's acknowledgement, where the host resumes.
//! * `POST /v1/records`, `Content-Type: application/x-tmux-audit-records`, a [`batch`] body →
//!   200 `{"seq":N,"hash":..,"added":K}`, 409 `{"error":"gap",..}` or
//!   `{"error":"chain-fork","seq":N,"refused":S,"why":".."}` ([`answer`]); 401 for an unknown
//!   or revoked token, 400 for a malformed body, 413 for one too large, 503 while the store is
//!   unreachable.
//!
//! * [`batch`] — the body: `TAB1`, then records (seq, canonical bytes, chain hash, chunk).
//! * [`answer`] — the JSON answers, to and from `audit_store::central` types.
#![deny(missing_docs)]

pub mod answer;
pub mod batch;
#[doc(hidden)]
pub mod fuzzing;
mod hex;

pub use answer::{AnswerError, ErrorAnswer, HeadAnswer, PostAnswer};
pub use batch::{decode, encode, encoded_len, BatchError};

/// The path of the acknowledgement (`GET`).
pub const PATH_HEAD: &str = "/v1/head";
/// The path batches are posted to.
pub const PATH_RECORDS: &str = "/v1/records";
/// The content type of a batch.
pub const CONTENT_TYPE: &str = "application/x-tmux-audit-records";
