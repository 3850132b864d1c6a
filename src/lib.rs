//! A small synchronous Directus-style item API over SQLite, with an operator maintenance mode.
//!
//! The server binary (`directus-server`) uses every module; the operator CLI (`directus`) uses
//! only `cli`, `config`, `layout`, `maintenance`, `record`, `storage` (with `query`, the
//! language storage reads) and `durable`, never the HTTP side or the API.
#![forbid(unsafe_code)]

pub mod api;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod durable;
pub mod http;
pub mod layout;
pub mod maintenance;
pub mod metrics;
pub mod pg;
pub mod query;
pub mod record;
pub mod rfc3339;
pub mod secret;
pub mod server;
pub mod storage;
pub mod wire;
