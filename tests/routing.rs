//! Routing with Orthanc (Debian's `orthanc`, with its DICOMweb plugin) as
//! the other archive, in both directions: rules forward what modalities
//! send (C-STORE per instance, STOW-RS once a study is stable), through an
//! outage of Orthanc and a restart of Filmless; `filmless send --to`,
//! `filmless query` and `filmless retrieve` by hand; prefetch of a
//! returning patient's priors; `/api/jobs`. On SQLite and PostgreSQL.
//! Two nodes on one PostgreSQL run each of 200 jobs exactly once.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{dcmtk, filmless, free_port, http, ScratchPg, ServerProcess};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use serde_json::Value;

/// Orthanc's REST and DICOMweb user (HTTP Basic): Filmless's DICOMweb
/// peer entry must send it.
const ORTHANC_USER: (&str, &str) = ("filmless", "s3cret-route");

/// Orthanc on loopback with its own folder; killed when dropped.
struct Orthanc {
    child: std::process::Child,
    http: String,
}

impl Orthanc {
    /// Start Orthanc (AE `ORTHANC`) on `dicom_port`/`http_port`, knowing
    /// Filmless as `FILMLESS` at `filmless_port` (its C-MOVE destination).
    fn start(dir: &Path, dicom_port: u16, http_port: u16, filmless_port: u16) -> Self {
        assert!(
            Path::new("/usr/sbin/Orthanc").exists(),
            "install Debian's orthanc and orthanc-dicomweb (scripts/setup-test-deps does)"
        );
        std::fs::create_dir_all(dir).unwrap();
        let config = serde_json::json!({
            "Name": "routing-test",
            "StorageDirectory": dir.join("storage"),
            "IndexDirectory": dir.join("index"),
            "DicomAet": "ORTHANC", "DicomPort": dicom_port, "HttpPort": http_port,
            "RemoteAccessAllowed": false, "AuthenticationEnabled": true,
            "RegisteredUsers": { ORTHANC_USER.0: ORTHANC_USER.1 },
            "DicomCheckCalledAet": false, "UnknownSopClassAccepted": true,
            "DicomModalities": { "filmless": ["FILMLESS", "127.0.0.1", filmless_port] },
            "DicomAlwaysAllowFind": true, "DicomAlwaysAllowMove": true,
            "DicomAlwaysAllowStore": true,
            "Plugins": ["/usr/share/orthanc/plugins/libOrthancDicomWeb.so"],
            "DicomWeb": { "Enable": true, "Root": "/dicom-web/" },
            "StorageCompression": false, "DicomScpTimeout": 30,
        });
        let path = dir.join("orthanc.json");
        std::fs::write(&path, config.to_string()).unwrap();
        let child = Command::new("timeout")
            .args(["900", "/usr/sbin/Orthanc"])
            .arg(&path)
            .current_dir(dir)
            .env("TCP_NODELAY", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start Orthanc");
        let o = Orthanc {
            child,
            http: format!("127.0.0.1:{http_port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if std::net::TcpStream::connect(&o.http).is_ok()
                && o.request("GET", "/system", &[], b"").0 == 200
            {
                break;
            }
            assert!(Instant::now() < deadline, "Orthanc did not start");
            std::thread::sleep(Duration::from_millis(200));
        }
        o
    }

    /// A REST request with Orthanc's credentials.
    fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, Vec<(String, String)>, Vec<u8>) {
        let auth = common::basic(ORTHANC_USER.0, ORTHANC_USER.1);
        let mut all = vec![("Authorization", auth.as_str())];
        all.extend_from_slice(headers);
        http(&self.http, method, path, &all, body)
    }

    fn get(&self, path: &str) -> Value {
        let (status, _, body) = self.request("GET", path, &[], b"");
        assert_eq!(status, 200, "Orthanc {path}");
        serde_json::from_slice(&body).unwrap()
    }

    /// The SOP Instance UIDs Orthanc holds, each as often as it holds it.
    fn sop_uids(&self) -> Vec<String> {
        let ids = self.get("/instances");
        let mut out: Vec<String> = ids
            .as_array()
            .unwrap()
            .iter()
            .map(|id| {
                self.get(&format!("/instances/{}", id.as_str().unwrap()))["MainDicomTags"]
                    ["SOPInstanceUID"]
                    .as_str()
                    .unwrap()
                    .to_owned()
            })
            .collect();
        out.sort();
        out
    }

    /// Upload files straight into Orthanc (REST).
    fn upload(&self, files: &[PathBuf]) {
        for f in files {
            let (status, _, body) = self.request(
                "POST",
                "/instances",
                &[("Content-Type", "application/dicom")],
                &std::fs::read(f).unwrap(),
            );
            assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
        }
    }
}

impl Drop for Orthanc {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

/// `n` instances of a new study of `patient` in `modality`, written to
/// `dir`; their SOP Instance UIDs.
fn study_files(
    dir: &Path,
    seed: u64,
    patient: &str,
    modality: &str,
    date: &str,
    n: u32,
) -> (String, Vec<PathBuf>, Vec<String>) {
    let (plan, instances) = filmless_test_data::ct_series_sized(seed, n, (16, 16));
    std::fs::create_dir_all(dir).unwrap();
    let mut files = Vec::new();
    let mut uids = Vec::new();
    for (k, i) in instances.iter().enumerate() {
        let mut obj = dicom_object::from_reader(&i.bytes[128..]).unwrap();
        for (tag, vr, v) in [
            (tags::PATIENT_ID, VR::LO, patient),
            (tags::PATIENT_NAME, VR::PN, "TRẦN^VĂN BA"),
            (tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192"),
            (tags::MODALITY, VR::CS, modality),
            (tags::STUDY_DATE, VR::DA, date),
        ] {
            obj.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
        }
        let path = dir.join(format!("{seed}-{k:03}.dcm"));
        obj.write_to_file(&path).unwrap();
        files.push(path);
        uids.push(i.sop_instance_uid.clone());
    }
    uids.sort();
    (plan.study_instance_uid.clone(), files, uids)
}

/// DCMTK storescu as a modality (`aet`) sending to Filmless.
fn modality_sends(aet: &str, port: u16, files: &[PathBuf]) {
    let out = dcmtk("storescu")
        .args([
            "-aet",
            aet,
            "-aec",
            "FILMLESS",
            "127.0.0.1",
            &port.to_string(),
        ])
        .args(files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "storescu: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Wait until `check` holds (polled every 250 ms), or panic with `what`.
fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> Option<String>) {
    let deadline = Instant::now() + within;
    let mut last = String::new();
    while Instant::now() < deadline {
        match check() {
            None => return,
            Some(why) => last = why,
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    panic!("{what}: {last}");
}

fn jobs(server: &ServerProcess) -> Vec<Value> {
    let (status, _, body) = http(&server.http, "GET", "/api/jobs?limit=1000", &[], b"");
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    serde_json::from_slice::<Value>(&body)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn config(
    dir: &Path,
    database_url: Option<&str>,
    orthanc_dicom: u16,
    orthanc_http: u16,
) -> PathBuf {
    let storage = database_url
        .map(|u| format!("[storage]\ndatabase_url = \"{u}\"\n"))
        .unwrap_or_default();
    let text = format!(
        "data_dir = \"{}\"\n{storage}\
         [[dicom.peers]]\nae_title = \"ORTHANC\"\nhost = \"127.0.0.1\"\nport = {orthanc_dicom}\n\
         [[dicom.peers]]\nae_title = \"ORTHANCGET\"\nhost = \"127.0.0.1\"\nport = {orthanc_dicom}\n\
         retrieve = \"get\"\n\
         [[dicomweb.peers]]\nname = \"ORTHANC-WEB\"\nurl = \"http://127.0.0.1:{orthanc_http}/dicom-web\"\n\
         auth = \"basic\"\nuser = \"{}\"\npassword = \"{}\"\nbatch = 1\n\
         [[routing.rules]]\nname = \"ct-to-orthanc\"\nmodality = [\"CT\"]\ncalling_ae = [\"CT*\"]\n\
         to = [\"ORTHANC\"]\n\
         [[routing.rules]]\nname = \"mr-by-stow\"\nmodality = [\"MR\"]\non = \"study-stable\"\n\
         stable_secs = 2\nto = [\"ORTHANC-WEB\"]\n\
         [[routing.prefetch]]\nfrom = [\"ORTHANC\"]\nwhen_modality = [\"DX\"]\nmodality = [\"DX\", \"CR\"]\n\
         max_studies = 2\n",
        dir.display(),
        ORTHANC_USER.0,
        ORTHANC_USER.1
    );
    let path = dir.join("filmless.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn routes_to_and_from_orthanc(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let (od, oh) = (free_port(), free_port());
    let config = config(dir.path(), database_url, od, oh);
    let args = ["--config", config.to_str().unwrap()];
    let mut server = ServerProcess::start(dir.path(), &args, &[]);

    // 1. Orthanc is down: a CT arrives, its forward job waits and retries.
    let (ct_study, ct_files, ct_uids) =
        study_files(&dir.path().join("ct"), 301, "BN0301", "CT", "20261201", 3);
    modality_sends("CT01", server.dicom_port, &ct_files);
    eventually(Duration::from_secs(30), "a failed attempt", || {
        let j = jobs(&server);
        let forward: Vec<&Value> = j.iter().filter(|j| j["kind"] == "forward").collect();
        match forward.first() {
            Some(f) if f["attempts"].as_i64() >= Some(1) && f["last_error"] != "" => {
                assert_eq!(f["peer"], "ORTHANC", "{f}");
                assert_eq!(f["study"], ct_study.as_str(), "{f}");
                None
            }
            _ => Some(format!("{j:?}")),
        }
    });
    // A CR from the same modality matches no rule.
    let (_, cr_files, _) = study_files(&dir.path().join("cr"), 302, "BN0302", "CR", "20261201", 1);
    modality_sends("CT01", server.dicom_port, &cr_files);
    // 2. Filmless restarts meanwhile; Orthanc comes back; the job resumes.
    assert!(server.terminate(Duration::from_secs(30)).success());
    let server = ServerProcess::start(dir.path(), &args, &[]);
    let orthanc = Orthanc::start(&dir.path().join("orthanc"), od, oh, server.dicom_port);
    eventually(Duration::from_secs(90), "the CT in Orthanc", || {
        let got = orthanc.sop_uids();
        (got != ct_uids).then(|| format!("{got:?}"))
    });
    // The instances arrived together: one job (or a few), all done, every
    // instance counted, after retries.
    eventually(Duration::from_secs(30), "the jobs done", || {
        let j = jobs(&server);
        let open = j
            .iter()
            .filter(|j| j["kind"] == "forward" && j["state"] != "done")
            .count();
        (open > 0).then(|| format!("{j:?}"))
    });
    let forward: Vec<Value> = jobs(&server)
        .into_iter()
        .filter(|j| j["kind"] == "forward")
        .collect();
    let sum = |k: &str| forward.iter().map(|j| j[k].as_i64().unwrap()).sum::<i64>();
    assert_eq!((sum("done"), sum("total")), (3, 3), "{forward:?}");
    assert!(forward.len() <= 3, "{forward:?}");
    assert!(
        forward.iter().any(|f| f["attempts"].as_i64().unwrap() >= 2),
        "retried: {forward:?}"
    );

    // 3. An MR goes once the study is stable, by STOW-RS.
    let (_, mr_files, mr_uids) =
        study_files(&dir.path().join("mr"), 303, "BN0303", "MR", "20261201", 2);
    modality_sends("MR01", server.dicom_port, &mr_files[..1]);
    modality_sends("MR01", server.dicom_port, &mr_files[1..]);
    eventually(Duration::from_secs(60), "the MR in Orthanc", || {
        let got = orthanc.sop_uids();
        (!mr_uids.iter().all(|u| got.contains(u))).then(|| format!("{got:?}"))
    });
    let stable: Vec<Value> = jobs(&server)
        .into_iter()
        .filter(|j| j["peer"] == "ORTHANC-WEB")
        .collect();
    assert_eq!(stable.len(), 1, "one job for the whole study: {stable:?}");
    let mut want = ct_uids.clone();
    want.extend(mr_uids.iter().cloned());
    want.sort();
    assert_eq!(orthanc.sop_uids(), want, "each instance once; no CR");

    // 4. By hand: query Orthanc, pull a study from it, send one to it.
    let (old_study, old_files, old_uids) =
        study_files(&dir.path().join("old"), 304, "BN0304", "CT", "20200101", 2);
    orthanc.upload(&old_files);
    let out = filmless()
        .args(["query", "--config", config.to_str().unwrap()])
        .args(["--peer", "ORTHANC", "--json", "PatientID=BN0304"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let found: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        found[0]["0020000D"]["Value"][0],
        old_study.as_str(),
        "{found}"
    );
    let out = filmless()
        .args(["retrieve", "--config", config.to_str().unwrap()])
        .args(["--peer", "ORTHANC", "--study", &old_study, "--wait"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains(": done (2/2)"), "{said}");
    let (status, _, body) = http(
        &server.http,
        "GET",
        &format!("/dicom-web/studies/{old_study}/metadata"),
        &[],
        b"",
    );
    assert_eq!(status, 200);
    let meta: Value = serde_json::from_slice(&body).unwrap();
    let mut got: Vec<&str> = meta
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["00080018"]["Value"][0].as_str().unwrap())
        .collect();
    got.sort();
    assert_eq!(got, old_uids, "pulled from Orthanc");
    // A migration's list run again queues only what is not done.
    let list = dir.path().join("migrate.txt");
    std::fs::write(&list, format!("# from the old PACS\n{old_study}\n")).unwrap();
    let out = filmless()
        .args(["retrieve", "--config", config.to_str().unwrap()])
        .args(["--peer", "ORTHANC", "--studies"])
        .arg(&list)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("queued or done already"), "{said}");
    // The same by C-GET, from a peer configured for it.
    let (get_study, get_files, _) =
        study_files(&dir.path().join("get"), 310, "BN0310", "MR", "20210101", 2);
    orthanc.upload(&get_files);
    let out = filmless()
        .args(["retrieve", "--config", config.to_str().unwrap()])
        .args(["--peer", "ORTHANCGET", "--study", &get_study, "--wait"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains(": done (2/2)"), "by C-GET: {said}");
    let (cr_study, _, _) = study_files(&dir.path().join("cr2"), 302, "BN0302", "CR", "20261201", 1);
    let (status, _, body) = http(
        &server.http,
        "POST",
        &format!("/api/studies/{cr_study}/send"),
        &[("Content-Type", "application/json")],
        br#"{"to": "ORTHANC"}"#,
    );
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    let job = serde_json::from_slice::<Value>(&body).unwrap()["job"]
        .as_i64()
        .unwrap();
    eventually(Duration::from_secs(30), "the manual send", || {
        let j = jobs(&server);
        let f = j.iter().find(|j| j["id"] == job).unwrap();
        (f["state"] != "done").then(|| f.to_string())
    });
    let (status, _, _) = http(
        &server.http,
        "POST",
        "/api/studies/1.2.3/send",
        &[("Content-Type", "application/json")],
        br#"{"to": "NOWHERE"}"#,
    );
    assert_eq!(status, 404, "an unknown study");

    // 5. Prefetch: a returning patient's new DX brings the priors.
    let (prior1, p1_files, _) =
        study_files(&dir.path().join("p1"), 305, "BN0305", "DX", "20240101", 1);
    let (prior2, p2_files, _) =
        study_files(&dir.path().join("p2"), 306, "BN0305", "DX", "20250101", 1);
    let (prior0, p0_files, _) =
        study_files(&dir.path().join("p0"), 307, "BN0305", "DX", "20190101", 1);
    // The newest prior is an ultrasound: not a modality the rule fetches,
    // and it does not take a place among the two.
    let (prior_us, pus_files, _) =
        study_files(&dir.path().join("pus"), 310, "BN0305", "US", "20260601", 1);
    orthanc.upload(&p1_files);
    orthanc.upload(&p2_files);
    orthanc.upload(&p0_files);
    orthanc.upload(&pus_files);
    let (new_study, new_files, _) =
        study_files(&dir.path().join("new"), 308, "BN0305", "DX", "20261202", 1);
    modality_sends("DX01", server.dicom_port, &new_files);
    eventually(
        Duration::from_secs(60),
        "the two newest priors here",
        || {
            let (_, _, body) = http(
                &server.http,
                "GET",
                "/dicom-web/studies?PatientID=BN0305",
                &[],
                b"",
            );
            let studies: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let mut got: Vec<String> = studies
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|s| s["0020000D"]["Value"][0].as_str().unwrap_or("").to_owned())
                        .collect()
                })
                .unwrap_or_default();
            got.sort();
            let mut want = vec![new_study.clone(), prior1.clone(), prior2.clone()];
            want.sort();
            (got != want).then(|| format!("{got:?}"))
        },
    );
    let _ = (prior0, prior_us);
    // An order for a returning patient fetches the priors before the
    // exam.
    let (prior3, p3_files, _) =
        study_files(&dir.path().join("p3"), 309, "BN0309", "DX", "20230101", 1);
    orthanc.upload(&p3_files);
    let out = filmless()
        .args(["worklist", "--config", config.to_str().unwrap(), "add"])
        .args([
            "--patient-id",
            "BN0309",
            "--name",
            "LÝ^THỊ TƯ",
            "--accession",
            "A309",
        ])
        .args([
            "--modality",
            "DX",
            "--station",
            "DX01",
            "--start",
            "202612031000",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eventually(Duration::from_secs(60), "the order's prior here", || {
        let (_, _, body) = http(
            &server.http,
            "GET",
            "/dicom-web/studies?PatientID=BN0309",
            &[],
            b"",
        );
        let studies: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        (studies[0]["0020000D"]["Value"][0] != prior3.as_str()).then(|| studies.to_string())
    });

    // 6. jobs list from the command line.
    let out = filmless()
        .args(["jobs", "--config", config.to_str().unwrap(), "list"])
        .output()
        .unwrap();
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        table.contains("forward") && table.contains("retrieve") && table.contains("prefetch"),
        "{table}"
    );
}

#[test]
fn routes_to_and_from_orthanc_sqlite() {
    routes_to_and_from_orthanc(None);
}

#[test]
fn routes_to_and_from_orthanc_postgres() {
    let db = ScratchPg::new();
    routes_to_and_from_orthanc(Some(&db.url));
}

/// Two nodes on one PostgreSQL and one object store share 200 queued
/// jobs: each runs exactly once (the peer receives each instance once).
#[test]
fn two_nodes_run_each_job_once() {
    let db = ScratchPg::new();
    let dir = tempfile::tempdir().unwrap();
    let peer_port = free_port();
    let received = dir.path().join("received.txt");
    let text = format!(
        "data_dir = \"{dir}\"\n[storage]\ndatabase_url = \"{}\"\n\
         object_store_url = \"file://{dir}/objects\"\n\
         [[dicom.peers]]\nae_title = \"COUNTER\"\nhost = \"127.0.0.1\"\nport = {peer_port}\n\
         [[routing.rules]]\nname = \"everything\"\nto = [\"COUNTER\"]\n",
        db.url,
        dir = dir.path().display(),
    );
    let config = dir.path().join("filmless.toml");
    std::fs::write(&config, text).unwrap();
    // 200 studies of one instance each, imported: the rule makes a job
    // each (an import routes as a C-STORE does).
    let files_dir = dir.path().join("files");
    let mut studies = Vec::new();
    for n in 0..200u64 {
        let (study, _, _) =
            study_files(&files_dir, 1000 + n, &format!("P{n}"), "CT", "20261201", 1);
        studies.push(study);
    }
    let out = filmless()
        .args(["import", "--config", config.to_str().unwrap()])
        .arg(&files_dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = filmless()
        .args(["jobs", "--config", config.to_str().unwrap()])
        .args(["list", "--json", "--limit", "1000"])
        .output()
        .unwrap();
    let queued: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut queued_studies: Vec<&str> = queued
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["study"].as_str().unwrap())
        .collect();
    queued_studies.sort();
    let mut want: Vec<&str> = studies.iter().map(String::as_str).collect();
    want.sort();
    assert_eq!(queued_studies, want, "one job per imported study");
    // The peer counts what it receives.
    let counter = common::python()
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/store_counter.py"))
        .args(["--port", &peer_port.to_string(), "--out"])
        .arg(&received)
        .args(["--count", "200", "--timeout", "240"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let a = ServerProcess::start(&dir.path().join("a"), &args, &[]);
    let b = ServerProcess::start(&dir.path().join("b"), &args, &[]);
    let out = counter.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    eventually(Duration::from_secs(60), "every job done", || {
        let j = jobs(&a);
        let open = j.iter().filter(|j| j["state"] != "done").count();
        (j.len() != 200 || open > 0).then(|| format!("{} jobs, {open} not done", j.len()))
    });
    std::thread::sleep(Duration::from_secs(2));
    let lines = std::fs::read_to_string(&received).unwrap();
    let mut uids: Vec<&str> = lines.lines().collect();
    let n = uids.len();
    uids.sort();
    uids.dedup();
    assert_eq!((n, uids.len()), (200, 200), "each instance once");
    let ran_a = a.logged("routing job done");
    let ran_b = b.logged("routing job done");
    assert!(ran_a && ran_b, "both nodes took jobs ({ran_a}, {ran_b})");
}

/// A peer that refuses an instance for good (0122H, SOP class not
/// supported): the job does not retry; it ends failed at its first
/// attempt, saying which and why, with the rest sent.
/// Then a person looks at it, queues it again and cancels it
/// (`filmless jobs show|retry|cancel`), and sends one study by its UID.
fn a_permanent_refusal_fails_the_job_at_once(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let peer_port = free_port();
    let storage = database_url
        .map(|u| format!("[storage]\ndatabase_url = \"{u}\"\n"))
        .unwrap_or_default();
    let text = format!(
        "data_dir = \"{}\"\n{storage}[[dicom.peers]]\nae_title = \"COUNTER\"\nhost = \"127.0.0.1\"\n\
         port = {peer_port}\n",
        dir.path().display()
    );
    let config = dir.path().join("filmless.toml");
    std::fs::write(&config, text).unwrap();
    let (study, files, uids) =
        study_files(&dir.path().join("f"), 401, "BN0401", "CT", "20261201", 2);
    let out = filmless()
        .args(["import", "--config", config.to_str().unwrap()])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let received = dir.path().join("received.txt");
    let counter = common::python()
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/store_counter.py"))
        .args(["--port", &peer_port.to_string(), "--out"])
        .arg(&received)
        .args(["--count", "2", "--timeout", "60", "--refuse", &uids[0]])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let list = dir.path().join("studies.txt");
    std::fs::write(&list, format!("{study}\n")).unwrap();
    let out = filmless()
        .args(["send", "--config", config.to_str().unwrap(), "--studies"])
        .arg(&list)
        .args(["--to", "COUNTER", "--wait"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{said}");
    assert!(said.contains(": failed (2/2)"), "{said}");
    assert!(said.contains(&uids[0]) && said.contains("0122"), "{said}");
    let _ = counter.wait_with_output().unwrap();
    assert_eq!(
        std::fs::read_to_string(&received).unwrap().trim(),
        uids[1],
        "the other instance went"
    );
    let out = filmless()
        .args([
            "jobs",
            "--config",
            config.to_str().unwrap(),
            "list",
            "--json",
        ])
        .output()
        .unwrap();
    let jobs: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(jobs[0]["attempts"], 1, "not retried: {jobs}");
    assert_eq!(jobs[0]["state"], "failed", "{jobs}");
    let id = jobs[0]["id"].as_i64().unwrap().to_string();
    let cli = |args: &[&str]| {
        let out = filmless()
            .args(["jobs", "--config", config.to_str().unwrap()])
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // What a person sees of it: the peer, the progress and the reason.
    let shown: Value = serde_json::from_str(&cli(&["show", &id])).unwrap();
    assert_eq!(shown["peer"], "COUNTER", "{shown}");
    assert_eq!(
        (shown["done"].clone(), shown["total"].clone()),
        (2.into(), 2.into()),
        "{shown}"
    );
    assert!(
        shown["last_error"].as_str().unwrap().contains(&uids[0]),
        "{shown}"
    );
    // Queued again: pending, due now; then cancelled: failed, and kept.
    assert!(cli(&["retry", &id]).contains("queued again"));
    let shown: Value = serde_json::from_str(&cli(&["show", &id])).unwrap();
    assert_eq!(shown["state"], "pending", "{shown}");
    assert!(!shown["next_attempt_at"].is_null(), "{shown}");
    assert!(cli(&["cancel", &id]).contains("cancelled"));
    let shown: Value = serde_json::from_str(&cli(&["show", &id])).unwrap();
    assert_eq!(shown["state"], "failed", "{shown}");
    let table = cli(&["list"]);
    assert!(
        table.contains("COUNTER") && table.contains("failed"),
        "{table}"
    );
    // One study by its UID, now to a peer that takes both.
    let received = dir.path().join("received-again.txt");
    let counter = common::python()
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/store_counter.py"))
        .args(["--port", &peer_port.to_string(), "--out"])
        .arg(&received)
        .args(["--count", "2", "--timeout", "60"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let out = filmless()
        .args([
            "send",
            "--config",
            config.to_str().unwrap(),
            "--study",
            &study,
        ])
        .args(["--to", "COUNTER", "--wait"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(said.contains(": done (2/2)"), "{said}");
    let _ = counter.wait_with_output().unwrap();
    let mut got: Vec<String> = std::fs::read_to_string(&received)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    got.sort();
    let mut want = uids.clone();
    want.sort();
    assert_eq!(got, want);
    // One series of it, by its UID; a series not in it is refused.
    let series = dicom_object::open_file(&files[0])
        .unwrap()
        .element(tags::SERIES_INSTANCE_UID)
        .unwrap()
        .to_str()
        .unwrap()
        .trim_end_matches(['\0', ' '])
        .to_owned();
    let out = filmless()
        .args([
            "send",
            "--config",
            config.to_str().unwrap(),
            "--study",
            &study,
        ])
        .args(["--series", "2.25.404", "--to", "COUNTER"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no series"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let received = dir.path().join("received-series.txt");
    let counter = common::python()
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/store_counter.py"))
        .args(["--port", &peer_port.to_string(), "--out"])
        .arg(&received)
        .args(["--count", "2", "--timeout", "60"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(1));
    let out = filmless()
        .args([
            "send",
            "--config",
            config.to_str().unwrap(),
            "--study",
            &study,
        ])
        .args(["--series", &series, "--to", "COUNTER", "--wait"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(
        said.contains("send series") && said.contains(": done (2/2)"),
        "{said}"
    );
    let _ = counter.wait_with_output().unwrap();
    assert_eq!(
        std::fs::read_to_string(&received).unwrap().lines().count(),
        2
    );
}

#[test]
fn a_permanent_refusal_fails_the_job_at_once_sqlite() {
    a_permanent_refusal_fails_the_job_at_once(None);
}

#[test]
fn a_permanent_refusal_fails_the_job_at_once_postgres() {
    let db = ScratchPg::new();
    a_permanent_refusal_fails_the_job_at_once(Some(&db.url));
}

/// An instance acknowledged just before a crash is still routed: what its
/// rule calls for was written with its rows (the routing journal), and the
/// next start routes it, once.
fn routing_survives_a_crash_after_the_acknowledgment(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let peer_port = free_port();
    let storage = database_url
        .map(|u| format!("[storage]\ndatabase_url = \"{u}\"\n"))
        .unwrap_or_default();
    let text = format!(
        "data_dir = \"{}\"\n{storage}[routing]\nsweep_after_secs = 1\n\
         [[dicom.peers]]\nae_title = \"COUNTER\"\nhost = \"127.0.0.1\"\nport = {peer_port}\n\
         [[routing.rules]]\nname = \"every-ct\"\nmodality = [\"CT\"]\nto = [\"COUNTER\"]\n",
        dir.path().display()
    );
    let config = dir.path().join("filmless.toml");
    std::fs::write(&config, text).unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let (_, files, uids) = study_files(&dir.path().join("f"), 501, "BN0501", "CT", "20261203", 1);
    let jobs = || -> Value {
        let out = filmless()
            .args([
                "jobs",
                "--config",
                config.to_str().unwrap(),
                "list",
                "--json",
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    {
        let server = ServerProcess::start(dir.path(), &args, &[]);
        modality_sends("CT1", server.dicom_port, &files);
        // SIGKILL at once: routing gathers arrivals for 500 ms before it
        // writes their jobs, so none is written yet.
        drop(server);
    }
    assert_eq!(
        jobs(),
        Value::Array(Vec::new()),
        "the crash came before the jobs"
    );
    let received = dir.path().join("received.txt");
    let counter = common::python()
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/store_counter.py"))
        .args(["--port", &peer_port.to_string(), "--out"])
        .arg(&received)
        .args(["--count", "1", "--timeout", "60"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Older than sweep_after_secs, for PostgreSQL's nodes.
    std::thread::sleep(Duration::from_millis(1500));
    let _server = ServerProcess::start(dir.path(), &args, &[]);
    let _ = counter.wait_with_output().unwrap();
    assert_eq!(
        std::fs::read_to_string(&received)
            .unwrap_or_default()
            .trim(),
        uids[0],
        "routed after the restart"
    );
    eventually(Duration::from_secs(30), "the job done", || {
        let j = jobs();
        let list = j.as_array().unwrap();
        (list.len() == 1 && list[0]["state"] == "done")
            .then_some(())
            .map_or(Some(j.to_string()), |_| None)
    });
}

#[test]
fn routing_survives_a_crash_after_the_acknowledgment_sqlite() {
    routing_survives_a_crash_after_the_acknowledgment(None);
}

#[test]
fn routing_survives_a_crash_after_the_acknowledgment_postgres() {
    let db = ScratchPg::new();
    routing_survives_a_crash_after_the_acknowledgment(Some(&db.url));
}

/// Every condition a rule may name, with lists and wildcards, matched
/// case-insensitively on what arrives: Institution Name, Station Name,
/// Body Part Examined with the called AE title; a rule for another called
/// AE title never matches here, and an instance no rule wants stays.
fn rules_match_their_conditions(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let peer_port = free_port();
    let storage = database_url
        .map(|u| format!("[storage]\ndatabase_url = \"{u}\"\n"))
        .unwrap_or_default();
    let text = format!(
        "data_dir = \"{}\"\n{storage}\
         [[dicom.peers]]\nae_title = \"COUNTER\"\nhost = \"127.0.0.1\"\nport = {peer_port}\n\
         [[routing.rules]]\nname = \"by-institution\"\ninstitution = [\"BV VIET*\", \"BV CHO RAY\"]\nto = [\"COUNTER\"]\n\
         [[routing.rules]]\nname = \"by-station\"\nstation = [\"CT?-ROOM\"]\nto = [\"COUNTER\"]\n\
         [[routing.rules]]\nname = \"by-body-part\"\nbody_part = [\"CHEST\"]\ncalled_ae = [\"FILMLESS\"]\nto = [\"COUNTER\"]\n\
         [[routing.rules]]\nname = \"another-archive\"\ncalled_ae = [\"NOT-US\"]\nto = [\"COUNTER\"]\n",
        dir.path().display()
    );
    let config = dir.path().join("filmless.toml");
    std::fs::write(&config, text).unwrap();
    // (institution, station, body part): which rule, if any, wants it.
    let cases = [
        ("BV Viet Duc", "MR-ROOM", "HEAD", true),
        ("Other", "ct1-room", "HEAD", true),
        ("Other", "MR-ROOM", "chest", true),
        ("BV Cho Ray", "", "", true),
        ("Viet Duc", "CT12-ROOM", "ABDOMEN", false),
    ];
    let mut files = Vec::new();
    let mut wanted = Vec::new();
    let mut unwanted_study = String::new();
    for (n, (institution, station, body_part, routed)) in cases.iter().enumerate() {
        let (study, f, uids) = study_files(
            &dir.path().join(format!("f{n}")),
            600 + n as u64,
            "BN0600",
            "CT",
            "20261203",
            1,
        );
        for path in &f {
            let mut obj = dicom_object::open_file(path).unwrap();
            for (tag, vr, v) in [
                (tags::INSTITUTION_NAME, VR::LO, *institution),
                (tags::STATION_NAME, VR::SH, *station),
                (tags::BODY_PART_EXAMINED, VR::CS, *body_part),
            ] {
                obj.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
            }
            obj.write_to_file(path).unwrap();
        }
        if *routed {
            wanted.extend(uids);
        } else {
            unwanted_study = study;
        }
        files.extend(f);
    }
    wanted.sort();
    let received = dir.path().join("received.txt");
    let counter = common::python()
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/store_counter.py"))
        .args(["--port", &peer_port.to_string(), "--out"])
        .arg(&received)
        .args(["--count", &wanted.len().to_string(), "--timeout", "60"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let server = ServerProcess::start(dir.path(), &["--config", config.to_str().unwrap()], &[]);
    modality_sends("CT1", server.dicom_port, &files);
    let _ = counter.wait_with_output().unwrap();
    let mut got: Vec<String> = std::fs::read_to_string(&received)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    got.sort();
    assert_eq!(got, wanted, "what the rules want, each once");
    // The one no rule wants has no job; each routed one has its rule's.
    eventually(Duration::from_secs(30), "every job done", || {
        let list = jobs(&server);
        let done = list.iter().filter(|j| j["state"] == "done").count();
        (done == wanted.len())
            .then_some(())
            .map_or(Some(format!("{list:?}")), |_| None)
    });
    let list = jobs(&server);
    assert!(
        list.iter().all(|j| j["study"] != unwanted_study.as_str()),
        "{list:?}"
    );
}

#[test]
fn rules_match_their_conditions_sqlite() {
    rules_match_their_conditions(None);
}

#[test]
fn rules_match_their_conditions_postgres() {
    let db = ScratchPg::new();
    rules_match_their_conditions(Some(&db.url));
}
