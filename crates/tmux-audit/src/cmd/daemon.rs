//! `tmux-audit daemon`: record until stopped.

use crate::common::{self, Global};
use anyhow::{bail, Context, Result};
use audit_tmux::discovery::{self, Scope};
use audit_tmux::{snapshot, watcher};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

/// Record tmux servers into the store until SIGTERM or SIGINT
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Without -L or -S it records every tmux server of the invoking user: the sockets in
$TMUX_TMPDIR/tmux-UID/ (else /tmp/tmux-UID/), including servers started later and servers
that exit and come back. It runs in the foreground; logs go to stderr (TMUX_AUDIT_LOG=debug for
more). SIGTERM or SIGINT stop it cleanly: everything is committed and audit-stopped recorded.

Examples:
  tmux-audit daemon                          every server of this user
  tmux-audit daemon -L work                  only the server `tmux -L work` uses
  tmux-audit daemon -S /tmp/pair.sock --db /var/tmp/pair-audit.db")]
pub struct Args {
    /// The tmux program to talk to servers with
    #[arg(
        long,
        env = "TMUX_AUDIT_TMUX",
        default_value = "tmux",
        value_name = "PATH"
    )]
    tmux: PathBuf,

    /// Record who accessed what, but not what the panes printed
    #[arg(long)]
    no_output: bool,

    /// Do not record the programs run in panes (from the kernel as root, else by scanning /proc)
    #[arg(long)]
    no_commands: bool,

    /// Find commands by scanning /proc every 200 ms even as root (what a daemon that is not root
    /// does: short programs are missed, exit statuses unknown)
    #[arg(long, conflicts_with = "no_commands")]
    commands_by_scan: bool,

    /// Longest time recorded output waits in its spool before it is committed to the store
    /// (and can be replayed or searched)
    #[arg(long, value_name = "SECONDS", default_value_t = 30.0)]
    flush_after: f64,
}

pub fn run(global: &Global, args: Args) -> Result<ExitCode> {
    init_logging();
    let db = global.db_path()?;
    let scope = match global.server() {
        Some(socket) => {
            let dir = socket.parent().map(PathBuf::from).unwrap_or_default();
            if !dir.is_dir() {
                bail!(
                    "unknown server {}: folder {} does not exist (check -L/-S)",
                    socket.display(),
                    dir.display()
                );
            }
            Scope::Socket(socket)
        }
        None => Scope::Folder(discovery::default_folder(common::uid())),
    };
    let version = Command::new(&args.tmux)
        .arg("-V")
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let Some(version) = version else {
        bail!(
            "cannot run {} -V: install tmux 3.2 or later, or pass --tmux PATH",
            args.tmux.display()
        );
    };
    let number = version
        .split_whitespace()
        .last()
        .and_then(snapshot::version_number);
    if number.is_some_and(|v| v < watcher::MIN_VERSION) {
        bail!(
            "{version} is too old: tmux-audit needs tmux 3.2 or later (control mode without no-output and format subscriptions would slow every pane); upgrade tmux or pass --tmux PATH"
        );
    }
    if !(args.flush_after > 0.0 && args.flush_after <= 3600.0) {
        bail!(
            "--flush-after {} is out of range: give seconds between 0 and 3600",
            args.flush_after
        );
    }
    let capture = if args.no_output {
        None
    } else {
        let exe = std::env::current_exe().context("cannot find the tmux-audit program itself (needed to record pane output; pass --no-output to record access only)")?;
        Some(audit_daemon::Capture {
            exe,
            flush_after: std::time::Duration::from_secs_f64(args.flush_after),
        })
    };
    let config = audit_daemon::Config {
        db,
        scope,
        tmux: args.tmux,
        host: hostname(),
        capture,
        commands: !args.no_commands,
        commands_by_scan: args.commands_by_scan,
    };
    audit_daemon::run(config).context("daemon")?;
    Ok(ExitCode::SUCCESS)
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TMUX_AUDIT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}

fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it or
    // truncates, and we stop at the first NUL.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "unknown".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}
