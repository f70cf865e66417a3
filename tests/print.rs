//! The virtual film printer (Print Management SCP), on SQLite and
//! PostgreSQL: pynetdicom prints a 3×4 grayscale film naming the CT's
//! images and a 1×1 color film naming nothing (filed by its station), a
//! station that stored nothing lands in the reconciliation list, DCMTK's
//! print client (dcmpsprt, dcmprscu) prints a 3×4 film; each sheet shows
//! its images in the right cells, passes dciodvfy with its PDF, and is
//! found by QIDO-RS in the right study, whose other instances stay as they
//! were; the patient's share slip counts the films. Malformed print
//! requests get their DIMSE failure statuses.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{dcmtk, filmless, http, python, write_files, ScratchPg, ServerProcess};
use serde_json::Value;

const CT_IMAGE_STORAGE: &str = "1.2.840.10008.5.1.4.1.1.2";

fn peers() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers")
}

/// tests/peers/print_scu.py; its JSON.
fn print_scu(port: u16, calling: &str, out: &Path, args: &[&str]) -> Value {
    let mut c = python();
    c.arg(peers().join("print_scu.py"))
        .args(["--port", &port.to_string(), "--calling", calling])
        .arg("--out")
        .arg(out)
        .args(args);
    let o = c.output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "print_scu.py {args:?}: {stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    serde_json::from_str(stdout.lines().last().unwrap()).unwrap()
}

fn get_json(server: &ServerProcess, path: &str) -> Value {
    let (status, _, body) = http(&server.http, "GET", path, &[], b"");
    assert_eq!(status, 200, "{path}: {}", String::from_utf8_lossy(&body));
    serde_json::from_slice(&body).unwrap()
}

fn string(v: &Value, tag: &str) -> String {
    v[tag]["Value"][0].as_str().unwrap_or_default().to_owned()
}

/// An instance as stored, by WADO-RS, written to `path`.
fn fetch(server: &ServerProcess, study: &str, series: &str, sop: &str, path: &Path) {
    let (status, _, body) = http(
        &server.http,
        "GET",
        &format!("/dicom-web/studies/{study}/series/{series}/instances/{sop}"),
        &[("Accept", "multipart/related; type=\"application/dicom\"")],
        b"",
    );
    assert_eq!(status, 200);
    let parts = common::multipart_parts(&body);
    assert_eq!(parts.len(), 1);
    std::fs::write(path, &parts[0]).unwrap();
}

/// dciodvfy finds no error in `file`.
fn valid(file: &Path) {
    let o = std::process::Command::new("/usr/bin/dciodvfy")
        .arg(file)
        .output()
        .expect("dciodvfy (Debian dicom3tools; scripts/setup-test-deps installs it)");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    let errors: Vec<&str> = report.lines().filter(|l| l.starts_with("Error")).collect();
    assert!(errors.is_empty(), "{}: {report}", file.display());
}

/// tests/peers/print_check.py: the sheet's cells hold the sources.
fn cells_match(sheet: &Path, columns: u32, rows: u32, sources: &Path) {
    let mut c = python();
    c.arg(peers().join("print_check.py"))
        .arg(sheet)
        .args([
            "--columns",
            &columns.to_string(),
            "--rows",
            &rows.to_string(),
        ])
        .arg("--sources")
        .arg(sources);
    let o = c.output().unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let v: Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(v["ok"], true, "cells of {}: {v}", sheet.display());
}

/// The sheets listed, newest first.
fn sheets(server: &ServerProcess, query: &str) -> Vec<Value> {
    get_json(server, &format!("/api/print/sheets{query}"))
        .as_array()
        .unwrap()
        .clone()
}

/// DCMTK's print client prints the 12 files of `sources` on a 3×4 film as
/// `calling`: dcmpsprt makes the print job, dcmprscu sends it.
fn dcmtk_print(port: u16, calling: &str, sources: &Path, work: &Path) {
    let (db, spool) = (work.join("db"), work.join("spool"));
    std::fs::create_dir_all(&db).unwrap();
    std::fs::create_dir_all(&spool).unwrap();
    let cfg = work.join("print.cfg");
    std::fs::write(
        &cfg,
        format!(
            "[[GENERAL]]\n[DATABASE]\nDirectory = {}\n[PRINT]\nDirectory = {}\n[NETWORK]\n\
             AETitle = {calling}\n[[COMMUNICATION]]\n[FILMLESS]\nType = PRINTER\n\
             Hostname = 127.0.0.1\nPort = {port}\nAetitle = FILMLESS\nMaxPDU = 32768\n\
             Timeout = 10\nDisplayFormat = 3,4\nSupports12Bit = true\n\
             SupportsPresentationLUT = false\n",
            db.display(),
            spool.display()
        ),
    )
    .unwrap();
    let mut files: Vec<_> = std::fs::read_dir(sources)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "dcm"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 12);
    let o = dcmtk("dcmpsprt")
        .arg("-c")
        .arg(&cfg)
        .args([
            "--printer",
            "FILMLESS",
            "--layout",
            "3",
            "4",
            "--filmsize",
            "14INX17IN",
        ])
        .args(&files)
        .output()
        .unwrap();
    assert!(
        o.status.success(),
        "dcmpsprt: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let job = std::fs::read_dir(&db)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("SP_"))
        .expect("dcmpsprt wrote a stored print");
    let o = dcmtk("dcmprscu")
        .arg("-c")
        .arg(&cfg)
        .args(["--printer", "FILMLESS"])
        .arg(&job)
        .output()
        .unwrap();
    // dcmprscu exits 0 even when a print fails: its errors are `E:` lines.
    let log = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success() && !log.lines().any(|l| l.starts_with("E:")),
        "dcmprscu: {log}"
    );
}

/// Wait until the audit trail shows `studies` studies stored by `station`.
fn wait_audited(config: &Path, station: &str, studies: usize) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let o = filmless()
            .args(["audit", "--config"])
            .arg(config)
            .args(["--actor", station, "--format", "jsonl"])
            .output()
            .unwrap();
        let seen: std::collections::BTreeSet<String> = String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|e| e["action"] == "c-store")
            .filter_map(|e| e["study_instance_uid"].as_str().map(str::to_owned))
            .collect();
        if seen.len() >= studies {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{station}'s stores are not audited"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
}

fn printing(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let storage = database_url
        .map(|u| format!("[storage]\ndatabase_url = \"{u}\"\n"))
        .unwrap_or_default();
    let config = dir.path().join("filmless.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n{storage}[dicom]\nunknown_peers = \"all\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let config_arg = ["--config", config.to_str().unwrap()];
    let server = ServerProcess::start(dir.path(), &config_arg, &[]);
    let port = server.dicom_port;

    // The CT the station CT01 sends before printing.
    let (plan, instances) = filmless_test_data::ct_series_sized(4242, 12, (64, 64));
    let study = plan.study_instance_uid.clone();
    let files = write_files(&dir.path().join("ct"), &instances);
    let o = dcmtk("storescu")
        .args([
            "-aet",
            "CT01",
            "-aec",
            "FILMLESS",
            "127.0.0.1",
            &port.to_string(),
        ])
        .args(&files)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let ct_before = get_json(&server, &format!("/dicom-web/studies/{study}/series"));
    // A print naming no study is matched from the audit trail, which is
    // written in batches: wait for CT01's stores to be in it.
    wait_audited(&config, "CT01", 1);

    // 1. A 3×4 grayscale film, each image box naming a CT image.
    let gray = dir.path().join("gray");
    let refs: Vec<String> = instances
        .iter()
        .map(|i| format!("{CT_IMAGE_STORAGE}:{}", i.sop_instance_uid))
        .collect();
    let mut args = vec![
        "print",
        "--meta",
        "gray",
        "--columns",
        "3",
        "--rows",
        "4",
        "--reference",
    ];
    args.extend(refs.iter().map(String::as_str));
    let r = print_scu(port, "CT01", &gray, &args);
    assert_eq!(r["printer"], 0, "{r}");
    assert_eq!(r["printer_status"], "NORMAL", "{r}");
    assert_eq!(
        (r["session"].as_u64(), r["film_box"].as_u64()),
        (Some(0), Some(0)),
        "{r}"
    );
    assert_eq!(r["image_boxes"], 12, "{r}");
    assert!(
        r["image_box_sets"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s == 0),
        "{r}"
    );
    assert_eq!(r["print"], 0, "{r}");
    assert_eq!(
        (r["delete_film_box"].as_u64(), r["delete_session"].as_u64()),
        (Some(0), Some(0))
    );

    // 2. A 1×1 color film that names nothing: CT01 stored this CT last.
    let color = dir.path().join("color");
    let r = print_scu(port, "CT01", &color, &["print", "--meta", "color"]);
    assert_eq!(r["print"], 0, "{r}");

    // 3. A station that stored nothing: a study of its own, to reconcile.
    let lost = dir.path().join("lost");
    let r = print_scu(port, "US99", &lost, &["print", "--meta", "gray"]);
    assert_eq!(r["print"], 0, "{r}");

    // 4. Doubt goes to reconciliation: a film naming a CT image but
    // another patient; a station that sent two patients lately.
    let doubt = dir.path().join("doubt");
    let one_ref = refs[0].clone();
    let r = print_scu(
        port,
        "CT01",
        &doubt,
        &[
            "print",
            "--patient-id",
            "SOMEONE-ELSE",
            "--reference",
            &one_ref,
        ],
    );
    assert_eq!(r["print"], 0, "{r}");
    for (seed, patient) in [(5151, "PATIENT-A"), (5252, "PATIENT-B")] {
        let (_, mut two) = filmless_test_data::ct_series_sized(seed, 1, (64, 64));
        for i in &mut two {
            let mut obj = dicom_object::from_reader(&i.bytes[128..]).unwrap();
            obj.put(dicom_core::DataElement::new(
                dicom_dictionary_std::tags::PATIENT_ID,
                dicom_core::VR::LO,
                dicom_core::PrimitiveValue::from(patient),
            ));
            let mut bytes = Vec::new();
            obj.write_all(&mut bytes).unwrap();
            i.bytes = bytes;
        }
        let files = write_files(&dir.path().join(format!("ct02-{seed}")), &two);
        let o = dcmtk("storescu")
            .args([
                "-aet",
                "CT02",
                "-aec",
                "FILMLESS",
                "127.0.0.1",
                &port.to_string(),
            ])
            .args(&files)
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    wait_audited(&config, "CT02", 2);
    let r = print_scu(port, "CT02", &doubt, &["print"]);
    assert_eq!(r["print"], 0, "{r}");

    // 5. DCMTK's print client, as CT01.
    let dcm = dir.path().join("dcmtk");
    print_scu(port, "CT01", &dcm, &["sources", "--count", "12"]);
    dcmtk_print(port, "CT01", &dcm, &dir.path().join("dcmtk-work"));

    // Where each went.
    let all = sheets(&server, "");
    assert_eq!(all.len(), 6, "{all:?}");
    let (by_dcmtk, two_patients, other_patient, lost_sheet, color_sheet, gray_sheet) =
        (&all[0], &all[1], &all[2], &all[3], &all[4], &all[5]);
    assert_eq!(gray_sheet["matched_by"], "reference");
    assert_eq!(gray_sheet["images"], 12);
    assert_eq!(gray_sheet["film_format"], "STANDARD\\3,4");
    assert_eq!(color_sheet["matched_by"], "station");
    assert_eq!(by_dcmtk["matched_by"], "station");
    assert_eq!(by_dcmtk["images"], 12);
    for s in [gray_sheet, color_sheet, by_dcmtk] {
        assert_eq!(s["study_instance_uid"], study.as_str(), "{s}");
        assert_eq!(s["patient_id"], plan.patient.id.as_str(), "{s}");
    }
    assert_eq!(lost_sheet["matched_by"], "none");
    assert_eq!(lost_sheet["station"], "US99");
    assert_ne!(lost_sheet["study_instance_uid"], study.as_str());
    for doubtful in [other_patient, two_patients] {
        assert_eq!(doubtful["matched_by"], "none", "{doubtful}");
        assert_ne!(doubtful["study_instance_uid"], study.as_str());
    }
    assert_eq!(other_patient["patient_id"], "SOMEONE-ELSE");
    assert_eq!(two_patients["station"], "CT02");
    let unmatched = sheets(&server, "?unmatched=true");
    assert_eq!(unmatched.len(), 3, "{unmatched:?}");
    assert_ne!(
        lost_sheet["patient_id"], two_patients["patient_id"],
        "each unmatched film has a patient of its own"
    );

    // QIDO-RS: the CT untouched, the films in series of their own.
    let series = get_json(&server, &format!("/dicom-web/studies/{study}/series"));
    let by_description = |d: &str| {
        series
            .as_array()
            .unwrap()
            .iter()
            .find(|s| string(s, "0008103E") == d)
            .cloned()
            .unwrap_or_else(|| panic!("no series {d:?} in {series}"))
    };
    let films = by_description("Films");
    let pdfs = by_description("Films (PDF)");
    assert_eq!(string(&films, "00080060"), "OT");
    assert_eq!(string(&pdfs, "00080060"), "DOC");
    assert_eq!(films["00201209"]["Value"][0], 3, "{films}");
    assert_eq!(pdfs["00201209"]["Value"][0], 3, "{pdfs}");
    assert_eq!(series.as_array().unwrap().len(), 3, "{series}");
    // The CT series as it was (series-level attributes; the study's counts
    // grew by the films).
    let series_level = |s: &Value| {
        ["0020000E", "00080060", "0008103E", "00200011", "00201209"].map(|t| s[t].clone())
    };
    for before in ct_before.as_array().unwrap() {
        assert!(
            series
                .as_array()
                .unwrap()
                .iter()
                .any(|s| series_level(s) == series_level(before)),
            "CT series changed: {before}"
        );
    }
    let films_uid = string(&films, "0020000E");
    let pdfs_uid = string(&pdfs, "0020000E");

    // Each sheet: valid, and its images in the right cells.
    let check = |sheet: &Value, columns: u32, rows: u32, sources: &Path| {
        let sop = sheet["sop_instance_uid"].as_str().unwrap();
        let file = dir.path().join(format!("{sop}.dcm"));
        fetch(&server, &study, &films_uid, sop, &file);
        valid(&file);
        cells_match(&file, columns, rows, sources);
        let pdf = sheet["pdf_sop_instance_uid"].as_str().unwrap();
        let file = dir.path().join(format!("{pdf}.dcm"));
        fetch(&server, &study, &pdfs_uid, pdf, &file);
        valid(&file);
    };
    check(gray_sheet, 3, 4, &gray);
    check(color_sheet, 1, 1, &color);
    check(by_dcmtk, 3, 4, &dcm);
    // The sheet names the images it shows.
    let meta = get_json(
        &server,
        &format!(
            "/dicom-web/studies/{study}/series/{films_uid}/instances/{}/metadata",
            gray_sheet["sop_instance_uid"].as_str().unwrap()
        ),
    );
    assert_eq!(
        meta[0]["00081140"]["Value"].as_array().map(Vec::len),
        Some(12),
        "Referenced Image Sequence: {meta}"
    );

    // The patient's slip says the films are in the link.
    let body = serde_json::json!({"study": study, "expires_in_days": 30}).to_string();
    let (status, _, share) = http(
        &server.http,
        "POST",
        "/api/shares",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    );
    assert_eq!(status, 201);
    let share: Value = serde_json::from_slice(&share).unwrap();
    let token = share["url"].as_str().unwrap().rsplit('/').next().unwrap();
    let (status, _, slip) = http(
        &server.http,
        "GET",
        &format!("/api/shares/{}/slip?token={token}", share["id"]),
        &[],
        b"",
    );
    let slip = String::from_utf8_lossy(&slip);
    assert_eq!(status, 200, "{slip}");
    assert!(slip.contains("Printed films: <b>3</b>"), "{slip}");
    // The patient's page offers each film's PDF, to print on paper.
    let (status, _, page) = http(&server.http, "GET", &format!("/s/{token}"), &[], b"");
    let page = String::from_utf8_lossy(&page);
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("Printed film 3 (PDF)"), "{page}");
    let href = page
        .split("class=\"film-pdf\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a film PDF link");
    let (status, _, pdf) = http(&server.http, "GET", &href.replace("&amp;", "&"), &[], b"");
    assert_eq!(status, 200);
    assert!(pdf.starts_with(b"%PDF-"), "a PDF");

    // Malformed requests: DIMSE failures, and the printer keeps serving.
    let r = print_scu(port, "CT01", &dir.path().join("bad"), &["malformed"]);
    for (what, want) in [
        ("unknown_image_box", 0x0112),
        ("film_box_without_session", 0x0112),
        ("film_box_without_format", 0x0120),
        ("unknown_format", 0x0106),
        ("unknown_film_size", 0x0106),
        ("too_many_rows", 0x0106),
        ("film_box_set_format", 0x0105),
        ("position_out_of_range", 0x0106),
        ("image_box_without_image", 0x0120),
        ("truncated_image", 0x0106),
        ("print_empty", 0xB603),
        ("delete_film_box", 0x0000),
        ("print_deleted", 0x0112),
        ("unknown_action", 0x0123),
        ("session_print_without_film_box", 0xC600),
        ("second_session", 0x0213),
        ("printer_after", 0x0000),
    ] {
        assert_eq!(r[what].as_u64(), Some(want), "{what}: {r}");
    }
    // Nothing more was filed.
    assert_eq!(sheets(&server, "").len(), 6);
}

#[test]
fn modalities_print_films_into_their_studies_sqlite() {
    printing(None);
}

#[test]
fn modalities_print_films_into_their_studies_postgres() {
    let db = ScratchPg::new();
    printing(Some(&db.url));
}
