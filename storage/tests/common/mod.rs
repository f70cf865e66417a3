//! Real back-ends for the conformance suites: a scratch SQLite file, a
//! scratch PostgreSQL database on 127.0.0.1:5432, and moto's S3 server on
//! a free loopback port. Nothing here is mocked.
//!
//! `FILMLESS_TEST_POSTGRES_URL` names the PostgreSQL server (default
//! `postgres://postgres@127.0.0.1:5432/test`); each test gets a database of
//! its own, dropped when the test ends.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sqlx::{Connection, Executor, PgConnection};
use storage::{CompressionKind, Index, IndexOptions, S3Options};

/// The PostgreSQL server tests use.
pub fn postgres_admin_url() -> String {
    std::env::var("FILMLESS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A database that exists for one test.
pub struct ScratchDb {
    /// Its URL.
    pub url: String,
    name: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

impl ScratchDb {
    /// A fresh SQLite file.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("index.db").display());
        ScratchDb {
            url,
            name: None,
            _dir: Some(dir),
        }
    }

    /// A fresh PostgreSQL database on the test server.
    pub async fn postgres() -> Self {
        let admin = postgres_admin_url();
        let name = format!(
            "filmless_t_{}_{:x}",
            std::process::id(),
            rand::random::<u64>()
        );
        let mut conn = PgConnection::connect(&admin).await.unwrap_or_else(|e| {
            panic!(
                "PostgreSQL is not reachable at {admin} ({e}); start it with \
                 `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`"
            )
        });
        conn.execute(format!("CREATE DATABASE {name}").as_str())
            .await
            .expect("create scratch database");
        conn.close().await.ok();
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        ScratchDb {
            url: format!("{base}/{name}"),
            name: Some(name),
            _dir: None,
        }
    }

    /// Open an index on it.
    pub async fn index(&self) -> Index {
        Index::connect(&IndexOptions {
            url: self.url.clone(),
            max_connections: 8,
            sqlite_synchronous_full: false,
        })
        .await
        .expect("connect index")
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        if let Some(name) = self.name.take() {
            // Drop the database from a separate thread with its own runtime:
            // Drop may run inside a test's runtime, which cannot block.
            let admin = postgres_admin_url();
            let _ = std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?;
                rt.block_on(async {
                    let mut conn = PgConnection::connect(&admin).await.ok()?;
                    conn.execute(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)").as_str())
                        .await
                        .ok()
                })
            })
            .join();
        }
    }
}

/// moto's S3 server, started once per test binary on a free loopback port.
/// It stops by itself when the test process ends (a watcher shell polls
/// our PID) or after 30 minutes at most.
pub struct Moto {
    /// `http://127.0.0.1:PORT`.
    pub endpoint: String,
    _child: Child,
}

static MOTO: OnceLock<Moto> = OnceLock::new();

/// The shared moto server.
pub fn moto() -> &'static Moto {
    MOTO.get_or_init(|| {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let moto_server = filmless_test_data::tools::venv_bin("moto_server");
        let script = r#"timeout 1800 "$3" -H 127.0.0.1 -p "$1" >/dev/null 2>&1 & m=$!
while kill -0 "$2" 2>/dev/null && kill -0 "$m" 2>/dev/null; do sleep 1; done
kill "$m" 2>/dev/null"#;
        let child = Command::new("sh")
            .args(["-c", script, "sh", &port.to_string(), &std::process::id().to_string()])
            .arg(&moto_server)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn moto_server");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not start on port {port}; is it installed? (scripts/setup-test-deps)"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            endpoint: format!("http://127.0.0.1:{port}"),
            _child: child,
        }
    })
}

impl Moto {
    /// Create a bucket (S3 CreateBucket, path style; moto does not check
    /// signatures) and return S3 settings for it.
    pub fn bucket(&self, name: &str) -> S3Options {
        let host = self.endpoint.trim_start_matches("http://");
        let mut s = TcpStream::connect(host).expect("connect moto");
        write!(s, "PUT /{name} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            .expect("send CreateBucket");
        let mut reply = String::new();
        s.read_to_string(&mut reply).ok();
        assert!(
            reply.starts_with("HTTP/1.1 200"),
            "CreateBucket failed: {reply}"
        );
        S3Options {
            endpoint: Some(self.endpoint.clone()),
            region: Some("us-east-1".into()),
            access_key_id: Some("testing".into()),
            secret_access_key: Some("testing".into()),
            path_style: Some(true),
        }
    }
}

/// A fresh bucket name.
pub fn bucket_name() -> String {
    format!("filmless-{:x}", rand::random::<u64>())
}

/// The object store URL and settings of each blob back-end.
pub fn blob_backend(kind: &str, dir: &std::path::Path) -> (String, S3Options) {
    match kind {
        "memory" => ("memory://".to_owned(), S3Options::default()),
        "file" => (
            format!("file://{}", dir.join("objects").display()),
            S3Options::default(),
        ),
        "s3" => {
            let name = bucket_name();
            let options = moto().bucket(&name);
            (format!("s3://{name}/archive"), options)
        }
        other => panic!("unknown blob back-end {other}"),
    }
}

/// Both compressions, for suites that run with each.
pub const COMPRESSIONS: [CompressionKind; 2] = [CompressionKind::Zstd, CompressionKind::None];
