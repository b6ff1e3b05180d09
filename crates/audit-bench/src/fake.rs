//! Realistic fake records: terminal text, real zstd chunks of it, and one host's valid chain of
//! events (commands, attaches and detaches, pane output, seals, tmux commands), deterministic
//! from a seed.

use audit_capture::chunk::{self, Chunk, Record};
use audit_core::chain::{self, ChainHash, GENESIS};
use audit_core::{encoding, Bytes, Confidence, Event, Kind, Reason, Timestamp};
use audit_store::central::Shipped;
use std::collections::HashSet;
use std::fmt::Write as _;

/// splitmix64: small, fast, deterministic.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    pub fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

const SYLLABLES: [&str; 24] = [
    "ka", "ro", "mi", "tu", "sel", "dar", "vin", "po", "lex", "an", "or", "ber", "zen", "fi", "ul",
    "ta", "mon", "cri", "sto", "pe", "nar", "gol", "es", "tri",
];
const COMMON: [&str; 40] = [
    "error",
    "warning",
    "Compiling",
    "test",
    "ok",
    "FAILED",
    "user",
    "root",
    "home",
    "src",
    "target",
    "debug",
    "release",
    "INFO",
    "WARN",
    "GET",
    "POST",
    "200",
    "404",
    "tmux",
    "cargo",
    "build",
    "main",
    "rs",
    "py",
    "json",
    "log",
    "the",
    "of",
    "and",
    "to",
    "in",
    "for",
    "done",
    "passed",
    "request",
    "took",
    "ms",
    "id",
    "finished",
];

/// Words with a skewed (roughly Zipfian) frequency: a few very common, a long tail.
pub struct Vocabulary {
    words: Vec<String>,
}

impl Vocabulary {
    pub fn new(size: usize) -> Vocabulary {
        let mut rng = Rng::new(7);
        let mut seen = HashSet::new();
        let mut words: Vec<String> = COMMON.iter().map(|w| w.to_string()).collect();
        while words.len() < size {
            let n = 2 + rng.below(3);
            let w: String = (0..n)
                .map(|_| SYLLABLES[rng.below(SYLLABLES.len() as u64) as usize])
                .collect();
            if seen.insert(w.clone()) {
                words.push(w);
            }
        }
        Vocabulary { words }
    }

    pub fn pick(&self, rng: &mut Rng) -> &str {
        let u = rng.unit();
        &self.words[((self.words.len() as f64) * u * u * u) as usize]
    }
}

/// One line of terminal output (plain, under 160 columns) and whether to colour it.
fn line(v: &Vocabulary, rng: &mut Rng, out: &mut String) -> bool {
    let n = rng.below(10_000);
    match rng.below(5) {
        0 => {
            let _ = write!(
                out,
                "-rw-r--r-- 1 dev dev {:>8} Dec {:>2} {:02}:{:02} {}_{}.{}",
                n * 37,
                1 + n % 28,
                n % 24,
                n % 60,
                v.pick(rng),
                v.pick(rng),
                ["rs", "py", "toml", "md", "log"][n as usize % 5]
            );
            matches!(n % 3, 0)
        }
        1 => {
            let _ = write!(
                out,
                "   Compiling {}-{} v0.{}.{} (/home/dev/src/{})",
                v.pick(rng),
                v.pick(rng),
                n % 20,
                n % 9,
                v.pick(rng)
            );
            false
        }
        2 => {
            let _ = write!(
                out,
                "2026-11-{:02}T{:02}:{:02}:{:02}.{:03}Z INFO {}::{}: {} {} {} id={} took {}ms",
                1 + n % 28,
                n % 24,
                n % 60,
                (n / 7) % 60,
                n % 1000,
                v.pick(rng),
                v.pick(rng),
                v.pick(rng),
                v.pick(rng),
                v.pick(rng),
                n,
                n % 700
            );
            matches!(n % 2, 0)
        }
        3 => {
            let _ = write!(
                out,
                "dev@web:~/src/{}$ {} --{} {}/{}.rs",
                v.pick(rng),
                v.pick(rng),
                v.pick(rng),
                v.pick(rng),
                v.pick(rng)
            );
            false
        }
        _ => {
            for i in 0..(6 + n % 9) {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(v.pick(rng));
            }
            false
        }
    }
}

/// A chunk of about `size` bytes of terminal output: the stored (compressed) chunk, the
/// output byte count, and the plain text (what the screen shows: for the index's words).
/// `extra` is put on one line of its own in the middle.
pub fn chunk_of_text(
    v: &Vocabulary,
    rng: &mut Rng,
    size: usize,
    start: i64,
    extra: Option<&str>,
) -> (Vec<u8>, u64, String) {
    let mut plain = String::with_capacity(size + 256);
    let mut bytes = Vec::with_capacity(size + 1024);
    let mut l = String::new();
    let mut extra = extra;
    while bytes.len() < size {
        l.clear();
        let colour = match extra.take_if(|_| bytes.len() >= size / 2) {
            Some(word) => {
                let _ = write!(l, "grep: found {word} in /var/log/app.log");
                true
            }
            None => line(v, rng, &mut l),
        };
        plain.push_str(&l);
        plain.push('\n');
        if colour {
            bytes.extend_from_slice(b"\x1b[1;34m");
            bytes.extend_from_slice(l.as_bytes());
            bytes.extend_from_slice(b"\x1b[0m\r\n");
        } else {
            bytes.extend_from_slice(l.as_bytes());
            bytes.extend_from_slice(b"\r\n");
        }
    }
    // Output arrives in pieces of up to 4 KiB, a few ms apart.
    let records: Vec<Record> = bytes
        .chunks(4096)
        .enumerate()
        .map(|(i, piece)| Record::Output {
            time: start + i as i64 * 3_000,
            bytes: piece.to_vec(),
        })
        .collect();
    let end = records.last().map_or(start, Record::time);
    let c = Chunk {
        start,
        end,
        width: 200,
        height: 50,
        snapshot: Vec::new(),
        records,
    };
    (chunk::compress(&c.encode(), 3), bytes.len() as u64, plain)
}

/// The index's words of `text`, as audit-store's `words::tokens` makes them (runs of letters
/// and digits, lower-cased, distinct, sorted), for ASCII text.
pub fn tokens(text: &str) -> Vec<String> {
    let set: HashSet<&str> = text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|t| !t.is_empty())
        .collect();
    let mut out: Vec<String> = set.into_iter().map(|t| t.to_ascii_lowercase()).collect();
    out.sort_unstable();
    out.dedup();
    let mut total = 0;
    out.retain(|t| {
        total += t.len() + 8;
        total <= 512 * 1024
    });
    out
}

/// What one generated record is.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum What {
    Command,
    TmuxCommand,
    Attach,
    Detach,
    Output,
    Seal,
    SessionCreated,
    SessionClosed,
}

impl What {
    /// A kind drawn from the mix: `output` is the share of pane-output, `presence` of
    /// attaches plus detaches, `sessions` of session-created plus -closed.
    pub fn draw(rng: &mut Rng, output: f64, presence: f64, sessions: f64) -> What {
        let u = rng.unit();
        let mut edge = output;
        if u < edge {
            return What::Output;
        }
        edge += presence;
        if u < edge {
            return if rng.below(2) == 0 {
                What::Attach
            } else {
                What::Detach
            };
        }
        edge += sessions;
        if u < edge {
            return if rng.below(2) == 0 {
                What::SessionCreated
            } else {
                What::SessionClosed
            };
        }
        edge += 0.005;
        if u < edge {
            return What::Seal;
        }
        edge += 0.10;
        if u < edge {
            return What::TmuxCommand;
        }
        What::Command
    }
}

struct Session {
    name: String,
    id: String,
}

struct Client {
    pid: i64,
    tty: String,
    user: String,
    session: usize,
}

const USERS: [&str; 5] = ["alice", "bob", "carol", "deploy", "root"];
const PROGRAMS: [&[&str]; 8] = [
    &["ls", "-la"],
    &["git", "status"],
    &["cargo", "build", "--release"],
    &["vim", "src/main.rs"],
    &["grep", "-rn", "TODO", "."],
    &["psql", "-h", "db", "app"],
    &["make", "-j4"],
    &["ssh", "deploy@web-3"],
];

/// One host's chain: its state (sessions, attached clients) and its last record.
pub struct HostChain {
    pub name: String,
    server: String,
    pub rng: Rng,
    pub seq: u64,
    pub prev: ChainHash,
    sessions: Vec<Session>,
    next_session: u64,
    clients: Vec<Client>,
    next_pid: i64,
}

impl HostChain {
    /// A host whose server has the long-lived session `main` (`$0`).
    pub fn new(name: &str, seed: u64) -> HostChain {
        HostChain {
            name: name.to_owned(),
            server: "/tmp/tmux-1000/default".into(),
            rng: Rng::new(seed),
            seq: 0,
            prev: GENESIS,
            sessions: vec![Session {
                name: "main".into(),
                id: "$0".into(),
            }],
            next_session: 1,
            clients: Vec::new(),
            next_pid: 4000,
        }
    }

    /// A session for an event: `main` 40 % of the time.
    fn session(&mut self) -> usize {
        if self.sessions.len() == 1 || self.rng.below(10) < 4 {
            0
        } else {
            1 + self.rng.below(self.sessions.len() as u64 - 1) as usize
        }
    }

    fn in_session(&self, e: &mut Event, s: usize) {
        let s = &self.sessions[s];
        e.session = Some(s.name.clone());
        e.session_id = Some(s.id.clone());
    }

    fn in_pane(&mut self, e: &mut Event, s: usize) {
        self.in_session(e, s);
        let w = self.rng.below(3);
        let base = s as u64 * 10;
        e.window = Some(["shell", "build", "logs"][w as usize].into());
        e.window_id = Some(format!("@{}", base + w));
        e.pane_id = Some(format!("%{}", base + w));
    }

    /// The next event of kind `what` at `time` (µs); for `What::Output`, `chunk` is the
    /// stored chunk and `bytes` its output byte count.
    pub fn event(&mut self, what: What, time: i64, chunk: Option<(&[u8], u64)>) -> Event {
        let mut what = what;
        if what == What::Detach && self.clients.is_empty() {
            what = What::Attach;
        }
        if what == What::Attach && self.clients.len() >= 6 {
            what = What::Detach;
        }
        if what == What::SessionClosed && self.sessions.len() <= 2 {
            what = What::SessionCreated;
        }
        if what == What::SessionCreated && self.sessions.len() >= 6 {
            what = What::SessionClosed;
        }
        let t = Timestamp(time);
        let server = self.server.clone();
        let user = USERS[self.rng.below(USERS.len() as u64) as usize].to_owned();
        match what {
            What::Command => {
                let mut e = Event::new(t, Kind::Command, &self.name, &server);
                let s = self.session();
                self.in_pane(&mut e, s);
                let argv = PROGRAMS[self.rng.below(PROGRAMS.len() as u64) as usize];
                e.argv = Some(argv.iter().map(|a| Bytes(a.as_bytes().to_vec())).collect());
                e.cwd = Some(Bytes(format!("/home/{user}/src").into_bytes()));
                self.next_pid += 1;
                e.pid = Some(self.next_pid);
                e.ppid = Some(3000 + s as i64);
                e.uid = Some(1000);
                e.user = Some(user.clone());
                e.from = Some(Timestamp(time - 1_000 - self.rng.below(5_000_000) as i64));
                e.until = Some(t);
                e.exit_code = Some((self.rng.below(10) == 0) as i64);
                e.actor = Some(user.clone());
                e.attribution = Some(Confidence::Exact);
                e.candidates = Some(vec![user]);
                e
            }
            What::TmuxCommand => {
                let mut e = Event::new(t, Kind::TmuxCommand, &self.name, &server);
                let s = self.session();
                self.in_session(&mut e, s);
                e.client = Some(format!("/dev/pts/{}", self.rng.below(20)));
                e.user = Some(user);
                e.command = Some(
                    [
                        "send-keys -t main:0 Enter",
                        "list-sessions",
                        "capture-pane -p",
                    ][self.rng.below(3) as usize]
                        .into(),
                );
                e.timing = Some("exec".into());
                e.confirmed = Some(true);
                e
            }
            What::Attach => {
                let mut e = Event::new(t, Kind::ClientAttached, &self.name, &server);
                let s = self.session();
                self.in_session(&mut e, s);
                self.next_pid += 1;
                let c = Client {
                    pid: self.next_pid,
                    tty: format!("/dev/pts/{}", self.next_pid % 64),
                    user,
                    session: s,
                };
                self.client_fields(&mut e, &c);
                e.readonly = Some(false);
                e.term = Some("xterm-256color".into());
                e.flags = Some("attached,focused,UTF-8".into());
                e.origin = Some(format!("10.0.{}.{}", c.pid % 250, c.pid % 199));
                self.clients.push(c);
                e
            }
            What::Detach => {
                let i = self.rng.below(self.clients.len() as u64) as usize;
                let c = self.clients.swap_remove(i);
                let mut e = Event::new(t, Kind::ClientDetached, &self.name, &server);
                self.in_session(&mut e, c.session);
                self.client_fields(&mut e, &c);
                e.readonly = Some(false);
                e.reason = Some(Reason::Detach);
                e
            }
            What::SessionCreated => {
                let id = self.next_session;
                self.next_session += 1;
                self.sessions.push(Session {
                    name: format!("work-{id}"),
                    id: format!("${id}"),
                });
                let mut e = Event::new(t, Kind::SessionCreated, &self.name, &server);
                self.in_session(&mut e, self.sessions.len() - 1);
                e
            }
            What::SessionClosed => {
                let i = 1 + self.rng.below(self.sessions.len() as u64 - 1) as usize;
                let mut e = Event::new(t, Kind::SessionClosed, &self.name, &server);
                self.in_session(&mut e, i);
                self.sessions.remove(i);
                // Clients of a closed session are gone; others move down.
                self.clients.retain(|c| c.session != i);
                for c in &mut self.clients {
                    if c.session > i {
                        c.session -= 1;
                    }
                }
                e
            }
            What::Output => {
                let (stored, bytes) = chunk.expect("an output record needs its chunk");
                let mut e = Event::new(t, Kind::PaneOutput, &self.name, &server);
                let s = self.session();
                self.in_pane(&mut e, s);
                e.window_index = Some(0);
                e.pane_index = Some(0);
                e.from = Some(Timestamp(time - 30_000_000));
                e.until = Some(t);
                e.bytes = Some(bytes as i64);
                e.width = Some(200);
                e.height = Some(50);
                e.digest = Some(blake3::hash(stored).to_hex().to_string());
                e
            }
            What::Seal => {
                let mut e = Event::new(t, Kind::Seal, &self.name, &server);
                e.epoch = Some(self.seq as i64 / 1000);
                e.seal = Some(blake3::hash(&self.prev).to_hex().to_string());
                e.key_id = Some("3f2a9c1b7d4e6a80".into());
                e
            }
        }
    }

    fn client_fields(&self, e: &mut Event, c: &Client) {
        e.client = Some(c.tty.clone());
        e.client_pid = Some(c.pid);
        e.uid = Some(1000);
        e.user = Some(c.user.clone());
        e.tty = Some(c.tty.clone());
    }

    /// Links `event` onto the chain: the shipped record (canonical bytes, hash, chunk).
    pub fn link(&mut self, event: &Event, chunk: Option<Vec<u8>>) -> Shipped {
        self.seq += 1;
        let data = encoding::encode(self.seq, event);
        let hash = chain::link(&self.prev, &data);
        self.prev = hash;
        Shipped {
            seq: self.seq,
            data,
            hash,
            chunk,
        }
    }
}
