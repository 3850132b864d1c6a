//! Hostile clients, crashes and shutdown against the real server binary. Each attack is followed
//! by a check that the process is alive and a normal request is answered within 2 s (a hang
//! detector with a generous margin; nothing here measures speed).

use crate::common::{self, seed, Client, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The process lives and a fresh connection gets `pong` within 5 s (a hang detector).
fn assert_serving(s: &mut Server, after: &str) {
    assert!(
        s.alive(),
        "the server died after {after}; stderr:\n{}",
        s.stderr()
    );
    let mut c = Client::connect(s.addr);
    c.stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    c.send_raw(b"GET /server/ping HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = c
        .try_read_response(false)
        .unwrap_or_else(|e| panic!("no answer within 5 s after {after}: {e}"));
    assert_eq!(r.text(), "pong", "after {after}");
}

/// Sends raw bytes on a new connection and reads one answer, if any comes within 10 s.
fn raw(s: &Server, bytes: &[u8]) -> std::io::Result<common::Resp> {
    let mut c = Client::connect(s.addr);
    c.stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let _ = c.stream.write_all(bytes);
    c.try_read_response(false)
}

fn post_head(len: &str) -> Vec<u8> {
    format!("POST /items/a HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {len}\r\n\r\n")
        .into_bytes()
}

#[test]
fn single_requests_cannot_kill_or_wedge_the_server() {
    let mut s = Server::start(&["--max-body", "65536"]);
    seed(&s, "a", r#"{"t":"x"}"#);
    let nested = format!("{}{}", "[".repeat(30_000), "]".repeat(30_000));
    let mut deep_filter = String::from("/items/a?filter=");
    deep_filter.push_str(&"%7B%22_and%22%3A%5B".repeat(500));
    let big_header = format!(
        "GET /server/ping HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(1 << 20)
    );
    let mut many_headers = String::from("GET /server/ping HTTP/1.1\r\nHost: x\r\n");
    for i in 0..10_000 {
        many_headers.push_str(&format!("X-H{i}: {i}\r\n"));
    }
    many_headers.push_str("\r\n");
    let mut over_limit = post_head("10000000");
    over_limit.extend(vec![b'x'; 65_536]);
    let mut nested_post = post_head(&nested.len().to_string());
    nested_post.extend(nested.as_bytes());
    // (what, the request's bytes, expected status, expected code or "" for none), a line each.
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("Content-Length 10^12, no body", post_head("1000000000000"), 413, "CONTENT_TOO_LARGE"),
        ("Content-Length 10^12 on a GET", b"GET /items/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\n".to_vec(), 200, ""),
        ("Content-Length u64::MAX", post_head("18446744073709551615"), 413, "CONTENT_TOO_LARGE"),
        ("Content-Length u64::MAX on an unknown route", b"GET /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551615\r\n\r\n".to_vec(), 404, "ROUTE_NOT_FOUND"),
        ("duplicated Content-Length", b"POST /items/a HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 40\r\n\r\n{}".to_vec(), 400, "INVALID_PAYLOAD"),
        ("unparsable Content-Length", post_head("12abc"), 400, "INVALID_PAYLOAD"),
        ("negative Content-Length", post_head("-1"), 400, "INVALID_PAYLOAD"),
        ("Content-Length with a smuggled request", b"POST /items/a HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\nDELETE /collections/a HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 400, "INVALID_PAYLOAD"),
        ("Transfer-Encoding gzip", b"POST /items/a HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip\r\n\r\n".to_vec(), 400, "INVALID_PAYLOAD"),
        ("Transfer-Encoding and Content-Length", b"POST /items/a HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n".to_vec(), 400, "INVALID_PAYLOAD"),
        ("body over --max-body, mostly unsent", over_limit, 413, "CONTENT_TOO_LARGE"),
        ("1 MB header line", big_header.into_bytes(), 200, ""),
        ("10,000 headers", many_headers.into_bytes(), 200, ""),
        ("bad percent-encoding in the path", b"GET /items/%E0%A4%A HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 403, "FORBIDDEN"),
        ("bad percent-encoding in the query", b"GET /items/a?limit=%FF HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 400, "INVALID_QUERY"),
        ("deeply nested JSON body", nested_post, 400, "INVALID_PAYLOAD"),
        ("deeply nested filter", format!("GET {deep_filter} HTTP/1.1\r\nHost: x\r\n\r\n").into_bytes(), 400, "INVALID_QUERY"),
        ("unknown method", b"FROB /items/a HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(), 405, "METHOD_NOT_ALLOWED"),
    ];
    for (what, bytes, status, code) in cases {
        let r = raw(&s, &bytes)
            .unwrap_or_else(|e| panic!("{what}: no answer ({e}); log: {}", s.stderr()));
        assert_eq!(r.status, status, "{what}: {}", r.text());
        if !code.is_empty() {
            assert_eq!(r.try_code().as_deref(), Some(code), "{what}: {}", r.text());
        }
        assert_serving(&mut s, what);
    }
    // Requests tiny_http rejects before our code runs get no Directus answer, but never hurt.
    #[rustfmt::skip]
    let rejected: [(&str, &[u8]); 3] = [
        ("invalid UTF-8 in the path", b"GET /items/\xff\xfe HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("invalid UTF-8 in a header", b"GET /items/a HTTP/1.1\r\nHost: \xff\r\n\r\n"),
        ("garbage request line", b"\x00\x01\x02 nonsense\r\n\r\n"),
    ];
    for (what, bytes) in rejected {
        if let Ok(r) = raw(&s, bytes) {
            assert!(r.status == 400 || r.status > 500, "{what}: {}", r.status);
        }
        assert_serving(&mut s, what);
    }
    // Nothing above changed the data.
    assert_eq!(s.get("/items/a?fields=id").ids(), vec![1]);
}

#[test]
fn an_abandoned_connection_answers_once_and_says_close() {
    let s = Server::start(&[]);
    let mut c = Client::connect(s.addr);
    c.send_raw(&post_head("1000000000000"));
    let r = c.read_response(false);
    assert_eq!(r.status, 413);
    assert!(r.says_close(), "{:?}", r.headers);
    assert_eq!(
        r.header("content-length"),
        Some(r.body.len().to_string().as_str())
    );
}

#[test]
fn slow_and_idle_clients_do_not_starve_others() {
    let mut s = Server::start(&[]);
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(TcpStream::connect(s.addr).unwrap());
    }
    let stop = Arc::new(AtomicBool::new(false));
    let mut slow = Vec::new();
    // 50 slowloris connections (headers a byte at a time) and 2 that trickle a body (fewer
    // than the workers: each holds one for at most the body deadline).
    for i in 0..52 {
        let mut c = TcpStream::connect(s.addr).unwrap();
        let (head, trickle): (&[u8], &[u8]) = if i < 50 {
            (
                b"",
                b"GET /server/ping HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            )
        } else {
            (
                b"POST /collections HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n",
                b"{\"collection\":\"",
            )
        };
        c.write_all(head).unwrap();
        let trickle = trickle.to_vec();
        let stop = stop.clone();
        slow.push(std::thread::spawn(move || {
            for b in trickle.iter().chain(std::iter::repeat(&b'a')).take(400) {
                if stop.load(Ordering::SeqCst) || c.write_all(&[*b]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }));
    }
    for i in 0..40 {
        assert_serving(&mut s, &format!("slow and idle clients ({i})"));
        let r = s.json(
            "POST",
            "/collections",
            &format!(r#"{{"collection":"c{i}"}}"#),
        );
        assert_eq!(r.status, 200);
    }
    stop.store(true, Ordering::SeqCst);
    for t in slow {
        t.join().unwrap();
    }
    drop(idle);
}

#[test]
fn a_trickled_body_is_cut_off_at_the_deadline() {
    let mut s = Server::start(&["--workers", "4"]);
    let mut c = Client::connect(s.addr);
    c.stream
        .set_read_timeout(Some(Duration::from_secs(40)))
        .unwrap();
    c.send_raw(b"POST /collections HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n{\"collection\":\"");
    let started = Instant::now();
    // One byte every 200 ms: never silent long enough for the read timeout, so only the body
    // deadline (10 s) ends it.
    let mut writer = c.stream.try_clone().unwrap();
    let answered = Arc::new(AtomicBool::new(false));
    let done = answered.clone();
    let trickler = std::thread::spawn(move || {
        for _ in 0..150 {
            if done.load(Ordering::SeqCst) || writer.write_all(b"a").is_err() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    });
    for i in 0..5 {
        assert_serving(&mut s, &format!("a trickled body ({i})"));
    }
    let r = c.read_response(false);
    let elapsed = started.elapsed();
    answered.store(true, Ordering::SeqCst);
    assert_eq!(
        (r.status, r.code().as_str()),
        (400, "INVALID_PAYLOAD"),
        "{}",
        r.text()
    );
    assert!(
        elapsed >= Duration::from_secs(9),
        "cut off after {elapsed:?}"
    );
    assert!(r.says_close(), "{:?}", r.headers);
    trickler.join().unwrap();
    assert_serving(&mut s, "the trickled body");
    assert_eq!(s.get("/collections").data(), serde_json::json!([]));
}

#[test]
fn clients_that_never_read_do_not_starve_others() {
    let mut s = Server::start(&["--workers", "4"]);
    let item = format!(r#"{{"blob":"{}"}}"#, "x".repeat(5000));
    let items = format!("[{}]", vec![item; 200].join(","));
    s.json("POST", "/collections", r#"{"collection":"big"}"#);
    let mut c = Client::connect(s.addr);
    c.stream
        .set_write_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    c.send_raw(&common::build_request(
        "POST",
        "/items/big",
        &[("Content-Type", "application/json")],
        Some(items.as_bytes()),
    ));
    assert_eq!(c.read_response(false).status, 200);

    // Two connections ask for ~1 MB answers and never read them.
    let mut hogs = Vec::new();
    for _ in 0..2 {
        let mut hog = TcpStream::connect(s.addr).unwrap();
        hog.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
        for _ in 0..20 {
            if hog
                .write_all(b"GET /items/big?limit=-1 HTTP/1.1\r\nHost: x\r\n\r\n")
                .is_err()
            {
                break;
            }
        }
        hogs.push(hog);
    }
    // One connection pipelines 20,000 requests without reading (bounded in time).
    let addr = s.addr;
    let piper = std::thread::spawn(move || {
        let mut p = TcpStream::connect(addr).unwrap();
        p.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
        let one = b"GET /server/ping HTTP/1.1\r\nHost: x\r\n\r\n";
        let started = Instant::now();
        let mut sent = 0;
        while sent < 20_000 && started.elapsed() < Duration::from_secs(10) {
            let batch: Vec<u8> = one.iter().copied().cycle().take(one.len() * 500).collect();
            if p.write_all(&batch).is_err() {
                break;
            }
            sent += 500;
        }
        (p, sent)
    });
    for i in 0..30 {
        assert_serving(&mut s, &format!("non-reading clients ({i})"));
        assert_eq!(s.get("/items/big/1?fields=id").status, 200);
    }
    let (_p, sent) = piper.join().unwrap();
    assert!(sent > 0);
    assert_serving(&mut s, "the pipelining client");
    drop(hogs);
}

#[test]
fn a_burst_of_new_keep_alive_connections_right_after_start_is_served() {
    let s = Server::start(&[]);
    let started = Instant::now();
    let mut conns: Vec<TcpStream> = (0..32)
        .map(|_| TcpStream::connect(s.addr).unwrap())
        .collect();
    for c in &mut conns {
        c.write_all(b"GET /server/ping HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
    }
    for (i, c) in conns.iter_mut().enumerate() {
        c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 512];
        let n = c
            .read(&mut buf)
            .unwrap_or_else(|e| panic!("connection {i} not served: {e}"));
        assert!(
            String::from_utf8_lossy(&buf[..n]).contains("pong"),
            "connection {i}"
        );
    }
    // A hang detector, not a speed check (it typically takes a few milliseconds): without the
    // keeper, connections met by the pool's lost wake-up wait until some other connection
    // closes, for ever here. The bound was 1 s and failed at 2 s once under a loaded machine.
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(4),
        "32 connections took {elapsed:?}"
    );
}

#[test]
fn a_dead_accept_loop_makes_the_process_exit_non_zero() {
    // With a descriptor limit of 64, a few dozen connections make accept() fail.
    let dir = tempfile::tempdir().unwrap();
    let script = format!(
        "ulimit -n 64 && exec {} --root {} --port 0",
        common::SERVER,
        dir.path().display()
    );
    let mut child = std::process::Command::new("sh")
        .args(["-c", &script])
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(dir.path().join("stderr")).unwrap())
        .spawn()
        .unwrap();
    let addr = common::listening_addr(&mut child).unwrap();
    let mut held = Vec::new();
    for _ in 0..100 {
        match TcpStream::connect(addr) {
            Ok(c) => held.push(c),
            Err(_) => break,
        }
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the server lives on without accepting"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(!status.success(), "{status:?}");
    let log = std::fs::read_to_string(dir.path().join("stderr")).unwrap();
    assert!(log.contains("accept"), "{log}");
}

#[test]
fn sigterm_lets_in_flight_requests_finish_then_exits_zero() {
    let mut s = Server::start(&[]);
    seed(&s, "a", "[]");
    // A request whose body is still arriving when the signal comes.
    let body = format!(r#"{{"t":"{}"}}"#, "y".repeat(4000));
    let mut c = Client::connect(s.addr);
    let head = format!(
        "POST /items/a HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
         Expect: 100-continue\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    c.send_raw(head.as_bytes());
    // `100 Continue` comes when a worker starts reading the body: the request is in flight.
    // (One the server had not read yet when the signal came is not served: SPEC §3.)
    assert_eq!(c.read_response(false).status, 100);
    c.send_raw(&body.as_bytes()[..2000]);
    std::process::Command::new("kill")
        .args(["-TERM", &s.child.id().to_string()])
        .status()
        .unwrap();
    let log_has = |s: &Server, what: &str| s.stderr().contains(what);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !log_has(&s, "received signal") {
        assert!(Instant::now() < deadline, "no signal in the log");
        std::thread::sleep(Duration::from_millis(5));
    }
    c.send_raw(&body.as_bytes()[2000..]);
    let r = c.read_response(false);
    assert_eq!(r.status, 200, "{}", r.text());
    let status = s.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    assert!(!s
        .root
        .join(format!("logs/servers/{}.json", s.child.id()))
        .exists());
    // The acknowledged write is there after a restart.
    let again = Server::start_in(&s.root, &[]);
    assert_eq!(again.get("/items/a?fields=id").ids(), vec![1]);
    // SIGINT works the same way.
    let mut t = Server::start(&[]);
    std::process::Command::new("kill")
        .args(["-INT", &t.child.id().to_string()])
        .status()
        .unwrap();
    assert!(t.child.wait().unwrap().success());
    assert!(!t.alive());
}

/// SPEC §3: after SIGTERM no request on a new connection is handled (on its own socket the
/// server refuses the connection), while the requests in flight finish; a clean exit leaves
/// no WAL. Before this was fixed, a POST on a connection made after the signal committed.
#[test]
fn after_sigterm_new_connections_are_refused_and_in_flight_requests_finish() {
    let mut s = Server::start(&[]);
    let in_flight = common::InFlight::start(&s);
    common::sigterm(s.child.id());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !s.stderr().contains("new connections are refused") {
        assert!(Instant::now() < deadline, "{}", s.stderr());
        std::thread::sleep(Duration::from_millis(5));
    }
    let late = TcpStream::connect(s.addr).map(|mut c| {
        let _ = c.write_all(&common::build_request(
            "POST",
            "/items/slow",
            &[("Content-Type", "application/json")],
            Some(br#"{"title":"late"}"#),
        ));
        c
    });
    assert_eq!(
        late.as_ref().err().map(std::io::Error::kind),
        Some(std::io::ErrorKind::ConnectionRefused),
        "a connection made after the signal was accepted"
    );
    in_flight.finish();
    let status = s.child.wait().unwrap();
    assert!(status.success(), "{status:?}: {}", s.stderr());
    assert!(!s.root.join("data/directus.db-wal").exists());
    assert_eq!(common::titled(&s.db(), "upload").len(), 1);
    assert_eq!(common::titled(&s.db(), "late"), Vec::<i64>::new());
}

#[test]
fn acknowledged_writes_survive_kill_9_in_the_middle_of_a_group() {
    let dir = tempfile::tempdir().unwrap();
    // The tag of every acknowledged request and how many items it created.
    let acked: Arc<Mutex<Vec<(String, usize)>>> = Arc::default();
    for round in 0..4 {
        let s = Server::start_in(dir.path(), &[]);
        if round == 0 {
            seed(&s, "a", "[]");
        }
        let stop = Arc::new(AtomicBool::new(false));
        let count = Arc::new(AtomicU64::new(0));
        // Eight writers keep groups forming; each request creates one to three items.
        let writers: Vec<_> = (0..8)
            .map(|w| {
                let (stop, count, acked, addr) =
                    (stop.clone(), count.clone(), acked.clone(), s.addr);
                std::thread::spawn(move || {
                    let mut c = Client::connect(addr);
                    let mut i = 0;
                    while !stop.load(Ordering::SeqCst) {
                        i += 1;
                        let tag = format!("r{round}w{w}i{i}");
                        let n = 1 + i % 3;
                        let items: Vec<String> = (0..n)
                            .map(|k| format!(r#"{{"tag":"{tag}","k":{k}}}"#))
                            .collect();
                        c.send_raw(&common::build_request(
                            "POST",
                            "/items/a",
                            &[("Content-Type", "application/json")],
                            Some(format!("[{}]", items.join(",")).as_bytes()),
                        ));
                        // The connection dies with the server: whatever was not answered 200 was
                        // not acknowledged.
                        match c.try_read_response(false) {
                            Ok(r) if r.status == 200 => {
                                acked.lock().unwrap().push((tag, n));
                                count.fetch_add(1, Ordering::SeqCst);
                            }
                            _ => return,
                        }
                    }
                })
            })
            .collect();
        let deadline = Instant::now() + Duration::from_secs(20);
        while count.load(Ordering::SeqCst) < 50 {
            assert!(Instant::now() < deadline, "writers made no progress");
            std::thread::sleep(Duration::from_millis(2));
        }
        let mut s = s;
        s.child.kill().unwrap(); // SIGKILL
        s.child.wait().unwrap();
        stop.store(true, Ordering::SeqCst);
        for w in writers {
            w.join().unwrap();
        }
        // Restart on the same root: every acknowledged request is there whole, and no request
        // is there in part.
        let s = Server::start_in(dir.path(), &[]);
        let mut stored: std::collections::HashMap<String, usize> = Default::default();
        for item in s.get("/items/a?fields=tag&limit=-1").json()["data"]
            .as_array()
            .unwrap()
        {
            *stored
                .entry(item["tag"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        let acked = acked.lock().unwrap();
        let lost: Vec<_> = acked
            .iter()
            .filter(|(tag, n)| stored.get(tag) != Some(n))
            .collect();
        assert!(
            lost.is_empty(),
            "round {round}: acknowledged but lost: {lost:?}"
        );
        for (tag, n) in &stored {
            let want = 1 + tag.rsplit('i').next().unwrap().parse::<usize>().unwrap() % 3;
            assert_eq!(*n, want, "round {round}: request {tag} is there in part");
        }
        let conn = rusqlite::Connection::open(s.db()).unwrap();
        let integrity: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(integrity, "ok");
    }
}

/// A connection abandoned for its framing is ignored, but a new connection from the same client
/// port is served: clients reuse ports (on loopback at once), and a request on the new
/// connection must not be taken for a smuggled one. Once hung until the client's timeout.
#[test]
fn a_new_connection_from_an_abandoned_connections_port_is_served() {
    let s = Server::start(&[]);
    seed(&s, "a", r#"{"t":"x"}"#);
    // The kernel lets a port whose connection was just closed be used again for the same peer
    // once its TIME-WAIT timestamp is a second old (`tcp_tw_reuse`, on for loopback): until
    // then connect says the address is not available, and the test asks again.
    let connect_from = |port: u16| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let socket =
                socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
            socket.set_reuse_address(true).unwrap();
            socket
                .bind(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into())
                .unwrap();
            match socket.connect(&s.addr.into()) {
                Ok(()) => return Client::from_stream(socket.into()),
                Err(e) if e.kind() == std::io::ErrorKind::AddrNotAvailable => {
                    assert!(
                        Instant::now() < deadline,
                        "port {port} never available again"
                    );
                    std::thread::sleep(Duration::from_millis(50));
                }
                Err(e) => panic!("connect from port {port}: {e}"),
            }
        }
    };
    let mut first = connect_from(0);
    let port = first.stream.local_addr().unwrap().port();
    // Unparsable framing, and a request behind it that must never run.
    first.send_raw(
        b"POST /items/a HTTP/1.1\r\nHost: x\r\nContent-Length: x\r\n\r\n\
          DELETE /collections/a HTTP/1.1\r\nHost: x\r\n\r\n",
    );
    let r = first.read_response(false);
    assert_eq!((r.status, r.says_close()), (400, true));
    drop(first);
    let mut again = connect_from(port);
    let r = again.send("GET", "/items/a?fields=id", &[], None);
    assert_eq!(
        r.ids(),
        vec![1],
        "the smuggled DELETE ran, or the new connection was ignored"
    );
}
