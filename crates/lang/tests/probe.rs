use ctrules_lang::*;
#[test]
fn probe() {
    let cases = [
        "when eventName = \"x\"",
        "when a == \"x\" && b == \"y\"",
        "when a == \"x\" || b == \"y\"",
        "when !a exists",
        "when a == 'x'",
        "when a == \"x\" AND b exists",
        "when a == \"x\" OR b exists",
        "when eventName NOT in [\"a\"]",
        "when a == \"x\" then set xp = HIGH",
        "rule r { severity high when a exists }",
        "when \"x\" == a",
        "when a foo",
        "when a ==",
        "when a == \"\\q\"",
        "when a == \"\\u00e9\"",
        "when a == \"\\u{zz}\"",
        "when a == \"\\u{+e9}\" set x = 1",
        "when a == 007",
        "when a == 1e400",
        "when a[99999999999999999999999] exists",
        "when a == -0",
        "rule r { }",
        "list l = [1, 2,]",
        "when a == \"x\" set xp = high",
        "when a exists drop when b exists drop",
    ];
    for c in cases {
        let s = Source::new("t.rules", c);
        match parse(&s) {
            Ok(f) => println!("{c:?}\n  OK {:?}\n", f),
            Err(ds) => for d in ds { println!("{c:?}\n  {} label={:?} help={:?} span={:?} text={:?}\n", d, d.label, d.help, d.span, &c[d.span.start..d.span.end]); }
        }
    }
    for c in ["a exists", " a exists", "a exists ", "a exists # c", "a exists and", "(a exists", "a exists b"] {
        let s = Source::new("c", c);
        match parse_condition(&s) {
            Ok(e) => println!("cond {c:?} OK {:?}", e),
            Err(ds) => for d in ds { println!("cond {c:?} {} help={:?} span={:?}", d, d.help, d.span); }
        }
    }
}
