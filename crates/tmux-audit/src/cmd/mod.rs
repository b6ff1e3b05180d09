//! The subcommands, one module each.

mod collector;
pub(crate) mod commands;
mod config;
pub(crate) mod daemon;
pub mod export;
mod follow;
mod log;
mod pane_pipe;
mod proof;
mod replay;
mod seal;
mod search;
mod sessions;
mod shell_init;
mod verify;
mod web;
mod who;

use crate::common::Global;
use anyhow::Result;
use clap::{Parser, Subcommand};
use std::process::ExitCode;

const ABOUT: &str = "Audit trail for tmux: who attached to which session, when, from where, with what rights — in a tamper-evident store.";

const EXAMPLES: &str = "\
Examples:
  tmux-audit daemon                       record every tmux server of this user until stopped
  tmux-audit who                          who is attached now
  tmux-audit who --at 2026-11-28T14:05:00Z
  tmux-audit log --session prod --since 2h
  tmux-audit sessions                     each session: created, closed, participants, time attached
  tmux-audit commands --session prod      what was run in the panes and against tmux, by whom
  tmux-audit replay prod:2.1              replay a pane as it happened (space, ., +, -, q)
  tmux-audit export %7 -o incident.cast   asciicast v2; --format asciicast-v3|txt|raw
  tmux-audit search 'DROP TABLE'          every pane's output: time, pane, who was attached
  tmux-audit verify                       check that no stored event or output was changed
  tmux-audit seal init                    seal the store with a key kept off the machine
  tmux-audit daemon --system              (root) every user's servers, policy and sinks
  tmux-audit config check                 validate config and policy files (line numbers)
  tmux-audit collector --listen 0.0.0.0:7700 --db postgres://audit@db/audit
                                          receive a fleet's records into one central store
  tmux-audit who --db postgres://audit@db/audit   the same views across the fleet (--host NAME)
  tmux-audit web                          the auditors' web UI on http://127.0.0.1:7681

Exit status: 0 success; 1 verify found tampering; 2 the command could not do its job.";

/// The command line.
#[derive(Parser, Debug)]
#[command(name = "tmux-audit", version, about = ABOUT, after_help = EXAMPLES)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    Daemon(daemon::Args),
    Who(who::Args),
    Log(log::Args),
    Sessions(sessions::Args),
    Commands(commands::Args),
    Config(config::Args),
    Verify(verify::Args),
    Seal(seal::Args),
    Replay(replay::Args),
    Export(export::Args),
    Search(search::Args),
    Collector(collector::Args),
    Web(web::Args),
    ShellInit(shell_init::Args),
    #[command(hide = true)]
    PanePipe(pane_pipe::Args),
}

/// Runs the chosen subcommand.
pub fn run(cli: Cli) -> Result<ExitCode> {
    match cli.command {
        Command::Daemon(a) => daemon::run(&cli.global, a),
        Command::Who(a) => who::run(&cli.global, a),
        Command::Log(a) => log::run(&cli.global, a),
        Command::Sessions(a) => sessions::run(&cli.global, a),
        Command::Commands(a) => commands::run(&cli.global, a),
        Command::Config(a) => config::run(&cli.global, a),
        Command::Verify(a) => verify::run(&cli.global, a),
        Command::Seal(a) => seal::run(&cli.global, a),
        Command::Replay(a) => replay::run(&cli.global, a),
        Command::Export(a) => export::run(&cli.global, a),
        Command::Search(a) => search::run(&cli.global, a),
        Command::Collector(a) => collector::run(&cli.global, a),
        Command::Web(a) => web::run(&cli.global, a),
        Command::ShellInit(a) => shell_init::run(a),
        Command::PanePipe(a) => pane_pipe::run(&cli.global, a),
    }
}
