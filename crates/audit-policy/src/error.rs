//! What can be wrong with a policy file, and what is merely suspicious.
//!
//! A policy decides who gets kicked, so a mistake in it must stop the load with the place to
//! fix (`FILE:LINE:COL: reason`) rather than quietly weaken a rule. Names that do not exist yet
//! are only warnings: users and groups may be created after the policy is written.

use std::io;
use std::path::PathBuf;

use thiserror::Error;

/// Why a policy could not be loaded. A policy is all or nothing: no rule of a file that fails
/// is ever used.
#[derive(Debug, Error)]
pub enum PolicyError {
    /// The file could not be read (missing, unreadable, not UTF-8).
    #[error("cannot read policy {}: {source}", path.display())]
    Read {
        /// The file that was asked for.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: io::Error,
    },
    /// The text is not a valid policy; `line` and `col` (1-based) point at the offending value.
    #[error("{file}:{line}:{col}: {reason}")]
    Invalid {
        /// The file name as given to the parser.
        file: String,
        /// 1-based line of the offending value.
        line: usize,
        /// 1-based column (in characters) of the offending value.
        col: usize,
        /// What is wrong, and usually how to fix it.
        reason: Reason,
    },
}

/// What is wrong with the value an [`PolicyError::Invalid`] points at.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum Reason {
    /// Not TOML, or TOML of the wrong shape: a syntax error, a wrong type, a missing required
    /// key, or an unknown key (a typo must never silently weaken a rule). The text is the TOML
    /// parser's.
    #[error("{0}")]
    Toml(String),
    /// A `sessions` or `servers` pattern that is not a valid glob.
    #[error("bad glob {pattern:?}: {why}")]
    BadGlob {
        /// The pattern as written.
        pattern: String,
        /// Why the glob parser refused it.
        why: String,
    },
    /// An `origins` entry that is neither `local`, an IP address nor a CIDR.
    #[error("bad origin {0:?}: expected \"local\", an IP address or a CIDR such as 10.0.0.0/8")]
    BadOrigin(String),
    /// An `allow` or `read_only` entry that is neither a user name nor `@group`.
    #[error("bad entry {0:?}: expected a user name or @group")]
    BadEntry(String),
    /// An `action` other than the three known ones.
    #[error("unknown action {0:?}: expected alert, detach or deny")]
    UnknownAction(String),
    /// An empty list where an empty list would make the rule meaningless.
    #[error("`{0}` is empty: {hint}", hint = empty_hint(.0))]
    EmptyList(&'static str),
    /// A rule whose `name` is empty or blank; violations are reported by rule name.
    #[error("rule name is empty: violations are reported by it, give the rule a name")]
    EmptyName,
    /// Two rules with one name; violations would not say which rule was broken.
    #[error("duplicate rule name {name:?} (first used on line {first_line})")]
    DuplicateName {
        /// The name used twice.
        name: String,
        /// The line where it was first used.
        first_line: usize,
    },
    /// A rule that lists nobody: almost always a forgotten key.
    #[error(
        "rule {0:?} has neither `allow` nor `read_only`; write `allow = []` if nobody may attach"
    )]
    NoPrincipals(String),
}

fn empty_hint(key: &str) -> &'static str {
    match key {
        "sessions" => "the rule would cover no session (use enabled = false to turn it off)",
        "servers" => "the rule would cover no server (remove the key to cover every server)",
        "origins" => "no client could ever satisfy it (remove the key to allow any origin)",
        _ => "remove the key or give it a value",
    }
}

/// Something in a policy that loaded but probably does not do what its author meant.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{file}:{line}:{col}: warning: {kind}")]
pub struct Warning {
    /// The file name as given to the parser.
    pub file: String,
    /// 1-based line of the value warned about.
    pub line: usize,
    /// 1-based column (in characters) of the value warned about.
    pub col: usize,
    /// What is suspicious.
    pub kind: WarningKind,
}

/// What a [`Warning`] is about.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WarningKind {
    /// A user entry names no user of this system.
    #[error("no user {0:?} on this system: the entry matches nobody until the user exists")]
    UnknownUser(String),
    /// A `@group` entry names no group of this system.
    #[error("no group {0:?} on this system: the entry matches nobody until the group exists")]
    UnknownGroup(String),
}
