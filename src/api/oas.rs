//! The OpenAPI 3.1 description of the API, served at `/server/specs/oas`.
//!
//! The document is derived from the router, not written beside it: every route of
//! `Route::every` and every method that `Route::decide` answers on it becomes an operation, and
//! `describe`, one exhaustive `match` over `Action`, says what each action takes and answers. A
//! route or method added to the router is therefore in the document, or the crate does not
//! compile until its action is described. The error responses of an operation follow from the
//! order of checks in `App::dispatch` (`errors`). The document is static: `App::new` renders it
//! once and the route serves those bytes. This module sees no request and no database.

use super::route::{Action, Decision, Method, Route};
use serde_json::{json, Map, Value};

/// The document, serialized.
pub fn render() -> Vec<u8> {
    serde_json::to_vec(&document()).expect("a serde_json::Value always serializes")
}

/// The whole document.
pub fn document() -> Value {
    let mut paths = Map::new();
    for route in Route::every() {
        let mut item = Map::new();
        for method in Method::KNOWN {
            let operation = match route.clone().decide(method) {
                Decision::Do(action) => operation(&route, method, &describe(&action)),
                Decision::Options => options(&route),
                Decision::NotAllowed => continue,
            };
            item.insert(method.name().to_ascii_lowercase(), operation);
        }
        paths.insert(route.template().to_string(), Value::Object(item));
    }
    json!({
        "openapi": "3.1.0",
        "info": {
            "title": "directus-lite",
            "version": env!("CARGO_PKG_VERSION"),
            "description": INFO,
        },
        "paths": paths,
        "components": components(),
        "security": [{ "bearerAuth": [] }, { "accessToken": [] }],
    })
}

const INFO: &str = "A Directus-compatible item API over SQLite. Success answers are \
`{\"data\": ...}` (with `meta` when asked); errors are \
`{\"errors\":[{\"message\":...,\"extensions\":{\"code\":...}}]}`.\n\n\
Authentication: when the server runs with `--token`, every operation except `GET /server/ping` \
needs `Authorization: Bearer TOKEN` or the query parameter `access_token=TOKEN` (not both: \
400). A missing token is 403 `FORBIDDEN`, a wrong one 401 `INVALID_CREDENTIALS`. A server \
without a token (loopback only) needs none.\n\n\
Maintenance: while the operator's flag is up, every operation except `GET /server/ping` answers \
503 `SERVICE_UNAVAILABLE` with the operator's message, and `Retry-After` when the operator gave \
one.\n\n\
Not described per operation: a method a path does not answer is 405 `METHOD_NOT_ALLOWED` with \
`Allow`; a path that is no route is 404 `ROUTE_NOT_FOUND`; with `--cors-origin`, a CORS \
preflight to any path is 204.";

/// What one action takes and answers; the error responses are derived (`errors`).
struct Op {
    id: &'static str,
    summary: &'static str,
    /// Query parameters, by their name under `components/parameters`.
    query: &'static [&'static str],
    /// The request body's schema.
    body: Option<Value>,
    success: Success,
    /// The codes its `400` can carry besides `INVALID_PAYLOAD` (which any request can get: a
    /// body with broken framing, or both forms of the token).
    bad: &'static [&'static str],
    /// Path parameters described by another entry of `components/parameters` than their own
    /// name: (name in the template, entry).
    path: &'static [(&'static str, &'static str)],
    /// False for an operation that needs no token (no security, no 401/403).
    needs_token: bool,
    /// False for an operation exempt from maintenance (no maintenance 503).
    closes_for_maintenance: bool,
}

/// An operation's success answer.
enum Success {
    /// `200 {"data": …}` with this schema for `data` (and optional `meta` for lists).
    Data(Value),
    /// `200 {"data": [...], "meta": {...}}`.
    List(Value),
    /// `204`, empty.
    NoContent,
    /// `200 text/plain`, `pong`.
    Pong,
    /// `200 application/health+json`.
    Health,
    /// `200`, this document.
    Document,
    /// `200`, the Prometheus text exposition (`--metrics`; else there is no such route).
    Metrics,
    /// `302` to the App.
    Redirect,
    /// `200` (or `304`), one of the App's files.
    AppFile,
}

const LIST: &[&str] = &[
    "fields", "filter", "search", "sort", "limit", "offset", "page", "meta",
];

/// The one description of each action.
fn describe(action: &Action) -> Op {
    let op = |id, summary, query, body: Option<Value>, success, bad| Op {
        id,
        summary,
        query,
        body,
        success,
        bad,
        path: &[],
        needs_token: true,
        closes_for_maintenance: true,
    };
    let items = || schema("Item");
    let item_list = || json!({ "type": "array", "items": schema("Item") });
    let query: &[&str] = &["INVALID_QUERY"];
    match action {
        Action::Pong => Op {
            needs_token: false,
            closes_for_maintenance: false,
            ..op(
                "ping",
                "Liveness probe; public, and answered during maintenance",
                &[],
                None,
                Success::Pong,
                &[],
            )
        },
        Action::Health => op(
            "health",
            "Health: whether the database answers",
            &[],
            None,
            Success::Health,
            &[],
        ),
        // Open during maintenance when served; without --metrics it is no route (404), and then
        // maintenance closes it like any path.
        Action::Metrics => op(
            "metrics",
            "Prometheus metrics (with --metrics; answered during maintenance, token when set)",
            &[],
            None,
            Success::Metrics,
            &[],
        ),
        Action::Specs => op(
            "specsOas",
            "This OpenAPI document",
            &[],
            None,
            Success::Document,
            &[],
        ),
        Action::ListCollections => op(
            "listCollections",
            "List the collections",
            &[],
            None,
            Success::Data(json!({ "type": "array", "items": schema("Collection") })),
            &[],
        ),
        Action::CreateCollection => op(
            "createCollection",
            "Create a collection (a name that exists is 400 INVALID_PAYLOAD)",
            &[],
            Some(schema("NewCollection")),
            Success::Data(schema("Collection")),
            &[],
        ),
        Action::ReadCollection(_) => op(
            "readCollection",
            "Read a collection (unknown: 403)",
            &[],
            None,
            Success::Data(schema("Collection")),
            &[],
        ),
        Action::DeleteCollection(_) => op(
            "deleteCollection",
            "Delete a collection with its items",
            &[],
            None,
            Success::NoContent,
            &[],
        ),
        Action::ListItems(_) => op(
            "readItems",
            "List and query the items of a collection",
            LIST,
            None,
            Success::List(item_list()),
            query,
        ),
        Action::CreateItems(_) => op(
            "createItems",
            "Create one item (an object) or many (an array), in one transaction",
            &["fields"],
            Some(schema("NewItems")),
            Success::Data(json!({ "oneOf": [items(), item_list()] })),
            &["INVALID_QUERY", "RECORD_NOT_UNIQUE"],
        ),
        Action::UpdateItems(_) => op(
            "updateItems",
            "Update many items (each by id, or one change for keys or a query), in one \
             transaction; an id that does not exist is 403 and changes nothing",
            &["fields"],
            Some(schema("BatchUpdate")),
            Success::Data(item_list()),
            query,
        ),
        Action::DeleteItems(_) => op(
            "deleteItems",
            "Delete many items (ids, keys or a query), in one transaction; an id that does \
             not exist is 403 and deletes nothing",
            &[],
            Some(schema("BatchDelete")),
            Success::NoContent,
            query,
        ),
        Action::ReadItem(..) => op(
            "readItem",
            "Read one item (unknown or non-integer id: 403)",
            &["fields"],
            None,
            Success::Data(items()),
            query,
        ),
        Action::UpdateItem(..) => op(
            "updateItem",
            "Merge the given top-level fields into one item",
            &["fields"],
            Some(schema("ItemPatch")),
            Success::Data(items()),
            query,
        ),
        Action::DeleteItem(..) => op(
            "deleteItem",
            "Delete one item",
            &[],
            None,
            Success::NoContent,
            &[],
        ),
        Action::ListFields(_) => op(
            "readFields",
            "The fields seen in a collection's items, their types and indexes",
            &[],
            None,
            Success::Data(json!({ "type": "array", "items": schema("Field") })),
            &[],
        ),
        Action::ReadField(..) => op(
            "readField",
            "One field of a collection (a field no item has: 403)",
            &[],
            None,
            Success::Data(schema("Field")),
            &[],
        ),
        Action::MaintenanceState => Op {
            needs_token: false,
            closes_for_maintenance: false,
            ..op(
                "maintenanceState",
                "The maintenance state, message and announced window (public; answered during \
                 maintenance; never says whether a bypass is set)",
                &[],
                None,
                Success::Data(schema("MaintenanceState")),
                &[],
            )
        },
        Action::ToApp => Op {
            needs_token: false,
            closes_for_maintenance: false,
            ..op(
                "toApp",
                "Leads to the App at /admin/ (public; answered during maintenance)",
                &[],
                None,
                Success::Redirect,
                &[],
            )
        },
        Action::AppFile(None) => Op {
            needs_token: false,
            closes_for_maintenance: false,
            ..op(
                "app",
                "The App (public; served during maintenance, so it can show the message)",
                &[],
                None,
                Success::AppFile,
                &[],
            )
        },
        Action::AppFile(Some(_)) => Op {
            needs_token: false,
            closes_for_maintenance: false,
            ..op(
                "appFile",
                "One of the App's files (public; an unknown name is 404)",
                &[],
                None,
                Success::AppFile,
                &[],
            )
        },
        Action::UpdateField(..) => Op {
            path: &[("field", "indexable_field")],
            ..op(
                "updateField",
                "Build or drop a field's index (`id`'s cannot change: 400)",
                &[],
                Some(schema("FieldPatch")),
                Success::Data(schema("Field")),
                &[],
            )
        },
    }
}

/// One operation of a path: its parameters, body and every answer it can give. `HEAD` has
/// `GET`'s answers without their bodies.
fn operation(route: &Route, method: Method, op: &Op) -> Value {
    let head = method == Method::Head;
    let mut out = Map::new();
    let id = if head {
        format!("{}Head", op.id)
    } else {
        op.id.to_string()
    };
    out.insert("operationId".into(), Value::from(id));
    out.insert("summary".into(), Value::from(op.summary));
    out.insert("tags".into(), json!([tag(route)]));
    let mut params: Vec<Value> = path_names(route)
        .map(|name| {
            let entry = op.path.iter().find(|(n, _)| *n == name);
            parameter(entry.map_or(name, |(_, entry)| entry))
        })
        .collect();
    params.extend(op.query.iter().map(|name| parameter(name)));
    if op.closes_for_maintenance {
        params.push(parameter("bypass"));
    }
    if !params.is_empty() {
        out.insert("parameters".into(), Value::Array(params));
    }
    if let Some(body) = &op.body {
        out.insert(
            "requestBody".into(),
            json!({ "required": true, "content": { "application/json": { "schema": body } } }),
        );
    }
    let mut responses = Map::new();
    let (status, success) = success_response(&op.success);
    responses.insert(status.into(), success);
    for (status, response) in errors(route, op) {
        responses.insert(status.into(), response);
    }
    if head {
        for response in responses.values_mut() {
            if let Some(r) = response.as_object_mut() {
                r.remove("content");
            }
        }
    }
    out.insert("responses".into(), Value::Object(responses));
    if !op.needs_token {
        out.insert("security".into(), json!([]));
    }
    Value::Object(out)
}

/// The error responses an operation can give, in the order `App::dispatch` checks them.
fn errors(route: &Route, op: &Op) -> Vec<(&'static str, Value)> {
    let templated = route.template().contains('{');
    let mut out = Vec::new();
    let mut bad = vec!["INVALID_PAYLOAD"];
    bad.extend(op.bad);
    out.push(("400", bad_request(&bad)));
    if op.needs_token {
        out.push(("401", reference("InvalidCredentials")));
        out.push(("403", reference("Forbidden")));
    }
    if templated || matches!(op.success, Success::Metrics) {
        out.push(("404", reference("RouteNotFound")));
    }
    if op.body.is_some() {
        out.push(("413", reference("ContentTooLarge")));
        out.push(("415", reference("UnsupportedMediaType")));
    }
    out.push(("500", reference("InternalError")));
    if op.closes_for_maintenance {
        match op.success {
            // Health answers 503 itself when the database does not.
            Success::Health => out.push(("503", health_unavailable())),
            _ => out.push(("503", reference("ServiceUnavailable"))),
        }
    }
    out
}

/// `OPTIONS` that is not a CORS preflight: `204` with `Allow`.
fn options(route: &Route) -> Value {
    // `OPTIONS` checks neither the path's parameters nor a missing token (a wrong one is 401).
    let params: Vec<Value> = path_names(route)
        .map(|name| {
            json!({
                "name": name, "in": "path", "required": true,
                "description": "Any value: `OPTIONS` does not look it up.",
                "schema": { "type": "string", "minLength": 1 },
            })
        })
        .collect();
    let mut responses = Map::new();
    responses.insert(
        "204".into(),
        json!({
            "description": "The methods this path answers, in `Allow`.",
            "headers": {
                "Allow": { "required": true, "schema": { "type": "string" } },
                "X-Request-Id": { "$ref": "#/components/headers/RequestId" },
            },
        }),
    );
    responses.insert("400".into(), bad_request(&["INVALID_PAYLOAD"]));
    responses.insert("401".into(), reference("InvalidCredentials"));
    if route.template().contains('{') {
        responses.insert("404".into(), reference("RouteNotFound"));
    }
    responses.insert("500".into(), reference("InternalError"));
    responses.insert("503".into(), reference("ServiceUnavailable"));
    let id: String = route
        .template()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut cs = part.chars();
            cs.next()
                .map(|c| c.to_ascii_uppercase().to_string() + cs.as_str())
                .unwrap_or_default()
        })
        .collect();
    json!({
        "operationId": format!("options{id}"),
        "summary": "The methods of this path (`Allow`)",
        "tags": [tag(route)],
        "parameters": params,
        "responses": responses,
        "security": [{ "bearerAuth": [] }, { "accessToken": [] }, {}],
    })
}

fn tag(route: &Route) -> &'static str {
    match route {
        Route::Ping | Route::Health | Route::Metrics | Route::Specs | Route::MaintenanceState => {
            "Server"
        }
        Route::Root | Route::AdminIndex | Route::AdminFile(_) => "App",
        Route::Collections | Route::Collection(_) => "Collections",
        Route::Items(_) | Route::Item(..) => "Items",
        Route::Fields(_) | Route::Field(..) => "Fields",
    }
}

/// The names of the route's path parameters, in template order.
fn path_names<'r>(route: &'r Route) -> impl Iterator<Item = &'static str> + 'r {
    route
        .template()
        .split('/')
        .filter_map(|segment| segment.strip_prefix('{')?.strip_suffix('}'))
}

fn parameter(name: &str) -> Value {
    json!({ "$ref": format!("#/components/parameters/{name}") })
}

fn schema(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/responses/{name}") })
}

fn request_id() -> Value {
    json!({ "X-Request-Id": { "$ref": "#/components/headers/RequestId" } })
}

fn success_response(success: &Success) -> (&'static str, Value) {
    let json_body = |schema: Value| json!({ "application/json": { "schema": schema } });
    match success {
        Success::Data(data) => (
            "200",
            json!({
                "description": "Done.",
                "headers": request_id(),
                "content": json_body(json!({
                    "type": "object",
                    "required": ["data"],
                    "properties": { "data": data },
                    "additionalProperties": false,
                })),
            }),
        ),
        Success::List(data) => (
            "200",
            json!({
                "description": "The items the query selects; `meta` when `meta` asked for it.",
                "headers": request_id(),
                "content": json_body(json!({
                    "type": "object",
                    "required": ["data"],
                    "properties": { "data": data, "meta": schema("Meta") },
                    "additionalProperties": false,
                })),
            }),
        ),
        Success::NoContent => (
            "204",
            json!({ "description": "Done; no body.", "headers": request_id() }),
        ),
        Success::Pong => (
            "200",
            json!({
                "description": "`pong`.",
                "headers": request_id(),
                "content": { "text/plain": { "schema": { "type": "string", "const": "pong" } } },
            }),
        ),
        Success::Health => (
            "200",
            json!({
                "description": "The database answers.",
                "headers": request_id(),
                "content": { "application/health+json": { "schema": {
                    "type": "object",
                    "required": ["status"],
                    "properties": { "status": { "const": "ok" } },
                } } },
            }),
        ),
        Success::Metrics => (
            "200",
            json!({
                "description": "Prometheus text exposition (format 0.0.4).",
                "headers": request_id(),
                "content": { "text/plain; version=0.0.4; charset=utf-8": {
                    "schema": { "type": "string" },
                } },
            }),
        ),
        Success::Redirect => (
            "302",
            json!({
                "description": "To the App.",
                "headers": {
                    "X-Request-Id": { "$ref": "#/components/headers/RequestId" },
                    "Location": { "schema": { "type": "string", "const": "/admin/" } },
                },
            }),
        ),
        Success::AppFile => (
            "200",
            json!({
                "description": "The file, with a Content-Security-Policy allowing only this \
                                origin; `no-cache` with an ETag (`304` when `If-None-Match` \
                                names it).",
                "headers": request_id(),
                "content": {
                    "text/html; charset=utf-8": { "schema": { "type": "string" } },
                    "text/css; charset=utf-8": { "schema": { "type": "string" } },
                    "text/javascript; charset=utf-8": { "schema": { "type": "string" } },
                    "image/svg+xml": { "schema": { "type": "string" } },
                    "application/octet-stream": { "schema": { "type": "string" } },
                },
            }),
        ),
        Success::Document => (
            "200",
            json!({
                "description": "This document.",
                "headers": request_id(),
                "content": json_body(json!({
                    "type": "object",
                    "required": ["openapi", "info", "paths"],
                })),
            }),
        ),
    }
}

/// The `503` of `/server/health`: the database does not answer (its own body), or maintenance.
fn health_unavailable() -> Value {
    json!({
        "description": "The database does not answer (`{\"status\":\"error\"}`), or maintenance \
                        (the Directus error envelope).",
        "headers": unavailable_headers(),
        "content": {
            "application/health+json": { "schema": {
                "type": "object",
                "required": ["status"],
                "properties": { "status": { "const": "error" } },
            } },
            "application/json": { "schema": schema("UnavailableEnvelope") },
        },
    })
}

fn unavailable_headers() -> Value {
    json!({
        "Retry-After": {
            "description": "Seconds to wait: the operator's figure during maintenance (only \
                            when the flag holds one), 1 when the database is busy.",
            "schema": { "type": "integer", "minimum": 0 },
        },
        "Cache-Control": { "schema": { "type": "string", "const": "no-store" } },
        "X-Request-Id": { "$ref": "#/components/headers/RequestId" },
    })
}

/// A `400` whose code is one of `codes`.
fn bad_request(codes: &[&str]) -> Value {
    json!({
        "description": format!("Bad request: {}.", codes.join(", ")),
        "headers": request_id(),
        "content": { "application/json": { "schema": error_envelope(codes) } },
    })
}

/// The Directus error envelope whose code is one of `codes`.
fn error_envelope(codes: &[&str]) -> Value {
    json!({
        "type": "object",
        "required": ["errors"],
        "properties": {
            "errors": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "required": ["message", "extensions"],
                    "properties": {
                        "message": { "type": "string" },
                        "extensions": {
                            "type": "object",
                            "required": ["code"],
                            "properties": { "code": { "enum": codes } },
                        },
                    },
                },
            },
        },
    })
}

fn error(description: &str, code: &str) -> Value {
    json!({
        "description": description,
        "headers": request_id(),
        "content": { "application/json": { "schema": error_envelope(&[code]) } },
    })
}

fn components() -> Value {
    json!({
        "securitySchemes": {
            "bearerAuth": {
                "type": "http",
                "scheme": "bearer",
                "description": "The server's static token (`--token`) in `Authorization: \
                                Bearer TOKEN`.",
            },
            // The query parameter is described as what it is, the other way to send the
            // token, rather than as a parameter of each operation.
            "accessToken": {
                "type": "apiKey",
                "in": "query",
                "name": "access_token",
                "description": "The same token in the `access_token` query parameter, instead \
                                of the header (both at once is 400 `INVALID_PAYLOAD`).",
            },
        },
        "headers": {
            "RequestId": {
                "description": "The request's id, also in the access log line.",
                "required": true,
                "schema": { "type": "string", "minLength": 1 },
            },
        },
        "parameters": parameters(),
        "schemas": schemas(),
        "responses": {
            "InvalidCredentials": error("A token was given and it is wrong.", "INVALID_CREDENTIALS"),
            "Forbidden": error(
                "No token where one is required, or an unknown collection, item or field \
                 (which items exist is not revealed).",
                "FORBIDDEN",
            ),
            "RouteNotFound": error(
                "A path parameter that names no route (an empty segment).",
                "ROUTE_NOT_FOUND",
            ),
            "ContentTooLarge": error("The body is larger than `--max-body`.", "CONTENT_TOO_LARGE"),
            "UnsupportedMediaType": error(
                "The body is not `application/json`.",
                "UNSUPPORTED_MEDIA_TYPE",
            ),
            "InternalError": {
                "description": "A bug or an I/O fault; the details are in the server's log, \
                                under the request id.",
                "headers": request_id(),
                "content": { "application/json": { "schema": {
                    "allOf": [
                        error_envelope(&["INTERNAL_SERVER_ERROR"]),
                        { "properties": { "errors": { "items": { "properties": {
                            "extensions": {
                                "required": ["request_id"],
                                "properties": { "request_id": { "type": "string" } },
                            },
                        } } } } },
                    ],
                } } },
            },
            "ServiceUnavailable": {
                "description": "Maintenance (the operator's message), or the database stayed \
                                locked by another process.",
                "headers": unavailable_headers(),
                "content": { "application/json": { "schema": schema("UnavailableEnvelope") } },
            },
        },
    })
}

fn parameters() -> Value {
    json!({
        "bypass": {
            "name": "X-Maintenance-Bypass", "in": "header", "required": false,
            "description": "The operator's bypass secret (`maintenance:on --bypass`): with it a \
    request is handled as if maintenance were off (the token still applies). Any other value is \
    ignored.",
            "schema": { "type": "string" },
        },
        "name": {
            "name": "name", "in": "path", "required": true,
            "description": "A collection name (an invalid or unknown one is 403).",
            "schema": { "type": "string", "minLength": 1 },
            "example": "news",
        },
        "collection": {
            "name": "collection", "in": "path", "required": true,
            "description": "A collection name (an invalid or unknown one is 403).",
            "schema": { "type": "string", "minLength": 1 },
            "example": "articles",
        },
        "id": {
            "name": "id", "in": "path", "required": true,
            "description": "An item's id (one that does not exist, or is not an integer, is 403).",
            "schema": { "type": "integer", "format": "int64" },
            "example": 1,
        },
        "file": {
            "name": "file", "in": "path", "required": true,
            "description": "The name of one of the App's files (another name is 404).",
            "schema": { "type": "string", "minLength": 1 },
            "example": "app.js",
        },
        "field": {
            "name": "field", "in": "path", "required": true,
            "description": "A field name (one that no item of the collection has is 403).",
            "schema": { "type": "string", "minLength": 1 },
            "example": "title",
        },
        "indexable_field": {
            "name": "field", "in": "path", "required": true,
            "description": "A field name other than `id` (the primary key, always indexed).",
            "schema": { "type": "string", "minLength": 1, "not": { "const": "id" } },
            "example": "title",
        },
        "fields": {
            "name": "fields", "in": "query",
            "description": "The fields to return, comma-separated; `*` is all (the default).",
            "style": "form", "explode": false,
            "schema": {
                "type": "array", "minItems": 1, "maxItems": 1000,
                "items": { "type": "string", "pattern": "^(\\*|[A-Za-z][A-Za-z0-9_-]{0,63})$" },
            },
            "example": ["id", "title"],
        },
        "filter": {
            "name": "filter", "in": "query",
            "description": "A filter, as JSON (the form the Directus SDK sends): \
                            `filter={\"views\":{\"_gt\":500}}`. The same filter in the bracket \
                            form: `filter[views][_gt]=500`, with `_in`, `_nin`, `_between` and \
                            `_nbetween` values comma-separated (`filter[views][_in]=10,1000`), \
                            `true`/`false` and numbers typed, and `_and`/`_or` children indexed \
                            (`filter[_or][0][views][_lt]=100`). One form per request, not both. \
                            (OpenAPI allows one parameter per name, so only the JSON form is \
                            described by a schema.)",
            "content": { "application/json": { "schema": {
                "anyOf": [schema("Filter"), { "type": "null" }],
            } } },
        },
        "search": {
            "name": "search", "in": "query",
            "description": "Case-insensitive substring over every string field; `%` and `_` \
                            are literal.",
            "schema": { "type": "string" },
        },
        "sort": {
            "name": "sort", "in": "query",
            "description": "Sort keys, comma-separated; `-` before a field is descending. \
                            Without it, `id` ascending.",
            "style": "form", "explode": false,
            "schema": {
                "type": "array", "minItems": 1, "maxItems": 32,
                "items": { "type": "string", "pattern": "^-?[A-Za-z][A-Za-z0-9_-]{0,63}$" },
            },
            "example": ["-views", "title"],
        },
        "limit": {
            "name": "limit", "in": "query",
            "description": "How many items (default 100; -1 is all).",
            "schema": { "type": "integer", "minimum": -1, "maximum": i64::MAX },
        },
        "offset": {
            "name": "offset", "in": "query",
            "description": "How many items to skip (`page` overrides it).",
            "schema": { "type": "integer", "minimum": 0, "maximum": u64::MAX },
        },
        "page": {
            "name": "page", "in": "query",
            "description": "The page of `limit` items, from 1.",
            "schema": { "type": "integer", "minimum": 1, "maximum": u64::MAX },
        },
        "meta": {
            "name": "meta", "in": "query",
            "description": "Counts to add as `meta`: `total_count`, `filter_count` (what \
                            `filter` and `search` leave), or `*` for both.",
            "style": "form", "explode": false,
            "schema": {
                "type": "array",
                "items": { "enum": ["total_count", "filter_count", "*"] },
            },
        },
    })
}

fn schemas() -> Value {
    let name = json!({ "type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_-]{0,63}$" });
    let scalar = json!({ "type": ["string", "number", "boolean", "null"] });
    let ordered = json!({ "type": ["string", "number"] });
    let text = json!({ "type": "string" });
    let list = json!({ "type": "array", "items": scalar });
    let pair = json!({ "type": "array", "items": ordered, "minItems": 2, "maxItems": 2 });
    let yes = json!({ "const": true });
    let item_fields = json!({
        "type": "object",
        "description": "The fields of an item: any JSON values, stored and returned as given.",
    });
    // The query object's lists: a CSV string (items trimmed) or an array of such strings.
    let csv = |item: &str| {
        let list = json!({
            "type": "string",
            "pattern": format!("^\\s*{item}\\s*(,\\s*{item}\\s*)*$"),
        });
        json!({ "oneOf": [list, { "type": "array", "items": list }] })
    };
    let plain = "[A-Za-z][A-Za-z0-9_-]{0,63}";
    let counts = "(total_count|filter_count|\\*)?";
    json!({
        "Item": {
            "type": "object",
            "description": "An item: its `id` and its fields (only those `fields` picked).",
            "properties": { "id": { "type": "integer" } },
        },
        "NewItem": {
            "type": "object",
            "description": "An item to create; the server assigns `id` unless it is given.",
            "properties": { "id": { "type": ["integer", "null"] } },
        },
        "NewItems": {
            "oneOf": [
                schema("NewItem"),
                { "type": "array", "items": schema("NewItem") },
            ],
        },
        "ItemPatch": {
            "type": "object",
            "description": "The top-level fields to merge (`null` is stored). An `id`, if \
                            given, must be the path's.",
            "properties": { "id": { "type": "integer" } },
        },
        "Keys": {
            "type": "array",
            "items": { "type": "integer", "format": "int64" },
        },
        "BatchUpdate": {
            "oneOf": [
                {
                    "type": "array",
                    "description": "Each item with its `id` and the fields to merge.",
                    "items": {
                        "type": "object",
                        "required": ["id"],
                        "properties": { "id": { "type": "integer", "format": "int64" } },
                    },
                },
                {
                    "type": "object",
                    "description": "One change for the items of `keys`.",
                    "required": ["keys", "data"],
                    "properties": { "keys": schema("Keys"), "data": item_fields },
                    "additionalProperties": false,
                },
                {
                    "type": "object",
                    "description": "One change for the items a query selects.",
                    "required": ["query", "data"],
                    "properties": { "query": schema("Query"), "data": item_fields },
                    "additionalProperties": false,
                },
            ],
        },
        "BatchDelete": {
            "oneOf": [
                schema("Keys"),
                {
                    "type": "object",
                    "required": ["keys"],
                    "properties": { "keys": schema("Keys") },
                    "additionalProperties": false,
                },
                {
                    "type": "object",
                    "required": ["query"],
                    "properties": { "query": schema("Query") },
                    "additionalProperties": false,
                },
            ],
        },
        "Query": {
            "type": "object",
            "description": "The query parameters of a read, as an object.",
            "properties": {
                "fields": csv(&format!("(\\*|{plain})")),
                "filter": { "anyOf": [schema("Filter"), { "type": "null" }] },
                "search": { "type": ["string", "null"] },
                "sort": csv(&format!("-?{plain}")),
                "limit": { "type": "integer", "minimum": -1, "maximum": i64::MAX },
                "offset": { "type": "integer", "minimum": 0, "maximum": u64::MAX },
                "page": { "type": "integer", "minimum": 1, "maximum": u64::MAX },
                "meta": csv(counts),
            },
            "additionalProperties": false,
        },
        "Filter": {
            "type": "object",
            "description": "Conditions on fields, all of which must hold; `_and` and `_or` \
                            combine filters. A field an item lacks is `null`; comparisons \
                            match values of the same JSON type only.",
            "properties": {
                "_and": { "type": "array", "items": schema("Filter") },
                "_or": { "type": "array", "items": schema("Filter") },
            },
            "propertyNames": { "anyOf": [ name, { "enum": ["_and", "_or"] } ] },
            "additionalProperties": schema("FieldFilter"),
        },
        "FieldFilter": {
            "type": "object",
            "description": "Operators on one field. `_contains`, `_starts_with` and \
                            `_ends_with` are case-sensitive, their `_i` forms are not; each \
                            `_n` form is the complement.",
            "minProperties": 1,
            "properties": {
                "_eq": scalar, "_neq": scalar,
                "_lt": ordered, "_lte": ordered, "_gt": ordered, "_gte": ordered,
                "_in": list, "_nin": list,
                "_null": yes, "_nnull": yes, "_empty": yes, "_nempty": yes,
                "_contains": text, "_ncontains": text,
                "_icontains": text, "_nicontains": text,
                "_starts_with": text, "_nstarts_with": text,
                "_istarts_with": text, "_nistarts_with": text,
                "_ends_with": text, "_nends_with": text,
                "_iends_with": text, "_niends_with": text,
                "_between": pair, "_nbetween": pair,
            },
            "additionalProperties": false,
        },
        "MaintenanceState": {
            "type": "object",
            "required": ["state", "message", "since", "retry_after", "announcement"],
            "properties": {
                "state": { "enum": ["off", "read_only", "on"] },
                "message": { "type": ["string", "null"] },
                "since": { "type": ["string", "null"] },
                "retry_after": { "type": ["integer", "null"], "minimum": 0 },
                "announcement": {
                    "oneOf": [
                        { "type": "null" },
                        {
                            "type": "object",
                            "required": ["starts_at", "ends_at", "message"],
                            "properties": {
                                "starts_at": { "type": "string" },
                                "ends_at": { "type": ["string", "null"] },
                                "message": { "type": ["string", "null"] },
                            },
                            "additionalProperties": false,
                        },
                    ],
                },
            },
            "additionalProperties": false,
        },
        "Meta": {
            "type": "object",
            "properties": {
                "total_count": { "type": "integer", "minimum": 0 },
                "filter_count": { "type": "integer", "minimum": 0 },
            },
            "additionalProperties": false,
        },
        "NewCollection": {
            "type": "object",
            "description": "A letter, then letters, digits and `_`, at most 64 characters, \
                            not starting with `directus_`. Other keys are ignored.",
            "required": ["collection"],
            "properties": {
                "collection": { "type": "string", "pattern": "^[A-Za-z][A-Za-z0-9_]{0,63}$" },
            },
        },
        "Collection": {
            "type": "object",
            "required": ["collection", "meta", "schema"],
            "properties": {
                "collection": { "type": "string" },
                "meta": { "type": "null" },
                "schema": {
                    "type": "object",
                    "required": ["name"],
                    "properties": { "name": { "type": "string" } },
                },
            },
        },
        "Field": {
            "type": "object",
            "required": ["collection", "field", "type", "meta", "schema"],
            "properties": {
                "collection": { "type": "string" },
                "field": { "type": "string" },
                "type": {
                    "description": "The Directus type of the values seen: `alias` when they \
                                    mix types, `unknown` when all are null.",
                    "enum": ["integer", "float", "string", "boolean", "json", "alias", "unknown"],
                },
                "meta": { "type": "null" },
                "schema": {
                    "type": "object",
                    "required": ["name", "table", "is_indexed", "is_primary_key"],
                    "properties": {
                        "name": { "type": "string" },
                        "table": { "type": "string" },
                        "is_indexed": { "type": "boolean" },
                        "is_primary_key": { "type": "boolean" },
                    },
                },
            },
        },
        "FieldPatch": {
            "type": "object",
            "description": "Other keys of a Directus field are accepted and ignored.",
            "required": ["schema"],
            "properties": {
                "schema": {
                    "type": "object",
                    "required": ["is_indexed"],
                    "properties": { "is_indexed": { "type": "boolean" } },
                },
            },
        },
        "UnavailableEnvelope": {
            "allOf": [
                error_envelope(&["SERVICE_UNAVAILABLE"]),
                { "properties": { "errors": { "items": { "properties": { "extensions": {
                    "required": ["reason"],
                    "properties": {
                        "reason": { "enum": ["maintenance", "read_only", "database_busy"] },
                        "retry_after": { "type": "integer", "minimum": 0 },
                        "since": { "type": "string" },
                    },
                } } } } } },
            ],
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (route, method) the router answers has an operation, and the document has no
    /// other: a route or method added without its description fails here.
    #[test]
    fn the_document_has_exactly_the_operations_the_router_answers() {
        let doc = document();
        let paths = doc["paths"].as_object().unwrap();
        let every = Route::every();
        assert_eq!(paths.len(), every.len(), "paths: {:?}", paths.keys());
        for route in every {
            let item = paths
                .get(route.template())
                .unwrap_or_else(|| panic!("no path {}", route.template()))
                .as_object()
                .unwrap();
            let mut answered = 0;
            for method in Method::KNOWN {
                let key = method.name().to_ascii_lowercase();
                let allowed = route.clone().decide(method) != Decision::NotAllowed;
                answered += usize::from(allowed);
                assert_eq!(
                    item.contains_key(&key),
                    allowed,
                    "{key} {}",
                    route.template()
                );
            }
            assert_eq!(
                item.len(),
                answered,
                "{}: {:?}",
                route.template(),
                item.keys()
            );
        }
    }

    /// Every `{param}` of a template is declared as a path parameter of each operation, and
    /// every `$ref` resolves.
    #[test]
    fn parameters_and_references_resolve() {
        let doc = document();
        for (template, item) in doc["paths"].as_object().unwrap() {
            let wanted: Vec<&str> = template
                .split('/')
                .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
                .collect();
            for (method, op) in item.as_object().unwrap() {
                let declared: Vec<&str> = op["parameters"]
                    .as_array()
                    .map(Vec::as_slice)
                    .unwrap_or_default()
                    .iter()
                    .map(|p| match p["$ref"].as_str() {
                        Some(at) => resolve(&doc, at),
                        None => p,
                    })
                    .filter(|p| p["in"] == "path")
                    .map(|p| p["name"].as_str().unwrap())
                    .collect();
                assert_eq!(declared, wanted, "{method} {template}");
            }
        }
        let mut refs = Vec::new();
        collect_refs(&doc, &mut refs);
        assert!(refs.len() > 50);
        for r in refs {
            assert!(!resolve(&doc, &r).is_null(), "{r} does not resolve");
        }
    }

    /// The maintenance 503 is on every operation but the public ones' (ping, the maintenance
    /// state, the App), and every answer carries the request id.
    #[test]
    fn maintenance_and_request_id_everywhere() {
        let doc = document();
        for (template, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let responses = op["responses"].as_object().unwrap();
                let public = [
                    "/server/ping",
                    "/server/maintenance",
                    "/",
                    "/admin/",
                    "/admin/{file}",
                ]
                .contains(&template.as_str())
                    && method != "options";
                assert_eq!(
                    responses.contains_key("503"),
                    !public,
                    "{method} {template}"
                );
                for (status, r) in responses {
                    let r = match r.get("$ref") {
                        Some(Value::String(at)) => resolve(&doc, at),
                        _ => r,
                    };
                    assert!(
                        !r["headers"]["X-Request-Id"].is_null(),
                        "{status} of {method} {template}"
                    );
                }
            }
        }
    }

    #[test]
    fn it_is_rendered_as_json() {
        let value: Value = serde_json::from_slice(&render()).unwrap();
        assert_eq!(value["openapi"], "3.1.0");
    }

    fn resolve<'a>(doc: &'a Value, reference: &str) -> &'a Value {
        let pointer = reference.strip_prefix('#').unwrap();
        doc.pointer(pointer).unwrap_or(&Value::Null)
    }

    fn collect_refs(value: &Value, out: &mut Vec<String>) {
        match value {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("$ref", Value::String(r)) => out.push(r.clone()),
                        _ => collect_refs(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
            _ => {}
        }
    }
}
