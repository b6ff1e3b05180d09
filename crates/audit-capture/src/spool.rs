//! The spool format: one file per captured pane stream.
//!
//! ```text
//! "TAS1"                       magic and version
//! repeated records:
//!   kind    u8                 1 = output, 2 = lost
//!   time    i64 (big-endian)   microseconds since the Unix epoch, when read
//!   length  u32 (big-endian)   output: bytes that follow; lost: bytes that could not be kept
//!   bytes   [length]           output only
//! ```
//!
//! A record cut short by a crash is simply where the stream ends: [`Reader`] stops there and
//! reports it, so a spool is always readable up to its last whole record.

use std::io::{self, Read};
use thiserror::Error;

/// The first four bytes of every spool file.
pub const MAGIC: &[u8; 4] = b"TAS1";

const OUTPUT: u8 = 1;
const LOST: u8 = 2;
const HEADER: usize = 1 + 8 + 4;

/// One record of a spool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// Bytes the pane wrote, as read at `time`.
    Output {
        /// Microseconds since the epoch.
        time: i64,
        /// Exactly the bytes read.
        bytes: Vec<u8>,
    },
    /// Output that arrived but could not be kept (the disk was full, say).
    Lost {
        /// When the loss ended (microseconds since the epoch).
        time: i64,
        /// How many bytes were lost.
        bytes: u64,
    },
}

/// Appends an output record to `buf` (at most 4 GiB: callers read far less at a time).
pub fn encode_output(buf: &mut Vec<u8>, time: i64, bytes: &[u8]) {
    let length = u32::try_from(bytes.len()).expect("a record is under 4 GiB");
    buf.push(OUTPUT);
    buf.extend_from_slice(&time.to_be_bytes());
    buf.extend_from_slice(&length.to_be_bytes());
    buf.extend_from_slice(bytes);
}

/// Appends a lost-output record to `buf`.
pub fn encode_lost(buf: &mut Vec<u8>, time: i64, bytes: u64) {
    buf.push(LOST);
    buf.extend_from_slice(&time.to_be_bytes());
    buf.extend_from_slice(&u32::try_from(bytes).unwrap_or(u32::MAX).to_be_bytes());
}

/// Why a spool could not be read.
#[derive(Debug, Error)]
pub enum ReadError {
    /// Not a spool (wrong magic).
    #[error("not a tmux-audit spool (bad magic)")]
    BadMagic,
    /// A record kind this version does not know.
    #[error("unknown record kind {kind} at byte {at}")]
    BadKind {
        /// The kind byte.
        kind: u8,
        /// Its offset.
        at: u64,
    },
    /// Reading failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

/// Reads records back.
#[derive(Debug)]
pub struct Reader<R: Read> {
    input: R,
    at: u64,
    /// Set when the stream ended inside a record (a crash mid-write).
    pub truncated: bool,
}

fn read_full(input: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

impl<R: Read> Reader<R> {
    /// Opens a spool (checks the magic).
    pub fn new(mut input: R) -> Result<Self, ReadError> {
        let mut magic = [0u8; 4];
        if read_full(&mut input, &mut magic)? != 4 || &magic != MAGIC {
            return Err(ReadError::BadMagic);
        }
        Ok(Reader {
            input,
            at: 4,
            truncated: false,
        })
    }

    /// The next whole record, or `None` at the end (see [`Reader::truncated`]).
    pub fn next_record(&mut self) -> Result<Option<Record>, ReadError> {
        let mut header = [0u8; HEADER];
        let got = read_full(&mut self.input, &mut header)?;
        if got == 0 {
            return Ok(None);
        }
        if got < HEADER {
            self.truncated = true;
            return Ok(None);
        }
        let time = i64::from_be_bytes(header[1..9].try_into().expect("8 bytes"));
        let length = u32::from_be_bytes(header[9..13].try_into().expect("4 bytes"));
        let record = match header[0] {
            OUTPUT => {
                let mut bytes = vec![0u8; length as usize];
                if read_full(&mut self.input, &mut bytes)? < bytes.len() {
                    self.truncated = true;
                    return Ok(None);
                }
                Record::Output { time, bytes }
            }
            LOST => Record::Lost {
                time,
                bytes: u64::from(length),
            },
            kind => return Err(ReadError::BadKind { kind, at: self.at }),
        };
        self.at += (HEADER as u64)
            + match &record {
                Record::Output { bytes, .. } => bytes.len() as u64,
                Record::Lost { .. } => 0,
            };
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spool(records: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
        let mut bytes = MAGIC.to_vec();
        records(&mut bytes);
        bytes
    }

    #[test]
    fn round_trips_binary_output_and_losses() {
        let hostile = b"\x1b]52;c;AAAA\x07\xff\xfe\0\r\n".to_vec();
        let bytes = spool(|b| {
            encode_output(b, 1, &hostile);
            encode_lost(b, 2, 4096);
            encode_output(b, 3, b"");
        });
        let mut r = Reader::new(&bytes[..]).unwrap();
        assert_eq!(
            r.next_record().unwrap(),
            Some(Record::Output {
                time: 1,
                bytes: hostile
            })
        );
        assert_eq!(
            r.next_record().unwrap(),
            Some(Record::Lost {
                time: 2,
                bytes: 4096
            })
        );
        assert_eq!(
            r.next_record().unwrap(),
            Some(Record::Output {
                time: 3,
                bytes: vec![]
            })
        );
        assert_eq!(r.next_record().unwrap(), None);
        assert!(!r.truncated);
    }

    #[test]
    fn a_record_cut_short_ends_the_stream_and_says_so() {
        let mut bytes = spool(|b| {
            encode_output(b, 1, b"whole");
            encode_output(b, 2, b"cut short");
        });
        bytes.truncate(bytes.len() - 3);
        let mut r = Reader::new(&bytes[..]).unwrap();
        assert!(matches!(
            r.next_record().unwrap(),
            Some(Record::Output { time: 1, .. })
        ));
        assert_eq!(r.next_record().unwrap(), None);
        assert!(r.truncated);
    }

    #[test]
    fn refuses_what_is_not_a_spool() {
        assert!(matches!(
            Reader::new(&b"TAE1xxxx"[..]),
            Err(ReadError::BadMagic)
        ));
        assert!(matches!(Reader::new(&b""[..]), Err(ReadError::BadMagic)));
    }
}
