//! Each session's life as a row — created, closed, who took part and for how long, and how
//! many violations, alerts and gaps touched it — folded incrementally so a long-running front
//! end reads each record once, and a page of those rows filtered and sorted.
//!
//! [`SessionIndex`] keeps its place in the log: the first [`SessionIndex::refresh`] asks the
//! store for the kinds it folds (an indexed query that skips output), later ones read only the
//! records after the last seq seen. Its rows are what a fold of the whole log gives.

use audit_core::fold::{SessionHistory, SessionSummary};
use audit_core::{Kind, Severity, Stored, Timestamp};
use audit_store::{Filter, Reader, StoreError};
use serde::Serialize;
use std::cmp::Ordering;
use std::collections::HashMap;
use std::str::FromStr;

/// One session's row: the `sessions --json` object, the host it lives on (a central store's),
/// and its counts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct SessionRow {
    /// Its life, as `sessions --json` prints it.
    #[serde(flatten)]
    pub summary: SessionSummary,
    /// The enrolled host, on a central store.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Seconds of every participant's attached time, summed.
    pub attached_total: i64,
    /// `policy-violation` events naming this session (its server and id) while it was the
    /// latest session of that id on that server.
    pub violations: u64,
    /// `tmux-command` events with `severity: alert` naming this session, counted the same way.
    pub alerts: u64,
    /// `audit-gap` events of its server (or of every server: an empty `server`) whose interval
    /// (`from`, else `time`, to `until`, else `time`) overlaps its life (created to closed, or to
    /// now while open): the `audit-gap` rows [`crate::overview::session`] lists.
    pub gaps: u64,
}

/// The kinds the index folds: the sessions' lives and what it counts.
const KINDS: [Kind; 9] = [
    Kind::SessionCreated,
    Kind::SessionRenamed,
    Kind::SessionClosed,
    Kind::ServerExited,
    Kind::ClientAttached,
    Kind::ClientDetached,
    Kind::PolicyViolation,
    Kind::TmuxCommand,
    Kind::AuditGap,
];

/// How many records a later refresh reads at a time.
const BATCH: usize = 10_000;

/// Session rows folded from the log, kept up to date by reading only what is new.
#[derive(Clone, Debug, Default)]
pub struct SessionIndex {
    host: Option<String>,
    scope: Filter,
    history: SessionHistory,
    /// The latest session of each (server, id), by its place in the history.
    latest: HashMap<(String, String), usize>,
    violations: HashMap<usize, u64>,
    alerts: HashMap<usize, u64>,
    /// Audit gaps by server (`""`: every server): (from, until).
    gaps: HashMap<String, Vec<(Timestamp, Timestamp)>>,
    started: bool,
    seen: u64,
}

impl SessionIndex {
    /// An index of the records `scope` admits (its host and server; other fields are ignored),
    /// whose rows carry `host` (a central store's host).
    pub fn new(host: Option<String>, scope: Filter) -> Self {
        let scope = Filter {
            host: scope.host,
            server: scope.server,
            ..Filter::all()
        };
        SessionIndex {
            host,
            scope,
            ..SessionIndex::default()
        }
    }

    /// The last seq folded (`0`: none yet).
    pub fn seen(&self) -> u64 {
        self.seen
    }

    /// Folds the records stored since the last refresh.
    pub fn refresh(&mut self, store: &dyn Reader) -> Result<(), StoreError> {
        if !self.started {
            // Everything up to the head now is in the indexed query's answer; a record it also
            // returns past the head was committed after every seq before it.
            let head = store.head()?.map_or(0, |s| s.seq);
            let filter = Filter {
                kinds: KINDS.to_vec(),
                ..self.scope.clone()
            };
            let mut last = head;
            store.events(&filter, &mut |s| {
                last = last.max(s.seq);
                self.fold(&s);
                true
            })?;
            if self.scope.server.is_some() {
                // A gap of every server has an empty `server`, which no server filter admits.
                let every = Filter {
                    host: self.scope.host.clone(),
                    ..Filter::kinds(&[Kind::AuditGap])
                };
                store.events(&every, &mut |s| {
                    if s.event.server.is_empty() {
                        last = last.max(s.seq);
                        self.fold(&s);
                    }
                    true
                })?;
            }
            self.started = true;
            self.seen = last;
            return Ok(());
        }
        loop {
            let mut read = 0;
            let mut last = self.seen;
            store.events_after(self.seen, BATCH, &mut |s| {
                read += 1;
                last = s.seq;
                if KINDS.contains(&s.event.kind) && self.admits(&s.event) {
                    self.fold(&s);
                }
                true
            })?;
            self.seen = last;
            if read < BATCH {
                return Ok(());
            }
        }
    }

    /// Whether the scope admits `e`; a gap of every server is on every server.
    fn admits(&self, e: &audit_core::Event) -> bool {
        if e.kind == Kind::AuditGap && e.server.is_empty() {
            let host = Filter {
                host: self.scope.host.clone(),
                ..Filter::all()
            };
            return host.admits(e);
        }
        self.scope.admits(e)
    }

    fn fold(&mut self, s: &Stored) {
        let e = &s.event;
        if SessionHistory::KINDS.contains(&e.kind) {
            self.history.apply(e);
        }
        let key = e
            .session_id
            .as_ref()
            .map(|id| (e.server.clone(), id.clone()));
        match e.kind {
            Kind::SessionCreated | Kind::SessionRenamed => {
                if let Some(k) = key {
                    if let Some(i) = self.history.live(&k.0, &k.1) {
                        self.latest.insert(k, i);
                    }
                }
            }
            Kind::PolicyViolation => {
                if let Some(i) = key.and_then(|k| self.latest.get(&k)) {
                    *self.violations.entry(*i).or_default() += 1;
                }
            }
            Kind::TmuxCommand if e.severity == Some(Severity::Alert) => {
                if let Some(i) = key.and_then(|k| self.latest.get(&k)) {
                    *self.alerts.entry(*i).or_default() += 1;
                }
            }
            Kind::AuditGap => {
                let from = e.from.unwrap_or(e.time);
                let until = e.until.unwrap_or(e.time);
                self.gaps
                    .entry(e.server.clone())
                    .or_default()
                    .push((from, until));
            }
            _ => {}
        }
    }

    /// The rows, in the order the sessions began, as of `now` (open attachments count up to
    /// it, and an open session's life runs to it).
    pub fn rows(&self, now: Timestamp) -> Vec<SessionRow> {
        let none = Vec::new();
        let every = self.gaps.get("").unwrap_or(&none);
        self.history
            .clone()
            .finish(now)
            .into_iter()
            .enumerate()
            .map(|(i, summary)| {
                let end = summary.closed.unwrap_or(now);
                let ours = self.gaps.get(&summary.server).unwrap_or(&none);
                let gaps = (ours.iter().chain(every))
                    .filter(|(from, until)| *from <= end && *until >= summary.created)
                    .count() as u64;
                SessionRow {
                    host: self.host.clone(),
                    attached_total: summary.attached_seconds.values().sum(),
                    violations: self.violations.get(&i).copied().unwrap_or(0),
                    alerts: self.alerts.get(&i).copied().unwrap_or(0),
                    gaps,
                    summary,
                }
            })
            .collect()
    }
}

/// What rows are sorted by.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sort {
    /// When it was created (or first found).
    #[default]
    Created,
    /// When it closed; open sessions after every closed one.
    Closed,
    /// Its current name.
    Session,
    /// Its host.
    Host,
    /// Its participants' attached time, summed.
    Attached,
}

impl FromStr for Sort {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "created" => Sort::Created,
            "closed" => Sort::Closed,
            "session" => Sort::Session,
            "host" => Sort::Host,
            "attached" => Sort::Attached,
            _ => {
                return Err(format!(
                    "unknown sort {s:?}: one of created, closed, session, host, attached"
                ))
            }
        })
    }
}

/// Which way rows are sorted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Order {
    /// Smallest first.
    Asc,
    /// Largest (latest) first.
    #[default]
    Desc,
}

impl FromStr for Order {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "asc" => Ok(Order::Asc),
            "desc" => Ok(Order::Desc),
            _ => Err(format!("unknown order {s:?}: asc or desc")),
        }
    }
}

/// Which rows a page shows, in which order. Every filter set narrows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionQuery {
    /// Only sessions of this host (exact).
    pub host: Option<String>,
    /// Only the session with this name now or before, or this id (`$N`); exact.
    pub session: Option<String>,
    /// Only sessions this user took part in.
    pub user: Option<String>,
    /// Only sessions alive at or after this time (open, or closed at or after it).
    pub since: Option<Timestamp>,
    /// Only sessions alive at or before this time (created at or before it).
    pub until: Option<Timestamp>,
    /// Free text: a case-insensitive substring of the name, a former name, a participant, the
    /// server or the host.
    pub q: Option<String>,
    /// Sorted by.
    pub sort: Sort,
    /// Sorted which way.
    pub order: Order,
    /// Rows skipped.
    pub offset: usize,
    /// Rows shown at most.
    pub limit: usize,
}

impl Default for SessionQuery {
    fn default() -> Self {
        SessionQuery {
            host: None,
            session: None,
            user: None,
            since: None,
            until: None,
            q: None,
            sort: Sort::default(),
            order: Order::default(),
            offset: 0,
            limit: 50,
        }
    }
}

/// A page of rows.
#[derive(Debug, Serialize)]
pub struct Page {
    /// Rows the filters admit, in all.
    pub total: usize,
    /// Rows skipped.
    pub offset: usize,
    /// Rows shown at most.
    pub limit: usize,
    /// The rows shown.
    pub rows: Vec<SessionRow>,
}

impl SessionQuery {
    /// Whether `row` passes every filter.
    pub fn admits(&self, row: &SessionRow) -> bool {
        let s = &row.summary;
        let q = self.q.as_deref().map(str::to_lowercase);
        let has = |text: &str| q.as_deref().is_none_or(|q| text.to_lowercase().contains(q));
        self.host
            .as_ref()
            .is_none_or(|h| row.host.as_ref() == Some(h))
            && self.session.as_ref().is_none_or(|want| {
                &s.session == want || &s.session_id == want || s.former_names.contains(want)
            })
            && (self.user.as_ref()).is_none_or(|u| s.participants.contains(u))
            && self.until.is_none_or(|t| s.created <= t)
            && self.since.is_none_or(|t| s.closed.is_none_or(|c| c >= t))
            && (q.is_none()
                || has(&s.session)
                || s.former_names.iter().any(|n| has(n))
                || s.participants.iter().any(|p| has(p))
                || has(&s.server)
                || row.host.as_deref().is_some_and(has))
    }

    fn cmp(&self, a: &SessionRow, b: &SessionRow) -> Ordering {
        let (x, y) = (&a.summary, &b.summary);
        let first = match self.sort {
            Sort::Created => x.created.cmp(&y.created),
            // `None` (open) sorts after every closed time.
            Sort::Closed => match (x.closed, y.closed) {
                (Some(p), Some(q)) => p.cmp(&q),
                (p, q) => q.is_some().cmp(&p.is_some()),
            },
            Sort::Session => x.session.cmp(&y.session),
            Sort::Host => a.host.cmp(&b.host),
            Sort::Attached => a.attached_total.cmp(&b.attached_total),
        };
        let ordering = first
            .then_with(|| a.host.cmp(&b.host))
            .then_with(|| x.server.cmp(&y.server))
            .then_with(|| x.created.cmp(&y.created))
            .then_with(|| x.session_id.cmp(&y.session_id));
        match self.order {
            Order::Asc => ordering,
            Order::Desc => ordering.reverse(),
        }
    }
}

/// The rows `q` admits, sorted and cut to its page.
pub fn page(rows: Vec<SessionRow>, q: &SessionQuery) -> Page {
    let mut rows: Vec<SessionRow> = rows.into_iter().filter(|r| q.admits(r)).collect();
    rows.sort_by(|a, b| q.cmp(a, b));
    let total = rows.len();
    let rows = rows.into_iter().skip(q.offset).take(q.limit).collect();
    Page {
        total,
        offset: q.offset,
        limit: q.limit,
        rows,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_core::Event;
    use audit_store::{Access, SqliteStore, Writer};

    fn ev(t: i64, kind: Kind, server: &str, id: Option<&str>) -> Event {
        let mut e = Event::new(Timestamp::from_secs(t), kind, "web1", server);
        e.session_id = id.map(Into::into);
        e
    }

    fn named(t: i64, kind: Kind, id: &str, name: &str) -> Event {
        let mut e = ev(t, kind, "/s", Some(id));
        e.session = Some(name.into());
        e
    }

    fn client(t: i64, kind: Kind, id: &str, client: &str, user: &str) -> Event {
        let mut e = ev(t, kind, "/s", Some(id));
        e.client = Some(client.into());
        e.user = Some(user.into());
        e
    }

    fn gap(t: i64, server: &str, from: i64, until: i64) -> Event {
        let mut e = ev(t, Kind::AuditGap, server, None);
        e.from = Some(Timestamp::from_secs(from));
        e.until = Some(Timestamp::from_secs(until));
        e
    }

    fn alert(t: i64, id: &str, severity: Option<Severity>) -> Event {
        let mut e = ev(t, Kind::TmuxCommand, "/s", Some(id));
        e.command = Some("pipe-pane".into());
        e.severity = severity;
        e
    }

    /// Two sessions of /s (one renamed, closed), noise of another server and of output.
    fn first_half() -> Vec<Event> {
        vec![
            named(10, Kind::SessionCreated, "$1", "prod"),
            client(20, Kind::ClientAttached, "$1", "/dev/pts/1", "alice"),
            ev(21, Kind::PolicyViolation, "/s", Some("$1")),
            alert(22, "$1", Some(Severity::Alert)),
            alert(23, "$1", None),
            ev(24, Kind::PaneOutput, "/s", Some("$1")),
            gap(31, "", 25, 30),
            named(40, Kind::SessionRenamed, "$1", "prod2"),
        ]
    }

    fn second_half() -> Vec<Event> {
        let mut other = named(45, Kind::SessionCreated, "$1", "elsewhere");
        other.server = "/other".into();
        vec![
            other,
            named(50, Kind::SessionCreated, "$2", "dev"),
            client(55, Kind::ClientAttached, "$2", "/dev/pts/2", "bob"),
            client(60, Kind::ClientDetached, "$1", "/dev/pts/1", "alice"),
            named(70, Kind::SessionClosed, "$1", "prod2"),
            gap(91, "/s", 80, 90),
            gap(92, "/other", 80, 90),
            alert(93, "$2", Some(Severity::Alert)),
        ]
    }

    fn store(dir: &std::path::Path) -> SqliteStore {
        SqliteStore::open(&dir.join("audit.db"), Access::Create).unwrap()
    }

    fn scope() -> Filter {
        Filter::all().on_server("/s")
    }

    #[test]
    fn refreshing_as_records_arrive_gives_the_rows_of_a_fold_from_scratch() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store(dir.path());
        let now = Timestamp::from_secs(100);
        store.append(&first_half()).unwrap();
        let mut index = SessionIndex::new(None, scope());
        index.refresh(&store).unwrap();
        assert_eq!(index.seen(), 8);
        let early = index.rows(now);
        assert_eq!(early.len(), 1);
        assert_eq!(
            early[0].attached_total, 80,
            "alice still attached, up to now"
        );
        store.append(&second_half()).unwrap();
        index.refresh(&store).unwrap();
        index.refresh(&store).unwrap();
        assert_eq!(index.seen(), 16);
        let mut scratch = SessionIndex::new(None, scope());
        scratch.refresh(&store).unwrap();
        let rows = index.rows(now);
        assert_eq!(rows, scratch.rows(now));

        let prod = &rows[0];
        assert_eq!(prod.summary.session, "prod2");
        assert_eq!(prod.summary.former_names, ["prod"]);
        assert_eq!(prod.summary.closed, Some(Timestamp::from_secs(70)));
        assert_eq!(prod.attached_total, 40);
        assert_eq!((prod.violations, prod.alerts, prod.gaps), (1, 1, 1));
        let dev = &rows[1];
        assert_eq!(dev.summary.session, "dev");
        assert_eq!(dev.attached_total, 45);
        assert_eq!((dev.violations, dev.alerts, dev.gaps), (0, 1, 1));
        for row in [prod, dev] {
            let s = &row.summary;
            let detail =
                crate::overview::session(&store, &s.server, &s.session_id, s.created, s.closed)
                    .unwrap();
            let listed = detail.gaps.iter().filter(|g| g.kind == "audit-gap").count();
            assert_eq!(
                listed as u64, row.gaps,
                "the session page lists what its row counts"
            );
        }
        let json = serde_json::to_value(dev).unwrap();
        assert_eq!(json["session"], "dev");
        assert_eq!(json["attached_seconds"]["bob"], 45);
        assert_eq!(json["gaps"], 1);
        assert!(json.get("host").is_none());
    }

    #[test]
    fn a_page_filters_sorts_and_cuts() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = store(dir.path());
        store.append(&first_half()).unwrap();
        store.append(&second_half()).unwrap();
        let mut index = SessionIndex::new(Some("web1".into()), Filter::all());
        index.refresh(&store).unwrap();
        let rows = index.rows(Timestamp::from_secs(100));
        let names = |q: SessionQuery| -> (usize, Vec<String>) {
            let p = page(rows.clone(), &q);
            (
                p.total,
                p.rows.into_iter().map(|r| r.summary.session).collect(),
            )
        };
        let all = SessionQuery::default();
        assert_eq!(names(all.clone()).1, ["dev", "elsewhere", "prod2"]);
        let q = |q: &str| SessionQuery {
            q: Some(q.into()),
            ..all.clone()
        };
        assert_eq!(names(q("PROD")).1, ["prod2"], "a former name, any case");
        assert_eq!(names(q("BoB")).1, ["dev"], "a participant");
        assert_eq!(names(q("other")).1, ["elsewhere"], "the server");
        assert_eq!(names(q("WEB")).0, 3, "the host");
        let user = SessionQuery {
            user: Some("alice".into()),
            ..all.clone()
        };
        assert_eq!(names(user).1, ["prod2"]);
        let session = SessionQuery {
            session: Some("prod".into()),
            ..all.clone()
        };
        assert_eq!(names(session).1, ["prod2"]);
        let alive = SessionQuery {
            since: Some(Timestamp::from_secs(75)),
            until: Some(Timestamp::from_secs(80)),
            ..all.clone()
        };
        assert_eq!(names(alive).1, ["dev", "elsewhere"], "prod2 closed at 70");
        let before = SessionQuery {
            until: Some(Timestamp::from_secs(45)),
            ..all.clone()
        };
        assert_eq!(names(before).1, ["elsewhere", "prod2"]);
        let attached = SessionQuery {
            sort: "attached".parse().unwrap(),
            order: "asc".parse().unwrap(),
            ..all.clone()
        };
        assert_eq!(names(attached).1, ["elsewhere", "prod2", "dev"]);
        let closed = SessionQuery {
            sort: Sort::Closed,
            ..all.clone()
        };
        assert_eq!(
            names(closed.clone()).1,
            ["dev", "elsewhere", "prod2"],
            "open: latest"
        );
        let closed = SessionQuery {
            order: Order::Asc,
            ..closed
        };
        assert_eq!(names(closed).1, ["prod2", "elsewhere", "dev"]);
        let cut = SessionQuery {
            offset: 1,
            limit: 1,
            ..all.clone()
        };
        assert_eq!(names(cut), (3, vec!["elsewhere".to_owned()]));
        assert!("newest".parse::<Sort>().is_err());
    }
}
