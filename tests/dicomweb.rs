//! DICOMweb against the real server: dicomweb-client (PyPI) for the calls
//! a RIS or viewer makes, raw HTTP for malformed requests.

mod common;

use std::path::Path;

use common::{http, import, pydicom_samples, write_files, ServerProcess};

const RLE_STUDY: &str = "1.2.826.0.1.3680043.8.498.12406831542731051035295345080039845114";
const RLE_SERIES: &str = "1.2.826.0.1.3680043.8.498.16157229083793556332623330502397121062";
const RLE_SOP: &str = "1.2.826.0.1.3680043.8.498.49043964482360854182530167603505525116";

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn dicomweb_client_calls_succeed() {
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let corpus = filmless_test_data::Corpus::new(61, filmless_test_data::Options::small(5));
    let ct = corpus.study(0);
    let instances: Vec<_> = corpus.instances(&ct).collect();
    write_files(&files.path().join("ct"), &instances);
    write_files(
        &files.path().join("cr"),
        &corpus.instances(&corpus.study(1)).collect::<Vec<_>>(),
    );
    std::fs::copy(
        pydicom_samples().join("rtdose.dcm"),
        files.path().join("rtdose.dcm"),
    )
    .unwrap();
    std::fs::copy(
        pydicom_samples().join("SC_rgb_rle_2frame.dcm"),
        files.path().join("rle.dcm"),
    )
    .unwrap();
    assert!(import(data.path(), &[files.path()]).status.success());
    let upload = tempfile::tempdir().unwrap();
    let to_upload = corpus.instances(&corpus.study(2)).next().unwrap();
    let upload_path = upload.path().join("upload.dcm");
    std::fs::write(&upload_path, &to_upload.bytes).unwrap();

    let server = ServerProcess::start(data.path(), &[], &[]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/peers/dicomweb_checks.py");
    // rtdose.dcm: 15 native frames of 10×10 32-bit values.
    let (rt_study, rt_series, rt_sop) = (
        "1.2.999.999.99.9.9999.8888",
        "1.2.777.777.77.7.7777.7777",
        "1.9.999.999.99.9.9999.9999.20030818153516",
    );
    let out = common::python()
        .arg(script)
        .arg(format!("http://{}/dicom-web", server.http))
        .args([
            &ct.study_instance_uid,
            &ct.series[0].0,
            &instances[2].sop_instance_uid,
        ])
        .args([rt_study, rt_series, rt_sop])
        .arg(&upload_path)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "dicomweb-client calls failed (pip install dicomweb-client; scripts/setup-test-deps does):\n{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(r["studies"], 4, "CT, CR, the RT dose and the RLE: {r}");
    assert!(r["study_uids"]
        .as_array()
        .unwrap()
        .contains(&serde_json::json!(ct.study_instance_uid)));
    assert_eq!(r["limited"], 1, "{r}");
    assert_eq!(r["series"], serde_json::json!([ct.series[0].0]), "{r}");
    assert_eq!(r["instances"], 5, "{r}");
    assert_eq!(
        r["instance_search"],
        serde_json::json!([instances[2].sop_instance_uid]),
        "{r}"
    );
    assert_eq!(r["series_metadata"], 5, "{r}");
    assert_eq!(r["study_metadata"], 5, "{r}");
    assert_eq!(
        r["instance_metadata_sop"], instances[2].sop_instance_uid,
        "{r}"
    );
    assert!(r["bulkdata_uri"]
        .as_str()
        .unwrap()
        .starts_with(&format!("http://{}/dicom-web/studies/", server.http)));
    assert_eq!(r["instance_sop"], instances[2].sop_instance_uid, "{r}");
    assert_eq!(r["instance_rows"], 64, "{r}");
    assert_eq!(r["instance_pixels"], 64 * 64 * 2, "{r}");
    assert_eq!(r["series_retrieved"], 5, "{r}");
    assert_eq!(r["bulkdata"], serde_json::json!([64 * 64 * 2]), "{r}");
    assert_eq!(r["frame1"], 10 * 10 * 4, "{r}");
    assert_eq!(r["frames_list"], serde_json::json!([400, 400]), "{r}");
    assert_eq!(r["rendered_jpeg"], "ffd8", "{r}");
    assert_eq!(r["rendered_frame_png"], "PNG", "{r}");
    assert_eq!(r["stored_referenced"], 1, "{r}");
    assert_eq!(r["stored_failed"], 0, "{r}");

    // RLE frames: compressed as stored with transfer-syntax=*, decoded when
    // uncompressed is asked, refused as JPEG.
    let rle =
        format!("/dicom-web/studies/{RLE_STUDY}/series/{RLE_SERIES}/instances/{RLE_SOP}/frames/2");
    let (status, headers, body) = http(
        &server.http,
        "GET",
        &rle,
        &[(
            "Accept",
            "multipart/related; type=application/octet-stream; transfer-syntax=*",
        )],
        b"",
    );
    assert_eq!(status, 200);
    assert!(
        String::from_utf8_lossy(&body).contains("transfer-syntax=1.2.840.10008.1.2.5"),
        "{headers:?}"
    );
    let accept =
        "multipart/related; type=\"application/octet-stream\"; transfer-syntax=1.2.840.10008.1.2.1";
    let (status, _, body) = http(&server.http, "GET", &rle, &[("Accept", accept)], b"");
    assert_eq!(status, 200);
    let text = String::from_utf8_lossy(&body);
    assert!(
        text.contains("Content-Length: 30000"),
        "100×100 RGB decoded"
    );
    let (status, _, _) = http(
        &server.http,
        "GET",
        &rle,
        &[("Accept", "multipart/related; type=image/jpeg")],
        b"",
    );
    assert_eq!(status, 406);

    // What STOW-RS stored is there, byte for byte.
    let (status, _, body) = http(
        &server.http,
        "GET",
        &format!(
            "/dicom-web/studies?StudyInstanceUID={}",
            corpus.study(2).study_instance_uid
        ),
        &[],
        b"",
    );
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains(&corpus.study(2).study_instance_uid));
}

#[test]
fn malformed_requests_get_4xx_with_a_reason_and_the_server_keeps_serving() {
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let corpus = filmless_test_data::Corpus::new(62, filmless_test_data::Options::small(2));
    let ct = corpus.study(0);
    let instances: Vec<_> = corpus.instances(&ct).collect();
    write_files(files.path(), &instances);
    assert!(import(data.path(), &[files.path()]).status.success());
    let server = ServerProcess::start(
        data.path(),
        &[],
        &[("FILMLESS_HTTP__CORS_ORIGINS", "[\"http://viewer.example\"]")],
    );
    let addr = server.http.as_str();
    let inst = format!(
        "/dicom-web/studies/{}/series/{}/instances/{}",
        ct.study_instance_uid, ct.series[0].0, instances[0].sop_instance_uid
    );
    let cases: Vec<(String, u16)> = vec![
        ("/dicom-web/studies/1.2.abc/metadata".into(), 400),
        ("/dicom-web/studies/..%2F..%2Fetc/metadata".into(), 400),
        ("/dicom-web/studies?StudyDate=notadate".into(), 400),
        ("/dicom-web/studies?StudyDate=20241399-".into(), 400),
        ("/dicom-web/studies?limit=-5".into(), 400),
        (
            "/dicom-web/studies?limit=99999999999999999999999".into(),
            400,
        ),
        ("/dicom-web/studies?offset=x".into(), 400),
        ("/dicom-web/studies?offset=18446744073709551615".into(), 400),
        (
            "/dicom-web/studies?StudyInstanceUID=1.2.3';DROP%20TABLE%20study;--".into(),
            400,
        ),
        ("/dicom-web/studies/1.2.3/metadata".into(), 404),
        (format!("{inst}/frames/0"), 400),
        (format!("{inst}/frames/abc"), 400),
        (format!("{inst}/frames/99"), 404),
        (format!("{inst}/bulkdata/00091001"), 404),
    ];
    for (path, want) in &cases {
        let (status, headers, body) = http(
            addr,
            "GET",
            path,
            &[("Origin", "http://viewer.example")],
            b"",
        );
        assert_eq!(status, *want, "{path}: {}", String::from_utf8_lossy(&body));
        let v: serde_json::Value =
            serde_json::from_slice(&body).unwrap_or_else(|_| panic!("{path}: not JSON"));
        assert!(
            v["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{path}: {v}"
        );
        assert_eq!(
            header(&headers, "access-control-allow-origin"),
            Some("http://viewer.example"),
            "{path}: CORS on errors too"
        );
    }
    // SQL and LIKE meta-characters in values match literally.
    for q in [
        "PatientName=O'Brien*",
        "PatientName=%25",
        "PatientID=_",
        "AccessionNumber=1%20OR%201=1",
        "offset=999999999999",
    ] {
        let (status, _, body) = http(addr, "GET", &format!("/dicom-web/studies?{q}"), &[], b"");
        assert!(
            status == 204 || (status == 200 && body == b"[]"),
            "{q}: {status} {}",
            String::from_utf8_lossy(&body)
        );
    }
    // A limit as large as u64 goes: all results (not a database error).
    let (status, _, _) = http(
        addr,
        "GET",
        "/dicom-web/studies?limit=18446744073709551615",
        &[],
        b"",
    );
    assert_eq!(status, 200);
    // QIDO with an unknown key is not an error; a huge limit is fine.
    let (status, _, _) = http(
        addr,
        "GET",
        "/dicom-web/studies?NotAKeyword=1&limit=99999999",
        &[],
        b"",
    );
    assert_eq!(status, 200);
    // Accept that cannot be served.
    let (status, _, _) = http(
        addr,
        "GET",
        "/dicom-web/studies",
        &[("Accept", "image/png")],
        b"",
    );
    assert_eq!(status, 406);

    // STOW-RS: wrong media type, no boundary, garbage parts, truncated part.
    let (status, _, body) = http(
        addr,
        "POST",
        "/dicom-web/studies",
        &[("Content-Type", "application/json")],
        b"{}",
    );
    assert_eq!(status, 415, "{}", String::from_utf8_lossy(&body));
    let (status, _, _) = http(
        addr,
        "POST",
        "/dicom-web/studies",
        &[(
            "Content-Type",
            "multipart/related; type=\"application/dicom\"",
        )],
        b"x",
    );
    assert_eq!(status, 400);
    let ct_header = "multipart/related; type=\"application/dicom\"; boundary=XYZ";
    let (status, _, body) = http(
        addr,
        "POST",
        "/dicom-web/studies",
        &[("Content-Type", ct_header)],
        b"no parts at all",
    );
    assert_eq!(status, 400, "{}", String::from_utf8_lossy(&body));
    let mut not_dicom = b"--XYZ\r\nContent-Type: application/dicom\r\n\r\n".to_vec();
    not_dicom.extend_from_slice(&[0x42; 500]);
    not_dicom.extend_from_slice(b"\r\n--XYZ--\r\n");
    let (status, _, body) = http(
        addr,
        "POST",
        "/dicom-web/studies",
        &[("Content-Type", ct_header)],
        &not_dicom,
    );
    assert_eq!(status, 409, "{}", String::from_utf8_lossy(&body));
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        v["00081198"]["Value"][0]["00081197"]["Value"][0], 0xC000,
        "{v}"
    );
    let fresh = corpus.instances(&corpus.study(1)).next().unwrap();
    let mut truncated = b"--XYZ\r\nContent-Type: application/dicom\r\n\r\n".to_vec();
    truncated.extend_from_slice(&fresh.bytes[..fresh.bytes.len() / 2]);
    truncated.extend_from_slice(b"\r\n--XYZ--\r\n");
    let (status, _, _) = http(
        addr,
        "POST",
        "/dicom-web/studies",
        &[("Content-Type", ct_header)],
        &truncated,
    );
    assert_eq!(status, 409);
    // One good part and one bad: 202 with both lists.
    let mut mixed = b"--XYZ\r\nContent-Type: application/dicom\r\n\r\n".to_vec();
    mixed.extend_from_slice(&fresh.bytes);
    mixed.extend_from_slice(b"\r\n--XYZ\r\nContent-Type: application/dicom\r\n\r\n");
    mixed.extend_from_slice(&[0x42; 300]);
    mixed.extend_from_slice(b"\r\n--XYZ--\r\n");
    let (status, _, body) = http(
        addr,
        "POST",
        "/dicom-web/studies",
        &[("Content-Type", ct_header)],
        &mixed,
    );
    assert_eq!(status, 202, "{}", String::from_utf8_lossy(&body));
    // STOW to the wrong study: refused.
    let other = corpus.instances(&corpus.study(3)).next().unwrap();
    let mut wrong = b"--XYZ\r\nContent-Type: application/dicom\r\n\r\n".to_vec();
    wrong.extend_from_slice(&other.bytes);
    wrong.extend_from_slice(b"\r\n--XYZ--\r\n");
    let (status, _, _) = http(
        addr,
        "POST",
        &format!("/dicom-web/studies/{}", ct.study_instance_uid),
        &[("Content-Type", ct_header)],
        &wrong,
    );
    assert_eq!(status, 409);
    let (status, _, body) = http(
        addr,
        "GET",
        &format!(
            "/dicom-web/instances?SOPInstanceUID={}",
            other.sop_instance_uid
        ),
        &[],
        b"",
    );
    assert_eq!(
        (status, body.as_slice()),
        (200, b"[]".as_slice()),
        "nothing of it kept"
    );

    // Thumbnails and rendered images: cached, sized, refused when asked wrong.
    let series_url = format!(
        "/dicom-web/studies/{}/series/{}",
        ct.study_instance_uid, ct.series[0].0
    );
    let (status, headers, body) = http(addr, "GET", &format!("{series_url}/thumbnail"), &[], b"");
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("image/jpeg"));
    assert_eq!(&body[..2], &[0xFF, 0xD8]);
    let (status, _, again) = http(addr, "GET", &format!("{series_url}/thumbnail"), &[], b"");
    assert_eq!(
        (status, &again),
        (200, &body),
        "cached thumbnail is the same"
    );
    let (status, _, _) = http(
        addr,
        "GET",
        &format!(
            "/dicom-web/studies/{}/thumbnail?accept=image/png",
            ct.study_instance_uid
        ),
        &[],
        b"",
    );
    assert_eq!(status, 200);
    for bad in ["?window=1", "?viewport=0,0", "?quality=500"] {
        let (status, _, _) = http(addr, "GET", &format!("{inst}/rendered{bad}"), &[], b"");
        assert_eq!(status, 400, "{bad}");
    }
    let (status, _, _) = http(addr, "GET", &format!("{inst}/frames/9/rendered"), &[], b"");
    assert_eq!(status, 404);

    // The whole study as a ZIP file: every instance, byte for byte.
    let (status, headers, zip) = http(
        addr,
        "GET",
        &format!(
            "/dicom-web/studies/{}?accept=application/zip",
            ct.study_instance_uid
        ),
        &[],
        b"",
    );
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("application/zip"));
    let zip_path = tempfile::tempdir().unwrap();
    let zip_file = zip_path.path().join("study.zip");
    std::fs::write(&zip_file, &zip).unwrap();
    let out = common::python()
        .args(["-c", "import sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(len(z.namelist()))"])
        .arg(&zip_file)
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        instances.len().to_string(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A forwarded host that is no host[:port] (here it would close the
    // JSON string) is not put into the bulk data URIs.
    let (status, _, body) = http(
        addr,
        "GET",
        &format!("{inst}/metadata"),
        &[("X-Forwarded-Host", "evil\"},{\"x")],
        b"",
    );
    assert_eq!(status, 200);
    let metadata: serde_json::Value = serde_json::from_slice(&body).expect("valid JSON");
    let uri = metadata[0]["7FE00010"]["BulkDataURI"]
        .as_str()
        .unwrap_or_default();
    assert!(
        uri.starts_with(&format!("http://{addr}/dicom-web/")),
        "{uri}"
    );

    // DELETE, then 404.
    let (status, _, _) = http(addr, "DELETE", &inst, &[], b"");
    assert_eq!(status, 204);
    let (status, _, _) = http(addr, "GET", &format!("{inst}/metadata"), &[], b"");
    assert_eq!(status, 404);

    // Still serving.
    let (status, headers, _) = http(addr, "GET", "/dicom-web/studies", &[], b"");
    assert_eq!(status, 200);
    assert_eq!(
        header(&headers, "content-type"),
        Some("application/dicom+json")
    );
}
