//! Field paths resolved against a parsed record.
//!
//! A path is a list of segments: a key of an object, every element of an
//! array (`[]`), or one element (`[N]`). Resolving a path yields every value
//! it reaches: none when a key is absent, several when it fans out.

use serde_json::Value;
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathSegment {
    Key(Box<str>),
    Each,
    Index(usize),
    /// `.**`: the value and every value nested inside it, at any depth.
    Deep,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath {
    segments: Box<[PathSegment]>,
}

impl FieldPath {
    pub fn new(segments: Vec<PathSegment>) -> FieldPath {
        FieldPath {
            segments: segments.into_boxed_slice(),
        }
    }

    /// A path of dot-separated keys, `a.b.c` (no array segments).
    pub fn keys(dotted: &str) -> FieldPath {
        FieldPath::new(
            dotted
                .split('.')
                .map(|k| PathSegment::Key(k.into()))
                .collect(),
        )
    }

    pub fn segments(&self) -> &[PathSegment] {
        &self.segments
    }

    /// True when the path can reach more than one value.
    pub fn fans_out(&self) -> bool {
        self.segments
            .iter()
            .any(|s| matches!(s, PathSegment::Each | PathSegment::Deep))
    }

    /// Calls `found` for every value the path reaches, in document order.
    /// JSON null counts as absent: ctrules treats null and missing alike.
    /// `found` returns false to stop early.
    pub fn visit<'v>(&self, record: &'v Value, found: &mut dyn FnMut(&'v Value) -> bool) -> bool {
        visit_from(&self.segments, record, found)
    }

    /// The single value of a path that does not fan out (or the first value of one that does).
    pub fn first<'v>(&self, record: &'v Value) -> Option<&'v Value> {
        let mut out = None;
        self.visit(record, &mut |v| {
            out = Some(v);
            false
        });
        out
    }
}

/// A record whose top-level fields are looked up by name: a parsed
/// [`Value`], or a record whose fields are parsed from its text on first
/// use (`reader::LazyRecord`), so that what no rule reaches is never built.
pub trait Members {
    /// The top-level field `key`; None when absent.
    fn member(&self, key: &str) -> Option<&Value>;

    /// The record as one value, for a path that does not start with a key.
    fn whole(&self) -> Option<&Value>;

    /// The JSON text of the top-level field `key`, when the record is
    /// held as text: equal texts are equal values, for caches keyed by it.
    fn member_text(&self, _key: &str) -> Option<&[u8]> {
        None
    }
}

impl Members for Value {
    fn member(&self, key: &str) -> Option<&Value> {
        member(self, key)
    }

    fn whole(&self) -> Option<&Value> {
        Some(self)
    }
}

impl FieldPath {
    /// [`visit`](Self::visit) from a record's top level, whatever holds it.
    pub fn visit_record<'v>(
        &self,
        record: &'v dyn Members,
        found: &mut dyn FnMut(&'v Value) -> bool,
    ) -> bool {
        match self.segments.split_first() {
            Some((PathSegment::Key(key), rest)) => match record.member(key) {
                Some(value) => visit_from(rest, value, found),
                None => true,
            },
            _ => match record.whole() {
                Some(value) => visit_from(&self.segments, value, found),
                None => true,
            },
        }
    }
}

/// The field `key` of an object. Records parsed for rules hold a dozen
/// fields, where comparing names beats hashing them (serde_json's maps hash
/// with SipHash); big objects are hashed.
pub fn member<'v>(value: &'v Value, key: &str) -> Option<&'v Value> {
    const SCAN_UP_TO: usize = 16;
    match value {
        Value::Object(map) if map.len() <= SCAN_UP_TO => {
            let (len, first) = (key.len(), key.as_bytes().first());
            // Length and first byte rule out most names without a memcmp call.
            map.iter()
                .find(|(name, _)| {
                    name.len() == len && name.as_bytes().first() == first && name.as_str() == key
                })
                .map(|(_, v)| v)
        }
        Value::Object(map) => map.get(key),
        _ => None,
    }
}

fn visit_from<'v>(
    segments: &[PathSegment],
    value: &'v Value,
    found: &mut dyn FnMut(&'v Value) -> bool,
) -> bool {
    let Some((head, rest)) = segments.split_first() else {
        return if value.is_null() { true } else { found(value) };
    };
    match head {
        PathSegment::Key(key) => match member(value, key) {
            Some(next) => visit_from(rest, next, found),
            None => true,
        },
        PathSegment::Index(i) => match value.get(*i) {
            Some(next) => visit_from(rest, next, found),
            None => true,
        },
        PathSegment::Each => match value {
            Value::Array(items) => {
                for item in items {
                    if !visit_from(rest, item, found) {
                        return false;
                    }
                }
                true
            }
            _ => true,
        },
        PathSegment::Deep => visit_deep(rest, value, found),
    }
}

/// `.**`: the rest of the path from `value` and from every value nested
/// in it, in document order. Recurses once per level of the value, which
/// serde_json bounds (128) when it parses.
fn visit_deep<'v>(
    rest: &[PathSegment],
    value: &'v Value,
    found: &mut dyn FnMut(&'v Value) -> bool,
) -> bool {
    if !visit_from(rest, value, found) {
        return false;
    }
    match value {
        Value::Array(items) => items.iter().all(|item| visit_deep(rest, item, found)),
        Value::Object(map) => map.values().all(|item| visit_deep(rest, item, found)),
        _ => true,
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, seg) in self.segments.iter().enumerate() {
            match seg {
                PathSegment::Key(k) if i == 0 => write!(f, "{k}")?,
                PathSegment::Key(k) => write!(f, ".{k}")?,
                PathSegment::Each => f.write_str("[]")?,
                PathSegment::Deep => f.write_str(".**")?,
                PathSegment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

/// Replaces the values `path` reaches in `record` with `value`. Only values
/// that are there are replaced: nothing is created, and a value of another
/// shape on the way (a string where the path expects an object) is left alone.
pub fn set_path(record: &mut Value, path: &FieldPath, value: &Value) {
    set_from(path.segments(), record, value)
}

pub(crate) fn set_from(segments: &[PathSegment], target: &mut Value, value: &Value) {
    let Some((head, rest)) = segments.split_first() else {
        *target = value.clone();
        return;
    };
    match head {
        PathSegment::Key(key) => {
            if let Some(slot) = target.as_object_mut().and_then(|m| m.get_mut(&**key)) {
                set_from(rest, slot, value);
            }
        }
        PathSegment::Index(i) => {
            if let Some(slot) = target.get_mut(*i) {
                set_from(rest, slot, value);
            }
        }
        PathSegment::Each => {
            if let Value::Array(items) = target {
                for item in items {
                    set_from(rest, item, value);
                }
            }
        }
        // Never written: the compiler refuses `overwrite` through `.**`.
        PathSegment::Deep => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn all(path: &FieldPath, v: &Value) -> Vec<Value> {
        let mut out = Vec::new();
        path.visit(v, &mut |x| {
            out.push(x.clone());
            true
        });
        out
    }

    #[test]
    fn resolves_keys_arrays_and_indexes() {
        let rec = json!({"a": {"b": 1}, "r": [{"t": "x"}, {"t": "y"}, {"u": 1}], "n": null});
        assert_eq!(all(&FieldPath::keys("a.b"), &rec), vec![json!(1)]);
        let each = FieldPath::new(vec![
            PathSegment::Key("r".into()),
            PathSegment::Each,
            PathSegment::Key("t".into()),
        ]);
        assert_eq!(all(&each, &rec), vec![json!("x"), json!("y")]);
        let idx = FieldPath::new(vec![
            PathSegment::Key("r".into()),
            PathSegment::Index(1),
            PathSegment::Key("t".into()),
        ]);
        assert_eq!(all(&idx, &rec), vec![json!("y")]);
        assert!(all(&FieldPath::keys("a.c"), &rec).is_empty());
        assert!(
            all(&FieldPath::keys("n"), &rec).is_empty(),
            "null is absent"
        );
        assert!(
            all(&FieldPath::keys("a.b.c"), &rec).is_empty(),
            "through a scalar"
        );
        assert_eq!(each.to_string(), "r[].t");
    }

    #[test]
    fn sets_nested_paths() {
        let mut rec = json!({"userIdentity": {"arn": "a"}, "r": [{"k": 1}, {"j": 2}], "s": "text"});
        set_path(
            &mut rec,
            &FieldPath::keys("userIdentity.arn"),
            &json!("redacted"),
        );
        set_path(&mut rec, &FieldPath::keys("x.y"), &json!(true));
        set_path(&mut rec, &FieldPath::keys("s.t"), &json!(true));
        let each = FieldPath::new(vec![
            PathSegment::Key("r".into()),
            PathSegment::Each,
            PathSegment::Key("k".into()),
        ]);
        set_path(&mut rec, &each, &json!(0));
        assert_eq!(
            rec,
            json!({"userIdentity": {"arn": "redacted"}, "r": [{"k": 0}, {"j": 2}], "s": "text"})
        );
    }
}
