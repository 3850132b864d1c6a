//! Per-worker state.
//!
//! A `Session` belongs to one worker thread: its database connection for reads (reopened when
//! the maintenance epoch moved or the database file was replaced), its cache of the flag's
//! notice, and what the current request tells the write path. `Session::write` hands one API
//! write to the process's group commit (`group`).

use super::error::ApiError;
use super::App;
use crate::maintenance::{self, AnnouncementCache, Decision, Intent, NoticeCache};
use crate::metrics::WriteOutcome;
use crate::secret::Digest;
use crate::storage::{Database, Storage, StorageError, Writer};
use std::os::unix::fs::MetadataExt;
use std::panic::{catch_unwind, AssertUnwindSafe};
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
    /// durable (see `group`). On PostgreSQL a write the database undid for a concurrent one
    /// runs again, so `work` must give the same result each time it runs.
    pub(super) fn write<T: Send + 'static>(
        &mut self,
        app: &App,
        work: impl Fn(&Writer) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        if let Database::Postgres(_) = app.config.db {
            let _waiting = app.groups.waiting_alone();
            let mut conflicts = 0;
            loop {
                match self.write_alone(app, &work) {
                    Err(ApiError::WriteConflict) if conflicts < CONFLICT_RETRIES => {
                        conflicts += 1;
                        log::info!("a write was undone for a concurrent one; running it again");
                    }
                    done => return done,
                }
            }
        }
        app.groups.write(
            &mut self.notices,
            self.bypass.as_ref(),
            self.body_bytes,
            work,
        )
    }
}

/// How many times a PostgreSQL write undone for a concurrent one (`ApiError::WriteConflict`)
/// runs again before it is answered 503. Each run is a new transaction, behind the gate again.
const CONFLICT_RETRIES: usize = 3;

impl Session {
    /// A write on PostgreSQL: a transaction of its own on this worker's connection (the
    /// database commits many in parallel). The drain lock is held shared and the cluster's
    /// state read before the gate looks at the host's flag; either closes the write.
    fn write_alone<T>(
        &mut self,
        app: &App,
        work: impl FnOnce(&Writer) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let storage = connection(&mut self.open, app.gate.epoch(), &app.config.db)?;
        let Storage::Postgres(pg) = storage else {
            return Err(ApiError::Internal(
                "a PostgreSQL write on another engine".into(),
            ));
        };
        let cluster = match pg.begin_write() {
            Ok(cluster) => cluster,
            Err(StorageError::Busy) => {
                app.metrics.write(WriteOutcome::Busy, 1);
                return Err(app
                    .gate
                    .busy(&mut self.notices, "the database stayed locked"));
            }
            Err(e) => return Err(e.into()),
        };
        let bypass = self.bypass.as_ref();
        let host = app.gate.decide(&mut self.notices, Intent::Write, bypass);
        let cluster = match crate::cluster::notice_of(&cluster.mode, cluster.notice.as_deref()) {
            Some(notice) => maintenance::decide(Some(notice), Intent::Write, bypass),
            None => Decision::Open,
        };
        for decision in [host, cluster] {
            if let Decision::Closed(notice) = decision {
                pg.rollback();
                log::info!("write rolled back: maintenance is on");
                app.metrics.write(WriteOutcome::Gate, 1);
                return Err(ApiError::Maintenance(notice));
            }
        }
        let done = catch_unwind(AssertUnwindSafe(|| work(&pg.writer()))).unwrap_or_else(|_| {
            Err(ApiError::Internal(
                "the handler panicked in its write".into(),
            ))
        });
        match done {
            Ok(value) => match pg.commit() {
                Ok(()) => {
                    app.metrics.write(WriteOutcome::Committed, 1);
                    Ok(value)
                }
                Err(e) => {
                    app.metrics.write(WriteOutcome::CommitFailed, 1);
                    Err(e.into())
                }
            },
            Err(e) => {
                pg.rollback();
                app.metrics.write(WriteOutcome::Undone, 1);
                Err(e)
            }
        }
    }
}

/// The connection in `open`, (re)opened when maintenance ended since it was opened or when the
/// database file is no longer the one it opened.
pub(super) fn connection<'s>(
    open: &'s mut Option<Opened>,
    epoch: u64,
    db: &Database,
) -> Result<&'s mut Storage, ApiError> {
    let file = db.file().and_then(file_identity);
    // PostgreSQL has no file to replace, and its sessions see an operator's changes: the
    // connection is kept across maintenance windows and replaced only when it broke.
    let epoch = if db.file().is_some() { epoch } else { 0 };
    if open
        .as_ref()
        .is_some_and(|o| o.epoch != epoch || o.file != file || o.storage.is_broken())
    {
        *open = None;
    }
    if open.is_none() {
        let storage = Storage::open(db, false)
            .map_err(|e| ApiError::Internal(format!("opening {}: {e}", db.describe())))?;
        *open = Some(Opened {
            storage,
            epoch,
            file: db.file().and_then(file_identity),
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
