//! `Call`: one request as its handler sees it. The handler asks it for the worker's read
//! connection, for a write (group commit, behind the gate), and for the request's `Query`,
//! parsed from the query string's pairs that the dispatcher decoded once.

use super::error::ApiError;
use super::session::Session;
use super::App;
use crate::query::{Query, QueryError};
use crate::storage::{Storage, Writer};

/// One request in a handler's hands.
pub struct Call<'a> {
    pub(super) app: &'a App,
    pub(super) session: &'a mut Session,
    /// The query string's pairs, decoded once (auth read `access_token` from them).
    pub(super) pairs: &'a Result<Vec<(String, String)>, QueryError>,
}

impl Call<'_> {
    /// The worker's read connection.
    pub fn storage(&mut self) -> Result<&mut Storage, ApiError> {
        self.session.storage(self.app)
    }

    /// Runs `work` as one atomic write, behind the maintenance gate, and returns once it is
    /// durable (`group`). The work may run on another worker's thread (the group's leader), so
    /// it owns what it uses; on PostgreSQL it may run more than once (`Session::write`).
    pub fn write<T: Send + 'static>(
        &mut self,
        work: impl Fn(&Writer) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, ApiError> {
        self.session.write(self.app, work)
    }

    /// The request's `fields`, `filter`, `sort`, page and `meta`.
    pub fn query(&self) -> Result<Query, ApiError> {
        match self.pairs {
            Ok(pairs) => Ok(Query::from_pairs(pairs)?),
            Err(e) => Err(e.clone().into()),
        }
    }
}
