//! `tmux-audit pane-pipe`: what tmux's `pipe-pane` runs to capture a pane's output.

use crate::common::Global;
use anyhow::{Context, Result};
use audit_core::Timestamp;
use std::fs::{File, OpenOptions};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::ExitCode;

/// Copy a pane's output from standard input into a spool file (run by tmux's pipe-pane)
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Reads standard input until it closes and appends it, timestamped, to a new spool file (mode
0600); it never makes tmux wait. If the file cannot be written (disk full) it keeps reading,
counts what it could not keep and records the loss once writing works again.

Example:
  tmux pipe-pane -O -t %3 'exec tmux-audit pane-pipe --spool /var/tmp/pane-3.spool'")]
pub struct Args {
    /// The spool file to create
    #[arg(long, value_name = "PATH")]
    spool: PathBuf,
}

pub fn run(_global: &Global, args: Args) -> Result<ExitCode> {
    let spool = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&args.spool)
        .with_context(|| format!("cannot create spool {}", args.spool.display()))?;
    let stdin: OwnedFd = std::io::stdin()
        .as_fd()
        .try_clone_to_owned()
        .context("standard input")?;
    let summary =
        audit_capture::copier::copy(File::from(stdin), spool, || Timestamp::now().as_micros())
            .with_context(|| format!("reading the pane into {}", args.spool.display()))?;
    if summary.bytes_lost > 0 {
        eprintln!(
            "tmux-audit pane-pipe: {} of {} bytes could not be kept in {}",
            summary.bytes_lost,
            summary.bytes_in,
            args.spool.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}
