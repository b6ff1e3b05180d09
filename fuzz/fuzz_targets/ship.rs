//! Fuzz target `ship`: the check is `audit_ship::fuzzing::ship`, shared with the corpus-replay test.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| audit_ship::fuzzing::ship(data));
