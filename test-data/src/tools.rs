//! Where the test suite finds the peers it talks to, without trusting PATH.
//!
//! `scripts/setup-test-deps` installs the Python peers (pynetdicom, moto's
//! S3 server, dicomweb-client) into a virtual environment of the project's
//! own, `$FILMLESS_TEST_ENV/venv` (default `~/.cache/filmless-test/venv`),
//! never into the machine's Python; pynetdicom's console scripts carry the
//! names of DCMTK's tools (`storescu`, `findscu`…) and must never stand
//! ahead of them on anyone's PATH. DCMTK is called by its Debian path.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The folder holding the project's test environments.
pub fn test_env_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("FILMLESS_TEST_ENV") {
        return PathBuf::from(dir);
    }
    let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
    Path::new(&home).join(".cache/filmless-test")
}

/// A program of the test virtual environment (`python`, `moto_server`…),
/// or a panic that says how to install it.
pub fn venv_bin(name: &str) -> PathBuf {
    let path = test_env_dir().join("venv/bin").join(name);
    assert!(
        path.exists(),
        "{} missing: run scripts/setup-test-deps (it installs the Python test peers into {})",
        path.display(),
        test_env_dir().join("venv").display()
    );
    path
}

/// The test virtual environment's Python (pynetdicom, dicomweb-client).
pub fn python() -> Command {
    Command::new(venv_bin("python"))
}

/// A DCMTK tool from Debian's package, by its full path.
pub fn dcmtk(tool: &str) -> Command {
    let path = format!("/usr/bin/{tool}");
    assert!(
        Path::new(&path).exists(),
        "{path} missing: install DCMTK (scripts/setup-test-deps does)"
    );
    let mut c = Command::new(path);
    // Debian's DCMTK leaves Nagle on unless told.
    c.env("TCP_NODELAY", "1");
    c
}
