//! The policy in force: each client that attaches, is found attached, clears its read-only
//! flag, or whose session is renamed is checked against the rules (`audit-policy`), and every
//! attached client again when the policy is replaced (SIGHUP). Each violation is a
//! `policy-violation` event recorded right after what showed it, and the strongest action is
//! taken at once through the server's own watcher (the daemon's control client runs the
//! command, so it is the daemon's act, not a new client's): `detach` kicks the client, `deny`
//! also removes the user from the server's access list (`server-access -d`). A client whose
//! name is not unique or not plain (clients name themselves) is dealt with by removing its user.

use crate::attributing::Nudgers;
use crate::Config;
use audit_core::fold::{Attachment, World};
use audit_core::{Event, Kind, Reason, Timestamp};
use audit_policy::{Action, ClientAccess, Policy, SystemAccounts};
use audit_tmux::conn::Kick;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// The rules in force, the account database they are read against, and who is attached where
/// (folded from the events that pass).
pub struct Enforcer {
    state: RwLock<Option<(Arc<Policy>, Arc<SystemAccounts>)>>,
    /// When the account database was last read afresh.
    accounts_read: Mutex<Instant>,
    world: Mutex<World>,
}

/// How long group memberships are believed before they are read again: a user taken out of
/// `@oncall` loses what the group allowed within this.
const ACCOUNTS_FRESH: Duration = Duration::from_secs(60);

impl Enforcer {
    /// Enforces `policy` (none: nothing to enforce), starting from `world` (the log's state).
    pub fn new(policy: Option<Policy>, world: World) -> Self {
        let e = Enforcer {
            state: RwLock::new(None),
            accounts_read: Mutex::new(Instant::now()),
            world: Mutex::new(world),
        };
        e.replace(policy);
        e
    }

    /// Puts `policy` in force, whole; group memberships are read afresh.
    pub fn replace(&self, policy: Option<Policy>) {
        let next = policy.map(|p| (Arc::new(p), Arc::new(SystemAccounts::new())));
        *self.state.write().unwrap_or_else(|e| e.into_inner()) = next;
        *self.accounts_read.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    /// Forgets the cached account database once it is [`ACCOUNTS_FRESH`] old.
    fn refresh_accounts(&self) {
        let mut read = self.accounts_read.lock().unwrap_or_else(|e| e.into_inner());
        if read.elapsed() < ACCOUNTS_FRESH {
            return;
        }
        *read = Instant::now();
        if let Some((_, accounts)) = self
            .state
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .as_mut()
        {
            *accounts = Arc::new(SystemAccounts::new());
        }
    }

    /// Checks every client attached now (after [`Enforcer::replace`]): the violations, as
    /// events, the actions asked of the servers' watchers through `nudgers`.
    pub fn recheck_all(&self, host: &str, nudgers: &Nudgers) -> Vec<Event> {
        let attached: Vec<Attachment> = self
            .world
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clients
            .values()
            .cloned()
            .collect();
        let now = Timestamp::now();
        attached
            .iter()
            .flat_map(|a| self.judge(&shown_by(a, host, now), false, nudgers))
            .collect()
    }

    /// The `policy-violation` events `events` show, in order; the actions are asked of the
    /// servers' watchers through `nudgers`.
    pub fn check(&self, events: &[Event], nudgers: &Nudgers) -> Vec<Event> {
        // No policy (one can only be put in force again, never first, on SIGHUP): nothing to
        // judge, so nothing to follow either.
        if self
            .state
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .is_none()
        {
            return Vec::new();
        }
        let mut found = Vec::new();
        for e in events {
            let mut world = self.world.lock().unwrap_or_else(|e| e.into_inner());
            match e.kind {
                Kind::ClientAttached => {
                    world.apply(e);
                    drop(world);
                    found.extend(self.judge(e, false, nudgers));
                }
                // Becoming read-only breaks nothing; losing it may. The event does not carry
                // where the client came from: its attach did.
                Kind::ClientReadonlyChanged if e.readonly == Some(false) => {
                    let mut shown = e.clone();
                    if shown.origin.is_none() {
                        shown.origin = client_of(&world, e).and_then(|a| a.origin.clone());
                    }
                    world.apply(e);
                    drop(world);
                    found.extend(self.judge(&shown, true, nudgers));
                }
                // A session renamed into a name a rule covers: its clients are judged again.
                Kind::SessionRenamed => {
                    world.apply(e);
                    let inside: Vec<Attachment> = world
                        .clients
                        .values()
                        .filter(|a| {
                            a.server == e.server && Some(&a.session_id) == e.session_id.as_ref()
                        })
                        .cloned()
                        .collect();
                    drop(world);
                    for a in &inside {
                        found.extend(self.judge(&shown_by(a, &e.host, e.time), false, nudgers));
                    }
                }
                _ => world.apply(e),
            }
        }
        found
    }

    /// The violations of the client `e` names, and the strongest action asked for.
    fn judge(&self, e: &Event, cleared: bool, nudgers: &Nudgers) -> Vec<Event> {
        self.refresh_accounts();
        let Some((policy, accounts)) = self.state.read().unwrap_or_else(|e| e.into_inner()).clone()
        else {
            return Vec::new();
        };
        let (Some(session), Some(client)) = (&e.session, &e.client) else {
            return Vec::new();
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
        let deny = match verdict.action {
            Some(Action::Deny) => Some(true),
            Some(Action::Detach) => Some(false),
            Some(Action::Alert) | None => None,
        };
        if let Some(deny) = deny {
            ask(
                nudgers,
                &e.server,
                Kick {
                    client: client.clone(),
                    user: e.user.clone(),
                    deny,
                },
            );
        }
        verdict.violations.iter().map(|v| violation(e, v)).collect()
    }
}

/// The attachment `e` is about, as last recorded.
fn client_of<'a>(world: &'a World, e: &Event) -> Option<&'a Attachment> {
    world
        .clients
        .values()
        .find(|a| a.server == e.server && Some(&a.client) == e.client.as_ref())
}

/// An attached client as the event that would show it now.
fn shown_by(a: &Attachment, host: &str, time: Timestamp) -> Event {
    let mut e = Event::new(time, Kind::ClientAttached, host, &a.server);
    e.session = Some(a.session.clone());
    e.session_id = Some(a.session_id.clone());
    e.client = Some(a.client.clone());
    e.client_pid = a.client_pid;
    e.user = a.user.clone();
    e.uid = a.uid;
    e.readonly = Some(a.readonly);
    e.origin = a.origin.clone();
    e.flags = a.flags.clone();
    e.tty = a.tty.clone();
    e
}

fn ask(nudgers: &Nudgers, server: &str, kick: Kick) {
    let queued = nudgers
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .get(server)
        .is_some_and(|n| n.kick(kick.clone()));
    if !queued {
        tracing::error!(
            server,
            client = %kick.client,
            "cannot enforce the policy: the kick could not be queued"
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
    e.observed = shown.observed;
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
    e.violation = Some(v.what);
    e.action = Some(v.action);
    e.message = Some(v.detail.clone());
    e
}

/// `policy-loaded`: which policy is in force from now (file, rules, digest of its text).
pub fn loaded(
    config: &Config,
    scope_name: &str,
    path: &std::path::Path,
    policy: &audit_policy::Policy,
    now: Timestamp,
) -> Event {
    let mut e = Event::new(now, Kind::PolicyLoaded, &config.host, scope_name);
    e.digest = Some(policy.digest().to_owned());
    e.message = Some(format!(
        "{}: {} rules in force",
        path.display(),
        policy.rules().len()
    ));
    e
}

/// SIGHUP: reads the policy file again; a broken one changes nothing and says why.
pub fn reload(config: &Config, scope_name: &str, enforcer: &Enforcer) -> Event {
    let now = Timestamp::now();
    let Some((path, _)) = &config.policy else {
        let mut e = Event::new(now, Kind::PolicyLoaded, &config.host, scope_name);
        e.reason = Some(Reason::NoPolicy);
        e.message =
            Some("SIGHUP: the daemon was started without a policy; nothing to read again".into());
        return e;
    };
    match audit_policy::Policy::load(path) {
        Ok(read) => {
            for w in &read.warnings {
                tracing::warn!("{w}");
            }
            tracing::info!("SIGHUP: {} put in force", path.display());
            let e = loaded(config, scope_name, path, &read.policy, now);
            enforcer.replace(Some(read.policy));
            e
        }
        Err(error) => {
            tracing::error!("SIGHUP: {error}; the policy in force stays");
            let mut e = Event::new(now, Kind::PolicyLoaded, &config.host, scope_name);
            e.reason = Some(Reason::Refused);
            e.message = Some(format!(
                "SIGHUP: {error}; the policy in force before stays in force"
            ));
            e
        }
    }
}
