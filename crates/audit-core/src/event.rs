//! The event model: one [`Event`] is one thing that happened on a tmux server, as observed.
//!
//! Field names here are the names users see in `--json` output and in `docs/EVENTS.md`; they are
//! part of the public interface. The byte form that is stored and hashed lives in
//! [`crate::encoding`] and is frozen separately.

pub use crate::attribution::Confidence;
use crate::time::Timestamp;
pub use crate::values::{Action, Observed, Reason, Severity, UnknownValue, ViolationKind};
use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// What kind of thing happened. The names are fixed: they are stored and matched by users.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// A tmux server was found running (live, or already running when the daemon started).
    ServerStarted,
    /// A tmux server went away.
    ServerExited,
    /// A session appeared.
    SessionCreated,
    /// A session got a new name.
    SessionRenamed,
    /// A session went away.
    SessionClosed,
    /// A window appeared in a session.
    WindowCreated,
    /// A window got a new name.
    WindowRenamed,
    /// A window went away.
    WindowClosed,
    /// A pane appeared.
    PaneCreated,
    /// A pane went away.
    PaneExited,
    /// A client attached to a session (including the attach half of a switch).
    ClientAttached,
    /// A client left a session (including the detach half of a switch).
    ClientDetached,
    /// A client's read-only flag changed while it stayed attached.
    ClientReadonlyChanged,
    /// The recording daemon started.
    AuditStarted,
    /// The recording daemon stopped cleanly.
    AuditStopped,
    /// An interval in which nothing was observed (the previous daemon died).
    AuditGap,
    /// A stretch of one pane's recorded output, stored as a chunk the event's `digest` covers.
    PaneOutput,
    /// Output of a pane that was not recorded (pipe closed, disk full, recorder down).
    OutputGap,
    /// A forward-secure seal over the record before it (`epoch`, `seal`).
    Seal,
    /// A program ran in a pane, from exec to exit, as the kernel reported it.
    Command,
    /// A client ran a tmux command against the server (from tmux's message log).
    TmuxCommand,
    /// A command line a shell ran, as its `shell-init` snippet marked it in the pane's output.
    ShellCommand,
    /// Another client became the last to type in a session several can type in.
    ClientActive,
    /// A client broke a rule of the policy (`rule`, `violation`, `action`).
    PolicyViolation,
    /// The daemon put a policy in force (at start, or on SIGHUP): its file and rule count.
    PolicyLoaded,
    /// A forwarding sink stopped accepting events (once per outage).
    SinkFailed,
    /// A forwarding sink accepts events again after an outage.
    SinkRecovered,
    /// A client's self-reported pid differs from what the kernel attests for its connection.
    ClientIdentityMismatch,
    /// A connection to a tmux socket the kernel shows but tmux does not list as a client (a command-only client, or a raw one).
    ClientConnection,
    /// Someone viewed the audit log (`replay`, `export`, `search`, `--follow`): who (`uid`,
    /// `user`, kernel-attested), what (`view`, `query`, `pane_id`, `argv`), recorded by whom.
    AuditAccess,
    /// A central store refused a host's shipped record because it does not link to that
    /// host's record before it (a history rewritten after shipping, a replayed or forged
    /// batch): recorded in the center's own chain, `host` the enrolled host, `message` why,
    /// `digest` the BLAKE3 hash of the refused batch kept aside as evidence.
    ChainFork,
}

impl Kind {
    /// Every kind, in a stable order.
    pub const ALL: [Kind; 31] = [
        Kind::ServerStarted,
        Kind::ServerExited,
        Kind::SessionCreated,
        Kind::SessionRenamed,
        Kind::SessionClosed,
        Kind::WindowCreated,
        Kind::WindowRenamed,
        Kind::WindowClosed,
        Kind::PaneCreated,
        Kind::PaneExited,
        Kind::ClientAttached,
        Kind::ClientDetached,
        Kind::ClientReadonlyChanged,
        Kind::AuditStarted,
        Kind::AuditStopped,
        Kind::AuditGap,
        Kind::PaneOutput,
        Kind::OutputGap,
        Kind::Seal,
        Kind::Command,
        Kind::TmuxCommand,
        Kind::ShellCommand,
        Kind::ClientActive,
        Kind::PolicyViolation,
        Kind::PolicyLoaded,
        Kind::SinkFailed,
        Kind::SinkRecovered,
        Kind::ClientIdentityMismatch,
        Kind::ClientConnection,
        Kind::AuditAccess,
        Kind::ChainFork,
    ];

    /// The stored and displayed name, such as `client-attached`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::ServerStarted => "server-started",
            Kind::ServerExited => "server-exited",
            Kind::SessionCreated => "session-created",
            Kind::SessionRenamed => "session-renamed",
            Kind::SessionClosed => "session-closed",
            Kind::WindowCreated => "window-created",
            Kind::WindowRenamed => "window-renamed",
            Kind::WindowClosed => "window-closed",
            Kind::PaneCreated => "pane-created",
            Kind::PaneExited => "pane-exited",
            Kind::ClientAttached => "client-attached",
            Kind::ClientDetached => "client-detached",
            Kind::ClientReadonlyChanged => "client-readonly-changed",
            Kind::AuditStarted => "audit-started",
            Kind::AuditStopped => "audit-stopped",
            Kind::AuditGap => "audit-gap",
            Kind::PaneOutput => "pane-output",
            Kind::OutputGap => "output-gap",
            Kind::Seal => "seal",
            Kind::Command => "command",
            Kind::TmuxCommand => "tmux-command",
            Kind::ShellCommand => "shell-command",
            Kind::ClientActive => "client-active",
            Kind::PolicyViolation => "policy-violation",
            Kind::PolicyLoaded => "policy-loaded",
            Kind::SinkFailed => "sink-failed",
            Kind::SinkRecovered => "sink-recovered",
            Kind::ClientIdentityMismatch => "client-identity-mismatch",
            Kind::ClientConnection => "client-connection",
            Kind::AuditAccess => "audit-access",
            Kind::ChainFork => "chain-fork",
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The name is not one of [`Kind::ALL`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownKind(pub String);

impl fmt::Display for UnknownKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let known: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
        write!(
            f,
            "unknown event kind {:?} (kinds: {})",
            self.0,
            known.join(", ")
        )
    }
}

impl std::error::Error for UnknownKind {}

impl FromStr for Kind {
    type Err = UnknownKind;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Kind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownKind(s.to_owned()))
    }
}

impl Serialize for Kind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// One observed happening. Absent fields do not apply to the kind.
///
/// `seq` and the chain hash are not here: the store assigns them when it appends (see
/// [`Stored`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Event {
    /// When it was observed (UTC, microseconds).
    pub time: Timestamp,
    /// What happened.
    pub kind: Kind,
    /// The host name of the machine the daemon ran on.
    pub host: String,
    /// The tmux server's socket path (for `audit-*` events: what the daemon watched).
    pub server: String,
    /// Session name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Session id, `$N`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    /// Window name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window: Option<String>,
    /// Window id, `@N`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_id: Option<String>,
    /// Pane id, `%N`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pane_id: Option<String>,
    /// tmux client name (usually the client's tty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
    /// The client's pid as the client reported it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_pid: Option<i64>,
    /// User id the kernel attests for the client's connection.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<i64>,
    /// User name for `uid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Whether the client is read-only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readonly: Option<bool>,
    /// The client's terminal.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tty: Option<String>,
    /// The client's `TERM`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
    /// Where the client came from: an SSH remote address, or `local`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// Why (see [`Reason`]: which values go with which kinds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Reason>,
    /// How it was observed (see [`Observed`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<Observed>,
    /// Start of the interval an `audit-gap` covers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<Timestamp>,
    /// End of the interval an `audit-gap` covers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<Timestamp>,
    /// tmux version (`server-started`) or tmux-audit version (`audit-started`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The tmux server's pid (`server-*`) or the daemon's pid (`audit-*`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<i64>,
    /// The client that caused it (who kicked a client).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by: Option<String>,
    /// The user who caused it, when tmux names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub by_user: Option<String>,
    /// A human-readable note (what an old tmux cannot report, why a gap happened).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// tmux's flags for the client (`#{client_flags}`), such as `attached,control-mode,read-only`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flags: Option<String>,
    /// Output bytes a `pane-output` chunk holds, or an `output-gap` lost (when known).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bytes: Option<i64>,
    /// Pane width in columns (`pane-output`: at the chunk's start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub width: Option<i64>,
    /// Pane height in rows (`pane-output`: at the chunk's start).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub height: Option<i64>,
    /// BLAKE3 digest (hex) of the stored output chunk a `pane-output` event stands for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The window's index in its session when observed (`#{window_index}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub window_index: Option<i64>,
    /// The pane's index in its window when observed (`#{pane_index}`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pane_index: Option<i64>,
    /// The sealing epoch a `seal` was made in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub epoch: Option<i64>,
    /// A `seal`'s MAC (hex) over the record before it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seal: Option<String>,
    /// The id of the verification key a `seal` was made under (not secret: it names the key,
    /// so `verify` can tell a wrong key from a forged seal).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// A `command`'s arguments, exactly as the kernel held them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<Bytes>>,
    /// A `command`'s working directory, exactly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cwd: Option<Bytes>,
    /// A `command`'s exit status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exit_code: Option<i64>,
    /// The signal that ended a `command`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signal: Option<i64>,
    /// A `command`'s parent process.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ppid: Option<i64>,
    /// A `command`'s kernel name (`comm`), when its arguments could not be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comm: Option<Bytes>,
    /// A `tmux-command`'s text, as tmux logged it (canonical command names).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The key binding that ran a `tmux-command`, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// [`Severity::Alert`] for what blinds or weakens the audit (closing the recording pipe,
    /// hooks, read-only cleared, the recorder kicked, the message log shortened).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub severity: Option<Severity>,
    /// A `shell-command`'s line as typed, exactly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<Bytes>,
    /// Who did a `command`, `shell-command` or `tmux-command`, when one user can be named (see `attribution`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub actor: Option<String>,
    /// How sure `actor` is: `exact`, `inferred` (several could type; this one typed last) or
    /// `unknown` (see [`Confidence`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attribution: Option<Confidence>,
    /// The users who could have done it (empty: nobody attached could type).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub candidates: Option<Vec<String>>,
    /// The policy rule a `policy-violation` broke.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// What was violated (see [`ViolationKind`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub violation: Option<ViolationKind>,
    /// What the daemon did about a violation (see [`Action`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<Action>,
    /// The forwarding sink a `sink-failed`/`sink-recovered` event is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sink: Option<String>,
    /// How a `tmux-command`'s `time` was taken: `exec` (the kernel's exec of the client
    /// process), `trigger` (the wake-up that made the daemon look), `found` (the look itself).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timing: Option<String>,
    /// Whether tmux's own message log confirms a `tmux-command` (false: only the kernel saw
    /// the client run, the log could not be read in time).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirmed: Option<bool>,
    /// What an `audit-access` viewed with: `search`, `export`, `replay`, `replay-follow`,
    /// `export-follow`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub view: Option<String>,
    /// What an `audit-access` asked for: the search pattern, or the pane as named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
    /// Who recorded an `audit-access`: `viewer` (it could write the store) or `daemon` (asked
    /// over its local socket; the uid is the kernel's `SO_PEERCRED`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recorded_by: Option<String>,
    /// The tmux hook an `audit-gap` about the daemon's pane-birth hooks is about
    /// (`after-new-window`, `after-split-window`, `after-new-session`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook: Option<String>,
}

/// Bytes kept exactly (arguments, paths): in JSON a string when they are UTF-8, else
/// `{"hex": "…"}`, so nothing is lost or guessed.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

impl Bytes {
    /// For display: the text, with bytes that are not UTF-8 as `\xNN`.
    pub fn lossless_text(&self) -> String {
        let mut out = String::new();
        for chunk in self.0.utf8_chunks() {
            out.push_str(chunk.valid());
            for b in chunk.invalid() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        }
        out
    }
}

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(&self.0) {
            Ok(text) => s.serialize_str(text),
            Err(_) => {
                use serde::ser::SerializeMap;
                let hex: String = self.0.iter().map(|b| format!("{b:02x}")).collect();
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("hex", &hex)?;
                m.end()
            }
        }
    }
}

impl Event {
    /// An event of `kind` at `time` with only the fields every event has.
    pub fn new(time: Timestamp, kind: Kind, host: &str, server: &str) -> Self {
        Event {
            time,
            kind,
            host: host.to_owned(),
            server: server.to_owned(),
            session: None,
            session_id: None,
            window: None,
            window_id: None,
            pane_id: None,
            client: None,
            client_pid: None,
            uid: None,
            user: None,
            readonly: None,
            tty: None,
            term: None,
            origin: None,
            reason: None,
            observed: None,
            from: None,
            until: None,
            version: None,
            pid: None,
            by: None,
            by_user: None,
            message: None,
            flags: None,
            bytes: None,
            width: None,
            height: None,
            digest: None,
            window_index: None,
            pane_index: None,
            epoch: None,
            seal: None,
            key_id: None,
            argv: None,
            cwd: None,
            exit_code: None,
            signal: None,
            ppid: None,
            comm: None,
            command: None,
            key: None,
            severity: None,
            line: None,
            actor: None,
            attribution: None,
            candidates: None,
            rule: None,
            violation: None,
            action: None,
            sink: None,
            timing: None,
            confirmed: None,
            view: None,
            query: None,
            recorded_by: None,
            hook: None,
        }
    }

    /// Sets `observed`.
    pub fn observed(mut self, how: Observed) -> Self {
        self.observed = Some(how);
        self
    }

    /// Sets `reason`.
    pub fn reason(mut self, why: Reason) -> Self {
        self.reason = Some(why);
        self
    }
}

/// An event as stored: its place in the log and its chain hash.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Stored {
    /// Position in the log: 1, 2, 3, … with no gaps.
    pub seq: u64,
    /// The event.
    #[serde(flatten)]
    pub event: Event,
    /// Chain hash of this record (hex in JSON).
    #[serde(serialize_with = "crate::chain::serialize_hex")]
    pub hash: crate::chain::ChainHash,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kind_names_round_trip() {
        for k in Kind::ALL {
            assert_eq!(k.as_str().parse::<Kind>().unwrap(), k);
        }
        assert!("client-attach".parse::<Kind>().is_err());
    }
}
