//! A fleet: several hosts (each its own tmux server, daemon, store and token) shipping to a
//! collector into one real PostgreSQL; every view of the central store against the same view
//! of each host's own store.

use crate::support::fleet::*;
use crate::support::*;
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

/// Records up to `seq`, in order (views of a live store may have grown since a comparison
/// point).
fn upto(rows: Vec<Value>, last: u64) -> Vec<Value> {
    rows.into_iter()
        .filter(|v| v["seq"].as_u64().is_some_and(|s| s <= last))
        .collect()
}

/// A session's summary without what grows with the clock while it is open.
fn settled(mut rows: Vec<Value>) -> Vec<Value> {
    for v in &mut rows {
        if v["closed"].is_null() {
            v.as_object_mut().unwrap().remove("attached_seconds");
        }
    }
    rows
}

fn local_json(db: &Path, args: &[&str]) -> Vec<Value> {
    cli_json(db, args)
}

#[test]
fn two_hosts_ship_to_one_collector_and_every_central_view_agrees_with_the_hosts_own() {
    let url = central_db();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tokens = [enroll(d, &url, "web-1"), enroll(d, &url, "web-2")];
    let collector = CollectorProc::start(d, &url, 0);
    // The same session name on both: the center keeps them apart by host.
    let hosts: Vec<Host> = ["web-1", "web-2"]
        .iter()
        .zip(&tokens)
        .map(|(name, token)| Host::start(name, "prod", collector.addr, token))
        .collect();
    let mut clients = Vec::new();
    for h in &hosts {
        let id = h.server.first_session_id().to_owned();
        h.server
            .wait_piped(&format!("{id}:0.0"), h.daemon.as_ref().unwrap());
        h.server.tmux(&[
            "send-keys",
            "-t",
            &id,
            &format!("echo marker-of-{} DROP TABLE users", h.name),
            "Enter",
        ]);
        clients.push(h.server.attach(&id));
    }
    // What the hosts printed is committed (a search asks each daemon to commit it), then shipped.
    for h in &hosts {
        let hits = wait_for(
            "the marker in the host's own search",
            TIMEOUT,
            || {
                let hits = local_json(
                    &h.db(),
                    &["search", &format!("marker-of-{}", h.name), "--json"],
                );
                (hits.iter().filter(|v| v["hit"] == "output").count() >= 1).then_some(hits)
            },
            || h.daemon.as_ref().unwrap().stderr(),
        );
        assert!(!hits.is_empty());
    }
    let shipped: Vec<u64> = hosts.iter().map(|h| h.wait_shipped(&url)).collect();
    for (h, &last) in hosts.iter().zip(&shipped) {
        let on = |args: &[&str]| {
            let mut all = vec!["--host", h.name.as_str()];
            all.extend(args);
            central_json(d, &url, &all)
        };
        for view in [&["log", "--json"][..], &["commands", "--json"][..]] {
            let local = upto(local_json(&h.db(), view), last);
            let central = upto(on(view), last);
            assert!(!local.is_empty(), "{view:?}");
            assert_eq!(central, local, "{}: {view:?}", h.name);
        }
        // Folds of a live host: equal once both have seen the same records.
        let agree = |view: &[&str], prepare: fn(Vec<Value>) -> Vec<Value>| {
            let mut last = (Vec::new(), Vec::new());
            let same = poll(TIMEOUT, || {
                let local = prepare(local_json(&h.db(), view));
                let central = prepare(without_host(on(view)));
                let same = local == central && !local.is_empty();
                last = (local, central);
                same.then_some(())
            });
            assert!(
                same.is_some(),
                "{}: {view:?}\nlocal:   {:?}\ncentral: {:?}",
                h.name,
                last.0,
                last.1
            );
        };
        agree(&["who", "--json"], |rows| rows);
        agree(&["sessions", "--json"], settled);
        // The central rows name the enrolled host.
        let who = on(&["who", "--json"]);
        assert!(who.iter().all(|v| v["host"] == h.name.as_str()), "{who:?}");
        // Search finds the same line, and its replay command names the host.
        let pattern = format!("marker-of-{}", h.name);
        let output_hits = |rows: Vec<Value>| -> Vec<Value> {
            rows.into_iter()
                .filter(|v| v["hit"] == "output")
                .map(|mut v| {
                    v.as_object_mut().unwrap().remove("replay");
                    v
                })
                .collect()
        };
        let central = on(&["search", &pattern, "--json"]);
        let replay = central[0]["replay"].as_str().unwrap().to_owned();
        assert!(replay.contains(&format!("--host {}", h.name)), "{replay}");
        let hits = output_hits(without_host(central));
        assert!(
            hits.iter()
                .any(|v| v["line"].as_str().unwrap().starts_with(&pattern)),
            "{hits:?}"
        );
        let local = output_hits(local_json(&h.db(), &["search", &pattern, "--json"]));
        assert_eq!(hits, local, "{}: search", h.name);
        // The other host's marker is not in this host's records.
        let other = if h.name == "web-1" {
            "marker-of-web-2"
        } else {
            "marker-of-web-1"
        };
        assert!(on(&["search", other, "--json"])
            .iter()
            .all(|v| v["hit"] != "output"));
        // The pane exports byte for byte as it does on the host.
        let pane = h.server.display(h.server.first_session_id(), "#{pane_id}");
        let local = cli(&h.db(), &["export", &pane, "--format", "asciicast"]);
        let central = cli_in(
            d,
            &[
                "--db",
                &url,
                "--host",
                &h.name,
                "export",
                &pane,
                "--format",
                "asciicast",
            ],
        );
        assert!(
            local.status.success() && central.status.success(),
            "{}",
            String::from_utf8_lossy(&central.stderr)
        );
        assert_eq!(central.stdout, local.stdout, "{}: export", h.name);
    }
    // Across the fleet: both hosts' sessions, each named by its host.
    let sessions = central_json(d, &url, &["sessions", "--json"]);
    for name in ["web-1", "web-2"] {
        assert!(
            sessions
                .iter()
                .any(|s| s["host"] == name && s["session"] == "prod"),
            "{sessions:?}"
        );
    }
    // verify checks every host's chain; each central view was itself recorded.
    let out = cli_in(d, &["--db", &url, "verify", "--json"]);
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(out.status.success(), "{report}");
    let states: Vec<(&str, &str)> = report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| (h["host"].as_str().unwrap(), h["status"].as_str().unwrap()))
        .collect();
    for name in ["web-1", "web-2", "@center"] {
        assert!(states.contains(&(name, "intact")), "{states:?}");
    }
    let access = central_json(
        d,
        &url,
        &[
            "--host",
            "@center",
            "log",
            "--kind",
            "audit-access",
            "--json",
        ],
    );
    assert!(
        access
            .iter()
            .any(|e| e["view"] == "export" && e["query"].as_str().is_some()),
        "{access:?}"
    );
    drop(clients);
    drop(collector);
}

/// `verify --against` as numbers: (records of the host's store, records the center holds).
fn shipped_so_far(h: &Host, url: &str) -> (u64, u64) {
    let out = cli(
        &h.db(),
        &["verify", "--against", url, "--host", &h.name, "--json"],
    );
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(v["status"], "intact", "{v}");
    (
        v["local_records"].as_u64().unwrap(),
        v["center_records"].as_u64().unwrap(),
    )
}

/// Waits until the host's store records its `n`th `sink-failed`.
fn wait_outages(h: &Host, n: usize) {
    wait_log(&h.db(), &format!("sink-failed number {n}"), |log| {
        log.iter().filter(|e| kind(e) == "sink-failed").count() >= n
    });
}

/// The last seq of the host's own store.
fn local_head(h: &Host) -> u64 {
    use audit_store::Reader;
    let store = audit_store::SqliteStore::open(&h.db(), audit_store::Access::ReadOnly).unwrap();
    store.head().unwrap().map_or(0, |s| s.seq)
}

#[test]
fn collector_killed_postgres_restarted_and_daemon_killed_lose_nothing_and_store_nothing_twice() {
    let mut pg = audit_testpg::TestPostgres::start().unwrap_or_else(|e| panic!("{e}"));
    let url = pg
        .create_database("fleet")
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let token = enroll(d, &url, "web-1");
    let mut collector = CollectorProc::start(d, &url, 0);
    let port = collector.addr.port();
    let mut h = Host::start("web-1", "work", collector.addr, &token);
    let id = h.server.first_session_id().to_owned();
    // The host never stops recording meanwhile: a pane that prints and runs a program 20
    // times a second.
    h.server.tmux(&[
        "send-keys",
        "-t",
        &id,
        "i=0; while :; do echo tick $i; i=$((i+1)); sleep 0.05; done",
        "Enter",
    ]);
    let grows = |what: &str, h: &Host, pick: fn((u64, u64)) -> u64, beyond: u64| {
        wait_for(
            what,
            Duration::from_secs(30),
            || {
                let now = shipped_so_far(h, &url);
                (pick(now) > beyond).then_some(now)
            },
            || h.daemon.as_ref().map(|d| d.stderr()).unwrap_or_default(),
        )
    };
    let local = |n: (u64, u64)| n.0;
    let center = |n: (u64, u64)| n.1;
    let (_, first) = grows("the first records to reach the center", &h, center, 0);

    // The collector killed mid-stream: the host buffers, then resumes from the acknowledgement.
    collector.kill9();
    let (down, _) = shipped_so_far(&h, &url);
    grows(
        "the host to record on while the collector is down",
        &h,
        local,
        down + 20,
    );
    wait_outages(&h, 1);
    collector = CollectorProc::start(d, &url, port);
    let (_, resumed) = grows("the center to catch up", &h, center, down);
    assert!(resumed > first);

    // PostgreSQL stopped and started under the collector.
    let (down, _) = shipped_so_far(&h, &url);
    pg.stop().unwrap_or_else(|e| panic!("{e}"));
    wait_for(
        "the host to record on while PostgreSQL is down",
        Duration::from_secs(30),
        || (local_head(&h) > down + 20).then_some(()),
        || h.daemon.as_ref().map(|d| d.stderr()).unwrap_or_default(),
    );
    pg.start_again().unwrap_or_else(|e| panic!("{e}"));
    grows("the center to catch up after PostgreSQL", &h, center, down);

    // The host's daemon SIGKILLed and started again: its sink resumes from the center's head.
    h.daemon.as_mut().unwrap().kill9();
    h.start_daemon("work");
    h.server.tmux(&["send-keys", "-t", &id, "C-c", ""]);
    let all = h.wait_shipped(&url);
    let central = upto(
        central_json(d, &url, &["--host", "web-1", "log", "--json"]),
        all,
    );
    let seqs: Vec<u64> = central.iter().map(|v| v["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=all).collect::<Vec<_>>(),
        "every record once, in order"
    );
    assert_eq!(central, upto(local_json(&h.db(), &["log", "--json"]), all));
    // Each outage is one sink-failed / sink-recovered pair (one that comes within a minute of
    // the last report is reported only if it outlasts that minute: the PostgreSQL one here).
    let outages: Vec<&str> = central
        .iter()
        .filter(|e| matches!(kind(e), "sink-failed" | "sink-recovered"))
        .map(kind)
        .collect();
    assert!(!outages.is_empty(), "{outages:?}\n{}", collector.stderr());
    for pair in outages.chunks(2) {
        assert_eq!(pair, ["sink-failed", "sink-recovered"], "{outages:?}");
    }
    let out = cli_in(d, &["--db", &url, "verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// The center's `chain-fork` alerts (none while the center has recorded nothing).
fn center_alerts(d: &Path, url: &str) -> Vec<Value> {
    let out = cli_in(
        d,
        &[
            "--db",
            url,
            "--host",
            "@center",
            "log",
            "--kind",
            "chain-fork",
            "--json",
        ],
    );
    if !out.status.success() {
        return Vec::new();
    }
    parse_json_lines(&out.stdout).unwrap()
}

#[test]
fn a_host_rewritten_after_shipping_is_a_chain_fork_and_the_center_keeps_what_it_shipped() {
    let url = central_db();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let token = enroll(d, &url, "web-1");
    let collector = CollectorProc::start(d, &url, 0);
    let mut h = Host::start("web-1", "work", collector.addr, &token);
    h.wait_shipped(&url);
    // Root on the host stops the daemon and rewrites its history — the chain re-linked, so
    // the host's own verify is none the wiser.
    h.daemon.as_mut().unwrap().stop();
    let before = central_json(d, &url, &["--host", "web-1", "log", "--json"]);
    let shipped = before.len() as u64;
    let forger = crate::support::sealed::forger(&h.db());
    crate::support::sealed::rechain_from(&forger, 2, |seq, _, e| {
        if seq == 2 {
            e.message = Some("nothing happened here".into());
        }
    });
    drop(forger);
    let out = cli(&h.db(), &["verify"]);
    assert!(
        out.status.success(),
        "the local chain holds again: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The daemon comes back and ships on: the center refuses what does not link.
    h.start_daemon("work");
    let fork = wait_for(
        "the center's chain-fork alert",
        TIMEOUT,
        || center_alerts(d, &url).into_iter().next(),
        || collector.stderr(),
    );
    assert_eq!(fork["host"], "web-1", "{fork}");
    assert_eq!(fork["severity"], "alert", "{fork}");
    assert!(
        fork["message"]
            .as_str()
            .unwrap()
            .contains(&format!("seq {}", shipped + 1)),
        "{fork}"
    );
    // What the center held stands, byte for byte, and nothing after it was taken.
    let after = central_json(d, &url, &["--host", "web-1", "log", "--json"]);
    assert_eq!(after, before);
    let out = cli_in(d, &["--db", &url, "verify", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let web1 = report["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|h| h["host"] == "web-1")
        .unwrap()
        .clone();
    assert_eq!(web1["status"], "forked", "{web1}");
    assert_eq!(web1["forks"][0]["seq"], shipped + 1, "{web1}");
    // The host itself is told it diverged, against the center.
    let out = cli(
        &h.db(),
        &["verify", "--against", &url, "--host", "web-1", "--json"],
    );
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["fork_seq"], 2, "{v}");
    // However often the host retries, the fork is one alert.
    std::thread::sleep(Duration::from_secs(2));
    let forks = center_alerts(d, &url);
    assert_eq!(forks.len(), 1, "{forks:?}");
}

#[test]
fn a_token_writes_only_its_own_hosts_chain_and_a_revoked_one_nothing() {
    let url = central_db();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let t1 = enroll(d, &url, "web-1");
    let collector = CollectorProc::start(d, &url, 0);
    let a = Host::start("web-1", "work", collector.addr, &t1);
    let shipped = a.wait_shipped(&url);
    // Another machine given web-1's token ships its own chain: none of it links to web-1's.
    let mut b = Host::start("web-2", "work", collector.addr, &t1);
    wait_for(
        "the stolen token's records to be refused",
        TIMEOUT,
        || center_alerts(d, &url).into_iter().next(),
        || collector.stderr(),
    );
    assert!(central_json(d, &url, &["--host", "web-1", "log", "--json"])
        .iter()
        .all(|e| e["host"] == "web-1"));
    let hosts = central_json(d, &url, &["collector", "hosts", "--json"]);
    assert_eq!(
        hosts.len(),
        1,
        "no host was made from what a client said: {hosts:?}"
    );
    b.daemon.as_mut().unwrap().stop();
    // A revoked token is refused outright: web-1 ships nothing more, and says so.
    let out = cli_in(d, &["--db", &url, "collector", "revoke", "web-1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    a.server.tmux(&["new-session", "-d", "-s", "after-revoke"]);
    wait_log(&a.db(), "sink-failed after the revocation", |log| {
        log.iter().any(|e| kind(e) == "sink-failed")
    });
    let held = central_json(d, &url, &["--host", "web-1", "log", "--json"]);
    assert!(held.iter().all(|e| e["session"] != "after-revoke"));
    assert!(held.len() as u64 >= shipped);
    let hosts = central_json(d, &url, &["collector", "hosts", "--json"]);
    assert!(hosts[0]["revoked"].is_string(), "{hosts:?}");
}

#[test]
fn seals_are_shipped_and_checked_at_the_center_with_the_hosts_key() {
    let url = central_db();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let token = enroll(d, &url, "web-1");
    let collector = CollectorProc::start(d, &url, 0);
    let mut h = Host::start("web-1", "work", collector.addr, &token);
    h.daemon.as_mut().unwrap().stop();
    let key = crate::support::sealed::seal_init(&h.db(), "1");
    h.start_daemon("work");
    wait_log(&h.db(), "two seals", |log| {
        log.iter().filter(|e| kind(e) == "seal").count() >= 2
    });
    h.wait_shipped(&url);
    let out = cli_in(
        d,
        &[
            "--db", &url, "--host", "web-1", "verify", "--key", &key, "--json",
        ],
    );
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert!(out.status.success(), "{report}");
    let web1 = &report["hosts"][0];
    assert_eq!(web1["status"], "intact", "{web1}");
    assert!(web1["seals"].as_u64().unwrap() >= 2, "{web1}");
    assert!(web1["last_seal_received"].is_string(), "{web1}");
    // Each host seals under its own key: across several chains (a search puts the center's
    // own record of it beside web-1's), one key is refused.
    central_json(d, &url, &["search", "anything", "--json"]);
    let out = cli_in(d, &["--db", &url, "verify", "--key", &key]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("--host"));
}

/// The sink's outage reports among records.
fn outage_kinds(log: &[Value]) -> Vec<&str> {
    log.iter()
        .filter(|e| matches!(kind(e), "sink-failed" | "sink-recovered"))
        .map(kind)
        .collect()
}

#[test]
fn a_network_cut_over_tls_loses_nothing_stores_nothing_twice_and_is_one_outage() {
    if !is_root() {
        println!("skipped: network namespaces need root");
        return;
    }
    let url = central_db();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The host's daemon lives in a network namespace of its own; the collector listens on the
    // root namespace's end of the link, with TLS (the host trusts its certificate only).
    let net = Netns::create();
    let (cert, key) = self_signed(d, "collector", net.host_ip.into());
    let token = enroll(d, &url, "edge-1");
    let collector = CollectorProc::start_on(
        d,
        &url,
        (net.host_ip, 0).into(),
        &[
            "--tls-cert".as_ref(),
            cert.as_os_str(),
            "--tls-key".as_ref(),
            key.as_os_str(),
        ],
    );
    let ca = cert.display().to_string();
    let mut h = Host::configured(
        "edge-1",
        "work",
        &format!("https://{}", collector.addr),
        &token,
        |_| format!("ca_file = {ca:?}\n"),
    );
    // The kernel's process events reach only the initial network namespace (a daemon
    // elsewhere records no commands, and says so): this one is told not to record them.
    h.daemon_via = net.exec();
    h.daemon_args = vec!["--no-commands".into()];
    h.start_daemon("work");
    let daemon_stderr = || h.daemon.as_ref().unwrap().stderr();
    let id = h.server.first_session_id().to_owned();
    h.server
        .wait_piped(&format!("{id}:0.0"), h.daemon.as_ref().unwrap());
    h.server
        .tmux(&["send-keys", "-t", &id, "echo before-the-cut", "Enter"]);
    let shipped = h.wait_shipped(&url);

    net.cut();
    let t0 = std::time::Instant::now();
    // The host records on: a session, a window, output in a pane.
    let s2 = h.server.new_session("during-cut");
    h.server.new_window(&s2, "offline");
    h.server
        .tmux(&["send-keys", "-t", &id, "echo printed-while-cut", "Enter"]);
    wait_for(
        "the host to record the output while cut",
        TIMEOUT,
        || {
            let hits = cli_json(&h.db(), &["search", "printed-while-cut", "--json"]);
            hits.iter()
                .any(|v| v["hit"] == "output" && v["line"] == "printed-while-cut")
                .then_some(())
        },
        daemon_stderr,
    );
    let local = local_head(&h);
    assert!(local > shipped, "{local} > {shipped}");
    // Nothing reaches the center while cut (a batch sent just before the cut may still land:
    // the center's count is read once the host has recorded, then must not move). The cut
    // lasts past the collector's 10 s keep-alive timeout, so the connection the host's sink
    // was using is gone on the collector's side when the link comes back.
    let (_, held) = shipped_so_far(&h, &url);
    assert!(held < local, "{held} < {local}");
    let cut_for = Duration::from_secs(12);
    let moved = poll(cut_for.saturating_sub(t0.elapsed()), || {
        let (_, center) = shipped_so_far(&h, &url);
        (center != held).then_some(center)
    });
    assert_eq!(moved, None, "the center advanced while cut");
    assert!(local_head(&h) >= local);
    net.restore();
    // The recovery is itself a record, shipped after what it reports on.
    wait_log(&h.db(), "sink-recovered after the cut", |log| {
        log.iter()
            .any(|e| seq(e) as u64 > shipped && kind(e) == "sink-recovered")
    });
    let all = h.wait_shipped(&url);
    let central = upto(
        central_json(d, &url, &["--host", "edge-1", "log", "--json"]),
        all,
    );
    let seqs: Vec<u64> = central.iter().map(|v| v["seq"].as_u64().unwrap()).collect();
    assert_eq!(
        seqs,
        (1..=all).collect::<Vec<_>>(),
        "every record once, in order"
    );
    assert_eq!(central, upto(log_json(&h.db()), all));
    // What was recorded while cut is at the center.
    let sessions: Vec<&Value> = central
        .iter()
        .filter(|e| kind(e) == "session-created")
        .collect();
    assert!(
        sessions.iter().any(|e| e["session"] == "during-cut"),
        "{sessions:?}"
    );
    let hits = central_json(
        d,
        &url,
        &["--host", "edge-1", "search", "printed-while-cut", "--json"],
    );
    assert!(
        hits.iter().any(|v| v["line"] == "printed-while-cut"),
        "{hits:?}"
    );
    // The outage is one sink-failed / sink-recovered pair, after the cut. (While the link is
    // down the sink's request on its pooled connection just waits — up to the client's 60 s
    // timeout — so today the failure is seen, and recorded, only when the link returns and the
    // collector resets the connection it timed out: `from` is then the restore, not the cut.)
    let after_cut: Vec<&Value> = central
        .iter()
        .filter(|e| seq(e) as u64 > shipped)
        .filter(|e| matches!(kind(e), "sink-failed" | "sink-recovered"))
        .collect();
    assert_eq!(
        after_cut.iter().map(|e| kind(e)).collect::<Vec<_>>(),
        ["sink-failed", "sink-recovered"],
        "{after_cut:?}"
    );
    assert_eq!(outage_kinds(&central), ["sink-failed", "sink-recovered"]);
    drop(collector);
}

#[test]
fn plaintext_to_an_address_other_machines_reach_is_refused_unless_allowed() {
    let url = central_db();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let refused = |listen: &str| {
        let out = cli_in(d, &["--db", &url, "collector", "--listen", listen]);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(out.status.code(), Some(2), "{listen}: {stderr}");
        assert!(
            stderr.contains(&format!("refusing plaintext HTTP on {listen}"))
                && stderr.contains("--tls-cert")
                && stderr.contains("--allow-plaintext"),
            "{stderr}"
        );
    };
    refused("0.0.0.0:0");
    refused("[::]:0");
    if !is_root() {
        println!("skipped the rest: a network namespace needs root");
        return;
    }
    let net = Netns::create();
    refused(&format!("{}:0", net.host_ip));
    // Behind a TLS-terminating proxy: allowed when said so, on both ends.
    let token = enroll(d, &url, "edge-1");
    let collector = CollectorProc::start_on(
        d,
        &url,
        (net.host_ip, 0).into(),
        &["--allow-plaintext".as_ref()],
    );
    let plain = format!("http://{}", collector.addr);
    let mut h = Host::configured("edge-1", "work", &plain, &token, |_| String::new());
    h.daemon_via = net.exec();
    h.daemon_args = vec!["--no-commands".into()];
    // A host's daemon refuses to start with such a url, saying why, and sends nothing.
    h.spawn_daemon();
    let status = h.daemon.as_mut().unwrap().wait_exit();
    let stderr = h.daemon.as_ref().unwrap().stderr();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("http:// sends the token and records unencrypted")
            && stderr.contains("allow_plaintext"),
        "{stderr}"
    );
    assert!(!stderr.contains(token.as_str()), "{stderr}");
    let mut h = Host::configured("edge-1", "work", &plain, &token, |_| {
        "allow_plaintext = true\n".into()
    });
    h.daemon_via = net.exec();
    h.daemon_args = vec!["--no-commands".into()];
    h.start_daemon("work");
    h.wait_shipped(&url);
}

#[test]
fn a_host_that_does_not_trust_the_collectors_certificate_sends_nothing_and_says_why() {
    let url = central_db();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let loopback = std::net::IpAddr::from([127, 0, 0, 1]);
    let (cert, key) = self_signed(d, "collector", loopback);
    // Another certificate for the same address, from nobody the collector knows.
    let (other, _) = self_signed(d, "impostor", loopback);
    let collector = CollectorProc::start_on(
        d,
        &url,
        (loopback, 0).into(),
        &[
            "--tls-cert".as_ref(),
            cert.as_os_str(),
            "--tls-key".as_ref(),
            key.as_os_str(),
        ],
    );
    let https = format!("https://{}", collector.addr);
    let trusting = |ca: &Path| {
        let ca = ca.display().to_string();
        move |_: &Path| format!("ca_file = {ca:?}\n")
    };
    let hosts = [
        // No ca_file: the bundled roots, which do not know a self-signed certificate.
        Host::configured("no-ca", "work", &https, &enroll(d, &url, "no-ca"), |_| {
            String::new()
        }),
        Host::configured(
            "wrong-ca",
            "work",
            &https,
            &enroll(d, &url, "wrong-ca"),
            trusting(&other),
        ),
        Host::configured(
            "right-ca",
            "work",
            &https,
            &enroll(d, &url, "right-ca"),
            trusting(&cert),
        ),
    ];
    let mut hosts = hosts;
    for h in &mut hosts {
        h.start_daemon("work");
    }
    hosts[2].wait_shipped(&url);
    for h in &hosts[..2] {
        let log = wait_log(&h.db(), "the sink's outage", |log| {
            log.iter().any(|e| kind(e) == "sink-failed")
        });
        let failed = log.iter().find(|e| kind(e) == "sink-failed").unwrap();
        let message = field(failed, "message").unwrap_or_default().to_lowercase();
        assert!(
            message.contains("invalid peer certificate"),
            "{}: {failed}",
            h.name
        );
        let (local, center) = shipped_so_far(h, &url);
        assert!(local > 0 && center == 0, "{}: {local} {center}", h.name);
    }
    // The collector saw handshakes fail, never a request: no token reached it.
    let states = central_json(d, &url, &["collector", "hosts", "--json"]);
    for s in &states {
        let shipped = s["records"].as_u64().unwrap_or(0) > 0;
        assert_eq!(shipped, s["host"] == "right-ca", "{states:?}");
    }
}
