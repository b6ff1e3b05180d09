//! The byte forms events are sent in. Pure: no I/O (the `deliver` module writes them).

mod syslog;

pub use syslog::SyslogFormat;

use audit_core::Stored;

/// One event as a JSON line, exactly what `tmux-audit log --json` prints for it.
pub fn jsonl_line(stored: &Stored) -> Vec<u8> {
    let mut line = json(stored);
    line.push(b'\n');
    line
}

/// The event as one JSON object (no newline): webhook bodies and syslog MSG.
pub(crate) fn json(stored: &Stored) -> Vec<u8> {
    // Serializing a `Stored` cannot fail: every field is a string, number, bool or list of them.
    serde_json::to_vec(stored).unwrap_or_default()
}
