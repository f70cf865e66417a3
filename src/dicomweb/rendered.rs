//! Rendered resources and thumbnails (PS3.18 §9.5, §10.4.1.1.3): the
//! request's parameters parsed here, the images made by the service
//! (`crate::service::render`) within the caller's tenant.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;

use super::accept::MediaRange;
use super::extract::{frame_numbers, FramesPath, Params, TargetPath};
use super::multipart::Multipart;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, ApiResult};
use crate::http::state::AppState;
use crate::service::render::{Frame, THUMBNAIL_SIZE};
use crate::service::{RenderParams, Target};

/// The largest thumbnail a request may ask for (a viewport), in pixels.
const MAX_THUMBNAIL: u32 = 512;

/// Rendering parameters from the query string and the Accept ranges.
pub fn render_params(params: &Params, thumbnail: bool) -> ApiResult<RenderParams> {
    // The first acceptable range that is (or, for multipart/related, whose
    // part type is) JPEG or PNG; none of them: 406.
    let png = if params.accept.is_empty() {
        false
    } else {
        params
            .accept
            .iter()
            .find_map(|r| {
                let r = match (r.media_type.as_str(), &r.part_type) {
                    ("multipart/related", part) => MediaRange {
                        media_type: part.clone().unwrap_or_else(|| "image/jpeg".into()),
                        ..r.clone()
                    },
                    _ => r.clone(),
                };
                if r.matches("image/jpeg") {
                    Some(false)
                } else if r.matches("image/png") {
                    Some(true)
                } else {
                    None
                }
            })
            .ok_or_else(|| {
                ApiError::not_acceptable("rendered resources are image/jpeg or image/png")
            })?
    };
    let mut p = RenderParams {
        png,
        quality: 90,
        viewport: thumbnail.then_some((THUMBNAIL_SIZE, THUMBNAIL_SIZE)),
        window: None,
    };
    for (k, v) in &params.pairs {
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
                // A thumbnail stays small: it is cached.
                let most = if thumbnail { MAX_THUMBNAIL } else { 8192 };
                match n.as_slice() {
                    [w, h] if (1..=most).contains(w) && (1..=most).contains(h) => {
                        p.viewport = Some((*w, *h))
                    }
                    [_, _, _, ..] => {
                        return Err(ApiError::bad_request(
                            "viewport takes width,height only: a source region is not supported",
                        ))
                    }
                    _ => {
                        return Err(ApiError::bad_request(format!(
                            "viewport must be width,height from 1 to {most}"
                        )))
                    }
                }
            }
            "window" => {
                let parts: Vec<&str> = v.split(',').collect();
                let num = |s: &str| s.trim().parse::<f64>().ok().filter(|x| x.is_finite());
                match parts.as_slice() {
                    [_, _, f] if !f.trim().eq_ignore_ascii_case("LINEAR") => {
                        return Err(ApiError::bad_request(
                            "window function: only LINEAR is supported",
                        ))
                    }
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

/// The one frame number of a rendered frame's path.
fn frame_number(list: &str) -> ApiResult<Frame> {
    match frame_numbers(list)?.as_slice() {
        [n] => u32::try_from(*n)
            .map(Frame::Number)
            .map_err(|_| ApiError::bad_request(format!("bad frame number {list:?}"))),
        _ => Err(ApiError::bad_request(
            "a rendered frame names one frame number",
        )),
    }
}

fn image(bytes: Bytes, p: &RenderParams) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, p.media_type())],
        bytes,
    )
        .into_response()
}

/// One image of an instance or frame; one part per image of a series or
/// study (multipart/related).
async fn render(
    state: &AppState,
    caller: &Caller,
    target: Target,
    frame: Frame,
    params: &Params,
) -> ApiResult<Response> {
    let p = render_params(params, false)?;
    let mut images = state
        .service
        .rendered(&caller.ctx, &target, frame, &p, &caller.detail)
        .await?;
    let media = p.media_type();
    Ok(match target {
        Target::Instance(..) => {
            let one = images
                .next()
                .await
                .ok_or_else(|| ApiError::not_found("no image there"))??;
            image(one, &p)
        }
        _ => Multipart::new(media).streamed(images.map(move |r| {
            r.map(|b| (media.to_owned(), b))
                .map_err(|e| std::io::Error::other(e.public_message()))
        })),
    })
}

async fn thumb(
    state: &AppState,
    caller: &Caller,
    target: Target,
    frame: Frame,
    params: &Params,
) -> ApiResult<Response> {
    let p = render_params(params, true)?;
    let bytes = state
        .service
        .thumbnail(&caller.ctx, &target, frame, &p, &caller.detail)
        .await?;
    Ok(image(bytes, &p))
}

/// `GET …/rendered` of a study, series or instance.
pub async fn rendered(
    State(s): State<AppState>,
    c: Caller,
    TargetPath(t): TargetPath,
    p: Params,
) -> ApiResult<Response> {
    render(&s, &c, t, Frame::Default, &p).await
}

/// `GET …/frames/{frames}/rendered`.
pub async fn frame_rendered(
    State(s): State<AppState>,
    c: Caller,
    FramesPath(t, list): FramesPath,
    p: Params,
) -> ApiResult<Response> {
    let frame = frame_number(&list)?;
    render(&s, &c, t, frame, &p).await
}

/// `GET …/thumbnail` of a study, series or instance.
pub async fn thumbnail(
    State(s): State<AppState>,
    c: Caller,
    TargetPath(t): TargetPath,
    p: Params,
) -> ApiResult<Response> {
    thumb(&s, &c, t, Frame::Default, &p).await
}

/// `GET …/frames/{frames}/thumbnail`.
pub async fn frame_thumbnail(
    State(s): State<AppState>,
    c: Caller,
    FramesPath(t, list): FramesPath,
    p: Params,
) -> ApiResult<Response> {
    let frame = frame_number(&list)?;
    thumb(&s, &c, t, frame, &p).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(pairs: &[(&str, &str)]) -> Params {
        let raw = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        Params::new(Some(&raw), &axum::http::HeaderMap::new())
    }

    #[test]
    fn parameters_parse_or_are_refused() {
        let p = render_params(
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
        let png = render_params(&q(&[("accept", "image/png")]), true).unwrap();
        assert!(png.png);
        assert_eq!(png.viewport, Some((128, 128)));
        let series = render_params(
            &q(&[("accept", "multipart/related; type=\"image/png\"")]),
            false,
        )
        .unwrap();
        assert!(series.png, "the part type of multipart/related decides");
        assert!(render_params(&q(&[("viewport", "1024,1024")]), true).is_err());
        assert!(frame_number("1,2").is_err() && frame_number("0").is_err());
        assert_eq!(frame_number("3").unwrap(), Frame::Number(3));
        for bad in [
            ("window", "40"),
            ("window", "40,-1"),
            ("viewport", "0,10"),
            ("quality", "0"),
            ("accept", "application/pdf"),
            ("accept", "image/gif"),
            ("window", "40,400,SIGMOID"),
            ("viewport", "256,256,0,0,64,64"),
        ] {
            assert!(render_params(&q(&[bad]), false).is_err(), "{bad:?}");
        }
    }
}
