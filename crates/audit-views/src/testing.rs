//! What the views' tests share: events as a daemon records them, on one host and server.

use audit_core::{Event, Kind, Timestamp};

/// An event of `kind` at `t` seconds, on host `web1`, server `/s`, in session `prod` (`$1`).
pub fn ev(t: i64, kind: Kind) -> Event {
    let mut e = Event::new(Timestamp::from_secs(t), kind, "web1", "/s");
    e.session_id = Some("$1".into());
    e.session = Some("prod".into());
    e
}
