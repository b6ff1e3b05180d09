//! Recording that someone views the log (`audit-access`; PCI DSS 10.2.1.3: "all access to audit
//! logs"), and getting the output panes printed a moment ago committed before the view reads.
//!
//! First the daemon recording into the store is asked over its control socket
//! ([`audit_state::control`]): it commits every pane's pending output, then the `audit-access`
//! event, with the uid the kernel attests for the connection, and answers once both are stored
//! (within 1.5 s). With no daemon answering, the viewer appends the event itself when it can
//! write the store. When neither works (no daemon, store read-only to this user) the view still
//! runs, and stderr says the access was not recorded: refusing would not protect anything, since
//! whoever can read the store file can read it without tmux-audit.

use audit_core::{Bytes, Event, Kind, Observed, Timestamp};
use audit_state::control as protocol;
use audit_state::StateDir;
use audit_store::{Access, Location};
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

/// What is being viewed.
pub struct View {
    /// One of [`protocol::VIEWS`].
    pub view: &'static str,
    /// The search pattern.
    pub query: Option<String>,
    /// The pane as named on the command line.
    pub pane: Option<String>,
}

/// How the access was recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// By the daemon, which committed pending output first.
    ByDaemon,
    /// Accepted by the daemon but not committed in time (nor the pending output).
    Queued,
    /// By this process.
    ByViewer,
    /// Not at all (a note is on stderr).
    No,
}

/// How long to wait for the daemon: its commit bound and a margin.
const ASK_TIMEOUT: Duration = Duration::from_millis(2500);

/// Records the view of the store at `location` (see the module docs); notes on stderr what it
/// could not.
pub fn record(location: &Location, view: View) -> Recorded {
    let request = protocol::Request {
        view: view.view.into(),
        query: view.query.clone().map(|q| clip(&q)),
        pane: view.pane.clone().map(|p| clip(&p)),
        argv: std::env::args_os()
            .skip(1)
            .take(64)
            .map(|a| clip(&a.to_string_lossy()))
            .collect(),
    };
    let state = StateDir::of(location);
    let daemon = match protocol::ask(state.control_socket(), &request, ASK_TIMEOUT) {
        Ok(reply) if reply.recorded => return Recorded::ByDaemon,
        Ok(reply) if reply.queued => {
            eprintln!(
                "tmux-audit: note: the daemon queued this access but has not committed it (nor the panes' latest output) yet: {}",
                reply.error.unwrap_or_default()
            );
            return Recorded::Queued;
        }
        Ok(reply) => reply.error.unwrap_or_else(|| "it gave no reason".into()),
        Err(e) => e.to_string(),
    };
    match append(location, &view) {
        Ok(()) => {
            if state.is_recording() == Some(true) {
                eprintln!("tmux-audit: note: the daemon did not commit the panes' latest output for this view ({daemon}): output of the last --flush-after (30 s by default) may be missing");
            }
            Recorded::ByViewer
        }
        Err(e) => {
            eprintln!(
                "tmux-audit: note: this access to {} was NOT recorded: the daemon could not record it ({daemon}), and this user cannot write the store ({e:#})",
                location
            );
            Recorded::No
        }
    }
}

/// Appends the event as this process (it can write the store).
fn append(location: &Location, view: &View) -> anyhow::Result<()> {
    // `server` names what was accessed: the store (a view's -S/--server is in its argv).
    let server = location.to_string();
    let host = crate::cmd::daemon::hostname();
    let mut e =
        Event::new(Timestamp::now(), Kind::AuditAccess, &host, &server).observed(Observed::Live);
    let uid = crate::common::uid();
    e.uid = Some(i64::from(uid));
    e.user = audit_tmux::users::name_of(uid);
    e.pid = Some(i64::from(std::process::id()));
    e.view = Some(view.view.into());
    e.query = view.query.clone().or_else(|| view.pane.clone());
    e.pane_id = view.pane.clone().filter(|p| p.starts_with('%'));
    e.argv = Some(
        std::env::args_os()
            .skip(1)
            .map(|a| Bytes(a.as_bytes().to_vec()))
            .collect(),
    );
    e.recorded_by = Some("viewer".into());
    e.message = Some("recorded by the viewer itself (it could write the store; no daemon answered): uid is its real uid".into());
    let mut store = audit_store::open(location, Access::Create)?;
    store.append(&[e])?;
    Ok(())
}

/// At most 1024 bytes, cut at a character boundary (the daemon refuses longer values).
fn clip(text: &str) -> String {
    let mut end = text.len().min(1024);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}
