//! Schema migrations: an append-only list applied in place by `PRAGMA user_version`, in one
//! transaction at start (even during maintenance: they are not API writes).

use super::schema;
use super::Result;
use rusqlite::{Connection, TransactionBehavior};

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
    // be bounded (`schema::MAX_COLLECTION_FIELDS`); `decided = 0` marks a field seen only as an object or
    // array, which gets its automatic index when a scalar value first comes.
    Migration::Sql(
        "
    ALTER TABLE directus_fields ADD COLUMN decided INTEGER NOT NULL DEFAULT 1;
    INSERT OR IGNORE INTO directus_fields (collection, field, indexed, decided)
        SELECT DISTINCT d.collection, je.key, 0, 0 FROM directus_items AS d, json_each(d.data) AS je;
",
    ),
    // 6: inside an API write transaction of several requests the text index's changes wait in
    // a table and reach the index in one statement before the commit (`writer::flush_text`):
    // FTS5 writes a segment at every savepoint, and every request of a group commit is one.
    // The transaction marks itself with a row in `directus_text_defer`, deleted before it
    // commits, so every other writer (an operator's `sqlite3`) still updates the index at once.
    Migration::Sql(
        "
    CREATE TABLE directus_text_defer (deferring INTEGER NOT NULL);
    CREATE TABLE directus_text_pending (
        seq INTEGER PRIMARY KEY,
        rid INTEGER NOT NULL,
        value TEXT NOT NULL,
        removed INTEGER NOT NULL
    );
    DROP TRIGGER directus_strings_insert;
    DROP TRIGGER directus_strings_delete;
    CREATE TRIGGER directus_strings_insert AFTER INSERT ON directus_strings
    WHEN NOT EXISTS (SELECT 1 FROM directus_text_defer) BEGIN
        INSERT INTO directus_text (rowid, value) VALUES (new.rowid, new.value);
    END;
    CREATE TRIGGER directus_strings_insert_deferred AFTER INSERT ON directus_strings
    WHEN EXISTS (SELECT 1 FROM directus_text_defer) BEGIN
        INSERT INTO directus_text_pending (rid, value, removed) VALUES (new.rowid, new.value, 0);
    END;
    CREATE TRIGGER directus_strings_delete AFTER DELETE ON directus_strings
    WHEN NOT EXISTS (SELECT 1 FROM directus_text_defer) BEGIN
        INSERT INTO directus_text (directus_text, rowid, value)
            VALUES ('delete', old.rowid, old.value);
    END;
    CREATE TRIGGER directus_strings_delete_deferred AFTER DELETE ON directus_strings
    WHEN EXISTS (SELECT 1 FROM directus_text_defer) BEGIN
        INSERT INTO directus_text_pending (rid, value, removed) VALUES (old.rowid, old.value, 1);
    END;
",
    ),
];

/// Statistics for the planner, of the items table and its indexes only: statistics of the
/// full-text tables make FTS5 prepare its own statements again on every search (slower
/// searches), so `ANALYZE` is never run bare (nor `PRAGMA optimize`, which could).
pub(super) const ANALYZE_ITEMS: &str = "ANALYZE directus_items";

/// Applies the migrations the database has not seen, in one `BEGIN IMMEDIATE` transaction.
pub(super) fn migrate(conn: &mut Connection) -> Result<()> {
    let current = |c: &Connection| c.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0));
    if current(conn)? as usize >= MIGRATIONS.len() {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
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
