//! Micro-benchmarks of the ingest hot path: what the archive does with the
//! bytes of one instance before any I/O (scan, parse, validate, DICOM JSON,
//! SHA-256), and writing it to a blob with zstd.
//!
//! `cargo bench --bench ingest`

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use storage::TenantId;
use storage::{BlobStore, CompressionKind, Prepared, Uid};

fn ct_slice() -> Bytes {
    let (_, instances) = filmless_test_data::ct_series(1, 1);
    Bytes::from(instances.into_iter().next().expect("one slice").bytes)
}

fn prepare(c: &mut Criterion) {
    let slice = ct_slice();
    let mut g = c.benchmark_group("ingest");
    g.throughput(Throughput::Bytes(slice.len() as u64));
    g.bench_function("prepare CT 512x512 slice", |b| {
        b.iter(|| Prepared::parse(slice.clone()).expect("valid slice"))
    });
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    for compression in [CompressionKind::Zstd, CompressionKind::None] {
        let store = BlobStore::open("memory://", &Default::default(), compression, 3, 16)
            .expect("memory store");
        let uid = Uid::parse("UID", "1.2.3").expect("uid");
        g.bench_function(format!("blob put {}", compression.as_str()), |b| {
            b.iter(|| {
                runtime
                    .block_on(store.put(
                        store.instance_key(&TenantId::IMPLICIT, &uid, &uid, &uid),
                        slice.clone(),
                    ))
                    .expect("put")
            })
        });
    }
    g.finish();
}

criterion_group!(benches, prepare);
criterion_main!(benches);
