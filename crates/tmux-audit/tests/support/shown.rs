//! For the tests of views on fresh output (`live.rs`, `access.rs`): a pane recorded by a daemon
//! with default flags, and lines printed in it.

use super::*;

/// A server with session `work`, recorded by a daemon with default flags, the pane piped; the
/// pane's id.
pub fn recorded_pane() -> (TmuxServer, Daemon, String) {
    let server = TmuxServer::start("work");
    let pane = server.display("work", "#{pane_id}");
    server.wait_prompt(&pane);
    let daemon = Daemon::start_ready(&server, "work");
    server.wait_piped(&pane, &daemon);
    (server, daemon, pane)
}

impl TmuxServer {
    /// Prints the line `word` in `pane` (by a command that makes it from two parts, so the typed
    /// line does not hold it) and waits until tmux shows it; returns when it was seen.
    pub fn print_line(&self, pane: &str, word: &str) -> Instant {
        let (head, tail) = word.split_at(word.len() / 2);
        let command = format!("printf '%s%s\\n' {head} {tail}");
        self.tmux(&["send-keys", "-t", pane, &command, "Enter"]);
        let screen = || self.tmux(&["capture-pane", "-p", "-t", pane]);
        wait_for(
            &format!("{word} on the pane"),
            TIMEOUT,
            || {
                screen()
                    .lines()
                    .any(|l| l.trim_end() == word)
                    .then(Instant::now)
            },
            screen,
        )
    }
}

/// `verify` finds the store intact (what views did to it is chained like everything else).
pub fn assert_verifies(db: &Path) {
    let out = cli(db, &["verify"]);
    assert!(
        out.status.success(),
        "verify: {}",
        String::from_utf8_lossy(&out.stdout)
    );
}
