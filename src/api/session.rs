//! Per-worker state.
//!
//! A `Session` belongs to one worker thread: its database connection for reads (reopened when
//! the maintenance epoch moved or the database file was replaced), its cache of the flag's
//! notice, and what the current request tells the write path. `Session::write` hands one API
//! write to the process's group commit (`group`).

use super::error::ApiError;
use super::App;
use crate::maintenance::{AnnouncementCache, NoticeCache};
use crate::secret::Digest;
use crate::storage::{Storage, Writer};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// One worker's state. Dropping the connection (`reset`) is always safe.
#[derive(Default)]
pub struct Session {
    open: Option<Opened>,
    notices: NoticeCache,
    announcements: AnnouncementCache,
    /// The size of the current request's body (a group commit's byte budget counts it).
    pub(super) body_bytes: usize,
    /// The digest of the current request's `X-Maintenance-Bypass`, set by `App::dispatch` at
    /// the start of every request; the write gate compares it with the flag's.
    pub(super) bypass: Option<Digest>,
}

/// A connection and what it was opened on.
pub(super) struct Opened {
    pub(super) storage: Storage,
    /// The maintenance epoch when it was opened.
    epoch: u64,
    /// The database file's (device, inode) when it was opened.
    file: Option<(u64, u64)>,
}

impl Session {
    /// Drops the connection (after a panic, or to force a reopen).
    pub fn reset(&mut self) {
        self.open = None;
    }

    /// The flag's notice cache (the dispatcher's maintenance check uses it).
    pub(super) fn notices(&mut self) -> &mut NoticeCache {
        &mut self.notices
    }

    /// The announcement's cache (`/server/maintenance` reads it).
    pub(super) fn announcements(&mut self) -> &mut AnnouncementCache {
        &mut self.announcements
    }

    /// The connection, reopened when maintenance ended since it was opened or when the
    /// database file is no longer the one it opened (a backup restored, a migrated copy).
    pub(super) fn storage(&mut self, app: &App) -> Result<&mut Storage, ApiError> {
        connection(&mut self.open, app.gate.epoch(), &app.config.db)
    }

    /// Runs `work` as one atomic write, behind the maintenance gate, and returns once it is
    /// durable (see `group`).
    pub(super) fn write<T: Send + 'static>(
        &mut self,
        app: &App,
        work: impl FnOnce(&Writer) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        app.groups.write(
            &mut self.notices,
            self.bypass.as_ref(),
            self.body_bytes,
            work,
        )
    }
}

/// The connection in `open`, (re)opened when maintenance ended since it was opened or when the
/// database file is no longer the one it opened.
pub(super) fn connection<'s>(
    open: &'s mut Option<Opened>,
    epoch: u64,
    db: &Path,
) -> Result<&'s mut Storage, ApiError> {
    let file = file_identity(db);
    if open
        .as_ref()
        .is_some_and(|o| o.epoch != epoch || o.file != file)
    {
        *open = None;
    }
    if open.is_none() {
        let storage = Storage::open(db)
            .map_err(|e| ApiError::Internal(format!("opening {}: {e}", db.display())))?;
        *open = Some(Opened {
            storage,
            epoch,
            file: file_identity(db),
        });
    }
    Ok(&mut open
        .as_mut()
        .expect("the connection was just opened")
        .storage)
}

/// The file's (device, inode): a replaced file has another, even at the same path.
fn file_identity(path: &Path) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}
