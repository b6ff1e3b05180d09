//! A full disk stops commits, not recording: the daemon says so once, holds what it saw, and
//! commits it when space returns; nothing stored is damaged.

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A small tmpfs of our own, unmounted when the test ends.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: &Path, size: &str) -> Self {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()
            .expect("run mount")
            .success();
        assert!(ok, "mount a tmpfs at {}", at.display());
        SmallDisk(at.to_owned())
    }

    /// Fills every free byte; returns the filler file.
    fn fill(&self) -> PathBuf {
        let filler = self.0.join("filler");
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&filler)
            .unwrap();
        // Whole blocks, then smaller writes for the last partial block: not one byte left.
        for size in [4096, 512, 1] {
            let block = vec![0u8; size];
            while std::io::Write::write_all(&mut f, &block).is_ok() {}
        }
        filler
    }

    /// Fills the disk and keeps it full until `done` (space the daemon frees meanwhile, by
    /// punching committed bytes out of a spool, is taken again at once).
    fn full_until(&self, what: &str, done: impl Fn() -> bool) -> PathBuf {
        let filler = self.fill();
        wait_for(
            what,
            TIMEOUT,
            || {
                self.fill();
                done().then_some(())
            },
            String::new,
        );
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

/// The `pane-pipe` copiers writing spools under a folder, watched for when they stop working.
struct Copier {
    under: String,
    last: std::cell::RefCell<(u64, u32)>,
}

impl Copier {
    fn of(under: &Path) -> Self {
        Copier {
            under: under.to_string_lossy().into_owned(),
            last: std::cell::RefCell::new((u64::MAX, 0)),
        }
    }

    /// CPU ticks of the copiers (utime + stime).
    fn ticks(&self) -> u64 {
        let mut total = 0;
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let dir = entry.path();
            let Ok(cmdline) = std::fs::read(dir.join("cmdline")) else {
                continue;
            };
            let cmdline = String::from_utf8_lossy(&cmdline);
            if !(cmdline.contains("pane-pipe") && cmdline.contains(&self.under)) {
                continue;
            }
            let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
            let fields: Vec<&str> = stat
                .rsplit(')')
                .next()
                .unwrap_or("")
                .split_whitespace()
                .collect();
            total += fields
                .get(11)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
                + fields
                    .get(12)
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0);
        }
        total
    }

    /// True once the copiers used no CPU over five looks in a row (called from a poll).
    fn idle(&self) -> bool {
        let now = self.ticks();
        let mut last = self.last.borrow_mut();
        if now == last.0 {
            last.1 += 1;
        } else {
            *last = (now, 0);
        }
        last.1 >= 5
    }
}

#[test]
fn a_full_disk_holds_events_and_commits_them_when_space_returns() {
    if !is_root() {
        println!("skipped: mounting a small tmpfs needs root (CI runs as root)");
        return;
    }
    let server = TmuxServer::start("work");
    let disk = SmallDisk::mount(&server.dir().join("small"), "400k");
    let db = disk.0.join("audit.db");
    let daemon = Daemon::start_with(&server, &db);
    daemon.wait_ready("work");

    let filler = disk.fill();
    server.new_session("while-full");
    wait_for(
        "the daemon to say the store is full",
        TIMEOUT,
        || daemon.stderr().contains("disk is full").then_some(()),
        || daemon.stderr(),
    );
    // Said once per outage, not once per retry.
    let stderr = daemon.stderr();
    assert_eq!(stderr.matches("cannot commit").count(), 1, "{stderr}");

    std::fs::remove_file(&filler).unwrap();
    let log = wait_log(&db, "the held session-created committed", |log| {
        log.iter()
            .any(|e| kind(e) == "session-created" && field(e, "session") == Some("while-full"))
    });
    assert!(
        daemon.stderr().contains("store writable again"),
        "{}",
        daemon.stderr()
    );
    let seqs: Vec<i64> = log.iter().map(seq).collect();
    assert_eq!(seqs, (1..=log.len() as i64).collect::<Vec<_>>(), "gapless");
    let verify = cli(&db, &["verify"]);
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    drop(daemon);
}

#[test]
fn output_lost_to_a_full_disk_is_an_output_gap_and_recording_resumes() {
    if !is_root() {
        println!("skipped: mounting a small tmpfs needs root (CI runs as root)");
        return;
    }
    let server = TmuxServer::start("work");
    let pane = server.display("work", "#{pane_id}");
    // Room for the store's write-ahead log to grow between checkpoints (every 4 MB).
    let disk = SmallDisk::mount(&server.dir().join("small"), "8m");
    let db = disk.0.join("audit.db");
    let args: [&std::ffi::OsStr; 4] = [
        "-S".as_ref(),
        server.sock().as_os_str(),
        "--flush-after".as_ref(),
        "0.2".as_ref(),
    ];
    let mut daemon = Daemon::spawn_in(server.dir(), &db, &args);
    daemon.wait_ready("work");
    server.wait_prompt(&pane);
    server.tmux(&["send-keys", "-t", &pane, "echo recording-$((2*2))", "Enter"]);
    wait_for(
        "recording under way",
        TIMEOUT,
        || {
            let out = cli(&db, &["export", &pane, "--format", "raw", "-o", "-"]);
            String::from_utf8_lossy(&out.stdout)
                .contains("recording-4")
                .then_some(())
        },
        || daemon.stderr(),
    );

    // More output than the whole disk holds, so it cannot all fit whatever space frees up.
    disk.fill();
    server.tmux(&["send-keys", "-t", &pane, "seq 1 1500000", "Enter"]);
    // Until the pane has printed it all and the copier has read all tmux held for it (tmux
    // buffers a pipe's output without bound): output still on its way when space returns would
    // fill the disk again, and then neither the loss nor the chunks could be committed.
    let copier = Copier::of(disk.0.as_path());
    let filler = disk.full_until("the pane to print while the disk is full", || {
        server
            .tmux(&["capture-pane", "-p", "-t", &pane])
            .contains("1500000")
            && copier.idle()
    });
    std::fs::remove_file(&filler).unwrap();
    server.tmux(&[
        "send-keys",
        "-t",
        &pane,
        "echo space-is-back-$((6*6))",
        "Enter",
    ]);

    let is_gap = |e: &serde_json::Value| {
        kind(e) == "output-gap" && field(e, "reason") == Some("spool-not-writable")
    };
    let log = wait_for(
        "an output-gap for what the full disk lost",
        TIMEOUT,
        || {
            let log = try_log_json(&db).ok()?;
            log.iter().any(is_gap).then_some(log)
        },
        || {
            format!(
                "{}\ndaemon stderr:\n{}",
                render(&try_log_json(&db).unwrap_or_default()),
                daemon.stderr()
            )
        },
    );
    let gap = log.iter().find(|e| is_gap(e)).unwrap();
    assert!(gap["bytes"].as_i64().is_some_and(|b| b > 0), "{gap}");
    assert_eq!(field(gap, "pane_id"), Some(pane.as_str()));
    wait_for(
        "output after the disk has space again",
        TIMEOUT,
        || {
            let out = cli(&db, &["export", &pane, "--format", "raw", "-o", "-"]);
            String::from_utf8_lossy(&out.stdout)
                .contains("space-is-back-36")
                .then_some(())
        },
        || daemon.stderr(),
    );
    daemon.stop();
    // What was stored before the disk filled is intact.
    let before = cli(&db, &["export", &pane, "--format", "raw", "-o", "-"]);
    assert!(String::from_utf8_lossy(&before.stdout).contains("recording-4"));
    let verify = cli(&db, &["verify"]);
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
}
