//! How hits are written: three lines for people (escaped, cut to the terminal's width), or one
//! JSON object per hit; both with the `replay` command that shows the hit.

use super::Args;
use crate::common::{absolute, Global};
use crate::render;
use audit_views::hits::Matcher;
use audit_views::search::{HitRow, OutputHit};
use serde::Serialize;
use std::io::{IsTerminal, Write};

/// Writes hits, for people or for programs.
pub struct Printer<'a> {
    matcher: &'a Matcher,
    db: Option<String>,
    /// The host of a central store's hits (their `replay` command names it).
    host: Option<&'a str>,
    with_server: bool,
    /// Longest line shown to people, in characters.
    width: usize,
}

/// An output hit as `--json` prints it: the host of a central store's hit first, the
/// `replay` command that shows it last.
#[derive(Serialize)]
struct JsonHit<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    host: Option<&'a str>,
    #[serde(flatten)]
    row: &'a HitRow,
    replay: String,
}

impl<'a> Printer<'a> {
    pub fn new(
        global: &Global,
        args: &Args,
        matcher: &'a Matcher,
        several_servers: bool,
        host: Option<&'a str>,
    ) -> Self {
        let width = if args.json {
            usize::MAX
        } else {
            terminal_width().map_or(200, |w| w.saturating_sub(4).max(40))
        };
        Printer {
            matcher,
            db: global.db.as_ref().map(|loc| match loc.path() {
                Some(file) => absolute(file).display().to_string(),
                // A server store, as shown everywhere: without its password.
                None => loc.to_string(),
            }),
            host,
            with_server: several_servers,
            width,
        }
    }

    /// `tmux-audit replay %N --from TIME`, quoted for a POSIX shell.
    fn replay(&self, hit: &OutputHit) -> String {
        let time = hit.time.to_string();
        let mut words = vec!["tmux-audit"];
        if let Some(db) = &self.db {
            words.extend(["--db", db]);
        }
        if let Some(host) = self.host {
            words.extend(["--host", host]);
        }
        words.extend(["replay", hit.pane_id.as_deref().unwrap_or("?")]);
        if self.with_server {
            words.extend(["--server", &hit.server]);
        }
        words.extend(["--from", &time]);
        shlex::try_join(words.iter().copied()).unwrap_or_else(|_| format!("{words:?}"))
    }

    /// The output hit `hit` (of `row`) as one JSON object.
    pub fn json(&self, out: &mut impl Write, row: &HitRow, hit: &OutputHit) -> std::io::Result<()> {
        let json = JsonHit {
            host: self.host,
            row,
            replay: self.replay(hit),
        };
        render::json_line(out, &json)
    }

    /// Three lines — when, where and who; the line; the replay command — and a blank line
    /// between hits. Everything from the store is escaped.
    pub fn text(&self, out: &mut impl Write, hit: &OutputHit, first: bool) -> std::io::Result<()> {
        let position = match (&hit.session, hit.window_index, hit.pane_index) {
            (Some(session), Some(w), Some(p)) => format!("{session}:{w}.{p}"),
            (Some(session), _, _) => session.clone(),
            _ => "?".into(),
        };
        let mut who: Vec<String> = Vec::new();
        for a in &hit.attached {
            let mut name = a.user.clone().unwrap_or_else(|| "?".into());
            if a.control {
                name.push_str(" (control mode)");
            }
            if a.readonly {
                name.push_str(" (read-only)");
            }
            if !who.contains(&name) {
                who.push(name);
            }
        }
        let who = if who.is_empty() {
            "no client attached".to_owned()
        } else {
            format!("attached: {}", who.join(", "))
        };
        let mut head = self.host.map(|h| format!("{h}  ")).unwrap_or_default();
        head += &format!(
            "{}  {}  {}  {}",
            render::time(hit.time),
            position,
            hit.pane_id.as_deref().unwrap_or("?"),
            who
        );
        if self.with_server {
            head.push_str(&format!("  server {}", hit.server));
        }
        if !hit.committed {
            head.push_str("  (not yet committed)");
        }
        if !first {
            writeln!(out)?;
        }
        writeln!(out, "{}", render::escape(&head))?;
        let at = self.matcher.find(&hit.line);
        writeln!(out, "    {}", excerpt(&hit.line, at, self.width))?;
        writeln!(out, "    {}", render::escape(&self.replay(hit)))
    }
}

/// `line` escaped for a terminal and cut to at most `width` characters, keeping the match (`at`,
/// bytes) in view; `…` marks what was cut.
fn excerpt(line: &str, at: Option<std::ops::Range<usize>>, width: usize) -> String {
    let pieces: Vec<(usize, String)> = line
        .char_indices()
        .map(|(i, c)| (i, render::escape(c.encode_utf8(&mut [0; 4]))))
        .collect();
    let len = |p: &(usize, String)| p.1.chars().count();
    if pieces.iter().map(len).sum::<usize>() <= width {
        return pieces.into_iter().map(|p| p.1).collect();
    }
    let room = width.saturating_sub(2).max(1);
    let first = at.map_or(0, |r| pieces.partition_point(|(i, _)| *i < r.start));
    let (mut start, mut used) = (first, 0);
    while start > 0 && used + len(&pieces[start - 1]) <= room / 4 {
        start -= 1;
        used += len(&pieces[start]);
    }
    let mut end = start;
    used = 0;
    while end < pieces.len() && used + len(&pieces[end]) <= room {
        used += len(&pieces[end]);
        end += 1;
    }
    while start > 0 && used + len(&pieces[start - 1]) <= room {
        start -= 1;
        used += len(&pieces[start]);
    }
    let mut shown = String::new();
    if start > 0 {
        shown.push('…');
    }
    shown.extend(pieces[start..end].iter().map(|p| p.1.as_str()));
    if end < pieces.len() {
        shown.push('…');
    }
    shown
}

/// Columns of the terminal on stdout, if it is one.
fn terminal_width() -> Option<usize> {
    if !std::io::stdout().is_terminal() {
        return None;
    }
    render::terminal_size().map(|(cols, _)| usize::from(cols))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpts_keep_the_match_in_view_and_escape() {
        assert_eq!(
            excerpt("a\x1b]52;c;eA==\x07b", None, 80),
            "a\\e]52;c;eA==\\x07b"
        );
        let long = format!("{}needle{}", "x".repeat(500), "y".repeat(500));
        let at = long.find("needle").map(|i| i..i + 6);
        let shown = excerpt(&long, at, 60);
        assert!(shown.contains("needle"), "{shown}");
        assert!(shown.starts_with('…') && shown.ends_with('…'), "{shown}");
        assert_eq!(shown.chars().count(), 60);
        let tail = excerpt(&format!("{}end", "x".repeat(100)), Some(100..103), 20);
        assert!(
            tail.ends_with("end") && tail.chars().count() <= 20,
            "{tail}"
        );
    }
}
