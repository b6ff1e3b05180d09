//! Config values that check themselves as they are deserialized, so TOML errors carry the line.

use audit_core::Kind;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use ureq::http::{HeaderName, HeaderValue, Uri};

/// Where a syslog sink sends: `tcp://HOST:PORT`, `udp://HOST:PORT` or `unix:///PATH`.
///
/// Host names are resolved at each connect, not here: DNS may not be up when the daemon starts.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum SyslogAddress {
    /// RFC 6587 octet-counted frames over TCP, reconnecting after a failure.
    Tcp(String),
    /// One datagram per message (no delivery guarantee: UDP has no acknowledgement).
    Udp(String),
    /// A local socket such as `/dev/log`: datagrams, or newline-framed if it is a stream socket.
    Unix(PathBuf),
}

impl TryFrom<String> for SyslogAddress {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let bad = |why: &str| {
            format!(
                "invalid syslog address {text:?}: {why} (expected tcp://HOST:PORT, \
                 udp://HOST:PORT or unix:///PATH)"
            )
        };
        if let Some(path) = text.strip_prefix("unix://") {
            if !path.starts_with('/') {
                return Err(bad("a unix socket path must be absolute"));
            }
            return Ok(SyslogAddress::Unix(PathBuf::from(path)));
        }
        let (tcp, host_port) = match (text.strip_prefix("tcp://"), text.strip_prefix("udp://")) {
            (Some(rest), _) => (true, rest),
            (_, Some(rest)) => (false, rest),
            _ => return Err(bad("unknown scheme")),
        };
        let Some((host, port)) = host_port.rsplit_once(':') else {
            return Err(bad("no port"));
        };
        let host_ok = !host.is_empty()
            && !host.contains(['/', '@', ' '])
            && (host.starts_with('[') == host.ends_with(']'));
        if !host_ok {
            return Err(bad("no valid host"));
        }
        match port.parse::<u16>() {
            Ok(p) if p > 0 => {}
            _ => return Err(bad("the port must be a number from 1 to 65535")),
        }
        let host_port = host_port.to_owned();
        Ok(if tcp {
            SyslogAddress::Tcp(host_port)
        } else {
            SyslogAddress::Udp(host_port)
        })
    }
}

impl fmt::Display for SyslogAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SyslogAddress::Tcp(a) => write!(f, "tcp://{a}"),
            SyslogAddress::Udp(a) => write!(f, "udp://{a}"),
            SyslogAddress::Unix(p) => write!(f, "unix://{}", p.display()),
        }
    }
}

/// A webhook endpoint: an `http://` or `https://` URL with a host.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct WebhookUrl(String);

impl WebhookUrl {
    /// The URL as configured (may hold credentials: do not log it).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The URL without user info or query, safe to name in logs, events and cursor keys.
    pub fn redacted(&self) -> String {
        match self.0.parse::<Uri>() {
            Ok(uri) => {
                let scheme = uri.scheme_str().unwrap_or("http");
                let host = uri.authority().map_or("", |a| a.as_str());
                let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
                format!("{scheme}://{host}{}", uri.path())
            }
            Err(_) => "(invalid url)".into(),
        }
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("WebhookUrl").field(&self.redacted()).finish()
    }
}

impl TryFrom<String> for WebhookUrl {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let uri: Uri = text
            .parse()
            .map_err(|e| format!("invalid webhook url {text:?}: {e}"))?;
        if !matches!(uri.scheme_str(), Some("http" | "https")) {
            return Err(format!(
                "invalid webhook url {text:?}: it must start with http:// or https://"
            ));
        }
        if uri.host().is_none_or(str::is_empty) {
            return Err(format!("invalid webhook url {text:?}: no host"));
        }
        Ok(WebhookUrl(text))
    }
}

/// The syslog facility of a sink's messages (RFC 5424 §6.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub enum Facility {
    /// `auth` (4).
    Auth,
    /// `authpriv` (10): the default, for security messages kept from ordinary users.
    Authpriv,
    /// `daemon` (3).
    Daemon,
    /// `user` (1).
    User,
    /// `local0` … `local7` (16-23): the number after `local`.
    Local(u8),
}

impl Facility {
    /// The facility's number in PRI.
    pub fn code(self) -> u8 {
        match self {
            Facility::User => 1,
            Facility::Daemon => 3,
            Facility::Auth => 4,
            Facility::Authpriv => 10,
            Facility::Local(n) => 16 + n,
        }
    }
}

impl TryFrom<String> for Facility {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        Ok(match text.as_str() {
            "auth" => Facility::Auth,
            "authpriv" => Facility::Authpriv,
            "daemon" => Facility::Daemon,
            "user" => Facility::User,
            local => match local
                .strip_prefix("local")
                .and_then(|n| n.parse::<u8>().ok())
            {
                Some(n) if n <= 7 => Facility::Local(n),
                _ => {
                    return Err(format!(
                        "unknown syslog facility {text:?} (facilities: auth, authpriv, daemon, \
                         user, local0 … local7)"
                    ))
                }
            },
        })
    }
}

/// A syslog APP-NAME: 1 to 48 printable ASCII characters, no spaces (RFC 5424 §6.2.5).
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "String")]
pub struct AppName(pub String);

impl TryFrom<String> for AppName {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let printable = text.bytes().all(|b| (33..=126).contains(&b));
        if text.is_empty() || text.len() > 48 || !printable {
            return Err(format!(
                "invalid app_name {text:?}: 1 to 48 printable ASCII characters, no spaces"
            ));
        }
        Ok(AppName(text))
    }
}

/// An event kind named in `kinds`; an unknown name fails and lists the known ones.
#[derive(Clone, Copy, Debug, Deserialize)]
#[serde(try_from = "String")]
pub struct KindName(pub Kind);

impl TryFrom<String> for KindName {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse().map(KindName).map_err(|e| e.to_string())
    }
}

/// Extra webhook request headers, checked to be valid HTTP. `Debug` hides the values (they
/// are usually credentials).
#[derive(Clone, Default, Deserialize)]
#[serde(try_from = "BTreeMap<String, String>")]
pub struct Headers(Vec<(HeaderName, HeaderValue)>);

impl Headers {
    /// The headers, in name order.
    pub fn iter(&self) -> impl Iterator<Item = (&HeaderName, &HeaderValue)> {
        self.0.iter().map(|(n, v)| (n, v))
    }
}

impl fmt::Debug for Headers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(self.0.iter().map(|(n, _)| (n.as_str(), "****")))
            .finish()
    }
}

impl TryFrom<BTreeMap<String, String>> for Headers {
    type Error = String;

    fn try_from(map: BTreeMap<String, String>) -> Result<Self, String> {
        let mut headers = Vec::with_capacity(map.len());
        for (name, value) in map {
            let header = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("invalid header name {name:?}"))?;
            if matches!(
                header.as_str(),
                "content-length" | "transfer-encoding" | "host"
            ) {
                return Err(format!(
                    "header {name:?} is set by the HTTP client, not the config"
                ));
            }
            let value = HeaderValue::from_str(&value).map_err(|_| {
                format!("header {name:?}: the value must be visible ASCII, no line breaks")
            })?;
            headers.push((header, value));
        }
        Ok(Headers(headers))
    }
}

/// A collector's base URL: `https://HOST[:PORT][/PREFIX]`, or `http://` to a loopback address
/// (or anywhere with `allow_plaintext = true`, behind a TLS proxy). No credentials (the token
/// lives in `token_file`) and no query, so the URL itself is safe to show and to name the sink.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CollectorUrl(String);

impl CollectorUrl {
    /// Checks `text`; `allow_plaintext` lets `http://` reach a non-loopback host.
    pub fn parse(text: &str, allow_plaintext: bool) -> Result<CollectorUrl, String> {
        let bad = |why: &str| format!("invalid collector url {text:?}: {why}");
        let uri: Uri = text.parse().map_err(|e| bad(&format!("{e}")))?;
        let host = uri
            .host()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad("no host"))?;
        if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
            return Err(bad(
                "no credentials in the url: the token goes in `token_file`",
            ));
        }
        if uri.query().is_some() {
            return Err(bad("no query"));
        }
        match uri.scheme_str() {
            Some("https") => {}
            Some("http") if allow_plaintext || is_loopback(host) => {}
            Some("http") => {
                return Err(bad(
                    "http:// sends the token and records unencrypted: use https://, a loopback \
                     address, or `allow_plaintext = true` behind a TLS proxy",
                ))
            }
            _ => return Err(bad("it must start with https:// (or http://)")),
        }
        Ok(CollectorUrl(text.trim_end_matches('/').to_owned()))
    }

    /// The URL of an endpoint (`/v1/head`) under this base.
    pub fn join(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }
}

impl fmt::Display for CollectorUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn is_loopback(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || bare
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}
