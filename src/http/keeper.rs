//! The keeper: a thread that connects to the server itself, with which three of tiny_http's
//! failure modes are contained from outside the crate (see `start_keeper`). It is the one place
//! here that names a route: its start-up connections send `GET /server/ping`.

use super::stop::Stopping;
use super::Fatal;
use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// How often the keeper connects to the server itself. Must stay well below `READ_TIMEOUT`:
/// the listener has that receive timeout too, and tiny_http's accept loop dies if `accept()`
/// ever waits that long.
const KEEPER_TICK: Duration = Duration::from_millis(250);
/// How many of its own connections the keeper holds open (see `start_keeper`): twice the four threads
/// tiny_http's pool starts with, since some of the first connections may get new threads while
/// those four are still starting.
const KEEPER_CONNECTIONS: usize = 8;

/// The address the keeper connects to: the listening one, on loopback when that is a wildcard.
pub(super) fn keeper_target(local: SocketAddr) -> SocketAddr {
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
pub(super) fn start_keeper(
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
