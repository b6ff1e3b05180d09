//! `tmux-audit replay`: plays one pane's recorded output on the auditor's terminal.
//!
//! What reaches the terminal is painted from a virtual terminal (`audit_screen::paint`), never
//! the recorded bytes: recorded output can write the clipboard, retitle the window or make the
//! terminal answer into our input. On a terminal, replay runs in real time on the alternate
//! screen with keys; the terminal's mode and screen are restored on every way out (end, `q`,
//! error, panic, SIGTERM/SIGHUP/SIGINT/SIGQUIT). To a pipe or file it writes the same frames at
//! once, without waiting or reading keys.

use crate::common::Global;
use crate::target::Target;
use anyhow::{bail, Context, Result};
use audit_screen::paint::Painter;
use audit_screen::replay::{Key, Options, Player};
use audit_screen::{Playback, Step, Terminal};
use audit_views::recording::Recording;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::termios::{self, SetArg, Termios};
use std::io::{IsTerminal, Write};
use std::os::fd::AsFd;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Play a pane's recorded output (space pause, . step, + faster, - slower, q quit)
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Keys: space pauses and resumes, . shows one frame while paused, + doubles the speed, - halves
it, q (or Ctrl-C) quits. At the end the last picture stays until a key is pressed.

--from and --to take a time (2026-11-28T14:05:00Z, 2026-11-28 14:05, 2h) or an offset from the
start of the pane's recording (+90s, +5m, +1h30m). Replay starts with the picture at --from,
drawn from the nearest stored snapshot: it never plays the recording from its beginning.

The terminal must be at least as large as the recording (--force shows it cut off). Only what
the recorded screen showed is drawn; recorded escape sequences never reach the terminal. When
stdout is not a terminal, the frames are written at once, with no waiting and no keys.

--follow shows the pane as it happens: its current screen (the daemon commits what it printed
so far), then each output as its copier spools it, with a status line saying that what is shown
is not yet committed to the chain; q quits. Nothing is ever sent to the pane. Reading the spool
needs the rights of the tmux server's owner (or root).

Every replay is recorded as an audit-access event (by the daemon, or by replay itself when no
daemon answers and it can write the store; stderr says when it could not be recorded).

Examples:
  tmux-audit replay %3
  tmux-audit replay %3 --follow
  tmux-audit replay prod:1.0 --from 2026-11-28T14:05:00Z --speed 4 --idle-limit 2
  tmux-audit replay %3 --from +5m --to +10m")]
pub struct Args {
    #[command(flatten)]
    target: Target,
    /// Playback speed (2 is twice as fast)
    #[arg(long, default_value = "1", value_parser = positive, value_name = "X")]
    speed: f64,
    /// Shorten pauses longer than SECS to SECS
    #[arg(long, value_parser = non_negative, value_name = "SECS")]
    idle_limit: Option<f64>,
    /// Play even when the terminal is smaller than the recording (the picture is cut off)
    #[arg(long)]
    force: bool,
    /// Follow the pane live: its current screen, then its output as it comes (q quits);
    /// nothing is ever sent to the pane
    #[arg(long, conflicts_with_all = ["from", "to", "speed", "idle_limit"])]
    follow: bool,
}

fn positive(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() && x > 0.0 => Ok(x),
        _ => Err(format!("{text:?} is not a positive number")),
    }
}

fn non_negative(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(x) if x.is_finite() && x >= 0.0 => Ok(x),
        _ => Err(format!("{text:?} is not a number of seconds")),
    }
}

pub fn run(global: &Global, mut args: Args) -> Result<ExitCode> {
    if args.follow {
        return super::follow::replay(global, &mut args.target, args.force);
    }
    let host = global.open_host()?;
    let store = host.store;
    crate::access::record(&host.location, args.target.access("replay"));
    let rec = Recording::find(store.as_ref(), &args.target.query(global))?;
    let chunks = rec
        .chunks(store.as_ref())
        .map(|c| c.map_err(anyhow::Error::from));
    let playback = Playback::new(chunks, rec.window);
    if !std::io::stdout().is_terminal() {
        return to_pipe(playback);
    }
    let options = Options {
        speed: args.speed,
        idle_limit: args.idle_limit.map(Duration::from_secs_f64),
    };
    let (tw, th) = terminal_size()?;
    let (rw, rh) = rec.largest_size();
    if (rw > tw || rh > th) && !args.force {
        bail!(
            "the recording of {} is {rw}x{rh} but this terminal is {tw}x{th}: enlarge the terminal, or pass --force to see it cut off",
            rec.describe()
        );
    }
    on_terminal(playback, options, (tw, th), rh)
}

/// Frames without delay or keys.
fn to_pipe<I>(mut playback: Playback<I>) -> Result<ExitCode>
where
    I: Iterator<Item = Result<audit_capture::chunk::Chunk>>,
{
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut painter = Painter::new(u16::MAX, u16::MAX);
    while let Some(step) = playback.next() {
        let step = step?;
        let term = playback.terminal().expect("a step was played");
        out.write_all(&frame(&mut painter, &step, term))?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

fn frame(painter: &mut Painter, step: &Step, term: &Terminal) -> Vec<u8> {
    match step {
        Step::Snapshot { .. } => painter.full(term),
        _ => painter.update(term),
    }
}

fn on_terminal<I>(
    mut playback: Playback<I>,
    options: Options,
    viewport: (u16, u16),
    height: u16,
) -> Result<ExitCode>
where
    I: Iterator<Item = Result<audit_capture::chunk::Chunk>>,
{
    let stop = stop_flag()?;
    let winch = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(signal_hook::consts::SIGWINCH, Arc::clone(&winch))
        .context("cannot handle signals")?;

    let keys = std::io::stdin().is_terminal();
    let _screen = Screen::enter(keys)?;
    let mut out = std::io::stdout().lock();
    let mut painter = Painter::new(viewport.0, viewport.1);
    let mut player = Player::new(options);
    let mut input = Input { keys };

    while let Some(step) = playback.next() {
        let step = step?;
        player.next_frame(step.time());
        loop {
            if stop.load(Ordering::Relaxed) {
                player.key(Key::Quit);
            }
            if player.quit() {
                return Ok(ExitCode::SUCCESS);
            }
            match player.wait() {
                Some(wait) if wait.is_zero() => break,
                wait => {
                    let started = Instant::now();
                    let typed = input.wait(wait)?;
                    player.waited(started.elapsed());
                    for key in typed.into_iter().filter_map(Key::from_byte) {
                        player.key(key);
                    }
                }
            }
            if winch.swap(false, Ordering::Relaxed) {
                // Repaint for the new size (what is on screen now, before the next frame).
                if let (Some(term), Ok((w, h))) = (playback.terminal(), terminal_size()) {
                    painter = Painter::new(w, h);
                    out.write_all(&painter.full(term))?;
                    out.flush()?;
                }
            }
        }
        let term = playback.terminal().expect("a step was played");
        out.write_all(&frame(&mut painter, &step, term))?;
        out.flush()?;
        player.shown();
    }

    if keys {
        if viewport.1 > height {
            write!(
                out,
                "\x1b[{};1H\x1b[0m\x1b[7m end of recording: press any key \x1b[0m",
                height + 1
            )?;
            out.flush()?;
        }
        while !stop.load(Ordering::Relaxed) && input.wait(None)?.is_empty() {}
    }
    Ok(ExitCode::SUCCESS)
}

/// A flag set by SIGTERM, SIGHUP, SIGINT or SIGQUIT: the view should end (and restore the
/// terminal).
pub(super) fn stop_flag() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [
        signal_hook::consts::SIGTERM,
        signal_hook::consts::SIGHUP,
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGQUIT,
    ] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).context("cannot handle signals")?;
    }
    Ok(stop)
}

/// The size of the terminal on stdout.
fn terminal_size() -> Result<(u16, u16)> {
    crate::render::terminal_size()
        .context("cannot read the terminal's size (is stdout a terminal?)")
}

/// Keys typed on stdin (when it is a terminal).
pub(super) struct Input {
    pub(super) keys: bool,
}

impl Input {
    /// Waits up to `timeout` (forever when `None`) for typed bytes; returns early, with none,
    /// when a signal arrives. Waits at most 250 ms at a time so a signal is never missed long.
    pub(super) fn wait(&mut self, timeout: Option<Duration>) -> Result<Vec<u8>> {
        let slice = Duration::from_millis(250);
        let wait = timeout.map_or(slice, |t| t.min(slice));
        // Round up, so a wait of 0.4 ms is not a busy loop of zero-length polls.
        let ms = i32::try_from(wait.as_micros().div_ceil(1000)).unwrap_or(i32::MAX);
        let timeout = PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX);
        if !self.keys {
            match poll(&mut [], timeout) {
                Ok(_) | Err(nix::errno::Errno::EINTR) => return Ok(Vec::new()),
                Err(e) => return Err(e).context("cannot wait"),
            }
        }
        let stdin = std::io::stdin();
        let mut fds = [PollFd::new(stdin.as_fd(), PollFlags::POLLIN)];
        match poll(&mut fds, timeout) {
            Ok(0) | Err(nix::errno::Errno::EINTR) => return Ok(Vec::new()),
            Ok(_) => {}
            Err(e) => return Err(e).context("cannot read keys"),
        }
        let mut buf = [0u8; 64];
        // SAFETY: reads at most buf.len() bytes into a valid buffer from an open fd.
        let n = unsafe { libc::read(libc::STDIN_FILENO, buf.as_mut_ptr().cast(), buf.len()) };
        match n {
            n if n > 0 => Ok(buf[..n as usize].to_vec()),
            // End of input (terminal hung up) counts as quitting.
            0 => Ok(vec![b'q']),
            _ => {
                let e = std::io::Error::last_os_error();
                if e.kind() == std::io::ErrorKind::Interrupted {
                    Ok(Vec::new())
                } else {
                    Err(e).context("cannot read keys")
                }
            }
        }
    }
}

/// The terminal mode to put back, once, however replay ends.
static SAVED: Mutex<Option<Option<Termios>>> = Mutex::new(None);

/// The auditor's terminal while replay runs: raw mode (when keys are read), the alternate
/// screen. Dropping it, or a panic, puts everything back.
pub(super) struct Screen;

impl Screen {
    pub(super) fn enter(keys: bool) -> Result<Screen> {
        let saved = if keys {
            let stdin = std::io::stdin();
            let saved = termios::tcgetattr(stdin.as_fd()).context("cannot read terminal mode")?;
            let mut raw = saved.clone();
            termios::cfmakeraw(&mut raw);
            termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw)
                .context("cannot put the terminal in raw mode")?;
            Some(saved)
        } else {
            None
        };
        *SAVED.lock().unwrap_or_else(|e| e.into_inner()) = Some(saved);
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            restore();
            previous(info);
        }));
        let mut out = std::io::stdout().lock();
        out.write_all(b"\x1b[?1049h\x1b[0m\x1b[H\x1b[2J")?;
        out.flush()?;
        Ok(Screen)
    }
}

impl Drop for Screen {
    fn drop(&mut self) {
        restore();
    }
}

/// Leaves the alternate screen, shows the cursor and restores the terminal mode (once).
fn restore() {
    let Some(saved) = SAVED.lock().unwrap_or_else(|e| e.into_inner()).take() else {
        return;
    };
    let mut out = std::io::stdout();
    let _ = out.write_all(b"\x1b[0m\x1b[?25h\x1b[?1049l");
    let _ = out.flush();
    if let Some(mode) = saved {
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSANOW, &mode);
    }
}
