//! The attributes the index keeps, per level (PS3.4 C.6.1.1, C.6.2.1):
//! where each is stored and how it is matched.

use dicom_core::{Tag, VR};
use dicom_dictionary_std::tags;

use super::level::QueryLevel;

/// How an attribute is kept and matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Text,
    Uid,
    Date,
    Time,
    /// Person name, with the column of its upper-cased copy.
    PersonName(&'static str),
    Integer,
    /// Computed; matching on it is not supported (it is returned).
    Derived,
    /// ModalitiesInStudy: matched through the series table.
    Modalities,
}

/// An attribute the index knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute {
    /// Its tag.
    pub tag: Tag,
    /// Its VR.
    pub vr: VR,
    /// The level it belongs to.
    pub level: QueryLevel,
    pub(super) column: &'static str,
    pub(super) kind: Kind,
}

const fn attr(tag: Tag, vr: VR, level: QueryLevel, column: &'static str, kind: Kind) -> Attribute {
    Attribute {
        tag,
        vr,
        level,
        column,
        kind,
    }
}

use QueryLevel::{Instance as I, Patient as P, Series as SE, Study as ST};

/// Every attribute matched or returned, per level (PS3.4 C.6.1.1, C.6.2.1).
pub static ATTRIBUTES: &[Attribute] = &[
    attr(
        tags::PATIENT_NAME,
        VR::PN,
        P,
        "p.patient_name",
        Kind::PersonName("p.patient_name_norm"),
    ),
    attr(tags::PATIENT_ID, VR::LO, P, "p.patient_id", Kind::Text),
    attr(
        tags::ISSUER_OF_PATIENT_ID,
        VR::LO,
        P,
        "p.issuer_of_patient_id",
        Kind::Text,
    ),
    attr(
        tags::PATIENT_BIRTH_DATE,
        VR::DA,
        P,
        "p.patient_birth_date",
        Kind::Date,
    ),
    attr(tags::PATIENT_SEX, VR::CS, P, "p.patient_sex", Kind::Text),
    attr(
        tags::NUMBER_OF_PATIENT_RELATED_STUDIES,
        VR::IS,
        P,
        "(SELECT COUNT(*) FROM study s2 WHERE s2.patient_ref = p.id)",
        Kind::Derived,
    ),
    attr(
        tags::STUDY_INSTANCE_UID,
        VR::UI,
        ST,
        "st.study_instance_uid",
        Kind::Uid,
    ),
    attr(tags::STUDY_DATE, VR::DA, ST, "st.study_date", Kind::Date),
    attr(tags::STUDY_TIME, VR::TM, ST, "st.study_time", Kind::Time),
    attr(
        tags::ACCESSION_NUMBER,
        VR::SH,
        ST,
        "st.accession_number",
        Kind::Text,
    ),
    attr(
        tags::REFERRING_PHYSICIAN_NAME,
        VR::PN,
        ST,
        "st.referring_physician_name",
        Kind::PersonName("st.referring_physician_name_norm"),
    ),
    attr(
        tags::STUDY_DESCRIPTION,
        VR::LO,
        ST,
        "st.study_description",
        Kind::Text,
    ),
    attr(tags::STUDY_ID, VR::SH, ST, "st.study_id", Kind::Text),
    attr(
        tags::INSTITUTION_NAME,
        VR::LO,
        ST,
        "st.institution_name",
        Kind::Text,
    ),
    attr(tags::MODALITIES_IN_STUDY, VR::CS, ST, "", Kind::Modalities),
    attr(
        tags::NUMBER_OF_STUDY_RELATED_SERIES,
        VR::IS,
        ST,
        "st.number_of_study_related_series",
        Kind::Derived,
    ),
    attr(
        tags::NUMBER_OF_STUDY_RELATED_INSTANCES,
        VR::IS,
        ST,
        "st.number_of_study_related_instances",
        Kind::Derived,
    ),
    attr(
        tags::SERIES_INSTANCE_UID,
        VR::UI,
        SE,
        "se.series_instance_uid",
        Kind::Uid,
    ),
    attr(tags::MODALITY, VR::CS, SE, "se.modality", Kind::Text),
    attr(
        tags::SERIES_NUMBER,
        VR::IS,
        SE,
        "se.series_number",
        Kind::Integer,
    ),
    attr(
        tags::SERIES_DESCRIPTION,
        VR::LO,
        SE,
        "se.series_description",
        Kind::Text,
    ),
    attr(
        tags::BODY_PART_EXAMINED,
        VR::CS,
        SE,
        "se.body_part_examined",
        Kind::Text,
    ),
    attr(tags::SERIES_DATE, VR::DA, SE, "se.series_date", Kind::Date),
    attr(tags::SERIES_TIME, VR::TM, SE, "se.series_time", Kind::Time),
    attr(
        tags::STATION_NAME,
        VR::SH,
        SE,
        "se.station_name",
        Kind::Text,
    ),
    attr(
        tags::NUMBER_OF_SERIES_RELATED_INSTANCES,
        VR::IS,
        SE,
        "se.number_of_series_related_instances",
        Kind::Derived,
    ),
    attr(
        tags::SOP_INSTANCE_UID,
        VR::UI,
        I,
        "i.sop_instance_uid",
        Kind::Uid,
    ),
    attr(tags::SOP_CLASS_UID, VR::UI, I, "i.sop_class_uid", Kind::Uid),
    attr(
        tags::INSTANCE_NUMBER,
        VR::IS,
        I,
        "i.instance_number",
        Kind::Integer,
    ),
    attr(
        tags::NUMBER_OF_FRAMES,
        VR::IS,
        I,
        "i.number_of_frames",
        Kind::Integer,
    ),
    attr(tags::ROWS, VR::US, I, "i.rows", Kind::Integer),
    attr(tags::COLUMNS, VR::US, I, "i.columns", Kind::Integer),
    attr(tags::CONTENT_DATE, VR::DA, I, "i.content_date", Kind::Date),
    attr(tags::CONTENT_TIME, VR::TM, I, "i.content_time", Kind::Time),
    attr(
        tags::AVAILABLE_TRANSFER_SYNTAX_UID,
        VR::UI,
        I,
        "i.transfer_syntax_uid",
        Kind::Uid,
    ),
];

use QueryLevel::Worklist as W;

/// The keys a modality worklist query matches (PS3.4 K.6.1.2): those of
/// the Scheduled Procedure Step Sequence's item included, as if they were
/// top-level. Everything else a query asks for is returned from the item.
pub static WORKLIST_ATTRIBUTES: &[Attribute] = &[
    attr(
        tags::PATIENT_NAME,
        VR::PN,
        W,
        "w.patient_name",
        Kind::PersonName("w.patient_name_norm"),
    ),
    attr(tags::PATIENT_ID, VR::LO, W, "w.patient_id", Kind::Text),
    attr(
        tags::ISSUER_OF_PATIENT_ID,
        VR::LO,
        W,
        "w.issuer_of_patient_id",
        Kind::Text,
    ),
    attr(
        tags::PATIENT_BIRTH_DATE,
        VR::DA,
        W,
        "w.patient_birth_date",
        Kind::Date,
    ),
    attr(tags::PATIENT_SEX, VR::CS, W, "w.patient_sex", Kind::Text),
    attr(
        tags::ACCESSION_NUMBER,
        VR::SH,
        W,
        "w.accession_number",
        Kind::Text,
    ),
    attr(
        tags::REQUESTED_PROCEDURE_ID,
        VR::SH,
        W,
        "w.requested_procedure_id",
        Kind::Text,
    ),
    attr(
        tags::STUDY_INSTANCE_UID,
        VR::UI,
        W,
        "w.study_instance_uid",
        Kind::Uid,
    ),
    attr(
        tags::REFERRING_PHYSICIAN_NAME,
        VR::PN,
        W,
        "w.referring_physician_name",
        Kind::PersonName("w.referring_physician_name_norm"),
    ),
    attr(
        tags::SCHEDULED_STATION_AE_TITLE,
        VR::AE,
        W,
        "w.scheduled_station_ae_title",
        Kind::Text,
    ),
    attr(tags::MODALITY, VR::CS, W, "w.modality", Kind::Text),
    attr(
        tags::SCHEDULED_PROCEDURE_STEP_START_DATE,
        VR::DA,
        W,
        "w.scheduled_procedure_step_start_date",
        Kind::Date,
    ),
    attr(
        tags::SCHEDULED_PROCEDURE_STEP_START_TIME,
        VR::TM,
        W,
        "w.scheduled_procedure_step_start_time",
        Kind::Time,
    ),
    attr(
        tags::SCHEDULED_PERFORMING_PHYSICIAN_NAME,
        VR::PN,
        W,
        "w.scheduled_performing_physician_name",
        Kind::PersonName("w.scheduled_performing_physician_name_norm"),
    ),
    attr(
        tags::SCHEDULED_PROCEDURE_STEP_ID,
        VR::SH,
        W,
        "w.scheduled_procedure_step_id",
        Kind::Text,
    ),
    attr(
        tags::SCHEDULED_PROCEDURE_STEP_STATUS,
        VR::CS,
        W,
        "w.status",
        Kind::Text,
    ),
];

/// The attribute with this tag, if the index keeps it at the patient,
/// study, series or instance level.
pub fn attribute(tag: Tag) -> Option<&'static Attribute> {
    ATTRIBUTES.iter().find(|a| a.tag == tag)
}

/// The attribute with this tag a query at `level` may match on.
pub fn attribute_at(level: QueryLevel, tag: Tag) -> Option<&'static Attribute> {
    match level {
        QueryLevel::Worklist => WORKLIST_ATTRIBUTES.iter().find(|a| a.tag == tag),
        _ => attribute(tag).filter(|a| level.includes(a.level)),
    }
}
