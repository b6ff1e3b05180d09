//! `tmux-audit who`: who is (or was) attached.

use crate::common::{self, Global, HostStore};
use crate::render::{self, Table};
use crate::timearg;
use anyhow::Result;
use audit_core::fold::{Attachment, World};
use audit_core::{Kind, Reason, Timestamp};
use audit_state::StateDir;
use audit_store::Filter;
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
        for c in attached(global, &host, args.at)? {
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

/// The clients attached on one host at `at` (now: `None`), with warnings on stderr where the
/// record cannot say (a gap, no daemon recording).
fn attached(global: &Global, host: &HostStore, at: Option<Timestamp>) -> Result<Vec<Attachment>> {
    let store = host.store.as_ref();
    let on = host
        .host
        .as_deref()
        .map(|h| format!("{}: ", render::escape(h)))
        .unwrap_or_default();
    // Only what the fold reads, and the daemon's starts and stops: an indexed query that
    // skips output and commands, the bulk of any log.
    let mut kinds = World::KINDS.to_vec();
    kinds.extend([Kind::AuditStarted, Kind::AuditStopped]);
    let events = common::events(global, store, Filter::kinds(&kinds).until(at))?;
    let mut world = World::default();
    let mut recording = false;
    let mut last_change = None;
    for s in &events {
        world.apply(&s.event);
        match s.event.kind {
            Kind::AuditStarted => recording = true,
            Kind::AuditStopped => {
                recording = false;
                last_change = Some(s.event.time);
            }
            _ => {}
        }
    }
    if let Some(at) = at {
        // A gap is recorded when the next daemon starts, so look past `at` for one covering it.
        let mut gap = None;
        store.events(
            &Filter::kinds(&[Kind::AuditGap]).since(Some(at)),
            &mut |s| {
                // Lost process events leave who was attached known.
                if s.event.kind == Kind::AuditGap
                    && s.event.reason != Some(Reason::ProcessEventsLost)
                    && s.event.from.is_some_and(|f| f <= at)
                    && s.event.until.is_some_and(|u| u >= at)
                {
                    gap = Some((s.event.from, s.event.until));
                }
                gap.is_none()
            },
        )?;
        if let Some((Some(from), Some(until))) = gap {
            eprintln!(
                "tmux-audit: warning: {on}{} falls in an audit gap ({} – {}): nothing was observed then; showing the state last recorded before it",
                render::time(at),
                render::time(from),
                render::time(until)
            );
        } else if !recording && !events.is_empty() {
            let since = last_change
                .map(render::time)
                .unwrap_or_else(|| "the start".into());
            eprintln!(
                "tmux-audit: warning: {on}no daemon was recording at {} (stopped since {since}); showing the state last recorded",
                render::time(at)
            );
        }
    }
    let last = || {
        events
            .last()
            .map(|s| render::time(s.event.time))
            .unwrap_or_else(|| "none".into())
    };
    if at.is_none() && StateDir::of(&host.location).is_recording() == Some(false) {
        eprintln!(
            "tmux-audit: warning: no daemon is recording into this store now; showing the state as of its last event ({})",
            last()
        );
    } else if at.is_none() && host.host.is_some() && !recording && !events.is_empty() {
        // A central store: what the host shipped says its daemon stopped.
        eprintln!(
            "tmux-audit: warning: {on}the host's daemon stopped recording; showing the state as of its last event ({})",
            last()
        );
    }
    Ok(world.clients.into_values().collect())
}
