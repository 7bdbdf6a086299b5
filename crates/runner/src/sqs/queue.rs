//! A watch over an SQS queue of S3 notifications: any number of workers,
//! on any number of machines, share one queue, and SQS hands each message
//! to one of them at a time.
//!
//! The life of a message:
//! 1. **Received** (long polling), no more messages in flight than
//!    `--concurrency`. Its body is read by [`super::message::parse`].
//! 2. **Kept invisible while it is worked on**: a heartbeat extends its
//!    visibility timeout every third of it, so a large object never
//!    reappears for a second worker half-way (Vector's open issue 4910).
//! 3. **Each object it names goes through the job of a batch**: GET,
//!    evaluate with one snapshot of the rules, PUT (or rename into place),
//!    mark. A redelivered message whose objects are done is recognised by
//!    the checkpoint (`--state output`: the output's metadata names the
//!    source's ETag), and outputs are deterministic anyway, so a repeat
//!    never makes a second, different output.
//! 4. **Deleted only once every object has its output written** (digests,
//!    other files, test events and validation messages need nothing and
//!    are deleted). A message with an object that failed, or that cannot
//!    be read, is *not* deleted: it reappears after its visibility timeout,
//!    and after the queue's `maxReceiveCount` the redrive policy moves it
//!    to the dead-letter queue, where an operator finds it. The report
//!    names the key, the cause and the receive count (Vector deletes
//!    rejected messages by default, bypassing the dead-letter queue: its
//!    issue 19711).
//! 5. **On SIGINT or SIGTERM**: no more receives; what is in flight gets the
//!    grace period; a message still unfinished then is handed back at once
//!    (visibility 0) for another worker.

use super::message::{parse, Notice, ObjectNotice};
use crate::job::{run_job, Job, Open};
use crate::objects::plain_relative;
use crate::plan::QueueName;
use crate::report::{FileReport, JobError, Stage, Status, Summary};
use crate::run::RunError;
use crate::s3::fault::job_error;
use crate::s3::layout::key_facts;
use crate::s3::list::{not_read, OUTSIDE_FILTERS};
use crate::sink::{output_name, Output};
use crate::watch::{Shared, WatchEvent, WatchPlan};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use std::collections::HashMap;
use std::io::Read;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use tokio::sync::{mpsc, Semaphore};
use tokio::task::JoinSet;

/// The visibility timeout SQS gives a new queue.
const SQS_DEFAULT_VISIBILITY: Duration = Duration::from_secs(30);

/// The queue and how to talk to it.
struct Queue {
    sqs: aws_sdk_sqs::Client,
    url: String,
    visibility: Duration,
}

/// One received message.
struct Received {
    id: String,
    receipt: String,
    body: String,
    receive_count: u64,
}

/// What became of one message.
struct Handled {
    /// Each object's report, already told (as each finished).
    reports: Vec<FileReport>,
    /// A line for the log (why it was deleted with nothing done, or why it
    /// stays on the queue).
    note: Option<String>,
    deleted: bool,
}

/// Watches `queue` until a stop is requested; returns how many messages
/// were still in flight when the grace period ran out (handed back).
pub(crate) async fn watch_queue(
    queue: &QueueName,
    plan: &WatchPlan,
    s3: aws_sdk_s3::Client,
    shared: Arc<Shared>,
    summary: &mut Summary,
) -> Result<usize, RunError> {
    let options = &plan.plan.s3;
    let config = crate::s3::aws_config(options).await;
    let mut builder = aws_sdk_sqs::config::Builder::from(&config);
    if let Some(url) = &options.endpoint_url {
        builder = builder.endpoint_url(url);
    }
    let sqs = aws_sdk_sqs::Client::from_conf(builder.build());
    // Finding the queue may hang on an endpoint that does not answer (the
    // SDK retries for minutes): a stop asked for meanwhile is kept.
    let found = async {
        let url = queue_url(&sqs, queue).await?;
        let visibility = match plan.visibility_timeout {
            Some(v) => v,
            None => queue_visibility(&sqs, &url).await?,
        };
        Ok::<_, RunError>((url, visibility))
    };
    let (url, visibility) = tokio::select! {
        found = found => found?,
        () = stopped(&shared.stop) => return Ok(0),
    };
    let queue = Arc::new(Queue {
        sqs,
        url,
        visibility,
    });
    let s3 = Arc::new(s3);

    // Receiving runs apart, so that a long poll never delays what finishes;
    // a permit per message in flight bounds the work (and the memory).
    let capacity = options.concurrency.max(1);
    let permits = Arc::new(Semaphore::new(capacity));
    let (tx, mut rx) = mpsc::channel::<(Received, tokio::sync::OwnedSemaphorePermit)>(capacity);
    let receiver = tokio::spawn(receive(
        queue.clone(),
        permits.clone(),
        tx,
        shared.clone(),
        plan.receive_wait,
    ));

    let mut tasks: JoinSet<Handled> = JoinSet::new();
    // The receipt of each message in flight, to hand it back at the end.
    let mut receipts: HashMap<tokio::task::Id, (String, String)> = HashMap::new();
    let mut deadline: Option<Instant> = None;
    let mut receiving = true;
    loop {
        if shared.stop.requested() && deadline.is_none() {
            deadline = Some(Instant::now() + plan.grace);
            (shared.events)(WatchEvent::Stopping {
                in_flight: tasks.len(),
                grace: plan.grace,
            });
        }
        if let Some(deadline) = deadline {
            if tasks.is_empty() && (!receiving || receiver.is_finished()) {
                break;
            }
            if Instant::now() >= deadline {
                break;
            }
        }
        tokio::select! {
            received = rx.recv(), if receiving => {
                let Some((message, permit)) = received else {
                    receiving = false;
                    continue;
                };
                let ids = (message.id.clone(), message.receipt.clone());
                let (queue, s3, shared) = (queue.clone(), s3.clone(), shared.clone());
                let handle = tasks.spawn(async move {
                    let handled = handle_message(&queue, &s3, &shared, message).await;
                    drop(permit);
                    handled
                });
                receipts.insert(handle.id(), ids);
            }
            joined = tasks.join_next_with_id(), if !tasks.is_empty() => {
                let Some(joined) = joined else { continue };
                let handled = match joined {
                    Ok((id, handled)) => {
                        receipts.remove(&id);
                        handled
                    }
                    Err(e) => {
                        let message = receipts.remove(&e.id()).map(|(m, _)| m).unwrap_or_default();
                        Handled {
                            reports: Vec::new(),
                            note: Some(format!("message {message}: its worker stopped ({e}); left on the queue")),
                            deleted: false,
                        }
                    }
                };
                for report in &handled.reports {
                    summary.add(report);
                }
                if let Some(note) = &handled.note {
                    (shared.events)(WatchEvent::Note(note));
                }
                let counter = if handled.deleted {
                    &shared.stats.messages_deleted
                } else {
                    &shared.stats.messages_returned
                };
                counter.fetch_add(1, Ordering::Relaxed);
            }
            () = tokio::time::sleep(Duration::from_millis(100)) => {}
        }
    }
    // Whatever is still in flight goes back to the queue now, for another
    // worker, rather than when its visibility timeout would have run out.
    let handed_back = receipts.len();
    for (_, (id, receipt)) in receipts {
        let back = queue
            .sqs
            .change_message_visibility()
            .queue_url(&queue.url)
            .receipt_handle(&receipt)
            .visibility_timeout(0)
            .send()
            .await;
        let note = match back {
            Ok(_) => format!("message {id}: not finished within the grace period; handed back to the queue"),
            Err(e) => format!(
                "message {id}: not finished within the grace period; it reappears when its visibility timeout ends ({})",
                aws_sdk_sqs::error::DisplayErrorContext(&e)
            ),
        };
        (shared.events)(WatchEvent::Note(&note));
        shared
            .stats
            .messages_returned
            .fetch_add(1, Ordering::Relaxed);
    }
    tasks.abort_all();
    receiver.abort();
    Ok(handed_back)
}

/// Resolves once a stop is asked for.
async fn stopped(stop: &crate::watch::Stop) {
    while !stop.requested() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The URL of `queue`: as given, or asked for by name.
async fn queue_url(sqs: &aws_sdk_sqs::Client, queue: &QueueName) -> Result<String, RunError> {
    match queue {
        QueueName::Url(url) => Ok(url.clone()),
        QueueName::Name(name) => {
            let got = sqs.get_queue_url().queue_name(name).send().await;
            match got {
                Ok(out) => out.queue_url().map(str::to_string).ok_or_else(|| {
                    RunError::Usage(format!("sqs://{name}: GetQueueUrl gave no URL"))
                }),
                Err(e) => Err(RunError::Usage(format!(
                    "sqs://{name}: cannot find the queue: {}",
                    job_error(Stage::Discover, "GetQueueUrl", name, &e).message
                ))),
            }
        }
    }
}

/// The queue's own visibility timeout.
async fn queue_visibility(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<Duration, RunError> {
    let got = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::VisibilityTimeout)
        .send()
        .await
        .map_err(|e| {
            RunError::Usage(format!(
                "{url}: cannot read the queue: {}",
                job_error(Stage::Discover, "GetQueueAttributes", url, &e).message
            ))
        })?;
    Ok(got
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::VisibilityTimeout))
        .and_then(|v| v.parse().ok())
        .map_or(SQS_DEFAULT_VISIBILITY, Duration::from_secs))
}

/// Receives messages while permits are free, until a stop is requested.
/// A message received after the stop goes straight back to the queue.
async fn receive(
    queue: Arc<Queue>,
    permits: Arc<Semaphore>,
    tx: mpsc::Sender<(Received, tokio::sync::OwnedSemaphorePermit)>,
    shared: Arc<Shared>,
    wait: Duration,
) {
    let mut failures = 0u32;
    while !shared.stop.requested() {
        // Wait for room: at least one permit, at most ten (SQS's maximum).
        let Ok(first) = permits.clone().acquire_owned().await else {
            return;
        };
        let mut held = vec![first];
        while held.len() < 10 {
            match permits.clone().try_acquire_owned() {
                Ok(p) => held.push(p),
                Err(_) => break,
            }
        }
        let receiving = queue
            .sqs
            .receive_message()
            .queue_url(&queue.url)
            .max_number_of_messages(held.len() as i32)
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .visibility_timeout(queue.visibility.as_secs().max(1) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .send();
        // A stop ends a long poll at once. A message SQS handed out in
        // that instant is not lost: it reappears after its visibility
        // timeout, for another worker.
        let got = tokio::select! {
            got = receiving => got,
            () = stopped(&shared.stop) => return,
        };
        let messages = match got {
            Ok(out) => {
                failures = 0;
                let messages = out.messages.unwrap_or_default();
                if messages.is_empty() {
                    // Nothing waiting: the queue is not behind.
                    shared.stats.queue_lag_ms.store(0, Ordering::Relaxed);
                }
                if messages.is_empty() && wait < Duration::from_secs(1) {
                    // No long poll (--receive-wait 0): an empty queue must
                    // not become a stream of requests.
                    drop(held);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    continue;
                }
                messages
            }
            Err(e) => {
                // The queue is unreachable for now: say so, back off, go on.
                failures += 1;
                let error = job_error(Stage::Open, "ReceiveMessage", &queue.url, &e);
                (shared.events)(WatchEvent::Note(&format!("{error}; trying again")));
                let pause = Duration::from_millis(500 * 2u64.pow(failures.min(6)));
                tokio::time::sleep(pause.min(Duration::from_secs(30))).await;
                continue;
            }
        };
        for message in messages {
            let (Some(receipt), Some(body)) = (message.receipt_handle(), message.body()) else {
                continue;
            };
            let attribute = |name: MessageSystemAttributeName| {
                message
                    .attributes()
                    .and_then(|a| a.get(&name))
                    .and_then(|v| v.parse::<u64>().ok())
            };
            if let Some(sent) = attribute(MessageSystemAttributeName::SentTimestamp) {
                let now = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as u64);
                shared
                    .stats
                    .queue_lag_ms
                    .store(now.saturating_sub(sent), Ordering::Relaxed);
            }
            shared
                .stats
                .messages_received
                .fetch_add(1, Ordering::Relaxed);
            let received = Received {
                id: message.message_id().unwrap_or_default().to_string(),
                receipt: receipt.to_string(),
                body: body.to_string(),
                receive_count: attribute(MessageSystemAttributeName::ApproximateReceiveCount)
                    .unwrap_or(1),
            };
            if shared.stop.requested() {
                let _ = queue
                    .sqs
                    .change_message_visibility()
                    .queue_url(&queue.url)
                    .receipt_handle(receipt)
                    .visibility_timeout(0)
                    .send()
                    .await;
                continue;
            }
            let Some(permit) = held.pop() else { break };
            if tx.send((received, permit)).await.is_err() {
                return;
            }
        }
    }
}

/// Works one message to its end: every object it names, then delete it, or
/// leave it on the queue when something failed.
async fn handle_message(
    queue: &Queue,
    s3: &Arc<aws_sdk_s3::Client>,
    shared: &Arc<Shared>,
    message: Received,
) -> Handled {
    let objects = match parse(&message.body) {
        Ok(Notice::Objects(objects)) => objects,
        Ok(Notice::Nothing(why)) => {
            let deleted = delete(queue, &message).await;
            return Handled {
                reports: Vec::new(),
                note: Some(match &deleted {
                    Ok(()) => format!("message {}: {why}; nothing to do, deleted", message.id),
                    Err(e) => format!("message {}: {why}; nothing to do, but {e}", message.id),
                }),
                deleted: deleted.is_ok(),
            };
        }
        Err(e) => {
            return Handled {
                reports: Vec::new(),
                note: Some(left_on_queue(
                    &message,
                    &format!("not a notification ctrules reads: {e}"),
                )),
                deleted: false,
            }
        }
    };
    // The heartbeat: visible again only if this worker dies.
    let heartbeat = {
        let sqs = queue.sqs.clone();
        let (url, receipt, visibility) =
            (queue.url.clone(), message.receipt.clone(), queue.visibility);
        tokio::spawn(async move {
            let every = (visibility / 3).max(Duration::from_millis(500));
            loop {
                tokio::time::sleep(every).await;
                let _ = sqs
                    .change_message_visibility()
                    .queue_url(&url)
                    .receipt_handle(&receipt)
                    .visibility_timeout(visibility.as_secs().max(1) as i32)
                    .send()
                    .await;
            }
        })
    };
    let mut reports = Vec::new();
    for object in objects {
        let started = Instant::now();
        let report = process_object(s3, shared, object).await;
        // Told before the message is deleted: a log that says an object is
        // done never misses one whose message is gone.
        shared.finished(&report, started.elapsed());
        reports.push(report);
    }
    heartbeat.abort();
    let failed: Vec<String> = reports
        .iter()
        .filter_map(|r| match &r.status {
            Status::Failed(e) => Some(format!("{}: {e}", r.input)),
            _ => None,
        })
        .collect();
    if !failed.is_empty() {
        let cause = format!(
            "{} of its objects failed ({})",
            failed.len(),
            failed.join("; ")
        );
        return Handled {
            reports,
            note: Some(left_on_queue(&message, &cause)),
            deleted: false,
        };
    }
    match delete(queue, &message).await {
        Ok(()) => Handled {
            reports,
            note: None,
            deleted: true,
        },
        Err(e) => Handled {
            reports,
            note: Some(format!(
                "message {}: its objects are done, but {e}; it will be delivered again and found done",
                message.id
            )),
            deleted: false,
        },
    }
}

fn left_on_queue(message: &Received, cause: &str) -> String {
    format!(
        "message {}: {cause}; left on the queue (received {} times): it is delivered again when its visibility timeout ends, and moves to the dead-letter queue after the queue's maxReceiveCount",
        message.id, message.receive_count
    )
}

async fn delete(queue: &Queue, message: &Received) -> Result<(), String> {
    queue
        .sqs
        .delete_message()
        .queue_url(&queue.url)
        .receipt_handle(&message.receipt)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| job_error(Stage::Commit, "DeleteMessage", &message.id, &e).message)
}

/// One object through the job of a batch, on a blocking thread.
async fn process_object(
    s3: &Arc<aws_sdk_s3::Client>,
    shared: &Arc<Shared>,
    object: ObjectNotice,
) -> FileReport {
    // Its identity, byte for byte; and its name for people, escaped: a key
    // is anyone's text, and must not forge or break a line of the log.
    let id = crate::state::s3_key(&object.bucket, &object.key);
    let name = crate::source::display_path(std::path::Path::new(&id));
    // Our own output, in the bucket that notifies: never read back (it
    // would notify again, for ever).
    if let Output::S3(sink) = &shared.output {
        if sink.url.holds(&object.bucket, &object.key) {
            return FileReport::skipped(
                name,
                "under the output prefix: ctrules's own output is never read back",
            );
        }
    }
    if let Some(crate::alerts::AlertsTo::S3(alerts)) = shared.alerts.as_ref().map(|a| &a.to) {
        if alerts.holds(&object.bucket, &object.key) {
            return FileReport::skipped(
                name,
                "under the alerts prefix: ctrules's own alerts are never read back",
            );
        }
    }
    if let Some(why) = not_read(&object.key, object.size) {
        return FileReport::skipped(name, why);
    }
    if !shared.filters.keeps(key_facts(&object.key).as_ref()) {
        return FileReport::skipped(name, OUTSIDE_FILTERS);
    }
    let output = match plain_relative(&object.key, "the object's key") {
        Ok(relative) => output_name(relative.as_os_str(), shared.output.codec()),
        Err(e) => return FileReport::failed(name, e),
    };
    // The version the checkpoint knows it by: the ETag, without quotes,
    // as a batch lists it. CloudTrail's notifications carry none: ask.
    let (version, size) = match (&object.etag, object.size) {
        (Some(etag), Some(size)) => (etag.trim_matches('"').to_string(), size),
        _ => match s3
            .head_object()
            .bucket(&object.bucket)
            .key(&object.key)
            .send()
            .await
        {
            Ok(head) => (
                head.e_tag().unwrap_or("").trim_matches('"').to_string(),
                head.content_length().unwrap_or(0).max(0) as u64,
            ),
            Err(e) => {
                return FileReport::failed(
                    name.clone(),
                    job_error(Stage::Open, "HeadObject", &name, &e),
                )
            }
        },
    };
    let job = Job {
        id: id.into_bytes(),
        name: name.clone(),
        version,
        size,
        output,
    };
    let runtime = tokio::runtime::Handle::current();
    let open: Open = {
        let (s3, runtime, bucket, key) = (s3.clone(), runtime.clone(), object.bucket, object.key);
        Box::new(move || {
            let got = runtime.block_on(s3.get_object().bucket(&bucket).key(&key).send());
            let body = got
                .map_err(|e| job_error(Stage::Open, "GetObject", &name, &e))?
                .body;
            let reader =
                tokio_util::io::SyncIoBridge::new_with_handle(body.into_async_read(), runtime);
            Ok(Box::new(reader) as Box<dyn Read>)
        })
    };
    let shared = shared.clone();
    let worked = tokio::task::spawn_blocking(move || {
        // One snapshot of the rules for the whole object.
        let rules = shared.rules.current();
        run_job(job, open, &shared.context(&rules)).0
    })
    .await;
    worked.unwrap_or_else(|e| {
        FileReport::failed(
            String::new(),
            JobError::new(Stage::Read, false, format!("the job stopped: {e}")),
        )
    })
}
