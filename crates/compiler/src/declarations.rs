//! Loading what rules files declare beyond rules: lists read from files,
//! keyed tables, schedules and calendars.
//!
//! Runs once, between collecting names and lowering rules, so every file is
//! read and every time zone checked before any rule uses them. A problem is
//! a diagnostic at the declaration (the path, zone or entry as written), with
//! the table file and line in its message.

use crate::codes::*;
use crate::term::{KeyedCalendars, Rows};
use ctrules_context::tables::{self, KeyedTable, Table, TableError};
use ctrules_context::time::{self, Calendar, Schedule, SpecError, Tz};
use ctrules_lang::ast::{
    CalendarDef, FileSource, ListBody, ListDef, ScheduleDef, Spanned, TableDef,
};
use ctrules_lang::{Diagnostic, Source, Span};
use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// A member of a list read from a file, with the line it came from.
#[derive(Debug, Clone)]
pub struct FileItem {
    pub value: String,
    pub line: usize,
}

/// The members of a list read from a file.
#[derive(Debug, Clone)]
pub struct FileList {
    pub path: String,
    pub items: Vec<FileItem>,
}

/// Everything declared and loaded, by name.
#[derive(Default)]
pub struct Declared {
    pub file_lists: HashMap<String, FileList>,
    pub tables: HashMap<String, Arc<Rows>>,
    pub schedules: HashMap<String, Arc<Schedule>>,
    pub calendars: HashMap<String, Arc<Calendar>>,
    pub keyed_calendars: HashMap<String, Arc<KeyedCalendars>>,
}

/// Loads declarations; `rules_root` confines table paths (None: each rules
/// file's own directory).
pub struct Loader<'d> {
    pub rules_root: Option<&'d Path>,
    /// Several rules directories loaded together: each file's table paths
    /// stay inside the one that holds it.
    pub rules_roots: &'d [PathBuf],
    /// Rows given in place of a file, by declared name (rule tests).
    pub table_rows: &'d HashMap<String, Vec<serde_json::Map<String, Value>>>,
    pub diagnostics: &'d mut Vec<Diagnostic>,
    pub declared: Declared,
    /// The files declarations read (tables, lists, calendars), in order,
    /// each once: what the rules version covers besides the rules files,
    /// and what a reloading runner watches.
    pub files_read: Vec<PathBuf>,
}

impl Loader<'_> {
    pub fn list(&mut self, source: &Source, def: &ListDef) {
        let ListBody::File(file) = &def.body.node else {
            return;
        };
        if let Some(key) = &file.key {
            self.diagnostics.push(
                Diagnostic::error(E_TABLE_USE, source, key.span, "a list has no key")
                    .with_label("`key` is for tables and calendars")
                    .with_help(format!(
                        "to look rows up by key, declare a table: `table {} = file \"{}\" key {}`",
                        def.name.node, file.path.node, key.node
                    )),
            );
            return;
        }
        let Some(table) = self.load(source, &def.name.node, file) else {
            return;
        };
        let column = match &file.column {
            Some(c) => {
                if let Err(e) = table.check_column(&c.node) {
                    self.table_error(source, c.span, &e);
                    return;
                }
                c.node.clone()
            }
            None => match table.columns.as_slice() {
                [only] => only.clone(),
                [] => "value".to_string(),
                many => {
                    self.diagnostics.push(
                        Diagnostic::error(
                            E_TABLE_USE,
                            source,
                            file.path.span,
                            format!(
                                "`{}` has {} columns: name the one to use",
                                file.path.node,
                                many.len()
                            ),
                        )
                        .with_label("several columns")
                        .with_help(format!(
                            "add `column \"{}\"` (the columns: {})",
                            many[0],
                            many.join(", ")
                        )),
                    );
                    return;
                }
            },
        };
        let items = table
            .rows
            .iter()
            .filter_map(|row| {
                row.text(&column).map(|value| FileItem {
                    value,
                    line: row.line,
                })
            })
            .collect();
        self.declared.file_lists.insert(
            def.name.node.clone(),
            FileList {
                path: file.path.node.clone(),
                items,
            },
        );
    }

    pub fn table(&mut self, source: &Source, def: &TableDef) {
        let Some(key) = &def.source.key else {
            self.diagnostics.push(
                Diagnostic::error(
                    E_TABLE_USE,
                    source,
                    def.source.path.span,
                    format!("table `{}` needs a key column", def.name.node),
                )
                .with_label("no `key`")
                .with_help(format!(
                    "say which column rows are found by: `table {} = file \"{}\" key user`; for a plain set of values, declare a `list`",
                    def.name.node, def.source.path.node
                )),
            );
            return;
        };
        if let Some(column) = &def.source.column {
            self.diagnostics.push(
                Diagnostic::error(
                    E_TABLE_USE,
                    source,
                    column.span,
                    "a table keeps every column",
                )
                .with_label("`column` is for lists")
                .with_help(format!(
                    "read a column after the lookup: `{}[KEY].{}`",
                    def.name.node, column.node
                )),
            );
        }
        let Some(table) = self.load(source, &def.name.node, &def.source) else {
            return;
        };
        let keyed = match KeyedTable::build(&table, &key.node, false) {
            Ok(keyed) => keyed,
            Err(e) => {
                self.table_error(source, key.span, &e);
                return;
            }
        };
        let mut rows = Rows::default();
        for k in keyed.keys() {
            let values = keyed
                .get(k)
                .iter()
                .map(|r| Value::Object(r.fields.clone()))
                .collect();
            rows.by_key.insert(k.into(), values);
        }
        self.declared
            .tables
            .insert(def.name.node.clone(), Arc::new(rows));
    }

    pub fn schedule(&mut self, source: &Source, def: &ScheduleDef) {
        let Some(zone) = self.zone(source, &def.zone) else {
            return;
        };
        match Schedule::parse(&def.spec.node.value, zone) {
            Ok(schedule) => {
                self.declared
                    .schedules
                    .insert(def.name.node.clone(), Arc::new(schedule));
            }
            Err(e) => self.spec_error(source, def.spec.span, def.spec.node.raw, &e, "schedule"),
        }
    }

    pub fn calendar(&mut self, source: &Source, def: &CalendarDef) {
        let Some(zone) = self.zone(source, &def.zone) else {
            return;
        };
        let name = def.name.node.clone();
        match &def.body.node {
            ListBody::Items(list) => {
                let mut calendar = Calendar::new(zone);
                for item in &list.items {
                    match &item.node {
                        ctrules_lang::ast::Literal::Str(s) => {
                            if let Err(e) = calendar.add(&s.value, None) {
                                self.spec_error(source, item.span, s.raw, &e, "calendar entry");
                            }
                        }
                        other => self.diagnostics.push(
                            Diagnostic::error(
                                E_TIME_SPEC,
                                source,
                                item.span,
                                format!("a calendar entry is a string, found a {}", other.kind()),
                            )
                            .with_label("not a date")
                            .with_help("write dates as \"2026-12-25\", ranges as \"2026-12-20..2027-01-04\""),
                        ),
                    }
                }
                self.declared.calendars.insert(name, Arc::new(calendar));
            }
            ListBody::File(file) => {
                if let Some(column) = &file.column {
                    self.diagnostics.push(
                        Diagnostic::error(
                            E_TABLE_USE,
                            source,
                            column.span,
                            "a calendar reads fixed columns",
                        )
                        .with_label("`column` is for lists")
                        .with_help(
                            "a calendar file has `date`, or `from` and `to`, and optionally `name`",
                        ),
                    );
                }
                let Some(table) = self.load(source, &name, file) else {
                    return;
                };
                match &file.key {
                    None => match tables::date_ranges(&table.path, &table.rows, zone) {
                        Ok(calendar) => {
                            self.declared.calendars.insert(name, Arc::new(calendar));
                        }
                        Err(e) => self.table_error(source, file.path.span, &e),
                    },
                    Some(key) => {
                        let keyed = match KeyedTable::build(&table, &key.node, false) {
                            Ok(keyed) => keyed,
                            Err(e) => return self.table_error(source, key.span, &e),
                        };
                        let mut calendars = KeyedCalendars::new();
                        for k in keyed.keys() {
                            match tables::date_ranges(&table.path, keyed.get(k), zone) {
                                Ok(calendar) => {
                                    calendars.insert(k.into(), calendar);
                                }
                                Err(e) => return self.table_error(source, file.path.span, &e),
                            }
                        }
                        self.declared
                            .keyed_calendars
                            .insert(name, Arc::new(calendars));
                    }
                }
            }
        }
    }

    fn load(&mut self, source: &Source, name: &str, file: &FileSource) -> Option<Table> {
        if let Some(rows) = self.table_rows.get(name) {
            return Some(given_rows(name, rows));
        }
        let declaring = Path::new(source.name());
        let root = self
            .rules_root
            .or_else(|| {
                self.rules_roots
                    .iter()
                    .find(|r| declaring.starts_with(r))
                    .map(PathBuf::as_path)
            })
            .unwrap_or_else(|| tables::directory_of(declaring));
        let loaded = tables::resolve_path(root, declaring, &file.path.node).and_then(|path| {
            if !self.files_read.contains(&path) {
                self.files_read.push(path.clone());
            }
            tables::load(&path)
        });
        match loaded {
            Ok(table) => Some(table),
            Err(e) => {
                self.table_error(source, file.path.span, &e);
                None
            }
        }
    }

    fn table_error(&mut self, source: &Source, span: Span, error: &TableError) {
        let place = match error.line {
            Some(line) => format!("{}:{line}", error.path.display()),
            None => error.path.display().to_string(),
        };
        self.diagnostics.push(
            Diagnostic::error(
                E_TABLE,
                source,
                span,
                format!("cannot load `{place}`: {}", error.message),
            )
            .with_label("this table")
            .with_help("table files are CSV with a header row, JSON, or text with one value per line; paths are relative to the rules file and stay inside the rules directory"),
        );
    }

    fn zone(&mut self, source: &Source, zone: &Spanned<String>) -> Option<Tz> {
        match time::parse_zone(&zone.node) {
            Ok(tz) => Some(tz),
            Err(e) => {
                self.diagnostics.push(zone_error(source, zone.span, &e));
                None
            }
        }
    }

    /// A schedule or calendar mistake, pointed at inside the string when the
    /// string was written without escapes (offsets then match the source).
    fn spec_error(&mut self, source: &Source, span: Span, raw: bool, e: &SpecError, what: &str) {
        let text = &source.text()[span.start..span.end];
        let quote = text.find('"').map_or(0, |q| q + 1);
        let escaped = !raw && text.contains('\\');
        let inner = if escaped || quote == 0 {
            span
        } else {
            let start = (span.start + quote + e.offset).min(span.end);
            Span::new(start, (start + e.len.max(1)).min(span.end))
        };
        self.diagnostics.push(
            Diagnostic::error(E_TIME_SPEC, source, inner, format!("invalid {what}: {}", e.message))
                .with_label("here")
                .with_help(if what == "schedule" {
                    "write days and hours: \"Mon-Fri 09:00-18:00\", several windows separated by commas"
                } else {
                    "write dates as \"2026-12-25\", ranges as \"2026-12-20..2027-01-04\", windows as \"2026-11-21T14:00..2026-11-21T16:00\""
                }),
        );
    }
}

/// A table of rows given outright (by a rule test) rather than read from a file.
fn given_rows(name: &str, rows: &[serde_json::Map<String, Value>]) -> Table {
    let mut columns: Vec<String> = Vec::new();
    for row in rows {
        for key in row.keys() {
            if !columns.contains(key) {
                columns.push(key.clone());
            }
        }
    }
    Table {
        path: format!("rows given for `{name}`").into(),
        columns,
        rows: rows
            .iter()
            .enumerate()
            .map(|(i, fields)| tables::Row {
                line: i + 1,
                fields: fields.clone(),
            })
            .collect(),
    }
}

/// An unknown time zone, with the closest name.
pub fn zone_error(source: &Source, span: Span, e: &time::UnknownZone) -> Diagnostic {
    let diag = Diagnostic::error(
        E_ZONE,
        source,
        span,
        format!("unknown time zone `{}`", e.name),
    )
    .with_label("not an IANA time zone");
    match &e.suggestion {
        Some(s) if e.abbreviation => diag
            .with_note(format!(
                "`{}` is an abbreviation or a fixed offset: it ignores daylight saving time",
                e.name
            ))
            .with_help(format!(
                "name the place, whose zone follows daylight saving: `{s}`"
            )),
        Some(s) => diag.with_help(format!("did you mean `{s}`?")),
        None => diag.with_help(
            "use an IANA name such as \"America/New_York\", \"Europe/London\" or \"UTC\"",
        ),
    }
}
