//! A record whose fields are parsed when first looked up.
//!
//! The scanner has validated the record and noted where each top-level
//! member is; a rule that tests `eventName` then parses `eventName` and no
//! more. What no evaluated condition reaches (most of `requestParameters`,
//! `responseElements`, and whatever only other events' rules read) stays
//! text. Only the fields of the reader's [`FieldSet`] are ever parsed, as
//! when a record is parsed all at once.

use super::validate::Member;
use super::FieldSet;
use crate::path::Members;
use serde_json::{Map, Value};
use std::cell::{Cell, OnceCell};

pub struct LazyRecord<'a> {
    bytes: &'a [u8],
    members: &'a [Member],
    fields: &'a FieldSet,
    /// Each member's key as a [`Tag`], side by side: rules look fields up
    /// many times per record, and most keys are told apart without reading
    /// their bytes again.
    tags: Vec<Tag>,
    /// What is known of each member, by its index.
    entries: Vec<Entry>,
    /// The fields of `fields` as one object, for paths that start at the
    /// record itself.
    whole: OnceCell<Value>,
}

/// One member of the record.
struct Entry {
    /// Whether it is a field of the set, once looked up.
    wanted: Cell<Option<bool>>,
    /// Its value once parsed (None: serde refused it, which
    /// [`LazyRecord::parse_all`] rules out before the record is used).
    value: OnceCell<Option<Value>>,
}

impl<'a> LazyRecord<'a> {
    /// `bytes` is a record the scanner vouched for (and valid UTF-8), and
    /// `members` its top-level members.
    pub(super) fn new(bytes: &'a [u8], members: &'a [Member], fields: &'a FieldSet) -> Self {
        LazyRecord {
            bytes,
            members,
            fields,
            tags: members
                .iter()
                .map(|m| Tag::of(&bytes[m.key.clone()]))
                .collect(),
            entries: members
                .iter()
                .map(|_| Entry {
                    wanted: Cell::new(None),
                    value: OnceCell::new(),
                })
                .collect(),
            whole: OnceCell::new(),
        }
    }

    /// Parses every field of the set now: false when serde refuses one
    /// (the record is then read the slow way, where the error is named).
    pub(super) fn parse_all(&self) -> bool {
        (0..self.members.len())
            .filter(|&i| self.wanted(i))
            .all(|i| self.value(i).is_some())
    }

    fn key(&self, i: usize) -> &'a [u8] {
        &self.bytes[self.members[i].key.clone()]
    }

    /// Whether member `i` is a field of the set, looked up once.
    fn wanted(&self, i: usize) -> bool {
        let entry = &self.entries[i];
        match entry.wanted.get() {
            Some(known) => known,
            None => {
                let wanted = self.fields.contains_bytes(self.key(i));
                entry.wanted.set(Some(wanted));
                wanted
            }
        }
    }

    /// The member `key` (the last of that name, as serde keeps), when it is
    /// a field of the set.
    fn index(&self, key: &str) -> Option<usize> {
        let key = key.as_bytes();
        let want = Tag::of(key);
        let mut from = self.tags.len();
        loop {
            let i = self.tags[..from].iter().rposition(|t| *t == want)?;
            // The tag holds the length modulo 256: compare it whole.
            let same_length = self.members[i].key.len() == key.len();
            if same_length && (want.is_whole(key) || self.key(i) == key) {
                return self.wanted(i).then_some(i);
            }
            from = i;
        }
    }

    fn value(&self, i: usize) -> Option<&Value> {
        self.entries[i]
            .value
            .get_or_init(|| serde_json::from_slice(&self.bytes[self.members[i].value.clone()]).ok())
            .as_ref()
    }
}

/// A key's length (modulo 256) and first [`Tag::HELD`] bytes: keys with
/// different tags differ, and keys of equal length no longer than that are
/// equal when their tags are.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Tag(u64, u64);

impl Tag {
    const HELD: usize = 15;

    #[inline]
    fn of(key: &[u8]) -> Tag {
        let mut head = [0u8; 16];
        let n = key.len().min(Self::HELD);
        head[..n].copy_from_slice(&key[..n]);
        head[Self::HELD] = key.len() as u8;
        let (low, high) = head.split_at(8);
        Tag(
            u64::from_le_bytes(low.try_into().expect("8 bytes")),
            u64::from_le_bytes(high.try_into().expect("8 bytes")),
        )
    }

    /// Whether the tag holds all of `key`.
    fn is_whole(self, key: &[u8]) -> bool {
        key.len() <= Self::HELD
    }
}

impl Members for LazyRecord<'_> {
    fn member(&self, key: &str) -> Option<&Value> {
        self.value(self.index(key)?)
    }

    fn whole(&self) -> Option<&Value> {
        Some(self.whole.get_or_init(|| {
            let mut object = Map::new();
            for i in 0..self.members.len() {
                if self.wanted(i) {
                    let key = self.key(i);
                    if let (Ok(key), Some(value)) = (std::str::from_utf8(key), self.value(i)) {
                        object.insert(key.to_owned(), value.clone());
                    }
                }
            }
            Value::Object(object)
        }))
    }

    fn member_text(&self, key: &str) -> Option<&[u8]> {
        let i = self.index(key)?;
        Some(&self.bytes[self.members[i].value.clone()])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reader::validate::{scan, Scan};

    fn record(text: &[u8], fields: &[&str], test: impl FnOnce(&LazyRecord<'_>)) {
        let mut members = Vec::new();
        assert!(matches!(scan(text, &mut members), Scan::Valid { .. }));
        let fields = FieldSet::new(fields);
        test(&LazyRecord::new(text, &members, &fields));
    }

    #[test]
    fn looks_up_fields_of_the_set_and_keeps_the_last_of_a_name() {
        let text = br#"{"eventName":"A","a":1,"requestParameters":{"x":[1]},"requestParameterz":2,"eventName":"B","abcdefghijklmnopq":3,"abcdefghijklmnopr":4}"#;
        record(
            text,
            &[
                "eventName",
                "requestParameters",
                "requestParameterz",
                "abcdefghijklmnopq",
            ],
            |r| {
                assert_eq!(r.member("eventName"), Some(&Value::from("B")));
                assert_eq!(r.member("a"), None, "not a field of the set");
                assert_eq!(r.member("requestParameterz"), Some(&Value::from(2)));
                assert_eq!(
                    r.member("requestParameters"),
                    Some(&serde_json::json!({"x": [1]}))
                );
                // Long keys with the same tag, told apart by their bytes.
                assert_eq!(r.member("abcdefghijklmnopq"), Some(&Value::from(3)));
                assert_eq!(r.member("abcdefghijklmnopr"), None);
                assert_eq!(r.member("missing"), None);
                assert_eq!(
                    r.member_text("requestParameters"),
                    Some(&br#"{"x":[1]}"#[..])
                );
                assert_eq!(
                    r.whole(),
                    Some(&serde_json::json!({
                        "eventName": "B", "requestParameters": {"x": [1]},
                        "requestParameterz": 2, "abcdefghijklmnopq": 3
                    }))
                );
            },
        );
    }

    #[test]
    fn a_field_serde_refuses_fails_parse_all() {
        record(br#"{"a":1e400,"b":1}"#, &["b"], |r| assert!(r.parse_all()));
        record(br#"{"a":1e400,"b":1}"#, &["a", "b"], |r| {
            assert!(!r.parse_all())
        });
        record(br#"{"a":"\udc00"}"#, &["a"], |r| assert!(!r.parse_all()));
    }
}
