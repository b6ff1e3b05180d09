//! Recording this process's view of the log (`audit_views::access`), as this user, saying on
//! stderr what could not be done.

use audit_store::Location;
use audit_views::access::Viewer;
pub use audit_views::access::{Recorded, View};

/// Records the view of the store at `location`; a note goes to stderr when the access or the
/// latest output could not be committed.
pub fn record(location: &Location, view: View) -> Recorded {
    let uid = crate::common::uid();
    let viewer = Viewer {
        host: crate::config::view_host_name(),
        uid,
        user: audit_tmux::users::name_of(uid),
        pid: std::process::id(),
        argv: std::env::args_os().skip(1).map(without_password).collect(),
    };
    let outcome = audit_views::access::record(location, &viewer, view);
    if let Some(note) = &outcome.note {
        eprintln!("tmux-audit: note: {note}");
    }
    outcome.recorded
}

/// An argument as the record may keep it: a store URL (`postgres://user:secret@…`, alone or as
/// `--db=…`) with its password replaced by `***`; anything else as it is.
fn without_password(arg: std::ffi::OsString) -> std::ffi::OsString {
    let Some(text) = arg.to_str() else {
        return arg;
    };
    let (flag, value) = match text.split_once('=') {
        Some((flag, value)) if flag.starts_with("--") => (Some(flag), value),
        _ => (None, text),
    };
    match Location::parse(value) {
        Ok(Location::Postgres(pg)) => {
            let shown = pg.redacted();
            flag.map_or(shown.clone(), |f| format!("{f}={shown}"))
                .into()
        }
        _ => arg,
    }
}

#[cfg(test)]
mod tests {
    use super::without_password;

    #[test]
    fn a_store_password_never_reaches_the_record() {
        let shown = |a: &str| without_password(a.into()).into_string().unwrap();
        assert_eq!(
            shown("postgres://audit:s3cret@db/audit"),
            "postgres://audit:***@db/audit"
        );
        assert_eq!(
            shown("--db=postgres://audit:s3cret@db/a"),
            "--db=postgres://audit:***@db/a"
        );
        assert_eq!(
            shown("postgresql://db/a?password=s3cret"),
            "postgresql://db/a?password=***"
        );
        assert_eq!(shown("prod"), "prod");
        assert_eq!(shown("--session=prod"), "--session=prod");
    }
}
