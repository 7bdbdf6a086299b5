//! One pass over a record: where it ends, whether it is valid JSON, and
//! where its top-level members are.
//!
//! The splitter alone finds a record's end, and serde then read the record
//! again to validate what no rule reads: two passes over every byte, the
//! second one through serde's visitor machinery. This scanner does both in
//! one pass and notes each top-level member's key and value, so that only
//! the members rules read are handed to serde. Strings, most of a
//! CloudTrail record, are scanned 16 bytes at a time.
//!
//! It only ever says "valid" of what serde_json accepts. Whatever it does
//! not vouch for ([`Scan::Invalid`]: bad JSON, but also a top-level key with
//! an escape, or nesting deeper than [`MAX_DEPTH`]) goes the slow way, where
//! serde gives the verdict and the message, so errors read as before.

use std::ops::Range;

/// Deeper nesting is left to serde (whose own limit is 128).
pub(super) const MAX_DEPTH: u32 = 100;

/// A record with more top-level members is left to serde, which keeps only
/// the wanted ones: noting each costs memory (CloudTrail's have 20 to 30).
pub(super) const MAX_MEMBERS: usize = 1024;

/// One top-level member of an object: ranges into the scanned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Member {
    /// The key's text, between its quotes (it holds no escape).
    pub key: Range<usize>,
    pub value: Range<usize>,
}

/// What scanning one value gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Scan {
    /// A valid value, `end` bytes long.
    Valid { end: usize, traits: Traits },
    /// The bytes end before the value does.
    Incomplete,
    /// Not vouched for: the caller takes the slow way.
    Invalid,
}

/// What the scanner noticed about a valid value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Traits {
    /// No whitespace outside strings.
    pub compact: bool,
    /// Every byte is ASCII (else its UTF-8 is still to be checked).
    pub ascii: bool,
    /// No `\u` escape and no number with an exponent or of 18 digits or
    /// more: then serde turns every part of it into a `Value` (a lone
    /// surrogate or a number out of a double's range it refuses).
    pub plain: bool,
}

enum Stop {
    Incomplete,
    Invalid,
}

/// Scans the value at the start of `bytes` (which starts with it, no
/// whitespace before), noting the top-level members of an object in
/// `members` (cleared first).
pub(super) fn scan(bytes: &[u8], members: &mut Vec<Member>) -> Scan {
    members.clear();
    let mut s = Scanner {
        b: bytes,
        i: 0,
        compact: true,
        ascii: true,
        plain: true,
    };
    match s.value(members) {
        Ok(()) => Scan::Valid {
            end: s.i,
            traits: Traits {
                compact: s.compact,
                ascii: s.ascii,
                plain: s.plain,
            },
        },
        Err(Stop::Incomplete) => Scan::Incomplete,
        Err(Stop::Invalid) => Scan::Invalid,
    }
}

struct Scanner<'a> {
    b: &'a [u8],
    i: usize,
    compact: bool,
    ascii: bool,
    plain: bool,
}

impl Scanner<'_> {
    #[inline]
    fn byte(&self) -> Result<u8, Stop> {
        self.b.get(self.i).copied().ok_or(Stop::Incomplete)
    }

    #[inline]
    fn skip_whitespace(&mut self) -> Result<u8, Stop> {
        loop {
            let b = self.byte()?;
            match b {
                b' ' | b'\n' | b'\r' | b'\t' => {
                    self.compact = false;
                    self.i += 1;
                }
                _ => return Ok(b),
            }
        }
    }

    /// The value at `i`, iteratively: `stack` holds one bit per open
    /// container (1: object).
    fn value(&mut self, members: &mut Vec<Member>) -> Result<(), Stop> {
        let mut stack: u128 = 0;
        let mut depth: u32 = 0;
        // Where the value of the current top-level member starts.
        let mut member: Option<(Range<usize>, usize)> = None;
        loop {
            // A value starts at `i`.
            match self.byte()? {
                b'{' => {
                    self.i += 1;
                    if self.skip_whitespace()? == b'}' {
                        self.i += 1;
                    } else {
                        depth += 1;
                        if depth > MAX_DEPTH {
                            return Err(Stop::Invalid);
                        }
                        stack = stack << 1 | 1;
                        let key = self.key(depth)?;
                        if depth == 1 {
                            member = Some((key, self.i));
                        }
                        continue;
                    }
                }
                b'[' => {
                    self.i += 1;
                    if self.skip_whitespace()? == b']' {
                        self.i += 1;
                    } else {
                        depth += 1;
                        if depth > MAX_DEPTH {
                            return Err(Stop::Invalid);
                        }
                        stack <<= 1;
                        continue;
                    }
                }
                b'"' => {
                    self.i += 1;
                    self.string()?;
                }
                b't' => self.literal(b"true")?,
                b'f' => self.literal(b"false")?,
                b'n' => self.literal(b"null")?,
                b'-' | b'0'..=b'9' => self.number()?,
                _ => return Err(Stop::Invalid),
            }
            // A value ended at `i`: close what it closes.
            loop {
                if depth == 0 {
                    return Ok(());
                }
                if depth == 1 {
                    if let Some((key, start)) = member.take() {
                        if members.len() == MAX_MEMBERS {
                            return Err(Stop::Invalid);
                        }
                        members.push(Member {
                            key,
                            value: start..self.i,
                        });
                    }
                }
                let object = stack & 1 == 1;
                match self.skip_whitespace()? {
                    b',' => {
                        self.i += 1;
                        if object {
                            self.skip_whitespace()?;
                            let key = self.key(depth)?;
                            if depth == 1 {
                                member = Some((key, self.i));
                            }
                        } else {
                            self.skip_whitespace()?;
                        }
                        break;
                    }
                    b'}' if object => {}
                    b']' if !object => {}
                    _ => return Err(Stop::Invalid),
                }
                self.i += 1;
                stack >>= 1;
                depth -= 1;
            }
        }
    }

    /// A key of an object at `depth` and its colon, leaving `i` at the
    /// value; returns the key's text. A top-level key with an escape is not
    /// vouched for (it would have to be decoded to be compared).
    fn key(&mut self, depth: u32) -> Result<Range<usize>, Stop> {
        if self.byte()? != b'"' {
            return Err(Stop::Invalid);
        }
        self.i += 1;
        let start = self.i;
        if self.string()? && depth == 1 {
            return Err(Stop::Invalid);
        }
        let key = start..self.i - 1;
        if self.skip_whitespace()? != b':' {
            return Err(Stop::Invalid);
        }
        self.i += 1;
        self.skip_whitespace()?;
        Ok(key)
    }

    /// The rest of a string whose opening quote is consumed; `i` ends after
    /// the closing quote. Returns whether it held an escape.
    #[inline]
    fn string(&mut self) -> Result<bool, Stop> {
        let mut escaped = false;
        loop {
            self.i = self.to_special(self.i);
            match self.byte()? {
                b'"' => {
                    self.i += 1;
                    return Ok(escaped);
                }
                b'\\' => {
                    escaped = true;
                    let Some(&e) = self.b.get(self.i + 1) else {
                        return Err(Stop::Incomplete);
                    };
                    match e {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.i += 2,
                        b'u' => {
                            let Some(hex) = self.b.get(self.i + 2..self.i + 6) else {
                                return Err(Stop::Incomplete);
                            };
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return Err(Stop::Invalid);
                            }
                            self.plain = false;
                            self.i += 6;
                        }
                        _ => return Err(Stop::Invalid),
                    }
                }
                b if b < 0x20 => return Err(Stop::Invalid),
                _ => {
                    // Not ASCII: UTF-8 is checked afterwards, once.
                    self.ascii = false;
                    self.i += 1;
                }
            }
        }
    }

    /// The index of the first byte from `i` on that ends a plain run of
    /// string: a quote, a backslash, a control character or (until one is
    /// seen) a byte that is not ASCII; `len` if none.
    #[inline]
    fn to_special(&self, mut i: usize) -> usize {
        let b = self.b;
        #[cfg(target_arch = "x86_64")]
        {
            // SAFETY: SSE2 is part of x86_64; every load reads 16 bytes
            // inside `b` (checked by the loop condition).
            unsafe {
                use std::arch::x86_64::*;
                let quote = _mm_set1_epi8(b'"' as i8);
                let backslash = _mm_set1_epi8(b'\\' as i8);
                let control = _mm_set1_epi8(0x1f);
                while i + 16 <= b.len() {
                    let chunk = _mm_loadu_si128(b.as_ptr().add(i) as *const __m128i);
                    let special = _mm_or_si128(
                        _mm_or_si128(
                            _mm_cmpeq_epi8(chunk, quote),
                            _mm_cmpeq_epi8(chunk, backslash),
                        ),
                        // b <= 0x1f, unsigned
                        _mm_cmpeq_epi8(_mm_min_epu8(chunk, control), chunk),
                    );
                    let mut mask = _mm_movemask_epi8(special) as u32;
                    if self.ascii {
                        mask |= _mm_movemask_epi8(chunk) as u32;
                    }
                    if mask != 0 {
                        return i + mask.trailing_zeros() as usize;
                    }
                    i += 16;
                }
            }
        }
        while i < b.len() {
            let c = b[i];
            if c == b'"' || c == b'\\' || c < 0x20 || (c >= 0x80 && self.ascii) {
                return i;
            }
            i += 1;
        }
        i
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), Stop> {
        let rest = &self.b[self.i..];
        if rest.len() < word.len() {
            return Err(if word.starts_with(rest) {
                Stop::Incomplete
            } else {
                Stop::Invalid
            });
        }
        if &rest[..word.len()] != word {
            return Err(Stop::Invalid);
        }
        self.i += word.len();
        Ok(())
    }

    /// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
    fn number(&mut self) -> Result<(), Stop> {
        if self.byte()? == b'-' {
            self.i += 1;
        }
        let start = self.i;
        match self.byte()? {
            b'0' => self.i += 1,
            b'1'..=b'9' => self.digits()?,
            _ => return Err(Stop::Invalid),
        }
        if self.byte()? == b'.' {
            self.i += 1;
            if !self.byte()?.is_ascii_digit() {
                return Err(Stop::Invalid);
            }
            self.digits()?;
        }
        if self.i - start >= 18 {
            self.plain = false;
        }
        if matches!(self.byte()?, b'e' | b'E') {
            self.plain = false;
            self.i += 1;
            if matches!(self.byte()?, b'+' | b'-') {
                self.i += 1;
            }
            if !self.byte()?.is_ascii_digit() {
                return Err(Stop::Invalid);
            }
            self.digits()?;
        }
        Ok(())
    }

    /// One or more digits (the first is known); ends before the first other
    /// byte, which must exist (a number is never last in a record).
    fn digits(&mut self) -> Result<(), Stop> {
        while self.byte()?.is_ascii_digit() {
            self.i += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde::de::IgnoredAny;

    fn valid(text: &[u8]) -> Option<(usize, bool, bool)> {
        match scan(text, &mut Vec::new()) {
            Scan::Valid { end, traits } => Some((end, traits.compact, traits.ascii)),
            _ => None,
        }
    }

    #[test]
    fn finds_members_and_the_end() {
        let text = br#"{"a":1, "bb" : {"c":[true,null,"x\"y"]},"d":"\u00e9"} ,"#;
        let mut members = Vec::new();
        let Scan::Valid {
            end,
            traits:
                Traits {
                    compact,
                    ascii,
                    plain,
                },
        } = scan(text, &mut members)
        else {
            panic!("not valid")
        };
        assert!(!plain, "it has a \\u escape");
        assert_eq!(&text[..end], &text[..text.len() - 2]);
        assert!(!compact);
        assert!(ascii);
        let got: Vec<(&[u8], &[u8])> = members
            .iter()
            .map(|m| (&text[m.key.clone()], &text[m.value.clone()]))
            .collect();
        assert_eq!(
            got,
            [
                (&b"a"[..], &b"1"[..]),
                (b"bb", br#"{"c":[true,null,"x\"y"]}"#),
                (b"d", br#""\u00e9""#)
            ]
        );
    }

    #[test]
    fn incomplete_and_invalid_are_told_apart() {
        for text in [
            &br#"{"a":"xy"#[..],
            br#"{"a":[1,"#,
            br#"{"a":tr"#,
            br#"{"a":"\"#,
            b"{",
        ] {
            assert_eq!(scan(text, &mut Vec::new()), Scan::Incomplete, "{text:?}");
        }
        for text in [
            &br#"{"a":tru,"#[..],
            br#"{"a":01}"#,
            br#"{"a":1.}"#,
            br#"{"a":1e}"#,
            br#"{"a":-}"#,
            br#"{"a":"\q"}"#,
            br#"{"a":"\u12g4"}"#,
            b"{\"a\":\"\x01\"}",
            br#"{"a":1,}"#,
            br#"{"a" 1}"#,
            br#"{"a":[1}"#,
            br#"{"a\n":1}"#,
            br#"{a:1}"#,
            b"{\"a\":\xff}",
        ] {
            assert_eq!(scan(text, &mut Vec::new()), Scan::Invalid, "{text:?}");
        }
    }

    #[test]
    fn a_top_level_key_with_an_escape_or_deep_nesting_is_not_vouched_for() {
        assert_eq!(scan(br#"{"a\"b":1}"#, &mut Vec::new()), Scan::Invalid);
        assert!(valid(br#"{"a":{"b\"c":1}}"#).is_some());
        let deep = |n: usize| format!("{{\"a\":{}1{}}}", "[".repeat(n), "]".repeat(n));
        assert!(valid(deep(98).as_bytes()).is_some());
        assert_eq!(scan(deep(100).as_bytes(), &mut Vec::new()), Scan::Invalid);
    }

    #[test]
    fn a_record_of_too_many_members_is_not_vouched_for() {
        let record = |n: usize| {
            let members: Vec<String> = (0..n).map(|i| format!("\"k{i}\":{i}")).collect();
            format!("{{{}}}", members.join(","))
        };
        assert!(valid(record(MAX_MEMBERS).as_bytes()).is_some());
        assert_eq!(
            scan(record(MAX_MEMBERS + 1).as_bytes(), &mut Vec::new()),
            Scan::Invalid
        );
    }

    #[test]
    fn non_ascii_is_noted_for_the_utf8_check() {
        assert_eq!(
            valid("{\"a\":\"é and more than sixteen bytes\"}".as_bytes()).map(|v| v.2),
            Some(false)
        );
        assert_eq!(
            valid(br#"{"a":"plain text of more than sixteen"}"#).map(|v| v.2),
            Some(true)
        );
    }

    /// No whitespace outside strings: compacting changes nothing.
    fn compact_by_reference(text: &[u8]) -> bool {
        let mut compacted = Vec::new();
        crate::json::compact_into(text, &mut compacted);
        compacted == text
    }

    /// An object's members in order, duplicates kept: keys and raw values.
    fn members_by_serde(text: &[u8]) -> Vec<(String, String)> {
        struct Members;
        impl<'de> serde::de::Visitor<'de> for Members {
            type Value = Vec<(String, String)>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, &serde_json::value::RawValue>()? {
                    out.push((k, v.get().to_owned()));
                }
                Ok(out)
            }
        }
        let mut de = serde_json::Deserializer::from_slice(text);
        serde::Deserializer::deserialize_map(&mut de, Members).unwrap()
    }

    /// A record and its mutations, cut at random places.
    fn mutated() -> impl Strategy<Value = Vec<u8>> {
        let base = br#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/a\u00e9\n"},"n":[-0.5e+3,0,12,true,false,null,{}],"s":"tab\there and a longer tail of text","x":{"y":[[],{"z":""}]}}"#;
        let bytes = b" \t\n\"\\{}[],:-+.0159eEtrufalsn\x01\x7f\xc3\xa9\xff/u".to_vec();
        (
            proptest::collection::vec(
                (0..base.len(), proptest::sample::select(bytes), 0..3u8),
                0..4,
            ),
            0..base.len() + 1,
        )
            .prop_map(move |(edits, cut)| {
                let mut t = base.to_vec();
                for (at, b, op) in edits {
                    let at = at.min(t.len() - 1);
                    match op {
                        0 => t[at] = b,
                        1 => t.insert(at, b),
                        _ => {
                            t.remove(at);
                        }
                    }
                    if t.is_empty() {
                        t.push(b'{');
                    }
                }
                if cut < t.len() && cut % 3 == 0 {
                    t.truncate(cut.max(1));
                }
                t
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        /// What the scanner vouches for, serde accepts, with the same end;
        /// the members are the object's; compact and ascii are true.
        #[test]
        fn vouches_only_for_what_serde_accepts(text in mutated()) {
            let mut members = Vec::new();
            match scan(&text, &mut members) {
                Scan::Valid { end, traits: Traits { compact, ascii, plain } } => {
                    let value = &text[..end];
                    if plain && ascii {
                        prop_assert!(serde_json::from_slice::<serde_json::Value>(value).is_ok(),
                            "plain but serde refuses {:?}", String::from_utf8_lossy(value));
                    }
                    if !ascii {
                        prop_assume!(std::str::from_utf8(value).is_ok());
                    }
                    prop_assert!(serde_json::from_slice::<IgnoredAny>(value).is_ok(),
                        "vouched for {:?}", String::from_utf8_lossy(value));
                    let mut stream = serde_json::Deserializer::from_slice(&text).into_iter::<IgnoredAny>();
                    prop_assert!(matches!(stream.next(), Some(Ok(_))));
                    prop_assert_eq!(stream.byte_offset(), end);
                    prop_assert_eq!(ascii, value.is_ascii());
                    prop_assert_eq!(compact, compact_by_reference(value));
                    if value.first() == Some(&b'{') {
                        let got: Vec<(&[u8], &[u8])> = members
                            .iter()
                            .map(|m| (&value[m.key.clone()], &value[m.value.clone()]))
                            .collect();
                        let want = members_by_serde(value);
                        let want: Vec<(&[u8], &[u8])> =
                            want.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())).collect();
                        prop_assert_eq!(got, want);
                    } else {
                        prop_assert!(members.is_empty());
                    }
                }
                Scan::Incomplete => {
                    // serde fails too (at the end of the input, though it
                    // calls `1e` an invalid number rather than an early end).
                    let e = serde_json::from_slice::<IgnoredAny>(&text).unwrap_err();
                    let text = String::from_utf8_lossy(&text);
                    let last_line = text.rsplit('\n').next().unwrap_or_default();
                    prop_assert!(e.is_eof() || e.column() == last_line.chars().count(), "{}: {:?}", e, text);
                }
                Scan::Invalid => {}
            }
        }
    }
}
