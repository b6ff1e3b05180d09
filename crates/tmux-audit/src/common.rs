//! What several subcommands share: where the store is, which server is meant, and reading the
//! log through the store trait.

use anyhow::{bail, Context, Result};
use audit_core::Stored;
use audit_state::StateDir;
use audit_store::{Access, EventStore, Filter, Location};
use audit_tmux::discovery;
use audit_views::hosts;
use clap::builder::{PathBufValueParser, TypedValueParser};
use clap::Args;
use std::ffi::OsStr;
use std::path::PathBuf;

/// Options every subcommand takes.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// The store: an SQLite file, or a fleet's central PostgreSQL store (postgres://…)
    /// [default: $TMUX_AUDIT_DB, else `db` in the config files, else
    /// $XDG_DATA_HOME/tmux-audit/audit.db]
    #[arg(long, global = true, value_name = "PATH|URL", value_parser = LocationArg)]
    pub db: Option<Location>,
    /// The tmux server with this socket name (like `tmux -L`)
    #[arg(
        short = 'L',
        global = true,
        value_name = "NAME",
        conflicts_with = "socket"
    )]
    pub socket_name: Option<String>,
    /// The tmux server with this socket path (like `tmux -S`)
    #[arg(short = 'S', global = true, value_name = "PATH")]
    pub socket: Option<PathBuf>,
    /// Only the records of this host: the name it records under (`host_name`); on a central
    /// store, the name it was enrolled as
    #[arg(long, global = true, value_name = "NAME")]
    pub host: Option<String>,
}

/// `--db` parsed into a location by clap, so that a refused one is a usage error. Written out
/// rather than `try_map`, whose message repeats the value: a URL may hold a password.
#[derive(Clone)]
pub struct LocationArg;

impl TypedValueParser for LocationArg {
    type Value = Location;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &OsStr,
    ) -> Result<Location, clap::Error> {
        // An empty value is refused as every path flag refuses it.
        let path = PathBufValueParser::new().parse_ref(cmd, arg, value)?;
        Location::parse(path).map_err(|e| {
            let name = arg.map_or_else(|| "--db".to_owned(), ToString::to_string);
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("{name}: {e}\n"),
            )
            .with_cmd(cmd)
        })
    }
}

/// The effective user id of this process.
pub fn euid() -> u32 {
    // SAFETY: geteuid cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

/// The real user id of this process.
pub fn uid() -> u32 {
    // SAFETY: getuid cannot fail and touches no memory.
    unsafe { libc::getuid() }
}

impl Global {
    /// The store: flag, environment, user file, system file, default (see [`crate::config`]).
    pub fn location(&self) -> Result<Location> {
        crate::config::view_db(self.db.as_ref())
    }

    /// Where the state of the daemon recording into the store is (its lock, spools, sealing
    /// state, control socket): what views ask about the daemon, without the daemon.
    pub fn state_dir(&self) -> Result<StateDir> {
        Ok(StateDir::of(&self.location()?))
    }

    /// The one server `-L`/`-S` names, if any.
    pub fn server(&self) -> Option<PathBuf> {
        match (&self.socket, &self.socket_name) {
            (Some(p), _) => Some(absolute(p)),
            (None, Some(name)) => Some(discovery::named_socket(uid(), name)),
            (None, None) => None,
        }
    }

    /// Opens the store for reading.
    pub fn open_read(&self) -> Result<Box<dyn EventStore>> {
        Ok(audit_store::open(&self.location()?, Access::ReadOnly)?)
    }

    /// The records views read, one host at a time: a host's own store is one; a central store
    /// is one chain per enrolled host (only `--host`'s, when given); see [`audit_views::hosts`].
    pub fn open_hosts(&self) -> Result<Vec<HostStore>> {
        let location = self.location()?;
        Ok(hosts::open(
            &location,
            self.host.as_deref(),
            Access::ReadOnly,
        )?)
    }

    /// The one host a view of one pane reads (`--host` names it on a central store of many).
    pub fn open_host(&self) -> Result<HostStore> {
        let location = self.location()?;
        Ok(hosts::open_one(
            &location,
            self.host.as_deref(),
            Access::ReadOnly,
        )?)
    }

    /// The records `--host` and `-L`/`-S` admit, as a filter a view narrows further.
    pub fn scope(&self) -> Filter {
        Filter {
            host: self.host.clone(),
            server: self.server().map(|p| p.display().to_string()),
            ..Filter::all()
        }
    }
}

pub use audit_views::hosts::HostStore;

/// `value` as one JSON line, with `"host": HOST` added when it comes from a central store (rows
/// that are records carry the record's own `host` already and are written as they are).
pub fn json_line_of(
    out: &mut impl std::io::Write,
    host: Option<&str>,
    value: &impl serde::Serialize,
) -> Result<()> {
    let Some(host) = host else {
        return Ok(crate::render::json_line(out, value)?);
    };
    let mut value = serde_json::to_value(value)?;
    if let Some(map) = value.as_object_mut() {
        map.insert("host".into(), host.into());
    }
    crate::render::json_line(out, &value)?;
    Ok(())
}

/// `path` made absolute against the current folder (event `server` fields are absolute).
pub fn absolute(path: &std::path::Path) -> PathBuf {
    if path.is_absolute() {
        return path.to_path_buf();
    }
    std::env::current_dir()
        .map(|d| d.join(path))
        .unwrap_or_else(|_| path.to_path_buf())
}

/// The stored events `filter` admits, on the server `-L`/`-S` names (an error if the store has
/// never seen it, unless the filter ends before now: it may not have existed yet).
pub fn events(global: &Global, store: &dyn EventStore, mut filter: Filter) -> Result<Vec<Stored>> {
    let scope = global.scope();
    filter.server = scope.server.or(filter.server);
    filter.host = scope.host.or(filter.host);
    let out = audit_views::log::rows(store, &filter, 0, None)?.rows;
    if out.is_empty() && filter.until.is_none() {
        known_server(global, store)?;
    }
    Ok(out)
}

/// An error if `-L`/`-S` names a server the store holds no event of (check it before a view
/// that reads up to now finds nothing).
pub fn known_server(global: &Global, store: &dyn EventStore) -> Result<()> {
    let Some(server) = global.server().map(|p| p.display().to_string()) else {
        return Ok(());
    };
    let mut any = false;
    store.events(&Filter::all().on_server(&server), &mut |_| {
        any = true;
        false
    })?;
    if !any {
        bail!("unknown server {server}: the store has no events for it (check -L/-S, or list servers with `tmux-audit log`)");
    }
    Ok(())
}

/// Stops a server (`tmux-audit collector`, `tmux-audit web`) at the first SIGTERM or SIGINT.
pub fn stop_on_signals(stopper: audit_web::Stopper) -> Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGINT,
    ])
    .context("cannot watch for SIGTERM")?;
    std::thread::spawn(move || {
        if signals.forever().next().is_some() {
            stopper.stop();
        }
    });
    Ok(())
}
