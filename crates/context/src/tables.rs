//! Lookup tables loaded from files beside the rules.
//!
//! A rules file declares a table by path; the compiler resolves that path
//! with [`resolve_path`], loads it with [`load`], and builds the typed view
//! it needs once, before any record is read: [`KeyedTable`] (key → rows),
//! [`column_values`] (a set of strings), [`networks`] / [`NetworkSet`]
//! (CIDR blocks) or [`date_ranges`] (a [`Calendar`]). Every error is a
//! [`TableError`] naming the file and, where there is one, the 1-based line.
//!
//! # Paths
//!
//! A table path is relative to the directory of the rules file that
//! declares it, and must stay inside the rules root (the `--rules`
//! directory): absolute paths, `..` that climbs out of the root, and
//! symbolic links that point outside it are refused, so a rules directory
//! cannot read arbitrary files on the machine that runs it.
//!
//! # Formats, by extension
//!
//! - `.csv`: a header row naming the columns, then one row per line.
//!   Fields may be quoted (`"Doe, Jane"`); cells are trimmed, and an empty
//!   cell is an absent field. Blank lines and lines starting with `#` are
//!   skipped. Every row must have as many cells as the header.
//! - `.json`: an array of objects (columns are their keys, in order of
//!   first appearance); an object of key → object (each row gets a `key`
//!   column holding its key) or key → value (columns `key` and `value`);
//!   or an array of strings or numbers (one column, `value`). A JSON `null`
//!   is an absent field.
//! - `.txt`: one value per line (column `value`), trimmed; blank lines and
//!   lines starting with `#` are skipped.
//!
//! A UTF-8 byte-order mark at the start of a file is ignored (spreadsheet
//! programs write one). A table with no rows and no columns (an empty JSON
//! array, a `.txt` file of comments) is an empty table: any column of it
//! has no values.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::path::{Component, Path, PathBuf};

use ipnet::IpNet;
use serde::de::{Deserializer as _, MapAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::time::{Calendar, Tz};

/// A problem with a table file or with how it is used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct TableError {
    /// The table file.
    pub path: PathBuf,
    /// The 1-based line in the table file, when the problem has one.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for TableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path.display(), self.message),
            None => write!(f, "{}: {}", self.path.display(), self.message),
        }
    }
}

impl TableError {
    fn new(path: &Path, line: Option<usize>, message: impl Into<String>) -> TableError {
        TableError {
            path: path.to_path_buf(),
            line,
            message: message.into(),
        }
    }
}

// ---------------------------------------------------------------------------
// Paths
// ---------------------------------------------------------------------------

/// The directory a rules file's table paths are relative to: its own
/// (`.` for a bare file name).
pub fn directory_of(declaring_file: &Path) -> &Path {
    match declaring_file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Resolves a table path as written in `declaring_file`: relative to that
/// file's directory, and confined to `rules_root`. The result is
/// `rules_root` joined with the path inside it, so messages show paths the
/// user recognizes. The file must exist.
pub fn resolve_path(
    rules_root: &Path,
    declaring_file: &Path,
    written: &str,
) -> Result<PathBuf, TableError> {
    resolve_path_of("table", rules_root, declaring_file, written)
}

/// [`resolve_path`] for a file of another `kind` ("event", ...), named so in
/// messages: any file a rules directory names is confined the same way.
pub fn resolve_path_of(
    kind: &str,
    rules_root: &Path,
    declaring_file: &Path,
    written: &str,
) -> Result<PathBuf, TableError> {
    let dir = directory_of(declaring_file);
    let shown = dir.join(written);
    let fail = |message: String| Err(TableError::new(&shown, None, message));
    if written.trim().is_empty() {
        return fail(format!("empty {kind} path"));
    }
    let written_path = Path::new(written);
    if written_path.is_absolute() || written_path.has_root() {
        return fail(format!(
            "absolute {kind} path `{written}`: write it relative to the file that names it"
        ));
    }
    let root = match rules_root.canonicalize() {
        Ok(root) => root,
        Err(e) => {
            return Err(TableError::new(
                rules_root,
                None,
                format!("cannot open the rules directory: {e}"),
            ))
        }
    };
    let base = match dir.canonicalize() {
        Ok(base) => base,
        Err(e) => return fail(format!("cannot open the directory of the rules file: {e}")),
    };
    // Lexical first: `..` is judged on the path as written, so a path that
    // climbs out of the root is refused even if it happens to come back.
    let mut lexical = base;
    for component in written_path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !lexical.pop() || !lexical.starts_with(&root) {
                    return fail(format!(
                        "`{written}` leads outside the rules directory `{}`",
                        rules_root.display()
                    ));
                }
            }
            Component::Normal(part) => lexical.push(part),
            Component::RootDir | Component::Prefix(_) => {
                return fail(format!(
                    "absolute {kind} path `{written}`: write it relative to the file that names it"
                ))
            }
        }
    }
    let Ok(inside) = lexical.strip_prefix(&root).map(Path::to_path_buf) else {
        return fail(format!(
            "`{written}` is outside the rules directory `{}`",
            rules_root.display()
        ));
    };
    // Then the real file: a symbolic link may point anywhere.
    let real = match lexical.canonicalize() {
        Ok(real) => real,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return fail(format!("{kind} file `{written}` not found"))
        }
        Err(e) => return fail(format!("cannot open {kind} file `{written}`: {e}")),
    };
    if !real.starts_with(&root) {
        return fail(format!(
            "`{written}` is a symbolic link to `{}`, outside the rules directory `{}`",
            real.display(),
            rules_root.display()
        ));
    }
    if !real.is_file() {
        return fail(format!("`{written}` is not a file"));
    }
    Ok(rules_root.join(inside))
}

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

/// A loaded table.
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    /// The file it was read from.
    pub path: PathBuf,
    /// Column names: the CSV header, the keys of JSON objects in order of
    /// first appearance, or `value` for lists.
    pub columns: Vec<String>,
    /// The rows, in file order.
    pub rows: Vec<Row>,
}

/// One row of a table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The 1-based line where the row starts in its file.
    pub line: usize,
    /// Column → value; absent fields (empty CSV cells, JSON nulls) are not
    /// there. CSV and text cells are strings.
    pub fields: Map<String, Value>,
}

impl Row {
    /// The field as text: strings as they are, numbers and booleans as
    /// written in JSON; `None` if absent or an array or object.
    pub fn text(&self, column: &str) -> Option<String> {
        match self.fields.get(column)? {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            Value::Bool(b) => Some(b.to_string()),
            _ => None,
        }
    }
}

impl Table {
    /// Checks that `column` exists; the error lists the columns and
    /// suggests the closest. An empty table has every column, empty.
    pub fn check_column(&self, column: &str) -> Result<(), TableError> {
        if self.columns.iter().any(|c| c == column)
            || (self.columns.is_empty() && self.rows.is_empty())
        {
            return Ok(());
        }
        let listed = self
            .columns
            .iter()
            .map(|c| format!("`{c}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let mut message = format!("no column `{column}`; the columns are {listed}");
        if let Some(near) = closest(column, self.columns.iter().map(String::as_str)) {
            message.push_str(&format!("; did you mean `{near}`?"));
        }
        Err(TableError::new(&self.path, None, message))
    }
}

/// The candidate closest to `name`, if it is close enough to be a typo.
fn closest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let lower = name.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::levenshtein(&lower, &c.to_lowercase()), c))
        .filter(|(d, c)| *d <= (c.chars().count().max(name.chars().count()) / 3).max(1))
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

/// Loads a table, choosing the format by the file's extension.
pub fn load(path: &Path) -> Result<Table, TableError> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let format = match extension.as_deref() {
        Some("csv") => Format::Csv,
        Some("json") => Format::Json,
        Some("txt") => Format::Text,
        Some(other) => {
            return Err(TableError::new(
                path,
                None,
                format!("unknown table format `.{other}`: use `.csv`, `.json` or `.txt`"),
            ))
        }
        None => {
            return Err(TableError::new(
                path,
                None,
                "a table file needs an extension: `.csv`, `.json` or `.txt`",
            ))
        }
    };
    let bytes = std::fs::read(path)
        .map_err(|e| TableError::new(path, None, format!("cannot read the table: {e}")))?;
    let text = match std::str::from_utf8(&bytes) {
        Ok(text) => text,
        Err(e) => {
            let line = line_at(&bytes, e.valid_up_to());
            return Err(TableError::new(
                path,
                Some(line),
                "the table is not UTF-8 text",
            ));
        }
    };
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut table = Table {
        path: path.to_path_buf(),
        columns: Vec::new(),
        rows: Vec::new(),
    };
    match format {
        Format::Csv => read_csv(&mut table, text)?,
        Format::Json => read_json(&mut table, text)?,
        Format::Text => read_text(&mut table, text),
    }
    Ok(table)
}

enum Format {
    Csv,
    Json,
    Text,
}

/// The 1-based line of a byte offset.
fn line_at(bytes: &[u8], offset: usize) -> usize {
    let before = bytes.get(..offset).unwrap_or(bytes);
    before.iter().filter(|b| **b == b'\n').count() + 1
}

fn read_text(table: &mut Table, text: &str) {
    for (i, line) in text.lines().enumerate() {
        let value = line.trim();
        if value.is_empty() || value.starts_with('#') {
            continue;
        }
        let mut fields = Map::new();
        fields.insert("value".to_string(), Value::String(value.to_string()));
        table.rows.push(Row {
            line: i + 1,
            fields,
        });
    }
    if !table.rows.is_empty() {
        table.columns.push("value".to_string());
    }
}

fn read_csv(table: &mut Table, text: &str) -> Result<(), TableError> {
    let path = table.path.clone();
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .comment(Some(b'#'))
        .flexible(true) // so a short or long row is reported with its line
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut header_seen = false;
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map(|p| record_line(text, p.byte() as usize));
            TableError::new(&path, line, format!("cannot read the CSV: {e}"))
        })?;
        let line = record
            .position()
            .map_or(0, |p| record_line(text, p.byte() as usize));
        // A line of spaces reads as one empty cell: treat it as blank.
        if record.len() == 1 && record.get(0).is_some_and(str::is_empty) {
            continue;
        }
        if !header_seen {
            header_seen = true;
            for (i, name) in record.iter().enumerate() {
                if name.is_empty() {
                    return Err(TableError::new(
                        &path,
                        Some(line),
                        format!("column {} of the header has no name", i + 1),
                    ));
                }
                if table.columns.iter().any(|c| c == name) {
                    return Err(TableError::new(
                        &path,
                        Some(line),
                        format!("column `{name}` appears twice in the header"),
                    ));
                }
                table.columns.push(name.to_string());
            }
            continue;
        }
        if record.len() != table.columns.len() {
            return Err(TableError::new(
                &path,
                Some(line),
                format!(
                    "expected {} cells ({}), found {}",
                    table.columns.len(),
                    table.columns.join(", "),
                    record.len()
                ),
            ));
        }
        let mut fields = Map::new();
        for (column, cell) in table.columns.iter().zip(record.iter()) {
            if !cell.is_empty() {
                fields.insert(column.clone(), Value::String(cell.to_string()));
            }
        }
        table.rows.push(Row { line, fields });
    }
    if !header_seen {
        return Err(TableError::new(
            &path,
            None,
            "the CSV is empty: a header row naming the columns is required",
        ));
    }
    Ok(())
}

/// The line where a CSV record starts. The csv crate reports the end of
/// the previous record, before any line breaks and comment lines between
/// them (its own line count misses comments and CRLF), so skip those.
fn record_line(text: &str, position: usize) -> usize {
    let bytes = text.as_bytes();
    let mut at = position;
    loop {
        while matches!(bytes.get(at), Some(b'\r' | b'\n')) {
            at += 1;
        }
        if bytes.get(at) != Some(&b'#') {
            break;
        }
        match bytes
            .get(at..)
            .and_then(|rest| rest.iter().position(|b| *b == b'\n'))
        {
            Some(end) => at += end,
            None => break,
        }
    }
    line_at(bytes, at)
}

fn read_json(table: &mut Table, text: &str) -> Result<(), TableError> {
    let path = table.path.clone();
    let json_error =
        |e: serde_json::Error| TableError::new(&path, Some(e.line()), format!("invalid JSON: {e}"));
    // Rows are kept as raw slices of the input first, so each one's line
    // can be found from where it sits in the text.
    let line_of = |raw: &RawValue| {
        let offset = (raw.get().as_ptr() as usize).saturating_sub(text.as_ptr() as usize);
        line_at(text.as_bytes(), offset)
    };
    match text.trim_start().chars().next() {
        Some('[') => {
            let items: Vec<&RawValue> = serde_json::from_str(text).map_err(json_error)?;
            let mut list: Option<bool> = None;
            for raw in items {
                let line = line_of(raw);
                let value: Value = serde_json::from_str(raw.get()).map_err(json_error)?;
                let is_object = value.is_object();
                if *list.get_or_insert(!is_object) == is_object {
                    let expected = if is_object { "a string" } else { "an object" };
                    return Err(TableError::new(
                        &path,
                        Some(line),
                        format!(
                            "expected {expected} like the elements before it, found {}",
                            kind(&value)
                        ),
                    ));
                }
                let fields = match value {
                    Value::Object(map) => map,
                    scalar => {
                        let mut map = Map::new();
                        map.insert("value".to_string(), list_value(&path, line, scalar)?);
                        map
                    }
                };
                push_row(table, line, fields);
            }
        }
        Some('{') => {
            let mut de = serde_json::Deserializer::from_str(text);
            let entries = (&mut de)
                .deserialize_map(OrderedEntries)
                .and_then(|entries| de.end().map(|()| entries))
                .map_err(json_error)?;
            let mut seen = std::collections::HashSet::new();
            for (key, raw) in entries {
                let line = line_of(raw);
                if !seen.insert(key.clone()) {
                    return Err(TableError::new(
                        &path,
                        Some(line),
                        format!("key `{key}` appears twice"),
                    ));
                }
                let value: Value = serde_json::from_str(raw.get()).map_err(json_error)?;
                let mut fields = Map::new();
                fields.insert("key".to_string(), Value::String(key.clone()));
                match value {
                    Value::Object(map) => {
                        if map.contains_key("key") {
                            return Err(TableError::new(
                                &path,
                                Some(line),
                                format!(
                                    "row `{key}` has its own `key` field, which would hide \
                                     the object key; rename it, or use an array of objects"
                                ),
                            ));
                        }
                        fields.extend(map);
                    }
                    Value::Null => {}
                    scalar => {
                        fields.insert("value".to_string(), list_value(&path, line, scalar)?);
                    }
                }
                push_row(table, line, fields);
            }
            if !table.rows.is_empty() && !table.columns.iter().any(|c| c == "key") {
                table.columns.insert(0, "key".to_string());
            }
        }
        _ => {
            // Let serde_json describe what is there (or that nothing is).
            serde_json::from_str::<Value>(text).map_err(json_error)?;
            return Err(TableError::new(
                &path,
                Some(1),
                "expected an array of rows or an object of key → row at the top level",
            ));
        }
    }
    Ok(())
}

/// A value of a one-column list: a string, number or boolean.
fn list_value(path: &Path, line: usize, value: Value) -> Result<Value, TableError> {
    match value {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(value),
        other => Err(TableError::new(
            path,
            Some(line),
            format!("expected a string, found {}", kind(&other)),
        )),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Adds a row, dropping nulls and recording new columns in order.
fn push_row(table: &mut Table, line: usize, mut fields: Map<String, Value>) {
    fields.retain(|_, v| !v.is_null());
    for column in fields.keys() {
        if !table.columns.iter().any(|c| c == column) {
            table.columns.push(column.clone());
        }
    }
    table.rows.push(Row { line, fields });
}

/// A JSON object's entries in file order, values left raw.
struct OrderedEntries;

impl<'de> Visitor<'de> for OrderedEntries {
    type Value = Vec<(String, &'de RawValue)>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object of key → row")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(entry) = map.next_entry::<String, &'de RawValue>()? {
            entries.push(entry);
        }
        Ok(entries)
    }
}

// ---------------------------------------------------------------------------
// Typed views
// ---------------------------------------------------------------------------

/// Rows by the value of a key column. A key may have several rows (a
/// vacation table has one row per absence).
#[derive(Debug, Clone)]
pub struct KeyedTable {
    path: PathBuf,
    column: String,
    ignore_case: bool,
    rows: HashMap<String, Vec<Row>>,
}

impl KeyedTable {
    /// Indexes `table` by `key_column`. With `ignore_case`, keys are
    /// compared case-insensitively. Every row must have a key.
    pub fn build(
        table: &Table,
        key_column: &str,
        ignore_case: bool,
    ) -> Result<KeyedTable, TableError> {
        table.check_column(key_column)?;
        let mut rows: HashMap<String, Vec<Row>> = HashMap::new();
        for row in &table.rows {
            let key = row.text(key_column).ok_or_else(|| {
                let why = if row.fields.contains_key(key_column) {
                    "is not a string"
                } else {
                    "is empty"
                };
                TableError::new(
                    &table.path,
                    Some(row.line),
                    format!("the key column `{key_column}` {why}"),
                )
            })?;
            let key = if ignore_case { fold(&key) } else { key };
            rows.entry(key).or_default().push(row.clone());
        }
        Ok(KeyedTable {
            path: table.path.clone(),
            column: key_column.to_string(),
            ignore_case,
            rows,
        })
    }

    /// The rows whose key is `key`; empty if none.
    pub fn get(&self, key: &str) -> &[Row] {
        let found = if self.ignore_case {
            self.rows.get(&fold(key))
        } else {
            self.rows.get(key)
        };
        found.map_or(&[], Vec::as_slice)
    }

    /// The number of distinct keys.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The file the table came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The key column.
    pub fn key_column(&self) -> &str {
        &self.column
    }

    /// The distinct keys (folded to lower case with `ignore_case`).
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.rows.keys().map(String::as_str)
    }
}

fn fold(key: &str) -> String {
    key.to_lowercase()
}

/// The distinct values of `column`, in file order. Rows without the field
/// are skipped; an array or object value is an error.
pub fn column_values(table: &Table, column: &str) -> Result<Vec<String>, TableError> {
    let mut seen = std::collections::HashSet::new();
    let mut values = Vec::new();
    for (_, text) in column_rows(table, column)? {
        if seen.insert(text.clone()) {
            values.push(text);
        }
    }
    Ok(values)
}

/// Every value of `column` as a network: `10.0.0.0/8`, `2001:db8::/32`, or
/// a bare address (a /32 or /128). Host bits are cleared (`10.1.2.3/8` is
/// `10.0.0.0/8`).
pub fn networks(table: &Table, column: &str) -> Result<Vec<IpNet>, TableError> {
    let values = column_rows(table, column)?;
    let mut nets = Vec::with_capacity(values.len());
    for (line, text) in values {
        let net = parse_network(&text).ok_or_else(|| {
            TableError::new(
                &table.path,
                Some(line),
                format!(
                    "`{text}` is not a network such as `10.0.0.0/8` or an address such as `192.0.2.1`"
                ),
            )
        })?;
        nets.push(net);
    }
    Ok(nets)
}

/// `(line, text)` of every present value of a column.
fn column_rows(table: &Table, column: &str) -> Result<Vec<(usize, String)>, TableError> {
    table.check_column(column)?;
    let mut out = Vec::new();
    for row in &table.rows {
        let Some(value) = row.fields.get(column) else {
            continue;
        };
        let text = row.text(column).ok_or_else(|| {
            TableError::new(
                &table.path,
                Some(row.line),
                format!("`{column}` should be a string, found {}", kind(value)),
            )
        })?;
        out.push((row.line, text));
    }
    Ok(out)
}

fn parse_network(text: &str) -> Option<IpNet> {
    let text = text.trim();
    if let Ok(net) = text.parse::<IpNet>() {
        return Some(net.trunc());
    }
    text.parse::<IpAddr>().ok().map(IpNet::from)
}

/// A set of networks with a fast membership test: the networks are merged
/// into disjoint blocks and sorted, so `contains` is a binary search.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkSet {
    v4: Vec<ipnet::Ipv4Net>,
    v6: Vec<ipnet::Ipv6Net>,
}

impl NetworkSet {
    /// Builds the set.
    pub fn new(nets: &[IpNet]) -> NetworkSet {
        let mut set = NetworkSet::default();
        for net in IpNet::aggregate(&nets.to_vec()) {
            match net {
                IpNet::V4(n) => set.v4.push(n),
                IpNet::V6(n) => set.v6.push(n),
            }
        }
        set.v4.sort();
        set.v6.sort();
        set
    }

    /// Whether `ip` is in one of the networks. An IPv4-mapped IPv6 address
    /// (`::ffff:192.0.2.1`) is looked up as the IPv4 address it carries.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        // Blocks are disjoint: only the last one starting at or before the
        // address can hold it.
        match ip {
            IpAddr::V4(a) => {
                let i = self.v4.partition_point(|n| n.network() <= a);
                i.checked_sub(1)
                    .and_then(|i| self.v4.get(i))
                    .is_some_and(|n| n.contains(&a))
            }
            IpAddr::V6(a) => {
                let i = self.v6.partition_point(|n| n.network() <= a);
                i.checked_sub(1)
                    .and_then(|i| self.v6.get(i))
                    .is_some_and(|n| n.contains(&a))
            }
        }
    }

    /// The number of disjoint blocks after merging.
    pub fn len(&self) -> usize {
        self.v4.len() + self.v6.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.v4.is_empty() && self.v6.is_empty()
    }
}

/// Reads date-range rows into a [`Calendar`] in `zone`. `path` is the
/// table's file, for errors (rows may be a subset, such as the rows of one
/// key of a [`KeyedTable`]).
///
/// A row has either `from` and optionally `to` (dates such as `2026-08-03`,
/// both included, or date-times such as `2026-08-03T14:00`, end excluded;
/// `to` absent means the `from` day alone), or `date`, holding any
/// [`Calendar`] entry (`2026-12-25`, `2026-12-20..2027-01-04`). The
/// optional `name` column, or else `reason`, names the entry.
pub fn date_ranges(path: &Path, rows: &[Row], zone: Tz) -> Result<Calendar, TableError> {
    let mut calendar = Calendar::new(zone);
    for row in rows {
        let error = |column: &str, message: String| {
            TableError::new(path, Some(row.line), format!("`{column}`: {message}"))
        };
        let text_of = |column: &str| -> Result<Option<String>, TableError> {
            match row.fields.get(column) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(error(
                    column,
                    format!("expected a date string, found {}", kind(other)),
                )),
            }
        };
        let name = row.text("name").or_else(|| row.text("reason"));
        if let Some(from) = text_of("from")? {
            let to = text_of("to")?;
            if to.is_none() && matches!(from.trim().as_bytes().get(10), Some(b'T' | b't')) {
                return Err(error(
                    "to",
                    "missing: `from` is a date-time, so the row needs an end".to_string(),
                ));
            }
            let to = to.as_deref().unwrap_or(from.as_str());
            calendar
                .add_from_to(&from, to, name)
                .map_err(|(in_to, e)| {
                    let column = if in_to && row.fields.contains_key("to") {
                        "to"
                    } else {
                        "from"
                    };
                    error(column, e.message)
                })?;
        } else if let Some(date) = text_of("date")? {
            calendar
                .add(&date, name)
                .map_err(|e| error("date", e.message))?;
        } else {
            let why = if row.fields.contains_key("to") {
                "has `to` but no `from`"
            } else {
                "has no `from` or `date`"
            };
            return Err(TableError::new(
                path,
                Some(row.line),
                format!("the row {why}: each row needs a date or a range"),
            ));
        }
    }
    Ok(calendar)
}
