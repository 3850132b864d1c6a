//! A synchronous PostgreSQL connection on std sockets: the startup and authentication
//! exchange (trust, cleartext, MD5, SCRAM-SHA-256), statements with text parameters through
//! the extended protocol (each statement parsed once per connection and kept by name), plain
//! scripts through the simple protocol, and `LISTEN` notifications.
//!
//! Why written here: the maintained Rust clients either run an async runtime inside
//! (`postgres` wraps `tokio-postgres`) or expose an unsound safe API over libpq (the `libpq`
//! crate's `Connection` derives `Clone` over the raw pointer it frees in `Drop`); `pq-sys` is raw
//! FFI, which `#![forbid(unsafe_code)]` excludes. The message framing and SCRAM come from
//! `postgres-protocol` (the sans-IO half of `tokio-postgres`, no runtime, no `unsafe`); this
//! file only moves its messages over a blocking socket.
//!
//! Every value travels as text and every result column comes back as text: the storage layer
//! casts in SQL (`$1::jsonb`, `$2::bigint`), so no type registry is needed.

use super::tls::{self, TlsStream};
use super::uri::{Host, PgConfig, SslMode};
use bytes::{BufMut, BytesMut};
use fallible_iterator::FallibleIterator;
use postgres_protocol::authentication::sasl::{ChannelBinding, ScramSha256, SCRAM_SHA_256};
use postgres_protocol::message::backend::{ErrorFields, Message};
use postgres_protocol::message::frontend;
use postgres_protocol::IsNull;
use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

/// How long a connection attempt may take when the URI sets no `connect_timeout`.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Statements kept prepared per connection before they are all dropped and parsed again.
const MAX_STATEMENTS: usize = 256;

/// A failure talking to PostgreSQL.
#[derive(Debug)]
pub enum PgError {
    /// The socket failed or closed (the connection is unusable).
    Io(io::Error),
    /// The server refused the statement (or the connection) with an SQLSTATE.
    Db(DbError),
    /// Authentication could not proceed (no password, unsupported method).
    Auth(String),
    /// TLS was required and could not be set up.
    Tls(String),
    /// The server sent something this client does not expect.
    Protocol(String),
}

/// An `ErrorResponse`'s fields that matter here.
#[derive(Debug, Clone)]
pub struct DbError {
    pub severity: String,
    /// The SQLSTATE, e.g. `23505` for a unique violation.
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
    pub constraint: Option<String>,
}

impl fmt::Display for PgError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PgError::Io(e) => write!(f, "{e}"),
            PgError::Db(e) => write!(f, "{} {}: {}", e.severity, e.code, e.message),
            PgError::Auth(m) | PgError::Tls(m) | PgError::Protocol(m) => f.write_str(m),
        }
    }
}

impl std::error::Error for PgError {}

impl From<io::Error> for PgError {
    fn from(e: io::Error) -> PgError {
        PgError::Io(e)
    }
}

impl PgError {
    /// The SQLSTATE when the server refused something.
    pub fn code(&self) -> Option<&str> {
        match self {
            PgError::Db(e) => Some(&e.code),
            _ => None,
        }
    }
}

pub type Result<T> = std::result::Result<T, PgError>;

/// A `NOTIFY` received on a channel this connection listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub channel: String,
    pub payload: String,
}

/// One result row: each column as text, `None` for NULL.
#[derive(Debug, Clone)]
pub struct Row(Vec<Option<String>>);

impl Row {
    /// Column `i` as text; `None` for NULL or a column that is not there.
    pub fn get(&self, i: usize) -> Option<&str> {
        self.0.get(i).and_then(|v| v.as_deref())
    }

    /// Column `i` taken out of the row.
    pub fn take(&mut self, i: usize) -> Option<String> {
        self.0.get_mut(i).and_then(Option::take)
    }

    /// Column `i` as an integer (a NULL or a non-integer is a protocol error).
    pub fn int(&self, i: usize) -> Result<i64> {
        self.get(i)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| PgError::Protocol(format!("column {i} is not an integer")))
    }

    /// Column `i` as a boolean (`t`/`f`).
    pub fn bool(&self, i: usize) -> Result<bool> {
        match self.get(i) {
            Some("t") => Ok(true),
            Some("f") => Ok(false),
            _ => Err(PgError::Protocol(format!("column {i} is not a boolean"))),
        }
    }
}

enum Stream {
    Unix(UnixStream),
    Tcp(TcpStream),
    Tls(Box<TlsStream>),
}

impl Stream {
    fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.set_read_timeout(t),
            Stream::Tcp(s) => s.set_read_timeout(t),
            Stream::Tls(s) => s.sock.set_read_timeout(t),
        }
    }

    fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.set_write_timeout(t),
            Stream::Tcp(s) => s.set_write_timeout(t),
            Stream::Tls(s) => s.sock.set_write_timeout(t),
        }
    }
}

impl Read for Stream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.read(buf),
            Stream::Tcp(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

impl Write for Stream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Unix(s) => s.write(buf),
            Stream::Tcp(s) => s.write(buf),
            Stream::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Stream::Unix(s) => s.flush(),
            Stream::Tcp(s) => s.flush(),
            Stream::Tls(s) => s.flush(),
        }
    }
}

/// One connection to PostgreSQL. Not shared: each thread that talks to the database owns one.
pub struct Client {
    stream: Stream,
    read: BytesMut,
    write: BytesMut,
    /// Statement text → its prepared name on this connection.
    statements: HashMap<String, String>,
    next_statement: u64,
    notifications: VecDeque<Notification>,
    /// The last `ReadyForQuery` status: `I` idle, `T` in a transaction, `E` in a failed one.
    status: u8,
    /// The socket failed: nothing more will be sent.
    broken: bool,
    backend_pid: i32,
    /// The bound on blocking socket calls outside `notifications` (`set_timeout`).
    timeout: Option<Duration>,
}

impl Client {
    /// Connects and authenticates, within the URI's `connect_timeout` (else `CONNECT_TIMEOUT`).
    pub fn connect(config: &PgConfig) -> Result<Client> {
        let timeout = config.connect_timeout.unwrap_or(CONNECT_TIMEOUT);
        let deadline = Instant::now() + timeout;
        let stream = open(config, timeout)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let mut client = Client {
            stream,
            read: BytesMut::with_capacity(8192),
            write: BytesMut::with_capacity(8192),
            statements: HashMap::new(),
            next_statement: 0,
            notifications: VecDeque::new(),
            status: b'I',
            broken: false,
            backend_pid: 0,
            timeout: None,
        };
        let started = client
            .negotiate_tls(config, deadline)
            .and_then(|()| client.startup(config));
        if let Err(PgError::Io(e)) = &started {
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) {
                return Err(PgError::Io(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "the database at {} did not answer within {} s",
                        config.describe_host(),
                        timeout.as_secs()
                    ),
                )));
            }
        }
        started?;
        client.stream.set_read_timeout(None)?;
        client.stream.set_write_timeout(None)?;
        Ok(client)
    }

    /// The server process serving this connection (for `pg_terminate_backend` in tests and
    /// for logs).
    pub fn backend_pid(&self) -> i32 {
        self.backend_pid
    }

    /// True inside a transaction block (even a failed one).
    pub fn in_transaction(&self) -> bool {
        self.status != b'I'
    }

    /// True inside a transaction that failed: only a rollback is accepted (a `COMMIT` would
    /// be answered with a rollback, and no error).
    pub fn in_failed_transaction(&self) -> bool {
        self.status == b'E'
    }

    /// Bounds how long any later read or write on the socket may block (`None`: no bound). A
    /// read that runs out of time breaks the connection.
    pub fn set_timeout(&mut self, timeout: Option<Duration>) -> Result<()> {
        self.stream.set_read_timeout(timeout)?;
        self.stream.set_write_timeout(timeout)?;
        self.timeout = timeout;
        Ok(())
    }

    /// True once the socket failed: the connection must be replaced.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Runs one statement with text parameters and returns its rows.
    pub fn query(&mut self, sql: &str, params: &[Option<&str>]) -> Result<Vec<Row>> {
        let mut rows = Vec::new();
        self.extended(sql, params, &mut |row| rows.push(row))?;
        Ok(rows)
    }

    /// Runs one statement and returns its single row, or `None`.
    pub fn query_opt(&mut self, sql: &str, params: &[Option<&str>]) -> Result<Option<Row>> {
        Ok(self.query(sql, params)?.into_iter().next())
    }

    /// Runs one statement and returns the number of rows it touched.
    pub fn execute(&mut self, sql: &str, params: &[Option<&str>]) -> Result<u64> {
        self.extended(sql, params, &mut |_| {})
    }

    /// Runs statements with text parameters in one round trip, in order, and returns each
    /// one's rows; the first that fails ends the rest (and fails the transaction it is in).
    pub fn query_all(&mut self, statements: &[(&str, &[Option<&str>])]) -> Result<Vec<Vec<Row>>> {
        let mut rows: Vec<Vec<Row>> = statements.iter().map(|_| Vec::new()).collect();
        self.pipelined(statements, &mut |i, row| rows[i].push(row))?;
        Ok(rows)
    }

    /// Runs a script of statements without parameters (the simple protocol); rows are dropped.
    pub fn batch(&mut self, sql: &str) -> Result<()> {
        self.script(sql).map(drop)
    }

    /// Runs a script of statements without parameters in one round trip and returns the rows
    /// of its last statement. Each statement runs after the one before it has finished, with
    /// a snapshot of its own under READ COMMITTED; the first that fails ends the script.
    pub fn script(&mut self, sql: &str) -> Result<Vec<Row>> {
        self.check_usable()?;
        frontend::query(sql, &mut self.write)?;
        self.send()?;
        let mut failed = None;
        let mut rows = Vec::new();
        loop {
            match self.next()? {
                Message::ReadyForQuery(body) => {
                    self.status = body.status();
                    break;
                }
                Message::RowDescription(_) => rows.clear(),
                Message::DataRow(body) => rows.push(row(&body)?),
                Message::ErrorResponse(body) => failed = Some(db_error(body.fields())?),
                _ => {}
            }
        }
        match failed {
            Some(e) => Err(PgError::Db(e)),
            None => Ok(rows),
        }
    }

    /// Notifications received so far, else waits up to `wait` for one. An error means the
    /// connection is gone (e.g. the server terminated it) and must be replaced.
    pub fn notifications(&mut self, wait: Duration) -> Result<Vec<Notification>> {
        self.check_usable()?;
        let mut waited = false;
        loop {
            // Only asynchronous messages arrive outside a statement.
            while let Some(message) = Message::parse(&mut self.read)? {
                match message {
                    Message::NotificationResponse(n) => {
                        self.notifications.push_back(Notification {
                            channel: n.channel()?.to_string(),
                            payload: n.message()?.to_string(),
                        })
                    }
                    Message::ErrorResponse(body) => {
                        self.broken = true;
                        return Err(PgError::Db(db_error(body.fields())?));
                    }
                    _ => {}
                }
            }
            if !self.notifications.is_empty() || waited {
                return Ok(self.notifications.drain(..).collect());
            }
            // Nothing complete yet (perhaps part of a message): wait once for more.
            waited = true;
            self.stream
                .set_read_timeout(Some(wait.max(Duration::from_millis(1))))?;
            let got = self.fill();
            self.stream.set_read_timeout(self.timeout)?;
            match got {
                Err(PgError::Io(e))
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    self.broken = false;
                }
                other => other?,
            }
        }
    }

    fn check_usable(&self) -> Result<()> {
        match self.broken {
            true => Err(PgError::Io(io::Error::new(
                io::ErrorKind::NotConnected,
                "the connection to the database was lost",
            ))),
            false => Ok(()),
        }
    }

    /// Parse (first time only), bind, execute, sync; `each` sees every row.
    fn extended(
        &mut self,
        sql: &str,
        params: &[Option<&str>],
        each: &mut dyn FnMut(Row),
    ) -> Result<u64> {
        let touched = self.pipelined(&[(sql, params)], &mut |_, row| each(row))?;
        Ok(touched[0])
    }

    /// Runs statements in one round trip: each is parsed (the first time only), bound and
    /// executed, and one sync follows them all. They run in order; the first that fails ends
    /// the rest. `each` sees every row with its statement's index; returns the rows each
    /// touched.
    fn pipelined(
        &mut self,
        statements: &[(&str, &[Option<&str>])],
        each: &mut dyn FnMut(usize, Row),
    ) -> Result<Vec<u64>> {
        self.check_usable()?;
        if self.statements.len() + statements.len() > MAX_STATEMENTS
            && statements
                .iter()
                .any(|(sql, _)| !self.statements.contains_key(*sql))
        {
            self.statements.clear();
            self.batch("DEALLOCATE ALL")?;
        }
        // The statements parsed in this round trip, in order: (sql, name).
        let mut fresh: Vec<(&str, String)> = Vec::new();
        for (sql, params) in statements {
            let name = match self.statements.get(*sql) {
                Some(name) => name.clone(),
                None => match fresh.iter().find(|(s, _)| s == sql) {
                    Some((_, name)) => name.clone(),
                    None => {
                        self.next_statement += 1;
                        let name = format!("s{}", self.next_statement);
                        frontend::parse(&name, sql, std::iter::empty(), &mut self.write)?;
                        fresh.push((sql, name.clone()));
                        name
                    }
                },
            };
            let bound = frontend::bind(
                "",
                &name,
                std::iter::empty(),
                params.iter(),
                |p, buf: &mut BytesMut| match p {
                    Some(text) => {
                        buf.put_slice(text.as_bytes());
                        Ok(IsNull::No)
                    }
                    None => Ok(IsNull::Yes),
                },
                std::iter::empty(),
                &mut self.write,
            );
            if bound.is_err() {
                self.write.clear();
                return Err(PgError::Protocol(
                    "too many parameters for one statement".into(),
                ));
            }
            frontend::execute("", 0, &mut self.write)?;
        }
        frontend::sync(&mut self.write);
        self.send()?;
        let mut failed = None;
        let (mut parsed, mut current) = (0, 0);
        let mut touched = vec![0; statements.len()];
        loop {
            match self.next()? {
                Message::ParseComplete => parsed += 1,
                Message::DataRow(body) => each(current, row(&body)?),
                Message::CommandComplete(body) => {
                    touched[current] = body
                        .tag()?
                        .rsplit(' ')
                        .next()
                        .and_then(|n| n.parse().ok())
                        .unwrap_or(0);
                    current += 1;
                }
                Message::EmptyQueryResponse => current += 1,
                Message::ErrorResponse(body) => failed = Some(db_error(body.fields())?),
                Message::ReadyForQuery(body) => {
                    self.status = body.status();
                    break;
                }
                _ => {}
            }
        }
        // Parses complete in order; those after a failure never ran.
        for (sql, name) in fresh.into_iter().take(parsed) {
            self.statements.insert(sql.to_string(), name);
        }
        // A prepared statement the schema changed under (an operator's ALTER during
        // maintenance) is parsed again next time.
        if let Some(e) = &failed {
            if matches!(e.code.as_str(), "0A000" | "26000") {
                if let Some((sql, _)) = statements.get(current) {
                    self.statements.remove(*sql);
                }
            }
        }
        match failed {
            Some(e) => Err(PgError::Db(e)),
            None => Ok(touched),
        }
    }

    fn negotiate_tls(&mut self, config: &PgConfig, deadline: Instant) -> Result<()> {
        if !matches!(self.stream, Stream::Tcp(_)) {
            return Ok(());
        }
        let wanted = match config.sslmode {
            SslMode::Disable | SslMode::Allow => return Ok(()),
            SslMode::Prefer => false,
            _ => true,
        };
        frontend::ssl_request(&mut self.write);
        self.send()?;
        let mut answer = [0u8; 1];
        self.stream.read_exact(&mut answer)?;
        match answer[0] {
            b'S' => {
                let Stream::Tcp(sock) = &self.stream else {
                    unreachable!("checked above")
                };
                let sock = sock.try_clone()?;
                let tls = tls::handshake(config, sock, deadline)?;
                self.stream = Stream::Tls(Box::new(tls));
                Ok(())
            }
            b'N' if !wanted => Ok(()),
            b'N' => Err(PgError::Tls(format!(
                "the server at {} does not offer TLS, and sslmode requires it",
                config.describe_host()
            ))),
            _ => Err(PgError::Protocol(
                "unexpected answer to the TLS request".into(),
            )),
        }
    }

    fn startup(&mut self, config: &PgConfig) -> Result<()> {
        let mut params = vec![
            ("user", config.user.as_str()),
            ("database", config.dbname.as_str()),
            ("client_encoding", "UTF8"),
        ];
        if let Some(name) = &config.application_name {
            params.push(("application_name", name.as_str()));
        }
        frontend::startup_message(params, &mut self.write)?;
        self.send()?;
        let password = || {
            config
                .password
                .as_deref()
                .map(str::as_bytes)
                .ok_or_else(|| {
                    PgError::Auth(format!(
                        "the database asks user {:?} for a password and none was given \
                     (the URI, PGPASSWORD or the password file)",
                        config.user
                    ))
                })
        };
        let mut scram: Option<ScramSha256> = None;
        loop {
            match self.next()? {
                Message::AuthenticationOk => {}
                Message::AuthenticationCleartextPassword => {
                    frontend::password_message(password()?, &mut self.write)?;
                    self.send()?;
                }
                Message::AuthenticationMd5Password(body) => {
                    let hash = postgres_protocol::authentication::md5_hash(
                        config.user.as_bytes(),
                        password()?,
                        body.salt(),
                    );
                    frontend::password_message(hash.as_bytes(), &mut self.write)?;
                    self.send()?;
                }
                Message::AuthenticationSasl(body) => {
                    let mut offered = false;
                    let mut mechanisms = body.mechanisms();
                    while let Some(m) = mechanisms.next()? {
                        offered |= m == SCRAM_SHA_256;
                    }
                    if !offered {
                        return Err(PgError::Auth(
                            "the database offers no SASL mechanism this client knows".into(),
                        ));
                    }
                    let s = ScramSha256::new(password()?, ChannelBinding::unsupported());
                    frontend::sasl_initial_response(SCRAM_SHA_256, s.message(), &mut self.write)?;
                    self.send()?;
                    scram = Some(s);
                }
                Message::AuthenticationSaslContinue(body) => {
                    let s = scram.as_mut().ok_or_else(|| unexpected("SASL continue"))?;
                    s.update(body.data())?;
                    frontend::sasl_response(s.message(), &mut self.write)?;
                    self.send()?;
                }
                Message::AuthenticationSaslFinal(body) => {
                    let s = scram.as_mut().ok_or_else(|| unexpected("SASL final"))?;
                    s.finish(body.data())?;
                }
                Message::BackendKeyData(body) => self.backend_pid = body.process_id(),
                Message::ParameterStatus(_) => {}
                Message::ErrorResponse(body) => return Err(PgError::Db(db_error(body.fields())?)),
                Message::ReadyForQuery(body) => {
                    self.status = body.status();
                    return Ok(());
                }
                _ => {
                    return Err(PgError::Auth(
                        "the database asks for an authentication method this client does not \
                         support (trust, password, md5 and scram-sha-256 are)"
                            .into(),
                    ))
                }
            }
        }
    }

    /// Writes what is buffered.
    fn send(&mut self) -> Result<()> {
        let sent = self
            .stream
            .write_all(&self.write)
            .and_then(|()| self.stream.flush());
        self.write.clear();
        if let Err(e) = sent {
            self.broken = true;
            return Err(e.into());
        }
        Ok(())
    }

    /// The next message of the current exchange; notifications and notices are set aside.
    fn next(&mut self) -> Result<Message> {
        loop {
            match Message::parse(&mut self.read)? {
                Some(Message::NotificationResponse(n)) => {
                    self.notifications.push_back(Notification {
                        channel: n.channel()?.to_string(),
                        payload: n.message()?.to_string(),
                    })
                }
                Some(Message::NoticeResponse(_)) => {}
                Some(message) => return Ok(message),
                None => self.fill()?,
            }
        }
    }

    /// Reads more bytes from the socket; end of stream is an error.
    fn fill(&mut self) -> Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => {
                    self.broken = true;
                    return Err(PgError::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the database closed the connection",
                    )));
                }
                Ok(n) => {
                    self.read.extend_from_slice(&chunk[..n]);
                    return Ok(());
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    // Even a timeout leaves the exchange half done: the connection is given up
                    // (`notifications` alone waits with a timeout between messages, and undoes
                    // this).
                    self.broken = true;
                    return Err(e.into());
                }
            }
        }
    }
}

impl Drop for Client {
    fn drop(&mut self) {
        if !self.broken {
            frontend::terminate(&mut self.write);
            let _ = self.stream.write_all(&self.write);
        }
    }
}

fn open(config: &PgConfig, timeout: Duration) -> Result<Stream> {
    let unreachable = |e: io::Error| {
        PgError::Io(io::Error::new(
            e.kind(),
            format!(
                "cannot reach the database at {}: {e}",
                config.describe_host()
            ),
        ))
    };
    match &config.host {
        Host::Socket(dir) => {
            let path = dir.join(format!(".s.PGSQL.{}", config.port));
            Ok(Stream::Unix(
                UnixStream::connect(path).map_err(unreachable)?,
            ))
        }
        Host::Tcp(host) => {
            let addrs = (host.as_str(), config.port)
                .to_socket_addrs()
                .map_err(unreachable)?;
            let mut last = io::Error::new(io::ErrorKind::NotFound, "no address");
            for addr in addrs {
                match TcpStream::connect_timeout(&addr, timeout) {
                    Ok(s) => {
                        s.set_nodelay(true)?;
                        // A peer that vanished (a failover, a dropped NAT entry) is noticed in
                        // about 30 s instead of the kernel's 15 minutes.
                        let sock = socket2::SockRef::from(&s);
                        let keepalive = socket2::TcpKeepalive::new()
                            .with_time(Duration::from_secs(10))
                            .with_interval(Duration::from_secs(5))
                            .with_retries(3);
                        sock.set_tcp_keepalive(&keepalive)?;
                        sock.set_tcp_user_timeout(Some(Duration::from_secs(30)))?;
                        return Ok(Stream::Tcp(s));
                    }
                    Err(e) => last = e,
                }
            }
            Err(unreachable(last))
        }
    }
}

/// A data row's columns as text.
fn row(body: &postgres_protocol::message::backend::DataRowBody) -> Result<Row> {
    let buf = body.buffer();
    let values = body
        .ranges()
        .map(|r| Ok(r.map(|r| String::from_utf8_lossy(&buf[r]).into_owned())))
        .collect()?;
    Ok(Row(values))
}

fn db_error(mut fields: ErrorFields<'_>) -> Result<DbError> {
    let mut e = DbError {
        severity: String::new(),
        code: String::new(),
        message: String::new(),
        detail: None,
        constraint: None,
    };
    while let Some(field) = fields.next()? {
        let value = String::from_utf8_lossy(field.value_bytes()).into_owned();
        match field.type_() {
            b'V' => e.severity = value,
            b'S' if e.severity.is_empty() => e.severity = value,
            b'C' => e.code = value,
            b'M' => e.message = value,
            b'D' => e.detail = Some(value),
            b'n' => e.constraint = Some(value),
            _ => {}
        }
    }
    Ok(e)
}

fn unexpected(what: &str) -> PgError {
    PgError::Protocol(format!("unexpected {what} message"))
}
