//! The index conformance suite, run on SQLite and on PostgreSQL
//! (127.0.0.1:5432): identity rows, aggregates on insert and delete,
//! duplicates, concurrency from many tasks and from two "processes"
//! (two independent pools on one database).

mod common;

use bytes::Bytes;
use common::ScratchDb;
use filmless_test_data::{Corpus, Options};
use futures::future::join_all;
use futures::TryStreamExt;
use std::sync::atomic::Ordering::Relaxed;
use storage::{
    Archive, BlobRef, BlobStore, CompressionKind, DuplicatePolicy, ErrorKind, Prepared,
    StoreOutcome,
};
use storage::{Backend, TenantId, TenantScope};

async fn archive(db: &ScratchDb, policy: DuplicatePolicy) -> Archive {
    let blobs = BlobStore::open(
        "memory://",
        &Default::default(),
        CompressionKind::Zstd,
        3,
        16,
    )
    .unwrap();
    Archive::from_parts(blobs, db.index().await, policy, 16 * 1024 * 1024)
}

fn corpus() -> Corpus {
    Corpus::new(
        42,
        Options {
            patients: 2,
            ..Options::small(6)
        },
    )
}

/// A CT's 16-bit pixel data is compressed in byte planes, whichever way it
/// arrives (whole, as import and STOW-RS hand it over, or streamed in
/// pieces, as C-STORE does): a 512×512 slice at this suite's zstd level 3
/// takes 41% of its size (48.5% compressed as it is), and reads back
/// exactly.
async fn sixteen_bit_pixels_go_in_byte_planes(db: ScratchDb) {
    let a = archive(&db, DuplicatePolicy::KeepFirst).await;
    let (_, slices) = filmless_test_data::ct_series(77, 2);
    let (whole, streamed) = (&slices[0], &slices[1]);
    a.store_bytes(&TenantId::IMPLICIT, Bytes::from(whole.bytes.clone()))
        .await
        .unwrap();
    let pieces: Vec<std::io::Result<Bytes>> = streamed
        .bytes
        .chunks(16_372)
        .map(|p| Ok(Bytes::copy_from_slice(p)))
        .collect();
    a.store_stream(&TenantId::IMPLICIT, futures::stream::iter(pieces), None)
        .await
        .unwrap();
    for slice in [whole, streamed] {
        let stored = a
            .instance(&TenantId::IMPLICIT, &slice.sop_instance_uid)
            .await
            .unwrap();
        let ratio = stored.blob.stored_size as f64 / stored.blob.original_size as f64;
        assert!(ratio < 0.45, "stored at {ratio:.3} of its size");
        let back = a
            .read_instance(&TenantId::IMPLICIT, &slice.sop_instance_uid)
            .await
            .unwrap();
        assert!(back[..] == slice.bytes[..], "read back differs");
    }
}

async fn identity_rows_and_aggregates(db: ScratchDb) {
    let a = archive(&db, DuplicatePolicy::KeepFirst).await;
    let c = corpus();
    // Studies 0 (CT, 6 slices), 1 (CR), 3 (MR, 2 series × 4), 5 (CT).
    let mut total = 0;
    for s in [0, 1, 3, 5] {
        let plan = c.study(s);
        for i in c.instances(&plan) {
            assert_eq!(
                a.store_bytes(&TenantId::IMPLICIT, Bytes::from(i.bytes))
                    .await
                    .unwrap()
                    .outcome,
                StoreOutcome::Stored
            );
            total += 1;
        }
    }
    let counts = a.index().counts(TenantScope::All).await.unwrap();
    assert_eq!(counts.instances, total);
    assert_eq!(counts.studies, 4);
    assert_eq!(counts.series, 5);
    assert_eq!(
        counts.patients, 2,
        "studies share the corpus's two patients"
    );

    let mr = c.study(3);
    let summary = a
        .index()
        .study_summary(&TenantId::IMPLICIT, &mr.study_instance_uid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((summary.series, summary.instances), (2, 8));
    assert_eq!(summary.modalities, vec!["MR".to_owned()]);
    assert!(summary.size > 0);
    let (series_uid, _) = &mr.series[1];
    assert_eq!(
        a.index()
            .series_instance_count(&TenantId::IMPLICIT, series_uid)
            .await
            .unwrap(),
        Some(4)
    );

    // Instances of a series come back in instance-number order.
    let ct = c.study(0);
    let listed = a
        .index()
        .series_instances(&TenantId::IMPLICIT, &ct.series[0].0)
        .await
        .unwrap();
    let expected: Vec<String> = c.instances(&ct).map(|i| i.sop_instance_uid).collect();
    assert_eq!(
        listed
            .iter()
            .map(|i| i.sop_instance_uid.clone())
            .collect::<Vec<_>>(),
        expected
    );
    assert!(listed
        .iter()
        .all(|i| i.frames.len() == 1 && i.number_of_frames == 1));

    // WADO-RS metadata comes from the index, bulk data as URIs.
    let json: serde_json::Value = serde_json::from_str(
        &a.index()
            .instance_json(&TenantId::IMPLICIT, &expected[0])
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(json["00100020"]["Value"][0], ct.patient.id);
    assert_eq!(json["7FE00010"]["BulkDataURI"], "bulkdata/7FE00010");
    assert!(json["7FE00010"].get("InlineBinary").is_none());
}

async fn deletes_keep_aggregates_right(db: ScratchDb) {
    let a = archive(&db, DuplicatePolicy::KeepFirst).await;
    let c = corpus();
    let mr = c.study(3);
    let instances: Vec<_> = c.instances(&mr).collect();
    for i in &instances {
        a.store_bytes(&TenantId::IMPLICIT, Bytes::from(i.bytes.clone()))
            .await
            .unwrap();
    }
    let ct = c.study(0);
    for i in c.instances(&ct) {
        a.store_bytes(&TenantId::IMPLICIT, Bytes::from(i.bytes))
            .await
            .unwrap();
    }

    // One instance of the MR's first series.
    a.delete_instance(&TenantId::IMPLICIT, &instances[0].sop_instance_uid)
        .await
        .unwrap();
    let s = a
        .index()
        .study_summary(&TenantId::IMPLICIT, &mr.study_instance_uid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((s.series, s.instances), (2, 7));
    assert_eq!(
        a.index()
            .series_instance_count(&TenantId::IMPLICIT, &mr.series[0].0)
            .await
            .unwrap(),
        Some(3)
    );
    let err = a
        .read_instance(&TenantId::IMPLICIT, &instances[0].sop_instance_uid)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(
        a.delete_instance(&TenantId::IMPLICIT, &instances[0].sop_instance_uid)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );

    // The rest of that series, one by one: the series row goes with the last.
    for i in &instances[1..4] {
        a.delete_instance(&TenantId::IMPLICIT, &i.sop_instance_uid)
            .await
            .unwrap();
    }
    assert_eq!(
        a.index()
            .series_instance_count(&TenantId::IMPLICIT, &mr.series[0].0)
            .await
            .unwrap(),
        None
    );
    let s = a
        .index()
        .study_summary(&TenantId::IMPLICIT, &mr.study_instance_uid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((s.series, s.instances), (1, 4));

    // A whole series, then a whole study.
    assert_eq!(
        a.delete_series(&TenantId::IMPLICIT, &mr.series[1].0)
            .await
            .unwrap(),
        4
    );
    assert!(
        a.index()
            .study_summary(&TenantId::IMPLICIT, &mr.study_instance_uid)
            .await
            .unwrap()
            .is_none(),
        "empty study removed"
    );
    assert_eq!(
        a.delete_study(&TenantId::IMPLICIT, &ct.study_instance_uid)
            .await
            .unwrap(),
        6
    );
    assert_eq!(
        a.index().counts(TenantScope::All).await.unwrap(),
        Default::default(),
        "empty patients removed too"
    );
    let blobs: Vec<(String, u64)> = futures::TryStreamExt::try_collect(a.blobs().list())
        .await
        .unwrap();
    assert!(blobs.is_empty(), "blobs deleted with their rows: {blobs:?}");
    assert_eq!(
        a.delete_study(&TenantId::IMPLICIT, &ct.study_instance_uid)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

fn changed_copy(bytes: &[u8]) -> Vec<u8> {
    // Same UIDs, different pixels: flip the last byte.
    let mut v = bytes.to_vec();
    let last = v.len() - 1;
    v[last] ^= 0xFF;
    v
}

async fn duplicates_follow_policy(db: ScratchDb) {
    let c = corpus();
    let plan = c.study(1);
    let original = c.instances(&plan).next().unwrap();
    let changed = changed_copy(&original.bytes);
    let sop = original.sop_instance_uid.clone();

    let keep = archive(&db, DuplicatePolicy::KeepFirst).await;
    assert_eq!(
        keep.store_bytes(&TenantId::IMPLICIT, Bytes::from(original.bytes.clone()))
            .await
            .unwrap()
            .outcome,
        StoreOutcome::Stored
    );
    assert_eq!(
        keep.store_bytes(&TenantId::IMPLICIT, Bytes::from(original.bytes.clone()))
            .await
            .unwrap()
            .outcome,
        StoreOutcome::AlreadyPresent
    );
    assert_eq!(
        keep.store_bytes(&TenantId::IMPLICIT, Bytes::from(changed.clone()))
            .await
            .unwrap()
            .outcome,
        StoreOutcome::KeptExisting
    );
    assert_eq!(
        keep.read_instance(&TenantId::IMPLICIT, &sop).await.unwrap(),
        original.bytes
    );

    let reject = archive(&db, DuplicatePolicy::Reject).await;
    let err = reject
        .store_bytes(&TenantId::IMPLICIT, Bytes::from(changed.clone()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::AlreadyExists, "{err}");
    assert_eq!(
        reject
            .store_bytes(&TenantId::IMPLICIT, Bytes::from(original.bytes.clone()))
            .await
            .unwrap()
            .outcome,
        StoreOutcome::AlreadyPresent
    );

    let overwrite = archive(&db, DuplicatePolicy::Overwrite).await;
    assert_eq!(
        overwrite
            .store_bytes(&TenantId::IMPLICIT, Bytes::from(changed.clone()))
            .await
            .unwrap()
            .outcome,
        StoreOutcome::Replaced
    );
    assert_eq!(
        overwrite
            .read_instance(&TenantId::IMPLICIT, &sop)
            .await
            .unwrap(),
        changed
    );
    let counts = overwrite.index().counts(TenantScope::All).await.unwrap();
    assert_eq!(
        (counts.instances, counts.series, counts.studies),
        (1, 1, 1),
        "never a duplicate row"
    );
    let s = overwrite
        .index()
        .study_summary(&TenantId::IMPLICIT, &plan.study_instance_uid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((s.series, s.instances), (1, 1));
}

async fn concurrent_ingest_never_duplicates(db: ScratchDb) {
    // Two independent archives on one database stand for two processes.
    let (a, b) = (
        archive(&db, DuplicatePolicy::KeepFirst).await,
        archive(&db, DuplicatePolicy::KeepFirst).await,
    );
    let c = Corpus::new(
        7,
        Options {
            patients: 1,
            ..Options::small(24)
        },
    );
    let plan = c.study(0);
    let instances: Vec<_> = c.instances(&plan).collect();
    // Every instance sent twice, interleaved over 16 tasks and both archives.
    let tasks = instances
        .iter()
        .chain(instances.iter())
        .enumerate()
        .map(|(n, i)| {
            let archive = if n % 2 == 0 { a.clone() } else { b.clone() };
            let bytes = Bytes::from(i.bytes.clone());
            tokio::spawn(async move { archive.store_bytes(&TenantId::IMPLICIT, bytes).await })
        });
    let results = join_all(tasks).await;
    let mut stored = 0;
    for r in results {
        match r.unwrap().unwrap().outcome {
            StoreOutcome::Stored => stored += 1,
            StoreOutcome::AlreadyPresent => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(stored, 24);
    let counts = a.index().counts(TenantScope::All).await.unwrap();
    assert_eq!(
        (
            counts.patients,
            counts.studies,
            counts.series,
            counts.instances
        ),
        (1, 1, 1, 24)
    );
    let s = a
        .index()
        .study_summary(&TenantId::IMPLICIT, &plan.study_instance_uid)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((s.series, s.instances), (1, 24));
    // Both archives store into one memory store each: every row's blob is
    // in one of them.
    for i in &instances {
        let bytes = match a
            .read_instance(&TenantId::IMPLICIT, &i.sop_instance_uid)
            .await
        {
            Ok(b) => b,
            Err(_) => b
                .read_instance(&TenantId::IMPLICIT, &i.sop_instance_uid)
                .await
                .unwrap(),
        };
        assert_eq!(bytes, i.bytes);
    }
}

async fn invalid_instances_leave_nothing(db: ScratchDb) {
    let a = archive(&db, DuplicatePolicy::KeepFirst).await;
    let c = corpus();
    let plan = c.study(1);
    let good = c.instances(&plan).next().unwrap().bytes;
    // Truncated pixel data.
    let err = a
        .store_bytes(
            &TenantId::IMPLICIT,
            Bytes::from(good[..good.len() - 100].to_vec()),
        )
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid, "{err}");
    assert!(err.to_string().contains("truncated"), "{err}");
    // Not DICOM at all.
    let err = a
        .store_bytes(&TenantId::IMPLICIT, Bytes::from_static(&[0u8; 300]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    // A UID with characters a UID cannot have.
    let sop = c.instances(&plan).next().unwrap().sop_instance_uid;
    let bad_uid = sop.replacen("2.25.", "2.25.A", 1);
    let mut evil = good.clone();
    let at = evil
        .windows(sop.len())
        .rposition(|w| w == sop.as_bytes())
        .unwrap();
    evil[at..at + sop.len()].copy_from_slice(&bad_uid.as_bytes()[..sop.len()]);
    let err = a
        .store_bytes(&TenantId::IMPLICIT, Bytes::from(evil))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert!(err.to_string().contains("SOPInstanceUID"), "{err}");
    // A defined-length sequence whose item holds a value declaring 2 GB:
    // refused before dicom-rs reserves the 2 GB (the fuzzer found this).
    let start = storage::scan::scan_complete(&good).unwrap().dataset_start;
    let mut text = Vec::new();
    text.extend_from_slice(&[0x40, 0x00, 0x60, 0xA1, b'U', b'T', 0, 0]);
    text.extend_from_slice(&0x7FFF_FFF0u32.to_le_bytes());
    text.extend_from_slice(b"x ");
    let mut item = vec![0xFE, 0xFF, 0x00, 0xE0];
    item.extend_from_slice(&(text.len() as u32).to_le_bytes());
    item.extend_from_slice(&text);
    let mut seq = vec![0x08, 0x00, 0x32, 0x10, b'S', b'Q', 0, 0];
    seq.extend_from_slice(&(item.len() as u32).to_le_bytes());
    seq.extend_from_slice(&item);
    let mut bomb = good.clone();
    bomb.splice(start..start, seq);
    let err = a
        .store_bytes(&TenantId::IMPLICIT, Bytes::from(bomb))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Invalid);
    assert!(
        err.to_string()
            .contains("(0040,A160) at offset 20 declares 2147483632 bytes but only 2 remain"),
        "{err}"
    );
    assert_eq!(
        a.index().counts(TenantScope::All).await.unwrap(),
        Default::default()
    );
    let blobs: Vec<(String, u64)> = futures::TryStreamExt::try_collect(a.blobs().list())
        .await
        .unwrap();
    assert!(blobs.is_empty());
}

async fn streamed_ingest_matches_in_memory(db: ScratchDb) {
    let a = archive(&db, DuplicatePolicy::KeepFirst).await;
    let c = corpus();
    let plan = c.study(0);
    for i in c.instances(&plan) {
        let pieces: Vec<std::io::Result<Bytes>> = i
            .bytes
            .chunks(777)
            .map(|p| Ok(Bytes::copy_from_slice(p)))
            .collect();
        let stored = a
            .store_stream(&TenantId::IMPLICIT, futures::stream::iter(pieces), None)
            .await
            .unwrap();
        assert_eq!(stored.outcome, StoreOutcome::Stored);
        assert_eq!(
            a.read_instance(&TenantId::IMPLICIT, &i.sop_instance_uid)
                .await
                .unwrap(),
            i.bytes
        );
        // Frame 1 is exactly the native pixel data, one ranged read.
        let inst = a
            .instance(&TenantId::IMPLICIT, &i.sop_instance_uid)
            .await
            .unwrap();
        let frame = a.read_frame(&inst, 1).await.unwrap();
        assert_eq!(frame.len(), 64 * 64 * 2);
        assert_eq!(&frame[..], &i.bytes[i.bytes.len() - frame.len()..]);
        assert_eq!(
            a.read_frame(&inst, 2).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
        // Sent again streamed: identical, so already present.
        let again = a
            .store_stream(
                &TenantId::IMPLICIT,
                futures::stream::iter(vec![Ok(Bytes::from(i.bytes.clone()))]),
                None,
            )
            .await
            .unwrap();
        assert_eq!(again.outcome, StoreOutcome::AlreadyPresent);
    }
}

async fn queries_match_per_ps3_4(db: ScratchDb) {
    use dicom_dictionary_std::tags;
    use storage::query::{attribute, Query, QueryLevel};
    let a = archive(&db, DuplicatePolicy::KeepFirst).await;
    let c = Corpus::new(
        11,
        Options {
            patients: 3,
            ..Options::small(3)
        },
    );
    let plans: Vec<_> = (0..10).map(|s| c.study(s)).collect();
    for p in &plans {
        for i in c.instances(p) {
            a.store_bytes(&TenantId::IMPLICIT, Bytes::from(i.bytes))
                .await
                .unwrap();
        }
    }
    let q = |level, filters: &[(dicom_core::Tag, &str)]| {
        let mut q = Query::new(level);
        for (t, v) in filters {
            q.add(attribute(*t).unwrap(), v).unwrap();
        }
        q
    };
    let studies = |filters: &[(dicom_core::Tag, &str)]| {
        let query = q(QueryLevel::Study, filters);
        let index = a.index().clone();
        async move {
            let mut uids: Vec<String> = index
                .query(&query)
                .await
                .unwrap()
                .iter()
                .map(|m| m.get(tags::STUDY_INSTANCE_UID).unwrap().to_owned())
                .collect();
            uids.sort();
            uids
        }
    };
    let expect = |pred: &dyn Fn(&filmless_test_data::StudyPlan) -> bool| {
        let mut v: Vec<String> = plans
            .iter()
            .filter(|p| pred(p))
            .map(|p| p.study_instance_uid.clone())
            .collect();
        v.sort();
        v
    };

    assert_eq!(studies(&[]).await.len(), 10);
    // Universal matching on an empty value.
    assert_eq!(studies(&[(tags::PATIENT_NAME, "")]).await.len(), 10);
    // Wildcard, case-insensitive person names.
    let family = plans[0].patient.name.split('^').next().unwrap().to_owned();
    let lower = format!("{}*", family.to_lowercase());
    assert_eq!(
        studies(&[(tags::PATIENT_NAME, &lower)]).await,
        expect(&|p| p.patient.name.starts_with(&format!("{family}^")))
    );
    // Single value on accession number; `?` wildcard.
    assert_eq!(
        studies(&[(tags::ACCESSION_NUMBER, "ACC00000003")]).await,
        expect(&|p| p.index == 2)
    );
    assert_eq!(
        studies(&[(tags::ACCESSION_NUMBER, "ACC0000000?")])
            .await
            .len(),
        9
    );
    // Date ranges: closed, open below, open above.
    let mut dates: Vec<&str> = plans.iter().map(|p| p.study_date.as_str()).collect();
    dates.sort();
    let (lo, hi) = (dates[2], dates[6]);
    assert_eq!(
        studies(&[(tags::STUDY_DATE, &format!("{lo}-{hi}"))]).await,
        expect(&|p| p.study_date.as_str() >= lo && p.study_date.as_str() <= hi)
    );
    assert_eq!(
        studies(&[(tags::STUDY_DATE, &format!("-{lo}"))]).await,
        expect(&|p| p.study_date.as_str() <= lo)
    );
    assert_eq!(
        studies(&[(tags::STUDY_DATE, &format!("{hi}-"))]).await,
        expect(&|p| p.study_date.as_str() >= hi)
    );
    // UID list, either separator.
    let list = format!(
        "{}\\{}",
        plans[1].study_instance_uid, plans[4].study_instance_uid
    );
    assert_eq!(
        studies(&[(tags::STUDY_INSTANCE_UID, &list)]).await,
        expect(&|p| p.index == 1 || p.index == 4)
    );
    // ModalitiesInStudy.
    assert_eq!(
        studies(&[(tags::MODALITIES_IN_STUDY, "CT\\MR")]).await,
        expect(&|p| matches!(p.modality.code(), "CT" | "MR"))
    );

    // Returned values, derived ones included.
    let mr = &plans[3];
    let m = a
        .index()
        .query(&q(
            QueryLevel::Study,
            &[(tags::STUDY_INSTANCE_UID, &mr.study_instance_uid)],
        ))
        .await
        .unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].get(tags::MODALITIES_IN_STUDY), Some("MR"));
    assert_eq!(m[0].get(tags::NUMBER_OF_STUDY_RELATED_SERIES), Some("2"));
    assert_eq!(m[0].get(tags::NUMBER_OF_STUDY_RELATED_INSTANCES), Some("8"));
    assert_eq!(m[0].get(tags::PATIENT_ID), Some(mr.patient.id.as_str()));

    // Series and instance levels under a study; paging.
    let series = a
        .index()
        .query(&q(
            QueryLevel::Series,
            &[(tags::STUDY_INSTANCE_UID, &mr.study_instance_uid)],
        ))
        .await
        .unwrap();
    assert_eq!(series.len(), 2);
    assert_eq!(
        series[0].get(tags::NUMBER_OF_SERIES_RELATED_INSTANCES),
        Some("4")
    );
    let mut paged = q(
        QueryLevel::Instance,
        &[(tags::STUDY_INSTANCE_UID, &mr.study_instance_uid)],
    );
    paged.limit = Some(3);
    paged.offset = 6;
    assert_eq!(a.index().query(&paged).await.unwrap().len(), 2);
    let inst = a
        .index()
        .query(&q(
            QueryLevel::Instance,
            &[
                (tags::SERIES_INSTANCE_UID, &mr.series[1].0),
                (tags::INSTANCE_NUMBER, "2"),
            ],
        ))
        .await
        .unwrap();
    assert_eq!(inst.len(), 1);
    assert_eq!(inst[0].get(tags::INSTANCE_NUMBER), Some("2"));
    // Patient level.
    let patients = a
        .index()
        .query(&q(
            QueryLevel::Patient,
            &[(tags::PATIENT_ID, &mr.patient.id)],
        ))
        .await
        .unwrap();
    assert_eq!(patients.len(), 1);
    let n: usize = patients[0]
        .get(tags::NUMBER_OF_PATIENT_RELATED_STUDIES)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(
        n,
        plans
            .iter()
            .filter(|p| p.patient.id == mr.patient.id)
            .count()
    );

    // Retrieve: the instances a study-level identifier selects.
    let selected = a
        .index()
        .query_instances(&q(
            QueryLevel::Study,
            &[(tags::STUDY_INSTANCE_UID, &mr.study_instance_uid)],
        ))
        .await
        .unwrap();
    assert_eq!(selected.len(), 8);
    assert!(selected
        .iter()
        .all(|i| i.study_instance_uid == mr.study_instance_uid));
}

async fn deflated_and_tiny_streams(db: ScratchDb) {
    let a = archive(&db, DuplicatePolicy::KeepFirst).await;
    let samples = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../test-data/pydicom");
    let Ok(deflated) = std::fs::read(samples.join("image_dfl.dcm")) else {
        panic!("run test-data/fetch-pydicom.sh first (scripts/test does)");
    };
    // Streamed in one piece and in small pieces: the input ends during the
    // header scan, and must not be polled past its end.
    let stored = a
        .store_stream(
            &TenantId::IMPLICIT,
            futures::stream::iter(vec![Ok(Bytes::from(deflated.clone()))]),
            None,
        )
        .await
        .unwrap();
    assert_eq!(stored.transfer_syntax_uid, "1.2.840.10008.1.2.1.99");
    let pieces: Vec<std::io::Result<Bytes>> = deflated
        .chunks(100)
        .map(|p| Ok(Bytes::copy_from_slice(p)))
        .collect();
    let again = a
        .store_stream(&TenantId::IMPLICIT, futures::stream::iter(pieces), None)
        .await
        .unwrap();
    assert_eq!(again.outcome, StoreOutcome::AlreadyPresent);
    assert_eq!(
        a.read_instance(&TenantId::IMPLICIT, &stored.sop_instance_uid)
            .await
            .unwrap(),
        deflated
    );
}

/// A bulk batch gives the rows and counters that one-by-one ingest gives,
/// and skips instances already present.
async fn batches_match_single_inserts(db: ScratchDb) {
    let a = archive(&db, DuplicatePolicy::KeepFirst).await;
    let c = corpus();
    let (ct, cr, mr) = (c.study(0), c.study(1), c.study(3));
    let ct_files: Vec<_> = c.instances(&ct).collect();
    for i in &ct_files[..2] {
        a.store_bytes(&TenantId::IMPLICIT, Bytes::from(i.bytes.clone()))
            .await
            .unwrap();
    }
    let prepared: Vec<Prepared> = ct_files
        .iter()
        .cloned()
        .chain(c.instances(&mr))
        .chain(c.instances(&cr))
        .map(|i| Prepared::parse(Bytes::from(i.bytes)).unwrap())
        .collect();
    let blobs: Vec<BlobRef> = prepared
        .iter()
        .map(|p| BlobRef {
            key: format!("bulk/{}", p.sop_instance_uid()),
            compression: CompressionKind::None,
            original_size: p.size(),
            stored_size: p.size(),
            chunk_table: Vec::new(),
        })
        .collect();
    let implicit = TenantId::implicit();
    let batch: Vec<_> = prepared
        .iter()
        .zip(&blobs)
        .map(|(p, b)| p.new_instance(&implicit, b))
        .collect();
    assert_eq!(a.index().insert_batch(&batch).await.unwrap(), 4 + 8 + 1);
    assert_eq!(a.index().insert_batch(&batch).await.unwrap(), 0);
    let counts = a.index().counts(TenantScope::All).await.unwrap();
    assert_eq!(
        (counts.studies, counts.series, counts.instances),
        (3, 4, 15)
    );
    let summary = |uid: String| {
        let a = a.clone();
        async move {
            a.index()
                .study_summary(&TenantId::IMPLICIT, &uid)
                .await
                .unwrap()
                .unwrap()
        }
    };
    let s = summary(ct.study_instance_uid.clone()).await;
    assert_eq!((s.series, s.instances), (1, 6));
    let ct_size: i64 = ct_files.iter().map(|i| i.bytes.len() as i64).sum();
    assert_eq!(s.size, ct_size);
    let s = summary(mr.study_instance_uid.clone()).await;
    assert_eq!((s.series, s.instances), (2, 8));
    assert_eq!(
        a.index()
            .series_instance_count(&TenantId::IMPLICIT, &mr.series[1].0)
            .await
            .unwrap(),
        Some(4)
    );
    let s = summary(cr.study_instance_uid.clone()).await;
    assert_eq!((s.series, s.instances), (1, 1));
}

/// Group commit: instances arriving while the index is busy wait, none
/// acknowledged, then go in together in one or two transactions; the same
/// instance twice in one batch makes it fall back to one transaction per
/// instance, and each caller still gets its own answer. Objects on local
/// disk, so that the files and their directories are written and synced as
/// in production.
async fn group_commit_batches_and_acknowledges_after_commit(db: ScratchDb) {
    let dir = tempfile::tempdir().unwrap();
    let blobs = BlobStore::open(
        &format!("file://{}", dir.path().display()),
        &Default::default(),
        CompressionKind::Zstd,
        1,
        16,
    )
    .unwrap();
    let a = Archive::from_parts(
        blobs,
        db.index().await,
        DuplicatePolicy::KeepFirst,
        16 * 1024 * 1024,
    );
    let c = Corpus::new(
        11,
        Options {
            patients: 2,
            ..Options::small(12)
        },
    );
    let mut files: Vec<_> = c.instances(&c.study(0)).collect();
    files.extend(c.instances(&c.study(1)));
    assert!(files.len() >= 12, "{}", files.len());
    // One instance of the first study stored first, so that its study and
    // series row ids are remembered from an earlier transaction.
    a.store_bytes(&TenantId::IMPLICIT, Bytes::from(files[0].bytes.clone()))
        .await
        .unwrap();
    assert_eq!(a.commit_stats().transactions.load(Relaxed), 1);

    // Another connection holds the index's write lock.
    let other = db.index().await;
    let blocker = match other.backend() {
        Backend::Sqlite => other.pool().begin_with("BEGIN IMMEDIATE").await.unwrap(),
        Backend::Postgres => {
            let mut tx = other.pool().begin().await.unwrap();
            sqlx::query("LOCK TABLE instance IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await
                .unwrap();
            tx
        }
    };
    // The rest, and the last one twice, all at once; streamed in pieces as
    // C-STORE and STOW-RS do.
    let rest: Vec<Vec<u8>> = files[1..]
        .iter()
        .map(|f| f.bytes.clone())
        .chain([files[files.len() - 1].bytes.clone()])
        .collect();
    let tasks: Vec<_> = rest
        .iter()
        .map(|bytes| {
            let a = a.clone();
            let pieces: Vec<std::io::Result<Bytes>> = bytes
                .chunks(7000)
                .map(|p| Ok(Bytes::copy_from_slice(p)))
                .collect();
            tokio::spawn(async move {
                a.store_stream(&TenantId::IMPLICIT, futures::stream::iter(pieces), None)
                    .await
            })
        })
        .collect();
    // Time for every store to reach the queue, on a slow machine too.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert!(
        tasks.iter().all(|t| !t.is_finished()),
        "an instance was acknowledged before its rows were committed"
    );
    assert_eq!(a.commit_stats().transactions.load(Relaxed), 1);
    blocker.rollback().await.unwrap();

    let mut outcomes = Vec::new();
    for t in tasks {
        outcomes.push(t.await.unwrap().unwrap().outcome);
    }
    let stored = outcomes
        .iter()
        .filter(|o| **o == StoreOutcome::Stored)
        .count();
    let present = outcomes
        .iter()
        .filter(|o| **o == StoreOutcome::AlreadyPresent)
        .count();
    assert_eq!((stored, present), (files.len() - 1, 1), "{outcomes:?}");
    let stats = a.commit_stats();
    // The first waiting instance alone (it found the lock taken), then
    // everything that queued behind it; the duplicate makes one batch fall
    // back to single inserts.
    assert!(stats.retried_batches.load(Relaxed) >= 1);
    assert!(
        stats.transactions.load(Relaxed) <= 3,
        "{} transactions",
        stats.transactions.load(Relaxed)
    );

    let counts = a.index().counts(TenantScope::All).await.unwrap();
    assert_eq!((counts.studies, counts.instances), (2, files.len() as i64));
    for plan in [c.study(0), c.study(1)] {
        let s = a
            .index()
            .study_summary(&TenantId::IMPLICIT, &plan.study_instance_uid)
            .await
            .unwrap()
            .unwrap();
        let expected: Vec<_> = c.instances(&plan).collect();
        assert_eq!(s.instances, expected.len() as i64);
        assert_eq!(s.series, plan.series.len() as i64);
        assert_eq!(
            s.size,
            expected.iter().map(|i| i.bytes.len() as i64).sum::<i64>()
        );
    }
    for f in &files {
        assert_eq!(
            a.read_instance(&TenantId::IMPLICIT, &f.sop_instance_uid)
                .await
                .unwrap(),
            f.bytes
        );
    }
    // The duplicate's own copy was removed: one file per instance.
    let objects: Vec<(String, u64)> = a.blobs().list().try_collect().await.unwrap();
    assert_eq!(objects.len(), files.len(), "{objects:?}");

    // On local disk the body is written while the UID is looked up: a
    // resend, and other content under a stored UID (keep-first), leave no
    // file behind.
    let again = |bytes: Vec<u8>| {
        let a = a.clone();
        let pieces: Vec<std::io::Result<Bytes>> = bytes
            .chunks(9000)
            .map(|p| Ok(Bytes::copy_from_slice(p)))
            .collect();
        async move {
            a.store_stream(&TenantId::IMPLICIT, futures::stream::iter(pieces), None)
                .await
                .unwrap()
                .outcome
        }
    };
    assert_eq!(
        again(files[3].bytes.clone()).await,
        StoreOutcome::AlreadyPresent
    );
    assert_eq!(
        again(changed_copy(&files[3].bytes)).await,
        StoreOutcome::KeptExisting
    );
    let objects: Vec<(String, u64)> = a.blobs().list().try_collect().await.unwrap();
    assert_eq!(objects.len(), files.len(), "{objects:?}");
}

/// Wait (30 s at most) until `a` has no upload from its spool under way.
async fn uploads_finish(a: &Archive, what: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while a.blobs().uploads_pending() > 0 {
        assert!(std::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// Every file under `dir`.
fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            out.extend(walk(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

/// S3 behind the spool: instances are acknowledged while S3 cannot take
/// them (its bucket does not exist yet), read back from the spool, then
/// uploaded once it can, retried with backoff, and the spool empties; every
/// object is then in S3 itself, and `check` agrees with the index. A
/// restart uploads what a crash left in the spool.
async fn spool_acknowledges_before_s3_and_uploads_after(db: ScratchDb) {
    let dir = tempfile::tempdir().unwrap();
    let bucket = common::bucket_name();
    let moto = common::moto();
    let s3 = storage::S3Options {
        endpoint: Some(moto.endpoint.clone()),
        region: Some("us-east-1".into()),
        access_key_id: Some("testing".into()),
        secret_access_key: Some("testing".into()),
        path_style: Some(true),
    };
    let url = format!("s3://{bucket}/archive");
    let blobs = BlobStore::open(&url, &s3, CompressionKind::Zstd, 1, 16)
        .unwrap()
        .with_spool(dir.path().join("spool"))
        .unwrap();
    assert!(blobs.spooled());
    let a = Archive::from_parts(
        blobs,
        db.index().await,
        DuplicatePolicy::KeepFirst,
        16 * 1024 * 1024,
    );
    let c = corpus();
    let files: Vec<_> = c.instances(&c.study(0)).collect();
    for f in &files {
        let stored = a
            .store_bytes(&TenantId::IMPLICIT, Bytes::from(f.bytes.clone()))
            .await
            .unwrap();
        assert_eq!(stored.outcome, StoreOutcome::Stored);
    }
    // S3 has no bucket: everything is still spooled, and readable.
    assert_eq!(
        a.blobs().spooled_objects().await.unwrap().len(),
        files.len()
    );
    // One is deleted while its upload waits to be retried: it must not
    // reach S3 afterwards.
    let (gone, files) = files.split_first().unwrap();
    a.delete_instance(&TenantId::IMPLICIT, &gone.sop_instance_uid)
        .await
        .unwrap();
    for f in files {
        let i = a
            .instance(&TenantId::IMPLICIT, &f.sop_instance_uid)
            .await
            .unwrap();
        assert_eq!(
            a.read_instance(&TenantId::IMPLICIT, &f.sop_instance_uid)
                .await
                .unwrap(),
            f.bytes
        );
        let frame = a.read_frame(&i, 1).await.unwrap();
        assert!(!frame.is_empty());
    }

    // S3 comes up: the retries go through and the spool empties.
    moto.bucket(&bucket);
    uploads_finish(&a, "uploads did not finish").await;
    assert!(a.blobs().spooled_objects().await.unwrap().is_empty());
    // Nothing left in the spool folder, tombstones included.
    let left: Vec<_> = walk(&dir.path().join("spool"));
    assert!(left.is_empty(), "{left:?}");
    // Read through a store with no spool: the objects are in S3 itself.
    let plain = Archive::from_parts(
        BlobStore::open(&url, &s3, CompressionKind::Zstd, 1, 16).unwrap(),
        db.index().await,
        DuplicatePolicy::KeepFirst,
        16 * 1024 * 1024,
    );
    for f in files {
        assert_eq!(
            plain
                .read_instance(&TenantId::IMPLICIT, &f.sop_instance_uid)
                .await
                .unwrap(),
            f.bytes
        );
    }
    let in_s3: Vec<(String, u64)> = plain.blobs().list().try_collect().await.unwrap();
    assert_eq!(
        in_s3.len(),
        files.len(),
        "the deleted instance reached S3: {in_s3:?}"
    );
    let report = a
        .check(true, false, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert!(report.clean() && report.orphans.is_empty(), "{report:?}");
    assert_eq!((report.spooled, report.blobs), (0, files.len() as u64));

    // A restart finds an object left in the spool (a crash between the
    // commit and the upload) and uploads it.
    let extra = &c.instances(&c.study(1)).next().unwrap();
    let stored_before = {
        let spool_only = BlobStore::open(
            "s3://no-such-bucket-here/x",
            &s3,
            CompressionKind::Zstd,
            1,
            16,
        )
        .unwrap()
        .with_spool(dir.path().join("spool"))
        .unwrap();
        let b = Archive::from_parts(
            spool_only,
            db.index().await,
            DuplicatePolicy::KeepFirst,
            16 * 1024 * 1024,
        );
        b.store_bytes(&TenantId::IMPLICIT, Bytes::from(extra.bytes.clone()))
            .await
            .unwrap();
        b.instance(&TenantId::IMPLICIT, &extra.sop_instance_uid)
            .await
            .unwrap()
    };
    assert_eq!(a.blobs().spooled_objects().await.unwrap().len(), 1);
    assert_eq!(a.blobs().resume_uploads().await.unwrap(), 1);
    uploads_finish(&a, "the resumed upload did not finish").await;
    assert_eq!(
        plain.blobs().read(&stored_before.blob).await.unwrap(),
        extra.bytes
    );
}

/// A STOW-RS to `/studies/{uid}` of another study's instance: refused once
/// its header is read, nothing written; with `overwrite`, an instance of
/// that UID stored before stays as it was.
async fn wrong_study_is_refused_before_writing(db: ScratchDb) {
    let a = archive(&db, DuplicatePolicy::Overwrite).await;
    let c = corpus();
    let one = c.instances(&c.study(0)).next().unwrap();
    let objects = || async {
        futures::TryStreamExt::try_collect::<Vec<_>>(a.blobs().list())
            .await
            .unwrap()
    };
    let err = a
        .store_stream(
            &TenantId::IMPLICIT,
            futures::stream::iter(vec![Ok(Bytes::from(one.bytes.clone()))]),
            Some("1.2.3.4"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, storage::Error::WrongStudy { .. }), "{err}");
    assert_eq!(
        a.index().counts(TenantScope::All).await.unwrap().instances,
        0
    );
    let keys = objects().await;
    assert!(keys.is_empty(), "no object written: {keys:?}");
    // Stored first; then other content under the same UID, for the wrong
    // study: overwrite would replace it, the study check comes first.
    a.store_bytes(&TenantId::IMPLICIT, Bytes::from(one.bytes.clone()))
        .await
        .unwrap();
    let err = a
        .store_stream(
            &TenantId::IMPLICIT,
            futures::stream::iter(vec![Ok(Bytes::from(changed_copy(&one.bytes)))]),
            Some("1.2.3.4"),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, storage::Error::WrongStudy { .. }), "{err}");
    assert_eq!(
        a.read_instance(&TenantId::IMPLICIT, &one.sop_instance_uid)
            .await
            .unwrap(),
        one.bytes,
        "the stored instance is unchanged"
    );
    assert_eq!(objects().await.len(), 1, "no second object");
}

/// The same study, series and SOP Instance UIDs stored by two tenants:
/// two separate copies, each seen only through its tenant; queries,
/// counts, reads and deletes in one leave the other alone; users of one
/// tenant are not changed or removed by the other.
async fn tenants_never_mix(db: ScratchDb) {
    use storage::query::{attribute, Query, QueryLevel};
    let a = archive(&db, DuplicatePolicy::Reject).await;
    let c = corpus();
    let plan = c.study(0);
    let files: Vec<_> = c.instances(&plan).collect();
    let (h1, h2) = (
        TenantId::parse("h1").unwrap(),
        TenantId::parse("h2").unwrap(),
    );
    for f in &files {
        for t in [&h1, &h2] {
            let stored = a
                .store_bytes(t, Bytes::from(f.bytes.clone()))
                .await
                .unwrap();
            assert_eq!(stored.outcome, StoreOutcome::Stored, "new in {t}");
        }
    }
    // Another copy with other content in h2 only: h1's stays as it was
    // (the duplicate policy is per tenant too).
    let changed = changed_copy(&files[0].bytes);
    assert_eq!(
        a.store_bytes(&h2, Bytes::from(changed))
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::AlreadyExists
    );
    let sop = &files[0].sop_instance_uid;
    let i1 = a.index().instance(&h1, sop).await.unwrap().unwrap();
    let i2 = a.index().instance(&h2, sop).await.unwrap().unwrap();
    assert_ne!(i1.id, i2.id);
    assert_eq!((i1.tenant.as_str(), i2.tenant.as_str()), ("h1", "h2"));
    assert!(i1.blob.key.starts_with("tenants/h1/"), "{}", i1.blob.key);
    assert!(i2.blob.key.starts_with("tenants/h2/"), "{}", i2.blob.key);
    assert_eq!(BlobStore::tenant_of_key(&i2.blob.key), Some(h2.clone()));
    assert!(a
        .index()
        .instance(&TenantId::implicit(), sop)
        .await
        .unwrap()
        .is_none());
    let n = files.len() as i64;
    for t in [&h1, &h2] {
        let c = a.index().counts(TenantScope::One(t)).await.unwrap();
        assert_eq!((c.patients, c.studies, c.instances), (1, 1, n));
        let s = a
            .index()
            .study_summary(t, &plan.study_instance_uid)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(s.instances, n, "counters per tenant");
    }
    assert_eq!(a.index().counts(TenantScope::All).await.unwrap().studies, 2);
    assert_eq!(
        a.index()
            .tenants_of_study(&plan.study_instance_uid)
            .await
            .unwrap(),
        vec![h1.clone(), h2.clone()]
    );
    // The one query model, confined to a tenant.
    let mut q = Query::new(QueryLevel::Instance);
    q.add(
        attribute(dicom_dictionary_std::tags::STUDY_INSTANCE_UID).unwrap(),
        &plan.study_instance_uid,
    )
    .unwrap();
    q.tenant = Some(h1.clone());
    assert_eq!(a.index().query(&q).await.unwrap().len(), files.len());
    let selected = a.index().query_instances(&q).await.unwrap();
    assert_eq!(selected.len(), files.len());
    assert!(selected.iter().all(|i| i.tenant == h1));
    q.tenant = None;
    assert_eq!(a.index().query(&q).await.unwrap().len(), 2 * files.len());
    q.tenant = Some(TenantId::parse("h3").unwrap());
    assert!(a.index().query(&q).await.unwrap().is_empty());
    // Reads by series and metadata, each in its tenant.
    let series = &files[0].series_instance_uid;
    for t in [&h1, &h2] {
        let in_series = a.index().series_instances(t, series).await.unwrap();
        assert!(!in_series.is_empty() && in_series.iter().all(|i| &i.tenant == t));
        let metadata = a
            .index()
            .metadata(t, &plan.study_instance_uid, None)
            .await
            .unwrap();
        assert_eq!(metadata.len(), files.len());
    }
    // Deleting an instance, then a series, in h1 leaves h2's.
    let series_len = a.index().series_instances(&h2, series).await.unwrap().len();
    a.delete_instance(&h1, sop).await.unwrap();
    assert!(a.index().instance(&h1, sop).await.unwrap().is_none());
    assert!(a.index().instance(&h2, sop).await.unwrap().is_some());
    a.delete_series(&h1, series).await.unwrap();
    assert!(a
        .index()
        .series_instances(&h1, series)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        a.index().series_instances(&h2, series).await.unwrap().len(),
        series_len
    );
    // Deleting h1's study (what is left of it) leaves h2's whole.
    let n_series = files
        .iter()
        .map(|f| &f.series_instance_uid)
        .collect::<std::collections::HashSet<_>>()
        .len();
    if n_series > 1 {
        assert!(a.delete_study(&h1, &plan.study_instance_uid).await.unwrap() > 0);
    }
    assert!(a.index().instance(&h1, sop).await.unwrap().is_none());
    assert_eq!(a.read_instance(&h2, sop).await.unwrap(), files[0].bytes);
    assert_eq!(
        a.index()
            .counts(TenantScope::One(&h2))
            .await
            .unwrap()
            .instances,
        n
    );
    assert_eq!(
        a.delete_study(&h1, &plan.study_instance_uid)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
    // Users: a write or removal confined to h1 does not touch h2's user.
    let user = |name: &str, tenant: &TenantId, hash: &str| storage::UserRow {
        name: name.into(),
        password_hash: hash.into(),
        roles: "viewer".into(),
        tenant: tenant.as_str().into(),
        created_at: 0,
        disabled: false,
    };
    let index = a.index();
    assert!(index
        .put_user(&user("bob", &h2, "h2-hash"), None)
        .await
        .unwrap());
    assert!(index
        .put_user(&user("ann", &h1, "h1-hash"), Some(&h1))
        .await
        .unwrap());
    assert!(
        !index
            .put_user(&user("bob", &h1, "taken"), Some(&h1))
            .await
            .unwrap(),
        "h1 cannot take h2's user"
    );
    let bob = index.user("bob").await.unwrap().unwrap();
    assert_eq!(
        (bob.tenant.as_str(), bob.password_hash.as_str()),
        ("h2", "h2-hash")
    );
    assert!(!index.remove_user("bob", Some(&h1)).await.unwrap());
    assert!(index.user("bob").await.unwrap().is_some());
    let names =
        |users: Vec<storage::UserRow>| users.into_iter().map(|u| u.name).collect::<Vec<_>>();
    assert_eq!(names(index.users(Some(&h1)).await.unwrap()), ["ann"]);
    assert_eq!(names(index.users(None).await.unwrap()), ["ann", "bob"]);
    assert!(index.remove_user("bob", Some(&h2)).await.unwrap());
}

/// An archive indexed before tenants existed upgrades in place: its rows
/// land in the implicit tenant, and nothing else changes.
async fn upgrade_to_tenants_in_place(db: ScratchDb) {
    // The schema as it was (migrations 1 and 2), run by sqlx from a folder.
    let dir = tempfile::tempdir().unwrap();
    let dialect = if db.url.starts_with("sqlite") {
        "sqlite"
    } else {
        "postgres"
    };
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../migrations")
        .join(dialect);
    for f in ["0001_archive.sql", "0002_users_audit.sql"] {
        std::fs::copy(src.join(f), dir.path().join(f)).unwrap();
    }
    let before = {
        sqlx::any::install_default_drivers();
        let url = if dialect == "sqlite" {
            format!("{}?mode=rwc", db.url)
        } else {
            db.url.clone()
        };
        let pool = sqlx::AnyPool::connect(&url).await.unwrap();
        sqlx::migrate::Migrator::new(dir.path())
            .await
            .unwrap()
            .run(&pool)
            .await
            .unwrap();
        for sql in [
            "INSERT INTO patient (patient_id, patient_name, created_at) VALUES ('P1', 'OLD^PATIENT', 0)",
            "INSERT INTO study (patient_ref, study_instance_uid, created_at, updated_at, \
             number_of_study_related_series, number_of_study_related_instances) \
             SELECT id, '1.2.3', 0, 0, 1, 1 FROM patient",
            "INSERT INTO series (study_ref, series_instance_uid, modality, created_at, \
             number_of_series_related_instances) SELECT id, '1.2.3.4', 'CT', 0, 1 FROM study",
            "INSERT INTO app_user (name, password_hash, roles, created_at) VALUES ('alice', 'x', 'viewer', 0)",
            "INSERT INTO audit_event (at, actor, actor_kind, source, action, outcome) \
             VALUES (0, 'alice', 'user', '127.0.0.1', 'qido-rs', 'success')",
        ] {
            sqlx::query(sql).execute(&pool).await.unwrap();
        }
        sqlx::query(
            "INSERT INTO instance (series_ref, sop_instance_uid, sop_class_uid, transfer_syntax_uid, \
             blob_key, compression, original_size, stored_size, sha256, chunk_table, frames, \
             frames_encapsulated, dicom_json, created_at) SELECT id, '1.2.3.4.5', \
             '1.2.840.10008.5.1.4.1.1.2', '1.2.840.10008.1.2.1', '1.2.3/1.2.3.4/1.2.3.4.5.0.dcm', \
             'none', 10, 10, 'ab', $1, $2, 0, '{}', 0 FROM series",
        )
        .bind(Vec::<u8>::new())
        .bind(Vec::<u8>::new())
        .execute(&pool)
        .await
        .unwrap();
        let before = index_names(&pool, dialect).await;
        pool.close().await;
        before
    };
    let index = db.index().await;
    // Every index survives the upgrade (SQLite rebuilds the tables), and
    // the trail gets one by tenant.
    let after = index_names(index.pool(), dialect).await;
    for name in before
        .iter()
        .chain(["audit_event_tenant_idx".to_owned()].iter())
    {
        assert!(
            after.contains(name),
            "index {name} after the upgrade: {after:?}"
        );
    }
    if dialect == "sqlite" {
        let broken = sqlx::query("PRAGMA foreign_key_check")
            .fetch_all(index.pool())
            .await
            .unwrap();
        assert!(broken.is_empty(), "every reference holds after the rebuild");
    }
    let i = index
        .instance(&TenantId::implicit(), "1.2.3.4.5")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (i.study_instance_uid.as_str(), i.tenant.is_implicit()),
        ("1.2.3", true)
    );
    assert_eq!(
        index
            .counts(TenantScope::One(&TenantId::implicit()))
            .await
            .unwrap()
            .instances,
        1
    );
    assert_eq!(index.user("alice").await.unwrap().unwrap().tenant, "");
    let events = index.audit(&Default::default()).await.unwrap();
    assert_eq!((events.len(), events[0].tenant.as_str()), (1, ""));
    // The old unique keys are gone: the same UIDs fit in another tenant.
    let blobs = BlobStore::open(
        "memory://",
        &Default::default(),
        CompressionKind::None,
        1,
        4,
    )
    .unwrap();
    let a = Archive::from_parts(blobs, index, DuplicatePolicy::Reject, 1 << 24);
    let plan = corpus().study(1);
    let f = corpus().instances(&plan).next().unwrap();
    let h1 = TenantId::parse("h1").unwrap();
    a.store_bytes(&TenantId::implicit(), Bytes::from(f.bytes.clone()))
        .await
        .unwrap();
    assert_eq!(
        a.store_bytes(&h1, Bytes::from(f.bytes))
            .await
            .unwrap()
            .outcome,
        StoreOutcome::Stored
    );
}

/// The names of the indexes we made (not those SQLite makes for UNIQUE).
async fn index_names(pool: &sqlx::AnyPool, dialect: &str) -> Vec<String> {
    let sql = if dialect == "sqlite" {
        "SELECT name FROM sqlite_master WHERE type = 'index' \
         AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name"
    } else {
        "SELECT indexname::text FROM pg_indexes WHERE schemaname = current_schema() \
         AND indexname LIKE '%_idx' ORDER BY indexname"
    };
    sqlx::query_scalar(sql).fetch_all(pool).await.unwrap()
}

macro_rules! index_suite {
    ($($backend:ident: $db:expr;)*) => {
        $(
            mod $backend {
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn identity_and_aggregates() {
                    identity_rows_and_aggregates($db).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn byte_planes() {
                    sixteen_bit_pixels_go_in_byte_planes($db).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn deletes() {
                    deletes_keep_aggregates_right($db).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn duplicates() {
                    duplicates_follow_policy($db).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn concurrency() {
                    concurrent_ingest_never_duplicates($db).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn invalid_input() {
                    invalid_instances_leave_nothing($db).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn deflated_streams() {
                    deflated_and_tiny_streams($db).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn queries() {
                    queries_match_per_ps3_4($db).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn group_commit() {
                    group_commit_batches_and_acknowledges_after_commit($db).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn spool() {
                    spool_acknowledges_before_s3_and_uploads_after($db).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn bulk_batches() {
                    batches_match_single_inserts($db).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn streamed_ingest() {
                    streamed_ingest_matches_in_memory($db).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn wrong_study() {
                    wrong_study_is_refused_before_writing($db).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn tenants() {
                    tenants_never_mix($db).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn upgrade_to_tenants() {
                    upgrade_to_tenants_in_place($db).await;
                }
            }
        )*
    };
}

index_suite! {
    sqlite: ScratchDb::sqlite();
    postgres: ScratchDb::postgres().await;
}

/// `check --repair` removes an orphan only when nothing can be lost: a
/// copy, or not DICOM. When the index cannot take it right now, it stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repair_never_removes_the_only_copy() {
    let db = ScratchDb::sqlite();
    let a = archive(&db, DuplicatePolicy::KeepFirst).await;
    let c = corpus();
    let instance = c.instances(&c.study(1)).next().unwrap();
    let uid = |s: &str| storage::Uid::parse("UID", s).unwrap();
    let key = a.blobs().instance_key(
        &TenantId::IMPLICIT,
        &uid("1.2.3"),
        &uid("1.2.3.4"),
        &uid(&instance.sop_instance_uid),
    );
    a.blobs()
        .put(key.clone(), Bytes::from(instance.bytes.clone()))
        .await
        .unwrap();
    let garbage = a.blobs().instance_key(
        &TenantId::IMPLICIT,
        &uid("1.2.3"),
        &uid("1.2.3.4"),
        &uid("1.2.3.4.5"),
    );
    a.blobs()
        .put(
            garbage.clone(),
            Bytes::from_static(b"not dicom at all, just bytes"),
        )
        .await
        .unwrap();

    // The index refuses new instances, as a full disk or a lost database would.
    sqlx::query("CREATE TRIGGER refuse BEFORE INSERT ON instance BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
        .execute(a.index().pool())
        .await
        .unwrap();
    let report = a
        .check(false, true, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(report.orphans.len(), 2);
    assert_eq!(
        (report.reindexed, report.removed),
        (0, 1),
        "only the garbage went"
    );
    assert!(
        a.blobs().stored_size(&key).await.unwrap().is_some(),
        "the only copy is kept"
    );
    assert!(a.blobs().stored_size(&garbage).await.unwrap().is_none());
    assert!(!report.clean());

    // Once the index takes writes again, repair re-indexes it.
    sqlx::query("DROP TRIGGER refuse")
        .execute(a.index().pool())
        .await
        .unwrap();
    let report = a
        .check(false, true, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!((report.orphans.len(), report.reindexed), (1, 1));
    assert!(report.clean());
    assert_eq!(
        a.read_instance(&TenantId::IMPLICIT, &instance.sop_instance_uid)
            .await
            .unwrap(),
        instance.bytes
    );
}
