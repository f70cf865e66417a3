//! `filmless serve`, black box: starts, answers HTTP, stops on SIGTERM.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

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

    let mut server = common::ServerProcess::start(data.path(), &[], &[]);
    let addr = server.http.clone();
    let health = get(&addr, "/healthz");
    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let home = get(&addr, "/status");
    assert!(home.contains("Filmless"), "{home}");
    assert!(home.contains("<th>instances</th><td>1</td>"), "{home}");

    // SIGTERM: a clean exit.
    let exit = server.terminate(Duration::from_secs(20));
    assert!(exit.success(), "{exit:?}");
    std::thread::sleep(Duration::from_millis(200));
    assert!(server.logged("stopped"));
}

/// A SIGTERM the moment the server says it is serving (a supervisor
/// restarting it at once) is a clean stop, never the default kill: the
/// server listens for signals before it serves.
#[test]
fn sigterm_right_after_start_is_a_clean_stop() {
    for _ in 0..5 {
        let data = tempfile::tempdir().unwrap();
        let mut server = common::ServerProcess::start(data.path(), &[], &[]);
        let exit = server.terminate(Duration::from_secs(20));
        assert!(exit.success(), "{exit:?}");
    }
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

#[test]
fn the_viewer_is_served_at_root_or_the_home_page_says_how_to_install_it() {
    let data = tempfile::tempdir().unwrap();
    // Without a viewer: the status page, with the way to install one.
    let server = common::ServerProcess::start(
        data.path(),
        &[],
        &[("FILMLESS_HTTP__VIEWER_DIR", "/nonexistent")],
    );
    let home = get(&server.http, "/");
    assert!(home.starts_with("HTTP/1.1 200"), "{home}");
    assert!(home.contains("viewer-web/setup.sh"), "{home}");
    drop(server);

    // With the viewer (installed by viewer-web/setup.sh): OHIF at / and on
    // its own routes (single-page fallback), its configuration pointing here.
    let viewer = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("viewer-web/dist");
    assert!(
        viewer.join("index.html").exists(),
        "run viewer-web/setup.sh (scripts/test does)"
    );
    let server = common::ServerProcess::start(
        data.path(),
        &[],
        &[("FILMLESS_HTTP__VIEWER_DIR", viewer.to_str().unwrap())],
    );
    for path in [
        "/",
        "/viewer?StudyInstanceUIDs=1.2.3",
        "/viewer/dicomweb?StudyInstanceUIDs=1.2.3",
        "/segmentation",
    ] {
        let page = get(&server.http, path);
        assert!(page.starts_with("HTTP/1.1 200"), "{path}: {page}");
        assert!(page.contains("OHIF Viewer"), "{path}");
    }
    // Only the viewer's own routes get its page: anything else is 404, so
    // mistakes show (a mistyped URL, monitoring asking for /prometheus).
    for path in [
        "/studylist",
        "/prometheus",
        "/administration",
        "/dicom-web/subscriptions",
        "/missing.js",
    ] {
        let page = get(&server.http, path);
        assert!(page.starts_with("HTTP/1.1 404"), "{path}: {page}");
        assert!(!page.contains("OHIF Viewer"), "{path}");
    }
    let config = get(&server.http, "/app-config.js");
    assert!(
        config.contains("qidoRoot: filmlessDicomWeb") && config.contains(": '/dicom-web'"),
        "the viewer asks this server's own /dicom-web (or a share's prefix): {config}"
    );
    let status = get(&server.http, "/status");
    assert!(status.contains("open the study list"), "{status}");
}
