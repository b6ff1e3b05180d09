//! `tmux-audit`: the command line. Each subcommand lives in `cmd/` with its own arguments;
//! this file parses, dispatches, and turns errors into one line on stderr and an exit status
//! (0 success, 1 `verify` found tampering, 2 anything that stopped the command).

mod access;
mod cmd;
mod common;
mod config;
#[cfg(test)]
mod fuzz_config;
mod render;
mod target;
use audit_views::when as timearg;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = match cmd::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if !e.use_stderr() => {
            // --help and --version go to stdout, exit 0.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // One line: clap's message without its "error: " prefix and usage footer.
            let text = e.kind().as_str().map(str::to_owned);
            let first = e
                .render()
                .to_string()
                .lines()
                .next()
                .map(|l| l.trim_start_matches("error: ").to_owned())
                .or(text)
                .unwrap_or_else(|| "bad arguments".into());
            eprintln!("tmux-audit: {first} (see tmux-audit --help)");
            return ExitCode::from(2);
        }
    };
    match cmd::run(cli) {
        Ok(code) => code,
        // The reader went away (`log --json | head -1`): what it read was right; say nothing.
        Err(e)
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) =>
        {
            ExitCode::SUCCESS
        }
        Err(e) => {
            // `{:#}` prints the whole chain: what failed and why, on one line.
            eprintln!("tmux-audit: {e:#}");
            ExitCode::from(2)
        }
    }
}
