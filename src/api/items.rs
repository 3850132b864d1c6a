//! `/items/:collection[/:id]`: read, create, update and delete items. Each handler checks the
//! collection (and item) first, so an unknown one is `403` whatever the body holds, then parses
//! its typed input, then does its one read or write.

use super::body::{self, BatchUpdate, NewItems, Selector};
use super::call::Call;
use super::collections::known;
use super::envelope;
use super::error::ApiError;
use crate::query::DEFAULT_LIMIT;
use crate::storage::{StoredItem, Writer};
use crate::wire::Response;
use serde_json::{Map, Value};

/// `GET /items/:collection`.
pub fn list(call: &mut Call, collection: &str) -> Result<Response, ApiError> {
    known(call, collection)?;
    let query = call.query()?;
    let page = call
        .storage()?
        .read_items(collection, &query, DEFAULT_LIMIT)?;
    let mut meta = Map::new();
    if let Some(n) = page.total_count {
        meta.insert("total_count".into(), Value::from(n));
    }
    if let Some(n) = page.filter_count {
        meta.insert("filter_count".into(), Value::from(n));
    }
    envelope::many(&page.items, &query.fields, &meta)
}

/// `GET /items/:collection/:id`.
pub fn read(call: &mut Call, collection: &str, raw_id: &str) -> Result<Response, ApiError> {
    let item = existing(call, collection, raw_id)?;
    let query = call.query()?;
    envelope::one(&item, &query.fields)
}

/// `POST /items/:collection`: one item or an array of them, in one transaction.
pub fn create(
    call: &mut Call,
    collection: &str,
    body_bytes: Option<Vec<u8>>,
) -> Result<Response, ApiError> {
    known(call, collection)?;
    let new = NewItems::parse(body::json(body_bytes)?)?;
    let query = call.query()?;
    let owned = collection.to_string();
    let items = new.items;
    // `create_items` finds a collection dropped since `known` looked (`403`).
    let created = call.write(move |w| Ok(w.create_items(&owned, &items)?))?;
    envelope::written(&created, new.many, &query.fields)
}

/// `PATCH /items/:collection/:id`: merges the given fields.
pub fn update(
    call: &mut Call,
    collection: &str,
    raw_id: &str,
    body_bytes: Option<Vec<u8>>,
) -> Result<Response, ApiError> {
    let id = existing(call, collection, raw_id)?.id;
    let patch = body::patch(body::json(body_bytes)?, id)?;
    let query = call.query()?;
    let owned = collection.to_string();
    let updated = call.write(move |w| {
        still_there(w, &owned)?;
        Ok(w.update_items(&owned, &[id], &patch)?)
    })?;
    envelope::written(&updated, false, &query.fields)
}

/// `PATCH /items/:collection`: a list of items with ids, or one patch for the selected items; all in
/// one transaction.
pub fn update_many(
    call: &mut Call,
    collection: &str,
    body_bytes: Option<Vec<u8>>,
) -> Result<Response, ApiError> {
    known(call, collection)?;
    let update = BatchUpdate::parse(body::json(body_bytes)?)?;
    let query = call.query()?;
    let owned = collection.to_string();
    let updated = call.write(move |w| {
        let collection = owned.as_str();
        still_there(w, collection)?;
        let stored = match &update {
            BatchUpdate::Each(patches) => {
                let each: Vec<(i64, &body::Fields)> =
                    patches.iter().map(|(id, p)| (*id, p)).collect();
                w.update_each(collection, &each)?
            }
            BatchUpdate::Selected(selector, patch) => {
                let ids = selected(w, collection, selector)?;
                w.update_items(collection, &ids, patch)?
            }
        };
        Ok(stored)
    })?;
    envelope::written(&updated, true, &query.fields)
}

/// `DELETE /items/:collection/:id`.
pub fn delete(call: &mut Call, collection: &str, raw_id: &str) -> Result<Response, ApiError> {
    let id = existing(call, collection, raw_id)?.id;
    let owned = collection.to_string();
    call.write(move |w| {
        still_there(w, &owned)?;
        Ok(w.delete_items(&owned, &[id])?)
    })?;
    Ok(Response::empty(204))
}

/// `DELETE /items/:collection`: ids or a query; all in one transaction.
pub fn delete_many(
    call: &mut Call,
    collection: &str,
    body_bytes: Option<Vec<u8>>,
) -> Result<Response, ApiError> {
    known(call, collection)?;
    let selector = Selector::parse_delete(body::json(body_bytes)?)?;
    let owned = collection.to_string();
    call.write(move |w| {
        still_there(w, &owned)?;
        let ids = selected(w, &owned, &selector)?;
        Ok(w.delete_items(&owned, &ids)?)
    })?;
    Ok(Response::empty(204))
}

/// The item a path names, if it exists (checked before the body is looked at), else `403`.
fn existing(call: &mut Call, collection: &str, raw_id: &str) -> Result<StoredItem, ApiError> {
    known(call, collection)?;
    let id = body::path_id(raw_id)?;
    let item = call.storage()?.read_item(collection, id)?;
    item.ok_or(ApiError::Forbidden)
}

/// The collection may have been dropped between the first check and the transaction.
fn still_there(w: &Writer, collection: &str) -> Result<(), ApiError> {
    if w.collection_exists(collection)? {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

fn selected(w: &Writer, collection: &str, selector: &Selector) -> Result<Vec<i64>, ApiError> {
    match selector {
        Selector::Keys(keys) => Ok(keys.clone()),
        Selector::Query(q) => Ok(w.ids_for_query(collection, q)?),
    }
}
