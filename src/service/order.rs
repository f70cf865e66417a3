//! One scheduled procedure step of an order, as the RIS gives it (HL7
//! ORM/OMI, `filmless worklist add`): the worklist item's data set (PS3.4
//! Table K.6-1) is built here once, whoever schedules it.

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use storage::record::PatientAttributes;

/// A coded procedure: (code value, coding scheme designator, meaning).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Code {
    /// (0008,0100).
    pub value: String,
    /// (0008,0102); `L` (local) when the RIS names none.
    pub scheme: String,
    /// (0008,0104).
    pub meaning: String,
}

/// One scheduled procedure step of a requested procedure: a worklist item.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Order {
    /// The patient.
    pub patient: PatientAttributes,
    /// (0040,2016) Placer Order Number / Imaging Service Request.
    pub placer_order_number: String,
    /// (0040,2017) Filler Order Number / Imaging Service Request.
    pub filler_order_number: String,
    /// (0008,0050).
    pub accession_number: String,
    /// (0040,1001) Requested Procedure ID.
    pub requested_procedure_id: String,
    /// (0032,1060) Requested Procedure Description.
    pub requested_procedure_description: String,
    /// Requested Procedure Code Sequence and Scheduled Protocol Code
    /// Sequence.
    pub procedure_code: Option<Code>,
    /// (0008,0090) Referring Physician's Name (HL7 PV1-8).
    pub referring_physician_name: String,
    /// (0032,1032) Requesting Physician (HL7 OBR-16, ORC-12).
    pub requesting_physician: String,
    /// (0020,000D); generated when scheduled without one.
    pub study_instance_uid: String,
    /// (0040,0001) Scheduled Station AE Title.
    pub station_ae_title: String,
    /// (0008,0060).
    pub modality: String,
    /// (0040,0002).
    pub start_date: String,
    /// (0040,0003), `HHMM[SS]`.
    pub start_time: String,
    /// (0040,0007) Scheduled Procedure Step Description.
    pub step_description: String,
    /// (0040,0009); defaults to the requested procedure ID when scheduled.
    pub step_id: String,
    /// (0040,0006) Scheduled Performing Physician's Name (HL7 OBR-34).
    pub performing_physician_name: String,
}

fn put(obj: &mut InMemDicomObject, tag: Tag, vr: VR, value: &str) {
    obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
}

fn sequence(obj: &mut InMemDicomObject, tag: Tag, items: Vec<InMemDicomObject>) {
    obj.put(DataElement::new(tag, VR::SQ, DataSetSequence::from(items)));
}

impl Order {
    /// The worklist item's data set, in UTF-8 (`ISO_IR 192`), with every
    /// Type 1 and 2 attribute of Table K.6-1 present (empty when unknown).
    pub fn dataset(&self) -> InMemDicomObject {
        let p = &self.patient;
        let mut item = InMemDicomObject::new_empty();
        put(
            &mut item,
            tags::SPECIFIC_CHARACTER_SET,
            VR::CS,
            "ISO_IR 192",
        );
        put(&mut item, tags::PATIENT_NAME, VR::PN, &p.patient_name);
        put(&mut item, tags::PATIENT_ID, VR::LO, &p.patient_id);
        put(
            &mut item,
            tags::ISSUER_OF_PATIENT_ID,
            VR::LO,
            &p.issuer_of_patient_id,
        );
        put(
            &mut item,
            tags::PATIENT_BIRTH_DATE,
            VR::DA,
            &p.patient_birth_date,
        );
        put(&mut item, tags::PATIENT_SEX, VR::CS, &p.patient_sex);
        put(
            &mut item,
            tags::ACCESSION_NUMBER,
            VR::SH,
            &self.accession_number,
        );
        put(
            &mut item,
            tags::REFERRING_PHYSICIAN_NAME,
            VR::PN,
            &self.referring_physician_name,
        );
        put(
            &mut item,
            tags::REQUESTING_PHYSICIAN,
            VR::PN,
            &self.requesting_physician,
        );
        put(
            &mut item,
            tags::REQUESTED_PROCEDURE_ID,
            VR::SH,
            &self.requested_procedure_id,
        );
        put(
            &mut item,
            tags::REQUESTED_PROCEDURE_DESCRIPTION,
            VR::LO,
            &self.requested_procedure_description,
        );
        put(
            &mut item,
            tags::PLACER_ORDER_NUMBER_IMAGING_SERVICE_REQUEST,
            VR::LO,
            &self.placer_order_number,
        );
        put(
            &mut item,
            tags::FILLER_ORDER_NUMBER_IMAGING_SERVICE_REQUEST,
            VR::LO,
            &self.filler_order_number,
        );
        if !self.study_instance_uid.is_empty() {
            put(
                &mut item,
                tags::STUDY_INSTANCE_UID,
                VR::UI,
                &self.study_instance_uid,
            );
        }
        let codes: Vec<InMemDicomObject> = self
            .procedure_code
            .iter()
            .filter(|c| !c.value.is_empty())
            .map(|c| {
                let mut o = InMemDicomObject::new_empty();
                put(&mut o, tags::CODE_VALUE, VR::SH, &c.value);
                let scheme = if c.scheme.is_empty() { "L" } else { &c.scheme };
                put(&mut o, tags::CODING_SCHEME_DESIGNATOR, VR::SH, scheme);
                put(&mut o, tags::CODE_MEANING, VR::LO, &c.meaning);
                o
            })
            .collect();
        sequence(
            &mut item,
            tags::REQUESTED_PROCEDURE_CODE_SEQUENCE,
            codes.clone(),
        );
        sequence(&mut item, tags::REFERENCED_STUDY_SEQUENCE, Vec::new());
        let mut step = InMemDicomObject::new_empty();
        put(
            &mut step,
            tags::SCHEDULED_STATION_AE_TITLE,
            VR::AE,
            &self.station_ae_title,
        );
        put(&mut step, tags::MODALITY, VR::CS, &self.modality);
        put(
            &mut step,
            tags::SCHEDULED_PROCEDURE_STEP_START_DATE,
            VR::DA,
            &self.start_date,
        );
        put(
            &mut step,
            tags::SCHEDULED_PROCEDURE_STEP_START_TIME,
            VR::TM,
            &self.start_time,
        );
        put(
            &mut step,
            tags::SCHEDULED_PROCEDURE_STEP_DESCRIPTION,
            VR::LO,
            &self.step_description,
        );
        put(
            &mut step,
            tags::SCHEDULED_PROCEDURE_STEP_ID,
            VR::SH,
            &self.step_id,
        );
        put(
            &mut step,
            tags::SCHEDULED_PROCEDURE_STEP_STATUS,
            VR::CS,
            "SCHEDULED",
        );
        put(
            &mut step,
            tags::SCHEDULED_PERFORMING_PHYSICIAN_NAME,
            VR::PN,
            &self.performing_physician_name,
        );
        sequence(&mut step, tags::SCHEDULED_PROTOCOL_CODE_SEQUENCE, codes);
        sequence(
            &mut item,
            tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE,
            vec![step],
        );
        item
    }
}

/// A DICOM date and time from an HL7 TS/DTM or a command line's
/// `YYYYMMDD[HHMM[SS]]` (anything after the digits is dropped).
pub fn date_time(ts: &str) -> (String, String) {
    let digits: String = ts.chars().take_while(|c| c.is_ascii_digit()).collect();
    let date = digits.get(..8).unwrap_or("").to_owned();
    let time = digits.get(8..).unwrap_or("").chars().take(6).collect();
    (date, time)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_order_becomes_a_whole_worklist_item() {
        let order = Order {
            patient: PatientAttributes {
                patient_id: "P1".into(),
                patient_name: "NGUYỄN^VĂN AN".into(),
                ..Default::default()
            },
            accession_number: "A1".into(),
            procedure_code: Some(Code {
                value: "CT001".into(),
                scheme: String::new(),
                meaning: "CT NGỰC".into(),
            }),
            performing_physician_name: "LÊ^CHI".into(),
            ..Default::default()
        };
        let item = order.dataset();
        let text = |o: &InMemDicomObject, tag| o.get(tag).unwrap().to_str().unwrap().to_string();
        assert_eq!(text(&item, tags::PATIENT_NAME), "NGUYỄN^VĂN AN");
        assert!(item.get(tags::STUDY_INSTANCE_UID).is_none());
        let step = &item
            .get(tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE)
            .unwrap()
            .items()
            .unwrap()[0];
        assert_eq!(
            text(step, tags::SCHEDULED_PERFORMING_PHYSICIAN_NAME),
            "LÊ^CHI"
        );
        assert_eq!(
            text(step, tags::SCHEDULED_PROCEDURE_STEP_STATUS),
            "SCHEDULED"
        );
        let code = &item
            .get(tags::REQUESTED_PROCEDURE_CODE_SEQUENCE)
            .unwrap()
            .items()
            .unwrap()[0];
        assert_eq!(text(code, tags::CODING_SCHEME_DESIGNATOR), "L");
        assert_eq!(
            date_time("20261202103015.123+0700"),
            ("20261202".into(), "103015".into())
        );
        assert_eq!(date_time("20261202"), ("20261202".into(), "".into()));
    }
}
