//! The shipped nginx front (deploy/nginx-directus.conf), with real nginx (the Debian package,
//! installed by .ci/run), in front of the real server: the hostile cases tiny_http cannot contain
//! by itself are handled there, and normal traffic, maintenance included, passes through.

use crate::common::{self, Client, Server};
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOKEN: &str = "front-token";

struct Nginx {
    child: Child,
    addr: SocketAddr,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGKILL would leave the worker process behind, still holding the port: SIGTERM makes
        // the master stop its worker, then exit. SIGKILL only if it has not exited within 10 s.
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while matches!(self.child.try_wait(), Ok(None)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn nginx_binary() -> &'static str {
    for candidate in ["/usr/sbin/nginx", "/usr/bin/nginx"] {
        if Path::new(candidate).exists() {
            return candidate;
        }
    }
    panic!("nginx is not installed (.ci/run installs the Debian package)");
}

/// Starts nginx with the shipped server block, pointed at `upstream`.
fn start_nginx(upstream: SocketAddr) -> Nginx {
    let dir = tempfile::tempdir().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx-directus.conf"),
    )
    .unwrap();
    let site = shipped
        .replace("listen 80;", &format!("listen 127.0.0.1:{port};"))
        .replace("server 127.0.0.1:8055;", &format!("server {upstream};"))
        .replace(
            "/var/log/nginx/directus.access.log",
            &dir.path().join("access.log").display().to_string(),
        );
    assert_ne!(site, shipped);
    let p = dir.path().display();
    let conf = format!(
        "worker_processes 1;\npid {p}/nginx.pid;\nerror_log {p}/error.log;\nevents {{ worker_connections 1024; }}\n\
         http {{\n  client_body_temp_path {p}/body;\n  proxy_temp_path {p}/proxy;\n  fastcgi_temp_path {p}/fastcgi;\n\
         uwsgi_temp_path {p}/uwsgi;\n  scgi_temp_path {p}/scgi;\n{site}\n}}\n"
    );
    std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
    let child = Command::new(nginx_binary())
        .args([
            "-p",
            &p.to_string(),
            "-c",
            "nginx.conf",
            "-g",
            "daemon off;",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    // nginx prints nothing when ready: poll until it accepts (bounded).
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "nginx did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    Nginx {
        child,
        addr,
        _dir: dir,
    }
}

fn raw(addr: SocketAddr, bytes: &[u8]) -> Option<common::Resp> {
    let mut c = Client::connect(addr);
    c.stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    let _ = c.stream.write_all(bytes);
    c.try_read_response(false).ok()
}

fn thread_and_fd_count(pid: u32) -> (usize, usize) {
    let count = |what: &str| {
        std::fs::read_dir(format!("/proc/{pid}/{what}"))
            .unwrap()
            .count()
    };
    (count("task"), count("fd"))
}

#[test]
fn normal_traffic_and_maintenance_pass_through() {
    let s = Server::start(&["--token", TOKEN]);
    let front = start_nginx(s.addr);
    let auth = [
        ("Authorization", "Bearer front-token"),
        ("Content-Type", "application/json"),
    ];
    let mut c = Client::connect(front.addr);
    assert_eq!(
        c.send("POST", "/collections", &auth, Some(r#"{"collection":"a"}"#))
            .status,
        200
    );
    assert_eq!(
        c.send("POST", "/items/a", &auth, Some(r#"{"t":"x"}"#))
            .status,
        200
    );
    let r = c.send(
        "GET",
        "/items/a?filter[t][_eq]=x&access_token=front-token",
        &[],
        None,
    );
    assert_eq!(r.ids(), vec![1]);
    s.cli(&[
        "maintenance:on",
        "--message",
        "Behind the front",
        "--retry",
        "60",
    ]);
    let r = c.send("GET", "/items/a", &auth, None);
    assert_eq!(r.status, 503);
    assert_eq!(r.header("retry-after"), Some("60"));
    assert_eq!(r.json()["errors"][0]["message"], "Behind the front");
    assert_eq!(c.send("GET", "/server/ping", &[], None).text(), "pong");
    s.cli(&["maintenance:off"]);
    assert_eq!(c.send("GET", "/items/a/1", &auth, None).status, 200);
    // The access log leaves out query strings (they may hold access_token).
    let log = std::fs::read_to_string(front._dir.path().join("access.log")).unwrap();
    assert!(log.contains("GET /items/a"), "{log}");
    assert!(!log.contains("front-token"), "{log}");
}

#[test]
fn hostile_requests_are_stopped_at_the_front() {
    let mut s = Server::start(&["--token", TOKEN]);
    let front = start_nginx(s.addr);
    let pid = s.child.id();
    let before = thread_and_fd_count(pid);
    let mut many_headers = String::from("GET /server/ping HTTP/1.1\r\nHost: x\r\n");
    for i in 0..10_000 {
        many_headers.push_str(&format!("X-H{i}: {i}\r\n"));
    }
    many_headers.push_str("\r\n");
    // (what, the request's bytes), a line each.
    #[rustfmt::skip]
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("HTTP/2.0 request line", b"GET / HTTP/2.0\r\nHost: x\r\n\r\n".to_vec()),
        ("Content-Length 10^12", b"POST /items/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000000000\r\n\r\n".to_vec()),
        ("Content-Length u64::MAX", b"POST /items/a HTTP/1.1\r\nHost: x\r\nContent-Length: 18446744073709551615\r\n\r\n".to_vec()),
        ("duplicated Content-Length", b"POST /items/a HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 40\r\n\r\nx".to_vec()),
        ("Transfer-Encoding gzip", b"POST /items/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n".to_vec()),
        ("1 MB header line", format!("GET /server/ping HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n", "a".repeat(1 << 20)).into_bytes()),
        ("10,000 headers", many_headers.into_bytes()),
    ];
    for (what, bytes) in &cases {
        // nginx answers these itself with a 4xx/5xx; none reaches the server as a request.
        if let Some(r) = raw(front.addr, bytes) {
            assert!(r.status >= 400 && r.status != 500, "{what}: {}", r.status);
        }
    }
    // The HTTP/2.0 line that deadlocks tiny_http when sent directly, 50 times through the front.
    for _ in 0..50 {
        raw(front.addr, b"GET / HTTP/2.0\r\nHost: x\r\n\r\n");
    }
    // Slowloris through the front: nginx holds the connections, the server never sees them.
    let mut slow: Vec<TcpStream> = (0..50)
        .map(|_| TcpStream::connect(front.addr).unwrap())
        .collect();
    for c in &mut slow {
        let _ = c.write_all(b"GET /server/ping HTTP/1.1\r\nX-Slow: a");
    }
    let mut c = Client::connect(front.addr);
    c.stream
        .set_read_timeout(Some(Duration::from_secs(2)))
        .unwrap();
    assert_eq!(c.send("GET", "/server/ping", &[], None).text(), "pong");
    assert!(s.alive());
    let after = thread_and_fd_count(pid);
    // No thread or descriptor leaked per hostile request (a few may come and go with the pool).
    assert!(
        after.0 <= before.0 + 8 && after.1 <= before.1 + 16,
        "before {before:?}, after {after:?}"
    );
    drop(slow);
}
