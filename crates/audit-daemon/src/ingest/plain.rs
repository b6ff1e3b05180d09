//! Opening a file in a folder a user may own, the way a root daemon must: never through a link
//! (`O_NOFOLLOW`), never blocking on a FIFO (`O_NONBLOCK`), and only a regular file with one
//! name owned by the expected user — else a user could have root read, or punch holes in, a
//! file of root's or another user's, or hang it.

use std::fs::File;
use std::io;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

/// Opens `path` (read-write when `writable` allows it, else read-only) if it is a regular,
/// single-name file of `owner`.
pub fn open_plain(path: &Path, writable: bool, owner: u32) -> io::Result<File> {
    let open = |write: bool| {
        std::fs::OpenOptions::new()
            .read(true)
            .write(write)
            .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)
    };
    let file = if writable {
        open(true).or_else(|_| open(false))?
    } else {
        open(false)?
    };
    let meta = file.metadata()?;
    if !meta.file_type().is_file() || meta.nlink() != 1 || meta.uid() != owner {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!(
                "{} is not a plain file of uid {owner} (a link, a special file, or another user's): not read",
                path.display()
            ),
        ));
    }
    Ok(file)
}
