//! Entry point for the `policy` fuzz target in `fuzz/` and for the test that replays its
//! corpus: arbitrary text in, and a panic when a promise of [`Policy::parse_with`] or
//! [`Policy::check`] is broken — not only when it crashes.

use std::collections::HashSet;

use crate::{Accounts, ClientAccess, Policy, PolicyError};

/// A user and group database that needs no system: `root` and `alice` exist, `alice` is in
/// `@ops`.
struct Fixed;

impl Accounts for Fixed {
    fn is_member(&self, user: &str, group: &str) -> bool {
        user == "alice" && group == "ops"
    }
    fn user_exists(&self, user: &str) -> bool {
        matches!(user, "root" | "alice")
    }
    fn group_exists(&self, group: &str) -> bool {
        group == "ops"
    }
}

const FILE: &str = "policy.toml";

/// Whether `(line, col)` is a place in `text`.
fn place_in(text: &str, line: usize, col: usize) -> bool {
    let lines = text.split('\n').count();
    line >= 1 && line <= lines && col >= 1
}

/// Policy text: a load is all or nothing, an error points at a real `FILE:LINE:COL`, a loaded
/// policy's rules have unique non-blank names and the digest of the exact text, and checking
/// any client (hostile names and origins included) only reports enabled rules that cover it,
/// with the strongest action.
pub fn policy(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let loaded = match Policy::parse_with(&text, FILE, &Fixed) {
        Ok(l) => l,
        Err(e) => {
            let PolicyError::Invalid {
                file, line, col, ..
            } = &e
            else {
                panic!("parsing text gave a read error: {e}");
            };
            assert_eq!(file, FILE);
            assert!(place_in(&text, *line, *col), "{e} points outside the text");
            assert!(e.to_string().starts_with(&format!("{FILE}:{line}:{col}: ")));
            return;
        }
    };
    let policy = &loaded.policy;
    assert_eq!(
        policy.digest(),
        blake3::hash(text.as_bytes()).to_hex().as_str()
    );
    for w in &loaded.warnings {
        assert!(
            place_in(&text, w.line, w.col),
            "{w} points outside the text"
        );
    }
    let mut names = HashSet::new();
    for rule in policy.rules() {
        let name = rule.name();
        assert!(
            !name.is_empty() && name.trim() == name,
            "rule name {name:?}"
        );
        assert!(names.insert(name), "two rules named {name:?}");
        assert!(place_in(&text, rule.line(), 1));
    }

    // Clients named after pieces of the text itself, so the fuzzer can aim at its own globs.
    let words: Vec<&str> = text.split(['"', '\n', ' ', ',', '[', ']']).collect();
    for (i, w) in words.iter().enumerate() {
        let next = words.get(i + 1).copied().unwrap_or("");
        for user in ["root", "alice", "mallory", *w] {
            let client = ClientAccess {
                server: next,
                session: w,
                user,
                uid: Some(1000),
                origin: (i % 3 != 0).then_some(next),
                readonly: i % 2 == 0,
                control_mode: i % 5 == 0,
                readonly_cleared: i % 7 == 0,
            };
            let verdict = policy.check(&client, &Fixed);
            assert_eq!(
                verdict.action,
                verdict.violations.iter().map(|v| v.action).max()
            );
            for v in &verdict.violations {
                let rule = policy.rules().iter().find(|r| r.name() == v.rule);
                let rule = rule.expect("a violation names a rule of the policy");
                assert!(rule.enabled() && rule.covers(client.server, client.session));
            }
        }
    }
}
