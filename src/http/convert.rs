//! One request through tiny_http: converted to the product's `wire::Request` (its framing
//! checked), its body read on demand within a deadline, handed to the API, and the answer
//! converted back (header values stripped of control characters) and written; or, for a
//! request whose body must not be drained, answered and abandoned.

use super::RequestIds;
use crate::api::{App, Session};
use crate::wire::{BodyError, BodySource, Request, Response};
use std::io::Cursor;
use std::time::{Duration, Instant};

/// How long a request body may take to arrive, all of it.
const BODY_DEADLINE: Duration = Duration::from_secs(10);

/// Reads a tiny_http request's body on demand, and remembers whether it read it all.
///
/// Each read waits at most `READ_TIMEOUT` for a byte, and the whole body must arrive within
/// `BODY_DEADLINE`, so a client trickling its body holds a worker for a bounded time.
struct TinyBody<'a> {
    rq: &'a mut tiny_http::Request,
    attempted: bool,
    complete: bool,
}

impl TinyBody<'_> {
    /// Reads up to `limit + 1` bytes, handing each chunk to `sink`; true when the body ended
    /// within the limit and the deadline.
    fn read_within(
        &mut self,
        limit: usize,
        mut sink: impl FnMut(&[u8]),
    ) -> Result<bool, BodyError> {
        self.attempted = true;
        let started = Instant::now();
        let reader = self.rq.as_reader();
        let mut chunk = [0u8; 16 * 1024];
        let mut total = 0usize;
        loop {
            if started.elapsed() > BODY_DEADLINE {
                return Err(BodyError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the body did not arrive in time",
                )));
            }
            let n = match reader.read(&mut chunk) {
                Ok(0) => {
                    self.complete = true;
                    return Ok(true);
                }
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(BodyError::Io(e)),
            };
            total += n;
            if total > limit {
                return Ok(false);
            }
            sink(&chunk[..n]);
        }
    }

    /// Reads and discards an unread body (so the connection stays in sync); false when it
    /// could not be read whole within the limit and the deadline.
    fn drain(&mut self, limit: usize) -> bool {
        self.read_within(limit, |_| {}).unwrap_or(false)
    }
}

impl BodySource for TinyBody<'_> {
    fn read_body(&mut self, limit: usize) -> Result<Vec<u8>, BodyError> {
        let mut buf = Vec::new();
        if self.read_within(limit, |chunk| buf.extend_from_slice(chunk))? {
            Ok(buf)
        } else {
            Err(BodyError::TooLarge)
        }
    }
}

/// Serves one request; returns its connection's stream when the connection was abandoned
/// (never to be dropped: see `answer_and_abandon`).
pub(super) fn serve(
    mut rq: tiny_http::Request,
    app: &App,
    session: &mut Session,
    ids: &RequestIds,
    max_body: usize,
) -> Option<Abandoned> {
    let started = Instant::now();
    let request_id = ids.next();
    let request = to_wire(&rq);
    let mut body = TinyBody {
        rq: &mut rq,
        attempted: false,
        complete: false,
    };
    // `handle` turns a panic in a handler into a 500 for this request only.
    let response = app.handle(session, &request, &mut body, &request_id);
    let status = response.status;
    // Marks a request let through maintenance by the bypass secret; the secret (a header) is
    // never part of the line.
    let bypassed = if response.bypassed { " bypassed" } else { "" };
    // tiny_http drains an unread body when the request is dropped, allocating the whole declared
    // length at once: a huge `Content-Length` aborts the process. Such requests, those whose
    // framing cannot be trusted, and those whose body could not be read whole in time, are
    // answered on a connection that is then abandoned: see `answer_and_abandon`. A body the
    // handler did not read (a refused request) is drained here, under the deadline, rather than
    // by tiny_http without one.
    let oversized = request.body_length.is_some_and(|n| n > max_body);
    let trusted = request.framing_error.is_none() && !oversized;
    let complete = !request.has_body()
        || body.complete
        || (trusted && !body.attempted && body.drain(max_body));
    let abandon = !trusted || !complete;
    let (written, abandoned) = if abandon {
        let (written, stream) = answer_and_abandon(rq, response, request.method == "HEAD");
        (written, Some(stream))
    } else {
        (rq.respond(to_tiny(response)), None)
    };
    log::info!(
        "{} {} {} {:.3}ms {}{bypassed}",
        request.method,
        request.path,
        status,
        started.elapsed().as_secs_f64() * 1000.0,
        request_id
    );
    if let Err(err) = written {
        log::debug!("request {request_id}: writing the response failed: {err}");
    }
    abandoned
}

/// The stream of an abandoned connection. It must never be dropped (tiny_http would drain the
/// body it may still hold); `Lanes` keeps it, and forgets it when done with it.
pub(super) type Abandoned = Box<dyn tiny_http::ReadWrite + Send>;

/// Answers with `Connection: close` and never drops the request's reader, so tiny_http never
/// drains (or misparses) the body. The cost, chosen over a process abort or a smuggled request:
/// the connection's tiny_http thread and its two descriptors stay blocked for the life of the
/// process. Only requests that declare a body over `--max-body`, or whose framing is broken,
/// take this path.
fn answer_and_abandon(
    rq: tiny_http::Request,
    response: Response,
    head: bool,
) -> (std::io::Result<()>, Abandoned) {
    let body = response.body.clone();
    let headers = to_tiny(Response {
        body: Vec::new(),
        ..response
    });
    // `upgrade` writes the status and headers without a body or a length; its protocol value is
    // written verbatim, which is how the length and `Connection: close` get into the head.
    let protocol = format!(
        "close\r\nConnection: close\r\nContent-Length: {}",
        body.len()
    );
    let mut stream = rq.upgrade(&protocol, headers);
    let result = if head {
        Ok(())
    } else {
        stream.write_all(&body)
    }
    .and_then(|()| stream.flush());
    (result, stream)
}

/// Converts a tiny_http request, checking the body's framing on the way.
fn to_wire(rq: &tiny_http::Request) -> Request {
    let url = rq.url();
    let (path, query) = url.split_once('?').unwrap_or((url, ""));
    let headers: Vec<(String, String)> = rq
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_string(),
                h.value.as_str().to_string(),
            )
        })
        .collect();
    let values = |name: &str| -> Vec<&str> {
        headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    };
    let lengths = values("content-length");
    let encodings = values("transfer-encoding");
    let framing_error = match (lengths.as_slice(), encodings.as_slice()) {
        (_, [_, _, ..]) => Some("Only one Transfer-Encoding header is allowed."),
        ([_, ..], [_]) => Some("Content-Length and Transfer-Encoding must not both be sent."),
        (_, [te]) if !te.trim().eq_ignore_ascii_case("chunked") => {
            Some("The only supported Transfer-Encoding is chunked.")
        }
        ([_, _, ..], _) => Some("Only one Content-Length header is allowed."),
        ([len], _) if len.is_empty() || !len.bytes().all(|b| b.is_ascii_digit()) => {
            Some("Content-Length must be a number of bytes.")
        }
        ([_], _) if rq.body_length().is_none() => Some("Content-Length is out of range."),
        _ => None,
    };
    Request {
        method: rq.method().as_str().to_ascii_uppercase(),
        path: path.to_string(),
        query: query.to_string(),
        body_length: rq.body_length(),
        chunked: !encodings.is_empty(),
        framing_error,
        headers,
    }
}

fn to_tiny(response: Response) -> tiny_http::Response<Cursor<Vec<u8>>> {
    let headers = response
        .headers
        .iter()
        .filter_map(|(name, value)| {
            // Defence in depth: a header value never carries control characters (CR/LF would be
            // header injection, which tiny_http writes raw).
            if value.bytes().any(|b| b.is_ascii_control()) {
                let clean: String = value.chars().filter(|c| !c.is_control()).collect();
                tiny_http::Header::from_bytes(name.as_bytes(), clean.as_bytes()).ok()
            } else {
                tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).ok()
            }
        })
        .collect();
    let len = response.body.len();
    tiny_http::Response::new(
        tiny_http::StatusCode(response.status),
        headers,
        Cursor::new(response.body),
        Some(len),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_values_lose_control_characters() {
        let mut response = Response::empty(200);
        response.header("X-A", "one\r\nX-Injected: yes".to_string());
        response.header("X-B", "plain".to_string());
        let tiny = to_tiny(response);
        let values: Vec<String> = tiny
            .headers()
            .iter()
            .map(|h| h.value.as_str().to_string())
            .collect();
        assert!(
            values.contains(&"oneX-Injected: yes".to_string()),
            "{values:?}"
        );
        assert!(values.contains(&"plain".to_string()));
    }
}
