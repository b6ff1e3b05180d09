//! `tmux-audit log`: the events themselves.

use crate::cmd::proof::{self, Hashing, Piece};
use crate::common::{self, Global};
use crate::render;
use crate::timearg;
use anyhow::Result;
use audit_core::{Kind, Observed, Stored, Timestamp};
use audit_views::log::LogQuery;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

/// Show recorded events, oldest first
#[derive(clap::Args, Debug)]
#[command(after_help = "\
--session matches the session by its name at any time (renames included) or by its id ($N);
all events of that session are shown, windows, panes and clients included.

Examples:
  tmux-audit log --since 2h
  tmux-audit log --session prod --since 2026-11-28 --until 2026-11-29
  tmux-audit log --kind client-attached --kind client-detached --user alice
  tmux-audit log --json | jq 'select(.kind == \"audit-gap\")'
  tmux-audit log --json --session prod --proof prod.proof > prod.jsonl")]
pub struct Args {
    /// Only this session (name or $ID)
    #[arg(long, value_name = "NAME")]
    session: Option<String>,
    /// Only events at or after this time (RFC 3339, local date/time, or an age such as 2h)
    #[arg(long, value_parser = timearg::arg, value_name = "TIME")]
    since: Option<Timestamp>,
    /// Only events at or before this time
    #[arg(long, value_parser = timearg::arg, value_name = "TIME")]
    until: Option<Timestamp>,
    /// Only events of this kind (repeatable)
    #[arg(long, value_name = "KIND")]
    kind: Vec<Kind>,
    /// Only events naming this user
    #[arg(long, value_name = "USER")]
    user: Option<String>,
    /// One JSON object per event (fields in docs/EVENTS.md)
    #[arg(long)]
    json: bool,
    /// With --json: also write a proof that lets what was printed be checked alone with the
    /// verification key (`tmux-audit verify --export OUT --proof FILE --key KEY`)
    #[arg(long, value_name = "FILE", requires = "json")]
    proof: Option<PathBuf>,
}

pub fn run(global: &Global, args: Args) -> Result<ExitCode> {
    // A proof covers what one chain holds: one host.
    let hosts = match args.proof {
        Some(_) => vec![global.open_host()?],
        None => global.open_hosts()?,
    };
    let filter = LogQuery {
        session: args.session.clone(),
        kinds: args.kind.clone(),
        user: args.user.clone(),
        since: args.since,
        until: args.until,
    }
    .filter();
    let mut out = Hashing::new(std::io::stdout().lock());
    for host in &hosts {
        let events = common::events(global, host.store.as_ref(), filter.clone())?;
        let mut printed = Vec::new();
        for s in &events {
            if args.json {
                render::json_line(&mut out, s)?;
                printed.push(s.seq);
            } else {
                match &host.host {
                    Some(h) => writeln!(out, "{}  {}", render::escape(h), human(s))?,
                    None => writeln!(out, "{}", human(s))?,
                }
            }
        }
        out.flush()?;
        if let Some(path) = &args.proof {
            let piece = Piece::Events { seqs: printed };
            proof::write(global, host.store.as_ref(), piece, out.digest(), path)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// One line: seq, time, kind, then the fields that are present as key=value.
fn human(s: &Stored) -> String {
    let e = &s.event;
    let mut line = format!(
        "{:>6}  {}  {:<23}",
        s.seq,
        render::time(e.time),
        e.kind.as_str()
    );
    let mut field = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            line.push_str(&format!(" {k}={}", render::escape(&v)));
        }
    };
    field("session", e.session.clone().map(quote));
    field("id", e.session_id.clone());
    field("window", e.window.clone().map(quote));
    field("window_id", e.window_id.clone());
    field("pane", e.pane_id.clone());
    if let (Some(w), Some(p)) = (e.window_index, e.pane_index) {
        field("at", Some(format!("{w}.{p}")));
    }
    field("client", e.client.clone());
    field("user", e.user.clone());
    field("uid", e.uid.map(|u| u.to_string()));
    field(
        "ro",
        e.readonly.map(|r| if r { "yes" } else { "no" }.to_owned()),
    );
    field("origin", e.origin.clone());
    field("flags", e.flags.clone());
    field("reason", e.reason.map(|r| r.to_string()));
    field("by", e.by.clone());
    field("by_user", e.by_user.clone());
    field("from", e.from.map(render::time));
    field("until", e.until.map(render::time));
    field("bytes", e.bytes.map(|b| b.to_string()));
    field("epoch", e.epoch.map(|n| n.to_string()));
    if let (Some(w), Some(h)) = (e.width, e.height) {
        field("size", Some(format!("{w}x{h}")));
    }
    field("severity", e.severity.map(|s| s.to_string()));
    field("command", e.command.clone().map(quote));
    field("key", e.key.clone());
    field(
        "argv",
        e.argv.as_ref().map(|a| {
            let words: Vec<String> = a.iter().map(|b| quote(b.lossless_text())).collect();
            words.join(" ")
        }),
    );
    field("comm", e.comm.as_ref().map(|b| quote(b.lossless_text())));
    field("line", e.line.as_ref().map(|b| quote(b.lossless_text())));
    field("cwd", e.cwd.as_ref().map(|b| quote(b.lossless_text())));
    field("exit", e.exit_code.map(|c| c.to_string()));
    field("signal", e.signal.map(|s| s.to_string()));
    field("actor", e.actor.clone());
    field("attribution", e.attribution.map(|a| a.to_string()));
    field(
        "candidates",
        e.candidates
            .as_ref()
            .filter(|c| c.len() > 1)
            .map(|c| c.join(",")),
    );
    field("rule", e.rule.clone().map(quote));
    field("violation", e.violation.map(|v| v.to_string()));
    field("action", e.action.map(|a| a.to_string()));
    field("sink", e.sink.clone().map(quote));
    field("timing", e.timing.clone());
    field(
        "confirmed",
        e.confirmed.map(|c| if c { "yes" } else { "no" }.to_owned()),
    );
    field("view", e.view.clone());
    field("query", e.query.clone().map(quote));
    field("recorded_by", e.recorded_by.clone());
    field("hook", e.hook.clone());
    field("version", e.version.clone());
    field("pid", e.pid.map(|p| p.to_string()));
    if e.observed == Some(Observed::AtStart) {
        field("observed", e.observed.map(|o| o.to_string()));
    }
    if e.kind.as_str().starts_with("server") || e.kind.as_str().starts_with("audit") {
        field("server", Some(e.server.clone()));
    }
    field("note", e.message.clone().map(quote));
    line
}

/// Quotes a value that has spaces or quotes so fields stay separable.
fn quote(v: String) -> String {
    if v.is_empty() || v.contains([' ', '"', '=']) {
        format!("{v:?}")
    } else {
        v
    }
}
