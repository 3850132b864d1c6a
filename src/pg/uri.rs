//! Connection settings from a libpq URI (`postgres://user:password@host:port/db?param=value`),
//! completed from libpq's usual sources (`PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`,
//! `PGDATABASE`, `PGSSLMODE`, `PGSSLROOTCERT`, the password file) as `psql` would.
//!
//! The environment is handed in as a function (nothing below `main` reads it). `Display` is the
//! URI without its password: the only form a log, a record or `status` ever shows.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Where the server is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// A Unix-domain socket directory; the socket is `DIR/.s.PGSQL.PORT`.
    Socket(PathBuf),
    /// A host name or address, reached over TCP.
    Tcp(String),
}

/// How much TLS a TCP connection needs (libpq's `sslmode`). Unix sockets never use TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

/// Everything a connection needs.
#[derive(Clone, PartialEq, Eq)]
pub struct PgConfig {
    pub host: Host,
    pub port: u16,
    pub user: String,
    pub password: Option<String>,
    pub dbname: String,
    pub sslmode: SslMode,
    pub sslrootcert: Option<PathBuf>,
    pub connect_timeout: Option<Duration>,
    pub application_name: Option<String>,
}

/// Debian's socket directory, libpq's default host there.
pub const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";

/// True when `s` names a PostgreSQL database rather than a SQLite file.
pub fn is_postgres_uri(s: &str) -> bool {
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

impl PgConfig {
    /// Parses a URI; `env` answers libpq's variables (`PGUSER`, ..., and `HOME` for the
    /// password file). Errors name what is wrong, never the password.
    pub fn parse(uri: &str, env: &dyn Fn(&str) -> Option<String>) -> Result<PgConfig, String> {
        let rest = uri
            .strip_prefix("postgresql://")
            .or_else(|| uri.strip_prefix("postgres://"))
            .ok_or("a PostgreSQL URI starts with postgres:// or postgresql://")?;
        let (main, query) = rest.split_once('?').unwrap_or((rest, ""));
        let (authority, path) = main.split_once('/').unwrap_or((main, ""));
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let mut user = None;
        let mut password = None;
        if let Some(info) = userinfo {
            let (u, p) = match info.split_once(':') {
                Some((u, p)) => (u, Some(p)),
                None => (info, None),
            };
            if !u.is_empty() {
                user = Some(decode(u)?);
            }
            password = p.map(decode).transpose()?;
        }
        let mut host = None;
        let mut port = None;
        if hostport.contains(',') {
            return Err("several hosts in one URI are not supported".into());
        }
        let (h, p) = if let Some(bracketed) = hostport.strip_prefix('[') {
            let (h, after) = bracketed.split_once(']').ok_or("unclosed [ in the host")?;
            (h.to_string(), after.strip_prefix(':'))
        } else {
            match hostport.split_once(':') {
                Some((h, p)) => (decode(h)?, Some(p)),
                None => (decode(hostport)?, None),
            }
        };
        if !h.is_empty() {
            host = Some(h);
        }
        if let Some(p) = p.filter(|p| !p.is_empty()) {
            port = Some(parse_port(p)?);
        }
        let mut dbname = match path {
            "" => None,
            p => Some(decode(p)?),
        };
        let mut sslmode = None;
        let mut sslrootcert = None;
        let mut connect_timeout = None;
        let mut application_name = None;
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').ok_or("a URI parameter has no value")?;
            let value = decode(value)?;
            match key {
                "host" => host = Some(value),
                "port" => port = Some(parse_port(&value)?),
                "user" => user = Some(value),
                "password" => password = Some(value),
                "dbname" => dbname = Some(value),
                "sslmode" => sslmode = Some(parse_sslmode(&value)?),
                "sslrootcert" => sslrootcert = Some(PathBuf::from(value)),
                "connect_timeout" => {
                    let secs: u64 = value
                        .parse()
                        .map_err(|_| "connect_timeout is not a number of seconds")?;
                    connect_timeout = Some(Duration::from_secs(secs.max(2)));
                }
                "application_name" => application_name = Some(value),
                // Known names are spelled out; the text given is not echoed (see parse_port).
                _ => {
                    return Err(
                        "unknown URI parameter (known: host, port, user, password, dbname, \
                         sslmode, sslrootcert, connect_timeout, application_name)"
                            .to_string(),
                    )
                }
            }
        }
        let host = host
            .or_else(|| env("PGHOST"))
            .unwrap_or_else(|| DEFAULT_SOCKET_DIR.to_string());
        let host = match host.starts_with('/') {
            true => Host::Socket(PathBuf::from(host)),
            false => Host::Tcp(host),
        };
        let port = match port {
            Some(p) => p,
            None => env("PGPORT")
                .map(|p| parse_port(&p))
                .transpose()?
                .unwrap_or(5432),
        };
        let user = user
            .or_else(|| env("PGUSER"))
            .or_else(|| env("USER"))
            .ok_or("no user name: give one in the URI or PGUSER")?;
        let dbname = dbname
            .or_else(|| env("PGDATABASE"))
            .unwrap_or_else(|| user.clone());
        let sslmode = match sslmode {
            Some(m) => m,
            None => env("PGSSLMODE")
                .map(|m| parse_sslmode(&m))
                .transpose()?
                .unwrap_or(SslMode::Prefer),
        };
        let sslrootcert = sslrootcert.or_else(|| env("PGSSLROOTCERT").map(PathBuf::from));
        let mut config = PgConfig {
            host,
            port,
            user,
            password,
            dbname,
            sslmode,
            sslrootcert,
            connect_timeout,
            application_name,
        };
        if config.password.is_none() {
            config.password = env("PGPASSWORD").or_else(|| {
                let file = env("PGPASSFILE")
                    .map(PathBuf::from)
                    .or_else(|| env("HOME").map(|h| Path::new(&h).join(".pgpass")))?;
                config.password_from_file(&file)
            });
        }
        Ok(config)
    }

    /// The host as a log line names it: the socket directory or the host name, with the port.
    pub fn describe_host(&self) -> String {
        match &self.host {
            Host::Socket(dir) => format!("{}/.s.PGSQL.{}", dir.display(), self.port),
            Host::Tcp(h) => format!("{h}:{}", self.port),
        }
    }

    /// The password for this connection from a password file (`host:port:db:user:password`
    /// lines, `*` matching anything, `\` escaping `:` and `\`). Like libpq, a file that others
    /// may read is ignored, and a socket in the default directory matches `localhost`.
    fn password_from_file(&self, file: &Path) -> Option<String> {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(file).ok()?;
        if meta.mode() & 0o077 != 0 {
            log::warn!(
                "password file {} is readable by others; ignored",
                file.display()
            );
            return None;
        }
        let text = std::fs::read_to_string(file).ok()?;
        let host = match &self.host {
            Host::Socket(dir) if dir == Path::new(DEFAULT_SOCKET_DIR) => "localhost".to_string(),
            Host::Socket(dir) => dir.display().to_string(),
            Host::Tcp(h) => h.clone(),
        };
        let port = self.port.to_string();
        let wanted = [host.as_str(), &port, &self.dbname, &self.user];
        text.lines()
            .filter(|l| !l.starts_with('#'))
            .find_map(|line| {
                let fields = split_pgpass(line);
                if fields.len() != 5 {
                    return None;
                }
                let matches = fields[..4]
                    .iter()
                    .zip(wanted)
                    .all(|(f, w)| f == "*" || f == w);
                matches.then(|| fields[4].clone())
            })
    }
}

/// The URI without the password, for logs, records and `status`.
impl fmt::Display for PgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mode = match self.sslmode {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        };
        write!(f, "postgresql://{}@", encode(&self.user))?;
        match &self.host {
            Host::Tcp(h) if h.contains(':') => write!(f, "[{h}]:{}", self.port)?,
            Host::Tcp(h) => write!(f, "{}:{}", encode(h), self.port)?,
            Host::Socket(_) => write!(f, ":{}", self.port)?,
        }
        write!(f, "/{}", encode(&self.dbname))?;
        match &self.host {
            Host::Socket(dir) => write!(f, "?host={}", encode(&dir.display().to_string())),
            Host::Tcp(_) => write!(f, "?sslmode={mode}"),
        }
    }
}

/// Never prints the password.
impl fmt::Debug for PgConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgConfig({self})")
    }
}

fn parse_port(p: &str) -> Result<u16, String> {
    p.parse()
        .ok()
        .filter(|p| *p != 0)
        // The text is not echoed: a password with an unencoded `:`, `/` or `?` lands here.
        .ok_or_else(|| "the port is not a number from 1 to 65535".to_string())
}

fn parse_sslmode(m: &str) -> Result<SslMode, String> {
    Ok(match m {
        "disable" => SslMode::Disable,
        "allow" => SslMode::Allow,
        "prefer" => SslMode::Prefer,
        "require" => SslMode::Require,
        "verify-ca" => SslMode::VerifyCa,
        "verify-full" => SslMode::VerifyFull,
        _ => {
            return Err(
                "sslmode is not one of disable, allow, prefer, require, verify-ca, verify-full"
                    .to_string(),
            )
        }
    })
}

/// Percent-decoding (`%2F` is `/`); the result must be UTF-8.
fn decode(s: &str) -> Result<String, String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or("a % in the URI is not followed by two hex digits")?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the URI does not decode to UTF-8".to_string())
}

/// Percent-encoding of everything but unreserved characters.
fn encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// A password file line's five fields, with `\:` and `\\` unescaped.
fn split_pgpass(line: &str) -> Vec<String> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    fields.last_mut().unwrap().push(next);
                }
            }
            ':' => fields.push(String::new()),
            c => fields.last_mut().unwrap().push(c),
        }
    }
    fields
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn a_full_uri_gives_every_part_and_display_hides_the_password() {
        let c = PgConfig::parse(
            "postgresql://app:s%40cret@db.example.com:6432/items?sslmode=verify-full&sslrootcert=/etc/ca.pem",
            &no_env,
        )
        .unwrap();
        assert_eq!(c.host, Host::Tcp("db.example.com".into()));
        assert_eq!(c.port, 6432);
        assert_eq!(c.user, "app");
        assert_eq!(c.password.as_deref(), Some("s@cret"));
        assert_eq!(c.dbname, "items");
        assert_eq!(c.sslmode, SslMode::VerifyFull);
        assert_eq!(c.sslrootcert, Some(PathBuf::from("/etc/ca.pem")));
        let shown = format!("{c} {c:?}");
        assert!(!shown.contains("cret"), "{shown}");
        assert!(
            shown.contains("postgresql://app@db.example.com:6432/items"),
            "{shown}"
        );
    }

    #[test]
    fn a_socket_directory_comes_from_the_host_parameter_or_an_encoded_host() {
        let a = PgConfig::parse("postgres://u@/d?host=/tmp/pg%20x", &no_env).unwrap();
        assert_eq!(a.host, Host::Socket(PathBuf::from("/tmp/pg x")));
        let b = PgConfig::parse("postgres://u@%2Frun%2Fpg:5433/d", &no_env).unwrap();
        assert_eq!(b.host, Host::Socket(PathBuf::from("/run/pg")));
        assert_eq!(b.port, 5433);
        assert_eq!(b.describe_host(), "/run/pg/.s.PGSQL.5433");
    }

    #[test]
    fn missing_parts_come_from_libpq_variables_then_defaults() {
        let env = |k: &str| match k {
            "PGUSER" => Some("ops".to_string()),
            "PGPASSWORD" => Some("pw".to_string()),
            "PGPORT" => Some("7000".to_string()),
            _ => None,
        };
        let c = PgConfig::parse("postgres://", &env).unwrap();
        assert_eq!(c.user, "ops");
        assert_eq!(c.dbname, "ops");
        assert_eq!(c.port, 7000);
        assert_eq!(c.password.as_deref(), Some("pw"));
        assert_eq!(c.host, Host::Socket(PathBuf::from(DEFAULT_SOCKET_DIR)));
        assert_eq!(c.sslmode, SslMode::Prefer);
    }

    #[test]
    fn bad_uris_are_refused_without_echoing_a_password() {
        for bad in [
            "mysql://u@h/d",
            "postgres://u:pw@h:99999/d",
            "postgres://u:pw@h/d?sslmode=maybe",
            "postgres://u:pw@h/d?colour=blue",
            "postgres://u:pw@h1,h2/d",
            "postgres://u:pw@h/d%zz",
            "postgres://app:s3cr?t@db/x",
        ] {
            let err = PgConfig::parse(bad, &no_env).unwrap_err();
            assert!(
                !err.contains("pw") && !err.contains("s3cr") && !err.contains("cret"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn the_password_file_matches_by_fields_and_wildcards_and_must_be_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("pgpass");
        std::fs::write(
            &file,
            "# comment\nother:*:*:*:no\n/tmp/pg:*:items:app:pa\\:ss\n*:*:*:*:fallback\n",
        )
        .unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let env = |k: &str| (k == "PGPASSFILE").then(|| file.display().to_string());
        let c = PgConfig::parse("postgres://app@/items?host=/tmp/pg", &env).unwrap();
        assert_eq!(c.password.as_deref(), Some("pa:ss"));
        let d = PgConfig::parse("postgres://app@h/else", &env).unwrap();
        assert_eq!(d.password.as_deref(), Some("fallback"));
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let e = PgConfig::parse("postgres://app@/items?host=/tmp/pg", &env).unwrap();
        assert_eq!(e.password, None);
    }
}
