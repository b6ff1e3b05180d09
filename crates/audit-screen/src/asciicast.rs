//! asciicast encoders (v2 and v3): newline-delimited JSON that asciinema plays.
//!
//! ```text
//! v2: {"version":2,"width":80,"height":24,"timestamp":1764340000}
//!     [0.000000, "o", "…"]          time since the start, seconds
//!     [1.250000, "r", "100x30"]
//! v3: {"version":3,"term":{"cols":80,"rows":24},"timestamp":1764340000}
//!     [0.000000, "o", "…"]          time since the previous event, seconds
//! ```
//!
//! JSON strings hold Unicode text, so output is decoded as a terminal decodes it: a character
//! split between two records is carried over whole into the later event (never split between
//! events), and invalid bytes become U+FFFD. That is the one lossy step; `export --format raw`
//! is the exact bytes. The first event (time 0) is the snapshot that draws the picture at the
//! start of the exported window, so a cast cut from the middle of a recording starts right.
//! Encoders do no I/O: each call returns the bytes to write.

use crate::playback::Step;
use crate::utf8::Decoder;

/// Which asciicast version to write.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Version {
    /// asciicast v2 (asciinema 2.x and later): absolute event times.
    V2,
    /// asciicast v3 (asciinema 3.x): intervals between events.
    V3,
}

/// Turns playback [`Step`]s into asciicast lines.
#[derive(Debug)]
pub struct Encoder {
    version: Version,
    title: Option<String>,
    origin: Option<i64>,
    last: i64,
    size: (u16, u16),
    decoder: Decoder,
}

impl Encoder {
    /// An encoder that writes `version`.
    pub fn new(version: Version) -> Self {
        Encoder {
            version,
            title: None,
            origin: None,
            last: 0,
            size: (0, 0),
            decoder: Decoder::new(),
        }
    }

    /// Puts `title` in the header.
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// The lines for one step. The first step must be the starting [`Step::Snapshot`]: it
    /// writes the header. Steps before it give nothing.
    pub fn step(&mut self, step: &Step) -> Vec<u8> {
        let mut out = Vec::new();
        match step {
            Step::Snapshot {
                time,
                width,
                height,
                bytes,
                first: _,
            } if self.origin.is_none() => {
                self.origin = Some(*time);
                self.last = *time;
                self.size = (*width, *height);
                self.header(&mut out, *time);
                let mut text = String::new();
                self.decoder.decode(bytes, &mut text);
                if !text.is_empty() {
                    self.event(&mut out, *time, "o", &text);
                }
            }
            _ if self.origin.is_none() => {}
            Step::Snapshot {
                time,
                width,
                height,
                bytes,
                ..
            } => {
                // A new picture: finish what was cut off, reset, draw it.
                let mut text = String::new();
                self.decoder.finish(&mut text);
                if self.size != (*width, *height) {
                    self.size = (*width, *height);
                    self.event(&mut out, *time, "r", &format!("{width}x{height}"));
                }
                text.push_str("\x1bc");
                self.decoder.decode(bytes, &mut text);
                self.event(&mut out, *time, "o", &text);
            }
            Step::Output { time, bytes } => {
                let mut text = String::new();
                self.decoder.decode(bytes, &mut text);
                if !text.is_empty() {
                    self.event(&mut out, *time, "o", &text);
                }
            }
            Step::Resize {
                time,
                width,
                height,
            } => {
                self.size = (*width, *height);
                self.event(&mut out, *time, "r", &format!("{width}x{height}"));
            }
        }
        out
    }

    /// The last line, if a character was left unfinished at the end (it shows as U+FFFD).
    pub fn finish(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut text = String::new();
        self.decoder.finish(&mut text);
        if !text.is_empty() && self.origin.is_some() {
            self.event(&mut out, self.last, "o", &text);
        }
        out
    }

    fn header(&self, out: &mut Vec<u8>, time: i64) {
        let (w, h) = self.size;
        let secs = time.div_euclid(1_000_000);
        let mut line = match self.version {
            Version::V2 => {
                format!("{{\"version\":2,\"width\":{w},\"height\":{h},\"timestamp\":{secs}")
            }
            Version::V3 => format!(
                "{{\"version\":3,\"term\":{{\"cols\":{w},\"rows\":{h}}},\"timestamp\":{secs}"
            ),
        };
        if let Some(title) = &self.title {
            line.push_str(",\"title\":");
            line.push_str(&json_string(title));
        }
        line.push_str("}\n");
        out.extend_from_slice(line.as_bytes());
    }

    fn event(&mut self, out: &mut Vec<u8>, time: i64, code: &str, data: &str) {
        // Records are in time order; never let a clock step make an interval negative.
        let time = time.max(self.last);
        let micros = match self.version {
            Version::V2 => time - self.origin.expect("header written"),
            Version::V3 => time - self.last,
        };
        self.last = time;
        let line = format!(
            "[{}.{:06}, \"{code}\", {}]\n",
            micros / 1_000_000,
            micros % 1_000_000,
            json_string(data)
        );
        out.extend_from_slice(line.as_bytes());
    }
}

fn json_string(s: &str) -> String {
    serde_json::to_string(s).expect("a string always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::playback::tests::{chunked, ok, out};
    use crate::playback::{Playback, Window};
    use crate::Terminal;
    use audit_capture::chunk::{Chunk, Record};
    use serde_json::Value;

    fn encode(version: Version, chunks: Vec<Chunk>, window: Window) -> String {
        let mut enc = Encoder::new(version).with_title("prod:0.1 \"quoted\"");
        let mut bytes = Vec::new();
        for step in Playback::new(ok(chunks), window) {
            bytes.extend(enc.step(&step.unwrap()));
        }
        bytes.extend(enc.finish());
        String::from_utf8(bytes).expect("asciicast is UTF-8")
    }

    /// Header, then (time in µs since the start, code, data) with times made absolute.
    fn parse(cast: &str) -> (Value, Vec<(i64, String, String)>) {
        let mut lines = cast.lines();
        let header: Value = serde_json::from_str(lines.next().unwrap()).unwrap();
        let v3 = header["version"] == 3;
        let mut now = 0;
        let events = lines
            .map(|l| {
                let e: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}"));
                let e = e.as_array().unwrap();
                assert_eq!(e.len(), 3);
                let t = (e[0].as_f64().unwrap() * 1e6).round() as i64;
                now = if v3 { now + t } else { t };
                let code = e[1].as_str().unwrap().to_owned();
                (now, code, e[2].as_str().unwrap().to_owned())
            })
            .collect();
        (header, events)
    }

    fn records() -> Vec<Record> {
        vec![
            out(1_000_000, b"\x1b[31mred\x1b[0m caf\xc3"),
            out(1_500_000, b"\xa9 \xff end\r\n\xe2\x82"),
            Record::Resize {
                time: 2_000_000,
                width: 30,
                height: 5,
            },
            out(3_250_000, b"\xac\x1b]52;c;aGk=\x07done"),
        ]
    }

    #[test]
    fn v2_is_well_formed_and_timed_from_the_start() {
        let cast = encode(
            Version::V2,
            chunked(20, 4, &records(), &[2]),
            Window::default(),
        );
        let (header, events) = parse(&cast);
        assert_eq!(header["version"], 2);
        assert_eq!(header["width"], 20);
        assert_eq!(header["height"], 4);
        assert_eq!(header["timestamp"], 1);
        assert_eq!(header["title"], "prod:0.1 \"quoted\"");
        assert!(cast.lines().next().unwrap().starts_with("{\"version\":2,"));
        // The snapshot of the starting picture (here a blank screen), then the records.
        assert_eq!(events[0].0, 0);
        assert_eq!(events[0].2, "\x1b[0m\x1b[1;1H\x1b[0m");
        let times: Vec<i64> = events.iter().map(|e| e.0).collect();
        assert_eq!(times, [0, 0, 500_000, 1_000_000, 2_250_000]);
        assert_eq!(events[3].1, "r");
        assert_eq!(events[3].2, "30x5");
    }

    #[test]
    fn characters_are_never_split_between_events() {
        let cast = encode(
            Version::V2,
            chunked(20, 4, &records(), &[]),
            Window::default(),
        );
        let (_, events) = parse(&cast);
        let data: Vec<&str> = events[1..] // after the starting snapshot
            .iter()
            .filter(|e| e.1 == "o")
            .map(|e| e.2.as_str())
            .collect();
        assert_eq!(
            data[0], "\x1b[31mred\x1b[0m caf",
            "the é waits for its second byte"
        );
        assert_eq!(
            data[1], "é \u{fffd} end\r\n",
            "invalid byte replaced; € held back"
        );
        assert!(data[2].starts_with('€'));
        // Everything together is the whole output, decoded as one stream.
        let all: Vec<u8> = records()
            .iter()
            .filter_map(|r| match r {
                Record::Output { bytes, .. } => Some(bytes.clone()),
                Record::Resize { .. } => None,
            })
            .flatten()
            .collect();
        assert_eq!(data.concat(), String::from_utf8_lossy(&all));
    }

    #[test]
    fn v3_counts_intervals() {
        let cast = encode(
            Version::V3,
            chunked(20, 4, &records(), &[2]),
            Window::default(),
        );
        let first = cast.lines().next().unwrap();
        assert!(
            first.starts_with("{\"version\":3,\"term\":{\"cols\":20,\"rows\":4}"),
            "{first}"
        );
        let raw_times: Vec<f64> = cast
            .lines()
            .skip(1)
            .map(|l| {
                serde_json::from_str::<Value>(l).unwrap()[0]
                    .as_f64()
                    .unwrap()
            })
            .collect();
        assert_eq!(raw_times, [0.0, 0.0, 0.5, 0.5, 1.25]);
        let (_, events) = parse(&cast);
        assert_eq!(events.last().unwrap().0, 2_250_000);
    }

    #[test]
    fn a_cast_from_the_middle_starts_with_the_picture_at_that_moment() {
        let recs = records();
        let window = Window {
            from: Some(2_500_000),
            to: None,
        };
        for version in [Version::V2, Version::V3] {
            let cast = encode(version, chunked(20, 4, &recs, &[2]), window);
            let (header, events) = parse(&cast);
            assert_eq!(header["timestamp"], 2);
            assert_eq!(events[0].0, 0);
            // Playing the cast gives the recording's final screen.
            let (w, h) = match version {
                Version::V2 => (&header["width"], &header["height"]),
                Version::V3 => (&header["term"]["cols"], &header["term"]["rows"]),
            };
            assert_eq!((w.as_u64(), h.as_u64()), (Some(30), Some(5)));
            let mut played = Terminal::new(30, 5).unwrap();
            for e in events.iter().filter(|e| e.1 == "o") {
                played.feed(e.2.as_bytes());
            }
            let mut direct = Terminal::new(20, 4).unwrap();
            for r in &recs {
                match r {
                    Record::Output { bytes, .. } => direct.feed(bytes),
                    Record::Resize { width, height, .. } => direct.resize(*width, *height),
                }
            }
            assert_eq!(played.screen_lines(), direct.screen_lines());
            assert_eq!(played.cursor(), direct.cursor());
        }
    }

    #[test]
    fn an_unfinished_character_at_the_end_is_flushed_as_replacement() {
        let chunks = chunked(20, 4, &[out(5, b"ab\xf0\x9f")], &[]);
        let (_, events) = parse(&encode(Version::V2, chunks, Window::default()));
        let data: String = events[1..].iter().map(|e| e.2.as_str()).collect();
        assert_eq!(data, "ab\u{fffd}");
    }
}
