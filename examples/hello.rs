//! Bench-only: a bare tiny_http hello-world server, the ceiling `make bench` compares against.
//! Same worker model as the product (N threads on one `Arc<Server>`), no routing, no database.
//! Usage: hello [--port N] [--workers N]; prints `listening on http://HOST:PORT` first.

use std::io::Write;
use std::sync::Arc;

fn main() {
    let mut args = pico_args::Arguments::from_env();
    let port: u16 = args
        .opt_value_from_str("--port")
        .ok()
        .flatten()
        .unwrap_or(0);
    let workers: usize = args
        .opt_value_from_str("--workers")
        .ok()
        .flatten()
        .unwrap_or(8);
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).expect("bind");
    listener.set_nonblocking(false).expect("blocking listener");
    let addr = listener.local_addr().expect("local address");
    let server = Arc::new(tiny_http::Server::from_listener(listener, None).expect("server"));
    println!("listening on http://{addr}");
    std::io::stdout().flush().expect("stdout");
    let threads: Vec<_> = (0..workers)
        .map(|_| {
            let server = server.clone();
            std::thread::spawn(move || {
                while let Ok(rq) = server.recv() {
                    let _ = rq.respond(tiny_http::Response::from_string("hello"));
                }
            })
        })
        .collect();
    for t in threads {
        let _ = t.join();
    }
}
