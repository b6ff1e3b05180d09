//! Who is (or was) attached to which session: the log folded into [`World`] up to a moment,
//! with warnings where the record cannot say (the moment falls in a gap, or nothing was
//! recording).

use crate::hosts::HostStore;
use crate::show::{escape, time};
use audit_core::fold::{Attachment, World};
use audit_core::{Kind, Reason, Timestamp};
use audit_state::StateDir;
use audit_store::{Filter, StoreError};
use serde::Serialize;

/// The clients attached on one host, and what a reader must know about that answer.
#[derive(Debug, Serialize)]
pub struct Who {
    /// The clients, by server, session and since.
    pub clients: Vec<Attachment>,
    /// Why the answer may not be the truth, in the words the CLI prints after
    /// `tmux-audit: warning: ` (a central store's host named first).
    pub warnings: Vec<String>,
}

/// The clients attached on `host` at `at` (`None`: now), from the records `scope` admits (its
/// host and server: the CLI's `--host`, `-L`/`-S`; other fields are ignored). Whether a daemon
/// records now is read from the location's state folder; on a central store (`host.host` set),
/// from what the host shipped.
pub fn attached(
    host: &HostStore,
    at: Option<Timestamp>,
    scope: &Filter,
) -> Result<Who, StoreError> {
    let store = host.store.as_ref();
    let on = host
        .host
        .as_deref()
        .map(|h| format!("{}: ", escape(h)))
        .unwrap_or_default();
    // Only what the fold reads, and the daemon's starts and stops: an indexed query that
    // skips output and commands, the bulk of any log.
    let mut kinds = World::KINDS.to_vec();
    kinds.extend([Kind::AuditStarted, Kind::AuditStopped]);
    let filter = Filter {
        host: scope.host.clone(),
        server: scope.server.clone(),
        ..Filter::kinds(&kinds).until(at)
    };
    let mut world = World::default();
    let mut recording = false;
    let mut last_change = None;
    let mut last = None;
    store.events(&filter, &mut |s| {
        world.apply(&s.event);
        match s.event.kind {
            Kind::AuditStarted => recording = true,
            Kind::AuditStopped => {
                recording = false;
                last_change = Some(s.event.time);
            }
            _ => {}
        }
        last = Some(s.event.time);
        true
    })?;
    let mut warnings = Vec::new();
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
            warnings.push(format!(
                "{on}{} falls in an audit gap ({} – {}): nothing was observed then; showing the state last recorded before it",
                time(at),
                time(from),
                time(until)
            ));
        } else if !recording && last.is_some() {
            let since = last_change.map(time).unwrap_or_else(|| "the start".into());
            warnings.push(format!(
                "{on}no daemon was recording at {} (stopped since {since}); showing the state last recorded",
                time(at)
            ));
        }
    }
    let any = last.is_some();
    let last = last.map(time).unwrap_or_else(|| "none".into());
    if at.is_none() && StateDir::of(&host.location).is_recording() == Some(false) {
        warnings.push(format!(
            "no daemon is recording into this store now; showing the state as of its last event ({last})"
        ));
    } else if at.is_none() && host.host.is_some() && !recording && any {
        // A central store: what the host shipped says its daemon stopped.
        warnings.push(format!(
            "{on}the host's daemon stopped recording; showing the state as of its last event ({last})"
        ));
    }
    let mut clients: Vec<Attachment> = world.clients.into_values().collect();
    clients.sort_by(|a, b| (&a.server, &a.session, a.since).cmp(&(&b.server, &b.session, b.since)));
    Ok(Who { clients, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hosts;
    use crate::testing::ev;
    use audit_store::{Access, Location, SqliteStore, Writer};

    #[test]
    fn a_moment_in_a_gap_or_after_a_stop_is_answered_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("audit.db");
        let mut store = SqliteStore::open(&db, Access::Create).unwrap();
        let mut attached = ev(3, Kind::ClientAttached);
        attached.client = Some("/dev/pts/1".into());
        attached.user = Some("alice".into());
        let mut gap = ev(20, Kind::AuditGap);
        gap.reason = Some(Reason::UncleanStop);
        gap.from = Some(Timestamp::from_secs(5));
        gap.until = Some(Timestamp::from_secs(19));
        store
            .append(&[
                ev(1, Kind::AuditStarted),
                ev(2, Kind::SessionCreated),
                attached,
                gap,
                ev(21, Kind::AuditStarted),
                ev(30, Kind::AuditStopped),
            ])
            .unwrap();
        drop(store);
        let host = hosts::open_one(&Location::Sqlite(db), None, Access::ReadOnly).unwrap();
        let at = |t| attached_at(&host, t);

        let (clients, warnings) = at(Some(4));
        assert_eq!(clients, ["alice"]);
        assert!(warnings.is_empty(), "{warnings:?}");
        let (clients, warnings) = at(Some(10));
        assert_eq!(clients, ["alice"], "the state last recorded before the gap");
        assert_eq!(
            warnings,
            ["1970-01-01T00:00:10Z falls in an audit gap (1970-01-01T00:00:05Z – 1970-01-01T00:00:19Z): nothing was observed then; showing the state last recorded before it"]
        );
        let (_, warnings) = at(Some(40));
        assert_eq!(
            warnings,
            ["no daemon was recording at 1970-01-01T00:00:40Z (stopped since 1970-01-01T00:00:30Z); showing the state last recorded"]
        );
        let (_, warnings) = at(None);
        assert!(
            warnings.is_empty(),
            "no daemon ever locked this store's state: {warnings:?}"
        );
    }

    fn attached_at(host: &HostStore, at: Option<i64>) -> (Vec<String>, Vec<String>) {
        let who = attached(host, at.map(Timestamp::from_secs), &Filter::all()).unwrap();
        let users = who.clients.iter().filter_map(|c| c.user.clone()).collect();
        (users, who.warnings)
    }
}
