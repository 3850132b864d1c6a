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

use super::StorageError;
use rusqlite::{params, Connection, OptionalExtension};

/// At most this many fields of one collection are indexed automatically; more are recorded
/// unindexed (each index costs every write of the collection a little).
pub const MAX_AUTO_INDEXES: usize = 64;

/// At most this many fields (besides `id`) in one collection, counting every top-level key its
/// items ever held, as PostgreSQL bounds a table's columns (1,600). A write that would pass it
/// is refused whole (`StorageError::TooManyFields`).
pub const MAX_COLLECTION_FIELDS: usize = 2_000;

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

/// What a write brings to a collection's fields: each top-level key (but `id`) and whether any
/// of its values is a scalar (number, string, boolean, null), which is what gets an index.
pub type Brought<'a> = std::collections::BTreeMap<&'a str, bool>;

/// Records the top-level fields a write stored that the collection has not seen, and indexes
/// each scalar one while the collection has fewer than `MAX_AUTO_INDEXES` indexed fields. A
/// field seen only as an object or array so far is recorded undecided (`decided = 0`) and is
/// indexed the same way when a scalar value first comes. Fails with `TooManyFields`, having
/// written nothing, when the collection would hold more than `MAX_COLLECTION_FIELDS` fields. Returns the
/// names of the indexes made.
///
/// Cost: one key lookup per field, and when some are new, two counts and one insert each:
/// linear in the number of fields (the indexed count was once taken again for every new field,
/// so a body of many new fields held the writer for seconds).
pub fn note_fields(
    conn: &Connection,
    collection: &str,
    brought: &Brought,
) -> Result<Vec<String>, StorageError> {
    let mut state = conn.prepare_cached(
        "SELECT decided FROM directus_fields WHERE collection = ?1 AND field = ?2",
    )?;
    let (mut new, mut to_decide) = (Vec::new(), Vec::new());
    for (&field, &scalar) in brought {
        match state
            .query_row(params![collection, field], |r| r.get::<_, bool>(0))
            .optional()?
        {
            None => new.push((field, scalar)),
            Some(false) if scalar => to_decide.push(field),
            Some(_) => {}
        }
    }
    if new.is_empty() && to_decide.is_empty() {
        return Ok(Vec::new());
    }
    if !new.is_empty() {
        let held: i64 = conn
            .prepare_cached("SELECT count(*) FROM directus_fields WHERE collection = ?1")?
            .query_row([collection], |r| r.get(0))?;
        if held as usize + new.len() > MAX_COLLECTION_FIELDS {
            return Err(StorageError::TooManyFields {
                collection: collection.to_string(),
                limit: MAX_COLLECTION_FIELDS,
            });
        }
    }
    let mut indexed: i64 = conn
        .prepare_cached(
            "SELECT count(*) FROM directus_fields WHERE collection = ?1 AND indexed = 1",
        )?
        .query_row([collection], |r| r.get(0))?;
    let mut made = Vec::new();
    // Whether a scalar field gets an index now (its name must be usable as a literal).
    let mut index_now = |field: &str| {
        let index = plain(field) && (indexed as usize) < MAX_AUTO_INDEXES;
        indexed += i64::from(index);
        index
    };
    let mut insert = conn.prepare_cached(
        "INSERT INTO directus_fields (collection, field, indexed, decided) VALUES (?1, ?2, ?3, ?4)",
    )?;
    for (field, scalar) in new {
        let index = scalar && index_now(field);
        insert.execute(params![collection, field, index, scalar])?;
        if index {
            create_index(conn, collection, field)?;
            made.push(index_name(collection, field));
        }
    }
    let mut decide = conn.prepare_cached(
        "UPDATE directus_fields SET indexed = ?3, decided = 1 WHERE collection = ?1 AND field = ?2",
    )?;
    for field in to_decide {
        let index = index_now(field);
        decide.execute(params![collection, field, index])?;
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
        "UPDATE directus_fields SET indexed = ?3, decided = 1 WHERE collection = ?1 AND field = ?2",
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
/// top-level scalar field its items hold. It runs before migration 5 added `decided`, so it
/// writes the columns of its own time.
pub fn index_existing(conn: &Connection) -> rusqlite::Result<()> {
    let pairs: Vec<(String, String)> = {
        let mut stmt = conn.prepare(
            "SELECT DISTINCT d.collection, je.key FROM directus_items AS d, json_each(d.data) AS je \
             WHERE je.type NOT IN ('object', 'array') ORDER BY 1, 2",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut indexed: std::collections::HashMap<String, usize> = Default::default();
    for (collection, field) in pairs {
        if !plain(&field) {
            continue;
        }
        let count = indexed.entry(collection.clone()).or_default();
        let index = *count < MAX_AUTO_INDEXES;
        *count += usize::from(index);
        conn.execute(
            "INSERT INTO directus_fields (collection, field, indexed) VALUES (?1, ?2, ?3)",
            params![collection, field, index],
        )?;
        if index {
            create_index(conn, &collection, &field)?;
        }
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
