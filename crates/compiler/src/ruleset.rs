//! The compiled, immutable rule set and its index.
//!
//! Rules that require a literal eventName (or, failing that, eventSource)
//! are filed under it, so an event is only tested against the rules that can
//! match it, plus the rules that require neither. A thousand rules about
//! other services cost an event two hash look-ups.

use crate::actions::CompiledAction;
use crate::actions::CompiledAction::{Set, SetPriority};
use crate::condition::{Cond, Matcher, Ordering, Scalar};
use crate::term::Scope;
use ctrules_core::enrichment::{RULES_FIELD, TAGS_FIELD, VERSION_FIELD};
use ctrules_core::path::Members;
use ctrules_core::{Enrichment, FieldPath, FieldSet};
use ctrules_lang::ast::Priority;
use serde_json::Value;
use std::collections::BTreeSet;
use std::collections::HashMap;
use std::sync::Arc;

/// The index's maps, keyed by event names and sources: hashed with
/// foldhash, not SipHash, as every record looks up two of them.
type Index = HashMap<Box<str>, Vec<u32>, foldhash::fast::RandomState>;

/// What a rule is, for reports and alerts.
#[derive(Debug, Clone)]
pub struct RuleInfo {
    pub id: Arc<str>,
    pub description: Option<String>,
    pub severity: Option<Priority>,
    pub tags: Vec<String>,
    /// MITRE ATT&CK technique ids (`T1098.001`), from `technique` lines.
    pub techniques: Vec<String>,
    /// Where the rule comes from (URLs), from `reference` lines.
    pub references: Vec<String>,
    /// The title of the rule's alerts, from `title "..."`; None: the default.
    pub title: Option<crate::template::Template>,
    /// The dedup key of the rule's alerts (after the rule id), from `dedup "..."`.
    pub dedup: Option<crate::template::Template>,
    /// The window grouping the rule's alerts, from `dedup_window 30m`;
    /// None: the run's `--alert-window`.
    pub dedup_window: Option<std::time::Duration>,
    /// The rules file and 1-based line where the rule starts.
    pub file: String,
    pub line: usize,
}

#[derive(Debug, Clone)]
pub struct CompiledRule {
    pub info: RuleInfo,
    pub(crate) condition: Cond,
    pub(crate) actions: Vec<CompiledAction>,
}

impl CompiledRule {
    /// Tests the rule's condition alone.
    pub fn matches(&self, record: &Value) -> bool {
        self.condition.eval(&Scope::new(record))
    }
}

/// Scratch space for evaluating records, reused from one record to the next.
#[derive(Debug, Default)]
pub struct Evaluation {
    pub enrichment: Enrichment,
    /// Indexes (into [`RuleSet::rules`]) of the rules that matched, in order.
    pub matched: Vec<usize>,
    candidates: Vec<u32>,
}

#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<CompiledRule>,
    /// Rules filed under neither eventName nor eventSource.
    always: Vec<u32>,
    by_name: Index,
    by_source: Index,
    /// The top-level fields evaluation reads or writes: all a reader needs to parse.
    record_fields: FieldSet,
    version: String,
}

/// What a rule requires of a field, for the index.
enum Requirement {
    None,
    OneOf(Vec<Box<str>>),
}

impl RuleSet {
    /// `fields_read`: the top-level fields the rules' terms read.
    pub(crate) fn new(
        rules: Vec<CompiledRule>,
        mut fields_read: BTreeSet<String>,
        version: String,
    ) -> RuleSet {
        let event_name = FieldPath::keys("eventName");
        let event_source = FieldPath::keys("eventSource");
        // The index reads these; the writer must see any field the rules add
        // that the record already has.
        let written = rules
            .iter()
            .flat_map(|r| &r.actions)
            .filter_map(|a| match a {
                Set { field, .. } | SetPriority { field, .. } => Some(field.to_string()),
                _ => None,
            });
        fields_read.extend(written);
        fields_read.extend(
            [
                "eventName",
                "eventSource",
                TAGS_FIELD,
                RULES_FIELD,
                VERSION_FIELD,
            ]
            .map(str::to_owned),
        );
        let mut set = RuleSet {
            rules,
            always: Vec::new(),
            by_name: Index::default(),
            by_source: Index::default(),
            record_fields: FieldSet::new(fields_read),
            version,
        };
        for (i, rule) in set.rules.iter().enumerate() {
            let i = i as u32;
            if let Requirement::OneOf(names) = requirement(&rule.condition, &event_name) {
                for n in names {
                    set.by_name.entry(n).or_default().push(i);
                }
            } else if let Requirement::OneOf(sources) = requirement(&rule.condition, &event_source)
            {
                for s in sources {
                    set.by_source.entry(s).or_default().push(i);
                }
            } else {
                set.always.push(i);
            }
        }
        set
    }

    pub fn rules(&self) -> &[CompiledRule] {
        &self.rules
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The top-level fields of a record that evaluating and writing it need:
    /// a reader may leave the others unparsed.
    pub fn record_fields(&self) -> &FieldSet {
        &self.record_fields
    }

    /// This rule set without the rules whose ids are in `ids` (turned off
    /// by the user), under a version that says so. The fields read stay
    /// those of the whole set: reading one too many costs little.
    pub fn without(self, ids: &[String]) -> RuleSet {
        if ids.is_empty() {
            return self;
        }
        let mut off: Vec<&str> = ids.iter().map(String::as_str).collect();
        off.sort_unstable();
        off.dedup();
        let mut hash: u64 = 0xcbf29ce484222325;
        for b in self.version.bytes().chain(off.join("\0").bytes()) {
            hash ^= b as u64;
            hash = hash.wrapping_mul(0x100000001b3);
        }
        let fields: BTreeSet<String> = self.record_fields.names().map(str::to_owned).collect();
        let kept = self
            .rules
            .into_iter()
            .filter(|r| !off.contains(&r.info.id.as_ref()))
            .collect();
        RuleSet::new(kept, fields, format!("{hash:016x}")[..12].to_string())
    }

    /// A short fingerprint of the rules' text: names the version in reports.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// How many rules are indexed by eventName, by eventSource, and not at all.
    pub fn index_stats(&self) -> (usize, usize, usize) {
        let named: usize = self.by_name.values().map(Vec::len).sum();
        let sourced: usize = self.by_source.values().map(Vec::len).sum();
        (named, sourced, self.always.len())
    }

    /// Evaluates every rule that can match `record`, in load order, leaving
    /// the result in `eval.enrichment` and `eval.matched`.
    pub fn evaluate(&self, record: &dyn Members, eval: &mut Evaluation) {
        eval.enrichment.clear();
        eval.matched.clear();
        eval.candidates.clear();
        eval.candidates.extend_from_slice(&self.always);
        if let Some(Value::String(name)) = record.member("eventName") {
            if let Some(rules) = self.by_name.get(name.as_str()) {
                eval.candidates.extend_from_slice(rules);
            }
        }
        if let Some(Value::String(source)) = record.member("eventSource") {
            if let Some(rules) = self.by_source.get(source.as_str()) {
                eval.candidates.extend_from_slice(rules);
            }
        }
        // A rule sits in one bucket only, so sorting restores load order without repeats.
        eval.candidates.sort_unstable();
        let scope = Scope::new(record);
        for &i in &eval.candidates {
            let rule = &self.rules[i as usize];
            if rule.condition.eval(&scope) {
                eval.matched.push(i as usize);
                eval.enrichment.rules.push(rule.info.id.clone());
                for action in &rule.actions {
                    action.apply(&scope, &mut eval.enrichment);
                }
            }
        }
    }
}

/// The literal values `field` must have for `cond` to hold, when there is such a list.
fn requirement(cond: &Cond, field: &FieldPath) -> Requirement {
    match cond {
        Cond::Test { path, matcher, .. } if path.as_field() == Some(field) => match matcher {
            Matcher::Compare(Ordering::Eq, Scalar::Str(t)) if !t.fold => {
                Requirement::OneOf(vec![t.text.clone()])
            }
            Matcher::In(set)
                if set.folded.is_empty() && set.numbers.is_empty() && set.bools.is_empty() =>
            {
                let mut values: Vec<Box<str>> = set.exact.iter().cloned().collect();
                values.sort();
                Requirement::OneOf(values)
            }
            _ => Requirement::None,
        },
        Cond::Const(false) => Requirement::OneOf(Vec::new()),
        Cond::And(parts) => {
            // The tightest requirement of any conjunct.
            let mut best: Option<Vec<Box<str>>> = None;
            for p in parts.iter() {
                if let Requirement::OneOf(v) = requirement(p, field) {
                    if best.as_ref().is_none_or(|b| v.len() < b.len()) {
                        best = Some(v);
                    }
                }
            }
            best.map_or(Requirement::None, Requirement::OneOf)
        }
        Cond::Or(parts) => {
            let mut all = Vec::new();
            for p in parts.iter() {
                match requirement(p, field) {
                    Requirement::OneOf(v) => all.extend(v),
                    Requirement::None => return Requirement::None,
                }
            }
            all.sort();
            all.dedup();
            Requirement::OneOf(all)
        }
        _ => Requirement::None,
    }
}
