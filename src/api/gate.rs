//! The request path's view of maintenance: the flag's one check (`check`), the one decision
//! from it (`maintenance::decide`) for the dispatcher and for the write gate alike, and what the
//! server observed of it (`Observer`). Shared by `App` and the group commit, so the write path
//! needs nothing of `App`.

use super::error::ApiError;
use super::observer::Observer;
use crate::maintenance::{
    self, stricter, Announcement, AnnouncementCache, Decision, Flag, Intent, Notice, NoticeCache,
};
use crate::secret::Digest;
use std::path::PathBuf;
use std::sync::Mutex;

/// The flag of this server's root and what was observed of it.
pub struct Gate {
    /// `ROOT/logs/maintenance`.
    pub(super) flag: PathBuf,
    /// `ROOT/logs/maintenance-announcement` (SPEC 5.5).
    announcement: PathBuf,
    /// `logs/` could not be used at start (the reason was logged): every request gets the 503.
    logs_unusable: bool,
    pub(super) observer: Observer,
    /// The cluster's maintenance (SPEC 12), as the server's watcher last read it from
    /// PostgreSQL; always `None` on SQLite. A memory read per request, no round trip.
    cluster: Mutex<Option<Notice>>,
    /// The window announced for the cluster, as last read.
    cluster_announcement: Mutex<Option<Announcement>>,
}

impl Gate {
    pub fn new(flag: PathBuf, announcement: PathBuf, logs_unusable: bool) -> Gate {
        Gate {
            flag,
            announcement,
            logs_unusable,
            observer: Observer::default(),
            cluster: Mutex::new(None),
            cluster_announcement: Mutex::new(None),
        }
    }

    /// Records the cluster's maintenance (`None`: off) and announcement as last read.
    pub fn set_cluster(&self, notice: Option<Notice>, announcement: Option<Announcement>) {
        *self.cluster.lock().unwrap_or_else(|e| e.into_inner()) = notice;
        *self
            .cluster_announcement
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = announcement;
    }

    /// The cluster's maintenance as last read.
    fn cluster(&self) -> Option<Notice> {
        self.cluster
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
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
        let host = self.look_at_host(notices, log_errors);
        let notice = stricter(host, self.cluster());
        self.observer.observe(notice.as_ref());
        notice
    }

    /// The host's flag (`logs/maintenance`).
    fn look_at_host(&self, notices: &mut NoticeCache, log_errors: bool) -> Option<Notice> {
        if self.logs_unusable {
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
        }
    }

    /// A fresh check, then the one decision for a request of this intent that presented this
    /// bypass digest. The write gate asks it with `Intent::Write` once the write lock is held.
    pub(super) fn decide(
        &self,
        notices: &mut NoticeCache,
        intent: Intent,
        presented: Option<&Digest>,
    ) -> Decision {
        // Each scope is passed by its own bypass secret; a request must pass both.
        let host = self.look_at_host(notices, true);
        let cluster = self.cluster();
        self.observer
            .observe(stricter(host.clone(), cluster.clone()).as_ref());
        match maintenance::decide(host, intent, presented) {
            Decision::Closed(notice) => Decision::Closed(notice),
            Decision::Open => maintenance::decide(cluster, intent, presented),
            Decision::Bypassed => match maintenance::decide(cluster, intent, presented) {
                Decision::Open => Decision::Bypassed,
                other => other,
            },
        }
    }

    /// The maintenance window announced ahead, if any (read only when the file changed).
    /// This root's announcement file wins; else the cluster's.
    pub(super) fn announcement(&self, cache: &mut AnnouncementCache) -> Option<Announcement> {
        cache.get(&self.announcement).or_else(|| {
            self.cluster_announcement
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone()
        })
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
