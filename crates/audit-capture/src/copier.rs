//! The loop inside `pipe-pane`: read the pane's output, stamp it, append it to the spool.
//!
//! It must never make tmux wait or grow: it reads as fast as tmux writes. Records are staged
//! in memory and written in large pieces — when the stage passes [`STAGE_BYTES`], when the
//! pane has been quiet for [`QUIET`], or when the oldest staged record is [`MAX_STAGED`] old —
//! so a burst costs few system calls, a pause is on disk within 50 ms, and steady output (a
//! line every few milliseconds never leaves 50 ms of quiet) within 200 ms. If the spool cannot be written (disk full), it keeps reading, counts what it
//! cannot keep, cuts the file back to its last whole record, and once writing works again
//! records how many bytes were lost.

use crate::spool::{self, MAGIC};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

/// Pipe buffer asked for (Linux's default pipe-max-size).
pub const PIPE_BYTES: i32 = 1024 * 1024;
/// Largest single read.
pub const READ_BYTES: usize = 128 * 1024;
/// Staged bytes that trigger a write.
pub const STAGE_BYTES: usize = 256 * 1024;
/// Quiet time after which staged records are written.
pub const QUIET: Duration = Duration::from_millis(50);
/// The longest a staged record waits in memory (where a killed copier would lose it, and where
/// the daemon cannot see it) before it is written.
pub const MAX_STAGED: Duration = Duration::from_millis(200);
/// How long a pane must be quiet before a loss is put on record by itself.
pub const RETRY: Duration = Duration::from_secs(1);

/// What a finished copy did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Bytes read from the pane.
    pub bytes_in: u64,
    /// Bytes that could not be kept.
    pub bytes_lost: u64,
}

struct Spool {
    file: File,
    /// Length of the file up to its last whole record.
    good_len: u64,
    stage: Vec<u8>,
    /// Bytes dropped since writing last failed.
    losing: Option<u64>,
}

impl Spool {
    /// Writes the stage. On failure the file is cut back to its last whole record and the
    /// staged output is counted as lost.
    fn write_stage(&mut self, now: i64, summary: &mut Summary) {
        if self.stage.is_empty() {
            return;
        }
        // Every write is tried, even while losing: a refused write costs two system calls, and
        // output printed the moment space returns must not be lost to a back-off.
        if let Some(lost) = self.losing {
            // Announce the loss first.
            let mut with_note = Vec::with_capacity(self.stage.len() + 16);
            spool::encode_lost(&mut with_note, now, lost);
            with_note.extend_from_slice(&self.stage);
            self.stage = with_note;
        }
        let written = if self.good_len == 0 {
            // The magic could not be written when the copy began (the disk was full).
            let mut with_magic = MAGIC.to_vec();
            with_magic.extend_from_slice(&self.stage);
            self.file.write_all(&with_magic).map(|()| with_magic.len())
        } else {
            self.file.write_all(&self.stage).map(|()| self.stage.len())
        };
        match written {
            Ok(n) => {
                self.good_len += n as u64;
                self.losing = None;
            }
            Err(_) => {
                let _ = self.file.set_len(self.good_len);
                let _ = self.file.seek(SeekFrom::Start(self.good_len));
                let dropped = output_bytes(&self.stage);
                self.losing = Some(self.losing.unwrap_or(0) + dropped);
                summary.bytes_lost += dropped;
            }
        }
        self.stage.clear();
    }

    /// Writes the record of a loss on its own (nothing staged), if writing works again.
    fn write_note(&mut self, now: i64) {
        let Some(lost) = self.losing else {
            return;
        };
        let mut note = Vec::new();
        if self.good_len == 0 {
            note.extend_from_slice(MAGIC);
        }
        spool::encode_lost(&mut note, now, lost);
        match self.file.write_all(&note) {
            Ok(()) => {
                self.good_len += note.len() as u64;
                self.losing = None;
            }
            Err(_) => {
                let _ = self.file.set_len(self.good_len);
                let _ = self.file.seek(SeekFrom::Start(self.good_len));
                self.losing = Some(lost);
            }
        }
    }
}

/// Output bytes in staged records (the header bytes are ours, not the pane's).
fn output_bytes(stage: &[u8]) -> u64 {
    let mut total = 0u64;
    let mut at = 0usize;
    while at + 13 <= stage.len() {
        let length = u32::from_be_bytes(stage[at + 9..at + 13].try_into().expect("4 bytes"));
        if stage[at] == 1 {
            total += u64::from(length);
            at += 13 + length as usize;
        } else {
            at += 13;
        }
    }
    total
}

fn readable_within(fd: i32, timeout: Duration) -> bool {
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd for the duration of the call.
    let rc = unsafe { libc::poll(&mut pfd, 1, timeout.as_millis() as i32) };
    rc != 0
}

/// Copies `input` (the pipe from tmux) into the spool `file` until end of input.
/// `now` gives the time in microseconds since the epoch.
pub fn copy(mut input: File, file: File, now: impl Fn() -> i64) -> io::Result<Summary> {
    let mut spool = Spool {
        file,
        good_len: 0,
        stage: Vec::with_capacity(STAGE_BYTES + READ_BYTES + 64),
        losing: None,
    };
    // A full disk at the start is no reason to stop: the magic goes with the first write that
    // works.
    if spool.file.write_all(MAGIC).is_ok() {
        spool.good_len = MAGIC.len() as u64;
    } else {
        let _ = spool.file.set_len(0);
        let _ = spool.file.seek(SeekFrom::Start(0));
    }
    let mut summary = Summary::default();
    let mut buf = vec![0u8; READ_BYTES];
    let fd = input.as_raw_fd();
    // A bigger pipe lets tmux hand over a burst in fewer, larger writes. Best effort: a file
    // or a socket as input, or a lower pipe-max-size, just keeps the default.
    // SAFETY: fcntl on a descriptor we own; F_SETPIPE_SZ takes an int and touches no memory.
    unsafe {
        libc::fcntl(fd, libc::F_SETPIPE_SZ, PIPE_BYTES);
    }
    // When the oldest staged record was read.
    let mut staged_at: Option<Instant> = None;
    loop {
        if let Some(at) = staged_at {
            // Written once the pane goes quiet, or once the oldest record has waited enough.
            let left = MAX_STAGED.saturating_sub(at.elapsed());
            if left.is_zero() || !readable_within(fd, QUIET.min(left)) {
                spool.write_stage(now(), &mut summary);
                staged_at = None;
            }
        }
        // Losing output and the pane went quiet: try to put the loss on record anyway, so it is
        // known even if the pane prints nothing more.
        while spool.stage.is_empty() && spool.losing.is_some() && !readable_within(fd, RETRY) {
            spool.write_note(now());
        }
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        summary.bytes_in += n as u64;
        spool::encode_output(&mut spool.stage, now(), &buf[..n]);
        staged_at.get_or_insert_with(Instant::now);
        if spool.stage.len() >= STAGE_BYTES {
            spool.write_stage(now(), &mut summary);
            staged_at = None;
        }
    }
    spool.write_stage(now(), &mut summary);
    if let Some(lost) = spool.losing {
        // One last try to leave the loss on record.
        let mut note = Vec::new();
        spool::encode_lost(&mut note, now(), lost);
        if spool.file.write_all(&note).is_err() {
            let _ = spool.file.set_len(spool.good_len);
        }
    }
    // Tells the reader that nothing more will come (best effort: on a full disk it learns it
    // from the pane's state instead).
    let mut closed = Vec::new();
    spool::encode_closed(&mut closed, now());
    let _ = spool.file.write_all(&closed);
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::{Reader, Record};

    fn pipe() -> (File, File) {
        let mut fds = [0i32; 2];
        // SAFETY: pipe(2) fills two fds into a valid array.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        use std::os::fd::FromRawFd;
        // SAFETY: both fds were just created and are owned by nobody else.
        unsafe { (File::from_raw_fd(fds[0]), File::from_raw_fd(fds[1])) }
    }

    #[test]
    fn every_byte_read_is_in_the_spool_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool");
        let (read_end, mut write_end) = pipe();
        let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let expected = data.clone();
        let writer = std::thread::spawn(move || {
            for piece in data.chunks(10_000) {
                write_end.write_all(piece).unwrap();
            }
        });
        let clock = std::sync::atomic::AtomicI64::new(0);
        let summary = copy(read_end, File::create(&path).unwrap(), || {
            clock.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        })
        .unwrap();
        writer.join().unwrap();
        assert_eq!(summary.bytes_in, expected.len() as u64);
        assert_eq!(summary.bytes_lost, 0);
        let mut reader = Reader::new(File::open(&path).unwrap()).unwrap();
        let mut got = Vec::new();
        let mut last_time = -1;
        let mut closed = 0;
        while let Some(record) = reader.next_record().unwrap() {
            match record {
                Record::Output { time, bytes } => {
                    assert!(time > last_time, "times increase");
                    last_time = time;
                    got.extend_from_slice(&bytes);
                }
                Record::Lost { .. } => panic!("nothing was lost"),
                Record::Closed { .. } => closed += 1,
            }
        }
        assert_eq!(closed, 1, "the copy ends with one closing record");
        assert!(!reader.truncated);
        assert_eq!(got, expected);
    }

    #[test]
    fn steady_output_that_never_pauses_is_written_within_max_staged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("spool");
        let (read_end, mut write_end) = pipe();
        let file = File::create(&path).unwrap();
        let copier = std::thread::spawn(move || copy(read_end, file, || 1).unwrap());
        // A line every 10 ms: never 50 ms of quiet.
        let start = std::time::Instant::now();
        let mut on_disk = None;
        while start.elapsed() < Duration::from_secs(3) {
            write_end.write_all(b"a line of steady output\r\n").unwrap();
            std::thread::sleep(Duration::from_millis(10));
            if std::fs::metadata(&path).unwrap().len() > MAGIC.len() as u64 {
                on_disk = Some(start.elapsed());
                break;
            }
        }
        drop(write_end);
        copier.join().unwrap();
        let on_disk = on_disk.expect("written while the output was still flowing");
        assert!(
            on_disk < Duration::from_secs(2),
            "on disk after {on_disk:?}, not when the stage filled"
        );
    }

    #[test]
    fn output_bytes_counts_only_pane_bytes() {
        let mut stage = Vec::new();
        spool::encode_output(&mut stage, 1, b"abc");
        spool::encode_lost(&mut stage, 2, 99);
        spool::encode_output(&mut stage, 3, b"de");
        assert_eq!(output_bytes(&stage), 5);
    }
}
