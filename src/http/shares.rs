//! Shares over HTTP: the management API for staff (right `Share`), and the
//! public pages a share's link opens.
//!
//! Management (authenticated):
//! - `POST /api/shares` `{"study", "expires_in_days", "pin"}` → `201 {id,
//!   url, expires_at, pin}`: the only time the link and PIN are given out;
//! - `GET /api/shares?study=UID`, `GET /api/shares/{id}`, `DELETE
//!   /api/shares/{id}` (revoke);
//! - `GET /api/shares/{id}/qr.svg?token=…`, `qr.png`, `slip`: the link as
//!   a QR code, and the printable slip (A5). The link's token is not
//!   stored, so these take it from whoever holds it (it is checked against
//!   the share, and kept out of the audit trail).
//!
//! Public (the token is the proof; see [`super::PUBLIC_ROUTES`]):
//! - `GET /s/{token}`: the study's page (phone and PC), or the PIN form,
//!   or "expired" (410) / "not found" (404);
//! - `POST /s/{token}/pin`: check a PIN; the browser keeps a proof;
//! - `GET /s/{token}/images.zip`: the images as JPEGs;
//! - `GET /s/{token}/dicom-web/…`: QIDO-RS and WADO-RS (also rendered
//!   images, thumbnails and the ZIP download) of that study only: any
//!   other study answers 404, searches see only it, and nothing else
//!   (no upload, no delete, no other route) is reachable.
//!
//! Every share response says `Cache-Control: no-store`, `Referrer-Policy:
//! no-referrer` and `X-Robots-Tag: noindex`.

use axum::body::{Body, Bytes};
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use tower::ServiceExt as _;

use super::auth::Caller;
use super::error::{ApiError, ApiResult};
use super::routes::routes;
use super::state::AppState;
use crate::dicomweb::extract::Params;
use crate::service::shares::{Closed, OpenShare, ShareView};

routes! {
    "/api/shares" => { get: list, post: create }
    "/api/shares/{id}" => { get: one, delete: revoke }
    "/api/shares/{id}/qr.svg" => { get: qr_svg }
    "/api/shares/{id}/qr.png" => { get: qr_png }
    "/api/shares/{id}/slip" => { get: slip }
}

/// The cookie that carries a browser's proof of the PIN.
const PIN_COOKIE: &str = "filmless_share_pin";

fn id_of(raw: &str) -> ApiResult<i64> {
    raw.parse()
        .map_err(|_| ApiError::not_found(format!("no share {raw:?}")))
}

/// The base URL links start with: `http.public_url`, or as the client
/// reached this server (the same rules as DICOMweb's URLs).
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    crate::dicomweb::base_url(state, headers)
        .trim_end_matches("/dicom-web")
        .to_owned()
}

/// `POST /api/shares`.
async fn create(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let json: serde_json::Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::bad_request(format!("the body is not JSON: {e}")))?;
    let study = json["study"]
        .as_str()
        .ok_or_else(|| ApiError::bad_request("the body needs \"study\": a Study Instance UID"))?;
    let days = match &json["expires_in_days"] {
        serde_json::Value::Null => 30,
        v => v.as_i64().ok_or_else(|| {
            ApiError::bad_request("expires_in_days must be a whole number of days")
        })?,
    };
    if !(1..=366).contains(&days) {
        return Err(ApiError::bad_request("expires_in_days must be 1 to 366"));
    }
    let pin = json["pin"].as_bool().unwrap_or(false);
    let made = state
        .service
        .create_share(&caller.ctx, study, days * 24 * 3600 * 1000, pin)
        .await?;
    let url = format!("{}/s/{}", base_url(&state, &headers), made.token);
    Ok(no_store(
        (
            StatusCode::CREATED,
            Json(serde_json::json!({
                "id": made.id,
                "url": url,
                "expires_at": made.expires_at,
                "pin": made.pin,
            })),
        )
            .into_response(),
    ))
}

/// `GET /api/shares?study=UID`.
async fn list(
    State(state): State<AppState>,
    caller: Caller,
    params: Params,
) -> ApiResult<Response> {
    let mut study = None;
    for (k, v) in &params.pairs {
        match k.as_str() {
            "study" | "StudyInstanceUID" => study = Some(v.clone()),
            other => {
                return Err(ApiError::bad_request(format!(
                    "unknown parameter {other:?} (study)"
                )))
            }
        }
    }
    Ok(Json(
        state
            .service
            .list_shares(&caller.ctx, study.as_deref())
            .await?,
    )
    .into_response())
}

/// `GET /api/shares/{id}`.
async fn one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    Ok(Json(state.service.share(&caller.ctx, id_of(&id)?).await?).into_response())
}

/// `DELETE /api/shares/{id}`: revoked at once.
async fn revoke(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.service.revoke_share(&caller.ctx, id_of(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The share `id` and its link, from `?token=`.
async fn share_and_link(
    state: &AppState,
    caller: &Caller,
    id: &str,
    params: &Params,
    headers: &HeaderMap,
) -> ApiResult<(ShareView, String)> {
    let token = params
        .pairs
        .iter()
        .find(|(k, _)| k == "token")
        .map(|(_, v)| v.clone())
        .ok_or_else(|| {
            ApiError::bad_request(
                "token=… (the link's token, given when the share was made) is required",
            )
        })?;
    let share = state
        .service
        .share_with_token(&caller.ctx, id_of(id)?, &token)
        .await?;
    Ok((share, format!("{}/s/{token}", base_url(state, headers))))
}

fn qr_code(link: &str) -> ApiResult<qrcode::QrCode> {
    qrcode::QrCode::with_error_correction_level(link.as_bytes(), qrcode::EcLevel::M)
        .map_err(|e| ApiError::bad_request(format!("cannot make a QR code: {e}")))
}

fn qr_svg_of(link: &str) -> ApiResult<String> {
    Ok(qr_code(link)?
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(240, 240)
        .quiet_zone(true)
        .build())
}

/// The share pages' Content-Security-Policy: the one inline script of the
/// page allowed by its SHA-256, nothing else.
static CSP: std::sync::LazyLock<HeaderValue> = std::sync::LazyLock::new(|| {
    use base64::Engine as _;
    use sha2::Digest as _;
    let page = include_str!("share_page.html");
    let script = page
        .split_once("<script>")
        .and_then(|(_, s)| s.split_once("</script>"))
        .map(|(s, _)| s)
        .unwrap_or("");
    let hash = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(script));
    HeaderValue::from_str(&format!(
        "default-src 'self'; img-src 'self' blob: data:; style-src 'unsafe-inline'; \
         script-src 'sha256-{hash}'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"))
});

fn no_store(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    // The page's own script (by its hash) and styles, images from this
    // server only, and never inside another site's frame.
    h.insert(header::CONTENT_SECURITY_POLICY, CSP.clone());
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert("x-robots-tag", HeaderValue::from_static("noindex"));
    r
}

/// `GET /api/shares/{id}/qr.svg?token=…`.
async fn qr_svg(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    params: Params,
) -> ApiResult<Response> {
    let (_, link) = share_and_link(&state, &caller, &id, &params, &headers).await?;
    Ok(no_store(
        ([(header::CONTENT_TYPE, "image/svg+xml")], qr_svg_of(&link)?).into_response(),
    ))
}

/// `GET /api/shares/{id}/qr.png?token=…`.
async fn qr_png(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    params: Params,
) -> ApiResult<Response> {
    let (_, link) = share_and_link(&state, &caller, &id, &params, &headers).await?;
    let code = qr_code(&link)?;
    let image = code
        .render::<image::Luma<u8>>()
        .min_dimensions(320, 320)
        .quiet_zone(true)
        .build();
    let mut png = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut png, image::ImageFormat::Png)
        .map_err(|e| ApiError::from(crate::service::Error::Internal(e.to_string())))?;
    Ok(no_store(
        ([(header::CONTENT_TYPE, "image/png")], png.into_inner()).into_response(),
    ))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A DICOM PN as people write it: `NGUYỄN^VĂN AN` → `NGUYỄN VĂN AN`.
fn person(pn: &str) -> String {
    pn.split('=')
        .next()
        .unwrap_or("")
        .split('^')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `YYYYMMDD` as `DD/MM/YYYY`.
fn date(da: &str) -> String {
    if da.len() == 8 {
        format!("{}/{}/{}", &da[6..8], &da[4..6], &da[..4])
    } else {
        da.to_owned()
    }
}

/// The study's patient and description, from the index.
async fn study_summary(
    state: &AppState,
    ctx: &crate::service::Context,
    study: &str,
) -> (String, String, String, String) {
    let mut query = storage::query::Query::new(storage::query::QueryLevel::Study);
    if let Some(a) = storage::query::attribute(dicom_dictionary_std::tags::STUDY_INSTANCE_UID) {
        let _ = query.add(a, study);
    }
    let found = state
        .service
        .search(ctx, query, "share page")
        .await
        .ok()
        .and_then(|m| m.into_iter().next());
    let get = |tag| {
        found
            .as_ref()
            .and_then(|m| m.get(tag))
            .unwrap_or("")
            .to_owned()
    };
    use dicom_dictionary_std::tags;
    (
        person(&get(tags::PATIENT_NAME)),
        get(tags::PATIENT_ID),
        date(&get(tags::STUDY_DATE)),
        get(tags::STUDY_DESCRIPTION),
    )
}

/// `GET /api/shares/{id}/slip?token=…`: one A5 page to print.
async fn slip(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    params: Params,
) -> ApiResult<Response> {
    let (share, link) = share_and_link(&state, &caller, &id, &params, &headers).await?;
    let pin = params
        .pairs
        .iter()
        .find(|(k, _)| k == "pin")
        .map(|(_, v)| v.clone());
    let (name, patient_id, study_date, description) =
        study_summary(&state, &caller.ctx, &share.study).await;
    let tenant =
        storage::TenantId::parse(&share.tenant).unwrap_or_else(|_| storage::TenantId::implicit());
    let facility = state.service.facility_name(&tenant);
    let svg = qr_svg_of(&link)?;
    let films = match state.service.share_films(&share).await?.len() {
        0 => String::new(),
        n => format!(
            "<p>Phim đã in / Printed films: <b>{n}</b> (xem trong liên kết / in the link)</p>"
        ),
    };
    let pin_line = match (&pin, share.pin_required) {
        (Some(p), true) => format!("<p class=\"pin\">Mã PIN / PIN: <b>{}</b></p>", escape(p)),
        (None, true) => "<p class=\"pin\">Mã PIN / PIN: ______</p>".to_owned(),
        _ => String::new(),
    };
    let html = format!(
        r#"<!doctype html><html lang="vi"><head><meta charset="utf-8">
<title>{facility} – {name}</title>
<style>
@page {{ size: A5; margin: 12mm; }}
body {{ font-family: sans-serif; color: #000; margin: 0; }}
h1 {{ font-size: 16pt; margin: 0 0 4mm; }}
.who {{ font-size: 13pt; margin: 0 0 2mm; }}
.qr svg {{ width: 60mm; height: 60mm; }}
.link {{ font-family: monospace; font-size: 8pt; word-break: break-all; }}
.pin {{ font-size: 14pt; }}
.note {{ font-size: 9pt; color: #333; }}
</style></head><body>
<h1>{facility}</h1>
<p class="who"><b>{name}</b> · {patient_id}</p>
<p>{study_date} · {description}</p>
{films}<div class="qr">{svg}</div>
<p class="link">{link}</p>
{pin_line}
<p>Hết hạn / Expires: {expires}</p>
<p class="note">Quét mã QR bằng điện thoại để xem phim. Scan the code with a phone to see the images; show it to your next doctor.</p>
</body></html>"#,
        facility = escape(&facility),
        name = escape(&name),
        patient_id = escape(&patient_id),
        study_date = escape(&study_date),
        description = escape(&description),
        link = escape(&link),
        expires = escape(&share.expires_at),
    );
    Ok(no_store(Html(html).into_response()))
}

// ------------------------------------------------------------- public side

/// The public routes of shares, each checking its token.
pub fn public_router() -> Router<AppState> {
    Router::new()
        .route("/s/{token}", get(page))
        .route("/s/{token}/pin", post(pin))
        .route("/s/{token}/images.zip", get(images))
        .route("/s/{token}/dicom-web/{*rest}", get(dicomweb))
}

fn cookie_proof(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == PIN_COOKIE)
        .map(|(_, v)| v.to_owned())
}

fn closed_page(closed: &Closed, token: &str, tries_left: i64) -> Response {
    let (status, title, body) = match closed {
        Closed::NotFound => (
            StatusCode::NOT_FOUND,
            "Không tìm thấy / Not found",
            "Liên kết này không tồn tại hoặc đã bị thu hồi. This link does not exist or was revoked.".to_owned(),
        ),
        Closed::Expired => (
            StatusCode::GONE,
            "Đã hết hạn / Expired",
            "Liên kết này đã hết hạn. This link has expired; ask the hospital for a new one.".to_owned(),
        ),
        Closed::Locked(_) => (
            StatusCode::TOO_MANY_REQUESTS,
            "Tạm khóa / Locked",
            "Nhập sai mã PIN quá nhiều lần; thử lại sau 15 phút. Too many wrong PINs: try again in 15 minutes.".to_owned(),
        ),
        Closed::PinRequired => (
            StatusCode::UNAUTHORIZED,
            "Mã PIN / PIN",
            format!(
                r#"<form method="post" action="/s/{token}/pin">
<label>Nhập mã PIN in trên phiếu / Enter the PIN printed on the slip<br>
<input name="pin" inputmode="numeric" autocomplete="one-time-code" maxlength="6" autofocus></label>
<button type="submit">Xem / Open</button></form>{}"#,
                if tries_left > 0 && tries_left < crate::service::shares::MAX_PIN_FAILURES {
                    format!("<p class=\"err\">Sai mã PIN / Wrong PIN ({tries_left} left)</p>")
                } else {
                    String::new()
                }
            ),
        ),
    };
    let html = format!(
        r#"<!doctype html><html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{title}</title><style>body{{font-family:sans-serif;margin:2em;}}input{{font-size:1.5em;width:7em}}button{{font-size:1.2em}}.err{{color:#b00}}</style></head>
<body><h1>{title}</h1><p>{body}</p></body></html>"#
    );
    no_store((status, Html(html)).into_response())
}

async fn open(
    state: &AppState,
    token: &str,
    (proof, source): (Option<String>, String),
    what: &str,
) -> Result<OpenShare, Response> {
    state
        .service
        .open_share(token, proof.as_deref(), &source, what)
        .await
        .map_err(|closed| closed_page(&closed, token, 0))
}

/// What a share request brings as proof, and where it comes from.
fn who(state: &AppState, req: &Request) -> (Option<String>, String) {
    (
        cookie_proof(req.headers()),
        super::auth::client_address(state, req),
    )
}

/// Structured reports and encapsulated PDFs of the study: the report,
/// as HTML for the page (SR content as text; a PDF as a download), after
/// the printed films' PDFs.
async fn report_html(state: &AppState, open: &OpenShare, token: &str) -> String {
    const SR: &str = "1.2.840.10008.5.1.4.1.1.88.";
    const PDF: &str = "1.2.840.10008.5.1.4.1.1.104.1";
    let Ok(study) = storage::Uid::parse("StudyInstanceUID", &open.share.study_instance_uid) else {
        return String::new();
    };
    let Ok(instances) = state
        .service
        .instances(
            &open.ctx,
            &crate::service::Target::Study(study.clone()),
            "share page: reports",
        )
        .await
    else {
        return String::new();
    };
    let mut html = String::new();
    // Printed films (their PDFs, to print on paper), then the reports.
    let films: Vec<String> = state
        .service
        .open_share_films(open)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|f| f.pdf_sop_instance_uid)
        .filter(|u| !u.is_empty())
        .collect();
    for (n, i) in instances
        .iter()
        .filter(|i| films.contains(&i.sop_instance_uid))
        .enumerate()
    {
        html.push_str(&format!(
            r#"<p><a class="film-pdf" href="/s/{token}/dicom-web/studies/{study}/series/{se}/instances/{sop}/bulkdata/00420011?accept=application/octet-stream" download="film-{n}.pdf">Phim in / Printed film {n} (PDF)</a></p>"#,
            n = n + 1,
            se = escape(&i.series_instance_uid),
            sop = escape(&i.sop_instance_uid),
        ));
    }
    for i in instances
        .iter()
        .filter(|i| i.sop_class_uid.starts_with(SR) || i.sop_class_uid == PDF)
        .filter(|i| !films.contains(&i.sop_instance_uid))
        .take(5)
    {
        if i.sop_class_uid == PDF {
            html.push_str(&format!(
                r#"<p><a class="report-pdf" href="/s/{token}/dicom-web/studies/{study}/series/{se}/instances/{sop}/bulkdata/00420011?accept=application/octet-stream" download="report.pdf">Kết quả / Report (PDF)</a></p>"#,
                se = escape(&i.series_instance_uid),
                sop = escape(&i.sop_instance_uid),
            ));
            continue;
        }
        let Ok(bytes) = state.service.read(i).await else {
            continue;
        };
        let lines = tokio::task::spawn_blocking(move || sr_lines(&bytes))
            .await
            .unwrap_or_default();
        if lines.is_empty() {
            continue;
        }
        html.push_str("<article class=\"report\">");
        for (depth, name, value) in lines {
            match (name.is_empty(), value.is_empty()) {
                (false, true) if depth == 0 => {
                    html.push_str(&format!("<h2>{}</h2>", escape(&name)))
                }
                (false, true) => html.push_str(&format!(
                    "<h3 style=\"margin-left:{}em\">{}</h3>",
                    depth,
                    escape(&name)
                )),
                _ => html.push_str(&format!(
                    "<p style=\"margin-left:{}em\"><b>{}</b> {}</p>",
                    depth,
                    escape(&name),
                    escape(&value).replace('\n', "<br>")
                )),
            }
        }
        html.push_str("</article>");
    }
    html
}

/// A structured report as (depth, concept name, value) lines: its title,
/// then its content tree (text, codes, numbers with units, names, dates).
fn sr_lines(part10: &[u8]) -> Vec<(usize, String, String)> {
    use dicom_dictionary_std::tags;
    use dicom_object::InMemDicomObject;
    let start = if part10.get(128..132) == Some(b"DICM") {
        128
    } else {
        0
    };
    let Ok(obj) = dicom_object::from_reader(&part10[start..]) else {
        return Vec::new();
    };
    fn text(o: &InMemDicomObject, tag: dicom_core::Tag) -> String {
        o.get(tag)
            .and_then(|e| e.to_str().ok())
            .map(|v| v.trim_matches(['\0', ' ']).to_owned())
            .unwrap_or_default()
    }
    fn first(o: &InMemDicomObject, tag: dicom_core::Tag) -> Option<&InMemDicomObject> {
        o.get(tag).and_then(|e| e.items()).and_then(|i| i.first())
    }
    fn meaning(o: &InMemDicomObject, tag: dicom_core::Tag) -> String {
        first(o, tag)
            .map(|c| text(c, tags::CODE_MEANING))
            .unwrap_or_default()
    }
    fn walk(o: &InMemDicomObject, depth: usize, out: &mut Vec<(usize, String, String)>) {
        if depth > 16 {
            return;
        }
        for item in o
            .get(tags::CONTENT_SEQUENCE)
            .and_then(|e| e.items())
            .unwrap_or_default()
        {
            if out.len() >= 500 {
                return;
            }
            let name = meaning(item, tags::CONCEPT_NAME_CODE_SEQUENCE);
            let value = match text(item, tags::VALUE_TYPE).as_str() {
                "TEXT" => text(item, tags::TEXT_VALUE),
                "CODE" => meaning(item, tags::CONCEPT_CODE_SEQUENCE),
                "NUM" => first(item, tags::MEASURED_VALUE_SEQUENCE)
                    .map(|m| {
                        format!(
                            "{} {}",
                            text(m, tags::NUMERIC_VALUE),
                            first(m, tags::MEASUREMENT_UNITS_CODE_SEQUENCE)
                                .map(|u| text(u, tags::CODE_VALUE))
                                .unwrap_or_default()
                        )
                        .trim()
                        .to_owned()
                    })
                    .unwrap_or_default(),
                "PNAME" => text(item, tags::PERSON_NAME).replace('^', " "),
                "DATE" => text(item, tags::DATE),
                "DATETIME" => text(item, tags::DATE_TIME),
                "CONTAINER" => String::new(),
                _ => {
                    walk(item, depth + 1, out);
                    continue;
                }
            };
            if !name.is_empty() || !value.is_empty() {
                out.push((depth, name, value));
            }
            walk(item, depth + 1, out);
        }
    }
    let mut out = vec![(
        0,
        meaning(&obj, tags::CONCEPT_NAME_CODE_SEQUENCE),
        String::new(),
    )];
    walk(&obj, 1, &mut out);
    out.retain(|(d, n, v)| *d > 0 || !n.is_empty() || !v.is_empty());
    out
}

/// `GET /s/{token}`: the study's page.
async fn page(State(state): State<AppState>, Path(token): Path<String>, req: Request) -> Response {
    let open = match open(&state, &token, who(&state, &req), "page").await {
        Ok(o) => o,
        Err(r) => return r,
    };
    state.service.count_share_access(&open.share).await;
    let study = &open.share.study_instance_uid;
    let (name, patient_id, study_date, description) = study_summary(&state, &open.ctx, study).await;
    let report = report_html(&state, &open, &token).await;
    let html = fill(
        include_str!("share_page.html"),
        &[
            ("name", escape(&name)),
            ("patient_id", escape(&patient_id)),
            ("date", escape(&study_date)),
            ("description", escape(&description)),
            ("base", escape(&format!("/s/{token}/dicom-web"))),
            ("images", escape(&format!("/s/{token}/images.zip"))),
            (
                "viewer",
                escape(&format!("/viewer?StudyInstanceUIDs={study}&share={token}")),
            ),
            ("study", escape(study)),
            ("report", report),
        ],
    );
    no_store(Html(html).into_response())
}

/// A template with each `{{key}}` replaced by its value, in one pass (a
/// value is never read as a template).
fn fill(template: &str, values: &[(&str, String)]) -> String {
    let mut out = String::with_capacity(template.len() + 1024);
    let mut rest = template;
    while let Some(at) = rest.find("{{") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 2..];
        match after.find("}}").map(|end| (&after[..end], end)) {
            Some((key, end)) if values.iter().any(|(k, _)| *k == key) => {
                let v = values
                    .iter()
                    .find(|(k, _)| *k == key)
                    .map(|(_, v)| v.as_str());
                out.push_str(v.unwrap_or(""));
                rest = &after[end + 2..];
            }
            _ => {
                out.push_str("{{");
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// `GET /s/{token}/images.zip`: every image as a JPEG, for people without
/// a DICOM viewer.
async fn images(
    State(state): State<AppState>,
    Path(token): Path<String>,
    req: Request,
) -> Response {
    let open = match open(&state, &token, who(&state, &req), "images.zip").await {
        Ok(o) => o,
        Err(r) => return r,
    };
    state.service.count_share_access(&open.share).await;
    // Rendering a whole study is costly: two at a time.
    static RENDERING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);
    let Ok(_permit) = RENDERING.acquire().await else {
        return closed_page(&Closed::NotFound, &token, 0);
    };
    let Ok(study) = storage::Uid::parse("StudyInstanceUID", &open.share.study_instance_uid) else {
        return closed_page(&Closed::NotFound, &token, 0);
    };
    let params = crate::service::RenderParams {
        png: false,
        quality: 90,
        viewport: None,
        window: None,
    };
    match state
        .service
        .rendered(
            &open.ctx,
            &crate::service::Target::Study(study.clone()),
            crate::service::render::Frame::Default,
            &params,
            "GET /s/…/images.zip",
        )
        .await
    {
        Ok(stream) => no_store(crate::dicomweb::zip::images_response(
            study.as_str(),
            stream,
        )),
        Err(e) => no_store(ApiError::from(e).into_response()),
    }
}

/// `POST /s/{token}/pin` (a form: `pin=123456`).
async fn pin(State(state): State<AppState>, Path(token): Path<String>, req: Request) -> Response {
    let source = super::auth::client_address(&state, &req);
    let headers = req.headers().clone();
    let body = axum::body::to_bytes(req.into_body(), 4096)
        .await
        .unwrap_or_default();
    let pin = url::form_urlencoded::parse(&body)
        .find(|(k, _)| k == "pin")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default();
    match state.service.check_share_pin(&token, &pin, &source).await {
        Ok(proof) => {
            let mut r = Response::builder()
                .status(StatusCode::SEE_OTHER)
                .header(header::LOCATION, format!("/s/{token}"))
                .body(Body::empty())
                .unwrap_or_default();
            let secure = if base_url(&state, &headers).starts_with("https:") {
                "; Secure"
            } else {
                ""
            };
            if let Ok(v) = HeaderValue::from_str(&format!(
                "{PIN_COOKIE}={proof}; Path=/s/{token}; HttpOnly; SameSite=Lax; Max-Age=86400{secure}"
            )) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            no_store(r)
        }
        Err((closed, left)) => closed_page(&closed, &token, left),
    }
}

/// `GET /s/{token}/dicom-web/{*rest}`: the study's DICOMweb, and nothing
/// else.
async fn dicomweb(
    State(state): State<AppState>,
    Path((token, rest)): Path<(String, String)>,
    req: Request,
) -> Response {
    let caller = who(&state, &req);
    // The DICOMweb handlers audit what they serve, as the share.
    let open = match open(&state, &token, caller, "").await {
        Ok(o) => o,
        Err(r) => return r,
    };
    let study = open.share.study_instance_uid.clone();
    let segments: Vec<&str> = rest.split('/').collect();
    // What may be asked: searches (narrowed to the study), and the study's
    // own resources.
    let search = matches!(
        segments.as_slice(),
        ["studies"] | ["series"] | ["instances"]
    );
    let own = segments.len() >= 2 && segments[0] == "studies" && segments[1] == study;
    if req.method() != Method::GET || !(search || own) {
        return no_store(
            ApiError::not_found(format!("not part of this share: /{rest}")).into_response(),
        );
    }
    if own && segments.get(2) == Some(&"") {
        return no_store(ApiError::not_found("not part of this share").into_response());
    }
    let query = req.uri().query().unwrap_or("");
    let query = if search {
        let kept: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
            .filter(|(k, _)| k != "StudyInstanceUID" && k != "0020000D")
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in &kept {
            q.append_pair(k, v);
        }
        q.append_pair("StudyInstanceUID", &study);
        q.finish()
    } else {
        query.to_owned()
    };
    let Ok(uri) = format!("/{rest}?{query}").parse::<Uri>() else {
        return no_store(ApiError::bad_request("malformed request").into_response());
    };
    let printable: String = rest.chars().filter(|c| !c.is_control()).take(256).collect();
    let detail = format!("GET /s/…/dicom-web/{printable}");
    let (mut parts, body) = req.into_parts();
    parts.uri = uri;
    if let Ok(prefix) = HeaderValue::from_str(&format!("/s/{token}")) {
        parts.headers.insert(super::auth::SHARE_PREFIX, prefix);
    }
    parts.extensions.insert(Caller {
        ctx: open.ctx,
        detail,
    });
    let inner = crate::dicomweb::router().with_state(state.clone());
    match inner.oneshot(Request::from_parts(parts, body)).await {
        Ok(r) => no_store(r),
        Err(e) => match e {},
    }
}
