//! The canonical layout (`ctrules_lang::format`) on tricky inputs: every
//! construct of the grammar, comments everywhere, blank lines, parentheses,
//! strings that hold `#`. Each case checks the exact text, that formatting
//! it again changes nothing, and that it parses to the same tree.

use ctrules_lang::format::{format, tree_shape};
use ctrules_lang::{parse, Source};

fn fmt(text: &str) -> String {
    format(&Source::new("t.rules", text))
        .unwrap_or_else(|d| panic!("{text:?} does not parse: {}", d[0]))
}

#[track_caller]
fn assert_formats(input: &str, expected: &str) {
    let out = fmt(input);
    assert!(
        out == expected,
        "--- input\n{input}\n--- formatted\n{out}\n--- expected\n{expected}"
    );
    assert_eq!(fmt(&out), out, "formatting again changes the text");
    let tree = |t: &str| tree_shape(&parse(&Source::new("t.rules", t)).unwrap());
    assert_eq!(tree(input), tree(&out), "the tree changed");
}

#[test]
fn canonical_text_is_left_alone() {
    let text = "\
# A comment about the file.
list home_countries = [\"US\"]

rule outside_home_country {
  description \"A call from an address outside the home country\"
  severity HIGH
  tags [\"geo\"]
  when geoip(sourceIPAddress).country_code exists
   and geoip(sourceIPAddress).country_code not in home_countries
  set xpriority = HIGH
}
";
    assert_formats(text, text);
}

#[test]
fn empty_and_blank_files_format_to_nothing() {
    assert_formats("", "");
    assert_formats("  \n\n \t\n", "");
}

#[test]
fn a_file_of_only_comments_keeps_them_and_one_blank_line_between_groups() {
    assert_formats(
        "\n\n# only comments\n\n\n#   second   \n# third",
        "# only comments\n\n#   second\n# third\n",
    );
}

#[test]
fn spacing_is_normalized_around_operators_commas_and_brackets() {
    assert_formats(
        "when  a==1   and b!=\"x\"and c in[ 1 ,2, ]\tset x=f( a ,b ,)",
        "when a == 1 and b != \"x\" and c in [1, 2] set x = f(a, b)\n",
    );
    assert_formats(
        "when eventName  not   in [ \"a\" ] and x  not\n  like \"b\" drop",
        "when eventName not in [\"a\"] and x not like \"b\" drop\n",
    );
}

#[test]
fn crlf_line_ends_become_lf() {
    assert_formats(
        "when a==1 set x=2\r\n# c\r\nwhen b exists\r\n",
        "when a == 1 set x = 2\n# c\nwhen b exists\n",
    );
}

#[test]
fn every_item_kind() {
    assert_formats(
        r#"list a = ["x", 1, -0.5, 1.5e3, true, false, null, HIGH]
list b = file   "lookups/services.txt"
list c = file "lookups/offices.csv"   column "cidr"
table t = file "lookups/users.csv" key user
table t2 = file "lookups/users.json" key "key" column x
schedule s = "Mon-Fri 09:00-18:00, Sat 10:00-14:00"   zone "Europe/Paris"
calendar h = ["2026-12-25", "2026-12-20..2027-01-04"]  zone "UTC"
calendar v = file "lookups/vacations.csv" key user zone "UTC"
macro m = not eventName in noisy
rule id-1/x:v2.0 { severity LOW tags i["a", "B"] description "d" when m
  set xpriority = HIGH set xs = "s" set xn = -1 set xnull = null
  set xpath = requestParameters."x-amz-acl"[0]
  set xcall = mmdb("GeoIP2-City", sourceIPAddress).subdivisions[0].iso_code
  set xlook = users[lower(actor.user)]."team name"
  overwrite resources[].ARN = "arn:redacted" tag "a", "b" drop }
when m set xb = false"#,
        r#"list a = ["x", 1, -0.5, 1.5e3, true, false, null, HIGH]
list b = file "lookups/services.txt"
list c = file "lookups/offices.csv" column "cidr"
table t = file "lookups/users.csv" key user
table t2 = file "lookups/users.json" key "key" column x
schedule s = "Mon-Fri 09:00-18:00, Sat 10:00-14:00" zone "Europe/Paris"
calendar h = ["2026-12-25", "2026-12-20..2027-01-04"] zone "UTC"
calendar v = file "lookups/vacations.csv" key user zone "UTC"
macro m = not eventName in noisy

rule id-1/x:v2.0 {
  severity LOW
  tags i["a", "B"]
  description "d"
  when m
  set xpriority = HIGH
  set xs = "s"
  set xn = -1
  set xnull = null
  set xpath = requestParameters."x-amz-acl"[0]
  set xcall = mmdb("GeoIP2-City", sourceIPAddress).subdivisions[0].iso_code
  set xlook = users[lower(actor.user)]."team name"
  overwrite resources[].ARN = "arn:redacted"
  tag "a", "b"
  drop
}

when m set xb = false
"#,
    );
}

#[test]
fn every_operator_and_quantifier() {
    assert_formats(
        r#"when any resources[].type == "A" and all resources[].x != 1 and a < 1 and b <= 2 and c > 3 and d >= 4 and e in f and g like "h" and i matches r"j" and k within l and m startswith "n" and o endswith "p" and q contains "r" and s exists and t missing drop
when a not in b and c not like "d" and e not matches "f" and g not within h and i not startswith "j" and k not endswith "l" and m not contains "n" drop"#,
        r#"when any resources[].type == "A"
 and all resources[].x != 1
 and a < 1
 and b <= 2
 and c > 3
 and d >= 4
 and e in f
 and g like "h"
 and i matches r"j"
 and k within l
 and m startswith "n"
 and o endswith "p"
 and q contains "r"
 and s exists
 and t missing
drop

when a not in b
 and c not like "d"
 and e not matches "f"
 and g not within h
 and i not startswith "j"
 and k not endswith "l"
 and m not contains "n"
drop
"#,
    );
}

#[test]
fn strings_are_written_as_they_were() {
    // `#` inside a string is text; escapes, raw and case-insensitive
    // strings, and quoted path keys are not rewritten.
    let text = r##"when eventName == "a#b" and x == "q\"#\\\u{e9}\/" and y matches r"^\d+#" drop
when z == i"CaSe" and w matches ir"\w" tag "#tag", "x"  # real comment
when requestParameters."x#y"[0] == 1 set xa = concat("#", eventName)
"##;
    assert_formats(text, text);
    assert_formats(
        "when eventName==\"a#b\"tag \"#\"#c\n",
        "when eventName == \"a#b\" tag \"#\"  #c\n",
    );
}

#[test]
fn parentheses_the_tree_needs_stay_and_redundant_ones_go() {
    assert_formats(
        "when (a) and ((b)) and not (c) and not (d and e) and not (f or g) and (h or i) drop\n\
         when a or (b and c) or d and e or (((f and g))) drop\n\
         when (a and b) and c and (d and (e and f)) drop\n\
         when (a or b) or c or (d or (e or f)) drop\n\
         when not not a and not (not b) drop\n\
         when (a or b) drop\n\
         macro x = ((not a))\n",
        "when a and b and not c and not (d and e) and not (f or g) and (h or i) drop\n\
         when a or (b and c) or d and e or (f and g) drop\n\
         when (a and b) and c and (d and (e and f)) drop\n\
         when (a or b) or c or (d or (e or f)) drop\n\
         when not not a and not not b drop\n\
         when a or b drop\n\
         macro x = not a\n",
    );
}

#[test]
fn long_conditions_and_lists_wrap_one_item_a_line() {
    assert_formats(
        r#"macro long_macro = eventName == "ConsoleLogin" and userIdentity.type == "Root" or eventName == "CreateUser" and errorCode exists
when eventName in ["CreateUser", "DeleteUser", "AttachUserPolicy", "DetachUserPolicy", "PutUserPolicy", "X"] set xpriority = HIGH
calendar freeze = ["2024-12-20..2025-01-03", "2024-08-01T14:00..2024-08-01T16:30", "2024-08-02T14:00..2024-08-02T16:30"] zone "UTC"
rule r3 {
  when a or b and (c or d) or not (e and (f or g)) or h and i and jjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjj
  set x = 1
}
when not (aaaaaaaaaaaaaaaaaaaaaaaaaaaa or bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb or c) set x = 1
"#,
        r#"macro long_macro =
    eventName == "ConsoleLogin" and userIdentity.type == "Root"
    or eventName == "CreateUser" and errorCode exists

when eventName in [
    "CreateUser",
    "DeleteUser",
    "AttachUserPolicy",
    "DetachUserPolicy",
    "PutUserPolicy",
    "X",
]
set xpriority = HIGH

calendar freeze = [
    "2024-12-20..2025-01-03",
    "2024-08-01T14:00..2024-08-01T16:30",
    "2024-08-02T14:00..2024-08-02T16:30",
] zone "UTC"

rule r3 {
  when a
    or b and (c or d)
    or not (e and (f or g))
    or (
      h
      and i
      and jjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjjj
    )
  set x = 1
}

when not (
    aaaaaaaaaaaaaaaaaaaaaaaaaaaa
    or bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb
    or c
)
set x = 1
"#,
    );
}

#[test]
fn comments_before_items_trailing_and_at_the_end_of_the_file() {
    assert_formats(
        "# header comment\n\n\n# about admins\nlist admins = i[ \"alice\" ,\"bob\",  ]   # trailing\nlist b = [1]\n# end of file\n\n# really the end",
        "# header comment\n\n# about admins\nlist admins = i[\"alice\", \"bob\"]  # trailing\nlist b = [1]\n# end of file\n\n# really the end\n",
    );
}

#[test]
fn comments_inside_a_list_wrap_it_and_stay_with_their_member() {
    assert_formats(
        r#"list noisy = [
  "Decrypt",          # KMS, very frequent
  "GenerateDataKey",  # a trailing comma is allowed

  "Encrypt",
  # last one
]
list e = [ # empty
]
"#,
        r#"list noisy = [
    "Decrypt",  # KMS, very frequent
    "GenerateDataKey",  # a trailing comma is allowed

    "Encrypt",
    # last one
]

list e = [  # empty
]
"#,
    );
}

#[test]
fn comments_inside_blocks() {
    assert_formats(
        r#"rule r { # on the brace

  tags ["z"]  # tags
  # before when
  when # after when
    a
    # own line, before and
    and b
  set x = 1 # on set

  # before the close
} # after the close
"#,
        r#"rule r {  # on the brace
  tags ["z"]  # tags
  # before when
  when a  # after when
   # own line, before and
   and b
  set x = 1  # on set

  # before the close
}  # after the close
"#,
    );
}

#[test]
fn comments_between_conditions_break_the_chain_at_them() {
    assert_formats(
        "when a and # c1\n  b # c2\n  set x = 1\n\
         macro m = a and (b # c5\n  or c) and d\n\
         macro m2 = (b or # c6\n  c)\n\
         when a\n   # before or\n   or b set u = 1\n\
         when a and (b or c) # after paren\n  and d set v = 1\n",
        "when a  # c1\n and b  # c2\nset x = 1\n\n\
         macro m =\n    a\n    and (\n        b  # c5\n        or c\n    )\n    and d\n\n\
         macro m2 =\n    b  # c6\n    or c\n\n\
         when a\n  # before or\n  or b\nset u = 1\n\n\
         when a\n and (b or c)  # after paren\n and d\nset v = 1\n",
    );
}

#[test]
fn a_comment_inside_a_test_or_a_call_moves_to_a_line_end_of_its_rule() {
    assert_formats(
        "when eventName # c3\n  == \"x\" set y = f(a, # c4\n  b)\nwhen x set y = g( # c8\n)\nmacro m = eventName # c9\n == 1\n",
        "when eventName == \"x\"  # c3\n# c4\nset y = f(a, b)\n\nwhen x\n# c8\nset y = g()\n\nmacro m = eventName == 1  # c9\n",
    );
}

#[test]
fn blank_lines_are_kept_once_and_never_just_inside_brackets() {
    assert_formats(
        "\n\nwhen a drop\n\n\n\nwhen b drop\nwhen c drop\nrule r {\n\n  when a\n\n  set x = 1\n\n}\nwhen d drop\n",
        "when a drop\n\nwhen b drop\nwhen c drop\n\nrule r {\n  when a\n\n  set x = 1\n}\n\nwhen d drop\n",
    );
}

#[test]
fn a_repeated_metadata_line_keeps_the_last_which_is_the_one_that_counts() {
    assert_formats(
        "rule r {\n  severity LOW\n  description \"first\"\n  severity HIGH\n  when a\n}\n",
        "rule r {\n  description \"first\"\n  severity HIGH\n  when a\n}\n",
    );
}

#[test]
fn allow_lines_are_kept_each_on_a_line_in_the_order_written() {
    assert_formats(
        "rule r { allow   W308   \"not in the catalog\" severity INFO allow W303 \"x\" when a }",
        "rule r {\n  allow W308 \"not in the catalog\"\n  severity INFO\n  allow W303 \"x\"\n  when a\n}\n",
    );
    // Without a reason (E207 for the compiler), the line is kept as written.
    assert_formats(
        "rule r {\n  allow W308\n  when a\n}\n",
        "rule r {\n  allow W308\n  when a\n}\n",
    );
}

#[test]
fn technique_and_reference_lines_are_all_kept_in_the_order_written() {
    assert_formats(
        "rule r { technique   \"T1098\" reference \"https://a\" severity LOW technique \"T1098.001\" reference \"https://b\" when a }",
        "rule r {\n  technique \"T1098\"\n  reference \"https://a\"\n  severity LOW\n  technique \"T1098.001\"\n  reference \"https://b\"\n  when a\n}\n",
    );
}

#[test]
fn title_dedup_and_dedup_window_lines_are_kept_in_the_order_written() {
    assert_formats(
        "rule r { dedup   \"{eventName}\" severity LOW title\n\"{{x}} {actor.name}\" dedup_window   30m when a }",
        "rule r {\n  dedup \"{eventName}\"\n  severity LOW\n  title \"{{x}} {actor.name}\"\n  dedup_window 30m\n  when a\n}\n",
    );
}

#[test]
fn a_file_that_does_not_parse_is_not_formatted() {
    let err = format(&Source::new("t.rules", "when eventName = \"x\" drop")).unwrap_err();
    assert_eq!(err[0].code, "E101");
}

#[test]
fn any_name_in_is_spaced_and_broken_like_a_parenthesized_chain() {
    assert_formats(
        "when any  s   in resources[](s.type==\"A\"and s.ARN exists) drop\n",
        "when any s in resources[] (s.type == \"A\" and s.ARN exists) drop\n",
    );
    // Too long: the body one operand a line, one level in.
    assert_formats(
        "rule kms {\n  when eventSource == \"kms.amazonaws.com\" and any s in resources[] (s.type == \"AWS::KMS::Key\" and s.ARN startswith \"arn:aws:kms:\" and s.accountId exists)\n}\n",
        "rule kms {\n  when eventSource == \"kms.amazonaws.com\"\n   and any s in resources[] (\n      s.type == \"AWS::KMS::Key\"\n      and s.ARN startswith \"arn:aws:kms:\"\n      and s.accountId exists\n   )\n}\n",
    );
    // Comments inside stay, and parentheses the body does not need go.
    assert_formats(
        "when all s in r[] ( # why\n ((s.t == 1)) ) drop\n",
        "when all s in r[] (  # why\n    s.t == 1\n)\ndrop\n",
    );
}

#[test]
fn deep_paths_are_written_as_they_are() {
    assert_formats(
        "when requestParameters.**  contains \"x\" drop\n",
        "when requestParameters.** contains \"x\" drop\n",
    );
}
