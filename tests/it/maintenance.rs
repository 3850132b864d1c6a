//! Maintenance mode against the real binaries: the flag, the 503, the exemptions, the CLI and
//! the drain guarantee (including the race with concurrent writers).

use crate::common::{self, cli, seed, snapshot, wait_for, Client, Server, WriteLoad, CLI};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

const DEFAULT_MESSAGE: &str =
    "The service is temporarily unavailable for maintenance. Please try again later.";

/// Asserts the exact maintenance answer; `what` (the request) names a failure, which is reported
/// at the caller's line.
#[track_caller]
fn assert_maintenance(what: &str, r: &common::Resp, message: &str, head: bool) {
    assert_eq!(r.status, 503, "{what}: {}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"), "{what}");
    assert_eq!(r.header("cache-control"), Some("no-store"), "{what}");
    if head {
        assert!(r.body.is_empty(), "{what}");
        return;
    }
    let body = r.json();
    let error = &body["errors"][0];
    assert_eq!(error["message"], message, "{what}: {body}");
    assert_eq!(error["extensions"]["code"], "SERVICE_UNAVAILABLE", "{what}");
    assert_eq!(error["extensions"]["reason"], "maintenance", "{what}");
}

fn wal_size(db: &Path) -> u64 {
    std::fs::metadata(db.with_extension("db-wal"))
        .map(|m| m.len())
        .unwrap_or(0)
}

#[test]
fn touch_and_rm_switch_the_very_next_request() {
    let s = Server::start(&[]);
    seed(&s, "a", r#"{"t":"x"}"#);
    let mut c = s.client();
    assert_eq!(c.send("GET", "/items/a", &[], None).status, 200);
    std::fs::write(s.flag(), b"").unwrap();
    // (method, path, body), a line each.
    #[rustfmt::skip]
    let requests: [(&str, &str, Option<&str>); 16] = [
        ("GET", "/items/a", None),
        ("GET", "/items/a/1", None),
        ("POST", "/items/a", Some(r#"{"t":"y"}"#)),
        ("PATCH", "/items/a/1", Some(r#"{"t":"y"}"#)),
        ("PATCH", "/items/a", Some(r#"{"keys":[1],"data":{"t":"y"}}"#)),
        ("DELETE", "/items/a/1", None),
        ("DELETE", "/items/a", Some("[1]")),
        ("GET", "/collections", None),
        ("POST", "/collections", Some(r#"{"collection":"b"}"#)),
        ("DELETE", "/collections/a", None),
        ("GET", "/server/health", None),
        ("GET", "/nope", None),
        ("PUT", "/items/a", None),
        ("BREW", "/nowhere", None),
        ("OPTIONS", "/items/a", None),
        ("POST", "/items/a", Some("{not json")),
    ];
    for case @ (method, path, body) in requests {
        let headers: &[(&str, &str)] = if body.is_some() {
            &[("Content-Type", "application/json")]
        } else {
            &[]
        };
        let r = c.send(method, path, headers, body);
        let what = format!("{case:?}");
        assert_maintenance(&what, &r, DEFAULT_MESSAGE, false);
        assert!(r.header("retry-after").is_none(), "{what}");
        assert!(
            r.json()["errors"][0]["extensions"].get("since").is_none(),
            "{what}"
        );
    }
    // Wrong content type and oversized bodies get the 503 too, and the connection stays in sync.
    let r = c.send(
        "POST",
        "/items/a",
        &[("Content-Type", "text/plain")],
        Some(&"x".repeat(5000)),
    );
    assert_maintenance(
        "a text/plain POST of 5000 bytes",
        &r,
        DEFAULT_MESSAGE,
        false,
    );
    assert_maintenance(
        "HEAD /items/a",
        &c.send("HEAD", "/items/a", &[], None),
        DEFAULT_MESSAGE,
        true,
    );
    // Ping stays a liveness probe.
    assert_eq!(c.send("GET", "/server/ping", &[], None).text(), "pong");
    assert_eq!(c.send("HEAD", "/server/ping", &[], None).status, 200);
    std::fs::remove_file(s.flag()).unwrap();
    assert_eq!(
        c.send("GET", "/items/a/1", &[], None).data(),
        json!({"id":1,"t":"x"})
    );
    assert_eq!(
        s.get("/items/a?fields=id").ids(),
        vec![1],
        "a write slipped through"
    );
}

#[test]
fn auth_failures_get_the_503_too() {
    let s = Server::start(&["--token", "t"]);
    std::fs::write(s.flag(), b"").unwrap();
    let r = s.req(
        "GET",
        "/items/a",
        &[("Authorization", "Bearer wrong")],
        None,
    );
    assert_maintenance("a wrong token", &r, DEFAULT_MESSAGE, false);
    assert_maintenance("no token", &s.get("/items/a"), DEFAULT_MESSAGE, false);
    assert_eq!(s.get("/server/ping").text(), "pong");
}

#[test]
fn cors_preflight_is_exempt_and_the_503_is_readable_cross_origin() {
    let s = Server::start(&["--cors-origin", "http://app.example"]);
    s.cli(&["maintenance:on", "--message", "Back soon", "--retry", "120"]);
    let pre = s.req(
        "OPTIONS",
        "/items/a",
        &[
            ("Origin", "http://app.example"),
            ("Access-Control-Request-Method", "GET"),
        ],
        None,
    );
    assert_eq!(pre.status, 204);
    assert_eq!(
        pre.header("access-control-allow-origin"),
        Some("http://app.example")
    );
    let r = s.req(
        "GET",
        "/items/a",
        &[
            ("Origin", "http://app.example"),
            ("Content-Type", "application/json"),
        ],
        None,
    );
    assert_maintenance("a cross-origin GET", &r, "Back soon", false);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://app.example")
    );
    assert_eq!(
        r.header("access-control-expose-headers"),
        Some("Retry-After, X-Request-Id")
    );
    assert_eq!(r.header("retry-after"), Some("120"));
    // Without CORS an OPTIONS is not a preflight, so it gets the 503.
    let plain = Server::start(&[]);
    std::fs::write(plain.flag(), b"").unwrap();
    let r = plain.req(
        "OPTIONS",
        "/items/a",
        &[
            ("Origin", "http://x"),
            ("Access-Control-Request-Method", "GET"),
        ],
        None,
    );
    assert_eq!(r.status, 503);
}

#[test]
fn cli_on_status_off_and_the_answer_they_produce() {
    let s = Server::start(&[]);
    seed(&s, "a", r#"{"t":"x"}"#);
    let st = s.cli(&["maintenance:status"]);
    assert_eq!(st.code, 0, "{st:?}");
    assert!(st.stdout.contains("off"));
    let st = s.cli(&["maintenance:status", "--json"]);
    let v: Value = serde_json::from_str(&st.stdout).unwrap();
    let server = json!({
        "pid": s.child.id(),
        "address": format!("http://{}", s.addr),
        "db": std::fs::canonicalize(s.db()).unwrap(),
    });
    assert_eq!(
        v,
        json!({"state":"off","message":null,"retry_after":null,"since":null,
               "mode":null,"bypass":false,"flag":s.flag(),"servers":[server],"announcement":null,
               "host":{"state":"off","message":null,"retry_after":null,"since":null,
                       "mode":null,"bypass":false},
               "cluster":null})
    );

    let on = s.cli(&[
        "maintenance:on",
        "--message",
        "Upgrading the database",
        "--retry",
        "600",
    ]);
    assert_eq!(on.code, 0, "{on:?}");
    assert!(
        on.stdout.contains(&s.flag().display().to_string()),
        "{}",
        on.stdout
    );
    assert!(on.stdout.contains("Drained"), "{}", on.stdout);
    let meta = std::fs::metadata(s.flag()).unwrap();
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o777,
        0o644
    );
    let flag: Value = serde_json::from_slice(&std::fs::read(s.flag()).unwrap()).unwrap();
    assert_eq!(flag["message"], "Upgrading the database");
    assert_eq!(flag["retry_after"], 600);
    let since = flag["since"].as_str().unwrap().to_string();
    assert!(since.len() == 20 && since.ends_with('Z'), "{since}");
    let logs: Vec<_> = std::fs::read_dir(s.root.join("logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(
        logs.iter().all(|n| !n.to_string_lossy().contains("tmp")),
        "{logs:?}"
    );

    let r = s.get("/items/a");
    assert_maintenance("GET after on", &r, "Upgrading the database", false);
    assert_eq!(r.header("retry-after"), Some("600"));
    let ext = &r.json()["errors"][0]["extensions"];
    assert_eq!(ext["retry_after"], 600);
    assert_eq!(ext["since"], since.as_str());

    let st = s.cli(&["maintenance:status"]);
    assert_eq!(st.code, 3);
    assert!(
        st.stdout.contains("Upgrading the database") && st.stdout.contains(&since),
        "{}",
        st.stdout
    );
    let v: Value = serde_json::from_str(&s.cli(&["maintenance:status", "--json"]).stdout).unwrap();
    assert_eq!(
        v,
        json!({"state":"on","flag":s.flag(),"message":"Upgrading the database","retry_after":600,"since":since,
               "mode":"full","bypass":false,"servers":[server],"announcement":null,
               "host":{"state":"on","message":"Upgrading the database","retry_after":600,
                       "since":since,"mode":"full","bypass":false},
               "cluster":null})
    );

    // Already on: says so, updates the message, keeps since, still drains.
    let again = s.cli(&["maintenance:on", "--message", "Almost done"]);
    assert_eq!(again.code, 0);
    assert!(
        again.stdout.contains("already on") && again.stdout.contains("Drained"),
        "{}",
        again.stdout
    );
    let r = s.get("/items/a");
    assert_maintenance("GET after on again", &r, "Almost done", false);
    assert_eq!(r.header("retry-after"), Some("600"));
    assert_eq!(r.json()["errors"][0]["extensions"]["since"], since.as_str());

    let off = s.cli(&["maintenance:off"]);
    assert_eq!(off.code, 0);
    assert!(off.stdout.contains(&s.flag().display().to_string()));
    assert!(!s.flag().exists());
    assert_eq!(s.get("/items/a").status, 200);
    let off = s.cli(&["maintenance:off"]);
    assert_eq!(off.code, 0);
    assert!(off.stdout.contains("already off"), "{}", off.stdout);

    // A touched flag is drained by `on` too.
    std::fs::write(s.flag(), b"").unwrap();
    let on = s.cli(&["maintenance:on"]);
    assert!(
        on.stdout.contains("already on") && on.stdout.contains("Drained"),
        "{}",
        on.stdout
    );

    // The server logged both transitions.
    wait_for("the off transition in the log", || {
        s.get("/server/ping");
        s.stderr().contains("maintenance off: ")
    });
    let log = s.stderr();
    assert!(
        log.contains("maintenance on: \"Upgrading the database\""),
        "{log}"
    );
    assert!(log.contains("requests declined while on"), "{log}");
}

#[test]
fn cli_usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &[][..],
        &["maintenance:bogus"],
        &["maintenance:on", "--retry", "-5"],
        &["maintenance:on", "--retry", "soon"],
        &["maintenance:on", "--wait", "soon"],
        &["maintenance:on", "--wait"],
        &["maintenance:on", "extra"],
        &["maintenance:off", "--message", "x"],
        &["maintenance:status", "--bogus"],
        &["maintenance:off", "--json"],
    ] {
        let out = cli(dir.path(), args);
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(out.stderr.contains("Usage"), "{args:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{args:?}: {out:?}");
    }
    assert!(
        !dir.path().join("logs").exists(),
        "a usage error changed something"
    );
    let help = Command::new(CLI).arg("--help").output().unwrap();
    assert!(
        help.status.success() && String::from_utf8_lossy(&help.stdout).contains("maintenance:on")
    );
    let version = Command::new(CLI).arg("--version").output().unwrap();
    assert!(version.status.success());
}

#[test]
fn cli_finds_its_root_from_any_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("app");
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy(CLI, root.join("bin/directus")).unwrap();
    let elsewhere = tempfile::tempdir().unwrap();
    let run = |args: &[&str], env: &[(&str, &Path)]| {
        let mut cmd = Command::new(root.join("bin/directus"));
        cmd.args(args)
            .current_dir(elsewhere.path())
            .env_remove("DIRECTUS_ROOT")
            .env_remove("DIRECTUS_DB");
        for (k, v) in env {
            cmd.env(k, v);
        }
        // A child forked by another test thread while the copy was open for writing keeps the
        // file busy until it execs; that lasts microseconds.
        let mut tries = 0;
        loop {
            match cmd.output() {
                Err(e) if e.kind() == std::io::ErrorKind::ExecutableFileBusy && tries < 100 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(10));
                }
                other => break other.unwrap(),
            }
        }
    };
    let out = run(&["maintenance:on"], &[]);
    assert!(out.status.success(), "{out:?}");
    assert!(root.join("logs/maintenance").exists());
    assert!(!elsewhere.path().join("logs").exists());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&root.join("logs/maintenance").display().to_string()),
        "{stdout}"
    );
    assert!(
        stdout.contains("No database at")
            && stdout.contains(&root.join("data/directus.db").display().to_string()),
        "{stdout}"
    );
    assert!(
        !root.join("data/directus.db").exists(),
        "on created a database"
    );
    assert_eq!(run(&["maintenance:status"], &[]).status.code(), Some(3));

    // --root before or after the command, and DIRECTUS_ROOT, beat the executable's location.
    let other = tempfile::tempdir().unwrap();
    let other_flag = other.path().join("logs/maintenance");
    let o = other.path().to_str().unwrap();
    assert!(run(&["--root", o, "maintenance:on", "--wait", "0"], &[])
        .status
        .success());
    assert!(other_flag.exists());
    assert!(run(&["maintenance:off", "--root", o], &[]).status.success());
    assert!(!other_flag.exists());
    assert!(run(&["maintenance:on"], &[("DIRECTUS_ROOT", other.path())])
        .status
        .success());
    assert!(other_flag.exists());
    assert!(run(&["maintenance:off"], &[]).status.success());
    assert!(!root.join("logs/maintenance").exists());
    assert!(other_flag.exists());
}

#[test]
fn garbage_flags_mean_on_with_defaults() {
    let s = Server::start(&[]);
    seed(&s, "a", "{}");
    let flag = s.flag();
    let write = |bytes: &[u8]| std::fs::write(&flag, bytes).unwrap();
    // (what, how the flag is made), a line each.
    #[rustfmt::skip]
    let cases: [(&str, &dyn Fn()); 10] = [
        ("empty", &|| write(b"")),
        ("invalid JSON", &|| write(b"{\"message\":\"Up")),
        ("binary", &|| write(b"\xff\xfe\x00\x01garbage")),
        ("array", &|| write(b"[1,2,3]")),
        ("wrong types", &|| write(br#"{"message":42,"retry_after":"soon","since":7}"#)),
        ("negative retry", &|| write(br#"{"retry_after":-5}"#)),
        ("megabytes", &|| write(&vec![b'x'; 3 << 20])),
        ("directory", &|| std::fs::create_dir(&flag).unwrap()),
        ("dangling symlink", &|| std::os::unix::fs::symlink("/nonexistent/flag", &flag).unwrap()),
        ("FIFO", &|| assert!(Command::new("mkfifo").arg(&flag).status().unwrap().success())),
    ];
    for (what, make) in cases {
        make();
        let r = s.get("/items/a");
        assert_maintenance(what, &r, DEFAULT_MESSAGE, false);
        assert!(r.header("retry-after").is_none(), "{what}");
        let out = s.cli(&["maintenance:status", "--json"]);
        assert_eq!(out.code, 3, "{what}: {out:?}");
        let off = s.cli(&["maintenance:off"]);
        assert_eq!(off.code, 0, "{what}: {off:?}");
        assert_eq!(s.get("/items/a").status, 200, "{what}");
    }
    // CR/LF in the message stays in the JSON body and never reaches a header.
    std::fs::write(
        &flag,
        br#"{"message":"Line one\r\nX-Injected: yes","retry_after":30}"#,
    )
    .unwrap();
    let r = s.get("/items/a");
    assert_maintenance(
        "CR/LF in the message",
        &r,
        "Line one\r\nX-Injected: yes",
        false,
    );
    assert!(r.header("x-injected").is_none());
    assert_eq!(r.header("retry-after"), Some("30"));
}

#[test]
fn logs_that_cannot_be_used_fail_closed() {
    let s = Server::start(&[]);
    seed(&s, "a", "{}");
    let logs = s.root.join("logs");
    std::fs::rename(&logs, s.root.join("logs.away")).unwrap();
    std::fs::write(&logs, b"a file where the directory was").unwrap();
    assert_maintenance(
        "logs/ made a file",
        &s.get("/items/a"),
        DEFAULT_MESSAGE,
        false,
    );
    assert!(s.stderr().contains("fail closed"), "{}", s.stderr());
    assert_eq!(s.cli(&["maintenance:status"]).code, 1);
    std::fs::remove_file(&logs).unwrap();
    std::fs::rename(s.root.join("logs.away"), &logs).unwrap();
    assert_eq!(s.get("/items/a").status, 200);

    // A server whose logs/ is unusable at start still starts, and answers 503.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("logs"), b"not a directory").unwrap();
    let broken = Server::start_in(dir.path(), &[]);
    assert_maintenance(
        "logs/ unusable at start",
        &broken.get("/collections"),
        DEFAULT_MESSAGE,
        false,
    );
    assert_eq!(broken.get("/server/ping").text(), "pong");
}

/// Takes SQLite's write lock from the test, then sends a create that passes the dispatcher's
/// flag check and blocks on that lock. Returns the lock holder (in `BEGIN IMMEDIATE`) and the
/// pending answer. The server must log at debug level.
fn write_blocked_on_lock(
    s: &Server,
) -> (rusqlite::Connection, std::thread::JoinHandle<common::Resp>) {
    let waits = |s: &Server| s.stderr().matches("waiting for the write lock").count();
    let waits_before = waits(s);
    let holder = rusqlite::Connection::open(s.db()).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let addr = s.addr;
    let writer = std::thread::spawn(move || {
        Client::connect(addr).send(
            "POST",
            "/items/a",
            &[("Content-Type", "application/json")],
            Some(r#"{"t":"late"}"#),
        )
    });
    // Once the server logs that it waits for the lock, the dispatcher's check is behind it.
    wait_for("the write to wait for the lock", || waits(s) > waits_before);
    (holder, writer)
}

#[test]
fn a_write_waiting_for_the_lock_sees_the_flag_and_rolls_back() {
    let s = Server::start_logging("debug", &[]);
    seed(&s, "a", r#"{"t":"x"}"#);
    let (holder, writer) = write_blocked_on_lock(&s);
    std::fs::write(s.flag(), b"").unwrap();
    holder.execute_batch("ROLLBACK").unwrap();
    let r = writer.join().unwrap();
    assert_maintenance(
        "the write that waited for the lock",
        &r,
        DEFAULT_MESSAGE,
        false,
    );
    assert!(s.stderr().contains("rolled back"), "{}", s.stderr());
    std::fs::remove_file(s.flag()).unwrap();
    assert_eq!(s.get("/items/a?fields=id").ids(), vec![1]);
}

#[test]
fn a_write_timing_out_on_the_lock_during_maintenance_gets_the_503() {
    let s = Server::start_logging("debug", &[]);
    seed(&s, "a", r#"{"t":"x"}"#);
    let (holder, writer) = write_blocked_on_lock(&s);
    std::fs::write(s.flag(), b"").unwrap();
    // The lock stays held past the server's busy timeout (5 s): SQLITE_BUSY with the flag up.
    let r = writer.join().unwrap();
    assert_maintenance(
        "the write that timed out on the lock",
        &r,
        DEFAULT_MESSAGE,
        false,
    );
    holder.execute_batch("ROLLBACK").unwrap();
    std::fs::remove_file(s.flag()).unwrap();
    assert_eq!(s.get("/items/a?fields=id").ids(), vec![1]);
}

#[test]
fn a_write_timing_out_on_the_lock_otherwise_is_a_retryable_503() {
    let s = Server::start_logging("debug", &[]);
    seed(&s, "a", r#"{"t":"x"}"#);
    let (holder, writer) = write_blocked_on_lock(&s);
    let r = writer.join().unwrap();
    holder.execute_batch("ROLLBACK").unwrap();
    assert_eq!(
        (r.status, r.code().as_str()),
        (503, "SERVICE_UNAVAILABLE"),
        "{}",
        r.text()
    );
    assert_eq!(
        r.json()["errors"][0]["extensions"]["reason"],
        "database_busy"
    );
    assert_eq!(r.header("retry-after"), Some("1"));
    assert_eq!(s.get("/items/a?fields=id").ids(), vec![1]);
}

#[test]
fn queued_writers_share_one_deadline_and_reads_stay_served() {
    // Another process holds the lock far longer than a write may wait (5 s). Before, each
    // queued write waited the full busy timeout after the one ahead of it (the k-th about 5k s)
    // and the writes held every worker, so a ping waited too.
    let s = Server::start_logging("debug", &["--workers", "4"]);
    seed(&s, "a", r#"{"t":"x"}"#);
    let (holder, first) = write_blocked_on_lock(&s);
    let started = Instant::now();
    let addr = s.addr;
    let more: Vec<_> = (0..5)
        .map(|i| {
            std::thread::spawn(move || {
                let body = format!(r#"{{"t":"queued {i}"}}"#);
                Client::connect(addr).send(
                    "POST",
                    "/items/a",
                    &[("Content-Type", "application/json")],
                    Some(&body),
                )
            })
        })
        .collect();
    let ping_sent = Instant::now();
    assert_eq!(s.get("/server/ping").text(), "pong");
    let ping_took = ping_sent.elapsed();
    assert_eq!(s.get("/items/a/1").status, 200);
    let mut statuses = vec![first.join().unwrap().status];
    statuses.extend(more.into_iter().map(|w| w.join().unwrap().status));
    let writes_took = started.elapsed();
    holder.execute_batch("ROLLBACK").unwrap();
    // Hang detectors with wide margins, not speed checks: one shared 5 s deadline, not 5 s each.
    assert!(
        ping_took < Duration::from_secs(3),
        "ping waited {ping_took:?}"
    );
    assert!(
        writes_took < Duration::from_secs(9),
        "writes took {writes_took:?}"
    );
    assert_eq!(
        statuses,
        vec![503; 6],
        "a write committed while the lock was held"
    );
    assert_eq!(s.get("/items/a?fields=id").ids(), vec![1]);
}

#[test]
fn drain_reports_what_blocked_it_and_keeps_the_flag() {
    let s = Server::start(&[]);
    seed(&s, "a", "{}");
    // A held write lock: the drain times out, exit 1, the flag stays.
    let mut holder = rusqlite::Connection::open(s.db()).unwrap();
    let tx = holder
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    let out = s.cli(&["maintenance:on", "--wait", "0.5"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr.contains("write lock") && out.stderr.contains("flag stays"),
        "{}",
        out.stderr
    );
    assert!(s.flag().exists());
    tx.rollback().unwrap();
    // An open reader blocks the checkpoint: busy is reported, not ignored.
    s.cli(&["maintenance:off"]);
    s.json("POST", "/items/a", "{}");
    let reader = rusqlite::Connection::open(s.db()).unwrap();
    reader
        .execute_batch("BEGIN; SELECT count(*) FROM directus_items;")
        .unwrap();
    let _ = reader
        .query_row("SELECT count(*) FROM directus_items", [], |r| {
            r.get::<_, i64>(0)
        })
        .unwrap();
    let out = s.cli(&["maintenance:on", "--wait", "0.5"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(out.stderr.contains("checkpoint"), "{}", out.stderr);
    assert!(s.flag().exists());
    reader.execute_batch("COMMIT").unwrap();
    let out = s.cli(&["maintenance:on"]);
    assert_eq!(out.code, 0, "{out:?}");
    // --wait 0 says plainly that nothing was established.
    let out = s.cli(&["maintenance:on", "--wait", "0"]);
    assert_eq!(out.code, 0);
    assert!(out.stdout.contains("NOT established"), "{}", out.stdout);
}

#[test]
fn an_explicit_db_that_is_not_the_servers_is_refused_after_setting_the_flag() {
    let s = Server::start(&[]);
    let out = s.cli(&["maintenance:on", "--db", "data/other.db"]);
    assert_eq!(out.code, 1, "{out:?}");
    assert!(
        out.stderr
            .contains("not the database of the running server"),
        "{}",
        out.stderr
    );
    assert!(s.flag().exists());
    // The server's own database, named explicitly, is fine.
    let out = s.cli(&["maintenance:on", "--db", "data/directus.db"]);
    assert_eq!(out.code, 0, "{out:?}");
}

#[test]
fn the_main_file_alone_holds_every_write_after_on() {
    let s = Server::start(&[]);
    seed(&s, "a", r#"[{"n":1},{"n":2}]"#);
    for i in 0..20 {
        s.json("POST", "/items/a", &format!(r#"{{"n":{i}}}"#));
    }
    assert!(wal_size(&s.db()) > 0);
    let before = snapshot(&s.db());
    assert_eq!(s.cli(&["maintenance:on"]).code, 0);
    assert_eq!(
        wal_size(&s.db()),
        0,
        "the WAL still holds frames after on returned"
    );
    let copy = tempfile::tempdir().unwrap();
    let copied = copy.path().join("copy.db");
    std::fs::copy(s.db(), &copied).unwrap();
    assert_eq!(snapshot(&copied), before);
}

#[test]
fn a_database_replaced_during_maintenance_is_served_after() {
    let s = Server::start(&[]);
    seed(&s, "a", r#"{"v":"old"}"#);
    assert_eq!(s.get("/items/a/1").data()["v"], "old");
    // The replacement: a migrated copy, built beside and moved into place.
    assert_eq!(s.cli(&["maintenance:on"]).code, 0);
    let new_db = s.root.join("data/new.db");
    std::fs::copy(s.db(), &new_db).unwrap();
    let conn = rusqlite::Connection::open(&new_db).unwrap();
    conn.execute("UPDATE directus_items SET data = '{\"v\":\"new\"}'", [])
        .unwrap();
    drop(conn);
    std::fs::rename(&new_db, s.db()).unwrap();
    // Off without a single request in between: the watcher notices, or the next request does.
    assert_eq!(s.cli(&["maintenance:off"]).code, 0);
    assert_eq!(s.get("/items/a/1").data()["v"], "new");
    assert_eq!(s.json("POST", "/items/a", r#"{"v":"after"}"#).status, 200);
    assert_eq!(
        snapshot(&s.db()).len(),
        2,
        "the write went to the old, unlinked file"
    );
}

#[test]
fn a_server_started_during_maintenance_migrates_then_answers_503() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    std::fs::write(dir.path().join("logs/maintenance"), b"").unwrap();
    let s = Server::start_in(dir.path(), &[]);
    assert!(s.db().exists());
    assert_maintenance(
        "started during maintenance",
        &s.get("/collections"),
        DEFAULT_MESSAGE,
        false,
    );
    assert_eq!(s.cli(&["maintenance:off"]).code, 0);
    assert_eq!(s.get("/collections").status, 200);
}

/// The drain guarantee under load: writers hammer the API on keep-alive connections while the
/// test switches maintenance on and off. After each `on` returns, the database must not change
/// and no write sent after that moment may succeed; after `off`, writes succeed again.
#[test]
fn no_write_commits_after_on_returns_under_concurrent_load() {
    let s = Server::start(&["--workers", "8"]);
    seed(&s, "a", r#"[{"n":0},{"n":0},{"n":0},{"n":0}]"#);
    let load = WriteLoad::start(s.addr, 6, common::mixed_write, &[200]);
    for round in 0..8 {
        load.wait_accepted(20);
        let on = s.cli(&["maintenance:on"]);
        assert_eq!(on.code, 0, "round {round}: {on:?}");
        load.phase.fetch_add(1, Ordering::SeqCst);
        assert_eq!(
            wal_size(&s.db()),
            0,
            "round {round}: WAL not empty after on"
        );
        let frozen = snapshot(&s.db());
        let refused_before = load.refusals.load(Ordering::SeqCst);
        wait_for("writers to be refused", || {
            load.refusals.load(Ordering::SeqCst) >= refused_before + 30
        });
        assert_eq!(
            snapshot(&s.db()),
            frozen,
            "round {round}: the database changed during maintenance"
        );
        assert_eq!(
            load.violations.load(Ordering::SeqCst),
            0,
            "round {round}: a write sent after on succeeded"
        );
        // Even again before `off`: a write sent from here on may succeed.
        load.phase.fetch_add(1, Ordering::SeqCst);
        assert_eq!(s.cli(&["maintenance:off"]).code, 0);
    }
    let violations = load.violations.clone();
    load.finish();
    assert_eq!(violations.load(Ordering::SeqCst), 0);
    let integrity: String = rusqlite::Connection::open(s.db())
        .unwrap()
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(integrity, "ok");
}

#[test]
fn the_cli_links_no_http_code() {
    // `nm` comes with binutils, which the Rust toolchain needs for linking anyway.
    let out = Command::new("nm").arg("-C").arg(CLI).output().unwrap();
    assert!(out.status.success());
    let symbols = String::from_utf8_lossy(&out.stdout);
    assert!(
        symbols.contains("directus::cli::main"),
        "nm shows no CLI symbols"
    );
    for server_side in [
        "tiny_http",
        "directus::http::",
        "directus::api::",
        "directus::server::",
    ] {
        assert!(
            !symbols.contains(server_side),
            "the CLI links {server_side}"
        );
    }
}

/// A checkpoint already running when `maintenance:on` drains (a server's automatic one) makes
/// SQLite refuse the drain's at once, without its busy handler; the drain waits for it instead
/// of failing. Another process stands in for the running checkpoint by holding SQLite's
/// checkpoint lock (an fcntl lock on byte 121 of the `-shm` file), and lets go once the CLI
/// says it is waiting.
#[test]
fn the_drain_waits_for_a_checkpoint_already_running() {
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    let s = Server::start(&[]);
    seed(&s, "a", r#"[{"n":1}]"#);
    let shm = s.db().with_file_name("directus.db-shm");
    let mut holder = Command::new("python3")
        .arg("-c")
        .arg(
            "import fcntl, os, sys\n\
             fd = os.open(sys.argv[1], os.O_RDWR)\n\
             fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, 121)\n\
             print('locked', flush=True)\n\
             sys.stdin.readline()\n",
        )
        .arg(&shm)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(holder.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert_eq!(line.trim(), "locked");

    let mut on = Command::new(CLI)
        .args(["maintenance:on", "--root"])
        .arg(&s.root)
        .env_remove("DIRECTUS_ROOT")
        .env_remove("DIRECTUS_DB")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut said = Vec::new();
    let mut lines = BufReader::new(on.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        said.push(line.clone());
        if line.starts_with("Waiting for a WAL checkpoint already running") {
            break;
        }
    }
    assert!(
        said.last().is_some_and(|l| l.starts_with("Waiting")),
        "the CLI did not wait: {said:?}"
    );
    // The stand-in checkpoint ends.
    writeln!(holder.stdin.take().unwrap()).unwrap();
    assert!(holder.wait().unwrap().success());
    said.extend(lines.map(|l| l.unwrap()));
    let status = on.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut on.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "{said:?} {stderr}");
    assert!(said.iter().any(|l| l.starts_with("Drained ")), "{said:?}");
    assert_eq!(wal_size(&s.db()), 0);
}
