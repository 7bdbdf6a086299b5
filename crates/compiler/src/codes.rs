//! Stable diagnostic codes of the compiler. docs/diagnostics.md has an entry,
//! with an example, for each. Parse errors (E1xx) live in ctrules-lang.

/// Two rules with one id.
pub const E_DUPLICATE_RULE: &str = "E201";
/// Two lists or macros with one name.
pub const E_DUPLICATE_NAME: &str = "E202";
/// A macro that is not defined.
pub const E_UNKNOWN_MACRO: &str = "E203";
/// A list that is not defined.
pub const E_UNKNOWN_LIST: &str = "E204";
/// A macro that refers to itself.
pub const E_MACRO_CYCLE: &str = "E205";
/// Macros that nest a condition deeper than `lower::MAX_CONDITION_DEPTH`.
pub const E_TOO_DEEP: &str = "E206";
/// An `allow` without a reason, or naming a code that is not a warning.
pub const E_ALLOW: &str = "E207";
/// A `technique` that is not a MITRE ATT&CK id (`T1098`, `T1098.001`), an
/// empty `reference`, or a `dedup_window` of zero or more than ten years.
pub const E_METADATA: &str = "E208";
/// A `title` or `dedup` template that does not parse: an unclosed or
/// empty placeholder, one that is not a field path, an unknown actor field.
pub const E_TEMPLATE: &str = "E209";

/// An operand of the wrong type for its operator.
pub const E_TYPE: &str = "E301";
/// An invalid regular expression.
pub const E_REGEX: &str = "E302";
/// An invalid CIDR block or IP address.
pub const E_CIDR: &str = "E303";
/// A quantifier on a path that has no `[]`.
pub const E_QUANTIFIER: &str = "E304";
/// `any NAME in ...` binding a name that hides another: a field of the
/// record, `actor`, a declared name, or a name bound around it.
pub const E_BOUND_NAME: &str = "E305";
/// Inside `any NAME in ... (...)`, a path whose first name is neither bound
/// nor a field of the record, but close to a bound name (a misspelling).
pub const E_UNBOUND_NAME: &str = "E306";

/// `set` on a field AWS writes.
pub const E_AWS_FIELD: &str = "E401";
/// `set` on a nested path.
pub const E_NESTED_SET: &str = "E402";
/// `set` on a field ctrules itself writes (xtags, xrules).
pub const E_RESERVED_FIELD: &str = "E403";
/// A priority field given a value that is not a priority.
pub const E_PRIORITY_MIX: &str = "E404";

/// A bare word read as a field that CloudTrail does not write (likely meant as text).
pub const W_UNKNOWN_VALUE_FIELD: &str = "W302";
/// A path that CloudTrail does not write (a misspelt field).
pub const W_UNKNOWN_FIELD: &str = "W303";
/// A value CloudTrail never writes in a field with a closed set of values
/// (`eventType`, `eventCategory`, `userIdentity.type`, ...).
pub const W_IMPOSSIBLE_VALUE: &str = "W304";
/// A comparison with a value of a type the field never has (`readOnly == "true"`).
pub const W_WRONG_TYPE: &str = "W305";
/// A test that contradicts an earlier one of the same `and`: no record passes both.
pub const W_CONTRADICTION: &str = "W306";
/// An eventSource that no AWS service logs.
pub const W_UNKNOWN_SOURCE: &str = "W307";
/// An eventName that its eventSource never logs, or that no service logs.
pub const W_UNKNOWN_EVENT: &str = "W308";
/// A list or macro that no rule uses.
pub const W_UNUSED: &str = "W201";
/// An `allow` in a rule that gets no such warning: it silences nothing.
pub const W_ALLOW_UNUSED: &str = "W202";
/// `any NAME in ... (...)` whose condition never reads NAME.
pub const W_BOUND_UNUSED: &str = "W203";

/// The warnings a rule may `allow`: those a rule's own text can raise.
pub const ALLOWABLE: &[&str] = &[
    W_UNKNOWN_VALUE_FIELD,
    W_UNKNOWN_FIELD,
    W_IMPOSSIBLE_VALUE,
    W_WRONG_TYPE,
    W_CONTRADICTION,
    W_UNKNOWN_SOURCE,
    W_UNKNOWN_EVENT,
    W_FIELD_NAME,
    W_OVERWRITE_OWN,
    W_NO_GEOIP,
    W_UNKNOWN_MEMBER,
    W_BOUND_UNUSED,
];
/// An enrichment field whose name does not start with `x`.
pub const W_FIELD_NAME: &str = "W401";
/// `overwrite` on a field that AWS does not write (use `set`).
pub const W_OVERWRITE_OWN: &str = "W402";

/// A lookup table, list or calendar file that cannot be loaded.
pub const E_TABLE: &str = "E501";
/// A time zone that is not an IANA name.
pub const E_ZONE: &str = "E502";
/// An invalid schedule or calendar entry.
pub const E_TIME_SPEC: &str = "E503";
/// An unknown function, or a call with the wrong arguments.
pub const E_FUNCTION: &str = "E504";
/// A table, list, schedule or calendar used in a way its kind does not allow.
pub const E_TABLE_USE: &str = "E505";

/// `geoip(...)` used while no GeoIP database is configured.
pub const W_NO_GEOIP: &str = "W501";
/// A field that a derived value (the actor, a GeoIP summary) never has.
pub const W_UNKNOWN_MEMBER: &str = "W502";
