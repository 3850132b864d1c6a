//! Storage's errors, in storage's terms: the API maps them to statuses at its edge, and a second
//! engine would stand behind the same ones.

/// What can go wrong in storage, in storage's terms.
#[derive(Debug)]
pub enum StorageError {
    /// A create named an id the collection already has.
    DuplicateId { collection: String, id: i64 },
    /// An update or delete named an id the collection does not have.
    NoSuchItem { collection: String, id: i64 },
    /// The collection does not exist (it may have been dropped since the request looked).
    NoSuchCollection { collection: String },
    /// The next id would overflow.
    IdsExhausted { collection: String },
    /// The write would give the collection more than `limit` fields.
    TooManyFields { collection: String, limit: usize },
    /// Another connection held the lock past the wait.
    Busy,
    /// PostgreSQL undid the transaction to let a concurrent one go on (a deadlock, or a
    /// serialization failure): the write may run again from its start.
    Conflict,
    /// A stored item is not a JSON object (written by hand, or a damaged file).
    Corrupt { id: i64 },
    /// The write transaction was ended under the request (SQLite rolls back the whole
    /// transaction on some errors, a full disk for one): nothing of it can commit.
    TransactionLost,
    /// The engine cannot store this content (PostgreSQL: a string holding U+0000, an index
    /// entry over its size limit); the client's to change.
    Unstorable(String),
    /// Any other database error.
    Sqlite(rusqlite::Error),
    /// Any other PostgreSQL error (or a lost connection).
    Postgres(crate::pg::PgError),
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
            StorageError::NoSuchCollection { collection } => {
                write!(f, "no collection {collection}")
            }
            StorageError::IdsExhausted { collection } => write!(f, "{collection} has no ids left"),
            StorageError::TooManyFields { collection, limit } => {
                write!(f, "{collection} would hold more than {limit} fields")
            }
            StorageError::Busy => write!(f, "the database is locked by another connection"),
            StorageError::Conflict => {
                write!(f, "the database undid the write for a concurrent one")
            }
            StorageError::Corrupt { id } => write!(f, "item {id} is not a stored JSON object"),
            StorageError::TransactionLost => write!(f, "the write transaction was rolled back"),
            StorageError::Unstorable(why) => write!(f, "the database cannot store this: {why}"),
            StorageError::Sqlite(e) => write!(f, "database: {e}"),
            StorageError::Postgres(e) => write!(f, "database: {e}"),
        }
    }
}

impl std::error::Error for StorageError {}

impl From<crate::pg::PgError> for StorageError {
    fn from(err: crate::pg::PgError) -> Self {
        match err.code() {
            // lock_not_available: another writer's turn.
            Some("55P03") => StorageError::Busy,
            // deadlock_detected, serialization_failure: the write may simply run again.
            Some("40P01" | "40001") => StorageError::Conflict,
            _ => StorageError::Postgres(err),
        }
    }
}

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
