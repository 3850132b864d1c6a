//! The server's configuration: flags, `DIRECTUS_*` variables and defaults, parsed once in `main`.
//!
//! A flag beats its variable, which beats the default. The environment is passed in as a
//! function so nothing below `main` reads it. Root resolution is shared with the CLI; the paths
//! under the root are `layout`'s.

use crate::layout;
use crate::pg::{is_postgres_uri, PgConfig};
use crate::storage::Database;
use std::ffi::OsString;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

/// Everything the server needs to start.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Absolute root; `data/` and `logs/` live under it.
    pub root: PathBuf,
    pub host: IpAddr,
    pub port: u16,
    /// The database: an absolute SQLite path, or a PostgreSQL URI's settings.
    pub db: Database,
    pub workers: usize,
    pub token: Option<String>,
    pub cors_origin: Option<String>,
    pub max_body: usize,
    pub allow_public_without_token: bool,
    /// Serve `GET /server/metrics` and count requests for it.
    pub metrics: bool,
}

/// What the command line asked for.
#[derive(Debug)]
pub enum Command {
    Run(Box<ServerConfig>),
    Help,
    Version,
}

/// The server's `--help` text.
pub const SERVER_USAGE: &str = "\
Usage: directus-server [OPTIONS]

A Directus-style item API over SQLite, with an operator maintenance mode.

Options (each also from the environment variable shown):
  --root DIR                      DIRECTUS_ROOT    root holding data/ and logs/
                                                   (default: parent of bin/, else the current directory)
  --host ADDR                     DIRECTUS_HOST    address to bind (default 127.0.0.1)
  --port N                        DIRECTUS_PORT    port, 0 picks a free one (default 8055)
  --db PATH|URI                   DIRECTUS_DB      SQLite file (default ROOT/data/directus.db), or
                                                   postgresql://USER@HOST/DB (PostgreSQL; the password
                                                   from the URI, PGPASSWORD or ~/.pgpass)
  --workers N                     DIRECTUS_WORKERS worker threads (default: 2 per core, 4 to 64)
  --token TOKEN                   DIRECTUS_TOKEN   static token required on every request but /server/ping
  --cors-origin ORIGIN            DIRECTUS_CORS_ORIGIN  allow browser apps from ORIGIN
  --max-body BYTES                DIRECTUS_MAX_BODY     largest request body (default 1048576)
  --allow-public-without-token    DIRECTUS_ALLOW_PUBLIC_WITHOUT_TOKEN=1  bind a public address without a token
  --metrics                       DIRECTUS_METRICS=1  serve Prometheus metrics at /server/metrics
  -h, --help                      print this help
  -V, --version                   print the version

Logs go to stderr (RUST_LOG, default info). The first line on stdout is `listening on http://HOST:PORT`.";

/// Where the listening socket comes from: systemd's socket activation protocol (SPEC §5.4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Activation {
    /// No socket was passed (`LISTEN_FDS` unset, empty or 0): bind `--host`/`--port`.
    Bind,
    /// The variables are set but not for this process (a parent that passed them on without
    /// clearing them): bind as without them. The text says why, for the log.
    NotOurs(String),
    /// `LISTEN_FDS=1` and `LISTEN_PID` is this process: serve the socket inherited as fd 3.
    Inherit,
}

/// Decides from `LISTEN_FDS` and `LISTEN_PID` whether to serve an inherited socket, as
/// systemd's `sd_listen_fds` does: the variables count only when `LISTEN_PID` is `own_pid`.
/// Values that cannot be parsed, or more than one socket for this process, are an error.
pub fn activation(
    env: &dyn Fn(&str) -> Option<String>,
    own_pid: u32,
) -> Result<Activation, String> {
    let Some(fds) = env("LISTEN_FDS").filter(|v| !v.is_empty()) else {
        return Ok(Activation::Bind);
    };
    let Some(pid) = env("LISTEN_PID").filter(|v| !v.is_empty()) else {
        return Ok(Activation::NotOurs(
            "LISTEN_FDS is set without LISTEN_PID".to_string(),
        ));
    };
    let pid: u32 = pid
        .trim()
        .parse()
        .map_err(|_| format!("LISTEN_PID: \"{pid}\" is not a process id"))?;
    if pid != own_pid {
        return Ok(Activation::NotOurs(format!(
            "LISTEN_PID={pid} is another process (this one is {own_pid})"
        )));
    }
    match fds.trim().parse::<u32>() {
        Ok(0) => Ok(Activation::Bind),
        Ok(1) => Ok(Activation::Inherit),
        Ok(n) => Err(format!(
            "LISTEN_FDS={n}: this server serves exactly one socket (one ListenStream= in the \
             socket unit)"
        )),
        Err(_) => Err(format!("LISTEN_FDS: \"{fds}\" is not a number of sockets")),
    }
}

/// The root when none is given: the parent of the executable's directory when that directory is
/// named `bin` (so `/srv/app/bin/directus` works from anywhere), else the current directory.
pub fn default_root() -> PathBuf {
    let from_exe = std::env::current_exe().ok().and_then(|exe| {
        let dir = exe.parent()?;
        if dir.file_name()? == "bin" {
            dir.parent().map(Path::to_path_buf)
        } else {
            None
        }
    });
    from_exe.unwrap_or_else(|| std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")))
}

/// Makes a path absolute against the current directory, without requiring it to exist.
pub fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// Parses the server's arguments. `env` looks up an environment variable.
pub fn parse_server_args(
    args: Vec<OsString>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Command, String> {
    let mut args = pico_args::Arguments::from_vec(args);
    if args.contains(["-h", "--help"]) {
        return Ok(Command::Help);
    }
    if args.contains(["-V", "--version"]) {
        return Ok(Command::Version);
    }
    let mut text = |flag: &'static str, var: &str| -> Result<Option<String>, String> {
        let given: Option<String> = args
            .opt_value_from_str(flag)
            .map_err(|e| format!("{flag}: {e}"))?;
        Ok(given.or_else(|| env(var).filter(|v| !v.is_empty())))
    };
    let root = text("--root", "DIRECTUS_ROOT")?;
    let host = text("--host", "DIRECTUS_HOST")?;
    let port = text("--port", "DIRECTUS_PORT")?;
    let db = text("--db", "DIRECTUS_DB")?;
    let workers = text("--workers", "DIRECTUS_WORKERS")?;
    let token = text("--token", "DIRECTUS_TOKEN")?;
    let cors_origin = text("--cors-origin", "DIRECTUS_CORS_ORIGIN")?;
    let max_body = text("--max-body", "DIRECTUS_MAX_BODY")?;
    let public_flag = args.contains("--allow-public-without-token");
    let metrics_flag = args.contains("--metrics");
    let rest = args.finish();
    if let Some(extra) = rest.first() {
        return Err(format!("unexpected argument {}", extra.to_string_lossy()));
    }

    let root = absolute(&root.map(PathBuf::from).unwrap_or_else(default_root));
    let host: IpAddr = match host.as_deref() {
        None => IpAddr::from([127, 0, 0, 1]),
        Some("localhost") => IpAddr::from([127, 0, 0, 1]),
        Some(h) => h
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse()
            .map_err(|_| format!("--host: \"{h}\" is not an IP address"))?,
    };
    let port = match port {
        None => 8055,
        Some(p) => p
            .parse::<u16>()
            .map_err(|_| format!("--port: \"{p}\" is not a port number (0-65535)"))?,
    };
    let workers = match workers {
        None => std::thread::available_parallelism()
            .map_or(4, |n| n.get() * 2)
            .clamp(4, 64),
        Some(w) => match w.parse::<usize>() {
            Ok(n) if (1..=1024).contains(&n) => n,
            _ => return Err(format!("--workers: \"{w}\" is not a number from 1 to 1024")),
        },
    };
    let max_body = match max_body {
        None => 1024 * 1024,
        Some(b) => b
            .parse::<usize>()
            .map_err(|_| format!("--max-body: \"{b}\" is not a number of bytes"))?,
    };
    // Both values end up in headers or comparisons; control characters would be header injection.
    let printable = |name: &str, v: &Option<String>| match v {
        Some(s) if s.bytes().any(|b| b.is_ascii_control()) => {
            Err(format!("{name}: control characters are not allowed"))
        }
        _ => Ok(()),
    };
    printable("--token", &token)?;
    printable("--cors-origin", &cors_origin)?;
    let allow_public_without_token = public_flag
        || env("DIRECTUS_ALLOW_PUBLIC_WITHOUT_TOKEN").is_some_and(|v| v == "1" || v == "true");
    if token.is_none() && !host.is_loopback() && !allow_public_without_token {
        return Err(format!(
            "refusing to bind {host} without a token: set --token (or DIRECTUS_TOKEN), or pass \
             --allow-public-without-token"
        ));
    }
    let db = match db.as_deref() {
        Some(uri) if is_postgres_uri(uri) => {
            Database::Postgres(PgConfig::parse(uri, env).map_err(|e| format!("--db: {e}"))?)
        }
        given => Database::File(absolute(&layout::database_path(&root, given))),
    };
    Ok(Command::Run(Box::new(ServerConfig {
        root,
        host,
        port,
        db,
        workers,
        token,
        cors_origin,
        max_body,
        allow_public_without_token,
        metrics: metrics_flag || env("DIRECTUS_METRICS").is_some_and(|v| v == "1" || v == "true"),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str], vars: &[(&str, &str)]) -> Result<Command, String> {
        let vars: Vec<(String, String)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let env = move |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        parse_server_args(args.iter().map(OsString::from).collect(), &env)
    }

    fn run(args: &[&str], vars: &[(&str, &str)]) -> ServerConfig {
        match parse(args, vars).unwrap() {
            Command::Run(c) => *c,
            other => panic!("expected a config, got {other:?}"),
        }
    }

    #[test]
    fn flag_beats_variable_beats_default() {
        let c = run(&["--root", "/srv/a"], &[]);
        assert_eq!(c.port, 8055);
        assert_eq!(c.db.file(), Some(Path::new("/srv/a/data/directus.db")));
        let c = run(&["--root", "/srv/a"], &[("DIRECTUS_PORT", "9000")]);
        assert_eq!(c.port, 9000);
        let c = run(
            &["--root", "/srv/a", "--port", "0"],
            &[("DIRECTUS_PORT", "9000")],
        );
        assert_eq!(c.port, 0);
        let c = run(&["--root", "/srv/a", "--db", "x.db"], &[]);
        assert_eq!(c.db.file(), Some(Path::new("/srv/a/x.db")));
        let c = run(
            &["--root", "/srv/a"],
            &[("DIRECTUS_DB", "postgresql://app:pw@db.example/items")],
        );
        assert_eq!(c.db.file(), None);
        assert_eq!(
            c.db.describe(),
            "postgresql://app@db.example:5432/items?sslmode=prefer"
        );
    }

    #[test]
    fn refuses_public_bind_without_token() {
        assert!(parse(&["--host", "0.0.0.0"], &[]).is_err());
        assert!(parse(&["--host", "0.0.0.0", "--token", "t"], &[]).is_ok());
        assert!(parse(&["--host", "0.0.0.0", "--allow-public-without-token"], &[]).is_ok());
        assert!(parse(&["--host", "::1"], &[]).is_ok());
    }

    fn activation_of(vars: &[(&str, &str)], own: u32) -> Result<Activation, String> {
        let env = |k: &str| {
            vars.iter()
                .find(|(n, _)| *n == k)
                .map(|(_, v)| v.to_string())
        };
        activation(&env, own)
    }

    #[test]
    fn inherits_only_one_socket_passed_to_this_process() {
        let fds_pid =
            |fds: &str, pid: &str| activation_of(&[("LISTEN_FDS", fds), ("LISTEN_PID", pid)], 42);
        assert_eq!(activation_of(&[], 42), Ok(Activation::Bind));
        assert_eq!(fds_pid("1", "42"), Ok(Activation::Inherit));
        assert_eq!(fds_pid("0", "42"), Ok(Activation::Bind));
        assert_eq!(fds_pid("", "42"), Ok(Activation::Bind));
        assert!(matches!(fds_pid("1", "41"), Ok(Activation::NotOurs(why)) if why.contains("41")));
        // Another process's variables are not looked at further, whatever they hold.
        assert!(matches!(fds_pid("2", "41"), Ok(Activation::NotOurs(_))));
        assert!(matches!(fds_pid("x", "41"), Ok(Activation::NotOurs(_))));
        assert!(matches!(
            activation_of(&[("LISTEN_FDS", "1")], 42),
            Ok(Activation::NotOurs(_))
        ));
        assert!(matches!(
            activation_of(&[("LISTEN_PID", "42")], 42),
            Ok(Activation::Bind)
        ));
        assert!(fds_pid("2", "42").is_err());
        assert!(fds_pid("one", "42").is_err());
        assert!(fds_pid("1", "me").is_err());
    }

    #[test]
    fn bad_usage_is_an_error() {
        assert!(parse(&["--port", "http"], &[]).is_err());
        assert!(parse(&["--bogus"], &[]).is_err());
        assert!(parse(&["--workers", "0"], &[]).is_err());
        assert!(parse(&["--cors-origin", "http://a\r\nX: y"], &[]).is_err());
        assert!(matches!(parse(&["--help"], &[]), Ok(Command::Help)));
    }
}
