//! tmux commands run against the server, from tmux's message log: who ran what, and which of
//! them blind or weaken the audit.
//!
//! The log names the client that ran each command (and its user when it is not the server's
//! owner), so the client is exact. A `tmux` typed in a pane runs as a command-only client logged
//! under the pane's tty: it is given to the pane, and to the one client attached to the pane's
//! session when there is exactly one.
//!
//! The log's own times have minute resolution. When the kernel reported the client's run (a
//! root daemon: [`crate::clients`]), the watcher reads the log as soon as the client ended and
//! the event is timed from the client's exec (`timing: exec`, `from`/`until` its run, `pid`
//! the kernel's). Otherwise a command is found when the watcher next reads the log — on the
//! next change tmux reports — and `time` is that look (`timing: found`, `from` the read
//! before: it ran in between). Commands a hook runs are logged under the client whose command
//! fired the hook; tmux-audit's own pane-birth `pipe-pane` is left out (`birth_hook_runs`).

use super::{State, UNEXPLAINED_KEPT};
use crate::clients::Claim;
use crate::conn::{ConnError, Connection};
use crate::messages::Entry;
use crate::snapshot::ServerView;
use audit_core::{Event, Kind, Observed, Severity, Timestamp};

impl State<'_> {
    /// A tmux client ran against the server (the kernel saw it end): read the log now, while
    /// the server still holds it, and record its commands.
    pub(super) fn clients_look(&mut self, conn: &mut Connection) -> Result<(), ConnError> {
        let fresh = self.read_log(conn)?;
        self.unexplained.extend(fresh.iter().cloned());
        let excess = self.unexplained.len().saturating_sub(UNEXPLAINED_KEPT);
        self.unexplained.drain(..excess);
        let events = self.tmux_commands(&fresh, &self.known, Timestamp::now());
        if !events.is_empty() {
            self.sink.send(events);
        }
        Ok(())
    }

    /// A `tmux-command` event for each command entry (not messages, not ours), timed from
    /// the kernel's view of its client when there is one.
    pub(super) fn tmux_commands(
        &self,
        entries: &[Entry],
        view: &ServerView,
        time: Timestamp,
    ) -> Vec<Event> {
        let hook = self.piping.as_ref().and_then(|p| p.hook_logged());
        let hook_runs = birth_hook_runs(entries, hook);
        // tmux-audit's own pane-birth pipes are not the users' commands, nor a client's run.
        let kept: Vec<Entry> = entries
            .iter()
            .enumerate()
            .filter(|(i, _)| !hook_runs.contains(i))
            .map(|(_, e)| e.clone())
            .collect();
        let claims = match &self.watch.clients {
            Some(runs) => runs.claim(&self.server, &kept, self.log_read.1.unwrap_or(time)),
            None => vec![Claim::None; kept.len()],
        };
        kept.iter()
            .zip(claims)
            .filter_map(|(entry, claim)| {
                let command = entry.command.clone()?;
                if claim == Claim::Recorded {
                    // Recorded from the kernel alone already, when the log was late.
                    return None;
                }
                let mut e = self.event(time, Kind::TmuxCommand, Observed::Live);
                e.client = Some(entry.client.clone());
                e.key = entry.key.clone();
                e.severity = severity(&command);
                e.command = Some(command);
                e.confirmed = Some(true);
                self.place(&mut e, entry, view);
                match claim {
                    Claim::Run(run) => {
                        run.time(&mut e);
                        e.pid = Some(i64::from(run.pid));
                        e.uid = e.uid.or(Some(i64::from(run.uid)));
                        if run.name != entry.client {
                            e.message = Some(format!(
                                "tmux logged it as {}, but the kernel's client is pid {} ({}): the client gave tmux a false pid",
                                entry.client, run.pid, run.name
                            ));
                        }
                    }
                    _ => self.time_found(&mut e, entry, view),
                }
                Some(e)
            })
            .collect()
    }

    /// Times a command no kernel run explains: by the tmux binary's close that woke this read,
    /// for a client not attached (unprivileged: inotify), else by the read itself.
    fn time_found(&self, e: &mut Event, entry: &Entry, view: &ServerView) {
        let attached = view.clients.contains_key(&entry.client)
            || self.known.clients.contains_key(&entry.client);
        let window = (self.watch.clients.as_ref())
            .filter(|_| !attached && entry.key.is_none())
            .zip(self.log_read.1)
            .and_then(|(runs, read)| runs.binary_window(self.log_read.0, read));
        match window {
            Some((opened, closed)) => {
                e.time = closed;
                e.from = Some(opened);
                e.timing = Some("trigger".into());
            }
            None => {
                e.timing = Some("found".into());
                e.from = self.log_read.0;
            }
        }
    }

    /// Where the command came from: an attached client, a shell in a pane, or neither.
    fn place(&self, e: &mut Event, entry: &Entry, view: &ServerView) {
        let name = entry.client.as_str();
        let owner = || self.owner();
        let attached = view
            .clients
            .get(name)
            .or_else(|| self.known.clients.get(name));
        if let Some(c) = attached {
            e.session_id = Some(c.session_id.clone());
            e.session = session_name(view, self, &c.session_id);
            e.user = entry.user.clone().or_else(|| c.user.clone()).or_else(owner);
            e.uid = c.uid;
            return;
        }
        let pane = (view.panes.iter())
            .chain(self.known.panes.iter())
            .find(|(_, p)| p.tty == name);
        if let Some((pane_id, p)) = pane {
            e.pane_id = Some(pane_id.clone());
            e.session_id = Some(p.session_id.clone());
            e.session = session_name(view, self, &p.session_id);
            e.user = entry.user.clone().or_else(owner);
            let typists: Vec<_> = view
                .clients
                .values()
                .filter(|c| c.session_id == p.session_id && !c.readonly)
                .collect();
            match typists.as_slice() {
                [one] => {
                    e.by = Some(one.name.clone());
                    e.by_user = one.user.clone();
                    e.message = Some(format!(
                        "typed in pane {pane_id} (a `tmux` command run in its shell), where {} was the one client that could type",
                        one.name
                    ));
                }
                many => {
                    e.message = Some(format!(
                        "typed in pane {pane_id} (a `tmux` command run in its shell); {} clients could type there",
                        many.len()
                    ));
                }
            }
            return;
        }
        e.user = entry.user.clone().or_else(owner);
        e.message = Some("run by a command-only client (not attached to any session)".into());
    }
}

/// The entries that are our pane-birth hook's `pipe-pane` (tmux logs a hook's commands under
/// the client whose command fired it): exactly our hook's text, each matched with one earlier
/// pane-making command of the same client (other hooks may run in between). The same text
/// typed by hand, beyond one per pane made, is still recorded.
fn birth_hook_runs(entries: &[Entry], hook: Option<&str>) -> std::collections::BTreeSet<usize> {
    let mut runs = std::collections::BTreeSet::new();
    let Some(hook) = hook else {
        return runs;
    };
    let mut births: std::collections::BTreeMap<&str, usize> = std::collections::BTreeMap::new();
    for (i, entry) in entries.iter().enumerate() {
        let Some(command) = entry.command.as_deref() else {
            continue;
        };
        let pending = births.entry(entry.client.as_str()).or_default();
        if command == hook && *pending > 0 {
            *pending -= 1;
            runs.insert(i);
        } else if matches!(
            command.split_whitespace().next(),
            Some("new-window" | "split-window" | "new-session")
        ) {
            *pending += 1;
        }
    }
    runs
}

fn session_name(view: &ServerView, state: &State<'_>, id: &str) -> Option<String> {
    (view.sessions.get(id))
        .or_else(|| state.known.sessions.get(id))
        .map(|s| s.name.clone())
}

/// [`Severity::Alert`] for commands that blind or weaken the audit: the recording pipe closed or replaced,
/// hooks changed, read-only cleared, clients (the recorder among them) detached, the message log
/// the attribution relies on shortened, access granted, the server killed.
pub fn severity(command: &str) -> Option<Severity> {
    let mut words = command.split_whitespace();
    let name = words.next()?;
    let args: Vec<&str> = words.collect();
    let flag = |f: char| {
        args.iter()
            .any(|a| a.starts_with('-') && !a.starts_with("--") && a[1..].contains(f))
    };
    let alert = match name {
        "pipe-pane" | "set-hook" | "kill-server" | "server-access" | "detach-client" => true,
        "switch-client" => flag('r'),
        "set-option" | "set-window-option" => args.contains(&"message-limit"),
        _ => false,
    };
    alert.then_some(Severity::Alert)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_blinds_or_weakens_the_audit_is_an_alert() {
        for c in [
            "pipe-pane -t %0",
            "pipe-pane -t w \"cat >/dev/null\"",
            "set-hook -gu client-attached",
            "switch-client -r",
            "switch-client -rt prod",
            "detach-client -a",
            "set-option -g message-limit 0",
            "server-access -a bob",
            "kill-server",
        ] {
            assert_eq!(severity(c), Some(Severity::Alert), "{c}");
        }
        for c in [
            "kill-window -t w:9",
            "send-keys -t w ls Enter",
            "switch-client -t prod",
            "set-option -g status off",
            "capture-pane -p",
        ] {
            assert_eq!(severity(c), None, "{c}");
        }
    }
}
