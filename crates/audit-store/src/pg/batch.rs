//! Records of one host written together: one `INSERT … SELECT FROM unnest(arrays)` per table,
//! so a batch costs one round trip per table rather than one per record.

use super::words;
use audit_core::chain::ChainHash;
use audit_core::Event;
use postgres::Transaction;

/// Rows for `events`, `chunks` and `chunk_text`, gathered in chain order.
#[derive(Default)]
pub(super) struct Batch {
    seq: Vec<i64>,
    time: Vec<i64>,
    kind: Vec<&'static str>,
    server: Vec<String>,
    session: Vec<Option<String>>,
    session_id: Vec<Option<String>>,
    pane: Vec<Option<String>>,
    user: Vec<Option<String>>,
    data: Vec<Vec<u8>>,
    hash: Vec<Vec<u8>>,
    chunk_seq: Vec<i64>,
    chunk: Vec<Vec<u8>>,
    text_seq: Vec<i64>,
    /// Each chunk's distinct tokens joined by spaces (tokens hold no space).
    text: Vec<String>,
}

impl Batch {
    /// Adds one record: its event row with the copied columns and, for `pane-output`, its chunk
    /// and the chunk's words.
    pub fn push(
        &mut self,
        seq: u64,
        event: &Event,
        data: &[u8],
        hash: &ChainHash,
        output: Option<(&[u8], &str)>,
    ) {
        let seq = seq as i64;
        self.seq.push(seq);
        self.time.push(event.time.as_micros());
        self.kind.push(event.kind.as_str());
        self.server.push(event.server.clone());
        self.session.push(event.session.clone());
        self.session_id.push(event.session_id.clone());
        self.pane.push(event.pane_id.clone());
        self.user.push(event.user.clone());
        self.data.push(data.to_vec());
        self.hash.push(hash.to_vec());
        if let Some((chunk, text)) = output {
            self.chunk_seq.push(seq);
            self.chunk.push(chunk.to_vec());
            let tokens = words::tokens(text);
            if !tokens.is_empty() {
                self.text_seq.push(seq);
                self.text.push(tokens.join(" "));
            }
        }
    }

    /// Writes the gathered rows of host `id` (their partitions must exist), all `received`
    /// then (µs).
    pub fn store(
        &self,
        tx: &mut Transaction<'_>,
        id: i64,
        received: i64,
    ) -> Result<(), postgres::Error> {
        if self.seq.is_empty() {
            return Ok(());
        }
        tx.execute(
            "INSERT INTO events (host_id, seq, time, kind, server, session, session_id, pane,
                 \"user\", data, hash, received)
             SELECT $1::bigint, r.*, $12::bigint FROM unnest($2::bigint[], $3::bigint[],
                 $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::text[],
                 $10::bytea[], $11::bytea[]) AS r",
            &[
                &id,
                &self.seq,
                &self.time,
                &self.kind,
                &self.server,
                &self.session,
                &self.session_id,
                &self.pane,
                &self.user,
                &self.data,
                &self.hash,
                &received,
            ],
        )?;
        if !self.chunk_seq.is_empty() {
            tx.execute(
                "INSERT INTO chunks (host_id, seq, data)
                 SELECT $1::bigint, r.* FROM unnest($2::bigint[], $3::bytea[]) AS r",
                &[&id, &self.chunk_seq, &self.chunk],
            )?;
        }
        if !self.text_seq.is_empty() {
            tx.execute(
                "INSERT INTO chunk_text (host_id, seq, tsv)
                 SELECT $1::bigint, r.seq, array_to_tsvector(string_to_array(r.words, ' '))
                 FROM unnest($2::bigint[], $3::text[]) AS r (seq, words)",
                &[&id, &self.text_seq, &self.text],
            )?;
        }
        Ok(())
    }
}
