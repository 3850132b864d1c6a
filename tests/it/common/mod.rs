//! Test support: start the real binaries in a temporary root and talk HTTP/1.1 to them.

pub mod pg;

use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

pub const SERVER: &str = env!("CARGO_BIN_EXE_directus-server");
pub const CLI: &str = env!("CARGO_BIN_EXE_directus");

/// The engine a test runs on (`engines!` runs a test once on each).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

thread_local! {
    static ENGINE: std::cell::Cell<Engine> = const { std::cell::Cell::new(Engine::Sqlite) };
}

/// Runs `test` with servers on `engine`.
pub fn on(engine: Engine, test: fn()) {
    ENGINE.set(engine);
    test();
}

/// The engine of the running test.
pub fn engine() -> Engine {
    ENGINE.get()
}

/// On PostgreSQL, the `--db` a server in `root` gets (unless the test gives one): a database
/// of its own per root, kept in the root so that a restart finds the same one.
fn engine_db(root: &Path, args: &[&str]) -> Option<String> {
    if engine() != Engine::Postgres || args.contains(&"--db") {
        return None;
    }
    let kept = root.join("test-database-uri");
    if let Ok(uri) = std::fs::read_to_string(&kept) {
        return Some(uri);
    }
    let pg = pg::cluster();
    let uri = pg.uri(&pg.database());
    std::fs::write(&kept, &uri).unwrap();
    Some(uri)
}

/// Generates, for each named test function, a `#[test]` on each engine:
/// `module::sqlite::name` and `module::postgres::name`.
#[macro_export]
macro_rules! engines {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[test]
            fn $name() {
                $crate::common::on($crate::common::Engine::Sqlite, super::$name)
            })*
        }
        mod postgres {
            $(#[test]
            fn $name() {
                $crate::common::on($crate::common::Engine::Postgres, super::$name)
            })*
        }
    };
}

/// A running server in a root of its own; killed when dropped.
pub struct Server {
    pub child: Child,
    pub addr: SocketAddr,
    pub root: PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl Server {
    /// A server on a fresh temporary root.
    pub fn start(args: &[&str]) -> Server {
        Server::start_logging("info", args)
    }

    /// A server on a fresh temporary root with the given `RUST_LOG`.
    pub fn start_logging(rust_log: &str, args: &[&str]) -> Server {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let mut server = Server::launch(&root, rust_log, args);
        server._dir = Some(dir);
        server
    }

    /// A server on a given root (kept by the caller), e.g. to restart on the same data.
    pub fn start_in(root: &Path, args: &[&str]) -> Server {
        Server::launch(root, "info", args)
    }

    fn launch(root: &Path, rust_log: &str, args: &[&str]) -> Server {
        let db = engine_db(root, args);
        let args: Vec<&str> = args
            .iter()
            .copied()
            .chain(db.iter().flat_map(|uri| ["--db", uri.as_str()]))
            .collect();
        let args = args.as_slice();
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(root.join("server.stderr"))
            .unwrap();
        let mut child = Command::new(SERVER)
            .arg("--root")
            .arg(root)
            .args(["--port", "0"])
            .args(args)
            .env_remove("DIRECTUS_TOKEN")
            .env_remove("DIRECTUS_CORS_ORIGIN")
            .env_remove("DIRECTUS_DB")
            .env("RUST_LOG", rust_log)
            .stdout(Stdio::piped())
            .stderr(stderr)
            .spawn()
            .unwrap();
        let addr = listening_addr(&mut child).unwrap_or_else(|line| {
            panic!(
                "unexpected first line {line:?}; stderr: {}",
                std::fs::read_to_string(root.join("server.stderr")).unwrap_or_default()
            )
        });
        Server {
            child,
            addr,
            root: root.to_path_buf(),
            _dir: None,
        }
    }

    /// A server started by the caller (on an inherited socket, say) in `root`.
    pub fn started(child: Child, addr: SocketAddr, root: &Path) -> Server {
        Server {
            child,
            addr,
            root: root.to_path_buf(),
            _dir: None,
        }
    }

    pub fn client(&self) -> Client {
        Client::connect(self.addr)
    }

    /// One request on a new connection.
    pub fn req(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Resp {
        self.client().send(method, path, headers, body)
    }

    pub fn get(&self, path: &str) -> Resp {
        self.req("GET", path, &[], None)
    }

    pub fn json(&self, method: &str, path: &str, body: &str) -> Resp {
        self.req(
            method,
            path,
            &[("Content-Type", "application/json")],
            Some(body),
        )
    }

    pub fn flag(&self) -> PathBuf {
        self.root.join("logs").join("maintenance")
    }

    pub fn db(&self) -> PathBuf {
        self.root.join("data").join("directus.db")
    }

    /// On PostgreSQL, a connection to this server's database (`None` on SQLite).
    pub fn pg(&self) -> Option<directus::pg::Client> {
        let uri = std::fs::read_to_string(self.root.join("test-database-uri")).ok()?;
        let config = directus::pg::PgConfig::parse(&uri, &|_| None).unwrap();
        Some(directus::pg::Client::connect(&config).unwrap())
    }

    /// Every stored item as `(collection, id, data)`, on either engine.
    pub fn snapshot(&self) -> Vec<(String, i64, String)> {
        let Some(mut pg) = self.pg() else {
            return snapshot(&self.db());
        };
        let rows = pg
            .query(
                "SELECT collection, id, data FROM directus_items ORDER BY collection COLLATE \"C\", id",
                &[],
            )
            .unwrap();
        rows.into_iter()
            .map(|mut r| {
                let id = r.int(1).unwrap();
                (r.take(0).unwrap(), id, r.take(2).unwrap())
            })
            .collect()
    }

    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.root.join("server.stderr")).unwrap_or_default()
    }

    /// Sends SIGTERM and waits for the exit status.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        self.child.wait().unwrap()
    }

    /// True while the process runs.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().unwrap().is_none()
    }

    /// Runs the CLI against this server's root.
    pub fn cli(&self, args: &[&str]) -> CliOut {
        cli(&self.root, args)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads a started server's first stdout line, `listening on http://HOST:PORT`; the line itself
/// when it is something else.
pub fn listening_addr(child: &mut Child) -> Result<SocketAddr, String> {
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout is piped"))
        .read_line(&mut line)
        .map_err(|e| e.to_string())?;
    line.trim()
        .strip_prefix("listening on http://")
        .and_then(|a| a.parse().ok())
        .ok_or(line)
}

/// What a CLI run printed and returned.
#[derive(Debug)]
pub struct CliOut {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl CliOut {
    /// The secret `maintenance:on --bypass` printed on its own line (the run must have
    /// succeeded and printed exactly one).
    pub fn bypass_secret(&self) -> String {
        assert_eq!(self.code, 0, "{self:?}");
        let secrets: Vec<&str> = self
            .stdout
            .lines()
            .filter_map(|l| l.strip_prefix("bypass secret: "))
            .collect();
        assert_eq!(secrets.len(), 1, "{}", self.stdout);
        secrets[0].trim().to_string()
    }
}

/// Runs the CLI with `--root root` from the root's parent directory.
pub fn cli(root: &Path, args: &[&str]) -> CliOut {
    let out = Command::new(CLI)
        .args(args)
        .arg("--root")
        .arg(root)
        .env_remove("DIRECTUS_ROOT")
        .env_remove("DIRECTUS_DB")
        // For servers on PostgreSQL, whose records hold the URI without its password: the CLI
        // takes it where psql would.
        .env("PGPASSWORD", pg::PASSWORD)
        .output()
        .unwrap();
    CliOut {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A parsed HTTP response.
#[derive(Debug, Clone)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// True when a `Connection` header says `close`.
    pub fn says_close(&self) -> bool {
        self.headers
            .iter()
            .any(|(n, v)| n.eq_ignore_ascii_case("connection") && v.eq_ignore_ascii_case("close"))
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", String::from_utf8_lossy(&self.body)))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The Directus error code of an error envelope.
    pub fn code(&self) -> String {
        self.try_code()
            .unwrap_or_else(|| panic!("no error code in {}", self.text()))
    }

    /// The Directus error code, or `None` when the body is not an error envelope; for case
    /// tables, whose assertion then names the failing case instead of panicking without it.
    pub fn try_code(&self) -> Option<String> {
        let v: Value = serde_json::from_slice(&self.body).ok()?;
        v["errors"][0]["extensions"]["code"]
            .as_str()
            .map(str::to_string)
    }

    /// `data` of a success envelope.
    pub fn data(&self) -> Value {
        let v = self.json();
        assert!(v.get("data").is_some(), "no data in {v}");
        v["data"].clone()
    }

    /// The `id`s of a list answer, in order.
    pub fn ids(&self) -> Vec<i64> {
        self.data()
            .as_array()
            .unwrap_or_else(|| panic!("data is not a list: {}", self.text()))
            .iter()
            .map(|i| i["id"].as_i64().unwrap())
            .collect()
    }
}

/// A keep-alive HTTP/1.1 connection.
pub struct Client {
    pub stream: TcpStream,
    reader: BufReader<TcpStream>,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap();
        // A hang detector, not a timing assertion: a healthy server answers in milliseconds.
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Client {
            reader: BufReader::new(stream.try_clone().unwrap()),
            stream,
        }
    }

    /// Sends one request and reads its response.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<&str>,
    ) -> Resp {
        self.send_raw(&build_request(
            method,
            path,
            headers,
            body.map(str::as_bytes),
        ));
        self.read_response(method == "HEAD")
    }

    /// A client on a stream connected by the caller (with socket options of its own).
    pub fn from_stream(stream: TcpStream) -> Client {
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        Client {
            reader: BufReader::new(stream.try_clone().unwrap()),
            stream,
        }
    }

    /// Waits until the first bytes of an answer arrive, reading none of them. (`fill_buf`,
    /// unlike `read_line` and `read_exact`, hands an interrupted read back: it is retried.)
    pub fn wait_for_answer(&mut self) {
        let arrived = loop {
            match self.reader.fill_buf() {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                other => break !other.unwrap().is_empty(),
            }
        };
        assert!(arrived, "connection closed");
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    pub fn try_read_response(&mut self, head: bool) -> std::io::Result<Resp> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed",
            ));
        }
        let status: u16 = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| std::io::Error::other(format!("bad status line {line:?}")))?;
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            self.reader.read_line(&mut h)?;
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (n, v) = h.split_once(':').unwrap();
            headers.push((n.trim().to_string(), v.trim().to_string()));
        }
        let bodyless = head || status == 204 || status == 304;
        let chunked = headers.iter().any(|(n, v)| {
            n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
        });
        let body = if chunked && !bodyless {
            self.read_chunked()?
        } else {
            let resp_len = headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.parse::<usize>().unwrap())
                .unwrap_or(0);
            let mut body = vec![0; if bodyless { 0 } else { resp_len }];
            self.reader.read_exact(&mut body)?;
            body
        };
        Ok(Resp {
            status,
            headers,
            body,
        })
    }

    /// A chunked body (tiny_http sends large answers so), without trailers.
    fn read_chunked(&mut self) -> std::io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let mut size = String::new();
            self.reader.read_line(&mut size)?;
            let size = usize::from_str_radix(size.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|e| std::io::Error::other(format!("bad chunk size: {e}")))?;
            let start = body.len();
            body.resize(start + size, 0);
            self.reader.read_exact(&mut body[start..])?;
            let mut end = String::new();
            self.reader.read_line(&mut end)?;
            if size == 0 {
                return Ok(body);
            }
        }
    }

    pub fn read_response(&mut self, head: bool) -> Resp {
        self.try_read_response(head).unwrap()
    }
}

pub fn build_request(
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Vec<u8> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
    for (n, v) in headers {
        req.push_str(&format!("{n}: {v}\r\n"));
    }
    if let Some(b) = body {
        req.push_str(&format!("Content-Length: {}\r\n", b.len()));
    }
    req.push_str("\r\n");
    let mut bytes = req.into_bytes();
    if let Some(b) = body {
        bytes.extend_from_slice(b);
    }
    bytes
}

/// Percent-encodes a query value.
pub fn enc(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Creates a collection and fills it with items; returns nothing, panics on failure.
pub fn seed(server: &Server, collection: &str, items: &str) {
    let r = server.json(
        "POST",
        "/collections",
        &format!(r#"{{"collection":"{collection}"}}"#),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = server.json("POST", &format!("/items/{collection}"), items);
    assert_eq!(r.status, 200, "{}", r.text());
}

/// Waits for a condition, polling; panics with `what` after 20 s (a hang detector).
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Every row of every collection, in order: what "the database did not change" compares.
pub fn snapshot(db: &Path) -> Vec<(String, i64, String)> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn
        .prepare("SELECT collection, id, data FROM directus_items ORDER BY 1, 2")
        .unwrap();
    let rows = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap();
    rows.map(Result::unwrap).collect()
}

/// The writers of a drain race: each keeps sending its writes until stopped, counting what the
/// server accepted and what it refused (503), and counting as a violation a write accepted
/// inside a closed phase. `phase` is odd from the moment `on` has returned until `off` begins;
/// the test moves it.
pub struct WriteLoad {
    pub phase: Arc<AtomicU64>,
    pub successes: Arc<AtomicU64>,
    pub refusals: Arc<AtomicU64>,
    pub violations: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// One writer's `i`-th write: what writer `w` sends, on its own connection.
pub type SendWrite = fn(&mut Client, u64, u64) -> Resp;

/// The drain races' writes to collection `a` (items 1 to 4 exist): a create, a PATCH of one
/// item, or a batch PATCH of all four, in turn.
pub fn mixed_write(c: &mut Client, w: u64, i: u64) -> Resp {
    let ct = [("Content-Type", "application/json")];
    match (w + i) % 3 {
        0 => c.send(
            "POST",
            "/items/a",
            &ct,
            Some(&format!(r#"{{"w":{w},"i":{i}}}"#)),
        ),
        1 => c.send(
            "PATCH",
            &format!("/items/a/{}", 1 + (w % 4)),
            &ct,
            Some(&format!(r#"{{"n":{i}}}"#)),
        ),
        _ => c.send(
            "PATCH",
            "/items/a",
            &ct,
            Some(&format!(r#"{{"keys":[1,2,3,4],"data":{{"last":{i}}}}}"#)),
        ),
    }
}

/// How long a `WriteLoad` writer pauses after a 503 before it writes again.
const REFUSED_PAUSE: Duration = Duration::from_millis(1);

impl WriteLoad {
    /// Starts `writers` threads sending `send`'s writes to `addr`. A status in `accepted`
    /// counts as a success (a violation inside a closed phase), 503 as a refusal; any other
    /// status fails the test.
    pub fn start(
        addr: SocketAddr,
        writers: u64,
        send: SendWrite,
        accepted: &'static [u16],
    ) -> WriteLoad {
        let load = WriteLoad {
            phase: Arc::default(),
            successes: Arc::default(),
            refusals: Arc::default(),
            violations: Arc::default(),
            stop: Arc::default(),
            threads: Vec::new(),
        };
        let threads = (0..writers)
            .map(|w| {
                let (phase, successes, refusals, violations, stop) = (
                    load.phase.clone(),
                    load.successes.clone(),
                    load.refusals.clone(),
                    load.violations.clone(),
                    load.stop.clone(),
                );
                std::thread::spawn(move || {
                    let mut c = Client::connect(addr);
                    let mut i = 0u64;
                    while !stop.load(Ordering::SeqCst) {
                        i += 1;
                        let seen = phase.load(Ordering::SeqCst);
                        let r = send(&mut c, w, i);
                        if accepted.contains(&r.status) {
                            // Sent after `on` returned and answered before `off` began.
                            if seen % 2 == 1 && phase.load(Ordering::SeqCst) == seen {
                                eprintln!("write {} during maintenance: {}", r.status, r.text());
                                violations.fetch_add(1, Ordering::SeqCst);
                            }
                            successes.fetch_add(1, Ordering::SeqCst);
                        } else if r.status == 503 {
                            refusals.fetch_add(1, Ordering::SeqCst);
                            // Pacing, as a client told to retry later would: refused writers
                            // that loop flat out take the cores from the database and the
                            // CLI under test (answers then took seconds). It waits for
                            // nothing; the writes already in flight when `on` comes are what
                            // the race is about.
                            std::thread::sleep(REFUSED_PAUSE);
                        } else {
                            panic!("unexpected status {}: {}", r.status, r.text());
                        }
                    }
                })
            })
            .collect();
        WriteLoad { threads, ..load }
    }

    /// Waits until `more` writes have been accepted from now on.
    pub fn wait_accepted(&self, more: u64) {
        let before = self.successes.load(Ordering::SeqCst);
        wait_for("writes to succeed while off", || {
            self.successes.load(Ordering::SeqCst) >= before + more
        });
    }

    /// Stops the writers; a writer that panicked fails the test here.
    pub fn finish(self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            t.join().unwrap();
        }
    }
}

/// Requests in flight when a server is stopped (SPEC §3): a slow upload (a worker is reading its
/// body), a large download the client reads slowly (a worker is writing it), and idle keep-alive
/// connections. `start` sets them up on a server whose database it seeds; `finish` completes
/// them after the signal and checks that both requests were answered in full.
pub struct InFlight {
    upload: Client,
    rest: Vec<u8>,
    download: Client,
    _idle: Vec<Client>,
}

/// Items in the collection `slow` and the size of each one's `body`: over 5 MB in all, more
/// than the socket buffers hold, so the worker writing them is still writing at the signal.
const DOWNLOAD_ITEMS: usize = 2_800;
const DOWNLOAD_BODY: usize = 2_000;

impl InFlight {
    pub fn start(server: &Server) -> InFlight {
        let r = server.json("POST", "/collections", r#"{"collection":"slow"}"#);
        assert_eq!(r.status, 200, "{}", r.text());
        for batch in 0..DOWNLOAD_ITEMS / 400 {
            let items: Vec<Value> = (0..400)
                .map(|i| serde_json::json!({"n": batch * 400 + i, "body": "b".repeat(DOWNLOAD_BODY)}))
                .collect();
            let r = server.json("POST", "/items/slow", &Value::Array(items).to_string());
            assert_eq!(r.status, 200, "{}", r.text());
        }
        let idle: Vec<Client> = (0..3)
            .map(|_| {
                let mut c = server.client();
                assert_eq!(c.send("GET", "/server/ping", &[], None).status, 200);
                c
            })
            .collect();
        // The upload: `100 Continue` comes when a worker starts reading the body.
        let body = format!(r#"{{"title":"upload","pad":"{}"}}"#, "y".repeat(4000));
        let mut upload = server.client();
        upload.send_raw(
            format!(
                "POST /items/slow HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                 Expect: 100-continue\r\nContent-Length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        assert_eq!(upload.read_response(false).status, 100);
        let (first, rest) = body.as_bytes().split_at(2000);
        upload.send_raw(first);
        // The download, on a connection with a small receive buffer.
        let socket =
            socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
        socket.set_recv_buffer_size(16 * 1024).unwrap();
        socket.connect(&server.addr.into()).unwrap();
        let mut download = Client::from_stream(socket.into());
        download.send_raw(b"GET /items/slow?limit=-1&fields=id,body HTTP/1.1\r\nHost: x\r\n\r\n");
        download.wait_for_answer();
        InFlight {
            upload,
            rest: rest.to_vec(),
            download,
            _idle: idle,
        }
    }

    /// Sends the rest of the upload and reads both answers whole.
    pub fn finish(mut self) {
        let rest = std::mem::take(&mut self.rest);
        self.upload.send_raw(&rest);
        let r = self.upload.read_response(false);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.data()["title"], "upload");
        let r = self.download.read_response(false);
        assert_eq!(r.status, 200);
        let items = r.data();
        let items = items.as_array().unwrap();
        assert_eq!(items.len(), DOWNLOAD_ITEMS);
        assert!(items
            .iter()
            .all(|i| i["body"].as_str().unwrap().len() == DOWNLOAD_BODY));
    }
}

/// Sends SIGTERM to `pid`.
pub fn sigterm(pid: u32) {
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

/// The ids of the items titled `title` in the collection `slow`, read from the database file.
pub fn titled(db: &Path, title: &str) -> Vec<i64> {
    let conn =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .unwrap();
    let mut stmt = conn
        .prepare(
            "SELECT id FROM directus_items WHERE collection = 'slow' \
             AND json_extract(data, '$.title') = ?1",
        )
        .unwrap();
    let ids = stmt.query_map([title], |r| r.get(0)).unwrap();
    ids.map(Result::unwrap).collect()
}
