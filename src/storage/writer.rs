//! The write transaction: `Storage::begin` (`BEGIN IMMEDIATE`), then one savepoint per request
//! (`Storage::part`, which hands the request's work a `Writer`, the only way to change the
//! database), then one `commit` or `rollback` for all of them (group commit).

use super::migrations::ANALYZE_ITEMS;
use super::schema;
use super::select::Select;
use super::{collection_exists, Result, Sqlite, StorageError, StoredItem, Writer, BUSY_TIMEOUT};
use crate::query::Query;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension};
use serde_json::{Map, Value};
use std::time::Duration;

/// What the open write transaction needs to know beyond SQLite's own state.
#[derive(Default)]
pub(super) struct WriteState {
    /// Indexes made in it: the table is analyzed before committing, so the planner knows them
    /// (full statistics, histograms included, are what lets SQLite pick a field index over a
    /// walk of the collection).
    analyze: std::cell::RefCell<Vec<String>>,
    /// A part's savepoint could not be undone: the transaction must not commit.
    broken: bool,
    /// Parts begun in it.
    parts: usize,
    /// The text index's changes wait (`DEFER_TEXT`) until the commit: from the second part
    /// on, or from the first when the group knows more are coming (`expect_parts`). A lone
    /// write writes its one segment at once and leaves the two tables alone.
    deferring: bool,
}

impl Sqlite {
    /// Opens a write transaction (`BEGIN IMMEDIATE`), waiting at most `wait` for another
    /// connection's lock (then `StorageError::Busy`). Requests then write in it through
    /// `part`, and `commit` or `rollback` ends it.
    pub fn begin(&mut self, wait: Duration) -> Result<()> {
        // A transaction left open (a leader that panicked mid-group) is never carried on.
        self.rollback();
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
        self.write.parts += 1;
        if self.write.parts == 2 {
            self.defer_text()?;
        }
        run_cached(&self.conn, "SAVEPOINT request").map_err(StorageError::from)?;
        let mut part = Part {
            storage: self,
            done: false,
        };
        let out = work(&Writer::Sqlite(SqliteWriter {
            conn: &part.storage.conn,
            analyze: &part.storage.write.analyze,
        }));
        if out.is_ok() {
            if let Err(e) = run_cached(&part.storage.conn, "RELEASE request") {
                return Err(StorageError::from(e).into());
            }
            part.done = true;
        }
        out
    }

    /// Tells the open transaction that at least `parts` parts are coming: with two or more,
    /// the text index waits from the first, so the group writes one segment, not two, and
    /// no part's savepoint has to flush the index.
    pub fn expect_parts(&mut self, parts: usize) -> Result<()> {
        match parts >= 2 && self.write.parts == 0 {
            true => self.defer_text(),
            false => Ok(()),
        }
    }

    /// From here to the commit the text index's changes wait in `directus_text_pending`; run
    /// outside any part's savepoint, so a part undone does not undo it.
    fn defer_text(&mut self) -> Result<()> {
        if !self.write.deferring {
            run_cached(&self.conn, DEFER_TEXT)?;
            self.write.deferring = true;
        }
        Ok(())
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
        if self.write.deferring {
            flush_text(&self.conn)?;
            run_cached(&self.conn, "DELETE FROM directus_text_defer")?;
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
}

/// One request's view of the open write transaction (see `Storage::part`): the only way to
/// change the database.
pub struct SqliteWriter<'a> {
    conn: &'a Connection,
    analyze: &'a std::cell::RefCell<Vec<String>>,
}

/// A request's savepoint; dropped before it was released (the work failed or panicked), it
/// undoes the request's writes.
struct Part<'s> {
    storage: &'s mut Sqlite,
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

impl SqliteWriter<'_> {
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
    /// them as stored, in order. An `id` that exists (or comes twice) is `DuplicateId`; a
    /// collection that does not exist is `NoSuchCollection`.
    ///
    /// A batch is one `INSERT` (one statement, however many items), and no item is read back:
    /// what was stored is what was written.
    pub fn create_items(
        &self,
        collection: &str,
        items: &[(Option<i64>, Map<String, Value>)],
    ) -> Result<Vec<StoredItem>> {
        let exhausted = || StorageError::IdsExhausted {
            collection: collection.to_string(),
        };
        let last_id = || -> Result<i64> {
            self.conn
                .prepare_cached("SELECT last_id FROM directus_collections WHERE collection = ?1")?
                .query_row([collection], |r| r.get(0))
                .optional()?
                .ok_or_else(|| StorageError::NoSuchCollection {
                    collection: collection.to_string(),
                })
        };
        // When no item names its id, one statement moves `last_id` past them all.
        let auto_only = items.iter().all(|(given, _)| given.is_none());
        let mut last_id = match auto_only {
            true => match self.take_ids(collection, items.len())? {
                Some(last) => last,
                // No such collection, or no ids left.
                None => return Err(last_id().err().unwrap_or_else(exhausted)),
            },
            false => last_id()?,
        };
        self.note_fields(collection, items.iter().map(|(_, data)| data))?;
        let mut stored = Vec::with_capacity(items.len());
        let mut seen = std::collections::HashSet::with_capacity(items.len());
        for (given, data) in items {
            let id = match given {
                Some(id) => *id,
                None => last_id.checked_add(1).ok_or_else(exhausted)?,
            };
            if !seen.insert(id) {
                return Err(duplicate(collection, id));
            }
            last_id = last_id.max(id);
            let data = serde_json::to_string(data).expect("a JSON map always serializes");
            stored.push(StoredItem { id, data });
        }
        let inserted = self.write_rows(
            collection,
            &stored,
            "INSERT INTO directus_items (collection, id, data) VALUES (?1, ?2, ?3)",
            "INSERT INTO directus_items (collection, id, data) \
             SELECT ?1, json_extract(value, '$[0]'), json_extract(value, '$[1]') \
             FROM json_each(?2)",
        );
        if let Err(e) = inserted {
            return Err(self.explain_insert(collection, &stored, e));
        }
        if !auto_only {
            self.conn
                .prepare_cached(
                    "UPDATE directus_collections SET last_id = ?2 \
                     WHERE collection = ?1 AND last_id < ?2",
                )?
                .execute(params![collection, last_id])?;
        }
        Ok(stored)
    }

    /// Writes items' rows with one statement: `one` (collection, id, data) for a single item,
    /// else `many` (collection, a JSON array of `[id, data]` pairs), so that a batch is one
    /// statement however many items it holds. Returns the rows changed.
    fn write_rows(
        &self,
        collection: &str,
        stored: &[StoredItem],
        one: &str,
        many: &str,
    ) -> rusqlite::Result<usize> {
        if let [item] = stored {
            return self
                .conn
                .prepare_cached(one)?
                .execute(params![collection, item.id, item.data]);
        }
        let rows: Vec<Value> = stored
            .iter()
            .map(|s| Value::Array(vec![Value::from(s.id), Value::from(s.data.as_str())]))
            .collect();
        self.conn
            .prepare_cached(many)?
            .execute(params![collection, Value::Array(rows).to_string()])
    }

    /// Moves the collection's `last_id` past `n` new ids in one statement and returns where it
    /// was (the new ids follow it); `None` when the ids would run out.
    fn take_ids(&self, collection: &str, n: usize) -> Result<Option<i64>> {
        let n = n as i64;
        let last: Option<i64> = self
            .conn
            .prepare_cached(
                "UPDATE directus_collections SET last_id = last_id + ?2 \
                 WHERE collection = ?1 AND last_id <= ?3 RETURNING last_id",
            )?
            .query_row(params![collection, n, i64::MAX - n], |r| r.get(0))
            .optional()?;
        Ok(last.map(|last| last - n))
    }

    /// The error of an `INSERT` of these items: `DuplicateId` naming the first that exists
    /// when the primary key refused it (an id given, or one an edit by hand took), else as is.
    fn explain_insert(
        &self,
        collection: &str,
        stored: &[StoredItem],
        err: rusqlite::Error,
    ) -> StorageError {
        let key_taken = matches!(&err, rusqlite::Error::SqliteFailure(e, _)
            if e.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY);
        if !key_taken {
            return err.into();
        }
        let ids: Vec<i64> = stored.iter().map(|s| s.id).collect();
        let existing = self.conn.prepare_cached(EXISTING_IDS).and_then(|mut stmt| {
            let found = stmt.query_map(
                params![collection, Value::from(ids.clone()).to_string()],
                |r| r.get::<_, i64>(0),
            )?;
            found.collect::<rusqlite::Result<Vec<i64>>>()
        });
        match existing {
            Ok(existing) => match ids.iter().find(|id| existing.contains(id)) {
                Some(id) => duplicate(collection, *id),
                None => err.into(),
            },
            Err(e) => e.into(),
        }
    }

    /// Merges each patch into its item, in order (an id may come more than once), and returns
    /// the items as stored, each once, in the order of their first patch. Any missing id is
    /// `NoSuchItem`. One `UPDATE` for all of them (see `create_items`).
    pub fn update_each(
        &self,
        collection: &str,
        patches: &[(i64, &Map<String, Value>)],
    ) -> Result<Vec<StoredItem>> {
        self.note_fields(collection, patches.iter().map(|(_, p)| *p))?;
        let mut select = self.conn.prepare_cached(ITEM_DATA)?;
        let stored = super::merge_patches(collection, patches, |id| {
            Ok(select
                .query_row(params![collection, id], |r| r.get(0))
                .optional()?)
        })?;
        let updated = self.write_rows(
            collection,
            &stored,
            "UPDATE directus_items SET data = ?3 WHERE collection = +?1 AND id = ?2",
            "UPDATE directus_items SET data = j.data \
             FROM (SELECT json_extract(value, '$[0]') AS id, \
                          json_extract(value, '$[1]') AS data FROM json_each(?2)) AS j \
             WHERE directus_items.collection = +?1 AND directus_items.id = j.id",
        )?;
        debug_assert_eq!(updated, stored.len());
        Ok(stored)
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
        // A search or a substring filter reads the text index: it must hold this
        // transaction's changes so far.
        flush_text(self.conn)?;
        let mut select = Select::new(collection);
        select.where_clause(query);
        let sql = select.page_sql("d.id", query, -1);
        let mut stmt = self.conn.prepare(&sql)?;
        let ids = stmt.query_map(params_from_iter(select.params.iter()), |r| r.get(0))?;
        Ok(ids.collect::<rusqlite::Result<_>>()?)
    }
}

impl SqliteWriter<'_> {
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

/// Marks the open transaction as one of several parts: the text index's changes wait in
/// `directus_text_pending` (migration 6) until `flush_text`.
const DEFER_TEXT: &str = "INSERT INTO directus_text_defer (deferring) VALUES (1)";

/// Applies the text index's changes waiting in the open transaction in one statement, by
/// rowid and in order within each rowid: FTS5 starts a new segment whenever the rowid goes
/// down, and changes to different rows do not depend on each other.
fn flush_text(conn: &Connection) -> rusqlite::Result<()> {
    // Even with nothing to apply, the statement would open the index and write it at commit.
    let pending = conn
        .prepare_cached("SELECT EXISTS (SELECT 1 FROM directus_text_pending)")?
        .query_row([], |r| r.get::<_, bool>(0))?;
    if !pending {
        return Ok(());
    }
    run_cached(
        conn,
        "INSERT INTO directus_text (directus_text, rowid, value) \
         SELECT CASE removed WHEN 1 THEN 'delete' END, rid, value \
         FROM directus_text_pending ORDER BY rid, seq",
    )?;
    run_cached(conn, "DELETE FROM directus_text_pending")
}

/// Runs a statement without parameters, prepared once per connection (`BEGIN`, `COMMIT`, ...
/// run on every write; preparing them each time was a tenth of a create's CPU).
pub(super) fn run_cached(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
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

/// One item's stored data (the collection's `+` keeps the planner on the primary key).
pub(super) const ITEM_DATA: &str =
    "SELECT data FROM directus_items WHERE collection = +?1 AND id = ?2";

/// Which of the ids (a JSON array) a collection has.
pub(super) const EXISTING_IDS: &str = "SELECT id FROM directus_items WHERE collection = +?1 \
                            AND id IN (SELECT value FROM json_each(?2))";
