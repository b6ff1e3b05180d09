//! `tmux-audit who`: who is (or was) attached.

use crate::common::{self, Global};
use crate::render::{self, Table};
use crate::timearg;
use anyhow::Result;
use audit_core::Timestamp;
use audit_views::who;
use std::process::ExitCode;

/// Who is attached to which session now, or at a past moment
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Replays the log up to the moment asked (default: now). Read-only clients show RO yes. ORIGIN is
the SSH remote address the client came from, or local. If the moment falls where nothing was
recording (daemon stopped, or an audit gap) — or, without --at, if no daemon records into the
store now — a warning on stderr says so and the state last recorded is shown.

Examples:
  tmux-audit who
  tmux-audit who --at 2026-11-28T14:05:00Z
  tmux-audit who --at 3h --json
  tmux-audit who -L work")]
pub struct Args {
    /// The moment: RFC 3339, local `YYYY-MM-DD HH:MM`, or an age such as 2h
    #[arg(long, value_parser = timearg::arg, value_name = "TIME")]
    at: Option<Timestamp>,
    /// One JSON object per attached client
    #[arg(long)]
    json: bool,
}

pub fn run(global: &Global, args: Args) -> Result<ExitCode> {
    let mut clients = Vec::new();
    for host in global.open_hosts()? {
        if args.at.is_none() {
            common::known_server(global, host.store.as_ref())?;
        }
        let who = who::attached(&host, args.at, &global.scope())?;
        for warning in &who.warnings {
            eprintln!("tmux-audit: warning: {warning}");
        }
        for c in who.clients {
            clients.push((host.host.clone(), c));
        }
    }
    let mut out = std::io::stdout().lock();
    clients.sort_by(|(ha, a), (hb, b)| {
        (ha, &a.server, &a.session, a.since).cmp(&(hb, &b.server, &b.session, b.since))
    });
    if args.json {
        for (host, c) in &clients {
            common::json_line_of(&mut out, host.as_deref(), c)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let central = clients.iter().any(|(h, _)| h.is_some());
    let servers: std::collections::BTreeSet<_> =
        clients.iter().map(|(h, c)| (h, &c.server)).collect();
    let mut header = vec!["SESSION", "USER", "CLIENT", "SINCE", "RO", "ORIGIN"];
    if central {
        header.insert(0, "HOST");
    }
    if servers.len() > 1 {
        header.push("SERVER");
    }
    let mut table = Table::new(&header);
    for (host, c) in &clients {
        let mut row = vec![
            render::escape(&c.session),
            render::escape(c.user.as_deref().unwrap_or("?")),
            if c.flags
                .as_deref()
                .is_some_and(|f| f.split(',').any(|f| f == "control-mode"))
            {
                format!("{} (control mode)", render::escape(&c.client))
            } else {
                render::escape(&c.client)
            },
            render::time(c.since),
            if c.readonly { "yes" } else { "no" }.into(),
            render::escape(c.origin.as_deref().unwrap_or("?")),
        ];
        if central {
            row.insert(0, render::escape(host.as_deref().unwrap_or("?")));
        }
        if servers.len() > 1 {
            row.push(render::escape(&c.server));
        }
        table.row(row);
    }
    if table.is_empty() {
        println!("no clients attached");
    } else {
        table.print(&mut out)?;
    }
    Ok(ExitCode::SUCCESS)
}
