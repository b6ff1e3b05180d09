//! `tmux-audit config`: check the config and policy files, show the settings in force.

use crate::common::Global;
use crate::config::{self, Flags, Mode};
use anyhow::Result;
use audit_policy::Policy;
use std::path::PathBuf;
use std::process::ExitCode;

/// Check the config and policy files, or show the settings in force and where each came from
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Precedence, for every setting: built-in defaults < system file (/etc/tmux-audit/config.toml)
< user file (~/.config/tmux-audit/config.toml) < environment (TMUX_AUDIT_DB, TMUX_AUDIT_POLICY,
TMUX_AUDIT_TMUX, TMUX_AUDIT_CONFIG) < flags. `daemon --system` reads only the system file.

Examples:
  tmux-audit config check                         the files in force, and their policy
  tmux-audit config check ./config.toml --policy ./policy.toml
  tmux-audit config show --system")]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    /// Validate config and policy files: each error with its file, line and column (exit 1)
    Check {
        /// This config file instead of the ones in force
        config: Option<PathBuf>,
        /// This policy file instead of the one the config names
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// The files `daemon --system` reads
        #[arg(long)]
        system: bool,
    },
    /// Print each setting in force and where it came from
    Show {
        /// As `daemon --system` sees them
        #[arg(long)]
        system: bool,
    },
}

pub fn run(global: &Global, args: Args) -> Result<ExitCode> {
    match args.action {
        Action::Check {
            config,
            policy,
            system,
        } => Ok(check(config, policy, mode(system))),
        Action::Show { system } => show(
            mode(system),
            &Flags {
                db: global.db.clone(),
                ..Flags::default()
            },
        ),
    }
}

fn mode(system: bool) -> Mode {
    if system {
        Mode::System
    } else {
        Mode::User
    }
}

fn check(file: Option<PathBuf>, policy: Option<PathBuf>, mode: Mode) -> ExitCode {
    let mut bad = false;
    let files = match &file {
        Some(f) => vec![(f.clone(), true)],
        None => config::files_for(mode, &Flags::default()),
    };
    let mut named_policy = None;
    for (path, required) in files {
        match config::read(&path, required) {
            Ok(Some(settings)) => {
                let sinks = settings.sink.as_ref().map_or(0, Vec::len);
                println!("{}: ok ({sinks} sinks)", path.display());
                named_policy = settings.policy.or(named_policy);
            }
            Ok(None) => println!("{}: not present", path.display()),
            Err(e) => {
                println!("{e}");
                bad = true;
            }
        }
    }
    let policy = policy
        .or(named_policy)
        .or_else(|| std::env::var_os("TMUX_AUDIT_POLICY").map(PathBuf::from))
        .or_else(|| Some(config::default_policy()).filter(|p| p.exists() || file.is_none()));
    if let Some(path) = policy {
        if !path.exists() && path == config::default_policy() {
            println!("{}: not present (no policy)", path.display());
        } else {
            match Policy::load(&path) {
                Ok(loaded) => {
                    println!(
                        "{}: ok ({} rules)",
                        path.display(),
                        loaded.policy.rules().len()
                    );
                    for w in &loaded.warnings {
                        println!("{w}");
                    }
                }
                Err(e) => {
                    println!("{e}");
                    bad = true;
                }
            }
        }
    }
    if bad {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn show(mode: Mode, flags: &Flags) -> Result<ExitCode> {
    let s = config::resolve(mode, flags)?;
    let files: Vec<String> = s.files.iter().map(|f| f.display().to_string()).collect();
    println!(
        "files read:  {}",
        if files.is_empty() {
            "none".into()
        } else {
            files.join(", ")
        }
    );
    let row = |name: &str, value: String, source: &config::Source| {
        println!("{name:<12} {value}  ({source})");
    };
    row("db", s.db.value.to_string(), &s.db.source);
    row(
        "policy",
        s.policy
            .value
            .as_ref()
            .map_or("none".into(), |p| p.display().to_string()),
        &s.policy.source,
    );
    row("host_name", s.host_name.value.clone(), &s.host_name.source);
    row("tmux", s.tmux.value.display().to_string(), &s.tmux.source);
    row("output", s.output.value.to_string(), &s.output.source);
    row("commands", s.commands.value.to_string(), &s.commands.source);
    row(
        "flush_after",
        s.flush_after.value.to_string(),
        &s.flush_after.source,
    );
    if mode == Mode::System {
        let dirs: Vec<String> = s
            .socket_dirs
            .value
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        row("socket_dirs", dirs.join(", "), &s.socket_dirs.source);
    }
    let sinks: Vec<String> = s.sinks.value.iter().map(|k| k.name.clone()).collect();
    row(
        "sinks",
        if sinks.is_empty() {
            "none".into()
        } else {
            sinks.join(", ")
        },
        &s.sinks.source,
    );
    for sink in &s.sinks.value {
        println!("  {}: {}", sink.name, sink_lag(&s.db.value, &sink.name));
    }
    Ok(ExitCode::SUCCESS)
}

/// How far behind the store's head the sink `name` is, from its cursor in the store (for a
/// collector, the seq the collector acknowledged): records and seconds.
fn sink_lag(db: &audit_store::Location, name: &str) -> String {
    let store = match audit_store::open(db, audit_store::Access::ReadOnly) {
        Ok(store) => store,
        Err(e) => return format!("lag unknown ({e})"),
    };
    let lag = || -> Result<String, audit_store::StoreError> {
        let head = store.head()?.map_or(0, |h| h.seq);
        let Some(cursor) = store.sink_cursor(name)? else {
            return Ok(format!("nothing delivered yet; {head} records to send"));
        };
        let behind = head.saturating_sub(cursor);
        if behind == 0 {
            return Ok(format!("up to date (seq {cursor})"));
        }
        let mut oldest = None;
        store.events_after(cursor, 1, &mut |s| {
            oldest = Some(s.event.time);
            false
        })?;
        let seconds = oldest.map_or(0, |t| {
            (audit_core::Timestamp::now().as_micros() - t.as_micros()).max(0) / 1_000_000
        });
        Ok(format!(
            "delivered up to seq {cursor}; {behind} records ({seconds} s) behind"
        ))
    };
    lag().unwrap_or_else(|e| format!("lag unknown ({e})"))
}
