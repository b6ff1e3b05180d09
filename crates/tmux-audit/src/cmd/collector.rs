//! `tmux-audit collector`: the fleet's central receiver, and the hosts it accepts.

use crate::common::Global;
use crate::render::{self, Table};
use anyhow::{bail, Context, Result};
use audit_store::{Access, Location, PgLocation, PgStore};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Receive every enrolled host's record into the fleet's central PostgreSQL store
#[derive(clap::Args, Debug)]
#[command(
    args_conflicts_with_subcommands = true,
    after_help = "\
Each host's daemon ships its records (events, output, seals), in chain order, to a collector
(a [[sink]] of type \"collector\" in its config). The collector files them under the name the
host's token was enrolled as, and only if each record links to that host's record before it: a
record that does not (a host rewritten after shipping, a replayed or forged batch) is refused,
kept aside as evidence and recorded as a chain-fork alert. It acknowledges what it committed;
a host resumes from the acknowledgement after any fault. Several collectors may serve one
database. Plain HTTP is served only on a loopback address unless --allow-plaintext; give
--tls-cert and --tls-key otherwise. Logs go to stderr; SIGTERM or SIGINT stop it.

Examples:
  tmux-audit collector enroll web-1 --db postgres://audit@db/audit   prints web-1's token once
  tmux-audit collector --listen 0.0.0.0:7700 --db postgres://audit@db/audit \\
      --tls-cert /etc/tmux-audit/collector.pem --tls-key /etc/tmux-audit/collector.key
  tmux-audit collector hosts --db postgres://audit@db/audit
  tmux-audit collector revoke web-1 --db postgres://audit@db/audit"
)]
pub struct Args {
    #[command(subcommand)]
    action: Option<Action>,
    /// Listen on this address and port for hosts' records
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// The collector's TLS certificate chain (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Its private key (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP on an address that is not loopback (behind a TLS-terminating proxy)
    #[arg(long)]
    allow_plaintext: bool,
    /// Keep this long (an age such as 400d): months of records entirely older are dropped,
    /// at start and hourly, after each host's chain is checkpointed at the cut so that verify
    /// still proves what remains [default: keep everything]
    #[arg(long, value_name = "AGE", value_parser = parse_retention)]
    retention: Option<String>,
}

/// An age (`400d`, `13w`, `2160h`), checked now and read again at each pass.
fn parse_retention(text: &str) -> Result<String, String> {
    if !text.trim().starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!("retention {text:?}: give an age such as 400d"));
    }
    crate::timearg::arg(text).map_err(|e| e.to_string())?;
    Ok(text.to_owned())
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// Enroll a host under NAME: prints its token once (the store keeps only its hash)
    Enroll {
        /// The host's name in the central store (letters, digits, `.`, `_`, `-`)
        name: String,
    },
    /// Revoke a host's token: the collector refuses it from now on (its records stay)
    Revoke {
        /// The enrolled name
        name: String,
    },
    /// List the enrolled hosts: when enrolled, revoked, last received, records held, forks
    Hosts {
        /// One JSON object per host
        #[arg(long)]
        json: bool,
    },
}

pub fn run(global: &Global, args: Args) -> Result<ExitCode> {
    let center = central_location(global)?;
    match args.action {
        Some(Action::Enroll { name }) => {
            let token = PgStore::open(&center, Access::Create)?.enroll(&name)?;
            println!("{token}");
            eprintln!(
                "tmux-audit: enrolled host {}: the token above is shown once; put it in the host's token_file (owner-only, mode 0600)",
                render::escape(&name)
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(Action::Revoke { name }) => {
            PgStore::open(&center, Access::Create)?.revoke(&name)?;
            eprintln!(
                "tmux-audit: revoked host {}: its token is refused from now on; its records stay",
                render::escape(&name)
            );
            Ok(ExitCode::SUCCESS)
        }
        Some(Action::Hosts { json }) => hosts(&center, json),
        None => {
            let Some(listen) = args.listen else {
                bail!("say where to listen (--listen ADDR:PORT), or enroll, revoke or list hosts (tmux-audit collector --help)");
            };
            let tls = match (args.tls_cert, args.tls_key) {
                (Some(cert), Some(key)) => Some(audit_collector::TlsFiles { cert, key }),
                _ => None,
            };
            if let Some(age) = args.retention {
                retain_hourly(center.clone(), age);
            }
            serve(&center, listen, tls, args.allow_plaintext)
        }
    }
}

/// The central store `--db` names (the collector has no other kind).
fn central_location(global: &Global) -> Result<PgLocation> {
    match global.location()? {
        Location::Postgres(pg) => Ok(pg),
        other => bail!(
            "the collector files hosts' records into a central PostgreSQL store, not {other}: pass --db postgres://USER@HOST/DB (or set TMUX_AUDIT_DB)"
        ),
    }
}

fn hosts(center: &PgLocation, json: bool) -> Result<ExitCode> {
    let mut states = PgStore::open(center, Access::ReadOnly)?.host_states()?;
    // The center's own chain (its alerts, its readers' access) is no enrolled host.
    states.retain(|s| s.name != audit_store::central::CENTER);
    let mut out = std::io::stdout().lock();
    if json {
        for s in &states {
            render::json_line(
                &mut out,
                &serde_json::json!({
                    "host": s.name,
                    "enrolled": s.enrolled.to_string(),
                    "revoked": s.revoked.map(|t| t.to_string()),
                    "records": s.head_seq,
                    "last_received": s.last_received.map(|t| t.to_string()),
                    "forks": s.forks,
                }),
            )?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    let mut table = Table::new(&[
        "HOST",
        "ENROLLED",
        "RECORDS",
        "LAST RECEIVED",
        "FORKS",
        "TOKEN",
    ]);
    for s in &states {
        table.row(vec![
            render::escape(&s.name),
            render::time(s.enrolled),
            s.head_seq.to_string(),
            s.last_received.map_or("never".into(), render::time),
            s.forks.to_string(),
            s.revoked
                .map_or("valid".into(), |t| format!("revoked {}", render::time(t))),
        ]);
    }
    if table.is_empty() {
        println!("no hosts enrolled (tmux-audit collector enroll NAME)");
    } else {
        table.print(&mut out)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Drops what is older than `age`, now and every hour, on a thread of its own (several
/// collectors may do it at once: the store serialises the passes).
fn retain_hourly(center: PgLocation, age: String) {
    std::thread::spawn(move || loop {
        let pass = || -> Result<audit_store::Retained> {
            let cut = crate::timearg::arg(&age)?;
            Ok(PgStore::open(&center, Access::Create)?.retain_before(cut)?)
        };
        match pass() {
            Ok(r) if !r.partitions.is_empty() => tracing::info!(
                "retention {age}: dropped {} ({} host checkpoints moved)",
                r.partitions.join(", "),
                r.checkpoints
            ),
            Ok(_) => tracing::debug!("retention {age}: nothing old enough to drop"),
            Err(e) => tracing::warn!("retention {age}: {e:#}"),
        }
        std::thread::sleep(std::time::Duration::from_secs(3600));
    });
}

/// Serves until SIGTERM or SIGINT.
fn serve(
    center: &PgLocation,
    listen: SocketAddr,
    tls: Option<audit_collector::TlsFiles>,
    allow_plaintext: bool,
) -> Result<ExitCode> {
    super::daemon::init_logging();
    // The schema is made (or checked) once, before any host is answered.
    drop(PgStore::open(center, Access::Create)?);
    let mut config = audit_collector::Config::new(listen, tls);
    config.allow_plaintext = allow_plaintext;
    let open = {
        let center = center.clone();
        move || -> Result<Box<dyn audit_store::central::Intake>, audit_store::StoreError> {
            Ok(Box::new(PgStore::open(&center, Access::Create)?))
        }
    };
    let collector = audit_collector::serve(config, open).context("collector")?;
    crate::common::stop_on_signals(collector.stopper())?;
    tracing::info!(
        "collector listening on {} into {}",
        collector.local_addr(),
        Location::Postgres(center.clone())
    );
    collector.wait();
    tracing::info!("collector stopped");
    Ok(ExitCode::SUCCESS)
}
