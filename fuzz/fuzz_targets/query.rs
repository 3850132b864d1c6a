//! The query language end to end: any query string either parses or is `INVALID_QUERY`, and
//! whatever parses runs against SQLite without an error (an error there would be a 500).
#![no_main]

use directus::query::Query;
use directus::storage::Sqlite as Storage;
use libfuzzer_sys::fuzz_target;
use std::cell::RefCell;

thread_local! {
    static STORE: RefCell<Storage> = RefCell::new(seeded());
}

fn seeded() -> Storage {
    let mut storage = Storage::open(std::path::Path::new(":memory:")).expect("in-memory database");
    let items: Vec<(Option<i64>, serde_json::Map<String, serde_json::Value>)> = [
        r#"{"title":"Alpha","views":10,"published":true,"tags":["a"]}"#,
        r#"{"title":"beta 100%","views":1000.5,"published":false}"#,
        r#"{"title":null,"views":"10","nested":{"x":1}}"#,
        r#"{}"#,
    ]
    .iter()
    .map(|t| (None, serde_json::from_str(t).expect("valid seed item")))
    .collect();
    storage.begin(std::time::Duration::from_secs(1)).expect("a write lock");
    storage
        .part(|w| -> Result<(), directus::storage::StorageError> {
            w.create_collection("a", "2026-01-01T00:00:00Z")?;
            w.create_items("a", &items)?;
            Ok(())
        })
        .expect("seed items");
    storage.commit().expect("seeding commits");
    storage
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(query) = Query::from_query_string(text) else { return };
    STORE.with(|store| {
        let result = store.borrow_mut().read_items("a", &query, 100);
        if let Err(e) = result {
            panic!("query {text:?} parsed as {query:?} but failed in SQLite: {e}");
        }
    });
});
