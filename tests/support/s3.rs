//! A real S3 + SQS server on loopback for the end-to-end tests: moto,
//! installed by `tools/moto.sh` into a cached virtualenv the first time.
//!
//! ```ignore
//! let s3 = MotoServer::start();            // its own port, its own state
//! s3.create_bucket("trail");
//! s3.put_object("trail", "AWSLogs/1/x.json.gz", &gzip(b"{\"Records\":[]}"));
//! let out = ctrules().args(["run", ...]).envs(s3.env()).output();
//! ```
//!
//! Nothing leaves the machine: the server listens on 127.0.0.1 only, the
//! helpers here speak plain HTTP to it (no proxy, no redirects, no TLS
//! built in), and a process given `env()` (or `apply_env`) gets dummy
//! credentials, a loopback endpoint, instance metadata disabled, and no
//! AWS configuration file, so an AWS SDK in it never looks for credentials
//! anywhere else.
//!
//! The helpers do not sign requests. moto reads the service from the
//! credential scope of the `Authorization` header (without one, every
//! request goes to S3 as an anonymous caller, and reading a private
//! object is refused), but checks signatures only when its IAM
//! authentication is switched on (`INITIAL_NO_AUTH_ACTION_COUNT`), which
//! the server started here never has: so the header names the service and
//! carries a dummy signature. An SDK client signs for real; moto accepts
//! both.
//!
//! `CTRULES_MOTO_SERVER` names a `moto_server` to use instead of running
//! `tools/moto.sh`.

use std::fs::File;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use ureq::http::Request;
use ureq::SendBody;

pub const ACCESS_KEY_ID: &str = "test";
pub const SECRET_ACCESS_KEY: &str = "test";
pub const REGION: &str = "us-east-1";
/// The account moto gives every resource (in queue URLs, for example).
pub const ACCOUNT_ID: &str = "123456789012";

/// How long the server may take to listen and answer (Python imports the
/// whole of moto first: about half a second when warm).
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running moto server; killed (and reaped) when dropped.
pub struct MotoServer {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
    http: ureq::Agent,
}

/// One message from `receive_messages`.
#[derive(Debug, Clone)]
pub struct Message {
    pub message_id: String,
    pub receipt_handle: String,
    pub body: String,
}

/// The `moto_server` to run: `CTRULES_MOTO_SERVER`, or what `tools/moto.sh`
/// installs (once per test process; the script itself locks across
/// processes).
pub fn moto_server() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        if let Some(p) = std::env::var_os("CTRULES_MOTO_SERVER") {
            return PathBuf::from(p);
        }
        let script = super::repo().join("tools/moto.sh");
        let out = Command::new("bash")
            .arg(&script)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "{} failed ({}); it installs moto, the S3 + SQS server of the tests, \
             and needs python3 with venv and access to PyPI the first time:\n{stderr}",
            script.display(),
            out.status
        );
        eprint!("{stderr}");
        let path = String::from_utf8(out.stdout).unwrap();
        PathBuf::from(path.trim_end())
    })
    .clone()
}

/// The variables every process that talks to the server gets: dummy
/// credentials, the region, the loopback endpoint for every AWS service,
/// no instance metadata look-ups, and no AWS configuration files.
fn aws_env(endpoint: Option<&str>) -> Vec<(&'static str, String)> {
    let mut env = vec![
        ("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID.to_string()),
        ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.to_string()),
        ("AWS_REGION", REGION.to_string()),
        ("AWS_DEFAULT_REGION", REGION.to_string()),
        ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        ("AWS_CONFIG_FILE", "/dev/null".to_string()),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".to_string()),
    ];
    if let Some(e) = endpoint {
        env.push(("AWS_ENDPOINT_URL", e.to_string()));
    }
    env
}

/// Variables a process must not inherit from the machine: any other AWS
/// setting (profiles, SSO, web identity, container credentials, a
/// credential process...) and HTTP proxies.
fn is_foreign(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    upper.starts_with("AWS_")
        || upper.starts_with("MOTO_")
        || upper == "INITIAL_NO_AUTH_ACTION_COUNT"
        || matches!(
            upper.as_str(),
            "HTTP_PROXY" | "HTTPS_PROXY" | "ALL_PROXY" | "NO_PROXY"
        )
}

impl MotoServer {
    /// Starts a fresh server on a port of its own (moto binds port 0 and
    /// says which it got), and waits until it answers. Installs moto first
    /// if needed. Panics, with the server's output, if it does not come up.
    pub fn start() -> MotoServer {
        let server = moto_server();
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("moto.log");
        let file = File::create(&log).unwrap();
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", "0"])
            .env_clear()
            .envs(aws_env(None))
            .env("HOME", dir.path())
            .env("LANG", "C.UTF-8")
            .env("PYTHONUNBUFFERED", "1")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", server.display()));
        let http: ureq::Agent = ureq::Agent::config_builder()
            .proxy(None)
            .max_redirects(0)
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        // Built before waiting, so that a panic below kills the child.
        let mut moto = MotoServer {
            child,
            port: 0,
            log,
            _dir: dir,
            http,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        moto.port = moto.wait_for_port(deadline);
        moto.wait_until_ready(deadline);
        moto
    }

    fn wait_for_port(&mut self, deadline: Instant) -> u16 {
        const MARK: &str = "Running on http://127.0.0.1:";
        loop {
            let text = std::fs::read_to_string(&self.log).unwrap_or_default();
            if let Some(at) = text.find(MARK) {
                let digits: String = text[at + MARK.len()..]
                    .chars()
                    .take_while(char::is_ascii_digit)
                    .collect();
                if let Ok(port) = digits.parse() {
                    return port;
                }
            }
            self.check_alive("before listening");
            if Instant::now() > deadline {
                self.fail(&format!(
                    "did not listen within {} s",
                    START_TIMEOUT.as_secs()
                ));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn wait_until_ready(&mut self, deadline: Instant) {
        let url = format!("{}/moto-api/", self.endpoint());
        loop {
            let status = self
                .http
                .get(&url)
                .config()
                .timeout_global(Some(Duration::from_secs(5)))
                .build()
                .call()
                .map(|r| r.status().as_u16());
            if let Ok(200) = status {
                return;
            }
            self.check_alive("before answering");
            if Instant::now() > deadline {
                self.fail(&format!("GET {url} did not answer 200 in time: {status:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn check_alive(&mut self, when: &str) {
        if let Ok(Some(status)) = self.child.try_wait() {
            self.fail(&format!("exited {when} ({status})"));
        }
    }

    fn fail(&self, what: &str) -> ! {
        panic!("moto_server {what}\n--- its output\n{}", self.output())
    }

    /// What the server wrote so far (its start-up lines, one line per request).
    pub fn output(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`, for S3 (path-style) and SQS alike.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Environment for a process that talks to this server (a spawned
    /// ctrules): dummy credentials, the region, `AWS_ENDPOINT_URL` set to
    /// `endpoint()`, metadata look-ups off, AWS configuration files
    /// `/dev/null`. With `Command::envs` it adds to the inherited
    /// environment; `apply_env` also removes what the machine sets.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        aws_env(Some(&self.endpoint()))
    }

    /// Gives `cmd` the variables of `env()` and removes every other
    /// `AWS_*` (a profile, SSO, web identity, container or process
    /// credentials) and proxy variable, inherited or set on `cmd` before.
    pub fn apply_env<'c>(&self, cmd: &'c mut Command) -> &'c mut Command {
        let inherited = std::env::vars_os().map(|(name, _)| name);
        let given: Vec<_> = cmd.get_envs().map(|(name, _)| name.to_owned()).collect();
        for name in inherited.chain(given) {
            if name.to_str().is_none_or(is_foreign) {
                cmd.env_remove(&name);
            }
        }
        cmd.envs(self.env())
    }

    /// Empties every bucket and queue (`POST /moto-api/reset`).
    pub fn reset(&self) {
        let (status, body) = self.call("POST", "/moto-api/reset", None, &[], None);
        expect_ok("reset", status, &body);
    }

    // --- S3 (path-style)

    pub fn create_bucket(&self, bucket: &str) {
        let (status, body) = self.call("PUT", &format!("/{bucket}"), Some("s3"), &[], None);
        expect_ok(&format!("create bucket {bucket}"), status, &body);
    }

    pub fn put_object(&self, bucket: &str, key: &str, bytes: &[u8]) {
        let path = format!("/{bucket}/{}", encode(key, true));
        let headers = [("Content-Type", "application/octet-stream")];
        let (status, body) = self.call("PUT", &path, Some("s3"), &headers, Some(bytes));
        expect_ok(&format!("put s3://{bucket}/{key}"), status, &body);
    }

    /// The object's bytes, or `None` if there is no such key.
    pub fn get_object(&self, bucket: &str, key: &str) -> Option<Vec<u8>> {
        let path = format!("/{bucket}/{}", encode(key, true));
        let (status, body) = self.call("GET", &path, Some("s3"), &[], None);
        if status == 404 {
            return None;
        }
        expect_ok(&format!("get s3://{bucket}/{key}"), status, &body);
        Some(body)
    }

    /// Deletes a key (no error if it is not there, as in S3).
    pub fn delete_object(&self, bucket: &str, key: &str) {
        let path = format!("/{bucket}/{}", encode(key, true));
        let (status, body) = self.call("DELETE", &path, Some("s3"), &[], None);
        expect_ok(&format!("delete s3://{bucket}/{key}"), status, &body);
    }

    /// Every key under `prefix`, in S3's order, following ListObjectsV2
    /// continuation tokens (1,000 keys a page).
    pub fn list_keys(&self, bucket: &str, prefix: &str) -> Vec<String> {
        let mut keys = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut path = format!("/{bucket}?list-type=2&prefix={}", encode(prefix, false));
            if let Some(t) = &token {
                path.push_str(&format!("&continuation-token={}", encode(t, false)));
            }
            let (status, body) = self.call("GET", &path, Some("s3"), &[], None);
            expect_ok(&format!("list s3://{bucket}/{prefix}"), status, &body);
            let xml = String::from_utf8(body).unwrap();
            keys.extend(xml_values(&xml, "Key"));
            let truncated =
                xml_values(&xml, "IsTruncated").first().map(String::as_str) == Some("true");
            if !truncated {
                return keys;
            }
            token = xml_values(&xml, "NextContinuationToken").into_iter().next();
            assert!(
                token.is_some(),
                "truncated listing without a continuation token:\n{xml}"
            );
        }
    }

    // --- SQS (the JSON protocol)

    /// Creates a queue and returns its URL.
    pub fn create_queue(&self, name: &str) -> String {
        let answer = self.sqs("CreateQueue", json!({ "QueueName": name }));
        answer["QueueUrl"].as_str().unwrap().to_string()
    }

    /// Creates a queue with `attributes` (`{"VisibilityTimeout": "2"}`)
    /// and returns its URL.
    pub fn create_queue_with(&self, name: &str, attributes: Value) -> String {
        let answer = self.sqs(
            "CreateQueue",
            json!({ "QueueName": name, "Attributes": attributes }),
        );
        answer["QueueUrl"].as_str().unwrap().to_string()
    }

    /// A queue and its dead-letter queue, which takes a message after
    /// `max_receives` receives: the queue's URL and the dead-letter queue's.
    pub fn create_queue_with_dlq(
        &self,
        name: &str,
        visibility_timeout: u32,
        max_receives: u32,
    ) -> (String, String) {
        let dlq = self.create_queue(&format!("{name}-dlq"));
        let arn = format!("arn:aws:sqs:{REGION}:{ACCOUNT_ID}:{name}-dlq");
        let redrive =
            json!({ "deadLetterTargetArn": arn, "maxReceiveCount": max_receives.to_string() });
        let queue = self.create_queue_with(
            name,
            json!({
                "VisibilityTimeout": visibility_timeout.to_string(),
                "RedrivePolicy": redrive.to_string(),
            }),
        );
        (queue, dlq)
    }

    /// Sends one message and returns its id.
    pub fn send_message(&self, queue_url: &str, body: &str) -> String {
        let answer = self.sqs(
            "SendMessage",
            json!({ "QueueUrl": queue_url, "MessageBody": body }),
        );
        answer["MessageId"].as_str().unwrap().to_string()
    }

    /// Receives up to `max` (1 to 10) messages without waiting; they stay
    /// in flight until deleted or their visibility timeout (30 s) ends.
    pub fn receive_messages(&self, queue_url: &str, max: u32) -> Vec<Message> {
        let answer = self.sqs(
            "ReceiveMessage",
            json!({ "QueueUrl": queue_url, "MaxNumberOfMessages": max, "WaitTimeSeconds": 0 }),
        );
        let Some(messages) = answer["Messages"].as_array() else {
            return Vec::new();
        };
        messages
            .iter()
            .map(|m| Message {
                message_id: m["MessageId"].as_str().unwrap().to_string(),
                receipt_handle: m["ReceiptHandle"].as_str().unwrap().to_string(),
                body: m["Body"].as_str().unwrap().to_string(),
            })
            .collect()
    }

    pub fn delete_message(&self, queue_url: &str, receipt_handle: &str) {
        self.sqs(
            "DeleteMessage",
            json!({ "QueueUrl": queue_url, "ReceiptHandle": receipt_handle }),
        );
    }

    /// Messages waiting to be received (`ApproximateNumberOfMessages`,
    /// exact in moto).
    pub fn count_visible(&self, queue_url: &str) -> u64 {
        self.queue_attribute(queue_url, "ApproximateNumberOfMessages")
    }

    /// Messages received and neither deleted nor visible again
    /// (`ApproximateNumberOfMessagesNotVisible`).
    pub fn count_in_flight(&self, queue_url: &str) -> u64 {
        self.queue_attribute(queue_url, "ApproximateNumberOfMessagesNotVisible")
    }

    fn queue_attribute(&self, queue_url: &str, name: &str) -> u64 {
        let answer = self.sqs(
            "GetQueueAttributes",
            json!({ "QueueUrl": queue_url, "AttributeNames": [name] }),
        );
        answer["Attributes"][name]
            .as_str()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("GetQueueAttributes {name}: {answer}"))
    }

    fn sqs(&self, action: &str, request: Value) -> Value {
        let target = format!("AmazonSQS.{action}");
        let headers = [
            ("X-Amz-Target", target.as_str()),
            ("Content-Type", "application/x-amz-json-1.0"),
        ];
        let request = request.to_string();
        let (status, body) =
            self.call("POST", "/", Some("sqs"), &headers, Some(request.as_bytes()));
        expect_ok(&format!("SQS {action} {request}"), status, &body);
        if body.is_empty() {
            return Value::Null;
        }
        serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("SQS {action}: {e}: {}", String::from_utf8_lossy(&body)))
    }

    /// One request to the server; `service` names the AWS service in the
    /// (unsigned) Authorization header moto dispatches on.
    fn call(
        &self,
        method: &str,
        path_and_query: &str,
        service: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> (u16, Vec<u8>) {
        let url = format!("{}{path_and_query}", self.endpoint());
        let mut req = Request::builder().method(method).uri(&url);
        if let Some(service) = service {
            req = req.header(
                "Authorization",
                format!(
                    "AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/20260101/{REGION}/{service}/aws4_request, \
                     SignedHeaders=host, Signature=0000000000000000000000000000000000000000000000000000000000000000"
                ),
            );
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let result = match body {
            Some(bytes) => self.http.run(req.body(bytes).unwrap()),
            None => self.http.run(req.body(SendBody::none()).unwrap()),
        };
        let mut resp = result.unwrap_or_else(|e| {
            panic!("{method} {url}: {e}\n--- moto's output\n{}", self.output())
        });
        let status = resp.status().as_u16();
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(u64::MAX)
            .read_to_vec()
            .unwrap_or_else(|e| panic!("{method} {url}: reading the answer: {e}"));
        (status, bytes)
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The loopback address of a port, for checks that it is free.
pub fn loopback(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, port))
}

fn expect_ok(what: &str, status: u16, body: &[u8]) {
    assert!(
        (200..300).contains(&status),
        "{what}: HTTP {status}\n{}",
        String::from_utf8_lossy(body)
    );
}

/// Percent-encodes all but unreserved characters (and `/` if `keep_slash`).
fn encode(text: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) || (keep_slash && b == b'/') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The text of every `<tag>...</tag>` in an S3 XML answer, entities decoded.
fn xml_values(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        rest = &rest[start + open.len()..];
        let end = rest.find(&close).expect("unclosed XML element");
        out.push(unescape_xml(&rest[..end]));
        rest = &rest[end + close.len()..];
    }
    out
}

fn unescape_xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let semi = rest.find(';').expect("unterminated XML entity");
        let entity = &rest[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => entity
                .strip_prefix("#x")
                .map(|h| u32::from_str_radix(h, 16))
                .or_else(|| entity.strip_prefix('#').map(str::parse))
                .and_then(Result::ok)
                .and_then(char::from_u32),
        };
        out.push(decoded.unwrap_or_else(|| panic!("unknown XML entity &{entity};")));
        rest = &rest[semi + 1..];
    }
    out.push_str(rest);
    out
}
