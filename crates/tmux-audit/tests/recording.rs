//! Pane output recording end to end: a real tmux, the real daemon piping every pane through
//! `tmux-audit pane-pipe`, chunks read back from the store.

use crate::support::*;
use audit_capture::chunk::{self, Chunk, Record};
use audit_core::Kind;
use audit_store::{Access, Filter, Reader, SqliteStore};
use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

/// Starts a daemon on `server` that commits output within a fraction of a second.
fn recording_daemon(server: &TmuxServer, db: &Path) -> Daemon {
    let args: [&OsStr; 4] = [
        OsStr::new("-S"),
        server.sock().as_os_str(),
        OsStr::new("--flush-after"),
        OsStr::new("0.2"),
    ];
    Daemon::spawn_in(server.dir(), db, &args)
}

/// Every stored chunk of `pane`, in order.
fn chunks(db: &Path, pane: &str) -> Vec<Chunk> {
    let Ok(store) = SqliteStore::open(db, Access::ReadOnly) else {
        return Vec::new();
    };
    let mut seqs = Vec::new();
    store
        .events(&Filter::all(), &mut |s| {
            if s.event.kind == Kind::PaneOutput && s.event.pane_id.as_deref() == Some(pane) {
                seqs.push(s.seq);
            }
            true
        })
        .unwrap();
    seqs.iter()
        .map(|&seq| chunk::decompress(&store.chunk(seq).unwrap().expect("chunk stored")).unwrap())
        .collect()
}

/// The output bytes of `pane`'s chunks, concatenated.
fn output(db: &Path, pane: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for c in chunks(db, pane) {
        for r in c.records {
            if let Record::Output { bytes, .. } = r {
                out.extend_from_slice(&bytes);
            }
        }
    }
    out
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn wait_output(db: &Path, pane: &str, needle: &[u8]) -> Vec<u8> {
    wait_for(
        &format!(
            "{:?} recorded in pane {pane}",
            String::from_utf8_lossy(needle)
        ),
        TIMEOUT,
        || {
            let out = output(db, pane);
            contains(&out, needle).then_some(out)
        },
        || String::from_utf8_lossy(&output(db, pane)).into_owned(),
    )
}

#[test]
fn panes_are_recorded_exactly_starting_from_what_they_showed() {
    let server = TmuxServer::start("work");
    let pane = server.display("work", "#{pane_id}");
    server.wait_prompt(&pane);
    server.tmux(&[
        "send-keys",
        "-t",
        &pane,
        "echo before-the-daemon-$((6*7))",
        "Enter",
    ]);
    wait_for(
        "the pane to print before the daemon starts",
        TIMEOUT,
        || {
            server
                .tmux(&["capture-pane", "-p", "-t", &pane])
                .contains("before-the-daemon-42")
                .then_some(())
        },
        || server.tmux(&["capture-pane", "-p", "-t", &pane]),
    );
    let db = server.db();
    let mut daemon = recording_daemon(&server, &db);
    daemon.wait_ready("work");

    // Hostile bytes, printed with output post-processing off so they arrive exactly. (No
    // terminal query: tmux answers it as typed input, which the pty echoes into the output.)
    let mut payload = b"\x1b]0;retitled\x07\x1b]52;c;ZXZpbA==\x07\xff\xfe\x00 bin\r\n".to_vec();
    payload.extend(std::iter::repeat_n(b'y', 100_000));
    payload.extend_from_slice(b"\r\nend-of-payload\r\n");
    std::fs::write(server.dir().join("payload"), &payload).unwrap();
    server.tmux(&[
        "send-keys",
        "-t",
        &pane,
        "stty -opost; cat payload; stty opost",
        "Enter",
    ]);
    let out = wait_output(&db, &pane, b"end-of-payload\r\n");
    let start = out
        .windows(12)
        .position(|w| w == &payload[..12])
        .expect("the payload's start is recorded");
    let got = &out[start..(start + payload.len()).min(out.len())];
    let first_difference = got.iter().zip(&payload).position(|(a, b)| a != b);
    assert_eq!(
        (first_difference, got.len()),
        (None, payload.len()),
        "the payload is stored byte for byte; around the difference: {:?}",
        first_difference.map(|i| String::from_utf8_lossy(
            &got[i.saturating_sub(20)..(i + 20).min(got.len())]
        )
        .into_owned())
    );

    // A pane created while recording is recorded from its start.
    let second = server
        .tmux(&["split-window", "-t", &pane, "-P", "-F", "#{pane_id}"])
        .trim()
        .to_owned();
    server.wait_prompt(&second);
    server.tmux(&["send-keys", "-t", &second, "echo second-$((2+3))", "Enter"]);
    wait_output(&db, &second, b"second-5");

    daemon.stop();
    // The first chunk starts from the screen as it was when recording began.
    let first = &chunks(&db, &pane)[0];
    let screen = audit_screen::Terminal::from_snapshot(first.width, first.height, &first.snapshot)
        .unwrap()
        .screen_lines()
        .join("\n");
    assert!(
        screen.contains("before-the-daemon-42"),
        "snapshot:\n{screen}"
    );
    // A clean stop leaves no copier behind and no spool.
    assert_eq!(
        server.display(&pane, "#{pane_pipe}"),
        "0",
        "pipe closed at stop"
    );
    let spools: Vec<_> = walk(state_of(&db).spool_dir())
        .into_iter()
        .filter(|p| p.extension() == Some(OsStr::new("tas")))
        .collect();
    assert!(spools.is_empty(), "spools left: {spools:?}");
    let verify = cli(&db, &["verify"]);
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn a_closed_or_replaced_pipe_is_an_output_gap_and_recording_resumes() {
    let server = TmuxServer::start("work");
    let pane = server.display("work", "#{pane_id}");
    let db = server.db();
    let mut daemon = recording_daemon(&server, &db);
    daemon.wait_ready("work");
    server.wait_prompt(&pane);
    server.wait_piped(&pane, &daemon);

    server.tmux(&["pipe-pane", "-t", &pane]);
    let (log, at) = wait_event(
        &db,
        "output-gap after pipe-pane closed the pipe",
        "output-gap",
        |e| field(e, "reason") == Some("pipe-closed"),
    );
    assert_eq!(field(&log[at], "pane_id"), Some(pane.as_str()));
    server.tmux(&[
        "send-keys",
        "-t",
        &pane,
        "echo after-close-$((3*3))",
        "Enter",
    ]);
    wait_output(&db, &pane, b"after-close-9");

    server.tmux(&["pipe-pane", "-t", &pane, "cat > /dev/null"]);
    wait_event(
        &db,
        "output-gap after someone replaced the pipe",
        "output-gap",
        |e| field(e, "reason") == Some("pipe-replaced"),
    );
    server.tmux(&[
        "send-keys",
        "-t",
        &pane,
        "echo after-replace-$((4*4))",
        "Enter",
    ]);
    wait_output(&db, &pane, b"after-replace-16");
    daemon.stop();
}

#[test]
fn a_killed_copier_is_a_gap_and_the_panes_later_output_is_still_recorded() {
    let server = TmuxServer::start("work");
    let pane = server.display("work", "#{pane_id}");
    let db = server.db();
    let mut daemon = recording_daemon(&server, &db);
    daemon.wait_ready("work");
    server.wait_prompt(&pane);
    let copier = || server.display(&pane, "#{pane_pipe}:#{pane_pid}");
    wait_for(
        "the pane to be piped",
        TIMEOUT,
        || copier().starts_with("1:").then_some(()),
        || daemon.stderr(),
    );
    // The copier is the one process running `pane-pipe` with a spool in this test's store.
    let spool_dir = format!("{}/", state_of(&db).spool_dir().display());
    let pids: Vec<i32> = std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|c| String::from_utf8_lossy(&c).contains(&spool_dir))
        })
        .collect();
    assert_eq!(pids.len(), 1, "one copier for the one pane: {pids:?}");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pids[0]),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    // tmux notices a dead pipe when it next writes to it: this output is what the gap loses.
    server.tmux(&["send-keys", "-t", &pane, "echo lost-$((2*2))", "Enter"]);
    wait_event(
        &db,
        "output-gap after the copier was killed",
        "output-gap",
        |e| field(e, "reason") == Some("pipe-closed"),
    );
    wait_for(
        "the pane to be piped again",
        TIMEOUT,
        || copier().starts_with("1:").then_some(()),
        || daemon.stderr(),
    );
    server.tmux(&[
        "send-keys",
        "-t",
        &pane,
        "echo after-kill-$((6*7))",
        "Enter",
    ]);
    wait_output(&db, &pane, b"after-kill-42");
    daemon.stop();
    let left: Vec<_> = walk(Path::new(&spool_dir))
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "tas"))
        .collect();
    assert!(
        left.is_empty(),
        "every spool committed and removed: {left:?}"
    );
}

#[test]
fn a_changed_byte_of_stored_output_fails_verify() {
    let server = TmuxServer::start("work");
    let pane = server.display("work", "#{pane_id}");
    let db = server.db();
    let mut daemon = recording_daemon(&server, &db);
    daemon.wait_ready("work");
    server.wait_prompt(&pane);
    server.tmux(&["send-keys", "-t", &pane, "echo secret-$((5*5))", "Enter"]);
    wait_output(&db, &pane, b"secret-25");
    daemon.stop();
    assert!(cli(&db, &["verify"]).status.success());

    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("DROP TRIGGER chunks_append_only_update")
        .unwrap();
    let (seq, mut data): (i64, Vec<u8>) = conn
        .query_row(
            "SELECT seq, data FROM chunks ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let middle = data.len() / 2;
    data[middle] ^= 0x01;
    conn.execute(
        "UPDATE chunks SET data = ?1 WHERE seq = ?2",
        rusqlite::params![data, seq],
    )
    .unwrap();
    let verify = cli(&db, &["verify"]);
    let stdout = String::from_utf8_lossy(&verify.stdout).into_owned()
        + &String::from_utf8_lossy(&verify.stderr);
    assert_eq!(verify.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains(&format!("seq {seq}: output of pane {pane}"))
            && stdout.contains("was changed"),
        "{stdout}"
    );
}

#[test]
fn output_a_killed_daemon_left_in_its_spool_is_recorded_at_restart() {
    let server = TmuxServer::start("work");
    let pane = server.display("work", "#{pane_id}");
    let db = server.db();
    server.tmux(&["resize-window", "-t", "work", "-x", "100", "-y", "30"]);
    let mut daemon = recording_daemon(&server, &db);
    daemon.wait_ready("work");
    server.wait_prompt(&pane);
    server.wait_piped(&pane, &daemon);
    daemon.kill9();
    // The copier outlives the daemon: this goes into the spool with nobody ingesting it.
    server.tmux(&[
        "send-keys",
        "-t",
        &pane,
        "echo while-down-$((8*8))",
        "Enter",
    ]);
    wait_for(
        "the pane to print while the daemon is down",
        TIMEOUT,
        || {
            server
                .tmux(&["capture-pane", "-p", "-t", &pane])
                .contains("while-down-64")
                .then_some(())
        },
        || server.tmux(&["capture-pane", "-p", "-t", &pane]),
    );
    let mut again = recording_daemon(&server, &db);
    again.wait_ready("work");
    let out = wait_output(&db, &pane, b"while-down-64");
    // Rendered at the pane's size and named after its session, though no watcher saw it.
    let left = chunks(&db, &pane)
        .into_iter()
        .find(|c| {
            c.records.iter().any(
                |r| matches!(r, Record::Output { bytes, .. } if contains(bytes, b"while-down-64")),
            )
        })
        .unwrap();
    assert_eq!((left.width, left.height), (100, 30));
    let log = log_json(&db);
    assert!(log
        .iter()
        .filter(|e| kind(e) == "pane-output")
        .all(|e| field(e, "session") == Some("work")));
    assert_eq!(
        out.windows(b"while-down-64\r\n".len())
            .filter(|w| *w == b"while-down-64\r\n")
            .count(),
        1,
        "recorded once"
    );
    again.stop();
    assert!(cli(&db, &["verify"]).status.success());
}

#[test]
fn a_resize_is_recorded_so_replay_draws_at_the_new_size() {
    let server = TmuxServer::start("work");
    let pane = server.display("work", "#{pane_id}");
    let db = server.db();
    let mut daemon = recording_daemon(&server, &db);
    daemon.wait_ready("work");
    server.wait_prompt(&pane);
    server.tmux(&["send-keys", "-t", &pane, "echo at-80-$((1+1))", "Enter"]);
    wait_output(&db, &pane, b"at-80-2");
    server.tmux(&["resize-window", "-t", "work", "-x", "120", "-y", "40"]);
    wait_for(
        "tmux to resize the pane",
        TIMEOUT,
        || (server.display(&pane, "#{pane_width}x#{pane_height}") == "120x40").then_some(()),
        || server.display(&pane, "#{pane_width}x#{pane_height}"),
    );
    server.tmux(&["send-keys", "-t", &pane, "echo at-120-$((2+2))", "Enter"]);
    wait_output(&db, &pane, b"at-120-4");
    daemon.stop();

    let chunks = chunks(&db, &pane);
    let sizes: Vec<(u16, u16)> = chunks
        .iter()
        .flat_map(|c| {
            std::iter::once((c.width, c.height)).chain(c.records.iter().filter_map(|r| match r {
                Record::Resize { width, height, .. } => Some((*width, *height)),
                Record::Output { .. } => None,
            }))
        })
        .collect();
    assert_eq!(sizes.first(), Some(&(80, 24)), "{sizes:?}");
    assert_eq!(sizes.last(), Some(&(120, 40)), "{sizes:?}");
    // The asciicast export tells the player about it.
    let cast = cli(&db, &["export", &pane, "--format", "asciicast", "-o", "-"]);
    let text = String::from_utf8_lossy(&cast.stdout);
    assert!(
        text.contains(r#""r", "120x40""#) || text.contains(r#""r","120x40""#),
        "{text}"
    );
}

#[test]
fn a_store_path_with_quotes_dollars_and_hashes_still_records() {
    // The spool path goes through tmux's parser, its format expansion and `sh -c`.
    let server = TmuxServer::start("work");
    let pane = server.display("work", "#{pane_id}");
    let dir = server.dir().join("it's $HOME #{pane_id} \"q\" \\ `x`");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("audit.db");
    let mut daemon = recording_daemon(&server, &db);
    daemon.wait_ready("work");
    server.wait_prompt(&pane);
    server.tmux(&["send-keys", "-t", &pane, "echo quoted-$((3*3))", "Enter"]);
    wait_output(&db, &pane, b"quoted-9");
    daemon.stop();
    assert!(
        state_of(&db).spool_dir().is_dir(),
        "the spool went where it was meant to"
    );
}

#[test]
fn a_large_spool_left_by_a_killed_daemon_is_recorded_whole() {
    use audit_capture::spool;
    let server = TmuxServer::start("work");
    let db = server.db();
    // What a copier wrote while no daemon ran: far more than is ingested in one quiet period.
    // Named as the daemon names a server's folder: the first 16 hex digits of its hash.
    let key = blake3::hash(server.sock_str().as_bytes()).to_hex();
    let folder = state_of(&db).spool_dir().join(&key.as_str()[..16]);
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("server"), server.sock_str()).unwrap();
    let mut bytes = spool::MAGIC.to_vec();
    let line = b"\x1b[32mleft-over\x1b[0m output line that goes on for a while 0123456789\r\n";
    let piece: Vec<u8> = line.iter().copied().cycle().take(64 * 1024).collect();
    let start = audit_core::Timestamp::now().as_micros() - 60_000_000;
    let pieces = 512; // 32 MiB
    for i in 0..pieces {
        spool::encode_output(&mut bytes, start + i * 1000, &piece);
    }
    spool::encode_closed(&mut bytes, start + pieces * 1000);
    std::fs::write(folder.join(format!("77-{start}.tas")), &bytes).unwrap();
    // A folder whose name is not its server's hash (under a root daemon, a user owns their
    // server's folder and could write any `server` file there): not believed.
    let forged = state_of(&db).spool_dir().join("0123456789abcdef");
    std::fs::create_dir_all(&forged).unwrap();
    std::fs::write(forged.join("server"), server.sock_str()).unwrap();
    let mut fake = spool::MAGIC.to_vec();
    spool::encode_output(&mut fake, start, b"forged output\r\n");
    spool::encode_closed(&mut fake, start + 1000);
    std::fs::write(forged.join(format!("88-{start}.tas")), &fake).unwrap();

    let mut daemon = recording_daemon(&server, &db);
    daemon.wait_ready("work");
    let total = wait_for(
        "all of the left-over spool recorded",
        Duration::from_secs(120),
        || {
            let n = output(&db, "%77").len();
            (n == piece.len() * pieces as usize).then_some(n)
        },
        || format!("{} bytes so far", output(&db, "%77").len()),
    );
    assert_eq!(total, 32 << 20);
    daemon.stop();
    assert!(
        output(&db, "%88").is_empty(),
        "the forged folder was not adopted"
    );
    assert!(
        !folder.join(format!("77-{start}.tas")).exists(),
        "spool removed once recorded"
    );
}
