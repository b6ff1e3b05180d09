//! Pane-birth hooks: a pane is piped inside tmux's own command queue, before tmux reads its
//! first byte.
//!
//! A watcher pipes a pane only after it sees it, and a program that prints at once (and
//! exits) is faster than any look. tmux 3.3a runs a command's `after-*` hooks in the same
//! command queue, right after the command and before its event loop reads the new pane's pty,
//! with the new pane as the hook's current target. So the watcher sets, at a high index of the
//! global hook arrays `after-new-window`, `after-split-window` and `after-new-session`,
//!
//! ```text
//! pipe-pane -O "exec 'tmux-audit' pane-pipe --spool-dir 'SPOOLS' --pane #{pane_id}"
//! ```
//!
//! and the copier names its spool itself (`N-MICROS.tas`); the watcher finds it there
//! ([`crate::capture`]). `respawn-pane`, `respawn-window`, `break-pane` and `join-pane` keep a
//! pane's pipe (verified), so they need no hook — 3.3a has none for them anyway.
//!
//! Tamper evidence: a second format subscription holds, per session, whether each hook array
//! still holds exactly our command at our index (`#{==:…}` against the command tmux printed
//! back when it was set, so its value is a few digits). A session hook (`set-hook -t S …`)
//! replaces the global array for that session; `set-hook -g NAME CMD` without an index, or
//! `set-hook -gu`, replaces or removes ours. When the value shows a `0`, the watcher records an
//! `audit-gap` (`severity: alert`) and puts the hook back — into the session's own array for a
//! session override, so the user's own hooks stay. Idle cost: tmux evaluates the subscription
//! once a second and sends it only when it changes; nothing polls.

use crate::capture::{format_escape, parser_quote, sh_quote};
use crate::conn::{ConnError, Connection};
use crate::snapshot::ServerView;
use audit_core::{Event, Kind, Observed, Reason, Severity, Timestamp};
use std::collections::BTreeSet;
use std::path::Path;

/// The hooks that pipe a new pane: the commands that make panes and have an `after-*` hook.
pub const HOOKS: [&str; 3] = [
    "after-new-window",
    "after-split-window",
    "after-new-session",
];

/// Our index in each hook array: high, so a user's own hooks (`set-hook -a` starts at 0) run
/// before ours and stay as they are.
pub const INDEX: u32 = 9999;

/// The name of the subscription that watches the hooks.
pub const SUBSCRIPTION: &str = "tmux-audit-hooks";

/// The hooks one watcher keeps on its server.
#[derive(Debug)]
pub struct BirthHooks {
    /// The command every hook runs, as given to `set-hook`.
    command: String,
    /// The command as tmux prints it back (`show-hooks -g`), once set: what checks compare.
    shown: Option<String>,
    /// Sessions whose own hook arrays we added ours to (by id).
    sessions: BTreeSet<String>,
    /// When the hooks were last known intact.
    intact_since: Option<Timestamp>,
}

/// What one hook of one session looks like.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Broken {
    session_id: String,
    hook: usize,
}

impl BirthHooks {
    /// Hooks that run `exe pane-pipe` into `spool_folder`.
    pub fn new(exe: &Path, spool_folder: &Path) -> Self {
        BirthHooks {
            command: hook_command(exe, spool_folder),
            shown: None,
            sessions: BTreeSet::new(),
            intact_since: None,
        }
    }

    /// Sets the hooks (again) and subscribes to their state. On a connection of its own, so
    /// that no pane created from now on is missed.
    pub fn install(&mut self, conn: &mut Connection, time: Timestamp) -> Result<(), ConnError> {
        let mut commands: Vec<String> = HOOKS
            .iter()
            .map(|hook| self.set_command(hook, None))
            .collect();
        commands.push(format!("show-hooks -g '{}[{INDEX}]'", HOOKS[0]));
        let results = conn.command_list(&commands)?;
        for (hook, result) in HOOKS.iter().zip(&results) {
            if let Err(e) = result {
                tracing::warn!(hook, "cannot set the pane-birth hook: {e}");
            }
        }
        let shown = results
            .last()
            .and_then(|r| r.as_ref().ok())
            .and_then(|lines| lines.first())
            .map(|line| String::from_utf8_lossy(line).into_owned())
            .and_then(|line| {
                line.strip_prefix(&format!("{}[{INDEX}] ", HOOKS[0]))
                    .map(str::to_owned)
            });
        let Some(shown) = shown else {
            tracing::warn!("tmux does not show the pane-birth hook it was given: new panes are piped when seen");
            return Ok(());
        };
        let subscribe = format!(
            r#"refresh-client -B "{SUBSCRIPTION}::{}""#,
            parser_quote_inner(&check_format(&shown))
        );
        if let Err(e) = conn.command(&subscribe) {
            tracing::warn!(
                "no subscription to the pane-birth hooks, they are checked at each look only: {e}"
            );
        }
        self.shown = Some(shown);
        self.intact_since = Some(time);
        Ok(())
    }

    /// Whether the hooks are set (a pane piped by them can be recognised).
    pub fn active(&self) -> bool {
        self.shown.is_some()
    }

    /// The hooks' command as tmux prints it back (and logs it when it runs), once set.
    pub fn shown(&self) -> Option<&str> {
        self.shown.as_deref()
    }

    /// Checks the hooks of every session; puts back what was removed, replaced or overridden,
    /// and returns the `audit-gap` alerts that records.
    pub fn check(
        &mut self,
        conn: &mut Connection,
        view: &ServerView,
        host: &str,
        server: &str,
        time: Timestamp,
    ) -> Result<Vec<Event>, ConnError> {
        let Some(shown) = self.shown.clone() else {
            return Ok(Vec::new());
        };
        let format = check_format(&shown);
        let reply = conn.command(&format!(
            r#"display-message -p "{}""#,
            parser_quote_inner(&format)
        ))?;
        let broken = read_check(&reply.concat());
        if broken.is_empty() {
            self.intact_since = Some(time);
            return Ok(Vec::new());
        }
        // The global arrays first: a session without hooks of its own shows the global ones.
        let shows: Vec<String> = HOOKS
            .iter()
            .map(|hook| format!("show-hooks -g '{hook}[{INDEX}]'"))
            .collect();
        let globals = conn.command_list(&shows)?;
        let mut events = Vec::new();
        let mut restore = Vec::new();
        let mut global_bad = [false; HOOKS.len()];
        for (i, result) in globals.iter().enumerate() {
            let line = result
                .as_ref()
                .ok()
                .and_then(|l| l.first())
                .map(|l| String::from_utf8_lossy(l).into_owned())
                .unwrap_or_default();
            let value = line
                .strip_prefix(&format!("{}[{INDEX}]", HOOKS[i]))
                .map(str::trim_start)
                .unwrap_or("");
            if value == shown {
                continue;
            }
            global_bad[i] = true;
            let reason = if value.is_empty() {
                Reason::HookRemoved
            } else {
                Reason::HookReplaced
            };
            let mut e = self.alert(host, server, time, i, reason);
            e.message = Some(format!(
                "the global {}[{INDEX}] hook that pipes new panes from their first byte was {}; tmux-audit set it again (panes made meanwhile that it did not see at birth have a pane-start output-gap)",
                HOOKS[i],
                if value.is_empty() { "removed" } else { "replaced by another command" }
            ));
            events.push(e);
            restore.push(self.set_command(HOOKS[i], None));
        }
        // A session still lacking ours while the global array is fine has its own array.
        for b in &broken {
            if global_bad[b.hook] {
                continue;
            }
            let mut e = self.alert(host, server, time, b.hook, Reason::HookOverridden);
            e.session_id = Some(b.session_id.clone());
            e.session = view.sessions.get(&b.session_id).map(|s| s.name.clone());
            e.message = Some(format!(
                "session {} has its own {} hooks, which replace the global ones and so tmux-audit's; tmux-audit added its own to the session's (its other hooks stay)",
                b.session_id, HOOKS[b.hook]
            ));
            events.push(e);
            restore.push(self.set_command(HOOKS[b.hook], Some(&b.session_id)));
            self.sessions.insert(b.session_id.clone());
        }
        for e in &events {
            tracing::warn!(
                server,
                hook = e.hook.as_deref().unwrap_or(""),
                "{}",
                e.message.as_deref().unwrap_or("")
            );
        }
        // One line each: tmux skips the rest of a line after a failure (a session gone).
        for command in &restore {
            match conn.command(command) {
                Err(e @ ConnError::Refused { .. }) => {
                    tracing::warn!(server, "cannot put the pane-birth hook back: {e}")
                }
                other => {
                    other?;
                }
            }
        }
        self.intact_since = Some(time);
        Ok(events)
    }

    /// Removes the hooks (the daemon is stopping cleanly): nothing starts a copier whose
    /// spool no daemon reads.
    pub fn remove(&mut self, conn: &mut Connection) -> Result<(), ConnError> {
        if self.shown.take().is_none() {
            return Ok(());
        }
        let mut commands = vec![format!("refresh-client -B '{SUBSCRIPTION}'")];
        commands.extend(
            HOOKS
                .iter()
                .map(|hook| format!("set-hook -gu '{hook}[{INDEX}]'")),
        );
        conn.command_list(&commands)?;
        // One line each: a session that went meanwhile fails, and tmux would skip the rest.
        for session in std::mem::take(&mut self.sessions) {
            for hook in HOOKS {
                match conn.command(&format!("set-hook -u -t '{session}' '{hook}[{INDEX}]'")) {
                    Err(ConnError::Refused { .. }) => break,
                    other => {
                        other?;
                    }
                }
            }
        }
        Ok(())
    }

    fn set_command(&self, hook: &str, session: Option<&str>) -> String {
        let scope = match session {
            Some(id) => format!("-t '{id}'"),
            None => "-g".to_owned(),
        };
        format!(
            "set-hook {scope} '{hook}[{INDEX}]' {}",
            parser_quote(&self.command)
        )
    }

    fn alert(
        &self,
        host: &str,
        server: &str,
        time: Timestamp,
        hook: usize,
        reason: Reason,
    ) -> Event {
        let mut e = Event::new(time, Kind::AuditGap, host, server).observed(Observed::Live);
        e.reason = Some(reason);
        e.severity = Some(Severity::Alert);
        e.hook = Some(HOOKS[hook].to_owned());
        e.from = self.intact_since;
        e.until = Some(time);
        e
    }
}

/// The command each hook runs. Paths are quoted for `sh`, and their `#` doubled for the
/// format expansion `pipe-pane` does; only `#{pane_id}` is left for tmux to fill in.
pub fn hook_command(exe: &Path, spool_folder: &Path) -> String {
    let shell = format!(
        "exec {} pane-pipe --spool-dir {} --pane #{{pane_id}}",
        format_escape(&sh_quote(&exe.to_string_lossy())),
        format_escape(&sh_quote(&spool_folder.to_string_lossy())),
    );
    format!("pipe-pane -O {}", parser_quote(&shell))
}

/// Per session, `ID=` and one digit per hook: 1 when its array holds exactly `shown` at our
/// index. `shown` is a literal inside `#{==:…}`, so its `#`, `,` and `}` are escaped for the
/// format parser.
fn check_format(shown: &str) -> String {
    let literal: String = shown
        .chars()
        .flat_map(|c| match c {
            '#' | ',' | '}' => vec!['#', c],
            _ => vec![c],
        })
        .collect();
    let tests: String = HOOKS
        .iter()
        .map(|hook| format!("#{{==:#{{{hook}[{INDEX}]}},{literal}}}"))
        .collect();
    format!("#{{S:#{{session_id}}={tests};}}")
}

/// Escapes a format for the inside of a double-quoted control-mode command.
fn parser_quote_inner(s: &str) -> String {
    let quoted = parser_quote(s);
    quoted[1..quoted.len() - 1].to_owned()
}

/// The hooks of sessions that do not hold ours, from a [`check_format`] value. Anything
/// unreadable counts as broken for every hook of that session.
fn read_check(value: &[u8]) -> Vec<Broken> {
    let text = String::from_utf8_lossy(value);
    let mut broken = Vec::new();
    for entry in text.split(';').filter(|e| !e.is_empty()) {
        let (session_id, bits) = entry.split_once('=').unwrap_or((entry, ""));
        for hook in 0..HOOKS.len() {
            if bits.as_bytes().get(hook) != Some(&b'1') {
                broken.push(Broken {
                    session_id: session_id.to_owned(),
                    hook,
                });
            }
        }
    }
    broken
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hook_command_expands_only_the_pane_id() {
        let cmd = hook_command(
            Path::new("/opt/it's $HOME/#{pane_id}/tmux-audit"),
            Path::new("/data/a \"b\"\\c,d}"),
        );
        assert_eq!(
            cmd,
            r#"pipe-pane -O "exec '/opt/it'\\''s \$HOME/##{pane_id}/tmux-audit' pane-pipe --spool-dir '/data/a \"b\"\\c,d}' --pane #{pane_id}""#
        );
    }

    #[test]
    fn check_format_escapes_the_literal_for_the_format_parser() {
        let f = check_format(r#"pipe-pane -O "exec 'a#,}' --pane #{pane_id}""#);
        assert!(f.starts_with("#{S:#{session_id}=#{==:#{after-new-window[9999]},pipe-pane -O \"exec 'a###,#}' --pane ##{pane_id#}\"}"));
    }

    #[test]
    fn read_check_names_what_is_missing() {
        assert!(read_check(b"$0=111;$1=111;").is_empty());
        assert_eq!(
            read_check(b"$0=111;$3=101;"),
            vec![Broken {
                session_id: "$3".into(),
                hook: 1
            }]
        );
        assert_eq!(read_check(b"$4=;").len(), 3);
    }
}
