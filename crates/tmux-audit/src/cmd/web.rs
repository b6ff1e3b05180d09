//! `tmux-audit web`: the auditors' web UI over the store (`audit_web`).

use crate::common::Global;
use anyhow::{Context, Result};
use audit_core::seal::VerificationKey;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Serve the auditors' web UI: sessions, timelines, replay, search, live panes, integrity
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Auditors log in with their system password (checked by Linux-PAM, service --pam-service) and
must be members of --auditors-group. Every login attempt, and every replay, export, search and
live view through the web UI, is recorded in the audit log as an audit-access event naming the
auditor and their address; a view that cannot be recorded is refused. Plain HTTP is served only
on a loopback address unless --allow-plaintext; give --tls-cert and --tls-key otherwise. With a
central store (--db postgres://…) it shows every enrolled host. Logs go to stderr; SIGTERM or
SIGINT stop it.

Examples:
  tmux-audit web                                    http://127.0.0.1:7681, this host's store
  tmux-audit web --listen 0.0.0.0:7681 --tls-cert /etc/tmux-audit/web.pem \\
      --tls-key /etc/tmux-audit/web.key --db postgres://audit@db/audit
  ssh -L 7681:127.0.0.1:7681 audit-host            then open http://127.0.0.1:7681")]
pub struct Args {
    /// Listen on this address and port
    #[arg(long, value_name = "ADDR:PORT", default_value_t = SocketAddr::from(([127, 0, 0, 1], audit_web::DEFAULT_PORT)))]
    listen: SocketAddr,
    /// The TLS certificate chain (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Its private key (PEM)
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP on an address that is not loopback (behind a TLS-terminating proxy)
    #[arg(long)]
    allow_plaintext: bool,
    /// Only members of this group may log in
    #[arg(long, value_name = "GROUP", default_value = "tmux-audit")]
    auditors_group: String,
    /// The PAM service passwords are checked with (/etc/pam.d/SERVICE; Linux-PAM falls back
    /// to /etc/pam.d/other when it does not exist)
    #[arg(long, value_name = "SERVICE", default_value = "tmux-audit")]
    pam_service: String,
    /// The verification key `seal init` printed: the integrity page then checks the seals
    #[arg(long, value_name = "KEY")]
    key: Option<String>,
}

pub fn run(global: &Global, args: Args) -> Result<ExitCode> {
    super::daemon::init_logging();
    let location = global.location()?;
    let key = (args.key.as_deref())
        .map(VerificationKey::from_text)
        .transpose()
        .context("--key")?;
    let mut config = audit_web::Config::new(location.clone(), crate::config::view_host_name());
    config.listen = args.listen;
    config.tls = match (args.tls_cert, args.tls_key) {
        (Some(cert), Some(key)) => Some(audit_web::TlsFiles { cert, key }),
        _ => None,
    };
    config.allow_plaintext = args.allow_plaintext;
    config.auditors_group = args.auditors_group;
    config.pam_service = args.pam_service;
    config.key = key;
    let tls = config.tls.is_some();
    let web = audit_web::serve(config).context("web")?;
    crate::common::stop_on_signals(web.stopper())?;
    let scheme = if tls { "https" } else { "http" };
    eprintln!(
        "tmux-audit: web UI on {scheme}://{} showing {location}",
        web.local_addr()
    );
    web.wait();
    tracing::info!("web UI stopped");
    Ok(ExitCode::SUCCESS)
}
