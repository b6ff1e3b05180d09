//! `tmux-audit sessions`: each session's life.

use crate::common::{self, Global};
use crate::render::{self, Table};
use anyhow::Result;
use audit_core::fold::SessionHistory;
use audit_core::Timestamp;
use audit_store::Filter;
use std::process::ExitCode;

/// Each session: created, closed, who took part and for how long
#[derive(clap::Args, Debug)]
#[command(after_help = "\
ATTACHED sums each participant's attached time (several clients of one user add up); sessions
still open count up to now. A session that existed before recording began shows when it was first
found, marked with *.

Examples:
  tmux-audit sessions
  tmux-audit sessions --json | jq 'select(.participants | index(\"bob\"))'")]
pub struct Args {
    /// One JSON object per session
    #[arg(long)]
    json: bool,
}

pub fn run(global: &Global, args: Args) -> Result<ExitCode> {
    let store = global.open_read()?;
    let mut history = SessionHistory::default();
    let only = Filter::kinds(&SessionHistory::KINDS);
    for s in common::events(global, store.as_ref(), only)? {
        history.apply(&s.event);
    }
    let sessions = history.finish(Timestamp::now());
    let mut out = std::io::stdout().lock();
    if args.json {
        for s in &sessions {
            render::json_line(&mut out, s)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&[
        "SESSION",
        "ID",
        "CREATED",
        "CLOSED",
        "ATTACHED",
        "PARTICIPANTS",
    ]);
    for s in &sessions {
        let total: i64 = s.attached_seconds.values().sum();
        let who: Vec<String> = s
            .attached_seconds
            .iter()
            .map(|(u, secs)| format!("{} ({})", render::escape(u), render::duration(*secs)))
            .collect();
        let star = if s.created_observed_at_start { "*" } else { "" };
        table.row(vec![
            render::escape(&s.session),
            render::escape(&s.session_id),
            format!("{}{star}", render::time(s.created)),
            s.closed.map(render::time).unwrap_or_else(|| "open".into()),
            render::duration(total),
            if who.is_empty() {
                "-".into()
            } else {
                who.join(", ")
            },
        ]);
    }
    if table.is_empty() {
        println!("no sessions recorded");
    } else {
        table.print(&mut out)?;
    }
    Ok(ExitCode::SUCCESS)
}
