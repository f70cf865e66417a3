//! De-identified export on SQLite and PostgreSQL: a CT carrying names,
//! addresses, private attributes, nested references and one image with
//! burned-in annotation, exported with the PS3.15 Basic Profile; every
//! attribute of the profile is checked in every exported file (none keeps
//! its original value, UIDs remapped consistently, nested ones too), no
//! private attribute remains, the burned-in image is left out unless
//! asked for, and dciodvfy finds no error the original did not have. The
//! same export as a ZIP from the CLI and from `POST
//! /api/studies/{uid}/export`.

mod common;

use std::path::Path;

use common::{filmless, http, python, write_files, ScratchPg, ServerProcess};
use dicom_core::value::{DataSetSequence, Value};
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use serde_json::Value as Json;

fn put(obj: &mut InMemDicomObject, tag: Tag, vr: VR, v: &str) {
    obj.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
}

fn export(dir: &Path, args: &[&str], extra: &[&str]) -> String {
    let out = filmless()
        .args(["export", "--data-dir"])
        .arg(dir)
        .args(args)
        .args(extra)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn exporting(database_url: Option<&str>) {
    let dir = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = Vec::new();
    if let Some(u) = database_url {
        args.extend(["--database-url".to_owned(), u.to_owned()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();

    // A CT with more to hide than most.
    let (plan, mut ct) = filmless_test_data::ct_series_sized(99, 4, (64, 64));
    let first_sop = ct[0].sop_instance_uid.clone();
    for (n, i) in ct.iter_mut().enumerate() {
        let mut obj = dicom_object::from_reader(&i.bytes[128..]).unwrap();
        put(&mut obj, Tag(0x0009, 0x0010), VR::LO, "FILMLESS TEST");
        put(
            &mut obj,
            Tag(0x0009, 0x1001),
            VR::LO,
            "PRIVATE NOTE ABOUT THE PATIENT",
        );
        put(&mut obj, tags::PATIENT_BIRTH_NAME, VR::PN, "TRAN^THI MAI");
        put(&mut obj, tags::PATIENT_ADDRESS, VR::LO, "12 LE LOI, HUE");
        put(
            &mut obj,
            tags::INSTITUTION_NAME,
            VR::LO,
            "BENH VIEN TRUNG UONG HUE",
        );
        put(&mut obj, tags::STATION_NAME, VR::SH, "CT-HUE-01");
        let mut item = InMemDicomObject::new_empty();
        put(
            &mut item,
            tags::REFERENCED_SOP_CLASS_UID,
            VR::UI,
            "1.2.840.10008.5.1.4.1.1.2",
        );
        put(
            &mut item,
            tags::REFERENCED_SOP_INSTANCE_UID,
            VR::UI,
            &first_sop,
        );
        obj.put(DataElement::new(
            tags::REFERENCED_IMAGE_SEQUENCE,
            VR::SQ,
            Value::Sequence(DataSetSequence::from(vec![item])),
        ));
        put(
            &mut obj,
            tags::BURNED_IN_ANNOTATION,
            VR::CS,
            if n == 3 { "YES" } else { "NO" },
        );
        let mut bytes = Vec::new();
        obj.write_all(&mut bytes).unwrap();
        i.bytes = bytes;
    }
    let originals = dir.path().join("originals");
    write_files(&originals, &ct);
    common::import_ok(dir.path(), &args, &originals);
    let study = plan.study_instance_uid.as_str();

    // De-identified, attribute by attribute.
    let out_dir = dir.path().join("deid");
    let said = export(
        dir.path(),
        &args,
        &[
            "--study",
            study,
            "--deidentify",
            "--patient-name",
            "TEACHING^CASE",
            "--patient-id",
            "CASE-1",
            "--out",
            out_dir.to_str().unwrap(),
        ],
    );
    assert!(
        said.contains("exported 3 instances") && said.contains("1 with burned-in"),
        "{said}"
    );
    let check = python()
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/deid_check.py"))
        .arg(&originals)
        .arg(&out_dir)
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("src/service/deidentify_table.rs"))
        .args(["TEACHING^CASE", "CASE-1"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let v: Json = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["files"], 3, "{v}");
    assert!(v["checked"].as_u64().unwrap() > 30, "{v}");
    // The export's own bytes hold no identifying text.
    for entry in walkdir(&out_dir) {
        let bytes = std::fs::read(&entry).unwrap();
        for secret in [
            plan.patient.id.as_bytes(),
            b"12 LE LOI",
            b"THI MAI",
            b"PRIVATE NOTE",
            b"TRUNG UONG",
            study.as_bytes(),
            first_sop.as_bytes(),
        ] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret),
                "{} holds {:?}",
                entry.display(),
                String::from_utf8_lossy(secret)
            );
        }
    }

    // Burned-in images on request; a ZIP from the CLI and over HTTP.
    let all = dir.path().join("all");
    let said = export(
        dir.path(),
        &args,
        &[
            "--study",
            study,
            "--deidentify",
            "--include-burned-in",
            "--out",
            all.to_str().unwrap(),
        ],
    );
    assert!(said.contains("exported 4 instances"), "{said}");
    let zip = dir.path().join("case.zip");
    export(
        dir.path(),
        &args,
        &[
            "--study",
            study,
            "--deidentify",
            "--out",
            zip.to_str().unwrap(),
        ],
    );
    // A whole ZIP, written an instance at a time: the three DICOM files
    // without burned-in text.
    let entries = |bytes: Vec<u8>| -> Vec<(String, Vec<u8>)> {
        let mut z = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        (0..z.len())
            .map(|n| {
                let mut f = z.by_index(n).unwrap();
                let mut data = Vec::new();
                std::io::Read::read_to_end(&mut f, &mut data).unwrap();
                (f.name().unwrap().into_owned(), data)
            })
            .collect()
    };
    let files = entries(std::fs::read(&zip).unwrap());
    assert_eq!(
        files.len(),
        3,
        "{:?}",
        files.iter().map(|f| &f.0).collect::<Vec<_>>()
    );
    for (name, data) in &files {
        assert!(
            name.starts_with("series") && name.ends_with(".dcm"),
            "{name}"
        );
        assert_eq!(&data[128..132], b"DICM", "{name}");
    }
    let server = ServerProcess::start(dir.path(), &args, &[]);
    let (status, headers, body) = http(
        &server.http,
        "POST",
        &format!("/api/studies/{study}/export?deidentify=true&shift_days=-30"),
        &[],
        b"",
    );
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(headers
        .iter()
        .any(|(k, v)| k == "content-type" && v == "application/zip"));
    assert!(
        headers
            .iter()
            .any(|(k, v)| k == "content-length" && *v == body.len().to_string()),
        "{headers:?}"
    );
    assert!(
        !body.windows(study.len()).any(|w| w == study.as_bytes()),
        "the study's UID is in the ZIP"
    );
    let files = entries(body.clone());
    assert_eq!(files.len(), 3);
    // Dates moved 30 days back (shift_days=-30), not removed.
    let fmt = time::macros::format_description!("[year][month][day]");
    let shifted = (time::Date::parse(&plan.study_date, &fmt).unwrap() - time::Duration::days(30))
        .format(&fmt)
        .unwrap();
    for (name, data) in &files {
        assert_eq!(&data[128..132], b"DICM", "{name}");
        let obj = dicom_object::from_reader(&data[128..]).unwrap();
        let date = obj
            .element(dicom_dictionary_std::tags::STUDY_DATE)
            .unwrap()
            .to_str()
            .unwrap()
            .trim_end()
            .to_owned();
        assert_eq!(
            date, shifted,
            "{name}: {} shifted 30 days back",
            plan.study_date
        );
    }
    assert_eq!(
        http(
            &server.http,
            "POST",
            &format!("/api/studies/{study}/export?deidentify=maybe"),
            &[],
            b""
        )
        .0,
        400
    );
}

/// Files under `dir`, recursively.
fn walkdir(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        if e.file_type().unwrap().is_dir() {
            out.extend(walkdir(&e.path()));
        } else {
            out.push(e.path());
        }
    }
    out
}

#[test]
fn deidentified_exports_keep_no_identity_sqlite() {
    exporting(None);
}

#[test]
fn deidentified_exports_keep_no_identity_postgres() {
    let db = ScratchPg::new();
    exporting(Some(&db.url));
}
