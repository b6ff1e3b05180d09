//! The tmux source: watches tmux servers and emits typed [`audit_core::Event`]s. It knows
//! nothing about storage; the daemon hands it a [`Sink`].
//!
//! How it observes (see `docs/ARCHITECTURE.md` for why):
//!
//! * [`discovery`] finds server sockets — one given path, or every socket in the user's tmux
//!   folder, including servers started later (inotify, no polling).
//! * [`watcher`] keeps one control-mode client ([`conn`]) per server, attached with
//!   `no-output`. Notifications ([`control`]) and one format subscription wake it; it then
//!   re-reads the server's panes and clients ([`snapshot`]) and emits the difference
//!   ([`diff`]). tmux's message log ([`messages`]) tells a detach from a kick; `/proc`
//!   ([`origin`]) tells where a client came from.
//! * [`capture`] pipes every pane's output into a spool; [`hooks`] has tmux pipe each new pane
//!   at its birth, before its first byte.
//! * [`clients`] holds the tmux clients the kernel saw run (the daemon's process source notes
//!   them), so a watcher reads the log right after a command-only client ran and times its
//!   `tmux-command` from the kernel.
//! * [`shutdown`] ends the control clients (ours, by pid) so every watcher returns promptly.
#![deny(missing_docs)]

pub mod capture;
pub mod clients;
pub mod conn;
pub mod control;
pub mod diff;
pub mod discovery;
#[doc(hidden)]
pub mod fuzzing;
pub mod hooks;
pub mod messages;
pub mod origin;
pub mod owner;
pub mod prior;
pub mod shutdown;
pub mod snapshot;
pub mod spool_watch;
pub mod users;
pub mod watcher;

pub use shutdown::Shutdown;
pub use watcher::{Sink, Watch};
