//! From a parsed header to the rows the index keeps.
//!
//! [`parse_header`] decodes the bytes before Pixel Data with dicom-rs,
//! validates the identifying UIDs, and extracts every attribute C-FIND and
//! QIDO-RS match on or return, at each level (PS3.4 §C.6), plus the instance's
//! DICOM JSON (PS3.18 §F.2) with bulk data replaced by `BulkDataURI`s, so
//! WADO-RS metadata never needs the blob.

use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_object::InMemDicomObject;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use crate::error::{Error, Result};
use crate::scan::Layout;
use crate::uid::Uid;

/// Binary values longer than this many bytes leave the stored DICOM JSON
/// and become a `BulkDataURI`.
pub const BULK_DATA_THRESHOLD: usize = 1024;

/// Patient-level attributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatientAttributes {
    /// (0010,0020) Patient ID.
    pub patient_id: String,
    /// (0010,0021) Issuer of Patient ID.
    pub issuer_of_patient_id: String,
    /// (0010,0010) Patient's Name, as encoded (`FAMILY^GIVEN`).
    pub patient_name: String,
    /// (0010,0030) Patient's Birth Date.
    pub patient_birth_date: String,
    /// (0010,0040) Patient's Sex.
    pub patient_sex: String,
}

/// What the objects of a study carry when they leave the archive after
/// corrections (the stored objects stay as received).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectPatch {
    /// The patient, corrected, merged or moved to.
    pub patient: Option<PatientAttributes>,
    /// (0008,0050) Accession Number.
    pub accession_number: Option<String>,
    /// (0008,1030) Study Description.
    pub study_description: Option<String>,
    /// When the last correction was made (Unix ms): the Attribute
    /// Modification DateTime of the Original Attributes Sequence item.
    pub modified_at: i64,
}

/// Study-level attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StudyAttributes {
    /// (0020,000D) Study Instance UID.
    pub study_instance_uid: Uid,
    /// (0008,0020) Study Date.
    pub study_date: String,
    /// (0008,0030) Study Time.
    pub study_time: String,
    /// (0008,0050) Accession Number.
    pub accession_number: String,
    /// (0008,0090) Referring Physician's Name.
    pub referring_physician_name: String,
    /// (0008,1030) Study Description.
    pub study_description: String,
    /// (0020,0010) Study ID.
    pub study_id: String,
    /// (0008,0080) Institution Name.
    pub institution_name: String,
}

/// Series-level attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeriesAttributes {
    /// (0020,000E) Series Instance UID.
    pub series_instance_uid: Uid,
    /// (0008,0060) Modality.
    pub modality: String,
    /// (0020,0011) Series Number.
    pub series_number: Option<i32>,
    /// (0008,103E) Series Description.
    pub series_description: String,
    /// (0018,0015) Body Part Examined.
    pub body_part_examined: String,
    /// (0008,0021) Series Date.
    pub series_date: String,
    /// (0008,0031) Series Time.
    pub series_time: String,
    /// (0008,1010) Station Name.
    pub station_name: String,
}

/// Instance-level attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceAttributes {
    /// (0008,0016) SOP Class UID.
    pub sop_class_uid: Uid,
    /// (0008,0018) SOP Instance UID.
    pub sop_instance_uid: Uid,
    /// (0020,0013) Instance Number.
    pub instance_number: Option<i32>,
    /// (0028,0008) Number of Frames; 1 for single-frame images, 0 without pixel data.
    pub number_of_frames: i32,
    /// (0028,0010) Rows.
    pub rows: Option<i32>,
    /// (0028,0011) Columns.
    pub columns: Option<i32>,
    /// (0002,0010) Transfer Syntax UID as stored.
    pub transfer_syntax_uid: String,
    /// (0008,0023) Content Date.
    pub content_date: String,
    /// (0008,0033) Content Time.
    pub content_time: String,
}

/// Everything the index records of one instance, before the blob exists.
#[derive(Debug, Clone)]
pub struct InstanceRecord {
    /// Patient-level attributes.
    pub patient: PatientAttributes,
    /// Study-level attributes.
    pub study: StudyAttributes,
    /// Series-level attributes.
    pub series: SeriesAttributes,
    /// Instance-level attributes.
    pub instance: InstanceAttributes,
    /// DICOM JSON of the whole data set, bulk data as `BulkDataURI`s
    /// relative to the instance's URL (`bulkdata/7FE00010`).
    pub dicom_json: String,
    /// Bytes per native frame, from Rows × Columns × Samples × Bits Allocated.
    pub native_frame_length: Option<u64>,
    /// Bits Allocated (0 when absent).
    pub bits_allocated: u16,
}

/// Parse and validate the header of a Part 10 file. `header` holds the
/// file's bytes up to `layout.header_end` at least.
pub fn parse_header(header: &[u8], layout: &Layout) -> Result<InstanceRecord> {
    let ts_uid = layout.meta.transfer_syntax.as_str();
    let ts = TransferSyntaxRegistry
        .get(ts_uid)
        .ok_or_else(|| Error::invalid(format!("unsupported transfer syntax {ts_uid}")))?;
    let bytes = header
        .get(layout.dataset_start..layout.header_end)
        .ok_or_else(|| Error::invalid("data set header is truncated"))?;
    let mut obj = dicom_check::read_dataset(bytes, ts)
        .map_err(|e| Error::invalid(format!("cannot parse data set: {e}")))?;
    let has_pixel_data = layout.pixel_data.is_some() || obj.remove_element(tags::PIXEL_DATA);
    let encapsulated = layout
        .pixel_data
        .map(|p| p.length.is_none())
        // Only deflated data sets reach here without a position: native data.
        .unwrap_or(false);
    record_from_object(&obj, ts_uid, has_pixel_data, encapsulated)
}

fn record_from_object(
    obj: &InMemDicomObject,
    ts_uid: &str,
    has_pixel_data: bool,
    encapsulated: bool,
) -> Result<InstanceRecord> {
    let text = |tag: Tag| -> String {
        obj.get(tag)
            .and_then(|e| {
                // Some writers encode standard attributes as UN (seen from
                // GDCM): their bytes are still the text.
                if e.vr() == VR::UN {
                    e.to_bytes()
                        .ok()
                        .map(|b| String::from_utf8_lossy(&b).into_owned().into())
                } else {
                    e.to_str().ok()
                }
            })
            .map(|s| s.trim_matches(['\0', ' ']).to_owned())
            .unwrap_or_default()
    };
    let int = |tag: Tag| -> Option<i32> {
        obj.get(tag)
            .and_then(|e| e.to_str().ok())
            .and_then(|s| {
                s.trim_matches(['\0', ' '])
                    .split('\\')
                    .next()?
                    .trim()
                    .parse::<i64>()
                    .ok()
            })
            .and_then(|v| i32::try_from(v).ok())
    };
    let uid = |attribute: &'static str, tag: Tag| Uid::parse(attribute, &text(tag));

    let sop_class_uid = uid("SOPClassUID", tags::SOP_CLASS_UID)?;
    let sop_instance_uid = uid("SOPInstanceUID", tags::SOP_INSTANCE_UID)?;
    let study_instance_uid = uid("StudyInstanceUID", tags::STUDY_INSTANCE_UID)?;
    let series_instance_uid = uid("SeriesInstanceUID", tags::SERIES_INSTANCE_UID)?;

    let rows = int(tags::ROWS);
    let columns = int(tags::COLUMNS);
    let number_of_frames = if has_pixel_data {
        int(tags::NUMBER_OF_FRAMES).filter(|n| *n > 0).unwrap_or(1)
    } else {
        0
    };
    let samples = int(tags::SAMPLES_PER_PIXEL).unwrap_or(1).max(1);
    let bits_allocated = int(tags::BITS_ALLOCATED).unwrap_or(0);
    // All four are US in a valid file; anything negative or wider is not
    // trusted for frame slicing (the whole value is then one frame per
    // equal share of the Pixel Data length).
    let native_frame_length = (|| {
        let dim = |v: Option<i32>| v.and_then(|v| u16::try_from(v).ok()).map(u64::from);
        let (r, c) = (dim(rows)?, dim(columns)?);
        let (s, b) = (dim(Some(samples))?, dim(Some(bits_allocated))?);
        let bits = r * c * b;
        (b > 0 && bits % 8 == 0).then(|| bits / 8 * s)
    })();

    let mut json = dicom_json::to_value(obj)
        .map_err(|e| Error::invalid(format!("cannot express data set as DICOM JSON: {e}")))?;
    strip_bulk_data(&mut json, "");
    numbers_as_numbers(&mut json);
    if has_pixel_data {
        let vr = if encapsulated || bits_allocated <= 8 {
            "OB"
        } else {
            "OW"
        };
        if let Some(map) = json.as_object_mut() {
            map.insert(
                "7FE00010".to_owned(),
                serde_json::json!({ "vr": vr, "BulkDataURI": "bulkdata/7FE00010" }),
            );
        }
    }
    let dicom_json = serde_json::to_string(&json)
        .map_err(|e| Error::Internal(format!("cannot serialize DICOM JSON: {e}").into()))?;

    Ok(InstanceRecord {
        patient: PatientAttributes {
            patient_id: text(tags::PATIENT_ID),
            issuer_of_patient_id: text(tags::ISSUER_OF_PATIENT_ID),
            patient_name: text(tags::PATIENT_NAME),
            patient_birth_date: text(tags::PATIENT_BIRTH_DATE),
            patient_sex: text(tags::PATIENT_SEX),
        },
        study: StudyAttributes {
            study_instance_uid,
            study_date: text(tags::STUDY_DATE),
            study_time: text(tags::STUDY_TIME),
            accession_number: text(tags::ACCESSION_NUMBER),
            referring_physician_name: text(tags::REFERRING_PHYSICIAN_NAME),
            study_description: text(tags::STUDY_DESCRIPTION),
            study_id: text(tags::STUDY_ID),
            institution_name: text(tags::INSTITUTION_NAME),
        },
        series: SeriesAttributes {
            series_instance_uid,
            modality: text(tags::MODALITY),
            series_number: int(tags::SERIES_NUMBER),
            series_description: text(tags::SERIES_DESCRIPTION),
            body_part_examined: text(tags::BODY_PART_EXAMINED),
            series_date: text(tags::SERIES_DATE),
            series_time: text(tags::SERIES_TIME),
            station_name: text(tags::STATION_NAME),
        },
        instance: InstanceAttributes {
            sop_class_uid,
            sop_instance_uid,
            instance_number: int(tags::INSTANCE_NUMBER),
            number_of_frames,
            rows,
            columns,
            transfer_syntax_uid: ts_uid.to_owned(),
            content_date: text(tags::CONTENT_DATE),
            content_time: text(tags::CONTENT_TIME),
        },
        dicom_json,
        native_frame_length,
        bits_allocated: u16::try_from(bits_allocated).unwrap_or(0),
    })
}

/// Replace large `InlineBinary` values with `BulkDataURI`s, recursively;
/// `path` is the tag path so far (`00400275/0/` inside sequence items).
fn strip_bulk_data(value: &mut serde_json::Value, path: &str) {
    let Some(map) = value.as_object_mut() else {
        return;
    };
    for (tag, attr) in map.iter_mut() {
        let Some(attr) = attr.as_object_mut() else {
            continue;
        };
        let large = attr
            .get("InlineBinary")
            .and_then(|v| v.as_str())
            .is_some_and(|b64| b64.len() / 4 * 3 > BULK_DATA_THRESHOLD);
        if large {
            attr.remove("InlineBinary");
            attr.insert(
                "BulkDataURI".to_owned(),
                serde_json::Value::String(format!("bulkdata/{path}{tag}")),
            );
        }
        if let Some(items) = attr.get_mut("Value").and_then(|v| v.as_array_mut()) {
            for (i, item) in items.iter_mut().enumerate() {
                if item.is_object() {
                    strip_bulk_data(item, &format!("{path}{tag}/{i}/"));
                }
            }
        }
    }
}

/// IS and DS values as JSON numbers (PS3.18 F.2.3), recursively; a value
/// that does not parse stays a string.
fn numbers_as_numbers(value: &mut serde_json::Value) {
    let Some(map) = value.as_object_mut() else {
        return;
    };
    for attr in map.values_mut() {
        let Some(attr) = attr.as_object_mut() else {
            continue;
        };
        let vr = attr
            .get("vr")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_owned();
        let Some(values) = attr.get_mut("Value").and_then(|v| v.as_array_mut()) else {
            continue;
        };
        for v in values.iter_mut() {
            match (vr.as_str(), v.as_str().map(str::trim)) {
                ("IS", Some(t)) => {
                    if let Ok(n) = t.parse::<i64>() {
                        *v = serde_json::Value::from(n);
                    }
                }
                ("DS", Some(t)) => {
                    if let Some(n) = t.parse::<f64>().ok().filter(|n| n.is_finite()) {
                        *v = serde_json::Value::from(n);
                    }
                }
                ("SQ", _) => numbers_as_numbers(v),
                _ => {}
            }
        }
    }
}

/// Normalise a person name for case- and accent-insensitive matching: upper
/// case, without accents, with trailing empty components and padding
/// removed.
pub fn normalize_person_name(name: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    name.trim_matches(['\0', ' '])
        .trim_end_matches('^')
        .nfd()
        // Accents go: Vietnamese names are typed with and without them
        // (`nguyen` finds NGUYỄN). Đ is a letter of its own, not D with a
        // mark, so it is folded by hand.
        .filter(|c| !unicode_normalization::char::is_combining_mark(*c))
        .map(|c| match c {
            'Đ' | 'đ' => 'D',
            c => c,
        })
        .collect::<String>()
        .to_uppercase()
}

/// Which [`normalize_person_name`] the index's `*_norm` columns hold; the
/// index recomputes them when it opens an archive of an older one.
pub const PERSON_NAME_NORM_VERSION: &str = "2-accents-folded";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bulk_data_is_replaced_recursively() {
        let big = "A".repeat(2000);
        let mut v = serde_json::json!({
            "00091010": {"vr": "OB", "InlineBinary": big},
            "00091011": {"vr": "OB", "InlineBinary": "AAAA"},
            "00400275": {"vr": "SQ", "Value": [{"00091012": {"vr": "OB", "InlineBinary": big}}]}
        });
        strip_bulk_data(&mut v, "");
        assert_eq!(v["00091010"]["BulkDataURI"], "bulkdata/00091010");
        assert_eq!(v["00091011"]["InlineBinary"], "AAAA");
        assert_eq!(
            v["00400275"]["Value"][0]["00091012"]["BulkDataURI"],
            "bulkdata/00400275/0/00091012"
        );
    }

    #[test]
    fn is_and_ds_become_numbers() {
        let mut v = serde_json::json!({
            "00281050": {"vr": "DS", "Value": ["40", "-600.5"]},
            "00200013": {"vr": "IS", "Value": [" 7"]},
            "00081115": {"vr": "SQ", "Value": [{"00200013": {"vr": "IS", "Value": ["3"]}}]},
            "00080060": {"vr": "CS", "Value": ["12"]}
        });
        numbers_as_numbers(&mut v);
        assert_eq!(v["00281050"]["Value"], serde_json::json!([40.0, -600.5]));
        assert_eq!(v["00200013"]["Value"], serde_json::json!([7]));
        assert_eq!(
            v["00081115"]["Value"][0]["00200013"]["Value"],
            serde_json::json!([3])
        );
        assert_eq!(v["00080060"]["Value"], serde_json::json!(["12"]));
    }

    #[test]
    fn person_names_normalise_case() {
        assert_eq!(normalize_person_name("Nguyễn^Văn A^^^ "), "NGUYEN^VAN A");
        assert_eq!(normalize_person_name("ĐỖ^Đức"), "DO^DUC");
    }
}
