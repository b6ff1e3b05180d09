//! The web UI's test harness: local users and a group made for the test (and removed after),
//! `tmux-audit web` run on a free loopback port, and a plain HTTP/1.1 client that sends exactly
//! the bytes it is given (no path normalization, no cookie jar of its own).

use super::{bin, isolate, poll, TIMEOUT};
use serde_json::Value;
use std::ffi::OsStr;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A name unique to this test process and call: users and groups of two tests never clash.
fn unique(kind: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("ta{kind}{}x{n}", std::process::id() % 100_000)
}

/// Held around every change of the user and group files: the shadow tools (useradd, chpasswd,
/// groupdel…) fail instead of waiting when a parallel test's call holds their lock.
static ACCOUNTS: Mutex<()> = Mutex::new(());

fn accounts() -> std::sync::MutexGuard<'static, ()> {
    ACCOUNTS.lock().unwrap_or_else(|e| e.into_inner())
}

fn run(program: &str, args: &[&str], stdin: Option<&str>) {
    let _held = accounts();
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("run {program}: {e}"));
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A local group, deleted on drop.
pub struct Group {
    pub name: String,
}

impl Group {
    pub fn create() -> Group {
        let name = unique("g");
        run("groupadd", &[&name], None);
        Group { name }
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        let _held = accounts();
        let _ = Command::new("groupdel").arg(&self.name).output();
    }
}

/// A local user with a password (no home, no shell), in `groups`; deleted on drop.
pub struct LocalUser {
    pub name: String,
    pub password: String,
}

impl LocalUser {
    pub fn create(groups: &[&Group]) -> LocalUser {
        let name = unique("u");
        let mut args = vec!["-M", "-N", "-s", "/usr/sbin/nologin"];
        let list = groups
            .iter()
            .map(|g| g.name.as_str())
            .collect::<Vec<_>>()
            .join(",");
        if !list.is_empty() {
            args.extend(["-G", &list]);
        }
        args.push(&name);
        run("useradd", &args, None);
        let password = format!("pw-{name}-{}", std::process::id());
        run("chpasswd", &[], Some(&format!("{name}:{password}\n")));
        LocalUser { name, password }
    }
}

impl Drop for LocalUser {
    fn drop(&mut self) {
        let _held = accounts();
        let _ = Command::new("userdel").arg(&self.name).output();
    }
}

/// `tmux-audit --db DB web --listen 127.0.0.1:0 --auditors-group G`, killed by pid on drop.
pub struct WebServer {
    child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    stderr: Arc<Mutex<String>>,
}

impl WebServer {
    pub fn start(dir: &Path, db: impl AsRef<OsStr>, group: &Group) -> WebServer {
        Self::start_with(dir, db, group, &[])
    }

    /// With more options (`--tls-cert`…); it must still listen on 127.0.0.1:0.
    pub fn start_with(
        dir: &Path,
        db: impl AsRef<OsStr>,
        group: &Group,
        more: &[&OsStr],
    ) -> WebServer {
        let mut cmd = Command::new(bin());
        isolate(&mut cmd, dir);
        let mut child = cmd
            .current_dir(dir)
            .arg("--db")
            .arg(db.as_ref())
            .args([
                "web",
                "--listen",
                "127.0.0.1:0",
                "--auditors-group",
                &group.name,
            ])
            .args(more)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tmux-audit web");
        let stderr = Arc::new(Mutex::new(String::new()));
        let lines = BufReader::new(child.stderr.take().unwrap());
        let kept = stderr.clone();
        std::thread::spawn(move || {
            for line in lines.lines().map_while(Result::ok) {
                let mut s = kept.lock().unwrap();
                s.push_str(&line);
                s.push('\n');
            }
        });
        let addr = poll(TIMEOUT, || {
            let text = stderr.lock().unwrap().clone();
            let at = text.find("web UI on http")?;
            let rest = text[at..].split_once("://")?.1;
            Some(rest.split_whitespace().next()?.to_owned())
        });
        let Some(addr) = addr else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "tmux-audit web did not say where it listens: {}",
                stderr.lock().unwrap()
            );
        };
        WebServer {
            child,
            base: format!("http://{addr}"),
            addr,
            stderr,
        }
    }

    /// What it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    /// One request, on a connection of its own.
    pub fn request(
        &self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Answer {
        request(&self.addr, method, target, headers, body)
    }

    /// Logs `user` in: the cookie header value and the CSRF token.
    pub fn login(&self, user: &LocalUser) -> Login {
        let body = serde_json::json!({"user": user.name, "password": user.password}).to_string();
        let a = self.request(
            "POST",
            "/api/login",
            &[("content-type", "application/json")],
            &body,
        );
        assert_eq!(a.status, 200, "login of {}: {}", user.name, a.text());
        let cookie = a
            .header("set-cookie")
            .and_then(|c| c.split(';').next())
            .expect("a login cookie")
            .to_owned();
        let csrf = a.json()["csrf"].as_str().expect("a csrf token").to_owned();
        Login { cookie, csrf }
    }

    /// GET `target` with a login: the answer.
    pub fn get(&self, login: &Login, target: &str) -> Answer {
        self.request("GET", target, &[("cookie", &login.cookie)], "")
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A logged-in browser's credentials.
pub struct Login {
    /// `tmux_audit_session=…`.
    pub cookie: String,
    pub csrf: String,
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// Sends `method target` with `headers` and `body` to `addr` over a fresh connection, and reads
/// the whole answer (the server closes after it: `Connection: close`).
pub fn request(
    addr: &str,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Answer {
    let mut stream = TcpStream::connect(addr).expect("connect to the web UI");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    let mut head = format!(
        "{method} {target} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    stream.write_all(body.as_bytes()).unwrap();
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).expect("read the answer");
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(&raw)));
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = unchunk(&body);
    }
    Answer {
        status,
        headers,
        body,
    }
}

fn unchunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&data[..end]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[end + 2..end + 2 + size]);
        data = &data[end + 2 + size + 2..];
    }
    out
}
