//! The timeline of acts, as `commands` lists them: each program a pane ran, each command line
//! a shell marked and each tmux command a client ran, oldest first by when it started, with who
//! did it — here, so that the CLI and the web UI attribute and filter the very same way.
//!
//! Acts are stored when they end; who could type is read as of when each started, from the
//! log folded up to then ([`Attributor`]). The daemon stamps who did it as it records; older
//! records are attributed here, from the same evidence.

use crate::acts::{place_of, text_of};
use audit_core::attribution::{Attribution, Attributor};
use audit_core::fold::World;
use audit_core::{Bytes, Kind, Stored, Timestamp};
use audit_store::{Filter, Reader, StoreError};
use serde::Serialize;
use thiserror::Error;

/// What `commands` asks for: every field set narrows.
#[derive(Clone, Debug, Default)]
pub struct CommandsQuery {
    /// Only this session: any name it had, or its id (`$N`).
    pub session: Option<String>,
    /// Only acts attributed to this user (exactly, or as a candidate).
    pub user: Option<String>,
    /// Only acts started at or after this time.
    pub since: Option<Timestamp>,
    /// Only acts started at or before this time.
    pub until: Option<Timestamp>,
    /// Only acts whose text (arguments joined by spaces, line as typed, or tmux command)
    /// matches.
    pub grep: Option<regex::bytes::Regex>,
    /// Only records of this host (`--host`).
    pub host: Option<String>,
    /// Only records of the server with this socket path (`-L`/`-S`).
    pub server: Option<String>,
}

/// Why the acts could not be listed.
#[derive(Debug, Error)]
pub enum CommandsError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// One act and who did it. Serializes as `commands --json` prints it: the record's fields,
/// plus `actor`, `attribution` and `candidates` when the record was stored unstamped.
#[derive(Clone, Debug)]
pub struct CommandRow {
    /// The record.
    pub stored: Stored,
    /// Who did it: as stamped in the record, or attributed here.
    pub who: Attribution,
    /// Whether `who` is the record's own stamp (then it is not repeated in the JSON).
    pub stamped: bool,
}

impl CommandRow {
    /// When the act started (a tmux command: when it ran).
    pub fn start(&self) -> Timestamp {
        start(&self.stored)
    }

    /// What was run: the arguments joined by spaces, the line as typed, or the tmux command
    /// (lossless text; escape it before showing it to a terminal).
    pub fn text(&self) -> String {
        Bytes(text_of(&self.stored.event)).lossless_text()
    }

    /// Where: `SESSION:%PANE`, the session alone, or `-`.
    pub fn place(&self) -> String {
        place_of(&self.stored.event)
    }
}

impl Serialize for CommandRow {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Json<'a> {
            #[serde(flatten)]
            stored: &'a Stored,
            #[serde(flatten, skip_serializing_if = "Option::is_none")]
            who: Option<&'a Attribution>,
        }
        Json {
            stored: &self.stored,
            who: (!self.stamped).then_some(&self.who),
        }
        .serialize(serializer)
    }
}

/// The acts `q` admits, oldest first by start (then `seq`).
pub fn rows(store: &dyn Reader, q: &CommandsQuery) -> Result<Vec<CommandRow>, CommandsError> {
    // The acts and what attributing them reads (who was attached, who typed last): an indexed
    // query that skips output, the bulk of any log. Not bounded in time: who was attached
    // at an act's start is folded from the beginning, and an act is stored when it ends.
    let mut kinds = World::KINDS.to_vec();
    kinds.extend([
        Kind::ClientActive,
        Kind::Command,
        Kind::ShellCommand,
        Kind::TmuxCommand,
    ]);
    let filter = Filter {
        host: q.host.clone(),
        server: q.server.clone(),
        ..Filter::kinds(&kinds)
    };
    let events = crate::log::rows(store, &filter, 0, None)?.rows;
    let mut acts: Vec<&Stored> = events
        .iter()
        .filter(|s| {
            matches!(
                s.event.kind,
                Kind::Command | Kind::ShellCommand | Kind::TmuxCommand
            )
        })
        .collect();
    acts.sort_by_key(|s| (start(s), s.seq));
    let mut attributor = Attributor::default();
    let mut next = 0;
    let mut rows = Vec::new();
    for c in acts {
        let at = start(c);
        while next < events.len() && events[next].event.time <= at {
            attributor.observe(&events[next].event);
            next += 1;
        }
        let e = &c.event;
        if q.since.is_some_and(|t| at < t) || q.until.is_some_and(|t| at > t) {
            continue;
        }
        if let Some(want) = &q.session {
            let named = e.session.as_deref() == Some(want.as_str())
                || e.session_id.as_deref() == Some(want.as_str())
                || e.session_id.as_ref().is_some_and(|id| {
                    attributor
                        .world()
                        .sessions
                        .get(&(e.server.clone(), id.clone()))
                        .is_some_and(|s| s.name == *want)
                });
            if !named {
                continue;
            }
        }
        let stamped = Attribution::stored(e);
        if let Some(re) = &q.grep {
            if !re.is_match(&text_of(e)) {
                continue;
            }
        }
        let row = CommandRow {
            stamped: stamped.is_some(),
            who: stamped.unwrap_or_else(|| attributor.attribute(e, true)),
            stored: c.clone(),
        };
        if q.user
            .as_ref()
            .is_some_and(|u| !row.who.candidates.contains(u))
        {
            continue;
        }
        rows.push(row);
    }
    Ok(rows)
}

fn start(s: &Stored) -> Timestamp {
    s.event.from.unwrap_or(s.event.time)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::ev;
    use audit_store::{Access, SqliteStore, Writer};

    fn store_with_acts(dir: &std::path::Path) -> SqliteStore {
        let mut store = SqliteStore::open(&dir.join("a.db"), Access::Create).unwrap();
        let mut attached = ev(2, Kind::ClientAttached);
        attached.client = Some("/dev/pts/1".into());
        attached.user = Some("alice".into());
        attached.uid = Some(1000);
        let mut renamed = ev(3, Kind::SessionRenamed);
        renamed.session = Some("web".into());
        // Stored when it ended, at 9; it started at 4, while alice alone was attached.
        let mut ls = ev(9, Kind::Command);
        ls.session = Some("web".into());
        ls.pane_id = Some("%0".into());
        ls.from = Some(Timestamp::from_secs(4));
        ls.until = Some(Timestamp::from_secs(9));
        ls.argv = Some(vec![Bytes(b"ls".to_vec()), Bytes(b"-la".to_vec())]);
        ls.exit_code = Some(0);
        // A record that names its session by id alone: found by the name it had then.
        let mut drop = ev(6, Kind::ShellCommand);
        drop.session = None;
        drop.pane_id = Some("%0".into());
        drop.line = Some(Bytes(b"psql -c 'drop table x'".to_vec()));
        drop.actor = Some("bob".into());
        drop.attribution = Some(audit_core::attribution::Confidence::Exact);
        drop.candidates = Some(vec!["bob".into()]);
        store
            .append(&[ev(1, Kind::SessionCreated), attached, renamed, drop, ls])
            .unwrap();
        store
    }

    #[test]
    fn acts_are_ordered_by_start_and_attributed_from_who_was_attached_then() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_acts(dir.path());
        let all = rows(&store, &CommandsQuery::default()).unwrap();
        let shown: Vec<(i64, String, Option<String>, bool)> = all
            .iter()
            .map(|r| {
                (
                    r.start().as_secs(),
                    r.text(),
                    r.who.actor.clone(),
                    r.stamped,
                )
            })
            .collect();
        assert_eq!(
            shown,
            [
                (4, "ls -la".into(), Some("alice".into()), false),
                (6, "psql -c 'drop table x'".into(), Some("bob".into()), true),
            ]
        );
        assert_eq!(all[0].place(), "web:%0");
        // Unstamped: the JSON carries who was inferred; stamped: the record's own fields.
        let json = serde_json::to_value(&all[0]).unwrap();
        assert_eq!(json["actor"], "alice");
        assert_eq!(json["attribution"], "exact");
        assert_eq!(json["seq"], 5);
        let json = serde_json::to_string(&all[1]).unwrap();
        assert_eq!(json.matches("\"actor\"").count(), 1, "{json}");
    }

    #[test]
    fn filters_narrow_by_session_name_user_time_and_text() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_acts(dir.path());
        let texts = |q: CommandsQuery| -> Vec<String> {
            rows(&store, &q).unwrap().iter().map(|r| r.text()).collect()
        };
        // The session by the name it had then (renamed before both acts), and by its id.
        let web = texts(CommandsQuery {
            session: Some("web".into()),
            ..CommandsQuery::default()
        });
        assert_eq!(web, ["ls -la", "psql -c 'drop table x'"]);
        let by_id = texts(CommandsQuery {
            session: Some("$1".into()),
            ..CommandsQuery::default()
        });
        assert_eq!(by_id, web);
        let none = texts(CommandsQuery {
            session: Some("other".into()),
            ..CommandsQuery::default()
        });
        assert!(none.is_empty());
        let alice = texts(CommandsQuery {
            user: Some("alice".into()),
            ..CommandsQuery::default()
        });
        assert_eq!(alice, ["ls -la"]);
        let late = texts(CommandsQuery {
            since: Some(Timestamp::from_secs(5)),
            ..CommandsQuery::default()
        });
        assert_eq!(late, ["psql -c 'drop table x'"]);
        let grep = texts(CommandsQuery {
            grep: Some(regex::bytes::Regex::new("(?i)DROP").unwrap()),
            ..CommandsQuery::default()
        });
        assert_eq!(grep, ["psql -c 'drop table x'"]);
    }
}
