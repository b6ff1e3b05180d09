//! The closed sets of names some event fields take: [`Reason`], [`Observed`], [`Severity`],
//! [`ViolationKind`] and [`Action`] (and [`Confidence`](crate::attribution::Confidence) for
//! `attribution`, beside the attribution it grades).
//!
//! Each set is one table, written once with `names!`: the variant and the name it is stored and
//! shown as. That name is what the canonical encoding ([`crate::encoding`]) holds and hashes and
//! what `--json` prints, so a name never changes, and a value no longer produced stays listed
//! (marked retired) for the records that hold it. The lists are strict: a stored name not in
//! them does not decode ([`crate::DecodeError::UnknownValue`]), because a record that decodes is
//! one this version understands; `verify` reports such a record instead of passing it on.

use std::fmt;

/// A name that is not one of a field's values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownValue {
    /// The field, such as `reason`.
    pub field: &'static str,
    /// The name found.
    pub value: String,
    /// The names the field takes.
    pub known: &'static [&'static str],
}

impl fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown {} {:?} (values: {})",
            self.field,
            self.value,
            self.known.join(", ")
        )
    }
}

impl std::error::Error for UnknownValue {}

/// Declares a field's enum from its one table of `Variant = "name"`: `ALL`, `NAMES`,
/// `as_str`, `Display`, `FromStr` (refusing any other name with [`UnknownValue`]) and
/// `Serialize` (as the name).
macro_rules! names {
    (
        $(#[$meta:meta])*
        pub enum $name:ident for $field:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            #[doc = concat!("Every `", $field, "` value, in declaration order.")]
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            #[doc = concat!("The stored names of [`", stringify!($name), "::ALL`], in the same order.")]
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            /// The stored and displayed name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $text, )+
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::values::UnknownValue;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| $crate::values::UnknownValue {
                        field: $field,
                        value: s.to_owned(),
                        known: Self::NAMES,
                    })
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }
    };
}

pub(crate) use names;

names! {
    /// Why it happened (the `reason` field). One set for every kind that gives a reason; each
    /// value belongs to the kinds named on it.
    pub enum Reason for "reason" {
        /// `client-detached`: the client detached itself (key binding, or `tmux detach` from
        /// inside its session).
        Detach = "detach",
        /// `client-detached`: the client switched to another session.
        Switch = "switch",
        /// `client-detached`: the client process went away without detaching: killed, or its
        /// terminal closed.
        Exit = "exit",
        /// `client-detached`: someone else detached it (`detach-client -t/-s/-a` from another
        /// client).
        Kicked = "kicked",
        /// `client-detached`: the whole tmux server went away.
        ServerExit = "server-exit",
        /// `client-detached`: its session was closed (killed, or its last pane exited).
        SessionClosed = "session-closed",
        /// `client-detached`, `server-exited`: it happened while nothing was watching (found at
        /// daemon start).
        Unknown = "unknown",
        /// `output-gap`: someone ran `pipe-pane` with no command on the pane.
        PipeClosed = "pipe-closed",
        /// `output-gap`: someone ran `pipe-pane` with their own command (tmux has one pipe per
        /// pane).
        PipeReplaced = "pipe-replaced",
        /// `output-gap`: the spool could not be written (disk full).
        SpoolNotWritable = "spool-not-writable",
        /// `output-gap`: the pane was not piped at birth; its first output is only the history
        /// tmux kept.
        PaneStart = "pane-start",
        /// `audit-gap`: the kernel dropped process events before the daemon read them.
        ProcessEventsLost = "process-events-lost",
        /// `audit-gap`: the previous daemon stopped without `audit-stopped`.
        UncleanStop = "unclean-stop",
        /// `audit-gap`: the daemon's global pane-birth hook was removed.
        HookRemoved = "hook-removed",
        /// `audit-gap`: the daemon's global pane-birth hook was replaced by another command.
        HookReplaced = "hook-replaced",
        /// `audit-gap`: a session got a hook array of its own, hiding the global hook.
        HookOverridden = "hook-overridden",
        /// `audit-gap`: someone detached the daemon's control client from a server.
        RecorderDetached = "recorder-detached",
        /// `policy-loaded`: a reload was refused (the file no longer parses); the policy before
        /// stays.
        Refused = "refused",
        /// `policy-loaded`: a SIGHUP to a daemon started without a policy.
        NoPolicy = "no-policy",
        /// `audit-stopped`: a signal (SIGTERM, SIGINT) stopped the daemon.
        Signal = "signal",
        /// `command`: the program replaced itself with another (exec), recorded as a command of
        /// its own.
        Exec = "exec",
    }
}

names! {
    /// How an event was observed (the `observed` field).
    pub enum Observed for "observed" {
        /// Seen as it happened.
        Live = "live",
        /// Found already in place (or already gone) when the daemon (re)connected; the event
        /// time is when it was found, not when it happened.
        AtStart = "at-start",
    }
}

names! {
    /// How much an event matters to whoever watches the audit (the `severity` field). Absent
    /// for everything ordinary.
    pub enum Severity for "severity" {
        /// It blinds or weakens the audit: a `tmux-command` such as `pipe-pane`, `set-hook`,
        /// `switch-client -r`, `detach-client`, `server-access`, `kill-server` or a shorter
        /// `message-limit`, or an `audit-gap` about the daemon's pane-birth hooks.
        Alert = "alert",
    }
}

names! {
    /// Which requirement of a policy rule a client broke (the `violation` field).
    pub enum ViolationKind for "violation" {
        /// The user is in neither `allow` nor `read_only`.
        User = "user",
        /// A read-only user is attached writable.
        ReadOnly = "read-only",
        /// A read-only user is attached in control mode, where tmux 3.3a does not enforce
        /// read-only.
        ControlMode = "control-mode",
        /// A read-only user cleared their client's read-only flag.
        ReadonlyCleared = "readonly-cleared",
        /// The client came from an origin the rule does not list, or from one that is unknown.
        Origin = "origin",
    }
}

names! {
    /// What the daemon does when a policy rule is broken (the `action` field, and a rule's
    /// `action` in a policy file). Ordered: `Alert < Detach < Deny`, so the action for a
    /// client that breaks several rules is the [`Ord::max`] of theirs.
    #[derive(PartialOrd, Ord)]
    pub enum Action for "action" {
        /// Record the violation and forward it; the client stays.
        Alert = "alert",
        /// Also kick the client (`detach-client`).
        Detach = "detach",
        /// Also remove the user from the server (`server-access -d`, which exits all their
        /// clients), so they cannot simply attach again.
        Deny = "deny",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_others_are_refused() {
        for r in Reason::ALL {
            assert_eq!(r.as_str().parse::<Reason>(), Ok(*r));
        }
        assert_eq!(Reason::ALL.len(), Reason::NAMES.len());
        let err = "kick".parse::<Action>().unwrap_err();
        assert_eq!(err.field, "action");
        assert_eq!(
            err.to_string(),
            r#"unknown action "kick" (values: alert, detach, deny)"#
        );
        assert!("Live".parse::<Observed>().is_err());
        assert_eq!(
            serde_json::to_string(&ViolationKind::ReadOnly).unwrap(),
            r#""read-only""#
        );
    }
}
