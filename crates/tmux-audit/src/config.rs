//! Settings and where each comes from. One rule, for every setting:
//!
//! ```text
//! built-in defaults  <  system file  <  user file  <  environment  <  flags
//! ```
//!
//! The system file is `/etc/tmux-audit/config.toml` (`TMUX_AUDIT_SYSTEM_CONFIG` moves it, for
//! packaging and tests); the user file `$XDG_CONFIG_HOME/tmux-audit/config.toml` (else
//! `~/.config/…`); the policy, unless named, `policy.toml` beside the system file. `daemon --system` reads only the system file: a host-wide recorder takes no
//! orders from root's personal settings. `--config FILE` (or `TMUX_AUDIT_CONFIG`) stands in for
//! the mode's own file — the user file, or the system file with `--system`. A list (`sink`,
//! `socket_dirs`) from a later layer replaces the earlier one whole, so what a file says is what
//! is used. A file is read whole or refused with the line and the reason; nothing is half-applied.

use anyhow::{anyhow, Context, Result};
use audit_forward::SinkSpec;
use audit_store::Location;
use serde::{Deserialize, Deserializer};
use std::fmt;
use std::path::{Path, PathBuf};

/// The system-wide file.
pub const SYSTEM_FILE: &str = "/etc/tmux-audit/config.toml";
/// The policy file used when none is named, if it exists: `policy.toml` beside the system file.
pub fn default_policy() -> PathBuf {
    system_file().with_file_name("policy.toml")
}
/// The store of `daemon --system` when none is named.
pub const SYSTEM_DB: &str = "/var/lib/tmux-audit/audit.db";

/// What one file may say.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSettings {
    /// The store: a file path (a `postgres://` URL is refused here, with the line).
    #[serde(default, deserialize_with = "location")]
    pub db: Option<Location>,
    /// The policy file.
    pub policy: Option<PathBuf>,
    /// The tmux program.
    pub tmux: Option<PathBuf>,
    /// Record pane output.
    pub output: Option<bool>,
    /// Record programs run in panes.
    pub commands: Option<bool>,
    /// Seconds output may wait in its spool.
    pub flush_after: Option<f64>,
    /// Where `daemon --system` looks for users' `tmux-UID` folders.
    pub socket_dirs: Option<Vec<PathBuf>>,
    /// Where events are forwarded.
    pub sink: Option<Vec<SinkSpec>>,
    /// The name this host records under (default: the system's host name).
    #[serde(default, deserialize_with = "host_name")]
    pub host_name: Option<String>,
    /// `tmux-audit web`'s settings (`[web]`).
    pub web: Option<WebFile>,
}

/// The `[web]` table: `tmux-audit web`'s defaults, each overridden by its flag.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebFile {
    /// `--listen`.
    pub listen: Option<std::net::SocketAddr>,
    /// `--auditors-group`.
    pub auditors_group: Option<String>,
    /// `--pam-service`.
    pub pam_service: Option<String>,
    /// `--tls-cert`.
    pub tls_cert: Option<PathBuf>,
    /// `--tls-key`.
    pub tls_key: Option<PathBuf>,
    /// `--allow-plaintext`.
    pub allow_plaintext: Option<bool>,
}

impl WebFile {
    /// `self` with what `later` says on top.
    fn overlay(self, later: WebFile) -> WebFile {
        WebFile {
            listen: later.listen.or(self.listen),
            auditors_group: later.auditors_group.or(self.auditors_group),
            pam_service: later.pam_service.or(self.pam_service),
            tls_cert: later.tls_cert.or(self.tls_cert),
            tls_key: later.tls_key.or(self.tls_key),
            allow_plaintext: later.allow_plaintext.or(self.allow_plaintext),
        }
    }
}

/// Where a setting's value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// Built in.
    Default,
    /// A file (the system or user file, or `--config`).
    File(PathBuf),
    /// An environment variable.
    Env(&'static str),
    /// A command-line flag.
    Flag(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => f.write_str("default"),
            Source::File(p) => write!(f, "{}", p.display()),
            Source::Env(v) => write!(f, "${v}"),
            Source::Flag(n) => write!(f, "--{n}"),
        }
    }
}

/// A value and where it came from.
#[derive(Clone, Debug)]
pub struct Sourced<T> {
    /// The value.
    pub value: T,
    /// Its layer.
    pub source: Source,
}

impl<T> Sourced<T> {
    fn new(value: T, source: Source) -> Self {
        Sourced { value, source }
    }

    /// Takes `value` from `source` when that layer says one.
    fn set(&mut self, value: Option<T>, source: &Source) {
        if let Some(value) = value {
            *self = Sourced::new(value, source.clone());
        }
    }
}

/// Which recorder the settings are for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// One user's servers (and every view).
    User,
    /// Every user's servers (`daemon --system`, root).
    System,
}

/// What the command line says (flags only; `None` when not given).
#[derive(Debug, Default, Clone)]
pub struct Flags {
    /// `--config`.
    pub config: Option<PathBuf>,
    /// `--db`.
    pub db: Option<Location>,
    /// `--policy`.
    pub policy: Option<PathBuf>,
    /// `--tmux`.
    pub tmux: Option<PathBuf>,
    /// `--no-output`.
    pub no_output: bool,
    /// `--no-commands`.
    pub no_commands: bool,
    /// `--flush-after`.
    pub flush_after: Option<f64>,
    /// `--host-name`.
    pub host_name: Option<String>,
}

/// The settings in force.
#[derive(Debug)]
pub struct Settings {
    /// The files read, in order.
    pub files: Vec<PathBuf>,
    /// The store.
    pub db: Sourced<Location>,
    /// The policy file; `None` when there is none to enforce.
    pub policy: Sourced<Option<PathBuf>>,
    /// The tmux program.
    pub tmux: Sourced<PathBuf>,
    /// Record pane output.
    pub output: Sourced<bool>,
    /// Record programs run in panes.
    pub commands: Sourced<bool>,
    /// Seconds output may wait in its spool.
    pub flush_after: Sourced<f64>,
    /// Folders holding users' `tmux-UID` folders (system mode).
    pub socket_dirs: Sourced<Vec<PathBuf>>,
    /// Sinks.
    pub sinks: Sourced<Vec<SinkSpec>>,
    /// The name the daemon records as the `host` of its events.
    pub host_name: Sourced<String>,
    /// `[web]`, every file's merged (later files win, key by key).
    pub web: WebFile,
}

/// A file that could not be used, with the line and the reason.
#[derive(Debug)]
pub struct FileError {
    /// `FILE:LINE:COL: reason` (or `FILE: reason` when it could not be read).
    pub message: String,
}

impl fmt::Display for FileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for FileError {}

/// `db = "…"`: parsed into a location where it is read, so a refused one names its line.
fn location<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Location>, D::Error> {
    let text = String::deserialize(d)?;
    Location::parse(text)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

/// `host_name = "…"`: checked where it is read, so a refused one names its line.
fn host_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(d)?;
    check_host_name(&text)
        .map(|()| Some(text))
        .map_err(serde::de::Error::custom)
}

/// A host name as records carry it: 1 to 253 printable characters, no spaces or controls (it
/// is printed in every view and sent to every sink).
pub fn check_host_name(name: &str) -> Result<(), String> {
    let printable = name
        .chars()
        .all(|c| c.is_ascii_graphic() || (!c.is_ascii() && !c.is_control()));
    if name.is_empty() || name.len() > 253 || !printable {
        return Err(format!(
            "host name {name:?} is not usable: give 1 to 253 characters, without spaces or control characters"
        ));
    }
    Ok(())
}

/// The system's host name (`gethostname`), else `unknown`.
pub fn system_host_name() -> String {
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

/// Parses one config file's text; errors name `file`, the line and the column.
pub fn parse(text: &str, file: &Path) -> Result<FileSettings, FileError> {
    toml::from_str(text).map_err(|e| {
        let (line, col) = e
            .span()
            .map(|s| audit_policy::line_col(text, s.start))
            .unwrap_or((1, 1));
        FileError {
            message: format!(
                "{}:{line}:{col}: {}",
                file.display(),
                e.message().trim_end()
            ),
        }
    })
}

/// Reads and parses `path`; `Ok(None)` when it does not exist and `required` is false.
pub fn read(path: &Path, required: bool) -> Result<Option<FileSettings>, FileError> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text, path).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => Ok(None),
        Err(e) => Err(FileError {
            message: format!("{}: cannot read: {e}", path.display()),
        }),
    }
}

/// The system file's path.
pub fn system_file() -> PathBuf {
    std::env::var_os("TMUX_AUDIT_SYSTEM_CONFIG")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(SYSTEM_FILE))
}

/// The user file's path, when a home can be found.
pub fn user_file() -> Option<PathBuf> {
    std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|d| d.join("tmux-audit").join("config.toml"))
}

/// The files `mode` reads, in order, each with whether it must exist.
pub fn files_for(mode: Mode, flags: &Flags) -> Vec<(PathBuf, bool)> {
    let named = flags
        .config
        .clone()
        .or_else(|| env_path("TMUX_AUDIT_CONFIG"));
    match (mode, named) {
        (Mode::System, Some(f)) => vec![(f, true)],
        (Mode::System, None) => vec![(system_file(), false)],
        (Mode::User, Some(f)) => vec![(system_file(), false), (f, true)],
        (Mode::User, None) => {
            let mut files = vec![(system_file(), false)];
            files.extend(user_file().map(|f| (f, false)));
            files
        }
    }
}

fn env_path(name: &str) -> Option<PathBuf> {
    std::env::var_os(name)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Resolves every setting for `mode` from the layers.
pub fn resolve(mode: Mode, flags: &Flags) -> Result<Settings> {
    let mut layers = Vec::new();
    let mut files = Vec::new();
    for (path, required) in files_for(mode, flags) {
        if let Some(settings) = read(&path, required)? {
            files.push(path.clone());
            layers.push((Source::File(path), settings));
        }
    }
    let mut s = Settings {
        files,
        db: resolve_db(mode, &layers, flags)?,
        policy: Sourced::new(
            Some(default_policy()).filter(|p| p.exists()),
            Source::Default,
        ),
        tmux: Sourced::new(PathBuf::from("tmux"), Source::Default),
        output: Sourced::new(true, Source::Default),
        commands: Sourced::new(true, Source::Default),
        flush_after: Sourced::new(30.0, Source::Default),
        socket_dirs: Sourced::new(vec![PathBuf::from("/tmp")], Source::Default),
        sinks: Sourced::new(Vec::new(), Source::Default),
        host_name: Sourced::new(system_host_name(), Source::Default),
        web: WebFile::default(),
    };
    // Each layer overrides what it says, in precedence order.
    for (source, f) in layers {
        s.policy.set(f.policy.map(Some), &source);
        s.tmux.set(f.tmux, &source);
        s.output.set(f.output, &source);
        s.commands.set(f.commands, &source);
        s.flush_after.set(f.flush_after, &source);
        s.socket_dirs.set(f.socket_dirs, &source);
        s.sinks.set(f.sink, &source);
        s.host_name.set(f.host_name, &source);
        if let Some(web) = f.web {
            s.web = std::mem::take(&mut s.web).overlay(web);
        }
    }
    let env = |name| (env_path(name), Source::Env(name));
    let (policy, from) = env("TMUX_AUDIT_POLICY");
    s.policy.set(policy.map(Some), &from);
    let (tmux, from) = env("TMUX_AUDIT_TMUX");
    s.tmux.set(tmux, &from);
    s.policy
        .set(flags.policy.clone().map(Some), &Source::Flag("policy"));
    s.tmux.set(flags.tmux.clone(), &Source::Flag("tmux"));
    s.output
        .set(flags.no_output.then_some(false), &Source::Flag("no-output"));
    s.commands.set(
        flags.no_commands.then_some(false),
        &Source::Flag("no-commands"),
    );
    s.flush_after
        .set(flags.flush_after, &Source::Flag("flush-after"));
    s.host_name
        .set(flags.host_name.clone(), &Source::Flag("host-name"));
    if !(s.flush_after.value > 0.0 && s.flush_after.value <= 3600.0) {
        return Err(anyhow!(
            "flush_after {} (from {}) is out of range: give seconds between 0 and 3600",
            s.flush_after.value,
            s.flush_after.source
        ));
    }
    Ok(s)
}

/// The store's location, by the same layers. Files and flags hold parsed locations already; the
/// environment's is parsed here.
fn resolve_db(
    mode: Mode,
    layers: &[(Source, FileSettings)],
    flags: &Flags,
) -> Result<Sourced<Location>> {
    let default = match mode {
        Mode::System => Some(Location::Sqlite(PathBuf::from(SYSTEM_DB))),
        Mode::User => user_db().map(Location::Sqlite),
    };
    let mut db = Sourced::new(default, Source::Default);
    for (source, f) in layers {
        db.set(f.db.clone().map(Some), source);
    }
    const ENV: &str = "TMUX_AUDIT_DB";
    let from_env = env_path(ENV)
        .map(Location::parse)
        .transpose()
        .with_context(|| format!("${ENV}"))?;
    db.set(from_env.map(Some), &Source::Env(ENV));
    db.set(flags.db.clone().map(Some), &Source::Flag("db"));
    let Sourced { value, source } = db;
    let value = value.ok_or_else(|| {
        anyhow!("cannot find a place for the store: set XDG_DATA_HOME or HOME, or pass --db")
    })?;
    Ok(Sourced::new(value, source))
}

/// `$XDG_DATA_HOME/tmux-audit/audit.db`, else `~/.local/share/…`.
fn user_db() -> Option<PathBuf> {
    env_path("XDG_DATA_HOME")
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .map(|d| d.join("tmux-audit").join("audit.db"))
}

/// The store views read: `--db`, else the layers (user mode).
pub fn view_db(flag: Option<&Location>) -> Result<Location> {
    let flags = Flags {
        db: flag.cloned(),
        ..Flags::default()
    };
    resolve(Mode::User, &flags)
        .map(|s| s.db.value)
        .context("reading settings")
}

/// The name this host records under, as views recording their access use it (user mode's
/// layers; the system's host name when the settings cannot be read).
pub fn view_host_name() -> String {
    resolve(Mode::User, &Flags::default())
        .map(|s| s.host_name.value)
        .unwrap_or_else(|_| system_host_name())
}

/// `tmux-audit web`'s settings from the files (user mode's layers); a file that cannot be read
/// is an error, as for every view.
pub fn view_web() -> Result<WebFile> {
    resolve(Mode::User, &Flags::default())
        .map(|s| s.web)
        .context("reading settings")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_web_table_is_read_overlaid_and_checked() {
        let file = Path::new("config.toml");
        let system = parse(
            "[web]\nauditors_group = \"secops\"\nlisten = \"0.0.0.0:7681\"\n",
            file,
        )
        .unwrap();
        let user = parse("[web]\nauditors_group = \"audit\"\n", file).unwrap();
        let web = system.web.unwrap().overlay(user.web.unwrap());
        assert_eq!(web.auditors_group.as_deref(), Some("audit"));
        assert_eq!(web.listen, Some("0.0.0.0:7681".parse().unwrap()));
        let typo = parse("[web]\nauditor_group = \"x\"\n", file).unwrap_err();
        assert!(typo.to_string().contains("auditor_group"), "{typo}");
        let bad = parse("[web]\nlisten = \"everywhere\"\n", file).unwrap_err();
        assert!(bad.to_string().starts_with("config.toml:2:"), "{bad}");
    }
}
