//! The query language: `fields`, `filter` (bracket and JSON forms), `search`, `sort`, `limit`,
//! `offset`, `page`, `meta`, parsed into a `Query` value.
//!
//! This module validates everything a client can send and produces plain data; it never builds
//! SQL (that is `storage`'s job) and never trusts a name it has not checked.

use serde_json::{Map, Value};

/// Why a query was refused, in a sentence for the client. The API turns it into its
/// `INVALID_QUERY` (or, for a batch body's `query` that is not an object, `INVALID_PAYLOAD`).
#[derive(Debug, Clone, PartialEq)]
pub enum QueryError {
    /// A parameter, or a part of a `query` object, is malformed or over a bound.
    Invalid(String),
    /// A batch body's `query` is not a JSON object.
    NotAnObject,
}

impl std::fmt::Display for QueryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueryError::Invalid(why) => f.write_str(why),
            QueryError::NotAnObject => f.write_str("\"query\" must be an object."),
        }
    }
}

impl std::error::Error for QueryError {}

/// Filters nested deeper than this are refused.
const MAX_FILTER_DEPTH: usize = 12;
/// Filters with more conditions than this are refused.
const MAX_CONDITIONS: usize = 200;
/// More `sort` keys than this are refused (SQLite allows 2,000 `ORDER BY` terms).
pub const MAX_SORT_KEYS: usize = 32;
/// More `fields` than this are refused.
pub const MAX_FIELDS: usize = 1_000;
/// More values than this in one `_in`/`_nin` are refused. They are bound as one JSON array, so
/// SQLite's own limits do not apply; this bounds the work of one query.
pub const MAX_IN_VALUES: usize = 100_000;
/// The limit applied to reads that do not name one.
pub const DEFAULT_LIMIT: i64 = 100;

/// A scalar a filter compares against.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
}

/// One condition on one field.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Eq(Scalar),
    Lt(Scalar),
    Lte(Scalar),
    Gt(Scalar),
    Gte(Scalar),
    In(Vec<Scalar>),
    Null,
    Empty,
    Contains { needle: String, fold: bool },
    StartsWith { needle: String, fold: bool },
    EndsWith { needle: String, fold: bool },
    Between(Scalar, Scalar),
}

/// A filter tree. `_n*` operators are the exact complement of their positive form.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    And(Vec<Filter>),
    Or(Vec<Filter>),
    Not(Box<Filter>),
    Field(String, Cond),
}

/// One sort key.
#[derive(Debug, Clone, PartialEq)]
pub struct SortKey {
    pub field: String,
    pub descending: bool,
}

/// A parsed read query. `limit` and `page` stay as given; `window` resolves them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    /// `None` means every field.
    pub fields: Option<Vec<String>>,
    pub filter: Option<Filter>,
    pub search: Option<String>,
    pub sort: Vec<SortKey>,
    /// `Some(-1)` means all; `None` means the caller's default.
    pub limit: Option<i64>,
    pub offset: Option<u64>,
    pub page: Option<u64>,
    pub total_count: bool,
    pub filter_count: bool,
}

impl Query {
    /// The rows to return: `(limit, offset)`, with `None` for no limit. `page` beats `offset`.
    pub fn window(&self, default_limit: i64) -> (Option<u64>, u64) {
        let limit = match self.limit.unwrap_or(default_limit) {
            -1 => None,
            n => Some(n.max(0) as u64),
        };
        let offset = match (self.page, limit) {
            (Some(page), Some(limit)) => (page - 1).saturating_mul(limit),
            (Some(_), None) => 0,
            (None, _) => self.offset.unwrap_or(0),
        };
        (limit, offset)
    }

    /// Parses a URL query string. `access_token` is left to the caller; unknown keys are ignored.
    pub fn from_query_string(raw: &str) -> Result<Query, QueryError> {
        Query::from_pairs(&parse_pairs(raw)?)
    }

    /// Parses the decoded pairs of a query string (`parse_pairs`).
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<Query, QueryError> {
        let mut query = Query::default();
        let mut json_filter: Option<String> = None;
        let mut bracket_filter = Value::Object(Map::new());
        let mut has_brackets = false;
        let mut fields: Vec<String> = Vec::new();
        let mut has_fields = false;
        for (key, value) in pairs {
            let value = value.clone();
            match key.as_str() {
                "fields" | "fields[]" => {
                    has_fields = true;
                    fields.extend(parse_fields_csv(&value)?);
                }
                "filter" => json_filter = Some(value),
                "search" => query.search = Some(value),
                "sort" | "sort[]" => query.sort.extend(parse_sort_csv(&value)?),
                "limit" => query.limit = Some(parse_limit(&value)?),
                "offset" => query.offset = Some(parse_unsigned("offset", &value, 0)?),
                "page" => query.page = Some(parse_unsigned("page", &value, 1)?),
                "meta" => query.set_meta(&value)?,
                k if matches!(
                    k.split('[').next(),
                    Some("aggregate" | "groupBy" | "deep" | "alias" | "export")
                ) =>
                {
                    return Err(QueryError::Invalid(format!(
                        "The \"{key}\" parameter is not supported."
                    )))
                }
                k if k.starts_with("filter[") => {
                    has_brackets = true;
                    insert_bracket(&mut bracket_filter, &k["filter".len()..], value)?;
                }
                _ => {}
            }
        }
        if has_fields {
            query.fields = Some(fields);
        }
        query.filter = match (json_filter, has_brackets) {
            (Some(_), true) => {
                return Err(QueryError::Invalid(
                    "Use either the JSON form or the bracket form of \"filter\", not both.".into(),
                ))
            }
            (Some(text), false) => {
                let value: Value = serde_json::from_str(&text).map_err(|e| {
                    QueryError::Invalid(format!("\"filter\" is not valid JSON: {e}."))
                })?;
                parse_filter_root(&value, false)?
            }
            (None, true) => parse_filter_root(&bracket_filter, true)?,
            (None, false) => None,
        };
        query.bounded()
    }

    /// Refuses a query over the bounds that keep every accepted query runnable.
    fn bounded(self) -> Result<Query, QueryError> {
        if self.sort.len() > MAX_SORT_KEYS {
            return Err(QueryError::Invalid(format!(
                "\"sort\" has {} keys; the most is {MAX_SORT_KEYS}.",
                self.sort.len()
            )));
        }
        if let Some(fields) = self.fields.as_ref().filter(|f| f.len() > MAX_FIELDS) {
            return Err(QueryError::Invalid(format!(
                "\"fields\" names {} fields; the most is {MAX_FIELDS}.",
                fields.len()
            )));
        }
        Ok(self)
    }

    /// Parses a `query` object from a batch body (`PATCH`/`DELETE /items/:c`).
    pub fn from_json(value: &Value) -> Result<Query, QueryError> {
        let Value::Object(map) = value else {
            return Err(QueryError::NotAnObject);
        };
        let mut query = Query::default();
        for (key, value) in map {
            match key.as_str() {
                "fields" => query.fields = Some(strings_or_csv(value, parse_fields_csv)?),
                "filter" => query.filter = parse_filter_root(value, false)?,
                "search" => match value {
                    Value::String(s) => query.search = Some(s.clone()),
                    Value::Null => {}
                    _ => return Err(QueryError::Invalid("\"search\" must be a string.".into())),
                },
                "sort" => query.sort = strings_or_csv(value, parse_sort_csv)?,
                "limit" => query.limit = Some(parse_limit(&json_number_text(value)?)?),
                "offset" => {
                    query.offset = Some(parse_unsigned("offset", &json_number_text(value)?, 0)?)
                }
                "page" => query.page = Some(parse_unsigned("page", &json_number_text(value)?, 1)?),
                "meta" => query
                    .set_meta(&strings_or_csv(value, |s| Ok(vec![s.to_string()]))?.join(","))?,
                other => {
                    return Err(QueryError::Invalid(format!(
                        "Unknown query parameter \"{other}\"."
                    )))
                }
            }
        }
        query.bounded()
    }

    fn set_meta(&mut self, csv: &str) -> Result<(), QueryError> {
        for part in csv.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "*" => {
                    self.total_count = true;
                    self.filter_count = true;
                }
                "total_count" => self.total_count = true,
                "filter_count" => self.filter_count = true,
                other => {
                    return Err(QueryError::Invalid(format!(
                        "Unknown meta \"{other}\"; use total_count, filter_count or *."
                    )))
                }
            }
        }
        Ok(())
    }
}

/// True for a name a client may use as a field in `fields`, `filter` and `sort`: a letter, then
/// letters, digits, `_` or `-`, at most 64 characters.
pub fn is_plain_name(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 64
        && bytes[0].is_ascii_alphabetic()
        && bytes
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
}

/// Splits a query string into decoded pairs (`+` is a space). Bad encoding is `INVALID_QUERY`.
pub fn parse_pairs(raw: &str) -> Result<Vec<(String, String)>, QueryError> {
    let mut pairs = Vec::new();
    for part in raw.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').unwrap_or((part, ""));
        let bad =
            || QueryError::Invalid("The query string is not valid percent-encoded UTF-8.".into());
        pairs.push((
            percent_decode(k, true).ok_or_else(bad)?,
            percent_decode(v, true).ok_or_else(bad)?,
        ));
    }
    Ok(pairs)
}

/// Decodes `%XX` escapes (and `+` as a space when asked); `None` for bad escapes or bad UTF-8.
pub fn percent_decode(s: &str, plus_is_space: bool) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b'+' if plus_is_space => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The items of a CSV list; an empty item (`a,`, `,a`, `a,,b`, or nothing) is `INVALID_QUERY`.
fn csv_items<'a>(name: &str, csv: &'a str) -> Result<impl Iterator<Item = &'a str>, QueryError> {
    if csv.split(',').any(|item| item.trim().is_empty()) {
        return Err(QueryError::Invalid(format!(
            "\"{name}\" has an empty item: \"{csv}\"."
        )));
    }
    Ok(csv.split(',').map(str::trim))
}

fn parse_fields_csv(csv: &str) -> Result<Vec<String>, QueryError> {
    let mut out = Vec::new();
    for f in csv_items("fields", csv)? {
        if f != "*" && !is_plain_name(f) {
            return Err(QueryError::Invalid(format!(
                "\"{f}\" is not a plain field name (relations and functions are not supported)."
            )));
        }
        out.push(f.to_string());
    }
    Ok(out)
}

fn parse_sort_csv(csv: &str) -> Result<Vec<SortKey>, QueryError> {
    let mut out = Vec::new();
    for f in csv_items("sort", csv)? {
        let (field, descending) = match f.strip_prefix('-') {
            Some(rest) => (rest, true),
            None => (f, false),
        };
        if !is_plain_name(field) {
            return Err(QueryError::Invalid(format!(
                "\"{f}\" is not a sortable field name."
            )));
        }
        out.push(SortKey {
            field: field.to_string(),
            descending,
        });
    }
    Ok(out)
}

fn strings_or_csv<T>(
    value: &Value,
    parse: impl Fn(&str) -> Result<Vec<T>, QueryError>,
) -> Result<Vec<T>, QueryError> {
    match value {
        Value::String(s) => parse(s),
        Value::Array(items) => {
            let mut out = Vec::new();
            for item in items {
                match item {
                    Value::String(s) => out.extend(parse(s)?),
                    _ => return Err(QueryError::Invalid("Expected a list of strings.".into())),
                }
            }
            Ok(out)
        }
        _ => Err(QueryError::Invalid(
            "Expected a string or a list of strings.".into(),
        )),
    }
}

/// An integer in a JSON body: a number with no fraction, written `1`, `1.0` or `1e2` alike (as
/// JSON Schema's `integer` and JavaScript clients see it). `None` for a fraction, a value
/// outside `i64`, or a float beyond 2^53, where floats no longer hold every integer exactly.
pub fn json_integer(value: &Value) -> Option<i64> {
    const EXACT: f64 = 9_007_199_254_740_992.0;
    let Value::Number(n) = value else {
        return None;
    };
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    let f = n.as_f64()?;
    // Within ±2^53 the cast is exact.
    (f.fract() == 0.0 && f.abs() <= EXACT).then_some(f as i64)
}

fn json_number_text(value: &Value) -> Result<String, QueryError> {
    match value {
        Value::Number(n) => {
            Ok(json_integer(value).map_or_else(|| n.to_string(), |i| i.to_string()))
        }
        Value::String(s) => Ok(s.clone()),
        _ => Err(QueryError::Invalid("Expected an integer.".into())),
    }
}

fn parse_limit(text: &str) -> Result<i64, QueryError> {
    match text.trim().parse::<i64>() {
        Ok(n) if n >= -1 => Ok(n),
        _ => Err(QueryError::Invalid(format!(
            "\"limit\" must be an integer of -1 or more, not \"{text}\"."
        ))),
    }
}

fn parse_unsigned(name: &str, text: &str, min: u64) -> Result<u64, QueryError> {
    match text.trim().parse::<u64>() {
        Ok(n) if n >= min => Ok(n),
        _ => Err(QueryError::Invalid(format!(
            "\"{name}\" must be an integer of {min} or more, not \"{text}\"."
        ))),
    }
}

/// Adds one bracket parameter (`[views][_gt]` = `500`) to the tree of raw strings.
fn insert_bracket(tree: &mut Value, path: &str, value: String) -> Result<(), QueryError> {
    let bad = || QueryError::Invalid("Malformed bracket filter parameter.".into());
    let mut keys = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        let inner = rest.strip_prefix('[').ok_or_else(bad)?;
        let end = inner.find(']').ok_or_else(bad)?;
        keys.push(&inner[..end]);
        rest = &inner[end + 1..];
    }
    if keys.is_empty() || keys.len() > MAX_FILTER_DEPTH * 3 {
        return Err(bad());
    }
    let mut node = tree;
    for (i, key) in keys.iter().enumerate() {
        let Value::Object(map) = node else {
            return Err(bad());
        };
        if i + 1 == keys.len() {
            if map.contains_key(*key) {
                return Err(bad());
            }
            map.insert(key.to_string(), Value::String(value));
            return Ok(());
        }
        node = map
            .entry(key.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    Err(bad())
}

/// Parses a whole filter; an empty object means no filter.
fn parse_filter_root(value: &Value, brackets: bool) -> Result<Option<Filter>, QueryError> {
    match value {
        Value::Null => Ok(None),
        Value::Object(map) if map.is_empty() => Ok(None),
        _ => {
            let mut budget = MAX_CONDITIONS;
            parse_filter(value, brackets, 0, &mut budget).map(Some)
        }
    }
}

fn parse_filter(
    value: &Value,
    brackets: bool,
    depth: usize,
    budget: &mut usize,
) -> Result<Filter, QueryError> {
    if depth > MAX_FILTER_DEPTH {
        return Err(QueryError::Invalid(
            "The filter is nested too deeply.".into(),
        ));
    }
    let Value::Object(map) = value else {
        return Err(QueryError::Invalid("A filter must be an object.".into()));
    };
    let mut parts = Vec::new();
    for (key, inner) in map {
        match key.as_str() {
            "_and" | "_or" => {
                let mut children = Vec::new();
                for child in logical_children(inner, brackets)? {
                    children.push(parse_filter(child, brackets, depth + 1, budget)?);
                }
                parts.push(if key == "_and" {
                    Filter::And(children)
                } else {
                    Filter::Or(children)
                });
            }
            field if is_plain_name(field) => {
                let Value::Object(ops) = inner else {
                    return Err(QueryError::Invalid(format!(
                        "The filter on \"{field}\" must be an object of operators."
                    )));
                };
                if ops.is_empty() {
                    return Err(QueryError::Invalid(format!(
                        "The filter on \"{field}\" has no operator."
                    )));
                }
                for (op, operand) in ops {
                    *budget = budget.checked_sub(1).ok_or_else(|| {
                        QueryError::Invalid("The filter has too many conditions.".into())
                    })?;
                    parts.push(parse_condition(field, op, operand, brackets)?);
                }
            }
            other => {
                return Err(QueryError::Invalid(format!(
                    "\"{other}\" is not a field name or a logical operator."
                )))
            }
        }
    }
    Ok(if parts.len() == 1 {
        parts.pop().expect("one element is present")
    } else {
        Filter::And(parts)
    })
}

/// The children of `_and`/`_or`: a JSON array, or in bracket form an object keyed by index.
fn logical_children(value: &Value, brackets: bool) -> Result<Vec<&Value>, QueryError> {
    match value {
        Value::Array(items) => Ok(items.iter().collect()),
        Value::Object(map) if brackets => {
            let mut indexed = Vec::new();
            for (k, v) in map {
                let i: usize = k.parse().map_err(|_| {
                    QueryError::Invalid(format!("\"{k}\" is not an index of _and/_or."))
                })?;
                indexed.push((i, v));
            }
            indexed.sort_by_key(|(i, _)| *i);
            Ok(indexed.into_iter().map(|(_, v)| v).collect())
        }
        _ => Err(QueryError::Invalid(
            "_and and _or take a list of filters.".into(),
        )),
    }
}

fn parse_condition(
    field: &str,
    op: &str,
    operand: &Value,
    brackets: bool,
) -> Result<Filter, QueryError> {
    // Each `_n*` operator is the exact complement of its positive form.
    let (positive, negated) = match op {
        "_neq" => ("_eq", true),
        "_nin" => ("_in", true),
        "_nnull" => ("_null", true),
        "_nempty" => ("_empty", true),
        "_nbetween" => ("_between", true),
        "_ncontains" => ("_contains", true),
        "_nicontains" => ("_icontains", true),
        "_nstarts_with" => ("_starts_with", true),
        "_nistarts_with" => ("_istarts_with", true),
        "_nends_with" => ("_ends_with", true),
        "_niends_with" => ("_iends_with", true),
        other => (other, false),
    };
    let bad = |what: &str| QueryError::Invalid(format!("\"{op}\" on \"{field}\" takes {what}."));
    let cond = match positive {
        "_eq" => Cond::Eq(scalar(operand, brackets).ok_or_else(|| bad("a scalar value"))?),
        "_lt" | "_lte" | "_gt" | "_gte" => {
            let v = ordered_scalar(operand, brackets).ok_or_else(|| bad("a number or a string"))?;
            match op {
                "_lt" => Cond::Lt(v),
                "_lte" => Cond::Lte(v),
                "_gt" => Cond::Gt(v),
                _ => Cond::Gte(v),
            }
        }
        "_in" => {
            let list = scalar_list(operand, brackets).ok_or_else(|| bad("a list of values"))?;
            if list.len() > MAX_IN_VALUES {
                return Err(QueryError::Invalid(format!(
                    "\"{op}\" on \"{field}\" has {} values; the most is {MAX_IN_VALUES}.",
                    list.len()
                )));
            }
            Cond::In(list)
        }
        "_null" | "_empty" => {
            let is_true = match operand {
                Value::Bool(true) => true,
                Value::String(s) => brackets && s == "true",
                _ => false,
            };
            if !is_true {
                return Err(bad("only true"));
            }
            if positive == "_null" {
                Cond::Null
            } else {
                Cond::Empty
            }
        }
        "_contains" | "_icontains" | "_starts_with" | "_istarts_with" | "_ends_with"
        | "_iends_with" => {
            let Value::String(needle) = operand else {
                return Err(bad("a string"));
            };
            let needle = needle.clone();
            match positive {
                "_contains" => Cond::Contains {
                    needle,
                    fold: false,
                },
                "_icontains" => Cond::Contains { needle, fold: true },
                "_starts_with" => Cond::StartsWith {
                    needle,
                    fold: false,
                },
                "_istarts_with" => Cond::StartsWith { needle, fold: true },
                "_ends_with" => Cond::EndsWith {
                    needle,
                    fold: false,
                },
                _ => Cond::EndsWith { needle, fold: true },
            }
        }
        "_between" => {
            let list = scalar_list(operand, brackets).ok_or_else(|| bad("two values"))?;
            match <[Scalar; 2]>::try_from(list) {
                Ok(
                    [a @ Scalar::Int(_) | a @ Scalar::Float(_), b @ Scalar::Int(_) | b @ Scalar::Float(_)],
                ) => Cond::Between(a, b),
                Ok([a @ Scalar::Str(_), b @ Scalar::Str(_)]) => Cond::Between(a, b),
                _ => return Err(bad("two numbers or two strings")),
            }
        }
        _ => {
            return Err(QueryError::Invalid(format!(
                "Unknown filter operator \"{op}\" on \"{field}\"."
            )))
        }
    };
    let leaf = Filter::Field(field.to_string(), cond);
    Ok(if negated {
        Filter::Not(Box::new(leaf))
    } else {
        leaf
    })
}

/// A bracket value typed as Directus types it: booleans, null and numbers are not strings.
fn typed(raw: &str) -> Scalar {
    match raw {
        "true" => return Scalar::Bool(true),
        "false" => return Scalar::Bool(false),
        "null" => return Scalar::Null,
        _ => {}
    }
    let numeric = !raw.is_empty()
        && raw
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'-' | b'.' | b'e' | b'E' | b'+'))
        && raw.bytes().any(|b| b.is_ascii_digit());
    if numeric {
        if let Ok(i) = raw.parse::<i64>() {
            return Scalar::Int(i);
        }
        if let Ok(f) = raw.parse::<f64>() {
            if f.is_finite() {
                return Scalar::Float(f);
            }
        }
    }
    Scalar::Str(raw.to_string())
}

fn scalar(value: &Value, brackets: bool) -> Option<Scalar> {
    match value {
        Value::String(s) if brackets => Some(typed(s)),
        Value::String(s) => Some(Scalar::Str(s.clone())),
        Value::Null => Some(Scalar::Null),
        Value::Bool(b) => Some(Scalar::Bool(*b)),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => Scalar::Int(i),
            None => Scalar::Float(n.as_f64()?),
        }),
        Value::Array(_) | Value::Object(_) => None,
    }
}

fn ordered_scalar(value: &Value, brackets: bool) -> Option<Scalar> {
    match scalar(value, brackets)? {
        s @ (Scalar::Int(_) | Scalar::Float(_) | Scalar::Str(_)) => Some(s),
        Scalar::Null | Scalar::Bool(_) => None,
    }
}

fn scalar_list(value: &Value, brackets: bool) -> Option<Vec<Scalar>> {
    match value {
        Value::String(s) if brackets => Some(s.split(',').map(typed).collect()),
        Value::Array(items) => items.iter().map(|v| scalar(v, false)).collect(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, cond: Cond) -> Filter {
        Filter::Field(name.into(), cond)
    }

    #[test]
    fn bracket_and_json_forms_agree() {
        let a = Query::from_query_string("filter[views][_gt]=500").unwrap();
        let b =
            Query::from_query_string("filter=%7B%22views%22%3A%7B%22_gt%22%3A500%7D%7D").unwrap();
        assert_eq!(a.filter, Some(field("views", Cond::Gt(Scalar::Int(500)))));
        assert_eq!(a.filter, b.filter);
    }

    #[test]
    fn bracket_values_are_typed() {
        let q = Query::from_query_string("filter[a][_eq]=true&filter[b][_in]=10,x,1.5").unwrap();
        assert_eq!(
            q.filter,
            Some(Filter::And(vec![
                field("a", Cond::Eq(Scalar::Bool(true))),
                field(
                    "b",
                    Cond::In(vec![
                        Scalar::Int(10),
                        Scalar::Str("x".into()),
                        Scalar::Float(1.5)
                    ])
                ),
            ]))
        );
        let q = Query::from_query_string(r#"filter={"a":{"_eq":"10"}}"#).unwrap();
        assert_eq!(
            q.filter,
            Some(field("a", Cond::Eq(Scalar::Str("10".into()))))
        );
    }

    #[test]
    fn logical_operators_with_indices() {
        let q = Query::from_query_string(
            "filter[_or][1][views][_gt]=900&filter[_or][0][views][_lt]=100",
        )
        .unwrap();
        assert_eq!(
            q.filter,
            Some(Filter::Or(vec![
                field("views", Cond::Lt(Scalar::Int(100))),
                field("views", Cond::Gt(Scalar::Int(900))),
            ]))
        );
    }

    #[test]
    fn negated_operators() {
        let q = Query::from_query_string("filter[a][_nnull]=true&filter[b][_nin]=1").unwrap();
        assert_eq!(
            q.filter,
            Some(Filter::And(vec![
                Filter::Not(Box::new(field("a", Cond::Null))),
                Filter::Not(Box::new(field("b", Cond::In(vec![Scalar::Int(1)])))),
            ]))
        );
        let q = Query::from_query_string("filter[a][_null]=true").unwrap();
        assert_eq!(q.filter, Some(field("a", Cond::Null)));
        let q = Query::from_query_string("filter[a][_nempty]=true").unwrap();
        assert_eq!(
            q.filter,
            Some(Filter::Not(Box::new(field("a", Cond::Empty))))
        );
    }

    #[test]
    fn rejects_bad_queries() {
        for bad in [
            "filter[a][_foo]=1",
            "filter[a.b][_eq]=1",
            "filter[a][_null]=false",
            "filter[a][_gt]=true",
            "filter[a][_between]=1",
            "filter[a][_between]=1,x",
            "filter=%7Bnope",
            "filter=[1]",
            "filter[a]=1",
            "filter[a][_eq",
            "filter={}&filter[a][_eq]=1",
            "limit=-2",
            "limit=1.5",
            "limit=ten",
            "offset=-1",
            "page=0",
            "meta=nope",
            "sort=a.b",
            "fields=a.b",
            "fields=%ZZ",
            "aggregate[count]=*",
            "sort=title,",
            "sort=a,,b",
            "fields=,id",
            "fields=",
        ] {
            assert!(
                matches!(Query::from_query_string(bad), Err(QueryError::Invalid(_))),
                "{bad} was accepted"
            );
        }
    }

    #[test]
    fn nesting_and_size_are_bounded() {
        let mut deep = String::from("filter");
        for _ in 0..40 {
            deep.push_str("[_and][0]");
        }
        deep.push_str("[a][_eq]=1");
        assert!(Query::from_query_string(&deep).is_err());
        let many: Vec<String> = (0..300)
            .map(|i| format!("filter[_or][{i}][a][_eq]={i}"))
            .collect();
        assert!(Query::from_query_string(&many.join("&")).is_err());
    }

    #[test]
    fn bounds_name_themselves_and_ordinary_sizes_pass() {
        let keys: Vec<String> = (0..=MAX_SORT_KEYS).map(|i| format!("f{i}")).collect();
        let too_many = Query::from_query_string(&format!("sort={}", keys.join(",")));
        assert!(
            matches!(&too_many, Err(QueryError::Invalid(m)) if m.contains("32")),
            "{too_many:?}"
        );
        let ids: Vec<String> = (0..10_000).map(|i| i.to_string()).collect();
        let q = Query::from_query_string(&format!("filter[id][_in]={}", ids.join(","))).unwrap();
        assert!(matches!(q.filter, Some(Filter::Field(_, Cond::In(ref l))) if l.len() == 10_000));
        let ids: Vec<String> = (0..=MAX_IN_VALUES).map(|i| i.to_string()).collect();
        let over = Query::from_query_string(&format!("filter[id][_in]={}", ids.join(",")));
        assert!(matches!(over, Err(QueryError::Invalid(m)) if m.contains("100000")));
    }

    #[test]
    fn window_and_meta() {
        let q =
            Query::from_query_string("limit=10&page=3&offset=7&meta=*&sort=-views,title").unwrap();
        assert_eq!(q.window(DEFAULT_LIMIT), (Some(10), 20));
        assert!(q.total_count && q.filter_count);
        assert_eq!(q.sort.len(), 2);
        assert!(q.sort[0].descending);
        let q = Query::from_query_string("limit=-1&offset=5").unwrap();
        assert_eq!(q.window(DEFAULT_LIMIT), (None, 5));
        assert_eq!(Query::default().window(DEFAULT_LIMIT), (Some(100), 0));
    }

    #[test]
    fn json_query_objects() {
        let v: Value = serde_json::from_str(
            r#"{"filter":{"views":{"_gte":5}},"sort":["-id"],"limit":2,"fields":"id,title"}"#,
        )
        .unwrap();
        let q = Query::from_json(&v).unwrap();
        assert_eq!(q.limit, Some(2));
        assert_eq!(q.fields, Some(vec!["id".to_string(), "title".to_string()]));
        assert!(Query::from_json(&serde_json::json!({"bogus": 1})).is_err());
    }

    #[test]
    fn json_integers() {
        let cases = [
            ("1", Some(1)),
            ("-1.0", Some(-1)),
            ("4e1", Some(40)),
            ("9007199254740992.0", Some(9_007_199_254_740_992)),
            ("9223372036854775807", Some(i64::MAX)),
            ("1.5", None),
            ("9007199254740994.0", None),
            ("18446744073709551615", None),
            ("1e300", None),
            ("\"1\"", None),
            ("null", None),
        ];
        for (text, want) in cases {
            let value: Value = serde_json::from_str(text).unwrap();
            assert_eq!(json_integer(&value), want, "{text}");
        }
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b+c", true).as_deref(), Some("a b c"));
        assert_eq!(percent_decode("a+b", false).as_deref(), Some("a+b"));
        assert_eq!(percent_decode("%E2%82%AC", true).as_deref(), Some("€"));
        assert_eq!(percent_decode("%FF", true), None);
        assert_eq!(percent_decode("%4", true), None);
        assert_eq!(percent_decode("%G1", true), None);
    }
}
