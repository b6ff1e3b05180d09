//! What the central PostgreSQL store does beyond the conformance suite: append-only guards,
//! a store of many hosts read without a scope, its partitions, its refusals, and a server
//! that goes away and comes back. Real PostgreSQL (`audit-testpg`), no mocks.

use audit_core::{Event, Kind, Timestamp};
use audit_store::{open, Access, EventStore, Filter, Location, PgStore, StoreError};
use audit_testpg::TestPostgres;

fn fresh() -> String {
    TestPostgres::shared().fresh_database().unwrap()
}

fn store(url: &str, host: Option<&str>, access: Access) -> Box<dyn EventStore> {
    let mut location = Location::parse(url).unwrap();
    if let Some(host) = host {
        location = location.on_host(host);
    }
    open(&location, access).unwrap()
}

fn event(secs: i64, kind: Kind, host: &str) -> Event {
    let mut e = Event::new(
        Timestamp::from_secs(secs),
        kind,
        host,
        "/tmp/tmux-0/default",
    );
    e.session = Some("prod".into());
    e.session_id = Some("$0".into());
    e
}

#[test]
fn append_only_triggers_refuse_plain_edits() {
    let url = fresh();
    let mut s = store(&url, Some("h"), Access::Create);
    let mut out = event(5, Kind::PaneOutput, "h");
    out.digest = Some(blake3::hash(b"c").to_hex().to_string());
    out.pane_id = Some("%1".into());
    s.append_attached(&[(
        out,
        Some(audit_store::Attachment {
            chunk: b"c".to_vec(),
            text: "c".into(),
        }),
    )])
    .unwrap();
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    for sql in [
        "UPDATE events SET session = 'z'",
        "DELETE FROM events",
        "UPDATE chunks SET data = '\\x00'",
        "DELETE FROM chunks",
    ] {
        let err = c.batch_execute(sql).unwrap_err();
        assert!(format!("{err:?}").contains("append-only"), "{sql}: {err:?}");
    }
    assert!(s.inspect().unwrap().intact());
}

#[test]
fn an_unscoped_store_reads_every_host_by_name_then_seq_and_refuses_seq_questions() {
    let url = fresh();
    for host in ["web-b", "web-a"] {
        let mut s = store(&url, Some(host), Access::Create);
        s.append(&[
            event(1, Kind::SessionCreated, host),
            event(2, Kind::ClientAttached, host),
        ])
        .unwrap();
    }
    let all = store(&url, None, Access::ReadOnly);
    let mut seen = Vec::new();
    all.events(&Filter::all(), &mut |s| {
        seen.push((s.event.host.clone(), s.seq));
        true
    })
    .unwrap();
    let want = [("web-a", 1), ("web-a", 2), ("web-b", 1), ("web-b", 2)];
    let want: Vec<(String, u64)> = want.iter().map(|(h, s)| (h.to_string(), *s)).collect();
    assert_eq!(seen, want);
    // Filter::host is the enrolled name, not the record's own host field.
    let mut b = 0;
    let only_b = Filter {
        host: Some("web-b".into()),
        ..Filter::all()
    };
    all.events(&only_b, &mut |s| {
        assert_eq!(s.event.host, "web-b");
        b += 1;
        true
    })
    .unwrap();
    assert_eq!(b, 2);
    assert_eq!(all.hosts().unwrap(), ["web-a", "web-b"]);
    for err in [
        all.head().map(|_| ()).unwrap_err(),
        all.chunk(1).map(|_| ()).unwrap_err(),
        all.inspect().map(|_| ()).unwrap_err(),
        all.sink_cursor("x").map(|_| ()).unwrap_err(),
        all.events_after(0, 10, &mut |_| true).unwrap_err(),
    ] {
        assert!(matches!(err, StoreError::NeedsHost { .. }), "{err:?}");
        assert!(err.to_string().contains("--host"), "{err}");
    }
    let mut writer = store(&url, None, Access::Create);
    let err = writer
        .append(&[event(3, Kind::SessionCreated, "x")])
        .unwrap_err();
    assert!(matches!(err, StoreError::NeedsHost { .. }), "{err:?}");
}

#[test]
fn records_go_to_month_partitions_made_on_demand() {
    let url = fresh();
    let mut s = store(&url, Some("h"), Access::Create);
    let nov = Timestamp::parse_rfc3339("2026-11-30T23:59:59Z").unwrap();
    let dec = Timestamp::parse_rfc3339("2026-12-01T00:00:00Z").unwrap();
    let mut events = Vec::new();
    for t in [nov, dec, Timestamp::from_secs(-86_400)] {
        let mut e = event(0, Kind::WindowCreated, "h");
        e.time = t;
        events.push(e);
    }
    s.append(&events).unwrap();
    let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let count = |c: &mut postgres::Client, table: &str| -> i64 {
        c.query_one(&format!("SELECT count(*) FROM {table}"), &[])
            .unwrap()
            .get(0)
    };
    assert_eq!(count(&mut c, "events_y2026m11"), 1);
    assert_eq!(count(&mut c, "events_y2026m12"), 1);
    assert_eq!(
        count(&mut c, "events_default"),
        1,
        "before 1970: the default"
    );
    // Another connection knows nothing of them, and makes none twice.
    let mut again = store(&url, Some("h"), Access::Create);
    again.append(&events[1..2]).unwrap();
    assert_eq!(count(&mut c, "events_y2026m12"), 2);
    let late = Filter::all().since(Some(dec));
    let mut n = 0;
    s.events(&late, &mut |_| {
        n += 1;
        true
    })
    .unwrap();
    assert_eq!(n, 2);
    assert!(s.inspect().unwrap().intact());
}

#[test]
fn a_missing_or_foreign_database_is_refused_clearly_and_no_password_is_shown() {
    let empty = fresh();
    let err = PgStore::open(
        match &Location::parse(&empty).unwrap() {
            Location::Postgres(p) => p,
            _ => unreachable!(),
        },
        Access::ReadOnly,
    )
    .unwrap_err();
    assert!(matches!(err, StoreError::Missing { .. }), "{err:?}");
    let foreign = fresh();
    postgres::Client::connect(&foreign, postgres::NoTls)
        .unwrap()
        .batch_execute("CREATE TABLE t (x int)")
        .unwrap();
    for access in [Access::ReadOnly, Access::Create] {
        let err = open(&Location::parse(&foreign).unwrap(), access)
            .map(|_| ())
            .unwrap_err();
        assert!(err.to_string().contains("not a tmux-audit store"), "{err}");
    }
    // Nobody listens on port 1: the error names the store without its password.
    let secret = "postgres://audit:hunter2@127.0.0.1:1/audit";
    let err = open(&Location::parse(secret).unwrap(), Access::ReadOnly)
        .map(|_| ())
        .unwrap_err();
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("audit:***@127.0.0.1:1"), "{shown}");
}

#[test]
fn a_store_reopened_after_the_server_restarts_goes_on_where_its_chain_ended() {
    let mut pg = TestPostgres::start().unwrap();
    let url = pg.create_database("audit").unwrap();
    let mut s = store(&url, Some("h"), Access::Create);
    s.append(&[event(1, Kind::SessionCreated, "h")]).unwrap();
    pg.stop().unwrap();
    let err = s
        .append(&[event(2, Kind::SessionCreated, "h")])
        .unwrap_err();
    assert!(matches!(err, StoreError::Postgres { .. }), "{err:?}");
    pg.start_again().unwrap();
    let mut s = store(&url, Some("h"), Access::Create);
    let more = s.append(&[event(3, Kind::SessionClosed, "h")]).unwrap();
    assert_eq!(more[0].seq, 2, "nothing of the failed append was stored");
    let report = s.inspect().unwrap();
    assert!(report.intact() && report.records == 2, "{report:?}");
}
