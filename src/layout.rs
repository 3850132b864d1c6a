//! The files under a root: the one place that names them, for the server, the CLI and the flag.
//!
//! `ROOT/data/directus.db` is the default database, `ROOT/logs/maintenance` the flag and
//! `ROOT/logs/server.json` the running server's record. This module only builds paths: it
//! creates, reads and checks nothing.

use std::path::{Path, PathBuf};

/// `ROOT/logs`: the flag and the server's record (which a log-cleaning job must not delete).
pub fn logs_dir(root: &Path) -> PathBuf {
    root.join("logs")
}

/// `ROOT/logs/maintenance`: maintenance is on while anything is at this path.
pub fn flag_path(root: &Path) -> PathBuf {
    logs_dir(root).join("maintenance")
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

/// `ROOT/logs/server.json`: the running server's record, which the CLI reads.
pub fn server_file(root: &Path) -> PathBuf {
    logs_dir(root).join("server.json")
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
        assert_eq!(server_file(root), Path::new("/srv/app/logs/server.json"));
    }
}
