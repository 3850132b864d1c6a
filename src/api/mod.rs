//! The request path: from a `wire::Request` to a `wire::Response`.
//!
//! `App::dispatch` only orders the checks, first match wins (SPEC §4): maintenance 503 → CORS
//! preflight → wrong token 401 → unknown route 404 → wrong method 405 → missing token 403 →
//! 415 → 413 → unknown collection or item 403 → 400. The maintenance check is one `lstat` and
//! comes before routing, auth, body reading and any database access. In read-only mode it lets
//! `GET`, `HEAD` and `OPTIONS` through; a request carrying the flag's bypass secret
//! (`X-Maintenance-Bypass`) goes through in either mode, and its writes pass the write gate
//! (`App::write_gate`). The handlers live in `collections`, `items` and `fields`; they never see
//! tiny_http and never write SQL. `oas` describes the routes as an OpenAPI document, derived
//! from the router.

mod admin;
mod auth;
mod body;
mod call;
mod collections;
mod envelope;
pub mod error;
mod fields;
mod gate;
mod group;
mod items;
mod oas;
mod observer;
mod route;
mod session;

pub use session::Session;

use crate::config::ServerConfig;
use crate::maintenance::{self, Intent, Mode, Notice};
use crate::metrics::{self, Metrics};
use crate::query;
use crate::secret::Digest;
use crate::wire::{BodySource, Request, Response};
use auth::Credentials;
use call::Call;
use error::ApiError;
pub use gate::Gate;
use group::Groups;
use route::{Action, Decision, Method, Route};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

/// The request header that carries the operator's bypass secret.
const BYPASS_HEADER: &str = "x-maintenance-bypass";

/// State shared by all workers.
pub struct App {
    pub config: ServerConfig,
    /// The maintenance flag, its one check and decision, and what was observed of it.
    pub gate: Arc<Gate>,
    /// This process's writes: one writer connection and group commit (see `group`).
    groups: Groups,
    /// Counters and histograms of requests and writes (`/server/metrics`).
    pub metrics: Arc<Metrics>,
    /// The OpenAPI document, rendered once (`oas`).
    specs: Vec<u8>,
    /// The App's files (`/admin/`).
    shell: admin::Shell,
}

impl App {
    /// The shared state for a server with this configuration.
    pub fn new(config: ServerConfig, flag: PathBuf, logs_unusable: bool) -> App {
        let announcement = crate::layout::announcement_path(&config.root);
        let gate = Arc::new(Gate::new(flag, announcement, logs_unusable));
        let metrics = Arc::new(Metrics::new(config.metrics, &route::TEMPLATES));
        App {
            groups: Groups::new(
                config.workers,
                gate.clone(),
                metrics.clone(),
                config.db.clone(),
            ),
            gate,
            metrics,
            specs: oas::render(),
            shell: admin::Shell::new(),
            config,
        }
    }

    /// True when writes wait for their group now, or start to within `wait` (see
    /// `Groups::relief_wanted`): the HTTP layer's relief workers take requests only then.
    pub fn relief_wanted(&self, wait: std::time::Duration) -> bool {
        self.groups.relief_wanted(wait)
    }

    /// Closes the writer connection once the workers have stopped (so that the exit's
    /// checkpoint is the last connection and removes the WAL), and logs the group sizes seen.
    pub fn close_writer(&self) {
        log::info!(
            "write groups committed, by size: {}",
            group::describe_sizes(&self.metrics.group_sizes())
        );
        self.groups.close();
    }

    /// Handles one request. A panic in a handler becomes a 500 for this request only (with
    /// the same CORS and request-id headers as any answer), and the session's connection is
    /// dropped since it may be mid-transaction.
    pub fn handle(
        &self,
        session: &mut Session,
        req: &Request,
        body: &mut dyn BodySource,
        request_id: &str,
    ) -> Response {
        let started = self.metrics.serving().then(Instant::now);
        let mut bypassed = false;
        // At most once per request: here when metrics count it (a 503 or a 401 answered before
        // routing counts under its route too), else by the dispatcher once it needs it, so
        // the maintenance 503 without metrics parses no route at all.
        let parsed = started.map(|_| Route::parse(&req.path));
        let route_index = parsed.as_ref().and_then(|r| r.as_ref().map(Route::index));
        let route = parsed;
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            self.dispatch(session, req, route, body, &mut bypassed)
        }));
        let result = outcome.unwrap_or_else(|_| {
            session.reset();
            Err(ApiError::Internal("the handler panicked".into()))
        });
        let mut response = result.unwrap_or_else(|err| {
            match &err {
                ApiError::Internal(detail) => {
                    log::error!("request {request_id} {} {}: {detail}", req.method, req.path)
                }
                ApiError::Maintenance(_) => self.gate.declined(),
                _ => {}
            }
            err.into_response(request_id)
        });
        if let (Some(origin), Some(_)) = (&self.config.cors_origin, req.header("origin")) {
            response.header("Access-Control-Allow-Origin", origin.clone());
            response.header(
                "Access-Control-Expose-Headers",
                "Retry-After, X-Request-Id".into(),
            );
            response.header("Vary", "Origin".into());
        }
        response.header("X-Request-Id", request_id.to_string());
        response.bypassed = bypassed;
        if let Some(started) = started {
            self.metrics
                .request(&req.method, route_index, response.status, started.elapsed());
        }
        response
    }

    /// Orders the checks; see the module's documentation. Sets `bypassed` when the request got
    /// past maintenance by its bypass secret (the access line says so). `route` is the path's
    /// route when `handle` parsed it already (`None`: not parsed yet).
    fn dispatch(
        &self,
        session: &mut Session,
        req: &Request,
        route: Option<Option<Route>>,
        body: &mut dyn BodySource,
        bypassed: &mut bool,
    ) -> Result<Response, ApiError> {
        // Per request, before anything can fail: the write gate reads it later. Only the digest
        // is kept, and only when the header is there (no cost otherwise).
        session.bypass = req.header(BYPASS_HEADER).map(Digest::of);
        let method = Method::parse(&req.method);
        let preflight = method == Method::Options
            && self.config.cors_origin.is_some()
            && req.header("access-control-request-method").is_some();
        let reads = matches!(method, Method::Get | Method::Head);
        // Ping, /server/maintenance, `/` and the App's files: no token, never closed.
        let public = reads && route::is_public_path(&req.path);
        let metrics = reads && self.metrics.serving() && route::is_metrics_path(&req.path);
        if !public && !metrics && !preflight {
            let intent = match method {
                Method::Get | Method::Head | Method::Options => Intent::Read,
                _ => Intent::Write,
            };
            let presented = session.bypass;
            match self
                .gate
                .decide(session.notices(), intent, presented.as_ref())
            {
                maintenance::Decision::Open => {}
                maintenance::Decision::Bypassed => *bypassed = true,
                maintenance::Decision::Closed(notice) => return Err(ApiError::Maintenance(notice)),
            }
        }
        if preflight {
            return Ok(preflight_response());
        }
        if let Some(why) = req.framing_error {
            return Err(ApiError::InvalidPayload(why.to_string()));
        }
        // The query string is decoded once: the token may be in it, and the handler's `Query`.
        let pairs = query::parse_pairs(&req.query);
        let credentials = if public {
            Credentials::Valid
        } else {
            auth::authenticate(req, &pairs, self.config.token.as_deref())?
        };
        let route = route
            .unwrap_or_else(|| Route::parse(&req.path))
            .ok_or_else(|| ApiError::RouteNotFound(req.path.clone()))?;
        let action = match route.clone().decide(method) {
            Decision::Do(action) => action,
            Decision::Options => {
                let mut r = Response::empty(204);
                r.header("Allow", route.allow());
                return Ok(r);
            }
            Decision::NotAllowed => return Err(ApiError::MethodNotAllowed(route.allow())),
        };
        if credentials == Credentials::Missing {
            return Err(ApiError::Forbidden);
        }
        let raw = if action.takes_body() {
            body::read(req, body, self.config.max_body)?
        } else {
            None
        };
        session.body_bytes = raw.as_ref().map_or(0, Vec::len);
        let call = &mut Call {
            app: self,
            session,
            pairs: &pairs,
        };
        self.run(call, req, action, raw)
    }

    /// Runs the handler of an action.
    fn run(
        &self,
        call: &mut Call,
        req: &Request,
        action: Action,
        raw: Option<Vec<u8>>,
    ) -> Result<Response, ApiError> {
        match action {
            Action::Pong => Ok(Response::text(200, "text/plain; charset=utf-8", "pong")),
            Action::MaintenanceState => Ok(self.maintenance_state(call.session)),
            Action::ToApp => Ok(admin::redirect()),
            // `/admin` without its slash: the App's relative links need it.
            Action::AppFile(None) if !req.path.ends_with('/') => Ok(admin::redirect()),
            Action::AppFile(name) => self
                .shell
                .serve(name.as_deref().unwrap_or("index.html"), req)
                .ok_or_else(|| ApiError::RouteNotFound(req.path.clone())),
            Action::Health => Ok(self.health(call.session)),
            Action::Metrics => self.metrics_page(call.session, &req.path),
            Action::Specs => Ok(Response::json_bytes(200, self.specs.clone())),
            Action::ListCollections => collections::list(call),
            Action::CreateCollection => collections::create(call, raw),
            Action::ReadCollection(name) => collections::read(call, &name),
            Action::DeleteCollection(name) => collections::delete(call, &name),
            Action::ListItems(c) => items::list(call, &c),
            Action::CreateItems(c) => items::create(call, &c, raw),
            Action::UpdateItems(c) => items::update_many(call, &c, raw),
            Action::DeleteItems(c) => items::delete_many(call, &c, raw),
            Action::ReadItem(c, id) => items::read(call, &c, &id),
            Action::UpdateItem(c, id) => items::update(call, &c, &id, raw),
            Action::DeleteItem(c, id) => items::delete(call, &c, &id),
            Action::ListFields(c) => fields::list(call, &c),
            Action::ReadField(c, f) => fields::read(call, &c, &f),
            Action::UpdateField(c, f) => fields::update(call, &c, &f, raw),
        }
    }

    /// `/server/metrics`: the exposition, with the maintenance state as this request sees it;
    /// no such route unless `--metrics`.
    fn metrics_page(&self, session: &mut Session, path: &str) -> Result<Response, ApiError> {
        if !self.metrics.serving() {
            return Err(ApiError::RouteNotFound(path.to_string()));
        }
        let state = self
            .gate
            .check(session.notices())
            .map(|notice| notice.mode() == Mode::ReadOnly);
        let mut r = Response::text(200, metrics::CONTENT_TYPE, "");
        r.body = self
            .metrics
            .render(state, self.gate.observer.declined_total());
        Ok(r)
    }

    /// `/server/maintenance` (SPEC 5.5): the state this request's check sees, the operator's
    /// message and times, and the announced window; never whether a bypass is set. One `lstat`
    /// of the flag (its content cached), one of the announcement (read when it changed).
    fn maintenance_state(&self, session: &mut Session) -> Response {
        let notice = self.gate.check(session.notices());
        let state = match notice.as_ref().map(Notice::mode) {
            None => "off",
            Some(Mode::ReadOnly) => "read_only",
            Some(Mode::Full) => "on",
        };
        let announcement = self.gate.announcement(session.announcements());
        let body = serde_json::json!({"data": {
            "state": state,
            "message": notice.as_ref().map(Notice::message),
            "since": notice.as_ref().and_then(Notice::since),
            "retry_after": notice.as_ref().and_then(Notice::retry_after),
            "announcement": announcement.map(|a| a.to_json()),
        }});
        let mut r = Response::empty(200);
        r.set_json(&body);
        r.header("Cache-Control", "no-store".into());
        r
    }

    /// `/server/health`: `200 {"status":"ok"}` when the database answers, else `503`.
    fn health(&self, session: &mut Session) -> Response {
        let ok = session.storage(self).is_ok_and(|s| s.ping().is_ok());
        let (status, state) = if ok { (200, "ok") } else { (503, "error") };
        let mut r = Response::text(status, "application/health+json", "");
        r.body = format!("{{\"status\":\"{state}\"}}").into_bytes();
        r
    }
}

fn preflight_response() -> Response {
    let mut r = Response::empty(204);
    r.header(
        "Access-Control-Allow-Methods",
        "GET, POST, PATCH, DELETE, OPTIONS".into(),
    );
    r.header(
        "Access-Control-Allow-Headers",
        format!("authorization, content-type, {BYPASS_HEADER}"),
    );
    r.header("Access-Control-Max-Age", "600".into());
    r
}

#[cfg(test)]
mod tests;
