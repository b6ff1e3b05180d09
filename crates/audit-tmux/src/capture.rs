//! Pane recording, the watcher's half: keep every pane's output flowing into a spool.
//!
//! For each pane the watcher runs, in one command line so that tmux handles no pane output in
//! between, `pipe-pane -O` (tmux starts `tmux-audit pane-pipe` on the pane's output), then
//! `capture-pane -e` and the cursor position: the picture the recording starts from, so a pane
//! that existed before the daemon, or printed before its pipe opened, replays from the right
//! screen. A pipe that closes while its pane lives (someone ran `pipe-pane`, or the copier
//! died) is an `output-gap`, and the pane is piped again at once.
//!
//! What happens to the spools is the [`Recorder`]'s business (the daemon's ingester); it tells
//! the watcher when one of our pipes ended, and the watcher hears about it through a
//! [`Nudger`].

use crate::conn::{ConnError, Connection, Nudger};
use crate::snapshot::{Pane, ServerView};
use audit_core::{Event, Kind, Observed, Timestamp};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where spools go and what writes them.
#[derive(Clone, Debug)]
pub struct CaptureConfig {
    /// The `tmux-audit` program (run by tmux as `tmux-audit pane-pipe`).
    pub exe: PathBuf,
    /// A private folder for spool files (one subfolder per server).
    pub spool_dir: PathBuf,
}

/// Names and places of a pane, as carried by its `pane-output` events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PaneMeta {
    /// Session name.
    pub session: Option<String>,
    /// Session id.
    pub session_id: Option<String>,
    /// Window name.
    pub window: Option<String>,
    /// Window id.
    pub window_id: Option<String>,
    /// Window index.
    pub window_index: Option<i64>,
    /// Pane index.
    pub pane_index: Option<i64>,
}

/// What the watcher tells the recorder about a server's panes.
#[derive(Debug)]
pub enum PaneNotice {
    /// A control client is connected; nudge it when one of our pipes ends.
    Connected {
        /// The server (socket path).
        server: String,
        /// Wakes the watcher.
        nudger: Nudger,
    },
    /// A pane's output now flows into `spool`, starting from `picture`.
    Started {
        /// The server.
        server: String,
        /// `%N`.
        pane_id: String,
        /// Names and places.
        meta: PaneMeta,
        /// The spool `pane-pipe` creates.
        spool: PathBuf,
        /// When the pipe opened.
        time: Timestamp,
        /// Columns and rows.
        size: (u16, u16),
        /// Bytes that draw what the pane showed when its pipe opened.
        picture: Vec<u8>,
    },
    /// The pane moved or its session or window was renamed.
    Moved {
        /// The server.
        server: String,
        /// `%N`.
        pane_id: String,
        /// Its new names and places.
        meta: PaneMeta,
    },
    /// The pane was resized.
    Resized {
        /// The server.
        server: String,
        /// `%N`.
        pane_id: String,
        /// When it was seen.
        time: Timestamp,
        /// Columns and rows.
        size: (u16, u16),
    },
    /// The pane is gone, or will no longer be recorded (the daemon is stopping).
    Ended {
        /// The server.
        server: String,
        /// `%N`.
        pane_id: String,
        /// When.
        time: Timestamp,
    },
}

/// The spool's consumer.
pub trait Recorder: Send + Sync {
    /// Takes a notice (never blocks for long).
    fn notice(&self, notice: PaneNotice);
    /// Spools of `server` that ended (their pipe closed) since the last call, with when.
    fn take_closed(&self, server: &str) -> Vec<(PathBuf, Timestamp)>;
}

struct Piped {
    spool: PathBuf,
    meta: PaneMeta,
    size: (u16, u16),
    /// Last time the pipe was seen open.
    seen_open: Timestamp,
}

/// One watcher's pipes.
pub struct Piping<'a> {
    config: &'a CaptureConfig,
    recorder: &'a dyn Recorder,
    server: String,
    host: String,
    folder: PathBuf,
    panes: BTreeMap<String, Piped>,
    run_as: Option<crate::owner::Owner>,
}

impl<'a> Piping<'a> {
    /// Pipes for the server at `server` (its socket path).
    pub fn new(
        config: &'a CaptureConfig,
        recorder: &'a dyn Recorder,
        host: &str,
        server: &str,
        run_as: Option<crate::owner::Owner>,
    ) -> Self {
        let key = blake3::hash(server.as_bytes()).to_hex();
        Piping {
            config,
            recorder,
            server: server.to_owned(),
            host: host.to_owned(),
            folder: config.spool_dir.join(&key.as_str()[..16]),
            panes: BTreeMap::new(),
            run_as,
        }
    }

    /// A new control client: the recorder may nudge it.
    pub fn connected(&self, conn: &Connection) {
        self.recorder.notice(PaneNotice::Connected {
            server: self.server.clone(),
            nudger: conn.nudger(),
        });
    }

    /// Brings pipes in line with `view`: pipes new panes, re-pipes closed ones (returning the
    /// `output-gap` events that records), reports moves, resizes and ends.
    pub fn sync(
        &mut self,
        conn: &mut Connection,
        view: &ServerView,
        time: Timestamp,
    ) -> Result<Vec<Event>, ConnError> {
        let mut events = Vec::new();
        let closed: BTreeMap<PathBuf, Timestamp> = self
            .recorder
            .take_closed(&self.server)
            .into_iter()
            .collect();
        let gone: Vec<String> = self
            .panes
            .keys()
            .filter(|id| !view.panes.contains_key(*id))
            .cloned()
            .collect();
        for pane_id in gone {
            self.panes.remove(&pane_id);
            self.recorder.notice(PaneNotice::Ended {
                server: self.server.clone(),
                pane_id,
                time,
            });
        }
        for (pane_id, pane) in &view.panes {
            let meta = meta_of(view, pane);
            let Some(piped) = self.panes.get_mut(pane_id) else {
                self.start(conn, pane_id, pane, meta, time)?;
                continue;
            };
            if piped.meta != meta {
                piped.meta = meta.clone();
                self.recorder.notice(PaneNotice::Moved {
                    server: self.server.clone(),
                    pane_id: pane_id.clone(),
                    meta: meta.clone(),
                });
            }
            if piped.size != pane.size {
                piped.size = pane.size;
                self.recorder.notice(PaneNotice::Resized {
                    server: self.server.clone(),
                    pane_id: pane_id.clone(),
                    time,
                    size: pane.size,
                });
            }
            let ours_closed = closed.get(&piped.spool).copied();
            if pane.piped && ours_closed.is_none() {
                piped.seen_open = time;
                continue;
            }
            // Our pipe ended while the pane lives: closed (`pipe-pane` with no command), or
            // replaced by someone else's pipe.
            let cause = if pane.piped {
                "pipe-replaced"
            } else {
                "pipe-closed"
            };
            let from = ours_closed.unwrap_or(piped.seen_open);
            let mut gap = Event::new(time, Kind::OutputGap, &self.host, &self.server)
                .observed(Observed::Live);
            set_meta(&mut gap, pane_id, &meta);
            gap.reason = Some(cause.to_owned());
            gap.from = Some(from);
            gap.until = Some(time);
            gap.message = Some(if pane.piped {
                format!("someone replaced the recording pipe of pane {pane_id} with their own `pipe-pane`; output until tmux-audit took it back is not recorded")
            } else {
                format!("the recording pipe of pane {pane_id} was closed (`pipe-pane` with no command, or its copier was killed); output until it was re-opened is not recorded")
            });
            tracing::warn!(server = %self.server, pane = %pane_id, "recording pipe {cause}; re-opening it");
            events.push(gap);
            self.recorder.notice(PaneNotice::Ended {
                server: self.server.clone(),
                pane_id: pane_id.clone(),
                time,
            });
            self.panes.remove(pane_id);
            self.start(conn, pane_id, pane, meta, time)?;
        }
        Ok(events)
    }

    /// Closes every pipe we opened (the daemon is stopping), so no copier outlives it.
    pub fn close_all(&mut self, conn: &mut Connection) -> Result<(), ConnError> {
        let time = Timestamp::now();
        let commands: Vec<String> = self
            .panes
            .keys()
            .map(|id| format!("pipe-pane -t {id}"))
            .collect();
        if !commands.is_empty() {
            conn.command_list(&commands)?;
        }
        self.forget_all(time);
        Ok(())
    }

    /// The server is gone: every pane ended.
    pub fn forget_all(&mut self, time: Timestamp) {
        for (pane_id, _) in std::mem::take(&mut self.panes) {
            self.recorder.notice(PaneNotice::Ended {
                server: self.server.clone(),
                pane_id,
                time,
            });
        }
    }

    fn start(
        &mut self,
        conn: &mut Connection,
        pane_id: &str,
        pane: &Pane,
        meta: PaneMeta,
        time: Timestamp,
    ) -> Result<(), ConnError> {
        if let Err(e) = self.spool_folder() {
            tracing::error!(folder = %self.folder.display(), "cannot create the spool folder, pane {pane_id} is not recorded: {e}");
            return Ok(());
        }
        if pane.piped {
            tracing::warn!(server = %self.server, pane = %pane_id, "pane already has a pipe-pane; tmux-audit replaces it to record the pane");
        }
        let number = pane_id.trim_start_matches('%');
        let spool = self
            .folder
            .join(format!("{number}-{}.tas", time.as_micros()));
        let commands = vec![
            format!(
                "pipe-pane -O -t {pane_id} {}",
                tmux_quote(&pipe_command(&self.config.exe, &spool))
            ),
            format!("capture-pane -p -e -t {pane_id}"),
            format!(
                r##"display-message -p -t {pane_id} "#{{cursor_x}} #{{cursor_y}} #{{cursor_flag}}""##
            ),
        ];
        let results = conn.command_list(&commands)?;
        let mut results = results.into_iter();
        if let Some(Err(e)) = results.next() {
            // The pane went between the list and now: nothing to record.
            tracing::debug!(server = %self.server, pane = %pane_id, "not piped: {e}");
            return Ok(());
        }
        let screen = results.next().and_then(Result::ok).unwrap_or_default();
        let cursor = results.next().and_then(Result::ok).unwrap_or_default();
        let picture = picture(&screen, cursor.first().map(Vec::as_slice));
        self.recorder.notice(PaneNotice::Started {
            server: self.server.clone(),
            pane_id: pane_id.to_owned(),
            meta: meta.clone(),
            spool: spool.clone(),
            time,
            size: pane.size,
            picture,
        });
        self.panes.insert(
            pane_id.to_owned(),
            Piped {
                spool,
                meta,
                size: pane.size,
                seen_open: time,
            },
        );
        Ok(())
    }
}

/// Copies a pane's names and places into an event.
pub fn set_meta(e: &mut Event, pane_id: &str, meta: &PaneMeta) {
    e.pane_id = Some(pane_id.to_owned());
    e.session = meta.session.clone();
    e.session_id = meta.session_id.clone();
    e.window = meta.window.clone();
    e.window_id = meta.window_id.clone();
    e.window_index = meta.window_index;
    e.pane_index = meta.pane_index;
}

fn meta_of(view: &ServerView, pane: &Pane) -> PaneMeta {
    PaneMeta {
        session: view.sessions.get(&pane.session_id).map(|s| s.name.clone()),
        session_id: Some(pane.session_id.clone()),
        window: view.windows.get(&pane.window_id).map(|w| w.name.clone()),
        window_id: Some(pane.window_id.clone()),
        window_index: pane.window_index,
        pane_index: pane.pane_index,
    }
}

impl Piping<'_> {
    /// The server's spool folder, owner-only, inside a spool folder others may pass through
    /// but not list (0711: a root daemon's users reach their own folder, and only it). Made
    /// once: the `server` file is written while the folder is still ours, then the folder is
    /// handed to the server's owner, whose copiers write in it. Nothing is written in it again
    /// as root — its owner could have put a link there.
    fn spool_folder(&self) -> std::io::Result<()> {
        use std::os::unix::fs::DirBuilderExt;
        if let Some(top) = self.folder.parent() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o711)
                .create(top)?;
        }
        match std::fs::DirBuilder::new().mode(0o700).create(&self.folder) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                // Made by an earlier look or daemon: it must be a real folder of the owner's.
                use std::os::unix::fs::MetadataExt;
                let meta = std::fs::symlink_metadata(&self.folder)?;
                // SAFETY: geteuid cannot fail and touches no memory.
                let owner = self
                    .run_as
                    .map_or_else(|| unsafe { libc::geteuid() }, |o| o.uid);
                if !meta.is_dir() || meta.uid() != owner {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::PermissionDenied,
                        "the spool folder is not a folder of the server's owner",
                    ));
                }
                return Ok(());
            }
            Err(e) => return Err(e),
        }
        // Names the server, for spools a killed daemon leaves behind.
        std::fs::write(self.folder.join("server"), &self.server)?;
        match self.run_as {
            Some(owner) => owner.hand_over(&self.folder),
            None => Ok(()),
        }
    }
}

/// The shell command tmux runs for the pipe: `exec` so no shell stays behind.
fn pipe_command(exe: &Path, spool: &Path) -> String {
    format!(
        "exec {} pane-pipe --spool {}",
        sh_quote(&exe.to_string_lossy()),
        sh_quote(&spool.to_string_lossy())
    )
}

/// Quotes for `sh -c`: single quotes, each `'` written as `'\''`.
fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// Quotes one argument for a tmux command line. tmux parses double quotes (expanding `\`, `$`
/// and `~`), and `pipe-pane` expands formats (`#`) in its command: all are escaped.
pub fn tmux_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' | '"' | '$' => {
                out.push('\\');
                out.push(c);
            }
            '#' => out.push_str("##"),
            '\n' => out.push_str("\\n"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Bytes that draw a `capture-pane -e` screen and put the cursor where it was.
fn picture(lines: &[Vec<u8>], cursor: Option<&[u8]>) -> Vec<u8> {
    let mut out = b"\x1b[0m\x1b[H\x1b[2J".to_vec();
    for (i, line) in lines.iter().enumerate() {
        if i > 0 {
            out.extend_from_slice(b"\x1b[0m\r\n");
        }
        out.extend_from_slice(line);
    }
    out.extend_from_slice(b"\x1b[0m");
    let text = cursor.map(String::from_utf8_lossy).unwrap_or_default();
    let mut parts = text.split(' ').map(|p| p.parse::<u32>().ok());
    if let (Some(Some(x)), Some(Some(y))) = (parts.next(), parts.next()) {
        out.extend_from_slice(format!("\x1b[{};{}H", y + 1, x + 1).as_bytes());
    }
    if parts.next() == Some(Some(0)) {
        out.extend_from_slice(b"\x1b[?25l");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_command_survives_hostile_paths() {
        let cmd = pipe_command(
            Path::new("/opt/it's $HOME/#{pane_id}/tmux-audit"),
            Path::new("/data/a \"b\"\\c/1-2.tas"),
        );
        assert_eq!(
            cmd,
            r#"exec '/opt/it'\''s $HOME/#{pane_id}/tmux-audit' pane-pipe --spool '/data/a "b"\c/1-2.tas'"#
        );
        assert_eq!(
            tmux_quote(&cmd),
            r#""exec '/opt/it'\\''s \$HOME/##{pane_id}/tmux-audit' pane-pipe --spool '/data/a \"b\"\\c/1-2.tas'""#
        );
    }

    #[test]
    fn picture_draws_lines_and_places_the_cursor() {
        let p = picture(
            &[b"\x1b[31mred\x1b[39m".to_vec(), b"two".to_vec()],
            Some(b"4 1 1"),
        );
        assert_eq!(
            p,
            b"\x1b[0m\x1b[H\x1b[2J\x1b[31mred\x1b[39m\x1b[0m\r\ntwo\x1b[0m\x1b[2;5H".to_vec()
        );
        let hidden = picture(&[], Some(b"0 0 0"));
        assert!(hidden.ends_with(b"\x1b[?25l"));
    }
}
