//! "Download the study": a study or series as one ZIP file, streamed as it
//! is written, with the `zip` crate (stored entries: DICOM pixel data is
//! compressed already or gains little; ZIP64 where sizes or offsets pass
//! 4 GiB, so a study of any size downloads whole).
//!
//! Instances are read four at a time; each entry is written on a blocking
//! thread (CRC-32 over the bytes) into a spool that the response body
//! drains entry by entry, so one entry's bytes are held at a time.

use std::io::Write;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use storage::StoredInstance;
use zip::write::{SimpleFileOptions, StreamWriter};
use zip::{CompressionMethod, ZipWriter};

use crate::service::{Service, Target};

/// Where the ZIP writer writes; drained after each entry.
#[derive(Clone, Default)]
struct Spool(Arc<Mutex<Vec<u8>>>);

impl Write for Spool {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("spool poisoned"))?
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Spool {
    fn take(&self) -> Bytes {
        self.0
            .lock()
            .map(|mut v| Bytes::from(std::mem::take(&mut *v)))
            .unwrap_or_default()
    }
}

/// A ZIP archive written entry by entry.
pub struct Archive {
    zip: Option<ZipWriter<StreamWriter<Spool>>>,
    spool: Spool,
}

impl Default for Archive {
    fn default() -> Self {
        let spool = Spool::default();
        Archive {
            zip: Some(ZipWriter::new_stream(spool.clone())),
            spool,
        }
    }
}

impl Archive {
    /// One file: its local header and data (CPU-bound: CRC-32).
    pub fn entry(&mut self, name: &str, data: &[u8]) -> std::io::Result<Bytes> {
        let zip = self
            .zip
            .as_mut()
            .ok_or_else(|| std::io::Error::other("zip finished"))?;
        let options = SimpleFileOptions::default()
            .compression_method(CompressionMethod::Stored)
            .large_file(data.len() as u64 >= u64::from(u32::MAX));
        zip.start_file(name, options)
            .map_err(std::io::Error::other)?;
        zip.write_all(data)?;
        Ok(self.spool.take())
    }

    /// Whatever is left: the last entry's end and the central directory.
    pub fn finish(&mut self) -> std::io::Result<Bytes> {
        let zip = self
            .zip
            .take()
            .ok_or_else(|| std::io::Error::other("zip finished"))?;
        zip.finish().map_err(std::io::Error::other)?;
        Ok(self.spool.take())
    }
}

/// A ZIP written entry by entry into `out` (stored entries), for an
/// export: one entry in memory at a time. CPU-bound (CRC-32): use it off
/// the async runtime.
pub struct ZipTo<W: std::io::Write> {
    zip: Archive,
    out: W,
}

impl<W: std::io::Write> ZipTo<W> {
    /// An empty archive writing into `out`.
    pub fn new(out: W) -> Self {
        ZipTo {
            zip: Archive::default(),
            out,
        }
    }

    /// Add one file.
    pub fn add(&mut self, name: &str, data: &[u8]) -> std::io::Result<()> {
        let bytes = self.zip.entry(name, data)?;
        self.out.write_all(&bytes)
    }

    /// End the archive (its central directory); the writer back.
    pub fn finish(mut self) -> std::io::Result<W> {
        let bytes = self.zip.finish()?;
        self.out.write_all(&bytes)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Run `f` on the archive on a blocking thread.
async fn on_archive<T: Send + 'static>(
    archive: &Arc<Mutex<Archive>>,
    f: impl FnOnce(&mut Archive) -> std::io::Result<T> + Send + 'static,
) -> std::io::Result<T> {
    let archive = archive.clone();
    tokio::task::spawn_blocking(move || {
        let mut a = archive
            .lock()
            .map_err(|_| std::io::Error::other("zip writer poisoned"))?;
        f(&mut a)
    })
    .await
    .map_err(std::io::Error::other)?
}

/// The instances as one ZIP file, stored as received, streamed.
pub fn response(service: Service, target: Target, instances: Vec<StoredInstance>) -> Response {
    let archive = Arc::new(Mutex::new(Archive::default()));
    let reads = {
        let service = service.clone();
        futures::stream::iter(instances)
            .map(move |i| {
                let service = service.clone();
                async move {
                    let bytes = service
                        .read(&i)
                        .await
                        .map_err(|e| std::io::Error::other(e.public_message()))?;
                    Ok::<_, std::io::Error>((i, bytes))
                }
            })
            .buffered(4)
    };
    let entries = {
        let archive = archive.clone();
        reads.then(move |r| {
            let archive = archive.clone();
            async move {
                let (i, bytes) = r?;
                let name = format!(
                    "{}/{}/{}.dcm",
                    i.study_instance_uid, i.series_instance_uid, i.sop_instance_uid
                );
                on_archive(&archive, move |a| a.entry(&name, &bytes)).await
            }
        })
    };
    let end = futures::stream::once(async move { on_archive(&archive, Archive::finish).await });
    let name = match &target {
        Target::Series(_, se) => se.to_string(),
        other => other.study().to_string(),
    };
    download(&name, entries.chain(end))
}

/// A ZIP download named `name.zip`, its bytes from `body`.
fn download<S>(name: &str, body: S) -> Response
where
    S: futures::Stream<Item = std::io::Result<Bytes>> + Send + 'static,
{
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}.zip\""),
            ),
        ],
        Body::from_stream(body),
    )
        .into_response()
}

/// Images (JPEG) as one ZIP file named `name.zip`, entries numbered in
/// the order they come (`0001.jpg`…), streamed as they are made.
pub fn images_response(
    name: &str,
    images: futures::stream::BoxStream<'static, crate::service::Result<Bytes>>,
) -> Response {
    let archive = Arc::new(Mutex::new(Archive::default()));
    let entries = {
        let archive = archive.clone();
        images.enumerate().then(move |(n, r)| {
            let archive = archive.clone();
            async move {
                let bytes = r.map_err(|e| std::io::Error::other(e.public_message()))?;
                let name = format!("{:04}.jpg", n + 1);
                on_archive(&archive, move |a| a.entry(&name, &bytes)).await
            }
        })
    };
    let end = futures::stream::once(async move { on_archive(&archive, Archive::finish).await });
    download(name, entries.chain(end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unzip_reads_what_we_write() {
        let dir = tempfile::tempdir().unwrap();
        let mut z = Archive::default();
        let mut bytes = Vec::new();
        for (name, data) in [
            ("1.2.3/1.dcm", b"first".to_vec()),
            ("1.2.3/2.dcm", vec![7u8; 100_000]),
        ] {
            bytes.extend_from_slice(&z.entry(name, &data).unwrap());
        }
        bytes.extend_from_slice(&z.finish().unwrap());
        let path = dir.path().join("study.zip");
        std::fs::write(&path, &bytes).unwrap();
        // Python's zipfile checks CRCs and the central directory.
        let out = filmless_test_data::tools::python()
            .args(["-c", "import sys,zipfile; z=zipfile.ZipFile(sys.argv[1]); assert z.testzip() is None; print(','.join(f'{i.filename}:{i.file_size}' for i in z.infolist()))"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "1.2.3/1.dcm:5,1.2.3/2.dcm:100000"
        );
    }

    /// More than 4 GiB and more than 65535 entries in all: the end of the
    /// archive carries the ZIP64 end of central directory record and its
    /// locator (APPNOTE 4.3.14, 4.3.15), and the classic record says to
    /// look there. Streamed through a counter, not to disk.
    #[test]
    fn archives_past_4_gib_are_zip64() {
        let mut z = Archive::default();
        let chunk = vec![0u8; 64 << 20];
        let mut total = 0u64;
        for n in 0..70 {
            total += z.entry(&format!("big/{n}.dcm"), &chunk).unwrap().len() as u64;
        }
        for n in 0..66_000 {
            total += z.entry(&format!("s/{n}.dcm"), b"x").unwrap().len() as u64;
        }
        let tail = z.finish().unwrap();
        total += tail.len() as u64;
        assert!(total > 4 << 30, "{total}");
        let find = |sig: u32| {
            tail.windows(4)
                .rposition(|w| w == sig.to_le_bytes())
                .unwrap_or_else(|| panic!("no record {sig:08x}"))
        };
        let zip64_end = find(0x0606_4b50);
        let locator = find(0x0706_4b50);
        let end = find(0x0605_4b50);
        assert!(zip64_end < locator && locator < end);
        let u16_at = |i: usize| u16::from_le_bytes([tail[i], tail[i + 1]]);
        let u64_at = |i: usize| u64::from_le_bytes(tail[i..i + 8].try_into().unwrap());
        assert_eq!(
            u16_at(end + 10),
            0xFFFF,
            "entry count is in the ZIP64 record"
        );
        assert_eq!(u64_at(zip64_end + 32), 70 + 66_000, "ZIP64 entry count");
        assert!(u64_at(zip64_end + 48) > 4 << 30, "central directory offset");
    }
}
