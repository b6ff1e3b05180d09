//! Evaluating a policy for one client: which rules cover it, what it breaks, what to do.

use std::fmt;

use crate::accounts::Accounts;
use crate::action::Action;
use crate::origin::{ClientOrigin, OriginPattern};
use crate::rule::{Principal, Rule};

/// What is known about one attached client, as the daemon observed it.
#[derive(Debug, Clone, Copy)]
pub struct ClientAccess<'a> {
    /// The server's socket path (matched by a rule's `servers`).
    pub server: &'a str,
    /// The session the client is attached to (matched by a rule's `sessions`).
    pub session: &'a str,
    /// `#{client_user}`: tmux's name for the kernel-attested uid; empty when the uid has no
    /// name.
    pub user: &'a str,
    /// `#{client_uid}`, when known; only quoted in details.
    pub uid: Option<u32>,
    /// `local`, the SSH client's address, `ssh` (address unknown), or `None` when it could not
    /// be read.
    pub origin: Option<&'a str>,
    /// The client's read-only flag as tmux shows it now.
    pub readonly: bool,
    /// Whether it is a control-mode client (`tmux -C`).
    pub control_mode: bool,
    /// Whether the client's read-only flag was just cleared (`switch-client -r`).
    pub readonly_cleared: bool,
}

/// Which requirement of a rule a client broke: part of the event model (a `policy-violation`
/// records it as `violation`), so it lives in `audit-core` with its one table of names.
pub use audit_core::ViolationKind;

/// One broken requirement of one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// The rule's name.
    pub rule: String,
    /// What was broken.
    pub what: ViolationKind,
    /// The rule's action.
    pub action: Action,
    /// A sentence for a person reading the record.
    pub detail: String,
}

/// Everything a client breaks, over all rules, and the one thing to do about it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// Every violation, in rule order, then in the order of [`ViolationKind`].
    pub violations: Vec<Violation>,
    /// The strongest action among the violations; `None` when there are none.
    pub action: Option<Action>,
}

impl Verdict {
    /// True when the client breaks no rule.
    pub fn is_ok(&self) -> bool {
        self.violations.is_empty()
    }
}

/// Evaluates every enabled rule covering the client.
pub(crate) fn check(rules: &[Rule], client: &ClientAccess<'_>, accounts: &dyn Accounts) -> Verdict {
    let violations: Vec<Violation> = rules
        .iter()
        .filter(|r| r.enabled && r.covers(client.server, client.session))
        .flat_map(|r| {
            broken(r, client, accounts)
                .into_iter()
                .map(|(what, detail)| Violation {
                    rule: r.name.clone(),
                    what,
                    action: r.action,
                    detail,
                })
        })
        .collect();
    let action = violations.iter().map(|v| v.action).max();
    Verdict { violations, action }
}

/// What one covering rule finds wrong with the client, with a detail sentence each.
fn broken(
    rule: &Rule,
    c: &ClientAccess<'_>,
    accounts: &dyn Accounts,
) -> Vec<(ViolationKind, String)> {
    let who = Who(c);
    let session = c.session;
    let listed = |list: &[Principal]| list.iter().any(|p| matches(p, c.user, accounts));
    let mut found = Vec::new();
    if !listed(&rule.allow) {
        if !listed(&rule.read_only) {
            found.push((
                ViolationKind::User,
                format!(
                    "{who} is attached to session {session:?} but is not allowed there \
                     (allow: {}; read_only: {})",
                    names(&rule.allow),
                    names(&rule.read_only)
                ),
            ));
        } else {
            if c.control_mode {
                found.push((
                    ViolationKind::ControlMode,
                    format!(
                        "{who} may attach to session {session:?} only read-only but is attached \
                         in control mode, where tmux does not enforce read-only"
                    ),
                ));
            }
            if c.readonly_cleared {
                found.push((
                    ViolationKind::ReadonlyCleared,
                    format!(
                        "{who} may attach to session {session:?} only read-only but cleared \
                         the client's read-only flag (switch-client -r)"
                    ),
                ));
            } else if !c.readonly {
                found.push((
                    ViolationKind::ReadOnly,
                    format!(
                        "{who} may attach to session {session:?} only read-only but is \
                         attached writable"
                    ),
                ));
            }
        }
    }
    if let Some(origins) = &rule.origins {
        let allowed = || {
            origins
                .iter()
                .map(OriginPattern::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        match c.origin {
            None => found.push((
                ViolationKind::Origin,
                format!(
                    "the origin of {who} could not be read (client process gone or unreadable), \
                     and session {session:?} is open only to {}",
                    allowed()
                ),
            )),
            Some(origin) if !origins.iter().any(|o| o.matches(origin)) => {
                let from = match ClientOrigin::of(origin) {
                    ClientOrigin::Other => format!(
                        "came from {origin:?}, not an address (the SSH client's address could \
                         not be read)"
                    ),
                    _ => format!("came from {origin}"),
                };
                found.push((
                    ViolationKind::Origin,
                    format!(
                        "{who} {from}, and session {session:?} is open only to {}",
                        allowed()
                    ),
                ));
            }
            Some(_) => {}
        }
    }
    found
}

fn matches(p: &Principal, user: &str, accounts: &dyn Accounts) -> bool {
    match p {
        Principal::User(name) => !user.is_empty() && name == user,
        Principal::Group(group) => !user.is_empty() && accounts.is_member(user, group),
    }
}

fn names(list: &[Principal]) -> String {
    if list.is_empty() {
        return "nobody".to_owned();
    }
    list.iter()
        .map(Principal::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A client's user as a detail sentence names it: `alice (uid 1001)`, or `uid 1001` alone
/// when the uid has no name.
struct Who<'a, 'c>(&'a ClientAccess<'c>);

impl fmt::Display for Who<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.0.user, self.0.uid) {
            ("", Some(uid)) => write!(f, "uid {uid} (no user name)"),
            ("", None) => f.write_str("an unnamed user"),
            (user, Some(uid)) => write!(f, "{user} (uid {uid})"),
            (user, None) => f.write_str(user),
        }
    }
}
