//! The `directus` operator CLI: `maintenance:on|off|status`.
//!
//! It never starts or links the server's HTTP side: it uses only the flag (`maintenance`), root
//! resolution (`config`), the paths under the root (`layout`) and the drain (`storage::drain`).
//! Messages go to stdout, errors to stderr. Exit codes: 0 success (and "off" for status), 3 "on"
//! for status, 1 error, 2 usage.

use crate::config;
use crate::layout;
use crate::maintenance::{self, FlagState, Notice};
use crate::storage::{self, DrainError};
use serde_json::{json, Value};
use std::ffi::OsString;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// The CLI's `--help` text.
pub const USAGE: &str = "\
Usage:
  directus maintenance:on [--message TEXT] [--retry SECONDS] [--wait SECONDS]
  directus maintenance:off
  directus maintenance:status [--json]
  directus --help | --version

Global options (before or after the command):
  --root DIR    DIRECTUS_ROOT  root holding data/ and logs/ (default: parent of bin/, else the current directory)
  --db PATH     DIRECTUS_DB    database to drain (default: the running server's, else ROOT/data/directus.db)

maintenance:on writes ROOT/logs/maintenance, then waits (up to --wait, default 30 s) until no
write can still commit and checkpoints the WAL. status exits 0 when off, 3 when on.";

const DEFAULT_WAIT: Duration = Duration::from_secs(30);

enum Cmd {
    On {
        message: Option<String>,
        retry: Option<u64>,
        wait: Duration,
    },
    Off,
    Status {
        json: bool,
    },
}

struct Cli {
    root: PathBuf,
    db: Option<String>,
    cmd: Cmd,
}

/// Runs the CLI and returns its exit code. `env` looks up an environment variable.
pub fn main(args: Vec<OsString>, env: &dyn Fn(&str) -> Option<String>) -> i32 {
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    let mut args = pico_args::Arguments::from_vec(args);
    if args.contains(["-h", "--help"]) {
        let _ = writeln!(out, "{USAGE}");
        return 0;
    }
    if args.contains(["-V", "--version"]) {
        let _ = writeln!(out, "directus {}", env!("CARGO_PKG_VERSION"));
        return 0;
    }
    match parse(args, env) {
        Ok(cli) => run(cli, &mut out, &mut err),
        Err(msg) => {
            let _ = writeln!(err, "directus: {msg}\n\n{USAGE}");
            2
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
    let cmd = match command.as_str() {
        "maintenance:on" => {
            only_for("--json", json, &command)?;
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
            }
        }
        "maintenance:off" | "maintenance:status" => {
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
    Ok(Cli { root, db, cmd })
}

fn run(cli: Cli, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let flag = layout::flag_path(&cli.root);
    match &cli.cmd {
        Cmd::On {
            message,
            retry,
            wait,
        } => on(&cli, &flag, message.clone(), *retry, *wait, out, err),
        Cmd::Off => match maintenance::remove_flag(&flag) {
            Ok(true) => {
                let _ = writeln!(out, "Maintenance mode is off. Removed {}", flag.display());
                0
            }
            Ok(false) => {
                let _ = writeln!(
                    out,
                    "Maintenance mode was already off (no {}).",
                    flag.display()
                );
                0
            }
            Err(e) => {
                let _ = writeln!(err, "directus: cannot remove {}: {e}", flag.display());
                1
            }
        },
        Cmd::Status { json } => status(&flag, *json, out, err),
    }
}

fn status(flag: &Path, as_json: bool, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let (on, notice) = match maintenance::probe(flag) {
        FlagState::Off => (false, Notice::default()),
        FlagState::On(meta) => (true, maintenance::read_notice(flag, &meta)),
        FlagState::Unknown(e) => {
            let _ = writeln!(
                err,
                "directus: cannot tell whether {} exists: {e} (the server answers 503 while this lasts)",
                flag.display()
            );
            return 1;
        }
    };
    if as_json {
        let value = json!({
            "state": if on { "on" } else { "off" },
            "flag": flag,
            "message": if on { notice.custom_message().map(Value::from) } else { None },
            "retry_after": if on { notice.retry_after() } else { None },
            "since": if on { notice.since().map(Value::from) } else { None },
        });
        let _ = writeln!(out, "{value}");
    } else if on {
        let _ = writeln!(out, "Maintenance mode is on. Flag: {}", flag.display());
        let _ = writeln!(
            out,
            "  since:   {}",
            notice.since().unwrap_or("(not recorded)")
        );
        let _ = writeln!(out, "  message: {}", notice.message());
        match notice.retry_after() {
            Some(s) => writeln!(out, "  retry:   {s} s"),
            None => writeln!(out, "  retry:   (not set)"),
        }
        .ok();
    } else {
        let _ = writeln!(
            out,
            "Maintenance mode is off (serving). Flag: {} (absent)",
            flag.display()
        );
    }
    if on {
        3
    } else {
        0
    }
}

fn on(
    cli: &Cli,
    flag: &Path,
    message: Option<String>,
    retry: Option<u64>,
    wait: Duration,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    let existing = maintenance::probe(flag);
    let was_on = existing.is_on();
    let previous = match &existing {
        FlagState::On(meta) => maintenance::read_notice(flag, meta),
        _ => Notice::default(),
    };
    let notice = Notice::new(
        message.or_else(|| previous.custom_message().map(str::to_string)),
        retry.or(previous.retry_after()),
        Some(
            previous
                .since()
                .map(str::to_string)
                .unwrap_or_else(|| maintenance::rfc3339(SystemTime::now())),
        ),
    );
    let is_plain_file = matches!(&existing, FlagState::On(m) if m.file_type().is_file());
    let write_needed = !was_on || is_plain_file;
    if write_needed {
        if let Err(e) = maintenance::write_flag(flag, &notice) {
            let _ = writeln!(err, "directus: cannot write {}: {e}", flag.display());
            if !maintenance::probe(flag).is_on() {
                return 1;
            }
            let _ = writeln!(
                err,
                "directus: the flag path exists, so maintenance is on regardless"
            );
        }
    }
    if was_on {
        let _ = writeln!(
            out,
            "Maintenance mode was already on. Flag: {}",
            flag.display()
        );
        if !write_needed {
            let _ = writeln!(
                out,
                "  (the flag is not a regular file, so its message was left as it is)"
            );
        } else {
            let _ = writeln!(out, "  message: {}", notice.message());
        }
    } else {
        let _ = writeln!(out, "Maintenance mode is on. Flag: {}", flag.display());
        let _ = writeln!(out, "  message: {}", notice.message());
    }

    let live = live_server(&cli.root);
    let (db, mismatch) = match (&cli.db, &live) {
        (Some(given), Some(server)) => {
            let given = config::absolute(&layout::database_path(&cli.root, Some(given)));
            let same = std::fs::canonicalize(&given).ok().as_ref() == Some(server);
            (given, (!same).then(|| server.clone()))
        }
        (Some(given), None) => (
            config::absolute(&layout::database_path(&cli.root, Some(given))),
            None,
        ),
        (None, Some(server)) => (server.clone(), None),
        (None, None) => (layout::database_path(&cli.root, None), None),
    };
    if let Some(server_db) = mismatch {
        let _ = writeln!(
            err,
            "directus: --db {} is not the database of the running server ({}); the flag is set, \
             but nothing was drained. Run again without --db, or with the server's database.",
            db.display(),
            server_db.display()
        );
        return 1;
    }
    if wait.is_zero() {
        let _ = writeln!(
            out,
            "Not waiting (--wait 0): writes already in flight may still commit. The drain guarantee \
             is NOT established."
        );
        return 0;
    }
    let started = Instant::now();
    match storage::drain(&db, wait) {
        Ok(report) => {
            let _ = writeln!(
                out,
                "Drained {} in {:.3}s (write lock after {:.3}s; WAL checkpointed, {} frames). \
                 No write through the API can commit now.",
                db.display(),
                started.elapsed().as_secs_f64(),
                report.lock_wait.as_secs_f64(),
                report.wal_frames.max(0)
            );
            0
        }
        Err(DrainError::NoDatabase) => {
            let _ = writeln!(
                out,
                "No database at {}: nothing to drain. (If the server uses another --db, pass the \
                 same --db here.)",
                db.display()
            );
            0
        }
        Err(e) => {
            let _ = writeln!(
                err,
                "directus: draining {} failed after {:.1}s: {e}. The flag stays: maintenance is on, \
                 but the guarantee is not established.",
                db.display(),
                started.elapsed().as_secs_f64()
            );
            1
        }
    }
}

/// The canonical database path of the server whose `logs/server.json` names a live process.
fn live_server(root: &Path) -> Option<PathBuf> {
    let text = std::fs::read(layout::server_file(root)).ok()?;
    let info: Value = serde_json::from_slice(&text).ok()?;
    let pid = info.get("pid")?.as_u64().filter(|p| *p > 0)?;
    if !Path::new(&format!("/proc/{pid}")).exists() {
        return None;
    }
    let db = PathBuf::from(info.get("db")?.as_str()?);
    Some(std::fs::canonicalize(&db).unwrap_or(db))
}
