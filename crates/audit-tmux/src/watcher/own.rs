//! What on a server is the daemon's own: its control client, recognised among the clients tmux
//! lists (clients name themselves, so by pid, kernel-attested uid and control mode together, and
//! only when exactly one matches), and the kicks it makes for the policy, resolved against the
//! live client list so that a client's chosen name cannot turn a kick on someone else.

use super::State;
use crate::conn::{ConnError, Connection};
use crate::snapshot::{self, ServerView};
use std::time::Instant;

impl State<'_> {
    /// Whether `c` is our own control client (pid `own`). The pid is what a client says of
    /// itself, so the uid tmux has from the kernel must be ours too, and it must be a control
    /// client: another user claiming our pid is not hidden by it.
    pub(super) fn is_own(&self, c: &snapshot::Client, own: u32) -> bool {
        // SAFETY: geteuid cannot fail and touches no memory.
        let uid = self
            .watch
            .run_as
            .map_or_else(|| unsafe { libc::geteuid() }, |o| o.uid);
        c.pid == Some(i64::from(own)) && c.uid == Some(i64::from(uid)) && c.control
    }

    /// Takes our own control client out of `view` — when exactly one client looks like it. A
    /// client of our uid forging our pid as well makes two: then neither is taken out, so the
    /// forger is recorded (and so are we, once).
    pub(super) fn drop_own(&self, view: &mut ServerView, own: u32) {
        let mine: Vec<String> = view
            .clients
            .iter()
            .filter(|(_, c)| self.is_own(c, own))
            .map(|(k, _)| k.clone())
            .collect();
        match mine.as_slice() {
            [one] => {
                view.clients.remove(one);
            }
            [] => {}
            _ => {
                tracing::warn!(server = %self.server, "several clients claim to be our control client (pid {own}): all are recorded")
            }
        }
    }

    /// Throws a client out for the policy. A client names itself (its tty name), and tmux finds
    /// a `-t` target by name, by tty, or by tty without `/dev/`, first match winning — so the
    /// name is used only when exactly one client matches it any of those ways and it needs no
    /// quoting. Otherwise the user is removed from the server, which ends all their clients and
    /// no other user's (tmux refuses that for the owner and root: then nothing can be done
    /// safely, and it is logged). tmux refusing is logged, not fatal.
    pub(super) fn kick(
        &mut self,
        conn: &mut Connection,
        kick: &crate::conn::Kick,
    ) -> Result<(), ConnError> {
        let target = kick.client.as_bytes();
        let rows = conn.command("list-clients -F \"#{client_name}\\037#{client_tty}\"")?;
        let (mut matching, mut named) = (0, 0);
        for row in &rows {
            let mut fields = row.split(|&b| b == 0x1f);
            let name = fields.next().unwrap_or_default();
            let tty = fields.next().unwrap_or_default();
            named += usize::from(name == target);
            matching += usize::from(
                name == target || tty == target || tty.strip_prefix(b"/dev/") == Some(target),
            );
        }
        let plain = !kick.client.is_empty()
            && !kick.client.ends_with(':')
            && kick
                .client
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_.-".contains(&b));
        let by_name = plain && named == 1 && matching == 1;
        let mut commands = Vec::new();
        if kick.deny || !by_name {
            match &kick.user {
                Some(user) => {
                    if !by_name {
                        tracing::warn!(server = %self.server, client = %kick.client, "the client's name is not unique or not plain: removing its user {user} from the server instead");
                    }
                    commands.push(format!(
                        "server-access -d {}",
                        crate::capture::tmux_quote(user)
                    ));
                }
                None => {
                    tracing::error!(server = %self.server, client = %kick.client, "cannot kick: the client's name is ambiguous and its user unknown")
                }
            }
        }
        if by_name {
            commands.push(format!("detach-client -t {}", kick.client));
        }
        let mut done = false;
        for command in commands {
            match conn.command(&command) {
                Ok(_) => done = true,
                Err(ConnError::Refused { command, detail }) => {
                    tracing::error!(server = %self.server, client = %kick.client, "tmux refused `{command}`: {detail}; the client may still be attached");
                }
                Err(e) => return Err(e),
            }
        }
        if done {
            self.kicked.insert(kick.client.clone(), Instant::now());
        }
        Ok(())
    }
}
