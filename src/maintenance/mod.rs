//! The maintenance flag `ROOT/logs/maintenance`, shared by the server and the CLI.
//!
//! The flag exists ⇔ maintenance is on, whatever it holds. This module owns the existence check
//! (one `symlink_metadata`, never cached, failing closed) and the one decision a request or a
//! write gets from it (`decide`); `notice` owns the optional JSON content (the operator's
//! message, the mode, the SHA-256 of the bypass secret), its cache, the atomic write and the
//! removal. It must not touch the database or the network. Content that cannot be read always
//! means the strictest answer: full maintenance, no bypass.

mod announcement;
mod notice;

pub use announcement::{
    read_announcement, remove_announcement, write_announcement, Announcement, AnnouncementCache,
};
pub use notice::{read_notice, remove_flag, write_flag, Notice, NoticeCache, DEFAULT_MESSAGE};

use crate::secret::Digest;
use std::fs::{self, Metadata};
use std::io;
use std::path::Path;

/// Which maintenance the flag asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Every request but the exemptions gets the 503 (also: any content that is not read-only).
    #[default]
    Full,
    /// `GET`, `HEAD` and `OPTIONS` are served; every other method gets the 503.
    ReadOnly,
}

impl Mode {
    /// The name the flag, the CLI and the log use: `full` or `read-only`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::ReadOnly => "read-only",
        }
    }

    /// The `reason` of the 503's extensions.
    pub fn reason(self) -> &'static str {
        match self {
            Mode::Full => "maintenance",
            Mode::ReadOnly => "read_only",
        }
    }
}

impl std::fmt::Display for Mode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// What one look at the flag found: nothing, something (with what the look read of it), or
/// an error that leaves the existence undecided, which every caller treats as on (fail closed).
/// `probe` sees the file's metadata (`Flag<Metadata>`), `check` the notice (`Flag<Notice>`).
#[derive(Debug)]
pub enum Flag<T> {
    /// Nothing at the path: serving.
    Off,
    /// Something at the path (file, directory, FIFO, dangling link): maintenance.
    On(T),
    /// The existence could not be decided.
    Unknown(io::Error),
}

impl<T> Flag<T> {
    /// True unless the flag is known to be absent.
    pub fn is_on(&self) -> bool {
        !matches!(self, Flag::Off)
    }
}

impl Flag<Notice> {
    /// The notice to answer with, or `None` when serving. Undecidable means on, with the
    /// default notice.
    pub fn notice(&self) -> Option<Notice> {
        match self {
            Flag::Off => None,
            Flag::On(notice) => Some(notice.clone()),
            Flag::Unknown(_) => Some(Notice::default()),
        }
    }
}

/// The one maintenance check, used by every request, the write gate, the watcher and the CLI:
/// one fresh `lstat` of the flag (never cached), then the notice from `cache` (read again only
/// when the flag's identity changed).
///
/// When the flag was removed or replaced between the `lstat` and the read of its content (an
/// `off`, or an `on` that rewrote it, at that moment), the content belongs to no state the
/// `lstat` saw: the check starts again with a new `lstat`, a few times, then fails closed to
/// the default notice. (Reading it as unreadable would have answered full maintenance to a
/// read in read-only mode, or while maintenance was ending.)
pub fn check(path: &Path, cache: &mut NoticeCache) -> Flag<Notice> {
    const ATTEMPTS: usize = 3;
    for _ in 0..ATTEMPTS {
        match probe(path) {
            Flag::Off => return Flag::Off,
            Flag::On(meta) => {
                if let Some(notice) = cache.get(path, &meta) {
                    return Flag::On(notice);
                }
            }
            Flag::Unknown(err) => return Flag::Unknown(err),
        }
    }
    Flag::On(Notice::default())
}

/// Looks at the flag path once: one `lstat`, no caching.
pub fn probe(path: &Path) -> Flag<Metadata> {
    match fs::symlink_metadata(path) {
        Ok(meta) => Flag::On(meta),
        Err(err) if err.kind() == io::ErrorKind::NotFound => Flag::Off,
        Err(err) => Flag::Unknown(err),
    }
}

/// The stricter of the two scopes' maintenance: full beats read-only beats off; on a tie the
/// host's notice is the one shown.
pub fn stricter(host: Option<Notice>, cluster: Option<Notice>) -> Option<Notice> {
    let rank = |n: &Option<Notice>| match n {
        None => 0,
        Some(n) if n.mode() == Mode::ReadOnly => 1,
        Some(_) => 2,
    };
    if rank(&cluster) > rank(&host) {
        cluster
    } else {
        host
    }
}

/// What a request asks of maintenance: only to read (`GET`, `HEAD`, `OPTIONS`), or possibly to
/// write (any other method, and every write transaction).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intent {
    Read,
    Write,
}

/// What maintenance decides for one request or one write.
#[derive(Debug, PartialEq)]
pub enum Decision {
    /// No maintenance, or read-only maintenance and a request that only reads.
    Open,
    /// The flag is up and the request carries its bypass secret: handled as if it were absent.
    Bypassed,
    /// The maintenance 503, with the notice to answer.
    Closed(Notice),
}

/// The one maintenance decision, for the dispatcher and the write gate alike: from what a
/// check of the flag saw (`None`: off), what the request intends, and the digest of the bypass
/// secret it presented. The bypass opens either mode; read-only maintenance opens reads only.
pub fn decide(seen: Option<Notice>, intent: Intent, presented: Option<&Digest>) -> Decision {
    let Some(notice) = seen else {
        return Decision::Open;
    };
    if notice.admits(presented) {
        return Decision::Bypassed;
    }
    match (notice.mode(), intent) {
        (Mode::ReadOnly, Intent::Read) => Decision::Open,
        (Mode::ReadOnly | Mode::Full, _) => Decision::Closed(notice),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::flag_path;
    use notice::{read_content, Raced};

    #[test]
    fn a_flag_replaced_or_removed_after_the_lstat_is_looked_at_again() {
        let dir = tempfile::tempdir().unwrap();
        let flag = dir.path().join("maintenance");
        write_flag(&flag, &Notice::parse(br#"{"mode":"read-only"}"#)).unwrap();
        let meta = fs::symlink_metadata(&flag).unwrap();
        let full = Notice::parse(br#"{"message":"full now"}"#);
        write_flag(&flag, &full).unwrap(); // renamed over the one `meta` describes
        assert_eq!(read_content(&flag, &meta), Err(Raced));
        let mut cache = NoticeCache::default();
        assert_eq!(cache.get(&flag, &meta), None, "a raced read is not cached");
        let seen = check(&flag, &mut cache).notice().unwrap();
        assert_eq!((seen.mode(), seen), (Mode::Full, full));

        let meta = fs::symlink_metadata(&flag).unwrap();
        fs::remove_file(&flag).unwrap();
        assert_eq!(read_content(&flag, &meta), Err(Raced));
        assert!(matches!(check(&flag, &mut cache), Flag::Off));
    }

    #[test]
    fn probe_fails_closed_when_logs_is_a_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("logs"), b"not a directory").unwrap();
        let state = probe(&flag_path(dir.path()));
        assert!(matches!(state, Flag::Unknown(_)), "{state:?}");
        assert!(state.is_on());
    }

    #[test]
    fn dangling_symlink_counts_as_on() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("logs")).unwrap();
        let flag = flag_path(dir.path());
        assert!(matches!(probe(&flag), Flag::Off));
        std::os::unix::fs::symlink("/nonexistent/target", &flag).unwrap();
        assert!(matches!(probe(&flag), Flag::On(_)));
    }

    #[test]
    fn one_decision_for_requests_and_writes() {
        let secret = Digest::of("s");
        let full = Notice::default().with(Mode::Full, Some(secret));
        let read_only = Notice::default().with(Mode::ReadOnly, Some(secret));
        let wrong = Digest::of("t");
        #[rustfmt::skip]
        let cases = [
            // seen,              intent,        presented,     decision
            (None,                Intent::Write, None,          "open"),
            (Some(&full),         Intent::Read,  None,          "closed"),
            (Some(&full),         Intent::Read,  Some(&wrong),  "closed"),
            (Some(&full),         Intent::Write, Some(&secret), "bypassed"),
            (Some(&read_only),    Intent::Read,  None,          "open"),
            (Some(&read_only),    Intent::Write, None,          "closed"),
            (Some(&read_only),    Intent::Write, Some(&secret), "bypassed"),
            (Some(&read_only),    Intent::Read,  Some(&secret), "bypassed"),
        ];
        for (seen, intent, presented, want) in cases {
            let got = match decide(seen.cloned(), intent, presented) {
                Decision::Open => "open",
                Decision::Bypassed => "bypassed",
                Decision::Closed(n) => {
                    assert_eq!(Some(&n), seen);
                    "closed"
                }
            };
            assert_eq!(got, want, "{seen:?} {intent:?} {presented:?}");
        }
    }
}
