//! Retention on the central store (real PostgreSQL): old months go whole, each chain keeps a
//! checkpoint, and what stays still verifies — and still shows tampering.

use audit_core::chain::{self, GENESIS};
use audit_core::{encoding, Event, Finding, Kind, Timestamp};
use audit_store::central::{Intake, Shipped, Verdict};
use audit_store::{Access, Attachment, Filter, Location, PgLocation, PgStore, Reader, Writer};
use audit_testpg::TestPostgres;

fn location(url: &str, host: Option<&str>) -> PgLocation {
    let mut loc = Location::parse(url).unwrap();
    if let Some(h) = host {
        loc = loc.on_host(h);
    }
    match loc {
        Location::Postgres(pg) => pg,
        Location::Sqlite(_) => unreachable!(),
    }
}

fn t(text: &str) -> Timestamp {
    Timestamp::parse_rfc3339(text).unwrap()
}

/// An output event at `time`, with its chunk.
fn output(time: Timestamp, n: usize) -> (Event, Option<Attachment>) {
    let chunk = format!("chunk {n}").into_bytes();
    let mut e = Event::new(time, Kind::PaneOutput, "h", "/tmp/tmux-0/default");
    e.pane_id = Some("%1".into());
    e.digest = Some(blake3::hash(&chunk).to_hex().to_string());
    let text = format!("month{n}");
    (e, Some(Attachment { chunk, text }))
}

fn seqs(store: &dyn Reader) -> Vec<u64> {
    let mut seen = Vec::new();
    store
        .events(&Filter::all(), &mut |s| {
            seen.push(s.seq);
            true
        })
        .unwrap();
    seen
}

#[test]
fn old_months_are_dropped_with_their_output_and_the_rest_still_verifies() {
    let url = TestPostgres::shared().fresh_database().unwrap();
    let mut h = PgStore::open(&location(&url, Some("h")), Access::Create).unwrap();
    let months = [
        "2026-09-10T00:00:00Z",
        "2026-10-10T00:00:00Z",
        "2026-11-10T00:00:00Z",
    ];
    let records: Vec<_> = months
        .iter()
        .enumerate()
        .flat_map(|(n, m)| [output(t(m), n), output(t(m), n + 10)])
        .collect();
    let stored = h.append_attached(&records).unwrap();
    // A second host whose records are all old.
    let mut g = PgStore::open(&location(&url, Some("g")), Access::Create).unwrap();
    let g_stored = g
        .append(&[Event::new(t(months[0]), Kind::SessionCreated, "g", "/s")])
        .unwrap();

    let admin = PgStore::open(&location(&url, None), Access::Create).unwrap();
    let retained = admin.retain_before(t("2026-11-01T00:00:00Z")).unwrap();
    assert_eq!(retained.partitions, ["events_y2026m09", "events_y2026m10"]);
    assert_eq!(retained.checkpoints, 2);
    assert_eq!(seqs(&h), [5, 6]);
    assert_eq!(
        h.chunk(1).unwrap(),
        None,
        "the dropped records' output goes too"
    );
    assert!(h.chunk(5).unwrap().is_some());
    let mut found = Vec::new();
    h.search_candidates(&["month0".into()], &Filter::all(), &mut |s| {
        found.push(s);
        true
    })
    .unwrap();
    assert!(found.is_empty(), "{found:?}");
    let report = h.inspect().unwrap();
    assert!(report.intact(), "{:?}", report.findings);
    assert_eq!((report.records, report.head), (2, stored[5].hash));
    let report = g.inspect().unwrap();
    assert!(report.intact() && report.records == 0, "{report:?}");
    assert_eq!(report.head, g_stored[0].hash, "its checkpoint is its head");
    // Nothing more to drop; the chain goes on.
    assert_eq!(
        admin.retain_before(t("2026-11-01T00:00:00Z")).unwrap(),
        Default::default()
    );
    let more = h
        .append_attached(&[output(t("2026-11-20T00:00:00Z"), 9)])
        .unwrap();
    assert_eq!(more[0].seq, 7);
    assert!(h.inspect().unwrap().intact());
    // Deleting the first record kept is still found, against the checkpoint.
    let mut raw = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    raw.batch_execute(
        "SET session_replication_role = replica;
         DELETE FROM events WHERE seq = 5 AND host_id = (SELECT id FROM hosts WHERE name = 'h');
         DELETE FROM chunks WHERE seq = 5 AND host_id = (SELECT id FROM hosts WHERE name = 'h')",
    )
    .unwrap();
    assert_eq!(
        h.inspect().unwrap().findings,
        [Finding::Deleted { from: 5, to: 5 }]
    );
}

#[test]
fn a_host_resending_records_dropped_by_retention_is_no_fork() {
    let url = TestPostgres::shared().fresh_database().unwrap();
    let mut c = PgStore::open(&location(&url, None), Access::Create).unwrap();
    c.enroll("web-1").unwrap();
    let mut prev = GENESIS;
    let shipped: Vec<Shipped> = [
        "2026-09-01T00:00:00Z",
        "2026-09-02T00:00:00Z",
        "2026-11-02T00:00:00Z",
    ]
    .iter()
    .zip(1..)
    .map(|(time, seq)| {
        let e = Event::new(t(time), Kind::WindowCreated, "web-1", "/s");
        let data = encoding::encode(seq, &e);
        let hash = chain::link(&prev, &data);
        prev = hash;
        Shipped {
            seq,
            data,
            hash,
            chunk: None,
        }
    })
    .collect();
    let texts = vec![None; 3];
    let now = t("2026-12-03T00:00:00Z");
    c.accept("web-1", &shipped, &texts, now, "p").unwrap();
    c.retain_before(t("2026-10-01T00:00:00Z")).unwrap();
    let verdict = c.accept("web-1", &shipped, &texts, now, "p").unwrap();
    assert!(
        matches!(verdict, Verdict::Stored { added: 0, .. }),
        "{verdict:?}"
    );
    assert!(c.forks("web-1").unwrap().is_empty());
    let mut rewritten = shipped[1].clone();
    rewritten.hash = [1; 32];
    let verdict = c
        .accept("web-1", &[rewritten], &texts[..1], now, "p")
        .unwrap();
    assert!(
        matches!(verdict, Verdict::Forked { seq: 2, .. }),
        "{verdict:?}"
    );
}
