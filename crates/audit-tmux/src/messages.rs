//! tmux's message log (`show-messages`): every command and key binding a client ran, newest
//! first, as `HH:MM: NAME[USER] command: TEXT` or `HH:MM: NAME key KEY: TEXT`. `[USER]` appears
//! only when the client's uid differs from the server owner's.
//!
//! tmux-audit reads it to tell why a client left: it detached itself, or someone kicked it.

/// One log entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// The client that ran it.
    pub client: String,
    /// Its user, when tmux shows one.
    pub user: Option<String>,
    /// `Some(key)` when run by a key binding.
    pub key: Option<String>,
    /// The command text (`None` for `message:` entries, which are not commands).
    pub command: Option<String>,
}

/// Parses one line; `None` for lines in another shape.
pub fn parse(line: &str) -> Option<Entry> {
    // "HH:MM: " — the time is not used: it has minute resolution only.
    let rest = line
        .get(7..)
        .filter(|_| line.as_bytes().get(5) == Some(&b':'))?;
    let (who, key, command) = if let Some(i) = rest.find(" command: ") {
        (&rest[..i], None, Some(rest[i + 10..].to_owned()))
    } else if let Some(i) = rest.find(" key ") {
        let after = &rest[i + 5..];
        let colon = after.find(": ")?;
        (
            &rest[..i],
            Some(after[..colon].to_owned()),
            Some(after[colon + 2..].to_owned()),
        )
    } else if let Some(i) = rest.find(" message: ") {
        (&rest[..i], None, None)
    } else {
        return None;
    };
    let (client, user) = match who.strip_suffix(']').and_then(|w| w.rsplit_once('[')) {
        Some((name, user)) => (name.to_owned(), Some(user.to_owned())),
        None => (who.to_owned(), None),
    };
    Some(Entry {
        client,
        user,
        key,
        command,
    })
}

/// Finds, in each read of the log, the entries added since the previous read.
///
/// The log's times have minute resolution and identical lines repeat (a user detaching twice
/// from the same tty), so text cannot mark where the previous read ended. Our own control
/// client's commands can: each is logged under our client's name, which nobody else has, and
/// we know how many we sent since the last read. Walking down from the newest entry, the new
/// entries are the others met before passing that many of ours.
#[derive(Debug, Default)]
pub struct Log {
    /// Names our control clients had on this server (a new one after each reconnect).
    own: Vec<String>,
    /// At the last read: which control client (pid) read, and how many commands it had sent.
    last_read: Option<(u32, usize)>,
}

impl Log {
    /// Notes the name of our current control client (`client-PID`).
    pub fn add_own_client(&mut self, name: String) {
        if !self.own.contains(&name) {
            // Each reconnection adds one; those of long ago explain nothing still in the log.
            if self.own.len() >= 64 {
                self.own.remove(0);
            }
            self.own.push(name);
        }
    }

    /// Takes the full `show-messages` output (newest first), read by control client `pid`
    /// after it had sent `sent` commands (this `show-messages` included), and returns the
    /// entries logged since the previous read, oldest first.
    pub fn new_entries(&mut self, lines: Vec<String>, pid: u32, sent: usize) -> Vec<Entry> {
        // Ours since the last read; unknown after a reconnect: then stop at our first
        // command below the newest block of ours.
        let expected = match self.last_read {
            Some((p, before)) if p == pid => Some(sent - before),
            _ => None,
        };
        self.last_read = Some((pid, sent));
        let mut own_seen = 0;
        let mut fresh = Vec::new();
        for e in lines.iter().filter_map(|l| parse(l)) {
            if !self.own.contains(&e.client) {
                fresh.push(e);
                continue;
            }
            if e.command.is_none() {
                continue; // our errors are logged too, but are not commands we counted
            }
            own_seen += 1;
            let past = match expected {
                Some(k) => own_seen > k,
                None => !fresh.is_empty(),
            };
            if past {
                break;
            }
        }
        fresh.reverse();
        fresh
    }

    /// Whether nothing has been read yet.
    pub fn is_empty(&self) -> bool {
        self.last_read.is_none()
    }
}

/// What the log says about why `client` left its session, if anything.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause {
    /// It detached itself (or was detached from inside its own session).
    Detached,
    /// Another client detached it.
    Kicked {
        /// That client.
        by: String,
        /// Its user, when shown.
        by_user: Option<String>,
    },
}

/// The client whose departure is being explained.
#[derive(Clone, Debug)]
pub struct Departing<'a> {
    /// Its name.
    pub client: &'a str,
    /// Its session's name.
    pub session: &'a str,
    /// Its session's id.
    pub session_id: &'a str,
    /// The ptys of the panes in its session: a command client run in one of them is the
    /// client's own user typing `tmux detach`.
    pub own_ttys: &'a [String],
    /// Whether our own control client was detached at the same time (what `detach-client -a`
    /// does to every other client).
    pub all_kicked: bool,
}

/// Splits a logged command line into words, honouring tmux's double quotes.
fn words(command: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = command.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => quoted = !quoted,
            '\\' if quoted => cur.extend(chars.next()),
            ' ' if !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// What a `detach-client` command line aimed at.
#[derive(Debug, Default, PartialEq, Eq)]
struct DetachArgs {
    all: bool,
    target: Option<String>,
    session: Option<String>,
    targeted: bool,
}

fn detach_args(command: &str) -> Option<DetachArgs> {
    let w = words(command);
    let name = w.first()?;
    if name != "detach-client" && name != "detach" {
        return None;
    }
    let mut a = DetachArgs::default();
    let mut i = 1;
    while i < w.len() {
        let arg = &w[i];
        if let Some(flags) = arg.strip_prefix('-') {
            for (j, f) in flags.char_indices() {
                match f {
                    'a' => a.all = true,
                    't' | 's' => {
                        a.targeted = true;
                        let rest = &flags[j + 1..];
                        let value = if rest.is_empty() {
                            i += 1;
                            w.get(i).cloned()
                        } else {
                            Some(rest.to_owned())
                        };
                        if f == 't' {
                            a.target = value;
                        } else {
                            a.session = value;
                        }
                        break;
                    }
                    _ => {}
                }
            }
        }
        i += 1;
    }
    a.targeted |= a.all;
    Some(a)
}

/// Whether a logged command could have detached `d`: a command that named someone else, or
/// that detached "all others" while our own client stayed, did not.
fn could_detach(a: &DetachArgs, d: &Departing) -> bool {
    if a.all {
        return d.all_kicked && a.target.as_deref() != Some(d.client);
    }
    if let Some(t) = &a.target {
        return t == d.client || d.client.ends_with(&format!("/{t}"));
    }
    if let Some(s) = &a.session {
        let s = s.trim_start_matches('=');
        let s = s.split(':').next().unwrap_or(s);
        return s == d.session || s == d.session_id || s.is_empty();
    }
    true
}

/// Looks through `entries` (new since the last read) for the detach of `d`.
pub fn detach_cause(entries: &[Entry], d: &Departing) -> Option<Cause> {
    entries.iter().rev().find_map(|e| {
        let a = detach_args(e.command.as_deref()?)?;
        if !could_detach(&a, d) {
            return None;
        }
        if e.client == d.client || (!a.targeted && d.own_ttys.contains(&e.client)) {
            Some(Cause::Detached)
        } else {
            Some(Cause::Kicked {
                by: e.client.clone(),
                by_user: e.user.clone(),
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_shapes_seen_on_tmux_3_3a() {
        let e = parse("21:57: client-6903[nobody] command: detach-client -a -t foo").unwrap();
        assert_eq!(e.client, "client-6903");
        assert_eq!(e.user.as_deref(), Some("nobody"));
        assert_eq!(e.command.as_deref(), Some("detach-client -a -t foo"));
        let k = parse("21:52: /dev/pts/6 key d: detach-client").unwrap();
        assert_eq!(k.key.as_deref(), Some("d"));
        assert_eq!(k.command.as_deref(), Some("detach-client"));
        let m = parse("21:52: client-2624 message: can't find window: x").unwrap();
        assert_eq!(m.command, None);
        assert!(parse("garbage").is_none());
    }

    #[test]
    fn yields_the_entries_between_our_own_commands() {
        let mut log = Log::default();
        log.add_own_client("client-7".into());
        let read = |lines: &[&str]| lines.iter().map(|l| l.to_string()).collect::<Vec<_>>();
        // The first read (priming): everything before it is old.
        log.new_entries(read(&["22:12: client-7 command: show-messages"]), 7, 1);
        // Newest first. Identical lines repeat: text alone cannot tell old from new. Since
        // the last read we sent list-panes, list-clients, show-messages; someone else's
        // command landed between two of ours.
        let new = log.new_entries(
            read(&[
                "22:13: client-7 command: show-messages",
                "22:13: other command: kill-window",
                "22:13: client-7 message: an error of ours",
                "22:13: client-7 command: list-clients -F x",
                "22:13: client-7 command: list-panes -a -F x",
                "22:13: /dev/pts/1 key d: detach-client",
                "22:12: client-7 command: show-messages",
                "22:12: /dev/pts/1 key d: detach-client",
            ]),
            7,
            4,
        );
        let names: Vec<_> = new.iter().map(|e| e.client.as_str()).collect();
        assert_eq!(names, ["/dev/pts/1", "other"]);
        // After a reconnect both names are ours and the count starts again.
        log.add_own_client("client-9".into());
        let new = log.new_entries(
            read(&[
                "22:14: client-9 command: show-messages",
                "22:14: b command: y",
                "22:14: a command: x",
                "22:14: client-7 command: list-clients -F x",
                "22:13: c command: z",
            ]),
            9,
            3,
        );
        let names: Vec<_> = new.iter().map(|e| e.client.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
    }

    #[test]
    fn tells_detach_from_kick() {
        let own = vec!["/dev/pts/7".to_owned()];
        let d = Departing {
            client: "/dev/pts/6",
            session: "we $(x)",
            session_id: "$1",
            own_ttys: &own,
            all_kicked: false,
        };
        let e = |l: &str| parse(l).unwrap();
        let key = [e("21:52: /dev/pts/6 key d: detach-client")];
        assert_eq!(detach_cause(&key, &d), Some(Cause::Detached));
        let inside = [e("21:52: /dev/pts/7 command: detach-client")];
        assert_eq!(detach_cause(&inside, &d), Some(Cause::Detached));
        let kick = [e(
            "21:52: client-9[nobody] command: detach-client -t /dev/pts/6",
        )];
        let kicked = Some(Cause::Kicked {
            by: "client-9".into(),
            by_user: Some("nobody".into()),
        });
        assert_eq!(detach_cause(&kick, &d), kicked);
        let by_session = [e(
            "21:52: client-9[nobody] command: detach-client -s \"=we $(x)\"",
        )];
        assert_eq!(detach_cause(&by_session, &d), kicked);
        assert_eq!(detach_cause(&[], &d), None);
    }

    #[test]
    fn a_command_aimed_elsewhere_is_not_the_cause() {
        let d = Departing {
            client: "/dev/pts/6",
            session: "prod",
            session_id: "$0",
            own_ttys: &[],
            all_kicked: false,
        };
        let e = |l: &str| parse(l).unwrap();
        // Regression: a no-op `detach-client -a` earlier was blamed for a client killed later.
        let stale = [e("22:01: client-14845 command: detach-client -a")];
        assert_eq!(detach_cause(&stale, &d), None);
        let other = [e("22:01: client-1 command: detach-client -t /dev/pts/9")];
        assert_eq!(detach_cause(&other, &d), None);
        let other_session = [e("22:01: client-1 command: detach-client -s dev")];
        assert_eq!(detach_cause(&other_session, &d), None);
        let all = Departing {
            all_kicked: true,
            ..d
        };
        assert!(matches!(
            detach_cause(&stale, &all),
            Some(Cause::Kicked { .. })
        ));
    }
}
