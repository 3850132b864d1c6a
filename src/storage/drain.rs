//! The CLI's drain: wait until no write can still commit, then checkpoint the WAL.

use rusqlite::{Connection, OpenFlags};
use std::path::Path;
use std::time::{Duration, Instant};

/// What `drain` did.
#[derive(Debug)]
pub struct DrainReport {
    /// How long it waited for the write lock.
    pub lock_wait: Duration,
    /// WAL frames that were in the log when the checkpoint ran (-1 when not in WAL mode).
    pub wal_frames: i64,
}

/// How long the drain pauses before it tries a checkpoint again that another one blocked.
const CHECKPOINT_RETRY: Duration = Duration::from_millis(5);

/// Why `drain` could not establish the guarantee.
#[derive(Debug)]
pub enum DrainError {
    /// No database file at the path: nothing to wait for.
    NoDatabase,
    /// The write lock was not free within the wait.
    LockTimeout(Duration),
    /// The checkpoint could not finish within the wait: a reader (a `sqlite3` shell, a backup)
    /// held the log, or another checkpoint did not end.
    CheckpointBusy,
    /// Any other database error.
    Sqlite(rusqlite::Error),
}

impl std::fmt::Display for DrainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DrainError::NoDatabase => write!(f, "no database file"),
            DrainError::LockTimeout(d) => write!(
                f,
                "the write lock was still held after {:.1}s (a long write transaction, or another \
                 process holding the database)",
                d.as_secs_f64()
            ),
            DrainError::CheckpointBusy => write!(
                f,
                "the WAL checkpoint was blocked by an open reader (a sqlite3 shell, a backup tool \
                 or a slow query) or by another checkpoint; the log still holds committed writes"
            ),
            DrainError::Sqlite(e) => write!(f, "database error: {e}"),
        }
    }
}

/// Waits until no write can still commit (takes and releases the write lock), then checkpoints
/// the WAL with TRUNCATE so the main file alone holds every committed write. Never creates the
/// database. `wait` bounds the lock and the checkpoint together. `waiting` is called once if
/// another checkpoint is running when the drain's is due (SQLite refuses a second one at once,
/// without its busy handler): the drain then tries again until the wait is over.
pub fn drain(
    db: &Path,
    wait: Duration,
    mut waiting: impl FnMut(),
) -> std::result::Result<DrainReport, DrainError> {
    if !db.exists() {
        return Err(DrainError::NoDatabase);
    }
    let started = Instant::now();
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(DrainError::Sqlite)?;
    conn.busy_timeout(wait).map_err(DrainError::Sqlite)?;
    match conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;") {
        Ok(()) => {}
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {
            return Err(DrainError::LockTimeout(started.elapsed()))
        }
        Err(e) => return Err(DrainError::Sqlite(e)),
    }
    let lock_wait = started.elapsed();
    let mut waited = false;
    loop {
        let left = wait.saturating_sub(started.elapsed());
        conn.busy_timeout(left).map_err(DrainError::Sqlite)?;
        let checkpoint = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        });
        match checkpoint {
            Ok((0, frames)) => {
                return Ok(DrainReport {
                    lock_wait,
                    wal_frames: frames,
                })
            }
            // Busy: readers held the log for the whole wait (the busy handler waited for
            // them), or, at once, another connection holds the checkpoint lock.
            Ok(_) => {}
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {}
            Err(e) => return Err(DrainError::Sqlite(e)),
        }
        if wait.saturating_sub(started.elapsed()) < CHECKPOINT_RETRY {
            return Err(DrainError::CheckpointBusy);
        }
        if !waited {
            waited = true;
            waiting();
        }
        std::thread::sleep(CHECKPOINT_RETRY);
    }
}
