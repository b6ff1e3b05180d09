//! The real kernel connector: every short-lived program under a root is caught, with its
//! arguments exactly as bytes. Needs root (CI runs as root); unprivileged, the refusal itself
//! is what is checked.

use audit_proc::connector::{Connector, ConnectorError, ProcEvent};
use audit_proc::{Command, Ending, Tracker};
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::process::{Command as Process, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_micros() as i64
}

fn is_root() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Runs `script` in `sh`, held at a `read` until it is registered as a root, and returns the
/// commands seen under it until it exited and the connector went quiet.
fn commands_under(script: &str) -> Vec<Command<&'static str>> {
    let mut connector = Connector::listen().expect("root may listen");
    // As the daemon does: read /proc before a short command is gone.
    let param = libc::sched_param { sched_priority: 1 };
    // SAFETY: sched_setscheduler on this thread with valid arguments.
    unsafe {
        libc::sched_setscheduler(0, libc::SCHED_FIFO, &param);
    }
    let mut child = Process::new("sh")
        .arg("-c")
        .arg(format!("read go; {script}"))
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut tracker = Tracker::default();
    tracker.add_root(child.id(), "%9");
    child.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let mut out = Vec::new();
    let mut events = Vec::new();
    let root = child.id();
    let deadline = Instant::now() + Duration::from_secs(20);
    // Until the kernel reports the script's own exit: everything under it came before.
    let mut ended = false;
    while !ended && Instant::now() < deadline {
        if connector.wait(50).unwrap() {
            events.clear();
            match connector.recv(&mut events) {
                Ok(()) => {}
                Err(e) => panic!("events were lost: {e}"),
            }
            for e in events.drain(..) {
                ended |= matches!(e, ProcEvent::Exit { pid, .. } if pid == root);
                tracker.apply(e, now(), &mut out);
            }
        }
    }
    assert!(ended, "the script's exit was reported in time");
    child.wait().unwrap();
    out
}

#[test]
fn a_burst_of_short_commands_is_caught_whole_with_exact_arguments() {
    if !is_root() {
        assert!(matches!(
            Connector::listen(),
            Err(ConnectorError::NotPermitted(_))
        ));
        return;
    }
    let cwd = std::env::current_dir().unwrap();
    let commands = commands_under(r#"for i in $(seq 50); do /bin/true "arg $i"; done"#);
    let shown = || {
        commands
            .iter()
            .map(|c| (c.pid, c.info.argv.clone(), c.ending))
            .collect::<Vec<_>>()
    };
    // The loop's commands whose arguments were read; one gone before /proc was read is still a
    // command (pid, times, ending) without them.
    let trues: Vec<&Command<&str>> = commands
        .iter()
        .filter(|c| c.info.argv.as_ref().is_some_and(|a| a[0] == b"/bin/true"))
        .collect();
    let unread = commands.iter().filter(|c| c.info.argv.is_none()).count();
    // Besides the 50, only the script's own exec and its seq run here.
    assert!(
        (50..=52).contains(&(trues.len() + unread)),
        "{} read, {unread} unread: {:?}",
        trues.len(),
        shown()
    );
    let mut seen = Vec::new();
    for c in &trues {
        let argv = c.info.argv.as_ref().unwrap();
        let n: usize = std::str::from_utf8(&argv[1][4..]).unwrap().parse().unwrap();
        assert!(
            argv[1].starts_with(b"arg ") && (1..=50).contains(&n),
            "{argv:?}"
        );
        seen.push(n);
        assert_eq!(c.info.cwd.as_deref(), Some(cwd.as_os_str().as_bytes()));
        assert_eq!(c.info.uid, Some(0));
    }
    let mut distinct = seen.clone();
    distinct.dedup();
    assert_eq!(distinct, seen, "each once, in order");
    for c in &commands {
        assert_eq!(c.pane, "%9");
        assert!(c.ended >= c.started);
    }
    assert!(
        commands
            .iter()
            .filter(|c| c.ending == Ending::Exited(0))
            .count()
            >= 50,
        "{:?}",
        shown()
    );
    eprintln!("arguments read for {} of 50", trues.len());
    assert!(trues.len() > 25, "most are read in time: {:?}", shown());
}

#[test]
fn hostile_arguments_exit_codes_and_signals_are_kept_exactly() {
    if !is_root() {
        return assert!(Connector::listen().is_err());
    }
    let commands = commands_under(
        r#"sh -c 'sleep 0.2' "$(printf 'a\nb\033[31m\377')"; sh -c 'sleep 0.2; exit 7'; sh -c 'sleep 0.2; kill -9 $$' 2>/dev/null"#,
    );
    let hostile = commands
        .iter()
        .find(|c| c.info.argv.as_ref().is_some_and(|a| a.len() == 4))
        .expect("the sh with the hostile argument");
    assert_eq!(
        hostile.info.argv.as_ref().unwrap()[3],
        b"a\nb\x1b[31m\xff".to_vec()
    );
    let ending = |arg: &[u8]| {
        commands
            .iter()
            .find(|c| {
                c.info
                    .argv
                    .as_ref()
                    .is_some_and(|a| a.last().map(Vec::as_slice) == Some(arg))
            })
            .map(|c| c.ending)
    };
    assert_eq!(ending(b"sleep 0.2; exit 7"), Some(Ending::Exited(7)));
    assert_eq!(ending(b"sleep 0.2; kill -9 $$"), Some(Ending::Signalled(9)));
}

#[test]
fn processes_outside_the_roots_are_not_followed() {
    if !is_root() {
        return assert!(Connector::listen().is_err());
    }
    let mut connector = Connector::listen().unwrap();
    let mut tracker: Tracker<&str> = Tracker::default();
    let mut out = Vec::new();
    let outsider = Process::new("/bin/true").status().unwrap();
    assert!(outsider.success());
    let mut events = Vec::new();
    while connector.wait(200).unwrap() {
        connector.recv(&mut events).unwrap();
    }
    assert!(
        events.iter().any(|e| matches!(e, ProcEvent::Exec { .. })),
        "the connector saw the outsider's exec: {events:?}"
    );
    for e in events {
        tracker.apply(e, now(), &mut out);
    }
    assert!(out.is_empty(), "{out:?}");
}
