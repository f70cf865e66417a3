//! Workload 7 of the benchmarks: the index at scale.
//!
//! Builds an index of `--instances` instances (default 1 000 000: about
//! 20 000 studies of 5 000 patients, from test-data's generator with tiny
//! pixel data) on SQLite and on PostgreSQL, and at each checkpoint
//! (100k, 250k, 500k, 1M) measures:
//!
//! - ingest through the archive (parse, blob write with fsync, one index
//!   transaction per instance), 4 concurrent writers, 512×512 CT slices;
//! - QIDO-RS and C-FIND (one open association) p50/p99 for three worklist
//!   queries: patient name prefix, date range + modality, accession number,
//!   each asked with different values, against a `filmless serve` process.
//!
//! The bulk loader parses every generated file with [`Prepared::parse`]
//! and inserts its rows with [`storage::Index::insert_batch`], the
//! statements of ingest, a batch per transaction; its instances have no
//! blob (the queries measured never read one).
//!
//! `benches/scale [--instances N] [--backends sqlite,postgres]` writes
//! `benches/SCALE.md`, which `benches/run` copies into RESULTS.md.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};
use storage::TenantId;

use bytes::Bytes;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_net::scu::{ScuAssociation, ScuOptions};
use dicom_object::InMemDicomObject;
use filmless_test_data::{Corpus, Options};
use rayon::prelude::*;
use storage::{Archive, ArchiveConfig, BlobRef, CompressionKind, Prepared};

const POSTGRES_ADMIN: &str = "postgres://postgres@127.0.0.1:5432/test";
const POSTGRES_DB: &str = "filmless_scale";
const SEED: u64 = 7;
/// Queries of each kind at each checkpoint.
const QUERIES: usize = 200;
/// Instances stored through the archive at each checkpoint.
const INGEST: u64 = 200;
const EXPLICIT_LE: &str = "1.2.840.10008.1.2.1";

struct Args {
    instances: u64,
    backends: Vec<String>,
    out: String,
}

fn args() -> Args {
    let mut a = Args {
        instances: 1_000_000,
        backends: vec!["sqlite".into(), "postgres".into()],
        out: format!("{}/benches/SCALE.md", env!("CARGO_MANIFEST_DIR")),
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        match k.as_str() {
            "--instances" => a.instances = it.next().and_then(|v| v.parse().ok()).expect("N"),
            "--backends" => {
                a.backends = it
                    .next()
                    .expect("list")
                    .split(',')
                    .map(str::to_owned)
                    .collect()
            }
            "--out" => a.out = it.next().expect("file"),
            // cargo bench passes --bench; ignore it and anything else.
            _ => {}
        }
    }
    a
}

/// The scale corpus: studies cycle CT (199 slices), CR, DX, MR (2 × 24),
/// US: 250 instances per 5 studies, 50 on average.
fn corpus() -> Corpus {
    Corpus::new(
        SEED,
        Options {
            ct_slices: 199,
            ct_size: (8, 8),
            xray_size: (8, 8),
            mr_slices: 24,
            mr_size: (8, 8),
            us_size: (8, 8),
            patients: 5_000,
        },
    )
}

struct Row {
    backend: String,
    at: u64,
    what: String,
    p50: f64,
    p99: f64,
    unit: &'static str,
    note: String,
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn main() {
    let args = args();
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let mut rows = Vec::new();
    let checkpoints: Vec<u64> = [100_000, 250_000, 500_000, 1_000_000]
        .into_iter()
        .filter(|c| *c < args.instances)
        .chain([args.instances])
        .collect();
    for backend in &args.backends {
        rows.extend(rt.block_on(run_backend(backend, &checkpoints)));
    }
    let report = render(&rows, &args);
    println!("{report}");
    std::fs::write(&args.out, report).expect("write report");
    eprintln!("wrote {}", args.out);
}

async fn run_backend(backend: &str, checkpoints: &[u64]) -> Vec<Row> {
    let dir = tempfile::tempdir().expect("tempdir");
    let database_url = match backend {
        "sqlite" => format!("sqlite://{}", dir.path().join("index.db").display()),
        "postgres" => {
            let admin = sqlx::PgPool::connect(POSTGRES_ADMIN)
                .await
                .expect("PostgreSQL on 127.0.0.1:5432 (database test)");
            sqlx::query(&format!(
                "DROP DATABASE IF EXISTS {POSTGRES_DB} WITH (FORCE)"
            ))
            .execute(&admin)
            .await
            .expect("drop");
            sqlx::query(&format!("CREATE DATABASE {POSTGRES_DB}"))
                .execute(&admin)
                .await
                .expect("create");
            admin.close().await;
            POSTGRES_ADMIN.replace("/test", &format!("/{POSTGRES_DB}"))
        }
        other => panic!("unknown backend {other}"),
    };
    let archive = Archive::open(&ArchiveConfig {
        object_store_url: format!("file://{}", dir.path().join("objects").display()),
        database_url: database_url.clone(),
        ..Default::default()
    })
    .await
    .expect("open archive");
    // Files are generated and parsed on rayon in a thread of their own
    // while the previous batch is inserted.
    let (tx, mut batches) = tokio::sync::mpsc::channel::<Vec<Prepared>>(4);
    let generator = std::thread::spawn(move || {
        let corpus = corpus();
        let mut next = 0u64;
        loop {
            let batch: Vec<Prepared> = (next..next + 40)
                .into_par_iter()
                .flat_map_iter(|i| {
                    let plan = corpus.study(i);
                    corpus.instances(&plan).collect::<Vec<_>>()
                })
                .map(|inst| Prepared::parse(Bytes::from(inst.bytes)).expect("generated file"))
                .collect();
            next += 40;
            if tx.blocking_send(batch).is_err() {
                return next;
            }
        }
    });
    let mut rows = Vec::new();
    let mut studies = 0u64;
    let mut loaded = 0u64;
    for (round, &target) in checkpoints.iter().enumerate() {
        let started = Instant::now();
        let before = loaded;
        while loaded < target {
            let prepared = batches.recv().await.expect("generator");
            studies += 40;
            let blobs: Vec<BlobRef> = prepared
                .iter()
                .map(|p| BlobRef {
                    key: format!("scale/{}", p.sop_instance_uid()),
                    compression: CompressionKind::None,
                    original_size: p.size(),
                    stored_size: p.size(),
                    chunk_table: Vec::new(),
                })
                .collect();
            let implicit = TenantId::implicit();
            let news: Vec<_> = prepared
                .iter()
                .zip(&blobs)
                .map(|(p, b)| p.new_instance(&implicit, b))
                .collect();
            for chunk in news.chunks(2_000) {
                loaded += archive
                    .index()
                    .insert_batch(chunk)
                    .await
                    .expect("bulk insert");
            }
        }
        // Statistics for the planner, as autovacuum keeps them on a normally
        // configured PostgreSQL (this machine's test cluster has it off).
        if backend == "postgres" {
            sqlx::query("ANALYZE")
                .execute(archive.index().pool())
                .await
                .expect("ANALYZE");
        }
        let secs = started.elapsed().as_secs_f64();
        eprintln!("{backend}: {loaded} instances indexed ({secs:.0} s for this step)");
        rows.push(Row {
            backend: backend.into(),
            at: loaded,
            what: "bulk load (parse + insert_batch)".into(),
            p50: (loaded - before) as f64 / secs,
            p99: f64::NAN,
            unit: "inst/s",
            note: format!("{} → {} instances", before, loaded),
        });
        rows.push(ingest(&archive, backend, loaded, round as u64).await);
        rows.extend(queries(backend, &database_url, dir.path(), loaded, studies).await);
    }
    drop(batches);
    generator.join().expect("generator");
    drop(archive);
    rows
}

/// Instances/s of 4 concurrent writers storing 512×512 CT slices through
/// the archive (blob with fsync, index transaction), at this index size.
async fn ingest(archive: &Archive, backend: &str, at: u64, round: u64) -> Row {
    let (_, series) = filmless_test_data::ct_series(1_000 + round, INGEST as u32);
    let files: Vec<Bytes> = series.into_iter().map(|i| Bytes::from(i.bytes)).collect();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..4 {
        let mine: Vec<Bytes> = files.iter().skip(w).step_by(4).cloned().collect();
        let archive = archive.clone();
        tasks.spawn(async move {
            for f in mine {
                archive
                    .store_bytes(&TenantId::IMPLICIT, f)
                    .await
                    .expect("store");
            }
        });
    }
    while let Some(r) = tasks.join_next().await {
        r.expect("writer");
    }
    let secs = started.elapsed().as_secs_f64();
    Row {
        backend: backend.into(),
        at,
        what: "ingest through the archive, 4 writers".into(),
        p50: INGEST as f64 / secs,
        p99: f64::NAN,
        unit: "inst/s",
        note: format!("{INGEST} CT slices 512×512, zstd, fsync"),
    }
}

/// The three worklist queries, each as QIDO-RS and as a C-FIND identifier,
/// with `n` different values drawn from the loaded studies.
struct Worklist {
    name: &'static str,
    qido: Vec<String>,
    find: Vec<Vec<(Tag, VR, String)>>,
}

fn worklists(studies: u64, n: usize) -> Vec<Worklist> {
    let corpus = corpus();
    let pick = |k: usize| corpus.study((k as u64 * 7_919) % studies);
    let mut name = Worklist {
        name: "patient name prefix",
        qido: Vec::new(),
        find: Vec::new(),
    };
    let mut date = Worklist {
        name: "date range (1 month) + modality",
        qido: Vec::new(),
        find: Vec::new(),
    };
    let mut acc = Worklist {
        name: "accession number",
        qido: Vec::new(),
        find: Vec::new(),
    };
    for k in 0..n {
        let plan = pick(k);
        // Family name and the given name's first two letters: ~1/300 of
        // the patients.
        let (family, given) = plan.patient.name.split_once('^').expect("PN");
        let prefix = format!("{family}^{}*", &given[..2]);
        name.qido.push(format!(
            "/dicom-web/studies?PatientName={}",
            prefix.replace('^', "%5E").replace(' ', "%20")
        ));
        name.find
            .push(vec![(tags::PATIENT_NAME, VR::PN, prefix.clone())]);
        let month = &plan.study_date[..6];
        let range = format!("{month}01-{month}31");
        let modality = plan.modality.code();
        date.qido.push(format!(
            "/dicom-web/studies?StudyDate={range}&ModalitiesInStudy={modality}"
        ));
        date.find.push(vec![
            (tags::STUDY_DATE, VR::DA, range),
            (tags::MODALITIES_IN_STUDY, VR::CS, modality.to_owned()),
        ]);
        acc.qido.push(format!(
            "/dicom-web/studies?AccessionNumber={}",
            plan.accession_number
        ));
        acc.find.push(vec![(
            tags::ACCESSION_NUMBER,
            VR::SH,
            plan.accession_number.clone(),
        )]);
    }
    vec![name, date, acc]
}

async fn queries(
    backend: &str,
    database_url: &str,
    data_dir: &std::path::Path,
    at: u64,
    studies: u64,
) -> Vec<Row> {
    let server = common::ServerProcess::start(
        data_dir,
        &[
            "--database-url",
            database_url,
            "--peer",
            "BENCH@127.0.0.1:1",
        ],
        &[],
    );
    let mut rows = Vec::new();
    let mut assoc = ScuAssociation::connect(
        &ScuOptions {
            calling_ae: "BENCH".into(),
            called_ae: "FILMLESS".into(),
            addr: format!("127.0.0.1:{}", server.dicom_port)
                .parse()
                .expect("addr"),
            max_pdu_length: 65_536,
            timeout: Duration::from_secs(60),
        },
        &[(
            uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND.to_owned(),
            vec![EXPLICIT_LE.to_owned()],
        )],
    )
    .await
    .expect("associate");
    let pc = assoc.accepted().into_iter().next().expect("context");
    for w in worklists(studies, QUERIES) {
        let mut qido = Vec::new();
        let mut matches = 0usize;
        for path in &w.qido {
            let http = server.http.clone();
            let path = path.clone();
            let t = Instant::now();
            let (status, _, body) = tokio::task::spawn_blocking(move || {
                common::http(
                    &http,
                    "GET",
                    &path,
                    &[("Accept", "application/dicom+json")],
                    b"",
                )
            })
            .await
            .expect("client");
            qido.push(t.elapsed().as_secs_f64() * 1e3);
            assert!(status == 200 || status == 204, "QIDO status {status}");
            if status == 200 {
                let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
                matches += v.as_array().map_or(0, Vec::len);
            }
        }
        let mut find = Vec::new();
        let mut find_matches = 0usize;
        for keys in &w.find {
            let mut obj = InMemDicomObject::new_empty();
            obj.put(DataElement::new(
                tags::QUERY_RETRIEVE_LEVEL,
                VR::CS,
                PrimitiveValue::from("STUDY"),
            ));
            for (tag, vr) in [
                (tags::STUDY_INSTANCE_UID, VR::UI),
                (tags::PATIENT_NAME, VR::PN),
                (tags::PATIENT_ID, VR::LO),
                (tags::STUDY_DATE, VR::DA),
                (tags::ACCESSION_NUMBER, VR::SH),
                (tags::MODALITIES_IN_STUDY, VR::CS),
                (tags::NUMBER_OF_STUDY_RELATED_INSTANCES, VR::IS),
            ] {
                obj.put(DataElement::new(tag, vr, PrimitiveValue::Empty));
            }
            for (tag, vr, v) in keys {
                obj.put(DataElement::new(
                    *tag,
                    *vr,
                    PrimitiveValue::from(v.as_str()),
                ));
            }
            let identifier = dicom_net::dataset::encode(&obj, EXPLICIT_LE).expect("encode");
            let t = Instant::now();
            let (found, rsp) = assoc.find(&pc, &identifier).await.expect("C-FIND");
            find.push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(
                rsp.status,
                dicom_net::Status::SUCCESS,
                "C-FIND status: {:?}",
                rsp.comment
            );
            find_matches += found.len();
        }
        assert_eq!(
            matches, find_matches,
            "{}: QIDO-RS and C-FIND disagree",
            w.name
        );
        for (kind, mut v) in [("QIDO-RS", qido), ("C-FIND", find)] {
            v.sort_by(f64::total_cmp);
            rows.push(Row {
                backend: backend.into(),
                at,
                what: format!("{kind} {}", w.name),
                p50: percentile(&v, 0.5),
                p99: percentile(&v, 0.99),
                unit: "ms",
                note: format!(
                    "{} queries, {:.1} matches on average",
                    v.len(),
                    matches as f64 / w.qido.len() as f64
                ),
            });
        }
    }
    let _ = assoc.release().await;
    drop(server);
    rows
}

fn render(rows: &[Row], args: &Args) -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_owned())
        })
        .unwrap_or_default();
    let mut out = String::new();
    out.push_str("## Workload 7: the index at scale\n\n");
    out.push_str(&format!(
        "`benches/scale --instances {}` on {} ({} cores), {}. Filmless only: \
         loading a million instances into Orthanc through its REST API would take hours.\n\n",
        args.instances,
        cpu,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        date()
    ));
    out.push_str("| Backend | Instances indexed | Measure | p50 | p99 | Unit | Notes |\n|---|---:|---|---:|---:|---|---|\n");
    let last = rows.iter().map(|r| r.at).max().unwrap_or(0);
    let mut verdicts = String::new();
    for backend in &args.backends {
        let worst = rows
            .iter()
            .filter(|r| &r.backend == backend && r.at == last && r.what.starts_with("QIDO-RS"))
            .map(|r| r.p50)
            .fold(f64::NAN, f64::max);
        verdicts.push_str(&format!(
            "- QIDO-RS p50 ≤ 10 ms at {last} instances on {backend}: slowest query p50 {worst:.2} ms, {}.\n",
            if worst <= 10.0 { "met" } else { "missed" }
        ));
    }
    for r in rows {
        let p99 = if r.p99.is_nan() {
            "–".to_owned()
        } else {
            format!("{:.2}", r.p99)
        };
        out.push_str(&format!(
            "| {} | {} | {} | {:.2} | {} | {} | {} |\n",
            r.backend, r.at, r.what, r.p50, p99, r.unit, r.note
        ));
    }
    out.push('\n');
    out.push_str(&verdicts);
    out
}

fn date() -> String {
    std::process::Command::new("date")
        .arg("-u")
        .arg("+%Y-%m-%d")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_default()
}
