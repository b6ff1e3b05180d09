//! Where a store is: what `--db`, `TMUX_AUDIT_DB` and `db =` say, parsed once at the edge so
//! that everything past it holds a [`Location`] and never guesses from a string again: a path
//! is an SQLite file, a `postgres://` URL a fleet's central store.

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use thiserror::Error;

/// A store's location.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Location {
    /// An SQLite file, as given: a relative path stays relative (to the current folder).
    Sqlite(PathBuf),
    /// A PostgreSQL database: a fleet's central store (see [`PgLocation`]).
    Postgres(PgLocation),
}

/// A PostgreSQL store: the connection URL, and which host's chain to read and append (a
/// central store holds one chain per host; without a scope, only what spans hosts is answered).
///
/// The URL may carry a password, so `Display` and `Debug` print it with the password replaced
/// by `***`; only [`PgLocation::url`] gives it whole, for connecting.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct PgLocation {
    url: String,
    host: Option<String>,
}

impl PgLocation {
    /// The connection URL, password included: for connecting, never for printing.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The host chain this location is scoped to, if any.
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// The URL with any password (in the user part or a `password=` parameter) replaced by
    /// `***`: what messages may show.
    pub fn redacted(&self) -> String {
        redact(&self.url)
    }
}

impl fmt::Display for PgLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())?;
        if let Some(host) = &self.host {
            write!(f, " (host {host})")?;
        }
        Ok(())
    }
}

impl fmt::Debug for PgLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PgLocation")
            .field("url", &self.redacted())
            .field("host", &self.host)
            .finish()
    }
}

/// `url` with its password replaced by `***`.
fn redact(url: &str) -> String {
    let Some(start) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[start..];
    let auth_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(auth_end);
    let mut out = url[..start].to_owned();
    match authority.rfind('@') {
        Some(at) => {
            let (user, hosts) = authority.split_at(at);
            match user.find(':') {
                Some(colon) => {
                    out.push_str(&user[..colon]);
                    out.push_str(":***");
                }
                None => out.push_str(user),
            }
            out.push_str(hosts);
        }
        None => out.push_str(authority),
    }
    match tail.find('?') {
        Some(q) => {
            out.push_str(&tail[..=q]);
            let params: Vec<String> = tail[q + 1..]
                .split('&')
                .map(|p| match p.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => p.to_owned(),
                })
                .collect();
            out.push_str(&params.join("&"));
        }
        None => out.push_str(tail),
    }
    out
}

/// Why a location was refused.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum LocationError {
    /// Nothing was given.
    #[error("the store location is empty: give the path of the store file or a postgres:// URL")]
    Empty,
    /// A PostgreSQL URL that is not UTF-8 (it is not repeated: it may hold a password).
    #[error("the PostgreSQL URL is not valid UTF-8")]
    NotUtf8,
}

/// URL schemes that name a PostgreSQL server (compared without regard to ASCII case, as URL
/// schemes are).
const POSTGRES_SCHEMES: [&str; 2] = ["postgres", "postgresql"];

impl Location {
    /// Parses what the user wrote: a `postgres://` or `postgresql://` URL is a PostgreSQL
    /// store (unscoped: see [`Location::on_host`]); anything else non-empty is the path of an
    /// SQLite file. Takes an `OsStr` because paths need not be UTF-8.
    pub fn parse(text: impl AsRef<OsStr>) -> Result<Location, LocationError> {
        let text = text.as_ref();
        if text.is_empty() {
            return Err(LocationError::Empty);
        }
        if postgres_scheme(text.as_bytes()).is_some() {
            let url = text.to_str().ok_or(LocationError::NotUtf8)?;
            return Ok(Location::Postgres(PgLocation {
                url: url.to_owned(),
                host: None,
            }));
        }
        Ok(Location::Sqlite(PathBuf::from(text)))
    }

    /// The store's file, for a store that is one (`None`: a database server).
    pub fn path(&self) -> Option<&Path> {
        match self {
            Location::Sqlite(path) => Some(path),
            Location::Postgres(_) => None,
        }
    }

    /// The same store, scoped to the chain of `host` (what `--host` names). An SQLite store
    /// holds one host's chain: it is returned as it is.
    pub fn on_host(&self, host: impl Into<String>) -> Location {
        match self {
            Location::Sqlite(_) => self.clone(),
            Location::Postgres(pg) => Location::Postgres(PgLocation {
                url: pg.url.clone(),
                host: Some(host.into()),
            }),
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
    /// As the user gave it: the path of a file (what messages and `audit-access` events name),
    /// or a URL without its password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Sqlite(path) => write!(f, "{}", path.display()),
            Location::Postgres(pg) => pg.fmt(f),
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
            assert_eq!(loc.path(), Some(Path::new(text)));
        }
        let raw = OsStr::from_bytes(b"/tmp/\xff.db");
        assert_eq!(
            Location::parse(raw).unwrap().path().unwrap().as_os_str(),
            raw
        );
    }

    #[test]
    fn postgres_urls_are_server_stores_printed_without_their_password() {
        for (text, shown) in [
            (
                "postgres://audit:s3cret@db:5432/audit",
                "postgres://audit:***@db:5432/audit",
            ),
            ("postgresql://db/audit", "postgresql://db/audit"),
            ("PostgreSQL://u@db", "PostgreSQL://u@db"),
            (
                "postgres://db/a?sslmode=require&password=s3cret",
                "postgres://db/a?sslmode=require&password=***",
            ),
            ("postgres://u:p@ss:w@db/x", "postgres://u:***@db/x"),
        ] {
            let loc = Location::parse(text).unwrap();
            let Location::Postgres(pg) = &loc else {
                panic!("{text} is not a postgres location");
            };
            assert_eq!(pg.url(), text);
            assert_eq!(loc.path(), None);
            assert_eq!(loc.to_string(), shown);
            let debug = format!("{loc:?}");
            assert!(
                !debug.contains("s3cret") && !debug.contains("p@ss"),
                "{debug}"
            );
            let scoped = loc.on_host("web-1");
            assert!(scoped.to_string().ends_with("(host web-1)"), "{scoped}");
            assert!(matches!(&scoped, Location::Postgres(p) if p.host() == Some("web-1")));
        }
        let file = Location::parse("a.db").unwrap();
        assert_eq!(file.on_host("x"), file);
        assert_eq!(Location::parse(""), Err(LocationError::Empty));
    }
}
