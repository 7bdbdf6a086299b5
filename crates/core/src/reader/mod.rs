//! Reading CloudTrail log files.
//!
//! A log file arrives as bytes, gzipped or not (sniffed by magic number, not
//! by name). Its content is one of:
//! - `{"Records":[...]}`, what CloudTrail writes: streamed record by record,
//!   so a file of any size is read in bounded memory;
//! - a JSON array of records: streamed the same way;
//! - NDJSON, one record per line: a bad line is reported and the rest read;
//! - one record, or several concatenated JSON values (read whole);
//! - the output of `aws cloudtrail lookup-events` (`{"Events":[{"CloudTrailEvent":"..."}]}`).
//!
//! Digest files (CloudTrail's integrity digests) are recognised and skipped.
//! Every failure names its place (line and column of the decompressed text, or
//! the record's index) and its cause.

mod projection;
mod split;

pub use projection::{parse_projected, FieldSet};

use crate::schema::{DIGEST_FIELDS, RECORD_MARKERS};
pub use crate::writer::Rejected;
use serde_json::value::RawValue;
use serde_json::Value;
use split::Splitter;
use std::fmt;
use std::io::{self, BufRead, BufReader, Read};

/// How the records were laid out in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `{"Records":[...]}`
    RecordsObject,
    /// `[ {...}, ... ]`
    JsonArray,
    /// One record per line.
    Lines,
    /// One record or several concatenated JSON values.
    Document,
}

/// Where a record sits in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordPosition {
    /// 0-based index in the Records array (or the JSON array).
    Index(usize),
    /// 1-based line of an NDJSON file.
    Line(u64),
}

impl fmt::Display for RecordPosition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordPosition::Index(i) => write!(f, "record {i}"),
            RecordPosition::Line(l) => write!(f, "line {l}"),
        }
    }
}

/// One record: its original bytes (valid JSON, possibly with whitespace) and
/// its parsed value.
pub struct Record<'a> {
    pub raw: &'a [u8],
    /// The record parsed: only the fields of [`ReadOptions::fields`], when given.
    pub value: &'a Value,
    pub position: RecordPosition,
    /// True when `raw` has no whitespace outside strings (it is one line as it is).
    pub compact: bool,
}

/// How to read a log file.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadOptions<'f> {
    /// The top-level fields to parse into [`Record::value`]; None: all.
    /// Records streamed from an array keep only these (the others are still
    /// checked to be valid JSON). Other layouts are parsed whole.
    pub fields: Option<&'f FieldSet>,
}

/// A record that could not be used; the rest of the file still is.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordError {
    pub position: RecordPosition,
    pub message: String,
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.position, self.message)
    }
}

/// What reading a whole file gave.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadOutcome {
    pub layout: Layout,
    /// Records handed to the sink.
    pub records: u64,
    /// How many records could not be used (bad NDJSON lines, non-object array elements).
    pub rejected: u64,
    /// The first of those, with their places and causes.
    pub record_errors: Vec<RecordError>,
    /// Set when the file is not a log file and was skipped on purpose (digests).
    pub skipped: Option<String>,
}

impl ReadOutcome {
    fn new(layout: Layout) -> Self {
        ReadOutcome {
            layout,
            records: 0,
            rejected: 0,
            record_errors: Vec::new(),
            skipped: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadErrorKind {
    /// Reading the input failed.
    Io,
    /// The gzip stream is corrupt or truncated.
    Gzip,
    /// The text is not valid JSON.
    Json,
    /// Valid JSON, but not a CloudTrail log file.
    Shape,
    /// No content at all.
    Empty,
    /// The sink failed (writing the output).
    Output,
}

/// Why a whole file could not be read.
#[derive(Debug)]
pub struct ReadError {
    pub kind: ReadErrorKind,
    pub message: String,
    /// 1-based line and column in the (decompressed) text, when known.
    pub line: Option<usize>,
    pub column: Option<usize>,
}

impl ReadError {
    fn new(kind: ReadErrorKind, message: impl Into<String>) -> Self {
        ReadError {
            kind,
            message: message.into(),
            line: None,
            column: None,
        }
    }

    fn at(mut self, line: usize, column: usize) -> Self {
        if line > 0 {
            self.line = Some(line);
            self.column = Some(column);
        }
        self
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)?;
        match (self.line, self.column) {
            (Some(l), Some(c)) => write!(f, " (line {l}, column {c})"),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for ReadError {}

/// Receives each good record; an error stops the read (as
/// [`ReadErrorKind::Output`]), except a [`Rejected`] one, which rejects that
/// record (it counts as rejected, not read) and goes on.
pub type RecordSink<'s> = dyn FnMut(Record<'_>) -> io::Result<()> + 's;

/// Most record errors kept per file; the count goes on past it.
const MAX_KEPT_ERRORS: usize = 100;

const BUFFER: usize = 256 * 1024;

/// Reads one log file, calling `sink` for every record (parsed whole) in file order.
pub fn read_log(input: impl Read, sink: &mut RecordSink<'_>) -> Result<ReadOutcome, ReadError> {
    read_log_with(input, &ReadOptions::default(), sink)
}

/// Reads one log file as `options` say, calling `sink` for every record in file order.
pub fn read_log_with(
    input: impl Read,
    options: &ReadOptions<'_>,
    sink: &mut RecordSink<'_>,
) -> Result<ReadOutcome, ReadError> {
    let mut raw = BufReader::with_capacity(BUFFER, input);
    let head = raw
        .fill_buf()
        .map_err(|e| ReadError::new(ReadErrorKind::Io, format!("cannot read: {e}")))?;
    if head.is_empty() {
        return Err(ReadError::new(
            ReadErrorKind::Empty,
            "empty file: no CloudTrail records",
        ));
    }
    if head.starts_with(&[0x1f, 0x8b]) {
        let text = BufReader::with_capacity(BUFFER, flate2::read::MultiGzDecoder::new(raw));
        read_text(text, true, options, sink)
    } else {
        read_text(raw, false, options, sink)
    }
}

fn read_text(
    mut text: impl BufRead,
    gzipped: bool,
    options: &ReadOptions<'_>,
    sink: &mut RecordSink<'_>,
) -> Result<ReadOutcome, ReadError> {
    let io_err = |e: io::Error| io_error(e, gzipped);
    // Skip a byte-order mark and leading whitespace, counting lines for positions.
    let mut skipped_lines = 0usize;
    let first = loop {
        let buf = text.fill_buf().map_err(io_err)?;
        let Some(&b) = buf.first() else {
            return Err(ReadError::new(
                ReadErrorKind::Empty,
                "empty file: no CloudTrail records",
            ));
        };
        if buf.starts_with(&[0xEF, 0xBB, 0xBF]) {
            text.consume(3);
        } else if b.is_ascii_whitespace() {
            if b == b'\n' {
                skipped_lines += 1;
            }
            text.consume(1);
        } else {
            break b;
        }
    };
    let mut ctx = Ctx {
        sink,
        outcome: ReadOutcome::new(Layout::Document),
        sink_error: None,
        gzipped,
        line_offset: skipped_lines,
        fields: options.fields,
    };
    let result = match first {
        b'[' => {
            ctx.outcome.layout = Layout::JsonArray;
            let mut text = Splitter::new(text, gzipped, skipped_lines);
            ctx.records_array(&mut text)
                .and_then(|()| end_of_text(&mut text))
        }
        b'{' if starts_records_object(text.fill_buf().map_err(io_err)?) => {
            ctx.outcome.layout = Layout::RecordsObject;
            let mut text = Splitter::new(text, gzipped, skipped_lines);
            ctx.envelope(&mut text)
                .and_then(|()| end_of_text(&mut text))
        }
        _ => ctx.lines_or_document(text),
    };
    result?;
    let outcome = ctx.outcome;
    if outcome.skipped.is_none() && outcome.records == 0 {
        if let Some(first) = outcome.record_errors.first() {
            return Err(ReadError::new(
                ReadErrorKind::Shape,
                format!("no usable record; {first}"),
            ));
        }
    }
    Ok(outcome)
}

/// True when the text starts `{ "Records" :` (whitespace allowed).
fn starts_records_object(buf: &[u8]) -> bool {
    let mut rest = buf.strip_prefix(b"{").unwrap_or(buf);
    let skip_ws = |s: &[u8]| -> usize { s.iter().take_while(|b| b.is_ascii_whitespace()).count() };
    rest = &rest[skip_ws(rest)..];
    let Some(after) = rest.strip_prefix(b"\"Records\"") else {
        return false;
    };
    let after = &after[skip_ws(after)..];
    after.starts_with(b":")
}

fn io_error(e: io::Error, gzipped: bool) -> ReadError {
    if gzipped {
        let cause = if e.kind() == io::ErrorKind::UnexpectedEof {
            "unexpected end of data".to_string()
        } else {
            e.to_string()
        };
        ReadError::new(
            ReadErrorKind::Gzip,
            format!("truncated or corrupt gzip data: {cause}"),
        )
    } else {
        ReadError::new(ReadErrorKind::Io, format!("cannot read: {e}"))
    }
}

/// Only whitespace may follow the top-level value.
fn end_of_text<R: Read>(text: &mut Splitter<R>) -> Result<(), ReadError> {
    match text.peek()? {
        None => Ok(()),
        Some(_) => Err(text.syntax_error("trailing characters")),
    }
}

struct Ctx<'s, 'k, 'o> {
    sink: &'s mut RecordSink<'k>,
    outcome: ReadOutcome,
    /// The sink's error, kept while serde unwinds with a placeholder.
    sink_error: Option<io::Error>,
    gzipped: bool,
    /// Lines skipped before the JSON started, added to serde's line numbers.
    line_offset: usize,
    /// The fields to parse of records streamed from an array.
    fields: Option<&'o FieldSet>,
}

impl Ctx<'_, '_, '_> {
    /// Hands one record to the sink, or records why it cannot be used.
    fn record(&mut self, raw: &[u8], value: &Value, position: RecordPosition) -> io::Result<()> {
        self.record_of(raw, false, value, position)
    }

    /// [`Ctx::record`], knowing whether `raw` is compact.
    fn record_of(
        &mut self,
        raw: &[u8],
        compact: bool,
        value: &Value,
        position: RecordPosition,
    ) -> io::Result<()> {
        if !value.is_object() {
            self.reject(
                position,
                format!("expected a JSON object, found {}", kind_of(value)),
            );
            return Ok(());
        }
        match (self.sink)(Record {
            raw,
            value,
            position,
            compact,
        }) {
            Ok(()) => {
                self.outcome.records += 1;
                Ok(())
            }
            // The sink could not write this record faithfully: it is named
            // and the rest of the file is read.
            Err(e) => match Rejected::of(&e) {
                Some(rejected) => {
                    self.reject(position, rejected.message.clone());
                    Ok(())
                }
                None => Err(e),
            },
        }
    }

    /// A record known only as a parsed value (inside a document read whole):
    /// its bytes are the value serialized.
    fn value_record(&mut self, value: &Value, position: RecordPosition) -> io::Result<()> {
        self.record_of(
            &serde_json::to_vec(value).expect("a Value serializes"),
            true,
            value,
            position,
        )
    }

    /// Each element of an array of records, numbered on from `index`.
    fn value_records(&mut self, records: &[Value], index: &mut usize) -> io::Result<()> {
        for r in records {
            self.value_record(r, RecordPosition::Index(*index))?;
            *index += 1;
        }
        Ok(())
    }

    fn reject(&mut self, position: RecordPosition, message: String) {
        self.outcome.rejected += 1;
        if self.outcome.record_errors.len() < MAX_KEPT_ERRORS {
            self.outcome
                .record_errors
                .push(RecordError { position, message });
        }
    }

    /// `{"Records":[...], ...}`: streams each Records array, skips other keys.
    fn envelope<R: Read>(&mut self, text: &mut Splitter<R>) -> Result<(), ReadError> {
        text.expect(b'{', "`{`")?;
        if text.peek()? == Some(b'}') {
            text.advance();
            return Ok(());
        }
        loop {
            let key = text.value()?;
            let key: String = serde_json::from_slice(text.bytes(&key))
                .map_err(|_| text.syntax_error("expected a field name"))?;
            text.expect(b':', "`:`")?;
            if key == "Records" {
                if text.peek()? != Some(b'[') {
                    let value = text.value()?;
                    let found = serde_json::from_slice::<Value>(text.bytes(&value))
                        .map(|v| kind_of(&v))
                        .unwrap_or("invalid JSON");
                    return Err(ReadError::new(
                        ReadErrorKind::Shape,
                        format!("not a CloudTrail log file: \"Records\" is {found}, expected an array of CloudTrail records"),
                    ));
                }
                self.records_array(text)?;
            } else {
                let value = text.value()?;
                if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(text.bytes(&value))
                {
                    return Err(text.syntax_error(&format!("in \"{key}\": {}", serde_message(&e))));
                }
            }
            if !text.separator(b'}', "expected `,` or `}`")? {
                return Ok(());
            }
        }
    }

    /// `[record, ...]`: each record found by the splitter, parsed from its
    /// bytes, and handed to the sink. A record that is not valid JSON is
    /// rejected with its place; the others are still read.
    fn records_array<R: Read>(&mut self, text: &mut Splitter<R>) -> Result<(), ReadError> {
        text.expect(b'[', "`[`")?;
        if text.peek()? == Some(b']') {
            text.advance();
            return Ok(());
        }
        let mut index = 0usize;
        loop {
            let slice = text.value()?;
            let position = RecordPosition::Index(index);
            index += 1;
            let bytes = text.bytes(&slice);
            match parse_projected(bytes, self.fields) {
                Ok(value) => self
                    .record_of(bytes, slice.compact, &value, position)
                    .map_err(output_error)?,
                Err(e) => {
                    let (line, column) = text.place(slice.start);
                    let (line, column) = if e.line() <= 1 {
                        (line, column + e.column().saturating_sub(1))
                    } else {
                        (line + e.line() - 1, e.column())
                    };
                    self.reject(
                        position,
                        format!(
                            "invalid JSON at line {line}, column {column}: {}",
                            serde_message(&e)
                        ),
                    );
                }
            }
            if !text.separator(b']', "expected `,` or `]` after a record")? {
                return Ok(());
            }
        }
    }

    fn json_error(&mut self, e: serde_json::Error) -> ReadError {
        if let Some(sink) = self.sink_error.take() {
            return output_error(sink);
        }
        use serde_json::error::Category;
        let kind = match e.classify() {
            Category::Io => {
                let io = io::Error::from(e);
                return io_error(io, self.gzipped);
            }
            Category::Data => ReadErrorKind::Shape,
            Category::Syntax => ReadErrorKind::Json,
            Category::Eof => ReadErrorKind::Json,
        };
        let message = serde_message(&e);
        let message = match kind {
            ReadErrorKind::Shape => format!("not a CloudTrail log file: {message}"),
            _ if e.classify() == Category::Eof => format!("truncated JSON: {message}"),
            _ => format!("invalid JSON: {message}"),
        };
        ReadError::new(kind, message).at(e.line() + self.line_offset, e.column())
    }

    /// NDJSON when the first line is a complete JSON value, else one document.
    fn lines_or_document(&mut self, mut text: impl BufRead) -> Result<(), ReadError> {
        let gzipped = self.gzipped;
        let mut line = Vec::new();
        text.read_until(b'\n', &mut line)
            .map_err(|e| io_error(e, gzipped))?;
        let first_line_no = self.line_offset as u64 + 1;
        match serde_json::from_slice::<Value>(&line) {
            Ok(value) => {
                self.outcome.layout = Layout::Lines;
                if let Some(reason) = digest_reason(&value) {
                    self.outcome.skipped = Some(reason);
                    return Ok(());
                }
                self.line(&line, &value, first_line_no)?;
                let mut line_no = first_line_no;
                loop {
                    line.clear();
                    let n = text
                        .read_until(b'\n', &mut line)
                        .map_err(|e| io_error(e, gzipped))?;
                    if n == 0 {
                        return Ok(());
                    }
                    line_no += 1;
                    if line.iter().all(u8::is_ascii_whitespace) {
                        continue;
                    }
                    match serde_json::from_slice::<Value>(&line) {
                        Ok(value) => self.line(&line, &value, line_no)?,
                        Err(e) => {
                            let message = serde_message(&e);
                            let place = if e.column() == 0 {
                                "at the end of the line".to_string()
                            } else {
                                format!("at column {}", e.column())
                            };
                            self.reject(
                                RecordPosition::Line(line_no),
                                format!("invalid JSON {place}: {message}"),
                            );
                        }
                    }
                }
            }
            Err(_) => {
                let mut all = line;
                text.read_to_end(&mut all)
                    .map_err(|e| io_error(e, gzipped))?;
                self.document(&all)
            }
        }
    }

    /// One NDJSON line: a record, or a whole `{"Records":[...]}` on one line.
    fn line(&mut self, raw: &[u8], value: &Value, line_no: u64) -> Result<(), ReadError> {
        let position = RecordPosition::Line(line_no);
        let result = match value.get("Records") {
            Some(Value::Array(records)) if !is_record_like(value) => records
                .iter()
                .try_for_each(|r| self.value_record(r, position)),
            _ if lookup_events(value) => self.lookup_events(value, &mut 0),
            _ if value.is_object() && !is_record_like(value) => {
                self.reject(position, not_a_record(value));
                Ok(())
            }
            _ => self.record(raw, value, position),
        };
        result.map_err(output_error)
    }

    /// `aws cloudtrail lookup-events` output: each record is a JSON string
    /// (Insights events come as records). `index` counts records across the file.
    fn lookup_events(&mut self, value: &Value, index: &mut usize) -> io::Result<()> {
        for event in value["Events"].as_array().into_iter().flatten() {
            let position = RecordPosition::Index(*index);
            *index += 1;
            match event.get("CloudTrailEvent").and_then(Value::as_str) {
                Some(text) => match serde_json::from_str::<Value>(text) {
                    Ok(record) => self.record(text.as_bytes(), &record, position)?,
                    Err(e) => {
                        self.reject(position, format!("CloudTrailEvent is not valid JSON: {e}"))
                    }
                },
                None => self.value_record(event, position)?,
            }
        }
        Ok(())
    }

    /// A document that is neither NDJSON nor streamable: read whole.
    fn document(&mut self, text: &[u8]) -> Result<(), ReadError> {
        let mut values = serde_json::Deserializer::from_slice(text).into_iter::<Box<RawValue>>();
        let mut index = 0usize;
        let mut any = false;
        for next in values.by_ref() {
            let raw = next.map_err(|e| self.json_error(e))?;
            any = true;
            let value: Value = serde_json::from_str(raw.get()).map_err(|e| self.json_error(e))?;
            match &value {
                Value::Object(map) if map.contains_key("Records") && !is_record_like(&value) => {
                    let Some(Value::Array(records)) = map.get("Records") else {
                        return Err(ReadError::new(
                            ReadErrorKind::Shape,
                            "not a CloudTrail log file: \"Records\" is not an array",
                        ));
                    };
                    self.value_records(records, &mut index)
                        .map_err(output_error)?;
                }
                Value::Object(_) if lookup_events(&value) => self
                    .lookup_events(&value, &mut index)
                    .map_err(output_error)?,
                Value::Object(_) => {
                    if let Some(reason) = digest_reason(&value) {
                        self.outcome.skipped = Some(reason);
                        return Ok(());
                    }
                    if !is_record_like(&value) {
                        return Err(ReadError::new(
                            ReadErrorKind::Shape,
                            format!("not a CloudTrail log file: {}", not_a_record(&value)),
                        ));
                    }
                    self.record(raw.get().as_bytes(), &value, RecordPosition::Index(index))
                        .map_err(output_error)?;
                    index += 1;
                }
                Value::Array(records) => self
                    .value_records(records, &mut index)
                    .map_err(output_error)?,
                other => {
                    return Err(ReadError::new(
                        ReadErrorKind::Shape,
                        format!("not a CloudTrail log file: expected {{\"Records\":[...]}}, an array or an object, found {}", kind_of(other)),
                    ));
                }
            }
        }
        if !any {
            return Err(ReadError::new(
                ReadErrorKind::Empty,
                "empty file: no CloudTrail records",
            ));
        }
        Ok(())
    }
}

/// The sink (the output) failed.
fn output_error(e: io::Error) -> ReadError {
    ReadError::new(ReadErrorKind::Output, format!("cannot write output: {e}"))
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The output of `aws cloudtrail lookup-events`: `{"Events":[{"CloudTrailEvent":"{...}"}]}`,
/// or, for Insights events, `{"Events":[{...record...}]}`.
fn lookup_events(v: &Value) -> bool {
    v.get("Events")
        .and_then(Value::as_array)
        .is_some_and(|events| {
            !events.is_empty()
                && events.iter().all(|e| {
                    e.get("CloudTrailEvent").is_some_and(Value::is_string) || is_record_like(e)
                })
        })
}

fn is_record_like(v: &Value) -> bool {
    RECORD_MARKERS.iter().any(|k| v.get(k).is_some())
}

fn not_a_record(v: &Value) -> String {
    let keys: Vec<&str> = v
        .as_object()
        .map(|m| m.keys().take(5).map(String::as_str).collect())
        .unwrap_or_default();
    format!(
        "an object without CloudTrail fields (keys: {})",
        keys.join(", ")
    )
}

fn digest_reason(v: &Value) -> Option<String> {
    DIGEST_FIELDS
        .iter()
        .any(|k| v.get(k).is_some())
        .then(|| "a CloudTrail digest file (integrity digest, not a log of events)".to_string())
}

/// serde_json's message without its " at line L column C" tail (places are given our way).
fn serde_message(e: &serde_json::Error) -> String {
    let mut message = e.to_string();
    if let Some(i) = message.rfind(" at line ") {
        message.truncate(i);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn read(bytes: &[u8]) -> Result<(ReadOutcome, Vec<String>), ReadError> {
        let mut seen = Vec::new();
        let outcome = read_log(bytes, &mut |r: Record<'_>| {
            seen.push(r.value["eventName"].as_str().unwrap_or("?").to_string());
            Ok(())
        })?;
        Ok((outcome, seen))
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(bytes).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn reads_every_layout() {
        let cases: &[(&str, Layout)] = &[
            (r#"{"Records":[{"eventName":"A"},{"eventName":"B"}]}"#, Layout::RecordsObject),
            ("\n  { \"Records\" :\n [{\"eventName\":\"A\"},\n{\"eventName\":\"B\"}]}\n", Layout::RecordsObject),
            (r#"[{"eventName":"A"},{"eventName":"B"}]"#, Layout::JsonArray),
            ("{\"eventName\":\"A\"}\n\n{\"eventName\":\"B\"}\n", Layout::Lines),
            ("{\n \"eventName\": \"A\"\n}\n{\n\"eventName\":\"B\"}", Layout::Document),
            ("{\"other\":1,\n\"Records\":[{\"eventName\":\"A\"},{\"eventName\":\"B\"}]}", Layout::Document),
            ("{\"Events\":[{\"CloudTrailEvent\":\"{\\\"eventName\\\":\\\"A\\\"}\"},\n{\"CloudTrailEvent\":\"{\\\"eventName\\\":\\\"B\\\"}\"}]}", Layout::Document),
        ];
        for (text, layout) in cases {
            for bytes in [text.as_bytes().to_vec(), gzip(text.as_bytes())] {
                let (outcome, seen) = read(&bytes).unwrap_or_else(|e| panic!("{text}: {e}"));
                assert_eq!(outcome.layout, *layout, "{text}");
                assert_eq!(seen, ["A", "B"], "{text}");
                assert_eq!(outcome.records, 2);
                assert!(outcome.record_errors.is_empty());
            }
        }
    }

    #[test]
    fn names_the_cause_of_bad_files() {
        let cases: &[(&[u8], ReadErrorKind, &str)] = &[
            (b"", ReadErrorKind::Empty, "empty file"),
            (b"  \n ", ReadErrorKind::Empty, "empty file"),
            (
                b"{\"Records\":[{\"eventName\":\"A\"},",
                ReadErrorKind::Json,
                "truncated JSON",
            ),
            (
                b"{\"Records\":[{\"eventName\":\"A\"} {}]}",
                ReadErrorKind::Json,
                "invalid JSON",
            ),
            (
                b"{\"Records\":5}",
                ReadErrorKind::Shape,
                "expected an array of CloudTrail records",
            ),
            (
                b"{\"foo\":1}",
                ReadErrorKind::Shape,
                "without CloudTrail fields",
            ),
            (b"\"text\"", ReadErrorKind::Shape, "found a string"),
            (b"[1,2]", ReadErrorKind::Shape, "no usable record"),
            (b"hello world", ReadErrorKind::Json, "invalid JSON"),
        ];
        for (bytes, kind, needle) in cases {
            let err = read(bytes)
                .err()
                .unwrap_or_else(|| panic!("{:?} should fail", String::from_utf8_lossy(bytes)));
            assert_eq!(
                err.kind,
                *kind,
                "{:?}: {err}",
                String::from_utf8_lossy(bytes)
            );
            assert!(
                err.to_string().contains(needle),
                "{:?}: {err}",
                String::from_utf8_lossy(bytes)
            );
        }
    }

    #[test]
    fn reports_line_and_column_of_json_errors() {
        let err = read(b"\n\n{\"Records\":[\n{\"eventName\":\"A\"}\n{\"eventName\":\"B\"}]}")
            .unwrap_err();
        assert_eq!((err.line, err.column), (Some(5), Some(1)), "{err}");
    }

    #[test]
    fn truncated_gzip_is_named() {
        let full = gzip(br#"{"Records":[{"eventName":"A"},{"eventName":"B"}]}"#);
        let err = read(&full[..full.len() / 2]).unwrap_err();
        assert_eq!(err.kind, ReadErrorKind::Gzip, "{err}");
        assert!(err.to_string().contains("gzip"));
    }

    #[test]
    fn bad_ndjson_lines_are_reported_and_the_rest_read() {
        let (outcome, seen) =
            read(b"{\"eventName\":\"A\"}\n{\"eventName\":\n[1]\n{\"eventName\":\"B\"}\n").unwrap();
        assert_eq!(seen, ["A", "B"]);
        assert_eq!(outcome.record_errors.len(), 2);
        assert_eq!(outcome.record_errors[0].position, RecordPosition::Line(2));
        assert_eq!(outcome.record_errors[1].position, RecordPosition::Line(3));
    }

    #[test]
    fn digest_files_are_skipped() {
        let digest =
            br#"{"awsAccountId":"1","digestStartTime":"x","digestEndTime":"y","logFiles":[]}"#;
        for bytes in [digest.to_vec(), gzip(digest)] {
            let (outcome, seen) = read(&bytes).unwrap();
            assert!(outcome.skipped.unwrap().contains("digest"));
            assert!(seen.is_empty());
        }
    }

    #[test]
    fn non_object_records_are_reported_not_passed_on() {
        let (outcome, seen) =
            read(br#"{"Records":[{"eventName":"A"},null,{"eventName":"B"}]}"#).unwrap();
        assert_eq!(seen, ["A", "B"]);
        assert_eq!(
            outcome.record_errors,
            vec![RecordError {
                position: RecordPosition::Index(1),
                message: "expected a JSON object, found null".into()
            }]
        );
    }

    #[test]
    fn a_record_the_sink_rejects_is_named_and_the_rest_read() {
        let mut seen = Vec::new();
        let outcome = read_log(
            &br#"{"Records":[{"eventName":"A"},{"eventName":"B"},{"eventName":"C"}]}"#[..],
            &mut |r: Record<'_>| {
                if r.value["eventName"] == "B" {
                    return Err(Rejected {
                        message: "cannot rewrite".into(),
                    }
                    .into());
                }
                seen.push(r.value["eventName"].as_str().unwrap().to_string());
                Ok(())
            },
        )
        .unwrap();
        assert_eq!(seen, ["A", "C"]);
        assert_eq!((outcome.records, outcome.rejected), (2, 1));
        assert_eq!(
            outcome.record_errors[0].to_string(),
            "record 1: cannot rewrite"
        );
    }

    #[test]
    fn output_failure_stops_the_read() {
        let err = read_log(
            &br#"{"Records":[{"eventName":"A"}]}"#[..],
            &mut |_r: Record<'_>| Err(io::Error::other("disk full")),
        )
        .unwrap_err();
        assert_eq!(err.kind, ReadErrorKind::Output);
        assert!(err.to_string().contains("disk full"));
    }
}
