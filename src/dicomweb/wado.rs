//! WADO-RS (PS3.18 §10.4): instances, metadata, frames and bulk data of
//! studies, series and instances; and DELETE of each.
//!
//! The service finds what a path names within the caller's tenant (and
//! audits it); this module chooses the representation. Metadata comes from
//! the DICOM JSON kept in the index, never from blobs. Frames are ranged
//! reads at the offsets indexed at ingest. Instances go as stored with
//! `transfer-syntax=*`, else in explicit VR little endian (PS3.18
//! §8.7.3.5), converted where needed and possible, else 406.

use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use dicom_net::dataset::{can_decompress, is_native, EXPLICIT_VR_BE, EXPLICIT_VR_LE};
use futures::StreamExt;
use sha2::{Digest, Sha256};
use storage::StoredInstance;

use super::accept::MediaRange;
use super::base_url;
use super::extract::{frame_numbers, BulkDataPath, FramesPath, Params, TargetPath};
use super::multipart::Multipart;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;

// ---- metadata ----

/// `GET …/metadata` of a study, series or instance.
pub async fn metadata(
    State(state): State<AppState>,
    caller: Caller,
    TargetPath(target): TargetPath,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let rows = state
        .service
        .metadata(&caller.ctx, &target, &caller.detail)
        .await?;
    let study = target.study().to_string();
    let base = base_url(&state, &headers);
    // Megabytes of JSON for a large study, and a hash of them: off the
    // async runtime.
    let (body, etag) = tokio::task::spawn_blocking(move || {
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
        (body, etag)
    })
    .await
    .map_err(|e| ApiError {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        reason: format!("metadata: {e}"),
    })?;
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
            boundary: None,
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
                let convertible =
                    is_native(target) && (is_native(stored) || can_decompress(stored));
                if convertible {
                    return Some(Syntax::Convert(target.to_owned()));
                }
            }
        }
    }
    None
}

/// `GET` of a study, series or instance: its instances.
pub async fn retrieve(
    State(state): State<AppState>,
    caller: Caller,
    TargetPath(target): TargetPath,
    params: Params,
) -> ApiResult<Response> {
    let instances = state
        .service
        .instances(&caller.ctx, &target, &caller.detail)
        .await?;
    let accept = &params.accept;
    if accept
        .first()
        .is_some_and(|r| r.media_type == "application/zip")
    {
        return Ok(super::zip::response(
            state.service.clone(),
            target,
            instances,
        ));
    }
    // Decide every instance's syntax before sending anything.
    let mut plan = Vec::with_capacity(instances.len());
    for i in instances {
        let syntax = choose_syntax(accept, &i.transfer_syntax_uid).ok_or_else(|| {
            ApiError::not_acceptable(format!(
                "instance {} is stored as {} and cannot be sent in any accepted transfer syntax",
                i.sop_instance_uid, i.transfer_syntax_uid
            ))
        })?;
        plan.push((i, syntax));
    }
    let service = state.service.clone();
    let parts = futures::stream::iter(plan)
        .map(move |(instance, syntax)| {
            let service = service.clone();
            async move {
                let (ts, bytes) = match syntax {
                    Syntax::Stored => (
                        instance.transfer_syntax_uid.clone(),
                        service.read(&instance).await,
                    ),
                    Syntax::Convert(target) => {
                        let bytes = service.instance_as(&instance, &target).await;
                        (target, bytes)
                    }
                };
                let bytes = bytes.map_err(|e| std::io::Error::other(e.public_message()))?;
                Ok((format!("application/dicom; transfer-syntax={ts}"), bytes))
            }
        })
        .buffered(4);
    Ok(Multipart::new("application/dicom").streamed(parts))
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

/// `GET …/instances/{instance}/frames/{frames}`.
pub async fn frames(
    State(state): State<AppState>,
    caller: Caller,
    FramesPath(target, list): FramesPath,
    params: Params,
) -> ApiResult<Response> {
    let numbers = frame_numbers(&list)?;
    let i = one(state
        .service
        .instances(&caller.ctx, &target, &caller.detail)
        .await?)?;
    if let Some(n) = numbers.iter().find(|n| **n > i.frames.len()) {
        return Err(ApiError::not_found(format!(
            "frame {n} does not exist: the instance has {} frame(s)",
            i.frames.len()
        )));
    }
    let stored = i.transfer_syntax_uid.clone();
    let encapsulated = i.frames_encapsulated;
    let accept = &params.accept;
    // Native frames are the same bytes in implicit and explicit VR little
    // endian; only big endian differs.
    let native_ts = if stored == EXPLICIT_VR_BE {
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
        boundary: None,
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
            if wants_native && can_decompress(&stored) {
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
    let frames: Vec<Bytes> = if decode {
        state.service.decoded_frames(&i, numbers.clone()).await?
    } else {
        let mut frames = Vec::with_capacity(numbers.len());
        for n in &numbers {
            frames.push(state.service.read_frame(&i, *n).await?);
        }
        frames
    };
    let part_type = format!("{media}; transfer-syntax={ts}");
    if !multipart {
        let body = frames.into_iter().next().unwrap_or_default();
        return Ok((StatusCode::OK, [(header::CONTENT_TYPE, part_type)], body).into_response());
    }
    Ok(Multipart::new(&media).whole(frames.into_iter().map(|f| (part_type.clone(), f)).collect()))
}

/// The one instance an instance path names.
fn one(mut instances: Vec<StoredInstance>) -> ApiResult<StoredInstance> {
    instances
        .pop()
        .ok_or_else(|| ApiError::not_found("instance not found"))
}

// ---- bulk data ----

/// `GET …/instances/{instance}/bulkdata/{*path}`.
pub async fn bulkdata(
    State(state): State<AppState>,
    caller: Caller,
    BulkDataPath(target, path): BulkDataPath,
    params: Params,
) -> ApiResult<Response> {
    let i = one(state
        .service
        .instances(&caller.ctx, &target, &caller.detail)
        .await?)?;
    let path = path.trim_matches('/');
    let bytes: Vec<u8> = if path.eq_ignore_ascii_case("7FE00010") {
        if i.frames.is_empty() {
            return Err(ApiError::not_found("the instance has no pixel data"));
        }
        // Pixel data: every frame, in order.
        let mut all = Vec::new();
        for n in 1..=i.frames.len() {
            all.extend_from_slice(&state.service.read_frame(&i, n).await?);
        }
        all
    } else {
        state.service.element(&i, path).await?
    };
    let single = params
        .accept
        .first()
        .is_some_and(|r| r.media_type == "application/octet-stream");
    if single {
        return Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/octet-stream".to_owned())],
            bytes,
        )
            .into_response());
    }
    let ts = &i.transfer_syntax_uid;
    Ok(Multipart::new("application/octet-stream").whole(vec![(
        format!("application/octet-stream; transfer-syntax={ts}"),
        Bytes::from(bytes),
    )]))
}

// ---- delete ----

/// `DELETE` of a study, series or instance; `?reason=` (at most 256
/// characters) is kept in the audit trail with it.
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    TargetPath(target): TargetPath,
    params: Params,
) -> ApiResult<StatusCode> {
    let reason = params
        .pairs
        .iter()
        .find(|(k, _)| k == "reason")
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty());
    let detail = match &reason {
        Some(r) if r.chars().count() > 256 || r.chars().any(char::is_control) => {
            return Err(ApiError::bad_request(
                "a reason is one line of at most 256 characters",
            ))
        }
        Some(r) => format!("{}; reason: {r}", caller.detail),
        None => caller.detail.clone(),
    };
    state.service.delete(&caller.ctx, &target, &detail).await?;
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
        let video = "1.2.840.10008.1.2.4.100";
        assert_eq!(choose_syntax(&[], EXPLICIT_VR_LE), Some(Syntax::Stored));
        assert_eq!(
            choose_syntax(&[], jpeg),
            Some(Syntax::Convert(EXPLICIT_VR_LE.into()))
        );
        assert_eq!(
            choose_syntax(&[], jls),
            Some(Syntax::Convert(EXPLICIT_VR_LE.into())),
            "JPEG-LS decodes (CharLS)"
        );
        assert_eq!(choose_syntax(&[], video), None, "no video decoder: 406");
        let any = parse(["multipart/related; type=\"application/dicom\"; transfer-syntax=*"]);
        assert_eq!(choose_syntax(&any, video), Some(Syntax::Stored));
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
