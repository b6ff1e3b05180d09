//! Without -S or -L the daemon records every tmux server of the user: the sockets in
//! $TMUX_TMPDIR/tmux-UID/, including servers started after it and servers that come back.

use crate::support::*;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};

/// Kills the named servers (on the test's own TMUX_TMPDIR) when the test ends.
struct NamedServers<'a> {
    base: &'a TmuxServer,
    names: &'a [&'a str],
}

impl NamedServers<'_> {
    fn tmux(&self, name: &str, args: &[&str]) -> std::process::Output {
        let mut cmd = self.base.isolated("tmux");
        cmd.args(["-L", name, "-f", "/dev/null"])
            .args(args)
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run tmux")
    }

    fn socket(&self, name: &str) -> PathBuf {
        let uid = nix::unistd::getuid();
        self.base.dir().join(format!("tmux-{uid}")).join(name)
    }
}

impl Drop for NamedServers<'_> {
    fn drop(&mut self) {
        for name in self.names {
            let _ = self.tmux(name, &["kill-server"]);
        }
    }
}

fn started(log: &[serde_json::Value], socket: &Path) -> usize {
    let socket = socket.display().to_string();
    log.iter()
        .filter(|e| kind(e) == "server-started" && field(e, "server") == Some(socket.as_str()))
        .count()
}

#[test]
fn every_server_in_the_users_folder_is_recorded_including_later_and_returning_ones() {
    let base = TmuxServer::not_started();
    let db = base.dir().join("audit.db");
    let servers = NamedServers {
        base: &base,
        names: &["one", "two"],
    };
    let (one, two) = (servers.socket("one"), servers.socket("two"));

    // One server runs before the daemon, one starts after it.
    assert!(servers
        .tmux("one", &["new-session", "-d", "-s", "alpha"])
        .status
        .success());
    let _daemon = Daemon::spawn_in(base.dir(), &db, &[]);
    wait_log(&db, "server one found at start", |log| {
        started(log, &one) == 1
    });
    assert!(servers
        .tmux("two", &["new-session", "-d", "-s", "beta"])
        .status
        .success());
    let log = wait_log(&db, "server two found when it starts", |log| {
        started(log, &two) == 1
            && log
                .iter()
                .any(|e| kind(e) == "session-created" && field(e, "session") == Some("beta"))
    });
    let folder = one.parent().unwrap().display().to_string();
    let audit = find(&log, "audit-started", |_| true);
    assert_eq!(field(audit, "server"), Some(folder.as_str()), "{audit}");
    let first = find(&log, "server-started", |e| {
        field(e, "server") == Some(one.to_str().unwrap())
    });
    assert_eq!(field(first, "observed"), Some("at-start"), "{first}");
    let second = find(&log, "server-started", |e| {
        field(e, "server") == Some(two.to_str().unwrap())
    });
    assert_eq!(field(second, "observed"), Some("live"), "{second}");

    // Server one exits and comes back: both are recorded.
    assert!(servers.tmux("one", &["kill-server"]).status.success());
    wait_log(&db, "server one exited", |log| {
        log.iter().any(|e| {
            kind(e) == "server-exited" && field(e, "server") == Some(one.to_str().unwrap())
        })
    });
    assert!(servers
        .tmux("one", &["new-session", "-d", "-s", "gamma"])
        .status
        .success());
    wait_log(&db, "server one started again", |log| {
        started(log, &one) == 2
            && log
                .iter()
                .any(|e| kind(e) == "session-created" && field(e, "session") == Some("gamma"))
    });

    // -L picks one server in the views.
    let only_two = cli_json(
        &db,
        &[
            OsStr::new("log"),
            OsStr::new("-L"),
            OsStr::new("two"),
            OsStr::new("--json"),
        ],
    );
    assert!(!only_two.is_empty());
    assert!(
        only_two
            .iter()
            .all(|e| field(e, "server") == Some(two.to_str().unwrap())),
        "{only_two:?}"
    );
}
