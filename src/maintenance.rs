//! The maintenance flag `ROOT/logs/maintenance`, shared by the server and the CLI.
//!
//! The flag exists ⇔ maintenance is on, whatever it holds. This module owns the existence check
//! (one `symlink_metadata`, never cached, failing closed), the optional JSON content (read without
//! blocking and without bound problems, cached by file identity), the atomic write and the
//! removal, and the server's record of the transitions it has observed.
//! It must not touch the database or the network.

use serde_json::{Map, Value};
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// The message clients get when the flag holds none.
pub const DEFAULT_MESSAGE: &str =
    "The service is temporarily unavailable for maintenance. Please try again later.";

/// Flag content larger than this is not read: the notice falls back on its defaults.
const MAX_FLAG_BYTES: u64 = 64 * 1024;

/// What one look at the flag path found.
#[derive(Debug)]
pub enum FlagState {
    /// Nothing at the path: serving.
    Off,
    /// Something at the path (file, directory, FIFO, dangling link): maintenance.
    On(Metadata),
    /// The existence could not be decided; callers treat this as on (fail closed).
    Unknown(io::Error),
}

impl FlagState {
    /// True unless the flag is known to be absent.
    pub fn is_on(&self) -> bool {
        !matches!(self, FlagState::Off)
    }
}

/// What one check of the flag found: the state and, when on, the operator's notice.
#[derive(Debug)]
pub enum Check {
    /// Nothing at the path: serving.
    Off,
    /// The flag is there; the notice is what its content says (or the defaults).
    On(Notice),
    /// The existence could not be decided: callers treat this as on with the default notice
    /// (fail closed), and log the error.
    Unknown(io::Error),
}

impl Check {
    /// The notice to answer with, or `None` when serving. Undecidable means on.
    pub fn notice(&self) -> Option<Notice> {
        match self {
            Check::Off => None,
            Check::On(notice) => Some(notice.clone()),
            Check::Unknown(_) => Some(Notice::default()),
        }
    }
}

/// The one maintenance check, used by every request, the write gate, the watcher and the CLI:
/// one fresh `lstat` of the flag (never cached), then the notice from `cache` (read again only
/// when the flag's identity changed).
pub fn check(path: &Path, cache: &mut NoticeCache) -> Check {
    match probe(path) {
        FlagState::Off => Check::Off,
        FlagState::On(meta) => Check::On(cache.get(path, &meta)),
        FlagState::Unknown(err) => Check::Unknown(err),
    }
}

/// Looks at the flag path once: one `lstat`, no caching.
pub fn probe(path: &Path) -> FlagState {
    match fs::symlink_metadata(path) {
        Ok(meta) => FlagState::On(meta),
        Err(err) if err.kind() == io::ErrorKind::NotFound => FlagState::Off,
        Err(err) => FlagState::Unknown(err),
    }
}

/// The operator's notice: what the flag may hold. Each field falls back on its own.
///
/// Cheap to clone (shared), and it keeps the 503 body rendered from it, so a worker answering
/// many requests during maintenance renders it once per flag content.
#[derive(Debug, Clone, Default)]
pub struct Notice(Arc<NoticeData>);

#[derive(Debug, Default)]
struct NoticeData {
    message: Option<String>,
    retry_after: Option<u64>,
    since: Option<String>,
    rendered: OnceLock<Vec<u8>>,
}

impl PartialEq for Notice {
    fn eq(&self, other: &Notice) -> bool {
        let (a, b) = (&self.0, &other.0);
        (&a.message, a.retry_after, &a.since) == (&b.message, b.retry_after, &b.since)
    }
}

impl Notice {
    /// A notice with the given fields.
    pub fn new(message: Option<String>, retry_after: Option<u64>, since: Option<String>) -> Notice {
        Notice(Arc::new(NoticeData {
            message,
            retry_after,
            since,
            rendered: OnceLock::new(),
        }))
    }

    /// Reads a notice from flag content; anything unusable means the defaults for that field.
    pub fn parse(bytes: &[u8]) -> Notice {
        let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(bytes) else {
            return Notice::default();
        };
        Notice::new(
            map.get("message")
                .and_then(Value::as_str)
                .filter(|m| !m.trim().is_empty())
                .map(str::to_string),
            map.get("retry_after").and_then(Value::as_u64),
            map.get("since").and_then(Value::as_str).map(str::to_string),
        )
    }

    /// The 503 body for this notice, rendered by `render` the first time it is asked for.
    pub fn rendered(&self, render: impl FnOnce(&Notice) -> Vec<u8>) -> &[u8] {
        self.0.rendered.get_or_init(|| render(self))
    }

    /// The message to show people: the operator's, or the default one.
    pub fn message(&self) -> &str {
        self.0.message.as_deref().unwrap_or(DEFAULT_MESSAGE)
    }

    /// The operator's message, if any.
    pub fn custom_message(&self) -> Option<&str> {
        self.0.message.as_deref()
    }

    /// Seconds the operator expects the maintenance to last.
    pub fn retry_after(&self) -> Option<u64> {
        self.0.retry_after
    }

    /// When maintenance began, as the flag says (RFC 3339).
    pub fn since(&self) -> Option<&str> {
        self.0.since.as_deref()
    }

    /// The JSON object the CLI writes into the flag.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        if let Some(m) = &self.0.message {
            map.insert("message".into(), Value::from(m.as_str()));
        }
        if let Some(r) = self.0.retry_after {
            map.insert("retry_after".into(), Value::from(r));
        }
        if let Some(s) = &self.0.since {
            map.insert("since".into(), Value::from(s.as_str()));
        }
        Value::Object(map)
    }
}

/// Reads the notice of a flag found by `probe`; never blocks, never reads more than a bound.
pub fn read_notice(path: &Path, meta: &Metadata) -> Notice {
    if !meta.file_type().is_file() || meta.len() > MAX_FLAG_BYTES {
        return Notice::default();
    }
    // O_NONBLOCK: if the path became a FIFO since the lstat, open must not wait for a writer.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path);
    let Ok(file) = file else {
        return Notice::default();
    };
    match file.metadata() {
        Ok(m) if m.file_type().is_file() => {}
        _ => return Notice::default(),
    }
    let mut bytes = Vec::new();
    match file.take(MAX_FLAG_BYTES + 1).read_to_end(&mut bytes) {
        Ok(n) if n as u64 <= MAX_FLAG_BYTES => Notice::parse(&bytes),
        _ => Notice::default(),
    }
}

/// A per-worker cache of the flag's notice, keyed by the identity `probe` returned: device,
/// inode, size, mtime and ctime (both to the nanosecond). Any rewrite of the flag, in place or
/// by rename, changes one of them.
#[derive(Default)]
pub struct NoticeCache {
    key: Option<FlagIdentity>,
    notice: Notice,
}

type FlagIdentity = (u64, u64, u64, i64, i64, i64, i64);

impl NoticeCache {
    /// The notice for the flag whose metadata `probe` just returned; reads only when it changed.
    pub fn get(&mut self, path: &Path, meta: &Metadata) -> Notice {
        let key = (
            meta.dev(),
            meta.ino(),
            meta.size(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.ctime(),
            meta.ctime_nsec(),
        );
        if self.key != Some(key) {
            self.notice = read_notice(path, meta);
            self.key = Some(key);
        }
        self.notice.clone()
    }
}

/// Writes the flag atomically and durably (`durable::write`): mode 0644, no temporary file left.
pub fn write_flag(path: &Path, notice: &Notice) -> io::Result<()> {
    let mut text = serde_json::to_vec(&notice.to_json())?;
    text.push(b'\n');
    crate::durable::write(path, &text)
}

/// Removes the flag, whatever it is (a file, a link, a FIFO, a directory).
/// Returns false when there was nothing to remove.
pub fn remove_flag(path: &Path) -> io::Result<bool> {
    let meta = match fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(err) if err.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(err) => return Err(err),
    };
    if meta.file_type().is_dir() {
        fs::remove_dir_all(path)?;
    } else {
        fs::remove_file(path)?;
    }
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(true)
}

/// The server's record of the maintenance state it has observed, shared by all workers.
///
/// `epoch` counts observed transitions: odd means on. Workers reopen their database connection
/// when the epoch moved since they opened it, so a database replaced during maintenance is the
/// one served afterwards.
#[derive(Default)]
pub struct Observer {
    epoch: AtomicU64,
    declined: AtomicU64,
}

impl Observer {
    /// Records what a request (or the watcher) saw; logs a transition once. Returns the epoch.
    pub fn observe(&self, on: bool, notice: impl FnOnce() -> Notice) -> u64 {
        let mut current = self.epoch.load(Ordering::Acquire);
        loop {
            if (current & 1 == 1) == on {
                return current;
            }
            match self.epoch.compare_exchange(
                current,
                current + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    if on {
                        log::warn!("maintenance on: \"{}\"", notice().message());
                    } else {
                        let declined = self.declined.swap(0, Ordering::AcqRel);
                        log::warn!("maintenance off: {declined} requests declined while on");
                    }
                    return current + 1;
                }
                Err(actual) => current = actual,
            }
        }
    }

    /// Counts one request answered with the maintenance 503.
    pub fn declined(&self) {
        self.declined.fetch_add(1, Ordering::Relaxed);
    }

    /// The current epoch (odd: on).
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }
}

/// Formats a time as RFC 3339 in UTC, to the second (`2026-11-24T10:00:00Z`).
pub fn rfc3339(time: SystemTime) -> String {
    let secs = time
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant's algorithm), for the proleptic Gregorian calendar.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::flag_path;
    use std::time::Duration;

    #[test]
    fn parses_full_notice() {
        let n = Notice::parse(
            br#"{"message":"Upgrading","retry_after":600,"since":"2026-11-24T10:00:00Z"}"#,
        );
        assert_eq!(n.message(), "Upgrading");
        assert_eq!(n.retry_after(), Some(600));
        assert_eq!(n.since(), Some("2026-11-24T10:00:00Z"));
    }

    #[test]
    fn garbage_means_defaults_field_by_field() {
        assert_eq!(Notice::parse(b""), Notice::default());
        assert_eq!(Notice::parse(b"\xff\xfe{"), Notice::default());
        assert_eq!(Notice::parse(b"[1,2]"), Notice::default());
        assert_eq!(Notice::parse(br#"{"message":"Upgr"#), Notice::default());
        let n = Notice::parse(br#"{"message":7,"retry_after":-5,"since":"x"}"#);
        assert_eq!(n.message(), DEFAULT_MESSAGE);
        assert_eq!(n.retry_after(), None);
        assert_eq!(n.since(), Some("x"));
        let n = Notice::parse(br#"{"message":"ok","retry_after":"soon"}"#);
        assert_eq!(n.message(), "ok");
        assert_eq!(n.retry_after(), None);
    }

    #[test]
    fn probe_fails_closed_when_logs_is_a_file() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("logs"), b"not a directory").unwrap();
        let state = probe(&flag_path(dir.path()));
        assert!(matches!(state, FlagState::Unknown(_)), "{state:?}");
        assert!(state.is_on());
    }

    #[test]
    fn dangling_symlink_counts_as_on() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("logs")).unwrap();
        let flag = flag_path(dir.path());
        assert!(matches!(probe(&flag), FlagState::Off));
        std::os::unix::fs::symlink("/nonexistent/target", &flag).unwrap();
        assert!(matches!(probe(&flag), FlagState::On(_)));
    }

    #[test]
    fn write_then_remove_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let flag = flag_path(dir.path());
        let notice = Notice::new(Some("Up\r\ngrading".into()), Some(30), None);
        write_flag(&flag, &notice).unwrap();
        let FlagState::On(meta) = probe(&flag) else {
            panic!("flag not on after write")
        };
        assert_eq!(
            std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
            0o644
        );
        assert_eq!(read_notice(&flag, &meta), notice);
        let leftovers: Vec<_> = fs::read_dir(flag.parent().unwrap()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "a temporary file was left behind");
        assert!(remove_flag(&flag).unwrap());
        assert!(!remove_flag(&flag).unwrap());
    }

    #[test]
    fn oversized_flag_means_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let flag = flag_path(dir.path());
        fs::create_dir_all(flag.parent().unwrap()).unwrap();
        let mut big = br#"{"message":""#.to_vec();
        big.extend(std::iter::repeat_n(b'a', 100_000));
        big.extend(br#""}"#);
        fs::write(&flag, big).unwrap();
        let FlagState::On(meta) = probe(&flag) else {
            panic!("flag not on")
        };
        assert_eq!(read_notice(&flag, &meta), Notice::default());
    }

    #[test]
    fn observer_counts_transitions_once() {
        let o = Observer::default();
        assert_eq!(o.observe(false, Notice::default), 0);
        assert_eq!(o.observe(true, Notice::default), 1);
        assert_eq!(o.observe(true, Notice::default), 1);
        assert_eq!(o.observe(false, Notice::default), 2);
    }

    #[test]
    fn formats_rfc3339() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::from_secs(1_795_514_400);
        assert_eq!(rfc3339(t), "2026-11-24T10:00:00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(951_782_400);
        assert_eq!(rfc3339(leap), "2000-02-29T00:00:00Z");
    }
}
