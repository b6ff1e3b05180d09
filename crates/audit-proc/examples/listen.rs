//! A bare listener to the kernel's process events, for `bench/run-commands`: the floor of what
//! listening costs a fork-heavy workload, with nothing recorded.
//!
//! `listen` subscribes exactly as the daemon's commands thread does (same socket, buffer and
//! BPF filter, same real-time priority), reads and decodes every event, and does nothing else.
//! `listen --read-proc` also reads `/proc/PID` at each exec, as the daemon's tracker does for a
//! followed process. On SIGTERM or SIGINT it prints what it read and exits 0. Needs root.

use audit_proc::connector::{Connector, ProcEvent};
use std::sync::atomic::{AtomicBool, Ordering};

fn main() {
    let read_proc = std::env::args().any(|a| a == "--read-proc");
    for signal in [libc::SIGTERM, libc::SIGINT] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe {
            libc::signal(
                signal,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            )
        };
    }
    let mut connector = match Connector::listen() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("listen: {e}");
            std::process::exit(2);
        }
    };
    let param = libc::sched_param { sched_priority: 1 };
    // SAFETY: sched_setscheduler on this thread with a valid parameter; failure is harmless.
    unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) };
    println!("ready");
    let (mut events, mut execs, mut read) = (0u64, 0u64, 0u64);
    let mut batch = Vec::new();
    let root = std::path::Path::new("/proc");
    while !STOP.load(Ordering::Relaxed) {
        match connector.wait(200) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(_) => continue,
        }
        // Everything queued, as the daemon reads it.
        loop {
            batch.clear();
            match connector.try_recv(&mut batch) {
                Ok(true) => {}
                Ok(false) => break,
                Err(_) => continue,
            }
            for e in batch.drain(..) {
                events += 1;
                if let ProcEvent::Exec { pid } = e {
                    execs += 1;
                    if read_proc && audit_proc::procfs::read(root, pid).argv.is_some() {
                        read += 1;
                    }
                }
            }
        }
    }
    println!("events {events} execs {execs} argv-read {read}");
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}
