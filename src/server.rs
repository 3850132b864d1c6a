//! Starting and stopping the server: directories, schema, the server record
//! (`logs/servers/<pid>.json`), the listener, the workers, the maintenance watcher and signal
//! handling.

use crate::app::App;
use crate::config::ServerConfig;
use crate::http::{self, HttpServer};
use crate::layout;
use crate::maintenance::{self, Notice, Observer};
use crate::record::ServerRecord;
use crate::storage::Storage;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long in-flight requests may take to finish after SIGINT/SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How often the watcher looks at the flag when no request does.
const WATCH_INTERVAL: Duration = Duration::from_millis(100);

/// Runs the server until SIGINT or SIGTERM. Errors are start-up failures.
pub fn run(config: ServerConfig) -> Result<(), String> {
    // tiny_http's accept thread panics when descriptors run out (two per connection): push that
    // point as far as the hard limit allows.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => log::debug!("open file limit: {n}"),
        Err(e) => log::warn!("cannot raise the open file limit: {e}"),
    }
    if let Some(dir) = config.db.parent() {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    // Schema migrations are not API writes: they run even during maintenance (an upgrade).
    let storage = Storage::open(&config.db)
        .map_err(|e| format!("cannot open the database {}: {e}", config.db.display()))?;
    drop(storage);
    let db = std::fs::canonicalize(&config.db).unwrap_or_else(|_| config.db.clone());

    let addr = SocketAddr::new(config.host, config.port);
    let listener = http::bind(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    let local = listener
        .local_addr()
        .map_err(|e| format!("cannot read the bound address: {e}"))?;
    let url = format!("http://{local}");

    // Without its record the CLI could not find this server's database to drain: the server
    // fails closed instead. From here on, dropping `record` removes the file, whatever the exit.
    let logs = layout::logs_dir(&config.root);
    let published = std::fs::create_dir_all(&logs)
        .and_then(|()| ServerRecord::of_this_process(&config.root, &db, url.clone()))
        .and_then(|record| record.publish(&config.root));
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

    let workers = config.workers;
    let app = Arc::new(App {
        flag: layout::flag_path(&config.root),
        config,
        logs_unusable,
        observer: Observer::default(),
        writer: Mutex::new(()),
    });
    let server = HttpServer::start(listener, app.clone(), workers)
        .map_err(|e| format!("cannot start the workers: {e}"))?;

    let stop = Arc::new(AtomicBool::new(false));
    let watcher = {
        let (app, stop) = (app.clone(), stop.clone());
        std::thread::Builder::new()
            .name("flag-watcher".into())
            .spawn(move || watch(&app, &stop))
            .map_err(|e| format!("cannot start the flag watcher: {e}"))?
    };

    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])
    .map_err(|e| format!("cannot install signal handlers: {e}"))?;

    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "listening on {url}")
        .and_then(|()| stdout.flush())
        .ok();
    drop(stdout);
    log::info!(
        "serving {} with {workers} workers on {url} (root {})",
        app.config.db.display(),
        app.config.root.display()
    );

    let signal = signals.forever().next();
    log::info!("received signal {signal:?}; finishing in-flight requests");
    stop.store(true, Ordering::SeqCst);
    let finished = server.shutdown(SHUTDOWN_GRACE);
    if !finished {
        log::warn!("some requests were still running after {SHUTDOWN_GRACE:?}; exiting anyway");
    }
    let _ = watcher.join();
    drop(record);
    log::info!("stopped");
    Ok(())
}

/// Notices transitions when no request does, so connections are reopened after a maintenance
/// window that saw no traffic (a database replaced during it must be the one served after).
fn watch(app: &App, stop: &AtomicBool) {
    while !stop.load(Ordering::SeqCst) {
        let state = maintenance::probe(&app.flag);
        app.observer.observe(state.is_on(), || match &state {
            maintenance::FlagState::On(meta) => maintenance::read_notice(&app.flag, meta),
            _ => Notice::default(),
        });
        std::thread::sleep(WATCH_INTERVAL);
    }
}
