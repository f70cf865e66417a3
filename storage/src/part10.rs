//! Building Part 10 files (PS3.10 §7.1) around bare data sets.
//!
//! The archive stores every instance as a Part 10 file. Data sets that
//! arrive without File Meta Information — every C-STORE, and files written
//! by some devices without preamble and meta — get one here, built from the
//! transfer syntax and the SOP Class / Instance UIDs.

use dicom_dictionary_std::tags;
use dicom_encoding::TransferSyntaxIndex;
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use crate::error::{Error, Result};
use crate::scan::{EXPLICIT_VR_BE, IMPLICIT_VR_LE};

/// Filmless's Implementation Class UID (0002,0012).
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.211094963926286409327440512224542519448";
/// Filmless's Implementation Version Name (0002,0013), at most 16 characters.
pub const IMPLEMENTATION_VERSION_NAME: &str = concat!("FILMLESS_", env!("CARGO_PKG_VERSION"));

use dicom_dictionary_std::uids::EXPLICIT_VR_LITTLE_ENDIAN as EXPLICIT_VR_LE;

/// The preamble, `DICM` and File Meta Information for a data set.
/// `source_ae` is the sender's AE title, recorded in (0002,0016).
pub fn file_meta(
    transfer_syntax: &str,
    sop_class_uid: &str,
    sop_instance_uid: &str,
    source_ae: Option<&str>,
) -> Vec<u8> {
    let mut group = Vec::with_capacity(256);
    element(&mut group, 0x0001, b"OB", &[0, 1]);
    element(&mut group, 0x0002, b"UI", &uid_value(sop_class_uid));
    element(&mut group, 0x0003, b"UI", &uid_value(sop_instance_uid));
    element(&mut group, 0x0010, b"UI", &uid_value(transfer_syntax));
    element(
        &mut group,
        0x0012,
        b"UI",
        &uid_value(IMPLEMENTATION_CLASS_UID),
    );
    element(
        &mut group,
        0x0013,
        b"SH",
        &text_value(&IMPLEMENTATION_VERSION_NAME[..IMPLEMENTATION_VERSION_NAME.len().min(16)]),
    );
    if let Some(ae) = source_ae.map(str::trim).filter(|a| !a.is_empty()) {
        element(
            &mut group,
            0x0016,
            b"AE",
            &text_value(&ae[..ae.len().min(16)]),
        );
    }
    let mut out = Vec::with_capacity(128 + 4 + 12 + group.len());
    out.resize(128, 0);
    out.extend_from_slice(b"DICM");
    element(&mut out, 0x0000, b"UL", &(group.len() as u32).to_le_bytes());
    out.extend_from_slice(&group);
    out
}

fn element(out: &mut Vec<u8>, elem: u16, vr: &[u8; 2], value: &[u8]) {
    out.extend_from_slice(&0x0002u16.to_le_bytes());
    out.extend_from_slice(&elem.to_le_bytes());
    out.extend_from_slice(vr);
    if vr == b"OB" {
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
    } else {
        out.extend_from_slice(&(value.len() as u16).to_le_bytes());
    }
    out.extend_from_slice(value);
}

fn uid_value(uid: &str) -> Vec<u8> {
    let mut v = uid.as_bytes().to_vec();
    if v.len() % 2 == 1 {
        v.push(0);
    }
    v
}

fn text_value(text: &str) -> Vec<u8> {
    let mut v = text.as_bytes().to_vec();
    if v.len() % 2 == 1 {
        v.push(b' ');
    }
    v
}

/// Turn a file that holds a bare data set (no preamble, no `DICM`, no File
/// Meta Information) into a Part 10 file. The encoding is recognised from
/// the first element: explicit VR little or big endian, else implicit VR
/// little endian, the DICOM default.
pub fn wrap_bare_dataset(data: &[u8]) -> Result<Vec<u8>> {
    // File Meta Information without preamble and 'DICM': add those two.
    if data.get(0..2) == Some(&[0x02, 0x00])
        && data.get(4..6).is_some_and(|vr| vr == b"UL" || vr == b"OB")
    {
        let mut out = vec![0u8; 128];
        out.extend_from_slice(b"DICM");
        out.extend_from_slice(data);
        return Ok(out);
    }
    let ts_uid = guess_encoding(data).ok_or_else(|| {
        Error::invalid("not DICOM: neither a Part 10 file nor a recognisable bare data set")
    })?;
    let ts = TransferSyntaxRegistry.get(ts_uid).ok_or_else(|| {
        Error::Internal(format!("transfer syntax {ts_uid} missing from registry").into())
    })?;
    let obj = dicom_check::read_dataset(data, ts)
        .map_err(|e| Error::invalid(format!("not DICOM: bare data set does not parse: {e}")))?;
    let text = |tag| {
        obj.get(tag)
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim_end_matches(['\0', ' ']).to_owned())
            .unwrap_or_default()
    };
    let mut out = file_meta(
        ts_uid,
        &text(tags::SOP_CLASS_UID),
        &text(tags::SOP_INSTANCE_UID),
        None,
    );
    out.extend_from_slice(data);
    Ok(out)
}

/// Tell the encoding of a bare data set from its first element header. Every
/// real data set starts with group 0x0008 (Identifying Information: Specific
/// Character Set, Image Type, SOP Class UID…), which keeps text files and
/// other binaries from passing for DICOM.
fn guess_encoding(d: &[u8]) -> Option<&'static str> {
    let h = d.get(0..8)?;
    let vr_like = h[4].is_ascii_uppercase() && h[5].is_ascii_uppercase();
    match ([h[0], h[1]], vr_like) {
        ([0x08, 0x00], true) => Some(EXPLICIT_VR_LE),
        ([0x08, 0x00], false) => Some(IMPLICIT_VR_LE),
        ([0x00, 0x08], true) => Some(EXPLICIT_VR_BE),
        _ => None,
    }
}

/// A Part 10 file with the corrections `patch` made after it was stored:
/// the patient's name, ID, issuer, birth date and sex, the accession number
/// and the study description replaced, the rest as it was, in the same
/// transfer syntax. Text goes out in UTF-8 (`ISO_IR 192`) when a new value
/// needs it.
pub fn with_patch(part10: &[u8], patch: &crate::record::ObjectPatch) -> Result<Vec<u8>> {
    use dicom_core::{DataElement, PrimitiveValue, VR};
    let start = if part10.get(128..132) == Some(b"DICM") {
        128
    } else {
        0
    };
    let mut obj = dicom_object::from_reader(&part10[start..])
        .map_err(|e| Error::invalid(format!("stored object does not parse: {e}")))?;
    // The values replaced, as received: recorded in an Original
    // Attributes Sequence item (PS3.3 C.12.1, reason CORRECT).
    let mut original = dicom_object::InMemDicomObject::new_empty();
    let mut replace = |obj: &mut dicom_object::DefaultDicomObject, e: DataElement<_>| {
        let tag = e.header().tag;
        let differs = match obj.get(tag) {
            Some(old) => {
                old.to_str().ok().map(|v| v.trim_end().to_owned())
                    != e.to_str().ok().map(|v| v.trim_end().to_owned())
            }
            None => true,
        };
        if differs {
            match obj.get(tag) {
                Some(old) => original.put(old.clone()),
                None => original.put(DataElement::new(tag, e.vr(), PrimitiveValue::Empty)),
            };
        }
        obj.put(e);
    };
    let mut texts: Vec<&str> = Vec::new();
    if let Some(p) = &patch.patient {
        let values = [
            (tags::PATIENT_NAME, VR::PN, p.patient_name.as_str()),
            (tags::PATIENT_ID, VR::LO, p.patient_id.as_str()),
            (
                tags::PATIENT_BIRTH_DATE,
                VR::DA,
                p.patient_birth_date.as_str(),
            ),
            (tags::PATIENT_SEX, VR::CS, p.patient_sex.as_str()),
        ];
        for (tag, vr, v) in values {
            replace(&mut obj, DataElement::new(tag, vr, PrimitiveValue::from(v)));
        }
        if !p.issuer_of_patient_id.is_empty() || obj.get(tags::ISSUER_OF_PATIENT_ID).is_some() {
            replace(
                &mut obj,
                DataElement::new(
                    tags::ISSUER_OF_PATIENT_ID,
                    VR::LO,
                    PrimitiveValue::from(p.issuer_of_patient_id.as_str()),
                ),
            );
        }
        texts.extend([p.patient_name.as_str(), p.issuer_of_patient_id.as_str()]);
    }
    if let Some(v) = &patch.accession_number {
        replace(
            &mut obj,
            DataElement::new(
                tags::ACCESSION_NUMBER,
                VR::SH,
                PrimitiveValue::from(v.as_str()),
            ),
        );
        texts.push(v);
    }
    if let Some(v) = &patch.study_description {
        replace(
            &mut obj,
            DataElement::new(
                tags::STUDY_DESCRIPTION,
                VR::LO,
                PrimitiveValue::from(v.as_str()),
            ),
        );
        texts.push(v);
    }
    if !texts.iter().all(|v| v.is_ascii()) {
        obj.put(DataElement::new(
            tags::SPECIFIC_CHARACTER_SET,
            VR::CS,
            PrimitiveValue::from("ISO_IR 192"),
        ));
    }
    if original.iter().next().is_some() {
        let at = time::OffsetDateTime::from_unix_timestamp_nanos(
            i128::from(patch.modified_at) * 1_000_000,
        )
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let at = format!(
            "{:04}{:02}{:02}{:02}{:02}{:02}+0000",
            at.year(),
            u8::from(at.month()),
            at.day(),
            at.hour(),
            at.minute(),
            at.second()
        );
        let mut item = dicom_object::InMemDicomObject::new_empty();
        item.put(DataElement::new(
            tags::MODIFIED_ATTRIBUTES_SEQUENCE,
            VR::SQ,
            dicom_core::value::DataSetSequence::from(vec![original]),
        ));
        item.put(DataElement::new(
            tags::ATTRIBUTE_MODIFICATION_DATE_TIME,
            VR::DT,
            PrimitiveValue::from(at.as_str()),
        ));
        item.put(DataElement::new(
            tags::MODIFYING_SYSTEM,
            VR::LO,
            PrimitiveValue::from("FILMLESS"),
        ));
        item.put(DataElement::new(
            tags::SOURCE_OF_PREVIOUS_VALUES,
            VR::LO,
            PrimitiveValue::Empty,
        ));
        item.put(DataElement::new(
            tags::REASON_FOR_THE_ATTRIBUTE_MODIFICATION,
            VR::CS,
            PrimitiveValue::from("CORRECT"),
        ));
        // After the items the object came with.
        let mut items: Vec<dicom_object::InMemDicomObject> = obj
            .get(tags::ORIGINAL_ATTRIBUTES_SEQUENCE)
            .and_then(|e| e.items())
            .map(|i| i.to_vec())
            .unwrap_or_default();
        items.push(item);
        obj.put(DataElement::new(
            tags::ORIGINAL_ATTRIBUTES_SEQUENCE,
            VR::SQ,
            dicom_core::value::DataSetSequence::from(items),
        ));
    }
    let mut out = Vec::with_capacity(part10.len() + 256);
    obj.write_all(&mut out)
        .map_err(|e| Error::Internal(format!("cannot write the corrected object: {e}").into()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scan::scan_complete;

    #[test]
    fn a_corrected_patient_goes_out_with_the_rest_unchanged() {
        let (_, instances) = filmless_test_data::ct_series_sized(5, 1, (16, 16));
        let original = &instances[0].bytes;
        let p = crate::record::PatientAttributes {
            patient_id: "BN0001".into(),
            issuer_of_patient_id: "BVHĐ".into(),
            patient_name: "NGUYỄN^VĂN AN".into(),
            patient_birth_date: "19800215".into(),
            patient_sex: "M".into(),
        };
        let patch = crate::record::ObjectPatch {
            patient: Some(p),
            accession_number: Some("A-2026-77".into()),
            study_description: Some("CT NGỰC".into()),
            modified_at: 1_796_300_000_000,
        };
        let patched = with_patch(original, &patch).unwrap();
        let read = |b: &[u8]| dicom_object::from_reader(&b[128..]).unwrap();
        let (before, after) = (read(original), read(&patched));
        let text = |o: &dicom_object::DefaultDicomObject, tag| {
            o.element(tag)
                .unwrap()
                .to_str()
                .unwrap()
                .trim_end()
                .to_owned()
        };
        assert_eq!(text(&after, tags::PATIENT_NAME), "NGUYỄN^VĂN AN");
        assert_eq!(text(&after, tags::PATIENT_BIRTH_DATE), "19800215");
        assert_eq!(text(&after, tags::ISSUER_OF_PATIENT_ID), "BVHĐ");
        assert_eq!(text(&after, tags::ACCESSION_NUMBER), "A-2026-77");
        // What was replaced is recorded, as received (PS3.3 C.12.1).
        let item = &after
            .element(tags::ORIGINAL_ATTRIBUTES_SEQUENCE)
            .unwrap()
            .items()
            .unwrap()[0];
        let text_in = |o: &dicom_object::InMemDicomObject, tag| {
            o.element(tag)
                .unwrap()
                .to_str()
                .unwrap()
                .trim_end()
                .to_owned()
        };
        assert_eq!(
            text_in(item, tags::REASON_FOR_THE_ATTRIBUTE_MODIFICATION),
            "CORRECT"
        );
        assert_eq!(text_in(item, tags::MODIFYING_SYSTEM), "FILMLESS");
        assert_eq!(
            text_in(item, tags::ATTRIBUTE_MODIFICATION_DATE_TIME),
            "20261203121320+0000"
        );
        let old = &item
            .element(tags::MODIFIED_ATTRIBUTES_SEQUENCE)
            .unwrap()
            .items()
            .unwrap()[0];
        assert_eq!(
            text_in(old, tags::PATIENT_NAME),
            text(&before, tags::PATIENT_NAME)
        );
        assert_eq!(
            text_in(old, tags::ACCESSION_NUMBER),
            text(&before, tags::ACCESSION_NUMBER)
        );
        assert_eq!(text(&after, tags::STUDY_DESCRIPTION), "CT NGỰC");
        assert_eq!(text(&after, tags::SPECIFIC_CHARACTER_SET), "ISO_IR 192");
        for tag in [tags::SOP_INSTANCE_UID, tags::STUDY_INSTANCE_UID, tags::ROWS] {
            assert_eq!(text(&before, tag), text(&after, tag));
        }
        assert_eq!(
            before
                .element(tags::PIXEL_DATA)
                .unwrap()
                .to_bytes()
                .unwrap(),
            after.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap()
        );
        assert_eq!(
            before.meta().transfer_syntax(),
            after.meta().transfer_syntax()
        );
    }

    #[test]
    fn built_meta_scans_back() {
        let mut f = file_meta(
            "1.2.840.10008.1.2",
            "1.2.840.10008.5.1.4.1.1.2",
            "1.2.3.4",
            Some("CT01"),
        );
        // One implicit VR element: (0008,0018) "1.2.3.4".
        f.extend_from_slice(&[0x08, 0x00, 0x18, 0x00, 8, 0, 0, 0]);
        f.extend_from_slice(b"1.2.3.4\0");
        let layout = scan_complete(&f).unwrap();
        assert_eq!(layout.meta.transfer_syntax, "1.2.840.10008.1.2");
        assert_eq!(layout.meta.media_storage_sop_instance_uid, "1.2.3.4");
        assert_eq!(
            layout.meta.media_storage_sop_class_uid,
            "1.2.840.10008.5.1.4.1.1.2"
        );
        assert_eq!(layout.header_end, f.len());
    }

    #[test]
    fn recognises_bare_encodings() {
        assert_eq!(
            guess_encoding(&[0x08, 0x00, 0x16, 0x00, b'U', b'I', 4, 0]),
            Some(EXPLICIT_VR_LE)
        );
        assert_eq!(
            guess_encoding(&[0x08, 0x00, 0x16, 0x00, 4, 0, 0, 0]),
            Some(IMPLICIT_VR_LE)
        );
        assert_eq!(
            guess_encoding(&[0x00, 0x08, 0x00, 0x16, b'U', b'I', 0, 4]),
            Some(EXPLICIT_VR_BE)
        );
        assert_eq!(guess_encoding(b"%PDF-1.7 hello"), None);
        assert!(wrap_bare_dataset(b"hello world, not dicom").is_err());
    }
}
