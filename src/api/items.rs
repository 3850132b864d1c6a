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

/// `GET /items/:c`.
pub fn list(call: &mut Call, c: &str) -> Result<Response, ApiError> {
    known(call, c)?;
    let query = call.query()?;
    let page = call.storage()?.read_items(c, &query, DEFAULT_LIMIT)?;
    let mut meta = Map::new();
    if let Some(n) = page.total_count {
        meta.insert("total_count".into(), Value::from(n));
    }
    if let Some(n) = page.filter_count {
        meta.insert("filter_count".into(), Value::from(n));
    }
    envelope::many(&page.items, &query.fields, &meta)
}

/// `GET /items/:c/:id`.
pub fn read(call: &mut Call, c: &str, raw_id: &str) -> Result<Response, ApiError> {
    let item = existing(call, c, raw_id)?;
    let query = call.query()?;
    envelope::one(&item, &query.fields)
}

/// `POST /items/:c`: one item or an array of them, in one transaction.
pub fn create(call: &mut Call, c: &str, raw: Option<Vec<u8>>) -> Result<Response, ApiError> {
    known(call, c)?;
    let new = NewItems::parse(body::json(raw)?)?;
    let query = call.query()?;
    let created = call.write(|w| {
        still_there(w, c)?;
        let ids = w.create_items(c, &new.items)?;
        Ok(w.read_by_ids(c, &ids)?)
    })?;
    envelope::written(&created, new.many, &query.fields)
}

/// `PATCH /items/:c/:id`: merges the given fields.
pub fn update(
    call: &mut Call,
    c: &str,
    raw_id: &str,
    raw: Option<Vec<u8>>,
) -> Result<Response, ApiError> {
    let id = existing(call, c, raw_id)?.id;
    let patch = body::patch(body::json(raw)?, id)?;
    let query = call.query()?;
    let updated = call.write(|w| {
        still_there(w, c)?;
        w.update_items(c, &[id], &patch)?;
        Ok(w.read_by_ids(c, &[id])?)
    })?;
    envelope::written(&updated, false, &query.fields)
}

/// `PATCH /items/:c`: a list of items with ids, or one patch for the selected items; all in
/// one transaction.
pub fn update_many(call: &mut Call, c: &str, raw: Option<Vec<u8>>) -> Result<Response, ApiError> {
    known(call, c)?;
    let update = BatchUpdate::parse(body::json(raw)?)?;
    let query = call.query()?;
    let updated = call.write(|w| {
        still_there(w, c)?;
        let ids = match &update {
            BatchUpdate::Each(patches) => {
                let each: Vec<(i64, &body::Fields)> =
                    patches.iter().map(|(id, p)| (*id, p)).collect();
                w.update_each(c, &each)?;
                body::dedup(patches.iter().map(|(id, _)| *id).collect())
            }
            BatchUpdate::Selected(selector, patch) => {
                let ids = selected(w, c, selector)?;
                w.update_items(c, &ids, patch)?;
                ids
            }
        };
        Ok(w.read_by_ids(c, &ids)?)
    })?;
    envelope::written(&updated, true, &query.fields)
}

/// `DELETE /items/:c/:id`.
pub fn delete(call: &mut Call, c: &str, raw_id: &str) -> Result<Response, ApiError> {
    let id = existing(call, c, raw_id)?.id;
    call.write(|w| {
        still_there(w, c)?;
        Ok(w.delete_items(c, &[id])?)
    })?;
    Ok(Response::empty(204))
}

/// `DELETE /items/:c`: ids or a query; all in one transaction.
pub fn delete_many(call: &mut Call, c: &str, raw: Option<Vec<u8>>) -> Result<Response, ApiError> {
    known(call, c)?;
    let selector = Selector::parse_delete(body::json(raw)?)?;
    call.write(|w| {
        still_there(w, c)?;
        let ids = selected(w, c, &selector)?;
        Ok(w.delete_items(c, &ids)?)
    })?;
    Ok(Response::empty(204))
}

/// The item a path names, if it exists (checked before the body is looked at), else `403`.
fn existing(call: &mut Call, c: &str, raw_id: &str) -> Result<StoredItem, ApiError> {
    known(call, c)?;
    let id = body::path_id(raw_id)?;
    let item = call.storage()?.read_item(c, id)?;
    item.ok_or(ApiError::Forbidden)
}

/// The collection may have been dropped between the first check and the transaction.
fn still_there(w: &Writer, c: &str) -> Result<(), ApiError> {
    if w.collection_exists(c)? {
        Ok(())
    } else {
        Err(ApiError::Forbidden)
    }
}

fn selected(w: &Writer, c: &str, selector: &Selector) -> Result<Vec<i64>, ApiError> {
    match selector {
        Selector::Keys(keys) => Ok(keys.clone()),
        Selector::Query(q) => Ok(w.ids_for_query(c, q)?),
    }
}
