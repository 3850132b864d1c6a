//! A real PostgreSQL for the tests, started by them: one cluster per test process, `initdb`
//! into a temporary directory as a non-root user (PostgreSQL refuses root; as root the tests
//! run it as the `postgres` user), listening on a Unix socket only, with SCRAM passwords.
//! Each test takes a database of its own (`Postgres::database`).
//!
//! Tear-down: the cluster runs under a small shell that holds the read end of a pipe whose
//! write end only this process has; when the process ends (however it ends) the pipe closes,
//! and the shell stops PostgreSQL and removes its directory.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// The superuser the tests and servers connect as, and its password.
pub const USER: &str = "directus";
pub const PASSWORD: &str = "test-password-1";

pub struct Postgres {
    pub socket_dir: PathBuf,
    pub port: u16,
    /// For the TLS cluster: the certificate authority that signed the server's certificate
    /// (made for the name `localhost`).
    pub ca: Option<PathBuf>,
    /// Kept open for the life of the process (see the module comment).
    _lifeline: Mutex<ChildStdin>,
    /// The shell; never waited for (it outlives the tests by design).
    _shell: Mutex<std::process::Child>,
}

/// The process's cluster, started on first use.
pub fn cluster() -> &'static Postgres {
    static CLUSTER: OnceLock<Postgres> = OnceLock::new();
    CLUSTER.get_or_init(|| Postgres::start(false))
}

/// A second cluster that also listens on 127.0.0.1 with TLS on (certificates made by `openssl`
/// for the test), for `sslmode`.
pub fn tls_cluster() -> &'static Postgres {
    static CLUSTER: OnceLock<Postgres> = OnceLock::new();
    CLUSTER.get_or_init(|| Postgres::start(true))
}

/// The directory of PostgreSQL's server programs (Debian keeps them out of `PATH`).
fn bindir() -> PathBuf {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    found.retain(|p| p.join("initdb").exists());
    found.sort();
    found.pop().unwrap_or_else(|| {
        panic!("PostgreSQL's server programs are missing: install Debian's postgresql package (scripts/test-deps.sh does)")
    })
}

/// The uid and gid to run PostgreSQL as: ours, unless we are root (then `postgres`'s).
fn run_as() -> Option<(u32, u32)> {
    let me = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m));
    if me.ok() != Some(0) {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.first() == Some(&"postgres")).then(|| (f[2].parse().unwrap(), f[3].parse().unwrap()))
    })
}

impl Postgres {
    fn start(tls: bool) -> Postgres {
        let bin = bindir();
        let dir = tempfile::Builder::new()
            .prefix("directus-pg-")
            .tempdir()
            .unwrap()
            .keep();
        let data = dir.join("data");
        let owner = run_as();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&dir, Some(uid), Some(gid)).unwrap();
        }
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        let pwfile = dir.join("pw");
        std::fs::write(&pwfile, PASSWORD).unwrap();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&pwfile, Some(uid), Some(gid)).unwrap();
        }
        let as_owner = |cmd: &mut Command| {
            if let Some((uid, gid)) = owner {
                cmd.uid(uid).gid(gid);
            }
        };
        let mut initdb = Command::new(bin.join("initdb"));
        initdb
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                USER,
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "-N",
            ])
            .arg(format!("--pwfile={}", pwfile.display()))
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        as_owner(&mut initdb);
        let out = initdb.output().unwrap();
        assert!(
            out.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let (port, tcp, ca) = match tls {
            false => (5432, String::new(), None),
            true => {
                let port = std::net::TcpListener::bind("127.0.0.1:0")
                    .unwrap()
                    .local_addr()
                    .unwrap()
                    .port();
                let ca = certificates(&dir, owner);
                let tcp = format!(
                    "-c listen_addresses=127.0.0.1 -c ssl=on -c ssl_cert_file={d}/server.pem \
                     -c ssl_key_file={d}/server.key",
                    d = dir.display()
                );
                (port, tcp, Some(ca))
            }
        };
        // The shell starts PostgreSQL, waits for its stdin to close, then stops it and removes
        // the directory. `exec 2>&1` puts the server's log on the pipe read below.
        let script = format!(
            "exec 2>&1; {postgres} -D {data} -k {dir} -p {port} -c listen_addresses= {tcp} \
             -c fsync=off -c max_connections=300 -c shared_buffers=64MB \
             -c log_min_messages=warning -c log_min_error_statement=panic \
             -c log_connections=off -c log_lock_waits=on & pid=$!; \
             cat >/dev/null; kill -INT $pid; wait $pid; rm -rf {dir}",
            postgres = bin.join("postgres").display(),
            data = data.display(),
            dir = dir.display(),
        );
        let mut shell = Command::new("sh");
        shell
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        as_owner(&mut shell);
        let mut child = shell.spawn().unwrap();
        let stdin = child.stdin.take().unwrap();
        let mut log = BufReader::new(child.stdout.take().unwrap());
        let mut seen = String::new();
        loop {
            let mut line = String::new();
            if log.read_line(&mut line).unwrap() == 0 {
                panic!("PostgreSQL did not start: {seen}");
            }
            seen.push_str(&line);
            if line.contains("ready to accept connections") {
                break;
            }
        }
        // Keep draining the log so the server never blocks on a full pipe, into a file kept
        // for a failed run (target/test-artifacts/postgres-<pid>.log: warnings and errors only).
        let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts");
        let _ = std::fs::create_dir_all(&artifacts);
        let kept = artifacts.join(format!(
            "postgres-{}{}.log",
            std::process::id(),
            if tls { "-tls" } else { "" }
        ));
        std::thread::spawn(move || {
            let mut sink: Box<dyn Write + Send> = match std::fs::File::create(kept) {
                Ok(file) => Box::new(file),
                Err(_) => Box::new(std::io::sink()),
            };
            let _ = std::io::copy(&mut log, &mut sink);
            let _ = sink.flush();
        });
        Postgres {
            socket_dir: dir,
            port,
            ca,
            _lifeline: Mutex::new(stdin),
            _shell: Mutex::new(child),
        }
    }

    /// A URI for a database of this cluster, password included.
    ///
    /// With `connect_timeout=30`: under the whole suite's load on two cores a new backend has
    /// been seen to take over the default 5 s to answer (twice in this round of runs; the
    /// cause was not found), which is no failure of what a test checks.
    pub fn uri(&self, db: &str) -> String {
        format!(
            "postgresql://{USER}:{PASSWORD}@/{db}?host={}&port={}&connect_timeout=30",
            self.socket_dir.display(),
            self.port
        )
    }

    /// The same URI without the password.
    pub fn uri_without_password(&self, db: &str) -> String {
        format!(
            "postgresql://{USER}@/{db}?host={}&port={}",
            self.socket_dir.display(),
            self.port
        )
    }

    /// A fresh, empty database of its own for one test; returns its name.
    pub fn database(&self) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "t{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        self.admin()
            .batch(&format!("CREATE DATABASE {name}"))
            .unwrap();
        name
    }

    /// A connection to the `postgres` database as the superuser.
    pub fn admin(&self) -> directus::pg::Client {
        self.connect("postgres")
    }

    /// A connection to `db` as the superuser.
    pub fn connect(&self, db: &str) -> directus::pg::Client {
        let config = directus::pg::PgConfig::parse(&self.uri(db), &|_| None).unwrap();
        directus::pg::Client::connect(&config).unwrap()
    }
}

/// A certificate authority and a server certificate for `localhost` signed by it, in `dir`;
/// returns the authority's certificate.
fn certificates(dir: &std::path::Path, owner: Option<(u32, u32)>) -> PathBuf {
    let run = |args: &str| {
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("cd {} && {args}", dir.display()))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    run(&format!(
        "openssl req -x509 {ec} -keyout ca.key -out ca.pem -days 2 -subj /CN=directus-test-ca \
         -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign"
    ));
    run(&format!(
        "openssl req {ec} -keyout server.key -out server.csr -subj /CN=localhost"
    ));
    run(
        "printf 'subjectAltName=DNS:localhost\\nbasicConstraints=CA:FALSE\\n' > ext && \
         openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
         -out server.pem -days 2 -extfile ext",
    );
    for file in ["server.key", "server.pem"] {
        let path = dir.join(file);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap();
        }
    }
    dir.join("ca.pem")
}
