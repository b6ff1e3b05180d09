//! `tmux-audit pane-pipe`: what tmux's `pipe-pane` runs to capture a pane's output.

use crate::common::Global;
use anyhow::{bail, Context, Result};
use audit_core::Timestamp;
use std::fs::{File, OpenOptions};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// Copy a pane's output from standard input into a spool file (run by tmux's pipe-pane)
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Reads standard input until it closes and appends it, timestamped, to a new spool file (mode
0600); it never makes tmux wait. If the file cannot be written (disk full) it keeps reading,
counts what it could not keep and records the loss once writing works again.

With --spool-dir and --pane (what the daemon's after-new-window, after-split-window and
after-new-session hooks run, with tmux filling in #{pane_id}) it names the spool itself,
DIR/N-MICROSECONDS.tas, a name no other spool has.

Examples:
  tmux pipe-pane -O -t %3 'exec tmux-audit pane-pipe --spool /var/tmp/pane-3.spool'
  tmux pipe-pane -O -t %3 'exec tmux-audit pane-pipe --spool-dir /var/tmp/spools --pane %3'")]
pub struct Args {
    /// The spool file to create
    #[arg(long, value_name = "PATH", required_unless_present = "spool_dir")]
    spool: Option<PathBuf>,
    /// The folder to create the spool in, named after the pane and the time
    #[arg(long, value_name = "DIR", requires = "pane", conflicts_with = "spool")]
    spool_dir: Option<PathBuf>,
    /// The pane (`%N`) whose output this is, with --spool-dir
    #[arg(long, value_name = "%N", requires = "spool_dir")]
    pane: Option<String>,
}

pub fn run(_global: &Global, args: Args) -> Result<ExitCode> {
    let (path, spool) = match (&args.spool, &args.spool_dir, &args.pane) {
        (Some(path), _, _) => (path.clone(), create(path)?),
        (None, Some(dir), Some(pane)) => create_named(dir, pane)?,
        _ => bail!("give --spool FILE, or --spool-dir DIR with --pane %N"),
    };
    let stdin: OwnedFd = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .context("standard input")?;
    let summary =
        audit_capture::copier::copy(File::from(stdin), spool, || Timestamp::now().as_micros())
            .with_context(|| format!("reading the pane into {}", path.display()))?;
    if summary.bytes_lost > 0 {
        eprintln!(
            "tmux-audit pane-pipe: {} of {} bytes could not be kept in {}",
            summary.bytes_lost,
            summary.bytes_in,
            path.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// A new spool file, never an existing one (nor a link planted in its place).
fn create(path: &Path) -> Result<File> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("cannot create spool {}", path.display()))
}

/// `DIR/N-MICROS.tas` for pane `%N`, the time moved on by a microsecond while a spool of that
/// name exists. The name is made of digits only, whatever `pane` holds.
fn create_named(dir: &Path, pane: &str) -> Result<(PathBuf, File)> {
    let number = pane
        .strip_prefix('%')
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .with_context(|| format!("--pane must be a pane id such as %3, not {pane:?}"))?;
    let mut micros = Timestamp::now().as_micros();
    for _ in 0..1000 {
        let path = dir.join(audit_capture::spool::file_name(number, micros));
        match create(&path) {
            Ok(file) => return Ok((path, file)),
            Err(e)
                if e.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::AlreadyExists) =>
            {
                micros += 1;
            }
            Err(e) => return Err(e),
        }
    }
    bail!(
        "cannot find a free spool name for pane {pane} in {}",
        dir.display()
    )
}
