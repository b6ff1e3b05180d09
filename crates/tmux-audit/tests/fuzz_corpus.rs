//! The fuzz corpora replayed as ordinary tests: every input of `fuzz/seeds/TARGET` (written by
//! hand) and `fuzz/corpus/TARGET` (what the fuzzer kept, minimized) goes through the same check
//! its fuzz target runs, so every path the fuzzers found stays covered on stable Rust in
//! seconds. The `config` corpus is replayed
//! by a unit test inside the binary, where the config parser lives. See docs/FUZZING.md.

use std::path::PathBuf;

/// Runs `check` on every file of `fuzz/seeds/TARGET` and `fuzz/corpus/TARGET`; there must be
/// some of each.
fn replay(target: &str, check: fn(&[u8])) {
    let fuzz = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    for dir in [
        fuzz.join("seeds").join(target),
        fuzz.join("corpus").join(target),
    ] {
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.expect("listing a corpus").path();
            let data = std::fs::read(&path).expect("reading a corpus file");
            // A failing input names itself, to be turned into a regression test.
            let run = std::panic::catch_unwind(|| check(&data));
            assert!(run.is_ok(), "{} fails its check", path.display());
            n += 1;
        }
        assert!(n > 0, "{} is empty", dir.display());
    }
}

#[test]
fn control_corpus_replays_clean() {
    replay("control", audit_tmux::fuzzing::control);
}

#[test]
fn messages_corpus_replays_clean() {
    replay("messages", audit_tmux::fuzzing::messages);
}

#[test]
fn marks_corpus_replays_clean() {
    replay("marks", audit_capture::fuzzing::marks);
}

#[test]
fn spool_corpus_replays_clean() {
    replay("spool", audit_capture::fuzzing::spool);
}

#[test]
fn chunk_corpus_replays_clean() {
    replay("chunk", audit_capture::fuzzing::chunk);
}

#[test]
fn event_corpus_replays_clean() {
    replay("event", audit_core::fuzzing::event);
}

#[test]
fn policy_corpus_replays_clean() {
    replay("policy", audit_policy::fuzzing::policy);
}

#[test]
fn ship_corpus_replays_clean() {
    replay("ship", audit_ship::fuzzing::ship);
}
