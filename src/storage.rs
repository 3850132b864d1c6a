//! Storage: the only module that writes SQL.
//!
//! Every collection lives in the same two tables, so no name from a request ever becomes an SQL
//! identifier: collection names, field paths and values are always bound parameters.
//!
//! - `directus_collections(collection, last_id, created_at)`: one row per collection; `last_id`
//!   makes ids increase and never be reused, like an AUTOINCREMENT column.
//! - `directus_items(collection, id, data)`: one row per item; `data` is the item's JSON object
//!   without its `id`.
//!
//! Every API write runs in a `Writer`: one `BEGIN IMMEDIATE` transaction, opened by
//! `Storage::begin` and committed by `Writer::commit`. The caller runs the maintenance gate
//! between the two, once the write lock is held.
//!
//! Storage speaks in its own terms: rows, counts, `Option` and `StorageError`. It never decides
//! what a client sees; the API maps its errors at the edge.

use crate::query::{Cond, Filter, Query, Scalar};
use rusqlite::types::Value as Sql;
use rusqlite::{
    params, params_from_iter, Connection, OpenFlags, OptionalExtension, TransactionBehavior,
};
use serde_json::{Map, Value};
use std::path::Path;
use std::time::{Duration, Instant};

/// An item as the API shows it: a JSON object whose first key is `id`.
pub type Item = Map<String, Value>;

/// Schema migrations, applied in order by `PRAGMA user_version`. Append only: never edit or
/// remove an entry, a deployed database has already run it.
const MIGRATIONS: &[&str] = &["
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
"];

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
    /// Another connection held the lock past the wait.
    Busy,
    /// A stored item is not a JSON object (written by hand, or a damaged file).
    Corrupt { id: i64 },
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
            StorageError::Busy => write!(f, "the database is locked by another connection"),
            StorageError::Corrupt { id } => write!(f, "item {id} is not a stored JSON object"),
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

/// One worker's connection to the database.
pub struct Storage {
    conn: Connection,
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
        conn.execute_batch(
            "PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON; PRAGMA cache_size=-512;",
        )?;
        let mut storage = Storage { conn };
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
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
            tx.execute_batch(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)?;
            log::info!("database migrated to schema version {}", i + 1);
        }
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
    /// connection's lock (then `StorageError::Busy`). Nothing is written until the returned
    /// `Writer` is committed; dropping it rolls back.
    pub fn begin(&mut self, wait: Duration) -> Result<Writer<'_>> {
        self.conn.busy_timeout(wait)?;
        let begun = self.conn.execute_batch("BEGIN IMMEDIATE");
        // Statements inside the transaction hold the lock; reads keep the usual wait.
        self.conn.busy_timeout(BUSY_TIMEOUT)?;
        begun?;
        Ok(Writer {
            conn: &self.conn,
            open: true,
        })
    }
}

/// An open write transaction (see `Storage::begin`): the only way to change the database.
/// Dropped without `commit`, it rolls back.
pub struct Writer<'a> {
    conn: &'a Connection,
    open: bool,
}

impl Drop for Writer<'_> {
    fn drop(&mut self) {
        if self.open {
            if let Err(e) = self.conn.execute_batch("ROLLBACK") {
                log::error!("rolling back a write transaction failed: {e}");
            }
        }
    }
}

impl Writer<'_> {
    /// Commits everything written; on error nothing of it is applied.
    pub fn commit(mut self) -> Result<()> {
        self.conn.execute_batch("COMMIT")?;
        self.open = false;
        Ok(())
    }

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
        self.conn
            .execute("DELETE FROM directus_items WHERE collection = ?1", [name])?;
        let n = self.conn.execute(
            "DELETE FROM directus_collections WHERE collection = ?1",
            [name],
        )?;
        Ok(n == 1)
    }

    /// Inserts items (objects whose `id`, if any, was checked to be an integer) and returns
    /// their ids in order. An `id` that exists is `DuplicateId`.
    pub fn create_items(
        &self,
        collection: &str,
        items: &[(Option<i64>, Map<String, Value>)],
    ) -> Result<Vec<i64>> {
        let mut last_id: i64 = self.conn.query_row(
            "SELECT last_id FROM directus_collections WHERE collection = ?1",
            [collection],
            |r| r.get(0),
        )?;
        let mut insert = self.conn.prepare_cached(
            "INSERT INTO directus_items (collection, id, data) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
        )?;
        let mut ids = Vec::with_capacity(items.len());
        for (given, data) in items {
            let id = match given {
                Some(id) => *id,
                None => last_id
                    .checked_add(1)
                    .ok_or_else(|| StorageError::IdsExhausted {
                        collection: collection.to_string(),
                    })?,
            };
            let text = serde_json::to_string(data).expect("a JSON map always serializes");
            if insert.execute(params![collection, id, text])? == 0 {
                return Err(StorageError::DuplicateId {
                    collection: collection.to_string(),
                    id,
                });
            }
            last_id = last_id.max(id);
            ids.push(id);
        }
        self.conn.execute(
            "UPDATE directus_collections SET last_id = ?2 WHERE collection = ?1",
            params![collection, last_id],
        )?;
        Ok(ids)
    }

    /// Merges `patch` into each item's top-level fields. Any missing id is `NoSuchItem`.
    pub fn update_items(
        &self,
        collection: &str,
        ids: &[i64],
        patch: &Map<String, Value>,
    ) -> Result<()> {
        let mut select = self
            .conn
            .prepare_cached("SELECT data FROM directus_items WHERE collection = ?1 AND id = ?2")?;
        let mut update = self.conn.prepare_cached(
            "UPDATE directus_items SET data = ?3 WHERE collection = ?1 AND id = ?2",
        )?;
        for id in ids {
            let text: Option<String> = select
                .query_row(params![collection, id], |r| r.get(0))
                .optional()?;
            let Some(text) = text else {
                return Err(no_such_item(collection, *id));
            };
            let mut data = parse_data(*id, &text)?;
            for (k, v) in patch {
                if k != "id" {
                    data.insert(k.clone(), v.clone());
                }
            }
            let text = serde_json::to_string(&data).expect("a JSON map always serializes");
            update.execute(params![collection, id, text])?;
        }
        Ok(())
    }

    /// Deletes items. Any missing id is `NoSuchItem`.
    pub fn delete_items(&self, collection: &str, ids: &[i64]) -> Result<()> {
        let mut delete = self
            .conn
            .prepare_cached("DELETE FROM directus_items WHERE collection = ?1 AND id = ?2")?;
        for id in ids {
            if delete.execute(params![collection, id])? == 0 {
                return Err(no_such_item(collection, *id));
            }
        }
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

fn no_such_item(collection: &str, id: i64) -> StorageError {
    StorageError::NoSuchItem {
        collection: collection.to_string(),
        id,
    }
}

fn collection_exists(conn: &Connection, name: &str) -> Result<bool> {
    let mut stmt =
        conn.prepare_cached("SELECT 1 FROM directus_collections WHERE collection = ?1")?;
    Ok(stmt.exists([name])?)
}

fn read_item(conn: &Connection, collection: &str, id: i64) -> Result<Option<StoredItem>> {
    let mut stmt =
        conn.prepare_cached("SELECT data FROM directus_items WHERE collection = ?1 AND id = ?2")?;
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

fn read_page(
    conn: &Connection,
    collection: &str,
    query: &Query,
    default_limit: i64,
) -> Result<Page> {
    let mut select = Select::new(collection);
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
    select.where_clause(query);
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

/// Builds the `WHERE` and `ORDER BY` of an item query. SQL text comes only from this code;
/// everything from the request is pushed into `params` and referenced as `?N`.
struct Select {
    condition: String,
    params: Vec<Sql>,
}

impl Select {
    fn new(collection: &str) -> Select {
        Select {
            condition: "d.collection = ?1".to_string(),
            params: vec![Sql::Text(collection.to_string())],
        }
    }

    /// Adds a parameter and returns its placeholder.
    fn bind(&mut self, value: Sql) -> String {
        self.params.push(value);
        format!("?{}", self.params.len())
    }

    /// The value and JSON type expressions of a field (`id` is the key column).
    fn field(&mut self, name: &str) -> (String, String) {
        if name == "id" {
            return ("d.id".to_string(), "'integer'".to_string());
        }
        // The name was checked to be plain (letters, digits, `_`, `-`), so quoting it in the
        // JSON path is exact; the path itself is still a bound parameter.
        let p = self.bind(Sql::Text(format!("$.\"{name}\"")));
        (
            format!("json_extract(d.data, {p})"),
            format!("json_type(d.data, {p})"),
        )
    }

    fn where_clause(&mut self, query: &Query) {
        if let Some(filter) = &query.filter {
            let sql = self.filter(filter);
            self.condition = format!("{} AND {sql}", self.condition);
        }
        if let Some(term) = &query.search {
            let p = self.bind(Sql::Text(term.clone()));
            self.condition = format!(
                "{} AND EXISTS (SELECT 1 FROM json_each(d.data) AS je \
                 WHERE je.type = 'text' AND instr(lower(je.value), lower({p})) > 0)",
                self.condition
            );
        }
    }

    /// The full `SELECT` of a page of items, after `where_clause`.
    fn page_sql(&mut self, columns: &str, query: &Query, default_limit: i64) -> String {
        let (limit, offset) = query.window(default_limit);
        let order = self.order_by(query);
        let limit = self.bind(Sql::Integer(
            limit.map_or(-1, |l| l.min(i64::MAX as u64) as i64),
        ));
        let offset = self.bind(Sql::Integer(offset.min(i64::MAX as u64) as i64));
        format!(
            "SELECT {columns} FROM directus_items AS d WHERE {} ORDER BY {order} LIMIT {limit} OFFSET {offset}",
            self.condition
        )
    }

    fn order_by(&mut self, query: &Query) -> String {
        let mut keys = Vec::new();
        for key in &query.sort {
            let (value, _) = self.field(&key.field);
            keys.push(format!(
                "{value} {}",
                if key.descending { "DESC" } else { "ASC" }
            ));
        }
        keys.push("d.id ASC".to_string());
        keys.join(", ")
    }

    fn filter(&mut self, filter: &Filter) -> String {
        match filter {
            Filter::And(parts) if parts.is_empty() => "1".to_string(),
            Filter::Or(parts) if parts.is_empty() => "0".to_string(),
            Filter::And(parts) | Filter::Or(parts) => {
                let joiner = if matches!(filter, Filter::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                let sql: Vec<String> = parts.iter().map(|p| self.filter(p)).collect();
                format!("({})", sql.join(joiner))
            }
            Filter::Not(inner) => format!("(NOT {})", self.filter(inner)),
            // Every leaf is 0 or 1, never NULL, so that NOT is an exact complement.
            Filter::Field(name, cond) => format!("coalesce({}, 0)", self.condition_sql(name, cond)),
        }
    }

    fn condition_sql(&mut self, name: &str, cond: &Cond) -> String {
        let (v, t) = self.field(name);
        match cond {
            Cond::Eq(s) => self.equals(&v, &t, s),
            Cond::In(list) if list.is_empty() => "0".to_string(),
            Cond::In(list) => {
                let parts: Vec<String> = list.iter().map(|s| self.equals(&v, &t, s)).collect();
                format!("({})", parts.join(" OR "))
            }
            Cond::Lt(s) => self.compare(&v, &t, "<", s),
            Cond::Lte(s) => self.compare(&v, &t, "<=", s),
            Cond::Gt(s) => self.compare(&v, &t, ">", s),
            Cond::Gte(s) => self.compare(&v, &t, ">=", s),
            Cond::Between(a, b) => {
                let low = self.compare(&v, &t, ">=", a);
                let high = self.compare(&v, &t, "<=", b);
                format!("({low} AND {high})")
            }
            Cond::Null => format!("({t} IS NULL OR {t} = 'null')"),
            Cond::Empty => format!("({t} IS NULL OR {t} = 'null' OR ({t} = 'text' AND {v} = ''))"),
            Cond::Contains { needle, fold } => {
                let p = self.bind(Sql::Text(needle.clone()));
                let (hay, needle) = folded(&v, &p, *fold);
                format!("({t} = 'text' AND instr({hay}, {needle}) > 0)")
            }
            Cond::StartsWith { needle, fold } => {
                let p = self.bind(Sql::Text(needle.clone()));
                let (head, needle) = folded(&format!("substr({v}, 1, length({p}))"), &p, *fold);
                format!("({t} = 'text' AND {head} = {needle})")
            }
            Cond::EndsWith { needle, fold } => {
                let p = self.bind(Sql::Text(needle.clone()));
                let tail = format!("substr({v}, length({v}) - length({p}) + 1)");
                let (tail, needle) = folded(&tail, &p, *fold);
                format!("({t} = 'text' AND length({v}) >= length({p}) AND {tail} = {needle})")
            }
        }
    }

    /// Equality that matches values of the same JSON type only.
    fn equals(&mut self, v: &str, t: &str, s: &Scalar) -> String {
        match s {
            Scalar::Null => format!("({t} IS NULL OR {t} = 'null')"),
            Scalar::Bool(true) => format!("({t} = 'true')"),
            Scalar::Bool(false) => format!("({t} = 'false')"),
            _ => self.compare(v, t, "=", s),
        }
    }

    fn compare(&mut self, v: &str, t: &str, op: &str, s: &Scalar) -> String {
        let (types, value) = match s {
            Scalar::Int(i) => ("('integer', 'real')", Sql::Integer(*i)),
            Scalar::Float(f) => ("('integer', 'real')", Sql::Real(*f)),
            Scalar::Str(text) => ("('text')", Sql::Text(text.clone())),
            // The parser lets only numbers and strings reach ordered comparisons.
            Scalar::Null | Scalar::Bool(_) => return "0".to_string(),
        };
        let p = self.bind(value);
        format!("({t} IN {types} AND {v} {op} {p})")
    }
}

/// Wraps both sides in `lower()` when the comparison folds case (ASCII only, as SQLite does).
fn folded(hay: &str, needle: &str, fold: bool) -> (String, String) {
    if fold {
        (format!("lower({hay})"), format!("lower({needle})"))
    } else {
        (hay.to_string(), needle.to_string())
    }
}

/// What `drain` did.
#[derive(Debug)]
pub struct DrainReport {
    /// How long it waited for the write lock.
    pub lock_wait: Duration,
    /// WAL frames that were in the log when the checkpoint ran (-1 when not in WAL mode).
    pub wal_frames: i64,
}

/// Why `drain` could not establish the guarantee.
#[derive(Debug)]
pub enum DrainError {
    /// No database file at the path: nothing to wait for.
    NoDatabase,
    /// The write lock was not free within the wait.
    LockTimeout(Duration),
    /// The checkpoint could not finish: a reader (a `sqlite3` shell, a backup) held the log.
    CheckpointBusy,
    /// Any other database error.
    Sqlite(rusqlite::Error),
}

impl std::fmt::Display for DrainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DrainError::NoDatabase => write!(f, "no database file"),
            DrainError::LockTimeout(d) => write!(
                f,
                "the write lock was still held after {:.1}s (a long write transaction, or another \
                 process holding the database)",
                d.as_secs_f64()
            ),
            DrainError::CheckpointBusy => write!(
                f,
                "the WAL checkpoint was blocked by an open reader (a sqlite3 shell, a backup tool \
                 or a slow query); the log still holds committed writes"
            ),
            DrainError::Sqlite(e) => write!(f, "database error: {e}"),
        }
    }
}

/// Waits until no write can still commit (takes and releases the write lock), then checkpoints
/// the WAL with TRUNCATE so the main file alone holds every committed write. Never creates the
/// database. `wait` bounds the lock and the checkpoint together.
pub fn drain(db: &Path, wait: Duration) -> std::result::Result<DrainReport, DrainError> {
    if !db.exists() {
        return Err(DrainError::NoDatabase);
    }
    let started = Instant::now();
    let conn = Connection::open_with_flags(
        db,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(DrainError::Sqlite)?;
    conn.busy_timeout(wait).map_err(DrainError::Sqlite)?;
    match conn.execute_batch("BEGIN IMMEDIATE; ROLLBACK;") {
        Ok(()) => {}
        Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) => {
            return Err(DrainError::LockTimeout(started.elapsed()))
        }
        Err(e) => return Err(DrainError::Sqlite(e)),
    }
    let lock_wait = started.elapsed();
    let left = wait.saturating_sub(lock_wait);
    conn.busy_timeout(left).map_err(DrainError::Sqlite)?;
    let (busy, frames): (i64, i64) = conn
        .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .map_err(|e| match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DatabaseBusy) => DrainError::CheckpointBusy,
            _ => DrainError::Sqlite(e),
        })?;
    if busy != 0 {
        return Err(DrainError::CheckpointBusy);
    }
    Ok(DrainReport {
        lock_wait,
        wal_frames: frames,
    })
}
