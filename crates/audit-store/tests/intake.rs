//! The central store's intake against real PostgreSQL: what a collector hands it (a host's
//! records as shipped) and what it keeps, refuses and records as evidence.

use audit_core::chain::{self, GENESIS};
use audit_core::{encoding, Event, Kind, Severity, Timestamp};
use audit_store::central::{HostHead, Intake, LinkError, Shipped, Verdict, CENTER};
use audit_store::{fork_evidence, Access, Filter, Location, PgLocation, PgStore, Reader};
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

fn center(url: &str) -> PgStore {
    PgStore::open(&location(url, None), Access::Create).unwrap()
}

fn host_store(url: &str, host: &str) -> PgStore {
    PgStore::open(&location(url, Some(host)), Access::ReadOnly).unwrap()
}

/// A host's chain of `n` records as its own store holds them: every third is `pane-output`
/// with its chunk; its rendered text says `word N`.
fn chain_of(n: u64) -> (Vec<Shipped>, Vec<Option<String>>) {
    let mut prev = GENESIS;
    let mut records = Vec::new();
    let mut texts = Vec::new();
    for seq in 1..=n {
        let mut e = Event::new(
            Timestamp::from_secs(1_796_000_000 + seq as i64),
            Kind::WindowCreated,
            "web-1",
            "/tmp/tmux-0/default",
        );
        let mut chunk = None;
        let mut text = None;
        if seq % 3 == 0 {
            let c = format!("chunk {seq}").into_bytes();
            e.kind = Kind::PaneOutput;
            e.pane_id = Some("%1".into());
            e.digest = Some(blake3::hash(&c).to_hex().to_string());
            chunk = Some(c);
            text = Some(format!("word{seq} shipped"));
        }
        let data = encoding::encode(seq, &e);
        let hash = chain::link(&prev, &data);
        prev = hash;
        records.push(Shipped {
            seq,
            data,
            hash,
            chunk,
        });
        texts.push(text);
    }
    (records, texts)
}

fn head(records: &[Shipped], seq: u64) -> HostHead {
    let r = &records[seq as usize - 1];
    HostHead {
        seq: r.seq,
        hash: r.hash,
    }
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

fn at() -> Timestamp {
    Timestamp::parse_rfc3339("2026-12-03T12:00:00Z").unwrap()
}

#[test]
fn a_chain_is_accepted_in_batches_and_reads_as_the_host_store() {
    let url = TestPostgres::shared().fresh_database().unwrap();
    let mut c = center(&url);
    let token = c.enroll("web-1").unwrap();
    assert!(token.starts_with("tat1_") && token.len() == 48, "{token}");
    assert_eq!(c.host_of_token(&token).unwrap().as_deref(), Some("web-1"));
    assert_eq!(c.host_of_token("tat1_guess").unwrap(), None);
    assert_eq!(c.host_head("web-1").unwrap(), HostHead::EMPTY);
    let (records, texts) = chain_of(7);
    for (from, to) in [(0, 3), (3, 7)] {
        let verdict = c
            .accept(
                "web-1",
                &records[from..to],
                &texts[from..to],
                at(),
                "10.0.0.1",
            )
            .unwrap();
        assert_eq!(
            verdict,
            Verdict::Stored {
                head: head(&records, to as u64),
                added: to - from
            }
        );
    }
    assert_eq!(c.host_head("web-1").unwrap(), head(&records, 7));
    let web = host_store(&url, "web-1");
    assert_eq!(seqs(&web), [1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(web.head().unwrap().unwrap().hash, records[6].hash);
    assert_eq!(web.chunk(6).unwrap(), records[5].chunk);
    let mut found = Vec::new();
    web.search_candidates(&["WORD6".into()], &Filter::all(), &mut |s| {
        found.push(s);
        true
    })
    .unwrap();
    assert_eq!(found, [6]);
    let report = web.inspect().unwrap();
    assert!(report.intact() && report.records == 7, "{report:?}");
    let states = c.host_states().unwrap();
    let state = states.iter().find(|s| s.name == "web-1").unwrap();
    assert_eq!((state.head_seq, state.forks), (7, 0));
    assert_eq!(state.last_received, Some(at()));
    assert!(state.revoked.is_none());
}

#[test]
fn a_resent_overlapping_batch_stores_nothing_twice() {
    let url = TestPostgres::shared().fresh_database().unwrap();
    let mut c = center(&url);
    c.enroll("web-1").unwrap();
    let (records, texts) = chain_of(6);
    c.accept("web-1", &records[..4], &texts[..4], at(), "p")
        .unwrap();
    let verdict = c
        .accept("web-1", &records[2..6], &texts[2..6], at(), "p")
        .unwrap();
    assert_eq!(
        verdict,
        Verdict::Stored {
            head: head(&records, 6),
            added: 2
        }
    );
    let again = c.accept("web-1", &records, &texts, at(), "p").unwrap();
    assert_eq!(
        again,
        Verdict::Stored {
            head: head(&records, 6),
            added: 0
        }
    );
    let web = host_store(&url, "web-1");
    assert_eq!(seqs(&web), [1, 2, 3, 4, 5, 6]);
    assert!(web.inspect().unwrap().intact());
    assert!(c.forks("web-1").unwrap().is_empty());
}

#[test]
fn a_rewritten_record_is_refused_kept_as_evidence_and_reported_in_the_center() {
    let url = TestPostgres::shared().fresh_database().unwrap();
    let mut c = center(&url);
    c.enroll("web-1").unwrap();
    let (records, texts) = chain_of(6);
    c.accept("web-1", &records[..4], &texts[..4], at(), "p")
        .unwrap();
    // The host rewrote seq 2 after shipping it, and ships it again.
    let mut rewritten = chain_of(6).0;
    let mut e = encoding::decode(&rewritten[1].data).unwrap().1;
    e.server = "/tmp/elsewhere".into();
    rewritten[1].data = encoding::encode(2, &e);
    rewritten[1].hash = chain::link(&records[0].hash, &rewritten[1].data);
    let verdict = c
        .accept("web-1", &rewritten[1..5], &texts[1..5], at(), "10.9.9.9")
        .unwrap();
    assert_eq!(
        verdict,
        Verdict::Forked {
            head: head(&records, 4),
            seq: 2,
            why: LinkError::Differs { seq: 2 }
        }
    );
    // A batch whose later record does not link: what linked before it is stored.
    let mut broken = records[4..6].to_vec();
    broken[1].hash = [9; 32];
    let verdict = c
        .accept("web-1", &broken, &texts[4..6], at(), "10.9.9.9")
        .unwrap();
    assert_eq!(
        verdict,
        Verdict::Forked {
            head: head(&records, 5),
            seq: 6,
            why: LinkError::Unlinked { seq: 6 }
        }
    );
    let forks = c.forks("web-1").unwrap();
    assert_eq!(forks.len(), 2);
    assert_eq!(
        (forks[0].seq, forks[0].received, forks[0].digest.clone()),
        (
            2,
            at(),
            blake3::hash(&fork_evidence(&rewritten[1..5]))
                .to_hex()
                .to_string()
        )
    );
    assert!(forks[0].why.contains("differs"), "{}", forks[0].why);
    // The center's own chain says so.
    let center_chain = host_store(&url, CENTER);
    let mut alerts = Vec::new();
    center_chain
        .events(&Filter::kinds(&[Kind::ChainFork]), &mut |s| {
            alerts.push(s.event);
            true
        })
        .unwrap();
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts[0].host, "web-1");
    assert_eq!(alerts[0].origin.as_deref(), Some("10.9.9.9"));
    assert_eq!(alerts[0].severity, Some(Severity::Alert));
    assert_eq!(alerts[0].digest.as_deref(), Some(forks[0].digest.as_str()));
    assert_eq!(alerts[0].message.as_deref(), Some(forks[0].why.as_str()));
    assert!(center_chain.inspect().unwrap().intact());
    // The host's records before the fork stand, untouched.
    let web = host_store(&url, "web-1");
    assert_eq!(seqs(&web), [1, 2, 3, 4, 5]);
    assert_eq!(web.head().unwrap().unwrap().hash, records[4].hash);
    assert!(web.inspect().unwrap().intact());
    let unscoped = PgStore::open(&location(&url, None), Access::ReadOnly).unwrap();
    assert_eq!(unscoped.hosts().unwrap(), [CENTER, "web-1"]);
    assert_eq!(
        c.host_states()
            .unwrap()
            .iter()
            .find(|s| s.name == "web-1")
            .unwrap()
            .forks,
        2
    );
}

#[test]
fn a_batch_after_a_gap_is_refused_whole() {
    let url = TestPostgres::shared().fresh_database().unwrap();
    let mut c = center(&url);
    c.enroll("web-1").unwrap();
    let (records, texts) = chain_of(6);
    c.accept("web-1", &records[..2], &texts[..2], at(), "p")
        .unwrap();
    let verdict = c
        .accept("web-1", &records[3..6], &texts[3..6], at(), "p")
        .unwrap();
    assert_eq!(
        verdict,
        Verdict::Gap {
            head: head(&records, 2)
        }
    );
    assert_eq!(seqs(&host_store(&url, "web-1")), [1, 2]);
    assert!(c.forks("web-1").unwrap().is_empty());
}

#[test]
fn enrollment_refuses_bad_and_taken_names_and_revocation_ends_a_token() {
    let url = TestPostgres::shared().fresh_database().unwrap();
    let c = center(&url);
    let token = c.enroll("web-1").unwrap();
    let err = c.enroll("web-1").unwrap_err();
    assert!(err.to_string().contains("already enrolled"), "{err}");
    for bad in ["", "@center", "a b", "-x"] {
        assert!(c.enroll(bad).is_err(), "{bad:?}");
    }
    let other = c.enroll("web-2").unwrap();
    assert_ne!(token, other);
    c.revoke("web-1").unwrap();
    assert_eq!(c.host_of_token(&token).unwrap(), None);
    assert_eq!(c.host_of_token(&other).unwrap().as_deref(), Some("web-2"));
    assert!(c.revoke("web-1").is_err(), "already revoked");
    assert!(c.enroll("web-1").is_err(), "a revoked name stays taken");
    let states = c.host_states().unwrap();
    assert!(states
        .iter()
        .any(|s| s.name == "web-1" && s.revoked.is_some()));
    let reader = PgStore::open(&location(&url, None), Access::ReadOnly).unwrap();
    assert!(reader.enroll("web-3").is_err(), "read-only");
}

#[test]
fn two_collectors_accepting_one_host_at_once_make_one_chain() {
    let url = TestPostgres::shared().fresh_database().unwrap();
    center(&url).enroll("web-1").unwrap();
    let (records, texts) = chain_of(300);
    let records = std::sync::Arc::new(records);
    let texts = std::sync::Arc::new(texts);
    let collectors: Vec<_> = [7usize, 11]
        .into_iter()
        .map(|step| {
            let (url, records, texts) = (url.clone(), records.clone(), texts.clone());
            std::thread::spawn(move || {
                let mut c = center(&url);
                let mut from = 0;
                while from < records.len() {
                    // Each resends from where the center's head is, in its own batch sizes.
                    let to = (from + step).min(records.len());
                    match c
                        .accept("web-1", &records[from..to], &texts[from..to], at(), "p")
                        .unwrap()
                    {
                        Verdict::Stored { head, .. } | Verdict::Gap { head } => {
                            from = head.seq as usize;
                        }
                        v @ Verdict::Forked { .. } => panic!("{v:?}"),
                    }
                }
            })
        })
        .collect();
    for c in collectors {
        c.join().unwrap();
    }
    let web = host_store(&url, "web-1");
    assert_eq!(seqs(&web), (1..=300).collect::<Vec<_>>());
    let report = web.inspect().unwrap();
    assert!(report.intact() && report.records == 300, "{report:?}");
    assert!(center(&url).forks("web-1").unwrap().is_empty());
}
