//! The request path's view of maintenance: the flag's one check (`check`), the one decision
//! from it (`maintenance::decide`) for the dispatcher and for the write gate alike, and what the
//! server observed of it (`Observer`). Shared by `App` and the group commit, so the write path
//! needs nothing of `App`.

use super::error::ApiError;
use super::observer::Observer;
use crate::maintenance::{
    self, Announcement, AnnouncementCache, Decision, Flag, Intent, Notice, NoticeCache,
};
use crate::secret::Digest;
use std::path::PathBuf;

/// The flag of this server's root and what was observed of it.
pub struct Gate {
    /// `ROOT/logs/maintenance`.
    pub(super) flag: PathBuf,
    /// `ROOT/logs/maintenance-announcement` (SPEC 5.5).
    announcement: PathBuf,
    /// `logs/` could not be used at start (the reason was logged): every request gets the 503.
    logs_unusable: bool,
    pub(super) observer: Observer,
}

impl Gate {
    pub fn new(flag: PathBuf, announcement: PathBuf, logs_unusable: bool) -> Gate {
        Gate {
            flag,
            announcement,
            logs_unusable,
            observer: Observer::default(),
        }
    }

    /// The one maintenance check of the request path: `Some(notice)` when the flag is up. Notes
    /// transitions for the log and the connection epoch; fails closed. One `lstat`, and a read
    /// of the flag's content only when its identity changed since `notices` cached it.
    pub fn check(&self, notices: &mut NoticeCache) -> Option<Notice> {
        self.look(notices, true)
    }

    /// The same check for the server's watcher thread, which looks every 100 ms whatever the
    /// traffic: it records transitions and logs no error (the requests that meet one do).
    pub fn watch(&self, notices: &mut NoticeCache) {
        self.look(notices, false);
    }

    fn look(&self, notices: &mut NoticeCache, log_errors: bool) -> Option<Notice> {
        let notice = if self.logs_unusable {
            Some(Notice::default())
        } else {
            let check = maintenance::check(&self.flag, notices);
            if let (Flag::Unknown(err), true) = (&check, log_errors) {
                log::error!(
                    "cannot tell whether {} exists ({err}); answering 503 (fail closed)",
                    self.flag.display()
                );
            }
            check.notice()
        };
        self.observer.observe(notice.as_ref());
        notice
    }

    /// A fresh check, then the one decision for a request of this intent that presented this
    /// bypass digest. The write gate asks it with `Intent::Write` once the write lock is held.
    pub(super) fn decide(
        &self,
        notices: &mut NoticeCache,
        intent: Intent,
        presented: Option<&Digest>,
    ) -> Decision {
        maintenance::decide(self.check(notices), intent, presented)
    }

    /// The maintenance window announced ahead, if any (read only when the file changed).
    pub(super) fn announcement(&self, cache: &mut AnnouncementCache) -> Option<Announcement> {
        cache.get(&self.announcement)
    }

    /// Counts a request answered with the maintenance 503 (the log's count of a window, and the
    /// metric).
    pub(super) fn declined(&self) {
        self.observer.declined();
    }

    /// The number of transitions observed (odd: on); sessions reopen their connection when it
    /// moved.
    pub(super) fn epoch(&self) -> u64 {
        self.observer.epoch()
    }

    /// The answer to a write that could not get the database lock in time: the maintenance
    /// 503 when the flag is up (the drain holds the lock), else a retryable busy 503.
    pub(super) fn busy(&self, notices: &mut NoticeCache, why: &str) -> ApiError {
        match self.check(notices) {
            Some(notice) => {
                log::info!("write refused ({why}): maintenance is on");
                ApiError::Maintenance(notice)
            }
            None => {
                log::warn!("write refused ({why}): another process holds the database");
                ApiError::DatabaseBusy
            }
        }
    }
}
