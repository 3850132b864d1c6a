//! The App's files (SPEC 11), built into the binary by `build.rs` from `src/admin/`, served at
//! `/admin/` with headers that keep them safe and fresh: a Content-Security-Policy that allows
//! only this origin (no inline script or style), `nosniff`, no referrer, and `no-cache` with an
//! ETag, so a browser revalidates every load and never runs an App older than the server.
//! They hold no data: no token is needed and maintenance does not close them.

use crate::secret::Digest;
use crate::wire::{Request, Response};

/// Every file of `src/admin/`: (name, bytes).
const FILES: &[(&str, &[u8])] = include!(concat!(env!("OUT_DIR"), "/admin_files.rs"));

/// The policy every App file is served with.
const CSP: &str = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; \
                   connect-src 'self'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'";

/// The App's files with their entity tags, made once at start.
pub struct Shell {
    files: Vec<(&'static str, &'static [u8], String)>,
}

impl Shell {
    pub fn new() -> Shell {
        let files = FILES
            .iter()
            .map(|(name, bytes)| {
                let tag = Digest::of_bytes(bytes).to_hex();
                (*name, *bytes, format!("\"{}\"", &tag[..32]))
            })
            .collect();
        Shell { files }
    }

    /// The file `name` (`index.html` for the App itself), or `None` when the App has no such
    /// file. `304` when the request already holds this version.
    pub fn serve(&self, name: &str, req: &Request) -> Option<Response> {
        let (_, bytes, tag) = self.files.iter().find(|(n, ..)| *n == name)?;
        let fresh = req
            .header("if-none-match")
            .is_some_and(|given| given.split(',').any(|t| t.trim() == tag));
        let mut r = if fresh {
            Response::empty(304)
        } else {
            Response::text(200, content_type(name), "")
        };
        if !fresh {
            r.body = bytes.to_vec();
        }
        r.header("ETag", tag.clone());
        r.header("Cache-Control", "no-cache".into());
        r.header("Content-Security-Policy", CSP.into());
        r.header("X-Content-Type-Options", "nosniff".into());
        r.header("Referrer-Policy", "no-referrer".into());
        Some(r)
    }
}

/// The media type of an App file, by its extension.
fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// The redirect of `/` (and of `/admin` without its slash, whose relative links would miss).
pub fn redirect() -> Response {
    let mut r = Response::empty(302);
    r.header("Location", "/admin/".into());
    r.header("Cache-Control", "no-cache".into());
    r
}
