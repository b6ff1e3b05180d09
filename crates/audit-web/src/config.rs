//! What the web UI is started with.

use audit_http::TlsFiles;
use audit_store::Location;
use std::net::SocketAddr;
use std::time::Duration;

/// The port the web UI listens on unless told otherwise.
pub const DEFAULT_PORT: u16 = 7681;

/// How the web UI serves, whom it lets in, and what it shows.
#[derive(Clone)]
pub struct Config {
    /// Address and port (port 0: any free one; [`crate::Web::local_addr`] tells which).
    pub listen: SocketAddr,
    /// TLS certificate and key; without them plain HTTP, allowed only on loopback unless
    /// [`Config::allow_plaintext`].
    pub tls: Option<TlsFiles>,
    /// Serve plain HTTP on a non-loopback address (behind a TLS-terminating proxy).
    pub allow_plaintext: bool,
    /// Only members of this group may log in: auditors are named by the system's groups, not
    /// by a user list of the web UI's own.
    pub auditors_group: String,
    /// The PAM service passwords are checked with (`/etc/pam.d/<service>`; Linux-PAM uses
    /// `/etc/pam.d/other` when that file does not exist).
    pub pam_service: String,
    /// The store shown: a host's own SQLite store, or a fleet's central PostgreSQL store.
    pub location: Location,
    /// This host's name, recorded in the access events the web UI writes.
    pub host_name: String,
    /// The verification key (`seal init` printed it): the integrity page checks the seals
    /// with it. Without it the seals are listed, not checked.
    pub key: Option<audit_core::seal::VerificationKey>,
    /// A login ends after this long without a request.
    pub idle: Duration,
    /// And after this long in any case.
    pub lifetime: Duration,
}

impl Config {
    /// The defaults for `location`: loopback port 7681, group and PAM service `tmux-audit`,
    /// logins ending after 30 minutes idle or 12 hours.
    pub fn new(location: Location, host_name: String) -> Config {
        Config {
            listen: SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)),
            tls: None,
            allow_plaintext: false,
            auditors_group: "tmux-audit".into(),
            pam_service: "tmux-audit".into(),
            location,
            host_name,
            key: None,
            idle: Duration::from_secs(30 * 60),
            lifetime: Duration::from_secs(12 * 3600),
        }
    }
}
