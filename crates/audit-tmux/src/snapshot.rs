//! What a tmux server holds at one moment, read with two list commands, and how to read it.
//!
//! Fields are separated by `\x1f` (unit separator), records by newlines. Names cannot be
//! trusted to lack either: tmux 3.3a stores `new-window -n` names raw (newlines included), and
//! client names and terminal types are whatever the client sent. So every free-text field is
//! escaped by tmux itself, with regular-expression substitutions in the format, before it is
//! printed: `\` becomes `\\`, a newline `\n`, the separator `\037`. [`unescape`] reverses it.
//! A name can then never forge a record, a field, or a control-mode `%end` line. The
//! kernel-attested `uid` comes first, and a record with the wrong number of fields is refused.

use std::collections::BTreeMap;

const SEP: char = '\x1f';

/// A format that prints variable `var` escaped (see the module docs). Written as it must
/// appear inside a double-quoted control-mode command: tmux's parser turns `\\` into `\`,
/// `\n` into a newline and `\037` into the separator before the format sees it.
fn escaped(var: &str) -> String {
    format!(r#"#{{s/\\\\/\\\\\\\\/;s/\n/\\\\n/;s/\037/\\\\037/:{var}}}"#)
}

fn list_command(command: &str, fields: &[&str]) -> String {
    let format: Vec<String> = fields
        .iter()
        .map(|f| match f.strip_prefix('!') {
            Some(free_text) => escaped(free_text),
            None => format!("#{{{f}}}"),
        })
        .collect();
    format!(r#"{command} -F "{}""#, format.join(r"\037"))
}

/// `list-panes -a`: one line per pane, naming its window and session. `!` marks free text.
pub fn panes_command() -> String {
    list_command(
        "list-panes -a",
        &[
            "session_id",
            "window_id",
            "pane_id",
            "!pane_tty",
            "!session_name",
            "!window_name",
            "window_index",
            "pane_index",
            "pane_width",
            "pane_height",
            "pane_pipe",
            "pane_pid",
        ],
    )
}

/// `list-clients`: one line per client attached to a session.
pub fn clients_command() -> String {
    list_command(
        "list-clients",
        &[
            "client_uid",
            "client_pid",
            "client_readonly",
            "client_control_mode",
            "session_id",
            "!client_user",
            "!client_name",
            "!client_flags",
            "!client_tty",
            "!client_termname",
            "client_activity",
        ],
    )
}

/// Server facts read once per connection.
pub fn server_command() -> String {
    r##"display-message -p "#{version}\037#{pid}""##.to_owned()
}

/// A subscription whose value changes whenever any session, window or pane appears, goes or
/// is renamed, any session's attached clients change, or a pane is resized or its pipe closed. tmux evaluates it once a second and
/// notifies only on change, so idle servers cost nothing. Names are escaped here too: the value
/// arrives on one notification line.
pub fn subscribe_command() -> String {
    format!(
        r#"refresh-client -B "{SUBSCRIPTION}::#{{S:#{{session_id}}{}{}#{{W:#{{window_id}}{}#{{P:#{{pane_id}}#{{pane_pipe}}x#{{pane_width}}x#{{pane_height}}}}}}}}""#,
        escaped("session_name"),
        escaped("session_attached_list"),
        escaped("window_name"),
    )
}

/// The name of that subscription.
pub const SUBSCRIPTION: &str = "tmux-audit-structure";

/// Reverses the escaping of `escaped`: `\\` → `\`, `\n` → newline, `\037` → `\x1f`; any
/// other backslash sequence is kept as it is (tmux's own vis-encoding, such as `\t`).
pub fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find('\\') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let (replacement, used) = if tail.starts_with(r"\\") {
            ("\\", 2)
        } else if tail.starts_with(r"\n") {
            ("\n", 2)
        } else if tail.starts_with(r"\037") {
            ("\x1f", 4)
        } else {
            ("\\", 1)
        };
        out.push_str(replacement);
        rest = &tail[used..];
    }
    out.push_str(rest);
    out
}

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
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Pane {
    /// Window id.
    pub window_id: String,
    /// Session id (of the window's first session).
    pub session_id: String,
    /// The pane's pty.
    pub tty: String,
    /// The window's index in that session.
    pub window_index: Option<i64>,
    /// The pane's index in its window.
    pub pane_index: Option<i64>,
    /// Size in columns and rows.
    pub size: (u16, u16),
    /// Whether tmux pipes the pane's output somewhere (`pipe-pane`).
    pub piped: bool,
    /// The pane's first process (`#{pane_pid}`, its shell): what runs in the pane descends from
    /// it.
    pub pid: Option<i64>,
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
    /// When it last pressed a key (`#{client_activity}`, whole seconds since the epoch).
    pub activity: Option<i64>,
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
    let parts: Vec<String> = text.split(SEP).map(unescape).collect();
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
        let Some(f) = fields(line, 12) else {
            bad.push(String::from_utf8_lossy(line).into_owned());
            continue;
        };
        let [sid, wid, pid, tty, sname, wname, windex, pindex, width, height, piped, pane_pid] =
            <[String; 12]>::try_from(f).expect("length checked");
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
            window_index: windex.parse().ok(),
            pane_index: pindex.parse().ok(),
            size: (width.parse().unwrap_or(80), height.parse().unwrap_or(24)),
            piped: piped == "1",
            pid: pane_pid.parse().ok(),
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
        let [uid, pid, ro, control, sid, user, name, flags, tty, term, activity] =
            <[String; 11]>::try_from(f).expect("length checked");
        // Clients name themselves: a second client of the same name is kept apart, under a
        // name that says so, never folded into the first (which would hide its attach).
        let name = (1..)
            .map(|n| {
                if n == 1 {
                    name.clone()
                } else {
                    format!("{name} (#{n} of that name)")
                }
            })
            .find(|k| !view.clients.contains_key(k))
            .expect("some name is free");
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
                activity: activity.parse().ok(),
            },
        );
    }
    bad
}

/// Server facts from [`server_command`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerInfo {
    /// tmux version, such as `3.3a`.
    pub version: String,
    /// Server pid.
    pub pid: Option<i64>,
}

/// Reads [`server_command`] output.
pub fn read_server(lines: &[Vec<u8>]) -> ServerInfo {
    let line = lines
        .first()
        .map(|l| String::from_utf8_lossy(l).into_owned());
    let line = line.unwrap_or_default();
    let mut f = line.split(SEP);
    ServerInfo {
        version: f.next().unwrap_or_default().to_owned(),
        pid: f.next().and_then(|p| p.parse().ok()),
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
                    "@0",
                    "%0",
                    "/dev/pts/1",
                    r"a $(x) \\037 \n%end 1 2 1",
                    "bash",
                    "0",
                    "0",
                    "200",
                    "50",
                    "1",
                    "4242",
                ]),
                line(&[
                    "$0",
                    "@0",
                    "%1",
                    "/dev/pts/2",
                    r"a $(x) \\037 \n%end 1 2 1",
                    "bash",
                    "0",
                    "1",
                    "80",
                    "24",
                    "0",
                    "4243",
                ]),
                b"garbage".to_vec(),
            ],
        );
        assert_eq!(bad, ["garbage"]);
        // tmux's own vis-encoding (\037) survives; our escaped newline becomes a newline.
        assert_eq!(v.sessions["$0"].name, "a $(x) \\037 \n%end 1 2 1");
        assert_eq!(v.panes.len(), 2);
        assert_eq!(v.windows["@0"].session_id, "$0");
        assert_eq!(v.panes["%0"].size, (200, 50));
        assert!(v.panes["%0"].piped && !v.panes["%1"].piped);
        assert_eq!(v.panes["%1"].pane_index, Some(1));
        assert_eq!(v.panes["%0"].pid, Some(4242));
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
                "root",
                "c",
                "attached,read-only",
                "/dev/pts/3",
                "screen",
                "1796190000",
            ])],
        );
        let c = &v.clients["c"];
        assert_eq!((c.uid, c.readonly, c.control), (Some(0), true, false));
        assert_eq!(c.activity, Some(1_796_190_000));
    }

    #[test]
    fn unescape_reverses_tmux_side_escaping() {
        assert_eq!(unescape(r"a\nb"), "a\nb");
        assert_eq!(
            unescape(r"a\n%end 1 2 1\nb\037c\\\\d"),
            "a\n%end 1 2 1\nb\x1fc\\\\d"
        );
        assert_eq!(unescape(r"tab\\t"), r"tab\t");
        assert_eq!(unescape("trailing\\"), "trailing\\");
    }

    #[test]
    fn commands_escape_every_free_text_field() {
        let panes = panes_command();
        assert!(
            panes.contains(r"s/\\\\/\\\\\\\\/;s/\n/\\\\n/;s/\037/\\\\037/:window_name}"),
            "{panes}"
        );
        assert!(
            panes.starts_with(r##"list-panes -a -F "#{session_id}\037"##),
            "{panes}"
        );
        assert!(clients_command().contains(":client_termname}"));
        assert!(server_command().starts_with(r##"display-message -p "#{version}"##));
    }

    #[test]
    fn versions() {
        assert_eq!(version_number("3.3a"), Some((3, 3)));
        assert_eq!(version_number("next-3.4"), Some((3, 4)));
        assert_eq!(version_number("3.2"), Some((3, 2)));
        assert_eq!(version_number("master"), None);
    }
}
