//! What a watch has done, for people and for monitoring: the periodic
//! one-line status on standard error, and the Prometheus text served by
//! `--metrics ADDR`.
//!
//! Counters only grow (Prometheus computes rates itself); the status line
//! computes its own rate over the last interval.

use crate::report::{FileReport, Stage, Status};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Upper bounds, in seconds, of the processing-latency histogram: from a
/// small file on a local disk to a large object behind a slow link.
const LATENCY_BUCKETS: [f64; 9] = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0];

const STAGES: [Stage; 6] = [
    Stage::Discover,
    Stage::Open,
    Stage::Read,
    Stage::Write,
    Stage::Commit,
    Stage::Checkpoint,
];

fn stage_name(stage: Stage) -> &'static str {
    match stage {
        Stage::Discover => "discover",
        Stage::Open => "open",
        Stage::Read => "read",
        Stage::Write => "write",
        Stage::Commit => "commit",
        Stage::Checkpoint => "checkpoint",
    }
}

/// The counters of one watch, shared by its workers.
pub struct Stats {
    started: Instant,
    pub files_processed: AtomicU64,
    pub files_skipped: AtomicU64,
    pub files_already_done: AtomicU64,
    failed: [AtomicU64; STAGES.len()],
    pub events: AtomicU64,
    pub bytes: AtomicU64,
    pub reloads_ok: AtomicU64,
    pub reloads_failed: AtomicU64,
    /// Messages received, deleted, and left for redelivery (SQS).
    pub messages_received: AtomicU64,
    pub messages_deleted: AtomicU64,
    pub messages_returned: AtomicU64,
    /// Seconds between a notification being sent and being received, the
    /// last one seen, in milliseconds (SQS).
    pub queue_lag_ms: AtomicU64,
    latency: Mutex<Histogram>,
    rules_version: Mutex<String>,
    last_status: Mutex<(Instant, u64)>,
}

#[derive(Default)]
struct Histogram {
    buckets: [u64; LATENCY_BUCKETS.len()],
    count: u64,
    sum: f64,
}

impl Stats {
    pub fn new(rules_version: &str) -> Arc<Stats> {
        let now = Instant::now();
        Arc::new(Stats {
            started: now,
            files_processed: AtomicU64::new(0),
            files_skipped: AtomicU64::new(0),
            files_already_done: AtomicU64::new(0),
            failed: Default::default(),
            events: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            reloads_ok: AtomicU64::new(0),
            reloads_failed: AtomicU64::new(0),
            messages_received: AtomicU64::new(0),
            messages_deleted: AtomicU64::new(0),
            messages_returned: AtomicU64::new(0),
            queue_lag_ms: AtomicU64::new(0),
            latency: Mutex::default(),
            rules_version: Mutex::new(rules_version.to_string()),
            last_status: Mutex::new((now, 0)),
        })
    }

    /// Counts one finished input that took `took` to process.
    pub fn finished(&self, report: &FileReport, took: Duration) {
        match &report.status {
            Status::Done => {
                self.files_processed.fetch_add(1, Ordering::Relaxed);
                self.events.fetch_add(report.records_in, Ordering::Relaxed);
                self.bytes.fetch_add(report.bytes_in, Ordering::Relaxed);
                let seconds = took.as_secs_f64();
                let mut h = self.latency.lock().unwrap_or_else(|e| e.into_inner());
                for (i, bound) in LATENCY_BUCKETS.iter().enumerate() {
                    if seconds <= *bound {
                        h.buckets[i] += 1;
                    }
                }
                h.count += 1;
                h.sum += seconds;
            }
            Status::Skipped(_) => {
                self.files_skipped.fetch_add(1, Ordering::Relaxed);
            }
            Status::AlreadyDone => {
                self.files_already_done.fetch_add(1, Ordering::Relaxed);
            }
            Status::Failed(e) => {
                let i = STAGES.iter().position(|s| *s == e.stage).unwrap_or(0);
                self.failed[i].fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    pub fn set_rules_version(&self, version: &str) {
        *self.rules_version.lock().unwrap_or_else(|e| e.into_inner()) = version.to_string();
    }

    fn failed_total(&self) -> u64 {
        self.failed.iter().map(|c| c.load(Ordering::Relaxed)).sum()
    }

    /// The status line: totals, the event rate since the last status line,
    /// the rules version, and the queue lag when there is a queue.
    pub fn status_line(&self, queue: bool) -> String {
        let now = Instant::now();
        let events = self.events.load(Ordering::Relaxed);
        let rate = {
            let mut last = self.last_status.lock().unwrap_or_else(|e| e.into_inner());
            let secs = now.duration_since(last.0).as_secs_f64().max(0.001);
            let rate = (events - last.1.min(events)) as f64 / secs;
            *last = (now, events);
            rate
        };
        let mut line = format!(
            "status: {} files processed, {} failed, {} events ({:.0} events/s), rules {}",
            self.files_processed.load(Ordering::Relaxed),
            self.failed_total(),
            events,
            rate,
            self.rules_version.lock().unwrap_or_else(|e| e.into_inner()),
        );
        if queue {
            let _ = write!(
                line,
                ", queue lag {:.1}s",
                self.queue_lag_ms.load(Ordering::Relaxed) as f64 / 1000.0
            );
        }
        line
    }

    /// The Prometheus text exposition of every counter.
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let counter = |out: &mut String, name: &str, help: &str, value: u64| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}"
            );
        };
        let load = |c: &AtomicU64| c.load(Ordering::Relaxed);
        counter(
            &mut out,
            "ctrules_files_processed_total",
            "Log files enriched and written.",
            load(&self.files_processed),
        );
        counter(
            &mut out,
            "ctrules_files_skipped_total",
            "Files passed over: digests, other names.",
            load(&self.files_skipped),
        );
        counter(
            &mut out,
            "ctrules_files_already_done_total",
            "Files the checkpoint says are done.",
            load(&self.files_already_done),
        );
        let _ = writeln!(
            out,
            "# HELP ctrules_files_failed_total Files that failed, by pipeline stage.\n# TYPE ctrules_files_failed_total counter"
        );
        for (stage, count) in STAGES.iter().zip(&self.failed) {
            let _ = writeln!(
                out,
                "ctrules_files_failed_total{{stage=\"{}\"}} {}",
                stage_name(*stage),
                load(count)
            );
        }
        counter(
            &mut out,
            "ctrules_events_total",
            "CloudTrail events read.",
            load(&self.events),
        );
        counter(
            &mut out,
            "ctrules_input_bytes_total",
            "Bytes of input read, as stored.",
            load(&self.bytes),
        );
        let _ = writeln!(
            out,
            "# HELP ctrules_reloads_total Rule reloads, by outcome.\n# TYPE ctrules_reloads_total counter\nctrules_reloads_total{{outcome=\"ok\"}} {}\nctrules_reloads_total{{outcome=\"failed\"}} {}",
            load(&self.reloads_ok),
            load(&self.reloads_failed)
        );
        let _ = writeln!(
            out,
            "# HELP ctrules_rules_info The rules version in use.\n# TYPE ctrules_rules_info gauge\nctrules_rules_info{{version=\"{}\"}} 1",
            self.rules_version.lock().unwrap_or_else(|e| e.into_inner())
        );
        counter(
            &mut out,
            "ctrules_messages_received_total",
            "SQS messages received.",
            load(&self.messages_received),
        );
        counter(
            &mut out,
            "ctrules_messages_deleted_total",
            "SQS messages deleted once every object they name was written.",
            load(&self.messages_deleted),
        );
        counter(
            &mut out,
            "ctrules_messages_returned_total",
            "SQS messages left on the queue for redelivery (a failed object) or handed back at shutdown.",
            load(&self.messages_returned),
        );
        let _ = writeln!(
            out,
            "# HELP ctrules_queue_lag_seconds Time from a notification being sent to it being received, last seen.\n# TYPE ctrules_queue_lag_seconds gauge\nctrules_queue_lag_seconds {:.3}",
            load(&self.queue_lag_ms) as f64 / 1000.0
        );
        let h = self.latency.lock().unwrap_or_else(|e| e.into_inner());
        let _ = writeln!(
            out,
            "# HELP ctrules_file_seconds Time to process one file, open to commit.\n# TYPE ctrules_file_seconds histogram"
        );
        for (bound, n) in LATENCY_BUCKETS.iter().zip(h.buckets) {
            let _ = writeln!(out, "ctrules_file_seconds_bucket{{le=\"{bound}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "ctrules_file_seconds_bucket{{le=\"+Inf\"}} {}\nctrules_file_seconds_sum {:.6}\nctrules_file_seconds_count {}",
            h.count, h.sum, h.count
        );
        let _ = writeln!(
            out,
            "# HELP ctrules_uptime_seconds Seconds since the watch started.\n# TYPE ctrules_uptime_seconds gauge\nctrules_uptime_seconds {:.0}",
            self.started.elapsed().as_secs_f64()
        );
        out
    }
}

/// Serves `stats` as Prometheus text at `addr` (any path answers), on a
/// thread of its own, for as long as the process lives.
pub fn serve_metrics(addr: SocketAddr, stats: Arc<Stats>) -> Result<SocketAddr, String> {
    let server = tiny_http::Server::http(addr)
        .map_err(|e| format!("--metrics {addr}: cannot listen: {e}"))?;
    let bound = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| format!("--metrics {addr}: not an IP address"))?;
    std::thread::Builder::new()
        .name("metrics".into())
        .spawn(move || {
            for request in server.incoming_requests() {
                let body = stats.prometheus();
                let header = tiny_http::Header::from_bytes(
                    &b"Content-Type"[..],
                    &b"text/plain; version=0.0.4; charset=utf-8"[..],
                );
                let mut response = tiny_http::Response::from_string(body);
                if let Ok(h) = header {
                    response = response.with_header(h);
                }
                let _ = request.respond(response);
            }
        })
        .map_err(|e| format!("--metrics: cannot start: {e}"))?;
    Ok(bound)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::report::JobError;

    #[test]
    fn counts_show_in_the_status_line_and_the_metrics() {
        let stats = Stats::new("abc123");
        let mut done = FileReport::new("a".into());
        done.records_in = 7;
        stats.finished(&done, Duration::from_millis(300));
        let failed = FileReport::failed("b".into(), JobError::new(Stage::Read, false, "bad"));
        stats.finished(&failed, Duration::ZERO);
        let line = stats.status_line(true);
        assert!(
            line.contains("1 files processed, 1 failed, 7 events"),
            "{line}"
        );
        assert!(
            line.contains("rules abc123") && line.contains("queue lag"),
            "{line}"
        );
        let text = stats.prometheus();
        assert!(text.contains("ctrules_events_total 7\n"), "{text}");
        assert!(text.contains("ctrules_files_failed_total{stage=\"read\"} 1\n"));
        assert!(text.contains("ctrules_file_seconds_bucket{le=\"0.25\"} 0\n"));
        assert!(text.contains("ctrules_file_seconds_bucket{le=\"0.5\"} 1\n"));
        assert!(text.contains("ctrules_rules_info{version=\"abc123\"} 1\n"));
    }
}
