//! The HTTP boundary: the only module that names tiny_http.
//!
//! `HttpServer` runs the worker threads that share one tiny_http server and stops them; the
//! files beside it hold one concern each: `listen` (the listening socket and the options its
//! connections inherit), `stop` (how far stopping has gone; ending the accept loop of a shared
//! socket), `keeper` (self-connections that contain tiny_http's accept-loop and pool failure
//! modes), `lanes` (one worker per connection at a time) and `convert` (one request: to and
//! from the `wire` types, its body read within a deadline, the access log). It knows no SQL and
//! no maintenance, and one route only: the keeper's start-up connections send
//! `GET /server/ping`. When it can no longer accept connections it says so through `Fatal` and
//! leaves stopping to its caller.

use crate::api::{App, Session};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

mod convert;
mod keeper;
mod lanes;
mod listen;
mod stop;

pub use listen::{adopt, bind};

use convert::serve;
use keeper::{keeper_target, start_keeper};
use lanes::Lanes;
use stop::{stop_accepting, Stopping, ACCEPT_END_WAIT};

/// Called when the server can no longer accept connections (tiny_http's accept loop died), with
/// what happened. The caller stops the server: no thread here ends the process.
pub type Fatal = Arc<dyn Fn(String) + Send + Sync>;

/// A running HTTP server: the tiny_http server and its workers.
pub struct HttpServer {
    /// The one strong reference to the tiny_http server (workers hold weak ones and upgrade
    /// them only while they wait for a request): dropping it ends tiny_http's accept loop,
    /// which closes the listening socket.
    server: Option<Arc<tiny_http::Server>>,
    workers: Vec<JoinHandle<()>>,
    stopping: Arc<Stopping>,
    /// Where the keeper connects (the listening address, loopback for a wildcard one).
    target: SocketAddr,
    /// A second descriptor of a listening socket shared with other processes (socket
    /// activation), kept to end tiny_http's accept loop at stop (`stop_accepting`).
    shared: Option<TcpListener>,
}

/// After the accept loop of a shared socket ended, how long the workers wait for one more
/// request from a connection accepted just before it (its client may not have sent it yet).
const LINGER: Duration = Duration::from_millis(200);
/// How long after the accept loop ended workers go on serving the connections already
/// accepted: a keep-alive client that never pauses is cut then, and reconnects to the queue.
const LINGER_MAX: Duration = Duration::from_secs(2);
/// How long a worker waits for a request before it looks whether the server is stopping.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// Relief workers per worker: threads that take requests only while writes wait for their
/// group commit (`App::relief_wanted`). A write holds its worker until its commit is durable,
/// so without them a group could never hold more writes than there are workers, and the
/// workers would all sit out every fsync. Without concurrent writes they sleep, so reads meet
/// only the workers (more threads taking reads cost reads about a tenth here).
const RELIEF_PER_WORKER: usize = 3;
/// At most this many relief workers (a group holds at most 64 writes).
const MAX_RELIEF: usize = 64;

impl HttpServer {
    /// Starts `count` workers serving `app` on the listener; `fatal` hears of a dead accept loop.
    /// `shared` says the listening socket is also held by other processes (socket activation):
    /// the connections waiting in its queue at stop are then left there for the next server.
    pub fn start(
        listener: TcpListener,
        shared: bool,
        app: Arc<App>,
        count: usize,
        fatal: Fatal,
    ) -> std::io::Result<HttpServer> {
        let local = listener.local_addr()?;
        // Only for a shared socket: on a socket of our own, an extra descriptor would keep it
        // open after tiny_http's accept thread dies, and the keeper notices that death by the
        // refused connection.
        let shared = if shared {
            Some(listener.try_clone()?)
        } else {
            None
        };
        let max_body = app.config.max_body;
        let server = tiny_http::Server::from_listener(listener, None)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let server = Arc::new(server);
        let stopping = Arc::new(Stopping::default());
        let linger = if shared.is_some() {
            LINGER
        } else {
            Duration::ZERO
        };
        let ids = Arc::new(RequestIds::new());
        let lanes = Arc::new(Lanes::default());
        let relief = (RELIEF_PER_WORKER * count).min(MAX_RELIEF);
        let mut workers = Vec::with_capacity(count + relief + 1);
        for i in 0..count + relief {
            let (server, app, stopping, ids, lanes, fatal) = (
                Arc::downgrade(&server),
                app.clone(),
                stopping.clone(),
                ids.clone(),
                lanes.clone(),
                fatal.clone(),
            );
            let worker = Worker {
                server,
                app,
                stopping,
                ids,
                lanes,
                max_body,
                linger,
                fatal,
                relief: i >= count,
            };
            let name = match i.checked_sub(count) {
                None => format!("worker-{i}"),
                Some(r) => format!("relief-{r}"),
            };
            let handle = std::thread::Builder::new()
                .name(name)
                .spawn(move || worker.work())?;
            workers.push(handle);
        }
        let target = keeper_target(local);
        // The keeper's connections must hold the pool's idle threads before any client arrives.
        workers.push(start_keeper(target, stopping.clone(), fatal)?);
        Ok(HttpServer {
            server: Some(server),
            workers,
            stopping,
            target,
            shared,
        })
    }

    /// Stops taking new requests, lets the workers finish what they hold (and what is already
    /// queued), and waits for them up to `grace`. Returns false when some were still busy.
    ///
    /// On a socket of its own it closes the listening socket at once, so a connection made
    /// after the signal is refused (SPEC §3: a write sent after SIGTERM never commits); the
    /// requests tiny_http had already queued are served, and nothing it queues later. On a
    /// shared socket it ends tiny_http's accept loop without closing the socket, so the
    /// connections that arrive from then on wait in the socket's queue for the next server
    /// instead of being accepted here and closed unanswered at exit, and it serves the
    /// connections already accepted a little longer (`LINGER`). It never calls `shutdown(2)`
    /// on the listening socket: that would reset the queue of every process holding it.
    pub fn shutdown(mut self, grace: Duration) -> bool {
        let deadline = Instant::now() + grace;
        self.stopping.requested.store(true, Ordering::SeqCst);
        match &self.shared {
            Some(listener) => stop_accepting(listener, self.target, &self.stopping),
            None => self.close_listener(),
        }
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

    /// Closes a listening socket of our own: takes what tiny_http has queued (for the workers
    /// to serve), wakes the workers waiting in `recv`, and drops the last strong reference to
    /// the tiny_http server, whose accept loop then ends and closes the socket. Logs once new
    /// connections are refused.
    ///
    /// A request that tiny_http queues between the signal and this drain is served as if it
    /// came before the signal: a window of microseconds, which no client can aim at.
    fn close_listener(&mut self) {
        let Some(server) = self.server.take() else {
            return;
        };
        {
            let mut queued = self
                .stopping
                .queued
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            loop {
                match server.try_recv() {
                    Ok(Some(rq)) => queued.push_back(rq),
                    Ok(None) => break,
                    // The accept loop ended on its own; the server is stopping anyway.
                    Err(_) => {}
                }
            }
        }
        // One wake-up per worker: each waiting in `recv` drops its reference and sees the stop.
        for _ in 0..self.workers.len() {
            server.unblock();
        }
        drop(server);
        self.stopping.end_accept();
        // tiny_http's accept loop ends on its next wake-up (the drop connects once); the socket
        // is closed when it has.
        let until = Instant::now() + ACCEPT_END_WAIT;
        loop {
            match TcpStream::connect_timeout(&self.target, Duration::from_millis(200)) {
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                    log::info!("stopped listening: new connections are refused");
                    return;
                }
                _ if Instant::now() >= until => {
                    log::warn!(
                        "the listening socket was still open {ACCEPT_END_WAIT:?} after the stop"
                    );
                    return;
                }
                _ => std::thread::sleep(Duration::from_millis(2)),
            }
        }
    }
}

/// Request ids: a per-process prefix from the start time and a counter.
pub(super) struct RequestIds {
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

    pub(super) fn next(&self) -> String {
        format!(
            "{:08x}-{:06x}",
            self.prefix,
            self.next.fetch_add(1, Ordering::Relaxed)
        )
    }
}

/// What a worker thread needs.
struct Worker {
    /// Upgraded only while waiting for a request, so that `HttpServer` can close the
    /// listening socket at stop while workers still serve what they hold.
    server: Weak<tiny_http::Server>,
    app: Arc<App>,
    stopping: Arc<Stopping>,
    ids: Arc<RequestIds>,
    lanes: Arc<Lanes>,
    max_body: usize,
    /// How long to wait for one more request once no new connection can arrive (`LINGER` on a
    /// shared socket, else nothing: the queue is all there is).
    linger: Duration,
    fatal: Fatal,
    /// A relief worker: it takes requests only while writes wait for their group.
    relief: bool,
}

impl Worker {
    fn work(&self) {
        let mut session = Session::default();
        loop {
            // Never an unbounded wait, so a worker sees `shutdown` start without an unblock
            // message: a worker already stopping would take unblocks meant for the others.
            let stopping = self.stopping.requested();
            if stopping && self.linger.is_zero() {
                // A socket of our own: what was queued at the stop, then nothing more.
                while let Some(rq) = self.stopping.take_queued() {
                    self.serve_lane(rq, &mut session);
                }
                return;
            }
            if self.relief && !stopping && !self.app.relief_wanted(IDLE_POLL) {
                continue;
            }
            let Some(server) = self.server.upgrade() else {
                return;
            };
            let wait = if stopping { self.linger } else { IDLE_POLL };
            let waited = Instant::now();
            let received = server.recv_timeout(wait);
            drop(server);
            match received {
                Ok(Some(rq)) => self.serve_lane(rq, &mut session),
                Ok(None) if stopping => {
                    if let Some(ended) = self.stopping.accept_ended() {
                        if waited.elapsed() >= wait || ended.elapsed() >= LINGER_MAX {
                            return;
                        }
                    }
                }
                Ok(None) => {}
                // While stopping, this is the end of the accept loop that `stop_accepting`
                // asked for.
                Err(_) if self.stopping.requested() => self.stopping.end_accept(),
                Err(err) => {
                    // Outside shutdown, tiny_http sends an error only when its accept loop
                    // ended: no request will come any more, so this worker is done.
                    (self.fatal)(format!("tiny_http's accept loop died ({err})"));
                    return;
                }
            }
        }
    }

    /// Serves the request and then every request queued behind it on its connection.
    fn serve_lane(&self, rq: tiny_http::Request, session: &mut Session) {
        let mut next = self.lanes.claim(rq);
        while let Some(rq) = next {
            let peer = rq.remote_addr().copied();
            let abandoned = serve(rq, &self.app, session, &self.ids, self.max_body);
            next = match (peer, abandoned) {
                (Some(peer), Some(stream)) => {
                    self.lanes.abandon(peer, stream);
                    None
                }
                (Some(peer), None) => self.lanes.release(peer),
                (None, abandoned) => {
                    // No address to key it by: kept for the life of the process.
                    std::mem::forget(abandoned);
                    None
                }
            };
        }
    }
}
