//! CloudTrail's layout in S3, and listing only the part of it a run asks for.
//!
//! CloudTrail writes `[<prefix>/]AWSLogs/[<org-id>/]<account>/CloudTrail/<region>/YYYY/MM/DD/<file>`
//! (and `CloudTrail-Insight/` beside `CloudTrail/`, `CloudTrail-Digest/` for
//! digests). With `--account`, `--region`, `--from` or `--to`, a run walks
//! that tree level by level with delimiter listings, keeping only the
//! matching accounts, regions and days, and lists in full only the day
//! prefixes that are left: a question about one day of one account lists
//! that day, not the bucket. Every key listed is also checked against the
//! filters ([`KeyFacts`]), so a key in an unexpected place is never taken by
//! mistake.

use chrono::NaiveDate;

/// What to keep of a trail.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// 12-digit account ids; empty: all.
    pub accounts: Vec<String>,
    /// Region names (`us-east-1`); empty: all.
    pub regions: Vec<String>,
    /// First and last day, inclusive (the date in the key, UTC).
    pub from: Option<NaiveDate>,
    pub to: Option<NaiveDate>,
}

impl Filters {
    /// Filters as given on the command line: accounts must be 12 digits,
    /// repeats are dropped, and `from` may not come after `to`.
    pub fn new(
        accounts: &[String],
        regions: &[String],
        from: Option<NaiveDate>,
        to: Option<NaiveDate>,
    ) -> Result<Filters, String> {
        if let Some(bad) = accounts.iter().find(|a| !is_account(a)) {
            return Err(format!("--account {bad:?}: an account id is 12 digits"));
        }
        if let Some(bad) = regions.iter().find(|r| r.is_empty() || r.contains('/')) {
            return Err(format!("--region {bad:?} is not a region name"));
        }
        if let (Some(f), Some(t)) = (from, to) {
            if f > t {
                return Err(format!(
                    "--from {f} comes after --to {t}: no day is in between"
                ));
            }
        }
        let set = |v: &[String]| {
            let mut v = v.to_vec();
            v.sort();
            v.dedup();
            v
        };
        Ok(Filters {
            accounts: set(accounts),
            regions: set(regions),
            from,
            to,
        })
    }

    pub fn is_empty(&self) -> bool {
        self.accounts.is_empty()
            && self.regions.is_empty()
            && self.from.is_none()
            && self.to.is_none()
    }

    fn account(&self, a: &str) -> bool {
        self.accounts.is_empty() || self.accounts.iter().any(|x| x == a)
    }

    fn region(&self, r: &str) -> bool {
        self.regions.is_empty() || self.regions.iter().any(|x| x == r)
    }

    /// Whether any day of the period `[first, last]` is within the filter.
    fn period(&self, first: NaiveDate, last: NaiveDate) -> bool {
        self.from.is_none_or(|f| last >= f) && self.to.is_none_or(|t| first <= t)
    }

    /// Whether a key's facts pass every filter. A key outside the layout
    /// passes only when there is no filter.
    pub fn keeps(&self, facts: Option<&KeyFacts<'_>>) -> bool {
        match facts {
            None => self.is_empty(),
            Some(k) => {
                self.account(k.account)
                    && self.region(k.region)
                    && match k.date {
                        Some(d) => self.period(d, d),
                        None => self.from.is_none() && self.to.is_none(),
                    }
            }
        }
    }
}

/// The kind of a CloudTrail prefix (the level under the account).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `CloudTrail/`: log files.
    Logs,
    /// `CloudTrail-Insight/`: Insights events, log files like the others.
    Insight,
    /// `CloudTrail-Digest/`: integrity digests, never read.
    Digest,
    /// Anything else under an account (`Config/`, ...).
    Other,
}

impl Kind {
    fn of(segment: &str) -> Kind {
        match segment {
            "CloudTrail" => Kind::Logs,
            "CloudTrail-Insight" => Kind::Insight,
            "CloudTrail-Digest" => Kind::Digest,
            _ => Kind::Other,
        }
    }

    pub fn is_log(self) -> bool {
        matches!(self, Kind::Logs | Kind::Insight)
    }
}

/// What a key says of itself, read from its place in the layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyFacts<'k> {
    pub org: Option<&'k str>,
    pub account: &'k str,
    pub kind: Kind,
    pub region: &'k str,
    pub date: Option<NaiveDate>,
}

fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// The segments after the last `AWSLogs/` of a key or prefix.
fn after_awslogs(key: &str) -> Option<&str> {
    if let Some(rest) = key.strip_prefix("AWSLogs/") {
        return Some(rest);
    }
    key.rfind("/AWSLogs/")
        .map(|i| &key[i + "/AWSLogs/".len()..])
}

/// Reads a key's account, kind, region and date from its place in the layout.
pub fn key_facts(key: &str) -> Option<KeyFacts<'_>> {
    let mut segs = after_awslogs(key)?.split('/');
    let mut first = segs.next()?;
    // The folder above the account is the organization's id (`o-...`);
    // any name is taken, as CloudTrail's own checks are not ours to make.
    let org = if !is_account(first) {
        let org = first;
        first = segs.next()?;
        Some(org)
    } else {
        None
    };
    if !is_account(first) {
        return None;
    }
    let kind = Kind::of(segs.next()?);
    let region = segs.next()?;
    let date = (|| {
        let y = segs.next()?.parse().ok()?;
        let m = segs.next()?.parse().ok()?;
        let d = segs.next()?.parse().ok()?;
        segs.next()?; // a file below the day
        NaiveDate::from_ymd_opt(y, m, d)
    })();
    Some(KeyFacts {
        org,
        account: first,
        kind,
        region,
        date,
    })
}

/// How many levels above `AWSLogs/` a filtered listing looks for trails.
const MAX_SEARCH_DEPTH: usize = 3;

/// Listing one level of a bucket: the common prefixes right under `prefix`
/// (each ending in `/`).
#[allow(async_fn_in_trait)]
pub trait ListLevel {
    type Error;
    async fn children(&self, prefix: &str) -> Result<Vec<String>, Self::Error>;
}

/// Where a prefix stands in the layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Level {
    /// Above `AWSLogs/`.
    Top,
    /// Under `AWSLogs/`: organizations or accounts.
    AwsLogs,
    /// Under an organization: accounts.
    Org,
    /// Under an account: `CloudTrail/`, ...
    Account,
    /// Under `CloudTrail/` or `CloudTrail-Insight/`: regions.
    Kind,
    /// Under a region: years.
    Region,
    Year(i32),
    Month(i32, u32),
    /// A day, or anything deeper: listed in full.
    Day,
}

/// Where `prefix` (ending in `/`, or empty) stands, and whether the filters
/// already exclude it.
fn level_of(prefix: &str, filters: &Filters) -> Option<Level> {
    let Some(rest) = after_awslogs(prefix) else {
        return Some(Level::Top);
    };
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let mut i = 0;
    let mut level = Level::AwsLogs;
    if segs.get(i).is_some_and(|s| !is_account(s)) {
        i += 1;
        level = Level::Org;
    }
    let Some(account) = segs.get(i) else {
        return Some(level);
    };
    if !is_account(account) {
        return Some(Level::Day); // not the layout: list it as it is
    }
    if !filters.account(account) {
        return None;
    }
    let Some(kind) = segs.get(i + 1) else {
        return Some(Level::Account);
    };
    if !Kind::of(kind).is_log() {
        return None;
    }
    let Some(region) = segs.get(i + 2) else {
        return Some(Level::Kind);
    };
    if !filters.region(region) {
        return None;
    }
    let num = |k: usize| segs.get(i + k).and_then(|s| s.parse::<i64>().ok());
    match (num(3), num(4), segs.get(i + 5)) {
        (None, _, _) if segs.len() == i + 3 => Some(Level::Region),
        (Some(y), None, _) if segs.len() == i + 4 => Some(Level::Year(y as i32)),
        (Some(y), Some(m), None) if segs.len() == i + 5 => Some(Level::Month(y as i32, m as u32)),
        _ => Some(Level::Day),
    }
}

fn last_segment(prefix: &str) -> &str {
    prefix
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("")
}

fn year_range(y: i32) -> Option<(NaiveDate, NaiveDate)> {
    Some((
        NaiveDate::from_ymd_opt(y, 1, 1)?,
        NaiveDate::from_ymd_opt(y, 12, 31)?,
    ))
}

fn month_range(y: i32, m: u32) -> Option<(NaiveDate, NaiveDate)> {
    let first = NaiveDate::from_ymd_opt(y, m, 1)?;
    let next = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)?
    };
    Some((first, next.pred_opt()?))
}

/// The prefixes to list in full for `prefix` under `filters`, found by
/// listing level by level. Without filters, `prefix` itself.
pub async fn prefixes_to_list<L: ListLevel>(
    lister: &L,
    prefix: &str,
    filters: &Filters,
    exclude: Option<&str>,
) -> Result<Vec<String>, L::Error> {
    if filters.is_empty() {
        return Ok(vec![prefix.to_string()]);
    }
    let mut out = Vec::new();
    // Each prefix with how many levels above `AWSLogs/` it is searched at.
    let mut stack = vec![(prefix.to_string(), 0usize)];
    while let Some((p, depth)) = stack.pop() {
        let Some(level) = level_of(&p, filters) else {
            continue;
        };
        // Levels whose children the filters name need no listing.
        let named = match level {
            Level::Org if !filters.accounts.is_empty() => Some(&filters.accounts),
            Level::Kind if !filters.regions.is_empty() => Some(&filters.regions),
            _ => None,
        };
        let children = match level {
            Level::Day => {
                out.push(p);
                continue;
            }
            // Trails sit under any prefix (`AWSLogs/`, `mgmt/AWSLogs/`), and
            // a run without filters reads them all: look a few levels down
            // for them, then let the keys' own facts decide below that.
            Level::Top if depth >= MAX_SEARCH_DEPTH => {
                out.push(p);
                continue;
            }
            Level::Top => lister.children(&p).await?,
            _ => match named {
                Some(names) => names.iter().map(|n| format!("{p}{n}/")).collect(),
                None => lister.children(&p).await?,
            },
        };
        let mut keep: Vec<String> = children
            .into_iter()
            .filter(|c| {
                let seg = last_segment(c);
                match level {
                    // An organization is any folder that is not an account.
                    Level::AwsLogs => !is_account(seg) || filters.account(seg),
                    Level::Org => is_account(seg) && filters.account(seg),
                    Level::Account => Kind::of(seg).is_log(),
                    Level::Kind => filters.region(seg),
                    Level::Region => seg
                        .parse()
                        .ok()
                        .and_then(year_range)
                        .is_some_and(|(a, b)| filters.period(a, b)),
                    Level::Year(y) => seg
                        .parse()
                        .ok()
                        .and_then(|m| month_range(y, m))
                        .is_some_and(|(a, b)| filters.period(a, b)),
                    Level::Month(y, m) => seg
                        .parse()
                        .ok()
                        .and_then(|d| NaiveDate::from_ymd_opt(y, m, d))
                        .is_some_and(|d| filters.period(d, d)),
                    Level::Top => !exclude.is_some_and(|x| c.starts_with(x)),
                    Level::Day => true,
                }
            })
            .collect();
        // Depth first, in key order.
        keep.sort();
        keep.dedup();
        stack.extend(keep.into_iter().rev().map(|c| (c, depth + 1)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::BTreeSet;

    /// A bucket in memory, counting the listings asked of it.
    struct Bucket {
        keys: BTreeSet<String>,
        listed: RefCell<Vec<String>>,
    }

    impl ListLevel for Bucket {
        type Error = ();
        async fn children(&self, prefix: &str) -> Result<Vec<String>, ()> {
            self.listed.borrow_mut().push(prefix.to_string());
            let mut out = BTreeSet::new();
            for k in self.keys.range(prefix.to_string()..) {
                let Some(rest) = k.strip_prefix(prefix) else {
                    break;
                };
                if let Some(i) = rest.find('/') {
                    out.insert(format!("{prefix}{}", &rest[..=i]));
                }
            }
            Ok(out.into_iter().collect())
        }
    }

    fn bucket() -> Bucket {
        let mut keys = BTreeSet::new();
        for (org, account) in [
            ("o-abcdefghij/", "111122223333"),
            ("o-abcdefghij/", "444455556666"),
            ("", "777788889999"),
        ] {
            for region in ["us-east-1", "eu-west-1"] {
                for day in ["2024/08/01", "2024/08/02", "2024/09/30", "2025/01/01"] {
                    for kind in ["CloudTrail", "CloudTrail-Digest", "CloudTrail-Insight"] {
                        keys.insert(format!(
                            "trail/AWSLogs/{org}{account}/{kind}/{region}/{day}/{account}_{kind}_{region}_x.json.gz"
                        ));
                        // Two more trails: one under its own prefix, one at
                        // the root beside it, with an org id of another form.
                        keys.insert(format!(
                            "mgmt/AWSLogs/{account}/{kind}/{region}/{day}/{account}_{kind}_{region}_m.json.gz"
                        ));
                        keys.insert(format!(
                            "AWSLogs/o-abc123/{account}/{kind}/{region}/{day}/{account}_{kind}_{region}_r.json.gz"
                        ));
                    }
                }
            }
        }
        Bucket {
            keys,
            listed: RefCell::new(Vec::new()),
        }
    }

    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// The keys the planned prefixes hold, kept by the key filter too.
    fn planned_keys(b: &Bucket, prefix: &str, f: &Filters) -> Vec<String> {
        let prefixes = block_on(prefixes_to_list(b, prefix, f, None)).unwrap();
        let mut keys: Vec<String> = prefixes
            .iter()
            .flat_map(|p| b.keys.iter().filter(move |k| k.starts_with(p.as_str())))
            .filter(|k| {
                let facts = key_facts(k);
                facts.as_ref().is_none_or(|f| f.kind.is_log()) && f.keeps(facts.as_ref())
            })
            .cloned()
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }

    /// The same, decided key by key over the whole bucket.
    fn expected_keys(b: &Bucket, prefix: &str, f: &Filters) -> Vec<String> {
        b.keys
            .iter()
            .filter(|k| k.starts_with(prefix))
            .filter(|k| {
                let facts = key_facts(k);
                facts.as_ref().is_some_and(|x| x.kind.is_log()) && f.keeps(facts.as_ref())
            })
            .cloned()
            .collect()
    }

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn keys_tell_their_account_region_and_day() {
        let k = key_facts(
            "p/AWSLogs/o-abcdefghij/111122223333/CloudTrail/us-east-1/2024/08/01/f.json.gz",
        )
        .unwrap();
        assert_eq!(k.org, Some("o-abcdefghij"));
        assert_eq!(k.account, "111122223333");
        assert_eq!(k.kind, Kind::Logs);
        assert_eq!(k.region, "us-east-1");
        assert_eq!(k.date, Some(date("2024-08-01")));
        let k = key_facts("AWSLogs/111122223333/CloudTrail-Digest/eu-west-1/2024/08/01/f.json.gz")
            .unwrap();
        assert_eq!((k.org, k.kind), (None, Kind::Digest));
        assert_eq!(key_facts("other/f.json.gz"), None);
        assert_eq!(
            key_facts("AWSLogs/12345/CloudTrail/us-east-1/2024/08/01/f"),
            None
        );
    }

    #[test]
    fn each_filter_lists_only_what_it_keeps() {
        let cases = [
            Filters::default(),
            Filters {
                accounts: vec!["444455556666".into()],
                ..Filters::default()
            },
            Filters {
                accounts: vec!["777788889999".into()],
                ..Filters::default()
            },
            Filters {
                regions: vec!["eu-west-1".into()],
                ..Filters::default()
            },
            Filters {
                from: Some(date("2024-08-02")),
                ..Filters::default()
            },
            Filters {
                to: Some(date("2024-08-01")),
                ..Filters::default()
            },
            Filters {
                from: Some(date("2024-08-02")),
                to: Some(date("2024-09-30")),
                ..Filters::default()
            },
            Filters {
                accounts: vec!["111122223333".into(), "777788889999".into()],
                regions: vec!["us-east-1".into()],
                from: Some(date("2024-08-01")),
                to: Some(date("2024-08-01")),
            },
            Filters {
                accounts: vec!["000000000000".into()],
                ..Filters::default()
            },
        ];
        for prefix in [
            "",
            "trail/",
            "trail/AWSLogs/",
            "trail/AWSLogs/o-abcdefghij/",
            "trail/AWSLogs/o-abcdefghij/111122223333/CloudTrail/",
        ] {
            for f in &cases {
                let b = bucket();
                assert_eq!(
                    planned_keys(&b, prefix, f),
                    expected_keys(&b, prefix, f),
                    "{prefix:?} {f:?}"
                );
            }
        }
    }

    #[test]
    fn one_day_of_one_account_and_region_lists_that_day_only() {
        let b = bucket();
        let f = Filters {
            accounts: vec!["111122223333".into()],
            regions: vec!["us-east-1".into()],
            from: Some(date("2024-08-01")),
            to: Some(date("2024-08-01")),
        };
        let prefixes = block_on(prefixes_to_list(&b, "trail/", &f, None)).unwrap();
        assert_eq!(
            prefixes,
            [
                "trail/AWSLogs/o-abcdefghij/111122223333/CloudTrail-Insight/us-east-1/2024/08/01/",
                "trail/AWSLogs/o-abcdefghij/111122223333/CloudTrail/us-east-1/2024/08/01/",
            ]
        );
        // No listing of the other account, of digests or of other regions.
        for listed in b.listed.borrow().iter() {
            assert!(
                !listed.contains("444455556666")
                    && !listed.contains("Digest")
                    && !listed.contains("eu-west-1"),
                "{listed}"
            );
        }
    }
}
