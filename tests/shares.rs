//! The patient's e-film: share links to one study, on SQLite and
//! PostgreSQL. A 500-slice CT opened on a phone-sized Chromium (first
//! image, scrolling, the ZIP download), the slip printed to one A5 page
//! with a QR code that `zbarimg` decodes to the link; the share's DICOMweb
//! reaches that study and nothing else; revocation, expiry, the PIN and
//! its lock; every access in the audit trail.

mod common;

use std::path::Path;
use std::time::Duration;

use common::{filmless, http, ScratchPg, ServerProcess};
use serde_json::Value;

/// Import a CT of `slices` slices; its Study Instance UID.
fn ct(dir: &Path, args: &[&str], seed: u64, slices: u32) -> String {
    let (plan, instances) = filmless_test_data::ct_series_sized(seed, slices, (64, 64));
    let files = dir.join(format!("ct{seed}"));
    common::write_files(&files, &instances);
    let out = filmless()
        .args(["import", "--data-dir"])
        .arg(dir)
        .args(args)
        .arg(&files)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    plan.study_instance_uid
}

/// `filmless audit` until `wanted` shows (events are written in batches).
fn audit(dir: &Path, args: &[&str], actor: &str, wanted: &[&str]) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let out = filmless()
            .args(["audit", "--data-dir"])
            .arg(dir)
            .args(args)
            .args(["--actor", actor])
            .output()
            .unwrap();
        let trail = String::from_utf8_lossy(&out.stdout).into_owned();
        if wanted.iter().all(|w| trail.contains(w)) {
            return trail;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{wanted:?} in:\n{trail}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn json(r: (u16, Vec<(String, String)>, Vec<u8>)) -> (u16, Value) {
    (r.0, serde_json::from_slice(&r.2).unwrap_or(Value::Null))
}

/// The path part of a share's URL (`/s/TOKEN`).
fn path_of(url: &str) -> String {
    url.find("/s/").map(|at| url[at..].to_owned()).unwrap()
}

fn create(server: &ServerProcess, study: &str, pin: bool) -> Value {
    let body = serde_json::json!({"study": study, "expires_in_days": 30, "pin": pin}).to_string();
    let (status, v) = json(http(
        &server.http,
        "POST",
        "/api/shares",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    ));
    assert_eq!(status, 201, "{v}");
    v
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn shares_work(database_url: Option<&str>, browser: bool) {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec![];
    let url_arg;
    if let Some(u) = database_url {
        url_arg = u.to_owned();
        args.extend(["--database-url", url_arg.as_str()]);
    }
    let study = ct(dir.path(), &args, 21, if browser { 500 } else { 20 });
    let other = ct(dir.path(), &args, 22, 3);
    if !browser {
        // The radiologist's structured report, in the shared study.
        let mut sr =
            dicom_object::open_file(common::pydicom_samples().join("test-SR.dcm")).unwrap();
        sr.put(dicom_core::DataElement::new(
            dicom_dictionary_std::tags::STUDY_INSTANCE_UID,
            dicom_core::VR::UI,
            dicom_core::PrimitiveValue::from(study.as_str()),
        ));
        let path = dir.path().join("sr.dcm");
        sr.write_to_file(&path).unwrap();
        let out = filmless()
            .args(["import", "--data-dir"])
            .arg(dir.path())
            .args(&args)
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let server = ServerProcess::start(dir.path(), &args, &[]);
    let share = create(&server, &study, false);
    let (id, url) = (
        share["id"].as_i64().unwrap(),
        share["url"].as_str().unwrap().to_owned(),
    );
    let token = url.rsplit('/').next().unwrap().to_owned();
    assert!(token.len() >= 43, "256 bits: {token}");
    assert!(share["pin"].is_null());
    let base = path_of(&url);

    // The page, with its headers.
    let (status, headers, body) = http(&server.http, "GET", &base, &[], b"");
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "cache-control"), Some("no-store"));
    assert_eq!(header(&headers, "referrer-policy"), Some("no-referrer"));
    assert_eq!(header(&headers, "x-robots-tag"), Some("noindex"));
    assert_eq!(header(&headers, "x-content-type-options"), Some("nosniff"));
    assert!(
        header(&headers, "content-security-policy").is_some_and(|c| c
            .contains("script-src 'sha256-")
            && c.contains("frame-ancestors 'none'")),
        "{headers:?}"
    );
    let page = String::from_utf8_lossy(&body).into_owned();
    assert!(page.contains(&study));
    if !browser {
        assert!(
            page.contains("Diagnosis")
                && page.contains("A mass of")
                && page.contains("was detected"),
            "the report on the page: {page}"
        );
    }

    // Its DICOMweb: that study, nothing else.
    let (status, found) = json(http(
        &server.http,
        "GET",
        &format!("{base}/dicom-web/studies"),
        &[],
        b"",
    ));
    assert_eq!(status, 200);
    assert_eq!(found.as_array().unwrap().len(), 1, "{found}");
    assert_eq!(found[0]["0020000D"]["Value"][0], study.as_str());
    let (_, found) = json(http(
        &server.http,
        "GET",
        &format!("{base}/dicom-web/studies?StudyInstanceUID={other}"),
        &[],
        b"",
    ));
    assert!(
        found.as_array().is_none_or(|a| a
            .iter()
            .all(|s| s["0020000D"]["Value"][0] == study.as_str())),
        "a search never shows another study: {found}"
    );
    for path in [
        format!("{base}/dicom-web/studies/{other}/metadata"),
        format!("{base}/dicom-web/studies/{other}"),
        format!("{base}/dicom-web/workitems"),
        format!("{base}/dicom-web/../../api/shares"),
    ] {
        let (status, _, _) = http(&server.http, "GET", &path, &[], b"");
        assert_eq!(status, 404, "{path}");
    }
    let (status, _, _) = http(
        &server.http,
        "POST",
        &format!("{base}/dicom-web/studies"),
        &[("Content-Type", "application/dicom")],
        b"x",
    );
    assert!(
        status == 404 || status == 405,
        "no upload through a share: {status}"
    );
    let (status, _, _) = http(
        &server.http,
        "DELETE",
        &format!("{base}/dicom-web/studies/{study}"),
        &[],
        b"",
    );
    assert!(
        status == 404 || status == 405,
        "no delete through a share: {status}"
    );
    let (status, _, meta) = http(
        &server.http,
        "GET",
        &format!("{base}/dicom-web/studies/{study}/metadata"),
        &[],
        b"",
    );
    assert_eq!(status, 200);
    // Its URLs stay within the share (another client can follow them).
    let meta = String::from_utf8_lossy(&meta);
    assert!(
        meta.contains(&format!("{base}/dicom-web/studies/{study}")),
        "BulkDataURI within the share"
    );
    assert!(
        !meta.contains(&format!("{}/dicom-web/", server.http)),
        "none to the staff's /dicom-web"
    );
    let (_, found) = json(http(
        &server.http,
        "GET",
        &format!("{base}/dicom-web/studies"),
        &[],
        b"",
    ));
    assert!(
        found[0]["00081190"]["Value"][0]
            .as_str()
            .unwrap()
            .contains(&format!("{base}/dicom-web/studies/{study}")),
        "RetrieveURL within the share: {found}"
    );
    // Nobody else can claim to be within a share.
    let (_, staff) = json(http(
        &server.http,
        "GET",
        &format!("/dicom-web/studies?StudyInstanceUID={study}"),
        &[("x-filmless-share-prefix", "/s/forged")],
        b"",
    ));
    assert!(
        !staff.to_string().contains("/s/forged"),
        "the header is the server's own: {staff}"
    );
    let (status, headers, png) = http(
        &server.http,
        "GET",
        &format!("{base}/dicom-web/studies/{study}/thumbnail"),
        &[],
        b"",
    );
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "cache-control"), Some("no-store"));
    assert!(!png.is_empty());
    let (status, _, _) = http(
        &server.http,
        "GET",
        "/s/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        &[],
        b"",
    );
    assert_eq!(status, 404, "a guessed token");

    // The images as JPEGs, for people without a viewer.
    let (status, headers, zip) = http(&server.http, "GET", &format!("{base}/images.zip"), &[], b"");
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), Some("application/zip"));
    let zpath = dir.path().join("images.zip");
    std::fs::write(&zpath, &zip).unwrap();
    let out = common::python()
        .args([
            "-c",
            "import sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; \
             n=z.namelist(); print(len(n), n[0], z.read(n[0])[:2].hex())",
        ])
        .arg(&zpath)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&out.stdout);
    let slices = if browser { 500 } else { 20 };
    assert_eq!(
        listed.trim(),
        format!("{slices} 0001.jpg ffd8"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // The QR code decodes to the link (zbarimg).
    let (status, _, png) = http(
        &server.http,
        "GET",
        &format!("/api/shares/{id}/qr.png?token={token}"),
        &[],
        b"",
    );
    assert_eq!(status, 200);
    let qr = dir.path().join("qr.png");
    std::fs::write(&qr, &png).unwrap();
    let out = std::process::Command::new("zbarimg")
        .args(["--raw", "-q"])
        .arg(&qr)
        .output()
        .expect("zbarimg (Debian zbar-tools; scripts/setup-test-deps installs it)");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), url);
    let (status, _, _) = http(
        &server.http,
        "GET",
        &format!("/api/shares/{id}/qr.svg?token=wrong"),
        &[],
        b"",
    );
    assert_eq!(status, 404, "the QR only for the share's own link");

    if browser {
        let slip = format!("http://{}/api/shares/{id}/slip?token={token}", server.http);
        let pdf = dir.path().join("slip.pdf");
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let out = std::process::Command::new("node")
            .arg(root.join("tests/browser/share.mjs"))
            .arg(format!("http://{}{base}", server.http))
            .arg(&slip)
            .arg(&pdf)
            .output()
            .expect("node");
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{said}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let r: Value = serde_json::from_str(said.lines().last().unwrap()).unwrap();
        assert_eq!(r["slices"], "1 / 500", "{r}");
        assert_ne!(r["after_scroll"], "1 / 500", "{r}");
        assert!(
            r["image_width"].as_f64().unwrap() >= 300.0,
            "the image fills the phone: {r}"
        );
        assert!(r["zip_bytes"].as_u64().unwrap() > 500 * 8192, "{r}");
        assert_eq!(r["pdf_pages"], 1, "the slip is one A5 page: {r}");
        // The full viewer, on this study only, through the share.
        if root.join("viewer-web/dist/index.html").exists() {
            let out = std::process::Command::new("node")
                .arg(root.join("tests/browser/share_ohif.mjs"))
                .arg(format!(
                    "http://{}/viewer?StudyInstanceUIDs={study}&share={token}",
                    server.http
                ))
                .output()
                .expect("node");
            let said = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "OHIF through the share: {said}{}",
                String::from_utf8_lossy(&out.stderr)
            );
        } else {
            panic!("the viewer is not installed: run viewer-web/setup.sh (scripts/test does)");
        }
        // The slip's QR decodes to the link too.
        let ok = std::process::Command::new("pdftoppm")
            .args(["-png", "-r", "150", "-singlefile"])
            .arg(&pdf)
            .arg(dir.path().join("slip"))
            .status()
            .expect("pdftoppm (Debian poppler-utils; scripts/setup-test-deps installs it)");
        assert!(ok.success());
        let out = std::process::Command::new("zbarimg")
            .args(["--raw", "-q"])
            .arg(dir.path().join("slip.png"))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            url,
            "the slip's QR"
        );
    }

    // Access is counted and audited.
    let (_, one) = json(http(
        &server.http,
        "GET",
        &format!("/api/shares/{id}"),
        &[],
        b"",
    ));
    assert!(one["access_count"].as_i64().unwrap() >= 1, "{one}");
    assert_eq!(one["state"], "active");
    let (_, list) = json(http(
        &server.http,
        "GET",
        &format!("/api/shares?study={study}"),
        &[],
        b"",
    ));
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");

    // Revoked: at once.
    let (status, _, _) = http(
        &server.http,
        "DELETE",
        &format!("/api/shares/{id}"),
        &[],
        b"",
    );
    assert_eq!(status, 204);
    let (status, _, body) = http(&server.http, "GET", &base, &[], b"");
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("Not found"));
    let (status, _, _) = http(
        &server.http,
        "GET",
        &format!("{base}/dicom-web/studies"),
        &[],
        b"",
    );
    assert_eq!(status, 404);

    // Expired.
    let out = filmless()
        .args(["share", "--data-dir"])
        .arg(dir.path())
        .args(&args)
        .args(["create", "--study", &study, "--expires", "2s"])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let short = said
        .lines()
        .find_map(|l| l.strip_prefix("url"))
        .map(|u| path_of(u.trim()))
        .unwrap();
    std::thread::sleep(Duration::from_millis(2500));
    let (status, _, body) = http(&server.http, "GET", &short, &[], b"");
    assert_eq!(status, 410);
    assert!(String::from_utf8_lossy(&body).contains("Expired"));

    // A PIN: needed, and five wrong ones lock the share.
    let with_pin = create(&server, &study, true);
    let pin = with_pin["pin"].as_str().unwrap().to_owned();
    assert_eq!(pin.len(), 6);
    let pinned = path_of(with_pin["url"].as_str().unwrap());
    let (status, _, body) = http(&server.http, "GET", &pinned, &[], b"");
    assert_eq!(status, 401);
    assert!(String::from_utf8_lossy(&body).contains("name=\"pin\""));
    let (status, _, _) = http(
        &server.http,
        "GET",
        &format!("{pinned}/dicom-web/studies"),
        &[],
        b"",
    );
    assert_eq!(status, 401, "no images without the PIN");
    let post_pin = |p: &str| {
        http(
            &server.http,
            "POST",
            &format!("{pinned}/pin"),
            &[("Content-Type", "application/x-www-form-urlencoded")],
            format!("pin={p}").as_bytes(),
        )
    };
    let (status, headers, _) = post_pin(&pin);
    assert_eq!(status, 303);
    let cookie = header(&headers, "set-cookie")
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let (status, _, _) = http(&server.http, "GET", &pinned, &[("Cookie", &cookie)], b"");
    assert_eq!(status, 200, "the right PIN opens it");
    let wrong = if pin == "000000" { "111111" } else { "000000" };
    for n in 0..4 {
        assert_eq!(post_pin(wrong).0, 401, "wrong PIN {n}");
    }
    assert_eq!(post_pin(wrong).0, 429, "the fifth wrong PIN locks");
    assert_eq!(post_pin(&pin).0, 429, "locked: even the right PIN waits");
    let (status, _, _) = http(&server.http, "GET", &pinned, &[("Cookie", &cookie)], b"");
    assert_eq!(status, 200, "a browser that gave the PIN before keeps it");

    // Wrong PINs sent all at once cannot get past the lock: at most four
    // are checked and answered "wrong" before it closes.
    let burst = create(&server, &study, true);
    let burst_path = path_of(burst["url"].as_str().unwrap());
    let burst_pin = burst["pin"].as_str().unwrap().to_owned();
    let wrong = if burst_pin == "000000" {
        "111111"
    } else {
        "000000"
    };
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|_| {
                s.spawn(|| {
                    http(
                        &server.http,
                        "POST",
                        &format!("{burst_path}/pin"),
                        &[("Content-Type", "application/x-www-form-urlencoded")],
                        format!("pin={wrong}").as_bytes(),
                    )
                    .0
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let checked = statuses.iter().filter(|s| **s == 401).count();
    assert!(checked <= 4, "{statuses:?}");
    assert_eq!(
        statuses.iter().filter(|s| **s == 429).count(),
        20 - checked,
        "{statuses:?}"
    );

    // The audit trail has every access.
    let pinned_actor = format!("share:{}", with_pin["id"]);
    audit(dir.path(), &args, &pinned_actor, &["wrong PIN", "opened"]);
    audit(
        dir.path(),
        &args,
        &format!("share:{id}"),
        &["share", "opened: page"],
    );
}

#[test]
fn shares_sqlite() {
    shares_work(None, true);
}

#[test]
fn shares_postgres() {
    let db = ScratchPg::new();
    shares_work(Some(&db.url), false);
}
