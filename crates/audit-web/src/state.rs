//! What the server keeps between requests: the config, the logins, the stores of the hosts
//! shown (each with its session index, kept up to date incrementally), the store access
//! events are written to, and the panes being watched live.

use crate::auth::limit::FailedLogins;
use crate::auth::logins::Logins;
use crate::config::Config;
use crate::http::ApiError;
use audit_core::Event;
use audit_store::{Access, EventStore, Filter, Location, StoreError};
use audit_views::hosts::{self, HostStore};
use audit_views::sessions::SessionIndex;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How often a central store is asked whether hosts were enrolled since.
const HOSTS_RECHECK: Duration = Duration::from_secs(10);

/// The server's state, shared by every request.
pub(crate) struct State {
    /// As started.
    pub config: Config,
    /// The auditors' group.
    pub auditors_gid: u32,
    /// Whether answers go over TLS (cookies are then `Secure`).
    pub tls: bool,
    /// Who is logged in.
    pub logins: Mutex<Logins>,
    /// Failed logins, per address and user.
    pub failed: Mutex<FailedLogins>,
    /// The hosts shown.
    pub hosts: Mutex<Hosts>,
    /// Where access events are appended (opened on first use, again after a failure).
    recorder: Mutex<Option<Box<dyn EventStore>>>,
    /// The panes watched live, by login and pane.
    pub watches: Mutex<HashMap<crate::api::live::WatchKey, Arc<Mutex<crate::api::live::Watched>>>>,
}

/// A host shown: its store, and its sessions folded so far.
pub(crate) struct Host {
    /// Its store.
    pub store: HostStore,
    /// Its sessions.
    pub index: SessionIndex,
}

/// The hosts of the store shown, each behind its own lock (a long search on one host does not
/// hold up another's pages).
pub(crate) struct Hosts {
    location: Location,
    list: Vec<(Option<String>, Arc<Mutex<Host>>)>,
    checked: Instant,
}

impl Hosts {
    /// Opens every host of `location`.
    pub fn open(location: &Location) -> Result<Hosts, hosts::HostsError> {
        let mut h = Hosts {
            location: location.clone(),
            list: Vec::new(),
            checked: Instant::now(),
        };
        h.reload()?;
        Ok(h)
    }

    fn reload(&mut self) -> Result<(), hosts::HostsError> {
        let known: Vec<Option<String>> = self.list.iter().map(|(n, _)| n.clone()).collect();
        for store in hosts::open(&self.location, None, Access::ReadOnly)? {
            if !known.contains(&store.host) {
                let index = SessionIndex::new(store.host.clone(), Filter::all());
                let name = store.host.clone();
                self.list
                    .push((name, Arc::new(Mutex::new(Host { store, index }))));
            }
        }
        self.list.sort_by(|a, b| a.0.cmp(&b.0));
        self.checked = Instant::now();
        Ok(())
    }

    /// Whether the store is a fleet's central one.
    pub fn central(&self) -> bool {
        matches!(self.location, Location::Postgres(_))
    }

    /// The hosts' names (a host's own store: none).
    pub fn names(&self) -> Vec<String> {
        self.list.iter().filter_map(|(n, _)| n.clone()).collect()
    }

    /// The hosts a request names: `host` alone (an error when unknown), else every host.
    /// A central store is asked now and then whether hosts were enrolled since.
    pub fn select(&mut self, host: Option<&str>) -> Result<Vec<Arc<Mutex<Host>>>, ApiError> {
        let known = |list: &[(Option<String>, Arc<Mutex<Host>>)]| {
            host.is_none_or(|h| list.iter().any(|(n, _)| n.as_deref() == Some(h)))
        };
        if self.central() && (!known(&self.list) || self.checked.elapsed() > HOSTS_RECHECK) {
            self.reload()?;
        }
        match host {
            None => Ok(self.list.iter().map(|(_, h)| h.clone()).collect()),
            Some(want) if !self.central() => Err(ApiError::NotFound(format!(
                "unknown host {}: this is a host's own store (a fleet's hosts are shown from its central store)",
                audit_views::show::escape(want)
            ))),
            Some(want) => self
                .list
                .iter()
                .find(|(n, _)| n.as_deref() == Some(want))
                .map(|(_, h)| vec![h.clone()])
                .ok_or_else(|| {
                    ApiError::NotFound(format!(
                        "unknown host {}: the central store holds records of {}",
                        audit_views::show::escape(want),
                        self.names().join(", ")
                    ))
                }),
        }
    }

    /// The one host a view of one pane or session reads: `host`, or the only one.
    pub fn one(&mut self, host: Option<&str>) -> Result<Arc<Mutex<Host>>, ApiError> {
        let mut hosts = self.select(host)?;
        match hosts.len() {
            1 => Ok(hosts.remove(0)),
            0 => Err(ApiError::NotFound(
                "the store holds no host's records yet".into(),
            )),
            _ => Err(ApiError::BadRequest(
                "the central store holds several hosts: name one with host=".into(),
            )),
        }
    }
}

impl State {
    /// The state of a server started with `config`.
    pub fn new(config: Config, auditors_gid: u32, tls: bool) -> Result<State, hosts::HostsError> {
        Ok(State {
            hosts: Mutex::new(Hosts::open(&config.location)?),
            logins: Mutex::new(Logins::new(config.idle, config.lifetime)),
            failed: Mutex::new(FailedLogins::new()),
            recorder: Mutex::new(None),
            watches: Mutex::new(HashMap::new()),
            config,
            auditors_gid,
            tls,
        })
    }

    /// Folds every host's sessions now, on a thread of its own, so the first visitor does not
    /// wait for it (a central store of a million events takes seconds); a request meanwhile
    /// waits for its host's fold, as it would have folded it itself.
    pub fn warm_up(self: &Arc<Self>) {
        let state = self.clone();
        let started = std::thread::Builder::new()
            .name("audit-web-warm".into())
            .spawn(move || {
                let hosts = match lock(&state.hosts).select(None) {
                    Ok(hosts) => hosts,
                    Err(e) => return tracing::warn!("cannot fold the sessions at start: {e:?}"),
                };
                for host in hosts {
                    let mut host = lock(&host);
                    let host = &mut *host;
                    if let Err(e) = host.index.refresh(host.store.store.as_ref()) {
                        tracing::warn!("cannot fold the sessions at start: {e}");
                    }
                }
            });
        if let Err(e) = started {
            tracing::warn!("cannot fold the sessions at start: {e}");
        }
    }

    /// Appends an access event; the caller refuses the view when this fails.
    pub fn record(&self, event: Event) -> Result<(), ApiError> {
        let mut recorder = lock(&self.recorder);
        let appended = (|| -> Result<(), StoreError> {
            if recorder.is_none() {
                let target = audit_views::access::target(&self.config.location);
                *recorder = Some(audit_store::open(&target, Access::Create)?);
            }
            recorder.as_mut().expect("opened above").append(&[event])?;
            Ok(())
        })();
        appended.map_err(|e| {
            // Opened again next time: the store may be back (disk freed, database up).
            *recorder = None;
            tracing::error!("cannot record a view in the audit log: {e}");
            ApiError::Unavailable(format!(
                "refused: this access could not be recorded in the audit log ({e})"
            ))
        })
    }
}

/// Locks `m`, also after a panic elsewhere poisoned it (what it guards stays consistent: each
/// change is one assignment or one fold step).
pub(crate) fn lock<T: ?Sized>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
