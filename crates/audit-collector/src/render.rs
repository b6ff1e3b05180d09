//! The text of a shipped chunk for the full-text index, rendered here through the same
//! emulator as the host's ingest (`audit_screen::text`), rather than trusted from the host.
//! Decompression is bounded: a small zstd frame can claim gigabytes.

use audit_capture::chunk::Chunk;
use audit_screen::{text, ScreenError, Window};
use std::io::Read;

/// Most bytes a chunk may decompress to before it is left unindexed.
const MAX_DECODED: u64 = 64 << 20;

/// The chunk's lines as the host's ingest joins them (trimmed, blank lines dropped), or why
/// it cannot be rendered.
pub(crate) fn chunk_text(compressed: &[u8]) -> Result<String, String> {
    let mut decoder = zstd::stream::read::Decoder::new(compressed).map_err(|e| e.to_string())?;
    let mut encoded = Vec::new();
    (&mut decoder)
        .take(MAX_DECODED + 1)
        .read_to_end(&mut encoded)
        .map_err(|_| "it does not decompress".to_string())?;
    if encoded.len() as u64 > MAX_DECODED {
        return Err(format!("it decompresses to more than {MAX_DECODED} bytes"));
    }
    let chunk = Chunk::decode(&encoded).map_err(|e| e.to_string())?;
    let lines = text::lines(
        std::iter::once(Ok::<_, ScreenError>(chunk)),
        Window::default(),
    )
    .map_err(|e| e.to_string())?;
    Ok(lines
        .iter()
        .map(|l| l.trim_end())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_capture::chunk::{self, Record};

    #[test]
    fn renders_what_the_screen_showed_and_refuses_garbage() {
        let c = Chunk {
            start: 10,
            end: 20,
            width: 20,
            height: 5,
            snapshot: Vec::new(),
            records: vec![Record::Output {
                time: 10,
                bytes: b"$ ls\r\nalpha  beta\r\n".to_vec(),
            }],
        };
        let stored = chunk::compress(&c.encode(), 3);
        assert_eq!(chunk_text(&stored).unwrap(), "$ ls\nalpha  beta");
        assert!(chunk_text(b"not zstd").is_err());
        let bomb = chunk::compress(&vec![0; (MAX_DECODED + 10) as usize], 19);
        assert!(chunk_text(&bomb).unwrap_err().contains("more than"));
    }
}
