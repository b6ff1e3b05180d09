//! `fleet-load`: the load generators of `bench/run-fleet` (method: `bench/fleet.py`).
//!
//! * `fleet-load ingest --collector ADDR --tokens FILE [--events-per-host N] [--output-share F]
//!   [--chunk-kib K]` — one thread per enrolled host (FILE: `NAME TOKEN` lines), each shipping a
//!   valid chain of realistic records in batches (as the daemon's sink batches: at most 2000
//!   records or 2 MiB) with `POST /v1/records` over one keep-alive connection. Every record is
//!   made before the clock starts; the clock runs from the first POST to the last
//!   acknowledgement. Prints one JSON object.
//! * `fleet-load generate --db URL [--events N] [--days D] [--output-mib M] [--rare WORD]
//!   [--rare-chunks K] [--presence-share P] [--session-share S]` — a central store of N events
//!   over the enrolled hosts and the last D days, written with binary `COPY` (`events`,
//!   `chunks`) and text `COPY` (`chunk_text`), with M MiB of pane output in real chunks, WORD in
//!   K of them; P (0.015) of the records are attaches and detaches, S (0.001) sessions created
//!   and closed (0.02 of 1M records: about 10,000 sessions). Prints one JSON object.
//! * `fleet-load watch --db URL --host NAME` — polls every 2 ms for the host's new
//!   `client-attached` records; prints `SEEN_UNIX_US SEQ CLIENT_PID` per record.

mod fake;

use anyhow::{bail, Context, Result};
use fake::{chunk_of_text, tokens, HostChain, Rng, Vocabulary, What};
use postgres::binary_copy::BinaryCopyInWriter;
use postgres::types::Type;
use postgres::{Client, NoTls};
use serde_json::json;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some((command, rest)) = args.split_first() else {
        bail!("usage: fleet-load ingest|generate|watch [--OPTION VALUE]...");
    };
    let opts = Opts::parse(rest)?;
    match command.as_str() {
        "ingest" => ingest(&opts),
        "generate" => generate(&opts),
        "watch" => watch(&opts),
        other => bail!("unknown command {other:?}"),
    }
}

struct Opts(HashMap<String, String>);

impl Opts {
    fn parse(args: &[String]) -> Result<Opts> {
        let mut map = HashMap::new();
        let mut it = args.iter();
        while let Some(key) = it.next() {
            let Some(name) = key.strip_prefix("--") else {
                bail!("expected --OPTION, got {key:?}");
            };
            let value = it
                .next()
                .with_context(|| format!("--{name} needs a value"))?;
            map.insert(name.to_owned(), value.clone());
        }
        Ok(Opts(map))
    }

    fn str(&self, name: &str) -> Result<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .with_context(|| format!("--{name} is required"))
    }

    fn num<T: std::str::FromStr>(&self, name: &str, default: T) -> Result<T> {
        match self.0.get(name) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| anyhow::anyhow!("--{name}: not a number: {v:?}")),
        }
    }
}

fn now_us() -> i64 {
    audit_core::Timestamp::now().as_micros()
}

/// One host's prepared batches (request bodies) and what they hold.
struct Prepared {
    name: String,
    token: String,
    bodies: Vec<Vec<u8>>,
    events: u64,
    chunks: u64,
    output_bytes: u64,
    chunk_bytes: u64,
}

fn prepare_host(
    name: &str,
    token: &str,
    seed: u64,
    events: u64,
    output_share: f64,
    pool: &[(Vec<u8>, u64)],
) -> Prepared {
    let mut host = HostChain::new(name, seed);
    let mut p = Prepared {
        name: name.to_owned(),
        token: token.to_owned(),
        bodies: Vec::new(),
        events,
        chunks: 0,
        output_bytes: 0,
        chunk_bytes: 0,
    };
    let mut batch = Vec::new();
    let mut size = 0;
    let start = now_us() - events as i64 * 1_000;
    for i in 0..events {
        let what = What::draw(&mut host.rng, output_share, 0.04, 0.002);
        let time = start + i as i64 * 1_000;
        let (event, chunk) = if what == What::Output {
            let (stored, bytes) = &pool[host.rng.below(pool.len() as u64) as usize];
            p.chunks += 1;
            p.output_bytes += bytes;
            p.chunk_bytes += stored.len() as u64;
            (
                host.event(what, time, Some((stored, *bytes))),
                Some(stored.clone()),
            )
        } else {
            (host.event(what, time, None), None)
        };
        let record = host.link(&event, chunk);
        size += audit_ship::encoded_len(&record);
        batch.push(record);
        if batch.len() >= 2000 || size >= 2 << 20 {
            p.bodies.push(audit_ship::encode(&batch));
            batch.clear();
            size = 0;
        }
    }
    if !batch.is_empty() {
        p.bodies.push(audit_ship::encode(&batch));
    }
    p
}

/// A minimal HTTP/1.1 client on one keep-alive connection.
struct Http {
    stream: BufReader<TcpStream>,
    addr: String,
}

impl Http {
    fn connect(addr: &str) -> Result<Http> {
        let stream = TcpStream::connect(addr).with_context(|| format!("connect {addr}"))?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        Ok(Http {
            stream: BufReader::new(stream),
            addr: addr.to_owned(),
        })
    }

    /// POSTs `body`; the status and the answer's body.
    fn post(&mut self, token: &str, body: &[u8]) -> Result<(u16, String)> {
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n",
            audit_ship::PATH_RECORDS,
            self.addr,
            audit_ship::CONTENT_TYPE,
            body.len()
        );
        let s = self.stream.get_mut();
        s.write_all(head.as_bytes())?;
        s.write_all(body)?;
        let mut status_line = String::new();
        self.stream.read_line(&mut status_line)?;
        let status: u16 = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .with_context(|| format!("bad status line {status_line:?}"))?;
        let mut len = 0usize;
        loop {
            let mut h = String::new();
            if self.stream.read_line(&mut h)? == 0 {
                bail!("connection closed in the headers");
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse()?;
                }
            }
        }
        let mut answer = vec![0; len];
        self.stream.read_exact(&mut answer)?;
        Ok((status, String::from_utf8_lossy(&answer).into_owned()))
    }
}

fn ingest(opts: &Opts) -> Result<()> {
    let addr = opts.str("collector")?.to_owned();
    let tokens = std::fs::read_to_string(opts.str("tokens")?)?;
    let per_host: u64 = opts.num("events-per-host", 50_000)?;
    let share: f64 = opts.num("output-share", 0.03)?;
    let chunk_kib: usize = opts.num("chunk-kib", 32)?;
    let hosts: Vec<(String, String)> = tokens
        .lines()
        .filter_map(|l| {
            let (n, t) = l.split_once(' ')?;
            Some((n.to_owned(), t.trim().to_owned()))
        })
        .collect();
    // A pool of distinct real chunks, 0.5x to 1.5x chunk-kib of output each.
    let made = Instant::now();
    let vocabulary = Vocabulary::new(30_000);
    let mut rng = Rng::new(42);
    let pool: Vec<(Vec<u8>, u64)> = (0..64)
        .map(|i| {
            let size = chunk_kib * 1024 / 2 + rng.below(chunk_kib as u64 * 1024) as usize;
            let (stored, bytes, _) = chunk_of_text(&vocabulary, &mut rng, size, now_us() + i, None);
            (stored, bytes)
        })
        .collect();
    let pool = Arc::new(pool);
    let prepared: Vec<Prepared> = std::thread::scope(|s| {
        let handles: Vec<_> = hosts
            .iter()
            .enumerate()
            .map(|(i, (name, token))| {
                let pool = pool.clone();
                s.spawn(move || prepare_host(name, token, i as u64, per_host, share, &pool))
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let prepare_s = made.elapsed().as_secs_f64();
    let barrier = Arc::new(Barrier::new(prepared.len() + 1));
    let (results, t_start) = std::thread::scope(|s| {
        let handles: Vec<_> = prepared
            .iter()
            .map(|p| {
                let barrier = barrier.clone();
                let addr = addr.clone();
                s.spawn(move || -> Result<(Vec<f64>, u64, Instant)> {
                    let mut http = Http::connect(&addr)?;
                    barrier.wait();
                    let mut latencies = Vec::with_capacity(p.bodies.len());
                    let mut acked = 0;
                    for body in &p.bodies {
                        let t = Instant::now();
                        let (status, answer) = http.post(&p.token, body)?;
                        latencies.push(t.elapsed().as_secs_f64() * 1000.0);
                        if status != 200 {
                            bail!("{}: answered {status}: {answer}", p.name);
                        }
                        let v: serde_json::Value = serde_json::from_str(&answer)?;
                        acked = v["seq"].as_u64().unwrap_or(0);
                    }
                    Ok((latencies, acked, Instant::now()))
                })
            })
            .collect();
        barrier.wait();
        // The clock starts as every host is let go: each sends its first POST at once.
        let t_start = Instant::now();
        let results: Result<Vec<_>> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        (results, t_start)
    });
    let results = results?;
    let (mut lat, mut acked) = (Vec::new(), Vec::new());
    let mut last = t_start;
    for (l, a, end) in &results {
        lat.extend_from_slice(l);
        acked.push(*a);
        last = last.max(*end);
    }
    let wall_s = (last - t_start).as_secs_f64();
    lat.sort_by(f64::total_cmp);
    let pct = |q: f64| lat[((lat.len() - 1) as f64 * q).round() as usize];
    let out = json!({
        "hosts": prepared.len(),
        "events": prepared.iter().map(|p| p.events).sum::<u64>(),
        "chunks": prepared.iter().map(|p| p.chunks).sum::<u64>(),
        "output_bytes": prepared.iter().map(|p| p.output_bytes).sum::<u64>(),
        "chunk_bytes": prepared.iter().map(|p| p.chunk_bytes).sum::<u64>(),
        "body_bytes": prepared.iter().flat_map(|p| p.bodies.iter().map(Vec::len)).sum::<usize>(),
        "batches": lat.len(),
        "prepare_s": prepare_s,
        "wall_s": wall_s,
        "acked": acked,
        "batch_ms": {"median": pct(0.5), "p90": pct(0.9), "p99": pct(0.99), "max": pct(1.0)},
    });
    println!("{out}");
    Ok(())
}

fn month_start(y: i16, m: i8) -> Result<i64> {
    Ok(jiff::civil::date(y, m, 1)
        .to_zoned(jiff::tz::TimeZone::UTC)?
        .timestamp()
        .as_microsecond())
}

/// Makes the month partitions covering `[from, to]` (µs) as the store names them.
fn partitions(client: &mut Client, from: i64, to: i64) -> Result<()> {
    let day = |t: i64| -> Result<jiff::civil::Date> {
        Ok(jiff::Timestamp::from_microsecond(t)?
            .to_zoned(jiff::tz::TimeZone::UTC)
            .date())
    };
    let (first, last) = (day(from)?, day(to)?);
    let (mut y, mut m) = (first.year(), first.month());
    loop {
        let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        client.batch_execute(&format!(
            "CREATE TABLE IF NOT EXISTS events_y{y:04}m{m:02} PARTITION OF events FOR VALUES FROM ({}) TO ({})",
            month_start(y, m)?,
            month_start(ny, nm)?
        ))?;
        if (y, m) == (last.year(), last.month()) {
            return Ok(());
        }
        (y, m) = (ny, nm);
    }
}

fn generate(opts: &Opts) -> Result<()> {
    let url = opts.str("db")?;
    let total: u64 = opts.num("events", 10_000_000)?;
    let days: i64 = opts.num("days", 35)?;
    let output_mib: u64 = opts.num("output-mib", 1024)?;
    let chunk_kib: u64 = opts.num("chunk-kib", 32)?;
    let rare = opts.str("rare").unwrap_or("zqxvelt").to_owned();
    let rare_chunks: u64 = opts.num("rare-chunks", 5)?;
    let presence_share: f64 = opts.num("presence-share", 0.015)?;
    let session_share: f64 = opts.num("session-share", 0.001)?;
    let connect = || Client::connect(url, NoTls).context("connect");
    let mut admin = connect()?;
    let hosts: Vec<(i64, String)> = admin
        .query(
            "SELECT id, name FROM hosts WHERE name NOT LIKE '@%' ORDER BY id",
            &[],
        )?
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    if hosts.is_empty() {
        bail!("no enrolled hosts");
    }
    let end = now_us() - 60_000_000;
    let start = end - days * 86_400_000_000;
    partitions(&mut admin, start, end)?;
    let per_host = total / hosts.len() as u64;
    let chunks_total = output_mib * 1024 / chunk_kib;
    let share = chunks_total as f64 / (per_host * hosts.len() as u64) as f64;
    let step = (end - start) / per_host as i64;
    let (mut ce, mut cc, mut ct) = (connect()?, connect()?, connect()?);
    let mut events = BinaryCopyInWriter::new(
        ce.copy_in(
            "COPY events (host_id, seq, time, kind, server, session, session_id, pane, \"user\", data, hash, received) FROM STDIN (FORMAT binary)",
        )?,
        &[
            Type::INT8,
            Type::INT8,
            Type::INT8,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::TEXT,
            Type::BYTEA,
            Type::BYTEA,
            Type::INT8,
        ],
    );
    let mut chunks = BinaryCopyInWriter::new(
        cc.copy_in("COPY chunks (host_id, seq, data) FROM STDIN (FORMAT binary)")?,
        &[Type::INT8, Type::INT8, Type::BYTEA],
    );
    let mut text = std::io::BufWriter::with_capacity(
        1 << 20,
        ct.copy_in("COPY chunk_text (host_id, seq, tsv) FROM STDIN")?,
    );
    let vocabulary = Vocabulary::new(30_000);
    let mut chains: Vec<HostChain> = hosts
        .iter()
        .enumerate()
        .map(|(i, (_, name))| HostChain::new(name, 1000 + i as u64))
        .collect();
    let mut text_rng = Rng::new(99);
    let made = Instant::now();
    let (mut n_chunks, mut out_bytes, mut stored_bytes, mut text_bytes) = (0u64, 0u64, 0u64, 0u64);
    let mut rare_at = Vec::new();
    let mut kinds: HashMap<&'static str, u64> = HashMap::new();
    // Round robin over hosts, in time order: rows arrive interleaved as from a live fleet.
    for i in 0..per_host {
        for (h, chain) in chains.iter_mut().enumerate() {
            let id = hosts[h].0;
            let time = start + i as i64 * step + chain.rng.below(step.max(1) as u64) as i64;
            let what = What::draw(&mut chain.rng, share, presence_share, session_share);
            let (event, chunk) = if what == What::Output {
                // The K rare chunks are spread evenly over all chunks.
                let is_rare = rare_chunks > 0
                    && (n_chunks * rare_chunks) / chunks_total.max(1)
                        != ((n_chunks + 1) * rare_chunks) / chunks_total.max(1);
                let size =
                    (chunk_kib as usize * 1024) / 2 + text_rng.below(chunk_kib * 1024) as usize;
                let (stored, bytes, plain) = chunk_of_text(
                    &vocabulary,
                    &mut text_rng,
                    size,
                    time - 30_000_000,
                    is_rare.then_some(rare.as_str()),
                );
                let e = chain.event(what, time, Some((&stored, bytes)));
                n_chunks += 1;
                out_bytes += bytes;
                stored_bytes += stored.len() as u64;
                text_bytes += plain.len() as u64;
                if is_rare {
                    rare_at.push(json!({"host": hosts[h].1, "seq": chain.seq + 1}));
                }
                (e, Some((stored, plain)))
            } else {
                (chain.event(what, time, None), None)
            };
            let record = chain.link(&event, None);
            *kinds.entry(event.kind.as_str()).or_default() += 1;
            let seq = record.seq as i64;
            events.write(&[
                &id,
                &seq,
                &event.time.as_micros(),
                &event.kind.as_str(),
                &event.server,
                &event.session,
                &event.session_id,
                &event.pane_id,
                &event.user,
                &record.data,
                &record.hash.as_slice(),
                &(time + 1_000_000),
            ])?;
            if let Some((stored, plain)) = chunk {
                chunks.write(&[&id, &seq, &stored])?;
                let words = tokens(&plain);
                if !words.is_empty() {
                    writeln!(text, "{id}\t{seq}\t{}", words.join(" "))?;
                }
            }
        }
    }
    let rows = events.finish()?;
    let chunk_rows = chunks.finish()?;
    let text_rows = text
        .into_inner()
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .finish()?;
    for (chain, (id, _)) in chains.iter().zip(&hosts) {
        admin.execute(
            "UPDATE hosts SET head_seq = $2, head_hash = $3, last_received = $4 WHERE id = $1",
            &[id, &(chain.seq as i64), &chain.prev.as_slice(), &end],
        )?;
    }
    let out = json!({
        "events": rows, "chunks": chunk_rows, "chunk_text": text_rows,
        "hosts": hosts.len(), "from_us": start, "until_us": end, "days": days,
        "output_bytes": out_bytes, "text_bytes": text_bytes, "stored_chunk_bytes": stored_bytes,
        "rare": rare, "rare_at": rare_at, "kinds": kinds, "seconds": made.elapsed().as_secs_f64(),
    });
    println!("{out}");
    Ok(())
}

fn watch(opts: &Opts) -> Result<()> {
    let mut client = Client::connect(opts.str("db")?, NoTls)?;
    let host = opts.str("host")?;
    let id: i64 = client
        .query_one("SELECT id FROM hosts WHERE name = $1", &[&host])?
        .get(0);
    let mut after: i64 = client
        .query_one(
            "SELECT coalesce(max(seq), 0) FROM events WHERE host_id = $1",
            &[&id],
        )?
        .get(0);
    let stmt = client
        .prepare("SELECT seq, data FROM events WHERE host_id = $1 AND seq > $2 ORDER BY seq")?;
    let stdout = std::io::stdout();
    println!("ready");
    stdout.lock().flush()?;
    loop {
        let rows = client.query(&stmt, &[&id, &after])?;
        let seen = now_us();
        for r in &rows {
            after = r.get(0);
            let data: &[u8] = r.get(1);
            let (_, e) = audit_core::encoding::decode(data)?;
            if e.kind == audit_core::Kind::ClientAttached {
                let mut out = stdout.lock();
                writeln!(out, "{seen} {after} {}", e.client_pid.unwrap_or(0))?;
                out.flush()?;
            }
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}
