//! What both backends' `inspect` checks of a stored chunk.

use audit_core::inspect::{ChunkPlace, Finding};
use audit_core::Event;

/// Checks a stored chunk against the digest its `pane-output` event carries.
pub(crate) fn check_chunk(seq: u64, event: &Event, chunk: Option<&[u8]>) -> Option<Finding> {
    let place = || ChunkPlace {
        seq,
        pane_id: event.pane_id.clone().unwrap_or_default(),
        from: event.from,
        until: event.until,
    };
    let Some(chunk) = chunk else {
        return Some(Finding::ChunkMissing(place()));
    };
    let digest = blake3::hash(chunk).to_hex();
    (event.digest.as_deref() != Some(digest.as_str())).then(|| Finding::ChunkChanged(place()))
}
