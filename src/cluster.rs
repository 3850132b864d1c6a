//! Maintenance for every host at once (SPEC 12): the cluster's state lives in PostgreSQL
//! (`directus_cluster`, one row holding the same notice a flag file holds), reaches every server
//! through `LISTEN`/`NOTIFY`, and the drain is the advisory lock every API write holds shared.
//!
//! Shared by the CLI (`set`, `drain`, `servers`) and the server (`Watcher`: keeps the state in
//! memory, registers the server with a heartbeat). Nothing here links the HTTP side.

use crate::maintenance::{Announcement, Notice};
use crate::pg::{Client, PgConfig, PgError};
use crate::storage::postgres::{CHANNEL, DRAIN_LOCK};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// How often a server re-reads the state and beats its heartbeat, notifications or not: the
/// bound on how stale a server that lost its notifications can be.
pub const REFRESH: Duration = Duration::from_secs(2);

/// A server whose heartbeat is older than this is not listed as live.
pub const LIVE_WITHIN: Duration = Duration::from_secs(15);

/// The cluster's maintenance (`None` when off) and the window announced for it.
#[derive(Debug, Clone, Default)]
pub struct State {
    pub notice: Option<Notice>,
    pub announcement: Option<Announcement>,
    /// Moved by every change (`set`, `announce`).
    pub version: i64,
}

/// The notice a stored mode and notice text mean: `None` when off. The text is what a flag
/// file holds; anything unreadable is full maintenance without bypass, as for the flag.
pub fn notice_of(mode: &str, text: Option<&str>) -> Option<Notice> {
    match mode {
        "off" => None,
        _ => Some(Notice::parse(text.unwrap_or("").as_bytes())),
    }
}

/// The cluster's state as stored.
pub fn read(client: &mut Client) -> Result<State, PgError> {
    let mut row = client
        .query_opt(
            "SELECT mode, notice, announcement, version FROM directus_cluster",
            &[],
        )?
        .ok_or_else(|| PgError::Protocol("directus_cluster has no row".into()))?;
    let mode = row.take(0).unwrap_or_default();
    let notice = row.take(1);
    let version = row.int(3)?;
    Ok(State {
        version,
        notice: notice_of(&mode, notice.as_deref()),
        // Content that is not a valid announcement is none, as for the file.
        announcement: row.take(2).and_then(|a| Announcement::parse(a.as_bytes())),
    })
}

/// Records (or with `None` removes) the window announced for the cluster, and notifies.
pub fn announce(client: &mut Client, announcement: Option<&Announcement>) -> Result<(), PgError> {
    let text = announcement.map(|a| a.to_json().to_string());
    client.batch("BEGIN")?;
    let done = (|| {
        client.execute(
            "UPDATE directus_cluster SET announcement = $1, version = version + 1",
            &[text.as_deref()],
        )?;
        client.query("SELECT pg_notify($1, 'announcement')", &[Some(CHANNEL)])?;
        client.batch("COMMIT")
    })();
    if done.is_err() && client.in_transaction() {
        let _ = client.batch("ROLLBACK");
    }
    done
}

/// Records the cluster's maintenance (`None`: off) and notifies every server, in one
/// transaction: once it returns, every write transaction that takes the drain lock after this
/// sees it.
pub fn set(client: &mut Client, notice: Option<&Notice>) -> Result<i64, PgError> {
    let (mode, text) = match notice {
        None => ("off".to_string(), None),
        Some(n) => (n.mode().name().to_string(), Some(n.to_json().to_string())),
    };
    client.batch("BEGIN")?;
    let done = (|| {
        let row = client.query(
            "UPDATE directus_cluster SET mode = $1, notice = $2, changed_at = now(), \
             version = version + 1 RETURNING version",
            &[Some(&mode), text.as_deref()],
        )?;
        let version = row.first().map(|r| r.int(0)).transpose()?.unwrap_or(0);
        client.query("SELECT pg_notify($1, $2)", &[Some(CHANNEL), Some(&mode)])?;
        client.batch("COMMIT")?;
        Ok(version)
    })();
    if done.is_err() && client.in_transaction() {
        let _ = client.batch("ROLLBACK");
    }
    done
}

/// Waits, at most `wait`, until no write transaction holds the drain lock on any host: takes
/// the lock exclusively (new writes queue behind the request) and releases it. Returns how
/// long it waited; `Err` with SQLSTATE 55P03 when `wait` passed first.
pub fn drain(client: &mut Client, wait: Duration) -> Result<Duration, PgError> {
    let began = Instant::now();
    client.batch(&format!(
        "SET lock_timeout = {}",
        wait.as_millis().clamp(1, i32::MAX as u128)
    ))?;
    let locked = client.query(
        "SELECT pg_advisory_lock($1::bigint)",
        &[Some(&DRAIN_LOCK.to_string())],
    );
    let waited = began.elapsed();
    let reset = client.batch("RESET lock_timeout");
    locked?;
    client.query(
        "SELECT pg_advisory_unlock($1::bigint)",
        &[Some(&DRAIN_LOCK.to_string())],
    )?;
    reset?;
    Ok(waited)
}

/// How recent a heartbeat must be for `wait_applied` to wait for that server: a server beats
/// every `REFRESH`, so one silent longer than this has stopped (killed, or cut off).
const BEATING_WITHIN: Duration = Duration::from_secs(5);

/// Waits, at most until `deadline`, until every server beating on the database applies state
/// `version` or a later one (each records the version it applies as it reads the state).
/// Returns the servers that had not by then, as `host pid address`.
pub fn wait_applied(
    client: &mut Client,
    version: i64,
    deadline: Instant,
) -> Result<Vec<String>, PgError> {
    loop {
        let behind = client.query(
            "SELECT host || ' pid ' || pid || ' ' || address FROM directus_servers \
             WHERE applied < $1::bigint \
             AND heartbeat > now() - make_interval(secs => $2::float8) ORDER BY 1",
            &[
                Some(&version.to_string()),
                Some(&BEATING_WITHIN.as_secs_f64().to_string()),
            ],
        )?;
        if behind.is_empty() || Instant::now() >= deadline {
            return Ok(behind.into_iter().filter_map(|mut r| r.take(0)).collect());
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// A server registered on the database.
#[derive(Debug, Clone)]
pub struct ServerRow {
    pub host: String,
    pub pid: i64,
    pub address: String,
    pub root: String,
    /// Seconds since its last heartbeat.
    pub age: f64,
}

/// The servers whose heartbeat is recent (`LIVE_WITHIN`), by host and pid.
pub fn servers(client: &mut Client) -> Result<Vec<ServerRow>, PgError> {
    let rows = client.query(
        "SELECT host, pid, address, root, extract(epoch FROM now() - heartbeat)::float8 \
         FROM directus_servers WHERE heartbeat > now() - make_interval(secs => $1::float8) \
         ORDER BY host, pid",
        &[Some(&LIVE_WITHIN.as_secs_f64().to_string())],
    )?;
    rows.into_iter()
        .map(|mut r| {
            Ok(ServerRow {
                pid: r.int(1)?,
                age: r.get(4).and_then(|a| a.parse().ok()).unwrap_or(0.0),
                host: r.take(0).unwrap_or_default(),
                address: r.take(2).unwrap_or_default(),
                root: r.take(3).unwrap_or_default(),
            })
        })
        .collect()
}

/// This machine's name, as servers register under it.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

/// A server's view of the cluster: a thread that keeps `apply` told of the state (at start,
/// at every notification, and every `REFRESH`), registers the server and beats its heartbeat,
/// and reconnects (every second) when the connection is lost. The last state read stays in
/// force while the database cannot be reached.
pub struct Watcher {
    pub config: PgConfig,
    pub host: String,
    pub pid: u32,
    pub address: String,
    pub root: String,
}

impl Watcher {
    /// Runs until `running` is false, then removes the server's registration.
    pub fn run(&self, running: &AtomicBool, apply: &dyn Fn(State)) {
        let mut client: Option<Client> = None;
        let mut reported = false;
        while running.load(Ordering::SeqCst) {
            let attempt = match client.as_mut() {
                Some(c) => self.watch(c, running, apply),
                None => match self.connect(apply) {
                    Ok(c) => {
                        if reported {
                            log::info!("cluster maintenance: connected again");
                            reported = false;
                        }
                        client = Some(c);
                        continue;
                    }
                    Err(e) => Err(e),
                },
            };
            if let Err(e) = attempt {
                if !reported {
                    log::warn!(
                        "cluster maintenance: lost the database ({e}); the last state read \
                         stays in force, and writes still read it in their transaction"
                    );
                    reported = true;
                }
                client = None;
                let until = Instant::now() + Duration::from_secs(1);
                while running.load(Ordering::SeqCst) && Instant::now() < until {
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
        if let Some(c) = client.as_mut() {
            let _ = c.execute(
                "DELETE FROM directus_servers WHERE host = $1 AND pid = $2::integer",
                &[Some(&self.host), Some(&self.pid.to_string())],
            );
        }
    }

    fn connect(&self, apply: &dyn Fn(State)) -> Result<Client, PgError> {
        let mut c = Client::connect(&self.config)?;
        // No statement of the watcher may hang on a database that vanished: its state must
        // stay fresh (a timed-out read breaks the connection, and it reconnects).
        c.set_timeout(Some(Duration::from_secs(5)))?;
        c.batch(&format!("LISTEN {CHANNEL}"))?;
        self.apply(&mut c, apply)?;
        Ok(c)
    }

    /// Reads the state, applies it, then records the version applied (with the heartbeat).
    fn apply(&self, c: &mut Client, apply: &dyn Fn(State)) -> Result<(), PgError> {
        let state = read(c)?;
        let version = state.version;
        apply(state);
        self.beat(c, version)
    }

    /// Waits for notifications until the next refresh, then reads the state again.
    fn watch(
        &self,
        c: &mut Client,
        running: &AtomicBool,
        apply: &dyn Fn(State),
    ) -> Result<(), PgError> {
        let until = Instant::now() + REFRESH;
        while running.load(Ordering::SeqCst) && Instant::now() < until {
            if !c.notifications(Duration::from_millis(200))?.is_empty() {
                self.apply(c, apply)?;
            }
        }
        self.apply(c, apply)
    }

    fn beat(&self, c: &mut Client, applied: i64) -> Result<(), PgError> {
        c.execute(
            "INSERT INTO directus_servers (host, pid, address, root, applied) \
             VALUES ($1, $2::integer, $3, $4, $5::bigint) \
             ON CONFLICT (host, pid) DO UPDATE SET heartbeat = now(), address = $3, \
             root = $4, applied = $5::bigint",
            &[
                Some(&self.host),
                Some(&self.pid.to_string()),
                Some(&self.address),
                Some(&self.root),
                Some(&applied.to_string()),
            ],
        )?;
        Ok(())
    }
}
