//! WADO-RS (PS3.18 §10.4): instances, metadata, frames and bulk data of
//! studies, series and instances; and DELETE of each.
//!
//! Metadata comes from the DICOM JSON kept in the index, never from blobs.
//! Frames are ranged reads at the offsets indexed at ingest. Instances go
//! as stored with `transfer-syntax=*`, else in explicit VR little endian
//! (PS3.18 §8.7.3.5), converted where needed and possible, else 406.

use axum::body::Body;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use storage::StoredInstance;

use super::accept::MediaRange;
use super::qido::params;
use super::{accepts, base_url, uid, ApiError, ApiResult};
use crate::server::AppState;

const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";

/// The WADO-RS routes (and DELETE, and STOW-RS to a study).
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/studies/{study}",
            get(retrieve_study)
                .delete(delete_study)
                .post(super::stow::store_study),
        )
        .route("/studies/{study}/metadata", get(study_metadata))
        .route(
            "/studies/{study}/series/{series}",
            get(retrieve_series).delete(delete_series),
        )
        .route(
            "/studies/{study}/series/{series}/metadata",
            get(series_metadata),
        )
        .route(
            "/studies/{study}/series/{series}/instances/{instance}",
            get(retrieve_instance).delete(delete_instance),
        )
        .route(
            "/studies/{study}/series/{series}/instances/{instance}/metadata",
            get(instance_metadata),
        )
        .route(
            "/studies/{study}/series/{series}/instances/{instance}/frames/{frames}",
            get(frames),
        )
        .route(
            "/studies/{study}/series/{series}/instances/{instance}/bulkdata/{*path}",
            get(bulkdata),
        )
}

// ---- metadata ----

async fn study_metadata(
    State(state): State<AppState>,
    Path(study): Path<String>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let study = uid("StudyInstanceUID", &study)?;
    metadata(&state, &headers, &study, None, None).await
}

async fn series_metadata(
    State(state): State<AppState>,
    Path((study, series)): Path<(String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let study = uid("StudyInstanceUID", &study)?;
    let series = uid("SeriesInstanceUID", &series)?;
    metadata(&state, &headers, &study, Some(&series), None).await
}

async fn instance_metadata(
    State(state): State<AppState>,
    Path((study, series, instance)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let study = uid("StudyInstanceUID", &study)?;
    let series = uid("SeriesInstanceUID", &series)?;
    let instance = uid("SOPInstanceUID", &instance)?;
    metadata(&state, &headers, &study, Some(&series), Some(&instance)).await
}

async fn metadata(
    state: &AppState,
    headers: &HeaderMap,
    study: &str,
    series: Option<&str>,
    instance: Option<&str>,
) -> ApiResult<Response> {
    let mut rows = state.archive.index().metadata(study, series).await?;
    if let Some(sop) = instance {
        rows.retain(|r| r.sop_instance_uid == sop);
    }
    if rows.is_empty() {
        return Err(ApiError::not_found(match (series, instance) {
            (_, Some(sop)) => format!("instance {sop} not found"),
            (Some(se), None) => format!("series {se} not found in study {study}"),
            _ => format!("study {study} not found"),
        }));
    }
    let base = base_url(state, headers);
    let mut body =
        String::with_capacity(rows.iter().map(|r| r.dicom_json.len() + 64).sum::<usize>() + 2);
    body.push('[');
    for (n, r) in rows.iter().enumerate() {
        if n > 0 {
            body.push(',');
        }
        // Bulk data URIs are kept relative to the instance; make them absolute.
        let prefix = format!(
            "\"BulkDataURI\":\"{base}/studies/{study}/series/{}/instances/{}/bulkdata/",
            r.series_instance_uid, r.sop_instance_uid
        );
        body.push_str(&r.dicom_json.replace("\"BulkDataURI\":\"bulkdata/", &prefix));
    }
    body.push(']');
    let etag = format!(
        "\"{}\"",
        hex::encode(&Sha256::digest(body.as_bytes())[..12])
    );
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        return Ok((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    Ok((
        StatusCode::OK,
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/dicom+json"),
            ),
            (
                header::ETAG,
                HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\"")),
            ),
        ],
        body,
    )
        .into_response())
}

// ---- instances ----

async fn retrieve_study(
    State(state): State<AppState>,
    Path(study): Path<String>,
    headers: HeaderMap,
    q: RawQuery,
) -> ApiResult<Response> {
    let study = uid("StudyInstanceUID", &study)?;
    let instances = state.archive.index().study_instances(&study).await?;
    if instances.is_empty() {
        return Err(ApiError::not_found(format!("study {study} not found")));
    }
    retrieve(state, &headers, &params(q.0), instances).await
}

async fn retrieve_series(
    State(state): State<AppState>,
    Path((study, series)): Path<(String, String)>,
    headers: HeaderMap,
    q: RawQuery,
) -> ApiResult<Response> {
    let study = uid("StudyInstanceUID", &study)?;
    let series = uid("SeriesInstanceUID", &series)?;
    let instances: Vec<StoredInstance> = state
        .archive
        .index()
        .series_instances(&series)
        .await?
        .into_iter()
        .filter(|i| i.study_instance_uid == study)
        .collect();
    if instances.is_empty() {
        return Err(ApiError::not_found(format!(
            "series {series} not found in study {study}"
        )));
    }
    retrieve(state, &headers, &params(q.0), instances).await
}

async fn retrieve_instance(
    State(state): State<AppState>,
    Path((study, series, instance)): Path<(String, String, String)>,
    headers: HeaderMap,
    q: RawQuery,
) -> ApiResult<Response> {
    let i = find_instance(&state, &study, &series, &instance).await?;
    retrieve(state, &headers, &params(q.0), vec![i]).await
}

/// The instance at a WADO-RS path, checked against its study and series.
pub(crate) async fn find_instance(
    state: &AppState,
    study: &str,
    series: &str,
    instance: &str,
) -> ApiResult<StoredInstance> {
    let study = uid("StudyInstanceUID", study)?;
    let series = uid("SeriesInstanceUID", series)?;
    let instance = uid("SOPInstanceUID", instance)?;
    match state.archive.index().instance(&instance).await? {
        Some(i) if i.study_instance_uid == study && i.series_instance_uid == series => Ok(i),
        _ => Err(ApiError::not_found(format!(
            "instance {instance} not found in series {series}"
        ))),
    }
}

/// What to send an instance as.
#[derive(Debug, Clone, PartialEq)]
enum Syntax {
    Stored,
    Convert(String),
}

/// The first acceptable way to send an instance stored in `stored`.
fn choose_syntax(accept: &[MediaRange], stored: &str) -> Option<Syntax> {
    let ranges: Vec<MediaRange> = if accept.is_empty() {
        vec![MediaRange {
            media_type: "multipart/related".into(),
            part_type: Some("application/dicom".into()),
            transfer_syntax: None,
            q: 1.0,
        }]
    } else {
        accept.to_vec()
    };
    for r in &ranges {
        let dicom_parts = match r.media_type.as_str() {
            "multipart/related" => r
                .part_type
                .as_deref()
                .is_none_or(|t| t == "application/dicom"),
            "*/*" | "multipart/*" => true,
            _ => false,
        };
        if !dicom_parts {
            continue;
        }
        match r.transfer_syntax.as_deref() {
            Some("*") => return Some(Syntax::Stored),
            Some(ts) if ts == stored => return Some(Syntax::Stored),
            None if stored == EXPLICIT_VR_LE => return Some(Syntax::Stored),
            requested => {
                let target = requested.unwrap_or(EXPLICIT_VR_LE);
                let convertible = dicom_net::dataset::is_native(target)
                    && (dicom_net::dataset::is_native(stored)
                        || dicom_net::dataset::can_decompress(stored));
                if convertible {
                    return Some(Syntax::Convert(target.to_owned()));
                }
            }
        }
    }
    None
}

/// A random multipart boundary.
fn boundary() -> String {
    format!(
        "filmless-{:016x}{:016x}",
        rand::random::<u64>(),
        rand::random::<u64>()
    )
}

async fn retrieve(
    state: AppState,
    headers: &HeaderMap,
    params: &[(String, String)],
    instances: Vec<StoredInstance>,
) -> ApiResult<Response> {
    let accept = accepts(headers, params);
    if accept
        .first()
        .is_some_and(|r| r.media_type == "application/zip")
    {
        return Ok(zip_response(state, instances));
    }
    // Decide every instance's syntax before sending anything.
    let mut plan = Vec::with_capacity(instances.len());
    for i in instances {
        let syntax = choose_syntax(&accept, &i.transfer_syntax_uid).ok_or_else(|| {
            ApiError::not_acceptable(format!(
                "instance {} is stored as {} and cannot be sent in any accepted transfer syntax",
                i.sop_instance_uid, i.transfer_syntax_uid
            ))
        })?;
        plan.push((i, syntax));
    }
    let boundary = boundary();
    let content_type =
        format!("multipart/related; type=\"application/dicom\"; boundary={boundary}");
    let archive = state.archive.clone();
    let end = Bytes::from(format!("\r\n--{boundary}--\r\n"));
    let parts = futures::stream::iter(plan)
        .map(move |(instance, syntax)| {
            let archive = archive.clone();
            let boundary = boundary.clone();
            async move {
                let bytes = archive
                    .blobs()
                    .read(&instance.blob)
                    .await
                    .map_err(|e| std::io::Error::other(crate::errors::public_message(&e)))?;
                let (ts, bytes) = match syntax {
                    Syntax::Stored => (instance.transfer_syntax_uid.clone(), bytes),
                    Syntax::Convert(target) => {
                        let stored = instance.transfer_syntax_uid.clone();
                        let t = target.clone();
                        let converted = tokio::task::spawn_blocking(move || convert(&bytes, &stored, &t))
                            .await
                            .map_err(std::io::Error::other)?
                            .map_err(std::io::Error::other)?;
                        (target, converted)
                    }
                };
                let head = format!(
                    "\r\n--{boundary}\r\nContent-Type: application/dicom; transfer-syntax={ts}\r\nContent-Length: {}\r\n\r\n",
                    bytes.len()
                );
                Ok::<_, std::io::Error>(futures::stream::iter([Ok(Bytes::from(head)), Ok(bytes)]))
            }
        })
        .buffered(4)
        .map(|r| match r {
            Ok(s) => s.boxed(),
            Err(e) => futures::stream::iter([Err(e)]).boxed(),
        })
        .flatten()
        .chain(futures::stream::iter([Ok(end)]));
    Ok((
        StatusCode::OK,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_str(&content_type)
                .map_err(|_| ApiError::bad_request("bad boundary"))?,
        )],
        Body::from_stream(parts),
    )
        .into_response())
}

/// The instances as one ZIP file, stored as received, streamed.
fn zip_response(state: AppState, instances: Vec<StoredInstance>) -> Response {
    let study = instances
        .first()
        .map(|i| i.study_instance_uid.clone())
        .unwrap_or_default();
    let archive = state.archive.clone();
    let writer = std::sync::Arc::new(std::sync::Mutex::new(
        Some(super::zip::ZipWriter::default()),
    ));
    let w = writer.clone();
    let entries = futures::stream::iter(instances)
        .map(move |i| {
            let archive = archive.clone();
            async move { archive.blobs().read(&i.blob).await.map(|b| (i, b)) }
        })
        .buffered(4)
        .map(move |r| {
            let (i, bytes) =
                r.map_err(|e| std::io::Error::other(crate::errors::public_message(&e)))?;
            let name = format!(
                "{}/{}/{}.dcm",
                i.study_instance_uid, i.series_instance_uid, i.sop_instance_uid
            );
            let mut guard = w
                .lock()
                .map_err(|_| std::io::Error::other("zip writer poisoned"))?;
            let zw = guard
                .as_mut()
                .ok_or_else(|| std::io::Error::other("zip finished"))?;
            let parts = zw.entry(&name, &bytes).map_err(|_| {
                std::io::Error::other("study too large for a ZIP file (4 GiB); use multipart")
            })?;
            Ok::<_, std::io::Error>(futures::stream::iter(parts.map(Ok)))
        })
        .map(|r| match r {
            Ok(s) => s.boxed(),
            Err(e) => futures::stream::iter([Err(e)]).boxed(),
        })
        .flatten();
    let end = futures::stream::once(async move {
        let zw = writer.lock().ok().and_then(|mut g| g.take());
        zw.ok_or_else(|| std::io::Error::other("zip writer gone"))?
            .finish()
            .map_err(|_| std::io::Error::other("study too large for a ZIP file"))
    });
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/zip".to_owned()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{study}.zip\""),
            ),
        ],
        Body::from_stream(entries.chain(end)),
    )
        .into_response()
}

/// A Part 10 file in another transfer syntax: native re-encoding, or
/// decompression.
fn convert(part10: &[u8], stored: &str, target: &str) -> Result<Bytes, String> {
    let (start, _) = dicom_net::retrieve::data_set_start(part10).map_err(|e| e.to_string())?;
    let data_set = if dicom_net::dataset::is_native(stored) {
        dicom_net::dataset::transcode(&part10[start..], stored, target)
    } else {
        dicom_net::dataset::decompress(part10, target)
    }
    .map_err(|e| e.to_string())?;
    let (class, instance) = meta_uids(part10);
    let mut out = storage::part10::file_meta(target, &class, &instance, None);
    out.extend_from_slice(&data_set);
    Ok(Bytes::from(out))
}

fn meta_uids(part10: &[u8]) -> (String, String) {
    let preamble = if part10.get(128..132) == Some(b"DICM") {
        128
    } else {
        0
    };
    dicom_object::meta::FileMetaTable::from_reader(&part10[preamble..])
        .map(|m| {
            (
                m.media_storage_sop_class_uid().to_owned(),
                m.media_storage_sop_instance_uid().to_owned(),
            )
        })
        .unwrap_or_default()
}

// ---- frames ----

/// The media type of compressed frames in a transfer syntax (PS3.18 Table 8.7.3-2).
fn frame_media_type(ts: &str) -> &'static str {
    match ts {
        "1.2.840.10008.1.2.4.50"
        | "1.2.840.10008.1.2.4.51"
        | "1.2.840.10008.1.2.4.57"
        | "1.2.840.10008.1.2.4.70" => "image/jpeg",
        "1.2.840.10008.1.2.4.80" | "1.2.840.10008.1.2.4.81" => "image/jls",
        "1.2.840.10008.1.2.4.90" | "1.2.840.10008.1.2.4.91" => "image/jp2",
        "1.2.840.10008.1.2.4.201" | "1.2.840.10008.1.2.4.202" | "1.2.840.10008.1.2.4.203" => {
            "image/jphc"
        }
        "1.2.840.10008.1.2.5" => "image/dicom-rle",
        _ => "application/octet-stream",
    }
}

async fn frames(
    State(state): State<AppState>,
    Path((study, series, instance, list)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    q: RawQuery,
) -> ApiResult<Response> {
    let i = find_instance(&state, &study, &series, &instance).await?;
    let numbers: Vec<usize> = list
        .split(',')
        .map(|n| n.trim().parse::<usize>().ok().filter(|n| *n >= 1))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            ApiError::bad_request(format!(
                "bad frame list {list:?}: expected numbers from 1, comma-separated"
            ))
        })?;
    if numbers.is_empty() || numbers.len() > 10_000 {
        return Err(ApiError::bad_request("between 1 and 10000 frame numbers"));
    }
    if let Some(n) = numbers.iter().find(|n| **n > i.frames.len()) {
        return Err(ApiError::not_found(format!(
            "frame {n} does not exist: the instance has {} frame(s)",
            i.frames.len()
        )));
    }
    let stored = i.transfer_syntax_uid.clone();
    let encapsulated = i.frames_encapsulated;
    let accept = accepts(&headers, &params(q.0));
    // Native frames are the same bytes in implicit and explicit VR little
    // endian; only big endian differs.
    let native_ts = if stored == dicom_net::dataset::EXPLICIT_VR_BE {
        stored.clone()
    } else {
        EXPLICIT_VR_LE.to_owned()
    };
    // Pick the first acceptable representation: (media type, multipart?).
    let mut choice: Option<(String, bool)> = None;
    // Whether compressed frames must be decoded for the chosen one.
    let mut decode = false;
    let defaults = [MediaRange {
        media_type: "multipart/related".into(),
        part_type: Some("application/octet-stream".into()),
        transfer_syntax: None,
        q: 1.0,
    }];
    let ranges = if accept.is_empty() {
        &defaults[..]
    } else {
        &accept[..]
    };
    for r in ranges {
        let (multipart, media) = match r.media_type.as_str() {
            "multipart/related" => (
                true,
                r.part_type
                    .clone()
                    .unwrap_or_else(|| "application/octet-stream".into()),
            ),
            other => (false, other.to_owned()),
        };
        if !multipart && numbers.len() > 1 {
            continue;
        }
        let ts_ok = |ts: &str| {
            r.transfer_syntax
                .as_deref()
                .is_none_or(|want| want == "*" || want == ts)
        };
        if !encapsulated {
            if (media == "application/octet-stream" || media == "*/*") && ts_ok(&native_ts) {
                choice = Some(("application/octet-stream".into(), multipart));
                break;
            }
        } else {
            let compressed = frame_media_type(&stored);
            let any = r.transfer_syntax.as_deref() == Some("*");
            let as_octets = media == "application/octet-stream"
                && (any || r.transfer_syntax.as_deref() == Some(&stored));
            let as_image =
                (media == compressed || media == "*/*" || media == "image/*") && ts_ok(&stored);
            if as_octets || as_image {
                let m = if as_octets {
                    "application/octet-stream"
                } else {
                    compressed
                };
                choice = Some((m.to_owned(), multipart));
                break;
            }
            // Uncompressed asked of a compressed instance: decode, if we can.
            let wants_native = (media == "application/octet-stream" || media == "*/*")
                && r.transfer_syntax
                    .as_deref()
                    .is_none_or(|t| t == EXPLICIT_VR_LE);
            if wants_native && dicom_net::dataset::can_decompress(&stored) {
                choice = Some(("application/octet-stream".into(), multipart));
                decode = true;
                break;
            }
        }
    }
    let Some((media, multipart)) = choice else {
        return Err(ApiError::not_acceptable(format!(
            "frames are stored as {stored}; ask for transfer-syntax=* or its media type ({})",
            frame_media_type(&stored)
        )));
    };
    let ts = if encapsulated && !decode {
        stored.clone()
    } else {
        native_ts
    };
    let mut frames: Vec<Bytes> = Vec::with_capacity(numbers.len());
    if decode {
        let part10 = state.archive.blobs().read(&i.blob).await?;
        let wanted = numbers.clone();
        frames = tokio::task::spawn_blocking(move || decode_frames(&part10, &wanted))
            .await
            .map_err(|_| ApiError::not_acceptable("decoding failed"))?
            .map_err(ApiError::not_acceptable)?;
    } else {
        for n in &numbers {
            frames.push(state.archive.read_frame(&i, *n).await?);
        }
    }
    if !multipart {
        let ct = format!("{media}; transfer-syntax={ts}");
        let body = frames.into_iter().next().unwrap_or_default();
        return Ok((StatusCode::OK, [(header::CONTENT_TYPE, ct)], body).into_response());
    }
    let boundary = boundary();
    let mut body = Vec::with_capacity(frames.iter().map(|f| f.len() + 128).sum());
    for f in &frames {
        body.extend_from_slice(
            format!("\r\n--{boundary}\r\nContent-Type: {media}; transfer-syntax={ts}\r\nContent-Length: {}\r\n\r\n", f.len())
                .as_bytes(),
        );
        body.extend_from_slice(f);
    }
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let ct = format!("multipart/related; type=\"{media}\"; boundary={boundary}");
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, ct)], body).into_response())
}

/// Decode frames (1-based numbers) of a compressed instance to native bytes.
fn decode_frames(part10: &[u8], numbers: &[usize]) -> Result<Vec<Bytes>, String> {
    use dicom_pixeldata::PixelDecoder;
    let obj = super::open_part10(part10)?;
    let decoded = obj
        .decode_pixel_data()
        .map_err(|e| format!("cannot decode: {e}"))?;
    numbers
        .iter()
        .map(|n| {
            decoded
                .frame_data(*n as u32 - 1)
                .map(Bytes::copy_from_slice)
                .map_err(|e| format!("cannot decode frame {n}: {e}"))
        })
        .collect()
}

// ---- bulk data ----

async fn bulkdata(
    State(state): State<AppState>,
    Path((study, series, instance, path)): Path<(String, String, String, String)>,
    headers: HeaderMap,
    q: RawQuery,
) -> ApiResult<Response> {
    let i = find_instance(&state, &study, &series, &instance).await?;
    let path = path.trim_matches('/');
    let bytes: Vec<u8> = if path.eq_ignore_ascii_case("7FE00010") {
        // Pixel data: every frame, in order.
        let mut all = Vec::new();
        for n in 1..=i.frames.len() {
            all.extend_from_slice(&state.archive.read_frame(&i, n).await?);
        }
        all
    } else {
        let part10 = state.archive.blobs().read(&i.blob).await?;
        let p = path.to_owned();
        tokio::task::spawn_blocking(move || element_bytes(&part10, &p))
            .await
            .map_err(|_| ApiError::not_found("bulk data unavailable"))??
    };
    let accept = accepts(&headers, &params(q.0));
    let single = accept
        .first()
        .is_some_and(|r| r.media_type == "application/octet-stream");
    let ts = i.transfer_syntax_uid.clone();
    if single {
        return Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/octet-stream".to_owned())],
            bytes,
        )
            .into_response());
    }
    let boundary = boundary();
    let mut body = format!(
        "\r\n--{boundary}\r\nContent-Type: application/octet-stream; transfer-syntax={ts}\r\nContent-Length: {}\r\n\r\n",
        bytes.len()
    )
    .into_bytes();
    body.extend_from_slice(&bytes);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let ct = format!("multipart/related; type=\"application/octet-stream\"; boundary={boundary}");
    Ok((StatusCode::OK, [(header::CONTENT_TYPE, ct)], body).into_response())
}

/// The value of the element at `path` (`TTTTTTTT` or `SSSSSSSS/i/TTTTTTTT`…).
fn element_bytes(part10: &[u8], path: &str) -> ApiResult<Vec<u8>> {
    use dicom_core::value::Value;
    let obj =
        super::open_part10(part10).map_err(|_| ApiError::not_found("bulk data unavailable"))?;
    let not_found = || ApiError::not_found(format!("no bulk data at {path}"));
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

// ---- delete ----

async fn delete_study(
    State(state): State<AppState>,
    Path(study): Path<String>,
) -> ApiResult<StatusCode> {
    let study = uid("StudyInstanceUID", &study)?;
    let n = state.archive.delete_study(&study).await?;
    state.thumbnails.clear();
    tracing::info!(study_instance_uid = %study, instances = n, "deleted study");
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_series(
    State(state): State<AppState>,
    Path((study, series)): Path<(String, String)>,
) -> ApiResult<StatusCode> {
    let study = uid("StudyInstanceUID", &study)?;
    let series = uid("SeriesInstanceUID", &series)?;
    // The series must be in the study the path names (the audit trail
    // records that study).
    let first = state.archive.index().series_instances(&series).await?;
    if first.first().is_none_or(|i| i.study_instance_uid != study) {
        return Err(ApiError::not_found(format!(
            "series {series} not found in study {study}"
        )));
    }
    let n = state.archive.delete_series(&series).await?;
    state.thumbnails.clear();
    tracing::info!(series_instance_uid = %series, instances = n, "deleted series");
    Ok(StatusCode::NO_CONTENT)
}

async fn delete_instance(
    State(state): State<AppState>,
    Path((study, series, instance)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let i = find_instance(&state, &study, &series, &instance).await?;
    state.archive.delete_instance(&i.sop_instance_uid).await?;
    state.thumbnails.clear();
    tracing::info!(sop_instance_uid = %i.sop_instance_uid, "deleted instance");
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dicomweb::accept::parse;

    #[test]
    fn instance_syntax_follows_accept() {
        let jpeg = "1.2.840.10008.1.2.4.50";
        let jls = "1.2.840.10008.1.2.4.80";
        assert_eq!(choose_syntax(&[], EXPLICIT_VR_LE), Some(Syntax::Stored));
        assert_eq!(
            choose_syntax(&[], jpeg),
            Some(Syntax::Convert(EXPLICIT_VR_LE.into()))
        );
        assert_eq!(choose_syntax(&[], jls), None, "no JPEG-LS decoder: 406");
        let any = parse(["multipart/related; type=\"application/dicom\"; transfer-syntax=*"]);
        assert_eq!(choose_syntax(&any, jls), Some(Syntax::Stored));
        let implicit =
            parse(["multipart/related; type=application/dicom; transfer-syntax=1.2.840.10008.1.2"]);
        assert_eq!(
            choose_syntax(&implicit, EXPLICIT_VR_LE),
            Some(Syntax::Convert("1.2.840.10008.1.2".into()))
        );
        assert_eq!(
            choose_syntax(&parse(["application/json"]), EXPLICIT_VR_LE),
            None
        );
    }
}
