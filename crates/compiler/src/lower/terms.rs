//! Lowering terms: event fields, the actor, function calls, table and
//! calendar lookups, and `within` a schedule or calendar. Split from the
//! rest of lowering because it is where rules meet the enrichment context
//! (crates/context).

use super::*;

impl<'a> Lowerer<'a, '_> {
    /// `eventTime within office_hours`, `within holidays`, `within
    /// vacations[actor.user]`; None when the operand is not a schedule or
    /// calendar (then it is a list of networks).
    pub(super) fn within_time(
        &mut self,
        source: &'a Source,
        path: &Term,
        all: bool,
        rhs: &'a Spanned<Operand>,
    ) -> Option<Cond> {
        let declared = self.env.declared;
        let test = |matcher| Cond::Test {
            path: path.clone(),
            all,
            matcher,
        };
        match &rhs.node {
            Operand::Term(ast::Term::Path(p)) if p.is_single_field() => {
                let name = p.root();
                if let Some((def, _)) = self.symbols.schedules.get(name) {
                    self.used.insert(def.name.node.as_str());
                    // A schedule that failed to load was reported.
                    return Some(match declared.schedules.get(name) {
                        Some(schedule) => test(Matcher::Schedule(Shared(schedule.clone()))),
                        None => Cond::Const(false),
                    });
                }
                if let Some((def, _)) = self.symbols.calendars.get(name) {
                    self.used.insert(def.name.node.as_str());
                    if declared.keyed_calendars.contains_key(name) {
                        return Some(
                            self.error(
                                Diagnostic::error(
                                    E_TABLE_USE,
                                    source,
                                    rhs.span,
                                    format!("calendar `{name}` has one calendar per key"),
                                )
                                .with_label("a keyed calendar")
                                .with_help(format!(
                                    "say whose calendar: `within {name}[actor.user]`"
                                )),
                            ),
                        );
                    }
                    // A calendar whose file failed to load was reported.
                    return Some(match declared.calendars.get(name) {
                        Some(calendar) => test(Matcher::Calendar(Shared(calendar.clone()))),
                        None => Cond::Const(false),
                    });
                }
                None
            }
            Operand::Term(ast::Term::Lookup(lookup)) => {
                let name = lookup.table.node.as_str();
                if let Some((def, _)) = self.symbols.calendars.get(name) {
                    self.used.insert(def.name.node.as_str());
                    let Some(calendars) = declared.keyed_calendars.get(name) else {
                        if declared.calendars.contains_key(name) {
                            return Some(self.error(
                                Diagnostic::error(E_TABLE_USE, source, lookup.table.span, format!("calendar `{name}` has no key"))
                                    .with_label("one calendar for everyone")
                                    .with_help(format!("write `within {name}`, or declare it with `key COLUMN` to keep one calendar per key")),
                            ));
                        }
                        return Some(Cond::Const(false));
                    };
                    let key = self.value(source, &lookup.key)?;
                    return Some(Cond::WithinKeyed {
                        time: path.clone(),
                        all,
                        calendars: Shared(calendars.clone()),
                        key,
                    });
                }
                Some(self.error(
                    Diagnostic::error(E_TABLE_USE, source, rhs.span, "`within` takes networks, a schedule or a calendar")
                        .with_label("not a calendar")
                        .with_help("write `within vacations[actor.user]` with a calendar declared as `calendar vacations = file \"...\" key user zone \"...\"`"),
                ))
            }
            _ => None,
        }
    }

    /// A declared name used where its kind does not fit.
    pub(super) fn wrong_kind(
        &mut self,
        source: &Source,
        span: Span,
        name: &str,
        op: &Spanned<Op>,
    ) -> Cond {
        let definition = self.symbols.find(name);
        // Misused is reported; "never used" on top would be noise.
        if let Some(def) = definition {
            self.used.insert(def.name);
        }
        let kind = definition.map_or("name", |d| d.kind);
        let help = match kind {
            "table" => format!("a table is read by key: `{name}[KEY].COLUMN`; for a set of values, declare a `list`"),
            "schedule" | "calendar" => format!("test an instant against it: `eventTime within {name}`"),
            _ => format!("`{}` takes a list", op.node.as_str()),
        };
        self.error(
            Diagnostic::error(E_TABLE_USE, source, span, format!("`{name}` is a {kind}"))
                .with_label(format!("a {kind}"))
                .with_help(help),
        )
    }

    /// A value: a literal, or a term.
    fn value(&mut self, source: &'a Source, value: &'a Spanned<ast::Value>) -> Option<Term> {
        match &value.node {
            ast::Value::Literal(lit) => Some(Term::Const(crate::actions::literal_value(lit))),
            ast::Value::Term(t) => self.term(source, t, value.span),
        }
    }

    /// Compiles a term; None after reporting an error.
    pub fn term(&mut self, source: &'a Source, term: &'a ast::Term, span: Span) -> Option<Term> {
        match term {
            ast::Term::Path(p) if let Some(up) = self.bound(p.root()) => Some(Term::Bound {
                up,
                path: segments_path(&p.segments[1..]),
            }),
            ast::Term::Path(p) if p.root() == ACTOR => {
                let rest = &p.segments[1..];
                self.member_warning(
                    source,
                    span,
                    "actor",
                    rest,
                    ctrules_context::actor::ACTOR_FIELDS,
                );
                self.fields_read.extend(
                    ctrules_context::actor::RECORD_FIELDS
                        .iter()
                        .map(|f| f.to_string()),
                );
                let derived = match rest.split_first() {
                    Some((ast::Segment::Field(name), tail)) => {
                        (Derived::ActorField(name.as_str().into()), tail)
                    }
                    _ => (Derived::Actor, rest),
                };
                Some(Term::Derived(Box::new(derived.0), segments_path(derived.1)))
            }
            ast::Term::Path(p) => {
                let name = p.root();
                if let Some(def) = self
                    .symbols
                    .find(name)
                    .filter(|d| d.kind != "list" && d.kind != "macro")
                {
                    let kind = def.kind;
                    let help = match kind {
                        "table" => format!("a table is read by key: `{name}[KEY].COLUMN`"),
                        _ => format!("test an instant against it: `eventTime within {name}`"),
                    };
                    self.used.insert(def.name);
                    self.diagnostics.push(
                        Diagnostic::error(
                            E_TABLE_USE,
                            source,
                            span,
                            format!("`{name}` is a {kind}, not a field"),
                        )
                        .with_label(format!("a {kind}"))
                        .with_help(help),
                    );
                    return None;
                }
                self.fields_read.insert(name.to_owned());
                Some(Term::Field(field_path(p)))
            }
            ast::Term::Call(call) => self.call(source, call, span),
            ast::Term::Lookup(lookup) => {
                let name = lookup.table.node.as_str();
                let declared = self.env.declared;
                if let Some((def, _)) = self.symbols.tables.get(name) {
                    self.used.insert(def.name.node.as_str());
                    let key = self.value(source, &lookup.key)?;
                    let rows = declared.tables.get(name)?;
                    return Some(Term::Derived(
                        Box::new(Derived::Lookup {
                            rows: Shared(rows.clone()),
                            key,
                        }),
                        segments_path(&lookup.rest),
                    ));
                }
                if let Some((def, _)) = self.symbols.calendars.get(name) {
                    self.used.insert(def.name.node.as_str());
                    let time = self.value(source, &lookup.key)?;
                    if declared.keyed_calendars.contains_key(name) {
                        self.diagnostics.push(
                            Diagnostic::error(E_TABLE_USE, source, span, format!("`{name}` holds a calendar per key"))
                                .with_label("a keyed calendar")
                                .with_help(format!("test an instant against one: `eventTime within {name}[actor.user]`")),
                        );
                        return None;
                    }
                    let calendar = declared.calendars.get(name)?;
                    self.member_warning(source, span, name, &lookup.rest, CALENDAR_ENTRY_FIELDS);
                    return Some(Term::Derived(
                        Box::new(Derived::CalendarEntry {
                            calendar: Shared(calendar.clone()),
                            time,
                        }),
                        segments_path(&lookup.rest),
                    ));
                }
                let mut diag = Diagnostic::error(
                    E_TABLE_USE,
                    source,
                    lookup.table.span,
                    format!("no table or calendar is named `{name}`"),
                )
                .with_label("unknown table");
                let candidates = self
                    .symbols
                    .tables
                    .keys()
                    .chain(self.symbols.calendars.keys())
                    .copied();
                diag = match crate::suggest::closest(name, candidates) {
                    Some(near) => {
                        self.suggested.insert(near);
                        diag.with_help(format!("did you mean `{near}`?"))
                    }
                    None => diag.with_help(format!(
                        "declare it: `table {name} = file \"lookups/{name}.csv\" key COLUMN`"
                    )),
                };
                self.diagnostics.push(diag);
                None
            }
        }
    }

    fn call(&mut self, source: &'a Source, call: &'a ast::Call, span: Span) -> Option<Term> {
        let name = call.name.node.as_str();
        let Some(function) = term::function(name) else {
            let mut diag = Diagnostic::error(
                E_FUNCTION,
                source,
                call.name.span,
                format!("unknown function `{name}`"),
            )
            .with_label("no function has this name");
            diag = match crate::suggest::closest(name, term::FUNCTIONS.iter().map(|f| f.name)) {
                Some(near) => diag.with_help(format!("did you mean `{near}`?")),
                None if self.symbols.tables.contains_key(name) => diag.with_help(format!(
                    "`{name}` is a table: read it by key with brackets, `{name}[KEY]`"
                )),
                None => diag.with_help(format!(
                    "the functions are {}",
                    term::FUNCTIONS
                        .iter()
                        .map(|f| f.name)
                        .collect::<Vec<_>>()
                        .join(", ")
                )),
            };
            self.diagnostics.push(diag);
            return None;
        };
        let arity_ok = match name {
            "geoip" | "lower" | "upper" | "json" => call.args.len() == 1,
            "mmdb" | "hour" | "minute" | "weekday" | "date" => call.args.len() == 2,
            _ => !call.args.is_empty(),
        };
        if !arity_ok {
            self.diagnostics.push(
                Diagnostic::error(
                    E_FUNCTION,
                    source,
                    span,
                    format!("`{name}` takes different arguments"),
                )
                .with_label(format!(
                    "{} argument{}",
                    call.args.len(),
                    if call.args.len() == 1 { "" } else { "s" }
                ))
                .with_help(format!("call it as `{}`: {}", function.usage, function.doc)),
            );
            return None;
        }
        let rest = segments_path(&call.rest);
        let derived = match name {
            "geoip" => {
                self.geoip_warning(source, call.name.span, None);
                self.member_warning(
                    source,
                    span,
                    "geoip(...)",
                    &call.rest,
                    ctrules_context::geoip::SUMMARY_FIELDS,
                );
                Derived::GeoIp {
                    geoip: Shared(self.env.geoip.clone()),
                    ip: self.value(source, &call.args[0])?,
                }
            }
            "mmdb" => {
                let ast::Value::Literal(Literal::Str(database)) = &call.args[0].node else {
                    self.diagnostics.push(
                        Diagnostic::error(E_FUNCTION, source, call.args[0].span, "the database type is written as a string")
                            .with_label("not a string")
                            .with_help("name the database by its type, as in its metadata: `mmdb(\"GeoIP2-City\", sourceIPAddress)`"),
                    );
                    return None;
                };
                self.geoip_warning(source, call.args[0].span, Some(&database.value));
                Derived::Mmdb {
                    geoip: Shared(self.env.geoip.clone()),
                    database: database.value.as_str().into(),
                    ip: self.value(source, &call.args[1])?,
                }
            }
            "hour" | "minute" | "weekday" | "date" => {
                let part = match name {
                    "hour" => ClockPart::Hour,
                    "minute" => ClockPart::Minute,
                    "weekday" => ClockPart::Weekday,
                    _ => ClockPart::Date,
                };
                let time = self.value(source, &call.args[0])?;
                let zone = match &call.args[1].node {
                    ast::Value::Literal(Literal::Str(zone)) => {
                        match ctrules_context::time::parse_zone(&zone.value) {
                            Ok(tz) => ZoneArg::Fixed(tz),
                            Err(e) => {
                                self.diagnostics.push(crate::declarations::zone_error(
                                    source,
                                    call.args[1].span,
                                    &e,
                                ));
                                return None;
                            }
                        }
                    }
                    ast::Value::Literal(other) => {
                        self.diagnostics.push(
                            Diagnostic::error(
                                E_FUNCTION,
                                source,
                                call.args[1].span,
                                format!("a time zone is a string, found a {}", other.kind()),
                            )
                            .with_label("not a zone")
                            .with_help("write an IANA name: \"America/New_York\""),
                        );
                        return None;
                    }
                    ast::Value::Term(_) => ZoneArg::Dynamic(self.value(source, &call.args[1])?),
                };
                Derived::Clock { part, time, zone }
            }
            "lower" => Derived::Lower(self.value(source, &call.args[0])?),
            "json" => {
                self.json_argument_warning(source, &call.args[0]);
                Derived::Json(self.value(source, &call.args[0])?)
            }
            "upper" => Derived::Upper(self.value(source, &call.args[0])?),
            _ => {
                let mut parts = Vec::with_capacity(call.args.len());
                for arg in &call.args {
                    parts.push(self.value(source, arg)?);
                }
                if name == "concat" {
                    Derived::Concat(parts)
                } else {
                    Derived::Coalesce(parts)
                }
            }
        };
        Some(Term::Derived(Box::new(derived), rest))
    }

    /// `json(FIELD)` of a field CloudTrail writes as an object, an array
    /// or a boolean, never as JSON text: W305 (`json(requestParameters)`).
    fn json_argument_warning(&mut self, source: &Source, arg: &Spanned<ast::Value>) {
        let ast::Value::Term(ast::Term::Path(p)) = &arg.node else {
            return;
        };
        if p.root().starts_with('x') || p.root() == ACTOR || self.bound_name(p.root()) {
            return;
        }
        let what = match ctrules_core::schema::shape_of(&schema_steps(p)) {
            Some(ctrules_core::schema::Shape::Object(_) | ctrules_core::schema::Shape::Open) => {
                "an object"
            }
            Some(ctrules_core::schema::Shape::Array(_)) => "an array",
            Some(ctrules_core::schema::Shape::Leaf(ctrules_core::schema::Kind::Bool)) => {
                "a boolean"
            }
            _ => return,
        };
        self.diagnostics.push(
            Diagnostic::warning(
                W_WRONG_TYPE,
                source,
                arg.span,
                format!("`json` parses text, but CloudTrail writes `{p}` as {what}"),
            )
            .with_label(format!("{what}, not JSON text"))
            .with_help(format!(
                "read into it directly (`{p}.Statement[]`); `json` is for fields that hold JSON as a string, such as `requestParameters.policyDocument`"
            )),
        );
    }

    /// GeoIP used with no database, or a database type none of them has.
    fn geoip_warning(&mut self, source: &Source, span: Span, database: Option<&str>) {
        if !self.env.geoip_configured {
            // Once for the rule set: every later use says the same.
            if std::mem::replace(&mut self.warned_no_geoip, true) {
                return;
            }
            self.diagnostics.push(
                Diagnostic::warning(W_NO_GEOIP, source, span, "no GeoIP database is configured")
                    .with_label("always without a value")
                    .with_help("pass a MaxMind database: `ctrules run --geoip GeoLite2-Country.mmdb ...` (and the same to `ctrules check`)"),
            );
            return;
        }
        let Some(database) = database else { return };
        let types: Vec<&str> = self
            .env
            .geoip
            .databases()
            .iter()
            .map(|d| d.database_type.as_str())
            .collect();
        if !types.contains(&database) {
            self.diagnostics.push(
                Diagnostic::warning(
                    W_NO_GEOIP,
                    source,
                    span,
                    format!("no configured GeoIP database has type `{database}`"),
                )
                .with_label("always without a value")
                .with_help(format!(
                    "the databases given have types: {}",
                    types.join(", ")
                )),
            );
        }
    }

    /// A field that a derived value never has: `actor.nmae`, `geoip(ip).country`.
    fn member_warning(
        &mut self,
        source: &Source,
        span: Span,
        what: &str,
        rest: &[ast::Segment],
        fields: &[(&str, &str)],
    ) {
        let Some(ast::Segment::Field(first)) = rest.first() else {
            return;
        };
        if fields.iter().any(|(f, _)| f == first) {
            return;
        }
        let help = match crate::suggest::closest(first, fields.iter().map(|(f, _)| *f)) {
            Some(near) => format!("did you mean `{near}`?"),
            None => format!(
                "{what} has: {}",
                fields
                    .iter()
                    .map(|(f, _)| *f)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        self.diagnostics.push(
            Diagnostic::warning(
                W_UNKNOWN_MEMBER,
                source,
                span,
                format!("{what} has no field `{first}`"),
            )
            .with_label("never has a value")
            .with_help(help),
        );
    }
}

/// The derived value naming who acted: `actor.name`.
pub const ACTOR: &str = "actor";

/// What `holidays[eventTime]` gives.
const CALENDAR_ENTRY_FIELDS: &[(&str, &str)] = &[
    (
        "name",
        "the entry's name, from the `name` or `reason` column",
    ),
    ("entry", "the entry as written: \"2026-12-25\""),
];
