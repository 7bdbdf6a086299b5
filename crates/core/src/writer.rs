//! Writing enriched records as gzipped (or zstd-compressed) NDJSON.
//!
//! A record that no rule changed is written as its original bytes, compacted
//! to one line. Added fields are spliced in before the closing brace, so the
//! record's own bytes are never re-serialized. A record that already has a
//! field a rule sets, or one that a rule overwrites, is rewritten at the byte
//! level: every member is copied as its (compacted) bytes, an existing output
//! field's value is replaced where it stands, and only the members an
//! `overwrite` path goes through are taken apart. So every field the record
//! had is kept, byte for byte where nothing changed (numbers such as `-0`,
//! `1e400` or 29-digit integers keep their text), whatever serde could parse.

use crate::enrichment::{Enrichment, OutputValue};
use crate::json::{compact_into, key_text, Cursor};
use crate::path::{set_from, PathSegment};
use crate::reader::Record;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::Value;
use std::fmt;
use std::io::{self, Write};

/// Bytes gathered before each write to the compressor: many small writes
/// into a gzip encoder are slow.
const CHUNK: usize = 128 * 1024;

/// Why a record could not be written faithfully. The writer returns it
/// inside an [`io::Error`] (kind `InvalidData`); a sink that hands that error
/// back to the reader gets the record rejected, with its place, and the rest
/// of the file read (see [`Rejected::of`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub message: String,
}

impl Rejected {
    /// The rejection an I/O error carries, if it is one.
    pub fn of(e: &io::Error) -> Option<&Rejected> {
        e.get_ref()?.downcast_ref::<Rejected>()
    }
}

impl fmt::Display for Rejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Rejected {}

impl From<Rejected> for io::Error {
    fn from(r: Rejected) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, r)
    }
}

/// Appends one enriched record, and a newline, to `out`.
///
/// `record.value` may hold only some fields (see
/// [`ReadOptions::fields`](crate::reader::ReadOptions::fields)), but must
/// hold every top-level field the enrichment adds, so that an existing one is
/// replaced rather than repeated.
///
/// A record whose bytes are not a JSON object (the reader never hands over
/// one) is not written: `out` is left as it was and the error is a
/// [`Rejected`].
pub fn write_enriched(
    record: &Record<'_>,
    enrichment: &Enrichment,
    out: &mut Vec<u8>,
) -> io::Result<()> {
    let raw = record.raw;
    let copy_raw = |out: &mut Vec<u8>| {
        if record.compact {
            out.extend_from_slice(raw);
        } else {
            compact_into(raw, out);
        }
    };
    let start = out.len();
    let splice = enrichment.overwrites.is_empty()
        && enrichment
            .output_field_refs()
            .all(|(name, _)| record.value.member(name).is_none());
    if splice {
        copy_raw(out);
        if !enrichment.is_empty() {
            if out.last() != Some(&b'}') {
                out.truncate(start);
                return Err(not_an_object(start).into());
            }
            out.pop();
            // Empty as written, not as parsed: a projected value may be empty
            // while the record is not.
            let mut first = out.last() == Some(&b'{');
            for (name, value) in enrichment.output_field_refs() {
                if !first {
                    out.push(b',');
                }
                first = false;
                write_member(out, name, value);
            }
            out.push(b'}');
            debug_assert!(serde_json::from_slice::<serde::de::IgnoredAny>(&out[start..]).is_ok());
        }
    } else if let Err(at) = rewrite(raw, enrichment, out) {
        out.truncate(start);
        return Err(not_an_object(at).into());
    }
    out.push(b'\n');
    Ok(())
}

fn not_an_object(at: usize) -> Rejected {
    Rejected {
        message: format!(
            "cannot rewrite the record: its bytes are not a JSON object (at byte {at})"
        ),
    }
}

fn write_member(out: &mut Vec<u8>, name: &str, value: OutputValue<'_>) {
    serde_json::to_writer(&mut *out, name).expect("writing to a Vec cannot fail");
    out.push(b':');
    serde_json::to_writer(&mut *out, &value).expect("writing to a Vec cannot fail");
}

/// An overwrite on its way down: the segments left, and the new value.
type Pending<'e> = (&'e [PathSegment], &'e Value);

/// Rewrites the record `raw` at the byte level (see the module docs).
/// Errors give the offset where the bytes stop being a JSON object.
fn rewrite(raw: &[u8], enrichment: &Enrichment, out: &mut Vec<u8>) -> Result<(), usize> {
    let fields: Vec<(&str, OutputValue<'_>)> = enrichment.output_field_refs().collect();
    let mut written = vec![false; fields.len()];
    let paths: Vec<Pending<'_>> = enrichment
        .overwrites
        .iter()
        .map(|(p, v)| (p.segments(), v))
        .collect();
    let mut c = Cursor::new(raw);
    c.eat(b'{')?;
    out.push(b'{');
    let mut first = true;
    if c.peek() == Some(b'}') {
        c.at += 1;
    } else {
        loop {
            let (ks, ke) = c.string()?;
            c.eat(b':')?;
            let (vs, ve) = c.value()?;
            let key = key_text(&raw[ks..ke]);
            match key
                .as_deref()
                .and_then(|k| fields.iter().position(|(n, _)| *n == k))
            {
                // An output field the record holds: replaced where it stands
                // (a repeat of it is not written twice).
                Some(f) => {
                    if !written[f] {
                        written[f] = true;
                        if !first {
                            out.push(b',');
                        }
                        first = false;
                        write_member(out, fields[f].0, fields[f].1);
                    }
                }
                None => {
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    out.extend_from_slice(&raw[ks..ke]);
                    out.push(b':');
                    let below = key_paths(&paths, key.as_deref());
                    member(raw, (vs, ve), &below, out)?;
                }
            }
            if !c.separator(b'}')? {
                break;
            }
        }
    }
    if c.peek().is_some() {
        return Err(c.at);
    }
    for ((name, value), done) in fields.iter().zip(&written) {
        if !done {
            if !first {
                out.push(b',');
            }
            first = false;
            write_member(out, name, *value);
        }
    }
    out.push(b'}');
    Ok(())
}

/// The overwrites that go on through the member `key`.
fn key_paths<'e>(paths: &[Pending<'e>], key: Option<&str>) -> Vec<Pending<'e>> {
    let Some(key) = key else {
        return Vec::new();
    };
    paths
        .iter()
        .filter_map(|(segs, v)| match segs.split_first() {
            Some((PathSegment::Key(k), rest)) if &**k == key => Some((rest, *v)),
            _ => None,
        })
        .collect()
}

/// Writes the value at `raw[s..e]` with the overwrites that reach into it,
/// in the order the rules gave them: set_path's semantics, byte by byte.
fn member(
    raw: &[u8],
    (s, e): (usize, usize),
    paths: &[Pending<'_>],
    out: &mut Vec<u8>,
) -> Result<(), usize> {
    if paths.is_empty() {
        compact_into(&raw[s..e], out);
        return Ok(());
    }
    // The last overwrite that replaces this value wins over those before it,
    // and those after it apply to the new value.
    if let Some(j) = paths.iter().rposition(|(segs, _)| segs.is_empty()) {
        let mut value = paths[j].1.clone();
        for (segs, v) in &paths[j + 1..] {
            set_from(segs, &mut value, v);
        }
        serde_json::to_writer(&mut *out, &value).expect("writing to a Vec cannot fail");
        return Ok(());
    }
    let mut c = Cursor::new(&raw[..e]);
    c.at = s;
    match raw[s] {
        b'{' => {
            c.eat(b'{')?;
            out.push(b'{');
            if c.peek() != Some(b'}') {
                let mut first = true;
                loop {
                    let (ks, ke) = c.string()?;
                    c.eat(b':')?;
                    let value = c.value()?;
                    if !first {
                        out.push(b',');
                    }
                    first = false;
                    out.extend_from_slice(&raw[ks..ke]);
                    out.push(b':');
                    let below = key_paths(paths, key_text(&raw[ks..ke]).as_deref());
                    member(raw, value, &below, out)?;
                    if !c.separator(b'}')? {
                        break;
                    }
                }
            }
            out.push(b'}');
        }
        b'[' => {
            c.eat(b'[')?;
            out.push(b'[');
            if c.peek() != Some(b']') {
                let mut index = 0usize;
                loop {
                    let value = c.value()?;
                    if index > 0 {
                        out.push(b',');
                    }
                    let below: Vec<Pending<'_>> = paths
                        .iter()
                        .filter_map(|(segs, v)| match segs.split_first() {
                            Some((PathSegment::Each, rest)) => Some((rest, *v)),
                            Some((PathSegment::Index(i), rest)) if *i == index => Some((rest, *v)),
                            _ => None,
                        })
                        .collect();
                    member(raw, value, &below, out)?;
                    index += 1;
                    if !c.separator(b']')? {
                        break;
                    }
                }
            }
            out.push(b']');
        }
        // A value of another shape than the path expects is left alone.
        _ => compact_into(&raw[s..e], out),
    }
    Ok(())
}

/// How output files are compressed (`--compression`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Codec {
    /// gzip (RFC 1952), what CloudTrail itself writes: the default.
    #[default]
    Gzip,
    /// Zstandard (RFC 8878): smaller and faster, for readers that take it.
    Zstd,
}

impl Codec {
    /// The suffix of an output file's name.
    pub fn extension(self) -> &'static str {
        match self {
            Codec::Gzip => ".gz",
            Codec::Zstd => ".zst",
        }
    }

    /// The level used when none is given: gzip 6, zstd 3 (zstd's own default).
    pub fn default_level(self) -> u32 {
        match self {
            Codec::Gzip => 6,
            Codec::Zstd => 3,
        }
    }

    /// The media type of an output object.
    pub fn content_type(self) -> &'static str {
        match self {
            Codec::Gzip => "application/gzip",
            Codec::Zstd => "application/zstd",
        }
    }
}

enum Encoder<W: Write> {
    Gzip(GzEncoder<W>),
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

/// Gzipped (or zstd-compressed) NDJSON output of enriched records.
pub struct EnrichedWriter<W: Write> {
    encoder: Encoder<W>,
    buffer: Vec<u8>,
    records: u64,
}

impl<W: Write> EnrichedWriter<W> {
    /// gzip output; `level` is the gzip level, 0 (store) to 9 (smallest).
    pub fn new(inner: W, level: u32) -> Self {
        Self::with_encoder(Encoder::Gzip(GzEncoder::new(
            inner,
            Compression::new(level.min(9)),
        )))
    }

    /// Output compressed with `codec` at `level`: gzip 0 (store) to 9
    /// (smallest); zstd 1 (fastest) to 22, 0 meaning zstd's default (3).
    pub fn with_codec(inner: W, codec: Codec, level: u32) -> io::Result<Self> {
        Ok(match codec {
            Codec::Gzip => Self::new(inner, level),
            Codec::Zstd => {
                let level = level.min(22) as i32;
                Self::with_encoder(Encoder::Zstd(zstd::stream::write::Encoder::new(
                    inner, level,
                )?))
            }
        })
    }

    fn with_encoder(encoder: Encoder<W>) -> Self {
        EnrichedWriter {
            encoder,
            buffer: Vec::with_capacity(CHUNK + 64 * 1024),
            records: 0,
        }
    }

    fn flush_buffer(&mut self) -> io::Result<()> {
        match &mut self.encoder {
            Encoder::Gzip(e) => e.write_all(&self.buffer),
            Encoder::Zstd(e) => e.write_all(&self.buffer),
        }
    }

    /// Writes one record; an error that [`Rejected::of`] recognises means
    /// this record could not be written (and nothing of it was).
    pub fn write(&mut self, record: &Record<'_>, enrichment: &Enrichment) -> io::Result<()> {
        write_enriched(record, enrichment, &mut self.buffer)?;
        self.records += 1;
        if self.buffer.len() >= CHUNK {
            self.flush_buffer()?;
            self.buffer.clear();
        }
        Ok(())
    }

    pub fn records(&self) -> u64 {
        self.records
    }

    /// Flushes and ends the compressed stream, giving back the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.flush_buffer()?;
        match self.encoder {
            Encoder::Gzip(e) => e.finish(),
            Encoder::Zstd(e) => e.finish(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::{FieldPath, PathSegment};
    use crate::reader::RecordPosition;
    use serde_json::json;
    use std::sync::Arc;

    fn record<'a>(raw: &'a str, value: &'a Value) -> Record<'a> {
        Record {
            raw: raw.as_bytes(),
            value,
            position: RecordPosition::Index(0),
            compact: false,
        }
    }

    fn line(raw: &str, enr: &Enrichment) -> String {
        let value: Value = serde_json::from_str(raw).unwrap();
        let mut out = Vec::new();
        write_enriched(&record(raw, &value), enr, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    fn with_field(name: &str, v: Value) -> Enrichment {
        let mut e = Enrichment::default();
        *e.field_mut(&Arc::from(name)) = v;
        e
    }

    #[test]
    fn unchanged_records_keep_their_bytes_on_one_line() {
        assert_eq!(
            line("{ \"b\": 2,\n \"a\" : \"x y\" }", &Enrichment::default()),
            "{\"b\":2,\"a\":\"x y\"}\n"
        );
    }

    #[test]
    fn fields_are_spliced_before_the_closing_brace() {
        let mut e = with_field("xpriority", json!("HIGH"));
        e.rules.push(Arc::from("iam"));
        e.add_tag(&Arc::from("t"));
        assert_eq!(
            line("{\"eventName\":\"CreateUser\", \"n\": 1.50}", &e),
            "{\"eventName\":\"CreateUser\",\"n\":1.50,\"xpriority\":\"HIGH\",\"xtags\":[\"t\"],\"xrules\":[\"iam\"]}\n"
        );
        assert_eq!(
            line("{}", &e),
            "{\"xpriority\":\"HIGH\",\"xtags\":[\"t\"],\"xrules\":[\"iam\"]}\n"
        );
    }

    #[test]
    fn an_existing_field_is_replaced_in_place() {
        let e = with_field("xpriority", json!("LOW"));
        assert_eq!(
            line(r#"{"a":1,"xpriority":"HIGH","b":2}"#, &e),
            "{\"a\":1,\"xpriority\":\"LOW\",\"b\":2}\n"
        );
    }

    #[test]
    fn overwrites_see_the_whole_record_when_only_some_fields_were_parsed() {
        let mut e = with_field("xpriority", json!("HIGH"));
        e.overwrites
            .push((FieldPath::keys("userIdentity.arn"), json!("hidden")));
        let raw = r#"{"userIdentity":{"arn":"a"},"requestParameters":{"k":1}}"#;
        let projected = json!({"userIdentity": {"arn": "a"}});
        let mut out = Vec::new();
        write_enriched(&record(raw, &projected), &e, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"userIdentity\":{\"arn\":\"hidden\"},\"requestParameters\":{\"k\":1},\"xpriority\":\"HIGH\"}\n"
        );
    }

    #[test]
    fn compact_records_are_copied_as_they_are() {
        let raw = r#"{"a":"x  y"}"#;
        let value = json!({"a": "x  y"});
        let mut rec = record(raw, &value);
        rec.compact = true;
        let mut out = Vec::new();
        write_enriched(&rec, &Enrichment::default(), &mut out).unwrap();
        assert_eq!(out, b"{\"a\":\"x  y\"}\n");
    }

    #[test]
    fn overwrites_change_nested_fields() {
        let mut e = Enrichment::default();
        e.overwrites.push((
            FieldPath::keys("userIdentity.accessKeyId"),
            json!("redacted"),
        ));
        assert_eq!(
            line(
                r#"{"userIdentity":{"type":"IAMUser","accessKeyId":"AKIA"},"z":1}"#,
                &e
            ),
            "{\"userIdentity\":{\"type\":\"IAMUser\",\"accessKeyId\":\"redacted\"},\"z\":1}\n"
        );
    }

    /// Writes `raw` (with `projected` as its parsed value) and gives the line.
    fn line_of(raw: &str, projected: &Value, e: &Enrichment) -> String {
        let mut out = Vec::new();
        write_enriched(&record(raw, projected), e, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_rewritten_record_keeps_every_field_serde_rejects() {
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        let raw = format!(
            r#"{{"eventVersion":"1.08", "eventName":"GetObject","userIdentity":{{"type":"IAMUser","accessKeyId":"AKIA"}},"requestParameters":{{"v":1e400,"z":-0,"n":12345678901234567890123456789,"s":"\ud800","d":{deep}}}}}"#
        );
        let projected = json!({"eventName": "GetObject", "userIdentity": {"type": "IAMUser", "accessKeyId": "AKIA"}});
        let mut e = Enrichment::default();
        e.overwrites
            .push((FieldPath::keys("userIdentity.accessKeyId"), json!("X")));
        e.rules.push(Arc::from("redact"));
        let want = format!(
            r#"{{"eventVersion":"1.08","eventName":"GetObject","userIdentity":{{"type":"IAMUser","accessKeyId":"X"}},"requestParameters":{{"v":1e400,"z":-0,"n":12345678901234567890123456789,"s":"\ud800","d":{deep}}},"xrules":["redact"]}}"#
        );
        assert_eq!(line_of(&raw, &projected, &e), want + "\n");
    }

    #[test]
    fn an_output_field_from_an_earlier_run_is_replaced_keeping_the_rest() {
        let raw = r#"{"eventName":"A", "xrules":["old"], "responseElements":{"n":1e400,"m":1.50}}"#;
        let projected = json!({"eventName": "A", "xrules": ["old"]});
        let mut e = Enrichment::default();
        e.rules.push(Arc::from("new"));
        assert_eq!(
            line_of(raw, &projected, &e),
            "{\"eventName\":\"A\",\"xrules\":[\"new\"],\"responseElements\":{\"n\":1e400,\"m\":1.50}}\n"
        );
    }

    #[test]
    fn fields_are_spliced_after_fields_the_projection_left_out() {
        // The rules read none of the record's fields: the parsed value is empty.
        let mut e = Enrichment::default();
        e.rules.push(Arc::from("r"));
        assert_eq!(
            line_of(r#"{"eventTime":"t"}"#, &json!({}), &e),
            "{\"eventTime\":\"t\",\"xrules\":[\"r\"]}\n"
        );
    }

    #[test]
    fn overwrites_follow_set_path_through_arrays_and_shapes() {
        let each = |k: &str| {
            FieldPath::new(vec![
                PathSegment::Key("r".into()),
                PathSegment::Each,
                PathSegment::Key(k.into()),
            ])
        };
        let second = FieldPath::new(vec![
            PathSegment::Key("r".into()),
            PathSegment::Index(1),
            PathSegment::Key("j".into()),
        ]);
        let mut e = Enrichment::default();
        e.overwrites.push((each("k"), json!(0)));
        e.overwrites.push((second, json!("two")));
        e.overwrites.push((FieldPath::keys("s.t"), json!(true)));
        e.overwrites.push((FieldPath::keys("x.y"), json!(true)));
        e.overwrites.push((FieldPath::keys("o"), json!({"a": 1})));
        e.overwrites.push((FieldPath::keys("o.a"), json!(2)));
        let raw = r#"{"r":[{"k":1},{"j":2, "k" : 1e999},3],"s":"text","o":null,"n":-0}"#;
        assert_eq!(
            line_of(raw, &json!({}), &e),
            "{\"r\":[{\"k\":0},{\"j\":\"two\",\"k\":0},3],\"s\":\"text\",\"o\":{\"a\":2},\"n\":-0}\n"
        );
    }

    #[test]
    fn every_repeat_of_an_overwritten_key_is_replaced() {
        let mut e = Enrichment::default();
        e.overwrites.push((FieldPath::keys("u.arn"), json!("X")));
        assert_eq!(
            line_of(r#"{"u":{"arn":"a","arn":"b"}}"#, &json!({}), &e),
            "{\"u\":{\"arn\":\"X\",\"arn\":\"X\"}}\n"
        );
    }

    #[test]
    fn bytes_that_are_not_an_object_are_rejected_not_written() {
        let mut e = Enrichment::default();
        e.overwrites.push((FieldPath::keys("a"), json!(1)));
        for raw in [
            r#"{"a":1"#,
            "[1]",
            r#"{"a" 1}"#,
            r#"{"a":"#,
            r#"{"a":1} x"#,
            "",
        ] {
            let mut out = b"before\n".to_vec();
            let err = write_enriched(&record(raw, &json!({"a": 1})), &e, &mut out).unwrap_err();
            assert!(Rejected::of(&err).is_some(), "{raw}: {err}");
            assert_eq!(out, b"before\n", "{raw}");
        }
    }

    #[test]
    fn writer_output_is_gzipped_ndjson() {
        let mut w = EnrichedWriter::new(Vec::new(), 6);
        let v = json!({"a": 1});
        w.write(&record("{\"a\": 1}", &v), &Enrichment::default())
            .unwrap();
        w.write(&record("{\"a\": 1}", &v), &with_field("x", json!(true)))
            .unwrap();
        let gz = w.finish().unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text)
            .unwrap();
        assert_eq!(text, "{\"a\":1}\n{\"a\":1,\"x\":true}\n");
    }

    #[test]
    fn writer_output_is_zstd_ndjson_at_any_level() {
        for level in [0, 1, 3, 9] {
            let mut w = EnrichedWriter::with_codec(Vec::new(), Codec::Zstd, level).unwrap();
            let v = json!({"a": 1});
            // More than one chunk, so the encoder is written to more than once.
            let n = CHUNK / 8 + 10;
            for _ in 0..n {
                w.write(&record("{\"a\": 1}", &v), &with_field("x", json!(true)))
                    .unwrap();
            }
            assert_eq!(w.records(), n as u64);
            let zst = w.finish().unwrap();
            assert!(zst.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]));
            let text = String::from_utf8(zstd::stream::decode_all(&zst[..]).unwrap()).unwrap();
            assert_eq!(text, "{\"a\":1,\"x\":true}\n".repeat(n), "level {level}");
        }
    }
}
