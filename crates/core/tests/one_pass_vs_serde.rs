//! Hostile tests of the reader's one-pass way (validate.rs scan,
//! Splitter::checked_object, LazyRecord), taken when `ReadOptions::fields`
//! is Some, against the serde way (`fields: None`, every field parsed), for
//! the same bytes: records handed over (count, order, raw bytes, compact,
//! wanted fields by `member()` and `whole()`), rejected records (positions
//! and messages) and read errors.

use ctrules_core::{read_log_with, FieldSet, ReadOptions, Record};
use serde_json::Value;
use std::io::{self, Read};

/// A reader giving at most `n` bytes per read (cycling through `sizes`).
struct Trickle<'a> {
    data: &'a [u8],
    sizes: &'a [usize],
    k: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.sizes[self.k % self.sizes.len()];
        self.k += 1;
        let n = n.min(self.data.len()).min(out.len());
        out[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

/// Everything a read shows, as text: the outcome or error, and for each
/// record handed over its position, raw bytes, compact flag, and the
/// wanted fields (by `member` and by `whole`, keeping only the wanted ones).
fn summary(
    bytes: &[u8],
    fields: Option<&FieldSet>,
    want: &[&str],
    max: usize,
    sizes: &[usize],
) -> String {
    summary_masked(bytes, fields, want, max, sizes, false)
}

/// Masks the causes of "invalid JSON" rejections: serde words an error in a
/// field it only skips (the projected way, before and after the change)
/// otherwise than in a field it parses (`fields: None`).
fn mask(message: &str) -> String {
    match message.find("invalid JSON at ") {
        Some(i) => format!("{}invalid JSON at (masked)", &message[..i]),
        None => message.to_string(),
    }
}

fn summary_masked(
    bytes: &[u8],
    fields: Option<&FieldSet>,
    want: &[&str],
    max: usize,
    sizes: &[usize],
    masked: bool,
) -> String {
    let options = ReadOptions {
        fields,
        max_record_size: max,
    };
    let mut records = Vec::new();
    let result = read_log_with(
        Trickle {
            data: bytes,
            sizes,
            k: 0,
        },
        &options,
        &mut |r: Record<'_>| {
            let members: Vec<(String, Option<Value>)> = want
                .iter()
                .map(|k| (k.to_string(), r.value.member(k).cloned()))
                .collect();
            let whole = r.value.whole().map(|w| match w {
                Value::Object(m) => Value::Object(
                    m.iter()
                        .filter(|(k, _)| want.contains(&k.as_str()))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                ),
                other => other.clone(),
            });
            records.push(format!(
                "{:?} raw={:?} compact={} members={:?} whole={:?}",
                r.position,
                String::from_utf8_lossy(r.raw),
                r.compact,
                members,
                whole.map(|w| w.to_string())
            ));
            Ok(())
        },
    );
    let result = match result {
        Ok(mut o) => {
            if masked {
                for e in &mut o.record_errors {
                    e.message = mask(&e.message);
                }
            }
            format!("Ok({o:?})")
        }
        Err(e) => {
            let message = if masked { mask(&e.message) } else { e.message };
            format!(
                "Err({:?} {:?} {:?} {:?})",
                e.kind, message, e.line, e.column
            )
        }
    };
    format!("{result}\n{}", records.join("\n"))
}

const WANT: &[&str] = &["eventName", "userIdentity", "sourceIPAddress", "n", "s"];

/// The one-pass way (fields Some) gives what the serde way gives.
fn same(bytes: &[u8]) {
    same_with(bytes, WANT, usize::MAX >> 1, &[1 << 20]);
}

fn same_with(bytes: &[u8], want: &[&str], max: usize, sizes: &[usize]) {
    same_masked(bytes, want, max, sizes, false)
}

fn same_masked(bytes: &[u8], want: &[&str], max: usize, sizes: &[usize], masked: bool) {
    let fields = FieldSet::new(want.iter().copied());
    let serde = summary_masked(bytes, None, want, max, sizes, masked);
    let one_pass = summary_masked(bytes, Some(&fields), want, max, sizes, masked);
    assert_eq!(
        one_pass,
        serde,
        "one-pass (left) vs serde (right) for {:?} (read sizes {sizes:?})",
        String::from_utf8_lossy(bytes)
    );
}

/// A Records file around `records` (joined by commas).
fn records(records: &[&[u8]]) -> Vec<u8> {
    let mut out = b"{\"Records\":[".to_vec();
    for (i, r) in records.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(r);
    }
    out.extend_from_slice(b"]}");
    out
}

// ---- The lazy lookup's tag holds the key's length modulo 256 ----------

/// A top-level key of 15 + 256 bytes that starts with a wanted 15-byte name
/// (`sourceIPAddress`, `managementEvent`) has the same tag as that name
/// (the tag holds the length modulo 256): the lookup once took the long
/// key for the name and answered None, losing the real `sourceIPAddress`
/// (regression test; the lookup now compares lengths whole).
#[test]
fn a_key_of_15_plus_256_bytes_does_not_hide_a_wanted_15_byte_field() {
    let long = format!("sourceIPAddress{}", "x".repeat(256));
    assert_eq!(long.len() % 256, 15);
    let record = format!(r#"{{"eventName":"A","sourceIPAddress":"1.2.3.4","{long}":"evil"}}"#);
    same(&records(&[record.as_bytes()]));
}

/// The same collision with the long key first: the lookup then finds the
/// real field (it is last), and both ways agree. Guards the fix.
#[test]
fn a_long_key_with_a_shared_prefix_before_the_field_is_harmless() {
    let long = format!("sourceIPAddress{}", "x".repeat(256));
    let record = format!(r#"{{"eventName":"A","{long}":"evil","sourceIPAddress":"1.2.3.4"}}"#);
    same(&records(&[record.as_bytes()]));
    // Keys longer than 15 bytes sharing the first 15 and the length.
    let record =
        br#"{"eventName":"A","sourceIPAddressX":1,"sourceIPAddressY":2,"sourceIPAddress":3}"#;
    same_with(
        &records(&[record]),
        &["sourceIPAddressX", "sourceIPAddress", "eventName"],
        usize::MAX >> 1,
        &[1 << 20],
    );
}

// ---- Inputs on which both ways must agree -------------------------------

const SIZES: &[&[usize]] = &[&[1 << 20], &[1], &[2], &[3], &[7], &[1, 5, 2, 9, 64]];

fn same_all_sizes(bytes: &[u8]) {
    same_all_sizes_masked(bytes, false)
}

fn same_all_sizes_masked(bytes: &[u8], masked: bool) {
    for sizes in SIZES {
        same_masked(bytes, WANT, usize::MAX >> 1, sizes, masked);
    }
}

/// The error serde gives a record parsed the projected way (what the
/// reader did before the one-pass way, and still does when the scanner
/// does not vouch for a record), and parsed whole, as text.
fn projected_and_whole(case: &[u8]) -> (String, String) {
    let fields = FieldSet::new(WANT.iter().copied());
    let show = |r: Result<Value, serde_json::Error>| match r {
        Ok(_) => "ok".to_string(),
        Err(e) => format!("{}:{}: {e}", e.line(), e.column()),
    };
    let utf8 = std::str::from_utf8(case).is_ok();
    if !utf8 {
        return ("utf8".into(), "utf8".into());
    }
    (
        show(ctrules_core::reader::parse_projected(case, Some(&fields))),
        show(serde_json::from_slice(case)),
    )
}

fn each_record(cases: &[&[u8]]) {
    for case in cases {
        // serde words some errors in skipped fields otherwise: then only
        // the causes of rejections are masked.
        let (projected, whole) = projected_and_whole(case);
        let masked = projected != whole && projected != "ok";
        // Alone, between others, and in a bare JSON array.
        same_all_sizes_masked(&records(&[case]), masked);
        same_all_sizes_masked(
            &records(&[br#"{"eventName":"A"}"#, case, br#"{"eventName":"C"}"#]),
            masked,
        );
        let mut array = b"[{\"eventName\":\"A\"},\n".to_vec();
        array.extend_from_slice(case);
        array.extend_from_slice(b"\n, {\"eventName\":\"C\"} ]");
        same_all_sizes_masked(&array, masked);
        if masked {
            // Then the one-pass way gives what the projected way gives.
            let fields = FieldSet::new(WANT.iter().copied());
            let got = summary(
                &records(&[br#"{"eventName":"A"}"#, case]),
                Some(&fields),
                WANT,
                usize::MAX >> 1,
                &[1 << 20],
            );
            let e = ctrules_core::reader::parse_projected(case, Some(&fields)).unwrap_err();
            let mut cause = e.to_string();
            cause.truncate(cause.rfind(" at line ").unwrap());
            let want = format!(
                "invalid JSON at line {}, column {}: {cause}",
                e.line(),
                e.column() + 30
            );
            assert!(got.contains(&format!("{want:?}")), "{got}\nwants {want:?}");
        }
    }
}

#[test]
fn duplicate_keys_and_escaped_keys() {
    each_record(&[
        br#"{"eventName":"A","eventName":"B"}"#,
        br#"{"eventName":"A","x":1,"eventName":{"n":[1]},"eventName":"C"}"#,
        br#"{"event\u004eame":"X","eventName":"A"}"#,
        br#"{"eventName":"A","event\u004eame":"X"}"#,
        br#"{"eventNam\u0065":"B"}"#,
        br#"{"s\/":"B","s":"C"}"#,
        br#"{"userIdentity":{"a\u0062":1,"ab":2,"type":"Root"}}"#,
        br#"{"userIdentity":{"type":"A","type":"B"}}"#,
        br#"{"":1,"eventName":"A","":2}"#,
        "{\"eventName\":\"é\",\"clé\":\"v\",\"n\":\"日本語 and more than sixteen bytes\"}"
            .as_bytes(),
    ]);
}

#[test]
fn escapes_and_control_characters() {
    each_record(&[
        br#"{"eventName":"\u0000"}"#,
        br#"{"s":"a\u0000b","x":"\u0000"}"#,
        br#"{"eventName":"\ud83d\ude00"}"#,
        br#"{"eventName":"\udc00"}"#,
        br#"{"eventName":"\ud800"}"#,
        br#"{"eventName":"\ud800\u0041"}"#,
        br#"{"eventName":"\ud800\\"}"#,
        br#"{"eventName":"\u12"}"#,
        br#"{"eventName":"\x"}"#,
        br#"{"eventName":"\'"}"#,
        br#"{"eventName":"\U0041"}"#,
        b"{\"eventName\":\"a\x00b\"}",
        b"{\"eventName\":\"a\x1fb\"}",
        b"{\"x\":\"a\x01b\"}",
        b"{\"x\":\"a\x7fb\",\"eventName\":\"\x7f\"}",
        b"{\"x\":\"tab\there\"}",
        b"{\"eventName\":\"0123456789abcdef\x0b0123456789abcdef\"}",
        br#"{"eventName":"0123456789abcde\"0123456789abcdef\\"}"#,
        br#"{"eventName":"\/\b\f\n\r\t\"\\"}"#,
    ]);
}

#[test]
fn numbers() {
    for n in [
        "0",
        "-0",
        "-0.0",
        "1E+2",
        "1e-2",
        "1e400",
        "-1e400",
        "1e-400",
        "00",
        "01",
        "-",
        "-a",
        "1.",
        ".5",
        "+1",
        "1.e5",
        "1e",
        "1e+",
        "0x10",
        "Infinity",
        "NaN",
        "123456789012345678",
        "12345678901234567",
        "1234567890123456789012345",
        "18446744073709551615",
        "18446744073709551616",
        "-9223372036854775808",
        "-9223372036854775809",
        "0.1234567890123456789",
        "1.7976931348623157e308",
        "1.7976931348623159e308",
        "4.9e-324",
        "2.4e-324",
        "99999999999999999",
        "999999999999999999",
        "1.00000000000000000000000000000000000000000000000001",
        &"9".repeat(400),
        &format!("0.{}1", "0".repeat(400)),
    ] {
        for text in [
            format!(r#"{{"n":{n},"eventName":"A"}}"#),
            format!(r#"{{"eventName":"A","x":{n}}}"#),
            format!(r#"{{"eventName":"A","userIdentity":{{"a":[{n}]}}}}"#),
        ] {
            // 1e400 and friends in an unwanted field: see
            // refused_values_in_unwanted_fields below.
            if text.contains("\"x\"")
                && serde_json::from_str::<Value>(&text).is_err()
                && serde_json::from_str::<serde::de::IgnoredAny>(&text).is_ok()
            {
                continue;
            }
            each_record(&[text.as_bytes()]);
        }
    }
}

#[test]
fn whitespace() {
    each_record(&[
        b"{ \"eventName\" : \"A\" }",
        b"{\r\n\"eventName\"\t:\r\"A\"\n}",
        b"{\"eventName\":\"A\"\x0c}",
        b"{\x0c\"eventName\":\"A\"}",
        b"{\"eventName\":\x0c\"A\"}",
        b"{\"eventName\":\"A\",\"x\":[1,\x0c2]}",
        b"{\"eventName\":\"A\",\"x\":[1\x0b,2]}",
        b"{\"eventName\":\"A\",\"x\":[1\xa0,2]}",
        b"{\"eventName\":\"A\",\"x\":[1 , 2 ] , \"s\" : { } }",
        b"{\"eventName\":\"A\",\"x\":{ \"y\" :[ ]}}",
        b"{}",
        b"{ }",
        b"{\n}",
    ]);
    for text in [
        &b"{\"Records\":[\x0c{\"eventName\":\"A\"}]}"[..],
        b"{\"Records\":[{\"eventName\":\"A\"}\x0c]}",
        b"{\"Records\":[{\"eventName\":\"A\"}\x0c,{}]}",
        b"[\r\n{\"eventName\":\"A\"}\r\n,\r\n{\"eventName\":\"B\"}\r\n]\r\n",
        b"\xef\xbb\xbf[{\"eventName\":\"A\"}]",
    ] {
        same_all_sizes(text);
    }
}

#[test]
fn invalid_utf8() {
    each_record(&[
        b"{\"eventName\":\"\xc0\x80\"}",
        b"{\"x\":\"\xc0\xaf\"}",
        b"{\"x\":\"\xed\xa0\x80\"}",
        b"{\"eventName\":\"\xed\xb0\x80\"}",
        b"{\"x\":\"\xe2\x82\"}",
        b"{\"x\":\"\xe2\x82\",\"eventName\":\"A\"}",
        b"{\"x\":\"0123456789abcdef\xf5\x80\x80\x80\"}",
        b"{\"x\":\"\xf4\x90\x80\x80\"}",
        b"{\"x\":\"\xff\"}",
        b"{\"ev\xffentName\":\"A\"}",
        b"{\"eventName\":\"A\",\"u\xc3\":1}",
        b"{\"eventName\":\"A\"\xc2\xa0}",
        b"{\"eventName\":\"A\",\xff:1}",
        b"{\"userIdentity\":{\"\xe9\":1}}",
        "{\"x\":\"é\",\"eventName\":\"ok é\"}".as_bytes(),
    ]);
    same_all_sizes(b"{\"Records\":[{\"eventName\":\"A\"}\xff]}");
    same_all_sizes(b"[{\"eventName\":\"A\"},\xc3\xa9]");
}

#[test]
fn not_objects_and_broken_arrays() {
    each_record(&[
        b"null",
        b"1",
        b"-0",
        b"\"s\"",
        b"[]",
        b"[{}]",
        b"true",
        b"tru",
        b"nul",
        b"{\"eventName\":tru}",
        b"{\"eventName\":truex}",
        b"{\"eventName\":nulL}",
        b"{\"eventName\":\"A\",}",
        b"{,}",
        b"{\"a\"}",
        b"{\"a\":}",
        b"{\"a\" 1}",
        b"{\"a\":1 \"b\":2}",
        b"{\"a\":[1,]}",
        b"{\"a\":[1}",
        b"{\"a\":{]}",
        b"{a:1}",
        b"{'a':1}",
        b"{\"a\":1}}",
        b"{\"a\":1}]",
    ]);
    for text in [
        &br#"{"Records":[{"eventName":"A"}]} x"#[..],
        br#"{"Records":[{"eventName":"A"}]]"#,
        br#"{"Records":[{"eventName":"A"} {"eventName":"B"}]}"#,
        br#"{"Records":[{"eventName":"A"},]}"#,
        br#"{"Records":[{"eventName":"A"}"#,
        br#"{"Records":[{"eventName":"A""#,
        br#"{"Records":[{"eventName":"A"}],"Records":[{"eventName":"B"}]}"#,
        br#"{"x":1,"Records":[{"eventName":"A"}],"y":{"z":[]}}"#,
        br#"{"Records":[{"eventName":"A"}]}{"Records":[{"eventName":"B"}]}"#,
        br#"[{"eventName":"A"}][{"eventName":"B"}]"#,
        br#"[{"eventName":"A"}] [{"eventName":"B"}"#,
        b"[{\"eventName\":\"A\"}]\x00\x00",
        b"{\"Records\":[{\"eventName\":\"A\"},\x00]}",
        b"{\"Records\":[\x00{\"eventName\":\"A\"}]}",
        br#"{"Records":[{"eventName":"A"},{"eventName":"B"}"#,
        br#"{"Records":[{"eventName":"A"},{"eventName":"#,
    ] {
        same_all_sizes(text);
    }
}

#[test]
fn deep_nesting() {
    for depth in [90, 98, 99, 100, 101, 102, 126, 127, 128, 129, 130, 140] {
        for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
            for inner in ["1", "[]", "{}"] {
                for field in ["x", "eventName"] {
                    let text = format!(
                        r#"{{"eventName":"A","{field}":{}{inner}{}}}"#,
                        open.repeat(depth),
                        close.repeat(depth)
                    );
                    // A too deep unwanted field is a refusal of serde's
                    // whole parse only (see refused_values_in_unwanted_fields).
                    if field == "x" && serde_json::from_str::<Value>(&text).is_err() {
                        continue;
                    }
                    same(&records(&[text.as_bytes()]));
                }
            }
        }
    }
}

#[test]
fn many_members() {
    let mut text = String::from("{");
    for i in 0..3000 {
        text.push_str(&format!("\"k{i}\":{i},"));
        if i % 700 == 0 {
            text.push_str(&format!("\"eventName\":\"E{i}\","));
        }
    }
    text.push_str("\"s\":\"end\"}");
    same_all_sizes(&records(&[text.as_bytes(), text.as_bytes()]));
}

/// Records near and over the limit, at every read size.
#[test]
fn records_around_the_limit() {
    let small = br#"{"eventName":"A"}"#;
    for pad in 0..40 {
        let big = format!(r#"{{"eventName":"X","s":"{}"}}"#, "p".repeat(pad));
        for text in [
            records(&[small, big.as_bytes(), small]),
            records(&[big.as_bytes()]),
            format!("[{big} , {big}]").into_bytes(),
        ] {
            for max in [40, 50, 51, 52, 60] {
                for sizes in SIZES {
                    same_with(&text, WANT, max, sizes);
                }
            }
        }
    }
}

/// What serde refuses in a field it parses but skips in one it does not
/// (1e400, a lone surrogate, nesting past 128) is accepted in a field no
/// rule reads, as on the projected way before the one-pass way existed;
/// in a wanted field the record is rejected with serde's message, as on
/// the serde way.
#[test]
fn refused_values_in_unwanted_and_wanted_fields() {
    let deep = format!("{}1{}", "[".repeat(130), "]".repeat(130));
    let deep_in_object = format!("{{\"a\":{}1{}}}", "[".repeat(126), "]".repeat(126));
    for bad in [
        "1e400",
        "-1e400",
        &format!("1{}", "0".repeat(400)),
        "\"\\udc00\"",
        "\"\\ud800\"",
        "\"\\ud800\\u0041\"",
        "\"\\ud83d\"",
        &deep,
        &deep_in_object,
    ] {
        let fields = FieldSet::new(WANT.iter().copied());
        // Unwanted: handed over, as the projected way does.
        let unwanted = format!(r#"{{"eventName":"A","x":{bad},"s":"z"}}"#);
        let projected = ctrules_core::reader::parse_projected(unwanted.as_bytes(), Some(&fields));
        let got = summary(
            &records(&[unwanted.as_bytes()]),
            Some(&fields),
            WANT,
            usize::MAX >> 1,
            &[3],
        );
        match projected {
            Ok(v) => assert!(
                got.contains("records: 1,") && got.contains(&format!("{:?}", v.to_string())),
                "{unwanted}: {got}"
            ),
            Err(_) => assert!(got.contains("rejected: 1"), "{unwanted}: {got}"),
        }
        // Wanted: both ways agree (rejected).
        for wanted in [
            format!(r#"{{"eventName":"A","n":{bad},"s":"z"}}"#),
            format!(r#"{{"eventName":"A","n":{bad},"n":1}}"#),
            format!(r#"{{"eventName":"A","userIdentity":{{"k":{bad}}}}}"#),
        ] {
            each_record(&[wanted.as_bytes()]);
        }
    }
}

/// Random mutations of a realistic record, at random read sizes.
mod fuzz {
    use super::*;
    use proptest::prelude::*;

    fn mutated() -> impl Strategy<Value = Vec<u8>> {
        let base = br#"{"eventVersion":"1.08","userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::1:user/a\u00e9\n","accountId":123456789012},"eventName":"GetObject","sourceIPAddress":"1.2.3.4","n":[-0.5e+3,0,12,true,false,null,{}],"s":"tab\there and a longer tail of text \ud83d\ude00","x":{"y":[[],{"z":""}]},"eventName":"Last"}"#;
        let bytes =
            b" \t\n\r\x0c\"\\{}[],:-+.0159eEtrufalsn\x01\x7f\xc3\xa9\xff\xed\xa0/u".to_vec();
        proptest::collection::vec(
            (0..base.len(), proptest::sample::select(bytes), 0..3u8),
            0..4,
        )
        .prop_map(move |edits| {
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
            t
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn one_pass_agrees_with_serde(
            text in mutated(),
            size in 1usize..40,
            max in prop_oneof![Just(usize::MAX >> 1), 300usize..420],
        ) {
            let (projected, whole) = projected_and_whole(&text);
            // A value serde refuses only when it parses it, in a field no rule reads: see above.
            prop_assume!(!(projected == "ok" && whole != "ok"));
            let masked = projected != whole;
            let file = records(&[br#"{"eventName":"A"}"#, &text, br#"{"eventName":"C"}"#]);
            same_masked(&file, WANT, usize::MAX >> 1, &[size, 1 << 20], masked);
            let mut array = b"[".to_vec();
            array.extend_from_slice(&text);
            array.extend_from_slice(b"]");
            same_masked(&array, WANT, max, &[size], masked);
        }
    }
}

// ---- Memory: per-thread peak of heap bytes ------------------------------

mod memory {
    use super::*;
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    struct Counting;

    thread_local! {
        static NOW: Cell<isize> = const { Cell::new(0) };
        static PEAK: Cell<isize> = const { Cell::new(0) };
    }

    fn add(n: isize) {
        let _ = NOW.try_with(|now| {
            let v = now.get() + n;
            now.set(v);
            let _ = PEAK.try_with(|p| p.set(p.get().max(v)));
        });
    }

    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            add(layout.size() as isize);
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            add(-(layout.size() as isize));
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new: usize) -> *mut u8 {
            add(new as isize - layout.size() as isize);
            unsafe { System.realloc(ptr, layout, new) }
        }
    }

    #[global_allocator]
    static A: Counting = Counting;

    /// The most heap bytes the read of `bytes` held at once (on this thread).
    fn peak(bytes: &[u8], fields: Option<&FieldSet>) -> (usize, u64) {
        let base = NOW.with(Cell::get);
        PEAK.with(|p| p.set(base));
        let options = ReadOptions {
            fields,
            ..ReadOptions::default()
        };
        let outcome = read_log_with(bytes, &options, &mut |r: Record<'_>| {
            let _ = r.value.member("eventName");
            Ok(())
        })
        .unwrap();
        ((PEAK.with(Cell::get) - base) as usize, outcome.records)
    }

    /// A record of very many small top-level members once cost the
    /// one-pass way some 20 times its size in memory (a `Member`, a `Tag`
    /// and an `Entry` per member, wanted or not): 1.4 million members in
    /// 8 MB held ~180 MB. Past `validate::MAX_MEMBERS` members such a
    /// record is now read the serde way, which keeps only wanted fields
    /// (regression test).
    #[test]
    fn many_members_do_not_cost_many_times_the_record_in_memory() {
        let n = 8 << 20;
        let mut record = String::with_capacity(n + 64);
        record.push_str("{\"eventName\":\"A\"");
        while record.len() < n {
            record.push_str(",\"a\":0");
        }
        record.push('}');
        let file = records(&[record.as_bytes()]);
        let fields = FieldSet::new(["eventName"]);
        let (serde, records) = peak(&file, None);
        assert_eq!(records, 1);
        let (one_pass, records) = peak(&file, Some(&fields));
        assert_eq!(records, 1);
        eprintln!(
            "record {} bytes: serde way peak {serde}, one-pass way peak {one_pass}",
            file.len()
        );
        assert!(
            one_pass <= 2 * serde.max(4 * file.len()),
            "one-pass way held {one_pass} bytes at once for a record of {} bytes (serde way: {serde})",
            file.len()
        );
    }
}
