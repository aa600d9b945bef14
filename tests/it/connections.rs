//! Connections that never become requests: closed after the header timeout,
//! and HTTP/2 is not served, so neither can pin the server's descriptors.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use reqwest::StatusCode;

use crate::helpers::{eventually, spawn_api_with, test_config};

/// Descriptors this test process has open (nextest runs each test in a
/// process of its own, and the API under test runs inside it).
fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").map(|dir| dir.count()).unwrap_or(0)
}

/// Everything the server sends until it closes the connection.
fn read_until_closed(mut stream: TcpStream) -> Vec<u8> {
    // A generous bound only so a regression fails instead of hanging.
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut received = Vec::new();
    match stream.read_to_end(&mut received) {
        Ok(_) => {}
        Err(err) if err.kind() == std::io::ErrorKind::ConnectionReset => {}
        Err(err) => panic!("the server kept the connection open: {err}"),
    }
    received
}

#[tokio::test]
async fn silent_sockets_and_http2_prefaces_are_closed_after_the_header_timeout() {
    let app = spawn_api_with(test_config(&["--header-read-timeout-ms", "2000"])).await;
    assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK);
    let addr = app.base.trim_start_matches("http://").to_owned();
    let baseline = open_descriptors();

    let opened = tokio::task::spawn_blocking(move || {
        let silent: Vec<TcpStream> = (0..20).map(|_| TcpStream::connect(&addr).unwrap()).collect();
        let mut h2 = TcpStream::connect(&addr).unwrap();
        // What `curl --http2-prior-knowledge` sends first.
        h2.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap();
        // Both ends of each, once the server has accepted them all.
        let waited = std::time::Instant::now();
        while open_descriptors() < baseline + 40 && waited.elapsed() < Duration::from_secs(1) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let opened = open_descriptors();
        let h2_answer = read_until_closed(h2);
        assert!(
            h2_answer.is_empty() || h2_answer.starts_with(b"HTTP/1.1 4"),
            "HTTP/2 is not served: got {:?}",
            String::from_utf8_lossy(&h2_answer)
        );
        for socket in silent {
            assert!(read_until_closed(socket).is_empty(), "a silent socket gets no answer, only a close");
        }
        opened
    })
    .await
    .unwrap();
    assert!(opened >= baseline + 40, "both ends of 21 sockets were open: {baseline} -> {opened}");

    // The server let go of its ends too (a little slack for pool connections
    // opened meanwhile).
    eventually(Duration::from_secs(10), "descriptors back to the baseline", || async {
        (open_descriptors() <= baseline + 3).then_some(())
    })
    .await;
    assert_eq!(app.get("/healthz", None).await.status, StatusCode::OK, "still serving");
}

#[tokio::test]
async fn a_request_head_sent_in_time_is_answered() {
    let app = spawn_api_with(test_config(&["--header-read-timeout-ms", "2000"])).await;
    let addr = app.base.trim_start_matches("http://").to_owned();
    let answer = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(&addr).unwrap();
        stream.write_all(b"GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").unwrap();
        read_until_closed(stream)
    })
    .await
    .unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200"), "{}", String::from_utf8_lossy(&answer));
}
