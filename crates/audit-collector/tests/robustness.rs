//! The collector against hostile and broken clients, over real sockets on loopback: garbage,
//! lies about sizes, clients too slow or too many, bad tokens. None of these reach the records
//! of the store: the intake here knows one token and refuses to store anything (the end-to-end
//! tests, in audit-forward, store into a real PostgreSQL).

use audit_collector::{serve, Collector, CollectorError, Config, Limits, TlsFiles};
use audit_ship::{CONTENT_TYPE, PATH_HEAD, PATH_RECORDS};
use audit_store::central::{HostHead, Intake, Shipped, Verdict};
use audit_store::StoreError;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOKEN: &str = "the-good-token";

/// Knows one token; reaching the chains is a test failure (the job panics: 503).
struct Gate;

impl Intake for Gate {
    fn host_of_token(&self, token: &str) -> Result<Option<String>, StoreError> {
        Ok((token == TOKEN).then(|| "web-1".to_string()))
    }
    fn host_head(&self, _: &str) -> Result<HostHead, StoreError> {
        Ok(HostHead::EMPTY)
    }
    fn accept(
        &mut self,
        _: &str,
        _: &[Shipped],
        _: &[Option<String>],
        _: audit_core::Timestamp,
        _: &str,
    ) -> Result<Verdict, StoreError> {
        panic!("the transport tests never store records")
    }
}

fn limits() -> Limits {
    Limits {
        header_timeout: Duration::from_millis(400),
        body_timeout: Duration::from_millis(600),
        ..Limits::default()
    }
}

fn start(limits: Limits) -> Collector {
    let mut config = Config::new("127.0.0.1:0".parse().unwrap(), None);
    config.limits = limits;
    serve(config, || Ok(Box::new(Gate) as Box<dyn Intake>)).expect("collector starts")
}

fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s
}

/// Sends `request` and reads until the server closes: (status, whole answer).
fn exchange(addr: SocketAddr, request: &[u8]) -> (u16, String) {
    let mut s = connect(addr);
    s.write_all(request).unwrap();
    read_answer(&mut s)
}

fn read_answer(s: &mut TcpStream) -> (u16, String) {
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, text)
}

fn get_head(token: Option<&str>) -> Vec<u8> {
    let auth = token.map_or(String::new(), |t| format!("Authorization: Bearer {t}\r\n"));
    format!("GET {PATH_HEAD} HTTP/1.1\r\nHost: c\r\n{auth}Connection: close\r\n\r\n").into_bytes()
}

fn post(token: &str, body: &[u8]) -> Vec<u8> {
    let mut r = format!(
        "POST {PATH_RECORDS} HTTP/1.1\r\nHost: c\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: {CONTENT_TYPE}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    r.extend_from_slice(body);
    r
}

/// Waits (bounded) until the server closes `s`; returns how long that took.
fn closed_within(s: &mut TcpStream, bound: Duration) -> Duration {
    let start = Instant::now();
    s.set_read_timeout(Some(bound)).unwrap();
    let mut buf = [0; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return start.elapsed(),
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return start.elapsed(),
            Err(e) => panic!("not closed within {bound:?}: {e}"),
        }
    }
}

#[test]
fn the_token_alone_names_the_host() {
    let c = start(limits());
    let (status, text) = exchange(c.local_addr(), &get_head(Some(TOKEN)));
    assert_eq!(status, 200, "{text}");
    assert!(text.contains(r#""host":"web-1","seq":0"#), "{text}");
    let (status, text) = exchange(c.local_addr(), &get_head(Some("stolen")));
    assert_eq!(status, 401, "{text}");
    assert!(text.contains("unknown or revoked token"), "{text}");
    let (status, _) = exchange(c.local_addr(), &get_head(None));
    assert_eq!(status, 401);
    let (status, _) = exchange(c.local_addr(), &post("stolen", b"TAB1"));
    assert_eq!(status, 401);
}

#[test]
fn garbage_is_refused_and_the_server_carries_on() {
    let c = start(limits());
    let (status, _) = exchange(
        c.local_addr(),
        b"\x16\x03\x01\x02\x00\x01\x00\xff garbage\r\n\r\n",
    );
    assert!(status == 400 || status == 0, "status {status}");
    let (status, _) = exchange(
        c.local_addr(),
        b"GET / HTTP/1.1\r\nHost: c\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 404);
    let (status, text) = exchange(
        c.local_addr(),
        b"DELETE /v1/records HTTP/1.1\r\nHost: c\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 405, "{text}");
    // A malformed batch is a 400 naming what is wrong, never a store call.
    let (status, text) = exchange(
        c.local_addr(),
        &post(TOKEN, b"TAB1\0\0\0\0\0\0\0\x01\xff\xff\xff\xff"),
    );
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("at byte 12"), "{text}");
    let (status, text) = exchange(c.local_addr(), &post(TOKEN, b"not a batch"));
    assert_eq!(status, 400, "{text}");
    let (status, _) = exchange(c.local_addr(), &get_head(Some(TOKEN)));
    assert_eq!(status, 200);
}

#[test]
fn an_oversized_content_length_is_refused_before_reading() {
    let c = start(limits());
    let mut s = connect(c.local_addr());
    let headers = format!(
        "POST {PATH_RECORDS} HTTP/1.1\r\nHost: c\r\nContent-Type: {CONTENT_TYPE}\r\n\
         Content-Length: {}\r\n\r\n",
        64u64 << 30
    );
    s.write_all(headers.as_bytes()).unwrap();
    // No body sent, no token even: answered at once.
    let (status, text) = read_answer(&mut s);
    assert_eq!(status, 413, "{text}");
}

#[test]
fn a_body_larger_than_it_said_or_chunked_past_the_limit_is_cut_off() {
    let c = start(Limits {
        body_timeout: Duration::from_secs(20),
        ..limits()
    });
    let mut s = connect(c.local_addr());
    let headers = format!(
        "POST {PATH_RECORDS} HTTP/1.1\r\nHost: c\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: {CONTENT_TYPE}\r\nTransfer-Encoding: chunked\r\n\r\n"
    );
    s.write_all(headers.as_bytes()).unwrap();
    let piece = vec![b'x'; 1 << 20];
    let mut sent = 0usize;
    let mut refused = false;
    while sent <= audit_ship::batch::MAX_BODY + (2 << 20) {
        let frame = [format!("{:x}\r\n", piece.len()).as_bytes(), &piece, b"\r\n"].concat();
        if s.write_all(&frame).is_err() {
            refused = true;
            break;
        }
        sent += piece.len();
    }
    let (status, text) = read_answer(&mut s);
    assert!(
        status == 413 || refused,
        "status {status}: {}",
        &text[..text.len().min(200)]
    );
}

#[test]
fn slow_loris_headers_are_cut_off_after_the_header_timeout() {
    let c = start(limits());
    let mut s = connect(c.local_addr());
    s.write_all(b"POST /v1/records HTTP/1.1\r\nHost: c\r\nX-Slow: ")
        .unwrap();
    let took = closed_within(&mut s, Duration::from_secs(10));
    assert!(took < Duration::from_secs(5), "closed after {took:?}");
    // And a connection that never says anything, or idles after an answer, is closed too.
    let mut idle = connect(c.local_addr());
    assert!(closed_within(&mut idle, Duration::from_secs(10)) < Duration::from_secs(5));
}

#[test]
fn a_body_slower_than_the_body_timeout_is_refused() {
    let c = start(limits());
    let mut s = connect(c.local_addr());
    let headers = format!(
        "POST {PATH_RECORDS} HTTP/1.1\r\nHost: c\r\nAuthorization: Bearer {TOKEN}\r\n\
         Content-Type: {CONTENT_TYPE}\r\nContent-Length: 1000\r\n\r\nTAB1"
    );
    s.write_all(headers.as_bytes()).unwrap();
    let start = Instant::now();
    let (status, text) = read_answer(&mut s);
    assert_eq!(status, 408, "{text}");
    assert!(start.elapsed() < Duration::from_secs(5));
}

#[test]
fn connections_past_the_limit_are_closed_at_once() {
    let c = start(Limits {
        max_connections: 2,
        header_timeout: Duration::from_secs(30),
        ..limits()
    });
    let _a = connect(c.local_addr());
    let _b = connect(c.local_addr());
    // Both are accepted (their permits taken) before the third arrives: poll until one more
    // is refused, bounded.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut third = connect(c.local_addr());
        third.write_all(&get_head(Some(TOKEN))).unwrap();
        let (status, _) = read_answer(&mut third);
        if status == 0 {
            break;
        }
        assert!(Instant::now() < deadline, "a third connection was served");
    }
    drop((_a, _b));
    // Once they are gone, connections are served again.
    let deadline = Instant::now() + Duration::from_secs(5);
    while exchange(c.local_addr(), &get_head(Some(TOKEN))).0 != 200 {
        assert!(Instant::now() < deadline, "never served again");
        std::thread::yield_now();
    }
}

#[test]
fn a_store_that_is_down_is_a_503_and_is_reconnected_when_back() {
    let up = Arc::new(AtomicBool::new(false));
    let opener = up.clone();
    let mut config = Config::new("127.0.0.1:0".parse().unwrap(), None);
    config.limits = limits();
    let c = serve(config, move || {
        if opener.load(Ordering::SeqCst) {
            Ok(Box::new(Gate) as Box<dyn Intake>)
        } else {
            Err(StoreError::Open {
                path: PathBuf::from("postgres://central"),
                error: std::io::Error::other("connection refused"),
            })
        }
    })
    .unwrap();
    let (status, text) = exchange(c.local_addr(), &get_head(Some(TOKEN)));
    assert_eq!(status, 503, "{text}");
    assert!(
        text.contains("retry later") && !text.contains("postgres://"),
        "{text}"
    );
    up.store(true, Ordering::SeqCst);
    assert_eq!(exchange(c.local_addr(), &get_head(Some(TOKEN))).0, 200);
}

#[test]
fn plaintext_is_refused_off_loopback_unless_allowed() {
    let config = Config::new("0.0.0.0:0".parse().unwrap(), None);
    let refused = serve(config.clone(), || Ok(Box::new(Gate) as Box<dyn Intake>));
    assert!(matches!(refused, Err(CollectorError::Plaintext(_))));
    let allowed = Config {
        allow_plaintext: true,
        ..config
    };
    serve(allowed, || Ok(Box::new(Gate) as Box<dyn Intake>))
        .expect("allowed")
        .stop();
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

#[test]
fn tls_serves_a_trusting_client_and_garbage_handshakes_are_dropped() {
    let mut config = Config::new(
        "127.0.0.1:0".parse().unwrap(),
        Some(TlsFiles {
            cert: fixture("cert.pem"),
            key: fixture("key.pem"),
        }),
    );
    config.limits = limits();
    let c = serve(config, || Ok(Box::new(Gate) as Box<dyn Intake>)).unwrap();
    // Plain HTTP or garbage to a TLS port: closed, and the server carries on.
    let (status, _) = exchange(c.local_addr(), &get_head(Some(TOKEN)));
    assert_eq!(status, 0);
    let mut hello_only = connect(c.local_addr());
    hello_only.write_all(b"\x16\x03\x01").unwrap();
    assert!(closed_within(&mut hello_only, Duration::from_secs(10)) < Duration::from_secs(5));

    let ca = std::fs::read(fixture("ca.pem")).unwrap();
    let ca = ureq::tls::Certificate::from_pem(&ca).unwrap();
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::new_with_certs(&[ca]))
        .build();
    let agent = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .tls_config(tls)
            .http_status_as_error(false)
            .build(),
    );
    let url = format!("https://127.0.0.1:{}{PATH_HEAD}", c.local_addr().port());
    let mut answer = agent
        .get(&url)
        .header("authorization", &format!("Bearer {TOKEN}"))
        .call()
        .unwrap();
    assert_eq!(answer.status().as_u16(), 200);
    let body = answer.body_mut().read_to_string().unwrap();
    assert!(body.contains("web-1"), "{body}");
    // A client that does not trust the CA is refused by its own TLS.
    let strict = ureq::Agent::new_with_defaults();
    assert!(strict.get(&url).call().is_err());
}
