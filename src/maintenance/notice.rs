//! The flag's content: the operator's notice (message, retry time, start, mode, bypass digest),
//! read without blocking and within a bound, cached per worker by the flag's identity, written
//! atomically and removed. Content that cannot be read is the default notice: full
//! maintenance, no bypass.

use super::Mode;
use crate::secret::Digest;
use serde_json::{Map, Value};
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::{Arc, OnceLock};

/// The message clients get when the flag holds none.
pub const DEFAULT_MESSAGE: &str =
    "The service is temporarily unavailable for maintenance. Please try again later.";

/// Flag content larger than this is not read: the notice falls back on its defaults.
const MAX_FLAG_BYTES: u64 = 64 * 1024;

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
pub(super) struct Raced;

/// The notice of the flag `meta` describes, or `Raced` when the path no longer holds that file.
pub(super) fn read_content(path: &Path, meta: &Metadata) -> Result<Notice, Raced> {
    Ok(read_bounded(path, meta)?.map_or_else(Notice::default, |bytes| Notice::parse(&bytes)))
}

/// The bytes of the small regular file `meta` describes (the flag, the announcement): `None`
/// when it is not a regular file, is over 64 KiB or cannot be read; `Raced` when the path no
/// longer holds that file. Never blocks: a FIFO put there after the `lstat` is opened with
/// `O_NONBLOCK` and refused.
pub(super) fn read_bounded(path: &Path, meta: &Metadata) -> Result<Option<Vec<u8>>, Raced> {
    if !meta.file_type().is_file() || meta.len() > MAX_FLAG_BYTES {
        return Ok(None);
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW)
        .open(path);
    let file = match file {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(Raced),
        Err(_) => return Ok(None),
    };
    match file.metadata() {
        Ok(m) if (m.dev(), m.ino()) != (meta.dev(), meta.ino()) => return Err(Raced),
        Ok(m) if m.file_type().is_file() => {}
        _ => return Ok(None),
    }
    let mut bytes = Vec::new();
    match file.take(MAX_FLAG_BYTES + 1).read_to_end(&mut bytes) {
        Ok(n) if n as u64 <= MAX_FLAG_BYTES => Ok(Some(bytes)),
        _ => Ok(None),
    }
}

/// The identity of a file as an `lstat` saw it: device, inode, size, mtime and ctime (both to
/// the nanosecond). Any rewrite, in place or by rename, changes one of them.
pub(super) fn identity(meta: &Metadata) -> FlagIdentity {
    (
        meta.dev(),
        meta.ino(),
        meta.size(),
        meta.mtime(),
        meta.mtime_nsec(),
        meta.ctime(),
        meta.ctime_nsec(),
    )
}

/// A per-worker cache of the flag's notice, keyed by the identity `probe` returned: device,
/// inode, size, mtime and ctime (both to the nanosecond). Any rewrite of the flag, in place or
/// by rename, changes one of them.
#[derive(Default)]
pub struct NoticeCache {
    key: Option<FlagIdentity>,
    notice: Notice,
}

pub(super) type FlagIdentity = (u64, u64, u64, i64, i64, i64, i64);

impl NoticeCache {
    /// The notice for the flag whose metadata `probe` just returned; reads only when it changed.
    /// `None` when the flag was removed or replaced since that `probe` (nothing is cached).
    pub fn get(&mut self, path: &Path, meta: &Metadata) -> Option<Notice> {
        let key = identity(meta);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::flag_path;
    use crate::maintenance::{probe, Flag};

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
    fn write_then_remove_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let flag = flag_path(dir.path());
        let notice = Notice::new(Some("Up\r\ngrading".into()), Some(30), None);
        write_flag(&flag, &notice).unwrap();
        let Flag::On(meta) = probe(&flag) else {
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
        let Flag::On(meta) = probe(&flag) else {
            panic!("flag not on")
        };
        assert_eq!(read_notice(&flag, &meta), Notice::default());
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
        let Flag::On(meta) = probe(&flag) else {
            panic!("flag not on after write")
        };
        assert_eq!(read_notice(&flag, &meta), notice);
    }
}
