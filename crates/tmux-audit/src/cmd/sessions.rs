//! `tmux-audit sessions`: each session's life.

use crate::common::{self, Global};
use crate::render::{self, Table};
use anyhow::Result;
use audit_core::Timestamp;
use audit_views::sessions::SessionIndex;
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
    let mut sessions = Vec::new();
    let now = Timestamp::now();
    for host in global.open_hosts()? {
        common::known_server(global, host.store.as_ref())?;
        let mut index = SessionIndex::new(host.host.clone(), global.scope());
        index.refresh(host.store.as_ref())?;
        sessions.extend(index.rows(now));
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        for row in &sessions {
            common::json_line_of(&mut out, row.host.as_deref(), &row.summary)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let central = sessions.iter().any(|row| row.host.is_some());
    let mut header = vec![
        "SESSION",
        "ID",
        "CREATED",
        "CLOSED",
        "ATTACHED",
        "PARTICIPANTS",
    ];
    if central {
        header.insert(0, "HOST");
    }
    let mut table = Table::new(&header);
    for row in &sessions {
        let (host, s) = (&row.host, &row.summary);
        let who: Vec<String> = s
            .attached_seconds
            .iter()
            .map(|(u, secs)| format!("{} ({})", render::escape(u), render::duration(*secs)))
            .collect();
        let star = if s.created_observed_at_start { "*" } else { "" };
        let mut row = vec![
            render::escape(&s.session),
            render::escape(&s.session_id),
            format!("{}{star}", render::time(s.created)),
            s.closed.map(render::time).unwrap_or_else(|| "open".into()),
            render::duration(row.attached_total),
            if who.is_empty() {
                "-".into()
            } else {
                who.join(", ")
            },
        ];
        if central {
            row.insert(0, render::escape(host.as_deref().unwrap_or("?")));
        }
        table.row(row);
    }
    if table.is_empty() {
        println!("no sessions recorded");
    } else {
        table.print(&mut out)?;
    }
    Ok(ExitCode::SUCCESS)
}
