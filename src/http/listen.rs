//! The listening socket: bound here, or adopted from a service manager, with the options the
//! sockets it accepts inherit (timeouts, `TCP_NODELAY`).

use socket2::{Domain, Protocol, Socket, Type};
use std::net::{SocketAddr, TcpListener};
use std::time::Duration;

/// How long a write to a client may block before the connection is given up.
pub(super) const SEND_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a read from a client may wait for a byte: idle keep-alive connections, slow headers
/// and slow bodies are cut after this much silence.
pub(super) const READ_TIMEOUT: Duration = Duration::from_secs(15);

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
