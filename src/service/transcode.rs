//! Stored instances in another form: another transfer syntax (native
//! re-encoding, or decompression), decoded frames, and the value of one
//! element (bulk data). CPU-bound work runs off the async runtime.

use bytes::Bytes;
use dicom_core::value::Value;
use dicom_net::dataset::{decompress, is_native, transcode};
use storage::StoredInstance;

use super::{Error, Result, Service};

impl Service {
    /// An instance as a Part 10 file in `target` transfer syntax (it must
    /// be native; the stored one native or decodable here).
    pub async fn instance_as(&self, instance: &StoredInstance, target: &str) -> Result<Bytes> {
        let part10 = self.read(instance).await?;
        if instance.transfer_syntax_uid == target {
            return Ok(part10);
        }
        let (stored, target) = (instance.transfer_syntax_uid.clone(), target.to_owned());
        blocking(move || convert(&part10, &stored, &target)).await
    }

    /// Frames (1-based numbers) of a compressed instance, decoded to native
    /// pixel data.
    pub async fn decoded_frames(
        &self,
        instance: &StoredInstance,
        numbers: Vec<usize>,
    ) -> Result<Vec<Bytes>> {
        let part10 = self.read(instance).await?;
        blocking(move || decode_frames(&part10, &numbers)).await
    }

    /// The value of the element at `path` (`TTTTTTTT`, or
    /// `SSSSSSSS/i/TTTTTTTT` into sequence items): bulk data.
    pub async fn element(&self, instance: &StoredInstance, path: &str) -> Result<Vec<u8>> {
        let part10 = self.read(instance).await?;
        let path = path.to_owned();
        blocking(move || element_bytes(&part10, &path)).await
    }
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::result::Result<T, Error> + Send + 'static,
) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::Internal(format!("conversion task: {e}")))?
}

/// A Part 10 file in another transfer syntax.
fn convert(part10: &[u8], stored: &str, target: &str) -> Result<Bytes> {
    let meta = dicom_check::part10_meta(part10)
        .map_err(|e| Error::not_acceptable(format!("stored instance unreadable: {e}")))?;
    let data_set = if is_native(stored) {
        transcode(&part10[meta.data_set_start..], stored, target)
    } else {
        decompress(part10, target)
    }
    .map_err(|e| Error::not_acceptable(e.to_string()))?;
    let mut out =
        storage::part10::file_meta(target, &meta.sop_class_uid, &meta.sop_instance_uid, None);
    out.extend_from_slice(&data_set);
    Ok(Bytes::from(out))
}

/// Decode frames (1-based numbers) of a compressed instance.
fn decode_frames(part10: &[u8], numbers: &[usize]) -> Result<Vec<Bytes>> {
    use dicom_pixeldata::PixelDecoder;
    let obj = dicom_check::read_part10(part10)
        .map_err(|e| Error::not_acceptable(format!("unreadable instance: {e}")))?;
    let decoded = obj
        .decode_pixel_data()
        .map_err(|e| Error::not_acceptable(format!("cannot decode: {e}")))?;
    numbers
        .iter()
        .map(|n| {
            decoded
                .frame_data(*n as u32 - 1)
                .map(Bytes::copy_from_slice)
                .map_err(|e| Error::not_acceptable(format!("cannot decode frame {n}: {e}")))
        })
        .collect()
}

/// The value of the element at `path`.
fn element_bytes(part10: &[u8], path: &str) -> Result<Vec<u8>> {
    let not_found = || Error::not_found(format!("no bulk data at {path}"));
    let obj = dicom_check::read_part10(part10).map_err(|_| not_found())?;
    let parse_tag = |t: &str| {
        storage::query::tag_of(t)
            .filter(|_| t.len() == 8)
            .ok_or_else(not_found)
    };
    let mut steps = path.split('/');
    let mut current: &dicom_object::InMemDicomObject = &obj;
    loop {
        let tag = parse_tag(steps.next().ok_or_else(not_found)?)?;
        let element = current.get(tag).ok_or_else(not_found)?;
        match steps.next() {
            None => {
                return match element.value() {
                    Value::Primitive(p) => Ok(p.to_bytes().to_vec()),
                    _ => Err(not_found()),
                }
            }
            Some(index) => {
                let index: usize = index.parse().map_err(|_| not_found())?;
                let items = element.items().ok_or_else(not_found)?;
                current = items.get(index).ok_or_else(not_found)?;
            }
        }
    }
}
