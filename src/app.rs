//! The dispatcher and the handlers: from a `wire::Request` to a `wire::Response`.
//!
//! Order of checks, first match wins: maintenance 503 → CORS preflight → wrong token 401 →
//! unknown route 404 → wrong method 405 → missing token 403 → 415 → 413 → unknown collection
//! or item 403 → 400. The maintenance check is one `lstat` and comes before routing, auth, body
//! reading and any database access. Handlers never see tiny_http and never write SQL.

use crate::config::ServerConfig;
use crate::error::ApiError;
use crate::maintenance::{self, FlagState, Notice, NoticeCache, Observer};
use crate::query::{self, Query, DEFAULT_LIMIT};
use crate::storage::{Item, Storage, StoredItem, Writer};
use crate::wire::{BodyError, BodySource, Request, Response};
use serde_json::{json, Map, Value};
use std::path::PathBuf;
use std::sync::Mutex;

/// State shared by all workers.
pub struct App {
    pub config: ServerConfig,
    /// `ROOT/logs/maintenance`.
    pub flag: PathBuf,
    /// `logs/` could not be used at start (the reason was logged): every request gets the 503.
    pub logs_unusable: bool,
    pub observer: Observer,
    /// Serializes this process's write transactions (see `App::write`).
    pub writer: Mutex<()>,
}

/// A worker's own state: its database connection and its cache of the flag's notice.
#[derive(Default)]
pub struct Worker {
    storage: Option<Storage>,
    epoch: u64,
    notices: NoticeCache,
}

impl Worker {
    /// Drops the connection (after a panic, or to force a reopen).
    pub fn reset(&mut self) {
        self.storage = None;
    }
}

/// The routes, with their path parameters still raw.
#[derive(Debug, PartialEq)]
enum Route {
    Ping,
    Health,
    Collections,
    Collection(String),
    Items(String),
    Item(String, String),
}

impl Route {
    fn parse(path: &str) -> Option<Route> {
        let trimmed = path
            .strip_suffix('/')
            .filter(|p| !p.is_empty())
            .unwrap_or(path);
        let mut segments = trimmed.strip_prefix('/')?.split('/');
        let mut next = || segments.next().map(decode_segment);
        let route = match (next()?.as_str(), next(), next(), next()) {
            ("server", Some(s), None, None) if s == "ping" => Route::Ping,
            ("server", Some(s), None, None) if s == "health" => Route::Health,
            ("collections", None, None, None) => Route::Collections,
            ("collections", Some(name), None, None) if !name.is_empty() => Route::Collection(name),
            ("items", Some(c), None, None) if !c.is_empty() => Route::Items(c),
            ("items", Some(c), Some(id), None) if !c.is_empty() && !id.is_empty() => {
                Route::Item(c, id)
            }
            _ => return None,
        };
        Some(route)
    }

    /// The methods this route answers, as an `Allow` header value.
    fn allow(&self) -> &'static str {
        match self {
            Route::Ping | Route::Health => "GET, HEAD, OPTIONS",
            Route::Collections => "GET, HEAD, POST, OPTIONS",
            Route::Collection(_) => "GET, HEAD, DELETE, OPTIONS",
            Route::Items(_) => "GET, HEAD, POST, PATCH, DELETE, OPTIONS",
            Route::Item(..) => "GET, HEAD, PATCH, DELETE, OPTIONS",
        }
    }

    fn takes_body(&self, method: &str) -> bool {
        matches!(
            (self, method),
            (Route::Collections, "POST")
                | (Route::Items(_), "POST" | "PATCH" | "DELETE")
                | (Route::Item(..), "PATCH")
        )
    }
}

/// A path segment decoded; a segment that does not decode is kept raw, and since `%` is not a
/// valid name character it then names no collection.
fn decode_segment(raw: &str) -> String {
    query::percent_decode(raw, false).unwrap_or_else(|| raw.to_string())
}

/// True for a collection name: a letter, then letters, digits and `_`, at most 64 characters,
/// not starting with the reserved `directus_`.
pub fn is_collection_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        && !name.starts_with("directus_")
}

/// Compares two secrets in time that depends only on their lengths.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl App {
    /// Handles one request. Never panics on bad input; the boundary catches panics from bugs.
    pub fn handle(
        &self,
        worker: &mut Worker,
        req: &Request,
        body: &mut dyn BodySource,
        request_id: &str,
    ) -> Response {
        let mut response = match self.dispatch(worker, req, body) {
            Ok(r) => r,
            Err(err) => {
                match &err {
                    ApiError::Internal(detail) => {
                        log::error!("request {request_id} {} {}: {detail}", req.method, req.path)
                    }
                    ApiError::Maintenance(_) => self.observer.declined(),
                    _ => {}
                }
                err.into_response(request_id)
            }
        };
        if let (Some(origin), Some(_)) = (&self.config.cors_origin, req.header("origin")) {
            response.header("Access-Control-Allow-Origin", origin.clone());
            response.header(
                "Access-Control-Expose-Headers",
                "Retry-After, X-Request-Id".into(),
            );
            response.header("Vary", "Origin".into());
        }
        response.header("X-Request-Id", request_id.to_string());
        response
    }

    fn dispatch(
        &self,
        worker: &mut Worker,
        req: &Request,
        body: &mut dyn BodySource,
    ) -> Result<Response, ApiError> {
        let method = match req.method.as_str() {
            "HEAD" => "GET",
            m => m,
        };
        let preflight = method == "OPTIONS"
            && self.config.cors_origin.is_some()
            && req.header("access-control-request-method").is_some();
        // Decided on the raw path so that the maintenance answer needs no routing work.
        let ping = method == "GET" && matches!(req.path.as_str(), "/server/ping" | "/server/ping/");
        if !ping && !preflight {
            self.check_maintenance(worker)?;
        }
        if preflight {
            let mut r = Response::empty(204);
            r.header(
                "Access-Control-Allow-Methods",
                "GET, POST, PATCH, DELETE, OPTIONS".into(),
            );
            r.header(
                "Access-Control-Allow-Headers",
                "authorization, content-type".into(),
            );
            r.header("Access-Control-Max-Age", "600".into());
            return Ok(r);
        }
        if let Some(why) = req.framing_error {
            return Err(ApiError::InvalidPayload(why.to_string()));
        }
        if ping {
            return Ok(Response::text(200, "text/plain; charset=utf-8", "pong"));
        }
        let authorized = self.authenticate(req)?;
        let route =
            Route::parse(&req.path).ok_or_else(|| ApiError::RouteNotFound(req.path.clone()))?;
        if method == "OPTIONS" {
            let mut r = Response::empty(204);
            r.header("Allow", route.allow().into());
            return Ok(r);
        }
        if !route.allow().split(", ").any(|m| m == method) {
            return Err(ApiError::MethodNotAllowed(route.allow()));
        }
        if !authorized {
            return Err(ApiError::Forbidden);
        }
        let raw_body = if route.takes_body(method) {
            self.read_body(req, body)?
        } else {
            None
        };
        self.route(worker, req, method, route, raw_body)
    }

    /// One `lstat` of the flag; on (or undecidable) is the 503. Also notes transitions.
    fn check_maintenance(&self, worker: &mut Worker) -> Result<(), ApiError> {
        if self.logs_unusable {
            return Err(ApiError::Maintenance(Notice::default()));
        }
        match maintenance::probe(&self.flag) {
            FlagState::Off => {
                self.observer.observe(false, Notice::default);
                Ok(())
            }
            FlagState::On(meta) => {
                let notice = worker.notices.get(&self.flag, &meta);
                self.observer.observe(true, || notice.clone());
                Err(ApiError::Maintenance(notice))
            }
            FlagState::Unknown(err) => {
                log::error!(
                    "cannot tell whether {} exists ({err}); answering 503 (fail closed)",
                    self.flag.display()
                );
                self.observer.observe(true, Notice::default);
                Err(ApiError::Maintenance(Notice::default()))
            }
        }
    }

    /// The maintenance re-check inside a write transaction: a fresh `lstat`, never cached.
    fn write_gate(&self) -> Result<(), ApiError> {
        match maintenance::probe(&self.flag) {
            FlagState::Off => Ok(()),
            FlagState::On(meta) => {
                log::info!("write rolled back: maintenance began while the request was in flight");
                Err(ApiError::Maintenance(maintenance::read_notice(
                    &self.flag, &meta,
                )))
            }
            FlagState::Unknown(err) => {
                log::error!(
                    "cannot tell whether {} exists ({err}); write rolled back",
                    self.flag.display()
                );
                Err(ApiError::Maintenance(Notice::default()))
            }
        }
    }

    /// `Ok(true)`: a valid token (or none configured); `Ok(false)`: no token given.
    fn authenticate(&self, req: &Request) -> Result<bool, ApiError> {
        let Some(expected) = &self.config.token else {
            return Ok(true);
        };
        let header = req.header("authorization").and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
        });
        let from_query = query::parse_pairs(&req.query).ok().and_then(|pairs| {
            pairs
                .into_iter()
                .find(|(k, _)| k == "access_token")
                .map(|(_, v)| v)
        });
        let given = match (header, from_query.as_deref()) {
            (Some(_), Some(_)) => {
                return Err(ApiError::InvalidPayload(
                    "The request uses more than one method for including an access token.".into(),
                ))
            }
            (Some(t), None) | (None, Some(t)) => t,
            (None, None) => return Ok(false),
        };
        if constant_time_eq(given.as_bytes(), expected.as_bytes()) {
            Ok(true)
        } else {
            Err(ApiError::InvalidCredentials)
        }
    }

    /// Checks the media type and size, then reads the body; `None` when there is none.
    fn read_body(
        &self,
        req: &Request,
        body: &mut dyn BodySource,
    ) -> Result<Option<Vec<u8>>, ApiError> {
        if !req.has_body() {
            return Ok(None);
        }
        let json = req.header("content-type").is_some_and(|ct| {
            let media = ct.split(';').next().unwrap_or("").trim();
            media.eq_ignore_ascii_case("application/json")
        });
        if !json {
            return Err(ApiError::UnsupportedMediaType);
        }
        let max = self.config.max_body;
        if req.body_length.is_some_and(|n| n > max) {
            return Err(ApiError::ContentTooLarge(max));
        }
        match body.read_body(max) {
            Ok(bytes) => Ok(Some(bytes)),
            Err(BodyError::TooLarge) => Err(ApiError::ContentTooLarge(max)),
            Err(BodyError::Io(e)) => Err(ApiError::InvalidPayload(format!(
                "The body could not be read: {e}."
            ))),
        }
    }

    /// The worker's connection, reopened when maintenance ended since it was opened.
    fn storage<'w>(&self, worker: &'w mut Worker) -> Result<&'w mut Storage, ApiError> {
        let epoch = self.observer.epoch();
        if worker.epoch != epoch {
            worker.storage = None;
        }
        if worker.storage.is_none() {
            let storage = Storage::open(&self.config.db).map_err(|e| {
                ApiError::Internal(format!("opening {}: {e}", self.config.db.display()))
            })?;
            worker.storage = Some(storage);
            worker.epoch = epoch;
        }
        Ok(worker
            .storage
            .as_mut()
            .expect("the connection was just opened"))
    }

    /// Runs a write transaction, with the maintenance gate after `BEGIN IMMEDIATE`.
    fn write<T>(
        &self,
        worker: &mut Worker,
        work: impl FnOnce(&Writer) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        let storage = self.storage(worker)?;
        // One writer at a time inside the process: workers queue here in order instead of
        // sleeping and retrying in SQLite's busy handler, which makes write latency unfair.
        let _turn = self.writer.lock().unwrap_or_else(|e| e.into_inner());
        log::debug!("waiting for the write lock");
        let result = storage.write(&|| self.write_gate(), work);
        match result {
            // A lock held past the busy timeout while the flag is up is the maintenance drain.
            Err(ApiError::DatabaseBusy) => {
                Err(self.write_gate().err().unwrap_or(ApiError::DatabaseBusy))
            }
            other => other,
        }
    }

    fn route(
        &self,
        worker: &mut Worker,
        req: &Request,
        method: &str,
        route: Route,
        body: Option<Vec<u8>>,
    ) -> Result<Response, ApiError> {
        match (route, method) {
            (Route::Ping, _) => Ok(Response::text(200, "text/plain; charset=utf-8", "pong")),
            (Route::Health, _) => {
                let ok = self
                    .storage(worker)
                    .map(|s| s.ping().is_ok())
                    .unwrap_or(false);
                let (status, state) = if ok { (200, "ok") } else { (503, "error") };
                let mut r = Response::text(status, "application/health+json", "");
                r.body = serde_json::to_vec(&json!({ "status": state })).expect("static JSON");
                Ok(r)
            }
            (Route::Collections, "GET") => {
                let names = self.storage(worker)?.list_collections()?;
                let list: Vec<Value> = names.iter().map(|n| collection_json(n)).collect();
                Ok(data(Value::Array(list)))
            }
            (Route::Collections, _) => self.create_collection(worker, body),
            (Route::Collection(name), "GET") => {
                if is_collection_name(&name) && self.storage(worker)?.collection_exists(&name)? {
                    Ok(data(collection_json(&name)))
                } else {
                    Err(ApiError::Forbidden)
                }
            }
            (Route::Collection(name), _) => {
                if !is_collection_name(&name)
                    || !self.write(worker, |w| Ok(w.delete_collection(&name)?))?
                {
                    return Err(ApiError::Forbidden);
                }
                Ok(Response::empty(204))
            }
            (Route::Items(c), "GET") => self.list_items(worker, req, &c),
            (Route::Items(c), "POST") => self.create_items(worker, req, &c, body),
            (Route::Items(c), "PATCH") => self.update_batch(worker, req, &c, body),
            (Route::Items(c), _) => self.delete_batch(worker, &c, body),
            (Route::Item(c, id), "GET") => {
                let id = self
                    .known_collection(worker, &c)
                    .and_then(|()| parse_path_id(&id))?;
                let query = Query::from_query_string(&req.query)?;
                let item = self
                    .storage(worker)?
                    .read_item(&c, id)?
                    .ok_or(ApiError::Forbidden)?;
                let mut body = b"{\"data\":".to_vec();
                write_item(&mut body, &item, &query.fields)?;
                body.push(b'}');
                Ok(Response::json_bytes(200, body))
            }
            (Route::Item(c, id), "PATCH") => self.update_one(worker, req, &c, &id, body),
            (Route::Item(c, id), _) => {
                let id = self
                    .known_collection(worker, &c)
                    .and_then(|()| parse_path_id(&id))?;
                self.write(worker, |w| {
                    ensure_collection(w, &c)?;
                    w.delete_items(&c, &[id])
                })?;
                Ok(Response::empty(204))
            }
        }
    }

    /// `403` unless the collection name is valid and the collection exists.
    fn known_collection(&self, worker: &mut Worker, name: &str) -> Result<(), ApiError> {
        if is_collection_name(name) && self.storage(worker)?.collection_exists(name)? {
            Ok(())
        } else {
            Err(ApiError::Forbidden)
        }
    }

    fn create_collection(
        &self,
        worker: &mut Worker,
        body: Option<Vec<u8>>,
    ) -> Result<Response, ApiError> {
        let body = parse_json(body)?;
        let name = match body.get("collection") {
            Some(Value::String(name)) => name.clone(),
            _ => {
                return Err(ApiError::InvalidPayload(
                    "\"collection\" must be a string.".into(),
                ))
            }
        };
        if !body.is_object() || !is_collection_name(&name) {
            return Err(ApiError::InvalidPayload(format!(
                "\"{name}\" is not a valid collection name: a letter, then letters, digits and _, \
                 at most 64 characters, not starting with directus_."
            )));
        }
        let now = maintenance::rfc3339(std::time::SystemTime::now());
        if !self.write(worker, |w| Ok(w.create_collection(&name, &now)?))? {
            return Err(ApiError::InvalidPayload(format!(
                "Collection \"{name}\" already exists."
            )));
        }
        Ok(data(collection_json(&name)))
    }

    fn list_items(
        &self,
        worker: &mut Worker,
        req: &Request,
        c: &str,
    ) -> Result<Response, ApiError> {
        self.known_collection(worker, c)?;
        let query = Query::from_query_string(&req.query)?;
        let page = self.storage(worker)?.read_items(c, &query, DEFAULT_LIMIT)?;
        let mut body = b"{\"data\":[".to_vec();
        for (i, item) in page.items.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            write_item(&mut body, item, &query.fields)?;
        }
        body.push(b']');
        if query.total_count || query.filter_count {
            let mut meta = Map::new();
            if let Some(n) = page.total_count {
                meta.insert("total_count".into(), Value::from(n));
            }
            if let Some(n) = page.filter_count {
                meta.insert("filter_count".into(), Value::from(n));
            }
            body.extend_from_slice(b",\"meta\":");
            body.extend(serde_json::to_vec(&meta).expect("a JSON map always serializes"));
        }
        body.push(b'}');
        Ok(Response::json_bytes(200, body))
    }

    fn create_items(
        &self,
        worker: &mut Worker,
        req: &Request,
        c: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response, ApiError> {
        self.known_collection(worker, c)?;
        let body = parse_json(body)?;
        let query = Query::from_query_string(&req.query)?;
        let (items, many) = match body {
            Value::Object(item) => (vec![split_id(item)?], false),
            Value::Array(list) => {
                let mut items = Vec::with_capacity(list.len());
                for v in list {
                    let Value::Object(item) = v else {
                        return Err(ApiError::InvalidPayload(
                            "Every item must be an object.".into(),
                        ));
                    };
                    items.push(split_id(item)?);
                }
                (items, true)
            }
            _ => {
                return Err(ApiError::InvalidPayload(
                    "Send an item object or an array of items.".into(),
                ))
            }
        };
        let created = self.write(worker, |w| {
            ensure_collection(w, c)?;
            let ids = w.create_items(c, &items)?;
            w.read_by_ids(c, &ids)
        })?;
        answer_items(&created, many, &query.fields)
    }

    fn update_one(
        &self,
        worker: &mut Worker,
        req: &Request,
        c: &str,
        raw_id: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response, ApiError> {
        let id = self
            .known_collection(worker, c)
            .and_then(|()| parse_path_id(raw_id))?;
        let query = Query::from_query_string(&req.query)?;
        let Value::Object(patch) = parse_json(body)? else {
            return Err(ApiError::InvalidPayload(
                "Send an object of the fields to change.".into(),
            ));
        };
        if let Some(body_id) = patch.get("id") {
            if body_id.as_i64() != Some(id) {
                return Err(ApiError::InvalidPayload(
                    "The \"id\" in the body differs from the one in the path.".into(),
                ));
            }
        }
        let updated = self.write(worker, |w| {
            ensure_collection(w, c)?;
            w.update_items(c, &[id], &patch)?;
            w.read_by_ids(c, &[id])
        })?;
        answer_items(&updated, false, &query.fields)
    }

    fn update_batch(
        &self,
        worker: &mut Worker,
        req: &Request,
        c: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response, ApiError> {
        self.known_collection(worker, c)?;
        let query = Query::from_query_string(&req.query)?;
        let updated = match parse_json(body)? {
            Value::Array(list) => {
                let mut patches = Vec::with_capacity(list.len());
                for v in list {
                    let Value::Object(item) = v else {
                        return Err(ApiError::InvalidPayload(
                            "Every item must be an object with an \"id\".".into(),
                        ));
                    };
                    let (Some(id), patch) = split_id(item)? else {
                        return Err(ApiError::InvalidPayload(
                            "Every item must have an \"id\".".into(),
                        ));
                    };
                    patches.push((id, patch));
                }
                self.write(worker, |w| {
                    ensure_collection(w, c)?;
                    let mut ids = Vec::with_capacity(patches.len());
                    for (id, patch) in &patches {
                        w.update_items(c, &[*id], patch)?;
                        ids.push(*id);
                    }
                    w.read_by_ids(c, &dedup(ids))
                })?
            }
            Value::Object(mut map) => {
                let Some(Value::Object(patch)) = map.remove("data") else {
                    return Err(ApiError::InvalidPayload(
                        "\"data\" must be an object of the fields to change.".into(),
                    ));
                };
                if patch.contains_key("id") {
                    return Err(ApiError::InvalidPayload(
                        "\"data\" must not change \"id\".".into(),
                    ));
                }
                let selector = Selector::from_body(map)?;
                self.write(worker, |w| {
                    ensure_collection(w, c)?;
                    let ids = selector.ids(w, c)?;
                    w.update_items(c, &ids, &patch)?;
                    w.read_by_ids(c, &ids)
                })?
            }
            _ => {
                return Err(ApiError::InvalidPayload(
                    "Send an array of items, or {\"keys\"|\"query\", \"data\"}.".into(),
                ))
            }
        };
        answer_items(&updated, true, &query.fields)
    }

    fn delete_batch(
        &self,
        worker: &mut Worker,
        c: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Response, ApiError> {
        self.known_collection(worker, c)?;
        let selector = match parse_json(body)? {
            keys @ Value::Array(_) => Selector::Keys(parse_keys(&keys)?),
            Value::Object(map) => Selector::from_body(map)?,
            _ => {
                return Err(ApiError::InvalidPayload(
                    "Send an array of ids, {\"keys\":[...]} or {\"query\":{...}}.".into(),
                ))
            }
        };
        self.write(worker, |w| {
            ensure_collection(w, c)?;
            let ids = selector.ids(w, c)?;
            w.delete_items(c, &ids)
        })?;
        Ok(Response::empty(204))
    }
}

/// Which items a batch `PATCH`/`DELETE` targets.
enum Selector {
    Keys(Vec<i64>),
    Query(Query),
}

impl Selector {
    /// From `{"keys": [...]}` or `{"query": {...}}` (whatever else the body held is removed).
    fn from_body(mut map: Map<String, Value>) -> Result<Selector, ApiError> {
        let selector = match (map.remove("keys"), map.remove("query")) {
            (Some(keys), None) => Selector::Keys(parse_keys(&keys)?),
            (None, Some(q)) => Selector::Query(Query::from_json(&q)?),
            _ => {
                return Err(ApiError::InvalidPayload(
                    "Give exactly one of \"keys\" and \"query\".".into(),
                ))
            }
        };
        if let Some(extra) = map.keys().next() {
            return Err(ApiError::InvalidPayload(format!(
                "Unexpected key \"{extra}\"."
            )));
        }
        Ok(selector)
    }

    fn ids(&self, w: &Writer, c: &str) -> Result<Vec<i64>, ApiError> {
        match self {
            Selector::Keys(keys) => Ok(keys.clone()),
            Selector::Query(q) => Ok(w.ids_for_query(c, q)?),
        }
    }
}

fn ensure_collection(w: &Writer, c: &str) -> Result<(), ApiError> {
    if w.collection_exists(c)? {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

fn parse_json(body: Option<Vec<u8>>) -> Result<Value, ApiError> {
    let Some(bytes) = body.filter(|b| !b.iter().all(u8::is_ascii_whitespace)) else {
        return Err(ApiError::InvalidPayload(
            "The request body is empty.".into(),
        ));
    };
    match serde_json::from_slice(&bytes) {
        Ok(Value::Null) => Err(ApiError::InvalidPayload("The body is null.".into())),
        Ok(v) => Ok(v),
        Err(e) => Err(ApiError::InvalidPayload(format!(
            "The body is not valid JSON: {e}."
        ))),
    }
}

/// An id in a path: an integer, or the item does not exist (403, as Directus does not reveal).
fn parse_path_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::Forbidden)
}

fn parse_keys(value: &Value) -> Result<Vec<i64>, ApiError> {
    let Value::Array(list) = value else {
        return Err(ApiError::InvalidPayload(
            "\"keys\" must be an array of ids.".into(),
        ));
    };
    let ids: Option<Vec<i64>> = list.iter().map(Value::as_i64).collect();
    ids.map(dedup)
        .ok_or_else(|| ApiError::InvalidPayload("Every id must be an integer.".into()))
}

fn dedup(ids: Vec<i64>) -> Vec<i64> {
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    ids.into_iter().filter(|id| seen.insert(*id)).collect()
}

/// Splits an item body into its `id` (checked to be an integer) and the other fields.
fn split_id(mut item: Map<String, Value>) -> Result<(Option<i64>, Map<String, Value>), ApiError> {
    let id = match item.remove("id") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_i64()
                .ok_or_else(|| ApiError::InvalidPayload("\"id\" must be an integer.".into()))?,
        ),
    };
    Ok((id, item))
}

fn collection_json(name: &str) -> Value {
    json!({ "collection": name, "meta": null, "schema": { "name": name } })
}

fn data(value: Value) -> Response {
    Response::json(200, &json!({ "data": value }))
}

/// `{"data":[...]}` for `many`, else `{"data":{...}}` with the first (only) item.
fn answer_items(
    items: &[StoredItem],
    many: bool,
    fields: &Option<Vec<String>>,
) -> Result<Response, ApiError> {
    let mut body = b"{\"data\":".to_vec();
    if many {
        body.push(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                body.push(b',');
            }
            write_item(&mut body, item, fields)?;
        }
        body.push(b']');
    } else {
        match items.first() {
            Some(item) => write_item(&mut body, item, fields)?,
            None => body.extend_from_slice(b"null"),
        }
    }
    body.push(b'}');
    Ok(Response::json_bytes(200, body))
}

/// Appends an item's JSON: spliced from the stored text when every field is wanted, built
/// value by value when `fields` picks some.
fn write_item(
    out: &mut Vec<u8>,
    item: &StoredItem,
    fields: &Option<Vec<String>>,
) -> Result<(), ApiError> {
    match fields {
        Some(list) if !list.iter().any(|f| f == "*") => {
            let projected = project(item.to_item()?, fields);
            out.extend(serde_json::to_vec(&projected).expect("a JSON value always serializes"));
        }
        _ => item.write_json(out)?,
    }
    Ok(())
}

/// Keeps the requested fields of an item (`None` or `*`: all).
fn project(item: Item, fields: &Option<Vec<String>>) -> Value {
    match fields {
        Some(list) if !list.iter().any(|f| f == "*") => {
            Value::Object(item.into_iter().filter(|(k, _)| list.contains(k)).collect())
        }
        _ => Value::Object(item),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse() {
        assert_eq!(Route::parse("/server/ping"), Some(Route::Ping));
        assert_eq!(Route::parse("/items/a/"), Some(Route::Items("a".into())));
        assert_eq!(
            Route::parse("/items/a/1"),
            Some(Route::Item("a".into(), "1".into()))
        );
        assert_eq!(Route::parse("/items/a%62"), Some(Route::Items("ab".into())));
        assert_eq!(Route::parse("/items/a/1/x"), None);
        assert_eq!(Route::parse("/items"), None);
        assert_eq!(Route::parse("/"), None);
        assert_eq!(Route::parse("items/a"), None);
        assert_eq!(Route::parse("/items//1"), None);
    }

    #[test]
    fn collection_names() {
        assert!(is_collection_name("articles_2"));
        assert!(!is_collection_name("2articles"));
        assert!(!is_collection_name("directus_users"));
        assert!(!is_collection_name("a-b"));
        assert!(!is_collection_name("a\"; DROP TABLE x"));
        assert!(!is_collection_name(&"a".repeat(65)));
    }

    #[test]
    fn constant_time_compare() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secrets"));
    }
}
