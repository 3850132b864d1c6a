//! What the server has observed of the maintenance flag: transitions, logged once, and the
//! epoch that tells workers to reopen their connections. Only the server uses it.

use crate::maintenance::{Mode, Notice};
use std::sync::atomic::{AtomicU64, Ordering};

/// The server's record of the maintenance state it has observed, shared by all workers.
///
/// `epoch` counts observed on/off transitions: odd means on. Workers reopen their database
/// connection when the epoch moved since they opened it, so a database replaced during
/// maintenance is the one served afterwards. A switch between full and read-only is a transition
/// of its own (logged once) that leaves the epoch alone: maintenance did not end. The declined
/// count is the one count of 503s: the log line at off gives the part since on (whatever the
/// modes in between), the metric the total.
#[derive(Default)]
pub struct Observer {
    /// `epoch << 1 | read_only`, in one word so that one compare-and-swap moves both.
    state: AtomicU64,
    /// Requests answered with the maintenance 503 since start (the metric reads it too).
    declined: AtomicU64,
    /// `declined` when maintenance last came on: the log line at off counts from there.
    declined_at_on: AtomicU64,
}

impl Observer {
    /// Records what a request (or the watcher) saw, `None` for off; logs a transition once.
    /// Returns the epoch.
    pub fn observe(&self, seen: Option<&Notice>) -> u64 {
        let seen_mode = seen.map(Notice::mode);
        let mut current = self.state.load(Ordering::Acquire);
        loop {
            let epoch = current >> 1;
            let was = (epoch & 1 == 1).then_some(if current & 1 == 1 {
                Mode::ReadOnly
            } else {
                Mode::Full
            });
            if was == seen_mode {
                return epoch;
            }
            let next_epoch = if was.is_some() == seen_mode.is_some() {
                epoch
            } else {
                epoch + 1
            };
            let next = next_epoch << 1 | u64::from(seen_mode == Some(Mode::ReadOnly));
            match self
                .state
                .compare_exchange(current, next, Ordering::AcqRel, Ordering::Acquire)
            {
                Ok(_) => {
                    if was.is_none() {
                        let total = self.declined.load(Ordering::Acquire);
                        self.declined_at_on.store(total, Ordering::Release);
                    }
                    match (was, seen) {
                        (None, Some(n)) if n.mode() == Mode::Full => {
                            log::warn!("maintenance on: \"{}\"", n.message())
                        }
                        (None, Some(n)) => {
                            log::warn!("maintenance on ({}): \"{}\"", n.mode(), n.message())
                        }
                        (Some(from), Some(n)) => log::warn!(
                            "maintenance switched from {from} to {}: \"{}\"",
                            n.mode(),
                            n.message()
                        ),
                        (_, None) => {
                            let declined = self.declined.load(Ordering::Acquire)
                                - self.declined_at_on.load(Ordering::Acquire);
                            log::warn!("maintenance off: {declined} requests declined while on");
                        }
                    }
                    return next_epoch;
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// Counts one request answered with the maintenance 503.
    pub fn declined(&self) {
        self.declined.fetch_add(1, Ordering::AcqRel);
    }

    /// Requests answered with the maintenance 503 since the server started.
    pub fn declined_total(&self) -> u64 {
        self.declined.load(Ordering::Acquire)
    }

    /// The current epoch (odd: on).
    pub fn epoch(&self) -> u64 {
        self.state.load(Ordering::Acquire) >> 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observer_counts_transitions_once() {
        let o = Observer::default();
        let full = Notice::default();
        let read_only = full.with(Mode::ReadOnly, None);
        assert_eq!(o.observe(None), 0);
        assert_eq!(o.observe(Some(&full)), 1);
        assert_eq!(o.observe(Some(&full)), 1);
        assert_eq!(o.observe(None), 2);
        // A switch of mode is not the end of maintenance: the epoch stays odd and unmoved.
        assert_eq!(o.observe(Some(&read_only)), 3);
        assert_eq!(o.observe(Some(&full)), 3);
        assert_eq!(o.observe(Some(&read_only)), 3);
        assert_eq!(o.epoch(), 3);
        assert_eq!(o.observe(None), 4);
    }
}
