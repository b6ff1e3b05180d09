//! A fleet on one machine: a real PostgreSQL (`audit-testpg`), `tmux-audit collector`
//! processes, and hosts — each its own tmux server, daemon, store, token and `host_name`.

use super::*;
use audit_testpg::TestPostgres;
use std::ffi::OsString;
use std::net::Ipv4Addr;
use std::os::unix::fs::PermissionsExt;
use std::sync::atomic::{AtomicU32, Ordering};

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
        Self::start_on(dir, url, ([127, 0, 0, 1], port).into(), &[])
    }

    /// Starts `tmux-audit --db URL collector --listen LISTEN ARGS` (`--tls-cert`, …), and waits
    /// until it listens.
    pub fn start_on(
        dir: &Path,
        url: &str,
        listen: std::net::SocketAddr,
        args: &[&OsStr],
    ) -> CollectorProc {
        let n = (0..)
            .find(|n| !dir.join(format!("collector-{n}.stderr")).exists())
            .unwrap();
        let stderr_path = dir.join(format!("collector-{n}.stderr"));
        let mut cmd = Command::new(bin());
        isolate(&mut cmd, dir);
        cmd.current_dir(dir)
            .args(["--db", url, "collector", "--listen"])
            .arg(listen.to_string())
            .args(args)
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
    /// Its daemon, while running (declared before the server: stopped before the server and
    /// its folder, which holds the store, are gone).
    pub daemon: Option<Daemon>,
    /// Its tmux server (and temp folder).
    pub server: TmuxServer,
    /// What its daemon is run through (`ip netns exec NAME`); none by default.
    pub daemon_via: Vec<OsString>,
    /// Arguments its daemon gets after `-S SOCK --config CFG`.
    pub daemon_args: Vec<OsString>,
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
        let mut host = Host::configured(
            name,
            first_session,
            &format!("http://{collector}"),
            token,
            |_| String::new(),
        );
        host.start_daemon(first_session);
        host
    }

    /// Host `name` with its tmux server and first session, its config shipping to the collector
    /// at `url` with `token` and the sink settings `more(its dir)` returns (`ca_file = …`); its
    /// daemon not started yet.
    pub fn configured(
        name: &str,
        first_session: &str,
        url: &str,
        token: &str,
        more: impl FnOnce(&Path) -> String,
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
                "host_name = {name:?}\n[[sink]]\ntype = \"collector\"\nurl = {url:?}\ntoken_file = {:?}\n{}",
                token_file.display().to_string(),
                more(&dir)
            ),
        )
        .unwrap();
        Host {
            name: name.to_owned(),
            server,
            daemon: None,
            daemon_via: Vec::new(),
            daemon_args: Vec::new(),
            config,
        }
    }

    /// (Re)starts the host's daemon and waits until it is ready.
    pub fn start_daemon(&mut self, known_session: &str) {
        self.spawn_daemon();
        self.daemon.as_ref().unwrap().wait_ready(known_session);
    }

    /// (Re)starts the host's daemon, without waiting.
    pub fn spawn_daemon(&mut self) {
        let sock = self.server.sock().as_os_str().to_owned();
        let mut args = vec![
            OsStr::new("-S"),
            &sock,
            OsStr::new("--config"),
            self.config.as_os_str(),
        ];
        args.extend(self.daemon_args.iter().map(OsString::as_os_str));
        let via: Vec<&OsStr> = self.daemon_via.iter().map(OsString::as_os_str).collect();
        self.daemon = Some(Daemon::spawn_via(
            &via,
            self.server.dir(),
            &self.server.db(),
            &args,
        ));
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

/// `ip ARGS`, which must succeed.
fn ip(args: &[&str]) {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run ip {args:?} (install iproute2): {e}"));
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Network namespaces (and veth pairs) this test process made so far.
static NETNS_MADE: AtomicU32 = AtomicU32::new(0);

/// A network namespace of the test's own, joined to the root namespace by a veth pair:
/// `host_ip`/30 on `host_if` in the root namespace, `peer_ip`/30 inside. Root only. Dropping it
/// deletes the pair and the namespace (only these: they are named by this process's pid).
pub struct Netns {
    /// `ta-PID-N`.
    pub name: String,
    /// The root namespace's end of the pair.
    pub host_if: String,
    /// Its address, where the root namespace is reached from inside.
    pub host_ip: Ipv4Addr,
    /// The address inside the namespace.
    pub peer_ip: Ipv4Addr,
    made_link: bool,
}

impl Netns {
    /// Makes the namespace and its link, up, on a /30 of 10.213.0.0/16 no interface of the
    /// root namespace uses yet (picked from the pid).
    pub fn create() -> Netns {
        let pid = std::process::id();
        let n = NETNS_MADE.fetch_add(1, Ordering::Relaxed);
        // 10.213.X.(4K) for K < 64: 16384 subnets, from the one the pid and N pick on.
        let used = Command::new("ip")
            .args(["-o", "-4", "addr", "show"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let subnet = (0..16384u32)
            .map(|i| (pid.wrapping_mul(64).wrapping_add(n + i)) % 16384)
            .find(|&s| {
                (0..4).all(|j| {
                    let addr = format!("inet 10.213.{}.{}/", s / 64, (s % 64) * 4 + j);
                    !used.contains(&addr)
                })
            })
            .expect("a free /30 in 10.213.0.0/16");
        let base = Ipv4Addr::new(10, 213, (subnet / 64) as u8, ((subnet % 64) * 4) as u8);
        let at = |k: u8| {
            let o = base.octets();
            Ipv4Addr::new(o[0], o[1], o[2], o[3] + k)
        };
        let mut ns = Netns {
            name: format!("ta-{pid}-{n}"),
            host_if: format!("ta{pid}h{n}"),
            host_ip: at(1),
            peer_ip: at(2),
            made_link: false,
        };
        let peer_if = format!("ta{pid}p{n}");
        // The guard exists before anything is made: a failure half-way is cleaned up too.
        ip(&["netns", "add", &ns.name]);
        ip(&[
            "link",
            "add",
            &ns.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &peer_if,
            "netns",
            &ns.name,
        ]);
        ns.made_link = true;
        ip(&[
            "addr",
            "add",
            &format!("{}/30", ns.host_ip),
            "dev",
            &ns.host_if,
        ]);
        ip(&["link", "set", &ns.host_if, "up"]);
        let inside = |args: &[&str]| {
            let mut all = vec!["-n", ns.name.as_str()];
            all.extend(args);
            ip(&all);
        };
        inside(&["link", "set", "lo", "up"]);
        inside(&[
            "addr",
            "add",
            &format!("{}/30", ns.peer_ip),
            "dev",
            &peer_if,
        ]);
        inside(&["link", "set", &peer_if, "up"]);
        ns
    }

    /// What runs a program inside: `ip netns exec NAME` (which execs it in place, same pid).
    pub fn exec(&self) -> Vec<OsString> {
        ["ip", "netns", "exec", &self.name]
            .iter()
            .map(OsString::from)
            .collect()
    }

    /// Cuts the link (the root namespace's end down): nothing passes either way, and no end
    /// is told — connections just stop hearing from each other.
    pub fn cut(&self) {
        ip(&["link", "set", &self.host_if, "down"]);
    }

    /// Brings the link back up.
    pub fn restore(&self) {
        ip(&["link", "set", &self.host_if, "up"]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Deleting one end of a veth pair deletes both; then the (now empty) namespace.
        for args in [
            self.made_link
                .then(|| vec!["link", "del", self.host_if.as_str()]),
            Some(vec!["netns", "del", self.name.as_str()]),
        ]
        .into_iter()
        .flatten()
        {
            let out = Command::new("ip").args(&args).output();
            if !matches!(&out, Ok(o) if o.status.success()) {
                eprintln!("cleanup: ip {args:?}: {out:?}");
            }
        }
    }
}

/// A self-signed P-256 certificate for `ip` (subjectAltName IP:…, one day), made by the
/// `openssl` CLI in `dir`: (certificate PEM, key PEM). `name` names the files.
pub fn self_signed(dir: &Path, name: &str, ip: std::net::IpAddr) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    let out = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=collector",
            "-addext",
        ])
        .arg(format!("subjectAltName=IP:{ip}"))
        // `req -x509` makes a CA by default, which TLS clients refuse as a server's own.
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-days", "1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("run openssl (install it: scripts/test does): {e}"));
    assert!(
        out.status.success(),
        "openssl req: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}
