//! Per-worker state and the write wrapper.
//!
//! A `Session` belongs to one worker thread: its database connection (reopened when the
//! maintenance epoch moved or the database file was replaced) and its cache of the flag's notice.
//! `Session::write` runs one API write: a turn in the process's `WriteQueue`, `BEGIN IMMEDIATE`,
//! the maintenance gate (a fresh `lstat`), the work, the commit.

use super::App;
use crate::error::ApiError;
use crate::maintenance::{Digest, NoticeCache};
use crate::storage::{Storage, StorageError, Writer};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long a write may wait, in all, for its turn and for the database's lock (another
/// process's: the CLI's drain, a `sqlite3` shell) before it answers 503.
pub const WRITE_DEADLINE: Duration = Duration::from_secs(5);
/// A lock wait longer than this means another process holds the database.
const STALLED_AFTER: Duration = Duration::from_millis(100);
/// How often a queued writer looks again at whether the queue is stalled.
const QUEUE_RECHECK: Duration = Duration::from_millis(50);

/// One worker's state. Dropping the connection (`reset`) is always safe.
#[derive(Default)]
pub struct Session {
    open: Option<Opened>,
    notices: NoticeCache,
    /// The digest of the current request's `X-Maintenance-Bypass`, set by `App::dispatch` at
    /// the start of every request; the write gate compares it with the flag's.
    pub(super) bypass: Option<Digest>,
}

struct Opened {
    storage: Storage,
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

    /// The connection, reopened when maintenance ended since it was opened or when the
    /// database file is no longer the one it opened (a backup restored, a migrated copy).
    pub(super) fn storage(&mut self, app: &App) -> Result<&mut Storage, ApiError> {
        connection(&mut self.open, app)
    }

    /// Runs `work` as one write transaction, behind the maintenance gate.
    ///
    /// Writers of this process take turns in `app.writes`; the turn and the database lock
    /// share one deadline, so a write answers 503 within `WRITE_DEADLINE` of its arrival even
    /// when another process holds the lock, however many writers queue behind it.
    pub(super) fn write<T>(
        &mut self,
        app: &App,
        work: impl FnOnce(&Writer) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let deadline = Instant::now() + WRITE_DEADLINE;
        let storage = connection(&mut self.open, app)?;
        let Some(turn) = app.writes.take_turn(deadline) else {
            return Err(app.busy(&mut self.notices, "no turn to write"));
        };
        let writer = match turn.locking(|| {
            log::debug!("waiting for the write lock");
            storage.begin(remaining(deadline))
        }) {
            Ok(writer) => writer,
            Err(StorageError::Busy) => {
                return Err(app.busy(&mut self.notices, "the database stayed locked"))
            }
            Err(e) => return Err(e.into()),
        };
        // The gate: a fresh look at the flag now that the write lock is held. A drain that
        // set the flag before this point has either seen this transaction finish or will wait
        // for it; either way it rolls back here.
        if let Some(notice) = app.write_gate(&mut self.notices, self.bypass.as_ref()) {
            log::info!("write rolled back: maintenance began while the request was in flight");
            return Err(ApiError::Maintenance(notice));
        }
        let out = work(&writer)?;
        writer.commit()?;
        Ok(out)
    }
}

fn connection<'s>(open: &'s mut Option<Opened>, app: &App) -> Result<&'s mut Storage, ApiError> {
    let epoch = app.observer.epoch();
    let file = file_identity(&app.config.db);
    if open
        .as_ref()
        .is_some_and(|o| o.epoch != epoch || o.file != file)
    {
        *open = None;
    }
    if open.is_none() {
        let storage = Storage::open(&app.config.db)
            .map_err(|e| ApiError::Internal(format!("opening {}: {e}", app.config.db.display())))?;
        *open = Some(Opened {
            storage,
            epoch,
            file: file_identity(&app.config.db),
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

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// This process's writers, one at a time.
///
/// In-process writers queue here instead of sleeping and retrying in SQLite's busy handler,
/// which keeps write latency fair. When the holder is stuck waiting for another process's lock
/// (stalled), at most `max_waiting` writers stay queued and the rest answer 503 at once, so
/// reads and `/server/ping` always find a free worker.
pub struct WriteQueue {
    state: Mutex<QueueState>,
    free: Condvar,
    max_waiting: usize,
}

#[derive(Default)]
struct QueueState {
    held: bool,
    waiting: usize,
    /// Since when the holder has been waiting for the database lock.
    locking_since: Option<Instant>,
}

impl QueueState {
    fn stalled(&self) -> bool {
        self.locking_since
            .is_some_and(|t| t.elapsed() >= STALLED_AFTER)
    }
}

impl WriteQueue {
    /// A queue for a pool of `workers`: while stalled, at most half of them are held by writes.
    pub fn new(workers: usize) -> WriteQueue {
        WriteQueue {
            state: Mutex::new(QueueState::default()),
            free: Condvar::new(),
            max_waiting: (workers / 2).saturating_sub(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, QueueState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits for this writer's turn until `deadline`; `None` when it did not come in time, or
    /// at once when the queue is stalled and full.
    fn take_turn(&self, deadline: Instant) -> Option<Turn<'_>> {
        let mut state = self.lock();
        state.waiting += 1;
        while state.held {
            let over = state.stalled() && state.waiting > self.max_waiting;
            let left = remaining(deadline);
            if over || left.is_zero() {
                state.waiting -= 1;
                return None;
            }
            state = self
                .free
                .wait_timeout(state, left.min(QUEUE_RECHECK))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        state.waiting -= 1;
        state.held = true;
        Some(Turn { queue: self })
    }
}

/// A writer's turn; the next writer's begins when it is dropped.
struct Turn<'q> {
    queue: &'q WriteQueue,
}

impl Turn<'_> {
    /// Runs `f` (taking the database lock) marked as such, so that queued writers can tell a
    /// stalled queue from a busy one.
    fn locking<T>(&self, f: impl FnOnce() -> T) -> T {
        self.queue.lock().locking_since = Some(Instant::now());
        let out = f();
        self.queue.lock().locking_since = None;
        out
    }
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut state = self.queue.lock();
        state.held = false;
        state.locking_since = None;
        drop(state);
        self.queue.free.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn turns_are_exclusive_and_time_out() {
        let queue = WriteQueue::new(4);
        let first = queue.take_turn(Instant::now() + Duration::from_secs(1));
        assert!(first.is_some());
        let started = Instant::now();
        let second = queue.take_turn(Instant::now() + Duration::from_millis(120));
        assert!(second.is_none(), "a held turn was given twice");
        assert!(started.elapsed() >= Duration::from_millis(120));
        drop(first);
        assert!(queue.take_turn(Instant::now()).is_some());
    }

    #[test]
    fn a_stalled_queue_refuses_writers_beyond_its_bound() {
        let queue = &WriteQueue::new(4); // at most one writer waits while stalled
        let holder = queue.take_turn(Instant::now()).unwrap();
        std::thread::scope(|s| {
            s.spawn(move || {
                holder.locking(|| std::thread::sleep(Duration::from_millis(600)));
                drop(holder);
            });
            let late = Instant::now() + Duration::from_secs(5);
            let waiters: Vec<_> = (0..3)
                .map(|_| s.spawn(move || queue.take_turn(late).is_some()))
                .collect();
            let got: Vec<bool> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
            // Two of the three gave up while the holder was stalled; the third got its turn
            // once the holder was done.
            assert_eq!(got.iter().filter(|g| !**g).count(), 2, "{got:?}");
        });
    }
}
