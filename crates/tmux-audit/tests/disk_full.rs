//! A full disk stops commits, not recording: the daemon says so once, holds what it saw, and
//! commits it when space returns; nothing stored is damaged.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;
use support::*;

/// A small tmpfs of our own, unmounted when the test ends.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: &Path) -> Self {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=400k", "tmpfs"])
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
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 4096];
        while std::io::Write::write_all(&mut f, &block).is_ok() {}
        filler
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_holds_events_and_commits_them_when_space_returns() {
    if !is_root() {
        println!("skipped: mounting a small tmpfs needs root (CI runs as root)");
        return;
    }
    let server = TmuxServer::start("work");
    let disk = SmallDisk::mount(&server.dir().join("small"));
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
