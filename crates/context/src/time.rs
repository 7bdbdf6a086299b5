//! `eventTime` read in a named time zone, working-hours schedules, and
//! calendars of dates and date ranges.
//!
//! CloudTrail stamps every event in UTC (`"eventTime": "2026-03-08T06:59:59Z"`).
//! Rules care about local facts instead: "outside working hours in New
//! York", "on a public holiday in Tokyo", "during the change freeze". This
//! module turns an instant into those facts. Local time always comes from
//! the IANA database (`chrono-tz`), so daylight-saving changes are handled:
//! on the day clocks go back, the hour from 01:00 to 02:00 happens twice and
//! both are 01:xx; on the day they go forward, 02:xx never happens.
//!
//! # Time zones
//!
//! [`parse_zone`] takes an IANA name (`America/New_York`, `Europe/Paris`,
//! `UTC`, and the legacy aliases such as `US/Eastern`). A name that differs
//! only in case, or is a near miss, comes back as an [`UnknownZone`] with a
//! suggestion.
//!
//! # Schedules
//!
//! A [`Schedule`] is a set of weekly windows in one zone. Its spec is one
//! window or several, separated by commas; a window is days, then a time
//! range:
//!
//! ```text
//! Mon-Fri 09:00-18:00                    one window
//! Mon-Fri 09:00-18:00, Sat 10:00-14:00   several, comma separated
//! Mon,Wed,Fri 08:30-12:00                a list of days
//! Fri-Mon 08:00-12:00                    a day range may wrap round the week
//! Mon-Fri 22:00-06:00                    crossing midnight: the window starts on
//!                                        the listed day (Fri 22:00 to Sat 06:00)
//! daily 09:00-17:00                      every day
//! weekdays 09:00-17:00                   Mon-Fri
//! weekends 00:00-24:00                   Sat and Sun, all day
//! ```
//!
//! Day names are case-insensitive, three letters or in full (`mon`,
//! `Monday`); `daily`, `weekdays` and `weekends` may also appear in a list.
//! Times are `HH:MM` (or `H:MM`) on a 24-hour clock. The start of a window
//! is included and its end is not, so `09:00-17:00` holds 16:59:59 but not
//! 17:00:00; `24:00` is allowed as an end. A window whose start equals its
//! end is an error (write `00:00-24:00` for a whole day).
//!
//! # Calendars
//!
//! A [`Calendar`] is a list of entries in one zone, each optionally named:
//!
//! ```text
//! 2026-12-25                             a whole local day
//! 2026-12-20..2027-01-04                 whole days, both ends included
//! 2026-11-21T14:00..2026-11-21T16:30     a local date-time window, end excluded
//! ```
//!
//! Date-times may carry seconds (`T14:00:30`), and `T24:00` means midnight
//! at the end of that day. A range may mix the two forms: a date as start
//! means its midnight, a date as end means the end of that day. A local
//! time that falls in a daylight-saving gap means the first instant after
//! the gap; a local time that happens twice means the first of the two.
//!
//! Errors are [`SpecError`] values carrying the byte offset and length of
//! the offending text inside the spec or entry, so the caller can point at
//! the exact place in a rules or table file.

use std::fmt;
use std::sync::OnceLock;

use chrono::{
    DateTime, Datelike, Duration, LocalResult, NaiveDate, NaiveDateTime, NaiveTime, TimeZone,
    Timelike, Utc, Weekday,
};
pub use chrono_tz::Tz;

// ---------------------------------------------------------------------------
// Zones and instants
// ---------------------------------------------------------------------------

/// A time-zone name that is not in the IANA database.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("unknown time zone `{name}`")]
pub struct UnknownZone {
    /// The name as written.
    pub name: String,
    /// The closest valid name, in its exact spelling, if one is close.
    pub suggestion: Option<String>,
    /// True when the name is a zone abbreviation or a POSIX-style offset
    /// (`EST`, `EST5`, `PST8`, `CEST`): the suggestion is then the region
    /// zone that follows daylight saving (`America/New_York`), not the
    /// nearest name, which would be a fixed offset such as `EST`.
    pub abbreviation: bool,
}

/// Zone abbreviations, and the region zone each usually stands for. The
/// IANA database keeps a few of them (`EST`, `MST`, `HST`, `EST5EDT`) as
/// fixed offsets or US-wide rules; a person who writes one means a place.
const ABBREVIATIONS: &[(&[&str], &str)] = &[
    (&["EST", "EDT", "ET"], "America/New_York"),
    (&["CST", "CDT", "CT"], "America/Chicago"),
    (&["MST", "MDT", "MT"], "America/Denver"),
    (&["PST", "PDT", "PT"], "America/Los_Angeles"),
    (&["AKST", "AKDT"], "America/Anchorage"),
    (&["HST", "HDT"], "Pacific/Honolulu"),
    (&["AST", "ADT"], "America/Halifax"),
    (&["NST", "NDT"], "America/St_Johns"),
    (&["BST"], "Europe/London"),
    (&["WET", "WEST"], "Europe/Lisbon"),
    (&["CET", "CEST"], "Europe/Paris"),
    (&["EET", "EEST"], "Europe/Athens"),
    (&["MSK"], "Europe/Moscow"),
    (&["JST"], "Asia/Tokyo"),
    (&["KST"], "Asia/Seoul"),
    (&["AEST", "AEDT"], "Australia/Sydney"),
    (&["ACST", "ACDT"], "Australia/Adelaide"),
    (&["AWST"], "Australia/Perth"),
    (&["NZST", "NZDT"], "Pacific/Auckland"),
];

/// The region zone for an abbreviation, alone or in the POSIX form of a
/// name, an offset and optionally a daylight-saving name (`EST5`, `PST8`,
/// `CET-1CEST`, `EST+5`), in any case.
fn region_for_abbreviation(name: &str) -> Option<&'static str> {
    let upper = name.trim().to_ascii_uppercase();
    let letters = upper.len()
        - upper
            .trim_start_matches(|c: char| c.is_ascii_uppercase())
            .len();
    let (abbr, rest) = upper.split_at(letters);
    let rest = rest.trim_start_matches(['+', '-']);
    let digits = rest.len()
        - rest
            .trim_start_matches(|c: char| c.is_ascii_digit() || c == ':')
            .len();
    let (offset, tail) = rest.split_at(digits);
    let well_formed =
        tail.is_empty() || (!offset.is_empty() && tail.chars().all(|c| c.is_ascii_uppercase()));
    if !well_formed || (upper.len() > letters && offset.is_empty()) {
        return None;
    }
    ABBREVIATIONS
        .iter()
        .find(|(names, _)| names.contains(&abbr))
        .map(|(_, region)| *region)
}

/// Parses an IANA time-zone name such as `America/New_York` or `UTC`.
pub fn parse_zone(name: &str) -> Result<Tz, UnknownZone> {
    if let Ok(zone) = name.parse::<Tz>() {
        return Ok(zone);
    }
    if let Some(region) = region_for_abbreviation(name) {
        return Err(UnknownZone {
            name: name.to_string(),
            suggestion: Some(region.to_string()),
            abbreviation: true,
        });
    }
    let lower = name.to_lowercase();
    // A difference of case only is the commonest slip: suggest the exact
    // spelling rather than silently accepting it, so rules stay greppable.
    let same_but_case = chrono_tz::TZ_VARIANTS
        .iter()
        .map(|z| z.name())
        .find(|candidate| candidate.to_lowercase() == lower);
    let suggestion = same_but_case.or_else(|| {
        chrono_tz::TZ_VARIANTS
            .iter()
            .map(|z| z.name())
            .map(|c| (strsim::levenshtein(&lower, &c.to_lowercase()), c))
            .filter(|(d, c)| *d <= (c.chars().count().max(name.chars().count()) / 3).max(1))
            .min_by_key(|(d, c)| (*d, *c))
            .map(|(_, c)| c)
    });
    // The nearest name may be a fixed offset (`ESTT` is near `EST`): the
    // region is what was meant.
    let region = suggestion.and_then(region_for_abbreviation);
    Err(UnknownZone {
        name: name.to_string(),
        suggestion: region.or(suggestion).map(str::to_string),
        abbreviation: region.is_some(),
    })
}

/// Parses a CloudTrail `eventTime`: RFC 3339, such as
/// `2026-03-08T06:59:59Z`, also with fractional seconds or a UTC offset.
/// `None` if the text is not one.
pub fn parse_event_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The local parts of an instant in a zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LocalTime {
    /// The local calendar date.
    pub date: NaiveDate,
    /// 0 to 23.
    pub hour: u32,
    /// 0 to 59.
    pub minute: u32,
    /// The local day of the week.
    pub weekday: Weekday,
}

/// The local date, hour, minute and weekday of `t` in `zone`.
pub fn local_time(t: DateTime<Utc>, zone: Tz) -> LocalTime {
    let local = t.with_timezone(&zone);
    LocalTime {
        date: local.date_naive(),
        hour: local.hour(),
        minute: local.minute(),
        weekday: local.weekday(),
    }
}

/// `"Mon"` to `"Sun"`.
pub fn weekday_name(d: Weekday) -> &'static str {
    match d {
        Weekday::Mon => "Mon",
        Weekday::Tue => "Tue",
        Weekday::Wed => "Wed",
        Weekday::Thu => "Thu",
        Weekday::Fri => "Fri",
        Weekday::Sat => "Sat",
        Weekday::Sun => "Sun",
    }
}

/// A mistake in a schedule spec or a calendar entry.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct SpecError {
    /// Byte offset of the offending text in the spec or entry.
    pub offset: usize,
    /// Its length in bytes (0 at the end of the text).
    pub len: usize,
    /// What is wrong, with a suggestion where there is one.
    pub message: String,
}

impl SpecError {
    fn new(offset: usize, len: usize, message: impl Into<String>) -> SpecError {
        SpecError {
            offset,
            len,
            message: message.into(),
        }
    }
}

// ---------------------------------------------------------------------------
// Schedules
// ---------------------------------------------------------------------------

const MINUTES_PER_DAY: usize = 24 * 60;
const MINUTES_PER_WEEK: usize = 7 * MINUTES_PER_DAY;
const WEEK_WORDS: usize = MINUTES_PER_WEEK.div_ceil(64);

/// Weekly windows in a time zone, such as working hours. See the
/// [module documentation](self) for the spec syntax.
#[derive(Clone, PartialEq, Eq)]
pub struct Schedule {
    zone: Tz,
    spec: String,
    /// One bit per minute of the week, Monday 00:00 first: a lookup is a
    /// local-time conversion and a bit test, whatever the number of windows.
    minutes: Box<[u64; WEEK_WORDS]>,
}

impl fmt::Debug for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Schedule")
            .field("spec", &self.spec)
            .field("zone", &self.zone.name())
            .finish()
    }
}

impl Schedule {
    /// Parses a spec such as `"Mon-Fri 09:00-18:00, Sat 10:00-14:00"`.
    pub fn parse(spec: &str, zone: Tz) -> Result<Schedule, SpecError> {
        let tokens = tokenize(spec)?;
        let mut schedule = Schedule {
            zone,
            spec: spec.to_string(),
            minutes: Box::new([0; WEEK_WORDS]),
        };
        let mut parser = Parser {
            spec,
            tokens: &tokens,
            pos: 0,
        };
        if tokens.is_empty() {
            return Err(SpecError::new(
                0,
                spec.len(),
                "empty schedule: expected days and hours such as `Mon-Fri 09:00-18:00`",
            ));
        }
        loop {
            let days = parser.days()?;
            let (start, start_token) = parser.time("a start time such as `09:00`")?;
            if start == MINUTES_PER_DAY {
                return Err(SpecError::new(
                    start_token.offset,
                    start_token.len,
                    "a window cannot start at 24:00; write `00:00`",
                ));
            }
            parser.dash_after_start()?;
            let (end, end_token) = parser.time("an end time such as `17:00`")?;
            if end == start {
                return Err(SpecError::new(
                    start_token.offset,
                    end_token.offset + end_token.len - start_token.offset,
                    "empty window: start and end are the same (for a whole day write `00:00-24:00`)",
                ));
            }
            schedule.add_window(days, start, end);
            match parser.next() {
                None => break,
                Some(token) if token.kind == Kind::Comma => {
                    if parser.peek().is_none() {
                        return Err(SpecError::new(
                            spec.len(),
                            0,
                            "expected another window after `,`, such as `Sat 10:00-14:00`",
                        ));
                    }
                }
                Some(token) => {
                    return Err(SpecError::new(
                        token.offset,
                        token.len,
                        format!(
                            "expected `,` before another window, found `{}`",
                            token.text(spec)
                        ),
                    ))
                }
            }
        }
        Ok(schedule)
    }

    /// Whether the instant falls inside one of the windows, in local time.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        let local = t.with_timezone(&self.zone);
        let minute = local.weekday().num_days_from_monday() as usize * MINUTES_PER_DAY
            + local.hour() as usize * 60
            + local.minute() as usize;
        self.minutes
            .get(minute / 64)
            .is_some_and(|word| word & (1 << (minute % 64)) != 0)
    }

    /// The zone the windows are read in.
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The spec as written.
    pub fn spec(&self) -> &str {
        &self.spec
    }

    /// Marks `[start, end)` minutes on each day in `days` (bit 0 = Monday);
    /// an end at or before the start runs into the next day.
    fn add_window(&mut self, days: u8, start: usize, end: usize) {
        for day in 0..7 {
            if days & (1 << day) == 0 {
                continue;
            }
            let base = day * MINUTES_PER_DAY;
            if start < end {
                self.mark(base + start, base + end);
            } else {
                self.mark(base + start, base + MINUTES_PER_DAY);
                let next = (day + 1) % 7 * MINUTES_PER_DAY;
                self.mark(next, next + end);
            }
        }
    }

    fn mark(&mut self, from: usize, to: usize) {
        for minute in from..to.min(MINUTES_PER_WEEK) {
            if let Some(word) = self.minutes.get_mut(minute / 64) {
                *word |= 1 << (minute % 64);
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Word,
    /// Minutes since midnight, 0 to 1440.
    Time(usize),
    Dash,
    Comma,
}

#[derive(Debug, Clone, Copy)]
struct Token {
    kind: Kind,
    offset: usize,
    len: usize,
}

impl Token {
    fn text(self, spec: &str) -> &str {
        spec.get(self.offset..self.offset + self.len).unwrap_or("")
    }
}

fn tokenize(spec: &str) -> Result<Vec<Token>, SpecError> {
    let mut tokens = Vec::new();
    let mut chars = spec.char_indices().peekable();
    while let Some(&(offset, c)) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '-' || c == ',' {
            chars.next();
            let kind = if c == '-' { Kind::Dash } else { Kind::Comma };
            tokens.push(Token {
                kind,
                offset,
                len: 1,
            });
        } else if c.is_alphabetic() {
            let mut end = offset;
            while let Some(&(i, c)) = chars.peek() {
                if !c.is_alphabetic() {
                    break;
                }
                end = i + c.len_utf8();
                chars.next();
            }
            tokens.push(Token {
                kind: Kind::Word,
                offset,
                len: end - offset,
            });
        } else if c.is_ascii_digit() {
            let mut end = offset;
            while let Some(&(i, c)) = chars.peek() {
                if !(c.is_ascii_digit() || c == ':') {
                    break;
                }
                end = i + 1;
                chars.next();
            }
            let text = &spec[offset..end];
            let minutes = parse_clock(text).ok_or_else(|| {
                SpecError::new(
                    offset,
                    end - offset,
                    format!("expected a time such as `09:00` (00:00 to 24:00), found `{text}`"),
                )
            })?;
            tokens.push(Token {
                kind: Kind::Time(minutes),
                offset,
                len: end - offset,
            });
        } else {
            return Err(SpecError::new(
                offset,
                c.len_utf8(),
                format!("unexpected `{c}`: expected days and hours such as `Mon-Fri 09:00-18:00`"),
            ));
        }
    }
    Ok(tokens)
}

/// `H:MM` or `HH:MM`, 00:00 to 24:00, as minutes since midnight.
fn parse_clock(text: &str) -> Option<usize> {
    let (hours, minutes) = text.split_once(':')?;
    if hours.is_empty() || hours.len() > 2 || minutes.len() != 2 {
        return None;
    }
    let hours: usize = hours.parse().ok()?;
    let minutes: usize = minutes.parse().ok()?;
    match (hours, minutes) {
        (24, 0) => Some(MINUTES_PER_DAY),
        (0..=23, 0..=59) => Some(hours * 60 + minutes),
        _ => None,
    }
}

const DAY_NAMES: [(&str, &str); 7] = [
    ("mon", "monday"),
    ("tue", "tuesday"),
    ("wed", "wednesday"),
    ("thu", "thursday"),
    ("fri", "friday"),
    ("sat", "saturday"),
    ("sun", "sunday"),
];

const ALL_DAYS: u8 = 0b111_1111;
const WEEKDAYS: u8 = 0b001_1111;
const WEEKENDS: u8 = 0b110_0000;

/// The index of a day name (Monday = 0), case-insensitive.
fn day_index(word: &str) -> Option<usize> {
    let lower = word.to_lowercase();
    DAY_NAMES
        .iter()
        .position(|(short, long)| lower == *short || lower == *long)
}

fn day_suggestion(word: &str) -> Option<&'static str> {
    const CANDIDATES: [(&str, &str); 17] = [
        ("mon", "Mon"),
        ("tue", "Tue"),
        ("wed", "Wed"),
        ("thu", "Thu"),
        ("fri", "Fri"),
        ("sat", "Sat"),
        ("sun", "Sun"),
        ("monday", "Monday"),
        ("tuesday", "Tuesday"),
        ("wednesday", "Wednesday"),
        ("thursday", "Thursday"),
        ("friday", "Friday"),
        ("saturday", "Saturday"),
        ("sunday", "Sunday"),
        ("daily", "daily"),
        ("weekdays", "weekdays"),
        ("weekends", "weekends"),
    ];
    let lower = word.to_lowercase();
    CANDIDATES
        .iter()
        .map(|(key, shown)| (strsim::levenshtein(&lower, key), *key, *shown))
        .filter(|(d, key, _)| *d <= (key.len().max(lower.chars().count()) / 3).max(1))
        .min_by_key(|(d, key, _)| (*d, *key))
        .map(|(_, _, shown)| shown)
}

struct Parser<'a> {
    spec: &'a str,
    tokens: &'a [Token],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<Token> {
        self.tokens.get(self.pos).copied()
    }

    fn peek_second(&self) -> Option<Token> {
        self.tokens.get(self.pos + 1).copied()
    }

    fn next(&mut self) -> Option<Token> {
        let token = self.peek();
        if token.is_some() {
            self.pos += 1;
        }
        token
    }

    fn error_at(&self, token: Option<Token>, message: impl Into<String>) -> SpecError {
        match token {
            Some(t) => SpecError::new(t.offset, t.len, message),
            None => SpecError::new(self.spec.len(), 0, message),
        }
    }

    fn found(&self, token: Option<Token>) -> String {
        match token {
            Some(t) => format!("found `{}`", t.text(self.spec)),
            None => "found the end of the schedule".to_string(),
        }
    }

    /// Days: a keyword, a day, or a day range, comma-separated; returns a
    /// bit set with Monday as bit 0.
    fn days(&mut self) -> Result<u8, SpecError> {
        let mut days = 0u8;
        loop {
            days |= self.day_item()?;
            // A comma followed by a word continues the list of days; a
            // comma after a time range separates windows instead.
            match (self.peek(), self.peek_second()) {
                (Some(comma), Some(next)) if comma.kind == Kind::Comma => {
                    if next.kind == Kind::Word {
                        self.pos += 1;
                    } else {
                        return Err(self.error_at(
                            Some(next),
                            format!("expected a day after `,`, {}", self.found(Some(next))),
                        ));
                    }
                }
                (Some(comma), None) if comma.kind == Kind::Comma => {
                    return Err(self.error_at(None, "expected a day after `,`"));
                }
                _ => return Ok(days),
            }
        }
    }

    fn day_item(&mut self) -> Result<u8, SpecError> {
        let token = self.next();
        let word = match token {
            Some(t) if t.kind == Kind::Word => t,
            other => {
                return Err(self.error_at(
                    other,
                    format!(
                        "expected days such as `Mon-Fri` or `daily`, {}",
                        self.found(other)
                    ),
                ))
            }
        };
        let text = word.text(self.spec);
        match text.to_lowercase().as_str() {
            "daily" => return Ok(ALL_DAYS),
            "weekdays" => return Ok(WEEKDAYS),
            "weekends" => return Ok(WEEKENDS),
            _ => {}
        }
        let first = self.day(word)?;
        let dash = self.peek();
        if dash.is_some_and(|t| t.kind == Kind::Dash) {
            self.pos += 1;
            let last_token = self.next();
            let last = match last_token {
                Some(t) if t.kind == Kind::Word => self.day(t)?,
                other => {
                    return Err(self.error_at(
                        other,
                        format!(
                            "expected a day after `{text}-`, such as `{text}-Fri`; {}",
                            self.found(other)
                        ),
                    ))
                }
            };
            // Ranges wrap round the week: Fri-Mon is Fri, Sat, Sun, Mon.
            let mut set = 0u8;
            let mut day = first;
            loop {
                set |= 1 << day;
                if day == last {
                    break;
                }
                day = (day + 1) % 7;
            }
            Ok(set)
        } else {
            Ok(1 << first)
        }
    }

    fn day(&self, token: Token) -> Result<usize, SpecError> {
        let text = token.text(self.spec);
        day_index(text).ok_or_else(|| {
            let mut message = format!("expected a day such as `Mon`, found `{text}`");
            if let Some(s) = day_suggestion(text) {
                message.push_str(&format!("; did you mean `{s}`?"));
            }
            SpecError::new(token.offset, token.len, message)
        })
    }

    fn time(&mut self, what: &str) -> Result<(usize, Token), SpecError> {
        let token = self.next();
        match token {
            Some(t) => match t.kind {
                Kind::Time(minutes) => Ok((minutes, t)),
                _ => Err(self.error_at(token, format!("expected {what}, {}", self.found(token)))),
            },
            None => Err(self.error_at(token, format!("expected {what}, {}", self.found(token)))),
        }
    }

    fn dash_after_start(&mut self) -> Result<(), SpecError> {
        let token = self.next();
        match token {
            Some(t) if t.kind == Kind::Dash => Ok(()),
            _ => Err(self.error_at(
                token,
                format!(
                    "expected `-` between start and end, as in `09:00-17:00`; {}",
                    self.found(token)
                ),
            )),
        }
    }
}

// ---------------------------------------------------------------------------
// Calendars
// ---------------------------------------------------------------------------

/// One entry of a [`Calendar`]: an interval of instants, with its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CalendarEntry {
    /// The name given with the entry ("Christmas"), for enrichment.
    pub name: Option<String>,
    /// The entry as written.
    pub spec: String,
    /// First instant inside.
    pub start: DateTime<Utc>,
    /// First instant after (exclusive).
    pub end: DateTime<Utc>,
}

/// Dates, date ranges and date-time windows in one zone: holidays, deploy
/// or freeze windows. See the [module documentation](self) for the syntax.
#[derive(Debug, Clone)]
pub struct Calendar {
    zone: Tz,
    entries: Vec<CalendarEntry>,
    /// Built on the first lookup after a change, so that loading hundreds
    /// of entries stays linear and lookups are a binary search.
    index: OnceLock<Index>,
}

/// The time line cut where any entry starts or ends: between two cuts the
/// same entries apply, so each segment records the first of them.
#[derive(Debug, Clone, Default)]
struct Index {
    starts: Vec<DateTime<Utc>>,
    /// Index in `entries` of the first (in insertion order) entry covering
    /// the segment that begins at the same position in `starts`.
    owners: Vec<Option<usize>>,
}

impl Index {
    fn build(entries: &[CalendarEntry]) -> Index {
        let mut cuts: Vec<(DateTime<Utc>, bool, usize)> = Vec::with_capacity(entries.len() * 2);
        for (i, e) in entries.iter().enumerate() {
            cuts.push((e.start, true, i));
            cuts.push((e.end, false, i));
        }
        cuts.sort();
        let mut index = Index::default();
        let mut active = std::collections::BTreeSet::new();
        let mut i = 0;
        while let Some(&(at, _, _)) = cuts.get(i) {
            while let Some(&(t, starts, entry)) = cuts.get(i) {
                if t != at {
                    break;
                }
                if starts {
                    active.insert(entry);
                } else {
                    active.remove(&entry);
                }
                i += 1;
            }
            let owner = active.first().copied();
            if index.owners.last() != Some(&owner) {
                index.starts.push(at);
                index.owners.push(owner);
            }
        }
        index
    }

    fn find(&self, t: DateTime<Utc>) -> Option<usize> {
        let after = self.starts.partition_point(|start| *start <= t);
        after
            .checked_sub(1)
            .and_then(|i| self.owners.get(i).copied().flatten())
    }
}

impl Calendar {
    /// An empty calendar whose entries are read in `zone`.
    pub fn new(zone: Tz) -> Calendar {
        Calendar {
            zone,
            entries: Vec::new(),
            index: OnceLock::new(),
        }
    }

    /// Adds an entry such as `2026-12-25`, `2026-12-20..2027-01-04` or
    /// `2026-11-21T14:00..2026-11-21T16:30`.
    pub fn add(&mut self, entry: &str, name: Option<String>) -> Result<(), SpecError> {
        let (start, end) = match entry.find("..") {
            Some(at) => {
                let (start_text, start_offset) = trimmed(entry, 0, at);
                let (end_text, end_offset) = trimmed(entry, at + 2, entry.len());
                if let Some(again) = end_text.find("..") {
                    return Err(SpecError::new(
                        end_offset + again,
                        2,
                        "a range has one `..`: write `2026-12-20..2027-01-04`",
                    ));
                }
                let start = parse_bound(start_text, start_offset, "start date")?;
                let end = parse_bound(end_text, end_offset, "end date")?;
                (
                    (start, start_offset, start_text.len()),
                    (end, end_offset, end_text.len()),
                )
            }
            None => {
                let (text, offset) = trimmed(entry, 0, entry.len());
                match parse_bound(text, offset, "date")? {
                    Bound::Date(d) => (
                        (Bound::Date(d), offset, text.len()),
                        (Bound::Date(d), offset, text.len()),
                    ),
                    Bound::DateTime(_) => {
                        return Err(SpecError::new(
                            offset,
                            text.len(),
                            format!(
                                "a date-time needs an end: write `{text}..` and the end, \
                                 such as `2026-11-21T14:00..2026-11-21T16:30`"
                            ),
                        ))
                    }
                }
            }
        };
        self.add_bounds(entry, start, end, name)
    }

    /// Adds a range given as two separate texts, as read from the `from`
    /// and `to` columns of a table. Error offsets are into `from` or `to`;
    /// the returned flag says which (`false` for `from`).
    pub(crate) fn add_from_to(
        &mut self,
        from: &str,
        to: &str,
        name: Option<String>,
    ) -> Result<(), (bool, SpecError)> {
        let (from_text, from_offset) = trimmed(from, 0, from.len());
        let (to_text, to_offset) = trimmed(to, 0, to.len());
        let start = parse_bound(from_text, from_offset, "start date").map_err(|e| (false, e))?;
        let end = parse_bound(to_text, to_offset, "end date").map_err(|e| (true, e))?;
        let spec = format!("{from_text}..{to_text}");
        self.add_bounds(
            &spec,
            (start, from_offset, from_text.len()),
            (end, to_offset, to_text.len()),
            name,
        )
        .map_err(|e| (true, e))
    }

    fn add_bounds(
        &mut self,
        spec: &str,
        (start, start_offset, start_len): (Bound, usize, usize),
        (end, end_offset, end_len): (Bound, usize, usize),
        name: Option<String>,
    ) -> Result<(), SpecError> {
        let too_late = || SpecError::new(end_offset, end_len, "date is out of range");
        let start_local = match start {
            Bound::Date(d) => d.and_time(NaiveTime::MIN),
            Bound::DateTime(dt) => dt,
        };
        // A date as end includes that whole day.
        let end_local = match end {
            Bound::Date(d) => d.succ_opt().ok_or_else(too_late)?.and_time(NaiveTime::MIN),
            Bound::DateTime(dt) => dt,
        };
        if end_local <= start_local {
            let message = if end_local == start_local {
                "empty range: it ends where it starts".to_string()
            } else {
                format!("the range ends before it starts (at {start_local})")
            };
            return Err(SpecError::new(end_offset, end_len, message));
        }
        let start = to_instant(start_local, self.zone)
            .ok_or_else(|| SpecError::new(start_offset, start_len, "date is out of range"))?;
        let end = to_instant(end_local, self.zone).ok_or_else(too_late)?;
        self.entries.push(CalendarEntry {
            name,
            spec: spec.trim().to_string(),
            start,
            end,
        });
        self.index = OnceLock::new();
        Ok(())
    }

    /// Whether the instant falls inside any entry.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.entry_at(t).is_some()
    }

    /// The first entry (in the order added) that holds the instant.
    pub fn entry_at(&self, t: DateTime<Utc>) -> Option<&CalendarEntry> {
        if self.entries.is_empty() {
            return None;
        }
        let index = self.index.get_or_init(|| Index::build(&self.entries));
        index.find(t).and_then(|i| self.entries.get(i))
    }

    /// The entries, in the order added.
    pub fn entries(&self) -> &[CalendarEntry] {
        &self.entries
    }

    /// The zone the entries are read in.
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[derive(Debug, Clone, Copy)]
enum Bound {
    Date(NaiveDate),
    DateTime(NaiveDateTime),
}

/// `text[from..to]` without surrounding whitespace, and its offset.
fn trimmed(text: &str, from: usize, to: usize) -> (&str, usize) {
    let part = text.get(from..to).unwrap_or("");
    let start = part.len() - part.trim_start().len();
    (part.trim(), from + start)
}

/// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM[:SS]`; `offset` is where `text`
/// starts in the entry, for error positions.
fn parse_bound(text: &str, offset: usize, what: &str) -> Result<Bound, SpecError> {
    if text.is_empty() {
        return Err(SpecError::new(
            offset,
            0,
            format!("expected a {what} such as `2026-12-25`"),
        ));
    }
    // The `T` of a date-time comes right after `YYYY-MM-DD`.
    let (date_text, time_text) = match text.as_bytes().get(10) {
        Some(b'T' | b't') => (&text[..10], Some((&text[11..], 11))),
        _ => (text, None),
    };
    let date = parse_date(date_text).map_err(|why| {
        SpecError::new(
            offset,
            date_text.len(),
            format!("invalid {what} `{date_text}`: {why}"),
        )
    })?;
    let Some((time_text, time_at)) = time_text else {
        return Ok(Bound::Date(date));
    };
    let bad_time = |why: &str| {
        SpecError::new(
            offset + time_at,
            time_text.len(),
            format!("invalid time `{time_text}`: {why}"),
        )
    };
    let parts: Vec<&str> = time_text.split(':').collect();
    let numbers: Option<Vec<u32>> = parts
        .iter()
        .map(|p| {
            (p.len() == 2 && p.bytes().all(|b| b.is_ascii_digit()))
                .then(|| p.parse().ok())
                .flatten()
        })
        .collect();
    let (hour, minute, second) = match numbers.as_deref() {
        Some([h, m]) => (*h, *m, 0),
        Some([h, m, s]) => (*h, *m, *s),
        _ => return Err(bad_time("expected `HH:MM` or `HH:MM:SS`")),
    };
    if (hour, minute, second) == (24, 0, 0) {
        let next = date
            .succ_opt()
            .ok_or_else(|| bad_time("date is out of range"))?;
        return Ok(Bound::DateTime(next.and_time(NaiveTime::MIN)));
    }
    let time = NaiveTime::from_hms_opt(hour, minute, second)
        .filter(|_| second < 60)
        .ok_or_else(|| bad_time("hours run 00 to 23, minutes and seconds 00 to 59"))?;
    Ok(Bound::DateTime(date.and_time(time)))
}

/// `YYYY-MM-DD`, with a reason when it is not a valid date.
fn parse_date(text: &str) -> Result<NaiveDate, String> {
    let parts: Vec<&str> = text.split('-').collect();
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    let [year, month, day] = parts.as_slice() else {
        return Err("expected `YYYY-MM-DD`".to_string());
    };
    if !(digits(year, 4) && digits(month, 2) && digits(day, 2)) {
        return Err("expected `YYYY-MM-DD`".to_string());
    }
    let (Ok(year), Ok(month), Ok(day)) = (year.parse(), month.parse(), day.parse()) else {
        return Err("expected `YYYY-MM-DD`".to_string());
    };
    if !(1..=12).contains(&month) {
        return Err("months run 01 to 12".to_string());
    }
    NaiveDate::from_ymd_opt(year, month, day).ok_or_else(|| {
        let days = days_in_month(year, month);
        format!("{} {year} has {days} days", month_name(month))
    })
}

fn days_in_month(year: i32, month: u32) -> u32 {
    let first = NaiveDate::from_ymd_opt(year, month, 1);
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)
    };
    match (first, next) {
        (Some(a), Some(b)) => u32::try_from((b - a).num_days()).unwrap_or(31),
        _ => 31,
    }
}

fn month_name(month: u32) -> &'static str {
    const NAMES: [&str; 12] = [
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ];
    NAMES
        .get(month.wrapping_sub(1) as usize)
        .copied()
        .unwrap_or("month")
}

/// The instant a local date-time names in `zone`: the first of two when
/// clocks go back, the first instant after the gap when they go forward.
fn to_instant(local: NaiveDateTime, zone: Tz) -> Option<DateTime<Utc>> {
    match zone.from_local_datetime(&local) {
        LocalResult::Single(t) | LocalResult::Ambiguous(t, _) => Some(t.with_timezone(&Utc)),
        LocalResult::None => {
            // Gaps are at most a day (Samoa skipped 2011-12-30), and
            // transitions fall on whole minutes: step to the first local
            // minute that exists, which is the transition itself.
            (1..=(MINUTES_PER_DAY as i64 + 120)).find_map(|m| {
                let later = local.checked_add_signed(Duration::minutes(m))?;
                zone.from_local_datetime(&later)
                    .earliest()
                    .map(|t| t.with_timezone(&Utc))
            })
        }
    }
}
