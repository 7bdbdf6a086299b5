//! What CloudTrail writes: the fields of a record, their nesting, and what
//! each single value holds.
//!
//! Top-level fields outside [`RECORD_FIELDS`] are free for enrichment; by
//! convention their names start with `x` so they never collide with a field
//! AWS adds later. [`RECORD`] describes the nested structure, so that the
//! compiler can flag a misspelt path, and the [`Kind`] of each single value
//! (a string, a boolean, or one of a closed set of strings such as
//! [`EVENT_TYPES`]), so that it can flag a comparison that never holds.
//! Service-specific parts (`requestParameters`, `responseElements`, ...)
//! are open: any key is fine.

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
pub const DIGEST_FIELDS: &[&str] = &[
    "digestStartTime",
    "digestEndTime",
    "digestS3Object",
    "digestSignatureAlgorithm",
];

/// Keys whose presence marks a bare JSON object as a CloudTrail record.
pub const RECORD_MARKERS: &[&str] = &[
    "eventVersion",
    "eventName",
    "eventSource",
    "eventTime",
    "eventID",
    "eventType",
];

/// What a single value of a CloudTrail record holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A JSON string.
    Str,
    /// A JSON boolean (`readOnly`, `managementEvent`).
    Bool,
    /// A JSON string, always one of these (`eventType`).
    OneOf(&'static [&'static str]),
}

impl Kind {
    /// What the value is, for messages.
    pub fn describe(self) -> &'static str {
        match self {
            Kind::Str | Kind::OneOf(_) => "a string",
            Kind::Bool => "a boolean",
        }
    }
}

/// `eventType`: what kind of event a record is (CloudTrail record contents).
pub const EVENT_TYPES: &[&str] = &[
    "AwsApiCall",
    "AwsServiceEvent",
    "AwsConsoleAction",
    "AwsConsoleSignIn",
    "AwsCloudTrailInsight",
    "AwsVpceEvent",
];

/// `eventCategory`.
pub const EVENT_CATEGORIES: &[&str] = &["Management", "Data", "Insight", "NetworkActivity"];

/// `userIdentity.type` (CloudTrail userIdentity element).
pub const IDENTITY_TYPES: &[&str] = &[
    "Root",
    "IAMUser",
    "AssumedRole",
    "Role",
    "FederatedUser",
    "Directory",
    "AWSAccount",
    "AWSService",
    "IdentityCenterUser",
    "SAMLUser",
    "WebIdentityUser",
    "Unknown",
];

/// `userIdentity.sessionContext.sessionIssuer.type`.
pub const ISSUER_TYPES: &[&str] = &["Root", "IAMUser", "Role"];

/// Flags CloudTrail writes as text, not as JSON booleans
/// (`mfaAuthenticated`).
pub const TEXT_BOOLEANS: &[&str] = &["true", "false"];

/// The shape of a field in a CloudTrail record.
#[derive(Debug)]
pub enum Shape {
    /// A single value.
    Leaf(Kind),
    /// An object whose keys vary by service: any path below is accepted.
    Open,
    Object(&'static [(&'static str, Shape)]),
    Array(&'static Shape),
}

const STR: Shape = Shape::Leaf(Kind::Str);
const BOOL: Shape = Shape::Leaf(Kind::Bool);

const SESSION_ISSUER: &[(&str, Shape)] = &[
    ("type", Shape::Leaf(Kind::OneOf(ISSUER_TYPES))),
    ("principalId", STR),
    ("arn", STR),
    ("accountId", STR),
    ("userName", STR),
];

const SESSION_CONTEXT: &[(&str, Shape)] = &[
    (
        "attributes",
        Shape::Object(&[
            ("creationDate", STR),
            ("mfaAuthenticated", Shape::Leaf(Kind::OneOf(TEXT_BOOLEANS))),
        ]),
    ),
    ("sessionIssuer", Shape::Object(SESSION_ISSUER)),
    (
        "webIdFederationData",
        Shape::Object(&[("federatedProvider", STR), ("attributes", Shape::Open)]),
    ),
    ("sourceIdentity", STR),
    ("ec2RoleDelivery", STR),
    ("ec2IssuedInVPC", STR),
    ("assumedRoot", STR),
];

const USER_IDENTITY: &[(&str, Shape)] = &[
    ("type", Shape::Leaf(Kind::OneOf(IDENTITY_TYPES))),
    ("principalId", STR),
    ("arn", STR),
    ("accountId", STR),
    ("accessKeyId", STR),
    ("userName", STR),
    ("sessionContext", Shape::Object(SESSION_CONTEXT)),
    ("invokedBy", STR),
    ("identityProvider", STR),
    ("credentialId", STR),
    (
        "onBehalfOf",
        Shape::Object(&[("userId", STR), ("identityStoreArn", STR)]),
    ),
    ("inScopeOf", Shape::Open),
    ("sourceIdentity", STR),
];

/// The structure of a CloudTrail record.
pub const RECORD: &[(&str, Shape)] = &[
    ("eventVersion", STR),
    ("userIdentity", Shape::Object(USER_IDENTITY)),
    ("eventTime", STR),
    ("eventSource", STR),
    ("eventName", STR),
    ("awsRegion", STR),
    ("sourceIPAddress", STR),
    ("userAgent", STR),
    ("errorCode", STR),
    ("errorMessage", STR),
    ("requestParameters", Shape::Open),
    ("responseElements", Shape::Open),
    ("additionalEventData", Shape::Open),
    ("requestID", STR),
    ("eventID", STR),
    ("readOnly", BOOL),
    (
        "resources",
        Shape::Array(&Shape::Object(&[
            ("ARN", STR),
            ("accountId", STR),
            ("type", STR),
        ])),
    ),
    ("eventType", Shape::Leaf(Kind::OneOf(EVENT_TYPES))),
    ("apiVersion", STR),
    ("managementEvent", BOOL),
    ("recipientAccountId", STR),
    ("serviceEventDetails", Shape::Open),
    ("sharedEventID", STR),
    ("vpcEndpointId", STR),
    ("vpcEndpointAccountId", STR),
    ("eventCategory", Shape::Leaf(Kind::OneOf(EVENT_CATEGORIES))),
    (
        "addendum",
        Shape::Object(&[
            ("reason", STR),
            ("updatedFields", STR),
            ("originalRequestID", STR),
            ("originalEventID", STR),
        ]),
    ),
    // Written as the text "true", and left out otherwise.
    (
        "sessionCredentialFromConsole",
        Shape::Leaf(Kind::OneOf(&["true"])),
    ),
    ("edgeDeviceDetails", Shape::Open),
    (
        "tlsDetails",
        Shape::Object(&[
            (
                "tlsVersion",
                Shape::Leaf(Kind::OneOf(&["TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"])),
            ),
            ("cipherSuite", STR),
            ("clientProvidedHostHeader", STR),
        ]),
    ),
    (
        "insightDetails",
        Shape::Object(&[
            ("state", Shape::Leaf(Kind::OneOf(&["Start", "End"]))),
            ("eventSource", STR),
            ("eventName", STR),
            ("errorCode", STR),
            (
                "insightType",
                Shape::Leaf(Kind::OneOf(&["ApiCallRateInsight", "ApiErrorRateInsight"])),
            ),
            ("insightContext", Shape::Open),
        ]),
    ),
];

/// One step of a path, as the schema sees it.
#[derive(Debug, Clone, Copy)]
pub enum Step<'a> {
    Key(&'a str),
    Element,
}

/// Why a path is not one CloudTrail writes.
#[derive(Debug, PartialEq, Eq)]
pub struct UnknownField {
    /// 0-based index of the step that is unknown.
    pub step: usize,
    /// The object's keys at that place, for "did you mean".
    pub known: Vec<&'static str>,
    /// The field above has no fields (a scalar); `known` is empty then.
    pub below_scalar: bool,
}

/// Checks a path against [`RECORD`]: `Ok` when CloudTrail writes it (or it
/// lies in an open part), the place it goes wrong otherwise.
pub fn check_path(steps: &[Step<'_>]) -> Result<(), UnknownField> {
    let mut shape = &Shape::Object(RECORD);
    for (i, step) in steps.iter().enumerate() {
        shape = match (shape, step) {
            (Shape::Open, _) => return Ok(()),
            (Shape::Array(inner), Step::Element) => inner,
            // An array used like an object, or the reverse: leave it to the data.
            (Shape::Array(_), Step::Key(_)) | (Shape::Object(_), Step::Element) => return Ok(()),
            (Shape::Object(fields), Step::Key(key)) => {
                match fields.iter().find(|(name, _)| name == key) {
                    Some((_, next)) => next,
                    None => {
                        return Err(UnknownField {
                            step: i,
                            known: fields.iter().map(|(n, _)| *n).collect(),
                            below_scalar: false,
                        })
                    }
                }
            }
            (Shape::Leaf(_), _) => {
                return Err(UnknownField {
                    step: i,
                    known: Vec::new(),
                    below_scalar: true,
                })
            }
        };
    }
    Ok(())
}

/// The shape CloudTrail writes at a path, when the schema knows it (not
/// inside an open part).
pub fn shape_of(steps: &[Step<'_>]) -> Option<&'static Shape> {
    let mut shape: &'static Shape = &Shape::Object(RECORD);
    for step in steps {
        shape = match (shape, step) {
            (Shape::Array(inner), Step::Element) => inner,
            (Shape::Object(fields), Step::Key(key)) => {
                &fields.iter().find(|(name, _)| name == key)?.1
            }
            _ => return None,
        };
    }
    Some(shape)
}

/// What the value at a path holds, when the path leads to one single value
/// CloudTrail writes (through `[]` or `[N]` into arrays).
pub fn leaf_kind(steps: &[Step<'_>]) -> Option<Kind> {
    let mut shape = &Shape::Object(RECORD);
    for step in steps {
        shape = match (shape, step) {
            (Shape::Array(inner), Step::Element) => inner,
            (Shape::Object(fields), Step::Key(key)) => {
                &fields.iter().find(|(name, _)| name == key)?.1
            }
            _ => return None,
        };
    }
    match shape {
        Shape::Leaf(kind) => Some(*kind),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(path: &str) -> Vec<Step<'_>> {
        path.split('.')
            .map(|k| {
                if k == "[]" {
                    Step::Element
                } else {
                    Step::Key(k)
                }
            })
            .collect()
    }

    #[test]
    fn known_open_and_unknown_paths() {
        assert!(check_path(&keys("userIdentity.sessionContext.sessionIssuer.userName")).is_ok());
        assert!(check_path(&keys("requestParameters.anything.at.all")).is_ok());
        assert!(check_path(&keys("resources.[].type")).is_ok());
        let err = check_path(&keys("userIdentity.userNme")).unwrap_err();
        assert_eq!(err.step, 1);
        assert!(err.known.contains(&"userName"));
        let err = check_path(&keys("eventName.length")).unwrap_err();
        assert!(err.below_scalar && err.step == 1);
        assert_eq!(check_path(&keys("eventSorce")).unwrap_err().step, 0);
    }

    #[test]
    fn kinds_of_single_values() {
        assert_eq!(leaf_kind(&keys("readOnly")), Some(Kind::Bool));
        assert_eq!(leaf_kind(&keys("eventName")), Some(Kind::Str));
        assert_eq!(
            leaf_kind(&keys("eventType")),
            Some(Kind::OneOf(EVENT_TYPES))
        );
        assert_eq!(leaf_kind(&keys("resources.[].type")), Some(Kind::Str));
        assert_eq!(leaf_kind(&keys("userIdentity")), None);
        assert_eq!(leaf_kind(&keys("requestParameters.x")), None);
        assert_eq!(leaf_kind(&keys("eventSorce")), None);
    }

    #[test]
    fn the_top_level_list_and_the_tree_agree() {
        let names: Vec<&str> = RECORD.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, RECORD_FIELDS);
    }
}
