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

/// Remembers the log between reads so each read yields only entries added since the last.
#[derive(Debug, Default)]
pub struct Log {
    previous: Vec<String>,
}

impl Log {
    /// Takes the full `show-messages` output (newest first) and returns the new entries,
    /// oldest first.
    pub fn new_entries(&mut self, lines: Vec<String>) -> Vec<Entry> {
        // The newest line seen last time, and the few after it, mark where old entries start.
        let anchor: Vec<&String> = self.previous.iter().take(4).collect();
        let fresh = if anchor.is_empty() {
            lines.len()
        } else {
            (0..lines.len())
                .find(|&k| {
                    anchor
                        .iter()
                        .enumerate()
                        .all(|(j, a)| match lines.get(k + j) {
                            Some(l) => l == *a,
                            None => true,
                        })
                })
                .unwrap_or(lines.len())
        };
        let entries = lines[..fresh]
            .iter()
            .rev()
            .filter_map(|l| parse(l))
            .collect();
        self.previous = lines;
        entries
    }

    /// Whether nothing has been read yet.
    pub fn is_empty(&self) -> bool {
        self.previous.is_empty()
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
    fn yields_only_new_entries() {
        let mut log = Log::default();
        let first = vec![
            "21:57: a command: x".to_owned(),
            "21:57: a command: w".to_owned(),
        ];
        assert_eq!(log.new_entries(first.clone()).len(), 2);
        let mut second = vec!["21:58: b command: y".to_owned()];
        second.extend(first);
        let new = log.new_entries(second);
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].client, "b");
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
