//! Worklist items and performed procedure steps as the index keeps them:
//! the columns modalities match on, taken from the item's data set, and the
//! data set itself as DICOM JSON.
//!
//! A worklist item is one Scheduled Procedure Step of a requested
//! procedure (PS3.4 K.6, Table K.6-1): patient, order (accession number,
//! requested procedure) and the step (station, modality, start, status).

use dicom_core::Tag;
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use serde_json::Value;

use crate::error::{Error, Result};

/// Scheduled Procedure Step Status values (PS3.3 C.4.10) the archive uses.
pub mod status {
    /// Ordered, not started.
    pub const SCHEDULED: &str = "SCHEDULED";
    /// An MPPS IN PROGRESS arrived for it.
    pub const IN_PROGRESS: &str = "IN PROGRESS";
    /// Its MPPS was COMPLETED.
    pub const COMPLETED: &str = "COMPLETED";
    /// Its MPPS was DISCONTINUED.
    pub const DISCONTINUED: &str = "DISCONTINUED";
    /// The order was cancelled.
    pub const CANCELLED: &str = "CANCELLED";
}

/// A worklist item: matching columns and the whole item.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WorklistItem {
    /// (0040,0020) Scheduled Procedure Step Status.
    pub status: String,
    /// (0040,2016) Placer Order Number / Imaging Service Request.
    pub placer_order_number: String,
    /// (0040,2017) Filler Order Number / Imaging Service Request.
    pub filler_order_number: String,
    /// (0010,0020).
    pub patient_id: String,
    /// (0010,0021).
    pub issuer_of_patient_id: String,
    /// (0010,0010).
    pub patient_name: String,
    /// (0010,0030).
    pub patient_birth_date: String,
    /// (0010,0040).
    pub patient_sex: String,
    /// (0008,0050).
    pub accession_number: String,
    /// (0040,1001).
    pub requested_procedure_id: String,
    /// (0032,1060).
    pub requested_procedure_description: String,
    /// (0020,000D): the study the modality's images go to.
    pub study_instance_uid: String,
    /// (0008,0090).
    pub referring_physician_name: String,
    /// (0040,0009).
    pub scheduled_procedure_step_id: String,
    /// (0040,0001).
    pub scheduled_station_ae_title: String,
    /// (0008,0060).
    pub modality: String,
    /// (0040,0002).
    pub scheduled_procedure_step_start_date: String,
    /// (0040,0003).
    pub scheduled_procedure_step_start_time: String,
    /// (0040,0007).
    pub scheduled_procedure_step_description: String,
    /// (0040,0006).
    pub scheduled_performing_physician_name: String,
    /// The whole item, DICOM JSON.
    pub dicom_json: String,
}

fn text(obj: &InMemDicomObject, tag: Tag) -> String {
    obj.get(tag)
        .and_then(|e| e.to_str().ok())
        .map(|v| v.trim_matches(['\0', ' ']).to_owned())
        .unwrap_or_default()
}

impl WorklistItem {
    /// The item a data set describes (Table K.6-1's attributes; the step's
    /// from the first item of the Scheduled Procedure Step Sequence). Its
    /// status is the step's, `SCHEDULED` when it has none.
    pub fn from_dataset(obj: &InMemDicomObject) -> Result<WorklistItem> {
        let step = obj
            .get(tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE)
            .and_then(|e| e.items())
            .and_then(|items| items.first())
            .ok_or_else(|| {
                Error::invalid("a worklist item needs a Scheduled Procedure Step Sequence (0040,0100) with one item")
            })?;
        let study_instance_uid = text(obj, tags::STUDY_INSTANCE_UID);
        crate::uid::Uid::parse("Study Instance UID", &study_instance_uid)?;
        let mut status = text(step, tags::SCHEDULED_PROCEDURE_STEP_STATUS).to_ascii_uppercase();
        if status.is_empty() {
            status = status::SCHEDULED.to_owned();
        }
        let mut json = dicom_json::to_value(obj)
            .map_err(|e| Error::invalid(format!("cannot express the item as DICOM JSON: {e}")))?;
        set_step_status(&mut json, &status);
        let item = WorklistItem {
            status,
            placer_order_number: text(obj, tags::PLACER_ORDER_NUMBER_IMAGING_SERVICE_REQUEST),
            filler_order_number: text(obj, tags::FILLER_ORDER_NUMBER_IMAGING_SERVICE_REQUEST),
            patient_id: text(obj, tags::PATIENT_ID),
            issuer_of_patient_id: text(obj, tags::ISSUER_OF_PATIENT_ID),
            patient_name: text(obj, tags::PATIENT_NAME),
            patient_birth_date: text(obj, tags::PATIENT_BIRTH_DATE),
            patient_sex: text(obj, tags::PATIENT_SEX),
            accession_number: text(obj, tags::ACCESSION_NUMBER),
            requested_procedure_id: text(obj, tags::REQUESTED_PROCEDURE_ID),
            requested_procedure_description: text(obj, tags::REQUESTED_PROCEDURE_DESCRIPTION),
            study_instance_uid,
            referring_physician_name: text(obj, tags::REFERRING_PHYSICIAN_NAME),
            scheduled_procedure_step_id: text(step, tags::SCHEDULED_PROCEDURE_STEP_ID),
            scheduled_station_ae_title: text(step, tags::SCHEDULED_STATION_AE_TITLE),
            modality: text(step, tags::MODALITY),
            scheduled_procedure_step_start_date: text(
                step,
                tags::SCHEDULED_PROCEDURE_STEP_START_DATE,
            ),
            scheduled_procedure_step_start_time: text(
                step,
                tags::SCHEDULED_PROCEDURE_STEP_START_TIME,
            )
            .replace(':', ""),
            scheduled_procedure_step_description: text(
                step,
                tags::SCHEDULED_PROCEDURE_STEP_DESCRIPTION,
            ),
            scheduled_performing_physician_name: text(
                step,
                tags::SCHEDULED_PERFORMING_PHYSICIAN_NAME,
            ),
            dicom_json: String::new(),
        };
        if item.patient_id.is_empty() {
            return Err(Error::invalid(
                "a worklist item needs a Patient ID (0010,0020)",
            ));
        }
        Ok(WorklistItem {
            dicom_json: to_string(&json)?,
            ..item
        })
    }
}

/// A data set as DICOM JSON (PS3.18 F.2).
pub fn dataset_json(obj: &InMemDicomObject) -> Result<Value> {
    dicom_json::to_value(obj)
        .map_err(|e| Error::invalid(format!("cannot express the data set as DICOM JSON: {e}")))
}

/// A data set from DICOM JSON.
pub fn json_dataset(json: &Value) -> Result<InMemDicomObject> {
    dicom_json::from_value(json.clone())
        .map_err(|e| Error::invalid(format!("not a DICOM JSON data set: {e}")))
}

/// A JSON value as stored.
pub(crate) fn to_string(json: &Value) -> Result<String> {
    serde_json::to_string(json)
        .map_err(|e| Error::Internal(format!("cannot serialize DICOM JSON: {e}").into()))
}

/// A stored DICOM JSON text, parsed.
pub(crate) fn parse_json(text: &str) -> Result<Value> {
    serde_json::from_str(text)
        .map_err(|e| Error::Internal(format!("stored DICOM JSON does not parse: {e}").into()))
}

/// Set the Scheduled Procedure Step Status in the item's step.
pub(crate) fn set_step_status(json: &mut Value, status: &str) {
    if let Some(Value::Array(items)) = json.pointer_mut("/00400100/Value") {
        for item in items {
            if let Some(map) = item.as_object_mut() {
                map.insert("00400020".into(), element("CS", status));
            }
        }
    }
}

/// A DICOM JSON element of one text value (no value when empty). A
/// person name's `=` groups are its alphabetic, ideographic and phonetic
/// representations (PS3.18 F.2.2).
pub fn element(vr: &str, value: &str) -> Value {
    if value.is_empty() {
        return serde_json::json!({ "vr": vr });
    }
    let value = if vr == "PN" {
        let mut name = serde_json::Map::new();
        for (group, key) in value
            .splitn(3, '=')
            .zip(["Alphabetic", "Ideographic", "Phonetic"])
        {
            if !group.is_empty() {
                name.insert(key.into(), Value::String(group.to_owned()));
            }
        }
        Value::Object(name)
    } else {
        Value::String(value.to_owned())
    };
    serde_json::json!({ "vr": vr, "Value": [value] })
}

/// A Modality Performed Procedure Step as stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PerformedStep {
    /// (0000,1000) its SOP Instance UID.
    pub sop_instance_uid: String,
    /// (0040,0252) Performed Procedure Step Status.
    pub status: String,
    /// Who reported it.
    pub calling_ae_title: String,
    /// The study of its Scheduled Step Attributes Sequence.
    pub study_instance_uid: String,
    /// Its accession number.
    pub accession_number: String,
    /// The scheduled step it performs.
    pub scheduled_procedure_step_id: String,
    /// (0010,0020).
    pub patient_id: String,
    /// Its attributes as last set, DICOM JSON.
    pub dicom_json: String,
}

#[cfg(test)]
mod tests {
    #[test]
    fn person_names_keep_their_groups() {
        assert_eq!(
            super::element("PN", "YAMADA^TARO=山田^太郎=やまだ^たろう"),
            serde_json::json!({"vr": "PN", "Value": [{
                "Alphabetic": "YAMADA^TARO", "Ideographic": "山田^太郎", "Phonetic": "やまだ^たろう"}]})
        );
        assert_eq!(
            super::element("PN", "NGUYỄN^VĂN AN"),
            serde_json::json!({"vr": "PN", "Value": [{"Alphabetic": "NGUYỄN^VĂN AN"}]})
        );
        assert_eq!(
            super::element("PN", "=山田^太郎"),
            serde_json::json!({"vr": "PN", "Value": [{"Ideographic": "山田^太郎"}]})
        );
    }

    use super::*;
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_object::InMemDicomObject;

    #[test]
    fn items_take_their_step_from_the_sequence() {
        let mut step = InMemDicomObject::new_empty();
        for (tag, vr, v) in [
            (tags::SCHEDULED_STATION_AE_TITLE, VR::AE, "CT1"),
            (tags::MODALITY, VR::CS, "CT"),
            (
                tags::SCHEDULED_PROCEDURE_STEP_START_DATE,
                VR::DA,
                "20261202",
            ),
            (tags::SCHEDULED_PROCEDURE_STEP_START_TIME, VR::TM, "10:30"),
            (tags::SCHEDULED_PROCEDURE_STEP_ID, VR::SH, "SPS1"),
        ] {
            step.put(DataElement::new(tag, vr, PrimitiveValue::from(v)));
        }
        let mut obj = InMemDicomObject::new_empty();
        obj.put(DataElement::new(
            tags::PATIENT_NAME,
            VR::PN,
            PrimitiveValue::from("NGUYỄN^VĂN AN"),
        ));
        obj.put(DataElement::new(
            tags::PATIENT_ID,
            VR::LO,
            PrimitiveValue::from("P1"),
        ));
        obj.put(DataElement::new(
            tags::STUDY_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from("1.2.3"),
        ));
        obj.put(DataElement::new(
            tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE,
            VR::SQ,
            dicom_core::value::DataSetSequence::from(vec![step]),
        ));
        let item = WorklistItem::from_dataset(&obj).unwrap();
        assert_eq!(item.status, status::SCHEDULED);
        assert_eq!(item.scheduled_station_ae_title, "CT1");
        assert_eq!(item.scheduled_procedure_step_start_time, "1030");
        assert_eq!(item.patient_name, "NGUYỄN^VĂN AN");
        let json: Value = serde_json::from_str(&item.dicom_json).unwrap();
        assert_eq!(
            json["00400100"]["Value"][0]["00400020"]["Value"][0],
            "SCHEDULED"
        );
        // Without a step, or a study UID, it is refused.
        let mut bad = obj.clone();
        bad.remove_element(tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE);
        assert!(WorklistItem::from_dataset(&bad).is_err());
        let mut bad = obj;
        bad.put(DataElement::new(
            tags::STUDY_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from("x"),
        ));
        assert!(WorklistItem::from_dataset(&bad).is_err());
    }
}
