//! Fuzz target `marks`: the check is `audit_capture::fuzzing::marks`, shared with the corpus-replay test.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| audit_capture::fuzzing::marks(data));
