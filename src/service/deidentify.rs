//! De-identified export (PS3.15 Annex E): a study's instances with the
//! Basic Application Level Confidentiality Profile applied, for research
//! and teaching.
//!
//! Every attribute of Table E.1-1 (`deidentify_table`) is removed, emptied,
//! given a dummy value or, for UIDs, a new UID — the same new UID for the
//! same original within one export, so references between the exported
//! instances still hold. Private attributes, curves and overlay comments
//! and data are removed. Sequences not in the table are walked item by
//! item. The patient gets the replacement name and ID asked for; with a
//! date shift, dates move by that many days instead of being removed
//! (Retain Longitudinal Temporal Information with Modified Dates). The
//! result says so: Patient Identity Removed YES, De-identification Method
//! and its code (113100, Basic Application Confidentiality Profile).
//! Instances with Burned In Annotation YES are left out unless asked for:
//! their pixels may show the patient.

use std::collections::HashMap;

use dicom_core::value::{DataSetSequence, PrimitiveValue, Value};
use dicom_core::{DataElement, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use serde::Deserialize;

use super::deidentify_table::{BASIC_PROFILE, REPEATING};
use super::{Context, Error, Result, Service, Target};

pub use super::deidentify_table::Action;

/// How to export.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExportOptions {
    /// Apply the Basic Profile.
    pub deidentify: bool,
    /// Move dates by this many days instead of removing them.
    pub shift_days: Option<i64>,
    /// Include instances with Burned In Annotation YES.
    pub include_burned_in: bool,
    /// The patient's name in the export.
    pub patient_name: String,
    /// The patient's ID in the export (empty: one made from the study).
    pub patient_id: String,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            deidentify: false,
            shift_days: None,
            include_burned_in: false,
            patient_name: "ANONYMOUS".to_owned(),
            patient_id: String::new(),
        }
    }
}

/// What an export made.
#[derive(Debug)]
pub struct Exported {
    /// Files written, one per instance.
    pub files: usize,
    /// Instances left out (burned-in annotation).
    pub left_out: usize,
}

/// Where an export's files go as they are made, one at a time: (name
/// such as `series001/00001.dcm`, Part 10 bytes). Called off the async
/// runtime; only one instance is held at once.
pub type ExportSink = Box<dyn FnMut(&str, &[u8]) -> std::io::Result<()> + Send>;

/// The action the profile takes on `tag`, if any, and whether the
/// modified-dates option may keep it shifted.
fn action_of(tag: Tag) -> Option<(Action, bool)> {
    BASIC_PROFILE
        .binary_search_by(|(g, e, _, _)| (*g, *e).cmp(&(tag.group(), tag.element())))
        .ok()
        .map(|i| (BASIC_PROFILE[i].2, BASIC_PROFILE[i].3))
        .or_else(|| {
            REPEATING
                .iter()
                .any(|(mask, group, element)| {
                    tag.group() & mask == *group && element.is_none_or(|e| e == tag.element())
                })
                .then_some((Action::Remove, false))
        })
}

/// UI attributes that name a class, a syntax or a coding scheme, not an
/// instance: kept.
const CLASS_UIDS: [Tag; 7] = [
    tags::SOP_CLASS_UID,
    tags::REFERENCED_SOP_CLASS_UID,
    tags::CODING_SCHEME_UID,
    tags::RELATED_GENERAL_SOP_CLASS_UID,
    tags::ORIGINAL_SPECIALIZED_SOP_CLASS_UID,
    tags::SOP_CLASSES_IN_STUDY,
    tags::TRANSFER_SYNTAX_UID,
];

/// The most days a date shift may move (a century).
pub const MAX_SHIFT_DAYS: i64 = 36_500;

/// One export's state: the UIDs given so far.
pub struct Deidentifier {
    uids: HashMap<String, String>,
    shift_days: Option<i64>,
}

impl Deidentifier {
    /// A new export.
    pub fn new(shift_days: Option<i64>) -> Self {
        Deidentifier {
            uids: HashMap::new(),
            shift_days,
        }
    }

    /// The new UID for `original` (the same each time).
    pub fn uid(&mut self, original: &str) -> String {
        let original = original.trim_end_matches(['\0', ' ']);
        self.uids
            .entry(original.to_owned())
            .or_insert_with(storage::Uid::generate)
            .clone()
    }

    /// Apply the profile to `obj` and its sequences.
    pub fn apply(&mut self, obj: &mut InMemDicomObject) {
        let tags: Vec<Tag> = obj.iter().map(|e| e.header().tag).collect();
        for tag in tags {
            if tag.group() % 2 == 1 {
                obj.remove_element(tag);
                continue;
            }
            let Some(element) = obj.get(tag) else {
                continue;
            };
            let vr = element.vr();
            let found = action_of(tag);
            let dated = found.is_some_and(|(_, dated)| dated);
            let shifted = match (self.shift_days, vr) {
                (Some(days), VR::DA | VR::DT) if dated => element
                    .to_str()
                    .ok()
                    .and_then(|v| shift_all(&v, days))
                    .map(|v| (vr, v)),
                _ => None,
            };
            // U on a sequence (X/Z/U*): the UIDs in its items change. A
            // UID the table does not name is an instance's too (frames of
            // reference, sources, concatenations), unless it is the
            // standard's own (a class, a syntax) or names a class.
            let action = match found.map(|(a, _)| a) {
                Some(Action::Uid) if vr == VR::SQ => None,
                None if vr == VR::UI && !CLASS_UIDS.contains(&tag) => element
                    .to_str()
                    .ok()
                    .filter(|v| !v.trim().is_empty() && !v.starts_with("1.2.840.10008."))
                    .map(|_| Action::Uid),
                other => other,
            };
            match action {
                None => {
                    if vr == VR::SQ {
                        obj.update_value(tag, |v| {
                            if let Some(items) = v.items_mut() {
                                for item in items {
                                    self.apply(item);
                                }
                            }
                        });
                    }
                }
                Some(_) if shifted.is_some() => {
                    let (vr, v) = shifted.expect("checked");
                    obj.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
                }
                Some(Action::Remove) => {
                    obj.remove_element(tag);
                }
                Some(Action::Empty) => {
                    obj.put(empty(tag, vr));
                }
                Some(Action::Dummy) => {
                    obj.put(dummy(tag, vr));
                }
                Some(Action::Uid) => {
                    let values: Vec<String> = element
                        .to_multi_str()
                        .map(|v| v.iter().map(|u| self.uid(u)).collect())
                        .unwrap_or_default();
                    obj.put(DataElement::new(
                        tag,
                        VR::UI,
                        PrimitiveValue::Strs(values.into_iter().collect()),
                    ));
                }
            }
        }
    }
}

fn empty(tag: Tag, vr: VR) -> DataElement<InMemDicomObject> {
    if vr == VR::SQ {
        DataElement::new(
            tag,
            VR::SQ,
            Value::Sequence(DataSetSequence::from(Vec::new())),
        )
    } else {
        DataElement::new(tag, vr, PrimitiveValue::Empty)
    }
}

/// A dummy value that any IOD accepts for the VR.
fn dummy(tag: Tag, vr: VR) -> DataElement<InMemDicomObject> {
    let v = match vr {
        VR::SQ => return empty(tag, vr),
        VR::DA => "19000101",
        VR::TM => "000000",
        VR::DT => "19000101000000",
        VR::AS => "000Y",
        VR::IS | VR::DS => "0",
        VR::UI => "2.25.0",
        VR::PN => "ANONYMOUS",
        VR::AE | VR::CS => "ANONYMOUS",
        VR::US | VR::SS | VR::UL | VR::SL | VR::FL | VR::FD => {
            return DataElement::new(tag, vr, PrimitiveValue::Empty)
        }
        VR::OB | VR::OW | VR::OD | VR::OF | VR::OL | VR::OV | VR::UN | VR::AT => {
            return DataElement::new(tag, vr, PrimitiveValue::Empty)
        }
        _ => "ANONYMIZED",
    };
    DataElement::new(tag, vr, PrimitiveValue::from(v))
}

/// Every value of a DA or DT moved by `days`.
fn shift_all(value: &str, days: i64) -> Option<String> {
    value
        .split('\\')
        .map(|v| shift(v, days))
        .collect::<Option<Vec<_>>>()
        .map(|v| v.join("\\"))
}

/// A DA (`YYYYMMDD`) or the date of a DT moved by `days`.
fn shift(value: &str, days: i64) -> Option<String> {
    let v = value.trim();
    let date = v.get(..8)?;
    let parsed = time::Date::parse(
        date,
        &time::macros::format_description!("[year][month][day]"),
    )
    .ok()?;
    let moved = parsed.checked_add(time::Duration::days(
        days.clamp(-MAX_SHIFT_DAYS, MAX_SHIFT_DAYS),
    ))?;
    Some(format!(
        "{:04}{:02}{:02}{}",
        moved.year(),
        u8::from(moved.month()),
        moved.day(),
        &v[8..]
    ))
}

fn put_str(obj: &mut InMemDicomObject, tag: Tag, vr: VR, value: &str) {
    obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
}

impl Service {
    /// A study's instances as Part 10 files, de-identified if asked, each
    /// handed to `sink` as it is made (which comes back with the count).
    pub async fn export_study(
        &self,
        ctx: &Context,
        study: &str,
        options: &ExportOptions,
        mut sink: ExportSink,
    ) -> Result<(Exported, ExportSink)> {
        if options
            .shift_days
            .is_some_and(|d| !(-MAX_SHIFT_DAYS..=MAX_SHIFT_DAYS).contains(&d))
        {
            return Err(Error::Invalid(
                format!("a date shift is at most {MAX_SHIFT_DAYS} days").into(),
            ));
        }
        // One export at a time per node: it is CPU work.
        let _one = self
            .inner
            .exports
            .acquire()
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
        // Reading the study decides access and audits it.
        let uid = storage::Uid::parse("StudyInstanceUID", study)?;
        let detail = if options.deidentify {
            "export, de-identified (PS3.15 E.1-1 Basic Profile)"
        } else {
            "export"
        };
        let instances = self.instances(ctx, &Target::Study(uid), detail).await?;
        let mut d = Deidentifier::new(options.shift_days);
        let patient_id = if options.patient_id.is_empty() {
            format!("ANON-{}", &d.uid(study)[5..15])
        } else {
            options.patient_id.clone()
        };
        let mut files = 0;
        let mut left_out = 0;
        let mut series: Vec<String> = Vec::new();
        for i in &instances {
            let bytes = self.read(i).await?;
            let n = match series.iter().position(|s| s == &i.series_instance_uid) {
                Some(n) => n,
                None => {
                    series.push(i.series_instance_uid.clone());
                    series.len() - 1
                }
            };
            let name = format!("series{:03}/{:05}.dcm", n + 1, files + 1);
            // Parsing, the profile, encoding and writing are CPU and disk
            // work: off the async runtime, the export's UID map and the
            // sink going along.
            let (options, patient_id, sop) = (
                options.clone(),
                patient_id.clone(),
                i.sop_instance_uid.clone(),
            );
            let (back, sink_back, made) = tokio::task::spawn_blocking(move || {
                let made =
                    export_one(&bytes, &mut d, &options, &patient_id, &sop).and_then(|p| match p {
                        Some(part10) => sink(&name, &part10)
                            .map(|()| true)
                            .map_err(|e| Error::Internal(format!("writing the export: {e}"))),
                        None => Ok(false),
                    });
                (d, sink, made)
            })
            .await
            .map_err(|e| Error::Internal(e.to_string()))?;
            d = back;
            sink = sink_back;
            if made? {
                files += 1;
            } else {
                left_out += 1;
            }
        }
        Ok((Exported { files, left_out }, sink))
    }
}

/// Overlay planes kept in otherwise unused bits of the pixel data (the
/// retired form, PS3.5 8.1.2: Overlay Bit Position (60xx,0102) without
/// Overlay Data (60xx,3000)) may hold text: their bits are cleared in
/// native 16-bit pixel data. How many planes were cleared. (Compressed
/// pixel data cannot carry them in this form in practice and is left.)
fn clear_embedded_overlays(obj: &mut InMemDicomObject, ts: &str) -> usize {
    let int = |obj: &InMemDicomObject, tag: Tag| obj.get(tag).and_then(|e| e.to_int::<u16>().ok());
    // Only bits above the image's High Bit: a malformed plane must not
    // clear image bits.
    let high_bit = int(obj, tags::HIGH_BIT).unwrap_or(15);
    let planes: Vec<u16> = (0x6000u16..=0x601E)
        .step_by(2)
        .filter(|&g| obj.get(Tag(g, 0x3000)).is_none())
        .filter(|&g| int(obj, Tag(g, 0x0100)).is_none_or(|b| b == 1))
        .filter_map(|g| int(obj, Tag(g, 0x0102)))
        .filter(|&bit| bit > high_bit && bit < 16)
        .collect();
    if planes.is_empty() || int(obj, tags::BITS_ALLOCATED) != Some(16) {
        return 0;
    }
    let mask = !planes.iter().fold(0u16, |m, &bit| m | (1 << bit));
    let Some(pixels) = obj.get(tags::PIXEL_DATA) else {
        return 0;
    };
    let vr = pixels.vr();
    let cleared = match pixels.value() {
        Value::Primitive(PrimitiveValue::U16(v)) => {
            PrimitiveValue::U16(v.iter().map(|x| x & mask).collect())
        }
        Value::Primitive(PrimitiveValue::U8(b)) => {
            let big = ts == "1.2.840.10008.1.2.2";
            let mut out = b.to_vec();
            for pair in out.chunks_exact_mut(2) {
                let x = if big {
                    u16::from_be_bytes([pair[0], pair[1]])
                } else {
                    u16::from_le_bytes([pair[0], pair[1]])
                } & mask;
                pair.copy_from_slice(&if big {
                    x.to_be_bytes()
                } else {
                    x.to_le_bytes()
                });
            }
            PrimitiveValue::U8(out.into())
        }
        _ => return 0,
    };
    obj.put(DataElement::new(tags::PIXEL_DATA, vr, cleared));
    planes.len()
}

/// One stored instance as exported: Part 10 bytes, de-identified if asked;
/// `None` when it is left out (it may show the patient).
fn export_one(
    bytes: &[u8],
    d: &mut Deidentifier,
    options: &ExportOptions,
    patient_id: &str,
    sop_instance_uid: &str,
) -> Result<Option<Vec<u8>>> {
    let start = if bytes.get(128..132) == Some(b"DICM") {
        128
    } else {
        0
    };
    let file = dicom_object::from_reader(&bytes[start..])
        .map_err(|e| Error::Internal(format!("a stored instance does not parse: {e}")))?;
    let ts = file
        .meta()
        .transfer_syntax()
        .trim_end_matches('\0')
        .to_owned();
    let class = file
        .meta()
        .media_storage_sop_class_uid()
        .trim_end_matches('\0')
        .to_owned();
    let mut obj = file.into_inner();
    if options.deidentify && !options.include_burned_in && may_show_patient(&obj, &class) {
        return Ok(None);
    }
    let mut sop = sop_instance_uid.to_owned();
    if options.deidentify {
        // Before the profile removes the overlay groups that say where.
        clear_embedded_overlays(&mut obj, &ts);
        d.apply(&mut obj);
        put_str(&mut obj, tags::PATIENT_NAME, VR::PN, &options.patient_name);
        put_str(&mut obj, tags::PATIENT_ID, VR::LO, patient_id);
        put_str(&mut obj, tags::PATIENT_IDENTITY_REMOVED, VR::CS, "YES");
        // How far dates moved is not written: it would undo the shift.
        let method = match options.shift_days {
            Some(_) => "Filmless: PS3.15 E.1-1 Basic Profile, dates modified",
            None => "Filmless: PS3.15 E.1-1 Basic Profile",
        };
        put_str(&mut obj, tags::DEIDENTIFICATION_METHOD, VR::LO, method);
        let mut codes = vec![code("113100", "Basic Application Confidentiality Profile")];
        if options.shift_days.is_some() {
            codes.push(code(
                "113107",
                "Retain Longitudinal Temporal Information Modified Dates Option",
            ));
            put_str(
                &mut obj,
                tags::LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED,
                VR::CS,
                "MODIFIED",
            );
        }
        obj.put(DataElement::new(
            tags::DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
            VR::SQ,
            Value::Sequence(DataSetSequence::from(codes)),
        ));
        sop = d.uid(sop_instance_uid);
    }
    let mut part10 = storage::part10::file_meta(&ts, &class, &sop, None);
    part10.extend(
        dicom_net::dataset::encode(&obj, &ts)
            .map_err(|e| Error::Internal(format!("cannot write an export: {e}")))?,
    );
    Ok(Some(part10))
}

/// Whether an instance's content may show who the patient is, so it is
/// left out unless asked for: Burned In Annotation YES, or not a clear NO
/// where burned-in text is common (ultrasound, angiography, endoscopy,
/// secondary capture, other); structured reports and encapsulated
/// documents (their text is about the patient).
fn may_show_patient(obj: &InMemDicomObject, class: &str) -> bool {
    let text = |tag| {
        obj.get(tag)
            .and_then(|e| e.to_str().ok())
            .map(|v| v.trim().to_owned())
            .unwrap_or_default()
    };
    let burned = text(tags::BURNED_IN_ANNOTATION);
    if burned == "YES" {
        return true;
    }
    if class.starts_with("1.2.840.10008.5.1.4.1.1.88.")
        || class.starts_with("1.2.840.10008.5.1.4.1.1.104.")
    {
        return true;
    }
    let often = matches!(
        text(tags::MODALITY).as_str(),
        "US" | "XA" | "ES" | "OT" | "SC"
    ) || class.starts_with("1.2.840.10008.5.1.4.1.1.7");
    often && burned != "NO"
}

fn code(value: &str, meaning: &str) -> InMemDicomObject {
    let mut item = InMemDicomObject::new_empty();
    put_str(&mut item, tags::CODE_VALUE, VR::SH, value);
    put_str(&mut item, tags::CODING_SCHEME_DESIGNATOR, VR::SH, "DCM");
    put_str(&mut item, tags::CODE_MEANING, VR::LO, meaning);
    item
}

#[cfg(test)]
mod tests {
    #[test]
    fn overlays_in_the_pixel_data_are_cleared() {
        let mut obj = InMemDicomObject::new_empty();
        obj.put(DataElement::new(
            tags::BITS_ALLOCATED,
            VR::US,
            PrimitiveValue::from(16u16),
        ));
        obj.put(DataElement::new(
            tags::HIGH_BIT,
            VR::US,
            PrimitiveValue::from(11u16),
        ));
        // A malformed plane inside the image's bits is left alone.
        obj.put(DataElement::new(
            Tag(0x6006, 0x0102),
            VR::US,
            PrimitiveValue::from(3u16),
        ));
        obj.put(DataElement::new(
            Tag(0x6000, 0x0102),
            VR::US,
            PrimitiveValue::from(15u16),
        ));
        obj.put(DataElement::new(
            Tag(0x6002, 0x0102),
            VR::US,
            PrimitiveValue::from(14u16),
        ));
        // A plane with its own data is not in the pixels.
        obj.put(DataElement::new(
            Tag(0x6004, 0x0102),
            VR::US,
            PrimitiveValue::from(0u16),
        ));
        obj.put(DataElement::new(
            Tag(0x6004, 0x3000),
            VR::OW,
            PrimitiveValue::U8(vec![0xFF; 2].into()),
        ));
        obj.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OW,
            PrimitiveValue::U16(vec![0xCFFF, 0x4123, 0x0001].into()),
        ));
        assert_eq!(
            super::clear_embedded_overlays(&mut obj, "1.2.840.10008.1.2.1"),
            2
        );
        let v = obj
            .get(tags::PIXEL_DATA)
            .unwrap()
            .value()
            .to_multi_int::<u16>()
            .unwrap();
        assert_eq!(v, vec![0x0FFF, 0x0123, 0x0001]);
        // The same as bytes.
        obj.put(DataElement::new(
            tags::PIXEL_DATA,
            VR::OW,
            PrimitiveValue::U8(vec![0xFF, 0xCF, 0x01, 0x00].into()),
        ));
        super::clear_embedded_overlays(&mut obj, "1.2.840.10008.1.2.1");
        assert_eq!(
            obj.get(tags::PIXEL_DATA)
                .unwrap()
                .to_bytes()
                .unwrap()
                .as_ref(),
            &[0xFF, 0x0F, 0x01, 0x00]
        );
    }

    use super::*;

    #[test]
    fn the_table_is_sorted_and_names_what_it_must() {
        assert!(BASIC_PROFILE
            .windows(2)
            .all(|w| (w[0].0, w[0].1) <= (w[1].0, w[1].1)));
        assert_eq!(
            action_of(tags::SOP_INSTANCE_UID),
            Some((Action::Uid, false))
        );
        assert_eq!(action_of(tags::PATIENT_NAME), Some((Action::Empty, false)));
        assert_eq!(action_of(tags::STUDY_DATE), Some((Action::Empty, true)));
        assert_eq!(
            action_of(tags::PATIENT_BIRTH_DATE),
            Some((Action::Empty, false))
        );
        assert_eq!(
            action_of(Tag(0x6002, 0x3000)),
            Some((Action::Remove, false))
        );
        assert_eq!(
            action_of(Tag(0x6000, 0x0010)),
            Some((Action::Remove, false))
        );
        assert_eq!(
            action_of(Tag(0x5004, 0x0010)),
            Some((Action::Remove, false))
        );
        assert_eq!(action_of(tags::ROWS), None);
    }

    #[test]
    fn uids_map_consistently_and_sequences_are_walked() {
        let mut obj = InMemDicomObject::new_empty();
        put_str(&mut obj, tags::SOP_INSTANCE_UID, VR::UI, "1.2.3");
        put_str(&mut obj, tags::INSTITUTION_NAME, VR::LO, "BV CHO RAY");
        put_str(&mut obj, tags::STUDY_DATE, VR::DA, "20260105");
        put_str(&mut obj, Tag(0x0009, 0x0010), VR::LO, "PRIVATE");
        let mut item = InMemDicomObject::new_empty();
        put_str(
            &mut item,
            tags::REFERENCED_SOP_INSTANCE_UID,
            VR::UI,
            "1.2.3",
        );
        obj.put(DataElement::new(
            tags::REFERENCED_IMAGE_SEQUENCE,
            VR::SQ,
            Value::Sequence(DataSetSequence::from(vec![item])),
        ));
        let mut d = Deidentifier::new(None);
        d.apply(&mut obj);
        let new = obj.get(tags::SOP_INSTANCE_UID).unwrap().to_str().unwrap();
        assert_ne!(new, "1.2.3");
        let referenced = obj
            .get(tags::REFERENCED_IMAGE_SEQUENCE)
            .unwrap()
            .items()
            .unwrap()[0]
            .get(tags::REFERENCED_SOP_INSTANCE_UID)
            .unwrap()
            .to_str()
            .unwrap()
            .into_owned();
        assert_eq!(referenced, new, "the reference follows the new UID");
        assert_eq!(
            obj.get(tags::INSTITUTION_NAME).unwrap().to_str().unwrap(),
            "ANONYMIZED"
        );
        assert!(obj.get(Tag(0x0009, 0x0010)).is_none());
        assert_eq!(obj.get(tags::STUDY_DATE).unwrap().to_str().unwrap(), "");
        let mut shifted = InMemDicomObject::new_empty();
        put_str(&mut shifted, tags::STUDY_DATE, VR::DA, "20260105");
        put_str(&mut shifted, tags::PATIENT_BIRTH_DATE, VR::DA, "19700101");
        put_str(
            &mut shifted,
            tags::ACQUISITION_DATE,
            VR::DA,
            "20260105\\20260201",
        );
        put_str(
            &mut shifted,
            tags::FRAME_OF_REFERENCE_UID,
            VR::UI,
            "1.2.3.4",
        );
        put_str(
            &mut shifted,
            tags::VOLUME_FRAME_OF_REFERENCE_UID,
            VR::UI,
            "1.2.3.4",
        );
        Deidentifier::new(Some(-10)).apply(&mut shifted);
        let get = |tag| shifted.get(tag).unwrap().to_str().unwrap().into_owned();
        assert_eq!(get(tags::STUDY_DATE), "20251226");
        assert_eq!(
            get(tags::PATIENT_BIRTH_DATE),
            "",
            "a birth date is not kept shifted"
        );
        assert_eq!(get(tags::ACQUISITION_DATE), "20251226\\20260122");
        assert_ne!(get(tags::VOLUME_FRAME_OF_REFERENCE_UID), "1.2.3.4");
        assert_eq!(
            get(tags::VOLUME_FRAME_OF_REFERENCE_UID),
            get(tags::FRAME_OF_REFERENCE_UID),
            "a UID the table does not name is remapped the same way"
        );
    }
}
