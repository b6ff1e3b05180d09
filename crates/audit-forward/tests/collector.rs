//! The collector sink end to end: local SQLite stores ship through a real collector
//! (`audit_collector`, on loopback) into a real central PostgreSQL store (`audit-testpg`,
//! `PgStore`), and the center must then hold every record of each host exactly once, with
//! its chunk and the same chain hash, whatever stopped in between.

mod common;

use audit_capture::chunk::{self, Chunk, Record};
use audit_collector::{Collector, Config};
use audit_core::{Event, Kind, Stored, Timestamp};
use audit_forward::{Forwarder, SinkStatus};
use audit_store::central::{HostHead, Intake, Shipped};
use audit_store::{Access, Attachment, Filter, Location, PgStore};
use audit_testpg::TestPostgres;
use common::{event, spec, wait_until, Reports, TestStore};
use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// A central store with its collector.
struct Center {
    url: String,
    collector: Option<Collector>,
    addr: SocketAddr,
}

impl Center {
    fn new(pg: &TestPostgres) -> Center {
        let url = pg.fresh_database().unwrap();
        let mut center = Center {
            url,
            collector: None,
            addr: "127.0.0.1:0".parse().unwrap(),
        };
        center.start();
        center
    }

    fn admin(&self) -> PgStore {
        match Location::parse(&self.url).unwrap() {
            Location::Postgres(pg) => PgStore::open(&pg, Access::Create).unwrap(),
            other => panic!("{other:?}"),
        }
    }

    /// Starts the collector (again, on the same port).
    fn start(&mut self) {
        let Location::Postgres(pg) = Location::parse(&self.url).unwrap() else {
            panic!("not postgres")
        };
        let collector = audit_collector::serve(Config::new(self.addr, None), move || {
            Ok(Box::new(PgStore::open(&pg, Access::Create)?) as Box<dyn Intake>)
        })
        .unwrap();
        self.addr = collector.local_addr();
        self.collector = Some(collector);
    }

    fn stop(&mut self) {
        if let Some(c) = self.collector.take() {
            c.stop();
        }
    }

    /// Enrolls `host`; returns its token file.
    fn enroll(&self, host: &str, dir: &std::path::Path) -> PathBuf {
        let token = self.admin().enroll(host).unwrap();
        let path = dir.join(format!("{host}.token"));
        std::fs::write(&path, format!("{token}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    fn head(&self, host: &str) -> HostHead {
        self.admin().host_head(host).unwrap()
    }

    /// Everything central of `host`, with each chunk.
    fn records(&self, host: &str) -> Vec<(Stored, Option<Vec<u8>>)> {
        let location = Location::parse(&self.url).unwrap().on_host(host);
        let store = audit_store::open(&location, Access::ReadOnly).unwrap();
        let mut all = Vec::new();
        store
            .events_after(0, usize::MAX, &mut |s| {
                all.push(s);
                true
            })
            .unwrap();
        all.into_iter()
            .map(|s| {
                let c = store.chunk(s.seq).unwrap();
                (s, c)
            })
            .collect()
    }

    /// Starts the collector with TLS (the test certificate of `audit-collector`'s fixtures).
    fn start_tls(&mut self) {
        let Location::Postgres(pg) = Location::parse(&self.url).unwrap() else {
            panic!("not postgres")
        };
        let tls = audit_collector::TlsFiles {
            cert: fixture("cert.pem"),
            key: fixture("key.pem"),
        };
        let collector = audit_collector::serve(Config::new(self.addr, Some(tls)), move || {
            Ok(Box::new(PgStore::open(&pg, Access::Create)?) as Box<dyn Intake>)
        })
        .unwrap();
        self.addr = collector.local_addr();
        self.collector = Some(collector);
    }

    fn sink(&self, token_file: &std::path::Path) -> audit_forward::SinkSpec {
        spec(&format!(
            "type = \"collector\"\nurl = \"http://{}\"\ntoken_file = \"{}\"",
            self.addr,
            token_file.display()
        ))
    }
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../audit-collector/tests/fixtures")
        .join(name)
}

/// A real chunk whose screen shows `word`.
fn output(word: &str) -> (Event, Option<Attachment>) {
    let c = Chunk {
        start: 1_000,
        end: 2_000,
        width: 40,
        height: 5,
        snapshot: Vec::new(),
        records: vec![Record::Output {
            time: 1_500,
            bytes: format!("$ echo {word}\r\n{word}\r\n").into_bytes(),
        }],
    };
    let compressed = chunk::compress(&c.encode(), 3);
    let mut e = event(Kind::PaneOutput, "s");
    e.pane_id = Some("%1".into());
    e.from = Some(Timestamp(1_000));
    e.until = Some(Timestamp(2_000));
    e.digest = Some(blake3::hash(&compressed).to_hex().to_string());
    (
        e,
        Some(Attachment {
            chunk: compressed,
            text: String::new(),
        }),
    )
}

/// `n` records, one in ten of them pane output.
fn append_mixed(store: &mut TestStore, n: usize, word: &str) {
    let records: Vec<_> = (0..n)
        .map(|i| {
            if i % 10 == 3 {
                output(word)
            } else {
                (event(Kind::WindowCreated, "s"), None)
            }
        })
        .collect();
    for piece in records.chunks(1000) {
        store.store.append_attached(piece).unwrap();
    }
}

fn local_head(store: &TestStore) -> u64 {
    store.store.head().unwrap().map_or(0, |h| h.seq)
}

/// The center holds exactly the local records of `store` under `host`, chunks included.
fn assert_central_copy(center: &Center, host: &str, store: &TestStore) {
    let local = store.all();
    let central = center.records(host);
    assert_eq!(central.len(), local.len(), "every record once");
    for (l, (c, chunk)) in local.iter().zip(&central) {
        assert_eq!((c.seq, c.hash), (l.seq, l.hash), "seq {}", l.seq);
        assert_eq!(c.event, l.event, "seq {}", l.seq);
        assert_eq!(
            chunk,
            &store.store.chunk(l.seq).unwrap(),
            "chunk of seq {}",
            l.seq
        );
    }
    let last = local.last().unwrap();
    assert_eq!(
        center.head(host),
        HostHead {
            seq: last.seq,
            hash: last.hash
        }
    );
}

fn status_of(forwarder: &Forwarder) -> SinkStatus {
    forwarder.status().remove(0)
}

#[test]
fn every_record_reaches_the_center_exactly_once_across_collector_restarts() {
    let pg = TestPostgres::shared();
    let mut center = Center::new(pg);
    let mut host = TestStore::new();
    let token = center.enroll("web-1", host.dir.path());
    append_mixed(&mut host, 5000, "firstword");
    let reports = Reports::default();
    let forwarder = common::start(&host.path, vec![center.sink(&token)], &reports);

    // Stop the collector mid-stream, while batches are in flight.
    wait_until("a first batch acknowledged", || {
        center.head("web-1").seq > 0
    });
    center.stop();
    let shipped = center.head("web-1").seq;
    append_mixed(&mut host, 300, "secondword");
    wait_until("the outage reported", || {
        reports.kinds().contains(&Kind::SinkFailed)
    });
    assert!(status_of(&forwarder).failing_since.is_some());
    center.start();
    append_mixed(&mut host, 300, "thirdword");
    let head = local_head(&host);
    wait_until("everything acknowledged", || {
        let s = status_of(&forwarder);
        s.cursor == head && s.lag.is_some_and(|l| l.records == 0)
    });
    assert!(
        shipped < head,
        "the stop came mid-stream ({shipped} of {head})"
    );
    assert_central_copy(&center, "web-1", &host);
    let kinds = reports.kinds();
    assert_eq!(
        kinds,
        [Kind::SinkFailed, Kind::SinkRecovered],
        "one pair per outage"
    );
    for e in reports.0.lock().unwrap().iter() {
        let token_text = std::fs::read_to_string(&token).unwrap();
        assert!(
            !format!("{e:?}").contains(token_text.trim()),
            "the token leaked: {e:?}"
        );
        assert_eq!(
            e.sink.as_deref(),
            Some(format!("collector:http://{}", center.addr).as_str())
        );
    }
    // The sink's cursor is the acknowledgement, as `config show` reads it.
    assert_eq!(
        host.store.sink_cursor(&status_of(&forwarder).name).unwrap(),
        Some(head)
    );
    // The center rendered the chunks' text itself and indexes it.
    let central = audit_store::open(
        &Location::parse(&center.url).unwrap().on_host("web-1"),
        Access::ReadOnly,
    )
    .unwrap();
    let mut hits = 0;
    central
        .search_candidates(&["thirdword".into()], &Filter::all(), &mut |_| {
            hits += 1;
            true
        })
        .unwrap();
    assert_eq!(hits, 30);
    forwarder.stop();
}

#[test]
fn two_hosts_each_ship_into_their_own_chain() {
    let pg = TestPostgres::shared();
    let center = Center::new(pg);
    let mut a = TestStore::new();
    let mut b = TestStore::new();
    let token_a = center.enroll("web-a", a.dir.path());
    let token_b = center.enroll("web-b", b.dir.path());
    append_mixed(&mut a, 120, "alpha");
    append_mixed(&mut b, 70, "beta");
    let reports = Reports::default();
    let fa = common::start(&a.path, vec![center.sink(&token_a)], &reports);
    let fb = common::start(&b.path, vec![center.sink(&token_b)], &reports);
    append_mixed(&mut a, 15, "alpha");
    let (ha, hb) = (local_head(&a), local_head(&b));
    wait_until("both acknowledged", || {
        status_of(&fa).cursor == ha && status_of(&fb).cursor == hb
    });
    assert_central_copy(&center, "web-a", &a);
    assert_central_copy(&center, "web-b", &b);
    assert!(reports.kinds().is_empty(), "{:?}", reports.kinds());
    fa.stop();
    fb.stop();
}

#[test]
fn a_token_used_for_another_hosts_records_is_refused() {
    let pg = TestPostgres::shared();
    let center = Center::new(pg);
    let mut a = TestStore::new();
    let token_a = center.enroll("web-a", a.dir.path());
    append_mixed(&mut a, 40, "alpha");
    let reports = Reports::default();
    let fa = common::start(&a.path, vec![center.sink(&token_a)], &reports);
    let head_a = local_head(&a);
    wait_until("web-a acknowledged", || status_of(&fa).cursor == head_a);
    fa.stop();

    // Another host, with more records of its own, configured with web-a's token: its record
    // at web-a's head is not web-a's. It ships on, so the center refuses the rest as a chain
    // fork and keeps it as evidence, where auditors look; the host reports the refusal.
    let mut b = TestStore::new();
    append_mixed(&mut b, 60, "beta");
    let fb = common::start(&b.path, vec![center.sink(&token_a)], &reports);
    wait_until("the refusal reported", || {
        reports.kinds().contains(&Kind::SinkFailed)
    });
    let s = status_of(&fb);
    let error = s.last_error.clone().unwrap_or_default();
    assert!(
        error.contains(&format!("refused record {} as a chain fork", head_a + 1)),
        "{error}"
    );
    assert_eq!(center.admin().forks("web-a").unwrap().len(), 1);
    assert_central_copy(&center, "web-a", &a);
    fb.stop();
    // Fewer records than the center holds: the token is another host's.
    let mut c = TestStore::new();
    append_mixed(&mut c, 5, "gamma");
    let reports_c = Reports::default();
    let fc = common::start(&c.path, vec![center.sink(&token_a)], &reports_c);
    wait_until("the refusal reported", || {
        reports_c.kinds().contains(&Kind::SinkFailed)
    });
    let error = status_of(&fc).last_error.unwrap_or_default();
    assert!(error.contains("another host's"), "{error}");
    fc.stop();

    // Posted by hand, as a forger would: the center refuses it as a chain fork and keeps
    // web-a's chain as it was; a fork at the same seq is one alert, however often it comes.
    let forged: Vec<Shipped> = b
        .all()
        .into_iter()
        .filter(|s| s.seq == head_a + 1)
        .map(|s| Shipped {
            seq: s.seq,
            data: audit_core::encoding::encode(s.seq, &s.event),
            hash: s.hash,
            chunk: b.store.chunk(s.seq).unwrap(),
        })
        .collect();
    let token = std::fs::read_to_string(&token_a).unwrap();
    let mut answer = ureq::post(&format!(
        "http://{}{}",
        center.addr,
        audit_ship::PATH_RECORDS
    ))
    .header("authorization", &format!("Bearer {}", token.trim()))
    .content_type(audit_ship::CONTENT_TYPE)
    .config()
    .http_status_as_error(false)
    .build()
    .send(&audit_ship::encode(&forged)[..])
    .unwrap();
    let status = answer.status().as_u16();
    let body = answer.body_mut().read_to_vec().unwrap();
    match audit_ship::PostAnswer::parse(status, &body) {
        Ok(audit_ship::PostAnswer::Forked { refused, .. }) => assert_eq!(refused, head_a + 1),
        other => panic!("{other:?}"),
    }
    assert_central_copy(&center, "web-a", &a);
    assert_eq!(center.admin().forks("web-a").unwrap().len(), 1);
}

#[test]
fn the_collector_answers_503_while_postgres_is_down_and_recovers_by_itself() {
    let mut pg = TestPostgres::start().unwrap();
    let center = Center::new(&pg);
    let mut host = TestStore::new();
    let token = center.enroll("web-1", host.dir.path());
    append_mixed(&mut host, 50, "before");
    let reports = Reports::default();
    let forwarder = common::start(&host.path, vec![center.sink(&token)], &reports);
    let head = local_head(&host);
    wait_until("acknowledged", || status_of(&forwarder).cursor == head);

    pg.stop().unwrap();
    append_mixed(&mut host, 50, "during");
    wait_until("the outage reported", || {
        reports.kinds().contains(&Kind::SinkFailed)
    });
    let error = status_of(&forwarder).last_error.unwrap_or_default();
    assert!(
        error.contains("503") && error.contains("retry later"),
        "{error}"
    );
    pg.start_again().unwrap();
    let head = local_head(&host);
    wait_until("acknowledged after the restart", || {
        status_of(&forwarder).cursor == head
    });
    assert_central_copy(&center, "web-1", &host);
    assert_eq!(reports.kinds(), [Kind::SinkFailed, Kind::SinkRecovered]);
    forwarder.stop();
}

#[test]
fn ships_over_tls_trusting_the_configured_ca_only() {
    let pg = TestPostgres::shared();
    let mut center = Center::new(pg);
    center.stop();
    center.addr = "127.0.0.1:0".parse().unwrap();
    center.start_tls();
    let mut host = TestStore::new();
    let token = center.enroll("web-1", host.dir.path());
    append_mixed(&mut host, 30, "secure");
    let url = format!("https://127.0.0.1:{}", center.addr.port());
    let with_ca = spec(&format!(
        "type = \"collector\"\nurl = \"{url}\"\ntoken_file = \"{}\"\nca_file = \"{}\"",
        token.display(),
        fixture("ca.pem").display()
    ));
    let reports = Reports::default();
    let forwarder = common::start(&host.path, vec![with_ca], &reports);
    let head = local_head(&host);
    wait_until("acknowledged over TLS", || {
        status_of(&forwarder).cursor == head
    });
    assert_central_copy(&center, "web-1", &host);
    forwarder.stop();

    // Without the CA, the bundled roots do not trust the test certificate: an outage, nothing
    // sent (the token never leaves over an unverified connection).
    let mut other = TestStore::new();
    append_mixed(&mut other, 3, "x");
    let no_ca = spec(&format!(
        "type = \"collector\"\nurl = \"{url}\"\ntoken_file = \"{}\"\nname = \"no-ca\"",
        token.display()
    ));
    let reports = Reports::default();
    let refused = common::start(&other.path, vec![no_ca], &reports);
    wait_until("the outage reported", || {
        reports.kinds().contains(&Kind::SinkFailed)
    });
    let error = status_of(&refused).last_error.unwrap_or_default();
    assert!(error.to_lowercase().contains("certificate"), "{error}");
    refused.stop();
}

#[test]
fn a_token_file_others_can_read_is_refused_at_start() {
    let host = TestStore::new();
    let token = host.dir.path().join("host.token");
    std::fs::write(&token, "secret-token\n").unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o644)).unwrap();
    let sink = spec(&format!(
        "type = \"collector\"\nurl = \"http://127.0.0.1:9\"\ntoken_file = \"{}\"",
        token.display()
    ));
    let err = Forwarder::start(
        host.location(),
        "h".into(),
        vec![sink],
        Reports::default().report(),
    )
    .err()
    .expect("refused");
    let text = err.to_string();
    assert!(
        text.contains("chmod 600") && !text.contains("secret-token"),
        "{text}"
    );
}
