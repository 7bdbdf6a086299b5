//! Finding where each JSON value of a stream begins and ends.
//!
//! A log file's records are found by scanning a buffer for the end of each
//! value: only strings, escapes and nesting matter, so the scan runs at
//! memory speed (`memchr` inside strings). Each record's bytes are then parsed
//! from a slice, which is several times faster than serde_json reading
//! through `io::Read` byte by byte, and lets the parser skip what no rule reads.
//!
//! The scanner decides boundaries, not validity: whether a value's bytes are
//! valid JSON is for the parser that reads them. Memory is the largest
//! single value plus one read, whatever the size of the file, and at most
//! the splitter's limit plus one read: a value, line or pinned object
//! longer than the limit is an error ([`ReadErrorKind::TooLarge`]) that
//! leaves the splitter where the value starts, so that the caller can fail,
//! or pass the value over with [`Splitter::skip_value`], which keeps none
//! of it.

use super::validate::{self, Member, Scan, Traits};
use super::{io_error, Packing, ReadError, ReadErrorKind};
use std::io::Read;

const READ_SIZE: usize = 256 * 1024;

/// One value's bytes, and whether they hold whitespace outside strings.
pub(super) struct Slice {
    pub start: usize,
    pub end: usize,
    pub compact: bool,
}

/// A JSON text read in chunks, scanned value by value.
pub(super) struct Splitter<R> {
    input: R,
    packing: Packing,
    buf: Vec<u8>,
    /// Next unread byte of `buf`.
    pos: usize,
    /// End of the data in `buf`.
    len: usize,
    eof: bool,
    /// Newlines in the bytes already dropped from the buffer, plus the lines
    /// skipped before the splitter started.
    lines_dropped: usize,
    /// Bytes after the last dropped newline (the column carried into `buf`).
    column_dropped: usize,
    /// Bytes from here on are kept in the buffer when it is refilled (an
    /// object whose members are being walked, until it is known whether it
    /// is a record or an envelope).
    pin: Option<usize>,
    /// The most bytes of one value, line or pinned object.
    limit: usize,
}

impl<R: Read> Splitter<R> {
    pub fn new(input: R, packing: Packing, lines_before: usize, limit: usize) -> Self {
        Self::with_capacity(input, packing, lines_before, limit, READ_SIZE)
    }

    /// A splitter whose first buffer holds `capacity` bytes (it grows for
    /// longer values, up to `limit`).
    pub fn with_capacity(
        input: R,
        packing: Packing,
        lines_before: usize,
        limit: usize,
        capacity: usize,
    ) -> Self {
        Splitter {
            input,
            packing,
            buf: vec![0; capacity.max(16)],
            pos: 0,
            len: 0,
            eof: false,
            lines_dropped: lines_before,
            column_dropped: 0,
            pin: None,
            limit,
        }
    }

    /// Keeps the bytes from the next unread one on in the buffer until
    /// [`unpin`](Self::unpin); returns where they start (which moves when the
    /// buffer is refilled: see [`pinned`](Self::pinned)).
    pub fn pin(&mut self) -> usize {
        self.pin = Some(self.pos);
        self.pos
    }

    /// Where the pinned bytes start now.
    pub fn pinned(&self) -> usize {
        self.pin.unwrap_or(self.pos)
    }

    /// The next unread byte's index in the buffer.
    pub fn position(&self) -> usize {
        self.pos
    }

    pub fn unpin(&mut self) {
        self.pin = None;
    }

    /// The unread bytes in the buffer, at least `n` of them unless the input
    /// ends first.
    pub fn head(&mut self, n: usize) -> Result<&[u8], ReadError> {
        while self.len - self.pos < n {
            if self.refill()?.is_none() {
                break;
            }
        }
        Ok(&self.buf[self.pos..self.len])
    }

    /// Consumes `n` bytes that [`head`](Self::head) showed.
    pub fn consume(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.len);
    }

    /// The rest of the current line, its newline included; None at the end.
    pub fn line(&mut self) -> Result<Option<Slice>, ReadError> {
        let mut i = self.pos;
        loop {
            if let Some(k) = memchr::memchr(b'\n', &self.buf[i..self.len]) {
                self.within_limit(i + k)?;
                return Ok(Some(self.take(i + k + 1, false)));
            }
            i = self.len;
            match self.refill()? {
                Some(shift) => i -= shift,
                None if self.pos < self.len => {
                    self.within_limit(self.len)?;
                    return Ok(Some(self.take(self.len, false)));
                }
                None => return Ok(None),
            }
        }
    }

    pub fn bytes(&self, slice: &Slice) -> &[u8] {
        &self.buf[slice.start..slice.end]
    }

    /// Fails, leaving everything as it is, when the value, line or pinned
    /// object that starts at the pin (or the next unread byte) and goes on
    /// to `end` is longer than the limit.
    fn within_limit(&self, end: usize) -> Result<(), ReadError> {
        let start = self.pin.map_or(self.pos, |p| p.min(self.pos));
        if end - start > self.limit {
            return Err(self.too_large(start));
        }
        Ok(())
    }

    /// [`ReadErrorKind::TooLarge`], at byte `start` of the buffer.
    pub fn too_large(&self, start: usize) -> ReadError {
        let (line, column) = self.place(start);
        ReadError::new(
            ReadErrorKind::TooLarge,
            format!(
                "too large: more than {} in one record, NDJSON line or document (the limit)",
                bytes_text(self.limit)
            ),
        )
        .at(line, column)
    }

    /// The limit on one value, line or pinned object.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Moves unread bytes to the front and reads more. Returns how far the
    /// unread bytes moved (to adjust indexes into the buffer), or None at
    /// the end of the input. Fails (moving nothing) when the bytes kept
    /// (from the pin, or the next unread byte) pass the limit.
    fn refill(&mut self) -> Result<Option<usize>, ReadError> {
        if self.eof {
            return Ok(None);
        }
        let shift = self.pin.map_or(self.pos, |p| p.min(self.pos));
        self.within_limit(self.len)?;
        if shift > 0 {
            let dropped = &self.buf[..shift];
            match memchr::memrchr(b'\n', dropped) {
                Some(last) => {
                    self.lines_dropped += memchr::memchr_iter(b'\n', dropped).count();
                    self.column_dropped = shift - last - 1;
                }
                None => self.column_dropped += shift,
            }
            self.buf.copy_within(shift..self.len, 0);
            self.len -= shift;
            self.pos -= shift;
            if let Some(p) = &mut self.pin {
                *p -= shift;
            }
        }
        if self.len == self.buf.len() {
            // Room for the limit and one more byte, to see that it is passed.
            let bigger = (self.buf.len() * 2)
                .min(self.limit.saturating_add(1))
                .max(self.len + 1);
            // Exactly that (`resize` alone may double the capacity).
            self.buf.reserve_exact(bigger - self.buf.len());
            self.buf.resize(bigger, 0);
        }
        loop {
            match self.input.read(&mut self.buf[self.len..]) {
                Ok(0) => {
                    self.eof = true;
                    return Ok(if shift > 0 { Some(shift) } else { None });
                }
                Ok(n) => {
                    self.len += n;
                    return Ok(Some(shift));
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(io_error(e, self.packing)),
            }
        }
    }

    /// The next byte that is not whitespace, left unread; None at the end.
    pub fn peek(&mut self) -> Result<Option<u8>, ReadError> {
        loop {
            while self.pos < self.len {
                let b = self.buf[self.pos];
                if !b.is_ascii_whitespace() {
                    return Ok(Some(b));
                }
                self.pos += 1;
            }
            if self.refill()?.is_none() && self.pos >= self.len {
                return Ok(None);
            }
        }
    }

    /// Consumes the byte [`peek`](Self::peek) returned.
    pub fn advance(&mut self) {
        self.pos += 1;
    }

    /// Consumes `expected` after optional whitespace, or says what is there instead.
    pub fn expect(&mut self, expected: u8, what: &str) -> Result<(), ReadError> {
        match self.peek()? {
            Some(b) if b == expected => {
                self.advance();
                Ok(())
            }
            Some(_) => Err(self.syntax_error(&format!("expected {what}"))),
            None => Err(self.truncated(&format!("expected {what}"))),
        }
    }

    /// After a member of an object or array: consumes `,` (true: another
    /// follows) or `close` (false: the end), or says `expected` is missing.
    pub fn separator(&mut self, close: u8, expected: &str) -> Result<bool, ReadError> {
        match self.peek()? {
            Some(b',') => {
                self.advance();
                Ok(true)
            }
            Some(b) if b == close => {
                self.advance();
                Ok(false)
            }
            Some(_) => Err(self.syntax_error(expected)),
            None => Err(self.truncated(expected)),
        }
    }

    /// Scans the value that starts at the next non-whitespace byte and
    /// consumes it. A string, object or array ends at its closing character;
    /// any other value at the next delimiter. A value longer than the limit
    /// is an error that leaves it unread.
    pub fn value(&mut self) -> Result<Slice, ReadError> {
        self.scan(false)
    }

    /// The object that starts at the next non-whitespace byte, scanned and
    /// validated in one pass ([`validate::scan`]), its top-level members
    /// noted in `members` (ranges into the slice). None, with nothing
    /// consumed, when the scanner does not vouch for it: not an object, not
    /// valid, not ended before the input or the limit; then
    /// [`value`](Self::value) and serde decide.
    pub fn checked_object(
        &mut self,
        members: &mut Vec<Member>,
    ) -> Result<Option<(Slice, Traits)>, ReadError> {
        if self.peek()? != Some(b'{') {
            return Ok(None);
        }
        loop {
            match validate::scan(&self.buf[self.pos..self.len], members) {
                // Longer than the limit: the slow way refuses it.
                Scan::Valid { end, .. } if end > self.limit => return Ok(None),
                Scan::Valid { end, traits } => {
                    let end = self.pos + end;
                    return Ok(Some((self.take(end, traits.compact), traits)));
                }
                Scan::Invalid => return Ok(None),
                Scan::Incomplete => {
                    let have = self.len - self.pos;
                    if self.eof || have > self.limit {
                        return Ok(None);
                    }
                    // At least twice as much before scanning again, so a
                    // long record is scanned a few times, not once per read.
                    let want = (have * 2).max(READ_SIZE).min(self.limit.saturating_add(1));
                    while self.len - self.pos < want && !self.eof {
                        match self.refill() {
                            Ok(_) => {}
                            Err(e) if e.kind == ReadErrorKind::TooLarge => return Ok(None),
                            Err(e) => return Err(e),
                        }
                    }
                }
            }
        }
    }

    /// Consumes the value that starts at the next non-whitespace byte,
    /// whatever its length, dropping its bytes as they are scanned (nothing
    /// may be pinned).
    pub fn skip_value(&mut self) -> Result<(), ReadError> {
        self.pin = None;
        self.scan(true).map(|_| ())
    }

    /// [`value`](Self::value), or with `skip`, [`skip_value`](Self::skip_value)
    /// (the slice returned then holds only the value's last bytes).
    fn scan(&mut self, skip: bool) -> Result<Slice, ReadError> {
        if self.peek()?.is_none() {
            return Err(self.truncated("expected a value"));
        }
        let mut i = self.pos;
        let mut depth = 0usize;
        let mut in_string = false;
        let mut compact = true;
        loop {
            let data = &self.buf[..self.len];
            while i < data.len() {
                if in_string {
                    match memchr::memchr2(b'"', b'\\', &data[i..]) {
                        None => i = data.len(),
                        Some(k) => {
                            i += k;
                            if data[i] == b'\\' {
                                if i + 1 >= data.len() {
                                    break; // the escaped byte is in the next read
                                }
                                i += 2;
                            } else {
                                in_string = false;
                                i += 1;
                                if depth == 0 {
                                    return self.ended(i, compact, skip);
                                }
                            }
                        }
                    }
                    continue;
                }
                match data[i] {
                    b'"' => in_string = true,
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        if depth == 0 {
                            return self.ended(i, compact, skip);
                        }
                        depth -= 1;
                        if depth == 0 {
                            return self.ended(i + 1, compact, skip);
                        }
                    }
                    b',' | b':' if depth == 0 => return Ok(self.take(i, compact)),
                    b' ' | b'\n' | b'\r' | b'\t' => {
                        if depth == 0 {
                            return self.ended(i, compact, skip);
                        }
                        compact = false;
                    }
                    _ => {}
                }
                i += 1;
            }
            if skip {
                // Nothing scanned is kept (`i` may be a backslash whose
                // escaped byte is still to come).
                self.pos = i;
            }
            match self.refill()? {
                Some(shift) => i -= shift,
                None if depth == 0 && !in_string => return self.ended(self.len, compact, skip),
                None => {
                    self.pos = self.len;
                    return Err(self.truncated("unexpected end of the value"));
                }
            }
        }
    }

    /// The scanned value ends at `end`: consumed, unless it is too long.
    fn ended(&mut self, end: usize, compact: bool, skip: bool) -> Result<Slice, ReadError> {
        if !skip {
            self.within_limit(end)?;
        }
        Ok(self.take(end, compact))
    }

    /// Goes back to byte `start` of the buffer, which a value just taken
    /// began at, to read that value again another way.
    pub fn rewind(&mut self, start: usize) {
        debug_assert!(start <= self.pos);
        self.pos = start;
    }

    fn take(&mut self, end: usize, compact: bool) -> Slice {
        let start = self.pos;
        self.pos = end;
        Slice {
            start,
            end,
            compact,
        }
    }

    /// 1-based line and column of byte `at` of the buffer.
    pub fn place(&self, at: usize) -> (usize, usize) {
        let before = &self.buf[..at.min(self.len)];
        let lines = memchr::memchr_iter(b'\n', before).count();
        let column = match memchr::memrchr(b'\n', before) {
            Some(last) => at - last - 1,
            None => self.column_dropped + at,
        };
        (self.lines_dropped + lines + 1, column + 1)
    }

    /// Invalid JSON at the next unread byte.
    pub fn syntax_error(&self, message: &str) -> ReadError {
        let (line, column) = self.place(self.pos);
        ReadError::new(ReadErrorKind::Json, format!("invalid JSON: {message}")).at(line, column)
    }

    pub fn truncated(&self, message: &str) -> ReadError {
        let (line, column) = self.place(self.pos);
        ReadError::new(ReadErrorKind::Json, format!("truncated JSON: {message}")).at(line, column)
    }
}

/// A number of bytes for people: `64 MiB`, `1000 bytes`.
pub(super) fn bytes_text(n: usize) -> String {
    if n >= 1 << 20 && n.is_multiple_of(1 << 20) {
        format!("{} MiB", n >> 20)
    } else {
        format!("{n} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Splits a JSON array's elements the way the reader does.
    fn elements(text: &[u8], read_size: usize) -> Result<Vec<(String, bool)>, ReadError> {
        struct Trickle<'a>(&'a [u8], usize);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
                let n = self.0.len().min(self.1).min(out.len());
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let mut s = Splitter::new(Trickle(text, read_size), Packing::Plain, 0, usize::MAX);
        let mut out = Vec::new();
        s.expect(b'[', "`[`")?;
        if s.peek()? == Some(b']') {
            return Ok(out);
        }
        loop {
            let v = s.value()?;
            out.push((String::from_utf8_lossy(s.bytes(&v)).into_owned(), v.compact));
            if !s.separator(b']', "expected `,` or `]`")? {
                return Ok(out);
            }
        }
    }

    #[test]
    fn splits_elements_whatever_the_read_size() {
        let text = br#"[ {"a":"x}\"]{","b":[1,{"c":"\\"}]} , "s\"",12,null,[ [] ] ,{} ]"#;
        let want = [
            (r#"{"a":"x}\"]{","b":[1,{"c":"\\"}]}"#, true),
            (r#""s\"""#, true),
            ("12", true),
            ("null", true),
            ("[ [] ]", false),
            ("{}", true),
        ];
        for size in [1, 2, 3, 7, 64, 1 << 20] {
            let got = elements(text, size).unwrap();
            let got: Vec<(&str, bool)> = got.iter().map(|(s, c)| (s.as_str(), *c)).collect();
            assert_eq!(got, want, "read size {size}");
        }
    }

    #[test]
    fn whitespace_inside_strings_keeps_a_value_compact() {
        let got = elements(b"[{\"a\": 1}, {\"a\":\" \\n \"}]", 5).unwrap();
        assert!(!got[0].1);
        assert!(got[1].1);
    }

    #[test]
    fn a_truncated_value_is_named_with_its_place() {
        let err = elements(b"[\n{\"a\":\"b", 4).unwrap_err();
        assert_eq!(err.kind, ReadErrorKind::Json);
        assert!(err.message.starts_with("truncated JSON"), "{err}");
        assert_eq!((err.line, err.column), (Some(2), Some(8)), "{err}");
    }

    #[test]
    fn a_value_past_the_limit_is_refused_or_skipped_but_never_kept() {
        for limit in [1000, 1 << 20] {
            let text = [&b"[\"x\\"[..], &vec![b'p'; 8 << 20], b"\",\n1]"].concat();
            let mut s = Splitter::new(&text[..], Packing::Plain, 0, limit);
            s.expect(b'[', "`[`").unwrap();
            let Err(err) = s.value() else {
                panic!("a value of 8 MiB passes a limit of {limit}")
            };
            assert_eq!(err.kind, ReadErrorKind::TooLarge, "{err}");
            assert_eq!((err.line, err.column), (Some(1), Some(2)), "{err}");
            assert_eq!(s.place(s.position()), (1, 2), "the value is left unread");
            let most = READ_SIZE.max(limit + 1);
            assert!(s.buf.len() <= most, "{} bytes held", s.buf.len());
            s.skip_value().unwrap();
            assert!(s.buf.len() <= most, "{} bytes held", s.buf.len());
            assert!(s.separator(b']', "`]`").unwrap());
            let one = s.value().unwrap();
            assert_eq!(s.bytes(&one), b"1");
            assert_eq!(s.place(one.start), (2, 1));
        }
    }

    #[test]
    fn places_count_lines_across_refills() {
        let err = elements(b"[1,\n2,\n 3 4]", 2).unwrap_err();
        assert_eq!((err.line, err.column), (Some(3), Some(4)), "{err}");
    }
}
