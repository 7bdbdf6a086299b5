//! The S3 + SQS test server itself (tests/support/s3.rs): servers run side
//! by side with separate state, listings page past 1,000 keys, SQS sends
//! and receives, a dropped server frees its port, and a spawned process
//! gets dummy credentials and a loopback endpoint and nothing else of AWS.

mod support;

use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::time::Instant;
use support::s3::{loopback, MotoServer};

#[test]
fn two_servers_at_once_have_their_own_ports_and_state() {
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(MotoServer::start);
        let b = s.spawn(MotoServer::start);
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_ne!(a.port(), b.port());
    assert!(a.endpoint().starts_with("http://127.0.0.1:"));

    a.create_bucket("trail");
    b.create_bucket("trail");
    a.put_object("trail", "k", b"from a");
    assert_eq!(a.get_object("trail", "k").as_deref(), Some(&b"from a"[..]));
    assert_eq!(b.get_object("trail", "k"), None);

    a.reset();
    assert_eq!(a.get_object("trail", "k"), None);
    b.put_object("trail", "k", b"from b");
    assert_eq!(b.get_object("trail", "k").as_deref(), Some(&b"from b"[..]));
}

#[test]
fn objects_round_trip_and_listings_page_past_a_thousand_keys() {
    let s3 = MotoServer::start();
    s3.create_bucket("trail");
    let prefix = "AWSLogs/123456789012/CloudTrail/us-east-1/2026/11/30/";
    let started = Instant::now();
    let mut keys: Vec<String> = (0..1200)
        .map(|i| format!("{prefix}123456789012_CloudTrail_us-east-1_{i:04}.json.gz"))
        .collect();
    for (i, key) in keys.iter().enumerate() {
        s3.put_object("trail", key, format!("object {i}").as_bytes());
    }
    // Keys S3 notifications encode (a space, a plus, non-ASCII, XML's `&`).
    let odd = format!("{prefix}red flower+1 ü&<x>.json.gz");
    let bytes: Vec<u8> = (0..=255).collect();
    s3.put_object("trail", &odd, &bytes);
    s3.put_object("trail", "elsewhere/k", b"not listed");
    eprintln!("1,203 puts in {:?}", started.elapsed());

    keys.push(odd.clone());
    keys.sort();
    let listed = s3.list_keys("trail", prefix);
    assert_eq!(listed.len(), 1201);
    assert_eq!(listed, keys);
    assert_eq!(s3.list_keys("trail", "").len(), 1202);
    assert_eq!(s3.list_keys("trail", "nothing/"), Vec::<String>::new());

    assert_eq!(s3.get_object("trail", &keys[700]).unwrap(), b"object 700");
    assert_eq!(s3.get_object("trail", &odd).unwrap(), bytes);
    assert_eq!(s3.get_object("trail", "missing"), None);

    s3.delete_object("trail", &odd);
    s3.delete_object("trail", &odd);
    assert_eq!(s3.get_object("trail", &odd), None);
    assert_eq!(s3.list_keys("trail", prefix).len(), 1200);
}

#[test]
fn sqs_messages_are_sent_received_and_deleted() {
    let sqs = MotoServer::start();
    let queue = sqs.create_queue("ctrules-events");
    assert!(
        queue.starts_with(&sqs.endpoint()) && queue.ends_with("/ctrules-events"),
        "{queue}"
    );
    assert_eq!(sqs.count_visible(&queue), 0);
    assert!(sqs.receive_messages(&queue, 10).is_empty());

    let bodies: Vec<String> = (0..3).map(|i| format!("{{\"n\":{i}}}")).collect();
    let ids: Vec<String> = bodies.iter().map(|b| sqs.send_message(&queue, b)).collect();
    assert_eq!(sqs.count_visible(&queue), 3);

    let mut got = sqs.receive_messages(&queue, 10);
    assert_eq!(got.len(), 3);
    assert_eq!(sqs.count_visible(&queue), 0);
    assert_eq!(sqs.count_in_flight(&queue), 3);
    got.sort_by(|a, b| a.body.cmp(&b.body));
    assert_eq!(
        got.iter().map(|m| &m.body).collect::<Vec<_>>(),
        bodies.iter().collect::<Vec<_>>()
    );
    for m in &got {
        assert!(ids.contains(&m.message_id));
        sqs.delete_message(&queue, &m.receipt_handle);
    }
    assert_eq!(sqs.count_in_flight(&queue), 0);
    assert!(sqs.receive_messages(&queue, 10).is_empty());
}

#[test]
fn dropping_the_server_frees_its_port() {
    let s3 = MotoServer::start();
    let port = s3.port();
    s3.create_bucket("freed");
    TcpStream::connect(loopback(port)).expect("the server listens");
    drop(s3);
    assert!(
        TcpStream::connect(loopback(port)).is_err(),
        "something still listens on {port}"
    );
    TcpListener::bind(loopback(port)).expect("the port is free again");
}

#[test]
fn a_spawned_process_gets_dummy_credentials_and_no_other_aws_setting() {
    let server = MotoServer::start();
    let mut cmd = Command::new("env");
    cmd.env("AWS_PROFILE", "from-the-machine")
        .env("AWS_WEB_IDENTITY_TOKEN_FILE", "/var/run/token")
        .env("HTTPS_PROXY", "http://proxy.example:3128")
        .env("KEPT", "yes");
    let out = server.apply_env(&mut cmd).output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut aws: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("AWS_") || l.to_ascii_uppercase().contains("PROXY"))
        .collect();
    aws.sort();
    let endpoint = format!("AWS_ENDPOINT_URL={}", server.endpoint());
    let mut want = vec![
        "AWS_ACCESS_KEY_ID=test",
        "AWS_CONFIG_FILE=/dev/null",
        "AWS_DEFAULT_REGION=us-east-1",
        "AWS_EC2_METADATA_DISABLED=true",
        endpoint.as_str(),
        "AWS_REGION=us-east-1",
        "AWS_SECRET_ACCESS_KEY=test",
        "AWS_SHARED_CREDENTIALS_FILE=/dev/null",
    ];
    want.sort();
    assert_eq!(aws, want);
    assert!(text.lines().any(|l| l == "KEPT=yes"));
    assert_eq!(server.env().len(), want.len());
}
