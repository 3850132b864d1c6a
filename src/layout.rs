//! The files under a root: the one place that names them, for the server, the CLI and the flag.
//!
//! `ROOT/data/directus.db` is the default database, `ROOT/logs/maintenance` the flag and
//! `ROOT/logs/servers/<pid>.json` each running server's record. This module only builds paths:
//! it creates, reads and checks nothing.

use std::path::{Path, PathBuf};

/// `ROOT/logs`: the flag and the server records (and nothing a log-cleaning job may delete).
pub fn logs_dir(root: &Path) -> PathBuf {
    root.join("logs")
}

/// `ROOT/logs/maintenance`: maintenance is on while anything is at this path.
pub fn flag_path(root: &Path) -> PathBuf {
    logs_dir(root).join("maintenance")
}

/// `ROOT/logs/maintenance-announcement`: a maintenance window announced ahead (SPEC 5.5).
pub fn announcement_path(root: &Path) -> PathBuf {
    logs_dir(root).join("maintenance-announcement")
}

/// `ROOT/logs/database`: the database the root's servers last used (a file path, or a
/// PostgreSQL URI without its password), kept after they exit so that the CLI acts on the
/// right database while no server runs.
pub fn database_note_path(root: &Path) -> PathBuf {
    logs_dir(root).join("database")
}

/// `ROOT/data`: where the default database lives.
pub fn data_dir(root: &Path) -> PathBuf {
    root.join("data")
}

/// The database path: `given` (relative to `root` when relative) or `ROOT/data/directus.db`.
pub fn database_path(root: &Path, given: Option<&str>) -> PathBuf {
    match given {
        Some(p) => root.join(p),
        None => data_dir(root).join("directus.db"),
    }
}

/// `ROOT/logs/servers`: one record per running server.
pub fn servers_dir(root: &Path) -> PathBuf {
    logs_dir(root).join("servers")
}

/// `ROOT/logs/servers/<pid>.json`: the record of the server with that pid.
pub fn server_record(root: &Path, pid: u32) -> PathBuf {
    servers_dir(root).join(format!("{pid}.json"))
}

/// The pid a file name in `servers_dir` stands for: `Some` only for `<pid>.json` (so temporary
/// files and anything else an operator left there are not records).
pub fn record_pid(file_name: &str) -> Option<u32> {
    let digits = file_name.strip_suffix(".json")?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok().filter(|pid| *pid > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_under_a_root() {
        let root = Path::new("/srv/app");
        assert_eq!(flag_path(root), Path::new("/srv/app/logs/maintenance"));
        assert_eq!(
            database_path(root, None),
            Path::new("/srv/app/data/directus.db")
        );
        assert_eq!(
            database_path(root, Some("x.db")),
            Path::new("/srv/app/x.db")
        );
        assert_eq!(
            database_path(root, Some("/var/db/x.db")),
            Path::new("/var/db/x.db")
        );
        assert_eq!(
            server_record(root, 42),
            Path::new("/srv/app/logs/servers/42.json")
        );
    }

    #[test]
    fn only_pid_json_names_are_records() {
        assert_eq!(record_pid("42.json"), Some(42));
        for other in [
            ".42.json.tmp",
            "42.json.tmp",
            "0.json",
            ".json",
            "+42.json",
            "42",
            "x.json",
            "99999999999.json",
        ] {
            assert_eq!(record_pid(other), None, "{other}");
        }
    }
}
