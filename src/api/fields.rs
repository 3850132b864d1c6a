//! `/fields/:collection[/:field]`: the fields seen in a collection's items, their Directus
//! types, and whether each is indexed; `PATCH` switches a field's index.

use super::call::Call;
use super::collections::known;
use super::error::ApiError;
use super::{body, envelope};
use crate::query;
use crate::storage::FieldInfo;
use crate::wire::Response;
use serde_json::{json, Value};

fn field_json(collection: &str, f: &FieldInfo) -> Value {
    json!({
        "collection": collection,
        "field": f.field,
        "type": f.kind,
        "meta": null,
        "schema": {
            "name": f.field,
            "table": collection,
            "is_indexed": f.indexed,
            "is_primary_key": f.field == "id",
        },
    })
}

/// `GET /fields/:collection`.
pub fn list(call: &mut Call, collection: &str) -> Result<Response, ApiError> {
    known(call, collection)?;
    let fields = call.storage()?.fields(collection)?;
    Ok(envelope::data(
        fields.iter().map(|f| field_json(collection, f)).collect(),
    ))
}

/// The field if the collection's items have it, else `403`.
fn existing(call: &mut Call, collection: &str, name: &str) -> Result<FieldInfo, ApiError> {
    known(call, collection)?;
    if !query::is_plain_name(name) {
        return Err(ApiError::Forbidden);
    }
    let fields = call.storage()?.fields(collection)?;
    fields
        .into_iter()
        .find(|info| info.field == name)
        .ok_or(ApiError::Forbidden)
}

/// `GET /fields/:collection/:f`.
pub fn read(call: &mut Call, collection: &str, name: &str) -> Result<Response, ApiError> {
    let field = existing(call, collection, name)?;
    Ok(envelope::data(field_json(collection, &field)))
}

/// `PATCH /fields/:collection/:f` with `{"schema":{"is_indexed":BOOL}}`: builds or drops the field's
/// index in one write transaction. Other keys of the body are accepted and ignored (Directus
/// clients send the whole field).
pub fn update(
    call: &mut Call,
    collection: &str,
    name: &str,
    body_bytes: Option<Vec<u8>>,
) -> Result<Response, ApiError> {
    existing(call, collection, name)?;
    let value = body::json(body_bytes)?;
    let Some(indexed) = value.pointer("/schema/is_indexed").and_then(Value::as_bool) else {
        return Err(ApiError::InvalidPayload(
            "Send {\"schema\":{\"is_indexed\":true|false}}.".into(),
        ));
    };
    if name == "id" {
        return Err(ApiError::InvalidPayload(
            "\"id\" is the primary key; it is always indexed.".into(),
        ));
    }
    let (owned, field) = (collection.to_string(), name.to_string());
    let known = call.write(move |w| {
        if !w.collection_exists(&owned)? {
            return Err(ApiError::Forbidden);
        }
        Ok(w.set_indexed(&owned, &field, indexed)?)
    })?;
    if !known {
        return Err(ApiError::Forbidden);
    }
    read(call, collection, name)
}
