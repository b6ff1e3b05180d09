//! `tmux-audit`: the command line. Each subcommand lives in `cmd/` with its own arguments;
//! this file parses, dispatches, and turns errors into one line on stderr and an exit status
//! (0 success, 1 `verify` found tampering, 2 anything that stopped the command).

mod cmd;
mod common;
mod render;
mod timearg;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cmd::Cli::parse();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(e) => {
            // `{:#}` prints the whole chain: what failed and why, on one line.
            eprintln!("tmux-audit: {e:#}");
            ExitCode::from(2)
        }
    }
}
