//! How far stopping has gone, and the end of tiny_http's accept loop on a socket shared with
//! other processes (socket activation), which must leave that socket's queue alone.

use std::collections::VecDeque;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How long `stop_accepting` waits for the accept loop of a shared socket to end.
pub(super) const ACCEPT_END_WAIT: Duration = Duration::from_secs(2);

/// How far stopping has gone; shared by `shutdown`, the workers and the keeper.
#[derive(Default)]
pub(super) struct Stopping {
    /// Set first: the keeper stops, and workers no longer wait for requests without a bound.
    pub(super) requested: AtomicBool,
    /// When tiny_http's accept loop was known to have ended (or was no longer waited for):
    /// from then on no new connection reaches this process.
    accept_ended: OnceLock<Instant>,
    /// On a socket of our own: the requests tiny_http had queued when stopping began. The
    /// workers serve these and take nothing more from tiny_http (`HttpServer::shutdown`).
    pub(super) queued: Mutex<VecDeque<tiny_http::Request>>,
}

impl Stopping {
    pub(super) fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    pub(super) fn end_accept(&self) {
        let _ = self.accept_ended.set(Instant::now());
    }

    pub(super) fn accept_ended(&self) -> Option<Instant> {
        self.accept_ended.get().copied()
    }

    pub(super) fn take_queued(&self) -> Option<tiny_http::Request> {
        self.queued
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .pop_front()
    }
}

/// Ends tiny_http's accept loop on a shared listening socket without taking anything from its
/// queue: `accept()` on a non-blocking socket fails with `WouldBlock` once the queue is empty,
/// and tiny_http then ends the loop and hands the error to a worker, which marks the end.
///
/// `O_NONBLOCK` belongs to the socket's open file, so the service manager and the next server
/// see it too: the next server clears it when it adopts the socket (`adopt`), a service manager
/// only polls the socket, and accepted sockets do not inherit it.
pub(super) fn stop_accepting(listener: &TcpListener, target: SocketAddr, stopping: &Stopping) {
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
