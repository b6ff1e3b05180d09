//! Output not yet committed: when the daemon did not commit the panes' pending output for this
//! search (none answered — a killed daemon leaves its copiers spooling — or it could not commit
//! in time), the spools are searched too, after each pane's last committed chunk, and their hits
//! are marked `committed: false`. Only spools this user may read (the server's owner, or root)
//! are searched; the others are left out silently, as the store holds nothing of them yet.

use anyhow::Result;
use audit_capture::{chunk, spool};
use audit_core::Stored;
use audit_state::StateDir;
use audit_store::EventStore;
use audit_views::hits::{Found, Matcher, PaneScan};
use audit_views::live::Follower;
use audit_views::recording::load;
use std::collections::HashMap;

/// The hits in what the spools hold after `last` (each pane's last committed chunk), with the
/// event that chunk belongs to (for the pane's names).
pub fn hits(
    state: &StateDir,
    store: &dyn EventStore,
    last: &HashMap<(String, String), Stored>,
    matcher: &Matcher,
) -> Result<Vec<(Stored, Found)>> {
    let mut out = Vec::new();
    for ((server, pane), s) in last {
        let until = s.event.until.unwrap_or(s.event.time).as_micros();
        let Ok(mut follower) = Follower::new(state, server, pane, until) else {
            continue;
        };
        let polled = match follower.poll() {
            Ok(p) => p,
            Err(e) => {
                eprintln!("tmux-audit: warning: output of {pane} not yet committed is not searched: {e:#}");
                continue;
            }
        };
        let records: Vec<chunk::Record> = polled
            .into_iter()
            .filter_map(|r| match r {
                spool::Record::Output { time, bytes } => {
                    Some(chunk::Record::Output { time, bytes })
                }
                _ => None,
            })
            .collect();
        if records.is_empty() {
            continue;
        }
        // The picture the pane's last chunk left: lines on it are not found again.
        let mut scan = PaneScan::default();
        scan.scan(&load(store, s)?, matcher)?;
        for f in scan.scan_after(records, matcher)? {
            out.push((s.clone(), f));
        }
    }
    out.sort_by_key(|(_, f)| f.time);
    Ok(out)
}
