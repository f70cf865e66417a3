//! Nothing acknowledged is ever lost: the server is SIGKILLed at random
//! moments while two C-STORE associations and two STOW-RS clients store
//! at once, then restarted, 20 times, on SQLite, on PostgreSQL, and with
//! objects on S3 (moto) behind the spool. Every
//! instance that got a success status must come back byte-identical, and
//! no index row may lack its object.

mod common;
#[path = "../storage/tests/common/mod.rs"]
mod storage_common;

use std::time::Duration;

use common::ServerProcess;
use dicom_net::scu::{ScuAssociation, ScuOptions};
use dicom_net::Status;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KILLS: u64 = 20;
const CT: &str = "1.2.840.10008.5.1.4.1.1.2";
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";

/// An acknowledged instance: its UID and the SHA-256 of what must come
/// back (the whole file for STOW-RS, the data set for C-STORE).
struct Acked {
    sop: String,
    sha256: String,
    whole_file: bool,
}

async fn c_store_writer(port: u16, files: Vec<filmless_test_data::Instance>) -> Vec<Acked> {
    let mut acked = Vec::new();
    let Ok(mut assoc) = ScuAssociation::connect(
        &ScuOptions {
            calling_ae: "CT01".into(),
            called_ae: "FILMLESS".into(),
            addr: ([127, 0, 0, 1], port).into(),
            max_pdu_length: 16_384,
            timeout: Duration::from_secs(20),
        },
        &[(CT.to_owned(), vec![EXPLICIT_LE.to_owned()])],
    )
    .await
    else {
        return acked;
    };
    let pc = assoc.accepted().into_iter().next().expect("context");
    for f in files {
        let (start, _) = dicom_net::retrieve::data_set_start(&f.bytes).expect("part 10");
        let data = &f.bytes[start..];
        match assoc.store(&pc, &f.sop_instance_uid, data, None).await {
            Ok(r) if r.status == Status::SUCCESS => acked.push(Acked {
                sop: f.sop_instance_uid.clone(),
                sha256: hex::encode(Sha256::digest(data)),
                whole_file: false,
            }),
            _ => break,
        }
    }
    acked
}

/// One STOW-RS request per instance, over a fresh connection; `None` on
/// any error (the server died).
async fn stow_one(addr: &str, bytes: &[u8]) -> Option<u16> {
    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
    let mut body = b"--B\r\nContent-Type: application/dicom\r\n\r\n".to_vec();
    body.extend_from_slice(bytes);
    body.extend_from_slice(b"\r\n--B--\r\n");
    let head = format!(
        "POST /dicom-web/studies HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\
         Content-Type: multipart/related; type=\"application/dicom\"; boundary=B\r\n\
         Content-Length: {}\r\n\r\n",
        body.len()
    );
    s.write_all(head.as_bytes()).await.ok()?;
    s.write_all(&body).await.ok()?;
    let mut reply = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut reply))
        .await
        .ok()?
        .ok()?;
    let line = String::from_utf8_lossy(&reply[..reply.len().min(16)]).into_owned();
    line.split(' ').nth(1)?.parse().ok()
}

async fn stow_writer(addr: String, files: Vec<filmless_test_data::Instance>) -> Vec<Acked> {
    let mut acked = Vec::new();
    for f in files {
        match stow_one(&addr, &f.bytes).await {
            Some(200) => acked.push(Acked {
                sop: f.sop_instance_uid.clone(),
                sha256: hex::encode(Sha256::digest(&f.bytes)),
                whole_file: true,
            }),
            _ => break,
        }
    }
    acked
}

/// S3 (moto) behind the spool, for the S3 variant.
struct S3Target {
    url: String,
    options: storage::S3Options,
    env: Vec<(String, String)>,
}

impl S3Target {
    fn new() -> Self {
        let bucket = storage_common::bucket_name();
        let options = storage_common::moto().bucket(&bucket);
        let url = format!("s3://{bucket}/archive");
        let endpoint = options.endpoint.clone().unwrap();
        let env = [
            ("FILMLESS_STORAGE__OBJECT_STORE_URL", url.as_str()),
            ("FILMLESS_STORAGE__S3__ENDPOINT", endpoint.as_str()),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_REGION", "us-east-1"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .to_vec();
        S3Target { url, options, env }
    }
}

async fn kill_repeatedly(database_url: Option<String>, s3: Option<S3Target>) {
    let data = tempfile::tempdir().unwrap();
    let mut args: Vec<String> = Vec::new();
    if let Some(url) = &database_url {
        args.extend(["--database-url".to_owned(), url.clone()]);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let env: Vec<(&str, &str)> = s3
        .iter()
        .flat_map(|s| s.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .collect();
    let mut acked: Vec<Acked> = Vec::new();
    for round in 0..KILLS {
        let server = ServerProcess::start(data.path(), &args, &env);
        let mut writers = tokio::task::JoinSet::new();
        for w in 0..4u64 {
            let (_, files) =
                filmless_test_data::ct_series_sized(10_000 + round * 10 + w, 400, (64, 64));
            if w < 2 {
                writers.spawn(c_store_writer(server.dicom_port, files));
            } else {
                writers.spawn(stow_writer(server.http.clone(), files));
            }
        }
        // Kill at a random moment while they store.
        let wait = 150 + rand::random::<u64>() % 900;
        tokio::time::sleep(Duration::from_millis(wait)).await;
        drop(server); // SIGKILL
        while let Some(r) = writers.join_next().await {
            acked.extend(r.expect("writer"));
        }
    }
    assert!(
        acked.len() > 50,
        "the writers stored too little to test anything: {}",
        acked.len()
    );

    let spool = data.path().join("spool");
    let spooled_after_kills = walk_files(&spool);
    // One more start after the last kill: the server comes back, takes one
    // more study and stops cleanly, which writes its audit trail. On S3 it
    // also resumes the uploads the kills interrupted: wait until the spool
    // is empty, then read from S3 alone.
    {
        let mut server = ServerProcess::start(data.path(), &args, &env);
        let (_, files) = filmless_test_data::ct_series_sized(20_000, 3, (64, 64));
        let stored = stow_writer(server.http.clone(), files).await;
        assert_eq!(stored.len(), 3, "the server takes stores after the kills");
        acked.extend(stored);
        if s3.is_some() {
            let deadline = std::time::Instant::now() + Duration::from_secs(120);
            loop {
                let left = walk_files(&spool);
                if left == 0 {
                    break;
                }
                assert!(
                    std::time::Instant::now() < deadline,
                    "{left} objects still in the spool"
                );
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
        let status = server.terminate(Duration::from_secs(60));
        assert!(status.success(), "clean stop after the kills: {status}");
    }

    // Everything acknowledged is there, byte for byte (from S3 itself in
    // the S3 variant: this archive has no spool).
    let config = storage::ArchiveConfig {
        object_store_url: match &s3 {
            Some(s) => s.url.clone(),
            None => format!("file://{}", data.path().join("objects").display()),
        },
        s3: s3.as_ref().map(|s| s.options.clone()).unwrap_or_default(),
        database_url: database_url
            .unwrap_or_else(|| format!("sqlite://{}", data.path().join("index.db").display())),
        ..Default::default()
    };
    let archive = storage::Archive::open(&config).await.expect("open");
    for a in &acked {
        let stored = archive
            .read_instance(&storage::TenantId::IMPLICIT, &a.sop)
            .await
            .unwrap_or_else(|e| panic!("acknowledged instance {} lost: {e}", a.sop));
        let got = if a.whole_file {
            &stored[..]
        } else {
            let (start, _) = dicom_net::retrieve::data_set_start(&stored).unwrap();
            &stored[start..]
        };
        assert_eq!(
            hex::encode(Sha256::digest(got)),
            a.sha256,
            "instance {} changed",
            a.sop
        );
    }
    // No index row without its object (objects without rows are the
    // unacknowledged writes a kill interrupted; check --repair handles them).
    let report = archive
        .check(false, false, Duration::ZERO)
        .await
        .expect("check");
    assert!(
        report.missing.is_empty(),
        "index rows without objects: {:?}",
        report.missing
    );
    assert!(report.instances as usize >= acked.len());
    eprintln!(
        "{KILLS} kills: {} acknowledged ({} by C-STORE), all intact; {} indexed, {} orphaned objects; \
         {spooled_after_kills} objects were left in the spool by the kills",
        acked.len(),
        acked.iter().filter(|a| !a.whole_file).count(),
        report.instances,
        report.orphans.len()
    );
    archive.index().close().await;
}

/// Files under `dir`, recursively (0 when it does not exist).
fn walk_files(dir: &std::path::Path) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                walk_files(&e.path())
            } else {
                1
            }
        })
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_concurrent_ingest_loses_nothing_acknowledged_sqlite() {
    kill_repeatedly(None, None).await;
}

/// The same on S3 behind the spool: a kill may land during uploads; after
/// the last restart the spool drains, and every acknowledged instance is
/// read back from S3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_concurrent_ingest_loses_nothing_acknowledged_s3_spool() {
    kill_repeatedly(None, Some(S3Target::new())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_during_concurrent_ingest_loses_nothing_acknowledged_postgres() {
    use sqlx::{Connection, Executor};
    let admin = std::env::var("FILMLESS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned());
    let name = format!("filmless_crash_{:x}", rand::random::<u64>());
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .expect("PostgreSQL on 127.0.0.1:5432");
    conn.execute(format!("CREATE DATABASE {name}").as_str())
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap().to_owned();
    kill_repeatedly(Some(format!("{base}/{name}")), None).await;
    // The audit trail those stores left (at least the last, cleanly
    // stopped run's) cannot be changed on PostgreSQL either.
    let mut db = sqlx::PgConnection::connect(&format!("{base}/{name}"))
        .await
        .unwrap();
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_event")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert!(rows > 0, "C-STORE and STOW-RS were audited");
    for change in [
        "DELETE FROM audit_event",
        "UPDATE audit_event SET actor = 'nobody'",
        "TRUNCATE audit_event",
    ] {
        assert!(db.execute(change).await.is_err(), "{change} was allowed");
    }
    db.close().await.unwrap();
    conn.execute(format!("DROP DATABASE {name} WITH (FORCE)").as_str())
        .await
        .unwrap();
}
