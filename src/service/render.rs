//! Rendered images and thumbnails (PS3.18 §9.5, §10.4.1.1.3), for WADO-RS
//! and every page that shows images: decoded with dicom-pixeldata, encoded
//! with the `image` crate, off the async runtime.
//!
//! Rendering applies the modality rescale, the VOI window (the data set's,
//! or one asked for), MONOCHROME1 inversion, colour, a viewport (fit,
//! aspect kept) and a JPEG quality. Thumbnails are 128-pixel renderings of
//! a representative instance, kept in a bounded cache per tenant.

use bytes::Bytes;
use dicom_pixeldata::{ConvertOptions, PixelDecoder, VoiLutOption, WindowLevel};
use futures::stream::BoxStream;
use futures::StreamExt;
use storage::StoredInstance;

use super::retrieve::Target;
use super::{Context, Error, Result, Service};

/// Longest side of a thumbnail.
pub const THUMBNAIL_SIZE: u32 = 128;
/// Memory the cached thumbnails may take, in bytes.
const THUMBNAIL_CACHE_BYTES: u64 = 64 << 20;

/// How to render.
#[derive(Debug, Clone, PartialEq)]
pub struct RenderParams {
    /// PNG rather than JPEG.
    pub png: bool,
    /// JPEG quality, 1 to 100.
    pub quality: u8,
    /// Fit into this many pixels (width, height).
    pub viewport: Option<(u32, u32)>,
    /// Window center and width.
    pub window: Option<(f64, f64)>,
}

impl RenderParams {
    /// The media type of the result.
    pub fn media_type(&self) -> &'static str {
        if self.png {
            "image/png"
        } else {
            "image/jpeg"
        }
    }
}

/// Which frame of what to render.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// The first frame (rendered), or the middle one (thumbnails).
    Default,
    /// This frame, 1-based.
    Number(u32),
}

/// Cached thumbnails: key → encoded image, bounded by their size.
pub(super) struct Thumbnails(quick_cache::sync::Cache<String, Bytes, BySize>);

/// A cached thumbnail weighs its bytes.
#[derive(Clone)]
pub(super) struct BySize;

impl quick_cache::Weighter<String, Bytes> for BySize {
    fn weight(&self, key: &String, image: &Bytes) -> u64 {
        (key.len() + image.len()) as u64
    }
}

impl Default for Thumbnails {
    fn default() -> Self {
        Thumbnails(quick_cache::sync::Cache::with_weighter(
            4096,
            THUMBNAIL_CACHE_BYTES,
            BySize,
        ))
    }
}

impl Thumbnails {
    /// Forget everything (after deletes).
    pub(super) fn clear(&self) {
        self.0.clear();
    }
}

impl Service {
    /// Rendered images of what `target` names: one per instance with pixel
    /// data (the given frame of an instance), rendered as the stream is
    /// read, two at a time, so a series of hundreds is never held whole.
    pub async fn rendered(
        &self,
        ctx: &Context,
        target: &Target,
        frame: Frame,
        params: &RenderParams,
        detail: &str,
    ) -> Result<BoxStream<'static, Result<Bytes>>> {
        let images = self.images(ctx, target, detail).await?;
        let frames = images
            .into_iter()
            .map(|i| frame_index(&i, frame, false).map(|n| (i, n)))
            .collect::<Result<Vec<_>>>()?;
        let (service, params) = (self.clone(), params.clone());
        Ok(futures::stream::iter(frames)
            .map(move |(i, n)| {
                let (service, params) = (service.clone(), params.clone());
                async move { service.render_instance(&i, n, &params).await }
            })
            .buffered(2)
            .boxed())
    }

    /// A thumbnail of what `target` names: for a study, the middle image of
    /// its first series; for a series, its middle image; for an instance,
    /// its middle (or given) frame.
    pub async fn thumbnail(
        &self,
        ctx: &Context,
        target: &Target,
        frame: Frame,
        params: &RenderParams,
        detail: &str,
    ) -> Result<Bytes> {
        let images = self.images(ctx, target, detail).await?;
        let first_series = &images[0].series_instance_uid;
        let series: Vec<&StoredInstance> = images
            .iter()
            .filter(|i| &i.series_instance_uid == first_series)
            .collect();
        let i = series[series.len() / 2];
        let n = frame_index(i, frame, true)?;
        let key = format!("{}/{target:?}|{n}|{params:?}", i.tenant.as_str());
        if let Some(bytes) = self.inner.thumbnails.0.get(&key) {
            return Ok(bytes);
        }
        let bytes = self.render_instance(i, n, params).await?;
        self.inner.thumbnails.0.insert(key, bytes.clone());
        Ok(bytes)
    }

    /// The instances with pixel data that `target` names.
    async fn images(
        &self,
        ctx: &Context,
        target: &Target,
        detail: &str,
    ) -> Result<Vec<StoredInstance>> {
        let images: Vec<StoredInstance> = self
            .instances(ctx, target, detail)
            .await?
            .into_iter()
            .filter(|i| i.number_of_frames > 0)
            .collect();
        if images.is_empty() {
            return Err(Error::not_found("no images there"));
        }
        Ok(images)
    }

    async fn render_instance(
        &self,
        i: &StoredInstance,
        frame: u32,
        params: &RenderParams,
    ) -> Result<Bytes> {
        let part10 = self.read(i).await?;
        let params = params.clone();
        let image = tokio::task::spawn_blocking(move || render(&part10, frame, &params))
            .await
            .map_err(|e| Error::Internal(format!("rendering task: {e}")))?
            .map_err(Error::not_acceptable)?;
        Ok(Bytes::from(image))
    }
}

/// The 0-based frame to render of `i`.
fn frame_index(i: &StoredInstance, frame: Frame, middle: bool) -> Result<u32> {
    match frame {
        Frame::Default if middle => Ok((i.number_of_frames.max(1) as u32 - 1) / 2),
        Frame::Default => Ok(0),
        Frame::Number(n) if n >= 1 && i64::from(n) <= i.number_of_frames => Ok(n - 1),
        Frame::Number(n) => Err(Error::not_found(format!(
            "frame {n} does not exist: the instance has {} frame(s)",
            i.number_of_frames
        ))),
    }
}

/// Render frame `frame` (0-based) of a Part 10 file. CPU-bound.
pub fn render(part10: &[u8], frame: u32, p: &RenderParams) -> std::result::Result<Vec<u8>, String> {
    let obj = dicom_check::read_part10(part10).map_err(|e| format!("unreadable instance: {e}"))?;
    let decoded = obj
        .decode_pixel_data()
        .map_err(|e| format!("cannot decode pixel data: {e}"))?;
    let mut options = ConvertOptions::new().force_8bit();
    if let Some((center, width)) = p.window {
        options = options.with_voi_lut(VoiLutOption::Custom(WindowLevel { center, width }));
    }
    let mut image = decoded
        .to_dynamic_image_with_options(frame, &options)
        .map_err(|e| format!("cannot render: {e}"))?;
    if let Some((w, h)) = p.viewport {
        image = image.resize(w, h, image::imageops::FilterType::Triangle);
    }
    let mut out = Vec::new();
    if p.png {
        image
            .write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
            .map_err(|e| e.to_string())?;
    } else {
        let rgb = image.to_rgb8();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, p.quality)
            .encode_image(&rgb)
            .map_err(|e| e.to_string())?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_a_ct_slice_as_jpeg_and_png() {
        let (_, instances) = filmless_test_data::ct_series_sized(3, 1, (64, 64));
        let bytes = &instances[0].bytes;
        let mut p = RenderParams {
            png: false,
            quality: 90,
            viewport: Some((32, 32)),
            window: Some((40.0, 400.0)),
        };
        let jpeg = render(bytes, 0, &p).unwrap();
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
        let img = image::load_from_memory(&jpeg).unwrap();
        assert_eq!((img.width(), img.height()), (32, 32));
        // Soft tissue in the middle, air in the corner.
        let g = img.to_luma8();
        assert!(g.get_pixel(16, 16)[0] > 60, "body is visible");
        assert!(g.get_pixel(0, 0)[0] < 30, "air is dark");
        p.png = true;
        let png = render(bytes, 0, &p).unwrap();
        assert_eq!(&png[1..4], b"PNG");
        assert!(render(bytes, 5, &p).is_err(), "no frame 6");
    }
}
