//! The syslog sink over TCP (octet counting), UDP and a unix datagram socket, each read by a
//! receiver the test runs and checked for RFC 5424 shape, order and completeness.

mod common;

use audit_core::{Kind, Severity, Stored};
use common::{event, spec, start, wait_until, Reports, TestStore};
use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, UdpSocket};
use std::os::unix::net::UnixDatagram;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Received = Arc<Mutex<Vec<String>>>;

/// A parsed RFC 5424 message.
#[derive(Debug)]
struct Message {
    pri: u32,
    host: String,
    msgid: String,
    sd: String,
    json: serde_json::Value,
}

/// Parses `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG`, panicking on bad shape.
fn parse(msg: &str) -> Message {
    let rest = msg.strip_prefix('<').expect("PRI");
    let (pri, rest) = rest.split_once('>').expect("PRI end");
    let rest = rest.strip_prefix("1 ").expect("VERSION 1");
    let fields: Vec<&str> = rest.splitn(6, ' ').collect();
    let [time, host, app, procid, msgid, rest] = fields[..] else {
        panic!("header fields: {msg}")
    };
    assert!(
        time.ends_with('Z') && time.len() == 27,
        "TIMESTAMP µs UTC: {time}"
    );
    assert_eq!(app, "tmux-audit");
    assert_eq!(procid, std::process::id().to_string());
    // The SD element ends at the first `]` that is neither escaped nor inside quotes.
    assert!(rest.starts_with('['), "SD: {rest}");
    let (mut quoted, mut escaped, mut end) = (false, false, None);
    for (i, c) in rest.char_indices() {
        match (escaped, c) {
            (true, _) => escaped = false,
            (false, '\\') => escaped = true,
            (false, '"') => quoted = !quoted,
            (false, ']') if !quoted => {
                end = Some(i);
                break;
            }
            _ => {}
        }
    }
    let end = end.expect("SD end");
    let body = rest[end + 1..].strip_prefix(' ').expect("space before MSG");
    Message {
        pri: pri.parse().unwrap(),
        host: host.into(),
        msgid: msgid.into(),
        sd: rest[..=end].into(),
        json: serde_json::from_str(body).expect("MSG is the event's JSON"),
    }
}

/// Checks every stored event arrived once, in order, as a well-formed message.
fn check_all(received: &[String], stored: &[Stored]) {
    assert_eq!(received.len(), stored.len());
    for (msg, s) in received.iter().zip(stored) {
        let m = parse(msg);
        assert_eq!(m.json["seq"], s.seq);
        assert_eq!(m.json, serde_json::to_value(s).unwrap());
        assert_eq!(m.msgid, s.event.kind.as_str());
        assert!(
            m.sd.starts_with(&format!("[tmux-audit@32473 seq=\"{}\"", s.seq)),
            "{}",
            m.sd
        );
        assert!(m.pri / 8 == 10, "authpriv");
    }
}

/// A TCP receiver reading octet-counted frames from each connection it accepts.
fn tcp_receiver() -> (String, Received) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let received = Received::default();
    let got = received.clone();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let mut reader = BufReader::new(conn.unwrap());
            loop {
                let mut len = Vec::new();
                if reader.read_until(b' ', &mut len).unwrap_or(0) == 0 {
                    break;
                }
                let len: usize = std::str::from_utf8(&len[..len.len() - 1])
                    .unwrap()
                    .parse()
                    .expect("octet count");
                let mut msg = vec![0; len];
                reader.read_exact(&mut msg).unwrap();
                got.lock().unwrap().push(String::from_utf8(msg).unwrap());
            }
        }
    });
    (addr, received)
}

#[test]
fn tcp_octet_counted_messages_survive_hostile_values() {
    let mut store = TestStore::new();
    let (addr, received) = tcp_receiver();
    let mut hostile = event(
        Kind::PolicyViolation,
        "x\"] y=\"z\\\n<13>1 forged\u{1b}[2J\0",
    );
    hostile.client = Some("]]]\r\n".into());
    hostile.rule = Some("r".repeat(100_000));
    hostile.host = "bad host\nname".into();
    let mut alert = event(Kind::TmuxCommand, "s");
    alert.severity = Some(Severity::Alert);
    store.append_events(&[hostile, alert]);
    store.append(300);
    let forwarder = start(
        &store.path,
        vec![spec(&format!(
            "type = \"syslog\"\naddress = \"tcp://{addr}\""
        ))],
        &Reports::default(),
    );
    wait_until("302 frames", || received.lock().unwrap().len() >= 302);
    forwarder.stop();
    let received = received.lock().unwrap();
    check_all(&received, &store.all());
    let first = parse(&received[0]);
    assert_eq!(first.pri, 10 * 8 + 4, "policy-violation is a warning");
    assert_eq!(first.host, "bad_host_name");
    assert!(
        first
            .sd
            .contains("session=\"x\\\"\\] y=\\\"z\\\\\u{FFFD}<13>1 forged\u{FFFD}[2J\u{FFFD}\""),
        "{}",
        first.sd
    );
    assert!(
        first.sd.contains("client=\"\\]\\]\\]\u{FFFD}\u{FFFD}\""),
        "{}",
        first.sd
    );
    assert_eq!(
        first.json["rule"].as_str().unwrap().len(),
        100_000,
        "MSG keeps it whole"
    );
    assert_eq!(parse(&received[1]).pri, 10 * 8 + 1, "severity alert");
}

#[test]
fn udp_one_datagram_per_event() {
    let mut store = TestStore::new();
    let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let addr = socket.local_addr().unwrap();
    store.append(20);
    let forwarder = start(
        &store.path,
        vec![spec(&format!(
            "type = \"syslog\"\naddress = \"udp://{addr}\""
        ))],
        &Reports::default(),
    );
    let mut received = Vec::new();
    let mut buf = vec![0; 70_000];
    while received.len() < 20 {
        let n = socket.recv(&mut buf).expect("a datagram within 20 s");
        received.push(String::from_utf8(buf[..n].to_vec()).unwrap());
    }
    forwarder.stop();
    check_all(&received, &store.all());
}

#[test]
fn unix_datagram_socket_like_dev_log() {
    let mut store = TestStore::new();
    let path = store.dir.path().join("log.sock");
    let socket = UnixDatagram::bind(&path).unwrap();
    socket
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    store.append(20);
    let forwarder = start(
        &store.path,
        vec![spec(&format!(
            "type = \"syslog\"\naddress = \"unix://{}\"",
            path.display()
        ))],
        &Reports::default(),
    );
    let mut received = Vec::new();
    let mut buf = vec![0; 70_000];
    while received.len() < 20 {
        let n = socket.recv(&mut buf).expect("a datagram within 20 s");
        received.push(String::from_utf8(buf[..n].to_vec()).unwrap());
    }
    forwarder.stop();
    check_all(&received, &store.all());
}

#[test]
fn unix_stream_socket_gets_newline_framed_messages() {
    let mut store = TestStore::new();
    let path = store.dir.path().join("stream.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).unwrap();
    let received = Received::default();
    let got = received.clone();
    std::thread::spawn(move || {
        let (conn, _) = listener.accept().unwrap();
        for line in BufReader::new(conn).lines() {
            got.lock().unwrap().push(line.unwrap());
        }
    });
    let mut hostile = event(Kind::SessionRenamed, "two\nlines");
    hostile.window = Some("\r\n\u{85}".into());
    store.append_events(&[hostile]);
    store.append(10);
    let forwarder = start(
        &store.path,
        vec![spec(&format!(
            "type = \"syslog\"\naddress = \"unix://{}\"",
            path.display()
        ))],
        &Reports::default(),
    );
    wait_until("11 lines", || received.lock().unwrap().len() >= 11);
    forwarder.stop();
    check_all(&received.lock().unwrap(), &store.all());
}
