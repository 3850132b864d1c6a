//! The SQL of item queries on PostgreSQL, with SQLite's semantics (section 4 of the spec): a
//! missing field is `null`, comparisons match values of the same JSON type only, `null` sorts
//! first ascending, numbers (booleans as 0 and 1, as in SQLite) before strings, strings by
//! their bytes, ties by `id`.
//!
//! `jsonb`'s own order would not do: it puts strings before numbers and compares strings by
//! the database's collation. So every field is read through three immutable functions
//! (migration 1), and each field's index is built on the same three expressions:
//!
//! - `directus_class(v)`: 0 null or missing, 1 number or boolean, 2 string, object or array;
//! - `directus_number(v)`: the number (a boolean as 0 or 1) in class 1;
//! - `directus_string(v) COLLATE "C"`: the string (an object or array as its JSON text) in
//!   class 2, compared by bytes; indexes hold its first 400 characters (`directus_head`), since
//!   a B-tree entry must fit in a third of a page, and conditions test the head against the
//!   index and the whole string on the rows found (cutting a string keeps its order).
//!
//! A condition is an index range on those (`class = 1 AND number > $1`) plus, where two JSON
//! types share a class, a residual `jsonb_typeof` test. Substring conditions read
//! `directus_strings` through its trigram index (`LIKE`/`ILIKE` as a sieve, then an exact,
//! byte-wise test). Every value is a bound parameter, sent as text and cast in SQL.

use super::super::schema::literal;
use super::super::select::{looks_like_json, number_range_is_exact, successor};
use crate::query::{Cond, Filter, Query, Scalar};

/// The `WHERE` of an item query and its parameters, then the page's `SELECT`.
pub(super) struct Select {
    pub condition: String,
    pub params: Vec<Option<String>>,
    collection: String,
}

/// A field's expressions: class, number, string, JSON type.
struct Field {
    class: String,
    number: String,
    string: String,
    head: String,
    kind: String,
    key: bool,
}

/// How many characters of a string the indexes hold (`directus_head`).
const HEAD: usize = 400;

fn head(text: &str) -> String {
    text.chars().take(HEAD).collect()
}

impl Select {
    pub fn new(collection: &str) -> Select {
        let mut select = Select {
            condition: String::new(),
            params: Vec::new(),
            collection: String::new(),
        };
        select.collection = match literal(collection) {
            Some(name) => name,
            None => select.bind(collection.to_string(), "text"),
        };
        select.condition = format!("d.collection = {}", select.collection);
        select
    }

    /// Adds a parameter and returns its placeholder, cast to `ty`.
    fn bind(&mut self, value: String, ty: &str) -> String {
        self.params.push(Some(value));
        format!("${}::{ty}", self.params.len())
    }

    fn field(&mut self, name: &str) -> Field {
        if name == "id" {
            return Field {
                class: "1".into(),
                number: "d.id".into(),
                string: "NULL".into(),
                head: "NULL".into(),
                kind: "'number'".into(),
                key: true,
            };
        }
        let key = match literal(name) {
            Some(key) => key,
            None => self.bind(name.to_string(), "text"),
        };
        let v = format!("(d.doc -> {key})");
        Field {
            class: format!("directus_class{v}"),
            number: format!("directus_number{v}"),
            string: format!("(directus_string{v} COLLATE \"C\")"),
            head: format!("(directus_head{v} COLLATE \"C\")"),
            kind: format!("jsonb_typeof{v}"),
            key: false,
        }
    }

    pub fn where_clause(&mut self, query: &Query) {
        if let Some(filter) = &query.filter {
            let sql = self.filter(filter);
            self.condition = format!("{} AND {sql}", self.condition);
        }
        if let Some(term) = &query.search {
            let sql = self.text_search(None, term, Match::Contains, true);
            self.condition = format!("{} AND {sql}", self.condition);
        }
    }

    /// The full `SELECT` of a page of items, after `where_clause`.
    pub fn page_sql(&mut self, columns: &str, query: &Query, default_limit: i64) -> String {
        let (limit, offset) = query.window(default_limit);
        let order = self.order_by(query);
        let limit = match limit {
            Some(l) => self.bind(l.min(i64::MAX as u64).to_string(), "bigint"),
            None => "ALL".to_string(),
        };
        let offset = self.bind(offset.min(i64::MAX as u64).to_string(), "bigint");
        format!(
            "SELECT {columns} FROM directus_items AS d WHERE {} ORDER BY {order} \
             LIMIT {limit} OFFSET {offset}",
            self.condition
        )
    }

    fn order_by(&mut self, query: &Query) -> String {
        let mut keys = Vec::new();
        for key in &query.sort {
            let f = self.field(&key.field);
            let dir = if key.descending { "DESC" } else { "ASC" };
            if f.key {
                keys.push(format!("d.id {dir}"));
            } else {
                keys.push(format!(
                    "{} {dir}, {} {dir}, {} {dir}, {} {dir}",
                    f.class, f.number, f.head, f.string
                ));
            }
        }
        keys.push("d.id ASC".to_string());
        keys.join(", ")
    }

    fn filter(&mut self, filter: &Filter) -> String {
        match filter {
            Filter::And(parts) if parts.is_empty() => "true".to_string(),
            Filter::Or(parts) if parts.is_empty() => "false".to_string(),
            Filter::And(parts) | Filter::Or(parts) => {
                let joiner = if matches!(filter, Filter::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                let sql: Vec<String> = parts.iter().map(|p| self.filter(p)).collect();
                format!("({})", sql.join(joiner))
            }
            Filter::Not(inner) => format!("(NOT coalesce({}, false))", self.filter(inner)),
            Filter::Field(name, cond) => self.condition_sql(name, cond),
        }
    }

    fn condition_sql(&mut self, name: &str, cond: &Cond) -> String {
        match cond {
            Cond::Contains { needle, fold } => {
                return self.text_search(Some(name), needle, Match::Contains, *fold)
            }
            Cond::EndsWith { needle, fold } => {
                return self.text_search(Some(name), needle, Match::EndsWith, *fold)
            }
            Cond::StartsWith { needle, fold: true } => {
                return self.text_search(Some(name), needle, Match::StartsWith, true)
            }
            _ => {}
        }
        let f = self.field(name);
        match cond {
            Cond::Eq(s) => self.equals(&f, s),
            Cond::In(list) => self.one_of(&f, list),
            Cond::Lt(s) => self.compare(&f, "<", s),
            Cond::Lte(s) => self.compare(&f, "<=", s),
            Cond::Gt(s) => self.compare(&f, ">", s),
            Cond::Gte(s) => self.compare(&f, ">=", s),
            Cond::Between(a, b) => {
                let low = self.compare(&f, ">=", a);
                let high = self.compare(&f, "<=", b);
                format!("({low} AND {high})")
            }
            Cond::Null => format!("({} = 0)", f.class),
            Cond::Empty => format!(
                "({c} = 0 OR ({c} = 2 AND {n} IS NULL AND {h} = '' AND {k} = 'string'))",
                c = f.class,
                n = f.number,
                h = f.head,
                k = f.kind
            ),
            Cond::StartsWith {
                needle,
                fold: false,
            } => self.prefix(&f, needle),
            Cond::Contains { .. } | Cond::EndsWith { .. } | Cond::StartsWith { .. } => {
                unreachable!("answered by text_search above")
            }
        }
    }

    fn equals(&mut self, f: &Field, s: &Scalar) -> String {
        match s {
            Scalar::Null => format!("({} = 0)", f.class),
            Scalar::Bool(b) if !f.key => format!(
                "({} = 1 AND {} = {} AND {} = 'boolean')",
                f.class,
                f.number,
                u8::from(*b),
                f.kind
            ),
            Scalar::Bool(_) => "false".to_string(),
            _ => self.compare(f, "=", s),
        }
    }

    /// An ordered comparison with a number or a string, within one class; the JSON type is
    /// tested only where the class holds another type that could be in range (booleans are 0
    /// and 1 among numbers; objects and arrays are text starting with `{` or `[`).
    fn compare(&mut self, f: &Field, op: &str, s: &Scalar) -> String {
        let (value, exact, number) = match s {
            Scalar::Int(i) => (i.to_string(), number_range_is_exact(op, *i as f64), true),
            Scalar::Float(x) => (float_text(*x), number_range_is_exact(op, *x), true),
            Scalar::Str(text) => (stored(text), op == "=" && !looks_like_json(text), false),
            Scalar::Null | Scalar::Bool(_) => return "false".to_string(),
        };
        if f.key {
            return match s {
                Scalar::Int(_) => format!("(d.id {op} {})", self.bind(value, "bigint")),
                Scalar::Float(_) => format!("(d.id::numeric {op} {})", self.bind(value, "numeric")),
                _ => "false".to_string(),
            };
        }
        let kind = if number { "number" } else { "string" };
        let typed = match exact {
            true => String::new(),
            false => format!(" AND {} = '{kind}'", f.kind),
        };
        if number {
            let p = self.bind(value, "numeric");
            return format!("({} = 1 AND {} {op} {p}{typed})", f.class, f.number);
        }
        // The head narrows through the index (cutting keeps order, not strictness); the whole
        // string decides.
        let head_op = match op {
            "=" => "=",
            "<" | "<=" => "<=",
            _ => ">=",
        };
        let h = self.bind(head(&value), "text");
        let p = self.bind(value, "text");
        // `number IS NULL` (always true in class 2) lets the index's third column, the
        // head, be used: without it an equality read every string of the field.
        format!(
            "({} = 2 AND {} IS NULL AND {} {head_op} {h} AND {} {op} {p}{typed})",
            f.class, f.number, f.head, f.string
        )
    }

    fn one_of(&mut self, f: &Field, list: &[Scalar]) -> String {
        let (mut numbers, mut strings) = (Vec::new(), Vec::new());
        let mut parts = Vec::new();
        let (mut exact, mut null, mut yes, mut no) = (true, false, false, false);
        for s in list {
            match s {
                Scalar::Int(i) => {
                    exact &= *i != 0 && *i != 1;
                    numbers.push(i.to_string());
                }
                Scalar::Float(x) => {
                    exact &= *x != 0.0 && *x != 1.0;
                    numbers.push(float_text(*x));
                }
                Scalar::Str(text) => strings.push(stored(text)),
                Scalar::Null => null = true,
                Scalar::Bool(true) => yes = true,
                Scalar::Bool(false) => no = true,
            }
        }
        if !numbers.is_empty() {
            let p = self.bind(format!("{{{}}}", numbers.join(",")), "numeric[]");
            if f.key {
                parts.push(format!("(d.id::numeric = ANY({p}))"));
            } else {
                let typed = match exact {
                    true => String::new(),
                    false => format!(" AND {} = 'number'", f.kind),
                };
                parts.push(format!(
                    "({} = 1 AND {} = ANY({p}){typed})",
                    f.class, f.number
                ));
            }
        }
        if !strings.is_empty() && !f.key {
            let json_like = list
                .iter()
                .any(|s| matches!(s, Scalar::Str(t) if looks_like_json(t)));
            let heads: Vec<String> = strings.iter().map(|s| array_element(&head(s))).collect();
            let h = self.bind(format!("{{{}}}", heads.join(",")), "text[]");
            let whole: Vec<String> = strings.iter().map(|s| array_element(s)).collect();
            let p = self.bind(format!("{{{}}}", whole.join(",")), "text[]");
            let typed = match json_like {
                false => String::new(),
                true => format!(" AND {} = 'string'", f.kind),
            };
            parts.push(format!(
                "({} = 2 AND {} IS NULL AND {} = ANY({h}) AND {} = ANY({p}){typed})",
                f.class, f.number, f.head, f.string
            ));
        }
        for (wanted, s) in [
            (null, Scalar::Null),
            (yes, Scalar::Bool(true)),
            (no, Scalar::Bool(false)),
        ] {
            if wanted {
                parts.push(self.equals(f, &s));
            }
        }
        match parts.is_empty() {
            true => "false".to_string(),
            false => format!("({})", parts.join(" OR ")),
        }
    }

    /// A case-sensitive prefix as a range of the index (strings compare by bytes, the order of
    /// code points).
    fn prefix(&mut self, f: &Field, needle: &str) -> String {
        if f.key {
            return "false".to_string();
        }
        let needle = &stored(needle);
        let typed = format!(" AND {} = 'string'", f.kind);
        if needle.chars().count() > HEAD {
            let h = self.bind(head(needle), "text");
            let n = self.bind(needle.to_string(), "text");
            return format!(
                "({} = 2 AND {} IS NULL AND {} = {h} AND starts_with({}, {n}){typed})",
                f.class, f.number, f.head, f.string
            );
        }
        // A string starts with a needle of at most HEAD characters exactly when its head does.
        let low = self.bind(needle.to_string(), "text");
        match successor(needle) {
            Some(high) => {
                let high = self.bind(high, "text");
                let typed = if looks_like_json(needle) {
                    typed
                } else {
                    String::new()
                };
                format!(
                    "({c} = 2 AND {n} IS NULL AND {h} >= {low} AND {h} < {high}{typed})",
                    c = f.class,
                    n = f.number,
                    h = f.head
                )
            }
            None => format!(
                "({} = 2 AND {} IS NULL AND {} >= {low}{typed})",
                f.class, f.number, f.head
            ),
        }
    }

    /// A substring test answered from `directus_strings` (every top-level string of every item)
    /// through its trigram index: `LIKE` (or `ILIKE`) with the needle's `%`, `_` and `\`
    /// escaped sifts, and an exact byte-wise test decides (`ILIKE` folds more than ASCII; the
    /// API folds ASCII only, as `lower()` does under the C collation).
    fn text_search(&mut self, field: Option<&str>, needle: &str, how: Match, fold: bool) -> String {
        let needle = &stored(needle);
        let escaped = needle
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        let pattern = match how {
            Match::Contains => format!("%{escaped}%"),
            Match::StartsWith => format!("{escaped}%"),
            Match::EndsWith => format!("%{escaped}"),
        };
        let p = self.bind(pattern, "text");
        let n = self.bind(needle.to_string(), "text");
        let (value, n, like) = match fold {
            true => (
                "lower(s.value COLLATE \"C\")".to_string(),
                format!("lower({n} COLLATE \"C\")"),
                "ILIKE",
            ),
            false => ("s.value".to_string(), n, "LIKE"),
        };
        let exact = match how {
            Match::Contains => format!("strpos({value}, {n}) > 0"),
            Match::StartsWith => format!("starts_with({value}, {n})"),
            Match::EndsWith => format!(
                "right({value}, char_length({n})) = {n} AND char_length({value}) >= char_length({n})"
            ),
        };
        let field = match field {
            None => String::new(),
            Some(name) => match literal(name) {
                Some(name) => format!(" AND s.field = {name}"),
                None => format!(" AND s.field = {}", self.bind(name.to_string(), "text")),
            },
        };
        format!(
            "d.id IN (SELECT s.id FROM directus_strings AS s WHERE s.collection = {}{field} \
             AND s.value {like} {p} AND {exact})",
            self.collection
        )
    }
}

#[derive(Clone, Copy)]
enum Match {
    Contains,
    StartsWith,
    EndsWith,
}

/// A string as PostgreSQL holds it in `doc`: U+0000, which `jsonb` cannot hold, is U+FFFD
/// there (migration 1), so a value holding it is compared the same way.
fn stored(text: &str) -> String {
    text.replace('\0', "\u{FFFD}")
}

/// A float as `numeric` reads it (JSON's notation).
fn float_text(x: f64) -> String {
    serde_json::Number::from_f64(x).map_or_else(|| "0".to_string(), |n| n.to_string())
}

/// A string as an element of an array literal: quoted, `"` and `\` escaped.
fn array_element(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}
