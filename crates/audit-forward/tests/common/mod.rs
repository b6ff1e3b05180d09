//! What the forwarding tests share: a real store in a temp dir, a report collector, and
//! bounded waiting.
#![allow(dead_code)] // each test binary uses its own share of these

use audit_core::{Event, Kind, Stored, Timestamp};
use audit_forward::{Forwarder, Report, SinkSpec};
use audit_store::{Access, EventStore, Location};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A store the test appends to, as the daemon's writer would.
pub struct TestStore {
    pub dir: tempfile::TempDir,
    pub path: PathBuf,
    pub store: Box<dyn EventStore>,
}

impl TestStore {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.db");
        let store = audit_store::open(&Location::Sqlite(path.clone()), Access::Create).unwrap();
        TestStore { dir, path, store }
    }

    /// Appends `n` `window-created` events in session `s`; returns them as stored.
    pub fn append(&mut self, n: usize) -> Vec<Stored> {
        let events: Vec<Event> = (0..n).map(|_| event(Kind::WindowCreated, "s")).collect();
        self.store.append(&events).unwrap()
    }

    pub fn append_events(&mut self, events: &[Event]) -> Vec<Stored> {
        self.store.append(events).unwrap()
    }

    /// Where the store is, as the daemon is given it.
    pub fn location(&self) -> Location {
        Location::Sqlite(self.path.clone())
    }

    pub fn all(&self) -> Vec<Stored> {
        let mut all = Vec::new();
        self.store
            .events_after(0, usize::MAX, &mut |s| {
                all.push(s);
                true
            })
            .unwrap();
        all
    }
}

pub fn event(kind: Kind, session: &str) -> Event {
    let mut e = Event::new(Timestamp::now(), kind, "testhost", "/tmp/tmux-0/default");
    e.session = Some(session.to_owned());
    e.user = Some("alice".into());
    e
}

/// Collects what the forwarder reports.
#[derive(Clone, Default)]
pub struct Reports(pub Arc<Mutex<Vec<Event>>>);

impl Reports {
    pub fn report(&self) -> Report {
        let reports = self.0.clone();
        Arc::new(move |e| reports.lock().unwrap().push(e))
    }

    pub fn kinds(&self) -> Vec<Kind> {
        self.0.lock().unwrap().iter().map(|e| e.kind).collect()
    }
}

pub fn start(path: &Path, specs: Vec<SinkSpec>, reports: &Reports) -> Forwarder {
    Forwarder::start(
        Location::Sqlite(path.to_path_buf()),
        "testhost".into(),
        specs,
        reports.report(),
    )
    .unwrap()
}

/// Parses one `[[sink]]` table.
pub fn spec(toml_table: &str) -> SinkSpec {
    #[derive(serde::Deserialize)]
    struct Config {
        sink: Vec<SinkSpec>,
    }
    let config: Config = toml::from_str(&format!("[[sink]]\n{toml_table}")).unwrap();
    config.sink.into_iter().next().unwrap()
}

/// Polls `done` every 10 ms for up to 20 s; panics with `what` if it never holds.
pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(20);
    while !done() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
