//! The policy in force: each client that attaches, is found attached, or clears its read-only
//! flag is checked against the rules (`audit-policy`); each violation is a `policy-violation`
//! event recorded right after what showed it, and the strongest action is taken at once through
//! the server's own watcher (the daemon's control client runs the command, so it is the
//! daemon's act, not a new client's): `detach` kicks the client, `deny` also removes the user
//! from the server's access list (`server-access -d`) and kicks them.
//!
//! The policy can be replaced while running (SIGHUP): [`Enforcer::replace`] swaps it whole.

use crate::attributing::Nudgers;
use audit_core::{Event, Kind};
use audit_policy::{Action, ClientAccess, Policy, SystemAccounts};
use audit_tmux::capture::tmux_quote;
use std::sync::{Arc, RwLock};

/// The rules in force and the account database they are read against.
pub struct Enforcer {
    state: RwLock<Option<(Arc<Policy>, Arc<SystemAccounts>)>>,
}

impl Enforcer {
    /// Enforces `policy` (none: nothing to enforce).
    pub fn new(policy: Option<Policy>) -> Self {
        let e = Enforcer {
            state: RwLock::new(None),
        };
        e.replace(policy);
        e
    }

    /// Puts `policy` in force, whole; group memberships are read afresh.
    pub fn replace(&self, policy: Option<Policy>) {
        let next = policy.map(|p| (Arc::new(p), Arc::new(SystemAccounts::new())));
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = next;
    }

    /// The `policy-violation` events `events` show, in order; the actions are asked of the
    /// servers' watchers through `nudgers`.
    pub fn check(&self, events: &[Event], nudgers: &Nudgers) -> Vec<Event> {
        let Some((policy, accounts)) = self.state.read().unwrap_or_else(|e| e.into_inner()).clone()
        else {
            return Vec::new();
        };
        let mut found = Vec::new();
        for e in events {
            let cleared = match e.kind {
                Kind::ClientAttached => false,
                // Becoming read-only breaks nothing; losing it may.
                Kind::ClientReadonlyChanged if e.readonly == Some(false) => true,
                _ => continue,
            };
            let (Some(session), Some(client)) = (&e.session, &e.client) else {
                continue;
            };
            let control_mode = e
                .flags
                .as_deref()
                .is_some_and(|f| f.split(',').any(|x| x == "control-mode"));
            let access = ClientAccess {
                server: &e.server,
                session,
                user: e.user.as_deref().unwrap_or(""),
                uid: e.uid.and_then(|u| u32::try_from(u).ok()),
                origin: e.origin.as_deref(),
                readonly: e.readonly.unwrap_or(false),
                control_mode,
                readonly_cleared: cleared,
            };
            let verdict = policy.check(&access, accounts.as_ref());
            for v in &verdict.violations {
                found.push(violation(e, v));
            }
            match verdict.action {
                Some(Action::Deny) => {
                    if let Some(user) = &e.user {
                        ask(
                            nudgers,
                            &e.server,
                            format!("server-access -d {}", tmux_quote(user)),
                        );
                    }
                    ask(nudgers, &e.server, detach(client));
                }
                Some(Action::Detach) => ask(nudgers, &e.server, detach(client)),
                Some(Action::Alert) | None => {}
            }
        }
        found
    }
}

fn detach(client: &str) -> String {
    format!("detach-client -t {}", tmux_quote(client))
}

fn ask(nudgers: &Nudgers, server: &str, command: String) {
    let queued = nudgers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(server)
        .is_some_and(|n| n.run(command.clone()));
    if !queued {
        tracing::error!(
            server,
            "cannot enforce the policy: `{command}` could not be queued"
        );
    }
}

/// The event for one violation, naming the client as the event that showed it did.
fn violation(shown: &Event, v: &audit_policy::Violation) -> Event {
    let mut e = Event::new(
        shown.time,
        Kind::PolicyViolation,
        &shown.host,
        &shown.server,
    );
    e.observed = shown.observed.clone();
    e.session = shown.session.clone();
    e.session_id = shown.session_id.clone();
    e.client = shown.client.clone();
    e.client_pid = shown.client_pid;
    e.uid = shown.uid;
    e.user = shown.user.clone();
    e.readonly = shown.readonly;
    e.origin = shown.origin.clone();
    e.flags = shown.flags.clone();
    e.tty = shown.tty.clone();
    e.rule = Some(v.rule.clone());
    e.violation = Some(v.what.as_str().to_owned());
    e.action = Some(v.action.as_str().to_owned());
    e.message = Some(v.detail.clone());
    e
}
