//! Cutting a recording into chunks the way the daemon stores them: each starts with the snapshot
//! of the terminal at that point. For tests and tools that build recordings without a daemon.

use crate::Terminal;
use audit_capture::chunk::{Chunk, Record};

/// Cuts `records` (in time order, not empty) into chunks before each index in `cuts`, on a
/// terminal of `size` that starts blank.
pub fn rechunk(size: (u16, u16), records: &[Record], cuts: &[usize]) -> Vec<Chunk> {
    let mut term = Terminal::new(size.0.max(1), size.1.max(1)).expect("a size of at least 1x1");
    let mut bounds = vec![0];
    bounds.extend_from_slice(cuts);
    bounds.push(records.len());
    bounds
        .windows(2)
        .filter(|w| w[0] < w[1])
        .map(|w| {
            let part = &records[w[0]..w[1]];
            let (width, height) = term.size();
            let chunk = Chunk {
                start: part[0].time(),
                end: part[part.len() - 1].time(),
                width,
                height,
                snapshot: term.snapshot(),
                records: part.to_vec(),
            };
            for r in part {
                match r {
                    Record::Output { bytes, .. } => term.feed(bytes),
                    Record::Resize { width, height, .. } => term.resize(*width, *height),
                }
            }
            chunk
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_chunk_starts_from_what_the_last_one_left() {
        let out = |time, s: &str| Record::Output {
            time,
            bytes: s.as_bytes().to_vec(),
        };
        let chunks = rechunk((20, 3), &[out(1, "one\r\n"), out(2, "two\r\n")], &[1]);
        assert_eq!(chunks.len(), 2);
        let second = Terminal::from_snapshot(20, 3, &chunks[1].snapshot).unwrap();
        assert_eq!(second.screen_lines()[0], "one");
        assert_eq!((chunks[1].start, chunks[1].end), (2, 2));
    }
}
