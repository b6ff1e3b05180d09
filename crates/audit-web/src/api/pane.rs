//! A pane's recording: `GET /api/pane` (what the player needs: times, size, marks),
//! `GET /api/cast` (a piece of it as asciicast, drawn from the screen at its start, so a seek
//! never sends the whole recording) and `GET /api/export` (a whole file, or its proof).

use super::Ctx;
use crate::http::{self, ApiError, Body};
use crate::state::lock;
use audit_core::{Stored, Timestamp};
use audit_state::StateDir;
use audit_views::encode::{self, Format};
use audit_views::overview;
use audit_views::proof::{self, Hashing, Piece};
use audit_views::recording::{self, PaneName, PaneQuery, Recording, RecordingError, TimeRef};
use hyper::Response;
use std::io::Write;

/// A piece of the player's lasts this long unless asked otherwise.
const PIECE_SECS: f64 = 600.0;

/// `GET /api/pane?host=&server=&pane=&at=`.
pub(crate) fn overview(ctx: &Ctx) -> Result<Response<Body>, ApiError> {
    let (server, pane) = named(ctx)?;
    let at = ctx.query.time("at")?;
    let host = ctx.host()?;
    ctx.record(
        "replay",
        Some(format!("{pane} on {server}")),
        Some(pane.clone()),
    )?;
    let host = lock(&host);
    ctx.commit_first(&host, "replay", Some(pane.clone()));
    let found =
        overview::pane(host.store.store.as_ref(), &server, &pane, at).map_err(recording_error)?;
    Ok(http::ok(&super::with_host(
        &found,
        host.store.host.as_deref(),
    )))
}

/// `GET /api/cast?host=&server=&pane=&at=T&from=SECS&to=SECS`: asciicast v2, its times relative
/// to `from`.
pub(crate) fn cast(ctx: &Ctx) -> Result<Response<Body>, ApiError> {
    let (server, pane) = named(ctx)?;
    let seconds = |name| {
        ctx.query.parsed(name, |v| match v.parse::<f64>() {
            Ok(s) if s.is_finite() && s >= 0.0 => Ok(s),
            _ => Err("give seconds from the recording's start"),
        })
    };
    let from = seconds("from")?.unwrap_or(0.0);
    let to = seconds("to")?.unwrap_or(from + PIECE_SECS).max(from);
    let at = ctx.query.time("at")?;
    let micros = |s: f64| (s * 1e6) as i64;
    let host = ctx.host()?;
    ctx.record(
        "replay",
        Some(format!("{pane} on {server} from {from:.1} s to {to:.1} s")),
        Some(pane.clone()),
    )?;
    let host = lock(&host);
    let store = host.store.store.as_ref();
    let query = |from, to| PaneQuery {
        pane: PaneName::Id(pane.clone()),
        socket: Some(server.clone()),
        server: None,
        from: Some(from),
        to: Some(to),
    };
    // Offsets count from the start of the recording holding `at` (the player passes the start
    // /api/pane gave it, so every piece is of that recording), else of the latest.
    let rec = match at {
        Some(at) => {
            let holding = Recording::find(store, &query(TimeRef::At(at), TimeRef::At(at)))
                .map_err(recording_error)?;
            let first = &holding
                .events
                .first()
                .expect("a recording has events")
                .event;
            let start = first.from.unwrap_or(first.time).as_micros();
            let at = |secs| TimeRef::At(Timestamp(start.saturating_add(micros(secs))));
            Recording::find(store, &query(at(from), at(to)))
        }
        None => Recording::find(
            store,
            &query(TimeRef::Offset(micros(from)), TimeRef::Offset(micros(to))),
        ),
    }
    .map_err(recording_error)?;
    let mut out = Vec::new();
    render(&rec, store, Format::Asciicast, &mut out)?;
    Ok(http::with_type(
        hyper::StatusCode::OK,
        "text/plain; charset=utf-8",
        out,
    ))
}

/// `GET /api/export?host=&server=&pane=&format=&from=T&to=T&proof=0|1`.
pub(crate) fn export(ctx: &Ctx) -> Result<Response<Body>, ApiError> {
    let (server, pane) = named(ctx)?;
    let format = ctx
        .query
        .parsed("format", |v| {
            Format::from_name(v).ok_or("one of asciicast, asciicast-v3, txt, raw")
        })?
        .unwrap_or(Format::Asciicast);
    let from = ctx.query.time("from")?;
    let to = ctx.query.time("to")?;
    let with_proof = ctx.query.flag("proof")?;
    let host = ctx.host()?;
    ctx.record(
        "export",
        Some(format!(
            "{pane} on {server} as {}{}",
            format.name(),
            if with_proof { " (proof)" } else { "" }
        )),
        Some(pane.clone()),
    )?;
    let host = lock(&host);
    let store = host.store.store.as_ref();
    let rec = Recording::find(
        store,
        &PaneQuery {
            pane: PaneName::Id(pane.clone()),
            socket: Some(server),
            server: None,
            from: from.map(TimeRef::At),
            to: to.map(TimeRef::At),
        },
    )
    .map_err(recording_error)?;
    let mut out = Hashing::new(Vec::new());
    render(&rec, store, format, &mut out)?;
    let name = format!(
        "pane-{}.{}",
        pane.trim_start_matches('%'),
        match format {
            Format::Asciicast | Format::AsciicastV3 => "cast",
            Format::Txt => "txt",
            Format::Raw => "raw",
        }
    );
    if !with_proof {
        let content_type = match format {
            Format::Txt => "text/plain; charset=utf-8",
            _ => "application/octet-stream",
        };
        return Ok(http::download(content_type, &name, out.into_inner()));
    }
    let piece = Piece::pane(&rec, format);
    let mut doc = Vec::new();
    let state = StateDir::of(&host.store.location);
    proof::write(store, &state, piece, out.digest(), &mut doc)
        .map_err(|e| ApiError::Unavailable(format!("cannot write the proof: {e}")))?;
    Ok(http::download(
        "application/json",
        &format!("{name}.proof.json"),
        doc,
    ))
}

/// The request's `server` and `pane` (`%N`).
fn named(ctx: &Ctx) -> Result<(String, String), ApiError> {
    let server = ctx.query.required("server")?;
    let pane = ctx.query.required("pane")?;
    let digits = pane.strip_prefix('%').unwrap_or("");
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::BadRequest(
            "pane: give a pane id such as %3".into(),
        ));
    }
    Ok((server, pane))
}

/// Plays `rec` from the store into `out` as `format`.
fn render(
    rec: &Recording,
    store: &dyn audit_store::EventStore,
    format: Format,
    out: &mut dyn Write,
) -> Result<(), ApiError> {
    let load = |s: &Stored| recording::load(store, s);
    let mut encoder = format.encoder(rec.describe(), false);
    encode::encode(rec, &load, encoder.as_mut(), &mut |bytes| {
        out.write_all(bytes)
    })
    .map_err(|e| ApiError::Internal(format!("cannot play the recording: {e}")))
}

/// A recording's error as an answer: what was not found is 404, what is wrong with the store
/// (a chunk altered, missing) is told as it is.
pub(crate) fn recording_error(e: RecordingError) -> ApiError {
    match e {
        RecordingError::NoPane { .. }
        | RecordingError::NoPaneAt { .. }
        | RecordingError::OutsideWindow { .. } => ApiError::NotFound(e.to_string()),
        RecordingError::SeveralServers { .. } | RecordingError::Backwards { .. } => {
            ApiError::BadRequest(e.to_string())
        }
        e => ApiError::Internal(e.to_string()),
    }
}
