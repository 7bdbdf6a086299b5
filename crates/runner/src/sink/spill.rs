//! One input's whole output, gathered before it is sent anywhere.
//!
//! Standard output must get inputs in order and a failed input must write
//! nothing; an S3 object is written in one PUT, complete or absent. Both
//! need an input's output whole before it goes out, so it is gathered in a
//! [`Spill`]: memory up to [`SPILL_AFTER`] bytes, then an unnamed temporary
//! file (it has no name, so it cannot be left behind). Memory stays bounded
//! by `inputs in flight x SPILL_AFTER` whatever the size of the inputs.

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

    /// Everything written, in memory or in the file (rewound), with its length.
    pub fn into_body(mut self) -> io::Result<Body> {
        match self.file.take() {
            None => Ok(Body::Memory(self.memory)),
            Some(mut file) => {
                file.write_all(&self.memory)?;
                let len = self.spilled + self.memory.len() as u64;
                file.rewind()?;
                Ok(Body::File(file, len))
            }
        }
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

/// A finished spill.
#[derive(Debug)]
pub enum Body {
    Memory(Vec<u8>),
    /// The file, at its start, and its length.
    File(File, u64),
}

impl Write for Spill {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.memory.extend_from_slice(buf);
        self.settle()?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
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

    #[test]
    fn a_finished_spill_is_one_body_in_memory_or_on_disk() {
        let mut small = Spill::new();
        small.write_all(b"abc").unwrap();
        assert!(matches!(small.into_body().unwrap(), Body::Memory(m) if m == b"abc"));
        let mut big = Spill::new();
        let chunk = vec![7u8; SPILL_AFTER / 3 + 1];
        for _ in 0..4 {
            big.write_all(&chunk).unwrap();
        }
        let Body::File(mut file, len) = big.into_body().unwrap() else {
            panic!("a large spill is on disk")
        };
        let mut back = Vec::new();
        file.read_to_end(&mut back).unwrap();
        assert_eq!(len, back.len() as u64);
        assert_eq!(back, chunk.repeat(4));
    }
}
