//! The App's shell (SPEC 11) and what clients can ask of maintenance (SPEC 5.5): `/` and
//! `/admin/` served with their security headers, without a token and during maintenance;
//! `GET /server/maintenance`; `maintenance:announce`.

use crate::common::{cli, Server};
use serde_json::{json, Value};

fn state(s: &Server) -> Value {
    let r = s.get("/server/maintenance");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("cache-control"), Some("no-store"));
    r.data()
}

#[test]
fn the_app_is_served_without_a_token_and_during_maintenance() {
    let s = Server::start(&["--token", "secret-token"]);
    let root = s.get("/");
    assert_eq!(root.status, 302);
    assert_eq!(root.header("location"), Some("/admin/"));
    assert_eq!(s.get("/admin").header("location"), Some("/admin/"));
    let page = s.get("/admin/");
    assert_eq!(page.status, 200, "{}", page.text());
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains("default-src 'self'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("referrer-policy"), Some("no-referrer"));
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    let tag = page.header("etag").unwrap().to_string();
    // The page names its script and style by relative links, which the server serves.
    let html = page.text();
    assert!(
        !html.contains("<script>") && html.contains("type=\"module\""),
        "{html}"
    );
    for asset in ["app.js", "app.css"] {
        let r = s.get(&format!("/admin/{asset}"));
        assert_eq!(r.status, 200, "{asset}");
        assert!(!r.body.is_empty(), "{asset}");
    }
    assert!(s
        .get("/admin/app.js")
        .header("content-type")
        .unwrap()
        .starts_with("text/javascript"));
    // Revalidation: the same version is a 304 without a body.
    let again = s.req("GET", "/admin/", &[("If-None-Match", &tag)], None);
    assert_eq!((again.status, again.body.len()), (304, 0));
    // Unknown files are 404; other methods are routed as anywhere (405).
    for (method, path, status) in [
        ("GET", "/admin/nope.js", 404),
        ("GET", "/admin/..%2fCargo.toml", 404),
        ("GET", "/admin/a/b", 404),
        ("POST", "/admin/", 405),
        ("DELETE", "/", 405),
    ] {
        assert_eq!(
            s.req(method, path, &[], None).status,
            status,
            "{method} {path}"
        );
    }
    // The API itself still needs the token.
    assert_eq!(s.get("/collections").status, 403);
    // During maintenance the App and `/` are served; every other method on `/` is closed.
    std::fs::write(s.flag(), br#"{"message":"Back soon"}"#).unwrap();
    assert_eq!(s.get("/admin/").status, 200);
    assert_eq!(s.get("/admin/app.js").status, 200);
    assert_eq!(s.get("/").status, 302);
    assert_eq!(s.req("HEAD", "/admin/", &[], None).status, 200);
    assert_eq!(s.req("POST", "/", &[], None).status, 503);
    assert_eq!(s.get("/collections").status, 503);
}

#[test]
fn server_maintenance_shows_the_state_and_never_the_bypass() {
    let s = Server::start(&["--token", "secret-token"]);
    let off = state(&s);
    assert_eq!(
        off,
        json!({"state": "off", "message": null, "since": null, "retry_after": null,
               "announcement": null})
    );
    let on = s.cli(&["maintenance:on", "--message", "Upgrading", "--retry", "120"]);
    assert_eq!(on.code, 0, "{on:?}");
    let full = state(&s);
    assert_eq!(full["state"], "on");
    assert_eq!(full["message"], "Upgrading");
    assert_eq!(full["retry_after"], 120);
    assert!(full["since"].as_str().is_some(), "{full}");
    let ro = s.cli(&["maintenance:on", "--read-only", "--bypass"]);
    assert_eq!(ro.code, 0, "{ro:?}");
    let read_only = state(&s);
    assert_eq!(read_only["state"], "read_only");
    assert_eq!(read_only["message"], "Upgrading");
    assert!(!read_only.to_string().contains("bypass"), "{read_only}");
    // HEAD works like GET, without a body.
    let head = s.req("HEAD", "/server/maintenance", &[], None);
    assert_eq!((head.status, head.body.len()), (200, 0));
    assert_eq!(s.cli(&["maintenance:off"]).code, 0);
    assert_eq!(state(&s)["state"], "off");
    // A touched flag (no content) is full maintenance with the default message.
    std::fs::write(s.flag(), b"").unwrap();
    let touched = state(&s);
    assert_eq!(touched["state"], "on");
    assert!(touched["message"].as_str().unwrap().contains("maintenance"));
    std::fs::remove_file(s.flag()).unwrap();
    assert_eq!(state(&s)["state"], "off");
}

#[test]
fn maintenance_is_announced_ahead_and_cleared() {
    let s = Server::start(&[]);
    let a = s.cli(&[
        "maintenance:announce",
        "--at",
        "2099-01-02T03:04:05Z",
        "--until",
        "2099-01-02T05:00:00+01:00",
        "--message",
        "Database upgrade <b>",
    ]);
    assert_eq!(a.code, 0, "{a:?}");
    assert!(a.stdout.contains("2099-01-02T03:04:05Z"), "{}", a.stdout);
    let shown = state(&s)["announcement"].clone();
    assert_eq!(shown["starts_at"], "2099-01-02T03:04:05Z");
    assert_eq!(shown["message"], "Database upgrade <b>");
    assert!(shown["ends_at"].as_str().is_some(), "{shown}");
    // It changes nothing for requests.
    assert_eq!(s.get("/collections").status, 200);
    let status = s.cli(&["maintenance:status", "--json"]);
    assert_eq!(status.code, 0, "{status:?}");
    let json: Value = serde_json::from_str(status.stdout.trim()).unwrap();
    assert_eq!(json["announcement"]["starts_at"], "2099-01-02T03:04:05Z");
    assert!(s.cli(&["maintenance:status"]).stdout.contains("announced"));
    // `off` keeps an announcement still ahead; it removes one whose start has passed.
    assert_eq!(s.cli(&["maintenance:off"]).code, 0);
    assert!(state(&s)["announcement"].is_object());
    let past = s.cli(&["maintenance:announce", "--at", "2020-01-01T00:00:00+01:00"]);
    assert_eq!(past.code, 0, "{past:?}");
    assert_eq!(
        state(&s)["announcement"]["starts_at"],
        "2020-01-01T00:00:00+01:00"
    );
    let off = s.cli(&["maintenance:off"]);
    assert!(
        off.stdout.contains("Removed the announcement"),
        "{}",
        off.stdout
    );
    assert_eq!(state(&s)["announcement"], Value::Null);
    // Relative times, --clear, and bad input.
    assert_eq!(s.cli(&["maintenance:announce", "--at", "+30m"]).code, 0);
    let soon = state(&s)["announcement"]["starts_at"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(soon.ends_with('Z'), "{soon}");
    assert_eq!(s.cli(&["maintenance:announce", "--clear"]).code, 0);
    assert_eq!(state(&s)["announcement"], Value::Null);
    for bad in [
        &["maintenance:announce"][..],
        &["maintenance:announce", "--at", "tomorrow"],
        &["maintenance:announce", "--at", "+5x"],
        &[
            "maintenance:announce",
            "--at",
            "+30m",
            "--until",
            "2020-01-01T00:00:00Z",
        ],
        &["maintenance:announce", "--clear", "--at", "+1h"],
        &["maintenance:on", "--at", "+1h"],
    ] {
        let r = s.cli(bad);
        assert_eq!(r.code, 2, "{bad:?}: {r:?}");
    }
    // Content that is not a valid announcement is none, never an error.
    let path = s.root.join("logs/maintenance-announcement");
    for junk in [&b"not json"[..], br#"{"starts_at":5}"#, b""] {
        std::fs::write(&path, junk).unwrap();
        assert_eq!(state(&s)["announcement"], Value::Null);
    }
    std::fs::remove_file(&path).unwrap();
    std::fs::create_dir(&path).unwrap();
    assert_eq!(state(&s)["announcement"], Value::Null);
    assert_eq!(cli(&s.root, &["maintenance:status"]).code, 0);
}
