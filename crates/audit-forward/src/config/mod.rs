//! The `[[sink]]` tables of the daemon's config, checked while they are deserialized.
//!
//! Every value is parsed by its own type ([`SyslogAddress`], [`WebhookUrl`], [`Facility`], a
//! kind name, [`Headers`]), so a bad value fails inside the TOML deserializer and its error
//! points at the line. Which fields belong to which `type` is checked once the table is read.
//!
//! ```toml
//! [[sink]]
//! type = "syslog"                     # jsonl | syslog | webhook | collector
//! address = "tcp://127.0.0.1:6514"    # or udp://host:port, unix:///dev/log
//! kinds = ["policy-violation"]        # optional: forward only these kinds
//!
//! [[sink]]
//! type = "collector"                  # ships every record, with its chunk, to a fleet's center
//! url = "https://audit.example:7700"  # http:// only to a loopback address, or allow_plaintext
//! token_file = "/etc/tmux-audit/host.token"
//! ca_file = "/etc/tmux-audit/ca.pem"  # optional: trust this CA for the collector's TLS
//! ```

mod values;

pub use values::{AppName, CollectorUrl, Facility, Headers, KindName, SyslogAddress, WebhookUrl};

use audit_core::Kind;
use serde::Deserialize;
use std::collections::BTreeSet;
use std::num::NonZeroU64;
use std::path::PathBuf;
use std::time::Duration;

/// One configured sink: where events go, under which cursor name, and which kinds.
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "RawSink")]
pub struct SinkSpec {
    /// The sink's cursor key in the store, and its name in `sink-failed` events. Defaults to
    /// the type and target (`syslog:tcp://127.0.0.1:6514`; a webhook's without credentials or
    /// query). Renaming a sink starts it again from the first event.
    pub name: String,
    /// Only these kinds are sent (others are passed over, and the cursor moves past them);
    /// `None`: every kind.
    pub kinds: Option<BTreeSet<Kind>>,
    /// Where and how.
    pub kind: SinkKind,
}

/// Where a sink sends events, and in what form.
#[derive(Clone, Debug)]
pub enum SinkKind {
    /// Appends one JSON object per line (the `log --json` form) to a file, fsynced per batch.
    Jsonl {
        /// The file (created owner-only, with its folders).
        path: PathBuf,
    },
    /// RFC 5424 messages to a syslog receiver.
    Syslog {
        /// Transport and receiver.
        address: SyslogAddress,
        /// The facility in each message's PRI (default `authpriv`).
        facility: Facility,
        /// APP-NAME (default `tmux-audit`).
        app_name: String,
    },
    /// One HTTP POST of the event's JSON object per event.
    Webhook {
        /// The endpoint.
        url: WebhookUrl,
        /// Extra request headers (values hidden in `Debug`).
        headers: Headers,
        /// How long one request may take in all.
        timeout: Duration,
    },
    /// Every record, with its chunk, to a central collector (`audit-collector`), which
    /// acknowledges what it holds: the sink resumes from the collector's head, not only its
    /// cursor. Never filtered by `kinds` (the center re-checks the whole chain).
    Collector {
        /// The collector's base URL (no credentials, no query).
        url: CollectorUrl,
        /// The file holding this host's bearer token, read when the forwarder starts.
        token_file: PathBuf,
        /// A PEM file of certificates to trust for the collector's TLS (instead of the bundled
        /// Mozilla roots).
        ca_file: Option<PathBuf>,
    },
}

impl SinkSpec {
    /// Whether this sink forwards events of `kind`.
    pub fn wants(&self, kind: Kind) -> bool {
        self.kinds.as_ref().is_none_or(|k| k.contains(&kind))
    }
}

/// The table as written; [`SinkSpec`] is what it means.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSink {
    #[serde(rename = "type")]
    kind: SinkType,
    name: Option<String>,
    kinds: Option<Vec<KindName>>,
    path: Option<PathBuf>,
    address: Option<SyslogAddress>,
    facility: Option<Facility>,
    app_name: Option<AppName>,
    url: Option<WebhookUrl>,
    headers: Option<Headers>,
    timeout_secs: Option<NonZeroU64>,
    token_file: Option<PathBuf>,
    ca_file: Option<PathBuf>,
    allow_plaintext: Option<bool>,
}

#[derive(Clone, Copy, Deserialize)]
#[serde(rename_all = "lowercase")]
enum SinkType {
    Jsonl,
    Syslog,
    Webhook,
    Collector,
}

impl TryFrom<RawSink> for SinkSpec {
    type Error = String;

    fn try_from(raw: RawSink) -> Result<Self, String> {
        let (type_name, required, allowed): (_, _, &[&str]) = match raw.kind {
            SinkType::Jsonl => ("jsonl", "path", &["path"]),
            SinkType::Syslog => ("syslog", "address", &["address", "facility", "app_name"]),
            SinkType::Webhook => ("webhook", "url", &["url", "headers", "timeout_secs"]),
            SinkType::Collector => (
                "collector",
                "url",
                &["url", "token_file", "ca_file", "allow_plaintext"],
            ),
        };
        let given = [
            ("path", raw.path.is_some()),
            ("address", raw.address.is_some()),
            ("facility", raw.facility.is_some()),
            ("app_name", raw.app_name.is_some()),
            ("url", raw.url.is_some()),
            ("headers", raw.headers.is_some()),
            ("timeout_secs", raw.timeout_secs.is_some()),
            ("token_file", raw.token_file.is_some()),
            ("ca_file", raw.ca_file.is_some()),
            ("allow_plaintext", raw.allow_plaintext.is_some()),
        ];
        for (field, present) in given {
            if present && !allowed.contains(&field) {
                return Err(format!(
                    "a {type_name} sink has no `{field}` (it takes: {}, plus name and kinds)",
                    allowed.join(", ")
                ));
            }
        }
        let missing = || format!("a {type_name} sink needs `{required}`");
        if matches!(raw.kind, SinkType::Collector) && raw.kinds.is_some() {
            return Err(
                "a collector sink ships every record (the center checks the whole \
                        chain): remove `kinds`"
                    .into(),
            );
        }
        let kind = match raw.kind {
            SinkType::Jsonl => SinkKind::Jsonl {
                path: raw.path.ok_or_else(missing)?,
            },
            SinkType::Syslog => SinkKind::Syslog {
                address: raw.address.ok_or_else(missing)?,
                facility: raw.facility.unwrap_or(Facility::Authpriv),
                app_name: raw.app_name.map_or_else(|| "tmux-audit".into(), |a| a.0),
            },
            SinkType::Webhook => SinkKind::Webhook {
                url: raw.url.ok_or_else(missing)?,
                headers: raw.headers.unwrap_or_default(),
                timeout: Duration::from_secs(raw.timeout_secs.map_or(10, NonZeroU64::get)),
            },
            SinkType::Collector => {
                let url = CollectorUrl::parse(
                    raw.url.ok_or_else(missing)?.as_str(),
                    raw.allow_plaintext.unwrap_or(false),
                )?;
                SinkKind::Collector {
                    url,
                    token_file: raw
                        .token_file
                        .ok_or("a collector sink needs `token_file` (the host's token)")?,
                    ca_file: raw.ca_file,
                }
            }
        };
        let name = match raw.name {
            Some(name) if name.trim().is_empty() => return Err("a sink's `name` is empty".into()),
            Some(name) => name,
            None => default_name(&kind),
        };
        Ok(SinkSpec {
            name,
            kinds: raw.kinds.map(|k| k.into_iter().map(|k| k.0).collect()),
            kind,
        })
    }
}

/// `type:target`, never with a webhook's credentials or query (names are stored and reported).
fn default_name(kind: &SinkKind) -> String {
    match kind {
        SinkKind::Jsonl { path } => format!("jsonl:{}", path.display()),
        SinkKind::Syslog { address, .. } => format!("syslog:{address}"),
        SinkKind::Webhook { url, .. } => format!("webhook:{}", url.redacted()),
        SinkKind::Collector { url, .. } => format!("collector:{url}"),
    }
}
