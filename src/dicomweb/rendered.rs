//! Rendered resources and thumbnails (PS3.18 §9.5, §10.4.1.1.3): JPEG or
//! PNG images for people and thumbnails, decoded with dicom-pixeldata and
//! encoded with the `image` crate.
//!
//! Rendering applies the modality rescale, the VOI window (the data set's,
//! or `window=center,width[,function]`), MONOCHROME1 inversion, colour,
//! `viewport=width,height` (fit, aspect kept) and `quality`. Thumbnails are
//! 128-pixel renderings of a representative instance, cached in memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use dicom_pixeldata::{ConvertOptions, PixelDecoder, VoiLutOption, WindowLevel};
use storage::StoredInstance;

use super::qido::params;
use super::{accepts, uid, ApiError, ApiResult};
use crate::server::AppState;

/// Thumbnails kept in memory at most.
const THUMBNAIL_CACHE_ENTRIES: usize = 4096;
/// Longest side of a thumbnail.
const THUMBNAIL_SIZE: u32 = 128;

/// Cached thumbnails: (key, params) → encoded image and its media type.
#[derive(Default, Clone)]
pub struct ThumbnailCache(Arc<Mutex<HashMap<String, (Bytes, &'static str)>>>);

impl ThumbnailCache {
    fn get(&self, key: &str) -> Option<(Bytes, &'static str)> {
        self.0.lock().ok()?.get(key).cloned()
    }

    fn put(&self, key: String, value: (Bytes, &'static str)) {
        if let Ok(mut m) = self.0.lock() {
            if m.len() >= THUMBNAIL_CACHE_ENTRIES {
                m.clear();
            }
            m.insert(key, value);
        }
    }

    /// Forget everything (after deletes).
    pub fn clear(&self) {
        if let Ok(mut m) = self.0.lock() {
            m.clear();
        }
    }
}

/// The rendered and thumbnail routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/studies/{study}/rendered", get(study_rendered))
        .route("/studies/{study}/thumbnail", get(study_thumbnail))
        .route(
            "/studies/{study}/series/{series}/rendered",
            get(series_rendered),
        )
        .route(
            "/studies/{study}/series/{series}/thumbnail",
            get(series_thumbnail),
        )
        .route(
            "/studies/{study}/series/{series}/instances/{instance}/rendered",
            get(instance_rendered),
        )
        .route(
            "/studies/{study}/series/{series}/instances/{instance}/thumbnail",
            get(instance_thumbnail),
        )
        .route(
            "/studies/{study}/series/{series}/instances/{instance}/frames/{frames}/rendered",
            get(frame_rendered),
        )
        .route(
            "/studies/{study}/series/{series}/instances/{instance}/frames/{frames}/thumbnail",
            get(frame_thumbnail),
        )
}

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
    /// From the query string and the Accept header.
    pub fn parse(
        headers: &HeaderMap,
        params: &[(String, String)],
        thumbnail: bool,
    ) -> ApiResult<Self> {
        let accept = accepts(headers, params);
        let png = match accept
            .iter()
            .find(|r| r.matches("image/jpeg") || r.matches("image/png"))
        {
            None if !accept.is_empty()
                && !accept
                    .iter()
                    .any(|r| r.media_type.starts_with("image/") || r.media_type == "*/*") =>
            {
                return Err(ApiError::not_acceptable(
                    "rendered resources are image/jpeg or image/png",
                ))
            }
            Some(r) => r.media_type == "image/png",
            None => false,
        };
        let mut p = RenderParams {
            png,
            quality: 90,
            viewport: thumbnail.then_some((THUMBNAIL_SIZE, THUMBNAIL_SIZE)),
            window: None,
        };
        for (k, v) in params {
            match k.as_str() {
                "quality" => {
                    p.quality = v
                        .parse::<u8>()
                        .ok()
                        .filter(|q| (1..=100).contains(q))
                        .ok_or_else(|| ApiError::bad_request("quality must be 1 to 100"))?
                }
                "viewport" => {
                    let n: Vec<u32> = v
                        .split(',')
                        .map(|x| x.trim().parse().unwrap_or(0))
                        .collect();
                    match n.as_slice() {
                        [w, h, ..] if (1..=8192).contains(w) && (1..=8192).contains(h) => {
                            p.viewport = Some((*w, *h))
                        }
                        _ => {
                            return Err(ApiError::bad_request(
                                "viewport must be width,height from 1 to 8192",
                            ))
                        }
                    }
                }
                "window" => {
                    let parts: Vec<&str> = v.split(',').collect();
                    let num = |s: &str| s.trim().parse::<f64>().ok().filter(|x| x.is_finite());
                    match parts.as_slice() {
                        [c, w, rest @ ..] if rest.len() <= 1 => match (num(c), num(w)) {
                            (Some(c), Some(w)) if w > 0.0 => p.window = Some((c, w)),
                            _ => {
                                return Err(ApiError::bad_request(
                                    "window must be center,width[,function] with width > 0",
                                ))
                            }
                        },
                        _ => {
                            return Err(ApiError::bad_request(
                                "window must be center,width[,function]",
                            ))
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(p)
    }

    fn media_type(&self) -> &'static str {
        if self.png {
            "image/png"
        } else {
            "image/jpeg"
        }
    }
}

/// Render frame `frame` (0-based) of a Part 10 file. CPU-bound.
pub fn render(part10: &[u8], frame: u32, p: &RenderParams) -> Result<Vec<u8>, String> {
    let obj = super::open_part10(part10)?;
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

async fn render_instance(
    state: &AppState,
    i: &StoredInstance,
    frame: u32,
    p: &RenderParams,
) -> ApiResult<Bytes> {
    if i.number_of_frames == 0 {
        return Err(ApiError::not_found(format!(
            "instance {} has no pixel data",
            i.sop_instance_uid
        )));
    }
    let part10 = state.archive.blobs().read(&i.blob).await?;
    let p = p.clone();
    let image = tokio::task::spawn_blocking(move || render(&part10, frame, &p))
        .await
        .map_err(|_| ApiError::not_found("rendering failed"))?
        .map_err(|e| ApiError {
            status: StatusCode::NOT_ACCEPTABLE,
            reason: e,
        })?;
    Ok(Bytes::from(image))
}

fn image_response(bytes: Bytes, media_type: &'static str) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, media_type)], bytes).into_response()
}

/// The instances of a series or study that have pixel data.
async fn images_of(
    state: &AppState,
    study: &str,
    series: Option<&str>,
) -> ApiResult<Vec<StoredInstance>> {
    let study = uid("StudyInstanceUID", study)?;
    let all = match series {
        Some(s) => {
            let s = uid("SeriesInstanceUID", s)?;
            state.archive.index().series_instances(&s).await?
        }
        None => state.archive.index().study_instances(&study).await?,
    };
    let images: Vec<StoredInstance> = all
        .into_iter()
        .filter(|i| i.study_instance_uid == study && i.number_of_frames > 0)
        .collect();
    if images.is_empty() {
        return Err(ApiError::not_found("no images there"));
    }
    Ok(images)
}

/// Several rendered instances as multipart/related (study and series level).
async fn rendered_many(
    state: &AppState,
    images: Vec<StoredInstance>,
    p: &RenderParams,
) -> ApiResult<Response> {
    let boundary = format!("filmless-{:016x}", rand::random::<u64>());
    let mut body = Vec::new();
    for i in &images {
        let image = render_instance(state, i, 0, p).await?;
        body.extend_from_slice(
            format!(
                "\r\n--{boundary}\r\nContent-Type: {}\r\nContent-Length: {}\r\n\r\n",
                p.media_type(),
                image.len()
            )
            .as_bytes(),
        );
        body.extend_from_slice(&image);
    }
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let ct = format!(
        "multipart/related; type=\"{}\"; boundary={boundary}",
        p.media_type()
    );
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, ct)], body).into_response())
}

async fn study_rendered(
    State(state): State<AppState>,
    Path(study): Path<String>,
    headers: HeaderMap,
    q: RawQuery,
) -> ApiResult<Response> {
    let p = RenderParams::parse(&headers, &params(q.0), false)?;
    let images = images_of(&state, &study, None).await?;
    rendered_many(&state, images, &p).await
}

async fn series_rendered(
    State(state): State<AppState>,
    Path((study, series)): Path<(String, String)>,
    headers: HeaderMap,
    q: RawQuery,
) -> ApiResult<Response> {
    let p = RenderParams::parse(&headers, &params(q.0), false)?;
    let images = images_of(&state, &study, Some(&series)).await?;
    rendered_many(&state, images, &p).await
}

async fn instance_rendered(
    State(state): State<AppState>,
    Path((study, series, instance)): Path<(String, String, String)>,
    headers: HeaderMap,
    q: RawQuery,
) -> ApiResult<Response> {
    let p = RenderParams::parse(&headers, &params(q.0), false)?;
    let i = super::wado::find_instance(&state, &study, &series, &instance).await?;
    Ok(image_response(
        render_instance(&state, &i, 0, &p).await?,
        p.media_type(),
    ))
}

/// The first frame number of a list (rendered frames take one).
fn frame_number(list: &str, i: &StoredInstance) -> ApiResult<u32> {
    let n: u32 = list
        .split(',')
        .next()
        .and_then(|n| n.trim().parse().ok())
        .filter(|n| *n >= 1)
        .ok_or_else(|| ApiError::bad_request(format!("bad frame number {list:?}")))?;
    if i64::from(n) > i.number_of_frames {
        return Err(ApiError::not_found(format!(
            "frame {n} does not exist: the instance has {} frame(s)",
            i.number_of_frames
        )));
    }
    Ok(n - 1)
}

async fn frame_rendered(
    State(state): State<AppState>,
    Path((study, series, instance, frames)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    q: RawQuery,
) -> ApiResult<Response> {
    let p = RenderParams::parse(&headers, &params(q.0), false)?;
    let i = super::wado::find_instance(&state, &study, &series, &instance).await?;
    let frame = frame_number(&frames, &i)?;
    Ok(image_response(
        render_instance(&state, &i, frame, &p).await?,
        p.media_type(),
    ))
}

async fn thumbnail(
    state: &AppState,
    key: String,
    i: &StoredInstance,
    frame: u32,
    p: &RenderParams,
) -> ApiResult<Response> {
    let key = format!("{key}|{frame}|{p:?}");
    if let Some((bytes, media)) = state.thumbnails.get(&key) {
        return Ok(image_response(bytes, media));
    }
    let bytes = render_instance(state, i, frame, p).await?;
    state.thumbnails.put(key, (bytes.clone(), p.media_type()));
    Ok(image_response(bytes, p.media_type()))
}

async fn study_thumbnail(
    State(state): State<AppState>,
    Path(study): Path<String>,
    headers: HeaderMap,
    q: RawQuery,
) -> ApiResult<Response> {
    let p = RenderParams::parse(&headers, &params(q.0), true)?;
    let images = images_of(&state, &study, None).await?;
    // The middle image of the first series: representative, and past any localizer.
    let first_series = images[0].series_instance_uid.clone();
    let series: Vec<&StoredInstance> = images
        .iter()
        .filter(|i| i.series_instance_uid == first_series)
        .collect();
    let i = series[series.len() / 2].clone();
    thumbnail(&state, format!("study:{study}"), &i, 0, &p).await
}

async fn series_thumbnail(
    State(state): State<AppState>,
    Path((study, series)): Path<(String, String)>,
    headers: HeaderMap,
    q: RawQuery,
) -> ApiResult<Response> {
    let p = RenderParams::parse(&headers, &params(q.0), true)?;
    let images = images_of(&state, &study, Some(&series)).await?;
    let i = images[images.len() / 2].clone();
    thumbnail(&state, format!("series:{series}"), &i, 0, &p).await
}

async fn instance_thumbnail(
    State(state): State<AppState>,
    Path((study, series, instance)): Path<(String, String, String)>,
    headers: HeaderMap,
    q: RawQuery,
) -> ApiResult<Response> {
    let p = RenderParams::parse(&headers, &params(q.0), true)?;
    let i = super::wado::find_instance(&state, &study, &series, &instance).await?;
    let frame = (i.number_of_frames.max(1) as u32 - 1) / 2;
    thumbnail(&state, format!("instance:{instance}"), &i, frame, &p).await
}

async fn frame_thumbnail(
    State(state): State<AppState>,
    Path((study, series, instance, frames)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    q: RawQuery,
) -> ApiResult<Response> {
    let p = RenderParams::parse(&headers, &params(q.0), true)?;
    let i = super::wado::find_instance(&state, &study, &series, &instance).await?;
    let frame = frame_number(&frames, &i)?;
    thumbnail(&state, format!("instance:{instance}"), &i, frame, &p).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parameters_parse_or_are_refused() {
        let h = HeaderMap::new();
        let p = RenderParams::parse(
            &h,
            &q(&[
                ("window", "40,400,LINEAR"),
                ("viewport", "256,256"),
                ("quality", "75"),
            ]),
            false,
        )
        .unwrap();
        assert_eq!(
            (p.window, p.viewport, p.quality, p.png),
            (Some((40.0, 400.0)), Some((256, 256)), 75, false)
        );
        let png = RenderParams::parse(&h, &q(&[("accept", "image/png")]), true).unwrap();
        assert!(png.png);
        assert_eq!(png.viewport, Some((128, 128)));
        for bad in [
            ("window", "40"),
            ("window", "40,-1"),
            ("viewport", "0,10"),
            ("quality", "0"),
            ("accept", "application/pdf"),
        ] {
            assert!(
                RenderParams::parse(&h, &q(&[bad]), false).is_err(),
                "{bad:?}"
            );
        }
    }

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
