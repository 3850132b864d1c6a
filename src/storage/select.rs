//! The SQL of item queries: `WHERE` from a filter and `search`, `ORDER BY` from `sort`, and the
//! page window.
//!
//! SQL text comes only from this code and from names that are safe as literals (`schema::
//! literal`): a collection name and a field's JSON path are written into the text, because
//! SQLite uses a partial expression index only when the query names the same collection and the
//! same expression (`json_extract(data, '$."views"')`). Every value from a request is a bound
//! parameter.
//!
//! Each condition is written as an index-friendly term on the field's value (`v > ?`, `v = ?`,
//! `v IN (…)`, `v IS NULL`, a prefix range) plus, where JSON types could collide in SQL (`true`
//! is 1, an object is text), a residual test of `json_type` that SQLite checks on the index's
//! candidates only.

use super::schema;
use crate::query::{Cond, Filter, Query, Scalar};
use rusqlite::types::Value as Sql;
use serde_json::Value;

/// The `WHERE` of an item query and its parameters, then the page's `SELECT`.
pub(super) struct Select {
    pub condition: String,
    pub params: Vec<Sql>,
    /// `INDEXED BY …` when the page is to be read through one field's index.
    indexed_by: String,
    /// The collection is written as a literal (partial indexes apply).
    literal_collection: bool,
    /// The collection as the SQL names it: a literal, or a placeholder.
    collection: String,
}

/// The SQL type test for JSON numbers.
const NUMBER: &str = "IN ('integer', 'real')";
/// The SQL type test for JSON strings.
const TEXT: &str = "= 'text'";
/// The value and JSON type expressions of `id`, the key column. `d.id` has `INTEGER` affinity:
/// SQLite would turn a text operand that looks like a number into that number before comparing
/// (`d.id = '3'` is true for id 3), so no text is ever compared with it (`Select::compare`,
/// `Select::one_of`, `Select::prefix`): an id is a JSON number, and a string never equals it.
const KEY: (&str, &str) = ("d.id", "'integer'");

impl Select {
    pub fn new(collection: &str) -> Select {
        let mut select = Select {
            condition: String::new(),
            params: Vec::new(),
            indexed_by: String::new(),
            literal_collection: false,
            collection: String::new(),
        };
        select.collection = match schema::literal(collection) {
            Some(name) => {
                select.literal_collection = true;
                name
            }
            None => select.bind(Sql::Text(collection.into())),
        };
        select.condition = format!("d.collection = {}", select.collection);
        select
    }

    /// Reads the page through the field's index (which the caller knows exists).
    pub fn use_index(&mut self, collection: &str, field: &str) {
        if self.literal_collection && schema::path_literal(field).is_some() {
            self.indexed_by = format!(" INDEXED BY {}", schema::index_name(collection, field));
        }
    }

    /// Adds a parameter and returns its placeholder.
    fn bind(&mut self, value: Sql) -> String {
        self.params.push(value);
        format!("?{}", self.params.len())
    }

    /// The value and JSON type expressions of a field (`id` is the key column). The value
    /// expression is the one the field's index is built on.
    fn field(&mut self, name: &str) -> (String, String) {
        if name == "id" {
            return (KEY.0.to_string(), KEY.1.to_string());
        }
        let path = match schema::path_literal(name) {
            Some(path) => path,
            // Never for names the query parser accepted; bound, it is still exact (unindexed).
            None => self.bind(Sql::Text(format!("$.\"{name}\""))),
        };
        (
            format!("json_extract(d.data, {path})"),
            format!("json_type(d.data, {path})"),
        )
    }

    pub fn where_clause(&mut self, query: &Query) {
        if let Some(filter) = &query.filter {
            let sql = self.filter(filter);
            self.condition = format!("{} AND {sql}", self.condition);
        }
        if let Some(term) = &query.search {
            let sql = match self.text_search(None, term, Match::Contains, true) {
                Some(sql) => sql,
                None => {
                    let p = self.bind(Sql::Text(term.clone()));
                    format!(
                        "EXISTS (SELECT 1 FROM json_each(d.data) AS je \
                         WHERE je.type = 'text' AND instr(lower(je.value), lower({p})) > 0)"
                    )
                }
            };
            self.condition = format!("{} AND {sql}", self.condition);
        }
    }

    /// The full `SELECT` of a page of items, after `where_clause`.
    pub fn page_sql(&mut self, columns: &str, query: &Query, default_limit: i64) -> String {
        let (limit, offset) = query.window(default_limit);
        let order = self.order_by(query);
        let limit = self.bind(Sql::Integer(
            limit.map_or(-1, |l| l.min(i64::MAX as u64) as i64),
        ));
        let offset = self.bind(Sql::Integer(offset.min(i64::MAX as u64) as i64));
        format!(
            "SELECT {columns} FROM directus_items AS d{} WHERE {} ORDER BY {order} \
             LIMIT {limit} OFFSET {offset}",
            self.indexed_by, self.condition
        )
    }

    /// `null` first ascending and last descending, numbers before strings (SQLite's order of
    /// storage classes), ties by `id`.
    fn order_by(&mut self, query: &Query) -> String {
        let mut keys = Vec::new();
        for key in &query.sort {
            let (value, _) = self.field(&key.field);
            keys.push(format!(
                "{value} {}",
                if key.descending { "DESC" } else { "ASC" }
            ));
        }
        keys.push("d.id ASC".to_string());
        keys.join(", ")
    }

    fn filter(&mut self, filter: &Filter) -> String {
        match filter {
            Filter::And(parts) if parts.is_empty() => "1".to_string(),
            Filter::Or(parts) if parts.is_empty() => "0".to_string(),
            Filter::And(parts) | Filter::Or(parts) => {
                let joiner = if matches!(filter, Filter::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                let sql: Vec<String> = parts.iter().map(|p| self.filter(p)).collect();
                format!("({})", sql.join(joiner))
            }
            // A leaf may be NULL (a missing value), which `WHERE` takes as false; under NOT it
            // must count as false too, so that `_n…` is the exact complement.
            Filter::Not(inner) => format!("(NOT coalesce({}, 0))", self.filter(inner)),
            Filter::Field(name, cond) => self.condition_sql(name, cond),
        }
    }

    fn condition_sql(&mut self, name: &str, cond: &Cond) -> String {
        let searched = match cond {
            Cond::Contains { needle, fold } => Some((needle, Match::Contains, *fold)),
            Cond::EndsWith { needle, fold } => Some((needle, Match::EndsWith, *fold)),
            Cond::StartsWith { needle, fold: true } => Some((needle, Match::StartsWith, true)),
            _ => None,
        };
        if let Some((needle, how, fold)) = searched {
            if let Some(sql) = self.text_search(Some(name), needle, how, fold) {
                return sql;
            }
        }
        let (v, t) = self.field(name);
        match cond {
            Cond::Eq(s) => self.equals(&v, &t, s),
            Cond::In(list) => self.one_of(&v, &t, list),
            Cond::Lt(s) => self.compare(&v, &t, "<", s),
            Cond::Lte(s) => self.compare(&v, &t, "<=", s),
            Cond::Gt(s) => self.compare(&v, &t, ">", s),
            Cond::Gte(s) => self.compare(&v, &t, ">=", s),
            Cond::Between(a, b) => {
                let low = self.compare(&v, &t, ">=", a);
                let high = self.compare(&v, &t, "<=", b);
                format!("({low} AND {high})")
            }
            // `json_extract` is NULL exactly for a missing field and a JSON null.
            Cond::Null => format!("({v} IS NULL)"),
            Cond::Empty => format!("({v} IS NULL OR ({v} = '' AND {t} {TEXT}))"),
            Cond::Contains { needle, fold } => {
                let p = self.bind(Sql::Text(needle.clone()));
                let (hay, needle) = folded(&v, &p, *fold);
                format!("({t} {TEXT} AND instr({hay}, {needle}) > 0)")
            }
            Cond::StartsWith {
                needle,
                fold: false,
            } => self.prefix(&v, &t, needle),
            Cond::StartsWith { needle, fold: true } => {
                let p = self.bind(Sql::Text(needle.clone()));
                format!("({t} {TEXT} AND {})", starts_with(&v, &p, true))
            }
            Cond::EndsWith { needle, fold } => {
                let p = self.bind(Sql::Text(needle.clone()));
                format!("({t} {TEXT} AND {})", ends_with(&v, &p, *fold))
            }
        }
    }

    /// Equality that matches values of the same JSON type only.
    fn equals(&mut self, v: &str, t: &str, s: &Scalar) -> String {
        match s {
            Scalar::Null => format!("({v} IS NULL)"),
            Scalar::Bool(true) => format!("({v} = 1 AND {t} = 'true')"),
            Scalar::Bool(false) => format!("({v} = 0 AND {t} = 'false')"),
            Scalar::Int(_) | Scalar::Float(_) | Scalar::Str(_) => self.compare(v, t, "=", s),
        }
    }

    /// An ordered comparison with a number or a string. The extra bound keeps the index range
    /// to one storage class: every number sorts before every string in SQLite, and `''` is the
    /// least string. The `json_type` test, which makes SQLite read and parse the item, is left
    /// out where the range cannot hold a value of another JSON type: booleans are 0 and 1 to
    /// SQL, objects and arrays are text starting with `{` or `[`.
    fn compare(&mut self, v: &str, t: &str, op: &str, s: &Scalar) -> String {
        let (value, typed) = match s {
            Scalar::Int(i) => (Sql::Integer(*i), number_range_is_exact(op, *i as f64)),
            Scalar::Float(f) => (Sql::Real(*f), number_range_is_exact(op, *f)),
            Scalar::Str(text) => (Sql::Text(text.clone()), op == "=" && !looks_like_json(text)),
            // The parser lets only numbers and strings reach ordered comparisons.
            Scalar::Null | Scalar::Bool(_) => return "0".to_string(),
        };
        if matches!(s, Scalar::Str(_)) && v == KEY.0 {
            return "0".to_string();
        }
        let p = self.bind(value);
        let is_number = !matches!(s, Scalar::Str(_));
        let bound = match (is_number, op) {
            (true, ">" | ">=") => format!(" AND {v} < ''"),
            (false, "<" | "<=") => format!(" AND {v} >= ''"),
            _ => String::new(),
        };
        let types = match (typed, is_number) {
            (true, _) => String::new(),
            (false, true) => format!(" AND {t} {NUMBER}"),
            (false, false) => format!(" AND {t} {TEXT}"),
        };
        format!("({v} {op} {p}{bound}{types})")
    }

    /// `_in`: one JSON array parameter per type, read by `json_each`, so any number of values
    /// costs one bound variable and no expression depth.
    fn one_of(&mut self, v: &str, t: &str, list: &[Scalar]) -> String {
        let (mut numbers, mut strings) = (Vec::new(), Vec::new());
        let mut parts = Vec::new();
        let (mut null, mut yes, mut no) = (false, false, false);
        for s in list {
            match s {
                Scalar::Int(i) => numbers.push(Value::from(*i)),
                Scalar::Float(f) => numbers.push(Value::from(*f)),
                Scalar::Str(text) => strings.push(Value::from(text.as_str())),
                Scalar::Null => null = true,
                Scalar::Bool(true) => yes = true,
                Scalar::Bool(false) => no = true,
            }
        }
        if v == KEY.0 {
            strings.clear();
        }
        for (values, types) in [(numbers, NUMBER), (strings, TEXT)] {
            if !values.is_empty() {
                let json = Value::Array(values).to_string();
                let p = self.bind(Sql::Text(json));
                parts.push(format!(
                    "({v} IN (SELECT value FROM json_each({p})) AND {t} {types})"
                ));
            }
        }
        for (wanted, s) in [
            (null, Scalar::Null),
            (yes, Scalar::Bool(true)),
            (no, Scalar::Bool(false)),
        ] {
            if wanted {
                parts.push(self.equals(v, t, &s));
            }
        }
        if parts.is_empty() {
            "0".to_string()
        } else {
            format!("({})", parts.join(" OR "))
        }
    }

    /// A case-sensitive prefix as a range of the index: SQLite compares text by its UTF-8 bytes,
    /// whose order is that of code points, so the strings starting with `needle` are exactly
    /// those from `needle` up to (not including) `needle` with its last character incremented.
    fn prefix(&mut self, v: &str, t: &str, needle: &str) -> String {
        if v == KEY.0 {
            return "0".to_string();
        }
        let low = self.bind(Sql::Text(needle.to_string()));
        match successor(needle) {
            Some(high) if !looks_like_json(needle) => {
                let high = self.bind(Sql::Text(high));
                format!("({v} >= {low} AND {v} < {high})")
            }
            Some(high) => {
                let high = self.bind(Sql::Text(high));
                format!("({v} >= {low} AND {v} < {high} AND {t} {TEXT})")
            }
            None => format!("({v} >= {low} AND {t} {TEXT})"),
        }
    }
}

/// True when a number range `v op x` can hold no boolean (0 or 1 to SQL): then the index range
/// alone is exact.
pub(super) fn number_range_is_exact(op: &str, x: f64) -> bool {
    let holds = |b: f64| match op {
        "=" => b == x,
        "<" => b < x,
        "<=" => b <= x,
        ">" => b > x,
        _ => b >= x,
    };
    !holds(0.0) && !holds(1.0)
}

/// True for text that an object or an array could equal, or start with, as SQL sees them
/// (`json_extract` gives their JSON text); the empty string starts every text.
pub(super) fn looks_like_json(text: &str) -> bool {
    text.is_empty() || text.starts_with(['{', '['])
}

/// How a text search matches its needle.
#[derive(Clone, Copy)]
enum Match {
    Contains,
    StartsWith,
    EndsWith,
}

impl Select {
    /// A substring test answered from the trigram index: the ids of the items whose string
    /// value (of `field`, or of any top-level field) the index says may hold `needle`, each
    /// checked exactly. `CROSS JOIN` keeps the index lookup as the outer loop (SQLite would
    /// otherwise walk every string of the collection and probe the index for each). `None` for
    /// needles the trigram index cannot look up, which the caller tests item by item instead:
    /// those under three characters, and those holding a NUL (FTS5 reads its query text up to
    /// a NUL, and the phrase is then unterminated: an SQL error).
    fn text_search(
        &mut self,
        field: Option<&str>,
        needle: &str,
        how: Match,
        fold: bool,
    ) -> Option<String> {
        if needle.chars().count() < 3 || needle.contains('\0') {
            return None;
        }
        let phrase = self.bind(Sql::Text(format!("\"{}\"", needle.replace('"', "\"\""))));
        let n_raw = self.bind(Sql::Text(needle.to_string()));
        let (value, n) = folded("s.value", &n_raw, fold);
        let exact = match how {
            Match::Contains => format!("instr({value}, {n}) > 0"),
            Match::StartsWith => starts_with("s.value", &n_raw, fold),
            Match::EndsWith => ends_with("s.value", &n_raw, fold),
        };
        let field = match field {
            None => String::new(),
            Some(name) => match schema::literal(name) {
                Some(name) => format!(" AND s.field = {name}"),
                None => format!(" AND s.field = {}", self.bind(Sql::Text(name.into()))),
            },
        };
        Some(format!(
            "d.id IN (SELECT s.id FROM directus_text AS t \
             CROSS JOIN directus_strings AS s ON s.rowid = t.rowid \
             WHERE t.value MATCH {phrase} AND s.collection = {}{field} AND {exact})",
            self.collection
        ))
    }
}

/// The least string greater than every string that starts with `prefix`, or `None` when there
/// is none (an empty prefix, or one made only of the last code point).
pub(super) fn successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = (last as u32 + 1..=char::MAX as u32).find_map(char::from_u32);
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

/// `hay` starts with `needle`, compared as bytes: SQLite's `length()` counts characters only
/// up to a NUL, `octet_length()` all bytes, and a byte prefix of UTF-8 is a character prefix.
/// `lower()` folds ASCII only, so it keeps byte lengths. SQLite's `substr` of an empty blob is
/// `NULL`, hence the `coalesce`.
fn starts_with(hay: &str, needle: &str, fold: bool) -> String {
    let (h, n) = folded(hay, needle, fold);
    format!(
        "coalesce(substr(CAST({h} AS BLOB), 1, octet_length({needle})), X'') \
         = CAST({n} AS BLOB)"
    )
}

/// `hay` ends with `needle`, compared as bytes (see `starts_with`).
fn ends_with(hay: &str, needle: &str, fold: bool) -> String {
    let (h, n) = folded(hay, needle, fold);
    format!(
        "octet_length({hay}) >= octet_length({needle}) AND \
         coalesce(substr(CAST({h} AS BLOB), octet_length({hay}) - octet_length({needle}) + 1), \
         X'') = CAST({n} AS BLOB)"
    )
}

/// Wraps both sides in `lower()` when the comparison folds case (ASCII only, as SQLite does).
fn folded(hay: &str, needle: &str, fold: bool) -> (String, String) {
    if fold {
        (format!("lower({hay})"), format!("lower({needle})"))
    } else {
        (hay.to_string(), needle.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_successors() {
        let cases = [
            ("Article 7", Some("Article 8")),
            ("a", Some("b")),
            ("az", Some("a{")),
            ("", None),
            ("\u{10FFFF}", None),
            ("a\u{10FFFF}", Some("b")),
            ("\u{D7FF}", Some("\u{E000}")),
        ];
        for (prefix, want) in cases {
            assert_eq!(successor(prefix).as_deref(), want, "{prefix:?}");
        }
    }
}
