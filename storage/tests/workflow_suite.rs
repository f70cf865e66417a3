//! The RIS workflow's rows, on SQLite and PostgreSQL: worklist items and
//! their matching (accents folded, statuses, tenants), patient corrections
//! and merges across patient rows, instance metadata and the worklist,
//! performed procedure steps, and the job table's leases.

mod common;

use bytes::Bytes;
use common::ScratchDb;
use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use filmless_test_data::{Corpus, Options};
use storage::index::jobs::state;
use storage::query::Query;
use storage::record::PatientAttributes;
use storage::worklist::{status, PerformedStep, WorklistItem};
use storage::{Archive, BlobStore, CompressionKind, DuplicatePolicy, TenantId};

async fn archive(db: &ScratchDb) -> Archive {
    let blobs = BlobStore::open(
        "memory://",
        &Default::default(),
        CompressionKind::None,
        1,
        8,
    )
    .unwrap();
    Archive::from_parts(blobs, db.index().await, DuplicatePolicy::KeepFirst, 1 << 24)
}

fn put(o: &mut InMemDicomObject, tag: Tag, vr: VR, v: &str) {
    o.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
}

/// A worklist item data set.
fn item(patient: (&str, &str), study: &str, station: &str, date: &str, step: &str) -> WorklistItem {
    let mut s = InMemDicomObject::new_empty();
    put(&mut s, tags::SCHEDULED_STATION_AE_TITLE, VR::AE, station);
    put(&mut s, tags::MODALITY, VR::CS, "CT");
    put(
        &mut s,
        tags::SCHEDULED_PROCEDURE_STEP_START_DATE,
        VR::DA,
        date,
    );
    put(
        &mut s,
        tags::SCHEDULED_PROCEDURE_STEP_START_TIME,
        VR::TM,
        "103000",
    );
    put(&mut s, tags::SCHEDULED_PROCEDURE_STEP_ID, VR::SH, step);
    let mut o = InMemDicomObject::new_empty();
    put(&mut o, tags::PATIENT_ID, VR::LO, patient.0);
    put(&mut o, tags::PATIENT_NAME, VR::PN, patient.1);
    put(&mut o, tags::PATIENT_BIRTH_DATE, VR::DA, "19800101");
    put(
        &mut o,
        tags::ACCESSION_NUMBER,
        VR::SH,
        &format!("ACC-{step}"),
    );
    put(&mut o, tags::STUDY_INSTANCE_UID, VR::UI, study);
    o.put(DataElement::new(
        tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE,
        VR::SQ,
        DataSetSequence::from(vec![s]),
    ));
    WorklistItem::from_dataset(&o).unwrap()
}

/// A modality's worklist identifier: top-level keys and step keys.
fn identifier(top: &[(Tag, VR, &str)], step: &[(Tag, VR, &str)]) -> InMemDicomObject {
    let mut s = InMemDicomObject::new_empty();
    for (t, vr, v) in step {
        put(&mut s, *t, *vr, v);
    }
    let mut o = InMemDicomObject::new_empty();
    for (t, vr, v) in top {
        put(&mut o, *t, *vr, v);
    }
    o.put(DataElement::new(
        tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE,
        VR::SQ,
        DataSetSequence::from(vec![s]),
    ));
    o
}

async fn find(a: &Archive, tenant: &TenantId, id: &InMemDicomObject) -> Vec<String> {
    let (mut q, _) = Query::from_worklist_identifier(id).unwrap();
    q.tenant = Some(tenant.clone());
    a.index()
        .worklist_query(&q)
        .await
        .unwrap()
        .into_iter()
        .map(|h| {
            let v: serde_json::Value = serde_json::from_str(&h.dicom_json).unwrap();
            v["00400100"]["Value"][0]["00400009"]["Value"][0]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

async fn worklist_matching(db: ScratchDb) {
    let a = archive(&db).await;
    let t = TenantId::implicit();
    let index = a.index();
    let one = index
        .put_worklist_item(
            &t,
            &item(("P1", "NGUYỄN^VĂN AN"), "1.2.9.1", "CT1", "20261202", "S1"),
        )
        .await
        .unwrap();
    index
        .put_worklist_item(
            &t,
            &item(("P2", "TRẦN^THỊ BÌNH"), "1.2.9.2", "MR2", "20261203", "S2"),
        )
        .await
        .unwrap();
    index
        .put_worklist_item(
            &TenantId::parse("h1").unwrap(),
            &item(("P1", "NGUYỄN^VĂN AN"), "1.2.9.1", "CT1", "20261202", "S1"),
        )
        .await
        .unwrap();
    // Accents and case folded: `nguyen` finds NGUYỄN; Đ/đ too.
    let by_name = identifier(&[(tags::PATIENT_NAME, VR::PN, "nguyen*")], &[]);
    assert_eq!(find(&a, &t, &by_name).await, ["S1"]);
    let by_name = identifier(&[(tags::PATIENT_NAME, VR::PN, "tran^thi binh")], &[]);
    assert_eq!(find(&a, &t, &by_name).await, ["S2"]);
    // Keys of the step's sequence: station, date range, time.
    let station = identifier(&[], &[(tags::SCHEDULED_STATION_AE_TITLE, VR::AE, "CT1")]);
    assert_eq!(find(&a, &t, &station).await, ["S1"]);
    let range = identifier(
        &[],
        &[(
            tags::SCHEDULED_PROCEDURE_STEP_START_DATE,
            VR::DA,
            "20261203-",
        )],
    );
    assert_eq!(find(&a, &t, &range).await, ["S2"]);
    let all = identifier(&[(tags::PATIENT_NAME, VR::PN, "")], &[]);
    assert_eq!(
        find(&a, &t, &all).await.len(),
        2,
        "the other tenant's stays out"
    );
    // A changed order replaces its item (same study and step).
    let again = index
        .put_worklist_item(
            &t,
            &item(("P1", "NGUYỄN^VĂN AN"), "1.2.9.1", "CT9", "20261202", "S1"),
        )
        .await
        .unwrap();
    assert_eq!(again, one);
    assert_eq!(find(&a, &t, &station).await.len(), 0);
    // ... but not how far the modality got: a step in progress stays so
    // when the order is sent again.
    assert!(index
        .set_worklist_status(one, status::IN_PROGRESS)
        .await
        .unwrap());
    index
        .put_worklist_item(
            &t,
            &item(("P1", "NGUYỄN^VĂN AN"), "1.2.9.1", "CT9", "20261202", "S1"),
        )
        .await
        .unwrap();
    let kept = index.worklist_item(Some(&t), one).await.unwrap().unwrap();
    assert_eq!(kept.item.status, status::IN_PROGRESS);
    assert!(
        kept.item.dicom_json.contains("IN PROGRESS"),
        "{}",
        kept.item.dicom_json
    );
    // The scheduled performing physician is a matching key, accents folded.
    let mut performer = item(("P3", "LÊ^VĂN C"), "1.2.9.3", "US1", "20261202", "S3");
    performer.scheduled_performing_physician_name = "PHẠM^MINH".into();
    index.put_worklist_item(&t, &performer).await.unwrap();
    let by_performer = identifier(
        &[],
        &[(tags::SCHEDULED_PERFORMING_PHYSICIAN_NAME, VR::PN, "pham*")],
    );
    assert_eq!(find(&a, &t, &by_performer).await, ["S3"]);
    let nobody = identifier(
        &[],
        &[(tags::SCHEDULED_PERFORMING_PHYSICIAN_NAME, VR::PN, "tran*")],
    );
    assert!(find(&a, &t, &nobody).await.is_empty());
    // Cancelled items leave the worklist, unless a status is asked for.
    assert!(index
        .set_worklist_status(one, status::CANCELLED)
        .await
        .unwrap());
    assert_eq!(find(&a, &t, &all).await, ["S2", "S3"]);
    let cancelled = identifier(
        &[],
        &[(tags::SCHEDULED_PROCEDURE_STEP_STATUS, VR::CS, "CANCELLED")],
    );
    assert_eq!(find(&a, &t, &cancelled).await, ["S1"]);
    let stored = index.worklist_item(Some(&t), one).await.unwrap().unwrap();
    assert!(stored.item.dicom_json.contains("CANCELLED"));
    assert!(index
        .worklist_item(Some(&TenantId::parse("h2").unwrap()), one)
        .await
        .unwrap()
        .is_none());
    // By order: placer number, else accession.
    let of_order = index
        .worklist_items_of_order(&t, "", "ACC-S2")
        .await
        .unwrap();
    assert_eq!(of_order.len(), 1);
    assert_eq!(of_order[0].item.scheduled_station_ae_title, "MR2");
}

async fn patients_are_corrected_and_merged(db: ScratchDb) {
    let a = archive(&db).await;
    let t = TenantId::implicit();
    let c = Corpus::new(
        7,
        Options {
            patients: 2,
            ..Options::small(4)
        },
    );
    let s0 = c.study(0);
    let s1 = (1..)
        .map(|n| c.study(n))
        .find(|s| s.patient.id != s0.patient.id)
        .unwrap();
    for plan in [&s0, &s1] {
        for i in c.instances(plan) {
            a.store_bytes(&t, Bytes::from(i.bytes)).await.unwrap();
        }
    }
    let index = a.index();
    index
        .put_worklist_item(
            &t,
            &item(
                (&s0.patient.id, &s0.patient.name),
                "1.2.9.7",
                "CT1",
                "20261202",
                "S7",
            ),
        )
        .await
        .unwrap();
    // A08: name, birth date and sex corrected everywhere.
    let new = PatientAttributes {
        patient_id: s0.patient.id.clone(),
        issuer_of_patient_id: String::new(),
        patient_name: "NGUYỄN^VĂN AN".into(),
        patient_birth_date: "19790203".into(),
        patient_sex: "M".into(),
    };
    let change = index.update_patient(&t, &new).await.unwrap();
    assert_eq!(
        change.before.as_ref().unwrap().patient_name,
        s0.patient.name
    );
    assert_eq!(change.studies, std::slice::from_ref(&s0.study_instance_uid));
    assert_eq!(change.instances, s0.instance_count());
    assert_eq!(change.worklist_items, 1);
    let mut q = storage::query::Query::new(storage::query::QueryLevel::Study);
    q.add(
        storage::query::attribute(tags::PATIENT_NAME).unwrap(),
        "nguyen^van an",
    )
    .unwrap();
    let m = index.query(&q).await.unwrap();
    assert_eq!(m.len(), 1);
    assert_eq!(m[0].get(tags::PATIENT_NAME), Some("NGUYỄN^VĂN AN"));
    assert_eq!(m[0].get(tags::PATIENT_BIRTH_DATE), Some("19790203"));
    let meta = index
        .metadata(&t, &s0.study_instance_uid, None)
        .await
        .unwrap();
    for i in &meta {
        let v: serde_json::Value = serde_json::from_str(&i.dicom_json).unwrap();
        assert_eq!(v["00100010"]["Value"][0]["Alphabetic"], "NGUYỄN^VĂN AN");
        assert_eq!(v["00100030"]["Value"][0], "19790203");
        assert!(v["7FE00010"].is_object(), "the rest stays");
    }
    let wl = identifier(&[(tags::PATIENT_NAME, VR::PN, "NGUYEN*")], &[]);
    assert_eq!(find(&a, &t, &wl).await, ["S7"]);
    // What the instances carry when they leave: the correction.
    let patch = index
        .object_patch(&t, &s0.study_instance_uid)
        .await
        .unwrap()
        .unwrap()
        .patient
        .unwrap();
    assert_eq!(
        (
            patch.patient_name.as_str(),
            patch.patient_birth_date.as_str()
        ),
        ("NGUYỄN^VĂN AN", "19790203")
    );
    assert!(index
        .object_patch(&t, &s1.study_instance_uid)
        .await
        .unwrap()
        .is_none());
    // Nothing of a patient: nothing changes, and it says so.
    let nobody = PatientAttributes {
        patient_id: "NOBODY".into(),
        ..new.clone()
    };
    assert!(index
        .update_patient(&t, &nobody)
        .await
        .unwrap()
        .before
        .is_none());

    // A40: s0's patient merged into s1's.
    let survivor = PatientAttributes {
        patient_id: s1.patient.id.clone(),
        issuer_of_patient_id: String::new(),
        // The message carries the survivor's current demographics.
        patient_name: "LÊ^THỊ MAI".into(),
        patient_birth_date: s1.patient.birth_date.clone(),
        patient_sex: s1.patient.sex.clone(),
    };
    let merged = index
        .merge_patient(&t, &s0.patient.id, "", &survivor)
        .await
        .unwrap();
    assert_eq!(merged.studies, std::slice::from_ref(&s0.study_instance_uid));
    let mut q = storage::query::Query::new(storage::query::QueryLevel::Study);
    q.add(
        storage::query::attribute(tags::PATIENT_ID).unwrap(),
        &s1.patient.id,
    )
    .unwrap();
    assert_eq!(
        index.query(&q).await.unwrap().len(),
        2,
        "both studies are the survivor's"
    );
    let mut q = storage::query::Query::new(storage::query::QueryLevel::Patient);
    q.add(
        storage::query::attribute(tags::PATIENT_ID).unwrap(),
        &s0.patient.id,
    )
    .unwrap();
    assert!(
        index.query(&q).await.unwrap().is_empty(),
        "the merged patient is gone"
    );
    let mut q = storage::query::Query::new(storage::query::QueryLevel::Patient);
    q.add(
        storage::query::attribute(tags::PATIENT_ID).unwrap(),
        &s1.patient.id,
    )
    .unwrap();
    let p = index.query(&q).await.unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(
        p[0].get(tags::PATIENT_NAME),
        Some("LÊ^THỊ MAI"),
        "the survivor takes the message's demographics"
    );
    let own = index
        .metadata(&t, &s1.study_instance_uid, None)
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&own[0].dicom_json).unwrap();
    assert_eq!(v["00100010"]["Value"][0]["Alphabetic"], "LÊ^THỊ MAI");
    for study in [&s0.study_instance_uid, &s1.study_instance_uid] {
        let patch = index
            .object_patch(&t, study)
            .await
            .unwrap()
            .unwrap()
            .patient
            .unwrap();
        assert_eq!(
            (patch.patient_id.as_str(), patch.patient_name.as_str()),
            (s1.patient.id.as_str(), "LÊ^THỊ MAI"),
            "both studies leave as the survivor's"
        );
    }
    let meta = index
        .metadata(&t, &s0.study_instance_uid, None)
        .await
        .unwrap();
    let v: serde_json::Value = serde_json::from_str(&meta[0].dicom_json).unwrap();
    assert_eq!(v["00100020"]["Value"][0], s1.patient.id.as_str());
    let wl = identifier(&[(tags::PATIENT_ID, VR::LO, &s1.patient.id)], &[]);
    assert_eq!(
        find(&a, &t, &wl).await,
        ["S7"],
        "the worklist item moved too"
    );
    // Merging someone unknown changes nothing.
    let unknown = index
        .merge_patient(&t, "NOBODY", "", &survivor)
        .await
        .unwrap();
    assert!(unknown.before.is_none() && unknown.studies.is_empty());

    // One ID under two issuers (two hospitals): a correction that names
    // no issuer is refused rather than applied to both.
    for (issuer, study, step) in [("BV_A", "1.2.9.21", "S21"), ("BV_B", "1.2.9.22", "S22")] {
        let mut i = item(("P5", "HỒ^AN"), study, "CT1", "20261202", step);
        i.issuer_of_patient_id = issuer.into();
        index.put_worklist_item(&t, &i).await.unwrap();
    }
    let correction = PatientAttributes {
        patient_id: "P5".into(),
        issuer_of_patient_id: String::new(),
        patient_name: "HỒ^AN BÌNH".into(),
        patient_birth_date: "19900101".into(),
        patient_sex: "F".into(),
    };
    let err = index.update_patient(&t, &correction).await.unwrap_err();
    assert!(err.to_string().contains("several issuers"), "{err}");
    let by_name = identifier(&[(tags::PATIENT_NAME, VR::PN, "ho^an binh")], &[]);
    assert!(find(&a, &t, &by_name).await.is_empty(), "nothing changed");
    let with_issuer = PatientAttributes {
        issuer_of_patient_id: "BV_A".into(),
        ..correction
    };
    let change = index.update_patient(&t, &with_issuer).await.unwrap();
    assert_eq!(change.worklist_items, 1);
    assert_eq!(find(&a, &t, &by_name).await, ["S21"]);
    // A study deleted takes its patch along.
    index
        .delete_study(&t, &s0.study_instance_uid)
        .await
        .unwrap();
    assert!(index
        .object_patch(&t, &s0.study_instance_uid)
        .await
        .unwrap()
        .is_none());
}

async fn performed_steps_end_once(db: ScratchDb) {
    let a = archive(&db).await;
    let t = TenantId::implicit();
    let step = PerformedStep {
        sop_instance_uid: "1.2.9.100".into(),
        status: "IN PROGRESS".into(),
        calling_ae_title: "CT1".into(),
        study_instance_uid: "1.2.9.1".into(),
        dicom_json: "{}".into(),
        ..Default::default()
    };
    let index = a.index();
    assert!(index.insert_performed_step(&t, &step).await.unwrap());
    assert!(
        !index.insert_performed_step(&t, &step).await.unwrap(),
        "duplicate"
    );
    let done = PerformedStep {
        status: "COMPLETED".into(),
        ..step.clone()
    };
    assert!(index.update_performed_step(&t, &done).await.unwrap());
    assert!(
        !index.update_performed_step(&t, &done).await.unwrap(),
        "a completed step may no longer be updated"
    );
    assert_eq!(
        index
            .performed_step(&t, "1.2.9.100")
            .await
            .unwrap()
            .unwrap()
            .status,
        "COMPLETED"
    );
    assert!(index
        .performed_step(&TenantId::parse("h1").unwrap(), "1.2.9.100")
        .await
        .unwrap()
        .is_none());
}

async fn jobs_are_leased_retried_and_resumed(db: ScratchDb) {
    let a = archive(&db).await;
    let t = TenantId::implicit();
    let index = a.index();
    // Leased to its creator: no worker takes it meanwhile.
    let leased = index
        .enqueue_job(&t, "k", "CT1", "{}", Some(60_000))
        .await
        .unwrap();
    assert!(index.take_jobs("k", 10, 1_000).await.unwrap().is_empty());
    // Put back by the holder of lease 1: taken at once, its attempts counted.
    assert!(index.retry_job(leased, 1, 0, "released").await.unwrap());
    let taken = index.take_jobs("k", 10, 1_000).await.unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(
        (taken[0].attempts, taken[0].last_error.as_str()),
        (2, "released")
    );
    // A worker that dies holds it until its lease ends, then another takes it.
    assert!(index.take_jobs("k", 10, 1_000).await.unwrap().is_empty());
    tokio::time::sleep(std::time::Duration::from_millis(1_100)).await;
    let again = index.take_jobs("k", 10, 60_000).await.unwrap();
    assert_eq!(again.len(), 1, "resumed after the lease");
    assert_eq!(again[0].attempts, 3);
    // A restart (on one node) ends the leases of the process that is gone
    // at once: taken again, the old lease's holder locked out. (Held by
    // this process, which runs: its holder is set to no process.)
    assert!(index.take_jobs("k", 10, 60_000).await.unwrap().is_empty());
    sqlx::query("UPDATE job SET lease_holder = 'pid:0:0' WHERE id = $1")
        .bind(leased)
        .execute(index.pool())
        .await
        .unwrap();
    assert_eq!(index.expire_leases().await.unwrap(), 1);
    let resumed = index.take_jobs("k", 10, 60_000).await.unwrap();
    assert_eq!(resumed.len(), 1, "resumed at once");
    assert_eq!(resumed[0].attempts, 4);
    assert!(!index.finish_job(leased, 3, None).await.unwrap());
    // The holder of lease 4 puts it back; taken as attempt 5.
    assert!(index.retry_job(leased, 4, 0, "restarted").await.unwrap());
    let again = index.take_jobs("k", 10, 60_000).await.unwrap();
    assert_eq!(again[0].attempts, 5);
    // The worker whose lease ended can neither renew, retry nor finish it:
    // only the holder of the newest lease can.
    assert!(!index.renew_job(leased, 2, 60_000).await.unwrap());
    assert!(!index.retry_job(leased, 2, 0, "late").await.unwrap());
    assert!(!index.finish_job(leased, 2, Some("late")).await.unwrap());
    assert!(index.renew_job(leased, 5, 60_000).await.unwrap());
    assert!(index.finish_job(leased, 5, None).await.unwrap());
    // A finished job stays finished, whoever comes late.
    assert!(!index.retry_job(leased, 5, 0, "again").await.unwrap());
    assert!(!index.finish_job(leased, 5, Some("again")).await.unwrap());
    assert_eq!(index.jobs("k", state::DONE).await.unwrap().len(), 1);
    assert_eq!(index.job(leased).await.unwrap().unwrap().state, state::DONE);
    // Two workers on two pools never take the same job.
    for n in 0..20 {
        index
            .enqueue_job(&t, "many", "X", &format!("{{\"n\":{n}}}"), None)
            .await
            .unwrap();
    }
    let other = db.index().await;
    let (x, y) = tokio::join!(
        index.take_jobs("many", 20, 60_000),
        other.take_jobs("many", 20, 60_000)
    );
    let mut ids: Vec<i64> = x
        .unwrap()
        .into_iter()
        .chain(y.unwrap())
        .map(|j| j.id)
        .collect();
    ids.sort();
    let n = ids.len();
    ids.dedup();
    assert_eq!((n, ids.len()), (20, 20), "each job taken exactly once");
    assert!(index.finish_job(ids[0], 1, Some("gave up")).await.unwrap());
    let failed = index.jobs("many", state::FAILED).await.unwrap();
    assert_eq!(failed[0].last_error, "gave up");
    // Retried by hand: attempts never go down (they name the leases); the
    // count starts again from attempt_base.
    assert!(index.requeue_job(ids[0]).await.unwrap());
    let again = index.job(ids[0]).await.unwrap().unwrap();
    assert_eq!(
        (again.state.as_str(), again.attempts, again.attempt_base),
        (state::PENDING, 1, 1)
    );
    assert!(!index.requeue_job(ids[0]).await.unwrap(), "pending already");
    let taken = index.take_job(ids[0], 60_000).await.unwrap().unwrap();
    assert_eq!(taken.attempts, 2, "a new lease, not the old one");
    assert!(!index.finish_job(ids[0], 1, None).await.unwrap());
    assert!(index.finish_job(ids[0], 2, None).await.unwrap());

    // One pending job per purpose: a new arrival postpones it; while it
    // runs, the next arrival queues another, and a retry of the running
    // one is superseded by that one.
    let due = storage::index::now_millis() - 1_000;
    let first = index
        .enqueue_or_postpone(&t, "stable", "P", "{}", "stable|S1", due)
        .await
        .unwrap();
    let same = index
        .enqueue_or_postpone(&t, "stable", "P", "{}", "stable|S1", due + 1)
        .await
        .unwrap();
    assert_eq!(first, same);
    let running = index.take_jobs("stable", 10, 60_000).await.unwrap();
    assert_eq!(running.len(), 1);
    let second = index
        .enqueue_or_postpone(&t, "stable", "P", "{}", "stable|S1", due + 60_000)
        .await
        .unwrap();
    assert_ne!(second, first);
    assert!(index
        .retry_job(first, running[0].attempts, 0, "peer away")
        .await
        .unwrap());
    let j = index.job(first).await.unwrap().unwrap();
    assert_eq!(j.state, state::DONE);
    assert!(
        j.last_error
            .contains(&format!("superseded by job {second}")),
        "{}",
        j.last_error
    );
    assert_eq!(
        index.job_by_dedup("stable|S1").await.unwrap().unwrap().id,
        second
    );

    // At a start on SQLite the leases of processes that are gone end at
    // once; a live process's stays (`send --wait` beside the server).
    use storage::index::jobs::{process_token, this_process};
    let mut held = Vec::new();
    for target in ["live", "gone", "before holders", "before a reboot"] {
        held.push(
            index
                .enqueue_job(&t, "lease", target, "{}", Some(600_000))
                .await
                .unwrap(),
        );
    }
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let gone = process_token(child.id()).unwrap();
    child.wait().unwrap();
    assert_eq!(process_token(child.id()), None);
    assert!(this_process().starts_with("pid:"));
    // This PID and start time, but another boot of the machine.
    let mut rebooted: Vec<&str> = this_process().split(':').collect();
    rebooted[3] = "another-boot";
    let rebooted = rebooted.join(":");
    for (id, holder) in held
        .iter()
        .zip([this_process(), gone.as_str(), "", rebooted.as_str()])
    {
        sqlx::query("UPDATE job SET lease_holder = $1 WHERE id = $2")
            .bind(holder)
            .bind(*id)
            .execute(index.pool())
            .await
            .unwrap();
    }
    assert_eq!(index.expire_leases().await.unwrap(), 3);
    let mut resumed: Vec<i64> = index
        .take_jobs("lease", 10, 60_000)
        .await
        .unwrap()
        .iter()
        .map(|j| j.id)
        .collect();
    resumed.sort();
    assert_eq!(resumed, held[1..].to_vec());
    // Taking one records who holds it.
    let holder: String = sqlx::query_scalar("SELECT lease_holder FROM job WHERE id = $1")
        .bind(held[1])
        .fetch_one(index.pool())
        .await
        .unwrap();
    assert_eq!(holder, this_process());
}

/// The routing journal is read through a page at a time: each page after
/// the last one read, every row once, in order, whatever the page size
/// and the tenants.
async fn routing_journal_pages(db: ScratchDb) {
    let a = archive(&db).await;
    let c = Corpus::new(11, Options::small(1));
    let plan = c.study(0);
    let journal = |r: &storage::record::InstanceRecord| {
        Some(format!("{{\"sop\":\"{}\"}}", r.instance.sop_instance_uid))
    };
    let mut stored = Vec::new();
    for (k, i) in c.instances(&plan).take(7).enumerate() {
        // The same instance in two tenants: rows that differ only there.
        let tenant = if k % 2 == 0 {
            TenantId::implicit()
        } else {
            TenantId::parse("east").unwrap()
        };
        stored.push((tenant.as_str().to_owned(), i.sop_instance_uid.clone()));
        let target = storage::StoreTarget {
            tenant: &tenant,
            journal: Some(&journal),
        };
        a.store_bytes(target, Bytes::from(i.bytes.clone()))
            .await
            .unwrap();
        if k == 3 {
            let east = TenantId::parse("east").unwrap();
            let target = storage::StoreTarget {
                tenant: &east,
                journal: Some(&journal),
            };
            a.store_bytes(target, Bytes::from(i.bytes)).await.unwrap();
            stored.push(("east".to_owned(), i.sop_instance_uid.clone()));
        }
    }
    let index = a.index();
    let before = storage::index::now_millis() + 1;
    let all = index.routing_arrivals(before, None, 100).await.unwrap();
    assert_eq!(all.len(), stored.len());
    for size in [1, 2, 3] {
        let mut seen = Vec::new();
        let mut after = None;
        loop {
            let page = index
                .routing_arrivals(before, after.as_ref(), size)
                .await
                .unwrap();
            assert!(page.len() as i64 <= size);
            after = page.last().cloned();
            seen.extend(page.iter().cloned());
            if (page.len() as i64) < size {
                break;
            }
        }
        assert_eq!(seen, all, "pages of {size}");
    }
    let mut keys: Vec<(String, String)> = all
        .iter()
        .map(|r| (r.tenant.as_str().to_owned(), r.sop_instance_uid.clone()))
        .collect();
    keys.sort();
    stored.sort();
    assert_eq!(keys, stored);
    assert!(all.iter().all(|r| r.payload.contains(&r.sop_instance_uid)));
    // Nothing from after `before`.
    let first = all.iter().map(|r| r.created_at).min().unwrap();
    assert!(index
        .routing_arrivals(first, None, 100)
        .await
        .unwrap()
        .is_empty());
}

macro_rules! workflow_suite {
    ($($backend:ident: $db:expr;)*) => {
        $(
            mod $backend {
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn worklist() {
                    worklist_matching($db).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn patients() {
                    patients_are_corrected_and_merged($db).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn performed_steps() {
                    performed_steps_end_once($db).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn jobs() {
                    jobs_are_leased_retried_and_resumed($db).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn routing_journal() {
                    routing_journal_pages($db).await;
                }
            }
        )*
    };
}

workflow_suite! {
    sqlite: ScratchDb::sqlite();
    postgres: ScratchDb::postgres().await;
}
