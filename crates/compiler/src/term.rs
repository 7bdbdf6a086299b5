//! Values rules read: fields of the event, and facts derived from it.
//!
//! A [`Term`] is a field path (`userIdentity.arn`), or a derived value and a
//! path into it: the actor (`actor.name`), a GeoIP summary
//! (`geoip(sourceIPAddress).country_code`), a local clock reading
//! (`hour(eventTime, "America/New_York")`), the rows of a lookup table
//! (`users[actor.user].team`), or a string built from other terms.
//!
//! Evaluation visits every value a term reaches, as field paths do, so `[]`
//! fans out the same way everywhere. Derived values are computed from the
//! record when asked; the actor once per record ([`Scope`]), GeoIP answers once
//! per distinct address (the database's cache).

use ctrules_context::actor::Actor;
use ctrules_context::geoip::GeoIp;
use ctrules_context::time::{self, Calendar, Tz};
use ctrules_core::{FieldPath, Members};
use serde_json::Value;
use std::cell::{OnceCell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::rc::Rc;
use std::sync::Arc;

/// One record under evaluation, with what has been derived from it so far.
/// Inside `any NAME in ... (...)`, a scope of its own (on the stack, not
/// allocated) holds the element NAME stands for, and the scope around it.
pub struct Scope<'r> {
    pub record: &'r dyn Members,
    actor: OnceCell<Rc<Actor>>,
    bound: Option<(&'r Value, &'r Scope<'r>)>,
    /// `json(FIELD)` parsed once per record, however many rules read it:
    /// by the address and length of the field's text in the record (None
    /// when it is not JSON). Empty, and unallocated, until used.
    json: RefCell<Vec<ParsedJson>>,
}

/// A string of the record (its address and length) and what it parses to.
type ParsedJson = (usize, usize, Option<Rc<Value>>);

impl<'r> Scope<'r> {
    pub fn new(record: &'r dyn Members) -> Self {
        Scope {
            record,
            actor: OnceCell::new(),
            bound: None,
            json: RefCell::new(Vec::new()),
        }
    }

    /// The scope of a condition inside `any NAME in ... (...)`, with NAME
    /// standing for `element`.
    pub fn bind(&'r self, element: &'r Value) -> Scope<'r> {
        Scope {
            record: self.record,
            actor: OnceCell::new(),
            bound: Some((element, self)),
            json: RefCell::new(Vec::new()),
        }
    }

    /// The element bound `up` levels out from the innermost (0).
    pub fn element(&self, up: usize) -> Option<&Value> {
        let (element, outer) = self.bound?;
        if up == 0 {
            Some(element)
        } else {
            outer.element(up - 1)
        }
    }

    /// `text`, a string of the record itself, parsed as JSON: once per
    /// record. Only for text that lives as long as the record (a field's),
    /// since the cache knows it by its address.
    fn record_json(&self, text: &str) -> Option<Rc<Value>> {
        if let Some((_, outer)) = self.bound {
            return outer.record_json(text);
        }
        let key = (text.as_ptr() as usize, text.len());
        if let Some((_, _, parsed)) = self.json.borrow().iter().find(|(a, l, _)| (*a, *l) == key) {
            return parsed.clone();
        }
        let parsed = parse_json(text).map(Rc::new);
        self.json.borrow_mut().push((key.0, key.1, parsed.clone()));
        parsed
    }

    /// Who acted, resolved on first use (once per record, whatever the scope).
    pub fn actor(&self) -> &Actor {
        match self.bound {
            Some((_, outer)) => outer.actor(),
            None => self.actor.get_or_init(|| actor_of(self.record)),
        }
    }
}

/// Who acted in `record`: resolved once per distinct identity and thread.
/// An actor is a function of a few fields' text ([`actor::RECORD_FIELDS`],
/// with `additionalEventData` only for a console sign-in), and a trail
/// repeats identities enormously (seven records in eight, in the
/// benchmark's corpus): the text is the key, when the record has it.
///
/// [`actor::RECORD_FIELDS`]: ctrules_context::actor::RECORD_FIELDS
fn actor_of(record: &dyn Members) -> Rc<Actor> {
    thread_local! {
        static ACTORS: RefCell<ActorCache> = RefCell::default();
    }
    let resolve = || {
        Rc::new(ctrules_context::actor::resolve_from(&|key| {
            record.member(key)
        }))
    };
    let Some(identity) = record.member_text("userIdentity") else {
        return resolve();
    };
    let mut key = Vec::with_capacity(identity.len() + 32);
    key.extend_from_slice(identity);
    key.push(0);
    key.extend_from_slice(record.member_text("recipientAccountId").unwrap_or_default());
    if record.member("eventName").and_then(Value::as_str) == Some("ConsoleLogin") {
        key.push(0);
        key.extend_from_slice(record.member_text("additionalEventData").unwrap_or(b"-"));
    }
    if let Some(actor) = ACTORS.with_borrow_mut(|actors| actors.get(&key)) {
        return actor;
    }
    let actor = resolve();
    ACTORS.with_borrow_mut(|actors| actors.insert(key.into_boxed_slice(), actor.clone()));
    actor
}

/// Actors by the text they were resolved from, in two generations: when
/// the newer fills up, the older is dropped, and what was used since moved
/// to the newer. Bounded (a few MB), and the identities in use stay.
#[derive(Default)]
struct ActorCache {
    newer: HashMap<Box<[u8]>, Rc<Actor>, foldhash::fast::RandomState>,
    older: HashMap<Box<[u8]>, Rc<Actor>, foldhash::fast::RandomState>,
}

impl ActorCache {
    /// Entries per generation.
    const GENERATION: usize = 1024;

    fn get(&mut self, key: &[u8]) -> Option<Rc<Actor>> {
        if let Some(actor) = self.newer.get(key) {
            return Some(actor.clone());
        }
        let (key, actor) = self.older.remove_entry(key)?;
        self.insert(key, actor.clone());
        Some(actor)
    }

    fn insert(&mut self, key: Box<[u8]>, actor: Rc<Actor>) {
        if self.newer.len() >= Self::GENERATION {
            self.older = std::mem::take(&mut self.newer);
        }
        self.newer.insert(key, actor);
    }
}

/// Context shared by compiled rules: read-only, shared between threads.
/// Wrapped so compiled conditions stay `Debug` without printing databases.
pub struct Shared<T>(pub Arc<T>);

impl<T> Clone for Shared<T> {
    fn clone(&self) -> Self {
        Shared(self.0.clone())
    }
}

impl<T> fmt::Debug for Shared<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Shared<{}>", std::any::type_name::<T>())
    }
}

impl<T> std::ops::Deref for Shared<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Rows of a keyed table, each an object, by key (compared exactly).
#[derive(Debug, Default)]
pub struct Rows {
    pub by_key: HashMap<Box<str>, Vec<Value>>,
}

/// Calendars by key: one per user in a vacation table.
pub type KeyedCalendars = HashMap<Box<str>, Calendar>;

#[derive(Debug, Clone)]
pub enum Term {
    /// A field of the event.
    Field(FieldPath),
    /// A literal argument.
    Const(Value),
    /// A path into the element bound by an enclosing `any NAME in ...`,
    /// `up` levels out from the innermost (0).
    Bound { up: usize, path: FieldPath },
    /// A derived value, and a path into it (empty for the value itself).
    Derived(Box<Derived>, FieldPath),
}

/// What a clock function reads of a local time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockPart {
    Hour,
    Minute,
    Weekday,
    Date,
}

/// A time zone: written in the rule (checked when rules load), or read from
/// the event or a table (an unknown name then gives no value).
#[derive(Debug, Clone)]
pub enum ZoneArg {
    Fixed(Tz),
    Dynamic(Term),
}

#[derive(Debug, Clone)]
pub enum Derived {
    Actor,
    /// One field of the actor (`actor.name`): read without building the whole object.
    ActorField(Box<str>),
    GeoIp {
        geoip: Shared<GeoIp>,
        ip: Term,
    },
    /// The whole record of one database, by its type (`GeoIP2-City`).
    Mmdb {
        geoip: Shared<GeoIp>,
        database: Box<str>,
        ip: Term,
    },
    Clock {
        part: ClockPart,
        time: Term,
        zone: ZoneArg,
    },
    /// Rows of a keyed table.
    Lookup {
        rows: Shared<Rows>,
        key: Term,
    },
    /// The calendar entry an instant falls in: `holidays[eventTime].name`.
    CalendarEntry {
        calendar: Shared<Calendar>,
        time: Term,
    },
    Lower(Term),
    Upper(Term),
    /// A string parsed as JSON; no value when it is not JSON.
    Json(Term),
    /// Text of every part joined; no value if a part has none.
    Concat(Vec<Term>),
    /// The first part that has a value.
    Coalesce(Vec<Term>),
}

impl Term {
    /// Calls `found` for every value the term reaches; `found` returns false
    /// to stop. Returns false when stopped.
    pub fn visit(&self, scope: &Scope<'_>, found: &mut dyn FnMut(&Value) -> bool) -> bool {
        match self {
            Term::Field(path) => path.visit_record(scope.record, &mut |v| found(v)),
            Term::Const(v) => found(v),
            Term::Bound { up, path } => match scope.element(*up) {
                Some(element) => path.visit(element, &mut |v| found(v)),
                None => true,
            },
            Term::Derived(derived, rest) => {
                derived.produce(scope, &mut |v| rest.visit(v, &mut |x| found(x)))
            }
        }
    }

    /// The first value the term reaches.
    pub fn first(&self, scope: &Scope<'_>) -> Option<Value> {
        let mut out = None;
        self.visit(scope, &mut |v| {
            out = Some(v.clone());
            false
        });
        out
    }

    /// The text of the first value: strings as they are, numbers and
    /// booleans written out.
    pub fn first_text(&self, scope: &Scope<'_>) -> Option<String> {
        let mut out = None;
        self.visit(scope, &mut |v| {
            out = text_of(v);
            out.is_none()
        });
        out
    }

    /// True when the term is written to reach several values (`[]`). A
    /// table key with several rows is tested on each, but `set` takes the
    /// first, as one row per key is the usual table.
    pub fn fans_out(&self) -> bool {
        match self {
            Term::Field(p) => p.fans_out(),
            Term::Const(_) => false,
            Term::Bound { path, .. } => path.fans_out(),
            Term::Derived(_, rest) => rest.fans_out(),
        }
    }

    /// The field path, when the term is one.
    pub fn as_field(&self) -> Option<&FieldPath> {
        match self {
            Term::Field(p) => Some(p),
            _ => None,
        }
    }
}

/// The text of a scalar value; objects and arrays have none.
pub fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

impl Derived {
    fn produce(&self, scope: &Scope<'_>, found: &mut dyn FnMut(&Value) -> bool) -> bool {
        match self {
            Derived::Actor => found(&scope.actor().to_value()),
            Derived::ActorField(name) => match scope.actor().field(name) {
                Some(value) => found(&value),
                None => true,
            },
            Derived::GeoIp { geoip, ip } => ip.visit(scope, &mut |v| match v
                .as_str()
                .and_then(|text| geoip.lookup(text))
            {
                Some(summary) => found(&summary),
                None => true,
            }),
            Derived::Mmdb {
                geoip,
                database,
                ip,
            } => ip.visit(scope, &mut |v| match v
                .as_str()
                .and_then(|text| geoip.lookup_in(database, text))
            {
                Some(record) => found(&record),
                None => true,
            }),
            Derived::Clock { part, time, zone } => {
                let zone = match zone {
                    ZoneArg::Fixed(tz) => *tz,
                    ZoneArg::Dynamic(term) => {
                        match term
                            .first_text(scope)
                            .and_then(|name| time::parse_zone(&name).ok())
                        {
                            Some(tz) => tz,
                            None => return true,
                        }
                    }
                };
                time.visit(scope, &mut |v| {
                    let Some(instant) = v.as_str().and_then(time::parse_event_time) else {
                        return true;
                    };
                    let local = time::local_time(instant, zone);
                    let value = match part {
                        ClockPart::Hour => Value::from(local.hour),
                        ClockPart::Minute => Value::from(local.minute),
                        ClockPart::Weekday => Value::from(time::weekday_name(local.weekday)),
                        ClockPart::Date => Value::from(local.date.format("%Y-%m-%d").to_string()),
                    };
                    found(&value)
                })
            }
            Derived::Lookup { rows, key } => key.visit(scope, &mut |k| {
                let Some(text) = text_of(k) else {
                    return true;
                };
                match rows.by_key.get(text.as_str()) {
                    Some(found_rows) => found_rows.iter().all(&mut *found),
                    None => true,
                }
            }),
            Derived::CalendarEntry { calendar, time } => time.visit(scope, &mut |v| {
                let entry = v
                    .as_str()
                    .and_then(time::parse_event_time)
                    .and_then(|t| calendar.entry_at(t));
                match entry {
                    Some(entry) => found(&calendar_entry_value(entry)),
                    None => true,
                }
            }),
            Derived::Lower(inner) | Derived::Upper(inner) => {
                let upper = matches!(self, Derived::Upper(_));
                inner.visit(scope, &mut |v| match v.as_str() {
                    Some(s) if upper => found(&Value::from(s.to_uppercase())),
                    Some(s) => found(&Value::from(s.to_lowercase())),
                    None => true,
                })
            }
            Derived::Json(inner) => {
                // A field's text lives as long as the record: parsed once
                // per record. Other text (a `concat`) is parsed each time.
                let in_record = matches!(inner, Term::Field(_));
                inner.visit(scope, &mut |v| {
                    let Value::String(text) = v else {
                        return true;
                    };
                    let parsed = if in_record {
                        scope.record_json(text)
                    } else {
                        parse_json(text).map(Rc::new)
                    };
                    match parsed {
                        Some(value) => found(&value),
                        None => true,
                    }
                })
            }
            Derived::Concat(parts) => {
                let mut text = String::new();
                for part in parts {
                    match part.first_text(scope) {
                        Some(t) => text.push_str(&t),
                        None => return true,
                    }
                }
                found(&Value::String(text))
            }
            Derived::Coalesce(parts) => match parts.iter().find_map(|p| p.first(scope)) {
                Some(v) => found(&v),
                None => true,
            },
        }
    }
}

/// JSON text as a value; None for anything that is not JSON (or nests
/// deeper than serde_json's limit of 128).
fn parse_json(text: &str) -> Option<Value> {
    serde_json::from_str(text).ok()
}

/// A calendar entry as rules see it: `{"name": ..., "entry": "2026-12-25"}`.
fn calendar_entry_value(entry: &time::CalendarEntry) -> Value {
    let mut object = serde_json::Map::new();
    if let Some(name) = &entry.name {
        object.insert("name".into(), Value::from(name.as_str()));
    }
    object.insert("entry".into(), Value::from(entry.spec.as_str()));
    Value::Object(object)
}

/// A built-in function: its name, how it is called, and what it gives.
pub struct Function {
    pub name: &'static str,
    pub usage: &'static str,
    pub doc: &'static str,
}

/// Every function a rule can call (docs/language.md documents each).
pub const FUNCTIONS: &[Function] = &[
    Function {
        name: "geoip",
        usage: "geoip(ADDRESS)",
        doc: "what the GeoIP databases know of an address: .country_code, .city, .asn, ...",
    },
    Function {
        name: "mmdb",
        usage: "mmdb(\"DATABASE-TYPE\", ADDRESS)",
        doc: "the whole record of one MaxMind database, by its type",
    },
    Function {
        name: "hour",
        usage: "hour(TIME, ZONE)",
        doc: "the local hour, 0 to 23",
    },
    Function {
        name: "minute",
        usage: "minute(TIME, ZONE)",
        doc: "the local minute, 0 to 59",
    },
    Function {
        name: "weekday",
        usage: "weekday(TIME, ZONE)",
        doc: "the local day of the week: \"Mon\" to \"Sun\"",
    },
    Function {
        name: "date",
        usage: "date(TIME, ZONE)",
        doc: "the local date: \"2026-11-21\"",
    },
    Function {
        name: "lower",
        usage: "lower(TEXT)",
        doc: "the text in lower case",
    },
    Function {
        name: "upper",
        usage: "upper(TEXT)",
        doc: "the text in upper case",
    },
    Function {
        name: "json",
        usage: "json(TEXT)",
        doc: "the text parsed as JSON, with a path into it: json(requestParameters.policyDocument).Statement[]; no value if it is not JSON",
    },
    Function {
        name: "concat",
        usage: "concat(A, B, ...)",
        doc: "the texts joined; no value if one has none",
    },
    Function {
        name: "coalesce",
        usage: "coalesce(A, B, ...)",
        doc: "the first that has a value",
    },
];

pub fn function(name: &str) -> Option<&'static Function> {
    FUNCTIONS.iter().find(|f| f.name == name)
}
