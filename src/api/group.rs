//! Group commit: the process's writes share one connection and, when they arrive together, one
//! transaction and one fsync.
//!
//! A write that finds no group in progress leads the next one: it takes the write lock
//! (`BEGIN IMMEDIATE`), runs the maintenance gate once for the group, runs its own work as a
//! savepoint, lets the writes that arrived meanwhile run theirs (each on its own thread, one at a
//! time, each its own savepoint), and commits once for all of them. A write that arrives while a
//! group commits waits for that commit and then forms the next group with the others that
//! waited: that is where groups come from, so a lone writer never waits for company. No write is
//! answered before the commit that holds it is durable; a write whose own work fails is undone
//! alone and answered at once; a commit that fails fails every write in it.
//!
//! Bounds: a group takes at most `MAX_MEMBERS` writes and `MAX_BYTES` of request bodies (read
//! and parsed before a write asks to join, so no client I/O happens inside a group). A write
//! waits at most `WRITE_DEADLINE` in all for a group and the database's lock; while a leader is
//! stalled on another process's lock, at most `max_waiting` writers wait and the rest answer 503
//! at once, so reads and `/server/ping` always find a free worker.

use super::error::ApiError;
use super::gate::Gate;
use super::session::{self, Opened};
use crate::maintenance::{Decision, Intent, Notice, NoticeCache};
use crate::metrics::Metrics;
use crate::metrics::{WriteOutcome, GROUP_BUCKETS};
use crate::secret::Digest;
use crate::storage::{Storage, StorageError, Writer};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

/// How long a write may wait, in all, for its group and for the database's lock (another
/// process's: the CLI's drain, a `sqlite3` shell) before it answers 503.
pub const WRITE_DEADLINE: Duration = Duration::from_secs(5);
/// A lock wait longer than this means another process holds the database.
const STALLED_AFTER: Duration = Duration::from_millis(100);
/// How often a waiting writer looks again at whether the leader is stalled.
const RECHECK: Duration = Duration::from_millis(50);
/// The most writes one commit holds.
pub const MAX_MEMBERS: usize = 64;
/// The most request-body bytes one group holds (a write bigger than this leads its own).
pub const MAX_BYTES: usize = 8 << 20;

/// The process's writes: the one writer connection and the group in progress.
pub struct Groups {
    state: Mutex<State>,
    changed: Condvar,
    /// The writer connection; held by whichever write is running its work (or committing).
    writer: Mutex<Option<Opened>>,
    max_waiting: usize,
    /// The maintenance gate every group passes once it holds the write lock.
    gate: Arc<Gate>,
    metrics: Arc<Metrics>,
    /// The database the writer connection opens.
    db: PathBuf,
}

struct State {
    phase: Phase,
    /// Writers waiting for a group, oldest first: their ticket and body size. A group takes
    /// the ones that fit when it opens, so they need not be scheduled in time to join it.
    queue: VecDeque<(u64, usize)>,
    /// The last ticket handed out.
    tickets: u64,
    /// Waiting writers with a ticket up to this one were enrolled in the open group.
    enrolled_through: u64,
}

enum Phase {
    /// No group: the next write leads one.
    Idle,
    /// The leader is taking the write lock.
    Starting { since: Instant },
    /// The transaction is open and takes members.
    Open(Members),
    /// The leader is committing; later writes wait for the next group.
    Committing,
}

struct Members {
    /// Writes in the group, the leader included.
    count: usize,
    /// Of those, the ones still running their work.
    running: usize,
    /// Of those, the ones whose work failed (undone alone).
    failed: usize,
    bytes: usize,
    /// The flag was up at the group's gate and the leader passed by its bypass secret: every
    /// member passes the gate on its own (fresh check, its own secret) or is refused.
    gated: bool,
    /// Set once the group's commit is over: `Ok` when it is durable.
    outcome: Arc<Outcome>,
}

type Outcome = OnceLock<Result<(), String>>;

enum Role {
    Leader,
    /// In the open group: its outcome, and whether the flag was up at its gate.
    Member(Arc<Outcome>, bool),
}

impl Groups {
    /// The writes of a pool of `workers`: while stalled, at most half of them wait.
    pub fn new(workers: usize, gate: Arc<Gate>, metrics: Arc<Metrics>, db: PathBuf) -> Groups {
        Groups {
            gate,
            metrics,
            db,
            state: Mutex::new(State {
                phase: Phase::Idle,
                queue: VecDeque::new(),
                tickets: 0,
                enrolled_through: 0,
            }),
            changed: Condvar::new(),
            writer: Mutex::new(None),
            max_waiting: (workers / 2).saturating_sub(1),
        }
    }

    /// Runs `work` as one atomic part of a write transaction, behind the maintenance gate, and
    /// returns once that transaction is durable. `bypass` is the digest of the secret the
    /// request presented, `bytes` the size of its body.
    pub fn write<T>(
        &self,
        notices: &mut NoticeCache,
        bypass: Option<&Digest>,
        bytes: usize,
        work: impl FnOnce(&Writer) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let deadline = Instant::now() + WRITE_DEADLINE;
        match self.join(bytes, deadline) {
            None => {
                self.metrics.write(WriteOutcome::Busy, 1);
                Err(self.gate.busy(notices, "no turn to write"))
            }
            Some(Role::Leader) => self.lead(notices, bypass, bytes, deadline, work),
            Some(Role::Member(outcome, gated)) => {
                // In a group whose leader passed by the bypass, each member decides for
                // itself, with its own digest, against the flag as it is now.
                let refused = match gated {
                    false => None,
                    true => match self.gate.decide(notices, Intent::Write, bypass) {
                        Decision::Open | Decision::Bypassed => None,
                        Decision::Closed(notice) => Some(notice),
                    },
                };
                self.follow(&outcome, refused, work)
            }
        }
    }

    /// How many writes the open group holds (0 when none is open).
    #[cfg(test)]
    pub(super) fn open_count(&self) -> usize {
        match &self.state().phase {
            Phase::Open(m) => m.count,
            _ => 0,
        }
    }

    /// Closes the writer connection (the next write opens it again), unless a write still
    /// holds it (a request that outlived the shutdown grace): then it is left to the exit.
    pub fn close(&self) {
        match self.writer.try_lock() {
            Ok(mut writer) => *writer = None,
            Err(std::sync::TryLockError::Poisoned(e)) => *e.into_inner() = None,
            Err(std::sync::TryLockError::WouldBlock) => {
                log::warn!("a write is still running; its connection closes with the process")
            }
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn writer(&self) -> MutexGuard<'_, Option<Opened>> {
        self.writer.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Waits until this write can lead a group or join the open one; `None` when that did not
    /// happen by `deadline`, or at once when the leader is stalled and enough writers wait.
    fn join(&self, bytes: usize, deadline: Instant) -> Option<Role> {
        let mut state = self.state();
        if let Some(role) = state.enter(bytes) {
            return Some(role);
        }
        state.tickets += 1;
        let ticket = state.tickets;
        state.queue.push_back((ticket, bytes));
        loop {
            if ticket <= state.enrolled_through {
                // Taken into the open group when it opened (`open_group`).
                if let Phase::Open(m) = &state.phase {
                    return Some(Role::Member(m.outcome.clone(), m.gated));
                }
            }
            if state.has_room(bytes) {
                state.queue.retain(|(t, _)| *t != ticket);
                return state.enter(bytes);
            }
            let stalled = matches!(state.phase,
                Phase::Starting { since } if since.elapsed() >= STALLED_AFTER);
            let left = remaining(deadline);
            if (stalled && state.queue.len() > self.max_waiting) || left.is_zero() {
                state.queue.retain(|(t, _)| *t != ticket);
                return None;
            }
            state = self
                .changed
                .wait_timeout(state, left.min(RECHECK))
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
    }

    /// Opens the group (its transaction has begun): the leader and the waiting writers that
    /// fit, oldest first.
    fn open_group(&self, bytes: usize, gated: bool) -> Arc<Outcome> {
        let outcome = Arc::new(Outcome::new());
        let mut m = Members {
            count: 1,
            running: 1,
            failed: 0,
            bytes,
            gated,
            outcome: outcome.clone(),
        };
        let mut state = self.state();
        while let Some(&(ticket, size)) = state.queue.front() {
            if m.count >= MAX_MEMBERS || m.bytes + size > MAX_BYTES {
                break;
            }
            state.queue.pop_front();
            state.enrolled_through = ticket;
            m.count += 1;
            m.running += 1;
            m.bytes += size;
        }
        state.phase = Phase::Open(m);
        drop(state);
        self.changed.notify_all();
        outcome
    }

    /// Leads a group: lock, gate, own work, the members' work, one commit.
    fn lead<T>(
        &self,
        notices: &mut NoticeCache,
        bypass: Option<&Digest>,
        bytes: usize,
        deadline: Instant,
        work: impl FnOnce(&Writer) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mut writer = self.writer();
        let began = Instant::now();
        let gated = match self.open_transaction(notices, bypass, &mut writer, deadline) {
            Ok(gated) => gated,
            Err(e) => {
                drop(writer);
                self.set_phase(Phase::Idle);
                return Err(e);
            }
        };
        let outcome = self.open_group(bytes, gated);
        let mine = run_part(&mut writer, work);
        drop(writer);
        if mine.is_err() {
            self.metrics.write(WriteOutcome::Undone, 1);
        }

        // Wait for the members that joined to run their work (the leader stays counted as
        // running); then nobody else may join.
        let mut state = self.state();
        let (count, failed) = loop {
            if let Phase::Open(m) = &mut state.phase {
                if m.running == 1 {
                    break (m.count, m.failed + usize::from(mine.is_err()));
                }
            }
            state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner());
        };
        state.phase = Phase::Committing;
        drop(state);

        let committed = match self.writer().as_mut() {
            Some(open) => open.storage.commit(),
            None => Err(StorageError::TransactionLost),
        };
        let result = committed.as_ref().map(|_| ()).map_err(|e| e.to_string());
        match &result {
            Ok(()) => {
                log::debug!("group commit: {count} writes, {failed} of them undone alone");
                self.metrics.group(count, began.elapsed());
                self.metrics.write(WriteOutcome::Committed, count - failed);
            }
            Err(e) => {
                log::error!("a group of {count} writes failed to commit: {e}");
                self.metrics
                    .write(WriteOutcome::CommitFailed, count - failed);
            }
        }
        // Set before the phase moves on, so that no member can miss it.
        let _ = outcome.set(result);
        self.set_phase(Phase::Idle);
        match committed {
            Ok(()) => mine,
            Err(e) => Err(e.into()),
        }
    }

    /// Opens the group's transaction on the writer connection, behind the maintenance gate;
    /// true when the flag is up and the leader passed it by its bypass secret.
    fn open_transaction(
        &self,
        notices: &mut NoticeCache,
        bypass: Option<&Digest>,
        writer: &mut Option<Opened>,
        deadline: Instant,
    ) -> Result<bool, ApiError> {
        let storage = session::connection(writer, self.gate.epoch(), &self.db)?;
        log::debug!("waiting for the write lock");
        match storage.begin(remaining(deadline)) {
            Ok(()) => {}
            Err(StorageError::Busy) => {
                self.metrics.write(WriteOutcome::Busy, 1);
                return Err(self.gate.busy(notices, "the database stayed locked"));
            }
            Err(e) => return Err(e.into()),
        }
        // The gate: a fresh look at the flag now that the write lock is held. A drain that set
        // the flag before this point has either seen this transaction finish or will wait for
        // it; either way nothing of this group commits without the bypass secret.
        let notice = match self.gate.decide(notices, Intent::Write, bypass) {
            Decision::Open => return Ok(false),
            Decision::Bypassed => return Ok(true),
            Decision::Closed(notice) => notice,
        };
        storage.rollback();
        log::info!("write rolled back: maintenance began while the request was in flight");
        self.metrics.write(WriteOutcome::Gate, 1);
        Err(ApiError::Maintenance(notice))
    }

    /// Runs a member's work in the open group (unless `gate` closed it to this write), then
    /// waits for the group's commit.
    fn follow<T>(
        &self,
        outcome: &Outcome,
        gate: Option<Notice>,
        work: impl FnOnce(&Writer) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let mine = match gate {
            Some(notice) => {
                log::info!("write refused: maintenance is on and it has no bypass secret");
                self.metrics.write(WriteOutcome::Gate, 1);
                Err(ApiError::Maintenance(notice))
            }
            None => {
                let mine = run_part(&mut self.writer(), work);
                if mine.is_err() {
                    self.metrics.write(WriteOutcome::Undone, 1);
                }
                mine
            }
        };
        let mut state = self.state();
        if let Phase::Open(m) = &mut state.phase {
            m.running -= 1;
            m.failed += usize::from(mine.is_err());
        }
        self.changed.notify_all();
        // A failed write is undone already: nothing of it waits for the commit.
        let value = mine?;
        loop {
            match outcome.get() {
                Some(Ok(())) => return Ok(value),
                Some(Err(e)) => {
                    return Err(ApiError::Internal(format!(
                        "the write's group failed to commit: {e}"
                    )))
                }
                None => state = self.changed.wait(state).unwrap_or_else(|e| e.into_inner()),
            }
        }
    }

    fn set_phase(&self, phase: Phase) {
        self.state().phase = phase;
        self.changed.notify_all();
    }
}

impl State {
    /// True when a write of `bytes` can lead a group (there is none) or join the open one.
    fn has_room(&self, bytes: usize) -> bool {
        match &self.phase {
            Phase::Idle => true,
            Phase::Open(m) => m.count < MAX_MEMBERS && m.bytes + bytes <= MAX_BYTES,
            Phase::Starting { .. } | Phase::Committing => false,
        }
    }

    /// Leads a group when there is none, or joins the open one when it has room.
    fn enter(&mut self, bytes: usize) -> Option<Role> {
        match &mut self.phase {
            Phase::Idle => {
                self.phase = Phase::Starting {
                    since: Instant::now(),
                };
                Some(Role::Leader)
            }
            Phase::Open(m) if m.count < MAX_MEMBERS && m.bytes + bytes <= MAX_BYTES => {
                m.count += 1;
                m.running += 1;
                m.bytes += bytes;
                Some(Role::Member(m.outcome.clone(), m.gated))
            }
            Phase::Open(_) | Phase::Starting { .. } | Phase::Committing => None,
        }
    }
}

/// Runs one write's work as a savepoint of the open transaction. A panic in it becomes a 500
/// for that write only (its savepoint is undone while unwinding); the group goes on.
fn run_part<T>(
    writer: &mut Option<Opened>,
    work: impl FnOnce(&Writer) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let Some(open) = writer.as_mut() else {
        return Err(StorageError::TransactionLost.into());
    };
    let storage: &mut Storage = &mut open.storage;
    catch_unwind(AssertUnwindSafe(|| storage.part(work))).unwrap_or_else(|_| {
        Err(ApiError::Internal(
            "the handler panicked in its write".into(),
        ))
    })
}

/// Committed groups per size bucket (`metrics::GROUP_BUCKETS`) as text for the log:
/// `1: 10, 2: 3, 3-4: 0, ...`.
pub fn describe_sizes(counts: &[u64]) -> String {
    let mut low = 1;
    let mut parts = Vec::new();
    for (top, n) in GROUP_BUCKETS.iter().map(|t| *t as usize).zip(counts) {
        let range = if low == top {
            top.to_string()
        } else {
            format!("{low}-{top}")
        };
        parts.push(format!("{range}: {n}"));
        low = top + 1;
    }
    parts.join(", ")
}

fn remaining(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn soon(ms: u64) -> Instant {
        Instant::now() + Duration::from_millis(ms)
    }

    fn open(groups: &Groups, count: usize, bytes: usize) {
        groups.set_phase(Phase::Open(Members {
            count,
            running: count,
            failed: 0,
            bytes,
            gated: false,
            outcome: Arc::new(Outcome::new()),
        }));
    }

    /// Groups with no real gate or database behind them (the tests here never write).
    fn test_groups(workers: usize) -> Groups {
        let gate = Arc::new(Gate::new(
            PathBuf::from("/nonexistent/maintenance"),
            PathBuf::from("/nonexistent/announcement"),
            false,
        ));
        let metrics = Arc::new(Metrics::new(false, &[]));
        Groups::new(workers, gate, metrics, PathBuf::from("/nonexistent/db"))
    }

    #[test]
    fn the_first_writer_leads_and_the_next_waits_for_the_group_to_open() {
        let groups = test_groups(4);
        assert!(matches!(groups.join(10, soon(1000)), Some(Role::Leader)));
        let started = Instant::now();
        assert!(groups.join(10, soon(120)).is_none(), "two leaders at once");
        assert!(started.elapsed() >= Duration::from_millis(120));
        open(&groups, 1, 10);
        assert!(matches!(groups.join(10, soon(0)), Some(Role::Member(..))));
    }

    #[test]
    fn writers_waiting_when_a_group_opens_are_in_it() {
        let groups = &test_groups(8);
        assert!(matches!(groups.join(0, soon(0)), Some(Role::Leader)));
        std::thread::scope(|s| {
            let waiters: Vec<_> = (0..3)
                .map(|_| s.spawn(move || groups.join(10, soon(5000))))
                .collect();
            while groups.state().queue.len() < 3 {
                std::thread::yield_now();
            }
            groups.open_group(0, false);
            // Enrolled before any of them ran again: the leader waits for all three.
            match &groups.state().phase {
                Phase::Open(m) => assert_eq!((m.count, m.running, m.bytes), (4, 4, 30)),
                _ => panic!("the group is not open"),
            }
            for w in waiters {
                assert!(matches!(w.join().unwrap(), Some(Role::Member(..))));
            }
        });
        assert!(groups.state().queue.is_empty());
    }

    #[test]
    fn a_full_group_takes_no_more_members() {
        let groups = test_groups(4);
        open(&groups, MAX_MEMBERS, 0);
        assert!(groups.join(1, soon(60)).is_none(), "joined a full group");
        open(&groups, 1, MAX_BYTES - 10);
        assert!(
            groups.join(11, soon(60)).is_none(),
            "joined past the byte budget"
        );
        assert!(matches!(groups.join(10, soon(0)), Some(Role::Member(..))));
        groups.set_phase(Phase::Committing);
        assert!(
            groups.join(1, soon(60)).is_none(),
            "joined a committing group"
        );
        groups.set_phase(Phase::Idle);
        assert!(matches!(groups.join(1, soon(0)), Some(Role::Leader)));
    }

    #[test]
    fn a_stalled_leader_turns_writers_away_beyond_the_bound() {
        let groups = &test_groups(4); // at most one writer waits while stalled
        assert!(matches!(groups.join(0, soon(0)), Some(Role::Leader)));
        groups.set_phase(Phase::Starting {
            since: Instant::now() - STALLED_AFTER,
        });
        std::thread::scope(|s| {
            let late = soon(5000);
            let waiters: Vec<_> = (0..3)
                .map(|_| s.spawn(move || groups.join(0, late).is_some()))
                .collect();
            // The two writers beyond the bound give up at once; the third waits for the group.
            while waiters.iter().filter(|w| w.is_finished()).count() < 2 {
                std::thread::yield_now();
            }
            open(groups, 1, 0);
            let got: Vec<bool> = waiters.into_iter().map(|w| w.join().unwrap()).collect();
            assert_eq!(got.iter().filter(|g| !**g).count(), 2, "{got:?}");
        });
    }

    #[test]
    fn group_sizes_are_described_by_bucket() {
        assert_eq!(
            describe_sizes(&[4, 0, 2, 0, 0, 0, 1]),
            "1: 4, 2: 0, 3-4: 2, 5-8: 0, 9-16: 0, 17-32: 0, 33-64: 1"
        );
    }
}
