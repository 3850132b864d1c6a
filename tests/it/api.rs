//! The item API against the real server binary: routes, the query language in both filter
//! forms, every error code, auth, CORS, and data surviving a restart.

use crate::common::{self, enc, seed, Server};
use serde_json::{json, Value};

const DATASET: &str = r#"[
    {"title":"Alpha","views":10,"published":true,"tags":"news","rating":4.5},
    {"title":"beta","views":1000,"published":false,"tags":"Tech"},
    {"title":"Gamma 100%","views":500,"published":true,"tags":""},
    {"title":"delta_x","views":null},
    {"title":"10","views":"10"},
    {"views":0}
]"#;

fn dataset() -> Server {
    let s = Server::start(&[]);
    seed(&s, "articles", DATASET);
    s
}

/// Runs a bracket-form query and its JSON-form twin; both must select the case's ids.
fn both_forms(s: &Server, (bracket, json_filter, expected): &(&str, Value, &[i64])) {
    let case = format!("({bracket}, {json_filter}, {expected:?})");
    let r = s.get(&format!("/items/articles?fields=id&limit=-1&{bracket}"));
    assert_eq!(r.status, 200, "bracket form of {case}: {}", r.text());
    assert_eq!(r.ids(), *expected, "bracket form of {case}");
    let r = s.get(&format!(
        "/items/articles?fields=id&limit=-1&filter={}",
        enc(&json_filter.to_string())
    ));
    assert_eq!(r.status, 200, "JSON form of {case}: {}", r.text());
    assert_eq!(r.ids(), *expected, "JSON form of {case}");
}

fn every_operator_in_both_filter_forms() {
    let s = dataset();
    // (bracket form, JSON form, ids selected): one case a line, which rustfmt would break up.
    #[rustfmt::skip]
    let cases: Vec<(&str, Value, &[i64])> = vec![
        ("filter[views][_eq]=10", json!({"views":{"_eq":10}}), &[1]),
        ("filter[views][_neq]=10", json!({"views":{"_neq":10}}), &[2, 3, 4, 5, 6]),
        ("filter[views][_lt]=500", json!({"views":{"_lt":500}}), &[1, 6]),
        ("filter[views][_lte]=500", json!({"views":{"_lte":500}}), &[1, 3, 6]),
        ("filter[views][_gt]=500", json!({"views":{"_gt":500}}), &[2]),
        ("filter[views][_gte]=500", json!({"views":{"_gte":500}}), &[2, 3]),
        ("filter[title][_gt]=beta", json!({"title":{"_gt":"beta"}}), &[4]),
        ("filter[views][_in]=10,1000", json!({"views":{"_in":[10,1000]}}), &[1, 2]),
        ("filter[views][_nin]=10,1000", json!({"views":{"_nin":[10,1000]}}), &[3, 4, 5, 6]),
        ("filter[views][_null]=true", json!({"views":{"_null":true}}), &[4]),
        ("filter[title][_null]=true", json!({"title":{"_null":true}}), &[6]),
        ("filter[title][_nnull]=true", json!({"title":{"_nnull":true}}), &[1, 2, 3, 4, 5]),
        ("filter[title][_contains]=lph", json!({"title":{"_contains":"lph"}}), &[1]),
        ("filter[title][_contains]=LPH", json!({"title":{"_contains":"LPH"}}), &[]),
        ("filter[title][_contains]=%25", json!({"title":{"_contains":"%"}}), &[3]),
        ("filter[title][_contains]=_", json!({"title":{"_contains":"_"}}), &[4]),
        ("filter[title][_ncontains]=a", json!({"title":{"_ncontains":"a"}}), &[5, 6]),
        ("filter[title][_icontains]=ALPHA", json!({"title":{"_icontains":"ALPHA"}}), &[1]),
        ("filter[title][_starts_with]=Al", json!({"title":{"_starts_with":"Al"}}), &[1]),
        ("filter[title][_starts_with]=al", json!({"title":{"_starts_with":"al"}}), &[]),
        ("filter[title][_istarts_with]=al", json!({"title":{"_istarts_with":"al"}}), &[1]),
        ("filter[title][_nstarts_with]=Al", json!({"title":{"_nstarts_with":"Al"}}), &[2, 3, 4, 5, 6]),
        ("filter[title][_ends_with]=ta", json!({"title":{"_ends_with":"ta"}}), &[2]),
        ("filter[title][_ends_with]=TA", json!({"title":{"_ends_with":"TA"}}), &[]),
        ("filter[title][_iends_with]=TA", json!({"title":{"_iends_with":"TA"}}), &[2]),
        ("filter[title][_nends_with]=ta", json!({"title":{"_nends_with":"ta"}}), &[1, 3, 4, 5, 6]),
        ("filter[views][_between]=10,500", json!({"views":{"_between":[10,500]}}), &[1, 3]),
        ("filter[views][_nbetween]=10,500", json!({"views":{"_nbetween":[10,500]}}), &[2, 4, 5, 6]),
        ("filter[tags][_empty]=true", json!({"tags":{"_empty":true}}), &[3, 4, 5, 6]),
        ("filter[tags][_nempty]=true", json!({"tags":{"_nempty":true}}), &[1, 2]),
        ("filter[published][_eq]=true", json!({"published":{"_eq":true}}), &[1, 3]),
        ("filter[published][_eq]=false", json!({"published":{"_eq":false}}), &[2]),
        ("filter[rating][_gt]=4.25", json!({"rating":{"_gt":4.25}}), &[1]),
        ("filter[id][_in]=2,3", json!({"id":{"_in":[2,3]}}), &[2, 3]),
        ("filter[_or][0][views][_lt]=100&filter[_or][1][title][_eq]=beta", json!({"_or":[{"views":{"_lt":100}},{"title":{"_eq":"beta"}}]}), &[1, 2, 6]),
        ("filter[_and][0][views][_gte]=10&filter[_and][1][published][_eq]=true", json!({"_and":[{"views":{"_gte":10}},{"published":{"_eq":true}}]}), &[1, 3]),
        ("filter[views][_gte]=10&filter[views][_lte]=500", json!({"views":{"_gte":10,"_lte":500}}), &[1, 3]),
        // A digit string needs the JSON form: the bracket form types it as a number.
        ("filter[title][_eq]=10", json!({"title":{"_eq":10}}), &[]),
    ];
    for case in &cases {
        both_forms(&s, case);
    }
    let r = s.get(&format!(
        "/items/articles?fields=id&filter={}",
        enc(r#"{"title":{"_eq":"10"}}"#)
    ));
    assert_eq!(r.ids(), vec![5]);
}

fn search_sort_fields_paging_and_meta() {
    let s = dataset();
    let ids = |q: &str| s.get(&format!("/items/articles?fields=id&{q}")).ids();
    assert_eq!(ids("search=ALP"), vec![1]);
    assert_eq!(ids("search=100%25"), vec![3]);
    assert_eq!(ids("search=%25"), vec![3]);
    assert_eq!(ids("search=_"), vec![4]);
    assert_eq!(ids("search=tech"), vec![2]);
    // Mixed types: null first ascending, numbers before strings; ties by id.
    assert_eq!(ids("sort=views"), vec![4, 6, 1, 3, 2, 5]);
    assert_eq!(ids("sort=-views"), vec![5, 2, 3, 1, 6, 4]);
    assert_eq!(ids("sort=-published,title"), vec![1, 3, 2, 6, 5, 4]);
    assert_eq!(ids("limit=2"), vec![1, 2]);
    assert_eq!(ids("limit=2&offset=3"), vec![4, 5]);
    assert_eq!(ids("limit=2&page=2&offset=5"), vec![3, 4]);
    assert_eq!(ids("limit=-1&offset=4"), vec![5, 6]);
    assert_eq!(ids("limit=0"), Vec::<i64>::new());

    let r = s.get("/items/articles?fields=title,views&limit=1");
    assert_eq!(r.data(), json!([{"title":"Alpha","views":10}]));
    let r = s.get("/items/articles?fields[]=title&fields[]=id&limit=1");
    assert_eq!(r.data(), json!([{"id":1,"title":"Alpha"}]));
    let r = s.get("/items/articles?filter[views][_gt]=100&meta=*&limit=1");
    assert_eq!(r.json()["meta"], json!({"total_count":6,"filter_count":2}));
    assert_eq!(r.ids(), vec![2]);
    let r = s.get("/items/articles?search=a&meta=filter_count");
    assert_eq!(r.json()["meta"], json!({"filter_count":4}));
    let r = s.get("/items/articles/1?fields=title");
    assert_eq!(r.data(), json!({"title":"Alpha"}));
    // Values round-trip exactly.
    let r = s.get("/items/articles/1");
    assert_eq!(
        r.data(),
        json!({"id":1,"title":"Alpha","views":10,"published":true,"tags":"news","rating":4.5})
    );
}

fn default_limit_is_100() {
    let s = Server::start(&[]);
    let items: Vec<Value> = (0..150).map(|i| json!({"n": i})).collect();
    seed(&s, "many", &Value::from(items).to_string());
    assert_eq!(s.get("/items/many").ids().len(), 100);
    assert_eq!(s.get("/items/many?limit=-1").ids().len(), 150);
}

fn collections_routes() {
    let s = Server::start(&[]);
    assert_eq!(s.get("/collections").data(), json!([]));
    let r = s.json("POST", "/collections", r#"{"collection":"articles"}"#);
    assert_eq!(r.status, 200);
    assert_eq!(r.data()["collection"], "articles");
    assert_eq!(
        s.json("POST", "/collections", r#"{"collection":"articles"}"#)
            .code(),
        "INVALID_PAYLOAD"
    );
    for bad in [
        r#"{"collection":"directus_users"}"#,
        r#"{"collection":"1a"}"#,
        r#"{"collection":"a b"}"#,
        r#"{"collection":5}"#,
        "{}",
        "[]",
    ] {
        let r = s.json("POST", "/collections", bad);
        assert_eq!(
            (r.status, r.try_code().as_deref()),
            (400, Some("INVALID_PAYLOAD")),
            "{bad}: {}",
            r.text()
        );
    }
    seed(&s, "pages", r#"{"title":"x"}"#);
    let names: Vec<Value> = s
        .get("/collections")
        .data()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["collection"].clone())
        .collect();
    assert_eq!(names, vec![json!("articles"), json!("pages")]);
    assert_eq!(s.get("/collections/pages").data()["collection"], "pages");
    assert_eq!(s.get("/collections/nope").code(), "FORBIDDEN");
    assert_eq!(s.get("/collections/directus_users").status, 403);
    let r = s.req("DELETE", "/collections/pages", &[], None);
    assert_eq!(r.status, 204);
    assert!(r.body.is_empty());
    assert_eq!(s.get("/collections/pages").status, 403);
    assert_eq!(s.get("/items/pages").status, 403);
    assert_eq!(s.req("DELETE", "/collections/pages", &[], None).status, 403);
    // A collection created again starts empty.
    seed(&s, "pages", "[]");
    assert_eq!(s.get("/items/pages").data(), json!([]));
}

/// A server whose collection `a` holds `items` (ids from 1, in order).
fn collection_a(items: &str) -> Server {
    let s = Server::start(&[]);
    seed(&s, "a", items);
    s
}

const ONE_TWO_THREE: &str = r#"[{"t":"one"},{"t":"two"},{"t":"three"}]"#;

fn create_one_answers_an_object_and_many_an_array_with_ids_in_order() {
    let s = collection_a(ONE_TWO_THREE);
    let r = s.json("POST", "/items/a", r#"{"t":"four"}"#);
    assert_eq!(r.data(), json!({"id":4,"t":"four"}));
    // An explicit id is kept, and the next one follows it.
    let r = s.json(
        "POST",
        "/items/a?fields=id",
        r#"[{"t":"five"},{"id":10,"t":"ten"},{"t":"eleven"}]"#,
    );
    assert_eq!(r.data(), json!([{"id":5},{"id":10},{"id":11}]));
}

fn a_duplicate_id_in_a_create_batch_creates_nothing() {
    let s = collection_a(ONE_TWO_THREE);
    let r = s.json("POST", "/items/a", r#"[{"t":"x"},{"id":2,"t":"dup"}]"#);
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "RECORD_NOT_UNIQUE"),
        "{}",
        r.text()
    );
    assert_eq!(s.get("/items/a?fields=id").ids(), vec![1, 2, 3]);
    // An id taken for an item without one, given again later in the batch. (After a failed
    // create PostgreSQL skips the ids it took, as Directus on PostgreSQL does; SQLite does
    // not: so the next id is learned first.)
    let probe = s.json("POST", "/items/a", r#"{"t":"probe"}"#).data()["id"]
        .as_i64()
        .unwrap();
    let body = format!(r#"[{{"t":"x"}},{{"id":{},"t":"the same id"}}]"#, probe + 1);
    let r = s.json("POST", "/items/a", &body);
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "RECORD_NOT_UNIQUE"),
        "{}",
        r.text()
    );
    assert_eq!(s.get("/items/a?fields=id").ids(), vec![1, 2, 3, probe]);
}

/// Values at the edges of what the engines store: a string holding U+0000 (stored and read
/// back as written, found by equality and search), and the last id.
fn edge_values_are_stored_or_refused_alike() {
    let s = collection_a(ONE_TWO_THREE);
    let r = s.json("POST", "/items/a", r#"{"t":"a\u0000b","n":1}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    let id = r.data()["id"].as_i64().unwrap();
    let back = s.get(&format!("/items/a/{id}"));
    assert_eq!(back.data()["t"], "a\u{0}b");
    for q in [
        "filter[t][_eq]=a%00b",
        "filter[t][_neq]=a%00b",
        "filter[t][_lt]=a%00b",
        "filter[t][_contains]=%00",
        "filter[t][_starts_with]=a%00",
        "search=a%00b",
    ] {
        let r = s.get(&format!("/items/a?fields=id&{q}"));
        assert_eq!(r.status, 200, "{q}: {}", r.text());
    }
    assert_eq!(
        s.get("/items/a?fields=id&filter[t][_eq]=a%00b").ids(),
        vec![id]
    );
    assert_eq!(s.get("/items/a?fields=id&search=a%00b").ids(), vec![id]);
    let r = s.json("POST", "/items/a", r#"{"id":9223372036854775807}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s.json("POST", "/items/a", r#"{"t":"after the last id"}"#);
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "INVALID_PAYLOAD"),
        "{}",
        r.text()
    );
}

fn patch_one_merges_and_stores_null() {
    let s = collection_a(ONE_TWO_THREE);
    // A matching id in the body is fine.
    let r = s.json("PATCH", "/items/a/1", r#"{"extra":null,"n":1,"id":1}"#);
    assert_eq!(r.data(), json!({"id":1,"t":"one","extra":null,"n":1}));
    assert_eq!(
        s.get("/items/a/1").data(),
        json!({"id":1,"t":"one","extra":null,"n":1})
    );
}

fn patch_one_refuses_another_id_an_array_and_a_missing_item() {
    let s = collection_a(ONE_TWO_THREE);
    // (path, body, expected code)
    let cases = [
        ("/items/a/1", r#"{"id":2}"#, "INVALID_PAYLOAD"),
        ("/items/a/1", r#"[{"n":2}]"#, "INVALID_PAYLOAD"),
        ("/items/a/99", r#"{"n":2}"#, "FORBIDDEN"),
    ];
    for case @ (path, body, code) in cases {
        let r = s.json("PATCH", path, body);
        assert_eq!(
            r.try_code().as_deref(),
            Some(code),
            "{case:?}: {}",
            r.text()
        );
    }
    assert_eq!(s.get("/items/a/1").data(), json!({"id":1,"t":"one"}));
}

fn patch_batch_as_an_array_of_items() {
    let s = collection_a(ONE_TWO_THREE);
    let r = s.json(
        "PATCH",
        "/items/a?fields=id,n",
        r#"[{"id":2,"n":20},{"id":3,"n":30}]"#,
    );
    assert_eq!(r.data(), json!([{"id":2,"n":20},{"id":3,"n":30}]));
}

fn patch_batch_by_keys() {
    let s = collection_a(ONE_TWO_THREE);
    let r = s.json(
        "PATCH",
        "/items/a?fields=id,k",
        r#"{"keys":[2,3],"data":{"k":true}}"#,
    );
    assert_eq!(r.data(), json!([{"id":2,"k":true},{"id":3,"k":true}]));
}

fn patch_batch_by_query() {
    let s = collection_a(r#"[{"t":"one"},{"t":"two","k":true},{"t":"three","k":true}]"#);
    let r = s.json(
        "PATCH",
        "/items/a?fields=id",
        r#"{"query":{"filter":{"k":{"_eq":true}}},"data":{"q":1}}"#,
    );
    assert_eq!(r.ids(), vec![2, 3]);
}

fn a_patch_batch_naming_a_missing_id_changes_nothing() {
    let s = collection_a(r#"[{"t":"one"},{"t":"two","n":20}]"#);
    for body in [
        r#"{"keys":[2,99],"data":{"n":0}}"#,
        r#"[{"id":2,"n":0},{"id":98,"n":0}]"#,
    ] {
        let r = s.json("PATCH", "/items/a", body);
        assert_eq!(
            r.try_code().as_deref(),
            Some("FORBIDDEN"),
            "{body}: {}",
            r.text()
        );
        assert_eq!(s.get("/items/a/2").data()["n"], 20, "{body}");
    }
}

fn delete_one() {
    let s = collection_a(ONE_TWO_THREE);
    let r = s.req("DELETE", "/items/a/3", &[], None);
    assert_eq!(r.status, 204, "{}", r.text());
    assert_eq!(s.get("/items/a/3").code(), "FORBIDDEN");
    assert_eq!(s.get("/items/a?fields=id").ids(), vec![1, 2]);
}

fn a_delete_batch_naming_a_missing_id_deletes_nothing() {
    let s = collection_a(ONE_TWO_THREE);
    assert_eq!(s.json("DELETE", "/items/a", "[3, 99]").code(), "FORBIDDEN");
    assert_eq!(s.get("/items/a/3").status, 200);
}

fn delete_batch_by_array_keys_and_query() {
    let s = collection_a(r#"[{"t":1},{"t":2},{"t":3},{"k":true},{"k":true},{"t":6}]"#);
    // (body, the ids left after it)
    let cases: [(&str, &[i64]); 3] = [
        ("[6]", &[1, 2, 3, 4, 5]),
        (r#"{"keys":[1]}"#, &[2, 3, 4, 5]),
        (r#"{"query":{"filter":{"k":{"_eq":true}}}}"#, &[2, 3]),
    ];
    for case @ (body, left) in cases {
        let r = s.json("DELETE", "/items/a", body);
        assert_eq!(r.status, 204, "{case:?}: {}", r.text());
        assert_eq!(s.get("/items/a?fields=id").ids(), left, "{case:?}");
    }
}

fn ids_are_never_reused_after_a_delete() {
    let s = collection_a(ONE_TWO_THREE);
    // The highest ids go, one alone and one in a batch: a reused id would be 2.
    assert_eq!(s.req("DELETE", "/items/a/3", &[], None).status, 204);
    assert_eq!(s.json("DELETE", "/items/a", "[2]").status, 204);
    assert_eq!(s.json("POST", "/items/a", "{}").data()["id"], 4);
}

fn error_codes_and_statuses() {
    let s = Server::start(&["--max-body", "200"]);
    seed(&s, "a", r#"{"t":"x"}"#);
    // (method, path, Content-Type, body, expected status, expected code)
    type Case<'a> = (
        &'a str,
        &'a str,
        Option<&'a str>,
        Option<&'a str>,
        u16,
        &'a str,
    );
    const JSON: Option<&str> = Some("application/json");
    // One case a line, which rustfmt would break up.
    #[rustfmt::skip]
    let cases: [Case; 34] = [
        ("POST", "/items/a", JSON, Some("{nope"), 400, "INVALID_PAYLOAD"),
        ("POST", "/items/a", JSON, Some("null"), 400, "INVALID_PAYLOAD"),
        ("POST", "/items/a", JSON, Some("7"), 400, "INVALID_PAYLOAD"),
        ("POST", "/items/a", JSON, Some("[1,2]"), 400, "INVALID_PAYLOAD"),
        ("POST", "/items/a", JSON, Some(r#"{"id":"x"}"#), 400, "INVALID_PAYLOAD"),
        ("POST", "/items/a", JSON, None, 400, "INVALID_PAYLOAD"),
        ("POST", "/items/a", Some("application/json; charset=utf-8"), Some("\"x\""), 400, "INVALID_PAYLOAD"),
        ("POST", "/items/a", JSON, Some("{\"t\":\"\u{0}\"\u{1}}"), 400, "INVALID_PAYLOAD"),
        ("POST", "/items/a", JSON, Some(r#"{"id":1}"#), 400, "RECORD_NOT_UNIQUE"),
        ("GET", "/items/a?filter[t][_nope]=1", None, None, 400, "INVALID_QUERY"),
        ("GET", "/items/a?limit=-2", None, None, 400, "INVALID_QUERY"),
        ("GET", "/items/a?offset=-1", None, None, 400, "INVALID_QUERY"),
        ("GET", "/items/a?page=0", None, None, 400, "INVALID_QUERY"),
        ("GET", "/items/a?limit=2.5", None, None, 400, "INVALID_QUERY"),
        ("GET", "/items/a?meta=everything", None, None, 400, "INVALID_QUERY"),
        ("GET", "/items/a?filter[t][_null]=false", None, None, 400, "INVALID_QUERY"),
        ("GET", "/items/a?fields=author.name", None, None, 400, "INVALID_QUERY"),
        ("GET", "/items/a?filter=%7B%22t%22", None, None, 400, "INVALID_QUERY"),
        ("GET", "/items/a?search=%E2%28", None, None, 400, "INVALID_QUERY"),
        ("GET", "/items/nope", None, None, 403, "FORBIDDEN"),
        ("GET", "/items/a/99", None, None, 403, "FORBIDDEN"),
        ("GET", "/items/a/abc", None, None, 403, "FORBIDDEN"),
        ("GET", "/items/a%ZZ", None, None, 403, "FORBIDDEN"),
        ("DELETE", "/items/a/99", None, None, 403, "FORBIDDEN"),
        ("POST", "/items/nope", JSON, Some("{nope"), 403, "FORBIDDEN"),
        ("GET", "/nope", None, None, 404, "ROUTE_NOT_FOUND"),
        ("GET", "/items", None, None, 404, "ROUTE_NOT_FOUND"),
        ("PUT", "/items/a", None, None, 405, "METHOD_NOT_ALLOWED"),
        ("POST", "/items/a/1", None, None, 405, "METHOD_NOT_ALLOWED"),
        ("BREW", "/collections", None, None, 405, "METHOD_NOT_ALLOWED"),
        ("POST", "/items/a", Some("text/plain"), Some("{}"), 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("POST", "/items/a", Some("application/x-www-form-urlencoded"), Some("a=b"), 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("POST", "/items/a", None, Some("{}"), 415, "UNSUPPORTED_MEDIA_TYPE"),
        ("POST", "/items/nope", Some("text/plain"), Some("{}"), 415, "UNSUPPORTED_MEDIA_TYPE"),
    ];
    for case @ (method, path, content_type, body, status, code) in cases {
        let headers: Vec<_> = content_type
            .map(|t| ("Content-Type", t))
            .into_iter()
            .collect();
        let r = s.req(method, path, &headers, body);
        assert_eq!(
            (r.status, r.try_code().as_deref()),
            (status, Some(code)),
            "{case:?}: {}",
            r.text()
        );
        assert_eq!(
            r.header("content-type"),
            Some("application/json"),
            "{case:?}"
        );
        assert!(r.header("x-request-id").is_some(), "{case:?}");
    }
    let r = s.req("PUT", "/items/a", &[], None);
    assert_eq!(
        r.header("allow"),
        Some("GET, HEAD, POST, PATCH, DELETE, OPTIONS")
    );
    let big = format!(r#"{{"t":"{}"}}"#, "x".repeat(300));
    let r = s.json("POST", "/items/a", &big);
    assert_eq!((r.status, r.code().as_str()), (413, "CONTENT_TOO_LARGE"));
    // 415 wins over 413.
    let r = s.req(
        "POST",
        "/items/a",
        &[("Content-Type", "text/plain")],
        Some(&big),
    );
    assert_eq!(r.code(), "UNSUPPORTED_MEDIA_TYPE");
    // Nothing was half-applied by any of the above.
    assert_eq!(s.get("/items/a?fields=id").ids(), vec![1]);
}

#[test]
fn corrupt_row_is_a_500_with_request_id_and_no_detail() {
    let s = Server::start(&[]);
    seed(&s, "a", r#"{"t":"x"}"#);
    let conn = rusqlite::Connection::open(s.db()).unwrap();
    // Valid JSON that is not an object (text that is not JSON at all cannot be stored any more:
    // the field indexes parse every row written, whoever writes it).
    conn.execute(
        "UPDATE directus_items SET data = '[\"not an object\"]' WHERE id = 1",
        [],
    )
    .unwrap();
    let r = s.get("/items/a/1");
    assert_eq!(
        (r.status, r.code().as_str()),
        (500, "INTERNAL_SERVER_ERROR")
    );
    let id = r.header("x-request-id").unwrap().to_string();
    assert_eq!(
        r.json()["errors"][0]["extensions"]["request_id"],
        id.as_str()
    );
    assert!(
        !r.text().contains("not an object") && !r.text().contains("data"),
        "{}",
        r.text()
    );
    // The server lives on and logged the detail with the request id.
    assert_eq!(s.get("/server/ping").text(), "pong");
    let log = s.stderr();
    assert!(
        log.lines().any(|l| l.contains(&id) && l.contains("ERROR")),
        "{log}"
    );
}

fn ping_health_head_options_and_bodyless_json() {
    let s = Server::start(&[]);
    seed(&s, "a", r#"{"t":"x"}"#);
    let r = s.get("/server/ping");
    assert_eq!((r.status, r.text().as_str()), (200, "pong"));
    assert!(r.header("content-type").unwrap().starts_with("text/plain"));
    let r = s.get("/server/health");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/health+json"));
    assert_eq!(r.json(), json!({"status":"ok"}));
    let r = s.req("HEAD", "/items/a", &[], None);
    assert_eq!(r.status, 200);
    assert!(r.body.is_empty());
    let r = s.req("OPTIONS", "/items/a/1", &[], None);
    assert_eq!(r.status, 204);
    assert_eq!(r.header("allow"), Some("GET, HEAD, PATCH, DELETE, OPTIONS"));
    // The SDK sends Content-Type: application/json on bodyless requests.
    let ct = [("Content-Type", "application/json")];
    assert_eq!(s.req("GET", "/items/a", &ct, None).status, 200);
    assert_eq!(s.req("GET", "/items/a/1", &ct, None).status, 200);
    assert_eq!(s.req("DELETE", "/items/a/1", &ct, None).status, 204);
    assert_eq!(s.req("GET", "/server/ping", &ct, None).status, 200);
    // Keep-alive: many requests on one connection, including error answers.
    let mut c = s.client();
    for i in 0..20 {
        let path = if i % 2 == 0 { "/items/a" } else { "/nope" };
        let r = c.send("GET", path, &[], None);
        assert_eq!(
            r.status,
            if i % 2 == 0 { 200 } else { 404 },
            "request {i}, {path}"
        );
    }
}

fn token_auth() {
    let s = Server::start(&["--token", "s3cret-token"]);
    let bearer = [("Authorization", "Bearer s3cret-token")];
    let r = s.req(
        "POST",
        "/collections",
        &[
            ("Authorization", "Bearer s3cret-token"),
            ("Content-Type", "application/json"),
        ],
        Some(r#"{"collection":"a"}"#),
    );
    assert_eq!(r.status, 200);
    assert_eq!(s.req("GET", "/items/a", &bearer, None).status, 200);
    let with_query_token = s.get("/items/a?access_token=s3cret-token");
    assert_eq!(with_query_token.status, 200);
    let request_id = with_query_token.header("x-request-id").unwrap().to_string();
    assert_eq!(s.get("/items/a").code(), "FORBIDDEN");
    assert_eq!(s.get("/server/health").code(), "FORBIDDEN");
    assert_eq!(s.get("/server/ping").text(), "pong");
    let wrong = [("Authorization", "Bearer nope")];
    assert_eq!(
        s.req("GET", "/items/a", &wrong, None).code(),
        "INVALID_CREDENTIALS"
    );
    assert_eq!(s.get("/items/a?access_token=s3cret-tokeN").status, 401);
    // Wrong token beats unknown route; missing token loses to it.
    assert_eq!(s.req("GET", "/nope", &wrong, None).status, 401);
    assert_eq!(s.get("/nope").status, 404);
    assert_eq!(s.req("PUT", "/items/a", &[], None).status, 405);
    // Both ways at once is a bad request.
    let r = s.req("GET", "/items/a?access_token=s3cret-token", &bearer, None);
    assert_eq!((r.status, r.code().as_str()), (400, "INVALID_PAYLOAD"));
    // Missing token beats 415.
    assert_eq!(
        s.req(
            "POST",
            "/items/a",
            &[("Content-Type", "text/plain")],
            Some("x")
        )
        .status,
        403
    );
    // The access line (method, path without the query, status, duration, request id) is
    // written just after the answer: poll for it, bounded.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let line = loop {
        let log = s.stderr();
        if let Some(line) = log.lines().find(|l| l.contains(&request_id)) {
            break line.to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no access line for {request_id}:\n{log}"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    assert!(
        line.contains("GET /items/a 200 ") && line.contains("ms "),
        "{line}"
    );
    let log = s.stderr();
    assert!(!log.contains("s3cret"), "the token reached the log:\n{log}");
}

fn token_sent_to_a_server_without_one_is_ignored() {
    let s = Server::start(&[]);
    assert_eq!(
        s.req(
            "GET",
            "/collections",
            &[("Authorization", "Bearer whatever")],
            None
        )
        .status,
        200
    );
}

fn cors() {
    let s = Server::start(&["--cors-origin", "http://app.example", "--token", "t"]);
    let pre = s.req(
        "OPTIONS",
        "/items/anything",
        &[
            ("Origin", "http://app.example"),
            ("Access-Control-Request-Method", "POST"),
            (
                "Access-Control-Request-Headers",
                "authorization, content-type",
            ),
        ],
        None,
    );
    assert_eq!(pre.status, 204);
    assert_eq!(
        pre.header("access-control-allow-origin"),
        Some("http://app.example")
    );
    assert_eq!(
        pre.header("access-control-allow-methods"),
        Some("GET, POST, PATCH, DELETE, OPTIONS")
    );
    assert_eq!(
        pre.header("access-control-allow-headers"),
        Some("authorization, content-type, x-maintenance-bypass")
    );
    assert_eq!(pre.header("access-control-max-age"), Some("600"));
    for case @ (path, status) in [("/server/ping", 200), ("/items/a", 403), ("/nope", 404)] {
        let r = s.req("GET", path, &[("Origin", "http://app.example")], None);
        assert_eq!(r.status, status, "{case:?}");
        assert_eq!(
            r.header("access-control-allow-origin"),
            Some("http://app.example"),
            "{case:?}"
        );
        assert_eq!(
            r.header("access-control-expose-headers"),
            Some("Retry-After, X-Request-Id"),
            "{case:?}"
        );
    }
    assert!(s
        .get("/server/ping")
        .header("access-control-allow-origin")
        .is_none());

    let plain = Server::start(&[]);
    let r = plain.req(
        "OPTIONS",
        "/items/a",
        &[
            ("Origin", "http://x"),
            ("Access-Control-Request-Method", "GET"),
        ],
        None,
    );
    assert!(r
        .headers
        .iter()
        .all(|(n, _)| !n.to_ascii_lowercase().starts_with("access-control")));
    assert_eq!(r.status, 204);
}

fn data_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Server::start_in(dir.path(), &[]);
    seed(&s, "a", r#"[{"t":"kept"},{"t":"also"}]"#);
    let record = s.root.join(format!("logs/servers/{}.json", s.child.id()));
    assert!(record.exists());
    assert!(s.terminate().success());
    assert!(
        !record.exists(),
        "the server record left after a clean exit"
    );
    let s = Server::start_in(dir.path(), &[]);
    assert_eq!(
        s.get("/items/a").data(),
        json!([{"id":1,"t":"kept"},{"id":2,"t":"also"}])
    );
}

fn hostile_names_and_values_are_data() {
    let s = Server::start(&[]);
    seed(
        &s,
        "a",
        r#"[{"t":"x'); DROP TABLE directus_items; --","n":1}]"#,
    );
    let evil = enc("x'); DROP TABLE directus_items; --");
    assert_eq!(
        s.get(&format!("/items/a?fields=id&filter[t][_eq]={evil}"))
            .ids(),
        vec![1]
    );
    assert_eq!(
        s.get(&format!("/items/a?search={evil}&fields=id")).ids(),
        vec![1]
    );
    assert_eq!(
        s.get("/items/a?filter[t%22)%20OR%201=1--][_eq]=1").code(),
        "INVALID_QUERY"
    );
    assert_eq!(s.get("/items/a?sort=t%22%20DESC--").code(), "INVALID_QUERY");
    assert_eq!(s.get("/items/a;DROP").status, 403);
    assert_eq!(s.get("/items/a").ids(), vec![1]);
}

#[test]
fn server_command_line() {
    let run = |args: &[&str]| {
        std::process::Command::new(common::SERVER)
            .args(args)
            .env_remove("DIRECTUS_TOKEN")
            .env_remove("DIRECTUS_HOST")
            .output()
            .unwrap()
    };
    let help = run(&["--help"]);
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--max-body"));
    let version = run(&["--version"]);
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("directus-server "));
    for bad in [
        &["--bogus"][..],
        &["--port", "http"],
        &["--workers", "0"],
        &["--host", "0.0.0.0"],
    ] {
        let out = run(bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(err.lines().count(), 1, "{bad:?}: {err}");
        assert!(out.stdout.is_empty(), "{bad:?}");
    }
    let err = String::from_utf8_lossy(&run(&["--host", "0.0.0.0"]).stderr).into_owned();
    assert!(err.contains("without a token"), "{err}");
}

#[test]
fn environment_variables_configure_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = std::process::Command::new(common::SERVER)
        .env("DIRECTUS_ROOT", dir.path())
        .env("DIRECTUS_PORT", "0")
        .env("DIRECTUS_TOKEN", "from-env")
        .env("DIRECTUS_DB", "data/custom.db")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let addr = common::listening_addr(&mut child).unwrap();
    let mut c = common::Client::connect(addr);
    assert_eq!(c.send("GET", "/collections", &[], None).status, 403);
    assert_eq!(
        c.send(
            "GET",
            "/collections",
            &[("Authorization", "Bearer from-env")],
            None
        )
        .status,
        200
    );
    assert!(dir.path().join("data/custom.db").exists());
    let record = dir.path().join(format!("logs/servers/{}.json", child.id()));
    let info: Value = serde_json::from_slice(&std::fs::read(record).unwrap()).unwrap();
    assert_eq!(info["pid"], child.id());
    assert_eq!(info["address"], format!("http://{addr}"));
    assert_eq!(
        info["db"],
        std::fs::canonicalize(dir.path().join("data/custom.db"))
            .unwrap()
            .to_str()
            .unwrap()
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

// Every test above without `#[test]` runs on both engines.
crate::engines! {
    edge_values_are_stored_or_refused_alike,
    every_operator_in_both_filter_forms,
    search_sort_fields_paging_and_meta,
    default_limit_is_100,
    collections_routes,
    create_one_answers_an_object_and_many_an_array_with_ids_in_order,
    a_duplicate_id_in_a_create_batch_creates_nothing,
    patch_one_merges_and_stores_null,
    patch_one_refuses_another_id_an_array_and_a_missing_item,
    patch_batch_as_an_array_of_items,
    patch_batch_by_keys,
    patch_batch_by_query,
    a_patch_batch_naming_a_missing_id_changes_nothing,
    delete_one,
    a_delete_batch_naming_a_missing_id_deletes_nothing,
    delete_batch_by_array_keys_and_query,
    ids_are_never_reused_after_a_delete,
    error_codes_and_statuses,
    ping_health_head_options_and_bodyless_json,
    token_auth,
    token_sent_to_a_server_without_one_is_ignored,
    cors,
    data_survives_a_restart,
    hostile_names_and_values_are_data,
}
