//! The RIS workflow with real peers: HL7 v2 orders and patient updates
//! built with the `hl7` package (PyPI) and sent over MLLP; pynetdicom as the
//! modality (worklist C-FIND, MPPS, storage commitment with its own
//! N-EVENT-REPORT listener, on the same and on a new association); DCMTK's
//! `findscu -W` against the worklist; the OHIF study list in chromium.
//! The day at a Vietnamese hospital runs on SQLite and on PostgreSQL.

mod common;

use std::path::{Path, PathBuf};

use common::{dcmtk, free_port, http, python, ScratchPg, ServerProcess};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::DefaultDicomObject;
use serde_json::{json, Value};

const NAME: &str = "NGUYỄN^VĂN AN";

/// tests/peers/ris_workflow.py: one subcommand, its JSON.
fn ris(port: u16, args: &[&str]) -> Value {
    let out = python()
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/ris_workflow.py"))
        .args(["--port", &port.to_string(), "--aet", "CT1"])
        .args(args)
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ris_workflow.py {args:?} failed (scripts/setup-test-deps installs pynetdicom and hl7):\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// Send HL7 messages on one MLLP connection; their ACKs.
fn hl7(port: u16, messages: Value) -> Vec<Value> {
    let r = ris(
        0,
        &[
            "hl7",
            "--hl7-port",
            &port.to_string(),
            "--messages",
            &messages.to_string(),
        ],
    );
    assert!(r.get("error").is_none(), "{r}");
    r["acks"].as_array().unwrap().clone()
}

fn order(control: &str, id: &str, extra: Value) -> Value {
    let mut o = json!({
        "type": "ORM", "control": control, "control_id": id,
        "sending_app": "RIS", "sending_facility": "BVHD", "charset": "UNICODE UTF-8",
        "patient_id": "BN0001", "issuer": "BVHD", "name": NAME,
        "birth_date": "19800101", "sex": "M",
        "accession": "ACC0001", "placer": "ORD0001", "filler": "F0001",
        "rp_id": "RP0001", "sps_id": "SPS0001", "station_aet": "CT1", "modality": "CT",
        "start": "202612021030", "procedure_code": "CT001", "procedure_text": "CT SỌ NÃO",
        "referring": "BS01^TRẦN^BÌNH", "requesting": "BS02^LÊ^CHI",
        "technician": "KTV01&PHẠM&MINH",
    });
    if let (Some(o), Some(extra)) = (o.as_object_mut(), extra.as_object()) {
        for (k, v) in extra {
            o.insert(k.clone(), v.clone());
        }
    }
    o
}

struct Site {
    server: ServerProcess,
    hl7: u16,
    listen: u16,
    dir: tempfile::TempDir,
    config: PathBuf,
}

fn config_text(
    dir: &Path,
    database_url: Option<&str>,
    hl7: u16,
    listen: u16,
    (hl7_keys, extra): (&str, &str),
) -> String {
    let storage = database_url
        .map(|u| format!("[storage]\ndatabase_url = \"{u}\"\n"))
        .unwrap_or_default();
    format!(
        "data_dir = \"{}\"\n{storage}\
         [hl7]\nbind = \"127.0.0.1:{hl7}\"\n{hl7_keys}\
         [[hl7.senders]]\napplication = \"RIS\"\nfacility = \"BVHD\"\n\
         [[dicom.peers]]\nae_title = \"CT1\"\nhost = \"127.0.0.1\"\nport = {listen}\n\
         permissions = [\"store\", \"worklist\", \"mpps\", \"commitment\"]\n\
         [[dicom.peers]]\nae_title = \"FINDSCU\"\nhost = \"127.0.0.1\"\nport = 104\n\
         permissions = [\"find\", \"get\", \"worklist\"]\n{extra}",
        dir.display()
    )
}

fn site(database_url: Option<&str>) -> Site {
    site_with(database_url, ("", ""))
}

/// A site with more `[hl7]` keys and more configuration after the rest
/// (peers, senders).
fn site_with(database_url: Option<&str>, extra: (&str, &str)) -> Site {
    let dir = tempfile::tempdir().unwrap();
    let (hl7, listen) = (free_port(), free_port());
    let config = dir.path().join("filmless.toml");
    std::fs::write(
        &config,
        config_text(dir.path(), database_url, hl7, listen, extra),
    )
    .unwrap();
    let server = ServerProcess::start(dir.path(), &["--config", config.to_str().unwrap()], &[]);
    Site {
        server,
        hl7,
        listen,
        dir,
        config,
    }
}

/// findscu (DCMTK) with `keys`; the responses as data sets.
fn findscu(port: u16, model: &str, keys: &[&str]) -> Vec<DefaultDicomObject> {
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = dcmtk("findscu");
    cmd.args(["-aet", "FINDSCU", "-aec", "FILMLESS", model, "-X", "-od"])
        .arg(dir.path());
    for k in keys {
        cmd.args(["-k", k]);
    }
    cmd.args(["127.0.0.1", &port.to_string()]);
    let out = cmd.output().expect("findscu");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    files
        .iter()
        .map(|f| dicom_object::open_file(f).unwrap())
        .collect()
}

fn text(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> String {
    obj.element(tag)
        .ok()
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_end_matches(['\0', ' ']).to_owned())
        .unwrap_or_default()
}

/// CT images as the modality makes them from the worklist item: its study,
/// patient and accession number.
fn images(dir: &Path, study: &str, n: u32) -> Vec<String> {
    let (_, instances) = filmless_test_data::ct_series_sized(151, n, (32, 32));
    std::fs::create_dir_all(dir).unwrap();
    let mut uids = Vec::new();
    for (k, i) in instances.iter().enumerate() {
        let mut obj = dicom_object::from_reader(&i.bytes[128..]).unwrap();
        for (tag, vr, v) in [
            (tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192"),
            (tags::STUDY_INSTANCE_UID, VR::UI, study),
            (tags::PATIENT_ID, VR::LO, "BN0001"),
            (tags::ISSUER_OF_PATIENT_ID, VR::LO, "BVHD"),
            (tags::PATIENT_NAME, VR::PN, NAME),
            (tags::PATIENT_BIRTH_DATE, VR::DA, "19800101"),
            (tags::ACCESSION_NUMBER, VR::SH, "ACC0001"),
        ] {
            obj.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
        }
        obj.write_to_file(dir.join(format!("{k:04}.dcm"))).unwrap();
        uids.push(i.sop_instance_uid.clone());
    }
    uids
}

fn get_json(addr: &str, path: &str) -> Value {
    let (status, _, body) = http(addr, "GET", path, &[], b"");
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

/// The whole day: order → worklist → MPPS IN PROGRESS → images → MPPS
/// COMPLETED → storage commitment → ADT^A08 → the corrected patient
/// everywhere.
fn a_day_at_a_vietnamese_hospital(database_url: Option<&str>) {
    let s = site(database_url);
    let port = s.server.dicom_port;
    // 1. The RIS sends the order.
    let acks = hl7(s.hl7, json!([order("NW", "MSG0001", json!({}))]));
    assert_eq!(
        (acks[0]["msa1"].as_str(), acks[0]["msa2"].as_str()),
        (Some("AA"), Some("MSG0001")),
        "{acks:?}"
    );

    // 2. The CT asks for its worklist, typing the name without accents.
    let r = ris(port, &["mwl", "--station-aet", "CT1", "--name", "nguyen*"]);
    assert_eq!(r["status"], 0, "{r}");
    let m = r["matches"].as_array().unwrap();
    assert_eq!(m.len(), 1, "{r}");
    let item = &m[0];
    assert_eq!(item["00100010"]["Value"][0]["Alphabetic"], NAME, "{item}");
    assert_eq!(item["00100020"]["Value"][0], "BN0001");
    assert_eq!(item["00080050"]["Value"][0], "ACC0001");
    assert_eq!(item["00401001"]["Value"][0], "RP0001");
    // IHE SWF: the referring physician from PV1-8, the requesting one
    // from OBR-16, the scheduled performer from OBR-34.
    assert_eq!(item["00080090"]["Value"][0]["Alphabetic"], "TRẦN^BÌNH");
    assert_eq!(item["00321032"]["Value"][0]["Alphabetic"], "LÊ^CHI");
    let step = &item["00400100"]["Value"][0];
    assert_eq!(step["00400006"]["Value"][0]["Alphabetic"], "PHẠM^MINH");
    assert_eq!(step["00400001"]["Value"][0], "CT1");
    assert_eq!(step["00080060"]["Value"][0], "CT");
    assert_eq!(step["00400002"]["Value"][0], "20261202");
    assert_eq!(step["00400009"]["Value"][0], "SPS0001");
    assert_eq!(step["00400020"]["Value"][0], "SCHEDULED");
    assert_eq!(
        item["00321064"]["Value"][0]["00080100"]["Value"][0], "CT001",
        "requested procedure code: {item}"
    );
    let study = item["0020000D"]["Value"][0].as_str().unwrap().to_owned();
    assert!(study.starts_with("2.25."), "generated study UID {study}");
    // The technologist finds the day's exams by the performer's name.
    let r = ris(port, &["mwl", "--performing", "pham*"]);
    assert_eq!(r["matches"].as_array().unwrap().len(), 1, "{r}");
    let r = ris(port, &["mwl", "--performing", "tran*"]);
    assert!(r["matches"].as_array().unwrap().is_empty(), "{r}");
    // The RIS sends the order again (its ACK was lost): still one item.
    let acks = hl7(s.hl7, json!([order("NW", "MSG0001B", json!({}))]));
    assert_eq!(acks[0]["msa1"], "AA", "{acks:?}");
    let r = ris(port, &["mwl", "--station-aet", "CT1"]);
    assert_eq!(
        r["matches"].as_array().unwrap().len(),
        1,
        "a resend is no new order: {r}"
    );
    assert_eq!(r["matches"][0]["0020000D"]["Value"][0], study.as_str());
    // DCMTK's findscu -W finds it too, by station and date.
    let found = findscu(
        port,
        "-W",
        &[
            "PatientName",
            "StudyInstanceUID",
            "ScheduledProcedureStepSequence[0].ScheduledStationAETitle=CT1",
            "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate=20261201-20261203",
            "ScheduledProcedureStepSequence[0].Modality",
        ],
    );
    assert_eq!(found.len(), 1);
    assert_eq!(text(&found[0], tags::PATIENT_NAME), NAME);
    assert_eq!(text(&found[0], tags::STUDY_INSTANCE_UID), study);
    assert!(findscu(
        port,
        "-W",
        &[
            "PatientName",
            "ScheduledProcedureStepSequence[0].ScheduledStationAETitle=MR9"
        ]
    )
    .is_empty());

    // 3. The exam starts.
    let r = ris(
        port,
        &[
            "mpps-create",
            "--study-uid",
            &study,
            "--patient-id",
            "BN0001",
            "--name",
            NAME,
            "--accession",
            "ACC0001",
            "--sps-id",
            "SPS0001",
            "--rp-id",
            "RP0001",
        ],
    );
    assert_eq!(r["status"], 0, "{r}");
    let mpps = r["mpps_uid"].as_str().unwrap().to_owned();
    let list = get_json(&s.server.http, "/api/worklist?ScheduledStationAETitle=CT1");
    assert_eq!(list[0]["status"], "IN PROGRESS", "{list}");
    // A change of the order meanwhile keeps it in progress.
    let acks = hl7(
        s.hl7,
        json!([order(
            "XO",
            "MSG0001C",
            json!({"procedure_text": "CT SỌ NÃO CÓ TIÊM"})
        )]),
    );
    assert_eq!(acks[0]["msa1"], "AA", "{acks:?}");
    let list = get_json(&s.server.http, "/api/worklist?ScheduledStationAETitle=CT1");
    assert_eq!(list[0]["status"], "IN PROGRESS", "{list}");
    assert_eq!(
        list[0]["item"]["00321060"]["Value"][0], "CT SỌ NÃO CÓ TIÊM",
        "{list}"
    );

    // 4. The images, with the worklist's study.
    let uids = images(&s.dir.path().join("ct"), &study, 4);
    let r = ris(
        port,
        &["store", "--dir", s.dir.path().join("ct").to_str().unwrap()],
    );
    assert_eq!(r["stored"], 4, "{r}");

    // 5. The exam ends; a second end is refused.
    let set = |status: &str| {
        ris(
            port,
            &[
                "mpps-set",
                "--mpps-uid",
                &mpps,
                "--status",
                status,
                "--series-uid",
                "1.2.3.4.5",
                "--sop-uids",
                &uids.join(","),
            ],
        )
    };
    assert_eq!(set("COMPLETED")["status"], 0);
    // PS3.4 F.7.2.2: processing failure 0110H, Error ID A710H.
    let again = set("DISCONTINUED");
    assert_eq!(
        (again["status"].as_u64(), again["error_id"].as_u64()),
        (Some(0x0110), Some(0xA710)),
        "no update after COMPLETED: {again}"
    );
    let list = get_json(&s.server.http, "/api/worklist?ScheduledStationAETitle=CT1");
    assert_eq!(list, json!([]), "a completed item leaves the worklist");
    let list = get_json(
        &s.server.http,
        "/api/worklist?ScheduledProcedureStepStatus=COMPLETED",
    );
    assert_eq!(list[0]["status"], "COMPLETED", "{list}");

    // 6. Storage commitment on the same association: all committed.
    let ct = s.dir.path().join("ct");
    let r = ris(
        port,
        &[
            "commit",
            "--dir",
            ct.to_str().unwrap(),
            "--mode",
            "same",
            "--timeout",
            "60",
        ],
    );
    assert_eq!(
        (r["action_status"].as_u64(), r["event_type"].as_u64()),
        (Some(0), Some(1)),
        "{r}"
    );
    assert_eq!(r["event_association"], "same", "{r}");
    let mut committed: Vec<String> = r["committed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    committed.sort();
    let mut want = uids.clone();
    want.sort();
    assert_eq!(committed, want);

    // 7. On a new association, to a requester that is not listening yet,
    // with an instance the archive never received.
    let r = ris(
        port,
        &[
            "commit",
            "--dir",
            ct.to_str().unwrap(),
            "--mode",
            "new",
            "--listen-port",
            &s.listen.to_string(),
            "--start-listener-after",
            "3",
            "--timeout",
            "90",
            "--extra-uid",
            "1.2.826.0.1.3680043.10.543.404",
        ],
    );
    assert_eq!(
        (r["action_status"].as_u64(), r["event_type"].as_u64()),
        (Some(0), Some(2)),
        "{r}"
    );
    assert_eq!(r["event_association"], "new", "{r}");
    assert_eq!(r["event_calling_ae"], "FILMLESS", "{r}");
    assert_eq!(r["committed"].as_array().unwrap().len(), 4, "{r}");
    assert_eq!(
        r["failed"],
        json!([{"uid": "1.2.826.0.1.3680043.10.543.404", "reason": 0x0112}]),
        "{r}"
    );

    // 8. The HIS corrects the birth date.
    let acks = hl7(
        s.hl7,
        json!([{
            "type": "ADT_A08", "control_id": "MSG0002", "sending_app": "RIS",
            "sending_facility": "BVHD", "charset": "UNICODE UTF-8",
            "patient_id": "BN0001", "issuer": "BVHD", "name": NAME,
            "birth_date": "19800215", "sex": "M"
        }]),
    );
    assert_eq!(acks[0]["msa1"], "AA", "{acks:?}");

    // 9. QIDO-RS, WADO-RS metadata, C-FIND and the OHIF list show it.
    let q = get_json(&s.server.http, "/dicom-web/studies?PatientName=nguyen*");
    assert_eq!(q.as_array().unwrap().len(), 1, "{q}");
    assert_eq!(q[0]["00100010"]["Value"][0]["Alphabetic"], NAME, "{q}");
    assert_eq!(q[0]["00100030"]["Value"][0], "19800215", "{q}");
    let meta = get_json(
        &s.server.http,
        &format!("/dicom-web/studies/{study}/metadata"),
    );
    assert_eq!(meta.as_array().unwrap().len(), 4);
    for m in meta.as_array().unwrap() {
        assert_eq!(m["00100030"]["Value"][0], "19800215");
        assert_eq!(m["00100010"]["Value"][0]["Alphabetic"], NAME);
    }
    let found = findscu(
        port,
        "-S",
        &[
            "QueryRetrieveLevel=STUDY",
            "PatientName=nguyen*",
            "PatientBirthDate",
            "StudyInstanceUID",
        ],
    );
    assert_eq!(found.len(), 1);
    assert_eq!(text(&found[0], tags::PATIENT_NAME), NAME);
    assert_eq!(text(&found[0], tags::PATIENT_BIRTH_DATE), "19800215");
    // The images themselves leave with the correction (C-GET), the stored
    // objects untouched.
    let got = s.dir.path().join("got");
    std::fs::create_dir_all(&got).unwrap();
    let out = dcmtk("getscu")
        .args(["-aet", "FINDSCU", "-aec", "FILMLESS", "-S"])
        .args(["-k", "QueryRetrieveLevel=STUDY", "-k"])
        .arg(format!("StudyInstanceUID={study}"))
        .arg("-od")
        .arg(&got)
        .args(["127.0.0.1", &port.to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let files: Vec<_> = std::fs::read_dir(&got)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 4, "{files:?}");
    for f in &files {
        let obj = dicom_object::open_file(f).unwrap();
        assert_eq!(text(&obj, tags::PATIENT_BIRTH_DATE), "19800215", "{f:?}");
        assert_eq!(text(&obj, tags::PATIENT_NAME), NAME);
        assert_eq!(text(&obj, tags::PATIENT_ID), "BN0001");
    }
    // The radiologist types the name without its accents: the server
    // matches it, and so does the list's own filter in the browser; the
    // row shows the accented name and the corrected birth date.
    study_list_shows(
        &s.server.http,
        "nguyen",
        &["NGUYỄN, VĂN AN", "BN0001", "19800215"],
    );
    // The audit trail kept the correction, with the values before (the
    // server writes its events in batches: give it a moment).
    let audit = |filter: &[&str], wanted: &[&str]| {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let out = common::filmless()
                .args(["audit", "--config", s.config.to_str().unwrap()])
                .args(filter)
                .output()
                .unwrap();
            let trail = String::from_utf8_lossy(&out.stdout).into_owned();
            if wanted.iter().all(|w| trail.contains(w)) {
                return trail;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{wanted:?} in the audit trail:\n{trail}"
            );
            std::thread::sleep(std::time::Duration::from_millis(500));
        }
    };
    audit(
        &["--patient", "BN0001"],
        &[
            "order",
            "worklist-query",
            "procedure-step",
            "patient-record",
            "19800101",
            "19800215",
        ],
    );
    let trail = audit(
        &["--actor", "CT1"],
        &["storage-commitment", "report of transaction"],
    );
    assert!(trail.contains("c-store"), "{trail}");
}

fn study_list_shows(http: &str, filter: &str, texts: &[&str]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !root.join("viewer-web/dist/index.html").exists() {
        panic!("the viewer is not installed: run viewer-web/setup.sh (scripts/test does)");
    }
    let out = std::process::Command::new("node")
        .arg(root.join("tests/browser/study_list.mjs"))
        .arg(format!("http://{http}"))
        .arg(filter)
        .args(texts)
        .output()
        .expect("node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "OHIF study list: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn a_day_at_a_vietnamese_hospital_sqlite() {
    a_day_at_a_vietnamese_hospital(None);
}

#[test]
fn a_day_at_a_vietnamese_hospital_postgres() {
    let db = ScratchPg::new();
    a_day_at_a_vietnamese_hospital(Some(&db.url));
}

/// Every message gets its ACK, on one connection: changes and
/// cancellations apply, what cannot be applied is AE with an ERR segment,
/// what is not supported or not allowed is AR and changes nothing, and the
/// listener goes on after garbage.
fn hl7_messages_are_acknowledged(database_url: Option<&str>) {
    let s = site(database_url);
    let port = s.server.dicom_port;
    let acks = hl7(
        s.hl7,
        json!([
            order("NW", "M1", json!({})),
            // Changed: another station and time, same study and step.
            order("XO", "M2", json!({"station_aet": "CT2", "start": "202612021400"})),
            // An OMI with its IPC segment names the study.
            order("NW", "M3", json!({
                "message_type": "OMI^O23", "placer": "ORD2", "accession": "ACC2",
                "sps_id": "SPS2", "study_uid": "1.2.826.0.1.3680043.10.543.2",
                "patient_id": "BN0002", "name": "ĐỖ^THỊ HÀ", "station_aet": "CT2"
            })),
            {"type": "RAW", "text": "this is not HL7"},
            {"type": "UNSUPPORTED", "control_id": "M5", "sending_app": "RIS", "sending_facility": "BVHD"},
            order("NW", "M6", json!({"sending_app": "INTRUDER", "patient_id": "EVIL"})),
            order("CA", "M7", json!({"placer": "NOPE", "accession": "NOPE"})),
            order("NW", "M8", json!({"patient_id": "", "placer": "ORD3", "accession": "ACC3"})),
            {"type": "ADT_A40", "control_id": "M9", "sending_app": "RIS", "sending_facility": "BVHD",
             "patient_id": "BN0001", "merged_patient_id": "NOBODY"},
            order("CA", "M10", json!({"placer": "ORD2", "accession": "ACC2"})),
            {"type": "ADT_A40", "control_id": "M11", "sending_app": "RIS", "sending_facility": "BVHD",
             "patient_id": "BN0001", "name": NAME, "merged_patient_id": "BN0002"},
        ]),
    );
    let got: Vec<(&str, &str)> = acks
        .iter()
        .map(|a| {
            (
                a["msa1"].as_str().unwrap_or(""),
                a["msa2"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("AA", "M1"),
            ("AA", "M2"),
            ("AA", "M3"),
            ("AR", ""),
            ("AR", "M5"),
            ("AR", "M6"),
            ("AE", "M7"),
            ("AE", "M8"),
            ("AE", "M9"),
            ("AA", "M10"),
            ("AA", "M11"),
        ],
        "{acks:#?}"
    );
    let err = |n: usize| acks[n]["err"].as_str().unwrap_or("").to_owned();
    assert!(err(3).contains("100^"), "garbage: {}", err(3));
    assert!(
        err(4).contains("200^Unsupported message type"),
        "{}",
        err(4)
    );
    assert!(err(5).contains("not allowed"), "{}", err(5));
    assert!(err(6).contains("204^Unknown key identifier"), "{}", err(6));
    assert!(
        err(7).contains("101^Required field missing") && err(7).contains("PID^1^3"),
        "{}",
        err(7)
    );
    assert!(err(8).contains("unknown patient"), "{}", err(8));

    let r = ris(port, &["mwl", "--station-aet", "CT2"]);
    let m = r["matches"].as_array().unwrap();
    assert_eq!(
        m.len(),
        1,
        "the change moved ORD1 to CT2; ORD2 is cancelled: {r}"
    );
    assert_eq!(m[0]["00400100"]["Value"][0]["00400003"]["Value"][0], "1400");
    assert!(ris(port, &["mwl", "--station-aet", "CT1"])["matches"]
        .as_array()
        .unwrap()
        .is_empty());
    assert!(
        ris(port, &["mwl", "--patient-id", "EVIL"])["matches"]
            .as_array()
            .unwrap()
            .is_empty(),
        "a sender not listed changes nothing"
    );
    // The cancelled OMI kept its study UID and now belongs to BN0001.
    let all = get_json(
        &s.server.http,
        "/api/worklist?ScheduledProcedureStepStatus=CANCELLED",
    );
    assert_eq!(
        all[0]["item"]["0020000D"]["Value"][0], "1.2.826.0.1.3680043.10.543.2",
        "{all}"
    );
    assert_eq!(
        all[0]["item"]["00100020"]["Value"][0], "BN0001",
        "merged: {all}"
    );
    // Still listening.
    let acks = hl7(
        s.hl7,
        json!([order(
            "NW",
            "M12",
            json!({"placer": "ORD9", "accession": "ACC9", "sps_id": "S9"})
        )]),
    );
    assert_eq!(acks[0]["msa1"], "AA");
    // A change that gives the order another step: the old one, not begun,
    // is cancelled.
    let acks = hl7(
        s.hl7,
        json!([order(
            "XO",
            "M13",
            json!({"placer": "ORD9", "accession": "ACC9", "sps_id": "S9B"})
        )]),
    );
    assert_eq!(acks[0]["msa1"], "AA", "{acks:?}");
    let r = ris(port, &["mwl", "--accession", "ACC9"]);
    let steps: Vec<&str> = r["matches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            m["00400100"]["Value"][0]["00400009"]["Value"][0]
                .as_str()
                .unwrap()
        })
        .collect();
    assert_eq!(steps, ["S9B"], "{r}");
    // An OMI whose requested procedure has two scheduled steps (two IPC
    // segments, on two modalities): two items of one study.
    let acks = hl7(
        s.hl7,
        json!([order(
            "NW",
            "M14",
            json!({
                "message_type": "OMI^O23", "placer": "ORD4", "accession": "ACC4",
                "patient_id": "BN0004", "name": "VÕ^VĂN TƯ", "sps_id": "",
                "ipcs": [
                    {"sps_id": "SPS4A", "station_aet": "CT4", "modality": "CT"},
                    {"sps_id": "SPS4B", "station_aet": "MR4", "modality": "MR"}
                ]
            })
        )]),
    );
    assert_eq!(acks[0]["msa1"], "AA", "{acks:?}");
    let ct = ris(port, &["mwl", "--station-aet", "CT4"]);
    let mr = ris(port, &["mwl", "--station-aet", "MR4"]);
    assert_eq!(ct["matches"].as_array().unwrap().len(), 1, "{ct}");
    assert_eq!(mr["matches"].as_array().unwrap().len(), 1, "{mr}");
    assert_eq!(
        mr["matches"][0]["00400100"]["Value"][0]["00080060"]["Value"][0],
        "MR"
    );
    assert_eq!(
        ct["matches"][0]["0020000D"], mr["matches"][0]["0020000D"],
        "one requested procedure, one study"
    );
}

#[test]
fn hl7_messages_are_acknowledged_sqlite() {
    hl7_messages_are_acknowledged(None);
}

#[test]
fn hl7_messages_are_acknowledged_postgres() {
    let db = ScratchPg::new();
    hl7_messages_are_acknowledged(Some(&db.url));
}

/// What a modality may get wrong in MPPS and storage commitment is
/// refused with the status PS3.4 names.
#[test]
fn mpps_and_commitment_refusals() {
    let s = site_with(None, ("", "[dicom]\nmax_commitment_references = 2\n"));
    let port = s.server.dicom_port;
    let create = |extra: &[&str]| {
        let mut args = vec![
            "mpps-create",
            "--study-uid",
            "1.2.826.0.1.3680043.10.543.7",
            "--patient-id",
            "P7",
            "--name",
            "A^B",
            "--accession",
            "A7",
            "--sps-id",
            "S7",
            "--rp-id",
            "R7",
        ];
        args.extend_from_slice(extra);
        ris(port, &args)
    };
    // Each refusal names the attribute in Attribute Identifier List
    // (0000,1005), where PS3.7 C.5 puts it for 0120H and 0105H.
    let r = create(&["--omit-status"]);
    assert_eq!(r["status"], 0x0120, "missing status: {r}");
    assert_eq!(
        (&r["attribute_identifiers"], &r["offending_elements"]),
        (&serde_json::json!(["00400252"]), &serde_json::json!([])),
        "{r}"
    );
    // The other Type 1 attributes of an N-CREATE (PS3.4 Table F.7.2-1).
    for (keyword, tag) in [
        ("PerformedStationAETitle", "00400241"),
        ("PerformedProcedureStepID", "00400253"),
        ("PerformedProcedureStepStartDate", "00400244"),
        ("Modality", "00080060"),
    ] {
        let r = create(&["--omit", keyword]);
        assert_eq!(r["status"], 0x0120, "{keyword} missing: {r}");
        assert_eq!(
            r["attribute_identifiers"],
            serde_json::json!([tag]),
            "{keyword} missing: {r}"
        );
    }
    let r = create(&["--mpps-uid", "1.2.826.0.1.3680043.10.543.70"]);
    assert_eq!(r["status"], 0, "{r}");
    // What the N-CREATE fixed may not change by N-SET: 0105H, and the
    // step stays as it was (the COMPLETED below still applies).
    for (also, tag) in [("PatientID=OTHER", "00100020"), ("Modality=MR", "00080060")] {
        let r = ris(
            port,
            &[
                "mpps-set",
                "--mpps-uid",
                "1.2.826.0.1.3680043.10.543.70",
                "--status",
                "IN PROGRESS",
                "--also",
                also,
            ],
        );
        assert_eq!(r["status"], 0x0105, "{also}: {r}");
        assert_eq!(
            r["attribute_identifiers"],
            serde_json::json!([tag]),
            "{also}: {r}"
        );
    }
    let r = create(&["--mpps-uid", "1.2.826.0.1.3680043.10.543.70"]);
    assert_eq!(r["status"], 0x0111, "duplicate: {r}");
    let r = ris(
        port,
        &[
            "mpps-set",
            "--mpps-uid",
            "1.2.826.0.1.3680043.10.543.71",
            "--status",
            "COMPLETED",
        ],
    );
    assert_eq!(r["status"], 0x0112, "no such step: {r}");
    let r = ris(
        port,
        &[
            "mpps-set",
            "--mpps-uid",
            "1.2.826.0.1.3680043.10.543.70",
            "--status",
            "FINISHED",
        ],
    );
    assert_eq!(r["status"], 0x0106, "not a status: {r}");
    let r = ris(
        port,
        &[
            "mpps-set",
            "--mpps-uid",
            "1.2.826.0.1.3680043.10.543.70",
            "--status",
            "COMPLETED",
            "--omit-end",
        ],
    );
    assert_eq!(r["status"], 0x0121, "ended without an end date: {r}");
    // More instances in one commitment request than the archive takes.
    let ct = s.dir.path().join("ct");
    images(&ct, "1.2.826.0.1.3680043.10.543.9", 3);
    let r = ris(port, &["store", "--dir", ct.to_str().unwrap()]);
    assert_eq!(r["stored"], 3, "{r}");
    let r = ris(
        port,
        &[
            "commit",
            "--dir",
            ct.to_str().unwrap(),
            "--mode",
            "same",
            "--timeout",
            "2",
        ],
    );
    assert_eq!(r["action_status"], 0x0213, "resource limitation: {r}");
    assert!(r["event_type"].is_null(), "{r}");
}

/// MPPS goes on to the RIS that wants it (`forward_mpps`), in the order
/// the modality sent it, also when the RIS starts listening late; a step
/// that performs two scheduled steps at once moves both worklist items.
#[test]
fn mpps_is_forwarded_and_follows_every_step() {
    let ris_port = free_port();
    let s = site_with(
        None,
        (
            "",
            &format!(
                "[[dicom.peers]]\nae_title = \"RIS9\"\nhost = \"127.0.0.1\"\nport = {ris_port}\n\
                 permissions = []\nforward_mpps = true\n"
            ),
        ),
    );
    let port = s.server.dicom_port;
    let acks = hl7(
        s.hl7,
        json!([
            order(
                "NW",
                "F1",
                json!({"placer": "ORD5", "accession": "ACC5", "sps_id": "S5A",
                "study_uid": "", "patient_id": "BN0005"})
            ),
            order(
                "NW",
                "F2",
                json!({"placer": "ORD6", "accession": "ACC6", "sps_id": "S6A",
                "patient_id": "BN0005"})
            ),
        ]),
    );
    assert!(acks.iter().all(|a| a["msa1"] == "AA"), "{acks:?}");
    let items = get_json(&s.server.http, "/api/worklist?PatientID=BN0005");
    let study_of = |acc: &str| {
        items
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["item"]["00080050"]["Value"][0] == acc)
            .map(|i| {
                i["item"]["0020000D"]["Value"][0]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .unwrap()
    };
    let (study5, study6) = (study_of("ACC5"), study_of("ACC6"));
    // The RIS listens only after both messages were sent.
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/ris_workflow.py");
    let receiver = python()
        .arg(script)
        .args([
            "--aet",
            "RIS9",
            "mpps-scp",
            "--listen-port",
            &ris_port.to_string(),
        ])
        .args(["--count", "2", "--timeout", "90", "--start-after", "4"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let r = ris(
        port,
        &[
            "mpps-create",
            "--study-uid",
            &study5,
            "--patient-id",
            "BN0005",
            "--name",
            NAME,
            "--accession",
            "ACC5",
            "--sps-id",
            "S5A",
            "--rp-id",
            "RP0001",
            "--extra-step",
            &format!("{study6}:S6A"),
        ],
    );
    assert_eq!(r["status"], 0, "{r}");
    let mpps = r["mpps_uid"].as_str().unwrap().to_owned();
    let list = get_json(&s.server.http, "/api/worklist?PatientID=BN0005");
    let statuses: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["IN PROGRESS", "IN PROGRESS"], "{list}");
    let r = ris(
        port,
        &["mpps-set", "--mpps-uid", &mpps, "--status", "COMPLETED"],
    );
    assert_eq!(r["status"], 0, "{r}");
    let done = get_json(
        &s.server.http,
        "/api/worklist?PatientID=BN0005&ScheduledProcedureStepStatus=COMPLETED",
    );
    assert_eq!(done.as_array().unwrap().len(), 2, "{done}");

    let out = receiver.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let got: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    let seen: Vec<(&str, &str, &str)> = got["received"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["op"].as_str().unwrap(),
                m["uid"].as_str().unwrap(),
                m["calling_ae"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("create", mpps.as_str(), "FILMLESS"),
            ("set", mpps.as_str(), "FILMLESS")
        ],
        "{got}"
    );
    let created = &got["received"][0]["data"];
    assert_eq!(
        created["00100010"]["Value"][0]["Alphabetic"], NAME,
        "{created}"
    );
    assert_eq!(
        got["received"][1]["data"]["00400252"]["Value"][0],
        "COMPLETED"
    );
}

/// HL7 senders are trusted only from their hosts; MLLP over TLS; one host
/// cannot hold every connection.
#[test]
fn hl7_senders_hosts_tls_and_limits() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let ok = std::process::Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        ])
        .args([
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success(), "openssl");
    let s = site_with(
        None,
        (
            &format!(
                "tls_cert = \"{}\"\ntls_key = \"{}\"\nmax_connections_per_host = 2\n",
                cert.display(),
                key.display()
            ),
            "[[hl7.senders]]\napplication = \"LAB\"\nhosts = [\"10.9.9.0/24\"]\n\
             [[hl7.senders]]\napplication = \"HIS\"\nhosts = [\"127.0.0.1\"]\n",
        ),
    );
    let send = |app: &str, id: &str| {
        let r = ris(
            0,
            &[
                "hl7",
                "--hl7-port",
                &s.hl7.to_string(),
                "--tls",
                cert.to_str().unwrap(),
                "--messages",
                &json!([order(
                    "NW",
                    id,
                    json!({"sending_app": app, "sending_facility": "",
                    "placer": id, "accession": id, "sps_id": id})
                )])
                .to_string(),
            ],
        );
        assert!(r.get("error").is_none(), "{r}");
        r["acks"][0].clone()
    };
    let ack = send("HIS", "T1");
    assert_eq!(ack["msa1"], "AA", "over TLS, from its host: {ack}");
    let ack = send("LAB", "T2");
    assert_eq!(ack["msa1"], "AR", "{ack}");
    assert!(
        ack["err"]
            .as_str()
            .unwrap()
            .contains("not allowed from 127.0.0.1"),
        "{ack}"
    );
    // Plain MLLP on the TLS port gets nothing applied.
    use std::io::{Read, Write};
    let addr = format!("127.0.0.1:{}", s.hl7);
    let mut plain = std::net::TcpStream::connect(&addr).unwrap();
    plain
        .set_read_timeout(Some(std::time::Duration::from_secs(20)))
        .unwrap();
    let _ = plain.write_all(b"\x0bMSH|^~\\&|HIS||||20261202||ADT^A08|P1|P|2.5.1\r\x1c\r");
    let mut buf = [0u8; 64];
    let n = plain.read(&mut buf).unwrap_or(0);
    assert!(
        !String::from_utf8_lossy(&buf[..n]).contains("MSA"),
        "no ACK in the clear"
    );
    drop(plain);
    // Two connections from one host at once; a third is closed at once.
    let held: Vec<_> = (0..2)
        .map(|_| std::net::TcpStream::connect(&addr).unwrap())
        .collect();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let mut third = std::net::TcpStream::connect(&addr).unwrap();
    third
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    assert_eq!(
        third.read(&mut buf).unwrap_or(1),
        0,
        "the third connection from one host is closed"
    );
    drop(held);
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(send("HIS", "T3")["msa1"], "AA", "free again");
    assert!(s.server.logged("too many from this host"));
}

/// A restart between the N-ACTION and the N-EVENT-REPORT still sends the
/// report: the requester listens only after the first server stopped.
#[test]
fn commitment_reports_survive_a_restart() {
    let mut s = site(None);
    let ct = s.dir.path().join("ct");
    let uids = images(&ct, "1.2.826.0.1.3680043.10.543.8", 2);
    let r = ris(
        s.server.dicom_port,
        &["store", "--dir", ct.to_str().unwrap()],
    );
    assert_eq!(r["stored"], 2, "{r}");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/ris_workflow.py");
    let requester = python()
        .arg(script)
        .args(["--port", &s.server.dicom_port.to_string(), "--aet", "CT1"])
        .args(["commit", "--dir", ct.to_str().unwrap(), "--mode", "new"])
        .args([
            "--listen-port",
            &s.listen.to_string(),
            "--start-listener-after",
            "8",
        ])
        .args(["--timeout", "120"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The request is in; stop the archive gracefully and start it again.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let status = s.server.terminate(std::time::Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
    let server = ServerProcess::start(s.dir.path(), &["--config", s.config.to_str().unwrap()], &[]);
    let out = requester.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let r: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(
        (r["action_status"].as_u64(), r["event_type"].as_u64()),
        (Some(0), Some(1)),
        "{r}"
    );
    assert_eq!(r["committed"].as_array().unwrap().len(), uids.len(), "{r}");
    assert!(server.logged("storage commitment report sent on a new association"));
}

/// Bad input on the MLLP port: bytes outside a frame are skipped, a
/// message over the size limit is refused (AR) and its connection closed,
/// a connection cut mid-message changes nothing; the listener goes on.
#[test]
fn hl7_bad_input_never_stops_the_listener() {
    use std::io::{Read, Write};
    let s = site(None);
    let addr = format!("127.0.0.1:{}", s.hl7);
    let read_ack = |c: &mut std::net::TcpStream| {
        c.set_read_timeout(Some(std::time::Duration::from_secs(30)))
            .unwrap();
        let mut buf = Vec::new();
        let mut b = [0u8; 1];
        while !buf.ends_with(&[0x1C, 0x0D]) {
            match c.read(&mut b) {
                Ok(0) | Err(_) => break,
                Ok(_) => buf.push(b[0]),
            }
        }
        String::from_utf8_lossy(&buf).into_owned()
    };
    let frame = |text: &str| {
        let mut v = vec![0x0B];
        v.extend_from_slice(text.as_bytes());
        v.extend_from_slice(&[0x1C, 0x0D]);
        v
    };
    let adt = "MSH|^~\\&|RIS|BVHD|FILMLESS|FILMLESS|20261202||ADT^A08|OK1|P|2.5.1\rPID|||P9||A^B||19800101|F\r";
    // Noise, then a message: the noise is skipped.
    let mut c = std::net::TcpStream::connect(&addr).unwrap();
    c.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
    c.write_all(&frame(adt)).unwrap();
    let ack = read_ack(&mut c);
    assert!(ack.contains("MSA|AA|OK1"), "{ack:?}");
    // Too large: AR, then the connection is closed.
    let mut big = adt.to_owned();
    big.push_str(&format!("NTE|1||{}\r", "x".repeat(1_100_000)));
    c.write_all(&frame(&big)).unwrap();
    let ack = read_ack(&mut c);
    assert!(
        ack.contains("MSA|AR|") && ack.contains("max_message_bytes"),
        "{ack:?}"
    );
    assert_eq!(
        c.read(&mut [0u8; 16]).unwrap_or(0),
        0,
        "closed after the oversized message"
    );
    // Cut off mid-message.
    let mut c = std::net::TcpStream::connect(&addr).unwrap();
    c.write_all(&frame(adt)[..40]).unwrap();
    drop(c);
    // Still serving.
    let mut c = std::net::TcpStream::connect(&addr).unwrap();
    c.write_all(&frame(&adt.replace("OK1", "OK2"))).unwrap();
    let ack = read_ack(&mut c);
    assert!(ack.contains("MSA|AA|OK2"), "{ack:?}");
}

// ---------------------------------------------------------------------
// The worklist without HL7, time ranges, order changes and merges.

/// Worklist C-FIND by pynetdicom (the modality, CT1) with these keys
/// (`--modality CT`, `--rp-id RP1`, `--date D --time T1-T2`…): the
/// accession numbers of the items found, sorted.
fn mwl_accessions(port: u16, keys: &[&str]) -> Vec<String> {
    let mut args = vec!["mwl"];
    args.extend_from_slice(keys);
    let r = ris(port, &args);
    assert!(r.get("error").is_none(), "worklist C-FIND {keys:?}: {r}");
    assert_eq!(r["status"], 0, "worklist C-FIND {keys:?}: {r}");
    let mut found: Vec<String> = r["matches"]
        .as_array()
        .unwrap_or_else(|| panic!("worklist C-FIND {keys:?}: no matches in {r}"))
        .iter()
        .map(|m| m["00080050"]["Value"][0].as_str().unwrap_or("").to_owned())
        .collect();
    found.sort();
    found
}

/// `filmless worklist --config CONFIG ARGS`, which must succeed: its
/// stdout and stderr.
fn worklist_cli(config: &Path, args: &[&str]) -> (String, String) {
    let out = common::filmless()
        .args(["worklist", "--config"])
        .arg(config)
        .args(args)
        .output()
        .expect("run filmless worklist");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        out.status.success(),
        "filmless worklist {args:?}:\n{stdout}{stderr}"
    );
    (stdout, stderr)
}

/// `filmless worklist list --json ARGS`: one `{id, status, item}` a line.
fn worklist_cli_rows(config: &Path, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["list", "--json"];
    all.extend_from_slice(args);
    let (stdout, _) = worklist_cli(config, &all);
    stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

/// The first event of `filmless audit --format jsonl FILTER` that `wanted`
/// accepts. The server writes its events in batches: they are waited for
/// (20 s), and `what` says which was missing.
fn audit_event(
    config: &Path,
    filter: &[&str],
    what: &str,
    wanted: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let out = common::filmless()
            .args(["audit", "--config"])
            .arg(config)
            .args(filter)
            .args(["--format", "jsonl"])
            .output()
            .expect("run filmless audit");
        let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect();
        if let Some(e) = events.iter().find(|e| wanted(e)) {
            return e.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{what} in the audit trail ({filter:?}):\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
}

/// A RIS without HL7 schedules over `/api/worklist`, a person at the
/// console with `filmless worklist add`: both items reach the modality's
/// worklist C-FIND (pynetdicom and DCMTK), each found by its own modality
/// and requested procedure and by no other, with the Study Instance UID
/// the archive generated; `filmless worklist list` shows them; cancelled
/// either way (`filmless worklist cancel`, `DELETE /api/worklist/{id}`),
/// they leave the worklist but are kept, CANCELLED, with their study.
fn worklist_over_http_and_cli(database_url: Option<&str>) {
    let s = site(database_url);
    let port = s.server.dicom_port;
    let config = s.config.as_path();

    // 1. The RIS posts the item as DICOM JSON, without a study: the
    // archive generates the one the images will carry.
    let item = json!({
        "00080005": {"vr": "CS", "Value": ["ISO_IR 192"]},
        "00100010": {"vr": "PN", "Value": [{"Alphabetic": "PHAN^THỊ LAN"}]},
        "00100020": {"vr": "LO", "Value": ["BN0201"]},
        "00100021": {"vr": "LO", "Value": ["BVHD"]},
        "00100030": {"vr": "DA", "Value": ["19900312"]},
        "00100040": {"vr": "CS", "Value": ["F"]},
        "00080050": {"vr": "SH", "Value": ["ACC0201"]},
        "00401001": {"vr": "SH", "Value": ["RP0201"]},
        "00321060": {"vr": "LO", "Value": ["CT NGỰC"]},
        "00400100": {"vr": "SQ", "Value": [{
            "00400001": {"vr": "AE", "Value": ["CT1"]},
            "00080060": {"vr": "CS", "Value": ["CT"]},
            "00400002": {"vr": "DA", "Value": ["20261205"]},
            "00400003": {"vr": "TM", "Value": ["0930"]},
            "00400007": {"vr": "LO", "Value": ["CT NGỰC"]},
            "00400009": {"vr": "SH", "Value": ["SPS0201"]}
        }]}
    });
    let (status, _, body) = http(
        &s.server.http,
        "POST",
        "/api/worklist",
        &[("Content-Type", "application/json")],
        item.to_string().as_bytes(),
    );
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let created: Value = serde_json::from_slice(&body).expect("the answer to POST is JSON");
    let id = created["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no id: {created}"));
    let study = created["StudyInstanceUID"]
        .as_str()
        .unwrap_or_else(|| panic!("no StudyInstanceUID: {created}"))
        .to_owned();
    assert!(study.starts_with("2.25."), "generated study UID {study}");
    let one = get_json(&s.server.http, &format!("/api/worklist/{id}"));
    assert_eq!(one["status"], "SCHEDULED", "{one}");
    assert_eq!(one["item"]["0020000D"]["Value"][0], study.as_str(), "{one}");
    assert_eq!(
        one["item"]["00100010"]["Value"][0]["Alphabetic"], "PHAN^THỊ LAN",
        "{one}"
    );
    let list = get_json(&s.server.http, "/api/worklist?AccessionNumber=ACC0201");
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["id"], id, "{list}");
    assert_eq!(
        list[0]["item"]["0020000D"]["Value"][0],
        study.as_str(),
        "{list}"
    );

    // 2. Another from the console, on the MR.
    let (out, _) = worklist_cli(
        config,
        &[
            "add",
            "--patient-id",
            "BN0202",
            "--issuer",
            "BVHD",
            "--name",
            "MAI^VĂN HÙNG",
            "--accession",
            "ACC0202",
            "--procedure-id",
            "RP0202",
            "--description",
            "MR CỘT SỐNG",
            "--modality",
            "MR",
            "--station",
            "MR1",
            "--start",
            "202612051100",
        ],
    );
    // "scheduled item ID (study UID)"
    let (cli_id, cli_study) = out
        .lines()
        .find_map(|l| {
            let rest = l.strip_prefix("scheduled item ")?;
            let (n, rest) = rest.split_once(" (study ")?;
            Some((
                n.parse::<i64>().ok()?,
                rest.trim_end_matches(')').to_owned(),
            ))
        })
        .unwrap_or_else(|| panic!("no scheduled item in {out:?}"));
    assert_ne!(cli_id, id, "two items");
    assert!(
        cli_study.starts_with("2.25.") && cli_study != study,
        "a study of its own: {cli_study}"
    );

    // 3. The modality's worklist: each by its modality and requested
    // procedure, and by no other; the keys are matched together.
    assert_eq!(mwl_accessions(port, &["--modality", "CT"]), ["ACC0201"]);
    assert_eq!(mwl_accessions(port, &["--modality", "MR"]), ["ACC0202"]);
    assert!(
        mwl_accessions(port, &["--modality", "US"]).is_empty(),
        "no US exam scheduled"
    );
    assert_eq!(mwl_accessions(port, &["--rp-id", "RP0201"]), ["ACC0201"]);
    assert_eq!(mwl_accessions(port, &["--rp-id", "RP0202"]), ["ACC0202"]);
    assert!(
        mwl_accessions(port, &["--rp-id", "RP0299"]).is_empty(),
        "no such requested procedure"
    );
    assert!(
        mwl_accessions(port, &["--modality", "MR", "--rp-id", "RP0201"]).is_empty(),
        "the CT procedure is not on the MR's worklist"
    );
    let r = ris(port, &["mwl", "--rp-id", "RP0201"]);
    assert_eq!(
        r["matches"][0]["0020000D"]["Value"][0],
        study.as_str(),
        "{r}"
    );
    assert_eq!(r["matches"][0]["00401001"]["Value"][0], "RP0201", "{r}");
    assert_eq!(
        r["matches"][0]["00400100"]["Value"][0]["00400009"]["Value"][0], "SPS0201",
        "{r}"
    );
    // DCMTK asks by the requested procedure too.
    let found = findscu(
        port,
        "-W",
        &[
            "AccessionNumber",
            "StudyInstanceUID",
            "RequestedProcedureID=RP0202",
            "ScheduledProcedureStepSequence[0].Modality",
        ],
    );
    assert_eq!(found.len(), 1);
    assert_eq!(text(&found[0], tags::ACCESSION_NUMBER), "ACC0202");
    assert_eq!(text(&found[0], tags::STUDY_INSTANCE_UID), cli_study);

    // 4. The console's list: the table, and JSON lines by station.
    let (table, _) = worklist_cli(config, &["list"]);
    for want in [
        "ACC0201",
        "ACC0202",
        "BN0201",
        "BN0202",
        "PHAN^THỊ LAN",
        "MAI^VĂN HÙNG",
        "SCHEDULED",
    ] {
        assert!(table.contains(want), "{want} in:\n{table}");
    }
    let rows = worklist_cli_rows(config, &["--station", "CT1"]);
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["id"], id, "{rows:?}");
    assert_eq!(rows[0]["status"], "SCHEDULED", "{rows:?}");
    assert_eq!(rows[0]["item"]["0020000D"]["Value"][0], study.as_str());

    // 5. Cancelled from the console and over HTTP.
    let (out, _) = worklist_cli(config, &["cancel", &id.to_string()]);
    assert!(out.contains("cancelled 1"), "{out}");
    let (status, _, body) = http(
        &s.server.http,
        "DELETE",
        &format!("/api/worklist/{cli_id}"),
        &[],
        b"",
    );
    assert_eq!(status, 204, "{}", String::from_utf8_lossy(&body));
    let (status, _, _) = http(&s.server.http, "DELETE", "/api/worklist/999999", &[], b"");
    assert_eq!(status, 404, "no such item");
    // Gone from what the modality sees, by default and by its keys.
    assert!(
        mwl_accessions(port, &[]).is_empty(),
        "cancelled items leave the worklist"
    );
    assert!(mwl_accessions(port, &["--rp-id", "RP0201"]).is_empty());
    assert!(mwl_accessions(port, &["--modality", "MR"]).is_empty());
    assert!(findscu(
        port,
        "-W",
        &["AccessionNumber", "RequestedProcedureID=RP0202"]
    )
    .is_empty());
    let (table, stderr) = worklist_cli(config, &["list"]);
    assert!(
        !table.contains("ACC0201") && !table.contains("ACC0202"),
        "{table}"
    );
    assert!(stderr.contains("no worklist items"), "{stderr}");
    // Kept, CANCELLED, each with its study.
    let cancelled = get_json(
        &s.server.http,
        "/api/worklist?ScheduledProcedureStepStatus=CANCELLED",
    );
    let mut got: Vec<(i64, &str, &str)> = cancelled
        .as_array()
        .unwrap_or_else(|| panic!("{cancelled}"))
        .iter()
        .map(|e| {
            (
                e["id"].as_i64().unwrap_or(0),
                e["status"].as_str().unwrap_or(""),
                e["item"]["0020000D"]["Value"][0].as_str().unwrap_or(""),
            )
        })
        .collect();
    got.sort();
    let mut want = vec![
        (id, "CANCELLED", study.as_str()),
        (cli_id, "CANCELLED", cli_study.as_str()),
    ];
    want.sort();
    assert_eq!(got, want, "{cancelled}");
    let rows = worklist_cli_rows(config, &["--all"]);
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(rows.iter().all(|r| r["status"] == "CANCELLED"), "{rows:?}");
    // Both cancellations are in the audit trail, with who did them.
    audit_event(
        config,
        &["--patient", "BN0201"],
        "the console's cancellation",
        |e| {
            e["action"] == "order"
                && e["detail"].as_str().is_some_and(|d| {
                    d.contains("filmless worklist cancel")
                        && d.contains(&format!("cancelled item {id}"))
                })
        },
    );
    audit_event(
        config,
        &["--patient", "BN0202"],
        "the DELETE's cancellation",
        |e| {
            e["action"] == "order"
                && e["detail"].as_str().is_some_and(|d| {
                    d.contains("DELETE /api/worklist")
                        && d.contains(&format!("cancelled item {cli_id}"))
                })
        },
    );
}

#[test]
fn worklist_over_http_and_cli_sqlite() {
    worklist_over_http_and_cli(None);
}

#[test]
fn worklist_over_http_and_cli_postgres() {
    let db = ScratchPg::new();
    worklist_over_http_and_cli(Some(&db.url));
}

/// Scheduled Procedure Step Start Date and Time are matched each on its
/// own: without the extended negotiation of combined date-time matching
/// (PS3.4 Annex C), which the modality does not propose, a time range is
/// a range of times of every day the date key selects. A morning range on
/// one day finds the morning exam only; over two days, the morning exams
/// of both and not the first day's afternoon (which combined matching,
/// from 07:00 on the first day to 09:00 on the second, would include).
fn scheduled_time_range_matches(database_url: Option<&str>) {
    let s = site(database_url);
    let port = s.server.dicom_port;
    let exam = |n: &str, start: &str| {
        order(
            "NW",
            &format!("MSG{n}"),
            json!({
                "placer": format!("ORD{n}"), "filler": format!("F{n}"),
                "accession": format!("ACC{n}"), "rp_id": format!("RP{n}"),
                "sps_id": format!("SPS{n}"), "start": start
            }),
        )
    };
    let acks = hl7(
        s.hl7,
        json!([
            exam("0301", "202612030800"),
            exam("0302", "202612031400"),
            exam("0303", "202612040830"),
        ]),
    );
    assert!(acks.iter().all(|a| a["msa1"] == "AA"), "{acks:?}");

    // One day, a morning range: the 08:00 exam, not the 14:00 one.
    assert_eq!(
        mwl_accessions(port, &["--date", "20261203", "--time", "0700-0900"]),
        ["ACC0301"]
    );
    let r = ris(port, &["mwl", "--date", "20261203", "--time", "0700-0900"]);
    let step = &r["matches"][0]["00400100"]["Value"][0];
    assert_eq!(step["00400002"]["Value"][0], "20261203", "{r}");
    assert_eq!(step["00400003"]["Value"][0], "0800", "{r}");
    assert_eq!(
        mwl_accessions(port, &["--date", "20261203", "--time", "1300-1500"]),
        ["ACC0302"]
    );
    // Open ranges.
    assert_eq!(
        mwl_accessions(port, &["--date", "20261203", "--time", "1200-"]),
        ["ACC0302"]
    );
    assert_eq!(
        mwl_accessions(port, &["--date", "20261203", "--time=-0900"]),
        ["ACC0301"]
    );
    // The date alone: the whole day.
    assert_eq!(
        mwl_accessions(port, &["--date", "20261203"]),
        ["ACC0301", "ACC0302"]
    );
    // Date and time each on its own.
    assert_eq!(
        mwl_accessions(
            port,
            &["--date", "20261203-20261204", "--time", "0700-0900"]
        ),
        ["ACC0301", "ACC0303"]
    );
    assert_eq!(
        mwl_accessions(port, &["--time", "0700-0900"]),
        ["ACC0301", "ACC0303"]
    );
    assert!(
        mwl_accessions(port, &["--date", "20261205", "--time", "0700-0900"]).is_empty(),
        "nothing that day"
    );
    // DCMTK's findscu -W, and /api/worklist (the same query model).
    let found = findscu(
        port,
        "-W",
        &[
            "AccessionNumber",
            "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartDate=20261203",
            "ScheduledProcedureStepSequence[0].ScheduledProcedureStepStartTime=0700-0900",
        ],
    );
    assert_eq!(found.len(), 1);
    assert_eq!(text(&found[0], tags::ACCESSION_NUMBER), "ACC0301");
    let list = get_json(
        &s.server.http,
        "/api/worklist?ScheduledProcedureStepStartDate=20261203&ScheduledProcedureStepStartTime=0700-0900",
    );
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert_eq!(list[0]["item"]["00080050"]["Value"][0], "ACC0301", "{list}");
}

#[test]
fn scheduled_time_range_matches_sqlite() {
    scheduled_time_range_matches(None);
}

#[test]
fn scheduled_time_range_matches_postgres() {
    let db = ScratchPg::new();
    scheduled_time_range_matches(Some(&db.url));
}

/// The RIS changes an order the modality has begun (ORC-1 SC: another
/// room, another description): the item changes in place and keeps its
/// study and status. Then the HIS merges the patient into another
/// (ADT^A40): the stored study (QIDO-RS, WADO-RS metadata, C-FIND) and
/// the worklist items move to the surviving patient, nothing is left under
/// the merged ID, and the audit trail holds both IDs for the study.
fn order_changes_and_merges_over_hl7(database_url: Option<&str>) {
    const SURVIVOR: &str = "TRẦN^THỊ BÌNH";
    let s = site(database_url);
    let port = s.server.dicom_port;
    let acks = hl7(
        s.hl7,
        json!([
            order("NW", "MSG0401", json!({})),
            // Patient B, scheduled on the MR: the one patient A is merged into.
            order(
                "NW",
                "MSG0402",
                json!({
                    "patient_id": "BN0009", "name": SURVIVOR, "birth_date": "19750505",
                    "sex": "F", "placer": "ORD0009", "filler": "F0009",
                    "accession": "ACC0009", "rp_id": "RP0009", "sps_id": "SPS0009",
                    "station_aet": "MR1", "modality": "MR"
                })
            ),
        ]),
    );
    let got: Vec<(&str, &str)> = acks
        .iter()
        .map(|a| {
            (
                a["msa1"].as_str().unwrap_or(""),
                a["msa2"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(got, [("AA", "MSG0401"), ("AA", "MSG0402")], "{acks:?}");
    let items = get_json(&s.server.http, "/api/worklist?PatientID=BN0001");
    assert_eq!(items.as_array().map(Vec::len), Some(1), "{items}");
    let id = items[0]["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no id: {items}"));
    let study = items[0]["item"]["0020000D"]["Value"][0]
        .as_str()
        .unwrap_or_else(|| panic!("no study: {items}"))
        .to_owned();

    // 1. The exam begins on CT1.
    let r = ris(
        port,
        &[
            "mpps-create",
            "--study-uid",
            &study,
            "--patient-id",
            "BN0001",
            "--name",
            NAME,
            "--accession",
            "ACC0001",
            "--sps-id",
            "SPS0001",
            "--rp-id",
            "RP0001",
        ],
    );
    assert_eq!(r["status"], 0, "{r}");
    let items = get_json(&s.server.http, "/api/worklist?PatientID=BN0001");
    assert_eq!(items[0]["status"], "IN PROGRESS", "{items}");

    // 2. The RIS moves it to CT2 with another description (ORC-1 SC).
    let acks = hl7(
        s.hl7,
        json!([order(
            "SC",
            "MSG0403",
            json!({"station_aet": "CT2", "procedure_text": "CT SỌ NÃO CÓ TIÊM"})
        )]),
    );
    assert_eq!(
        (acks[0]["msa1"].as_str(), acks[0]["msa2"].as_str()),
        (Some("AA"), Some("MSG0403")),
        "{acks:?}"
    );
    let items = get_json(&s.server.http, "/api/worklist?PatientID=BN0001");
    assert_eq!(
        items.as_array().map(Vec::len),
        Some(1),
        "changed in place, not added: {items}"
    );
    let item = &items[0];
    assert_eq!(item["id"], id, "{item}");
    assert_eq!(
        item["status"], "IN PROGRESS",
        "the modality's progress stays: {item}"
    );
    assert_eq!(
        item["item"]["0020000D"]["Value"][0],
        study.as_str(),
        "{item}"
    );
    let step = &item["item"]["00400100"]["Value"][0];
    assert_eq!(step["00400001"]["Value"][0], "CT2", "{item}");
    assert_eq!(step["00400007"]["Value"][0], "CT SỌ NÃO CÓ TIÊM", "{item}");
    assert_eq!(
        item["item"]["00321060"]["Value"][0], "CT SỌ NÃO CÓ TIÊM",
        "{item}"
    );
    // The modality in the other room finds it, with the same study.
    let r = ris(port, &["mwl", "--station-aet", "CT2"]);
    assert_eq!(r["matches"].as_array().map(Vec::len), Some(1), "{r}");
    assert_eq!(
        r["matches"][0]["0020000D"]["Value"][0],
        study.as_str(),
        "{r}"
    );
    assert_eq!(
        r["matches"][0]["00400100"]["Value"][0]["00400020"]["Value"][0], "IN PROGRESS",
        "{r}"
    );
    assert!(
        mwl_accessions(port, &["--station-aet", "CT1"]).is_empty(),
        "moved away from CT1"
    );

    // 3. The images of patient A, with the worklist's study.
    let ct = s.dir.path().join("ct");
    let uids = images(&ct, &study, 2);
    let r = ris(port, &["store", "--dir", ct.to_str().unwrap()]);
    assert_eq!(r["stored"], 2, "{r}");
    let q = get_json(&s.server.http, "/dicom-web/studies?PatientID=BN0001");
    assert_eq!(q.as_array().map(Vec::len), Some(1), "before the merge: {q}");

    // 4. The HIS merges patient A (BN0001) into patient B (BN0009).
    let acks = hl7(
        s.hl7,
        json!([{
            "type": "ADT_A40", "control_id": "MSG0404", "sending_app": "RIS",
            "sending_facility": "BVHD", "charset": "UNICODE UTF-8",
            "patient_id": "BN0009", "issuer": "BVHD", "name": SURVIVOR,
            "birth_date": "19750505", "sex": "F",
            "merged_patient_id": "BN0001", "merged_issuer": "BVHD"
        }]),
    );
    assert_eq!(
        (acks[0]["msa1"].as_str(), acks[0]["msa2"].as_str()),
        (Some("AA"), Some("MSG0404")),
        "{acks:?}"
    );
    let q = get_json(&s.server.http, "/dicom-web/studies?PatientID=BN0009");
    assert_eq!(q.as_array().map(Vec::len), Some(1), "{q}");
    assert_eq!(q[0]["0020000D"]["Value"][0], study.as_str(), "{q}");
    assert_eq!(q[0]["00100020"]["Value"][0], "BN0009", "{q}");
    assert_eq!(q[0]["00100010"]["Value"][0]["Alphabetic"], SURVIVOR, "{q}");
    assert_eq!(q[0]["00100030"]["Value"][0], "19750505", "{q}");
    let q = get_json(&s.server.http, "/dicom-web/studies?PatientID=BN0001");
    assert_eq!(q, json!([]), "nothing left under the merged ID");
    let meta = get_json(
        &s.server.http,
        &format!("/dicom-web/studies/{study}/metadata"),
    );
    let meta = meta.as_array().unwrap_or_else(|| panic!("{meta}"));
    assert_eq!(meta.len(), uids.len());
    for m in meta {
        assert_eq!(m["00100020"]["Value"][0], "BN0009", "{m}");
        assert_eq!(m["00100010"]["Value"][0]["Alphabetic"], SURVIVOR, "{m}");
    }
    let found = findscu(
        port,
        "-S",
        &[
            "QueryRetrieveLevel=STUDY",
            "PatientID=BN0009",
            "PatientName",
            "StudyInstanceUID",
        ],
    );
    assert_eq!(found.len(), 1);
    assert_eq!(text(&found[0], tags::STUDY_INSTANCE_UID), study);
    assert_eq!(text(&found[0], tags::PATIENT_NAME), SURVIVOR);
    assert!(findscu(
        port,
        "-S",
        &[
            "QueryRetrieveLevel=STUDY",
            "PatientID=BN0001",
            "StudyInstanceUID"
        ]
    )
    .is_empty());
    // The worklist items went along: A's (still in progress) is B's now.
    let items = get_json(&s.server.http, "/api/worklist?PatientID=BN0009");
    let mut moved: Vec<(&str, &str, &str)> = items
        .as_array()
        .unwrap_or_else(|| panic!("{items}"))
        .iter()
        .map(|i| {
            (
                i["item"]["00080050"]["Value"][0].as_str().unwrap_or(""),
                i["status"].as_str().unwrap_or(""),
                i["item"]["00100010"]["Value"][0]["Alphabetic"]
                    .as_str()
                    .unwrap_or(""),
            )
        })
        .collect();
    moved.sort();
    assert_eq!(
        moved,
        [
            ("ACC0001", "IN PROGRESS", SURVIVOR),
            ("ACC0009", "SCHEDULED", SURVIVOR)
        ],
        "{items}"
    );
    assert_eq!(
        get_json(&s.server.http, "/api/worklist?PatientID=BN0001"),
        json!([])
    );

    // 5. The audit trail of the study: the merge, with the IDs before and
    // after.
    let event = audit_event(
        &s.config,
        &["--study", &study],
        "the merge of BN0001 into BN0009",
        |e| {
            e["action"] == "patient-record"
                && e["detail"].as_str().is_some_and(|d| {
                    d.contains("merged")
                        && d.contains("before id \"BN0001\"")
                        && d.contains("after id \"BN0009\"")
                })
        },
    );
    assert_eq!(event["patient_id"], "BN0009", "{event}");
    assert_eq!(event["study_instance_uid"], study.as_str(), "{event}");
    assert_eq!(event["outcome"], "success", "{event}");
}

#[test]
fn order_changes_and_merges_over_hl7_sqlite() {
    order_changes_and_merges_over_hl7(None);
}

#[test]
fn order_changes_and_merges_over_hl7_postgres() {
    let db = ScratchPg::new();
    order_changes_and_merges_over_hl7(Some(&db.url));
}

// ---------------------------------------------------------------------
// Order variants over HL7, and commitment of another SOP Class.

/// The worklist items of `patient` over `/api/worklist`, each as
/// (accession, Study Instance UID, step ID, station, status), sorted.
fn items_of(http: &str, patient: &str) -> Vec<(String, String, String, String, String)> {
    let items = get_json(http, &format!("/api/worklist?PatientID={patient}"));
    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
    let mut got: Vec<_> = items
        .as_array()
        .unwrap_or_else(|| panic!("{items}"))
        .iter()
        .map(|i| {
            let step = &i["item"]["00400100"]["Value"][0];
            (
                s(&i["item"]["00080050"]["Value"][0]),
                s(&i["item"]["0020000D"]["Value"][0]),
                s(&step["00400009"]["Value"][0]),
                s(&step["00400001"]["Value"][0]),
                s(&i["status"]),
            )
        })
        .collect();
    got.sort();
    got
}

/// Orders as RIS send them beyond the simplest: one ORM^O01 with two
/// ORDER groups, each with its own ZDS (each order its study); an older
/// RIS without TQ1, the start in OBR-27.4 and the accession number only
/// in ORC-3 (the filler order number); and ADT^A31 correcting a patient
/// with a pending item, as A08 does.
fn hl7_order_variants(database_url: Option<&str>) {
    const STUDY_A: &str = "1.2.826.0.1.3680043.10.543.711";
    const STUDY_B: &str = "1.2.826.0.1.3680043.10.543.712";
    let s = site(database_url);
    let port = s.server.dicom_port;
    let http = s.server.http.as_str();

    // (a) One message, two orders, two studies (ZDS-1 of each group).
    let two = order(
        "NW",
        "MSG0701",
        json!({
            "patient_id": "BN0701",
            "orders": [
                {"placer": "ORD0711", "filler": "F0711", "accession": "ACC0711",
                 "rp_id": "RP0711", "sps_id": "SPS0711", "zds": STUDY_A},
                {"placer": "ORD0712", "filler": "F0712", "accession": "ACC0712",
                 "rp_id": "RP0712", "sps_id": "SPS0712", "station_aet": "MR1",
                 "modality": "MR", "start": "202612021400", "zds": STUDY_B}
            ]
        }),
    );
    let acks = hl7(s.hl7, json!([two]));
    assert_eq!(
        (acks[0]["msa1"].as_str(), acks[0]["msa2"].as_str()),
        (Some("AA"), Some("MSG0701")),
        "{acks:?}"
    );
    let want = |a: &str, study: &str, step: &str, station: &str| {
        (
            a.to_owned(),
            study.to_owned(),
            step.to_owned(),
            station.to_owned(),
            "SCHEDULED".to_owned(),
        )
    };
    let both = vec![
        want("ACC0711", STUDY_A, "SPS0711", "CT1"),
        want("ACC0712", STUDY_B, "SPS0712", "MR1"),
    ];
    assert_eq!(
        items_of(http, "BN0701"),
        both,
        "each order with its ZDS study"
    );
    // The modalities find each with its own study.
    for (accession, study, modality) in [("ACC0711", STUDY_A, "CT"), ("ACC0712", STUDY_B, "MR")] {
        let r = ris(port, &["mwl", "--accession", accession]);
        assert_eq!(r["matches"].as_array().map(Vec::len), Some(1), "{r}");
        assert_eq!(r["matches"][0]["0020000D"]["Value"][0], study, "{r}");
        assert_eq!(
            r["matches"][0]["00400100"]["Value"][0]["00080060"]["Value"][0], modality,
            "{r}"
        );
    }
    // Sent again (its ACK was lost): still two items, the same.
    let acks = hl7(s.hl7, json!([two]));
    assert_eq!(acks[0]["msa1"], "AA", "{acks:?}");
    assert_eq!(items_of(http, "BN0701"), both, "a resend is no new order");

    // (b) No TQ1: the start in OBR-27.4; OBR-18 and OBR-3 empty, the
    // accession number is ORC-3.
    let acks = hl7(
        s.hl7,
        json!([order(
            "NW",
            "MSG0702",
            json!({
                "patient_id": "BN0702", "placer": "ORD0702", "filler": "F0702",
                "obr_filler": "", "accession": "", "rp_id": "RP0702",
                "sps_id": "SPS0702", "use_tq1": false, "start": "202612031530"
            })
        )]),
    );
    assert_eq!(
        (acks[0]["msa1"].as_str(), acks[0]["msa2"].as_str()),
        (Some("AA"), Some("MSG0702")),
        "{acks:?}"
    );
    let items = get_json(http, "/api/worklist?PatientID=BN0702");
    assert_eq!(items.as_array().map(Vec::len), Some(1), "{items}");
    assert_eq!(
        items[0]["item"]["00080050"]["Value"][0], "F0702",
        "the accession number from ORC-3: {items}"
    );
    let step = &items[0]["item"]["00400100"]["Value"][0];
    assert_eq!(
        step["00400002"]["Value"][0], "20261203",
        "OBR-27.4: {items}"
    );
    assert_eq!(step["00400003"]["Value"][0], "1530", "OBR-27.4: {items}");
    // The modality finds it by that accession number, and by the day and
    // the time OBR-27.4 gave.
    let r = ris(port, &["mwl", "--accession", "F0702"]);
    assert_eq!(r["matches"].as_array().map(Vec::len), Some(1), "{r}");
    let step = &r["matches"][0]["00400100"]["Value"][0];
    assert_eq!(step["00400002"]["Value"][0], "20261203", "{r}");
    assert_eq!(step["00400003"]["Value"][0], "1530", "{r}");
    assert_eq!(step["00400009"]["Value"][0], "SPS0702", "{r}");
    assert_eq!(
        mwl_accessions(port, &["--date", "20261203", "--time", "1500-1600"]),
        ["F0702"]
    );
    assert!(
        mwl_accessions(port, &["--date", "20261203", "--time", "0700-0900"]).is_empty(),
        "not in the morning"
    );

    // (c) ADT^A31 changes the birth date of a patient with a pending item.
    const MAI: &str = "HOÀNG^THỊ MAI";
    let acks = hl7(
        s.hl7,
        json!([order(
            "NW",
            "MSG0703",
            json!({
                "patient_id": "BN0703", "name": MAI, "birth_date": "19900909",
                "sex": "F", "placer": "ORD0703", "filler": "F0703",
                "accession": "ACC0703", "rp_id": "RP0703", "sps_id": "SPS0703"
            })
        )]),
    );
    assert_eq!(acks[0]["msa1"], "AA", "{acks:?}");
    let r = ris(port, &["mwl", "--patient-id", "BN0703"]);
    assert_eq!(
        r["matches"][0]["00100030"]["Value"][0], "19900909",
        "before: {r}"
    );
    let acks = hl7(
        s.hl7,
        json!([{
            "type": "ADT_A31", "control_id": "MSG0704", "sending_app": "RIS",
            "sending_facility": "BVHD", "charset": "UNICODE UTF-8",
            "patient_id": "BN0703", "issuer": "BVHD", "name": MAI,
            "birth_date": "19910919", "sex": "F"
        }]),
    );
    assert_eq!(
        (acks[0]["msa1"].as_str(), acks[0]["msa2"].as_str()),
        (Some("AA"), Some("MSG0704")),
        "{acks:?}"
    );
    let items = get_json(http, "/api/worklist?PatientID=BN0703");
    assert_eq!(items.as_array().map(Vec::len), Some(1), "{items}");
    let item = &items[0];
    assert_eq!(item["item"]["00100030"]["Value"][0], "19910919", "{item}");
    assert_eq!(
        item["item"]["00100010"]["Value"][0]["Alphabetic"], MAI,
        "{item}"
    );
    assert_eq!(item["item"]["00100040"]["Value"][0], "F", "{item}");
    assert_eq!(item["status"], "SCHEDULED", "{item}");
    // What the modality gets: the new birth date.
    let r = ris(port, &["mwl", "--patient-id", "BN0703"]);
    assert_eq!(r["matches"].as_array().map(Vec::len), Some(1), "{r}");
    assert_eq!(r["matches"][0]["00100030"]["Value"][0], "19910919", "{r}");
    assert_eq!(r["matches"][0]["00080050"]["Value"][0], "ACC0703", "{r}");
    // The other patients' items are untouched.
    for patient in ["BN0701", "BN0702"] {
        let items = get_json(http, &format!("/api/worklist?PatientID={patient}"));
        let births: Vec<&str> = items
            .as_array()
            .unwrap_or_else(|| panic!("{items}"))
            .iter()
            .map(|i| i["item"]["00100030"]["Value"][0].as_str().unwrap_or(""))
            .collect();
        assert!(
            !births.is_empty() && births.iter().all(|b| *b == "19800101"),
            "{patient}: {items}"
        );
    }
    // The correction is in the audit trail, with the dates before and
    // after.
    audit_event(
        &s.config,
        &["--patient", "BN0703"],
        "the A31's correction",
        |e| {
            e["action"] == "patient-record"
                && e["detail"].as_str().is_some_and(|d| {
                    d.contains("ADT^A31") && d.contains("19900909") && d.contains("19910919")
                })
        },
    );
}

#[test]
fn hl7_order_variants_sqlite() {
    hl7_order_variants(None);
}

#[test]
fn hl7_order_variants_postgres() {
    let db = ScratchPg::new();
    hl7_order_variants(Some(&db.url));
}

/// A storage commitment request that names one stored instance with
/// another SOP Class than the one it was stored with: the report is of
/// event type 2, that instance in the Failed SOP Sequence with Failure
/// Reason 0119H (Class / Instance conflict) and the class as requested,
/// the others committed. Asked again with the right class, all are.
fn commitment_of_another_sop_class(database_url: Option<&str>) {
    const MR_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.4";
    let s = site(database_url);
    let port = s.server.dicom_port;
    let ct = s.dir.path().join("ct");
    let uids = images(&ct, "1.2.826.0.1.3680043.10.543.720", 3);
    let r = ris(port, &["store", "--dir", ct.to_str().unwrap()]);
    assert_eq!(r["stored"], 3, "{r}");
    let wrong = uids[1].clone();
    let r = ris(
        port,
        &[
            "commit",
            "--dir",
            ct.to_str().unwrap(),
            "--mode",
            "same",
            "--timeout",
            "60",
            "--wrong-class",
            &wrong,
            "--wrong-class-uid",
            MR_IMAGE_STORAGE,
        ],
    );
    assert!(r.get("error").is_none(), "{r}");
    let asked = json!({"uid": wrong.as_str(), "class": MR_IMAGE_STORAGE});
    assert!(
        r["requested"]
            .as_array()
            .is_some_and(|q| q.contains(&asked)),
        "the request named the other class: {r}"
    );
    assert_eq!(
        (r["action_status"].as_u64(), r["event_type"].as_u64()),
        (Some(0), Some(2)),
        "{r}"
    );
    assert_eq!(
        r["failed"],
        json!([{"uid": wrong.as_str(), "reason": 0x0119}]),
        "{r}"
    );
    assert_eq!(r["failed_classes"], json!([MR_IMAGE_STORAGE]), "{r}");
    let mut committed: Vec<String> = r["committed"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"))
        .iter()
        .map(|v| v.as_str().unwrap_or("").to_owned())
        .collect();
    committed.sort();
    let mut others: Vec<String> = uids.iter().filter(|u| **u != wrong).cloned().collect();
    others.sort();
    assert_eq!(committed, others, "{r}");
    // With the class it was stored with, the same instance is committed:
    // only the class was wrong.
    let r = ris(
        port,
        &[
            "commit",
            "--dir",
            ct.to_str().unwrap(),
            "--mode",
            "same",
            "--timeout",
            "60",
        ],
    );
    assert_eq!(
        (r["action_status"].as_u64(), r["event_type"].as_u64()),
        (Some(0), Some(1)),
        "{r}"
    );
    assert_eq!(r["failed"], json!([]), "{r}");
    let mut committed: Vec<String> = r["committed"]
        .as_array()
        .unwrap_or_else(|| panic!("{r}"))
        .iter()
        .map(|v| v.as_str().unwrap_or("").to_owned())
        .collect();
    committed.sort();
    let mut all = uids.clone();
    all.sort();
    assert_eq!(committed, all, "{r}");
}

#[test]
fn commitment_of_another_sop_class_sqlite() {
    commitment_of_another_sop_class(None);
}

#[test]
fn commitment_of_another_sop_class_postgres() {
    let db = ScratchPg::new();
    commitment_of_another_sop_class(Some(&db.url));
}

/// Worklist C-FIND as `aet` calling `called`: the accession numbers found.
fn mwl_as(port: u16, aet: &str, called: &str) -> Vec<String> {
    let out = python()
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/ris_workflow.py"))
        .args([
            "--port",
            &port.to_string(),
            "--aet",
            aet,
            "--called",
            called,
            "mwl",
        ])
        .output()
        .expect("python3");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let r: Value = serde_json::from_str(stdout.lines().last().unwrap_or(""))
        .unwrap_or_else(|e| panic!("{e}: {stdout}{}", String::from_utf8_lossy(&out.stderr)));
    let mut found: Vec<String> = r["matches"]
        .as_array()
        .map(|m| {
            m.iter()
                .map(|m| m["00080050"]["Value"][0].as_str().unwrap_or("").to_owned())
                .collect()
        })
        .unwrap_or_default();
    found.sort();
    found
}

/// A city platform: each hospital's RIS files its orders into its own
/// tenant (`[[hl7.senders]] tenant`), and each hospital's modality finds
/// only its own on the worklist.
fn hl7_senders_file_into_their_tenant(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let hl7_port = free_port();
    let storage = database_url
        .map(|u| format!("[storage]\ndatabase_url = \"{u}\"\n"))
        .unwrap_or_default();
    let config = dir.path().join("filmless.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n{storage}[auth]\nrequired = true\n[dicom]\nunknown_peers = \"reject\"\n\
             [hl7]\nbind = \"127.0.0.1:{hl7_port}\"\n\
             [[hl7.senders]]\napplication = \"RIS1\"\nfacility = \"BV1\"\ntenant = \"h1\"\n\
             [[hl7.senders]]\napplication = \"RIS2\"\nfacility = \"BV2\"\ntenant = \"h2\"\n\
             [[tenants]]\nid = \"h1\"\nname = \"Hospital 1\"\nae_title = \"H1PACS\"\n\
             [[tenants]]\nid = \"h2\"\nname = \"Hospital 2\"\nae_title = \"H2PACS\"\n\
             [[dicom.peers]]\nae_title = \"CT1\"\nhost = \"127.0.0.1\"\nport = 104\ntenant = \"h1\"\n\
             permissions = [\"worklist\"]\n\
             [[dicom.peers]]\nae_title = \"CT2\"\nhost = \"127.0.0.1\"\nport = 104\ntenant = \"h2\"\n\
             permissions = [\"worklist\"]\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let server = ServerProcess::start(dir.path(), &["--config", config.to_str().unwrap()], &[]);
    let acks = hl7(
        hl7_port,
        json!([
            order(
                "NW",
                "MSG9101",
                json!({
                    "sending_app": "RIS1", "sending_facility": "BV1",
                    "accession": "ACC-H1", "placer": "ORD-H1", "patient_id": "P-H1",
                })
            ),
            order(
                "NW",
                "MSG9102",
                json!({
                    "sending_app": "RIS2", "sending_facility": "BV2",
                    "accession": "ACC-H2", "placer": "ORD-H2", "patient_id": "P-H2",
                })
            ),
        ]),
    );
    assert_eq!(acks.len(), 2);
    assert!(acks.iter().all(|a| a["msa1"] == "AA"), "{acks:?}");
    assert_eq!(mwl_as(server.dicom_port, "CT1", "H1PACS"), ["ACC-H1"]);
    assert_eq!(mwl_as(server.dicom_port, "CT2", "H2PACS"), ["ACC-H2"]);
    // The other hospital's archive AE title: nothing of the other's.
    assert!(!mwl_as(server.dicom_port, "CT1", "H2PACS").contains(&"ACC-H2".to_owned()));
}

#[test]
fn hl7_senders_file_into_their_tenant_sqlite() {
    hl7_senders_file_into_their_tenant(None);
}

#[test]
fn hl7_senders_file_into_their_tenant_postgres() {
    let db = ScratchPg::new();
    hl7_senders_file_into_their_tenant(Some(&db.url));
}
