//! The success envelopes: `{"data": …}` with an item, a list of items (and `meta`), or any JSON
//! value, and the `fields` projection. Items are spliced from their stored text when every field
//! is wanted, the read hot path.

use super::error::ApiError;
use crate::storage::StoredItem;
use crate::wire::Response;
use serde_json::{json, Map, Value};

/// `{"data": value}`.
pub fn data(value: Value) -> Response {
    Response::json(200, &json!({ "data": value }))
}

/// `{"data":{…}}` with one item.
pub fn one(item: &StoredItem, fields: &Option<Vec<String>>) -> Result<Response, ApiError> {
    let mut body = b"{\"data\":".to_vec();
    write_item(&mut body, item, fields)?;
    body.push(b'}');
    Ok(Response::json_bytes(200, body))
}

/// `{"data":[…]}`, with `"meta"` when it has any count.
pub fn many(
    items: &[StoredItem],
    fields: &Option<Vec<String>>,
    meta: &Map<String, Value>,
) -> Result<Response, ApiError> {
    let mut body = b"{\"data\":[".to_vec();
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            body.push(b',');
        }
        write_item(&mut body, item, fields)?;
    }
    body.push(b']');
    if !meta.is_empty() {
        body.extend_from_slice(b",\"meta\":");
        body.extend(serde_json::to_vec(meta).expect("a JSON map always serializes"));
    }
    body.push(b'}');
    Ok(Response::json_bytes(200, body))
}

/// The answer to a write: the array form for `many`, else the one item.
pub fn written(
    items: &[StoredItem],
    many_form: bool,
    fields: &Option<Vec<String>>,
) -> Result<Response, ApiError> {
    match (many_form, items) {
        (false, [item]) => one(item, fields),
        (false, _) => Err(ApiError::Internal(format!(
            "a single-item write answered {} items",
            items.len()
        ))),
        (true, _) => many(items, fields, &Map::new()),
    }
}

/// Appends an item's JSON: spliced from the stored text when every field is wanted, built
/// value by value when `fields` picks some.
fn write_item(
    out: &mut Vec<u8>,
    item: &StoredItem,
    fields: &Option<Vec<String>>,
) -> Result<(), ApiError> {
    match fields {
        Some(list) if !list.iter().any(|f| f == "*") => {
            let picked: Map<String, Value> = item
                .to_item()?
                .into_iter()
                .filter(|(k, _)| list.contains(k))
                .collect();
            out.extend(serde_json::to_vec(&picked).expect("a JSON map always serializes"));
        }
        _ => item.write_json(out)?,
    }
    Ok(())
}
