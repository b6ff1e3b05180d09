//! `tmux-audit seal init`: turn on forward-secure sealing for a store.

use crate::common::Global;
use crate::render;
use anyhow::{bail, Context, Result};
use audit_core::seal::{Schedule, VerificationKey};
use audit_core::Timestamp;
use audit_state::StateDir;
use std::process::ExitCode;

/// Forward-secure seals: proof that the store was not rewritten, checked with a key kept elsewhere
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    action: Action,
}

#[derive(clap::Subcommand, Debug)]
enum Action {
    Init(InitArgs),
}

/// Create the sealing state and print the verification key, once
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Creates DB.seal (owner-only) holding the key of the current sealing epoch, and prints the
verification key once. The daemon then seals the chain every interval and when it stops; each
epoch's key is derived one way from the last and the old one overwritten, so whoever takes the
machine later cannot forge seals for earlier epochs. Keep the verification key off this
machine: `tmux-audit verify --key KEY` checks the seals with it (and anyone holding it could
forge them). A running daemon starts sealing when restarted.

Example:
  tmux-audit seal init --interval 15")]
struct InitArgs {
    /// Seconds between seals (one epoch)
    #[arg(long, value_name = "SECONDS", default_value_t = 15)]
    interval: u64,
}

pub fn run(global: &Global, args: Args) -> Result<ExitCode> {
    match args.action {
        Action::Init(a) => init(global, a),
    }
}

fn init(global: &Global, args: InitArgs) -> Result<ExitCode> {
    let location = global.location()?;
    let state = StateDir::of(&location);
    let path = state.seal_path();
    if path.exists() {
        bail!(
            "sealing is already on for {} ({} exists); its verification key was printed when it was made",
            render::escape(&location.to_string()),
            render::escape(&path.display().to_string())
        );
    }
    if !(1..=86_400).contains(&args.interval) {
        bail!(
            "--interval {} is out of range: give 1 to 86400 seconds",
            args.interval
        );
    }
    let mut seed = [0u8; 32];
    getrandom(&mut seed).context("cannot read random bytes for the sealing key")?;
    let key = VerificationKey::new(
        seed,
        Schedule {
            start: Timestamp::now(),
            interval_us: args.interval * 1_000_000,
        },
    )?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    state.write_sealing_key(&key.sealing_key())?;
    println!(
        "sealing is on for {}: the daemon seals the chain every {} s and when it stops (restart a running daemon).",
        render::escape(&location.to_string()),
        args.interval
    );
    println!("Verification key — shown once, not stored here. Keep it OFF this machine: with it anyone can check, and forge, seals.");
    println!("{}", key.to_text());
    Ok(ExitCode::SUCCESS)
}

fn getrandom(buf: &mut [u8]) -> std::io::Result<()> {
    let mut filled = 0;
    while filled < buf.len() {
        // SAFETY: writes at most `len - filled` bytes into the valid remainder of `buf`.
        let n =
            unsafe { libc::getrandom(buf[filled..].as_mut_ptr().cast(), buf.len() - filled, 0) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        filled += n as usize;
    }
    Ok(())
}
