//! Corrections on SQLite and PostgreSQL: a study's patient renamed through
//! `PATCH /api/studies/{uid}` shows in QIDO-RS and in the object WADO-RS
//! serves (the stored one unchanged), audited with before and after; two
//! patients merged with `filmless patient merge` are one patient with both
//! studies.

mod common;

use common::{filmless, http, ScratchPg, ServerProcess};
use serde_json::Value;

fn qido(server: &ServerProcess, query: &str) -> Vec<Value> {
    let (status, _, body) = http(
        &server.http,
        "GET",
        &format!("/dicom-web/studies?{query}"),
        &[],
        b"",
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice::<Value>(&body)
        .unwrap_or(Value::Array(Vec::new()))
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn name_of(study: &Value) -> String {
    study["00100010"]["Value"][0]["Alphabetic"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn correcting(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = Vec::new();
    if let Some(u) = database_url {
        args.extend(["--database-url".to_owned(), u.to_owned()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (a, first) = filmless_test_data::ct_series_sized(61, 2, (32, 32));
    let (_, second) = filmless_test_data::ct_series_sized(62, 2, (32, 32));
    // Two patients: the second study's patient gets its own ID.
    let mut second = second;
    for i in &mut second {
        let mut obj = dicom_object::from_reader(&i.bytes[128..]).unwrap();
        obj.put(dicom_core::DataElement::new(
            dicom_dictionary_std::tags::PATIENT_ID,
            dicom_core::VR::LO,
            dicom_core::PrimitiveValue::from("DUP-77"),
        ));
        let mut bytes = Vec::new();
        obj.write_all(&mut bytes).unwrap();
        i.bytes = bytes;
    }
    common::write_files(&dir.path().join("a"), &first);
    common::write_files(&dir.path().join("b"), &second);
    common::import_ok(dir.path(), &args, &dir.path().join("a"));
    common::import_ok(dir.path(), &args, &dir.path().join("b"));
    let server = ServerProcess::start(dir.path(), &args, &[]);
    let study = a.study_instance_uid.as_str();

    // Rename the first study's patient.
    let (status, _, body) = http(
        &server.http,
        "PATCH",
        &format!("/api/studies/{study}"),
        &[("Content-Type", "application/json")],
        r#"{"patient_name": "NGUYỄN^VĂN AN", "patient_sex": "M"}"#.as_bytes(),
    );
    let said = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 200, "{said}");
    let done: Value = serde_json::from_str(&said).unwrap();
    assert_eq!(done["after"][2], "NGUYỄN^VĂN AN");
    assert_ne!(done["before"][2], done["after"][2]);
    let found = qido(&server, &format!("StudyInstanceUID={study}"));
    assert_eq!(name_of(&found[0]), "NGUYỄN^VĂN AN", "{found:?}");
    // What WADO-RS serves carries it; a bad correction is refused.
    let (status, _, bytes) = http(
        &server.http,
        "GET",
        &format!("/dicom-web/studies/{study}"),
        &[("Accept", "multipart/related; type=\"application/dicom\"")],
        b"",
    );
    assert_eq!(status, 200);
    let part = &common::multipart_parts(&bytes)[0];
    let obj = dicom_object::from_reader(&part[128..]).unwrap();
    let name = obj
        .element(dicom_dictionary_std::tags::PATIENT_NAME)
        .unwrap()
        .to_str()
        .unwrap()
        .into_owned();
    assert_eq!(name.trim_end(), "NGUYỄN^VĂN AN");
    let (status, _, _) = http(
        &server.http,
        "PATCH",
        &format!("/api/studies/{study}"),
        &[("Content-Type", "application/json")],
        br#"{"patient_sex": "maybe"}"#,
    );
    assert_eq!(status, 400);
    drop(server);

    // Merge the second patient into the first.
    let into = a.patient.id.as_str();
    let out = filmless()
        .args(["patient", "--data-dir"])
        .arg(dir.path())
        .args(&args)
        .args([
            "merge",
            "--from",
            "DUP-77",
            "--into",
            into,
            "--name",
            "NGUYỄN^VĂN AN",
        ])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("1 studies"), "{said}");
    let server = ServerProcess::start(dir.path(), &args, &[]);
    let both = qido(&server, &format!("PatientID={into}"));
    assert_eq!(both.len(), 2, "{both:?}");
    assert!(qido(&server, "PatientID=DUP-77").is_empty());
    // Audited with before and after.
    drop(server);
    let out = filmless()
        .args(["audit", "--data-dir"])
        .arg(dir.path())
        .args(&args)
        .args(["--format", "jsonl"])
        .output()
        .unwrap();
    let trail = String::from_utf8_lossy(&out.stdout);
    assert!(
        trail.lines().any(|l| l.contains("patient-record")
            && l.contains("before")
            && l.contains("NGUYỄN^VĂN AN")),
        "{trail}"
    );
}

#[test]
fn a_study_s_patient_is_corrected_and_patients_merged_sqlite() {
    correcting(None);
}

#[test]
fn a_study_s_patient_is_corrected_and_patients_merged_postgres() {
    let db = ScratchPg::new();
    correcting(Some(&db.url));
}

/// The object WADO-RS serves of a study: its first instance, parsed.
fn served(server: &ServerProcess, study: &str) -> dicom_object::DefaultDicomObject {
    let (status, _, bytes) = http(
        &server.http,
        "GET",
        &format!("/dicom-web/studies/{study}"),
        &[("Accept", "multipart/related; type=\"application/dicom\"")],
        b"",
    );
    assert_eq!(status, 200);
    let part = &common::multipart_parts(&bytes)[0];
    dicom_object::from_reader(&part[128..]).unwrap()
}

fn text_of(obj: &dicom_object::DefaultDicomObject, tag: dicom_core::Tag) -> String {
    obj.element(tag)
        .map(|e| e.to_str().unwrap().trim_end().to_owned())
        .unwrap_or_default()
}

/// One study's own attributes change, and one study filed under the wrong
/// patient moves to the right one (the patient's other study stays): in
/// QIDO-RS, the metadata and the objects served, by `PATCH` and by
/// `filmless study modify`, audited.
fn modifying_a_study(database_url: Option<&str>) {
    use dicom_dictionary_std::tags;
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = Vec::new();
    if let Some(u) = database_url {
        args.extend(["--database-url".to_owned(), u.to_owned()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    // Two studies of one patient (the second study's patient ID set to the
    // first's), the second filed there by mistake.
    let (a, first) = filmless_test_data::ct_series_sized(71, 2, (32, 32));
    let (b, second) = filmless_test_data::ct_series_sized(72, 2, (32, 32));
    let mut second = second;
    for i in &mut second {
        let mut obj = dicom_object::from_reader(&i.bytes[128..]).unwrap();
        obj.put(dicom_core::DataElement::new(
            tags::PATIENT_ID,
            dicom_core::VR::LO,
            dicom_core::PrimitiveValue::from(a.patient.id.as_str()),
        ));
        let mut bytes = Vec::new();
        obj.write_all(&mut bytes).unwrap();
        i.bytes = bytes;
    }
    common::write_files(&dir.path().join("a"), &first);
    common::write_files(&dir.path().join("b"), &second);
    common::import_ok(dir.path(), &args, &dir.path().join("a"));
    common::import_ok(dir.path(), &args, &dir.path().join("b"));
    let mut server = ServerProcess::start(dir.path(), &args, &[]);
    let (sa, sb) = (a.study_instance_uid.as_str(), b.study_instance_uid.as_str());
    let patient = a.patient.id.as_str();
    assert_eq!(qido(&server, &format!("PatientID={patient}")).len(), 2);

    // The first study's accession number and description.
    let (status, _, body) = http(
        &server.http,
        "PATCH",
        &format!("/api/studies/{sa}"),
        &[("Content-Type", "application/json")],
        r#"{"accession_number": "A-2026-0042", "study_description": "CT NGỰC CÓ CẢN QUANG"}"#
            .as_bytes(),
    );
    let said = String::from_utf8_lossy(&body).into_owned();
    assert_eq!(status, 200, "{said}");
    let done: Value = serde_json::from_str(&said).unwrap();
    assert_eq!(done["accession_number"][1], "A-2026-0042", "{done}");
    assert_eq!(done["instances"], 2, "{done}");
    let found = qido(&server, "AccessionNumber=A-2026-0042");
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(found[0]["0020000D"]["Value"][0], sa);
    assert_eq!(
        found[0]["00081030"]["Value"][0], "CT NGỰC CÓ CẢN QUANG",
        "{found:?}"
    );
    let obj = served(&server, sa);
    assert_eq!(text_of(&obj, tags::ACCESSION_NUMBER), "A-2026-0042");
    assert_eq!(
        text_of(&obj, tags::STUDY_DESCRIPTION),
        "CT NGỰC CÓ CẢN QUANG"
    );
    assert_eq!(text_of(&obj, tags::SPECIFIC_CHARACTER_SET), "ISO_IR 192");
    // The value as received is recorded in the object (PS3.3 C.12.1).
    let item = &obj
        .element(tags::ORIGINAL_ATTRIBUTES_SEQUENCE)
        .unwrap()
        .items()
        .unwrap()[0];
    let old = &item
        .element(tags::MODIFIED_ATTRIBUTES_SEQUENCE)
        .unwrap()
        .items()
        .unwrap()[0];
    assert_eq!(
        old.element(tags::ACCESSION_NUMBER)
            .unwrap()
            .to_str()
            .unwrap()
            .trim_end(),
        a.accession_number.as_str()
    );
    assert_eq!(
        item.element(tags::REASON_FOR_THE_ATTRIBUTE_MODIFICATION)
            .unwrap()
            .to_str()
            .unwrap()
            .trim_end(),
        "CORRECT"
    );
    // The other study is untouched.
    assert_ne!(
        text_of(&served(&server, sb), tags::ACCESSION_NUMBER),
        "A-2026-0042"
    );
    // What is not one value of its kind is refused, and changes nothing.
    for bad in [
        r#"{"accession_number": "THIS-IS-LONGER-THAN-16"}"#,
        r#"{"study_description": "a\\b"}"#,
        r#"{"patient_id": " "}"#,
        r#"{}"#,
        r#"{"accession": "x"}"#,
    ] {
        let (status, _, body) = http(
            &server.http,
            "PATCH",
            &format!("/api/studies/{sa}"),
            &[("Content-Type", "application/json")],
            bad.as_bytes(),
        );
        assert_eq!(status, 400, "{bad}: {}", String::from_utf8_lossy(&body));
    }
    assert_eq!(qido(&server, "AccessionNumber=A-2026-0042").len(), 1);
    // The console's trail of this study: newest first, the modification
    // there (the trail is written in batches: a moment).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let (status, _, body) = http(
            &server.http,
            "GET",
            &format!("/api/audit?study={sa}"),
            &[],
            b"",
        );
        assert_eq!(status, 200);
        let events: Value = serde_json::from_slice(&body).unwrap();
        let events = events.as_array().unwrap().clone();
        let at: Vec<String> = events
            .iter()
            .map(|e| e["at"].as_str().unwrap().to_owned())
            .collect();
        assert!(at.windows(2).all(|w| w[0] >= w[1]), "newest first: {at:?}");
        assert!(events.iter().all(|e| e["study_instance_uid"] == sa));
        if events.iter().any(|e| {
            e["detail"]
                .as_str()
                .unwrap_or("")
                .contains("study modified")
        }) {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "{events:?}");
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    // Stopped, not killed: the audit trail is written in batches.
    server.terminate(std::time::Duration::from_secs(30));

    // The second study moves to the right patient, a new one.
    let out = filmless()
        .args(["study", "--data-dir"])
        .arg(dir.path())
        .args(&args)
        .args([
            "modify",
            "--study",
            sb,
            "--patient-id",
            "BN-RIGHT-1",
            "--name",
            "TRẦN^THỊ BÌNH",
            "--birth-date",
            "19750304",
            "--sex",
            "F",
            "--accession",
            "A-CLI-7",
            "--description",
            "CT BỤNG",
        ])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("BN-RIGHT-1"), "{said}");
    let mut server = ServerProcess::start(dir.path(), &args, &[]);
    let moved = qido(&server, "PatientID=BN-RIGHT-1");
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(moved[0]["0020000D"]["Value"][0], sb);
    assert_eq!(name_of(&moved[0]), "TRẦN^THỊ BÌNH");
    assert_eq!(moved[0]["00100030"]["Value"][0], "19750304");
    assert_eq!(moved[0]["00080050"]["Value"][0], "A-CLI-7");
    assert_eq!(moved[0]["00081030"]["Value"][0], "CT BỤNG");
    let stayed = qido(&server, &format!("PatientID={patient}"));
    assert_eq!(stayed.len(), 1, "{stayed:?}");
    assert_eq!(stayed[0]["0020000D"]["Value"][0], sa);
    assert_ne!(
        name_of(&stayed[0]),
        "TRẦN^THỊ BÌNH",
        "the patient left is unchanged"
    );
    let obj = served(&server, sb);
    assert_eq!(text_of(&obj, tags::PATIENT_ID), "BN-RIGHT-1");
    assert_eq!(text_of(&obj, tags::PATIENT_NAME), "TRẦN^THỊ BÌNH");
    assert_eq!(text_of(&obj, tags::PATIENT_SEX), "F");
    // The metadata says the same.
    let (_, _, body) = http(
        &server.http,
        "GET",
        &format!("/dicom-web/studies/{sb}/metadata"),
        &[],
        b"",
    );
    let meta: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(meta[0]["00100020"]["Value"][0], "BN-RIGHT-1", "{meta}");
    // The modality sends one more image of it, under the wrong ID still:
    // it joins the corrected study and patient, its metadata corrected,
    // and the wrong patient does not come back.
    let late_sop = format!("2.25.{}", rand::random::<u64>());
    let mut late = dicom_object::from_reader(&second[0].bytes[128..]).unwrap();
    late.put(dicom_core::DataElement::new(
        tags::SOP_INSTANCE_UID,
        dicom_core::VR::UI,
        dicom_core::PrimitiveValue::from(late_sop.as_str()),
    ));
    late.meta_mut().media_storage_sop_instance_uid = late_sop.clone();
    let mut late_bytes = Vec::new();
    late.write_all(&mut late_bytes).unwrap();
    let (status, _, body) = http(
        &server.http,
        "POST",
        "/dicom-web/studies",
        &[("Content-Type", common::STOW_TYPE)],
        &common::stow_body(&late_bytes),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let moved = qido(&server, "PatientID=BN-RIGHT-1");
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(moved[0]["00201208"]["Value"][0], 3, "{moved:?}");
    assert_eq!(
        qido(&server, &format!("PatientID={patient}")).len(),
        1,
        "only the study that is that patient's"
    );
    let (_, _, body) = http(
        &server.http,
        "GET",
        &format!("/dicom-web/studies/{sb}/metadata"),
        &[],
        b"",
    );
    let meta: Value = serde_json::from_slice(&body).unwrap();
    let late_meta = meta
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["00080018"]["Value"][0] == late_sop.as_str())
        .unwrap();
    assert_eq!(
        late_meta["00100020"]["Value"][0], "BN-RIGHT-1",
        "{late_meta}"
    );
    assert_eq!(late_meta["00080050"]["Value"][0], "A-CLI-7", "{late_meta}");
    // And back: a study moves to a patient the archive knows, taking that
    // patient's attributes.
    let (status, _, body) = http(
        &server.http,
        "PATCH",
        &format!("/api/studies/{sb}"),
        &[("Content-Type", "application/json")],
        format!(r#"{{"patient_id": "{patient}"}}"#).as_bytes(),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let back = qido(&server, &format!("PatientID={patient}"));
    assert_eq!(back.len(), 2, "{back:?}");
    assert_eq!(name_of(&back[0]), name_of(&back[1]), "{back:?}");
    assert!(qido(&server, "PatientID=BN-RIGHT-1").is_empty());
    // Filed under a new ID again, then that patient merged into the right
    // one over HTTP: both studies are the right patient's again.
    let (status, _, body) = http(
        &server.http,
        "PATCH",
        &format!("/api/studies/{sb}"),
        &[("Content-Type", "application/json")],
        br#"{"patient_id": "BN-DUP-2"}"#,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(qido(&server, &format!("PatientID={patient}")).len(), 1);
    let (status, _, body) = http(
        &server.http,
        "POST",
        "/api/patients/merge",
        &[("Content-Type", "application/json")],
        format!(r#"{{"from_id": "BN-DUP-2", "into_id": "{patient}"}}"#).as_bytes(),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let merged: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(merged["before"][0], "BN-DUP-2", "{merged}");
    assert_eq!(merged["after"][0], patient, "{merged}");
    assert_eq!(qido(&server, &format!("PatientID={patient}")).len(), 2);
    assert!(qido(&server, "PatientID=BN-DUP-2").is_empty());
    let (status, _, _) = http(
        &server.http,
        "POST",
        "/api/patients/merge",
        &[("Content-Type", "application/json")],
        br#"{"from_id": "NOBODY-HERE", "into_id": "ALSO-NOBODY"}"#,
    );
    assert_eq!(status, 404, "an unknown patient to merge");
    // Merged into a new ID (a rename), saying nothing else: the name,
    // birth date and sex stay as they were; then back.
    let details = |s: &Value| {
        (
            name_of(s),
            s["00100030"]["Value"][0].clone(),
            s["00100040"]["Value"][0].clone(),
        )
    };
    let was = details(
        &qido(
            &server,
            &format!("PatientID={patient}&includefield=00100030,00100040"),
        )[0],
    );
    assert!(!was.0.is_empty(), "{was:?}");
    for (from, into) in [(patient, "BN-RENAMED"), ("BN-RENAMED", patient)] {
        let (status, _, body) = http(
            &server.http,
            "POST",
            "/api/patients/merge",
            &[("Content-Type", "application/json")],
            format!(r#"{{"from_id": "{from}", "into_id": "{into}"}}"#).as_bytes(),
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        let now = qido(
            &server,
            &format!("PatientID={into}&includefield=00100030,00100040"),
        );
        assert_eq!(now.len(), 2, "{now:?}");
        assert!(now.iter().all(|s| details(s) == was), "{was:?}: {now:?}");
    }
    // An ID two issuers use: a move without the issuer is refused (it
    // could land on the other hospital's patient); with it, it goes there.
    for (seed, issuer) in [(73u64, "BV-A"), (74, "BV-B")] {
        let (_, other) = filmless_test_data::ct_series_sized(seed, 1, (16, 16));
        let mut obj = dicom_object::from_reader(&other[0].bytes[128..]).unwrap();
        for (tag, vr, v) in [
            (tags::PATIENT_ID, dicom_core::VR::LO, "SHARED-9"),
            (tags::ISSUER_OF_PATIENT_ID, dicom_core::VR::LO, issuer),
        ] {
            obj.put(dicom_core::DataElement::new(
                tag,
                vr,
                dicom_core::PrimitiveValue::from(v),
            ));
        }
        let mut bytes = Vec::new();
        obj.write_all(&mut bytes).unwrap();
        let (status, _, body) = http(
            &server.http,
            "POST",
            "/dicom-web/studies",
            &[("Content-Type", common::STOW_TYPE)],
            &common::stow_body(&bytes),
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    }
    let (status, _, body) = http(
        &server.http,
        "PATCH",
        &format!("/api/studies/{sb}"),
        &[("Content-Type", "application/json")],
        br#"{"patient_id": "SHARED-9"}"#,
    );
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    assert!(String::from_utf8_lossy(&body).contains("several issuers"));
    let (status, _, body) = http(
        &server.http,
        "PATCH",
        &format!("/api/studies/{sb}"),
        &[("Content-Type", "application/json")],
        br#"{"patient_id": "SHARED-9", "issuer_of_patient_id": "BV-B"}"#,
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let done: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (done["after"][0].as_str(), done["after"][1].as_str()),
        (Some("SHARED-9"), Some("BV-B")),
        "{done}"
    );
    // And back to its patient, by ID and issuer.
    let (status, _, body) = http(
        &server.http,
        "PATCH",
        &format!("/api/studies/{sb}"),
        &[("Content-Type", "application/json")],
        format!(r#"{{"patient_id": "{patient}"}}"#).as_bytes(),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    // Deleting keeps its reason in the audit trail; a reason that is not
    // one short line is refused, and nothing goes.
    let (status, _, _) = http(
        &server.http,
        "DELETE",
        &format!("/dicom-web/studies/{sb}?reason=duplicate%0Aforged%20line"),
        &[],
        b"",
    );
    assert_eq!(status, 400);
    let (status, _, body) = http(
        &server.http,
        "DELETE",
        &format!("/dicom-web/studies/{sb}?reason=sent%20twice%20by%20the%20modality"),
        &[],
        b"",
    );
    assert_eq!(status, 204, "{}", String::from_utf8_lossy(&body));
    assert_eq!(qido(&server, &format!("PatientID={patient}")).len(), 1);
    server.terminate(std::time::Duration::from_secs(30));

    let out = filmless()
        .args(["audit", "--data-dir"])
        .arg(dir.path())
        .args(&args)
        .args(["--format", "jsonl"])
        .output()
        .unwrap();
    let trail = String::from_utf8_lossy(&out.stdout);
    for wanted in ["A-2026-0042", "BN-RIGHT-1"] {
        assert!(
            trail
                .lines()
                .any(|l| l.contains("study modified") && l.contains(wanted)),
            "{wanted}: {trail}"
        );
    }
    assert!(
        trail.lines().any(|l| l.contains("\"delete\"")
            && l.contains(sb)
            && l.contains("reason: sent twice by the modality")),
        "{trail}"
    );
}

#[test]
fn a_study_is_modified_and_moved_sqlite() {
    modifying_a_study(None);
}

#[test]
fn a_study_is_modified_and_moved_postgres() {
    let db = ScratchPg::new();
    modifying_a_study(Some(&db.url));
}
