//! Turning two views of a server into the events between them. Pure: the watcher supplies the
//! views, the time, and what it learned about why clients left.

use crate::snapshot::{Client, ServerView};
use audit_core::{Event, Kind, Observed, Reason, Timestamp};
use std::collections::BTreeMap;

/// Why a client that is gone left, as far as anyone could tell.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Departure {
    /// The reason.
    pub reason: Reason,
    /// Who caused it.
    pub by: Option<String>,
    /// Their user.
    pub by_user: Option<String>,
    /// How `by` was worked out, when it was not direct.
    pub note: Option<String>,
}

/// Everything a diff needs besides the two views.
pub struct Context<'a> {
    /// Host name.
    pub host: &'a str,
    /// Server socket path.
    pub server: &'a str,
    /// Event time.
    pub time: Timestamp,
    /// Live, or found at start.
    pub observed: Observed,
    /// Also report sessions and clients present in both views (the daemon's start).
    pub restate: bool,
    /// Why each vanished client left; clients not listed get [`Reason::Unknown`] when observed
    /// at start and [`Reason::Exit`] when live.
    pub departures: &'a BTreeMap<String, Departure>,
    /// Origin of a client (SSH address or `local`), looked up by pid.
    pub origin: &'a dyn Fn(i64, Option<i64>) -> Option<String>,
}

impl Context<'_> {
    fn event(&self, kind: Kind) -> Event {
        Event::new(self.time, kind, self.host, self.server).observed(self.observed)
    }
}

fn session_fields(e: &mut Event, view: &ServerView, session_id: &str) {
    e.session_id = Some(session_id.to_owned());
    e.session = view.sessions.get(session_id).map(|s| s.name.clone());
}

fn client_event(ctx: &Context, kind: Kind, c: &Client, view: &ServerView) -> Event {
    let mut e = ctx.event(kind);
    session_fields(&mut e, view, &c.session_id);
    e.client = Some(c.name.clone());
    e.client_pid = c.pid;
    e.uid = c.uid;
    e.user = c.user.clone();
    e.readonly = Some(c.readonly);
    e.tty = Some(c.tty.clone());
    e.term = Some(c.term.clone());
    e.flags = Some(c.flags.clone());
    e
}

/// `session-renamed` for sessions `renames` (from `%session-renamed`) renamed and then closed
/// before the look at `new` (which sees only that they are gone); `known` is given the last
/// names, so the closing [`diff`] then reports carries them.
pub fn renamed_then_closed(
    known: &mut ServerView,
    renames: Vec<(String, String)>,
    new: &ServerView,
    ctx: &Context,
) -> Vec<Event> {
    let mut events = Vec::new();
    for (id, name) in renames {
        if new.sessions.contains_key(&id) {
            continue;
        }
        let Some(old) = known.sessions.get_mut(&id) else {
            continue;
        };
        if old.name == name {
            continue;
        }
        let mut e = ctx.event(Kind::SessionRenamed);
        e.session_id = Some(id);
        e.session = Some(name.clone());
        e.message = Some(format!("was {}", old.name));
        old.name = name;
        events.push(e);
    }
    events
}

/// The events that lead from `old` to `new`, in an order a reader can follow: things appear
/// (sessions, windows, panes), clients move, then things disappear (panes, windows, sessions).
pub fn diff(old: &ServerView, new: &ServerView, ctx: &Context) -> Vec<Event> {
    let mut out = Vec::new();

    for (id, s) in &new.sessions {
        match old.sessions.get(id) {
            None => {
                let mut e = ctx.event(Kind::SessionCreated);
                e.session_id = Some(id.clone());
                e.session = Some(s.name.clone());
                out.push(e);
            }
            Some(o) if o.name != s.name => {
                let mut e = ctx.event(Kind::SessionRenamed);
                e.session_id = Some(id.clone());
                e.session = Some(s.name.clone());
                e.message = Some(format!("was {}", o.name));
                out.push(e);
            }
            Some(_) if ctx.restate => {
                let mut e = ctx.event(Kind::SessionCreated);
                e.session_id = Some(id.clone());
                e.session = Some(s.name.clone());
                out.push(e);
            }
            Some(_) => {}
        }
    }

    for (id, w) in &new.windows {
        let kind = match old.windows.get(id) {
            None => Kind::WindowCreated,
            Some(o) if o.name != w.name => Kind::WindowRenamed,
            Some(_) => continue,
        };
        let mut e = ctx.event(kind);
        session_fields(&mut e, new, &w.session_id);
        e.window_id = Some(id.clone());
        e.window = Some(w.name.clone());
        out.push(e);
    }

    for (id, p) in &new.panes {
        if !old.panes.contains_key(id) {
            let mut e = ctx.event(Kind::PaneCreated);
            session_fields(&mut e, new, &p.session_id);
            e.window_id = Some(p.window_id.clone());
            e.window = new.windows.get(&p.window_id).map(|w| w.name.clone());
            e.pane_id = Some(id.clone());
            e.tty = Some(p.tty.clone());
            e.pid = p.pid;
            out.push(e);
        }
    }

    for (name, c) in &old.clients {
        let reason = match new.clients.get(name) {
            Some(n) if n.pid == c.pid && n.uid == c.uid && n.session_id == c.session_id => continue,
            Some(n) if n.pid == c.pid && n.uid == c.uid => Departure {
                reason: Reason::Switch,
                by: None,
                by_user: None,
                note: None,
            },
            _ => ctx.departures.get(name).cloned().unwrap_or(Departure {
                reason: match ctx.observed {
                    Observed::AtStart => Reason::Unknown,
                    Observed::Live => Reason::Exit,
                },
                by: None,
                by_user: None,
                note: None,
            }),
        };
        let mut e = client_event(ctx, Kind::ClientDetached, c, old);
        e.reason = Some(reason.reason);
        e.by = reason.by;
        e.by_user = reason.by_user;
        e.message = reason.note;
        out.push(e);
    }

    for (name, c) in &new.clients {
        // The same client: same name, and the same pid and kernel-attested uid.
        let old_client = old
            .clients
            .get(name)
            .filter(|o| o.pid == c.pid && o.uid == c.uid);
        match old_client {
            Some(o) if o.session_id == c.session_id => {
                if o.readonly != c.readonly {
                    out.push(client_event(ctx, Kind::ClientReadonlyChanged, c, new));
                } else if ctx.restate {
                    let mut e = client_event(ctx, Kind::ClientAttached, c, new);
                    e.origin = c.pid.and_then(|pid| (ctx.origin)(pid, c.uid));
                    out.push(e);
                }
            }
            _ => {
                let mut e = client_event(ctx, Kind::ClientAttached, c, new);
                e.origin = c.pid.and_then(|pid| (ctx.origin)(pid, c.uid));
                out.push(e);
            }
        }
    }

    for (id, p) in &old.panes {
        if !new.panes.contains_key(id) {
            let mut e = ctx.event(Kind::PaneExited);
            session_fields(&mut e, old, &p.session_id);
            e.window_id = Some(p.window_id.clone());
            e.pane_id = Some(id.clone());
            out.push(e);
        }
    }

    for (id, w) in &old.windows {
        if !new.windows.contains_key(id) {
            let mut e = ctx.event(Kind::WindowClosed);
            session_fields(&mut e, old, &w.session_id);
            e.window_id = Some(id.clone());
            e.window = Some(w.name.clone());
            out.push(e);
        }
    }

    for (id, s) in &old.sessions {
        if !new.sessions.contains_key(id) {
            let mut e = ctx.event(Kind::SessionClosed);
            e.session_id = Some(id.clone());
            e.session = Some(s.name.clone());
            out.push(e);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::snapshot::{Pane, Session, Window};

    fn view(sessions: &[(&str, &str)], clients: &[(&str, i64, &str, bool)]) -> ServerView {
        let mut v = ServerView::default();
        for (i, (id, name)) in sessions.iter().enumerate() {
            v.sessions.insert(
                id.to_string(),
                Session {
                    name: name.to_string(),
                },
            );
            let w = format!("@{i}");
            v.windows.insert(
                w.clone(),
                Window {
                    name: "bash".into(),
                    session_id: id.to_string(),
                },
            );
            v.panes.insert(
                format!("%{i}"),
                Pane {
                    window_id: w,
                    session_id: id.to_string(),
                    tty: format!("/dev/pts/{i}"),
                    ..Pane::default()
                },
            );
        }
        for (name, pid, sid, ro) in clients {
            v.clients.insert(
                name.to_string(),
                Client {
                    name: name.to_string(),
                    uid: Some(0),
                    user: Some("root".into()),
                    pid: Some(*pid),
                    readonly: *ro,
                    control: false,
                    session_id: sid.to_string(),
                    tty: name.to_string(),
                    term: "xterm".into(),
                    flags: "attached".into(),
                    activity: None,
                },
            );
        }
        v
    }

    fn kinds(events: &[Event]) -> Vec<(String, Option<Reason>)> {
        events
            .iter()
            .map(|e| (e.kind.as_str().to_owned(), e.reason))
            .collect()
    }

    fn live<'a>(departures: &'a BTreeMap<String, Departure>) -> Context<'a> {
        Context {
            host: "h",
            server: "/s",
            time: Timestamp(1),
            observed: Observed::Live,
            restate: false,
            departures,
            origin: &|_, _| Some("local".into()),
        }
    }

    #[test]
    fn switch_is_detach_then_attach() {
        let none = BTreeMap::new();
        let old = view(&[("$0", "a"), ("$1", "b")], &[("c1", 5, "$0", false)]);
        let new = view(&[("$0", "a"), ("$1", "b")], &[("c1", 5, "$1", false)]);
        let ev = diff(&old, &new, &live(&none));
        assert_eq!(
            kinds(&ev),
            [
                ("client-detached".into(), Some(Reason::Switch)),
                ("client-attached".into(), None)
            ]
        );
        assert_eq!(ev[0].session.as_deref(), Some("a"));
        assert_eq!(ev[1].session.as_deref(), Some("b"));
        assert_eq!(ev[1].origin.as_deref(), Some("local"));
    }

    #[test]
    fn readonly_change_and_vanished_client() {
        let mut departures = BTreeMap::new();
        departures.insert(
            "c2".to_owned(),
            Departure {
                reason: Reason::Kicked,
                by: Some("c1".into()),
                by_user: None,
                note: None,
            },
        );
        let old = view(
            &[("$0", "a")],
            &[("c1", 5, "$0", false), ("c2", 6, "$0", false)],
        );
        let new = view(&[("$0", "a")], &[("c1", 5, "$0", true)]);
        let ev = diff(&old, &new, &live(&departures));
        assert_eq!(
            kinds(&ev),
            [
                ("client-detached".into(), Some(Reason::Kicked)),
                ("client-readonly-changed".into(), None)
            ]
        );
        assert_eq!(ev[0].by.as_deref(), Some("c1"));
        assert_eq!(ev[1].readonly, Some(true));
    }

    #[test]
    fn session_life_in_order() {
        let none = BTreeMap::new();
        let empty = view(&[], &[]);
        let one = view(&[("$0", "a")], &[]);
        let created = diff(&empty, &one, &live(&none));
        assert_eq!(
            kinds(&created).into_iter().map(|k| k.0).collect::<Vec<_>>(),
            ["session-created", "window-created", "pane-created"]
        );
        let closed = diff(&one, &empty, &live(&none));
        assert_eq!(
            kinds(&closed).into_iter().map(|k| k.0).collect::<Vec<_>>(),
            ["pane-exited", "window-closed", "session-closed"]
        );
    }

    #[test]
    fn restate_reports_what_is_already_there() {
        let none = BTreeMap::new();
        let v = view(&[("$0", "a")], &[("c1", 5, "$0", false)]);
        let mut ctx = live(&none);
        ctx.observed = Observed::AtStart;
        ctx.restate = true;
        let ev = diff(&v, &v, &ctx);
        assert_eq!(
            kinds(&ev).into_iter().map(|k| k.0).collect::<Vec<_>>(),
            ["session-created", "client-attached"]
        );
        assert!(ev.iter().all(|e| e.observed == Some(Observed::AtStart)));
    }
}
