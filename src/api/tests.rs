//! The order of checks, in-process over hand-built requests: one line per case.

use super::*;
use crate::wire::BodyError;

const TOKEN: &str = "Bearer t";
const WRONG: &str = "Bearer nope";
const ORIGIN: &str = "http://app.test";

struct Fixture {
    app: App,
    session: Session,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("logs")).unwrap();
    let config = ServerConfig {
        root: dir.path().to_path_buf(),
        host: [127, 0, 0, 1].into(),
        port: 0,
        db: crate::storage::Database::File(dir.path().join("test.db")),
        workers: 4,
        token: Some("t".into()),
        cors_origin: Some(ORIGIN.into()),
        max_body: 64,
        allow_public_without_token: false,
        metrics: true,
    };
    let flag = crate::layout::flag_path(dir.path());
    let mut f = Fixture {
        app: App::new(config, flag, false),
        session: Session::default(),
        _dir: dir,
    };
    for (target, body) in [
        ("/collections", r#"{"collection":"a"}"#),
        ("/items/a", r#"{"t":"x"}"#),
    ] {
        let r = f.send("POST", target, &[("Authorization", TOKEN), JSON], body);
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    }
    f
}

const JSON: (&str, &str) = ("Content-Type", "application/json");
const TEXT: (&str, &str) = ("Content-Type", "text/plain");

impl Fixture {
    fn request(method: &str, target: &str, headers: &[(&str, &str)], body: &str) -> Request {
        let mut req = Request::new(method, target);
        for (name, value) in headers {
            if *name == "Content-Length" {
                req.body_length = value.parse().ok();
            } else {
                req.headers.push((name.to_string(), value.to_string()));
            }
        }
        if req.body_length.is_none() && !body.is_empty() {
            req.body_length = Some(body.len());
        }
        req
    }

    fn send(
        &mut self,
        method: &str,
        target: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Response {
        let req = Fixture::request(method, target, headers, body);
        self.app
            .handle(&mut self.session, &req, &mut body.as_bytes(), "test")
    }

    fn flag(&self, on: bool) {
        if on {
            std::fs::write(&self.app.gate.flag, b"").unwrap();
        } else {
            let _ = std::fs::remove_file(&self.app.gate.flag);
        }
    }
}

fn code(r: &Response) -> String {
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap_or_default();
    v["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

/// Flag on?, method, target, headers, body, expected status, expected code.
type Case<'a> = (
    bool,
    &'a str,
    &'a str,
    &'a [(&'a str, &'a str)],
    &'a str,
    u16,
    &'a str,
);

#[test]
fn first_matching_check_wins() {
    let auth = ("Authorization", TOKEN);
    let wrong = ("Authorization", WRONG);
    let origin = ("Origin", ORIGIN);
    let preflight = ("Access-Control-Request-Method", "POST");
    let big = ("Content-Length", "1000");
    #[rustfmt::skip]
    let cases: &[Case] = &[
        // flag, method, target, headers, body, status, code
        (true,  "GET",     "/nope",            &[wrong],                   "",     503, "SERVICE_UNAVAILABLE"),
        (true,  "HEAD",    "/items/a",         &[auth],                    "",     503, "SERVICE_UNAVAILABLE"),
        (true,  "GET",     "/server/%70ing",   &[],                        "",     503, "SERVICE_UNAVAILABLE"),
        (true,  "OPTIONS", "/items/a",         &[origin, preflight],       "",     204, ""),
        (true,  "GET",     "/server/ping",     &[wrong],                   "",     200, ""),
        (false, "GET",     "/nope",            &[wrong],                   "",     401, "INVALID_CREDENTIALS"),
        (false, "GET",     "/nope",            &[],                        "",     404, "ROUTE_NOT_FOUND"),
        (false, "GET",     "/server/%70ing",   &[],                        "",     404, "ROUTE_NOT_FOUND"),
        (false, "PUT",     "/items/a",         &[],                        "",     405, "METHOD_NOT_ALLOWED"),
        (false, "POST",    "/items/a/1",       &[],                        "",     405, "METHOD_NOT_ALLOWED"),
        (false, "OPTIONS", "/items/a",         &[],                        "",     204, ""),
        (false, "GET",     "/items/a",         &[],                        "",     403, "FORBIDDEN"),
        (false, "POST",    "/items/a",         &[TEXT],                    "x",    403, "FORBIDDEN"),
        (false, "POST",    "/items/a",         &[auth, TEXT, big],         "x",    415, "UNSUPPORTED_MEDIA_TYPE"),
        (false, "POST",    "/items/nope",      &[auth, JSON, big],         "x",    413, "CONTENT_TOO_LARGE"),
        (false, "POST",    "/items/nope",      &[auth, JSON],              "{bad", 403, "FORBIDDEN"),
        (false, "PATCH",   "/items/a/999",     &[auth, JSON],              "{bad", 403, "FORBIDDEN"),
        (false, "PATCH",   "/items/a/x",       &[auth, JSON],              "{bad", 403, "FORBIDDEN"),
        (false, "PATCH",   "/items/a/1",       &[auth, JSON],              "{bad", 400, "INVALID_PAYLOAD"),
        (false, "GET",     "/items/nope?limit=x", &[auth],                 "",     403, "FORBIDDEN"),
        (false, "GET",     "/items/a/999?limit=x", &[auth],                "",     403, "FORBIDDEN"),
        (false, "GET",     "/items/a?limit=x", &[auth],                    "",     400, "INVALID_QUERY"),
        (false, "DELETE",  "/items/a/999",     &[auth],                    "",     403, "FORBIDDEN"),
        (false, "GET",     "/items/a/1",       &[auth],                    "",     200, ""),
    ];
    let mut f = fixture();
    for (flag, method, target, headers, body, status, want) in cases {
        f.flag(*flag);
        let r = f.send(method, target, headers, body);
        let case = format!("{method} {target} {headers:?} {body:?} (flag {flag})");
        assert_eq!(
            r.status,
            *status,
            "{case}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(code(&r), *want, "{case}");
    }
}

/// A body that panics when read: the handler panics mid-request.
struct Exploding;

impl BodySource for Exploding {
    fn read_body(&mut self, _limit: usize) -> Result<Vec<u8>, BodyError> {
        panic!("test: the body source exploded")
    }
}

#[test]
fn a_panic_is_a_500_with_cors_and_request_id() {
    let mut f = fixture();
    let req = Fixture::request(
        "POST",
        "/items/a",
        &[("Authorization", TOKEN), JSON, ("Origin", ORIGIN)],
        "{}",
    );
    let r = f.app.handle(&mut f.session, &req, &mut Exploding, "req-1");
    assert_eq!(r.status, 500);
    assert_eq!(code(&r), "INTERNAL_SERVER_ERROR");
    let header = |name: &str| {
        r.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        header("Access-Control-Allow-Origin").as_deref(),
        Some(ORIGIN)
    );
    assert_eq!(header("X-Request-Id").as_deref(), Some("req-1"));
    // The worker lives on: the next request is served.
    let r = f.send("GET", "/items/a/1", &[("Authorization", TOKEN)], "");
    assert_eq!(r.status, 200);
}

#[test]
fn a_replaced_database_file_is_served_without_a_maintenance_window() {
    let mut f = fixture();
    let auth = ("Authorization", TOKEN);
    assert_eq!(f.send("GET", "/items/a/1", &[auth], "").status, 200);
    // As an operator would: drain (the WAL is checkpointed into the file), then replace the
    // file with another database (a restored backup, here an empty one).
    let db = f.app.config.db.file().unwrap().to_path_buf();
    crate::storage::drain(&db, std::time::Duration::from_secs(5), || ()).unwrap();
    let other = db.with_extension("new");
    drop(crate::storage::Sqlite::open(&other).unwrap());
    std::fs::rename(&other, &db).unwrap();
    let r = f.send("GET", "/items/a/1", &[auth], "");
    assert_eq!(r.status, 403, "the old, deleted file is still served");
}

/// Method, target, headers, body, expected status, expected code.
type ReadOnlyCase<'a> = (
    &'a str,
    &'a str,
    &'a [(&'a str, &'a str)],
    &'a str,
    u16,
    &'a str,
);

/// Read-only mode and the bypass, in-process: which requests the flag's content lets through.
#[test]
fn read_only_and_bypass_decide_before_routing_and_auth() {
    use crate::maintenance::{write_flag, Decision, Mode, Notice};
    use crate::secret::Digest;
    let auth = ("Authorization", TOKEN);
    let wrong = ("Authorization", WRONG);
    let key = ("X-Maintenance-Bypass", "open sesame");
    let bad_key = ("X-Maintenance-Bypass", "open sesame!");
    let mut f = fixture();
    let digest = Digest::of("open sesame");
    let read_only = Notice::new(Some("Backup".into()), None, None).with(Mode::ReadOnly, None);
    write_flag(&f.app.gate.flag, &read_only).unwrap();
    #[rustfmt::skip]
    let cases: &[ReadOnlyCase] = &[
        ("GET",     "/items/a/1",   &[auth],        "",       200, ""),
        ("HEAD",    "/items/a/1",   &[auth],        "",       200, ""),
        ("OPTIONS", "/items/a",     &[],            "",       204, ""),
        ("GET",     "/nope",        &[],            "",       404, "ROUTE_NOT_FOUND"),
        ("GET",     "/items/a/1",   &[wrong],       "",       401, "INVALID_CREDENTIALS"),
        ("GET",     "/items/a/1",   &[],            "",       403, "FORBIDDEN"),
        ("POST",    "/items/a",     &[auth, JSON],  "{}",     503, "SERVICE_UNAVAILABLE"),
        ("POST",    "/nope",        &[wrong],       "",       503, "SERVICE_UNAVAILABLE"),
        ("PUT",     "/items/a",     &[],            "",       503, "SERVICE_UNAVAILABLE"),
        ("BREW",    "/",            &[],            "",       503, "SERVICE_UNAVAILABLE"),
        ("POST",    "/server/ping", &[],            "",       503, "SERVICE_UNAVAILABLE"),
        ("DELETE",  "/items/a/1",   &[auth, key],   "",       503, "SERVICE_UNAVAILABLE"),
    ];
    for (method, target, headers, body, status, want) in cases {
        let r = f.send(method, target, headers, body);
        let case = format!("read-only: {method} {target} {headers:?}");
        assert_eq!(
            r.status,
            *status,
            "{case}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(code(&r), *want, "{case}");
        if *status == 503 {
            let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
            assert_eq!(
                v["errors"][0]["extensions"]["reason"], "read_only",
                "{case}"
            );
            assert_eq!(v["errors"][0]["message"], "Backup", "{case}");
        }
    }
    for mode in [Mode::Full, Mode::ReadOnly] {
        write_flag(&f.app.gate.flag, &read_only.with(mode, Some(digest))).unwrap();
        let r = f.send(
            "PATCH",
            "/items/a/1",
            &[auth, JSON, bad_key],
            r#"{"t":"y"}"#,
        );
        assert_eq!(r.status, 503, "{mode}: a wrong secret");
        assert!(!r.bypassed);
        let r = f.send("PATCH", "/items/a/1", &[wrong, JSON, key], r#"{"t":"y"}"#);
        assert_eq!(
            (r.status, code(&r).as_str()),
            (401, "INVALID_CREDENTIALS"),
            "{mode}"
        );
        assert!(r.bypassed, "{mode}: the access line marks it");
        let r = f.send(
            "PATCH",
            "/items/a/1",
            &[auth, JSON, key],
            &format!(r#"{{"t":"{mode}"}}"#),
        );
        assert_eq!(
            r.status,
            200,
            "{mode}: {}",
            String::from_utf8_lossy(&r.body)
        );
        assert!(r.bypassed);
    }
    // The write gate compares with the flag as it is now: the secret of a flag that no longer
    // sets it opens nothing, whatever the session remembers.
    write_flag(&f.app.gate.flag, &read_only).unwrap();
    let mut notices = crate::maintenance::NoticeCache::default();
    let mut write_gate = |presented: Option<&Digest>| {
        f.app
            .gate
            .decide(&mut notices, crate::maintenance::Intent::Write, presented)
    };
    assert!(matches!(write_gate(Some(&digest)), Decision::Closed(_)));
    write_flag(&f.app.gate.flag, &read_only.with(Mode::Full, Some(digest))).unwrap();
    assert_eq!(write_gate(Some(&digest)), Decision::Bypassed);
    assert!(matches!(write_gate(None), Decision::Closed(_)));
    f.flag(false);
    assert_eq!(write_gate(None), Decision::Open);
    let r = f.send("GET", "/items/a/1", &[auth], "");
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&r.body).unwrap()["data"]["t"],
        "read-only"
    );
}

#[test]
fn preflight_allows_the_bypass_header() {
    let mut f = fixture();
    let r = f.send(
        "OPTIONS",
        "/items/a",
        &[
            ("Origin", ORIGIN),
            ("Access-Control-Request-Method", "POST"),
        ],
        "",
    );
    let allowed = r
        .headers
        .iter()
        .find(|(n, _)| *n == "Access-Control-Allow-Headers")
        .map(|(_, v)| v.as_str());
    assert_eq!(
        allowed,
        Some("authorization, content-type, x-maintenance-bypass")
    );
}

#[test]
fn one_group_decides_the_gate_for_each_write() {
    let mut f = fixture();
    let good = crate::secret::Digest::of("the secret");
    let flag = format!(r#"{{"bypass_sha256":"{}"}}"#, good.to_hex());
    std::fs::write(&f.app.gate.flag, flag).unwrap();
    let app = &f.app;
    let create = |w: &crate::storage::Writer, id: i64| -> Result<(), ApiError> {
        w.create_items("a", &[(Some(id), serde_json::Map::new())])?;
        Ok(())
    };
    let (go, held) = std::sync::mpsc::channel::<()>();
    let (running, started) = std::sync::mpsc::channel::<()>();
    let results: Vec<(i64, bool)> = std::thread::scope(|s| {
        // The leader carries the secret and holds its work until four more writes queued.
        let leader = s.spawn(|| {
            let mut notices = crate::maintenance::NoticeCache::default();
            app.groups.write(&mut notices, Some(&good), 0, move |w| {
                running.send(()).unwrap();
                held.recv().unwrap();
                create(w, 100)
            })
        });
        started.recv().unwrap();
        let members: Vec<_> = [(101, true), (102, false), (103, true), (104, false)]
            .into_iter()
            .map(|(id, bypassed)| {
                let good = &good;
                s.spawn(move || {
                    let mut notices = crate::maintenance::NoticeCache::default();
                    let bypass = bypassed.then_some(good);
                    let r = app
                        .groups
                        .write(&mut notices, bypass, 0, move |w| create(w, id));
                    (id, r.is_ok())
                })
            })
            .collect();
        while app.groups.queued() < 4 {
            std::thread::yield_now();
        }
        go.send(()).unwrap();
        let mut out = vec![(100, leader.join().unwrap().is_ok())];
        out.extend(members.into_iter().map(|m| m.join().unwrap()));
        out
    });
    assert_eq!(
        results,
        [
            (100, true),
            (101, true),
            (102, false),
            (103, true),
            (104, false)
        ]
    );
    // All five were in one group, and only the writes with the secret are stored.
    assert_eq!(app.metrics.group_sizes()[3], 1, "one group of 5 to 8");
    std::fs::remove_file(&app.gate.flag).unwrap();
    let stored: Vec<i64> = (100..=104)
        .filter(|id| {
            let storage = f.session.storage(&f.app).unwrap();
            storage.read_item("a", *id).unwrap().is_some()
        })
        .collect();
    assert_eq!(stored, [100, 101, 103]);
}

/// SPEC 8: a lone writer does not wait for company: with no group in progress a write leads
/// its own at once, on its own thread, and commits as a group of one.
#[test]
fn a_lone_write_leads_its_own_group_on_its_own_thread() {
    let f = fixture();
    let me = std::thread::current().id();
    let before = f.app.metrics.group_sizes()[0];
    let mut notices = crate::maintenance::NoticeCache::default();
    let ran_on = f
        .app
        .groups
        .write(&mut notices, None, 0, |_| Ok(std::thread::current().id()))
        .unwrap();
    assert_eq!(ran_on, me);
    assert_eq!(
        f.app.metrics.group_sizes()[0],
        before + 1,
        "one more group of one"
    );
    assert_eq!(f.app.groups.queued(), 0);
}
