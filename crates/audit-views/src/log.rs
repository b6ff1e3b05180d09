//! The events themselves, as `log` lists them: a query of the log's arguments, and a page of
//! the records it admits.

use audit_core::{Kind, Stored, Timestamp};
use audit_store::{Filter, Reader, StoreError};

/// What `log` asks for: every field set narrows (see [`Filter`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// A session by any name it had, or its id (`$N`).
    pub session: Option<String>,
    /// Only these kinds (empty: every kind).
    pub kinds: Vec<Kind>,
    /// Only events naming this user.
    pub user: Option<String>,
    /// Only events at or after this time.
    pub since: Option<Timestamp>,
    /// Only events at or before this time.
    pub until: Option<Timestamp>,
}

impl LogQuery {
    /// The store filter that answers it.
    pub fn filter(&self) -> Filter {
        Filter {
            session: self.session.clone(),
            kinds: self.kinds.clone(),
            user: self.user.clone(),
            since: self.since,
            until: self.until,
            ..Filter::all()
        }
    }
}

/// A page of records.
#[derive(Debug)]
pub struct LogPage {
    /// How many records the filter admits in all.
    pub total: usize,
    /// Those from the page's offset on, oldest first.
    pub rows: Vec<Stored>,
}

/// The records `filter` admits, oldest first: all of them counted, those from `offset` kept,
/// at most `limit` (`None`: every one, as the CLI prints them).
pub fn rows(
    store: &dyn Reader,
    filter: &Filter,
    offset: usize,
    limit: Option<usize>,
) -> Result<LogPage, StoreError> {
    let mut total = 0;
    let mut rows = Vec::new();
    store.events(filter, &mut |s| {
        if total >= offset && limit.is_none_or(|l| rows.len() < l) {
            rows.push(s);
        }
        total += 1;
        true
    })?;
    Ok(LogPage { total, rows })
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit_core::Event;
    use audit_store::{Access, SqliteStore, Writer};

    #[test]
    fn a_page_counts_every_record_and_keeps_its_slice() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(&dir.path().join("a.db"), Access::Create).unwrap();
        let events: Vec<Event> = (1..=7)
            .map(|t| {
                let kind = if t % 2 == 0 {
                    Kind::ClientActive
                } else {
                    Kind::AuditStarted
                };
                Event::new(Timestamp::from_secs(t), kind, "h", "/s")
            })
            .collect();
        store.append(&events).unwrap();
        let q = LogQuery {
            kinds: vec![Kind::AuditStarted],
            ..LogQuery::default()
        };
        let page = rows(&store, &q.filter(), 1, Some(2)).unwrap();
        assert_eq!(page.total, 4);
        let times: Vec<i64> = page.rows.iter().map(|s| s.event.time.as_secs()).collect();
        assert_eq!(times, [3, 5]);
        let all = rows(&store, &Filter::all(), 0, None).unwrap();
        assert_eq!((all.total, all.rows.len()), (7, 7));
    }
}
