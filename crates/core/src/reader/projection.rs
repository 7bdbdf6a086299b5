//! Parsing only the top-level fields that rules read.
//!
//! Most of a CloudTrail record's bytes are `requestParameters`,
//! `responseElements` and their kin, which most rules never read. A record is
//! parsed into a [`Value`] holding only the wanted top-level fields; the
//! others are checked for validity (so the output stays valid JSON) but
//! never allocated.

use crate::schema::{DIGEST_FIELDS, RECORD_MARKERS};
use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// The top-level fields of a record to parse; the rest are only validated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    /// Few (a dozen, typically): a linear scan beats hashing.
    names: Vec<Box<str>>,
}

impl FieldSet {
    pub fn new<S: AsRef<str>>(names: impl IntoIterator<Item = S>) -> FieldSet {
        let mut names: Vec<Box<str>> = names.into_iter().map(|s| s.as_ref().into()).collect();
        names.sort();
        names.dedup();
        FieldSet { names }
    }

    pub fn contains(&self, name: &str) -> bool {
        self.contains_bytes(name.as_bytes())
    }

    /// [`contains`](Self::contains) for a name as bytes.
    pub fn contains_bytes(&self, name: &[u8]) -> bool {
        // Sorted as `str`, which orders as the bytes do.
        self.names
            .binary_search_by(|n| n.as_bytes().cmp(name))
            .is_ok()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(|n| &**n)
    }
}

/// Parses `bytes` (one JSON value) keeping only `fields` of an object;
/// everything is parsed when `fields` is None or the value is not an object.
pub fn parse_projected(bytes: &[u8], fields: Option<&FieldSet>) -> serde_json::Result<Value> {
    match fields {
        Some(fields) if bytes.first() == Some(&b'{') => {
            let mut de = serde_json::Deserializer::from_slice(bytes);
            let value = de::Deserializer::deserialize_map(
                &mut de,
                Projection {
                    fields: Some(fields),
                    keys: None,
                },
            )?;
            de.end()?;
            Ok(value)
        }
        _ => serde_json::from_slice(bytes),
    }
}

/// What the top-level keys of an object say it is, noted while it is parsed.
#[derive(Debug, Default)]
pub(super) struct KeyInfo {
    /// A key of [`RECORD_MARKERS`]: it is a record.
    pub marker: bool,
    /// A key of [`DIGEST_FIELDS`]: a CloudTrail digest.
    pub digest: bool,
    /// A `Records` key: a log file's envelope (unless it is a record).
    pub records: bool,
    /// An `Events` key: perhaps the output of `lookup-events`.
    pub events: bool,
    /// The first few keys, to name an object that is none of these.
    pub first: Vec<String>,
}

impl KeyInfo {
    fn note(&mut self, name: &str) {
        if self.first.len() < 5 {
            self.first.push(name.to_owned());
        }
        match name {
            "Records" => self.records = true,
            "Events" => self.events = true,
            _ if RECORD_MARKERS.contains(&name) => self.marker = true,
            _ if DIGEST_FIELDS.contains(&name) => self.digest = true,
            _ => {}
        }
    }
}

/// [`parse_projected`] (with `fields` None: every field), noting what the
/// object's keys say it is. A value that is not an object gives no keys.
pub(super) fn parse_noting_keys(
    bytes: &[u8],
    fields: Option<&FieldSet>,
) -> serde_json::Result<(Value, KeyInfo)> {
    let mut keys = KeyInfo::default();
    let value = if bytes.first() == Some(&b'{') {
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let value = de::Deserializer::deserialize_map(
            &mut de,
            Projection {
                fields,
                keys: Some(&mut keys),
            },
        )?;
        de.end()?;
        value
    } else {
        serde_json::from_slice(bytes)?
    };
    Ok((value, keys))
}

struct Projection<'f, 'k> {
    /// None: every field.
    fields: Option<&'f FieldSet>,
    keys: Option<&'k mut KeyInfo>,
}

impl<'de> Visitor<'de> for Projection<'_, '_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key_seed(WantedKey {
            fields: self.fields,
            keys: self.keys.as_deref_mut(),
        })? {
            match key {
                Some(name) => {
                    let value: Value = map.next_value()?;
                    object.insert(name, value);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(object))
    }
}

/// A key, allocated only when it is wanted.
struct WantedKey<'f, 'k> {
    fields: Option<&'f FieldSet>,
    keys: Option<&'k mut KeyInfo>,
}

impl<'de> DeserializeSeed<'de> for WantedKey<'_, '_> {
    type Value = Option<String>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Option<String>, D::Error> {
        d.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for WantedKey<'_, '_> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }

    fn visit_str<E: de::Error>(self, name: &str) -> Result<Option<String>, E> {
        if let Some(keys) = self.keys {
            keys.note(name);
        }
        Ok(match self.fields {
            Some(fields) => fields.contains(name).then(|| name.to_owned()),
            None => Some(name.to_owned()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keeps_only_the_wanted_fields() {
        let fields = FieldSet::new(["eventName", "userIdentity", "x\"y"]);
        let text = br#"{"eventName":"A","requestParameters":{"big":[1,2,{"c":"d"}]},"userIdentity":{"type":"Root"},"x\"y":1}"#;
        let v = parse_projected(text, Some(&fields)).unwrap();
        assert_eq!(
            v,
            json!({"eventName": "A", "userIdentity": {"type": "Root"}, "x\"y": 1})
        );
    }

    #[test]
    fn skipped_fields_are_still_validated() {
        let fields = FieldSet::new(["eventName"]);
        for bad in [
            &br#"{"eventName":"A","requestParameters":{"a":tru}}"#[..],
            br#"{"eventName":"A","r":"\q"}"#,
            br#"{"eventName":"A","r":1} x"#,
        ] {
            assert!(
                parse_projected(bad, Some(&fields)).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn non_objects_and_no_projection_parse_whole() {
        let fields = FieldSet::new(["a"]);
        assert_eq!(parse_projected(b"[1]", Some(&fields)).unwrap(), json!([1]));
        assert_eq!(
            parse_projected(br#"{"a":1,"b":2}"#, None).unwrap(),
            json!({"a":1,"b":2})
        );
    }
}
