//! STOW-RS (PS3.18 §10.5): `POST /studies` and `/studies/{study}` with a
//! `multipart/related; type="application/dicom"` body.
//!
//! Each part goes into the service's store (the same as C-STORE), in the
//! caller's tenant: parts up to 8 MiB are read whole and stored up to 16 at a
//! time while the next ones arrive, so they share index commits; larger
//! ones stream through. A body of hundreds of MB is never held whole. The
//! response lists what was stored and what failed, with the failure reasons
//! of PS3.18 Table 10.5.3-1.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::stream::FuturesUnordered;
use futures::{StreamExt, TryStreamExt};
use serde_json::{json, Value};
use storage::Stored;
use tokio::task::JoinHandle;

use super::base_url;
use super::extract::TargetPath;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::service::ErrorKind;

/// `POST /studies`.
pub async fn store_studies(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    stow(state, caller, headers, body, None).await
}

/// `POST /studies/{study}`: every instance must belong to that study.
pub async fn store_study(
    State(state): State<AppState>,
    caller: Caller,
    TargetPath(study): TargetPath,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let study = study.study().to_string();
    stow(state, caller, headers, body, Some(study)).await
}

/// The boundary of a `multipart/related; type="application/dicom"` body.
pub fn boundary(headers: &HeaderMap) -> ApiResult<String> {
    let unsupported = |why: &str| ApiError {
        status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
        reason: format!("STOW-RS takes multipart/related; type=\"application/dicom\": {why}"),
    };
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| unsupported("no Content-Type"))?;
    let ranges = super::accept::parse([ct]);
    let r = ranges
        .first()
        .ok_or_else(|| unsupported("unreadable Content-Type"))?;
    if r.media_type != "multipart/related" {
        return Err(unsupported(&format!("got {}", r.media_type)));
    }
    if r.part_type
        .as_deref()
        .is_some_and(|t| t != "application/dicom")
    {
        return Err(unsupported("only application/dicom parts are supported"));
    }
    // RFC 2046: 1 to 70 characters.
    r.boundary
        .clone()
        .filter(|b| (1..=70).contains(&b.len()))
        .ok_or_else(|| ApiError::bad_request("multipart body without a boundary"))
}

/// Parts up to this size are read whole and stored concurrently.
const PART_IN_MEMORY: usize = 8 * 1024 * 1024;
/// Parts read whole and being stored at once, per request: enough for the
/// slices of a CT to share index commits (4 gave 400-460 instances/s on
/// the benchmark's CT, 16 gave 500-560).
const PARTS_IN_FLIGHT: usize = 16;
/// Bytes of those parts held at once, per request, counted as the parts'
/// own length (four 8 MiB parts; sixteen of a CT's 512 KB slices hold
/// 8 MiB). The buffers' spare room, the stores' chunk buffers and the part
/// being read come on top: two to three times this at worst.
const BYTES_IN_FLIGHT: usize = 32 * 1024 * 1024;

/// Bytes of a part counted in flight until its store ends.
struct Held(Arc<AtomicUsize>, usize);

impl Drop for Held {
    fn drop(&mut self) {
        self.0.fetch_sub(self.1, Ordering::Relaxed);
    }
}

/// How reading a part into memory ended.
enum Read {
    /// All of it, within [`PART_IN_MEMORY`].
    Whole,
    /// More than that: the rest streams.
    Large,
    /// The body broke off.
    Broken(multer::Error),
}

/// File a part's outcome; a caller who may not store ends the request.
fn answer(
    result: crate::service::Result<Stored>,
    responses: &mut Vec<Result<Stored, u16>>,
) -> ApiResult<()> {
    match result {
        Ok(stored) => responses.push(Ok(stored)),
        // Who may not store may not store any part.
        Err(e) if e.kind() == ErrorKind::Forbidden => return Err(e.into()),
        Err(e) => {
            tracing::info!(error = %e, "STOW-RS part refused");
            responses.push(Err(crate::errors::dimse_response(&e).status.0));
        }
    }
    Ok(())
}

/// A stored part's task joined.
fn joined(
    done: Result<crate::service::Result<Stored>, tokio::task::JoinError>,
) -> crate::service::Result<Stored> {
    done.unwrap_or_else(|e| {
        Err(crate::service::Error::Internal(format!(
            "storing a part failed: {e}"
        )))
    })
}

fn item(class: &str, instance: &str) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    if !class.is_empty() {
        m.insert("00081150".into(), json!({"vr": "UI", "Value": [class]}));
    }
    if !instance.is_empty() {
        m.insert("00081155".into(), json!({"vr": "UI", "Value": [instance]}));
    }
    m
}

async fn stow(
    state: AppState,
    caller: Caller,
    headers: HeaderMap,
    body: Body,
    study: Option<String>,
) -> ApiResult<Response> {
    let boundary = boundary(&headers)?;
    let base = base_url(&state, &headers);
    let stream = body.into_data_stream().map_err(std::io::Error::other);
    let mut multipart = multer::Multipart::new(stream, boundary);
    let mut referenced: Vec<Value> = Vec::new();
    let mut failed: Vec<Value> = Vec::new();
    let mut studies: Vec<String> = Vec::new();
    let mut parts = 0usize;
    // What each part came to, in the order the stores finished: the stored
    // instance, or the failure reason (PS3.18 Table 10.5.3-1).
    let mut responses: Vec<Result<Stored, u16>> = Vec::new();
    let mut in_flight: FuturesUnordered<JoinHandle<crate::service::Result<Stored>>> =
        FuturesUnordered::new();
    let held = Arc::new(AtomicUsize::new(0));
    loop {
        let field = match multipart.next_field().await {
            Ok(Some(f)) => f,
            Ok(None) => break,
            Err(e) if parts == 0 => {
                return Err(ApiError::bad_request(format!(
                    "malformed multipart body: {e}"
                )))
            }
            Err(e) => {
                // The rest of the body is unreadable: say so for that part.
                let mut f = item("", "");
                f.insert("00081197".into(), json!({"vr": "US", "Value": [0xC000]}));
                failed.push(Value::Object(f));
                tracing::info!(error = %e, "STOW-RS body broken after {parts} parts");
                break;
            }
        };
        parts += 1;
        let part_type = field.content_type().map(|m| m.essence_str().to_owned());
        if part_type
            .as_deref()
            .is_some_and(|t| t != "application/dicom")
        {
            let mut f = item("", "");
            f.insert("00081197".into(), json!({"vr": "US", "Value": [0xC122u16]}));
            failed.push(Value::Object(f));
            continue;
        }
        // A part that fits in PART_IN_MEMORY is read whole and stored
        // while the next ones are read, a few at a time, so that the parts
        // of one request share index commits; a larger one streams through
        // on its own.
        let mut field = field;
        let mut head = bytes::BytesMut::new();
        let read = loop {
            match field.chunk().await {
                Ok(Some(chunk)) => {
                    head.extend_from_slice(&chunk);
                    if head.len() > PART_IN_MEMORY {
                        break Read::Large;
                    }
                }
                Ok(None) => break Read::Whole,
                Err(e) => break Read::Broken(e),
            }
        };
        match read {
            Read::Whole => {
                while in_flight.len() >= PARTS_IN_FLIGHT
                    || (!in_flight.is_empty()
                        && held.load(Ordering::Relaxed) + head.len() > BYTES_IN_FLIGHT)
                {
                    if let Some(done) = in_flight.next().await {
                        answer(joined(done), &mut responses)?;
                    }
                }
                let (service, ctx, study) =
                    (state.service.clone(), caller.ctx.clone(), study.clone());
                held.fetch_add(head.len(), Ordering::Relaxed);
                let part = Held(held.clone(), head.len());
                let bytes = head.freeze();
                // A task of its own: a client that hangs up does not cut
                // short a part it sent whole (its store is finished and
                // audited).
                in_flight.push(tokio::spawn(async move {
                    let _part = part;
                    let data = futures::stream::iter([Ok::<_, std::io::Error>(bytes)]);
                    service.store(&ctx, data, study.as_deref()).await
                }));
            }
            Read::Large => {
                let rest = field.map_err(std::io::Error::other);
                let data = futures::stream::iter([Ok(head.freeze())]).chain(rest);
                let r = state
                    .service
                    .store(&caller.ctx, Box::pin(data), study.as_deref())
                    .await;
                answer(r, &mut responses)?;
            }
            Read::Broken(e) => {
                // As a streamed part cut off: the store sees the break and
                // keeps nothing; the part is reported once.
                let data =
                    futures::stream::iter([Ok(head.freeze()), Err(std::io::Error::other(e))]);
                let r = state
                    .service
                    .store(&caller.ctx, Box::pin(data), study.as_deref())
                    .await;
                answer(r, &mut responses)?;
            }
        }
    }
    while let Some(done) = in_flight.next().await {
        answer(joined(done), &mut responses)?;
    }
    for r in responses {
        match r {
            Ok(stored) => {
                let url = format!(
                    "{base}/studies/{}/series/{}/instances/{}",
                    stored.study_instance_uid, stored.series_instance_uid, stored.sop_instance_uid
                );
                let mut r = item(&stored.sop_class_uid, &stored.sop_instance_uid);
                r.insert("00081190".into(), json!({"vr": "UR", "Value": [url]}));
                referenced.push(Value::Object(r));
                if !studies.contains(&stored.study_instance_uid) {
                    studies.push(stored.study_instance_uid);
                }
            }
            Err(reason) => {
                let mut f = item("", "");
                f.insert("00081197".into(), json!({"vr": "US", "Value": [reason]}));
                failed.push(Value::Object(f));
            }
        }
    }
    if parts == 0 {
        return Err(ApiError::bad_request("multipart body with no parts"));
    }
    let mut out = serde_json::Map::new();
    if let [only] = studies.as_slice() {
        out.insert(
            "00081190".into(),
            json!({"vr": "UR", "Value": [format!("{base}/studies/{only}")]}),
        );
    }
    if !referenced.is_empty() {
        out.insert("00081199".into(), json!({"vr": "SQ", "Value": referenced}));
    }
    if !failed.is_empty() {
        out.insert("00081198".into(), json!({"vr": "SQ", "Value": failed}));
    }
    let status = match (referenced.is_empty(), failed.is_empty()) {
        (false, true) => StatusCode::OK,
        (false, false) => StatusCode::ACCEPTED,
        _ => StatusCode::CONFLICT,
    };
    Ok((
        status,
        [(header::CONTENT_TYPE, "application/dicom+json")],
        Value::Object(out).to_string(),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_type(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, ct.parse().unwrap());
        h
    }

    #[test]
    fn the_boundary_is_read_whatever_the_case_of_the_media_type() {
        for ct in [
            "multipart/related; type=\"application/dicom\"; boundary=XYZ",
            "Multipart/Related; boundary=\"XYZ\"; type=application/dicom",
        ] {
            assert_eq!(boundary(&with_type(ct)).unwrap(), "XYZ", "{ct}");
        }
        let refused = |ct: &str| boundary(&with_type(ct)).unwrap_err().status;
        assert_eq!(
            refused("multipart/related; type=\"application/dicom\""),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            refused("application/dicom"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
    }
}
