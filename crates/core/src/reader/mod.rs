//! Reading CloudTrail log files.
//!
//! A log file arrives as bytes, gzipped, zstd-compressed or neither (sniffed
//! by magic number, not by name; gzip members and zstd frames are read one
//! after another, and zero padding after the last gzip member passed over). Its text is one or
//! more JSON documents, each decided on by itself:
//! - `{"Records":[...]}`, what CloudTrail writes: streamed record by record,
//!   so a file of any size is read in bounded memory, wherever the `Records`
//!   key stands among the others;
//! - a JSON array of records: streamed the same way;
//! - one record (an object with a CloudTrail field), read whole;
//! - the output of `aws cloudtrail lookup-events` (`{"Events":[{"CloudTrailEvent":"..."}]}`);
//! - a CloudTrail digest: passed over (a file of digests only is skipped).
//!
//! A file whose first document is one object alone on its first line is
//! NDJSON: read line by line, so a bad line is reported and the rest read (a
//! line may hold any of the above; one that starts `{"Records":` is streamed).
//!
//! Every failure names its place (line and column of the decompressed text, or
//! the record's index) and its cause. A record whose bytes are not valid
//! UTF-8 or JSON is rejected, and the rest of the file read. Text in UTF-16
//! or UTF-32 is named as such.

mod gzip;
mod lazy;
mod projection;
mod split;
mod validate;

pub use lazy::LazyRecord;
pub use projection::{parse_projected, FieldSet};

use crate::json::key_text;
use crate::path::Members;
use crate::schema::RECORD_MARKERS;
pub use crate::writer::Rejected;
use projection::parse_noting_keys;
use serde_json::Value;
use split::{bytes_text, Slice, Splitter};
use std::borrow::Cow;
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
    /// The record's fields: only those of [`ReadOptions::fields`], when
    /// given, and then perhaps parsed only when first looked up.
    pub value: &'a dyn Members,
    pub position: RecordPosition,
    /// True when `raw` has no whitespace outside strings (it is one line as it is).
    pub compact: bool,
}

/// The most bytes one record, one NDJSON line or one document read whole
/// may hold (64 MiB): the reader's memory is bounded by it, whatever the
/// input. CloudTrail's own records are at most a few hundred KB.
pub const MAX_RECORD_SIZE: usize = 64 << 20;

/// How to read a log file.
#[derive(Debug, Clone, Copy)]
pub struct ReadOptions<'f> {
    /// The top-level fields to parse into [`Record::value`]; None: all.
    /// Every record keeps only these (the others are still checked to be
    /// valid JSON, and the record's bytes to be UTF-8), except the records
    /// of `lookup-events` output, parsed whole.
    pub fields: Option<&'f FieldSet>,
    /// The most bytes of one record, one NDJSON line, one document read
    /// whole (or any other single value): [`MAX_RECORD_SIZE`] by default.
    /// A record of a `Records` array (or a JSON array) that is longer is
    /// rejected, and skipped to its end without being kept; anything else
    /// longer fails the file.
    pub max_record_size: usize,
}

impl Default for ReadOptions<'_> {
    fn default() -> Self {
        ReadOptions {
            fields: None,
            max_record_size: MAX_RECORD_SIZE,
        }
    }
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
    /// Set when the file is not a log file and was skipped on purpose: it
    /// holds digests and nothing else.
    pub skipped: Option<String>,
    /// CloudTrail digest documents passed over (in a file of records, or of
    /// digests only, then `skipped` says so).
    pub digests: u64,
}

impl ReadOutcome {
    fn new(layout: Layout) -> Self {
        ReadOutcome {
            layout,
            records: 0,
            rejected: 0,
            record_errors: Vec::new(),
            skipped: None,
            digests: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadErrorKind {
    /// Reading the input failed.
    Io,
    /// The gzip stream is corrupt or truncated.
    Gzip,
    /// The zstd stream is corrupt or truncated.
    Zstd,
    /// The text is not valid JSON.
    Json,
    /// Valid JSON, but not a CloudTrail log file.
    Shape,
    /// No content at all.
    Empty,
    /// One NDJSON line, one document read whole, or one value other than a
    /// record of an array, is longer than [`ReadOptions::max_record_size`].
    TooLarge,
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
        let members = gzip::Members::new(raw, options.max_record_size);
        read_text(members, Packing::Gzip, options, sink)
    } else if head.starts_with(&ZSTD_MAGIC) {
        // Frame after frame, as `zstd -d` reads `cat a.zst b.zst`.
        let frames = zstd::stream::read::Decoder::with_buffer(raw)
            .map_err(|e| io_error(e, Packing::Zstd))?;
        read_text(frames, Packing::Zstd, options, sink)
    } else {
        read_text(raw, Packing::Plain, options, sink)
    }
}

/// The first bytes of a zstd frame (RFC 8878).
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xB5, 0x2F, 0xFD];

/// How a file's text was packed: what a read failure is blamed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Packing {
    Plain,
    Gzip,
    Zstd,
}

const UTF8_BOM: &[u8] = &[0xEF, 0xBB, 0xBF];

/// The text of a log file, document after document: every `{"Records":[...]}`
/// and array is streamed (so are concatenated files, and gzip members), and
/// a file whose first value is one object on its first line is read as
/// NDJSON, line by line.
fn read_text(
    text: impl Read,
    packing: Packing,
    options: &ReadOptions<'_>,
    sink: &mut RecordSink<'_>,
) -> Result<ReadOutcome, ReadError> {
    let mut text = Splitter::new(text, packing, 0, options.max_record_size);
    if let Some(encoding) = utf16_or_32(text.head(4)?) {
        return Err(ReadError::new(
            ReadErrorKind::Json,
            format!("the file looks like {encoding} text, but CloudTrail logs are UTF-8 JSON: convert it to UTF-8 first"),
        )
        .at(1, 1));
    }
    if text.head(3)?.starts_with(UTF8_BOM) {
        text.consume(3);
    }
    let Some(first) = text.peek()? else {
        return Err(ReadError::new(
            ReadErrorKind::Empty,
            "empty file: no CloudTrail records",
        ));
    };
    if !can_start_json(first) {
        // Not worth reading on: binary data, or text that is not JSON.
        let (line, column) = text.place(text.position());
        return Err(ReadError::new(
            ReadErrorKind::Json,
            format!("not JSON: the text starts with {}", byte_name(first)),
        )
        .at(line, column));
    }
    let mut ctx = Ctx {
        sink,
        outcome: ReadOutcome::new(Layout::Document),
        fields: options.fields,
        index: 0,
        members: Vec::new(),
    };
    match first {
        b'[' => {
            ctx.outcome.layout = Layout::JsonArray;
            ctx.documents(&mut text)?;
        }
        b'{' => match ctx.object(&mut text)? {
            None => {
                ctx.outcome.layout = Layout::RecordsObject;
                ctx.documents(&mut text)?;
            }
            Some(object) => {
                if ctx.first_line(&mut text, &object)? {
                    ctx.outcome.layout = Layout::Lines;
                }
            }
        },
        _ => ctx.documents(&mut text)?,
    }
    let mut outcome = ctx.outcome;
    if outcome.records == 0 && outcome.rejected == 0 && outcome.digests > 0 {
        outcome.skipped =
            Some("a CloudTrail digest file (integrity digest, not a log of events)".to_string());
    }
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

/// The encoding a text in UTF-16 or UTF-32 shows in its first bytes: a
/// byte-order mark, or the NUL bytes beside the ASCII of JSON.
fn utf16_or_32(head: &[u8]) -> Option<&'static str> {
    match head {
        [0xFF, 0xFE, 0, 0, ..] => Some("UTF-32 (little-endian)"),
        [0, 0, 0xFE, 0xFF, ..] => Some("UTF-32 (big-endian)"),
        [0xFF, 0xFE, ..] => Some("UTF-16 (little-endian)"),
        [0xFE, 0xFF, ..] => Some("UTF-16 (big-endian)"),
        [a, 0, 0, 0, ..] if *a != 0 => Some("UTF-32 (little-endian)"),
        [0, 0, 0, a, ..] if *a != 0 => Some("UTF-32 (big-endian)"),
        [a, 0, ..] if *a != 0 => Some("UTF-16 (little-endian)"),
        [0, a, ..] if *a != 0 => Some("UTF-16 (big-endian)"),
        _ => None,
    }
}

/// Whether a JSON value can start with byte `b`.
fn can_start_json(b: u8) -> bool {
    matches!(
        b,
        b'{' | b'[' | b'"' | b'-' | b'0'..=b'9' | b't' | b'f' | b'n'
    )
}

/// A byte named for people: `byte 0x00`, `byte 0x78 ('x')`.
fn byte_name(b: u8) -> String {
    if b.is_ascii_graphic() {
        format!("byte {b:#04x} ('{}')", b as char)
    } else {
        format!("byte {b:#04x}")
    }
}

/// True when the text starts `{ "Records" :` (whitespace allowed).
fn starts_records_object(buf: &[u8]) -> bool {
    let Some(mut rest) = buf.strip_prefix(b"{") else {
        return false;
    };
    let skip_ws = |s: &[u8]| -> usize { s.iter().take_while(|b| b.is_ascii_whitespace()).count() };
    rest = &rest[skip_ws(rest)..];
    let Some(after) = rest.strip_prefix(b"\"Records\"") else {
        return false;
    };
    let after = &after[skip_ws(after)..];
    after.starts_with(b":")
}

fn io_error(e: io::Error, packing: Packing) -> ReadError {
    let (kind, name) = match packing {
        Packing::Plain => {
            return ReadError::new(ReadErrorKind::Io, format!("cannot read: {e}"));
        }
        Packing::Gzip => (ReadErrorKind::Gzip, "gzip"),
        Packing::Zstd => (ReadErrorKind::Zstd, "zstd"),
    };
    let cause = if e.kind() == io::ErrorKind::UnexpectedEof {
        "unexpected end of data".to_string()
    } else {
        e.to_string()
    };
    ReadError::new(kind, format!("truncated or corrupt {name} data: {cause}"))
}

/// Where `bytes` stop being UTF-8, as a line and column within them (1-based).
fn utf8_error(bytes: &[u8]) -> Option<(usize, usize)> {
    let at = std::str::from_utf8(bytes).err()?.valid_up_to();
    let before = &bytes[..at];
    let line = memchr::memchr_iter(b'\n', before).count();
    let column = match memchr::memrchr(b'\n', before) {
        Some(nl) => at - nl,
        None => at + 1,
    };
    Some((line + 1, column))
}

/// A place inside a value that starts at line `line`, column `column` of the
/// file: serde's (line, column) within the value, made absolute.
fn place_within((line, column): (usize, usize), (l, c): (usize, usize)) -> (usize, usize) {
    if l <= 1 {
        (line, column + c.saturating_sub(1))
    } else {
        (line + l - 1, c)
    }
}

struct Ctx<'s, 'k, 'o> {
    sink: &'s mut RecordSink<'k>,
    outcome: ReadOutcome,
    /// The fields to parse of each record.
    fields: Option<&'o FieldSet>,
    /// Records found so far in arrays and documents, to number the next one.
    index: usize,
    /// The top-level members of the record being read (kept to reuse the
    /// allocation).
    members: Vec<validate::Member>,
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
        self.hand_over(raw, compact, value, position)
    }

    /// Hands one record, an object, to the sink.
    fn hand_over(
        &mut self,
        raw: &[u8],
        compact: bool,
        value: &dyn Members,
        position: RecordPosition,
    ) -> io::Result<()> {
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

    /// A record known only as a parsed value (an Insights event of
    /// `lookup-events` output): its bytes are the value serialized.
    fn value_record(&mut self, value: &Value, position: RecordPosition) -> io::Result<()> {
        self.record_of(
            &serde_json::to_vec(value).expect("a Value serializes"),
            true,
            value,
            position,
        )
    }

    fn reject(&mut self, position: RecordPosition, message: String) {
        self.outcome.rejected += 1;
        if self.outcome.record_errors.len() < MAX_KEPT_ERRORS {
            self.outcome
                .record_errors
                .push(RecordError { position, message });
        }
    }

    /// `position`, the next index of the file when it is one.
    fn take(&mut self, position: RecordPosition) -> RecordPosition {
        if let RecordPosition::Index(_) = position {
            self.index += 1;
        }
        position
    }

    fn next_index(&mut self) -> RecordPosition {
        self.index += 1;
        RecordPosition::Index(self.index - 1)
    }

    /// One value after another until the end of the text: arrays and
    /// `{"Records":[...]}` streamed, other objects read whole (a record, a
    /// digest, `lookup-events` output).
    fn documents<R: Read>(&mut self, text: &mut Splitter<R>) -> Result<(), ReadError> {
        loop {
            match text.peek()? {
                None => return Ok(()),
                Some(b'[') => self.records_array(text)?,
                Some(b'{') => {
                    if let Some(object) = self.object(text)? {
                        let start = text.pinned();
                        let slice = Slice {
                            start,
                            end: start + object.len,
                            compact: false,
                        };
                        let position = RecordPosition::Index(self.index);
                        let result = self.whole(text.bytes(&slice), position, || text.place(start));
                        text.unpin();
                        result?;
                    }
                }
                // A byte-order mark where a file starts (concatenated files).
                Some(0xEF) if text.head(3)?.starts_with(UTF8_BOM) => text.consume(3),
                Some(b) if !can_start_json(b) => {
                    return Err(
                        text.syntax_error(&format!("expected a value, found {}", byte_name(b)))
                    );
                }
                Some(_) => {
                    let slice = text.value()?;
                    let position = self.next_index();
                    match serde_json::from_slice::<Value>(text.bytes(&slice)) {
                        Ok(value) => self.reject(
                            position,
                            format!(
                                "expected {{\"Records\":[...]}}, an array or an object, found {}",
                                kind_of(&value)
                            ),
                        ),
                        Err(e) => {
                            let (line, column) =
                                place_within(text.place(slice.start), (e.line(), e.column()));
                            return Err(ReadError::new(
                                ReadErrorKind::Json,
                                format!("invalid JSON: {}", serde_message(&e)),
                            )
                            .at(line, column));
                        }
                    }
                }
            }
        }
    }

    /// An object, member by member. A `Records` array (before any record
    /// field) makes it a log file's envelope: the array is streamed, the
    /// other members checked and skipped, and None returned. Otherwise the
    /// object is left pinned in the buffer (from [`Splitter::pinned`]), and
    /// its length returned, for the caller to read whole and unpin.
    fn object<R: Read>(&mut self, text: &mut Splitter<R>) -> Result<Option<Whole>, ReadError> {
        text.pin();
        text.expect(b'{', "`{`")?;
        // The members seen (key start, value start, value end, as offsets
        // from the pin), to check if it turns out to be an envelope.
        let mut members: Vec<(usize, usize, usize)> = Vec::new();
        let mut marker = false;
        if text.peek()? == Some(b'}') {
            text.advance();
            return Ok(Some(Whole {
                len: text.position() - text.pinned(),
            }));
        }
        loop {
            let key = text.value()?;
            let name = key_text(text.bytes(&key));
            let Some(name) = name.map(Cow::into_owned) else {
                text.unpin();
                return Err(text.syntax_error("expected a field name"));
            };
            text.expect(b':', "`:`")?;
            if name == "Records" && !marker {
                let pin = text.pinned();
                for &(k, s, e) in &members {
                    let key = Slice {
                        start: pin + k,
                        end: pin + s,
                        compact: false,
                    };
                    let value = Slice {
                        start: pin + s,
                        end: pin + e,
                        compact: false,
                    };
                    check_member(text, &key, &value)?;
                }
                text.unpin();
                return self.envelope(text).map(|()| None);
            }
            marker |= RECORD_MARKERS.contains(&name.as_str());
            let key_start = key.start - text.pinned();
            let value = text.value()?;
            let pin = text.pinned();
            members.push((key_start, value.start - pin, value.end - pin));
            if !text.separator(b'}', "expected `,` or `}`")? {
                let len = text.position() - text.pinned();
                if len > text.limit() {
                    let error = text.too_large(text.pinned());
                    text.unpin();
                    return Err(error);
                }
                return Ok(Some(Whole { len }));
            }
        }
    }

    /// The rest of `{"Records":[...], ...}` after the first `"Records":`:
    /// streams each Records array, checks and skips other keys.
    fn envelope<R: Read>(&mut self, text: &mut Splitter<R>) -> Result<(), ReadError> {
        loop {
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
            // The members after it, up to the next Records array.
            loop {
                if !text.separator(b'}', "expected `,` or `}`")? {
                    return Ok(());
                }
                let key = text.value()?;
                let (key_start, key_end) = (key.start, key.end);
                let Some(name) = key_text(text.bytes(&key)).map(Cow::into_owned) else {
                    return Err(text.syntax_error("expected a field name"));
                };
                text.expect(b':', "`:`")?;
                if name == "Records" {
                    break;
                }
                let key = Slice {
                    start: key_start,
                    end: key_end,
                    compact: false,
                };
                let value = text.value()?;
                check_member(text, &key, &value)?;
            }
        }
    }

    /// `[record, ...]`: each record found by the splitter, parsed from its
    /// bytes, and handed to the sink. A record that is not valid JSON (or
    /// not UTF-8) is rejected with its place; the others are still read.
    fn records_array<R: Read>(&mut self, text: &mut Splitter<R>) -> Result<(), ReadError> {
        let no_fields = Value::Object(serde_json::Map::new());
        text.expect(b'[', "`[`")?;
        if text.peek()? == Some(b']') {
            text.advance();
            return Ok(());
        }
        loop {
            if let Some(fields) = self.fields {
                if self.one_pass(text, fields, &no_fields)? {
                    if !text.separator(b']', "expected `,` or `]` after a record")? {
                        return Ok(());
                    }
                    continue;
                }
            }
            let slice = match text.value() {
                Ok(slice) => slice,
                // Too long to keep: passed over, and named.
                Err(e) if e.kind == ReadErrorKind::TooLarge => {
                    let position = self.next_index();
                    let (line, column) = text.place(text.position());
                    text.skip_value()?;
                    self.reject(
                        position,
                        format!(
                            "too large at line {line}, column {column}: more than {} \
                             (the limit on one record)",
                            bytes_text(text.limit())
                        ),
                    );
                    if !text.separator(b']', "expected `,` or `]` after a record")? {
                        return Ok(());
                    }
                    continue;
                }
                Err(e) => return Err(e),
            };
            let position = self.next_index();
            let bytes = text.bytes(&slice);
            let parsed = match utf8_error(bytes) {
                Some(at) => Err(("invalid UTF-8", at, None)),
                None => parse_projected(bytes, self.fields)
                    .map_err(|e| ("invalid JSON", (e.line(), e.column()), Some(e))),
            };
            match parsed {
                Ok(value) => self
                    .record_of(bytes, slice.compact, &value, position)
                    .map_err(output_error)?,
                Err((what, at, e)) => {
                    let (line, column) = place_within(text.place(slice.start), at);
                    let cause = e.map(|e| format!(": {}", serde_message(&e)));
                    self.reject(
                        position,
                        format!(
                            "{what} at line {line}, column {column}{}",
                            cause.unwrap_or_default()
                        ),
                    );
                }
            }
            if !text.separator(b']', "expected `,` or `]` after a record")? {
                return Ok(());
            }
        }
    }

    /// The next record of an array, scanned and validated in one pass and
    /// handed over with its fields parsed when looked up (`no_fields`, an
    /// empty object, when there are none to parse). False, with nothing
    /// consumed, when the scanner does not vouch for it: then the slow way
    /// reads it, and names what is wrong.
    fn one_pass<R: Read>(
        &mut self,
        text: &mut Splitter<R>,
        fields: &FieldSet,
        no_fields: &Value,
    ) -> Result<bool, ReadError> {
        // Taken out of `self` while the record borrows it.
        let mut members = std::mem::take(&mut self.members);
        let Some((slice, traits)) = text.checked_object(&mut members)? else {
            self.members = members;
            return Ok(false);
        };
        let bytes = text.bytes(&slice);
        let mut handed = false;
        if traits.ascii || std::str::from_utf8(bytes).is_ok() {
            let record = (!fields.is_empty()).then(|| LazyRecord::new(bytes, &members, fields));
            // Fields are parsed when rules ask for them: first make sure
            // each will parse, unless it surely does.
            if record
                .as_ref()
                .is_none_or(|r| traits.plain || r.parse_all())
            {
                let value: &dyn Members = match &record {
                    Some(record) => record,
                    None => no_fields,
                };
                let position = self.next_index();
                let sent = self.hand_over(bytes, slice.compact, value, position);
                sent.map_err(output_error)?;
                handed = true;
            }
        }
        self.members = members;
        if !handed {
            text.rewind(slice.start);
        }
        Ok(handed)
    }

    /// An object read whole (a record, a digest, `lookup-events` output, an
    /// envelope on one NDJSON line), at `position` (an index is taken only
    /// if it is a record, or rejected); `start` gives the line and column
    /// where it starts, for errors.
    fn whole(
        &mut self,
        bytes: &[u8],
        position: RecordPosition,
        start: impl Fn() -> (usize, usize),
    ) -> Result<(), ReadError> {
        let parsed = match utf8_error(bytes) {
            Some(at) => Err(("invalid UTF-8", at, None)),
            None => parse_noting_keys(bytes, self.fields)
                .map_err(|e| ("invalid JSON", (e.line(), e.column()), Some(e))),
        };
        let (value, keys) = match parsed {
            Ok(parsed) => parsed,
            Err((what, at, e)) => {
                self.take(position);
                let cause = e.map(|e| format!(": {}", serde_message(&e)));
                let (line, column) = place_within(start(), at);
                let place = match position {
                    // One line: its column says it all.
                    RecordPosition::Line(_) if column == 0 => "at the end of the line".to_string(),
                    RecordPosition::Line(_) => format!("at column {column}"),
                    RecordPosition::Index(_) => format!("at line {line}, column {column}"),
                };
                self.reject(
                    position,
                    format!("{what} {place}{}", cause.unwrap_or_default()),
                );
                return Ok(());
            }
        };
        if keys.records && !keys.marker {
            // `{"x":1,"Records":[...]}` on one NDJSON line: its records are
            // found in the line's bytes, and keep them.
            let (line, _) = start();
            let mut inner =
                Splitter::with_capacity(bytes, Packing::Plain, line - 1, usize::MAX, bytes.len());
            return match self.documents(&mut inner) {
                Err(e) if e.kind != ReadErrorKind::Output => {
                    let position = self.take(position);
                    self.reject(position, e.to_string());
                    Ok(())
                }
                other => other,
            };
        }
        // `lookup-events` output has `Events` and no record field: a record
        // that holds an `Events` field is a record.
        if keys.events && !keys.marker {
            let whole: Value = serde_json::from_slice(bytes).unwrap_or(Value::Null);
            if let Some(events) = whole.get("Events").and_then(Value::as_array) {
                return self.lookup_events(events).map_err(output_error);
            }
        }
        // A digest has the digest fields and none of a record's: a record
        // that happens to hold a digest-like key is a record.
        if keys.digest && !keys.marker {
            self.outcome.digests += 1;
            return Ok(());
        }
        if !value.is_object() || keys.marker {
            let position = self.take(position);
            return self.record(bytes, &value, position).map_err(output_error);
        }
        let position = self.take(position);
        self.reject(position, without_fields(&keys.first));
        Ok(())
    }

    /// The first object of the text, left pinned by [`Ctx::object`]: if it
    /// is alone on its line, it is the first line of NDJSON (true); else the
    /// first of the documents (false). Either way it is read, and unpinned.
    fn first_line<R: Read>(
        &mut self,
        text: &mut Splitter<R>,
        object: &Whole,
    ) -> Result<bool, ReadError> {
        let pinned = |text: &Splitter<R>| {
            let start = text.pinned();
            Slice {
                start,
                end: start + object.len,
                compact: false,
            }
        };
        let mut one_line = memchr::memchr(b'\n', text.bytes(&pinned(text))).is_none();
        // The rest of the line must be blank.
        let mut n = 1;
        while one_line {
            let rest = text.head(n)?;
            let blank = rest
                .iter()
                .take_while(|b| matches!(b, b' ' | b'\t' | b'\r'))
                .count();
            if blank < rest.len() {
                one_line = rest[blank] == b'\n';
                break;
            }
            if rest.len() < n {
                break; // the end of the text
            }
            n = rest.len() + 1;
        }
        // (Looking ahead may have moved the pinned bytes.)
        let slice = pinned(text);
        let (line, column) = text.place(slice.start);
        let position = if one_line {
            RecordPosition::Line(line as u64)
        } else {
            RecordPosition::Index(self.index)
        };
        let result = self.whole(text.bytes(&slice), position, || (line, column));
        text.unpin();
        result?;
        if one_line {
            text.line()?; // the (blank) rest of the first line
            self.lines(text, line as u64 + 1)?;
        } else {
            self.documents(text)?;
        }
        Ok(one_line)
    }

    /// NDJSON from line `line_no` on: each line read whole and parsed; a bad
    /// line is rejected, and the next one read. A line that starts
    /// `{"Records":` is streamed as a document.
    fn lines<R: Read>(
        &mut self,
        text: &mut Splitter<R>,
        mut line_no: u64,
    ) -> Result<(), ReadError> {
        loop {
            let head = text.head(64)?;
            let blank = head
                .iter()
                .take_while(|b| matches!(b, b' ' | b'\t' | b'\r'))
                .count();
            if starts_records_object(&head[blank..]) {
                text.consume(blank);
                let object = match self.object(text) {
                    Ok(object) => object,
                    // A broken document on a line: the records before the
                    // break are kept, the line is named, the next one read.
                    Err(e) if matches!(e.kind, ReadErrorKind::Json | ReadErrorKind::Shape) => {
                        text.unpin();
                        self.reject(RecordPosition::Line(line_no), e.to_string());
                        text.line()?;
                        line_no = text.place(text.position()).0 as u64;
                        continue;
                    }
                    Err(e) => return Err(e),
                };
                if let Some(object) = object {
                    // Not reached: an object that starts with "Records" is an envelope.
                    let start = text.pinned();
                    let slice = Slice {
                        start,
                        end: start + object.len,
                        compact: false,
                    };
                    let result =
                        self.whole(text.bytes(&slice), RecordPosition::Line(line_no), || {
                            text.place(start)
                        });
                    text.unpin();
                    result?;
                }
                // The line where it ended: the next line() reads its rest.
                line_no = text.place(text.position()).0 as u64;
                continue;
            }
            let Some(slice) = text.line()? else {
                return Ok(());
            };
            let n = line_no;
            line_no += 1;
            let bytes = text.bytes(&slice);
            let bytes = bytes.strip_prefix(UTF8_BOM).unwrap_or(bytes);
            let lead = bytes.iter().take_while(|b| b.is_ascii_whitespace()).count();
            if lead == bytes.len() {
                continue;
            }
            let column = slice.end - slice.start - bytes.len() + lead + 1;
            self.whole(&bytes[lead..], RecordPosition::Line(n), || {
                (n as usize, column)
            })?;
        }
    }

    /// The `Events` of `aws cloudtrail lookup-events` output: each record is
    /// a JSON string (Insights events come as records), numbered across the
    /// file. An event that holds no record is rejected, and the others kept.
    fn lookup_events(&mut self, events: &[Value]) -> io::Result<()> {
        for event in events {
            let position = self.next_index();
            let Value::Object(fields) = event else {
                let found = kind_of(event);
                self.reject(
                    position,
                    format!("expected an event (a JSON object), found {found}"),
                );
                continue;
            };
            match fields.get("CloudTrailEvent") {
                Some(Value::String(text)) => match serde_json::from_str::<Value>(text) {
                    Ok(Value::Object(record)) if !is_record_like(&record) => {
                        let keys: Vec<String> = record.keys().take(5).cloned().collect();
                        self.reject(position, without_fields(&keys));
                    }
                    Ok(record) => self.record(text.as_bytes(), &record, position)?,
                    Err(e) => {
                        self.reject(position, format!("CloudTrailEvent is not valid JSON: {e}"))
                    }
                },
                Some(other) => self.reject(
                    position,
                    format!(
                        "CloudTrailEvent is {}, expected a string holding a record",
                        kind_of(other)
                    ),
                ),
                None if is_record_like(fields) => self.value_record(event, position)?,
                None => {
                    let keys: Vec<&str> = fields.keys().take(5).map(String::as_str).collect();
                    self.reject(
                        position,
                        format!(
                            "an event without CloudTrailEvent or CloudTrail fields (keys: {})",
                            keys.join(", ")
                        ),
                    );
                }
            }
        }
        Ok(())
    }
}

/// An object [`Ctx::object`] left pinned: its length from the pin.
struct Whole {
    len: usize,
}

/// Checks that a member of an envelope other than `Records` is valid JSON.
fn check_member<R: Read>(text: &Splitter<R>, key: &Slice, value: &Slice) -> Result<(), ReadError> {
    match serde_json::from_slice::<serde::de::IgnoredAny>(text.bytes(value)) {
        Ok(_) => Ok(()),
        Err(e) => {
            let name = key_text(text.bytes(key)).unwrap_or_default();
            let (line, column) = place_within(text.place(value.start), (e.line(), e.column()));
            Err(ReadError::new(
                ReadErrorKind::Json,
                format!("invalid JSON: in \"{name}\": {}", serde_message(&e)),
            )
            .at(line, column))
        }
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

/// An object with a key of [`RECORD_MARKERS`].
fn is_record_like(object: &serde_json::Map<String, Value>) -> bool {
    RECORD_MARKERS.iter().any(|k| object.contains_key(*k))
}

/// Why an object with none of [`RECORD_MARKERS`] is not a record, naming
/// its first keys.
fn without_fields(keys: &[String]) -> String {
    if keys.is_empty() {
        "an object without CloudTrail fields (no keys)".to_string()
    } else {
        format!(
            "an object without CloudTrail fields (keys: {})",
            keys.join(", ")
        )
    }
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

    /// Reads `bytes` whole, and again parsing only `eventName` (records of
    /// an array then go the one-pass way, fields parsed when looked up):
    /// both must give the same, which is returned.
    fn read(bytes: &[u8]) -> Result<(ReadOutcome, Vec<String>), ReadError> {
        let whole = read_with(bytes, ReadOptions::default());
        let fields = FieldSet::new(["eventName"]);
        let projected = ReadOptions {
            fields: Some(&fields),
            ..ReadOptions::default()
        };
        assert_eq!(
            format!("{whole:?}"),
            format!("{:?}", read_with(bytes, projected)),
            "{}",
            String::from_utf8_lossy(bytes)
        );
        whole
    }

    /// Reads `input`, noting each record's eventName.
    fn read_with(
        input: impl Read,
        options: ReadOptions<'_>,
    ) -> Result<(ReadOutcome, Vec<String>), ReadError> {
        let mut seen = Vec::new();
        let outcome = read_log_with(input, &options, &mut |r: Record<'_>| {
            seen.push(
                r.value
                    .member("eventName")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string(),
            );
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
            ("{\"other\":1,\n\"Records\":[{\"eventName\":\"A\"},{\"eventName\":\"B\"}]}", Layout::RecordsObject),
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
            (b"hello world", ReadErrorKind::Json, "not JSON"),
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

    fn zstd(bytes: &[u8]) -> Vec<u8> {
        zstd::stream::encode_all(bytes, 1).unwrap()
    }

    #[test]
    fn zstd_frames_are_read_one_after_another() {
        let a = zstd(br#"{"Records":[{"eventName":"A"}]}"#);
        let b = zstd(b"{\"eventName\":\"B\"}\n{\"eventName\":\"C\"}\n");
        let (outcome, seen) = read(&a).unwrap();
        assert_eq!(seen, ["A"]);
        assert!(outcome.record_errors.is_empty());
        let (_, seen) = read(&[&a[..], &b].concat()).unwrap();
        assert_eq!(seen, ["A", "B", "C"]);
    }

    #[test]
    fn truncated_or_corrupt_zstd_is_named() {
        let full = zstd(br#"{"Records":[{"eventName":"A"},{"eventName":"B"}]}"#);
        let mut corrupt = full.clone();
        let last = corrupt.len() - 1;
        corrupt[last] ^= 0xff;
        corrupt[8] ^= 0xff;
        for bytes in [&full[..full.len() / 2], &full[..5], &corrupt[..]] {
            let err = read(bytes).unwrap_err();
            assert_eq!(err.kind, ReadErrorKind::Zstd, "{err}");
            assert!(
                err.to_string().contains("truncated or corrupt zstd data"),
                "{err}"
            );
        }
    }

    #[test]
    fn zero_padding_after_the_last_gzip_member_is_passed_over() {
        let a = gzip(br#"{"Records":[{"eventName":"A"}]}"#);
        let b = gzip(br#"{"Records":[{"eventName":"B"}]}"#);
        let zeros = |n: usize| vec![0u8; n];
        let good: Vec<(Vec<u8>, &[&str])> = vec![
            ([&a[..], &zeros(1)].concat(), &["A"]),
            ([&a[..], &zeros(10_240)].concat(), &["A"]),
            ([&a[..], &b, &zeros(600_000)].concat(), &["A", "B"]),
        ];
        for (bytes, want) in good {
            let (outcome, seen) = read(&bytes).unwrap_or_else(|e| panic!("{}: {e}", bytes.len()));
            assert_eq!(seen, want);
            assert!(outcome.record_errors.is_empty());
        }
        // Anything else after a member is another member, or corrupt.
        for bytes in [
            [&a[..], &zeros(512), &b].concat(),
            [&a[..], &zeros(3), b"x"].concat(),
            [&a[..], b"junk, not a member"].concat(),
        ] {
            let err = read(&bytes).unwrap_err();
            assert_eq!(err.kind, ReadErrorKind::Gzip, "{err}");
            assert!(err.to_string().contains("invalid gzip header"), "{err}");
        }
        // Padding is bounded too.
        let err = read_capped(&[&a[..], &zeros(5000)].concat()[..], 1000).unwrap_err();
        assert_eq!(err.kind, ReadErrorKind::Gzip, "{err}");
        assert!(
            err.to_string().contains("more than 1000 zero bytes"),
            "{err}"
        );
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

    const DIGEST: &str =
        r#"{"awsAccountId":"1","digestStartTime":"x","digestEndTime":"y","logFiles":[]}"#;

    #[test]
    fn a_digest_among_records_is_passed_over_and_the_records_kept() {
        let a = r#"{"Records":[{"eventName":"A"},{"eventName":"B"}]}"#;
        let cases = [
            format!("{a}\n{DIGEST}\n"),
            format!("{DIGEST}\n{a}"),
            format!("{DIGEST}\n{{\"eventName\":\"A\"}}\n{{\"eventName\":\"B\"}}\n"),
            format!("{{\"eventName\":\"A\"}}\n{DIGEST}\n{{\"eventName\":\"B\"}}\n"),
            format!("{{\n\"eventName\":\"A\"}}\n{DIGEST}\n{{\"eventName\":\"B\"}}"),
            format!("[{{\"eventName\":\"A\"}}] {DIGEST} [{{\"eventName\":\"B\"}}]"),
        ];
        for text in &cases {
            for bytes in [text.as_bytes().to_vec(), gzip(text.as_bytes())] {
                let (outcome, seen) = read(&bytes).unwrap_or_else(|e| panic!("{text}: {e}"));
                assert_eq!(seen, ["A", "B"], "{text}");
                assert_eq!(outcome.records, 2, "{text}");
                assert_eq!(outcome.skipped, None, "{text}");
                assert!(outcome.record_errors.is_empty(), "{text}");
            }
        }
    }

    #[test]
    fn a_record_with_a_digest_key_is_a_record() {
        let record = r#"{"eventVersion":"1.08","eventName":"A","eventSource":"iam.amazonaws.com","digestStartTime":"x"}"#;
        let pretty = "{\n\"eventName\": \"A\",\n\"digestEndTime\": \"y\"}";
        let cases = [
            format!("{record}\n{{\"eventName\":\"B\"}}\n"),
            format!("{{\"eventName\":\"B\"}}\n{record}\n"),
            record.to_string(),
            pretty.to_string(),
            format!("{pretty} {{\"eventName\":\"B\"}}"),
            format!("{{\"Records\":[{record}]}}"),
            r#"{"digestS3Object":"k","eventID":"1","eventName":"A"}"#.to_string(),
        ];
        for text in &cases {
            for bytes in [text.as_bytes().to_vec(), gzip(text.as_bytes())] {
                let (outcome, seen) = read(&bytes).unwrap_or_else(|e| panic!("{text}: {e}"));
                assert!(seen.contains(&"A".to_string()), "{text}: {seen:?}");
                assert_eq!(outcome.records, seen.len() as u64, "{text}");
                assert_eq!((outcome.digests, outcome.skipped), (0, None), "{text}");
            }
        }
    }

    #[test]
    fn a_record_with_an_events_key_is_a_record() {
        let record = r#"{"eventVersion":"1.08","eventName":"Outer","eventSource":"iam.amazonaws.com","Events":[{"CloudTrailEvent":"{\"eventName\":\"Inner\"}"}]}"#;
        for text in [
            format!("{record}\n"),
            format!("{record} {record}"),
            format!("[{record}]"),
        ] {
            let (outcome, seen) = read(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(seen.iter().all(|n| n == "Outer"), "{text}: {seen:?}");
            assert_eq!(outcome.records, seen.len() as u64, "{text}");
            assert!(outcome.record_errors.is_empty(), "{text}");
        }
    }

    #[test]
    fn lookup_events_with_no_events_is_a_file_of_no_records() {
        for text in [
            "{\"Events\":[]}",
            "{\"Events\":[]}\n",
            "{\n  \"Events\": [],\n  \"NextToken\": \"x\"\n}\n",
        ] {
            let (outcome, seen) = read(text.as_bytes()).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert!(seen.is_empty());
            assert_eq!((outcome.records, outcome.rejected), (0, 0), "{text}");
            assert_eq!((outcome.skipped, outcome.digests), (None, 0), "{text}");
        }
    }

    #[test]
    fn a_bad_lookup_event_rejects_that_event_only() {
        let text = r#"{"Events":[
            {"CloudTrailEvent":"{\"eventName\":\"A\"}"},
            {"EventId":"1"},
            5,
            {"CloudTrailEvent":null},
            {"CloudTrailEvent":"{}"},
            {"CloudTrailEvent":"{\"x\":1}"},
            {"CloudTrailEvent":"[1]"},
            {"CloudTrailEvent":"{\"eventName\":\"B\"}"}
        ]}"#;
        let (outcome, seen) = read(text.as_bytes()).unwrap();
        assert_eq!(seen, ["A", "B"]);
        assert_eq!((outcome.records, outcome.rejected), (2, 6));
        let errors: Vec<String> = outcome
            .record_errors
            .iter()
            .map(|e| e.to_string())
            .collect();
        assert_eq!(
            errors,
            [
                "record 1: an event without CloudTrailEvent or CloudTrail fields (keys: EventId)",
                "record 2: expected an event (a JSON object), found a number",
                "record 3: CloudTrailEvent is null, expected a string holding a record",
                "record 4: an object without CloudTrail fields (no keys)",
                "record 5: an object without CloudTrail fields (keys: x)",
                "record 6: expected a JSON object, found an array",
            ]
        );
    }

    #[test]
    fn reads_every_document_of_concatenated_files() {
        let a = r#"{"Records":[{"eventName":"A"},{"eventName":"B"}]}"#;
        let b = "{\n  \"Records\": [\n    {\"eventName\": \"C\"}\n  ]\n}\n";
        let c = "\u{feff}{\"x\":1,\"Records\":[{\"eventName\":\"D\"}]}";
        let cases: Vec<(Vec<u8>, &[&str])> = vec![
            // Multi-member gzip: `cat a.json.gz b.json.gz c.json.gz`.
            (
                [gzip(a.as_bytes()), gzip(b.as_bytes()), gzip(c.as_bytes())].concat(),
                &["A", "B", "C", "D"],
            ),
            // NDJSON of whole documents, and documents one after another.
            (format!("{a}\n{a}\n").into_bytes(), &["A", "B", "A", "B"]),
            (format!("{a}{b}{a}").into_bytes(), &["A", "B", "C", "A", "B"]),
            (
                format!("{{\"eventName\":\"Z\"}}\n{a}\n{{\"x\":1,\"Records\":[{{\"eventName\":\"Y\"}}]}}\n")
                    .into_bytes(),
                &["Z", "A", "B", "Y"],
            ),
        ];
        for (bytes, want) in cases {
            let (outcome, seen) =
                read(&bytes).unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(&bytes)));
            assert_eq!(seen, want, "{}", String::from_utf8_lossy(&bytes));
            assert!(outcome.record_errors.is_empty());
        }
    }

    /// A `Read` that makes `{"x":...,"Records":[...]}` of `n` records as it
    /// is read, and counts the bytes given out.
    struct Generated {
        n: usize,
        made: usize,
        pending: Vec<u8>,
        given: std::rc::Rc<std::cell::Cell<usize>>,
    }

    impl Read for Generated {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.pending.is_empty() {
                self.pending = match self.made {
                    0 => b"  {\"x\": {\"y\": [1, 2]},\n \"Records\": [".to_vec(),
                    i if i <= self.n => format!(
                        "{}{{\"eventName\":\"E{i}\",\"requestParameters\":{{\"pad\":\"{}\"}}}}",
                        if i > 1 { "," } else { "" },
                        "p".repeat(1000)
                    )
                    .into_bytes(),
                    i if i == self.n + 1 => b"], \"z\": null}".to_vec(),
                    _ => return Ok(0),
                };
                self.made += 1;
            }
            let k = self.pending.len().min(out.len());
            out[..k].copy_from_slice(&self.pending[..k]);
            self.pending.drain(..k);
            self.given.set(self.given.get() + k);
            Ok(k)
        }
    }

    /// A `Read` of `head`, then `fill` bytes without end; it fails past
    /// `limit` bytes, so that a reader that does not stop is caught.
    struct Endless {
        head: Vec<u8>,
        fill: u8,
        given: std::rc::Rc<std::cell::Cell<usize>>,
        limit: usize,
    }

    impl Endless {
        fn new(head: &[u8], fill: u8, limit: usize) -> Self {
            Endless {
                head: head.to_vec(),
                fill,
                given: Default::default(),
                limit,
            }
        }
    }

    impl Read for Endless {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.given.get() >= self.limit {
                return Err(io::Error::other("read past the limit of the test"));
            }
            let n = out.len().min(64 * 1024);
            let k = self.head.len().min(n);
            out[..k].copy_from_slice(&self.head[..k]);
            self.head.drain(..k);
            out[k..n].fill(self.fill);
            self.given.set(self.given.get() + n);
            Ok(n)
        }
    }

    /// The start of a text, the byte it goes on with, what the error says
    /// and where.
    type NotJsonCase<'a> = (&'a [u8], u8, &'a str, (usize, usize));

    #[test]
    fn text_that_cannot_start_json_fails_at_once() {
        let cases: &[NotJsonCase<'_>] = &[
            (b"", 0, "the text starts with byte 0x00", (1, 1)),
            (b"", b'x', "the text starts with byte 0x78 ('x')", (1, 1)),
            (
                b"\xEF\xBB\xBF\n  ",
                b'x',
                "the text starts with byte 0x78 ('x')",
                (2, 3),
            ),
            (
                b"hello",
                b' ',
                "the text starts with byte 0x68 ('h')",
                (1, 1),
            ),
        ];
        for (head, fill, needle, place) in cases {
            let input = Endless::new(head, *fill, 64 << 20);
            let given = input.given.clone();
            let err = read_log(input, &mut |_r: Record<'_>| Ok(())).unwrap_err();
            assert_eq!(err.kind, ReadErrorKind::Json, "{err}");
            assert!(err.to_string().starts_with("not JSON: "), "{err}");
            assert!(err.to_string().contains(needle), "{err}");
            assert_eq!(
                (err.line, err.column),
                (Some(place.0), Some(place.1)),
                "{err}"
            );
            assert!(given.get() <= 2 * BUFFER, "{} bytes read", given.get());
        }
        // After a first document: the byte is named where it stands.
        let err = read(b"{\"eventName\":\"A\"} \x00\x00").unwrap_err();
        assert_eq!(err.kind, ReadErrorKind::Json, "{err}");
        assert_eq!(
            err.to_string(),
            "invalid JSON: expected a value, found byte 0x00 (line 1, column 19)"
        );
    }

    /// Reads with a limit of `max` bytes on one record, parsing only
    /// `eventName` (records of an array go the one-pass way, where the
    /// limit must hold too).
    fn read_capped(input: impl Read, max: usize) -> Result<(ReadOutcome, Vec<String>), ReadError> {
        let fields = FieldSet::new(["eventName"]);
        let options = ReadOptions {
            max_record_size: max,
            fields: Some(&fields),
        };
        read_with(input, options)
    }

    #[test]
    fn a_record_over_the_size_limit_is_rejected_and_the_rest_read() {
        let big = format!("{{\"eventName\":\"X\",\"pad\":\"{}\"}}", "p".repeat(3000));
        let small = |n: &str| format!("{{\"eventName\":\"{n}\"}}");
        let (a, b) = (small("A"), small("B"));
        let cases = [
            (format!("{{\"Records\":[{a},\n{big},{b}]}}"), 1, (2, 1)),
            (format!("[{a},{b},\n {big}]"), 2, (2, 2)),
            (
                format!("{{\"Records\":[{big}]}}\n{{\"Records\":[{a},{b}]}}"),
                0,
                (1, 13),
            ),
        ];
        for (text, index, (line, column)) in cases {
            for bytes in [text.as_bytes().to_vec(), gzip(text.as_bytes())] {
                let (outcome, seen) = read_capped(&bytes[..], 1000).unwrap();
                // Parsing every field, serde's way, gives the same.
                let whole = ReadOptions {
                    max_record_size: 1000,
                    ..ReadOptions::default()
                };
                assert_eq!(
                    format!("{:?}", read_with(&bytes[..], whole)),
                    format!("{:?}", Ok::<_, ReadError>((outcome.clone(), seen.clone())))
                );
                assert_eq!(seen, ["A", "B"], "{text}");
                assert_eq!(
                    outcome.record_errors,
                    [RecordError {
                        position: RecordPosition::Index(index),
                        message: format!(
                            "too large at line {line}, column {column}: more than 1000 bytes \
                             (the limit on one record)"
                        ),
                    }],
                    "{text}"
                );
            }
        }
        // The same under the default limit is read.
        let (outcome, seen) = read(format!("{{\"Records\":[{big}]}}").as_bytes()).unwrap();
        assert_eq!((outcome.records, seen), (1, vec!["X".to_string()]));
    }

    #[test]
    fn an_endless_record_in_an_array_is_skipped_in_bounded_memory() {
        // 24 MB in one string, with a limit of 1000 bytes: the record is
        // skipped as it is read, never held.
        let text = [
            &b"{\"Records\":[{\"eventName\":\"A\"},{\"eventName\":\"X\",\"pad\":\""[..],
            &vec![b'p'; 24 << 20],
            b"\"},{\"eventName\":\"B\"}]}",
        ]
        .concat();
        let (outcome, seen) = read_capped(&text[..], 1000).unwrap();
        assert_eq!(seen, ["A", "B"]);
        assert_eq!(outcome.rejected, 1);
    }

    #[test]
    fn a_line_or_document_over_the_size_limit_fails_the_file() {
        let pad = "p".repeat(3000);
        let cases = [
            (
                format!("{{\"eventName\":\"A\"}}\n{{\"eventName\":\"X\",\"pad\":\"{pad}\"}}\n"),
                (2, 1),
            ),
            (
                format!("{{\"eventName\":\"A\"}}\n\n  {pad}\n{{\"eventName\":\"B\"}}\n"),
                (3, 1),
            ),
            (
                format!("{{\"eventName\":\"X\",\"pad\":\"{pad}\"}}\n{{\"eventName\":\"A\"}}\n"),
                (1, 1),
            ),
            (
                format!("{{\n\"eventName\":\"X\",\"pad\":\"{pad}\"}}"),
                (1, 1),
            ),
            (format!("{{\"eventName\":\"A\"}} \"{pad}\""), (1, 19)),
            (format!("{{\"x\":\"{pad}\",\"Records\":[]}}"), (1, 1)),
            (format!("{{\"Records\":[],\"x\":\"{pad}\"}}"), (1, 19)),
            (
                format!("{{\"Events\":[{{\"CloudTrailEvent\":\"{pad}\"}}]}}"),
                (1, 1),
            ),
        ];
        for (text, place) in cases {
            for bytes in [text.as_bytes().to_vec(), gzip(text.as_bytes())] {
                let err = read_capped(&bytes[..], 1000).unwrap_err();
                assert_eq!(err.kind, ReadErrorKind::TooLarge, "{text}: {err}");
                assert_eq!(
                    (err.line, err.column),
                    (Some(place.0), Some(place.1)),
                    "{text}: {err}"
                );
                assert!(
                    err.to_string().starts_with(
                        "too large: more than 1000 bytes in one record, NDJSON line or document"
                    ),
                    "{err}"
                );
            }
        }
    }

    #[test]
    fn an_endless_line_or_document_fails_once_past_the_limit() {
        for (head, fill) in [
            (&b"{\"eventName\":\"A\"}\n"[..], b'x'),
            (
                b"{\"eventName\":\"A\"}\n{\"eventName\":\"B\",\"x\":\"",
                b'x',
            ),
            (b"{\"eventName\":\"A\",\"x\":\"", b'x'),
            (b"{\"eventName\":\"A\"", b' '),
            (b"{\"eventName\":\"A\"}", b' '),
            (b"{\"eventName\":\"A\"} 1", b'1'),
        ] {
            let input = Endless::new(head, fill, 64 << 20);
            let given = input.given.clone();
            let err = read_capped(input, 100_000).unwrap_err();
            assert_eq!(err.kind, ReadErrorKind::TooLarge, "{err}");
            assert!(
                given.get() <= 100_000 + 2 * BUFFER,
                "{} bytes read",
                given.get()
            );
        }
    }

    #[test]
    fn records_after_other_keys_are_streamed() {
        let given = std::rc::Rc::new(std::cell::Cell::new(0));
        let input = Generated {
            n: 8000,
            made: 0,
            pending: Vec::new(),
            given: given.clone(),
        };
        let mut read_at_first = None;
        let mut count = 0;
        let outcome = read_log(input, &mut |r: Record<'_>| {
            read_at_first.get_or_insert(given.get());
            assert_eq!(
                r.value.member("eventName").unwrap(),
                &format!("E{}", count + 1)
            );
            count += 1;
            Ok(())
        })
        .unwrap();
        assert_eq!((outcome.records, count), (8000, 8000));
        assert_eq!(outcome.layout, Layout::RecordsObject);
        // 8 MB in all; the first record arrives after one read, not all of it.
        let first = read_at_first.unwrap();
        assert!(
            first <= 2 * BUFFER,
            "{first} bytes read before the first record"
        );
    }

    #[test]
    fn invalid_utf8_in_an_unread_field_rejects_the_record() {
        let fields = FieldSet::new(["eventName"]);
        let options = ReadOptions {
            fields: Some(&fields),
            ..ReadOptions::default()
        };
        let bad = b"{\"eventName\":\"B\",\"requestParameters\":{\"k\":\"\xff\"}}";
        let texts: Vec<(Vec<u8>, RecordPosition, &str)> = vec![
            (
                [
                    &b"{\"Records\":[{\"eventName\":\"A\"},\n"[..],
                    bad,
                    b",{\"eventName\":\"C\"}]}",
                ]
                .concat(),
                RecordPosition::Index(1),
                "invalid UTF-8 at line 2, column 44",
            ),
            (
                [
                    &b"{\"eventName\":\"A\"}\n"[..],
                    bad,
                    b"\n{\"eventName\":\"C\"}\n",
                ]
                .concat(),
                RecordPosition::Line(2),
                "invalid UTF-8 at column 44",
            ),
            (
                [
                    &b"{\"eventName\":\"A\"} "[..],
                    bad,
                    b" {\"eventName\":\"C\"}",
                ]
                .concat(),
                RecordPosition::Index(1),
                "invalid UTF-8 at line 1, column 62",
            ),
        ];
        for (text, position, message) in texts {
            let mut seen = Vec::new();
            let outcome = read_log_with(&text[..], &options, &mut |r: Record<'_>| {
                assert!(std::str::from_utf8(r.raw).is_ok());
                seen.push(
                    r.value
                        .member("eventName")
                        .and_then(Value::as_str)
                        .unwrap()
                        .to_string(),
                );
                Ok(())
            })
            .unwrap();
            assert_eq!(seen, ["A", "C"], "{}", String::from_utf8_lossy(&text));
            assert_eq!(
                outcome.record_errors,
                vec![RecordError {
                    position,
                    message: message.into()
                }]
            );
        }
    }

    #[test]
    fn utf16_and_utf32_text_is_named() {
        let text = r#"{"Records":[]}"#;
        let le: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        let be: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
        let le32: Vec<u8> = text
            .chars()
            .flat_map(|c| (c as u32).to_le_bytes())
            .collect();
        let cases: [(Vec<u8>, &str); 5] = [
            ([&[0xFF, 0xFE][..], &le].concat(), "UTF-16 (little-endian)"),
            ([&[0xFE, 0xFF][..], &be].concat(), "UTF-16 (big-endian)"),
            (le.clone(), "UTF-16 (little-endian)"),
            (be, "UTF-16 (big-endian)"),
            (le32, "UTF-32 (little-endian)"),
        ];
        for (bytes, encoding) in cases {
            for bytes in [bytes.clone(), gzip(&bytes)] {
                let err = read(&bytes).unwrap_err();
                assert_eq!(err.kind, ReadErrorKind::Json);
                assert!(
                    err.to_string().contains(encoding) && err.to_string().contains("UTF-8"),
                    "{err}"
                );
            }
        }
    }

    #[test]
    fn the_first_line_is_told_apart_across_reads() {
        let pad = " ".repeat(600_000);
        let lines = format!("{{\"eventName\":\"A\"}}{pad}\n{{\"eventName\":\"B\"}}\n");
        let (outcome, seen) = read(lines.as_bytes()).unwrap();
        assert_eq!(
            (outcome.layout, seen),
            (Layout::Lines, vec!["A".into(), "B".into()])
        );
        let documents = format!("{{\"eventName\":\"A\"}}{pad}{{\"eventName\":\"B\"}}\n");
        let (outcome, seen) = read(documents.as_bytes()).unwrap();
        assert_eq!(
            (outcome.layout, seen),
            (Layout::Document, vec!["A".into(), "B".into()])
        );
    }

    #[test]
    fn a_broken_document_on_an_ndjson_line_is_named_and_the_next_lines_read() {
        let text = "{\"eventName\":\"A\"}\n{\"Records\":[{\"eventName\":\"B\"} {\"eventName\":\"X\"}]}\n{\"Records\":5}\n{\"eventName\":\"C\"}\n";
        let (outcome, seen) = read(text.as_bytes()).unwrap();
        assert_eq!(seen, ["A", "B", "C"]);
        let places: Vec<_> = outcome.record_errors.iter().map(|e| e.position).collect();
        assert_eq!(
            places,
            [RecordPosition::Line(2), RecordPosition::Line(3)],
            "{:?}",
            outcome.record_errors
        );
        assert!(
            outcome.record_errors[0]
                .message
                .contains("(line 2, column 31)"),
            "{:?}",
            outcome.record_errors
        );
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
                if r.value.member("eventName").unwrap() == "B" {
                    return Err(Rejected {
                        message: "cannot rewrite".into(),
                    }
                    .into());
                }
                seen.push(
                    r.value
                        .member("eventName")
                        .and_then(Value::as_str)
                        .unwrap()
                        .to_string(),
                );
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
