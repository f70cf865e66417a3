//! The OHIF viewer served at `/`, in a real browser (Debian's chromium
//! driven by playwright-core): a CT study sent by C-STORE shows up in the
//! study list, opens, and renders.

mod common;

use std::path::Path;
use std::process::Command;

use common::{dcmtk, write_files, ServerProcess};

#[test]
fn a_ct_sent_by_c_store_shows_up_in_ohif_and_renders() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    assert!(
        root.join("viewer-web/dist/index.html").exists(),
        "the viewer is not installed: run viewer-web/setup.sh (scripts/test does)"
    );
    assert!(
        root.join("tests/browser/node_modules/playwright-core")
            .exists(),
        "playwright-core missing: npm ci in tests/browser (scripts/setup-test-deps does)"
    );
    let data = tempfile::tempdir().unwrap();
    let site = "Bệnh viện Hữu nghị Việt Đức";
    let server = ServerProcess::start(data.path(), &[], &[("FILMLESS_SITE__NAME", site)]);
    let corpus = filmless_test_data::Corpus::new(71, filmless_test_data::Options::small(12));
    let ct = corpus.study(0);
    let files = tempfile::tempdir().unwrap();
    write_files(files.path(), &corpus.instances(&ct).collect::<Vec<_>>());
    let out = dcmtk("storescu")
        .args([
            "-aec",
            "FILMLESS",
            "+sd",
            "+r",
            "127.0.0.1",
            &server.dicom_port.to_string(),
        ])
        .arg(files.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let screenshot = Path::new(env!("CARGO_TARGET_TMPDIR")).join("ohif-ct-study.png");
    let family = ct.patient.name.split('^').next().unwrap();
    let out = Command::new("node")
        .arg(root.join("tests/browser/ohif.mjs"))
        .arg(format!("http://{}", server.http))
        .args([family, &ct.description, "12"])
        .arg(&screenshot)
        .output()
        .expect("node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    eprintln!("screenshot kept at {}", screenshot.display());
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let r: serde_json::Value = serde_json::from_str(stdout.lines().last().unwrap()).unwrap();
    assert_eq!(r["foundInList"], true, "{r}");
    assert_eq!(r["imageCount"], "12", "{r}");
    assert!(r["brightFraction"].as_f64().unwrap() > 0.05, "{r}");
    assert_eq!(r["tourSteps"], 0, "no first-run tour: {r}");
    assert_eq!(
        r["investigationalDialog"], 0,
        "no investigational-use dialog: {r}"
    );
    // The facility's name in both headers; the console a click away from
    // the viewer, and the study list a click away from the console.
    assert!(r["listSite"].as_str().unwrap().contains(site), "{r}");
    assert!(r["viewerSite"].as_str().unwrap().contains(site), "{r}");
    assert_eq!(r["consoleUrl"], "/admin", "{r}");
    assert!(
        server.logged("viewer error: Uncaught Error: filmless-viewer-test-error"),
        "the viewer's error in the server's log"
    );
    assert!(r["consoleLinksBack"].as_u64().unwrap() >= 1, "{r}");
    assert!(screenshot.exists());
}
