//! Deterministic generator of realistic DICOM studies for tests and benches.
//!
//! Everything derives from a seed: the same [`Corpus`] seed and study index
//! give the same patient, UIDs and pixels on every machine, so tests can
//! name what they expect and benches compare like with like.
//!
//! - [`Corpus::study`] plans study `i` of a corpus of any size (1 to 100k
//!   studies and more): a patient (several studies share one), a date, a
//!   modality (CT, CR, DX, MR, US) and its series.
//! - [`Corpus::instances`] renders a planned study as Part 10 files, lazily,
//!   one instance at a time.
//! - [`ct_series`] is the 512×512 16-bit CT series the issues and benches
//!   name, with any number of slices.
//!
//! Pixels are phantoms with structure and noise (body, lungs, spine on CT;
//! a chest on X-ray), so compression, windowing and rendering see something
//! like real images, not constant buffers.

pub mod tools;

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::InMemDicomObject;

/// The modalities the generator knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Modality {
    /// CT, a series of axial slices.
    Ct,
    /// Computed radiography, one image.
    Cr,
    /// Digital X-ray, one image.
    Dx,
    /// MR, a series of slices.
    Mr,
    /// Ultrasound, one RGB image.
    Us,
}

impl Modality {
    /// The DICOM Modality code.
    pub fn code(self) -> &'static str {
        match self {
            Modality::Ct => "CT",
            Modality::Cr => "CR",
            Modality::Dx => "DX",
            Modality::Mr => "MR",
            Modality::Us => "US",
        }
    }

    fn sop_class(self) -> &'static str {
        match self {
            Modality::Ct => uids::CT_IMAGE_STORAGE,
            Modality::Cr => uids::COMPUTED_RADIOGRAPHY_IMAGE_STORAGE,
            Modality::Dx => uids::DIGITAL_X_RAY_IMAGE_STORAGE_FOR_PRESENTATION,
            Modality::Mr => uids::MR_IMAGE_STORAGE,
            Modality::Us => uids::ULTRASOUND_IMAGE_STORAGE,
        }
    }
}

/// Sizes of what the generator makes. The defaults are the realistic ones
/// (CT 512×512, X-ray 2000×2500); tests shrink them to stay fast.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// CT slices per series.
    pub ct_slices: u32,
    /// CT rows and columns.
    pub ct_size: (u16, u16),
    /// CR/DX columns × rows.
    pub xray_size: (u16, u16),
    /// MR slices per series.
    pub mr_slices: u32,
    /// MR rows and columns.
    pub mr_size: (u16, u16),
    /// US columns × rows.
    pub us_size: (u16, u16),
    /// Patients the studies are spread over (at least 1).
    pub patients: u64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            ct_slices: 100,
            ct_size: (512, 512),
            xray_size: (2000, 2500),
            mr_slices: 24,
            mr_size: (256, 256),
            us_size: (640, 480),
            patients: 0,
        }
    }
}

impl Options {
    /// Small images for fast tests: CT 64×64 × `slices`, X-ray 128×160.
    pub fn small(ct_slices: u32) -> Self {
        Options {
            ct_slices,
            ct_size: (64, 64),
            xray_size: (128, 160),
            mr_slices: 4,
            mr_size: (32, 32),
            us_size: (64, 48),
            patients: 0,
        }
    }
}

/// A patient of the corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Patient {
    /// Patient ID, e.g. `FL000042`.
    pub id: String,
    /// Patient's Name as DICOM PN (`FAMILY^GIVEN`).
    pub name: String,
    /// Birth date, YYYYMMDD.
    pub birth_date: String,
    /// `M` or `F`.
    pub sex: String,
}

/// One planned study.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudyPlan {
    /// Index in the corpus.
    pub index: u64,
    /// Its patient.
    pub patient: Patient,
    /// Study Instance UID.
    pub study_instance_uid: String,
    /// Accession Number.
    pub accession_number: String,
    /// Study Date, YYYYMMDD.
    pub study_date: String,
    /// Study Time, HHMMSS.
    pub study_time: String,
    /// Modality of its series.
    pub modality: Modality,
    /// Study Description.
    pub description: String,
    /// The series: (Series Instance UID, number of instances).
    pub series: Vec<(String, u32)>,
}

impl StudyPlan {
    /// Instances in the whole study.
    pub fn instance_count(&self) -> u64 {
        self.series.iter().map(|(_, n)| u64::from(*n)).sum()
    }
}

/// One generated instance.
#[derive(Debug, Clone)]
pub struct Instance {
    /// SOP Instance UID.
    pub sop_instance_uid: String,
    /// Series Instance UID.
    pub series_instance_uid: String,
    /// The whole Part 10 file.
    pub bytes: Vec<u8>,
}

/// A deterministic corpus of studies.
#[derive(Debug, Clone)]
pub struct Corpus {
    seed: u64,
    options: Options,
}

const FAMILY: &[&str] = &[
    "NGUYEN", "TRAN", "LE", "PHAM", "HOANG", "HUYNH", "PHAN", "VU", "VO", "DANG", "BUI", "DO",
    "HO", "NGO", "DUONG", "LY", "SMITH", "MULLER", "GARCIA", "DUBOIS",
];
const GIVEN: &[&str] = &[
    "VAN AN",
    "THI BINH",
    "MINH CHAU",
    "QUOC DUNG",
    "THU HA",
    "DUC HUY",
    "NGOC LAN",
    "HONG MAI",
    "TUAN NAM",
    "THANH PHUONG",
    "ANNA",
    "JOHN",
    "MARIA",
    "PIERRE",
];
const MODALITIES: &[Modality] = &[
    Modality::Ct,
    Modality::Cr,
    Modality::Dx,
    Modality::Mr,
    Modality::Us,
];

impl Corpus {
    /// A corpus with this seed and these sizes.
    pub fn new(seed: u64, options: Options) -> Self {
        Corpus { seed, options }
    }

    /// The sizes in use.
    pub fn options(&self) -> &Options {
        &self.options
    }

    fn patients(&self, studies_hint: u64) -> u64 {
        if self.options.patients > 0 {
            self.options.patients
        } else {
            (studies_hint / 3).max(1)
        }
    }

    /// Patient `p` of the corpus.
    pub fn patient(&self, p: u64) -> Patient {
        let h = mix(self.seed ^ 0x5041_5449_454e_5400 ^ p);
        let year = 1935 + (h % 85);
        let month = 1 + (h >> 8) % 12;
        let day = 1 + (h >> 16) % 28;
        Patient {
            id: format!("FL{p:06}"),
            name: format!(
                "{}^{}",
                FAMILY[(h >> 24) as usize % FAMILY.len()],
                GIVEN[(h >> 32) as usize % GIVEN.len()]
            ),
            birth_date: format!("{year:04}{month:02}{day:02}"),
            sex: if (h >> 40) % 2 == 0 { "M" } else { "F" }.to_owned(),
        }
    }

    /// Plan study `i`. Studies cycle through the modalities (CT first);
    /// every third study or so belongs to a patient seen before.
    pub fn study(&self, i: u64) -> StudyPlan {
        let h = mix(self.seed ^ 0x5354_5544_5900_0000 ^ i);
        let patient = self.patient(h % self.patients(i + 1).max(1).min(i + 1));
        let modality = MODALITIES[(i % MODALITIES.len() as u64) as usize];
        let day_offset = h >> 20 & 0xFFF; // up to ~11 years of days
        let (y, m, d) = civil_from_days(18_628 + day_offset as i64); // from 2021-01-01
        let secs = (h >> 36) % 86_400;
        let count = match modality {
            Modality::Ct => self.options.ct_slices.max(1),
            Modality::Mr => self.options.mr_slices.max(1),
            _ => 1,
        };
        let series_count = if modality == Modality::Mr { 2 } else { 1 };
        let study_instance_uid = uid(self.seed, &[1, i]);
        StudyPlan {
            index: i,
            patient,
            accession_number: format!("ACC{:08}", i + 1),
            study_date: format!("{y:04}{m:02}{d:02}"),
            study_time: format!("{:02}{:02}{:02}", secs / 3600, secs / 60 % 60, secs % 60),
            modality,
            description: match modality {
                Modality::Ct => "CT CHEST WITH CONTRAST",
                Modality::Cr => "XR CHEST PA",
                Modality::Dx => "XR CHEST PA AND LATERAL",
                Modality::Mr => "MR BRAIN WITHOUT CONTRAST",
                Modality::Us => "US ABDOMEN COMPLETE",
            }
            .to_owned(),
            series: (0..series_count)
                .map(|s| (uid(self.seed, &[2, i, s]), count))
                .collect(),
            study_instance_uid,
        }
    }

    /// The instances of a planned study, rendered lazily.
    pub fn instances<'a>(&'a self, plan: &'a StudyPlan) -> impl Iterator<Item = Instance> + 'a {
        plan.series
            .iter()
            .enumerate()
            .flat_map(move |(s, (series_uid, n))| {
                (0..*n).map(move |k| self.instance(plan, s as u32, series_uid, k, *n))
            })
    }

    fn instance(
        &self,
        plan: &StudyPlan,
        series: u32,
        series_uid: &str,
        k: u32,
        n: u32,
    ) -> Instance {
        let sop_instance_uid = uid(self.seed, &[3, plan.index, u64::from(series), u64::from(k)]);
        let mut obj = InMemDicomObject::new_empty();
        let mut put = |tag: Tag, vr: VR, v: &str| {
            // Binary VRs take numbers; everything else is text.
            let value = match vr {
                VR::US => PrimitiveValue::from(v.parse::<u16>().expect("US value")),
                _ => PrimitiveValue::from(v),
            };
            obj.put(DataElement::new(tag, vr, value));
        };
        let m = plan.modality;
        put(tags::SPECIFIC_CHARACTER_SET, VR::CS, "ISO_IR 192");
        put(tags::IMAGE_TYPE, VR::CS, "ORIGINAL\\PRIMARY\\AXIAL");
        put(tags::SOP_CLASS_UID, VR::UI, m.sop_class());
        put(tags::SOP_INSTANCE_UID, VR::UI, &sop_instance_uid);
        put(tags::STUDY_DATE, VR::DA, &plan.study_date);
        put(tags::SERIES_DATE, VR::DA, &plan.study_date);
        put(tags::CONTENT_DATE, VR::DA, &plan.study_date);
        put(tags::STUDY_TIME, VR::TM, &plan.study_time);
        put(tags::SERIES_TIME, VR::TM, &plan.study_time);
        put(tags::CONTENT_TIME, VR::TM, &plan.study_time);
        put(tags::ACCESSION_NUMBER, VR::SH, &plan.accession_number);
        put(tags::MODALITY, VR::CS, m.code());
        put(tags::MANUFACTURER, VR::LO, "FILMLESS TEST-DATA");
        put(tags::INSTITUTION_NAME, VR::LO, "BENH VIEN FILMLESS");
        put(tags::REFERRING_PHYSICIAN_NAME, VR::PN, "TRAN^VAN BAC SI");
        put(tags::STATION_NAME, VR::SH, &format!("{}01", m.code()));
        put(tags::STUDY_DESCRIPTION, VR::LO, &plan.description);
        put(
            tags::SERIES_DESCRIPTION,
            VR::LO,
            &format!("{} SERIES {}", m.code(), series + 1),
        );
        put(tags::PATIENT_NAME, VR::PN, &plan.patient.name);
        put(tags::PATIENT_ID, VR::LO, &plan.patient.id);
        put(tags::ISSUER_OF_PATIENT_ID, VR::LO, "FILMLESS");
        put(tags::PATIENT_BIRTH_DATE, VR::DA, &plan.patient.birth_date);
        put(tags::PATIENT_SEX, VR::CS, &plan.patient.sex);
        put(
            tags::BODY_PART_EXAMINED,
            VR::CS,
            if m == Modality::Mr {
                "HEAD"
            } else if m == Modality::Us {
                "ABDOMEN"
            } else {
                "CHEST"
            },
        );
        put(tags::STUDY_INSTANCE_UID, VR::UI, &plan.study_instance_uid);
        put(tags::SERIES_INSTANCE_UID, VR::UI, series_uid);
        put(tags::STUDY_ID, VR::SH, &format!("{}", plan.index + 1));
        put(tags::SERIES_NUMBER, VR::IS, &format!("{}", series + 1));
        put(tags::INSTANCE_NUMBER, VR::IS, &format!("{}", k + 1));
        put(
            tags::FRAME_OF_REFERENCE_UID,
            VR::UI,
            &uid(self.seed, &[4, plan.index]),
        );

        let pixels = match m {
            Modality::Ct | Modality::Mr => {
                let (rows, cols) = if m == Modality::Ct {
                    self.options.ct_size
                } else {
                    self.options.mr_size
                };
                let spacing = 350.0 / f64::from(cols);
                let thickness = if m == Modality::Ct { 1.0 } else { 5.0 };
                let z = -(f64::from(k) * thickness);
                put(tags::SLICE_THICKNESS, VR::DS, &format!("{thickness}"));
                put(
                    tags::IMAGE_POSITION_PATIENT,
                    VR::DS,
                    &format!("-175\\-175\\{z}"),
                );
                put(tags::IMAGE_ORIENTATION_PATIENT, VR::DS, "1\\0\\0\\0\\1\\0");
                put(tags::SLICE_LOCATION, VR::DS, &format!("{z}"));
                put(
                    tags::PIXEL_SPACING,
                    VR::DS,
                    &format!("{spacing:.6}\\{spacing:.6}"),
                );
                if m == Modality::Ct {
                    put(tags::KVP, VR::DS, "120");
                    put(tags::RESCALE_INTERCEPT, VR::DS, "-1024");
                    put(tags::RESCALE_SLOPE, VR::DS, "1");
                    put(tags::RESCALE_TYPE, VR::LO, "HU");
                    put(tags::WINDOW_CENTER, VR::DS, "40\\-600");
                    put(tags::WINDOW_WIDTH, VR::DS, "400\\1500");
                    put(
                        tags::WINDOW_CENTER_WIDTH_EXPLANATION,
                        VR::LO,
                        "MEDIASTINUM\\LUNG",
                    );
                } else {
                    put(tags::WINDOW_CENTER, VR::DS, "600");
                    put(tags::WINDOW_WIDTH, VR::DS, "1200");
                }
                grey(&mut put, rows, cols, 16, 12);
                let seed = mix(self.seed ^ plan.index ^ u64::from(series) << 20);
                body_phantom(
                    rows,
                    cols,
                    f64::from(k) / f64::from(n.max(1)),
                    seed,
                    m == Modality::Mr,
                )
            }
            Modality::Cr | Modality::Dx => {
                let (cols, rows) = self.options.xray_size;
                put(tags::VIEW_POSITION, VR::CS, "PA");
                put(tags::PIXEL_SPACING, VR::DS, "0.175\\0.175");
                put(tags::IMAGER_PIXEL_SPACING, VR::DS, "0.175\\0.175");
                put(tags::WINDOW_CENTER, VR::DS, "2048");
                put(tags::WINDOW_WIDTH, VR::DS, "4096");
                if m == Modality::Dx {
                    put(tags::PRESENTATION_INTENT_TYPE, VR::CS, "FOR PRESENTATION");
                }
                grey(&mut put, rows, cols, 16, 12);
                chest_phantom(rows, cols, mix(self.seed ^ plan.index))
            }
            Modality::Us => {
                let (cols, rows) = self.options.us_size;
                put(tags::SAMPLES_PER_PIXEL, VR::US, "3");
                put(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "RGB");
                put(tags::PLANAR_CONFIGURATION, VR::US, "0");
                put(tags::ROWS, VR::US, &rows.to_string());
                put(tags::COLUMNS, VR::US, &cols.to_string());
                put(tags::BITS_ALLOCATED, VR::US, "8");
                put(tags::BITS_STORED, VR::US, "8");
                put(tags::HIGH_BIT, VR::US, "7");
                put(tags::PIXEL_REPRESENTATION, VR::US, "0");
                us_phantom(rows, cols, mix(self.seed ^ plan.index))
            }
        };
        let vr = if m == Modality::Us { VR::OB } else { VR::OW };
        obj.put(DataElement::new(
            tags::PIXEL_DATA,
            vr,
            PrimitiveValue::U8(pixels.into()),
        ));
        Instance {
            bytes: part10(obj, m.sop_class(), &sop_instance_uid),
            sop_instance_uid,
            series_instance_uid: series_uid.to_owned(),
        }
    }
}

fn grey(put: &mut impl FnMut(Tag, VR, &str), rows: u16, cols: u16, allocated: u16, stored: u16) {
    put(tags::SAMPLES_PER_PIXEL, VR::US, "1");
    put(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2");
    put(tags::ROWS, VR::US, &rows.to_string());
    put(tags::COLUMNS, VR::US, &cols.to_string());
    put(tags::BITS_ALLOCATED, VR::US, &allocated.to_string());
    put(tags::BITS_STORED, VR::US, &stored.to_string());
    put(tags::HIGH_BIT, VR::US, &(stored - 1).to_string());
    put(tags::PIXEL_REPRESENTATION, VR::US, "0");
}

/// One CT series of `slices` 512×512 16-bit slices in a study of its own
/// (patient `FL000000`), the corpus the issues and benches name.
pub fn ct_series(seed: u64, slices: u32) -> (StudyPlan, Vec<Instance>) {
    ct_series_sized(seed, slices, (512, 512))
}

/// [`ct_series`] with other slice dimensions.
pub fn ct_series_sized(seed: u64, slices: u32, size: (u16, u16)) -> (StudyPlan, Vec<Instance>) {
    let corpus = Corpus::new(
        seed,
        Options {
            ct_slices: slices,
            ct_size: size,
            ..Options::default()
        },
    );
    let plan = corpus.study(0);
    let instances = corpus.instances(&plan).collect();
    (plan, instances)
}

/// Serialise a data set as a Part 10 file in explicit VR little endian.
pub fn part10(obj: InMemDicomObject, sop_class: &str, sop_instance: &str) -> Vec<u8> {
    let meta = FileMetaTableBuilder::new()
        .transfer_syntax(uids::EXPLICIT_VR_LITTLE_ENDIAN)
        .media_storage_sop_class_uid(sop_class)
        .media_storage_sop_instance_uid(sop_instance)
        .implementation_class_uid("2.25.211094963926286409327440512224542519447")
        .implementation_version_name("FILMLESS_TD")
        .build()
        .expect("all required meta fields are set");
    let ts = dicom_transfer_syntax_registry::entries::EXPLICIT_VR_LITTLE_ENDIAN.erased();
    let mut out = vec![0u8; 128];
    out.extend_from_slice(b"DICM");
    meta.write(&mut out).expect("writing to a Vec cannot fail");
    obj.write_dataset_with_ts(&mut out, &ts)
        .expect("writing to a Vec cannot fail");
    out
}

/// A `2.25.` UID (PS3.5 §B.2) derived from the seed and a path of numbers.
pub fn uid(seed: u64, path: &[u64]) -> String {
    let mut a = mix(seed ^ 0x9E37_79B9_7F4A_7C15);
    let mut b = mix(seed.rotate_left(17) ^ 0xD1B5_4A32_D192_ED03);
    for (i, p) in path.iter().enumerate() {
        a = mix(a ^ p.wrapping_add(i as u64));
        b = mix(b ^ p.rotate_left(29).wrapping_add(0x1000 + i as u64));
    }
    let v = (u128::from(a) << 64 | u128::from(b)) >> 2 | 1 << 120;
    format!("2.25.{v}")
}

/// SplitMix64's finaliser: a well-spread 64-bit hash.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Days since 1970-01-01 as a civil date (year, month, day).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // 2440588 is the Julian day of 1970-01-01.
    let date = time::Date::from_julian_day((2_440_588 + days) as i32).unwrap_or(time::Date::MIN);
    (
        i64::from(date.year()),
        u32::from(u8::from(date.month())),
        u32::from(date.day()),
    )
}

/// A cheap deterministic noise source.
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u32 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) as u32
    }
}

fn inside(x: f64, y: f64, cx: f64, cy: f64, rx: f64, ry: f64) -> bool {
    let dx = (x - cx) / rx;
    let dy = (y - cy) / ry;
    dx * dx + dy * dy <= 1.0
}

/// An axial body slice, little-endian u16 stored values (HU + 1024 on CT):
/// body, two lungs, spine, heart; shapes change along `t` in [0, 1].
fn body_phantom(rows: u16, cols: u16, t: f64, seed: u64, mr: bool) -> Vec<u8> {
    let (w, h) = (f64::from(cols), f64::from(rows));
    let mut noise = Noise(seed ^ (t * 1e6) as u64);
    let lung = 0.22 + 0.08 * (t * std::f64::consts::PI).sin();
    let mut out = Vec::with_capacity(usize::from(rows) * usize::from(cols) * 2);
    for r in 0..rows {
        let y = (f64::from(r) + 0.5) / h;
        for c in 0..cols {
            let x = (f64::from(c) + 0.5) / w;
            let hu: f64 = if !inside(x, y, 0.5, 0.52, 0.42, 0.33) {
                -1000.0
            } else if inside(x, y, 0.5, 0.78, 0.05, 0.05) {
                700.0
            } else if inside(x, y, 0.33, 0.47, 0.11, lung) || inside(x, y, 0.67, 0.47, 0.11, lung) {
                -820.0
            } else if inside(x, y, 0.55, 0.45, 0.09, 0.08) {
                60.0
            } else {
                35.0 + 15.0 * ((x * 40.0).sin() * (y * 31.0).cos())
            };
            let n = f64::from(noise.next() % 41) - 20.0;
            let v = if mr {
                ((hu + 1000.0) * 0.6 + n).clamp(0.0, 4095.0)
            } else {
                (hu + 1024.0 + n).clamp(0.0, 4095.0)
            };
            out.extend_from_slice(&(v as u16).to_le_bytes());
        }
    }
    out
}

/// A PA chest radiograph: bright mediastinum and bones, dark lungs.
fn chest_phantom(rows: u16, cols: u16, seed: u64) -> Vec<u8> {
    let (w, h) = (f64::from(cols), f64::from(rows));
    let mut noise = Noise(seed);
    let mut out = Vec::with_capacity(usize::from(rows) * usize::from(cols) * 2);
    for r in 0..rows {
        let y = (f64::from(r) + 0.5) / h;
        for c in 0..cols {
            let x = (f64::from(c) + 0.5) / w;
            let mut v = 600.0 + 400.0 * y;
            if inside(x, y, 0.5, 0.55, 0.42, 0.45) {
                v = 2600.0;
                if inside(x, y, 0.32, 0.45, 0.13, 0.3) || inside(x, y, 0.68, 0.45, 0.13, 0.3) {
                    v = 1100.0 + 300.0 * ((y * 60.0).sin().abs() < 0.15) as u8 as f64 * 3.0;
                }
                if (x - 0.5).abs() < 0.04 {
                    v = 3400.0;
                }
            }
            let n = f64::from(noise.next() % 61) - 30.0;
            out.extend_from_slice(&((v + n).clamp(0.0, 4095.0) as u16).to_le_bytes());
        }
    }
    out
}

/// An ultrasound-like sector in RGB, 8 bits per sample.
fn us_phantom(rows: u16, cols: u16, seed: u64) -> Vec<u8> {
    let (w, h) = (f64::from(cols), f64::from(rows));
    let mut noise = Noise(seed);
    let mut out = Vec::with_capacity(usize::from(rows) * usize::from(cols) * 3);
    for r in 0..rows {
        let y = f64::from(r) / h;
        for c in 0..cols {
            let x = f64::from(c) / w - 0.5;
            let in_sector = y > 0.05 && x.abs() < y * 0.6;
            let v = if in_sector {
                (noise.next() % 120) as u8 + 40
            } else {
                0
            };
            out.extend_from_slice(&[v, v, v.saturating_add(if in_sector { 10 } else { 0 })]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_study() {
        let a = Corpus::new(7, Options::small(3));
        let b = Corpus::new(7, Options::small(3));
        let (pa, pb) = (a.study(5), b.study(5));
        assert_eq!(pa, pb);
        let ia: Vec<_> = a.instances(&pa).map(|i| i.bytes).collect();
        let ib: Vec<_> = b.instances(&pb).map(|i| i.bytes).collect();
        assert_eq!(ia, ib);
        assert_ne!(a.study(5).study_instance_uid, a.study(6).study_instance_uid);
        assert_ne!(
            Corpus::new(8, Options::small(3))
                .study(5)
                .study_instance_uid,
            pa.study_instance_uid
        );
    }

    #[test]
    fn uids_are_valid() {
        for i in 0..1000 {
            let u = uid(i, &[1, i, 2]);
            assert!(u.len() <= 64, "{u}");
            assert!(
                u.split('.')
                    .all(|c| !c.is_empty() && (c == "0" || !c.starts_with('0'))),
                "{u}"
            );
        }
    }

    #[test]
    fn ct_slices_parse_back_with_their_attributes() {
        let (plan, instances) = ct_series_sized(1, 3, (32, 32));
        assert_eq!(instances.len(), 3);
        let obj = dicom_object::from_reader(&instances[1].bytes[128..]).unwrap();
        assert_eq!(
            obj.element(tags::ROWS).unwrap().to_int::<u16>().unwrap(),
            32
        );
        assert_eq!(
            obj.element(tags::INSTANCE_NUMBER)
                .unwrap()
                .to_int::<i32>()
                .unwrap(),
            2
        );
        assert_eq!(
            obj.element(tags::STUDY_INSTANCE_UID)
                .unwrap()
                .to_str()
                .unwrap(),
            plan.study_instance_uid
        );
        let pixels = obj.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap();
        assert_eq!(pixels.len(), 32 * 32 * 2);
        // Not a constant image.
        assert!(pixels.chunks(2).any(|p| p != &pixels[0..2]));
    }

    #[test]
    fn dates_are_real_dates() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(18_628), (2021, 1, 1));
        assert_eq!(civil_from_days(19_782), (2024, 2, 29));
    }
}
