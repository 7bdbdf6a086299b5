//! The top-level fields of a record that a compiled rule reads.
//!
//! A rule set indexed by eventName and eventSource knows, before a record
//! is parsed, which rules can match it; with the fields each of them reads,
//! the reader parses only those (a `requestParameters` that only the rules
//! of another event read stays text). Read off the compiled rule rather
//! than noted while lowering, where macros are lowered once and shared.
//! The matches are exhaustive on purpose: a new kind of term must say what
//! it reads.

use crate::actions::{CompiledAction, ValueSource};
use crate::condition::Cond;
use crate::term::{Derived, Term, ZoneArg};
use ctrules_core::PathSegment;
use std::collections::BTreeSet;

/// Adds the names of the top-level fields `self` reads to `out`.
pub(crate) trait Reads {
    fn reads(&self, out: &mut BTreeSet<String>);
}

impl Reads for Cond {
    fn reads(&self, out: &mut BTreeSet<String>) {
        match self {
            Cond::Const(_) => {}
            Cond::And(parts) | Cond::Or(parts) => parts.iter().for_each(|p| p.reads(out)),
            Cond::Not(inner) => inner.reads(out),
            Cond::Exists(term) => term.reads(out),
            Cond::Test { path, .. } => path.reads(out),
            Cond::Fields { left, right, .. } | Cond::Text { left, right, .. } => {
                left.reads(out);
                right.reads(out);
            }
            Cond::ForEach { over, body, .. } => {
                over.reads(out);
                body.reads(out);
            }
            Cond::WithinKeyed { time, key, .. } => {
                time.reads(out);
                key.reads(out);
            }
        }
    }
}

impl Reads for Term {
    fn reads(&self, out: &mut BTreeSet<String>) {
        match self {
            Term::Field(path) => match path.segments().first() {
                Some(PathSegment::Key(name)) => {
                    out.insert(name.to_string());
                }
                // A path that does not start with a key reads the whole record.
                Some(PathSegment::Each | PathSegment::Index(_) | PathSegment::Deep) | None => {
                    out.insert(WHOLE.to_string());
                }
            },
            Term::Const(_) | Term::Bound { .. } => {}
            Term::Derived(derived, _) => derived.reads(out),
        }
    }
}

/// Stands for "every field" in a rule's set: such a rule is never narrowed.
pub(crate) const WHOLE: &str = "";

impl Reads for Derived {
    fn reads(&self, out: &mut BTreeSet<String>) {
        match self {
            Derived::Actor | Derived::ActorField(_) => out.extend(
                ctrules_context::actor::RECORD_FIELDS
                    .iter()
                    .map(|f| f.to_string()),
            ),
            Derived::GeoIp { ip, .. } | Derived::Mmdb { ip, .. } => ip.reads(out),
            Derived::Clock { time, zone, .. } => {
                time.reads(out);
                match zone {
                    ZoneArg::Fixed(_) => {}
                    ZoneArg::Dynamic(term) => term.reads(out),
                }
            }
            Derived::Lookup { key, .. } => key.reads(out),
            Derived::CalendarEntry { time, .. } => time.reads(out),
            Derived::Lower(term) | Derived::Upper(term) | Derived::Json(term) => term.reads(out),
            Derived::Concat(terms) | Derived::Coalesce(terms) => {
                terms.iter().for_each(|t| t.reads(out))
            }
        }
    }
}

impl Reads for CompiledAction {
    fn reads(&self, out: &mut BTreeSet<String>) {
        match self {
            // The field itself, for the priority the record already has.
            CompiledAction::SetPriority { field, .. } => {
                out.insert(field.to_string());
            }
            CompiledAction::Set { field, value } => {
                out.insert(field.to_string());
                value.reads(out);
            }
            CompiledAction::Overwrite { value, .. } => value.reads(out),
            CompiledAction::Tag(_) | CompiledAction::Drop => {}
        }
    }
}

impl Reads for ValueSource {
    fn reads(&self, out: &mut BTreeSet<String>) {
        match self {
            ValueSource::Const(_) => {}
            ValueSource::Term(term) => term.reads(out),
        }
    }
}
