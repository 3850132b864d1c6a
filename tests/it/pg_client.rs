//! The synchronous PostgreSQL client against a real server the test process started.

use crate::common::pg::{cluster, tls_cluster, PASSWORD, USER};
use directus::pg::{Client, PgConfig, PgError};
use std::time::{Duration, Instant};

fn config(uri: &str) -> PgConfig {
    PgConfig::parse(uri, &|_| None).unwrap()
}

#[test]
fn statements_take_text_parameters_and_return_text_rows() {
    let pg = cluster();
    let db = pg.database();
    let mut c = pg.connect(&db);
    c.batch("CREATE TABLE t (id bigint PRIMARY KEY, doc jsonb, note text)")
        .unwrap();
    for i in 0..3 {
        let id = i.to_string();
        let doc = format!(r#"{{"n":{i},"s":"éx"}}"#);
        let n = c
            .execute(
                "INSERT INTO t (id, doc, note) VALUES ($1::bigint, $2::jsonb, $3)",
                &[Some(&id), Some(&doc), None],
            )
            .unwrap();
        assert_eq!(n, 1);
    }
    let rows = c
        .query(
            "SELECT id, doc->>'s', note, doc->'n' = $1::jsonb FROM t WHERE id >= $2::bigint ORDER BY id",
            &[Some("1"), Some("1")],
        )
        .unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].int(0).unwrap(), 1);
    assert_eq!(rows[0].get(1), Some("éx"));
    assert_eq!(rows[0].get(2), None);
    assert!(rows[0].bool(3).unwrap());
    assert!(!rows[1].bool(3).unwrap());
    // The same statement again runs from the prepared copy; an UPDATE counts its rows.
    let n = c
        .execute(
            "UPDATE t SET note = $1 WHERE id >= $2::bigint",
            &[Some("x"), Some("0")],
        )
        .unwrap();
    assert_eq!(n, 3);
}

#[test]
fn a_refused_statement_names_its_sqlstate_and_the_connection_carries_on() {
    let pg = cluster();
    let db = pg.database();
    let mut c = pg.connect(&db);
    c.batch("CREATE TABLE u (k text PRIMARY KEY)").unwrap();
    c.batch("BEGIN").unwrap();
    c.execute("INSERT INTO u VALUES ($1)", &[Some("a")])
        .unwrap();
    let err = c
        .execute("INSERT INTO u VALUES ($1)", &[Some("a")])
        .unwrap_err();
    assert_eq!(err.code(), Some("23505"), "{err}");
    assert!(c.in_transaction());
    // In a failed transaction every statement is refused until the rollback.
    let err = c.query("SELECT 1", &[]).unwrap_err();
    assert_eq!(err.code(), Some("25P02"), "{err}");
    c.batch("ROLLBACK").unwrap();
    assert!(!c.in_transaction());
    assert_eq!(
        c.query("SELECT count(*) FROM u", &[]).unwrap()[0]
            .int(0)
            .unwrap(),
        0
    );
    // A statement that does not parse is not kept, and a good one after it works.
    assert_eq!(c.query("SELEC 1", &[]).unwrap_err().code(), Some("42601"));
    assert_eq!(c.query("SELECT 2", &[]).unwrap()[0].int(0).unwrap(), 2);
}

#[test]
fn a_wrong_or_missing_password_is_refused_without_showing_it() {
    let pg = cluster();
    let wrong = pg.uri("postgres").replace(PASSWORD, "not-the-password");
    let err = Client::connect(&config(&wrong)).err().expect("refused");
    assert_eq!(err.code(), Some("28P01"), "{err}");
    assert!(!err.to_string().contains("not-the-password"));
    let err = Client::connect(&config(&pg.uri_without_password("postgres")))
        .err()
        .expect("refused");
    assert!(matches!(err, PgError::Auth(_)), "{err}");
    assert!(err.to_string().contains(USER), "{err}");
}

#[test]
fn an_unreachable_database_fails_fast_and_names_the_host() {
    let dir = tempfile::tempdir().unwrap();
    let uri = format!("postgresql://u:secret@/d?host={}", dir.path().display());
    let started = Instant::now();
    let err = Client::connect(&config(&uri))
        .err()
        .expect("no server there");
    assert!(started.elapsed() < Duration::from_secs(10));
    let text = err.to_string();
    assert!(text.contains(&dir.path().display().to_string()), "{text}");
    assert!(!text.contains("secret"), "{text}");
}

#[test]
fn notifications_arrive_and_a_terminated_listener_learns_it_is_gone() {
    let pg = cluster();
    let db = pg.database();
    let mut listener = pg.connect(&db);
    listener.batch("LISTEN directus_test").unwrap();
    assert!(listener
        .notifications(Duration::from_millis(10))
        .unwrap()
        .is_empty());
    let mut other = pg.connect(&db);
    other
        .query("SELECT pg_notify('directus_test', $1)", &[Some("hello")])
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let got = loop {
        let got = listener.notifications(Duration::from_millis(200)).unwrap();
        if !got.is_empty() || Instant::now() > deadline {
            break got;
        }
    };
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].channel, "directus_test");
    assert_eq!(got[0].payload, "hello");
    let pid = listener.backend_pid().to_string();
    other
        .query("SELECT pg_terminate_backend($1::int)", &[Some(&pid)])
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let err = loop {
        match listener.notifications(Duration::from_millis(200)) {
            Err(e) => break e,
            Ok(_) if Instant::now() < deadline => {}
            Ok(_) => panic!("the terminated connection still looks alive"),
        }
    };
    assert!(listener.is_broken(), "{err}");
    assert!(listener.query("SELECT 1", &[]).is_err());
}

#[test]
fn tls_verify_full_checks_the_chain_and_the_host_name() {
    let pg = tls_cluster();
    let ca = pg.ca.as_ref().unwrap().display().to_string();
    let uri = |host: &str, mode: &str, root: &str| {
        let mut u = format!(
            "postgresql://{USER}:{PASSWORD}@{host}:{}/postgres?sslmode={mode}",
            pg.port
        );
        if !root.is_empty() {
            u.push_str(&format!("&sslrootcert={root}"));
        }
        u
    };
    // The certificate is for localhost, signed by the test's authority.
    let mut c = Client::connect(&config(&uri("localhost", "verify-full", &ca))).unwrap();
    let rows = c
        .query(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap();
    assert!(rows[0].bool(0).unwrap(), "the connection is encrypted");
    // By address the name does not match: verify-full refuses, verify-ca accepts.
    let err = Client::connect(&config(&uri("127.0.0.1", "verify-full", &ca)))
        .err()
        .expect("the name does not match");
    assert!(matches!(err, PgError::Tls(_)), "{err}");
    Client::connect(&config(&uri("127.0.0.1", "verify-ca", &ca))).unwrap();
    // Another authority's certificate is not trusted.
    let other = tempfile::tempdir().unwrap();
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "1", "-subj", "/CN=other", "-keyout"])
        .arg(other.path().join("k"))
        .arg("-out")
        .arg(other.path().join("ca.pem"))
        .output()
        .unwrap()
        .status;
    assert!(status.success());
    let other_ca = other.path().join("ca.pem").display().to_string();
    let err = Client::connect(&config(&uri("localhost", "verify-full", &other_ca)))
        .err()
        .expect("an unknown authority");
    assert!(matches!(err, PgError::Tls(_)), "{err}");
    // verify-full with no root certificate at all is refused before connecting.
    let err = Client::connect(&config(&uri("localhost", "verify-full", "")))
        .err()
        .expect("no root certificate");
    assert!(err.to_string().contains("sslrootcert"), "{err}");
    // require encrypts without checking; disable does not encrypt.
    let mut c = Client::connect(&config(&uri("127.0.0.1", "require", ""))).unwrap();
    let rows = c
        .query(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap();
    assert!(rows[0].bool(0).unwrap());
    let mut c = Client::connect(&config(&uri("127.0.0.1", "disable", ""))).unwrap();
    let rows = c
        .query(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .unwrap();
    assert!(!rows[0].bool(0).unwrap());
}

/// Statements sent together come back each with its own rows; the first that fails ends the
/// rest (the one after it does not run) and names its SQLSTATE, and the statements that never
/// ran are parsed again when they next come.
#[test]
fn statements_in_one_round_trip_answer_in_order_and_stop_at_the_first_failure() {
    let pg = cluster();
    let db = pg.database();
    let mut c = pg.connect(&db);
    c.batch("CREATE TABLE p (k bigint PRIMARY KEY)").unwrap();
    let insert = "INSERT INTO p VALUES ($1::bigint) RETURNING k";
    let count = "SELECT count(*) FROM p";
    let rows = c
        .query_all(&[(insert, &[Some("1")]), (insert, &[Some("2")]), (count, &[])])
        .unwrap();
    assert_eq!(rows.len(), 3);
    assert_eq!(rows[0][0].int(0).unwrap(), 1);
    assert_eq!(rows[1][0].int(0).unwrap(), 2);
    assert_eq!(rows[2][0].int(0).unwrap(), 2);
    // In a transaction: the duplicate fails, the third never runs, the transaction is failed.
    let third = "INSERT INTO p VALUES ($1::bigint + 100)";
    c.batch("BEGIN").unwrap();
    let err = c
        .query_all(&[
            (insert, &[Some("3")]),
            (insert, &[Some("1")]),
            (third, &[Some("7")]),
        ])
        .unwrap_err();
    assert_eq!(err.code(), Some("23505"), "{err}");
    assert!(c.in_failed_transaction());
    c.batch("ROLLBACK").unwrap();
    let left = c.query(count, &[]).unwrap();
    assert_eq!(
        left[0].int(0).unwrap(),
        2,
        "the failed transaction kept nothing"
    );
    // The statement that never ran was not kept as prepared: it runs now.
    let rows = c.query_all(&[(third, &[Some("7")]), (count, &[])]).unwrap();
    assert_eq!(rows[1][0].int(0).unwrap(), 3);
}
