//! The process source: every program started in a pane, as the kernel reports it.
//!
//! tmux knows each pane's first process (`#{pane_pid}`, the shell) and nothing of what runs
//! under it. The kernel's process-events connector ([`connector`], netlink `CN_IDX_PROC`, needs
//! root or `CAP_NET_ADMIN`) reports every fork, exec and exit on the machine as it happens, so
//! even a command that lives for a millisecond is seen. [`Tracker`] follows the process tree
//! down from each registered pane root, reads what `/proc` still shows of each exec'd program
//! the moment its exec is reported ([`procfs`]), and hands back a [`Command`] when it exits:
//! argv exactly as bytes, cwd, uid, pid and parent, start and end, exit status or signal.
//!
//! Without privilege, [`Scan`] walks `/proc` at an interval instead: short programs are missed
//! and exit statuses unknown.
//!
//! [`peers()`](peers::peers) tells from the kernel (sock_diag, `SO_PEERCRED` through
//! `pidfd_getfd`) who is connected to a tmux server's socket: the real pid and uid of every
//! client, including ones tmux never lists and ones that lie about their pid.
//!
//! [`tmux_client`] tells whether an exec'd program is tmux (a copy under another name too) and
//! what its arguments say: which server it talks to and how many commands it runs.
//!
//! Like `audit-capture`, this crate knows nothing of tmux or of the store: the daemon registers
//! pane roots and turns [`Command`]s into events.

pub mod connector;
pub mod peers;
pub mod procfs;
mod scan;
pub mod tmux_client;
mod tracker;

pub use peers::{peers, Peer, PeersError};
pub use scan::Scan;
pub use tracker::{Command, Ending, Tracker};
