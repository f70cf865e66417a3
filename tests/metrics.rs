//! `GET /metrics`, `/health` and `/ready`, on SQLite and PostgreSQL: a
//! modality and a stranger store, a RIS queries, a viewer searches; the
//! exposition, parsed by Prometheus's reference parser (prometheus_client),
//! counts exactly that. Only administrators and the scrape token read it.

mod common;

use std::io::Write;
use std::process::Stdio;

use common::{add_user, basic, dcmtk, http, python, write_files, ScratchPg, ServerProcess};
use serde_json::Value;

const TOKEN: &str = "scrape-token-5c1b7e";

/// The samples of an exposition, parsed.
fn parse(text: &str) -> Vec<Value> {
    let mut child = python()
        .arg(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/metrics_parse.py"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "the exposition does not parse: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Value>(&out.stdout)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

/// The value of sample `name` with exactly these labels (among others).
fn value(samples: &[Value], name: &str, labels: &[(&str, &str)]) -> f64 {
    samples
        .iter()
        .find(|s| s["name"] == name && labels.iter().all(|(k, v)| s["labels"][*k] == *v))
        .and_then(|s| s["value"].as_f64())
        .unwrap_or_else(|| panic!("no sample {name} {labels:?}"))
}

fn store(port: u16, calling: &str, files: &[std::path::PathBuf]) {
    let o = dcmtk("storescu")
        .args([
            "-aet",
            calling,
            "-aec",
            "FILMLESS",
            "127.0.0.1",
            &port.to_string(),
        ])
        .args(files)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
}

fn metrics(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let storage = database_url
        .map(|u| format!("[storage]\ndatabase_url = \"{u}\"\n"))
        .unwrap_or_default();
    let config = dir.path().join("filmless.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n{storage}[auth]\nrequired = true\n[metrics]\ntoken = \"{TOKEN}\"\n\
             [[dicom.peers]]\nae_title = \"CT01\"\nhost = \"127.0.0.1\"\nport = 104\n\
             permissions = [\"store\", \"find\", \"get\"]\n\
             [[dicom.peers]]\nae_title = \"NOWHERE\"\nhost = \"127.0.0.1\"\nport = 1\n\
             permissions = []\n",
            dir.path().display()
        ),
    )
    .unwrap();
    add_user(&config, "it", "admin", None, "admin-pass-1");
    add_user(&config, "dr", "viewer", None, "viewer-pass-1");
    let server = ServerProcess::start(dir.path(), &["--config", config.to_str().unwrap()], &[]);
    let port = server.dicom_port;

    // Before anything: ready, and the exposition parses.
    assert_eq!(http(&server.http, "GET", "/health", &[], b"").0, 200);
    assert_eq!(http(&server.http, "GET", "/ready", &[], b"").0, 200);

    // A modality stores 5 slices, a stranger 2; the RIS queries once.
    let (plan, ct) = filmless_test_data::ct_series_sized(777, 7, (64, 64));
    let files = write_files(&dir.path().join("ct"), &ct);
    store(port, "CT01", &files[..5]);
    store(port, "STRANGER", &files[5..]);
    let o = dcmtk("findscu")
        .args([
            "-aet",
            "CT01",
            "-aec",
            "FILMLESS",
            "-S",
            "-k",
            "QueryRetrieveLevel=STUDY",
        ])
        .args([
            "-k",
            &format!("StudyInstanceUID={}", plan.study_instance_uid),
        ])
        .args(["127.0.0.1", &port.to_string()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The workstation takes the study back by C-GET.
    let got = dir.path().join("got");
    std::fs::create_dir_all(&got).unwrap();
    let o = dcmtk("getscu")
        .args(["-aet", "CT01", "-aec", "FILMLESS", "-S", "-od"])
        .arg(&got)
        .args(["-k", "QueryRetrieveLevel=STUDY", "-k"])
        .arg(format!("StudyInstanceUID={}", plan.study_instance_uid))
        .args(["127.0.0.1", &port.to_string()])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(std::fs::read_dir(&got).unwrap().count(), 7);
    // An administrator sends it to an archive that is away: one job,
    // waiting to be tried again.
    let admin = basic("it", "admin-pass-1");
    let (status, _, body) = http(
        &server.http,
        "POST",
        &format!("/api/studies/{}/send", plan.study_instance_uid),
        &[
            ("Authorization", &admin),
            ("Content-Type", "application/json"),
        ],
        br#"{"to": "NOWHERE"}"#,
    );
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    // A viewer searches three times.
    let viewer = basic("dr", "viewer-pass-1");
    for _ in 0..3 {
        let (status, _, _) = http(
            &server.http,
            "GET",
            "/dicom-web/studies",
            &[("Authorization", &viewer)],
            b"",
        );
        assert_eq!(status, 200);
    }

    // Who may read.
    let bearer = format!("Bearer {TOKEN}");
    assert_eq!(http(&server.http, "GET", "/metrics", &[], b"").0, 401);
    assert_eq!(
        http(
            &server.http,
            "GET",
            "/metrics",
            &[("Authorization", "Bearer wrong")],
            b""
        )
        .0,
        401
    );
    assert_eq!(
        http(
            &server.http,
            "GET",
            "/metrics",
            &[("Authorization", &viewer)],
            b""
        )
        .0,
        403
    );
    assert_eq!(
        http(
            &server.http,
            "GET",
            "/metrics",
            &[("Authorization", &admin)],
            b""
        )
        .0,
        200
    );
    // The token reads /metrics and nothing else.
    assert_eq!(
        http(
            &server.http,
            "GET",
            "/dicom-web/studies",
            &[("Authorization", &bearer)],
            b""
        )
        .0,
        401
    );

    let (status, headers, body) = http(
        &server.http,
        "GET",
        "/metrics",
        &[("Authorization", &bearer)],
        b"",
    );
    assert_eq!(status, 200);
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "content-type" && v.starts_with("text/plain")),
        "{headers:?}"
    );
    let samples = parse(&String::from_utf8(body).unwrap());
    let ct = [("modality", "CT")];
    assert_eq!(
        value(&samples, "filmless_instances_received_total", &ct),
        7.0
    );
    assert_eq!(value(&samples, "filmless_stored_instances", &[]), 7.0);
    let received = value(&samples, "filmless_received_bytes_total", &ct);
    assert!(received > 7.0 * 64.0 * 64.0 * 2.0, "{received}");
    assert_eq!(value(&samples, "filmless_stored_bytes", &[]), received);
    let stores = [("operation", "C-STORE"), ("status", "success")];
    assert_eq!(
        value(&samples, "filmless_dimse_requests_total", &stores),
        7.0
    );
    let finds = [("operation", "C-FIND"), ("status", "success")];
    assert_eq!(
        value(&samples, "filmless_dimse_requests_total", &finds),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "filmless_dimse_request_duration_seconds_count",
            &[("operation", "C-STORE")]
        ),
        7.0
    );
    assert_eq!(
        value(
            &samples,
            "filmless_associations_total",
            &[("calling_ae", "CT01")]
        ),
        3.0,
        "C-STORE, C-FIND, C-GET"
    );
    assert_eq!(
        value(
            &samples,
            "filmless_associations_total",
            &[("calling_ae", "other")]
        ),
        1.0
    );
    assert_eq!(value(&samples, "filmless_associations_open", &[]), 0.0);
    let searches = [
        ("method", "GET"),
        ("route", "/dicom-web/studies"),
        ("status", "200"),
    ];
    assert_eq!(
        value(&samples, "filmless_http_requests_total", &searches),
        3.0
    );
    assert_eq!(
        value(
            &samples,
            "filmless_http_request_duration_seconds_count",
            &[("method", "GET"), ("route", "/dicom-web/studies")]
        ),
        4.0,
        "the three searches and the token's refused one"
    );
    // The refused /metrics requests were counted too.
    assert_eq!(
        value(
            &samples,
            "filmless_http_requests_total",
            &[("route", "/metrics"), ("status", "401")]
        ),
        2.0
    );
    assert!(
        value(
            &samples,
            "filmless_object_store_requests_total",
            &[("operation", "write")]
        ) >= 7.0
    );
    assert_eq!(
        value(&samples, "filmless_object_store_errors_total", &[]),
        0.0
    );
    assert_eq!(
        value(&samples, "filmless_jobs", &[("state", "failed")]),
        0.0
    );
    // The send to the archive that is away: one job, pending or running.
    assert_eq!(
        value(&samples, "filmless_jobs", &[("state", "pending")])
            + value(&samples, "filmless_jobs", &[("state", "running")]),
        1.0
    );
    let gets = [("operation", "C-GET"), ("status", "success")];
    assert_eq!(value(&samples, "filmless_dimse_requests_total", &gets), 1.0);
    assert!(
        value(
            &samples,
            "filmless_index_connections",
            &[("state", "in_use")]
        ) >= 0.0
    );

    // The storage volume gone (unmounted): not ready, though alive; back:
    // ready again.
    let objects = dir.path().join("objects");
    let away = dir.path().join("objects-unmounted");
    std::fs::rename(&objects, &away).unwrap();
    assert_eq!(http(&server.http, "GET", "/ready", &[], b"").0, 503);
    assert_eq!(http(&server.http, "GET", "/health", &[], b"").0, 200);
    std::fs::rename(&away, &objects).unwrap();
    assert_eq!(http(&server.http, "GET", "/ready", &[], b"").0, 200);
}

#[test]
fn metrics_count_what_was_sent_sqlite() {
    metrics(None);
}

#[test]
fn metrics_count_what_was_sent_postgres() {
    let db = ScratchPg::new();
    metrics(Some(&db.url));
}
