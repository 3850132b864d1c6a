//! Request bodies: the media type and size checks, reading under `--max-body`, and the typed
//! shapes each route takes. Every shape error is `INVALID_PAYLOAD`; nothing here touches the
//! database.

use super::error::ApiError;
use crate::query::{self, Query};
use crate::wire::{BodyError, BodySource, Request};
use serde_json::{Map, Value};

/// An item's fields without its `id`.
pub type Fields = Map<String, Value>;

/// Checks the media type and size, then reads the body; `None` when the request has none.
pub fn read(
    req: &Request,
    body: &mut dyn BodySource,
    max: usize,
) -> Result<Option<Vec<u8>>, ApiError> {
    if !req.has_body() {
        return Ok(None);
    }
    let json = req.header("content-type").is_some_and(|ct| {
        let media = ct.split(';').next().unwrap_or("").trim();
        media.eq_ignore_ascii_case("application/json")
    });
    if !json {
        return Err(ApiError::UnsupportedMediaType);
    }
    if req.body_length.is_some_and(|n| n > max) {
        return Err(ApiError::ContentTooLarge(max));
    }
    match body.read_body(max) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(BodyError::TooLarge) => Err(ApiError::ContentTooLarge(max)),
        Err(BodyError::Io(e)) => Err(ApiError::InvalidPayload(format!(
            "The body could not be read: {e}."
        ))),
    }
}

/// The body as JSON: empty, whitespace and `null` are refused.
pub fn json(body: Option<Vec<u8>>) -> Result<Value, ApiError> {
    let Some(bytes) = body.filter(|b| !b.iter().all(u8::is_ascii_whitespace)) else {
        return Err(invalid("The request body is empty."));
    };
    match serde_json::from_slice(&bytes) {
        Ok(Value::Null) => Err(invalid("The body is null.")),
        Ok(v) => Ok(v),
        Err(e) => Err(ApiError::InvalidPayload(format!(
            "The body is not valid JSON: {e}."
        ))),
    }
}

fn invalid(why: &str) -> ApiError {
    ApiError::InvalidPayload(why.to_string())
}

/// `POST /collections`: the name, checked.
pub fn new_collection(value: Value) -> Result<String, ApiError> {
    let name = match value.get("collection") {
        Some(Value::String(name)) => name.clone(),
        _ => return Err(invalid("\"collection\" must be a string.")),
    };
    if !super::collections::is_collection_name(&name) {
        return Err(ApiError::InvalidPayload(format!(
            "\"{name}\" is not a valid collection name: a letter, then letters, digits and _, \
             at most 64 characters, not starting with directus_."
        )));
    }
    Ok(name)
}

/// `POST /items/:c`: one item or many, each with an optional `id`.
pub struct NewItems {
    pub items: Vec<(Option<i64>, Fields)>,
    /// True for the array form (answered with an array).
    pub many: bool,
}

impl NewItems {
    pub fn parse(value: Value) -> Result<NewItems, ApiError> {
        match value {
            Value::Object(item) => Ok(NewItems {
                items: vec![split_id(item)?],
                many: false,
            }),
            Value::Array(list) => {
                let items = list
                    .into_iter()
                    .map(|v| match v {
                        Value::Object(item) => split_id(item),
                        _ => Err(invalid("Every item must be an object.")),
                    })
                    .collect::<Result<_, _>>()?;
                Ok(NewItems { items, many: true })
            }
            _ => Err(invalid("Send an item object or an array of items.")),
        }
    }
}

/// `PATCH /items/:c/:id`: the fields to merge; an `id` must be the path's.
pub fn patch(value: Value, id: i64) -> Result<Fields, ApiError> {
    let Value::Object(patch) = value else {
        return Err(invalid("Send an object of the fields to change."));
    };
    match patch.get("id") {
        Some(body_id) if query::json_integer(body_id) != Some(id) => Err(invalid(
            "The \"id\" in the body differs from the one in the path.",
        )),
        _ => Ok(patch),
    }
}

/// Which items a batch `PATCH`/`DELETE` targets.
pub enum Selector {
    Keys(Vec<i64>),
    Query(Box<Query>),
}

impl Selector {
    /// From `{"keys": [...]}` or `{"query": {...}}`; any other key is refused.
    fn from_map(mut map: Map<String, Value>) -> Result<Selector, ApiError> {
        let selector = match (map.remove("keys"), map.remove("query")) {
            (Some(keys), None) => Selector::Keys(parse_keys(&keys)?),
            (None, Some(q)) => Selector::Query(Box::new(Query::from_json(&q)?)),
            _ => return Err(invalid("Give exactly one of \"keys\" and \"query\".")),
        };
        if let Some(extra) = map.keys().next() {
            return Err(ApiError::InvalidPayload(format!(
                "Unexpected key \"{extra}\"."
            )));
        }
        Ok(selector)
    }

    /// `DELETE /items/:c`: an array of ids, `{"keys":[...]}` or `{"query":{...}}`.
    pub fn parse_delete(value: Value) -> Result<Selector, ApiError> {
        match value {
            keys @ Value::Array(_) => Ok(Selector::Keys(parse_keys(&keys)?)),
            Value::Object(map) => Selector::from_map(map),
            _ => Err(invalid(
                "Send an array of ids, {\"keys\":[...]} or {\"query\":{...}}.",
            )),
        }
    }
}

/// `PATCH /items/:c`: a list of items with ids, or one patch for the selected items.
pub enum BatchUpdate {
    Each(Vec<(i64, Fields)>),
    Selected(Selector, Fields),
}

impl BatchUpdate {
    pub fn parse(value: Value) -> Result<BatchUpdate, ApiError> {
        match value {
            Value::Array(list) => {
                let patches = list
                    .into_iter()
                    .map(|v| match v {
                        Value::Object(item) => match split_id(item)? {
                            (Some(id), patch) => Ok((id, patch)),
                            (None, _) => Err(invalid("Every item must have an \"id\".")),
                        },
                        _ => Err(invalid("Every item must be an object with an \"id\".")),
                    })
                    .collect::<Result<_, _>>()?;
                Ok(BatchUpdate::Each(patches))
            }
            Value::Object(mut map) => {
                let Some(Value::Object(patch)) = map.remove("data") else {
                    return Err(invalid(
                        "\"data\" must be an object of the fields to change.",
                    ));
                };
                if patch.contains_key("id") {
                    return Err(invalid("\"data\" must not change \"id\"."));
                }
                Ok(BatchUpdate::Selected(Selector::from_map(map)?, patch))
            }
            _ => Err(invalid(
                "Send an array of items, or {\"keys\"|\"query\", \"data\"}.",
            )),
        }
    }
}

/// An id in a path: an integer, or the item does not exist (403, as Directus does not reveal).
pub fn path_id(raw: &str) -> Result<i64, ApiError> {
    raw.parse().map_err(|_| ApiError::Forbidden)
}

fn parse_keys(value: &Value) -> Result<Vec<i64>, ApiError> {
    let Value::Array(list) = value else {
        return Err(invalid("\"keys\" must be an array of ids."));
    };
    let ids: Option<Vec<i64>> = list.iter().map(query::json_integer).collect();
    ids.map(dedup)
        .ok_or_else(|| invalid("Every id must be an integer."))
}

/// The ids in first-seen order, each once.
fn dedup(ids: Vec<i64>) -> Vec<i64> {
    let mut seen = std::collections::HashSet::with_capacity(ids.len());
    ids.into_iter().filter(|id| seen.insert(*id)).collect()
}

/// Splits an item body into its `id` (checked to be an integer) and the other fields.
fn split_id(mut item: Fields) -> Result<(Option<i64>, Fields), ApiError> {
    let id = match item.remove("id") {
        None | Some(Value::Null) => None,
        Some(v) => {
            Some(query::json_integer(&v).ok_or_else(|| invalid("\"id\" must be an integer."))?)
        }
    };
    Ok((id, item))
}
