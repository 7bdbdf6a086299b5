//! Time zones, schedules and calendars, around the 2026 DST changes.

use chrono::{DateTime, NaiveDate, Utc, Weekday};
use ctrules_context::time::{
    local_time, parse_event_time, parse_zone, weekday_name, Calendar, Schedule, SpecError, Tz,
};
use proptest::prelude::*;

fn at(text: &str) -> DateTime<Utc> {
    parse_event_time(text).expect("test timestamps are valid")
}

fn ny() -> Tz {
    parse_zone("America/New_York").expect("known zone")
}

fn hours(spec: &str, zone: Tz) -> Schedule {
    Schedule::parse(spec, zone).expect("valid spec")
}

fn spec_error(spec: &str) -> SpecError {
    Schedule::parse(spec, Tz::UTC).expect_err("spec should be rejected")
}

// ---------------------------------------------------------------- zones

#[test]
fn zones_parse_by_iana_name_and_alias() {
    assert_eq!(parse_zone("America/New_York"), Ok(Tz::America__New_York));
    assert_eq!(parse_zone("US/Eastern"), Ok(Tz::US__Eastern));
    assert_eq!(parse_zone("UTC"), Ok(Tz::UTC));
}

#[test]
fn unknown_zone_suggests_exact_casing() {
    let err = parse_zone("america/new_york").unwrap_err();
    assert_eq!(err.name, "america/new_york");
    assert_eq!(err.suggestion.as_deref(), Some("America/New_York"));
    assert_eq!(err.to_string(), "unknown time zone `america/new_york`");
}

#[test]
fn unknown_zone_suggests_near_miss() {
    let err = parse_zone("America/New_Yrok").unwrap_err();
    assert_eq!(err.suggestion.as_deref(), Some("America/New_York"));
    let err = parse_zone("Europe/Pari").unwrap_err();
    assert_eq!(err.suggestion.as_deref(), Some("Europe/Paris"));
}

#[test]
fn an_abbreviation_or_posix_offset_suggests_the_region_zone() {
    // The nearest IANA name of `EST5` is `EST`, a fixed offset without
    // daylight saving: the region zone is what was meant.
    for (name, region) in [
        ("EST5", "America/New_York"),
        ("est5", "America/New_York"),
        ("EDT", "America/New_York"),
        ("EST+5", "America/New_York"),
        ("CST6", "America/Chicago"),
        ("MST7", "America/Denver"),
        ("PST8", "America/Los_Angeles"),
        ("PST", "America/Los_Angeles"),
        ("PDT7", "America/Los_Angeles"),
        ("CEST", "Europe/Paris"),
        ("CET-1CEST", "Europe/Paris"),
        ("AEST", "Australia/Sydney"),
        ("ESTT", "America/New_York"),
    ] {
        let err = parse_zone(name).unwrap_err();
        assert_eq!(err.suggestion.as_deref(), Some(region), "{name}");
        assert!(err.abbreviation, "{name}");
    }
    // A near miss of a region name is not an abbreviation.
    let err = parse_zone("America/New_Yrok").unwrap_err();
    assert!(!err.abbreviation);
    // Names the IANA database has still parse, fixed offsets included.
    assert_eq!(parse_zone("EST"), Ok(Tz::EST));
    assert_eq!(parse_zone("EST5EDT"), Ok(Tz::EST5EDT));
}

#[test]
fn unknown_zone_without_anything_close() {
    let err = parse_zone("Middle/Earth/Shire").unwrap_err();
    assert_eq!(err.suggestion, None);
    assert!(parse_zone("").is_err());
}

// ---------------------------------------------------------------- event time

#[test]
fn event_time_forms() {
    let plain = at("2026-03-08T06:59:59Z");
    assert_eq!(plain.to_rfc3339(), "2026-03-08T06:59:59+00:00");
    assert_eq!(
        parse_event_time("2026-03-08T06:59:59.123Z").map(|t| t.timestamp_millis()),
        Some(plain.timestamp_millis() + 123)
    );
    assert_eq!(parse_event_time("2026-03-08T01:59:59-05:00"), Some(plain));
}

#[test]
fn event_time_rejects_non_rfc3339() {
    for text in [
        "",
        "2026-03-08",
        "2026-03-08T06:59:59",
        "08/03/2026 06:59",
        "2026-02-30T00:00:00Z",
        "yesterday",
    ] {
        assert_eq!(parse_event_time(text), None, "{text}");
    }
}

// ---------------------------------------------------------------- local time

#[test]
fn hour_after_spring_forward() {
    // 07:30Z on 2026-03-08 is 03:30 EDT: 02:xx never happens that night.
    let local = local_time(at("2026-03-08T07:30:00Z"), ny());
    assert_eq!((local.hour, local.minute), (3, 30));
    let before = local_time(at("2026-03-08T06:59:00Z"), ny());
    assert_eq!(before.hour, 1);
}

#[test]
fn ambiguous_hour_happens_twice_at_fall_back() {
    let first = local_time(at("2026-11-01T05:30:00Z"), ny()); // 01:30 EDT
    let second = local_time(at("2026-11-01T06:30:00Z"), ny()); // 01:30 EST
    assert_eq!((first.hour, first.minute), (1, 30));
    assert_eq!((second.hour, second.minute), (1, 30));
    assert_eq!(first.date, second.date);
}

#[test]
fn weekday_at_a_date_boundary() {
    // Saturday 03:00 in UTC is still Friday evening in New York.
    let local = local_time(at("2026-11-21T03:00:00Z"), ny());
    assert_eq!(local.weekday, Weekday::Fri);
    assert_eq!(local.hour, 22);
    assert_eq!(local.date, NaiveDate::from_ymd_opt(2026, 11, 20).unwrap());
    assert_eq!(weekday_name(local.weekday), "Fri");
    let utc = local_time(at("2026-11-21T03:00:00Z"), Tz::UTC);
    assert_eq!(weekday_name(utc.weekday), "Sat");
}

#[test]
fn weekday_names() {
    let names: Vec<_> = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ]
    .into_iter()
    .map(weekday_name)
    .collect();
    assert_eq!(names, ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]);
}

// ---------------------------------------------------------------- schedules

#[test]
fn working_hours_across_spring_forward() {
    let s = hours("Mon-Fri 09:00-17:00", ny());
    assert_eq!(s.zone(), ny());
    // Friday before the change: EST, UTC-5.
    assert!(!s.contains(at("2026-03-06T13:59:59Z"))); // 08:59:59 EST
    assert!(s.contains(at("2026-03-06T14:00:00Z"))); // 09:00 EST
    assert!(s.contains(at("2026-03-06T21:59:59Z"))); // 16:59:59 EST
    assert!(!s.contains(at("2026-03-06T22:00:00Z"))); // 17:00 EST
                                                      // The Sunday of the change is not a working day.
    assert!(!s.contains(at("2026-03-08T15:00:00Z")));
    // Monday after: EDT, UTC-4.
    assert!(!s.contains(at("2026-03-09T12:59:00Z"))); // 08:59 EDT
    assert!(s.contains(at("2026-03-09T13:00:00Z"))); // 09:00 EDT
    assert!(s.contains(at("2026-03-09T20:59:59Z"))); // 16:59:59 EDT
    assert!(!s.contains(at("2026-03-09T21:00:00Z"))); // 17:00 EDT
    assert!(!s.contains(at("2026-03-09T22:00:00Z"))); // 18:00 EDT
}

#[test]
fn working_hours_across_fall_back() {
    let s = hours("Mon-Fri 09:00-17:00", ny());
    // Friday before: EDT.
    assert!(!s.contains(at("2026-10-30T12:59:00Z"))); // 08:59 EDT
    assert!(s.contains(at("2026-10-30T13:00:00Z"))); // 09:00 EDT
    assert!(!s.contains(at("2026-10-30T21:00:00Z"))); // 17:00 EDT
                                                      // Monday after: EST.
    assert!(!s.contains(at("2026-11-02T13:00:00Z"))); // 08:00 EST
    assert!(!s.contains(at("2026-11-02T13:59:59Z"))); // 08:59:59 EST
    assert!(s.contains(at("2026-11-02T14:00:00Z"))); // 09:00 EST
    assert!(s.contains(at("2026-11-02T21:59:00Z"))); // 16:59 EST
    assert!(!s.contains(at("2026-11-02T22:00:00Z"))); // 17:00 EST
}

#[test]
fn weekday_by_local_date_not_utc_date() {
    let s = hours("Mon-Fri 20:00-23:00", ny());
    // Saturday 03:00Z = Friday 22:00 in New York.
    assert!(s.contains(at("2026-11-21T03:00:00Z")));
    // Sunday 02:00Z = Saturday 21:00 in New York.
    assert!(!s.contains(at("2026-11-22T02:00:00Z")));
}

#[test]
fn overnight_window_starts_on_listed_day() {
    let s = hours("Mon-Fri 22:00-06:00", Tz::UTC);
    assert!(s.contains(at("2026-11-20T22:00:00Z"))); // Fri 22:00
    assert!(s.contains(at("2026-11-21T05:59:59Z"))); // Sat 05:59, from Friday
    assert!(!s.contains(at("2026-11-21T06:00:00Z"))); // Sat 06:00
    assert!(!s.contains(at("2026-11-21T22:30:00Z"))); // Sat 22:30
    assert!(!s.contains(at("2026-11-16T03:00:00Z"))); // Mon 03:00: Sunday has no window
    assert!(s.contains(at("2026-11-17T03:00:00Z"))); // Tue 03:00, from Monday
    assert!(!s.contains(at("2026-11-16T21:59:00Z"))); // Mon 21:59
}

#[test]
fn overnight_window_wraps_sunday_into_monday() {
    let s = hours("Sun 23:00-01:00", Tz::UTC);
    assert!(s.contains(at("2026-11-22T23:30:00Z"))); // Sun
    assert!(s.contains(at("2026-11-23T00:30:00Z"))); // Mon
    assert!(!s.contains(at("2026-11-23T01:00:00Z")));
}

#[test]
fn end_at_midnight_with_24_00() {
    let s = hours("weekends 00:00-24:00", Tz::UTC);
    assert!(s.contains(at("2026-11-21T00:00:00Z"))); // Sat
    assert!(s.contains(at("2026-11-22T23:59:59Z"))); // Sun
    assert!(!s.contains(at("2026-11-23T00:00:00Z"))); // Mon
    assert!(!s.contains(at("2026-11-20T23:59:59Z"))); // Fri
    let evening = hours("daily 18:00-24:00", Tz::UTC);
    assert!(evening.contains(at("2026-11-18T23:59:00Z")));
    assert!(!evening.contains(at("2026-11-19T00:00:00Z")));
}

#[test]
fn several_windows_and_day_lists() {
    let s = hours("Mon-Fri 09:00-18:00, Sat 10:00-14:00", Tz::UTC);
    assert!(s.contains(at("2026-11-21T10:00:00Z"))); // Sat
    assert!(!s.contains(at("2026-11-21T14:00:00Z")));
    assert!(!s.contains(at("2026-11-22T12:00:00Z"))); // Sun
    let list = hours("Mon,Wed,Fri 08:30-12:00", Tz::UTC);
    assert!(list.contains(at("2026-11-18T08:30:00Z"))); // Wed
    assert!(!list.contains(at("2026-11-18T08:29:00Z")));
    assert!(!list.contains(at("2026-11-17T09:00:00Z"))); // Tue
    let spaced = hours("mon, WEDNESDAY ,friday 8:30-12:00", Tz::UTC);
    assert!(spaced.contains(at("2026-11-20T11:59:00Z"))); // Fri
}

#[test]
fn day_ranges_wrap_and_keywords() {
    let s = hours("Fri-Mon 08:00-12:00", Tz::UTC);
    for day in ["2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23"] {
        assert!(s.contains(at(&format!("{day}T09:00:00Z"))), "{day}");
    }
    assert!(!s.contains(at("2026-11-24T09:00:00Z"))); // Tue
    let weekdays = hours("weekdays 09:00-17:00", Tz::UTC);
    assert!(weekdays.contains(at("2026-11-23T09:00:00Z")));
    assert!(!weekdays.contains(at("2026-11-22T09:00:00Z")));
    let daily = hours("Daily 09:00-17:00", Tz::UTC);
    assert!(daily.contains(at("2026-11-22T09:00:00Z")));
    let mixed = hours("weekends, Mon 09:00-10:00", Tz::UTC);
    assert!(mixed.contains(at("2026-11-23T09:30:00Z")));
    assert!(!mixed.contains(at("2026-11-24T09:30:00Z")));
}

#[test]
fn schedule_errors_point_at_the_problem() {
    let e = spec_error("Mun-Fri 09:00-17:00");
    assert_eq!((e.offset, e.len), (0, 3));
    assert_eq!(
        e.message,
        "expected a day such as `Mon`, found `Mun`; did you mean `Mon`?"
    );

    let e = spec_error("Mon-Fri 09:00-17:00, Thr 10:00-14:00");
    assert_eq!((e.offset, e.len), (21, 3));
    assert!(e.message.contains("did you mean `Thu`?"), "{}", e.message);

    let e = spec_error("Mon-Fri 25:00-17:00");
    assert_eq!((e.offset, e.len), (8, 5));
    assert!(e.message.contains("`25:00`"), "{}", e.message);

    let e = spec_error("Mon-Fri 09:60-17:00");
    assert_eq!((e.offset, e.len), (8, 5));

    let e = spec_error("Mon-Fri 0900-1700");
    assert_eq!((e.offset, e.len), (8, 4));

    let e = spec_error("Mon-Fri 09:00");
    assert_eq!((e.offset, e.len), (13, 0));
    assert!(e.message.contains("expected `-`"), "{}", e.message);

    let e = spec_error("Mon-Fri 09:00-");
    assert_eq!((e.offset, e.len), (14, 0));
    assert!(e.message.contains("end time"), "{}", e.message);

    let e = spec_error("Mon-Fri");
    assert_eq!((e.offset, e.len), (7, 0));

    let e = spec_error("09:00-17:00");
    assert_eq!((e.offset, e.len), (0, 5));
    assert!(e.message.contains("expected days"), "{}", e.message);

    let e = spec_error("Mon-Fri 24:00-06:00");
    assert_eq!((e.offset, e.len), (8, 5));
    assert!(e.message.contains("24:00"), "{}", e.message);

    let e = spec_error("Mon-Fri 09:00-09:00");
    assert_eq!((e.offset, e.len), (8, 11));
    assert!(e.message.contains("00:00-24:00"), "{}", e.message);

    let e = spec_error("Mon-Fri 09:00-17:00 Sat 10:00-12:00");
    assert_eq!((e.offset, e.len), (20, 3));
    assert!(e.message.contains("expected `,`"), "{}", e.message);

    let e = spec_error("Mon-Fri 09:00-17:00,");
    assert_eq!((e.offset, e.len), (20, 0));

    let e = spec_error("Mon, 09:00-17:00");
    assert_eq!((e.offset, e.len), (5, 5));

    let e = spec_error("Mon-09:00-17:00");
    assert_eq!((e.offset, e.len), (4, 5));

    let e = spec_error("Mon-Fri 09:00–17:00"); // an en dash
    assert_eq!((e.offset, e.len), (13, 3));

    let e = spec_error("   ");
    assert!(e.message.contains("empty schedule"), "{}", e.message);
    assert_eq!(e.to_string(), e.message);
}

#[test]
fn schedule_keeps_its_spec() {
    let s = hours("Mon-Fri 09:00-17:00", ny());
    assert_eq!(s.spec(), "Mon-Fri 09:00-17:00");
    assert!(format!("{s:?}").contains("America/New_York"));
}

// ---------------------------------------------------------------- calendars

#[test]
fn calendar_whole_day_in_a_zone() {
    let tokyo = parse_zone("Asia/Tokyo").unwrap();
    let mut c = Calendar::new(tokyo);
    c.add("2026-01-01", Some("New Year's Day".into())).unwrap();
    // Midnight in Tokyo (UTC+9) is 15:00Z the day before.
    assert!(!c.contains(at("2025-12-31T14:59:59Z")));
    assert!(c.contains(at("2025-12-31T15:00:00Z")));
    assert!(c.contains(at("2026-01-01T14:59:59Z")));
    assert!(!c.contains(at("2026-01-01T15:00:00Z")));
    let entry = c.entry_at(at("2026-01-01T00:00:00Z")).unwrap();
    assert_eq!(entry.name.as_deref(), Some("New Year's Day"));
    assert_eq!(entry.spec, "2026-01-01");
    assert_eq!(c.len(), 1);
    assert!(!c.is_empty());
    assert_eq!(c.zone(), tokyo);
}

#[test]
fn calendar_date_range_is_inclusive() {
    let mut c = Calendar::new(Tz::UTC);
    c.add("2026-12-20..2027-01-04", Some("freeze".into()))
        .unwrap();
    assert!(!c.contains(at("2026-12-19T23:59:59Z")));
    assert!(c.contains(at("2026-12-20T00:00:00Z")));
    assert!(c.contains(at("2027-01-04T23:59:59Z")));
    assert!(!c.contains(at("2027-01-05T00:00:00Z")));
    c.add(" 2027-02-01 .. 2027-02-01 ", None).unwrap();
    assert!(c.contains(at("2027-02-01T12:00:00Z")));
    assert_eq!(c.entries()[1].spec, "2027-02-01 .. 2027-02-01");
}

#[test]
fn calendar_date_time_window_end_excluded() {
    let mut c = Calendar::new(ny());
    c.add("2026-11-21T14:00..2026-11-21T16:30", Some("reorg".into()))
        .unwrap();
    // EST after the fall-back: UTC-5.
    assert!(!c.contains(at("2026-11-21T18:59:59Z")));
    assert!(c.contains(at("2026-11-21T19:00:00Z")));
    assert!(c.contains(at("2026-11-21T21:29:59Z")));
    assert!(!c.contains(at("2026-11-21T21:30:00Z")));
}

#[test]
fn calendar_mixed_and_seconds_and_24_00() {
    let mut c = Calendar::new(Tz::UTC);
    c.add("2026-05-01..2026-05-02T12:00:30", None).unwrap();
    assert!(c.contains(at("2026-05-01T00:00:00Z")));
    assert!(c.contains(at("2026-05-02T12:00:29Z")));
    assert!(!c.contains(at("2026-05-02T12:00:30Z")));
    c.add("2026-06-01T22:00..2026-06-01T24:00", None).unwrap();
    assert!(c.contains(at("2026-06-01T23:59:59Z")));
    assert!(!c.contains(at("2026-06-02T00:00:00Z")));
}

#[test]
fn calendar_leap_day() {
    let mut c = Calendar::new(Tz::UTC);
    c.add("2028-02-29", Some("leap".into())).unwrap();
    assert!(c.contains(at("2028-02-29T12:00:00Z")));
    assert!(!c.contains(at("2028-03-01T00:00:00Z")));
    let e = c.add("2026-02-29", None).unwrap_err();
    assert_eq!(
        e.message,
        "invalid date `2026-02-29`: February 2026 has 28 days"
    );
}

#[test]
fn calendar_across_dst_days() {
    let mut c = Calendar::new(ny());
    c.add("2026-03-08", Some("spring".into())).unwrap();
    c.add("2026-11-01", Some("fall".into())).unwrap();
    // The spring day is 23 hours long, the fall day 25.
    let spring = &c.entries()[0];
    assert_eq!((spring.end - spring.start).num_hours(), 23);
    let fall = &c.entries()[1];
    assert_eq!((fall.end - fall.start).num_hours(), 25);
    assert!(c.contains(at("2026-11-02T04:59:59Z")));
    assert!(!c.contains(at("2026-11-02T05:00:00Z")));
}

#[test]
fn calendar_local_time_in_a_gap_starts_after_it() {
    let mut c = Calendar::new(ny());
    c.add("2026-03-08T02:30..2026-03-08T04:00", None).unwrap();
    // 02:30 does not exist: the window opens at 03:00 EDT = 07:00Z.
    assert_eq!(c.entries()[0].start, at("2026-03-08T07:00:00Z"));
    assert_eq!(c.entries()[0].end, at("2026-03-08T08:00:00Z"));
}

#[test]
fn calendar_first_entry_wins_on_overlap() {
    let mut c = Calendar::new(Tz::UTC);
    c.add("2026-12-20..2027-01-04", Some("freeze".into()))
        .unwrap();
    c.add("2026-12-25", Some("Christmas".into())).unwrap();
    c.add("2026-12-01..2026-12-31", Some("December".into()))
        .unwrap();
    let name = |t| c.entry_at(at(t)).and_then(|e| e.name.as_deref());
    assert_eq!(name("2026-12-25T10:00:00Z"), Some("freeze"));
    assert_eq!(name("2026-12-10T10:00:00Z"), Some("December"));
    assert_eq!(name("2027-01-02T10:00:00Z"), Some("freeze"));
    assert_eq!(name("2027-01-10T10:00:00Z"), None);
}

#[test]
fn calendar_many_entries_stay_correct() {
    let mut c = Calendar::new(Tz::UTC);
    let start = NaiveDate::from_ymd_opt(2026, 1, 1).unwrap();
    // Every third day of 2026, added in reverse order.
    let days: Vec<NaiveDate> = (0..365)
        .step_by(3)
        .map(|n| start + chrono::Duration::days(n))
        .collect();
    for d in days.iter().rev() {
        c.add(&d.to_string(), Some(d.to_string())).unwrap();
    }
    assert_eq!(c.len(), days.len());
    for n in 0..365 {
        let d = start + chrono::Duration::days(n);
        let t = at(&format!("{d}T12:00:00Z"));
        assert_eq!(c.contains(t), n % 3 == 0, "{d}");
        if n % 3 == 0 {
            assert_eq!(
                c.entry_at(t).unwrap().name.as_deref(),
                Some(d.to_string().as_str())
            );
        }
    }
    // Adding after a lookup rebuilds the index.
    c.add("2026-01-02", Some("late".into())).unwrap();
    assert_eq!(
        c.entry_at(at("2026-01-02T01:00:00Z"))
            .unwrap()
            .name
            .as_deref(),
        Some("late")
    );
}

#[test]
fn calendar_errors_point_at_the_problem() {
    let mut c = Calendar::new(Tz::UTC);
    let e = c.add("2026-02-30", None).unwrap_err();
    assert_eq!((e.offset, e.len), (0, 10));
    assert!(
        e.message.contains("February 2026 has 28 days"),
        "{}",
        e.message
    );

    let e = c.add("2026-12-20..2026-12-10", None).unwrap_err();
    assert_eq!((e.offset, e.len), (12, 10));
    assert!(e.message.contains("ends before it starts"), "{}", e.message);

    let e = c
        .add("2026-11-21T14:00..2026-11-21T14:00", None)
        .unwrap_err();
    assert!(e.message.contains("empty range"), "{}", e.message);

    let e = c.add("2026-13-01", None).unwrap_err();
    assert!(e.message.contains("months run 01 to 12"), "{}", e.message);

    let e = c.add("2026-1-5", None).unwrap_err();
    assert!(e.message.contains("YYYY-MM-DD"), "{}", e.message);

    let e = c.add("2026-12-20..", None).unwrap_err();
    assert_eq!((e.offset, e.len), (12, 0));

    let e = c.add("..2026-12-20", None).unwrap_err();
    assert_eq!(e.offset, 0);

    let e = c
        .add("2026-12-20..2026-12-21..2026-12-22", None)
        .unwrap_err();
    assert_eq!((e.offset, e.len), (22, 2));

    let e = c
        .add("2026-11-21T25:00..2026-11-21T26:00", None)
        .unwrap_err();
    assert_eq!((e.offset, e.len), (11, 5));

    let e = c.add("2026-11-21T14:00", None).unwrap_err();
    assert!(e.message.contains("needs an end"), "{}", e.message);

    let e = c.add("", None).unwrap_err();
    assert_eq!((e.offset, e.len), (0, 0));

    let e = c.add("Christmas", None).unwrap_err();
    assert_eq!((e.offset, e.len), (0, 9));

    assert!(c.is_empty(), "failed entries are not added");
    assert!(!c.contains(at("2026-12-25T00:00:00Z")));
}

// ---------------------------------------------------------------- no panics

proptest! {
    #[test]
    fn schedule_parse_never_panics(spec in "\\PC{0,40}") {
        let _ = Schedule::parse(&spec, Tz::UTC);
    }

    #[test]
    fn schedule_parse_never_panics_on_near_misses(
        spec in "[MTWFSmtwfsaeuhrdily ,:0-9\\-]{0,30}"
    ) {
        if let Err(e) = Schedule::parse(&spec, Tz::UTC) {
            prop_assert!(e.offset + e.len <= spec.len());
            prop_assert!(spec.is_char_boundary(e.offset));
        }
    }

    #[test]
    fn calendar_add_never_panics(entry in "\\PC{0,40}") {
        let mut c = Calendar::new(Tz::Asia__Tokyo);
        if let Err(e) = c.add(&entry, None) {
            prop_assert!(e.offset + e.len <= entry.len());
        }
        let _ = c.contains(at("2026-01-01T00:00:00Z"));
    }

    #[test]
    fn calendar_add_never_panics_on_near_misses(
        entry in "[0-9\\-T:. ]{0,36}"
    ) {
        let mut c = Calendar::new(Tz::America__New_York);
        if let Err(e) = c.add(&entry, None) {
            prop_assert!(e.offset + e.len <= entry.len());
        }
    }

    #[test]
    fn event_time_never_panics(text in "\\PC{0,40}") {
        let _ = parse_event_time(&text);
    }

    #[test]
    fn event_time_never_panics_on_near_misses(text in "[0-9\\-T:.Z+ ]{0,32}") {
        let _ = parse_event_time(&text);
    }
}
