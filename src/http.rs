//! The HTTP boundary: the only module that names tiny_http.
//!
//! It builds the listening socket, or adopts one inherited from a service manager (so socket
//! options reach every accepted connection), stops accepting at shutdown, runs the
//! worker threads that share one `Arc<tiny_http::Server>`, converts requests and responses to and
//! from the product's `wire` types, and writes the access log. It knows nothing of routes, SQL or
//! maintenance. When it can no longer accept connections it says so through `Fatal` and leaves
//! stopping to its caller.

use crate::api::{App, Session};
use crate::wire::{BodyError, BodySource, Request, Response};
use socket2::{Domain, Protocol, Socket, Type};
use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::io::{Cursor, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How long a write to a client may block before the connection is given up.
const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a read from a client may wait for a byte: idle keep-alive connections, slow headers
/// and slow bodies are cut after this much silence.
const READ_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a request body may take to arrive, all of it.
const BODY_DEADLINE: Duration = Duration::from_secs(10);
/// How often the keeper connects to the server itself. Must stay well below `READ_TIMEOUT`:
/// the listener has that receive timeout too, and tiny_http's accept loop dies if `accept()`
/// ever waits that long.
const KEEPER_TICK: Duration = Duration::from_millis(250);
/// How many of its own connections the keeper holds open (see `start_keeper`): twice the four threads
/// tiny_http's pool starts with, since some of the first connections may get new threads while
/// those four are still starting.
const KEEPER_CONNECTIONS: usize = 8;

/// Binds the listening socket with the options accepted sockets inherit on Linux (see
/// `set_options`).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    set_options(&socket)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

/// Makes a listening socket inherited from a service manager (systemd's socket activation, fd 3)
/// ready to serve: checks that it is a listening TCP stream socket and sets the options `bind`
/// sets, so the connections it accepts behave the same. The error says what is wrong with it.
pub fn adopt(listener: TcpListener) -> Result<TcpListener, String> {
    let socket = Socket::from(listener);
    match socket.r#type() {
        Ok(ty) if ty == Type::STREAM => {}
        Ok(_) => return Err("the inherited socket (fd 3) is not a stream socket".into()),
        Err(e) => return Err(format!("cannot inspect the inherited socket (fd 3): {e}")),
    }
    match socket.is_listener() {
        Ok(true) => {}
        Ok(false) => {
            return Err("the inherited socket (fd 3) is a TCP socket that is not listening".into())
        }
        Err(e) => return Err(format!("cannot inspect the inherited socket (fd 3): {e}")),
    }
    // A previous server on this socket made it non-blocking to end its accept loop (see
    // `stop_accepting`); the flag belongs to the socket's open file, which every holder shares.
    socket
        .set_nonblocking(false)
        .and_then(|()| set_options(&socket))
        .map_err(|e| format!("cannot set the options of the inherited socket (fd 3): {e}"))?;
    Ok(socket.into())
}

/// The listening socket's options, inherited on Linux by the sockets it accepts:
/// `TCP_NODELAY` (without it every response over ~1 KiB stalls ~40 ms on keep-alive), a send
/// timeout (a client that never reads pins a worker for that long, not forever) and a receive
/// timeout (idle and trickling clients are cut; the keeper makes `accept()` return often enough
/// that the listener itself never times out).
fn set_options(socket: &Socket) -> std::io::Result<()> {
    socket.set_tcp_nodelay(true)?;
    socket.set_write_timeout(Some(SEND_TIMEOUT))?;
    socket.set_read_timeout(Some(READ_TIMEOUT))?;
    // A peer that stops acknowledging (or reading, leaving a zero window) is dropped after this
    // long, so later writes to it fail at once instead of each waiting for `SEND_TIMEOUT`.
    socket.set_tcp_user_timeout(Some(SEND_TIMEOUT))
}

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

/// How far stopping has gone; shared by `shutdown`, the workers and the keeper.
#[derive(Default)]
struct Stopping {
    /// Set first: the keeper stops, and workers no longer wait for requests without a bound.
    requested: AtomicBool,
    /// When tiny_http's accept loop was known to have ended (or was no longer waited for):
    /// from then on no new connection reaches this process.
    accept_ended: OnceLock<Instant>,
    /// On a socket of our own: the requests tiny_http had queued when stopping began. The
    /// workers serve these and take nothing more from tiny_http (`HttpServer::shutdown`).
    queued: Mutex<VecDeque<tiny_http::Request>>,
}

impl Stopping {
    fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    fn end_accept(&self) {
        let _ = self.accept_ended.set(Instant::now());
    }

    fn accept_ended(&self) -> Option<Instant> {
        self.accept_ended.get().copied()
    }

    fn take_queued(&self) -> Option<tiny_http::Request> {
        self.queued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
    }
}

/// After the accept loop of a shared socket ended, how long the workers wait for one more
/// request from a connection accepted just before it (its client may not have sent it yet).
const LINGER: Duration = Duration::from_millis(200);
/// How long after the accept loop ended workers go on serving the connections already
/// accepted: a keep-alive client that never pauses is cut then, and reconnects to the queue.
const LINGER_MAX: Duration = Duration::from_secs(2);
/// How long a worker waits for a request before it looks whether the server is stopping.
const IDLE_POLL: Duration = Duration::from_millis(100);
/// How long `shutdown` waits for the accept loop of a shared socket to end.
const ACCEPT_END_WAIT: Duration = Duration::from_secs(2);

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
        let mut workers = Vec::with_capacity(count);
        for i in 0..count {
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
            };
            let handle = std::thread::Builder::new()
                .name(format!("worker-{i}"))
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

/// Ends tiny_http's accept loop on a shared listening socket without taking anything from its
/// queue: `accept()` on a non-blocking socket fails with `WouldBlock` once the queue is empty,
/// and tiny_http then ends the loop and hands the error to a worker, which marks the end.
///
/// `O_NONBLOCK` belongs to the socket's open file, so the service manager and the next server
/// see it too: the next server clears it when it adopts the socket (`adopt`), a service manager
/// only polls the socket, and accepted sockets do not inherit it.
fn stop_accepting(listener: &TcpListener, target: SocketAddr, stopping: &Stopping) {
    log::info!(
        "leaving new connections in the shared socket's queue for the next server (tiny_http \
         logs the end of its accept loop as an error)"
    );
    if let Err(e) = listener.set_nonblocking(true) {
        log::warn!("cannot make the listening socket non-blocking to stop accepting: {e}");
        stopping.end_accept();
        return;
    }
    // The accept thread may already be blocked in accept(), which the flag does not wake: one
    // connection of ours does. Should the thread not be waiting, this connection stays in the
    // queue and the next server reads end-of-file on it at once.
    if let Err(e) = TcpStream::connect_timeout(&target, Duration::from_secs(1)) {
        log::debug!("waking the accept loop: {e}");
    }
    let until = Instant::now() + ACCEPT_END_WAIT;
    while stopping.accept_ended().is_none() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(5));
    }
    if stopping.accept_ended().is_none() {
        log::warn!("tiny_http's accept loop did not end within {ACCEPT_END_WAIT:?}");
    } else {
        log::info!("stopped accepting: new connections wait in the shared socket's queue");
    }
    stopping.end_accept();
}

/// The address the keeper connects to: the listening one, on loopback when that is a wildcard.
fn keeper_target(local: SocketAddr) -> SocketAddr {
    match local {
        SocketAddr::V4(a) if a.ip().is_unspecified() => {
            SocketAddr::from(([127, 0, 0, 1], a.port()))
        }
        SocketAddr::V6(a) if a.ip().is_unspecified() => {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, a.port()))
        }
        other => other,
    }
}

/// Starts the keeper: a thread that connects to the server itself, which contains three tiny_http
/// failure modes from outside the crate.
///
/// - Every tick it opens a new connection, so `accept()` returns well within the listener's
///   receive timeout. If that connection is refused, tiny_http's accept loop has died (its
///   listener is closed): it tells `fatal`, so the server stops and exits non-zero for a
///   supervisor to restart it.
/// - It keeps the last `KEEPER_CONNECTIONS` of these connections open and closes the oldest
///   each tick. At start they occupy the pool's idle threads, so new clients get threads of their own; later, the thread freed each tick
///   picks up any connection that tiny_http's lost wake-up left queued, so none waits for more
///   than about a tick.
fn start_keeper(
    target: SocketAddr,
    stopping: Arc<Stopping>,
    fatal: Fatal,
) -> std::io::Result<JoinHandle<()>> {
    // A connection is only known to hold a pool thread once a request on it was answered;
    // one at a time, so no two of them can meet the lost wake-up together.
    let mut held = VecDeque::new();
    for _ in 0..KEEPER_CONNECTIONS {
        let mut stream = keeper_connect(target)?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        let mut answer = [0u8; 512];
        let answered = stream
            .write_all(b"GET /server/ping HTTP/1.1\r\nHost: keeper\r\n\r\n")
            .and_then(|()| stream.read(&mut answer));
        if let Err(err) = answered {
            log::warn!("keeper: no answer on a start-up connection: {err}");
        }
        held.push_back(stream);
    }
    std::thread::Builder::new()
        .name("keeper".into())
        .spawn(move || keep(target, held, &stopping, &fatal))
}

fn keeper_connect(target: SocketAddr) -> std::io::Result<TcpStream> {
    TcpStream::connect_timeout(&target, Duration::from_secs(5))
}

fn keep(target: SocketAddr, mut held: VecDeque<TcpStream>, stopping: &Stopping, fatal: &Fatal) {
    while !stopping.requested() {
        std::thread::sleep(KEEPER_TICK);
        // Close the oldest first and connect right after, so the pool thread it frees (which
        // also picks up any connection the lost wake-up left queued) is idle for a moment only.
        // Each connection lives a few ticks, far less than the read timeout.
        held.pop_front();
        std::thread::sleep(Duration::from_millis(2));
        match keeper_connect(target) {
            Ok(stream) => held.push_back(stream),
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionRefused => {
                if stopping.requested() {
                    return;
                }
                fatal(format!(
                    "the server no longer accepts connections on {target} (tiny_http's accept \
                     loop died)"
                ));
                return;
            }
            Err(err) => log::warn!("keeper: connecting to {target} failed: {err}"),
        }
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
            next = match peer {
                Some(peer) if abandoned => {
                    self.lanes.abandon(peer);
                    None
                }
                Some(peer) => self.lanes.release(peer),
                None => None,
            };
        }
    }
}

/// One lane per connection: at most one worker serves a connection at a time.
///
/// tiny_http answers pipelined requests strictly in order, and a worker holding request k+1
/// waits, without a timeout, until request k's answer is written. A client that pipelines
/// thousands of requests and never reads would park every worker that way. Instead, a request
/// whose connection is already being served is queued behind it, and the worker serving the
/// connection takes the queued ones in turn.
///
/// A connection whose framing could not be trusted is abandoned: what it sent after the bad
/// request (perhaps a smuggled request) is never served. Its requests are leaked, not dropped,
/// since dropping one makes tiny_http write an answer and drain the body.
#[derive(Default)]
struct Lanes {
    inner: Mutex<LaneMap>,
}

#[derive(Default)]
struct LaneMap {
    busy: HashMap<SocketAddr, VecDeque<tiny_http::Request>>,
    abandoned: HashMap<SocketAddr, Instant>,
}

/// How long requests from an abandoned connection's address are ignored. Longer than the read
/// timeout, so an idle abandoned connection is closed before its address can be served again.
const ABANDONED_FOR: Duration = Duration::from_secs(60);

impl Lanes {
    fn lock(&self) -> std::sync::MutexGuard<'_, LaneMap> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Claims the request's connection for this worker, or queues the request behind the one
    /// in service (or ignores it, on an abandoned connection) and returns `None`.
    fn claim(&self, rq: tiny_http::Request) -> Option<tiny_http::Request> {
        let Some(peer) = rq.remote_addr().copied() else {
            return Some(rq);
        };
        let mut lanes = self.lock();
        if let Some(since) = lanes.abandoned.get(&peer) {
            if since.elapsed() < ABANDONED_FOR {
                std::mem::forget(rq);
                return None;
            }
            lanes.abandoned.remove(&peer);
        }
        match lanes.busy.entry(peer) {
            Entry::Occupied(mut queued) => {
                queued.get_mut().push_back(rq);
                None
            }
            Entry::Vacant(lane) => {
                lane.insert(VecDeque::new());
                Some(rq)
            }
        }
    }

    /// After a request of `peer` was answered: the next one queued on its connection, or
    /// `None` once the lane is free.
    fn release(&self, peer: SocketAddr) -> Option<tiny_http::Request> {
        let mut lanes = self.lock();
        let next = lanes.busy.get_mut(&peer).and_then(VecDeque::pop_front);
        if next.is_none() {
            lanes.busy.remove(&peer);
        }
        next
    }

    /// Ignores everything else the connection sent or will send.
    fn abandon(&self, peer: SocketAddr) {
        let mut lanes = self.lock();
        for rq in lanes.busy.remove(&peer).into_iter().flatten() {
            std::mem::forget(rq);
        }
        lanes
            .abandoned
            .retain(|_, since| since.elapsed() < ABANDONED_FOR);
        lanes.abandoned.insert(peer, Instant::now());
    }
}

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

/// Serves one request; returns true when its connection was abandoned.
fn serve(
    mut rq: tiny_http::Request,
    app: &App,
    session: &mut Session,
    ids: &RequestIds,
    max_body: usize,
) -> bool {
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
    let written = if abandon {
        answer_and_abandon(rq, response, request.method == "HEAD")
    } else {
        rq.respond(to_tiny(response))
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
    abandon
}

/// Answers with `Connection: close` and never drops the request's reader, so tiny_http never
/// drains (or misparses) the body. The cost, chosen over a process abort or a smuggled request:
/// the connection's tiny_http thread and its two descriptors stay blocked for the life of the
/// process. Only requests that declare a body over `--max-body`, or whose framing is broken,
/// take this path.
fn answer_and_abandon(
    rq: tiny_http::Request,
    response: Response,
    head: bool,
) -> std::io::Result<()> {
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
    std::mem::forget(stream);
    result
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
