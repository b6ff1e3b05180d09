//! Streaming UTF-8 decoding, the way a terminal decodes: a character split across two reads
//! decodes as if the reads were one, and every invalid sequence becomes U+FFFD.
//!
//! Invalid input is replaced exactly as [`String::from_utf8_lossy`] replaces it (one U+FFFD per
//! maximal invalid subpart), whatever the read boundaries: that is the property the tests pin.

/// Decodes a byte stream that arrives in pieces.
#[derive(Clone, Debug, Default)]
pub struct Decoder {
    /// The start of a character whose remaining bytes have not arrived (at most 3 bytes).
    pending: Vec<u8>,
}

impl Decoder {
    /// A decoder with nothing pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends the text `bytes` complete to `out`; an unfinished character at the end waits
    /// for the next call.
    pub fn decode(&mut self, mut bytes: &[u8], out: &mut String) {
        while !self.pending.is_empty() {
            let Some((&first, rest)) = bytes.split_first() else {
                return;
            };
            bytes = rest;
            self.pending.push(first);
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    out.push_str(s);
                    self.pending.clear();
                }
                Err(e) => match e.error_len() {
                    None => {} // still incomplete, and still a valid prefix
                    Some(bad) => {
                        out.push(char::REPLACEMENT_CHARACTER);
                        let after = self.pending.split_off(bad);
                        self.pending.clear();
                        self.decode_fresh(&after, out);
                    }
                },
            }
        }
        self.decode_fresh(bytes, out);
    }

    /// Ends the stream: an unfinished character becomes U+FFFD.
    pub fn finish(&mut self, out: &mut String) {
        if !self.pending.is_empty() {
            self.pending.clear();
            out.push(char::REPLACEMENT_CHARACTER);
        }
    }

    /// The bytes of an unfinished character held back (empty when none).
    pub fn pending(&self) -> &[u8] {
        &self.pending
    }

    fn decode_fresh(&mut self, mut bytes: &[u8], out: &mut String) {
        debug_assert!(self.pending.is_empty());
        loop {
            match std::str::from_utf8(bytes) {
                Ok(s) => {
                    out.push_str(s);
                    return;
                }
                Err(e) => {
                    let (valid, rest) = bytes.split_at(e.valid_up_to());
                    // `valid_up_to` promises this prefix is UTF-8.
                    out.push_str(std::str::from_utf8(valid).expect("valid prefix"));
                    match e.error_len() {
                        Some(bad) => {
                            out.push(char::REPLACEMENT_CHARACTER);
                            bytes = &rest[bad..];
                        }
                        None => {
                            self.pending.extend_from_slice(rest);
                            return;
                        }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streamed(pieces: &[&[u8]]) -> String {
        let mut d = Decoder::new();
        let mut out = String::new();
        for p in pieces {
            d.decode(p, &mut out);
        }
        d.finish(&mut out);
        out
    }

    const SAMPLES: &[&[u8]] = &[
        "héllo wörld 🦀 日本".as_bytes(),
        b"\xff\x00abc\xfe",
        b"a\xe2\x82b",            // truncated 3-byte sequence, then ASCII
        b"\xf0\x9f\xa6",          // truncated 4-byte sequence at the very end
        b"\xc0\xaf\xed\xa0\x80z", // overlong and surrogate encodings
        b"\xe2\x82\xac\xe2\x82\xac\xf0\x9f\xa6\x80\xce",
        b"\x1b]52;c;aGk=\x07\xc3\xa9",
    ];

    #[test]
    fn every_split_decodes_like_the_whole() {
        for sample in SAMPLES {
            let whole = String::from_utf8_lossy(sample).into_owned();
            for cut in 0..=sample.len() {
                let (a, b) = sample.split_at(cut);
                assert_eq!(streamed(&[a, b]), whole, "{sample:?} cut at {cut}");
            }
            let bytes: Vec<&[u8]> = sample.chunks(1).collect();
            assert_eq!(streamed(&bytes), whole, "{sample:?} byte by byte");
        }
    }

    #[test]
    fn holds_back_an_unfinished_character() {
        let mut d = Decoder::new();
        let mut out = String::new();
        d.decode(b"ab\xf0\x9f", &mut out);
        assert_eq!(out, "ab");
        assert_eq!(d.pending(), b"\xf0\x9f");
        d.decode(b"\xa6\x80!", &mut out);
        assert_eq!(out, "ab🦀!");
        assert!(d.pending().is_empty());
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        assert_eq!(streamed(&[b"\xff"]), "\u{fffd}");
        assert_eq!(streamed(&[b"x\xe2\x82", b"y"]), "x\u{fffd}y");
        assert_eq!(streamed(&[b"\xe2", b"\x82"]), "\u{fffd}");
    }
}
