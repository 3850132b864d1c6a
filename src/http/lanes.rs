//! Lanes: one worker serves a connection at a time, and a connection whose framing could not be
//! trusted is never served again.

use super::convert::Abandoned;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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
pub(super) struct Lanes {
    inner: Mutex<LaneMap>,
}

#[derive(Default)]
struct LaneMap {
    busy: HashMap<SocketAddr, VecDeque<tiny_http::Request>>,
    /// Abandoned connections by peer address: when, and the stream (kept, never dropped).
    abandoned: HashMap<SocketAddr, (Instant, Abandoned)>,
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
    pub(super) fn claim(&self, rq: tiny_http::Request) -> Option<tiny_http::Request> {
        let Some(peer) = rq.remote_addr().copied() else {
            return Some(rq);
        };
        let mut lanes = self.lock();
        if let Some((since, stream)) = lanes.abandoned.get_mut(&peer) {
            if since.elapsed() < ABANDONED_FOR && still_open(stream) {
                std::mem::forget(rq);
                return None;
            }
            // Gone: this address is a new connection's (a client may reuse its port at once).
            if let Some((_, stream)) = lanes.abandoned.remove(&peer) {
                std::mem::forget(stream);
            }
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
    pub(super) fn release(&self, peer: SocketAddr) -> Option<tiny_http::Request> {
        let mut lanes = self.lock();
        let next = lanes.busy.get_mut(&peer).and_then(VecDeque::pop_front);
        if next.is_none() {
            lanes.busy.remove(&peer);
        }
        next
    }

    /// Ignores everything else the connection sent or will send.
    pub(super) fn abandon(&self, peer: SocketAddr, stream: Abandoned) {
        let mut lanes = self.lock();
        for rq in lanes.busy.remove(&peer).into_iter().flatten() {
            std::mem::forget(rq);
        }
        let expired: Vec<SocketAddr> = lanes
            .abandoned
            .iter()
            .filter(|(_, (since, _))| since.elapsed() >= ABANDONED_FOR)
            .map(|(peer, _)| *peer)
            .collect();
        for old in expired.into_iter().chain([peer]) {
            if let Some((_, stream)) = lanes.abandoned.remove(&old) {
                std::mem::forget(stream);
            }
        }
        lanes.abandoned.insert(peer, (Instant::now(), stream));
    }
}

/// Whether an abandoned connection is still there, so that a request from its address is its
/// (perhaps smuggled) next request, not a new connection's from a reused port. Probed with an
/// empty line, which an HTTP client ignores before a status line (RFC 9112, 2.2) and which
/// fails at once on a connection the peer has reset: a client that reuses its port resets the
/// old connection's server side when its new `SYN` meets it.
fn still_open(stream: &mut Abandoned) -> bool {
    use std::io::Write;
    stream
        .write_all(b"\r\n")
        .and_then(|()| stream.flush())
        .is_ok()
}
