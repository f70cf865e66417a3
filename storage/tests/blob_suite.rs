//! The blob-store conformance suite, run on memory, local files and S3
//! (moto), each with zstd and without compression.

mod common;

use bytes::Bytes;
use futures::TryStreamExt;
use storage::TenantId;
use storage::{BlobStore, CompressionKind, ErrorKind, Uid};

struct Backend {
    store: BlobStore,
    _dir: tempfile::TempDir,
}

fn open(kind: &str, compression: CompressionKind) -> Backend {
    let dir = tempfile::tempdir().unwrap();
    let (url, s3) = common::blob_backend(kind, dir.path());
    Backend {
        store: BlobStore::open(&url, &s3, compression, 3, 16).unwrap(),
        _dir: dir,
    }
}

/// Bytes that compress somewhat, like pixel data: a gradient with noise.
fn data(len: usize, seed: u64) -> Bytes {
    let mut x = seed | 1;
    (0..len)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            ((i / 512) as u8).wrapping_add((x % 8) as u8)
        })
        .collect::<Vec<u8>>()
        .into()
}

fn key(store: &BlobStore, n: u32) -> String {
    let u = |s: &str| Uid::parse("UID", s).unwrap();
    store.instance_key(
        &TenantId::IMPLICIT,
        &u("1.2.3"),
        &u("1.2.3.4"),
        &u(&format!("1.2.3.4.{n}")),
    )
}

async fn round_trips_exactly(store: &BlobStore) {
    for (n, len) in [0usize, 1, 1000, 256 * 1024, 256 * 1024 + 1, 3_000_001]
        .into_iter()
        .enumerate()
    {
        let original = data(len, n as u64);
        let blob = store
            .put(key(store, n as u32), original.clone())
            .await
            .unwrap();
        assert_eq!(blob.original_size, len as u64);
        assert_eq!(
            store.stored_size(&blob.key).await.unwrap(),
            Some(blob.stored_size)
        );
        assert_eq!(store.read(&blob).await.unwrap(), original, "length {len}");
    }
}

async fn large_blobs_stream_through_multipart(store: &BlobStore) {
    // Written in 1 MiB pieces: more than the multipart threshold in total.
    let original = data(20 * 1024 * 1024 + 123, 9);
    let mut w = store.writer(key(store, 100)).unwrap();
    for piece in original.chunks(1024 * 1024) {
        w.write(Bytes::copy_from_slice(piece)).await.unwrap();
    }
    let blob = w.finish().await.unwrap();
    assert_eq!(blob.original_size, original.len() as u64);
    if store.compression() == CompressionKind::Zstd {
        assert!(
            blob.stored_size < blob.original_size,
            "{} !< {}",
            blob.stored_size,
            blob.original_size
        );
    }
    assert_eq!(store.read(&blob).await.unwrap(), original);
    // Ranged reads inside, across chunk boundaries, and at the end.
    for range in [
        0..10u64,
        262_140..262_150,
        1_000_000..3_000_000,
        original.len() as u64 - 5..original.len() as u64,
    ] {
        let got = store.read_range(&blob, range.clone()).await.unwrap();
        assert_eq!(
            &got[..],
            &original[range.start as usize..range.end as usize],
            "{range:?}"
        );
    }
    assert!(store
        .read_range(&blob, 0..original.len() as u64 + 1)
        .await
        .is_err());
}

/// 12-bit pixels in 16-bit little-endian words, like CT: smooth, with noise
/// in the low bits.
fn pixels16(len: usize, seed: u64) -> Bytes {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len + 1);
    for i in 0..len.div_ceil(2) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let v = (1024 + (i % 512) as u64 + x % 64) as u16;
        out.extend_from_slice(&v.to_le_bytes());
    }
    out.truncate(len);
    out.into()
}

/// 16-bit pixel data stored in byte planes reads back exactly, whole and by
/// range, whatever the pieces it was written in and however odd its length;
/// with zstd it takes less room than the same bytes compressed as they are.
async fn byte_planes_round_trip(store: &BlobStore) {
    for (n, len) in [0usize, 1, 3, 1001, 256 * 1024 + 1, 2 * 256 * 1024 + 7]
        .into_iter()
        .enumerate()
    {
        let original = pixels16(len, n as u64 + 40);
        let mut w = store
            .writer(key(store, 200 + n as u32))
            .unwrap()
            .in_planes(true);
        // Odd-sized pieces: planes are per chunk, not per piece.
        for piece in original.chunks(77_777) {
            w.write(Bytes::copy_from_slice(piece)).await.unwrap();
        }
        let blob = w.finish().await.unwrap();
        assert_eq!(store.read(&blob).await.unwrap(), original, "length {len}");
        if len > 10 {
            for range in [1..8u64, len as u64 / 2 - 3..len as u64 - 1] {
                let got = store.read_range(&blob, range.clone()).await.unwrap();
                assert_eq!(
                    &got[..],
                    &original[range.start as usize..range.end as usize],
                    "length {len}, {range:?}"
                );
            }
        }
        if store.compression() == CompressionKind::Zstd && len > 100_000 {
            let plain = store
                .put(key(store, 300 + n as u32), original.clone())
                .await
                .unwrap();
            assert!(
                blob.stored_size < plain.stored_size,
                "in planes {} !< as is {}",
                blob.stored_size,
                plain.stored_size
            );
        }
    }
}

async fn deletes_are_idempotent_and_listed(store: &BlobStore) {
    let a = store.put(key(store, 1), data(5000, 1)).await.unwrap();
    let b = store.put(key(store, 2), data(7000, 2)).await.unwrap();
    let mut listed: Vec<(String, u64)> = store.list().try_collect().await.unwrap();
    listed.sort();
    let mut expected = vec![
        (a.key.clone(), a.stored_size),
        (b.key.clone(), b.stored_size),
    ];
    expected.sort();
    assert_eq!(listed, expected);
    store.delete(&a.key).await.unwrap();
    store.delete(&a.key).await.unwrap();
    assert_eq!(store.stored_size(&a.key).await.unwrap(), None);
    let err = store.read(&a).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    // A ranged read (a frame) of a local object reads the file itself: the
    // same not-found.
    let err = store.read_range(&a, 10..20).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(store.read(&b).await.unwrap(), data(7000, 2));
}

async fn aborted_writes_leave_nothing(store: &BlobStore) {
    let k = key(store, 3);
    let mut w = store.writer(k.clone()).unwrap();
    w.write(data(10 * 1024 * 1024, 3)).await.unwrap();
    w.abort().await;
    assert_eq!(store.stored_size(&k).await.unwrap(), None);
    let listed: Vec<(String, u64)> = store.list().try_collect().await.unwrap();
    assert!(listed.is_empty(), "{listed:?}");
}

async fn keys_are_fresh_and_confined(store: &BlobStore) {
    let (k1, k2) = (key(store, 7), key(store, 7));
    assert_ne!(k1, k2, "a second copy must never overwrite the first");
    assert!(k1.starts_with("1.2.3/1.2.3.4/1.2.3.4.7."), "{k1}");
    assert!(!k1.contains(".."));
}

macro_rules! blob_suite {
    ($($name:ident: $kind:literal, $compression:expr;)*) => {
        $(
            mod $name {
                use super::*;

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn round_trip() {
                    round_trips_exactly(&open($kind, $compression).store).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn multipart_and_ranges() {
                    large_blobs_stream_through_multipart(&open($kind, $compression).store).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn byte_planes() {
                    byte_planes_round_trip(&open($kind, $compression).store).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn delete_and_list() {
                    deletes_are_idempotent_and_listed(&open($kind, $compression).store).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn abort() {
                    aborted_writes_leave_nothing(&open($kind, $compression).store).await;
                }

                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn keys() {
                    keys_are_fresh_and_confined(&open($kind, $compression).store).await;
                }
            }
        )*
    };
}

blob_suite! {
    memory_zstd: "memory", CompressionKind::Zstd;
    memory_plain: "memory", CompressionKind::None;
    file_zstd: "file", CompressionKind::Zstd;
    file_plain: "file", CompressionKind::None;
    s3_zstd: "s3", CompressionKind::Zstd;
    s3_plain: "s3", CompressionKind::None;
}

#[test]
fn bad_urls_are_configuration_errors() {
    for url in ["ftp://x", "s3://", "/plain/path"] {
        let err =
            BlobStore::open(url, &Default::default(), CompressionKind::Zstd, 3, 4).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Invalid, "{url}: {err}");
    }
}
