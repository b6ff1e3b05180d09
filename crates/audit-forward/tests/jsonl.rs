//! The JSON-lines sink: exactly the `log --json` lines, owner-only, and a restarted forwarder
//! goes on from its cursor without sending anything twice.

mod common;

use audit_core::Kind;
use common::{event, spec, start, wait_until, Reports, TestStore};
use std::os::unix::fs::PermissionsExt;

fn lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn lines_are_the_stored_events_as_json_and_a_restart_resumes_from_the_cursor() {
    let mut store = TestStore::new();
    let out = store.dir.path().join("log/nested/events.jsonl");
    let sink = spec(&format!(
        "type = \"jsonl\"\npath = {:?}",
        out.to_str().unwrap()
    ));
    store.append(600); // more than one batch of history before the sink ever ran
    let reports = Reports::default();

    let forwarder = start(&store.path, vec![sink.clone()], &reports);
    let waker = forwarder.waker();
    wait_until("history", || lines(&out).len() == 600);
    store.append(5);
    waker.wake();
    wait_until("new events", || lines(&out).len() == 605);
    wait_until("the status", || forwarder.status()[0].cursor == 605);
    forwarder.stop();

    // Appended while no forwarder ran; then a new forwarder takes over from the cursor.
    store.append(7);
    let forwarder = start(&store.path, vec![sink], &reports);
    wait_until("events after the restart", || lines(&out).len() >= 612);
    forwarder.stop();

    let expected: Vec<String> = store
        .all()
        .iter()
        .map(|s| serde_json::to_string(s).unwrap())
        .collect();
    assert_eq!(
        lines(&out),
        expected,
        "each event once, in order, as `log --json` prints it"
    );
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(reports.kinds().is_empty(), "{:?}", reports.kinds());
    assert_eq!(
        store
            .store
            .sink_cursor(&format!("jsonl:{}", out.display()))
            .unwrap(),
        Some(612)
    );
}

#[test]
fn only_wanted_kinds_are_written_but_the_cursor_passes_the_others() {
    let mut store = TestStore::new();
    let out = store.dir.path().join("violations.jsonl");
    let sink = spec(&format!(
        "type = \"jsonl\"\nname = \"v\"\npath = {:?}\nkinds = [\"policy-violation\"]",
        out.to_str().unwrap()
    ));
    let stored = store.append_events(&[
        event(Kind::ClientAttached, "a"),
        event(Kind::PolicyViolation, "a"),
        event(Kind::ClientDetached, "a"),
    ]);
    let forwarder = start(&store.path, vec![sink], &Reports::default());
    wait_until("the cursor past the last event", || {
        forwarder.status()[0].cursor == 3
    });
    forwarder.stop();
    assert_eq!(lines(&out), [serde_json::to_string(&stored[1]).unwrap()]);
    assert_eq!(store.store.sink_cursor("v").unwrap(), Some(3));
}
