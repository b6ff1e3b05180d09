//! Shell marks in pane output: the OSC 133 semantic-prompt sequences (and OSC 7, the working
//! directory) that the `tmux-audit shell-init` snippet makes the user's shell print around each
//! command. Found in the raw output stream, across reads, whatever else the pane prints.
//!
//! ```text
//! ESC ] 133 ; C ; cmdline_url=PERCENT-ENCODED-LINE BEL    the command line, as it starts
//! ESC ] 7 ; file://HOST/PERCENT-ENCODED-PATH BEL          where it runs
//! ESC ] 133 ; D ; EXIT-STATUS BEL                         it ended
//! ```
//!
//! (ST, `ESC \`, ends a sequence as well as BEL.) These come from the user's own shell: anyone
//! who can print to the pane can print them too.

/// One mark.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Mark {
    /// A command started: the line as typed (decoded bytes).
    Started(Vec<u8>),
    /// The working directory (decoded path bytes).
    Cwd(Vec<u8>),
    /// The command ended with this status (`None` when the shell gave none).
    Ended(Option<i64>),
}

/// The longest OSC payload kept: a longer one is not a mark and is skipped.
const MAX_OSC: usize = 64 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Text,
    Esc,
    Osc,
    OscEsc,
}

/// Finds marks in a byte stream fed in pieces.
#[derive(Debug)]
pub struct Scanner {
    state: State,
    payload: Vec<u8>,
    too_long: bool,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner {
            state: State::Text,
            payload: Vec::new(),
            too_long: false,
        }
    }
}

impl Scanner {
    /// Feeds the next bytes; marks completed in them are pushed to `out`.
    pub fn feed(&mut self, mut bytes: &[u8], out: &mut Vec<Mark>) {
        while !bytes.is_empty() {
            if self.state == State::Text {
                // Most output holds no escape at all: skip to the next one.
                let Some(esc) = bytes.iter().position(|&b| b == 0x1b) else {
                    return;
                };
                bytes = &bytes[esc..];
            }
            let b = bytes[0];
            bytes = &bytes[1..];
            self.state = match (self.state, b) {
                (State::Text, 0x1b) => State::Esc,
                (State::Text, _) => State::Text,
                (State::Esc, b']') => {
                    self.payload.clear();
                    self.too_long = false;
                    State::Osc
                }
                (State::Esc, 0x1b) => State::Esc,
                (State::Esc, _) => State::Text,
                (State::Osc, 0x07) => {
                    self.finish(out);
                    State::Text
                }
                (State::Osc, 0x1b) => State::OscEsc,
                (State::Osc, _) => {
                    if self.payload.len() < MAX_OSC {
                        self.payload.push(b);
                    } else {
                        self.too_long = true;
                    }
                    State::Osc
                }
                (State::OscEsc, b'\\') => {
                    self.finish(out);
                    State::Text
                }
                // ESC inside an OSC that is not ST: the sequence was cut; start over.
                (State::OscEsc, b']') => {
                    self.payload.clear();
                    self.too_long = false;
                    State::Osc
                }
                // Another ESC starts an escape of its own, as in a terminal: swallowing it let
                // a program that ended its output with `ESC ] ESC` hide the shell's next mark
                // (found by fuzzing).
                (State::OscEsc, 0x1b) => State::Esc,
                (State::OscEsc, _) => State::Text,
            };
        }
    }

    fn finish(&mut self, out: &mut Vec<Mark>) {
        if self.too_long {
            return;
        }
        let p = self.payload.as_slice();
        if let Some(rest) = p.strip_prefix(b"133;C;cmdline_url=") {
            out.push(Mark::Started(percent_decode(rest)));
        } else if let Some(rest) = p.strip_prefix(b"133;D") {
            let status = rest
                .strip_prefix(b";")
                .and_then(|s| std::str::from_utf8(s.split(|&b| b == b';').next()?).ok())
                .and_then(|s| s.trim().parse().ok());
            out.push(Mark::Ended(status));
        } else if let Some(rest) = p.strip_prefix(b"7;file://") {
            // Host, then the path from its first slash.
            if let Some(slash) = rest.iter().position(|&b| b == b'/') {
                out.push(Mark::Cwd(percent_decode(&rest[slash..])));
            }
        }
    }
}

fn percent_decode(s: &[u8]) -> Vec<u8> {
    let hex = |b: u8| (b as char).to_digit(16);
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' && i + 2 < s.len() {
            if let (Some(h), Some(l)) = (hex(s[i + 1]), hex(s[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scan(pieces: &[&[u8]]) -> Vec<Mark> {
        let mut s = Scanner::default();
        let mut out = Vec::new();
        for p in pieces {
            s.feed(p, &mut out);
        }
        out
    }

    #[test]
    fn marks_are_found_among_output_and_across_reads() {
        let stream: &[u8] = b"$ \x1b]133;C;cmdline_url=ls%20-l%20%7C%20grep%20x\x07\x1b]7;file://vm/tmp/a%20b\x1b\\out\x1b[31mred\x1b]133;D;1\x07";
        let whole = scan(&[stream]);
        assert_eq!(
            whole,
            vec![
                Mark::Started(b"ls -l | grep x".to_vec()),
                Mark::Cwd(b"/tmp/a b".to_vec()),
                Mark::Ended(Some(1))
            ]
        );
        // Byte by byte gives the same.
        let pieces: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(scan(&pieces), whole);
    }

    #[test]
    fn exact_bytes_come_back_and_other_oscs_are_ignored() {
        assert_eq!(
            scan(&[b"\x1b]0;title\x07\x1b]133;C;cmdline_url=printf%20%27%FF%0A%1B%27\x07\x1b]133;D\x07"]),
            vec![
                Mark::Started(b"printf '\xff\n\x1b'".to_vec()),
                Mark::Ended(None)
            ]
        );
        // A cut sequence and an over-long one are not marks.
        assert_eq!(scan(&[b"\x1b]133;C;cmdline_url=a\x1b[0m"]), vec![]);
        let mut long = b"\x1b]133;C;cmdline_url=".to_vec();
        long.extend(std::iter::repeat_n(b'a', MAX_OSC + 10));
        long.push(0x07);
        assert_eq!(scan(&[&long]), vec![]);
    }

    #[test]
    fn an_osc_cut_by_esc_cannot_hide_the_next_mark() {
        // Found by the `marks` fuzz target: the ESC that began the shell's mark was taken as
        // the end of the unfinished OSC before it, and the mark was lost.
        assert_eq!(
            scan(&[b"out]0;x", b"]133;D;3"]),
            vec![Mark::Ended(Some(3))]
        );
    }
}
