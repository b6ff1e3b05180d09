//! Text for people: times to the second, short durations, and recorded text made safe to
//! print, for every front end (the CLI prints it; a web page shows it).
//!
//! Recorded text never drives the auditor's terminal: control characters, C1 codes and
//! bidirectional overrides are shown escaped (`\e`, `\x07`, `\u{202e}`).

use audit_core::Timestamp;
use std::fmt::Write as _;

/// `text` safe to print on a terminal.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\x1b' => out.push_str("\\e"),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 || c == '\x7f' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            '\u{80}'..='\u{9f}'
            | '\u{200e}'..='\u{200f}'
            | '\u{202a}'..='\u{202e}'
            | '\u{2066}'..='\u{2069}' => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// A time for people: RFC 3339 to the second.
pub fn time(t: Timestamp) -> String {
    let s = t.to_string();
    // "2026-11-28T14:05:00.123456Z" → "2026-11-28T14:05:00Z"
    match s.find('.') {
        Some(i) => format!("{}Z", &s[..i]),
        None => s,
    }
}

/// A duration for people: `45s`, `12m05s`, `3h02m`, `2d04h`.
pub fn duration(secs: i64) -> String {
    let s = secs.max(0);
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_would_drive_a_terminal() {
        assert_eq!(escape("a\x1b]0;pwned\x07b"), "a\\e]0;pwned\\x07b");
        assert_eq!(escape("x\u{202e}y\u{9b}"), "x\\u{202e}y\\u{9b}");
        assert_eq!(escape("prod 🦀 $(id)"), "prod 🦀 $(id)");
        assert_eq!(escape("back\\slash"), "back\\\\slash");
    }

    #[test]
    fn durations_read_naturally() {
        assert_eq!(duration(45), "45s");
        assert_eq!(duration(725), "12m05s");
        assert_eq!(duration(3 * 3600 + 120), "3h02m");
        assert_eq!(duration(2 * 86_400 + 4 * 3600), "2d04h");
    }
}
