//! The fuzz check of the batch decoder and the answer parsers, shared by `fuzz/fuzz_targets/ship.rs`
//! and the corpus replay in `crates/tmux-audit/tests/fuzz_corpus.rs`.

use crate::batch::{self, MAX_CHUNK, MAX_DATA, MAX_RECORDS};
use crate::{HeadAnswer, PostAnswer};

/// Decodes `data` as a batch and as answers. Promises: no panic; an accepted batch is within
/// every limit and re-encodes to exactly `data` (one encoding per batch, nothing ignored);
/// answers parse to a value or a typed error under any status.
pub fn ship(data: &[u8]) {
    if let Ok(records) = batch::decode(data) {
        assert!(!records.is_empty() && records.len() <= MAX_RECORDS);
        for r in &records {
            assert!(r.data.len() <= MAX_DATA);
            assert!(r.chunk.as_ref().is_none_or(|c| c.len() <= MAX_CHUNK));
        }
        assert_eq!(
            batch::encode(&records),
            data,
            "re-encodes to the same bytes"
        );
    }
    let status = data
        .first()
        .map_or(200, |&b| [200, 409, 401, 503][usize::from(b % 4)]);
    let _ = HeadAnswer::parse(status, data);
    let _ = PostAnswer::parse(status, data);
}
