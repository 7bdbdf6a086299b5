//! Who acted: one [`Actor`] derived from a record's `userIdentity`,
//! whatever its `type`.
//!
//! CloudTrail describes the caller differently for each kind of identity:
//! an IAM user has a `userName`, an assumed role hides its role and session
//! names in an ARN, a service has only `invokedBy`, an IAM Identity Center
//! user only an opaque `onBehalfOf.userId`. Rules should not need to know
//! all of that to ask "who did this?", so [`resolve`] reads every shape into
//! the same fields ([`ACTOR_FIELDS`]). A field is absent when the record
//! does not tell; nothing is invented.
//!
//! # The fields
//!
//! - `type`: `userIdentity.type` verbatim; `"Missing"` when the record has
//!   no `userIdentity` object (some service events), `"Unknown"` when it has
//!   one without a usable `type`.
//! - `name`: one readable string for who acted (table below). Present
//!   whenever anything identifies the caller.
//! - `user`: the person or workload behind the call, when the identity tells:
//!   for lookups such as "is this user on holiday". For a role session it is
//!   the session name, which for IAM Identity Center (SSO) and most
//!   federated sign-ins is the person's user name or e-mail address.
//! - `account`: `userIdentity.accountId`, else the account in the ARN; for
//!   `AWSService` (which carries no account) the `recipientAccountId`.
//! - `arn`, `principal_id`, `access_key_id`: verbatim, when not empty.
//! - `role`: the role name of a role session, from
//!   `sessionContext.sessionIssuer.userName` (when the issuer is a `Role`),
//!   else from the ARN `arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`.
//! - `session`: the session name, from that ARN (else from the part of
//!   `principalId` after the colon).
//! - `permission_set`: for an IAM Identity Center role,
//!   `AWSReservedSSO_<PermissionSet>_<suffix>`, the permission set name.
//! - `service`: the AWS service that acted by itself (`AWSService`):
//!   `invokedBy`, e.g. `"ec2.amazonaws.com"`.
//! - `invoked_by`: `userIdentity.invokedBy`, for any type: the service that
//!   made the call on the principal's behalf (`"signin.amazonaws.com"`, `"AWS
//!   Internal"`).
//! - `identity_provider`: `userIdentity.identityProvider` (SAML, web identity),
//!   else the web identity federation provider of a role session.
//! - `identity_store_arn`: `onBehalfOf.identityStoreArn` (Identity Center).
//! - `source_identity`: `sessionContext.sourceIdentity`, set by the caller
//!   when it assumed the role and carried along role chains.
//! - `mfa`: `sessionContext.attributes.mfaAuthenticated` (`"true"`/`"false"`);
//!   for a `ConsoleLogin` event without it, `additionalEventData.MFAUsed`
//!   (`"Yes"`/`"No"`).
//!
//! # `name` and `user` per type
//!
//! | `type` | `name` | `user` |
//! |---|---|---|
//! | `Root` | `"root"` | `"root"` |
//! | `IAMUser` | `userName` (else the name in the ARN) | the same |
//! | `AssumedRole` | `"<role>/<session>"`, e.g. `"DevRole/Dev1"` | the session name |
//! | `AssumedRole`, IAM Identity Center role | `"<permission set>/<session>"`, e.g. `"DevAdmin/jane.doe"` | the session name (the person) |
//! | `FederatedUser` | the federated user name (ARN `federated-user/NAME`) | the same |
//! | `AWSService` | `invokedBy`, e.g. `"lambda.amazonaws.com"` | absent |
//! | `AWSAccount` | `accountId` (else `principalId`) | absent |
//! | `IdentityCenterUser` | `onBehalfOf.userId` | the same |
//! | `SAMLUser`, `WebIdentityUser` | `userName` | the same |
//! | `Unknown` and any other | `userName`, else the name in the ARN | `userName` |
//! | `Missing` | absent | absent |
//!
//! An Identity Center role is named `"<permission set>/<session>"` rather
//! than after its generated role name (`AWSReservedSSO_DevAdmin_635426549a280cc6`),
//! which differs per account and tells a reader nothing more; `role` keeps
//! the full role name. When only part of a pair is known, `name` is that
//! part. For any type, when the table gives nothing, `name` falls back to
//! `userName`, the ARN, `principalId`, then `invokedBy` (AWS's own service events
//! carry a `userIdentity` of just `accountId` and `invokedBy: "AWS
//! Internal"`, with no `type`: they resolve to `Unknown` named `"AWS
//! Internal"`).
//!
//! Odd shapes (a `userIdentity` that is a string or an array, fields of the
//! wrong type, blank strings) are read as absent: [`resolve`] never fails.

use serde_json::{Map, Value};

/// The prefix IAM Identity Center gives the roles it creates in each account.
const SSO_ROLE_PREFIX: &str = "AWSReservedSSO_";

/// Actor field names with a one-line description each, in the order of
/// [`Actor::to_value`]. For documentation and "did you mean" hints.
#[rustfmt::skip]
pub const ACTOR_FIELDS: &[(&str, &str)] = &[
    ("type", "userIdentity.type verbatim (Root, IAMUser, AssumedRole, ...); \"Missing\" when the record has no userIdentity"),
    ("name", "one readable name for who acted, e.g. \"JaneDoe\", \"DevRole/Dev1\", \"ec2.amazonaws.com\""),
    ("user", "the person or workload behind the call: IAM user name, role session name, federated or SSO user"),
    ("account", "the acting principal's AWS account id"),
    ("arn", "userIdentity.arn"),
    ("principal_id", "userIdentity.principalId"),
    ("access_key_id", "userIdentity.accessKeyId, the access key used for the call"),
    ("role", "role name of an assumed-role session, e.g. \"DevRole\""),
    ("session", "session name of an assumed-role session, e.g. \"Dev1\" or an e-mail address"),
    ("permission_set", "IAM Identity Center permission set of an AWSReservedSSO_ role, e.g. \"DevAdmin\""),
    ("service", "the AWS service that acted by itself (type AWSService), e.g. \"lambda.amazonaws.com\""),
    ("invoked_by", "userIdentity.invokedBy: the AWS service that made the call on the principal's behalf"),
    ("identity_provider", "the SAML or web identity provider of a federated caller"),
    ("identity_store_arn", "ARN of the IAM Identity Center identity store of an IdentityCenterUser"),
    ("source_identity", "sessionContext.sourceIdentity, set when the role was assumed"),
    ("mfa", "true when the session was authenticated with MFA, false when not"),
];

/// Who acted, derived from a record's `userIdentity` (see the module
/// documentation for each field's meaning per identity type).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Actor {
    /// `userIdentity.type`, or "Missing" / "Unknown".
    pub kind: String,
    pub name: Option<String>,
    pub user: Option<String>,
    pub account: Option<String>,
    pub arn: Option<String>,
    pub principal_id: Option<String>,
    pub access_key_id: Option<String>,
    pub role: Option<String>,
    pub session: Option<String>,
    pub permission_set: Option<String>,
    pub service: Option<String>,
    pub invoked_by: Option<String>,
    pub identity_provider: Option<String>,
    pub identity_store_arn: Option<String>,
    pub source_identity: Option<String>,
    pub mfa: Option<bool>,
}

impl Actor {
    /// One field by its name in [`ACTOR_FIELDS`]: what `actor.NAME` reads,
    /// without building the whole object.
    pub fn field(&self, name: &str) -> Option<Value> {
        let text = match name {
            "type" => return Some(Value::String(self.kind.clone())),
            "mfa" => return self.mfa.map(Value::Bool),
            "name" => &self.name,
            "user" => &self.user,
            "account" => &self.account,
            "arn" => &self.arn,
            "principal_id" => &self.principal_id,
            "access_key_id" => &self.access_key_id,
            "role" => &self.role,
            "session" => &self.session,
            "permission_set" => &self.permission_set,
            "service" => &self.service,
            "invoked_by" => &self.invoked_by,
            "identity_provider" => &self.identity_provider,
            "identity_store_arn" => &self.identity_store_arn,
            "source_identity" => &self.source_identity,
            _ => return None,
        };
        text.as_ref().map(|t| Value::String(t.clone()))
    }

    /// The actor as a JSON object: `type` for `kind`, absent fields left
    /// out, keys in the order of [`ACTOR_FIELDS`].
    pub fn to_value(&self) -> Value {
        let mut object = Map::new();
        object.insert("type".to_owned(), Value::String(self.kind.clone()));
        let texts = [
            ("name", &self.name),
            ("user", &self.user),
            ("account", &self.account),
            ("arn", &self.arn),
            ("principal_id", &self.principal_id),
            ("access_key_id", &self.access_key_id),
            ("role", &self.role),
            ("session", &self.session),
            ("permission_set", &self.permission_set),
            ("service", &self.service),
            ("invoked_by", &self.invoked_by),
            ("identity_provider", &self.identity_provider),
            ("identity_store_arn", &self.identity_store_arn),
            ("source_identity", &self.source_identity),
        ];
        for (key, value) in texts {
            if let Some(text) = value {
                object.insert(key.to_owned(), Value::String(text.clone()));
            }
        }
        if let Some(mfa) = self.mfa {
            object.insert("mfa".to_owned(), Value::Bool(mfa));
        }
        Value::Object(object)
    }
}

/// The top-level fields of a record that [`resolve`] reads: a reader that
/// parses only some fields must parse these for the actor to be right.
pub const RECORD_FIELDS: &[&str] = &[
    "userIdentity",
    "recipientAccountId",
    "eventName",
    "additionalEventData",
];

/// Who acted in `record` (a CloudTrail record). Never fails: whatever is
/// missing or odd is left out.
pub fn resolve(record: &Value) -> Actor {
    resolve_from(&|key| record.get(key))
}

/// [`resolve`] for a record held any way: `field` gives its top-level
/// fields (only those of [`RECORD_FIELDS`] are asked for).
pub fn resolve_from<'v>(field: &dyn Fn(&str) -> Option<&'v Value>) -> Actor {
    let Some(identity) = field("userIdentity").and_then(Value::as_object) else {
        return Actor {
            kind: "Missing".to_owned(),
            ..Actor::default()
        };
    };
    let kind = text(identity.get("type")).unwrap_or_else(|| "Unknown".to_owned());
    let arn = text(identity.get("arn"));
    let parsed = arn.as_deref().and_then(Arn::parse);
    let principal_id = text(identity.get("principalId"));
    let user_name = text(identity.get("userName"));
    let session_context = identity.get("sessionContext");
    let issuer = session_context.and_then(|context| context.get("sessionIssuer"));

    let mut actor = Actor {
        account: account_id(identity.get("accountId"))
            .or_else(|| parsed.as_ref().and_then(|arn| arn.account.clone())),
        arn: arn.clone(),
        principal_id: principal_id.clone(),
        access_key_id: text(identity.get("accessKeyId")),
        invoked_by: text(identity.get("invokedBy")),
        identity_provider: text(identity.get("identityProvider")).or_else(|| {
            text(
                session_context
                    .and_then(|context| context.get("webIdFederationData"))
                    .and_then(|federation| federation.get("federatedProvider")),
            )
        }),
        source_identity: text(session_context.and_then(|context| context.get("sourceIdentity"))),
        mfa: mfa(field, session_context),
        ..Actor::default()
    };

    // The name of the resource in the ARN: "JaneDoe" in "...:user/JaneDoe".
    let arn_name = parsed.as_ref().and_then(|arn| arn.last_name());

    match kind.as_str() {
        "Root" => {
            actor.name = Some("root".to_owned());
            actor.user = Some("root".to_owned());
        }
        "IAMUser" => {
            actor.user = user_name.or(arn_name);
            actor.name = actor.user.clone();
        }
        "AssumedRole" => {
            let issuer_is_role = text(issuer.and_then(|issuer| issuer.get("type")))
                .is_none_or(|issuer_type| issuer_type == "Role");
            let issuer_role = issuer
                .filter(|_| issuer_is_role)
                .and_then(|issuer| text(issuer.get("userName")));
            let (arn_role, arn_session) = parsed
                .as_ref()
                .and_then(Arn::assumed_role)
                .map_or((None, None), |(role, session)| (Some(role), session));
            actor.role = issuer_role.or(arn_role);
            actor.session = arn_session.or_else(|| {
                // principalId is "ROLEID:SESSION" for role sessions.
                principal_id
                    .as_deref()
                    .and_then(|id| id.split_once(':'))
                    .and_then(|(_, session)| non_blank(session))
            });
            actor.permission_set = actor.role.as_deref().and_then(permission_set);
            actor.user = actor.session.clone();
            let shown_role = actor.permission_set.clone().or_else(|| actor.role.clone());
            actor.name = match (shown_role, &actor.session) {
                (Some(role), Some(session)) => Some(format!("{role}/{session}")),
                (Some(role), None) => Some(role),
                (None, Some(session)) => Some(session.clone()),
                (None, None) => None,
            };
        }
        "FederatedUser" => {
            actor.user = parsed
                .as_ref()
                .and_then(|arn| arn.resource_after("federated-user/"))
                .or_else(|| {
                    // principalId is "ACCOUNT:NAME".
                    principal_id
                        .as_deref()
                        .and_then(|id| id.split_once(':'))
                        .and_then(|(_, name)| non_blank(name))
                })
                .or(user_name);
            actor.name = actor.user.clone();
        }
        "AWSService" => {
            actor.service = actor.invoked_by.clone();
            actor.name = actor.invoked_by.clone();
            if actor.account.is_none() {
                actor.account = account_id(field("recipientAccountId"));
            }
        }
        "AWSAccount" => {
            actor.name = actor.account.clone().or_else(|| principal_id.clone());
        }
        "IdentityCenterUser" => {
            let on_behalf_of = identity.get("onBehalfOf");
            actor.user = text(on_behalf_of.and_then(|who| who.get("userId")));
            actor.identity_store_arn =
                text(on_behalf_of.and_then(|who| who.get("identityStoreArn")));
            actor.name = actor.user.clone();
        }
        "SAMLUser" | "WebIdentityUser" => {
            actor.user = user_name;
            actor.name = actor.user.clone();
        }
        _ => {
            // Unknown, and types AWS may add later.
            actor.user = user_name;
            actor.name = actor.user.clone().or(arn_name);
        }
    }
    if actor.name.is_none() {
        actor.name = text(identity.get("userName"))
            .or(arn)
            .or(principal_id)
            .or_else(|| actor.invoked_by.clone());
    }
    actor.kind = kind;
    actor
}

/// A non-blank string value, trimmed.
fn text(value: Option<&Value>) -> Option<String> {
    value.and_then(Value::as_str).and_then(non_blank)
}

fn non_blank(text: &str) -> Option<String> {
    let trimmed = text.trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// An account id: a string, or a number (some exporters turn the
/// 12-digit id into one, losing leading zeros: it is kept as written).
fn account_id(value: Option<&Value>) -> Option<String> {
    match value? {
        Value::Number(number) => number.as_u64().map(|id| id.to_string()),
        other => text(Some(other)),
    }
}

/// `sessionContext.attributes.mfaAuthenticated`, else for console sign-in
/// `additionalEventData.MFAUsed`.
fn mfa<'v>(
    field: &dyn Fn(&str) -> Option<&'v Value>,
    session_context: Option<&Value>,
) -> Option<bool> {
    let authenticated = session_context
        .and_then(|context| context.get("attributes"))
        .and_then(|attributes| attributes.get("mfaAuthenticated"));
    match authenticated {
        Some(Value::Bool(flag)) => return Some(*flag),
        Some(Value::String(flag)) if flag.trim().eq_ignore_ascii_case("true") => return Some(true),
        Some(Value::String(flag)) if flag.trim().eq_ignore_ascii_case("false") => {
            return Some(false)
        }
        _ => {}
    }
    if field("eventName").and_then(Value::as_str) != Some("ConsoleLogin") {
        return None;
    }
    match field("additionalEventData")
        .and_then(|data| data.get("MFAUsed"))
        .and_then(Value::as_str)
        .map(str::trim)
    {
        Some(used) if used.eq_ignore_ascii_case("yes") => Some(true),
        Some(used) if used.eq_ignore_ascii_case("no") => Some(false),
        _ => None,
    }
}

/// The permission set in an IAM Identity Center role name:
/// `AWSReservedSSO_<PermissionSet>_<suffix>` gives `<PermissionSet>`, which
/// may itself hold underscores; without a suffix, all after the prefix.
fn permission_set(role: &str) -> Option<String> {
    let rest = role.strip_prefix(SSO_ROLE_PREFIX)?;
    let name = match rest.rsplit_once('_') {
        Some((name, _suffix)) if !name.is_empty() => name,
        _ => rest,
    };
    non_blank(name)
}

/// The parts of an ARN that name things: `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`.
struct Arn {
    account: Option<String>,
    resource: String,
}

impl Arn {
    /// Parses leniently: spaces around the parts are ignored, as in some of
    /// AWS's own documentation samples ("arn: aws: sts: : 1234...").
    fn parse(text: &str) -> Option<Arn> {
        let mut parts = text.splitn(6, ':').map(str::trim);
        if parts.next()? != "arn" {
            return None;
        }
        let _partition = parts.next()?;
        let _service = parts.next()?;
        let _region = parts.next()?;
        let account = non_blank(parts.next()?);
        let resource = parts.next()?.to_owned();
        Some(Arn { account, resource })
    }

    /// The resource's last path segment: "JaneDoe" in "user/division/JaneDoe".
    fn last_name(&self) -> Option<String> {
        let (_, name) = self.resource.rsplit_once('/')?;
        non_blank(name)
    }

    /// What follows `prefix` in the resource, when it starts with it.
    fn resource_after(&self, prefix: &str) -> Option<String> {
        self.resource.strip_prefix(prefix).and_then(non_blank)
    }

    /// `(ROLE, SESSION)` from `assumed-role/ROLE/SESSION`.
    fn assumed_role(&self) -> Option<(String, Option<String>)> {
        let rest = self.resource.strip_prefix("assumed-role/")?;
        match rest.split_once('/') {
            Some((role, session)) => Some((non_blank(role)?, non_blank(session))),
            None => Some((non_blank(rest)?, None)),
        }
    }
}
