//! Who had a client attached to which session, and when: the attachments
//! [`audit_core::fold::World`] holds after each event, followed through the log as spans of
//! time, so a hit at any moment can name who was watching.

use audit_core::fold::World;
use audit_core::Timestamp;
use std::collections::HashMap;

/// One client's stay in one session with the same rights: what [`World`] holds, followed
/// through the log.
#[derive(Debug)]
pub struct Span {
    /// tmux client name.
    pub client: String,
    /// Kernel-attested user.
    pub user: Option<String>,
    /// Kernel-attested uid.
    pub uid: Option<i64>,
    /// Read-only client.
    pub readonly: bool,
    /// A control-mode client.
    pub control: bool,
    /// Client pid (tells a new client of the same name apart).
    pub pid: Option<i64>,
    /// SSH remote address the client came from, or `local`.
    pub origin: Option<String>,
    /// Attached (with these rights) from.
    pub from: Timestamp,
    /// Until (exclusive); `None` while still attached.
    pub to: Option<Timestamp>,
}

/// Who had a client attached to which session, and when. Built by comparing the [`World`]'s
/// clients after each event, so it answers exactly what `who --at T` answers for each T (for a
/// log whose times rise with `seq`, as a daemon writes it).
#[derive(Default)]
pub struct Presence {
    /// By (server, session id), in the order they began.
    spans: HashMap<(String, String), Vec<Span>>,
    /// The spans still open, by (server, client): their session and index.
    open: HashMap<(String, String), ((String, String), usize)>,
}

impl Presence {
    /// Closes the spans of clients that left or changed, and opens new ones, at `t`.
    pub fn follow(&mut self, world: &World, t: Timestamp) {
        let spans = &mut self.spans;
        self.open.retain(|key, (session, i)| {
            let span = &mut spans.get_mut(session).expect("an open span")[*i];
            let same = world.clients.get(key).is_some_and(|a| {
                a.session_id == session.1
                    && a.readonly == span.readonly
                    && a.user == span.user
                    && a.client_pid == span.pid
            });
            if !same {
                span.to = Some(t);
            }
            same
        });
        for (key, a) in &world.clients {
            if self.open.contains_key(key) {
                continue;
            }
            let session = (a.server.clone(), a.session_id.clone());
            let list = self.spans.entry(session.clone()).or_default();
            list.push(Span {
                client: a.client.clone(),
                user: a.user.clone(),
                uid: a.uid,
                readonly: a.readonly,
                control: a
                    .flags
                    .as_deref()
                    .is_some_and(|f| f.split(',').any(|f| f == "control-mode")),
                pid: a.client_pid,
                origin: a.origin.clone(),
                from: t,
                to: None,
            });
            self.open.insert(key.clone(), (session, list.len() - 1));
        }
    }

    /// Every stay in the session `session_id` of `server`, in the order they began.
    pub fn spans(&self, server: &str, session_id: &str) -> &[Span] {
        self.spans
            .get(&(server.to_owned(), session_id.to_owned()))
            .map_or(&[][..], Vec::as_slice)
    }

    /// The clients attached to the session at `t`, by user and client name.
    pub fn at(&self, server: &str, session_id: Option<&str>, t: Timestamp) -> Vec<&Span> {
        let Some(id) = session_id else {
            return Vec::new();
        };
        let mut here: Vec<&Span> = self
            .spans
            .get(&(server.to_owned(), id.to_owned()))
            .map_or(&[][..], Vec::as_slice)
            .iter()
            .filter(|s| s.from <= t && s.to.is_none_or(|to| t < to))
            .collect();
        here.sort_by(|a, b| (&a.user, &a.client).cmp(&(&b.user, &b.client)));
        here
    }
}
