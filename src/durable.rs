//! Small files published so that a crash or a power cut leaves either the old content or the
//! new, never a mix: the flag (written by the CLI) and the server records (written by servers).
//!
//! The content goes to a temporary file beside the target (`.<name>.<pid>.tmp`), which is
//! fsynced, given mode 0644, renamed over the target, and then the directory is fsynced so the
//! rename itself survives. A failed write removes its temporary file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// Writes `bytes` to `path` atomically and durably, creating its directory if needed.
pub fn write(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return Err(io::Error::other("the path names no file in a directory"));
    };
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o644)
            .open(&tmp)?;
        // The umask may have narrowed the mode; the file must be readable by the other side
        // (the server reads the CLI's flag, the CLI the server's record).
        file.set_permissions(fs::Permissions::from_mode(0o644))?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
