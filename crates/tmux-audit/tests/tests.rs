//! The end-to-end tests of `tmux-audit`, as one test binary (`cargo test --test integration`),
//! the way ripgrep lays out its tests: each file of `tests/` is a module of this crate, and the
//! harness in `support/` is compiled once for all of them rather than once per file. Cargo does
//! not look for test targets itself (`autotests = false` in Cargo.toml), so a new file of tests
//! must be added here as a module.
//!
//! Run one file's tests with `cargo test --test integration attach::`, or one test with
//! `cargo test --test integration attach::detach_client_all` (a filter matches the test's full
//! path, `MODULE::NAME`).
//!
//! Every test shares this one process with all the others, running on parallel threads: none
//! may change process-wide state (environment variables, the working directory, the umask,
//! signal dispositions); what a child needs goes to its `Command` (see `support`).

mod support;

mod access;
mod attach;
mod capture;
mod commands;
mod disk_full;
mod errors;
mod fleet;
mod fuzz_corpus;
mod host;
mod hostile;
mod json;
mod live;
mod pane_birth;
mod proof;
mod quiet_readers;
mod recording;
mod replay_export;
mod restart;
mod scope;
mod seal;
mod search;
mod second_user;
mod tamper;
mod web;
