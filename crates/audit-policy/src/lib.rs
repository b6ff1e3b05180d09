//! Access rules for tmux sessions: who may attach where, from where, and what to do otherwise.
//!
//! tmux-audit records who used which session; this crate says who *should* have. It is a
//! library of pure decisions: it reads a policy file, and for one observed client
//! ([`ClientAccess`]) returns every rule broken and the strongest [`Action`]. Carrying the
//! action out (`detach-client`, `server-access -d`) and recording it is the daemon's job.
//!
//! # The policy file
//!
//! ```toml
//! [[rule]]
//! name = "prod is for the on-call team"
//! sessions = ["prod*"]           # globs on session names
//! allow = ["root", "@oncall"]    # users, or @group
//! read_only = ["@auditors"]      # may attach only read-only
//! origins = ["local", "10.0.0.0/8"]
//! action = "detach"              # alert | detach | deny
//! ```
//!
//! Keys of a `[[rule]]`:
//!
//! | key | required | meaning |
//! | --- | --- | --- |
//! | `name` | yes | unique, non-blank; violations cite it |
//! | `sessions` | yes, non-empty | globs on the session name |
//! | `allow` | this or `read_only` | users and `@group`s who may write |
//! | `read_only` | this or `allow` | users and `@group`s who may attach only read-only |
//! | `origins` | no (absent: anywhere) | `local`, IPv4/IPv6 addresses, CIDRs |
//! | `action` | no (absent: `alert`) | `alert`, `detach` or `deny` |
//! | `servers` | no (absent: every server) | globs on the server's socket path |
//! | `enabled` | no (absent: `true`) | `false` keeps a rule written but off |
//!
//! Any other key, at the top or in a rule, is an error: a misspelt `read_olny` must stop the
//! load rather than silently drop a restriction. An empty `allow = []` is allowed and means
//! nobody may write (with no `read_only`, nobody may attach at all).
//!
//! # Semantics
//!
//! * **Coverage.** A rule covers a client when the client's session name matches one of
//!   `sessions` and, if `servers` is given, the server's socket path matches one of `servers`.
//!   Globs are shell-like (`*`, `?`, `[abc]`, `[!abc]`, `[a-z]`), case-sensitive, and must match
//!   the whole name; in `servers`, `*` and `?` do not match `/`. Rules with `enabled = false`
//!   cover nothing.
//! * **Who.** Entries are user names, compared with `#{client_user}` (tmux's name for the
//!   kernel-attested uid), or `@group`: the user's primary group or any supplementary group in
//!   the system's group database (`getgrouplist`, through NSS). A client whose uid has no name
//!   matches no entry. For a covered client:
//!   * in `allow`: may write; nothing more is checked about its flags;
//!   * not in `allow` but in `read_only`: `control-mode` if it is a control-mode client (tmux
//!     3.3a skips the read-only check for their commands, read-only flag or not);
//!     `readonly-cleared` if its read-only flag was just cleared (`switch-client -r`; the
//!     caller says so); otherwise `read-only` if it is attached writable. A control client
//!     attached writable gets both `control-mode` and `read-only`;
//!   * in neither: `user`.
//! * **Where.** If `origins` is given, a client whose origin is not within one of them breaks
//!   it (`origin`): this applies to `allow` users too. `local` matches a client not under SSH;
//!   addresses and CIDRs match SSH client addresses (an IPv4 client seen as `::ffff:a.b.c.d`
//!   matches IPv4 ranges). An origin that could not be read, or `ssh` with no address, matches
//!   no entry and so is an `origin` violation — only when `origins` is given, and the detail
//!   says the origin was unknown.
//! * **What to do.** Every covering rule is evaluated, in the order written, and every
//!   violation returned, each with its rule's action. The [`Verdict`]'s action is the
//!   strongest among them: `deny` (kick, and remove the user with `server-access -d`) over
//!   `detach` (kick the client) over `alert` (record and forward only).
//!
//! # Loading
//!
//! A policy is all or nothing: [`Policy::parse`] returns a whole [`Policy`] or a
//! [`PolicyError`] displayed as `FILE:LINE:COL: reason`, pointing at the offending value
//! (see [`Reason`]). Users and groups the system does not know are [`Warning`]s returned with
//! the policy, not errors, since they may be created later; until then they match nobody.
//! [`Policy::digest`] is the BLAKE3 hash of the source text, to record which policy was in
//! force.
//!
//! # Example
//!
//! ```
//! use audit_policy::{Action, ClientAccess, Policy, SystemAccounts};
//!
//! let text = "[[rule]]\nname = \"prod\"\nsessions = [\"prod*\"]\nallow = [\"root\"]\naction = \"detach\"\n";
//! let policy = Policy::parse(text, "policy.toml")?.policy;
//! let client = ClientAccess {
//!     server: "/tmp/tmux-0/default",
//!     session: "prod-web",
//!     user: "mallory",
//!     uid: Some(1666),
//!     origin: Some("local"),
//!     readonly: false,
//!     control_mode: false,
//!     readonly_cleared: false,
//! };
//! let verdict = policy.check(&client, &SystemAccounts::new());
//! assert_eq!(verdict.violations[0].what.as_str(), "user");
//! assert_eq!(verdict.action, Some(Action::Detach));
//! # Ok::<(), audit_policy::PolicyError>(())
//! ```
//!
//! # Modules
//!
//! `parse` (TOML to rules, with `raw` the file's shape), `rule` (one rule and its coverage),
//! `check` (evaluation), `origin` (address matching), `accounts` (the user and group
//! database), `action`, `error`, and `position` ([`line_col`], shared with other config files).
#![deny(missing_docs)]

mod accounts;
mod action;
mod check;
mod error;
#[doc(hidden)]
pub mod fuzzing;
mod origin;
mod parse;
mod policy;
mod position;
mod raw;
mod rule;

pub use accounts::{Accounts, SystemAccounts};
pub use action::Action;
pub use check::{ClientAccess, Verdict, Violation, ViolationKind};
pub use error::{PolicyError, Reason, Warning, WarningKind};
pub use parse::Loaded;
pub use policy::Policy;
pub use position::line_col;
pub use rule::Rule;
