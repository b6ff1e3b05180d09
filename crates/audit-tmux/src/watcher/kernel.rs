//! Ground truth from the kernel: every connection to the server's socket
//! ([`audit_proc::peers`]: sock_diag pairs them, `pidfd_getfd` + `SO_PEERCRED` gives the pid and
//! uid tmux saw at accept), compared with the clients tmux listed at the last look. Taken after
//! each look at tmux once no notification waits (so it never delays a record or the next look),
//! and again half a second later while something it saw waits to be confirmed.
//!
//! * A connection tmux does not list, seen on two looks in a row, is a `client-connection`: a
//!   program that connected without identifying, or a command-only client that stays (`tmux
//!   wait-for`). The ordinary short command clients (`tmux ls`, `tmux capture-pane` from
//!   outside) are gone by the next look and are not reported here: tmux's message log records
//!   each one's command and user as a `tmux-command`.
//! * A listed client whose self-reported pid (`#{client_pid}`) has no connection is a
//!   `client-identity-mismatch` — a modified client lying about itself — once it is seen so on
//!   two looks in a row (a client that just exited is listed, then gone; a liar stays).

use super::State;
use crate::conn::Connection;
use crate::snapshot::ServerView;
use audit_core::{Bytes, Event, Kind, Observed, Timestamp};
use audit_proc::PeersError;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

/// What the kernel view remembers between looks.
#[derive(Default)]
pub(super) struct KernelView {
    /// Connections already reported (server-side inodes), while they last.
    reported: BTreeSet<u64>,
    /// Connections not listed by tmux at the last look (server-side inodes).
    unlisted: BTreeSet<u64>,
    /// Clients whose claimed pid had no connection at the last look: name → claimed pid.
    suspects: BTreeMap<String, i64>,
    /// Clients reported as lying.
    liars: BTreeSet<String>,
    /// The kernel refused (not root nor the owner): said once, not asked again.
    off: bool,
    /// When the next look is due (after a look at tmux, or to confirm what one look saw).
    due: Option<Instant>,
}

/// How soon a connection or client seen once is looked at again, to be confirmed.
const CONFIRM_AFTER: Duration = Duration::from_millis(500);

impl KernelView {
    /// Asks for a look at `at` (or sooner, if one is already due).
    pub(super) fn due(&mut self, at: Instant) {
        self.due = Some(self.due.map_or(at, |d| d.min(at)));
    }

    /// How long the watcher may wait for tmux before the look is due.
    pub(super) fn wait(&self) -> Duration {
        match self.due {
            Some(at) if !self.off => at.saturating_duration_since(Instant::now()),
            _ => Duration::from_secs(3600),
        }
    }
}

impl State<'_> {
    /// Takes the kernel's look if it is due, and sends what it found; asks for another soon
    /// when something it saw needs a second look to be confirmed.
    pub(super) fn kernel_if_due(&mut self, conn: &Connection) {
        if self.kernel.due.is_none_or(|at| at > Instant::now()) {
            return;
        }
        self.kernel.due = None;
        let view = self.known.clone();
        let events = self.kernel_look(&view, conn.pid(), Timestamp::now());
        if !events.is_empty() {
            self.sink.send(events);
        }
        if !self.kernel.unlisted.is_empty() || !self.kernel.suspects.is_empty() {
            self.kernel.due(Instant::now() + CONFIRM_AFTER);
        }
    }

    /// Compares what the kernel shows connected with `view` (ours, `own`, left out).
    fn kernel_look(&mut self, view: &ServerView, own: u32, time: Timestamp) -> Vec<Event> {
        let Some(Some(server_pid)) = self.running_pid else {
            return Vec::new();
        };
        if self.kernel.off {
            return Vec::new();
        }
        let peers = match audit_proc::peers(server_pid as u32, Path::new(&self.server)) {
            Ok(p) => p,
            // What will not change: said once, not asked again.
            Err(
                e @ (PeersError::NotPermitted { .. }
                | PeersError::Unsupported(_)
                | PeersError::SockDiagUnavailable(_)),
            ) => {
                tracing::warn!(server = %self.server, "the kernel's view of the socket's connections is not available: {e}");
                self.kernel.off = true;
                return Vec::new();
            }
            // A socket swapped for a moment, a server going away: try again next look.
            Err(e) => {
                tracing::debug!(server = %self.server, "no kernel view at this look: {e}");
                return Vec::new();
            }
        };
        // Connections by (pid, uid) as the kernel recorded them at accept.
        let connected: BTreeSet<(i64, i64)> = peers
            .iter()
            .map(|p| (i64::from(p.pid), i64::from(p.uid)))
            .collect();
        let listed: BTreeSet<i64> = view.clients.values().filter_map(|c| c.pid).collect();
        let mut events = Vec::new();
        let mut suspects = BTreeMap::new();
        for c in view.clients.values() {
            let Some(claimed) = c.pid else { continue };
            // Its claimed pid must hold a connection of its own (kernel-attested) user.
            let holds = c.uid.is_some_and(|uid| connected.contains(&(claimed, uid)));
            if holds || self.kernel.liars.contains(&c.name) {
                continue;
            }
            if self.kernel.suspects.get(&c.name) != Some(&claimed) {
                suspects.insert(c.name.clone(), claimed);
                continue;
            }
            // Twice listed with a pid that holds no connection: the client lies.
            self.kernel.liars.insert(c.name.clone());
            // Its connection: one of its user's that tmux did not list at this look nor the last.
            let same_user: Vec<&audit_proc::Peer> = peers
                .iter()
                .filter(|p| p.pid != own && !listed.contains(&i64::from(p.pid)))
                .filter(|p| self.kernel.unlisted.contains(&p.inode))
                .filter(|p| c.uid == Some(i64::from(p.uid)))
                .collect();
            let mut e = Event::new(
                time,
                Kind::ClientIdentityMismatch,
                &self.watch.host,
                &self.server,
            )
            .observed(Observed::Live);
            e.client = Some(c.name.clone());
            e.client_pid = Some(claimed);
            e.uid = c.uid;
            e.user = c.user.clone();
            e.session_id = Some(c.session_id.clone());
            e.session = view.sessions.get(&c.session_id).map(|s| s.name.clone());
            e.tty = Some(c.tty.clone());
            if let [one] = same_user.as_slice() {
                e.pid = Some(i64::from(one.pid));
                self.kernel.reported.insert(one.inode);
            }
            e.message = Some(match same_user.as_slice() {
                [one] => format!(
                    "the client says it is pid {claimed}; the kernel says the process that connected is pid {}",
                    one.pid
                ),
                _ => format!(
                    "the client says it is pid {claimed}, but no connection to the socket comes from that pid"
                ),
            });
            events.push(e);
        }
        self.kernel.suspects = suspects;
        self.kernel
            .liars
            .retain(|name| view.clients.contains_key(name));
        let mut unlisted = BTreeSet::new();
        for p in &peers {
            let pid = i64::from(p.pid);
            if p.pid == own || listed.contains(&pid) || self.kernel.reported.contains(&p.inode) {
                continue;
            }
            unlisted.insert(p.inode);
            if !self.kernel.unlisted.contains(&p.inode) {
                continue;
            }
            self.kernel.reported.insert(p.inode);
            let mut e = Event::new(time, Kind::ClientConnection, &self.watch.host, &self.server)
                .observed(Observed::Live);
            e.pid = Some(pid);
            e.uid = Some(i64::from(p.uid));
            e.user = crate::users::name_of(p.uid);
            e.comm = p.comm.clone().map(|c| Bytes(c.into_bytes()));
            e.argv = p
                .argv
                .as_ref()
                .map(|a| a.iter().cloned().map(Bytes).collect());
            e.message = Some(
                "connected to the server's socket, not listed by tmux as a client: a command-only client (its command is in the tmux-command that follows, if it ran one) or a program that never identified itself"
                    .into(),
            );
            events.push(e);
        }
        self.kernel.unlisted = unlisted;
        let live: BTreeSet<u64> = peers.iter().map(|p| p.inode).collect();
        self.kernel.reported.retain(|i| live.contains(i));
        events
    }
}
