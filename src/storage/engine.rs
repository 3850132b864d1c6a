//! The storage boundary: which engine a root's servers use (`Database`), a connection to it
//! (`Storage`) and a request's view of a write transaction (`Writer`). The API and the query
//! parser see only these; each engine writes its own SQL behind them.

use super::postgres::{PgWriter, Postgres};
use super::{FieldInfo, Page, Result, Sqlite, SqliteWriter, StoredItem};
use crate::pg::PgConfig;
use crate::query::Query;
use serde_json::{Map, Value};
use std::path::PathBuf;

/// Where the items live.
#[derive(Debug, Clone)]
pub enum Database {
    /// A SQLite file (the embedded default).
    File(PathBuf),
    /// A PostgreSQL database shared by servers on several hosts (SPEC 12).
    Postgres(PgConfig),
}

impl Database {
    /// The SQLite file, when that is the engine.
    pub fn file(&self) -> Option<&std::path::Path> {
        match self {
            Database::File(path) => Some(path),
            Database::Postgres(_) => None,
        }
    }

    /// How logs, records and `status` name it: the file, or the URI without its password.
    pub fn describe(&self) -> String {
        match self {
            Database::File(path) => path.display().to_string(),
            Database::Postgres(config) => config.to_string(),
        }
    }
}

/// A connection to the database.
pub enum Storage {
    Sqlite(Sqlite),
    Postgres(Postgres),
}

macro_rules! each_engine {
    ($self:ident, $s:ident => $body:expr) => {
        match $self {
            Storage::Sqlite($s) => $body,
            Storage::Postgres($s) => $body,
        }
    };
}

impl Storage {
    /// Opens a connection. A SQLite file is created and migrated if needed; PostgreSQL is
    /// migrated only when `migrate` (the server does once at start, not every worker).
    pub fn open(db: &Database, migrate: bool) -> Result<Storage> {
        Ok(match db {
            Database::File(path) => Storage::Sqlite(Sqlite::open(path)?),
            Database::Postgres(config) => Storage::Postgres(Postgres::open(config, migrate)?),
        })
    }

    /// The SQLite connection, when that is the engine (the group commit's writer).
    pub fn sqlite(&mut self) -> Option<&mut Sqlite> {
        match self {
            Storage::Sqlite(s) => Some(s),
            Storage::Postgres(_) => None,
        }
    }

    /// True when the connection can no longer be used and must be opened again.
    pub fn is_broken(&self) -> bool {
        match self {
            Storage::Sqlite(_) => false,
            Storage::Postgres(p) => p.is_broken(),
        }
    }

    pub fn ping(&mut self) -> Result<()> {
        each_engine!(self, s => s.ping())
    }

    pub fn list_collections(&mut self) -> Result<Vec<String>> {
        each_engine!(self, s => s.list_collections())
    }

    pub fn collection_exists(&mut self, name: &str) -> Result<bool> {
        each_engine!(self, s => s.collection_exists(name))
    }

    pub fn read_item(&mut self, collection: &str, id: i64) -> Result<Option<StoredItem>> {
        each_engine!(self, s => s.read_item(collection, id))
    }

    pub fn read_items(
        &mut self,
        collection: &str,
        query: &Query,
        default_limit: i64,
    ) -> Result<Page> {
        each_engine!(self, s => s.read_items(collection, query, default_limit))
    }

    pub fn fields(&mut self, collection: &str) -> Result<Vec<FieldInfo>> {
        each_engine!(self, s => s.fields(collection))
    }
}

/// One request's view of the open write transaction: the only way to change the database.
pub enum Writer<'a> {
    Sqlite(SqliteWriter<'a>),
    Postgres(PgWriter<'a>),
}

macro_rules! each_writer {
    ($self:ident, $w:ident => $body:expr) => {
        match $self {
            Writer::Sqlite($w) => $body,
            Writer::Postgres($w) => $body,
        }
    };
}

impl Writer<'_> {
    /// True when the collection exists.
    pub fn collection_exists(&self, name: &str) -> Result<bool> {
        each_writer!(self, w => w.collection_exists(name))
    }

    /// Creates a collection; false when it already exists.
    pub fn create_collection(&self, name: &str, created_at: &str) -> Result<bool> {
        each_writer!(self, w => w.create_collection(name, created_at))
    }

    /// Drops a collection with its items; false when it did not exist.
    pub fn delete_collection(&self, name: &str) -> Result<bool> {
        each_writer!(self, w => w.delete_collection(name))
    }

    /// Inserts items and returns them as stored, in order (`DuplicateId`,
    /// `NoSuchCollection`).
    pub fn create_items(
        &self,
        collection: &str,
        items: &[(Option<i64>, Map<String, Value>)],
    ) -> Result<Vec<StoredItem>> {
        each_writer!(self, w => w.create_items(collection, items))
    }

    /// Merges `patch` into each item; any missing id is `NoSuchItem`.
    pub fn update_items(
        &self,
        collection: &str,
        ids: &[i64],
        patch: &Map<String, Value>,
    ) -> Result<Vec<StoredItem>> {
        let patches: Vec<(i64, &Map<String, Value>)> = ids.iter().map(|id| (*id, patch)).collect();
        self.update_each(collection, &patches)
    }

    /// Merges each patch into its item, in order; the items as stored, each once.
    pub fn update_each(
        &self,
        collection: &str,
        patches: &[(i64, &Map<String, Value>)],
    ) -> Result<Vec<StoredItem>> {
        each_writer!(self, w => w.update_each(collection, patches))
    }

    /// Deletes items; any missing id is `NoSuchItem`.
    pub fn delete_items(&self, collection: &str, ids: &[i64]) -> Result<()> {
        each_writer!(self, w => w.delete_items(collection, ids))
    }

    /// The ids a query selects, inside this transaction.
    pub fn ids_for_query(&self, collection: &str, query: &Query) -> Result<Vec<i64>> {
        each_writer!(self, w => w.ids_for_query(collection, query))
    }

    /// Switches a field's index on or off; false when no item has the field.
    pub fn set_indexed(&self, collection: &str, field: &str, indexed: bool) -> Result<bool> {
        each_writer!(self, w => w.set_indexed(collection, field, indexed))
    }
}
