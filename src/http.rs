//! The HTTP boundary: the only module that names tiny_http.
//!
//! It builds the listening socket (so socket options reach every accepted connection), runs the
//! worker threads that share one `Arc<tiny_http::Server>`, converts requests and responses to and
//! from the product's `wire` types, isolates each request (a panic is a 500 for that request
//! only) and writes the access log. It knows nothing of routes, SQL or maintenance.

use crate::app::{App, Worker};
use crate::error::ApiError;
use crate::wire::{BodyError, BodySource, Request, Response};
use socket2::{Domain, Protocol, Socket, Type};
use std::io::{Cursor, Read};
use std::net::{SocketAddr, TcpListener};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a write to a client may block before the connection is given up.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);

/// Binds the listening socket with the options accepted sockets inherit on Linux:
/// `TCP_NODELAY` (without it every response over ~1 KiB stalls ~40 ms on keep-alive) and a send
/// timeout (a client that never reads pins a worker for that long, not forever).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.set_write_timeout(Some(SEND_TIMEOUT))?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// A running HTTP server: the tiny_http server and its workers.
pub struct HttpServer {
    server: Arc<tiny_http::Server>,
    workers: Vec<JoinHandle<()>>,
    stopping: Arc<AtomicBool>,
}

impl HttpServer {
    /// Starts `count` workers serving `app` on the listener.
    pub fn start(
        listener: TcpListener,
        app: Arc<App>,
        count: usize,
    ) -> std::io::Result<HttpServer> {
        let server = tiny_http::Server::from_listener(listener, None)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let server = Arc::new(server);
        let stopping = Arc::new(AtomicBool::new(false));
        let ids = Arc::new(RequestIds::new());
        let mut workers = Vec::with_capacity(count);
        for i in 0..count {
            let (server, app, stopping, ids) =
                (server.clone(), app.clone(), stopping.clone(), ids.clone());
            let handle = std::thread::Builder::new()
                .name(format!("worker-{i}"))
                .spawn(move || work(&server, &app, &stopping, &ids))?;
            workers.push(handle);
        }
        Ok(HttpServer {
            server,
            workers,
            stopping,
        })
    }

    /// Stops taking new requests, lets the workers finish what they hold (and what is already
    /// queued), and waits for them up to `grace`. Returns false when some were still busy.
    pub fn shutdown(self, grace: Duration) -> bool {
        self.stopping.store(true, Ordering::SeqCst);
        for _ in &self.workers {
            self.server.unblock();
        }
        let deadline = Instant::now() + grace;
        let mut all = true;
        for handle in self.workers {
            while !handle.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
            }
            if handle.is_finished() {
                let _ = handle.join();
            } else {
                all = false;
            }
        }
        all
    }
}

/// Request ids: a per-process prefix from the start time and a counter.
struct RequestIds {
    prefix: u32,
    next: AtomicU64,
}

impl RequestIds {
    fn new() -> RequestIds {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos() ^ (d.as_secs() as u32));
        RequestIds {
            prefix: nanos ^ std::process::id().rotate_left(16),
            next: AtomicU64::new(1),
        }
    }

    fn next(&self) -> String {
        format!(
            "{:08x}-{:06x}",
            self.prefix,
            self.next.fetch_add(1, Ordering::Relaxed)
        )
    }
}

fn work(server: &tiny_http::Server, app: &App, stopping: &AtomicBool, ids: &RequestIds) {
    let mut worker = Worker::default();
    loop {
        let rq = match server.recv() {
            Ok(rq) => rq,
            Err(err) => {
                if stopping.load(Ordering::SeqCst) {
                    return;
                }
                log::warn!("receiving a request failed: {err}");
                continue;
            }
        };
        serve(rq, app, &mut worker, ids);
    }
}

/// Reads a tiny_http request's body on demand.
struct TinyBody<'a>(&'a mut tiny_http::Request);

impl BodySource for TinyBody<'_> {
    fn read_body(&mut self, limit: usize) -> Result<Vec<u8>, BodyError> {
        let mut buf = Vec::new();
        let cap = limit as u64 + 1;
        self.0
            .as_reader()
            .take(cap)
            .read_to_end(&mut buf)
            .map_err(BodyError::Io)?;
        if buf.len() > limit {
            return Err(BodyError::TooLarge);
        }
        Ok(buf)
    }
}

fn serve(mut rq: tiny_http::Request, app: &App, worker: &mut Worker, ids: &RequestIds) {
    let started = Instant::now();
    let request_id = ids.next();
    let request = to_wire(&rq);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        app.handle(worker, &request, &mut TinyBody(&mut rq), &request_id)
    }));
    let response = outcome.unwrap_or_else(|_| {
        // The panic message was already printed by the hook; the connection may be mid-transaction.
        worker.reset();
        log::error!(
            "request {request_id} {} {}: handler panicked",
            request.method,
            request.path
        );
        ApiError::Internal("handler panicked".into()).into_response(&request_id)
    });
    let status = response.status;
    let written = rq.respond(to_tiny(response));
    log::info!(
        "{} {} {} {:.3}ms {}",
        request.method,
        request.path,
        status,
        started.elapsed().as_secs_f64() * 1000.0,
        request_id
    );
    if let Err(err) = written {
        log::debug!("request {request_id}: writing the response failed: {err}");
    }
}

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
    let chunked = headers
        .iter()
        .any(|(n, _)| n.eq_ignore_ascii_case("transfer-encoding"));
    Request {
        method: rq.method().as_str().to_ascii_uppercase(),
        path: path.to_string(),
        query: query.to_string(),
        headers,
        body_length: rq.body_length(),
        chunked,
    }
}

fn to_tiny(response: Response) -> tiny_http::Response<Cursor<Vec<u8>>> {
    let headers = response
        .headers
        .iter()
        .filter_map(|(name, value)| {
            // Defence in depth: a header value never carries control characters (CR/LF would be
            // header injection, which tiny_http writes raw).
            let clean: String = value.chars().filter(|c| !c.is_control()).collect();
            tiny_http::Header::from_bytes(name.as_bytes(), clean.as_bytes()).ok()
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
