//! What each HL7 message does, through the service layer: orders
//! (ORM^O01, OMI^O23) schedule, change or cancel worklist items; ADT^A08
//! (and A31) corrects a patient; ADT^A40 merges one into another.
//!
//! Order fields follow the IHE Radiology Scheduled Workflow mapping (HL7
//! 2.5.1, Rad TF-2 Appendix B): accession number OBR-18 (or ORC-3/OBR-3),
//! requested procedure ID OBR-19, scheduled procedure step ID OBR-20,
//! scheduled station AE title OBR-21, modality OBR-24, start TQ1-7 (or
//! OBR-27.4 / ORC-7.4), and in OMI the IPC segment where it is given.

use dicom_core::value::DataSetSequence;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use storage::record::PatientAttributes;

use super::message::{AckCode, AckError, Message};
use crate::service::{Context, Error, ErrorKind, Service};

/// The outcome of one message.
pub type Outcome = (AckCode, Option<AckError>);

fn error(code: u16, location: Option<(&'static str, usize)>, text: impl Into<String>) -> Outcome {
    (AckCode::Error, Some(AckError::new(code, location, text)))
}

/// Apply `message` for `ctx`.
pub async fn apply(service: &Service, ctx: &Context, message: &Message) -> Outcome {
    let (code, trigger) = message.message_type();
    let what = format!("HL7 {code}^{trigger} {}", message.control_id());
    let result = match (code.as_str(), trigger.as_str()) {
        ("ORM", "O01") | ("OMI", "O23") => order(service, ctx, message, &what).await,
        ("ADT", "A08") | ("ADT", "A31") => update_patient(service, ctx, message, &what).await,
        ("ADT", "A40") => merge_patient(service, ctx, message, &what).await,
        ("ORM" | "OMI" | "ADT", _) => {
            return (
                AckCode::Reject,
                Some(AckError::new(
                    201,
                    Some(("MSH", 9)),
                    format!("event {code}^{trigger} is not supported (ORM^O01, OMI^O23, ADT^A08, ADT^A31, ADT^A40 are)"),
                )),
            )
        }
        _ => {
            return (
                AckCode::Reject,
                Some(AckError::new(
                    200,
                    Some(("MSH", 9)),
                    format!("message type {code}^{trigger} is not supported (ORM^O01, OMI^O23, ADT^A08, ADT^A31, ADT^A40 are)"),
                )),
            )
        }
    };
    match result {
        Ok(()) => (AckCode::Accept, None),
        Err(outcome) => outcome,
    }
}

/// A service error as an ACK.
fn refused(e: &Error) -> Outcome {
    match e.kind() {
        ErrorKind::Forbidden => (
            AckCode::Reject,
            Some(AckError::new(207, None, e.public_message())),
        ),
        ErrorKind::NotFound => error(204, None, e.public_message()),
        ErrorKind::Invalid => error(102, None, e.public_message()),
        _ => error(207, None, e.public_message()),
    }
}

fn put(obj: &mut InMemDicomObject, tag: Tag, vr: VR, value: &str) {
    obj.put(DataElement::new(tag, vr, PrimitiveValue::from(value)));
}

/// An HL7 name (XPN/XCN from `first`: family^given^middle^suffix^prefix)
/// as a DICOM PN (family^given^middle^prefix^suffix).
fn person_name(parts: &[String]) -> String {
    let get = |i: usize| parts.get(i).map(String::as_str).unwrap_or("");
    let pn = [get(0), get(1), get(2), get(4), get(3)].join("^");
    pn.trim_end_matches('^').to_owned()
}

/// A DICOM date and time from an HL7 TS/DTM (`YYYYMMDD[HHMM[SS]]`).
fn date_time(ts: &str) -> (String, String) {
    let digits: String = ts.chars().take_while(|c| c.is_ascii_digit()).collect();
    let date = digits.get(..8).unwrap_or("").to_owned();
    let time = digits.get(8..).unwrap_or("").chars().take(6).collect();
    (date, time)
}

/// PID-8 as DICOM Patient's Sex.
fn sex(v: &str) -> String {
    match v {
        "M" | "F" | "O" => v.to_owned(),
        _ => String::new(),
    }
}

/// The patient of the PID segment.
fn patient(message: &Message) -> Result<PatientAttributes, Outcome> {
    let Some(pid) = message.segment("PID") else {
        return Err(error(100, Some(("PID", 0)), "no PID segment"));
    };
    let id = message.component(pid, 3, 1);
    if id.is_empty() {
        return Err(error(101, Some(("PID", 3)), "PID-3 (patient ID) is empty"));
    }
    let (birth, _) = date_time(&message.component(pid, 7, 1));
    Ok(PatientAttributes {
        patient_id: id,
        issuer_of_patient_id: message.component(pid, 3, 4),
        patient_name: person_name(&message.components(pid, 5)),
        patient_birth_date: birth,
        patient_sex: sex(&message.component(pid, 8, 1)),
    })
}

fn first_non_empty(values: &[String]) -> String {
    values
        .iter()
        .find(|v| !v.is_empty())
        .cloned()
        .unwrap_or_default()
}

async fn order(service: &Service, ctx: &Context, m: &Message, what: &str) -> Result<(), Outcome> {
    let p = patient(m)?;
    let Some(orc) = m.segment("ORC") else {
        return Err(error(100, Some(("ORC", 0)), "no ORC segment"));
    };
    let Some(obr) = m.segment("OBR") else {
        return Err(error(100, Some(("OBR", 0)), "no OBR segment"));
    };
    let control = m.component(orc, 1, 1);
    let placer = first_non_empty(&[m.component(orc, 2, 1), m.component(obr, 2, 1)]);
    let filler = first_non_empty(&[m.component(orc, 3, 1), m.component(obr, 3, 1)]);
    let ipc = m.segment("IPC");
    let from_ipc = |f: usize| ipc.map(|s| m.component(s, f, 1)).unwrap_or_default();
    let accession = first_non_empty(&[from_ipc(1), m.component(obr, 18, 1), filler.clone()]);
    match control.as_str() {
        "NW" | "XO" | "SC" => {}
        "CA" | "OC" | "DC" => {
            let items = service
                .order_items(ctx, &placer, &accession)
                .await
                .map_err(|e| refused(&e))?;
            if items.is_empty() {
                return Err(error(
                    204,
                    Some(("ORC", 2)),
                    format!("no order {placer:?} (accession {accession:?}) to cancel"),
                ));
            }
            let ids: Vec<i64> = items.iter().map(|i| i.id).collect();
            return service
                .cancel_items(ctx, &ids, what)
                .await
                .map_err(|e| refused(&e));
        }
        "" => {
            return Err(error(
                101,
                Some(("ORC", 1)),
                "ORC-1 (order control) is empty",
            ))
        }
        other => {
            return Err(error(
                207,
                Some(("ORC", 1)),
                format!("order control {other:?} is not supported (NW, XO, SC, CA, OC, DC are)"),
            ))
        }
    }
    if accession.is_empty() {
        return Err(error(
            101,
            Some(("OBR", 18)),
            "no accession number (OBR-18, ORC-3 or OBR-3)",
        ));
    }
    // A change keeps the study (and step) the order was given.
    let existing = if control == "NW" {
        Vec::new()
    } else {
        service
            .order_items(ctx, &placer, &accession)
            .await
            .map_err(|e| refused(&e))?
    };
    let previous = existing.first().map(|i| &i.item);
    let requested_procedure_id = first_non_empty(&[from_ipc(2), m.component(obr, 19, 1)]);
    let step_id = first_non_empty(&[
        from_ipc(4),
        m.component(obr, 20, 1),
        previous
            .map(|i| i.scheduled_procedure_step_id.clone())
            .unwrap_or_default(),
    ]);
    let study_uid = first_non_empty(&[
        from_ipc(3),
        m.get("ZDS", 1, 1),
        previous
            .map(|i| i.study_instance_uid.clone())
            .unwrap_or_default(),
    ]);
    let station = first_non_empty(&[from_ipc(9), m.component(obr, 21, 1)]);
    let modality = first_non_empty(&[from_ipc(5), m.component(obr, 24, 1)]);
    let start = first_non_empty(&[
        m.get("TQ1", 7, 1),
        m.component(obr, 27, 4),
        m.component(orc, 7, 4),
    ]);
    let (start_date, start_time) = date_time(&start);
    let service_id = m.components(obr, 4);
    let procedure = m.components(obr, 44);
    let (code, code_text, scheme) = if procedure.first().is_some_and(|c| !c.is_empty()) {
        (
            procedure[0].clone(),
            procedure.get(1).cloned().unwrap_or_default(),
            procedure.get(2).cloned().unwrap_or_default(),
        )
    } else {
        (
            service_id.first().cloned().unwrap_or_default(),
            service_id.get(1).cloned().unwrap_or_default(),
            service_id.get(2).cloned().unwrap_or_default(),
        )
    };
    let step_description = first_non_empty(&[
        service_id.get(1).cloned().unwrap_or_default(),
        code_text.clone(),
    ]);
    let referring = first_non_empty(&[
        person_name(
            &m.components(obr, 16)
                .into_iter()
                .skip(1)
                .collect::<Vec<_>>(),
        ),
        m.segment("PV1")
            .map(|pv1| person_name(&m.components(pv1, 8).into_iter().skip(1).collect::<Vec<_>>()))
            .unwrap_or_default(),
    ]);

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
    put(&mut item, tags::ACCESSION_NUMBER, VR::SH, &accession);
    put(
        &mut item,
        tags::REFERRING_PHYSICIAN_NAME,
        VR::PN,
        &referring,
    );
    put(
        &mut item,
        tags::REQUESTED_PROCEDURE_ID,
        VR::SH,
        &requested_procedure_id,
    );
    put(
        &mut item,
        tags::REQUESTED_PROCEDURE_DESCRIPTION,
        VR::LO,
        &code_text,
    );
    put(
        &mut item,
        tags::PLACER_ORDER_NUMBER_IMAGING_SERVICE_REQUEST,
        VR::LO,
        &placer,
    );
    put(
        &mut item,
        tags::FILLER_ORDER_NUMBER_IMAGING_SERVICE_REQUEST,
        VR::LO,
        &filler,
    );
    if !study_uid.is_empty() {
        put(&mut item, tags::STUDY_INSTANCE_UID, VR::UI, &study_uid);
    }
    let codes = if code.is_empty() {
        Vec::new()
    } else {
        let mut c = InMemDicomObject::new_empty();
        put(&mut c, tags::CODE_VALUE, VR::SH, &code);
        put(
            &mut c,
            tags::CODING_SCHEME_DESIGNATOR,
            VR::SH,
            if scheme.is_empty() { "L" } else { &scheme },
        );
        put(&mut c, tags::CODE_MEANING, VR::LO, &code_text);
        vec![c]
    };
    item.put(DataElement::new(
        tags::REQUESTED_PROCEDURE_CODE_SEQUENCE,
        VR::SQ,
        DataSetSequence::from(codes.clone()),
    ));
    item.put(DataElement::new(
        tags::REFERENCED_STUDY_SEQUENCE,
        VR::SQ,
        DataSetSequence::<InMemDicomObject>::empty(),
    ));
    let mut step = InMemDicomObject::new_empty();
    put(
        &mut step,
        tags::SCHEDULED_STATION_AE_TITLE,
        VR::AE,
        &station,
    );
    put(&mut step, tags::MODALITY, VR::CS, &modality);
    put(
        &mut step,
        tags::SCHEDULED_PROCEDURE_STEP_START_DATE,
        VR::DA,
        &start_date,
    );
    put(
        &mut step,
        tags::SCHEDULED_PROCEDURE_STEP_START_TIME,
        VR::TM,
        &start_time,
    );
    put(
        &mut step,
        tags::SCHEDULED_PROCEDURE_STEP_DESCRIPTION,
        VR::LO,
        &step_description,
    );
    put(
        &mut step,
        tags::SCHEDULED_PROCEDURE_STEP_ID,
        VR::SH,
        &step_id,
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
        "",
    );
    step.put(DataElement::new(
        tags::SCHEDULED_PROTOCOL_CODE_SEQUENCE,
        VR::SQ,
        DataSetSequence::from(codes),
    ));
    item.put(DataElement::new(
        tags::SCHEDULED_PROCEDURE_STEP_SEQUENCE,
        VR::SQ,
        DataSetSequence::from(vec![step]),
    ));
    service
        .schedule(ctx, item, what)
        .await
        .map(|_| ())
        .map_err(|e| refused(&e))
}

async fn update_patient(
    service: &Service,
    ctx: &Context,
    m: &Message,
    what: &str,
) -> Result<(), Outcome> {
    let p = patient(m)?;
    match service.update_patient(ctx, &p, what).await {
        Ok(_) => Ok(()),
        // An update of a patient the archive never saw: nothing to apply,
        // and nothing wrong (a HIS sends every patient's updates).
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(refused(&e)),
    }
}

async fn merge_patient(
    service: &Service,
    ctx: &Context,
    m: &Message,
    what: &str,
) -> Result<(), Outcome> {
    let surviving = patient(m)?;
    let Some(mrg) = m.segment("MRG") else {
        return Err(error(100, Some(("MRG", 0)), "no MRG segment"));
    };
    let merged = m.component(mrg, 1, 1);
    if merged.is_empty() {
        return Err(error(
            101,
            Some(("MRG", 1)),
            "MRG-1 (prior patient ID) is empty",
        ));
    }
    if merged == surviving.patient_id {
        return Err(error(
            102,
            Some(("MRG", 1)),
            "a patient cannot be merged into itself",
        ));
    }
    let issuer = m.component(mrg, 1, 4);
    match service
        .merge_patient(ctx, &merged, &issuer, &surviving, what)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Err(error(
            204,
            Some(("MRG", 1)),
            format!("unknown patient {merged:?} to merge"),
        )),
        Err(e) => Err(refused(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_times_become_dicom() {
        let parts = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(person_name(&parts(&["NGUYỄN", "VĂN AN"])), "NGUYỄN^VĂN AN");
        assert_eq!(
            person_name(&parts(&["DOE", "JOHN", "Q", "JR", "DR"])),
            "DOE^JOHN^Q^DR^JR"
        );
        assert_eq!(
            date_time("202612021030"),
            ("20261202".into(), "1030".into())
        );
        assert_eq!(date_time("20261202"), ("20261202".into(), "".into()));
        assert_eq!(date_time("20261202103015.123+0700").1, "103015");
        assert_eq!(sex("U"), "");
    }
}
