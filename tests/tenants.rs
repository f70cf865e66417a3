//! One deployment, two hospitals: the same Study Instance UID stored by
//! each hospital's modality (with that hospital's patient name), and each
//! hospital sees only its own copy on every path: C-FIND, C-MOVE, C-GET,
//! QIDO-RS, WADO-RS (instances, metadata, frames, rendered, thumbnails,
//! ZIP), STOW-RS, DELETE, the audit trail and `/status`. The platform
//! administrator sees both. On SQLite and on PostgreSQL.

mod common;

use std::path::{Path, PathBuf};

use common::{
    add_user, basic, dcmtk, filmless, free_port, http, storescp, stow_body, write_files, ScratchPg,
    ServerProcess, STOW_TYPE,
};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use filmless_test_data::{Corpus, Instance, Options};

const PASSWORD: &str = "correct-horse";

/// The same instance with another patient name: hospital two's copy.
fn renamed(i: &Instance, name: &str) -> Instance {
    let mut obj = dicom_object::from_reader(&i.bytes[128..]).unwrap();
    obj.put(DataElement::new(
        tags::PATIENT_NAME,
        VR::PN,
        PrimitiveValue::from(name),
    ));
    let mut bytes = Vec::new();
    obj.write_all(&mut bytes).unwrap();
    Instance { bytes, ..i.clone() }
}

fn config(dir: &Path, database_url: Option<&str>, ws: [u16; 2]) -> PathBuf {
    let storage = database_url
        .map(|u| format!("[storage]\ndatabase_url = \"{u}\"\n"))
        .unwrap_or_default();
    let mut text = format!(
        "data_dir = \"{}\"\n{storage}[auth]\nrequired = true\n[dicom]\nunknown_peers = \"reject\"\n",
        dir.display()
    );
    for (k, (tenant, port)) in [("h1", ws[0]), ("h2", ws[1])].iter().enumerate() {
        let n = k + 1;
        text.push_str(&format!(
            "[[dicom.peers]]\nae_title = \"CT{n}\"\nhost = \"127.0.0.1\"\nport = 104\ntenant = \"{tenant}\"\npermissions = [\"store\"]\n\
             [[dicom.peers]]\nae_title = \"RIS{n}\"\nhost = \"127.0.0.1\"\nport = 104\ntenant = \"{tenant}\"\n\
             [[dicom.peers]]\nae_title = \"WS{n}\"\nhost = \"127.0.0.1\"\nport = {port}\ntenant = \"{tenant}\"\npermissions = []\n\
             [[tenants]]\nid = \"{tenant}\"\nname = \"Hospital {n}\"\nae_title = \"H{n}PACS\"\n"
        ));
    }
    let path = dir.join("filmless.toml");
    std::fs::write(&path, text).unwrap();
    path
}

/// A DCMTK tool as `calling`, calling `called`: options, then the peer,
/// then `files`.
fn dimse(
    tool: &str,
    calling: &str,
    called: &str,
    port: u16,
    args: &[&str],
    files: &[&str],
) -> String {
    let out = dcmtk(tool)
        .args(["-aet", calling, "-aec", called])
        .args(args)
        .args(["127.0.0.1", &port.to_string()])
        .args(files)
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{tool} as {calling}: {all}");
    all
}

/// The patient names in a folder of received files.
fn names_in(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let obj = dicom_object::open_file(e.unwrap().path()).unwrap();
            obj.element(tags::PATIENT_NAME)
                .unwrap()
                .to_str()
                .unwrap()
                .trim()
                .to_owned()
        })
        .collect();
    out.sort();
    out.dedup();
    out
}

fn two_hospitals(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let ws = [free_port(), free_port()];
    let config = config(dir.path(), database_url, ws);
    add_user(&config, "user1", "admin", Some("h1"), PASSWORD);
    add_user(&config, "user2", "admin", Some("h2"), PASSWORD);
    add_user(&config, "operator", "platform-admin", None, PASSWORD);
    add_user(
        &config,
        "operator-h1",
        "platform-admin",
        Some("h1"),
        PASSWORD,
    );
    let mut server = ServerProcess::start(dir.path(), &["--config", config.to_str().unwrap()], &[]);
    let port = server.dicom_port;
    let corpus = Corpus::new(7, Options::small(3));
    let plan = corpus.study(0);
    let study = plan.study_instance_uid.clone();
    let one: Vec<Instance> = corpus.instances(&plan).collect();
    let two: Vec<Instance> = one.iter().map(|i| renamed(i, "HOSPITAL^TWO")).collect();
    let name_one = plan.patient.name.clone();
    let copies = [&one, &two];
    let names = [name_one.as_str(), "HOSPITAL^TWO"];
    let users = [basic("user1", PASSWORD), basic("user2", PASSWORD)];
    // A hospital's administrator changes, disables and removes no platform
    // administrator, not even one placed in its tenant.
    for (method, body) in [("PATCH", r#"{"disabled": true}"#), ("DELETE", "")] {
        let (status, _, _) = http(
            &server.http,
            method,
            "/api/users/operator-h1",
            &[
                ("Authorization", &users[0]),
                ("Content-Type", "application/json"),
            ],
            body.as_bytes(),
        );
        assert_eq!(status, 403, "{method}");
    }
    let (status, _, _) = http(
        &server.http,
        "POST",
        "/api/users",
        &[
            ("Authorization", &users[0]),
            ("Content-Type", "application/json"),
        ],
        br#"{"name": "operator-h1", "roles": ["viewer"], "password": ""}"#,
    );
    assert_eq!(status, 403, "stripping its role");
    assert_eq!(
        http(
            &server.http,
            "GET",
            "/dicom-web/studies",
            &[("Authorization", &basic("operator-h1", PASSWORD))],
            b""
        )
        .0,
        200
    );
    for (k, files) in copies.iter().enumerate() {
        let paths = write_files(&dir.path().join(format!("in{k}")), files);
        let paths: Vec<&str> = paths.iter().map(|p| p.to_str().unwrap()).collect();
        let n = k + 1;
        dimse(
            "storescu",
            &format!("CT{n}"),
            &format!("H{n}PACS"),
            port,
            &[],
            &paths,
        );
    }
    let get = |k: usize, path: &str, extra: &[(&str, &str)]| {
        let mut headers = vec![("Authorization", users[k].as_str())];
        headers.extend_from_slice(extra);
        http(&server.http, "GET", path, &headers, b"")
    };
    let base = format!("/dicom-web/studies/{study}");
    let instance_path = |i: &Instance| {
        format!(
            "{base}/series/{}/instances/{}",
            i.series_instance_uid, i.sop_instance_uid
        )
    };

    for k in 0..2 {
        let (own, other) = (names[k], names[1 - k]);
        let n = k + 1;
        let see = |what: &str, body: &[u8]| {
            let text = String::from_utf8_lossy(body);
            assert!(text.contains(own), "hospital {n}, {what}: {text}");
            assert!(!text.contains(other), "hospital {n}, {what}: {text}");
        };
        // QIDO-RS: one study with this UID, this hospital's patient.
        let (status, _, body) = get(
            k,
            &format!("/dicom-web/studies?StudyInstanceUID={study}"),
            &[],
        );
        assert_eq!(status, 200);
        let found: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(found.as_array().unwrap().len(), 1, "hospital {n}");
        see("QIDO-RS", &body);
        // WADO-RS: the instance as this hospital stored it (the copies
        // differ only in the patient's name).
        let mine = copies[k];
        let (status, _, body) = get(
            k,
            &instance_path(&mine[0]),
            &[(
                "Accept",
                "multipart/related; type=\"application/dicom\"; transfer-syntax=*",
            )],
        );
        assert_eq!(status, 200);
        see("WADO-RS instance", &body);
        // Metadata, frames, rendered images, thumbnails.
        let (status, _, body) = get(k, &format!("{base}/metadata"), &[]);
        assert_eq!(status, 200);
        see("metadata", &body);
        for suffix in ["/frames/1", "/rendered", "/thumbnail"] {
            let (status, _, _) = get(k, &format!("{}{suffix}", instance_path(&mine[0])), &[]);
            assert_eq!(status, 200, "hospital {n} {suffix}");
        }
        assert_eq!(get(k, &format!("{base}/thumbnail"), &[]).0, 200);
        // The study as a ZIP: this hospital's files.
        let (status, _, zip) = get(k, &format!("{base}?accept=application/zip"), &[]);
        assert_eq!(status, 200);
        let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
        assert_eq!(archive.len(), mine.len());
        for i in 0..archive.len() {
            let mut f = archive.by_index(i).unwrap();
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut f, &mut bytes).unwrap();
            see("ZIP entry", &bytes);
        }
        // /status: one study each.
        let (_, _, body) = get(k, "/status", &[]);
        let page = String::from_utf8_lossy(&body);
        assert!(
            page.contains("<th>studies</th><td>1</td>") && page.contains(&format!("Hospital {n}")),
            "{page}"
        );
        // C-FIND through each hospital's own AE title: its own patient only.
        let found = dimse(
            "findscu",
            &format!("RIS{n}"),
            &format!("H{n}PACS"),
            port,
            &[
                "-v",
                "-S",
                "-k",
                "QueryRetrieveLevel=STUDY",
                "-k",
                &format!("StudyInstanceUID={study}"),
                "-k",
                "PatientName",
            ],
            &[],
        );
        assert!(found.contains(own) && !found.contains(other), "{found}");
        // C-GET and C-MOVE bring this hospital's copies.
        let got = dir.path().join(format!("got{n}"));
        std::fs::create_dir_all(&got).unwrap();
        dimse(
            "getscu",
            &format!("RIS{n}"),
            &format!("H{n}PACS"),
            port,
            &[
                "-S",
                "-od",
                got.to_str().unwrap(),
                "-k",
                "QueryRetrieveLevel=STUDY",
                "-k",
                &format!("StudyInstanceUID={study}"),
            ],
            &[],
        );
        assert_eq!(names_in(&got), vec![own.to_owned()]);
        let moved = dir.path().join(format!("moved{n}"));
        let _ws = storescp(&format!("WS{n}"), ws[k], &moved);
        dimse(
            "movescu",
            &format!("RIS{n}"),
            &format!("H{n}PACS"),
            port,
            &[
                "-S",
                "-aem",
                &format!("WS{n}"),
                "-k",
                "QueryRetrieveLevel=STUDY",
                "-k",
                &format!("StudyInstanceUID={study}"),
            ],
            &[],
        );
        assert_eq!(names_in(&moved), vec![own.to_owned()]);
        // A C-MOVE to the other hospital's workstation is refused.
        let out = dcmtk("movescu")
            .args(["-aet", &format!("RIS{n}"), "-aec", &format!("H{n}PACS")])
            .args(["-S", "-aem", &format!("WS{}", 2 - k)])
            .args(["-k", "QueryRetrieveLevel=STUDY"])
            .args(["-k", &format!("StudyInstanceUID={study}")])
            .args(["127.0.0.1", &port.to_string()])
            .output()
            .unwrap();
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            all.contains("MoveDestinationUnknown") || all.contains("a801"),
            "{all}"
        );
    }

    // The platform administrator sees both copies, and one with the header.
    let operator = basic("operator", PASSWORD);
    let q = format!("/dicom-web/studies?StudyInstanceUID={study}");
    let (_, _, body) = http(
        &server.http,
        "GET",
        &q,
        &[("Authorization", &operator)],
        b"",
    );
    let all: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(all.as_array().unwrap().len(), 2, "{all}");
    let (_, _, body) = http(
        &server.http,
        "GET",
        &q,
        &[("Authorization", &operator), ("X-Filmless-Tenant", "h2")],
        b"",
    );
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("HOSPITAL^TWO") && !text.contains(name_one.as_str()),
        "{text}"
    );

    // STOW-RS into hospital one: hospital two does not see it.
    let extra = corpus.instances(&corpus.study(1)).next().unwrap();
    let (status, _, _) = http(
        &server.http,
        "POST",
        "/dicom-web/studies",
        &[("Authorization", &users[0]), ("Content-Type", STOW_TYPE)],
        &stow_body(&extra.bytes),
    );
    assert_eq!(status, 200);
    let (_, _, body) = get(1, "/dicom-web/studies", &[]);
    let seen: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        seen.as_array().unwrap().len(),
        1,
        "hospital two: its one study"
    );

    // DELETE in hospital one leaves hospital two's copy whole.
    let (status, _, _) = http(
        &server.http,
        "DELETE",
        &base,
        &[("Authorization", &users[0])],
        b"",
    );
    assert_eq!(status, 204);
    assert_eq!(get(0, &base, &[]).0, 404);
    let (status, _, body) = get(
        1,
        &instance_path(&two[0]),
        &[(
            "Accept",
            "multipart/related; type=\"application/dicom\"; transfer-syntax=*",
        )],
    );
    assert_eq!(status, 200);
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("HOSPITAL^TWO"),
        "hospital two's copy is whole"
    );

    // The audit trail, per tenant: every row is that tenant's. (Stopping
    // writes the last second's events.)
    assert!(server
        .terminate(std::time::Duration::from_secs(30))
        .success());
    for (tenant, user) in [("h1", "user1"), ("h2", "user2")] {
        let out = filmless()
            .args(["audit", "--format", "jsonl", "--tenant", tenant, "--config"])
            .arg(&config)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert!(!events.is_empty());
        assert!(events.iter().all(|e| e["tenant"] == tenant), "{events:#?}");
        assert!(events
            .iter()
            .any(|e| e["actor"] == user && e["action"] == "wado-rs"));
        assert!(events.iter().any(|e| e["action"] == "c-get"));
    }
    // The platform administrator's searches are audited as such, in each
    // tenant whose study they saw.
    let out = filmless()
        .args([
            "audit", "--format", "jsonl", "--actor", "operator", "--config",
        ])
        .arg(&config)
        .output()
        .unwrap();
    let events: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let tenants: std::collections::BTreeSet<&str> = events
        .iter()
        .filter(|e| e["action"] == "qido-rs")
        .map(|e| e["tenant"].as_str().unwrap())
        .collect();
    assert_eq!(tenants, ["h1", "h2"].into(), "{events:#?}");
    assert!(events.iter().all(|e| e["detail"]
        .as_str()
        .unwrap()
        .starts_with("as platform administrator")));
    assert!(
        events.iter().any(|e| e["detail"]
            .as_str()
            .unwrap()
            .starts_with("as platform administrator, within tenant h2")),
        "the narrowed request has its own row: {events:#?}"
    );
}

#[test]
fn two_hospitals_never_see_each_other_sqlite() {
    two_hospitals(None);
}

#[test]
fn two_hospitals_never_see_each_other_postgres() {
    let db = ScratchPg::new();
    two_hospitals(Some(&db.url));
}
