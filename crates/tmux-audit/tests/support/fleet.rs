//! A fleet on one machine: a real PostgreSQL (`audit-testpg`), `tmux-audit collector`
//! processes, and hosts — each its own tmux server, daemon, store, token and `host_name`.

use super::*;
use audit_testpg::TestPostgres;
use std::os::unix::fs::PermissionsExt;

/// A running `tmux-audit collector`, ended by pid when dropped.
pub struct CollectorProc {
    child: Child,
    stderr_path: PathBuf,
    /// Where it listens.
    pub addr: std::net::SocketAddr,
}

impl CollectorProc {
    /// Starts a collector on 127.0.0.1 (`port` 0: any) into the store at `url`, and waits until
    /// it listens.
    pub fn start(dir: &Path, url: &str, port: u16) -> CollectorProc {
        let n = (0..)
            .find(|n| !dir.join(format!("collector-{n}.stderr")).exists())
            .unwrap();
        let stderr_path = dir.join(format!("collector-{n}.stderr"));
        let mut cmd = Command::new(bin());
        isolate(&mut cmd, dir);
        cmd.current_dir(dir)
            .args(["--db", url, "collector", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(File::create(&stderr_path).expect("create collector stderr"));
        let child = cmd.spawn().expect("spawn tmux-audit collector");
        let addr = wait_for(
            "the collector to listen",
            TIMEOUT,
            || {
                let text = std::fs::read_to_string(&stderr_path).unwrap_or_default();
                let at = text.find("collector listening on ")?;
                text[at + 23..].split_whitespace().next()?.parse().ok()
            },
            || std::fs::read_to_string(&stderr_path).unwrap_or_default(),
        );
        CollectorProc {
            child,
            stderr_path,
            addr,
        }
    }

    /// What it wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// SIGKILL, then reaps it.
    pub fn kill9(&mut self) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for CollectorProc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.kill9();
        }
    }
}

/// A fresh database of its own on the shared test PostgreSQL.
pub fn central_db() -> String {
    TestPostgres::shared()
        .fresh_database()
        .unwrap_or_else(|e| panic!("{e}"))
}

/// `tmux-audit collector enroll NAME`: the token it printed.
pub fn enroll(dir: &Path, url: &str, name: &str) -> String {
    let out = cli_in(dir, &["--db", url, "collector", "enroll", name]);
    assert!(
        out.status.success(),
        "enroll {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// One host of the fleet: a tmux server with its own daemon, store and name, shipping to a
/// collector with its token.
pub struct Host {
    /// Its enrolled name, which is also its `host_name`.
    pub name: String,
    /// Its tmux server (and temp folder).
    pub server: TmuxServer,
    /// Its daemon, while running.
    pub daemon: Option<Daemon>,
    config: PathBuf,
}

impl Host {
    /// Starts host `name` with its first session `first_session`, shipping to `collector`
    /// with `token`, and waits until its daemon is ready.
    pub fn start(
        name: &str,
        first_session: &str,
        collector: std::net::SocketAddr,
        token: &str,
    ) -> Host {
        let server = TmuxServer::start(first_session);
        let dir = server.dir().to_owned();
        let token_file = dir.join("host.token");
        std::fs::write(&token_file, token).unwrap();
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let config = dir.join("config.toml");
        std::fs::write(
            &config,
            format!(
                "host_name = {name:?}\n[[sink]]\ntype = \"collector\"\nurl = \"http://{collector}\"\ntoken_file = {:?}\n",
                token_file.display().to_string()
            ),
        )
        .unwrap();
        let mut host = Host {
            name: name.to_owned(),
            server,
            daemon: None,
            config,
        };
        host.start_daemon(first_session);
        host
    }

    /// (Re)starts the host's daemon and waits until it is ready.
    pub fn start_daemon(&mut self, known_session: &str) {
        let sock = self.server.sock().as_os_str().to_owned();
        let daemon = Daemon::spawn_in(
            self.server.dir(),
            &self.server.db(),
            &[
                OsStr::new("-S"),
                &sock,
                OsStr::new("--config"),
                self.config.as_os_str(),
            ],
        );
        daemon.wait_ready(known_session);
        self.daemon = Some(daemon);
    }

    /// The host's own store.
    pub fn db(&self) -> PathBuf {
        self.server.db()
    }

    /// Waits until the center holds every record of this host's store, identical
    /// (`verify --against`), and returns how many.
    pub fn wait_shipped(&self, url: &str) -> u64 {
        let mut last = String::new();
        let found = poll(Duration::from_secs(30), || {
            let out = cli(
                &self.db(),
                &["verify", "--against", url, "--host", &self.name, "--json"],
            );
            last = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let v: Value = serde_json::from_slice(&out.stdout).ok()?;
            let (local, center) = (v["local_records"].as_u64()?, v["center_records"].as_u64()?);
            assert_eq!(v["status"], "intact", "{v}");
            (local > 0 && local == center).then_some(local)
        });
        found.unwrap_or_else(|| {
            panic!(
                "{}: not all shipped within 30 s: {last}\ndaemon stderr:\n{}",
                self.name,
                self.daemon.as_ref().map(|d| d.stderr()).unwrap_or_default()
            )
        })
    }
}

/// Runs a view on the central store and parses its JSON lines.
pub fn central_json(dir: &Path, url: &str, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["--db", url];
    all.extend(args);
    let out = cli_in(dir, &all);
    assert!(
        out.status.success(),
        "{all:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    parse_json_lines(&out.stdout).unwrap_or_else(|e| panic!("{all:?}: {e}"))
}

/// Rows of a central store's view, without the `host` field it adds to rows that are not
/// records (so that they compare with the host's own view).
pub fn without_host(rows: Vec<Value>) -> Vec<Value> {
    rows.into_iter()
        .map(|mut v| {
            if let Some(map) = v.as_object_mut() {
                map.remove("host");
            }
            v
        })
        .collect()
}
