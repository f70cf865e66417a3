//! DIMSE with pynetdicom (PyPI) as the peer: concurrent stores, C-CANCEL of
//! C-FIND and C-MOVE, and the association limit.

mod common;

use std::path::Path;

use common::{free_port, write_files, ServerProcess};

fn pynetdicom(port: u16, args: &[&str]) -> serde_json::Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/pynetdicom_checks.py");
    let out = common::python()
        .arg(script)
        .args(["--port", &port.to_string()])
        .args(args)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "pynetdicom check {args:?} failed (pip install pynetdicom; scripts/setup-test-deps does):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// A 240-instance study on disk and stored in a fresh server.
fn server_with_study(
    extra: &[&str],
    env: &[(&str, &str)],
) -> (
    ServerProcess,
    tempfile::TempDir,
    filmless_test_data::StudyPlan,
) {
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let (plan, instances) = filmless_test_data::ct_series_sized(31, 240, (64, 64));
    write_files(files.path(), &instances);
    let server = ServerProcess::start(data.path(), extra, env);
    // Eight associations at once, each storing an eighth of one study.
    let r = pynetdicom(
        server.dicom_port,
        &[
            "concurrent-store",
            "--dir",
            files.path().to_str().unwrap(),
            "--n",
            "8",
        ],
    );
    let workers = r["workers"].as_array().unwrap();
    assert_eq!(workers.len(), 8);
    let stored: u64 = workers.iter().map(|w| w["stored"].as_u64().unwrap()).sum();
    assert!(workers.iter().all(|w| w["established"] == true), "{r}");
    assert_eq!(stored, 240, "{r}");
    (server, data, plan)
}

#[test]
fn eight_concurrent_associations_store_one_study_without_duplicates() {
    let (server, data, plan) = server_with_study(&["--peer", "PYGET@127.0.0.1:1"], &[]);
    // And C-GET brings the whole study back on one association.
    let r = pynetdicom(
        server.dicom_port,
        &["get", "--study", &plan.study_instance_uid],
    );
    assert_eq!(r["final"], 0, "{r}");
    assert_eq!(r["received"], 240, "{r}");
    drop(server);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let archive = common::open_archive(data.path()).await;
        let counts = archive
            .index()
            .counts(storage::TenantScope::All)
            .await
            .unwrap();
        assert_eq!(
            (
                counts.patients,
                counts.studies,
                counts.series,
                counts.instances
            ),
            (1, 1, 1, 240)
        );
        let s = archive
            .index()
            .study_summary(&storage::TenantId::IMPLICIT, &plan.study_instance_uid)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((s.series, s.instances), (1, 240));
    });
}

#[test]
fn c_cancel_stops_a_find_and_a_move() {
    // 3000 small instances, imported before the server starts: enough
    // responses that a cancel sent after the first lands mid-stream.
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let (plan, instances) = filmless_test_data::ct_series_sized(32, 3000, (16, 16));
    write_files(files.path(), &instances);
    assert!(common::import(data.path(), &[files.path()])
        .status
        .success());
    let dest_port = free_port();
    let dest = format!("PYDEST@127.0.0.1:{dest_port}");
    let server = ServerProcess::start(
        data.path(),
        &[
            "--peer",
            "PYFIND@127.0.0.1:1",
            "--peer",
            "PYMOVE@127.0.0.1:1",
            "--peer",
            &dest,
        ],
        &[],
    );

    let r = pynetdicom(
        server.dicom_port,
        &["cancel-find", "--study", &plan.study_instance_uid],
    );
    assert_eq!(r["final"], 0xFE00, "C-FIND ends with Cancel: {r}");
    assert!(r["pending"].as_u64().unwrap() < 3000, "{r}");
    assert_eq!(
        r["after"],
        serde_json::json!([0xFF00, 0]),
        "the association still works: {r}"
    );

    let r = pynetdicom(
        server.dicom_port,
        &[
            "cancel-move",
            "--study",
            &plan.study_instance_uid,
            "--dest",
            "PYDEST",
            "--dest-port",
            &dest_port.to_string(),
        ],
    );
    assert_eq!(r["final"], 0xFE00, "C-MOVE ends with Cancel: {r}");
    let received = r["received"].as_u64().unwrap();
    assert!((1..3000).contains(&received), "{r}");
    assert!(server.logged("find done"));
}

#[test]
fn the_association_limit_rejects_with_local_limit_exceeded() {
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(
        data.path(),
        &[],
        &[("FILMLESS_DICOM__MAX_ASSOCIATIONS", "3")],
    );
    let r = pynetdicom(server.dicom_port, &["limits", "--n", "3"]);
    assert_eq!(r["held"], serde_json::json!([true, true, true]), "{r}");
    assert_eq!(r["extra_established"], false, "{r}");
    // Never let in; pynetdicom may report a refusal as a dropped
    // connection now and then (asked again then, at most 3 times).
    let outcomes = r["extra_outcomes"].as_array().unwrap();
    assert!(
        outcomes.iter().all(|o| o != "established") && outcomes.last().unwrap() == "rejected",
        "{r}"
    );
    // A-ASSOCIATE-RJ: rejected-transient (2), service-provider presentation (3), local limit exceeded (2).
    assert_eq!(
        r["rejection"],
        serde_json::json!({"result": 2, "source": 3, "reason": 2}),
        "{r}"
    );
    assert_eq!(
        r["echo_after"], 0,
        "a slot frees when an association ends: {r}"
    );
    assert!(server.logged("too many associations"));
}

#[test]
fn one_address_cannot_take_every_association() {
    let data = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(
        data.path(),
        &[],
        &[
            ("FILMLESS_DICOM__MAX_ASSOCIATIONS", "10"),
            ("FILMLESS_DICOM__MAX_ASSOCIATIONS_PER_PEER", "2"),
        ],
    );
    let r = pynetdicom(server.dicom_port, &["limits", "--n", "2"]);
    assert_eq!(r["held"], serde_json::json!([true, true]), "{r}");
    assert_eq!(r["extra_established"], false, "{r}");
    // Never let in; pynetdicom may report a refusal as a dropped
    // connection now and then (asked again then, at most 3 times).
    let outcomes = r["extra_outcomes"].as_array().unwrap();
    assert!(
        outcomes.iter().all(|o| o != "established") && outcomes.last().unwrap() == "rejected",
        "{r}"
    );
    assert_eq!(
        r["rejection"],
        serde_json::json!({"result": 2, "source": 3, "reason": 2}),
        "{r}"
    );
    assert_eq!(r["echo_after"], 0, "the address's slot frees: {r}");
    assert!(server.logged("max_associations_per_peer"));
}
