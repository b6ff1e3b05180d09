//! Evaluating clients against a policy, with the machine's real users and groups.

use std::path::Path;

use audit_policy::{
    Accounts, Action, ClientAccess, Policy, SystemAccounts, Verdict, ViolationKind,
};

const SERVER: &str = "/tmp/tmux-0/default";

fn policy() -> Policy {
    let loaded = Policy::load(Path::new("tests/policies/matrix.toml")).expect("matrix loads");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    loaded.policy
}

/// A writable, local, non-control client of `user` in `session`.
fn client<'a>(user: &'a str, session: &'a str) -> ClientAccess<'a> {
    ClientAccess {
        server: SERVER,
        session,
        user,
        uid: None,
        origin: Some("local"),
        readonly: false,
        control_mode: false,
        readonly_cleared: false,
    }
}

fn check(c: &ClientAccess<'_>) -> Verdict {
    policy().check(c, &SystemAccounts::new())
}

/// The verdict as (rule, kind) pairs, for exact comparison.
fn found(v: &Verdict) -> Vec<(&str, &str)> {
    v.violations
        .iter()
        .map(|v| (v.rule.as_str(), v.what.as_str()))
        .collect()
}

#[test]
fn an_allowed_user_breaks_nothing() {
    let v = check(&client("root", "prod-web"));
    assert!(v.is_ok(), "{v:?}");
    assert_eq!(v.action, None);
}

#[test]
fn a_stranger_is_a_user_violation_with_the_rules_action() {
    let v = check(&ClientAccess {
        uid: Some(1),
        ..client("daemon", "prod-web")
    });
    assert_eq!(found(&v), [("prod", "user")]);
    assert_eq!(v.action, Some(Action::Detach));
    assert_eq!(v.violations[0].action, Action::Detach);
    assert_eq!(
        v.violations[0].detail,
        "daemon (uid 1) is attached to session \"prod-web\" but is not allowed there \
         (allow: root; read_only: @nogroup)"
    );
}

#[test]
fn a_read_only_user_attached_read_only_breaks_nothing() {
    let v = check(&ClientAccess {
        readonly: true,
        ..client("nobody", "prod-web")
    });
    assert!(v.is_ok(), "{v:?}");
}

#[test]
fn a_read_only_user_attached_writable_is_a_read_only_violation() {
    let v = check(&client("nobody", "prod-web"));
    assert_eq!(found(&v), [("prod", "read-only")]);
    assert!(v.violations[0].detail.contains("attached writable"));
}

#[test]
fn a_read_only_user_in_control_mode_is_a_control_mode_violation_even_if_flagged_read_only() {
    let v = check(&ClientAccess {
        readonly: true,
        control_mode: true,
        ..client("nobody", "prod-web")
    });
    assert_eq!(found(&v), [("prod", "control-mode")]);

    let writable = check(&ClientAccess {
        control_mode: true,
        ..client("nobody", "prod-web")
    });
    assert_eq!(
        found(&writable),
        [("prod", "control-mode"), ("prod", "read-only")]
    );
}

#[test]
fn clearing_the_read_only_flag_is_reported_as_such_not_as_plain_writable() {
    let v = check(&ClientAccess {
        readonly_cleared: true,
        ..client("nobody", "prod-web")
    });
    assert_eq!(found(&v), [("prod", "readonly-cleared")]);
    assert!(v.violations[0].detail.contains("switch-client -r"));
}

#[test]
fn an_allowed_user_may_clear_their_flag_and_use_control_mode() {
    let v = check(&ClientAccess {
        readonly_cleared: true,
        control_mode: true,
        ..client("root", "prod-web")
    });
    assert!(v.is_ok(), "{v:?}");
}

#[test]
fn an_origin_outside_the_listed_ranges_is_an_origin_violation() {
    let v = check(&ClientAccess {
        origin: Some("192.168.1.5"),
        ..client("root", "prod-web")
    });
    assert_eq!(found(&v), [("prod", "origin")]);
    assert_eq!(
        v.violations[0].detail,
        "root came from 192.168.1.5, and session \"prod-web\" is open only to \
         local, 10.0.0.0/8, 2001:db8::/32"
    );
    assert!(check(&ClientAccess {
        origin: Some("10.20.30.40"),
        ..client("root", "prod-web")
    })
    .is_ok());
}

#[test]
fn local_is_an_origin_like_any_other() {
    assert!(check(&client("root", "prod-web")).is_ok());
}

#[test]
fn ipv6_origins_match_ipv6_ranges() {
    let at = |origin| {
        check(&ClientAccess {
            origin: Some(origin),
            ..client("root", "prod-web")
        })
    };
    assert!(at("2001:db8::7").is_ok());
    assert_eq!(found(&at("2001:db9::7")), [("prod", "origin")]);
    // An IPv4 client seen through an IPv6 socket is still in 10.0.0.0/8.
    assert!(at("::ffff:10.0.0.9").is_ok());
}

#[test]
fn an_unknown_origin_breaks_a_rule_with_origins_and_says_it_was_unknown() {
    let v = check(&ClientAccess {
        origin: None,
        ..client("root", "prod-web")
    });
    assert_eq!(found(&v), [("prod", "origin")]);
    assert!(v.violations[0].detail.contains("could not be read"));

    let ssh = check(&ClientAccess {
        origin: Some("ssh"),
        ..client("root", "prod-web")
    });
    assert_eq!(found(&ssh), [("prod", "origin")]);
    assert!(ssh.violations[0].detail.contains("not an address"));
}

#[test]
fn an_unknown_origin_is_fine_where_no_rule_restricts_origins() {
    let v = check(&ClientAccess {
        server: "/tmp/tmux-0/default",
        origin: None,
        ..client("root", "ops")
    });
    assert!(v.is_ok(), "{v:?}");
}

#[test]
fn sessions_no_rule_matches_are_ignored_and_disabled_rules_cover_nothing() {
    // "switched off" would cover every session and allow nobody, were it enabled.
    let v = check(&client("daemon", "dev"));
    assert!(v.is_ok(), "{v:?}");
    // "prod*" must match the whole name.
    assert!(check(&client("daemon", "preprod")).is_ok());
}

#[test]
fn two_rules_give_every_violation_and_the_strongest_action() {
    let v = check(&ClientAccess {
        origin: Some("192.168.1.5"),
        ..client("nobody", "prod-db")
    });
    assert_eq!(
        found(&v),
        [
            ("prod", "read-only"),
            ("prod", "origin"),
            ("prod-db is root's", "user"),
        ]
    );
    let actions: Vec<_> = v.violations.iter().map(|v| v.action).collect();
    assert_eq!(actions, [Action::Detach, Action::Detach, Action::Deny]);
    assert_eq!(v.action, Some(Action::Deny));
}

#[test]
fn at_group_entries_go_through_the_real_group_database() {
    // root's primary group is root: allowed by "@root".
    assert!(check(&client("root", "prod-db")).is_ok());
    // nobody's primary group is nogroup: read-only by "@nogroup", but not in "@root".
    let v = check(&ClientAccess {
        readonly: true,
        ..client("nobody", "prod-db")
    });
    assert_eq!(found(&v), [("prod-db is root's", "user")]);
}

#[test]
fn servers_globs_select_servers_without_crossing_slashes() {
    let on = |server| {
        check(&ClientAccess {
            server,
            ..client("daemon", "ops")
        })
    };
    assert_eq!(
        found(&on("/tmp/tmux-0/default")),
        [("ops on root's servers", "user")]
    );
    assert!(on("/tmp/tmux-1000/default").is_ok());
    assert!(on("/tmp/tmux-0/nested/default").is_ok());
}

#[test]
fn a_uid_without_a_name_matches_no_entry_and_is_named_by_uid() {
    let v = check(&ClientAccess {
        uid: Some(4242),
        readonly: true,
        ..client("", "prod-web")
    });
    assert_eq!(found(&v), [("prod", "user")]);
    assert!(v.violations[0]
        .detail
        .starts_with("uid 4242 (no user name) is attached"));
}

#[test]
fn violation_kinds_have_their_record_names() {
    let names: Vec<_> = [
        ViolationKind::User,
        ViolationKind::ReadOnly,
        ViolationKind::ControlMode,
        ViolationKind::ReadonlyCleared,
        ViolationKind::Origin,
    ]
    .iter()
    .map(|k| k.as_str())
    .collect();
    assert_eq!(
        names,
        [
            "user",
            "read-only",
            "control-mode",
            "readonly-cleared",
            "origin"
        ]
    );
}

/// Membership as the files say it: primary gid from /etc/passwd, supplementary from the
/// member lists of /etc/group. SystemAccounts must agree for every user and group there,
/// whatever this machine's accounts are (here that includes supplementary memberships such
/// as a service user in `ssl-cert`).
#[test]
fn system_accounts_agree_with_the_passwd_and_group_files() {
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let group = std::fs::read_to_string("/etc/group").unwrap();
    let users: Vec<(&str, &str)> = passwd
        .lines()
        .filter_map(|l| {
            let f: Vec<_> = l.split(':').collect();
            (f.len() >= 4).then(|| (f[0], f[3]))
        })
        .collect();
    let groups: Vec<(&str, &str, Vec<&str>)> = group
        .lines()
        .filter_map(|l| {
            let f: Vec<_> = l.split(':').collect();
            (f.len() >= 4).then(|| {
                (
                    f[0],
                    f[2],
                    f[3].split(',').filter(|m| !m.is_empty()).collect(),
                )
            })
        })
        .collect();
    assert!(users.iter().any(|&(u, _)| u == "root"));
    let accounts = SystemAccounts::new();
    let mut supplementary = 0;
    for &(user, primary) in &users {
        assert!(accounts.user_exists(user), "{user}");
        for (name, gid, members) in &groups {
            let listed = members.contains(&user);
            supplementary += usize::from(listed && *gid != primary);
            let expected = *gid == primary || listed;
            assert_eq!(accounts.is_member(user, name), expected, "{user} in {name}");
        }
    }
    assert!(accounts.is_member("root", "root"));
    assert!(accounts.is_member("nobody", "nogroup"));
    assert!(!accounts.is_member("nobody", "root"));
    eprintln!(
        "checked {} users, {supplementary} supplementary memberships",
        users.len()
    );
}
