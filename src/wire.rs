//! The product's own request and response values.
//!
//! Handlers see only these types, never tiny_http's: the HTTP boundary (`http`) converts both
//! ways, so the transport can be hardened or replaced in one place.

use serde_json::Value;

/// A request as the dispatcher sees it, before its body is read.
#[derive(Debug, Clone)]
pub struct Request {
    /// The method in upper case, as sent (`GET`, `PATCH`, `FOO`).
    pub method: String,
    /// The path without the query string, still percent-encoded.
    pub path: String,
    /// The raw query string without the `?` (empty when absent).
    pub query: String,
    /// Header names and values in the order sent.
    pub headers: Vec<(String, String)>,
    /// `Content-Length` when the client sent a usable one.
    pub body_length: Option<usize>,
    /// True when the client sent a `Transfer-Encoding` (the body has no declared length).
    pub chunked: bool,
    /// Set by the boundary when the body's framing is ambiguous (duplicated or unparsable
    /// `Content-Length`, a `Transfer-Encoding` other than `chunked`, or both headers): such a
    /// request is refused and its connection closed, since its end cannot be trusted.
    pub framing_error: Option<&'static str>,
}

impl Request {
    /// Builds a bodyless request from a method and a target such as `/items/a?limit=1`.
    pub fn new(method: &str, target: &str) -> Request {
        let (path, query) = match target.split_once('?') {
            Some((path, query)) => (path, query),
            None => (target, ""),
        };
        Request {
            method: method.to_string(),
            path: path.to_string(),
            query: query.to_string(),
            headers: Vec::new(),
            body_length: None,
            chunked: false,
            framing_error: None,
        }
    }

    /// The first value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// True when the request announces a body (a non-zero length or a transfer encoding).
    pub fn has_body(&self) -> bool {
        self.chunked || self.body_length.is_some_and(|n| n > 0)
    }
}

/// Why a body could not be read.
#[derive(Debug)]
pub enum BodyError {
    /// More bytes than the limit.
    TooLarge,
    /// The connection failed or the client stopped sending.
    Io(std::io::Error),
}

/// Reads a request's body on demand, so that a request refused early never reads it.
pub trait BodySource {
    /// Reads the whole body, failing with `TooLarge` as soon as it passes `limit` bytes.
    fn read_body(&mut self, limit: usize) -> Result<Vec<u8>, BodyError>;
}

/// A body held in memory (for tests and for bodies already read).
impl BodySource for &[u8] {
    fn read_body(&mut self, limit: usize) -> Result<Vec<u8>, BodyError> {
        if self.len() > limit {
            return Err(BodyError::TooLarge);
        }
        Ok(self.to_vec())
    }
}

/// A response value: status, headers and a body held in memory.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    /// The request got past maintenance by the bypass secret: the access line says so. Not
    /// sent to the client.
    pub bypassed: bool,
}

impl Response {
    /// A response with a status and no body.
    pub fn empty(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
            bypassed: false,
        }
    }

    /// A JSON response with the given value as its body.
    pub fn json(status: u16, value: &Value) -> Response {
        let mut response = Response::empty(status);
        response.set_json(value);
        response
    }

    /// A JSON response whose body is already serialized.
    pub fn json_bytes(status: u16, body: Vec<u8>) -> Response {
        let mut response = Response::empty(status);
        response.header("Content-Type", "application/json".to_string());
        response.body = body;
        response
    }

    /// A response with a plain-text body.
    pub fn text(status: u16, content_type: &str, body: &str) -> Response {
        let mut response = Response::empty(status);
        response.header("Content-Type", content_type.to_string());
        response.body = body.as_bytes().to_vec();
        response
    }

    /// Replaces the body with the serialized value and sets the JSON content type.
    pub fn set_json(&mut self, value: &Value) {
        self.body = serde_json::to_vec(value).expect("a serde_json::Value always serializes");
        self.headers.retain(|(n, _)| *n != "Content-Type");
        self.header("Content-Type", "application/json".to_string());
    }

    /// Adds a header. Values must come from the product, never raw from a client or a file.
    pub fn header(&mut self, name: &'static str, value: String) {
        self.headers.push((name, value));
    }
}
