//! `/server/metrics`: the Prometheus exposition, read by a real Prometheus parser (`promtool
//! check metrics`, from Debian's `prometheus` package), moving with the requests made and
//! following the maintenance flag.

use crate::common::Server;
use std::io::Write;
use std::process::{Command, Stdio};

const AUTH: (&str, &str) = ("Authorization", "Bearer t");
const JSON: (&str, &str) = ("Content-Type", "application/json");

/// The exposition, after promtool accepted it (its parser and its lint both).
fn scrape(s: &Server) -> String {
    let r = s.req("GET", "/server/metrics", &[AUTH], None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        r.header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4"),
        "{:?}",
        r.header("content-type")
    );
    let text = r.text();
    let mut promtool = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed (Debian's prometheus package; .ci/run installs it)");
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = promtool.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    text
}

/// The value of one series (name with its labels, as written), or 0 when it is absent.
fn value(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .map_or(0.0, |v| v.trim().parse().unwrap())
}

const ITEM_200: &str =
    r#"directus_http_requests_total{method="GET",route="/items/:collection/:id",status="200"}"#;
const CREATE_503: &str =
    r#"directus_http_requests_total{method="POST",route="/items/:collection",status="503"}"#;

#[test]
fn counters_move_with_requests_and_the_gauges_follow_the_flag() {
    let s = Server::start(&["--metrics", "--token", "t"]);
    let headers = [AUTH, JSON];
    assert_eq!(
        s.req(
            "POST",
            "/collections",
            &headers,
            Some(r#"{"collection":"a"}"#)
        )
        .status,
        200
    );
    assert_eq!(
        s.req("POST", "/items/a", &headers, Some(r#"{"t":"x"}"#))
            .status,
        200
    );
    let before = scrape(&s);
    for _ in 0..3 {
        assert_eq!(s.req("GET", "/items/a/1", &[AUTH], None).status, 200);
    }
    assert_eq!(s.req("GET", "/no/such/route", &[AUTH], None).status, 404);
    let after = scrape(&s);
    assert_eq!(value(&after, ITEM_200) - value(&before, ITEM_200), 3.0);
    let unmatched = r#"directus_http_requests_total{method="GET",route="unmatched",status="404"}"#;
    assert_eq!(value(&after, unmatched), 1.0);
    assert_eq!(
        value(&after, r#"directus_writes_total{outcome="committed"}"#),
        2.0
    );
    assert!(value(&after, "directus_write_group_size_count") >= 1.0);
    assert!(value(&after, "directus_resident_memory_bytes") > 1e6);
    assert!(value(&after, "directus_start_time_seconds") > 1.7e9);
    assert_eq!(value(&after, "directus_maintenance_on"), 0.0);

    // The token is needed as anywhere else.
    assert_eq!(s.get("/server/metrics").status, 403);
    let wrong = s.req(
        "GET",
        "/server/metrics",
        &[("Authorization", "Bearer no")],
        None,
    );
    assert_eq!(wrong.status, 401);

    // Read-only: the gauges say so, a declined create is counted under its route.
    assert_eq!(s.cli(&["maintenance:on", "--read-only"]).code, 0);
    assert_eq!(s.req("POST", "/items/a", &headers, Some("{}")).status, 503);
    let ro = scrape(&s);
    assert_eq!(value(&ro, "directus_maintenance_on"), 1.0);
    assert_eq!(
        value(&ro, r#"directus_maintenance_mode{mode="read-only"}"#),
        1.0
    );
    assert_eq!(value(&ro, r#"directus_maintenance_mode{mode="full"}"#), 0.0);
    assert_eq!(value(&ro, CREATE_503), 1.0);
    assert!(value(&ro, "directus_maintenance_declined_total") >= 1.0);

    // Full maintenance: everything else is 503, the metrics still answer.
    assert_eq!(s.cli(&["maintenance:on"]).code, 0);
    assert_eq!(s.req("GET", "/items/a/1", &[AUTH], None).status, 503);
    let full = scrape(&s);
    assert_eq!(
        value(&full, r#"directus_maintenance_mode{mode="full"}"#),
        1.0
    );
    assert_eq!(s.cli(&["maintenance:off"]).code, 0);
    assert_eq!(value(&scrape(&s), "directus_maintenance_on"), 0.0);
}

#[test]
fn without_the_flag_there_is_no_metrics_route() {
    let s = Server::start(&[]);
    let r = s.get("/server/metrics");
    assert_eq!((r.status, r.code().as_str()), (404, "ROUTE_NOT_FOUND"));
    std::fs::write(s.flag(), b"").unwrap();
    assert_eq!(
        s.get("/server/metrics").status,
        503,
        "not exempt when not served"
    );
}
