//! Routing: the request's method and path become one `Action`, decided by one exhaustive
//! `match` over (route, method). The `Allow` header is derived from that same match, so a method
//! a route does not answer can never reach a handler.

use crate::query;
use std::borrow::Cow;

/// The methods the API distinguishes; anything else is `Other` (always 405).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Patch,
    Delete,
    Options,
    Other,
}

impl Method {
    /// Every method a route can answer, in the order `Allow` lists them (`Other` never is).
    pub const KNOWN: [Method; 6] = [
        Method::Get,
        Method::Head,
        Method::Post,
        Method::Patch,
        Method::Delete,
        Method::Options,
    ];

    /// From the request line's method, in upper case.
    pub fn parse(method: &str) -> Method {
        match method {
            "GET" => Method::Get,
            "HEAD" => Method::Head,
            "POST" => Method::Post,
            "PATCH" => Method::Patch,
            "DELETE" => Method::Delete,
            "OPTIONS" => Method::Options,
            _ => Method::Other,
        }
    }

    /// The method's name as on the request line (empty for `Other`).
    pub fn name(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
            Method::Options => "OPTIONS",
            Method::Other => "",
        }
    }
}

/// The one list of routes: each route's path template, parameters in braces as OpenAPI writes
/// them. The router places each `Route` in it (`Route::index`, an exhaustive match), the
/// OpenAPI document walks it (`Route::every`), and metrics label requests by it.
pub const TEMPLATES: [&str; 14] = [
    "/server/ping",
    "/server/health",
    "/server/metrics",
    "/server/specs/oas",
    "/collections",
    "/collections/{name}",
    "/items/{collection}",
    "/items/{collection}/{id}",
    "/fields/{collection}",
    "/fields/{collection}/{field}",
    "/server/maintenance",
    "/",
    "/admin/",
    "/admin/{file}",
];

/// The paths the API knows, with their parameters decoded (still unchecked).
#[derive(Debug, Clone, PartialEq)]
pub enum Route<'a> {
    Ping,
    Health,
    Metrics,
    Specs,
    Collections,
    Collection(Cow<'a, str>),
    Items(Cow<'a, str>),
    Item(Cow<'a, str>, Cow<'a, str>),
    Fields(Cow<'a, str>),
    Field(Cow<'a, str>, Cow<'a, str>),
    /// `/server/maintenance` (SPEC 5.5).
    MaintenanceState,
    /// `/`, which leads to the App.
    Root,
    /// `/admin/` (and `/admin`): the App.
    AdminIndex,
    /// `/admin/<file>`: one of the App's files.
    AdminFile(Cow<'a, str>),
}

/// What a request asks for, once its route and method are known.
#[derive(Debug, PartialEq)]
pub enum Action<'a> {
    Pong,
    Health,
    Metrics,
    Specs,
    ListCollections,
    CreateCollection,
    ReadCollection(Cow<'a, str>),
    DeleteCollection(Cow<'a, str>),
    ListItems(Cow<'a, str>),
    CreateItems(Cow<'a, str>),
    UpdateItems(Cow<'a, str>),
    DeleteItems(Cow<'a, str>),
    ReadItem(Cow<'a, str>, Cow<'a, str>),
    UpdateItem(Cow<'a, str>, Cow<'a, str>),
    DeleteItem(Cow<'a, str>, Cow<'a, str>),
    ListFields(Cow<'a, str>),
    ReadField(Cow<'a, str>, Cow<'a, str>),
    UpdateField(Cow<'a, str>, Cow<'a, str>),
    MaintenanceState,
    /// `302` to the App.
    ToApp,
    /// An App file (`None`: the App's page).
    AppFile(Option<Cow<'a, str>>),
}

/// What the router decided for a known path.
#[derive(Debug, PartialEq)]
pub enum Decision<'a> {
    /// A handler's work.
    Do(Action<'a>),
    /// `OPTIONS` that is not a CORS preflight: `204` with `Allow`.
    Options,
    /// A method the route does not answer: `405` with `Allow`.
    NotAllowed,
}

impl Action<'_> {
    /// True when the action reads a request body.
    pub fn takes_body(&self) -> bool {
        matches!(
            self,
            Action::CreateCollection
                | Action::CreateItems(_)
                | Action::UpdateItems(_)
                | Action::DeleteItems(_)
                | Action::UpdateItem(..)
                | Action::UpdateField(..)
        )
    }
}

/// True for the liveness probe's path, which is decided on the raw path (before routing, so the
/// maintenance answer needs no routing work). `Route::parse` uses the same test, so ping is one
/// decision: an encoded form such as `/server/%70ing` is no route at all.
pub fn is_ping_path(path: &str) -> bool {
    matches!(path, "/server/ping" | "/server/ping/")
}

/// True for the paths whose `GET`/`HEAD` need no token and are never closed by maintenance,
/// decided on the raw path like ping: ping itself, `/server/maintenance` (clients ask it
/// during maintenance), `/` and the App's files (they hold no data, and the App must load to
/// show the maintenance message).
pub fn is_public_path(path: &str) -> bool {
    is_ping_path(path)
        || matches!(
            path,
            "/server/maintenance" | "/server/maintenance/" | "/" | "/admin"
        )
        || path.starts_with("/admin/")
}

/// True for the metrics path, exempt from maintenance like ping (monitoring must see the
/// maintenance state); decided on the raw path the same way.
pub fn is_metrics_path(path: &str) -> bool {
    matches!(path, "/server/metrics" | "/server/metrics/")
}

impl<'a> Route<'a> {
    /// The route of a raw (percent-encoded) path, or `None` for an unknown path.
    pub fn parse(path: &'a str) -> Option<Route<'a>> {
        if is_ping_path(path) {
            return Some(Route::Ping);
        }
        let trimmed = path
            .strip_suffix('/')
            .filter(|p| !p.is_empty())
            .unwrap_or(path);
        let mut segments = trimmed.strip_prefix('/')?.split('/');
        let mut next = || segments.next().map(decode_segment);
        let route = match (next()?.as_ref(), next(), next(), next()) {
            ("server", Some(s), None, None) if s == "health" => Route::Health,
            ("server", Some(s), None, None) if s == "metrics" => Route::Metrics,
            ("server", Some(s), None, None) if s == "maintenance" => Route::MaintenanceState,
            ("", None, None, None) => Route::Root,
            ("admin", None, None, None) => Route::AdminIndex,
            ("admin", Some(file), None, None) if !file.is_empty() => Route::AdminFile(file),
            ("server", Some(s), Some(o), None) if s == "specs" && o == "oas" => Route::Specs,
            ("collections", None, None, None) => Route::Collections,
            ("collections", Some(name), None, None) if !name.is_empty() => Route::Collection(name),
            ("items", Some(c), None, None) if !c.is_empty() => Route::Items(c),
            ("items", Some(c), Some(id), None) if !c.is_empty() && !id.is_empty() => {
                Route::Item(c, id)
            }
            ("fields", Some(c), None, None) if !c.is_empty() => Route::Fields(c),
            ("fields", Some(c), Some(f), None) if !c.is_empty() && !f.is_empty() => {
                Route::Field(c, f)
            }
            _ => return None,
        };
        Some(route)
    }

    /// The route's place in `TEMPLATES`, the one list of routes.
    pub fn index(&self) -> usize {
        match self {
            Route::Ping => 0,
            Route::Health => 1,
            Route::Metrics => 2,
            Route::Specs => 3,
            Route::Collections => 4,
            Route::Collection(_) => 5,
            Route::Items(_) => 6,
            Route::Item(..) => 7,
            Route::Fields(_) => 8,
            Route::Field(..) => 9,
            Route::MaintenanceState => 10,
            Route::Root => 11,
            Route::AdminIndex => 12,
            Route::AdminFile(_) => 13,
        }
    }

    /// The route's path template, its parameters named in braces as OpenAPI writes them. The
    /// API's description (`oas`) is keyed by these.
    pub fn template(&self) -> &'static str {
        TEMPLATES[self.index()]
    }

    /// Every route once, its parameters holding their template names: `TEMPLATES` parsed by
    /// the router itself (tested to give each route back at its own place). The description
    /// and its tests walk this list.
    pub fn every() -> Vec<Route<'static>> {
        TEMPLATES
            .iter()
            .map(|t| Route::parse(t).expect("every template is a route (tested)"))
            .collect()
    }

    /// The one decision of what a (route, method) pair does. Its last arm is the 405.
    pub fn decide(self, method: Method) -> Decision<'a> {
        use Action as A;
        use Method::{Delete, Get, Head, Options, Patch, Post};
        let action = match (self, method) {
            (Route::Ping, Get | Head) => A::Pong,
            (Route::Health, Get | Head) => A::Health,
            (Route::Metrics, Get | Head) => A::Metrics,
            (Route::Specs, Get | Head) => A::Specs,
            (Route::Collections, Get | Head) => A::ListCollections,
            (Route::Collections, Post) => A::CreateCollection,
            (Route::Collection(name), Get | Head) => A::ReadCollection(name),
            (Route::Collection(name), Delete) => A::DeleteCollection(name),
            (Route::Items(c), Get | Head) => A::ListItems(c),
            (Route::Items(c), Post) => A::CreateItems(c),
            (Route::Items(c), Patch) => A::UpdateItems(c),
            (Route::Items(c), Delete) => A::DeleteItems(c),
            (Route::Item(c, id), Get | Head) => A::ReadItem(c, id),
            (Route::Item(c, id), Patch) => A::UpdateItem(c, id),
            (Route::Item(c, id), Delete) => A::DeleteItem(c, id),
            (Route::Fields(c), Get | Head) => A::ListFields(c),
            (Route::Field(c, f), Get | Head) => A::ReadField(c, f),
            (Route::Field(c, f), Patch) => A::UpdateField(c, f),
            (Route::MaintenanceState, Get | Head) => A::MaintenanceState,
            (Route::Root, Get | Head) => A::ToApp,
            (Route::AdminIndex, Get | Head) => A::AppFile(None),
            (Route::AdminFile(file), Get | Head) => A::AppFile(Some(file)),
            (_, Options) => return Decision::Options,
            (_, _) => return Decision::NotAllowed,
        };
        Decision::Do(action)
    }

    /// The `Allow` header value: the methods `action` answers for this route.
    pub fn allow(&self) -> String {
        let allowed: Vec<&str> = Method::KNOWN
            .into_iter()
            .filter(|m| self.clone().decide(*m) != Decision::NotAllowed)
            .map(Method::name)
            .collect();
        allowed.join(", ")
    }
}

/// A path segment decoded; a segment that does not decode is kept raw, and since `%` is not a
/// valid name character it then names no collection.
fn decode_segment(raw: &str) -> Cow<'_, str> {
    if !raw.contains('%') {
        return Cow::Borrowed(raw);
    }
    match query::percent_decode(raw, false) {
        Some(decoded) => Cow::Owned(decoded),
        None => Cow::Borrowed(raw),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse() {
        let cases: &[(&str, Option<Route>)] = &[
            ("/server/ping", Some(Route::Ping)),
            ("/server/ping/", Some(Route::Ping)),
            ("/server/%70ing", None),
            ("/server/health", Some(Route::Health)),
            ("/server/specs/oas", Some(Route::Specs)),
            ("/server/specs/oas/", Some(Route::Specs)),
            ("/server/specs", None),
            ("/server/specs/oas/x", None),
            ("/items/a/", Some(Route::Items("a".into()))),
            ("/items/a/1", Some(Route::Item("a".into(), "1".into()))),
            ("/items/a%62", Some(Route::Items("ab".into()))),
            ("/items/a/1/x", None),
            ("/items", None),
            ("/", Some(Route::Root)),
            ("/admin/", Some(Route::AdminIndex)),
            ("/admin/app.js", Some(Route::AdminFile("app.js".into()))),
            ("/server/maintenance", Some(Route::MaintenanceState)),
            ("items/a", None),
            ("/items//1", None),
            ("/fields/a", Some(Route::Fields("a".into()))),
            (
                "/fields/a/views",
                Some(Route::Field("a".into(), "views".into())),
            ),
            ("/fields", None),
            ("/server/metrics", Some(Route::Metrics)),
            ("/server/metrics/", Some(Route::Metrics)),
            ("/server/metrics/x", None),
        ];
        for (path, want) in cases {
            assert_eq!(&Route::parse(path), want, "{path}");
        }
    }

    #[test]
    fn allow_is_derived_from_the_actions() {
        let cases: &[(Route, &str)] = &[
            (Route::Ping, "GET, HEAD, OPTIONS"),
            (Route::Health, "GET, HEAD, OPTIONS"),
            (Route::Metrics, "GET, HEAD, OPTIONS"),
            (Route::Specs, "GET, HEAD, OPTIONS"),
            (Route::Collections, "GET, HEAD, POST, OPTIONS"),
            (Route::Collection("a".into()), "GET, HEAD, DELETE, OPTIONS"),
            (
                Route::Items("a".into()),
                "GET, HEAD, POST, PATCH, DELETE, OPTIONS",
            ),
            (
                Route::Item("a".into(), "1".into()),
                "GET, HEAD, PATCH, DELETE, OPTIONS",
            ),
            (Route::Fields("a".into()), "GET, HEAD, OPTIONS"),
            (
                Route::Field("a".into(), "f".into()),
                "GET, HEAD, PATCH, OPTIONS",
            ),
        ];
        for (route, allow) in cases {
            assert_eq!(route.allow(), *allow, "{route:?}");
        }
    }

    #[test]
    fn every_route_is_listed_once_under_its_template() {
        let every = Route::every();
        for route in &every {
            assert_eq!(Route::parse(route.template()).as_ref(), Some(route));
        }
        let mut templates: Vec<&str> = every.iter().map(Route::template).collect();
        templates.sort_unstable();
        templates.dedup();
        assert_eq!(templates.len(), every.len(), "a template listed twice");
    }

    #[test]
    fn every_template_parses_to_the_route_at_its_place() {
        for (i, template) in TEMPLATES.iter().enumerate() {
            let route = Route::parse(template).expect("a template is a route");
            assert_eq!((route.index(), route.template()), (i, *template));
        }
    }

    #[test]
    fn unknown_methods_are_405_everywhere() {
        for path in ["/server/ping", "/collections", "/items/a", "/items/a/1"] {
            let route = Route::parse(path).unwrap();
            assert_eq!(route.decide(Method::Other), Decision::NotAllowed, "{path}");
        }
        assert_eq!(
            Route::Items("a".into()).decide(Method::Delete),
            Decision::Do(Action::DeleteItems("a".into()))
        );
    }
}
