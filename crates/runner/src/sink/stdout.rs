//! Outputs for standard output: plain NDJSON, one input at a time, in input
//! order, each input whole or not at all.
//!
//! Inputs are processed in parallel but must come out in order, and a
//! failed input writes nothing. So each input's output is gathered in a
//! [`Spill`]: memory up to [`SPILL_AFTER`] bytes, then an unnamed temporary
//! file (it has no name, so it cannot be left behind). Memory stays bounded
//! by `jobs x SPILL_AFTER` whatever the size of the inputs.

use std::fs::File;
use std::io::{self, Read, Seek, Write};

/// Bytes of one input's output kept in memory before spilling to disk.
pub const SPILL_AFTER: usize = 8 * 1024 * 1024;

/// One input's output, in memory or spilled to an unnamed file.
#[derive(Debug, Default)]
pub struct Spill {
    memory: Vec<u8>,
    file: Option<File>,
    /// Bytes moved to the file so far.
    spilled: u64,
}

impl Spill {
    pub fn new() -> Spill {
        Spill::default()
    }

    /// The buffer to append records to; call [`Spill::settle`] after each.
    pub fn buffer(&mut self) -> &mut Vec<u8> {
        &mut self.memory
    }

    /// Moves the buffer to the spill file once it is large.
    pub fn settle(&mut self) -> io::Result<()> {
        if self.memory.len() < SPILL_AFTER {
            return Ok(());
        }
        let file = match &mut self.file {
            Some(f) => f,
            None => self.file.insert(tempfile::tempfile()?),
        };
        file.write_all(&self.memory)?;
        self.spilled += self.memory.len() as u64;
        self.memory.clear();
        Ok(())
    }

    /// Bytes gathered so far.
    pub fn len(&self) -> u64 {
        self.spilled + self.memory.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Copies everything written, in order, to `out`.
    pub fn copy_to(mut self, out: &mut dyn Write) -> io::Result<()> {
        if let Some(mut file) = self.file.take() {
            file.rewind()?;
            let mut chunk = vec![0u8; 256 * 1024];
            loop {
                let n = file.read(&mut chunk)?;
                if n == 0 {
                    break;
                }
                out.write_all(&chunk[..n])?;
            }
        }
        out.write_all(&self.memory)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_output_spills_to_disk_and_comes_back_whole_and_in_order() {
        let mut spill = Spill::new();
        let mut expected = Vec::new();
        let line = vec![b'x'; 1000];
        for i in 0..(3 * SPILL_AFTER / 1000) {
            let mut rec = format!("{i}:").into_bytes();
            rec.extend_from_slice(&line);
            rec.push(b'\n');
            spill.buffer().extend_from_slice(&rec);
            expected.extend_from_slice(&rec);
            spill.settle().unwrap();
            assert!(spill.buffer().len() < SPILL_AFTER);
        }
        assert!(spill.file.is_some());
        let mut out = Vec::new();
        spill.copy_to(&mut out).unwrap();
        assert_eq!(out, expected);
    }
}
