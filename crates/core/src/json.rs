//! Byte-level JSON helpers that avoid re-serializing records.

/// Appends `raw` to `out` without insignificant whitespace. `raw` must be
/// valid JSON (the reader guarantees it): inside strings every byte is kept,
/// and since valid JSON strings hold no raw newlines, the result is one line.
pub fn compact_into(raw: &[u8], out: &mut Vec<u8>) {
    out.reserve(raw.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut start = 0;
    for (i, &b) in raw.iter().enumerate() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
            out.extend_from_slice(&raw[start..i]);
            start = i + 1;
        }
    }
    out.extend_from_slice(&raw[start..]);
}

/// A cursor over one complete JSON text, for the writer's rewrites: it finds
/// where keys and values begin and end without building values. It never
/// panics; bytes that are not JSON give `Err` with the offset.
pub(crate) struct Cursor<'a> {
    pub raw: &'a [u8],
    pub at: usize,
}

impl<'a> Cursor<'a> {
    pub fn new(raw: &'a [u8]) -> Self {
        Cursor { raw, at: 0 }
    }

    pub fn skip_ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.raw.get(self.at) {
            self.at += 1;
        }
    }

    /// The next byte after whitespace, not consumed.
    pub fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.raw.get(self.at).copied()
    }

    /// Consumes `b` after whitespace.
    pub fn eat(&mut self, b: u8) -> Result<(), usize> {
        if self.peek() == Some(b) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.at)
        }
    }

    /// After a member: true for `,`, false for `close`.
    pub fn separator(&mut self, close: u8) -> Result<bool, usize> {
        match self.peek() {
            Some(b',') => {
                self.at += 1;
                Ok(true)
            }
            Some(b) if b == close => {
                self.at += 1;
                Ok(false)
            }
            _ => Err(self.at),
        }
    }

    /// The extent of the string that starts here, quotes included.
    pub fn string(&mut self) -> Result<(usize, usize), usize> {
        if self.peek() != Some(b'"') {
            return Err(self.at);
        }
        let start = self.at;
        let mut i = self.at + 1;
        loop {
            match memchr::memchr2(b'"', b'\\', &self.raw[i.min(self.raw.len())..]) {
                None => return Err(self.raw.len()),
                Some(k) => {
                    i += k;
                    if self.raw[i] == b'\\' {
                        i += 2;
                    } else {
                        self.at = i + 1;
                        return Ok((start, self.at));
                    }
                }
            }
        }
    }

    /// The extent of the value that starts here (after whitespace).
    pub fn value(&mut self) -> Result<(usize, usize), usize> {
        let start = match self.peek() {
            None => return Err(self.at),
            Some(b'"') => return self.string(),
            Some(_) => self.at,
        };
        let mut depth = 0usize;
        let mut i = start;
        while i < self.raw.len() {
            match self.raw[i] {
                b'"' => {
                    self.at = i;
                    self.string()?;
                    i = self.at;
                    continue;
                }
                b'{' | b'[' => depth += 1,
                b'}' | b']' if depth == 0 => break,
                b'}' | b']' => {
                    depth -= 1;
                    if depth == 0 {
                        i += 1;
                        break;
                    }
                }
                b',' | b':' | b' ' | b'\n' | b'\r' | b'\t' if depth == 0 => break,
                _ => {}
            }
            i += 1;
        }
        if depth > 0 || i == start {
            return Err(i);
        }
        self.at = i;
        Ok((start, i))
    }
}

/// A quoted JSON key's text, unescaped; None when it is not a valid
/// string (it then names no field). Borrowed when it has no escapes.
pub(crate) fn key_text(quoted: &[u8]) -> Option<std::borrow::Cow<'_, str>> {
    let inner = quoted.strip_prefix(b"\"")?.strip_suffix(b"\"")?;
    if memchr::memchr(b'\\', inner).is_none() {
        std::str::from_utf8(inner)
            .ok()
            .map(std::borrow::Cow::Borrowed)
    } else {
        serde_json::from_slice::<String>(quoted)
            .ok()
            .map(std::borrow::Cow::Owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_whitespace_outside_strings_only() {
        let mut out = Vec::new();
        compact_into(
            b"{ \"a b\" : [ 1 ,\n 2 ], \"c\\\" d\": \" x \" }\n",
            &mut out,
        );
        assert_eq!(
            std::str::from_utf8(&out).unwrap(),
            "{\"a b\":[1,2],\"c\\\" d\":\" x \"}"
        );
    }
}
