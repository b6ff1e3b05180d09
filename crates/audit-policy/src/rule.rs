//! One validated rule: which clients it covers and who may do what there.

use glob::{MatchOptions, Pattern};

use crate::action::Action;
use crate::origin::OriginPattern;

/// A user name or `@group` from `allow` or `read_only`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Exactly this user name (`#{client_user}`, which tmux derives from the kernel's uid).
    User(String),
    /// Every member of this group (`@name`), primary or supplementary.
    Group(String),
}

impl Principal {
    /// Reads a policy entry; `None` when it is neither a user name nor `@group`: empty, a bare
    /// `@`, blank at either end, or holding a control character. Inner spaces and `@` are kept
    /// (directory accounts such as `Domain Users` or `alice@example.com` have them).
    pub fn parse(text: &str) -> Option<Principal> {
        let valid = |name: &str| {
            !name.is_empty() && name.trim() == name && !name.chars().any(char::is_control)
        };
        match text.strip_prefix('@') {
            Some(group) if valid(group) => Some(Principal::Group(group.to_owned())),
            None if valid(text) => Some(Principal::User(text.to_owned())),
            _ => None,
        }
    }
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Principal::User(user) => f.write_str(user),
            Principal::Group(group) => write!(f, "@{group}"),
        }
    }
}

/// A rule as loaded: every value checked, nothing left to fail at evaluation time.
#[derive(Debug, Clone)]
pub struct Rule {
    pub(crate) name: String,
    pub(crate) line: usize,
    pub(crate) sessions: Vec<Pattern>,
    pub(crate) servers: Option<Vec<Pattern>>,
    pub(crate) allow: Vec<Principal>,
    pub(crate) read_only: Vec<Principal>,
    pub(crate) origins: Option<Vec<OriginPattern>>,
    pub(crate) action: Action,
    pub(crate) enabled: bool,
}

impl Rule {
    /// The rule's name, unique within its policy; violations cite it.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The line of the rule's `name`, to point a reader at the rule.
    pub fn line(&self) -> usize {
        self.line
    }

    /// What to do when the rule is broken.
    pub fn action(&self) -> Action {
        self.action
    }

    /// False for a rule kept written but turned off (`enabled = false`).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Whether the rule applies to a client of session `session` on the server at socket path
    /// `server` (ignoring `enabled`). Session globs let `*` match any text; server globs do not
    /// let `*` or `?` cross a `/`, as in a shell.
    pub fn covers(&self, server: &str, session: &str) -> bool {
        let path = MatchOptions {
            require_literal_separator: true,
            ..MatchOptions::new()
        };
        self.sessions.iter().any(|p| p.matches(session))
            && self
                .servers
                .as_ref()
                .is_none_or(|globs| globs.iter().any(|p| p.matches_with(server, path)))
    }
}

#[cfg(test)]
mod tests {
    use super::Principal;

    #[test]
    fn entries_are_users_or_at_groups() {
        assert_eq!(
            Principal::parse("root"),
            Some(Principal::User("root".into()))
        );
        assert_eq!(
            Principal::parse("@oncall"),
            Some(Principal::Group("oncall".into()))
        );
        assert_eq!(Principal::parse("@oncall").unwrap().to_string(), "@oncall");
    }

    #[test]
    fn directory_style_names_with_at_signs_and_inner_spaces_are_kept() {
        assert_eq!(
            Principal::parse("alice@example.com"),
            Some(Principal::User("alice@example.com".into()))
        );
        assert_eq!(
            Principal::parse("@Domain Users"),
            Some(Principal::Group("Domain Users".into()))
        );
    }

    #[test]
    fn blank_or_control_character_entries_are_refused() {
        for bad in ["", "@", " root", "@oncall ", "al\0ice", "a\nb"] {
            assert_eq!(Principal::parse(bad), None, "{bad:?}");
        }
    }
}
