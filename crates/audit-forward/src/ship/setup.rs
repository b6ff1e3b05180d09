//! What a collector sink reads when the forwarder starts: the host's token (kept out of every
//! message, name and `Debug`) and the certificates it trusts.

use crate::error::SetupError;
use std::fmt;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A bearer token; `Debug` hides it.
#[derive(Clone)]
pub(crate) struct Token(String);

impl Token {
    pub(crate) fn header(&self) -> String {
        format!("Bearer {}", self.0)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(****)")
    }
}

/// Reads the token file: one line of visible ASCII. A file others can read is refused (the
/// token lets anyone write this host's chain); one the group can read is warned about.
pub(crate) fn token(path: &Path) -> Result<Token, SetupError> {
    let read = |error| SetupError::Read {
        path: path.to_owned(),
        error,
    };
    let bad = |what: &str| SetupError::Bad {
        path: path.to_owned(),
        what: what.to_owned(),
    };
    let mode = std::fs::metadata(path).map_err(read)?.permissions().mode();
    if mode & 0o004 != 0 {
        return Err(bad(
            "the token file is readable by every user: `chmod 600` it (the token lets its holder write this host's record)",
        ));
    }
    if mode & 0o040 != 0 {
        tracing::warn!(file = %path.display(), "the collector token file is readable by its group; `chmod 600` it unless that is meant");
    }
    let text = std::fs::read_to_string(path).map_err(read)?;
    let token = text.trim();
    if token.is_empty() {
        return Err(bad("the token file is empty"));
    }
    if !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad(
            "a token is one line of visible ASCII characters (no spaces)",
        ));
    }
    Ok(Token(token.to_owned()))
}

/// The certificates of a PEM file, to trust for the collector's TLS.
pub(crate) fn certificates(
    path: &Path,
) -> Result<Vec<ureq::tls::Certificate<'static>>, SetupError> {
    let pem = std::fs::read(path).map_err(|error| SetupError::Read {
        path: path.to_owned(),
        error,
    })?;
    let bad = |what: String| SetupError::Bad {
        path: path.to_owned(),
        what,
    };
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item.map_err(|e| bad(format!("not a PEM file: {e}")))? {
            ureq::tls::PemItem::Certificate(c) => certs.push(c),
            _ => continue,
        }
    }
    if certs.is_empty() {
        return Err(bad("holds no certificate".into()));
    }
    Ok(certs)
}
