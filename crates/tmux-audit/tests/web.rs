//! The web UI (`tmux-audit web`) against a real recording: root and `nobody` attached to one
//! session, a session with a hostile name, output to search — served to a real headless
//! Chromium (web/test/ui.mjs) logged in through PAM as local users this test creates, and to
//! plain HTTP requests checked against docs/openapi.json.
//!
//! Needs root (CI runs as root): it creates users and a group (removed when the test ends),
//! and PAM's `pam_unix` reads `/etc/shadow`.

use crate::support::web::{request, Group, LocalUser, WebServer};
use crate::support::*;
use serde_json::Value;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const HOSTILE: &str = "<img src=x onerror=alert(1)>";

/// The repository's root (web/ is there).
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A recorded world: a session `prod` with root and `nobody` attached and a word printed in
/// it, a session with a hostile name, the daemon recording, and a web UI over its store.
struct Scene {
    server: TmuxServer,
    _daemon: Daemon,
    _clients: Vec<PtyClient>,
    prod: String,
    word: String,
    group: Group,
    auditor: LocalUser,
    outsider: LocalUser,
    web: WebServer,
}

impl Scene {
    fn build() -> Scene {
        assert!(
            is_root(),
            "the web UI's tests create local users: run them as root, as CI does"
        );
        let server = TmuxServer::start("prod");
        let prod = server.first_session_id().to_owned();
        let daemon = Daemon::start_ready(&server, "prod");
        server.open_socket_to_everyone();
        server.tmux(&["server-access", "-a", "nobody"]);
        server.new_session(HOSTILE);
        let owner = server.attach(&prod);
        let mut guest_cmd = server.command_as("nobody", nobody_group());
        guest_cmd.args(["attach-session", "-t", &prod]);
        let guest = PtyClient::spawn(guest_cmd);
        server.wait_attached(&guest, &prod);
        server.wait_prompt(&prod);
        let word = format!("needle{}", std::process::id());
        server.tmux(&[
            "send-keys",
            "-t",
            &prod,
            &format!("echo {word}; ls /"),
            "Enter",
        ]);
        wait_log(&server.db(), "the ls run in prod", |log| {
            log.iter()
                .any(|e| kind(e) == "command" && field(e, "session_id") == Some(&prod))
        });
        let group = Group::create();
        let auditor = LocalUser::create(&[&group]);
        let outsider = LocalUser::create(&[]);
        let web = WebServer::start(server.dir(), server.db(), &group);
        Scene {
            server,
            _daemon: daemon,
            _clients: vec![owner, guest],
            prod,
            word,
            group,
            auditor,
            outsider,
            web,
        }
    }

    fn pane(&self) -> String {
        self.server
            .display(&self.prod, "#{pane_id}")
            .trim()
            .to_owned()
    }
}

#[test]
fn the_browser_ui_shows_sessions_replay_search_live_and_integrity() {
    let scene = Scene::build();
    let shots = repo().join("target/web-shots");
    let mark = format!("livemark{}", std::process::id());
    let mut node = Command::new("node")
        .arg("web/test/ui.mjs")
        .current_dir(repo())
        .env("BASE_URL", &scene.web.base)
        .env("AUDIT_USER", &scene.auditor.name)
        .env("AUDIT_PASSWORD", &scene.auditor.password)
        .env("OUTSIDER_USER", &scene.outsider.name)
        .env("OUTSIDER_PASSWORD", &scene.outsider.password)
        .env("SHOTS", &shots)
        .env("EXPECT_SESSION", "prod")
        .env("EXPECT_USERS", "root,nobody")
        .env("HOSTILE_SESSION", HOSTILE)
        .env("SEARCH_WORD", &scene.word)
        .env("LIVE_MARK", &mark)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run node (scripts/test installs it, and web/node_modules with npm ci)");
    let (tx, rx) = mpsc::channel();
    let out = BufReader::new(node.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(target) = line.strip_prefix("READY-LIVE ") {
                    let pane = target.rsplit('|').next().unwrap_or_default().to_owned();
                    scene.server.tmux(&[
                        "send-keys",
                        "-t",
                        &pane,
                        &format!("echo {mark}"),
                        "Enter",
                    ]);
                }
                lines.push(line);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = node.kill();
                break;
            }
        }
    }
    let status = node.wait().unwrap();
    let mut err = String::new();
    let _ = std::io::Read::read_to_string(&mut node.stderr.take().unwrap(), &mut err);
    let out = lines.join("\n");
    let oks = lines.iter().filter(|l| l.starts_with("ok ")).count();
    assert!(
        status.success() && oks >= 10 && !out.contains("not ok"),
        "ui.mjs: {status}\n{out}\n{err}\nweb UI's stderr:\n{}",
        scene.web.stderr()
    );

    // Every login and view of recorded content is in the chain, by the web UI, naming who.
    let access: Vec<Value> = cli_json(
        &scene.server.db(),
        &["log", "--json", "--kind", "audit-access"],
    );
    let by_web = |view: &str, user: &str| {
        access.iter().any(|e| {
            field(e, "view") == Some(view)
                && field(e, "recorded_by") == Some("web")
                && field(e, "user") == Some(user)
                && field(e, "origin") == Some("127.0.0.1")
        })
    };
    let auditor = scene.auditor.name.as_str();
    for view in ["web-login", "replay", "search", "replay-follow"] {
        assert!(
            by_web(view, auditor),
            "no {view} by {auditor} recorded by web: {access:#?}"
        );
    }
    assert!(
        by_web("web-login-refused", &scene.outsider.name),
        "the outsider's refused login is not recorded: {access:#?}"
    );
    assert!(
        access.iter().any(|e| field(e, "view") == Some("search")
            && field(e, "query") == Some(scene.word.as_str())),
        "the search's pattern is not recorded: {access:#?}"
    );
}

#[test]
fn every_api_answer_matches_the_openapi_document() {
    let scene = Scene::build();
    let doc: Value =
        serde_json::from_str(&std::fs::read_to_string(repo().join("docs/openapi.json")).unwrap())
            .unwrap();
    let web = &scene.web;
    let login = web.login(&scene.auditor);
    let sock = scene.server.sock_str();
    let q = |s: &str| {
        s.replace('%', "%25")
            .replace('$', "%24")
            .replace('/', "%2F")
    };
    let pane = scene.pane();
    let (server, pane) = (q(&sock), q(&pane));
    let id = q(&scene.prod);
    let gets = [
        ("/api/me", String::new()),
        ("/api/sessions", "limit=10&sort=attached".into()),
        ("/api/session", format!("server={server}&id={id}")),
        ("/api/who", "at=1m".into()),
        ("/api/now", String::new()),
        ("/api/log", "limit=20&kind=client-attached,command".into()),
        ("/api/commands", "session=prod".into()),
        ("/api/search", format!("q={}", scene.word)),
        ("/api/verify", String::new()),
        ("/api/pane", format!("server={server}&pane={pane}")),
        ("/api/live", format!("server={server}&pane={pane}")),
    ];
    let mut failures = Vec::new();
    for (path, query) in &gets {
        let answer = web.get(&login, &format!("{path}?{query}"));
        if answer.status != 200 {
            failures.push(format!(
                "{path}?{query}: {} {}",
                answer.status,
                answer.text()
            ));
            continue;
        }
        let schema =
            &doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"];
        assert!(
            schema.is_object(),
            "{path}: no 200 JSON schema in openapi.json"
        );
        let wrapped = serde_json::json!({"components": doc["components"], "allOf": [schema]});
        let validator = jsonschema::validator_for(&wrapped)
            .unwrap_or_else(|e| panic!("{path}: the schema does not compile: {e}"));
        let value = answer.json();
        for e in validator.iter_errors(&value) {
            failures.push(format!("{path}?{query}: {e} at {}", e.instance_path));
        }
        if path == &"/api/session" {
            let lanes: Vec<&str> = value["lanes"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|l| l["user"].as_str())
                .collect();
            assert!(
                lanes.contains(&"root") && lanes.contains(&"nobody"),
                "lanes: {lanes:?}"
            );
        }
    }
    // The player's piece is asciicast v2 (its first event draws the screen); an export comes
    // as a download named for the pane.
    let cast = web.get(
        &login,
        &format!("/api/cast?server={server}&pane={pane}&from=0"),
    );
    assert_eq!(cast.status, 200, "{}", cast.text());
    let header: Value = serde_json::from_str(cast.text().lines().next().unwrap()).unwrap();
    assert_eq!(header["version"], 2, "{}", cast.text());
    let text = web.get(
        &login,
        &format!("/api/export?server={server}&pane={pane}&format=txt"),
    );
    assert_eq!(text.status, 200, "{}", text.text());
    assert!(text
        .header("content-disposition")
        .is_some_and(|d| d.starts_with("attachment")));
    assert!(text.text().contains(&scene.word), "{}", text.text());
    assert!(
        failures.is_empty(),
        "answers that do not match docs/openapi.json:\n{}",
        failures.join("\n")
    );
}

#[test]
fn logins_are_checked_limited_and_csrf_protected() {
    let scene = Scene::build();
    let web = &scene.web;
    let login_as = |user: &str, password: &str| {
        let body = serde_json::json!({"user": user, "password": password}).to_string();
        web.request(
            "POST",
            "/api/login",
            &[("content-type", "application/json")],
            &body,
        )
    };

    // Pages: / sends a stranger to the login; the API answers 401; hardening headers on all.
    let root = web.request("GET", "/", &[], "");
    assert_eq!(root.status, 303);
    assert_eq!(root.header("location"), Some("/login"));
    let csp = root.header("content-security-policy").unwrap_or_default();
    assert!(
        csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"),
        "{csp}"
    );
    assert_eq!(root.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(web.request("GET", "/api/sessions", &[], "").status, 401);
    assert_eq!(web.request("GET", "/assets/app.js", &[], "").status, 401);
    assert_eq!(web.request("GET", "/assets/login.js", &[], "").status, 200);
    for hostile in [
        "/assets/../../etc/passwd",
        "/assets/%2e%2e/%2e%2e/etc/passwd",
        "/../etc/passwd",
    ] {
        let a = request(&web.addr, "GET", hostile, &[], "");
        assert!(matches!(a.status, 401 | 404), "{hostile}: {}", a.status);
        assert!(
            !a.text().contains("root:"),
            "{hostile} served a file: {}",
            a.text()
        );
    }

    // The outsider knows their password but is not an auditor.
    let refused = login_as(&scene.outsider.name, &scene.outsider.password);
    assert_eq!(refused.status, 403, "{}", refused.text());
    assert!(
        refused.text().contains(&scene.group.name),
        "{}",
        refused.text()
    );

    // The auditor: a cookie scripts cannot read, sent to no other site.
    let ok = login_as(&scene.auditor.name, &scene.auditor.password);
    assert_eq!(ok.status, 200, "{}", ok.text());
    let cookie = ok.header("set-cookie").unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let login = web.login(&scene.auditor);
    let me = web.get(&login, "/api/me").json();
    assert_eq!(me["user"], scene.auditor.name.as_str());
    let page = web.get(&login, "/");
    assert_eq!(page.status, 200);
    assert!(page
        .header("content-type")
        .unwrap_or_default()
        .starts_with("text/html"));

    // A POST without the CSRF token is refused; with it, logout ends the login.
    let bare = web.request("POST", "/api/logout", &[("cookie", &login.cookie)], "{}");
    assert_eq!(bare.status, 403, "{}", bare.text());
    assert_eq!(
        web.get(&login, "/api/me").status,
        200,
        "a refused logout ended the login"
    );
    let out = web.request(
        "POST",
        "/api/logout",
        &[("cookie", &login.cookie), ("x-csrf-token", &login.csrf)],
        "{}",
    );
    assert_eq!(out.status, 200, "{}", out.text());
    assert_eq!(
        web.get(&login, "/api/me").status,
        401,
        "the login outlived its logout"
    );

    // Wrong passwords: 401 each, then 429 with Retry-After without asking PAM — also for the
    // right password, from this address.
    for n in 1..=5 {
        let wrong = login_as(&scene.auditor.name, "not the password");
        assert_eq!(wrong.status, 401, "try {n}: {}", wrong.text());
        assert!(wrong.text().contains("wrong user or password"));
    }
    let limited = login_as(&scene.auditor.name, &scene.auditor.password);
    assert_eq!(limited.status, 429, "{}", limited.text());
    let wait: u64 = limited
        .header("retry-after")
        .and_then(|s| s.parse().ok())
        .expect("Retry-After");
    assert!((1..=600).contains(&wait), "Retry-After {wait}");

    let access = cli_json(
        &scene.server.db(),
        &["log", "--json", "--kind", "audit-access"],
    );
    let failed = access
        .iter()
        .filter(|e| {
            field(e, "view") == Some("web-login-failed") && field(e, "recorded_by") == Some("web")
        })
        .count();
    assert_eq!(failed, 5, "each failed login is recorded once: {access:#?}");
}

#[test]
fn over_tls_the_cookie_is_secure_and_plain_http_is_refused_off_loopback() {
    assert!(
        is_root(),
        "the web UI's tests create local users: run them as root, as CI does"
    );
    let server = TmuxServer::start("work");
    let _daemon = Daemon::start_ready(&server, "work");
    let group = Group::create();
    let auditor = LocalUser::create(&[&group]);
    let refused = |args: &[&str]| {
        let out = Command::new(bin())
            .arg("--db")
            .arg(server.db())
            .arg("web")
            .args(args)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?} started");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    // Plain HTTP where others can reach it: refused at start, saying what to do.
    let err = refused(&["--listen", "0.0.0.0:0", "--auditors-group", &group.name]);
    assert!(
        err.contains("refusing to serve plain HTTP") && err.contains("--tls-cert"),
        "{err}"
    );
    // A group that does not exist: nobody could log in, so it does not start.
    let err = refused(&[
        "--listen",
        "127.0.0.1:0",
        "--auditors-group",
        "no-such-group-ta",
    ]);
    assert!(
        err.contains("no-such-group-ta") && err.contains("groupadd"),
        "{err}"
    );

    let (cert, key) = fleet::self_signed(server.dir(), "web", "127.0.0.1".parse().unwrap());
    let tls_args = [
        OsStr::new("--tls-cert"),
        cert.as_os_str(),
        OsStr::new("--tls-key"),
        key.as_os_str(),
    ];
    let web = WebServer::start_with(server.dir(), server.db(), &group, &tls_args);
    assert!(
        web.stderr().contains("web UI on https://"),
        "{}",
        web.stderr()
    );
    let body = serde_json::json!({"user": auditor.name, "password": auditor.password}).to_string();
    let request = format!(
        "POST /api/login HTTP/1.1\r\nhost: {}\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        web.addr,
        body.len()
    );
    let mut tls = Command::new("openssl")
        .args(["s_client", "-quiet", "-connect", &web.addr])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("run openssl s_client (scripts/test installs openssl)");
    let mut stdin = tls.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, request.as_bytes()).unwrap();
    // s_client ends when the server closes after its answer (connection: close); stdin stays
    // open until then, or it would quit before reading the answer.
    let answer = tls.wait_with_output().unwrap();
    drop(stdin);
    let answer = String::from_utf8_lossy(&answer.stdout).to_lowercase();
    assert!(
        answer.starts_with("http/1.1 200"),
        "{answer}\n{}",
        web.stderr()
    );
    let cookie = answer
        .lines()
        .find(|l| l.starts_with("set-cookie:"))
        .unwrap_or_default();
    assert!(
        cookie.contains("secure") && cookie.contains("httponly"),
        "{cookie}"
    );
    assert!(answer.contains("strict-transport-security:"), "{answer}");
    // Plain HTTP to the TLS port is not served.
    let plain = std::net::TcpStream::connect(&web.addr).and_then(|mut s| {
        std::io::Write::write_all(&mut s, b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")?;
        s.set_read_timeout(Some(Duration::from_secs(15)))?;
        let mut buf = Vec::new();
        let _ = std::io::Read::read_to_end(&mut s, &mut buf);
        Ok(buf)
    });
    let plain = String::from_utf8_lossy(&plain.unwrap_or_default()).into_owned();
    assert!(
        !plain.contains("303") && !plain.contains("location:"),
        "{plain}"
    );
}

#[test]
fn on_a_central_store_hosts_are_shown_and_a_view_that_cannot_be_recorded_is_refused() {
    assert!(
        is_root(),
        "the web UI's tests create local users: run them as root, as CI does"
    );
    let url = fleet::central_db();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let token = fleet::enroll(d, &url, "web-1");
    let collector = fleet::CollectorProc::start(d, &url, 0);
    let host = fleet::Host::start("web-1", "prod", collector.addr, &token);
    let id = host.server.first_session_id().to_owned();
    host.server
        .wait_piped(&format!("{id}:0.0"), host.daemon.as_ref().unwrap());
    let word = format!("centralword{}", std::process::id());
    host.server
        .tmux(&["send-keys", "-t", &id, &format!("echo {word}"), "Enter"]);
    let _client = host.server.attach(&id);
    // The host's own search has its daemon commit the output; then it is shipped.
    wait_for(
        "the word in the host's own search",
        TIMEOUT,
        || {
            let hits = cli_json(&host.db(), &["search", &word, "--json"]);
            hits.iter().any(|v| v["hit"] == "output").then_some(())
        },
        String::new,
    );
    host.wait_shipped(&url);

    let group = Group::create();
    let auditor = LocalUser::create(&[&group]);
    let web = WebServer::start(d, &url, &group);
    let login = web.login(&auditor);
    let me = web.get(&login, "/api/me").json();
    assert_eq!(me["central"], true, "{me}");
    assert_eq!(me["hosts"], serde_json::json!(["web-1"]), "{me}");
    let sessions = web.get(&login, "/api/sessions").json();
    let rows = sessions["rows"].as_array().unwrap();
    assert!(
        rows.iter()
            .any(|r| r["host"] == "web-1" && r["session"] == "prod"),
        "{sessions}"
    );
    let hits = web
        .get(&login, &format!("/api/search?q={word}&host=web-1"))
        .json();
    assert!(
        hits["rows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|h| h["hit"] == "output" && h["host"] == "web-1"),
        "{hits}"
    );
    let unknown = web.get(&login, "/api/sessions?host=web-9");
    assert_eq!(unknown.status, 404, "{}", unknown.text());
    // The views are recorded in the center's own chain, never in the host's.
    let center = fleet::central_json(
        d,
        &url,
        &[
            "log",
            "--json",
            "--host",
            "@center",
            "--kind",
            "audit-access",
        ],
    );
    assert!(
        center.iter().any(|e| field(e, "view") == Some("search")
            && field(e, "user") == Some(auditor.name.as_str())
            && field(e, "recorded_by") == Some("web")),
        "{center:#?}"
    );
    let shipped = fleet::central_json(
        d,
        &url,
        &["log", "--json", "--host", "web-1", "--kind", "audit-access"],
    );
    assert!(
        !shipped
            .iter()
            .any(|e| field(e, "recorded_by") == Some("web")),
        "a web view in the host's chain: {shipped:#?}"
    );

    // A web UI that may read the store but not write it: nobody gets in, so nothing is viewed
    // unrecorded; it says why.
    let reader = format!("tareader{}", std::process::id());
    let pg = audit_testpg::TestPostgres::shared();
    pg.execute(
        &url,
        &format!("CREATE ROLE {reader} LOGIN; GRANT USAGE ON SCHEMA public TO {reader}; GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader};"),
    )
    .unwrap();
    let read_only = url.replacen("postgres://postgres@", &format!("postgres://{reader}@"), 1);
    let blind = WebServer::start(d, &read_only, &group);
    let body = serde_json::json!({"user": auditor.name, "password": auditor.password}).to_string();
    let refused = blind.request(
        "POST",
        "/api/login",
        &[("content-type", "application/json")],
        &body,
    );
    assert_eq!(
        refused.status,
        503,
        "{}\n{}",
        refused.text(),
        blind.stderr()
    );
    assert!(
        refused.text().contains("could not be recorded"),
        "{}",
        refused.text()
    );
    assert!(
        refused.header("set-cookie").is_none(),
        "a login that was not recorded got a cookie"
    );
}
