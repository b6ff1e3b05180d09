//! `tmux-audit export`: one pane's recorded output as asciicast, text, or the exact bytes.

use crate::cmd::proof::{self, Hashing, Piece};
use crate::common::Global;
use crate::target::Target;
use anyhow::{bail, Context, Result};
use audit_capture::chunk::Chunk;
use audit_core::Stored;
use audit_screen::asciicast::Version;
use audit_views::encode::{encode, Format};
use audit_views::recording::{load, Recording, RecordingError};
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
    format: FormatArg,
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

/// `--format`: the views' export formats, by their names.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatArg {
    Asciicast,
    AsciicastV3,
    Txt,
    Raw,
}

impl From<FormatArg> for Format {
    fn from(f: FormatArg) -> Format {
        match f {
            FormatArg::Asciicast => Format::Asciicast,
            FormatArg::AsciicastV3 => Format::AsciicastV3,
            FormatArg::Txt => Format::Txt,
            FormatArg::Raw => Format::Raw,
        }
    }
}

pub fn run(global: &Global, mut args: Args) -> Result<ExitCode> {
    let format = Format::from(args.format);
    let to_stdout = args.output.as_ref().is_none_or(|p| p.as_os_str() == "-");
    let tty = to_stdout && std::io::stdout().is_terminal();
    if tty && format != Format::Txt {
        bail!("refusing to write {} output to a terminal: recorded bytes would drive it; write to a file with -o FILE, or pipe it", format.name());
    }
    if tty && args.proof.is_some() {
        bail!("--proof proves a file: write the export with -o FILE (or pipe it)");
    }
    if args.follow {
        let version = match format {
            Format::Asciicast => Version::V2,
            Format::AsciicastV3 => Version::V3,
            other => bail!(
                "--follow writes asciicast (not {}): use --format asciicast or asciicast-v3",
                other.name()
            ),
        };
        let mut out = BufWriter::new(open_output(&args, to_stdout)?);
        super::follow::export(global, &mut args.target, version, &mut out)?;
        return Ok(ExitCode::SUCCESS);
    }
    let host = global.open_host()?;
    let store = host.store;
    crate::access::record(&host.location, args.target.access("export"));
    let rec = Recording::find(store.as_ref(), &args.target.query(global))?;
    let sink = open_output(&args, to_stdout)?;
    let mut out = Hashing::new(BufWriter::new(sink));
    let load = |s: &Stored| load(store.as_ref(), s);
    let written = render(&rec, &load, format, tty, &mut out);
    let flushed = written.and_then(|()| out.flush().map_err(Into::into));
    let digest = out.digest();
    let out = out.into_inner();
    let flushed = flushed.and_then(|()| match &args.proof {
        Some(path) => {
            let piece = Piece::pane(&rec, format);
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

/// Writes `rec` in `format`, its chunks got from `load` (the store, or a proof); with `tty`
/// text is escaped.
pub fn render(
    rec: &Recording,
    load: &dyn Fn(&Stored) -> Result<Chunk, RecordingError>,
    format: Format,
    tty: bool,
    out: &mut dyn Write,
) -> Result<()> {
    let mut encoder = format.encoder(rec.describe(), tty);
    encode(rec, load, encoder.as_mut(), &mut |bytes| {
        out.write_all(bytes)
    })?;
    Ok(())
}
