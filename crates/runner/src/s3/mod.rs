//! Amazon S3 (or any S3-compatible store) as a source and a sink.
//!
//! - [`S3Url`]: `s3://bucket/prefix` as given on the command line.
//! - [`S3Options`] and [`client`]: the standard AWS credential chain
//!   (environment, profiles, SSO, web identity, container and instance
//!   roles) through aws-config, with `--profile`, `--region`,
//!   `--endpoint-url` (path-style addressing, for S3-compatible stores), and
//!   the SDK's retries with backoff.
//! - [`layout`]: CloudTrail's key layout, and listing only what the
//!   filters keep.
//! - [`list`]: the objects of a run, streamed page by page.
//! - [`put`]: an output object written in one PUT: complete or absent.
//! - [`fault`]: S3 errors as [`JobError`](crate::report::JobError)s, with
//!   whether a retry makes sense.

pub mod fault;
pub mod layout;
pub mod list;
pub mod put;

use std::fmt;

/// `s3://bucket/prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Url {
    pub bucket: String,
    /// The key prefix: empty, or ending in `/` (a "folder"), or a whole key.
    pub prefix: String,
}

impl S3Url {
    /// Reads `s3://bucket[/prefix]`. A prefix that is not empty is taken as
    /// a folder (a `/` is added), unless it names a log file
    /// (`.json`, `.json.gz`, ...), which is then the one object to read.
    pub fn parse(text: &str) -> Result<S3Url, String> {
        let rest = text
            .strip_prefix("s3://")
            .ok_or_else(|| format!("{text}: not an s3:// address"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(format!("{text}: no bucket name after s3://"));
        }
        // Letters, digits, '-', '.', and (in old us-east-1 buckets)
        // capitals and '_'.
        if !bucket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        {
            return Err(format!(
                "{text}: {bucket:?} is not a bucket name (letters, digits, '-', '.' and '_')"
            ));
        }
        let mut prefix = prefix.to_string();
        if !prefix.is_empty()
            && !prefix.ends_with('/')
            && !crate::source::is_log_name(prefix.as_bytes())
        {
            prefix.push('/');
        }
        Ok(S3Url {
            bucket: bucket.to_string(),
            prefix,
        })
    }

    /// The prefix as a folder: empty, or ending with `/`.
    pub fn prefix_dir(&self) -> String {
        if self.prefix.is_empty() || self.prefix.ends_with('/') {
            self.prefix.clone()
        } else {
            format!("{}/", self.prefix)
        }
    }

    /// True when the prefix names one object rather than a folder.
    pub fn is_object(&self) -> bool {
        !self.prefix.is_empty() && !self.prefix.ends_with('/')
    }

    /// Whether `key` (in the same bucket) is under this prefix.
    pub fn holds(&self, bucket: &str, key: &str) -> bool {
        self.bucket == bucket && key.starts_with(&self.prefix)
    }
}

impl fmt::Display for S3Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// How to reach S3.
#[derive(Debug, Clone, Default)]
pub struct S3Options {
    /// `--endpoint-url`: an S3-compatible store (path-style addressing).
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
    pub profile: Option<String>,
    /// Server-side encryption of outputs: `AES256` or `aws:kms`.
    pub sse: Option<String>,
    pub sse_kms_key_id: Option<String>,
    /// Objects in flight at once.
    pub concurrency: usize,
}

/// Objects in flight by default: CloudTrail objects are small and S3's
/// latency dominates, so many at once keep a backfill busy.
pub const DEFAULT_CONCURRENCY: usize = 32;

/// The AWS configuration of `options`, from the standard credential chain:
/// shared by the S3 and SQS clients.
pub async fn aws_config(options: &S3Options) -> aws_config::SdkConfig {
    let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(5))
        // An endpoint that accepts and never answers must not hang a run:
        // each attempt gives up, and the retries and the report follow.
        .timeout_config(
            aws_config::timeout::TimeoutConfig::builder()
                .connect_timeout(std::time::Duration::from_secs(10))
                .read_timeout(std::time::Duration::from_secs(60))
                .build(),
        );
    if let Some(region) = &options.region {
        loader = loader.region(aws_config::Region::new(region.clone()));
    }
    if let Some(profile) = &options.profile {
        loader = loader.profile_name(profile);
    }
    loader.load().await
}

/// An S3 client for `options`, from the standard credential chain.
pub async fn client(options: &S3Options) -> aws_sdk_s3::Client {
    let shared = aws_config(options).await;
    let mut config = aws_sdk_s3::config::Builder::from(&shared);
    if let Some(url) = &options.endpoint_url {
        config = config.endpoint_url(url).force_path_style(true);
    }
    if shared.region().is_none() {
        // S3 needs a region to sign; us-east-1 answers for every bucket
        // with a redirect the SDK follows.
        config = config.region(aws_config::Region::new("us-east-1"));
    }
    aws_sdk_s3::Client::from_conf(config.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_read_as_a_bucket_and_a_folder_or_one_object() {
        let u = S3Url::parse("s3://trail/AWSLogs").unwrap();
        assert_eq!(
            (u.bucket.as_str(), u.prefix.as_str()),
            ("trail", "AWSLogs/")
        );
        assert!(!u.is_object());
        assert_eq!(S3Url::parse("s3://trail").unwrap().prefix, "");
        assert_eq!(S3Url::parse("s3://trail/").unwrap().prefix, "");
        let one = S3Url::parse("s3://trail/AWSLogs/x/a.json.gz").unwrap();
        assert!(one.is_object());
        assert!(S3Url::parse("s3://").is_err());
        assert!(
            S3Url::parse("s3://Trail_Old/x").is_ok(),
            "legacy us-east-1 names"
        );
        assert!(S3Url::parse("s3://a b/x").is_err());
        assert!(S3Url::parse("http://x").is_err());
        let out = S3Url::parse("s3://trail/processed/").unwrap();
        assert!(out.holds("trail", "processed/AWSLogs/a.json.gz"));
        assert!(!out.holds("trail", "AWSLogs/a.json.gz"));
        assert!(!out.holds("other", "processed/a"));
    }
}
