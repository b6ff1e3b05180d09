//! The stored form of recorded output: a chunk is a self-contained stretch of one pane.
//!
//! Every chunk starts with a picture of the terminal at its start (`snapshot`, the bytes that
//! draw it on a reset terminal of `width` x `height`), so replay can begin at any chunk without
//! reading the ones before: seeking costs one chunk, never the whole recording.
//!
//! ```text
//! "TAC1"                          magic and version
//! start    i64                    microseconds since the epoch
//! end      i64                    time of the last record (or start)
//! width    u16, height u16        pane size at start
//! snapshot u32 length + bytes     draws the terminal as it was at `start`
//! records, each:
//!   kind   u8                     1 = output, 2 = resize
//!   delta  LEB128 u64             microseconds after `start`
//!   output: LEB128 length + bytes (exactly what the pane wrote)
//!   resize: u16 width, u16 height
//! ```
//!
//! All integers are big-endian. The encoded bytes are compressed with zstd before they are
//! stored ([`compress`]); the chain covers the compressed bytes by digest.

use thiserror::Error;

/// The first four bytes of every encoded chunk.
pub const MAGIC: &[u8; 4] = b"TAC1";

const OUTPUT: u8 = 1;
const RESIZE: u8 = 2;

/// What happened in a pane at one moment of a chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// Bytes the pane wrote, exactly.
    Output {
        /// Microseconds since the epoch.
        time: i64,
        /// The bytes.
        bytes: Vec<u8>,
    },
    /// The pane was resized.
    Resize {
        /// Microseconds since the epoch.
        time: i64,
        /// New width in columns.
        width: u16,
        /// New height in rows.
        height: u16,
    },
}

impl Record {
    /// When it happened, in microseconds since the epoch.
    pub fn time(&self) -> i64 {
        match self {
            Record::Output { time, .. } | Record::Resize { time, .. } => *time,
        }
    }
}

/// A decoded chunk.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Chunk {
    /// Microseconds since the epoch at which the chunk starts.
    pub start: i64,
    /// Time of its last record (equal to `start` when it has none).
    pub end: i64,
    /// Pane width at `start`.
    pub width: u16,
    /// Pane height at `start`.
    pub height: u16,
    /// Bytes that draw the terminal as it was at `start` on a reset terminal of that size.
    pub snapshot: Vec<u8>,
    /// What happened, in time order, all within `start..=end`.
    pub records: Vec<Record>,
}

impl Chunk {
    /// Output bytes carried by the records (the snapshot not counted).
    pub fn output_bytes(&self) -> u64 {
        self.records
            .iter()
            .map(|r| match r {
                Record::Output { bytes, .. } => bytes.len() as u64,
                Record::Resize { .. } => 0,
            })
            .sum()
    }

    /// Encodes the chunk (uncompressed).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.snapshot.len() + self.output_bytes() as usize);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&self.start.to_be_bytes());
        out.extend_from_slice(&self.end.to_be_bytes());
        out.extend_from_slice(&self.width.to_be_bytes());
        out.extend_from_slice(&self.height.to_be_bytes());
        let snap_len = u32::try_from(self.snapshot.len()).expect("a snapshot is under 4 GiB");
        out.extend_from_slice(&snap_len.to_be_bytes());
        out.extend_from_slice(&self.snapshot);
        for record in &self.records {
            // In i128: a record can lie more than i64::MAX µs after a (negative) start, and
            // decode accepts that, so the difference must not saturate (found by fuzzing).
            let delta =
                u64::try_from(i128::from(record.time()) - i128::from(self.start)).unwrap_or(0);
            match record {
                Record::Output { bytes, .. } => {
                    out.push(OUTPUT);
                    leb128(&mut out, delta);
                    leb128(&mut out, bytes.len() as u64);
                    out.extend_from_slice(bytes);
                }
                Record::Resize { width, height, .. } => {
                    out.push(RESIZE);
                    leb128(&mut out, delta);
                    out.extend_from_slice(&width.to_be_bytes());
                    out.extend_from_slice(&height.to_be_bytes());
                }
            }
        }
        out
    }

    /// Decodes bytes made by [`Chunk::encode`].
    pub fn decode(bytes: &[u8]) -> Result<Chunk, ChunkError> {
        let mut r = Cursor { bytes, at: 0 };
        if r.take(4)? != MAGIC {
            return Err(ChunkError::BadMagic);
        }
        let start = i64::from_be_bytes(r.array()?);
        let end = i64::from_be_bytes(r.array()?);
        let width = u16::from_be_bytes(r.array()?);
        let height = u16::from_be_bytes(r.array()?);
        let snap_len = u32::from_be_bytes(r.array()?) as usize;
        let snapshot = r.take(snap_len)?.to_vec();
        let mut records = Vec::new();
        while r.at < bytes.len() {
            let at = r.at;
            let kind = r.take(1)?[0];
            let delta = r.leb128()?;
            let time = start
                .checked_add_unsigned(delta)
                .ok_or(ChunkError::Corrupt(at))?;
            match kind {
                OUTPUT => {
                    let len = usize::try_from(r.leb128()?).map_err(|_| ChunkError::Corrupt(at))?;
                    let bytes = r.take(len)?.to_vec();
                    records.push(Record::Output { time, bytes });
                }
                RESIZE => {
                    let width = u16::from_be_bytes(r.array()?);
                    let height = u16::from_be_bytes(r.array()?);
                    records.push(Record::Resize {
                        time,
                        width,
                        height,
                    });
                }
                _ => return Err(ChunkError::Corrupt(at)),
            }
        }
        Ok(Chunk {
            start,
            end,
            width,
            height,
            snapshot,
            records,
        })
    }
}

/// Compresses encoded chunk bytes for storage.
pub fn compress(encoded: &[u8], level: i32) -> Vec<u8> {
    zstd::bulk::compress(encoded, level).expect("compressing into memory cannot fail")
}

/// Reverses [`compress`] and decodes.
pub fn decompress(stored: &[u8]) -> Result<Chunk, ChunkError> {
    let encoded = zstd::stream::decode_all(stored).map_err(|_| ChunkError::Compression)?;
    Chunk::decode(&encoded)
}

/// Why stored chunk bytes could not be read.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ChunkError {
    /// Not a chunk.
    #[error("not a tmux-audit output chunk (bad magic)")]
    BadMagic,
    /// Ends in the middle of a field.
    #[error("output chunk is truncated at byte {0}")]
    Truncated(usize),
    /// A field holds an impossible value.
    #[error("output chunk is corrupt at byte {0}")]
    Corrupt(usize),
    /// The zstd frame is damaged.
    #[error("output chunk does not decompress")]
    Compression,
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ChunkError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or(ChunkError::Truncated(self.at))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], ChunkError> {
        Ok(self.take(N)?.try_into().expect("took N bytes"))
    }

    fn leb128(&mut self) -> Result<u64, ChunkError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let at = self.at;
            let byte = self.take(1)?[0];
            let part = u64::from(byte & 0x7f);
            if shift == 63 && part > 1 {
                return Err(ChunkError::Corrupt(at));
            }
            value |= part << shift;
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(ChunkError::Corrupt(self.at))
    }
}

fn leb128(out: &mut Vec<u8>, mut value: u64) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Chunk {
        Chunk {
            start: 1_700_000_000_000_000,
            end: 1_700_000_000_500_000,
            width: 200,
            height: 50,
            snapshot: b"\x1b[H\x1b[2Jhello".to_vec(),
            records: vec![
                Record::Output {
                    time: 1_700_000_000_000_001,
                    bytes: b"\xff\x00\x1b]52;c;aGk=\x07".to_vec(),
                },
                Record::Resize {
                    time: 1_700_000_000_200_000,
                    width: 80,
                    height: 24,
                },
                Record::Output {
                    time: 1_700_000_000_500_000,
                    bytes: vec![b'x'; 300],
                },
            ],
        }
    }

    #[test]
    fn round_trips_through_compression() {
        let chunk = sample();
        let stored = compress(&chunk.encode(), 3);
        assert_eq!(decompress(&stored).unwrap(), chunk);
        assert_eq!(chunk.output_bytes(), 14 + 300);
    }

    #[test]
    fn rejects_every_truncation() {
        let bytes = sample().encode();
        // Cutting at a record boundary leaves a valid, shorter chunk; anywhere else must fail.
        let mut valid_cuts = 0;
        for cut in 0..bytes.len() {
            if Chunk::decode(&bytes[..cut]).is_ok() {
                valid_cuts += 1;
            }
        }
        assert_eq!(valid_cuts, 3, "header end and the two record boundaries");
    }

    #[test]
    fn rejects_unknown_record_kind_and_bad_magic() {
        let mut bytes = sample().encode();
        assert_eq!(Chunk::decode(b"TAC2"), Err(ChunkError::BadMagic));
        let header = 4 + 8 + 8 + 2 + 2 + 4 + sample().snapshot.len();
        bytes[header] = 9;
        assert_eq!(Chunk::decode(&bytes), Err(ChunkError::Corrupt(header)));
    }

    #[test]
    fn a_record_more_than_i64_max_after_a_negative_start_keeps_its_time() {
        // Found by the `chunk` fuzz target: encode saturated the delta at i64::MAX, so the
        // chunk decoded back with the record at another time.
        let chunk = Chunk {
            start: -4_683_743_595_285_446_656,
            end: 0,
            records: vec![Record::Resize {
                time: 4_539_628_441_569_329_151,
                width: 80,
                height: 24,
            }],
            ..Chunk::default()
        };
        assert_eq!(Chunk::decode(&chunk.encode()), Ok(chunk));
    }

    #[test]
    fn leb128_round_trips_extremes() {
        for v in [0, 1, 127, 128, 300, u32::MAX as u64, u64::MAX] {
            let mut out = Vec::new();
            leb128(&mut out, v);
            assert_eq!(Cursor { bytes: &out, at: 0 }.leb128(), Ok(v));
        }
    }
}
