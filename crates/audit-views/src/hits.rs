//! Which lines of a pane's recorded output match a search, and when each appeared: the pure
//! half of `tmux-audit search` (no store, no printing).
//!
//! A chunk is rendered the way the recorder rendered it for the full-text index: its snapshot
//! drawn into an `audit_screen::Terminal`, its records fed in order. The lines that leave the
//! screen while it plays, and the lines on screen at its end, are the chunk's text, and a hit
//! is one of those lines that matches.
//!
//! **When.** A hit is dated by when its line first showed a match on screen, not when it
//! scrolled away. The screen is looked at after every record that is followed by a pause
//! ([`PAUSE_US`]: typing, a command finishing) and otherwise once per screenful of output, so
//! a typed command is dated by the keystroke that completed the match (a line that grows or is
//! edited in place keeps the time of the matching text it grew from) and a line inside a burst
//! of output by the start of that burst (never later than the line really appeared).
//!
//! **Once.** A line still on screen when a chunk ends is also on screen when the next chunk of
//! that pane starts, and is indexed with both. A hit is therefore an *occurrence*: a matching
//! line from when it is drawn until it leaves the screen, reported once. Occurrences are
//! followed by their text: a line that is still on screen, with the same text, when the next
//! chunk starts from exactly the picture this one ended with is the same occurrence and is not
//! reported again — however many chunks it stays visible in. A line whose text changed (a
//! command still being typed when a chunk was sealed) is a new text and is reported again with
//! it. When the next chunk does not continue this one's picture (the recorder restarted, or a
//! chunk in between was not searched), its starting picture is new to the search and its lines
//! are dated from the chunk's start.

use audit_capture::chunk::{Chunk, Record};
use audit_screen::{ScreenError, Terminal};
use regex::Regex;
use std::collections::{HashMap, VecDeque};
use std::ops::Range;
use thiserror::Error;

/// A pattern that cannot be searched for.
#[derive(Debug, Error)]
pub enum PatternError {
    /// Nothing to look for.
    #[error("the pattern is empty: give words to look for")]
    Empty,
    /// The words make no regular expression (too large).
    #[error("cannot build the search for these words: {0}")]
    Words(regex::Error),
    /// `--regex` was given something that is not one.
    #[error("invalid --regex pattern: {0}")]
    Regex(String),
}

/// A record followed by at least this long a pause (µs) is followed by a look at the screen.
pub const PAUSE_US: i64 = 50_000;

/// Not part of a word: the full-text index's tokens are runs of letters and digits (what
/// `char::is_alphanumeric` accepts).
const NOT_WORD_CHAR: &str = r"[^\p{Alphabetic}\p{N}]";

/// What a line must contain.
#[derive(Debug)]
pub struct Matcher {
    re: Regex,
    /// The pattern, when the full-text index can be asked for candidates.
    index: Option<String>,
}

impl Matcher {
    /// `pattern` as words: the exact phrase, case-insensitive, with its first and last word
    /// whole (`drop table` matches `DROP TABLE users;` but not `dropped tables`). Whole words are
    /// what make the index's candidates complete: every word of the phrase is then a token of
    /// the line, which is what the index finds.
    pub fn words(pattern: &str) -> Result<Self, PatternError> {
        if pattern.trim().is_empty() {
            return Err(PatternError::Empty);
        }
        let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
        let mut re = String::from("(?i)");
        if word(pattern.chars().next()) {
            re.push_str(&format!("(?:^|{NOT_WORD_CHAR})"));
        }
        re.push_str(&regex::escape(pattern));
        if word(pattern.chars().next_back()) {
            re.push_str(&format!("(?:$|{NOT_WORD_CHAR})"));
        }
        let re = Regex::new(&re).map_err(PatternError::Words)?;
        let has_token = pattern.chars().any(char::is_alphanumeric);
        Ok(Matcher {
            re,
            index: has_token.then(|| pattern.to_owned()),
        })
    }

    /// `pattern` as a regular expression (Rust `regex` syntax). The index is not used: a
    /// regular expression's literals need not be whole tokens (`drop` matches `dropped`).
    pub fn regex(pattern: &str) -> Result<Self, PatternError> {
        let re = Regex::new(pattern).map_err(|e| PatternError::Regex(one_line(&e.to_string())))?;
        Ok(Matcher { re, index: None })
    }

    /// The words to ask the full-text index for, when its candidates are sure to include every
    /// chunk with a hit; `None` means every chunk must be read.
    pub fn index_words(&self) -> Option<&str> {
        self.index.as_deref()
    }

    /// Whether `line` is a hit (blank lines never are; the index holds none).
    pub fn is_match(&self, line: &str) -> bool {
        !line.trim().is_empty() && self.re.is_match(line)
    }

    /// Where in `line` the first match is (bytes), to show that part of a long line.
    pub fn find(&self, line: &str) -> Option<Range<usize>> {
        self.re.find(line).map(|m| m.range())
    }
}

/// regex errors span several lines (the pattern, a caret, the message).
fn one_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(": ")
}

/// A matching line and when it first showed a match (µs since the epoch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Found {
    /// When it appeared.
    pub time: i64,
    /// The line as it was when it left the screen, or as it stood when the chunk ended.
    pub line: String,
}

/// What the search carries from one chunk of a pane to its next: the terminal as the last
/// chunk left it, and the matching lines still on it.
#[derive(Default)]
pub struct PaneScan {
    term: Option<Terminal>,
    live: Live,
}

impl PaneScan {
    /// The hits of output that follows what was scanned last, without a chunk of its own
    /// (output not yet committed, read from a spool); nothing before a first chunk was scanned.
    pub fn scan_after(
        &mut self,
        records: Vec<Record>,
        matcher: &Matcher,
    ) -> Result<Vec<Found>, ScreenError> {
        let (Some(term), Some(first)) = (&self.term, records.first()) else {
            return Ok(Vec::new());
        };
        let (width, height) = term.size();
        let chunk = Chunk {
            start: first.time(),
            end: records.last().map_or(first.time(), Record::time),
            width,
            height,
            snapshot: term.snapshot(),
            records,
        };
        self.scan(&chunk, matcher)
    }

    /// The hits of `chunk` (the next searched chunk of this pane), oldest first.
    pub fn scan(&mut self, chunk: &Chunk, matcher: &Matcher) -> Result<Vec<Found>, ScreenError> {
        let continuous = self.term.as_ref().is_some_and(|t| {
            t.size() == (chunk.width, chunk.height) && t.snapshot() == chunk.snapshot
        });
        if !continuous {
            self.term = Some(Terminal::from_snapshot(
                chunk.width,
                chunk.height,
                &chunk.snapshot,
            )?);
            self.live = Live::default();
        }
        let term = self.term.as_mut().expect("set above");
        let live = &mut self.live;
        let mut found = Vec::new();
        // The earliest a line first seen at the next look can have appeared.
        let mut lower = chunk.start;
        live.look(term, matcher, lower);
        let mut unlooked = 0usize;
        for (i, record) in chunk.records.iter().enumerate() {
            if unlooked == 0 {
                lower = record.time();
            }
            match record {
                Record::Output { bytes, .. } => {
                    term.feed(bytes);
                    unlooked = unlooked.saturating_add(bytes.len().max(1));
                }
                Record::Resize { width, height, .. } => {
                    term.resize(*width, *height);
                    unlooked = usize::MAX;
                }
            }
            for line in term.take_scrolled() {
                if matcher.is_match(&line) {
                    let occ = live.take(&line).unwrap_or(Occurrence::new(lower));
                    if !occ.reported {
                        found.push(Found {
                            time: occ.since,
                            line,
                        });
                    }
                }
            }
            let paused = chunk
                .records
                .get(i + 1)
                .is_none_or(|next| next.time() - record.time() >= PAUSE_US);
            let (w, h) = term.size();
            if paused || unlooked >= usize::from(w) * usize::from(h) {
                live.look(term, matcher, lower);
                unlooked = 0;
            }
        }
        found.extend(live.report_screen(term, matcher));
        found.sort_by_key(|f| f.time);
        Ok(found)
    }
}

/// One matching line on screen.
#[derive(Clone, Copy, Debug)]
struct Occurrence {
    since: i64,
    reported: bool,
}

impl Occurrence {
    fn new(since: i64) -> Self {
        Occurrence {
            since,
            reported: false,
        }
    }
}

/// The matching lines on screen, by text, oldest first.
#[derive(Default)]
struct Live(HashMap<String, VecDeque<Occurrence>>);

impl Live {
    /// Brings the set up to what the screen shows. A line seen for the first time is dated
    /// `lower`, unless it grew from (or was cut back from) a matching line that has just gone
    /// without leaving the screen — a command being typed, edited — whose time it keeps. Lines
    /// gone without leaving the screen are forgotten.
    fn look(&mut self, term: &Terminal, matcher: &Matcher, lower: i64) {
        let lines: Vec<String> = term
            .screen_text()
            .into_iter()
            .filter(|l| matcher.is_match(l))
            .collect();
        let mut shown: HashMap<&str, usize> = HashMap::new();
        for line in &lines {
            *shown.entry(line).or_default() += 1;
        }
        let mut gone: Vec<(String, Occurrence)> = Vec::new();
        self.0.retain(|text, occs| {
            let n = shown.get(text.as_str()).copied().unwrap_or(0);
            while occs.len() > n {
                gone.push((text.clone(), occs.pop_back().expect("longer than n")));
            }
            n > 0
        });
        let mut nth: HashMap<&str, usize> = HashMap::new();
        for line in &lines {
            let n = nth.entry(line).or_default();
            *n += 1;
            let occs = self.0.entry(line.clone()).or_default();
            if occs.len() < *n {
                let since = gone
                    .iter()
                    .position(|(old, _)| line.starts_with(old.as_str()) || old.starts_with(line))
                    .map_or(lower, |i| gone.swap_remove(i).1.since);
                occs.push_back(Occurrence::new(since));
            }
        }
    }

    /// The oldest occurrence of `text`, which has just left the screen.
    fn take(&mut self, text: &str) -> Option<Occurrence> {
        let occs = self.0.get_mut(text)?;
        let occ = occs.pop_front();
        if occs.is_empty() {
            self.0.remove(text);
        }
        occ
    }

    /// The matching lines on screen at the end of a chunk not reported yet, top to bottom;
    /// they are reported now, and stay known as reported while they stay on screen.
    fn report_screen(&mut self, term: &Terminal, matcher: &Matcher) -> Vec<Found> {
        let mut nth: HashMap<String, usize> = HashMap::new();
        let mut found = Vec::new();
        for line in term.screen_text() {
            if !matcher.is_match(&line) {
                continue;
            }
            let n = nth.entry(line.clone()).or_default();
            if let Some(occ) = self.0.get_mut(&line).and_then(|o| o.get_mut(*n)) {
                if !occ.reported {
                    occ.reported = true;
                    found.push(Found {
                        time: occ.since,
                        line,
                    });
                }
            }
            *n += 1;
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: i64 = 1_000;

    fn out(time: i64, bytes: &[u8]) -> Record {
        Record::Output {
            time,
            bytes: bytes.to_vec(),
        }
    }

    use audit_screen::rechunk::rechunk as chunked;

    fn search(chunks: &[Chunk], matcher: &Matcher) -> Vec<(i64, String)> {
        let mut pane = PaneScan::default();
        chunks
            .iter()
            .flat_map(|c| pane.scan(c, matcher).unwrap())
            .map(|f| (f.time, f.line))
            .collect()
    }

    fn words(p: &str) -> Matcher {
        Matcher::words(p).unwrap()
    }

    /// Typing `text` one key every 200 ms from `t`; returns the records and the time after.
    fn typed(t: i64, text: &str) -> Vec<Record> {
        text.bytes()
            .enumerate()
            .map(|(i, b)| out(t + i as i64 * 200 * MS, &[b]))
            .collect()
    }

    #[test]
    fn words_are_a_case_insensitive_phrase_with_whole_ends() {
        let m = words("DROP TABLE");
        assert!(m.is_match("psql> drop table users;"));
        assert!(m.is_match("x.Drop Table(y)"));
        assert!(!m.is_match("dropped tables"));
        assert!(!m.is_match("drop  table"));
        assert!(!m.is_match("table drop"));
        assert_eq!(m.index_words(), Some("DROP TABLE"));
        let m = words("-rf /");
        assert!(
            m.is_match("rm -rf /tmp"),
            "ends that are not word characters bind nothing"
        );
        assert!(
            words("$(").index_words().is_none(),
            "no token: the index cannot help"
        );
        assert!(words("a.b*c").is_match("A.B*C"), "no regex syntax in words");
        assert!(Matcher::words("  ").is_err());
    }

    #[test]
    fn regex_errors_fit_on_one_line() {
        let e = Matcher::regex("drop (table").unwrap_err().to_string();
        assert!(e.starts_with("invalid --regex pattern"), "{e}");
        assert!(!e.contains('\n'), "{e}");
        assert!(Matcher::regex("dr[o]p").unwrap().index_words().is_none());
    }

    #[test]
    fn a_typed_command_is_dated_by_the_key_that_completed_the_match() {
        let t = 1_000_000_000;
        let mut records = vec![out(t, b"$ ")];
        records.extend(typed(t + 1_000 * MS, "rm -rf /srv"));
        records.push(out(t + 5_000 * MS, b"\r\n$ "));
        let hits = search(&chunked((40, 5), &records, &[]), &words("rm -rf"));
        // "rm -rf" is complete with its 6th key, typed 1 s + 5 × 200 ms after t.
        assert_eq!(hits, [(t + 2_000 * MS, "$ rm -rf /srv".to_owned())]);
    }

    #[test]
    fn a_line_is_reported_once_while_it_stays_on_screen_across_chunks() {
        let t = 1_000_000_000;
        let records = vec![
            out(t, b"$ echo secret-token\r\nsecret-token\r\n$ "),
            out(t + 40 * 1_000 * MS, b"l"),
            out(t + 80 * 1_000 * MS, b"s\r\n"),
            out(t + 90 * 1_000 * MS, b"a\r\nb\r\nc\r\nd\r\ne\r\n$ "),
        ];
        // Each record its own chunk: the two lines stay on screen through three chunks.
        let chunks = chunked((40, 5), &records, &[1, 2, 3]);
        let hits = search(&chunks, &words("secret-token"));
        assert_eq!(
            hits,
            [
                (t, "$ echo secret-token".to_owned()),
                (t, "secret-token".to_owned())
            ]
        );
    }

    #[test]
    fn a_line_still_being_typed_when_the_chunk_ends_is_reported_with_each_text() {
        let t = 1_000_000_000;
        let mut records = typed(t, "drop table");
        let cut = records.len();
        records.extend(typed(t + 10_000 * MS, " users;\r\n"));
        let hits = search(&chunked((40, 5), &records, &[cut]), &words("drop table"));
        assert_eq!(
            hits,
            [
                (t + 9 * 200 * MS, "drop table".to_owned()),
                (t + 9 * 200 * MS, "drop table users;".to_owned())
            ],
            "the completed line keeps the time the match first showed"
        );
    }

    #[test]
    fn a_chunk_that_does_not_continue_the_last_picture_starts_afresh() {
        let t = 1_000_000_000;
        let records = vec![out(t, b"needle\r\n"), out(t + 60_000 * MS, b"more\r\n")];
        let mut chunks = chunked((20, 4), &records, &[1]);
        // A recorder restart: the second chunk starts from a picture of its own.
        let mut fresh = Terminal::new(20, 4).unwrap();
        fresh.feed(b"needle\r\n");
        fresh.feed(b"\x1b[2;1Hmoved");
        chunks[1].snapshot = fresh.snapshot();
        let hits = search(&chunks, &words("needle"));
        assert_eq!(
            hits,
            [
                (t, "needle".to_owned()),
                (t + 60_000 * MS, "needle".to_owned())
            ]
        );
    }

    #[test]
    fn a_burst_dates_its_lines_no_later_than_they_appeared() {
        let t = 1_000_000_000;
        let mut records = vec![out(t, b"$ make\r\n")];
        for i in 0..200 {
            let line = if i == 150 {
                "error: needle broke\r\n".to_owned()
            } else {
                format!("line {i}\r\n")
            };
            records.push(out(t + 1_000 * MS + i * MS, line.as_bytes()));
        }
        let hits = search(&chunked((40, 5), &records, &[]), &words("needle"));
        assert_eq!(hits.len(), 1);
        let (time, line) = &hits[0];
        assert_eq!(line, "error: needle broke");
        assert!(
            (t + 1_000 * MS..=t + 1_150 * MS).contains(time),
            "dated {time}, after it appeared"
        );
    }

    #[test]
    fn identical_lines_are_separate_hits() {
        let t = 1_000_000_000;
        let records = vec![
            out(t, b"fail\r\n"),
            out(t + 1_000 * MS, b"fail\r\n"),
            out(t + 2_000 * MS, b"x\r\ny\r\nz\r\nw\r\n"),
        ];
        let hits = search(&chunked((20, 3), &records, &[2]), &words("fail"));
        assert_eq!(
            hits,
            [(t, "fail".to_owned()), (t + 1_000 * MS, "fail".to_owned())]
        );
    }

    #[test]
    fn a_full_screen_program_is_searched_as_shown() {
        let t = 1_000_000_000;
        let records = vec![
            out(t, b"$ less notes\r\n"),
            out(t + 1_000 * MS, b"\x1b[?1049h\x1b[Hpassword: hunter2"),
            out(t + 9_000 * MS, b"\x1b[?1049l$ "),
        ];
        let hits = search(&chunked((30, 5), &records, &[]), &words("hunter2"));
        assert_eq!(hits, [(t + 1_000 * MS, "password: hunter2".to_owned())]);
    }
}
