//! Fuzz target `control`: the check is `audit_tmux::fuzzing::control`, shared with the corpus-replay test.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| audit_tmux::fuzzing::control(data));
