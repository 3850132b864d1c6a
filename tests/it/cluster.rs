//! Several hosts on one PostgreSQL database (SPEC 12): one switch closes every server, the drain
//! holds across hosts, and a server that lost its notifications still refuses writes. Each
//! "host" is a server with a root of its own on the same database.

use crate::common::pg::{cluster, PASSWORD};
use crate::common::{self, cli, seed, wait_for, Server, WriteLoad};
use serde_json::Value;
use std::sync::atomic::Ordering;
use std::sync::Mutex;

/// Two servers on one fresh database, each with its own root.
fn two_hosts() -> (Server, Server, String) {
    two_hosts_on(None)
}

/// The same, with the database's default isolation level set first (a write transaction must
/// read the cluster's state after its lock whatever the default).
fn two_hosts_on(isolation: Option<&str>) -> (Server, Server, String) {
    let pg = cluster();
    let db = pg.database();
    if let Some(level) = isolation {
        pg.admin()
            .batch(&format!(
                "ALTER DATABASE {db} SET default_transaction_isolation = '{level}'"
            ))
            .unwrap();
    }
    let uri = pg.uri(&db);
    let a = Server::start(&["--db", &uri]);
    let b = Server::start(&["--db", &uri]);
    seed(&a, "a", r#"[{"n":1},{"n":2},{"n":3},{"n":4}]"#);
    (a, b, db)
}

/// Every item on the database, in order.
fn items(db: &str) -> Vec<(String, i64, String)> {
    let mut c = cluster().connect(db);
    c.query(
        "SELECT collection, id, data FROM directus_items ORDER BY collection COLLATE \"C\", id",
        &[],
    )
    .unwrap()
    .into_iter()
    .map(|mut r| {
        let id = r.int(1).unwrap();
        (r.take(0).unwrap(), id, r.take(2).unwrap())
    })
    .collect()
}

#[test]
fn one_switch_closes_every_host_and_status_shows_both_scopes() {
    let (a, b, _db) = two_hosts();
    assert_eq!(b.get("/items/a").status, 200);
    let on = a.cli(&["maintenance:on", "--message", "Upgrading the database"]);
    assert_eq!(on.code, 0, "{on:?}");
    assert!(
        on.stdout.contains("Cluster maintenance is on"),
        "{}",
        on.stdout
    );
    assert!(on.stdout.contains("Drained every host"), "{}", on.stdout);
    assert!(!on.stdout.contains(PASSWORD) && !on.stderr.contains(PASSWORD));
    // The other host's flag file was not touched: the database closes it.
    assert!(!b.root.join("logs/maintenance").exists());
    let write = b.json("POST", "/items/a", r#"{"n":5}"#);
    assert_eq!(write.status, 503, "{}", write.text());
    // `on` returned once every server applied it: reads are closed at once too.
    assert!(
        on.stdout
            .contains("Every server on the database applies it now"),
        "{}",
        on.stdout
    );
    assert_eq!(b.get("/items/a").status, 503);
    let r = b.get("/items/a");
    assert!(r.text().contains("Upgrading the database"), "{}", r.text());

    let st = b.cli(&["maintenance:status"]);
    assert_eq!(st.code, 3, "{st:?}");
    assert!(
        st.stdout.contains("Maintenance mode is off (serving)"),
        "{}",
        st.stdout
    );
    assert!(
        st.stdout.contains("Cluster maintenance is on"),
        "{}",
        st.stdout
    );
    assert_eq!(
        st.stdout.matches("Server on the database:").count(),
        2,
        "{}",
        st.stdout
    );
    let json: Value =
        serde_json::from_str(&b.cli(&["maintenance:status", "--json"]).stdout).unwrap();
    assert_eq!(json["state"], "on");
    assert_eq!(json["host"]["state"], "off");
    assert_eq!(json["cluster"]["state"], "on");
    assert_eq!(json["cluster"]["message"], "Upgrading the database");
    assert_eq!(json["cluster"]["servers"].as_array().unwrap().len(), 2);
    assert!(!json.to_string().contains(PASSWORD));
    for record in std::fs::read_dir(a.root.join("logs/servers")).unwrap() {
        let text = std::fs::read_to_string(record.unwrap().path()).unwrap();
        assert!(!text.contains(PASSWORD), "{text}");
    }

    // --host-only acts on one root's flag: the stricter scope applies.
    let off = a.cli(&["maintenance:off"]);
    assert_eq!(off.code, 0, "{off:?}");
    assert_eq!(b.get("/items/a").status, 200);
    let host = b.cli(&["maintenance:on", "--host-only", "--read-only"]);
    assert_eq!(host.code, 0, "{host:?}");
    assert!(b.root.join("logs/maintenance").exists());
    assert_eq!(b.get("/items/a").status, 200);
    assert_eq!(b.json("POST", "/items/a", r#"{"n":6}"#).status, 503);
    assert_eq!(a.json("POST", "/items/a", r#"{"n":7}"#).status, 200);
    let st = a.cli(&["maintenance:status"]);
    assert_eq!(st.code, 0, "host a is open: {st:?}");
    assert_eq!(b.cli(&["maintenance:off", "--host-only"]).code, 0);
    assert_eq!(b.json("POST", "/items/a", r#"{"n":8}"#).status, 200);

    // A window announced for the cluster reaches the other host's clients; this root's own
    // announcement file would win over it.
    let ann = a.cli(&[
        "maintenance:announce",
        "--at",
        "+1h",
        "--message",
        "Window ahead",
    ]);
    assert_eq!(ann.code, 0, "{ann:?}");
    assert!(!a.root.join("logs/maintenance-announcement").exists());
    wait_for("the other host to announce the window", || {
        b.get("/server/maintenance").json()["data"]["announcement"]["message"] == "Window ahead"
    });
    let json: Value =
        serde_json::from_str(&b.cli(&["maintenance:status", "--json"]).stdout).unwrap();
    assert_eq!(json["announcement"]["message"], "Window ahead");
    assert_eq!(a.cli(&["maintenance:announce", "--clear"]).code, 0);
    wait_for("the announcement to be withdrawn", || {
        b.get("/server/maintenance").json()["data"]["announcement"].is_null()
    });
}

/// The drain race across two hosts: writers on both servers, `on` from one root; once it has
/// returned no write commits on either host, 30 rounds.
fn drain_race(mode: &[&str], isolation: Option<&str>) {
    drain_race_with(mode, isolation, false);
}

/// The race; with `cut`, both servers' listening connections are terminated before every
/// `on`, so that neither hears of it by notification.
fn drain_race_with(mode: &[&str], isolation: Option<&str>, cut: bool) {
    // One race at a time in a test process: two would put four servers, sixteen writers and
    // seventy backends on the same cores, and the database's answers (a new connection's
    // included) would take seconds.
    static ONE_RACE: Mutex<()> = Mutex::new(());
    let _alone = ONE_RACE.lock().unwrap_or_else(|e| e.into_inner());
    let (a, b, db) = two_hosts_on(isolation);
    let mut admin = cluster().connect(&db);
    let loads = [
        WriteLoad::start(a.addr, 4, common::mixed_write, &[200]),
        WriteLoad::start(b.addr, 4, common::mixed_write, &[200]),
    ];
    for round in 0..30 {
        for load in &loads {
            load.wait_accepted(5);
        }
        if cut {
            cut_notifications(&mut admin);
        }
        let mut args = vec!["maintenance:on"];
        args.extend_from_slice(mode);
        let on = cli(&a.root, &args);
        assert_eq!(on.code, 0, "round {round}: {on:?}");
        for load in &loads {
            load.phase.fetch_add(1, Ordering::SeqCst);
        }
        let frozen = items(&db);
        for load in &loads {
            let before = load.refusals.load(Ordering::SeqCst);
            wait_for("writers to be refused on both hosts", || {
                load.refusals.load(Ordering::SeqCst) >= before + 10
            });
        }
        assert_eq!(items(&db), frozen, "round {round}: the database changed");
        for load in &loads {
            assert_eq!(load.violations.load(Ordering::SeqCst), 0, "round {round}");
            load.phase.fetch_add(1, Ordering::SeqCst);
        }
        assert_eq!(cli(&a.root, &["maintenance:off"]).code, 0);
    }
    for load in loads {
        let violations = load.violations.clone();
        load.finish();
        assert_eq!(violations.load(Ordering::SeqCst), 0);
    }
}

#[test]
fn the_drain_holds_across_two_hosts() {
    drain_race(&[], None);
}

#[test]
fn the_drain_holds_across_two_hosts_in_read_only_mode() {
    // And on a database whose default isolation is serializable.
    drain_race(&["--read-only"], Some("serializable"));
}

#[test]
fn the_drain_holds_across_two_hosts_that_lost_their_notifications() {
    drain_race_with(&[], None, true);
}

/// Terminates the servers' listening connections on this database; returns how many.
fn cut_notifications(admin: &mut directus::pg::Client) -> i64 {
    let cut = admin
        .query(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE application_name = 'directus-watcher' AND datname = current_database()",
            &[],
        )
        .unwrap();
    cut[0].int(0).unwrap()
}

/// A server whose listening connection was terminated learns nothing by notification: its
/// writes still read the state in their own transaction, and it reads the state again within
/// 5 s of reconnecting.
#[test]
fn a_server_that_lost_its_notifications_still_refuses_writes() {
    let (a, b, db) = two_hosts();
    let mut admin = cluster().connect(&db);
    assert_eq!(
        cut_notifications(&mut admin),
        2,
        "both servers' watchers were cut"
    );
    let on = a.cli(&["maintenance:on"]);
    assert_eq!(on.code, 0, "{on:?}");
    let before = items(&db);
    for s in [&a, &b] {
        let r = s.json("POST", "/items/a", r#"{"late":true}"#);
        assert_eq!(r.status, 503, "{}", r.text());
    }
    assert_eq!(items(&db), before);
    let started = std::time::Instant::now();
    wait_for("both hosts to close reads", || {
        a.get("/items/a").status == 503 && b.get("/items/a").status == 503
    });
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(a.cli(&["maintenance:off"]).code, 0);
    wait_for("both hosts to open", || {
        a.get("/items/a").status == 200 && b.get("/items/a").status == 200
    });
}

#[test]
fn an_unreachable_database_at_start_is_one_line_and_a_prompt_exit() {
    let dir = tempfile::tempdir().unwrap();
    let uri = format!(
        "postgresql://directus:{PASSWORD}@/x?host={}",
        dir.path().display()
    );
    let started = std::time::Instant::now();
    let out = std::process::Command::new(common::SERVER)
        .args(["--root"])
        .arg(dir.path())
        .args(["--port", "0", "--db", &uri])
        .output()
        .unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&dir.path().display().to_string()),
        "{stderr}"
    );
    assert!(!stderr.contains(PASSWORD), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

/// PostgreSQL queues a shared advisory lock requested while an exclusive one waits behind the
/// exclusive one (its lock manager grants a request only if it conflicts neither with the
/// locks held nor with the requests already waiting): the drain's exclusive request is not
/// starved by writes that keep coming, and no write slips in between.
#[test]
fn a_shared_lock_asked_while_the_drain_waits_queues_behind_it() {
    let pg = cluster();
    let db = pg.database();
    let key = directus::storage::postgres::DRAIN_LOCK.to_string();
    let mut writer = pg.connect(&db);
    writer.batch("BEGIN").unwrap();
    writer
        .query(
            "SELECT pg_advisory_xact_lock_shared($1::bigint)",
            &[Some(&key)],
        )
        .unwrap();
    let drain = {
        let (pg_db, key) = (db.clone(), key.clone());
        std::thread::spawn(move || {
            let mut c = cluster().connect(&pg_db);
            c.query("SELECT pg_advisory_lock($1::bigint)", &[Some(&key)])
                .unwrap();
            c.query("SELECT pg_advisory_unlock($1::bigint)", &[Some(&key)])
                .unwrap();
        })
    };
    let mut admin = pg.connect(&db);
    wait_for("the drain to wait for the lock", || {
        let rows = admin
            .query(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' \
                 AND mode = 'ExclusiveLock' AND NOT granted \
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                &[],
            )
            .unwrap();
        rows[0].int(0).unwrap() == 1
    });
    // A new write's shared request does not jump the queue, though it is compatible with the
    // shared lock held.
    let mut late = pg.connect(&db);
    late.batch("SET lock_timeout = 300").unwrap();
    late.batch("BEGIN").unwrap();
    let err = late
        .query(
            "SELECT pg_advisory_xact_lock_shared($1::bigint)",
            &[Some(&key)],
        )
        .unwrap_err();
    assert_eq!(err.code(), Some("55P03"), "{err}");
    late.batch("ROLLBACK").unwrap();
    // Once the write in flight ends, the drain passes, and the late write after it.
    writer.batch("COMMIT").unwrap();
    drain.join().unwrap();
    late.batch("BEGIN").unwrap();
    late.query(
        "SELECT pg_advisory_xact_lock_shared($1::bigint)",
        &[Some(&key)],
    )
    .unwrap();
    late.batch("COMMIT").unwrap();
}

/// Autovacuum, ANALYZE and REINDEX evaluate the field indexes' expressions with an empty
/// search_path: they must resolve there (they once called one another by bare name, and every
/// automatic analyze of the items failed).
#[test]
fn the_index_expressions_evaluate_with_an_empty_search_path() {
    let (a, _b, db) = two_hosts();
    seed(
        &a,
        "b",
        r#"[{"title":"x","views":1},{"title":"y","views":2}]"#,
    );
    let mut c = cluster().connect(&db);
    c.batch("SET search_path = ''").unwrap();
    c.batch("ANALYZE public.directus_items").unwrap();
    c.batch("REINDEX TABLE public.directus_items").unwrap();
}

/// When the database ends the server's connections (a restart, a failover, an operator's
/// `pg_terminate_backend`), the next requests are answered, not failed: a read or the opening
/// of a write connects again and runs once more.
#[test]
fn requests_after_the_database_dropped_the_connections_are_answered() {
    let (a, _b, db) = two_hosts();
    // Every worker of the server has a connection open.
    for _ in 0..8 {
        assert_eq!(a.get("/items/a").status, 200);
        assert_eq!(a.json("PATCH", "/items/a/1", r#"{"n":1}"#).status, 200);
    }
    let mut admin = cluster().connect(&db);
    let cut = admin
        .query(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
            &[],
        )
        .unwrap();
    assert!(cut[0].int(0).unwrap() > 0);
    for round in 0..8 {
        let r = a.get("/items/a/1");
        assert_eq!(r.status, 200, "round {round}: {}", r.text());
        let r = a.json("POST", "/items/a", r#"{"after":"the cut"}"#);
        assert_eq!(r.status, 200, "round {round}: {}", r.text());
    }
}

/// What `on` is given for the cluster reaches every host: the bypass secret (printed once; a
/// request carrying it is served on every host), the message and the retry time.
#[test]
fn the_cluster_bypass_message_and_retry_reach_every_host() {
    let (a, b, _db) = two_hosts();
    let on = a.cli(&[
        "maintenance:on",
        "--bypass",
        "--retry",
        "120",
        "--message",
        "Moving racks",
    ]);
    assert_eq!(on.code, 0, "{on:?}");
    let secret = on.bypass_secret();
    let json = ("Content-Type", "application/json");
    for s in [&a, &b] {
        let r = s.json("POST", "/items/a", r#"{"n":9}"#);
        assert_eq!(r.status, 503, "{}", r.text());
        assert_eq!(r.header("retry-after"), Some("120"));
        assert!(r.text().contains("Moving racks"), "{}", r.text());
        let wrong = s.req(
            "GET",
            "/items/a",
            &[("X-Maintenance-Bypass", "not-the-secret")],
            None,
        );
        assert_eq!(wrong.status, 503);
        let r = s.req(
            "POST",
            "/items/a",
            &[json, ("X-Maintenance-Bypass", secret.as_str())],
            Some(r#"{"n":10}"#),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert_eq!(a.cli(&["maintenance:off"]).code, 0);
}

/// A write that makes a field's index holds a SHARE lock on the items to its end; a PATCH that
/// locked its row before and updates it after waits for that lock while the index's write
/// waits for the row: PostgreSQL breaks the deadlock by undoing one of them. The server runs
/// the undone write again, so both PATCHes are answered 200 and both changes are kept.
#[test]
fn a_write_undone_by_a_deadlock_runs_again() {
    let pg = cluster();
    let db = pg.database();
    let server = Server::start(&["--db", &pg.uri(&db)]);
    seed(&server, "a", r#"[{"n":1}]"#);
    // The row's lock, held from outside, lines both PATCHes up behind it.
    let mut holder = pg.connect(&db);
    holder.batch("BEGIN").unwrap();
    holder
        .query(
            "SELECT id FROM directus_items WHERE collection = 'a' AND id = 1 FOR UPDATE",
            &[],
        )
        .unwrap();
    let mut admin = pg.connect(&db);
    let mut waiting_for_the_row = |count: i64| {
        wait_for("PATCHes to wait for the row", || {
            let rows = admin
                .query(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() \
                     AND wait_event_type = 'Lock' AND query LIKE '%FOR UPDATE'",
                    &[],
                )
                .unwrap();
            rows[0].int(0).unwrap() == count
        })
    };
    let patch = |body: &'static str| {
        let addr = server.addr;
        std::thread::spawn(move || {
            let mut c = common::Client::connect(addr);
            let ct = [("Content-Type", "application/json")];
            c.send("PATCH", "/items/a/1", &ct, Some(body))
        })
    };
    // A field the collection has: nothing to record, the row is locked, then updated.
    let known = patch(r#"{"n":10}"#);
    waiting_for_the_row(1);
    // A new field: recorded and indexed (SHARE on the items) before its row is locked.
    let fresh = patch(r#"{"fresh":5}"#);
    waiting_for_the_row(2);
    holder.batch("COMMIT").unwrap();
    let (known, fresh) = (known.join().unwrap(), fresh.join().unwrap());
    assert_eq!(known.status, 200, "{}", known.text());
    assert_eq!(fresh.status, 200, "{}", fresh.text());
    // Backends report their statistics within seconds of going idle.
    wait_for("the deadlock to show in the database's statistics", || {
        let rows = admin
            .query(
                "SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()",
                &[],
            )
            .unwrap();
        rows[0].int(0).unwrap() >= 1
    });
    let item = server.get("/items/a/1").json();
    assert_eq!(item["data"]["n"], 10, "{item}");
    assert_eq!(item["data"]["fresh"], 5, "{item}");
}
