//! Socket activation (SPEC §5.4), without systemd: the test holds the listening socket, as
//! systemd does, and starts the real server on it as fd 3 with `LISTEN_FDS=1` and `LISTEN_PID`.

use crate::common::{self, Server};
use socket2::SockRef;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Starts the server on `root` with a copy of `socket` as its fd 3 and `LISTEN_FDS=1`;
/// `LISTEN_PID` is the server's own pid, or `listen_pid` when given.
///
/// `Command` passes on only descriptors that are not close-on-exec, and moving one to fd 3
/// needs `pre_exec` (unsafe), so a shell does it: it gets an inheritable copy of the socket,
/// moves it to fd 3 and execs the server, which keeps the shell's pid (`$$`). Another test
/// spawning at the same moment may inherit the copy too; it only keeps the socket open.
fn spawn_on(root: &Path, socket: &impl AsFd, listen_pid: Option<u32>) -> Child {
    let copy = SockRef::from(socket).try_clone().unwrap();
    copy.set_cloexec(false).unwrap();
    let fd = copy.as_raw_fd();
    let pid = listen_pid.map_or("$$".to_string(), |p| p.to_string());
    // The copy may be fd 3 already (when the test process had it free), and then stays.
    let moved = if fd == 3 {
        String::new()
    } else {
        format!("exec 3<&{fd} {fd}<&-; ")
    };
    let script = format!(r#"{moved}export LISTEN_FDS=1 LISTEN_PID={pid}; exec "$0" "$@""#);
    let stderr = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(root.join("server.stderr"))
        .unwrap();
    let child = Command::new("bash")
        .args(["-c", &script, common::SERVER, "--root"])
        .arg(root)
        .args(["--port", "0"])
        .env_remove("DIRECTUS_TOKEN")
        .env_remove("DIRECTUS_CORS_ORIGIN")
        .env_remove("DIRECTUS_DB")
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    drop(copy);
    child
}

/// A started server, killed when dropped (a failed assertion leaves no server behind).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Like `spawn_on`, then waits for the `listening on` line and returns the address it names.
fn start_on(root: &Path, socket: &impl AsFd, listen_pid: Option<u32>) -> (Running, SocketAddr) {
    let mut child = Running(spawn_on(root, socket, listen_pid));
    let addr = common::listening_addr(&mut child.0)
        .unwrap_or_else(|line| panic!("unexpected first line {line:?}; stderr: {}", log(root)));
    (child, addr)
}

/// The exit status of a server expected to refuse to start (a hang detector: 20 s).
fn refused_start(root: &Path, socket: &impl AsFd) -> ExitStatus {
    let mut child = Running(spawn_on(root, socket, None));
    let mut status = None;
    common::wait_for("the server to exit", || {
        status = child.0.try_wait().unwrap();
        status.is_some()
    });
    status.unwrap()
}

fn log(root: &Path) -> String {
    std::fs::read_to_string(root.join("server.stderr")).unwrap_or_default()
}

fn terminate(child: &mut Running) -> ExitStatus {
    let status = Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    child.0.wait().unwrap()
}

/// One `GET /server/health` on a new connection: its status, or what went wrong.
fn health(addr: SocketAddr) -> Result<u16, String> {
    let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    // A hang detector, not a timing assertion: a request may wait out a restart in the queue.
    stream
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    stream
        .write_all(b"GET /server/health HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .map_err(|e| format!("write: {e}"))?;
    let mut answer = Vec::new();
    stream
        .read_to_end(&mut answer)
        .map_err(|e| format!("read: {e}"))?;
    let text = String::from_utf8_lossy(&answer);
    text.strip_prefix("HTTP/1.1 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| format!("no answer: {text:?}"))
}

/// What the client saw of one request: when it was sent, when its answer came, and the answer.
struct Seen {
    sent: Instant,
    answered: Instant,
    result: Result<u16, String>,
}

#[test]
fn a_restart_on_a_held_socket_answers_every_request() {
    const REQUESTS: usize = 400;
    const ON_AT: usize = 100;
    const STOP_AT: usize = 150;
    const OFF_AT: usize = 300;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();

    let (first, first_addr) = start_on(&root, &listener, None);
    assert_eq!(
        first_addr, addr,
        "the listening line names the inherited socket"
    );
    assert!(
        log(&root).contains("serving the inherited socket (fd 3)"),
        "{}",
        log(&root)
    );

    // The restart, as `systemctl restart` does it: SIGTERM, wait for the exit, start again on
    // the same socket. It runs beside the client, which sends the signal when it is at
    // request STOP_AT and meanwhile keeps sending.
    let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
    let times: Arc<Mutex<Option<(Instant, Instant)>>> = Arc::default();
    let restart = {
        let (root, times) = (root.clone(), times.clone());
        let listener = listener.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut first = first;
            stop_rx.recv().unwrap();
            let status = terminate(&mut first);
            let first_exited = Instant::now();
            let second_started = Instant::now();
            let second = start_on(&root, &listener, None);
            *times.lock().unwrap() = Some((first_exited, second_started));
            (status, second)
        })
    };

    let mut seen = Vec::with_capacity(REQUESTS);
    for i in 0..REQUESTS {
        match i {
            ON_AT => {
                let on = common::cli(&root, &["maintenance:on"]);
                assert_eq!(on.code, 0, "{on:?}");
            }
            STOP_AT => stop_tx.send(()).unwrap(),
            OFF_AT => {
                let off = common::cli(&root, &["maintenance:off"]);
                assert_eq!(off.code, 0, "{off:?}");
            }
            _ => {}
        }
        let sent = Instant::now();
        let result = health(addr);
        let failed = result.is_err();
        seen.push(Seen {
            sent,
            answered: Instant::now(),
            result,
        });
        // With no server to answer, every further request would wait out its timeout.
        if failed {
            break;
        }
    }

    let (first_status, (mut second, second_addr)) = restart.join().unwrap();
    assert!(first_status.success(), "{first_status:?}: {}", log(&root));
    assert_eq!(second_addr, addr);
    let failed: Vec<String> = seen
        .iter()
        .enumerate()
        .filter_map(|(i, s)| s.result.as_ref().err().map(|e| format!("#{i}: {e}")))
        .collect();
    assert!(
        failed.is_empty(),
        "refused, reset or unanswered: {failed:?}; log: {}",
        log(&root)
    );
    for (i, s) in seen.iter().enumerate() {
        let expected = if (ON_AT..OFF_AT).contains(&i) {
            503
        } else {
            200
        };
        assert_eq!(s.result, Ok(expected), "request #{i}");
    }
    // Some request waited in the socket's queue while no server ran: sent before the second
    // server started, answered after the first had exited.
    let (first_exited, second_started) = times.lock().unwrap().unwrap();
    assert!(
        seen.iter()
            .any(|s| s.sent < second_started && s.answered > first_exited),
        "no request crossed the restart"
    );
    assert!(terminate(&mut second).success(), "{}", log(&root));
}

#[test]
fn without_the_variables_the_server_binds_its_own_socket() {
    let server = Server::start(&[]);
    assert!(
        server.stderr().contains(&format!("bound {}", server.addr)),
        "{}",
        server.stderr()
    );
    assert!(!server.stderr().contains("socket activation"));
}

#[test]
fn variables_for_another_process_are_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let (mut child, addr) = start_on(dir.path(), &held, Some(std::process::id()));
    assert_ne!(addr, held.local_addr().unwrap());
    let log = log(dir.path());
    assert!(log.contains("LISTEN_FDS ignored"), "{log}");
    assert!(log.contains(&format!("bound {addr}")), "{log}");
    assert_eq!(health(addr), Ok(200));
    assert!(terminate(&mut child).success());
}

#[test]
fn an_inherited_socket_that_cannot_listen_is_a_usage_error() {
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let connected = TcpStream::connect(held.local_addr().unwrap()).unwrap();
    let file = std::fs::File::open("/dev/null").unwrap();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let sockets: [(&str, &dyn AsFd, &str); 3] = [
        ("connected", &connected, "not listening"),
        ("file", &file, "not a socket"),
        ("udp", &udp, "not a valid tcp socket"),
    ];
    for (name, socket, says) in sockets {
        let dir = tempfile::tempdir().unwrap();
        let status = refused_start(dir.path(), &socket);
        let log = log(dir.path());
        assert_eq!(status.code(), Some(2), "{name}: {log}");
        assert!(log.contains(says), "{name}: {log}");
    }
}

#[test]
fn an_inherited_public_socket_needs_a_token() {
    let held = TcpListener::bind("0.0.0.0:0").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let status = refused_start(dir.path(), &held);
    let log = log(dir.path());
    assert_eq!(status.code(), Some(2), "{log}");
    assert!(log.contains("without a token"), "{log}");
}

/// `systemd-analyze verify` (Debian's `systemd`, installed by `.ci/run`) accepts the shipped
/// units, with the service pointed at the binary under test (verify checks that it exists) and
/// nothing to complain about: it reports unknown keys and bad values as warnings only.
#[test]
fn the_shipped_systemd_units_verify() {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy");
    let dir = tempfile::tempdir().unwrap();
    let service = std::fs::read_to_string(deploy.join("directus.service")).unwrap();
    let installed = "/srv/directus/bin/directus-server";
    assert!(service.contains(&format!("ExecStart={installed} ")));
    std::fs::write(
        dir.path().join("directus.service"),
        service.replace(installed, common::SERVER),
    )
    .unwrap();
    std::fs::copy(
        deploy.join("directus.socket"),
        dir.path().join("directus.socket"),
    )
    .unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "./directus.socket", "./directus.service"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(stderr.trim(), "", "warnings from systemd-analyze");
}

/// SPEC §3 and 5.4: after SIGTERM a server on an inherited socket leaves a new connection in
/// the socket's queue, so its write is not handled by this server (it commits only when the
/// next server takes it), while the requests in flight finish.
#[test]
fn after_sigterm_a_new_connection_waits_for_the_next_server() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().to_path_buf();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let mut child = spawn_on(&root, &listener, None);
    let addr = common::listening_addr(&mut child).unwrap();
    let mut server = Server::started(child, addr, &root);
    let in_flight = common::InFlight::start(&server);
    common::sigterm(server.child.id());
    common::wait_for("the signal in the log", || {
        log(&root).contains("new connections wait in the shared socket's queue")
    });
    let mut late = common::Client::connect(addr);
    late.send_raw(&common::build_request(
        "POST",
        "/items/slow",
        &[("Content-Type", "application/json")],
        Some(r#"{"title":"late"}"#.as_bytes()),
    ));
    in_flight.finish();
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status:?}: {}", log(&root));
    let db = root.join("data/directus.db");
    assert!(!root.join("data/directus.db-wal").exists());
    assert_eq!(common::titled(&db, "upload").len(), 1);
    assert_eq!(common::titled(&db, "late"), Vec::<i64>::new());
    // The next server on the socket answers it.
    let (mut second, _) = start_on(&root, &listener, None);
    let r = late.read_response(false);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(common::titled(&db, "late").len(), 1);
    assert!(terminate(&mut second).success(), "{}", log(&root));
}
