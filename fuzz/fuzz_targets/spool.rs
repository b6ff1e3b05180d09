//! Fuzz target `spool`: the check is `audit_capture::fuzzing::spool`, shared with the corpus-replay test.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| audit_capture::fuzzing::spool(data));
