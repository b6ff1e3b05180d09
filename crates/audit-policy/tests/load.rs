//! Loading policy files: the documented example, and every kind of mistake pointing at its
//! exact line.

use std::path::Path;

use audit_policy::{Accounts, Action, Policy, PolicyError, Reason, WarningKind};

const EXAMPLE: &str = "tests/policies/example.toml";

/// Parses `text` expecting an error; returns (line, col, reason, whole message).
fn error(text: &str) -> (usize, usize, Reason, String) {
    match Policy::parse(text, "policy.toml") {
        Ok(_) => panic!("parsed, but should have failed:\n{text}"),
        Err(e) => {
            let shown = e.to_string();
            match e {
                PolicyError::Invalid {
                    file,
                    line,
                    col,
                    reason,
                } => {
                    assert_eq!(file, "policy.toml");
                    (line, col, reason, shown)
                }
                other => panic!("not a parse error: {other}"),
            }
        }
    }
}

#[test]
fn the_documented_example_loads_as_written() {
    let loaded = Policy::load(Path::new(EXAMPLE)).expect("example loads");
    let rules = loaded.policy.rules();
    assert_eq!(rules.len(), 1);
    let rule = &rules[0];
    assert_eq!(rule.name(), "prod is for the on-call team");
    assert_eq!(rule.line(), 2);
    assert_eq!(rule.action(), Action::Detach);
    assert!(rule.enabled());
    assert!(rule.covers("/tmp/tmux-0/default", "prod-db"));
    assert!(!rule.covers("/tmp/tmux-0/default", "dev"));
    assert_eq!(loaded.policy.file(), EXAMPLE);
    // Neither group exists on this machine: warnings, pointing at the entries, not errors.
    let warnings: Vec<_> = loaded
        .warnings
        .iter()
        .map(|w| (w.line, w.col, w.kind.clone()))
        .collect();
    assert_eq!(
        warnings,
        [
            (4, 18, WarningKind::UnknownGroup("oncall".into())),
            (5, 14, WarningKind::UnknownGroup("auditors".into())),
        ]
    );
    assert_eq!(
        loaded.warnings[0].to_string(),
        format!(
            "{EXAMPLE}:4:18: warning: no group \"oncall\" on this system: \
             the entry matches nobody until the group exists"
        )
    );
}

#[test]
fn the_digest_is_blake3_of_the_source_text() {
    let text = std::fs::read_to_string(EXAMPLE).unwrap();
    let policy = Policy::parse(&text, "a").unwrap().policy;
    assert_eq!(
        policy.digest(),
        blake3::hash(text.as_bytes()).to_hex().as_str()
    );
    let edited = text.replace("detach", "deny");
    assert_ne!(
        Policy::parse(&edited, "a").unwrap().policy.digest(),
        policy.digest()
    );
}

#[test]
fn an_empty_file_is_a_policy_with_no_rules() {
    assert!(Policy::parse("", "empty.toml")
        .unwrap()
        .policy
        .rules()
        .is_empty());
}

#[test]
fn a_missing_file_names_the_path() {
    let err = Policy::load(Path::new("/nonexistent/policy.toml")).unwrap_err();
    assert!(matches!(err, PolicyError::Read { .. }));
    assert!(
        err.to_string()
            .starts_with("cannot read policy /nonexistent/policy.toml: "),
        "{err}"
    );
}

#[test]
fn malformed_toml_points_at_the_broken_line() {
    let (line, col, reason, shown) = error(
        "[[rule]]\n\
         name = \"a\"\n\
         sessions = [\"x\"\n\
         allow = [\"root\"]\n",
    );
    assert!(matches!(reason, Reason::Toml(_)));
    assert_eq!((line, col), (4, 1), "{shown}");
    assert!(
        shown.starts_with("policy.toml:4:1: missing comma"),
        "{shown}"
    );
}

#[test]
fn a_bad_glob_points_at_the_pattern() {
    let (line, col, reason, shown) = error(
        "[[rule]]\n\
         name = \"a\"\n\
         sessions = [\"ok\", \"prod[\"]\n\
         allow = [\"root\"]\n",
    );
    assert_eq!((line, col), (3, 19));
    assert!(matches!(&reason, Reason::BadGlob { pattern, .. } if pattern == "prod["));
    assert!(
        shown.starts_with("policy.toml:3:19: bad glob \"prod[\": "),
        "{shown}"
    );
}

#[test]
fn a_bad_cidr_points_at_the_entry() {
    let (line, col, reason, shown) = error(
        "[[rule]]\n\
         name = \"a\"\n\
         sessions = [\"*\"]\n\
         allow = [\"root\"]\n\
         origins = [\"local\",\n  \"10.0.0.0/33\"]\n",
    );
    assert_eq!((line, col), (6, 3));
    assert_eq!(reason, Reason::BadOrigin("10.0.0.0/33".into()));
    assert_eq!(
        shown,
        "policy.toml:6:3: bad origin \"10.0.0.0/33\": \
         expected \"local\", an IP address or a CIDR such as 10.0.0.0/8"
    );
}

#[test]
fn an_unknown_action_points_at_the_value() {
    let (line, col, reason, shown) = error(
        "[[rule]]\n\
         name = \"a\"\n\
         sessions = [\"*\"]\n\
         allow = [\"root\"]\n\
         action = \"kick\"\n",
    );
    assert_eq!((line, col), (5, 10));
    assert_eq!(reason, Reason::UnknownAction("kick".into()));
    assert_eq!(
        shown,
        "policy.toml:5:10: unknown action \"kick\": expected alert, detach or deny"
    );
}

#[test]
fn an_unknown_key_in_a_rule_is_an_error_at_that_key() {
    let (line, col, reason, shown) = error(
        "[[rule]]\n\
         name = \"a\"\n\
         sessions = [\"*\"]\n\
         allow = [\"root\"]\n\
         read_olny = [\"nobody\"]\n",
    );
    assert_eq!((line, col), (5, 1), "{shown}");
    assert!(
        matches!(&reason, Reason::Toml(m) if m.starts_with("unknown field `read_olny`")),
        "{shown}"
    );
}

#[test]
fn an_unknown_top_level_key_is_an_error_at_that_key() {
    let (line, _, reason, shown) = error("\n[[rules]]\nname = \"a\"\n");
    assert_eq!(line, 2, "{shown}");
    assert!(
        matches!(&reason, Reason::Toml(m) if m.contains("rules")),
        "{shown}"
    );
}

#[test]
fn a_duplicate_name_points_at_the_second_and_names_the_first() {
    let (line, col, reason, shown) = error(
        "[[rule]]\n\
         name = \"same\"\n\
         sessions = [\"a\"]\n\
         allow = [\"root\"]\n\
         \n\
         [[rule]]\n\
         name = \"same\"\n\
         sessions = [\"b\"]\n\
         allow = [\"root\"]\n",
    );
    assert_eq!((line, col), (7, 8));
    assert_eq!(
        reason,
        Reason::DuplicateName {
            name: "same".into(),
            first_line: 2
        }
    );
    assert_eq!(
        shown,
        "policy.toml:7:8: duplicate rule name \"same\" (first used on line 2)"
    );
}

#[test]
fn empty_sessions_an_empty_name_and_a_rule_listing_nobody_are_errors() {
    let (line, _, reason, _) = error("[[rule]]\nname = \"a\"\nsessions = []\nallow = [\"root\"]\n");
    assert_eq!((line, reason), (3, Reason::EmptyList("sessions")));

    let (line, _, reason, _) = error("[[rule]]\nname = \"  \"\nsessions = [\"*\"]\nallow = []\n");
    assert_eq!((line, reason), (2, Reason::EmptyName));

    let (line, _, reason, shown) = error("[[rule]]\nname = \"a\"\nsessions = [\"*\"]\n");
    assert_eq!((line, reason), (2, Reason::NoPrincipals("a".into())));
    assert!(
        shown.contains("write `allow = []` if nobody may attach"),
        "{shown}"
    );

    let (line, _, reason, _) =
        error("[[rule]]\nname = \"a\"\nsessions = [\"*\"]\nallow = []\norigins = []\n");
    assert_eq!((line, reason), (5, Reason::EmptyList("origins")));
}

#[test]
fn a_malformed_entry_and_a_wrong_type_are_errors_at_their_value() {
    let (line, col, reason, _) =
        error("[[rule]]\nname = \"a\"\nsessions = [\"*\"]\nallow = [\"root\", \"@\"]\n");
    assert_eq!((line, col, reason), (4, 18, Reason::BadEntry("@".into())));

    let (line, _, reason, shown) =
        error("[[rule]]\nname = \"a\"\nsessions = [\"*\"]\nallow = []\nenabled = \"no\"\n");
    assert_eq!(line, 5, "{shown}");
    assert!(matches!(reason, Reason::Toml(_)));

    let (line, col, _, shown) = error("[[rule]]\nname = \"a\"\nsessions = \"prod\"\nallow = []\n");
    assert_eq!((line, col), (3, 12), "{shown}");
    assert!(shown.ends_with("expected a sequence"), "{shown}");
}

#[test]
fn a_missing_required_key_is_an_error_in_its_rule() {
    let (line, _, reason, shown) = error(
        "[[rule]]\nname = \"a\"\nsessions = [\"*\"]\nallow = []\n\n\
         [[rule]]\nname = \"b\"\nallow = [\"root\"]\n",
    );
    // The second rule's table starts on line 6.
    assert_eq!(line, 6, "{shown}");
    assert_eq!(reason, Reason::Toml("missing field `sessions`".into()));
}

#[test]
fn a_policy_with_one_bad_rule_yields_no_rules_at_all() {
    let text = "[[rule]]\nname = \"good\"\nsessions = [\"*\"]\nallow = [\"root\"]\n\n\
                [[rule]]\nname = \"bad\"\nsessions = [\"*\"]\nallow = [\"root\"]\naction = \"nope\"\n";
    let (line, ..) = error(text);
    assert_eq!(line, 10);
}

/// A directory where only the names given exist.
struct Known(&'static [&'static str]);

impl Accounts for Known {
    fn is_member(&self, _: &str, _: &str) -> bool {
        false
    }
    fn user_exists(&self, user: &str) -> bool {
        self.0.contains(&user)
    }
    fn group_exists(&self, group: &str) -> bool {
        self.0.contains(&group)
    }
}

#[test]
fn unknown_users_and_groups_are_warnings_from_the_given_directory() {
    let text = "[[rule]]\nname = \"a\"\nsessions = [\"*\"]\n\
                allow = [\"alice\", \"@ops\"]\nread_only = [\"bob\"]\n";
    let loaded = Policy::parse_with(text, "p.toml", &Known(&["alice", "ops"])).unwrap();
    let warnings: Vec<_> = loaded
        .warnings
        .iter()
        .map(|w| (w.line, w.col, w.kind.clone()))
        .collect();
    assert_eq!(warnings, [(5, 14, WarningKind::UnknownUser("bob".into()))]);
    // The system directory: root exists, the made-up user does not.
    let text = text
        .replace("alice", "root")
        .replace("bob", "no-such-user-tmux-audit");
    let loaded = Policy::parse(&text, "p.toml").unwrap();
    assert!(loaded
        .warnings
        .iter()
        .any(|w| w.kind == WarningKind::UnknownUser("no-such-user-tmux-audit".into())));
    assert!(!loaded
        .warnings
        .iter()
        .any(|w| w.kind == WarningKind::UnknownUser("root".into())));
}
