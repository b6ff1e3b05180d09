//! Portable proofs: an exported piece checked alone, without the store, with the verification
//! key — and refused when one byte of the piece or of its proof changed.

use crate::support::sealed::*;
use crate::support::*;
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde_json::Value;
use std::path::{Path, PathBuf};

fn run(dir: &Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = cli_in(dir, args);
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `verify --export FILE --proof PROOF --key KEY`, run where no store is.
fn check(dir: &Path, file: &Path, proof: &Path, key: &str) -> (Option<i32>, String) {
    let (code, out, _) = run(
        dir,
        &[
            "verify",
            "--export",
            file.to_str().unwrap(),
            "--proof",
            proof.to_str().unwrap(),
            "--key",
            key,
        ],
    );
    (code, out)
}

/// A copy of `path` with the byte at `at` changed.
fn with_byte_changed(path: &Path, at: usize) -> PathBuf {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
    let changed = path.with_extension("changed");
    std::fs::write(&changed, bytes).unwrap();
    changed
}

/// A copy of `proof` whose record line `n` (0 = the first after the header) carries one byte
/// changed in the record itself, still well-formed.
fn with_record_changed(proof: &Path, n: usize) -> PathBuf {
    let text = std::fs::read_to_string(proof).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut line: Value = serde_json::from_str(&lines[n + 1]).unwrap();
    let mut data = B64.decode(line["data"].as_str().unwrap()).unwrap();
    let last = data.len() - 1;
    data[last] ^= 0x01;
    line["data"] = Value::String(B64.encode(data));
    lines[n + 1] = line.to_string();
    let changed = proof.with_extension("changed-proof");
    std::fs::write(&changed, lines.join("\n") + "\n").unwrap();
    changed
}

#[test]
fn an_exported_recording_checks_alone_and_one_changed_byte_is_refused() {
    let server = TmuxServer::start("work");
    let (db, key) = sealed_output_store(&server, 3);
    let away = server.dir().join("elsewhere");
    std::fs::create_dir(&away).unwrap();
    for format in ["asciicast", "txt", "raw"] {
        let file = away.join(format!("pane.{format}"));
        let proof = away.join(format!("pane.{format}.proof"));
        let out = cli(
            &db,
            &[
                "export",
                "%0",
                "--format",
                format,
                "-o",
                file.to_str().unwrap(),
                "--proof",
                proof.to_str().unwrap(),
            ],
        );
        assert!(
            out.status.success(),
            "{format}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stderr).contains("proof written"));
        // Checked where there is no store at all.
        let (code, text) = check(&away, &file, &proof, &key);
        assert_eq!(code, Some(0), "{format}: {text}");
        assert!(
            text.starts_with("intact:") && text.contains(&format!("{format} of pane %0")),
            "{format}: {text}"
        );
        // One byte of the marker line changed in the export.
        let bytes = std::fs::read(&file).unwrap();
        let at = bytes
            .windows(6)
            .position(|w| w == b"marker")
            .expect("the marker is in the export");
        let changed = with_byte_changed(&file, at);
        let (code, text) = check(&away, &changed, &proof, &key);
        assert_eq!(code, Some(1), "{format}: {text}");
        assert!(
            text.starts_with("TAMPERED") && text.contains("differs"),
            "{text}"
        );
        // One byte of a record in the proof changed.
        let forged = with_record_changed(&proof, 0);
        let (code, text) = check(&away, &file, &forged, &key);
        assert_eq!(code, Some(1), "{format}: {text}");
        assert!(text.starts_with("TAMPERED"), "{text}");
    }
}

#[test]
fn exported_events_check_alone_and_a_wrong_or_missing_key_cannot_check() {
    let server = TmuxServer::start("work");
    let (db, key) = sealed_output_store(&server, 3);
    let out = cli(
        &db,
        &[
            "log",
            "--json",
            "--session",
            "second",
            "--proof",
            "ev.proof",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = server.dir();
    let file = dir.join("ev.jsonl");
    std::fs::write(&file, &out.stdout).unwrap();
    let proof = dir.join("ev.proof");
    let (code, text) = check(dir, &file, &proof, &key);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("events, records"), "{text}");
    // The session's name changed in the exported JSON.
    let at = out.stdout.windows(6).position(|w| w == b"second").unwrap();
    let (code, text) = check(dir, &with_byte_changed(&file, at), &proof, &key);
    assert_eq!(code, Some(1), "{text}");
    // Another key, and no key: cannot check (2), not tampered.
    let other = seal_init(&dir.join("other/audit.db"), "1");
    let (code, text) = check(dir, &file, &proof, &other);
    assert_eq!(code, Some(2), "{text}");
    assert!(text.contains("wrong key"), "{text}");
    let (code, out, _) = run(
        dir,
        &["verify", "--export", "ev.jsonl", "--proof", "ev.proof"],
    );
    assert_eq!(code, Some(2), "{out}");
    assert!(out.contains("--key is needed"), "{out}");
}

#[test]
fn a_piece_no_seal_covers_gets_no_proof() {
    let server = TmuxServer::start("work");
    let (db, _key) = sealed_output_store(&server, 3);
    // The last records lost their final seal (as if the daemon had been killed before it).
    let conn = forger(&db);
    conn.execute(
        "DELETE FROM events WHERE seq = (SELECT max(seq) FROM events)",
        [],
    )
    .unwrap();
    drop(conn);
    let out = cli(&db, &["log", "--json", "--proof", "all.proof"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no seal covers record") && err.contains("no daemon is recording"),
        "{err}"
    );
    assert!(!server.dir().join("all.proof").exists());
}
