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
