//! The canonical encoding: the exact bytes that are stored and hashed for one event.
//!
//! **Frozen — do not modify.** Field tags, their order, their types and the layout below must
//! stay the same forever: every stored log's hashes depend on them. A new field gets a new, higher
//! tag; a different layout needs a new magic (`TAE2`) and a new decoder beside this one.
//!
//! Layout of version 1 (all integers big-endian):
//!
//! ```text
//! "TAE1"            4 bytes  magic and version
//! seq               u64
//! time              i64      microseconds since the Unix epoch, UTC
//! fields            repeated, tags strictly increasing, absent fields omitted:
//!   tag             u8
//!   value           string: u32 length + UTF-8 bytes
//!                   int:    i64
//!                   bool:   u8 (0 or 1)
//!                   bytes:  u32 length + the bytes (any)
//!                   list:   u32 count + that many bytes values
//! ```
//!
//! | tag | field | type | | tag | field | type |
//! |---|---|---|---|---|---|---|
//! | 1 | kind | string (required) | | 14 | tty | string |
//! | 2 | host | string (required) | | 15 | term | string |
//! | 3 | server | string (required) | | 16 | origin | string |
//! | 4 | session | string | | 17 | reason | string |
//! | 5 | session_id | string | | 18 | observed | string |
//! | 6 | window | string | | 19 | from | int (µs) |
//! | 7 | window_id | string | | 20 | until | int (µs) |
//! | 8 | pane_id | string | | 21 | version | string |
//! | 9 | client | string | | 22 | pid | int |
//! | 10 | client_pid | int | | 23 | by | string |
//! | 11 | uid | int | | 24 | by_user | string |
//! | 12 | user | string | | 25 | message | string |
//! | 13 | readonly | bool | | 26 | flags | string |
//! | 27 | bytes | int | | 30 | digest | string |
//! | 28 | width | int | | 31 | window_index | int |
//! | 29 | height | int | | 32 | pane_index | int |
//! | 33 | epoch | int | | 34 | seal | string |
//! | 35 | key_id | string | | 38 | exit_code | int |
//! | 36 | argv | list | | 39 | signal | int |
//! | 37 | cwd | bytes | | 40 | ppid | int |
//! | 41 | comm | bytes | | 43 | key | string |
//! | 42 | command | string | | 44 | severity | string |
//! | 45 | line | bytes | | 46 | actor | string |
//! | 47 | attribution | string | | 48 | candidates | list (UTF-8) |
//! | 49 | rule | string | | 50 | violation | string |
//! | 51 | action | string | | 52 | sink | string |
//! | 53 | timing | string | | 54 | confirmed | bool |
//! | 55 | view | string | | 56 | query | string |
//! | 57 | recorded_by | string | | | | |
//!
//! Decoding is strict — unknown tags, tags out of order, trailing bytes, invalid UTF-8 and a
//! bool other than 0/1 are errors — so that exactly one byte string encodes a given event.
//!
//! `reason` (17), `observed` (18), `severity` (44), `attribution` (47), `violation` (50) and
//! `action` (51) are strings naming one of a closed set ([`crate::values`]; every name ever
//! stored is listed, retired ones included): a name outside the set is an error too
//! ([`DecodeError::UnknownValue`]). The bytes are the names, exactly as when these fields were
//! plain strings (`tests/typed_fields.rs` holds records written then).

use crate::event::{Event, Kind};
use crate::time::Timestamp;
use crate::values::UnknownValue;
use std::str::FromStr;
use thiserror::Error;

const MAGIC: &[u8; 4] = b"TAE1";

/// Why stored bytes are not a valid version-1 event.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// Too short, or a length runs past the end.
    #[error("truncated at byte {0}")]
    Truncated(usize),
    /// The first four bytes are not `TAE1`.
    #[error("bad magic (not a version-1 event)")]
    BadMagic,
    /// A tag this version does not define, or out of order.
    #[error("unexpected field tag {tag} at byte {at}")]
    BadTag {
        /// The tag byte.
        tag: u8,
        /// Its offset.
        at: usize,
    },
    /// A string field is not UTF-8.
    #[error("field tag {0} is not valid UTF-8")]
    BadUtf8(u8),
    /// A bool byte other than 0 or 1.
    #[error("field tag {0} is not a bool")]
    BadBool(u8),
    /// `kind`, `host` or `server` missing.
    #[error("required field {0} missing")]
    Missing(&'static str),
    /// The kind name is not known.
    #[error("unknown kind {0:?}")]
    UnknownKind(String),
    /// A field that takes one of a closed set of names ([`crate::values`]) holds another:
    /// not a record this version wrote, or understands.
    #[error("unknown {field} {value:?} (field tag {tag})")]
    UnknownValue {
        /// The tag byte.
        tag: u8,
        /// The field's name.
        field: &'static str,
        /// The name found.
        value: String,
    },
}

struct Writer(Vec<u8>);

impl Writer {
    fn str(&mut self, tag: u8, v: Option<&str>) {
        if let Some(v) = v {
            self.0.push(tag);
            let len = u32::try_from(v.len()).unwrap_or(u32::MAX);
            self.0.extend_from_slice(&len.to_be_bytes());
            self.0.extend_from_slice(&v.as_bytes()[..len as usize]);
        }
    }
    fn int(&mut self, tag: u8, v: Option<i64>) {
        if let Some(v) = v {
            self.0.push(tag);
            self.0.extend_from_slice(&v.to_be_bytes());
        }
    }
    fn bytes(&mut self, tag: u8, v: Option<&[u8]>) {
        if let Some(v) = v {
            self.0.push(tag);
            self.raw(v);
        }
    }
    fn list(&mut self, tag: u8, v: Option<&[crate::event::Bytes]>) {
        if let Some(v) = v {
            self.0.push(tag);
            let n = u32::try_from(v.len()).unwrap_or(u32::MAX);
            self.0.extend_from_slice(&n.to_be_bytes());
            for item in &v[..n as usize] {
                self.raw(&item.0);
            }
        }
    }
    fn strings(&mut self, tag: u8, v: Option<&[String]>) {
        if let Some(v) = v {
            let items: Vec<crate::event::Bytes> = v
                .iter()
                .map(|s| crate::event::Bytes(s.clone().into_bytes()))
                .collect();
            self.list(tag, Some(&items));
        }
    }
    fn raw(&mut self, v: &[u8]) {
        let len = u32::try_from(v.len()).unwrap_or(u32::MAX);
        self.0.extend_from_slice(&len.to_be_bytes());
        self.0.extend_from_slice(&v[..len as usize]);
    }
    fn bool(&mut self, tag: u8, v: Option<bool>) {
        if let Some(v) = v {
            self.0.push(tag);
            self.0.push(u8::from(v));
        }
    }
}

/// Encodes `event` at position `seq`.
pub fn encode(seq: u64, e: &Event) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(128));
    w.0.extend_from_slice(MAGIC);
    w.0.extend_from_slice(&seq.to_be_bytes());
    w.0.extend_from_slice(&e.time.0.to_be_bytes());
    w.str(1, Some(e.kind.as_str()));
    w.str(2, Some(&e.host));
    w.str(3, Some(&e.server));
    w.str(4, e.session.as_deref());
    w.str(5, e.session_id.as_deref());
    w.str(6, e.window.as_deref());
    w.str(7, e.window_id.as_deref());
    w.str(8, e.pane_id.as_deref());
    w.str(9, e.client.as_deref());
    w.int(10, e.client_pid);
    w.int(11, e.uid);
    w.str(12, e.user.as_deref());
    w.bool(13, e.readonly);
    w.str(14, e.tty.as_deref());
    w.str(15, e.term.as_deref());
    w.str(16, e.origin.as_deref());
    w.str(17, e.reason.map(|v| v.as_str()));
    w.str(18, e.observed.map(|v| v.as_str()));
    w.int(19, e.from.map(|t| t.0));
    w.int(20, e.until.map(|t| t.0));
    w.str(21, e.version.as_deref());
    w.int(22, e.pid);
    w.str(23, e.by.as_deref());
    w.str(24, e.by_user.as_deref());
    w.str(25, e.message.as_deref());
    w.str(26, e.flags.as_deref());
    w.int(27, e.bytes);
    w.int(28, e.width);
    w.int(29, e.height);
    w.str(30, e.digest.as_deref());
    w.int(31, e.window_index);
    w.int(32, e.pane_index);
    w.int(33, e.epoch);
    w.str(34, e.seal.as_deref());
    w.str(35, e.key_id.as_deref());
    w.list(36, e.argv.as_deref());
    w.bytes(37, e.cwd.as_ref().map(|b| b.0.as_slice()));
    w.int(38, e.exit_code);
    w.int(39, e.signal);
    w.int(40, e.ppid);
    w.bytes(41, e.comm.as_ref().map(|b| b.0.as_slice()));
    w.str(42, e.command.as_deref());
    w.str(43, e.key.as_deref());
    w.str(44, e.severity.map(|v| v.as_str()));
    w.bytes(45, e.line.as_ref().map(|b| b.0.as_slice()));
    w.str(46, e.actor.as_deref());
    w.str(47, e.attribution.map(|v| v.as_str()));
    w.strings(48, e.candidates.as_deref());
    w.str(49, e.rule.as_deref());
    w.str(50, e.violation.map(|v| v.as_str()));
    w.str(51, e.action.map(|v| v.as_str()));
    w.str(52, e.sink.as_deref());
    w.str(53, e.timing.as_deref());
    w.bool(54, e.confirmed);
    w.str(55, e.view.as_deref());
    w.str(56, e.query.as_deref());
    w.str(57, e.recorded_by.as_deref());
    w.str(58, e.hook.as_deref());
    w.0
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or(DecodeError::Truncated(self.at))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        let b = self.take(8)?;
        Ok(u64::from_be_bytes(b.try_into().expect("8 bytes")))
    }
    fn i64(&mut self) -> Result<i64, DecodeError> {
        self.u64().map(|v| v as i64)
    }
    fn string(&mut self, tag: u8) -> Result<String, DecodeError> {
        let len = u32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes"));
        let b = self.take(len as usize)?;
        String::from_utf8(b.to_vec()).map_err(|_| DecodeError::BadUtf8(tag))
    }
    /// A string naming one of a closed set of values (see [`crate::values`]).
    fn value<T: FromStr<Err = UnknownValue>>(&mut self, tag: u8) -> Result<T, DecodeError> {
        self.string(tag)?
            .parse()
            .map_err(|e: UnknownValue| DecodeError::UnknownValue {
                tag,
                field: e.field,
                value: e.value,
            })
    }
    fn bytes(&mut self) -> Result<crate::event::Bytes, DecodeError> {
        let len = u32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes"));
        Ok(crate::event::Bytes(self.take(len as usize)?.to_vec()))
    }
    fn list(&mut self) -> Result<Vec<crate::event::Bytes>, DecodeError> {
        let n = u32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes"));
        // Each item takes at least its 4-byte length: a count the bytes cannot hold is refused
        // before anything is allocated for it.
        if (n as usize).saturating_mul(4) > self.bytes.len() - self.at {
            return Err(DecodeError::Truncated(self.at));
        }
        (0..n).map(|_| self.bytes()).collect()
    }
    fn strings(&mut self, tag: u8) -> Result<Vec<String>, DecodeError> {
        self.list()?
            .into_iter()
            .map(|b| String::from_utf8(b.0).map_err(|_| DecodeError::BadUtf8(tag)))
            .collect()
    }
    fn bool(&mut self, tag: u8) -> Result<bool, DecodeError> {
        match self.take(1)?[0] {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError::BadBool(tag)),
        }
    }
}

/// Decodes bytes made by [`encode`], returning `(seq, event)`.
pub fn decode(bytes: &[u8]) -> Result<(u64, Event), DecodeError> {
    let mut r = Reader { bytes, at: 0 };
    if r.take(4)? != MAGIC {
        return Err(DecodeError::BadMagic);
    }
    let seq = r.u64()?;
    let time = Timestamp(r.i64()?);
    let mut e = Event::new(time, Kind::AuditGap, "", "");
    let (mut kind, mut host, mut server) = (None, None, None);
    let mut last_tag = 0u8;
    while r.at < bytes.len() {
        let at = r.at;
        let tag = r.take(1)?[0];
        if tag <= last_tag {
            return Err(DecodeError::BadTag { tag, at });
        }
        last_tag = tag;
        match tag {
            1 => kind = Some(r.string(tag)?),
            2 => host = Some(r.string(tag)?),
            3 => server = Some(r.string(tag)?),
            4 => e.session = Some(r.string(tag)?),
            5 => e.session_id = Some(r.string(tag)?),
            6 => e.window = Some(r.string(tag)?),
            7 => e.window_id = Some(r.string(tag)?),
            8 => e.pane_id = Some(r.string(tag)?),
            9 => e.client = Some(r.string(tag)?),
            10 => e.client_pid = Some(r.i64()?),
            11 => e.uid = Some(r.i64()?),
            12 => e.user = Some(r.string(tag)?),
            13 => e.readonly = Some(r.bool(tag)?),
            14 => e.tty = Some(r.string(tag)?),
            15 => e.term = Some(r.string(tag)?),
            16 => e.origin = Some(r.string(tag)?),
            17 => e.reason = Some(r.value(tag)?),
            18 => e.observed = Some(r.value(tag)?),
            19 => e.from = Some(Timestamp(r.i64()?)),
            20 => e.until = Some(Timestamp(r.i64()?)),
            21 => e.version = Some(r.string(tag)?),
            22 => e.pid = Some(r.i64()?),
            23 => e.by = Some(r.string(tag)?),
            24 => e.by_user = Some(r.string(tag)?),
            25 => e.message = Some(r.string(tag)?),
            26 => e.flags = Some(r.string(tag)?),
            27 => e.bytes = Some(r.i64()?),
            28 => e.width = Some(r.i64()?),
            29 => e.height = Some(r.i64()?),
            30 => e.digest = Some(r.string(tag)?),
            31 => e.window_index = Some(r.i64()?),
            32 => e.pane_index = Some(r.i64()?),
            33 => e.epoch = Some(r.i64()?),
            34 => e.seal = Some(r.string(tag)?),
            35 => e.key_id = Some(r.string(tag)?),
            36 => e.argv = Some(r.list()?),
            37 => e.cwd = Some(r.bytes()?),
            38 => e.exit_code = Some(r.i64()?),
            39 => e.signal = Some(r.i64()?),
            40 => e.ppid = Some(r.i64()?),
            41 => e.comm = Some(r.bytes()?),
            42 => e.command = Some(r.string(tag)?),
            43 => e.key = Some(r.string(tag)?),
            44 => e.severity = Some(r.value(tag)?),
            45 => e.line = Some(r.bytes()?),
            46 => e.actor = Some(r.string(tag)?),
            47 => e.attribution = Some(r.value(tag)?),
            48 => e.candidates = Some(r.strings(tag)?),
            49 => e.rule = Some(r.string(tag)?),
            50 => e.violation = Some(r.value(tag)?),
            51 => e.action = Some(r.value(tag)?),
            52 => e.sink = Some(r.string(tag)?),
            53 => e.timing = Some(r.string(tag)?),
            54 => e.confirmed = Some(r.bool(tag)?),
            55 => e.view = Some(r.string(tag)?),
            56 => e.query = Some(r.string(tag)?),
            57 => e.recorded_by = Some(r.string(tag)?),
            58 => e.hook = Some(r.string(tag)?),
            _ => return Err(DecodeError::BadTag { tag, at }),
        }
    }
    let kind = kind.ok_or(DecodeError::Missing("kind"))?;
    e.kind = kind.parse().map_err(|_| DecodeError::UnknownKind(kind))?;
    e.host = host.ok_or(DecodeError::Missing("host"))?;
    e.server = server.ok_or(DecodeError::Missing("server"))?;
    Ok((seq, e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Bytes;

    fn sample() -> Event {
        let mut e = Event::new(
            Timestamp(1_795_902_711_000_001),
            Kind::ClientAttached,
            "h",
            "/s",
        );
        e.session = Some("$(touch x); `id` #{pane_id} 🦀".into());
        e.session_id = Some("$3".into());
        e.client_pid = Some(4242);
        e.uid = Some(65534);
        e.readonly = Some(true);
        e.from = Some(Timestamp(-5));
        e.message = Some(String::new());
        e.flags = Some("attached,control-mode".into());
        e.argv = Some(vec![
            Bytes(b"printf".to_vec()),
            Bytes(b"a\nb\x1b[31m\xff".to_vec()),
            Bytes(Vec::new()),
        ]);
        e.cwd = Some(Bytes(b"/tmp/\xfe".to_vec()));
        e.exit_code = Some(-1);
        e.actor = Some("alice".into());
        e.attribution = Some(crate::attribution::Confidence::Inferred);
        e.candidates = Some(vec!["alice".into(), "bob".into()]);
        e.rule = Some("prod".into());
        e.violation = Some(crate::values::ViolationKind::User);
        e.action = Some(crate::values::Action::Detach);
        e.sink = Some("webhook".into());
        e.timing = Some("exec".into());
        e.confirmed = Some(false);
        e.view = Some("search".into());
        e.query = Some("drop table".into());
        e.recorded_by = Some("daemon".into());
        e.hook = Some("after-new-window".into());
        e
    }

    #[test]
    fn round_trips() {
        let e = sample();
        let bytes = encode(7, &e);
        assert_eq!(decode(&bytes).unwrap(), (7, e));
    }

    #[test]
    fn frozen_layout() {
        // A fixed event must always encode to the same bytes: if this fails, the encoding
        // changed and every stored log would stop verifying.
        let e = Event::new(Timestamp(1), Kind::AuditStarted, "h", "s");
        let hex: String = encode(2, &e).iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            concat!(
                "54414531",         // TAE1
                "0000000000000002", // seq 2
                "0000000000000001", // time 1 µs
                "01",
                "0000000d",
                "61756469742d73746172746564", // kind "audit-started"
                "02",
                "00000001",
                "68", // host "h"
                "03",
                "00000001",
                "73", // server "s"
            )
        );
    }

    #[test]
    fn rejects_every_truncation_and_trailing_bytes() {
        let bytes = encode(1, &sample());
        // A prefix that ends between fields decodes to a smaller event (the chain hash catches
        // that); no prefix may decode to the original.
        let whole = decode(&bytes).unwrap();
        for n in 0..bytes.len() {
            assert_ne!(
                decode(&bytes[..n]).ok(),
                Some(whole.clone()),
                "prefix of {n} bytes"
            );
        }
        assert!(decode(&bytes[..bytes.len() - 1]).is_err());
        let mut longer = bytes.clone();
        longer.push(26);
        assert!(decode(&longer).is_err());
    }

    #[test]
    fn a_list_count_the_bytes_cannot_hold_is_refused_without_allocating() {
        let mut bytes = encode(1, &Event::new(Timestamp(1), Kind::Command, "h", "s"));
        bytes.push(36);
        bytes.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(matches!(decode(&bytes), Err(DecodeError::Truncated(_))));
    }

    #[test]
    fn a_name_outside_a_fields_values_is_refused() {
        let mut e = Event::new(Timestamp(1), Kind::ClientDetached, "h", "s");
        e.reason = Some(crate::values::Reason::Kicked);
        let mut bytes = encode(1, &e);
        let at = bytes.len() - b"kicked".len();
        assert_eq!(&bytes[at..], b"kicked");
        bytes[at..].copy_from_slice(b"kidded");
        assert_eq!(
            decode(&bytes),
            Err(DecodeError::UnknownValue {
                tag: 17,
                field: "reason",
                value: "kidded".into()
            })
        );
        assert_eq!(
            decode(&bytes).unwrap_err().to_string(),
            r#"unknown reason "kidded" (field tag 17)"#
        );
    }

    #[test]
    fn rejects_out_of_order_tags() {
        let mut e = Event::new(Timestamp(1), Kind::AuditStarted, "h", "s");
        e.message = Some("m".into());
        let mut bytes = encode(1, &e);
        // Append a tag lower than the last one.
        bytes.extend_from_slice(&[4, 0, 0, 0, 0]);
        assert!(matches!(
            decode(&bytes),
            Err(DecodeError::BadTag { tag: 4, .. })
        ));
    }
}
