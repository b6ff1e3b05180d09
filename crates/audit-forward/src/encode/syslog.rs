//! RFC 5424 messages: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG`.
//!
//! MSG is the event's JSON object, so a receiver gets every field exactly; the structured data
//! repeats `seq` (to spot duplicates and gaps) and a few fields worth indexing. Recorded values
//! are hostile (tmux names can hold newlines and escape sequences): in the structured data they
//! are escaped per §6.3.3, control characters become U+FFFD and long values are cut; the JSON
//! never holds a raw control character. Framing (octet counting, datagrams) is the transport's.

use crate::config::Facility;
use audit_core::{Event, Kind, Severity, Stored};

/// The SD-ID: ours, under the private enterprise number space (`name@PEN`).
const SD_ID: &str = "tmux-audit@32473";
/// Longest structured-data value kept, in characters (the JSON MSG has the whole value).
const SD_VALUE_MAX: usize = 256;

/// How one sink formats its syslog messages.
#[derive(Clone, Debug)]
pub struct SyslogFormat {
    /// Facility in PRI.
    pub facility: Facility,
    /// APP-NAME (already checked to be printable ASCII).
    pub app_name: String,
    /// PROCID: the forwarding process.
    pub procid: u32,
    /// Longest message a transport carries; a longer event's MSG is replaced by a short JSON
    /// object naming its `seq`, `kind`, `time` and size (`"truncated": true`).
    pub max_len: usize,
}

impl SyslogFormat {
    /// The message for `stored`, without transport framing.
    pub fn encode(&self, stored: &Stored) -> Vec<u8> {
        let e = &stored.event;
        let pri = u16::from(self.facility.code()) * 8 + u16::from(severity(e));
        let mut out = format!(
            "<{pri}>1 {} {} {} {} {} ",
            e.time,
            header_field(&e.host, 255),
            self.app_name,
            self.procid,
            e.kind.as_str(),
        );
        structured_data(&mut out, stored);
        out.push(' ');
        let mut out = out.into_bytes();
        let msg = super::json(stored);
        if out.len() + msg.len() <= self.max_len {
            out.extend_from_slice(&msg);
        } else {
            let stub = serde_json::json!({
                "seq": stored.seq,
                "kind": e.kind.as_str(),
                "time": e.time.to_string(),
                "truncated": true,
                "bytes": msg.len(),
            });
            out.extend_from_slice(stub.to_string().as_bytes());
        }
        out
    }
}

/// RFC 5424 severity: 1 alert for what blinds the audit, 4 warning for trouble, 6 info.
fn severity(e: &Event) -> u8 {
    match e.severity {
        Some(Severity::Alert) => 1,
        None => match e.kind {
            Kind::PolicyViolation
            | Kind::ClientIdentityMismatch
            | Kind::AuditGap
            | Kind::OutputGap
            | Kind::SinkFailed => 4,
            _ => 6,
        },
    }
}

/// A header field: printable ASCII without spaces, at most `max` bytes, `-` when empty.
fn header_field(value: &str, max: usize) -> String {
    let field: String = value
        .chars()
        .map(|c| if c.is_ascii_graphic() { c } else { '_' })
        .take(max)
        .collect();
    if field.is_empty() {
        "-".into()
    } else {
        field
    }
}

/// `[tmux-audit@32473 seq="N" session="…" …]` with the fields this event has.
fn structured_data(out: &mut String, stored: &Stored) {
    let e = &stored.event;
    out.push('[');
    out.push_str(SD_ID);
    out.push_str(&format!(" seq=\"{}\"", stored.seq));
    let fields = [
        ("session", &e.session),
        ("client", &e.client),
        ("user", &e.user),
        ("actor", &e.actor),
        ("rule", &e.rule),
        ("sink", &e.sink),
    ];
    for (name, value) in fields {
        if let Some(value) = value {
            out.push(' ');
            out.push_str(name);
            out.push_str("=\"");
            push_param_value(out, value);
            out.push('"');
        }
    }
    out.push(']');
}

/// A PARAM-VALUE: `"`, `\` and `]` escaped (§6.3.3), control characters replaced, cut long.
fn push_param_value(out: &mut String, value: &str) {
    for (i, c) in value.chars().enumerate() {
        if i == SD_VALUE_MAX {
            out.push('…');
            break;
        }
        match c {
            '"' | '\\' | ']' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_core::Timestamp;

    fn format() -> SyslogFormat {
        SyslogFormat {
            facility: Facility::Authpriv,
            app_name: "tmux-audit".into(),
            procid: 42,
            max_len: usize::MAX,
        }
    }

    fn stored(kind: Kind) -> Stored {
        let mut event = Event::new(Timestamp(1_795_902_711_000_042), kind, "box", "/tmp/s");
        event.session = Some("work".into());
        Stored {
            seq: 7,
            event,
            hash: [0; 32],
        }
    }

    #[test]
    fn header_and_structured_data() {
        let msg = String::from_utf8(format().encode(&stored(Kind::ClientAttached))).unwrap();
        assert!(
            msg.starts_with(
                "<86>1 2026-11-28T21:51:51.000042Z box tmux-audit 42 client-attached \
                 [tmux-audit@32473 seq=\"7\" session=\"work\"] {\"seq\":7,"
            ),
            "{msg}"
        );
    }

    #[test]
    fn severity_follows_alert_and_kind() {
        let pri = |s: &Stored| String::from_utf8(format().encode(s)).unwrap()[..4].to_owned();
        assert_eq!(pri(&stored(Kind::PolicyViolation)), "<84>");
        assert_eq!(pri(&stored(Kind::SinkFailed)), "<84>");
        let mut alert = stored(Kind::TmuxCommand);
        alert.event.severity = Some(Severity::Alert);
        assert_eq!(pri(&alert), "<81>");
    }

    #[test]
    fn hostile_values_cannot_leave_their_param_or_line() {
        let mut s = stored(Kind::SessionRenamed);
        s.event.session = Some("a\"] x=\"y\\\n\u{1b}[2J\u{0}".into());
        s.event.host = "evil host\n<1>1".into();
        s.event.user = Some("u".repeat(10_000));
        let msg = String::from_utf8(format().encode(&s)).unwrap();
        assert!(!msg.contains('\n') && !msg.contains('\u{1b}') && !msg.contains('\0'));
        assert!(msg.contains(" evil_host_<1>1 "), "{msg}");
        assert!(
            msg.contains("session=\"a\\\"\\] x=\\\"y\\\\\u{FFFD}\u{FFFD}[2J\u{FFFD}\""),
            "{msg}"
        );
        assert!(msg.contains(&format!("user=\"{}…\"", "u".repeat(256))));
    }

    #[test]
    fn an_event_too_long_for_the_transport_keeps_seq_and_kind() {
        let mut s = stored(Kind::Command);
        s.event.message = Some("x".repeat(100_000));
        let f = SyslogFormat {
            max_len: 2048,
            ..format()
        };
        let msg = f.encode(&s);
        assert!(msg.len() <= 2048);
        let json = String::from_utf8(msg).unwrap();
        let body: serde_json::Value =
            serde_json::from_str(&json[json.find("] {").unwrap() + 2..]).unwrap();
        assert_eq!(body["seq"], 7);
        assert_eq!(body["truncated"], true);
    }
}
