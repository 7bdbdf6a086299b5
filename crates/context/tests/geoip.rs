//! GeoIP look-ups against MaxMind's test databases and two flat-layout
//! ones (tests/fixtures/mmdb/README.md lists the known answers used here).

use std::path::PathBuf;
use std::sync::Arc;

use ctrules_context::geoip::{parse_ip, GeoIp, GeoIpError, SUMMARY_FIELDS};
use serde_json::{json, Value};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/mmdb/");

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(FIXTURES).join(name)
}

fn open(names: &[&str]) -> GeoIp {
    let paths: Vec<PathBuf> = names.iter().map(|name| fixture(name)).collect();
    match GeoIp::open(&paths) {
        Ok(geoip) => geoip,
        Err(error) => panic!("cannot open {names:?}: {error}"),
    }
}

/// One summary field, or Null when absent (or no summary at all).
fn field(geoip: &GeoIp, ip: &str, name: &str) -> Value {
    geoip
        .lookup(ip)
        .and_then(|summary| summary.get(name).cloned())
        .unwrap_or(Value::Null)
}

#[test]
fn country_codes_of_known_addresses() {
    let geoip = open(&["GeoIP2-Country-Test.mmdb"]);
    for (ip, country) in [
        ("81.2.69.160", "GB"),
        ("89.160.20.112", "SE"),
        ("216.160.83.56", "US"),
        ("2001:218::1", "JP"),
        ("::ffff:81.2.69.142", "GB"),
        ("202.196.224.1", "PH"),
    ] {
        assert_eq!(field(&geoip, ip, "country_code"), json!(country), "{ip}");
    }
    let summary = geoip.lookup("81.2.69.160").expect("known address");
    assert_eq!(summary["country"], json!("United Kingdom"));
    assert_eq!(summary["continent_code"], json!("EU"));
    assert_eq!(summary["registered_country_code"], json!("US"));
}

#[test]
fn unknown_addresses_and_non_addresses_give_none() {
    let geoip = open(&["GeoIP2-Country-Test.mmdb", "GeoIP2-City-Test.mmdb"]);
    for text in [
        "8.8.8.8",
        "10.0.0.1",
        "2001:480::1",
        "AWS Internal",
        "ec2.amazonaws.com",
        "81.2.69.142, 192.168.10.10",
        "253.252.51.07",
        "",
        " 81.2.69.142",
        "81.2.69.142 ",
        "81.2.69.142:443",
        "[2001:218::1]",
        "fe80::1%eth0",
        "81.2.69",
        "not an address at all, and much longer than any address could ever be",
    ] {
        assert_eq!(geoip.lookup(text), None, "{text:?}");
    }
}

#[test]
fn parse_ip_accepts_exactly_one_address() {
    assert_eq!(parse_ip("81.2.69.142"), "81.2.69.142".parse().ok());
    assert_eq!(parse_ip("::ffff:81.2.69.142"), "81.2.69.142".parse().ok());
    assert_eq!(parse_ip("2001:218::1"), "2001:218::1".parse().ok());
    for text in [
        "",
        " 1.2.3.4",
        "1.2.3.4,5.6.7.8",
        "253.252.51.07",
        "AWS Internal",
    ] {
        assert_eq!(parse_ip(text), None, "{text:?}");
    }
}

#[test]
fn an_address_known_only_as_anycast_has_a_summary_without_country() {
    // 214.1.1.0/24 is in Country-Test with traits.is_anycast and nothing else.
    let geoip = open(&["GeoIP2-Country-Test.mmdb"]);
    let summary = geoip.lookup("214.1.1.1").expect("anycast network");
    assert_eq!(*summary, json!({"is_anycast": true}));
}

#[test]
fn city_database() {
    let geoip = open(&["GeoIP2-City-Test.mmdb"]);
    let summary = geoip.lookup("81.2.69.160").expect("London");
    assert_eq!(summary["city"], json!("London"));
    assert_eq!(summary["country_code"], json!("GB"));
    assert_eq!(summary["subdivision"], json!("England"));
    assert_eq!(summary["subdivision_code"], json!("ENG"));
    assert_eq!(summary["time_zone"], json!("Europe/London"));
    assert_eq!(summary["latitude"], json!(51.5142));
    assert_eq!(summary["longitude"], json!(-0.0931));
    assert_eq!(field(&geoip, "216.160.83.56", "city"), json!("Milton"));
    assert_eq!(
        field(&geoip, "216.160.83.56", "postal_code"),
        json!("98354")
    );
    assert_eq!(
        field(&geoip, "89.160.20.112", "is_in_european_union"),
        json!(true)
    );
}

#[test]
fn asn_database() {
    let geoip = open(&["GeoLite2-ASN-Test.mmdb"]);
    let summary = geoip.lookup("89.160.20.112").expect("Bredband2");
    assert_eq!(*summary, json!({"asn": 29518, "as_org": "Bredband2 AB"}));
    assert_eq!(field(&geoip, "1.128.0.1", "asn"), json!(1221));
    // Known to the ASN database with a number only.
    assert_eq!(field(&geoip, "216.160.83.56", "asn"), json!(209));
    assert_eq!(field(&geoip, "216.160.83.56", "as_org"), Value::Null);
}

#[test]
fn isp_database() {
    let geoip = open(&["GeoIP2-ISP-Test.mmdb"]);
    let summary = geoip.lookup("1.128.0.1").expect("Telstra");
    assert_eq!(summary["isp"], json!("Telstra Internet"));
    assert_eq!(summary["organization"], json!("Telstra Internet"));
    assert_eq!(summary["asn"], json!(1221));
}

#[test]
fn anonymous_ip_flags() {
    let geoip = open(&["GeoIP2-Anonymous-IP-Test.mmdb"]);
    assert_eq!(
        *geoip.lookup("1.2.0.1").expect("VPN"),
        json!({"is_anonymous": true, "is_anonymous_vpn": true})
    );
    assert_eq!(
        *geoip.lookup("65.0.0.1").expect("Tor"),
        json!({"is_anonymous": true, "is_tor_exit_node": true})
    );
    let all = geoip.lookup("81.2.69.1").expect("every flag");
    for flag in [
        "is_anonymous",
        "is_anonymous_vpn",
        "is_hosting_provider",
        "is_public_proxy",
        "is_residential_proxy",
        "is_tor_exit_node",
    ] {
        assert_eq!(all[flag], json!(true), "{flag}");
    }
    // In the database with an empty record: nothing known.
    assert_eq!(geoip.lookup("1.0.0.1"), None);
}

#[test]
fn several_databases_combine_and_the_first_wins() {
    let geoip = open(&[
        "GeoIP2-City-Test.mmdb",
        "GeoLite2-ASN-Test.mmdb",
        "GeoIP2-Anonymous-IP-Test.mmdb",
        "DBIP-Country-Flat-Test.mmdb",
    ]);
    let summary = geoip.lookup("89.160.20.112").expect("known");
    assert_eq!(summary["country_code"], json!("SE"));
    assert_eq!(summary["city"], json!("Linköping"));
    assert_eq!(summary["asn"], json!(29518));
    assert_eq!(summary.get("is_anonymous"), None);

    // City-Test says GB, the flat database FR: the first given wins.
    assert_eq!(field(&geoip, "81.2.69.160", "country_code"), json!("GB"));
    assert_eq!(
        field(&geoip, "81.2.69.160", "is_tor_exit_node"),
        json!(true)
    );
    let flat_first = open(&["DBIP-Country-Flat-Test.mmdb", "GeoIP2-City-Test.mmdb"]);
    assert_eq!(
        field(&flat_first, "81.2.69.160", "country_code"),
        json!("FR")
    );
    // Fields the first does not have still come from the second.
    assert_eq!(field(&flat_first, "81.2.69.160", "city"), json!("London"));
    // Only the flat database knows 8.8.8.8.
    assert_eq!(field(&geoip, "8.8.8.8", "country_code"), json!("US"));
}

#[test]
fn summary_keys_follow_summary_fields_order() {
    let geoip = open(&["GeoLite2-ASN-Test.mmdb", "GeoIP2-City-Test.mmdb"]);
    let summary = geoip.lookup("89.160.20.112").expect("known");
    let keys: Vec<&str> = summary
        .as_object()
        .expect("an object")
        .keys()
        .map(String::as_str)
        .collect();
    let order: Vec<&str> = SUMMARY_FIELDS
        .iter()
        .map(|(name, _)| *name)
        .filter(|name| keys.contains(name))
        .collect();
    assert_eq!(keys, order);
    assert!(keys.len() > 8, "{keys:?}");
}

#[test]
fn flat_dbip_layout() {
    let geoip = open(&["DBIP-Country-Flat-Test.mmdb"]);
    assert_eq!(
        *geoip.lookup("8.8.8.8").expect("flat"),
        json!({"country_code": "US"})
    );
    assert_eq!(field(&geoip, "2001:db8::1", "country_code"), json!("NL"));
}

#[test]
fn flat_ipinfo_layout() {
    let geoip = open(&["IPinfo-Lite-Flat-Test.mmdb"]);
    assert_eq!(
        *geoip.lookup("8.8.8.8").expect("flat"),
        json!({
            "country_code": "US",
            "country": "United States",
            "continent_code": "NA",
            "continent": "North America",
            "asn": 15169,
            "as_org": "Google LLC",
        })
    );
}

#[test]
fn every_summary_field_has_a_description() {
    for (name, description) in SUMMARY_FIELDS {
        assert!(!name.is_empty() && !description.is_empty());
    }
    let mut names: Vec<&str> = SUMMARY_FIELDS.iter().map(|(name, _)| *name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), SUMMARY_FIELDS.len(), "duplicate names");
}

#[test]
fn lookup_in_gives_the_whole_record_of_one_database() {
    let geoip = open(&["GeoIP2-Country-Test.mmdb", "GeoIP2-City-Test.mmdb"]);
    let record = geoip
        .lookup_in("GeoIP2-City", "81.2.69.160")
        .expect("City record");
    assert_eq!(record["city"]["names"]["en"], json!("London"));
    assert_eq!(record["city"]["geoname_id"], json!(2643743));
    assert_eq!(record["location"]["accuracy_radius"], json!(100));
    assert_eq!(record["city"]["names"]["ja"], json!("ロンドン"));

    assert_eq!(geoip.lookup_in("GeoIP2-City", "8.8.8.8"), None);
    assert_eq!(geoip.lookup_in("GeoIP2-City", "AWS Internal"), None);
    // The type must match exactly.
    assert_eq!(geoip.lookup_in("GeoIP2-city", "81.2.69.160"), None);
    assert_eq!(geoip.lookup_in("GeoLite2-ASN", "81.2.69.160"), None);
}

#[test]
fn lookup_in_a_generic_database_keeps_every_type() {
    // MaxMind's decoder test database holds every MaxMind DB data type.
    let geoip = open(&["MaxMind-DB-test-decoder.mmdb"]);
    let record = geoip
        .lookup_in("MaxMind DB Decoder Test", "1.1.1.1")
        .expect("record");
    assert_eq!(record["utf8_string"], json!("unicode! ☯ - ♫"));
    assert_eq!(record["array"], json!([1, 2, 3]));
    assert_eq!(record["boolean"], json!(true));
    assert_eq!(record["bytes"], json!([0, 0, 0, 42]));
    assert_eq!(record["double"], json!(42.123456));
    assert_eq!(record["float"], json!(1.1));
    assert_eq!(record["int32"], json!(-268435456));
    assert_eq!(record["uint64"], json!(1152921504606846976_u64));
    assert_eq!(
        record["uint128"],
        json!("1329227995784915872903807060280344576")
    );
    assert_eq!(record["map"]["mapX"]["arrayX"], json!([7, 8, 9]));
    // It knows none of the summary's fields.
    assert_eq!(geoip.lookup("1.1.1.1"), None);
}

#[test]
fn ipv4_only_database_skips_ipv6() {
    let geoip = open(&["MaxMind-DB-test-ipv4-24.mmdb"]);
    assert_eq!(geoip.databases()[0].ip_version, 4);
    assert_eq!(
        geoip.lookup_in("Test", "1.1.1.1"),
        Some(Arc::new(json!({"ip": "1.1.1.1"})))
    );
    assert_eq!(geoip.lookup_in("Test", "2001:218::1"), None);
    assert_eq!(geoip.lookup("2001:218::1"), None);

    // Next to an IPv6 database, the IPv6 answer still comes through.
    let mixed = open(&["MaxMind-DB-test-ipv4-24.mmdb", "GeoIP2-Country-Test.mmdb"]);
    assert_eq!(field(&mixed, "2001:218::1", "country_code"), json!("JP"));
}

#[test]
fn databases_are_listed_in_order_with_their_type() {
    let geoip = open(&["GeoLite2-ASN-Test.mmdb", "GeoIP2-Country-Test.mmdb"]);
    let types: Vec<&str> = geoip
        .databases()
        .iter()
        .map(|database| database.database_type.as_str())
        .collect();
    assert_eq!(types, ["GeoLite2-ASN", "GeoIP2-Country"]);
    assert_eq!(geoip.databases()[0].path, fixture("GeoLite2-ASN-Test.mmdb"));
    assert!(!geoip.is_empty());
}

#[test]
fn empty_knows_nothing() {
    let geoip = GeoIp::empty();
    assert!(geoip.is_empty());
    assert!(geoip.databases().is_empty());
    assert_eq!(geoip.lookup("81.2.69.160"), None);
    assert_eq!(geoip.lookup_in("GeoIP2-Country", "81.2.69.160"), None);
    let none = GeoIp::open(&[]).expect("no files is fine");
    assert!(none.is_empty());
}

#[test]
fn a_missing_file_is_named() {
    let missing = fixture("No-Such-Database.mmdb");
    let error = GeoIp::open(&[fixture("GeoIP2-Country-Test.mmdb"), missing.clone()])
        .expect_err("missing file");
    assert!(matches!(error, GeoIpError::Read { ref path, .. } if *path == missing));
    let message = error.to_string();
    assert!(message.contains("No-Such-Database.mmdb"), "{message}");
    assert!(message.contains("No such file"), "{message}");
}

#[test]
fn a_file_that_is_not_a_database_is_named() {
    let not_mmdb = fixture("README.md");
    let error = GeoIp::open(std::slice::from_ref(&not_mmdb)).expect_err("not an mmdb");
    assert!(matches!(error, GeoIpError::Invalid { ref path, .. } if *path == not_mmdb));
    let message = error.to_string();
    assert!(message.contains("README.md"), "{message}");
    assert!(
        message.contains("not a usable MaxMind database"),
        "{message}"
    );

    let empty = tempfile::NamedTempFile::new().expect("temp file");
    let error = GeoIp::open(&[empty.path().to_path_buf()]).expect_err("empty file");
    assert!(matches!(error, GeoIpError::Invalid { .. }), "{error}");

    let directory = GeoIp::open(&[PathBuf::from(FIXTURES)]).expect_err("a directory");
    assert!(matches!(directory, GeoIpError::Read { .. }), "{directory}");
}

#[test]
fn a_database_with_a_bad_node_count_is_refused_by_name() {
    let error =
        GeoIp::open(&[fixture("GeoIP2-City-Test-Invalid-Node-Count.mmdb")]).expect_err("damaged");
    assert!(
        matches!(error, GeoIpError::Invalid { ref path, .. } if path.ends_with("GeoIP2-City-Test-Invalid-Node-Count.mmdb"))
    );
    assert!(error.to_string().contains("Invalid-Node-Count"), "{error}");
}

#[test]
fn damaged_records_are_no_result_and_the_rest_still_answers() {
    // Opens fine, but some records hold a malformed double (MaxMind's
    // deliberately broken test database).
    let geoip = open(&["GeoIP2-City-Test-Broken-Double-Format.mmdb"]);
    assert_eq!(geoip.lookup("81.2.69.160"), None);
    assert_eq!(geoip.lookup("2001:220::1"), None);
    assert_eq!(geoip.lookup_in("GeoIP2-City", "81.2.69.160"), None);
    assert_eq!(field(&geoip, "2.2.3.1", "city"), json!("Boxford"));

    // Pointers out of the data section, and a corrupt search tree.
    let geoip = open(&["MaxMind-DB-test-broken-pointers-24.mmdb"]);
    for ip in ["1.1.1.16", "1.1.1.32", "2001:220::1"] {
        assert_eq!(geoip.lookup_in("Test", ip), None, "{ip}");
        assert_eq!(geoip.lookup(ip), None, "{ip}");
    }
    assert_eq!(
        geoip.lookup_in("Test", "1.1.1.1"),
        Some(Arc::new(json!({"ip": "1.1.1.1"})))
    );

    // A damaged database before a good one does not hide the good one.
    let geoip = open(&[
        "GeoIP2-City-Test-Broken-Double-Format.mmdb",
        "GeoIP2-Country-Test.mmdb",
    ]);
    assert_eq!(field(&geoip, "81.2.69.160", "country_code"), json!("GB"));
}

#[test]
fn cached_answers_are_the_same() {
    let geoip = open(&["GeoIP2-City-Test.mmdb", "GeoLite2-ASN-Test.mmdb"]);
    let first = geoip.lookup("89.160.20.112").expect("known");
    let second = geoip.lookup("89.160.20.112").expect("known");
    assert_eq!(first, second);
    // The second is the cached one, not a copy.
    assert!(Arc::ptr_eq(&first, &second));
    // The mapped form of the same address shares the entry.
    let mapped = geoip.lookup("::ffff:89.160.20.112").expect("known");
    assert!(Arc::ptr_eq(&first, &mapped));
    // Misses are cached too and stay misses.
    assert_eq!(geoip.lookup("8.8.8.8"), None);
    assert_eq!(geoip.lookup("8.8.8.8"), None);
}

#[test]
fn many_distinct_addresses_keep_working_past_the_cache_capacity() {
    let geoip = open(&["GeoIP2-Country-Test.mmdb"]);
    let known = geoip.lookup("81.2.69.160").expect("known");
    // More distinct addresses than the cache holds: shards start over.
    for n in 0..(ctrules_context::geoip::CACHE_CAPACITY as u32 + 20_000) {
        let ip = std::net::Ipv4Addr::from(0x0a00_0000 + n).to_string();
        assert_eq!(geoip.lookup(&ip), None);
    }
    assert_eq!(geoip.lookup("81.2.69.160"), Some(known));
}

#[test]
fn shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<GeoIp>();

    let geoip = Arc::new(open(&[
        "GeoIP2-City-Test.mmdb",
        "GeoLite2-ASN-Test.mmdb",
        "GeoIP2-Anonymous-IP-Test.mmdb",
    ]));
    let cases = [
        ("81.2.69.160", Some("GB")),
        ("89.160.20.112", Some("SE")),
        ("216.160.83.56", Some("US")),
        ("2001:218::1", Some("JP")),
        ("AWS Internal", None),
        ("8.8.8.8", None),
    ];
    let threads: Vec<_> = (0..8)
        .map(|thread| {
            let geoip = Arc::clone(&geoip);
            std::thread::spawn(move || {
                for round in 0..500 {
                    let (ip, country) = cases[(thread + round) % cases.len()];
                    let found = geoip
                        .lookup(ip)
                        .and_then(|summary| summary["country_code"].as_str().map(str::to_owned));
                    assert_eq!(found.as_deref(), country, "{ip}");
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().expect("no thread panicked");
    }
}
