//! Graceful shutdown, and a bounded load test: many associations and HTTP
//! clients storing and querying at once for a fixed time, with no errors
//! and no unbounded memory growth.

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::ServerProcess;
use dicom_net::scu::{ScuAssociation, ScuOptions};
use dicom_net::Status;

const CT: &str = "1.2.840.10008.5.1.4.1.1.2";
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";

fn options(port: u16, ae: &str) -> ScuOptions {
    ScuOptions {
        calling_ae: ae.into(),
        called_ae: "FILMLESS".into(),
        addr: ([127, 0, 0, 1], port).into(),
        max_pdu_length: 65_536,
        timeout: Duration::from_secs(30),
    }
}

fn data_set(bytes: &[u8]) -> &[u8] {
    let (start, _) = dicom_net::retrieve::data_set_start(bytes).unwrap();
    &bytes[start..]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_finishes_open_associations_and_refuses_new_ones() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = ServerProcess::start(dir.path(), &[], &[]);
    let port = server.dicom_port;
    let proposals = [(CT.to_owned(), vec![EXPLICIT_LE.to_owned()])];
    let mut assoc = ScuAssociation::connect(&options(port, "CT01"), &proposals)
        .await
        .unwrap();
    let pc = assoc.accepted().into_iter().next().unwrap();
    server.sigterm();
    tokio::time::sleep(Duration::from_millis(500)).await;
    // No new association once shutdown began: refused at once.
    let t = Instant::now();
    assert!(ScuAssociation::connect(&options(port, "CT02"), &proposals)
        .await
        .is_err());
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "refused, not left waiting"
    );
    // The open one still stores.
    let (_, files) = filmless_test_data::ct_series_sized(77, 3, (64, 64));
    for f in &files {
        let r = assoc
            .store(&pc, &f.sop_instance_uid, data_set(&f.bytes), None)
            .await
            .unwrap();
        assert_eq!(r.status, Status::SUCCESS);
    }
    assoc.release().await.unwrap();
    let exit = server.terminate(Duration::from_secs(30));
    assert!(exit.success(), "{exit:?}");
    let archive = common::open_archive(dir.path()).await;
    assert_eq!(
        archive
            .index()
            .counts(storage::TenantScope::All)
            .await
            .unwrap()
            .instances,
        3
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bounded_load_without_errors_or_memory_growth() {
    const SECONDS: u64 = 20;
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), &["--peer", "RIS@127.0.0.1:1"], &[]);
    let port = server.dicom_port;
    let http = server.http.clone();
    let stop_at = Instant::now() + Duration::from_secs(SECONDS);
    let stored = Arc::new(AtomicU64::new(0));
    let queried = Arc::new(AtomicU64::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    // 8 associations storing small CT slices.
    for w in 0..8u64 {
        let stored = stored.clone();
        tasks.spawn(async move {
            let proposals = [(CT.to_owned(), vec![EXPLICIT_LE.to_owned()])];
            let mut assoc = ScuAssociation::connect(&options(port, "CT01"), &proposals)
                .await
                .map_err(|e| format!("associate: {e}"))?;
            let pc = assoc.accepted().into_iter().next().unwrap();
            let mut round = 0;
            while Instant::now() < stop_at {
                let (_, files) =
                    filmless_test_data::ct_series_sized(5_000 + w * 1_000 + round, 20, (64, 64));
                for f in &files {
                    let r = assoc
                        .store(&pc, &f.sop_instance_uid, data_set(&f.bytes), None)
                        .await
                        .map_err(|e| format!("store: {e}"))?;
                    if r.status != Status::SUCCESS {
                        return Err(format!("store status {}", r.status));
                    }
                    stored.fetch_add(1, Ordering::Relaxed);
                }
                round += 1;
            }
            assoc.release().await.map_err(|e| e.to_string())
        });
    }
    // 2 associations querying by C-FIND.
    for _ in 0..2 {
        let queried = queried.clone();
        tasks.spawn(async move {
            let proposals = [(
                "1.2.840.10008.5.1.4.1.2.2.1".to_owned(),
                vec![EXPLICIT_LE.to_owned()],
            )];
            let mut assoc = ScuAssociation::connect(&options(port, "RIS"), &proposals)
                .await
                .map_err(|e| format!("associate: {e}"))?;
            let pc = assoc.accepted().into_iter().next().unwrap();
            let mut obj = dicom_object::InMemDicomObject::new_empty();
            obj.put(dicom_core::DataElement::new(
                dicom_dictionary_std::tags::QUERY_RETRIEVE_LEVEL,
                dicom_core::VR::CS,
                dicom_core::PrimitiveValue::from("STUDY"),
            ));
            obj.put(dicom_core::DataElement::new(
                dicom_dictionary_std::tags::STUDY_INSTANCE_UID,
                dicom_core::VR::UI,
                dicom_core::PrimitiveValue::Empty,
            ));
            let identifier = dicom_net::dataset::encode(&obj, EXPLICIT_LE).unwrap();
            while Instant::now() < stop_at {
                let (_, rsp) = assoc
                    .find(&pc, &identifier)
                    .await
                    .map_err(|e| format!("find: {e}"))?;
                if rsp.status != Status::SUCCESS {
                    return Err(format!("find status {}", rsp.status));
                }
                queried.fetch_add(1, Ordering::Relaxed);
            }
            assoc.release().await.map_err(|e| e.to_string())
        });
    }
    // 4 HTTP clients searching and reading metadata.
    for _ in 0..4 {
        let (http, queried) = (http.clone(), queried.clone());
        tasks.spawn(async move {
            while Instant::now() < stop_at {
                let h = http.clone();
                let (status, _, body) = tokio::task::spawn_blocking(move || {
                    common::http(&h, "GET", "/dicom-web/studies?limit=20", &[], b"")
                })
                .await
                .unwrap();
                if status != 200 && status != 204 {
                    return Err(format!("QIDO status {status}"));
                }
                if status == 200 {
                    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
                    if let Some(study) = v[0]["0020000D"]["Value"][0].as_str() {
                        let h = http.clone();
                        let path = format!("/dicom-web/studies/{study}/metadata");
                        let (status, _, _) = tokio::task::spawn_blocking(move || {
                            common::http(&h, "GET", &path, &[], b"")
                        })
                        .await
                        .unwrap();
                        if status != 200 {
                            return Err(format!("metadata status {status}"));
                        }
                    }
                }
                queried.fetch_add(1, Ordering::Relaxed);
            }
            Ok(())
        });
    }
    // Memory, sampled each second.
    let mut samples = Vec::new();
    while Instant::now() < stop_at {
        tokio::time::sleep(Duration::from_secs(1)).await;
        samples.push(server.rss_kib());
    }
    while let Some(r) = tasks.join_next().await {
        r.unwrap()
            .unwrap_or_else(|e| panic!("a client failed: {e}"));
    }
    let stored = stored.load(Ordering::Relaxed);
    let queried = queried.load(Ordering::Relaxed);
    eprintln!(
        "{SECONDS} s: {stored} stored, {queried} queries; RSS (KiB) each second: {samples:?}"
    );
    assert!(
        stored > 200 && queried > 50,
        "{stored} stored, {queried} queried"
    );
    // Memory levels off: the last third of the run holds no more than the
    // middle third plus 50%, and stays under 300 MB.
    let third = samples.len() / 3;
    let middle = *samples[third..2 * third].iter().max().unwrap();
    let last = *samples[2 * third..].iter().max().unwrap();
    assert!(last <= middle * 3 / 2, "memory grew: {samples:?}");
    assert!(last < 300 * 1024, "memory: {samples:?}");
    let archive = common::open_archive(dir.path()).await;
    assert_eq!(
        archive
            .index()
            .counts(storage::TenantScope::All)
            .await
            .unwrap()
            .instances as u64,
        stored
    );
}
