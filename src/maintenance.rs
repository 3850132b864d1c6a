//! The maintenance flag `ROOT/logs/maintenance`, shared by the server and the CLI.
//!
//! The flag exists ⇔ maintenance is on, whatever it holds. This module owns the existence check
//! (one `symlink_metadata`, never cached, failing closed), the optional JSON content (read without
//! blocking and without bound problems, cached by file identity): the operator's message, the
//! mode (full or read-only) and the SHA-256 of the bypass secret; the secret itself (made from
//! the OS's randomness, compared as a digest in constant time), the atomic write and the
//! removal, and the server's record of the transitions it has observed.
//! It must not touch the database or the network. Content that cannot be read always means the
//! strictest answer: full maintenance, no bypass.

use serde_json::{Map, Value};
use sha2::{Digest as _, Sha256};
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

/// Bytes of OS randomness in a bypass secret: 160 bits, above the 128 the contract asks for.
const SECRET_BYTES: usize = 20;

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

/// The SHA-256 of a bypass secret. Only this is stored (in the flag) or kept (per request);
/// its `Debug` never shows the bytes, so it cannot reach a log by accident.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Digest([u8; 32]);

impl std::fmt::Debug for Digest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Digest(..)")
    }
}

impl Digest {
    /// The digest of a secret as a client sends it (surrounding blanks ignored).
    pub fn of(secret: &str) -> Digest {
        Digest(Sha256::digest(secret.trim().as_bytes()).into())
    }

    /// From the flag's `bypass_sha256`: exactly 64 hex digits, else `None` (no bypass).
    pub fn from_hex(text: &str) -> Option<Digest> {
        let bytes = text.as_bytes();
        if bytes.len() != 64 {
            return None;
        }
        let mut out = [0u8; 32];
        for (i, pair) in bytes.chunks_exact(2).enumerate() {
            let hi = char::from(pair[0]).to_digit(16)?;
            let lo = char::from(pair[1]).to_digit(16)?;
            out[i] = (hi * 16 + lo) as u8;
        }
        Some(Digest(out))
    }

    /// Lower-case hex, as the flag stores it.
    pub fn to_hex(&self) -> String {
        hex(&self.0)
    }

    /// Compares two digests in constant time. Written by hand rather than with a crate: both
    /// sides are always 32 bytes, so there is no length to hide, and folding every byte's XOR
    /// before the one branch leaves no early exit whose timing would tell how many leading
    /// bytes matched. (Even such a leak would give away bytes of a SHA-256, not of the secret.)
    pub fn matches(&self, other: &Digest) -> bool {
        let diff = self
            .0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b));
        std::hint::black_box(diff) == 0
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 15)]));
    }
    out
}

/// A new bypass secret: `SECRET_BYTES` from the OS's random source, as lower-case hex (URL-safe,
/// and safe in a header and a shell). The caller shows it once and stores only its `Digest`.
pub fn new_secret() -> io::Result<String> {
    let mut bytes = [0u8; SECRET_BYTES];
    getrandom::fill(&mut bytes)
        .map_err(|e| io::Error::other(format!("no randomness from the OS: {e}")))?;
    Ok(hex(&bytes))
}

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
///
/// When the flag was removed or replaced between the `lstat` and the read of its content (an
/// `off`, or an `on` that rewrote it, at that moment), the content belongs to no state the
/// `lstat` saw: the check starts again with a new `lstat`, a few times, then fails closed to
/// the default notice. (Reading it as unreadable would have answered full maintenance to a
/// read in read-only mode, or while maintenance was ending.)
pub fn check(path: &Path, cache: &mut NoticeCache) -> Check {
    const ATTEMPTS: usize = 3;
    for _ in 0..ATTEMPTS {
        match probe(path) {
            FlagState::Off => return Check::Off,
            FlagState::On(meta) => {
                if let Some(notice) = cache.get(path, &meta) {
                    return Check::On(notice);
                }
            }
            FlagState::Unknown(err) => return Check::Unknown(err),
        }
    }
    Check::On(Notice::default())
}

/// Looks at the flag path once: one `lstat`, no caching.
pub fn probe(path: &Path) -> FlagState {
    match fs::symlink_metadata(path) {
        Ok(meta) => FlagState::On(meta),
        Err(err) if err.kind() == io::ErrorKind::NotFound => FlagState::Off,
        Err(err) => FlagState::Unknown(err),
    }
}

/// The operator's notice: what the flag may hold (message, retry time, start, mode, bypass
/// digest). Each field falls back on its own; the defaults are full maintenance, no bypass.
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
    mode: Mode,
    bypass: Option<Digest>,
    rendered: OnceLock<Vec<u8>>,
}

impl PartialEq for Notice {
    fn eq(&self, other: &Notice) -> bool {
        let (a, b) = (&self.0, &other.0);
        (&a.message, a.retry_after, &a.since, a.mode, a.bypass)
            == (&b.message, b.retry_after, &b.since, b.mode, b.bypass)
    }
}

impl Notice {
    /// A notice for full maintenance, without bypass, with the given fields.
    pub fn new(message: Option<String>, retry_after: Option<u64>, since: Option<String>) -> Notice {
        Notice(Arc::new(NoticeData {
            message,
            retry_after,
            since,
            mode: Mode::Full,
            bypass: None,
            rendered: OnceLock::new(),
        }))
    }

    /// The same notice in another mode and with another bypass digest.
    pub fn with(&self, mode: Mode, bypass: Option<Digest>) -> Notice {
        let d = &self.0;
        Notice(Arc::new(NoticeData {
            message: d.message.clone(),
            retry_after: d.retry_after,
            since: d.since.clone(),
            mode,
            bypass,
            rendered: OnceLock::new(),
        }))
    }

    /// Reads a notice from flag content; anything unusable means the defaults for that field.
    /// Only `"mode":"read-only"` exactly is read-only, and only 64 hex digits in
    /// `bypass_sha256` are a bypass: anything else fails closed to full maintenance, no bypass.
    pub fn parse(bytes: &[u8]) -> Notice {
        let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(bytes) else {
            return Notice::default();
        };
        let mode = match map.get("mode").and_then(Value::as_str) {
            Some("read-only") => Mode::ReadOnly,
            _ => Mode::Full,
        };
        let bypass = map
            .get("bypass_sha256")
            .and_then(Value::as_str)
            .and_then(Digest::from_hex);
        Notice::new(
            map.get("message")
                .and_then(Value::as_str)
                .filter(|m| !m.trim().is_empty())
                .map(str::to_string),
            map.get("retry_after").and_then(Value::as_u64),
            map.get("since").and_then(Value::as_str).map(str::to_string),
        )
        .with(mode, bypass)
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

    /// Full or read-only.
    pub fn mode(&self) -> Mode {
        self.0.mode
    }

    /// The digest of the bypass secret, when the flag sets one.
    pub fn bypass(&self) -> Option<Digest> {
        self.0.bypass
    }

    /// True when `presented` (the digest of a request's `X-Maintenance-Bypass`) is this flag's
    /// bypass secret. No bypass set, or none presented, is never a match.
    pub fn admits(&self, presented: Option<&Digest>) -> bool {
        match (&self.0.bypass, presented) {
            (Some(stored), Some(given)) => stored.matches(given),
            _ => false,
        }
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
        map.insert("mode".into(), Value::from(self.0.mode.name()));
        if let Some(d) = &self.0.bypass {
            map.insert("bypass_sha256".into(), Value::from(d.to_hex()));
        }
        Value::Object(map)
    }
}

/// Reads the notice of a flag found by `probe`; never blocks, never reads more than a bound.
pub fn read_notice(path: &Path, meta: &Metadata) -> Notice {
    read_content(path, meta).unwrap_or_default()
}

/// The flag was removed or replaced since the `lstat` whose metadata the reader was given.
#[derive(Debug, PartialEq)]
struct Raced;

/// The notice of the flag `meta` describes, or `Raced` when the path no longer holds that file.
fn read_content(path: &Path, meta: &Metadata) -> Result<Notice, Raced> {
    if !meta.file_type().is_file() || meta.len() > MAX_FLAG_BYTES {
        return Ok(Notice::default());
    }
    // O_NONBLOCK: if the path became a FIFO since the lstat, open must not wait for a writer.
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path);
    let file = match file {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Raced),
        Err(_) => return Ok(Notice::default()),
    };
    match file.metadata() {
        Ok(m) if (m.dev(), m.ino()) != (meta.dev(), meta.ino()) => return Err(Raced),
        Ok(m) if m.file_type().is_file() => {}
        _ => return Ok(Notice::default()),
    }
    let mut bytes = Vec::new();
    match file.take(MAX_FLAG_BYTES + 1).read_to_end(&mut bytes) {
        Ok(n) if n as u64 <= MAX_FLAG_BYTES => Ok(Notice::parse(&bytes)),
        _ => Ok(Notice::default()),
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
    /// `None` when the flag was removed or replaced since that `probe` (nothing is cached).
    pub fn get(&mut self, path: &Path, meta: &Metadata) -> Option<Notice> {
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
            self.notice = read_content(path, meta).ok()?;
            self.key = Some(key);
        }
        Some(self.notice.clone())
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
/// `epoch` counts observed on/off transitions: odd means on. Workers reopen their database
/// connection when the epoch moved since they opened it, so a database replaced during
/// maintenance is the one served afterwards. A switch between full and read-only is a transition
/// of its own (logged once) that leaves the epoch alone: maintenance did not end. The declined
/// count runs from on to off, whatever the modes in between.
#[derive(Default)]
pub struct Observer {
    /// `epoch << 1 | read_only`, in one word so that one compare-and-swap moves both.
    state: AtomicU64,
    declined: AtomicU64,
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
                            let declined = self.declined.swap(0, Ordering::AcqRel);
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
        self.declined.fetch_add(1, Ordering::Relaxed);
    }

    /// The current epoch (odd: on).
    pub fn epoch(&self) -> u64 {
        self.state.load(Ordering::Acquire) >> 1
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
        assert!(matches!(check(&flag, &mut cache), Check::Off));
    }
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

    #[test]
    fn parses_mode_and_bypass() {
        let digest = Digest::of("s3cret");
        let text = format!(
            r#"{{"message":"Backup","mode":"read-only","bypass_sha256":"{}"}}"#,
            digest.to_hex()
        );
        let n = Notice::parse(text.as_bytes());
        assert_eq!(n.mode(), Mode::ReadOnly);
        assert_eq!(n.message(), "Backup");
        assert!(n.admits(Some(&Digest::of("s3cret"))));
        assert!(n.admits(Some(&Digest::of(" s3cret "))));
        assert!(!n.admits(Some(&Digest::of("s3cret2"))));
        assert!(!n.admits(None));
        // The upper-case spelling of the same digest is the same digest.
        let upper = text.replace(&digest.to_hex(), &digest.to_hex().to_uppercase());
        assert!(Notice::parse(upper.as_bytes()).admits(Some(&digest)));
    }

    #[test]
    fn anything_but_read_only_is_full_and_bad_digests_are_no_bypass() {
        for content in [
            &b""[..],
            b"garbage",
            b"\xff\xfe",
            br#"{"mode":"readonly"}"#,
            br#"{"mode":"READ-ONLY"}"#,
            br#"{"mode":true}"#,
            br#"{"mode":["read-only"]}"#,
            br#"{"mode":"full"}"#,
            br#"{"mode":"read-only""#,
            br#"["read-only"]"#,
        ] {
            let n = Notice::parse(content);
            assert_eq!(
                n.mode(),
                Mode::Full,
                "{:?}",
                String::from_utf8_lossy(content)
            );
        }
        let good = Digest::of("x").to_hex();
        for bad in [
            String::new(),
            good[..63].to_string(),
            format!("{good}0"),
            format!("{}g", &good[..63]),
            format!("{}é", &good[..62]),
        ] {
            let text = serde_json::json!({"mode": "read-only", "bypass_sha256": bad}).to_string();
            let n = Notice::parse(text.as_bytes());
            assert_eq!(n.bypass(), None, "{bad:?}");
            assert_eq!(
                n.mode(),
                Mode::ReadOnly,
                "{bad:?}: the mode stands on its own"
            );
        }
        let n = Notice::parse(br#"{"bypass_sha256":7}"#);
        assert_eq!((n.mode(), n.bypass()), (Mode::Full, None));
    }

    #[test]
    fn round_trips_mode_and_bypass_through_the_flag() {
        let dir = tempfile::tempdir().unwrap();
        let flag = flag_path(dir.path());
        let digest = Digest::of("abc");
        let notice = Notice::new(Some("m".into()), None, None).with(Mode::ReadOnly, Some(digest));
        write_flag(&flag, &notice).unwrap();
        let text = fs::read_to_string(&flag).unwrap();
        assert!(
            !text.contains("\"abc\""),
            "the secret itself is stored: {text}"
        );
        assert!(text.contains(&digest.to_hex()), "{text}");
        let FlagState::On(meta) = probe(&flag) else {
            panic!("flag not on after write")
        };
        assert_eq!(read_notice(&flag, &meta), notice);
    }

    #[test]
    fn secrets_are_fresh_long_and_url_safe() {
        let a = new_secret().unwrap();
        let b = new_secret().unwrap();
        assert_ne!(a, b);
        assert!(a.len() * 4 >= 128, "{a}");
        assert!(a
            .bytes()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()));
        assert_eq!(format!("{:?}", Digest::of(&a)), "Digest(..)");
    }

    #[test]
    fn digests_compare_by_every_byte() {
        let a = Digest::of("one");
        assert!(a.matches(&Digest::of("one")));
        let mut last = a;
        last.0[31] ^= 1;
        assert!(!a.matches(&last));
        let mut first = a;
        first.0[0] ^= 0x80;
        assert!(!a.matches(&first));
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
