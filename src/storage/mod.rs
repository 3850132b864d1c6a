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
//! Every API write runs in a write transaction: one `BEGIN IMMEDIATE` (`Storage::begin`), then
//! one savepoint per request (`Storage::part`, which hands the request's work a `Writer`), then
//! one `Storage::commit` for all of them (group commit). The caller runs the maintenance gate
//! between `begin` and the first part, once the write lock is held.
//!
//! Statements on `directus_items` that look items up by key write `collection = +?1`: compared
//! with a bare parameter, the partial indexes' `collection = 'c'` makes SQLite re-prepare the
//! statement at every new binding (to decide again whether a partial index applies), a tenth of
//! a write's CPU; the unary plus opts out of that and keeps the primary-key lookup.
//!
//! Storage speaks in its own terms: rows, counts, `Option` and `StorageError`. It never decides
//! what a client sees; the API maps its errors at the edge.

mod drain;
mod schema;
mod select;

pub use drain::{drain, DrainError, DrainReport};
pub use schema::{MAX_AUTO_INDEXES, MAX_FIELDS};

use crate::query::Query;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, TransactionBehavior};
use select::Select;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

/// An item as the API shows it: a JSON object whose first key is `id`.
pub type Item = Map<String, Value>;

/// One schema migration: SQL, or a step that needs code (it must still be deterministic and
/// touch only the database).
enum Migration {
    Sql(&'static str),
    Code(fn(&Connection) -> rusqlite::Result<()>),
}

/// Schema migrations, applied in order by `PRAGMA user_version`. Append only: never edit or
/// remove an entry, a deployed database has already run it.
const MIGRATIONS: &[Migration] = &[
    // 1: the first release.
    Migration::Sql(
        "
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
",
    ),
    // 2: fields and their indexes.
    Migration::Sql(
        "
    CREATE TABLE directus_fields (
        collection TEXT NOT NULL REFERENCES directus_collections(collection) ON DELETE CASCADE,
        field TEXT NOT NULL,
        indexed INTEGER NOT NULL,
        PRIMARY KEY (collection, field)
    ) WITHOUT ROWID;

    -- Substring search: every top-level string value of every item, kept by triggers (so an
    -- operator's sqlite3 edits keep it too), under an FTS5 trigram index.
    CREATE TABLE directus_strings (
        collection TEXT NOT NULL,
        id INTEGER NOT NULL,
        field TEXT NOT NULL,
        value TEXT NOT NULL
    );
    CREATE INDEX directus_strings_item ON directus_strings (collection, id);
    CREATE VIRTUAL TABLE directus_text USING fts5(
        value, content = 'directus_strings', content_rowid = 'rowid', tokenize = 'trigram'
    );
    CREATE TRIGGER directus_strings_insert AFTER INSERT ON directus_strings BEGIN
        INSERT INTO directus_text (rowid, value) VALUES (new.rowid, new.value);
    END;
    CREATE TRIGGER directus_strings_delete AFTER DELETE ON directus_strings BEGIN
        INSERT INTO directus_text (directus_text, rowid, value)
            VALUES ('delete', old.rowid, old.value);
    END;
    CREATE TRIGGER directus_items_insert AFTER INSERT ON directus_items BEGIN
        -- An INSERT OR REPLACE by hand deletes the old row without firing the delete trigger.
        DELETE FROM directus_strings WHERE collection = new.collection AND id = new.id;
        INSERT INTO directus_strings (collection, id, field, value)
            SELECT new.collection, new.id, key, value FROM json_each(new.data)
            WHERE type = 'text';
    END;
    CREATE TRIGGER directus_items_delete AFTER DELETE ON directus_items BEGIN
        DELETE FROM directus_strings WHERE collection = old.collection AND id = old.id;
    END;
    CREATE TRIGGER directus_items_update AFTER UPDATE ON directus_items
    WHEN old.data IS NOT new.data OR old.id IS NOT new.id OR old.collection IS NOT new.collection
    BEGIN
        DELETE FROM directus_strings WHERE collection = old.collection AND id = old.id;
        INSERT INTO directus_strings (collection, id, field, value)
            SELECT new.collection, new.id, key, value FROM json_each(new.data)
            WHERE type = 'text';
    END;
    -- Fewer, larger merges: a batch of writes costs less, a search looks at a few more segments.
    INSERT INTO directus_text (directus_text, rank) VALUES ('automerge', 16);
    INSERT INTO directus_strings (collection, id, field, value)
        SELECT d.collection, d.id, je.key, je.value FROM directus_items AS d, json_each(d.data) AS je
        WHERE je.type = 'text';
",
    ),
    // 3: index the fields of items written before 2.
    Migration::Code(schema::index_existing),
    // 4: an update re-indexes only the strings it changed, so a PATCH of a number leaves the
    // text index of a long body alone (it was most of a PATCH's cost).
    Migration::Sql(
        "
    DROP TRIGGER directus_items_update;
    CREATE TRIGGER directus_items_update AFTER UPDATE ON directus_items
    WHEN old.data IS NOT new.data OR old.id IS NOT new.id OR old.collection IS NOT new.collection
    BEGIN
        DELETE FROM directus_strings
        WHERE collection = old.collection AND id = old.id
          AND (old.collection IS NOT new.collection OR old.id IS NOT new.id
               OR NOT EXISTS (SELECT 1 FROM json_each(new.data) AS je
                              WHERE je.type = 'text' AND je.key = directus_strings.field
                                AND je.value = directus_strings.value));
        INSERT INTO directus_strings (collection, id, field, value)
            SELECT new.collection, new.id, je.key, je.value FROM json_each(new.data) AS je
            WHERE je.type = 'text'
              AND NOT EXISTS (SELECT 1 FROM directus_strings AS s
                              WHERE s.collection = new.collection AND s.id = new.id
                                AND s.field = je.key AND s.value = je.value);
    END;
",
    ),
    // 5: every top-level field is recorded, whatever its value, so a collection's fields can
    // be bounded (`schema::MAX_FIELDS`); `decided = 0` marks a field seen only as an object or
    // array, which gets its automatic index when a scalar value first comes.
    Migration::Sql(
        "
    ALTER TABLE directus_fields ADD COLUMN decided INTEGER NOT NULL DEFAULT 1;
    INSERT OR IGNORE INTO directus_fields (collection, field, indexed, decided)
        SELECT DISTINCT d.collection, je.key, 0, 0 FROM directus_items AS d, json_each(d.data) AS je;
",
    ),
];

/// Statistics for the planner, of the items table and its indexes only: statistics of the
/// full-text tables make FTS5 prepare its own statements again on every search (slower
/// searches), so `ANALYZE` is never run bare (nor `PRAGMA optimize`, which could).
const ANALYZE_ITEMS: &str = "ANALYZE directus_items";

/// How long a statement waits for another process's lock (reads, and migrations at start;
/// writes set their own, shorter, wait in `Storage::begin`).
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// What can go wrong in storage, in storage's terms.
#[derive(Debug)]
pub enum StorageError {
    /// A create named an id the collection already has.
    DuplicateId { collection: String, id: i64 },
    /// An update or delete named an id the collection does not have.
    NoSuchItem { collection: String, id: i64 },
    /// The next id would overflow.
    IdsExhausted { collection: String },
    /// The write would give the collection more than `limit` fields.
    TooManyFields { collection: String, limit: usize },
    /// Another connection held the lock past the wait.
    Busy,
    /// A stored item is not a JSON object (written by hand, or a damaged file).
    Corrupt { id: i64 },
    /// The write transaction was ended under the request (SQLite rolls back the whole
    /// transaction on some errors, a full disk for one): nothing of it can commit.
    TransactionLost,
    /// Any other database error.
    Sqlite(rusqlite::Error),
}

impl std::fmt::Display for StorageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StorageError::DuplicateId { collection, id } => {
                write!(f, "item {id} already exists in {collection}")
            }
            StorageError::NoSuchItem { collection, id } => {
                write!(f, "no item {id} in {collection}")
            }
            StorageError::IdsExhausted { collection } => write!(f, "{collection} has no ids left"),
            StorageError::TooManyFields { collection, limit } => {
                write!(f, "{collection} would hold more than {limit} fields")
            }
            StorageError::Busy => write!(f, "the database is locked by another connection"),
            StorageError::Corrupt { id } => write!(f, "item {id} is not a stored JSON object"),
            StorageError::TransactionLost => write!(f, "the write transaction was rolled back"),
            StorageError::Sqlite(e) => write!(f, "database: {e}"),
        }
    }
}

impl std::error::Error for StorageError {}

impl From<rusqlite::Error> for StorageError {
    fn from(err: rusqlite::Error) -> Self {
        if err.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) {
            StorageError::Busy
        } else {
            StorageError::Sqlite(err)
        }
    }
}

/// Storage's results.
pub type Result<T> = std::result::Result<T, StorageError>;

/// A connection to the database: a worker's, for reads, or the process's one writer.
pub struct Storage {
    conn: Connection,
    /// State of the open write transaction, if any (see `begin`).
    write: WriteState,
}

/// What the open write transaction needs to know beyond SQLite's own state.
#[derive(Default)]
struct WriteState {
    /// Indexes made in it: the table is analyzed before committing, so the planner knows them
    /// (full statistics, histograms included, are what lets SQLite pick a field index over a
    /// walk of the collection).
    analyze: std::cell::RefCell<Vec<String>>,
    /// A part's savepoint could not be undone: the transaction must not commit.
    broken: bool,
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
pub struct StoredItem {
    pub id: i64,
    data: String,
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

impl Storage {
    /// Opens (creating if needed) the database, sets the durability pragmas and migrates it.
    pub fn open(path: &Path) -> Result<Storage> {
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
        let mut storage = Storage {
            conn,
            write: WriteState::default(),
        };
        storage.migrate()?;
        Ok(storage)
    }

    /// Applies the migrations the database has not seen, in one `BEGIN IMMEDIATE` transaction.
    fn migrate(&mut self) -> Result<()> {
        let current =
            |c: &Connection| c.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0));
        if current(&self.conn)? as usize >= MIGRATIONS.len() {
            return Ok(());
        }
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let done = current(&tx)? as usize;
        for (i, step) in MIGRATIONS.iter().enumerate().skip(done) {
            match step {
                Migration::Sql(sql) => tx.execute_batch(sql)?,
                Migration::Code(run) => run(&tx)?,
            }
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            log::info!("database migrated to schema version {}", i + 1);
        }
        // Statistics for the planner, so it prefers the field indexes to a scan.
        tx.execute_batch(ANALYZE_ITEMS)?;
        Ok(tx.commit()?)
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

    /// Opens a write transaction (`BEGIN IMMEDIATE`), waiting at most `wait` for another
    /// connection's lock (then `StorageError::Busy`). Requests then write in it through
    /// `part`, and `commit` or `rollback` ends it.
    pub fn begin(&mut self, wait: Duration) -> Result<()> {
        self.conn.busy_timeout(wait)?;
        let begun = run_cached(&self.conn, "BEGIN IMMEDIATE");
        // Statements inside the transaction hold the lock; reads keep the usual wait.
        self.conn.busy_timeout(BUSY_TIMEOUT)?;
        begun?;
        self.write = WriteState::default();
        Ok(())
    }

    /// Runs one request's work in the open write transaction, as a savepoint: when `work`
    /// fails (or panics), what it wrote is undone and the rest of the transaction is kept.
    pub fn part<T, E: From<StorageError>>(
        &mut self,
        work: impl FnOnce(&Writer) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        if self.write.broken || self.conn.is_autocommit() {
            return Err(StorageError::TransactionLost.into());
        }
        run_cached(&self.conn, "SAVEPOINT request").map_err(StorageError::from)?;
        let mut part = Part {
            storage: self,
            done: false,
        };
        let out = work(&Writer {
            conn: &part.storage.conn,
            analyze: &part.storage.write.analyze,
        });
        if out.is_ok() {
            if let Err(e) = run_cached(&part.storage.conn, "RELEASE request") {
                return Err(StorageError::from(e).into());
            }
            part.done = true;
        }
        out
    }

    /// Commits the open write transaction; on error nothing of it is applied.
    pub fn commit(&mut self) -> Result<()> {
        let committed = self.try_commit();
        if committed.is_err() {
            self.rollback();
        }
        committed
    }

    fn try_commit(&mut self) -> Result<()> {
        if self.write.broken || self.conn.is_autocommit() {
            return Err(StorageError::TransactionLost);
        }
        if !self.write.analyze.take().is_empty() {
            // The whole table: the planner weighs a new index against the primary key's.
            self.conn.execute_batch(ANALYZE_ITEMS)?;
        }
        Ok(run_cached(&self.conn, "COMMIT")?)
    }

    /// Ends the open write transaction (if any) without applying it.
    pub fn rollback(&mut self) {
        if !self.conn.is_autocommit() {
            if let Err(e) = run_cached(&self.conn, "ROLLBACK") {
                log::error!("rolling back a write transaction failed: {e}");
            }
        }
        self.write = WriteState::default();
    }

    /// The fields seen in a collection's items (`id` first), with their types and whether
    /// each is indexed. Reads every item of the collection: for `/fields`, not a hot path.
    pub fn fields(&self, collection: &str) -> Result<Vec<FieldInfo>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT je.key, je.type FROM directus_items AS d, json_each(d.data) AS je \
             WHERE d.collection = +?1 GROUP BY je.key, je.type ORDER BY min(d.id), je.key",
        )?;
        let rows = stmt.query_map([collection], |r| Ok((r.get::<_, String>(0)?, r.get(1)?)))?;
        let mut seen: Vec<(String, Vec<String>)> = Vec::new();
        let mut at: BTreeMap<String, usize> = BTreeMap::new();
        for row in rows {
            let (field, kind): (String, String) = row?;
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
            let indexed = schema::is_indexed(&self.conn, collection, &field)? == Some(true);
            out.push(FieldInfo {
                kind: directus_type(&kinds),
                field,
                indexed,
            });
        }
        Ok(out)
    }
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

/// One request's view of the open write transaction (see `Storage::part`): the only way to
/// change the database.
pub struct Writer<'a> {
    conn: &'a Connection,
    analyze: &'a std::cell::RefCell<Vec<String>>,
}

/// A request's savepoint; dropped before it was released (the work failed or panicked), it
/// undoes the request's writes.
struct Part<'s> {
    storage: &'s mut Storage,
    done: bool,
}

impl Drop for Part<'_> {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let conn = &self.storage.conn;
        let undone = run_cached(conn, "ROLLBACK TO request")
            .and_then(|()| run_cached(conn, "RELEASE request"));
        if let Err(e) = undone {
            log::error!("undoing a request's writes failed: {e}; the transaction will not commit");
            self.storage.write.broken = true;
        }
    }
}

impl Writer<'_> {
    /// True when the collection exists.
    pub fn collection_exists(&self, name: &str) -> Result<bool> {
        collection_exists(self.conn, name)
    }

    /// Creates a collection; false when it already exists.
    pub fn create_collection(&self, name: &str, created_at: &str) -> Result<bool> {
        let n = self.conn.execute(
            "INSERT INTO directus_collections (collection, created_at) VALUES (?1, ?2) ON CONFLICT DO NOTHING",
            params![name, created_at],
        )?;
        Ok(n == 1)
    }

    /// Drops a collection with its items; false when it did not exist.
    pub fn delete_collection(&self, name: &str) -> Result<bool> {
        schema::drop_collection_indexes(self.conn, name)?;
        self.conn
            .execute("DELETE FROM directus_items WHERE collection = +?1", [name])?;
        let n = self.conn.execute(
            "DELETE FROM directus_collections WHERE collection = ?1",
            [name],
        )?;
        Ok(n == 1)
    }

    /// Inserts items (objects whose `id`, if any, was checked to be an integer) and returns
    /// their ids in order. An `id` that exists (or comes twice) is `DuplicateId`.
    ///
    /// One `INSERT` for the whole batch: the full-text index is flushed once per statement
    /// (each statement is a savepoint), so a row at a time would flush a thousand times.
    pub fn create_items(
        &self,
        collection: &str,
        items: &[(Option<i64>, Map<String, Value>)],
    ) -> Result<Vec<i64>> {
        self.note_fields(collection, items.iter().map(|(_, data)| data))?;
        let mut last_id: i64 = self
            .conn
            .prepare_cached("SELECT last_id FROM directus_collections WHERE collection = ?1")?
            .query_row([collection], |r| r.get(0))?;
        let mut ids = Vec::with_capacity(items.len());
        let mut rows = Vec::with_capacity(items.len());
        let mut seen = std::collections::HashSet::with_capacity(items.len());
        for (given, data) in items {
            let id = match given {
                Some(id) => *id,
                None => last_id
                    .checked_add(1)
                    .ok_or_else(|| StorageError::IdsExhausted {
                        collection: collection.to_string(),
                    })?,
            };
            if !seen.insert(id) {
                return Err(duplicate(collection, id));
            }
            let text = serde_json::to_string(data).expect("a JSON map always serializes");
            rows.push(Value::Array(vec![Value::from(id), Value::from(text)]));
            last_id = last_id.max(id);
            ids.push(id);
        }
        let existing: Vec<i64> = {
            let mut stmt = self.conn.prepare_cached(EXISTING_IDS)?;
            let found = stmt.query_map(
                params![collection, Value::from(ids.clone()).to_string()],
                |r| r.get(0),
            )?;
            found.collect::<rusqlite::Result<_>>()?
        };
        if let Some(id) = ids.iter().find(|id| existing.contains(id)) {
            return Err(duplicate(collection, *id));
        }
        self.conn
            .prepare_cached(
                "INSERT INTO directus_items (collection, id, data) \
                 SELECT ?1, json_extract(value, '$[0]'), json_extract(value, '$[1]') \
                 FROM json_each(?2)",
            )?
            .execute(params![collection, Value::Array(rows).to_string()])?;
        self.conn
            .prepare_cached("UPDATE directus_collections SET last_id = ?2 WHERE collection = ?1")?
            .execute(params![collection, last_id])?;
        Ok(ids)
    }

    /// Merges `patch` into each item's top-level fields. Any missing id is `NoSuchItem`.
    pub fn update_items(
        &self,
        collection: &str,
        ids: &[i64],
        patch: &Map<String, Value>,
    ) -> Result<()> {
        let patches: Vec<(i64, &Map<String, Value>)> = ids.iter().map(|id| (*id, patch)).collect();
        self.update_each(collection, &patches)
    }

    /// Merges each patch into its item, in order (an id may come more than once). Any missing
    /// id is `NoSuchItem`. One `UPDATE` for all of them (see `create_items`).
    pub fn update_each(
        &self,
        collection: &str,
        patches: &[(i64, &Map<String, Value>)],
    ) -> Result<()> {
        self.note_fields(collection, patches.iter().map(|(_, p)| *p))?;
        let mut select = self
            .conn
            .prepare_cached("SELECT data FROM directus_items WHERE collection = +?1 AND id = ?2")?;
        let mut merged: Vec<(i64, Map<String, Value>)> = Vec::new();
        let mut at = std::collections::HashMap::new();
        for (id, patch) in patches {
            let i = match at.get(id) {
                Some(i) => *i,
                None => {
                    let text: Option<String> = select
                        .query_row(params![collection, id], |r| r.get(0))
                        .optional()?;
                    let text = text.ok_or_else(|| no_such_item(collection, *id))?;
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
        let rows: Vec<Value> = merged
            .into_iter()
            .map(|(id, data)| {
                let text = serde_json::to_string(&data).expect("a JSON map always serializes");
                Value::Array(vec![Value::from(id), Value::from(text)])
            })
            .collect();
        self.conn
            .prepare_cached(
                "UPDATE directus_items SET data = j.data \
                 FROM (SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS data \
                       FROM json_each(?2)) AS j \
                 WHERE directus_items.collection = +?1 AND directus_items.id = j.id",
            )?
            .execute(params![collection, Value::Array(rows).to_string()])?;
        Ok(())
    }

    /// Deletes items, in one statement. Any missing id is `NoSuchItem`.
    pub fn delete_items(&self, collection: &str, ids: &[i64]) -> Result<()> {
        let mut exists = self
            .conn
            .prepare_cached("SELECT 1 FROM directus_items WHERE collection = +?1 AND id = ?2")?;
        for id in ids {
            if !exists.exists(params![collection, id])? {
                return Err(no_such_item(collection, *id));
            }
        }
        self.conn
            .prepare_cached(
                "DELETE FROM directus_items WHERE collection = +?1 \
                 AND id IN (SELECT value FROM json_each(?2))",
            )?
            .execute(params![collection, Value::from(ids.to_vec()).to_string()])?;
        Ok(())
    }

    /// The ids a query selects, inside this transaction.
    pub fn ids_for_query(&self, collection: &str, query: &Query) -> Result<Vec<i64>> {
        let mut select = Select::new(collection);
        select.where_clause(query);
        let sql = select.page_sql("d.id", query, -1);
        let mut stmt = self.conn.prepare(&sql)?;
        let ids = stmt.query_map(params_from_iter(select.params.iter()), |r| r.get(0))?;
        Ok(ids.collect::<rusqlite::Result<_>>()?)
    }

    /// Items by id, in the order given (for answering a write). Any missing id is `NoSuchItem`.
    pub fn read_by_ids(&self, collection: &str, ids: &[i64]) -> Result<Vec<StoredItem>> {
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let item = read_item(self.conn, collection, *id)?;
            out.push(item.ok_or_else(|| no_such_item(collection, *id))?);
        }
        Ok(out)
    }
}

impl Writer<'_> {
    /// Records the top-level fields these items bring that the collection has not seen, and
    /// indexes the scalar ones, inside this transaction (`schema::note_fields`).
    fn note_fields<'m>(
        &self,
        collection: &str,
        items: impl IntoIterator<Item = &'m Map<String, Value>>,
    ) -> Result<()> {
        let mut brought = schema::Brought::new();
        for item in items {
            for (name, value) in item {
                if name != "id" {
                    *brought.entry(name.as_str()).or_default() |=
                        !value.is_object() && !value.is_array();
                }
            }
        }
        let made = schema::note_fields(self.conn, collection, &brought)?;
        self.analyze.borrow_mut().extend(made);
        Ok(())
    }

    /// Switches a field's index on or off; false when no item of the collection has the field.
    pub fn set_indexed(&self, collection: &str, field: &str, indexed: bool) -> Result<bool> {
        if schema::is_indexed(self.conn, collection, field)?.is_none() {
            let present: bool = self.conn.query_row(
                "SELECT EXISTS (SELECT 1 FROM directus_items AS d, json_each(d.data) AS je \
                 WHERE d.collection = +?1 AND je.key = ?2)",
                params![collection, field],
                |r| r.get(0),
            )?;
            if !present {
                return Ok(false);
            }
            schema::note_fields(
                self.conn,
                collection,
                &schema::Brought::from([(field, true)]),
            )?;
        }
        if let Some(index) = schema::set_indexed(self.conn, collection, field, indexed)? {
            if indexed {
                self.analyze.borrow_mut().push(index);
            }
        }
        Ok(true)
    }
}

/// Runs a statement without parameters, prepared once per connection (`BEGIN`, `COMMIT`, ...
/// run on every write; preparing them each time was a tenth of a create's CPU).
fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(|_| ())
}

fn duplicate(collection: &str, id: i64) -> StorageError {
    StorageError::DuplicateId {
        collection: collection.to_string(),
        id,
    }
}

fn no_such_item(collection: &str, id: i64) -> StorageError {
    StorageError::NoSuchItem {
        collection: collection.to_string(),
        id,
    }
}

/// Which of the ids (a JSON array) a collection has.
const EXISTING_IDS: &str = "SELECT id FROM directus_items WHERE collection = +?1 \
                            AND id IN (SELECT value FROM json_each(?2))";

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

/// A stored item's fields; an item that is not a JSON object is `Corrupt`.
fn parse_data(id: i64, text: &str) -> Result<Map<String, Value>> {
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

    fn seeded() -> (tempfile::TempDir, Storage) {
        let dir = tempfile::tempdir().unwrap();
        let mut storage = Storage::open(&dir.path().join("plan.db")).unwrap();
        let items: Vec<(Option<i64>, Map<String, Value>)> = (0..5000)
            .map(|i| {
                let item = serde_json::json!({"n": i % 500, "s": format!("w{i}"), "b": i % 2 == 0});
                (None, item.as_object().unwrap().clone())
            })
            .collect();
        storage.begin(Duration::from_secs(1)).unwrap();
        storage
            .part(|w| -> Result<()> {
                w.create_collection("a", "2026-01-01T00:00:00Z")?;
                w.create_items("a", &items)?;
                Ok(())
            })
            .unwrap();
        storage.commit().unwrap();
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
        let mut create = |id: i64| {
            storage.begin(Duration::from_secs(1)).unwrap();
            let item = serde_json::json!({"n": 1}).as_object().unwrap().clone();
            storage
                .part(|w| w.create_items("a", &[(Some(id), item)]))
                .unwrap();
            storage.commit().unwrap();
            let stmt = storage.conn.prepare_cached(EXISTING_IDS).unwrap();
            stmt.get_status(rusqlite::StatementStatus::RePrepare)
        };
        // The first may be prepared again after the seeding's ANALYZE changed the schema.
        let settled = create(9000);
        for id in [9001, 9002, 9003] {
            assert_eq!(create(id), settled, "prepared again for a new binding");
        }
    }

    fn plan(storage: &Storage, query: &str) -> String {
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
