//! What DICOMweb handlers take from a request, parsed and validated once:
//! the study / series / instance a path names, the query parameters, the
//! Accept ranges (`accept=` parameters override the header, PS3.18
//! §8.3.3.1). A malformed UID is a 400 with the reason.

use std::collections::HashMap;

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

/// The study, series or instance a path names: `/studies/{study}`,
/// `…/series/{series}`, `…/instances/{instance}` (whichever the route has).
pub struct TargetPath(pub Target);
/// The same, or nothing for routes without a study (`/series`).
pub struct OptionalTarget(pub Option<Target>);
/// `…/instances/{instance}/frames/{frames}`: the instance and the list.
pub struct FramesPath(pub Target, pub String);
/// `…/instances/{instance}/bulkdata/{*path}`: the instance and the path.
pub struct BulkDataPath(pub Target, pub String);

/// The path parameters, by name.
async fn params<S: Send + Sync>(
    parts: &mut Parts,
    state: &S,
) -> Result<HashMap<String, String>, ApiError> {
    Path::<HashMap<String, String>>::from_request_parts(parts, state)
        .await
        .map(|p| p.0)
        .map_err(|e| ApiError::bad_request(e.body_text()))
}

/// The target the named parameters give, if any.
fn target(p: &HashMap<String, String>) -> Result<Option<Target>, ApiError> {
    let get = |k: &str, attribute| p.get(k).map(|v| uid(attribute, v)).transpose();
    let study = get("study", "StudyInstanceUID")?;
    let series = get("series", "SeriesInstanceUID")?;
    let instance = get("instance", "SOPInstanceUID")?;
    Ok(match (study, series, instance) {
        (None, _, _) => None,
        (Some(st), None, _) => Some(Target::Study(st)),
        (Some(st), Some(se), None) => Some(Target::Series(st, se)),
        (Some(st), Some(se), Some(i)) => Some(Target::Instance(st, se, i)),
    })
}

impl<S: Send + Sync> FromRequestParts<S> for OptionalTarget {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        use axum::extract::rejection::PathRejection;
        let p = match Path::<HashMap<String, String>>::from_request_parts(parts, state).await {
            Ok(p) => p.0,
            // A route without parameters (`/series`): no target.
            Err(PathRejection::MissingPathParams(_)) => HashMap::new(),
            Err(e) => return Err(ApiError::bad_request(e.body_text())),
        };
        Ok(OptionalTarget(target(&p)?))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for TargetPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let p = params(parts, state).await?;
        target(&p)?
            .map(TargetPath)
            .ok_or_else(|| ApiError::bad_request("no study in the path"))
    }
}

impl<S: Send + Sync> FromRequestParts<S> for FramesPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let p = params(parts, state).await?;
        match (target(&p)?, p.get("frames")) {
            (Some(t @ Target::Instance(..)), Some(f)) => Ok(FramesPath(t, f.clone())),
            _ => Err(ApiError::bad_request(
                "no instance and frame list in the path",
            )),
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for BulkDataPath {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let p = params(parts, state).await?;
        match (target(&p)?, p.get("path")) {
            (Some(t @ Target::Instance(..)), Some(rest)) => Ok(BulkDataPath(t, rest.clone())),
            _ => Err(ApiError::bad_request(
                "no instance and bulk data path in the path",
            )),
        }
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
