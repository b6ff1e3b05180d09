//! `tmux-audit export`: one pane's recorded output as asciicast, text, or the exact bytes.

use crate::cmd::proof::{self, Hashing, Piece};
use crate::common::Global;
use crate::recording::{Recording, Target};
use crate::render;
use anyhow::{bail, Context, Result};
use audit_capture::chunk::{Chunk, Record};
use audit_core::Stored;
use audit_screen::asciicast::{Encoder, Version};
use audit_screen::{text, Playback};
use std::fs::OpenOptions;
use std::io::{BufWriter, IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::process::ExitCode;

/// Write a pane's recorded output: asciicast to play, rendered text, or the exact bytes
#[derive(clap::Args, Debug)]
#[command(after_help = "\
Formats:
  asciicast     asciicast v2, for asciinema play/cat (default)
  asciicast-v3  asciicast v3 (asciinema 3)
  txt           the text as it appeared: every line that left the screen, then the last screen
  raw           exactly the bytes the pane wrote, nothing added or changed

asciicast holds text: invalid UTF-8 is shown as U+FFFD there; raw is the exact record. With
--from, asciicast starts with the picture at that moment, raw with the first byte after it.
asciicast and raw drive a terminal, so they are never written to one: use -o FILE or a pipe.
Files are created readable by their owner only.

--proof FILE also writes a proof: the sealed records this piece was rendered from, so that
anyone holding the verification key can check the exported file alone, without the store:
`tmux-audit verify --export OUT --proof FILE --key KEY`. The proof ends with the first seal after
the piece; if that seal is not made yet, export waits for it while a daemon is recording (up to
two sealing intervals). It holds the metadata of every event recorded between the piece's first
chunk and that seal, and the piece's own output chunks (compressed).

--follow writes asciicast as the pane prints (its current screen first) until SIGINT or SIGTERM;
output after the start is not yet committed to the chain. Every export is recorded as an
audit-access event (the output file among its arguments).

Examples:
  tmux-audit export %3 -o incident.cast
  tmux-audit export %3 --follow -o live.cast
  tmux-audit export prod:1.0 --from 2026-11-28T14:05:00Z --to +10m -o part.cast
  tmux-audit export %3 --format txt | grep -n password
  tmux-audit export %3 --format raw -o pane.bin
  tmux-audit export %3 -o incident.cast --proof incident.proof")]
pub struct Args {
    #[command(flatten)]
    target: Target,
    /// Output format
    #[arg(long, value_enum, default_value = "asciicast")]
    format: Format,
    /// Write to FILE (`-` for stdout) rather than stdout
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    output: Option<PathBuf>,
    /// Also write a proof that lets the export be checked alone with the verification key
    #[arg(long, value_name = "FILE")]
    proof: Option<PathBuf>,
    /// Follow the pane live: asciicast from its current screen, then each output as it comes,
    /// until interrupted (SIGINT, SIGTERM); nothing is ever sent to the pane
    #[arg(long, conflicts_with_all = ["from", "to", "proof"])]
    follow: bool,
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Asciicast,
    AsciicastV3,
    Txt,
    Raw,
}

pub fn run(global: &Global, mut args: Args) -> Result<ExitCode> {
    let to_stdout = args.output.as_ref().is_none_or(|p| p.as_os_str() == "-");
    let tty = to_stdout && std::io::stdout().is_terminal();
    if tty && args.format != Format::Txt {
        bail!("refusing to write {} output to a terminal: recorded bytes would drive it; write to a file with -o FILE, or pipe it", name(args.format));
    }
    if tty && args.proof.is_some() {
        bail!("--proof proves a file: write the export with -o FILE (or pipe it)");
    }
    if args.follow {
        let version = match args.format {
            Format::Asciicast => Version::V2,
            Format::AsciicastV3 => Version::V3,
            other => bail!(
                "--follow writes asciicast (not {}): use --format asciicast or asciicast-v3",
                name(other)
            ),
        };
        let mut out = BufWriter::new(open_output(&args, to_stdout)?);
        super::follow::export(global, &mut args.target, version, &mut out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let store = global.open_read()?;
    crate::access::record(&global.location()?, args.target.access("export"));
    let rec = Recording::find(global, store.as_ref(), &args.target)?;
    let sink = open_output(&args, to_stdout)?;
    let mut out = Hashing::new(BufWriter::new(sink));
    let load = |s: &Stored| crate::recording::load(store.as_ref(), s);
    let written = render(&rec, &load, args.format, tty, &mut out);
    let flushed = written.and_then(|()| out.flush().map_err(Into::into));
    let digest = out.digest();
    let out = out.into_inner();
    let flushed = flushed.and_then(|()| match &args.proof {
        Some(path) => {
            let piece = Piece::Pane {
                format: name(args.format).into(),
                server: rec.server.clone(),
                pane: rec.pane_id.clone(),
                chunks: rec.needed().iter().map(|s| s.seq).collect(),
                from: rec.window.from,
                to: rec.window.to,
            };
            proof::write(global, store.as_ref(), piece, digest, path)
        }
        None => Ok(()),
    });
    match (&args.output, flushed) {
        (Some(path), Err(e)) if !to_stdout => {
            // No partial export is left looking like a whole one.
            drop(out);
            let _ = std::fs::remove_file(path);
            Err(e.context(format!("cannot export to {}", path.display())))
        }
        (_, r) => r.map(|()| ExitCode::SUCCESS),
    }
}

/// Where the export goes: the file (created owner-only) or stdout.
fn open_output(args: &Args, to_stdout: bool) -> Result<Box<dyn Write>> {
    Ok(match &args.output {
        Some(path) if !to_stdout => Box::new(
            OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        ),
        _ => Box::new(std::io::stdout().lock()),
    })
}

fn name(format: Format) -> &'static str {
    match format {
        Format::Asciicast => "asciicast",
        Format::AsciicastV3 => "asciicast-v3",
        Format::Txt => "txt",
        Format::Raw => "raw",
    }
}

impl Format {
    /// The format `name` calls so (as a proof records it).
    pub fn from_name(name: &str) -> Option<Format> {
        [
            Format::Asciicast,
            Format::AsciicastV3,
            Format::Txt,
            Format::Raw,
        ]
        .into_iter()
        .find(|f| self::name(*f) == name)
    }
}

/// Writes `rec` in `format`, its chunks got from `load` (the store, or a proof).
pub fn render(
    rec: &Recording,
    load: &dyn Fn(&Stored) -> Result<Chunk>,
    format: Format,
    tty: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let window = rec.window;
    match format {
        Format::Raw => {
            for chunk in rec.chunks_with(load) {
                for record in chunk?.records {
                    let time = record.time();
                    if window.from.is_some_and(|f| time < f) {
                        continue;
                    }
                    if window.to.is_some_and(|t| time > t) {
                        return Ok(());
                    }
                    if let Record::Output { bytes, .. } = record {
                        out.write_all(&bytes)?;
                    }
                }
            }
        }
        Format::Txt => {
            for line in text::lines(rec.chunks_with(load), window)? {
                if tty {
                    writeln!(out, "{}", render::escape(&line))?;
                } else {
                    writeln!(out, "{line}")?;
                }
            }
        }
        Format::Asciicast | Format::AsciicastV3 => {
            let version = match format {
                Format::AsciicastV3 => Version::V3,
                _ => Version::V2,
            };
            let mut encoder = Encoder::new(version).with_title(rec.describe());
            for step in Playback::new(rec.chunks_with(load), window) {
                out.write_all(&encoder.step(&step?))?;
            }
            out.write_all(&encoder.finish())?;
        }
    }
    Ok(())
}
