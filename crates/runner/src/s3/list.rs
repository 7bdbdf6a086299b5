//! The objects of a run, listed page by page and handed on as they come,
//! so that a bucket of millions of objects never sits in memory.

use super::fault::job_error;
use super::layout::{key_facts, prefixes_to_list, Filters, Kind, ListLevel};
use super::S3Url;
use crate::report::{JobError, Stage};
use tokio::sync::mpsc;

/// One object to process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectRef {
    pub key: String,
    /// The ETag, quotes removed: it changes when the object does.
    pub etag: String,
    pub size: u64,
}

/// What the listing found, in key order within each listed prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listed {
    Object(ObjectRef),
    /// Passed over on purpose: the key, and why.
    Skipped(String, &'static str),
}

pub const DIGEST: &str = "a CloudTrail digest object (integrity digest, not a log of events)";
pub const EMPTY: &str = "an empty object";
pub const NOT_A_LOG_NAME: &str = crate::source::NOT_A_LOG_NAME;
pub const OUTSIDE_FILTERS: &str = "outside --account, --region, --from or --to";
pub const NOTHING_FOUND: &str =
    "nothing is stored under this prefix (check the bucket, the prefix and the filters)";

/// Whether a key (below the input prefix) has a part whose name starts
/// with `.`, as hidden files do. `.` and `..` themselves are not hidden but
/// unsafe, and fail as such when their output is named.
fn is_hidden(relative: &str) -> bool {
    relative
        .split('/')
        .any(|part| part.starts_with('.') && part != "." && part != "..")
}

fn listing_failed<E>(
    bucket: &str,
    prefix: &str,
    e: &aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>,
) -> JobError
where
    E: aws_sdk_s3::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    job_error(
        Stage::Discover,
        "ListObjectsV2",
        &format!("s3://{bucket}/{prefix}"),
        e,
    )
}

/// Delimiter listings, one level at a time, for [`prefixes_to_list`].
struct Levels<'c> {
    client: &'c aws_sdk_s3::Client,
    bucket: &'c str,
}

impl ListLevel for Levels<'_> {
    type Error = JobError;

    async fn children(&self, prefix: &str) -> Result<Vec<String>, JobError> {
        let mut out = Vec::new();
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(self.bucket)
            .prefix(prefix)
            .delimiter("/")
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| listing_failed(self.bucket, prefix, &e))?;
            out.extend(
                page.common_prefixes()
                    .iter()
                    .filter_map(|p| p.prefix().map(str::to_string)),
            );
        }
        Ok(out)
    }
}

/// One object asked for by its key: found by HEAD, and passed over when the
/// filters do not keep it.
async fn named_object(
    client: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    filters: &Filters,
) -> Result<Listed, JobError> {
    let head = client
        .head_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| {
            job_error(
                Stage::Open,
                "HeadObject",
                &format!("s3://{bucket}/{key}"),
                &e,
            )
        })?;
    Ok(if filters.keeps(key_facts(key).as_ref()) {
        Listed::Object(ObjectRef {
            key: key.to_string(),
            etag: head.e_tag().unwrap_or("").trim_matches('"').to_string(),
            size: head.content_length().unwrap_or(0).max(0) as u64,
        })
    } else {
        Listed::Skipped(key.to_string(), OUTSIDE_FILTERS)
    })
}

/// Why the object at `key` (of `size` bytes, when known) is not read: a
/// digest, another kind of file, or an empty object.
pub fn not_read(key: &str, size: Option<u64>) -> Option<&'static str> {
    if key_facts(key).is_some_and(|f| f.kind == Kind::Digest) || key.contains("/CloudTrail-Digest/")
    {
        Some(DIGEST)
    } else if !crate::source::is_log_name(key.as_bytes()) {
        Some(NOT_A_LOG_NAME)
    } else if size == Some(0) {
        Some(EMPTY)
    } else {
        None
    }
}

/// Lists what `source` holds under `filters` into `tx`, leaving out the
/// keys under `exclude` (the output, when it shares the bucket). Stops
/// early, without error, when the receiver is gone.
pub async fn list(
    client: &aws_sdk_s3::Client,
    source: &S3Url,
    filters: &Filters,
    exclude: Option<&S3Url>,
    tx: mpsc::Sender<Listed>,
) -> Result<(), JobError> {
    if source.is_object() {
        // One object named: asked for by name, so a missing one is an
        // error, not an empty run.
        let listed = named_object(client, &source.bucket, &source.prefix, filters).await?;
        let _ = tx.send(listed).await;
        return Ok(());
    }
    let levels = Levels {
        client,
        bucket: &source.bucket,
    };
    let same_bucket_output = exclude
        .filter(|out| out.bucket == source.bucket)
        .map(|out| out.prefix.as_str());
    let prefixes = prefixes_to_list(&levels, &source.prefix, filters, same_bucket_output).await?;
    let mut seen_any = false;
    for prefix in prefixes {
        let mut pages = client
            .list_objects_v2()
            .bucket(&source.bucket)
            .prefix(&prefix)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| listing_failed(&source.bucket, &prefix, &e))?;
            for object in page.contents() {
                let Some(key) = object.key() else { continue };
                seen_any = true;
                if exclude.is_some_and(|out| out.holds(&source.bucket, key)) {
                    continue; // our own output: never read back
                }
                if is_hidden(key.strip_prefix(&source.prefix).unwrap_or(key)) {
                    continue; // as in a local tree: names starting with '.' are not read
                }
                let facts = key_facts(key);
                if !filters.keeps(facts.as_ref()) {
                    continue;
                }
                let size = object.size().unwrap_or(0).max(0) as u64;
                let listed = match not_read(key, Some(size)) {
                    Some(why) => Listed::Skipped(key.to_string(), why),
                    None => Listed::Object(ObjectRef {
                        key: key.to_string(),
                        etag: object.e_tag().unwrap_or("").trim_matches('"').to_string(),
                        size,
                    }),
                };
                if tx.send(listed).await.is_err() {
                    return Ok(());
                }
            }
        }
    }
    if !seen_any && !source.prefix.is_empty() {
        // Nothing below `prefix/`: it may name one object whose name is not
        // a log file's (asked for by name, so read), or nothing at all,
        // which a run must say rather than end quietly with nothing done.
        let key = source.prefix.trim_end_matches('/');
        let listed = named_object(client, &source.bucket, key, filters)
            .await
            .unwrap_or_else(|_| Listed::Skipped(source.prefix.clone(), NOTHING_FOUND));
        let _ = tx.send(listed).await;
    }
    Ok(())
}
