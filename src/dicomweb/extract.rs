//! What DICOMweb handlers take from a request, parsed and validated once:
//! the study / series / instance a path names, the query parameters, the
//! Accept ranges (`accept=` parameters override the header, PS3.18
//! §8.3.3.1). A malformed UID is a 400 with the reason.

use axum::extract::{FromRequestParts, Path, RawQuery};
use axum::http::request::Parts;
use axum::http::HeaderMap;
use storage::Uid;

use super::accept::{self, MediaRange};
use crate::http::error::ApiError;
use crate::service::Target;

fn uid(attribute: &'static str, value: &str) -> Result<Uid, ApiError> {
    Uid::parse(attribute, value).map_err(|e| ApiError::bad_request(e.to_string()))
}

async fn path<T, S>(parts: &mut Parts, state: &S) -> Result<T, ApiError>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    Path::<T>::from_request_parts(parts, state)
        .await
        .map(|p| p.0)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

/// `/studies/{study}`.
pub struct StudyPath(pub Target);
/// `/studies/{study}/series/{series}`.
pub struct SeriesPath(pub Target);
/// `/studies/{study}/series/{series}/instances/{instance}`.
pub struct InstancePath(pub Target);
/// `…/instances/{instance}/frames/{frames}`: the instance and the list.
pub struct FramesPath(pub Target, pub String);
/// `…/instances/{instance}/bulkdata/{*path}`: the instance and the path.
pub struct BulkDataPath(pub Target, pub String);

impl<S: Send + Sync> FromRequestParts<S> for StudyPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let study: String = path(parts, state).await?;
        Ok(StudyPath(Target::Study(uid("StudyInstanceUID", &study)?)))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for SeriesPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let (study, series): (String, String) = path(parts, state).await?;
        Ok(SeriesPath(Target::Series(
            uid("StudyInstanceUID", &study)?,
            uid("SeriesInstanceUID", &series)?,
        )))
    }
}

fn instance(study: &str, series: &str, sop: &str) -> Result<Target, ApiError> {
    Ok(Target::Instance(
        uid("StudyInstanceUID", study)?,
        uid("SeriesInstanceUID", series)?,
        uid("SOPInstanceUID", sop)?,
    ))
}

impl<S: Send + Sync> FromRequestParts<S> for InstancePath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let (st, se, i): (String, String, String) = path(parts, state).await?;
        Ok(InstancePath(instance(&st, &se, &i)?))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for FramesPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let (st, se, i, frames): (String, String, String, String) = path(parts, state).await?;
        Ok(FramesPath(instance(&st, &se, &i)?, frames))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for BulkDataPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let (st, se, i, rest): (String, String, String, String) = path(parts, state).await?;
        Ok(BulkDataPath(instance(&st, &se, &i)?, rest))
    }
}

/// The query string as `(key, value)` pairs (percent-decoded, `+` as
/// space), and the Accept ranges the request gives, best first.
pub struct Params {
    /// The pairs, in order.
    pub pairs: Vec<(String, String)>,
    /// Accept ranges: `accept=` parameters, else the headers.
    pub accept: Vec<MediaRange>,
}

impl Params {
    /// From a raw query and the headers.
    pub fn new(raw: Option<&str>, headers: &HeaderMap) -> Self {
        let pairs: Vec<(String, String)> = raw
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default();
        let from_query: Vec<&str> = pairs
            .iter()
            .filter(|(k, _)| k == "accept")
            .map(|(_, v)| v.as_str())
            .collect();
        let accept = if from_query.is_empty() {
            accept::parse(
                headers
                    .get_all(axum::http::header::ACCEPT)
                    .iter()
                    .filter_map(|v| v.to_str().ok()),
            )
        } else {
            accept::parse(from_query)
        };
        Params { pairs, accept }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Params {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let raw = RawQuery::from_request_parts(parts, state).await?;
        Ok(Params::new(raw.0.as_deref(), &parts.headers))
    }
}

/// A list of frame numbers (`1,3,5`), each from 1, at most 10000.
pub fn frame_numbers(list: &str) -> Result<Vec<usize>, ApiError> {
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
    Ok(numbers)
}
