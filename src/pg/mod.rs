//! PostgreSQL, the engine for several hosts (SPEC 12): the connection settings (`uri`), a
//! synchronous client (`client`) and TLS for it (`tls`). No SQL of the product lives here;
//! `storage` and the CLI speak through `Client`.

pub mod client;
pub mod tls;
pub mod uri;

pub use client::{Client, DbError, Notification, PgError, Row};
pub use uri::{is_postgres_uri, Host, PgConfig, SslMode};
