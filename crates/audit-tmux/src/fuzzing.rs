//! Entry points for the fuzz targets in `fuzz/` and for the tests that replay their corpora.
//!
//! Each function takes arbitrary bytes, runs one parser on them, and panics when a promise the
//! parser makes is broken — not only when it crashes. The fuzz target and the replay test call
//! the same function, so what the fuzzer explored is checked on every `cargo test`.

use crate::control::{Message, Notification, Parser};
use crate::messages::{self, Cause, Departing, Entry, Log};

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// The control-mode reader, fed the bytes line by line: every line is accounted for exactly
/// once — as a notification, or inside the reply whose `%begin` it follows (returned verbatim),
/// or in the reply still open at the end — and only the `%end`/`%error` guard with its
/// `%begin`'s exact arguments closes a reply.
pub fn control(data: &[u8]) {
    let lines: Vec<&[u8]> = data.split(|&b| b == b'\n').collect();
    let mut parser = Parser::default();
    // Lines before `done` produced a message.
    let mut done = 0;
    for (i, line) in lines.iter().enumerate() {
        match parser.feed(line) {
            None => {}
            Some(Message::Reply { ok, lines: got }) => {
                let begin = lines[done];
                let args = begin
                    .strip_prefix(b"%begin ")
                    .expect("a reply starts at %begin");
                let guard = if ok { &b"%end "[..] } else { &b"%error "[..] };
                assert_eq!(*line, [guard, args].concat(), "wrong guard closed a reply");
                assert_eq!(got, lines[done + 1..i], "a reply's lines are not verbatim");
                done = i + 1;
            }
            Some(Message::Notification(n)) => {
                assert_eq!(done, i, "a notification swallowed earlier lines");
                notification(line, &n);
                done = i + 1;
            }
        }
    }
    if done < lines.len() {
        assert!(
            lines[done].starts_with(b"%begin "),
            "lines left unaccounted"
        );
    }
}

fn notification(line: &[u8], n: &Notification) {
    match n {
        Notification::Exit(reason) => {
            assert!(line == b"%exit" || line.starts_with(b"%exit "));
            assert_eq!(reason.is_none(), line.len() <= 6);
        }
        Notification::ClientDetached(name) => {
            assert_eq!(
                *name,
                lossy(&line[b"%client-detached ".len().min(line.len())..])
            );
        }
        Notification::ClientSessionChanged {
            client, session_id, ..
        } => assert!(!client.contains(' ') && !session_id.contains(' ')),
        Notification::Other(text) => assert_eq!(*text, lossy(line)),
        Notification::SessionRenamed { .. }
        | Notification::Structure
        | Notification::Subscription(_) => {}
    }
}

/// `NAME[USER]` as the log shows the client of an entry.
fn who(e: &Entry) -> String {
    match &e.user {
        Some(u) => format!("{}[{u}]", e.client),
        None => e.client.clone(),
    }
}

/// The message-log parser: an entry it returns says exactly what its line says (the line can
/// be rebuilt from it, so no client, user, key or command text is lost or shifted), and the
/// walk that finds new entries and the search for who detached a client never invent one.
pub fn messages(data: &[u8]) {
    let text = lossy(data);
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let mut entries = Vec::new();
    for line in &lines {
        let Some(e) = messages::parse(line) else {
            continue;
        };
        let rest = &line[7..];
        let rebuilt = match (&e.key, &e.command) {
            (Some(k), Some(c)) => format!("{} key {k}: {c}", who(&e)),
            (None, Some(c)) => format!("{} command: {c}", who(&e)),
            (None, None) => {
                assert!(rest.starts_with(&format!("{} message: ", who(&e))));
                rest.to_owned()
            }
            (Some(_), None) => panic!("a key entry without a command: {line:?}"),
        };
        assert_eq!(rebuilt, rest, "entry {e:?} does not say what its line says");
        entries.push(e);
    }

    let mut log = Log::default();
    let own = entries
        .first()
        .map(|e| e.client.clone())
        .unwrap_or_default();
    log.add_own_client(own.clone());
    let sent = data.first().map_or(0, |&b| usize::from(b));
    log.new_entries(Vec::new(), 1, 0);
    let fresh = log.new_entries(lines.clone(), 1, sent);
    assert!(
        fresh.iter().all(|e| e.client != own),
        "our own entry came back as new"
    );
    assert!(fresh.len() <= entries.len());
    let unknown = Log::default().new_entries(lines, 2, sent);
    assert!(unknown.len() <= entries.len());

    let own_ttys: Vec<String> = entries.iter().skip(1).map(|e| e.client.clone()).collect();
    for (i, e) in entries.iter().enumerate() {
        let d = Departing {
            client: &e.client,
            session: e.user.as_deref().unwrap_or(""),
            session_id: e.key.as_deref().unwrap_or("$0"),
            own_ttys: &own_ttys[..i.min(own_ttys.len())],
            all_kicked: i % 2 == 1,
        };
        if let Some(Cause::Kicked { by, by_user }) = messages::detach_cause(&entries, &d) {
            assert!(
                entries.iter().any(|x| x.client == by && x.user == by_user),
                "blamed {by:?}, who is in no entry"
            );
        }
    }
}
