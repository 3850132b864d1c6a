//! Whole requests through the dispatcher (no sockets): any method, path, query and JSON body
//! gets an answer that is never a 500 and always a Directus envelope when it is an error.
#![no_main]

use directus::api::{App, Session};
use directus::config::ServerConfig;
use directus::wire::Request;
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;

struct Fixture {
    app: App,
    session: Session,
    _dir: std::path::PathBuf,
}

thread_local! {
    static FIXTURE: RefCell<Fixture> = RefCell::new(fixture());
}

fn fixture() -> Fixture {
    // /dev/shm keeps the fsyncs of synchronous=FULL cheap.
    let dir = std::env::temp_dir().join(format!("directus-fuzz-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("logs")).expect("temp dir");
    let config = ServerConfig {
        root: dir.clone(),
        host: [127, 0, 0, 1].into(),
        port: 0,
        db: directus::storage::Database::File(dir.join("fuzz.db")),
        workers: 1,
        token: None,
        cors_origin: None,
        max_body: 64 * 1024,
        allow_public_without_token: false,
        metrics: true,
    };
    let app = App::new(config, directus::layout::flag_path(&dir), false);
    let mut fixture = Fixture { app, session: Session::default(), _dir: dir };
    let mut seed = |method: &str, target: &str, body: &str| {
        let mut rq = Request::new(method, target);
        rq.headers.push(("Content-Type".into(), "application/json".into()));
        rq.body_length = Some(body.len());
        let r = fixture.app.handle(&mut fixture.session, &rq, &mut body.as_bytes(), "seed");
        assert!(r.status == 200, "seeding failed: {}", String::from_utf8_lossy(&r.body));
    };
    seed("POST", "/collections", r#"{"collection":"a"}"#);
    seed("POST", "/items/a", r#"[{"t":"x","n":1},{"t":"y","n":2}]"#);
    fixture
}

const METHODS: [&str; 7] = ["GET", "POST", "PATCH", "DELETE", "HEAD", "OPTIONS", "PUT"];

fuzz_target!(|data: &[u8]| {
    // Layout: method selector, then "target\nbody".
    let Some((&m, rest)) = data.split_first() else { return };
    let Ok(text) = std::str::from_utf8(rest) else { return };
    let (target, body) = text.split_once('\n').unwrap_or((text, ""));
    if !target.starts_with('/') || target.contains(['\r', '\n', ' ']) {
        return;
    }
    let mut rq = Request::new(METHODS[m as usize % METHODS.len()], target);
    rq.headers.push(("Content-Type".into(), "application/json".into()));
    rq.body_length = Some(body.len());
    FIXTURE.with(|f| {
        let f = &mut *f.borrow_mut();
        let response = f.app.handle(&mut f.session, &rq, &mut body.as_bytes(), "fuzz");
        assert_ne!(response.status, 500, "{} {target} {body:?}: {}", rq.method, String::from_utf8_lossy(&response.body));
        if response.status >= 400 {
            let v: serde_json::Value = serde_json::from_slice(&response.body).expect("error bodies are JSON");
            assert!(v["errors"][0]["extensions"]["code"].is_string(), "{v}");
        }
    });
});
