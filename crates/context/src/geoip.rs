//! GeoIP: what MaxMind-format databases (`.mmdb`) say about an address.
//!
//! Any number of databases can be opened together (`--geoip FILE`,
//! repeatable): MaxMind's Country, City, ASN, ISP, Anonymous-IP, Enterprise,
//! or any other `.mmdb`, such as DB-IP's or IPinfo's free ones. Two ways in:
//!
//! - [`GeoIp::lookup`] gives a *summary*: one flat JSON object that merges
//!   what every database knows about the address, under fixed names
//!   ([`SUMMARY_FIELDS`]: `country_code`, `city`, `asn`, `is_tor_exit_node`,
//!   ...). The first database (in the order given) that provides a field
//!   wins. The summary is read by key from whatever layout a database has,
//!   MaxMind's nested one (`country.iso_code`, `traits.isp`) or a flat one
//!   (`country_code`, IPinfo's `country` and `asn: "AS15169"`), so a
//!   database of an unknown vendor is not silently ignored.
//! - [`GeoIp::lookup_in`] gives the whole record of one database, chosen by
//!   its `database_type` (e.g. `"GeoIP2-City"`), for anything the summary
//!   does not carry.
//!
//! CloudTrail's `sourceIPAddress` is often not an address at all ("AWS
//! Internal", "ec2.amazonaws.com", two addresses joined by a comma). Such
//! text, like any text that is not exactly one address ([`parse_ip`]),
//! gives `None`, never an error. So does an address no database knows, and
//! so does a database that fails while reading a record: a corrupt file
//! must not stop a run half-way through a day of logs.
//!
//! Answers are cached per address in a bounded cache shared by all threads
//! ([`GeoIp`] is `Send + Sync`), because the same few addresses repeat
//! across millions of records, and because watch mode runs for ever, so the
//! cache must not grow without bound.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::fmt;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};

use serde::de::{Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// How many addresses each cache holds before it starts over.
pub const CACHE_CAPACITY: usize = 100_000;

/// The summary field names with a one-line description each, in the order
/// they appear in a summary. For documentation and "did you mean" hints.
#[rustfmt::skip]
pub const SUMMARY_FIELDS: &[(&str, &str)] = &[
    ("country_code", "ISO 3166-1 alpha-2 code of the country where the address is used, e.g. \"GB\""),
    ("country", "English name of that country, e.g. \"United Kingdom\""),
    ("continent_code", "two-letter continent code: AF, AN, AS, EU, NA, OC or SA"),
    ("continent", "English name of the continent, e.g. \"Europe\""),
    ("registered_country_code", "ISO code of the country where the network is registered (may differ from country_code)"),
    ("is_in_european_union", "true when the country is a member of the European Union"),
    ("city", "English name of the city, e.g. \"London\""),
    ("subdivision", "English name of the first (largest) subdivision: state, region, county, e.g. \"England\""),
    ("subdivision_code", "ISO 3166-2 code of that subdivision, without the country, e.g. \"ENG\""),
    ("postal_code", "postal code, e.g. \"98354\""),
    ("latitude", "approximate latitude, in degrees"),
    ("longitude", "approximate longitude, in degrees"),
    ("accuracy_radius", "radius in kilometres around latitude/longitude where the address likely is"),
    ("time_zone", "IANA time zone of the location, e.g. \"Europe/London\""),
    ("asn", "autonomous system number, e.g. 29518"),
    ("as_org", "organization that owns the autonomous system, e.g. \"Bredband2 AB\""),
    ("isp", "name of the internet service provider"),
    ("organization", "name of the organization the address is assigned to"),
    ("domain", "second-level domain of the address, e.g. \"example.com\""),
    ("connection_type", "connection type: \"Cable/DSL\", \"Cellular\", \"Corporate\" or \"Satellite\""),
    ("user_type", "kind of user: \"business\", \"residential\", \"hosting\", \"government\", ..."),
    ("is_anonymous", "true when the address belongs to any anonymous network (VPN, proxy, Tor, hosting)"),
    ("is_anonymous_vpn", "true when the address belongs to an anonymous VPN provider"),
    ("is_hosting_provider", "true when the address belongs to a hosting or VPN provider"),
    ("is_public_proxy", "true when the address is a public proxy"),
    ("is_residential_proxy", "true when the address is on a suspected anonymizing residential network"),
    ("is_tor_exit_node", "true when the address is a Tor exit node"),
    ("is_anycast", "true when the address belongs to an anycast network"),
    ("provider_name", "name of the VPN or proxy provider behind the address"),
    ("anonymizer_confidence", "confidence (1-99) that the address is an anonymizer"),
    ("ip_risk", "risk score of the address (0.01-99)"),
];

/// What a summary field accepts from a database record.
#[derive(Clone, Copy)]
enum Kind {
    /// Any non-empty string.
    Text,
    /// A two-letter code, as IPinfo writes `"country": "US"`.
    Code2,
    /// A string that is not a two-letter code: `"country": "Germany"`.
    LongText,
    /// A number, or a string that is one (`"51.5"`).
    Number,
    /// An unsigned integer, or a string like `"AS15169"` or `"15169"`.
    Asn,
    /// `true`/`false`, or 1/0.
    Bool,
}

/// Where each summary field is found, as JSON pointers tried in order:
/// MaxMind's nested layout first, then the flat layouts seen in the wild.
#[rustfmt::skip]
const SOURCES: &[(&str, Kind, &[&str])] = &[
    ("country_code", Kind::Code2, &["/country/iso_code", "/country_code", "/country_iso_code", "/country_short", "/country"]),
    ("country", Kind::LongText, &["/country/names/en", "/country_name", "/country_long", "/country"]),
    ("continent_code", Kind::Code2, &["/continent/code", "/continent_code", "/continent"]),
    ("continent", Kind::LongText, &["/continent/names/en", "/continent_name", "/continent"]),
    ("registered_country_code", Kind::Code2, &["/registered_country/iso_code", "/registered_country_code"]),
    ("is_in_european_union", Kind::Bool, &["/country/is_in_european_union", "/is_in_european_union"]),
    ("city", Kind::Text, &["/city/names/en", "/city_name", "/city"]),
    ("subdivision", Kind::Text, &["/subdivisions/0/names/en", "/subdivision", "/region_name", "/region", "/state"]),
    ("subdivision_code", Kind::Text, &["/subdivisions/0/iso_code", "/subdivision_code", "/region_code"]),
    ("postal_code", Kind::Text, &["/postal/code", "/postal_code", "/zip_code", "/postal"]),
    ("latitude", Kind::Number, &["/location/latitude", "/latitude", "/lat"]),
    ("longitude", Kind::Number, &["/location/longitude", "/longitude", "/lng", "/lon"]),
    ("accuracy_radius", Kind::Number, &["/location/accuracy_radius", "/accuracy_radius"]),
    ("time_zone", Kind::Text, &["/location/time_zone", "/time_zone", "/timezone"]),
    ("asn", Kind::Asn, &["/autonomous_system_number", "/traits/autonomous_system_number", "/asn"]),
    ("as_org", Kind::Text, &["/autonomous_system_organization", "/traits/autonomous_system_organization", "/as_name", "/as_org", "/asn_org", "/as_organization"]),
    ("isp", Kind::Text, &["/isp", "/traits/isp"]),
    ("organization", Kind::Text, &["/organization", "/traits/organization", "/org"]),
    ("domain", Kind::Text, &["/domain", "/traits/domain"]),
    ("connection_type", Kind::Text, &["/connection_type", "/traits/connection_type"]),
    ("user_type", Kind::Text, &["/user_type", "/traits/user_type"]),
    ("is_anonymous", Kind::Bool, &["/is_anonymous", "/traits/is_anonymous"]),
    ("is_anonymous_vpn", Kind::Bool, &["/is_anonymous_vpn", "/traits/is_anonymous_vpn"]),
    ("is_hosting_provider", Kind::Bool, &["/is_hosting_provider", "/traits/is_hosting_provider"]),
    ("is_public_proxy", Kind::Bool, &["/is_public_proxy", "/traits/is_public_proxy"]),
    ("is_residential_proxy", Kind::Bool, &["/is_residential_proxy", "/traits/is_residential_proxy"]),
    ("is_tor_exit_node", Kind::Bool, &["/is_tor_exit_node", "/traits/is_tor_exit_node"]),
    ("is_anycast", Kind::Bool, &["/is_anycast", "/traits/is_anycast"]),
    ("provider_name", Kind::Text, &["/provider_name", "/traits/provider_name"]),
    ("anonymizer_confidence", Kind::Number, &["/anonymizer_confidence", "/traits/anonymizer_confidence"]),
    ("ip_risk", Kind::Number, &["/ip_risk", "/traits/ip_risk"]),
];

/// Why a database could not be opened. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum GeoIpError {
    /// The file could not be read: not found, a directory, no permission.
    #[error("cannot read GeoIP database {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file was read but is not a MaxMind database, or a damaged one.
    #[error("{} is not a usable MaxMind database (.mmdb): {reason}", path.display())]
    Invalid { path: PathBuf, reason: String },
}

/// One opened database.
pub struct Database {
    /// The file it was read from, as given.
    pub path: PathBuf,
    /// `database_type` from its metadata, e.g. "GeoIP2-Country",
    /// "GeoLite2-ASN", "DBIP-Country-Lite".
    pub database_type: String,
    /// 4 for an IPv4-only database, 6 otherwise.
    pub ip_version: u16,
    /// When it was built, in seconds since 1970 (from its metadata).
    pub build_epoch: u64,
    reader: maxminddb::Reader<Vec<u8>>,
    /// Whole records, for [`GeoIp::lookup_in`].
    records: Cache,
}

impl fmt::Debug for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Database")
            .field("path", &self.path)
            .field("database_type", &self.database_type)
            .field("ip_version", &self.ip_version)
            .field("build_epoch", &self.build_epoch)
            .finish_non_exhaustive()
    }
}

impl Database {
    /// Reads and checks one file.
    pub fn open(path: &Path) -> Result<Database, GeoIpError> {
        // Read it ourselves so an I/O failure and a bad format get
        // different messages.
        let bytes = std::fs::read(path).map_err(|source| GeoIpError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let reader =
            maxminddb::Reader::from_source(bytes).map_err(|error| GeoIpError::Invalid {
                path: path.to_path_buf(),
                reason: error.to_string(),
            })?;
        let metadata = reader.metadata();
        Ok(Database {
            path: path.to_path_buf(),
            database_type: metadata.database_type.clone(),
            ip_version: metadata.ip_version,
            build_epoch: metadata.build_epoch,
            records: Cache::new(CACHE_CAPACITY),
            reader,
        })
    }

    /// The whole record for `ip`, uncached. `None` when the database has no
    /// data for it, cannot hold it (IPv6 in an IPv4-only database) or fails
    /// while reading it.
    pub fn record(&self, ip: IpAddr) -> Option<Value> {
        // The reader refuses IPv6 in an IPv4 tree with an error; asking is
        // pointless, so skip it.
        if ip.is_ipv6() && self.ip_version == 4 {
            return None;
        }
        let found = self.reader.lookup(ip).ok()?;
        let record = found.decode::<Json>().ok()??;
        Some(record.0)
    }
}

/// A set of databases, looked up together, with their caches.
pub struct GeoIp {
    databases: Vec<Database>,
    /// Summaries, per address.
    summaries: Cache,
    /// Summaries given outright, in place of databases: the GeoIP answers
    /// a rule test supplies (`ctrules test`).
    answers: HashMap<IpAddr, Arc<Value>>,
}

impl fmt::Debug for GeoIp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeoIp")
            .field("databases", &self.databases)
            .finish_non_exhaustive()
    }
}

impl GeoIp {
    /// Opens the databases, in this order (the order decides which wins when
    /// two provide the same summary field). Fails on the first file that
    /// cannot be used, naming it.
    pub fn open(paths: &[PathBuf]) -> Result<GeoIp, GeoIpError> {
        let databases = paths
            .iter()
            .map(|path| Database::open(path))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(GeoIp {
            databases,
            ..GeoIp::empty()
        })
    }

    /// No databases: every lookup gives `None`.
    pub fn empty() -> GeoIp {
        GeoIp {
            databases: Vec::new(),
            summaries: Cache::new(CACHE_CAPACITY),
            answers: HashMap::new(),
        }
    }

    /// A GeoIP that knows only the given summaries, by address: what a rule
    /// test supplies in place of a database. A key that is not one address
    /// is an error naming it.
    pub fn from_answers(
        answers: impl IntoIterator<Item = (String, Value)>,
    ) -> Result<GeoIp, String> {
        let mut geoip = GeoIp::empty();
        for (text, summary) in answers {
            let ip = parse_ip(&text).ok_or_else(|| format!("`{text}` is not an IP address"))?;
            geoip.answers.insert(ip, Arc::new(summary));
        }
        Ok(geoip)
    }

    /// True when no database was opened.
    pub fn is_empty(&self) -> bool {
        self.databases.is_empty() && self.answers.is_empty()
    }

    /// The databases, in the order given.
    pub fn databases(&self) -> &[Database] {
        &self.databases
    }

    /// The summary of an address across all databases, as a JSON object
    /// with only the keys known for it (see [`SUMMARY_FIELDS`]). `None` when
    /// `text` is not exactly one IP address or no database knows anything
    /// about it.
    pub fn lookup(&self, text: &str) -> Option<Arc<Value>> {
        if !self.answers.is_empty() {
            return self.answers.get(&parse_ip(text)?).cloned();
        }
        if self.databases.is_empty() {
            return None;
        }
        // Non-addresses are not cached: rejecting one is cheaper than a
        // cache look-up, and they would crowd real addresses out.
        let ip = parse_ip(text)?;
        self.summaries.get_or_insert_with(ip, || self.summarize(ip))
    }

    /// The whole record of the first database whose `database_type` is
    /// exactly `database_type`, for fields the summary does not carry.
    /// `None` when no database has that type, `text` is not an address, or
    /// the database has nothing for it.
    pub fn lookup_in(&self, database_type: &str, text: &str) -> Option<Arc<Value>> {
        let database = self
            .databases
            .iter()
            .find(|database| database.database_type == database_type)?;
        let ip = parse_ip(text)?;
        database
            .records
            .get_or_insert_with(ip, || database.record(ip).filter(is_not_empty))
    }

    /// Builds the summary of `ip` from every database, uncached.
    fn summarize(&self, ip: IpAddr) -> Option<Value> {
        let mut summary = Map::new();
        for database in &self.databases {
            if summary.len() == SOURCES.len() {
                break;
            }
            if let Some(record) = database.record(ip) {
                add_to_summary(&mut summary, &record);
            }
        }
        if summary.is_empty() {
            return None;
        }
        // Fixed key order whatever the order of the databases, so output
        // is stable.
        let ordered = SOURCES
            .iter()
            .filter_map(|(name, _, _)| {
                summary
                    .remove(*name)
                    .map(|value| ((*name).to_owned(), value))
            })
            .collect();
        Some(Value::Object(ordered))
    }
}

/// Adds to `summary` the fields that `record` provides and that are not
/// there yet (the first database to provide a field wins).
fn add_to_summary(summary: &mut Map<String, Value>, record: &Value) {
    if !record.is_object() {
        return;
    }
    for (name, kind, pointers) in SOURCES {
        if summary.contains_key(*name) {
            continue;
        }
        let found = pointers
            .iter()
            .filter_map(|pointer| record.pointer(pointer))
            .find_map(|value| convert(*kind, value));
        if let Some(value) = found {
            summary.insert((*name).to_owned(), value);
        }
    }
}

/// `value` as a summary field of this kind, or `None` when it does not fit
/// (wrong type, empty string).
fn convert(kind: Kind, value: &Value) -> Option<Value> {
    match (kind, value) {
        (Kind::Text, Value::String(text)) if !text.trim().is_empty() => Some(value.clone()),
        (Kind::Code2, Value::String(text))
            if text.len() == 2 && text.bytes().all(|b| b.is_ascii_alphabetic()) =>
        {
            Some(Value::String(text.to_ascii_uppercase()))
        }
        (Kind::LongText, Value::String(text)) if text.trim().chars().count() > 2 => {
            Some(value.clone())
        }
        (Kind::Number, Value::Number(_)) => Some(value.clone()),
        (Kind::Number, Value::String(text)) => {
            let number = text.trim().parse::<f64>().ok()?;
            Number::from_f64(number).map(Value::Number)
        }
        (Kind::Asn, Value::Number(number)) => number.as_u64().map(Value::from),
        (Kind::Asn, Value::String(text)) => {
            let digits = text.trim();
            let digits = digits
                .strip_prefix("AS")
                .or_else(|| digits.strip_prefix("as"))
                .unwrap_or(digits);
            digits.parse::<u64>().ok().map(Value::from)
        }
        (Kind::Bool, Value::Bool(_)) => Some(value.clone()),
        (Kind::Bool, Value::Number(number)) => match number.as_u64() {
            Some(0) => Some(Value::Bool(false)),
            Some(1) => Some(Value::Bool(true)),
            _ => None,
        },
        _ => None,
    }
}

fn is_not_empty(record: &Value) -> bool {
    match record {
        Value::Object(map) => !map.is_empty(),
        Value::Null => false,
        _ => true,
    }
}

/// `text` as an IP address when it is exactly one, in the standard forms
/// only: no spaces, no port, no zone, no list, no leading zeros
/// ("253.252.51.07" is refused, as it is ambiguous). An IPv4-mapped IPv6
/// address (`::ffff:81.2.69.142`) gives its IPv4 address.
pub fn parse_ip(text: &str) -> Option<IpAddr> {
    // The longest address text is an IPv6 address with an IPv4 tail (45
    // bytes); checking the length first keeps long texts cheap.
    if text.is_empty() || text.len() > 45 {
        return None;
    }
    match text.parse::<IpAddr>().ok()? {
        IpAddr::V6(v6) => Some(match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        }),
        v4 => Some(v4),
    }
}

/// A bounded map from address to answer, shared between threads.
///
/// Split into shards, each behind its own lock, so that threads looking up
/// different addresses rarely wait for each other. A shard that is full is
/// emptied and starts over: cruder than least-recently-used, but the memory
/// stays bounded, and a GeoIP answer is cheap to compute again.
struct Cache {
    shards: Box<[Shard]>,
    shard_capacity: usize,
    hasher: RandomState,
}

/// Answers for some of the addresses; `None` for an address nobody knows.
type Shard = RwLock<HashMap<IpAddr, Option<Arc<Value>>>>;

const CACHE_SHARDS: usize = 16;

impl Cache {
    fn new(capacity: usize) -> Cache {
        Cache {
            shards: (0..CACHE_SHARDS)
                .map(|_| RwLock::new(HashMap::new()))
                .collect(),
            shard_capacity: capacity.div_ceil(CACHE_SHARDS).max(1),
            hasher: RandomState::new(),
        }
    }

    /// The cached answer for `ip`, or `compute`'s, which is then cached
    /// (`None` too: an address no database knows is asked again and again).
    fn get_or_insert_with(
        &self,
        ip: IpAddr,
        compute: impl FnOnce() -> Option<Value>,
    ) -> Option<Arc<Value>> {
        let index = (self.hasher.hash_one(ip) as usize) % self.shards.len();
        let shard = &self.shards[index];
        // A panic in another thread while it held the lock leaves the map
        // intact (inserts are single calls), so a poisoned lock is used as is.
        if let Some(answer) = shard
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&ip)
        {
            return answer.clone();
        }
        // Computed outside the lock; two threads may compute the same
        // answer at once, which is harmless.
        let answer = compute().map(Arc::new);
        let mut map = shard.write().unwrap_or_else(PoisonError::into_inner);
        if map.len() >= self.shard_capacity {
            map.clear();
        }
        map.insert(ip, answer.clone());
        answer
    }
}

/// A record decoded into JSON, keeping what `serde_json::Value`'s own
/// decoder would refuse: 128-bit integers (as a number when they fit in 64
/// bits, else as a decimal string) and byte strings (as arrays of numbers).
struct Json(Value);

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonVisitor).map(Json)
    }
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a MaxMind DB value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u128<E>(self, value: u128) -> Result<Value, E> {
        Ok(match u64::try_from(value) {
            Ok(small) => Value::from(small),
            Err(_) => Value::String(value.to_string()),
        })
    }

    fn visit_f32<E>(self, value: f32) -> Result<Value, E> {
        // Through its shortest decimal form, so 1.1f32 reads 1.1, not
        // 1.100000023841858.
        let widened = value.to_string().parse::<f64>().unwrap_or(f64::from(value));
        Ok(Number::from_f64(widened).map_or(Value::Null, Value::Number))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_bytes<E>(self, value: &[u8]) -> Result<Value, E> {
        Ok(Value::Array(
            value.iter().map(|&b| Value::from(b)).collect(),
        ))
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(JsonVisitor)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(Json(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some((key, Json(value))) = map.next_entry::<String, Json>()? {
            object.insert(key, value);
        }
        Ok(Value::Object(object))
    }
}
