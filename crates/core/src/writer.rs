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
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::Value;
use std::io::{self, Write};

/// Bytes gathered before each write to the compressor: many small writes
/// into a gzip encoder are slow.
const CHUNK: usize = 128 * 1024;

/// Appends one enriched record, and a newline, to `out`.
pub fn write_enriched(raw: &[u8], record: &Value, enrichment: &Enrichment, out: &mut Vec<u8>) {
    let Some(object) = record.as_object() else {
        compact_into(raw, out);
        out.push(b'\n');
        return;
    };
    let splice = enrichment.overwrites.is_empty()
        && enrichment
            .output_field_refs()
            .all(|(name, _)| !object.contains_key(name));
    if splice {
        let start = out.len();
        compact_into(raw, out);
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
        let mut copy = record.clone();
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

    pub fn write(&mut self, raw: &[u8], record: &Value, enrichment: &Enrichment) -> io::Result<()> {
        write_enriched(raw, record, enrichment, &mut self.buffer);
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
    use serde_json::json;
    use std::sync::Arc;

    fn line(raw: &str, enr: &Enrichment) -> String {
        let value: Value = serde_json::from_str(raw).unwrap();
        let mut out = Vec::new();
        write_enriched(raw.as_bytes(), &value, enr, &mut out);
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
        w.write(b"{\"a\": 1}", &v, &Enrichment::default()).unwrap();
        w.write(b"{\"a\": 1}", &v, &with_field("x", json!(true)))
            .unwrap();
        let gz = w.finish().unwrap();
        let mut text = String::new();
        std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz[..]), &mut text)
            .unwrap();
        assert_eq!(text, "{\"a\":1}\n{\"a\":1,\"x\":true}\n");
    }
}
