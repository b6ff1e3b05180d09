//! `tmux-audit search`: which lines of recorded pane output match, where and when they
//! appeared, who was watching, and the `replay` command that shows them.
//!
//! One pass over the log (events only, no chunks) follows who was attached ([`World`], as
//! `who --at` does) and picks the `pane-output` events to read: for words, only those the
//! full-text index names as candidates; for `--regex`, every one in range. Chunks are then read
//! in `seq` order — each checked against its event's digest, decompressed and rendered by
//! [`crate::hits`] — until `--limit` hits have been shown.

mod acts;
mod pending;
mod presence;
mod print;

use crate::common::Global;
use crate::hits::{Matcher, PaneScan};
use crate::recording::{load, server_matches};
use crate::render;
use crate::timearg;
use anyhow::{bail, Context, Result};
use audit_core::fold::World;
use audit_core::{Kind, Stored, Timestamp};
use audit_state::StateDir;
use audit_store::{EventStore, Range};
use presence::Presence;
use print::Printer;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::io::Write;
use std::process::ExitCode;

/// Find lines in recorded pane output: when, where, who was attached
#[derive(clap::Args, Debug)]
#[command(after_help = "\
PATTERN is matched against the text the panes showed (as `export --format txt` gives it), one
line at a time — not against raw escape sequences. By default it is a phrase: case-insensitive,
exactly as typed, its first and last word whole ('drop table' matches `DROP TABLE users;`, not
`dropped tables`); the full-text index finds the chunks to read. With --regex it is a Rust
regular expression (case-sensitive unless it starts with (?i)) and every chunk in range is read,
which is slower on a large store. A pattern starting with - goes after --.

Each hit shows when the line appeared, the pane (%ID and SESSION:WINDOW.PANE), who had a client
attached to the session then (read-only ones marked), the line, and a `replay` command starting
there. A line is reported once while it stays on screen. --user keeps hits seen by that user.
After the output, under `commands:`, the recorded command lines that match: programs run in
panes (their arguments joined by spaces), lines marked by the shell-init snippet, and tmux
commands, each with who did it (`USER?` when inferred); --user keeps those that user did or
could have done; in --json they are objects with \"hit\": \"command\".
No match is not an error: the exit status is 0 and stderr says so.

The running daemon first commits what the panes printed so far, so a line printed a moment ago
is found. Without a daemon that does, the panes' spools are searched too: such hits are marked
(not yet committed), \"committed\": false in --json. Every search is recorded as an
audit-access event.

Examples:
  tmux-audit search 'drop table'
  tmux-audit search --regex '(?i)rm\\s+-rf\\s+/' --since 1d
  tmux-audit search password --session prod --user alice --json
  tmux-audit search -- '-----BEGIN'")]
pub struct Args {
    /// Words to find (a phrase), or a regular expression with --regex
    #[arg(value_name = "PATTERN")]
    pattern: String,
    /// PATTERN is a regular expression (reads every chunk in range)
    #[arg(long)]
    regex: bool,
    /// Only this session (any name it had, or $ID)
    #[arg(long, value_name = "NAME")]
    session: Option<String>,
    /// Only hits while this user had a client attached to the session
    #[arg(long, value_name = "USER")]
    user: Option<String>,
    /// Only lines that appeared at or after this time (RFC 3339, local date/time, or an age such as 2h)
    #[arg(long, value_parser = timearg::arg, value_name = "TIME")]
    since: Option<Timestamp>,
    /// Only lines that appeared at or before this time
    #[arg(long, value_parser = timearg::arg, value_name = "TIME")]
    until: Option<Timestamp>,
    /// Only this tmux server: its socket path, or its name (like -L)
    #[arg(long, value_name = "NAME")]
    server: Option<String>,
    /// Show at most N hits (0: all)
    #[arg(long, default_value_t = 100, value_name = "N")]
    limit: usize,
    /// One JSON object per hit
    #[arg(long)]
    json: bool,
}

impl Args {
    /// Whether a hit at `t`, with `attached` there then, passes `--since`, `--until` and
    /// `--user` (someone of that name was attached).
    fn admits(&self, t: Timestamp, attached: &[&presence::Span]) -> bool {
        !(self.since.is_some_and(|s| t < s) || self.until.is_some_and(|u| t > u))
            && self
                .user
                .as_ref()
                .is_none_or(|user| attached.iter().any(|a| a.user.as_deref() == Some(user)))
    }
}

pub fn run(global: &Global, args: Args) -> Result<ExitCode> {
    let matcher = if args.regex {
        Matcher::regex(&args.pattern)?
    } else {
        Matcher::words(&args.pattern)?
    };
    let store = global.open_read()?;
    let location = global.location()?;
    let recorded = crate::access::record(
        &location,
        crate::access::View {
            view: "search",
            query: Some(args.pattern.clone()),
            pane: None,
        },
    );
    let candidates = match matcher.index_words() {
        Some(words) => {
            let mut seqs = HashSet::new();
            store.search_text(&[words.to_owned()], &mut |seq| {
                seqs.insert(seq);
                true
            })?;
            Some(seqs)
        }
        None => None,
    };
    let log = Log::read(store.as_ref(), global, &args, candidates.as_ref(), &matcher)?;
    let printer = Printer::new(global, &args, &matcher, log.servers.len() > 1);
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut panes: HashMap<(String, String), PaneScan> = HashMap::new();
    let (mut shown, mut more, mut unreadable) = (0usize, false, 0usize);
    'chunks: for (s, context_only) in &log.chunks {
        let e = &s.event;
        let key = (e.server.clone(), e.pane_id.clone().unwrap_or_default());
        let found = load(store.as_ref(), s).and_then(|c| {
            let pane = panes.entry(key.clone()).or_default();
            pane.scan(&c, &matcher)
                .with_context(|| format!("the output chunk of event {} is corrupt", s.seq))
        });
        let found = match found {
            Ok(found) => found,
            Err(err) => {
                eprintln!("tmux-audit: warning: skipped: {err:#}");
                panes.remove(&key);
                unreadable += 1;
                continue;
            }
        };
        if *context_only {
            continue;
        }
        for f in found {
            let t = Timestamp(f.time);
            let attached = log.presence.at(&e.server, e.session_id.as_deref(), t);
            if !args.admits(t, &attached) {
                continue;
            }
            if args.limit > 0 && shown == args.limit {
                more = true;
                break 'chunks;
            }
            if !printer.hit(&mut out, args.json, s, &f, &attached, shown == 0, true)? {
                return Ok(ExitCode::SUCCESS);
            }
            shown += 1;
        }
    }
    // Output the daemon did not commit for this search: from the spools, marked so.
    let mut pending_shown = 0usize;
    if recorded != crate::access::Recorded::ByDaemon && !more {
        for (s, f) in pending::hits(
            &StateDir::of(&location),
            store.as_ref(),
            &log.last,
            &matcher,
        )? {
            let e = &s.event;
            let t = Timestamp(f.time);
            let attached = log.presence.at(&e.server, e.session_id.as_deref(), t);
            if !args.admits(t, &attached) {
                continue;
            }
            if args.limit > 0 && shown == args.limit {
                more = true;
                break;
            }
            if !printer.hit(&mut out, args.json, &s, &f, &attached, shown == 0, false)? {
                return Ok(ExitCode::SUCCESS);
            }
            shown += 1;
            pending_shown += 1;
        }
    }
    // Then command lines: what was run, and who did it.
    let mut first_act = true;
    for s in &log.acts {
        if more {
            break;
        }
        if args.user.as_deref().is_some_and(|u| !acts::by(s, u)) {
            continue;
        }
        if args.limit > 0 && shown == args.limit {
            more = true;
            break;
        }
        let written = if args.json {
            acts::json(&mut out, s)
        } else {
            acts::text(&mut out, s, first_act)
        };
        first_act = false;
        match written.and_then(|()| out.flush()) {
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => return Ok(ExitCode::SUCCESS),
            r => r?,
        }
        shown += 1;
    }
    if more {
        eprintln!(
            "tmux-audit: showing the first {shown} {}; there are more (raise --limit, or narrow with --since, --until, --session)",
            if shown == 1 { "match" } else { "matches" }
        );
    } else if shown == 0 {
        eprintln!(
            "tmux-audit: no matches for \"{}\"",
            render::escape(&args.pattern)
        );
    }
    if pending_shown > 0 {
        eprintln!(
            "tmux-audit: note: {pending_shown} {} from output not yet committed to the chain (read from the panes' spools; marked \"not yet committed\")",
            if pending_shown == 1 { "hit comes" } else { "hits come" }
        );
    }
    if unreadable > 0 {
        bail!("{unreadable} output chunks could not be searched (warnings above); run tmux-audit verify");
    }
    Ok(ExitCode::SUCCESS)
}

/// What one pass over the log gives the search.
struct Log {
    /// Who was attached where, when.
    presence: Presence,
    /// Every server in the store (several: `replay` needs `--server`).
    servers: BTreeSet<String>,
    /// The `pane-output` events to read, in `seq` order; `true` marks one read only for the
    /// picture it leaves (the pane's chunk before `--since`), not for hits.
    chunks: Vec<(Stored, bool)>,
    /// Commands, command lines and tmux commands whose text matches, in range, in `seq` order.
    acts: Vec<Stored>,
    /// Each pane's last committed chunk (for output after it, not yet committed).
    last: HashMap<(String, String), Stored>,
}

impl Log {
    fn read(
        store: &dyn EventStore,
        global: &Global,
        args: &Args,
        candidates: Option<&HashSet<u64>>,
        matcher: &Matcher,
    ) -> Result<Log> {
        let socket = global.server().map(|p| p.display().to_string());
        let on_server = |server: &str| {
            socket.as_deref().is_none_or(|s| s == server)
                && args
                    .server
                    .as_deref()
                    .is_none_or(|want| server_matches(server, want))
        };
        let mut world = World::default();
        let mut presence = Presence::default();
        let mut servers = BTreeSet::new();
        let mut seen_server = false;
        let mut sessions: BTreeSet<(String, String)> = BTreeSet::new();
        let mut chunks = Vec::new();
        let mut acts = Vec::new();
        let mut before_since: HashMap<(String, String), Stored> = HashMap::new();
        let mut last: HashMap<(String, String), Stored> = HashMap::new();
        store.scan(Range::default(), &mut |s| {
            let e = &s.event;
            if e.kind == Kind::AuditAccess {
                // A view of the log, named by the store: no tmux server's.
                return true;
            }
            world.apply(e);
            if e.kind != Kind::PaneOutput {
                // Only these can change who is attached (pane-output events are the bulk).
                presence.follow(&world, e.time);
            }
            if !matches!(
                e.kind,
                Kind::AuditStarted | Kind::AuditStopped | Kind::AuditGap | Kind::AuditAccess
            ) {
                // The daemon's own events name what it watched, not a tmux server.
                servers.insert(e.server.clone());
            }
            if !on_server(&e.server) {
                return true;
            }
            seen_server = true;
            if let (Some(want), Some(id)) = (&args.session, &e.session_id) {
                if e.session.as_deref() == Some(want) || id == want {
                    sessions.insert((e.server.clone(), id.clone()));
                }
            }
            if acts::matches(&s, matcher) {
                let at = e.from.unwrap_or(e.time);
                if args.since.is_none_or(|t| at >= t) && args.until.is_none_or(|t| at <= t) {
                    acts.push(s);
                }
                return true;
            }
            if e.kind == Kind::PaneOutput {
                let key = (e.server.clone(), e.pane_id.clone().unwrap_or_default());
                last.insert(key, s.clone());
            }
            if e.kind != Kind::PaneOutput || candidates.is_some_and(|c| !c.contains(&s.seq)) {
                return true;
            }
            let (from, until) = (e.from.unwrap_or(e.time), e.until.unwrap_or(e.time));
            let key = (e.server.clone(), e.pane_id.clone().unwrap_or_default());
            if args.since.is_some_and(|t| until < t) {
                before_since.insert(key, s);
            } else if args.until.is_none_or(|t| from <= t) {
                if let Some(before) = before_since.remove(&key) {
                    chunks.push((before, true));
                }
                chunks.push((s, false));
            }
            true
        })?;
        if !seen_server && (socket.is_some() || args.server.is_some()) {
            let name = socket.or(args.server.clone()).unwrap_or_default();
            bail!(
                "unknown server {}: the store has no events for it (check -L/-S/--server; known: {})",
                render::escape(&name),
                render::escape(&servers.iter().cloned().collect::<Vec<_>>().join(", "))
            );
        }
        if let Some(want) = &args.session {
            if sessions.is_empty() {
                bail!(
                    "no session named {} was recorded (tmux-audit sessions lists them)",
                    render::escape(want)
                );
            }
            let in_session = |s: &Stored| {
                let e = &s.event;
                e.session_id
                    .as_ref()
                    .is_some_and(|id| sessions.contains(&(e.server.clone(), id.clone())))
            };
            chunks.retain(|(s, _)| in_session(s));
            acts.retain(in_session);
            last.retain(|_, s| in_session(s));
        }
        Ok(Log {
            presence,
            servers,
            chunks,
            acts,
            last,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_is_named_by_path_or_socket_name() {
        assert!(server_matches("/tmp/tmux-0/work", "work"));
        assert!(server_matches("/tmp/tmux-0/work", "/tmp/tmux-0/work"));
        assert!(!server_matches("/tmp/tmux-0/work", "/tmp/tmux-0"));
    }
}
