//! The members of a gzip file, one after another.
//!
//! `cat a.gz b.gz` is one gzip file of two members, read as one stream. Zero
//! bytes after the last member, which some tools add to pad a file to a
//! block size, are passed over, as gzip(1) does; anything else after a
//! member must be another member.

use flate2::bufread::GzDecoder;
use std::io::{self, BufRead, Read};

pub(super) struct Members<R: BufRead> {
    /// The member being read; None once the input is done.
    member: Option<GzDecoder<R>>,
    /// The most zero bytes passed over after the last member.
    max_padding: usize,
}

impl<R: BufRead> Members<R> {
    pub fn new(input: R, max_padding: usize) -> Self {
        Members {
            member: Some(GzDecoder::new(input)),
            max_padding,
        }
    }
}

impl<R: BufRead> Read for Members<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        loop {
            let Some(member) = &mut self.member else {
                return Ok(0);
            };
            let n = member.read(out)?;
            if n > 0 || out.is_empty() {
                return Ok(n);
            }
            // The member is done (its checksum and length checked): what follows?
            let input = member.get_mut();
            match input.fill_buf()?.first() {
                None => {
                    self.member = None;
                    return Ok(0);
                }
                Some(0) => {
                    skip_zero_padding(input, self.max_padding)?;
                    self.member = None;
                    return Ok(0);
                }
                Some(_) => {
                    if let Some(done) = self.member.take() {
                        self.member = Some(GzDecoder::new(done.into_inner()));
                    }
                }
            }
        }
    }
}

/// Consumes zero bytes to the end of the input; fails at any other byte, or
/// past `max` of them.
fn skip_zero_padding(input: &mut impl BufRead, max: usize) -> io::Result<()> {
    let mut zeros = 0usize;
    loop {
        let head = input.fill_buf()?;
        if head.is_empty() {
            return Ok(());
        }
        let n = head.iter().take_while(|&&b| b == 0).count();
        let whole = n == head.len();
        input.consume(n);
        zeros += n;
        if zeros > max {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("more than {max} zero bytes after the last member"),
            ));
        }
        if !whole {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("invalid gzip header (after {zeros} zero bytes that follow a member)"),
            ));
        }
    }
}
