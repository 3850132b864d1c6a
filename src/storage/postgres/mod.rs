//! The PostgreSQL engine: the same reads and writes as the SQLite one, in PostgreSQL's SQL.
//!
//! Each worker owns one connection. A write is one transaction of its own (PostgreSQL commits
//! many in parallel, so there is no group commit and no process-wide writer): `begin_write`
//! opens it, takes the drain lock shared (`pg_advisory_xact_lock_shared`) and only then reads
//! the cluster's maintenance state, in a statement of its own so that it sees any state a
//! drain committed before taking the lock exclusively.
//!
//! `schema` holds the migrations and the layout; `select` the SQL of queries.

mod schema;
mod select;

pub use schema::{object_name, CHANNEL, DRAIN_LOCK};

use super::{FieldInfo, Page, Result, StorageError, StoredItem};
use crate::pg::{Client, PgConfig, PgError, Row};
use crate::query::Query;
use select::Select;
use serde_json::{Map, Value};
use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};

/// At most this many fields of one collection are indexed automatically.
use super::{MAX_AUTO_INDEXES, MAX_COLLECTION_FIELDS};

/// Advisory lock taken (per transaction) before fields are recorded and indexes made: index
/// builds in two transactions at once could deadlock on the table's locks (ASCII "dirfield").
const FIELDS_LOCK: i64 = 0x6469_7266_6965_6c64;

/// Advisory lock namespace for moving a collection's id sequence past ids given by clients.
const IDS_LOCK: i32 = 0x6469_6473;

/// The cluster's maintenance state as a write transaction read it, as stored
/// (`cluster::notice_of` reads it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterState {
    /// `off`, `full` or `read-only`.
    pub mode: String,
    /// The notice's JSON (message, retry, bypass digest), when on.
    pub notice: Option<String>,
}

/// One connection to the database.
pub struct Postgres {
    client: RefCell<Client>,
    /// To connect again when the connection was lost (a restart, a failover); boxed, as it
    /// is large and rarely read.
    config: Box<PgConfig>,
}

impl Postgres {
    /// Connects, and when `migrate` brings the schema up to date (the server does at start).
    pub fn open(config: &PgConfig, migrate: bool) -> Result<Postgres> {
        let mut client = Client::connect(config)?;
        if migrate {
            schema::migrate(&mut client)?;
        }
        Ok(Postgres {
            client: RefCell::new(client),
            config: Box::new(config.clone()),
        })
    }

    /// Runs `op`, which must change nothing before its first statement succeeds (a read, or
    /// the opening of a write); when it fails because the connection was lost (the database
    /// restarted, or terminated it), connects again and runs it once more, so that a worker's
    /// first request after a restart is answered rather than failed.
    fn again<T>(&mut self, op: impl Fn(&mut Client) -> Result<T>) -> Result<T> {
        match op(self.client.get_mut()) {
            Err(e) if self.client.get_mut().is_broken() => {
                log::warn!("the database connection was lost ({e}); connecting again");
                *self.client.get_mut() = Client::connect(&self.config)?;
                op(self.client.get_mut())
            }
            other => other,
        }
    }

    /// The connection, for the cluster's own statements (the CLI, the listener).
    pub fn client(&mut self) -> &mut Client {
        self.client.get_mut()
    }

    /// True once the connection failed: it must be replaced.
    pub fn is_broken(&self) -> bool {
        self.client.borrow().is_broken()
    }

    pub fn ping(&mut self) -> Result<()> {
        self.again(|c| c.query("SELECT 1", &[]).map(drop).map_err(Into::into))
    }

    pub fn list_collections(&mut self) -> Result<Vec<String>> {
        self.again(list_collections)
    }

    pub fn collection_exists(&mut self, name: &str) -> Result<bool> {
        self.again(|c| collection_exists(c, name))
    }

    pub fn read_item(&mut self, collection: &str, id: i64) -> Result<Option<StoredItem>> {
        self.again(|c| read_item(c, collection, id))
    }

    /// A page of items with its counts, from one snapshot (a repeatable-read transaction when
    /// counts are asked for; one statement otherwise).
    pub fn read_items(
        &mut self,
        collection: &str,
        query: &Query,
        default_limit: i64,
    ) -> Result<Page> {
        self.again(|c| read_items(c, collection, query, default_limit))
    }

    pub fn fields(&mut self, collection: &str) -> Result<Vec<FieldInfo>> {
        self.again(|c| fields(c, collection))
    }

    /// Opens a write transaction: `BEGIN`, the drain lock shared, then the cluster's state
    /// (read after the lock, in a statement of its own).
    pub fn begin_write(&mut self) -> Result<ClusterState> {
        let state = self.again(open_write);
        if state.is_err() {
            self.rollback();
        }
        state
    }
}

fn list_collections(client: &mut Client) -> Result<Vec<String>> {
    let rows = client.query(
        "SELECT collection FROM directus_collections ORDER BY collection COLLATE \"C\"",
        &[],
    )?;
    Ok(rows.into_iter().filter_map(|mut r| r.take(0)).collect())
}

fn read_item(client: &mut Client, collection: &str, id: i64) -> Result<Option<StoredItem>> {
    let row = client.query_opt(
        "SELECT data FROM directus_items WHERE collection = $1 AND id = $2::bigint",
        &[Some(collection), Some(&id.to_string())],
    )?;
    Ok(row
        .and_then(|mut r| r.take(0))
        .map(|data| StoredItem { id, data }))
}

fn read_items(
    client: &mut Client,
    collection: &str,
    query: &Query,
    default_limit: i64,
) -> Result<Page> {
    let counted = query.total_count || query.filter_count;
    if counted {
        client.batch("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")?;
    }
    let page = read_page(client, collection, query, default_limit);
    if counted {
        let ended = client.batch(if page.is_ok() { "COMMIT" } else { "ROLLBACK" });
        if page.is_ok() {
            ended?;
        }
    }
    page
}

/// The fields of a collection, with their types and whether each is indexed.
fn fields(client: &mut Client, collection: &str) -> Result<Vec<FieldInfo>> {
    let rows = client.query(
        // From the text as written (`json`, not `jsonb`, which would spell 1e2 as 100).
        "SELECT e.key, CASE json_typeof(e.value) \
             WHEN 'number' THEN CASE WHEN e.value::text ~ '^-?[0-9]+$' THEN 'integer' ELSE 'real' END \
             WHEN 'string' THEN 'text' WHEN 'boolean' THEN e.value::text \
             ELSE json_typeof(e.value) END \
         FROM directus_items AS d, json_each(d.data::json) AS e WHERE d.collection = $1 \
         GROUP BY 1, 2 ORDER BY min(d.id), e.key COLLATE \"C\"",
        &[Some(collection)],
    )?;
    let indexed: HashMap<String, bool> = client
        .query(
            "SELECT field, indexed FROM directus_fields WHERE collection = $1",
            &[Some(collection)],
        )?
        .into_iter()
        .map(|mut r| Ok((r.take(0).unwrap_or_default(), r.bool(1)?)))
        .collect::<Result<_>>()?;
    let rows = rows
        .into_iter()
        .map(|mut r| (r.take(0).unwrap_or_default(), r.take(1).unwrap_or_default()))
        .collect();
    super::field_infos(rows, |field| {
        Ok(indexed.get(field).copied().unwrap_or(false))
    })
}

/// `begin_write`'s statements: one round trip, three statements, each after the one before
/// has finished, so the state is read with a snapshot taken after the lock was granted. READ
/// COMMITTED whatever the database's default: under REPEATABLE READ the transaction's first
/// snapshot would be reused, and a drain that committed meanwhile would go unseen.
fn open_write(client: &mut Client) -> Result<ClusterState> {
    if client.in_transaction() {
        client.batch("ROLLBACK")?;
    }
    let rows = client.script(&format!(
        "BEGIN ISOLATION LEVEL READ COMMITTED; \
         SELECT pg_advisory_xact_lock_shared({DRAIN_LOCK}); \
         SELECT mode, notice FROM directus_cluster"
    ))?;
    let mut row = rows
        .into_iter()
        .next()
        .ok_or_else(|| PgError::Protocol("directus_cluster has no row".into()))?;
    Ok(ClusterState {
        mode: row.take(0).unwrap_or_else(|| "off".into()),
        notice: row.take(1),
    })
}

impl Postgres {
    /// The open write transaction's only way to change the database.
    pub fn writer(&self) -> super::Writer<'_> {
        super::Writer::Postgres(PgWriter {
            client: &self.client,
        })
    }

    /// Commits the open write transaction.
    pub fn commit(&mut self) -> Result<()> {
        let client = self.client.get_mut();
        if client.in_failed_transaction() {
            // PostgreSQL would answer COMMIT with a rollback and no error.
            self.rollback();
            return Err(StorageError::TransactionLost);
        }
        let committed = client.batch("COMMIT");
        if committed.is_err() {
            self.rollback();
        }
        Ok(committed?)
    }

    /// Ends the open transaction, if any, without applying it.
    pub fn rollback(&mut self) {
        let client = self.client.get_mut();
        if client.in_transaction() && !client.is_broken() {
            if let Err(e) = client.batch("ROLLBACK") {
                log::error!("rolling back a write transaction failed: {e}");
            }
        }
    }
}

fn collection_exists(client: &mut Client, name: &str) -> Result<bool> {
    Ok(client
        .query_opt(
            "SELECT 1 FROM directus_collections WHERE collection = $1",
            &[Some(name)],
        )?
        .is_some())
}

fn params(p: &[Option<String>]) -> Vec<Option<&str>> {
    p.iter().map(|v| v.as_deref()).collect()
}

fn read_page(
    client: &mut Client,
    collection: &str,
    query: &Query,
    default_limit: i64,
) -> Result<Page> {
    let total_count = match query.total_count {
        true => Some(
            client.query(
                "SELECT count(*) FROM directus_items WHERE collection = $1",
                &[Some(collection)],
            )?[0]
                .int(0)? as u64,
        ),
        false => None,
    };
    let mut select = Select::new(collection);
    select.where_clause(query);
    let filter_count = match query.filter_count {
        true => {
            let sql = format!(
                "SELECT count(*) FROM directus_items AS d WHERE {}",
                select.condition
            );
            Some(client.query(&sql, &params(&select.params))?[0].int(0)? as u64)
        }
        false => None,
    };
    let sql = select.page_sql("d.id, d.data", query, default_limit);
    let rows = client.query(&sql, &params(&select.params))?;
    let items = rows
        .into_iter()
        .map(|mut r| {
            Ok(StoredItem {
                id: r.int(0)?,
                data: r.take(1).unwrap_or_default(),
            })
        })
        .collect::<Result<_>>()?;
    Ok(Page {
        items,
        total_count,
        filter_count,
    })
}

/// One request's view of the open write transaction.
pub struct PgWriter<'a> {
    client: &'a RefCell<Client>,
}

impl PgWriter<'_> {
    fn query(&self, sql: &str, p: &[Option<&str>]) -> Result<Vec<Row>> {
        Ok(self.client.borrow_mut().query(sql, p)?)
    }

    fn execute(&self, sql: &str, p: &[Option<&str>]) -> Result<u64> {
        Ok(self.client.borrow_mut().execute(sql, p)?)
    }

    /// Statements in one round trip (`Client::query_all`).
    fn query_all(&self, statements: &[(&str, &[Option<&str>])]) -> Result<Vec<Vec<Row>>> {
        Ok(self.client.borrow_mut().query_all(statements)?)
    }

    fn batch(&self, sql: &str) -> Result<()> {
        Ok(self.client.borrow_mut().batch(sql)?)
    }

    pub fn collection_exists(&self, name: &str) -> Result<bool> {
        collection_exists(&mut self.client.borrow_mut(), name)
    }

    pub fn create_collection(&self, name: &str, created_at: &str) -> Result<bool> {
        let ids = object_name("directus_ids", &[name]);
        let n = self.execute(
            "INSERT INTO directus_collections (collection, created_at, ids) VALUES ($1, $2, $3) \
             ON CONFLICT DO NOTHING",
            &[Some(name), Some(created_at), Some(&ids)],
        )?;
        if n == 1 {
            // The sequence's name is a digest: no request text becomes an identifier.
            self.batch(&format!("CREATE SEQUENCE IF NOT EXISTS {ids} AS bigint"))?;
        }
        Ok(n == 1)
    }

    pub fn delete_collection(&self, name: &str) -> Result<bool> {
        let Some(mut row) = self
            .query(
                "SELECT ids FROM directus_collections WHERE collection = $1 FOR UPDATE",
                &[Some(name)],
            )?
            .into_iter()
            .next()
        else {
            return Ok(false);
        };
        let ids = row.take(0).unwrap_or_default();
        let fields = self.query(
            "SELECT field FROM directus_fields WHERE collection = $1",
            &[Some(name)],
        )?;
        for mut f in fields {
            let field = f.take(0).unwrap_or_default();
            let index = object_name("directus_index", &[name, &field]);
            self.batch(&format!("DROP INDEX IF EXISTS {index}"))?;
        }
        self.execute(
            "DELETE FROM directus_items WHERE collection = $1",
            &[Some(name)],
        )?;
        self.execute(
            "DELETE FROM directus_collections WHERE collection = $1",
            &[Some(name)],
        )?;
        if is_digest_name(&ids) {
            self.batch(&format!("DROP SEQUENCE IF EXISTS {ids}"))?;
        }
        Ok(true)
    }

    /// The collection's id sequence from `SEQUENCE`'s rows, or `NoSuchCollection`.
    fn sequence(collection: &str, rows: Vec<Row>) -> Result<String> {
        rows.into_iter()
            .next()
            .and_then(|mut r| r.take(0))
            .filter(|ids| is_digest_name(ids))
            .ok_or_else(|| StorageError::NoSuchCollection {
                collection: collection.to_string(),
            })
    }

    /// Moves the sequence past `id` if it is not yet: auto ids then pass the ids clients
    /// gave. The caller holds the ids lock exclusively (`lock_ids`).
    fn advance(&self, sequence: &str, id: i64) -> Result<()> {
        self.query(
            "SELECT setval($1::regclass, $2::bigint) \
             WHERE $2::bigint > coalesce(pg_sequence_last_value($1::regclass), 0)",
            &[Some(sequence), Some(&id.to_string())],
        )?;
        Ok(())
    }

    /// Takes the collection's ids lock: exclusive for a create that gives ids (it may move the
    /// sequence), shared for one that only takes new ids. Held to the end of the transaction,
    /// so the sequence never moves between `advance`'s look and its `setval`.
    fn lock_ids(&self, sequence: &str, exclusive: bool) -> Result<()> {
        let sql = match exclusive {
            true => "SELECT pg_advisory_xact_lock($1::integer, hashtext($2))",
            false => LOCK_IDS_SHARED,
        };
        self.query(sql, &[Some(&IDS_LOCK.to_string()), Some(sequence)])?;
        Ok(())
    }

    /// `n` new ids from the sequence, ascending; with `lock`, the ids lock is taken shared
    /// first, in the same round trip.
    fn new_ids(&self, collection: &str, sequence: &str, n: usize, lock: bool) -> Result<Vec<i64>> {
        if n == 0 && !lock {
            return Ok(Vec::new());
        }
        let (key, n) = (IDS_LOCK.to_string(), n.to_string());
        let locking: [(&str, &[Option<&str>]); 1] =
            [(LOCK_IDS_SHARED, &[Some(&key), Some(sequence)])];
        let taking: [(&str, &[Option<&str>]); 1] = [(NEXT_IDS, &[Some(sequence), Some(&n)])];
        let statements = match lock {
            true => [&locking[..], &taking[..]].concat(),
            false => taking.to_vec(),
        };
        let rows = self.query_all(&statements).map_err(|e| match e {
            StorageError::Postgres(ref pe) if pe.code() == Some("2200H") => {
                StorageError::IdsExhausted {
                    collection: collection.to_string(),
                }
            }
            other => other,
        })?;
        let mut ids = first_ints(rows.last().expect("one statement at least"))?;
        ids.sort_unstable();
        Ok(ids)
    }

    pub fn create_items(
        &self,
        collection: &str,
        items: &[(Option<i64>, Map<String, Value>)],
    ) -> Result<Vec<StoredItem>> {
        // One round trip: the collection's sequence and which of the fields it knows.
        let brought = brought_fields(items.iter().map(|(_, data)| data));
        let names: Vec<&str> = brought.keys().copied().collect();
        let names_array = text_array(&names);
        let sequence_params = [Some(collection)];
        let mut statements: Vec<(&str, &[Option<&str>])> = vec![(SEQUENCE, &sequence_params)];
        let known_params = [Some(collection), Some(names_array.as_str())];
        if !names.is_empty() {
            statements.push((KNOWN_FIELDS, &known_params));
        }
        let mut rows = self.query_all(&statements)?.into_iter();
        let sequence = Self::sequence(collection, rows.next().unwrap_or_default())?;
        let known = rows.next().map(known_fields).transpose()?;
        self.note_brought(collection, &brought, known)
            .map_err(|e| explain(collection, e))?;
        // Ids in order, as SQLite assigns them: an item without one takes the next after
        // every id so far, given or taken.
        let mut ids: Vec<i64> = Vec::with_capacity(items.len());
        let mut given_max = None::<i64>;
        let gives_ids = items.iter().any(|(id, _)| id.is_some());
        if gives_ids {
            self.lock_ids(&sequence, true)?;
        }
        // Taken shared with the first new ids, in the same round trip.
        let mut lock = !gives_ids;
        let mut i = 0;
        while i < items.len() {
            if let Some(id) = items[i].0 {
                given_max = given_max.max(Some(id));
                ids.push(id);
                i += 1;
                continue;
            }
            let run = items[i..].iter().take_while(|(id, _)| id.is_none()).count();
            if let Some(max) = given_max.take() {
                self.advance(&sequence, max)?;
            }
            ids.extend(self.new_ids(collection, &sequence, run, lock)?);
            lock = false;
            i += run;
        }
        if lock {
            self.lock_ids(&sequence, false)?;
        }
        if let Some(max) = given_max {
            self.advance(&sequence, max)?;
        }
        // Every id once, given or taken (an auto id may equal a later given one, as in SQLite).
        let mut seen = std::collections::HashSet::with_capacity(ids.len());
        if let Some(id) = ids.iter().find(|id| !seen.insert(**id)) {
            return Err(duplicate(collection, *id));
        }
        let mut stored: Vec<StoredItem> = items
            .iter()
            .zip(ids)
            .map(|((_, data), id)| StoredItem {
                id,
                data: serde_json::to_string(data).expect("a JSON map always serializes"),
            })
            .collect();
        // An auto id can meet an id a client gave in a transaction still open: such items
        // take new ids and go again.
        let mut pending: Vec<usize> = (0..stored.len()).collect();
        for _round in 0..8 {
            let rows: Vec<&StoredItem> = pending.iter().map(|i| &stored[*i]).collect();
            let inserted = self.insert_rows(collection, &rows)?;
            let refused: Vec<usize> = pending
                .iter()
                .copied()
                .filter(|i| !inserted.contains(&stored[*i].id))
                .collect();
            if refused.is_empty() {
                return Ok(stored);
            }
            if let Some(i) = refused.iter().find(|i| items[**i].0.is_some()) {
                return Err(duplicate(collection, stored[*i].id));
            }
            let ids = self.new_ids(collection, &sequence, refused.len(), false)?;
            for (i, id) in refused.iter().zip(ids) {
                stored[*i].id = id;
            }
            pending = refused;
        }
        Err(StorageError::Busy)
    }

    /// Inserts rows, skipping ids that exist; returns the ids inserted.
    fn insert_rows(
        &self,
        collection: &str,
        rows: &[&StoredItem],
    ) -> Result<std::collections::HashSet<i64>> {
        let out = if let [one] = rows {
            self.query(
                "INSERT INTO directus_items (collection, id, data) VALUES ($1, $2::bigint, $3) \
                 ON CONFLICT DO NOTHING RETURNING id",
                &[Some(collection), Some(&one.id.to_string()), Some(&one.data)],
            )
        } else {
            self.query(
                "INSERT INTO directus_items (collection, id, data) \
                 SELECT $1, (e ->> 0)::bigint, e ->> 1 FROM json_array_elements($2::json) AS e \
                 ON CONFLICT DO NOTHING RETURNING id",
                &[Some(collection), Some(&pairs(rows))],
            )
        };
        let out = out.map_err(|e| explain(collection, e))?;
        Ok(first_ints(&out)?.into_iter().collect())
    }

    pub fn update_each(
        &self,
        collection: &str,
        patches: &[(i64, &Map<String, Value>)],
    ) -> Result<Vec<StoredItem>> {
        self.note_fields(collection, patches.iter().map(|(_, p)| *p))
            .map_err(|e| explain(collection, e))?;
        let mut ids: Vec<i64> = patches.iter().map(|(id, _)| *id).collect();
        ids.sort_unstable();
        ids.dedup();
        // FOR UPDATE: a concurrent PATCH of the same item waits, then merges into this one's
        // result rather than over it. Rows are locked in id order (the sort is below the
        // locking): two batches locking the same items in other orders would deadlock.
        let rows = self.query(
            "SELECT id, data FROM directus_items WHERE collection = $1 \
             AND id = ANY($2::bigint[]) ORDER BY id FOR UPDATE",
            &[Some(collection), Some(&int_array(&ids))],
        )?;
        let mut current: HashMap<i64, String> = HashMap::new();
        for mut r in rows {
            current.insert(r.int(0)?, r.take(1).unwrap_or_default());
        }
        let stored = super::merge_patches(collection, patches, |id| Ok(current.remove(&id)))?;
        let written = if let [one] = stored.as_slice() {
            self.execute(
                "UPDATE directus_items SET data = $3 WHERE collection = $1 AND id = $2::bigint",
                &[Some(collection), Some(&one.id.to_string()), Some(&one.data)],
            )
        } else {
            let rows: Vec<&StoredItem> = stored.iter().collect();
            self.execute(
                "UPDATE directus_items AS d SET data = e ->> 1 \
                 FROM json_array_elements($2::json) AS e \
                 WHERE d.collection = $1 AND d.id = (e ->> 0)::bigint",
                &[Some(collection), Some(&pairs(&rows))],
            )
        };
        written.map_err(|e| explain(collection, e))?;
        Ok(stored)
    }

    pub fn delete_items(&self, collection: &str, ids: &[i64]) -> Result<()> {
        let deleted = self.query(
            "DELETE FROM directus_items WHERE collection = $1 AND id IN ( \
                 SELECT id FROM directus_items WHERE collection = $1 \
                 AND id = ANY($2::bigint[]) ORDER BY id FOR UPDATE) \
             RETURNING id",
            &[Some(collection), Some(&int_array(ids))],
        )?;
        let deleted: std::collections::HashSet<i64> = first_ints(&deleted)?.into_iter().collect();
        match ids.iter().find(|id| !deleted.contains(id)) {
            // The caller's transaction rolls back: nothing of the batch is deleted.
            Some(id) => Err(no_such_item(collection, *id)),
            None => Ok(()),
        }
    }

    pub fn ids_for_query(&self, collection: &str, query: &Query) -> Result<Vec<i64>> {
        let mut select = Select::new(collection);
        select.where_clause(query);
        let sql = select.page_sql("d.id", query, -1);
        let rows = self.query(&sql, &params(&select.params))?;
        first_ints(&rows)
    }

    /// Records the fields these items bring that the collection has not seen, and indexes the
    /// scalar ones (see the SQLite engine's `schema::note_fields`, whose rules these are).
    fn note_fields<'m>(
        &self,
        collection: &str,
        items: impl IntoIterator<Item = &'m Map<String, Value>>,
    ) -> Result<()> {
        self.note_brought(collection, &brought_fields(items), None)
    }

    /// `note_fields` for the fields brought (`brought_fields`), given what the collection
    /// was found to know of them when that was read already (`KNOWN_FIELDS`).
    fn note_brought(
        &self,
        collection: &str,
        brought: &BTreeMap<&str, bool>,
        known_now: Option<HashMap<String, bool>>,
    ) -> Result<()> {
        if brought.is_empty() {
            return Ok(());
        }
        let names: Vec<&str> = brought.keys().copied().collect();
        let known = |w: &Self| -> Result<HashMap<String, bool>> {
            known_fields(w.query(KNOWN_FIELDS, &[Some(collection), Some(&text_array(&names))])?)
        };
        let pending = |known: &HashMap<String, bool>| {
            brought.iter().any(|(f, scalar)| match known.get(*f) {
                None => true,
                Some(decided) => *scalar && !decided,
            })
        };
        let first = match known_now {
            Some(k) => k,
            None => known(self)?,
        };
        if !pending(&first) {
            return Ok(());
        }
        // Something to record: serialized with every other transaction that records fields,
        // then looked at again.
        self.query(
            "SELECT pg_advisory_xact_lock($1::bigint)",
            &[Some(&FIELDS_LOCK.to_string())],
        )?;
        let known = known(self)?;
        let new: Vec<(&str, bool)> = brought
            .iter()
            .filter(|(f, _)| !known.contains_key(**f))
            .map(|(f, s)| (*f, *s))
            .collect();
        let to_decide: Vec<&str> = brought
            .iter()
            .filter(|(f, scalar)| **scalar && known.get(**f) == Some(&false))
            .map(|(f, _)| *f)
            .collect();
        let counts = self.query(
            "SELECT count(*), count(*) FILTER (WHERE indexed) FROM directus_fields \
             WHERE collection = $1",
            &[Some(collection)],
        )?;
        let (held, mut indexed) = (counts[0].int(0)? as usize, counts[0].int(1)? as usize);
        if held + new.len() > MAX_COLLECTION_FIELDS {
            return Err(StorageError::TooManyFields {
                collection: collection.to_string(),
                limit: MAX_COLLECTION_FIELDS,
            });
        }
        let mut index_now = |field: &str| {
            let index = super::schema::literal(field).is_some() && indexed < MAX_AUTO_INDEXES;
            indexed += usize::from(index);
            index
        };
        let mut rows: Vec<Value> = Vec::new();
        let mut make: Vec<&str> = Vec::new();
        for (field, scalar) in &new {
            let index = *scalar && index_now(field);
            rows.push(serde_json::json!([field, index, scalar]));
            if index {
                make.push(field);
            }
        }
        if !rows.is_empty() {
            self.execute(
                "INSERT INTO directus_fields (collection, field, indexed, decided) \
                 SELECT $1, e ->> 0, (e ->> 1)::boolean, (e ->> 2)::boolean \
                 FROM json_array_elements($2::json) AS e",
                &[Some(collection), Some(&Value::Array(rows).to_string())],
            )?;
        }
        for field in to_decide {
            let index = index_now(field);
            self.execute(
                "UPDATE directus_fields SET indexed = $3::boolean, decided = true \
                 WHERE collection = $1 AND field = $2",
                &[Some(collection), Some(field), Some(&index.to_string())],
            )?;
            if index {
                make.push(field);
            }
        }
        for field in make {
            self.create_index(collection, field)?;
        }
        Ok(())
    }

    fn create_index(&self, collection: &str, field: &str) -> Result<()> {
        use super::schema::literal;
        let (Some(c), Some(f)) = (literal(collection), literal(field)) else {
            return Ok(());
        };
        let v = format!("(doc -> {f})");
        self.batch(&format!(
            "CREATE INDEX IF NOT EXISTS {} ON directus_items (directus_class{v}, \
             directus_number{v}, (directus_head{v} COLLATE \"C\"), id) WHERE collection = {c}",
            object_name("directus_index", &[collection, field])
        ))
    }

    pub fn set_indexed(&self, collection: &str, field: &str, indexed: bool) -> Result<bool> {
        let recorded = self
            .query(
                "SELECT 1 FROM directus_fields WHERE collection = $1 AND field = $2",
                &[Some(collection), Some(field)],
            )?
            .len()
            == 1;
        if !recorded {
            let present = self.query(
                "SELECT 1 FROM directus_items WHERE collection = $1 AND doc ? $2 LIMIT 1",
                &[Some(collection), Some(field)],
            )?;
            if present.is_empty() {
                return Ok(false);
            }
            let mut one = Map::new();
            one.insert(field.to_string(), Value::Null);
            self.note_fields(collection, [&one])?;
        }
        self.query(
            "SELECT pg_advisory_xact_lock($1::bigint)",
            &[Some(&FIELDS_LOCK.to_string())],
        )?;
        self.execute(
            "UPDATE directus_fields SET indexed = $3::boolean, decided = true \
             WHERE collection = $1 AND field = $2",
            &[Some(collection), Some(field), Some(&indexed.to_string())],
        )?;
        if indexed {
            self.create_index(collection, field)?;
        } else {
            self.batch(&format!(
                "DROP INDEX IF EXISTS {}",
                object_name("directus_index", &[collection, field])
            ))?;
        }
        Ok(true)
    }
}

/// The first column of each row, as integers.
/// A collection's id sequence; FOR KEY SHARE: a concurrent delete of the collection waits for
/// the write that read it.
const SEQUENCE: &str = "SELECT ids FROM directus_collections WHERE collection = $1 FOR KEY SHARE";
/// Which of the fields (a text array) the collection knows, and whether each is decided.
const KNOWN_FIELDS: &str = "SELECT field, decided FROM directus_fields WHERE collection = $1 \
                            AND field = ANY($2::text[])";
/// The collection's ids lock, shared (see `lock_ids`).
const LOCK_IDS_SHARED: &str = "SELECT pg_advisory_xact_lock_shared($1::integer, hashtext($2))";
/// New ids from a sequence.
const NEXT_IDS: &str = "SELECT nextval($1::regclass) FROM generate_series(1, $2::integer)";

/// The top-level fields items bring (`id` aside), each with whether any item brings it as a
/// scalar.
fn brought_fields<'m>(
    items: impl IntoIterator<Item = &'m Map<String, Value>>,
) -> BTreeMap<&'m str, bool> {
    let mut brought: BTreeMap<&str, bool> = BTreeMap::new();
    for item in items {
        for (name, value) in item {
            if name != "id" {
                *brought.entry(name.as_str()).or_default() |=
                    !value.is_object() && !value.is_array();
            }
        }
    }
    brought
}

/// `KNOWN_FIELDS`' rows as field → decided.
fn known_fields(rows: Vec<Row>) -> Result<HashMap<String, bool>> {
    rows.into_iter()
        .map(|mut r| Ok((r.take(0).unwrap_or_default(), r.bool(1)?)))
        .collect()
}

fn first_ints(rows: &[Row]) -> Result<Vec<i64>> {
    Ok(rows
        .iter()
        .map(|r| r.int(0))
        .collect::<std::result::Result<_, _>>()?)
}

/// True for names `object_name` made (a prefix and hex digits): safe as identifiers.
fn is_digest_name(name: &str) -> bool {
    name.starts_with("directus_")
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// `[[id, "data"], ...]`, read back by `json_array_elements` (which keeps the text exactly).
fn pairs(rows: &[&StoredItem]) -> String {
    let rows: Vec<Value> = rows
        .iter()
        .map(|s| Value::Array(vec![Value::from(s.id), Value::from(s.data.as_str())]))
        .collect();
    Value::Array(rows).to_string()
}

fn int_array(ids: &[i64]) -> String {
    let items: Vec<String> = ids.iter().map(i64::to_string).collect();
    format!("{{{}}}", items.join(","))
}

fn text_array(items: &[&str]) -> String {
    let items: Vec<String> = items
        .iter()
        .map(|t| format!("\"{}\"", t.replace('\\', "\\\\").replace('"', "\\\"")))
        .collect();
    format!("{{{}}}", items.join(","))
}

/// A write PostgreSQL refused for its content, in storage's terms.
fn explain(collection: &str, e: StorageError) -> StorageError {
    match e {
        StorageError::Postgres(PgError::Db(db)) => match db.code.as_str() {
            "23503" => StorageError::NoSuchCollection {
                collection: collection.to_string(),
            },
            // A string holding U+0000 (jsonb refuses it), an index entry too large.
            "22P05" | "54000" | "22021" => StorageError::Unstorable(db.message),
            _ => StorageError::Postgres(PgError::Db(db)),
        },
        other => other,
    }
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
