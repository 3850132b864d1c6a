//! Fields and indexes (SPEC §4.1): `/fields`, index switches, the upgrade of a database written
//! by the first release, and randomized data queried through the indexes agreeing with a plain
//! reference evaluation of the same filters and sorts.

use crate::common::{enc, seed, Server};
use serde_json::{json, Map, Value};
use std::cmp::Ordering;

/// The field indexes, named `directus_index__COLLECTION__FIELD` on either engine (PostgreSQL's
/// are named by a digest, mapped back here through `directus_fields`).
fn index_names(s: &Server) -> Vec<String> {
    if let Some(mut pg) = s.pg() {
        let made: Vec<String> = pg
            .query(
                "SELECT indexname FROM pg_indexes WHERE indexname LIKE 'directus_index%'",
                &[],
            )
            .unwrap()
            .into_iter()
            .map(|mut r| r.take(0).unwrap())
            .collect();
        let fields = pg
            .query("SELECT collection, field FROM directus_fields", &[])
            .unwrap();
        let mut names: Vec<String> = fields
            .into_iter()
            .map(|mut r| (r.take(0).unwrap(), r.take(1).unwrap()))
            .filter(|(c, f)| {
                made.contains(&directus::storage::postgres::object_name(
                    "directus_index",
                    &[c, f],
                ))
            })
            .map(|(c, f)| format!("directus_index__{c}__{f}"))
            .collect();
        names.sort();
        return names;
    }
    let conn = rusqlite::Connection::open(s.db()).unwrap();
    let mut stmt = conn
        .prepare("SELECT name FROM sqlite_schema WHERE type = 'index' AND name LIKE 'directus_index%' ORDER BY name")
        .unwrap();
    let names = stmt.query_map([], |r| r.get(0)).unwrap();
    names.collect::<Result<_, _>>().unwrap()
}

fn field<'a>(fields: &'a Value, name: &str) -> &'a Value {
    fields
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["field"] == name)
        .unwrap_or_else(|| panic!("no field {name} in {fields}"))
}

fn fields_show_types_and_indexes() {
    let s = Server::start(&[]);
    seed(
        &s,
        "a",
        r#"[{"n":1,"f":1.5,"s":"x","b":true,"o":{"k":1},"mix":1,"z":null},
            {"n":2,"f":2,"s":"y","b":false,"o":[1],"mix":"one"}]"#,
    );
    let fields = s.get("/fields/a").data();
    #[rustfmt::skip]
    let cases = [
        // field, Directus type, indexed
        ("id",  "integer", true),
        ("n",   "integer", true),
        ("f",   "float",   true),
        ("s",   "string",  true),
        ("b",   "boolean", true),
        ("o",   "json",    false),
        ("mix", "alias",   true),
        ("z",   "unknown", true),
    ];
    for (name, kind, indexed) in cases {
        let f = field(&fields, name);
        assert_eq!(f["type"], kind, "{name}: {f}");
        assert_eq!(f["schema"]["is_indexed"], indexed, "{name}: {f}");
        assert_eq!(f["collection"], "a", "{name}");
    }
    assert_eq!(fields.as_array().unwrap().len(), cases.len(), "{fields}");
    let one = s.get("/fields/a/s").data();
    assert_eq!(
        (one["field"].as_str(), one["type"].as_str()),
        (Some("s"), Some("string"))
    );
    for (path, status) in [
        ("/fields/a/nope", 403),
        ("/fields/nope", 403),
        ("/fields/a/a.b", 403),
    ] {
        assert_eq!(s.get(path).status, status, "{path}");
    }
    assert_eq!(
        index_names(&s),
        ["b", "f", "mix", "n", "s", "z"].map(|f| format!("directus_index__a__{f}"))
    );
}

fn index_switches_are_writes_and_queries_stay_exact() {
    let s = Server::start(&[]);
    seed(&s, "a", r#"[{"n":1,"t":"x"},{"n":2,"t":"y"},{"n":3}]"#);
    let ids = |q: &str| s.get(&format!("/items/a?fields=id&{q}")).ids();
    let off = s.json("PATCH", "/fields/a/n", r#"{"schema":{"is_indexed":false}}"#);
    assert_eq!(off.status, 200, "{}", off.text());
    assert_eq!(off.data()["schema"]["is_indexed"], false);
    assert!(!index_names(&s).contains(&"directus_index__a__n".to_string()));
    assert_eq!(ids("filter[n][_gte]=2&sort=-n"), vec![3, 2]);
    // A later write does not bring a switched-off index back.
    assert_eq!(s.json("POST", "/items/a", r#"{"n":4}"#).status, 200);
    assert!(!index_names(&s).contains(&"directus_index__a__n".to_string()));
    let on = s.json("PATCH", "/fields/a/n", r#"{"schema":{"is_indexed":true}}"#);
    assert_eq!(on.data()["schema"]["is_indexed"], true);
    assert!(index_names(&s).contains(&"directus_index__a__n".to_string()));
    assert_eq!(ids("filter[n][_gte]=2&sort=-n"), vec![4, 3, 2]);
    #[rustfmt::skip]
    let refused = [
        ("/fields/a/n",    r#"{"schema":{}}"#,                   400, "INVALID_PAYLOAD"),
        ("/fields/a/n",    r#"{"schema":{"is_indexed":"no"}}"#,  400, "INVALID_PAYLOAD"),
        ("/fields/a/id",   r#"{"schema":{"is_indexed":false}}"#, 400, "INVALID_PAYLOAD"),
        ("/fields/a/nope", r#"{"schema":{"is_indexed":false}}"#, 403, "FORBIDDEN"),
        ("/fields/x/n",    r#"{"schema":{"is_indexed":false}}"#, 403, "FORBIDDEN"),
        ("/fields/a/nope", r#"{bad"#,                             403, "FORBIDDEN"),
    ];
    for (path, body, status, code) in refused {
        let r = s.json("PATCH", path, body);
        assert_eq!(
            (r.status, r.code()),
            (status, code.to_string()),
            "PATCH {path} {body}"
        );
    }
    // Behind the maintenance gate like every write.
    std::fs::write(s.flag(), b"").unwrap();
    let r = s.json("PATCH", "/fields/a/n", r#"{"schema":{"is_indexed":false}}"#);
    assert_eq!(r.status, 503);
    std::fs::remove_file(s.flag()).unwrap();
    assert!(index_names(&s).contains(&"directus_index__a__n".to_string()));
    // A new field gets its index in the write that brings it; dropping the collection drops all.
    let r = s.json("PATCH", "/items/a/1", r#"{"fresh":true}"#);
    assert_eq!(r.status, 200);
    assert!(index_names(&s).contains(&"directus_index__a__fresh".to_string()));
    assert_eq!(s.req("DELETE", "/collections/a", &[], None).status, 204);
    assert_eq!(index_names(&s), Vec::<String>::new());
}

/// The first release's schema, exactly as it created it (schema version 1).
const FIRST_RELEASE_SCHEMA: &str = "
    CREATE TABLE directus_collections (
        collection TEXT PRIMARY KEY NOT NULL,
        last_id INTEGER NOT NULL DEFAULT 0,
        created_at TEXT NOT NULL
    );
    CREATE TABLE directus_items (
        collection TEXT NOT NULL REFERENCES directus_collections(collection) ON DELETE CASCADE,
        id INTEGER NOT NULL,
        data TEXT NOT NULL,
        PRIMARY KEY (collection, id)
    ) WITHOUT ROWID;
    PRAGMA user_version = 1;
";

#[test]
fn a_database_of_the_first_release_is_upgraded_in_place() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data")).unwrap();
    let db = dir.path().join("data/directus.db");
    let items = [
        (1, r#"{"title":"Alpha","views":10,"tags":["a"]}"#),
        (2, r#"{"title":"beta","views":2.5,"published":true}"#),
        (5, r#"{"odd key":1,"title":null}"#),
    ];
    {
        let conn = rusqlite::Connection::open(&db).unwrap();
        conn.execute_batch(FIRST_RELEASE_SCHEMA).unwrap();
        conn.execute(
            "INSERT INTO directus_collections VALUES ('articles', 5, '2026-11-01T00:00:00Z')",
            [],
        )
        .unwrap();
        for (id, data) in items {
            conn.execute(
                "INSERT INTO directus_items VALUES ('articles', ?1, ?2)",
                rusqlite::params![id, data],
            )
            .unwrap();
        }
    }
    let s = Server::start_in(dir.path(), &[]);
    let all = s.get("/items/articles?limit=-1").data();
    let expected: Vec<Value> = items
        .iter()
        .map(|(id, data)| {
            let mut item = Map::new();
            item.insert("id".into(), json!(id));
            item.extend(serde_json::from_str::<Map<String, Value>>(data).unwrap());
            Value::Object(item)
        })
        .collect();
    assert_eq!(all, Value::Array(expected));
    assert_eq!(
        index_names(&s),
        ["published", "title", "views"].map(|f| format!("directus_index__articles__{f}"))
    );
    let ids = |q: &str| s.get(&format!("/items/articles?fields=id&{q}")).ids();
    assert_eq!(ids("filter[views][_gt]=2&sort=-views"), vec![1, 2]);
    assert_eq!(ids("filter[title][_null]=true"), vec![5]);
    // Ids go on from the old last_id.
    let r = s.json("POST", "/items/articles", r#"{"title":"new"}"#);
    assert_eq!(r.data()["id"], 6);
    let conn = rusqlite::Connection::open(s.db()).unwrap();
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(version, 6);
    // The text index holds the old items and the new one, and nothing waits to reach it.
    assert_eq!(ids("search=alp"), vec![1]);
    assert_eq!(ids("filter[title][_contains]=ew"), vec![6]);
    let waiting: i64 = conn
        .query_row(
            "SELECT (SELECT count(*) FROM directus_text_pending) \
             + (SELECT count(*) FROM directus_text_defer)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(waiting, 0);
    // Every top-level field is recorded (the bound on fields counts them), indexed or not.
    let mut stmt = conn
        .prepare("SELECT field, indexed FROM directus_fields ORDER BY field")
        .unwrap();
    let recorded: Vec<(String, bool)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    let want = [
        ("odd key", false),
        ("published", true),
        ("tags", false),
        ("title", true),
        ("views", true),
    ];
    assert_eq!(recorded, want.map(|(f, i)| (f.to_string(), i)));
}

/// The rows of the substring index for one item: (rowid, field, value).
fn string_rows(db: &std::path::Path, id: i64) -> Vec<(i64, String, String)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT rowid, field, value FROM directus_strings \
             WHERE collection = 'a' AND id = ?1 ORDER BY field",
        )
        .unwrap();
    let rows = stmt
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap();
    rows.collect::<rusqlite::Result<_>>().unwrap()
}

#[test]
fn an_update_reindexes_only_the_strings_it_changed() {
    let s = Server::start(&[]);
    let body = "lorem ipsum ".repeat(50);
    seed(
        &s,
        "a",
        &json!([{"title": "first words", "body": body, "views": 1}]).to_string(),
    );
    let before = string_rows(&s.db(), 1);
    assert_eq!(before.len(), 2);
    // A number changed: no string row is touched.
    assert_eq!(s.json("PATCH", "/items/a/1", r#"{"views":2}"#).status, 200);
    assert_eq!(string_rows(&s.db(), 1), before);
    // One string changed: its row is replaced, the other stays as it was.
    assert_eq!(
        s.json("PATCH", "/items/a/1", r#"{"title":"other words"}"#)
            .status,
        200
    );
    let after = string_rows(&s.db(), 1);
    assert_eq!(after[0], before[0], "the body's row was rewritten");
    assert_eq!(
        (after[1].1.as_str(), after[1].2.as_str()),
        ("title", "other words")
    );
    assert_ne!(after[1].0, before[1].0);
    let found = |q: &str| {
        s.get(&format!("/items/a?fields=id&filter[title][_contains]={q}"))
            .ids()
    };
    assert_eq!(found("other"), vec![1]);
    assert!(found("first").is_empty());
    // A string field replaced by a number, and one made null: their rows go.
    assert_eq!(
        s.json("PATCH", "/items/a/1", r#"{"title":7,"body":null}"#)
            .status,
        200
    );
    assert!(string_rows(&s.db(), 1).is_empty());
    assert!(s.get("/items/a?search=lorem").ids().is_empty());
    let conn = rusqlite::Connection::open(s.db()).unwrap();
    conn.execute_batch("INSERT INTO directus_text (directus_text) VALUES ('integrity-check')")
        .unwrap();
}

/// A small deterministic generator (xorshift), so a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

const WORDS: [&str; 8] = [
    "apple",
    "Apple",
    "APPLE pie",
    "banana",
    "a%b",
    "a_b",
    "",
    "zeta",
];

/// A value for field `a`: any JSON type, or missing (`None`).
fn any_value(rng: &mut Rng) -> Option<Value> {
    match rng.below(9) {
        0 => None,
        1 => Some(Value::Null),
        2 => Some(json!(rng.below(2) == 0)),
        3 | 4 => Some(json!(rng.below(7) as i64 - 2)),
        5 => Some(json!(rng.below(9) as f64 / 2.0 - 1.0)),
        6 | 7 => Some(json!(rng.pick(&WORDS))),
        _ => Some(json!({"k": rng.below(3)})),
    }
}

fn item(rng: &mut Rng) -> Map<String, Value> {
    let mut m = Map::new();
    if let Some(v) = any_value(rng) {
        m.insert("a".into(), v);
    }
    // `s`: strings or null or missing; `n`: integers or null or missing (sortable in a reference).
    match rng.below(5) {
        0 => {}
        1 => {
            m.insert("s".into(), Value::Null);
        }
        _ => {
            m.insert("s".into(), json!(rng.pick(&WORDS)));
        }
    }
    match rng.below(5) {
        0 => {}
        1 => {
            m.insert("n".into(), Value::Null);
        }
        _ => {
            m.insert("n".into(), json!(rng.below(6) as i64 - 1));
        }
    }
    m
}

/// JSON numbers compare as numbers, strings by their bytes; other types never compare.
fn ordered(a: &Value, b: &Value) -> Option<Ordering> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
        (Value::String(x), Value::String(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        _ => None,
    }
}

fn same(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Null, Value::Null) => true,
        (Value::Bool(x), Value::Bool(y)) => x == y,
        _ => ordered(a, b) == Some(Ordering::Equal),
    }
}

/// The reference evaluation of one condition on one value (`Null` for a missing field).
fn holds(op: &str, v: &Value, x: &Value) -> bool {
    let text = |f: fn(&str, &str) -> bool| match (v, x) {
        (Value::String(h), Value::String(n)) => f(h, n),
        _ => false,
    };
    match op {
        "_eq" => same(v, x),
        "_in" => x.as_array().unwrap().iter().any(|x| same(v, x)),
        "_lt" => ordered(v, x) == Some(Ordering::Less),
        "_lte" => matches!(ordered(v, x), Some(Ordering::Less | Ordering::Equal)),
        "_gt" => ordered(v, x) == Some(Ordering::Greater),
        "_gte" => matches!(ordered(v, x), Some(Ordering::Greater | Ordering::Equal)),
        "_between" => {
            let r = x.as_array().unwrap();
            holds("_gte", v, &r[0]) && holds("_lte", v, &r[1])
        }
        "_null" => v.is_null(),
        "_empty" => v.is_null() || v == "",
        "_contains" => text(|h, n| h.contains(n)),
        "_icontains" => text(|h, n| h.to_ascii_lowercase().contains(&n.to_ascii_lowercase())),
        "_starts_with" => text(|h, n| h.starts_with(n)),
        "_istarts_with" => text(|h, n| h.to_ascii_lowercase().starts_with(&n.to_ascii_lowercase())),
        "_ends_with" => text(|h, n| h.ends_with(n)),
        "_iends_with" => text(|h, n| h.to_ascii_lowercase().ends_with(&n.to_ascii_lowercase())),
        negated => !holds(&negated.replacen("_n", "_", 1), v, x),
    }
}

const OPS: [&str; 24] = [
    "_eq",
    "_neq",
    "_lt",
    "_lte",
    "_gt",
    "_gte",
    "_in",
    "_nin",
    "_null",
    "_nnull",
    "_empty",
    "_nempty",
    "_between",
    "_nbetween",
    "_contains",
    "_ncontains",
    "_icontains",
    "_starts_with",
    "_nstarts_with",
    "_istarts_with",
    "_ends_with",
    "_nends_with",
    "_iends_with",
    "_niends_with",
];

/// An operand for `op` that the parser accepts.
fn operand(rng: &mut Rng, op: &str) -> Value {
    let scalar = |rng: &mut Rng| loop {
        if let Some(v) = any_value(rng).filter(|v| !v.is_object()) {
            return v;
        }
    };
    let ordered_scalar = |rng: &mut Rng| loop {
        let v = scalar(rng);
        if v.is_number() || v.is_string() {
            return v;
        }
    };
    match op {
        "_eq" | "_neq" => scalar(rng),
        "_in" | "_nin" => Value::Array((0..rng.below(4)).map(|_| scalar(rng)).collect()),
        "_lt" | "_lte" | "_gt" | "_gte" => ordered_scalar(rng),
        "_between" | "_nbetween" => {
            if rng.below(2) == 0 {
                json!([rng.below(5) as i64 - 2, rng.below(5) as i64])
            } else {
                json!([rng.pick(&WORDS[..4]), rng.pick(&WORDS[3..])])
            }
        }
        "_null" | "_nnull" | "_empty" | "_nempty" => json!(true),
        _ => json!(rng.pick(&["a", "A", "pp", "APPLE", "%", "_", "e", "apple pie", ""])),
    }
}

/// An operand for a filter on `id`: the same shapes as `operand`, with values near the ids
/// (1 and up), and half the numbers given as strings ("3", "3.0") or as floats (3.0, 1.5), which
/// must never match across types.
fn id_operand(rng: &mut Rng, op: &str) -> Value {
    let near = |rng: &mut Rng| -> Value {
        let n = rng.below(8) as i64;
        match rng.below(6) {
            0 => json!(n.to_string()),
            1 => json!(format!("{n}.0")),
            2 => json!(n as f64),
            3 => json!(n as f64 + 0.5),
            _ => json!(n),
        }
    };
    match op {
        "_eq" | "_neq" | "_lt" | "_lte" | "_gt" | "_gte" => near(rng),
        "_in" | "_nin" => Value::Array((0..1 + rng.below(4)).map(|_| near(rng)).collect()),
        "_between" | "_nbetween" => {
            let (a, b) = (rng.below(4), 2 + rng.below(6));
            if rng.below(2) == 0 {
                json!([a, b])
            } else {
                json!([a.to_string(), b.to_string()])
            }
        }
        "_starts_with" | "_nstarts_with" | "_istarts_with" | "_ends_with" | "_nends_with"
        | "_iends_with" | "_niends_with" | "_contains" | "_ncontains" | "_icontains" => {
            json!(rng.below(4).to_string())
        }
        _ => operand(rng, op),
    }
}

/// `null` first, then numbers, then strings; booleans as 0 and 1 (as SQLite sees them); ties
/// by id.
fn sort_key(v: &Value) -> (u8, f64, Vec<u8>) {
    match v {
        Value::Null => (0, 0.0, vec![]),
        Value::Bool(b) => (1, f64::from(u8::from(*b)), vec![]),
        Value::Number(n) => (1, n.as_f64().unwrap(), vec![]),
        Value::String(s) => (2, 0.0, s.as_bytes().to_vec()),
        other => panic!("unsortable {other}"),
    }
}

fn check_against_reference(s: &Server, rng: &mut Rng, rounds: usize) {
    let all = s.get("/items/r?limit=-1").data();
    let items: Vec<&Map<String, Value>> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_object().unwrap())
        .collect();
    let get = |item: &Map<String, Value>, f: &str| item.get(f).cloned().unwrap_or(Value::Null);
    for round in 0..rounds {
        let op = OPS[round % OPS.len()];
        let f = *rng.pick(&["a", "a", "s", "n", "id"]);
        let x = if f == "id" {
            id_operand(rng, op)
        } else {
            operand(rng, op)
        };
        let filter = json!({ f: { op: x } });
        let want: Vec<i64> = items
            .iter()
            .filter(|it| holds(op, &get(it, f), &x))
            .map(|it| it["id"].as_i64().unwrap())
            .collect();
        let q = format!(
            "/items/r?fields=id&limit=-1&filter={}",
            enc(&filter.to_string())
        );
        assert_eq!(s.get(&q).ids(), want, "filter {filter}");
    }
    for (sort, f, desc) in [
        ("n", "n", false),
        ("-n", "n", true),
        ("s", "s", false),
        ("-s", "s", true),
    ] {
        let mut want: Vec<&Map<String, Value>> = items.clone();
        want.sort_by(|x, y| {
            let (kx, ky) = (sort_key(&get(x, f)), sort_key(&get(y, f)));
            let by_value = kx.partial_cmp(&ky).unwrap();
            let by_value = if desc { by_value.reverse() } else { by_value };
            by_value.then(x["id"].as_i64().cmp(&y["id"].as_i64()))
        });
        let want: Vec<i64> = want.iter().map(|it| it["id"].as_i64().unwrap()).collect();
        for limit in [5, 37] {
            let got = s
                .get(&format!("/items/r?fields=id&sort={sort}&limit={limit}"))
                .ids();
            assert_eq!(
                got,
                want[..limit.min(want.len())],
                "sort={sort} limit={limit}"
            );
        }
    }
}

fn randomized_data_agrees_with_a_reference_scan() {
    let s = Server::start(&[]);
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let items: Vec<Value> = (0..300).map(|_| Value::Object(item(&mut rng))).collect();
    seed(&s, "r", &Value::Array(items).to_string());
    check_against_reference(&s, &mut rng, 240);
    // Updates that change types, deletes, and an index switched off then on.
    for id in (1..=300).step_by(7) {
        let patch = Value::Object(item(&mut rng));
        assert_eq!(
            s.json("PATCH", &format!("/items/r/{id}"), &patch.to_string())
                .status,
            200
        );
    }
    let doomed: Vec<i64> = (1..=300).step_by(11).collect();
    let r = s.json("DELETE", "/items/r", &json!(doomed).to_string());
    assert_eq!(r.status, 204);
    check_against_reference(&s, &mut rng, 120);
    for on in [false, true] {
        let body = json!({"schema": {"is_indexed": on}}).to_string();
        assert_eq!(s.json("PATCH", "/fields/r/a", &body).status, 200);
        check_against_reference(&s, &mut rng, 72);
    }
}

fn large_in_lists_and_bounds() {
    let s = Server::start(&[]);
    let items: Vec<Value> = (0..50).map(|i| json!({"n": i})).collect();
    seed(&s, "a", &Value::Array(items).to_string());
    let many: Vec<i64> = (0..10_000).map(|i| i * 5).collect();
    let list = many
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let ids = s
        .get(&format!(
            "/items/a?fields=id&limit=-1&filter[n][_in]={list}"
        ))
        .ids();
    assert_eq!(ids, (1..=50).step_by(5).collect::<Vec<_>>());
    let ids = s
        .get(&format!(
            "/items/a?fields=id&limit=-1&filter[id][_nin]={list}"
        ))
        .ids();
    assert_eq!(ids.len(), 40);
    // The same in a batch body: DELETE by a query with 10,000 values.
    let body = json!({"query": {"filter": {"n": {"_in": many}}}}).to_string();
    assert_eq!(s.json("DELETE", "/items/a", &body).status, 204);
    assert_eq!(
        s.get("/items/a?limit=-1").data().as_array().unwrap().len(),
        40
    );
    let keys: Vec<String> = (0..2000).map(|i| format!("f{i}")).collect();
    #[rustfmt::skip]
    let over = [
        format!("sort={}", keys.join(",")),
        format!("filter[n][_in]={}", (0..100_001).map(|i| i.to_string()).collect::<Vec<_>>().join(",")),
        "sort=n,".to_string(),
        "fields=,id".to_string(),
    ];
    for q in over {
        let r = s.get(&format!("/items/a?{q}"));
        assert_eq!(
            (r.status, r.code()),
            (400, "INVALID_QUERY".to_string()),
            "{}…",
            &q[..20]
        );
    }
}

#[test]
fn edits_with_the_sqlite3_shell_keep_the_indexes() {
    // Debian's sqlite3 (older than the bundled SQLite) is what operators use during
    // maintenance; the field indexes and the text index must follow its edits.
    let s = Server::start(&[]);
    seed(
        &s,
        "a",
        r#"[{"t":"plain one"},{"t":"plain two"},{"t":"plain three"},{"t":"quokka four"}]"#,
    );
    let sql = "
        UPDATE directus_items SET data = json_set(data, '$.t', 'a quokka here') WHERE id = 1;
        INSERT OR REPLACE INTO directus_items (collection, id, data) VALUES ('a', 2, '{\"t\":\"quokka too\"}');
        DELETE FROM directus_items WHERE id = 4;
        INSERT INTO directus_items (collection, id, data) VALUES ('a', 9, '{\"t\":\"QUOKKA nine\",\"n\":5}');
    ";
    let out = std::process::Command::new("sqlite3")
        .arg(s.db())
        .arg(sql)
        .output()
        .expect("sqlite3 is installed (.ci/run installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ids = |q: &str| s.get(&format!("/items/a?fields=id&{q}")).ids();
    assert_eq!(ids("filter[t][_contains]=quokka"), vec![1, 2]);
    assert_eq!(ids("filter[t][_icontains]=quokka"), vec![1, 2, 9]);
    assert_eq!(ids("search=QUOKKA"), vec![1, 2, 9]);
    assert_eq!(ids("filter[t][_ncontains]=quokka"), vec![3, 9]);
    assert_eq!(ids("filter[n][_eq]=5"), vec![9]);
    let conn = rusqlite::Connection::open(s.db()).unwrap();
    conn.execute(
        "INSERT INTO directus_text (directus_text, rank) VALUES ('integrity-check', 1)",
        [],
    )
    .expect("the text index matches its content");
    let stale: i64 = conn
        .query_row(
            "SELECT count(*) FROM directus_strings AS s WHERE NOT EXISTS (SELECT 1 FROM \
             directus_items AS d, json_each(d.data) AS je WHERE d.collection = s.collection \
             AND d.id = s.id AND je.key = s.field AND je.value = s.value)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(stale, 0);
}

fn at_most_64_fields_are_indexed_automatically() {
    let s = Server::start(&[]);
    let item: Map<String, Value> = (0..70).map(|i| (format!("f{i:02}"), json!(i))).collect();
    seed(&s, "a", &Value::Object(item).to_string());
    let fields = s.get("/fields/a").data();
    let indexed = |want: bool| {
        fields
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["field"] != "id" && f["schema"]["is_indexed"] == want)
            .count()
    };
    assert_eq!((indexed(true), indexed(false)), (64, 6), "{fields}");
    assert_eq!(index_names(&s).len(), 64);
    // A field beyond the bound can still be switched on by hand, and queries stay exact.
    let on = s.json(
        "PATCH",
        "/fields/a/f69",
        r#"{"schema":{"is_indexed":true}}"#,
    );
    assert_eq!(on.data()["schema"]["is_indexed"], true);
    assert_eq!(index_names(&s).len(), 65);
    assert_eq!(
        s.get("/items/a?fields=id&filter[f68][_eq]=68").ids(),
        vec![1]
    );
}

/// `id` is a JSON number: a string, a boolean or `null` never equals it, in either filter form,
/// in lists, ranges and batch `query` bodies. (SQLite's `INTEGER` affinity once turned `"3"`
/// into 3 before comparing.)
fn id_matches_numbers_only() {
    let s = Server::start(&[]);
    let items: Vec<Value> = (1..=6)
        .map(|i| json!({"n": i, "s": i.to_string()}))
        .collect();
    seed(&s, "a", &Value::Array(items).to_string());
    let count = |filter: Value| {
        let r = s.get(&format!(
            "/items/a?fields=id&limit=-1&meta=filter_count&filter={}",
            enc(&filter.to_string())
        ));
        assert_eq!(r.status, 200, "{filter}: {}", r.text());
        (r.ids(), r.json()["meta"]["filter_count"].as_i64().unwrap())
    };
    #[rustfmt::skip]
    let cases: [(Value, &[i64]); 22] = [
        (json!({"id": {"_eq": "3"}}),              &[]),
        (json!({"id": {"_eq": 3}}),                &[3]),
        (json!({"id": {"_eq": 3.0}}),              &[3]),
        (json!({"id": {"_eq": 1.5}}),              &[]),
        (json!({"id": {"_eq": true}}),             &[]),
        (json!({"id": {"_eq": null}}),             &[]),
        (json!({"id": {"_neq": "3"}}),             &[1, 2, 3, 4, 5, 6]),
        (json!({"id": {"_lt": "3"}}),              &[]),
        (json!({"id": {"_gte": "3"}}),             &[]),
        (json!({"id": {"_gt": 4.5}}),              &[5, 6]),
        (json!({"id": {"_in": ["1", "2", 3]}}),    &[3]),
        (json!({"id": {"_in": [true, null]}}),     &[]),
        (json!({"id": {"_nin": ["1", 2]}}),        &[1, 3, 4, 5, 6]),
        (json!({"id": {"_between": ["2", "4"]}}),  &[]),
        (json!({"id": {"_between": [2, 4]}}),      &[2, 3, 4]),
        (json!({"id": {"_nbetween": ["2", "4"]}}), &[1, 2, 3, 4, 5, 6]),
        (json!({"id": {"_starts_with": "1"}}),     &[]),
        (json!({"id": {"_contains": "1"}}),        &[]),
        (json!({"id": {"_null": true}}),           &[]),
        (json!({"_or": [{"id": {"_eq": "2"}}, {"n": {"_eq": 5}}]}),   &[5]),
        (json!({"_and": [{"id": {"_gte": 2}}, {"s": {"_eq": "3"}}]}), &[3]),
        (json!({"_and": [{"id": {"_eq": "3"}}, {"s": {"_eq": "3"}}]}), &[]),
    ];
    for (filter, want) in cases {
        let (ids, filtered) = count(filter.clone());
        assert_eq!(
            (ids.as_slice(), filtered),
            (want, want.len() as i64),
            "{filter}"
        );
    }
    // The bracket form: a value that is not a number is a string.
    let ids = |q: &str| s.get(&format!("/items/a?fields=id&limit=-1&{q}")).ids();
    assert_eq!(ids("filter[id][_eq]=3"), vec![3]);
    assert_eq!(ids("filter[id][_eq]=3x"), Vec::<i64>::new());
    assert_eq!(ids("filter[id][_in]=2,x"), vec![2]);
    assert_eq!(ids("filter[id][_lt]=a"), Vec::<i64>::new());
    // Sorting on id mixed with other fields.
    assert_eq!(ids("sort=-s,id&filter[id][_neq]=4"), vec![6, 5, 3, 2, 1]);
    // Batch bodies select by the same rule: a string id changes nothing.
    let patch = json!({"query": {"filter": {"id": {"_in": ["1", "2"]}}}, "data": {"x": 1}});
    let r = s.json("PATCH", "/items/a", &patch.to_string());
    assert_eq!((r.status, r.data()), (200, json!([])), "{}", r.text());
    let delete = json!({"query": {"filter": {"id": {"_eq": "1"}}}});
    assert_eq!(
        s.json("DELETE", "/items/a", &delete.to_string()).status,
        204
    );
    assert_eq!(ids("filter[x][_nnull]=true"), Vec::<i64>::new());
    assert_eq!(ids(""), vec![1, 2, 3, 4, 5, 6]);
    let delete = json!({"query": {"filter": {"id": {"_eq": 1}}}});
    assert_eq!(
        s.json("DELETE", "/items/a", &delete.to_string()).status,
        204
    );
    assert_eq!(ids(""), vec![2, 3, 4, 5, 6]);
}

/// The fields of one collection are bounded (2,000 besides `id`): a write that would pass the
/// bound is refused whole, with the bound named, and writes of known fields go on.
fn a_collection_holds_at_most_2000_fields() {
    let s = Server::start(&[]);
    seed(&s, "a", r#"{"title":"first"}"#);
    let fields = |prefix: &str, n: usize, value: Value| -> String {
        let m: Map<String, Value> = (0..n)
            .map(|i| (format!("{prefix}{i}"), value.clone()))
            .collect();
        Value::Object(m).to_string()
    };
    // 1,999 more (one is `title`), of every kind of value and name: the bound is reached.
    let r = s.json("POST", "/items/a", &fields("n", 1_000, json!(1)));
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s.json("POST", "/items/a", &fields("o", 500, json!({"k": 1})));
    assert_eq!(r.status, 200, "{}", r.text());
    let r = s.json("POST", "/items/a", &fields("odd key ", 499, json!("x")));
    assert_eq!(r.status, 200, "{}", r.text());
    let before = s.snapshot();
    let count = || s.get("/fields/a").data().as_array().unwrap().len();
    assert_eq!(count(), 2_001);
    // One new field more, alone, among known ones, in a batch or in a PATCH: refused whole.
    #[rustfmt::skip]
    let refused = [
        ("POST",  "/items/a",   r#"{"brand_new":1}"#.to_string()),
        ("POST",  "/items/a",   r#"{"title":"t","n1":2,"o1":{"brand":"new"},"x y":null}"#.to_string()),
        ("POST",  "/items/a",   r#"[{"title":"ok"},{"new":[1]}]"#.to_string()),
        ("PATCH", "/items/a/1", r#"{"title":"changed","brand_new":true}"#.to_string()),
        ("PATCH", "/items/a",   r#"{"keys":[1,2],"data":{"brand_new":"x"}}"#.to_string()),
        ("POST",  "/items/a",   fields("m", 3_000, json!(1))),
    ];
    for (method, path, body) in &refused {
        let r = s.json(method, path, body);
        assert_eq!(
            (r.status, r.code()),
            (400, "INVALID_PAYLOAD".to_string()),
            "{method} {path} {}",
            &body[..body.len().min(60)]
        );
        assert!(r.text().contains("2000 fields"), "{}", r.text());
    }
    assert_eq!(s.snapshot(), before);
    assert_eq!(count(), 2_001);
    // Writes of fields the collection has are not bounded.
    let r = s.json("POST", "/items/a", r#"{"title":"t","n5":5,"o5":[1]}"#);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        s.json("PATCH", "/items/a/1", r#"{"n999":"now a string"}"#)
            .status,
        200
    );
    // Another collection has a bound of its own.
    seed(&s, "b", &fields("n", 2_000, json!(null)));
    assert_eq!(s.json("POST", "/items/b", r#"{"more":1}"#).status, 400);
}

/// A field seen first as an object gets its automatic index when a scalar value comes.
fn a_field_first_seen_as_an_object_is_indexed_when_a_scalar_comes() {
    let s = Server::start(&[]);
    seed(&s, "a", r#"{"o":{"k":1},"p":[1]}"#);
    assert_eq!(index_names(&s), Vec::<String>::new());
    assert_eq!(s.json("POST", "/items/a", r#"{"o":5}"#).status, 200);
    assert_eq!(index_names(&s), ["directus_index__a__o"]);
    assert_eq!(s.get("/items/a?fields=id&filter[o][_eq]=5").ids(), vec![2]);
    let p = s.get("/fields/a/p").data();
    assert_eq!(p["schema"]["is_indexed"], false, "{p}");
}

// Every test above without `#[test]` runs on both engines.
crate::engines! {
    fields_show_types_and_indexes,
    index_switches_are_writes_and_queries_stay_exact,
    randomized_data_agrees_with_a_reference_scan,
    large_in_lists_and_bounds,
    at_most_64_fields_are_indexed_automatically,
    id_matches_numbers_only,
    a_collection_holds_at_most_2000_fields,
    a_field_first_seen_as_an_object_is_indexed_when_a_scalar_comes,
}
