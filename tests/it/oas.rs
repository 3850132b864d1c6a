//! `GET /server/specs/oas` against the real server: the document is served like any route
//! (token, maintenance, `HEAD`), and it describes the answers the server really gives. The
//! regression cases that schemathesis found (scripts/test-oas.sh) are kept here as plain tests.

use crate::common::{seed, Server};
use serde_json::Value;

const AUTH: (&str, &str) = ("Authorization", "Bearer t");

/// (method, path template, target, content type or "", body, status the server answers).
type Case<'a> = (&'a str, &'a str, &'a str, &'a str, Option<&'a str>, u16);

#[test]
fn the_document_is_served_with_the_token_and_closed_during_maintenance() {
    let s = Server::start(&["--token", "t"]);
    let r = s.req("GET", "/server/specs/oas", &[AUTH], None);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.header("content-type"), Some("application/json"));
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/items/{collection}/{id}"]["patch"].is_object());
    // The same bytes every time: the document is built once.
    let again = s.req("GET", "/server/specs/oas?access_token=t", &[], None);
    assert_eq!(again.body, r.body);

    let head = s.client().send("HEAD", "/server/specs/oas", &[AUTH], None);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());

    let missing = s.get("/server/specs/oas");
    assert_eq!(
        (missing.status, missing.code().as_str()),
        (403, "FORBIDDEN")
    );
    let wrong = s.req(
        "GET",
        "/server/specs/oas",
        &[("Authorization", "Bearer x")],
        None,
    );
    assert_eq!(wrong.status, 401);
    let post = s.req("POST", "/server/specs/oas", &[AUTH], None);
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD, OPTIONS"));

    std::fs::write(s.flag(), br#"{"retry_after":60}"#).unwrap();
    let closed = s.req("GET", "/server/specs/oas", &[AUTH], None);
    assert_eq!(closed.status, 503);
    assert_eq!(closed.header("retry-after"), Some("60"));
    assert_eq!(closed.code(), "SERVICE_UNAVAILABLE");
}

/// The document's own claims, checked against real answers of a few operations: the success
/// status is documented, and so is every error status the request gets.
#[test]
fn real_answers_have_documented_statuses() {
    let s = Server::start(&["--token", "t"]);
    seed_with_token(&s);
    let doc = s.req("GET", "/server/specs/oas", &[AUTH], None).json();
    #[rustfmt::skip]
    let cases: &[Case] = &[
        ("get", "/items/{collection}", "/items/articles?limit=1&meta=*", "", None, 200),
        ("get", "/items/{collection}", "/items/articles?limit=-2", "", None, 400),
        ("get", "/items/{collection}", "/items/nope", "", None, 403),
        ("get", "/items/{collection}/{id}", "/items/articles/x", "", None, 403),
        ("post", "/items/{collection}", "/items/articles", "text/plain", Some("{}"), 415),
        ("post", "/items/{collection}", "/items/articles", "application/json", Some("[1]"), 400),
        ("delete", "/items/{collection}/{id}", "/items/articles/1", "", None, 204),
        ("get", "/server/health", "/server/health", "", None, 200),
        ("options", "/collections", "/collections", "", None, 204),
    ];
    for (method, template, target, content_type, body, status) in cases {
        let mut headers = vec![AUTH];
        if !content_type.is_empty() {
            headers.push(("Content-Type", content_type));
        }
        let r = s.req(&method.to_uppercase(), target, &headers, *body);
        assert_eq!(r.status, *status, "{method} {target}: {}", r.text());
        let responses = &doc["paths"][template][method]["responses"];
        assert!(
            responses.get(status.to_string()).is_some(),
            "{status} of {method} {template} is not documented"
        );
    }
}

fn seed_with_token(s: &Server) {
    for (target, body) in [
        ("/collections", r#"{"collection":"articles"}"#),
        ("/items/articles", r#"[{"title":"a"},{"title":"b"}]"#),
    ] {
        let r = s.req(
            "POST",
            target,
            &[AUTH, ("Content-Type", "application/json")],
            Some(body),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }
}

/// Without a token the document is served to anyone (loopback), like every route.
#[test]
fn without_a_token_it_needs_none() {
    let s = Server::start(&[]);
    seed(&s, "a", r#"{"t":1}"#);
    let r = s.get("/server/specs/oas/");
    assert_eq!(r.status, 200);
    let doc: Value = r.json();
    assert!(doc["components"]["securitySchemes"]["bearerAuth"].is_object());
}

// Regression cases found by schemathesis. Each is what the document promised and the server
// did not do (or the reverse), reduced to plain requests.

/// JSON Schema's `integer` includes `1.0` (and JavaScript clients send what they compute), so
/// an id, a key or a query count written with a zero fraction is that integer; it was 400
/// `"id" must be an integer`. A real fraction is still refused.
#[test]
fn integral_numbers_written_as_floats_are_integers_in_bodies() {
    let s = Server::start(&[]);
    seed(&s, "a", r#"[{"t":"x"},{"t":"y"},{"t":"z"}]"#);
    let created = s.json("POST", "/items/a", r#"{"id":40.0,"t":"w"}"#);
    assert_eq!(created.status, 200, "{}", created.text());
    assert_eq!(created.data()["id"], 40);
    let r = s.json("PATCH", "/items/a/40", r#"{"id":4e1,"t":"v"}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s.json("PATCH", "/items/a", r#"[{"id":1.0,"t":"u"}]"#);
    assert_eq!((r.status, r.ids()), (200, vec![1]), "{}", r.text());
    let r = s.json("PATCH", "/items/a", r#"{"keys":[2.0],"data":{"t":"s"}}"#);
    assert_eq!((r.status, r.ids()), (200, vec![2]), "{}", r.text());
    let r = s.json(
        "PATCH",
        "/items/a",
        r#"{"query":{"limit":1.0,"offset":0.0,"sort":"-id"},"data":{"t":"q"}}"#,
    );
    assert_eq!((r.status, r.ids()), (200, vec![40]), "{}", r.text());
    let r = s.json("DELETE", "/items/a", "[3.0]");
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(s.get("/items/a?fields=id").ids(), vec![1, 2, 40]);

    for (method, target, body) in [
        ("POST", "/items/a", r#"{"id":1.5}"#),
        ("PATCH", "/items/a/40", r#"{"id":40.5}"#),
        ("DELETE", "/items/a", "[1.5]"),
        ("POST", "/items/a", r#"{"id":1e300}"#),
        ("PATCH", "/items/a", r#"{"query":{"limit":1.5},"data":{}}"#),
    ] {
        let r = s.json(method, target, body);
        assert_eq!(r.status, 400, "{method} {target} {body}: {}", r.text());
    }
}

/// Where schemathesis found the document wrong rather than the server: the server's answer,
/// which SPEC wants, and the part of the document that now says so.
#[test]
fn document_cases_found_by_schemathesis() {
    let s = Server::start(&["--token", "t"]);
    seed_with_token(&s);
    let doc = s.req("GET", "/server/specs/oas", &[AUTH], None).json();
    let send = |method: &str, target: &str, body: Option<&str>| {
        let mut headers = vec![AUTH];
        if body.is_some() {
            headers.push(("Content-Type", "application/json"));
        }
        s.req(method, target, &headers, body)
    };

    // OPTIONS answers without a token (ignored_auth): its security allows none.
    let r = s.req("OPTIONS", "/collections", &[], None);
    assert_eq!(r.status, 204);
    let security = doc["paths"]["/collections"]["options"]["security"]
        .as_array()
        .unwrap();
    assert!(security.contains(&serde_json::json!({})), "{security:?}");
    // ... and does not look its path parameters up: they are any string there.
    let r = s.req(
        "OPTIONS",
        "/items/articles/99999999999999999999",
        &[AUTH],
        None,
    );
    assert_eq!(r.status, 204);
    let param = &doc["paths"]["/items/{collection}/{id}"]["options"]["parameters"][1];
    assert_eq!(param["schema"]["type"], "string", "{param}");

    // `page` and `offset` go up to 2^64-1 (answered, empty), not only to 2^63-1.
    let r = send(
        "GET",
        "/items/articles?page=9223372036854775808&limit=1",
        None,
    );
    assert_eq!((r.status, r.ids()), (200, vec![]));
    let page = &doc["components"]["parameters"]["page"]["schema"];
    assert_eq!(page["maximum"], u64::MAX, "{page}");

    // The fields of a body may have any name (only queries restrict names).
    let r = send(
        "PATCH",
        "/items/articles",
        Some(r#"{"keys":[1],"data":{"":1,"a b":2}}"#),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let data = &doc["components"]["schemas"]["BatchUpdate"]["oneOf"][1]["properties"]["data"];
    assert!(data.get("propertyNames").is_none(), "{data}");

    // `id`'s index cannot be switched: 400, and the path parameter says so.
    let r = send(
        "PATCH",
        "/fields/articles/id",
        Some(r#"{"schema":{"is_indexed":true}}"#),
    );
    assert_eq!((r.status, r.code().as_str()), (400, "INVALID_PAYLOAD"));
    let field = &doc["paths"]["/fields/{collection}/{field}"]["patch"]["parameters"][1];
    assert_eq!(
        field["$ref"], "#/components/parameters/indexable_field",
        "{field}"
    );

    // An empty CSV list in a body's query is 400; the schema asks for at least one item.
    let r = send(
        "DELETE",
        "/items/articles",
        Some(r#"{"query":{"fields":""}}"#),
    );
    assert_eq!((r.status, r.code().as_str()), (400, "INVALID_QUERY"));
    let fields = &doc["components"]["schemas"]["Query"]["properties"]["fields"];
    assert!(fields["oneOf"][0]["pattern"].is_string(), "{fields}");
    // `filter=null` is no filter, and allowed.
    let r = send("GET", "/items/articles?filter=null&fields=id", None);
    assert_eq!((r.status, r.ids()), (200, vec![1, 2]));
}

/// A NUL character in `search` or in a substring filter (three characters or more, so the
/// trigram index is asked) was a 500: SQLite's FTS5 reads its query text up to the NUL and
/// calls the phrase unterminated. Such needles are now tested item by item, and the prefix and
/// suffix tests compare bytes (`length()` stops at a NUL).
#[test]
fn a_nul_in_a_searched_needle_is_no_server_error() {
    let s = Server::start(&[]);
    seed(
        &s,
        "a",
        r#"[{"t":"ab\u0000cd"},{"t":"abcd"},{"t":"xyz","u":"q\u0000rs"}]"#,
    );
    let cases: &[(&str, &[i64])] = &[
        ("search=b%00c", &[1]),
        ("search=%00rs", &[3]),
        ("search=w%C3%A4%00%24", &[]),
        ("filter[t][_contains]=b%00cd", &[1]),
        ("filter[t][_icontains]=B%00C", &[1]),
        ("filter[t][_ncontains]=b%00cd", &[2, 3]),
        ("filter[t][_istarts_with]=AB%00", &[1]),
        ("filter[t][_starts_with]=ab%00", &[1]),
        ("filter[t][_ends_with]=%00cd", &[1]),
        ("filter[t][_iends_with]=%00CD", &[1]),
        ("filter[t][_iends_with]=CD", &[1, 2]),
        ("filter[u][_ends_with]=%00rs", &[3]),
        ("filter[u][_ends_with]=rs", &[3]),
        ("filter[u][_iends_with]=Q%00R", &[]),
        ("filter[u][_istarts_with]=Q%00R", &[3]),
    ];
    for (query, want) in cases {
        let r = s.get(&format!("/items/a?fields=id&{query}"));
        assert_eq!(r.status, 200, "{query}: {}", r.text());
        assert_eq!(r.ids(), *want, "{query}");
    }
}
