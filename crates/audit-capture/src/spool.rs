//! The spool format: one file per captured pane stream.
//!
//! ```text
//! "TAS1"                       magic and version
//! repeated records:
//!   kind    u8                 1 = output, 2 = lost, 3 = closed (the pipe ended; last record)
//!   time    i64 (big-endian)   microseconds since the Unix epoch, when read
//!   length  u32 (big-endian)   output: bytes that follow; lost: bytes that could not be kept;
//!                              closed: 0
//!   bytes   [length]           output only
//! ```
//!
//! A record cut short by a crash is simply where the stream ends: [`Reader`] stops there and
//! reports it, so a spool is always readable up to its last whole record.

use std::io::{self, Read};
use thiserror::Error;

/// A spool's file name for pane `%N` opened at `micros`: `N-MICROS.tas`. The watcher names the
/// spools it opens so, and so do the copiers the pane-birth hooks start.
pub fn file_name(pane_number: &str, micros: i64) -> String {
    format!("{pane_number}-{micros}.tas")
}

/// The name of the folder that holds one tmux server's spools (under the daemon's spool
/// folder): the first 16 hex digits of the BLAKE3 hash of its socket path, so any path makes a
/// plain name. The watcher writes there, views and the ingester of leftovers read there.
pub fn folder_name(server: &str) -> String {
    blake3::hash(server.as_bytes()).to_hex().as_str()[..16].to_owned()
}

/// The pane number and the time from a spool's name, `N-MICROS.tas` (see [`file_name`]).
pub fn name_of(path: &std::path::Path) -> Option<(String, i64)> {
    let name = path.file_name()?.to_str()?.strip_suffix(".tas")?;
    let (pane, time) = name.split_once('-')?;
    if pane.is_empty() || !pane.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some((pane.to_owned(), time.parse().ok()?))
}

/// The first four bytes of every spool file.
pub const MAGIC: &[u8; 4] = b"TAS1";

const OUTPUT: u8 = 1;
const LOST: u8 = 2;
const CLOSED: u8 = 3;
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
    /// tmux closed the pipe (the pane ended, or someone ran `pipe-pane` on it): nothing follows.
    Closed {
        /// When (microseconds since the epoch).
        time: i64,
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

/// Appends the closing record to `buf`.
pub fn encode_closed(buf: &mut Vec<u8>, time: i64) {
    buf.push(CLOSED);
    buf.extend_from_slice(&time.to_be_bytes());
    buf.extend_from_slice(&0u32.to_be_bytes());
}

/// Parses the whole records at the start of `buf` (which follows the magic), for a reader that
/// tails a spool still being written. Returns them and how many bytes they took; an incomplete
/// record at the end is left for the next call.
pub fn parse_records(buf: &[u8], at: u64) -> Result<(Vec<Record>, usize), ReadError> {
    let mut records = Vec::new();
    let mut used = 0;
    while buf.len() - used >= HEADER {
        let header = &buf[used..used + HEADER];
        let time = i64::from_be_bytes(header[1..9].try_into().expect("8 bytes"));
        let length = u32::from_be_bytes(header[9..13].try_into().expect("4 bytes"));
        let (record, size) = match header[0] {
            OUTPUT => {
                let end = used + HEADER + length as usize;
                if end > buf.len() {
                    break;
                }
                let bytes = buf[used + HEADER..end].to_vec();
                (Record::Output { time, bytes }, HEADER + length as usize)
            }
            LOST => (
                Record::Lost {
                    time,
                    bytes: u64::from(length),
                },
                HEADER,
            ),
            CLOSED if length == 0 => (Record::Closed { time }, HEADER),
            CLOSED => {
                return Err(ReadError::ClosedWithLength {
                    length,
                    at: at + used as u64,
                })
            }
            kind => {
                return Err(ReadError::BadKind {
                    kind,
                    at: at + used as u64,
                })
            }
        };
        records.push(record);
        used += size;
    }
    Ok((records, used))
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
    /// A closing record whose length field is not 0: not what a copier writes, and two
    /// spellings of one record would let two different files read the same.
    #[error("closing record at byte {at} has length {length} (must be 0)")]
    ClosedWithLength {
        /// The length field.
        length: u32,
        /// The record's offset.
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
            CLOSED if length == 0 => Record::Closed { time },
            CLOSED => {
                return Err(ReadError::ClosedWithLength {
                    length,
                    at: self.at,
                })
            }
            kind => return Err(ReadError::BadKind { kind, at: self.at }),
        };
        self.at += (HEADER as u64)
            + match &record {
                Record::Output { bytes, .. } => bytes.len() as u64,
                Record::Lost { .. } | Record::Closed { .. } => 0,
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
    fn parse_records_leaves_an_incomplete_record_for_later() {
        let bytes = spool(|b| {
            encode_output(b, 1, b"first");
            encode_lost(b, 2, 7);
            encode_output(b, 3, b"second");
            encode_closed(b, 4);
        });
        let body = &bytes[4..];
        let mut all = Vec::new();
        let mut start = 0;
        // Feed it a byte at a time, as a tail of a file being written would see it.
        for end in 1..=body.len() {
            let (records, used) = parse_records(&body[start..end], start as u64).unwrap();
            all.extend(records);
            start += used;
        }
        assert_eq!(start, body.len());
        assert_eq!(
            all,
            vec![
                Record::Output {
                    time: 1,
                    bytes: b"first".to_vec()
                },
                Record::Lost { time: 2, bytes: 7 },
                Record::Output {
                    time: 3,
                    bytes: b"second".to_vec()
                },
                Record::Closed { time: 4 },
            ]
        );
        assert!(matches!(
            parse_records(&[9; 13], 100),
            Err(ReadError::BadKind { kind: 9, at: 100 })
        ));
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
    fn a_closing_record_with_a_length_is_refused() {
        // Found by the `spool` fuzz target: a closing record with length 0xaaaaaa00 was read
        // as if it were 0, so different bytes meant the same spool.
        let mut bytes = spool(|b| encode_closed(b, 4));
        bytes[4 + 9..4 + 13].copy_from_slice(&0xaaaa_aa00u32.to_be_bytes());
        let mut r = Reader::new(&bytes[..]).unwrap();
        assert!(matches!(
            r.next_record(),
            Err(ReadError::ClosedWithLength {
                length: 0xaaaa_aa00,
                at: 4
            })
        ));
        assert!(matches!(
            parse_records(&bytes[4..], 4),
            Err(ReadError::ClosedWithLength { at: 4, .. })
        ));
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
