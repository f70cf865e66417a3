//! Rejection (IHE IOCM) on SQLite and PostgreSQL: a Key Object Selection
//! titled "Rejected for Quality Reasons" sent by STOW-RS hides the slice it
//! names from QIDO-RS and WADO-RS; the rejected list shows it, `check`
//! does not call its kept object an orphan, restoring brings it back;
//! rejecting a study by hand and purging work from the API. Notes sent by
//! C-STORE hide from C-FIND, and only from a peer allowed to reject.

mod common;

use common::{filmless, http, stow_body, ScratchPg, ServerProcess, STOW_TYPE};
use dicom_core::value::{DataSetSequence, Value};
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use serde_json::Value as Json;

fn put(obj: &mut InMemDicomObject, tag: Tag, vr: VR, v: &str) {
    obj.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
}

fn seq(items: Vec<InMemDicomObject>) -> Value<InMemDicomObject> {
    Value::Sequence(DataSetSequence::from(items))
}

/// A rejection note for one instance.
fn kos(study: &str, patient: &str, series: &str, sop: &str, code: &str) -> (String, Vec<u8>) {
    let uid = format!("2.25.{}", rand::random::<u64>());
    let mut obj = InMemDicomObject::new_empty();
    for (tag, vr, v) in [
        (
            tags::SOP_CLASS_UID,
            VR::UI,
            uids::KEY_OBJECT_SELECTION_DOCUMENT_STORAGE,
        ),
        (tags::SOP_INSTANCE_UID, VR::UI, uid.as_str()),
        (tags::STUDY_INSTANCE_UID, VR::UI, study),
        (tags::SERIES_INSTANCE_UID, VR::UI, &format!("{uid}.1")),
        (tags::MODALITY, VR::CS, "KO"),
        (tags::PATIENT_ID, VR::LO, patient),
        (tags::INSTANCE_NUMBER, VR::IS, "1"),
    ] {
        put(&mut obj, tag, vr, v);
    }
    let mut code_item = InMemDicomObject::new_empty();
    put(&mut code_item, tags::CODE_VALUE, VR::SH, code);
    put(
        &mut code_item,
        tags::CODING_SCHEME_DESIGNATOR,
        VR::SH,
        "DCM",
    );
    put(
        &mut code_item,
        tags::CODE_MEANING,
        VR::LO,
        "Rejected for Quality Reasons",
    );
    obj.put(DataElement::new(
        tags::CONCEPT_NAME_CODE_SEQUENCE,
        VR::SQ,
        seq(vec![code_item]),
    ));
    let mut sop_item = InMemDicomObject::new_empty();
    put(
        &mut sop_item,
        tags::REFERENCED_SOP_CLASS_UID,
        VR::UI,
        uids::CT_IMAGE_STORAGE,
    );
    put(
        &mut sop_item,
        tags::REFERENCED_SOP_INSTANCE_UID,
        VR::UI,
        sop,
    );
    let mut series_item = InMemDicomObject::new_empty();
    put(&mut series_item, tags::SERIES_INSTANCE_UID, VR::UI, series);
    series_item.put(DataElement::new(
        tags::REFERENCED_SOP_SEQUENCE,
        VR::SQ,
        seq(vec![sop_item]),
    ));
    let mut study_item = InMemDicomObject::new_empty();
    put(&mut study_item, tags::STUDY_INSTANCE_UID, VR::UI, study);
    study_item.put(DataElement::new(
        tags::REFERENCED_SERIES_SEQUENCE,
        VR::SQ,
        seq(vec![series_item]),
    ));
    obj.put(DataElement::new(
        tags::CURRENT_REQUESTED_PROCEDURE_EVIDENCE_SEQUENCE,
        VR::SQ,
        seq(vec![study_item]),
    ));
    let bytes = filmless_test_data::part10(obj, uids::KEY_OBJECT_SELECTION_DOCUMENT_STORAGE, &uid);
    (uid, bytes)
}

fn instances(server: &ServerProcess, study: &str) -> Vec<String> {
    let (status, _, body) = http(
        &server.http,
        "GET",
        &format!("/dicom-web/studies/{study}/instances"),
        &[],
        b"",
    );
    if status == 404 || body.is_empty() {
        return Vec::new();
    }
    let v: Json = serde_json::from_slice(&body).unwrap_or(Json::Array(Vec::new()));
    v.as_array()
        .unwrap()
        .iter()
        .map(|i| i["00080018"]["Value"][0].as_str().unwrap().to_owned())
        .collect()
}

fn json(server: &ServerProcess, method: &str, path: &str, body: &[u8]) -> (u16, Json) {
    let (status, _, reply) = http(
        &server.http,
        method,
        path,
        &[("Content-Type", "application/json")],
        body,
    );
    (status, serde_json::from_slice(&reply).unwrap_or(Json::Null))
}

fn rejecting(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = Vec::new();
    if let Some(u) = database_url {
        args.extend(["--database-url".to_owned(), u.to_owned()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (plan, ct) = filmless_test_data::ct_series_sized(88, 3, (32, 32));
    common::write_files(&dir.path().join("ct"), &ct);
    common::import_ok(dir.path(), &args, &dir.path().join("ct"));
    let server = ServerProcess::start(dir.path(), &args, &[]);
    let study = plan.study_instance_uid.as_str();
    let bad = &ct[0];

    // The rejection note, by STOW-RS.
    let (note, bytes) = kos(
        study,
        &plan.patient.id,
        &bad.series_instance_uid,
        &bad.sop_instance_uid,
        "113001",
    );
    let (status, _, reply) = http(
        &server.http,
        "POST",
        "/dicom-web/studies",
        &[("Content-Type", STOW_TYPE)],
        &stow_body(&bytes),
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
    let seen = instances(&server, study);
    assert_eq!(seen.len(), 3, "two slices and the note: {seen:?}");
    assert!(!seen.contains(&bad.sop_instance_uid) && seen.contains(&note));
    let (status, _, _) = http(
        &server.http,
        "GET",
        &format!(
            "/dicom-web/studies/{study}/series/{}/instances/{}",
            bad.series_instance_uid, bad.sop_instance_uid
        ),
        &[("Accept", "multipart/related; type=\"application/dicom\"")],
        b"",
    );
    assert_eq!(status, 404, "a rejected instance is not served");
    let (status, list) = json(&server, "GET", &format!("/api/rejected?study={study}"), b"");
    assert_eq!(status, 200);
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(list[0]["sop_instance_uid"], bad.sop_instance_uid.as_str());
    assert_eq!(list[0]["reason"], "Rejected for Quality Reasons");
    assert_eq!(list[0]["by_sop_instance_uid"], note.as_str());

    // Its object is kept, and not an orphan.
    let out = filmless()
        .args(["check", "--data-dir"])
        .arg(dir.path())
        .args(&args)
        .args(["--grace-secs", "0"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        said.contains("3 instances, 4 blobs: 0 missing, 0 orphaned"),
        "{said}"
    );

    // Restored: back in QIDO-RS.
    let (status, _) = json(
        &server,
        "POST",
        &format!("/api/rejected/{}/restore", bad.sop_instance_uid),
        b"",
    );
    assert_eq!(status, 204);
    assert_eq!(instances(&server, study).len(), 4);
    assert_eq!(
        json(&server, "GET", "/api/rejected", b"")
            .1
            .as_array()
            .unwrap()
            .len(),
        0
    );

    // The whole study rejected by hand; one purged.
    let (status, done) = json(
        &server,
        "POST",
        &format!("/api/studies/{study}/reject"),
        br#"{"reason": "113037"}"#,
    );
    assert_eq!(status, 200, "{done}");
    assert_eq!(done["rejected"], 4);
    assert!(instances(&server, study).is_empty());
    let (status, _) = json(
        &server,
        "DELETE",
        &format!("/api/rejected/{}", ct[1].sop_instance_uid),
        b"",
    );
    assert_eq!(status, 204);
    let list = json(&server, "GET", "/api/rejected", b"").1;
    assert_eq!(list.as_array().unwrap().len(), 3, "{list}");
    assert!(list
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["reason"] == "Rejected for Patient Safety Reasons"));
    // Sent again after its rejection, a slice stays hidden (IOCM): one
    // record, the newer object (the older goes: check finds no orphan
    // below).
    let (status, _, _) = http(
        &server.http,
        "POST",
        "/dicom-web/studies",
        &[("Content-Type", STOW_TYPE)],
        &stow_body(&ct[0].bytes),
    );
    assert_eq!(status, 200);
    assert!(
        instances(&server, study).is_empty(),
        "it does not come back"
    );
    let list = json(&server, "GET", "/api/rejected", b"").1;
    assert_eq!(list.as_array().unwrap().len(), 3, "{list}");

    // A note that comes before the instances it names: they are hidden
    // when they arrive; the others of the study are not.
    let (plan2, ct2) = filmless_test_data::ct_series_sized(89, 2, (32, 32));
    let study2 = plan2.study_instance_uid.as_str();
    let (early, bytes) = kos(
        study2,
        &plan2.patient.id,
        &ct2[0].series_instance_uid,
        &ct2[0].sop_instance_uid,
        "113038",
    );
    for part in [&bytes, &ct2[0].bytes, &ct2[1].bytes] {
        let (status, _, reply) = http(
            &server.http,
            "POST",
            "/dicom-web/studies",
            &[("Content-Type", STOW_TYPE)],
            &stow_body(part),
        );
        assert_eq!(status, 200, "{}", String::from_utf8_lossy(&reply));
    }
    let seen = instances(&server, study2);
    assert_eq!(seen.len(), 2, "the note and the other slice: {seen:?}");
    assert!(seen.contains(&early) && seen.contains(&ct2[1].sop_instance_uid));
    let (_, list) = json(
        &server,
        "GET",
        &format!("/api/rejected?study={study2}"),
        b"",
    );
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    assert_eq!(
        list[0]["sop_instance_uid"],
        ct2[0].sop_instance_uid.as_str()
    );
    assert_eq!(list[0]["by_sop_instance_uid"], early.as_str());
    assert_eq!(list[0]["reason"], "Incorrect Modality Worklist Entry");
    // Corrected, then rejected whole; a slice restored from its object
    // comes back with the corrections.
    let (status, reply) = json(
        &server,
        "PATCH",
        &format!("/api/studies/{study2}"),
        r#"{"patient_name": "LÊ^VĂN SỬA", "accession_number": "ACC-FIXED"}"#.as_bytes(),
    );
    assert_eq!(status, 200, "{reply}");
    let (status, done) = json(
        &server,
        "POST",
        &format!("/api/studies/{study2}/reject"),
        br#"{"reason": "113001"}"#,
    );
    assert_eq!(status, 200, "{done}");
    assert!(instances(&server, study2).is_empty());
    // It arrived, so it can be restored from its object.
    let (status, _) = json(
        &server,
        "POST",
        &format!("/api/rejected/{}/restore", ct2[0].sop_instance_uid),
        b"",
    );
    assert_eq!(status, 204);
    assert_eq!(
        instances(&server, study2),
        vec![ct2[0].sop_instance_uid.clone()]
    );
    let (_, _, body) = http(
        &server.http,
        "GET",
        &format!("/dicom-web/studies?StudyInstanceUID={study2}"),
        &[],
        b"",
    );
    let found: Json = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        found[0]["00100010"]["Value"][0]["Alphabetic"], "LÊ^VĂN SỬA",
        "{found}"
    );
    assert_eq!(found[0]["00080050"]["Value"][0], "ACC-FIXED", "{found}");
    let (_, _, body) = http(
        &server.http,
        "GET",
        &format!("/dicom-web/studies/{study2}/metadata"),
        &[],
        b"",
    );
    let meta: Json = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        meta[0]["00100010"]["Value"][0]["Alphabetic"], "LÊ^VĂN SỬA",
        "{meta}"
    );
    let (status, _, _) = http(
        &server.http,
        "DELETE",
        &format!("/dicom-web/studies/{study2}"),
        &[],
        b"",
    );
    assert_eq!(status, 204);
    drop(server);
    // The same from the command line.
    let out = filmless()
        .args(["reject", "--data-dir"])
        .arg(dir.path())
        .args(&args)
        .args(["restore", "--sop", &ct[2].sop_instance_uid])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = filmless()
        .args(["reject", "--data-dir"])
        .arg(dir.path())
        .args(&args)
        .args(["list", "--study", study])
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(listed.lines().count(), 2, "{listed}");
    assert!(!listed.contains(&ct[2].sop_instance_uid), "{listed}");
    // Deleting the study takes its rejected instances along; nothing is
    // left behind for check to call an orphan.
    let server = ServerProcess::start(dir.path(), &args, &[]);
    let (status, _, _) = http(
        &server.http,
        "DELETE",
        &format!("/dicom-web/studies/{study}"),
        &[],
        b"",
    );
    assert_eq!(status, 204);
    assert_eq!(
        json(&server, "GET", "/api/rejected", b"")
            .1
            .as_array()
            .unwrap()
            .len(),
        0
    );
    drop(server);
    let out = filmless()
        .args(["check", "--data-dir"])
        .arg(dir.path())
        .args(&args)
        .args(["--grace-secs", "0"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("0 instances, 0 blobs"), "{said}");
}

#[test]
fn a_rejection_note_hides_what_it_names_sqlite() {
    rejecting(None);
}

#[test]
fn a_rejection_note_hides_what_it_names_postgres() {
    let db = ScratchPg::new();
    rejecting(Some(&db.url));
}

/// The SOP Instance UIDs a Study Root C-FIND at IMAGE level answers for
/// `study` (DCMTK findscu, each response written to a file).
fn c_find_images(port: u16, study: &str, out: &std::path::Path) -> Vec<String> {
    let _ = std::fs::remove_dir_all(out);
    std::fs::create_dir_all(out).unwrap();
    let result = common::dcmtk("findscu")
        .args(["-S", "-aet", "PACSQC", "-aec", "FILMLESS", "-X", "-od"])
        .arg(out)
        .args(["127.0.0.1", &port.to_string()])
        .args(["-k", "QueryRetrieveLevel=IMAGE", "-k"])
        .arg(format!("StudyInstanceUID={study}"))
        .args(["-k", "SeriesInstanceUID", "-k", "SOPInstanceUID"])
        .output()
        .unwrap();
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let mut uids: Vec<String> = std::fs::read_dir(out)
        .unwrap()
        .map(|f| {
            let obj = dicom_object::open_file(f.unwrap().path()).unwrap();
            obj.element(tags::SOP_INSTANCE_UID)
                .unwrap()
                .to_str()
                .unwrap()
                .trim_end_matches(['\0', ' '])
                .to_owned()
        })
        .collect();
    uids.sort();
    uids
}

/// Notes by C-STORE, as modalities and archives send them: one titled
/// "Data Retention Policy Expired" from a peer with the `reject`
/// permission hides its instance from C-FIND; one titled "Rejected for
/// Patient Safety Reasons" from a peer without it is stored as an ordinary
/// object and hides nothing.
fn rejecting_by_c_store(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let storage = database_url
        .map(|u| format!("[storage]\ndatabase_url = \"{u}\"\n"))
        .unwrap_or_default();
    let config = dir.path().join("filmless.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n{storage}\
             [[dicom.peers]]\nae_title = \"PACSQC\"\nhost = \"127.0.0.1\"\nport = 1\n\
             permissions = [\"store\", \"find\", \"reject\"]\n\
             [[dicom.peers]]\nae_title = \"CT01\"\nhost = \"127.0.0.1\"\nport = 1\n\
             permissions = [\"store\"]\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let (plan, ct) = filmless_test_data::ct_series_sized(90, 3, (32, 32));
    let study = plan.study_instance_uid.as_str();
    let server = ServerProcess::start(dir.path(), &["--config", config.to_str().unwrap()], &[]);
    let port = server.dicom_port;
    let send = |aet: &str, name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = common::dcmtk("storescu")
            .args([
                "-aet",
                aet,
                "-aec",
                "FILMLESS",
                "127.0.0.1",
                &port.to_string(),
            ])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    for (n, i) in ct.iter().enumerate() {
        send("CT01", &format!("ct{n}.dcm"), &i.bytes);
    }
    let found = dir.path().join("found");
    assert_eq!(c_find_images(port, study, &found).len(), 3);
    // Retention expired, from the archive's QC station: hidden from C-FIND.
    let (note, bytes) = kos(
        study,
        &plan.patient.id,
        &ct[0].series_instance_uid,
        &ct[0].sop_instance_uid,
        "113039",
    );
    send("PACSQC", "note-113039.dcm", &bytes);
    let mut want = vec![
        note.clone(),
        ct[1].sop_instance_uid.clone(),
        ct[2].sop_instance_uid.clone(),
    ];
    want.sort();
    assert_eq!(c_find_images(port, study, &found), want);
    let (_, list) = json(&server, "GET", &format!("/api/rejected?study={study}"), b"");
    assert_eq!(list[0]["reason"], "Data Retention Policy Expired", "{list}");
    assert_eq!(list[0]["rejected_by"], "PACSQC", "{list}");
    // Patient safety, from the modality without the permission: an
    // ordinary object, nothing hidden.
    let (other, bytes) = kos(
        study,
        &plan.patient.id,
        &ct[1].series_instance_uid,
        &ct[1].sop_instance_uid,
        "113037",
    );
    send("CT01", "note-113037.dcm", &bytes);
    want.push(other);
    want.sort();
    assert_eq!(c_find_images(port, study, &found), want);
    assert_eq!(
        json(&server, "GET", &format!("/api/rejected?study={study}"), b"")
            .1
            .as_array()
            .unwrap()
            .len(),
        1
    );
    drop(server);
    // From the command line: one instance rejected by its UID, then
    // purged; an instance not in the study is refused.
    let cli = |args: &[&str]| {
        filmless()
            .args(["reject", "--config", config.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap()
    };
    let out = cli(&[
        "study",
        "--study",
        study,
        "--sop",
        &ct[2].sop_instance_uid,
        "--reason",
        "113001",
    ]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("1 instances rejected"), "{said}");
    let out = cli(&[
        "study", "--study", study, "--sop", "2.25.1", "--reason", "113001",
    ]);
    assert!(!out.status.success());
    let out = cli(&["purge", "--sop", &ct[2].sop_instance_uid]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&["list", "--study", study]);
    let listed = String::from_utf8_lossy(&out.stdout);
    assert_eq!(listed.lines().count(), 1, "only the note's: {listed}");
    assert!(!listed.contains(&ct[2].sop_instance_uid), "{listed}");
}

#[test]
fn rejection_notes_by_c_store_sqlite() {
    rejecting_by_c_store(None);
}

#[test]
fn rejection_notes_by_c_store_postgres() {
    let db = ScratchPg::new();
    rejecting_by_c_store(Some(&db.url));
}
