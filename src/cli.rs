//! The `directus` operator CLI: `maintenance:on|off|status`.
//!
//! It never starts or links the server's HTTP side: it uses only the flag (`maintenance`), root
//! resolution (`config`), the paths under the root (`layout`), the servers' records (`record`)
//! and the drain (`storage::drain`). Messages go to stdout, errors to stderr. Exit codes: 0
//! success (and "off" for status), 3 "on" for status, 1 error, 2 usage.

use crate::cluster;
use crate::config;
use crate::layout;
use crate::maintenance::{self, Announcement, Flag, Mode, Notice};
use crate::pg::{self, is_postgres_uri, PgConfig};
use crate::record::{self, ServerRecord};
use crate::rfc3339;
use crate::secret::{self, Digest};
use crate::storage::{self, DrainError};
use serde_json::{json, Value};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The CLI's `--help` text.
pub const USAGE: &str = "\
Usage:
  directus maintenance:on [--read-only] [--bypass | --no-bypass] [--message TEXT]
                          [--retry SECONDS] [--wait SECONDS]
  directus maintenance:off
  directus maintenance:status [--json]
  directus maintenance:announce --at TIME [--until TIME] [--message TEXT]
  directus maintenance:announce --clear
  directus --help | --version

Global options (before or after the command):
  --root DIR    DIRECTUS_ROOT  root holding data/ and logs/ (default: parent of bin/, else the current directory)
  --db PATH|URI DIRECTUS_DB    database to drain (default: every one the running servers use,
                             found in ROOT/logs/servers/, else ROOT/data/directus.db); a
                             postgresql:// URI for servers on PostgreSQL (password from the URI,
                             PGPASSWORD or ~/.pgpass)
  --host-only                on PostgreSQL, on/off/announce act on this root's files only, not
                             on every server of the database (the cluster)

maintenance:on writes ROOT/logs/maintenance, then waits (up to --wait, default 30 s) until no
write can still commit and checkpoints the WAL. Without --read-only every request gets the 503;
with it, GET, HEAD and OPTIONS are still served and every other method gets the 503. --bypass
makes a new secret, printed once: requests sending it as X-Maintenance-Bypass are served as if
maintenance were off (writes included). An existing bypass is kept unless --bypass or
--no-bypass is given. status exits 0 when off, 3 when on, and lists the running servers.
announce tells clients (GET /server/maintenance, the App's banner) of a window ahead; it changes
nothing for requests. TIME is RFC 3339 (2026-12-08T22:00:00Z, or with an offset) or +30m, +2h,
+1d from now. off also removes an announcement whose start has passed.

On PostgreSQL, on and off act on the cluster by default: the state is stored in the database
and every server on it, on every host, applies it within 2 s (at once when notified); on waits
until no write holds the drain lock on any host. status shows both scopes and every live server
on the database. A server applies the stricter of its root's flag and the cluster's state.";

const DEFAULT_WAIT: Duration = Duration::from_secs(30);

/// The environment variables a PostgreSQL connection may take its settings from, as `psql`.
const PG_VARIABLES: &[&str] = &[
    "PGHOST",
    "PGPORT",
    "PGUSER",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGDATABASE",
    "PGSSLMODE",
    "PGSSLROOTCERT",
    "USER",
    "HOME",
];

/// What `maintenance:on` does with the bypass secret.
#[derive(Clone, Copy, PartialEq)]
enum BypassChoice {
    /// Keep the flag's (none if it has none or cannot be read).
    Keep,
    /// A new secret (`--bypass`).
    New,
    /// None (`--no-bypass`).
    Remove,
}

enum Cmd {
    On {
        message: Option<String>,
        retry: Option<u64>,
        wait: Duration,
        mode: Mode,
        bypass: BypassChoice,
    },
    Off,
    Status {
        json: bool,
    },
    Announce(Option<Announcement>),
}

struct Cli {
    root: PathBuf,
    db: Option<String>,
    /// On PostgreSQL, act on this root's flag file only (`--host-only`).
    host_only: bool,
    cmd: Cmd,
    /// libpq's variables (`PGPASSWORD`, `PGUSER`, ...), for a PostgreSQL `--db` or record.
    pg_env: Vec<(String, String)>,
}

/// Where the CLI writes: messages to stdout, warnings and errors to stderr, each prefixed
/// `directus: `. The one place that ignores a failed write: a closed stdout (`| head`) must not
/// change what the command did or its exit code.
struct Term<'a> {
    out: &'a mut dyn Write,
    err: &'a mut dyn Write,
}

impl Term<'_> {
    fn say(&mut self, line: std::fmt::Arguments) {
        let _ = writeln!(self.out, "{line}");
    }

    fn warn(&mut self, line: std::fmt::Arguments) {
        let _ = writeln!(self.err, "directus: {line}");
    }
}

/// `say!(term, "...", args)`: a line on stdout.
macro_rules! say {
    ($term:expr, $($arg:tt)*) => { $term.say(format_args!($($arg)*)) };
}

/// `warn!(term, "...", args)`: a line on stderr, after `directus: `.
macro_rules! warn {
    ($term:expr, $($arg:tt)*) => { $term.warn(format_args!($($arg)*)) };
}

/// A command that failed: what to tell the operator (stderr) and exit with 1.
struct Failed(String);

impl Failed {
    /// A failure already reported line by line as it happened.
    fn said() -> Failed {
        Failed(String::new())
    }
}

/// Runs the CLI and returns its exit code. `env` looks up an environment variable.
pub fn main(args: Vec<OsString>, env: &dyn Fn(&str) -> Option<String>) -> i32 {
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    let term = &mut Term {
        out: &mut out,
        err: &mut err,
    };
    let mut args = pico_args::Arguments::from_vec(args);
    if args.contains(["-h", "--help"]) {
        say!(term, "{USAGE}");
        return 0;
    }
    if args.contains(["-V", "--version"]) {
        say!(term, "directus {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    let cli = match parse(args, env) {
        Ok(cli) => cli,
        Err(msg) => {
            warn!(term, "{msg}\n\n{USAGE}");
            return 2;
        }
    };
    match run(cli, term) {
        Ok(code) => code,
        Err(Failed(why)) => {
            if !why.is_empty() {
                warn!(term, "{why}");
            }
            1
        }
    }
}

fn parse(
    mut args: pico_args::Arguments,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Cli, String> {
    let opt =
        |args: &mut pico_args::Arguments, name: &'static str| -> Result<Option<String>, String> {
            args.opt_value_from_str(name)
                .map_err(|e| format!("{name}: {e}"))
        };
    let root = opt(&mut args, "--root")?.or_else(|| env("DIRECTUS_ROOT").filter(|v| !v.is_empty()));
    let db = opt(&mut args, "--db")?.or_else(|| env("DIRECTUS_DB").filter(|v| !v.is_empty()));
    let message = opt(&mut args, "--message")?;
    let retry = opt(&mut args, "--retry")?;
    let wait = opt(&mut args, "--wait")?;
    let json = args.contains("--json");
    let at = opt(&mut args, "--at")?;
    let until = opt(&mut args, "--until")?;
    let clear = args.contains("--clear");
    let read_only = args.contains("--read-only");
    let new_bypass = args.contains("--bypass");
    let no_bypass = args.contains("--no-bypass");
    let host_only = args.contains("--host-only");
    let rest = args.finish();
    if let Some(flag) = rest.iter().find(|w| w.to_string_lossy().starts_with('-')) {
        return Err(format!("unknown option \"{}\"", flag.to_string_lossy()));
    }
    let mut words = rest.iter().map(|w| w.to_string_lossy().to_string());
    let command = words.next().ok_or("no command given")?;
    if let Some(extra) = words.next() {
        return Err(format!("unexpected argument \"{extra}\""));
    }
    let only_for = |what: &str, given: bool, cmd: &str| {
        if given {
            Err(format!("{what} does not apply to {cmd}"))
        } else {
            Ok(())
        }
    };
    if command != "maintenance:announce" {
        only_for("--at", at.is_some(), &command)?;
        only_for("--until", until.is_some(), &command)?;
        only_for("--clear", clear, &command)?;
    }
    let cmd = match command.as_str() {
        "maintenance:on" => {
            only_for("--json", json, &command)?;
            let bypass = match (new_bypass, no_bypass) {
                (true, true) => return Err("--bypass and --no-bypass exclude each other".into()),
                (true, false) => BypassChoice::New,
                (false, true) => BypassChoice::Remove,
                (false, false) => BypassChoice::Keep,
            };
            let retry = match retry {
                None => None,
                Some(r) => Some(r.parse::<u64>().map_err(|_| {
                    format!("--retry: \"{r}\" is not a whole number of seconds (0 or more)")
                })?),
            };
            let wait = match wait {
                None => DEFAULT_WAIT,
                Some(w) => match w.parse::<f64>() {
                    Ok(s) if s.is_finite() && (0.0..=86_400.0).contains(&s) => {
                        Duration::from_secs_f64(s)
                    }
                    _ => {
                        return Err(format!(
                            "--wait: \"{w}\" is not a number of seconds (0 to 86400)"
                        ))
                    }
                },
            };
            Cmd::On {
                message,
                retry,
                wait,
                mode: if read_only {
                    Mode::ReadOnly
                } else {
                    Mode::Full
                },
                bypass,
            }
        }
        "maintenance:announce" => {
            only_for("--json", json, &command)?;
            only_for("--read-only", read_only, &command)?;
            only_for("--bypass", new_bypass, &command)?;
            only_for("--no-bypass", no_bypass, &command)?;
            only_for("--retry", retry.is_some(), &command)?;
            only_for("--wait", wait.is_some(), &command)?;
            if clear {
                only_for("--at", at.is_some(), "--clear")?;
                only_for("--until", until.is_some(), "--clear")?;
                only_for("--message", message.is_some(), "--clear")?;
                Cmd::Announce(None)
            } else {
                let at = at.ok_or("maintenance:announce needs --at TIME (or --clear)")?;
                let now = SystemTime::now();
                let starts_at = when("--at", &at, now)?;
                let ends_at = until.map(|u| when("--until", &u, now)).transpose()?;
                if let Some(end) = &ends_at {
                    if rfc3339::parse(end) < rfc3339::parse(&starts_at) {
                        return Err("--until is before --at".into());
                    }
                }
                Cmd::Announce(Some(Announcement {
                    starts_at,
                    ends_at,
                    message,
                }))
            }
        }
        "maintenance:off" | "maintenance:status" => {
            only_for("--read-only", read_only, &command)?;
            only_for("--bypass", new_bypass, &command)?;
            only_for("--no-bypass", no_bypass, &command)?;
            only_for("--message", message.is_some(), &command)?;
            only_for("--retry", retry.is_some(), &command)?;
            only_for("--wait", wait.is_some(), &command)?;
            if command == "maintenance:off" {
                only_for("--json", json, &command)?;
                Cmd::Off
            } else {
                Cmd::Status { json }
            }
        }
        other => return Err(format!("unknown command \"{other}\"")),
    };
    let root = config::absolute(&root.map(PathBuf::from).unwrap_or_else(config::default_root));
    let pg_env = PG_VARIABLES
        .iter()
        .filter_map(|k| env(k).map(|v| (k.to_string(), v)))
        .collect();
    Ok(Cli {
        root,
        db,
        host_only,
        cmd,
        pg_env,
    })
}

/// Runs a command: `Ok` with the exit code of a command that did what it was asked (status
/// reports 3 for on), `Err` for one that failed.
fn run(cli: Cli, term: &mut Term) -> Result<i32, Failed> {
    let flag = layout::flag_path(&cli.root);
    let pg = postgres_of(&cli, term)?;
    if let Some(pg) = &pg {
        match &cli.cmd {
            Cmd::On { .. } | Cmd::Off if !cli.host_only => return cluster_command(&cli, pg, term),
            Cmd::On { wait, .. } => {
                set_flag(&flag, asked(&cli.cmd), term)?;
                return cluster_drain(pg, *wait, term).map(|()| 0);
            }
            Cmd::Status { json } => return status(&cli.root, &flag, Some(pg), *json, term),
            Cmd::Announce(a) if !cli.host_only => {
                let mut client = connect(pg)?;
                cluster::announce(&mut client, a.as_ref())
                    .map_err(|e| Failed(format!("{pg}: {e}")))?;
                match a {
                    Some(a) => {
                        say!(term, "Maintenance announced to every server on {pg}.");
                        say_announcement(term, a);
                        say!(term, "  (requests are not affected until maintenance:on)");
                    }
                    None => say!(term, "The cluster's announcement is removed ({pg})."),
                }
                return Ok(0);
            }
            _ => {}
        }
    }
    match &cli.cmd {
        Cmd::On { wait, .. } => {
            set_flag(&flag, asked(&cli.cmd), term)?;
            drain_servers(&cli, *wait, term).map(|()| 0)
        }
        Cmd::Off => {
            match maintenance::remove_flag(&flag) {
                Ok(true) => say!(term, "Maintenance mode is off. Removed {}", flag.display()),
                Ok(false) => say!(
                    term,
                    "Maintenance mode was already off (no {}).",
                    flag.display()
                ),
                Err(e) => return Err(Failed(format!("cannot remove {}: {e}", flag.display()))),
            }
            // That window happened: clients should no longer be told it is coming.
            let path = layout::announcement_path(&cli.root);
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64);
            if let Some(past) = maintenance::read_announcement(&path).filter(|a| a.starts() <= now)
            {
                match maintenance::remove_announcement(&path) {
                    Ok(_) => say!(
                        term,
                        "Removed the announcement of the window that started at {}.",
                        past.starts_at
                    ),
                    Err(e) => warn!(term, "cannot remove {}: {e}", path.display()),
                }
            }
            Ok(0)
        }
        Cmd::Announce(announcement) => announce(&cli.root, announcement.as_ref(), term),
        Cmd::Status { json } => status(&cli.root, &flag, None, *json, term),
    }
}

/// What `maintenance:on` asked for (`cmd` is `Cmd::On`).
fn asked(cmd: &Cmd) -> Asked {
    match cmd {
        Cmd::On {
            message,
            retry,
            mode,
            bypass,
            ..
        } => Asked {
            message: message.clone(),
            retry: *retry,
            mode: *mode,
            bypass: *bypass,
        },
        _ => unreachable!("only maintenance:on asks"),
    }
}

/// The PostgreSQL database of this root's servers: `--db` (or `DIRECTUS_DB`) when it is a
/// URI, else the one the live servers' records name (they must agree). `None` on SQLite.
fn postgres_of(cli: &Cli, term: &mut Term) -> Result<Option<PgConfig>, Failed> {
    let env = |k: &str| {
        cli.pg_env
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.clone())
    };
    let parse = |uri: &str| PgConfig::parse(uri, &env).map_err(|e| Failed(format!("--db: {e}")));
    if let Some(db) = cli.db.as_deref().filter(|d| is_postgres_uri(d)) {
        return parse(db).map(Some);
    }
    if cli.db.is_some() {
        return Ok(None);
    }
    let Ok(scan) = record::scan(&cli.root) else {
        return Ok(None);
    };
    let mut found: Option<String> = None;
    for server in &scan.live {
        let db = server.db.display().to_string();
        if !is_postgres_uri(&db) {
            continue;
        }
        match &found {
            Some(other) if *other != db => {
                warn!(
                    term,
                    "this root's servers use two databases: {other} and {db}"
                );
                return Err(Failed("pass --db with the database to act on".into()));
            }
            _ => found = Some(db),
        }
    }
    if found.is_none() {
        // No server runs: the database they last used, if it was PostgreSQL.
        let noted = std::fs::read_to_string(layout::database_note_path(&cli.root))
            .ok()
            .map(|t| t.trim().to_string())
            .filter(|t| is_postgres_uri(t));
        if let Some(uri) = &noted {
            warn!(
                term,
                "no server runs on this root; using the database its servers last used: {uri}"
            );
        }
        found = noted;
    }
    found.as_deref().map(parse).transpose()
}

/// The CLI waits longer than a server's start for the database to answer (an operator at a
/// busy database would rather wait than retry), unless the URI sets `connect_timeout`.
const CLI_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

fn connect(pg: &PgConfig) -> Result<pg::Client, Failed> {
    let mut config = pg.clone();
    config.connect_timeout = config.connect_timeout.or(Some(CLI_CONNECT_TIMEOUT));
    pg::Client::connect(&config).map_err(|e| Failed(format!("cannot connect to {pg}: {e}")))
}

/// `on` and `off` for every server of a PostgreSQL database (the cluster scope).
fn cluster_command(cli: &Cli, pg: &PgConfig, term: &mut Term) -> Result<i32, Failed> {
    let mut client = connect(pg)?;
    let db_error = |e: pg::PgError| Failed(format!("{pg}: {e}"));
    let state = cluster::read(&mut client).map_err(db_error)?;
    let previous = state.notice;
    let Cmd::On { wait, .. } = &cli.cmd else {
        let version = cluster::set(&mut client, None).map_err(db_error)?;
        match previous {
            Some(_) => say!(term, "Cluster maintenance is off (every server on {pg})."),
            None => say!(term, "Cluster maintenance was already off ({pg})."),
        }
        let deadline = Instant::now() + APPLY_WAIT;
        say_applied(term, cluster::wait_applied(&mut client, version, deadline));
        // That window happened: clients should no longer be told it is coming.
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        if let Some(past) = state.announcement.filter(|a| a.starts() <= now) {
            cluster::announce(&mut client, None).map_err(db_error)?;
            say!(
                term,
                "Removed the cluster's announcement of the window that started at {}.",
                past.starts_at
            );
        }
        return Ok(0);
    };
    let asked = asked(&cli.cmd);
    let secret = match asked.bypass {
        BypassChoice::New => Some(
            secret::new_secret()
                .map_err(|e| Failed(format!("cannot make a bypass secret: {e}")))?,
        ),
        _ => None,
    };
    let notice = compose(previous.as_ref(), &asked, secret.as_deref());
    let version = cluster::set(&mut client, Some(&notice)).map_err(db_error)?;
    let started = Instant::now();
    match &previous {
        None => say!(term, "Cluster maintenance is on: every server on {pg}."),
        Some(_) => say!(term, "Cluster maintenance was already on ({pg}); updated."),
    }
    say!(term, "  message: {}", notice.message());
    say!(term, "  mode:    {}", mode_line(notice.mode()));
    say!(term, "  bypass:  {}", bypass_line(notice.bypass()));
    if let Some(secret) = &secret {
        say!(term, "bypass secret: {secret}");
    }
    // Every server applies it (its reads are closed too), then no write is in flight.
    let deadline = started + (*wait).min(APPLY_WAIT);
    say_applied(term, cluster::wait_applied(&mut client, version, deadline));
    cluster_drain_with(
        &mut client,
        pg,
        wait.saturating_sub(started.elapsed()),
        term,
    )
    .map(|()| 0)
}

/// How long `on` and `off` wait for every server to apply the change (they learn it at once
/// when notified, within `cluster::REFRESH` otherwise). A server that does not is named; writes
/// are refused regardless, in their own transactions.
const APPLY_WAIT: Duration = Duration::from_secs(10);

fn say_applied(term: &mut Term, behind: Result<Vec<String>, pg::PgError>) {
    match behind {
        Ok(behind) if behind.is_empty() => {
            say!(term, "Every server on the database applies it now.")
        }
        Ok(behind) => {
            for server in behind {
                warn!(
                    term,
                    "server {server} has not applied it yet (its writes are refused \
                     regardless; it re-reads the state every {} s)",
                    cluster::REFRESH.as_secs()
                );
            }
        }
        Err(e) => warn!(term, "cannot tell which servers apply it: {e}"),
    }
}

/// Waits until no write holds the drain lock on any host (`cluster::drain`).
fn cluster_drain(pg: &PgConfig, wait: Duration, term: &mut Term) -> Result<(), Failed> {
    cluster_drain_with(&mut connect(pg)?, pg, wait, term)
}

fn cluster_drain_with(
    client: &mut pg::Client,
    pg: &PgConfig,
    wait: Duration,
    term: &mut Term,
) -> Result<(), Failed> {
    if wait.is_zero() {
        say!(
            term,
            "Not waiting (--wait 0): writes already in flight may still commit. The drain \
             guarantee is NOT established."
        );
        return Ok(());
    }
    match cluster::drain(client, wait) {
        Ok(waited) => {
            say!(
                term,
                "Drained every host of {pg} in {:.3}s. No write through the API can commit on \
                 any of its servers now.",
                waited.as_secs_f64()
            );
            Ok(())
        }
        Err(e) => Err(Failed(format!(
            "draining {pg} failed: {e}. Maintenance is on, but the guarantee is not established \
             (writes in flight may still commit)."
        ))),
    }
}

/// The notice `on` sets: what was asked, the rest kept from `previous` (its start included).
fn compose(previous: Option<&Notice>, asked: &Asked, secret: Option<&str>) -> Notice {
    let default = Notice::default();
    let previous = previous.unwrap_or(&default);
    let bypass = match asked.bypass {
        BypassChoice::Keep => previous.bypass(),
        BypassChoice::New => secret.map(Digest::of),
        BypassChoice::Remove => None,
    };
    Notice::new(
        asked
            .message
            .clone()
            .or_else(|| previous.custom_message().map(str::to_string)),
        asked.retry.or(previous.retry_after()),
        Some(
            previous
                .since()
                .map(str::to_string)
                .unwrap_or_else(|| rfc3339::format(SystemTime::now())),
        ),
    )
    .with(asked.mode, bypass)
}

/// The live servers of a root; stale records, and records that cannot be read, are reported on
/// `err`. `None` when the records could not be listed at all.
fn live_servers(root: &Path, term: &mut Term) -> Option<Vec<ServerRecord>> {
    match record::scan(root) {
        Ok(scan) => {
            for stale in &scan.stale {
                warn!(
                    term,
                    "ignoring the server record {}: {}",
                    stale.path.display(),
                    stale.why
                );
            }
            Some(scan.live)
        }
        Err(e) => {
            warn!(
                term,
                "cannot read the server records in {}: {e}",
                layout::servers_dir(root).display()
            );
            None
        }
    }
}

fn status(
    root: &Path,
    flag: &Path,
    pg: Option<&PgConfig>,
    as_json: bool,
    term: &mut Term,
) -> Result<i32, Failed> {
    let host = match maintenance::probe(flag) {
        Flag::Off => None,
        Flag::On(meta) => Some(maintenance::read_notice(flag, &meta)),
        Flag::Unknown(e) => {
            return Err(Failed(format!(
                "cannot tell whether {} exists: {e} (the server answers 503 while this lasts)",
                flag.display()
            )))
        }
    };
    // On PostgreSQL: the cluster's state and the servers registered on the database.
    let mut cluster_announcement = None;
    let cluster = match pg {
        None => None,
        Some(pg) => {
            let mut client = connect(pg)?;
            let read = cluster::read(&mut client)
                .and_then(|state| cluster::servers(&mut client).map(|servers| (state, servers)));
            let read = read.map(|(state, servers)| {
                cluster_announcement = state.announcement;
                (state.notice, servers)
            });
            Some(
                read.map_err(|e| {
                    Failed(format!("cannot read the cluster's state from {pg}: {e}"))
                })?,
            )
        }
    };
    let applies = maintenance::stricter(
        host.clone(),
        cluster.as_ref().and_then(|(state, _)| state.clone()),
    );
    let on = applies.is_some();
    let notice = applies.unwrap_or_default();
    let servers = live_servers(root, term);
    // This root's announcement wins, as on the servers.
    let announcement =
        maintenance::read_announcement(&layout::announcement_path(root)).or(cluster_announcement);
    if as_json {
        // `null` when the records could not be read: not the same as "no server".
        let listed: Option<Vec<Value>> = servers.as_ref().map(|list| {
            list.iter()
                .map(|s| json!({"pid": s.pid, "address": s.address, "db": s.db}))
                .collect()
        });
        let mut value = scope_json(on.then_some(&notice));
        value["flag"] = json!(flag);
        value["servers"] = json!(listed);
        value["announcement"] = json!(announcement.as_ref().map(Announcement::to_json));
        value["host"] = scope_json(host.as_ref());
        value["cluster"] = match &cluster {
            None => Value::Null,
            Some((state, registered)) => {
                let mut c = scope_json(state.as_ref());
                c["database"] = json!(pg.map(PgConfig::to_string));
                c["servers"] = registered
                    .iter()
                    .map(|s| {
                        json!({"host": s.host, "pid": s.pid, "address": s.address,
                               "root": s.root, "heartbeat_age_s": s.age})
                    })
                    .collect();
                c
            }
        };
        say!(term, "{value}");
        return Ok(if on { 3 } else { 0 });
    }
    match &host {
        Some(notice) => {
            say!(term, "Maintenance mode is on. Flag: {}", flag.display());
            say_notice(term, notice);
        }
        None => say!(
            term,
            "Maintenance mode is off (serving). Flag: {} (absent)",
            flag.display()
        ),
    }
    if let (Some(pg), Some((state, registered))) = (pg, &cluster) {
        match state {
            Some(notice) => {
                say!(term, "Cluster maintenance is on: every server on {pg}.");
                say_notice(term, notice);
            }
            None => say!(term, "Cluster maintenance is off ({pg})."),
        }
        if on {
            say!(
                term,
                "This root's servers apply: {}",
                mode_line(notice.mode())
            );
        }
        for s in registered {
            say!(
                term,
                "Server on the database: {} pid {} on {} (root {}), heartbeat {:.0} s ago",
                s.host,
                s.pid,
                s.address,
                s.root,
                s.age
            );
        }
    }
    if let Some(a) = &announcement {
        say!(term, "Maintenance announced:");
        say_announcement(term, a);
    }
    match servers.as_deref() {
        Some([]) => say!(term, "No server is running on this root."),
        Some(servers) => {
            for s in servers {
                say!(
                    term,
                    "Server pid {} on {}, database {}",
                    s.pid,
                    s.address,
                    s.db.display()
                );
            }
        }
        None => {}
    }
    Ok(if on { 3 } else { 0 })
}

/// One scope's state as `status --json` shows it.
fn scope_json(notice: Option<&Notice>) -> Value {
    json!({
        "state": if notice.is_some() { "on" } else { "off" },
        "message": notice.and_then(|n| n.custom_message()),
        "retry_after": notice.and_then(Notice::retry_after),
        "since": notice.and_then(|n| n.since()),
        "mode": notice.map(|n| n.mode().name()),
        "bypass": notice.is_some_and(|n| n.bypass().is_some()),
    })
}

fn say_notice(term: &mut Term, notice: &Notice) {
    say!(term, "  mode:    {}", mode_line(notice.mode()));
    say!(
        term,
        "  since:   {}",
        notice.since().unwrap_or("(not recorded)")
    );
    say!(term, "  message: {}", notice.message());
    match notice.retry_after() {
        Some(s) => say!(term, "  retry:   {s} s"),
        None => say!(term, "  retry:   (not set)"),
    }
    say!(term, "  bypass:  {}", bypass_line(notice.bypass()));
}

/// A time given as RFC 3339 or as `+N` followed by `s`, `m`, `h` or `d` from `now`, as RFC 3339
/// text.
fn when(option: &str, text: &str, now: SystemTime) -> Result<String, String> {
    if let Some(rest) = text.strip_prefix('+') {
        let (digits, unit) = rest.split_at(rest.len().saturating_sub(1));
        let seconds = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => 0,
        };
        return match digits.parse::<u64>() {
            Ok(n) if seconds > 0 && n <= 3650 * 86_400 / seconds => {
                Ok(rfc3339::format(now + Duration::from_secs(n * seconds)))
            }
            _ => Err(format!(
                "{option}: \"{text}\" is not +N followed by s, m, h or d"
            )),
        };
    }
    match rfc3339::parse(text) {
        Some(_) => Ok(text.to_string()),
        None => Err(format!(
            "{option}: \"{text}\" is not an RFC 3339 time (2026-12-08T22:00:00Z) or +30m"
        )),
    }
}

/// `maintenance:announce`: writes (or with `None` removes) the announcement.
fn announce(
    root: &Path,
    announcement: Option<&Announcement>,
    term: &mut Term,
) -> Result<i32, Failed> {
    let path = layout::announcement_path(root);
    match announcement {
        None => match maintenance::remove_announcement(&path) {
            Ok(true) => say!(term, "Announcement removed ({}).", path.display()),
            Ok(false) => say!(term, "There was no announcement ({}).", path.display()),
            Err(e) => return Err(Failed(format!("cannot remove {}: {e}", path.display()))),
        },
        Some(a) => {
            std::fs::create_dir_all(layout::logs_dir(root))
                .and_then(|()| maintenance::write_announcement(&path, a))
                .map_err(|e| Failed(format!("cannot write {}: {e}", path.display())))?;
            say!(term, "Maintenance announced. File: {}", path.display());
            say_announcement(term, a);
            say!(term, "  (requests are not affected until maintenance:on)");
        }
    }
    Ok(0)
}

fn say_announcement(term: &mut Term, a: &Announcement) {
    say!(term, "  starts:  {}", a.starts_at);
    say!(
        term,
        "  ends:    {}",
        a.ends_at.as_deref().unwrap_or("(not set)")
    );
    say!(
        term,
        "  message: {}",
        a.message.as_deref().unwrap_or("(none)")
    );
}

/// What `maintenance:on` was asked for.
struct Asked {
    message: Option<String>,
    retry: Option<u64>,
    mode: Mode,
    bypass: BypassChoice,
}

fn mode_line(mode: Mode) -> &'static str {
    match mode {
        Mode::Full => "full (every request gets the 503)",
        Mode::ReadOnly => "read-only (GET, HEAD and OPTIONS are served; writes get the 503)",
    }
}

fn bypass_line(bypass: Option<Digest>) -> &'static str {
    match bypass {
        Some(_) => "set (requests with the header X-Maintenance-Bypass: <secret> are served)",
        None => "none",
    }
}

/// `maintenance:on`'s first half: writes the flag (keeping what the operator did not ask to
/// change) and says what is now in force. Fails only when maintenance could not be set at all.
fn set_flag(flag: &Path, asked: Asked, term: &mut Term) -> Result<(), Failed> {
    let existing = maintenance::probe(flag);
    let was_on = existing.is_on();
    let previous = match &existing {
        Flag::On(meta) => maintenance::read_notice(flag, meta),
        _ => Notice::default(),
    };
    let is_plain_file = matches!(&existing, Flag::On(m) if m.file_type().is_file());
    let write_needed = !was_on || is_plain_file;
    // The secret is made only when it can be stored, and shown only once it is.
    let secret = match asked.bypass {
        BypassChoice::New if write_needed => Some(
            secret::new_secret()
                .map_err(|e| Failed(format!("cannot make a bypass secret: {e}")))?,
        ),
        _ => None,
    };
    let previous_on = was_on.then_some(&previous);
    let notice = compose(previous_on, &asked, secret.as_deref());
    let mut written = false;
    if write_needed {
        match maintenance::write_flag(flag, &notice) {
            Ok(()) => written = true,
            Err(e) if !maintenance::probe(flag).is_on() => {
                return Err(Failed(format!("cannot write {}: {e}", flag.display())))
            }
            Err(e) => {
                warn!(term, "cannot write {}: {e}", flag.display());
                warn!(
                    term,
                    "the flag path exists, so maintenance is on regardless (full, no bypass)"
                );
            }
        }
    }
    if !was_on {
        say!(term, "Maintenance mode is on. Flag: {}", flag.display());
        say!(term, "  message: {}", notice.message());
    } else {
        say!(
            term,
            "Maintenance mode was already on. Flag: {}",
            flag.display()
        );
        if !write_needed {
            say!(
                term,
                "  (the flag is not a regular file, so it was left as it is: it means full \
                 maintenance, with the default message and no bypass)"
            );
        } else {
            if previous.mode() != asked.mode {
                say!(
                    term,
                    "  switched from {} to {}",
                    previous.mode(),
                    asked.mode
                );
            }
            say!(term, "  message: {}", notice.message());
        }
    }
    if written {
        say!(term, "  mode:    {}", mode_line(notice.mode()));
        say!(term, "  bypass:  {}", bypass_line(notice.bypass()));
        if let Some(secret) = &secret {
            // Printed once, on its own line; only its SHA-256 is in the flag.
            say!(term, "bypass secret: {secret}");
        }
    } else if asked.mode == Mode::ReadOnly || asked.bypass == BypassChoice::New {
        warn!(
            term,
            "the flag could not be written, so read-only mode and the bypass are not in effect"
        );
    }
    Ok(())
}

/// `maintenance:on`'s second half, once the flag is up: drains every distinct database the
/// live servers use (or `--db`, which must be theirs), within one `--wait` for all.
fn drain_servers(cli: &Cli, wait: Duration, term: &mut Term) -> Result<(), Failed> {
    let live = live_servers(&cli.root, term);
    let explicit = cli
        .db
        .as_deref()
        .map(|given| config::absolute(&layout::database_path(&cli.root, Some(given))));
    // An explicit --db must be every live server's: draining another database would leave the
    // servers' writes free to commit while the operator believes them stopped.
    if let Some(given) = &explicit {
        let canonical = std::fs::canonicalize(given).ok();
        let others: Vec<&ServerRecord> = live
            .iter()
            .flatten()
            .filter(|s| canonical.as_ref() != Some(&s.db))
            .collect();
        if !others.is_empty() {
            for server in others {
                warn!(
                    term,
                    "--db {} is not the database of the running server (pid {}, {}, database {}).",
                    given.display(),
                    server.pid,
                    server.address,
                    server.db.display()
                );
            }
            return Err(Failed(
                "the flag is set, but nothing was drained. Run again without --db, or with the \
                 servers' database."
                    .into(),
            ));
        }
    }
    let targets: Vec<PathBuf> = match (&explicit, &live) {
        (Some(given), _) => vec![given.clone()],
        (None, Some(servers)) if !servers.is_empty() => {
            let mut dbs: Vec<PathBuf> = Vec::new();
            for server in servers {
                if !dbs.contains(&server.db) {
                    dbs.push(server.db.clone());
                }
            }
            dbs
        }
        (None, _) => vec![layout::database_path(&cli.root, None)],
    };
    let unknown = || {
        Failed(
            "the flag is set, but the running servers' databases are unknown: the guarantee is \
             not established for them."
                .into(),
        )
    };
    if wait.is_zero() {
        say!(
            term,
            "Not waiting (--wait 0): writes already in flight may still commit. The drain \
             guarantee is NOT established."
        );
        return live.map(|_| ()).ok_or_else(unknown);
    }
    // --wait bounds the whole command, however many databases there are.
    let started = Instant::now();
    let mut failed = None::<()>;
    for db in &targets {
        let left = wait.saturating_sub(started.elapsed());
        let began = Instant::now();
        let waiting = || {
            say!(
                term,
                "Waiting for a WAL checkpoint already running on {} (a server's automatic one, \
                 or another process's).",
                db.display()
            )
        };
        match storage::drain(db, left, waiting) {
            Ok(report) => say!(
                term,
                "Drained {} in {:.3}s (write lock after {:.3}s; WAL checkpointed, {} frames). \
                 No write through the API can commit to it now.",
                db.display(),
                began.elapsed().as_secs_f64(),
                report.lock_wait.as_secs_f64(),
                report.wal_frames.max(0)
            ),
            Err(DrainError::NoDatabase) => say!(
                term,
                "No database at {}: nothing to drain. (If the server uses another --db, pass \
                 the same --db here.)",
                db.display()
            ),
            Err(e) => {
                let why = format!(
                    "draining {} failed after {:.1}s: {e}. The flag stays: maintenance is on, \
                     but the guarantee is not established.",
                    db.display(),
                    began.elapsed().as_secs_f64()
                );
                // Reported at once; the other databases are still drained.
                warn!(term, "{why}");
                failed = Some(());
            }
        }
    }
    if live.is_none() {
        return Err(unknown());
    }
    match failed {
        Some(_) => Err(Failed::said()),
        None => Ok(()),
    }
}
