//! The server's life cycle against the real binaries: its record under `logs/servers/`, what the
//! CLI makes of live and stale records (several servers on one root among them), and what every
//! exit leaves behind (the record, the WAL, the exit status).

use crate::common::{self, seed, snapshot, wait_for, Client, Server};
use serde_json::Value;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

/// `ROOT/logs/servers/<pid>.json`.
fn record_path(root: &Path, pid: u32) -> PathBuf {
    root.join("logs/servers").join(format!("{pid}.json"))
}

fn read_record(root: &Path, pid: u32) -> Value {
    let path = record_path(root, pid);
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&text).unwrap()
}

/// The names in `ROOT/logs/servers/`.
fn records(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("logs/servers"))
        .map(|dir| {
            dir.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

/// A process's start time in clock ticks since boot: `/proc/<pid>/stat`, field 22.
fn start_time(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_name = &stat[stat.rfind(')').unwrap() + 1..];
    after_name
        .split_whitespace()
        .nth(19)
        .unwrap()
        .parse()
        .unwrap()
}

fn canonical(path: &Path) -> String {
    std::fs::canonicalize(path)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn wal(db: &Path) -> PathBuf {
    db.with_extension("db-wal")
}

fn wal_size(db: &Path) -> u64 {
    std::fs::metadata(wal(db)).map(|m| m.len()).unwrap_or(0)
}

/// Waits for a child's exit; panics after 30 s (a hang detector, not a timing assertion).
fn exit_of(mut child: Child) -> ExitStatus {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(child.wait().unwrap()));
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the server did not exit")
}

#[test]
fn the_record_names_the_server_and_goes_with_a_clean_exit() {
    let mut s = Server::start(&["--db", "data/custom.db"]);
    let pid = s.child.id();
    assert_eq!(records(&s.root), vec![format!("{pid}.json")]);
    let record = read_record(&s.root, pid);
    assert_eq!(record["pid"], pid, "{record}");
    assert_eq!(record["start_time"], start_time(pid), "{record}");
    assert_eq!(record["root"], s.root.to_str().unwrap(), "{record}");
    assert_eq!(
        record["db"],
        canonical(&s.root.join("data/custom.db")),
        "{record}"
    );
    assert_eq!(record["address"], format!("http://{}", s.addr), "{record}");
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(record_path(&s.root, pid))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o644);
    assert!(!s.root.join("logs/server.json").exists());
    assert!(s.terminate().success(), "{}", s.stderr());
    assert_eq!(records(&s.root), Vec::<String>::new());
}

#[test]
fn stale_records_are_ignored_and_reported() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // A server killed with SIGKILL cannot remove its record.
    let mut killed = Server::start_in(root, &["--db", "data/killed.db"]);
    let killed_pid = killed.child.id();
    killed.child.kill().unwrap();
    killed.child.wait().unwrap();
    assert!(record_path(root, killed_pid).exists());
    // A record whose pid is alive but is another process: this test's own, with a start time
    // that is not its own (as when the kernel reuses a dead server's pid).
    let me = std::process::id();
    let impostor = serde_json::json!({
        "pid": me,
        "start_time": start_time(me) + 1,
        "root": root,
        "db": root.join("data/impostor.db"),
        "address": "http://127.0.0.1:1",
    });
    std::fs::write(record_path(root, me), impostor.to_string()).unwrap();

    let status = common::cli(root, &["maintenance:status", "--json"]);
    assert_eq!(status.code, 0, "{status:?}");
    let value: Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(value["servers"], serde_json::json!([]), "{value}");
    for pid in [killed_pid, me] {
        let path = record_path(root, pid).display().to_string();
        assert!(
            status
                .stderr
                .lines()
                .any(|l| l.contains(&path) && l.contains("ignoring")),
            "{pid} not reported: {}",
            status.stderr
        );
    }
    assert!(status.stderr.contains("not running"), "{}", status.stderr);
    assert!(
        status.stderr.contains("not the server that wrote it"),
        "{}",
        status.stderr
    );

    // `on` drains neither stale database: the default one, which does not exist.
    let on = common::cli(root, &["maintenance:on"]);
    assert_eq!(on.code, 0, "{on:?}");
    assert!(
        on.stdout.contains("No database at")
            && on
                .stdout
                .contains(&root.join("data/directus.db").display().to_string()),
        "{}",
        on.stdout
    );
    assert!(on.stderr.contains("ignoring"), "{}", on.stderr);
    // Nor do they make an explicit --db a mismatch.
    let on = common::cli(root, &["maintenance:on", "--db", "data/other.db"]);
    assert_eq!(on.code, 0, "{on:?}");
    // A stale record is reported, not deleted (the pid may be a new server's by now).
    assert!(record_path(root, killed_pid).exists());
}

#[test]
fn two_servers_on_one_root_each_have_a_record_and_status_lists_both() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let a = Server::start_in(root, &[]);
    let mut b = Server::start_in(root, &["--db", "data/b.db"]);
    let (pa, pb) = (a.child.id(), b.child.id());
    let mut expected = vec![format!("{pa}.json"), format!("{pb}.json")];
    expected.sort();
    assert_eq!(records(root), expected);

    let status = a.cli(&["maintenance:status", "--json"]);
    assert_eq!(status.code, 0, "{status:?}");
    assert!(status.stderr.is_empty(), "{}", status.stderr);
    let value: Value = serde_json::from_str(&status.stdout).unwrap();
    for key in [
        "state",
        "flag",
        "message",
        "retry_after",
        "since",
        "mode",
        "bypass",
    ] {
        assert!(value.get(key).is_some(), "{key} missing from {value}");
    }
    let mut servers = value["servers"].as_array().unwrap().clone();
    servers.sort_by_key(|s| s["pid"].as_u64());
    let mut want = vec![
        serde_json::json!({"pid": pa, "address": format!("http://{}", a.addr),
                           "db": canonical(&root.join("data/directus.db"))}),
        serde_json::json!({"pid": pb, "address": format!("http://{}", b.addr),
                           "db": canonical(&root.join("data/b.db"))}),
    ];
    want.sort_by_key(|s| s["pid"].as_u64());
    assert_eq!(servers, want);

    let text = a.cli(&["maintenance:status"]);
    for (pid, addr) in [(pa, a.addr), (pb, b.addr)] {
        assert!(
            text.stdout
                .lines()
                .any(|l| l.contains(&pid.to_string()) && l.contains(&addr.to_string())),
            "{pid} not listed: {}",
            text.stdout
        );
    }

    // One `on` drains both databases; an explicit --db is the wrong one for server b.
    let on = a.cli(&["maintenance:on"]);
    assert_eq!(on.code, 0, "{on:?}");
    for db in ["data/directus.db", "data/b.db"] {
        let drained = format!("Drained {}", canonical(&root.join(db)));
        assert!(on.stdout.contains(&drained), "{db}: {}", on.stdout);
    }
    let on = a.cli(&["maintenance:on", "--db", "data/directus.db"]);
    assert_eq!(on.code, 1, "{on:?}");
    assert!(
        on.stderr.contains("not the database of the running server")
            && on.stderr.contains(&format!("pid {pb}")),
        "{}",
        on.stderr
    );

    assert!(b.terminate().success());
    assert_eq!(records(root), vec![format!("{pa}.json")]);
    let value: Value =
        serde_json::from_str(&a.cli(&["maintenance:status", "--json"]).stdout).unwrap();
    assert_eq!(value["servers"].as_array().unwrap().len(), 1, "{value}");
    assert_eq!(value["servers"][0]["pid"], pa);
}

/// Two servers on one root, writing all the time; 20 on/off cycles: after each `on` returns, no
/// write commits on either and both WALs are empty.
fn one_on_closes_every_server(dbs: [&str; 2]) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let servers: Vec<Server> = dbs
        .iter()
        .map(|db| Server::start_in(root, &["--workers", "4", "--db", db]))
        .collect();
    for s in &servers {
        let r = s.json("POST", "/collections", r#"{"collection":"a"}"#);
        assert!(r.status == 200 || r.status == 400, "{}", r.text());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let successes = Arc::new(AtomicU64::new(0));
    let refusals = Arc::new(AtomicU64::new(0));
    let mut writers = Vec::new();
    for s in &servers {
        for w in 0..3 {
            let (addr, stop, successes, refusals) =
                (s.addr, stop.clone(), successes.clone(), refusals.clone());
            writers.push(std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                let ct = [("Content-Type", "application/json")];
                let mut i = 0;
                while !stop.load(Ordering::SeqCst) {
                    i += 1;
                    let body = format!(r#"{{"w":{w},"i":{i}}}"#);
                    let r = c.send("POST", "/items/a", &ct, Some(&body));
                    match r.status {
                        200 => successes.fetch_add(1, Ordering::SeqCst),
                        503 => refusals.fetch_add(1, Ordering::SeqCst),
                        other => panic!("unexpected status {other}: {}", r.text()),
                    };
                }
            }));
        }
    }
    let files: Vec<PathBuf> = dbs.iter().map(|db| root.join(db)).collect();
    for round in 0..20 {
        let ok_before = successes.load(Ordering::SeqCst);
        wait_for("writes while off", || {
            successes.load(Ordering::SeqCst) >= ok_before + 20
        });
        let on = common::cli(root, &["maintenance:on"]);
        assert_eq!(on.code, 0, "round {round}: {on:?}");
        let frozen: Vec<_> = files.iter().map(|f| snapshot(f)).collect();
        for f in &files {
            assert_eq!(wal_size(f), 0, "round {round}: WAL of {f:?} not empty");
        }
        let refused_before = refusals.load(Ordering::SeqCst);
        wait_for("writes to be refused", || {
            refusals.load(Ordering::SeqCst) >= refused_before + 30
        });
        let now: Vec<_> = files.iter().map(|f| snapshot(f)).collect();
        assert!(
            now == frozen,
            "round {round}: a write committed after on returned"
        );
        assert_eq!(common::cli(root, &["maintenance:off"]).code, 0);
    }
    stop.store(true, Ordering::SeqCst);
    for w in writers {
        w.join().unwrap();
    }
}

#[test]
fn one_on_closes_two_servers_writing_to_one_database() {
    one_on_closes_every_server(["data/directus.db", "data/directus.db"]);
}

#[test]
fn one_on_closes_two_servers_writing_to_two_databases() {
    one_on_closes_every_server(["data/one.db", "data/two.db"]);
}

#[test]
fn sigterm_after_concurrent_writes_leaves_no_wal_whatever_the_worker_count() {
    let dir = tempfile::tempdir().unwrap();
    // Workers that close their connections at the same moment may each think another one is
    // still open. The race shows in about 40% of rounds here without the exit checkpoint, so
    // five rounds.
    for round in 0..5 {
        let mut s = Server::start_in(dir.path(), &["--workers", "16"]);
        if round == 0 {
            seed(&s, "a", "[]");
        }
        // 16 writers at once, so all 16 workers hold a connection when the signal comes.
        let writers: Vec<_> = (0..16)
            .map(|w| {
                let addr = s.addr;
                std::thread::spawn(move || {
                    let mut c = Client::connect(addr);
                    let ct = [("Content-Type", "application/json")];
                    for i in 0..20 {
                        let body = format!(r#"{{"w":{w},"i":{i}}}"#);
                        let r = c.send("POST", "/items/a", &ct, Some(&body));
                        assert_eq!(r.status, 200, "{}", r.text());
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        assert!(s.terminate().success(), "{}", s.stderr());
        assert!(
            !wal(&s.db()).exists(),
            "round {round}: the WAL was left after a clean exit"
        );
        assert!(!s.db().with_extension("db-shm").exists(), "round {round}");
    }
    let again = Server::start_in(dir.path(), &[]);
    let r = again.get("/items/a?limit=1&fields=id&meta=total_count");
    assert_eq!(r.json()["meta"]["total_count"], 5 * 16 * 20, "{}", r.text());
}

/// Starts the server under a descriptor limit, opens connections until it stops accepting, and
/// returns its exit status, its log and whether its record was still there after the exit.
fn run_out_of_descriptors(limit: u32) -> (ExitStatus, String, bool) {
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "ulimit -n {limit} && exec {} --root {} --port 0",
        common::SERVER,
        dir.path().display()
    );
    let mut child = Command::new("sh")
        .args(["-c", &script])
        .env_remove("DIRECTUS_DB")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
        .spawn()
        .unwrap();
    let addr = common::listening_addr(&mut child).unwrap();
    let record = record_path(dir.path(), child.id());
    assert!(record.exists());
    let mut held = Vec::new();
    for _ in 0..100 {
        match TcpStream::connect(addr) {
            Ok(c) => held.push(c),
            Err(_) => break,
        }
    }
    let status = exit_of(child);
    let log = std::fs::read_to_string(dir.path().join("stderr")).unwrap();
    (status, log, record.exists())
}

#[test]
fn a_dead_accept_loop_exits_70_and_removes_the_record() {
    // Each connection costs the server two descriptors (accept, then a clone), so of two limits
    // one apart, one makes accept() fail (tiny_http hands the error to a worker) and the other
    // makes the clone fail (tiny_http's accept thread panics, and the keeper finds the port
    // closed): both fatal paths.
    let mut seen = Vec::new();
    for limit in [64, 65] {
        let (status, log, record_left) = run_out_of_descriptors(limit);
        assert_eq!(status.code(), Some(70), "limit {limit}: {log}");
        assert!(
            !record_left,
            "limit {limit}: the record outlived the exit: {log}"
        );
        if log.contains("tiny_http's accept loop died (") {
            seen.push("worker");
        }
        if log.contains("no longer accepts connections") {
            seen.push("keeper");
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        ["keeper", "worker"],
        "not both fatal paths were taken"
    );
}
