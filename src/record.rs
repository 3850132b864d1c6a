//! Server records: `ROOT/logs/servers/<pid>.json`, which each running server publishes so that
//! the CLI finds the databases it must drain (several servers may share one root).
//!
//! One type, `ServerRecord`, is written by the server and read by the CLI. A record is trusted
//! only while its process lives with the start time the record names, so neither a server that
//! died without removing it (`kill -9`) nor an unrelated process that got its pid counts. This
//! module must not touch the database, the flag or the network: the CLI links it.

use crate::layout;
use serde::{Deserialize, Serialize};
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// What a running server publishes about itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerRecord {
    pub pid: u32,
    /// When the process started, in clock ticks since boot (`/proc/<pid>/stat`, field 22): a pid
    /// the kernel reused for another process has another start time.
    pub start_time: u64,
    /// The absolute root the server serves.
    pub root: PathBuf,
    /// The canonical path of its database.
    pub db: PathBuf,
    /// Where it listens, as `http://HOST:PORT`.
    pub address: String,
}

impl ServerRecord {
    /// The record of this process.
    pub fn of_this_process(root: &Path, db: &Path, address: String) -> io::Result<ServerRecord> {
        let pid = std::process::id();
        let start_time = match process_state(pid)? {
            Some(state) => state.start_time,
            None => return Err(io::Error::other("this process is missing from /proc")),
        };
        Ok(ServerRecord {
            pid,
            start_time,
            root: root.to_path_buf(),
            db: db.to_path_buf(),
            address,
        })
    }

    /// Writes the record atomically to `ROOT/logs/servers/<pid>.json` (a temporary file, fsync,
    /// rename, fsync of the directory). The record is removed when the result is dropped.
    pub fn publish(&self, root: &Path) -> io::Result<Published> {
        let path = layout::server_record(root, self.pid);
        let mut text = serde_json::to_vec_pretty(self)?;
        text.push(b'\n');
        crate::durable::write(&path, &text)?;
        Ok(Published { path })
    }

    /// Whether the process the record names is the server that wrote it.
    pub fn liveness(&self) -> io::Result<Liveness> {
        Ok(match process_state(self.pid)? {
            None => Liveness::Gone,
            Some(state) if state.is_zombie() => Liveness::Gone,
            Some(state) if state.start_time != self.start_time => Liveness::Reused {
                start_time: state.start_time,
            },
            Some(_) => Liveness::Live,
        })
    }
}

/// A published record; dropping it removes the file (every exit the server controls).
#[derive(Debug)]
pub struct Published {
    path: PathBuf,
}

impl Published {
    /// Where the record is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Published {
    fn drop(&mut self) {
        match fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => log::warn!("cannot remove {}: {e}", self.path.display()),
        }
    }
}

/// What became of the process a record names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Liveness {
    /// It runs, with the recorded start time.
    Live,
    /// No such process (or only its zombie): the server died without removing its record.
    Gone,
    /// A process with that pid runs, but it started at another time: not the server.
    Reused { start_time: u64 },
}

/// A record the CLI does not trust, and why.
#[derive(Debug)]
pub struct Stale {
    pub path: PathBuf,
    pub why: StaleReason,
}

/// Why a record is not trusted.
#[derive(Debug)]
pub enum StaleReason {
    /// The process is gone.
    Gone { pid: u32 },
    /// The pid belongs to another process now.
    Reused {
        pid: u32,
        recorded: u64,
        actual: u64,
    },
    /// The file is not a record (unreadable, not JSON of the right shape, or the pid in it is
    /// not the one in its name).
    Invalid(String),
}

impl std::fmt::Display for StaleReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StaleReason::Gone { pid } => write!(f, "process {pid} is not running"),
            StaleReason::Reused {
                pid,
                recorded,
                actual,
            } => write!(
                f,
                "process {pid} is not the server that wrote it (started at tick {actual}, the \
                 record says {recorded})"
            ),
            StaleReason::Invalid(why) => write!(f, "not a server record: {why}"),
        }
    }
}

/// The records under a root: the live servers, and the records that are not trusted.
#[derive(Debug, Default)]
pub struct Scan {
    pub live: Vec<ServerRecord>,
    pub stale: Vec<Stale>,
}

/// Reads every record in `ROOT/logs/servers/` (none when the directory does not exist), in pid
/// order. Only names of the form `<pid>.json` are looked at.
pub fn scan(root: &Path) -> io::Result<Scan> {
    let dir = layout::servers_dir(root);
    let entries = match fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Scan::default()),
        Err(e) => return Err(e),
    };
    let mut found = Vec::new();
    for entry in entries {
        let entry = entry?;
        if let Some(pid) = entry.file_name().to_str().and_then(layout::record_pid) {
            found.push((pid, entry.path()));
        }
    }
    found.sort();
    let mut scan = Scan::default();
    for (pid, path) in found {
        let stale = |why| Stale {
            path: path.clone(),
            why,
        };
        let record = match read_record(&path) {
            Ok(record) if record.pid == pid => record,
            Ok(record) => {
                let why = format!("it names pid {}", record.pid);
                scan.stale.push(stale(StaleReason::Invalid(why)));
                continue;
            }
            // Removed between the listing and the read: that server just stopped.
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => {
                scan.stale.push(stale(StaleReason::Invalid(e.to_string())));
                continue;
            }
        };
        match record.liveness()? {
            Liveness::Live => scan.live.push(record),
            Liveness::Gone => scan.stale.push(stale(StaleReason::Gone { pid })),
            Liveness::Reused { start_time } => scan.stale.push(stale(StaleReason::Reused {
                pid,
                recorded: record.start_time,
                actual: start_time,
            })),
        }
    }
    Ok(scan)
}

fn read_record(path: &Path) -> io::Result<ServerRecord> {
    // A record is a few hundred bytes; a bound keeps a stray huge file from being read whole.
    let bytes = fs::read(path)?;
    if bytes.len() > 64 * 1024 {
        return Err(io::Error::other("larger than any record"));
    }
    serde_json::from_slice(&bytes).map_err(io::Error::other)
}

/// The two fields of `/proc/<pid>/stat` a record needs.
#[derive(Debug, PartialEq, Eq)]
struct ProcessState {
    /// Field 3: `R`, `S`, ... `Z` for a zombie.
    state: char,
    /// Field 22: start time in clock ticks since boot.
    start_time: u64,
}

impl ProcessState {
    fn is_zombie(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Reads `/proc/<pid>/stat`; `None` when there is no such process.
fn process_state(pid: u32) -> io::Result<Option<ProcessState>> {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(text) => parse_stat(&text)
            .map(Some)
            .ok_or_else(|| io::Error::other(format!("cannot parse /proc/{pid}/stat"))),
        // ESRCH: the process exited while the file was being read.
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ESRCH) => {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Parses a `/proc/<pid>/stat` line. The command name (field 2) is in parentheses and may hold
/// spaces and parentheses itself, so the fields are counted from the last `)`.
fn parse_stat(text: &str) -> Option<ProcessState> {
    let rest = &text[text.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // Fields 4 to 21 come between the state (3) and the start time (22).
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(ProcessState { state, start_time })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_an_awkward_command_name() {
        let line = "4242 (a) b (c) S 1 4242 4242 0 -1 4194560 110 0 0 0 0 0 0 0 20 0 1 0 \
                    987654 5000000 300 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0";
        assert_eq!(
            parse_stat(line),
            Some(ProcessState {
                state: 'S',
                start_time: 987654
            })
        );
        assert_eq!(parse_stat("4242 (truncated) S 1 2"), None);
        assert_eq!(parse_stat("no parenthesis"), None);
    }

    #[test]
    fn this_process_is_live_and_a_wrong_start_time_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let me = ServerRecord::of_this_process(dir.path(), Path::new("/x.db"), "http://a".into())
            .unwrap();
        assert_eq!(me.liveness().unwrap(), Liveness::Live);
        let impostor = ServerRecord {
            start_time: me.start_time + 1,
            ..me.clone()
        };
        assert_eq!(
            impostor.liveness().unwrap(),
            Liveness::Reused {
                start_time: me.start_time
            }
        );
    }

    #[test]
    fn a_published_record_is_read_back_and_removed_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let me = ServerRecord::of_this_process(dir.path(), Path::new("/x.db"), "http://a".into())
            .unwrap();
        let published = me.publish(dir.path()).unwrap();
        assert_eq!(published.path(), layout::server_record(dir.path(), me.pid));
        let names: Vec<_> = fs::read_dir(layout::servers_dir(dir.path()))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 1, "a temporary file was left: {names:?}");
        let scan = scan(dir.path()).unwrap();
        assert_eq!(scan.live, vec![me]);
        assert!(scan.stale.is_empty());
        let path = published.path().to_path_buf();
        drop(published);
        assert!(!path.exists());
    }

    #[test]
    fn records_that_are_not_records_are_stale() {
        let dir = tempfile::tempdir().unwrap();
        let servers = layout::servers_dir(dir.path());
        fs::create_dir_all(&servers).unwrap();
        fs::write(servers.join("7.json"), "not json").unwrap();
        fs::write(servers.join("notes.txt"), "ignored").unwrap();
        let me = ServerRecord::of_this_process(dir.path(), Path::new("/x.db"), "http://a".into())
            .unwrap();
        fs::write(
            servers.join("8.json"),
            serde_json::to_vec(&me).unwrap(), // it says pid = this process, not 8
        )
        .unwrap();
        let scan = scan(dir.path()).unwrap();
        assert!(scan.live.is_empty());
        assert_eq!(scan.stale.len(), 2, "{:?}", scan.stale);
        assert!(scan
            .stale
            .iter()
            .all(|s| matches!(s.why, StaleReason::Invalid(_))));
    }
}
