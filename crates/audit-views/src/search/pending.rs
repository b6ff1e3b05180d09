//! Output not yet committed: when the daemon did not commit the panes' pending output for a
//! search (none answered — a killed daemon leaves its copiers spooling — or it could not commit
//! in time), the spools are searched too, after each pane's last committed chunk, and their hits
//! are marked `committed: false`. Only spools this user may read (the server's owner, or root)
//! are searched; the others are left out silently, as the store holds nothing of them yet.

use super::rows::ChunkError;
use super::SearchError;
use crate::hits::{Found, Matcher, PaneScan};
use crate::live::{FollowError, Follower};
use crate::recording::load;
use audit_capture::{chunk, spool};
use audit_core::Stored;
use audit_state::StateDir;
use audit_store::Reader;
use std::collections::HashMap;

/// What the spools give.
pub(super) enum Pending {
    /// A hit, with the event of the pane's last committed chunk (for the pane's names).
    Hit(Box<Stored>, Found),
    /// A pane whose spools could not be read.
    Unspooled { pane: String, error: FollowError },
}

/// The hits in what the spools hold after `last` (each pane's last committed chunk), oldest
/// first, after the panes whose spools could not be read.
pub(super) fn hits(
    state: &StateDir,
    store: &dyn Reader,
    last: &HashMap<(String, String), Stored>,
    matcher: &Matcher,
) -> Result<Vec<Pending>, SearchError> {
    let mut unspooled = Vec::new();
    let mut found = Vec::new();
    for ((server, pane), s) in last {
        let until = s.event.until.unwrap_or(s.event.time).as_micros();
        let Ok(mut follower) = Follower::new(state, server, pane, until) else {
            continue;
        };
        let polled = match follower.poll() {
            Ok(p) => p,
            Err(error) => {
                unspooled.push(Pending::Unspooled {
                    pane: pane.clone(),
                    error,
                });
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
        let chunk = load(store, s).map_err(ChunkError::from)?;
        scan.scan(&chunk, matcher)
            .map_err(|error| ChunkError::Corrupt { seq: s.seq, error })?;
        for f in scan.scan_after(records, matcher)? {
            found.push((Box::new(s.clone()), f));
        }
    }
    found.sort_by_key(|(_, f)| f.time);
    unspooled.extend(found.into_iter().map(|(s, f)| Pending::Hit(s, f)));
    Ok(unspooled)
}
