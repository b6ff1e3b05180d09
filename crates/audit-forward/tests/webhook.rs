//! The webhook sink through an outage: the receiver is closed, then answers 500, then comes
//! back. Every event arrives once and in order, and the outage is reported exactly once
//! (failed, recovered) — those reports are recorded in the store as the daemon would, and
//! forwarded too.

mod common;

use audit_core::Kind;
use audit_store::Access;
use common::{spec, wait_until, Reports, TestStore};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A loopback HTTP receiver answering every POST with `status`; keeps the bodies it accepted.
struct Hook {
    addr: SocketAddr,
    status: Arc<AtomicU16>,
    accepted: Arc<Mutex<Vec<serde_json::Value>>>,
    refused: Arc<AtomicUsize>,
    closing: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Hook {
    fn open(addr: SocketAddr, status: u16) -> Hook {
        let mut hook = Hook {
            addr,
            status: Arc::new(AtomicU16::new(status)),
            accepted: Arc::default(),
            refused: Arc::default(),
            closing: Arc::default(),
            thread: None,
        };
        hook.listen();
        hook
    }

    fn listen(&mut self) {
        let listener = TcpListener::bind(self.addr).unwrap();
        self.addr = listener.local_addr().unwrap();
        self.closing.store(false, Ordering::SeqCst);
        let (status, accepted, refused, closing) = (
            self.status.clone(),
            self.accepted.clone(),
            self.refused.clone(),
            self.closing.clone(),
        );
        self.thread = Some(std::thread::spawn(move || {
            for conn in listener.incoming() {
                if closing.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
                let Some(body) = read_request(&conn) else {
                    continue;
                };
                let code = status.load(Ordering::SeqCst);
                if code == 200 {
                    accepted
                        .lock()
                        .unwrap()
                        .push(serde_json::from_slice(&body).unwrap());
                } else {
                    refused.fetch_add(1, Ordering::SeqCst);
                }
                let _ = (&conn).write_all(
                    format!("HTTP/1.1 {code} X\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                        .as_bytes(),
                );
            }
        }));
    }

    /// Stops listening: connections are refused until `listen` again.
    fn close(&mut self) {
        self.closing.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr);
        self.thread.take().unwrap().join().unwrap();
    }

    fn seqs(&self) -> Vec<u64> {
        let accepted = self.accepted.lock().unwrap();
        accepted
            .iter()
            .map(|v| v["seq"].as_u64().unwrap())
            .collect()
    }
}

/// Reads one request; returns its body.
fn read_request(conn: &TcpStream) -> Option<Vec<u8>> {
    let mut reader = BufReader::new(conn);
    let mut length = 0;
    let mut json = false;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(n) = lower.strip_prefix("content-length:") {
            length = n.trim().parse().ok()?;
        }
        json |= lower.starts_with("content-type: application/json");
        if line == "\r\n" {
            break;
        }
    }
    assert!(json, "Content-Type: application/json");
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some(body)
}

#[test]
fn an_outage_is_reported_once_and_nothing_is_lost_or_reordered() {
    let mut store = TestStore::new();
    store.append(10);
    let mut hook = Hook::open("127.0.0.1:0".parse().unwrap(), 200);
    let sink = spec(&format!(
        "type = \"webhook\"\nurl = \"http://{}/audit\"\ntimeout_secs = 2",
        hook.addr
    ));
    let name = sink.name.clone();

    // Reports are recorded in the store, as the daemon's writer does, so they are forwarded too.
    let reports = Reports::default();
    let recorder = Mutex::new(audit_store::open(&store.location(), Access::Create).unwrap());
    let collected = reports.clone();
    let report: audit_forward::Report = Arc::new(move |e| {
        recorder
            .lock()
            .unwrap()
            .append(std::slice::from_ref(&e))
            .unwrap();
        collected.0.lock().unwrap().push(e);
    });
    let forwarder =
        audit_forward::Forwarder::start(store.location(), "testhost".into(), vec![sink], report)
            .unwrap();
    wait_until("the first 10", || hook.seqs().len() == 10);

    hook.close();
    store.append(5);
    forwarder.waker().wake();
    wait_until("sink-failed", || {
        reports.kinds().contains(&Kind::SinkFailed)
    });
    assert!(forwarder.status()[0].failing_since.is_some());

    hook.status.store(500, Ordering::SeqCst);
    hook.listen();
    store.append(5);
    wait_until("a 500 answer", || hook.refused.load(Ordering::SeqCst) >= 1);

    hook.status.store(200, Ordering::SeqCst);
    wait_until("sink-recovered", || {
        reports.kinds().contains(&Kind::SinkRecovered)
    });
    let head = store.store.head().unwrap().unwrap().seq;
    wait_until("everything, the reports included", || {
        hook.seqs().last() == Some(&head)
    });
    forwarder.stop();

    assert_eq!(
        hook.seqs(),
        (1..=head).collect::<Vec<_>>(),
        "each once, in order"
    );
    assert_eq!(reports.kinds(), [Kind::SinkFailed, Kind::SinkRecovered]);
    let reported = reports.0.lock().unwrap();
    let (failed, recovered) = (&reported[0], &reported[1]);
    assert_eq!(failed.sink.as_deref(), Some(name.as_str()));
    assert_eq!(failed.server, "forwarder");
    assert!(
        failed
            .message
            .as_deref()
            .is_some_and(|m| m.contains("POST http://")),
        "{failed:?}"
    );
    assert_eq!(recovered.sink.as_deref(), Some(name.as_str()));
    assert_eq!(recovered.from, failed.from);
    assert!(recovered.until.is_some());
    let message = recovered.message.as_deref().unwrap();
    assert!(
        message.starts_with("delivered after ") && message.contains("events were held"),
        "{message}"
    );
    let kinds: Vec<String> = hook
        .accepted
        .lock()
        .unwrap()
        .iter()
        .map(|v| v["kind"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        kinds.contains(&"sink-failed".to_owned()) && kinds.contains(&"sink-recovered".to_owned())
    );
}

#[test]
fn stop_gives_up_on_a_dead_sink_within_its_bound() {
    let mut store = TestStore::new();
    store.append(3);
    // A port with nothing listening: bind, note it, close.
    let addr = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let sink = spec(&format!(
        "type = \"webhook\"\nname = \"dead\"\nurl = \"http://{addr}/\""
    ));
    let reports = Reports::default();
    let forwarder = common::start(&store.path, vec![sink], &reports);
    wait_until("sink-failed", || reports.kinds() == [Kind::SinkFailed]);
    let began = std::time::Instant::now();
    forwarder.stop();
    assert!(
        began.elapsed() < Duration::from_secs(4),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(
        store.store.sink_cursor("dead").unwrap(),
        None,
        "nothing was delivered"
    );
}
