//! Reading a spool while `pane-pipe` still appends to it, and giving back the disk it used.

use audit_capture::spool::{self, Record};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Bytes read from a spool per look, so one busy pane cannot starve the others.
const READ_LIMIT: usize = 4 << 20;

/// One spool, read from where the last look stopped.
#[derive(Debug)]
pub struct Tail {
    pub path: PathBuf,
    file: Option<Arc<File>>,
    /// Offset of the first byte not yet parsed into records.
    offset: u64,
    pending: Vec<u8>,
    /// The closing record was read: nothing more will come.
    pub closed: bool,
    /// The file's length when last measured by [`Tail::growth`].
    measured: u64,
}

impl Tail {
    /// A spool `pane-pipe` is creating (it may not exist yet).
    pub fn new(path: PathBuf) -> Self {
        Tail {
            path,
            file: None,
            offset: 0,
            pending: Vec::new(),
            closed: false,
            measured: 0,
        }
    }

    /// Whole records appended since the last call.
    pub fn read(&mut self) -> io::Result<Vec<Record>> {
        if self.closed {
            return Ok(Vec::new());
        }
        if self.file.is_none() {
            match open_spool(&self.path) {
                Ok(f) => self.file = Some(Arc::new(f)),
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(e) => return Err(e),
            }
        }
        let file = self.file.as_ref().expect("opened above");
        let mut reader: &File = file;
        // From the end of the last whole record, every time: bytes of a record not yet whole
        // may be cut off and written over (the copier cuts a spool back to its last whole
        // record when a write fails on a full disk), so they are never kept.
        self.pending.clear();
        reader.seek(SeekFrom::Start(self.offset))?;
        reader
            .take(READ_LIMIT as u64)
            .read_to_end(&mut self.pending)?;
        if self.pending.is_empty() {
            return Ok(Vec::new());
        }
        let mut skip = 0;
        if self.offset == 0 {
            if self.pending.len() < spool::MAGIC.len() {
                return Ok(Vec::new());
            }
            if &self.pending[..4] != spool::MAGIC {
                self.closed = true;
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("{} is not a spool", self.path.display()),
                ));
            }
            skip = 4;
        }
        // A spool read again after a daemon was killed starts with the bytes already committed
        // punched out: zeros. No record starts with a zero byte, so they are skipped.
        while self.pending.get(skip) == Some(&0) {
            skip += 1;
        }
        let (records, used) =
            spool::parse_records(&self.pending[skip..], self.offset + skip as u64)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
        self.pending.drain(..skip + used);
        self.offset += (skip + used) as u64;
        if records.iter().any(|r| matches!(r, Record::Closed { .. })) {
            self.closed = true;
        }
        Ok(records)
    }

    /// Bytes the copier appended since the last call, and bytes not yet read.
    pub fn growth(&mut self) -> (u64, u64) {
        // The open spool's own size once it is open; before that, never through a link.
        let len = match &self.file {
            Some(f) => f.metadata().map_or(0, |m| m.len()),
            None => std::fs::symlink_metadata(&self.path)
                .ok()
                .filter(|m| m.file_type().is_file())
                .map_or(0, |m| m.len()),
        };
        let grown = len.saturating_sub(self.measured);
        self.measured = len;
        let read = self.offset + self.pending.len() as u64;
        (grown, len.saturating_sub(read))
    }

    /// Where the spool stands now, for [`Release::run`] once what was read is committed.
    pub fn release(&self) -> Option<Release> {
        self.file.as_ref().map(|file| Release {
            file: Arc::clone(file),
            path: self.path.clone(),
            upto: self.offset,
            remove: self.closed && self.pending.is_empty(),
        })
    }

    /// Gives up on the spool (its pane ended and its copier never closed it): remove it once
    /// what was read is committed.
    pub fn abandon(self) -> Release {
        Release {
            file: self
                .file
                .unwrap_or_else(|| Arc::new(File::open("/dev/null").expect("/dev/null"))),
            path: self.path,
            upto: self.offset,
            remove: true,
        }
    }
}

/// Gives a spool's committed prefix back to the file system.
#[derive(Debug)]
pub struct Release {
    file: Arc<File>,
    path: PathBuf,
    upto: u64,
    remove: bool,
}

impl Release {
    /// Punches out the committed bytes (the file keeps its size, the blocks are freed), or
    /// removes a spool that is finished.
    pub fn run(self) {
        if self.remove {
            remove_spool(&self.path);
            return;
        }
        let len = self.upto.saturating_sub(4);
        if len == 0 {
            return;
        }
        // SAFETY: fallocate on a descriptor we own; no memory is passed.
        let rc = unsafe {
            libc::fallocate(
                self.file.as_raw_fd(),
                libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
                4,
                len as libc::off_t,
            )
        };
        if rc != 0 {
            tracing::debug!(spool = %self.path.display(), "cannot punch a hole: {}", io::Error::last_os_error());
        }
    }
}

fn remove_spool(path: &Path) {
    if let Err(e) = std::fs::remove_file(path) {
        if e.kind() != io::ErrorKind::NotFound {
            tracing::warn!(spool = %path.display(), "cannot remove a finished spool: {e}");
        }
    }
}

/// Opens a spool: a plain file of whoever owns its folder (the server's owner, whose copier
/// wrote it). Write access only to punch out what is committed; reading works without it.
fn open_spool(path: &std::path::Path) -> io::Result<File> {
    use std::os::unix::fs::MetadataExt;
    let folder = std::fs::symlink_metadata(path.parent().unwrap_or(path))?;
    super::plain::open_plain(path, true, folder.uid())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn reads_records_as_they_are_appended_and_frees_them() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1-1.tas");
        let mut tail = Tail::new(path.clone());
        assert!(tail.read().unwrap().is_empty(), "not created yet");
        let mut f = File::create(&path).unwrap();
        f.write_all(b"TA").unwrap();
        assert!(tail.read().unwrap().is_empty(), "magic not complete");
        let mut rest = b"S1".to_vec();
        spool::encode_output(&mut rest, 5, b"hello");
        f.write_all(&rest[..10]).unwrap();
        assert!(tail.read().unwrap().is_empty(), "record not complete");
        f.write_all(&rest[10..]).unwrap();
        assert_eq!(
            tail.read().unwrap(),
            vec![Record::Output {
                time: 5,
                bytes: b"hello".to_vec()
            }]
        );
        let mut end = Vec::new();
        spool::encode_closed(&mut end, 6);
        f.write_all(&end).unwrap();
        assert_eq!(tail.read().unwrap(), vec![Record::Closed { time: 6 }]);
        assert!(tail.closed);
        tail.release().unwrap().run();
        assert!(!path.exists(), "a finished, committed spool is removed");
    }

    /// Regression: the copier wrote part of a record, the disk was full, it cut the spool back
    /// and later wrote other records there; the reader had kept the partial bytes and read on
    /// from after them ("unknown record kind 13", the rest of the spool skipped).
    #[test]
    fn a_partial_record_cut_back_and_written_over_is_read_as_written_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1-1.tas");
        let mut whole = spool::MAGIC.to_vec();
        spool::encode_output(&mut whole, 1, b"first");
        let mut failed = Vec::new();
        spool::encode_output(&mut failed, 2, &[b'x'; 300]);
        let mut bytes = whole.clone();
        bytes.extend_from_slice(&failed[..100]);
        std::fs::write(&path, &bytes).unwrap();
        let mut tail = Tail::new(path.clone());
        assert_eq!(tail.read().unwrap().len(), 1, "the whole record only");
        // Cut back to the last whole record, then a loss note and new output written there.
        let mut again = whole.clone();
        spool::encode_lost(&mut again, 3, 300);
        spool::encode_output(&mut again, 4, b"after the disk had room");
        std::fs::write(&path, &again).unwrap();
        assert_eq!(
            tail.read().unwrap(),
            vec![
                Record::Lost {
                    time: 3,
                    bytes: 300
                },
                Record::Output {
                    time: 4,
                    bytes: b"after the disk had room".to_vec()
                }
            ]
        );
    }

    #[test]
    fn a_reread_spool_skips_what_was_punched_out() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("1-1.tas");
        let mut bytes = spool::MAGIC.to_vec();
        spool::encode_output(&mut bytes, 1, &[b'a'; 10_000]);
        let committed = bytes.len() as u64;
        spool::encode_output(&mut bytes, 2, b"after");
        std::fs::write(&path, &bytes).unwrap();
        let mut first = Tail::new(path.clone());
        assert_eq!(first.read().unwrap().len(), 2);
        // Pretend only the first record was committed, then read the file again from scratch.
        first.offset = committed;
        first.release().unwrap().run();
        let mut again = Tail::new(path);
        assert_eq!(
            again.read().unwrap(),
            vec![Record::Output {
                time: 2,
                bytes: b"after".to_vec()
            }]
        );
    }

    #[test]
    fn a_spool_is_opened_only_as_a_plain_file_of_its_folders_owner() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("1-1.tas");
        std::fs::write(&real, b"x").unwrap();
        assert!(super::open_spool(&real).is_ok());
        let victim = dir.path().join("elsewhere");
        std::fs::write(&victim, b"root's").unwrap();
        let link = dir.path().join("2-1.tas");
        std::os::unix::fs::symlink(&victim, &link).unwrap();
        assert!(super::open_spool(&link).is_err(), "a link is not followed");
        let hard = dir.path().join("3-1.tas");
        std::fs::hard_link(&victim, &hard).unwrap();
        assert!(
            super::open_spool(&hard).is_err(),
            "a file with two names is refused"
        );
        let fifo = dir.path().join("4-1.tas");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: mkfifo with a valid NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        assert!(
            super::open_spool(&fifo).is_err(),
            "a FIFO neither blocks nor is read"
        );
    }
}
