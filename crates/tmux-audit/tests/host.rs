//! Host mode: the policy enforced on real clients of another user, events forwarded to a
//! JSON-lines file, a syslog listener and a webhook server the tests start on loopback, and
//! broken config or policy files refused with their line.

use crate::support::*;
use serde_json::Value;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// What a loopback receiver has been sent, one entry per message.
type Received = Arc<Mutex<Vec<String>>>;

/// A syslog receiver over TCP with octet counting (`LEN SP MSG`), as RFC 6587 frames it.
fn syslog_listener() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = format!("tcp://{}", listener.local_addr().unwrap());
    let got: Received = Arc::default();
    let out = Arc::clone(&got);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let out = Arc::clone(&out);
            std::thread::spawn(move || {
                let mut r = BufReader::new(stream);
                loop {
                    let mut len = Vec::new();
                    if r.read_until(b' ', &mut len).unwrap_or(0) == 0 {
                        return;
                    }
                    let Ok(n) = String::from_utf8_lossy(&len).trim().parse::<usize>() else {
                        return;
                    };
                    let mut msg = vec![0; n];
                    if r.read_exact(&mut msg).is_err() {
                        return;
                    }
                    out.lock()
                        .unwrap()
                        .push(String::from_utf8_lossy(&msg).into_owned());
                }
            });
        }
    });
    (address, got)
}

/// A webhook server: answers 200 to each POST and keeps its body; serves on `listener`.
fn webhook_server(listener: TcpListener) -> Received {
    let got: Received = Arc::default();
    let out = Arc::clone(&got);
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let out = Arc::clone(&out);
            std::thread::spawn(move || serve_http(stream, &out));
        }
    });
    got
}

fn serve_http(stream: TcpStream, out: &Received) {
    let mut w = stream.try_clone().unwrap();
    let mut r = BufReader::new(stream);
    loop {
        let mut length = 0usize;
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((k, v)) = line.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        if r.read_exact(&mut body).is_err() {
            return;
        }
        out.lock()
            .unwrap()
            .push(String::from_utf8_lossy(&body).into_owned());
        if w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

const POLICY: &str = r#"
[[rule]]
name = "prod is for root"
sessions = ["prod*"]
allow = ["root"]
read_only = ["daemon"]
origins = ["local", "10.0.0.0/8"]
action = "detach"
"#;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn daemon_with(server: &TmuxServer, policy: &Path, config: &Path) -> Daemon {
    let d = Daemon::spawn_in(
        server.dir(),
        &server.db(),
        &[
            OsStr::new("-S"),
            server.sock().as_os_str(),
            OsStr::new("--no-commands"),
            OsStr::new("--policy"),
            policy.as_os_str(),
            OsStr::new("--config"),
            config.as_os_str(),
        ],
    );
    d.wait_ready("prod-db");
    d
}

/// A private server with a session `prod-db`, recorded by a daemon enforcing `policy` (no
/// sinks), its socket open to `nobody`, who has `server-access ACCESS` (`-a`, `-r`).
fn policed(policy: &str, access: &str) -> (TmuxServer, Daemon) {
    let server = TmuxServer::start("prod-db");
    let dir = server.dir().to_owned();
    let policy = write(&dir, "policy.toml", policy);
    let config = write(&dir, "config.toml", "");
    let daemon = daemon_with(&server, &policy, &config);
    server.open_socket_to_everyone();
    server.tmux(&["server-access", access, "nobody"]);
    (server, daemon)
}

/// `nobody` attaching to `session` through a terminal of their own.
fn attach_as_nobody(server: &TmuxServer, session: &str) -> PtyClient {
    let mut cmd = server.command_as("nobody", nobody_group());
    cmd.args(["attach-session", "-t", session]);
    PtyClient::spawn(cmd)
}

/// Waits until the client has been thrown out (it exits by itself).
fn wait_kicked(client: &mut PtyClient, daemon: &Daemon, what: &str) {
    wait_for(
        what,
        Duration::from_secs(10),
        || client.exited().then_some(()),
        || daemon.stderr(),
    );
}

/// Runs `tmux ARGS` as nobody, which must succeed.
fn tmux_as_nobody(server: &TmuxServer, args: &[&str]) {
    let out = server
        .command_as("nobody", nobody_group())
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Builds `source` (C) into `dir/NAME.so` with gcc: a library to LD_PRELOAD into a tmux client,
/// making it lie the way a modified client could.
fn shim(dir: &Path, name: &str, source: &str) -> PathBuf {
    let c = write(dir, &format!("{name}.c"), source);
    let so = dir.join(format!("{name}.so"));
    let built = std::process::Command::new("gcc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&so)
        .arg(&c)
        .status()
        .unwrap();
    assert!(built.success(), "gcc");
    so
}

fn has_violation(text: &str) -> bool {
    text.contains("\"policy-violation\"") && text.contains("\"nobody\"")
}

#[test]
fn a_user_the_policy_forbids_is_detached_and_the_violation_reaches_every_sink() {
    if !is_root() {
        println!("skipped: a client of another user needs root (CI runs as root)");
        return;
    }
    let server = TmuxServer::start("prod-db");
    let dir = server.dir().to_owned();
    let (syslog, syslog_got) = syslog_listener();
    let hook = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/audit", hook.local_addr().unwrap());
    let hook_got = webhook_server(hook);
    let jsonl = dir.join("forwarded/events.jsonl");
    let policy = write(&dir, "policy.toml", POLICY);
    let config = write(
        &dir,
        "config.toml",
        &format!(
            "[[sink]]\ntype = \"jsonl\"\npath = \"{}\"\n\n[[sink]]\ntype = \"syslog\"\naddress = \"{syslog}\"\n\n[[sink]]\ntype = \"webhook\"\nurl = \"{url}\"\n",
            jsonl.display()
        ),
    );
    let mut daemon = daemon_with(&server, &policy, &config);
    server.open_socket_to_everyone();
    server.tmux(&["server-access", "-a", "nobody"]);

    let session = server.first_session_id().to_owned();
    let mut guest = attach_as_nobody(&server, &session);
    wait_kicked(&mut guest, &daemon, "nobody's client to be detached");
    let log = wait_log(&server.db(), "the violation and the detach", |log| {
        log.iter().any(|e| kind(e) == "policy-violation")
            && log
                .iter()
                .any(|e| kind(e) == "client-detached" && field(e, "user") == Some("nobody"))
    });
    let v = log.iter().find(|e| kind(e) == "policy-violation").unwrap();
    assert_eq!(field(v, "rule"), Some("prod is for root"), "{v}");
    let kicked = log
        .iter()
        .find(|e| kind(e) == "client-detached" && field(e, "user") == Some("nobody"))
        .unwrap();
    assert_eq!(field(kicked, "reason"), Some("kicked"), "{kicked}");
    assert_eq!(field(kicked, "by"), Some("tmux-audit"), "{kicked}");
    assert_eq!(field(v, "violation"), Some("user"), "{v}");
    assert_eq!(field(v, "action"), Some("detach"), "{v}");
    assert_eq!(field(v, "user"), Some("nobody"), "{v}");
    assert_eq!(field(v, "origin"), Some("local"), "{v}");
    assert_eq!(field(v, "session"), Some("prod-db"), "{v}");
    let attached = log
        .iter()
        .find(|e| kind(e) == "client-attached" && field(e, "user") == Some("nobody"))
        .expect("attach recorded");
    let detached = log
        .iter()
        .find(|e| kind(e) == "client-detached" && field(e, "user") == Some("nobody"))
        .unwrap();
    println!(
        "attach → detach recorded: {} → {}",
        field(attached, "time").unwrap(),
        field(detached, "time").unwrap()
    );

    // Delivered to all three sinks.
    wait_for(
        "the violation in the JSON-lines file",
        Duration::from_secs(10),
        || {
            let text = std::fs::read_to_string(&jsonl).ok()?;
            text.lines().any(has_violation).then_some(())
        },
        || daemon.stderr(),
    );
    for (name, got) in [("syslog", &syslog_got), ("webhook", &hook_got)] {
        wait_for(
            &format!("the violation at the {name} receiver"),
            Duration::from_secs(10),
            || {
                got.lock()
                    .unwrap()
                    .iter()
                    .any(|m| has_violation(m))
                    .then_some(())
            },
            || format!("{:?}\n{}", got.lock().unwrap(), daemon.stderr()),
        );
    }
    let frame = syslog_got
        .lock()
        .unwrap()
        .iter()
        .find(|m| has_violation(m))
        .cloned()
        .unwrap();
    // RFC 5424: warning (4) in facility authpriv (10): <84>1 …, MSGID the kind.
    assert!(frame.starts_with("<84>1 "), "{frame}");
    assert!(frame.contains(" policy-violation "), "{frame}");

    // A broken policy on SIGHUP is refused with its line; the one in force stays.
    write(
        &dir,
        "policy.toml",
        "[[rule]]\nname = \"x\"\nsessions = [\"prod*\"]\nallow = [\"root\"]\naction = \"kick\"\n",
    );
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(daemon.pid()),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    let log = wait_log(&server.db(), "the refused reload", |log| {
        log.iter()
            .any(|e| kind(e) == "policy-loaded" && field(e, "reason") == Some("refused"))
    });
    let refused = log
        .iter()
        .find(|e| field(e, "reason") == Some("refused"))
        .unwrap();
    assert!(
        field(refused, "message").is_some_and(|m| m.contains("policy.toml:5:10")),
        "{refused}"
    );
    // The kicked user reads the pane from outside: a command-only client tmux never lists,
    // recorded from tmux's message log with its kernel-attested user.
    tmux_as_nobody(&server, &["capture-pane", "-p", "-t", &session]);
    let log = wait_log(&server.db(), "the capture", |log| {
        log.iter().any(|e| {
            kind(e) == "tmux-command"
                && field(e, "command").is_some_and(|c| c.starts_with("capture-pane"))
        })
    });
    let capture = log
        .iter()
        .find(|e| field(e, "command").is_some_and(|c| c.starts_with("capture-pane")))
        .unwrap();
    assert_eq!(field(capture, "user"), Some("nobody"), "{capture}");

    let mut again = attach_as_nobody(&server, &session);
    wait_kicked(
        &mut again,
        &daemon,
        "nobody detached again under the policy still in force",
    );
    daemon.stop();
}

#[test]
fn a_read_only_user_clearing_read_only_breaks_the_rule() {
    if !is_root() {
        println!("skipped: a client of another user needs root (CI runs as root)");
        return;
    }
    // `origins`: a flag change carries no origin of its own; the attach's counts.
    let (server, mut daemon) = policed("[[rule]]\nname = \"watchers\"\nsessions = [\"prod*\"]\nallow = [\"root\"]\nread_only = [\"nobody\"]\norigins = [\"local\"]\naction = \"alert\"\n", "-r");
    let session = server.first_session_id().to_owned();
    let guest = attach_as_nobody(&server, &session);
    server.wait_attached(&guest, &session);
    // Read-only as allowed: no violation. Then the guest clears its own flag.
    tmux_as_nobody(&server, &["switch-client", "-r", "-c", guest.tty()]);
    let log = wait_log(&server.db(), "the violation", |log| {
        log.iter().any(|e| kind(e) == "policy-violation")
    });
    let v: Vec<&Value> = log
        .iter()
        .filter(|e| kind(e) == "policy-violation")
        .collect();
    assert_eq!(v.len(), 1, "only clearing read-only broke the rule: {v:?}");
    assert_eq!(
        field(v[0], "violation"),
        Some("readonly-cleared"),
        "{}",
        v[0]
    );
    assert_eq!(field(v[0], "action"), Some("alert"));
    assert!(
        guest_still_attached(&server, guest.tty()),
        "alert only: not kicked"
    );
    daemon.stop();
}

fn guest_still_attached(server: &TmuxServer, tty: &str) -> bool {
    server.clients().iter().any(|(name, ..)| name == tty)
}

#[test]
fn a_webhook_that_was_down_gets_every_event_in_order_once_it_is_up() {
    let server = TmuxServer::start("prod-db");
    let dir = server.dir().to_owned();
    // A port with nothing listening yet (taken, then let go).
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}/audit");
    let policy = write(&dir, "policy.toml", POLICY);
    let config = write(
        &dir,
        "config.toml",
        &format!("[[sink]]\ntype = \"webhook\"\nurl = \"{url}\"\n"),
    );
    let mut daemon = daemon_with(&server, &policy, &config);
    for name in ["a", "b", "c"] {
        server.new_session(name);
    }
    wait_log(&server.db(), "the failure, once", |log| {
        log.iter().any(|e| kind(e) == "sink-failed")
            && log.iter().filter(|e| kind(e) == "session-created").count() >= 4
    });
    let started = Instant::now();
    let got = webhook_server(TcpListener::bind(("127.0.0.1", port)).unwrap());
    let log = wait_log(&server.db(), "the recovery", |log| {
        log.iter().any(|e| kind(e) == "sink-recovered")
    });
    let head = log.last().unwrap()["seq"].as_u64().unwrap();
    let seqs = wait_for(
        "every event up to the recovery at the webhook",
        Duration::from_secs(20),
        || {
            let seqs: Vec<u64> = got
                .lock()
                .unwrap()
                .iter()
                .filter_map(|b| serde_json::from_str::<Value>(b).ok()?["seq"].as_u64())
                .collect();
            (seqs.last().copied() >= Some(head)).then_some(seqs)
        },
        || daemon.stderr(),
    );
    println!(
        "delivered {} events {:?} after the webhook came up",
        seqs.len(),
        started.elapsed()
    );
    let expected: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(
        seqs, expected,
        "every event, in order, none missing, none twice"
    );
    let failures = log.iter().filter(|e| kind(e) == "sink-failed").count();
    assert_eq!(failures, 1, "one failure per outage, not one per retry");
    daemon.stop();
}

#[test]
fn a_broken_policy_or_config_is_refused_at_start_with_its_line() {
    let server = TmuxServer::start("prod-db");
    let dir = server.dir().to_owned();
    let bad_policy = write(
        &dir,
        "policy.toml",
        "[[rule]]\nname = \"prod\"\nsessions = [\"prod*\"]\nallow = [\"root\"]\norigins = [\"10.0.0.0/33\"]\n",
    );
    let config = write(&dir, "config.toml", "");
    let mut daemon = Daemon::spawn_in(
        &dir,
        &server.db(),
        &[
            OsStr::new("-S"),
            server.sock().as_os_str(),
            OsStr::new("--policy"),
            bad_policy.as_os_str(),
            OsStr::new("--config"),
            config.as_os_str(),
        ],
    );
    let status = daemon.wait_exit();
    assert!(!status.success());
    let said = daemon.stderr();
    assert!(said.contains("policy.toml:5:"), "{said}");
    assert!(!server.db().exists(), "nothing started, nothing recorded");

    let out = cli_in(
        &dir,
        &["config", "check", "config.toml", "--policy", "policy.toml"],
    );
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("config.toml: ok"), "{text}");
    assert!(text.contains("policy.toml:5:"), "{text}");

    write(
        &dir,
        "bad.toml",
        "[[sink]]\ntype = \"syslog\"\naddress = \"tcp://127.0.0.1\"\n",
    );
    let mut daemon = Daemon::spawn_in(
        &dir,
        &server.db(),
        &[
            OsStr::new("-S"),
            server.sock().as_os_str(),
            OsStr::new("--config"),
            dir.join("bad.toml").as_os_str(),
        ],
    );
    assert!(!daemon.wait_exit().success());
    let said = daemon.stderr();
    assert!(said.contains("bad.toml:3:"), "{said}");
    assert!(!server.db().exists(), "a broken config is not half-applied");
    let out = cli_in(&dir, &["config", "check", "bad.toml"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("bad.toml:3:"), "{text}");
    assert!(text.contains("no port"), "{text}");
}

#[test]
fn settings_follow_defaults_then_system_file_then_user_file_then_environment_then_flags() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("etc")).unwrap();
    std::fs::create_dir_all(d.join("xdg-config/tmux-audit")).unwrap();
    write(
        d,
        "etc/config.toml",
        "db = \"/sys.db\"\nflush_after = 5\noutput = false\ntmux = \"/sys/tmux\"\n",
    );
    write(
        d,
        "xdg-config/tmux-audit/config.toml",
        "flush_after = 7\ntmux = \"/user/tmux\"\nhost_name = \"web-1\"\n",
    );
    let show = |env: &[(&str, &OsStr)], args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["config", "show"]);
        let out = cli_env(d, &all, env);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = show(&[], &[]);
    let row = |text: &str, name: &str| {
        text.lines()
            .find(|l| l.starts_with(&format!("{name} ")))
            .unwrap_or_else(|| panic!("{name}: {text}"))
            .split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
            .join(" ")
    };
    let sys = d.join("etc/config.toml").display().to_string();
    let user = d
        .join("xdg-config/tmux-audit/config.toml")
        .display()
        .to_string();
    assert_eq!(row(&text, "commands"), "true (default)");
    assert_eq!(row(&text, "output"), format!("false ({sys})"));
    assert_eq!(row(&text, "db"), format!("/sys.db ({sys})"));
    assert_eq!(row(&text, "flush_after"), format!("7 ({user})"));
    assert_eq!(row(&text, "tmux"), format!("/user/tmux ({user})"));
    assert_eq!(row(&text, "host_name"), format!("web-1 ({user})"));
    let env = [
        ("TMUX_AUDIT_DB", OsStr::new("/env.db")),
        ("TMUX_AUDIT_TMUX", OsStr::new("/env/tmux")),
    ];
    let text = show(&env, &[]);
    assert_eq!(row(&text, "db"), "/env.db ($TMUX_AUDIT_DB)");
    assert_eq!(row(&text, "tmux"), "/env/tmux ($TMUX_AUDIT_TMUX)");
    let text = show(&env, &["--db", "/flag.db"]);
    assert_eq!(row(&text, "db"), "/flag.db (--db)");
    // A broken file anywhere in the layers is an error, not a half-read file.
    write(
        d,
        "xdg-config/tmux-audit/config.toml",
        "flush_after = \"soon\"\n",
    );
    let out = cli_env(d, &["config", "show"], &[]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("config.toml:1:15"), "{said}");
    write(
        d,
        "xdg-config/tmux-audit/config.toml",
        "host_name = \"web 1\\u001b\"\n",
    );
    let out = cli_env(d, &["config", "show"], &[]);
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("config.toml:1:") && said.contains("not usable"),
        "{said}"
    );
}

#[test]
fn config_show_says_how_far_behind_each_sink_is() {
    use audit_store::{Access, SinkCursors, SqliteStore, Writer};
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let db = d.join("audit.db");
    let mut store = SqliteStore::open(&db, Access::Create).unwrap();
    let an_hour_ago =
        audit_core::Timestamp(audit_core::Timestamp::now().as_micros() - 3_600_000_000);
    let events: Vec<_> = (0..5)
        .map(|_| audit_core::Event::new(an_hour_ago, audit_core::Kind::AuditStarted, "h", "/s"))
        .collect();
    store.append(&events).unwrap();
    store.set_sink_cursor("archive", 2).unwrap();
    store.set_sink_cursor("mirror", 5).unwrap();
    drop(store);
    let config = write(
        d,
        "config.toml",
        &format!(
            "db = {:?}\n[[sink]]\nname = \"archive\"\ntype = \"jsonl\"\npath = {:?}\n[[sink]]\nname = \"mirror\"\ntype = \"jsonl\"\npath = {:?}\n[[sink]]\nname = \"new\"\ntype = \"jsonl\"\npath = {:?}\n",
            db.display().to_string(),
            d.join("a.jsonl").display().to_string(),
            d.join("m.jsonl").display().to_string(),
            d.join("n.jsonl").display().to_string(),
        ),
    );
    let config = config.display().to_string();
    let out = cli_env(
        d,
        &["config", "show"],
        &[("TMUX_AUDIT_CONFIG", OsStr::new(&config))],
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let line = |name: &str| {
        text.lines()
            .find(|l| l.trim_start().starts_with(&format!("{name}:")))
            .unwrap_or_else(|| panic!("{name}: {text}"))
            .to_owned()
    };
    let archive = line("archive");
    assert!(
        archive.contains("delivered up to seq 2; 3 records ("),
        "{archive}"
    );
    let seconds: i64 = archive
        .split('(')
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{archive}"));
    assert!((3590..3700).contains(&seconds), "{archive}");
    assert!(line("mirror").contains("up to date (seq 5)"), "{text}");
    assert!(
        line("new").contains("nothing delivered yet; 5 records to send"),
        "{text}"
    );
}

#[test]
fn the_kernel_shows_connections_tmux_does_not_list_and_a_client_lying_about_its_pid() {
    if !is_root() {
        println!("skipped: reading the server's connections needs root (CI runs as root)");
        return;
    }
    let server = TmuxServer::start("prod-db");
    let dir = server.dir().to_owned();
    let mut daemon = Daemon::spawn_in(
        &dir,
        &server.db(),
        &[
            OsStr::new("-S"),
            server.sock().as_os_str(),
            OsStr::new("--no-commands"),
            OsStr::new("--no-output"),
        ],
    );
    daemon.wait_ready("prod-db");
    // A program connects to the socket and never identifies: tmux lists nothing.
    let raw = std::os::unix::net::UnixStream::connect(server.sock()).unwrap();
    // Reported once two looks have seen it (short command clients are gone by then).
    server.new_window(server.first_session_id(), "look");
    server.new_window(server.first_session_id(), "look-more");
    // Ours, by its pid: on a loaded machine the short `tmux new-window` clients can live
    // through two looks too, and are then rightly reported as well.
    let ours = |e: &&Value| {
        kind(e) == "client-connection" && e["pid"] == serde_json::json!(std::process::id())
    };
    let log = wait_log(&server.db(), "the unlisted connection", |log| {
        log.iter().any(|e| ours(&e))
    });
    let c = log.iter().find(ours).unwrap();
    assert_eq!(field(c, "user"), Some("root"), "{c}");
    drop(raw);

    // A client that reports a false pid (getpid() shimmed by LD_PRELOAD, as a modified client
    // would): tmux lists the lie, the kernel has the truth.
    let lie = shim(&dir, "getpid", "int getpid(void) { return 4242; }\n");
    let mut cmd = server.attach_command(server.first_session_id());
    cmd.env("LD_PRELOAD", &lie);
    let liar = PtyClient::spawn(cmd);
    server.wait_attached(&liar, server.first_session_id());
    // Two looks see it listed with a pid that holds no connection.
    server.new_window(server.first_session_id(), "look-again");
    server.new_window(server.first_session_id(), "and-again");
    let log = wait_log(&server.db(), "the identity mismatch", |log| {
        log.iter().any(|e| kind(e) == "client-identity-mismatch")
    });
    let m = log
        .iter()
        .find(|e| kind(e) == "client-identity-mismatch")
        .unwrap();
    assert_eq!(m["client_pid"], serde_json::json!(4242), "{m}");
    assert_eq!(m["pid"], serde_json::json!(liar.pid()), "{m}");
    drop(liar);
    daemon.stop();
}

/// A test home for `daemon --system`: its temp dir (the daemon's, and the system config file
/// `etc/config.toml` with `socket_dirs` = its `tmp`, plus `extra` settings), `tmp` open to all
/// like /tmp, and the store path. The returned server is unused but owns the temp dir.
fn system_host(extra: &str) -> (TmuxServer, PathBuf, PathBuf) {
    use std::os::unix::fs::PermissionsExt;
    let server = TmuxServer::start("unused");
    let dir = server.dir().to_owned();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let base = dir.join("tmp");
    std::fs::create_dir(&base).unwrap();
    std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o1777)).unwrap();
    std::fs::create_dir_all(dir.join("etc")).unwrap();
    write(
        &dir,
        "etc/config.toml",
        &format!("socket_dirs = [\"{}\"]\n{extra}", base.display()),
    );
    (server, base, dir.join("system/audit.db"))
}

/// `tmux ARGS` as `user` (root when `None`) with `TMUX_TMPDIR=base`: servers land in
/// `base/tmux-UID/`.
fn tmux_in(base: &Path, user: Option<&str>, args: &[&str]) -> std::process::Output {
    let mut cmd = match user {
        Some(u) => {
            let mut c = std::process::Command::new("setpriv");
            c.args([
                "--reuid",
                u,
                "--regid",
                nobody_group(),
                "--clear-groups",
                "tmux",
            ]);
            c
        }
        None => std::process::Command::new("tmux"),
    };
    cmd.env("TMUX_TMPDIR", base)
        .env("SHELL", "/bin/sh")
        .env("TERM", "xterm")
        .env_remove("TMUX")
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn system_mode_records_every_users_servers_as_their_owner_and_skips_a_forged_folder() {
    if !is_root() {
        println!("skipped: --system needs root (CI runs as root)");
        return;
    }
    let (server, base, db) = system_host("flush_after = 0.2\n");
    let dir = server.dir().to_owned();
    let mut daemon = Daemon::spawn_in(
        &dir,
        &db,
        &[OsStr::new("--system"), OsStr::new("--no-commands")],
    );
    // Root's server, nobody's server, and a folder nobody made to pass for uid 1234's.
    let started = tmux_in(
        &base,
        None,
        &["-L", "main", "new-session", "-d", "-s", "root-work"],
    );
    assert!(started.status.success());
    let started = tmux_in(
        &base,
        Some("nobody"),
        &["-L", "main", "new-session", "-d", "-s", "guest-work"],
    );
    assert!(
        started.status.success(),
        "{}",
        String::from_utf8_lossy(&started.stderr)
    );
    let forged = base.join("tmux-1234");
    let made = std::process::Command::new("setpriv")
        .args([
            "--reuid",
            "nobody",
            "--regid",
            nobody_group(),
            "--clear-groups",
            "mkdir",
            "-m",
            "700",
        ])
        .arg(&forged)
        .status()
        .unwrap();
    assert!(made.success());
    let fake_sock = forged.join("fake");
    let started = tmux_in(
        &base,
        Some("nobody"),
        &[
            "-S",
            fake_sock.to_str().unwrap(),
            "new-session",
            "-d",
            "-s",
            "forged-work",
        ],
    );
    assert!(started.status.success());

    let nobody_sock = base.join("tmux-65534/main");
    let log = wait_log(&db, "both users' sessions", |log| {
        ["root-work", "guest-work"].iter().all(|s| {
            log.iter()
                .any(|e| kind(e) == "session-created" && field(e, "session") == Some(s))
        })
    });
    assert!(
        !log.iter()
            .any(|e| field(e, "session") == Some("forged-work")),
        "a folder its named user does not own is not watched"
    );
    // The recorder attached to nobody's server as nobody, not as root.
    let clients = tmux_in(
        &base,
        Some("nobody"),
        &[
            "-L",
            "main",
            "list-clients",
            "-F",
            "#{client_uid} #{client_flags}",
        ],
    );
    let clients = String::from_utf8_lossy(&clients.stdout).into_owned();
    assert!(clients.contains("control-mode"), "{clients}");
    assert!(
        clients.lines().all(|l| l.starts_with("65534 ")),
        "every client of nobody's server is nobody's: {clients}"
    );
    // nobody's pane output is recorded through a spool folder nobody owns.
    let typed = tmux_in(
        &base,
        Some("nobody"),
        &[
            "-L",
            "main",
            "send-keys",
            "-t",
            "guest-work",
            "echo hello-from-$((6*7))",
            "Enter",
        ],
    );
    assert!(typed.status.success());
    wait_for(
        "nobody's output in the store",
        Duration::from_secs(15),
        || {
            let out = cli(&db, &["search", "hello-from-42"]);
            String::from_utf8_lossy(&out.stdout)
                .contains("hello-from-42")
                .then_some(())
        },
        || daemon.stderr(),
    );
    assert!(log
        .iter()
        .any(|e| e["server"] == serde_json::json!(nobody_sock.display().to_string())));
    // nobody owns their spool folder; a link they plant there is never written through by root.
    let key = blake3::hash(nobody_sock.display().to_string().as_bytes()).to_hex();
    let spool = state_of(&db).spool_dir().join(&key.as_str()[..16]);
    let victim = write(&dir, "victim", "root's file\n");
    let planted = std::process::Command::new("setpriv")
        .args([
            "--reuid",
            "nobody",
            "--regid",
            nobody_group(),
            "--clear-groups",
            "ln",
            "-sf",
        ])
        .arg(&victim)
        .arg(spool.join("server"))
        .status()
        .unwrap();
    assert!(planted.success());
    let split = tmux_in(
        &base,
        Some("nobody"),
        &["-L", "main", "split-window", "-d", "-t", "guest-work"],
    );
    assert!(split.status.success());
    wait_for(
        "the new pane piped",
        Duration::from_secs(10),
        || {
            let out = tmux_in(
                &base,
                Some("nobody"),
                &["-L", "main", "list-panes", "-a", "-F", "#{pane_pipe}"],
            );
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            (text.lines().count() == 2 && text.lines().all(|l| l == "1")).then_some(())
        },
        || daemon.stderr(),
    );
    assert_eq!(std::fs::read_to_string(&victim).unwrap(), "root's file\n");
    daemon.stop();
    for sock in [base.join("tmux-0/main"), nobody_sock, fake_sock] {
        let _ = std::process::Command::new("tmux")
            .arg("-S")
            .arg(&sock)
            .arg("kill-server")
            .output();
    }
}

#[test]
fn deny_removes_the_user_from_the_server_and_kicks_them() {
    if !is_root() {
        println!("skipped: a client of another user needs root (CI runs as root)");
        return;
    }
    let (server, mut daemon) = policed("[[rule]]\nname = \"nobody, never\"\nsessions = [\"*\"]\nallow = [\"root\"]\naction = \"deny\"\n", "-a");
    let session = server.first_session_id().to_owned();
    let mut guest = attach_as_nobody(&server, &session);
    wait_kicked(&mut guest, &daemon, "nobody kicked");
    let log = wait_log(&server.db(), "the violation", |log| {
        log.iter().any(|e| kind(e) == "policy-violation")
    });
    let v = log.iter().find(|e| kind(e) == "policy-violation").unwrap();
    assert_eq!(field(v, "action"), Some("deny"), "{v}");
    // Off the access list: tmux refuses the next attach outright.
    wait_for(
        "nobody off the access list",
        Duration::from_secs(10),
        || (!server.tmux(&["server-access", "-l"]).contains("nobody")).then_some(()),
        || server.tmux(&["server-access", "-l"]),
    );
    let out = server
        .command_as("nobody", nobody_group())
        .args(["list-sessions"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("access not allowed"), "{said}");
    daemon.stop();
}

#[test]
fn a_session_renamed_into_a_protected_name_is_judged_again() {
    if !is_root() {
        println!("skipped: a client of another user needs root (CI runs as root)");
        return;
    }
    let (server, mut daemon) = policed(POLICY, "-a");
    let scratch = server.new_session("scratch");
    let mut guest = attach_as_nobody(&server, &scratch);
    server.wait_attached(&guest, &scratch);
    server.tmux(&["rename-session", "-t", &scratch, "prod-2"]);
    wait_kicked(
        &mut guest,
        &daemon,
        "nobody kicked once the session is prod-2",
    );
    let log = wait_log(&server.db(), "the violation", |log| {
        log.iter().any(|e| kind(e) == "policy-violation")
    });
    let v = log.iter().find(|e| kind(e) == "policy-violation").unwrap();
    assert_eq!(field(v, "session"), Some("prod-2"), "{v}");
    daemon.stop();
}

#[test]
fn a_violator_who_names_itself_after_another_client_does_not_get_that_client_kicked() {
    if !is_root() {
        println!("skipped: a client of another user needs root (CI runs as root)");
        return;
    }
    let (server, mut daemon) = policed(POLICY, "-a");
    let dir = server.dir().to_owned();
    let session = server.first_session_id().to_owned();
    let owner = server.attach(&session);
    // nobody's client reports the owner's terminal as its own (ttyname shimmed) and, the first
    // time, the owner's client's pid too; the second time the terminal without `/dev/`, which
    // tmux's `-t` lookup also matches. tmux lists both clients under names the owner's matches.
    let short = owner.tty().trim_start_matches("/dev/").to_owned();
    let disguises = [(owner.tty().to_owned(), Some(owner.pid())), (short, None)];
    for (round, (tty, pid)) in disguises.iter().enumerate() {
        if round > 0 {
            // The round before removed nobody from the server.
            server.tmux(&["server-access", "-a", "nobody"]);
        }
        let getpid = pid.map_or(String::new(), |p| {
            format!("int getpid(void) {{ return {p}; }}\n")
        });
        let disguise = shim(
            &dir,
            &format!("disguise-{round}"),
            &format!("char *ttyname(int fd) {{ (void)fd; return \"{tty}\"; }}\n{getpid}"),
        );
        let mut cmd = server.command_as("nobody", nobody_group());
        cmd.env("LD_PRELOAD", &disguise)
            .args(["attach-session", "-t", &session]);
        let mut guest = PtyClient::spawn(cmd);
        wait_kicked(
            &mut guest,
            &daemon,
            &format!("the impostor as {tty:?} thrown out"),
        );
        let log = wait_log(&server.db(), "the violation", |log| {
            log.iter().filter(|e| kind(e) == "policy-violation").count() > round
        });
        assert!(
            log.iter()
                .any(|e| kind(e) == "client-attached" && field(e, "user") == Some("nobody")),
            "the impostor's attach is recorded, not folded into the owner's"
        );
        let owner_there = server
            .clients()
            .iter()
            .any(|(name, ..)| name == owner.tty());
        assert!(
            owner_there,
            "the owner stays attached ({tty:?}): {:?}",
            server.clients()
        );
        // The name was ambiguous: the violator's user was removed from the server instead.
        assert!(!server.tmux(&["server-access", "-l"]).contains("nobody"));
    }
    drop(owner);
    daemon.stop();
}

#[test]
fn a_tmux_folder_made_again_by_another_user_is_not_trusted_after_a_restart() {
    if !is_root() {
        println!("skipped: --system needs root (CI runs as root)");
        return;
    }
    let (server, base, db) = system_host("");
    let dir = server.dir().to_owned();
    let args = [
        OsStr::new("--system"),
        OsStr::new("--no-commands"),
        OsStr::new("--no-output"),
    ];
    // Root's server is recorded; the daemon stops believing it still runs.
    let started = tmux_in(
        &base,
        None,
        &["-L", "main", "new-session", "-d", "-s", "root-work"],
    );
    assert!(started.status.success());
    let mut daemon = Daemon::spawn_in(&dir, &db, &args);
    daemon.wait_ready("root-work");
    daemon.stop();
    // Root's server and folder go (a /tmp cleaner, a reboot); nobody makes `tmux-0` and a
    // server in it, at the path the log names.
    let _ = tmux_in(&base, None, &["-L", "main", "kill-server"]);
    std::fs::remove_dir_all(base.join("tmux-0")).unwrap();
    let made = std::process::Command::new("setpriv")
        .args([
            "--reuid",
            "nobody",
            "--regid",
            nobody_group(),
            "--clear-groups",
            "mkdir",
            "-m",
            "700",
        ])
        .arg(base.join("tmux-0"))
        .status()
        .unwrap();
    assert!(made.success());
    let sock = base.join("tmux-0/main");
    let fake = tmux_in(
        &base,
        Some("nobody"),
        &[
            "-S",
            sock.to_str().unwrap(),
            "new-session",
            "-d",
            "-s",
            "fake-root",
        ],
    );
    assert!(
        fake.status.success(),
        "{}",
        String::from_utf8_lossy(&fake.stderr)
    );
    let mut again = Daemon::spawn_in(&dir, &db, &args);
    wait_for(
        "the restarted daemon to refuse the remade folder",
        Duration::from_secs(10),
        || again.stderr().contains("not connecting").then_some(()),
        || again.stderr(),
    );
    let clients = tmux_in(
        &base,
        Some("nobody"),
        &[
            "-S",
            sock.to_str().unwrap(),
            "list-clients",
            "-F",
            "#{client_uid}",
        ],
    );
    assert_eq!(
        String::from_utf8_lossy(&clients.stdout).trim(),
        "",
        "no client of root's (or anyone's) on nobody's server"
    );
    again.stop();
    assert!(!log_json(&db)
        .iter()
        .any(|e| field(e, "session") == Some("fake-root")));
    let _ = std::process::Command::new("tmux")
        .arg("-S")
        .arg(&sock)
        .arg("kill-server")
        .output();
}
