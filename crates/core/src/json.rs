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
