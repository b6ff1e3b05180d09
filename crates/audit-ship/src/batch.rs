//! A batch of shipped records as the body of `POST /v1/records`.
//!
//! ```text
//! "TAB1"
//! per record:  seq u64 | data_len u32 | data | hash [32] | chunk flag u8 (0|1) [| chunk_len u32 | chunk]
//! ```
//!
//! Integers are big-endian. Decoding is strict — one batch has exactly one encoding: a flag
//! other than 0 or 1, a length past a limit or past the end, a batch with no records or bytes
//! after the last record are refused, naming the offset. Lengths are checked against the
//! limits and the bytes present before anything is allocated, so a hostile length costs
//! nothing.

use audit_store::central::Shipped;
use thiserror::Error;

/// The first four bytes of every batch.
pub const MAGIC: &[u8; 4] = b"TAB1";
/// Largest body the collector reads (bytes): it stops reading there and answers 413.
pub const MAX_BODY: usize = 32 << 20;
/// Most records in one batch.
pub const MAX_RECORDS: usize = 5000;
/// Largest canonical record (bytes); events are small, this only bounds a hostile one.
pub const MAX_DATA: usize = 1 << 20;
/// Largest compressed chunk (bytes); the daemon's chunks are far smaller.
pub const MAX_CHUNK: usize = 16 << 20;

/// Why a body is not a batch.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum BatchError {
    /// It does not start with [`MAGIC`].
    #[error("not a tmux-audit batch (it must start with TAB1)")]
    BadMagic,
    /// It is larger than [`MAX_BODY`].
    #[error("the batch is {0} bytes, more than the {MAX_BODY} allowed")]
    TooLarge(usize),
    /// It holds no record.
    #[error("the batch holds no record")]
    Empty,
    /// It holds more than [`MAX_RECORDS`].
    #[error("more than {MAX_RECORDS} records in one batch")]
    TooManyRecords,
    /// It ends inside a field.
    #[error("the batch ends inside a record at byte {0}")]
    Truncated(usize),
    /// A record's data or chunk length is past its limit.
    #[error("at byte {offset}: a length of {len} is more than the {max} allowed")]
    Length {
        /// Where the length field is.
        offset: usize,
        /// What it says.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A chunk flag other than 0 or 1.
    #[error("at byte {offset}: chunk flag {flag} (must be 0 or 1)")]
    Flag {
        /// Where the flag is.
        offset: usize,
        /// What it is.
        flag: u8,
    },
}

/// How many bytes `record` takes in a batch: what a host counts to keep batches under limits.
pub fn encoded_len(record: &Shipped) -> usize {
    8 + 4 + record.data.len() + 32 + 1 + record.chunk.as_ref().map_or(0, |c| 4 + c.len())
}

/// The body for `records`. The caller keeps within the limits (the collector refuses a batch
/// that is not).
pub fn encode(records: &[Shipped]) -> Vec<u8> {
    let len = MAGIC.len() + records.iter().map(encoded_len).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(MAGIC);
    for r in records {
        out.extend_from_slice(&r.seq.to_be_bytes());
        out.extend_from_slice(&len_u32(r.data.len()).to_be_bytes());
        out.extend_from_slice(&r.data);
        out.extend_from_slice(&r.hash);
        match &r.chunk {
            None => out.push(0),
            Some(chunk) => {
                out.push(1);
                out.extend_from_slice(&len_u32(chunk.len()).to_be_bytes());
                out.extend_from_slice(chunk);
            }
        }
    }
    out
}

fn len_u32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Reads a body written by [`encode`], strictly.
pub fn decode(body: &[u8]) -> Result<Vec<Shipped>, BatchError> {
    if body.len() > MAX_BODY {
        return Err(BatchError::TooLarge(body.len()));
    }
    if body.get(..4) != Some(MAGIC) {
        return Err(BatchError::BadMagic);
    }
    let mut r = Cursor { body, at: 4 };
    let mut records = Vec::new();
    while r.at < body.len() {
        if records.len() == MAX_RECORDS {
            return Err(BatchError::TooManyRecords);
        }
        let seq = u64::from_be_bytes(r.array()?);
        let data = r.sized(MAX_DATA)?.to_vec();
        let hash = r.array::<32>()?;
        let at = r.at;
        let chunk = match r.array::<1>()?[0] {
            0 => None,
            1 => Some(r.sized(MAX_CHUNK)?.to_vec()),
            flag => return Err(BatchError::Flag { offset: at, flag }),
        };
        records.push(Shipped {
            seq,
            data,
            hash,
            chunk,
        });
    }
    if records.is_empty() {
        return Err(BatchError::Empty);
    }
    Ok(records)
}

struct Cursor<'a> {
    body: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BatchError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.body.len())
            .ok_or(BatchError::Truncated(self.at))?;
        let bytes = &self.body[self.at..end];
        self.at = end;
        Ok(bytes)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], BatchError> {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    /// A u32 length, checked against `max`, then that many bytes.
    fn sized(&mut self, max: usize) -> Result<&'a [u8], BatchError> {
        let offset = self.at;
        let len = u32::from_be_bytes(self.array()?) as usize;
        if len > max {
            return Err(BatchError::Length { offset, len, max });
        }
        self.take(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<Shipped> {
        vec![
            Shipped {
                seq: 1,
                data: b"TAE1 one".to_vec(),
                hash: [1; 32],
                chunk: None,
            },
            Shipped {
                seq: 2,
                data: b"TAE1 two".to_vec(),
                hash: [2; 32],
                chunk: Some(b"zstd bytes".to_vec()),
            },
            Shipped {
                seq: 3,
                data: vec![],
                hash: [3; 32],
                chunk: Some(vec![]),
            },
        ]
    }

    #[test]
    fn round_trip_and_length_is_exact() {
        let records = sample();
        let body = encode(&records);
        assert_eq!(
            body.len(),
            4 + records.iter().map(encoded_len).sum::<usize>()
        );
        assert_eq!(decode(&body).unwrap(), records);
    }

    #[test]
    fn every_malformation_is_refused_with_its_offset() {
        let body = encode(&sample());
        assert_eq!(decode(b""), Err(BatchError::BadMagic));
        assert_eq!(decode(b"TAB2"), Err(BatchError::BadMagic));
        assert_eq!(decode(MAGIC), Err(BatchError::Empty));
        // Cut anywhere inside: truncated, never accepted (only whole records end a batch).
        let ends: Vec<usize> = {
            let mut at = 4;
            sample()
                .iter()
                .map(|r| {
                    at += encoded_len(r);
                    at
                })
                .collect()
        };
        for cut in 5..body.len() {
            let got = decode(&body[..cut]);
            if ends.contains(&cut) {
                assert!(got.is_ok(), "cut at {cut}");
            } else {
                assert!(
                    matches!(got, Err(BatchError::Truncated(_))),
                    "cut at {cut}: {got:?}"
                );
            }
        }
        // Trailing bytes are a record cut short.
        let mut trailing = body.clone();
        trailing.push(0);
        assert_eq!(decode(&trailing), Err(BatchError::Truncated(body.len())));
        // A bad flag, at its offset.
        let flag_at = 4 + 8 + 4 + 8 + 32;
        let mut flag = body.clone();
        flag[flag_at] = 2;
        assert_eq!(
            decode(&flag),
            Err(BatchError::Flag {
                offset: flag_at,
                flag: 2
            })
        );
        // A length past its limit, before anything is read or allocated.
        let mut long = body.clone();
        long[12..16].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(
            decode(&long),
            Err(BatchError::Length {
                offset: 12,
                len: u32::MAX as usize,
                max: MAX_DATA
            })
        );
        let mut chunk = body.clone();
        let chunk_len_at = ends[0] + 8 + 4 + 8 + 32 + 1;
        chunk[chunk_len_at..chunk_len_at + 4]
            .copy_from_slice(&(MAX_CHUNK as u32 + 1).to_be_bytes());
        assert!(
            matches!(decode(&chunk), Err(BatchError::Length { offset, .. }) if offset == chunk_len_at)
        );
        // A length within limits but past the end.
        let mut past = body;
        past[12..16].copy_from_slice(&1000u32.to_be_bytes());
        assert!(matches!(decode(&past), Err(BatchError::Truncated(16))));
    }

    #[test]
    fn too_many_records_and_too_large_bodies_are_refused() {
        let one = Shipped {
            seq: 1,
            data: vec![],
            hash: [0; 32],
            chunk: None,
        };
        let many = vec![one; MAX_RECORDS + 1];
        assert_eq!(decode(&encode(&many)), Err(BatchError::TooManyRecords));
        assert!(decode(&encode(&many[..MAX_RECORDS])).is_ok());
        let mut huge = MAGIC.to_vec();
        huge.resize(MAX_BODY + 1, 0);
        assert_eq!(decode(&huge), Err(BatchError::TooLarge(MAX_BODY + 1)));
    }
}
