//! Criterion micro-benchmarks of hot paths outside ingest: DIMSE command
//! sets (every C-STORE and every C-FIND response encodes or decodes one)
//! and the query model (every QIDO-RS and C-FIND request becomes SQL).
//!
//! `cargo bench --bench hot_paths`

use criterion::{criterion_group, criterion_main, Criterion};
use dicom_net::command::{Command, CommandField};
use dicom_net::Status;
use storage::query::{Query, QueryLevel};
use storage::Backend;

fn commands(c: &mut Criterion) {
    let mut rq = Command::request(CommandField::CStoreRq, 7, "1.2.840.10008.5.1.4.1.1.2", true);
    rq.affected_sop_instance_uid = Some("2.25.123456789012345678901234567890123456".into());
    let bytes = rq.encode();
    c.bench_function("C-STORE-RQ command encode", |b| b.iter(|| rq.encode()));
    c.bench_function("C-STORE-RQ command decode", |b| {
        b.iter(|| Command::decode(&bytes).expect("valid"))
    });
    let rsp = rq.response(Status::PENDING, true);
    c.bench_function("C-FIND-RSP pending encode", |b| b.iter(|| rsp.encode()));
}

fn queries(c: &mut Criterion) {
    let params: Vec<(String, String)> = [
        ("PatientName", "NGUYEN*"),
        ("StudyDate", "20240101-20241231"),
        ("ModalitiesInStudy", "CT"),
        ("limit", "100"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    c.bench_function("QIDO-RS query string to SQL", |b| {
        b.iter(|| {
            let q = Query::from_qido(QueryLevel::Study, &params).expect("valid");
            q.query.select_sql(Backend::Postgres)
        })
    });
}

criterion_group!(benches, commands, queries);
criterion_main!(benches);
