//! The film printer, made virtual: Print Management SCP (PS3.4 Annex H).
//!
//! A modality prints to Filmless as to a laser camera: it creates a Basic
//! Film Session, a Basic Film Box with its Image Display Format (which
//! creates the image boxes), sets each Basic Grayscale or Color Image Box
//! to a pre-formatted image, and asks the film box (or the session) to
//! print. The sheet is then composed as a printer would lay it out (cells,
//! orientation, film size, border and empty densities, polarity,
//! magnification) and filed as a Secondary Capture, with an encapsulated
//! PDF of it, into the study it belongs to:
//!
//! 1. `reference`: an image a Referenced Image Sequence names;
//! 2. `attributes`: the Study Instance UID (and patient) the print sends;
//! 3. `station`: the study the printing station stored into last, within
//!    `[print] match_window_minutes` (of the same patient when the print
//!    names one) — what most modalities need, since they send none;
//! 4. `none`: a new study, listed for reconciliation
//!    (`GET /api/print/sheets?unmatched=true`).
//!
//! Film sessions, film boxes and image boxes live in memory for as long as
//! the association that made them (PS3.4 H.4.1); only printed sheets are
//! kept. Sheets of a study share one series, "Films" (and "Films (PDF)").

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_net::service::{
    self as dimse, NormalizedOperation, NormalizedRequest, NormalizedResponse, Response,
};
use dicom_net::Status;
use dicom_object::InMemDicomObject;
use storage::{PrintSheet, TenantId};

use super::{Context, Error, Result, Right, Service};
use crate::audit::Action;

/// Print settings (`[print]`).
#[derive(Debug, Clone)]
pub struct PrintSettings {
    /// Answer print requests.
    pub enabled: bool,
    /// Dots per inch of film.
    pub dpi: u32,
    /// Film Size IDs accepted.
    pub film_sizes: Vec<String>,
    /// The film size when none is asked.
    pub default_film_size: String,
    /// Station matching window, in milliseconds.
    pub match_window_ms: i64,
    /// Also file an encapsulated PDF.
    pub pdf: bool,
}

impl From<&crate::config::PrintConfig> for PrintSettings {
    fn from(c: &crate::config::PrintConfig) -> Self {
        PrintSettings {
            enabled: c.enabled,
            dpi: c.dpi,
            film_sizes: c.film_sizes.clone(),
            default_film_size: c.default_film_size.clone(),
            match_window_ms: (c.match_window_minutes as i64).saturating_mul(60_000),
            pdf: c.pdf,
        }
    }
}

impl Default for PrintSettings {
    fn default() -> Self {
        (&crate::config::PrintConfig::default()).into()
    }
}

/// The print state of every association that prints.
#[derive(Default)]
pub struct PrintSessions {
    by_association: Mutex<HashMap<u64, Session>>,
}

#[derive(Default)]
struct Session {
    film_session: Option<FilmSession>,
    film_boxes: Vec<FilmBox>,
    /// Film boxes filed, at which of their versions: printing one again
    /// unchanged (a retry after a failure) does not file it twice.
    printed: HashMap<String, u64>,
    /// Bytes of the images held.
    image_bytes: usize,
}

/// The most image bytes one association may hold, and film boxes it may
/// have: beyond them, C605 (insufficient memory in the printer) and 0213H.
const MAX_IMAGE_BYTES: usize = 512 * 1024 * 1024;
const MAX_FILM_BOXES: usize = 64;

struct FilmSession {
    uid: String,
    attributes: InMemDicomObject,
}

#[derive(Clone)]
struct FilmBox {
    uid: String,
    attributes: InMemDicomObject,
    layout: Layout,
    format: String,
    film_size: String,
    landscape: bool,
    magnification: String,
    border: u8,
    empty: u8,
    /// Min and Max Density, hundredths of OD.
    densities: (u32, u32),
    /// Changes made to it (N-SETs of it and its image boxes).
    version: u64,
    color: bool,
    boxes: Vec<ImageBox>,
}

#[derive(Clone)]
struct ImageBox {
    uid: String,
    position: u16,
    picture: Option<Arc<Picture>>,
    reverse: bool,
    magnification: Option<String>,
    /// What the N-SET carried besides the image (references, patient).
    attributes: InMemDicomObject,
}

/// A pre-formatted image, 8 bits a sample.
#[derive(Clone, Debug, PartialEq)]
pub struct Picture {
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// Physical height over width of one pixel (Pixel Aspect Ratio).
    pub aspect: f64,
    /// RGB (else grayscale, MONOCHROME2).
    pub color: bool,
    /// Samples, row by row (RGB interleaved).
    pub data: Vec<u8>,
}

/// How the cells of a film are laid out (Image Display Format).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Rows from top to bottom, with this many images each, filled left to
    /// right (`STANDARD\C,R`, `ROW\…`).
    Rows(Vec<u32>),
    /// Columns from left to right, with this many images each, filled top
    /// to bottom (`COL\…`).
    Columns(Vec<u32>),
}

impl Layout {
    /// Parse an Image Display Format.
    pub fn parse(format: &str) -> Option<Layout> {
        let (kind, rest) = format.trim().split_once('\\')?;
        let numbers = |s: &str| -> Option<Vec<u32>> {
            if s.split(',').count() > 20 {
                return None;
            }
            let v: Option<Vec<u32>> = s.split(',').map(|n| n.trim().parse().ok()).collect();
            v.filter(|v| !v.is_empty() && v.iter().all(|&n| (1..=20).contains(&n)))
        };
        match kind.trim() {
            "STANDARD" => {
                let v = numbers(rest)?;
                let [columns, rows] = v[..] else { return None };
                Some(Layout::Rows(vec![columns; rows as usize]))
            }
            "ROW" => Some(Layout::Rows(numbers(rest)?)),
            "COL" => Some(Layout::Columns(numbers(rest)?)),
            _ => None,
        }
        .filter(|l| match l {
            // At most 20 rows (or columns) of at most 20: no film holds more.
            Layout::Rows(v) | Layout::Columns(v) => v.len() <= 20,
        })
    }

    /// Number of image boxes.
    pub fn cells(&self) -> usize {
        match self {
            Layout::Rows(v) | Layout::Columns(v) => v.iter().map(|&n| n as usize).sum(),
        }
    }

    /// The rectangle (x, y, width, height) of each cell, by Image Box
    /// Position order, on a `width` × `height` sheet.
    pub fn rectangles(&self, width: u32, height: u32) -> Vec<(u32, u32, u32, u32)> {
        let span = |i: u32, n: u32, total: u32| {
            let a = (u64::from(total) * u64::from(i) / u64::from(n)) as u32;
            let b = (u64::from(total) * u64::from(i + 1) / u64::from(n)) as u32;
            (a, b - a)
        };
        let mut out = Vec::new();
        match self {
            Layout::Rows(rows) => {
                for (r, &n) in rows.iter().enumerate() {
                    let (y, h) = span(r as u32, rows.len() as u32, height);
                    for c in 0..n {
                        let (x, w) = span(c, n, width);
                        out.push((x, y, w, h));
                    }
                }
            }
            Layout::Columns(columns) => {
                for (c, &n) in columns.iter().enumerate() {
                    let (x, w) = span(c as u32, columns.len() as u32, width);
                    for r in 0..n {
                        let (y, h) = span(r, n, height);
                        out.push((x, y, w, h));
                    }
                }
            }
        }
        out
    }
}

/// A density (BLACK, WHITE, or hundredths of optical density) as a pixel
/// value of a MONOCHROME2 sheet: `min`..`max` density maps to 255..0.
fn density_pixel(value: &str, min: u32, max: u32) -> Option<u8> {
    match value.trim() {
        "BLACK" => Some(0),
        "WHITE" => Some(255),
        n => {
            let d: u64 = n.parse().ok()?;
            // Densities are hundredths of OD: no film goes beyond 10.00.
            let min = u64::from(min.min(1000));
            let max = u64::from(max.min(1000)).max(min + 1);
            let d = d.clamp(min, max);
            Some((255 * (max - d) / (max - min)) as u8)
        }
    }
}

/// A refusal: the status, its reason, the attribute at fault.
fn refuse(status: Status, why: impl Into<String>, offending: Option<Tag>) -> NormalizedResponse {
    let mut r = Response::with(status, why);
    r.offending = offending.into_iter().collect();
    r.into()
}

fn text(obj: &InMemDicomObject, tag: Tag) -> Option<String> {
    obj.get(tag)
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim_matches([' ', '\0']).to_owned())
        .filter(|s| !s.is_empty())
}

fn number(obj: &InMemDicomObject, tag: Tag) -> Option<u32> {
    obj.get(tag).and_then(|e| e.to_int::<u32>().ok())
}

fn put_str(obj: &mut InMemDicomObject, tag: Tag, vr: VR, value: &str) {
    obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
}

fn sequence(items: Vec<InMemDicomObject>) -> dicom_core::value::Value<InMemDicomObject> {
    dicom_core::value::Value::Sequence(DataSetSequence::from(items))
}

fn reference(class: &str, instance: &str) -> InMemDicomObject {
    let mut item = InMemDicomObject::new_empty();
    put_str(&mut item, tags::REFERENCED_SOP_CLASS_UID, VR::UI, class);
    put_str(
        &mut item,
        tags::REFERENCED_SOP_INSTANCE_UID,
        VR::UI,
        instance,
    );
    item
}

/// Check a coded value among `allowed` (absent is fine).
fn check_enum(
    obj: &InMemDicomObject,
    tag: Tag,
    allowed: &[&str],
) -> std::result::Result<(), NormalizedResponse> {
    match text(obj, tag) {
        Some(v) if !allowed.contains(&v.as_str()) && !allowed.is_empty() => {
            // BIN_i film destinations.
            if tag == tags::FILM_DESTINATION && v.starts_with("BIN_") {
                return Ok(());
            }
            Err(refuse(
                Status::INVALID_ATTRIBUTE_VALUE,
                format!("{tag} {v:?} is not one of {}", allowed.join(", ")),
                Some(tag),
            ))
        }
        _ => Ok(()),
    }
}

/// Read a pre-formatted image (an item of the Basic Grayscale or Color
/// Image Sequence) into 8-bit samples.
pub fn read_picture(item: &InMemDicomObject, color: bool) -> std::result::Result<Picture, String> {
    let rows = number(item, tags::ROWS).filter(|&n| n > 0);
    let columns = number(item, tags::COLUMNS).filter(|&n| n > 0);
    let (Some(rows), Some(columns)) = (rows, columns) else {
        return Err("the image has no Rows or Columns".into());
    };
    if u64::from(rows) * u64::from(columns) > 64 * 1024 * 1024 {
        return Err(format!("{columns}×{rows} is larger than any film holds"));
    }
    let samples = number(item, tags::SAMPLES_PER_PIXEL).unwrap_or(if color { 3 } else { 1 });
    if samples != if color { 3 } else { 1 } {
        return Err(format!(
            "Samples per Pixel {samples} in a {} image box",
            if color { "color" } else { "grayscale" }
        ));
    }
    let allocated = number(item, tags::BITS_ALLOCATED).unwrap_or(8);
    let stored = number(item, tags::BITS_STORED).unwrap_or(allocated);
    if !(allocated == 8 || (allocated == 16 && !color)) || stored == 0 || stored > allocated {
        return Err(format!(
            "Bits Allocated {allocated}, Bits Stored {stored}: a print image has 8 (or, in \
             grayscale, 16 with up to 16 stored)"
        ));
    }
    if number(item, tags::PIXEL_REPRESENTATION).unwrap_or(0) != 0 {
        return Err("a print image is unsigned (Pixel Representation 0)".into());
    }
    let Some(pixels) = item.get(tags::PIXEL_DATA) else {
        return Err("the image has no Pixel Data".into());
    };
    let bytes = pixels
        .to_bytes()
        .map_err(|e| format!("Pixel Data cannot be read: {e}"))?;
    let n = rows as usize * columns as usize;
    let need = n * samples as usize * (allocated as usize / 8);
    if bytes.len() < need {
        return Err(format!(
            "Pixel Data holds {} bytes, {columns}×{rows} needs {need}",
            bytes.len()
        ));
    }
    let aspect = match text(item, tags::PIXEL_ASPECT_RATIO) {
        None => 1.0,
        Some(a) => a
            .split_once('\\')
            .and_then(|(v, h)| Some((v.trim().parse::<f64>().ok()?, h.trim().parse::<f64>().ok()?)))
            .map(|(v, h)| v / h)
            .filter(|r| r.is_finite() && (0.1..=10.0).contains(r))
            .ok_or_else(|| {
                format!("Pixel Aspect Ratio {a:?} is not two numbers of ratio 1:10 to 10:1")
            })?,
    };
    let data = if color {
        let planar = number(item, tags::PLANAR_CONFIGURATION).unwrap_or(1) == 1;
        if planar {
            let mut out = vec![0u8; n * 3];
            for i in 0..n {
                for c in 0..3 {
                    out[i * 3 + c] = bytes[c * n + i];
                }
            }
            out
        } else {
            bytes[..n * 3].to_vec()
        }
    } else {
        let max = ((1u32 << stored) - 1).max(1);
        let mut out: Vec<u8> = if allocated == 8 {
            let mask = max as u8;
            bytes[..n]
                .iter()
                .map(|&b| ((u32::from(b & mask) * 255) / max) as u8)
                .collect()
        } else {
            bytes[..n * 2]
                .chunks_exact(2)
                .map(|b| {
                    let v = u32::from(u16::from_le_bytes([b[0], b[1]])) & max;
                    ((v * 255) / max) as u8
                })
                .collect()
        };
        if text(item, tags::PHOTOMETRIC_INTERPRETATION).as_deref() == Some("MONOCHROME1") {
            out.iter_mut().for_each(|v| *v = 255 - *v);
        }
        out
    };
    Ok(Picture {
        width: columns,
        height: rows,
        aspect,
        color,
        data,
    })
}

/// A composed sheet.
#[derive(Debug, Clone, PartialEq)]
pub struct Sheet {
    /// Columns.
    pub width: u32,
    /// Rows.
    pub height: u32,
    /// RGB (else MONOCHROME2).
    pub color: bool,
    /// Samples.
    pub data: Vec<u8>,
    /// Whether an image had to be cropped (magnification NONE, larger than
    /// its cell).
    pub cropped: bool,
}

/// One cell's content for [`compose`].
pub struct Cell<'a> {
    /// The image, if set.
    pub picture: Option<&'a Picture>,
    /// Polarity REVERSE.
    pub reverse: bool,
    /// REPLICATE, BILINEAR, CUBIC or NONE.
    pub magnification: &'a str,
}

/// Lay out `cells` on a `width` × `height` sheet as a printer would: each
/// image scaled to fit its cell (keeping its aspect) and centred, the rest
/// at the border density, empty cells at the empty image density.
pub fn compose(
    layout: &Layout,
    width: u32,
    height: u32,
    color: bool,
    border: u8,
    empty: u8,
    cells: &[Cell<'_>],
) -> Sheet {
    use image::imageops::FilterType;
    let channels = if color { 3 } else { 1 };
    let mut data = vec![border; width as usize * height as usize * channels];
    let mut cropped = false;
    for ((x0, y0, cw, ch), cell) in layout.rectangles(width, height).into_iter().zip(cells) {
        let Some(p) = cell.picture else {
            for y in y0..y0 + ch {
                let row = (y as usize * width as usize + x0 as usize) * channels;
                data[row..row + cw as usize * channels].fill(empty);
            }
            continue;
        };
        // The part of the image shown and its size on film (pixel aspect
        // applied): all of it fitted to the cell, or with magnification
        // NONE at its own size, what the cell holds of it (cropped before
        // scaling, so a tall image never makes a tall buffer).
        let (pw, ph) = (f64::from(p.width), f64::from(p.height) * p.aspect);
        let (shown, sw, sh, tw, th) = if cell.magnification == "NONE" {
            let w = p.width.min(cw.max(1));
            let h = p
                .height
                .min(((f64::from(ch) / p.aspect).ceil() as u32).max(1));
            cropped |= w < p.width || h < p.height;
            let (sx, sy) = ((p.width - w) / 2, (p.height - h) / 2);
            let mut part = Vec::with_capacity(w as usize * h as usize * channels);
            for row in sy..sy + h {
                let at = (row as usize * p.width as usize + sx as usize) * channels;
                part.extend_from_slice(&p.data[at..at + w as usize * channels]);
            }
            let th = ((f64::from(h) * p.aspect).round() as u32).clamp(1, ch.max(1));
            (part, w, h, w, th)
        } else {
            let scale = (f64::from(cw) / pw).min(f64::from(ch) / ph);
            (
                p.data.clone(),
                p.width,
                p.height,
                ((pw * scale).floor() as u32).clamp(1, cw.max(1)),
                ((ph * scale).floor() as u32).clamp(1, ch.max(1)),
            )
        };
        let filter = match cell.magnification {
            "REPLICATE" | "NONE" => FilterType::Nearest,
            "CUBIC" => FilterType::CatmullRom,
            _ => FilterType::Triangle,
        };
        let scaled: Vec<u8> = if color {
            let img = image::RgbImage::from_raw(sw, sh, shown).expect("sized above");
            image::imageops::resize(&img, tw, th, filter).into_raw()
        } else {
            let img = image::GrayImage::from_raw(sw, sh, shown).expect("sized above");
            image::imageops::resize(&img, tw, th, filter).into_raw()
        };
        // Centre; crop what does not fit.
        let (vw, vh) = (tw.min(cw), th.min(ch));
        cropped |= vw < tw || vh < th;
        let (sx, sy) = ((tw - vw) / 2, (th - vh) / 2);
        let (dx, dy) = (x0 + (cw - vw) / 2, y0 + (ch - vh) / 2);
        for row in 0..vh {
            let src = ((sy + row) as usize * tw as usize + sx as usize) * channels;
            let dst = ((dy + row) as usize * width as usize + dx as usize) * channels;
            let len = vw as usize * channels;
            let line = &mut data[dst..dst + len];
            line.copy_from_slice(&scaled[src..src + len]);
            if cell.reverse {
                line.iter_mut().for_each(|v| *v = 255 - *v);
            }
        }
    }
    Sheet {
        width,
        height,
        color,
        data,
        cropped,
    }
}

/// The sheet as a one-page PDF of the film's size, the image as JPEG.
pub fn sheet_pdf(sheet: &Sheet, width_mm: f64, height_mm: f64) -> Result<Vec<u8>> {
    use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref};
    let mut jpeg = Vec::new();
    let color = if sheet.color {
        image::ExtendedColorType::Rgb8
    } else {
        image::ExtendedColorType::L8
    };
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut jpeg, 90)
        .encode(&sheet.data, sheet.width, sheet.height, color)
        .map_err(|e| Error::Internal(format!("cannot encode the sheet: {e}")))?;
    let (w, h) = (
        (width_mm / 25.4 * 72.0) as f32,
        (height_mm / 25.4 * 72.0) as f32,
    );
    let (catalog, pages, page, picture, content) = (
        Ref::new(1),
        Ref::new(2),
        Ref::new(3),
        Ref::new(4),
        Ref::new(5),
    );
    let mut pdf = Pdf::new();
    pdf.catalog(catalog).pages(pages);
    pdf.pages(pages).kids([page]).count(1);
    let mut p = pdf.page(page);
    p.media_box(Rect::new(0.0, 0.0, w, h));
    p.parent(pages);
    p.contents(content);
    p.resources().x_objects().pair(Name(b"Film"), picture);
    p.finish();
    let mut xobject = pdf.image_xobject(picture, &jpeg);
    xobject.filter(Filter::DctDecode);
    xobject.width(sheet.width as i32);
    xobject.height(sheet.height as i32);
    if sheet.color {
        xobject.color_space().device_rgb();
    } else {
        xobject.color_space().device_gray();
    }
    xobject.bits_per_component(8);
    xobject.finish();
    let mut c = Content::new();
    c.save_state();
    c.transform([w, 0.0, 0.0, h, 0.0, 0.0]);
    c.x_object(Name(b"Film"));
    c.restore_state();
    pdf.stream(content, &c.finish());
    Ok(pdf.finish())
}

/// Where a sheet goes.
struct Filing {
    /// Patient and study attributes to copy into the sheet.
    header: InMemDicomObject,
    study_instance_uid: String,
    patient_id: String,
    matched_by: &'static str,
    /// Instances the print named.
    references: Vec<(String, String)>,
}

/// The attributes a sheet takes from its study.
const HEADER_TAGS: [(Tag, VR); 11] = [
    (tags::PATIENT_NAME, VR::PN),
    (tags::PATIENT_ID, VR::LO),
    (tags::ISSUER_OF_PATIENT_ID, VR::LO),
    (tags::PATIENT_BIRTH_DATE, VR::DA),
    (tags::PATIENT_SEX, VR::CS),
    (tags::STUDY_INSTANCE_UID, VR::UI),
    (tags::STUDY_DATE, VR::DA),
    (tags::STUDY_TIME, VR::TM),
    (tags::ACCESSION_NUMBER, VR::SH),
    (tags::REFERRING_PHYSICIAN_NAME, VR::PN),
    (tags::STUDY_ID, VR::SH),
];

fn copy_header(from: &InMemDicomObject) -> InMemDicomObject {
    let mut out = InMemDicomObject::new_empty();
    for (tag, vr) in HEADER_TAGS
        .into_iter()
        .chain([(tags::STUDY_DESCRIPTION, VR::LO)])
    {
        if let Some(v) = text(from, tag) {
            put_str(&mut out, tag, vr, &v);
        }
    }
    out
}

/// A UID of our own derived from `seed` (the same seed, the same UID):
/// `2.25.` and 128 bits of its SHA-256.
fn derived_uid(seed: &str) -> String {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(seed.as_bytes());
    let n = u128::from_be_bytes(d[..16].try_into().expect("16 bytes"));
    format!("2.25.{n}")
}

impl Service {
    /// A Print Management operation of `association` (its id), over the
    /// print SOP class `request.sop_class_uid`.
    pub async fn print(
        &self,
        ctx: &Context,
        association: u64,
        meta_sop_class_uid: &str,
        operation: NormalizedOperation,
        request: NormalizedRequest,
    ) -> Result<NormalizedResponse> {
        if !self.inner.print.enabled {
            return Ok(refuse(
                Status::NO_SUCH_SOP_CLASS,
                "printing is turned off here ([print] enabled = false)",
                None,
            ));
        }
        self.require(ctx, Right::Print, Action::Print, "print")
            .await?;
        use NormalizedOperation as Op;
        let class = request.sop_class_uid.as_str();
        Ok(match (class, operation) {
            (dimse::PRINTER, Op::Get) => printer_status(&request),
            (dimse::BASIC_FILM_SESSION, Op::Create) => self.create_session(association, request),
            (dimse::BASIC_FILM_SESSION, Op::Set) => self.set_session(association, request),
            (dimse::BASIC_FILM_SESSION, Op::Delete) => self.delete_session(association, request),
            (dimse::BASIC_FILM_SESSION, Op::Action) => {
                self.print_session(ctx, association, request).await
            }
            (dimse::BASIC_FILM_BOX, Op::Create) => {
                let color = meta_sop_class_uid == dimse::BASIC_COLOR_PRINT_MANAGEMENT_META;
                self.create_film_box(association, request, color)
            }
            (dimse::BASIC_FILM_BOX, Op::Set) => self.set_film_box(association, request),
            (dimse::BASIC_FILM_BOX, Op::Delete) => self.delete_film_box(association, request),
            (dimse::BASIC_FILM_BOX, Op::Action) => {
                self.print_film_box(ctx, association, request).await
            }
            (dimse::BASIC_GRAYSCALE_IMAGE_BOX | dimse::BASIC_COLOR_IMAGE_BOX, Op::Set) => {
                self.set_image_box(association, request)
            }
            _ => refuse(
                Status::UNRECOGNIZED_OPERATION,
                format!("{operation:?} of {class} is not a print operation"),
                None,
            ),
        })
    }

    /// The association's film sessions end with it.
    pub fn print_closed(&self, association: u64) {
        let gone = self
            .inner
            .print_sessions
            .by_association
            .lock()
            .expect("print sessions")
            .remove(&association);
        if let Some(s) = gone {
            let unprinted = s.film_boxes.len();
            if unprinted > 0 {
                tracing::info!(
                    film_boxes = unprinted,
                    "association ended with film boxes not deleted"
                );
            }
        }
    }

    fn with_session<T>(&self, association: u64, f: impl FnOnce(&mut Session) -> T) -> T {
        let mut all = self
            .inner
            .print_sessions
            .by_association
            .lock()
            .expect("print sessions");
        f(all.entry(association).or_default())
    }

    fn create_session(&self, association: u64, request: NormalizedRequest) -> NormalizedResponse {
        let attributes = request.data_set.unwrap_or_else(InMemDicomObject::new_empty);
        if let Err(r) = check_session_attributes(&attributes) {
            return r;
        }
        let uid = request
            .sop_instance_uid
            .unwrap_or_else(storage::Uid::generate);
        self.with_session(association, |s| {
            if let Some(f) = &s.film_session {
                let status = if f.uid == uid {
                    Status::DUPLICATE_SOP_INSTANCE
                } else {
                    Status::RESOURCE_LIMITATION
                };
                return refuse(
                    status,
                    "this association has a film session already: one at a time",
                    None,
                );
            }
            s.film_session = Some(FilmSession {
                uid: uid.clone(),
                attributes: attributes.clone(),
            });
            NormalizedResponse {
                response: Response::success(),
                sop_instance_uid: Some(uid),
                data_set: Some(attributes),
            }
        })
    }

    fn set_session(&self, association: u64, request: NormalizedRequest) -> NormalizedResponse {
        let changes = request.data_set.unwrap_or_else(InMemDicomObject::new_empty);
        if let Err(r) = check_session_attributes(&changes) {
            return r;
        }
        self.with_session(association, |s| match &mut s.film_session {
            Some(f) if Some(&f.uid) == request.sop_instance_uid.as_ref() => {
                for e in changes.into_iter() {
                    f.attributes.put(e);
                }
                done(f.uid.clone())
            }
            _ => no_such("film session", request.sop_instance_uid.as_deref()),
        })
    }

    fn delete_session(&self, association: u64, request: NormalizedRequest) -> NormalizedResponse {
        self.with_session(association, |s| match &s.film_session {
            Some(f) if Some(&f.uid) == request.sop_instance_uid.as_ref() => {
                let uid = f.uid.clone();
                *s = Session::default();
                done(uid)
            }
            _ => no_such("film session", request.sop_instance_uid.as_deref()),
        })
    }

    fn create_film_box(
        &self,
        association: u64,
        request: NormalizedRequest,
        color: bool,
    ) -> NormalizedResponse {
        let mut attributes = request.data_set.unwrap_or_else(InMemDicomObject::new_empty);
        let settings = &self.inner.print;
        let Some(format) = text(&attributes, tags::IMAGE_DISPLAY_FORMAT) else {
            return refuse(
                Status::MISSING_ATTRIBUTE,
                "a film box needs an Image Display Format (2010,0010), e.g. STANDARD\\3,4",
                Some(tags::IMAGE_DISPLAY_FORMAT),
            );
        };
        let Some(layout) = Layout::parse(&format) else {
            return refuse(
                Status::INVALID_ATTRIBUTE_VALUE,
                format!(
                    "Image Display Format {format:?} is not supported (STANDARD\\C,R, ROW\\… or \
                     COL\\…, at most 20 a row)"
                ),
                Some(tags::IMAGE_DISPLAY_FORMAT),
            );
        };
        let film_size = text(&attributes, tags::FILM_SIZE_ID)
            .unwrap_or_else(|| settings.default_film_size.clone());
        if !settings.film_sizes.contains(&film_size) {
            return refuse(
                Status::INVALID_ATTRIBUTE_VALUE,
                format!(
                    "Film Size ID {film_size:?} is not one of {}",
                    settings.film_sizes.join(", ")
                ),
                Some(tags::FILM_SIZE_ID),
            );
        }
        for (tag, allowed) in [
            (tags::FILM_ORIENTATION, &["PORTRAIT", "LANDSCAPE"][..]),
            (
                tags::MAGNIFICATION_TYPE,
                &["REPLICATE", "BILINEAR", "CUBIC", "NONE"][..],
            ),
            (tags::TRIM, &["YES", "NO"][..]),
        ] {
            if let Err(r) = check_enum(&attributes, tag, allowed) {
                return r;
            }
        }
        let (min, max) = (
            number(&attributes, tags::MIN_DENSITY).unwrap_or(20),
            number(&attributes, tags::MAX_DENSITY).unwrap_or(300),
        );
        let density = |tag: Tag| -> std::result::Result<u8, NormalizedResponse> {
            let v = text(&attributes, tag).unwrap_or_else(|| "BLACK".to_owned());
            density_pixel(&v, min, max).ok_or_else(|| {
                refuse(
                    Status::INVALID_ATTRIBUTE_VALUE,
                    format!("{tag} {v:?} is not BLACK, WHITE or a density in hundredths of OD"),
                    Some(tag),
                )
            })
        };
        let (border, empty) = match (
            density(tags::BORDER_DENSITY),
            density(tags::EMPTY_IMAGE_DENSITY),
        ) {
            (Ok(b), Ok(e)) => (b, e),
            (Err(r), _) | (_, Err(r)) => return r,
        };
        let session_ref = attributes
            .get(tags::REFERENCED_FILM_SESSION_SEQUENCE)
            .and_then(|e| e.items())
            .and_then(|items| items.first())
            .and_then(|i| text(i, tags::REFERENCED_SOP_INSTANCE_UID));
        let box_class = if color {
            dimse::BASIC_COLOR_IMAGE_BOX
        } else {
            dimse::BASIC_GRAYSCALE_IMAGE_BOX
        };
        let uid = request
            .sop_instance_uid
            .unwrap_or_else(storage::Uid::generate);
        let cells = u16::try_from(layout.cells()).expect("at most 400 cells");
        let boxes: Vec<ImageBox> = (1..=cells)
            .map(|position| ImageBox {
                uid: storage::Uid::generate(),
                position,
                picture: None,
                reverse: false,
                magnification: None,
                attributes: InMemDicomObject::new_empty(),
            })
            .collect();
        attributes.put(DataElement::new(
            tags::REFERENCED_IMAGE_BOX_SEQUENCE,
            VR::SQ,
            sequence(boxes.iter().map(|b| reference(box_class, &b.uid)).collect()),
        ));
        put_str(&mut attributes, tags::FILM_SIZE_ID, VR::CS, &film_size);
        let orientation =
            text(&attributes, tags::FILM_ORIENTATION).unwrap_or_else(|| "PORTRAIT".into());
        put_str(
            &mut attributes,
            tags::FILM_ORIENTATION,
            VR::CS,
            &orientation,
        );
        let magnification =
            text(&attributes, tags::MAGNIFICATION_TYPE).unwrap_or_else(|| "BILINEAR".into());
        self.with_session(association, |s| {
            let Some(f) = &s.film_session else {
                return refuse(
                    Status::NO_SUCH_SOP_INSTANCE,
                    "no film session: N-CREATE a Basic Film Session first",
                    Some(tags::REFERENCED_FILM_SESSION_SEQUENCE),
                );
            };
            match &session_ref {
                None => {
                    return refuse(
                        Status::MISSING_ATTRIBUTE,
                        "a film box needs its Referenced Film Session Sequence (2010,0500)",
                        Some(tags::REFERENCED_FILM_SESSION_SEQUENCE),
                    )
                }
                Some(r) if r != &f.uid => {
                    return refuse(
                        Status::INVALID_ATTRIBUTE_VALUE,
                        format!("film session {r} is not this association's"),
                        Some(tags::REFERENCED_FILM_SESSION_SEQUENCE),
                    )
                }
                Some(_) => {}
            }
            if s.film_boxes.len() >= MAX_FILM_BOXES {
                return refuse(
                    Status::RESOURCE_LIMITATION,
                    format!("at most {MAX_FILM_BOXES} film boxes at once: delete printed ones"),
                    None,
                );
            }
            if s.film_boxes.iter().any(|b| b.uid == uid) {
                return refuse(
                    Status::DUPLICATE_SOP_INSTANCE,
                    format!("film box {uid} exists"),
                    None,
                );
            }
            s.film_boxes.push(FilmBox {
                uid: uid.clone(),
                attributes: attributes.clone(),
                layout: layout.clone(),
                format: format.clone(),
                film_size: film_size.clone(),
                landscape: orientation == "LANDSCAPE",
                magnification: magnification.clone(),
                border,
                empty,
                densities: (min, max),
                version: 0,
                color,
                boxes,
            });
            NormalizedResponse {
                response: Response::success(),
                sop_instance_uid: Some(uid.clone()),
                data_set: Some(attributes.clone()),
            }
        })
    }

    fn set_film_box(&self, association: u64, request: NormalizedRequest) -> NormalizedResponse {
        let changes = request.data_set.unwrap_or_else(InMemDicomObject::new_empty);
        // What a film box's N-SET may change (PS3.4 H.4.2.2.2).
        const SETTABLE: [Tag; 11] = [
            tags::MAGNIFICATION_TYPE,
            tags::MAX_DENSITY,
            tags::CONFIGURATION_INFORMATION,
            tags::SMOOTHING_TYPE,
            tags::BORDER_DENSITY,
            tags::EMPTY_IMAGE_DENSITY,
            tags::MIN_DENSITY,
            tags::TRIM,
            tags::ILLUMINATION,
            tags::REFLECTED_AMBIENT_LIGHT,
            tags::REFERENCED_PRESENTATION_LUT_SEQUENCE,
        ];
        let unknown: Vec<Tag> = changes
            .iter()
            .map(|e| e.header().tag)
            .filter(|t| !SETTABLE.contains(t))
            .collect();
        if !unknown.is_empty() {
            let mut r = Response::with(
                Status(0x0105),
                "a film box's N-SET changes only magnification, smoothing, densities, trim, \
                 configuration, illumination and the presentation LUT",
            );
            r.offending = unknown;
            return r.into();
        }
        for (tag, allowed) in [
            (
                tags::MAGNIFICATION_TYPE,
                &["REPLICATE", "BILINEAR", "CUBIC", "NONE"][..],
            ),
            (tags::TRIM, &["YES", "NO"][..]),
        ] {
            if let Err(r) = check_enum(&changes, tag, allowed) {
                return r;
            }
        }
        self.with_session(association, |s| {
            let Some(b) = s
                .film_boxes
                .iter_mut()
                .find(|b| Some(&b.uid) == request.sop_instance_uid.as_ref())
            else {
                return no_such("film box", request.sop_instance_uid.as_deref());
            };
            if let Some(m) = text(&changes, tags::MAGNIFICATION_TYPE) {
                b.magnification = m;
            }
            let (min, max) = (
                number(&changes, tags::MIN_DENSITY).unwrap_or(b.densities.0),
                number(&changes, tags::MAX_DENSITY).unwrap_or(b.densities.1),
            );
            b.densities = (min, max);
            b.version += 1;
            for (tag, slot) in [
                (tags::BORDER_DENSITY, &mut b.border),
                (tags::EMPTY_IMAGE_DENSITY, &mut b.empty),
            ] {
                if let Some(v) = text(&changes, tag) {
                    match density_pixel(&v, min, max) {
                        Some(p) => *slot = p,
                        None => {
                            return refuse(
                                Status::INVALID_ATTRIBUTE_VALUE,
                                format!("{tag} {v:?} is not BLACK, WHITE or a density"),
                                Some(tag),
                            )
                        }
                    }
                }
            }
            for e in changes.into_iter() {
                b.attributes.put(e);
            }
            done(b.uid.clone())
        })
    }

    fn delete_film_box(&self, association: u64, request: NormalizedRequest) -> NormalizedResponse {
        self.with_session(association, |s| {
            let Some(n) = s
                .film_boxes
                .iter()
                .position(|b| Some(&b.uid) == request.sop_instance_uid.as_ref())
            else {
                return no_such("film box", request.sop_instance_uid.as_deref());
            };
            let b = s.film_boxes.remove(n);
            let freed: usize = b
                .boxes
                .iter()
                .filter_map(|i| i.picture.as_ref())
                .map(|p| p.data.len())
                .sum();
            s.image_bytes = s.image_bytes.saturating_sub(freed);
            s.printed.remove(&b.uid);
            done(b.uid)
        })
    }

    fn set_image_box(&self, association: u64, request: NormalizedRequest) -> NormalizedResponse {
        let color = request.sop_class_uid == dimse::BASIC_COLOR_IMAGE_BOX;
        let mut attributes = request.data_set.unwrap_or_else(InMemDicomObject::new_empty);
        if let Err(r) = check_enum(&attributes, tags::POLARITY, &["NORMAL", "REVERSE"]) {
            return r;
        }
        if let Err(r) = check_enum(
            &attributes,
            tags::MAGNIFICATION_TYPE,
            &["REPLICATE", "BILINEAR", "CUBIC", "NONE"],
        ) {
            return r;
        }
        let sequence_tag = if color {
            tags::BASIC_COLOR_IMAGE_SEQUENCE
        } else {
            tags::BASIC_GRAYSCALE_IMAGE_SEQUENCE
        };
        let item = attributes
            .get(sequence_tag)
            .and_then(|e| e.items())
            .and_then(|i| i.first())
            .cloned();
        let Some(item) = item else {
            return refuse(
                Status::MISSING_ATTRIBUTE,
                format!("an image box N-SET needs its {sequence_tag} with one image"),
                Some(sequence_tag),
            );
        };
        let picture = match read_picture(&item, color) {
            Ok(p) => p,
            Err(why) => return refuse(Status::INVALID_ATTRIBUTE_VALUE, why, Some(sequence_tag)),
        };
        let position = number(&attributes, tags::IMAGE_BOX_POSITION);
        let reverse = text(&attributes, tags::POLARITY).as_deref() == Some("REVERSE");
        let magnification = text(&attributes, tags::MAGNIFICATION_TYPE);
        // Keep what identifies the image (references, patient, study),
        // not its pixels.
        attributes.remove_element(sequence_tag);
        for tag in [
            tags::REFERENCED_IMAGE_SEQUENCE,
            tags::STUDY_INSTANCE_UID,
            tags::PATIENT_ID,
        ] {
            if let Some(e) = item.get(tag) {
                attributes.put(e.clone());
            }
        }
        self.with_session(association, |s| {
            let uid = request.sop_instance_uid.as_deref();
            let held = s.image_bytes;
            let Some((film, version, b)) = s.film_boxes.iter_mut().find_map(|f| {
                let color = f.color;
                let version = &mut f.version;
                f.boxes
                    .iter_mut()
                    .find(|b| Some(b.uid.as_str()) == uid)
                    .map(|b| (color, version, b))
            }) else {
                return no_such("image box", uid);
            };
            let before = b.picture.as_ref().map_or(0, |p| p.data.len());
            if held - before + picture.data.len() > MAX_IMAGE_BYTES {
                return refuse(
                    Status(0xC605),
                    format!(
                        "this association holds {} MiB of images already: delete printed film \
                         boxes first",
                        held >> 20
                    ),
                    None,
                );
            }
            if film != color {
                return refuse(
                    Status::CLASS_INSTANCE_CONFLICT,
                    "the image box is of the other (grayscale/color) class",
                    None,
                );
            }
            if let Some(p) = position {
                if p != u32::from(b.position) {
                    return refuse(
                        Status::INVALID_ATTRIBUTE_VALUE,
                        format!(
                            "Image Box Position {p}: this image box is at position {}",
                            b.position
                        ),
                        Some(tags::IMAGE_BOX_POSITION),
                    );
                }
            }
            let size = picture.data.len();
            b.picture = Some(Arc::new(picture));
            *version += 1;
            s.image_bytes = held - before + size;
            b.reverse = reverse;
            b.magnification = magnification;
            b.attributes = attributes;
            done(b.uid.clone())
        })
    }

    async fn print_film_box(
        &self,
        ctx: &Context,
        association: u64,
        request: NormalizedRequest,
    ) -> NormalizedResponse {
        if request.action_type_id != Some(1) {
            return refuse(Status::NO_SUCH_ACTION, "the print action is 1", None);
        }
        let found = self.with_session(association, |s| {
            let film = s
                .film_boxes
                .iter()
                .find(|b| Some(&b.uid) == request.sop_instance_uid.as_ref())
                .cloned();
            film.map(|f| (f, s.film_session.as_ref().map(|f| f.attributes.clone())))
        });
        let Some((film, session)) = found else {
            return no_such("film box", request.sop_instance_uid.as_deref());
        };
        let uid = film.uid.clone();
        let (status, comment) = self
            .print_films(
                ctx,
                association,
                vec![film],
                session.unwrap_or_else(InMemDicomObject::new_empty),
                false,
            )
            .await;
        let mut response = Response::with(status, comment);
        if !status.is_failure() && status != Status(0xB603) {
            response.comment = None;
        }
        NormalizedResponse {
            response,
            sop_instance_uid: Some(uid),
            data_set: None,
        }
    }

    async fn print_session(
        &self,
        ctx: &Context,
        association: u64,
        request: NormalizedRequest,
    ) -> NormalizedResponse {
        if request.action_type_id != Some(1) {
            return refuse(Status::NO_SUCH_ACTION, "the print action is 1", None);
        }
        let found = self.with_session(association, |s| match &s.film_session {
            Some(f) if Some(&f.uid) == request.sop_instance_uid.as_ref() => {
                Some((s.film_boxes.clone(), f.attributes.clone()))
            }
            _ => None,
        });
        let Some((films, session)) = found else {
            return no_such("film session", request.sop_instance_uid.as_deref());
        };
        if films.is_empty() {
            return refuse(
                Status(0xC600),
                "the film session holds no film box to print",
                None,
            );
        }
        let (status, comment) = self
            .print_films(ctx, association, films, session, true)
            .await;
        let mut response = Response::with(status, comment);
        if status == Status::SUCCESS {
            response.comment = None;
        }
        NormalizedResponse {
            response,
            sop_instance_uid: request.sop_instance_uid,
            data_set: None,
        }
    }

    /// Compose and file each film: the status for the N-ACTION and what
    /// happened, in words.
    async fn print_films(
        &self,
        ctx: &Context,
        association: u64,
        films: Vec<FilmBox>,
        session: InMemDicomObject,
        session_level: bool,
    ) -> (Status, String) {
        let mut filed = Vec::new();
        let mut warning = None;
        for film in films {
            if film.boxes.iter().all(|b| b.picture.is_none()) {
                // B602 of a film session, B603 of a film box (PS3.4 H.4).
                let status = if session_level { 0xB602 } else { 0xB603 };
                warning = Some((
                    Status(status),
                    "a film box holds no image: nothing printed".to_owned(),
                ));
                continue;
            }
            let done = self.with_session(association, |s| {
                s.printed.get(&film.uid) == Some(&film.version)
            });
            if done {
                filed.push("filed already".to_owned());
                continue;
            }
            match self.file_sheet(ctx, &film, &session).await {
                Ok((where_, cropped)) => {
                    if cropped {
                        warning = Some((
                            Status(0xB609),
                            "an image larger than its box was cropped (magnification NONE)"
                                .to_owned(),
                        ));
                    }
                    self.with_session(association, |s| {
                        s.printed.insert(film.uid.clone(), film.version)
                    });
                    filed.push(where_)
                }
                Err(e) => {
                    tracing::warn!(error = %e, "a printed film could not be filed");
                    // C601 of a film session, C602 of a film box: the
                    // print job could not be made. Films filed before stay
                    // filed, and are not filed again on a retry.
                    let status = if session_level { 0xC601 } else { 0xC602 };
                    return (
                        Status(status),
                        format!("the sheet could not be filed: {}", e.public_message()),
                    );
                }
            }
        }
        match warning {
            Some((status, why)) => (status, why),
            None => (Status::SUCCESS, filed.join("; ")),
        }
    }

    /// Compose `film`, find its study, store the Secondary Capture (and the
    /// PDF), record the sheet. Where it went, in words, and whether an
    /// image was cropped.
    async fn file_sheet(
        &self,
        ctx: &Context,
        film: &FilmBox,
        session: &InMemDicomObject,
    ) -> Result<(String, bool)> {
        let settings = self.inner.print.clone();
        let (mut w_mm, mut h_mm) =
            crate::config::film_size_mm(&film.film_size).unwrap_or((355.6, 431.8));
        if film.landscape {
            std::mem::swap(&mut w_mm, &mut h_mm);
        }
        let dots = |mm: f64| ((mm / 25.4 * f64::from(settings.dpi)).round() as u32).max(16);
        let (width, height) = (dots(w_mm), dots(h_mm));
        let color = film.color;
        let composed = {
            let film = film.clone();
            tokio::task::spawn_blocking(move || {
                let cells: Vec<Cell<'_>> = film
                    .boxes
                    .iter()
                    .map(|b| Cell {
                        picture: b.picture.as_deref(),
                        reverse: b.reverse,
                        magnification: b.magnification.as_deref().unwrap_or(&film.magnification),
                    })
                    .collect();
                compose(
                    &film.layout,
                    width,
                    height,
                    color,
                    film.border,
                    film.empty,
                    &cells,
                )
            })
            .await
            .map_err(|e| Error::Internal(e.to_string()))?
        };
        let tenant = ctx.tenant().cloned().unwrap_or_else(TenantId::implicit);
        let filing = self.find_study(ctx, &tenant, film, session).await?;
        let images = film.boxes.iter().filter(|b| b.picture.is_some()).count();
        let now = chrono::Local::now();
        let (date, time) = (
            now.format("%Y%m%d").to_string(),
            now.format("%H%M%S").to_string(),
        );
        let sheets_before = self
            .archive()
            .index()
            .print_sheets(
                Some(&tenant),
                Some(&filing.study_instance_uid),
                false,
                10_000,
            )
            .await?
            .len();
        let number = (sheets_before + 1).to_string();
        let description = format!(
            "Film printed by {} ({}, {}, {})",
            ctx.actor.name,
            film.format,
            film.film_size,
            if film.landscape {
                "landscape"
            } else {
                "portrait"
            }
        );

        // The sheet: a Secondary Capture in the study's "Films" series.
        let sc_uid = storage::Uid::generate();
        let mut sc = common_header(&filing, &date, &time);
        in_series(
            &mut sc,
            &filing,
            (uids::SECONDARY_CAPTURE_IMAGE_STORAGE, &sc_uid),
            ("OT", "films", "9000", "Films"),
            &number,
        );
        put_str(&mut sc, tags::IMAGE_TYPE, VR::CS, "DERIVED\\SECONDARY");
        put_str(&mut sc, tags::DERIVATION_DESCRIPTION, VR::ST, &description);
        put_str(&mut sc, tags::PATIENT_ORIENTATION, VR::CS, "");
        put_str(&mut sc, tags::LATERALITY, VR::CS, "");
        put_str(&mut sc, tags::BURNED_IN_ANNOTATION, VR::CS, "YES");
        sc.put(DataElement::new(
            tags::SAMPLES_PER_PIXEL,
            VR::US,
            PrimitiveValue::from(if color { 3u16 } else { 1 }),
        ));
        put_str(
            &mut sc,
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            if color { "RGB" } else { "MONOCHROME2" },
        );
        if color {
            sc.put(DataElement::new(
                tags::PLANAR_CONFIGURATION,
                VR::US,
                PrimitiveValue::from(0u16),
            ));
        }
        for (tag, v) in [
            (tags::ROWS, composed.height as u16),
            (tags::COLUMNS, composed.width as u16),
            (tags::BITS_ALLOCATED, 8),
            (tags::BITS_STORED, 8),
            (tags::HIGH_BIT, 7),
            (tags::PIXEL_REPRESENTATION, 0),
        ] {
            sc.put(DataElement::new(tag, VR::US, PrimitiveValue::from(v)));
        }
        let pixel_spacing = format!(
            "{:.4}\\{:.4}",
            25.4 / f64::from(settings.dpi),
            25.4 / f64::from(settings.dpi)
        );
        put_str(
            &mut sc,
            tags::NOMINAL_SCANNED_PIXEL_SPACING,
            VR::DS,
            &pixel_spacing,
        );
        let references: Vec<InMemDicomObject> = filing
            .references
            .iter()
            .map(|(class, uid)| reference(class, uid))
            .collect();
        if !references.is_empty() {
            sc.put(DataElement::new(
                tags::REFERENCED_IMAGE_SEQUENCE,
                VR::SQ,
                sequence(references),
            ));
        }
        let mut pixels = composed.data.clone();
        if pixels.len() % 2 == 1 {
            pixels.push(0);
        }
        sc.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OB,
            PrimitiveValue::from(pixels),
        ));
        self.store_made(
            ctx,
            &tenant,
            uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
            &sc_uid,
            &sc,
        )
        .await?;

        // The same sheet as a PDF, to print on paper from a browser.
        let mut pdf_uid = String::new();
        if settings.pdf {
            let pdf = {
                let composed = composed.clone();
                tokio::task::spawn_blocking(move || sheet_pdf(&composed, w_mm, h_mm))
                    .await
                    .map_err(|e| Error::Internal(e.to_string()))??
            };
            pdf_uid = storage::Uid::generate();
            let mut doc = common_header(&filing, &date, &time);
            in_series(
                &mut doc,
                &filing,
                (uids::ENCAPSULATED_PDF_STORAGE, &pdf_uid),
                ("DOC", "films-pdf", "9001", "Films (PDF)"),
                &number,
            );
            put_str(
                &mut doc,
                tags::ACQUISITION_DATE_TIME,
                VR::DT,
                &format!("{date}{time}"),
            );
            put_str(&mut doc, tags::BURNED_IN_ANNOTATION, VR::CS, "YES");
            put_str(&mut doc, tags::DOCUMENT_TITLE, VR::ST, &description);
            doc.put(DataElement::new(
                tags::CONCEPT_NAME_CODE_SEQUENCE,
                VR::SQ,
                sequence(Vec::new()),
            ));
            doc.put(DataElement::new(
                tags::SOURCE_INSTANCE_SEQUENCE,
                VR::SQ,
                sequence(vec![reference(
                    uids::SECONDARY_CAPTURE_IMAGE_STORAGE,
                    &sc_uid,
                )]),
            ));
            put_str(
                &mut doc,
                tags::MIME_TYPE_OF_ENCAPSULATED_DOCUMENT,
                VR::LO,
                "application/pdf",
            );
            let mut pdf = pdf;
            if pdf.len() % 2 == 1 {
                pdf.push(0);
            }
            doc.put(DataElement::new(
                tags::ENCAPSULATED_DOCUMENT,
                VR::OB,
                PrimitiveValue::from(pdf),
            ));
            self.store_made(ctx, &tenant, uids::ENCAPSULATED_PDF_STORAGE, &pdf_uid, &doc)
                .await?;
        }
        self.archive()
            .index()
            .insert_print_sheet(&PrintSheet {
                id: 0,
                tenant: tenant.clone(),
                sop_instance_uid: sc_uid.clone(),
                pdf_sop_instance_uid: pdf_uid,
                study_instance_uid: filing.study_instance_uid.clone(),
                patient_id: filing.patient_id.clone(),
                calling_ae_title: ctx.actor.name.clone(),
                matched_by: filing.matched_by.to_owned(),
                film_format: film.format.clone(),
                images: images as i64,
                printed_at: 0,
            })
            .await?;
        tracing::info!(
            study = %filing.study_instance_uid,
            matched_by = filing.matched_by,
            images,
            "film sheet printed and filed"
        );
        Ok((
            format!(
                "filed as {sc_uid} in study {} (matched by {})",
                filing.study_instance_uid, filing.matched_by
            ),
            composed.cropped,
        ))
    }

    /// Store an object made here (a sheet, its PDF), audited as a print.
    async fn store_made(
        &self,
        ctx: &Context,
        tenant: &TenantId,
        class: &str,
        uid: &str,
        obj: &InMemDicomObject,
    ) -> Result<()> {
        let mut part10 = storage::part10::file_meta(
            uids::EXPLICIT_VR_LITTLE_ENDIAN,
            class,
            uid,
            Some(&ctx.actor.name),
        );
        part10.extend(
            dicom_net::dataset::encode(obj, uids::EXPLICIT_VR_LITTLE_ENDIAN)
                .map_err(|e| Error::Internal(format!("cannot encode the sheet: {e}")))?,
        );
        let stream = futures::stream::iter([Ok::<Bytes, std::io::Error>(Bytes::from(part10))]);
        let journal = self.arrival_journal(ctx, tenant);
        let result = self
            .archive()
            .store_stream(super::store::target(tenant, &journal), stream, None)
            .await;
        self.stored(ctx, Action::Print, tenant, result).await?;
        Ok(())
    }

    /// The study a film belongs to (see the module's documentation).
    async fn find_study(
        &self,
        ctx: &Context,
        tenant: &TenantId,
        film: &FilmBox,
        session: &InMemDicomObject,
    ) -> Result<Filing> {
        let index = self.archive().index();
        let sources: Vec<&InMemDicomObject> = [session, &film.attributes]
            .into_iter()
            .chain(film.boxes.iter().map(|b| &b.attributes))
            .collect();
        // What the print says: the images it names, its patient, its study.
        let mut references = Vec::new();
        for s in &sources {
            if let Some(items) = s
                .get(tags::REFERENCED_IMAGE_SEQUENCE)
                .and_then(|e| e.items())
            {
                for i in items {
                    if let (Some(c), Some(u)) = (
                        text(i, tags::REFERENCED_SOP_CLASS_UID),
                        text(i, tags::REFERENCED_SOP_INSTANCE_UID),
                    ) {
                        if !references.iter().any(|(_, r)| r == &u) {
                            references.push((c, u));
                        }
                    }
                }
            }
        }
        let first = |tag: Tag| sources.iter().find_map(|s| text(s, tag));
        let patient_id = first(tags::PATIENT_ID);
        let filed = |header: InMemDicomObject, study: String, matched_by, references| Filing {
            patient_id: text(&header, tags::PATIENT_ID).unwrap_or_default(),
            study_instance_uid: study,
            header,
            matched_by,
            references,
        };
        // Nothing goes into a study of another patient than the print names.
        let same_patient = |header: &InMemDicomObject| {
            patient_id.is_none() || text(header, tags::PATIENT_ID) == patient_id
        };
        let mut doubt = None;

        // 1. The study of the images it names: one study, or none.
        let mut named = Vec::new();
        for (_, uid) in &references {
            if let Some(i) = index.instance(tenant, uid).await? {
                if !named
                    .iter()
                    .any(|n: &storage::StoredInstance| n.study_instance_uid == i.study_instance_uid)
                {
                    named.push(i);
                }
            }
        }
        match &named[..] {
            [] => {}
            [one] => {
                let header = self.study_header(one).await?;
                if same_patient(&header) {
                    let study = one.study_instance_uid.clone();
                    return Ok(filed(header, study, "reference", references));
                }
                doubt = Some("the images it names are of another patient than it names");
            }
            _ => doubt = Some("the images it names are of several studies"),
        }

        // 2. The study it sends (and its patient).
        if doubt.is_none() {
            if let Some(study) = first(tags::STUDY_INSTANCE_UID) {
                storage::Uid::parse("StudyInstanceUID", &study)?;
                match index.study_instances(tenant, &study).await?.first() {
                    Some(i) => {
                        let header = self.study_header(i).await?;
                        if same_patient(&header) {
                            return Ok(filed(header, study, "attributes", references));
                        }
                        doubt = Some("its study is of another patient than it names");
                    }
                    // A study not here yet, of the patient it names: as
                    // the print says (the images follow).
                    None if patient_id.is_some() => {
                        let mut header = InMemDicomObject::new_empty();
                        for s in sources.iter().rev() {
                            for e in copy_header(s).into_iter() {
                                header.put(e);
                            }
                        }
                        return Ok(filed(header, study, "attributes", references));
                    }
                    None => doubt = Some("its study is not here and it names no patient"),
                }
            }
        }

        // 3. What the station stored lately, if of one patient only (of
        // the patient the print names, when it names one).
        if doubt.is_none() {
            let since = storage::now_millis() - self.inner.print.match_window_ms;
            let recent: Vec<(String, String)> = index
                .station_recent_studies(tenant, &ctx.actor.name, since)
                .await?
                .into_iter()
                .filter(|(_, p)| patient_id.as_ref().is_none_or(|want| want == p))
                .collect();
            let patients: std::collections::BTreeSet<&String> =
                recent.iter().map(|(_, p)| p).collect();
            match (recent.first(), patients.len()) {
                (Some((study, _)), 1) => {
                    if let Some(i) = index.study_instances(tenant, study).await?.first() {
                        let header = self.study_header(i).await?;
                        let study = study.clone();
                        return Ok(filed(header, study, "station", references));
                    }
                }
                (Some(_), _) => {
                    doubt = Some("its station sent images of several patients in the window")
                }
                (None, _) => {}
            }
        }

        // 4. A study of its own, to reconcile.
        let study = storage::Uid::generate();
        let mut header = InMemDicomObject::new_empty();
        for s in sources.iter().rev() {
            for e in copy_header(s).into_iter() {
                header.put(e);
            }
        }
        put_str(&mut header, tags::STUDY_INSTANCE_UID, VR::UI, &study);
        if text(&header, tags::PATIENT_ID).is_none() {
            // Not one patient for every unmatched film: each its own.
            let tail = &study[study.len().saturating_sub(10)..];
            put_str(
                &mut header,
                tags::PATIENT_ID,
                VR::LO,
                &format!("FILM-{tail}"),
            );
            put_str(&mut header, tags::PATIENT_NAME, VR::PN, "UNMATCHED^FILM");
        }
        let why = doubt.unwrap_or("it names no study and its station sent nothing lately");
        put_str(
            &mut header,
            tags::STUDY_DESCRIPTION,
            VR::LO,
            &format!("Film printed by {}: to reconcile", ctx.actor.name),
        );
        tracing::warn!(
            station = %ctx.actor.name,
            "a printed film was filed in a new study, listed for reconciliation: {why}"
        );
        Ok(filed(header, study, "none", references))
    }

    /// Patient and study attributes of a stored instance's study, as they
    /// leave the archive (corrections applied).
    pub(super) async fn study_header(
        &self,
        instance: &storage::StoredInstance,
    ) -> Result<InMemDicomObject> {
        let bytes = self.read(instance).await?;
        let start = if bytes.get(128..132) == Some(b"DICM") {
            128
        } else {
            0
        };
        let obj = dicom_object::OpenFileOptions::new()
            .read_until(tags::PIXEL_DATA)
            .from_reader(&bytes[start..])
            .map_err(|e| Error::Internal(format!("a stored instance does not parse: {e}")))?;
        Ok(copy_header(&obj))
    }

    /// Printed sheets of the caller's tenant (all of them for the
    /// platform), of one study or all, only those to reconcile if
    /// `unmatched`.
    pub async fn print_sheets(
        &self,
        ctx: &Context,
        study: Option<&str>,
        unmatched: bool,
    ) -> Result<Vec<PrintSheet>> {
        self.require(ctx, Right::Print, Action::Print, "list printed sheets")
            .await?;
        Ok(self
            .archive()
            .index()
            .print_sheets(ctx.tenant(), study, unmatched, 1000)
            .await?)
    }
}

/// The attributes every object made from a print carries.
fn common_header(filing: &Filing, date: &str, time: &str) -> InMemDicomObject {
    let mut obj = InMemDicomObject::new_empty();
    put_str(&mut obj, tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192");
    for (tag, vr) in HEADER_TAGS {
        put_str(
            &mut obj,
            tag,
            vr,
            &text(&filing.header, tag).unwrap_or_default(),
        );
    }
    if let Some(d) = text(&filing.header, tags::STUDY_DESCRIPTION) {
        put_str(&mut obj, tags::STUDY_DESCRIPTION, VR::LO, &d);
    }
    if text(&filing.header, tags::STUDY_DATE).is_none() {
        put_str(&mut obj, tags::STUDY_DATE, VR::DA, date);
        put_str(&mut obj, tags::STUDY_TIME, VR::TM, time);
    }
    put_str(&mut obj, tags::CONTENT_DATE, VR::DA, date);
    put_str(&mut obj, tags::CONTENT_TIME, VR::TM, time);
    put_str(&mut obj, tags::CONVERSION_TYPE, VR::CS, "WSD");
    put_str(&mut obj, tags::MANUFACTURER, VR::LO, "Filmless");
    put_str(
        &mut obj,
        tags::SECONDARY_CAPTURE_DEVICE_MANUFACTURER,
        VR::LO,
        "Filmless",
    );
    put_str(
        &mut obj,
        tags::SECONDARY_CAPTURE_DEVICE_MANUFACTURER_MODEL_NAME,
        VR::LO,
        "Filmless virtual film printer",
    );
    put_str(
        &mut obj,
        tags::SECONDARY_CAPTURE_DEVICE_SOFTWARE_VERSIONS,
        VR::LO,
        env!("CARGO_PKG_VERSION"),
    );
    obj
}

/// An object made from a print: its class and UID, and its place in the
/// study's series of that kind (modality, the seed of its UID, number,
/// description), at `number`.
fn in_series(
    obj: &mut InMemDicomObject,
    filing: &Filing,
    (class, uid): (&str, &str),
    (modality, seed, series_number, description): (&str, &str, &str, &str),
    number: &str,
) {
    put_str(obj, tags::SOP_CLASS_UID, VR::UI, class);
    put_str(obj, tags::SOP_INSTANCE_UID, VR::UI, uid);
    put_str(obj, tags::MODALITY, VR::CS, modality);
    let series = derived_uid(&format!("{seed}:{}", filing.study_instance_uid));
    put_str(obj, tags::SERIES_INSTANCE_UID, VR::UI, &series);
    put_str(obj, tags::SERIES_NUMBER, VR::IS, series_number);
    put_str(obj, tags::SERIES_DESCRIPTION, VR::LO, description);
    put_str(obj, tags::INSTANCE_NUMBER, VR::IS, number);
}

/// Success, about instance `uid`.
fn done(uid: String) -> NormalizedResponse {
    NormalizedResponse {
        response: Response::success(),
        sop_instance_uid: Some(uid),
        data_set: None,
    }
}

fn no_such(what: &str, uid: Option<&str>) -> NormalizedResponse {
    refuse(
        Status::NO_SUCH_SOP_INSTANCE,
        format!(
            "no {what} {} on this association",
            uid.unwrap_or("(no Requested SOP Instance UID)")
        ),
        None,
    )
}

fn check_session_attributes(obj: &InMemDicomObject) -> std::result::Result<(), NormalizedResponse> {
    check_enum(obj, tags::PRINT_PRIORITY, &["HIGH", "MED", "LOW"])?;
    check_enum(
        obj,
        tags::MEDIUM_TYPE,
        &[
            "PAPER",
            "CLEAR FILM",
            "BLUE FILM",
            "MAMMO CLEAR FILM",
            "MAMMO BLUE FILM",
        ],
    )?;
    check_enum(obj, tags::FILM_DESTINATION, &["MAGAZINE", "PROCESSOR"])?;
    if let Some(n) = obj.get(tags::NUMBER_OF_COPIES) {
        if !n.to_int::<i64>().is_ok_and(|n| (1..=99).contains(&n)) {
            return Err(refuse(
                Status::INVALID_ATTRIBUTE_VALUE,
                "Number of Copies must be 1 to 99",
                Some(tags::NUMBER_OF_COPIES),
            ));
        }
    }
    Ok(())
}

/// N-GET of the Printer: always ready.
fn printer_status(request: &NormalizedRequest) -> NormalizedResponse {
    if request
        .sop_instance_uid
        .as_deref()
        .is_some_and(|u| u != dimse::PRINTER_INSTANCE)
    {
        return no_such("printer", request.sop_instance_uid.as_deref());
    }
    let mut all = InMemDicomObject::new_empty();
    for (tag, vr, v) in [
        (tags::PRINTER_STATUS, VR::CS, "NORMAL"),
        (tags::PRINTER_STATUS_INFO, VR::CS, "NORMAL"),
        (tags::PRINTER_NAME, VR::LO, "Filmless"),
        (tags::MANUFACTURER, VR::LO, "Filmless"),
        (
            tags::MANUFACTURER_MODEL_NAME,
            VR::LO,
            "Filmless virtual film printer",
        ),
        (tags::DEVICE_SERIAL_NUMBER, VR::LO, "1"),
        (tags::SOFTWARE_VERSIONS, VR::LO, env!("CARGO_PKG_VERSION")),
        (tags::DATE_OF_LAST_CALIBRATION, VR::DA, ""),
        (tags::TIME_OF_LAST_CALIBRATION, VR::TM, ""),
    ] {
        put_str(&mut all, tag, vr, v);
    }
    let mut response = Response::success();
    let data_set = if request.attribute_identifiers.is_empty() {
        all
    } else {
        let mut some = InMemDicomObject::new_empty();
        for t in &request.attribute_identifiers {
            match all.get(*t) {
                Some(e) => {
                    some.put(e.clone());
                }
                // 0107H: an attribute asked for that the printer has not.
                None => {
                    response.status = Status(0x0107);
                    response.offending.push(*t);
                }
            }
        }
        some
    };
    NormalizedResponse {
        response,
        sop_instance_uid: Some(dimse::PRINTER_INSTANCE.to_owned()),
        data_set: Some(data_set),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_formats_give_their_cells() {
        let l = Layout::parse("STANDARD\\3,4").unwrap();
        assert_eq!(l.cells(), 12);
        let r = l.rectangles(300, 400);
        assert_eq!(r[0], (0, 0, 100, 100));
        assert_eq!(r[2], (200, 0, 100, 100));
        assert_eq!(r[3], (0, 100, 100, 100));
        assert_eq!(r[11], (200, 300, 100, 100));
        let row = Layout::parse("ROW\\2,1").unwrap();
        assert_eq!(
            row.rectangles(100, 100),
            vec![(0, 0, 50, 50), (50, 0, 50, 50), (0, 50, 100, 50)]
        );
        let col = Layout::parse("COL\\1,2").unwrap();
        assert_eq!(
            col.rectangles(100, 100),
            vec![(0, 0, 50, 100), (50, 0, 50, 50), (50, 50, 50, 50)]
        );
        for bad in [
            "STANDARD\\3",
            "SLIDE\\1",
            "STANDARD\\0,2",
            "ROW\\",
            "STANDARD\\3,x",
        ] {
            assert_eq!(Layout::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn hostile_values_are_refused_or_bounded() {
        // Densities at the ends of their VR do not overflow.
        assert_eq!(density_pixel("4294967295", u32::MAX, u32::MAX), Some(0));
        assert_eq!(density_pixel("0", 0, 0), Some(255));
        // No film has more than 20 rows of 20.
        let rows = format!("ROW\\{}", vec!["1"; 21].join(","));
        assert_eq!(Layout::parse(&rows), None);
        assert_eq!(
            Layout::parse("STANDARD\\20,20").map(|l| l.cells()),
            Some(400)
        );
        // A pixel aspect ratio out of bounds.
        let mut item = InMemDicomObject::new_empty();
        for (tag, v) in [
            (tags::ROWS, 2u16),
            (tags::COLUMNS, 2),
            (tags::BITS_ALLOCATED, 8),
        ] {
            item.put(DataElement::new(tag, VR::US, PrimitiveValue::from(v)));
        }
        item.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OB,
            PrimitiveValue::from(vec![0u8; 4]),
        ));
        assert!(read_picture(&item, false).is_ok());
        put_str(&mut item, tags::PIXEL_ASPECT_RATIO, VR::IS, "inf\\1");
        assert!(read_picture(&item, false).is_err());
        // Magnification NONE: a tall image is cropped to its cell first.
        let tall = Picture {
            width: 4,
            height: 4000,
            aspect: 10.0,
            color: false,
            data: vec![9; 16_000],
        };
        let cell = [Cell {
            picture: Some(&tall),
            reverse: false,
            magnification: "NONE",
        }];
        let sheet = compose(
            &Layout::parse("STANDARD\\1,1").unwrap(),
            8,
            8,
            false,
            0,
            0,
            &cell,
        );
        assert!(sheet.cropped);
        assert_eq!(sheet.data.iter().filter(|&&v| v == 9).count(), 4 * 8);
    }

    #[test]
    fn densities_map_to_pixels() {
        assert_eq!(density_pixel("BLACK", 20, 300), Some(0));
        assert_eq!(density_pixel("WHITE", 20, 300), Some(255));
        assert_eq!(density_pixel("300", 20, 300), Some(0));
        assert_eq!(density_pixel("20", 20, 300), Some(255));
        assert_eq!(density_pixel("grey", 20, 300), None);
    }

    #[test]
    fn images_fill_their_cells_and_empty_cells_take_the_empty_density() {
        let white = Picture {
            width: 10,
            height: 10,
            aspect: 1.0,
            color: false,
            data: vec![200; 100],
        };
        let layout = Layout::parse("STANDARD\\2,1").unwrap();
        let cells = [
            Cell {
                picture: Some(&white),
                reverse: false,
                magnification: "REPLICATE",
            },
            Cell {
                picture: None,
                reverse: false,
                magnification: "REPLICATE",
            },
        ];
        let sheet = compose(&layout, 40, 40, false, 0, 255, &cells);
        // The image is 20×20 in a 20×40 cell, centred vertically.
        assert_eq!(sheet.data[5], 0, "border above the image");
        assert_eq!(sheet.data[15 * 40 + 5], 200);
        assert_eq!(sheet.data[15 * 40 + 30], 255, "empty cell");
        let reversed = [Cell {
            picture: Some(&white),
            reverse: true,
            magnification: "BILINEAR",
        }];
        let one = compose(
            &Layout::parse("STANDARD\\1,1").unwrap(),
            10,
            10,
            false,
            0,
            0,
            &reversed,
        );
        assert!(one.data.iter().all(|&v| v == 55));
    }

    #[test]
    fn twelve_bit_and_monochrome1_images_read_as_eight_bit_monochrome2() {
        let mut item = InMemDicomObject::new_empty();
        for (tag, v) in [
            (tags::ROWS, 1u16),
            (tags::COLUMNS, 2),
            (tags::BITS_ALLOCATED, 16),
            (tags::BITS_STORED, 12),
            (tags::SAMPLES_PER_PIXEL, 1),
        ] {
            item.put(DataElement::new(tag, VR::US, PrimitiveValue::from(v)));
        }
        put_str(
            &mut item,
            tags::PHOTOMETRIC_INTERPRETATION,
            VR::CS,
            "MONOCHROME1",
        );
        item.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OW,
            PrimitiveValue::U16([0u16, 4095].into_iter().collect()),
        ));
        let p = read_picture(&item, false).unwrap();
        assert_eq!(p.data, vec![255, 0]);
        item.remove_element(tags::PIXEL_DATA);
        assert!(read_picture(&item, false).is_err());
    }
}
