//! Fuzz target `config`: the daemon's config parser lives in the binary crate, so its module
//! and the shared check (`fuzz_config.rs`, also run by the corpus-replay unit test) are
//! compiled in here by path.
#![no_main]

#[allow(dead_code)]
#[path = "../../crates/tmux-audit/src/config.rs"]
mod config;
#[path = "../../crates/tmux-audit/src/fuzz_config.rs"]
mod fuzz_config;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_config::config(data));
