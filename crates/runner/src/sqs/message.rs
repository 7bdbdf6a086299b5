//! The body of one SQS message, turned into what a worker must do.
//!
//! A queue fed by S3 or CloudTrail carries a few shapes of body; [`parse`]
//! accepts these and nothing else:
//!
//! 1. **S3 event notification** (`{"Records":[...]}`), sent by S3 straight
//!    to the queue. Each record with an `eventName` of `ObjectCreated:*`
//!    names one object; other records (`ObjectRemoved:Delete`, ...) are
//!    ignored, since there is nothing to read. S3 URL-encodes the key in
//!    form style (`red flower.jpg` arrives as `red+flower.jpg`), so it is
//!    decoded with [`decode_key`]. MinIO and Ceph send the same shape with
//!    `s3:ObjectCreated:Put` and `minio:s3`/`ceph:s3`; both spellings are
//!    accepted, since ctrules reads S3-compatible stores too.
//! 2. **The same, wrapped by SNS** (`{"Type":"Notification",...,"Message":
//!    "<the JSON above, as a string>"}`) when S3 publishes to a topic the
//!    queue subscribes to without raw message delivery. `Message` is parsed
//!    as one of the other shapes (one level only: SNS never wraps twice).
//! 3. **CloudTrail's own SNS notification**, `{"s3Bucket":"B","s3ObjectKey":
//!    [...]}`, in an SNS envelope or (raw message delivery) alone. One
//!    message names several log files, possibly of several regions. These
//!    keys are plain, not URL-encoded: they are used as they are.
//! 4. **`s3:TestEvent`**, which S3 sends once when a notification is
//!    configured, and 5. **`CloudTrail validation message.`**, a plain
//!    string (not JSON) which CloudTrail publishes when a topic is attached
//!    to a trail: both ask for nothing, so they give [`Notice::Nothing`]
//!    and the message is deleted.
//! 6. **EventBridge `Object Created` events** (`{"detail-type":"Object
//!    Created","source":"aws.s3","detail":{...}}`), when an EventBridge
//!    rule targets the queue. Other S3 detail types (`Object Deleted`, ...)
//!    ask for nothing. The key is taken as it is, not decoded: the AWS
//!    page on the EventBridge event structure ("EventBridge event message
//!    structure", S3 User Guide) describes `detail.object.key` without any
//!    encoding, while the page on the notification structure says
//!    explicitly that its key is URL-encoded; and moto, which emulates
//!    both, URL-encodes the notification's key but puts the plain key in
//!    the EventBridge event. The keys CloudTrail makes contain no
//!    character that form encoding changes (only a trail's chosen key
//!    prefix might), so for log files both readings mostly agree.
//!
//! Anything else is a [`MessageError`] naming the place
//! (`Records[2].s3.object.key is missing`). A message in error is **not**
//! deleted: after its receive count it goes to the dead-letter queue,
//! where an operator can look at it, rather than vanishing. For the same
//! reason one bad record spoils the whole message: processing the good
//! records and deleting the message would silently lose the bad one.
//!
//! [`parse`] never panics, whatever the body (a property test checks it).

use serde_json::Value;
use std::fmt;

/// One object a notification names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectNotice {
    pub bucket: String,
    /// The object key, decoded: what `GetObject` takes.
    pub key: String,
    pub size: Option<u64>,
    pub etag: Option<String>,
    /// S3's `sequencer` (hex, ordered per key), for deduplication: S3
    /// notifications and SQS deliveries can both repeat.
    pub sequencer: Option<String>,
}

/// What a message asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Objects to process (one S3 event record each, or every key of a
    /// CloudTrail SNS notification).
    Objects(Vec<ObjectNotice>),
    /// Nothing to do; acknowledge (delete) the message. The reason, for the
    /// log: "s3:TestEvent", "CloudTrail validation message", an S3 event
    /// that is not an object creation (e.g. ObjectRemoved:Delete).
    Nothing(String),
}

/// Why a body is not a notification ctrules understands (the message is
/// then NOT deleted: it goes to the dead-letter queue after its receive
/// count). Display gives a clear cause naming the place (e.g.
/// "Records[2].s3.object.key is missing").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageError {
    pub message: String,
}

impl MessageError {
    fn new(message: impl Into<String>) -> MessageError {
        MessageError {
            message: message.into(),
        }
    }
}

impl fmt::Display for MessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for MessageError {}

/// What CloudTrail publishes to a topic when it is attached to a trail.
const CLOUDTRAIL_VALIDATION: &str = "CloudTrail validation message.";

/// Reads the body of one SQS message.
pub fn parse(body: &str) -> Result<Notice, MessageError> {
    if is_cloudtrail_validation(body) {
        return Ok(Notice::Nothing("CloudTrail validation message".into()));
    }
    let document = parse_json(body)?;
    let root = At::root(&document);
    if root.has("Type") {
        sns_notification(&root)
    } else {
        unwrapped(&root)
    }
}

/// S3 event keys are URL-encoded form style: '+' is a space, then %XX
/// escapes, which may encode UTF-8 multibyte sequences; invalid escapes
/// are an error.
pub fn decode_key(encoded: &str) -> Result<String, MessageError> {
    url_decode(encoded)
        .map_err(|problem| MessageError::new(format!("key {}: {problem}", preview(encoded))))
}

/// [`decode_key`], with what is wrong said without naming the key.
fn url_decode(encoded: &str) -> Result<String, String> {
    let bytes = encoded.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'+' => {
                decoded.push(b' ');
                at += 1;
            }
            b'%' => {
                let escape = bytes
                    .get(at + 1..at + 3)
                    .and_then(|hex| Some(hex_value(hex[0])? * 16 + hex_value(hex[1])?))
                    .ok_or_else(|| {
                        format!(
                            "invalid %-escape at byte {at} (a '%' must be followed by two hex digits)"
                        )
                    })?;
                decoded.push(escape);
                at += 3;
            }
            other => {
                decoded.push(other);
                at += 1;
            }
        }
    }
    String::from_utf8(decoded).map_err(|_| "its %-escapes do not decode to UTF-8 text".into())
}

fn hex_value(digit: u8) -> Option<u8> {
    (digit as char).to_digit(16).map(|value| value as u8)
}

fn is_cloudtrail_validation(text: &str) -> bool {
    text.trim() == CLOUDTRAIL_VALIDATION
}

fn parse_json(text: &str) -> Result<Value, MessageError> {
    serde_json::from_str(text).map_err(|error| {
        MessageError::new(format!(
            "not JSON ({error}), nor CloudTrail's validation message: {}",
            preview(text)
        ))
    })
}

/// An SNS envelope: only `Notification` carries a message to act on.
fn sns_notification(envelope: &At) -> Result<Notice, MessageError> {
    let kind = envelope.field("Type")?.string()?;
    match kind {
        "Notification" => {}
        // An error rather than Nothing: a pending subscription (across
        // accounts SNS does not confirm by itself) means no notification
        // will ever arrive. Kept in the queue, the message is reported at
        // every receive and then lands in the dead-letter queue with its
        // SubscribeURL, where an operator finds it; deleted, it would leave
        // one log line and a watch that silently receives nothing.
        "SubscriptionConfirmation" => {
            let topic = envelope
                .optional("TopicArn")?
                .map(|topic| topic.string().map(str::to_string))
                .transpose()?
                .unwrap_or_else(|| "(no TopicArn)".into());
            return Err(MessageError::new(format!(
                "SNS SubscriptionConfirmation for {topic}: the queue's subscription to this topic \
                 must be confirmed (visit the SubscribeURL of this message, or confirm it in the \
                 SNS console) before notifications arrive"
            )));
        }
        other => {
            return Err(MessageError::new(format!(
                "Type is {other:?}: not an SNS Notification"
            )))
        }
    }
    let message = envelope.field("Message")?.string()?;
    if is_cloudtrail_validation(message) {
        return Ok(Notice::Nothing("CloudTrail validation message".into()));
    }
    let in_message = |error: MessageError| MessageError::new(format!("SNS Message: {error}"));
    let document = parse_json(message).map_err(in_message)?;
    let inner = At::root(&document);
    if inner.has("Type") {
        return Err(in_message(MessageError::new(
            "an SNS envelope inside an SNS envelope",
        )));
    }
    unwrapped(&inner).map_err(in_message)
}

/// Every shape but the SNS envelope, told apart by their distinctive keys.
fn unwrapped(root: &At) -> Result<Notice, MessageError> {
    if !root.value.is_object() {
        return Err(MessageError::new(format!(
            "the body is {}, not a JSON object: {}",
            kind_of(root.value),
            shown(root.value)
        )));
    }
    if root.has("Records") {
        s3_event(root)
    } else if root.has("Event") {
        s3_test_event(root)
    } else if root.has("s3Bucket") || root.has("s3ObjectKey") {
        cloudtrail_notification(root)
    } else if root.has("detail-type") {
        eventbridge_event(root)
    } else {
        let keys: Vec<&str> = root
            .value
            .as_object()
            .map(|object| object.keys().take(8).map(String::as_str).collect())
            .unwrap_or_default();
        Err(MessageError::new(format!(
            "a JSON object with keys {keys:?}: not an S3 event notification (Records), \
             an SNS envelope (Type), an s3:TestEvent, CloudTrail's notification (s3Bucket, \
             s3ObjectKey) nor an EventBridge event (detail-type)"
        )))
    }
}

fn s3_event(root: &At) -> Result<Notice, MessageError> {
    let records = root.field("Records")?.array()?;
    // S3 never sends an empty list; an error keeps such an odd message
    // in sight (dead-letter queue) instead of acknowledging it.
    if records.is_empty() {
        return Err(MessageError::new("Records is empty"));
    }
    let mut objects = Vec::new();
    let mut ignored: Vec<&str> = Vec::new();
    for record in &records {
        if let Some(source) = record.optional("eventSource")? {
            // aws:s3, or minio:s3 / ceph:s3 from S3-compatible stores.
            let name = source.string()?;
            if !name.ends_with(":s3") {
                return Err(source.error(format!("is {name:?}, not an S3 event source (aws:s3)")));
            }
        }
        let event_name = record.field("eventName")?.string()?;
        let kind = event_name.strip_prefix("s3:").unwrap_or(event_name);
        if !kind.starts_with("ObjectCreated:") {
            if !ignored.contains(&kind) {
                ignored.push(kind);
            }
            continue;
        }
        let s3 = record.field("s3")?;
        let bucket = bucket_name(&s3.field("bucket")?.field("name")?)?;
        let object = s3.field("object")?;
        let key_at = object.field("key")?;
        let encoded = key_at.string()?;
        let key = url_decode(encoded)
            .map_err(|problem| key_at.error(format!("{}: {problem}", preview(encoded))))?;
        if key.is_empty() {
            return Err(key_at.error("is empty"));
        }
        objects.push(ObjectNotice {
            bucket,
            key,
            size: object.optional_size("size")?,
            etag: object.optional_string("eTag")?,
            sequencer: object.optional_string("sequencer")?,
        });
    }
    if objects.is_empty() {
        return Ok(Notice::Nothing(format!(
            "S3 event {} (not an object creation)",
            ignored.join(", ")
        )));
    }
    Ok(Notice::Objects(objects))
}

fn s3_test_event(root: &At) -> Result<Notice, MessageError> {
    let event = root.field("Event")?;
    match event.string()? {
        "s3:TestEvent" => Ok(Notice::Nothing("s3:TestEvent".into())),
        other => Err(event.error(format!("is {other:?}, not s3:TestEvent"))),
    }
}

fn cloudtrail_notification(root: &At) -> Result<Notice, MessageError> {
    let bucket = bucket_name(&root.field("s3Bucket")?)?;
    let keys = root.field("s3ObjectKey")?.array()?;
    if keys.is_empty() {
        return Err(MessageError::new("s3ObjectKey is an empty list"));
    }
    let mut objects = Vec::with_capacity(keys.len());
    for key_at in &keys {
        // Plain keys: CloudTrail does not URL-encode them.
        let key = key_at.string()?;
        if key.is_empty() {
            return Err(key_at.error("is empty"));
        }
        objects.push(ObjectNotice {
            bucket: bucket.clone(),
            key: key.to_string(),
            size: None,
            etag: None,
            sequencer: None,
        });
    }
    Ok(Notice::Objects(objects))
}

fn eventbridge_event(root: &At) -> Result<Notice, MessageError> {
    let source_at = root.field("source")?;
    let source = source_at.string()?;
    if source != "aws.s3" {
        return Err(source_at.error(format!("is {source:?}, not aws.s3")));
    }
    let detail_type = root.field("detail-type")?.string()?;
    if detail_type != "Object Created" {
        return Ok(Notice::Nothing(format!(
            "EventBridge {detail_type} event (not an object creation)"
        )));
    }
    let detail = root.field("detail")?;
    let bucket = bucket_name(&detail.field("bucket")?.field("name")?)?;
    let object = detail.field("object")?;
    let key_at = object.field("key")?;
    // Not decoded: see the module documentation.
    let key = key_at.string()?;
    if key.is_empty() {
        return Err(key_at.error("is empty"));
    }
    Ok(Notice::Objects(vec![ObjectNotice {
        bucket,
        key: key.to_string(),
        size: object.optional_size("size")?,
        etag: object.optional_string("etag")?,
        sequencer: object.optional_string("sequencer")?,
    }]))
}

fn bucket_name(name: &At) -> Result<String, MessageError> {
    let bucket = name.string()?;
    if bucket.is_empty() {
        return Err(name.error("is empty"));
    }
    Ok(bucket.to_string())
}

/// A JSON value and the path that leads to it (`Records[2].s3.object`), so
/// that every error names its place.
struct At<'a> {
    value: &'a Value,
    path: String,
}

impl<'a> At<'a> {
    fn root(value: &'a Value) -> At<'a> {
        At {
            value,
            path: String::new(),
        }
    }

    fn error(&self, what: impl fmt::Display) -> MessageError {
        if self.path.is_empty() {
            MessageError::new(format!("the body {what}"))
        } else {
            MessageError::new(format!("{} {what}", self.path))
        }
    }

    fn child_path(&self, name: &str) -> String {
        if self.path.is_empty() {
            name.to_string()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    fn has(&self, name: &str) -> bool {
        self.value.get(name).is_some()
    }

    /// A field that may be absent; `null` counts as absent.
    fn optional(&self, name: &str) -> Result<Option<At<'a>>, MessageError> {
        let object = self
            .value
            .as_object()
            .ok_or_else(|| self.error(format!("is {}, not an object", kind_of(self.value))))?;
        Ok(object
            .get(name)
            .filter(|value| !value.is_null())
            .map(|value| At {
                value,
                path: self.child_path(name),
            }))
    }

    fn field(&self, name: &str) -> Result<At<'a>, MessageError> {
        self.optional(name)?
            .ok_or_else(|| MessageError::new(format!("{} is missing", self.child_path(name))))
    }

    fn string(&self) -> Result<&'a str, MessageError> {
        self.value
            .as_str()
            .ok_or_else(|| self.error(format!("is {}, not a string", kind_of(self.value))))
    }

    fn array(&self) -> Result<Vec<At<'a>>, MessageError> {
        let items = self
            .value
            .as_array()
            .ok_or_else(|| self.error(format!("is {}, not a list", kind_of(self.value))))?;
        Ok(items
            .iter()
            .enumerate()
            .map(|(index, value)| At {
                value,
                path: format!("{}[{index}]", self.path),
            })
            .collect())
    }

    fn optional_string(&self, name: &str) -> Result<Option<String>, MessageError> {
        self.optional(name)?
            .map(|field| field.string().map(str::to_string))
            .transpose()
    }

    fn optional_size(&self, name: &str) -> Result<Option<u64>, MessageError> {
        self.optional(name)?
            .map(|field| {
                field.value.as_u64().ok_or_else(|| {
                    field.error(format!("is {}, not a size in bytes", shown(field.value)))
                })
            })
            .transpose()
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// The start of a text, quoted, for an error message: a body may be
/// megabytes of anything.
fn preview(text: &str) -> String {
    format!("{:?}", shortened(text))
}

/// A JSON value as JSON text, shortened like [`preview`].
fn shown(value: &Value) -> String {
    shortened(&value.to_string())
}

fn shortened(text: &str) -> String {
    const LONGEST: usize = 80;
    let mut start: String = text.chars().take(LONGEST).collect();
    if start.len() < text.len() {
        start.push('…');
    }
    start
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // --- Message bodies as AWS documents them --------------------------

    /// S3 to SQS, one record (S3 User Guide, "Event message structure"),
    /// for a CloudTrail log file.
    const S3_EVENT: &str = r#"{
  "Records": [
    {
      "eventVersion": "2.1",
      "eventSource": "aws:s3",
      "awsRegion": "us-east-1",
      "eventTime": "2024-05-01T12:05:31.123Z",
      "eventName": "ObjectCreated:Put",
      "userIdentity": { "principalId": "AWS:AROAEXAMPLEID:regionalDeliverySession" },
      "requestParameters": { "sourceIPAddress": "203.0.113.10" },
      "responseElements": {
        "x-amz-request-id": "C3D13FE58DE4C810",
        "x-amz-id-2": "FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD"
      },
      "s3": {
        "s3SchemaVersion": "1.0",
        "configurationId": "ctrules-watch",
        "bucket": {
          "name": "amzn-s3-demo-bucket",
          "ownerIdentity": { "principalId": "A3NL1KOZZKExample" },
          "arn": "arn:aws:s3:::amzn-s3-demo-bucket"
        },
        "object": {
          "key": "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/111122223333_CloudTrail_us-east-1_20240501T1205Z_Gx3tQpZ0Lw1RkD4m.json.gz",
          "size": 2317,
          "eTag": "d41d8cd98f00b204e9800998ecf8427e",
          "sequencer": "0066323B1B0D0A6C53"
        }
      }
    }
  ]
}"#;

    /// Two records in one message, the second a deletion and the third a
    /// copy with a key that needs decoding.
    const S3_EVENT_MIXED: &str = r#"{"Records":[
  {"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"eu-west-1","eventTime":"2024-05-01T12:05:31.123Z",
   "eventName":"ObjectCreated:CompleteMultipartUpload","userIdentity":{"principalId":"AWS:AIDAEXAMPLE"},
   "requestParameters":{"sourceIPAddress":"203.0.113.10"},"responseElements":{"x-amz-request-id":"1","x-amz-id-2":"2"},
   "s3":{"s3SchemaVersion":"1.0","configurationId":"c","bucket":{"name":"logs-eu","ownerIdentity":{"principalId":"A"},"arn":"arn:aws:s3:::logs-eu"},
         "object":{"key":"AWSLogs/o-a1b2c3d4e5/111122223333/CloudTrail/eu-west-1/2024/05/01/a.json.gz","size":91234,"eTag":"9b2cf535f27731c974343645a3985328-2","versionId":"096fKKXTRTtl3on89fVO.nfljtsv6qko","sequencer":"0066323B1B0D0A6C54"}}},
  {"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"eu-west-1","eventTime":"2024-05-01T12:05:32.000Z",
   "eventName":"ObjectRemoved:Delete","userIdentity":{"principalId":"AWS:AIDAEXAMPLE"},
   "requestParameters":{"sourceIPAddress":"203.0.113.10"},"responseElements":{"x-amz-request-id":"3","x-amz-id-2":"4"},
   "s3":{"s3SchemaVersion":"1.0","configurationId":"c","bucket":{"name":"logs-eu","ownerIdentity":{"principalId":"A"},"arn":"arn:aws:s3:::logs-eu"},
         "object":{"key":"old/gone.json.gz","sequencer":"0066323B1B0D0A6C55"}}},
  {"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"eu-west-1","eventTime":"2024-05-01T12:05:33.000Z",
   "eventName":"ObjectCreated:Copy","userIdentity":{"principalId":"AWS:AIDAEXAMPLE"},
   "requestParameters":{"sourceIPAddress":"203.0.113.10"},"responseElements":{"x-amz-request-id":"5","x-amz-id-2":"6"},
   "s3":{"s3SchemaVersion":"1.0","configurationId":"c","bucket":{"name":"logs-eu","ownerIdentity":{"principalId":"A"},"arn":"arn:aws:s3:::logs-eu"},
         "object":{"key":"copied/red+flower%3A1+%C3%A9t%C3%A9%2B.json","size":0,"eTag":"d41d8cd98f00b204e9800998ecf8427e","sequencer":"0066323B1B0D0A6C56"}}}
]}"#;

    /// A deletion alone.
    const S3_EVENT_REMOVED: &str = r#"{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",
  "eventTime":"2024-05-01T12:05:32.000Z","eventName":"ObjectRemoved:Delete","userIdentity":{"principalId":"AWS:AIDAEXAMPLE"},
  "requestParameters":{"sourceIPAddress":"203.0.113.10"},"responseElements":{"x-amz-request-id":"3","x-amz-id-2":"4"},
  "s3":{"s3SchemaVersion":"1.0","configurationId":"c","bucket":{"name":"amzn-s3-demo-bucket","ownerIdentity":{"principalId":"A"},"arn":"arn:aws:s3:::amzn-s3-demo-bucket"},
        "object":{"key":"AWSLogs/x.json.gz","sequencer":"0066323B1B0D0A6C55"}}}]}"#;

    /// S3 to SNS to SQS (no raw delivery): S3_EVENT as the SNS Message.
    const SNS_S3_EVENT: &str = r#"{
  "Type" : "Notification",
  "MessageId" : "c4a1e3a4-8f0e-5b4c-9d62-0e0a1f7e4b11",
  "TopicArn" : "arn:aws:sns:us-east-1:111122223333:s3-cloudtrail-events",
  "Subject" : "Amazon S3 Notification",
  "Message" : "{\"Records\":[{\"eventVersion\":\"2.1\",\"eventSource\":\"aws:s3\",\"awsRegion\":\"us-east-1\",\"eventTime\":\"2024-05-01T12:05:31.123Z\",\"eventName\":\"ObjectCreated:Put\",\"userIdentity\":{\"principalId\":\"AWS:AROAEXAMPLEID:regionalDeliverySession\"},\"requestParameters\":{\"sourceIPAddress\":\"203.0.113.10\"},\"responseElements\":{\"x-amz-request-id\":\"C3D13FE58DE4C810\",\"x-amz-id-2\":\"FMyUVURIY8/IgAtTv8xRjskZQpcIZ9KG4V5Wp6S7S/JRWeUWerMUE5JgHvANOjpD\"},\"s3\":{\"s3SchemaVersion\":\"1.0\",\"configurationId\":\"ctrules-watch\",\"bucket\":{\"name\":\"amzn-s3-demo-bucket\",\"ownerIdentity\":{\"principalId\":\"A3NL1KOZZKExample\"},\"arn\":\"arn:aws:s3:::amzn-s3-demo-bucket\"},\"object\":{\"key\":\"AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/111122223333_CloudTrail_us-east-1_20240501T1205Z_Gx3tQpZ0Lw1RkD4m.json.gz\",\"size\":2317,\"eTag\":\"d41d8cd98f00b204e9800998ecf8427e\",\"sequencer\":\"0066323B1B0D0A6C53\"}}}]}",
  "Timestamp" : "2024-05-01T12:05:31.456Z",
  "SignatureVersion" : "1",
  "Signature" : "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bkkOxYDVrY0Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q=",
  "SigningCertURL" : "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
  "UnsubscribeURL" : "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:111122223333:s3-cloudtrail-events:2bcfbf39-05c3-41de-beaa-fcfcc21c8f55"
}"#;

    /// CloudTrail's notification to its topic (CloudTrail User Guide,
    /// "Configuring Amazon SNS notifications"), two regions in one message.
    const SNS_CLOUDTRAIL: &str = r#"{
  "Type" : "Notification",
  "MessageId" : "a8a3b6c0-5a5b-5e4d-b8f4-6f0a7e5d0d22",
  "TopicArn" : "arn:aws:sns:us-east-2:123456789012:cloudtrail-log-delivery",
  "Message" : "{\"s3Bucket\":\"amzn-s3-demo-bucket\",\"s3ObjectKey\":[\"AWSLogs/123456789012/CloudTrail/us-east-2/2013/12/13/123456789012_CloudTrail_us-east-2_20131213T1920Z_LnPgDQnpkSKEsppV.json.gz\",\"AWSLogs/123456789012/CloudTrail/us-west-2/2013/12/13/123456789012_CloudTrail_us-west-2_20131213T1920Z_Xa9+bX2%2Fq.json.gz\"]}",
  "Timestamp" : "2013-12-13T19:21:08.711Z",
  "SignatureVersion" : "1",
  "Signature" : "EXAMPLEw6JRN1uo1AGq6hIVVr4BDxTLFFBvQg8OE8j8DjTg4Fm2Z8T3TKuH9Jn1fYnx9bLXjqVMQIMnhn+wUJ4yd2ZQ5TIyKk0whYbTgWEQhC+2dZEnvD9xYBd4j8d8h+G6fk3HUMX3PgqhBCgEtpNuWKqdafJfvp+xxvaQoeJYtJuc=",
  "SigningCertURL" : "https://sns.us-east-2.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
  "UnsubscribeURL" : "https://sns.us-east-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-2:123456789012:cloudtrail-log-delivery:0e5b6e0a-1d5e-4c39-9b0e-5a0d9c1d0f3a"
}"#;

    /// The same with raw message delivery.
    const RAW_CLOUDTRAIL: &str = r#"{"s3Bucket":"amzn-s3-demo-bucket","s3ObjectKey":["AWSLogs/123456789012/CloudTrail/us-east-2/2013/12/13/123456789012_CloudTrail_us-east-2_20131213T1920Z_LnPgDQnpkSKEsppV.json.gz"]}"#;

    /// What CloudTrail publishes when a topic is attached to a trail.
    const SNS_CLOUDTRAIL_VALIDATION: &str = r#"{
  "Type" : "Notification",
  "MessageId" : "5c9d8e0b-7f0a-5c7e-9b49-3c8b3f0e7a11",
  "TopicArn" : "arn:aws:sns:us-east-2:123456789012:cloudtrail-log-delivery",
  "Message" : "CloudTrail validation message.",
  "Timestamp" : "2024-05-01T11:59:58.001Z",
  "SignatureVersion" : "1",
  "Signature" : "EXAMPLEpH+A==",
  "SigningCertURL" : "https://sns.us-east-2.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
  "UnsubscribeURL" : "https://sns.us-east-2.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-2:123456789012:cloudtrail-log-delivery:0e5b6e0a"
}"#;

    /// What S3 sends when a notification configuration is saved.
    const S3_TEST_EVENT: &str = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2024-05-01T11:58:02.089Z","Bucket":"amzn-s3-demo-bucket","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"}"#;

    /// The test event through SNS.
    const SNS_S3_TEST_EVENT: &str = r#"{
  "Type" : "Notification",
  "MessageId" : "0b6f0c1e-2d3a-5b8e-8f1c-7e9d1a2b3c44",
  "TopicArn" : "arn:aws:sns:us-east-1:111122223333:s3-cloudtrail-events",
  "Subject" : "Amazon S3 Notification",
  "Message" : "{\"Service\":\"Amazon S3\",\"Event\":\"s3:TestEvent\",\"Time\":\"2024-05-01T11:58:02.089Z\",\"Bucket\":\"amzn-s3-demo-bucket\",\"RequestId\":\"5582815E1AEA5ADF\",\"HostId\":\"8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE\"}",
  "Timestamp" : "2024-05-01T11:58:02.301Z",
  "SignatureVersion" : "1",
  "Signature" : "EXAMPLEpH+A==",
  "SigningCertURL" : "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000.pem",
  "UnsubscribeURL" : "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:111122223333:s3-cloudtrail-events:2bcf"
}"#;

    /// SNS asking a cross-account subscription to be confirmed.
    const SNS_SUBSCRIPTION_CONFIRMATION: &str = r#"{
  "Type" : "SubscriptionConfirmation",
  "MessageId" : "165545c9-2a5c-472c-8df2-7ff2be2b3b1b",
  "Token" : "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f794cc5f6a988666d92768dd60a747ba6f3beb71854e285d6ad02428b09ceece29417f1f02d609c582afbacc99c583a916b9981dd2728f4ae6fdb82efd087cc3b7849e05798d2d2785c03b0879594eeac82c01f235d0e717736",
  "TopicArn" : "arn:aws:sns:us-west-2:123456789012:MyTopic",
  "Message" : "You have chosen to subscribe to the topic arn:aws:sns:us-west-2:123456789012:MyTopic.\nTo confirm the subscription, visit the SubscribeURL included in this message.",
  "SubscribeURL" : "https://sns.us-west-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn=arn:aws:sns:us-west-2:123456789012:MyTopic&Token=2336412f37",
  "Timestamp" : "2012-04-26T20:45:04.751Z",
  "SignatureVersion" : "1",
  "Signature" : "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bkkOxYDVrY0Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q=",
  "SigningCertURL" : "https://sns.us-west-2.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem"
}"#;

    /// EventBridge rule to SQS (S3 User Guide, "EventBridge event message
    /// structure").
    const EVENTBRIDGE_OBJECT_CREATED: &str = r#"{
  "version": "0",
  "id": "17793124-05d4-b198-2fde-7ededc63b103",
  "detail-type": "Object Created",
  "source": "aws.s3",
  "account": "111122223333",
  "time": "2021-11-12T00:00:00Z",
  "region": "ca-central-1",
  "resources": ["arn:aws:s3:::amzn-s3-demo-bucket1"],
  "detail": {
    "version": "0",
    "bucket": { "name": "amzn-s3-demo-bucket1" },
    "object": {
      "key": "AWSLogs/111122223333/CloudTrail/ca-central-1/2021/11/12/111122223333_CloudTrail_ca-central-1_20211112T0000Z_a+b%2F.json.gz",
      "size": 5,
      "etag": "b1946ac92492d2347c6235b4d2611184",
      "version-id": "IYV3p45BT0ac8hjHg1houSdS1a.Mro8e",
      "sequencer": "617f08299329d189"
    },
    "request-id": "N4N7GDK58NMKJ12R",
    "requester": "123456789012",
    "source-ip-address": "1.2.3.4",
    "reason": "PutObject"
  }
}"#;

    const EVENTBRIDGE_OBJECT_DELETED: &str = r#"{
  "version": "0",
  "id": "2ee9cc15-d022-99ea-1fb8-1b1bac4850f9",
  "detail-type": "Object Deleted",
  "source": "aws.s3",
  "account": "111122223333",
  "time": "2021-11-12T00:00:00Z",
  "region": "ca-central-1",
  "resources": ["arn:aws:s3:::amzn-s3-demo-bucket1"],
  "detail": {
    "version": "0",
    "bucket": { "name": "amzn-s3-demo-bucket1" },
    "object": {
      "key": "example-key",
      "etag": "d41d8cd98f00b204e9800998ecf8427e",
      "version-id": "1QW9g1Z99LUNbvaaYVpW9xDlOLU.qxgF",
      "sequencer": "617f0837b476e463"
    },
    "request-id": "0BH729840619AG5K",
    "requester": "123456789012",
    "source-ip-address": "1.2.3.4",
    "reason": "DeleteObject",
    "deletion-type": "Delete Marker Created"
  }
}"#;

    /// Every valid body above, for the property tests.
    const VALID_BODIES: &[&str] = &[
        S3_EVENT,
        S3_EVENT_MIXED,
        S3_EVENT_REMOVED,
        SNS_S3_EVENT,
        SNS_CLOUDTRAIL,
        RAW_CLOUDTRAIL,
        SNS_CLOUDTRAIL_VALIDATION,
        S3_TEST_EVENT,
        SNS_S3_TEST_EVENT,
        SNS_SUBSCRIPTION_CONFIRMATION,
        EVENTBRIDGE_OBJECT_CREATED,
        EVENTBRIDGE_OBJECT_DELETED,
    ];

    fn objects(body: &str) -> Vec<ObjectNotice> {
        match parse(body) {
            Ok(Notice::Objects(objects)) => objects,
            other => panic!("expected objects, got {other:?}"),
        }
    }

    fn nothing(body: &str) -> String {
        match parse(body) {
            Ok(Notice::Nothing(reason)) => reason,
            other => panic!("expected nothing to do, got {other:?}"),
        }
    }

    fn error(body: &str) -> String {
        match parse(body) {
            Err(error) => error.to_string(),
            other => panic!("expected an error, got {other:?}"),
        }
    }

    /// A copy of `body` with `edit` applied to its JSON.
    fn edited(body: &str, edit: impl FnOnce(&mut Value)) -> String {
        let mut document: Value = serde_json::from_str(body).unwrap();
        edit(&mut document);
        document.to_string()
    }

    // --- The accepted shapes --------------------------------------------

    #[test]
    fn s3_event_names_its_object() {
        assert_eq!(
            objects(S3_EVENT),
            vec![ObjectNotice {
                bucket: "amzn-s3-demo-bucket".into(),
                key: "AWSLogs/111122223333/CloudTrail/us-east-1/2024/05/01/111122223333_CloudTrail_us-east-1_20240501T1205Z_Gx3tQpZ0Lw1RkD4m.json.gz".into(),
                size: Some(2317),
                etag: Some("d41d8cd98f00b204e9800998ecf8427e".into()),
                sequencer: Some("0066323B1B0D0A6C53".into()),
            }]
        );
    }

    #[test]
    fn s3_event_keeps_created_records_only_and_decodes_keys() {
        let found = objects(S3_EVENT_MIXED);
        let keys: Vec<&str> = found.iter().map(|object| object.key.as_str()).collect();
        assert_eq!(
            keys,
            [
                "AWSLogs/o-a1b2c3d4e5/111122223333/CloudTrail/eu-west-1/2024/05/01/a.json.gz",
                "copied/red flower:1 été+.json",
            ]
        );
        assert!(found.iter().all(|object| object.bucket == "logs-eu"));
        assert_eq!(found[0].size, Some(91234));
        assert_eq!(found[1].size, Some(0));
        assert_eq!(found[1].sequencer.as_deref(), Some("0066323B1B0D0A6C56"));
    }

    #[test]
    fn s3_event_without_creation_asks_nothing() {
        let reason = nothing(S3_EVENT_REMOVED);
        assert!(reason.contains("ObjectRemoved:Delete"), "{reason}");
    }

    #[test]
    fn s3_event_from_minio_spells_names_with_s3_prefix() {
        let minio = edited(S3_EVENT, |document| {
            document["Records"][0]["eventName"] = "s3:ObjectCreated:Put".into();
            document["Records"][0]["eventSource"] = "minio:s3".into();
        });
        assert_eq!(objects(&minio), objects(S3_EVENT));
    }

    #[test]
    fn s3_event_through_sns_is_the_same_event() {
        assert_eq!(objects(SNS_S3_EVENT), objects(S3_EVENT));
    }

    #[test]
    fn cloudtrail_notification_names_every_key_plain() {
        let found = objects(SNS_CLOUDTRAIL);
        assert_eq!(found.len(), 2);
        assert!(found
            .iter()
            .all(|object| object.bucket == "amzn-s3-demo-bucket"
                && object.size.is_none()
                && object.etag.is_none()
                && object.sequencer.is_none()));
        // Not URL-decoded: '+' and '%2F' stay as they are.
        assert_eq!(
            found[1].key,
            "AWSLogs/123456789012/CloudTrail/us-west-2/2013/12/13/123456789012_CloudTrail_us-west-2_20131213T1920Z_Xa9+bX2%2Fq.json.gz"
        );
    }

    #[test]
    fn cloudtrail_notification_with_raw_delivery() {
        assert_eq!(objects(RAW_CLOUDTRAIL), objects(SNS_CLOUDTRAIL)[..1]);
    }

    #[test]
    fn cloudtrail_validation_message_asks_nothing() {
        assert_eq!(
            nothing(SNS_CLOUDTRAIL_VALIDATION),
            "CloudTrail validation message"
        );
        assert_eq!(
            nothing("CloudTrail validation message."),
            "CloudTrail validation message"
        );
        assert_eq!(
            nothing("CloudTrail validation message.\n"),
            "CloudTrail validation message"
        );
    }

    #[test]
    fn s3_test_event_asks_nothing() {
        assert_eq!(nothing(S3_TEST_EVENT), "s3:TestEvent");
        assert_eq!(nothing(SNS_S3_TEST_EVENT), "s3:TestEvent");
    }

    #[test]
    fn subscription_confirmation_is_an_error_asking_to_confirm() {
        let message = error(SNS_SUBSCRIPTION_CONFIRMATION);
        assert!(message.contains("must be confirmed"), "{message}");
        assert!(
            message.contains("arn:aws:sns:us-west-2:123456789012:MyTopic"),
            "{message}"
        );
    }

    #[test]
    fn eventbridge_object_created_key_is_taken_as_is() {
        assert_eq!(
            objects(EVENTBRIDGE_OBJECT_CREATED),
            vec![ObjectNotice {
                bucket: "amzn-s3-demo-bucket1".into(),
                key: "AWSLogs/111122223333/CloudTrail/ca-central-1/2021/11/12/111122223333_CloudTrail_ca-central-1_20211112T0000Z_a+b%2F.json.gz".into(),
                size: Some(5),
                etag: Some("b1946ac92492d2347c6235b4d2611184".into()),
                sequencer: Some("617f08299329d189".into()),
            }]
        );
    }

    #[test]
    fn eventbridge_other_detail_types_ask_nothing() {
        let reason = nothing(EVENTBRIDGE_OBJECT_DELETED);
        assert!(reason.contains("Object Deleted"), "{reason}");
    }

    // --- What is refused, and where ---------------------------------------

    #[test]
    fn errors_name_the_place() {
        let cases: Vec<(String, &str)> = vec![
            (
                edited(S3_EVENT_MIXED, |d| {
                    d["Records"][2]["s3"]["object"]
                        .as_object_mut()
                        .unwrap()
                        .shift_remove("key");
                }),
                "Records[2].s3.object.key is missing",
            ),
            (
                edited(S3_EVENT, |d| d["Records"][0]["s3"]["object"]["key"] = 42.into()),
                "Records[0].s3.object.key is a number, not a string",
            ),
            (
                edited(S3_EVENT, |d| d["Records"][0]["s3"]["object"]["key"] = "".into()),
                "Records[0].s3.object.key is empty",
            ),
            (
                edited(S3_EVENT, |d| {
                    d["Records"][0]["s3"]["object"]["key"] = "AWSLogs/%E9t%C3".into()
                }),
                "Records[0].s3.object.key \"AWSLogs/%E9t%C3\": its %-escapes do not decode to UTF-8",
            ),
            (
                edited(S3_EVENT, |d| d["Records"][0]["s3"]["object"]["key"] = "a%2".into()),
                "invalid %-escape at byte 1",
            ),
            (
                edited(S3_EVENT, |d| d["Records"][0]["s3"]["bucket"]["name"] = "".into()),
                "Records[0].s3.bucket.name is empty",
            ),
            (
                edited(S3_EVENT, |d| d["Records"][0]["s3"]["object"]["size"] = "2317".into()),
                "Records[0].s3.object.size is \"2317\", not a size in bytes",
            ),
            (
                edited(S3_EVENT, |d| d["Records"][0]["s3"]["object"]["size"] = (-1).into()),
                "Records[0].s3.object.size is -1, not a size in bytes",
            ),
            (
                edited(S3_EVENT, |d| d["Records"][0]["s3"] = "x".into()),
                "Records[0].s3 is a string, not an object",
            ),
            (
                edited(S3_EVENT, |d| d["Records"][0]["eventSource"] = "aws:sqs".into()),
                "Records[0].eventSource is \"aws:sqs\", not an S3 event source",
            ),
            (
                edited(S3_EVENT, |d| d["Records"] = serde_json::json!([])),
                "Records is empty",
            ),
            (
                edited(S3_EVENT, |d| d["Records"] = serde_json::json!({})),
                "Records is an object, not a list",
            ),
            (
                edited(RAW_CLOUDTRAIL, |d| d["s3ObjectKey"][0] = "".into()),
                "s3ObjectKey[0] is empty",
            ),
            (
                edited(RAW_CLOUDTRAIL, |d| d["s3ObjectKey"] = "a.json.gz".into()),
                "s3ObjectKey is a string, not a list",
            ),
            (
                edited(RAW_CLOUDTRAIL, |d| d["s3ObjectKey"] = serde_json::json!([])),
                "s3ObjectKey is an empty list",
            ),
            (
                edited(RAW_CLOUDTRAIL, |d| {
                    d.as_object_mut().unwrap().shift_remove("s3Bucket");
                }),
                "s3Bucket is missing",
            ),
            (
                edited(SNS_S3_EVENT, |d| {
                    let message = d["Message"].as_str().unwrap().replace("\"key\"", "\"Key\"");
                    d["Message"] = message.into();
                }),
                "SNS Message: Records[0].s3.object.key is missing",
            ),
            (
                edited(SNS_S3_EVENT, |d| d["Message"] = "{not json".into()),
                "SNS Message: not JSON",
            ),
            (
                edited(SNS_S3_EVENT, |d| d["Message"] = SNS_S3_EVENT.into()),
                "SNS Message: an SNS envelope inside an SNS envelope",
            ),
            (
                edited(SNS_S3_EVENT, |d| d["Message"] = 7.into()),
                "Message is a number, not a string",
            ),
            (
                edited(SNS_S3_EVENT, |d| d["Type"] = "UnsubscribeConfirmation".into()),
                "Type is \"UnsubscribeConfirmation\": not an SNS Notification",
            ),
            (
                edited(S3_TEST_EVENT, |d| d["Event"] = "s3:Other".into()),
                "Event is \"s3:Other\", not s3:TestEvent",
            ),
            (
                edited(EVENTBRIDGE_OBJECT_CREATED, |d| d["source"] = "aws.ec2".into()),
                "source is \"aws.ec2\", not aws.s3",
            ),
            (
                edited(EVENTBRIDGE_OBJECT_CREATED, |d| {
                    d["detail"]["object"]["key"] = "".into()
                }),
                "detail.object.key is empty",
            ),
            (
                edited(EVENTBRIDGE_OBJECT_CREATED, |d| {
                    d["detail"]["bucket"] = serde_json::json!({})
                }),
                "detail.bucket.name is missing",
            ),
            ("hello".into(), "not JSON"),
            ("".into(), "not JSON"),
            ("[1,2]".into(), "the body is a list, not a JSON object: [1,2]"),
            ("\"CloudTrail\"".into(), "the body is a string, not a JSON object"),
            (r#"{"foo":1}"#.into(), "a JSON object with keys [\"foo\"]"),
        ];
        for (body, expected) in cases {
            let message = error(&body);
            assert!(
                message.contains(expected),
                "for {body}\n  got: {message}\n  expected to contain: {expected}"
            );
        }
    }

    #[test]
    fn long_bodies_are_shortened_in_errors() {
        let message = error(&"x".repeat(100_000));
        assert!(message.len() < 300, "{message}");
    }

    // --- decode_key -------------------------------------------------------

    #[test]
    fn decode_key_plus_is_space_then_escapes() {
        assert_eq!(decode_key("red+flower.jpg").unwrap(), "red flower.jpg");
        assert_eq!(decode_key("a%2Bb").unwrap(), "a+b");
        assert_eq!(decode_key("a%2bb%2f%3A").unwrap(), "a+b/:");
        assert_eq!(decode_key("%E2%82%AC%F0%9F%98%80").unwrap(), "€😀");
        assert_eq!(decode_key("déjà").unwrap(), "déjà");
        assert_eq!(decode_key("").unwrap(), "");
        for bad in ["%", "%4", "a%G0", "%-1", "%+1", "%C3", "%FF", "%C3%28"] {
            assert!(decode_key(bad).is_err(), "{bad} was accepted");
        }
    }

    /// Form-urlencoding as S3 does it (as Java's URLEncoder): letters,
    /// digits and `.-*_` stay, a space is `+`, every other byte `%XX`;
    /// `slash_plain` keeps `/` (S3 leaves it), `lower_hex` varies the case.
    fn form_urlencode(text: &str, slash_plain: bool, lower_hex: bool) -> String {
        let mut encoded = String::new();
        for byte in text.bytes() {
            match byte {
                b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b'*' | b'_' => {
                    encoded.push(byte as char)
                }
                b'/' if slash_plain => encoded.push('/'),
                b' ' => encoded.push('+'),
                _ if lower_hex => encoded.push_str(&format!("%{byte:02x}")),
                _ => encoded.push_str(&format!("%{byte:02X}")),
            }
        }
        encoded
    }

    // --- Properties -------------------------------------------------------

    /// A mutation of a body's text: cut, insert or replace at a position
    /// (taken modulo the length, on character boundaries).
    #[derive(Debug, Clone)]
    enum TextEdit {
        Cut(usize, usize),
        Insert(usize, String),
        Replace(usize, char),
    }

    fn text_edit() -> impl Strategy<Value = TextEdit> {
        prop_oneof![
            (any::<usize>(), 0usize..40).prop_map(|(at, len)| TextEdit::Cut(at, len)),
            (any::<usize>(), "[\\[\\]{}\",:\\\\0-9a-z%+ ]{0,6}|\\PC{0,4}")
                .prop_map(|(at, text)| TextEdit::Insert(at, text)),
            (any::<usize>(), any::<char>()).prop_map(|(at, ch)| TextEdit::Replace(at, ch)),
        ]
    }

    fn apply_text_edit(body: &str, edit: &TextEdit) -> String {
        let mut chars: Vec<char> = body.chars().collect();
        let len = chars.len().max(1);
        match edit {
            TextEdit::Cut(at, cut) => {
                let start = at % len;
                let end = (start + cut).min(chars.len());
                chars.drain(start.min(chars.len())..end);
            }
            TextEdit::Insert(at, text) => {
                let at = at % (chars.len() + 1);
                chars.splice(at..at, text.chars());
            }
            TextEdit::Replace(at, ch) => {
                if !chars.is_empty() {
                    chars[at % len] = *ch;
                }
            }
        }
        chars.into_iter().collect()
    }

    /// A JSON value of any type, small.
    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            "\\PC{0,12}".prop_map(Value::from),
            "[a-z0-9+%/ ]{0,12}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::vec(("[a-zA-Z]{1,8}", inner), 0..4)
                    .prop_map(|fields| Value::Object(fields.into_iter().collect())),
            ]
        })
    }

    /// Replaces the `pick`-th node (in depth-first order, modulo the
    /// count) of `document` with `replacement`, or removes it from its
    /// object or list when `remove`.
    fn replace_node(document: &mut Value, pick: usize, replacement: Value, remove: bool) {
        fn count(value: &Value) -> usize {
            1 + match value {
                Value::Array(items) => items.iter().map(count).sum(),
                Value::Object(fields) => fields.values().map(count).sum(),
                _ => 0,
            }
        }
        // Returns true when done; `left` counts down the nodes to skip.
        fn walk(value: &mut Value, left: &mut usize, replacement: &Value, remove: bool) -> bool {
            let children: Vec<String> = match value {
                Value::Object(fields) => fields.keys().cloned().collect(),
                Value::Array(items) => (0..items.len()).map(|i| i.to_string()).collect(),
                _ => Vec::new(),
            };
            for child in children {
                *left -= 1;
                if *left == 0 {
                    match value {
                        Value::Object(fields) if remove => {
                            fields.shift_remove(&child);
                        }
                        Value::Array(items) if remove => {
                            items.remove(child.parse::<usize>().unwrap());
                        }
                        Value::Object(fields) => fields[&child] = replacement.clone(),
                        Value::Array(items) => {
                            items[child.parse::<usize>().unwrap()] = replacement.clone()
                        }
                        _ => unreachable!(),
                    }
                    return true;
                }
                let next = match value {
                    Value::Object(fields) => fields.get_mut(&child).unwrap(),
                    Value::Array(items) => &mut items[child.parse::<usize>().unwrap()],
                    _ => unreachable!(),
                };
                if walk(next, left, replacement, remove) {
                    return true;
                }
            }
            false
        }
        let total = count(document);
        let mut left = pick % total;
        if left == 0 {
            *document = replacement;
        } else {
            walk(document, &mut left, &replacement, remove);
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics_on_any_text(body in any::<String>()) {
            let _ = parse(&body);
        }

        #[test]
        fn parse_never_panics_on_json_like_text(body in "[\\[\\]{}\",:0-9a-zA-Z%+ .\\\\]{0,80}") {
            let _ = parse(&body);
        }

        #[test]
        fn parse_never_panics_on_edited_bodies(
            which in 0..VALID_BODIES.len(),
            edits in prop::collection::vec(text_edit(), 1..4),
        ) {
            let mut body = VALID_BODIES[which].to_string();
            for edit in &edits {
                body = apply_text_edit(&body, edit);
            }
            let _ = parse(&body);
        }

        #[test]
        fn parse_never_panics_on_reshaped_bodies(
            which in 0..VALID_BODIES.len(),
            pick in any::<usize>(),
            replacement in any_json(),
            remove in any::<bool>(),
            inside_sns_message in any::<bool>(),
        ) {
            let body = VALID_BODIES[which];
            let mut document: Value = serde_json::from_str(body).unwrap_or(Value::Null);
            // Reshape the JSON inside an SNS Message, or the envelope.
            if inside_sns_message && document["Message"].is_string() {
                let message = document["Message"].as_str().unwrap().to_string();
                if let Ok(mut inner) = serde_json::from_str::<Value>(&message) {
                    replace_node(&mut inner, pick, replacement, remove);
                    document["Message"] = inner.to_string().into();
                }
            } else {
                replace_node(&mut document, pick, replacement, remove);
            }
            let _ = parse(&document.to_string());
        }

        #[test]
        fn decode_key_inverts_form_urlencoding(
            key in any::<String>(),
            slash_plain in any::<bool>(),
            lower_hex in any::<bool>(),
        ) {
            let encoded = form_urlencode(&key, slash_plain, lower_hex);
            prop_assert_eq!(decode_key(&encoded).unwrap(), key);
        }

        #[test]
        fn decode_key_never_panics(encoded in "([%+a-fA-F0-9]|\\PC){0,24}") {
            let _ = decode_key(&encoded);
        }

        #[test]
        fn s3_event_keys_round_trip_through_parse(key in "\\PC{1,40}") {
            let body = edited(S3_EVENT, |d| {
                d["Records"][0]["s3"]["object"]["key"] = form_urlencode(&key, true, false).into()
            });
            let found = match parse(&body) {
                Ok(Notice::Objects(found)) => found,
                other => return Err(TestCaseError::fail(format!("{other:?}"))),
            };
            prop_assert_eq!(&found[0].key, &key);
        }
    }
}
