//! The API's error values and the one place that turns them into a status and a Directus code.
//!
//! Handlers return `ApiError`; only `ApiError::into_response` decides what the client sees.
//! Internal errors carry their detail for the log, never for the client. The query parser and
//! storage have errors of their own (`QueryError`, `StorageError`); they become `ApiError`
//! here, at the API's edge, and nowhere else.

use crate::maintenance::Notice;
use crate::query::QueryError;
use crate::storage::StorageError;
use crate::wire::Response;
use serde_json::{json, Map, Value};

/// Everything a request can fail with, as the client is meant to see it.
#[derive(Debug, PartialEq)]
pub enum ApiError {
    /// The body is not valid JSON or not the shape the route takes.
    InvalidPayload(String),
    /// A query parameter (or a `query` object in a body) is malformed.
    InvalidQuery(String),
    /// A create named an `id` that already exists in the collection.
    RecordNotUnique { collection: String, id: i64 },
    /// A token was given and it is wrong.
    InvalidCredentials,
    /// No token where one is required, or an unknown collection or item.
    Forbidden,
    /// No such route.
    RouteNotFound(String),
    /// Known path, wrong method; carries the `Allow` header value.
    MethodNotAllowed(String),
    /// The body is larger than `--max-body`.
    ContentTooLarge(usize),
    /// A body that is not `application/json`.
    UnsupportedMediaType,
    /// Maintenance mode is on (or its state cannot be decided).
    Maintenance(Notice),
    /// The database stayed locked by another process past the busy timeout.
    DatabaseBusy,
    /// PostgreSQL undid the write for a concurrent one (a deadlock while an index was made,
    /// say); `Session` runs it again, and answers as `DatabaseBusy` if that keeps happening.
    WriteConflict,
    /// A bug or an I/O fault; the detail is logged, the client sees a generic message.
    Internal(String),
}

impl ApiError {
    /// The HTTP status and Directus error code of this error: the only such mapping in the code.
    pub fn status_and_code(&self) -> (u16, &'static str) {
        match self {
            ApiError::InvalidPayload(_) => (400, "INVALID_PAYLOAD"),
            ApiError::InvalidQuery(_) => (400, "INVALID_QUERY"),
            ApiError::RecordNotUnique { .. } => (400, "RECORD_NOT_UNIQUE"),
            ApiError::InvalidCredentials => (401, "INVALID_CREDENTIALS"),
            ApiError::Forbidden => (403, "FORBIDDEN"),
            ApiError::RouteNotFound(_) => (404, "ROUTE_NOT_FOUND"),
            ApiError::MethodNotAllowed(_) => (405, "METHOD_NOT_ALLOWED"),
            ApiError::ContentTooLarge(_) => (413, "CONTENT_TOO_LARGE"),
            ApiError::UnsupportedMediaType => (415, "UNSUPPORTED_MEDIA_TYPE"),
            ApiError::Maintenance(_) => (503, "SERVICE_UNAVAILABLE"),
            ApiError::DatabaseBusy | ApiError::WriteConflict => (503, "SERVICE_UNAVAILABLE"),
            ApiError::Internal(_) => (500, "INTERNAL_SERVER_ERROR"),
        }
    }

    /// The sentence the client sees (internal details are never part of it).
    pub fn message(&self) -> String {
        match self {
            ApiError::InvalidPayload(why) => format!("Invalid payload. {why}"),
            ApiError::InvalidQuery(why) => format!("Invalid query. {why}"),
            ApiError::RecordNotUnique { collection, id } => format!(
                "Value \"{id}\" for field \"id\" in collection \"{collection}\" has to be unique."
            ),
            ApiError::InvalidCredentials => "Invalid user credentials.".to_string(),
            ApiError::Forbidden => "You don't have permission to access this.".to_string(),
            ApiError::RouteNotFound(path) => format!("Route {path} doesn't exist."),
            ApiError::MethodNotAllowed(allow) => {
                format!("Method not allowed on this route. Allowed: {allow}.")
            }
            ApiError::ContentTooLarge(max) => {
                format!("Request body is too large. The limit is {max} bytes.")
            }
            ApiError::UnsupportedMediaType => {
                "Unsupported media type. Send the body as JSON with the header \
                 \"Content-Type: application/json\" (curl --json)."
                    .to_string()
            }
            ApiError::Maintenance(notice) => notice.message().to_string(),
            ApiError::DatabaseBusy | ApiError::WriteConflict => {
                "The database is busy. Try again in a moment.".to_string()
            }
            ApiError::Internal(_) => "An unexpected error occurred.".to_string(),
        }
    }

    /// Builds the Directus error envelope with the headers this error needs.
    pub fn into_response(self, request_id: &str) -> Response {
        let (status, code) = self.status_and_code();
        if let ApiError::Maintenance(notice) = &self {
            // The hot path during maintenance: the body is rendered once per notice.
            let mut response = Response::empty(status);
            response.header("Content-Type", "application/json".to_string());
            response.header("Cache-Control", "no-store".to_string());
            if let Some(secs) = notice.retry_after() {
                response.header("Retry-After", secs.to_string());
            }
            response.body = notice.rendered(|n| maintenance_body(n, code)).to_vec();
            return response;
        }
        let mut extensions = Map::new();
        extensions.insert("code".into(), Value::from(code));
        let mut response = Response::empty(status);
        match &self {
            ApiError::DatabaseBusy | ApiError::WriteConflict => {
                extensions.insert("reason".into(), Value::from("database_busy"));
                response.header("Retry-After", "1".to_string());
                response.header("Cache-Control", "no-store".to_string());
            }
            ApiError::MethodNotAllowed(allow) => response.header("Allow", allow.clone()),
            ApiError::Internal(_) => {
                extensions.insert("request_id".into(), Value::from(request_id));
            }
            _ => {}
        }
        let body = json!({"errors": [{"message": self.message(), "extensions": extensions}]});
        response.set_json(&body);
        response
    }
}

/// The maintenance envelope: the notice's message, `reason` (`maintenance`, or `read_only` in
/// read-only mode), and `retry_after`/`since` when the flag holds them.
fn maintenance_body(notice: &Notice, code: &str) -> Vec<u8> {
    let mut extensions = Map::new();
    extensions.insert("code".into(), Value::from(code));
    extensions.insert("reason".into(), Value::from(notice.mode().reason()));
    if let Some(secs) = notice.retry_after() {
        extensions.insert("retry_after".into(), Value::from(secs));
    }
    if let Some(since) = notice.since() {
        extensions.insert("since".into(), Value::from(since));
    }
    let body = json!({"errors": [{"message": notice.message(), "extensions": extensions}]});
    serde_json::to_vec(&body).expect("a serde_json::Value always serializes")
}

impl std::fmt::Display for ApiError {
    /// The client's message, and for internal errors the detail meant for the log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Internal(detail) => write!(f, "internal error: {detail}"),
            other => f.write_str(&other.message()),
        }
    }
}

impl std::error::Error for ApiError {}

/// Storage speaks of rows and constraints; this is where its outcomes become statuses.
impl From<StorageError> for ApiError {
    fn from(err: StorageError) -> Self {
        match err {
            StorageError::DuplicateId { collection, id } => {
                ApiError::RecordNotUnique { collection, id }
            }
            StorageError::NoSuchItem { .. } | StorageError::NoSuchCollection { .. } => {
                ApiError::Forbidden
            }
            StorageError::IdsExhausted { collection } => ApiError::InvalidPayload(format!(
                "The collection \"{collection}\" has run out of ids."
            )),
            StorageError::TooManyFields { collection, limit } => ApiError::InvalidPayload(format!(
                "A collection holds at most {limit} fields; this write would give \"{collection}\" more."
            )),
            StorageError::Busy => ApiError::DatabaseBusy,
            StorageError::Conflict => ApiError::WriteConflict,
            StorageError::Unstorable(why) => ApiError::InvalidPayload(format!(
                "The database cannot store this item: {why}."
            )),
            err @ (StorageError::Corrupt { .. }
            | StorageError::TransactionLost
            | StorageError::Sqlite(_)
            | StorageError::Postgres(_)) => ApiError::Internal(err.to_string()),
        }
    }
}

/// A query the parser refused is the client's mistake: `INVALID_QUERY`, or `INVALID_PAYLOAD`
/// for a batch body whose `query` is not an object.
impl From<QueryError> for ApiError {
    fn from(err: QueryError) -> Self {
        match err {
            QueryError::Invalid(why) => ApiError::InvalidQuery(why),
            err @ QueryError::NotAnObject => ApiError::InvalidPayload(err.to_string()),
        }
    }
}
