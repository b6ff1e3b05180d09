//! `tmux-audit web`: the auditors' web UI over the store (`audit_web`).

use crate::common::Global;
use anyhow::{bail, Context, Result};
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
SIGINT stop it. Each option's default can be set in the settings file's [web] table (listen,
auditors_group, pam_service, tls_cert, tls_key, allow_plaintext).

Examples:
  tmux-audit web                                    http://127.0.0.1:7681, this host's store
  tmux-audit web --listen 0.0.0.0:7681 --tls-cert /etc/tmux-audit/web.pem \\
      --tls-key /etc/tmux-audit/web.key --db postgres://audit@db/audit
  ssh -L 7681:127.0.0.1:7681 audit-host            then open http://127.0.0.1:7681")]
pub struct Args {
    /// Listen on this address and port [default: 127.0.0.1:7681; [web] listen]
    #[arg(long, value_name = "ADDR:PORT")]
    listen: Option<SocketAddr>,
    /// The TLS certificate chain (PEM) [[web] tls_cert]
    #[arg(long, value_name = "FILE")]
    tls_cert: Option<PathBuf>,
    /// Its private key (PEM) [[web] tls_key]
    #[arg(long, value_name = "FILE")]
    tls_key: Option<PathBuf>,
    /// Serve plain HTTP on an address that is not loopback (behind a TLS-terminating proxy)
    /// [[web] allow_plaintext]
    #[arg(long)]
    allow_plaintext: bool,
    /// Only members of this group may log in [default: tmux-audit; [web] auditors_group]
    #[arg(long, value_name = "GROUP")]
    auditors_group: Option<String>,
    /// The PAM service passwords are checked with (/etc/pam.d/SERVICE; Linux-PAM falls back
    /// to /etc/pam.d/other when it does not exist) [default: tmux-audit; [web] pam_service]
    #[arg(long, value_name = "SERVICE")]
    pam_service: Option<String>,
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
    let file = crate::config::view_web()?;
    let mut config = audit_web::Config::new(location.clone(), crate::config::view_host_name());
    if let Some(listen) = args.listen.or(file.listen) {
        config.listen = listen;
    }
    config.tls = match (
        args.tls_cert.or(file.tls_cert),
        args.tls_key.or(file.tls_key),
    ) {
        (Some(cert), Some(key)) => Some(audit_web::TlsFiles { cert, key }),
        (None, None) => None,
        _ => bail!(
            "give both --tls-cert and --tls-key (or tls_cert and tls_key in [web]), or neither"
        ),
    };
    config.allow_plaintext = args.allow_plaintext || file.allow_plaintext == Some(true);
    if let Some(group) = args.auditors_group.or(file.auditors_group) {
        config.auditors_group = group;
    }
    if let Some(service) = args.pam_service.or(file.pam_service) {
        config.pam_service = service;
    }
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
