//! What a viewer and the daemon say over the control socket
//! ([`StateDir::control_socket`](crate::StateDir::control_socket)): one request line, one reply
//! line, both JSON, then the connection closes. Requests are small and parsed strictly (unknown
//! fields, oversized values and anything but the views below are refused), so a hostile local
//! user can neither confuse the daemon nor make it store much.
//!
//! Here are the messages, their limits and the viewer's half ([`ask`]); the daemon serves them
//! (`audit-daemon/src/control/`). Both ends share these types, so the bytes cannot drift apart.

use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::Duration;
use thiserror::Error;

/// Longest request line, in bytes (the newline not counted).
pub const MAX_REQUEST: usize = 4096;
/// Longest text value in a request.
const MAX_VALUE: usize = 1024;
/// Most arguments a request may list.
const MAX_ARGS: usize = 64;
/// The views that record an access.
pub const VIEWS: [&str; 5] = [
    "search",
    "export",
    "replay",
    "replay-follow",
    "export-follow",
];

/// A viewer's request: record that it views the log (and commit pending output first).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    /// One of [`VIEWS`].
    pub view: String,
    /// The search pattern, when searching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// The pane as the viewer named it (`%3`, `prod:1.0`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pane: Option<String>,
    /// The viewer's arguments (what it was asked, the export file included), as it reports them.
    #[serde(default)]
    pub argv: Vec<String>,
}

/// Why a request is refused before anything is done with it.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BadRequest {
    /// Not one JSON object of the known fields.
    #[error("not a request: {0}")]
    Syntax(String),
    /// Longer than [`MAX_REQUEST`].
    #[error("request longer than {MAX_REQUEST} bytes")]
    TooLong,
    /// A view this daemon does not know.
    #[error("unknown view {0:?}")]
    View(String),
    /// A value or list too long.
    #[error("{0} too long")]
    Value(&'static str),
}

impl Request {
    /// Parses one request line (without its newline), strictly.
    pub fn parse(line: &[u8]) -> Result<Request, BadRequest> {
        if line.len() > MAX_REQUEST {
            return Err(BadRequest::TooLong);
        }
        // An object only (serde would also take the fields as a list).
        if line.trim_ascii_start().first() != Some(&b'{') {
            return Err(BadRequest::Syntax("not a JSON object".into()));
        }
        let r: Request =
            serde_json::from_slice(line).map_err(|e| BadRequest::Syntax(e.to_string()))?;
        if !VIEWS.contains(&r.view.as_str()) {
            return Err(BadRequest::View(r.view));
        }
        let long = |v: &Option<String>| v.as_ref().is_some_and(|v| v.len() > MAX_VALUE);
        if long(&r.query) {
            return Err(BadRequest::Value("query"));
        }
        if long(&r.pane) {
            return Err(BadRequest::Value("pane"));
        }
        if r.argv.len() > MAX_ARGS || r.argv.iter().any(|a| a.len() > MAX_VALUE) {
            return Err(BadRequest::Value("argv"));
        }
        Ok(r)
    }
}

/// The daemon's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    /// The `audit-access` event is committed (false: queued, or refused — see `error`).
    #[serde(default)]
    pub recorded: bool,
    /// Output the panes printed before the request is committed too.
    #[serde(default)]
    pub flushed: bool,
    /// The event is accepted but not committed in time: it will be (do not record it again).
    #[serde(default)]
    pub queued: bool,
    /// Why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Why a viewer could not get an answer.
#[derive(Debug, Error)]
pub enum AskError {
    /// No daemon listens (no socket, or nobody accepts).
    #[error("no daemon is listening on {path}: {error}")]
    NoDaemon {
        /// The socket.
        path: String,
        /// Why.
        error: std::io::Error,
    },
    /// The daemon did not answer in time, or answered nonsense.
    #[error("the daemon did not answer on {path}: {why}")]
    NoAnswer {
        /// The socket.
        path: String,
        /// Why.
        why: String,
    },
}

/// Sends `request` to the daemon listening at `socket` and waits up to `timeout` for its reply.
pub fn ask(socket: &Path, request: &Request, timeout: Duration) -> Result<Reply, AskError> {
    let path = socket.display().to_string();
    let stream = UnixStream::connect(socket).map_err(|error| AskError::NoDaemon {
        path: path.clone(),
        error,
    })?;
    let no_answer = |why: String| AskError::NoAnswer {
        path: path.clone(),
        why,
    };
    stream
        .set_read_timeout(Some(timeout))
        .and_then(|()| stream.set_write_timeout(Some(timeout)))
        .map_err(|e| no_answer(e.to_string()))?;
    let mut line = serde_json::to_vec(request).map_err(|e| no_answer(e.to_string()))?;
    line.push(b'\n');
    (&stream)
        .write_all(&line)
        .map_err(|e| no_answer(e.to_string()))?;
    let mut answer = Vec::new();
    BufReader::new((&stream).take(MAX_REQUEST as u64))
        .read_until(b'\n', &mut answer)
        .map_err(|e| no_answer(e.to_string()))?;
    serde_json::from_slice(answer.trim_ascii_end()).map_err(|e| no_answer(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_parsed_strictly() {
        let ok =
            Request::parse(br#"{"view":"search","query":"drop table","argv":["search"]}"#).unwrap();
        assert_eq!(ok.query.as_deref(), Some("drop table"));
        for bad in [
            &br#"{"view":"search","uid":0}"#[..],
            br#"{"view":"rm -rf"}"#,
            br#"{"view":"search"} trailing"#,
            br#"["search"]"#,
            b"\xff\xfe",
            b"",
        ] {
            assert!(
                Request::parse(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let long = format!(r#"{{"view":"search","query":"{}"}}"#, "x".repeat(2000));
        assert_eq!(
            Request::parse(long.as_bytes()),
            Err(BadRequest::Value("query"))
        );
        let many = format!(
            r#"{{"view":"search","argv":[{}]}}"#,
            vec!["\"a\""; 65].join(",")
        );
        assert_eq!(
            Request::parse(many.as_bytes()),
            Err(BadRequest::Value("argv"))
        );
        let huge = vec![b' '; MAX_REQUEST + 1];
        assert_eq!(Request::parse(&huge), Err(BadRequest::TooLong));
    }
}
