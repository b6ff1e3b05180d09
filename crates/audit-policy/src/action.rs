//! What to do about a violation, ordered so the strongest of several wins.

use std::fmt;

/// What the daemon does when a rule is broken. Ordered: `Alert < Detach < Deny`, so the action
/// for a client that breaks several rules is the [`Ord::max`] of theirs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Action {
    /// Record the violation and forward it; the client stays.
    Alert,
    /// Also kick the client (`detach-client`).
    Detach,
    /// Also remove the user from the server (`server-access -d`, which exits all their
    /// clients), so they cannot simply attach again.
    Deny,
}

impl Action {
    /// The name used in policy files and records: `alert`, `detach` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Alert => "alert",
            Action::Detach => "detach",
            Action::Deny => "deny",
        }
    }

    /// The action named `name` in a policy file, if it is one.
    pub fn from_name(name: &str) -> Option<Action> {
        [Action::Alert, Action::Detach, Action::Deny]
            .into_iter()
            .find(|a| a.as_str() == name)
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::Action;

    #[test]
    fn deny_is_stronger_than_detach_is_stronger_than_alert() {
        assert!(Action::Deny > Action::Detach);
        assert!(Action::Detach > Action::Alert);
        assert_eq!(
            [Action::Detach, Action::Deny, Action::Alert]
                .into_iter()
                .max(),
            Some(Action::Deny)
        );
    }

    #[test]
    fn names_round_trip_and_unknown_names_are_refused() {
        for a in [Action::Alert, Action::Detach, Action::Deny] {
            assert_eq!(Action::from_name(a.as_str()), Some(a));
        }
        assert_eq!(Action::from_name("kick"), None);
        assert_eq!(Action::from_name("Deny"), None);
    }
}
