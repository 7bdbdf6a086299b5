//! What CloudTrail writes: the top-level fields of a record.
//!
//! Fields outside this list are free for enrichment; by convention their
//! names start with `x` so they never collide with a field AWS adds later.

/// Top-level fields of a CloudTrail record (management, data, Insights and
/// network-activity events), as documented in the CloudTrail record contents.
pub const RECORD_FIELDS: &[&str] = &[
    "eventVersion",
    "userIdentity",
    "eventTime",
    "eventSource",
    "eventName",
    "awsRegion",
    "sourceIPAddress",
    "userAgent",
    "errorCode",
    "errorMessage",
    "requestParameters",
    "responseElements",
    "additionalEventData",
    "requestID",
    "eventID",
    "readOnly",
    "resources",
    "eventType",
    "apiVersion",
    "managementEvent",
    "recipientAccountId",
    "serviceEventDetails",
    "sharedEventID",
    "vpcEndpointId",
    "vpcEndpointAccountId",
    "eventCategory",
    "addendum",
    "sessionCredentialFromConsole",
    "edgeDeviceDetails",
    "tlsDetails",
    "insightDetails",
];

/// True for a top-level field that AWS writes.
pub fn is_aws_field(name: &str) -> bool {
    RECORD_FIELDS.contains(&name)
}

/// Keys that only a digest file has: such files are skipped, not read as logs.
pub const DIGEST_FIELDS: &[&str] = &["digestStartTime", "digestEndTime", "digestS3Object", "digestSignatureAlgorithm"];

/// Keys whose presence marks a bare JSON object as a CloudTrail record.
pub const RECORD_MARKERS: &[&str] = &["eventVersion", "eventName", "eventSource", "eventTime", "eventID", "eventType"];
