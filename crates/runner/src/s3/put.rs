//! Output objects in S3: gzipped (or zstd) NDJSON at the input's relative key under
//! the output prefix, written in one PUT, so an object is complete or absent.
//! Each carries, in its metadata, what it was made from: the source object
//! and its ETag, and the rules version, so the output says what is done.

use super::fault::job_error;
use super::{S3Options, S3Url};
use crate::report::{JobError, Stage};
use crate::sink::spill::{Body, Spill};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;
use aws_smithy_types::byte_stream::Length;
use std::io::Seek;

/// Attempts at a PUT whose body is a spill file (see [`S3Sink::put`]).
const PUT_ATTEMPTS: u32 = 4;

/// Metadata keys on every output object (`x-amz-meta-...`).
pub const META_SOURCE: &str = "ctrules-source";
pub const META_SOURCE_ETAG: &str = "ctrules-source-etag";
pub const META_RULES_VERSION: &str = "ctrules-rules-version";

/// Where outputs go in S3.
#[derive(Debug, Clone)]
pub struct S3Sink {
    pub client: aws_sdk_s3::Client,
    pub url: S3Url,
    pub codec: ctrules_core::Codec,
    pub compression_level: u32,
    pub sse: Option<ServerSideEncryption>,
    pub sse_kms_key_id: Option<String>,
}

/// What an output was made from.
#[derive(Debug, Clone, Default)]
pub struct Provenance {
    /// The source, as `s3://bucket/key` or a local path.
    pub source: String,
    /// The source's version: its ETag, or `size:mtime` for a local file.
    pub source_version: String,
    pub rules_version: String,
}

impl S3Sink {
    pub fn new(
        client: aws_sdk_s3::Client,
        url: S3Url,
        options: &S3Options,
        codec: ctrules_core::Codec,
        compression_level: u32,
    ) -> Result<S3Sink, String> {
        let sse = match options.sse.as_deref() {
            None => None,
            Some("AES256") => Some(ServerSideEncryption::Aes256),
            Some("aws:kms") => Some(ServerSideEncryption::AwsKms),
            Some("aws:kms:dsse") => Some(ServerSideEncryption::AwsKmsDsse),
            Some(other) => {
                return Err(format!(
                    "--sse {other}: expected AES256, aws:kms or aws:kms:dsse"
                ))
            }
        };
        if options.sse_kms_key_id.is_some()
            && !matches!(
                sse,
                Some(ServerSideEncryption::AwsKms | ServerSideEncryption::AwsKmsDsse)
            )
        {
            return Err("--sse-kms-key-id needs --sse aws:kms".into());
        }
        Ok(S3Sink {
            client,
            url,
            codec,
            compression_level,
            sse,
            sse_kms_key_id: options.sse_kms_key_id.clone(),
        })
    }

    pub fn compression_level(&self) -> u32 {
        self.compression_level
    }

    /// The key of the output at `relative` (an output name, `.gz` and all).
    pub fn key(&self, relative: &std::path::Path) -> Result<String, JobError> {
        let relative = relative.to_str().ok_or_else(|| {
            JobError::new(
                Stage::Write,
                false,
                "its name is not UTF-8, and an S3 key must be",
            )
        })?;
        Ok(format!("{}{relative}", self.url.prefix))
    }

    /// Writes `spill` (gzipped or zstd NDJSON) as the object `key`, in one PUT.
    pub async fn put(
        &self,
        key: &str,
        spill: Spill,
        provenance: &Provenance,
    ) -> Result<(), JobError> {
        let object = format!("s3://{}/{key}", self.url.bucket);
        let local = |e: std::io::Error| {
            JobError::new(
                Stage::Write,
                true,
                format!("{object}: cannot read back the output: {e}"),
            )
        };
        let body = spill.into_body().map_err(local)?;
        // The SDK retries a PUT only when it can replay the body, which a
        // body read from a file is not: such PUTs are retried here, each
        // attempt reading the file from its start.
        let mut attempt = 0;
        loop {
            attempt += 1;
            let stream = match &body {
                Body::Memory(bytes) => ByteStream::from(bytes.clone()),
                Body::File(file, len) => {
                    let mut file = file.try_clone().map_err(local)?;
                    file.rewind().map_err(local)?;
                    ByteStream::read_from()
                        .file(tokio::fs::File::from_std(file))
                        .length(Length::Exact(*len))
                        .build()
                        .await
                        .map_err(|e| JobError::new(Stage::Write, true, format!("{object}: {e}")))?
                }
            };
            let mut put = self
                .client
                .put_object()
                .bucket(&self.url.bucket)
                .key(key)
                .body(stream)
                // The bytes are a .gz (or .zst) file, as CloudTrail's own
                // objects are read by Athena: no Content-Encoding, which
                // would make some HTTP clients unzip it on the way.
                .content_type(self.codec.content_type())
                .metadata(META_SOURCE, header_text(&provenance.source))
                .metadata(META_SOURCE_ETAG, header_text(&provenance.source_version))
                .metadata(META_RULES_VERSION, header_text(&provenance.rules_version));
            if let Some(sse) = &self.sse {
                put = put.server_side_encryption(sse.clone());
            }
            if let Some(id) = &self.sse_kms_key_id {
                put = put.ssekms_key_id(id);
            }
            match put.send().await {
                Ok(_) => return Ok(()),
                Err(e) => {
                    let error = job_error(Stage::Commit, "PutObject", &object, &e);
                    let replay_here = matches!(body, Body::File(..));
                    if !(replay_here && error.retryable && attempt < PUT_ATTEMPTS) {
                        return Err(error);
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(200 << attempt)).await;
                }
            }
        }
    }
}

/// Metadata values travel as HTTP headers, so in ASCII: other bytes (and
/// `%` itself) are percent-encoded, as in a URL, so that the value can be
/// read back exactly.
pub fn header_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (b.is_ascii_graphic() && b != b'%') || b == b' ' {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::header_text;

    #[test]
    fn metadata_text_is_ascii_and_reads_back_exactly() {
        assert_eq!(
            header_text("s3://b/AWSLogs/a b.json.gz"),
            "s3://b/AWSLogs/a b.json.gz"
        );
        assert_eq!(header_text("s3://b/ü.json"), "s3://b/%C3%BC.json");
        // '%' itself is escaped, so a literal "%C3%BC" cannot pass for "ü".
        assert_eq!(header_text("s3://b/%C3%BC.json"), "s3://b/%25C3%25BC.json");
        assert_eq!(header_text("a\u{1}b"), "a%01b");
    }
}
