//! The last recorded state of a server, rebuilt from the log, as a [`ServerView`] the watcher
//! can diff against when the daemon starts.

use crate::snapshot::{Client, Pane, ServerView, Session, Window};
use audit_core::fold::World;

/// The view of `server` that the log describes.
pub fn view_of(world: &World, server: &str) -> ServerView {
    let mut v = ServerView::default();
    for ((s, id), st) in &world.sessions {
        if s == server {
            v.sessions.insert(
                id.clone(),
                Session {
                    name: st.name.clone(),
                },
            );
        }
    }
    for ((s, id), w) in &world.windows {
        if s == server {
            v.windows.insert(
                id.clone(),
                Window {
                    name: w.name.clone(),
                    session_id: w.session_id.clone(),
                },
            );
        }
    }
    for ((s, id), p) in &world.panes {
        if s == server {
            v.panes.insert(
                id.clone(),
                Pane {
                    window_id: p.window_id.clone(),
                    session_id: p.session_id.clone(),
                    tty: p.tty.clone().unwrap_or_default(),
                    pid: p.pid,
                    ..Pane::default()
                },
            );
        }
    }
    for ((s, name), a) in &world.clients {
        if s == server {
            v.clients.insert(
                name.clone(),
                Client {
                    name: name.clone(),
                    uid: a.uid,
                    user: a.user.clone(),
                    pid: a.client_pid,
                    readonly: a.readonly,
                    control: false,
                    session_id: a.session_id.clone(),
                    tty: a.tty.clone().unwrap_or_default(),
                    term: a.term.clone().unwrap_or_default(),
                    flags: String::new(),
                    activity: None,
                },
            );
        }
    }
    v
}
