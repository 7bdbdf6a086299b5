//! Writing enriched records as gzipped NDJSON.
//!
//! A record that no rule changed is written as its original bytes, compacted
//! to one line. Added fields are spliced in before the closing brace, so the
//! record's own bytes are never re-serialized. Only a record that already has
//! a field a rule sets, or one that a rule overwrites, goes through
//! serde_json (key order is kept).

use crate::enrichment::Enrichment;
use crate::json::compact_into;
use crate::path::set_path;
use crate::reader::Record;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::Value;
use std::io::{self, Write};

/// Bytes gathered before each write to the compressor: many small writes
/// into a gzip encoder are slow.
const CHUNK: usize = 128 * 1024;

/// Appends one enriched record, and a newline, to `out`.
///
/// `record.value` may hold only some fields (see
/// [`ReadOptions::fields`](crate::reader::ReadOptions::fields)), but must
/// hold every top-level field the enrichment adds, so that an existing one is
/// replaced rather than repeated.
pub fn write_enriched(record: &Record<'_>, enrichment: &Enrichment, out: &mut Vec<u8>) {
    let raw = record.raw;
    let copy_raw = |out: &mut Vec<u8>| {
        if record.compact {
            out.extend_from_slice(raw);
        } else {
            compact_into(raw, out);
        }
    };
    let Some(object) = record.value.as_object() else {
        copy_raw(out);
        out.push(b'\n');
        return;
    };
    let splice = enrichment.overwrites.is_empty()
        && enrichment
            .output_field_refs()
            .all(|(name, _)| !object.contains_key(name));
    if splice {
        let start = out.len();
        copy_raw(out);
        let mut first = object.is_empty();
        if enrichment.is_empty() || out.last() != Some(&b'}') {
            out.push(b'\n');
            return;
        }
        out.pop();
        for (name, value) in enrichment.output_field_refs() {
            if !first {
                out.push(b',');
            }
            first = false;
            serde_json::to_writer(&mut *out, name).expect("writing to a Vec cannot fail");
            out.push(b':');
            serde_json::to_writer(&mut *out, &value).expect("writing to a Vec cannot fail");
        }
        out.push(b'}');
        debug_assert!(serde_json::from_slice::<Value>(&out[start..]).is_ok());
    } else {
        // The whole record, not just the fields the rules read.
        let mut copy: Value = serde_json::from_slice(raw).unwrap_or_else(|_| record.value.clone());
        for (path, value) in &enrichment.overwrites {
            set_path(&mut copy, path, value);
        }
        if let Some(map) = copy.as_object_mut() {
            for (name, value) in enrichment.output_fields() {
                map.insert(name.to_string(), value);
            }
        }
        serde_json::to_writer(&mut *out, &copy).expect("writing to a Vec cannot fail");
    }
    out.push(b'\n');
}

/// Gzipped NDJSON output of enriched records.
pub struct EnrichedWriter<W: Write> {
    encoder: GzEncoder<W>,
    buffer: Vec<u8>,
    records: u64,
}

impl<W: Write> EnrichedWriter<W> {
    /// `level` is the gzip level, 0 (store) to 9 (smallest).
    pub fn new(inner: W, level: u32) -> Self {
        EnrichedWriter {
            encoder: GzEncoder::new(inner, Compression::new(level.min(9))),
            buffer: Vec::with_capacity(CHUNK + 64 * 1024),
            records: 0,
        }
    }

    pub fn write(&mut self, record: &Record<'_>, enrichment: &Enrichment) -> io::Result<()> {
        write_enriched(record, enrichment, &mut self.buffer);
        self.records += 1;
        if self.buffer.len() >= CHUNK {
            self.encoder.write_all(&self.buffer)?;
            self.buffer.clear();
        }
        Ok(())
    }

    pub fn records(&self) -> u64 {
        self.records
    }

    /// Flushes and ends the gzip stream, giving back the inner writer.
    pub fn finish(mut self) -> io::Result<W> {
        self.encoder.write_all(&self.buffer)?;
        self.encoder.finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::FieldPath;
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
        write_enriched(&record(raw, &value), enr, &mut out);
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
        write_enriched(&record(raw, &projected), &e, &mut out);
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
        write_enriched(&rec, &Enrichment::default(), &mut out);
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
}
