//! What the rules decided for one record.

use serde_json::Value;
use std::sync::Arc;

use crate::path::FieldPath;

/// The result of evaluating every rule against one record. Order is
/// significant and deterministic: fields appear in the order rules first set
/// them, rules in the order they matched.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Enrichment {
    /// Top-level fields to add (`set`), final values.
    pub fields: Vec<(Arc<str>, Value)>,
    /// Fields AWS wrote that a rule replaces (`overwrite`).
    pub overwrites: Vec<(FieldPath, Value)>,
    /// Tags added by `tag`, without repeats, written as `xtags`.
    pub tags: Vec<Arc<str>>,
    /// Ids of the rules that matched, written as `xrules`.
    pub rules: Vec<Arc<str>>,
    /// A rule said `drop`.
    pub drop: bool,
}

/// The field that holds tags added by rules.
pub const TAGS_FIELD: &str = "xtags";
/// The field that lists the ids of the rules that matched.
pub const RULES_FIELD: &str = "xrules";
/// The field that names the rules version (`--add-fields version`).
pub const VERSION_FIELD: &str = "xrulesversion";

impl Enrichment {
    pub fn clear(&mut self) {
        self.fields.clear();
        self.overwrites.clear();
        self.tags.clear();
        self.rules.clear();
        self.drop = false;
    }

    /// True when nothing is added or changed.
    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
            && self.overwrites.is_empty()
            && self.tags.is_empty()
            && self.rules.is_empty()
    }

    /// The slot for a field, created empty (null) on first use.
    pub fn field_mut(&mut self, name: &Arc<str>) -> &mut Value {
        let i = match self.fields.iter().position(|(n, _)| n == name) {
            Some(i) => i,
            None => {
                self.fields.push((name.clone(), Value::Null));
                self.fields.len() - 1
            }
        };
        &mut self.fields[i].1
    }

    pub fn field(&self, name: &str) -> Option<&Value> {
        self.fields
            .iter()
            .find(|(n, _)| &**n == name)
            .map(|(_, v)| v)
    }

    pub fn add_tag(&mut self, tag: &Arc<str>) {
        if !self.tags.contains(tag) {
            self.tags.push(tag.clone());
        }
    }

    /// Every top-level field this enrichment writes, borrowed, in output
    /// order: what the writer serializes for each enriched record.
    pub fn output_field_refs(&self) -> impl Iterator<Item = (&str, OutputValue<'_>)> + '_ {
        let tags =
            (!self.tags.is_empty()).then_some((TAGS_FIELD, OutputValue::Strings(&self.tags)));
        let rules =
            (!self.rules.is_empty()).then_some((RULES_FIELD, OutputValue::Strings(&self.rules)));
        self.fields
            .iter()
            .filter(|(_, v)| !v.is_null())
            .map(|(n, v)| (&**n, OutputValue::Json(v)))
            .chain(tags)
            .chain(rules)
    }

    /// Every top-level field this enrichment writes, with an owned value, in output order.
    pub fn output_fields(&self) -> impl Iterator<Item = (&str, Value)> + '_ {
        self.output_field_refs().map(|(n, v)| (n, v.to_value()))
    }
}

/// The value of an output field, borrowed from the [`Enrichment`].
#[derive(Debug, Clone, Copy)]
pub enum OutputValue<'a> {
    Json(&'a Value),
    /// `xtags`, `xrules`: an array of strings.
    Strings(&'a [Arc<str>]),
}

impl OutputValue<'_> {
    pub fn to_value(self) -> Value {
        match self {
            OutputValue::Json(v) => v.clone(),
            OutputValue::Strings(items) => {
                Value::Array(items.iter().map(|t| Value::String(t.to_string())).collect())
            }
        }
    }
}

impl serde::Serialize for OutputValue<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            OutputValue::Json(v) => v.serialize(serializer),
            OutputValue::Strings(items) => serializer.collect_seq(items.iter().map(|t| &**t)),
        }
    }
}
