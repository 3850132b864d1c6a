//! The shell scripts in scripts/, run as a user would, against a real server.

use crate::common::{self, Server, CLI};
use std::path::Path;
use std::process::Command;

fn script(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(name)
}

#[test]
fn the_curl_tour_runs_against_a_server() {
    let s = Server::start(&["--token", "tour-token"]);
    let out = Command::new("bash")
        .arg(script("tour.sh"))
        .env("DIRECTUS_URL", format!("http://{}", s.addr))
        .env("DIRECTUS_TOKEN", "tour-token")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("Tour complete."), "{stdout}");
    assert!(stdout.contains(r#""title":"Viral""#), "{stdout}");
    // The tour cleans up after itself.
    assert_eq!(
        s.req(
            "GET",
            "/collections",
            &[("Authorization", "Bearer tour-token")],
            None
        )
        .data(),
        serde_json::json!([])
    );
}

fn deploy(s: &Server, path: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new("bash");
    cmd.arg(script("deploy-example.sh"))
        .env("DIRECTUS_ROOT", &s.root)
        .env("DIRECTUS_CLI", CLI)
        .env_remove("DIRECTUS_DB");
    if let Some(path) = path {
        cmd.env("PATH", path);
    }
    cmd.output().unwrap()
}

#[test]
fn the_deploy_example_migrates_during_maintenance() {
    let s = Server::start(&[]);
    common::seed(&s, "a", r#"[{"t":1},{"t":2}]"#);
    let out = deploy(&s, None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("Drained") && stdout.contains("Migrated 2 items"),
        "{stdout}"
    );
    assert!(!s.flag().exists());
    let items = s.get("/items/a").data();
    assert_eq!(
        items,
        serde_json::json!([{"id":1,"t":1,"schema":2},{"id":2,"t":2,"schema":2}])
    );
    let backups = std::fs::read_dir(s.root.join("data"))
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("backup")
        })
        .count();
    assert_eq!(backups, 1);
}

#[test]
fn a_failed_migration_leaves_maintenance_on_and_says_so() {
    let s = Server::start(&[]);
    common::seed(&s, "a", r#"[{"t":1}]"#);
    // A sqlite3 that fails, first on the PATH.
    let fake = tempfile::tempdir().unwrap();
    let sqlite = fake.path().join("sqlite3");
    std::fs::write(
        &sqlite,
        "#!/bin/sh\necho 'Error: disk I/O error' >&2\nexit 1\n",
    )
    .unwrap();
    Command::new("chmod")
        .arg("755")
        .arg(&sqlite)
        .status()
        .unwrap();
    let path = format!(
        "{}:{}",
        fake.path().display(),
        std::env::var("PATH").unwrap()
    );
    let out = deploy(&s, Some(&path));
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("DEPLOY FAILED: maintenance is still ON"),
        "{stderr}"
    );
    assert!(s.flag().exists());
    assert_eq!(s.get("/items/a").status, 503);
}
