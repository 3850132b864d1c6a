//! Maintenance announced ahead (SPEC 5.5): `logs/maintenance-announcement`, a JSON object
//! `{"starts_at":…,"ends_at":…,"message":…}` the CLI writes atomically. It changes nothing for
//! requests; `/server/maintenance` shows it to clients, read only when asked and cached per
//! worker by the file's identity. Content that cannot be read or is not valid is no
//! announcement, never an error.

use super::notice::{identity, read_bounded, FlagIdentity};
use crate::rfc3339;
use serde_json::{json, Map, Value};
use std::fs;
use std::io;
use std::path::Path;

/// A window of maintenance announced ahead. `starts_at` is valid RFC 3339, `ends_at` too when
/// given (and not before the start).
#[derive(Debug, Clone, PartialEq)]
pub struct Announcement {
    pub starts_at: String,
    pub ends_at: Option<String>,
    pub message: Option<String>,
}

impl Announcement {
    /// The announcement a file's bytes hold, or `None` when they are not a valid one.
    pub fn parse(bytes: &[u8]) -> Option<Announcement> {
        let value: Map<String, Value> = serde_json::from_slice(bytes).ok()?;
        let starts_at = value.get("starts_at")?.as_str()?;
        let start = rfc3339::parse(starts_at)?;
        let ends_at = match value.get("ends_at") {
            None | Some(Value::Null) => None,
            Some(Value::String(end)) if rfc3339::parse(end)? >= start => Some(end.clone()),
            Some(_) => return None,
        };
        let message = match value.get("message") {
            None | Some(Value::Null) => None,
            Some(Value::String(m)) => Some(m.clone()),
            Some(_) => return None,
        };
        Some(Announcement {
            starts_at: starts_at.to_string(),
            ends_at,
            message,
        })
    }

    /// When the window starts, in seconds since the Unix epoch.
    pub fn starts(&self) -> i64 {
        rfc3339::parse(&self.starts_at).expect("checked when the announcement was made")
    }

    pub fn to_json(&self) -> Value {
        json!({"starts_at": self.starts_at, "ends_at": self.ends_at, "message": self.message})
    }
}

/// Reads the announcement at `path`; `None` when there is none or it is not valid.
pub fn read_announcement(path: &Path) -> Option<Announcement> {
    let meta = fs::symlink_metadata(path).ok()?;
    Announcement::parse(&read_bounded(path, &meta).ok()??)
}

/// Writes the announcement atomically and durably (`durable::write`).
pub fn write_announcement(path: &Path, announcement: &Announcement) -> io::Result<()> {
    let mut text = serde_json::to_vec(&announcement.to_json())?;
    text.push(b'\n');
    crate::durable::write(path, &text)
}

/// Removes the announcement; false when there was none.
pub fn remove_announcement(path: &Path) -> io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(e),
    }
}

/// A per-worker cache of the announcement, keyed by the file's identity: one `lstat` per ask,
/// and a read only when the file changed.
#[derive(Default)]
pub struct AnnouncementCache {
    key: Option<FlagIdentity>,
    value: Option<Announcement>,
}

impl AnnouncementCache {
    /// The announcement at `path` now.
    pub fn get(&mut self, path: &Path) -> Option<Announcement> {
        let Ok(meta) = fs::symlink_metadata(path) else {
            self.key = None;
            return None;
        };
        let key = identity(&meta);
        if self.key != Some(key) {
            // Raced (replaced since the lstat): not cached, no announcement this once.
            let bytes = read_bounded(path, &meta).ok()?;
            self.value = bytes.and_then(|b| Announcement::parse(&b));
            self.key = Some(key);
        }
        self.value.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_valid_announcements_are_read() {
        let good = br#"{"starts_at":"2026-12-08T10:00:00Z","ends_at":"2026-12-08T11:00:00+01:00","message":"Upgrade"}"#;
        let a = Announcement::parse(good).unwrap();
        assert_eq!(a.message.as_deref(), Some("Upgrade"));
        assert_eq!(a.starts(), 1_796_724_000);
        for bad in [
            &b""[..],
            b"garbage",
            br#"{"message":"no start"}"#,
            br#"{"starts_at":"tomorrow"}"#,
            br#"{"starts_at":"2026-12-08T10:00:00Z","ends_at":"2026-12-08T09:00:00Z"}"#,
            br#"{"starts_at":"2026-12-08T10:00:00Z","message":7}"#,
            br#"["2026-12-08T10:00:00Z"]"#,
        ] {
            assert_eq!(
                Announcement::parse(bad),
                None,
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn written_read_cached_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("maintenance-announcement");
        let mut cache = AnnouncementCache::default();
        assert_eq!(cache.get(&path), None);
        let a = Announcement {
            starts_at: "2026-12-08T10:00:00Z".into(),
            ends_at: None,
            message: Some("<b>soon</b>".into()),
        };
        write_announcement(&path, &a).unwrap();
        assert_eq!(cache.get(&path), Some(a.clone()));
        assert_eq!(read_announcement(&path), Some(a));
        fs::write(&path, b"not json").unwrap();
        assert_eq!(cache.get(&path), None);
        assert!(remove_announcement(&path).unwrap());
        assert!(!remove_announcement(&path).unwrap());
        assert_eq!(cache.get(&path), None);
    }
}
