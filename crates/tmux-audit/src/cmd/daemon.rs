//! `tmux-audit daemon`: record until stopped.

use crate::common::{self, Global};
use crate::config::{self, Flags, Mode};
use anyhow::{bail, Context, Result};
use audit_policy::Policy;
use audit_tmux::discovery::{self, Scope};
use audit_tmux::{snapshot, watcher};
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};

/// Record tmux servers into the store until SIGTERM or SIGINT
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Without -L or -S it records every tmux server of the invoking user: the sockets in
$TMUX_TMPDIR/tmux-UID/ (else /tmp/tmux-UID/), including servers started later and servers
that exit and come back. With --system (root) it records every user's servers: each trusted
tmux-UID folder in /tmp (socket_dirs in the config), into /var/lib/tmux-audit/audit.db. It runs
in the foreground; logs go to stderr (TMUX_AUDIT_LOG=debug for more). SIGTERM or SIGINT stop it
cleanly: everything is committed and audit-stopped recorded. SIGHUP reads the policy file again
(a broken one is refused, the one in force stays).

Settings: built-in defaults < system file (/etc/tmux-audit/config.toml) < user file
(~/.config/tmux-audit/config.toml) < environment < flags; `tmux-audit config show` prints them.

Examples:
  tmux-audit daemon                          every server of this user
  tmux-audit daemon -L work                  only the server `tmux -L work` uses
  tmux-audit daemon -S /tmp/pair.sock --db /var/tmp/pair-audit.db
  tmux-audit daemon --system                 every user's servers (root; see docs/HOST-MODE.md)
  tmux-audit daemon --policy ./policy.toml --config ./config.toml")]
pub struct Args {
    /// Record every user's tmux servers on this host (root)
    #[arg(long, conflicts_with_all = ["socket", "socket_name"])]
    system: bool,

    /// The config file (replaces the user file; with --system the system file)
    #[arg(long, env = "TMUX_AUDIT_CONFIG", value_name = "FILE")]
    config: Option<PathBuf>,

    /// The policy to enforce [default: /etc/tmux-audit/policy.toml if it exists]
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,

    /// The tmux program to talk to servers with [default: tmux]
    #[arg(long, value_name = "PATH")]
    tmux: Option<PathBuf>,

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
    /// (and can be replayed or searched) [default: 30]
    #[arg(long, value_name = "SECONDS")]
    flush_after: Option<f64>,

    /// The name this host records under, in every event and at a central collector [default:
    /// `host_name` in the config, else the system's host name]
    #[arg(long, value_name = "NAME", value_parser = parse_host_name)]
    host_name: Option<String>,
}

fn parse_host_name(text: &str) -> Result<String, String> {
    config::check_host_name(text).map(|()| text.to_owned())
}

pub fn run(global: &Global, args: Args) -> Result<ExitCode> {
    init_logging();
    let mode = if args.system {
        Mode::System
    } else {
        Mode::User
    };
    if args.system && common::euid() != 0 {
        bail!("--system records every user's tmux servers and needs root");
    }
    let settings = config::resolve(
        mode,
        &Flags {
            config: args.config.clone(),
            db: global.db.clone(),
            policy: args.policy.clone(),
            tmux: args.tmux.clone(),
            no_output: args.no_output,
            no_commands: args.no_commands,
            flush_after: args.flush_after,
            host_name: args.host_name.clone(),
        },
    )?;
    let db = settings.db.value.clone();
    let Some(db_file) = db.path().map(PathBuf::from) else {
        bail!(
            "cannot record into {db}: the daemon records into a local SQLite store; ship to a central store with a [[sink]] of type collector"
        );
    };
    let scope = match (args.system, global.server()) {
        (true, _) => Scope::System(settings.socket_dirs.value.clone()),
        (false, Some(socket)) => {
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
        (false, None) => Scope::Folder(discovery::default_folder(common::uid())),
    };
    // The policy is read whole before anything starts: a broken one stops the daemon here.
    let policy = match &settings.policy.value {
        Some(path) => {
            let loaded = Policy::load(path)
                .map_err(|e| anyhow::anyhow!("{e}"))
                .with_context(|| format!("policy (from {})", settings.policy.source))?;
            for w in &loaded.warnings {
                tracing::warn!("{w}");
            }
            Some((path.clone(), loaded.policy))
        }
        None => None,
    };
    let tmux = settings.tmux.value.clone();
    let version = Command::new(&tmux)
        .arg("-V")
        .stderr(Stdio::null())
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let Some(version) = version else {
        bail!(
            "cannot run {} -V: install tmux 3.2 or later, or pass --tmux PATH",
            tmux.display()
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
    let capture = if settings.output.value {
        let exe = std::env::current_exe().context("cannot find the tmux-audit program itself (needed to record pane output; pass --no-output to record access only)")?;
        Some(audit_daemon::Capture {
            exe,
            flush_after: std::time::Duration::from_secs_f64(settings.flush_after.value),
        })
    } else {
        None
    };
    if args.system {
        prepare_system_store(&db_file)?;
    }
    let config = audit_daemon::Config {
        db,
        scope,
        tmux,
        host: settings.host_name.value.clone(),
        capture,
        commands: settings.commands.value,
        commands_by_scan: args.commands_by_scan,
        policy,
        sinks: settings.sinks.value,
    };
    audit_daemon::run(config).context("daemon")?;
    Ok(ExitCode::SUCCESS)
}

/// The system store's folder: root's, passable (0711) so each user's copier reaches its own
/// spool folder beneath, but not listable; the store itself stays 0600.
fn prepare_system_store(db: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    if let Some(dir) = db.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o711))
            .with_context(|| format!("cannot set the mode of {}", dir.display()))?;
    }
    Ok(())
}

pub(crate) fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("TMUX_AUDIT_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
