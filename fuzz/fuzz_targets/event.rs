//! Fuzz target `event`: the check is `audit_core::fuzzing::event`, shared with the corpus-replay test.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| audit_core::fuzzing::event(data));
