//! `[[sink]]` tables: the documented example parses as written, and bad values fail while the
//! TOML is read, with the line in the error.

use audit_core::Kind;
use audit_forward::{Facility, SinkKind, SinkSpec, SyslogAddress};
use std::path::Path;
use std::time::Duration;

#[derive(Debug, serde::Deserialize)]
struct Config {
    sink: Vec<SinkSpec>,
}

fn parse(text: &str) -> Result<Vec<SinkSpec>, String> {
    toml::from_str::<Config>(text)
        .map(|c| c.sink)
        .map_err(|e| e.to_string())
}

const EXAMPLE: &str = r#"
[[sink]]
type = "jsonl"                        # one event per line, the `log --json` form
path = "/var/log/tmux-audit/events.jsonl"

[[sink]]
type = "syslog"                       # RFC 5424
address = "tcp://127.0.0.1:6514"      # or udp://host:port, unix:///dev/log

[[sink]]
type = "webhook"                      # HTTP POST of JSON
url = "http://127.0.0.1:8080/audit"
"#;

#[test]
fn the_documented_example_parses_with_defaults() {
    let sinks = parse(EXAMPLE).unwrap();
    let names: Vec<&str> = sinks.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "jsonl:/var/log/tmux-audit/events.jsonl",
            "syslog:tcp://127.0.0.1:6514",
            "webhook:http://127.0.0.1:8080/audit"
        ]
    );
    assert!(sinks.iter().all(|s| s.kinds.is_none()));
    assert!(
        matches!(&sinks[0].kind, SinkKind::Jsonl { path } if path == Path::new("/var/log/tmux-audit/events.jsonl"))
    );
    match &sinks[1].kind {
        SinkKind::Syslog {
            address,
            facility,
            app_name,
        } => {
            assert_eq!(*address, SyslogAddress::Tcp("127.0.0.1:6514".into()));
            assert_eq!(*facility, Facility::Authpriv);
            assert_eq!(app_name, "tmux-audit");
        }
        other => panic!("{other:?}"),
    }
    match &sinks[2].kind {
        SinkKind::Webhook { url, timeout, .. } => {
            assert_eq!(url.as_str(), "http://127.0.0.1:8080/audit");
            assert_eq!(*timeout, Duration::from_secs(10));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn extensions_name_kinds_facility_headers_timeout() {
    let sinks = parse(
        r#"
[[sink]]
type = "syslog"
name = "siem"
address = "unix:///dev/log"
facility = "local3"
app_name = "audit"
kinds = ["policy-violation", "client-identity-mismatch"]

[[sink]]
type = "webhook"
url = "https://user:secret@hooks.example.com:8443/in?token=abc"
headers = { Authorization = "Bearer s3cret" }
timeout_secs = 3
"#,
    )
    .unwrap();
    assert_eq!(sinks[0].name, "siem");
    assert!(sinks[0].wants(Kind::PolicyViolation));
    assert!(!sinks[0].wants(Kind::ClientAttached));
    match &sinks[0].kind {
        SinkKind::Syslog {
            address,
            facility,
            app_name,
        } => {
            assert_eq!(*address, SyslogAddress::Unix("/dev/log".into()));
            assert_eq!(facility.code(), 19);
            assert_eq!(app_name, "audit");
        }
        other => panic!("{other:?}"),
    }
    // Credentials stay out of the default name and out of Debug.
    assert_eq!(sinks[1].name, "webhook:https://hooks.example.com:8443/in");
    let debug = format!("{:?}", sinks[1]);
    assert!(
        !debug.contains("secret") && !debug.contains("abc"),
        "{debug}"
    );
    assert!(debug.contains("authorization"), "{debug}");
}

/// Asserts `text` fails naming `line` and saying `why`.
fn fails_at(text: &str, line: usize, why: &str) {
    let err = parse(text).unwrap_err();
    assert!(
        err.contains(&format!("line {line}")),
        "no line {line} in: {err}"
    );
    assert!(err.contains(why), "{why:?} not in: {err}");
}

#[test]
fn bad_values_fail_with_their_line() {
    fails_at(
        "[[sink]]\ntype = \"syslog\"\naddress = \"tcp://127.0.0.1\"\n",
        3,
        "invalid syslog address \"tcp://127.0.0.1\": no port",
    );
    fails_at(
        "[[sink]]\ntype = \"syslog\"\naddress = \"http://x:1\"\n",
        3,
        "expected tcp://HOST:PORT",
    );
    fails_at(
        "[[sink]]\ntype = \"syslog\"\naddress = \"unix://dev/log\"\n",
        3,
        "must be absolute",
    );
    fails_at(
        "[[sink]]\ntype = \"webhook\"\nurl = \"ftp://x/y\"\n",
        3,
        "http:// or https://",
    );
    fails_at(
        "[[sink]]\ntype = \"jsonl\"\npath = \"/x\"\nkinds = [\"client-attached\", \"policy-violaton\"]\n",
        4,
        "unknown event kind \"policy-violaton\" (kinds: server-started,",
    );
    fails_at(
        "[[sink]]\ntype = \"syslog\"\naddress = \"udp://h:514\"\nfacility = \"local9\"\n",
        4,
        "unknown syslog facility",
    );
    fails_at("[[sink]]\ntype = \"kafka\"\n", 2, "unknown variant `kafka`");
    fails_at(
        "[[sink]]\ntype = \"jsonl\"\npath = \"/x\"\nadress = \"tcp://h:1\"\n",
        4,
        "unknown field `adress`",
    );
    fails_at(
        "[[sink]]\ntype = \"webhook\"\nurl = \"http://h/\"\ntimeout_secs = 0\n",
        4,
        "nonzero",
    );
}

#[test]
fn fields_of_another_type_or_missing_ones_are_refused() {
    let err =
        parse("[[sink]]\ntype = \"jsonl\"\npath = \"/x\"\nurl = \"http://h/\"\n").unwrap_err();
    assert!(err.contains("a jsonl sink has no `url`"), "{err}");
    assert!(err.contains("line "), "{err}");
    let err = parse("[[sink]]\ntype = \"webhook\"\n").unwrap_err();
    assert!(err.contains("a webhook sink needs `url`"), "{err}");
}

#[test]
fn a_collector_sink_ships_everything_over_https_or_to_loopback() {
    let sinks = parse(
        r#"
[[sink]]
type = "collector"
url = "https://audit.example:7700/"
token_file = "/etc/tmux-audit/host.token"
ca_file = "/etc/tmux-audit/ca.pem"

[[sink]]
type = "collector"
url = "http://127.0.0.1:7700"
token_file = "/t"

[[sink]]
type = "collector"
url = "http://audit.internal:7700"
token_file = "/t"
allow_plaintext = true
"#,
    )
    .unwrap();
    let names: Vec<&str> = sinks.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "collector:https://audit.example:7700",
            "collector:http://127.0.0.1:7700",
            "collector:http://audit.internal:7700"
        ]
    );
    match &sinks[0].kind {
        SinkKind::Collector {
            url,
            token_file,
            ca_file,
        } => {
            assert_eq!(url.join("/v1/head"), "https://audit.example:7700/v1/head");
            assert_eq!(token_file, Path::new("/etc/tmux-audit/host.token"));
            assert_eq!(
                ca_file.as_deref(),
                Some(Path::new("/etc/tmux-audit/ca.pem"))
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(sinks
        .iter()
        .all(|s| s.wants(Kind::PaneOutput) && s.kinds.is_none()));
}

#[test]
fn a_collector_sink_refuses_plaintext_off_loopback_kinds_and_credentials() {
    let one = |table: &str| parse(&format!("[[sink]]\ntype = \"collector\"\n{table}"));
    let err = one("url = \"http://audit.example:7700\"\ntoken_file = \"/t\"").unwrap_err();
    assert!(
        err.contains("allow_plaintext") && err.contains("line"),
        "{err}"
    );
    let err = one("url = \"https://a.example\"\ntoken_file = \"/t\"\nkinds = [\"pane-output\"]")
        .unwrap_err();
    assert!(err.contains("remove `kinds`"), "{err}");
    let err = one("url = \"https://u:secret@a.example\"\ntoken_file = \"/t\"").unwrap_err();
    assert!(err.contains("token_file"), "{err}");
    assert!(one("url = \"https://a.example\"")
        .unwrap_err()
        .contains("token_file"));
    assert!(one("url = \"https://a.example/?x=1\"\ntoken_file = \"/t\"").is_err());
    let err = one("url = \"https://a.example\"\ntoken_file = \"/t\"\nheaders = {}").unwrap_err();
    assert!(err.contains("has no `headers`"), "{err}");
    for loopback in ["http://localhost:1", "http://[::1]:1", "http://127.0.0.2:1"] {
        assert!(
            one(&format!("url = \"{loopback}\"\ntoken_file = \"/t\"")).is_ok(),
            "{loopback}"
        );
    }
}
