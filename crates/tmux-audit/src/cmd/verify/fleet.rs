//! `verify --db postgres://…`: every host's central chain, and each host's state.
//!
//! The center accepted each record only if it linked, so a chain that fails here was edited in
//! the database itself. A host whose later shipments did not link is named too (its refused
//! batches are kept as evidence): its own store was rewritten after shipping, while the
//! center's copy of what it shipped first stands.

use crate::common::Global;
use crate::render;
use anyhow::Result;
use audit_core::chain;
use audit_core::seal::{self, VerificationKey};
use audit_store::{Access, HostState, Location, PgLocation, PgStore};
use audit_views::verify::{events, finding_json, seal_line, seal_problem_json, Verdict};
use serde_json::{json, Value};
use std::process::ExitCode;

/// Findings printed per host at most.
const SHOWN: usize = 50;

/// Checks every host's chain (only `--host`'s, when given) in the central store at `center`.
pub fn run(
    global: &Global,
    center: &PgLocation,
    key: Option<&VerificationKey>,
    json: bool,
) -> Result<ExitCode> {
    let hosts = global.open_hosts()?;
    if key.is_some() && hosts.len() != 1 {
        anyhow::bail!("--key checks one host's seals (each host seals under its own key): name the host with --host");
    }
    let states = PgStore::open(center, Access::ReadOnly)?.host_states()?;
    let state_of = |name: &str| states.iter().find(|s| s.name == name);
    let mut any_bad = false;
    let mut rows: Vec<Value> = Vec::new();
    for host in &hosts {
        let name = host.host.as_deref().unwrap_or_default();
        let report = host.store.inspect()?;
        let seals = key.map(|k| seal::check(&report.seals, report.records, k));
        let verdict = Verdict::of(&report, seals.as_ref(), false);
        let state = state_of(name);
        let forks = match state {
            Some(s) if s.forks > 0 => PgStore::open(center, Access::ReadOnly)?.forks(name)?,
            _ => Vec::new(),
        };
        // When the center first held the last seal: a history re-sealed after the fact shows
        // as sealed late.
        let seal_received = match report.seals.last() {
            Some(last) => {
                PgStore::open(&scoped(center, name), Access::ReadOnly)?.received(last.seq)?
            }
            None => None,
        };
        let bad = verdict == Verdict::Tampered || !forks.is_empty();
        any_bad |= bad;
        let mut findings: Vec<String> = report.findings.iter().map(|f| f.to_string()).collect();
        if let Some(s) = &seals {
            findings.extend(s.problems.iter().map(|p| seal_line(p, &report)));
        }
        if json {
            let mut found: Vec<Value> = report.findings.iter().map(finding_json).collect();
            if let Some(s) = &seals {
                found.extend(s.problems.iter().map(seal_problem_json));
            }
            found.truncate(SHOWN);
            rows.push(json!({
                "host": name,
                "status": if !forks.is_empty() && verdict != Verdict::Tampered { "forked" } else { verdict.word() },
                "events": report.records,
                "last_seq": report.last_seq,
                "head": chain::to_hex(&report.head),
                "seals": report.seals.len(),
                "last_seal_received": seal_received.map(|t| t.to_string()),
                "enrolled": state.map(|s| s.enrolled.to_string()),
                "revoked": state.and_then(|s| s.revoked).map(|t| t.to_string()),
                "last_received": state.and_then(|s| s.last_received).map(|t| t.to_string()),
                "findings": found,
                "forks": forks.iter().map(|f| json!({
                    "received": f.received.to_string(),
                    "seq": f.seq,
                    "why": f.why,
                    "digest": f.digest,
                })).collect::<Vec<_>>(),
            }));
            continue;
        }
        let headline = if !forks.is_empty() && verdict != Verdict::Tampered {
            "FORKED"
        } else {
            verdict.headline()
        };
        println!(
            "{}: {headline}: {} in its central chain, head {}{}{}",
            render::escape(name),
            events(report.records),
            &chain::to_hex(&report.head)[..16],
            state_note(state),
            match report.seals.len() {
                0 => "; no seals".to_owned(),
                n => format!(
                    "; {n} seals, the last at seq {}{}",
                    report.seals[n - 1].seq,
                    seal_received
                        .map(|t| format!(", received {}", render::time(t)))
                        .unwrap_or_default()
                ),
            }
        );
        for line in findings.iter().take(SHOWN) {
            println!("  {line}");
        }
        if findings.len() > SHOWN {
            println!(
                "  … and {} more (--host {name} with a local copy, or --json)",
                findings.len() - SHOWN
            );
        }
        for f in &forks {
            println!(
                "  refused at {}: a batch from seq {} that does not link ({}); kept as evidence {}",
                render::time(f.received),
                f.seq,
                render::escape(&f.why),
                &f.digest[..16.min(f.digest.len())]
            );
        }
    }
    // Hosts enrolled that have shipped nothing yet are a state worth naming too.
    let waiting: Vec<&HostState> = states
        .iter()
        .filter(|s| s.name != audit_store::central::CENTER)
        .filter(|s| global.host.as_ref().is_none_or(|h| h == &s.name))
        .filter(|s| {
            !hosts
                .iter()
                .any(|h| h.host.as_deref() == Some(s.name.as_str()))
        })
        .collect();
    if json {
        for s in &waiting {
            rows.push(json!({"host": s.name, "status": "empty", "events": 0,
                "enrolled": s.enrolled.to_string(),
                "revoked": s.revoked.map(|t| t.to_string())}));
        }
        render::json_line(
            &mut std::io::stdout().lock(),
            &json!({
                "status": if any_bad { "tampered" } else { "intact" },
                "store": Location::Postgres(center.clone()).to_string(),
                "hosts": rows,
            }),
        )?;
    } else {
        for s in &waiting {
            println!(
                "{}: enrolled {}{}, nothing received yet",
                render::escape(&s.name),
                render::time(s.enrolled),
                s.revoked
                    .map(|t| format!(", revoked {}", render::time(t)))
                    .unwrap_or_default()
            );
        }
    }
    Ok(if any_bad {
        eprintln!("tmux-audit: verify: a host's central record was tampered with or its host forked (see above)");
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `center` scoped to `host`'s chain.
fn scoped(center: &PgLocation, host: &str) -> PgLocation {
    match Location::Postgres(center.clone()).on_host(host) {
        Location::Postgres(pg) => pg,
        Location::Sqlite(_) => center.clone(),
    }
}

/// `, last received …` and `, revoked …` from what the center knows of the host.
fn state_note(state: Option<&HostState>) -> String {
    let Some(s) = state else {
        return String::new();
    };
    let mut note = String::new();
    if let Some(t) = s.last_received {
        note.push_str(&format!(", last received {}", render::time(t)));
    }
    if let Some(t) = s.revoked {
        note.push_str(&format!(", token revoked {}", render::time(t)));
    }
    note
}
