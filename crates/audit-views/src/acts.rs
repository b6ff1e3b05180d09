//! Acts: what a person did that the record names — programs run in panes (`command`), lines
//! shells marked (`shell-command`), tmux commands clients ran (`tmux-command`) — as text and
//! place, for `commands`, `search` and any other front end.

use crate::hits::Matcher;
use audit_core::attribution::is_act;
use audit_core::{Bytes, Stored};

/// Whether `s` is an act whose text `matcher` finds.
pub fn matches(s: &Stored, matcher: &Matcher) -> bool {
    is_act(s.event.kind) && matcher.is_match(&Bytes(text_of(&s.event)).lossless_text())
}

/// Whether `user` did `s`, or could have.
pub fn by(s: &Stored, user: &str) -> bool {
    let e = &s.event;
    e.actor.as_deref() == Some(user)
        || e.candidates
            .as_ref()
            .is_some_and(|c| c.iter().any(|u| u == user))
        || e.user.as_deref() == Some(user)
}

/// What `--grep` looks in: the arguments joined by spaces, the line as typed, or the tmux
/// command — exact bytes.
pub fn text_of(e: &audit_core::Event) -> Vec<u8> {
    if let Some(argv) = &e.argv {
        let words: Vec<&[u8]> = argv.iter().map(|b| b.0.as_slice()).collect();
        return words.join(&b' ');
    }
    if let Some(line) = &e.line {
        return line.0.clone();
    }
    e.command.clone().unwrap_or_default().into_bytes()
}

/// Where an act happened: `SESSION:%PANE`, the session alone, or `-`.
pub fn place_of(e: &audit_core::Event) -> String {
    match (e.session.as_deref(), e.pane_id.as_deref()) {
        (Some(s), Some(p)) => format!("{s}:{p}"),
        (Some(s), None) => s.to_owned(),
        (None, Some(p)) => format!("?:{p}"),
        (None, None) => "-".to_owned(),
    }
}
