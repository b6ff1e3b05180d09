//! The control-mode protocol (`tmux -C`), as pure parsing: lines in, [`Message`]s out.
//!
//! A control client receives command replies framed by `%begin` … `%end` (or `%error`) and, in
//! between, asynchronous notifications, one per line, starting with `%`. Only the notifications
//! tmux-audit acts on are named in [`Notification`]; the rest are kept as [`Notification::Other`].

/// One unit read from a control client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// The reply to one command, in the order commands were sent.
    Reply {
        /// `%end` (true) or `%error` (false).
        ok: bool,
        /// The lines between `%begin` and the end, raw.
        lines: Vec<Vec<u8>>,
    },
    /// An asynchronous notification.
    Notification(Notification),
}

/// The notifications that tell tmux-audit something changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// The control client is leaving (detached, kicked, or the server is going away).
    Exit(Option<String>),
    /// A client left its session (`%client-detached NAME`).
    ClientDetached(String),
    /// A client attached, switched, or had its flags changed (`%client-session-changed`).
    ClientSessionChanged {
        /// Client name.
        client: String,
        /// Session id it is in now.
        session_id: String,
        /// That session's name.
        session: String,
    },
    /// A session was renamed (`%session-renamed $ID NAME`): kept so a session renamed and
    /// closed between two looks still has its rename recorded.
    SessionRenamed {
        /// Session id.
        session_id: String,
        /// Its new name.
        name: String,
    },
    /// Sessions, windows or panes changed somewhere (several notification names).
    Structure,
    /// A format subscription's value changed.
    Subscription(String),
    /// Anything else.
    Other(String),
}

/// Parses a control client's output line by line.
#[derive(Debug, Default)]
pub struct Parser {
    /// Inside a reply: the `%begin` arguments (time, command number, flags) and the lines.
    block: Option<(Vec<u8>, Vec<Vec<u8>>)>,
}

fn word(line: &[u8], n: usize) -> Option<String> {
    line.split(|&b| b == b' ')
        .nth(n)
        .map(|w| String::from_utf8_lossy(w).into_owned())
}

impl Parser {
    /// Feeds one line (without its newline). Returns a message when one is complete.
    pub fn feed(&mut self, line: &[u8]) -> Option<Message> {
        if let Some((args, lines)) = &mut self.block {
            // Only the guard line with the same arguments as its %begin ends a reply, so a
            // line of output that merely looks like "%end …" cannot.
            let end = line
                .strip_prefix(b"%end ")
                .map(|a| (true, a))
                .or_else(|| line.strip_prefix(b"%error ").map(|a| (false, a)));
            if let Some((ok, end_args)) = end {
                if end_args == args.as_slice() {
                    let lines = std::mem::take(lines);
                    self.block = None;
                    return Some(Message::Reply { ok, lines });
                }
            }
            lines.push(line.to_vec());
            return None;
        }
        if let Some(args) = line.strip_prefix(b"%begin ") {
            self.block = Some((args.to_vec(), Vec::new()));
            return None;
        }
        Some(Message::Notification(classify(line)))
    }
}

fn classify(line: &[u8]) -> Notification {
    let name = word(line, 0).unwrap_or_default();
    match name.as_str() {
        "%exit" => {
            let reason = line
                .get(6..)
                .map(|r| String::from_utf8_lossy(r).into_owned());
            Notification::Exit(reason.filter(|r| !r.is_empty()))
        }
        "%client-detached" => Notification::ClientDetached(rest_after(line, 1)),
        "%client-session-changed" => {
            // %client-session-changed NAME $ID SESSION-NAME. Client names are ttys or
            // client-PID (no spaces); the session name is the rest of the line.
            Notification::ClientSessionChanged {
                client: word(line, 1).unwrap_or_default(),
                session_id: word(line, 2).unwrap_or_default(),
                session: rest_after(line, 3),
            }
        }
        "%session-renamed" => Notification::SessionRenamed {
            session_id: word(line, 1).unwrap_or_default(),
            name: rest_after(line, 2),
        },
        "%sessions-changed"
        | "%session-changed"
        | "%window-add"
        | "%window-close"
        | "%window-renamed"
        | "%unlinked-window-add"
        | "%unlinked-window-close"
        | "%unlinked-window-renamed"
        | "%layout-change"
        | "%session-window-changed"
        | "%window-pane-changed" => Notification::Structure,
        "%subscription-changed" => Notification::Subscription(word(line, 1).unwrap_or_default()),
        _ => Notification::Other(String::from_utf8_lossy(line).into_owned()),
    }
}

fn rest_after(line: &[u8], words: usize) -> String {
    let mut rest = line;
    for _ in 0..words {
        match rest.iter().position(|&b| b == b' ') {
            Some(i) => rest = &rest[i + 1..],
            None => return String::new(),
        }
    }
    String::from_utf8_lossy(rest).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn feed_all(lines: &[&str]) -> Vec<Message> {
        let mut p = Parser::default();
        lines.iter().filter_map(|l| p.feed(l.as_bytes())).collect()
    }

    #[test]
    fn frames_replies_and_notifications() {
        let got = feed_all(&[
            "%begin 1795902716 280 1",
            "client-2177 2177 1",
            "%client-detached inside-a-reply-is-data",
            "%end 1 2 1",
            "%end 1795902716 280 1",
            "%client-session-changed /dev/pts/2 $1 two",
            "%client-detached /dev/pts/2",
            "%begin 1 2 1",
            "%error 1 2 1",
            "%unlinked-window-add @2",
            "%exit",
        ]);
        assert_eq!(
            got,
            vec![
                Message::Reply {
                    ok: true,
                    lines: vec![
                        b"client-2177 2177 1".to_vec(),
                        b"%client-detached inside-a-reply-is-data".to_vec(),
                        b"%end 1 2 1".to_vec(),
                    ]
                },
                Message::Notification(Notification::ClientSessionChanged {
                    client: "/dev/pts/2".into(),
                    session_id: "$1".into(),
                    session: "two".into()
                }),
                Message::Notification(Notification::ClientDetached("/dev/pts/2".into())),
                Message::Reply {
                    ok: false,
                    lines: vec![]
                },
                Message::Notification(Notification::Structure),
                Message::Notification(Notification::Exit(None)),
            ]
        );
    }

    #[test]
    fn exit_keeps_its_reason() {
        assert_eq!(
            feed_all(&["%exit too far behind"]),
            vec![Message::Notification(Notification::Exit(Some(
                "too far behind".into()
            )))]
        );
    }
}
