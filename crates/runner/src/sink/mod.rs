//! Sinks: where the enriched records of one input go.
//!
//! - [`dir`]: gzipped (or zstd) NDJSON at the input's relative path under a directory,
//!   written to a temporary and renamed into place when complete.
//! - standard output: plain NDJSON, gathered per input in a [`spill`] and
//!   copied out in input order once the input is complete.
//! - S3 ([`crate::s3::put`]): gzipped (or zstd) NDJSON gathered in a [`spill`], then
//!   written in one PUT.

pub mod dir;
pub mod spill;

use crate::s3::put::S3Sink;
use ctrules_core::Codec;
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

    /// How outputs are compressed, which their names say. Standard
    /// output is plain NDJSON; its inputs are named as gzip outputs.
    pub fn codec(&self) -> Codec {
        match self {
            Output::Dir(dir) => dir.codec,
            Output::S3(s3) => s3.codec,
            Output::Stdout => Codec::Gzip,
        }
    }
}

/// Which input took which output name, to catch two inputs with one output
/// (`a.json` and `a.json.gz` both make `a.json.gz`). Inputs come in name
/// order (a sorted walk, an S3 listing), so a name without `.gz` or `.zst`
/// is always seen before the same name with it: only those are kept, and
/// CloudTrail writes none, so this stays small however many inputs pass.
/// `a.json.gz` and `a.json.zst` (one output whatever the codec) are caught
/// the same way: every name listed between them starts with `a.json`, so
/// only the stems that the names since are still under are kept.
#[derive(Default)]
pub struct OutputNames {
    plain: HashMap<Vec<u8>, String>,
    /// Stems of compressed names (`a.json` of `a.json.gz`) that the names
    /// listed since all start with, and the inputs they came from.
    stems: Vec<(Vec<u8>, String)>,
}

impl OutputNames {
    /// Claims the output of the input named `name` (shown as `shown`): the
    /// input that already has it, if any.
    pub fn claim(&mut self, name: &[u8], shown: &str) -> Option<String> {
        match uncompressed(name) {
            Some(stem) => {
                if let Some(first) = self.plain.get(stem) {
                    return Some(first.clone());
                }
                // A stem this name does not start with has no more names
                // listed after it.
                self.stems.retain(|(s, _)| name.starts_with(s));
                if let Some((_, first)) = self.stems.iter().find(|(s, _)| s == stem) {
                    return Some(first.clone());
                }
                self.stems.push((stem.to_vec(), shown.to_string()));
                None
            }
            None => {
                self.plain.insert(name.to_vec(), shown.to_string());
                None
            }
        }
    }
}

/// The name of an input's output: its own, ending in `codec`'s extension
/// (`.gz` or `.zst`) instead of the input's `.gz` or `.zst`, or added when
/// it has neither: `x.json.gz` gives `x.json.zst` for zstd.
pub fn output_name(relative: &OsStr, codec: Codec) -> PathBuf {
    let bytes = relative.as_bytes();
    let mut name = OsString::from(OsStr::from_bytes(uncompressed(bytes).unwrap_or(bytes)));
    name.push(codec.extension());
    PathBuf::from(name)
}

/// A name without its compression's extension (`.gz` or `.zst`); None
/// when it has neither.
fn uncompressed(name: &[u8]) -> Option<&[u8]> {
    [Codec::Gzip, Codec::Zstd]
        .iter()
        .find_map(|codec| name.strip_suffix(codec.extension().as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(relative: &str, codec: Codec) -> String {
        output_name(OsStr::new(relative), codec)
            .to_string_lossy()
            .into_owned()
    }

    #[test]
    fn gzip_output_names_end_in_gz() {
        assert_eq!(name("a/x.json.gz", Codec::Gzip), "a/x.json.gz");
        assert_eq!(name("a/x.json", Codec::Gzip), "a/x.json.gz");
        assert_eq!(name("x.ndjson", Codec::Gzip), "x.ndjson.gz");
        assert_eq!(name("x.json.zst", Codec::Gzip), "x.json.gz");
    }

    #[test]
    fn zstd_output_names_end_in_zst() {
        assert_eq!(name("a/x.json.gz", Codec::Zstd), "a/x.json.zst");
        assert_eq!(name("a/x.json", Codec::Zstd), "a/x.json.zst");
        assert_eq!(name("x.jsonl.zst", Codec::Zstd), "x.jsonl.zst");
        assert_eq!(name("x.gz.json", Codec::Zstd), "x.gz.json.zst");
    }

    #[test]
    fn a_plain_name_and_a_compressed_one_claim_one_output() {
        let mut names = OutputNames::default();
        assert_eq!(names.claim(b"a.json", "a.json"), None);
        assert_eq!(
            names.claim(b"a.json.zst", "a.json.zst"),
            Some("a.json".into())
        );
        assert_eq!(
            names.claim(b"a.json.gz", "a.json.gz"),
            Some("a.json".into())
        );
        assert_eq!(names.claim(b"b.json.gz", "b.json.gz"), None);
    }

    #[test]
    fn a_gzip_name_and_a_zstd_one_claim_one_output() {
        let mut names = OutputNames::default();
        // In listing order, with names between the two.
        for name in ["a.json.gz", "a.json.h.gz", "a.json.z.gz", "a.json.zs"] {
            assert_eq!(names.claim(name.as_bytes(), name), None, "{name}");
        }
        assert_eq!(
            names.claim(b"a.json.zst", "a.json.zst"),
            Some("a.json.gz".into())
        );
        // Stems no later name starts with are dropped: memory stays small.
        for i in 0..1000 {
            let name = format!("d/{i:04}.json.gz");
            assert_eq!(names.claim(name.as_bytes(), &name), None);
        }
        assert!(names.stems.len() <= 2, "{} stems kept", names.stems.len());
        assert_eq!(
            names.claim(b"d/0999.json.zst", "d/0999.json.zst"),
            Some("d/0999.json.gz".into())
        );
    }
}
