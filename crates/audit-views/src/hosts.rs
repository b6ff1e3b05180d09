//! A location opened as the hosts whose records it holds, one store each: what every view reads
//! before it folds anything.
//!
//! A host's own store (SQLite) is one host. A central store (PostgreSQL) holds one chain per
//! enrolled host and is opened once per host, scoped to its chain, so that a fold (who was
//! where, each session's life) never mixes two hosts: their servers may share a socket path.

use crate::show::escape;
use audit_store::{Access, EventStore, Filter, Location, StoreError};

/// One host's records, as a view reads them.
pub struct HostStore {
    /// The enrolled host, for a central store (views then name it in what they show); `None`
    /// for a host's own store.
    pub host: Option<String>,
    /// Where to read them (and record a view of them).
    pub location: Location,
    /// The store (on a central store, scoped to this host's chain).
    pub store: Box<dyn EventStore>,
}

/// Why a location's hosts could not be opened as asked.
#[derive(Debug, thiserror::Error)]
pub enum HostsError {
    /// The store could not be opened or read.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The host asked for has no records in this store.
    #[error("{}", unknown_host(name, known, *central))]
    UnknownHost {
        /// The name asked for.
        name: String,
        /// The hosts the store holds records of.
        known: Vec<String>,
        /// Whether the store is a central one.
        central: bool,
    },
    /// One host was needed and the store holds none.
    #[error("the store holds no host's records yet")]
    NoHost,
    /// One host was needed and the store holds several.
    #[error("the store holds the records of several hosts ({}): name one with --host", .0.join(", "))]
    SeveralHosts(Vec<String>),
}

fn unknown_host(name: &str, known: &[String], central: bool) -> String {
    let known: Vec<String> = known.iter().map(|h| escape(h)).collect();
    if central {
        let known = if known.is_empty() {
            "no host yet".to_owned()
        } else {
            known.join(", ")
        };
        format!(
            "unknown host {}: the central store holds records of {known}",
            escape(name)
        )
    } else {
        format!(
            "unknown host {}: this store holds records of {} only (a fleet's hosts are in its central store: --db postgres://…)",
            escape(name),
            known.join(", ")
        )
    }
}

/// The hosts of `location`, each opened with `access`: a host's own store is one (`host`, when
/// given, must be a name it recorded under); a central store is one per enrolled host, only
/// `host`'s when given.
pub fn open(
    location: &Location,
    host: Option<&str>,
    access: Access,
) -> Result<Vec<HostStore>, HostsError> {
    let store = audit_store::open(location, access)?;
    let Location::Postgres(_) = location else {
        if let Some(want) = host {
            if !records_host(store.as_ref(), want)? {
                return Err(HostsError::UnknownHost {
                    name: want.to_owned(),
                    known: store.hosts()?,
                    central: false,
                });
            }
        }
        return Ok(vec![HostStore {
            host: None,
            location: location.clone(),
            store,
        }]);
    };
    let known = store.hosts()?;
    drop(store);
    let hosts = match host {
        Some(want) if !known.iter().any(|h| h == want) => {
            return Err(HostsError::UnknownHost {
                name: want.to_owned(),
                known,
                central: true,
            })
        }
        Some(want) => vec![want.to_owned()],
        None => known,
    };
    hosts
        .into_iter()
        .map(|host| {
            let location = location.on_host(host.clone());
            let store = audit_store::open(&location, access)?;
            Ok(HostStore {
                host: Some(host),
                location,
                store,
            })
        })
        .collect()
}

/// The one host a view of one pane reads (`host` names it on a central store of many).
pub fn open_one(
    location: &Location,
    host: Option<&str>,
    access: Access,
) -> Result<HostStore, HostsError> {
    let mut hosts = open(location, host, access)?;
    match hosts.len() {
        1 => Ok(hosts.remove(0)),
        0 => Err(HostsError::NoHost),
        _ => Err(HostsError::SeveralHosts(
            hosts.iter().filter_map(|h| h.host.clone()).collect(),
        )),
    }
}

/// Whether a host's own store holds any record made under the name `host`.
fn records_host(store: &dyn EventStore, host: &str) -> Result<bool, StoreError> {
    let mut known = false;
    store.events(
        &Filter {
            host: Some(host.to_owned()),
            ..Filter::all()
        },
        &mut |_| {
            known = true;
            false
        },
    )?;
    Ok(known)
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_core::{Event, Kind, Timestamp};
    use audit_store::{SqliteStore, Writer};

    #[test]
    fn a_host_store_is_one_host_and_refuses_a_name_it_never_recorded_under() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("audit.db");
        let mut store = SqliteStore::open(&db, Access::Create).unwrap();
        store
            .append(&[Event::new(
                Timestamp::from_secs(1),
                Kind::AuditStarted,
                "web1",
                "",
            )])
            .unwrap();
        drop(store);
        let location = Location::Sqlite(db);
        let hosts = open(&location, None, Access::ReadOnly).unwrap();
        assert_eq!(hosts.len(), 1);
        assert_eq!(hosts[0].host, None);
        assert!(open_one(&location, Some("web1"), Access::ReadOnly).is_ok());
        let err = open(&location, Some("db\x1b2"), Access::ReadOnly)
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "unknown host db\\e2: this store holds records of web1 only (a fleet's hosts are in its central store: --db postgres://…)"
        );
    }
}
