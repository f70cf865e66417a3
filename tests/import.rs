//! `filmless import`, black box: the real binary on real files.

mod common;

use std::path::Path;

use common::{filmless, import, open_archive, pydicom_samples, summary, write_files};
use sha2::{Digest, Sha256};

/// pydicom files that are not storable instances, each for a reason the
/// report must give.
const NOT_STORABLE: &[(&str, &str)] = &[
    ("MR_truncated.dcm", "truncated"),
    ("rtplan_truncated.dcm", "truncated"),
    ("meta_missing_tsyntax.dcm", "Transfer Syntax"),
    ("README.txt", "not DICOM"),
    ("test1.json", "not DICOM"),
    ("zipMR.gz", "not DICOM"),
    ("dicomdirtests/DICOMDIR", "SOPClassUID"),
];

/// pydicom files that must be stored: every transfer syntax family.
const STORABLE: &[&str] = &[
    "CT_small.dcm",
    "MR_small.dcm",
    "MR_small_implicit.dcm",
    "MR_small_bigendian.dcm",
    "MR_small_RLE.dcm",
    "MR_small_jp2klossless.dcm",
    "MR_small_jpeg_ls_lossless.dcm",
    "JPEG-lossy.dcm",
    "JPEG2000.dcm",
    "SC_rgb_rle_2frame.dcm",
    "image_dfl.dcm",
    "ExplVR_LitEndNoMeta.dcm",
    "ExplVR_BigEndNoMeta.dcm",
    "waveform_ecg.dcm",
    "examples_ybr_color.dcm",
];

#[test]
fn pydicom_samples_are_stored_or_rejected_with_a_reason() {
    let samples = pydicom_samples();
    let data = tempfile::tempdir().unwrap();
    let out = import(data.path(), &[samples]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(1),
        "rejections make the exit status non-zero:\n{stdout}"
    );
    let [stored, present, replaced, kept, rejected] = summary(&out.stdout);
    // pydicom ships one instance in several encodings under one SOP
    // Instance UID: the first stored wins, the others are kept-existing.
    assert_eq!(replaced, 0, "{stdout}");
    assert!(kept >= 10, "{stdout}");
    let rejected_lines: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("rejected: "))
        .collect();
    assert_eq!(rejected_lines.len() as u64, rejected, "{stdout}");
    for (file, reason) in NOT_STORABLE {
        let path = samples.join(file);
        let line = rejected_lines
            .iter()
            .find(|l| l.starts_with(&format!("rejected: {}: ", path.display())))
            .unwrap_or_else(|| panic!("{file} not rejected:\n{stdout}"));
        assert!(
            line.contains(reason),
            "{file}: expected {reason:?} in {line}"
        );
    }
    for line in &rejected_lines {
        let reason = line.rsplit_once(": ").map(|(_, r)| r).unwrap_or("");
        assert!(reason.len() > 5, "every rejection names its reason: {line}");
    }
    for file in STORABLE {
        let path = samples.join(file);
        assert!(path.exists(), "{file} missing from the pydicom samples");
        assert!(
            !rejected_lines
                .iter()
                .any(|l| l.contains(&format!("{}: ", path.display()))),
            "{file} was rejected:\n{stdout}"
        );
    }
    assert!(stored >= 60, "{stdout}");

    // Second run: nothing new, everything valid already present.
    let again = import(data.path(), &[samples]);
    let [stored2, present2, _, kept2, rejected2] = summary(&again.stdout);
    assert_eq!(stored2, 0, "{}", String::from_utf8_lossy(&again.stdout));
    assert_eq!(present2 + kept2, stored + present + kept);
    assert_eq!(rejected2, rejected);

    // What was stored reads back: same count in the index.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let archive = open_archive(data.path()).await;
        assert_eq!(
            archive
                .index()
                .counts(storage::TenantScope::All)
                .await
                .unwrap()
                .instances as u64,
            stored
        );
        // A Part 10 file comes back byte-identical.
        let ct = std::fs::read(samples.join("CT_small.dcm")).unwrap();
        let sop = "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322";
        assert_eq!(
            archive
                .read_instance(&storage::TenantId::IMPLICIT, sop)
                .await
                .unwrap(),
            ct
        );
    });
}

#[test]
fn a_500_slice_ct_round_trips_byte_identical() {
    let files = tempfile::tempdir().unwrap();
    let (plan, instances) = filmless_test_data::ct_series(500, 500);
    let paths = write_files(files.path(), &instances);
    let data = tempfile::tempdir().unwrap();

    let out = import(data.path(), &[files.path()]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(summary(&out.stdout), [500, 0, 0, 0, 0], "{stdout}");

    let again = import(data.path(), &[files.path()]);
    assert!(again.status.success());
    assert_eq!(summary(&again.stdout), [0, 500, 0, 0, 0]);

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let archive = open_archive(data.path()).await;
        let s = archive
            .index()
            .study_summary(&storage::TenantId::IMPLICIT, &plan.study_instance_uid)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((s.series, s.instances), (1, 500));
        for (instance, path) in instances.iter().zip(&paths) {
            let back = archive
                .read_instance(&storage::TenantId::IMPLICIT, &instance.sop_instance_uid)
                .await
                .unwrap();
            assert!(
                back == std::fs::read(path).unwrap(),
                "{} differs",
                instance.sop_instance_uid
            );
        }
        // zstd at rest: the objects take less room than the files.
        let stored: u64 = futures::TryStreamExt::try_collect::<Vec<_>>(archive.blobs().list())
            .await
            .unwrap()
            .iter()
            .map(|(_, size)| size)
            .sum();
        let original: u64 = instances.iter().map(|i| i.bytes.len() as u64).sum();
        assert!(stored < original, "stored {stored} of {original}");
    });
}

/// Every index row has its blob, and the blob hashes to the row's SHA-256.
async fn check_no_row_without_blob(data_dir: &Path) -> usize {
    let archive = open_archive(data_dir).await;
    let mut after = 0;
    let mut rows = 0;
    loop {
        let page = archive.index().instances_after(after, 200).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.id;
        for i in &page {
            let bytes =
                archive.blobs().read(&i.blob).await.unwrap_or_else(|e| {
                    panic!("row {} has no readable blob: {e}", i.sop_instance_uid)
                });
            assert_eq!(
                hex::encode(Sha256::digest(&bytes)),
                i.sha256,
                "{}",
                i.sop_instance_uid
            );
            rows += 1;
        }
    }
    archive.index().close().await;
    rows
}

#[test]
fn sigkill_during_import_never_leaves_a_row_without_its_blob() {
    let files = tempfile::tempdir().unwrap();
    let corpus = filmless_test_data::Corpus::new(
        77,
        filmless_test_data::Options {
            ct_size: (256, 256),
            ..filmless_test_data::Options::small(60)
        },
    );
    let instances: Vec<_> = (0..10)
        .flat_map(|s| corpus.instances(&corpus.study(s)).collect::<Vec<_>>())
        .collect();
    write_files(files.path(), &instances);
    let rt = tokio::runtime::Runtime::new().unwrap();

    // How long a whole import takes here, to kill at fractions of it.
    let scratch = tempfile::tempdir().unwrap();
    let started = std::time::Instant::now();
    assert!(import(scratch.path(), &[files.path()]).status.success());
    let full = started.elapsed();

    let mut mid_import = 0;
    for fraction in [0.1, 0.3, 0.5, 0.7, 0.9] {
        let data = tempfile::tempdir().unwrap();
        let mut child = filmless()
            .arg("import")
            .arg("--data-dir")
            .arg(data.path())
            .arg(files.path())
            .stdout(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(full.mul_f64(fraction));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let rows = rt.block_on(check_no_row_without_blob(data.path()));
        eprintln!("killed at {fraction} of {full:?}: {rows} instances indexed, each with its blob");
        if rows > 0 && rows < instances.len() {
            mid_import += 1;
        }
        // The restart completes everything.
        let out = import(data.path(), &[files.path()]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        let [stored, present, ..] = summary(&out.stdout);
        assert_eq!(stored + present, instances.len() as u64);
        assert_eq!(present, rows as u64);
        assert_eq!(
            rt.block_on(check_no_row_without_blob(data.path())),
            instances.len()
        );
    }
    assert!(mid_import >= 2, "at least two kills landed mid-import");
}

#[test]
fn import_of_nothing_but_garbage_fails_clearly() {
    let files = tempfile::tempdir().unwrap();
    std::fs::write(files.path().join("notes.txt"), "patient list, not an image").unwrap();
    std::fs::write(files.path().join("empty.dcm"), b"").unwrap();
    let data = tempfile::tempdir().unwrap();
    let out = import(data.path(), &[files.path(), &files.path().join("missing")]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert_eq!(summary(&out.stdout), [0, 0, 0, 0, 3], "{stdout}");
    assert!(stdout.contains("missing: cannot read"), "{stdout}");
}

#[test]
fn check_finds_orphans_and_missing_blobs_and_repair_reindexes() {
    let files = tempfile::tempdir().unwrap();
    let corpus = filmless_test_data::Corpus::new(81, filmless_test_data::Options::small(4));
    let instances: Vec<_> = corpus.instances(&corpus.study(0)).collect();
    write_files(files.path(), &instances);
    let data = tempfile::tempdir().unwrap();
    assert!(import(data.path(), &[files.path()]).status.success());
    let check = |args: &[&str]| {
        filmless()
            .args(["check", "--grace-secs", "0", "--data-dir"])
            .arg(data.path())
            .args(args)
            .output()
            .unwrap()
    };
    let out = check(&["--verify"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout)
        .starts_with("4 instances, 4 blobs: 0 missing, 0 orphaned, 0 damaged"));

    // An index row lost (what a crash between blob and commit leaves), a
    // blob lost (what a broken disk leaves), and one damaged.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (orphan_sop, missing_key, damaged_key) = rt.block_on(async {
        let archive = open_archive(data.path()).await;
        let a = archive
            .instance(&storage::TenantId::IMPLICIT, &instances[0].sop_instance_uid)
            .await
            .unwrap();
        archive
            .index()
            .delete_instance(&storage::TenantId::IMPLICIT, &a.sop_instance_uid)
            .await
            .unwrap();
        let b = archive
            .instance(&storage::TenantId::IMPLICIT, &instances[1].sop_instance_uid)
            .await
            .unwrap();
        let c = archive
            .instance(&storage::TenantId::IMPLICIT, &instances[2].sop_instance_uid)
            .await
            .unwrap();
        archive.index().close().await;
        (a.sop_instance_uid, b.blob.key, c.blob.key)
    });
    std::fs::remove_file(data.path().join("objects").join(&missing_key)).unwrap();
    let damaged = data.path().join("objects").join(&damaged_key);
    let mut bytes = std::fs::read(&damaged).unwrap();
    bytes[0] ^= 0xFF;
    std::fs::write(&damaged, bytes).unwrap();

    let out = check(&["--verify"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("1 missing, 1 orphaned, 1 damaged"),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "missing blob: instance {}",
            instances[1].sop_instance_uid
        )),
        "{stdout}"
    );

    // Repair puts the orphan back; the lost and damaged ones stay reported.
    let out = check(&["--repair"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("re-indexed 1, removed 0"));
    rt.block_on(async {
        let archive = open_archive(data.path()).await;
        let back = archive
            .read_instance(&storage::TenantId::IMPLICIT, &orphan_sop)
            .await
            .unwrap();
        assert_eq!(back, instances[0].bytes);
    });
    let out = check(&[]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("1 missing, 0 orphaned"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
