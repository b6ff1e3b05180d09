//! Recording that someone views the log (`audit-access`; PCI DSS 10.2.1.3: "all access to audit
//! logs"), and getting the output panes printed a moment ago committed before the view reads.
//!
//! First the daemon recording into the store is asked over its control socket
//! ([`audit_state::control`]): it commits every pane's pending output, then the `audit-access`
//! event, with the uid the kernel attests for the connection, and answers once both are stored
//! (within 1.5 s). With no daemon answering, the viewer appends the event itself when it can
//! write the store. When neither works (no daemon, store read-only to this user) the view still
//! runs, and the front end is given a note saying the access was not recorded: refusing would not protect anything, since
//! whoever can read the store file can read it without tmux-audit.

use audit_core::{Bytes, Event, Kind, Observed, Timestamp};
use audit_state::control as protocol;
use audit_state::StateDir;
use audit_store::{Access, Location, StoreError};
use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::time::Duration;

/// Who is viewing, as the front end knows it: the kernel's answer about this process.
#[derive(Clone, Debug)]
pub struct Viewer {
    /// This host's name.
    pub host: String,
    /// The viewer's real uid.
    pub uid: u32,
    /// Its user name.
    pub user: Option<String>,
    /// The viewing process.
    pub pid: u32,
    /// Its arguments (the CLI's; a web UI passes what it was asked).
    pub argv: Vec<OsString>,
}

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
    /// Not at all.
    No,
}

/// How the access was recorded, and what the viewer should be told about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// How.
    pub recorded: Recorded,
    /// A note for the person viewing, when something is short of a recorded access with the
    /// latest output committed.
    pub note: Option<String>,
}

/// How long to wait for the daemon: its commit bound and a margin.
const ASK_TIMEOUT: Duration = Duration::from_millis(2500);

/// Records `viewer`'s view of the store at `location` (see the module docs).
pub fn record(location: &Location, viewer: &Viewer, view: View) -> Outcome {
    let request = protocol::Request {
        view: view.view.into(),
        query: view.query.clone().map(|q| clip(&q)),
        pane: view.pane.clone().map(|p| clip(&p)),
        argv: (viewer.argv.iter())
            .take(64)
            .map(|a| clip(&a.to_string_lossy()))
            .collect(),
    };
    let state = StateDir::of(location);
    let outcome = |recorded, note| Outcome { recorded, note };
    let daemon = match protocol::ask(state.control_socket(), &request, ASK_TIMEOUT) {
        Ok(reply) if reply.recorded => return outcome(Recorded::ByDaemon, None),
        Ok(reply) if reply.queued => {
            let note = format!(
                "the daemon queued this access but has not committed it (nor the panes' latest output) yet: {}",
                reply.error.unwrap_or_default()
            );
            return outcome(Recorded::Queued, Some(note));
        }
        Ok(reply) => reply.error.unwrap_or_else(|| "it gave no reason".into()),
        Err(e) => e.to_string(),
    };
    match append(location, viewer, &view) {
        Ok(()) => {
            let note = (state.is_recording() == Some(true)).then(|| format!("the daemon did not commit the panes' latest output for this view ({daemon}): output of the last --flush-after (30 s by default) may be missing"));
            outcome(Recorded::ByViewer, note)
        }
        Err(e) => {
            let note = format!(
                "this access to {location} was NOT recorded: the daemon could not record it ({daemon}), and this user cannot write the store ({e})"
            );
            outcome(Recorded::No, Some(note))
        }
    }
}

/// Appends the event as this process (it can write the store).
fn append(location: &Location, viewer: &Viewer, view: &View) -> Result<(), StoreError> {
    let mut e = event(location, &viewer.host, view);
    e.uid = Some(i64::from(viewer.uid));
    e.user = viewer.user.clone();
    e.pid = Some(i64::from(viewer.pid));
    e.argv = Some(
        (viewer.argv.iter())
            .map(|a| Bytes(a.as_bytes().to_vec()))
            .collect(),
    );
    e.recorded_by = Some("viewer".into());
    e.message = Some("recorded by the viewer itself (it could write the store; no daemon answered): uid is its real uid".into());
    store_event(location, e)
}

/// Someone a server in front of the store vouches for: the web UI's logged-in auditor. The
/// kernel attests only the server's own uid, so the server records the access itself, naming
/// the user its login checked and the address the request came from.
#[derive(Clone, Debug)]
pub struct Visitor {
    /// This host's name.
    pub host: String,
    /// The user the server's login checked (PAM).
    pub user: String,
    /// Their uid in this host's user database, when they have one.
    pub uid: Option<u32>,
    /// The client's address, as the server's socket saw it.
    pub origin: String,
    /// The server's pid.
    pub pid: u32,
    /// Which server records it (`web`).
    pub recorded_by: &'static str,
}

/// Records a view (or a login, `web-login…`) by `visitor`, written by the server itself; the
/// caller refuses to serve the view when this fails (fail closed: an auditor's view that is
/// not in the log must not happen through a server that could have logged it). A server that
/// records often keeps a store of [`target`] open and appends [`visit_event`]s itself.
pub fn record_visit(location: &Location, visitor: &Visitor, view: View) -> Result<(), StoreError> {
    let mut store = audit_store::open(&target(location), Access::Create)?;
    store.append(&[visit_event(location, visitor, &view)])?;
    Ok(())
}

/// The `audit-access` event of `visitor`'s `view` of the store at `location`.
pub fn visit_event(location: &Location, visitor: &Visitor, view: &View) -> Event {
    let mut e = event(location, &visitor.host, view);
    e.uid = visitor.uid.map(i64::from);
    e.user = Some(clip(&visitor.user));
    e.pid = Some(i64::from(visitor.pid));
    e.origin = Some(clip(&visitor.origin));
    e.recorded_by = Some(visitor.recorded_by.into());
    e
}

/// Where views of the store at `location` are recorded: the store itself, or on a central
/// store the center's own chain — never a host's, which holds only what the host shipped.
pub fn target(location: &Location) -> Location {
    match location {
        Location::Postgres(_) => location.on_host(audit_store::central::CENTER),
        Location::Sqlite(_) => location.clone(),
    }
}

/// The `audit-access` event of `view` of the store at `location`, without its viewer.
fn event(location: &Location, host: &str, view: &View) -> Event {
    // `server` names what was accessed: the store (a view's -S/--server is in its argv).
    let server = location.to_string();
    let mut e =
        Event::new(Timestamp::now(), Kind::AuditAccess, host, &server).observed(Observed::Live);
    e.view = Some(view.view.into());
    e.query = view
        .query
        .clone()
        .or_else(|| view.pane.clone())
        .map(|q| clip(&q));
    e.pane_id = view
        .pane
        .clone()
        .filter(|p| p.starts_with('%'))
        .map(|p| clip(&p));
    e
}

/// Appends `e` where views of `location` are recorded.
fn store_event(location: &Location, e: Event) -> Result<(), StoreError> {
    let mut store = audit_store::open(&target(location), Access::Create)?;
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
