//! `replay --follow` and `export --follow`: a pane as it happens, from its current screen.
//!
//! The daemon is first asked to commit what the pane printed so far (and to record the
//! access); the current screen is drawn from the store's last chunk, then what the pane's
//! copier appends to its spool is read every 100 ms ([`crate::live`]) and drawn (replay) or
//! written as asciicast events (export). Nothing is asked of tmux and nothing is sent to the
//! pane. What is shown after the start is not yet committed to the chain: the status line
//! (replay) or stderr (export) says so. A resize of the pane while following is not seen (the
//! spool holds output only); the picture keeps the size it started with.

use super::replay::{stop_flag, Input, Screen};
use crate::common::Global;
use crate::target::Target;
use anyhow::{bail, Context, Result};
use audit_capture::spool::Record;
use audit_core::Timestamp;
use audit_screen::asciicast::{Encoder, Version};
use audit_screen::paint::Painter;
use audit_screen::{Playback, Step, Terminal};
use audit_state::StateDir;
use audit_views::live::Follower;
use audit_views::recording::Recording;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How often the spools are read.
const LOOK: Duration = Duration::from_millis(100);

/// What following starts from: the pane's committed screen now, and its spools after it.
struct Start {
    rec: Recording,
    follower: Follower,
    /// When the committed part ends.
    committed: Timestamp,
}

fn start(
    global: &Global,
    target: &mut Target,
    view: &'static str,
) -> Result<(Start, Box<dyn audit_store::EventStore>)> {
    let host = global.open_host()?;
    let (store, location) = (host.store, host.location);
    crate::access::record(&location, target.access(view));
    target.follow_now();
    let rec = Recording::find(store.as_ref(), &target.query(global))?;
    let committed = rec.committed_until();
    let follower = Follower::new(
        &StateDir::of(&location),
        &rec.server,
        &rec.pane_id,
        committed.as_micros(),
    )?;
    Ok((
        Start {
            rec,
            follower,
            committed,
        },
        store,
    ))
}

/// `replay PANE --follow`.
pub fn replay(global: &Global, target: &mut Target, force: bool) -> Result<ExitCode> {
    let (mut s, store) = start(global, target, "replay-follow")?;
    let mut playback = Playback::new(
        s.rec
            .chunks(store.as_ref())
            .map(|c| c.map_err(anyhow::Error::from)),
        s.rec.window,
    );
    for step in playback.by_ref() {
        step?;
    }
    let term = playback
        .terminal_mut()
        .context("the pane's last chunk is empty")?;
    let stop = stop_flag()?;
    let note = format!(
        " live {}: output after {} not yet committed to the chain; q quits ",
        s.rec.pane_id,
        crate::render::time(s.committed)
    );
    if !std::io::stdout().is_terminal() {
        eprintln!("tmux-audit: note:{note}");
        let mut out = std::io::stdout().lock();
        let mut painter = Painter::new(u16::MAX, u16::MAX);
        out.write_all(&painter.full(term))?;
        out.flush()?;
        let mut input = Input { keys: false };
        while !stop.load(Ordering::Relaxed) {
            input.wait(Some(LOOK))?;
            if feed(term, s.follower.poll()?) {
                out.write_all(&painter.update(term))?;
                out.flush()?;
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (tw, th) = crate::render::terminal_size()
        .context("cannot read the terminal's size (is stdout a terminal?)")?;
    let (rw, rh) = term.size();
    if (rw > tw || rh > th) && !force {
        bail!(
            "pane {} is {rw}x{rh} but this terminal is {tw}x{th}: enlarge the terminal, or pass --force to see it cut off",
            s.rec.describe()
        );
    }
    let keys = std::io::stdin().is_terminal();
    let _screen = Screen::enter(keys)?;
    let mut out = std::io::stdout().lock();
    let mut painter = Painter::new(tw, th);
    let status = |out: &mut dyn Write| -> std::io::Result<()> {
        if th > rh {
            let text: String = note.chars().take(usize::from(tw)).collect();
            write!(out, "\x1b[{};1H\x1b[0m\x1b[7m{text}\x1b[0m", rh + 1)?;
        }
        Ok(())
    };
    out.write_all(&painter.full(term))?;
    status(&mut out)?;
    out.flush()?;
    let mut input = Input { keys };
    while !stop.load(Ordering::Relaxed) {
        let typed = input.wait(Some(LOOK))?;
        if typed.iter().any(|&b| b == b'q' || b == 3) {
            break;
        }
        if feed(term, s.follower.poll()?) {
            out.write_all(&painter.update(term))?;
            status(&mut out)?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Feeds new output to `term`; whether anything changed.
fn feed(term: &mut Terminal, records: Vec<Record>) -> bool {
    let mut changed = false;
    for r in records {
        if let Record::Output { bytes, .. } = r {
            term.feed(&bytes);
            changed = true;
        }
    }
    changed
}

/// `export PANE --follow`: asciicast, written and flushed event by event.
pub fn export(
    global: &Global,
    target: &mut Target,
    version: Version,
    out: &mut dyn Write,
) -> Result<()> {
    let (mut s, store) = start(global, target, "export-follow")?;
    eprintln!(
        "tmux-audit: note: following {} live until interrupted; output after {} is read from its spool and not yet committed to the chain",
        s.rec.describe(),
        crate::render::time(s.committed)
    );
    let stop = stop_flag()?;
    let mut encoder = Encoder::new(version).with_title(s.rec.describe());
    for step in Playback::new(
        s.rec
            .chunks(store.as_ref())
            .map(|c| c.map_err(anyhow::Error::from)),
        s.rec.window,
    ) {
        out.write_all(&encoder.step(&step?))?;
    }
    out.flush()?;
    let mut input = Input { keys: false };
    while !stop.load(Ordering::Relaxed) {
        input.wait(Some(LOOK))?;
        for r in s.follower.poll()? {
            if let Record::Output { time, bytes } = r {
                out.write_all(&encoder.step(&Step::Output { time, bytes }))?;
            }
        }
        out.flush()?;
    }
    out.write_all(&encoder.finish())?;
    out.flush()?;
    Ok(())
}
