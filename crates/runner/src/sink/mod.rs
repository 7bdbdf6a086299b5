//! Sinks: where the enriched records of one input go.
//!
//! - [`dir`]: gzipped NDJSON at the input's relative path under a directory,
//!   written to a temporary and renamed into place when complete.
//! - standard output: plain NDJSON, gathered per input in a [`spill`] and
//!   copied out in input order once the input is complete.
//! - S3 ([`crate::s3::put`]): gzipped NDJSON gathered in a [`spill`], then
//!   written in one PUT.

pub mod dir;
pub mod spill;

use crate::s3::put::S3Sink;
use dir::DirSink;
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

/// Where a run's outputs go.
pub enum Output {
    Dir(DirSink),
    Stdout,
    S3(S3Sink),
}

impl Output {
    /// The output root as the checkpoint keys it (None: standard output,
    /// which keeps no checkpoint).
    pub fn identity(&self) -> Option<Vec<u8>> {
        match self {
            Output::Dir(dir) => {
                let root = std::fs::canonicalize(&dir.root).unwrap_or_else(|_| dir.root.clone());
                Some(root.into_os_string().into_encoded_bytes())
            }
            Output::S3(s3) => Some(s3.url.to_string().into_bytes()),
            Output::Stdout => None,
        }
    }
}

/// Which input took which output name, to catch two inputs with one output
/// (`a.json` and `a.json.gz` both make `a.json.gz`). Inputs come in name
/// order (a sorted walk, an S3 listing), so a name without `.gz` is always
/// seen before the same name with it: only those are kept, and CloudTrail
/// writes none, so this stays small however many inputs pass.
#[derive(Default)]
pub struct OutputNames {
    plain: HashMap<Vec<u8>, String>,
}

impl OutputNames {
    /// Claims the output of the input named `name` (shown as `shown`): the
    /// input that already has it, if any.
    pub fn claim(&mut self, name: &[u8], shown: &str) -> Option<String> {
        match name.strip_suffix(b".gz") {
            Some(plain) => self.plain.get(plain).cloned(),
            None => {
                self.plain.insert(name.to_vec(), shown.to_string());
                None
            }
        }
    }
}

/// The name of an input's output: its own, with `.gz` added when missing
/// (outputs are always gzipped).
pub fn output_name(relative: &OsStr) -> PathBuf {
    if relative.as_bytes().ends_with(b".gz") {
        PathBuf::from(relative)
    } else {
        let mut name = OsString::from(relative);
        name.push(".gz");
        PathBuf::from(name)
    }
}
