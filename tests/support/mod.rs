//! Helpers shared by the end-to-end tests: the binary, the repository,
//! gzip both ways, and running `ctrules run` with a JSON summary; `s3`: a
//! local S3 + SQS server (moto) and plain-HTTP helpers for it.
#![allow(dead_code)]

pub mod s3;

use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::Value;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The binary under test; `CTRULES_BIN` points the tests at another build
/// (to check that a regression test fails on the build before a fix).
pub fn bin() -> PathBuf {
    std::env::var_os("CTRULES_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_ctrules")))
}

/// The binary, with no AWS configuration from the machine: dummy
/// credentials, no profile, no instance metadata. A test that reaches S3
/// adds its loopback server (`MotoServer::apply_env`).
pub fn ctrules() -> Command {
    let mut cmd = Command::new(bin());
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("AWS_") {
            cmd.env_remove(key);
        }
    }
    cmd.envs([
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
    ]);
    cmd
}

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub fn text(out: &Output) -> String {
    format!(
        "--- stdout\n{}\n--- stderr\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `ctrules run` and returns its output and the JSON summary.
pub fn run(rules: &Path, input: &Path, output: &Path, extra: &[&str]) -> (Output, Value) {
    let summary = output.with_extension("summary.json");
    let mut cmd = ctrules();
    cmd.args(["run", "--rules"])
        .arg(rules)
        .arg("--input")
        .arg(input)
        .arg("--output")
        .arg(output)
        .args(extra);
    output_and_summary(&mut cmd, &summary)
}

/// Runs `cmd` with `--summary-json summary` added; its output and the
/// summary (null when none was written).
pub fn output_and_summary(cmd: &mut Command, summary: &Path) -> (Output, Value) {
    let out = cmd.arg("--summary-json").arg(summary).output().unwrap();
    (out, read_json(summary))
}

/// A JSON file, or null when it cannot be read.
pub fn read_json(path: &Path) -> Value {
    std::fs::read_to_string(path)
        .map(|s| serde_json::from_str(&s).unwrap())
        .unwrap_or(Value::Null)
}

/// A gzipped CloudTrail log file: `{"Records": records}`.
pub fn records_file(records: &[Value]) -> Vec<u8> {
    gzip(
        serde_json::to_string(&serde_json::json!({ "Records": records }))
            .unwrap()
            .as_bytes(),
    )
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = GzEncoder::new(Vec::new(), Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

pub fn gunzip(bytes: &[u8]) -> String {
    let mut s = String::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_string(&mut s)
        .unwrap();
    s
}

pub fn files_under(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// Runs a command with `input` on its standard input.
pub fn with_stdin(command: &mut Command, input: &str) -> Output {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

pub fn write_rules(dir: &Path, name: &str, body: &str) -> PathBuf {
    let rules = dir.join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(rules.join(name), body).unwrap();
    rules
}
