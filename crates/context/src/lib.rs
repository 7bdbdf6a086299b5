//! Facts that are not in the event, for rules to use.
//!
//! - [`geoip`] looks up an address in any number of MaxMind databases
//!   (Country, City, ASN, Anonymous-IP, or any other `.mmdb`), cached per
//!   distinct value.
//! - [`time`] reads `eventTime` in a named time zone, and holds schedules
//!   ("Mon-Fri 09:00-18:00") and calendars (holidays, deploy windows).
//! - [`tables`] loads lookup tables from CSV or JSON files beside the rules.
//! - [`actor`] resolves who acted, whatever `userIdentity.type` says.
//!
//! Each is loaded once, before any record is read, and is read-only after;
//! evaluation shares it between threads. This crate knows nothing of the
//! rule language: the compiler decides how rules reach these facts.

pub mod actor;
pub mod geoip;
pub mod tables;
pub mod time;
