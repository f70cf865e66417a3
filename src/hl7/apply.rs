//! What each HL7 message does, through the service layer: orders
//! (ORM^O01, OMI^O23) schedule, change or cancel worklist items; ADT^A08
//! (and A31) corrects a patient; ADT^A40 merges one into another.
//!
//! Order fields follow the IHE Radiology Scheduled Workflow mapping (HL7
//! 2.5.1, Rad TF-2 Appendix B): accession number OBR-18 (or ORC-3/OBR-3),
//! requested procedure ID OBR-19, scheduled procedure step ID OBR-20,
//! scheduled station AE title OBR-21, modality OBR-24, start TQ1-7 (or
//! OBR-27.4 / ORC-7.4), and in OMI the IPC segment where it is given.

use storage::record::PatientAttributes;
use storage::worklist::status::SCHEDULED;

use super::message::{AckCode, AckError, Message, Segment};
use crate::service::order::{date_time, Code, Order};
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
        ("ORM" | "OMI" | "ADT", _) => Err((
            AckCode::Reject,
            Some(AckError::new(
                201,
                Some(("MSH", 9)),
                format!("event {code}^{trigger} is not supported (ORM^O01, OMI^O23, ADT^A08, ADT^A31, ADT^A40 are)"),
            )),
        )),
        _ => Err((
            AckCode::Reject,
            Some(AckError::new(
                200,
                Some(("MSH", 9)),
                format!("message type {code}^{trigger} is not supported (ORM^O01, OMI^O23, ADT^A08, ADT^A31, ADT^A40 are)"),
            )),
        )),
    };
    match result {
        Ok(()) => (AckCode::Accept, None),
        Err(outcome) => {
            // What the service refused it audited; what this adapter
            // refused (a field missing, an order unknown) is audited here.
            if let (_, Some(e)) = &outcome {
                if !e.audited {
                    service
                        .audit()
                        .record(crate::audit::Access {
                            actor: ctx.actor.clone(),
                            source: ctx.source.clone(),
                            action: crate::audit::Action::Order,
                            failure: Some(format!("invalid: {}", e.text)),
                            tenant: ctx
                                .tenant()
                                .cloned()
                                .unwrap_or_else(storage::TenantId::implicit),
                            patient_id: message.get("PID", 3, 1),
                            study_instance_uid: String::new(),
                            detail: what,
                        })
                        .await;
                }
            }
            outcome
        }
    }
}

/// A service error as an ACK. The service audits the refusals it decides
/// (no right; no such patient); the rest are audited by `apply`.
fn refused(e: &Error) -> Outcome {
    let (code, mut error) = refused_unmarked(e);
    if let Some(error) = error.as_mut() {
        error.audited = matches!(e.kind(), ErrorKind::Forbidden | ErrorKind::NotFound);
    }
    (code, error)
}

fn refused_unmarked(e: &Error) -> Outcome {
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

/// An HL7 name (XPN/XCN from `first`: family^given^middle^suffix^prefix)
/// as a DICOM PN (family^given^middle^prefix^suffix).
fn person_name(parts: &[String]) -> String {
    let get = |i: usize| parts.get(i).map(String::as_str).unwrap_or("");
    let pn = [get(0), get(1), get(2), get(4), get(3)].join("^");
    pn.trim_end_matches('^').to_owned()
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

/// One ORDER group of an ORM^O01 or OMI^O23: its ORC and what follows it
/// up to the next ORC.
struct Group<'a> {
    m: &'a Message,
    segments: &'a [Segment],
}

impl<'a> Group<'a> {
    fn segment(&self, name: &str) -> Option<&'a Segment> {
        self.segments.iter().find(|s| s.name == name)
    }

    fn segments(&self, name: &'a str) -> impl Iterator<Item = &'a Segment> + 'a {
        self.segments.iter().filter(move |s| s.name == name)
    }

    fn get(&self, name: &str, field: usize, component: usize) -> String {
        self.segment(name)
            .map(|s| self.m.component(s, field, component))
            .unwrap_or_default()
    }
}

/// An XCN (ID^family^given…) as a DICOM PN.
fn xcn_name(m: &Message, segment: Option<&Segment>, field: usize) -> String {
    segment
        .map(|s| {
            person_name(
                &m.components(s, field)
                    .into_iter()
                    .skip(1)
                    .collect::<Vec<_>>(),
            )
        })
        .unwrap_or_default()
}

/// Orders: every ORDER group of the message (an order per ORC; a
/// scheduled step per IPC of OMI, one per OBR otherwise). NW, XO and SC
/// schedule or change the order's items (a resend changes nothing, an
/// item the modality started keeps its status); a step the changed order
/// no longer has is cancelled. CA, OC and DC cancel the order's items.
async fn order(service: &Service, ctx: &Context, m: &Message, what: &str) -> Result<(), Outcome> {
    let p = patient(m)?;
    let groups = m.groups("ORC");
    if groups.is_empty() {
        return Err(error(100, Some(("ORC", 0)), "no ORC segment"));
    }
    for segments in groups {
        order_group(service, ctx, m, &p, &Group { m, segments }, what).await?;
    }
    Ok(())
}

async fn order_group(
    service: &Service,
    ctx: &Context,
    m: &Message,
    p: &PatientAttributes,
    g: &Group<'_>,
    what: &str,
) -> Result<(), Outcome> {
    let orc = g.segment("ORC").expect("a group begins with its ORC");
    let Some(obr) = g.segment("OBR") else {
        return Err(error(
            100,
            Some(("OBR", 0)),
            "an order (ORC) without its OBR segment",
        ));
    };
    let control = m.component(orc, 1, 1);
    let placer = first_non_empty(&[m.component(orc, 2, 1), m.component(obr, 2, 1)]);
    let filler = first_non_empty(&[m.component(orc, 3, 1), m.component(obr, 3, 1)]);
    let order_accession = first_non_empty(&[m.component(obr, 18, 1), filler.clone()]);
    let ipcs: Vec<&Segment> = g.segments("IPC").collect();
    let accession = first_non_empty(&[
        ipcs.first()
            .map(|s| m.component(s, 1, 1))
            .unwrap_or_default(),
        order_accession.clone(),
    ]);
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
    // What the archive has of this order already (a resend, a change):
    // its study, and its step when the message names none.
    let existing = service
        .order_items(ctx, &placer, &accession)
        .await
        .map_err(|e| refused(&e))?;
    let previous = existing.first().map(|i| &i.item);
    let start = first_non_empty(&[
        g.get("TQ1", 7, 1),
        m.component(obr, 27, 4),
        m.component(orc, 7, 4),
    ]);
    let (start_date, start_time) = date_time(&start);
    let service_id = m.components(obr, 4);
    let part = |v: &Vec<String>, i: usize| v.get(i).cloned().unwrap_or_default();
    let procedure = m.components(obr, 44);
    let code = if procedure.first().is_some_and(|c| !c.is_empty()) {
        Code {
            value: part(&procedure, 0),
            meaning: part(&procedure, 1),
            scheme: part(&procedure, 2),
        }
    } else {
        Code {
            value: part(&service_id, 0),
            meaning: part(&service_id, 1),
            scheme: part(&service_id, 2),
        }
    };
    let technician = obr_technician(m, obr);
    let mut base = Order {
        patient: p.clone(),
        placer_order_number: placer.clone(),
        filler_order_number: filler.clone(),
        accession_number: accession.clone(),
        requested_procedure_id: m.component(obr, 19, 1),
        requested_procedure_description: code.meaning.clone(),
        step_description: first_non_empty(&[part(&service_id, 1), code.meaning.clone()]),
        procedure_code: Some(code),
        // IHE SWF: Referring Physician from PV1-8; OBR-16 (ORC-12) is
        // the Requesting Physician.
        referring_physician_name: xcn_name(m, m.segment("PV1"), 8),
        requesting_physician: first_non_empty(&[
            xcn_name(m, Some(obr), 16),
            xcn_name(m, Some(orc), 12),
        ]),
        // IHE: ZDS belongs to its order group (each order its study).
        study_instance_uid: first_non_empty(&[
            g.get("ZDS", 1, 1),
            previous
                .map(|i| i.study_instance_uid.clone())
                .unwrap_or_default(),
        ]),
        station_ae_title: m.component(obr, 21, 1),
        modality: m.component(obr, 24, 1),
        start_date,
        start_time,
        step_id: m.component(obr, 20, 1),
        performing_physician_name: technician,
    };
    // The steps of one requested procedure share its study.
    if base.study_instance_uid.is_empty() {
        base.study_instance_uid = storage::Uid::generate();
    }
    // One item per IPC (OMI: each scheduled step of the requested
    // procedure); one from the OBR otherwise.
    let mut orders = Vec::new();
    if ipcs.is_empty() {
        orders.push(base.clone());
    }
    for ipc in &ipcs {
        let mut o = base.clone();
        let or = |v: String, d: &str| if v.is_empty() { d.to_owned() } else { v };
        o.accession_number = or(m.component(ipc, 1, 1), &o.accession_number);
        o.requested_procedure_id = or(m.component(ipc, 2, 1), &o.requested_procedure_id);
        o.study_instance_uid = or(m.component(ipc, 3, 1), &o.study_instance_uid);
        o.step_id = or(m.component(ipc, 4, 1), &o.step_id);
        o.modality = or(m.component(ipc, 5, 1), &o.modality);
        o.station_ae_title = or(m.component(ipc, 9, 1), &o.station_ae_title);
        orders.push(o);
    }
    // The same step as before when the order names none (a resend or a
    // change of a single-step order).
    if let [only] = orders.as_mut_slice() {
        if only.step_id.is_empty() {
            if let [item] = existing.as_slice() {
                only.step_id = item.item.scheduled_procedure_step_id.clone();
            }
        }
    }
    let mut kept = Vec::new();
    for o in orders {
        let s = service
            .schedule(ctx, o.dataset(), what)
            .await
            .map_err(|e| refused(&e))?;
        kept.push(s.id);
    }
    // Steps the order had and no longer has: cancelled while nothing was
    // done of them.
    let dropped: Vec<i64> = existing
        .iter()
        .filter(|i| !kept.contains(&i.id) && i.item.status == SCHEDULED)
        .map(|i| i.id)
        .collect();
    if !dropped.is_empty() {
        service
            .cancel_items(
                ctx,
                &dropped,
                &format!("{what}: step no longer in the order"),
            )
            .await
            .map_err(|e| refused(&e))?;
    }
    Ok(())
}

/// OBR-34 Technician (NDL; its first component a CNN: ID&family&given…)
/// as a DICOM PN: the Scheduled Performing Physician's Name.
fn obr_technician(m: &Message, obr: &Segment) -> String {
    let sub = m.subcomponents(obr, 34, 1);
    person_name(&sub.into_iter().skip(1).collect::<Vec<_>>())
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
        assert_eq!(sex("U"), "");
    }
}
