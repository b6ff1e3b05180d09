//! `tmux-audit search`: which lines of recorded pane output match, where and when they
//! appeared, who was watching, and the `replay` command that shows them.
//!
//! One pass over the log (events only, no chunks) follows who was attached ([`World`], as
//! `who --at` does) and picks the `pane-output` events to read: for words, only those the
//! full-text index names as candidates; for `--regex`, every one in range. Chunks are then read
//! in `seq` order — each checked against its event's digest, decompressed and rendered by
//! [`crate::hits`] — until `--limit` hits have been shown.

mod acts;
mod print;

use crate::common::{Global, HostStore};
use crate::render;
use crate::timearg;
use anyhow::{bail, Result};
use audit_core::Timestamp;
use audit_state::StateDir;
use audit_views::hits::Matcher;
use audit_views::search::{self, HitRow, Log, SearchQuery, Seen};
use print::Printer;
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
    /// The query these arguments ask, on the server `-L`/`-S` name.
    fn query(&self, global: &Global) -> Result<SearchQuery> {
        let matcher = if self.regex {
            Matcher::regex(&self.pattern)?
        } else {
            Matcher::words(&self.pattern)?
        };
        Ok(SearchQuery {
            matcher,
            socket: global.server().map(|p| p.display().to_string()),
            server: self.server.clone(),
            session: self.session.clone(),
            user: self.user.clone(),
            since: self.since,
            until: self.until,
        })
    }
}

pub fn run(global: &Global, args: Args) -> Result<ExitCode> {
    let query = args.query(global)?;
    let hosts = global.open_hosts()?;
    let location = global.location()?;
    let recorded = crate::access::record(
        &location,
        crate::access::View {
            view: "search",
            query: Some(args.pattern.clone()),
            pane: None,
        },
    );
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut tally = Tally::default();
    for host in &hosts {
        let daemon_committed = recorded == crate::access::Recorded::ByDaemon;
        if !search_host(
            global,
            &args,
            &query,
            host,
            daemon_committed,
            &mut out,
            &mut tally,
        )? {
            return Ok(ExitCode::SUCCESS);
        }
        if tally.more {
            break;
        }
    }
    let Tally {
        shown,
        more,
        unreadable,
        pending_shown,
    } = tally;
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

/// What the hosts searched so far have shown.
#[derive(Default)]
struct Tally {
    shown: usize,
    /// `--limit` was reached with more to show.
    more: bool,
    unreadable: usize,
    pending_shown: usize,
}

/// Searches one host's output, then its command lines; `Ok(false)` once the reader has gone.
fn search_host(
    global: &Global,
    args: &Args,
    query: &SearchQuery,
    host: &HostStore,
    daemon_committed: bool,
    out: &mut impl Write,
    tally: &mut Tally,
) -> Result<bool> {
    let store = host.store.as_ref();
    let log = Log::read(store, query)?;
    let printer = Printer::new(
        global,
        args,
        &query.matcher,
        log.servers.len() > 1,
        host.host.as_deref(),
    );
    // Output the daemon did not commit for this search: from the spools, marked so.
    let state = StateDir::of(&host.location);
    let spools = (!daemon_committed).then_some(&state);
    let limit = (args.limit > 0).then(|| args.limit - tally.shown);
    let mut first_act = true;
    let mut result = Ok(());
    let done = search::each(store, query, &log, spools, limit, &mut |seen| {
        let written = match seen {
            Seen::Hit(row) => {
                let first = tally.shown == 0;
                tally.shown += 1;
                match &row {
                    HitRow::Output(hit) if args.json => printer.json(out, &row, hit),
                    HitRow::Output(hit) => printer.text(out, hit, first),
                    HitRow::Command(_) if args.json => render::json_line(out, &row),
                    HitRow::Command(hit) => {
                        acts::text(out, &hit.stored, std::mem::take(&mut first_act))
                    }
                }
                .inspect(|()| {
                    if matches!(&row, HitRow::Output(hit) if !hit.committed) {
                        tally.pending_shown += 1;
                    }
                })
            }
            Seen::Unreadable(err) => {
                eprintln!(
                    "tmux-audit: warning: skipped: {:#}",
                    anyhow::Error::from(err)
                );
                tally.unreadable += 1;
                return true;
            }
            Seen::Unspooled { pane, error } => {
                eprintln!(
                    "tmux-audit: warning: output of {pane} not yet committed is not searched: {:#}",
                    anyhow::Error::from(error)
                );
                return true;
            }
        };
        match written.and_then(|()| out.flush()) {
            Ok(()) => true,
            Err(e) => {
                result = Err(e);
                false
            }
        }
    })?;
    tally.more |= done.more;
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        r => r.map(|()| true).map_err(Into::into),
    }
}
