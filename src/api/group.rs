//! Group commit: the process's writes share one connection and, when they arrive together, one
//! transaction and one fsync.
//!
//! A write is data: its work (a closure that owns what it needs) goes into a queue. A write
//! that finds no group in progress leads the next one: it takes the write lock
//! (`BEGIN IMMEDIATE`), runs the maintenance gate once for the group, takes the queue's writes
//! (its own first) and runs each as a savepoint on its own thread, one after the other, taking
//! the writes that arrive meanwhile too, and commits once for all of them. No other thread
//! touches the connection while the lock is held, so a group costs one wake-up per member (its
//! answer) and none in between. A write that arrives while a group commits waits in the queue;
//! the leader hands the next group to the oldest of them before it answers its own, so a lone
//! writer never waits for company. No write is answered before the commit that holds it is
//! durable; a write whose own work fails is undone alone and answered at once; a commit that
//! fails fails every write in it.
//!
//! Bounds: a group takes at most `MAX_MEMBERS` writes and `MAX_BYTES` of request bodies (read
//! and parsed before a write is queued, so no client I/O happens inside a group). A write waits
//! at most `WRITE_DEADLINE` in the queue for a group and the database's lock; while a leader is
//! stalled on another process's lock, at most `max_waiting` writers wait and the rest answer 503
//! at once, so reads and `/server/ping` always find a free worker.

use super::error::ApiError;
use super::gate::Gate;
use super::session::{self, Opened};
use crate::maintenance::{Decision, Intent, Notice, NoticeCache};
use crate::metrics::Metrics;
use crate::metrics::{WriteOutcome, GROUP_BUCKETS};
use crate::secret::Digest;
use crate::storage::{Database, StorageError, Writer};
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
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

/// The process's writes: the one writer connection and the queue of writes.
pub struct Groups {
    state: Mutex<State>,
    /// The writer connection; only the leader of the group in progress uses it.
    writer: Mutex<Option<Opened>>,
    max_waiting: usize,
    /// The maintenance gate every group passes once it holds the write lock.
    gate: Arc<Gate>,
    metrics: Arc<Metrics>,
    /// The database the writer connection opens.
    db: Database,
    /// Writes that did not lead on arrival and have not been answered yet (queued, running in
    /// a group, or waiting for its commit): while there are any, relief workers take requests
    /// (`relief_wanted`), so the queue can grow while a group commits.
    waiting: AtomicUsize,
    /// Relief workers asleep in `relief_wanted`: a write wakes one only when there is one.
    sleeping: AtomicUsize,
    relief: Mutex<()>,
    relief_wanted: Condvar,
}

struct State {
    /// A group is in progress (or handed to the oldest queued write): new writes queue.
    leading: bool,
    /// When the leader began to wait for the write lock, until it has it.
    starting: Option<Instant>,
    /// The queued write handed the next group, until it starts to lead it.
    next_leader: Option<u64>,
    /// Writes waiting for a leader to take them, oldest first. Not empty only while `leading`.
    queue: VecDeque<Queued>,
    /// The last ticket handed out.
    tickets: u64,
}

/// A write in the queue.
struct Queued {
    ticket: u64,
    bytes: usize,
    job: Box<dyn Job>,
}

/// A write as the leader sees it, whatever its result type.
trait Job: Send {
    /// The digest of the bypass secret its request presented.
    fn bypass(&self) -> Option<Digest>;
    /// Runs its work as a savepoint of the open transaction, unless `refused` (the gate closed
    /// it to this write); true when it succeeded.
    fn run(&mut self, storage: &mut Option<Opened>, refused: Option<Notice>) -> bool;
    /// Answers the writer: its own result, or the commit's error when its group failed.
    fn answer(self: Box<Self>, committed: Result<(), &str>);
    /// Wakes the writer to lead the next group.
    fn lead(&self);
}

/// Where a writer waits for its answer.
struct Slot<T> {
    answer: Mutex<Answer<T>>,
    ready: Condvar,
}

enum Answer<T> {
    Waiting,
    /// Lead the next group (the write is still in the queue).
    Lead,
    Done(Result<T, ApiError>),
}

/// What became of a queued write that looked whether to give up.
enum Withdrawal {
    /// It waits on.
    Stay,
    /// It left the queue: it answers 503.
    Withdrawn,
    /// A leader has it: its answer comes after the commit.
    Taken,
}

/// One write: its work until it runs, then its result until the commit.
struct Write<T, F> {
    work: Option<F>,
    result: Option<Result<T, ApiError>>,
    bypass: Option<Digest>,
    slot: Arc<Slot<T>>,
}

impl Groups {
    /// The writes of a pool of `workers`: while stalled, at most half of them wait.
    pub fn new(workers: usize, gate: Arc<Gate>, metrics: Arc<Metrics>, db: Database) -> Groups {
        Groups {
            gate,
            metrics,
            db,
            state: Mutex::new(State {
                leading: false,
                starting: None,
                next_leader: None,
                queue: VecDeque::new(),
                tickets: 0,
            }),
            writer: Mutex::new(None),
            max_waiting: (workers / 2).saturating_sub(1),
            waiting: AtomicUsize::new(0),
            sleeping: AtomicUsize::new(0),
            relief: Mutex::new(()),
            relief_wanted: Condvar::new(),
        }
    }

    /// Counts a write that waits on the database outside any group (on PostgreSQL each write
    /// is its own transaction, and its worker waits on every round trip and on the commit):
    /// relief workers take requests while it lasts, as they do for writes waiting on a group.
    pub(super) fn waiting_alone(&self) -> impl Drop + '_ {
        Waiting::enter(self)
    }

    /// True when writes wait in the queue now, or start to within `wait`: a relief worker
    /// then takes requests, else it stays out of the way of the workers' reads.
    pub fn relief_wanted(&self, wait: Duration) -> bool {
        if self.waiting.load(Ordering::SeqCst) > 0 {
            return true;
        }
        let guard = self.relief.lock().unwrap_or_else(|e| e.into_inner());
        // Counted asleep before looking again: `Waiting::enter` counts its write before it
        // looks for sleepers, so one of the two sees the other (and it notifies under the
        // lock, which this thread holds until it waits).
        self.sleeping.fetch_add(1, Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst) == 0 {
            drop(self.relief_wanted.wait_timeout(guard, wait));
        }
        self.sleeping.fetch_sub(1, Ordering::SeqCst);
        self.waiting.load(Ordering::SeqCst) > 0
    }

    /// Runs `work` as one atomic part of a write transaction, behind the maintenance gate, and
    /// returns once that transaction is durable. `bypass` is the digest of the secret the
    /// request presented, `bytes` the size of its body. The work runs on whichever thread
    /// leads the group, so it owns what it uses.
    pub fn write<T, F>(
        &self,
        notices: &mut NoticeCache,
        bypass: Option<&Digest>,
        bytes: usize,
        work: F,
    ) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Writer) -> Result<T, ApiError> + Send + 'static,
    {
        let deadline = Instant::now() + WRITE_DEADLINE;
        let slot = Arc::new(Slot {
            answer: Mutex::new(Answer::Waiting),
            ready: Condvar::new(),
        });
        let job = Box::new(Write {
            work: Some(work),
            result: None,
            bypass: bypass.copied(),
            slot: slot.clone(),
        });
        let (ticket, leads) = {
            let mut state = self.state();
            let stalled = state
                .starting
                .is_some_and(|since| since.elapsed() >= STALLED_AFTER);
            if stalled && state.queue.len() > self.max_waiting {
                drop(state);
                self.metrics.write(WriteOutcome::Busy, 1);
                return Err(self.gate.busy(notices, "no turn to write"));
            }
            state.tickets += 1;
            let ticket = state.tickets;
            state.queue.push_back(Queued { ticket, bytes, job });
            let leads = !state.leading;
            if leads {
                state.leading = true;
                state.next_leader = Some(ticket);
                drop(state);
                slot.set(Answer::Lead);
            }
            (ticket, leads)
        };
        let _waiting = (!leads).then(|| Waiting::enter(self));
        // The slot's lock is never held while taking the state's (a leader handing over holds
        // the state's and sets a slot).
        loop {
            let answer = slot.take(Some(remaining(deadline).min(RECHECK)));
            match answer {
                Some(Answer::Done(result)) => return result,
                Some(Answer::Lead) => self.lead(ticket, notices, bypass, deadline)?,
                Some(Answer::Waiting) | None => {
                    match self.withdraw(ticket, remaining(deadline).is_zero()) {
                        Withdrawal::Stay => {}
                        Withdrawal::Withdrawn => {
                            self.metrics.write(WriteOutcome::Busy, 1);
                            return Err(self.gate.busy(notices, "no turn to write"));
                        }
                        // Already taken by a leader: its answer comes after the commit.
                        Withdrawal::Taken => loop {
                            if let Some(Answer::Done(result)) = slot.take(None) {
                                return result;
                            }
                        },
                    }
                }
            }
        }
    }

    /// How many writes wait in the queue for a leader to take them.
    #[cfg(test)]
    pub(super) fn queued(&self) -> usize {
        self.state().queue.len()
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

    /// Takes a write out of the queue, at its deadline (`expired`) or when the leader has
    /// waited for the lock a while and more writes wait than may; decided under one lock, so
    /// no more writes give up than the bound says.
    fn withdraw(&self, ticket: u64, expired: bool) -> Withdrawal {
        let mut state = self.state();
        let Some(at) = state.queue.iter().position(|q| q.ticket == ticket) else {
            return Withdrawal::Taken;
        };
        let stalled = state
            .starting
            .is_some_and(|since| since.elapsed() >= STALLED_AFTER);
        let crowded = stalled && state.queue.len() > self.max_waiting;
        if !(expired || crowded) {
            return Withdrawal::Stay;
        }
        let withdrawn = state.queue.remove(at);
        // It may have been handed the next group meanwhile: pass that on.
        if state.next_leader == Some(ticket) {
            state.hand_over();
        }
        drop(state);
        drop(withdrawn);
        Withdrawal::Withdrawn
    }

    /// Leads a group (this write, `ticket`, is the oldest in the queue): lock, gate, the
    /// queue's writes as they come, one commit, then the next group to the oldest waiting write
    /// and every answer. `Err` when the group could not open: this write's answer.
    fn lead(
        &self,
        ticket: u64,
        notices: &mut NoticeCache,
        bypass: Option<&Digest>,
        deadline: Instant,
    ) -> Result<(), ApiError> {
        {
            let mut state = self.state();
            state.next_leader = None;
            state.starting = Some(Instant::now());
        }
        // Whatever happens from here, the next group gets a leader.
        let _handing = Handing(self);
        let mut writer = self.writer();
        let began = Instant::now();
        let gated = match self.open_transaction(notices, bypass, &mut writer, deadline) {
            Ok(gated) => gated,
            Err(e) => {
                drop(writer);
                let mut state = self.state();
                state.starting = None;
                let mine = state.queue.iter().position(|q| q.ticket == ticket);
                let mine = mine.and_then(|at| state.queue.remove(at));
                drop(state);
                drop(mine);
                return Err(e);
            }
        };
        self.state().starting = None;

        let (mut count, mut failed) = (0, 0);
        let mut done: Vec<Box<dyn Job>> = Vec::new();
        let mut bytes = 0;
        loop {
            let taken = self.state().take(&mut count, &mut bytes);
            if taken.is_empty() {
                break;
            }
            if count == taken.len() {
                expect_parts(&mut writer, count);
            }
            for mut job in taken {
                // In a group whose leader passed by the bypass, each write decides for itself,
                // with its own digest, against the flag as it is now.
                let refused = match gated {
                    false => None,
                    true => match self
                        .gate
                        .decide(notices, Intent::Write, job.bypass().as_ref())
                    {
                        Decision::Open | Decision::Bypassed => None,
                        Decision::Closed(notice) => {
                            log::info!(
                                "write refused: maintenance is on and it has no bypass secret"
                            );
                            self.metrics.write(WriteOutcome::Gate, 1);
                            Some(notice)
                        }
                    },
                };
                let gate_closed = refused.is_some();
                if job.run(&mut writer, refused) {
                    done.push(job);
                } else {
                    if !gate_closed {
                        self.metrics.write(WriteOutcome::Undone, 1);
                    }
                    failed += 1;
                    // Undone already: nothing of it waits for the commit.
                    job.answer(Ok(()));
                }
            }
        }

        let committed = match writer.as_mut() {
            Some(open) => match open.storage.sqlite() {
                Some(sqlite) => sqlite.commit(),
                None => Err(StorageError::TransactionLost),
            },
            None => Err(StorageError::TransactionLost),
        };
        drop(writer);
        let committed = committed.map_err(|e| e.to_string());
        match &committed {
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
        drop(_handing);
        for job in done {
            job.answer(committed.as_ref().map(|_| ()).map_err(String::as_str));
        }
        Ok(())
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
        let storage = session::connection(writer, self.gate.epoch(), &self.db)?
            .sqlite()
            .ok_or_else(|| ApiError::Internal("the group commit serves SQLite only".into()))?;
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
}

impl State {
    /// The writes the open group takes now, oldest first, within its bounds (`count` writes
    /// and `bytes` taken so far; a write bigger than `MAX_BYTES` goes alone).
    fn take(&mut self, count: &mut usize, bytes: &mut usize) -> Vec<Box<dyn Job>> {
        let mut taken = Vec::new();
        while let Some(next) = self.queue.front() {
            let fits = *count == 0 || *bytes + next.bytes <= MAX_BYTES;
            if *count >= MAX_MEMBERS || !fits {
                break;
            }
            let next = self.queue.pop_front().expect("the queue has a front");
            *count += 1;
            *bytes += next.bytes;
            taken.push(next.job);
        }
        taken
    }

    /// The group is over (or never opened): the oldest queued write leads the next one.
    fn hand_over(&mut self) {
        self.starting = None;
        match self.queue.front() {
            Some(next) => {
                self.next_leader = Some(next.ticket);
                next.job.lead();
            }
            None => {
                self.next_leader = None;
                self.leading = false;
            }
        }
    }
}

/// A write counted among those waiting in the queue while it lives.
struct Waiting<'g>(&'g Groups);

impl Waiting<'_> {
    /// Counts the write and wakes one sleeping relief worker (if any), so relief grows with
    /// the writes that wait rather than all at once.
    fn enter(groups: &Groups) -> Waiting<'_> {
        groups.waiting.fetch_add(1, Ordering::SeqCst);
        if groups.sleeping.load(Ordering::SeqCst) > 0 {
            let _guard = groups.relief.lock().unwrap_or_else(|e| e.into_inner());
            groups.relief_wanted.notify_one();
        }
        Waiting(groups)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Hands the next group over when dropped: when the group is over, and when its leader
/// unwinds from a panic (else no write would ever lead again).
struct Handing<'g>(&'g Groups);

impl Drop for Handing<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            // The transaction may still be open: closing the connection rolls it back and
            // frees the write lock, and the next leader opens a fresh one.
            *self.0.writer() = None;
        }
        self.0.state().hand_over();
    }
}

impl<T> Slot<T> {
    fn answer(&self) -> MutexGuard<'_, Answer<T>> {
        self.answer.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set(&self, answer: Answer<T>) {
        *self.answer() = answer;
        self.ready.notify_one();
    }

    /// The answer, once there is one (waiting at most `timeout`, or for as long as it takes);
    /// the slot is left waiting for the next.
    fn take(&self, timeout: Option<Duration>) -> Option<Answer<T>> {
        let mut answer = self.answer();
        if matches!(*answer, Answer::Waiting) {
            answer = match timeout {
                Some(t) => {
                    self.ready
                        .wait_timeout(answer, t)
                        .unwrap_or_else(|e| e.into_inner())
                        .0
                }
                None => self.ready.wait(answer).unwrap_or_else(|e| e.into_inner()),
            };
        }
        match std::mem::replace(&mut *answer, Answer::Waiting) {
            Answer::Waiting => None,
            got => Some(got),
        }
    }
}

impl<T, F> Job for Write<T, F>
where
    T: Send,
    F: FnOnce(&Writer) -> Result<T, ApiError> + Send,
{
    fn bypass(&self) -> Option<Digest> {
        self.bypass
    }

    fn run(&mut self, writer: &mut Option<Opened>, refused: Option<Notice>) -> bool {
        let result = match (refused, self.work.take()) {
            (Some(notice), _) => Err(ApiError::Maintenance(notice)),
            (None, Some(work)) => run_part(writer, work),
            (None, None) => Err(ApiError::Internal("a write ran twice".into())),
        };
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn answer(mut self: Box<Self>, committed: Result<(), &str>) {
        let result = match (self.result.take(), committed) {
            (Some(Ok(_)), Err(e)) => Err(ApiError::Internal(format!(
                "the write's group failed to commit: {e}"
            ))),
            (Some(result), _) => result,
            (None, _) => Err(ApiError::Internal("the write was never run".into())),
        };
        self.slot.set(Answer::Done(result));
    }

    fn lead(&self) {
        self.slot.set(Answer::Lead);
    }
}

impl<T, F> Drop for Write<T, F> {
    /// A write dropped unanswered (its leader panicked) still gets an answer.
    fn drop(&mut self) {
        let mut answer = self.slot.answer();
        if !matches!(*answer, Answer::Done(_)) {
            *answer = Answer::Done(Err(ApiError::Internal(
                "the write's group ended without it".into(),
            )));
            self.slot.ready.notify_one();
        }
    }
}

/// Tells the open transaction how many writes its group starts with (see
/// `Sqlite::expect_parts`). A failure here is only logged: the parts that follow meet it.
fn expect_parts(writer: &mut Option<Opened>, parts: usize) {
    if let Some(sqlite) = writer.as_mut().and_then(|open| open.storage.sqlite()) {
        if let Err(e) = sqlite.expect_parts(parts) {
            log::error!("deferring the text index in a group of {parts} failed: {e}");
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
    let Some(storage) = open.storage.sqlite() else {
        return Err(StorageError::TransactionLost.into());
    };
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
    use std::path::PathBuf;

    /// Groups with no real gate or database behind them (the tests here never commit).
    fn test_groups(workers: usize) -> Groups {
        let gate = Arc::new(Gate::new(
            PathBuf::from("/nonexistent/maintenance"),
            PathBuf::from("/nonexistent/announcement"),
            false,
        ));
        let metrics = Arc::new(Metrics::new(false, &[]));
        Groups::new(
            workers,
            gate,
            metrics,
            Database::File(PathBuf::from("/nonexistent/db")),
        )
    }

    /// A queued write of `bytes` and the slot it is answered in.
    fn queued(ticket: u64, bytes: usize) -> (Queued, Arc<Slot<()>>) {
        let slot = Arc::new(Slot {
            answer: Mutex::new(Answer::Waiting),
            ready: Condvar::new(),
        });
        let job = Box::new(Write {
            work: Some(|_: &Writer| Ok(())),
            result: None,
            bypass: None,
            slot: slot.clone(),
        });
        (Queued { ticket, bytes, job }, slot)
    }

    fn state(queue: Vec<Queued>) -> State {
        State {
            leading: true,
            starting: None,
            next_leader: None,
            queue: queue.into(),
            tickets: 0,
        }
    }

    #[test]
    fn a_group_takes_the_oldest_writes_within_its_bounds() {
        let mut s = state(
            (0..MAX_MEMBERS as u64 + 3)
                .map(|t| queued(t, 1).0)
                .collect(),
        );
        let (mut count, mut bytes) = (0, 0);
        assert_eq!(s.take(&mut count, &mut bytes).len(), MAX_MEMBERS);
        assert!(
            s.take(&mut count, &mut bytes).is_empty(),
            "past MAX_MEMBERS"
        );
        assert_eq!(s.queue.front().map(|q| q.ticket), Some(MAX_MEMBERS as u64));

        // A write bigger than the byte budget goes alone, and the budget counts every write.
        let mut s = state(vec![
            queued(1, MAX_BYTES + 1).0,
            queued(2, 1).0,
            queued(3, MAX_BYTES - 1).0,
            queued(4, 2).0,
        ]);
        let (mut count, mut bytes) = (0, 0);
        assert_eq!(s.take(&mut count, &mut bytes).len(), 1);
        assert!(s.take(&mut count, &mut bytes).is_empty());
        let (mut count, mut bytes) = (0, 0);
        assert_eq!(
            s.take(&mut count, &mut bytes).len(),
            2,
            "1 + (MAX_BYTES - 1) fit"
        );
        assert_eq!(s.queue.len(), 1);
    }

    #[test]
    fn the_oldest_queued_write_leads_the_next_group() {
        let (first, first_slot) = queued(7, 0);
        let (second, second_slot) = queued(8, 0);
        let mut s = state(vec![first, second]);
        s.starting = Some(Instant::now());
        s.hand_over();
        assert!(matches!(*first_slot.answer(), Answer::Lead));
        assert!(matches!(*second_slot.answer(), Answer::Waiting));
        assert_eq!(
            (s.leading, s.next_leader, s.starting),
            (true, Some(7), None)
        );
        s.queue.clear();
        s.hand_over();
        assert_eq!((s.leading, s.next_leader), (false, None));
    }

    #[test]
    fn a_write_dropped_unanswered_is_answered_with_an_error() {
        let (q, slot) = queued(1, 0);
        drop(q);
        assert!(matches!(
            *slot.answer(),
            Answer::Done(Err(ApiError::Internal(_)))
        ));
    }

    #[test]
    fn a_stalled_leader_turns_writers_away_beyond_the_bound() {
        let groups = test_groups(4); // at most one writer waits while stalled
        {
            let mut s = groups.state();
            s.leading = true;
            s.starting = Some(Instant::now() - STALLED_AFTER);
            s.queue.extend([queued(1, 0).0, queued(2, 0).0]);
        }
        let started = Instant::now();
        let mut notices = NoticeCache::default();
        let r = groups.write(&mut notices, None, 0, |_| Ok(()));
        assert!(matches!(r, Err(ApiError::DatabaseBusy)), "{:?}", r.err());
        assert!(
            started.elapsed() < WRITE_DEADLINE,
            "it waited for its deadline"
        );
        assert_eq!(groups.queued(), 2, "the refused write was queued");
    }

    #[test]
    fn group_sizes_are_described_by_bucket() {
        assert_eq!(
            describe_sizes(&[4, 0, 2, 0, 0, 0, 1]),
            "1: 4, 2: 0, 3-4: 2, 5-8: 0, 9-16: 0, 17-32: 0, 33-64: 1"
        );
    }
}
