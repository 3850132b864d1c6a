//! The integration tests: one crate (so the support module is compiled once and its unused parts
//! show), one module per area. Every test starts the real binaries on port 0 in a temporary root
//! of its own and talks HTTP to them.

mod common;

mod activation;
mod admin;
mod api;
mod cluster;
mod hostile;
mod indexed;
mod lifecycle;
mod maintenance;
mod metrics;
mod nginx;
mod oas;
mod pg_client;
mod read_only;
mod scripts;
mod writes;
