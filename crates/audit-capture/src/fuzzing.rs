//! Entry points for the fuzz targets in `fuzz/` and for the tests that replay their corpora.
//!
//! Each function takes arbitrary bytes, runs one parser on them, and panics when a promise the
//! parser makes is broken — not only when it crashes. The fuzz target and the replay test call
//! the same function, so what the fuzzer explored is checked on every `cargo test`.

use crate::chunk::Chunk;
use crate::marks::{Mark, Scanner};
use crate::spool::{self, ReadError, Reader, Record};

/// Cuts `data` into pieces whose sizes (1 to 17 bytes) are drawn from `seed`, the way reads
/// from a pipe cut a stream anywhere.
fn pieces<'a>(data: &'a [u8], seed: &[u8]) -> Vec<&'a [u8]> {
    let mut out = Vec::new();
    let mut rest = data;
    let mut i = 0;
    while !rest.is_empty() {
        let n = seed
            .get(i % seed.len().max(1))
            .map_or(1, |&b| 1 + usize::from(b % 17));
        let (head, tail) = rest.split_at(n.min(rest.len()));
        out.push(head);
        rest = tail;
        i += 1;
    }
    out
}

fn scan(pieces: &[&[u8]]) -> Vec<Mark> {
    let mut scanner = Scanner::default();
    let mut out = Vec::new();
    for p in pieces {
        scanner.feed(p, &mut out);
    }
    out
}

/// Every byte as `%XX`: what the shell snippet's encoding may produce at most.
fn percent_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("%{b:02X}")).collect()
}

/// The OSC 133/7 mark scanner: the marks found do not depend on where reads cut the stream,
/// and whatever a pane printed before, a well-formed mark printed after it is found with its
/// exact bytes (earlier output cannot hide or alter the next command line, directory or exit
/// status).
pub fn marks(data: &[u8]) {
    let (seed, stream) = data.split_at(data.len().min(4));
    let whole = scan(&[stream]);
    assert_eq!(
        scan(&pieces(stream, seed)),
        whole,
        "marks depend on how the stream was cut"
    );

    let (before, line) = stream.split_at(stream.len() / 2);
    let status = i64::from_be_bytes(std::array::from_fn(|i| seed.get(i).copied().unwrap_or(0)));
    let mut tail = before.to_vec();
    tail.extend_from_slice(b"\x1b]133;C;cmdline_url=");
    tail.extend_from_slice(percent_encode(line).as_bytes());
    tail.extend_from_slice(b"\x07\x1b]7;file://host/");
    tail.extend_from_slice(percent_encode(line).as_bytes());
    tail.extend_from_slice(format!("\x1b\\\x1b]133;D;{status}\x07").as_bytes());
    let found = scan(&[&tail]);
    let mut cwd = b"/".to_vec();
    cwd.extend_from_slice(line);
    assert_eq!(
        found[found.len().saturating_sub(3)..],
        [
            Mark::Started(line.to_vec()),
            Mark::Cwd(cwd),
            Mark::Ended(Some(status))
        ],
        "marks printed after {before:?} were not found intact"
    );
}

/// The spool reader: [`Reader`] (reading a closed spool) and [`spool::parse_records`] (tailing
/// one being written, fed in arbitrary pieces) agree on the records, on where a record was cut
/// short and on where an unknown kind is; the records re-encode to exactly the bytes read; and
/// a length field cannot make the reader allocate what the input does not hold.
pub fn spool(data: &[u8]) {
    let mut reader = match Reader::new(data) {
        Ok(r) => r,
        Err(ReadError::BadMagic) => {
            assert!(data.len() < 4 || &data[..4] != spool::MAGIC);
            return;
        }
        Err(e) => panic!("opening a spool in memory failed: {e}"),
    };
    let mut read = Vec::new();
    let read_end = loop {
        match reader.next_record() {
            Ok(Some(r)) => read.push(r),
            Ok(None) => break Ok(reader.truncated),
            Err(ReadError::BadKind { kind, at }) => break Err((Some(kind), at)),
            Err(ReadError::ClosedWithLength { at, .. }) => break Err((None, at)),
            Err(e) => panic!("reading a spool in memory failed: {e}"),
        }
    };

    let body = &data[4..];
    let whole = spool::parse_records(body, 4);
    let (tailed, used) = match (&whole, read_end) {
        (Ok((records, used)), Ok(truncated)) => {
            assert_eq!(truncated, *used < body.len(), "truncation not agreed");
            (records.clone(), *used)
        }
        (Err(ReadError::BadKind { kind, at }), Err((k, a))) => {
            assert_eq!(
                (Some(*kind), *at),
                (k, a),
                "bad kind found at different places"
            );
            return;
        }
        (Err(ReadError::ClosedWithLength { at, .. }), Err((None, a))) => {
            assert_eq!(*at, a, "bad closing record found at different places");
            return;
        }
        (w, r) => panic!("reader ended {r:?}, parse_records {w:?}"),
    };
    assert_eq!(read, tailed, "reader and parse_records disagree");

    // Fed as a tail would see the file grow.
    let mut got = Vec::new();
    let mut start = 0;
    let mut end = 0;
    for p in pieces(body, data) {
        end += p.len();
        let (records, n) = spool::parse_records(&body[start..end], 4 + start as u64)
            .expect("the whole parses, so every prefix does");
        got.extend(records);
        start += n;
    }
    assert_eq!(
        (got, start),
        (tailed.clone(), used),
        "tailing in pieces differs"
    );

    let mut again = Vec::new();
    for r in &tailed {
        match r {
            Record::Output { time, bytes } => spool::encode_output(&mut again, *time, bytes),
            Record::Lost { time, bytes } => spool::encode_lost(&mut again, *time, *bytes),
            Record::Closed { time } => spool::encode_closed(&mut again, *time),
        }
    }
    assert_eq!(
        again,
        body[..used],
        "records do not re-encode to their bytes"
    );
}

/// The stored chunk format: [`Chunk::decode`] returns a typed result for any bytes, and a
/// chunk it accepts encodes to bytes that decode to the same chunk, every record at or after
/// the chunk's start.
pub fn chunk(data: &[u8]) {
    let Ok(chunk) = Chunk::decode(data) else {
        return;
    };
    assert!(chunk.records.iter().all(|r| r.time() >= chunk.start));
    assert_eq!(
        Chunk::decode(&chunk.encode()).as_ref(),
        Ok(&chunk),
        "a decoded chunk does not survive encoding"
    );
}
