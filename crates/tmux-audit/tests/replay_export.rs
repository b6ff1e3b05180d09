//! `replay` and `export` against a store built directly: pane-output events with their chunks
//! (snapshots made by `audit_screen::Terminal`, as the recorder makes them), then the real
//! binary. The asciicast tests play the files with the real `asciinema`.

use crate::support;
use crate::support::{bin, cli, PtyClient, TmuxServer};
use audit_capture::chunk::{self, Chunk, Record};
use audit_core::{Event, Kind, Observed, Timestamp};
use audit_screen::Terminal;
use audit_store::{Access, Attachment, SqliteStore, Writer};
use nix::fcntl::{open, OFlag};
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::signal::Signal;
use nix::sys::stat::Mode;
use serde_json::Value;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// 2025-11-28T14:26:40Z.
const T0: i64 = 1_764_340_000_000_000;
const S: i64 = 1_000_000;

/// A 100 KB line, printed in one write.
fn long_line() -> Vec<u8> {
    let mut line = vec![b'x'; 100_000];
    line.extend_from_slice(b"\r\n");
    line
}

/// What the main test pane printed: a character split across two writes, invalid bytes, a NUL,
/// a clipboard write (OSC 52), a retitle, a 100 KB line, colour. Cut into two chunks before the
/// long line.
fn hostile() -> Vec<Record> {
    let out = |t: i64, bytes: &[u8]| Record::Output {
        time: T0 + t,
        bytes: bytes.to_vec(),
    };
    vec![
        out(100_000, b"$ cat notes\r\n"),
        out(200_000, b"caf\xc3"),
        out(300_000, b"\xa9 \x1b]0;pwned\x07ok\r\n"),
        out(S, b"bad \xff\x00 byte\r\n"),
        out(2 * S, b"\x1b]52;c;c2VjcmV0\x07clip\r\n"),
        out(10 * S, &long_line()),
        out(12 * S, b"\x1b[31mred\x1b[0m done\r\n$ "),
    ]
}

const HOSTILE_CUT: usize = 5;

/// The text `export --format txt` must give for [`hostile`].
fn hostile_text() -> String {
    let x = "x".repeat(100_000);
    format!("$ cat notes\ncafé ok\nbad \u{fffd} byte\nclip\n{x}\nred done\n$\n")
}

fn raw(records: &[Record]) -> Vec<u8> {
    records
        .iter()
        .flat_map(|r| match r {
            Record::Output { bytes, .. } => bytes.clone(),
            Record::Resize { .. } => Vec::new(),
        })
        .collect()
}

/// A pane as the recorder names it.
struct Pane<'a> {
    server: &'a str,
    id: &'a str,
    session: &'a str,
    window: i64,
    index: i64,
}

use audit_screen::rechunk::rechunk as chunks;

fn server_started(server: &str, time: i64, pid: i64) -> (Event, Option<Attachment>) {
    let mut e = Event::new(Timestamp(time), Kind::ServerStarted, "test-host", server)
        .observed(Observed::Live);
    e.pid = Some(pid);
    (e, None)
}

/// The events (with attachments) that record `chunks` of `pane`.
fn recorded(pane: &Pane, chunks: &[Chunk]) -> Vec<(Event, Option<Attachment>)> {
    chunks
        .iter()
        .map(|c| {
            let compressed = chunk::compress(&c.encode(), 3);
            let mut e = Event::new(Timestamp(c.end), Kind::PaneOutput, "test-host", pane.server)
                .observed(Observed::Live);
            e.session = Some(pane.session.to_owned());
            e.session_id = Some("$0".into());
            e.window = Some("bash".into());
            e.window_id = Some("@0".into());
            e.window_index = Some(pane.window);
            e.pane_id = Some(pane.id.to_owned());
            e.pane_index = Some(pane.index);
            e.from = Some(Timestamp(c.start));
            e.until = Some(Timestamp(c.end));
            e.bytes = Some(c.output_bytes() as i64);
            e.width = Some(i64::from(c.width));
            e.height = Some(i64::from(c.height));
            e.digest = Some(blake3::hash(&compressed).to_hex().to_string());
            (
                e,
                Some(Attachment {
                    chunk: compressed,
                    text: String::new(),
                }),
            )
        })
        .collect()
}

/// A temp dir with a store in it.
struct Fixture {
    env: TmuxServer, // only for its temp dir and isolated commands; no server is started
    server: String,
}

impl Fixture {
    fn new() -> Self {
        let env = TmuxServer::not_started();
        let server = env.dir().join("tmux-0/default").display().to_string();
        Fixture { env, server }
    }

    fn db(&self) -> PathBuf {
        self.env.dir().join("audit.db")
    }

    fn append(&self, rows: &[(Event, Option<Attachment>)]) {
        let mut store = SqliteStore::open(&self.db(), Access::Create).expect("open store");
        store.append_attached(rows).expect("append");
    }

    /// The store with [`hostile`] recorded as `%1` (`prod:0.0`, 80x24) on one server.
    fn hostile() -> Self {
        let f = Fixture::new();
        let pane = Pane {
            server: &f.server,
            id: "%1",
            session: "prod",
            window: 0,
            index: 0,
        };
        let mut rows = vec![server_started(&f.server, T0 - S, 100)];
        rows.extend(recorded(
            &pane,
            &chunks((80, 24), &hostile(), &[HOSTILE_CUT]),
        ));
        f.append(&rows);
        f
    }

    fn path(&self, name: &str) -> PathBuf {
        self.env.dir().join(name)
    }

    fn run(&self, args: &[&str]) -> Output {
        cli(&self.db(), args)
    }

    /// Runs a command that must succeed; returns its stdout.
    fn ok(&self, args: &[&str]) -> Vec<u8> {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "tmux-audit {args:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Runs a command that must fail with status 2 and one line on stderr; returns that line.
    fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "tmux-audit {args:?} should fail; stdout: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        err
    }

    /// `tmux-audit --db DB ARGS` on a fresh 80x24 pty (stdin, stdout and controlling terminal).
    fn on_pty(&self, args: &[&str]) -> PtyClient {
        let mut cmd = self.env.isolated(bin());
        cmd.arg("--db").arg(self.db()).args(args);
        PtyClient::spawn(cmd)
    }
}

/// The pty's output once it holds `needle`: output written just before the process exited may
/// still be on its way through the pty when `wait_exit` returns.
fn output_with(pty: &PtyClient, needle: &str) -> String {
    support::wait_for(
        &format!("{needle:?} on the terminal"),
        support::TIMEOUT,
        || {
            let out = pty.output_text();
            out.contains(needle).then_some(out)
        },
        || pty.output_text(),
    )
}

fn micros_rfc3339(t: i64) -> String {
    support::rfc3339_from_micros(t)
}

// ---------------------------------------------------------------------------------------------
// asciinema
// ---------------------------------------------------------------------------------------------

/// The installed asciinema's major version; fails the test when there is none.
fn asciinema_major() -> u32 {
    let out = Command::new("asciinema").arg("--version").output();
    let out = match out {
        Ok(out) if out.status.success() => out,
        _ => panic!(
            "asciinema is not installed, and these tests play exported casts with it: \
             run scripts/test (it installs it) or apt-get install asciinema"
        ),
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.split_whitespace().last().unwrap_or("");
    version
        .split('.')
        .next()
        .and_then(|m| m.parse().ok())
        .unwrap_or_else(|| panic!("cannot read asciinema's version from {text:?}"))
}

/// `asciinema cat FILE`, which prints every output event's data. asciinema 2 opens /dev/tty
/// (to put it in raw mode), so it runs with a fresh pty as its controlling terminal; its
/// stdout is a pipe.
fn asciinema_cat(cast: &Path) -> Output {
    let master =
        posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC).expect("posix_openpt");
    grantpt(&master).expect("grantpt");
    unlockpt(&master).expect("unlockpt");
    let tty = ptsname_r(&master).expect("ptsname_r");
    let slave = open(
        Path::new(&tty),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .expect("open pty slave");
    // SAFETY: `open` just returned this fd and nothing else owns it.
    let slave = unsafe { OwnedFd::from_raw_fd(slave) };
    let slave_fd = slave.as_raw_fd();
    let mut cmd = Command::new("asciinema");
    cmd.arg("cat")
        .arg(cast)
        .env("LC_ALL", "C.UTF-8")
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: only async-signal-safe calls (setsid, ioctl) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if libc::setsid() == -1 || libc::ioctl(slave_fd, libc::TIOCSCTTY as _, 0) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().expect("run asciinema cat");
    drop(slave);
    drop(master);
    out
}

/// Header and events of an asciicast, times made absolute (µs since the start).
fn parse_cast(cast: &[u8]) -> (Value, Vec<(i64, String, String)>) {
    let text = std::str::from_utf8(cast).expect("a cast is UTF-8");
    let mut lines = text.lines();
    let header: Value = serde_json::from_str(lines.next().expect("a header")).unwrap();
    let v3 = header["version"] == 3;
    let mut now = 0;
    let events = lines
        .map(|l| {
            let e: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:.80}: {e}"));
            let e = e.as_array().expect("an event is an array");
            assert_eq!(e.len(), 3, "{l:.80}");
            let t = (e[0].as_f64().expect("time") * 1e6).round() as i64;
            assert!(t >= 0, "negative time in {l:.80}");
            now = if v3 { now + t } else { t };
            let code = e[1].as_str().unwrap().to_owned();
            (now, code, e[2].as_str().expect("data").to_owned())
        })
        .collect();
    (header, events)
}

fn output_data(events: &[(i64, String, String)]) -> String {
    events
        .iter()
        .filter(|e| e.1 == "o")
        .map(|e| e.2.as_str())
        .collect()
}

// ---------------------------------------------------------------------------------------------
// export
// ---------------------------------------------------------------------------------------------

#[test]
fn export_raw_is_exactly_the_bytes_the_pane_wrote() {
    let f = Fixture::hostile();
    let file = f.path("pane.bin");
    f.ok(&[
        "export",
        "%1",
        "--format",
        "raw",
        "-o",
        file.to_str().unwrap(),
    ]);
    let written = std::fs::read(&file).unwrap();
    assert!(
        written == raw(&hostile()),
        "raw export differs from the recorded bytes"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600, "recorded output is for its owner only");
    // To a pipe, the same.
    assert!(f.ok(&["export", "%1", "--format", "raw"]) == raw(&hostile()));
}

#[test]
fn export_raw_with_a_window_keeps_the_records_inside_it() {
    let f = Fixture::hostile();
    let from = micros_rfc3339(T0 + 300_000);
    let to = micros_rfc3339(T0 + 2 * S);
    let got = f.ok(&[
        "export", "%1", "--format", "raw", "--from", &from, "--to", &to,
    ]);
    assert!(
        got == raw(&hostile()[2..5]),
        "{:?}",
        String::from_utf8_lossy(&got)
    );
}

#[test]
fn export_txt_is_the_text_as_it_was_seen() {
    let f = Fixture::hostile();
    let got = String::from_utf8(f.ok(&["export", "%1", "--format", "txt"])).unwrap();
    assert!(got == hostile_text(), "txt export:\n{:.400}", got);
}

#[test]
fn asciicast_v2_plays_in_asciinema() {
    asciinema_major();
    let f = Fixture::hostile();
    let cast = f.path("pane.cast");
    f.ok(&["export", "%1", "-o", cast.to_str().unwrap()]);
    let bytes = std::fs::read(&cast).unwrap();
    let (header, events) = parse_cast(&bytes);
    assert_eq!(header["version"], 2);
    assert_eq!(
        (header["width"].as_u64(), header["height"].as_u64()),
        (Some(80), Some(24))
    );
    assert_eq!(header["timestamp"].as_i64(), Some(T0 / S));
    // The first event is the starting picture, at 0; then every write at its offset from the
    // start of the recording (its first write, at T0 + 0.1 s).
    let times: Vec<i64> = events.iter().map(|e| e.0).collect();
    assert_eq!(
        times,
        [0, 0, 100_000, 200_000, 900_000, 1_900_000, 9_900_000, 11_900_000]
    );
    let first_snapshot = &chunks((80, 24), &hostile(), &[HOSTILE_CUT])[0].snapshot;
    let expected = format!(
        "{}{}",
        String::from_utf8_lossy(first_snapshot),
        String::from_utf8_lossy(&raw(&hostile()))
    );
    assert_eq!(output_data(&events), expected);
    assert!(events[2].2 == "caf", "é is not split: {:?}", events[2].2);
    assert!(events[3].2.starts_with('é'));

    let played = asciinema_cat(&cast);
    assert!(
        played.status.success(),
        "asciinema cat refused the v2 cast: {}",
        String::from_utf8_lossy(&played.stderr)
    );
    assert!(
        played.stdout == expected.as_bytes(),
        "asciinema cat printed something else ({} bytes, expected {})",
        played.stdout.len(),
        expected.len()
    );
}

#[test]
fn asciicast_v3_is_well_formed_and_matches_v2() {
    let f = Fixture::hostile();
    let v2 = f.ok(&["export", "%1"]);
    let v3 = f.ok(&["export", "%1", "--format", "asciicast-v3"]);
    let (h2, e2) = parse_cast(&v2);
    let (h3, e3) = parse_cast(&v3);
    assert_eq!(h3["version"], 3);
    assert_eq!(h3["term"]["cols"], 80);
    assert_eq!(h3["term"]["rows"], 24);
    assert_eq!(h3["timestamp"], h2["timestamp"]);
    assert_eq!(e2, e3, "same events, v3 with intervals");
    let intervals: Vec<f64> = std::str::from_utf8(&v3)
        .unwrap()
        .lines()
        .skip(1)
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()[0]
                .as_f64()
                .unwrap()
        })
        .collect();
    assert_eq!(intervals[..5], [0.0, 0.0, 0.1, 0.1, 0.7]);

    // asciinema 2.x (Debian's) reads only v1 and v2; asciinema 3 plays v3.
    let cast = f.path("pane-v3.cast");
    std::fs::write(&cast, &v3).unwrap();
    if asciinema_major() >= 3 {
        let played = asciinema_cat(&cast);
        assert!(
            played.status.success(),
            "{}",
            String::from_utf8_lossy(&played.stderr)
        );
        assert_eq!(String::from_utf8(played.stdout).unwrap(), output_data(&e3));
    } else {
        let played = asciinema_cat(&cast);
        let err = String::from_utf8_lossy(&played.stderr);
        assert!(
            !played.status.success() && err.contains("only asciicast v1 and v2"),
            "asciinema 2 was expected to refuse v3; it said: {err}"
        );
    }
}

#[test]
fn export_from_inside_the_second_chunk_starts_with_the_picture_then() {
    let f = Fixture::hostile();
    let from = T0 + 11 * S; // after the 100 KB line (10 s), before "red done" (12 s)
                            // What the screen showed at that moment, fed byte for byte from the start.
    let mut then = Terminal::new(80, 24).unwrap();
    then.feed(&raw(&hostile()[..6]));

    for arg in [micros_rfc3339(from), "+10.9s".to_owned()] {
        // +10.9s: the recording starts with its first write, at 0.1 s.
        let cast = f.ok(&["export", "%1", "--from", &arg]);
        let (header, events) = parse_cast(&cast);
        assert_eq!(header["timestamp"].as_i64(), Some(from / S), "--from {arg}");
        assert_eq!(events[0].0, 0);
        let mut seen = Terminal::new(80, 24).unwrap();
        seen.feed(events[0].2.as_bytes());
        assert_eq!(seen.screen_lines(), then.screen_lines(), "--from {arg}");
        assert_eq!(seen.cursor(), then.cursor(), "--from {arg}");
        let rest: Vec<(i64, &str)> = events[1..].iter().map(|e| (e.0, e.2.as_str())).collect();
        assert_eq!(rest, [(S, "\x1b[31mred\x1b[0m done\r\n$ ")], "--from {arg}");
    }
    // The text of that window: what was on screen at --from does not count as new.
    let txt = f.ok(&[
        "export",
        "%1",
        "--format",
        "txt",
        "--from",
        &micros_rfc3339(from),
    ]);
    let lines: Vec<&str> = std::str::from_utf8(&txt).unwrap().lines().collect();
    assert_eq!(lines.last(), Some(&"$"));
    assert!(lines.contains(&"red done"));
    assert!(!lines.contains(&"$ cat notes"));
}

#[test]
fn export_refuses_to_drive_a_terminal() {
    let f = Fixture::hostile();
    for format in ["raw", "asciicast", "asciicast-v3"] {
        let mut pty = f.on_pty(&["export", "%1", "--format", format]);
        let status = pty.wait_exit();
        let out = output_with(&pty, "-o FILE");
        assert_eq!(status.code(), Some(2), "{format}: {out}");
        assert!(
            out.contains("refusing") && out.contains("-o FILE"),
            "{format}: {out}"
        );
        assert!(
            !out.contains("clip") && !out.contains("pwned"),
            "{format}: {out}"
        );
    }
    // txt is rendered text, escaped for the terminal.
    let mut pty = f.on_pty(&["export", "%1", "--format", "txt", "--to", "+1s"]);
    assert_eq!(pty.wait_exit().code(), Some(0));
    let out = output_with(&pty, "byte");
    assert!(out.contains("café ok"), "{out}");
    assert!(!out.contains("\x1b]"), "{out:?}");
}

#[test]
fn a_chunk_that_does_not_match_its_digest_is_refused() {
    let f = Fixture::new();
    let pane = Pane {
        server: &f.server,
        id: "%1",
        session: "prod",
        window: 0,
        index: 0,
    };
    let mut rows = recorded(&pane, &chunks((80, 24), &hostile(), &[HOSTILE_CUT]));
    let other = chunk::compress(&chunks((80, 24), &hostile()[..1], &[])[0].encode(), 3);
    rows[1].1.as_mut().unwrap().chunk = other;
    f.append(&rows);
    let err = f.fails(&["export", "%1", "--format", "raw"]);
    assert!(err.contains("does not match the digest"), "{err}");
    assert!(err.contains("verify"), "{err}");
    // Not even the first, intact chunk is left behind as a file that looks complete.
    let file = f.path("out.cast");
    let err = f.fails(&["export", "%1", "-o", file.to_str().unwrap()]);
    assert!(err.contains("does not match the digest"), "{err}");
    assert!(!file.exists(), "a failed export leaves no file");
}

// ---------------------------------------------------------------------------------------------
// Naming the pane
// ---------------------------------------------------------------------------------------------

fn simple(t: i64, text: &str) -> Vec<Record> {
    vec![Record::Output {
        time: t,
        bytes: text.as_bytes().to_vec(),
    }]
}

#[test]
fn panes_are_found_by_position_and_ambiguous_ids_are_refused() {
    let f = Fixture::new();
    let a = f.env.dir().join("tmux-0/a").display().to_string();
    let b = f.env.dir().join("tmux-0/b").display().to_string();
    let mut rows = vec![server_started(&a, T0, 1), server_started(&b, T0, 2)];
    let on = |server: &str, session: &'static str| Pane {
        server: Box::leak(server.to_owned().into_boxed_str()),
        id: "%1",
        session,
        window: 0,
        index: 0,
    };
    rows.extend(recorded(
        &on(&a, "prod"),
        &chunks((80, 24), &simple(T0 + S, "from a"), &[]),
    ));
    rows.extend(recorded(
        &on(&b, "dev"),
        &chunks((80, 24), &simple(T0 + S, "from b"), &[]),
    ));
    f.append(&rows);

    let err = f.fails(&["export", "%1", "--format", "raw"]);
    assert!(err.contains("2 servers"), "{err}");
    assert!(err.contains(&a) && err.contains(&b), "{err}");
    assert!(err.contains("--server"), "{err}");

    let raw = |args: &[&str]| String::from_utf8(f.ok(args)).unwrap();
    assert_eq!(
        raw(&["export", "%1", "--server", "b", "--format", "raw"]),
        "from b"
    );
    assert_eq!(
        raw(&["export", "%1", "--server", &a, "--format", "raw"]),
        "from a"
    );
    assert_eq!(
        raw(&["-S", &b, "export", "%1", "--format", "raw"]),
        "from b"
    );
    assert_eq!(raw(&["export", "prod:0.0", "--format", "raw"]), "from a");
    assert_eq!(raw(&["export", "dev:0.0", "--format", "raw"]), "from b");

    let err = f.fails(&["export", "prod:3.0", "--format", "raw"]);
    assert!(
        err.contains("no recorded output for pane prod:3.0"),
        "{err}"
    );
    let err = f.fails(&["export", "%9", "--format", "raw"]);
    assert!(err.contains("no recorded output for pane %9"), "{err}");
    let err = f.fails(&["export", "prod", "--format", "raw"]);
    assert!(err.contains("SESSION:WINDOW.PANE"), "{err}");
}

#[test]
fn a_position_means_the_pane_that_was_there_at_that_time() {
    let f = Fixture::new();
    let s = f.server.clone();
    let pane = |id: &'static str, index: i64| Pane {
        server: Box::leak(s.clone().into_boxed_str()),
        id,
        session: "prod",
        window: 1,
        index,
    };
    let mut rows = vec![server_started(&f.server, T0, 1)];
    // prod:1.1 was %2 until it closed; later another pane, %3, took its place.
    rows.extend(recorded(
        &pane("%2", 1),
        &chunks((80, 24), &simple(T0 + S, "old pane"), &[]),
    ));
    rows.extend(recorded(
        &pane("%3", 1),
        &chunks((80, 24), &simple(T0 + 60 * S, "new pane"), &[]),
    ));
    f.append(&rows);
    let raw = |args: &[&str]| String::from_utf8(f.ok(args)).unwrap();
    assert_eq!(raw(&["export", "prod:1.1", "--format", "raw"]), "new pane");
    let then = micros_rfc3339(T0 + 30 * S);
    assert_eq!(
        raw(&["export", "prod:1.1", "--from", &then, "--format", "raw"]),
        ""
    );
    let txt = raw(&["export", "prod:1.1", "--from", &then, "--format", "txt"]);
    assert_eq!(txt, "old pane\n", "the picture of %2 at that time");
}

#[test]
fn a_pane_id_reused_after_a_server_restart_is_another_recording() {
    let f = Fixture::new();
    let pane = Pane {
        server: &f.server,
        id: "%0",
        session: "prod",
        window: 0,
        index: 0,
    };
    let mut rows = vec![server_started(&f.server, T0, 1)];
    rows.extend(recorded(
        &pane,
        &chunks((80, 24), &simple(T0 + S, "first life"), &[]),
    ));
    rows.push(server_started(&f.server, T0 + 100 * S, 2));
    rows.extend(recorded(
        &pane,
        &chunks((80, 24), &simple(T0 + 101 * S, "second life"), &[]),
    ));
    f.append(&rows);
    let raw = |args: &[&str]| String::from_utf8(f.ok(args)).unwrap();
    assert_eq!(raw(&["export", "%0", "--format", "raw"]), "second life");
    let then = micros_rfc3339(T0 + 2 * S);
    assert_eq!(
        raw(&["export", "%0", "--to", &then, "--format", "raw"]),
        "first life"
    );
}

// ---------------------------------------------------------------------------------------------
// replay
// ---------------------------------------------------------------------------------------------

#[test]
fn replay_to_a_pipe_writes_safe_frames_at_once() {
    let f = Fixture::hostile();
    let started = std::time::Instant::now();
    let frames = f.ok(&["replay", "%1"]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "a 12 s recording must not be played in real time to a pipe"
    );
    let mut seen = Terminal::new(80, 24).unwrap();
    seen.feed(&frames);
    let mut direct = Terminal::new(80, 24).unwrap();
    direct.feed(&raw(&hostile()));
    assert_eq!(seen.screen_lines(), direct.screen_lines());
    assert_eq!(seen.cursor(), direct.cursor());
    let text = String::from_utf8_lossy(&frames);
    assert!(
        !text.contains("\x1b]"),
        "no OSC (clipboard, title) reaches the viewer"
    );
    assert!(!text.contains("pwned") && !text.contains("c2VjcmV0"));

    // From the middle: the first frame is the picture then.
    let frames = f.ok(&["replay", "%1", "--from", "+10.9s", "--to", "+11s"]);
    let mut seen = Terminal::new(80, 24).unwrap();
    seen.feed(&frames);
    let mut then = Terminal::new(80, 24).unwrap();
    then.feed(&raw(&hostile()[..6]));
    assert_eq!(seen.screen_lines(), then.screen_lines());
}

#[test]
fn replay_on_a_terminal_quits_on_q_and_restores_the_terminal() {
    let f = Fixture::hostile();
    let mut pty = f.on_pty(&["replay", "%1", "--speed", "64"]);
    pty.wait_drawn();
    support::wait_for(
        "replay to put the terminal in raw mode",
        support::TIMEOUT,
        || (!pty.canonical()).then_some(()),
        || pty.output_text(),
    );
    // At the end the last picture stays until a key is pressed.
    support::wait_for(
        "the last frame",
        support::TIMEOUT,
        || pty.output_text().contains("red").then_some(()),
        || pty.output_text(),
    );
    assert!(!pty.exited(), "waits for a key at the end");
    pty.send(b"q");
    let status = pty.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", pty.output_text());
    assert!(pty.canonical(), "terminal mode restored");
    let out = output_with(&pty, "\x1b[?1049l");
    assert!(
        out.contains("\x1b[?1049h") && out.ends_with("\x1b[?1049l"),
        "{out:?}"
    );
    assert!(!out.contains("\x1b]"), "no OSC reaches the viewer");
}

#[test]
fn replay_restores_the_terminal_on_sigterm() {
    let f = Fixture::hostile();
    let mut pty = f.on_pty(&["replay", "%1"]);
    support::wait_for(
        "replay to put the terminal in raw mode",
        support::TIMEOUT,
        || (!pty.canonical()).then_some(()),
        || pty.output_text(),
    );
    pty.signal(Signal::SIGTERM);
    pty.wait_exit();
    assert!(pty.canonical(), "terminal mode restored");
    assert!(output_with(&pty, "\x1b[?1049l").ends_with("\x1b[?1049l"));
}

#[test]
fn replay_refuses_a_terminal_smaller_than_the_recording() {
    let f = Fixture::new();
    let pane = Pane {
        server: &f.server,
        id: "%4",
        session: "big",
        window: 0,
        index: 0,
    };
    f.append(&recorded(
        &pane,
        &chunks((120, 40), &simple(T0, "wide"), &[]),
    ));
    let mut pty = f.on_pty(&["replay", "%4"]);
    assert_eq!(pty.wait_exit().code(), Some(2));
    let out = output_with(&pty, "--force");
    assert!(
        out.contains("120x40") && out.contains("80x24") && out.contains("--force"),
        "{out}"
    );
    assert!(pty.canonical());
}
