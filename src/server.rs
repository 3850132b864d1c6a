//! Starting and stopping the server: directories, schema, the server record, the listener, the
//! workers, the maintenance watcher, signal handling and what a clean exit leaves behind.
//!
//! Every way the server stops comes back here: SIGINT/SIGTERM and the fatal paths of the HTTP
//! boundary both set one `Stop` that `run` waits on, so the record is removed on every exit the
//! server controls.

use crate::api::App;
use crate::cluster;
use crate::config::ServerConfig;
use crate::http::{self, HttpServer};
use crate::layout;
use crate::maintenance::NoticeCache;
use crate::record::ServerRecord;
use crate::storage::{self, Database, Storage};
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

/// How long in-flight requests may take to finish after SIGINT/SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How often the watcher looks at the flag when no request does.
const WATCH_INTERVAL: Duration = Duration::from_millis(100);
/// How long the checkpoint at a clean exit may wait for another process using the database.
const EXIT_CHECKPOINT_WAIT: Duration = Duration::from_secs(2);

/// Why `run` did not end with a clean stop.
#[derive(Debug)]
pub enum RunError {
    /// The server could not start.
    Start(String),
    /// It stopped on its own after it started: tiny_http's accept loop died.
    Fatal(String),
    /// The socket inherited from the service manager cannot be served (not a listening TCP
    /// stream socket): a deployment error, like a bad flag.
    Inherited(String),
}

impl RunError {
    /// The process exit status: 1 for a failed start, 2 for an unusable inherited socket (as
    /// for a bad flag), 70 (`EX_SOFTWARE`) for a server that stopped serving, so a supervisor
    /// restarts it.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Start(_) => 1,
            RunError::Inherited(_) => 2,
            RunError::Fatal(_) => 70,
        }
    }
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Start(msg) | RunError::Inherited(msg) => write!(f, "{msg}"),
            RunError::Fatal(msg) => write!(f, "{msg}; exiting so that a supervisor restarts it"),
        }
    }
}

/// The listening socket `run` serves.
#[derive(Debug)]
pub enum Listen {
    /// Bind `--host`/`--port`. The text, when there is one, says why socket activation's
    /// variables were set but not used (they were for another process).
    Bind(Option<String>),
    /// The socket inherited from the service manager as fd 3 (systemd's socket activation),
    /// not yet checked.
    Inherited(TcpListener),
}

/// Why the server stops.
#[derive(Debug, Clone)]
enum Reason {
    Signal(i32),
    Fatal(String),
}

/// The server's one stop signal: the first reason set wins, and `wait` returns it (later ones
/// are ignored).
#[derive(Default)]
struct Stop {
    reason: Mutex<Option<Reason>>,
    set: Condvar,
}

impl Stop {
    fn set(&self, reason: Reason) {
        let mut current = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        if current.is_none() {
            *current = Some(reason);
            self.set.notify_all();
        }
    }

    fn wait(&self) -> Reason {
        let mut current = self.reason.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if let Some(reason) = &*current {
                return reason.clone();
            }
            current = self.set.wait(current).unwrap_or_else(|e| e.into_inner());
        }
    }
}

/// Runs the server on `listen` until SIGINT or SIGTERM (`Ok`), or until it can no longer serve.
pub fn run(config: ServerConfig, listen: Listen) -> Result<(), RunError> {
    let start = RunError::Start;
    // tiny_http's accept thread panics when descriptors run out (two per connection): push that
    // point as far as the hard limit allows.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => log::debug!("open file limit: {n}"),
        Err(e) => log::warn!("cannot raise the open file limit: {e}"),
    }
    if let Some(dir) = config.db.file().and_then(|f| f.parent()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| start(format!("cannot create {}: {e}", dir.display())))?;
    }
    // Schema migrations are not API writes: they run even during maintenance (an upgrade).
    let mut storage = Storage::open(&config.db, true).map_err(|e| {
        start(format!(
            "cannot open the database {}: {e}",
            config.db.describe()
        ))
    })?;
    // On PostgreSQL the cluster's maintenance is read before the first request is served.
    let cluster_at_start = match &mut storage {
        Storage::Postgres(pg) => cluster::read(pg.client()).map_err(|e| {
            start(format!(
                "cannot read the cluster's maintenance state from {}: {e}",
                config.db.describe()
            ))
        })?,
        Storage::Sqlite(_) => cluster::State::default(),
    };
    drop(storage);
    // The record names a file by its canonical path, PostgreSQL by its URI without password.
    let db = match config.db.file() {
        Some(file) => std::fs::canonicalize(file).unwrap_or_else(|_| file.to_path_buf()),
        None => std::path::PathBuf::from(config.db.describe()),
    };

    let addr = SocketAddr::new(config.host, config.port);
    let (listener, shared) = match listen {
        Listen::Bind(ignored) => {
            if let Some(why) = ignored {
                log::info!("socket activation: LISTEN_FDS ignored ({why}); binding {addr}");
            }
            let listener =
                http::bind(addr).map_err(|e| start(format!("cannot listen on {addr}: {e}")))?;
            (listener, false)
        }
        Listen::Inherited(listener) => (http::adopt(listener).map_err(RunError::Inherited)?, true),
    };
    let local = listener
        .local_addr()
        .map_err(|e| start(format!("cannot read the bound address: {e}")))?;
    // The same rule as for `--host` (SPEC §6), for a socket the service manager bound.
    if shared
        && !local.ip().is_loopback()
        && config.token.is_none()
        && !config.allow_public_without_token
    {
        return Err(RunError::Inherited(format!(
            "refusing to serve the inherited socket on {local} without a token: set --token (or \
             DIRECTUS_TOKEN), or pass --allow-public-without-token"
        )));
    }
    if shared {
        log::info!(
            "socket activation: serving the inherited socket (fd 3) on {local}; it wins over \
             --host/--port ({addr})"
        );
    } else {
        log::info!("bound {local}");
    }
    let url = format!("http://{local}");

    // Without its record the CLI could not find this server's database to drain: the server
    // fails closed instead. From here on, dropping `record` removes the file, whatever the exit.
    let logs = layout::logs_dir(&config.root);
    let published = std::fs::create_dir_all(&logs)
        .and_then(|()| ServerRecord::of_this_process(&config.root, &db, url.clone()))
        .and_then(|record| record.publish(&config.root));
    // The database the CLI should act on while no server of this root runs (a PostgreSQL
    // root's maintenance:on must not fall back to the SQLite file).
    if let Err(e) = crate::durable::write(
        &layout::database_note_path(&config.root),
        format!("{}\n", config.db.describe()).as_bytes(),
    ) {
        log::warn!(
            "cannot write {}: {e}",
            layout::database_note_path(&config.root).display()
        );
    }
    let (record, logs_unusable) = match published {
        Ok(record) => (Some(record), false),
        Err(e) => {
            log::error!(
                "{} is unusable ({e}); answering every request with 503 until restarted",
                logs.display()
            );
            (None, true)
        }
    };

    let stop = Arc::new(Stop::default());
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .map_err(|e| start(format!("cannot install signal handlers: {e}")))?;
    let signal_handle = signals.handle();
    let signal_thread = {
        let stop = stop.clone();
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                if let Some(signal) = signals.forever().next() {
                    stop.set(Reason::Signal(signal));
                }
            })
            .map_err(|e| start(format!("cannot start the signal thread: {e}")))?
    };

    let workers = config.workers;
    let flag = layout::flag_path(&config.root);
    let app = Arc::new(App::new(config, flag, logs_unusable));
    app.gate
        .set_cluster(cluster_at_start.notice, cluster_at_start.announcement);
    let fatal: http::Fatal = {
        let stop = stop.clone();
        Arc::new(move |msg| {
            log::error!("{msg}");
            stop.set(Reason::Fatal(msg));
        })
    };
    let server = HttpServer::start(listener, shared, app.clone(), workers, fatal)
        .map_err(|e| start(format!("cannot start the workers: {e}")))?;

    let watching = Arc::new(AtomicBool::new(true));
    let watcher = {
        let (app, watching) = (app.clone(), watching.clone());
        std::thread::Builder::new()
            .name("flag-watcher".into())
            .spawn(move || watch(&app, &watching))
            .map_err(|e| start(format!("cannot start the flag watcher: {e}")))?
    };
    let cluster_watcher = match &app.config.db {
        Database::Postgres(pg) => {
            let mut config = pg.clone();
            config.application_name = Some("directus-watcher".into());
            let watcher = cluster::Watcher {
                config,
                host: cluster::host_name(),
                pid: std::process::id(),
                address: url.clone(),
                root: app.config.root.display().to_string(),
            };
            let (app, watching) = (app.clone(), watching.clone());
            Some(
                std::thread::Builder::new()
                    .name("cluster-watcher".into())
                    .spawn(move || {
                        watcher.run(&watching, &|state| {
                            app.gate.set_cluster(state.notice, state.announcement)
                        })
                    })
                    .map_err(|e| start(format!("cannot start the cluster watcher: {e}")))?,
            )
        }
        Database::File(_) => None,
    };

    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {url}")
        .and_then(|()| stdout.flush())
        .ok();
    drop(stdout);
    log::info!(
        "serving {} with {workers} workers on {url} (root {})",
        app.config.db.describe(),
        app.config.root.display()
    );

    let reason = stop.wait();
    match &reason {
        Reason::Signal(signal) => {
            log::info!("received signal {signal}; finishing in-flight requests")
        }
        Reason::Fatal(_) => log::error!("stopping after that error; finishing in-flight requests"),
    }
    signal_handle.close();
    watching.store(false, Ordering::SeqCst);
    let finished = server.shutdown(SHUTDOWN_GRACE);
    if !finished {
        log::warn!("some requests were still running after {SHUTDOWN_GRACE:?}; exiting anyway");
    }
    let _ = watcher.join();
    if let Some(cluster_watcher) = cluster_watcher {
        let _ = cluster_watcher.join();
    }
    let _ = signal_thread.join();
    app.close_writer();
    if finished && matches!(reason, Reason::Signal(_)) {
        if let Some(file) = app.config.db.file() {
            checkpoint_at_exit(file);
        }
    }
    drop(record);
    match reason {
        Reason::Signal(_) => {
            log::info!("stopped");
            Ok(())
        }
        Reason::Fatal(msg) => Err(RunError::Fatal(msg)),
    }
}

/// Empties the WAL and, if no other process has the database open, deletes it.
///
/// When the workers close their connections at the same moment, none of them sees itself as the
/// last one, so none checkpoints and deletes the WAL. After they all stopped, one connection
/// checkpoints it (TRUNCATE) and, as the last one to close, deletes it.
fn checkpoint_at_exit(db: &std::path::Path) {
    let waiting = || log::debug!("the exit's checkpoint waits for another process's");
    match storage::drain(db, EXIT_CHECKPOINT_WAIT, waiting) {
        Ok(report) => log::debug!("WAL checkpointed at exit ({} frames)", report.wal_frames),
        Err(e) => log::warn!("the WAL of {} stays: {e}", db.display()),
    }
}

/// Notices transitions when no request does, so connections are reopened after a maintenance
/// window that saw no traffic (a database replaced during it must be the one served after).
fn watch(app: &App, watching: &AtomicBool) {
    let mut notices = NoticeCache::default();
    while watching.load(Ordering::SeqCst) {
        app.gate.watch(&mut notices);
        std::thread::sleep(WATCH_INTERVAL);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_reason_to_stop_wins() {
        let stop = Arc::new(Stop::default());
        let waiter = {
            let stop = stop.clone();
            std::thread::spawn(move || stop.wait())
        };
        stop.set(Reason::Fatal("accept loop died".into()));
        stop.set(Reason::Signal(15));
        assert!(matches!(waiter.join().unwrap(), Reason::Fatal(m) if m == "accept loop died"));
    }

    #[test]
    fn exit_codes() {
        assert_eq!(RunError::Start("x".into()).exit_code(), 1);
        assert_eq!(RunError::Fatal("x".into()).exit_code(), 70);
        assert_eq!(RunError::Inherited("x".into()).exit_code(), 2);
    }
}
