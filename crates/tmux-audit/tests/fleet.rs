//! A fleet: several hosts (each its own tmux server, daemon, store and token) shipping to a
//! collector into one real PostgreSQL; every view of the central store against the same view
//! of each host's own store.

use crate::support::fleet::*;
use crate::support::*;
use serde_json::Value;
use std::path::Path;

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
                (hits.iter().filter(|v| v["hit"].is_null()).count() >= 1).then_some(hits)
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
                .filter(|v| v["hit"].is_null())
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
            .all(|v| !v["hit"].is_null()));
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
