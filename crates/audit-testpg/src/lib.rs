//! A throwaway PostgreSQL server for tests: its own cluster in a fresh temporary folder,
//! listening on a free port of 127.0.0.1 and on a socket inside that folder, so a test never
//! meets (or stops) any other cluster on the machine.
//!
//! ```no_run
//! let mut pg = audit_testpg::TestPostgres::start().unwrap();
//! let url = pg.create_database("t_1").unwrap(); // postgres://postgres@127.0.0.1:PORT/t_1
//! pg.stop().unwrap(); // a server going away mid-stream
//! pg.start_again().unwrap(); // the same data, the same port
//! // Dropping `pg` stops the server (immediate shutdown) and removes its folder.
//! ```
//!
//! [`TestPostgres::shared`] is one server for a whole test binary (started on first use,
//! stopped and removed when the process exits): each test then creates its own database
//! ([`TestPostgres::create_database`], or [`TestPostgres::fresh_database`]) and stays
//! independent of the others running beside it. A test that stops the server starts its own.
//!
//! Run as root, the folder is given to the user `postgres` and every PostgreSQL program runs
//! as that user (the server refuses to run as root). The binaries come from `$TESTPG_BIN`,
//! else `/usr/lib/postgresql/15/bin`, else `pg_config --bindir`. Durability is switched off
//! (`fsync`, `full_page_writes`): the cluster lives as long as one test binary.
#![deny(missing_docs)]

use std::fs::OpenOptions;
use std::io::Write;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use thiserror::Error;

/// How long `pg_ctl` may wait for the server to start or stop.
const WAIT_SECS: &str = "60";

/// Why the test server could not be had.
#[derive(Debug, Error)]
pub enum Error {
    /// No PostgreSQL binaries were found.
    #[error("no PostgreSQL binaries (initdb) found in $TESTPG_BIN, /usr/lib/postgresql/15/bin or `pg_config --bindir`: run scripts/test as root once, or apt-get install postgresql-15")]
    NoBinaries,
    /// A file or process operation failed.
    #[error("test PostgreSQL: {what}: {error}")]
    Io {
        /// What was being done.
        what: String,
        /// Why it failed.
        error: std::io::Error,
    },
    /// A PostgreSQL program failed.
    #[error("test PostgreSQL: `{command}` failed ({status}): {output}")]
    Command {
        /// The program and its arguments.
        command: String,
        /// Its exit status.
        status: String,
        /// What it printed (and the server log's tail, for `pg_ctl start`).
        output: String,
    },
    /// A SQL statement against the test server failed.
    #[error("test PostgreSQL: {0}")]
    Sql(#[from] postgres::Error),
}

/// A running (or stopped, between [`stop`](TestPostgres::stop) and
/// [`start_again`](TestPostgres::start_again)) throwaway cluster.
pub struct TestPostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    port: u16,
    /// `Some((uid, gid))` of `postgres` when we run as root.
    run_as: Option<(u32, u32)>,
    running: bool,
}

impl std::fmt::Debug for TestPostgres {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestPostgres")
            .field("data", &self.data_dir())
            .field("port", &self.port)
            .field("running", &self.running)
            .finish()
    }
}

impl TestPostgres {
    /// Creates a cluster in a fresh temporary folder and starts it.
    pub fn start() -> Result<TestPostgres, Error> {
        let bin = find_bin().ok_or(Error::NoBinaries)?;
        let dir = tempfile::Builder::new()
            .prefix("audit-testpg-")
            .tempdir()
            .map_err(io("create a temporary folder"))?;
        let run_as = if nix::unistd::geteuid().is_root() {
            let user = nix::unistd::User::from_name("postgres")
                .ok()
                .flatten()
                .ok_or_else(|| Error::Io {
                    what: "find the user postgres (the server refuses to run as root)".into(),
                    error: std::io::ErrorKind::NotFound.into(),
                })?;
            let ids = (user.uid.as_raw(), user.gid.as_raw());
            std::os::unix::fs::chown(dir.path(), Some(ids.0), Some(ids.1))
                .map_err(io("give the folder to postgres"))?;
            Some(ids)
        } else {
            None
        };
        let mut pg = TestPostgres {
            dir,
            bin,
            port: 0,
            run_as,
            running: false,
        };
        pg.init()?;
        // A port is free when we bind it, not necessarily when the server does: retry a few.
        let mut last = None;
        for _ in 0..5 {
            pg.port = free_port()?;
            pg.write_port()?;
            match pg.start_again() {
                Ok(()) => return Ok(pg),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or(Error::NoBinaries))
    }

    /// The one server of this test binary, started on first use and stopped (its folder
    /// removed) when the process exits. Panics when it cannot start: tests need it.
    pub fn shared() -> &'static TestPostgres {
        SHARED.get_or_init(|| {
            let pg = TestPostgres::start().unwrap_or_else(|e| panic!("{e}"));
            // SAFETY: registers a plain function without arguments; it only reads the static.
            unsafe { libc::atexit(stop_shared) };
            pg
        })
    }

    /// Creates a database of its own for one test (`t_PID_N`) and returns its URL.
    pub fn fresh_database(&self) -> Result<String, Error> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        self.create_database(&format!("t_{}_{n}", std::process::id()))
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of the `postgres` database, as the superuser `postgres` (trusted on loopback).
    pub fn url(&self) -> String {
        self.url_of("postgres")
    }

    /// The URL of database `name` on this server.
    pub fn url_of(&self, name: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Creates database `name` (a plain identifier) and returns its URL.
    pub fn create_database(&self, name: &str) -> Result<String, Error> {
        let mut client = postgres::Client::connect(&self.url(), postgres::NoTls)?;
        client.batch_execute(&format!(
            "CREATE DATABASE \"{}\"",
            name.replace('"', "\"\"")
        ))?;
        Ok(self.url_of(name))
    }

    /// Runs `sql` (statements separated by `;`) in the database at `url`, as its user.
    pub fn execute(&self, url: &str, sql: &str) -> Result<(), Error> {
        let mut client = postgres::Client::connect(url, postgres::NoTls)?;
        client.batch_execute(sql)?;
        Ok(())
    }

    /// Stops the server (`pg_ctl stop -m fast`); the data stays for
    /// [`start_again`](TestPostgres::start_again).
    pub fn stop(&mut self) -> Result<(), Error> {
        if self.running {
            self.pg_ctl(&["stop", "-w", "-t", WAIT_SECS, "-m", "fast"])?;
            self.running = false;
        }
        Ok(())
    }

    /// Starts the server again on the same data folder and port, waiting until it accepts
    /// connections (bounded: `pg_ctl -w -t 60`).
    pub fn start_again(&mut self) -> Result<(), Error> {
        if self.running {
            return Ok(());
        }
        let log = self.dir.path().join("server.log");
        let log_arg = log.to_string_lossy().into_owned();
        match self.pg_ctl(&["start", "-w", "-t", WAIT_SECS, "-l", &log_arg]) {
            Ok(_) => {
                self.running = true;
                Ok(())
            }
            Err(Error::Command {
                command,
                status,
                output,
            }) => {
                let tail = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: String = tail.lines().rev().take(10).collect::<Vec<_>>().join(" | ");
                Err(Error::Command {
                    command,
                    status,
                    output: format!("{output} (server log, last lines first: {tail})"),
                })
            }
            Err(e) => Err(e),
        }
    }

    /// The cluster's data folder.
    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn init(&self) -> Result<(), Error> {
        let data = self.data_dir();
        let data_arg = data.to_string_lossy().into_owned();
        self.run(
            "initdb",
            &[
                "-D",
                &data_arg,
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        )?;
        let sockets = self.dir.path().to_string_lossy().into_owned();
        let settings = format!(
            "\n# audit-testpg\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{sockets}'\n\
             fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n\
             shared_buffers = 16MB\nmax_connections = 200\nlog_min_messages = warning\n"
        );
        self.append_conf(&settings)
    }

    fn write_port(&self) -> Result<(), Error> {
        // The last setting in the file wins, so a retried port simply overrides the one before.
        self.append_conf(&format!("port = {}\n", self.port))
    }

    fn append_conf(&self, text: &str) -> Result<(), Error> {
        OpenOptions::new()
            .append(true)
            .open(self.data_dir().join("postgresql.conf"))
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(io("write postgresql.conf"))
    }

    fn pg_ctl(&self, args: &[&str]) -> Result<Output, Error> {
        let data = self.data_dir().to_string_lossy().into_owned();
        let mut all = vec!["-D", &data];
        all.extend_from_slice(args);
        self.run("pg_ctl", &all)
    }

    /// Runs a PostgreSQL program from the binaries folder, as `postgres` when we are root.
    fn run(&self, program: &str, args: &[&str]) -> Result<Output, Error> {
        let exe = self.bin.join(program);
        let mut command = match self.run_as {
            Some(_) => {
                let mut c = Command::new("setpriv");
                c.args(["--reuid=postgres", "--regid=postgres", "--init-groups"]);
                c.arg(&exe);
                c
            }
            None => Command::new(&exe),
        };
        // The server must be able to enter its working folder, whoever it runs as.
        command.args(args).current_dir(self.dir.path());
        let shown = format!("{} {}", exe.display(), args.join(" "));
        let output = command.output().map_err(io(&format!("run {shown}")))?;
        if output.status.success() {
            Ok(output)
        } else {
            Err(Error::Command {
                command: shown,
                status: output.status.to_string(),
                output: format!(
                    "{}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                ),
            })
        }
    }
}

impl Drop for TestPostgres {
    /// Stops this cluster's server only (its own data folder), without waiting for clients.
    fn drop(&mut self) {
        if self.running {
            let _ = self.pg_ctl(&["stop", "-w", "-t", WAIT_SECS, "-m", "immediate"]);
        }
    }
}

static SHARED: OnceLock<TestPostgres> = OnceLock::new();

/// At exit: stops the shared server (statics are never dropped) and removes its folder.
extern "C" fn stop_shared() {
    if let Some(pg) = SHARED.get() {
        if pg.running {
            let _ = pg.pg_ctl(&["stop", "-w", "-t", WAIT_SECS, "-m", "immediate"]);
        }
        let _ = std::fs::remove_dir_all(pg.dir.path());
    }
}

fn io(what: &str) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |error| Error::Io {
        what: what.to_owned(),
        error,
    }
}

/// A port of 127.0.0.1 nobody listens on now (the kernel picks it).
fn free_port() -> Result<u16, Error> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(io("pick a free port"))
}

fn find_bin() -> Option<PathBuf> {
    let has_initdb = |dir: &Path| dir.join("initdb").is_file();
    if let Some(dir) = std::env::var_os("TESTPG_BIN").map(PathBuf::from) {
        return has_initdb(&dir).then_some(dir);
    }
    let debian = PathBuf::from("/usr/lib/postgresql/15/bin");
    if has_initdb(&debian) {
        return Some(debian);
    }
    let out = Command::new("pg_config").arg("--bindir").output().ok()?;
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    has_initdb(&dir).then_some(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cluster_starts_serves_stops_and_starts_again_with_its_data() {
        let mut pg = TestPostgres::start().unwrap();
        let url = pg.create_database("t_one").unwrap();
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        c.batch_execute("CREATE TABLE t (x int); INSERT INTO t VALUES (7)")
            .unwrap();
        drop(c);
        pg.stop().unwrap();
        assert!(postgres::Client::connect(&url, postgres::NoTls).is_err());
        pg.start_again().unwrap();
        let mut c = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        let x: i32 = c.query_one("SELECT x FROM t", &[]).unwrap().get(0);
        assert_eq!(x, 7);
        let data = pg.data_dir();
        drop(pg);
        assert!(!data.exists(), "the folder goes with the server");
    }

    #[test]
    fn the_shared_server_gives_each_test_its_own_database() {
        let a = TestPostgres::shared().fresh_database().unwrap();
        let b = TestPostgres::shared().fresh_database().unwrap();
        assert_ne!(a, b);
        postgres::Client::connect(&a, postgres::NoTls).unwrap();
    }
}
