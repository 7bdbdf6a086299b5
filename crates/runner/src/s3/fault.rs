//! S3 errors as job failures: the operation, the object, the service's code
//! and message as S3 gave them, and whether trying again later may help.

use crate::report::{JobError, Stage};
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};

/// Codes S3 gives for troubles that pass (after the SDK's own retries).
const TRANSIENT: &[&str] = &[
    "SlowDown",
    "InternalError",
    "ServiceUnavailable",
    "RequestTimeout",
    "RequestTimeTooSkewed",
    "Throttling",
    "ThrottlingException",
];

/// A failed S3 call as a [`JobError`] of `stage`.
pub fn job_error<E>(
    stage: Stage,
    operation: &str,
    object: &str,
    e: &SdkError<E, HttpResponse>,
) -> JobError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let (retryable, cause) = match e {
        SdkError::ServiceError(ctx) => {
            let err = ctx.err();
            let status = ctx.raw().status().as_u16();
            // HEAD answers carry no body, so no message: the status says it.
            let code = err.code().unwrap_or(match status {
                404 => "NotFound",
                403 => "AccessDenied",
                _ => "an error",
            });
            let transient = TRANSIENT.contains(&code) || status >= 500;
            let message = match (code, err.message()) {
                (_, Some(m)) => m,
                ("NotFound" | "NoSuchKey", None) => "no such object (or no such bucket)",
                ("NoSuchBucket", None) => "no such bucket",
                ("AccessDenied" | "Forbidden", None) => "access denied",
                (_, None) => "",
            };
            let sep = if message.is_empty() { "" } else { ": " };
            (transient, format!("{code}{sep}{message} (HTTP {status})"))
        }
        SdkError::TimeoutError(_) => (true, "timed out".to_string()),
        SdkError::DispatchFailure(_) => (true, format!("cannot reach S3: {}", readable(e))),
        SdkError::ResponseError(_) => (
            true,
            format!(
                "bad response: {}",
                aws_sdk_s3::error::DisplayErrorContext(e)
            ),
        ),
        _ => (false, aws_sdk_s3::error::DisplayErrorContext(e).to_string()),
    };
    JobError::new(stage, retryable, format!("{operation} {object}: {cause}"))
}

/// The SDK's error chain for people: its `Display` context, without the
/// `Debug` dump of the innermost error it appends in parentheses.
fn readable(e: &dyn std::error::Error) -> String {
    let text = aws_sdk_s3::error::DisplayErrorContext(e).to_string();
    let text = text.trim_start_matches("dispatch failure: ");
    let cut = text
        .find(" (DispatchFailure(")
        .or_else(|| text.find(" (ConnectorError"))
        .unwrap_or(text.len());
    text[..cut].replace(" (io error)", "")
}

#[cfg(test)]
mod tests {
    use super::readable;

    #[derive(Debug)]
    struct Inner;
    impl std::fmt::Display for Inner {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("timeout: HTTP read timeout occurred after 60s")
        }
    }
    impl std::error::Error for Inner {}

    #[test]
    fn errors_read_without_the_debug_dump() {
        let text = readable(&Inner);
        assert!(
            text.starts_with("timeout: HTTP read timeout occurred after 60s"),
            "{text}"
        );
        assert!(!text.contains("DispatchFailure"), "{text}");
    }
}
