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

/// `filmless import --data-dir DIR ARGS PATH`, which must succeed.
pub fn import_ok(data_dir: &Path, args: &[&str], path: &Path) {
    let out = filmless()
        .args(["import", "--data-dir"])
        .arg(data_dir)
        .args(args)
        .arg(path)
        .output()
        .expect("run filmless import");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `node tests/browser/SCRIPT ARGS`, which must succeed; the JSON of its
/// last line.
pub fn node_json(script: &str, args: &[&str]) -> serde_json::Value {
    let out = Command::new("node")
        .arg(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/browser")
                .join(script),
        )
        .args(args)
        .output()
        .expect("node");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{script}: {said}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(said.lines().last().unwrap_or_default()).expect("JSON")
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

/// A `filmless serve` process on loopback ports; killed when dropped.
pub struct ServerProcess {
    /// `127.0.0.1:PORT` of HTTP.
    pub http: String,
    /// DICOM port.
    pub dicom_port: u16,
    /// DICOM TLS port, when `dicom.tls_bind` is set.
    pub dicom_tls_port: Option<u16>,
    child: std::process::Child,
    /// The server's log lines after start-up (JSON), collected in the background.
    pub log: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl ServerProcess {
    /// Start `filmless serve --data-dir DIR` on free loopback ports, with
    /// extra arguments and environment.
    pub fn start(data_dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        use std::io::BufRead;
        let mut cmd = filmless();
        cmd.args([
            "serve",
            "--http-bind",
            "127.0.0.1:0",
            "--dicom-bind",
            "127.0.0.1:0",
            "--data-dir",
        ])
        .arg(data_dir)
        .args(args)
        .env("FILMLESS_LOG__FORMAT", "json")
        .stderr(std::process::Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start filmless serve");
        let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let (http, dicom, dicom_tls) = loop {
            assert!(
                std::time::Instant::now() < deadline,
                "server did not report its addresses"
            );
            let line = match lines.next() {
                Some(Ok(l)) => l,
                _ => panic!("server exited during start-up"),
            };
            let v: serde_json::Value = match serde_json::from_str(&line) {
                Ok(v) => v,
                Err(_) => continue,
            };
            if v["fields"]["message"] == "serving" {
                break (
                    v["fields"]["http"].as_str().unwrap().to_owned(),
                    v["fields"]["dicom"].as_str().unwrap().to_owned(),
                    v["fields"]["dicom_tls"]
                        .as_str()
                        .and_then(|a| a.rsplit(':').next())
                        .and_then(|p| p.parse().ok()),
                );
            }
        };
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        let dicom_port = dicom.rsplit(':').next().unwrap().parse().unwrap();
        ServerProcess {
            http,
            dicom_port,
            dicom_tls_port: dicom_tls,
            child,
            log,
        }
    }

    /// SIGTERM, then wait for the exit (panics after `within`).
    pub fn terminate(&mut self, within: std::time::Duration) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                return s;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "server did not stop on SIGTERM"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }

    /// Send SIGTERM and return at once.
    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// The process ID.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Resident memory now (VmRSS), in KiB.
    pub fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse().ok())
            })
            .unwrap_or(0)
    }

    /// Whether a log line contains `text`, waiting up to 10 s for it: the
    /// server writes its log after it answers, and a reader thread collects
    /// it, so a line can arrive a moment after the reply the test saw.
    pub fn logged(&self, text: &str) -> bool {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            if self.log.lock().unwrap().iter().any(|l| l.contains(text)) {
                return true;
            }
            if std::time::Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A failing test shows what the server said last (CI keeps only
        // the test's output).
        if std::thread::panicking() {
            std::thread::sleep(std::time::Duration::from_millis(200));
            // A panic while formatting the log poisoned it: read it anyway.
            let log = self
                .log
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let from = log.len().saturating_sub(150);
            eprintln!("---- the server's last {} log lines ----", log.len() - from);
            for line in &log[from..] {
                eprintln!("{line}");
            }
        }
    }
}

/// A free TCP port on loopback.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[allow(unused_imports)] // each test binary uses some of them
pub use filmless_test_data::tools::{dcmtk, python};

/// A child process killed when dropped (peers started by tests).
pub struct Peer(pub std::process::Child);

impl Drop for Peer {
    fn drop(&mut self) {
        // SIGTERM, which `timeout` passes on to the peer it runs.
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let _ = self.0.wait();
    }
}

/// DCMTK `storescp` on `port` writing to `dir`, accepting every transfer
/// syntax it knows. Stops when dropped, or by itself after 10 minutes.
pub fn storescp(ae: &str, port: u16, dir: &Path) -> Peer {
    storescp_with(ae, port, dir, "+xa")
}

/// DCMTK `storescp` with one transfer syntax option (`+x=`: uncompressed only).
pub fn storescp_with(ae: &str, port: u16, dir: &Path, syntaxes: &str) -> Peer {
    std::fs::create_dir_all(dir).unwrap();
    assert!(Path::new("/usr/bin/storescp").exists(), "install DCMTK");
    let child = Command::new("timeout")
        .args(["600", "/usr/bin/storescp", "-aet", ae, syntaxes, "-od"])
        .arg(dir)
        .arg(port.to_string())
        .env("TCP_NODELAY", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start storescp");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "storescp did not start"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Peer(child)
}

/// The pixel data of a Part 10 file, as values: native bytes, or the
/// fragments of encapsulated data. What must arrive unchanged through any
/// transfer that keeps the transfer syntax (a writer may re-encode the rest).
pub fn pixel_data(bytes: &[u8]) -> Vec<Vec<u8>> {
    use dicom_core::value::Value;
    let preamble = if bytes.get(128..132) == Some(b"DICM") {
        128
    } else {
        0
    };
    let obj = dicom_object::from_reader(&bytes[preamble..]).expect("a Part 10 file");
    let element = obj
        .element(dicom_dictionary_std::tags::PIXEL_DATA)
        .expect("pixel data");
    match element.value() {
        Value::PixelSequence(seq) => seq.fragments().iter().map(|f| f.to_vec()).collect(),
        _ => {
            let mut v = element.to_bytes().expect("native pixel data").to_vec();
            // Odd lengths are padded to even on the wire.
            if v.len() % 2 == 1 {
                v.push(0);
            }
            vec![v]
        }
    }
}

/// A minimal HTTP/1.1 exchange over a fresh connection: status, headers
/// (lower-case names), body.
pub fn http(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .unwrap();
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("HTTP head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let hdrs: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if hdrs
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
    {
        body = dechunk(&body);
    }
    (status, hdrs, body)
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = b.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + size]);
        b = &b[eol + 2 + size + 2..];
    }
    out
}

/// A PostgreSQL database for one server process, dropped with it. The
/// server is `FILMLESS_TEST_POSTGRES_URL` (default
/// `postgres://postgres@127.0.0.1:5432/test`).
pub struct ScratchPg {
    /// `postgres://…/NAME`.
    pub url: String,
    name: String,
    admin: String,
}

impl ScratchPg {
    /// Create a fresh database.
    pub fn new() -> Self {
        use sqlx::{Connection, Executor};
        let admin = std::env::var("FILMLESS_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
        let name = format!(
            "filmless_it_{}_{:x}",
            std::process::id(),
            rand::random::<u32>()
        );
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let mut conn = sqlx::PgConnection::connect(&admin)
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL is not reachable at {admin} ({e})"));
            conn.execute(format!("CREATE DATABASE {name}").as_str())
                .await
                .expect("create scratch database");
            conn.close().await.ok();
        });
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        ScratchPg {
            url: format!("{base}/{name}"),
            name,
            admin,
        }
    }
}

impl Drop for ScratchPg {
    fn drop(&mut self) {
        use sqlx::{Connection, Executor};
        let (admin, name) = (self.admin.clone(), self.name.clone());
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin).await.ok()?;
                conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                    .await
                    .ok()
            })
        })
        .join();
    }
}

/// Add a local user with `filmless user add` (password on stdin).
pub fn add_user(config: &Path, name: &str, roles: &str, tenant: Option<&str>, password: &str) {
    add_user_in("--config", config, name, roles, tenant, password);
}

/// [`add_user`] for the archive `place` names: `--config FILE` or
/// `--data-dir DIR`.
pub fn add_user_in(
    flag: &str,
    place: &Path,
    name: &str,
    roles: &str,
    tenant: Option<&str>,
    password: &str,
) {
    use std::io::Write;
    let mut cmd = filmless();
    cmd.args([
        "user",
        "add",
        name,
        "--roles",
        roles,
        "--password-stdin",
        flag,
    ])
    .arg(place);
    if let Some(t) = tenant {
        cmd.args(["--tenant", t]);
    }
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "user add {name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `Authorization: Basic …` for a user.
pub fn basic(user: &str, password: &str) -> String {
    use base64::Engine as _;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    )
}

/// A multipart/related STOW-RS body of one instance, boundary `XYZ`.
pub fn stow_body(bytes: &[u8]) -> Vec<u8> {
    let mut body = b"--XYZ\r\nContent-Type: application/dicom\r\n\r\n".to_vec();
    body.extend_from_slice(bytes);
    body.extend_from_slice(b"\r\n--XYZ--\r\n");
    body
}

/// The Content-Type of [`stow_body`].
pub const STOW_TYPE: &str = "multipart/related; type=\"application/dicom\"; boundary=XYZ";

/// The parts of a multipart/related body.
pub fn multipart_parts(mut body: &[u8]) -> Vec<Vec<u8>> {
    // A body may open with an empty line before the first boundary.
    while let Some(rest) = body.strip_prefix(b"\r\n") {
        body = rest;
    }
    let text_end = body.windows(2).position(|w| w == b"\r\n").unwrap_or(0);
    let boundary = body[..text_end].to_vec();
    let mut out = Vec::new();
    let mut rest = &body[text_end + 2..];
    while let Some(head_end) = rest.windows(4).position(|w| w == b"\r\n\r\n") {
        let data = &rest[head_end + 4..];
        let Some(next) = data
            .windows(boundary.len() + 2)
            .position(|w| &w[..2] == b"\r\n" && w[2..] == boundary[..])
        else {
            break;
        };
        out.push(data[..next].to_vec());
        rest = &data[next + 2 + boundary.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        rest = &rest[2..];
    }
    out
}
