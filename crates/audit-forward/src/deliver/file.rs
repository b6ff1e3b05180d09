//! The JSON-lines file: appended, fsynced per batch, reopened when it was rotated away.

use super::Deliver;
use crate::encode::jsonl_line;
use crate::error::DeliverError;
use audit_core::Stored;
use std::fs::{DirBuilder, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::PathBuf;

/// Appends each batch as whole lines; a failed write is cut back so no half line remains.
pub(crate) struct JsonlFile {
    path: PathBuf,
    file: Option<File>,
    pending: Vec<u8>,
}

impl JsonlFile {
    pub(crate) fn new(path: PathBuf) -> Self {
        JsonlFile {
            path,
            file: None,
            pending: Vec::new(),
        }
    }

    /// The open file, reopened if the path now names another file (logrotate moved it).
    fn file(&mut self) -> Result<&mut File, DeliverError> {
        let current = std::fs::metadata(&self.path).ok();
        let same = match (&self.file, &current) {
            (Some(f), Some(now)) => f
                .metadata()
                .is_ok_and(|m| m.ino() == now.ino() && m.dev() == now.dev()),
            _ => false,
        };
        if !same {
            self.file = None;
        }
        if self.file.is_none() {
            let doing = format!("open {}", self.path.display());
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                DirBuilder::new()
                    .recursive(true)
                    .mode(0o700)
                    .create(dir)
                    .map_err(DeliverError::io(doing.clone()))?;
            }
            let file = OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&self.path)
                .map_err(DeliverError::io(doing))?;
            self.file = Some(file);
        }
        Ok(self.file.as_mut().expect("opened above"))
    }

    fn write_pending(&mut self) -> Result<(), DeliverError> {
        let doing = format!("write {}", self.path.display());
        let pending = std::mem::take(&mut self.pending);
        let file = self.file()?;
        let before = file
            .metadata()
            .map_err(DeliverError::io(doing.clone()))?
            .len();
        let written = file.write_all(&pending).and_then(|()| file.sync_data());
        if let Err(error) = written {
            // A full disk may have taken part of the batch: cut it back to whole lines.
            let _ = file.set_len(before);
            self.file = None;
            return Err(DeliverError::Io { doing, error });
        }
        Ok(())
    }
}

impl Deliver for JsonlFile {
    fn send(&mut self, stored: &Stored) -> Result<(), DeliverError> {
        self.pending.extend_from_slice(&jsonl_line(stored));
        Ok(())
    }

    fn flush(&mut self) -> Result<(), DeliverError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.write_pending()
    }
}
