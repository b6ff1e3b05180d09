//! What a tmux server holds at one moment, read with two list commands, and how to read it.
//!
//! Fields are separated by `\x1f` (unit separator). tmux vis-encodes control characters in
//! session and window names (`\037`), so a name can never contain the separator. Client fields
//! are reported by the client itself and could contain anything: the kernel-attested `uid` comes
//! first and a record with the wrong number of fields is refused, so a forged terminal name
//! cannot shift it.

use std::collections::BTreeMap;

const SEP: char = '\x1f';

/// `list-panes -a` format: one line per pane, naming its window and session.
pub const PANES_COMMAND: &str = "list-panes -a -F \"#{session_id}\\037#{session_created}\\037#{window_id}\\037#{window_index}\\037#{pane_id}\\037#{pane_tty}\\037#{session_name}\\037#{window_name}\"";

/// `list-clients` format: one line per client attached to a session.
pub const CLIENTS_COMMAND: &str = "list-clients -F \"#{client_uid}\\037#{client_pid}\\037#{client_readonly}\\037#{client_control_mode}\\037#{session_id}\\037#{client_created}\\037#{client_user}\\037#{client_name}\\037#{client_flags}\\037#{client_tty}\\037#{client_termname}\"";

/// Server facts read once per connection.
pub const SERVER_COMMAND: &str =
    "display-message -p \"#{version}\\037#{pid}\\037#{start_time}\\037#{socket_path}\"";

/// A subscription whose value changes whenever any session, window or pane appears, goes or
/// is renamed, or any session's attached clients change. tmux evaluates it once a second and
/// notifies only on change, so idle servers cost nothing.
pub const SUBSCRIBE_COMMAND: &str = "refresh-client -B \"tmux-audit-structure::#{S:#{session_id}#{session_name}#{session_attached_list}#{W:#{window_id}#{window_name}#{P:#{pane_id}}}}\"";

/// The name of that subscription.
pub const SUBSCRIPTION: &str = "tmux-audit-structure";

/// A session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Session {
    /// Name.
    pub name: String,
}

/// A window (the first session it is linked to).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Window {
    /// Name.
    pub name: String,
    /// Session id.
    pub session_id: String,
}

/// A pane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pane {
    /// Window id.
    pub window_id: String,
    /// Session id (of the window's first session).
    pub session_id: String,
    /// The pane's pty.
    pub tty: String,
}

/// An attached client.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Client {
    /// tmux client name.
    pub name: String,
    /// Kernel-attested uid (empty on tmux older than 3.3).
    pub uid: Option<i64>,
    /// User name for `uid`.
    pub user: Option<String>,
    /// Self-reported pid.
    pub pid: Option<i64>,
    /// Read-only flag.
    pub readonly: bool,
    /// Whether it is a control-mode client.
    pub control: bool,
    /// Session id it is attached to.
    pub session_id: String,
    /// Its terminal.
    pub tty: String,
    /// Its `TERM`.
    pub term: String,
    /// tmux's flags for it (`attached,focused,control-mode,read-only,…`).
    pub flags: String,
}

/// Sessions, windows, panes and clients of one server.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerView {
    /// By session id.
    pub sessions: BTreeMap<String, Session>,
    /// By window id.
    pub windows: BTreeMap<String, Window>,
    /// By pane id.
    pub panes: BTreeMap<String, Pane>,
    /// By client name.
    pub clients: BTreeMap<String, Client>,
}

fn fields(line: &[u8], n: usize) -> Option<Vec<String>> {
    let text = String::from_utf8_lossy(line);
    let parts: Vec<String> = text.split(SEP).map(str::to_owned).collect();
    (parts.len() == n).then_some(parts)
}

fn opt(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

/// Fills sessions, windows and panes from `list-panes` output. Returns lines it could not read.
pub fn read_panes(view: &mut ServerView, lines: &[Vec<u8>]) -> Vec<String> {
    view.sessions.clear();
    view.windows.clear();
    view.panes.clear();
    let mut bad = Vec::new();
    for line in lines {
        let Some(f) = fields(line, 8) else {
            bad.push(String::from_utf8_lossy(line).into_owned());
            continue;
        };
        let [sid, _created, wid, _index, pid, tty, sname, wname] =
            <[String; 8]>::try_from(f).expect("length checked");
        view.sessions
            .entry(sid.clone())
            .or_insert(Session { name: sname });
        view.windows.entry(wid.clone()).or_insert(Window {
            name: wname,
            session_id: sid.clone(),
        });
        view.panes.entry(pid).or_insert(Pane {
            window_id: wid,
            session_id: sid,
            tty,
        });
    }
    bad
}

/// Fills clients from `list-clients` output. Returns lines it could not read.
pub fn read_clients(view: &mut ServerView, lines: &[Vec<u8>]) -> Vec<String> {
    view.clients.clear();
    let mut bad = Vec::new();
    for line in lines {
        let Some(f) = fields(line, 11) else {
            bad.push(String::from_utf8_lossy(line).into_owned());
            continue;
        };
        let [uid, pid, ro, control, sid, _created, user, name, flags, tty, term] =
            <[String; 11]>::try_from(f).expect("length checked");
        view.clients.insert(
            name.clone(),
            Client {
                name,
                uid: uid.parse().ok(),
                user: opt(&user),
                pid: pid.parse().ok(),
                readonly: ro == "1",
                control: control == "1",
                session_id: sid,
                tty,
                term,
                flags,
            },
        );
    }
    bad
}

/// Server facts from [`SERVER_COMMAND`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerInfo {
    /// tmux version, such as `3.3a`.
    pub version: String,
    /// Server pid.
    pub pid: Option<i64>,
    /// Server start time, seconds since the epoch.
    pub start_time: Option<i64>,
}

/// Reads [`SERVER_COMMAND`] output.
pub fn read_server(lines: &[Vec<u8>]) -> ServerInfo {
    let line = lines
        .first()
        .map(|l| String::from_utf8_lossy(l).into_owned());
    let line = line.unwrap_or_default();
    let mut f = line.split(SEP);
    ServerInfo {
        version: f.next().unwrap_or_default().to_owned(),
        pid: f.next().and_then(|p| p.parse().ok()),
        start_time: f.next().and_then(|p| p.parse().ok()),
    }
}

/// `(major, minor)` of a tmux version string such as `3.3a` or `next-3.4`.
pub fn version_number(version: &str) -> Option<(u32, u32)> {
    let digits = version.trim_start_matches(|c: char| !c.is_ascii_digit());
    let mut parts = digits.split('.');
    let major = parts.next()?.parse().ok()?;
    let minor: String = parts
        .next()
        .unwrap_or("0")
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    Some((major, minor.parse().unwrap_or(0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(parts: &[&str]) -> Vec<u8> {
        parts.join("\x1f").into_bytes()
    }

    #[test]
    fn reads_panes_windows_sessions() {
        let mut v = ServerView::default();
        let bad = read_panes(
            &mut v,
            &[
                line(&[
                    "$0",
                    "1",
                    "@0",
                    "0",
                    "%0",
                    "/dev/pts/1",
                    "a $(x) \\037",
                    "bash",
                ]),
                line(&[
                    "$0",
                    "1",
                    "@0",
                    "0",
                    "%1",
                    "/dev/pts/2",
                    "a $(x) \\037",
                    "bash",
                ]),
                b"garbage".to_vec(),
            ],
        );
        assert_eq!(bad, ["garbage"]);
        assert_eq!(v.sessions["$0"].name, "a $(x) \\037");
        assert_eq!(v.panes.len(), 2);
        assert_eq!(v.windows["@0"].session_id, "$0");
    }

    #[test]
    fn forged_client_field_cannot_shift_uid() {
        let mut v = ServerView::default();
        let forged = line(&[
            "65534",
            "42",
            "1",
            "0",
            "$1",
            "0",
            "nobody",
            "/dev/pts/3",
            "attached",
            "/dev/pts/3",
            "xterm\x1f0\x1froot",
        ]);
        let bad = read_clients(&mut v, &[forged]);
        assert_eq!(bad.len(), 1);
        assert!(v.clients.is_empty());
        read_clients(
            &mut v,
            &[line(&[
                "0",
                "42",
                "1",
                "0",
                "$1",
                "0",
                "root",
                "c",
                "attached,read-only",
                "/dev/pts/3",
                "screen",
            ])],
        );
        let c = &v.clients["c"];
        assert_eq!((c.uid, c.readonly, c.control), (Some(0), true, false));
    }

    #[test]
    fn versions() {
        assert_eq!(version_number("3.3a"), Some((3, 3)));
        assert_eq!(version_number("next-3.4"), Some((3, 4)));
        assert_eq!(version_number("3.2"), Some((3, 2)));
        assert_eq!(version_number("master"), None);
    }
}
