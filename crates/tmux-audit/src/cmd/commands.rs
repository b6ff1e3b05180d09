//! `tmux-audit commands`: the timeline of programs run in panes, and who ran each.

use crate::common::{self, Global};
use crate::render;
use crate::timearg;
use anyhow::Result;
use audit_core::attribution::Confidence;
use audit_core::{Bytes, Kind, Reason, Timestamp};
use audit_views::commands::{self, CommandRow, CommandsQuery};
use std::io::Write;
use std::process::ExitCode;

/// What was run in the panes and against tmux, when, by whom, and how it ended
#[derive(clap::Args, Debug)]
#[command(after_help = "\
The timeline, oldest first, of three kinds of record: each program a pane ran (`command`, from
the kernel, daemon as root), each command line a shell marked (`shell-command`, with the
`shell-init` snippet: `$ LINE`), and each tmux command a client ran (`tmux-command`: `tmux
COMMAND`, `!` marks an alert). Who: for tmux commands the client's user as tmux logged it; in
a pane, the user of the one client attached to its session that could type (exact); with
several, the one whose client typed last before it started (inferred, from tmux's per-client
key times in whole seconds: `USER?`), else all who could have (unknown, candidates listed) —
tmux never records which client typed a key, so several typists are never exact. A program that ended before its arguments could be read shows its kernel name in brackets.
Text is shown escaped; --json keeps it exactly.

Examples:
  tmux-audit commands --session prod --since 2h
  tmux-audit commands --user bob
  tmux-audit commands --grep '(?i)drop\\s+table'
  tmux-audit commands --json | jq 'select(.exit_code != 0)'")]
pub struct Args {
    /// Only this session (name or $ID)
    #[arg(long, value_name = "NAME")]
    session: Option<String>,
    /// Only commands attributed to this user (exactly, or as a candidate)
    #[arg(long, value_name = "USER")]
    user: Option<String>,
    /// Only commands started at or after this time
    #[arg(long, value_parser = timearg::arg, value_name = "TIME")]
    since: Option<Timestamp>,
    /// Only commands started at or before this time
    #[arg(long, value_parser = timearg::arg, value_name = "TIME")]
    until: Option<Timestamp>,
    /// Only commands whose text (arguments, line as typed, or tmux command) matches this
    /// regular expression (Rust syntax; `(?i)` ignores case)
    #[arg(long, value_name = "REGEX")]
    grep: Option<regex::bytes::Regex>,
    /// One JSON object per command: the event's fields, plus actor, attribution, candidates
    #[arg(long)]
    json: bool,
}

pub fn run(global: &Global, args: Args) -> Result<ExitCode> {
    let scope = global.scope();
    let query = CommandsQuery {
        session: args.session,
        user: args.user,
        since: args.since,
        until: args.until,
        grep: args.grep,
        host: scope.host,
        server: scope.server,
    };
    let mut out = std::io::stdout().lock();
    for host in global.open_hosts()? {
        let rows = commands::rows(host.store.as_ref(), &query)?;
        if rows.is_empty() {
            common::known_server(global, host.store.as_ref())?;
        }
        for row in &rows {
            if args.json {
                render::json_line(&mut out, row)?;
            } else if let Some(h) = &host.host {
                writeln!(out, "{}  {}", render::escape(h), line(row))?;
            } else {
                writeln!(out, "{}", line(row))?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `TIME  SESSION:PANE  WHO  ENDING  DURATION  ARGV`.
fn line(row: &CommandRow) -> String {
    let (e, who) = (&row.stored.event, &row.who);
    let place = row.place();
    let person = match (who.attribution, &who.actor) {
        (Confidence::Exact, Some(actor)) => actor.clone(),
        (Confidence::Inferred, Some(actor)) => {
            format!("{actor}? (typed last; {})", who.candidates.join(" or "))
        }
        _ if who.candidates.is_empty() => "? (nobody attached could type)".into(),
        _ => format!("? ({})", who.candidates.join(" or ")),
    };
    let ending = match (e.exit_code, e.signal, e.reason) {
        (Some(code), _, _) => format!("exit {code}"),
        (_, Some(sig), _) => format!("signal {sig}"),
        (_, _, Some(Reason::Exec)) => "exec'd".into(),
        _ if e.kind == Kind::TmuxCommand => "".into(),
        _ => "?".into(),
    };
    let took = match (e.from, e.until) {
        (Some(a), Some(b)) => format!("{:.3}s", (b.as_micros() - a.as_micros()) as f64 / 1e6),
        _ if e.kind == Kind::TmuxCommand => String::new(),
        _ => "?".into(),
    };
    let what = match (e.kind, &e.argv, &e.comm) {
        (Kind::ShellCommand, ..) => format!(
            "$ {}",
            render::escape(
                &e.line
                    .as_ref()
                    .map(Bytes::lossless_text)
                    .unwrap_or_default()
            )
        ),
        (Kind::TmuxCommand, ..) => format!(
            "{}tmux {}",
            if e.severity.is_some() { "! " } else { "" },
            render::escape(e.command.as_deref().unwrap_or(""))
        ),
        (_, Some(argv), _) => argv.iter().map(shown).collect::<Vec<_>>().join(" "),
        (_, None, Some(comm)) => format!("[{}]", shown(comm)),
        _ => "[?]".into(),
    };
    format!(
        "{}  {:<14} {:<22} {:<9} {:>8}  {}",
        render::time(row.start()),
        render::escape(&place),
        render::escape(&person),
        ending,
        took,
        what
    )
}

/// One argument as a person reads it: escaped, quoted when it would not read as one word.
fn shown(b: &Bytes) -> String {
    let text = render::escape(&b.lossless_text());
    if text.is_empty() || text.contains([' ', '"', '\'']) {
        format!("{text:?}")
    } else {
        text
    }
}
