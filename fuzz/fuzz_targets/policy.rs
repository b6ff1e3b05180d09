//! Fuzz target `policy`: the check is `audit_policy::fuzzing::policy`, shared with the corpus-replay test.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| audit_policy::fuzzing::policy(data));
