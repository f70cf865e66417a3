//! Helpers for black-box tests of the `filmless` binary.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// The built `filmless` binary.
pub fn filmless() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_filmless"));
    // Tests must not pick up a developer's settings.
    for (k, _) in std::env::vars() {
        if k.starts_with("FILMLESS_") && k != "FILMLESS_TEST_POSTGRES_URL" {
            c.env_remove(k);
        }
    }
    c
}

/// Run `filmless import --data-dir DIR PATHS...`.
pub fn import(data_dir: &Path, paths: &[&Path]) -> Output {
    filmless()
        .arg("import")
        .arg("--data-dir")
        .arg(data_dir)
        .args(paths)
        .output()
        .expect("run filmless import")
}

/// The pydicom sample files, extracted by test-data/fetch-pydicom.sh
/// (run here when missing).
pub fn pydicom_samples() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("test-data");
        let status = Command::new("bash")
            .arg(root.join("fetch-pydicom.sh"))
            .status()
            .expect("run test-data/fetch-pydicom.sh");
        assert!(status.success(), "test-data/fetch-pydicom.sh failed");
        root.join("pydicom")
    })
}

/// Write instances as files under `dir`; returns their paths.
pub fn write_files(dir: &Path, instances: &[filmless_test_data::Instance]) -> Vec<PathBuf> {
    std::fs::create_dir_all(dir).unwrap();
    instances
        .iter()
        .enumerate()
        .map(|(n, i)| {
            let p = dir.join(format!("{n:05}.dcm"));
            std::fs::write(&p, &i.bytes).unwrap();
            p
        })
        .collect()
}

/// The numbers of the summary line: stored, already present, replaced,
/// kept existing, rejected.
pub fn summary(stdout: &[u8]) -> [u64; 5] {
    let text = String::from_utf8_lossy(stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("stored "))
        .unwrap_or_else(|| panic!("no summary in:\n{text}"));
    let mut out = [0u64; 5];
    for (slot, key) in out.iter_mut().zip([
        "stored ",
        "already present ",
        "replaced ",
        "kept existing ",
        "rejected ",
    ]) {
        let at = line
            .find(key)
            .unwrap_or_else(|| panic!("{key} missing from {line}"))
            + key.len();
        *slot = line[at..]
            .split(|c: char| !c.is_ascii_digit())
            .next()
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("bad number after {key} in {line}"));
    }
    out
}

/// Open the archive a `--data-dir` run used.
pub async fn open_archive(data_dir: &Path) -> storage::Archive {
    let config = storage::ArchiveConfig {
        object_store_url: format!("file://{}", data_dir.join("objects").display()),
        database_url: format!("sqlite://{}", data_dir.join("index.db").display()),
        ..Default::default()
    };
    storage::Archive::open(&config).await.expect("open archive")
}
