//! What CloudTrail writes: the fields of a record and their nesting.
//!
//! Top-level fields outside [`RECORD_FIELDS`] are free for enrichment; by
//! convention their names start with `x` so they never collide with a field
//! AWS adds later. [`RECORD`] describes the nested structure, so that the
//! compiler can flag a misspelt path. Service-specific parts
//! (`requestParameters`, `responseElements`, ...) are open: any key is fine.

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

/// The shape of a field in a CloudTrail record.
#[derive(Debug)]
pub enum Shape {
    /// A scalar.
    Leaf,
    /// An object whose keys vary by service: any path below is accepted.
    Open,
    Object(&'static [(&'static str, Shape)]),
    Array(&'static Shape),
}

const SESSION_ISSUER: &[(&str, Shape)] = &[
    ("type", Shape::Leaf),
    ("principalId", Shape::Leaf),
    ("arn", Shape::Leaf),
    ("accountId", Shape::Leaf),
    ("userName", Shape::Leaf),
];

const SESSION_CONTEXT: &[(&str, Shape)] = &[
    (
        "attributes",
        Shape::Object(&[
            ("creationDate", Shape::Leaf),
            ("mfaAuthenticated", Shape::Leaf),
        ]),
    ),
    ("sessionIssuer", Shape::Object(SESSION_ISSUER)),
    (
        "webIdFederationData",
        Shape::Object(&[
            ("federatedProvider", Shape::Leaf),
            ("attributes", Shape::Open),
        ]),
    ),
    ("sourceIdentity", Shape::Leaf),
    ("ec2RoleDelivery", Shape::Leaf),
    ("ec2IssuedInVPC", Shape::Leaf),
    ("assumedRoot", Shape::Leaf),
];

const USER_IDENTITY: &[(&str, Shape)] = &[
    ("type", Shape::Leaf),
    ("principalId", Shape::Leaf),
    ("arn", Shape::Leaf),
    ("accountId", Shape::Leaf),
    ("accessKeyId", Shape::Leaf),
    ("userName", Shape::Leaf),
    ("sessionContext", Shape::Object(SESSION_CONTEXT)),
    ("invokedBy", Shape::Leaf),
    ("identityProvider", Shape::Leaf),
    ("credentialId", Shape::Leaf),
    (
        "onBehalfOf",
        Shape::Object(&[("userId", Shape::Leaf), ("identityStoreArn", Shape::Leaf)]),
    ),
    ("inScopeOf", Shape::Open),
    ("sourceIdentity", Shape::Leaf),
];

/// The structure of a CloudTrail record.
pub const RECORD: &[(&str, Shape)] = &[
    ("eventVersion", Shape::Leaf),
    ("userIdentity", Shape::Object(USER_IDENTITY)),
    ("eventTime", Shape::Leaf),
    ("eventSource", Shape::Leaf),
    ("eventName", Shape::Leaf),
    ("awsRegion", Shape::Leaf),
    ("sourceIPAddress", Shape::Leaf),
    ("userAgent", Shape::Leaf),
    ("errorCode", Shape::Leaf),
    ("errorMessage", Shape::Leaf),
    ("requestParameters", Shape::Open),
    ("responseElements", Shape::Open),
    ("additionalEventData", Shape::Open),
    ("requestID", Shape::Leaf),
    ("eventID", Shape::Leaf),
    ("readOnly", Shape::Leaf),
    (
        "resources",
        Shape::Array(&Shape::Object(&[
            ("ARN", Shape::Leaf),
            ("accountId", Shape::Leaf),
            ("type", Shape::Leaf),
        ])),
    ),
    ("eventType", Shape::Leaf),
    ("apiVersion", Shape::Leaf),
    ("managementEvent", Shape::Leaf),
    ("recipientAccountId", Shape::Leaf),
    ("serviceEventDetails", Shape::Open),
    ("sharedEventID", Shape::Leaf),
    ("vpcEndpointId", Shape::Leaf),
    ("vpcEndpointAccountId", Shape::Leaf),
    ("eventCategory", Shape::Leaf),
    (
        "addendum",
        Shape::Object(&[
            ("reason", Shape::Leaf),
            ("updatedFields", Shape::Leaf),
            ("originalRequestID", Shape::Leaf),
            ("originalEventID", Shape::Leaf),
        ]),
    ),
    ("sessionCredentialFromConsole", Shape::Leaf),
    ("edgeDeviceDetails", Shape::Open),
    (
        "tlsDetails",
        Shape::Object(&[
            ("tlsVersion", Shape::Leaf),
            ("cipherSuite", Shape::Leaf),
            ("clientProvidedHostHeader", Shape::Leaf),
        ]),
    ),
    (
        "insightDetails",
        Shape::Object(&[
            ("state", Shape::Leaf),
            ("eventSource", Shape::Leaf),
            ("eventName", Shape::Leaf),
            ("errorCode", Shape::Leaf),
            ("insightType", Shape::Leaf),
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
            (Shape::Leaf, _) => {
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
    fn the_top_level_list_and_the_tree_agree() {
        let names: Vec<&str> = RECORD.iter().map(|(n, _)| *n).collect();
        assert_eq!(names, RECORD_FIELDS);
    }
}
