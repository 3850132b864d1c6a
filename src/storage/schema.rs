//! Fields and their indexes.
//!
//! Every top-level scalar field of a collection gets a partial expression index on
//! `directus_items`, made in the same write transaction that first stores the field (behind the
//! maintenance gate):
//!
//! ```sql
//! CREATE INDEX "directus_index__articles__views"
//!     ON directus_items (json_extract(data, '$."views"'), id) WHERE collection = 'articles';
//! ```
//!
//! `directus_fields(collection, field, indexed)` records the fields seen through the API and
//! whether each is indexed (`PATCH /fields/...` switches it). SQLite keeps the indexes current
//! whoever writes, the server or an operator's `sqlite3` shell. The collection name and the path
//! are SQL literals because SQLite matches an index only against the same expression; both come
//! from names of a restricted alphabet (`literal`), never from arbitrary text.

use rusqlite::{params, Connection, OptionalExtension};
use std::collections::BTreeSet;

/// At most this many fields of one collection are indexed automatically; more are recorded
/// unindexed (each index costs every write of the collection a little).
pub const MAX_AUTO_INDEXES: usize = 64;

/// `'name'` when `name` is safe as an SQL string literal and a JSON path key: ASCII letters,
/// digits, `_` and `-`, starting with a letter, at most 64 characters (collection and field
/// names the API accepts are of this kind).
pub fn literal(name: &str) -> Option<String> {
    plain(name).then(|| format!("'{name}'"))
}

/// `'$."name"'`, the JSON path of a top-level field, as an SQL literal.
pub fn path_literal(name: &str) -> Option<String> {
    plain(name).then(|| format!("'$.\"{name}\"'"))
}

fn plain(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphabetic()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'_' || *c == b'-')
}

/// The index's name, quoted as an SQL identifier.
pub fn index_name(collection: &str, field: &str) -> String {
    format!("\"directus_index__{collection}__{field}\"")
}

/// Creates the field's index (if it is not there yet).
fn create_index(conn: &Connection, collection: &str, field: &str) -> rusqlite::Result<()> {
    let (Some(c), Some(path)) = (literal(collection), path_literal(field)) else {
        return Ok(());
    };
    conn.execute_batch(&format!(
        "CREATE INDEX IF NOT EXISTS {} ON directus_items (json_extract(data, {path}), id) \
         WHERE collection = {c};",
        index_name(collection, field)
    ))
}

fn drop_index(conn: &Connection, collection: &str, field: &str) -> rusqlite::Result<()> {
    if literal(collection).is_none() || literal(field).is_none() {
        return Ok(());
    }
    conn.execute_batch(&format!(
        "DROP INDEX IF EXISTS {};",
        index_name(collection, field)
    ))
}

/// Records the fields a write stored (top-level keys with a scalar value) that the collection
/// has not seen, indexing each while the collection has fewer than `MAX_AUTO_INDEXES`. Returns
/// the names of the indexes made.
pub fn note_fields<'a>(
    conn: &Connection,
    collection: &str,
    fields: impl IntoIterator<Item = &'a str>,
) -> rusqlite::Result<Vec<String>> {
    let fields: BTreeSet<&str> = fields.into_iter().filter(|f| plain(f)).collect();
    let mut known =
        conn.prepare_cached("SELECT 1 FROM directus_fields WHERE collection = ?1 AND field = ?2")?;
    let mut made = Vec::new();
    for field in fields {
        if known.exists(params![collection, field])? {
            continue;
        }
        let indexed: i64 = conn.query_row(
            "SELECT count(*) FROM directus_fields WHERE collection = ?1 AND indexed = 1",
            [collection],
            |r| r.get(0),
        )?;
        let index = (indexed as usize) < MAX_AUTO_INDEXES;
        conn.execute(
            "INSERT INTO directus_fields (collection, field, indexed) VALUES (?1, ?2, ?3)",
            params![collection, field, index],
        )?;
        if index {
            create_index(conn, collection, field)?;
            made.push(index_name(collection, field));
        }
    }
    Ok(made)
}

/// Switches a recorded field's index on or off; `None` when the field is not recorded, else
/// the name of the index.
pub fn set_indexed(
    conn: &Connection,
    collection: &str,
    field: &str,
    indexed: bool,
) -> rusqlite::Result<Option<String>> {
    let n = conn.execute(
        "UPDATE directus_fields SET indexed = ?3 WHERE collection = ?1 AND field = ?2",
        params![collection, field, indexed],
    )?;
    if n == 0 {
        return Ok(None);
    }
    if indexed {
        create_index(conn, collection, field)?;
    } else {
        drop_index(conn, collection, field)?;
    }
    Ok(Some(index_name(collection, field)))
}

/// Drops the indexes of a collection that is being deleted (its `directus_fields` rows go with
/// the collection's row).
pub fn drop_collection_indexes(conn: &Connection, collection: &str) -> rusqlite::Result<()> {
    let fields: Vec<String> = {
        let mut stmt = conn.prepare("SELECT field FROM directus_fields WHERE collection = ?1")?;
        let rows = stmt.query_map([collection], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for field in fields {
        drop_index(conn, collection, &field)?;
    }
    Ok(())
}

/// Whether a recorded field is indexed; `None` when it is not recorded.
pub fn is_indexed(
    conn: &Connection,
    collection: &str,
    field: &str,
) -> rusqlite::Result<Option<bool>> {
    conn.query_row(
        "SELECT indexed FROM directus_fields WHERE collection = ?1 AND field = ?2",
        params![collection, field],
        |r| r.get(0),
    )
    .optional()
}

/// The migration of a database written before fields were indexed: records and indexes every
/// top-level scalar field its items hold.
pub fn index_existing(conn: &Connection) -> rusqlite::Result<()> {
    let pairs: Vec<(String, String)> = {
        let mut stmt = conn.prepare(
            "SELECT DISTINCT d.collection, je.key FROM directus_items AS d, json_each(d.data) AS je \
             WHERE je.type NOT IN ('object', 'array') ORDER BY 1, 2",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut current = String::new();
    let mut batch = Vec::new();
    for (collection, field) in pairs {
        if collection != current && !batch.is_empty() {
            note_fields(conn, &current, batch.iter().map(String::as_str))?;
            batch.clear();
        }
        current = collection;
        batch.push(field);
    }
    if !batch.is_empty() {
        note_fields(conn, &current, batch.iter().map(String::as_str))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_names_become_literals() {
        let cases = [
            ("views", Some("'$.\"views\"'")),
            ("my-field_2", Some("'$.\"my-field_2\"'")),
            ("a'b", None),
            ("a\"b", None),
            ("a.b", None),
            ("", None),
            ("2a", None),
        ];
        for (name, want) in cases {
            assert_eq!(path_literal(name).as_deref(), want, "{name}");
        }
    }
}
