//! The hash chain: each stored record's hash covers its canonical bytes and the previous hash,
//! so changing, removing, inserting or reordering any record breaks every hash after it.
//!
//! `hash(n) = BLAKE3-derive-key("tmux-audit event chain v1", hash(n-1) ‖ bytes(n))`, with
//! `hash(0)` = 32 zero bytes. **Frozen** like [`crate::encoding`]: the context string and the
//! order of the inputs must never change.
//!
//! The chain alone proves internal consistency; someone who rewrites the whole store can
//! recompute it: the seals ([`crate::seal`]), made with a key kept off the machine, close that hole.
//! Checking a stored log against the chain is [`crate::inspect`]'s job.

/// A 32-byte chain hash.
pub type ChainHash = [u8; 32];

/// The hash before the first record.
pub const GENESIS: ChainHash = [0; 32];

const CONTEXT: &str = "tmux-audit event chain v1";

/// The hash of a record with canonical `bytes` following a record whose hash is `prev`.
pub fn link(prev: &ChainHash, bytes: &[u8]) -> ChainHash {
    let mut h = blake3::Hasher::new_derive_key(CONTEXT);
    h.update(prev);
    h.update(bytes);
    *h.finalize().as_bytes()
}

/// Lower-case hex of a hash.
pub fn to_hex(hash: &ChainHash) -> String {
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// Reads what [`to_hex`] wrote (either case); `None` for anything else.
pub fn from_hex(text: &str) -> Option<ChainHash> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

pub(crate) fn serialize_hex<S: serde::Serializer>(h: &ChainHash, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&to_hex(h))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_link_depends_on_the_previous_hash_and_every_byte() {
        let one = link(&GENESIS, b"record");
        assert_ne!(one, link(&GENESIS, b"recorc"));
        assert_ne!(link(&one, b"next"), link(&GENESIS, b"next"));
        assert_eq!(to_hex(&GENESIS), "0".repeat(64));
        assert_eq!(from_hex(&to_hex(&one)), Some(one));
        assert_eq!(from_hex("00"), None);
    }
}
