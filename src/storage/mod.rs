//! Storage: the only module that writes SQL.
//!
//! Every collection lives in the same tables, so no name from a request ever becomes an SQL
//! identifier, and values are always bound parameters:
//!
//! - `directus_collections(collection, last_id, created_at)`: one row per collection; `last_id`
//!   makes ids increase and never be reused, like an AUTOINCREMENT column.
//! - `directus_items(collection, id, data)`: one row per item; `data` is the item's JSON object
//!   without its `id`.
//! - `directus_fields(collection, field, indexed)` and one partial expression index per indexed
//!   field (`schema`); queries name the collection and the field's JSON path as literals so
//!   SQLite can use those indexes (`select`).
//!
//! This file opens a connection (`Storage::open`: pragmas, then `migrations`) and reads; the
//! files beside it hold one concern each: `writer` (the write transaction: one `BEGIN
//! IMMEDIATE`, a savepoint per request whose `Writer` is the only way to change the database,
//! one commit; the caller runs the maintenance gate between `begin` and the first part),
//! `migrations` (the append-only schema list), `schema` (fields and their indexes), `select`
//! (the SQL of filters, sorts and pages), `drain` (the CLI's drain) and `error`.
//!
//! Statements on `directus_items` that look items up by key write `collection = +?1`: compared
//! with a bare parameter, the partial indexes' `collection = 'c'` makes SQLite re-prepare the
//! statement at every new binding (to decide again whether a partial index applies), a tenth of
//! a write's CPU; the unary plus opts out of that and keeps the primary-key lookup.
//!
//! Storage speaks in its own terms: rows, counts, `Option` and `StorageError`. It never decides
//! what a client sees; the API maps its errors at the edge.

mod drain;
mod engine;
mod error;
mod migrations;
pub mod postgres;
mod schema;
mod select;
mod writer;

pub use drain::{drain, DrainError, DrainReport};
pub use engine::{Database, Storage, Writer};
pub use error::{Result, StorageError};
pub use postgres::{ClusterState, PgWriter, Postgres};
pub use schema::{MAX_AUTO_INDEXES, MAX_COLLECTION_FIELDS};
pub use writer::SqliteWriter;

use writer::WriteState;

use crate::query::Query;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use select::Select;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// An item as the API shows it: a JSON object whose first key is `id`.
pub type Item = Map<String, Value>;

/// How long a statement waits for another process's lock (reads, and migrations at start;
/// writes set their own, shorter, wait in `Storage::begin`).
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// A connection to a SQLite database: a worker's, for reads, or the process's one writer.
pub struct Sqlite {
    conn: Connection,
    /// State of the open write transaction, if any (see `begin`).
    write: WriteState,
}

/// A field as `GET /fields` shows it.
#[derive(Debug, PartialEq)]
pub struct FieldInfo {
    pub field: String,
    /// The type Directus would give it: `integer`, `float`, `string`, `boolean`, `json`,
    /// `alias` (items disagree) or `unknown` (only nulls).
    pub kind: &'static str,
    pub indexed: bool,
}

/// An item as stored: its id, and its fields as the JSON object text they were written as.
#[derive(Debug)]
pub struct StoredItem {
    pub id: i64,
    pub(super) data: String,
}

impl StoredItem {
    /// The item as a JSON object whose first key is `id`.
    pub fn to_item(&self) -> Result<Item> {
        let data = parse_data(self.id, &self.data)?;
        let mut item = Map::with_capacity(data.len() + 1);
        item.insert("id".into(), Value::from(self.id));
        item.extend(data);
        Ok(item)
    }

    /// Appends the item's JSON (`{"id":…,…}`) to `out` without building it value by value: the
    /// stored text is checked to be a JSON object and spliced after the `id`. Reads of whole
    /// items, the hot path, skip a parse and a serialization this way.
    pub fn write_json(&self, out: &mut Vec<u8>) -> Result<()> {
        let valid = self.data.starts_with('{')
            && serde_json::from_str::<serde::de::IgnoredAny>(&self.data).is_ok();
        if !valid {
            return Err(StorageError::Corrupt { id: self.id });
        }
        out.extend_from_slice(b"{\"id\":");
        out.extend_from_slice(self.id.to_string().as_bytes());
        let rest = self.data[1..].trim_start();
        if !rest.starts_with('}') {
            out.push(b',');
        }
        out.extend_from_slice(rest.as_bytes());
        Ok(())
    }
}

/// A page of items with the counts `meta` asked for.
pub struct Page {
    pub items: Vec<StoredItem>,
    pub total_count: Option<u64>,
    pub filter_count: Option<u64>,
}

impl Sqlite {
    /// Opens (creating if needed) the database, sets the durability pragmas and migrates it.
    pub fn open(path: &Path) -> Result<Sqlite> {
        let conn = Connection::open(path)?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        // WAL lets readers run beside the writer; FULL makes a commit durable before the answer.
        let mode: String = conn.query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            log::warn!("database is in journal mode {mode}, not WAL");
        }
        // wal_autocheckpoint: a commit that finds the WAL over 4,000 pages (16 MB) checkpoints
        // it. At SQLite's default of 1,000 the writer copied its busiest pages (index roots,
        // the text index's structure) back to the main file four times as often for the same
        // writes: bulk creates ran 2-9% slower (five alternated pairs).
        conn.execute_batch(
            "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-2000; \
             PRAGMA wal_autocheckpoint=4000;",
        )?;
        // Queries name collections and fields as literals: one statement per shape.
        conn.set_prepared_statement_cache_capacity(64);
        let mut storage = Sqlite {
            conn,
            write: WriteState::default(),
        };
        migrations::migrate(&mut storage.conn)?;
        Ok(storage)
    }

    /// A trivial query, for `/server/health`.
    pub fn ping(&self) -> Result<()> {
        Ok(self.conn.query_row("SELECT 1", [], |_| Ok(()))?)
    }

    /// The names of all collections, alphabetically.
    pub fn list_collections(&self) -> Result<Vec<String>> {
        let mut stmt = self
            .conn
            .prepare_cached("SELECT collection FROM directus_collections ORDER BY collection")?;
        let names = stmt.query_map([], |r| r.get(0))?;
        Ok(names.collect::<rusqlite::Result<_>>()?)
    }

    /// True when the collection exists.
    pub fn collection_exists(&self, name: &str) -> Result<bool> {
        collection_exists(&self.conn, name)
    }

    /// One item, or `None` when it (or its collection) does not exist.
    pub fn read_item(&self, collection: &str, id: i64) -> Result<Option<StoredItem>> {
        read_item(&self.conn, collection, id)
    }

    /// The items a query selects, with the counts it asked for, from one consistent snapshot.
    pub fn read_items(
        &mut self,
        collection: &str,
        query: &Query,
        default_limit: i64,
    ) -> Result<Page> {
        let tx = self.conn.transaction()?;
        let page = read_page(&tx, collection, query, default_limit)?;
        tx.commit()?;
        Ok(page)
    }

    /// The fields seen in a collection's items (`id` first), with their types and whether
    /// each is indexed. Reads every item of the collection: for `/fields`, not a hot path.
    pub fn fields(&self, collection: &str) -> Result<Vec<FieldInfo>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT je.key, je.type FROM directus_items AS d, json_each(d.data) AS je \
             WHERE d.collection = +?1 GROUP BY je.key, je.type ORDER BY min(d.id), je.key",
        )?;
        let rows = stmt.query_map([collection], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))?;
        let rows = rows.collect::<rusqlite::Result<Vec<(String, String)>>>()?;
        field_infos(rows, |field| {
            Ok(schema::is_indexed(&self.conn, collection, field)? == Some(true))
        })
    }
}

/// `GET /fields` from (field, JSON type) pairs, each field's first in the order of the item
/// that first holds it (types named as SQLite's `json_type` names them): `id` first, then each
/// field with its Directus type and whether `indexed` says it has an index. Both engines.
pub(super) fn field_infos(
    rows: Vec<(String, String)>,
    mut indexed: impl FnMut(&str) -> Result<bool>,
) -> Result<Vec<FieldInfo>> {
    let mut seen: Vec<(String, Vec<String>)> = Vec::new();
    let mut at: BTreeMap<String, usize> = BTreeMap::new();
    for (field, kind) in rows {
        let i = *at.entry(field.clone()).or_insert_with(|| {
            seen.push((field, Vec::new()));
            seen.len() - 1
        });
        seen[i].1.push(kind);
    }
    let mut out = vec![FieldInfo {
        field: "id".into(),
        kind: "integer",
        indexed: true,
    }];
    for (field, kinds) in seen {
        out.push(FieldInfo {
            kind: directus_type(&kinds),
            indexed: indexed(&field)?,
            field,
        });
    }
    Ok(out)
}

/// The Directus type of a field from the JSON types its values have.
fn directus_type(json_types: &[String]) -> &'static str {
    let mut kinds: Vec<&str> = json_types
        .iter()
        .filter(|t| *t != "null")
        .map(|t| match t.as_str() {
            "integer" => "integer",
            "real" => "float",
            "text" => "string",
            "true" | "false" => "boolean",
            _ => "json",
        })
        .collect();
    kinds.sort_unstable();
    kinds.dedup();
    match kinds.as_slice() {
        [] => "unknown",
        [one] => one,
        ["float", "integer"] => "float",
        _ => "alias",
    }
}

fn collection_exists(conn: &Connection, name: &str) -> Result<bool> {
    let mut stmt =
        conn.prepare_cached("SELECT 1 FROM directus_collections WHERE collection = ?1")?;
    Ok(stmt.exists([name])?)
}

fn read_item(conn: &Connection, collection: &str, id: i64) -> Result<Option<StoredItem>> {
    let mut stmt =
        conn.prepare_cached("SELECT data FROM directus_items WHERE collection = +?1 AND id = ?2")?;
    let text: Option<String> = stmt
        .query_row(params![collection, id], |r| r.get(0))
        .optional()?;
    Ok(text.map(|data| StoredItem { id, data }))
}

/// Merges each patch into its item, in order (an id may come more than once), and returns the
/// items as they are to be stored, each once, in the order of their first patch. `current`
/// gives an item's stored text (`None`: no such item, which is `NoSuchItem`); it is asked once
/// per id. Both engines' updates run through here.
pub(super) fn merge_patches(
    collection: &str,
    patches: &[(i64, &Map<String, Value>)],
    mut current: impl FnMut(i64) -> Result<Option<String>>,
) -> Result<Vec<StoredItem>> {
    let mut merged: Vec<(i64, Map<String, Value>)> = Vec::new();
    let mut at = std::collections::HashMap::new();
    for (id, patch) in patches {
        let i = match at.get(id) {
            Some(i) => *i,
            None => {
                let text = current(*id)?.ok_or_else(|| StorageError::NoSuchItem {
                    collection: collection.to_string(),
                    id: *id,
                })?;
                merged.push((*id, parse_data(*id, &text)?));
                at.insert(*id, merged.len() - 1);
                merged.len() - 1
            }
        };
        for (k, v) in patch.iter() {
            if k != "id" {
                merged[i].1.insert(k.clone(), v.clone());
            }
        }
    }
    Ok(merged
        .into_iter()
        .map(|(id, data)| StoredItem {
            id,
            data: serde_json::to_string(&data).expect("a JSON map always serializes"),
        })
        .collect())
}

/// A stored item's fields; an item that is not a JSON object is `Corrupt`.
pub(super) fn parse_data(id: i64, text: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str(text) {
        Ok(Value::Object(map)) => Ok(map),
        _ => Err(StorageError::Corrupt { id }),
    }
}

/// The `WHERE` of a page of items, and the index to read it through.
fn page_select(conn: &Connection, collection: &str, query: &Query) -> Result<Select> {
    let mut select = Select::new(collection);
    select.where_clause(query);
    // A sort with no filter: SQLite's planner prefers sorting the whole collection to walking
    // the field's index (it does not weigh the page's limit enough), so it is told. Read in
    // the page's transaction, the index is there for the whole query.
    if let (None, None, Some(first)) = (&query.filter, &query.search, query.sort.first()) {
        if schema::is_indexed(conn, collection, &first.field)? == Some(true) {
            select.use_index(collection, &first.field);
        }
    }
    Ok(select)
}

fn read_page(
    conn: &Connection,
    collection: &str,
    query: &Query,
    default_limit: i64,
) -> Result<Page> {
    let total_count = if query.total_count {
        let n: i64 = conn.query_row(
            "SELECT count(*) FROM directus_items WHERE collection = ?1",
            [collection],
            |r| r.get(0),
        )?;
        Some(n as u64)
    } else {
        None
    };
    let mut select = page_select(conn, collection, query)?;
    let filter_count = if query.filter_count {
        let sql = format!(
            "SELECT count(*) FROM directus_items AS d WHERE {}",
            select.condition
        );
        let n: i64 = conn.query_row(&sql, params_from_iter(select.params.iter()), |r| r.get(0))?;
        Some(n as u64)
    } else {
        None
    };
    let sql = select.page_sql("d.id, d.data", query, default_limit);
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params_from_iter(select.params.iter()), |r| {
        let id: i64 = r.get(0)?;
        let text: String = r.get(1)?;
        Ok((id, text))
    })?;
    let mut items = Vec::new();
    for row in rows {
        let (id, data) = row?;
        items.push(StoredItem { id, data });
    }
    Ok(Page {
        items,
        total_count,
        filter_count,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One write transaction of one part: the part's result (the transaction commits).
    fn alone<T>(storage: &mut Sqlite, work: impl FnOnce(&Writer) -> Result<T>) -> Result<T> {
        storage.begin(Duration::from_secs(1)).unwrap();
        let result = storage.part(work);
        storage.commit().unwrap();
        result
    }

    fn seeded() -> (tempfile::TempDir, Sqlite) {
        let dir = tempfile::tempdir().unwrap();
        let mut storage = Sqlite::open(&dir.path().join("plan.db")).unwrap();
        let items: Vec<(Option<i64>, Map<String, Value>)> = (0..5000)
            .map(|i| {
                let item = serde_json::json!({"n": i % 500, "s": format!("w{i}"), "b": i % 2 == 0});
                (None, item.as_object().unwrap().clone())
            })
            .collect();
        alone(&mut storage, |w| {
            w.create_collection("a", "2026-01-01T00:00:00Z")?;
            w.create_items("a", &items)
        })
        .unwrap();
        (dir, storage)
    }

    #[test]
    fn no_part_runs_and_nothing_commits_once_the_transaction_is_gone() {
        let (_dir, mut storage) = seeded();
        let item = || serde_json::json!({"n": 1}).as_object().unwrap().clone();
        storage.begin(Duration::from_secs(1)).unwrap();
        storage
            .part(|w| w.create_items("a", &[(Some(9100), item())]))
            .unwrap();
        // SQLite ends the whole transaction on some errors (a full disk, for one).
        storage.conn.execute_batch("ROLLBACK").unwrap();
        let next = storage.part(|w| w.create_items("a", &[(Some(9101), item())]));
        assert!(
            matches!(next, Err(StorageError::TransactionLost)),
            "{next:?}"
        );
        assert!(matches!(
            storage.commit(),
            Err(StorageError::TransactionLost)
        ));
        for id in [9100, 9101] {
            assert!(
                storage.read_item("a", id).unwrap().is_none(),
                "{id} was written"
            );
        }
    }

    #[test]
    fn a_failed_part_is_undone_alone() {
        let (_dir, mut storage) = seeded();
        let item = || serde_json::json!({"n": 1}).as_object().unwrap().clone();
        storage.begin(Duration::from_secs(1)).unwrap();
        storage
            .part(|w| w.create_items("a", &[(Some(9200), item())]))
            .unwrap();
        // Its first write is done before its second fails; the savepoint undoes both.
        let failed = storage.part(|w| {
            w.create_items("a", &[(Some(9201), item())])?;
            w.create_items("a", &[(Some(9200), item())])
        });
        assert!(matches!(
            failed,
            Err(StorageError::DuplicateId { id: 9200, .. })
        ));
        storage.commit().unwrap();
        assert!(storage.read_item("a", 9200).unwrap().is_some());
        assert!(storage.read_item("a", 9201).unwrap().is_none());
    }

    /// Inside a write transaction the text index's changes wait (migration 6); a search in a
    /// later part still sees the earlier parts' strings, a failed part's strings never reach
    /// the index, and nothing waits once the transaction committed.
    #[test]
    fn the_text_index_follows_a_transaction_part_by_part() {
        let (_dir, mut storage) = seeded();
        let item = |t: &str| serde_json::json!({ "t": t }).as_object().unwrap().clone();
        let search = |q: &str| {
            let pairs = [("search".to_string(), q.to_string())];
            crate::query::Query::from_pairs(&pairs).unwrap()
        };
        storage.begin(Duration::from_secs(1)).unwrap();
        storage
            .part(|w| w.create_items("a", &[(Some(9300), item("a zebra here"))]))
            .unwrap();
        let failed = storage.part(|w| {
            w.create_items("a", &[(Some(9301), item("another zebra"))])?;
            w.create_items("a", &[(Some(9300), item("duplicate"))])
        });
        assert!(failed.is_err());
        let found = storage
            .part(|w| w.ids_for_query("a", &search("zebra")))
            .unwrap();
        assert_eq!(found, [9300]);
        storage
            .part(|w| {
                w.delete_items("a", &[9300])?;
                w.create_items("a", &[(Some(9302), item("zebra again"))])
            })
            .unwrap();
        storage.commit().unwrap();
        let page = storage.read_items("a", &search("zebra"), 100).unwrap();
        let ids: Vec<i64> = page.items.iter().map(|i| i.id).collect();
        assert_eq!(ids, [9302]);
        let waiting: i64 = storage
            .conn
            .query_row(
                "SELECT (SELECT count(*) FROM directus_text_pending) \
                 + (SELECT count(*) FROM directus_text_defer)",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(waiting, 0, "changes left waiting after the commit");
        storage
            .conn
            .execute_batch("INSERT INTO directus_text (directus_text) VALUES ('integrity-check')")
            .unwrap();
    }

    /// The bundled SQLite is built as `.cargo/config.toml` says: without the options that put
    /// every connection's page cache and every allocation behind process-wide mutexes, and
    /// with STAT4 (the planner's choice of a field index for a selective range needs it).
    #[test]
    fn sqlite_is_built_without_process_wide_cache_and_allocation_locks() {
        let conn = Connection::open_in_memory().unwrap();
        let mut stmt = conn.prepare("PRAGMA compile_options").unwrap();
        let options: Vec<String> = stmt
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<rusqlite::Result<_>>()
            .unwrap();
        assert!(
            !options.iter().any(|o| o == "ENABLE_MEMORY_MANAGEMENT"),
            "{options:?}"
        );
        assert!(
            options.iter().any(|o| o == "DEFAULT_MEMSTATUS=0"),
            "{options:?}"
        );
        assert!(options.iter().any(|o| o == "ENABLE_STAT4"), "{options:?}");
    }

    #[test]
    fn key_lookups_are_not_prepared_again_for_each_binding() {
        let (_dir, mut storage) = seeded();
        let patch = serde_json::json!({"n": 2}).as_object().unwrap().clone();
        let mut update = |id: i64| {
            alone(&mut storage, |w| w.update_items("a", &[id, id + 1], &patch)).unwrap();
            let stmt = storage.conn.prepare_cached(writer::ITEM_DATA).unwrap();
            stmt.get_status(rusqlite::StatementStatus::RePrepare)
        };
        // The first may be prepared again after the seeding's ANALYZE changed the schema.
        let settled = update(1);
        for id in [10, 100, 1000] {
            assert_eq!(update(id), settled, "prepared again for a new binding");
        }
    }

    /// A transaction left open (its leader panicked between `begin` and `commit`) is rolled
    /// back by the next `begin`, never carried on.
    #[test]
    fn a_transaction_left_open_is_rolled_back_by_the_next_begin() {
        let (_dir, mut storage) = seeded();
        let item = || serde_json::json!({"n": 1}).as_object().unwrap().clone();
        storage.begin(Duration::from_secs(1)).unwrap();
        storage
            .part(|w| w.create_items("a", &[(Some(9400), item()), (Some(9401), item())]))
            .unwrap();
        storage.begin(Duration::from_secs(1)).unwrap();
        storage
            .part(|w| w.create_items("a", &[(Some(9402), item())]))
            .unwrap();
        storage.commit().unwrap();
        assert!(storage.read_item("a", 9400).unwrap().is_none());
        assert!(storage.read_item("a", 9402).unwrap().is_some());
    }

    #[test]
    fn a_create_in_a_collection_that_is_gone_writes_nothing() {
        let (_dir, mut storage) = seeded();
        let item = || {
            serde_json::json!({"new_field": 1})
                .as_object()
                .unwrap()
                .clone()
        };
        for items in [vec![(None, item())], vec![(Some(3), item())]] {
            let r = alone(&mut storage, |w| w.create_items("gone", &items));
            assert!(
                matches!(r, Err(StorageError::NoSuchCollection { .. })),
                "{r:?}"
            );
        }
        let fields: i64 = storage
            .conn
            .query_row(
                "SELECT count(*) FROM directus_fields WHERE collection = 'gone'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(fields, 0);
    }

    /// An id taken by an edit by hand (past `last_id`) is refused as a duplicate, whether a
    /// create names it or would be given it, and nothing of that create is stored.
    #[test]
    fn an_id_taken_by_hand_is_a_duplicate() {
        let (_dir, mut storage) = seeded();
        storage
            .conn
            .execute_batch("INSERT INTO directus_items VALUES ('a', 5001, '{}')")
            .unwrap();
        let item = || serde_json::json!({"t": "x"}).as_object().unwrap().clone();
        for items in [
            vec![(None, item())],
            vec![(Some(7000), item()), (Some(5001), item())],
        ] {
            let r = alone(&mut storage, |w| w.create_items("a", &items));
            assert!(
                matches!(r, Err(StorageError::DuplicateId { id: 5001, .. })),
                "{r:?}"
            );
        }
        assert!(storage.read_item("a", 7000).unwrap().is_none());
    }

    fn plan(storage: &Sqlite, query: &str) -> String {
        let query = Query::from_query_string(query).unwrap();
        let mut select = page_select(&storage.conn, "a", &query).unwrap();
        let sql = select.page_sql("d.id, d.data", &query, 100);
        let mut stmt = storage
            .conn
            .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap();
        let rows = stmt
            .query_map(params_from_iter(select.params.iter()), |r| {
                r.get::<_, String>(3)
            })
            .unwrap();
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .unwrap()
            .join(" | ")
    }

    #[test]
    fn indexed_operators_and_sorts_use_the_field_index() {
        let (_dir, storage) = seeded();
        #[rustfmt::skip]
        let cases = [
            // query, what the plan must show
            ("filter[n][_eq]=5",                    "USING INDEX directus_index__a__n"),
            ("filter[n][_lt]=5",                    "USING INDEX directus_index__a__n"),
            ("filter[n][_lte]=5",                   "USING INDEX directus_index__a__n"),
            ("filter[n][_gt]=495",                  "USING INDEX directus_index__a__n"),
            ("filter[n][_gte]=495",                 "USING INDEX directus_index__a__n"),
            ("filter[n][_between]=3,5",             "USING INDEX directus_index__a__n"),
            ("filter[n][_in]=3,5,7",                "USING INDEX directus_index__a__n"),
            ("filter[n][_null]=true",               "USING INDEX directus_index__a__n"),
            ("filter[s][_eq]=w77",                  "USING INDEX directus_index__a__s"),
            ("filter[s][_starts_with]=w19",         "USING INDEX directus_index__a__s"),
            ("filter[b][_eq]=true&filter[s][_eq]=w8", "USING INDEX directus_index__a__s"),
            ("filter[n][_gt]=490&sort=-n&limit=10", "USING INDEX directus_index__a__n"),
            ("sort=-n&limit=10",                    "SCAN d USING INDEX directus_index__a__n"),
            ("sort=s&limit=10",                     "SCAN d USING INDEX directus_index__a__s"),
            ("filter[s][_contains]=w19",            "SCAN t VIRTUAL TABLE INDEX"),
            ("filter[s][_icontains]=W19",           "SCAN t VIRTUAL TABLE INDEX"),
            ("filter[s][_ends_with]=999",           "SCAN t VIRTUAL TABLE INDEX"),
            ("search=w199",                         "SCAN t VIRTUAL TABLE INDEX"),
        ];
        for (query, want) in cases {
            let plan = plan(&storage, query);
            assert!(plan.contains(want), "{query}: {plan}");
            // A sort is walked in the index's order (ties by id sorted group by group); a filter
            // alone sorts only what the index found.
            if query.contains("sort=") {
                assert!(
                    !plan.contains("B-TREE FOR ORDER BY"),
                    "{query} sorts all: {plan}"
                );
            }
        }
    }

    #[test]
    fn unselective_negations_stop_at_the_page() {
        let (_dir, storage) = seeded();
        for query in [
            "filter[n][_neq]=5",
            "filter[n][_nnull]=true",
            "filter[s][_ncontains]=x",
        ] {
            let plan = plan(&storage, query);
            // Walked in id order and stopped at the page's end: no sort of the whole collection.
            assert!(!plan.contains("B-TREE"), "{query}: {plan}");
        }
    }
}
