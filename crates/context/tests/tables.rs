//! Table files: formats, typed views, errors with lines, path confinement.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ctrules_context::tables::{
    column_values, date_ranges, load, networks, resolve_path, KeyedTable, NetworkSet, Table,
    TableError,
};
use ctrules_context::time::{parse_event_time, Tz};
use serde_json::json;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

fn table(name: &str) -> Table {
    load(&fixture(name)).unwrap_or_else(|e| panic!("{e}"))
}

fn load_error(name: &str) -> TableError {
    load(&fixture(name)).expect_err("table should be rejected")
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address")
}

// ---------------------------------------------------------------- CSV

#[test]
fn csv_header_rows_lines_and_cells() {
    let t = table("users.csv");
    assert_eq!(t.columns, ["user", "team", "timezone"]);
    assert_eq!(t.rows.len(), 4);
    let lines: Vec<usize> = t.rows.iter().map(|r| r.line).collect();
    assert_eq!(lines, [3, 4, 6, 7]);
    assert_eq!(
        t.rows[1].fields["team"],
        json!("payments"),
        "cells are trimmed"
    );
    assert_eq!(t.rows[2].fields["user"], json!("carol"), "quotes removed");
    assert_eq!(t.rows[2].fields["team"], json!("data, analytics"));
    assert!(
        !t.rows[3].fields.contains_key("team"),
        "empty cell is absent"
    );
    assert_eq!(t.path, fixture("users.csv"));
}

#[test]
fn csv_header_only_is_an_empty_table() {
    let t = table("header_only.csv");
    assert_eq!(t.columns, ["user", "team"]);
    assert!(t.rows.is_empty());
}

#[test]
fn csv_wrong_cell_count_names_the_line() {
    let e = load_error("broken_cells.csv");
    assert_eq!(e.line, Some(4));
    assert_eq!(
        e.message,
        "expected 3 cells (user, team, timezone), found 4"
    );
    assert!(e
        .to_string()
        .ends_with("broken_cells.csv:4: expected 3 cells (user, team, timezone), found 4"));
}

#[test]
fn csv_header_errors() {
    let e = load_error("broken_duplicate_column.csv");
    assert_eq!(e.line, Some(1));
    assert!(e.message.contains("`user` appears twice"), "{e}");

    let e = load_error("broken_empty_header.csv");
    assert_eq!(e.line, Some(1));
    assert!(
        e.message.contains("column 2 of the header has no name"),
        "{e}"
    );

    let e = load_error("broken_empty.csv");
    assert_eq!(e.line, None);
    assert!(e.message.contains("header row"), "{e}");
}

#[test]
fn csv_with_byte_order_mark_and_crlf() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bom.csv");
    fs::write(&path, "\u{feff}user,team\r\nalice,platform\r\n").unwrap();
    let t = load(&path).unwrap();
    assert_eq!(t.columns, ["user", "team"]);
    assert_eq!(t.rows[0].fields["team"], json!("platform"));
    assert_eq!(t.rows[0].line, 2);
}

#[test]
fn csv_quoted_field_over_two_lines_keeps_line_of_row_start() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("notes.csv");
    fs::write(&path, "user,note\nalice,\"two\nlines\"\nbob,one,extra\n").unwrap();
    let e = load(&path).unwrap_err();
    assert_eq!(e.line, Some(4));
}

// ---------------------------------------------------------------- text

#[test]
fn text_list_skips_comments_and_blanks() {
    let t = table("services.txt");
    assert_eq!(t.columns, ["value"]);
    let values: Vec<_> = t.rows.iter().map(|r| r.fields["value"].clone()).collect();
    assert_eq!(
        values,
        [
            json!("s3.amazonaws.com"),
            json!("ec2.amazonaws.com"),
            json!("iam.amazonaws.com"),
            json!("sts.amazonaws.com"),
            json!("s3.amazonaws.com"),
        ]
    );
    assert_eq!(t.rows[2].line, 5);
}

// ---------------------------------------------------------------- JSON

#[test]
fn json_array_of_objects() {
    let t = table("users.json");
    assert_eq!(t.columns, ["user", "team", "admin", "oncall"]);
    assert_eq!(t.rows.len(), 3);
    assert_eq!(t.rows.iter().map(|r| r.line).collect::<Vec<_>>(), [2, 3, 4]);
    assert_eq!(t.rows[0].fields["admin"], json!(true));
    assert!(!t.rows[1].fields.contains_key("manager"), "null is absent");
    assert_eq!(t.rows[2].text("oncall").as_deref(), Some("2"));
}

#[test]
fn json_object_of_rows_gets_a_key_column() {
    let t = table("accounts.json");
    assert_eq!(t.columns, ["key", "name", "owner", "value"]);
    assert_eq!(t.rows[0].fields["key"], json!("111122223333"));
    assert_eq!(t.rows[0].fields["owner"], json!("platform"));
    assert_eq!(t.rows[1].line, 3);
    assert_eq!(t.rows[2].fields["value"], json!("sandbox"));
    let keyed = KeyedTable::build(&t, "key", false).unwrap();
    assert_eq!(keyed.get("444455556666")[0].fields["name"], json!("dev"));
}

#[test]
fn json_array_of_strings_is_a_value_column() {
    let t = table("services.json");
    assert_eq!(t.columns, ["value"]);
    assert_eq!(t.rows.len(), 3);
    assert_eq!(t.rows[2].line, 2);
    assert_eq!(t.rows[2].fields["value"], json!("lambda.amazonaws.com"));
}

#[test]
fn json_errors_name_the_line() {
    let e = load_error("broken_syntax.json");
    assert_eq!(e.line, Some(3));
    assert!(e.message.starts_with("invalid JSON"), "{e}");

    let e = load_error("broken_mixed.json");
    assert_eq!(e.line, Some(3));
    assert_eq!(
        e.message,
        "expected an object like the elements before it, found a string"
    );

    let e = load_error("broken_nested.json");
    assert_eq!(e.line, Some(3));
    assert!(e.message.contains("found an array"), "{e}");

    let e = load_error("broken_scalar.json");
    assert!(e.message.contains("top level"), "{e}");

    let e = load_error("broken_key_field.json");
    assert_eq!(e.line, Some(3));
    assert!(e.message.contains("own `key` field"), "{e}");

    let e = load_error("broken_duplicate_key.json");
    assert_eq!(e.line, Some(3));
    assert!(e.message.contains("`alice` appears twice"), "{e}");
}

#[test]
fn json_trailing_garbage_and_empty_documents() {
    let dir = tempfile::tempdir().unwrap();
    let write = |name: &str, text: &str| {
        let path = dir.path().join(name);
        fs::write(&path, text).unwrap();
        path
    };
    let e = load(&write("a.json", "{\"a\": {}}\n{")).unwrap_err();
    assert_eq!(e.line, Some(2));
    let e = load(&write("b.json", "[1]\n]")).unwrap_err();
    assert_eq!(e.line, Some(2));
    let e = load(&write("c.json", "")).unwrap_err();
    assert!(e.message.starts_with("invalid JSON"), "{e}");
    let empty = load(&write("d.json", "[]")).unwrap();
    assert!(empty.columns.is_empty() && empty.rows.is_empty());
    assert_eq!(
        column_values(&empty, "value").unwrap(),
        Vec::<String>::new()
    );
    let e = load(&write("e.json", "[null]")).unwrap_err();
    assert!(e.message.contains("found null"), "{e}");
}

// ---------------------------------------------------------------- files

#[test]
fn unknown_extension_missing_file_and_bad_encoding() {
    let e = load_error("table.tsv");
    assert_eq!(e.line, None);
    assert_eq!(
        e.message,
        "unknown table format `.tsv`: use `.csv`, `.json` or `.txt`"
    );
    let e = load(&fixture("no_such_table.csv")).unwrap_err();
    assert!(e.message.starts_with("cannot read the table"), "{e}");
    let e = load(&fixture("README")).unwrap_err();
    assert!(e.message.contains("extension"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("latin1.csv");
    fs::write(&path, b"user,team\nalice,platform\nzo\xe9,data\n").unwrap();
    let e = load(&path).unwrap_err();
    assert_eq!(e.line, Some(3));
    assert!(e.message.contains("UTF-8"), "{e}");

    let upper = dir.path().join("LIST.TXT");
    fs::write(&upper, "a\n").unwrap();
    assert_eq!(load(&upper).unwrap().rows.len(), 1);
}

#[test]
fn error_display_without_a_line() {
    let e = TableError {
        path: PathBuf::from("rules.d/users.csv"),
        line: None,
        message: "boom".into(),
    };
    assert_eq!(e.to_string(), "rules.d/users.csv: boom");
}

// ---------------------------------------------------------------- keyed

#[test]
fn keyed_table_exact_and_folded() {
    let t = table("users.csv");
    let exact = KeyedTable::build(&t, "user", false).unwrap();
    assert_eq!(exact.len(), 4);
    assert!(!exact.is_empty());
    assert_eq!(exact.get("alice")[0].fields["team"], json!("platform"));
    assert!(exact.get("Alice").is_empty());
    assert!(exact.get("nobody").is_empty());
    assert_eq!(exact.key_column(), "user");
    assert_eq!(exact.path(), fixture("users.csv"));

    let folded = KeyedTable::build(&t, "user", true).unwrap();
    assert_eq!(
        folded.get("ALICE")[0].fields["timezone"],
        json!("America/New_York")
    );
}

#[test]
fn keyed_table_keeps_several_rows_per_key() {
    let t = table("vacations.csv");
    let k = KeyedTable::build(&t, "user", false).unwrap();
    assert_eq!(k.len(), 3);
    let alice = k.get("alice");
    assert_eq!(alice.len(), 2);
    assert_eq!(alice[0].line, 2);
    assert_eq!(alice[1].line, 4);
}

#[test]
fn keyed_table_errors() {
    let t = table("users.csv");
    let e = KeyedTable::build(&t, "usr", false).unwrap_err();
    assert_eq!(e.line, None);
    assert_eq!(
        e.message,
        "no column `usr`; the columns are `user`, `team`, `timezone`; did you mean `user`?"
    );
    let e = KeyedTable::build(&t, "zzzzzz", false).unwrap_err();
    assert!(!e.message.contains("did you mean"), "{e}");

    let e = KeyedTable::build(&table("broken_missing_key.csv"), "user", false).unwrap_err();
    assert_eq!(e.line, Some(3));
    assert_eq!(e.message, "the key column `user` is empty");

    let e = KeyedTable::build(&table("users.json"), "admin", false);
    assert!(e.is_err(), "rows without the key are rejected");
}

// ---------------------------------------------------------------- sets

#[test]
fn column_values_are_a_set_in_file_order() {
    assert_eq!(
        column_values(&table("services.txt"), "value").unwrap(),
        [
            "s3.amazonaws.com",
            "ec2.amazonaws.com",
            "iam.amazonaws.com",
            "sts.amazonaws.com"
        ]
    );
    assert_eq!(
        column_values(&table("users.csv"), "team").unwrap(),
        ["platform", "payments", "data, analytics"]
    );
    let e = column_values(&table("users.csv"), "Team").unwrap_err();
    assert!(e.message.contains("did you mean `team`?"), "{e}");
}

#[test]
fn networks_and_membership() {
    let t = table("office_networks.csv");
    let nets = networks(&t, "network").unwrap();
    let shown: Vec<String> = nets.iter().map(ToString::to_string).collect();
    assert_eq!(
        shown,
        [
            "203.0.113.0/24",
            "198.51.100.7/32",
            "2001:db8:1234::/48",
            "10.0.0.0/8"
        ]
    );
    let set = NetworkSet::new(&nets);
    assert_eq!(set.len(), 4);
    assert!(set.contains(ip("203.0.113.77")));
    assert!(set.contains(ip("198.51.100.7")));
    assert!(!set.contains(ip("198.51.100.8")));
    assert!(set.contains(ip("10.200.0.1")));
    assert!(!set.contains(ip("11.0.0.1")));
    assert!(set.contains(ip("2001:db8:1234:ffff::1")));
    assert!(!set.contains(ip("2001:db8:1235::1")));
    assert!(set.contains(ip("::ffff:203.0.113.5")), "IPv4-mapped");
    assert!(!NetworkSet::new(&[]).contains(ip("10.0.0.1")));
    assert!(NetworkSet::new(&[]).is_empty());
}

#[test]
fn network_set_merges_overlaps() {
    let nets: Vec<ipnet::IpNet> = [
        "10.0.0.0/8",
        "10.1.0.0/16",
        "10.255.255.255",
        "192.0.2.0/25",
        "192.0.2.128/25",
    ]
    .iter()
    .map(|n| {
        n.parse::<ipnet::IpNet>()
            .unwrap_or_else(|_| ipnet::IpNet::from(ip(n)))
    })
    .collect();
    let set = NetworkSet::new(&nets);
    assert_eq!(set.len(), 2);
    assert!(set.contains(ip("10.1.2.3")));
    assert!(set.contains(ip("192.0.2.200")));
    assert!(!set.contains(ip("192.0.3.0")));
}

#[test]
fn bad_network_names_its_line() {
    let e = networks(&table("broken_networks.csv"), "network").unwrap_err();
    assert_eq!(e.line, Some(3));
    assert!(
        e.message.starts_with("`10.0.0.300/8` is not a network"),
        "{e}"
    );
    let e = networks(&table("office_networks.csv"), "cidr").unwrap_err();
    assert!(
        e.message.contains("the columns are `network`, `site`"),
        "{e}"
    );
}

// ---------------------------------------------------------------- date ranges

#[test]
fn vacations_by_user() {
    let t = table("vacations.csv");
    let by_user = KeyedTable::build(&t, "user", false).unwrap();
    let zone: Tz = "Europe/Paris".parse().unwrap();
    let alice = date_ranges(&t.path, by_user.get("alice"), zone).unwrap();
    assert_eq!(alice.len(), 2);
    let at = |s: &str| parse_event_time(s).unwrap();
    // Paris is UTC+2 in August: the vacation starts at 22:00Z the day before.
    assert!(!alice.contains(at("2026-08-02T21:59:59Z")));
    assert!(alice.contains(at("2026-08-02T22:00:00Z")));
    assert!(alice.contains(at("2026-08-14T21:59:59Z")));
    assert!(!alice.contains(at("2026-08-14T22:00:00Z")));
    assert_eq!(
        alice
            .entry_at(at("2026-08-05T12:00:00Z"))
            .unwrap()
            .name
            .as_deref(),
        Some("summer")
    );
    assert_eq!(
        alice.entry_at(at("2026-12-28T12:00:00Z")).unwrap().name,
        None
    );

    let carol = date_ranges(&t.path, by_user.get("carol"), Tz::Asia__Tokyo).unwrap();
    assert!(carol.contains(at("2026-11-21T05:00:00Z"))); // 14:00 JST
    assert!(!carol.contains(at("2026-11-21T07:30:00Z"))); // 16:30 JST
    assert!(date_ranges(&t.path, by_user.get("nobody"), Tz::UTC)
        .unwrap()
        .is_empty());
    // The whole table checks at load.
    assert_eq!(date_ranges(&t.path, &t.rows, Tz::UTC).unwrap().len(), 4);
}

#[test]
fn holidays_by_date_column() {
    let t = table("holidays.csv");
    let c = date_ranges(&t.path, &t.rows, Tz::UTC).unwrap();
    let at = |s: &str| parse_event_time(s).unwrap();
    let name = |s: &str| c.entry_at(at(s)).and_then(|e| e.name.clone());
    assert_eq!(
        name("2026-12-25T08:00:00Z").as_deref(),
        Some("Christmas Day")
    );
    assert_eq!(
        name("2027-01-02T08:00:00Z").as_deref(),
        Some("Year-end closure")
    );
    assert_eq!(name("2026-12-26T08:00:00Z"), None);
}

#[test]
fn date_range_errors_name_line_and_column() {
    let t = table("broken_vacations.csv");
    let e = date_ranges(&t.path, &t.rows, Tz::UTC).unwrap_err();
    assert_eq!(e.line, Some(3));
    assert_eq!(
        e.message,
        "`to`: invalid end date `2026-02-30`: February 2026 has 28 days"
    );
    assert!(e.to_string().ends_with(
        "broken_vacations.csv:3: `to`: invalid end date `2026-02-30`: February 2026 has 28 days"
    ));

    let t = table("broken_backwards.csv");
    let e = date_ranges(&t.path, &t.rows, Tz::UTC).unwrap_err();
    assert_eq!(e.line, Some(2));
    assert!(
        e.message
            .starts_with("`to`: the range ends before it starts"),
        "{e}"
    );

    let t = table("users.csv");
    let e = date_ranges(&t.path, &t.rows, Tz::UTC).unwrap_err();
    assert_eq!(e.line, Some(3));
    assert!(e.message.contains("no `from` or `date`"), "{e}");

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v.csv");
    fs::write(
        &path,
        "user,from,to\nalice,2026-08-03T09:00,\nbob,,2026-08-03\ncarol,2026-8-3,\n",
    )
    .unwrap();
    let t = load(&path).unwrap();
    let e = date_ranges(&path, &t.rows[..1], Tz::UTC).unwrap_err();
    assert!(e.message.starts_with("`to`: missing"), "{e}");
    let e = date_ranges(&path, &t.rows[1..2], Tz::UTC).unwrap_err();
    assert!(e.message.contains("has `to` but no `from`"), "{e}");
    let e = date_ranges(&path, &t.rows[2..], Tz::UTC).unwrap_err();
    assert_eq!(e.line, Some(4));
    assert!(e.message.starts_with("`from`: invalid start date"), "{e}");

    let json_path = dir.path().join("v.json");
    fs::write(&json_path, r#"[{"from": 20260803}]"#).unwrap();
    let t = load(&json_path).unwrap();
    let e = date_ranges(&json_path, &t.rows, Tz::UTC).unwrap_err();
    assert!(e.message.contains("found a number"), "{e}");
}

#[test]
fn single_day_rows_without_to() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("off.csv");
    fs::write(&path, "user,from,name\nalice,2026-07-14,Bastille Day\n").unwrap();
    let t = load(&path).unwrap();
    let c = date_ranges(&path, &t.rows, Tz::UTC).unwrap();
    let at = |s: &str| parse_event_time(s).unwrap();
    assert!(c.contains(at("2026-07-14T23:59:59Z")));
    assert!(!c.contains(at("2026-07-15T00:00:00Z")));
    assert_eq!(c.entries()[0].name.as_deref(), Some("Bastille Day"));
}

// ---------------------------------------------------------------- paths

/// A rules root with `teams/a.rules`, `teams/users.csv`, `shared.csv`.
fn rules_tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("rules.d");
    fs::create_dir_all(root.join("teams")).unwrap();
    fs::write(root.join("teams/a.rules"), "").unwrap();
    fs::write(root.join("teams/users.csv"), "user\nalice\n").unwrap();
    fs::write(root.join("shared.csv"), "user\nbob\n").unwrap();
    fs::write(dir.path().join("secret.csv"), "password\nhunter2\n").unwrap();
    dir
}

#[test]
fn paths_resolve_relative_to_the_declaring_file() {
    let dir = rules_tree();
    let root = dir.path().join("rules.d");
    let rules = root.join("teams/a.rules");
    let p = resolve_path(&root, &rules, "users.csv").unwrap();
    assert_eq!(p, root.join("teams/users.csv"));
    let p = resolve_path(&root, &rules, "./users.csv").unwrap();
    assert_eq!(p, root.join("teams/users.csv"));
    // `..` that stays inside the root is fine.
    let p = resolve_path(&root, &rules, "../shared.csv").unwrap();
    assert_eq!(p, root.join("shared.csv"));
    assert_eq!(load(&p).unwrap().rows.len(), 1);
}

#[test]
fn paths_may_not_leave_the_root() {
    let dir = rules_tree();
    let root = dir.path().join("rules.d");
    let rules = root.join("teams/a.rules");

    let e = resolve_path(&root, &rules, "../../secret.csv").unwrap_err();
    assert!(
        e.message.contains("leads outside the rules directory"),
        "{e}"
    );
    // Out and back in again is still refused: `..` is judged as written.
    let e = resolve_path(&root, &rules, "../../rules.d/shared.csv").unwrap_err();
    assert!(e.message.contains("outside"), "{e}");

    let absolute = dir.path().join("secret.csv");
    let e = resolve_path(&root, &rules, absolute.to_str().unwrap()).unwrap_err();
    assert!(e.message.starts_with("absolute table path"), "{e}");

    let e = resolve_path(&root, &rules, "").unwrap_err();
    assert_eq!(e.message, "empty table path");

    let e = resolve_path(&root, &rules, "missing.csv").unwrap_err();
    assert_eq!(e.message, "table file `missing.csv` not found");
    assert_eq!(e.path, root.join("teams/missing.csv"));

    let e = resolve_path(&root, &rules, "..").unwrap_err();
    assert!(e.message.contains("not a file"), "{e}");
}

#[cfg(unix)]
#[test]
fn symlinks_pointing_outside_are_refused() {
    use std::os::unix::fs::symlink;
    let dir = rules_tree();
    let root = dir.path().join("rules.d");
    let rules = root.join("teams/a.rules");
    symlink(dir.path().join("secret.csv"), root.join("teams/leak.csv")).unwrap();
    symlink(dir.path(), root.join("teams/up")).unwrap();
    symlink(root.join("shared.csv"), root.join("teams/inside.csv")).unwrap();

    let e = resolve_path(&root, &rules, "leak.csv").unwrap_err();
    assert!(e.message.contains("symbolic link"), "{e}");
    let e = resolve_path(&root, &rules, "up/secret.csv").unwrap_err();
    assert!(e.message.contains("symbolic link"), "{e}");
    // A link that stays inside the root is followed.
    let p = resolve_path(&root, &rules, "inside.csv").unwrap();
    assert_eq!(p, root.join("teams/inside.csv"));
    assert_eq!(load(&p).unwrap().rows[0].fields["user"], json!("bob"));
}

#[cfg(unix)]
#[test]
fn rules_root_given_through_a_symlink() {
    use std::os::unix::fs::symlink;
    let dir = rules_tree();
    let link = dir.path().join("current");
    symlink(dir.path().join("rules.d"), &link).unwrap();
    let p = resolve_path(&link, &link.join("teams/a.rules"), "users.csv").unwrap();
    assert_eq!(p, link.join("teams/users.csv"));
}

#[test]
fn relative_rules_root_and_file_in_it() {
    // The fixtures directory stands in for a rules root given relatively.
    let root = Path::new("tests/fixtures");
    let rules = root.join("main.rules");
    let p = resolve_path(root, &rules, "users.csv").unwrap();
    assert_eq!(p, Path::new("tests/fixtures/users.csv"));
    let e = resolve_path(root, &rules, "../time.rs").unwrap_err();
    assert!(e.message.contains("outside"), "{e}");
    assert!(resolve_path(Path::new("no/such/root"), &rules, "users.csv").is_err());
}

// ---------------------------------------------------------------- no panics

mod never_panics {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn loading_arbitrary_files(
            text in "(\\PC|[\\n\\r,\"#\\[\\]{}:])*",
            ext in prop::sample::select(vec!["csv", "json", "txt"]),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(format!("t.{ext}"));
            fs::write(&path, &text).unwrap();
            if let Ok(t) = load(&path) {
                for column in t.columns.clone() {
                    let _ = KeyedTable::build(&t, &column, true);
                    let _ = column_values(&t, &column);
                    let _ = networks(&t, &column);
                }
                let _ = date_ranges(&t.path, &t.rows, Tz::UTC);
            }
        }
    }
}
