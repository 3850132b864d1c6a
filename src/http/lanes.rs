//! Lanes: one worker serves a connection at a time, and a connection whose framing could not be
//! trusted is never served again.

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
    pub(super) fn claim(&self, rq: tiny_http::Request) -> Option<tiny_http::Request> {
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
    pub(super) fn release(&self, peer: SocketAddr) -> Option<tiny_http::Request> {
        let mut lanes = self.lock();
        let next = lanes.busy.get_mut(&peer).and_then(VecDeque::pop_front);
        if next.is_none() {
            lanes.busy.remove(&peer);
        }
        next
    }

    /// Ignores everything else the connection sent or will send.
    pub(super) fn abandon(&self, peer: SocketAddr) {
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
