//! Pane output capture: `tmux-audit pane-pipe`, run by tmux's `pipe-pane`, keeps every byte a
//! pane wrote, exactly and in order, with when it was read; a full disk loses output it then
//! accounts for, and never stops the copy.

use crate::support::*;
use audit_capture::spool::{Reader, Record};
use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// The spool's output, lost bytes and record times; the copier must have left no record cut
/// short.
fn read_spool(path: &Path) -> (Vec<u8>, u64, Vec<i64>) {
    let (read, truncated) = read_spool_so_far(path);
    assert!(!truncated, "no record cut short");
    read
}

/// What the spool holds so far, and whether its last record is still being written (the
/// copier may be in the middle of one while a test looks).
fn read_spool_so_far(path: &Path) -> ((Vec<u8>, u64, Vec<i64>), bool) {
    let mut reader = Reader::new(std::fs::File::open(path).expect("open spool")).expect("a spool");
    let (mut output, mut lost, mut times) = (Vec::new(), 0u64, Vec::new());
    while let Some(record) = reader.next_record().expect("readable spool") {
        match record {
            Record::Output { time, bytes } => {
                times.push(time);
                output.extend_from_slice(&bytes);
            }
            Record::Lost { bytes, .. } => lost += bytes,
            Record::Closed { .. } => {}
        }
    }
    ((output, lost, times), reader.truncated)
}

#[test]
fn pipe_pane_keeps_hostile_output_exactly() {
    let server = TmuxServer::start("work");
    let dir = server.dir().to_owned();
    // Bytes a hostile program might print: a retitle, a clipboard write, invalid UTF-8, NUL,
    // a very long line. (Not a terminal query: tmux answers it as typed input, which the
    // pane then echoes into its own output.)
    let mut payload = b"\x1b]0;pwned\x07\x1b]52;c;ZXZpbA==\x07\xff\xfe\x00 end\n".to_vec();
    payload.extend(std::iter::repeat_n(b'x', 20_000));
    payload.push(b'\n');
    std::fs::write(dir.join("payload"), &payload).unwrap();
    let spool = dir.join("pane.spool");

    // The pane waits for a key, so the pipe is in place before anything is printed.
    let pane = server.tmux(&[
        "new-window",
        "-P",
        "-F",
        "#{pane_id}",
        "-t",
        server.first_session_id(),
        &format!("read go; cat {}; read done", dir.join("payload").display()),
    ]);
    let pane = pane.trim().to_owned();
    let pipe = format!("exec {} pane-pipe --spool {}", bin(), spool.display());
    server.tmux(&["pipe-pane", "-O", "-t", &pane, &pipe]);
    wait_for(
        "the spool to be created",
        TIMEOUT,
        || spool.exists().then_some(()),
        String::new,
    );
    server.tmux(&["send-keys", "-t", &pane, "Enter"]);
    // The pty turns each \n into \r\n; everything else must arrive untouched.
    let expected: Vec<u8> = payload
        .iter()
        .flat_map(|&b| {
            if b == b'\n' {
                vec![b'\r', b'\n']
            } else {
                vec![b]
            }
        })
        .collect();
    let output = wait_for(
        "the payload in the spool",
        TIMEOUT,
        || {
            let ((output, _, _), _) = read_spool_so_far(&spool);
            output
                .windows(expected.len())
                .any(|w| w == expected.as_slice())
                .then_some(output)
        },
        || {
            format!(
                "{} bytes in the spool",
                read_spool_so_far(&spool).0 .0.len()
            )
        },
    );
    assert!(output.len() >= expected.len());
    let (_, lost, times) = read_spool(&spool);
    assert_eq!(lost, 0);
    assert!(
        times.windows(2).all(|t| t[0] <= t[1]),
        "times never go back"
    );
    // Closing the pipe ends the copier (tmux closes its stdin).
    server.tmux(&["pipe-pane", "-t", &pane]);
}

#[test]
fn a_full_disk_loses_output_it_accounts_for_and_the_copy_goes_on() {
    if !is_root() {
        println!("skipped: mounting a small tmpfs needs root (CI runs as root)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mnt = dir.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=256k", "tmpfs"])
        .arg(&mnt)
        .status()
        .unwrap()
        .success();
    assert!(mounted);
    struct Unmount<'a>(&'a Path);
    impl Drop for Unmount<'_> {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(self.0).status();
        }
    }
    let _unmount = Unmount(&mnt);

    let spool = mnt.join("pane.spool");
    let mut child = Command::new(bin())
        .args(["pane-pipe", "--spool"])
        .arg(&spool)
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut sent = 0u64;
    let mut send = |stdin: &mut std::process::ChildStdin, n: usize| {
        stdin.write_all(&vec![b'a'; n]).unwrap();
        stdin.flush().unwrap();
        sent += n as u64;
    };
    send(&mut stdin, 50_000);
    wait_for(
        "the first output on disk",
        TIMEOUT,
        || (std::fs::metadata(&spool).map(|m| m.len()).unwrap_or(0) > 50_000).then_some(()),
        String::new,
    );

    // Fill the disk, then keep the pane talking: the copier must keep reading.
    let filler = mnt.join("filler");
    {
        let mut f = std::fs::File::create(&filler).unwrap();
        while f.write_all(&[0u8; 4096]).is_ok() {}
    }
    for _ in 0..10 {
        send(&mut stdin, 30_000);
    }
    let full_size = std::fs::metadata(&spool).unwrap().len();

    // Space returns: the next writes land, led by a note of what was lost.
    std::fs::remove_file(&filler).unwrap();
    wait_for(
        "writing to resume after the disk freed up",
        TIMEOUT,
        || {
            send(&mut stdin, 1_000);
            std::thread::sleep(POLL);
            (std::fs::metadata(&spool).unwrap().len() > full_size).then_some(())
        },
        String::new,
    );
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let (output, lost, _) = read_spool(&spool);
    assert!(lost > 0, "the loss is on record");
    assert_eq!(
        output.len() as u64 + lost,
        sent,
        "every byte kept or accounted for"
    );
    assert!(output.iter().all(|&b| b == b'a'));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("could not be kept"), "{stderr}");
}
