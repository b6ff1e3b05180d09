//! `PANE [--server NAME] [--from TIME] [--to TIME]`: the pane arguments `replay` and `export`
//! share, read into an [`audit_views::recording::PaneQuery`].

use crate::common::Global;
use crate::timearg;
use audit_core::Timestamp;
use audit_views::recording::{PaneName, PaneQuery, TimeRef};

/// Which pane, and which part of its recording.
#[derive(clap::Args, Debug)]
pub struct Target {
    /// The pane: %ID, or SESSION:WINDOW.PANE (window and pane index as at --from, else --to,
    /// else now)
    #[arg(value_name = "PANE")]
    pane: PaneName,
    /// The tmux server, when panes of this name were recorded on several: socket path or name
    #[arg(long, value_name = "NAME")]
    server: Option<String>,
    /// Start here: a time (RFC 3339, local date/time, age such as 2h) or +OFFSET from the
    /// recording's start (+90s, +5m, +1h30m)
    #[arg(long, value_parser = time_arg, value_name = "TIME")]
    from: Option<TimeRef>,
    /// Stop here (same forms as --from)
    #[arg(long, value_parser = time_arg, value_name = "TIME")]
    to: Option<TimeRef>,
}

impl Target {
    /// From the pane's screen now on (`--follow`).
    pub fn follow_now(&mut self) {
        self.from = Some(TimeRef::At(Timestamp::now()));
        self.to = None;
    }

    /// The query these arguments ask, on the server `-L`/`-S` name.
    pub fn query(&self, global: &Global) -> PaneQuery {
        PaneQuery {
            pane: self.pane.clone(),
            socket: global.server().map(|p| p.display().to_string()),
            server: self.server.clone(),
            from: self.from,
            to: self.to,
        }
    }

    /// What a view of this target records as viewed (`audit-access`).
    pub fn access(&self, view: &'static str) -> crate::access::View {
        crate::access::View {
            view,
            query: None,
            pane: Some(self.pane.to_string()),
        }
    }
}

/// clap value parser for [`TimeRef`].
pub fn time_arg(text: &str) -> Result<TimeRef, String> {
    match text.trim().strip_prefix('+') {
        Some(offset) => offset
            .parse::<jiff::Span>()
            .ok()
            .and_then(|span| span.total(jiff::Unit::Microsecond).ok())
            .filter(|us| us.is_finite() && *us >= 0.0)
            .map(|us| TimeRef::Offset(us as i64))
            .ok_or_else(|| {
                format!("cannot read offset {text:?}: use +90s, +5m, +1h30m (from the recording's start)")
            }),
        None => timearg::arg(text)
            .map(TimeRef::At)
            .map_err(|e| format!("{e}, or an offset such as +90s from the recording's start")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_offsets_and_times() {
        assert_eq!(time_arg("+90s"), Ok(TimeRef::Offset(90_000_000)));
        assert_eq!(time_arg("+1h30m"), Ok(TimeRef::Offset(5_400_000_000)));
        assert!(matches!(
            time_arg("2026-11-28T14:05:00Z"),
            Ok(TimeRef::At(_))
        ));
        assert!(time_arg("+soon").unwrap_err().contains("+90s"));
        assert!(time_arg("whenever").unwrap_err().contains("+90s"));
    }
}
