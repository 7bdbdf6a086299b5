//! Who acted, for every `userIdentity.type`: real events from the corpus in
//! tests/fixtures/corpus/cloudtrail (trimmed to what matters, the file
//! named above each), and synthetic ones for types the corpus lacks.

use std::path::Path;

use ctrules_context::actor::{resolve, Actor, ACTOR_FIELDS, RECORD_FIELDS};
use serde_json::{json, Value};

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/fixtures/corpus/cloudtrail"
);

fn some(text: &str) -> Option<String> {
    Some(text.to_owned())
}

#[test]
fn root() {
    // awsdocs-user-guide/cloudtrail-event-reference-aws-console-sign-in-events__06.json
    let record = json!({
        "userIdentity": {
            "type": "Root",
            "principalId": "AIDACKCEVSQ6C2EXAMPLE",
            "arn": "arn:aws:iam::111122223333:root",
            "accountId": "111122223333",
            "accessKeyId": ""
        },
        "eventSource": "signin.amazonaws.com",
        "eventName": "ConsoleLogin",
        "additionalEventData": {"MobileVersion": "No", "MFAUsed": "No"},
        "recipientAccountId": "111122223333"
    });
    assert_eq!(
        resolve(&record),
        Actor {
            kind: "Root".into(),
            name: some("root"),
            user: some("root"),
            account: some("111122223333"),
            arn: some("arn:aws:iam::111122223333:root"),
            principal_id: some("AIDACKCEVSQ6C2EXAMPLE"),
            // ConsoleLogin without a session context: MFAUsed tells.
            mfa: Some(false),
            ..Actor::default()
        }
    );
}

#[test]
fn iam_user() {
    // awsdocs-iam-user-guide/cloudtrail-integration__01.json
    let record = json!({
        "userIdentity": {
            "type": "IAMUser",
            "principalId": "AIDACKCEVSQ6C2EXAMPLE",
            "arn": "arn:aws:iam::444455556666:user/JaneDoe",
            "accountId": "444455556666",
            "accessKeyId": "AKIAI44QH8DHBEXAMPLE",
            "userName": "JaneDoe",
            "sessionContext": {
                "attributes": {"mfaAuthenticated": "false", "creationDate": "2014-07-15T21:39:40Z"}
            },
            "invokedBy": "signin.amazonaws.com"
        },
        "eventSource": "iam.amazonaws.com",
        "eventName": "GetUserPolicy"
    });
    assert_eq!(
        resolve(&record).to_value(),
        json!({
            "type": "IAMUser",
            "name": "JaneDoe",
            "user": "JaneDoe",
            "account": "444455556666",
            "arn": "arn:aws:iam::444455556666:user/JaneDoe",
            "principal_id": "AIDACKCEVSQ6C2EXAMPLE",
            "access_key_id": "AKIAI44QH8DHBEXAMPLE",
            "invoked_by": "signin.amazonaws.com",
            "mfa": false
        })
    );
}

#[test]
fn iam_user_without_user_name_is_named_from_the_arn() {
    let record = json!({"userIdentity": {
        "type": "IAMUser",
        "arn": "arn:aws:iam::444455556666:user/division_abc/JaneDoe"
    }});
    let actor = resolve(&record);
    assert_eq!(actor.name, some("JaneDoe"));
    assert_eq!(actor.user, some("JaneDoe"));
    assert_eq!(actor.account, some("444455556666"));
}

#[test]
fn assumed_role() {
    // stratus-red-team/aws.credential-access.ec2-get-password-data.json
    let record = json!({
        "eventName": "GetPasswordData",
        "eventSource": "ec2.amazonaws.com",
        "recipientAccountId": "457448411975",
        "userIdentity": {
            "accessKeyId": "ASIANQQHHS551LWULIWD",
            "accountId": "457448411975",
            "arn": "arn:aws:sts::457448411975:assumed-role/stratus-red-team-ec2-get-password-data-role/aws-go-sdk-1722375070115152000",
            "principalId": "AROAMLQ9F6KHQ07JKA0WY:aws-go-sdk-1722375070115152000",
            "sessionContext": {
                "attributes": {"creationDate": "2024-07-30T21:31:15Z", "mfaAuthenticated": "false"},
                "sessionIssuer": {
                    "accountId": "457448411975",
                    "arn": "arn:aws:iam::457448411975:role/stratus-red-team-ec2-get-password-data-role",
                    "principalId": "AROAMLQ9F6KHQ07JKA0WY",
                    "type": "Role",
                    "userName": "stratus-red-team-ec2-get-password-data-role"
                }
            },
            "type": "AssumedRole"
        }
    });
    let actor = resolve(&record);
    assert_eq!(actor.kind, "AssumedRole");
    assert_eq!(
        actor.name,
        some("stratus-red-team-ec2-get-password-data-role/aws-go-sdk-1722375070115152000")
    );
    assert_eq!(
        actor.role,
        some("stratus-red-team-ec2-get-password-data-role")
    );
    assert_eq!(actor.session, some("aws-go-sdk-1722375070115152000"));
    assert_eq!(actor.user, actor.session);
    assert_eq!(actor.account, some("457448411975"));
    assert_eq!(actor.permission_set, None);
    assert_eq!(actor.mfa, Some(false));
}

#[test]
fn assumed_role_with_a_spaced_arn_and_source_identity() {
    // awsdocs-user-guide/cloudtrail-event-reference-user-identity__01.json:
    // the documentation's sample has spaces inside its ARNs.
    let record = json!({"userIdentity": {
        "type": "AssumedRole",
        "principalId": "AROAJ45Q7YFFAREXAMPLE: Dev1",
        "arn": "arn: aws: sts: : 123456789012: assumed-role/DevRole/Dev1",
        "accountId": "123456789012",
        "accessKeyId": "ASIAIOSFODNN7EXAMPLE",
        "sessionContext": {
            "sessionIssuer": {
                "type": "Role",
                "principalId": "AROAJ45Q7YFFAREXAMPLE",
                "arn": "arn: aws: iam: : 123456789012: role/DevRole",
                "accountId": "123456789012",
                "userName": "DevRole"
            },
            "webIdFederationData": {},
            "attributes": {"mfaAuthenticated": "false", "creationDate": "2021-02-21T23: 46: 28Z"},
            "sourceIdentity": "source-identity-value-set"
        }
    }});
    let actor = resolve(&record);
    assert_eq!(actor.name, some("DevRole/Dev1"));
    assert_eq!(actor.role, some("DevRole"));
    assert_eq!(actor.session, some("Dev1"));
    assert_eq!(actor.source_identity, some("source-identity-value-set"));
    assert_eq!(actor.identity_provider, None);
}

#[test]
fn assumed_role_without_session_context_reads_the_arn() {
    let record = json!({"userIdentity": {
        "type": "AssumedRole",
        "arn": "arn:aws:sts::123456789012:assumed-role/Deployer/ci-run-42"
    }});
    let actor = resolve(&record);
    assert_eq!(actor.name, some("Deployer/ci-run-42"));
    assert_eq!(actor.role, some("Deployer"));
    assert_eq!(actor.session, some("ci-run-42"));
    assert_eq!(actor.account, some("123456789012"));
    assert_eq!(actor.mfa, None);
}

#[test]
fn identity_center_role() {
    // panther-analysis-tests/events_only.ndjson, the ConsoleLogin of
    // nicholas.hakmiller (Panther's test event for AWS.Console.LoginWithoutMFA).
    let record = json!({
        "eventName": "ConsoleLogin",
        "eventSource": "signin.amazonaws.com",
        "additionalEventData": {"MFAUsed": "No", "MobileVersion": "No"},
        "recipientAccountId": "187901811700",
        "userIdentity": {
            "accessKeyId": "ASIASXP6SDP2HUZY3TOB",
            "accountId": "187901811700",
            "arn": "arn:aws:sts::187901811700:assumed-role/AWSReservedSSO_DevAdmin_635426549a280cc6/nicholas.hakmiller",
            "principalId": "AROASXP6SDP2F4WLQVARB:nicholas.hakmiller",
            "sessionContext": {
                "attributes": {"creationDate": "2024-06-02T19:41:40Z", "mfaAuthenticated": "false"},
                "sessionIssuer": {
                    "accountId": "187901811700",
                    "arn": "arn:aws:iam::187901811700:role/aws-reserved/sso.amazonaws.com/us-west-2/AWSReservedSSO_DevAdmin_635426549a280cc6",
                    "principalId": "AROASXP6SDP2F4WLQVARB",
                    "type": "Role",
                    "userName": "AWSReservedSSO_DevAdmin_635426549a280cc6"
                },
                "webIdFederationData": {}
            },
            "type": "AssumedRole"
        }
    });
    let actor = resolve(&record);
    assert_eq!(actor.name, some("DevAdmin/nicholas.hakmiller"));
    assert_eq!(actor.user, some("nicholas.hakmiller"));
    assert_eq!(actor.role, some("AWSReservedSSO_DevAdmin_635426549a280cc6"));
    assert_eq!(actor.session, some("nicholas.hakmiller"));
    assert_eq!(actor.permission_set, some("DevAdmin"));
    assert_eq!(actor.mfa, Some(false));
}

#[test]
fn identity_center_role_names_with_underscores_and_e_mail_sessions() {
    // Synthetic, in the shape of the SSO roles of the Panther tests.
    for (arn, permission_set, name) in [
        (
            "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_developer_admin_0123456789abcdef/jane@example.com",
            "developer_admin",
            "developer_admin/jane@example.com",
        ),
        (
            "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin/user@example.com",
            "Admin",
            "Admin/user@example.com",
        ),
    ] {
        let actor = resolve(&json!({"userIdentity": {"type": "AssumedRole", "arn": arn}}));
        assert_eq!(actor.permission_set, some(permission_set), "{arn}");
        assert_eq!(actor.name, some(name), "{arn}");
    }
}

#[test]
fn federated_user() {
    // stratus-red-team/aws.persistence.sts-federation-token.json
    let record = json!({
        "eventName": "GetCallerIdentity",
        "eventSource": "sts.amazonaws.com",
        "recipientAccountId": "742491224508",
        "userIdentity": {
            "accessKeyId": "ASIASTJKC5GCM7ZE6LUP",
            "accountId": "742491224508",
            "arn": "arn:aws:sts::742491224508:federated-user/stratus_red_team",
            "principalId": "742491224508:stratus_red_team",
            "sessionContext": {
                "attributes": {"creationDate": "2024-11-30T08:43:17Z", "mfaAuthenticated": "false"},
                "sessionIssuer": {
                    "accountId": "742491224508",
                    "arn": "arn:aws:iam::742491224508:user/stratus-red-team-user-federation-user",
                    "principalId": "AIDAN7SEM6PEVTNQR8M4",
                    "type": "IAMUser",
                    "userName": "stratus-red-team-user-federation-user"
                },
                "webIdFederationData": {}
            },
            "type": "FederatedUser"
        }
    });
    let actor = resolve(&record);
    assert_eq!(actor.kind, "FederatedUser");
    assert_eq!(actor.name, some("stratus_red_team"));
    assert_eq!(actor.user, some("stratus_red_team"));
    assert_eq!(actor.account, some("742491224508"));
    // The issuer is an IAM user, not a role.
    assert_eq!(actor.role, None);
    assert_eq!(actor.mfa, Some(false));
}

#[test]
fn aws_service() {
    // panther-analysis-tests/events_only.ndjson, "Role Assumed by AWS Service"
    let record = json!({
        "eventName": "AssumeRole",
        "eventSource": "sts.amazonaws.com",
        "recipientAccountId": "123456789123",
        "sourceIPAddress": "lambda.amazonaws.com",
        "userIdentity": {"invokedBy": "lambda.amazonaws.com", "type": "AWSService"}
    });
    assert_eq!(
        resolve(&record).to_value(),
        json!({
            "type": "AWSService",
            "name": "lambda.amazonaws.com",
            "account": "123456789123",
            "service": "lambda.amazonaws.com",
            "invoked_by": "lambda.amazonaws.com"
        })
    );
}

#[test]
fn aws_account() {
    // awsdocs-iam-user-guide/cloudtrail-integration__03.json
    let record = json!({
        "eventName": "AssumeRole",
        "eventSource": "sts.amazonaws.com",
        "userIdentity": {
            "type": "AWSAccount",
            "principalId": "AIDAQRSTUVWXYZEXAMPLE",
            "accountId": "777788889999"
        }
    });
    let actor = resolve(&record);
    assert_eq!(actor.name, some("777788889999"));
    assert_eq!(actor.account, some("777788889999"));
    assert_eq!(actor.user, None);
}

#[test]
fn saml_user() {
    // awsdocs-iam-user-guide/cloudtrail-integration__08_repaired.json
    let record = json!({
        "eventName": "AssumeRoleWithSAML",
        "recipientAccountId": "444455556666",
        "userIdentity": {
            "type": "SAMLUser",
            "principalId": "SampleUkh1i4+ExamplexL/jEvs=:SamlExample",
            "userName": "SamlExample",
            "identityProvider": "bdGOnTesti4+ExamplexL/jEvs="
        }
    });
    let actor = resolve(&record);
    assert_eq!(actor.name, some("SamlExample"));
    assert_eq!(actor.user, some("SamlExample"));
    assert_eq!(actor.identity_provider, some("bdGOnTesti4+ExamplexL/jEvs="));
    // No accountId on the identity: the recipient is not the actor's account.
    assert_eq!(actor.account, None);
}

#[test]
fn web_identity_user() {
    // awsdocs-iam-user-guide/cloudtrail-integration__10_repaired.json
    let record = json!({
        "eventName": "AssumeRoleWithWebIdentity",
        "userIdentity": {
            "type": "WebIdentityUser",
            "principalId": "accounts.google.com:<id-of-application>.apps.googleusercontent.com:<id-of-user>",
            "userName": "<id of user>",
            "identityProvider": "accounts.google.com"
        }
    });
    let actor = resolve(&record);
    assert_eq!(actor.name, some("<id of user>"));
    assert_eq!(actor.user, some("<id of user>"));
    assert_eq!(actor.identity_provider, some("accounts.google.com"));
}

#[test]
fn unknown() {
    // panther-analysis-tests/events_only.ndjson, "Retrieve SSO access token"
    let record = json!({
        "eventName": "CreateToken",
        "eventSource": "sso.amazonaws.com",
        "userIdentity": {
            "accountId": "<organization master account ID>",
            "principalId": "<internal victim user id>",
            "type": "Unknown",
            "userName": "<victim display name>"
        }
    });
    let actor = resolve(&record);
    assert_eq!(actor.kind, "Unknown");
    assert_eq!(actor.name, some("<victim display name>"));
    assert_eq!(actor.user, some("<victim display name>"));
    assert_eq!(actor.principal_id, some("<internal victim user id>"));

    let bare = resolve(&json!({"userIdentity": {"type": "Unknown", "principalId": "AIDAEXAMPLE"}}));
    assert_eq!(bare.name, some("AIDAEXAMPLE"));
    assert_eq!(bare.user, None);
}

#[test]
fn aws_internal_service_event_without_type() {
    // awsdocs-user-guide/non-api-aws-service-events__01.json
    let record = json!({
        "userIdentity": {"accountId": "123456789012", "invokedBy": "AWS Internal"},
        "eventSource": "kms.amazonaws.com",
        "eventName": "RotateKey",
        "eventType": "AwsServiceEvent",
        "recipientAccountId": "123456789012"
    });
    assert_eq!(
        resolve(&record).to_value(),
        json!({
            "type": "Unknown",
            "name": "AWS Internal",
            "account": "123456789012",
            "invoked_by": "AWS Internal"
        })
    );
}

#[test]
fn identity_center_user() {
    // Synthetic, in the shape AWS documents for IAM Identity Center callers.
    let record = json!({
        "eventSource": "sso.amazonaws.com",
        "eventName": "ListAccounts",
        "userIdentity": {
            "type": "IdentityCenterUser",
            "accountId": "123456789012",
            "onBehalfOf": {
                "userId": "544894e8-80c1-707f-60e3-3ba6510dfac1",
                "identityStoreArn": "arn:aws:identitystore::123456789012:identitystore/d-9067642ac7"
            },
            "credentialId": "EXAMPLEVHULjJdTUdPJfofVa1sufHDoj7aYcOYcxFVllWR_Whr1fEXAMPLE"
        }
    });
    assert_eq!(
        resolve(&record).to_value(),
        json!({
            "type": "IdentityCenterUser",
            "name": "544894e8-80c1-707f-60e3-3ba6510dfac1",
            "user": "544894e8-80c1-707f-60e3-3ba6510dfac1",
            "account": "123456789012",
            "identity_store_arn": "arn:aws:identitystore::123456789012:identitystore/d-9067642ac7"
        })
    );
}

#[test]
fn mfa_authenticated_true() {
    let record = json!({"userIdentity": {
        "type": "AssumedRole",
        "arn": "arn:aws:sts::123456789012:assumed-role/Admin/alice",
        "sessionContext": {"attributes": {"mfaAuthenticated": "true"}}
    }});
    assert_eq!(resolve(&record).mfa, Some(true));
    let record = json!({
        "eventName": "ConsoleLogin",
        "additionalEventData": {"MFAUsed": "Yes"},
        "userIdentity": {"type": "IAMUser", "userName": "alice"}
    });
    assert_eq!(resolve(&record).mfa, Some(true));
    // MFAUsed means something only for console sign-in.
    let record = json!({
        "eventName": "GetUser",
        "additionalEventData": {"MFAUsed": "Yes"},
        "userIdentity": {"type": "IAMUser", "userName": "alice"}
    });
    assert_eq!(resolve(&record).mfa, None);
}

#[test]
fn missing_user_identity() {
    // Synthetic: some records (digest-like or trimmed) have none.
    let record = json!({"eventSource": "s3.amazonaws.com", "eventName": "DeleteBucket"});
    assert_eq!(resolve(&record).to_value(), json!({"type": "Missing"}));
}

#[test]
fn odd_shapes_never_panic() {
    for record in [
        json!(null),
        json!("userIdentity"),
        json!([1, 2, 3]),
        json!({"userIdentity": "root"}),
        json!({"userIdentity": ["Root"]}),
        json!({"userIdentity": 42}),
        json!({"userIdentity": null}),
    ] {
        assert_eq!(resolve(&record).kind, "Missing", "{record}");
    }
    for identity in [
        json!({}),
        json!({"type": 7}),
        json!({"type": "AssumedRole", "arn": 12, "sessionContext": "x"}),
        json!({"type": "AssumedRole", "arn": "arn:aws:sts::1:assumed-role/", "principalId": ":"}),
        json!({"type": "AssumedRole", "arn": "arn", "sessionContext": {"sessionIssuer": []}}),
        json!({"type": "AssumedRole", "arn": "not:an:arn"}),
        json!({"type": "FederatedUser", "arn": "arn:aws:sts::1:federated-user/"}),
        json!({"type": "IdentityCenterUser", "onBehalfOf": "someone"}),
        json!({"type": "IAMUser", "userName": "   ", "accountId": 123456789012_u64}),
        json!({"type": "Root", "sessionContext": {"attributes": {"mfaAuthenticated": 1}}}),
        json!({"type": "AWSService", "invokedBy": ["x"]}),
    ] {
        let actor = resolve(&json!({"userIdentity": identity, "recipientAccountId": {}}));
        assert!(!actor.kind.is_empty());
        let value = actor.to_value();
        assert!(value.is_object());
        // Blank strings are never passed on.
        for (key, field) in value.as_object().into_iter().flatten() {
            assert_ne!(field, &json!(""), "{key} in {value}");
        }
    }
    let numeric =
        resolve(&json!({"userIdentity": {"type": "IAMUser", "accountId": 123456789012_u64}}));
    assert_eq!(numeric.account, some("123456789012"));
}

#[test]
fn to_value_keys_are_actor_fields_in_order() {
    let record = json!({"userIdentity": {
        "type": "AssumedRole",
        "principalId": "AROAEXAMPLE:alice",
        "arn": "arn:aws:sts::123456789012:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/alice",
        "accountId": "123456789012",
        "accessKeyId": "ASIAEXAMPLE",
        "invokedBy": "cloudformation.amazonaws.com",
        "sessionContext": {
            "attributes": {"mfaAuthenticated": "true"},
            "sourceIdentity": "alice",
            "webIdFederationData": {"federatedProvider": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"}
        }
    }});
    let value = resolve(&record).to_value();
    let keys: Vec<&str> = value
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    let all: Vec<&str> = ACTOR_FIELDS.iter().map(|(name, _)| *name).collect();
    let expected: Vec<&str> = all
        .iter()
        .copied()
        .filter(|name| keys.contains(name))
        .collect();
    assert_eq!(keys, expected);
    // Every field but service and identity_store_arn is set here.
    assert_eq!(keys.len(), all.len() - 2, "{keys:?}");
    for (name, description) in ACTOR_FIELDS {
        assert!(!name.is_empty() && !description.is_empty());
    }
}

/// Every record in a corpus file: objects with `userIdentity`, `eventName`
/// or `eventSource`, found at any depth (files hold a `Records` array, a
/// bare array, one event, a fragment, NDJSON, or test cases wrapping
/// events). Files that are not JSON (one is deliberately malformed) are
/// skipped.
fn records_in(path: &Path) -> Vec<Value> {
    fn walk(value: &Value, found: &mut Vec<Value>) {
        match value {
            Value::Object(map)
                if ["userIdentity", "eventName", "eventSource"]
                    .iter()
                    .any(|key| map.contains_key(*key)) =>
            {
                found.push(value.clone());
            }
            Value::Object(map) => map.values().for_each(|value| walk(value, found)),
            Value::Array(items) => items.iter().for_each(|value| walk(value, found)),
            _ => {}
        }
    }
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let documents: Vec<Value> = match serde_json::from_str::<Value>(&text) {
        Ok(document) => vec![document],
        Err(_) => text
            .lines()
            .filter_map(|line| serde_json::from_str(line).ok())
            .collect(),
    };
    let mut found = Vec::new();
    documents
        .iter()
        .for_each(|document| walk(document, &mut found));
    found
}

fn corpus_files(directory: &Path, files: &mut Vec<std::path::PathBuf>) {
    let entries = std::fs::read_dir(directory).expect("corpus directory");
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            corpus_files(&path, files);
        } else {
            files.push(path);
        }
    }
}

#[test]
fn every_corpus_event_resolves_to_a_named_actor() {
    let mut files = Vec::new();
    corpus_files(Path::new(CORPUS), &mut files);
    files.sort();
    let mut kinds = std::collections::BTreeMap::<String, usize>::new();
    let mut total = 0;
    let mut unnamed = Vec::new();
    for file in &files {
        for record in records_in(file) {
            let actor = resolve(&record);
            total += 1;
            *kinds.entry(actor.kind.clone()).or_default() += 1;
            let value = actor.to_value();
            assert!(value["type"].is_string(), "{}: {value}", file.display());
            // A reader that parses only RECORD_FIELDS gives the same actor.
            let projected: serde_json::Map<String, Value> = record
                .as_object()
                .unwrap()
                .iter()
                .filter(|(key, _)| RECORD_FIELDS.contains(&key.as_str()))
                .map(|(key, value)| (key.clone(), value.clone()))
                .collect();
            assert_eq!(
                resolve(&Value::Object(projected)),
                actor,
                "{}: RECORD_FIELDS misses a field resolve reads",
                file.display()
            );
            // One field at a time reads what the whole object holds.
            for (name, _) in ACTOR_FIELDS {
                assert_eq!(actor.field(name).as_ref(), value.get(*name), "{name}");
            }
            let named = actor.name.as_deref().is_some_and(|name| !name.is_empty());
            if !named && actor.kind != "Unknown" && actor.kind != "Missing" {
                unnamed.push(format!("{}: {}", file.display(), record["userIdentity"]));
            }
        }
    }
    assert!(unnamed.is_empty(), "no name for:\n{}", unnamed.join("\n"));
    println!("{total} records: {kinds:?}");
    assert!(total > 1000, "only {total} records read: {kinds:?}");
    for kind in [
        "Root",
        "IAMUser",
        "AssumedRole",
        "FederatedUser",
        "AWSService",
        "AWSAccount",
        "SAMLUser",
        "WebIdentityUser",
        "Unknown",
        "Missing",
    ] {
        assert!(
            kinds.contains_key(kind),
            "no {kind} in the corpus: {kinds:?}"
        );
    }
}
