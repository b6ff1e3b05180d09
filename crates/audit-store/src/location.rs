//! Where a store is: what `--db`, `TMUX_AUDIT_DB` and `db =` say, parsed once at the edge so
//! that everything past it holds a [`Location`] and never guesses from a string again.

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use thiserror::Error;

/// A store's location. Today only an SQLite file; a server backend will be one more variant,
/// added together with the code that opens it (so no location parses that nothing can open).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Location {
    /// An SQLite file, as given: a relative path stays relative (to the current folder).
    Sqlite(PathBuf),
}

/// Why a location was refused.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum LocationError {
    /// Nothing was given.
    #[error("the store location is empty: give the path of the store file")]
    Empty,
    /// A PostgreSQL URL. Only its scheme is kept: the rest may hold a password.
    #[error("PostgreSQL stores ({scheme}://…) are not supported by this build of tmux-audit yet: give the path of an SQLite store file")]
    PostgresUnsupported {
        /// `postgres` or `postgresql`, as written.
        scheme: String,
    },
}

/// URL schemes that name a PostgreSQL server (compared without regard to ASCII case, as URL
/// schemes are).
const POSTGRES_SCHEMES: [&str; 2] = ["postgres", "postgresql"];

impl Location {
    /// Parses what the user wrote: a `postgres://` or `postgresql://` URL is refused (not
    /// supported yet); anything else non-empty is the path of an SQLite file. Takes an `OsStr`
    /// because paths need not be UTF-8.
    pub fn parse(text: impl AsRef<OsStr>) -> Result<Location, LocationError> {
        let text = text.as_ref();
        if text.is_empty() {
            return Err(LocationError::Empty);
        }
        if let Some(scheme) = postgres_scheme(text.as_bytes()) {
            return Err(LocationError::PostgresUnsupported { scheme });
        }
        Ok(Location::Sqlite(PathBuf::from(text)))
    }

    /// The store's file. Every location is one today; a server location will make this an
    /// `Option`, and the compiler will find each place that assumes a file.
    pub fn path(&self) -> &Path {
        match self {
            Location::Sqlite(path) => path,
        }
    }
}

/// The scheme of `text` when it is a PostgreSQL URL.
fn postgres_scheme(text: &[u8]) -> Option<String> {
    let end = text.windows(3).position(|w| w == b"://")?;
    let scheme = std::str::from_utf8(&text[..end]).ok()?;
    POSTGRES_SCHEMES
        .iter()
        .any(|s| s.eq_ignore_ascii_case(scheme))
        .then(|| scheme.to_owned())
}

impl FromStr for Location {
    type Err = LocationError;

    fn from_str(text: &str) -> Result<Location, LocationError> {
        Location::parse(text)
    }
}

impl fmt::Display for Location {
    /// As the user gave it: the path of a file (what messages and `audit-access` events name).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_is_an_sqlite_file_kept_as_given() {
        for text in [
            "audit.db",
            "./rel/audit.db",
            "/var/lib/tmux-audit/audit.db",
            "a:b",
            "x://y",
        ] {
            let loc: Location = text.parse().unwrap();
            assert_eq!(loc, Location::Sqlite(PathBuf::from(text)));
            assert_eq!(loc.to_string(), text);
            assert_eq!(loc.path(), Path::new(text));
        }
        let raw = OsStr::from_bytes(b"/tmp/\xff.db");
        assert_eq!(Location::parse(raw).unwrap().path().as_os_str(), raw);
    }

    #[test]
    fn postgres_urls_are_refused_without_repeating_them() {
        for (text, scheme) in [
            ("postgres://u:secret@db/audit", "postgres"),
            ("postgresql://db/audit", "postgresql"),
            ("PostgreSQL://db", "PostgreSQL"),
        ] {
            let err = Location::parse(text).unwrap_err();
            assert_eq!(
                err,
                LocationError::PostgresUnsupported {
                    scheme: scheme.into()
                }
            );
            let message = err.to_string();
            assert!(message.contains("PostgreSQL stores"), "{message}");
            assert!(message.contains("not supported"), "{message}");
            assert!(!message.contains("secret"), "{message}");
        }
        assert_eq!(Location::parse(""), Err(LocationError::Empty));
    }
}
