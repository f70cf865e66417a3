//! `filmless serve`, black box: starts, answers HTTP, stops on SIGTERM.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::filmless;

fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    reply
}

#[test]
fn serves_until_sigterm_and_reports_the_archive() {
    let data = tempfile::tempdir().unwrap();
    // Put one instance in first, so the home page has something to count.
    let corpus = filmless_test_data::Corpus::new(3, filmless_test_data::Options::small(2));
    let files = tempfile::tempdir().unwrap();
    common::write_files(
        files.path(),
        &corpus.instances(&corpus.study(1)).collect::<Vec<_>>(),
    );
    assert!(common::import(data.path(), &[files.path()])
        .status
        .success());

    let mut child = filmless()
        .args([
            "serve",
            "--http-bind",
            "127.0.0.1:0",
            "--dicom-bind",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data.path())
        .env("FILMLESS_LOG__FORMAT", "json")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = loop {
        assert!(
            Instant::now() < deadline,
            "server did not report its address"
        );
        let line = lines.next().expect("server exited early").unwrap();
        let v: serde_json::Value =
            serde_json::from_str(&line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        if v["fields"]["message"] == "serving" {
            break v["fields"]["http"].as_str().unwrap().to_owned();
        }
    };
    let health = get(&addr, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let home = get(&addr, "/");
    assert!(home.contains("Filmless"), "{home}");
    assert!(home.contains("<th>instances</th><td>1</td>"), "{home}");

    // SIGTERM: a clean exit.
    let status = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "server did not stop on SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(exit.success(), "{exit:?}");
    assert!(lines.any(|l| l.is_ok_and(|l| l.contains("stopped"))));
}

#[test]
fn a_bad_configuration_is_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("filmless.toml");
    std::fs::write(&config, "[storage]\ncompression = \"lz4\"\n").unwrap();
    let out = filmless()
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("compression"), "{stderr}");
}
