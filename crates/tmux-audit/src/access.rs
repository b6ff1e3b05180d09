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
        argv: std::env::args_os().skip(1).collect(),
    };
    let outcome = audit_views::access::record(location, &viewer, view);
    if let Some(note) = &outcome.note {
        eprintln!("tmux-audit: note: {note}");
    }
    outcome.recorded
}
