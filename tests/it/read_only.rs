//! Read-only maintenance (SPEC §5.1) and the operator bypass (§5.2) against the real binaries:
//! which methods are served, the drain guarantee with readers running alongside the writers,
//! switching modes under load, and the bypass secret (right, wrong, none; with and without a
//! token; never in a log).

use crate::common::{self, seed, snapshot, wait_for, Client, Server, WriteLoad};
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const JSON: (&str, &str) = ("Content-Type", "application/json");
const BYPASS: &str = "X-Maintenance-Bypass";

/// Asserts a maintenance 503 with the given `reason` (`maintenance` or `read_only`).
#[track_caller]
fn assert_declined(what: &str, r: &common::Resp, reason: &str, message: Option<&str>) {
    assert_eq!(r.status, 503, "{what}: {}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"), "{what}");
    if r.body.is_empty() {
        return; // HEAD
    }
    let body = r.json();
    let error = &body["errors"][0];
    assert_eq!(error["extensions"]["code"], "SERVICE_UNAVAILABLE", "{what}");
    assert_eq!(error["extensions"]["reason"], reason, "{what}: {body}");
    if let Some(message) = message {
        assert_eq!(error["message"], message, "{what}");
    }
}

fn wal_size(db: &Path) -> u64 {
    std::fs::metadata(db.with_extension("db-wal"))
        .map(|m| m.len())
        .unwrap_or(0)
}

/// The rows of one collection: what "it did not change" compares.
fn rows_of(db: &Path, collection: &str) -> Vec<(String, i64, String)> {
    snapshot(db)
        .into_iter()
        .filter(|(c, _, _)| c == collection)
        .collect()
}

#[test]
fn read_only_serves_get_head_options_and_declines_every_other_method() {
    let s = Server::start(&["--cors-origin", "http://app.example"]);
    seed(&s, "a", r#"[{"t":"one"},{"t":"two"}]"#);
    let paths = [
        "/items/a",
        "/items/a/1",
        "/items/a/999",
        "/items/nope",
        "/collections",
        "/collections/a",
        "/fields/a",
        "/fields/a/t",
        "/server/health",
        "/server/ping",
        "/nope",
        "/",
    ];
    let reads = ["GET", "HEAD", "OPTIONS"];
    let writes = ["POST", "PATCH", "DELETE", "PUT", "BREW"];
    // What every read answers while serving, to compare with read-only.
    let mut served = Vec::new();
    for path in paths {
        for method in reads {
            let r = s.req(method, path, &[JSON], None);
            served.push((method, path, r.status, r.body.clone()));
        }
    }
    let before = snapshot(&s.db());
    let on = s.cli(&[
        "maintenance:on",
        "--read-only",
        "--message",
        "Backing up",
        "--retry",
        "90",
    ]);
    assert_eq!(on.code, 0, "{on:?}");
    assert!(on.stdout.contains("read-only"), "{}", on.stdout);
    assert!(on.stdout.contains("Drained"), "{}", on.stdout);
    for (method, path, status, body) in &served {
        let r = s.req(method, path, &[JSON], None);
        let what = format!("{method} {path} while read-only");
        assert_eq!(r.status, *status, "{what}: {}", r.text());
        if *method != "HEAD" && !path.starts_with("/server/health") {
            assert_eq!(&r.body, body, "{what}");
        }
    }
    for path in paths {
        for method in writes {
            let what = format!("{method} {path} while read-only");
            let r = s.req(method, path, &[JSON], Some(r#"{"t":"new"}"#));
            assert_declined(&what, &r, "read_only", Some("Backing up"));
            assert_eq!(r.header("retry-after"), Some("90"), "{what}");
        }
    }
    // CORS still applies: a preflight for a write is answered, the write itself is declined with
    // headers a browser can read.
    let origin = ("Origin", "http://app.example");
    let pre = s.req(
        "OPTIONS",
        "/items/a",
        &[origin, ("Access-Control-Request-Method", "POST")],
        None,
    );
    assert_eq!(pre.status, 204);
    let r = s.req("POST", "/items/a", &[origin, JSON], Some("{}"));
    assert_declined("a cross-origin POST", &r, "read_only", Some("Backing up"));
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://app.example")
    );
    assert_eq!(snapshot(&s.db()), before, "a write changed the database");

    let st = s.cli(&["maintenance:status", "--json"]);
    assert_eq!(st.code, 3);
    let v: Value = serde_json::from_str(&st.stdout).unwrap();
    assert_eq!(
        (&v["mode"], &v["bypass"]),
        (&"read-only".into(), &false.into())
    );
    let st = s.cli(&["maintenance:status"]);
    assert!(st.stdout.contains("mode:    read-only"), "{}", st.stdout);

    // `on` without --read-only means full.
    assert_eq!(s.cli(&["maintenance:on"]).code, 0);
    assert_declined(
        "GET while full",
        &s.get("/items/a"),
        "maintenance",
        Some("Backing up"),
    );
    let v: Value = serde_json::from_str(&s.cli(&["maintenance:status", "--json"]).stdout).unwrap();
    assert_eq!(v["mode"], "full");
    assert_eq!(s.cli(&["maintenance:off"]).code, 0);
    assert_eq!(s.json("POST", "/items/a", "{}").status, 200);
}

#[test]
fn mode_switches_are_logged_and_the_declined_count_covers_both_modes() {
    let s = Server::start(&[]);
    seed(&s, "a", "{}");
    assert_eq!(
        s.cli(&["maintenance:on", "--read-only", "--message", "M"])
            .code,
        0
    );
    for _ in 0..3 {
        assert_eq!(s.json("POST", "/items/a", "{}").status, 503);
    }
    assert_eq!(s.get("/items/a").status, 200);
    let switched = s.cli(&["maintenance:on"]);
    assert!(
        switched.stdout.contains("switched from read-only to full"),
        "{}",
        switched.stdout
    );
    for _ in 0..2 {
        assert_declined(
            "GET while full",
            &s.get("/items/a"),
            "maintenance",
            Some("M"),
        );
    }
    assert_eq!(s.cli(&["maintenance:on", "--read-only"]).code, 0);
    assert_eq!(s.get("/items/a").status, 200);
    assert_eq!(s.cli(&["maintenance:off"]).code, 0);
    wait_for("the off transition in the log", || {
        s.stderr().contains("maintenance off: ")
    });
    let log = s.stderr();
    assert!(log.contains("maintenance on (read-only): \"M\""), "{log}");
    assert!(
        log.contains("maintenance switched from read-only to full: \"M\""),
        "{log}"
    );
    assert!(
        log.contains("maintenance switched from full to read-only: \"M\""),
        "{log}"
    );
    assert!(
        log.contains("maintenance off: 5 requests declined while on"),
        "{log}"
    );
}

/// The drain race of full maintenance, in read-only mode, with readers running alongside the
/// writers: once `on --read-only` has returned no write commits, and every read answers 200
/// with the data committed before it (identical to what was read right after `on`).
#[test]
fn no_write_commits_after_on_read_only_returns_while_reads_keep_arriving() {
    let s = Server::start(&["--workers", "8"]);
    seed(&s, "a", r#"[{"n":0},{"n":0},{"n":0},{"n":0}]"#);
    fn send(c: &mut Client, w: u64, i: u64) -> common::Resp {
        match (w + i) % 3 {
            0 => c.send(
                "POST",
                "/items/a",
                &[JSON],
                Some(&format!(r#"{{"w":{w}}}"#)),
            ),
            1 => c.send(
                "PATCH",
                &format!("/items/a/{}", 1 + (w % 4)),
                &[JSON],
                Some(&format!(r#"{{"n":{i}}}"#)),
            ),
            _ => c.send("DELETE", &format!("/items/a/{}", 5 + i), &[], None),
        }
    }
    // A 403 is a delete of an item that is not there: the write was let through to the handler.
    let load = WriteLoad::start(s.addr, 4, send, &[200, 204, 403]);
    let phase = load.phase.clone();
    // The list as read right after `on` returned, with the phase it belongs to.
    let frozen: Arc<Mutex<(u64, Vec<u8>)>> = Arc::new(Mutex::new((0, Vec::new())));
    let stop = Arc::new(AtomicBool::new(false));
    let reads_on = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for _ in 0..4 {
        let (phase, frozen, stop, violations, reads_on) = (
            phase.clone(),
            frozen.clone(),
            stop.clone(),
            load.violations.clone(),
            reads_on.clone(),
        );
        let addr = s.addr;
        readers.push(std::thread::spawn(move || {
            let mut c = Client::connect(addr);
            while !stop.load(Ordering::SeqCst) {
                let seen = phase.load(Ordering::SeqCst);
                let r = c.send("GET", "/items/a?sort=id&limit=-1", &[], None);
                assert_eq!(r.status, 200, "a read was not served: {}", r.text());
                let one = c.send("GET", "/items/a/1", &[], None);
                assert_eq!(one.status, 200, "a read was not served: {}", one.text());
                if seen % 2 == 1 && phase.load(Ordering::SeqCst) == seen {
                    let frozen = frozen.lock().unwrap();
                    assert_eq!(frozen.0, seen);
                    if r.body != frozen.1 {
                        eprintln!("a read during read-only saw other data: {}", r.text());
                        violations.fetch_add(1, Ordering::SeqCst);
                    }
                    reads_on.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    for round in 0..6 {
        load.wait_accepted(20);
        let on = s.cli(&["maintenance:on", "--read-only", "--wait", "20"]);
        assert_eq!(on.code, 0, "round {round}: {on:?}");
        let list = s.get("/items/a?sort=id&limit=-1");
        assert_eq!(list.status, 200);
        *frozen.lock().unwrap() = (phase.load(Ordering::SeqCst) + 1, list.body);
        phase.fetch_add(1, Ordering::SeqCst);
        assert_eq!(
            wal_size(&s.db()),
            0,
            "round {round}: WAL not empty after on"
        );
        let before = snapshot(&s.db());
        let (refused, read) = (
            load.refusals.load(Ordering::SeqCst),
            reads_on.load(Ordering::SeqCst),
        );
        wait_for("writers to be refused and readers served", || {
            load.refusals.load(Ordering::SeqCst) >= refused + 30
                && reads_on.load(Ordering::SeqCst) >= read + 30
        });
        assert_eq!(
            snapshot(&s.db()),
            before,
            "round {round}: the database changed"
        );
        assert_eq!(load.violations.load(Ordering::SeqCst), 0, "round {round}");
        phase.fetch_add(1, Ordering::SeqCst);
        assert_eq!(s.cli(&["maintenance:off"]).code, 0);
    }
    stop.store(true, Ordering::SeqCst);
    for t in readers {
        t.join().unwrap();
    }
    let violations = load.violations.clone();
    load.finish();
    assert_eq!(violations.load(Ordering::SeqCst), 0);
}

/// The TRUNCATE checkpoint waits for readers that still use the WAL: it must still finish while
/// a steady read load keeps arriving (readers that begin after the log is copied back read the
/// main file and do not hold it up).
#[test]
fn on_read_only_drains_under_a_steady_read_load() {
    let s = Server::start(&["--workers", "8"]);
    let items: Vec<String> = (0..300)
        .map(|i| format!(r#"{{"t":"item {i}","n":{i}}}"#))
        .collect();
    seed(&s, "a", &format!("[{}]", items.join(",")));
    let stop = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicU64::new(0));
    let readers: Vec<_> = (0..6)
        .map(|i| {
            let (stop, reads, addr) = (stop.clone(), reads.clone(), s.addr);
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                let path = if i % 2 == 0 {
                    "/items/a?limit=-1".to_string()
                } else {
                    format!("/items/a?filter[n][_gte]={i}&sort=-n&limit=50")
                };
                while !stop.load(Ordering::SeqCst) {
                    let r = c.send("GET", &path, &[], None);
                    assert_eq!(r.status, 200, "{}", r.text());
                    reads.fetch_add(1, Ordering::SeqCst);
                }
            })
        })
        .collect();
    for round in 0..5 {
        // Fill the WAL so there is something to checkpoint.
        for _ in 0..5 {
            let r = s.json(
                "PATCH",
                "/items/a",
                r#"{"query":{"limit":-1},"data":{"r":1}}"#,
            );
            assert_eq!(r.status, 200, "{}", r.text());
        }
        assert!(wal_size(&s.db()) > 0, "round {round}: nothing in the WAL");
        let seen = reads.load(Ordering::SeqCst);
        wait_for("reads under way", || {
            reads.load(Ordering::SeqCst) >= seen + 20
        });
        let on = s.cli(&["maintenance:on", "--read-only", "--wait", "20"]);
        assert_eq!(on.code, 0, "round {round}: {on:?}");
        assert!(on.stdout.contains("WAL checkpointed"), "{}", on.stdout);
        assert_eq!(wal_size(&s.db()), 0, "round {round}");
        let seen = reads.load(Ordering::SeqCst);
        wait_for("reads served after on", || {
            reads.load(Ordering::SeqCst) >= seen + 20
        });
        assert_eq!(s.cli(&["maintenance:off"]).code, 0);
    }
    stop.store(true, Ordering::SeqCst);
    for r in readers {
        r.join().unwrap();
    }
}

/// Full ⇄ read-only switches under a mixed load: reads are served exactly while read-only,
/// no write commits while either mode is on, and the bypass writer's writes do commit.
#[test]
fn switching_modes_under_load() {
    let s = Server::start(&["--workers", "8"]);
    seed(&s, "a", r#"[{"n":0},{"n":0}]"#);
    seed(&s, "ops", "{}");
    // Each round's first `on` makes a new secret (a bypass does not outlive `off`); the
    // bypass writer sends the current one.
    let secret = Arc::new(Mutex::new(String::new()));
    let mut secrets = Vec::new();
    // 0 off, 1 full, 2 read-only, 3 changing; the number of the switch in the upper bits.
    let state = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let violations = Arc::new(AtomicUsize::new(0));
    let counts: Arc<[AtomicU64; 3]> = Arc::new(Default::default()); // writes, reads, bypass 200s
    let mut threads = Vec::new();
    for role in 0..5u64 {
        let (state, stop, violations, counts, secret) = (
            state.clone(),
            stop.clone(),
            violations.clone(),
            counts.clone(),
            secret.clone(),
        );
        let addr = s.addr;
        threads.push(std::thread::spawn(move || {
            let mut c = Client::connect(addr);
            while !stop.load(Ordering::SeqCst) {
                let seen = state.load(Ordering::SeqCst);
                let (status, reason) = {
                    let r = match role {
                        0 | 1 => c.send("POST", "/items/a", &[JSON], Some("{}")),
                        2 | 3 => c.send("GET", "/items/a/1", &[], None),
                        _ => c.send(
                            "POST",
                            "/items/ops",
                            &[JSON, (BYPASS, secret.lock().unwrap().clone().as_str())],
                            Some(r#"{"op":1}"#),
                        ),
                    };
                    let reason = r.json()["errors"][0]["extensions"]["reason"]
                        .as_str()
                        .map(str::to_string);
                    (r.status, reason)
                };
                // A request answered while the state changed, or while the CLI ran (3), may
                // see either side; any other must match the mode it ran in.
                let steady = state.load(Ordering::SeqCst) == seen;
                let mode = seen & 3;
                let expected = if mode == 1 {
                    "maintenance"
                } else {
                    "read_only"
                };
                let fine = matches!(status, 200 | 503)
                    && (mode == 3
                        || !steady
                        || match (role, status) {
                            (0 | 1, 200) => mode == 0,
                            (2 | 3, 200) => mode != 1,
                            (0..=3, _) => mode != 0 && reason.as_deref() == Some(expected),
                            (_, 200) => true,
                            // The drain holds the write lock for a moment; a bypassed write
                            // that cannot get it in time is declined, never queued for ever.
                            _ => mode != 0,
                        });
                if !fine {
                    eprintln!("role {role} got {status} {reason:?} in mode {mode}");
                    violations.fetch_add(1, Ordering::SeqCst);
                }
                if status == 200 {
                    let slot = match role {
                        0 | 1 => 0,
                        2 | 3 => 1,
                        _ => 2,
                    };
                    counts[slot].fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    let mut switch = 0u64;
    let mut set = |mode: u64| {
        switch += 1;
        state.store(switch << 2 | mode, Ordering::SeqCst);
    };
    let progress = |slot: usize| {
        let from = counts[slot].load(Ordering::SeqCst);
        wait_for("progress", || {
            counts[slot].load(Ordering::SeqCst) >= from + 15
        });
    };
    progress(0);
    for round in 0..3 {
        for (args, mode) in [
            (
                &["maintenance:on", "--read-only", "--bypass", "--wait", "20"][..],
                2,
            ),
            (&["maintenance:on", "--wait", "20"][..], 1),
            (&["maintenance:on", "--read-only", "--wait", "20"][..], 2),
        ] {
            set(3);
            let on = s.cli(args);
            assert_eq!(on.code, 0, "round {round}: {on:?}");
            if args.contains(&"--bypass") {
                let new = on.bypass_secret();
                *secret.lock().unwrap() = new.clone();
                secrets.push(new);
            }
            assert!(
                on.stdout.contains("bypass:  set"),
                "the bypass was kept: {}",
                on.stdout
            );
            set(mode);
            let frozen = rows_of(&s.db(), "a");
            if mode == 2 {
                progress(1);
            }
            progress(2);
            assert_eq!(rows_of(&s.db(), "a"), frozen, "round {round}, mode {mode}");
        }
        // Leaving maintenance: the state is marked as changing before `off` runs.
        set(3);
        assert_eq!(s.cli(&["maintenance:off"]).code, 0);
        set(0);
        progress(0);
    }
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(violations.load(Ordering::SeqCst), 0);
    let log = s.stderr();
    assert!(log.contains("switched from read-only to full"), "{log}");
    assert!(log.contains("switched from full to read-only"), "{log}");
    for x in &secrets {
        assert!(!log.contains(x.as_str()), "a secret is in the log");
    }
}

#[test]
fn the_bypass_with_the_right_a_wrong_and_no_secret_in_both_modes() {
    let s = Server::start_logging("debug", &["--token", "t"]);
    let auth = ("Authorization", "Bearer t");
    let r = s.req(
        "POST",
        "/collections",
        &[auth, JSON],
        Some(r#"{"collection":"a"}"#),
    );
    assert_eq!(r.status, 200);
    let on = s.cli(&["maintenance:on", "--bypass", "--message", "Upgrading"]);
    let secret = on.bypass_secret();
    assert!(secret.len() >= 32, "{secret}");
    assert!(secret
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    let flag = std::fs::read_to_string(s.flag()).unwrap();
    assert!(!flag.contains(&secret), "the flag holds the secret: {flag}");
    let v: Value = serde_json::from_str(&flag).unwrap();
    assert_eq!(v["bypass_sha256"].as_str().map(str::len), Some(64));
    let st = s.cli(&["maintenance:status", "--json"]);
    assert_eq!(
        serde_json::from_str::<Value>(&st.stdout).unwrap()["bypass"],
        true
    );
    assert!(!st.stdout.contains(&secret));
    let st = s.cli(&["maintenance:status"]);
    assert!(st.stdout.contains("bypass:  set"), "{}", st.stdout);
    assert!(!st.stdout.contains(&secret));

    let right = (BYPASS, secret.as_str());
    let wrong_secret = format!("{}x", &secret[..secret.len() - 1]);
    let wrong = (BYPASS, wrong_secret.as_str());
    let mut committed = 0;
    for (mode, reason) in [("full", "maintenance"), ("read-only", "read_only")] {
        let mut args = vec!["maintenance:on"];
        if mode == "read-only" {
            args.push("--read-only");
        }
        let on = s.cli(&args);
        assert_eq!(on.code, 0, "{on:?}");
        assert!(
            !on.stdout.contains("bypass secret"),
            "a new secret without --bypass"
        );
        for (who, key) in [("no secret", None), ("a wrong secret", Some(wrong))] {
            let with = |extra: &[(&'static str, &'static str)]| {
                let mut h: Vec<(&str, &str)> = extra.to_vec();
                h.extend(key);
                h
            };
            let what = format!("{mode}, {who}");
            let r = s.req("POST", "/items/a", &with(&[auth, JSON]), Some("{}"));
            assert_declined(&format!("{what}: POST"), &r, reason, Some("Upgrading"));
            let r = s.req("PATCH", "/items/a", &with(&[auth, JSON]), Some("[]"));
            assert_declined(&format!("{what}: PATCH"), &r, reason, None);
            let r = s.req("GET", "/items/a", &with(&[auth]), None);
            if mode == "full" {
                assert_declined(&format!("{what}: GET"), &r, reason, None);
            } else {
                assert_eq!(r.status, 200, "{what}: GET");
            }
        }
        // The right secret: as if the flag were absent, auth included.
        let r = s.req("GET", "/items/a", &[right], None);
        assert_eq!(
            (r.status, r.code()),
            (403, "FORBIDDEN".into()),
            "{mode}: no token"
        );
        let r = s.req(
            "POST",
            "/items/a",
            &[right, JSON, ("Authorization", "Bearer x")],
            Some("{}"),
        );
        assert_eq!(
            (r.status, r.code()),
            (401, "INVALID_CREDENTIALS".into()),
            "{mode}"
        );
        let r = s.req(
            "POST",
            "/items/a",
            &[right, auth, JSON],
            Some(r#"{"by":"operator"}"#),
        );
        assert_eq!(r.status, 200, "{mode}: {}", r.text());
        committed += 1;
        let id = r.data()["id"].as_i64().unwrap();
        let r = s.req(
            "PATCH",
            &format!("/items/a/{id}"),
            &[right, auth, JSON],
            Some(r#"{"ok":true}"#),
        );
        assert_eq!(r.status, 200, "{mode}: {}", r.text());
        let r = s.req("GET", &format!("/items/a/{id}"), &[right, auth], None);
        assert_eq!(r.data()["ok"], true);
        let r = s.req("DELETE", "/items/a/999", &[right, auth], None);
        assert_eq!(r.status, 403, "{mode}: routed and checked like any request");
    }
    // --no-bypass ends it; --bypass makes a new secret and the old one stops working.
    assert_eq!(s.cli(&["maintenance:on", "--no-bypass"]).code, 0);
    let r = s.req("POST", "/items/a", &[right, auth, JSON], Some("{}"));
    assert_declined("after --no-bypass", &r, "maintenance", None);
    let newer = s.cli(&["maintenance:on", "--bypass"]).bypass_secret();
    assert_ne!(newer, secret);
    let r = s.req("POST", "/items/a", &[right, auth, JSON], Some("{}"));
    assert_declined("the old secret", &r, "maintenance", None);
    let r = s.req(
        "POST",
        "/items/a",
        &[(BYPASS, newer.as_str()), auth, JSON],
        Some("{}"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    committed += 1;
    let usage = s.cli(&["maintenance:on", "--bypass", "--no-bypass"]);
    assert_eq!(usage.code, 2, "{usage:?}");
    assert_eq!(s.cli(&["maintenance:status", "--bypass"]).code, 2);

    assert_eq!(s.cli(&["maintenance:off"]).code, 0);
    let r = s.req("GET", "/items/a", &[auth], None);
    assert_eq!(r.ids().len(), committed, "{}", r.text());
    // The access lines mark bypassed requests, and neither secret is anywhere in the log
    // (debug level included).
    wait_for("the off transition in the log", || {
        s.stderr().contains("maintenance off: ")
    });
    let log = s.stderr();
    assert!(
        log.lines()
            .any(|l| l.contains("POST /items/a 200") && l.ends_with(" bypassed")),
        "{log}"
    );
    assert!(
        !log.lines()
            .any(|l| l.contains(" 503 ") && l.ends_with(" bypassed")),
        "a declined request marked bypassed: {log}"
    );
    for x in [&secret, &newer, &wrong_secret] {
        assert!(!log.contains(x.as_str()), "a secret is in the log");
    }
}

#[test]
fn a_touched_or_unreadable_flag_is_full_maintenance_without_bypass() {
    let s = Server::start(&[]);
    seed(&s, "a", "{}");
    let secret = s
        .cli(&["maintenance:on", "--read-only", "--bypass"])
        .bypass_secret();
    let good = std::fs::read(s.flag()).unwrap();
    let text = String::from_utf8(good.clone()).unwrap();
    let key = [(BYPASS, secret.as_str())];
    // The good flag: read-only, and the secret opens writes.
    assert_eq!(s.get("/items/a").status, 200);
    assert_eq!(
        s.req("POST", "/items/a", &[key[0], JSON], Some("{}"))
            .status,
        200
    );
    let flag = s.flag();
    let write = |bytes: &[u8]| std::fs::write(&flag, bytes).unwrap();
    let mut oversized = good.clone();
    oversized.truncate(oversized.len() - 2);
    oversized.extend(format!(r#","pad":"{}"}}"#, "x".repeat(70_000)).bytes());
    #[rustfmt::skip]
    let cases: [(&str, &dyn Fn()); 7] = [
        ("touched", &|| write(b"")),
        ("cut short", &|| write(&good[..good.len() - 3])),
        ("not UTF-8", &|| { let mut b = good.clone(); b.insert(1, 0xff); write(&b) }),
        ("over 64 KiB", &|| write(&oversized)),
        ("a directory", &|| std::fs::create_dir(&flag).unwrap()),
        ("a FIFO", &|| assert!(Command::new("mkfifo").arg(&flag).status().unwrap().success())),
        ("a link to a good copy", &|| {
            let copy = flag.with_extension("copy");
            std::fs::write(&copy, &good).unwrap();
            std::os::unix::fs::symlink(&copy, &flag).unwrap();
        }),
    ];
    for (what, make) in cases {
        assert_eq!(s.cli(&["maintenance:off"]).code, 0);
        make();
        assert_declined(what, &s.get("/items/a"), "maintenance", None);
        assert_declined(
            what,
            &s.req("GET", "/items/a", &key, None),
            "maintenance",
            None,
        );
        let r = s.req("POST", "/items/a", &[key[0], JSON], Some("{}"));
        assert_declined(what, &r, "maintenance", None);
        let st = s.cli(&["maintenance:status", "--json"]);
        assert_eq!(st.code, 3, "{what}");
        let v: Value = serde_json::from_str(&st.stdout).unwrap();
        assert_eq!(
            (&v["mode"], &v["bypass"]),
            (&"full".into(), &false.into()),
            "{what}"
        );
    }
    // Readable content with a mode that is not exactly `read-only` is full maintenance; its
    // bypass, readable too, still opens it.
    assert_eq!(s.cli(&["maintenance:off"]).code, 0);
    write(text.replace("read-only", "read_only").as_bytes());
    assert_declined("mode misspelt", &s.get("/items/a"), "maintenance", None);
    assert_eq!(s.req("GET", "/items/a", &key, None).status, 200);
    assert_eq!(s.cli(&["maintenance:off"]).code, 0);
    let _ = std::fs::remove_file(flag.with_extension("copy"));
    assert_eq!(s.get("/items/a").status, 200);
}
