//! Entry points for the fuzz targets in `fuzz/` and for the tests that replay their corpora.
//!
//! Each function takes arbitrary bytes, runs one parser on them, and panics when a promise the
//! parser makes is broken — not only when it crashes. The fuzz target and the replay test call
//! the same function, so what the fuzzer explored is checked on every `cargo test`.

use crate::encoding::{decode, encode};

/// The canonical event decoder: whatever the bytes, [`decode`] returns a typed result, and an
/// event it accepts encodes back to exactly those bytes (one byte string per event: the chain
/// hashes them).
pub fn event(data: &[u8]) {
    match decode(data) {
        Ok((seq, event)) => assert_eq!(
            encode(seq, &event),
            data,
            "decoded {event:?} does not encode back to its bytes"
        ),
        Err(e) => assert!(!e.to_string().is_empty()),
    }
}
