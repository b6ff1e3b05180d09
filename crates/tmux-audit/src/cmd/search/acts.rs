//! Command lines in `search`: the programs run in panes (`command`: the arguments joined by
//! spaces), the lines shells marked (`shell-command`) and the tmux commands clients ran
//! (`tmux-command`), matched one record at a time against the same pattern as the output, and
//! shown after the output's hits with who did each.

use crate::render;
use audit_core::attribution::{Attribution, Confidence};
use audit_core::{Bytes, Stored};
use audit_views::acts::{place_of, text_of};
use std::io::Write;

/// `TIME  SESSION:PANE  WHO  KIND  TEXT  (seq N)`; a heading before the first.
pub fn text(out: &mut impl Write, s: &Stored, first: bool) -> std::io::Result<()> {
    if first {
        writeln!(out, "commands:")?;
    }
    let e = &s.event;
    let place = place_of(e);
    let who = match Attribution::stored(e) {
        Some(a) => match (a.attribution, a.actor) {
            (Confidence::Exact, Some(actor)) => actor,
            (Confidence::Inferred, Some(actor)) => format!("{actor}?"),
            _ if a.candidates.is_empty() => "?".into(),
            _ => format!("? ({})", a.candidates.join(" or ")),
        },
        None => e.user.clone().unwrap_or_else(|| "?".into()),
    };
    writeln!(
        out,
        "{}  {}  {}  {}  {}  (seq {})",
        render::time(e.from.unwrap_or(e.time)),
        render::escape(&place),
        render::escape(&who),
        e.kind,
        render::escape(&Bytes(text_of(e)).lossless_text()),
        s.seq
    )
}
