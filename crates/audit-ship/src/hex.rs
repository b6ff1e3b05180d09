//! Lower-case hex for chain hashes in JSON answers.

use audit_core::ChainHash;

pub(crate) fn encode(hash: &ChainHash) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(64);
    for b in hash {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

pub(crate) fn decode(text: &str) -> Option<ChainHash> {
    let bytes = text.as_bytes();
    if bytes.len() != 64 {
        return None;
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let mut hash = [0; 32];
    for (i, pair) in bytes.chunks_exact(2).enumerate() {
        hash[i] = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(hash)
}

#[cfg(test)]
mod tests {
    #[test]
    fn round_trip_and_only_lower_case_64_digits() {
        let h: [u8; 32] = std::array::from_fn(|i| (i * 37) as u8);
        assert_eq!(super::decode(&super::encode(&h)), Some(h));
        assert_eq!(super::decode(&super::encode(&h).to_uppercase()), None);
        assert_eq!(super::decode("00"), None);
        assert_eq!(super::decode(&"g".repeat(64)), None);
    }
}
