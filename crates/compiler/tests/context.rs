//! The enrichment context through the language: GeoIP, the actor, clock
//! functions, schedules and calendars, lookup tables read from files, string
//! building; and the diagnostics of each. Rules are compiled from files in a
//! temporary rules directory, as `ctrules run --rules DIR` does.

use ctrules_compiler::{compile_with, read_rules, Compilation, Evaluation, Options, RuleSet};
use ctrules_context::geoip::GeoIp;
use ctrules_lang::Diagnostic;
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn mmdb(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fixtures/mmdb")
        .join(name)
}

/// A rules directory holding `files` (rules and lookup tables).
struct RulesDir {
    dir: tempfile::TempDir,
}

impl RulesDir {
    fn new(files: &[(&str, &str)]) -> RulesDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let path = dir.path().join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }
        RulesDir { dir }
    }

    fn compile(&self, geoip: Option<&[&str]>) -> Compilation {
        let sources = read_rules(&[self.dir.path().to_path_buf()]).unwrap();
        let geoip = geoip.map(|names| {
            let paths: Vec<PathBuf> = names.iter().map(|n| mmdb(n)).collect();
            Arc::new(GeoIp::open(&paths).unwrap())
        });
        let options = Options {
            rules_root: Some(self.dir.path().to_path_buf()),
            geoip,
            ..Options::default()
        };
        compile_with(&sources, &options)
    }
}

fn show(diags: &[Diagnostic]) -> String {
    diags
        .iter()
        .map(|d| format!("  {} {d} (help: {:?})\n", d.code, d.help))
        .collect()
}

/// Rules that must compile without any diagnostic.
fn clean(files: &[(&str, &str)], geoip: Option<&[&str]>) -> RuleSet {
    let c = RulesDir::new(files).compile(geoip);
    assert!(
        c.diagnostics.is_empty(),
        "unexpected diagnostics:\n{}",
        show(&c.diagnostics)
    );
    c.rules.unwrap()
}

/// The fields rules add to `event`.
fn enrich(set: &RuleSet, event: &Value) -> Map<String, Value> {
    let mut e = Evaluation::default();
    set.evaluate(event, &mut e);
    e.enrichment
        .fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// The one field `field` that rules add to `event`, if any.
fn added(set: &RuleSet, event: &Value, field: &str) -> Option<Value> {
    enrich(set, event).remove(field)
}

fn codes(c: &Compilation) -> Vec<&'static str> {
    c.diagnostics.iter().map(|d| d.code).collect()
}

/// The first diagnostic with `code`, or a failure listing what there was.
fn diag<'c>(c: &'c Compilation, code: &str) -> &'c Diagnostic {
    c.diagnostics
        .iter()
        .find(|d| d.code == code)
        .unwrap_or_else(|| panic!("no {code}:\n{}", show(&c.diagnostics)))
}

fn at(ip: &str) -> Value {
    json!({"eventSource": "s3.amazonaws.com", "eventName": "GetObject", "sourceIPAddress": ip})
}

// ---- GeoIP ----------------------------------------------------------------------

#[test]
fn geoip_country_code_has_the_known_answers_and_nothing_for_non_addresses() {
    let set = clean(
        &[("geo.rules", "when geoip(sourceIPAddress).country_code exists set xcountry_code = geoip(sourceIPAddress).country_code")],
        Some(&["GeoIP2-Country-Test.mmdb"]),
    );
    for (ip, country) in [
        ("81.2.69.160", Some("GB")),
        ("89.160.20.112", Some("SE")),
        ("216.160.83.56", Some("US")),
        ("2001:218::1", Some("JP")),
        ("::ffff:81.2.69.142", Some("GB")),
        ("8.8.8.8", None),
        ("10.0.0.1", None),
        ("AWS Internal", None),
        ("ec2.amazonaws.com", None),
        ("81.2.69.142, 192.168.10.10", None),
        ("253.252.51.07", None),
    ] {
        assert_eq!(
            added(&set, &at(ip), "xcountry_code"),
            country.map(Value::from),
            "{ip}"
        );
    }
}

#[test]
fn geoip_combines_databases_for_city_and_asn() {
    let set = clean(
        &[(
            "geo.rules",
            r#"when sourceIPAddress exists
               set xcity = geoip(sourceIPAddress).city
               set xasn = geoip(sourceIPAddress).asn
               set xorg = geoip(sourceIPAddress).as_org
               set xwhere = concat(geoip(sourceIPAddress).city, ", ", geoip(sourceIPAddress).country_code)"#,
        )],
        Some(&["GeoIP2-City-Test.mmdb", "GeoLite2-ASN-Test.mmdb"]),
    );
    let london = enrich(&set, &at("81.2.69.160"));
    assert_eq!(london["xcity"], "London");
    assert_eq!(london["xwhere"], "London, GB");
    let linkoping = enrich(&set, &at("89.160.20.112"));
    assert_eq!(linkoping["xasn"], 29518);
    assert_eq!(linkoping["xorg"], "Bredband2 AB");
    // No city for an address only the ASN database knows: concat gives nothing.
    let telstra = enrich(&set, &at("1.128.0.1"));
    assert_eq!(telstra.get("xasn"), Some(&json!(1221)));
    assert_eq!(telstra.get("xwhere"), None);
}

#[test]
fn mmdb_reads_a_whole_record_by_database_type() {
    let set = clean(
        &[(
            "geo.rules",
            r#"when sourceIPAddress exists set xsub = mmdb("GeoIP2-City", sourceIPAddress).subdivisions[0].iso_code"#,
        )],
        Some(&["GeoIP2-City-Test.mmdb"]),
    );
    assert_eq!(added(&set, &at("81.2.69.160"), "xsub"), Some(json!("ENG")));
}

#[test]
fn geoip_without_a_database_warns_once_and_gives_nothing() {
    let c = RulesDir::new(&[(
        "geo.rules",
        "when geoip(sourceIPAddress).country_code != \"US\" set xforeign = geoip(sourceIPAddress).country_code",
    )])
    .compile(None);
    assert_eq!(codes(&c), ["W501"]);
    let set = c.rules.unwrap();
    assert_eq!(added(&set, &at("81.2.69.160"), "xforeign"), None);
}

#[test]
fn a_database_type_no_configured_database_has_is_a_warning() {
    let c = RulesDir::new(&[(
        "geo.rules",
        r#"when mmdb("GeoIP2-Cty", sourceIPAddress) exists drop"#,
    )])
    .compile(Some(&["GeoIP2-City-Test.mmdb"]));
    let w = diag(&c, "W501");
    assert!(
        w.help.as_deref().unwrap().contains("GeoIP2-City"),
        "{:?}",
        w.help
    );
}

#[test]
fn a_misspelt_geoip_field_gets_a_suggestion() {
    let c = RulesDir::new(&[(
        "geo.rules",
        "when geoip(sourceIPAddress).country_cod == \"FR\" drop",
    )])
    .compile(Some(&["GeoIP2-Country-Test.mmdb"]));
    let w = diag(&c, "W502");
    assert_eq!(w.help.as_deref(), Some("did you mean `country_code`?"));
}

// ---- Who acted ------------------------------------------------------------------

#[test]
fn actor_name_and_user_across_identity_types() {
    let set = clean(
        &[("actor.rules", "when actor.type exists set xactor = actor.name set xuser = actor.user set xtype = actor.type")],
        None,
    );
    let cases = [
        (
            json!({"type": "IAMUser", "userName": "alice", "arn": "arn:aws:iam::111122223333:user/alice"}),
            Some("alice"),
            Some("alice"),
        ),
        (
            json!({"type": "Root", "arn": "arn:aws:iam::111122223333:root", "accountId": "111122223333"}),
            Some("root"),
            Some("root"),
        ),
        (
            json!({"type": "AssumedRole", "arn": "arn:aws:sts::111122223333:assumed-role/Admin/bob"}),
            Some("Admin/bob"),
            Some("bob"),
        ),
        (
            json!({"type": "AWSService", "invokedBy": "ec2.amazonaws.com"}),
            Some("ec2.amazonaws.com"),
            None,
        ),
    ];
    for (identity, name, user) in cases {
        let out = enrich(
            &set,
            &json!({"eventSource": "s3.amazonaws.com", "userIdentity": identity}),
        );
        assert_eq!(
            out.get("xactor").and_then(Value::as_str),
            name,
            "{identity}"
        );
        assert_eq!(out.get("xuser").and_then(Value::as_str), user, "{identity}");
        assert_eq!(out["xtype"], identity["type"]);
    }
    let out = enrich(&set, &json!({"eventSource": "s3.amazonaws.com"}));
    assert_eq!(out["xtype"], "Missing");
}

#[test]
fn a_misspelt_actor_field_gets_a_suggestion_and_actor_is_not_an_unknown_field() {
    let c = RulesDir::new(&[(
        "a.rules",
        "when actor.nmae == \"alice\" drop\nwhen actor.name == \"bob\" drop",
    )])
    .compile(None);
    assert_eq!(codes(&c), ["W502"]);
    assert_eq!(
        c.diagnostics[0].help.as_deref(),
        Some("did you mean `name`?")
    );
}

// ---- Time -----------------------------------------------------------------------

fn at_time(t: &str) -> Value {
    json!({"eventSource": "s3.amazonaws.com", "eventTime": t, "userIdentity": {"type": "IAMUser", "userName": "alice"}})
}

#[test]
fn clock_functions_read_local_time_across_daylight_saving() {
    let set = clean(
        &[(
            "t.rules",
            r#"when eventTime exists
               set xhour = hour(eventTime, "America/New_York")
               set xminute = minute(eventTime, "America/New_York")
               set xday = weekday(eventTime, "America/New_York")
               set xdate = date(eventTime, "America/New_York")"#,
        )],
        None,
    );
    // 2026-03-08 07:30Z is 03:30 EDT (clocks went forward at 02:00 EST).
    let spring = enrich(&set, &at_time("2026-03-08T07:30:00Z"));
    assert_eq!(
        (spring["xhour"].clone(), spring["xminute"].clone()),
        (json!(3), json!(30))
    );
    // 05:30Z and 06:30Z on 2026-11-01 are both 01:30 in New York.
    assert_eq!(
        added(&set, &at_time("2026-11-01T05:30:00Z"), "xhour"),
        Some(json!(1))
    );
    assert_eq!(
        added(&set, &at_time("2026-11-01T06:30:00Z"), "xhour"),
        Some(json!(1))
    );
    // 03:00Z on Saturday is still Friday evening in New York.
    let friday = enrich(&set, &at_time("2026-11-21T03:00:00Z"));
    assert_eq!(friday["xday"], "Fri");
    assert_eq!(friday["xdate"], "2026-11-20");
    assert_eq!(enrich(&set, &at_time("not a time")).len(), 0);
}

#[test]
fn a_zone_read_from_a_table_is_per_user() {
    let set = clean(
        &[
            ("t.rules", "table users = file \"users.csv\" key user\nwhen actor.user exists set xlocal_hour = hour(eventTime, users[actor.user].timezone)"),
            ("users.csv", "user,timezone\nalice,Asia/Tokyo\nbob,Not/AZone\n"),
        ],
        None,
    );
    assert_eq!(
        added(&set, &at_time("2026-11-21T03:00:00Z"), "xlocal_hour"),
        Some(json!(12))
    );
    let bob = json!({"eventTime": "2026-11-21T03:00:00Z", "userIdentity": {"type": "IAMUser", "userName": "bob"}});
    assert_eq!(
        added(&set, &bob, "xlocal_hour"),
        None,
        "an unknown zone in data gives no value"
    );
}

#[test]
fn working_hours_follow_new_york_across_the_spring_change() {
    let set = clean(
        &[(
            "t.rules",
            "schedule working_hours = \"Mon-Fri 09:00-17:00\" zone \"America/New_York\"\nwhen eventTime not within working_hours set xafter_hours = true",
        )],
        None,
    );
    for (t, after) in [
        ("2026-03-06T13:59:59Z", true),  // Fri 08:59 EST
        ("2026-03-06T14:00:00Z", false), // Fri 09:00 EST
        ("2026-03-06T21:59:00Z", false), // Fri 16:59 EST
        ("2026-03-06T22:00:00Z", true),  // Fri 17:00 EST
        ("2026-03-07T15:00:00Z", true),  // Saturday
        ("2026-03-09T12:59:00Z", true),  // Mon 08:59 EDT
        ("2026-03-09T13:00:00Z", false), // Mon 09:00 EDT: an hour earlier in UTC than Friday
        ("2026-03-09T21:00:00Z", true),  // Mon 17:00 EDT
        ("2026-11-02T13:59:00Z", true),  // Mon 08:59 EST, after the fall change
        ("2026-11-02T14:00:00Z", false), // Mon 09:00 EST
    ] {
        assert_eq!(
            added(&set, &at_time(t), "xafter_hours") == Some(json!(true)),
            after,
            "{t}"
        );
    }
}

#[test]
fn calendars_written_out_or_from_files_with_entry_names() {
    let set = clean(
        &[
            (
                "c.rules",
                r#"calendar holidays = file "lookups/holidays.csv" zone "Asia/Tokyo"
                   calendar freeze = ["2026-12-20..2027-01-04", "2026-11-21T14:00..2026-11-21T16:00"] zone "UTC"
                   when eventTime within holidays set xholiday = holidays[eventTime].name
                   when eventTime within freeze set xfreeze = true"#,
            ),
            (
                "lookups/holidays.csv",
                "date,name\n2026-11-23,Labour Thanksgiving Day\n",
            ),
        ],
        None,
    );
    // A Tokyo holiday begins at 15:00Z the day before.
    assert_eq!(
        added(&set, &at_time("2026-11-22T14:59:59Z"), "xholiday"),
        None
    );
    assert_eq!(
        added(&set, &at_time("2026-11-22T15:00:00Z"), "xholiday"),
        Some(json!("Labour Thanksgiving Day"))
    );
    assert_eq!(
        added(&set, &at_time("2026-11-23T14:59:59Z"), "xholiday"),
        Some(json!("Labour Thanksgiving Day"))
    );
    assert_eq!(
        added(&set, &at_time("2026-11-21T15:59:00Z"), "xfreeze"),
        Some(json!(true))
    );
    assert_eq!(
        added(&set, &at_time("2026-11-21T16:00:00Z"), "xfreeze"),
        None
    );
    assert_eq!(
        added(&set, &at_time("2027-01-04T23:00:00Z"), "xfreeze"),
        Some(json!(true))
    );
}

#[test]
fn vacations_are_a_calendar_per_user() {
    let set = clean(
        &[
            (
                "v.rules",
                "calendar vacations = file \"vacations.csv\" key user zone \"UTC\"\nwhen eventTime within vacations[actor.user] set xon_vacation = true",
            ),
            ("vacations.csv", "user,from,to\nalice,2026-11-20,2026-11-27\nalice,2026-12-24,2026-12-24\nbob,2026-01-01,2026-01-02\n"),
        ],
        None,
    );
    let on = |user: &str, t: &str| {
        let event = json!({"eventTime": t, "userIdentity": {"type": "IAMUser", "userName": user}});
        added(&set, &event, "xon_vacation").is_some()
    };
    assert!(on("alice", "2026-11-21T10:00:00Z"));
    assert!(on("alice", "2026-12-24T23:59:59Z"));
    assert!(!on("alice", "2026-12-25T00:00:00Z"));
    assert!(!on("bob", "2026-11-21T10:00:00Z"));
    assert!(!on("carol", "2026-11-21T10:00:00Z"));
}

// ---- Lookup tables and lists from files --------------------------------------------

#[test]
fn keyed_tables_sets_and_networks_from_files() {
    let set = clean(
        &[
            (
                "r.rules",
                r#"table users = file "lookups/users.json" key user
                   list services = file "lookups/services.txt"
                   list offices = file "lookups/offices.csv" column "cidr"
                   when users[actor.user].team exists set xteam = users[actor.user].team
                   when eventSource not in services set xunused = eventSource
                   when sourceIPAddress within offices set xoffice = true"#,
            ),
            (
                "lookups/users.json",
                r#"[{"user": "alice", "team": "payments"}, {"user": "bob"}]"#,
            ),
            (
                "lookups/services.txt",
                "# used here\ns3.amazonaws.com\niam.amazonaws.com\n",
            ),
            (
                "lookups/offices.csv",
                "name,cidr\nparis,192.0.2.0/24\nnyc,2001:db8::/32\n",
            ),
        ],
        None,
    );
    let event = |user: &str, source: &str, ip: &str| json!({"eventSource": source, "sourceIPAddress": ip, "userIdentity": {"type": "IAMUser", "userName": user}});
    let a = enrich(&set, &event("alice", "s3.amazonaws.com", "192.0.2.7"));
    assert_eq!(a["xteam"], "payments");
    assert_eq!(a.get("xunused"), None);
    assert_eq!(a["xoffice"], true);
    let b = enrich(
        &set,
        &event("bob", "bedrock.amazonaws.com", "::ffff:198.51.100.1"),
    );
    assert_eq!(b.get("xteam"), None);
    assert_eq!(b["xunused"], "bedrock.amazonaws.com");
    assert_eq!(b.get("xoffice"), None);
    assert_eq!(
        added(
            &set,
            &event("carol", "s3.amazonaws.com", "2001:db8::1"),
            "xoffice"
        ),
        Some(json!(true))
    );
}

#[test]
fn string_building_functions() {
    let set = clean(
        &[(
            "s.rules",
            r#"when eventName exists
               set xwho = concat(actor.name, " called ", eventName)
               set xsource = coalesce(userAgent, sourceIPAddress, "unknown")
               set xlower = lower(eventName)
               set xupper = upper(awsRegion)"#,
        )],
        None,
    );
    let out = enrich(
        &set,
        &json!({"eventName": "CreateUser", "awsRegion": "eu-west-1", "sourceIPAddress": "1.2.3.4", "userIdentity": {"type": "Root"}}),
    );
    assert_eq!(out["xwho"], "root called CreateUser");
    assert_eq!(out["xsource"], "1.2.3.4");
    assert_eq!(out["xlower"], "createuser");
    assert_eq!(out["xupper"], "EU-WEST-1");
    let out = enrich(&set, &json!({"eventName": "X"}));
    assert_eq!(out.get("xwho"), None, "a missing part gives no value");
    assert_eq!(out["xsource"], "unknown");
}

// ---- Diagnostics ----------------------------------------------------------------

#[test]
fn table_problems_name_the_file_and_line() {
    let c = RulesDir::new(&[
        (
            "r.rules",
            "table users = file \"users.csv\" key user\nwhen users[actor.user].team == \"a\" drop",
        ),
        ("users.csv", "user,team\nalice,a\nbob\n"),
    ])
    .compile(None);
    let e = diag(&c, "E501");
    assert!(e.message.contains("users.csv:3"), "{}", e.message);
    let c = RulesDir::new(&[(
        "r.rules",
        "table users = file \"nope.csv\" key user\nwhen users[actor.user].team == \"a\" drop",
    )])
    .compile(None);
    assert!(diag(&c, "E501").message.contains("nope.csv"));
    let c = RulesDir::new(&[
        (
            "r.rules",
            "table users = file \"users.csv\" key usr\nwhen users[actor.user].team == \"a\" drop",
        ),
        ("users.csv", "user,team\n"),
    ])
    .compile(None);
    assert!(
        diag(&c, "E501").message.contains("user"),
        "{}",
        show(&c.diagnostics)
    );
}

#[test]
fn a_table_outside_the_rules_directory_is_refused() {
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secrets.csv"), "user,team\n").unwrap();
    let dir = RulesDir::new(&[]);
    let rel = pathdiff(outside.path(), dir.dir.path());
    std::fs::write(
        dir.dir.path().join("r.rules"),
        format!(
            "table t = file \"{rel}/secrets.csv\" key user\nwhen t[actor.user].team exists drop"
        ),
    )
    .unwrap();
    let c = dir.compile(None);
    assert!(codes(&c).contains(&"E501"), "{}", show(&c.diagnostics));
    assert!(c.rules.is_none());
}

/// `target` written relative to `base` with `..`.
fn pathdiff(target: &Path, base: &Path) -> String {
    let ups = base.components().count();
    let mut rel = "../".repeat(ups);
    rel.push_str(target.strip_prefix("/").unwrap().to_str().unwrap());
    rel.trim_end_matches('/').to_string()
}

#[test]
fn a_bad_network_in_a_list_file_names_its_line() {
    let c = RulesDir::new(&[
        (
            "r.rules",
            "list offices = file \"offices.txt\"\nwhen sourceIPAddress within offices drop",
        ),
        ("offices.txt", "10.0.0.0/8\nnot-a-network\n"),
    ])
    .compile(None);
    let e = diag(&c, "E303");
    assert!(e.message.contains("offices.txt:2"), "{}", e.message);
}

#[test]
fn unknown_zones_functions_and_tables_get_suggestions() {
    let c = RulesDir::new(&[("r.rules", "when hour(eventTime, \"Europe/Pari\") > 18 drop")])
        .compile(None);
    assert_eq!(
        diag(&c, "E502").help.as_deref(),
        Some("did you mean `Europe/Paris`?")
    );
    let c = RulesDir::new(&[("r.rules", "when weekdy(eventTime, \"UTC\") == \"Sat\" drop")])
        .compile(None);
    assert_eq!(
        diag(&c, "E504").help.as_deref(),
        Some("did you mean `weekday`?")
    );
    let c = RulesDir::new(&[
        (
            "r.rules",
            "table users = file \"u.csv\" key user\nwhen userz[actor.user].team exists drop",
        ),
        ("u.csv", "user,team\n"),
    ])
    .compile(None);
    assert_eq!(
        diag(&c, "E505").help.as_deref(),
        Some("did you mean `users`?")
    );
    assert!(
        !codes(&c).contains(&"W201"),
        "a suggested table is not also reported unused"
    );
}

#[test]
fn a_zone_abbreviation_gets_the_region_zone_not_a_fixed_offset() {
    for (rules, region) in [
        (
            "schedule h = \"Mon-Fri 09:00-17:00\" zone \"EST5\"\nwhen eventTime within h drop",
            "America/New_York",
        ),
        (
            "when hour(eventTime, \"PST8\") > 18 drop",
            "America/Los_Angeles",
        ),
    ] {
        let c = RulesDir::new(&[("r.rules", rules)]).compile(None);
        let e = diag(&c, "E502");
        let help = e.help.as_deref().unwrap_or_default();
        assert!(help.contains(&format!("`{region}`")), "{help}");
        assert!(!help.contains("did you mean `EST`"), "{help}");
        assert!(
            e.notes.iter().any(|n| n.contains("daylight saving")),
            "{:?}",
            e.notes
        );
    }
}

#[test]
fn calls_with_the_wrong_arguments_say_how_to_call() {
    for (rule, needle) in [
        ("when hour(eventTime) > 3 drop", "hour(TIME, ZONE)"),
        ("when geoip() exists drop", "geoip(ADDRESS)"),
        (
            "when mmdb(sourceIPAddress, sourceIPAddress) exists drop",
            "database type",
        ),
        ("when hour(eventTime, 5) > 3 drop", "time zone is a string"),
    ] {
        let c = RulesDir::new(&[("r.rules", rule)]).compile(None);
        let e = diag(&c, "E504");
        let text = format!("{} {:?}", e.message, e.help);
        assert!(text.contains(needle), "{rule}: {text}");
    }
}

#[test]
fn declarations_used_as_the_wrong_kind() {
    let files = |rule: &str| -> Compilation {
        RulesDir::new(&[
            (
                "r.rules",
                &format!(
                    "table users = file \"u.csv\" key user\nschedule hours = \"Mon-Fri 09:00-17:00\" zone \"UTC\"\ncalendar away = file \"v.csv\" key user zone \"UTC\"\n{rule}"
                ),
            ),
            ("u.csv", "user,team\n"),
            ("v.csv", "user,from,to\n"),
        ])
        .compile(None)
    };
    for (rule, needle) in [
        ("when users == \"x\" drop", "`users` is a table"),
        ("when eventSource in users drop", "`users` is a table"),
        ("when eventTime within away drop", "one calendar per key"),
        ("when away[actor.user].name exists drop", "calendar per key"),
        ("when eventName in hours drop", "`hours` is a schedule"),
    ] {
        let c = files(rule);
        let e = diag(&c, "E505");
        assert!(
            e.message.contains(needle) || e.help.as_deref().unwrap_or("").contains(needle),
            "{rule}: {}",
            show(&c.diagnostics)
        );
    }
}

#[test]
fn unused_tables_schedules_and_calendars_are_reported() {
    let c = RulesDir::new(&[
        (
            "r.rules",
            "table users = file \"u.csv\" key user\nschedule hours = \"daily 09:00-17:00\" zone \"UTC\"\ncalendar days = [\"2026-12-25\"] zone \"UTC\"\nwhen eventName == \"X\" drop",
        ),
        ("u.csv", "user,team\n"),
    ])
    .compile(None);
    let unused: Vec<&str> = c
        .diagnostics
        .iter()
        .filter(|d| d.code == "W201")
        .map(|d| d.message.as_str())
        .collect();
    assert_eq!(unused.len(), 3, "{}", show(&c.diagnostics));
}

#[test]
fn names_share_one_namespace_across_kinds() {
    let c = RulesDir::new(&[
        ("r.rules", "list admins = [\"a\"]\ntable admins = file \"u.csv\" key user\nwhen actor.user in admins drop"),
        ("u.csv", "user,team\n"),
    ])
    .compile(None);
    assert!(codes(&c).contains(&"E202"), "{}", show(&c.diagnostics));
}

#[test]
fn bad_schedules_and_calendar_entries_point_inside_the_string() {
    let text = "schedule h = \"Mon-Fri 09:00-17:60\" zone \"UTC\"\nwhen eventTime within h drop";
    let c = RulesDir::new(&[("r.rules", text)]).compile(None);
    let e = diag(&c, "E503");
    let pointed = &text[e.span.start..e.span.end];
    assert!(
        pointed.starts_with("17:60") || pointed.starts_with("60"),
        "points at {pointed:?}"
    );
    let c = RulesDir::new(&[(
        "r.rules",
        "calendar c = [\"2026-02-30\"] zone \"UTC\"\nwhen eventTime within c drop",
    )])
    .compile(None);
    assert!(
        diag(&c, "E503").message.contains("28"),
        "{}",
        show(&c.diagnostics)
    );
}

#[test]
fn a_misused_declaration_is_one_error_not_also_unused_or_unknown() {
    for rule in [
        "when eventTime in office drop",
        "when users == \"x\" drop",
        "when eventName exists set xu = users",
    ] {
        let c = RulesDir::new(&[
            (
                "r.rules",
                &format!("table users = file \"u.csv\" key user\nschedule office = \"daily 09:00-17:00\" zone \"UTC\"\nwhen eventTime within office and users[actor.user].team exists drop\n{rule}"),
            ),
            ("u.csv", "user,team\n"),
        ])
        .compile(None);
        assert_eq!(codes(&c), ["E505"], "{rule}:\n{}", show(&c.diagnostics));
    }
}

/// Every file under `dir`.
fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, out);
        } else {
            out.push(path);
        }
    }
}

/// The reader parses only `RuleSet::record_fields`: the shipped rules must
/// give every record the same verdict and fields as when it is parsed whole.
/// Each sample record is tried as it is and with addresses the test GeoIP
/// database knows, so the geo rule fires too.
#[test]
fn the_shipped_rules_decide_the_same_on_records_parsed_in_part() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let rules_dir = repo.join("rules.d");
    let sources = read_rules(std::slice::from_ref(&rules_dir)).unwrap();
    let geoip = GeoIp::open(&[mmdb("GeoIP2-Country-Test.mmdb")]).unwrap();
    let options = Options {
        rules_root: Some(rules_dir),
        geoip: Some(Arc::new(geoip)),
        ..Options::default()
    };
    let c = compile_with(&sources, &options);
    let set = c
        .rules
        .unwrap_or_else(|| panic!("{}", show(&c.diagnostics)));
    let fields = set.record_fields();
    for name in [
        "eventName",
        "eventSource",
        "userIdentity",
        "sourceIPAddress",
        "eventTime",
    ] {
        assert!(fields.contains(name), "{name} is read by rules.d");
    }
    assert!(!fields.contains("requestParameters") && !fields.contains("responseElements"));

    let mut files = Vec::new();
    files_under(&repo.join("tests/fixtures/sample-logs"), &mut files);
    let mut records = Vec::new();
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        let _ = ctrules_core::read_log(&bytes[..], &mut |r: ctrules_core::Record<'_>| {
            records.push(r.value.whole().cloned().unwrap());
            Ok(())
        });
    }
    assert!(records.len() > 300, "{} sample records", records.len());
    let (mut whole_eval, mut part_eval) = (Evaluation::default(), Evaluation::default());
    let mut lazy_eval = Evaluation::default();
    let options = ctrules_core::ReadOptions {
        fields: Some(fields),
        ..Default::default()
    };
    let mut fired = std::collections::BTreeSet::new();
    for record in &records {
        for ip in [None, Some("81.2.69.160"), Some("2001:218::1")] {
            let mut record = record.clone();
            if let Some(ip) = ip {
                record["sourceIPAddress"] = json!(ip);
            }
            let raw = serde_json::to_vec(&record).unwrap();
            let part = ctrules_core::reader::parse_projected(&raw, Some(fields)).unwrap();
            set.evaluate(&record, &mut whole_eval);
            set.evaluate(&part, &mut part_eval);
            assert_eq!(whole_eval.enrichment, part_eval.enrichment, "{record}");
            assert_eq!(whole_eval.matched, part_eval.matched, "{record}");
            // Read as a log file's record: its fields parsed when looked up.
            let file = [&b"{\"Records\":["[..], &raw, b"]}"].concat();
            let mut evaluated = 0;
            ctrules_core::read_log_with(&file[..], &options, &mut |r| {
                set.evaluate(r.value, &mut lazy_eval);
                evaluated += 1;
                Ok(())
            })
            .unwrap();
            assert_eq!(evaluated, 1);
            assert_eq!(whole_eval.enrichment, lazy_eval.enrichment, "{record}");
            assert_eq!(whole_eval.matched, lazy_eval.matched, "{record}");
            fired.extend(whole_eval.enrichment.rules.iter().map(|r| r.to_string()));
        }
    }
    for rule in [
        "actor",
        "outside_home_country",
        "iam_high_priority",
        "after_hours",
        "team",
    ] {
        assert!(fired.contains(rule), "{rule} never fired: {fired:?}");
    }
}

#[test]
fn the_rules_version_covers_the_lookup_files_and_names_them() {
    let dir = RulesDir::new(&[
        (
            "users.rules",
            "table users = file \"lookups/users.csv\" key user\nwhen users[actor.user].team == \"sec\" set xteam = \"sec\"\n",
        ),
        ("lookups/users.csv", "user,team\nalice,sec\n"),
    ]);
    let first = dir.compile(None);
    let version = first.rules.as_ref().unwrap().version().to_string();
    assert_eq!(first.files_read.len(), 1, "{:?}", first.files_read);
    assert!(first.files_read[0].ends_with("lookups/users.csv"));
    // The same files give the same version; an edited table, another one.
    assert_eq!(dir.compile(None).rules.unwrap().version(), version);
    std::fs::write(
        dir.dir.path().join("lookups/users.csv"),
        "user,team\nalice,ops\n",
    )
    .unwrap();
    assert_ne!(dir.compile(None).rules.unwrap().version(), version);
}
