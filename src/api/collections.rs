//! `/collections`: list, read, create and delete collections.

use super::call::Call;
use super::error::ApiError;
use super::{body, envelope};
use crate::wire::Response;
use serde_json::{json, Value};

/// True for a collection name: a letter, then letters, digits and `_`, at most 64 characters,
/// not starting with the reserved `directus_`.
pub fn is_collection_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= 64
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_')
        && !name.starts_with("directus_")
}

/// `403` unless the collection name is valid and the collection exists.
pub fn known(call: &mut Call, name: &str) -> Result<(), ApiError> {
    if is_collection_name(name) && call.storage()?.collection_exists(name)? {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

fn collection_json(name: &str) -> Value {
    json!({ "collection": name, "meta": null, "schema": { "name": name } })
}

/// `GET /collections`.
pub fn list(call: &mut Call) -> Result<Response, ApiError> {
    let names = call.storage()?.list_collections()?;
    Ok(envelope::data(
        names.iter().map(|n| collection_json(n)).collect(),
    ))
}

/// `GET /collections/:name`.
pub fn read(call: &mut Call, name: &str) -> Result<Response, ApiError> {
    known(call, name)?;
    Ok(envelope::data(collection_json(name)))
}

/// `POST /collections`.
pub fn create(call: &mut Call, body_bytes: Option<Vec<u8>>) -> Result<Response, ApiError> {
    let name = body::new_collection(body::json(body_bytes)?)?;
    let now = crate::rfc3339::format(std::time::SystemTime::now());
    let owned = name.clone();
    if !call.write(move |w| Ok(w.create_collection(&owned, &now)?))? {
        return Err(ApiError::InvalidPayload(format!(
            "Collection \"{name}\" already exists."
        )));
    }
    Ok(envelope::data(collection_json(&name)))
}

/// `DELETE /collections/:name`.
pub fn delete(call: &mut Call, name: &str) -> Result<Response, ApiError> {
    let owned = name.to_string();
    if !is_collection_name(name) || !call.write(move |w| Ok(w.delete_collection(&owned)?))? {
        return Err(ApiError::Forbidden);
    }
    Ok(Response::empty(204))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collection_names() {
        let cases = [
            ("articles_2", true),
            ("2articles", false),
            ("directus_users", false),
            ("a-b", false),
            ("a\"; DROP TABLE x", false),
            (&"a".repeat(64), true),
            (&"a".repeat(65), false),
        ];
        for (name, valid) in cases {
            assert_eq!(is_collection_name(name), valid, "{name}");
        }
    }
}
